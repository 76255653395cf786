"""The protective orders' watch, reading ``ALGO_UPDATE`` events while the futures stream is healthy.

The same rules as the order watch (:mod:`activities.order_watch`): the orders are registered
for the mass reconcile (``GET /fapi/v1/openAlgoOrders`` per symbol), and the exchange is
asked only while the stream is not healthy, once when no healthy listener has been connected
since the orders' last REST look, and every ``QT_RECONCILE_SECONDS`` when no mass
reconciler's rounds come. A stored algo order counts only when it is
further on than what the workflow last saw (the stream may lag a REST look); the fill of
the order its trigger placed is then read as before.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from activities.exchange import FuturesExchange, RequestRefused
from activities.exchange.order_events import ALGO, OrderEventStore, ReconcilerRound
from activities.order_feed import REREAD_SECONDS, OrderFeed
from activities.order_watch import SLICE_SECONDS, Heartbeat, Refusals, asleep, is_healthy, now_ms, quietly, registration_until, rest_due
from quantum_trader.models import AlgoSnapshot, Market, ProtectionWatch, ProtectiveOrder
from quantum_trader.settings import Settings
from quantum_trader.states import AlgoStatus

# How far on an algo order is; a status not listed (the workflow's own UNKNOWN, NONE) is never
# compared with the stream: the exchange is asked instead.
_RANK = {AlgoStatus.NEW: 0, AlgoStatus.TRIGGERING: 1, AlgoStatus.TRIGGERED: 2, AlgoStatus.FINISHED: 3,
         AlgoStatus.CANCELED: 3, AlgoStatus.EXPIRED: 3, AlgoStatus.REJECTED: 3}


def changed(found: AlgoSnapshot, seen: AlgoSnapshot) -> bool:
    return found.status != seen.status or found.actual_order_id != seen.actual_order_id


def ahead(found: AlgoSnapshot, seen: AlgoSnapshot) -> bool:
    """Further on than ``seen``, and not TRIGGERING: the stream reports that passing state,
    which the workflow would read as an order that ended without firing; the next event
    (TRIGGERED, or an end) follows it."""
    if found.status not in _RANK or seen.status not in _RANK or found.status is AlgoStatus.TRIGGERING:
        return False
    if _RANK[found.status] != _RANK[seen.status]:
        return _RANK[found.status] > _RANK[seen.status]
    return found.actual_order_id is not None and seen.actual_order_id is None


class StreamedProtectionWatch:
    """One watch of an intent's protective orders."""

    def __init__(self, settings: Settings, exchange: FuturesExchange, store: OrderEventStore, feed: OrderFeed,
                 with_fill: Callable[[ProtectiveOrder, AlgoSnapshot], Awaitable[AlgoSnapshot]]) -> None:
        self._settings, self._exchange, self._store, self._feed = settings, exchange, store, feed
        self._with_fill = with_fill

    async def run(self, request: ProtectionWatch, end: float, heartbeat: Heartbeat) -> list[AlgoSnapshot]:
        """Raises the exchange's error when a REST look fails (the caller maps it)."""
        until = registration_until(end)
        for order in request.orders:
            await quietly(self._store.watch(Market.USDM, ALGO, order.symbol, order.client_algo_id, until))
        try:
            return await self._follow(request, end, heartbeat)
        finally:
            for order in request.orders:
                await quietly(self._store.unwatch(Market.USDM, ALGO, order.symbol, order.client_algo_id))

    async def _oldest_look(self, request: ProtectionWatch) -> int | None:
        looks = await quietly(self._store.last_looks([o.client_algo_id for o in request.orders]))
        if not looks or None in looks.values():
            return None
        return min(looks.values())

    async def _follow(self, request: ProtectionWatch, end: float, heartbeat: Heartbeat) -> list[AlgoSnapshot]:
        latest = list(request.since)
        looked_ms = await self._oldest_look(request)
        next_poll = 0.0
        read_at: float | None = None  # when the store was last read (monotonic); None: read it now
        refusals = Refusals()
        rounds: ReconcilerRound | None = None  # as in the order watch
        with self._feed.waiting(Market.USDM.value, *(o.client_algo_id for o in request.orders)) as woken:
            while True:
                heartbeat()
                if woken.is_set():
                    woken.clear()
                    read_at = None
                health = await quietly(self._feed.health(self._store, Market.USDM.value))
                healthy = is_healthy(self._settings, health)
                if healthy:
                    refusals.seen()
                fresh = False
                due = not healthy or rest_due(self._settings, health, rounds, looked_ms)
                if due and healthy:  # the mass reconciler may have looked meanwhile, or be about to
                    looked_ms = await self._oldest_look(request) or looked_ms
                    rounds = await quietly(self._store.read_round(Market.USDM))
                    due = rest_due(self._settings, health, rounds, looked_ms)
                if due and time.monotonic() >= next_poll:
                    asked_ms, next_poll = now_ms(), time.monotonic() + request.poll_seconds
                    try:
                        found_all = [await self._exchange.algo_lookup(order) for order in request.orders]
                    except RequestRefused as error:
                        next_poll = time.monotonic() + refusals.refused(error, request.poll_seconds, request.orders[0].trace_id, healthy)
                        continue  # the store while the stream is healthy; the exchange after the Retry-After
                    refusals.seen()
                    looked_ms = asked_ms
                    for index, (order, found) in enumerate(zip(request.orders, found_all, strict=True)):
                        if health is not None:
                            await quietly(self._store.record_look(order.client_algo_id, looked_ms))
                        if found is not None and changed(found, latest[index]):
                            latest[index], fresh = await self._with_fill(order, found), True
                elif healthy and (read_at is None or time.monotonic() - read_at >= REREAD_SECONDS):
                    read_at = time.monotonic()
                    for index, order in enumerate(request.orders):
                        stored = await quietly(self._store.read_algo(order.client_algo_id))
                        if stored is not None and ahead(stored, latest[index]):
                            latest[index], fresh = await self._with_fill(order, stored), True
                if fresh:
                    return latest
                ended = time.monotonic() >= end
                refusals.raise_if_unseen(ended)
                if ended:
                    return latest
                left = max(end - time.monotonic(), 0.0)
                if healthy:
                    wait = asleep(left, heartbeat, read_at, next_poll, self._settings, health, rounds, looked_ms)
                else:  # the next poll is due sooner; back to the stream, read it
                    wait = min(SLICE_SECONDS, left, max(next_poll - time.monotonic(), 0.01))
                    read_at = None
                await woken.wait(wait)
