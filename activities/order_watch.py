"""A watch that reads the order events store while its market's stream is healthy.

The listener (``quantum-trader exchange-events``) stores what the exchange's user data
streams report; this watch trusts it only while the market's stream health says connected
and not silent for ``QT_STREAM_SILENCE_SECONDS``. It asks the exchange itself (REST) only:

* when the stream is not healthy (no listener, disconnected, silent): every
  ``poll_seconds``, exactly like the polling watch;
* when the stream (re)connected after the order's last REST look, or there was none:
  once, to reconcile what a gap in the stream may have hidden;
* every ``QT_RECONCILE_SECONDS`` per order even while all looks healthy (a stream may stall
  while pings flow).

It returns as soon as the stored order is ahead of ``since`` (more filled, or ended), with
the stream's fees when the stored trades account for the whole fill (else one REST fee
lookup, as the polling watch does). The watch's contract is the polling watch's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from activities.exchange import Exchange, lookup
from activities.exchange.order_events import OrderEventStore, StoredOrder, StreamHealth
from activities.order_feed import OrderFeed
from quantum_trader.connections import REDIS_DOWN
from quantum_trader.models import OrderSnapshot, WatchRequest
from quantum_trader.settings import Settings

# The longest a watch waits without reading the store again (and heartbeating).
SLICE_SECONDS = 1.0


def now_ms() -> int:
    return int(time.time() * 1000)


def changed(found: OrderSnapshot, since: OrderSnapshot) -> bool:
    return (found.status, found.executed_qty) != (since.status, since.executed_qty)


def ahead(found: OrderSnapshot, since: OrderSnapshot) -> bool:
    """The stored order is further on than ``since`` (a stream may lag a REST look)."""
    if found.executed_qty != since.executed_qty:
        return found.executed_qty > since.executed_qty
    return since.is_open and not found.is_open


class StreamedWatch:
    """One watch of one order; see the module docstring."""

    def __init__(self, settings: Settings, exchange: Exchange, store: OrderEventStore, feed: OrderFeed,
                 with_fees: Callable[[OrderSnapshot], Awaitable[OrderSnapshot]]) -> None:
        self._settings, self._exchange, self._store, self._feed = settings, exchange, store, feed
        self._with_fees = with_fees

    async def run(self, request: WatchRequest, end: float, heartbeat: Callable[[], None]) -> OrderSnapshot:
        """Raises the exchange's error when a REST look fails (the caller maps it)."""
        order, since = request.order, request.since
        latest = since
        looked_ms = await quietly(self._store.last_look(order.client_order_id))
        next_poll = 0.0
        with self._feed.waiting(order.client_order_id) as woken:
            while True:
                heartbeat()
                woken.clear()
                health = await quietly(self._store.read_health(order.market.value))
                healthy = is_healthy(self._settings, health)
                if rest_due(self._settings, health if healthy else None, looked_ms) and time.monotonic() >= next_poll:
                    looked_ms, next_poll = now_ms(), time.monotonic() + request.poll_seconds
                    found = await lookup(self._exchange, order)
                    if health is not None:  # a listener is there to compare with later
                        await quietly(self._store.record_look(order.client_order_id, looked_ms))
                    if found is not None:
                        latest = found
                        if changed(found, since):
                            return await self._with_fees(found)
                elif healthy:
                    stored: StoredOrder | None = await quietly(self._store.read_order(order.client_order_id))
                    if stored is not None and ahead(stored.snapshot, since):
                        snapshot = stored.snapshot
                        return snapshot if stored.fees_complete else await self._with_fees(snapshot)
                left = end - time.monotonic()
                if left <= 0:
                    return latest
                wait = min(SLICE_SECONDS, left)
                if not healthy:  # polling: the next poll is due sooner
                    wait = min(wait, max(next_poll - time.monotonic(), 0.01))
                try:
                    await asyncio.wait_for(woken.wait(), wait)
                except TimeoutError:
                    pass


def is_healthy(settings: Settings, health: StreamHealth | None) -> bool:
    return health is not None and health.healthy(now_ms(), int(settings.stream_silence_seconds * 1000))


def rest_due(settings: Settings, healthy: StreamHealth | None, looked_ms: int | None) -> bool:
    """Whether the exchange must be asked now: the stream is not healthy (``None``), the order
    has no REST look since the stream (re)connected, or its reconciliation is due."""
    if healthy is None or looked_ms is None:
        return True
    return healthy.connected_at_ms > looked_ms or now_ms() - looked_ms >= settings.reconcile_seconds * 1000


async def quietly(call: Awaitable):  # noqa: ANN201 - the call's own result, or None
    """A store read or write; Redis unreachable means no store (the watch polls)."""
    try:
        return await call
    except REDIS_DOWN:
        return None
