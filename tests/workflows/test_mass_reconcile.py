"""The mass reconcile on the real stack (Temporal dev server, worker, paper exchange, Redis,
the ``exchange-events`` listener process doing the rounds).

While the stream is healthy, resting orders are compared with the exchange by one
``GET /api/v3/openOrders?symbol=`` per symbol and round, not one ``GET /api/v3/order`` per
order; a fill the stream lost is found by the next round; without a reconciler each watch
still looks its order up itself."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from redis.asyncio import Redis
from temporalio.client import Client, WorkflowHandle

from activities.exchange.order_events import ORDER, OrderEventStore
from paper_exchange.admin_client import PaperAdmin
from quantum_trader import constants
from quantum_trader.ids import Step, client_order_id, protection_workflow_id
from quantum_trader.models import CancelRequest, IntentResult, IntentStatus, Market, ProtectionStatus
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState, OrderStatus
from tests.conftest import Stack, running_worker, trace_id
from tests.support.eventually import eventually
from tests.support.intents import result_of, start
from tests.support.order_events import OPEN_ORDERS, LookupCounter, connected, start_listener
from tests.support.processes import Proc

ALGO_LOOKUP = "/fapi/v1/algoOrder"
OPEN_ALGO_ORDERS = "/fapi/v1/openAlgoOrders"
# QT_RECONCILE_SECONDS here: short, so that a test sees several rounds.
PERIOD = 2.0
RESTING = 3


@contextmanager
def listener(stack: Stack, name: str, *, reconcile: bool = True, period: float = PERIOD) -> Iterator[Proc]:
    settings = stack.settings(reconcile_seconds=period, exchange_events_reconcile=reconcile)
    proc = start_listener(stack.home, settings, name)
    try:
        yield proc
    finally:
        proc.stop()


async def _open(handle: WorkflowHandle[Any, IntentResult]) -> None:
    async def probe() -> bool:
        return (await handle.query("status", result_type=IntentStatus)).state is IntentState.OPEN

    await eventually(probe, what=f"{handle.id} open")


async def _resting(client: Client, settings: Settings, paper: PaperAdmin, prefix: str, symbol: str = "XRPUSDT",
                   count: int = 1, prices: tuple[str, ...] = ()) -> list[WorkflowHandle[Any, IntentResult]]:
    """``count`` resting BUY LIMITs (at ``prices``, else just under the market)."""
    if symbol == "XRPUSDT":
        await paper.set_price(symbol, "0.6")
        price, quantity = "0.5", "20"
    else:
        await paper.set_price(symbol, "150")
        price, quantity = "140", "0.1"
    prices = prices or (price,) * count
    handles = [await start(client, settings, trace_id(f"{prefix}{i}"), symbol=symbol, order_type="LIMIT", ttl_seconds=60,
                           price=p, quantity=quantity) for i, p in enumerate(prices)]
    for handle in handles:
        await _open(handle)
    return handles


async def _cancelled(handles: list[WorkflowHandle[Any, IntentResult]]) -> None:
    for handle in handles:
        await handle.signal("cancel_order", CancelRequest(reason="test over"))
    for handle in handles:
        assert (await result_of(handle, timeout=60)).state is IntentState.CANCELLED


async def test_resting_limits_on_one_symbol_are_reconciled_by_one_open_orders_request_per_round_without_order_lookups(
    stack: Stack, client: Client, paper: PaperAdmin, redis: Redis
) -> None:
    settings = stack.settings(reconcile_seconds=PERIOD)
    # Two listeners, each with its reconciler: one round at a time all the same.
    with listener(stack, "listener-mass"), listener(stack, "listener-mass-second"):
        await connected(OrderEventStore(redis), "spot", listeners=2)
        async with running_worker(client, settings, redis):
            handles = await _resting(client, settings, paper, "mr-rest", symbol="SOLUSDT", count=RESTING)
            requests = LookupCounter(paper, ids=[client_order_id(h.id) for h in handles])
            await requests.arm()
            await requests.exchange_seconds_passed(3 * PERIOD)
            lookups = await requests.count()
            rounds = await requests.per_symbol(OPEN_ORDERS, "SOLUSDT")
            await _cancelled(handles)
    # Each watch alone would look its order up every PERIOD: 3 orders x 3 periods.
    assert lookups == 0
    assert 2 <= rounds <= 4  # one a round (every PERIOD, checked every second), not one per listener


async def test_rounds_go_on_while_lookups_have_spent_their_share_of_the_budget(
    stack: Stack, client: Client, paper: PaperAdmin, redis: Redis
) -> None:
    """One round replaces every lookup of a symbol: when the lookups' share of the fleet
    budget is spent (a burst of watches looking themselves), the rounds must still go, or the
    watches keep falling back to lookups that keep the share spent."""
    settings = stack.settings(reconcile_seconds=PERIOD)
    with listener(stack, "listener-mass-share"):
        await connected(OrderEventStore(redis), "spot")
        async with running_worker(client, settings, redis):
            handles = await _resting(client, settings, paper, "mr-share", symbol="SOLUSDT", count=RESTING)
            now = await paper.server_time()
            # The lookups' share of Binance's 6,000 a minute (x 0.8 margin x 0.6), spent for
            # this minute and the next, below what entries and cancels may use.
            spent = int(6_000 * settings.exchange_budget_margin * settings.exchange_budget_reconcile_share)
            for index in (now // 60_000, now // 60_000 + 1):
                key = f"{constants.EXCHANGE_BUDGET_KEY_PREFIX}{stack.exchange_url}/api:weight:60000:{index}"
                await redis.set(key, spent, px=180_000)
            requests = LookupCounter(paper, ids=[client_order_id(h.id) for h in handles])
            await requests.arm()
            await requests.exchange_seconds_passed(3 * PERIOD)
            rounds = await requests.per_symbol(OPEN_ORDERS, "SOLUSDT")
            await _cancelled(handles)
    assert rounds >= 2


async def test_protective_orders_are_reconciled_by_one_open_algo_orders_request_per_round_without_algo_lookups(
    stack: Stack, client: Client, paper: PaperAdmin, redis: Redis
) -> None:
    settings = stack.settings(reconcile_seconds=PERIOD)
    tid = trace_id("mr-prot")
    stop_id, take_id = client_order_id(tid, Step.STOP_LOSS), client_order_id(tid, Step.TAKE_PROFIT)
    await paper.set_price("ETHUSDT", "3000")
    with listener(stack, "listener-mass-algo"):
        await connected(OrderEventStore(redis), "usdm")
        async with running_worker(client, settings, redis):
            handle = await start(client, settings, tid, market="usdm", symbol="ETHUSDT", quantity="0.1", leverage=3,
                                 stop_loss="2900", take_profit="3100")
            assert (await result_of(handle)).state is IntentState.FILLED
            child = client.get_workflow_handle(protection_workflow_id(tid), result_type=ProtectionStatus)
            requests = LookupCounter(paper, path=ALGO_LOOKUP, ids=[stop_id, take_id])
            await requests.arm()
            await requests.exchange_seconds_passed(3 * PERIOD)
            lookups = await requests.count()
            rounds = await requests.per_symbol(OPEN_ALGO_ORDERS, "ETHUSDT")
            await paper.set_price("ETHUSDT", "2890")
            final = await result_of(child, timeout=60)
    assert final.state == "CLOSED" and final.fired == stop_id, final.reason
    assert lookups == 0  # the watch alone: both orders every PERIOD
    assert 2 <= rounds <= 4


@pytest.mark.slow
async def test_a_rate_limited_reconciler_honours_retry_after_and_resumes(
    stack: Stack, client: Client, paper: PaperAdmin, redis: Redis
) -> None:
    settings = stack.settings(reconcile_seconds=PERIOD)
    with listener(stack, "listener-mass-429"):
        await connected(OrderEventStore(redis), "spot")
        async with running_worker(client, settings, redis):
            handles = await _resting(client, settings, paper, "mr-429", symbol="SOLUSDT", count=2)
            requests = LookupCounter(paper)
            await requests.arm()
            limited = await paper.arm("rate_limit_429", path=OPEN_ORDERS, method="GET", retry_after=4)
            await requests.exchange_seconds_passed(4 * PERIOD)
            refused = await requests.per_symbol(OPEN_ORDERS, "SOLUSDT")
            await paper.clear_faults(limited["id"])
            cleared = await paper.server_time()

            async def resumed() -> bool:
                return any(r["path"] == OPEN_ORDERS and r.get("symbol") == "SOLUSDT" and r["status"] == 200
                           for r in await paper.requests(cleared))

            await eventually(resumed, timeout=4 * PERIOD + 30, what="a round answered again")
            await _cancelled(handles)
    # Every PERIOD (a tick each second without the backoff) would be 4 or more; Retry-After 4 s
    # and the doubling backoff allow about two.
    assert 1 <= refused <= 3


async def test_fill_lost_by_the_stream_is_merged_into_the_store_by_the_next_round(
    stack: Stack, client: Client, paper: PaperAdmin, redis: Redis
) -> None:
    settings = stack.settings(reconcile_seconds=PERIOD)
    store = OrderEventStore(redis)
    with listener(stack, "listener-mass-lost"):
        await connected(store, "spot")
        async with running_worker(client, settings, redis):
            # Two orders: the round lists them (one spot order alone is cheaper to look up).
            handle, other = await _resting(client, settings, paper, "mr-lost", prices=("0.5", "0.4"))
            cid = client_order_id(handle.id)
            requests = LookupCounter(paper, ids=[cid])
            await requests.arm()
            drop = await paper.arm("stream_drop", market="spot")
            await paper.set_price("XRPUSDT", "0.49")  # the fill's events are lost
            await paper.clear_faults(drop["id"])
            # Found within a round and its lookup: PERIOD plus the one-second check, and margin.
            result = await result_of(handle, timeout=2 * PERIOD + 10)
            await _cancelled([other])
    assert result.state is IntentState.FILLED, result.reason
    stored = await store.read_order(cid)
    assert stored is not None and stored.snapshot.status is OrderStatus.FILLED  # the round's lookup, merged
    assert 1 <= await requests.count() <= 2  # that lookup alone (and a retried one at most)


@pytest.mark.slow  # a reconnect round waits 10 s after the listener's first round
async def test_a_reconnect_is_reconciled_by_one_round_not_one_lookup_per_order(
    stack: Stack, client: Client, paper: PaperAdmin, redis: Redis
) -> None:
    settings = stack.settings(reconcile_seconds=60)  # no periodic look or round during the test
    store = OrderEventStore(redis)
    await redis.delete(constants.RECONCILER_KEY_PREFIX + "spot")  # the listener's first round comes at once
    with listener(stack, "listener-mass-reconnect", period=60):
        await connected(store, "spot")
        first = await eventually(lambda: store.read_round(Market.SPOT), what="the listener's first round")
        async with running_worker(client, settings, redis):
            filled, *resting = await _resting(client, settings, paper, "mr-reco", prices=("0.5", "0.4", "0.4"))
            others = LookupCounter(paper, ids=[client_order_id(h.id) for h in resting])
            lost = LookupCounter(paper, ids=[client_order_id(filled.id)])
            await others.arm()
            await lost.arm()
            drop = await paper.arm("stream_drop", market="spot")
            await paper.set_price("XRPUSDT", "0.49")  # the fill's events are lost
            await paper.clear_faults(drop["id"])
            before = await store.read_health("spot")
            assert before is not None
            await paper.arm("stream_disconnect")
            await connected(store, "spot", after_ms=before.newest_connect_ms)
            result = await result_of(filled, timeout=45)
            rounds = await others.per_symbol(OPEN_ORDERS, "XRPUSDT")
            after = await store.read_round(Market.SPOT)
            await _cancelled(resting)
    assert result.state is IntentState.FILLED, result.reason
    assert rounds >= 1 and after is not None and after.last_round_ms > first.last_round_ms  # the reconnect's round
    assert await others.count() == 0  # listed by the reconnect's round: no reconnect lookup each
    assert 1 <= await lost.count() <= 2  # the round's lookup of the order it no longer listed


@pytest.mark.slow  # the cost rule; the lists themselves stay in make test
async def test_a_lone_spot_order_is_looked_up_by_the_round_which_costs_less_than_listing_its_symbol(
    stack: Stack, client: Client, paper: PaperAdmin, redis: Redis
) -> None:
    settings = stack.settings(reconcile_seconds=PERIOD)
    with listener(stack, "listener-mass-lone"):
        await connected(OrderEventStore(redis), "spot")
        async with running_worker(client, settings, redis):
            handles = await _resting(client, settings, paper, "mr-lone", symbol="SOLUSDT")
            requests = LookupCounter(paper, ids=[client_order_id(h.id) for h in handles])
            await requests.arm()
            await requests.exchange_seconds_passed(3 * PERIOD)
            lookups = await requests.count()
            rounds = await requests.per_symbol(OPEN_ORDERS, "SOLUSDT")
            await _cancelled(handles)
    assert rounds == 0
    assert 2 <= lookups <= 4  # one a round: weight 4, not 6


@pytest.mark.slow  # the fallback, unchanged from before the mass reconcile
async def test_without_a_reconciler_each_watch_still_looks_its_order_up(
    stack: Stack, client: Client, paper: PaperAdmin, redis: Redis
) -> None:
    settings = stack.settings(reconcile_seconds=PERIOD)
    await redis.delete(constants.RECONCILER_KEY_PREFIX + "spot")  # no earlier test's rounds count
    with listener(stack, "listener-no-reconcile", reconcile=False):
        await connected(OrderEventStore(redis), "spot")
        async with running_worker(client, settings, redis):
            handles = await _resting(client, settings, paper, "mr-none", symbol="SOLUSDT")
            requests = LookupCounter(paper, ids=[client_order_id(h.id) for h in handles])
            await requests.arm()
            await requests.exchange_seconds_passed(2.5 * PERIOD)
            lookups = await requests.count()
            rounds = await requests.per_symbol(OPEN_ORDERS, "SOLUSDT")
            await _cancelled(handles)
    assert rounds == 0
    assert lookups >= 2  # every PERIOD, as before the mass reconcile


@pytest.mark.slow  # a measurement: the reconcile weight of 24 resting orders on 3 symbols
async def test_reconcile_weight_per_open_order_per_minute_is_a_fraction_of_a_lookups(
    stack: Stack, client: Client, paper: PaperAdmin, redis: Redis
) -> None:
    settings = stack.settings(reconcile_seconds=PERIOD)
    prices = {"SOLUSDT": ("150", "140", "0.1"), "BNBUSDT": ("600", "590", "0.1"), "ETHUSDT": ("3000", "2900", "0.01")}
    per_symbol = 8
    with listener(stack, "listener-mass-weight"):
        await connected(OrderEventStore(redis), "spot")
        async with running_worker(client, settings, redis):
            handles = []
            for symbol, (market, limit, quantity) in prices.items():
                await paper.set_price(symbol, market)
                handles += [await start(client, settings, trace_id(f"mr-w{i}"), symbol=symbol, order_type="LIMIT",
                                        ttl_seconds=120, price=limit, quantity=quantity) for i in range(per_symbol)]
            for handle in handles:
                await _open(handle)
            ids = {client_order_id(h.id) for h in handles}
            requests = LookupCounter(paper, ids=ids)
            await requests.arm()
            await requests.exchange_seconds_passed(5 * PERIOD)
            seen = await paper.requests(requests.since)
            await _cancelled(handles)
    window_ms = 5 * PERIOD * 1000
    weight = sum(r["weight"] for r in seen if r["method"] == "GET" and (
        (r["path"] == OPEN_ORDERS and r.get("symbol") in prices) or (r["path"] == "/api/v3/order" and r["client_id"] in ids)))
    per_order_minute = weight / len(handles) / (window_ms / 60_000)
    # At QT_RECONCILE_SECONDS = 120 the same rounds come 60 times less often.
    at_default = per_order_minute * PERIOD / 120
    print(f"\nreconcile weight {weight} in {window_ms / 1000:.0f} s for {len(handles)} orders on {len(prices)} symbols: "
          f"{per_order_minute:.2f} per open order per minute at {PERIOD:.0f} s rounds, {at_default:.3f} at 120 s "
          f"(one lookup per order: {4 * 60 / PERIOD:.0f} and 2)")
    # 6 per symbol per round shared by 8 orders, half a round a minute, no lookups: 0.375 (with
    # one round more than the window's five at most); one lookup per order would be 2.
    assert at_default <= 6 / 5 * 6 / per_symbol * 60 / 120


WATCHED = ("qt-limits-1", "qt-limits-2", "qt-limits-3")


async def test_the_listener_spends_by_the_limits_the_exchange_announces_not_binances_defaults(
    stack: Stack, paper: PaperAdmin, redis: Redis
) -> None:
    """An exchange (or an account) allowing 3,000 weight a minute, 2,500 of them spent by the
    fleet this minute and the next (the entries' budget is 3,000 x 0.8 x 0.85 = 2,040): the
    listener's rounds must wait, as the workers' requests do. Taking Binance's published
    6,000 instead (4,080 for entries), it sent them."""
    await paper.configure(weight_limit=3_000)
    store = OrderEventStore(redis)
    try:
        with listener(stack, "listener-mass-limits"):
            await connected(store, "spot")
            until = await paper.server_time() + 600_000
            for watched in WATCHED:  # more than one: the round lists the symbol
                await store.watch(Market.SPOT, ORDER, "SOLUSDT", watched, until)
            now = await paper.server_time()
            for index in (now // 60_000, now // 60_000 + 1):
                key = f"{constants.EXCHANGE_BUDGET_KEY_PREFIX}{stack.exchange_url}/api:weight:60000:{index}"
                await redis.set(key, 2_500, px=180_000)
            requests = LookupCounter(paper)
            await requests.arm()
            await requests.exchange_seconds_passed(3 * PERIOD)
            sent = [r for r in await paper.requests(requests.since) if r.get("symbol") == "SOLUSDT"]
    finally:
        for watched in WATCHED:
            await store.unwatch(Market.SPOT, ORDER, "SOLUSDT", watched)
        await paper.configure(weight_limit=0)
    assert sent == [], f"{len(sent)} requests past the fleet's budget: {sent[:3]}"
