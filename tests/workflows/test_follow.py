"""The follow loop of a resting order on the real stack: it cannot spin, it honours the
exchange's Retry-After, it keeps its deadline while the exchange refuses to answer, it shows
NEEDS_ATTENTION while it cannot see the order, its history stays bounded (continue-as-new),
and an order the exchange forgets still ends the intent in a legal state."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from redis.asyncio import Redis
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributeKey

from paper_exchange.admin_client import PaperAdmin
from quantum_trader.ids import client_order_id
from quantum_trader.models import CancelRequest, IntentResult, IntentStatus
from quantum_trader.settings import Settings
from quantum_trader.states import Attention, IntentState
from quantum_trader.temporal import connect
from tests.conftest import Stack, running_worker, trace_id
from tests.support.eventually import eventually
from tests.support.intents import record_history, result_of, start
from tests.support.processes import Proc
from tests.support.stack import temporal_proc
from workers.worker import prepare

TRADE_STATE = SearchAttributeKey.for_keyword("TradeState")
LOOKUP = "/api/v3/order"


async def _status(handle: WorkflowHandle[Any, IntentResult]) -> IntentStatus:
    return await handle.query("status", result_type=IntentStatus)


async def _wait_state(handle: WorkflowHandle[Any, IntentResult], state: IntentState, timeout: float = 30) -> IntentStatus:
    async def probe() -> IntentStatus | None:
        status = await _status(handle)
        return status if status.state is state else None

    return await eventually(probe, timeout=timeout, what=f"{handle.id} in {state}")


async def _trade_state(handle: WorkflowHandle[Any, Any]) -> str | None:
    return (await handle.describe()).typed_search_attributes.get(TRADE_STATE)


async def _history_length(handle: WorkflowHandle[Any, Any]) -> int:
    return (await handle.describe()).raw_description.workflow_execution_info.history_length


async def _details(handle: WorkflowHandle[Any, Any]) -> str:
    """What the Web UI shows as the workflow's current details."""
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def _exchange_time_passes(paper: PaperAdmin, seconds: float) -> None:
    """Wait, by polling the exchange's clock, until ``seconds`` have passed there."""
    until = await paper.server_time() + int(seconds * 1000)

    async def passed() -> bool:
        return await paper.server_time() >= until

    await eventually(passed, timeout=seconds + 30, interval=0.5, what=f"{seconds}s of exchange time")


async def _resting(client: Client, settings: Settings, paper: PaperAdmin, prefix: str, ttl: int = 600) -> tuple[str, WorkflowHandle[Any, IntentResult]]:
    tid = trace_id(prefix)
    await paper.set_price("XRPUSDT", "0.6")
    handle = await start(client, settings, tid, symbol="XRPUSDT", order_type="LIMIT", price="0.5", quantity="20", ttl_seconds=ttl)
    await _wait_state(handle, IntentState.OPEN)
    return tid, handle


async def _requests_during(paper: PaperAdmin, kind: str, seconds: float, **fault: Any) -> int:
    """Arm ``kind`` on order lookups for ``seconds`` of exchange time; how many lookups it answered."""
    armed = await paper.arm(kind, path=LOOKUP, method="GET", count=1_000_000, **fault)
    await _exchange_time_passes(paper, seconds)
    left = next((f["remaining"] for f in await paper.faults() if f["id"] == armed["id"]), 0)
    await paper.clear_faults(armed["id"])
    return 1_000_000 - left


# --- a revoked key: backoff, NEEDS_ATTENTION, then the intent goes on --------------------------


@pytest.mark.slow  # two minutes; `make test` covers it through the proof's ATTENTION check
@pytest.mark.usefixtures("worker")
async def test_revoked_key_on_lookups_backs_off_shows_needs_attention_and_fills_once_cleared(
    client: Client, settings: Settings, paper: PaperAdmin
) -> None:
    tid, handle = await _resting(client, settings, paper, "revoked")
    before = await _history_length(handle)
    fault = await paper.arm("key_revoked", path=LOOKUP, method="GET")
    await _exchange_time_passes(paper, 60)
    grown = await _history_length(handle) - before
    assert grown < 100, f"history grew by {grown} events in 60 s of refused lookups"
    assert await _trade_state(handle) == Attention.NEEDS_ATTENTION.value
    shown = await _details(handle)
    assert Attention.NEEDS_ATTENTION.value in shown and client_order_id(tid) in shown and "-2015" in shown
    assert (await _status(handle)).state is IntentState.OPEN  # the order's life did not change

    await paper.clear_faults(fault["id"])

    async def seen_again() -> bool:
        return await _trade_state(handle) == IntentState.OPEN.value

    await eventually(seen_again, timeout=120, interval=0.5, what="TradeState back to OPEN once lookups work")
    await paper.set_price("XRPUSDT", "0.49")
    result = await result_of(handle)
    assert result.state is IntentState.FILLED
    assert [o["status"] for o in await paper.orders_for(client_order_id(tid))] == ["FILLED"]
    await record_history(handle, "limit_needs_attention_then_filled")


@pytest.mark.slow  # ten minutes under the fault; `make test-slow`
@pytest.mark.timeout(1200)
@pytest.mark.usefixtures("worker")
async def test_revoked_key_for_ten_minutes_history_stays_small_and_ends_failed_naming_the_order(
    client: Client, settings: Settings, paper: PaperAdmin
) -> None:
    # TTL ten minutes; the key stays revoked for every order call, the cancel at the TTL included.
    tid, handle = await _resting(client, settings, paper, "revoked10", ttl=600)
    await paper.arm("key_revoked", path=LOOKUP)

    async def closed() -> bool:
        return (await handle.describe()).close_time is not None

    # Short polls rather than one long wait on the result: ten minutes of one long poll
    # outlives the client's RPC timeout.
    await eventually(closed, timeout=900, interval=5, what="the intent to end")
    result = await result_of(handle)
    length = await _history_length(handle)
    assert length < 2_000, f"{length} events"
    assert result.state is IntentState.FAILED
    assert client_order_id(tid) in result.reason and "may be live" in result.reason


# --- Retry-After, and the deadline while watches fail -------------------------------------------


@pytest.mark.parametrize("kind", ["rate_limit_429", pytest.param("ban_418", marks=pytest.mark.slow)])
@pytest.mark.usefixtures("worker")
async def test_rate_limited_lookups_wait_for_retry_after(kind: str, client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid, handle = await _resting(client, settings, paper, "ra")
    used = await _requests_during(paper, kind, 20, retry_after=10)
    # One lookup at most every Retry-After: 20 s / 10 s, plus the first one and one at the
    # edge of the count (the test reads the count a moment after the 20 s). Before: ~200.
    assert used <= 4, f"{used} lookups of one open order in 20 s under Retry-After 10"
    await handle.signal("cancel_order", CancelRequest(reason="ops"))
    assert (await result_of(handle)).state is IntentState.CANCELLED


@pytest.mark.usefixtures("worker")
async def test_ttl_enforced_while_every_lookup_hangs(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    # Each lookup is held past python-binance's 10 s timeout (and the watch's heartbeat timeout):
    # the watch keeps failing, yet the TTL must end the intent, and within its deadline.
    tid, handle = await _resting(client, settings, paper, "hang", ttl=8)
    await paper.arm("latency", path=LOOKUP, method="GET", latency_ms=25_000)
    result = await result_of(handle, timeout=120)
    assert result.state is IntentState.EXPIRED, result.reason
    status = await _status(handle)
    assert status.deadline is not None and result.ended_at <= status.deadline
    assert [o["status"] for o in await paper.orders_for(client_order_id(tid))] == ["CANCELED"]


# --- the exchange forgets the order ---------------------------------------------------------------


@pytest.mark.usefixtures("worker")
async def test_exchange_forgets_a_partially_filled_order_ends_partially_filled(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid = trace_id("forgotpf")
    await paper.set_price("BNBUSDT", "600")
    await paper.configure(liquidity={"BNBUSDT": "0.4"})
    try:
        handle = await start(client, settings, tid, symbol="BNBUSDT", order_type="LIMIT", price="590", quantity="1", ttl_seconds=6)
        await _wait_state(handle, IntentState.OPEN)
        await paper.set_price("BNBUSDT", "589")  # one matching pass: 0.4 of 1 fills
        await paper.set_price("BNBUSDT", "600")
        await _wait_state(handle, IntentState.PARTIALLY_FILLED)
    finally:
        await paper.configure(liquidity={"BNBUSDT": None})
    await paper.reset()
    result = await result_of(handle, timeout=60)
    assert result.state is IntentState.PARTIALLY_FILLED, result.reason
    assert result.executed_qty == Decimal("0.4")
    assert "no longer has" in result.reason
    await record_history(handle, "limit_partial_forgotten")


@pytest.mark.usefixtures("worker")
async def test_exchange_forgets_an_open_order_ends_expired_at_its_ttl(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid, handle = await _resting(client, settings, paper, "forgotopen", ttl=4)
    await paper.reset()
    result = await result_of(handle, timeout=60)
    assert result.state is IntentState.EXPIRED, result.reason
    assert await paper.orders_for(client_order_id(tid)) == []


# --- history bounded: continue-as-new ----------------------------------------------------------


@pytest.fixture(scope="module")
def early_continue_temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, int]]:
    """A dev server that suggests continue-as-new after 40 events instead of thousands."""
    home = tmp_path_factory.mktemp("early-can")
    proc, port, _ = temporal_proc(home)
    proc.args += ["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40"]
    proc.start(wait_port=port, timeout=120)
    try:
        yield proc, port
    finally:
        proc.stop()


async def test_long_follow_continues_as_new_carrying_its_state(
    stack: Stack, early_continue_temporal: tuple[Proc, int], paper: PaperAdmin, redis: Redis
) -> None:
    _, port = early_continue_temporal
    settings = stack.settings(temporal_address=f"127.0.0.1:{port}")
    client = await connect(settings)
    await prepare(client, settings)
    tid = trace_id("can")
    await paper.set_price("BNBUSDT", "600")
    await paper.configure(liquidity={"BNBUSDT": "0.05"})
    try:
        async with running_worker(client, settings, redis):
            handle = await start(client, settings, tid, symbol="BNBUSDT", order_type="LIMIT", price="590", quantity="1", ttl_seconds=600)
            first_run = (await handle.describe()).run_id
            await _wait_state(handle, IntentState.OPEN)
            filled = Decimal(0)
            # Each partial fill ends one watch: a few of them pass 40 events.
            for _ in range(12):
                await paper.set_price("BNBUSDT", "589")
                await paper.set_price("BNBUSDT", "600")
                filled += Decimal("0.05")

                async def seen(expected: Decimal = filled) -> bool:
                    snapshot = (await _status(client.get_workflow_handle(tid, result_type=IntentResult))).snapshot
                    return snapshot is not None and snapshot.executed_qty == expected

                await eventually(seen, timeout=30, what=f"{filled} filled")
            latest = client.get_workflow_handle(tid, result_type=IntentResult)
            assert (await latest.describe()).run_id != first_run
            status = await _status(latest)
            assert status.state is IntentState.PARTIALLY_FILLED and status.attempts == 1
            assert [s for s, _ in status.history][:4] == [IntentState.RECEIVED, IntentState.APPROVED, IntentState.SUBMITTED, IntentState.OPEN]
            await latest.signal("cancel_order", CancelRequest(reason="ops"))
            result = await result_of(latest)
    finally:
        await paper.configure(liquidity={"BNBUSDT": None})
    assert result.state is IntentState.PARTIALLY_FILLED and result.executed_qty == filled
    assert result.client_order_id == client_order_id(tid)
    assert [o["status"] for o in await paper.orders_for(client_order_id(tid))] == ["CANCELED"]
    assert await redis.xlen(settings.result_stream) >= 1
    await record_history(client.get_workflow_handle(tid, run_id=first_run), "limit_continued_as_new")
    await record_history(latest, "limit_continued_run")


# --- the watch window: fewer, longer watches for thousands of resting orders -------------------


async def test_watch_window_setting_sets_how_long_each_watch_of_a_resting_order_lasts(
    client: Client, settings: Settings, redis: Redis, paper: PaperAdmin
) -> None:
    """QT_ORDER_WATCH_WINDOW_SECONDS=300: the workflow schedules 300 s watches (plus their
    slack), one workflow task and one activity per five minutes of a resting order, not per 30 s,
    heartbeating every 40 s rather than every 4."""
    long_windows = settings.model_copy(update={"order_watch_window_seconds": 300.0, "task_queue": f"{settings.task_queue}-window"})
    async with running_worker(client, long_windows, redis):
        tid, handle = await _resting(client, long_windows, paper, "window")
        try:
            history = await handle.fetch_history()
            watches = [e.activity_task_scheduled_event_attributes for e in history.events
                       if e.activity_task_scheduled_event_attributes.activity_type.name == "watch_order"]
            assert watches, "no watch scheduled"
            assert watches[0].start_to_close_timeout.ToSeconds() == 305
            # Temporal writes every heartbeat; a 5 s timeout had the SDK send one every 4 s.
            assert watches[0].heartbeat_timeout.ToSeconds() == 50
        finally:
            await handle.signal("cancel_order", CancelRequest(reason="test over"))
            result = await result_of(handle)
    assert result.state is IntentState.CANCELLED
