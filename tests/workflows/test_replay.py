"""Stored histories of the scenario tests replay against today's workflow code.

A change that makes TradeIntentWorkflow nondeterministic for intents already running
fails here. Refresh the files with ``QT_RECORD_HISTORIES=1 make test`` after an
intentional, versioned change.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from quantum_trader.payloads import DATA_CONVERTER
from workflows.trade_intent import TradeIntentWorkflow

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories").glob("*.json"))


def test_histories_are_stored() -> None:
    assert len(HISTORIES) >= 6, "run QT_RECORD_HISTORIES=1 make test to record the scenario histories"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_stored_history_replays_without_nondeterminism(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=[TradeIntentWorkflow], data_converter=DATA_CONVERTER)
    await replayer.replay_workflow(history)
