"""One Redis pub/sub subscription per worker process, shared by every watch in it.

The listener publishes an order's client order ID on ``quantum:order-events`` after each
change it stores; a watch waiting on that order is woken through its own asyncio.Event.
Being woken is only a shortcut: a watch reads the store again at least every second, so a
message lost while the subscription reconnects makes it slower, never wrong. The
subscription ends itself after a while without watches and starts again with the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator

from redis.asyncio import Redis

from quantum_trader import constants
from quantum_trader.connections import REDIS_DOWN
from quantum_trader.startup import Backoff, short_reason

log = logging.getLogger(__name__)
IDLE_SECONDS = 30.0
READ_SECONDS = 1.0


class OrderFeed:
    """Wakes the watches of an order when the listener reports a change of it."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def waiting(self, client_order_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever ``client_order_id`` changes in the store (clear it to wait again)."""
        if self._task is None or self._task.done():
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

    def _wake(self, client_order_id: str) -> None:
        for event in self._waiters.get(client_order_id, ()):
            event.set()

    async def _listen(self) -> None:
        backoff = Backoff()
        busy = time.monotonic()

        def idle() -> bool:
            nonlocal busy
            if self._waiters:
                busy = time.monotonic()
            return time.monotonic() - busy >= IDLE_SECONDS

        while not idle():
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(constants.ORDER_EVENTS_CHANNEL)
                backoff.reset()
                while not idle():
                    message = await pubsub.get_message(timeout=READ_SECONDS)
                    if message is not None and message.get("type") == "message":
                        self._wake(message["data"].decode())
            except REDIS_DOWN as error:
                delay = backoff.next()
                log.warning("order events subscription lost", extra={"error": short_reason(error), "retry_in_s": round(delay, 1)})
                await asyncio.sleep(delay)
            finally:
                with contextlib.suppress(*REDIS_DOWN):
                    await pubsub.aclose()
