"""The order events listener (``quantum-trader exchange-events``) against the real paper
exchange and a real Redis: orders placed over REST land in the store as the exchange
reports them, it reconnects after a cut, and two listeners under duplicated and reordered
events store exactly the exchange's executed quantity and fees."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest
import pytest_asyncio
from binance.client import Client as BinanceClient
from redis.asyncio import Redis

from activities.exchange.order_events import OrderEventStore, StoredOrder
from paper_exchange.admin_client import PaperAdmin
from quantum_trader.settings import Settings
from quantum_trader.states import AlgoStatus, OrderStatus
from tests.conftest import Stack
from tests.support.eventually import eventually
from tests.support.exchange import client_for
from tests.support.order_events import connected, start_listener, stored
from tests.support.processes import Proc
from tests.support.stack import TEST_API_KEY, TEST_API_SECRET


@pytest.fixture(scope="module")
def listener(stack: Stack, settings: Settings) -> Iterator[Proc]:
    proc = start_listener(stack.home, settings, "listener-tests")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def rest(stack: Stack) -> BinanceClient:
    return client_for(stack.exchange_url, TEST_API_KEY, TEST_API_SECRET)


@pytest_asyncio.fixture(loop_scope="session")
async def store(redis: Redis, listener: Proc) -> AsyncIterator[OrderEventStore]:
    events = OrderEventStore(redis)
    await connected(events, "spot")
    await connected(events, "usdm")
    yield events


def _cid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _trades(rest: BinanceClient, symbol: str, order_id: int) -> tuple[Decimal, Decimal]:
    """The exchange's own executed quantity and fee total of an order, from its trades."""
    trades = rest.get_my_trades(symbol=symbol, orderId=order_id)
    return sum((Decimal(t["qty"]) for t in trades), Decimal(0)), sum((Decimal(t["commission"]) for t in trades), Decimal(0))


def _done(found: StoredOrder) -> bool:
    return not found.snapshot.is_open and found.fees_complete


async def test_spot_limit_filled_by_a_price_move_lands_with_its_cumulative_fill(
    store: OrderEventStore, paper: PaperAdmin, rest: BinanceClient
) -> None:
    cid = _cid("ev-limit")
    await paper.set_price("XRPUSDT", "0.6")
    placed = await asyncio.to_thread(rest.create_order, symbol="XRPUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                     quantity="20", price="0.5", newClientOrderId=cid)
    resting = await stored(store, cid, lambda s: s.snapshot.status is OrderStatus.NEW)
    assert resting.snapshot.order_id == placed["orderId"] and resting.snapshot.executed_qty == 0
    await paper.set_price("XRPUSDT", "0.49")
    found = await stored(store, cid, _done)
    qty, fees = await asyncio.to_thread(_trades, rest, "XRPUSDT", placed["orderId"])
    assert found.snapshot.status is OrderStatus.FILLED
    assert found.snapshot.executed_qty == qty == Decimal("20") and found.snapshot.fees == fees
    assert found.snapshot.cumulative_quote_qty == Decimal("10")


async def test_spot_cancel_lands_under_the_orders_own_id(store: OrderEventStore, paper: PaperAdmin, rest: BinanceClient) -> None:
    cid = _cid("ev-cancel")
    await paper.set_price("XRPUSDT", "0.6")
    await asyncio.to_thread(rest.create_order, symbol="XRPUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                            quantity="20", price="0.5", newClientOrderId=cid)
    await stored(store, cid, lambda s: s.snapshot.status is OrderStatus.NEW)
    await asyncio.to_thread(rest.cancel_order, symbol="XRPUSDT", origClientOrderId=cid)
    found = await stored(store, cid, lambda s: s.snapshot.status is OrderStatus.CANCELED)
    assert found.snapshot.executed_qty == 0 and found.fees_complete


async def test_futures_entry_and_its_stop_land_as_order_and_algo_updates(
    store: OrderEventStore, paper: PaperAdmin, rest: BinanceClient
) -> None:
    entry, stop = _cid("ev-fut"), _cid("ev-sl")
    await paper.set_price("BTCUSDT", "60000")
    placed = await asyncio.to_thread(rest.futures_create_order, symbol="BTCUSDT", side="BUY", type="MARKET",
                                     quantity="0.01", newClientOrderId=entry)
    found = await stored(store, entry, _done)
    assert found.snapshot.status is OrderStatus.FILLED and found.snapshot.executed_qty == Decimal("0.01")
    assert found.snapshot.order_id == placed["orderId"] and found.snapshot.fees > 0
    assert found.snapshot.cumulative_quote_qty == Decimal("600")
    await asyncio.to_thread(rest.futures_create_order, symbol="BTCUSDT", side="SELL", type="STOP_MARKET",
                            triggerPrice="58000", closePosition="true", clientAlgoId=stop)

    async def algo(status: AlgoStatus) -> object:
        found = await store.read_algo(stop)
        return found if found is not None and found.status is status else None

    await eventually(lambda: algo(AlgoStatus.NEW), what="the stop stored as NEW")
    await paper.set_price("BTCUSDT", "57900")
    finished = await eventually(lambda: algo(AlgoStatus.FINISHED), what="the stop stored as FINISHED")
    assert finished.actual_order_id is not None and finished.executed_qty == Decimal("0.01")  # type: ignore[attr-defined]


async def test_listener_reconnects_after_the_exchange_cuts_its_streams(
    stack: Stack, store: OrderEventStore, paper: PaperAdmin, rest: BinanceClient, listener: Proc
) -> None:
    before = {market: await store.read_health(market) for market in ("spot", "usdm")}
    answer = await paper.arm("stream_disconnect")
    assert answer.get("disconnected", 0) >= 2
    for market in ("spot", "usdm"):
        health = before[market]
        assert health is not None
        await connected(store, market, after_ms=health.newest_connect_ms)
    assert "user data stream lost" in listener.log_path.read_text()
    assert "retry_in_s" in listener.log_path.read_text()
    # And it follows orders again.
    cid = _cid("ev-again")
    await paper.set_price("XRPUSDT", "0.6")
    await asyncio.to_thread(rest.create_order, symbol="XRPUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                            quantity="20", price="0.5", newClientOrderId=cid)
    await stored(store, cid, lambda s: s.snapshot.status is OrderStatus.NEW)


async def test_two_listeners_under_duplicated_and_reordered_events_store_the_exchanges_fill_and_fees(
    stack: Stack, settings: Settings, store: OrderEventStore, paper: PaperAdmin, rest: BinanceClient
) -> None:
    second = start_listener(stack.home, settings, "listener-second")
    try:
        health = await store.read_health("spot")
        assert health is not None
        await connected(store, "spot", listeners=2)  # the second one subscribed
        cid = _cid("ev-two")
        await paper.set_price("BNBUSDT", "600")
        await paper.configure(liquidity={"BNBUSDT": "0.4"})
        await paper.arm("stream_duplicate", market="spot")
        await paper.arm("stream_reorder", market="spot", window=3)
        try:
            placed = await asyncio.to_thread(rest.create_order, symbol="BNBUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                             quantity="1", price="590", newClientOrderId=cid)
            for _ in range(3):  # 0.4 + 0.4 + 0.2
                await paper.set_price("BNBUSDT", "589")
                await paper.set_price("BNBUSDT", "600")
        finally:
            await paper.configure(liquidity={"BNBUSDT": None})
            await paper.clear_faults()
        # A window the reorder still held leaves before the next event.
        await asyncio.to_thread(rest.create_order, symbol="BNBUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                quantity="0.1", price="500", newClientOrderId=_cid("ev-flush"))
        found = await stored(store, cid, _done)
        qty, fees = await asyncio.to_thread(_trades, rest, "BNBUSDT", placed["orderId"])
        assert found.snapshot.status is OrderStatus.FILLED
        assert found.snapshot.executed_qty == qty == Decimal("1")
        assert found.snapshot.fees == fees and fees > 0
    finally:
        second.stop()
