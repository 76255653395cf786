"""USD-M futures activities: approve, set leverage, protective orders, close the position.

The entry order itself goes through :class:`activities.trading.TradingActivities` (the
exchange routes an ``OrderRequest`` with ``market=usdm`` to ``/fapi``), so it keeps the
spot placement discipline unchanged. The protective conditional orders and the closing
order follow the same discipline here, each under its own deterministic ID:

1. look it up by its ID (``clientAlgoId`` / ``newClientOrderId``) and adopt it if found;
2. after an attempt whose outcome is unknown, have the retry policy wait until its request
   can no longer land, then look again;
3. only then send, never close to the attempt's own timeout, and record the send horizon
   in the heartbeat (the protocol in :mod:`activities.placement`).
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from temporalio import activity

from activities.approval import Opening, approval, open_gate
from activities.exchange import ExchangeError, FuturesExchange, NothingToReduce, OutcomeUnknown, Priority, at_priority, lookup
from activities.placement import as_application_error, place_exactly_once, reconcile
from activities.exchange.order_events import OrderEventStore
from activities.order_feed import OrderFeed
from activities.order_watch import Sparing, quietly
from activities.protection_watch import StreamedProtectionWatch
from activities.trading import order_events, watch_failure, watch_seconds_left
from quantum_trader import logs
from quantum_trader.models import (
    AlgoSnapshot,
    CancelProtectionRequest,
    ClosePositionRequest,
    CloseResult,
    FuturesApproval,
    LeverageRequest,
    Market,
    OrderSnapshot,
    ProtectionPlacement,
    ProtectionWatch,
    ProtectiveOrder,
    Side,
    TradeDecision,
)
from quantum_trader.risk import FuturesPolicy, evaluate_futures, futures_policy_check
from quantum_trader.settings import Settings
from quantum_trader.states import AlgoStatus

log = logs.activity_logger(__name__)


class FuturesActivities:
    """Futures-facing activities for one worker; they share the worker's exchange connection."""

    def __init__(
        self, settings: Settings, exchange: FuturesExchange, redis: object | None = None, policy: FuturesPolicy | None = None,
        events: tuple[OrderEventStore, OrderFeed] | None = None,
    ) -> None:
        self._settings = settings
        self._exchange = exchange
        self._redis = redis
        # Shared with the order watch (TradingActivities.events): one subscription per process.
        self._events = events if events is not None else order_events(settings, redis)
        self._policy = policy or FuturesPolicy(
            max_leverage=settings.max_leverage, require_stop_loss=settings.futures_require_stop_loss
        )

    # --- approve -----------------------------------------------------------------------

    @activity.defn
    @at_priority(Priority.ENTRY)
    async def approve_futures_intent(self, decision: TradeDecision) -> FuturesApproval:
        """The risk gate for a ``usdm`` decision: futures filters, mark price, leverage, levels."""
        opening: Opening[None] = await open_gate(
            self._settings, self._exchange, self._redis, decision, Market.USDM,
            extra_policy=lambda d: futures_policy_check(d, self._policy),
        )
        outcome = evaluate_futures(decision, self._settings, opening.facts, self._policy, opening.kill_switch)
        verdict = outcome.verdict
        return FuturesApproval(
            approval=approval(self._settings, decision, verdict, verdict.order, "futures intent"),
            leverage=outcome.leverage,
            protection=list(outcome.protection),
        )

    # --- leverage ----------------------------------------------------------------------

    @activity.defn
    @at_priority(Priority.ENTRY)
    async def set_leverage(self, request: LeverageRequest) -> int:
        """Set the symbol's leverage. Idempotent: setting the same value again changes nothing."""
        try:
            leverage = await self._exchange.set_leverage(request.symbol, request.leverage)
        except ExchangeError as error:
            raise as_application_error(error) from None
        log.info("leverage set", extra={"trace_id": request.trace_id, "symbol": request.symbol, "leverage": leverage})
        return leverage

    # --- protective orders -------------------------------------------------------------

    @activity.defn
    @at_priority(Priority.CRITICAL)
    async def place_protection(self, order: ProtectiveOrder) -> ProtectionPlacement:
        """Place one protective conditional order exactly once, adopting an earlier placement."""
        try:
            snapshot, attempt, adopted = await place_exactly_once(
                self._exchange,
                lambda: self._exchange.algo_lookup(order),
                lambda: self._exchange.algo_place(order),
                on_wait=lambda wait_ms: log.info("protection waiting for earlier request to expire", extra={
                    "trace_id": order.trace_id, "client_algo_id": order.client_algo_id, "wait_ms": wait_ms}),
            )
        except ExchangeError as error:
            log.warning("protection attempt failed",
                        extra={"trace_id": order.trace_id, "client_algo_id": order.client_algo_id, "error": str(error)})
            raise as_application_error(error) from None
        if self._events is not None:  # the exchange showed it now: a stream connected before reported the rest
            await quietly(self._events[0].record_look(order.client_algo_id, int(time.time() * 1000)))
        log.info("protection %s", "adopted" if adopted else "placed", extra={
            "trace_id": order.trace_id, "client_algo_id": order.client_algo_id, "algo_id": snapshot.algo_id, "status": snapshot.status})
        return ProtectionPlacement(snapshot=snapshot, attempts=attempt, adopted=adopted)

    @activity.defn
    @at_priority(Priority.CRITICAL)
    async def cancel_protection(self, request: CancelProtectionRequest) -> AlgoSnapshot | None:
        """Make sure the protective order is not live; return its final state, or ``None``.

        ``None`` means the exchange has no such order and, when a placement may have been
        in flight, that it can no longer appear.
        """
        order = request.order
        final = await reconcile(self._exchange, lambda: self._cancel_or_lookup(order), request.may_be_in_flight)
        log.info("protection reconciled", extra={
            "trace_id": order.trace_id, "client_algo_id": order.client_algo_id, "status": final.status if final else AlgoStatus.NONE})
        return final

    async def _cancel_or_lookup(self, order: ProtectiveOrder) -> AlgoSnapshot | None:
        await self._exchange.algo_cancel(order)
        found = await self._exchange.algo_lookup(order)
        if found is not None and found.is_open:
            raise OutcomeUnknown(f"protective order {order.client_algo_id} still open after cancel")
        return await self._with_fill(order, found) if found is not None else None

    @activity.defn
    async def watch_protection(self, request: ProtectionWatch) -> list[AlgoSnapshot]:
        """Poll the protective orders until one changes or the window ends; return their states.

        As the order watch: the window runs from the first scheduling, and a failed poll ends
        the attempt so that the retry policy (and the exchange's Retry-After) sets the pace.
        """
        end = time.monotonic() + watch_seconds_left(activity.info(), request.window_seconds)
        if self._events is not None and await self._listened():
            store, feed = self._events
            watch = StreamedProtectionWatch(self._settings, self._exchange, store, feed, self._with_fill)
            try:
                return await watch.run(request, end, Sparing(activity.heartbeat, activity.info().heartbeat_timeout))
            except ExchangeError as error:
                log.warning("protection poll failed", extra={"trace_id": request.orders[0].trace_id if request.orders else "",
                                                             "error": str(error)})
                raise watch_failure(error) from None
        latest = list(request.since)
        while True:
            activity.heartbeat()
            changed = False
            for index, order in enumerate(request.orders):
                try:
                    found = await self._exchange.algo_lookup(order)
                except ExchangeError as error:
                    log.warning("protection poll failed",
                                extra={"trace_id": order.trace_id, "client_algo_id": order.client_algo_id, "error": str(error)})
                    raise watch_failure(error) from None
                if found is None:
                    continue
                if found.status != latest[index].status or found.actual_order_id != latest[index].actual_order_id:
                    latest[index] = await self._with_fill(order, found)
                    changed = True
            if changed or time.monotonic() >= end:
                return latest
            await asyncio.sleep(min(request.poll_seconds, max(end - time.monotonic(), 0)))

    async def _listened(self) -> bool:
        """A listener reports the futures stream (else the watch polls exactly as before)."""
        assert self._events is not None
        store, feed = self._events
        return await quietly(feed.health(store, Market.USDM.value)) is not None

    async def _with_fill(self, order: ProtectiveOrder, snapshot: AlgoSnapshot) -> AlgoSnapshot:
        """``snapshot`` with the filled quantity of the order its trigger created."""
        if snapshot.actual_order_id is None:
            return snapshot
        actual = await self._exchange.futures_order_by_id(order.symbol, snapshot.actual_order_id)
        if actual is None:
            return snapshot
        return snapshot.model_copy(update={"executed_qty": actual.executed_qty})

    # --- close the position ------------------------------------------------------------

    @activity.defn
    @at_priority(Priority.CRITICAL)
    async def close_position(self, request: ClosePositionRequest) -> CloseResult:
        """Close the intent's position with one reduce-only MARKET order, placed at most once.

        The order's quantity is the intent's quantity capped at what is still open on the
        entry's side. Nothing is sent when that is zero (already flat, for instance because
        a protective order fired first); the exchange would refuse a reduce-only order then.
        """
        order = request.order
        exchange = self._exchange

        async def send() -> OrderSnapshot | None:
            amount = await exchange.position_amount(order.symbol)
            held = amount if request.entry_side is Side.BUY else -amount
            quantity = min(order.quantity, held) if held > 0 else Decimal(0)
            if quantity <= 0:
                return None
            try:
                return await exchange.place(order.model_copy(update={"quantity": quantity}))
            except NothingToReduce:
                return None  # the position was closed meanwhile

        try:
            snapshot, attempt, _ = await place_exactly_once(
                exchange,
                lambda: lookup(exchange, order),
                send,
                on_wait=lambda wait_ms: log.info("close waiting for earlier request to expire", extra={
                    "trace_id": order.trace_id, "client_order_id": order.client_order_id, "wait_ms": wait_ms}),
            )
            if snapshot is not None and snapshot.is_open:
                # A MARKET order closes at once; an open one is looked at again on retry.
                raise OutcomeUnknown(f"close order {order.client_order_id} still {snapshot.status}")
            if snapshot is not None:
                snapshot = await exchange.fees(order, snapshot)
            remaining = await exchange.position_amount(order.symbol)
        except ExchangeError as error:
            log.warning("close attempt failed", extra={"trace_id": order.trace_id, "client_order_id": order.client_order_id, "error": str(error)})
            raise as_application_error(error) from None
        log.info("position closed", extra={"trace_id": order.trace_id, "client_order_id": order.client_order_id,
                                           "status": snapshot.status if snapshot else "NOTHING_OPEN", "position": remaining})
        return CloseResult(snapshot=snapshot, position_amount=remaining, attempts=attempt)
