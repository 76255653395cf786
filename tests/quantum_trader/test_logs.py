"""Structured logs: a short message and fields, as key=value or JSON lines, with the
Temporal context flattened into fields."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import pytest
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from quantum_trader import logs
from quantum_trader.settings import Settings

WORKFLOW_CONTEXT = {
    "attempt": 1, "namespace": "default", "run_id": "run-1", "task_queue": "q",
    "workflow_id": "t-1", "workflow_type": "TradeIntentWorkflow",
}
ACTIVITY_CONTEXT = {
    "activity_id": "3", "activity_type": "place_order", "attempt": 2, "namespace": "default", "task_queue": "q",
    "workflow_id": "t-1", "workflow_run_id": "run-1", "workflow_type": "TradeIntentWorkflow",
}


@pytest.fixture
def restore_root_logger():  # noqa: ANN201
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _last_line(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_json_logs_fields_as_keys_after_the_head(capsys: pytest.CaptureFixture[str], restore_root_logger: None) -> None:
    logs.configure(Settings(_env_file=None, log_json=True), "worker")
    logging.getLogger("activities.trading").info("order placed", extra={"trace_id": "t-1", "client_order_id": "c-1", "wait_ms": 5})
    entry = json.loads(_last_line(capsys))
    assert list(entry) == ["ts", "level", "logger", "process", "msg", "trace_id", "client_order_id", "wait_ms"]
    assert entry["msg"] == "order placed" and entry["process"] == "worker" and entry["wait_ms"] == 5


def test_text_logs_key_value_with_quoted_values(capsys: pytest.CaptureFixture[str], restore_root_logger: None) -> None:
    logs.configure(Settings(_env_file=None), "ingress")
    logging.getLogger("workers.ingress").warning("DEAD_LETTER", extra={"source_id": "1-0", "reason": 'bad "side"', "eager": True})
    line = _last_line(capsys)
    assert line.startswith("ts=")
    assert ' level=WARNING logger=workers.ingress process=ingress msg=DEAD_LETTER source_id=1-0 reason="bad \\"side\\"" eager=true' in line
    assert logs.parse_line(line)["reason"] == 'bad "side"'


@pytest.mark.parametrize("json_lines", [True, False])
def test_temporal_context_flattened_into_fields(capsys: pytest.CaptureFixture[str], restore_root_logger: None, json_lines: bool) -> None:
    logs.configure(Settings(_env_file=None, log_json=json_lines), "worker")
    logger = logging.getLogger("temporalio.workflow")
    logger.warning("order not seen", extra={"temporal_workflow": WORKFLOW_CONTEXT, "trace_id": "t-1"})
    entry = logs.parse_line(_last_line(capsys))
    assert entry["msg"] == "order not seen"
    assert {k: str(entry[k]) for k in ("trace_id", "workflow_id", "run_id", "workflow_type", "attempt", "task_queue")} == {
        "trace_id": "t-1", "workflow_id": "t-1", "run_id": "run-1", "workflow_type": "TradeIntentWorkflow", "attempt": "1", "task_queue": "q",
    }
    assert "temporal_workflow" not in entry
    logger.info("order placed", extra={"temporal_activity": ACTIVITY_CONTEXT, "client_order_id": "c-1"})
    entry = logs.parse_line(_last_line(capsys))
    assert {k: str(entry[k]) for k in ("client_order_id", "workflow_id", "run_id", "activity_type", "activity_id", "attempt")} == {
        "client_order_id": "c-1", "workflow_id": "t-1", "run_id": "run-1", "activity_type": "place_order", "activity_id": "3", "attempt": "2",
    }
    assert "workflow_run_id" not in entry


async def test_activity_logger_carries_the_activity_context_as_fields_only() -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("tests.activity_logger")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    @activity.defn(name="place_order")
    async def place_order() -> None:
        logs.activity_logger("tests.activity_logger").info("order placed", extra={"trace_id": "t-1"})

    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, activity_type="place_order", workflow_id="t-1")
    try:
        await env.run(place_order)
    finally:
        logger.removeHandler(handler)
    (record,) = records
    assert record.getMessage() == "order placed"
    entry: dict[str, Any] = logs._JsonFormatter("worker", []).entry(record)
    assert (entry["trace_id"], entry["workflow_id"], entry["activity_type"], entry["attempt"]) == ("t-1", "t-1", "place_order", 1)
    assert {"run_id", "workflow_type", "task_queue"} <= set(entry)


def test_exception_stays_on_one_line(capsys: pytest.CaptureFixture[str], restore_root_logger: None) -> None:
    logs.configure(Settings(_env_file=None), "worker")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("workers.worker").exception("start failed", extra={"trace_id": "t-1"})
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    entry = logs.parse_line(lines[0])
    assert entry["msg"] == "start failed" and "ValueError: boom" in entry["exc"]
