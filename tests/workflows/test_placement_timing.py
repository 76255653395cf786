"""Placement under adversarial timing, on the real stack: one order per client order ID when
a worker dies right after a send the exchange executes later, when a worker is cut off from
Temporal but not from the exchange, when the workflow is reset while a request is in flight,
and when clocks disagree (docs: the placement protocol in activities/placement.py).

Each test runs its own worker processes on its own task queue, so it can SIGKILL them,
cut them off from Temporal, or shift their clock.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from paper_exchange.admin_client import PaperAdmin
from quantum_trader.ids import client_order_id
from quantum_trader.models import IntentResult
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState
from tests.conftest import Stack, running_worker, trace_id
from tests.support.eventually import eventually
from tests.support.intents import record_history, result_of, start
from tests.support.processes import VENV_BIN, Proc
from tests.support.proxy import TcpProxy
from tests.support.stack import settings_env, temporal_binary, worker_proc

ORDER = "/api/v3/order"
WAITING = "placement waiting for earlier request to expire"
# The exchange executes a request at most recvWindow + grace after its stamp: LATE_MS stays
# inside that, and is long enough that a retry after a lost worker looks before it executes.
RECV_WINDOW_MS = 15_000
LATE_MS = 12_000


def _settings(stack: Stack, name: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "task_queue": f"{name}-{uuid.uuid4().hex[:8]}",
        "recv_window_ms": RECV_WINDOW_MS,
        "market_deadline_seconds": 180,
    }
    values.update(overrides)
    return stack.settings(**values)


async def _arm_late_execution(paper: PaperAdmin, delay_ms: int = LATE_MS, count: int = 1, answer_after_ms: int = 0) -> dict[str, Any]:
    """The next ``count`` order requests are accepted and execute ``delay_ms`` later; each is
    answered "outcome unknown", after ``answer_after_ms`` (the request then waits that long at
    the exchange before it is accepted: the sender is blocked meanwhile)."""
    if answer_after_ms:
        await paper.arm("latency", path=ORDER, method="POST", count=count, latency_ms=answer_after_ms)
    return await paper.arm("execute_later", path=ORDER, method="POST", count=count, delay_ms=delay_ms)


async def _used_up(paper: PaperAdmin, fault: dict[str, Any], times: int = 1) -> bool:
    """Whether ``fault`` has been applied ``times`` times (its request reached the exchange)."""
    for armed in await paper.faults():
        if armed["id"] == fault["id"]:
            return armed["remaining"] is not None and fault["remaining"] - armed["remaining"] >= times
    return True


async def _exchange_past(paper: PaperAdmin, moment_ms: int) -> None:
    """Wait until the exchange's clock passes ``moment_ms``: a request held until then has executed."""
    async def past() -> bool:
        return await paper.server_time() > moment_ms

    await eventually(past, timeout=60, interval=0.5, what=f"the exchange clock past {moment_ms}")


async def _orders_once_settled(paper: PaperAdmin, tid: str, sent_at_ex: int) -> list[dict[str, Any]]:
    """The orders under the intent's client order ID once any request held since ``sent_at_ex`` executed."""
    await _exchange_past(paper, sent_at_ex + LATE_MS + 2_000)
    return await paper.orders_for(client_order_id(tid))


async def _logged(proc: Proc, text: str, timeout: float = 60) -> None:
    await eventually(lambda: text in proc.log_text(), timeout=timeout, interval=0.05, what=f"{proc.name} to log {text!r}")


# --- a worker killed right after its send (F1) ---------------------------------------------


@pytest.mark.slow  # `make test` covers it through the proof's INFLIGHT check
async def test_worker_killed_right_after_a_send_that_executes_later_leaves_one_order(
    stack: Stack, client: Client, paper: PaperAdmin, tmp_path: Path
) -> None:
    # Attempt 1's outcome is unknown; the attempt that sends after it waited is accepted and
    # executes LATE_MS later; its worker dies while waiting for the answer. The next attempt
    # must not trust anything older than that send, find no order yet, and send a second one.
    settings = _settings(stack, "f1")
    first = worker_proc(tmp_path, settings, "worker-1").start()
    second = worker_proc(tmp_path, settings, "worker-2")
    tid = trace_id("f1")
    try:
        await paper.arm("unknown_1007", path=ORDER, method="POST", count=1)
        handle = await start(client, settings, tid)
        await _logged(first, WAITING)
        late = await _arm_late_execution(paper, delay_ms=LATE_MS - 2_000, answer_after_ms=2_000)
        await eventually(lambda: _used_up(paper, late), timeout=90, interval=0.02, what="the send after the wait to reach the exchange")
        first.kill()
        sent_at = await paper.server_time()
        second.start()
        result = await result_of(handle, timeout=150)
        orders = await _orders_once_settled(paper, tid, sent_at)
    finally:
        first.kill()
        second.stop()
    assert len(orders) == 1, (orders, second.log_tail())
    assert result.state is IntentState.FILLED, result.reason
    assert result.exchange_order_id == orders[0]["orderId"]


# --- a worker cut off from Temporal but not from the exchange (a zombie) --------------------


@pytest.mark.slow  # a partition held past the heartbeat timeout; `make chaos` partitions too
async def test_worker_cut_off_from_temporal_during_placement_leaves_one_order(
    stack: Stack, client: Client, paper: PaperAdmin, tmp_path: Path
) -> None:
    # Worker 1 reaches Temporal through a proxy that the test cuts once the placement waits
    # for attempt 1's unknown outcome; it can still reach the exchange. Temporal times its
    # attempt out and worker 2 takes over. Order requests execute 9 s after they arrive, so
    # a lookup made meanwhile finds nothing.
    with TcpProxy("127.0.0.1", stack.temporal_port) as proxy:
        cut_off = _settings(stack, "zombie", temporal_address=proxy.address, recv_window_ms=10_000)
        settings = cut_off.model_copy(update={"temporal_address": stack.temporal_address})
        first = worker_proc(tmp_path, cut_off, "worker-1").start()
        second = worker_proc(tmp_path, settings, "worker-2")
        tid = trace_id("zombie")
        try:
            await paper.arm("unknown_1007", path=ORDER, method="POST", count=1)
            handle = await start(client, settings, tid)
            await _logged(first, WAITING)
            # Cut off: forwarding stops and its connections (its pending polls too) are reset.
            proxy.pause()
            proxy.cut()
            await _arm_late_execution(paper, delay_ms=9_000, count=2)
            second.start()
            result = await result_of(handle, timeout=150)
            orders = await _orders_once_settled(paper, tid, await paper.server_time())
        finally:
            proxy.resume()
            first.kill()
            second.stop()
    assert len(orders) == 1, (orders, first.log_tail(), second.log_tail())
    assert result.state is IntentState.FILLED, result.reason


# --- workflow reset while a request is in flight (F2) --------------------------------------


def _temporal_cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [temporal_binary(), *args, "--address", stack.temporal_address, "--namespace", "default"],
        capture_output=True, text=True, timeout=60, check=False,
    )


@pytest.mark.slow  # `make test` resets placements in its 60-decision chaos run
async def test_reset_while_an_order_request_is_in_flight_adopts_it(
    stack: Stack, client: Client, paper: PaperAdmin, redis: Redis
) -> None:
    # The old run's request is accepted and executes LATE_MS later; the reset run finds no
    # order yet. Its first placement attempt must wait until the old run's sends cannot
    # execute any more, then adopt the order instead of sending a second one.
    settings = _settings(stack, "reset")
    tid = trace_id("reset")
    async with running_worker(client, settings, redis):
        late = await _arm_late_execution(paper)
        handle = await start(client, settings, tid)
        await eventually(lambda: _used_up(paper, late), timeout=60, interval=0.02, what="the order request to reach the exchange")
        sent_at = await paper.server_time()
        old_run = (await handle.describe()).run_id
        reset = _temporal_cli(stack, "workflow", "reset", "-w", tid, "--type", "FirstWorkflowTask", "--reason", "test reset")
        assert reset.returncode == 0, reset.stderr
        new_run = client.get_workflow_handle(tid, result_type=IntentResult)
        assert (await new_run.describe()).run_id != old_run
        result = await result_of(new_run, timeout=120)
        orders = await _orders_once_settled(paper, tid, sent_at)
        await record_history(new_run, "reset_during_placement")
    assert len(orders) == 1, orders
    assert result.state is IntentState.FILLED, result.reason
    assert result.exchange_order_id == orders[0]["orderId"]


# --- clocks (F4) ------------------------------------------------------------------------


def _skewed_worker(tmp_path: Path, settings: Settings, skew: str) -> Proc:
    """A worker process whose clock is ``skew`` off everyone else's (libfaketime)."""
    args = ["/usr/bin/faketime", "-f", skew, str(VENV_BIN / "quantum-trader"), "worker"]
    return Proc("skewed-worker", args, tmp_path / "skewed-worker.log", env=settings_env(settings))


async def _placement_failure(handle: WorkflowHandle[Any, IntentResult]) -> str:
    """The last failure of the pending placement activity, or ``""``."""
    description = await handle.describe()
    for pending in description.raw_description.pending_activities:
        if pending.activity_type.name == "place_order" and pending.HasField("last_failure"):
            return pending.last_failure.message
    return ""


@pytest.mark.slow  # `make test` covers it through the proof's SKEW check
async def test_worker_whose_clock_is_off_temporals_refuses_to_send(
    stack: Stack, client: Client, paper: PaperAdmin, redis: Redis, tmp_path: Path
) -> None:
    # The exchange clock is absorbed by the signing offset; Temporal's is not: a worker 30 s
    # ahead of it would misjudge every horizon. It must refuse to send, retryably, and the
    # intent completes once a worker with a good clock takes the retry. (The exchange's clock
    # moves with the worker's: one off the exchange's by more than recvWindow would not start.)
    settings = _settings(stack, "skew")
    await paper.configure(clock_offset_ms=30_000)
    skewed = _skewed_worker(tmp_path, settings, "+30s").start()
    tid = trace_id("skew")
    try:
        handle = await start(client, settings, tid)

        async def refused_or_done() -> bool:
            if "clock" in await _placement_failure(handle):
                return True
            return (await handle.describe()).status is not WorkflowExecutionStatus.RUNNING

        await eventually(refused_or_done, timeout=60, what="the skewed worker's placement to refuse or the intent to end")
        assert await paper.orders_for(client_order_id(tid)) == []
        assert "clock skew" in await _placement_failure(handle)
    finally:
        skewed.stop()
        await paper.configure(clock_offset_ms=0)
    async with running_worker(client, settings, redis):
        result = await result_of(handle, timeout=120)
    assert result.state is IntentState.FILLED, result.reason
    assert len(await paper.orders_for(client_order_id(tid))) == 1


async def test_exchange_clock_offset_keeps_placement_exactly_once(
    stack: Stack, client: Client, paper: PaperAdmin, redis: Redis
) -> None:
    # The exchange runs 30 s ahead, then 30 s behind: a lost answer and a retry still end in
    # one order, found again by its client order ID.
    for offset_ms in (30_000, -30_000):
        await paper.configure(clock_offset_ms=offset_ms)
        settings = _settings(stack, "exclock", recv_window_ms=3_000)
        tid = trace_id("exclock")
        try:
            async with running_worker(client, settings, redis):
                await paper.arm("unknown_1007_after", path=ORDER, method="POST", count=1)
                result = await result_of(await start(client, settings, tid), timeout=90)
        finally:
            await paper.configure(clock_offset_ms=0)
        assert result.state is IntentState.FILLED, (offset_ms, result.reason)
        assert result.attempts >= 2
        assert len(await paper.orders_for(client_order_id(tid))) == 1, offset_ms
