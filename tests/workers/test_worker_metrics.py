"""The worker's Prometheus endpoint serves the SDK's metrics and the intents' own."""

from __future__ import annotations

import urllib.request
import uuid
from pathlib import Path

from temporalio.client import Client

from quantum_trader.states import IntentState
from tests.conftest import Stack, trace_id
from tests.support.eventually import eventually
from tests.support.intents import result_of, start
from tests.support.processes import free_port
from tests.support.stack import worker_proc


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


async def test_worker_metrics_count_terminal_states_attempts_and_sdk(stack: Stack, client: Client, tmp_path: Path) -> None:
    port = free_port()
    settings = stack.settings(task_queue=f"metrics-{uuid.uuid4().hex[:8]}", worker_metrics_port=port)
    worker = worker_proc(tmp_path, settings).start(wait_port=port)
    try:
        filled = await result_of(await start(client, settings, trace_id("m-fill")))
        rejected = await result_of(await start(client, settings, trace_id("m-rej"), confidence="0.1"))
        assert (filled.state, rejected.state) == (IntentState.FILLED, IntentState.REJECTED)

        def scraped() -> str:
            text = _scrape(port)
            assert 'quantum_intents_terminal{' in text and 'state="REJECTED"' in text, text[-2000:]
            return text

        text = await eventually(scraped, timeout=30, what="intent metrics to be exported")
    finally:
        worker.stop()
    lines = text.splitlines()
    assert any(l.startswith("quantum_intents_terminal") and 'state="FILLED"' in l and l.endswith(" 1") for l in lines)
    assert any(l.startswith("quantum_placement_attempts") and l.endswith(" 1") for l in lines)
    assert any(l.startswith("quantum_intent_duration") for l in lines)
    assert any(l.startswith("temporal_") for l in lines)  # the SDK's own
