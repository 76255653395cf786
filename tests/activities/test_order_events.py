"""The order events store against a real redis-server: it only moves an order forward,
whatever the streams repeat, reorder or race, and counts each trade's fee once."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

from redis.asyncio import Redis

from activities.exchange.order_events import (
    Applied,
    MarketHealth,
    OrderEvent,
    OrderEventStore,
    ReconcilerRound,
    StreamHealth,
    Trade,
)
from activities.exchange.stream_parse import execution_report
from quantum_trader import constants
from quantum_trader.models import Market, OrderSnapshot, Side
from quantum_trader.states import OrderStatus

S = OrderStatus


def _event(cid: str, status: OrderStatus, executed: str, t: int, trade: int | None = None, last: str = "0",
           fee: str = "0") -> OrderEvent:
    return OrderEvent(
        client_order_id=cid, symbol="BNBUSDT", side=Side.BUY, order_type="LIMIT", status=status, order_id=7,
        orig_qty=Decimal("1"), executed_qty=Decimal(executed), cumulative_quote_qty=Decimal(executed) * 590,
        transaction_ms=t, event_ms=t + 5,
        trade=Trade(trade, Decimal(last), Decimal(fee), "BNB") if trade is not None else None,
    )


def _life(cid: str) -> list[OrderEvent]:
    """NEW, two partial fills, then the last fill: 0.4 + 0.4 + 0.2."""
    return [
        _event(cid, S.NEW, "0", 1000),
        _event(cid, S.PARTIALLY_FILLED, "0.4", 1001, trade=11, last="0.4", fee="0.0004"),
        _event(cid, S.PARTIALLY_FILLED, "0.8", 1002, trade=12, last="0.4", fee="0.0004"),
        _event(cid, S.FILLED, "1", 1003, trade=13, last="0.2", fee="0.0002"),
    ]


def _cid() -> str:
    return f"qt-{uuid.uuid4().hex[:12]}"


async def test_store_duplicated_events_apply_once_and_fees_count_once(redis: Redis) -> None:
    store, cid = OrderEventStore(redis), _cid()
    outcomes = [await store.apply_order(event) for event in _life(cid) for _ in range(2)]
    assert outcomes[1::2] == [Applied.DUPLICATE] * 4
    stored = await store.read_order(cid)
    assert stored is not None and stored.fees_complete
    assert stored.snapshot.status is S.FILLED and stored.snapshot.executed_qty == Decimal("1")
    assert stored.snapshot.fees == Decimal("0.001") and stored.snapshot.fee_asset == "BNB"


async def test_store_reordered_events_end_at_the_latest_state_with_every_fee(redis: Redis) -> None:
    store, cid = OrderEventStore(redis), _cid()
    for event in reversed(_life(cid)):
        await store.apply_order(event)
    stored = await store.read_order(cid)
    assert stored is not None
    assert (stored.snapshot.status, stored.snapshot.executed_qty, stored.snapshot.update_time_ms) == (S.FILLED, Decimal("1"), 1003)
    assert stored.snapshot.fees == Decimal("0.001") and stored.fees_complete


async def test_store_fees_incomplete_while_a_trade_is_missing(redis: Redis) -> None:
    store, cid = OrderEventStore(redis), _cid()
    life = _life(cid)
    for event in (life[0], life[1], life[3]):  # the second fill's event lost
        await store.apply_order(event)
    stored = await store.read_order(cid)
    assert stored is not None and stored.snapshot.status is S.FILLED
    assert not stored.fees_complete and stored.snapshot.fees == Decimal("0.0006")


async def test_store_terminal_status_not_overwritten_by_a_late_open_one(redis: Redis) -> None:
    store, cid = OrderEventStore(redis), _cid()
    await store.apply_order(_event(cid, S.PARTIALLY_FILLED, "0.4", 1001, trade=11, last="0.4", fee="0.0004"))
    await store.apply_order(_event(cid, S.CANCELED, "0.4", 1002))
    # Late and out of order: the NEW, the same partial fill again, and a NEW with a later time.
    assert await store.apply_order(_event(cid, S.NEW, "0", 1000)) is Applied.DUPLICATE
    assert await store.apply_order(_event(cid, S.PARTIALLY_FILLED, "0.4", 1001, trade=11, last="0.4", fee="0.0004")) is Applied.DUPLICATE
    assert await store.apply_order(_event(cid, S.PARTIALLY_FILLED, "0.4", 1005)) is Applied.DUPLICATE
    stored = await store.read_order(cid)
    assert stored is not None and stored.snapshot.status is S.CANCELED and stored.snapshot.executed_qty == Decimal("0.4")


async def test_store_terminal_beats_open_at_equal_fill_even_when_earlier(redis: Redis) -> None:
    store, cid = OrderEventStore(redis), _cid()
    await store.apply_order(_event(cid, S.NEW, "0", 1005))
    assert await store.apply_order(_event(cid, S.CANCELED, "0", 1004)) is Applied.SNAPSHOT
    stored = await store.read_order(cid)
    assert stored is not None and stored.snapshot.status is S.CANCELED


async def test_store_two_writers_at_once_give_one_history(redis: Redis) -> None:
    store_a, store_b, cid = OrderEventStore(redis), OrderEventStore(redis), _cid()
    life = _life(cid)

    async def writer(store: OrderEventStore, events: list[OrderEvent]) -> list[Applied]:
        return [await store.apply_order(event) for event in events]

    first, second = await asyncio.gather(writer(store_a, life), writer(store_b, list(reversed(life))))
    stored = await store_a.read_order(cid)
    assert stored is not None and stored.snapshot.status is S.FILLED and stored.snapshot.executed_qty == Decimal("1")
    assert stored.snapshot.fees == Decimal("0.001")
    trades_recorded = [a for a in first + second if a is not Applied.DUPLICATE]
    assert len(trades_recorded) >= 4  # every event counted by exactly one of the writers
    assert len(await redis.hgetall(constants.ORDER_TRADES_KEY_PREFIX + cid)) == 3


async def test_store_change_is_published_on_the_channel(redis: Redis) -> None:
    store, cid = OrderEventStore(redis), _cid()
    pubsub = redis.pubsub()
    await pubsub.subscribe(constants.ORDER_EVENTS_CHANNEL)
    try:
        await pubsub.get_message(timeout=1)  # the subscribe confirmation
        await store.apply_order(_event(cid, S.NEW, "0", 1000))
        message = None
        for _ in range(50):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is not None and message["data"] == cid.encode():
                break
        assert message is not None and message["data"] == cid.encode()
    finally:
        await pubsub.aclose()


async def test_store_keys_expire(redis: Redis) -> None:
    store, cid = OrderEventStore(redis, ttl_seconds=60), _cid()
    await store.apply_order(_life(cid)[1])
    for key in (constants.ORDER_EVENTS_KEY_PREFIX + cid, constants.ORDER_TRADES_KEY_PREFIX + cid):
        assert 0 < await redis.ttl(key) <= 60
    market = f"market-{cid}"  # not the listeners' own markets
    await store.write_health(market, "one", StreamHealth(True, 1, 2, 3), ttl_seconds=30, now_ms=1_000)
    assert 0 < await redis.pttl(constants.USER_STREAM_KEY_PREFIX + market) <= 30_000
    assert await store.read_health(market, now_ms=1_000) == MarketHealth((StreamHealth(True, 1, 2, 3),))
    assert await store.read_health(market, now_ms=31_001) is None  # the listener's own record expired
    await store.record_look(cid, 1234)
    assert await store.last_look(cid) == 1234 and 0 < await redis.ttl(constants.ORDER_LOOK_KEY_PREFIX + cid) <= 60


def _rest(cid: str, status: OrderStatus, executed: str, t: int) -> OrderSnapshot:
    """The order as a REST answer (openOrders, a lookup) shows it."""
    return OrderSnapshot(client_order_id=cid, order_id=7, status=status, orig_qty=Decimal("1"), executed_qty=Decimal(executed),
                         cumulative_quote_qty=Decimal(executed) * 590, update_time_ms=t, symbol="BNBUSDT", side=Side.BUY,
                         order_type="LIMIT")


async def test_store_rest_snapshot_older_than_the_stream_changes_nothing(redis: Redis) -> None:
    store, cid = OrderEventStore(redis), _cid()
    for event in _life(cid)[:2]:  # PARTIALLY_FILLED 0.4
        await store.apply_order(event)
    assert await store.apply_snapshot(_rest(cid, S.NEW, "0", 1000), event_ms=9_000) is Applied.DUPLICATE
    assert await store.apply_snapshot(_rest(cid, S.PARTIALLY_FILLED, "0.4", 1001), event_ms=9_000) is Applied.DUPLICATE
    stored = await store.read_order(cid)
    assert stored is not None and stored.snapshot.status is S.PARTIALLY_FILLED
    assert stored is not None and stored.snapshot.executed_qty == Decimal("0.4") and stored.fees_complete


async def test_store_rest_snapshot_of_an_end_the_stream_lost_moves_the_order_on_and_no_event_moves_it_back(redis: Redis) -> None:
    store, cid = OrderEventStore(redis), _cid()
    life = _life(cid)
    await store.apply_order(life[0])
    assert await store.apply_snapshot(_rest(cid, S.FILLED, "1", 1003), event_ms=9_000) is Applied.SNAPSHOT
    for event in life[1:]:  # the stream's late events: trades recorded, the snapshot stays
        await store.apply_order(event)
    stored = await store.read_order(cid)
    assert stored is not None and stored.snapshot.status is S.FILLED and stored.snapshot.executed_qty == Decimal("1")
    assert stored.fees_complete and stored.snapshot.fees == Decimal("0.001")
    assert await store.apply_snapshot(_rest(cid, S.PARTIALLY_FILLED, "0.8", 1002), event_ms=9_500) is Applied.DUPLICATE


async def test_store_watched_orders_lapse_at_their_expiry_and_leave_when_unwatched(redis: Redis) -> None:
    store, a, b = OrderEventStore(redis), _cid(), _cid()
    await store.watch(Market.SPOT, "order", "BNBUSDT", a, until_ms=10_000)
    await store.watch(Market.SPOT, "order", "BNBUSDT", b, until_ms=20_000)
    watched = await store.watched(Market.SPOT, now_ms=15_000)
    assert ("order", "BNBUSDT", a) not in watched and ("order", "BNBUSDT", b) in watched
    await store.unwatch(Market.SPOT, "order", "BNBUSDT", b)
    assert ("order", "BNBUSDT", b) not in await store.watched(Market.SPOT, now_ms=15_000)


async def test_store_round_lock_is_held_by_one_owner_at_a_time(redis: Redis) -> None:
    store = OrderEventStore(redis)
    market = Market.USDM
    await redis.delete(constants.RECONCILE_LOCK_KEY_PREFIX + market.value)
    assert await store.lock_round(market, "one", 5_000)
    assert not await store.lock_round(market, "two", 5_000)
    await store.unlock_round(market, "two")  # not its lock: nothing happens
    assert not await store.lock_round(market, "two", 5_000)
    await store.unlock_round(market, "one")
    assert await store.lock_round(market, "two", 5_000)
    await store.unlock_round(market, "two")


async def test_store_rounds_count_only_while_a_reconciler_says_it_runs(redis: Redis) -> None:
    store, market = OrderEventStore(redis), Market.USDM
    await redis.delete(constants.RECONCILER_ALIVE_KEY_PREFIX + market.value)
    await store.record_round(market, at_ms=1_000, period_ms=2_000)
    assert await store.read_round(market) is None  # the last round of a reconciler gone
    await store.reconciler_alive(market, ttl_ms=5_000)
    assert await store.read_round(market) == ReconcilerRound(1_000, 2_000)
    assert 0 < await redis.pttl(constants.RECONCILER_ALIVE_KEY_PREFIX + market.value) <= 5_000
    await redis.delete(constants.RECONCILER_ALIVE_KEY_PREFIX + market.value)


def test_execution_report_of_a_cancel_names_the_order_not_the_cancel_request() -> None:
    event = execution_report({
        "e": "executionReport", "E": 2, "s": "BNBUSDT", "c": "cancel-req-1", "C": "qt-order-1", "S": "BUY", "o": "LIMIT",
        "q": "1", "x": "CANCELED", "X": "CANCELED", "i": 9, "l": "0", "z": "0.4", "Z": "236", "n": "0", "N": None,
        "T": 1, "t": -1,
    })
    assert event is not None and event.client_order_id == "qt-order-1" and event.trade is None
    assert event.status is S.CANCELED and event.executed_qty == Decimal("0.4")
