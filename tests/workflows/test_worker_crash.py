"""A worker process SIGKILLed while an order request is in flight: a new worker finishes
the intent and the exchange holds exactly one order."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client

from paper_exchange.admin_client import PaperAdmin
from quantum_trader.ids import client_order_id
from quantum_trader.states import IntentState
from tests.conftest import Stack, trace_id
from tests.support.eventually import eventually
from tests.support.intents import record_history, result_of, start
from tests.support.stack import worker_proc


async def test_worker_killed_mid_placement_new_worker_finishes_with_one_order(
    stack: Stack, client: Client, paper: PaperAdmin, tmp_path: Path
) -> None:
    settings = stack.settings(task_queue=f"crash-{uuid.uuid4().hex[:8]}")
    first = worker_proc(tmp_path, settings, "worker-1").start()
    second = worker_proc(tmp_path, settings, "worker-2")
    try:
        fault = await paper.arm("latency", path="/api/v3/order", method="POST", count=1, latency_ms=1500)
        tid = trace_id("crash")
        handle = await start(client, settings, tid)

        async def order_request_in_flight() -> bool:
            armed = await paper.faults()
            return not any(f["id"] == fault["id"] and f.get("remaining", 1) > 0 for f in armed)

        await eventually(order_request_in_flight, timeout=60, what="the order request to reach the exchange")
        description = await handle.describe()
        pending = [a for a in description.raw_description.pending_activities if a.activity_type.name == "place_order"]
        assert pending and pending[0].state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        first.kill()

        second.start()
        result = await result_of(handle, timeout=120)
        assert result.state is IntentState.FILLED, second.log_tail()
        assert result.attempts >= 2
        assert len(await paper.orders_for(client_order_id(tid))) == 1
        await record_history(handle, "worker_killed_mid_placement")
    finally:
        first.kill()
        second.stop()


async def test_worker_sigterm_exits_cleanly(stack: Stack, tmp_path: Path) -> None:
    settings = stack.settings(task_queue=f"term-{uuid.uuid4().hex[:8]}")
    worker = worker_proc(tmp_path, settings).start()
    await eventually(lambda: "worker polling" in worker.log_text(), timeout=60, what="the worker to poll")
    assert worker.popen is not None
    worker.popen.send_signal(signal.SIGTERM)
    await eventually(lambda: worker.popen.poll() is not None, timeout=30, what="the worker to exit")
    assert worker.popen.returncode == 0, worker.log_tail()
    assert "worker stopped" in worker.log_text()
