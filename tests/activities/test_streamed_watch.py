"""The streamed watch on a real redis-server of its own, with many watches in one process.

A worker follows thousands of resting orders at once; while the stream is healthy each
watch must cost Redis almost nothing until its order changes. These tests count the
commands the server processed, and lose a wake-up on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from activities.exchange import RequestRefused
from activities.exchange.binance import BinanceExchange
from activities.exchange.budget import RequestBudget, split_url
from activities.exchange.order_events import OrderEventStore, StreamHealth
from activities import order_watch
from activities.order_feed import OrderFeed, Wake
from activities.order_watch import Sparing, StreamedWatch
from quantum_trader import constants
from quantum_trader.connections import redis_client
from quantum_trader.models import Market, OrderRequest, OrderSnapshot, OrderStatus, OrderType, Side, WatchRequest
from quantum_trader.settings import Settings
from tests.support.eventually import eventually
from tests.support.processes import Proc
from tests.support.stack import redis_proc

LISTENER = "listener-under-test"


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home: Path = tmp_path_factory.mktemp("streamed-watch-redis")
    proc, port = redis_proc(home)
    proc.start(wait_port=port)
    yield f"redis://127.0.0.1:{port}/0"
    proc.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def redis(private_redis: str) -> AsyncIterator[Redis]:
    client = redis_client(private_redis)
    await client.flushall()
    yield client
    await client.aclose()


def _now_ms() -> int:
    return int(time.time() * 1000)


# When the listener under test connected: an hour before these tests, so before every look
# they record (a look older than the connection would be due at once); it stays connected
# while it keeps reporting frames.
CONNECTED_AT_MS = _now_ms() - 3_600_000


async def _healthy(store: OrderEventStore) -> None:
    """A listener connected before these tests that keeps reporting frames."""
    now = _now_ms()
    await store.write_health("spot", LISTENER, StreamHealth(True, CONNECTED_AT_MS, now, now), 30, now)


@contextlib.asynccontextmanager
async def _kept_healthy(store: OrderEventStore) -> AsyncIterator[None]:
    """The listener reporting its stream healthy every half second, until the block ends; it
    has stopped writing when the block is left (a cancelled writer may still be inside a
    Redis call and write once more into the next test's store)."""
    stop = asyncio.Event()

    async def keep() -> None:
        while not stop.is_set():
            await _healthy(store)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)  # the listener's own cadence

    keeper = asyncio.create_task(keep())
    try:
        yield
    finally:
        stop.set()
        await keeper


def _order(n: int) -> OrderRequest:
    return OrderRequest(trace_id=f"sw-{n}", market=Market.SPOT, symbol="XRPUSDT", side=Side.BUY, order_type=OrderType.LIMIT,
                        quantity=Decimal("20"), price=Decimal("0.5"), client_order_id=f"qt-sw-{n}")


def _request(order: OrderRequest, window: float) -> WatchRequest:
    since = OrderSnapshot(client_order_id=order.client_order_id, order_id=1, status=OrderStatus.NEW, orig_qty=order.quantity)
    return WatchRequest(order=order, since=since, window_seconds=window, poll_seconds=1.0)


def _beat() -> Sparing:
    """A heartbeat passed on every 20 s, as a 300-s watch's is."""
    return Sparing(lambda: None, timedelta(seconds=50))


async def _same(found: OrderSnapshot) -> OrderSnapshot:
    return found


def _watch(settings: Settings, store: OrderEventStore, feed: OrderFeed) -> StreamedWatch:
    return StreamedWatch(settings, BinanceExchange(settings), store, feed, _same)


async def _commands(redis: Redis, *names: str) -> int:
    """How many of these commands the server has processed."""
    stats = await redis.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in names)


async def _watch_unchanged(settings: Settings, store: OrderEventStore, feed: OrderFeed, orders: list[OrderRequest],
                           window: float) -> None:
    """Watch ``orders`` together for ``window`` on a stream kept healthy; none changes."""
    async with _kept_healthy(store):
        ended = await asyncio.gather(*(_watch(settings, store, feed).run(_request(o, window), time.monotonic() + window, _beat())
                                       for o in orders))
    assert all(snapshot.status is OrderStatus.NEW for snapshot in ended)


async def test_many_watches_on_a_healthy_stream_read_redis_when_woken_not_every_second(settings: Settings, redis: Redis) -> None:
    """100 unchanged orders watched for 4 s: each order is read once at the start, the
    stream's health once for all of them per half second. (Each watch reading its order and
    the health every second made this 12 reads a watch.)"""
    store, feed, count, window = OrderEventStore(redis), OrderFeed(redis, settings.stream_silence_seconds), 100, 4.0
    await _healthy(store)
    orders = [_order(n) for n in range(count)]
    for order in orders:  # looked at after the listener connected: nothing to reconcile
        await store.record_look(order.client_order_id, _now_ms())
    before = await _commands(redis, "hgetall")
    await _watch_unchanged(settings, store, feed, orders, window)
    reads = await _commands(redis, "hgetall") - before
    assert reads < 3 * count, f"{reads} HGETALLs for {count} watches in {window} s"


async def test_a_change_published_while_the_feed_was_disconnected_still_ends_the_watch_at_once(
    settings: Settings, redis: Redis
) -> None:
    """The feed's subscription is killed and the order is cancelled before it subscribes
    again, so the change's message reaches no one; the watch must still see it promptly."""
    store, feed = OrderEventStore(redis), OrderFeed(redis, settings.stream_silence_seconds)
    order = _order(1000)
    await store.record_look(order.client_order_id, _now_ms())
    window = 60.0

    async def subscribed() -> bool:
        counts = dict(await redis.pubsub_numsub(constants.ORDER_EVENTS_CHANNEL))
        return counts.get(constants.ORDER_EVENTS_CHANNEL.encode(), 0) == 1

    async with _kept_healthy(store):
        watching = asyncio.create_task(_watch(settings, store, feed).run(_request(order, window), time.monotonic() + window, _beat()))
        try:
            await eventually(subscribed, timeout=10, what="the feed subscribed")
            await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            cancelled = OrderSnapshot(client_order_id=order.client_order_id, order_id=1, status=OrderStatus.CANCELED,
                                      orig_qty=order.quantity, update_time_ms=_now_ms(), symbol=order.symbol, side=order.side,
                                      order_type=order.order_type.value)
            await store.apply_snapshot(cancelled, _now_ms())
            lost = time.monotonic()
            found = await asyncio.wait_for(watching, timeout=window)
            took = time.monotonic() - lost
        finally:
            watching.cancel()
    assert found.status is OrderStatus.CANCELED
    assert took < 5.0, f"the watch saw the cancel {took:.1f} s after it was stored"


@contextlib.asynccontextmanager
async def _paused_exchange(settings: Settings, redis_url: str, seconds: int) -> AsyncIterator[BinanceExchange]:
    """The exchange behind a fleet budget that a 429 paused for ``seconds``: every look is
    refused before it is sent, as every worker's is after another worker's 429."""
    budget = RequestBudget(settings, redis_client(redis_url))
    exchange = BinanceExchange(settings, budget=budget)
    api, _ = split_url(f"{exchange.url}/api/v3/order")
    await budget.observe(api, 429, {"Retry-After": str(seconds)}, "Too many requests", _now_ms())
    try:
        yield exchange
    finally:
        await exchange.close()
        await budget.close()


async def _disconnected(store: OrderEventStore) -> None:
    """The market's one listener reports its stream down: the store cannot be trusted."""
    now = _now_ms()
    await store.write_health("spot", LISTENER, StreamHealth(False, now - 10_000, now, now), 30, now)


async def test_a_look_refused_while_the_stream_is_down_waits_and_the_fill_comes_through_the_stream_when_it_is_back(
    settings: Settings, redis: Redis, private_redis: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The stream is down, so the watch must look over REST, and the fleet is paused for a
    minute: the look is refused, nothing sent. The stream comes back with the fill. (A refused
    look used to end the watch at once when the stream was not healthy: at 10,000 resting
    orders a Redis stall made every watch look, and thousands failed together.)"""
    async with _paused_exchange(settings, private_redis, 60) as exchange:
        found = await _refused_then_filled(settings, redis, exchange, caplog)
    assert found.status is OrderStatus.FILLED


async def _refused_then_filled(settings: Settings, redis: Redis, exchange: BinanceExchange,
                               caplog: pytest.LogCaptureFixture) -> OrderSnapshot:
    store, feed = OrderEventStore(redis), OrderFeed(redis, settings.stream_silence_seconds)
    await _disconnected(store)
    order = _order(2000)
    window = 30.0
    watch = StreamedWatch(settings, exchange, store, feed, _same)
    caplog.set_level(logging.INFO, logger="activities.order_watch")
    watching = asyncio.create_task(watch.run(_request(order, window), time.monotonic() + window, _beat()))

    def refused() -> bool:
        return any("refused" in record.getMessage() for record in caplog.records if record.name == "activities.order_watch")

    try:
        await eventually(lambda: watching.done() or refused(), timeout=10, what="the watch's look refused by the paused budget")
        assert not watching.done(), f"the watch ended with {watching.exception()!r}"
        await _healthy(store)  # the stream is back (the record counts for 30 s, longer than this test)
        filled = OrderSnapshot(client_order_id=order.client_order_id, order_id=1, status=OrderStatus.FILLED,
                               orig_qty=order.quantity, executed_qty=order.quantity, cumulative_quote_qty=Decimal("10"),
                               update_time_ms=_now_ms(), symbol=order.symbol, side=order.side, order_type=order.order_type.value)
        await store.apply_snapshot(filled, _now_ms())
        return await asyncio.wait_for(watching, timeout=10)  # the pause has 50 s or more to go
    finally:
        watching.cancel()


async def test_a_watch_whose_looks_are_refused_for_its_whole_window_with_the_stream_down_fails_with_the_refusal(
    settings: Settings, redis: Redis, private_redis: str
) -> None:
    """Nothing showed the order for the whole window: the workflow must learn it (it shows
    NEEDS_ATTENTION), as from a polling watch."""
    took = await _refused_with_the_stream_down(settings, redis, private_redis, _order(2001), window=3.0)
    assert took >= 2.5  # at the window's end, not at the first refusal


async def _refused_with_the_stream_down(settings: Settings, redis: Redis, private_redis: str, order: OrderRequest,
                                        window: float) -> float:
    """Watch ``order`` with its market's stream down and the fleet paused; the seconds until
    the watch fails with the refusal (it must)."""
    store, feed = OrderEventStore(redis), OrderFeed(redis, settings.stream_silence_seconds)
    await _disconnected(store)
    async with _paused_exchange(settings, private_redis, 60) as exchange:
        began = time.monotonic()
        with pytest.raises(RequestRefused, match="paused"):
            await asyncio.wait_for(StreamedWatch(settings, exchange, store, feed, _same).run(
                _request(order, window), time.monotonic() + window, _beat()), timeout=10)
        return time.monotonic() - began


async def test_a_wake_returns_at_once_when_set_before_or_while_waiting_and_at_its_timeout_otherwise() -> None:
    wake = Wake()
    wake.set()
    await asyncio.wait_for(wake.wait(60), timeout=1)  # set before: no wait
    wake.clear()
    loop = asyncio.get_running_loop()
    loop.call_soon(wake.set)
    await asyncio.wait_for(wake.wait(60), timeout=1)  # set while waiting
    wake.clear()
    await asyncio.wait_for(wake.wait(0.05), timeout=1)  # nothing: its own timeout
    assert not wake.is_set()


def test_a_watch_passes_its_heartbeat_on_at_most_every_four_tenths_of_the_timeout() -> None:
    """The SDK sends at most one heartbeat each 0.8 of the timeout; calling it every second
    from 10,000 watches cost the worker a task per call."""
    sent: list[float] = []
    beat = Sparing(lambda: sent.append(time.monotonic()), timedelta(seconds=50))
    for _ in range(1_000):
        beat()
    assert len(sent) == 1
    every_second = Sparing(lambda: sent.append(time.monotonic()), None)
    every_second()
    every_second()
    assert len(sent) == 2


async def test_watches_whose_looks_are_left_to_live_rounds_do_not_read_the_rounds_every_second(
    settings: Settings, redis: Redis
) -> None:
    """100 orders last looked at 200 s ago, by a live mass reconciler's round: their periodic
    look is the rounds' (due after three periods), so the watches read the round record
    when they start, not every second. (Checking first without the rounds' record, each watch
    found its look due every second and read its look and the round record to learn it was
    not: 20,000 Redis reads a second from one worker following 10,000 resting orders.)"""
    store, feed, count, window = OrderEventStore(redis), OrderFeed(redis, settings.stream_silence_seconds), 100, 4.0
    await _healthy(store)
    period_ms = int(settings.reconcile_seconds * 1000)
    await store.reconciler_alive(Market.SPOT, 3 * period_ms)
    await store.record_round(Market.SPOT, _now_ms() - 1_000, period_ms)
    orders = [_order(3000 + n) for n in range(count)]
    await store.record_looks([o.client_order_id for o in orders], _now_ms() - 200_000)
    before = await _commands(redis, "get", "exists")
    await _watch_unchanged(settings, store, feed, orders, window)
    reads = await _commands(redis, "get", "exists") - before
    assert reads <= 3 * count, f"{reads} reads of looks and rounds for {count} watches in {window} s"


async def test_looks_refused_with_the_stream_down_fail_the_watch_once_the_order_is_unseen_that_long(
    settings: Settings, redis: Redis, private_redis: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long window must not hide a ban: with the stream down and every look refused, the
    watch fails after REFUSED_UNSEEN_SECONDS (2 s here), not at its window's end (30 s), so
    the workflow shows NEEDS_ATTENTION as soon as after a polling watch's refusals."""
    monkeypatch.setattr(order_watch, "REFUSED_UNSEEN_SECONDS", 2.0, raising=False)
    took = await _refused_with_the_stream_down(settings, redis, private_redis, _order(2002), window=30.0)
    assert 1.5 <= took < 10


class _Counted:
    """The watch's heartbeat (passed on every 20 s), counting each time the watch woke."""

    def __init__(self) -> None:
        self.wakes = 0
        self._beat = _beat()

    def __call__(self) -> None:
        self.wakes += 1
        self._beat()

    def due_in(self) -> float:
        return self._beat.due_in()


async def test_a_watch_on_a_healthy_stream_sleeps_until_its_order_changes_not_every_second(settings: Settings, redis: Redis) -> None:
    """Nothing changes for 4 s and nothing of the watch's own is due (its heartbeat every 20 s,
    its periodic look in minutes): it wakes to start, when the feed has subscribed (what was
published before reached no one) and at its window's end. (Waking every second to judge its
    stream's health again, 10,000 watches kept a worker's event loop three quarters busy and
    delayed every workflow task it ran.)"""
    store, feed, heartbeat = OrderEventStore(redis), OrderFeed(redis, settings.stream_silence_seconds), _Counted()
    await _healthy(store)
    order = _order(4000)
    await store.record_look(order.client_order_id, _now_ms())
    window = 4.0
    async with _kept_healthy(store):
        found = await _watch(settings, store, feed).run(_request(order, window), time.monotonic() + window, heartbeat)
    assert found.status is OrderStatus.NEW
    assert heartbeat.wakes <= 3, f"the watch woke {heartbeat.wakes} times in {window} s"


async def test_a_sleeping_watch_is_woken_when_its_stream_stops_being_healthy_and_looks_itself(
    settings: Settings, redis: Redis, private_redis: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The watch sleeps on a healthy stream; the listener then reports it down. The watch must
    turn to REST within about a second (its look, refused here by a paused fleet, shows it),
    not at its next heartbeat 20 s on."""
    store, feed, heartbeat = OrderEventStore(redis), OrderFeed(redis, settings.stream_silence_seconds), _Counted()
    await _healthy(store)
    order = _order(4001)
    await store.record_look(order.client_order_id, _now_ms())
    caplog.set_level(logging.INFO, logger="activities.order_watch")
    window = 30.0
    async with _paused_exchange(settings, private_redis, 60) as exchange:
        watch = StreamedWatch(settings, exchange, store, feed, _same)
        watching = asyncio.create_task(watch.run(_request(order, window), time.monotonic() + window, heartbeat))

        def looked() -> bool:
            return any("refused" in record.getMessage() for record in caplog.records if record.name == "activities.order_watch")

        try:
            await eventually(lambda: heartbeat.wakes >= 1, timeout=5, what="the watch started")
            assert not looked(), "the watch looked while its stream was healthy"
            await _disconnected(store)
            await eventually(looked, timeout=3, what="the watch's REST look once the stream is down")
        finally:
            watching.cancel()
