"""Publishing a result on a real redis-server and a real Temporal dev server: the publish
marker never outlives the namespace's memory of the run, and a publication that fails
halfway leaves nothing that would make its retry skip it."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest_asyncio
from google.protobuf.duration_pb2 import Duration
from redis.asyncio import Redis
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.results import ResultActivities
from quantum_trader.ids import result_key
from quantum_trader.models import IntentResult, OrderType, Side
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState
from quantum_trader.temporal import connect
from tests.conftest import Stack, trace_id
from tests.support.eventually import eventually

DAY = 86_400


def _result(tid: str) -> IntentResult:
    now = datetime.now(timezone.utc)
    return IntentResult(trace_id=tid, state=IntentState.FILLED, symbol="BTCUSDT", side=Side.BUY, order_type=OrderType.MARKET,
                        started_at=now, ended_at=now)


@pytest_asyncio.fixture(loop_scope="session")
async def one_day_namespace(client: Client) -> str:
    """A namespace whose retention is one day, whatever QT_DEDUP_RETENTION_DAYS says."""
    namespace = f"short-{uuid.uuid4().hex[:8]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=Duration(seconds=DAY))
    )

    async def described() -> bool:
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
        return True

    await eventually(described, timeout=30, what=f"namespace {namespace}")
    return namespace


def _settings(stack: Stack, **overrides: object) -> Settings:
    return stack.settings(result_stream=f"quantum:stream:test-results-{uuid.uuid4().hex[:8]}", **overrides)


async def test_publish_marker_expires_by_the_namespace_retention_when_it_is_shorter_than_the_setting(
    stack: Stack, redis: Redis, one_day_namespace: str
) -> None:
    settings = _settings(stack, temporal_namespace=one_day_namespace, dedup_retention_days=7)
    tid = trace_id("ttl")
    environment = ActivityEnvironment(client=await connect(settings))
    entry = await environment.run(ResultActivities(settings, redis).publish_result, _result(tid))
    assert entry is not None
    ttl = await redis.ttl(result_key(tid))
    # Once Temporal forgets the run, a new run of the trace_id may start: its result must publish.
    assert 0 < ttl <= DAY, f"marker lives {ttl}s, the namespace forgets the run after {DAY}s"


async def test_publish_marker_keeps_the_setting_when_the_namespace_retains_longer(stack: Stack, redis: Redis, client: Client) -> None:
    settings = _settings(stack, dedup_retention_days=1)
    tid = trace_id("ttl")
    entry = await ActivityEnvironment(client=client).run(ResultActivities(settings, redis).publish_result, _result(tid))
    assert entry is not None
    assert DAY - 60 <= await redis.ttl(result_key(tid)) <= DAY


async def test_publication_failing_at_the_stream_leaves_no_marker_and_its_retry_publishes(
    stack: Stack, redis: Redis, client: Client
) -> None:
    settings = _settings(stack)
    tid = trace_id("halfway")
    activities = ResultActivities(settings, redis)
    environment = ActivityEnvironment(client=client)
    await redis.set(settings.result_stream, "not a stream")
    try:
        await environment.run(activities.publish_result, _result(tid))
    except Exception as error:  # noqa: BLE001 - any failure is a retry; what it leaves is the point
        assert "WRONGTYPE" in str(error), error
    else:
        raise AssertionError("publishing onto a key that is not a stream succeeded")
    assert await redis.exists(result_key(tid)) == 0, "the failed publication left its marker: the retry will skip it"
    await redis.delete(settings.result_stream)
    assert await environment.run(activities.publish_result, _result(tid)) is not None
    entries = await redis.xrange(settings.result_stream)
    assert [fields[b"trace_id"] for _, fields in entries] == [tid.encode()]
