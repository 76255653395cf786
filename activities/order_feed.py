"""One Redis pub/sub subscription per worker process, shared by every watch in it, and one
reading of each market's stream health for all of them.

The listener publishes an order's client order ID on ``quantum:order-events`` in the same
Lua script that stores the change; a watch waiting on that order is woken through its
:class:`Wake`. A message reaches no one only while this subscription is down (a reconnect,
the first subscribe, Redis killing a slow subscriber), so every (re)subscription wakes every
watch to read the store again: a wake-up is never lost, and a watch has no reason to read
its order on a timer (it still does, every :data:`REREAD_SECONDS`, as a backstop). The
subscription ends itself after a while without watches and starts again with the next.

Health: one task per market in the process reads the market's listener records every
:data:`HEALTH_FRESH_SECONDS` and wakes every watch of the market when its verdict changes
(the stream turned healthy or not, or a listener reconnected), so a watch on a healthy
stream sleeps until its order changes or it has something of its own to do (a heartbeat, a
periodic look). A watch asking :meth:`OrderFeed.health` gets that reading, one read shared
by all asking meanwhile, instead of one read per watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator

from redis.asyncio import Redis

from activities.exchange.order_events import MarketHealth, OrderEventStore
from quantum_trader import constants
from quantum_trader.connections import REDIS_DOWN
from quantum_trader.startup import Backoff, short_reason

log = logging.getLogger(__name__)
IDLE_SECONDS = 30.0
READ_SECONDS = 1.0
# How old a health reading may be when a watch asks (the silence it judges is seconds long).
HEALTH_FRESH_SECONDS = 0.5
# ... and while a new reading is on its way, the last one is answered if younger than this.
HEALTH_STALE_SECONDS = 3.0
# A watch reads its stored order when woken, and at least this often besides.
REREAD_SECONDS = 30.0


class Wake:
    """A watch's wake-up flag, and a wait for it (one waiter at a time) with a timeout that
    costs a timer.

    ``asyncio.wait_for(event.wait(), t)`` makes a task per call and cancels it at every
    timeout; a watch waits once a second, so 10,000 watches spent a worker's core on that.
    """

    def __init__(self) -> None:
        self._set = False
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._set = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def is_set(self) -> bool:
        return self._set

    def clear(self) -> None:
        self._set = False

    async def wait(self, timeout: float) -> None:
        """Until set (returns at once if it is) or ``timeout`` seconds pass."""
        if self._set:
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, _settle, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class OrderFeed:
    """Wakes the watches of an order when the listener reports a change of it, and the
    watches of a market when its stream's health changes."""

    def __init__(self, redis: Redis, silence_seconds: float) -> None:
        self._redis = redis
        self._silence_ms = int(silence_seconds * 1000)
        self._waiters: dict[str, set[Wake]] = {}
        self._by_market: dict[str, set[Wake]] = {}
        self._monitors: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._health: dict[str, tuple[float, MarketHealth | None]] = {}
        self._health_reads: dict[str, asyncio.Future[MarketHealth | None]] = {}

    @contextlib.contextmanager
    def waiting(self, market: str, *client_ids: str) -> Iterator[Wake]:
        """One wake-up set whenever any of ``client_ids`` changes in the store, or ``market``'s
        stream health changes (clear it to wait again)."""
        if self._task is None or self._task.done() or self._stopping:
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._listen())
        wake = Wake()
        for key, table in ((market, self._by_market), *((client_id, self._waiters) for client_id in client_ids)):
            table.setdefault(key, set()).add(wake)
        try:
            yield wake
        finally:
            for key, table in ((market, self._by_market), *((client_id, self._waiters) for client_id in client_ids)):
                waiters = table.get(key, set())
                waiters.discard(wake)
                if not waiters:
                    table.pop(key, None)

    async def health(self, store: OrderEventStore, market: str) -> MarketHealth | None:
        """The market's stream health, read at most every :data:`HEALTH_FRESH_SECONDS` for the
        whole process. While a new reading is on its way the last one is answered if younger than
        :data:`HEALTH_STALE_SECONDS`; otherwise the watch waits for the new one, and gets what
        the read raises (Redis down). The first ask starts the market's health monitor."""
        monitor = self._monitors.get(market)
        if monitor is None or monitor.done():
            self._monitors[market] = asyncio.get_running_loop().create_task(self._monitor(store, market))
        return await self._reading(store, market)

    async def _monitor(self, store: OrderEventStore, market: str) -> None:
        """While the market has watches: read its health and wake them all when the verdict
        changes. Ends with the last watch; the next watch's first ask starts it again."""
        last: tuple[bool, int | None] | None = None
        while self._by_market.get(market):
            try:
                health = await self._reading(store, market)
            except REDIS_DOWN:
                health = None
            now = int(time.time() * 1000)
            verdict = (False, None) if health is None else (health.healthy(now, self._silence_ms),
                                                            health.covered_since(now, self._silence_ms))
            if last is not None and verdict != last:
                for wake in self._by_market.get(market, ()):
                    wake.set()
            last = verdict
            await asyncio.sleep(HEALTH_FRESH_SECONDS)

    async def _reading(self, store: OrderEventStore, market: str) -> MarketHealth | None:
        cached = self._health.get(market)
        if cached is not None and time.monotonic() - cached[0] < HEALTH_FRESH_SECONDS:
            return cached[1]
        pending = self._health_reads.get(market)
        if pending is None:
            pending = asyncio.ensure_future(store.read_health(market))
            self._health_reads[market] = pending
            pending.add_done_callback(lambda done: self._health_read(market, done))
        if cached is not None and time.monotonic() - cached[0] < HEALTH_STALE_SECONDS:
            return cached[1]
        return await asyncio.shield(pending)

    def _health_read(self, market: str, done: asyncio.Future[MarketHealth | None]) -> None:
        self._health_reads.pop(market, None)
        if not done.cancelled() and done.exception() is None:
            self._health[market] = (time.monotonic(), done.result())
        else:  # Redis down: no health to answer from, the next watch to ask waits for a read
            self._health.pop(market, None)

    def _wake(self, client_order_id: str) -> None:
        for wake in self._waiters.get(client_order_id, ()):
            wake.set()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for wake in waiters:
                wake.set()

    async def _listen(self) -> None:
        backoff = Backoff()
        busy = time.monotonic()

        def idle() -> bool:
            nonlocal busy
            if self._waiters:
                busy = time.monotonic()
            return time.monotonic() - busy >= IDLE_SECONDS

        while not idle() and self._task is asyncio.current_task():
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(constants.ORDER_EVENTS_CHANNEL)
                backoff.reset()
                self._wake_all()  # what was published before this subscription reached no one
                while not idle():
                    message = await pubsub.get_message(timeout=READ_SECONDS)
                    if message is not None and message.get("type") == "message":
                        self._wake(message["data"].decode())
            except REDIS_DOWN as error:
                delay = backoff.next()
                log.warning("order events subscription lost", extra={"error": short_reason(error), "retry_in_s": round(delay, 1)})
                await asyncio.sleep(delay)
            finally:
                if idle():
                    self._stopping = True  # a watch arriving from here on starts a new subscription
                with contextlib.suppress(*REDIS_DOWN):
                    await pubsub.aclose()
