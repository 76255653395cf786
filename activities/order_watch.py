"""A watch that reads the order events store while its market's stream is healthy.

The listener (``quantum-trader exchange-events``) stores what the exchange's user data
streams report; this watch trusts it only while some listener reports the market's stream
connected and not silent for ``QT_STREAM_SILENCE_SECONDS``. It registers the order it
follows for the listener's mass reconcile (:mod:`activities.mass_reconcile`) while it runs,
and asks the exchange itself (REST) only:

* when the stream is not healthy (no listener, disconnected, silent): every
  ``poll_seconds``, like the polling watch, except that a look a rate limit refuses does not
  end the watch: it asks again after the Retry-After and reads the store as soon as the
  stream is healthy, and fails with the refusal only if nothing has shown the order for
  :data:`REFUSED_UNSEEN_SECONDS` since (or its window ends first);
* when no healthy listener has been connected since the order's last REST look (or there
  was none): once, to reconcile what a gap in the stream may have hidden. While the mass
  reconciler's rounds come, it first leaves it :data:`RECONNECT_GRACE_MS` to do that round;
* when the order's last REST look is ``QT_RECONCILE_SECONDS`` old and no mass reconciler's
  rounds come (a stream may stall while pings flow); while they come, the rounds look at
  the order, and the watch looks itself only if they have missed it for two more periods.

It returns as soon as the stored order is ahead of ``since`` (more filled, or ended), with
the stream's fees when the stored trades account for the whole fill (else one REST fee
lookup, as the polling watch does). The watch's contract is the polling watch's.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Protocol

from activities.exchange import Exchange, RequestRefused, lookup
from activities.exchange.order_events import ORDER, MarketHealth, OrderEventStore, ReconcilerRound, StoredOrder
from activities.order_feed import REREAD_SECONDS, OrderFeed
from quantum_trader.connections import REDIS_DOWN
from quantum_trader.models import OrderSnapshot, WatchRequest
from quantum_trader.settings import Settings

log = logging.getLogger(__name__)

# While its stream is not healthy, the longest a watch waits without judging the health
# again. While it is healthy the watch sleeps until its order changes, the stream's health
# changes (activities.order_feed wakes it), or it has something of its own to do: a
# heartbeat, a periodic look, the backstop re-read.
SLICE_SECONDS = 1.0
# After a reconnect left an order uncovered, how long a watch leaves the mass reconciler to
# look at it before it looks itself (the reconciler checks every second; a round over many
# symbols takes a few requests' time).
RECONNECT_GRACE_MS = 30_000
# How long looks refused by a rate limit, with no healthy stream, may leave the order unseen
# before the watch fails with the refusal (the workflow then shows NEEDS_ATTENTION): about
# what the watches' retry policy rides out. A stream unhealthy for a moment (Redis slow to
# answer) does not fail every watch; a stream down under a ban is still shown soon.
REFUSED_UNSEEN_SECONDS = 15.0
# A watch's registration outlives its window by this much (then the reconciler drops it).
REGISTRATION_SLACK_MS = 60_000


def now_ms() -> int:
    return int(time.time() * 1000)


def changed(found: OrderSnapshot, since: OrderSnapshot) -> bool:
    return (found.status, found.executed_qty) != (since.status, since.executed_qty)


def ahead(found: OrderSnapshot, since: OrderSnapshot) -> bool:
    """The stored order is further on than ``since`` (a stream may lag a REST look)."""
    if found.executed_qty != since.executed_qty:
        return found.executed_qty > since.executed_qty
    return since.is_open and not found.is_open


def registration_until(end: float) -> int:
    """Until when (ms) a watch ending at monotonic ``end`` stays registered."""
    return now_ms() + int(max(end - time.monotonic(), 0.0) * 1000) + REGISTRATION_SLACK_MS


class StreamedWatch:
    """One watch of one order; see the module docstring."""

    def __init__(self, settings: Settings, exchange: Exchange, store: OrderEventStore, feed: OrderFeed,
                 with_fees: Callable[[OrderSnapshot], Awaitable[OrderSnapshot]]) -> None:
        self._settings, self._exchange, self._store, self._feed = settings, exchange, store, feed
        self._with_fees = with_fees

    async def run(self, request: WatchRequest, end: float, heartbeat: Heartbeat) -> OrderSnapshot:
        """Raises the exchange's error when a REST look fails (the caller maps it)."""
        order = request.order
        await quietly(self._store.watch(order.market, ORDER, order.symbol, order.client_order_id, registration_until(end)))
        try:
            return await self._follow(request, end, heartbeat)
        finally:
            await quietly(self._store.unwatch(order.market, ORDER, order.symbol, order.client_order_id))

    async def _follow(self, request: WatchRequest, end: float, heartbeat: Heartbeat) -> OrderSnapshot:
        order, since = request.order, request.since
        latest = since
        looked_ms = await quietly(self._store.last_look(order.client_order_id))
        next_poll = 0.0
        read_at: float | None = None  # when the store was last read (monotonic); None: read it now
        refusals = Refusals()
        # The mass reconciler's rounds as last read: the look is checked against them first,
        # and they (and the look) are read again only when that check finds a look due.
        rounds: ReconcilerRound | None = None
        with self._feed.waiting(order.market.value, order.client_order_id) as woken:
            while True:
                heartbeat()
                if woken.is_set():
                    woken.clear()
                    read_at = None
                health = await quietly(self._feed.health(self._store, order.market.value))
                healthy = is_healthy(self._settings, health)
                if healthy:
                    refusals.seen()
                due = not healthy or rest_due(self._settings, health, rounds, looked_ms)
                if due and healthy:  # the mass reconciler may have looked meanwhile, or be about to
                    looked_ms = newest(looked_ms, await quietly(self._store.last_look(order.client_order_id)))
                    rounds = await quietly(self._store.read_round(order.market))
                    due = rest_due(self._settings, health, rounds, looked_ms)
                if due and time.monotonic() >= next_poll:
                    asked_ms, next_poll = now_ms(), time.monotonic() + request.poll_seconds
                    try:
                        found = await lookup(self._exchange, order)
                    except RequestRefused as error:
                        next_poll = time.monotonic() + refusals.refused(error, request.poll_seconds, order.trace_id, healthy)
                        continue  # the store while the stream is healthy; the exchange after the Retry-After
                    refusals.seen()
                    looked_ms = asked_ms
                    if health is not None:  # a listener is there to compare with later
                        await quietly(self._store.record_look(order.client_order_id, looked_ms))
                    if found is not None:
                        latest = found
                        if changed(found, since):
                            return await self._with_fees(found)
                elif healthy and (read_at is None or time.monotonic() - read_at >= REREAD_SECONDS):
                    read_at = time.monotonic()
                    stored: StoredOrder | None = await quietly(self._store.read_order(order.client_order_id))
                    if stored is not None and ahead(stored.snapshot, since):
                        snapshot = stored.snapshot
                        return snapshot if stored.fees_complete else await self._with_fees(snapshot)
                left = end - time.monotonic()
                refusals.raise_if_unseen(ended=left <= 0)
                if left <= 0:
                    return latest
                if healthy:
                    wait = asleep(left, heartbeat, read_at, next_poll, self._settings, health, rounds, looked_ms)
                else:  # polling: the next poll is due sooner; back to the stream, read it
                    wait = min(SLICE_SECONDS, left, max(next_poll - time.monotonic(), 0.01))
                    read_at = None
                await woken.wait(wait)


class Heartbeat(Protocol):
    """What a watch calls each time it wakes, and when it must wake to call it again."""

    def __call__(self) -> None: ...

    def due_in(self) -> float:
        """Seconds until the next call is passed on (0: now)."""
        ...


class Sparing:
    """``heartbeat``, passed on at most every 0.4 of the activity's heartbeat ``timeout`` (at
    least every second): the SDK sends one each 0.8 of it anyway, and each call costs the
    worker a task, 10,000 a second for 10,000 watches calling every second."""

    def __init__(self, heartbeat: Callable[[], None], timeout: timedelta | None) -> None:
        self._heartbeat = heartbeat
        self._every = max(SLICE_SECONDS, 0.4 * timeout.total_seconds()) if timeout else SLICE_SECONDS
        self._last = -math.inf

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self._heartbeat()

    def due_in(self) -> float:
        return max(self._last + self._every - time.monotonic(), 0.0)


def asleep(left: float, heartbeat: Heartbeat, read_at: float | None, next_poll: float, settings: Settings,
           health: MarketHealth | None, rounds: ReconcilerRound | None, looked_ms: int | None) -> float:
    """How long a watch on a healthy stream sleeps unless woken: until the first of its
    window's end, its next heartbeat, its backstop re-read, its next REST look (no sooner
    than a refused look's Retry-After), and the moment the mass reconciler's rounds as last
    read stop being live (its look may then be due sooner)."""
    now = time.monotonic()
    reread_in = 0.0 if read_at is None else read_at + REREAD_SECONDS - now
    look_in = max(look_due_in(settings, health, rounds, looked_ms), next_poll - now)
    wall_ms = now_ms()
    if rounds is not None and rounds.live(wall_ms):
        look_in = min(look_in, (rounds.live_until_ms + 1 - wall_ms) / 1000)
    return max(min(left, heartbeat.due_in(), reread_in, look_in), 0.01)


def newest(a: int | None, b: int | None) -> int | None:
    return max(a, b) if a is not None and b is not None else (a if b is None else b)


class Refusals:
    """The looks a rate limit refused (nothing was sent, or the exchange answered 429/418 and
    the fleet pauses) while neither the exchange nor a healthy stream has shown the order since.

    A refused look does not end the watch: it asks again after the Retry-After and meanwhile
    reads the store while the stream is healthy (a paused fleet must not hide a fill the
    stream reported) and as soon as it is healthy again. Ending it at once would have every
    watch of a worker whose stream looked unhealthy for a moment fail together, each failure a
    workflow task, and each retry another look at a budget that is spent. The watch fails with
    the last refusal once the order has been unseen for :data:`REFUSED_UNSEEN_SECONDS`, or its
    window ends first.
    """

    def __init__(self) -> None:
        self._last: RequestRefused | None = None
        self._since = 0.0  # monotonic, the first refusal since the order was last seen

    def seen(self) -> None:
        """The exchange answered, or the stream is healthy: the order is followed again."""
        self._last = None

    def refused(self, error: RequestRefused, poll_seconds: float, trace_id: str, healthy: bool) -> float:
        """Seconds before asking again."""
        if self._last is None:
            self._since = time.monotonic()
        self._last = error
        log.info("order look refused by a rate limit, following the stream meanwhile" if healthy
                 else "order look refused by a rate limit, asking again after its Retry-After",
                 extra={"trace_id": trace_id, "error": str(error)})
        return max(error.retry_after or 0.0, poll_seconds, SLICE_SECONDS)

    def raise_if_unseen(self, ended: bool) -> None:
        """Raise the last refusal if the order has been unseen too long, or the window has ``ended``."""
        if self._last is not None and (ended or time.monotonic() - self._since >= REFUSED_UNSEEN_SECONDS):
            raise self._last


def is_healthy(settings: Settings, health: MarketHealth | None) -> bool:
    return health is not None and health.healthy(now_ms(), int(settings.stream_silence_seconds * 1000))


def rest_due(settings: Settings, health: MarketHealth | None, rounds: ReconcilerRound | None, looked_ms: int | None) -> bool:
    """Whether a watch must ask the exchange now, its stream being healthy (``health``): the
    order has no REST look that a healthy listener has been connected since, or its periodic
    look is due. ``rounds``: the mass reconciler's, if known; while they come it does both
    (the module docstring), so the watch waits longer."""
    return look_due_in(settings, health, rounds, looked_ms) <= 0


def look_due_in(settings: Settings, health: MarketHealth | None, rounds: ReconcilerRound | None, looked_ms: int | None) -> float:
    """Seconds until :func:`rest_due` (0: due now) while ``rounds`` stay as they are."""
    now = now_ms()
    covered = health.covered_since(now, int(settings.stream_silence_seconds * 1000)) if health is not None else None
    if covered is None or looked_ms is None:
        return 0.0
    live = rounds is not None and rounds.live(now)
    if covered > looked_ms:
        due_ms = covered + RECONNECT_GRACE_MS if live else now
    else:
        due_ms = looked_ms + int(settings.reconcile_seconds * 1000)
        if live:
            assert rounds is not None
            due_ms += 2 * rounds.period_ms
    return max(due_ms - now, 0) / 1000


async def quietly(call: Awaitable):  # noqa: ANN201 - the call's own result, or None
    """A store read or write; Redis unreachable means no store (the watch polls)."""
    try:
        return await call
    except REDIS_DOWN:
        return None
