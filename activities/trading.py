"""Activities that talk to the exchange: approve, place, watch, cancel.

Placement follows the discipline in :mod:`activities.placement`: adopt by client order
ID, wait out earlier unknown outcomes, never send near the attempt's own timeout.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics
from activities.approval import approval, open_gate
from activities.exchange import Exchange, ExchangeError, OutcomeUnknown, Priority, at_priority, lookup
from activities.exchange.order_events import OrderEventStore
from activities.order_feed import OrderFeed
from activities.order_watch import Sparing, StreamedWatch, quietly
from activities.placement import as_application_error, place_exactly_once, reconcile
from quantum_trader import logs
from quantum_trader.ids import client_order_id
from quantum_trader.models import (
    Approval,
    CancelOrderRequest,
    Market,
    OrderRequest,
    OrderSnapshot,
    PlacementResult,
    TradeDecision,
    WatchRequest,
)
from quantum_trader.risk import evaluate
from quantum_trader.settings import Settings

log = logs.activity_logger(__name__)


# The most of its window a first attempt gives up for a late start (or a clock ahead).
FIRST_ATTEMPT_CATCH_UP = 0.1


def watch_seconds_left(info: activity.Info, window_seconds: float) -> float:
    """What is left of a watch's window, counted from its first scheduling (attempts share it).

    Temporal times a watch out :data:`~workflows.policies.WATCH_SLACK` after its window from
    scheduling, so a first attempt that started late (a worker's loop held up by a long
    garbage collection) must end that much sooner. It is shortened by
    :data:`FIRST_ATTEMPT_CATCH_UP` of its window at most: a worker clock ahead of Temporal's
    must not shorten every watch to one poll (a spinning follow loop).
    """
    elapsed = max((datetime.now(timezone.utc) - info.scheduled_time).total_seconds(), 0.0)
    if info.attempt <= 1:
        return window_seconds - min(elapsed, FIRST_ATTEMPT_CATCH_UP * window_seconds)
    return min(window_seconds, max(window_seconds - elapsed, 0.0))


def watch_failure(error: ExchangeError) -> ApplicationError:
    """A watch's failed poll as a Temporal error that is always retried: a revoked key or a ban
    may be lifted, and the watch's schedule-to-close bounds the wait. Retry-After, when the
    exchange gave one, becomes the delay before the next attempt."""
    mapped = as_application_error(error)
    return ApplicationError(
        f"order lookup failed: {error}", error.code, type=mapped.type, non_retryable=False, next_retry_delay=mapped.next_retry_delay
    )


def not_the_order(order: OrderRequest, found: OrderSnapshot, *, any_quantity: bool = False) -> str | None:
    """How the order found under ``order``'s client order ID differs from it (a trace_id reused
    once its old order is past retention), or ``None`` when it is the order requested.

    ``any_quantity``: the order may have been sized by an earlier run of this workflow (a
    reset re-runs the risk gate at the price of the moment): only the quantity may differ.
    """
    requested = (order.symbol, order.side.value, order.quantity, order.order_type.value)
    held = (found.symbol or order.symbol, found.side.value if found.side else order.side.value, found.orig_qty,
            found.order_type or order.order_type.value)
    if requested == held or (any_quantity and requested[:2] + requested[3:] == held[:2] + held[3:]):
        return None
    return (f"the exchange holds {held[1]} {held[2]} {held[0]} {held[3]} under {order.client_order_id}, "
            f"not the {requested[1]} {requested[2]} {requested[0]} {requested[3]} requested")


def order_events(settings: Settings, redis: object | None) -> tuple[OrderEventStore, OrderFeed] | None:
    """The order events store and a subscription to its changes (``QT_ORDER_EVENTS=auto``)."""
    if redis is None or settings.order_events != "auto":
        return None
    return OrderEventStore(redis, settings.order_events_ttl_seconds), OrderFeed(redis, settings.stream_silence_seconds)  # type: ignore[arg-type]


class TradingActivities:
    """Exchange-facing activities for one worker; they share one exchange connection."""

    def __init__(self, settings: Settings, exchange: Exchange, redis: object | None = None) -> None:
        self._settings = settings
        self._exchange = exchange
        self._redis = redis
        # The order events store, read while a market's user data stream is healthy.
        self._events = order_events(settings, redis)

    @property
    def events(self) -> tuple[OrderEventStore, OrderFeed] | None:
        """The store and this process's one subscription, for the other activities to share."""
        return self._events

    # --- approve -----------------------------------------------------------------------

    @activity.defn
    @at_priority(Priority.ENTRY)
    async def approve_intent(self, decision: TradeDecision) -> Approval:
        """Run the risk gate and size the order against the exchange's filters."""
        opening = await open_gate(
            self._settings, self._exchange, self._redis, decision, Market.SPOT, beside=lambda: self._no_order_yet(decision)
        )
        verdict = evaluate(decision, self._settings, opening.facts, opening.kill_switch)
        order = verdict.order
        if order is not None and opening.beside:
            order = order.model_copy(update={"absent_in_run": activity.info().workflow_run_id})
        return approval(self._settings, decision, verdict, order, "intent")

    async def _no_order_yet(self, decision: TradeDecision) -> bool:
        """Whether the exchange has no order under the intent's client order ID; ``False``
        when it cannot tell (placement then looks for itself). Read beside the market facts,
        it spares the first placement attempt its lookup."""
        try:
            found = await self._exchange.find_order(decision.market, decision.symbol, client_order_id(decision.trace_id))
        except ExchangeError:
            return False
        return found is None

    # --- place -------------------------------------------------------------------------

    @activity.defn
    @at_priority(Priority.ENTRY)
    async def place_order(self, order: OrderRequest) -> PlacementResult:
        """Place the order exactly once, adopting it if an earlier attempt already did."""
        metrics.count(metrics.PLACEMENT_ATTEMPTS, market=order.market.value)

        def waiting(wait_ms: int) -> None:
            log.info("placement waiting for earlier request to expire",
                     extra={"trace_id": order.trace_id, "client_order_id": order.client_order_id, "wait_ms": wait_ms})

        run_id = activity.info().workflow_run_id
        # A gate of another run (this activity was scheduled before a reset) also means that
        # an earlier run may have sent.
        earlier_run = order.earlier_run or (order.absent_in_run is not None and order.absent_in_run != run_id)
        try:
            snapshot, attempt, adopted = await place_exactly_once(
                self._exchange,
                lambda: lookup(self._exchange, order),
                lambda: self._exchange.place(order),
                on_wait=waiting,
                known_absent=order.absent_in_run is not None and order.absent_in_run == run_id,
                earlier_run=earlier_run,
                mismatch=lambda found: not_the_order(order, found, any_quantity=earlier_run),
            )
            if adopted:
                metrics.count(metrics.ORDERS_ADOPTED)
                snapshot = await self._exchange.fees(order, snapshot)
        except ExchangeError as error:
            log.warning("placement attempt failed",
                        extra={"trace_id": order.trace_id, "client_order_id": order.client_order_id, "error": str(error)})
            raise as_application_error(error) from None
        await self._looked_at(order)
        log.info("order %s", "adopted" if adopted else "placed", extra={
            "trace_id": order.trace_id, "client_order_id": order.client_order_id, "order_id": snapshot.order_id, "status": snapshot.status})
        return PlacementResult(snapshot=snapshot, attempts=attempt, adopted=adopted)

    # --- watch -------------------------------------------------------------------------

    @activity.defn
    async def watch_order(self, request: WatchRequest) -> OrderSnapshot:
        """Follow the order until it changes or the window ends; return its latest state.

        With ``QT_ORDER_EVENTS=auto`` the order events store is read while the market's user
        data stream is healthy (:mod:`activities.order_watch`), else the order is polled.
        The window runs from the watch's first scheduling, so a retried attempt only finishes
        it. A poll that fails ends the attempt (:func:`watch_failure`): the retry policy then
        waits, as long as the exchange's Retry-After when it gave one.
        """
        order = request.order
        end = time.monotonic() + watch_seconds_left(activity.info(), request.window_seconds)
        if self._events is None:
            return await self._poll(request, end)
        store, feed = self._events
        if await quietly(feed.health(store, order.market.value)) is None:
            # No listener for this market (or Redis unreachable): exactly the polling watch.
            return await self._poll(request, end)
        watch = StreamedWatch(self._settings, self._exchange, store, feed, lambda found: self._with_fees(order, found))
        try:
            return await watch.run(request, end, Sparing(activity.heartbeat, activity.info().heartbeat_timeout))
        except ExchangeError as error:
            log.warning("order poll failed",
                        extra={"trace_id": order.trace_id, "client_order_id": order.client_order_id, "error": str(error)})
            raise watch_failure(error) from None

    async def _poll(self, request: WatchRequest, end: float) -> OrderSnapshot:
        """Poll the order every ``poll_seconds`` until it changes or ``end``."""
        order, since = request.order, request.since
        latest = since
        while True:
            activity.heartbeat()
            try:
                found = await lookup(self._exchange, order)
            except ExchangeError as error:
                log.warning("order poll failed",
                            extra={"trace_id": order.trace_id, "client_order_id": order.client_order_id, "error": str(error)})
                raise watch_failure(error) from None
            if found is not None:
                latest = found
                if (found.status, found.executed_qty) != (since.status, since.executed_qty):
                    return await self._with_fees(order, found)
            if time.monotonic() >= end:
                return latest
            await asyncio.sleep(min(request.poll_seconds, max(end - time.monotonic(), 0)))

    async def _looked_at(self, order: OrderRequest) -> None:
        """Record when the exchange itself last showed the order: a stream connected since
        then has reported every later change."""
        if self._events is not None:
            await quietly(self._events[0].record_look(order.client_order_id, int(time.time() * 1000)))

    async def _with_fees(self, order: OrderRequest, snapshot: OrderSnapshot) -> OrderSnapshot:
        if snapshot.is_open:
            return snapshot
        try:
            return await self._exchange.fees(order, snapshot)
        except ExchangeError:
            log.warning("fee lookup failed", extra={"trace_id": order.trace_id, "client_order_id": order.client_order_id})
            return snapshot

    # --- cancel / reconcile ------------------------------------------------------------

    @activity.defn
    @at_priority(Priority.CRITICAL)
    async def cancel_order(self, request: CancelOrderRequest) -> OrderSnapshot | None:
        """Make sure no live order remains; return the order's final state, or ``None``.

        ``None`` means the exchange has no order with this client order ID and, when a
        placement may have been in flight, that it can no longer appear.
        """
        order = request.order
        metrics.count(metrics.RECONCILIATIONS)
        final = await reconcile(
            self._exchange, lambda: self._cancel_or_lookup(request), request.may_be_in_flight, request.order.earlier_run
        )
        log.info("order reconciled", extra={
            "trace_id": order.trace_id, "client_order_id": order.client_order_id, "status": final.status if final else "absent"})
        return final

    async def _cancel_or_lookup(self, request: CancelOrderRequest) -> OrderSnapshot | None:
        order = request.order
        cancelled = await self._exchange.cancel(order)
        if cancelled is not None:
            return await self._with_fees(order, cancelled)
        found = await lookup(self._exchange, order)
        if found is None:
            return None
        if found.is_open:
            # Opened between our cancel and our lookup: cancel again on the next attempt.
            raise OutcomeUnknown(f"order {order.client_order_id} still open after cancel")
        return await self._with_fees(order, found)
