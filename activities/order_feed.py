"""One Redis pub/sub subscription per worker process, shared by every watch in it, and one
reading of each market's stream health for all of them.

The listener publishes an order's client order ID on ``quantum:order-events`` in the same
Lua script that stores the change; a watch waiting on that order is woken through its own
asyncio.Event. A message reaches no one only while this subscription is down (a reconnect,
the first subscribe, Redis killing a slow subscriber), so every (re)subscription wakes every
watch to read the store again: a wake-up is never lost, and a watch has no reason to read
its order on a timer (it still does, every :data:`REREAD_SECONDS`, as a backstop). The
subscription ends itself after a while without watches and starts again with the next.

Health: the watches of a process ask :meth:`OrderFeed.health` every second; it reads the
market's listener records at most every :data:`HEALTH_FRESH_SECONDS`, one read shared by
all asking meanwhile, instead of one read per watch.
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
# A watch reads its stored order when woken, and at least this often besides.
REREAD_SECONDS = 30.0


class OrderFeed:
    """Wakes the watches of an order when the listener reports a change of it."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._health: dict[str, tuple[float, MarketHealth | None]] = {}
        self._health_reads: dict[str, asyncio.Future[MarketHealth | None]] = {}

    @contextlib.contextmanager
    def waiting(self, client_order_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever ``client_order_id`` changes in the store (clear it to wait again)."""
        if self._task is None or self._task.done() or self._stopping:
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._listen())
        event = asyncio.Event()
        self._waiters.setdefault(client_order_id, set()).add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(client_order_id, set())
            waiters.discard(event)
            if not waiters:
                self._waiters.pop(client_order_id, None)

    async def health(self, store: OrderEventStore, market: str) -> MarketHealth | None:
        """The market's stream health, read at most every :data:`HEALTH_FRESH_SECONDS` for the
        whole process. Raises what the read raises (Redis down) to every watch that asked."""
        cached = self._health.get(market)
        if cached is not None and time.monotonic() - cached[0] < HEALTH_FRESH_SECONDS:
            return cached[1]
        pending = self._health_reads.get(market)
        if pending is None:
            pending = asyncio.ensure_future(store.read_health(market))
            self._health_reads[market] = pending
            pending.add_done_callback(lambda done: self._health_read(market, done))
        return await asyncio.shield(pending)

    def _health_read(self, market: str, done: asyncio.Future[MarketHealth | None]) -> None:
        self._health_reads.pop(market, None)
        if not done.cancelled() and done.exception() is None:
            self._health[market] = (time.monotonic(), done.result())

    def _wake(self, client_order_id: str) -> None:
        for event in self._waiters.get(client_order_id, ()):
            event.set()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for event in waiters:
                event.set()

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
