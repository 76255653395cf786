"""Following a resting order through the user data streams, on the real stack (Temporal dev
server, worker, paper exchange, Redis, the ``exchange-events`` listener process).

While the stream is healthy the watch learns of fills and cancels from the store and asks
the exchange nothing (no ``GET /api/v3/order`` between placement and end). When the stream
stalls silently or its listener dies, the same intent still ends correctly by REST polling,
within its TTL and deadline."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from binance.client import Client as BinanceClient
from redis.asyncio import Redis
from temporalio.client import Client, WorkflowHandle

from activities.exchange.order_events import OrderEventStore
from paper_exchange.admin_client import PaperAdmin
from quantum_trader.ids import Step, client_order_id, protection_workflow_id
from quantum_trader.models import CancelRequest, IntentResult, IntentStatus, ProtectionStatus
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState, ProtectionState
from tests.conftest import Stack, running_worker, trace_id
from tests.support.eventually import eventually
from tests.support.exchange import client_for
from tests.support.intents import result_of, start
from tests.support.order_events import LookupCounter, connected, exchange_time_reached, start_listener
from tests.support.processes import Proc

ALGO_LOOKUP = "/fapi/v1/algoOrder"
from tests.support.stack import TEST_API_KEY, TEST_API_SECRET


@pytest.fixture(scope="module")
def listener(stack: Stack, settings: Settings) -> Iterator[Proc]:
    # Without the mass reconcile (tests/workflows/test_mass_reconcile.py): the stream alone.
    proc = start_listener(stack.home, settings.model_copy(update={"exchange_events_reconcile": False}), "listener-follow")
    yield proc
    proc.stop()


@pytest.fixture
async def streaming(redis: Redis, listener: Proc) -> OrderEventStore:
    store = OrderEventStore(redis)
    await connected(store, "spot")
    return store


async def _wait_state(handle: WorkflowHandle[Any, IntentResult], state: IntentState, timeout: float = 30) -> IntentStatus:
    async def probe() -> IntentStatus | None:
        status = await handle.query("status", result_type=IntentStatus)
        return status if status.state is state else None

    return await eventually(probe, timeout=timeout, what=f"{handle.id} in {state}")


async def _resting(client: Client, settings: Settings, paper: PaperAdmin, prefix: str, ttl: int = 600) -> WorkflowHandle[Any, IntentResult]:
    await paper.set_price("XRPUSDT", "0.6")
    handle = await start(client, settings, trace_id(prefix), symbol="XRPUSDT", order_type="LIMIT", price="0.5",
                         quantity="20", ttl_seconds=ttl)
    await _wait_state(handle, IntentState.OPEN)
    return handle


def _fees_at_exchange(stack: Stack, symbol: str, order_id: int) -> Decimal:
    rest: BinanceClient = client_for(stack.exchange_url, TEST_API_KEY, TEST_API_SECRET)
    return sum((Decimal(t["commission"]) for t in rest.get_my_trades(symbol=symbol, orderId=order_id)), Decimal(0))


async def _ended_in_time(handle: WorkflowHandle[Any, IntentResult], result: IntentResult) -> None:
    status = await handle.query("status", result_type=IntentStatus)
    assert status.deadline is not None and result.ended_at <= status.deadline


# --- a healthy stream: no order lookups --------------------------------------------------------


@pytest.mark.usefixtures("worker", "streaming")
async def test_resting_limit_filled_by_a_price_move_ends_filled_without_an_order_lookup(
    stack: Stack, client: Client, settings: Settings, paper: PaperAdmin
) -> None:
    handle = await _resting(client, settings, paper, "ev-fill")
    lookups = LookupCounter(paper, ids=[client_order_id(handle.id)])
    await lookups.arm()
    await paper.set_price("XRPUSDT", "0.49")
    result = await result_of(handle, timeout=60)
    assert result.state is IntentState.FILLED, result.reason
    assert result.executed_qty == Decimal("20")
    assert result.fees == _fees_at_exchange(stack, "XRPUSDT", result.exchange_order_id or 0)
    assert await lookups.count() == 0


@pytest.mark.usefixtures("worker", "streaming")
async def test_partial_fill_seen_without_a_lookup_then_ttl_ends_it_partially_filled(
    client: Client, settings: Settings, paper: PaperAdmin
) -> None:
    await paper.set_price("BNBUSDT", "600")
    await paper.configure(liquidity={"BNBUSDT": "0.4"})
    try:
        handle = await start(client, settings, trace_id("ev-partial"), symbol="BNBUSDT", order_type="LIMIT", price="590",
                             quantity="1", ttl_seconds=10)
        await _wait_state(handle, IntentState.OPEN)
        lookups = LookupCounter(paper, ids=[client_order_id(handle.id)])
        await lookups.arm()
        await paper.set_price("BNBUSDT", "589")  # one matching pass: 0.4 of 1 fills
        await paper.set_price("BNBUSDT", "600")
        status = await _wait_state(handle, IntentState.PARTIALLY_FILLED)
        assert status.snapshot is not None and status.snapshot.executed_qty == Decimal("0.4")
        assert await lookups.count() == 0
    finally:
        await paper.configure(liquidity={"BNBUSDT": None})
    result = await result_of(handle, timeout=60)
    assert result.state is IntentState.PARTIALLY_FILLED, result.reason
    assert result.executed_qty == Decimal("0.4")
    await _ended_in_time(handle, result)
    assert [o["status"] for o in await paper.orders_for(client_order_id(handle.id))] == ["CANCELED"]


@pytest.mark.usefixtures("worker", "streaming")
async def test_cancel_by_signal_ends_cancelled_without_an_order_lookup(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    handle = await _resting(client, settings, paper, "ev-cancel")
    lookups = LookupCounter(paper, ids=[client_order_id(handle.id)])
    await lookups.arm()
    await handle.signal("cancel_order", CancelRequest(reason="ops"))
    result = await result_of(handle, timeout=60)
    assert result.state is IntentState.CANCELLED, result.reason
    assert [o["status"] for o in await paper.orders_for(client_order_id(handle.id))] == ["CANCELED"]
    assert await lookups.count() == 0


@pytest.mark.usefixtures("worker")
async def test_fill_lost_by_the_stream_is_found_right_after_the_listener_reconnects(
    client: Client, settings: Settings, paper: PaperAdmin, streaming: OrderEventStore
) -> None:
    handle = await _resting(client, settings, paper, "ev-gap")
    lookups = LookupCounter(paper, ids=[client_order_id(handle.id)])
    await lookups.arm()
    drop = await paper.arm("stream_drop", market="spot")
    await paper.set_price("XRPUSDT", "0.49")  # the fill's events are lost
    await paper.clear_faults(drop["id"])
    assert (await _wait_state(handle, IntentState.OPEN)).state is IntentState.OPEN
    before = await streaming.read_health("spot")
    assert before is not None
    await paper.arm("stream_disconnect")
    await connected(streaming, "spot", after_ms=before.newest_connect_ms)
    # Well before the periodic reconciliation (QT_RECONCILE_SECONDS, 120 s): the reconnect's.
    result = await result_of(handle, timeout=30)
    assert result.state is IntentState.FILLED, result.reason
    assert result.executed_qty == Decimal("20")
    assert 1 <= await lookups.count() <= 20


@pytest.mark.usefixtures("worker")
async def test_one_of_two_listeners_restarting_leaves_the_watch_trusting_the_store_without_lookups(
    stack: Stack, client: Client, settings: Settings, paper: PaperAdmin, streaming: OrderEventStore
) -> None:
    quiet = settings.model_copy(update={"exchange_events_reconcile": False})
    second = start_listener(stack.home, quiet, "listener-follow-second")
    try:
        await connected(streaming, "spot", listeners=2)
        handle = await _resting(client, settings, paper, "ev-two")
        lookups = LookupCounter(paper, ids=[client_order_id(handle.id)])
        await lookups.arm()
        before = await streaming.read_health("spot")
        assert before is not None
        second.stop()  # says disconnected, for itself only
        second = start_listener(stack.home, quiet, "listener-follow-second")
        await connected(streaming, "spot", after_ms=before.newest_connect_ms, listeners=2)
        await lookups.exchange_seconds_passed(1.5)  # the watch has read the health again
        await paper.set_price("XRPUSDT", "0.49")
        result = await result_of(handle, timeout=60)
    finally:
        second.stop()
    assert result.state is IntentState.FILLED, result.reason
    # The first listener stayed connected since the order's last look: nothing to reconcile.
    assert await lookups.count() == 0


async def test_protective_orders_rest_without_algo_lookups_and_the_fired_stop_closes_the_child(
    stack: Stack, client: Client, paper: PaperAdmin, redis: Redis, streaming: OrderEventStore
) -> None:
    await connected(streaming, "usdm")
    settings = stack.settings()
    tid = trace_id("ev-prot")
    stop_id = client_order_id(tid, Step.STOP_LOSS)
    await paper.set_price("ETHUSDT", "3000")
    async with running_worker(client, settings, redis):
        handle = await start(client, settings, tid, market="usdm", symbol="ETHUSDT", quantity="0.1", leverage=3,
                             stop_loss="2900", take_profit="3100")
        assert (await result_of(handle)).state is IntentState.FILLED
        child = client.get_workflow_handle(protection_workflow_id(tid), result_type=ProtectionStatus)
        lookups = LookupCounter(paper, path=ALGO_LOOKUP, ids=[stop_id, client_order_id(tid, Step.TAKE_PROFIT)])
        await lookups.arm()
        await exchange_time_reached(paper, await paper.server_time() + 3_000)
        assert await lookups.count() == 0  # polling: two orders every 0.2 s (30 in 3 s)
        await paper.set_price("ETHUSDT", "2890")
        final = await result_of(child, timeout=60)
    assert final.state == "CLOSED" and final.fired == stop_id, final.reason


@pytest.mark.usefixtures("streaming")
async def test_reconciliation_look_refused_by_a_rate_limit_leaves_the_stream_to_end_the_intent(
    stack: Stack, client: Client, paper: PaperAdmin, redis: Redis
) -> None:
    """A 429 on the periodic REST look pauses the fleet for a minute; the healthy stream
    still carries the fill, so the intent ends FILLED while the pause lasts."""
    settings = stack.settings(reconcile_seconds=2)
    async with running_worker(client, settings, redis):
        handle = await _resting(client, settings, paper, "ev-refused", ttl=300)
        cid = client_order_id(handle.id, Step.ENTRY)
        armed_at = await paper.server_time()
        await paper.arm("rate_limit_429", path="/api/v3/order", method="GET", count=1, retry_after=60)

        async def refused() -> bool:
            return any(r["status"] == 429 and r["client_id"] == cid for r in await paper.requests(armed_at))

        await eventually(refused, timeout=30, what="the reconciliation look answered 429")
        await paper.set_price("XRPUSDT", "0.49")
        result = await result_of(handle, timeout=30)  # the pause lasts 60 s
    assert result.state is IntentState.FILLED, result.reason
    assert result.executed_qty == Decimal("20")


# --- the stream fails: REST polling ends the intent all the same -------------------------------


@pytest.mark.slow  # the fallbacks: the reconnect's reconciliation stays in make test
@pytest.mark.usefixtures("streaming")
async def test_stalled_stream_fill_found_by_reconciliation_within_the_ttl(
    stack: Stack, client: Client, paper: PaperAdmin, redis: Redis
) -> None:
    # Pings keep flowing, so the stream looks healthy: only the periodic REST look sees the fill
    # (the mass reconcile of a listener with the same cadence).
    settings = stack.settings(reconcile_seconds=3)
    fast = start_listener(stack.home, settings, "listener-stall")
    try:
        await connected(OrderEventStore(redis), "spot", listeners=2)
        async with running_worker(client, settings, redis):
            handle = await _resting(client, settings, paper, "ev-stall", ttl=30)
            await paper.arm("stream_stall", market="spot")
            await paper.set_price("XRPUSDT", "0.49")
            result = await result_of(handle, timeout=60)
            await _ended_in_time(handle, result)
    finally:
        fast.stop()
    assert result.state is IntentState.FILLED, result.reason
    assert result.executed_qty == Decimal("20") and result.fees > 0


@pytest.mark.slow
async def test_killed_listener_leaves_the_watch_polling_and_the_intent_fills(
    stack: Stack, client: Client, paper: PaperAdmin, redis: Redis
) -> None:
    settings = stack.settings()
    store = OrderEventStore(redis)
    own = start_listener(stack.home, settings, "listener-killed")
    try:
        await connected(store, "spot")
        async with running_worker(client, settings, redis):
            handle = await _resting(client, settings, paper, "ev-killed", ttl=30)
            own.kill()
            await paper.set_price("XRPUSDT", "0.49")
            result = await result_of(handle, timeout=60)
            await _ended_in_time(handle, result)
    finally:
        own.stop()
    assert result.state is IntentState.FILLED, result.reason
    assert result.executed_qty == Decimal("20")


# --- the cost of a protected position over a long watch ----------------------------------------

ROUNDS = 30


@pytest.mark.slow  # a minute of exchange time
@pytest.mark.usefixtures("worker", "streaming")
async def test_protected_position_costs_at_most_two_weight_a_minute_at_the_default_cadence(
    stack: Stack, client: Client, paper: PaperAdmin, redis: Redis, streaming: OrderEventStore
) -> None:
    """A day of watching a protected position is 720 reconciliation rounds at the default
    ``QT_RECONCILE_SECONDS`` (120 s) and nothing else, while the stream is healthy. Here the
    rounds run every 2 s: the exchange's request record gives the weight of one round, which
    at the default cadence must stay within 2 weight a minute (Binance's budget is 6,000).
    This module's listener runs no mass reconcile, so the watch looks its two orders up
    itself: the dearer of the two paths."""
    await connected(streaming, "usdm")
    cadence = 2.0
    settings = stack.settings(reconcile_seconds=cadence)
    tid = trace_id("ev-day")
    ids = {client_order_id(tid, Step.STOP_LOSS), client_order_id(tid, Step.TAKE_PROFIT)}
    await paper.set_price("ETHUSDT", "3000")
    async with running_worker(client, settings, redis):
        handle = await start(client, settings, tid, market="usdm", symbol="ETHUSDT", quantity="0.1", leverage=3,
                             stop_loss="2800", take_profit="3200")
        assert (await result_of(handle)).state is IntentState.FILLED
        child = client.get_workflow_handle(protection_workflow_id(tid), result_type=ProtectionStatus)
        since = await paper.server_time()
        until = since + int(ROUNDS * cadence * 1000)
        await exchange_time_reached(paper, until)
        seen = [r for r in await paper.requests(since) if r["at_ms"] < until and r["path"].startswith("/fapi/")]
        # This position's own requests, and every request that names no order (a per-symbol
        # or account call): counted against it, so the figure can only be too high.
        ours = [r for r in seen if r["client_id"] in ids or (r["client_id"] is None and "listenKey" not in r["path"])]
        per_round = sum(r["weight"] for r in ours) / ROUNDS
        per_minute_at_default = per_round * 60 / Settings.model_fields["reconcile_seconds"].default
        print(f"protected position: {per_round:.2f} weight a round, {per_minute_at_default:.2f} a minute at the default cadence, "
              f"{per_minute_at_default * 1440:.0f} a day; requests {sorted({r['path'] for r in ours})}")
        assert per_minute_at_default <= 2, ours
        assert ours, "the reconciliation made no request: the test would not see a regression"
        status = await child.query("status", result_type=ProtectionStatus)
        assert status.state is ProtectionState.PROTECTED, status
        await child.signal("close_position")
        final = await result_of(child, timeout=60)
    assert final.state == "CLOSED", final.reason
