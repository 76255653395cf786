"""Structured logs on the real stack: a worker and a paper exchange started with
QT_LOG_JSON=true write nothing but JSON entries of one shape, the placement's entries carry
the trace and its Temporal context as keys, and a workflow's log calls carry their context
as fields, once each (never again on replay)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from quantum_trader import logs
from quantum_trader.ids import client_order_id
from quantum_trader.states import IntentState
from tests.conftest import Stack, trace_id
from tests.support.intents import result_of, start
from tests.support.stack import TEST_API_KEY, TEST_API_SECRET, exchange_proc, worker_proc

HEAD = ["ts", "level", "logger", "process", "msg"]


def _json_entries(text: str) -> list[dict[str, object]]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "no log lines"
    entries = [json.loads(line) for line in lines]  # every line is JSON
    for entry in entries:
        assert list(entry)[:5] == HEAD, entry
    return entries


async def test_json_logs_of_worker_and_exchange_carry_trace_and_temporal_context(stack: Stack, client: Client, tmp_path: Path) -> None:
    exchange, port = exchange_proc(tmp_path)
    exchange.env = {"QT_LOG_JSON": "true"}
    exchange.start(wait_port=port, timeout=30)
    settings = stack.settings(exchange_url=f"http://127.0.0.1:{port}", log_json=True)
    worker = worker_proc(tmp_path, settings)
    tid = trace_id("logs")
    try:
        worker.start()
        handle = await start(client, settings, tid)
        assert (await result_of(handle)).state is IntentState.FILLED
        run_id = (await handle.describe()).run_id
    finally:
        worker.stop()
        exchange.stop()

    worker_entries = _json_entries(worker.log_text())
    assert {e["process"] for e in worker_entries} == {"worker"}
    (placed,) = [e for e in worker_entries if e["msg"] == "order placed"]
    assert {k: placed.get(k) for k in ("trace_id", "workflow_id", "run_id", "attempt", "client_order_id", "activity_type")} == {
        "trace_id": tid, "workflow_id": tid, "run_id": run_id, "attempt": 1, "client_order_id": client_order_id(tid),
        "activity_type": "place_order",
    }
    assert not any("({" in str(e["msg"]) for e in worker_entries), "Temporal context left in a message"

    exchange_text = exchange.log_text()
    exchange_entries = _json_entries(exchange_text)
    assert {e["process"] for e in exchange_entries} == {"exchange"}
    (order_request,) = [e for e in exchange_entries
                        if e["msg"] == "request" and e.get("method") == "POST" and e.get("client_order_id") == client_order_id(tid)]
    assert order_request["path"] == "/api/v3/order" and order_request["status"] == 200
    assert isinstance(order_request["duration_ms"], float)
    assert TEST_API_KEY not in exchange_text and TEST_API_SECRET not in exchange_text and "signature" not in exchange_text


# --- workflow.logger: context as fields, silent on replay ------------------------------


@workflow.defn(name="LogContextWorkflow")
class LogContextWorkflow:
    @workflow.run
    async def run(self, trace: str) -> None:
        workflow.logger.info("first step", extra={"trace_id": trace})
        await workflow.sleep(timedelta(milliseconds=10))
        workflow.logger.info("second step", extra={"trace_id": trace})


@pytest.fixture
def workflow_records() -> Iterator[list[logging.LogRecord]]:
    """What ``temporalio.workflow`` logs, with the worker's logging set-up."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("temporalio.workflow")
    level, on_message = logger.level, workflow.logger.workflow_info_on_message
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logs.temporal_context_in_fields()
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)
    workflow.logger.workflow_info_on_message = on_message
    activity.logger.activity_info_on_message = True


async def test_workflow_logs_carry_context_as_fields_once(client: Client, workflow_records: list[logging.LogRecord]) -> None:
    queue = f"log-context-{uuid.uuid4().hex[:8]}"
    tid = trace_id("wflog")
    # No cache: the second workflow task replays the first step, which must not log again.
    async with Worker(client, task_queue=queue, workflows=[LogContextWorkflow], max_cached_workflows=0,
                      workflow_runner=UnsandboxedWorkflowRunner()):
        handle = await client.start_workflow(LogContextWorkflow.run, tid, id=tid, task_queue=queue)
        await handle.result()
    ours = [r for r in workflow_records if getattr(r, "trace_id", None) == tid]
    assert [r.getMessage() for r in ours] == ["first step", "second step"]
    entry = logs._JsonFormatter("worker", []).entry(ours[0])
    assert {k: entry.get(k) for k in ("trace_id", "workflow_id", "run_id", "workflow_type", "attempt", "task_queue")} == {
        "trace_id": tid, "workflow_id": tid, "run_id": handle.result_run_id, "workflow_type": "LogContextWorkflow",
        "attempt": 1, "task_queue": queue,
    }
