"""Activities that talk to the exchange: approve, place, watch, cancel.

Placement follows the discipline in :mod:`activities.placement`: adopt by client order
ID, wait out earlier unknown outcomes, never send near the attempt's own timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics
from activities.exchange_gateway import (
    ExchangeConfigError,
    ExchangeError,
    ExchangeGateway,
    OutcomeUnknown,
    RequestRefused,
)
from activities.placement import as_application_error, kill_switch_engaged, place_exactly_once, reconcile
from quantum_trader import errors
from quantum_trader.ids import client_order_id
from quantum_trader.models import (
    Approval,
    CancelOrderRequest,
    OrderRequest,
    OrderSnapshot,
    OrderType,
    PlacementResult,
    TradeDecision,
    WatchRequest,
)
from quantum_trader.risk import MarketFacts, evaluate, policy_check
from quantum_trader.settings import Settings

log = logging.getLogger(__name__)

class TradingActivities:
    """Exchange-facing activities for one worker; they share one gateway."""

    def __init__(self, settings: Settings, gateway: ExchangeGateway, redis: object | None = None) -> None:
        self._settings = settings
        self._gateway = gateway
        self._redis = redis

    # --- approve -----------------------------------------------------------------------

    @activity.defn
    async def approve_intent(self, decision: TradeDecision) -> Approval:
        """Run the risk gate and size the order against the exchange's filters."""
        settings = self._settings
        kill_switch = settings.kill_switch or await kill_switch_engaged(self._redis)
        deadline = self._deadline_seconds(decision)
        ttl = self._ttl_seconds(decision)
        reason = policy_check(decision, settings, kill_switch)
        if reason is None:
            try:
                facts, absent = await asyncio.gather(self._market_facts(decision), self._no_order_yet(decision))
            except ExchangeConfigError as error:
                raise as_application_error(error) from None
            except ExchangeError as error:
                # Reads are safe to retry whatever their outcome.
                raise ApplicationError(str(error), type=errors.EXCHANGE_UNAVAILABLE) from None
            verdict = evaluate(decision, settings, facts, kill_switch)
        else:
            absent = False
            verdict = evaluate(decision, settings, MarketFacts(listed=False), kill_switch)
        order = verdict.order
        if order is not None and absent:
            order = order.model_copy(update={"absent_in_run": activity.info().workflow_run_id})
        log.info(
            "intent %s trace_id=%s reason=%r", "approved" if verdict.approved else "rejected", decision.trace_id, verdict.reason
        )
        return Approval(
            approved=verdict.approved,
            reason=verdict.reason,
            order=order,
            notional=verdict.notional,
            reference_price=verdict.reference_price,
            deadline_seconds=deadline,
            poll_seconds=settings.order_poll_seconds,
            ttl_seconds=ttl,
        )

    async def _market_facts(self, decision: TradeDecision) -> MarketFacts:
        rules = await self._gateway.symbol_rules(decision.symbol)
        if rules is None:
            return MarketFacts(listed=False)
        last_price = None
        if decision.order_type is OrderType.MARKET:
            last_price = await self._gateway.last_price(decision.symbol)
        return MarketFacts(
            listed=True,
            step_size=rules.step_size,
            min_qty=rules.min_qty,
            max_qty=rules.max_qty,
            tick_size=rules.tick_size,
            min_notional=rules.min_notional,
            last_price=last_price,
        )

    async def _no_order_yet(self, decision: TradeDecision) -> bool:
        """Whether the exchange has no order under the intent's client order ID; ``False``
        when it cannot tell (placement then looks for itself). Read beside the market facts,
        it spares the first placement attempt its lookup."""
        try:
            found = await self._gateway.find_order(decision.market, decision.symbol, client_order_id(decision.trace_id))
        except ExchangeError:
            return False
        return found is None

    def _ttl_seconds(self, decision: TradeDecision) -> int | None:
        if decision.order_type is OrderType.MARKET:
            return None
        return decision.ttl_seconds or self._settings.limit_default_ttl_seconds

    def _deadline_seconds(self, decision: TradeDecision) -> int:
        ttl = self._ttl_seconds(decision)
        if ttl is None:
            return self._settings.market_deadline_seconds
        return ttl + self._settings.limit_deadline_margin_seconds

    # --- place -------------------------------------------------------------------------

    @activity.defn
    async def place_order(self, order: OrderRequest) -> PlacementResult:
        """Place the order exactly once, adopting it if an earlier attempt already did."""
        metrics.count("quantum_placement_attempts", "Order placement attempts", market=order.market.value)

        def waiting(wait_ms: int) -> None:
            log.info("placement waiting for earlier request to expire trace_id=%s client_order_id=%s wait_ms=%d",
                     order.trace_id, order.client_order_id, wait_ms)

        try:
            snapshot, attempt, adopted = await place_exactly_once(
                self._gateway.in_flight_horizon_ms,
                lambda: self._gateway.lookup(order),
                lambda: self._gateway.place(order),
                on_wait=waiting,
                known_absent=order.absent_in_run is not None and order.absent_in_run == activity.info().workflow_run_id,
            )
            if adopted:
                metrics.count("quantum_orders_adopted", "Placements that found their order already at the exchange")
                snapshot = await self._gateway.fees(order, snapshot)
        except ExchangeError as error:
            log.warning("placement attempt failed trace_id=%s client_order_id=%s attempt=%d error=%r",
                        order.trace_id, order.client_order_id, activity.info().attempt, str(error))
            raise as_application_error(error) from None
        log.info("order %s trace_id=%s client_order_id=%s order_id=%s status=%s attempt=%d",
                 "adopted" if adopted else "placed", order.trace_id, order.client_order_id,
                 snapshot.order_id, snapshot.status, attempt)
        return PlacementResult(snapshot=snapshot, attempts=attempt, adopted=adopted)

    # --- watch -------------------------------------------------------------------------

    @activity.defn
    async def watch_order(self, request: WatchRequest) -> OrderSnapshot:
        """Poll the order until it changes or the window ends; return its latest state."""
        order, since = request.order, request.since
        end = time.monotonic() + request.window_seconds
        latest = since
        while True:
            activity.heartbeat()
            try:
                found = await self._gateway.lookup(order)
            except (OutcomeUnknown, RequestRefused) as error:
                log.warning("order poll failed trace_id=%s error=%r", order.trace_id, str(error))
                found = None
            except ExchangeError as error:
                raise as_application_error(error) from None
            if found is not None:
                latest = found
                if (found.status, found.executed_qty) != (since.status, since.executed_qty):
                    return await self._with_fees(order, found)
            if time.monotonic() >= end:
                return latest
            await asyncio.sleep(min(request.poll_seconds, max(end - time.monotonic(), 0)))

    async def _with_fees(self, order: OrderRequest, snapshot: OrderSnapshot) -> OrderSnapshot:
        if snapshot.is_open:
            return snapshot
        try:
            return await self._gateway.fees(order, snapshot)
        except ExchangeError:
            log.warning("fee lookup failed trace_id=%s", order.trace_id)
            return snapshot

    # --- cancel / reconcile ------------------------------------------------------------

    @activity.defn
    async def cancel_order(self, request: CancelOrderRequest) -> OrderSnapshot | None:
        """Make sure no live order remains; return the order's final state, or ``None``.

        ``None`` means the exchange has no order with this client order ID and, when a
        placement may have been in flight, that it can no longer appear.
        """
        order = request.order
        metrics.count("quantum_reconciliations", "Order cancellations and reconciliations at the exchange")
        try:
            final = await reconcile(
                lambda: self._cancel_or_lookup(request), request.may_be_in_flight, self._gateway.in_flight_horizon_ms
            )
        except ExchangeError as error:
            raise as_application_error(error) from None
        log.info("order reconciled trace_id=%s client_order_id=%s status=%s",
                 order.trace_id, order.client_order_id, final.status if final else "NONE")
        return final

    async def _cancel_or_lookup(self, request: CancelOrderRequest) -> OrderSnapshot | None:
        order = request.order
        cancelled = await self._gateway.cancel(order)
        if cancelled is not None:
            return await self._with_fees(order, cancelled)
        found = await self._gateway.lookup(order)
        if found is None:
            return None
        if found.is_open:
            # Opened between our cancel and our lookup: cancel again on the next attempt.
            raise OutcomeUnknown(f"order {order.client_order_id} still open after cancel")
        return await self._with_fees(order, found)
