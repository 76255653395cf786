"""A result the result stream will not take: the intent keeps its terminal state, says so in
the Web UI, stays open and publishes once the stream takes it (real Temporal, Redis, exchange)."""

from __future__ import annotations

import uuid
from typing import Any

from redis.asyncio import Redis
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowExecutionStatus

from paper_exchange.admin_client import PaperAdmin
from quantum_trader.models import IntentStatus
from quantum_trader.states import IntentState
from tests.conftest import Stack, running_worker, trace_id
from tests.support.eventually import eventually
from tests.support.intents import record_history, result_of, start



async def _current_details(handle: Any) -> str:
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def test_result_unpublished_past_its_window_stays_open_says_so_and_publishes_once_redis_takes_it(
    stack: Stack, client: Client, redis: Redis, paper: PaperAdmin
) -> None:
    settings = stack.settings(result_stream=f"quantum:stream:test-results-{uuid.uuid4().hex[:8]}")
    tid = trace_id("unpub")
    # Not a stream: every append fails with WRONGTYPE until the key is removed.
    await redis.set(settings.result_stream, "not a stream")
    async with running_worker(client, settings, redis):
        handle = await start(client, settings, tid)

        async def waiting_to_publish() -> bool:
            status = await handle.query("status", result_type=IntentStatus)
            assert status.finished and status.state is IntentState.FILLED, status
            description = await handle.describe()
            assert description.status is WorkflowExecutionStatus.RUNNING, f"workflow {description.status} with its result unpublished"
            details = await _current_details(handle)
            assert "not published" in details, details
            return True

        await eventually(waiting_to_publish, timeout=60, what="the intent FILLED, open, saying its result is not published")
        await redis.delete(settings.result_stream)
        result = await result_of(handle, timeout=60)
    assert result.state is IntentState.FILLED
    entries = await redis.xrange(settings.result_stream)
    assert [fields[b"trace_id"] for _, fields in entries] == [tid.encode()]
    await record_history(handle, "result_published_late")
