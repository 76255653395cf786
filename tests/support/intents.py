"""Helpers for starting intents and reading their outcome in tests."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from quantum_trader import constants
from quantum_trader.models import IntentResult, TradeDecision
from quantum_trader.settings import Settings
from quantum_trader.temporal import start_intent

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


def decision(trace_id: str, **fields: Any) -> TradeDecision:
    values: dict[str, Any] = {"trace_id": trace_id, "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", "confidence": "0.9"}
    values.update(fields)
    return TradeDecision.model_validate(values)


async def start(client: Client, settings: Settings, trace_id: str, **fields: Any) -> WorkflowHandle[Any, IntentResult]:
    outcome = await start_intent(client, decision(trace_id, **fields), settings)
    assert outcome.started, f"{trace_id} was not started"
    return client.get_workflow_handle(trace_id, result_type=IntentResult)


async def result_of(handle: WorkflowHandle[Any, IntentResult], timeout: float = 90.0) -> IntentResult:
    """The workflow's result, waiting at most ``timeout`` seconds."""
    return await asyncio.wait_for(handle.result(), timeout)


async def record_history(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """Store the history for the replay test when QT_RECORD_HISTORIES=1."""
    if os.environ.get("QT_RECORD_HISTORIES") != "1":
        return
    history = await handle.fetch_history()
    HISTORIES.mkdir(exist_ok=True)
    (HISTORIES / f"{name}.json").write_text(json.dumps(json.loads(history.to_json()), indent=1))


def workflow_name() -> str:
    return constants.WORKFLOW_NAME
