"""Activities that talk to the exchange: approve, place, watch, cancel.

The placement rules, in order, on every attempt:

1. Look the order up by its client order ID; if the exchange has it, adopt it.
2. If an earlier attempt may have sent a request whose outcome is unknown, wait until that
   request provably cannot execute any more (``timestamp + recvWindow`` plus a grace), then
   look it up once more.
3. Only then send the order, with the same client order ID, and record in the heartbeat
   until when this send could still land.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics
from activities.exchange_gateway import (
    DuplicateOrder,
    ExchangeConfigError,
    ExchangeError,
    ExchangeGateway,
    OrderRejected,
    OutcomeUnknown,
    RequestRefused,
)
from quantum_trader import errors
from quantum_trader.constants import KILL_SWITCH_KEY
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

HEARTBEAT_EVERY_SECONDS = 1.0
# An attempt sends nothing when less than this remains before it may time out.
SEND_SAFETY_MARGIN_MS = 2_000


@dataclass(frozen=True)
class _Progress:
    """Heartbeat details of a placement attempt."""

    attempt: int
    in_flight_until_ms: int | None

    @classmethod
    def from_details(cls, details: object) -> _Progress | None:
        if isinstance(details, dict) and "attempt" in details:
            return cls(int(details["attempt"]), details.get("in_flight_until_ms"))
        return None

    def as_details(self) -> dict[str, int | None]:
        return {"attempt": self.attempt, "in_flight_until_ms": self.in_flight_until_ms}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def _sleep_heartbeating(seconds: float, *details: object) -> None:
    """Sleep while heartbeating, so cancellation and worker death are noticed."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        activity.heartbeat(*details)
        await asyncio.sleep(min(HEARTBEAT_EVERY_SECONDS, left))


def _as_application_error(error: ExchangeError) -> ApplicationError:
    """Map gateway errors to Temporal: rejections stop retries, the rest retry."""
    if isinstance(error, OrderRejected):
        return ApplicationError(str(error), error.code, type=errors.ORDER_REJECTED, non_retryable=True)
    if isinstance(error, ExchangeConfigError):
        return ApplicationError(str(error), error.code, type=errors.EXCHANGE_CONFIG, non_retryable=True)
    if isinstance(error, RequestRefused):
        delay = timedelta(seconds=error.retry_after) if error.retry_after else None
        return ApplicationError(str(error), error.code, type=errors.REQUEST_REFUSED, next_retry_delay=delay)
    return ApplicationError(str(error), error.code, type=errors.OUTCOME_UNKNOWN)


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
        kill_switch = settings.kill_switch or await self._kill_switch_engaged()
        deadline = self._deadline_seconds(decision)
        ttl = self._ttl_seconds(decision)
        reason = policy_check(decision, settings, kill_switch)
        if reason is None:
            try:
                facts = await self._market_facts(decision)
            except ExchangeConfigError as error:
                raise _as_application_error(error) from None
            except ExchangeError as error:
                # Reads are safe to retry whatever their outcome.
                raise ApplicationError(str(error), type=errors.EXCHANGE_UNAVAILABLE) from None
            verdict = evaluate(decision, settings, facts, kill_switch)
        else:
            verdict = evaluate(decision, settings, MarketFacts(listed=False), kill_switch)
        log.info(
            "intent %s trace_id=%s reason=%r", "approved" if verdict.approved else "rejected", decision.trace_id, verdict.reason
        )
        return Approval(
            approved=verdict.approved,
            reason=verdict.reason,
            order=verdict.order,
            notional=verdict.notional,
            reference_price=verdict.reference_price,
            deadline_seconds=deadline,
            poll_seconds=settings.order_poll_seconds,
            ttl_seconds=ttl,
        )

    async def _kill_switch_engaged(self) -> bool:
        if self._redis is None:
            return False
        try:
            value = await self._redis.get(KILL_SWITCH_KEY)  # type: ignore[attr-defined]
        except Exception as error:  # the gate must not open because Redis is down
            raise ApplicationError(f"kill switch unreadable: {error}", type=errors.EXCHANGE_UNAVAILABLE) from None
        return value not in (None, b"", b"0", "0", "")

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
        info = activity.info()
        attempt = info.attempt
        metrics.count("quantum_placement_attempts", "Order placement attempts", market=order.market.value)
        try:
            existing = await self._gateway.lookup(order)
            if existing is None:
                horizon = self._earlier_send_horizon_ms(info)
                if horizon is not None and horizon > _now_ms():
                    log.info(
                        "placement waiting for earlier request to expire trace_id=%s client_order_id=%s wait_ms=%d",
                        order.trace_id, order.client_order_id, horizon - _now_ms(),
                    )
                    await _sleep_heartbeating((horizon - _now_ms()) / 1000, _Progress(attempt, horizon).as_details())
                    existing = await self._gateway.lookup(order)
            if existing is not None:
                metrics.count("quantum_orders_adopted", "Placements that found their order already at the exchange")
                log.info("order adopted trace_id=%s client_order_id=%s status=%s attempt=%d",
                         order.trace_id, order.client_order_id, existing.status, attempt)
                return PlacementResult(snapshot=await self._gateway.fees(order, existing), attempts=attempt, adopted=True)

            self._refuse_send_near_deadline(info)
            activity.heartbeat(_Progress(attempt, _now_ms() + self._gateway.in_flight_horizon_ms).as_details())
            try:
                snapshot = await self._gateway.place(order)
            except DuplicateOrder:
                # An open order with our ID exists: it is ours, adopt it.
                adopted = await self._gateway.lookup(order)
                if adopted is None:
                    raise OutcomeUnknown("duplicate reported but order not found yet") from None
                return PlacementResult(snapshot=adopted, attempts=attempt, adopted=True)
            except (RequestRefused, OrderRejected, ExchangeConfigError):
                # Definitively not executed: no request of this attempt is in flight.
                activity.heartbeat(_Progress(attempt, None).as_details())
                raise
        except ExchangeError as error:
            log.warning("placement attempt failed trace_id=%s client_order_id=%s attempt=%d error=%r",
                        order.trace_id, order.client_order_id, attempt, str(error))
            raise _as_application_error(error) from None
        log.info("order placed trace_id=%s client_order_id=%s order_id=%s status=%s attempt=%d",
                 order.trace_id, order.client_order_id, snapshot.order_id, snapshot.status, attempt)
        return PlacementResult(snapshot=snapshot, attempts=attempt)

    @staticmethod
    def _refuse_send_near_deadline(info: activity.Info) -> None:
        """Send nothing once this attempt may have timed out.

        When an attempt times out the workflow moves on (to the next attempt or to
        reconciliation), which only accounts for requests sent before that moment. An
        attempt must therefore never send close to its own timeout.
        """
        deadlines = []
        if info.start_to_close_timeout:
            deadlines.append(_ms(info.started_time + info.start_to_close_timeout))
        if info.schedule_to_close_timeout:
            deadlines.append(_ms(info.scheduled_time + info.schedule_to_close_timeout))
        if deadlines and _now_ms() + SEND_SAFETY_MARGIN_MS > min(deadlines):
            raise RequestRefused("attempt too close to its timeout to send safely")

    def _earlier_send_horizon_ms(self, info: activity.Info) -> int | None:
        """Until when a request sent by an earlier attempt could still execute."""
        if info.attempt <= 1:
            return None
        progress = _Progress.from_details(info.heartbeat_details[0] if info.heartbeat_details else None)
        if progress is not None and progress.attempt == info.attempt - 1:
            # The previous attempt recorded its last send (or that it had none in flight).
            return progress.in_flight_until_ms
        # The previous attempt died without a word: anything it sent predates this
        # attempt's scheduling, so it cannot land after that moment plus the horizon.
        return _ms(info.current_attempt_scheduled_time) + self._gateway.in_flight_horizon_ms

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
                raise _as_application_error(error) from None
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
        info = activity.info()
        metrics.count("quantum_reconciliations", "Order cancellations and reconciliations at the exchange")
        try:
            final = await self._cancel_or_lookup(request)
            if final is None and request.may_be_in_flight:
                horizon = _ms(info.scheduled_time) + self._gateway.in_flight_horizon_ms
                if horizon > _now_ms():
                    await _sleep_heartbeating((horizon - _now_ms()) / 1000)
                final = await self._cancel_or_lookup(request)
        except ExchangeError as error:
            raise _as_application_error(error) from None
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
