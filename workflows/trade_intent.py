"""TradeIntentWorkflow: one trade decision, at most one exchange order, one explicit end.

Deterministic code only: every side effect is an activity. The workflow ID is the
decision's trace_id (the deduplication); the order's client order ID is derived from it
(the exchange-side idempotency key). The steps:

1. approve or reject (risk gate and exchange filters);
2. place exactly one order (a retried activity that adopts an earlier placement);
3. follow it until filled, expired at its TTL, cancelled on request, or past the deadline;
4. complete with an :class:`IntentResult` in one of the six terminal states, published once
   to the result stream.

A ``usdm`` decision takes the same steps on the futures API, with two more: the leverage
is set before the entry, and once the entry has any fill its protective stop-loss and
take-profit are placed (each under its own deterministic ID). The protection is a saga:
if it cannot be placed, the position is flattened with a reduce-only MARKET order and the
intent ends FAILED ("unprotected position closed"). Once it is placed, a child
ProtectionWorkflow (``<trace_id>-oco``) takes over the watch and the intent completes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError, is_cancelled_exception
from temporalio.workflow import ActivityCancellationType, ParentClosePolicy

from workflows.protection import ProtectionWorkflow

with workflow.unsafe.imports_passed_through():
    from activities.futures import FuturesActivities
    from activities.results import ResultActivities
    from activities.trading import TradingActivities
    from quantum_trader import constants, errors, visibility
    from quantum_trader.ids import Step, client_order_id, protection_workflow_id
    from quantum_trader.models import (
        AlgoSnapshot,
        Approval,
        CancelOrderRequest,
        CancelProtectionRequest,
        CancelRequest,
        ClosePositionRequest,
        FuturesApproval,
        IntentResult,
        IntentStatus,
        LeverageRequest,
        Market,
        OrderRequest,
        OrderSnapshot,
        OrderType,
        ProtectionKind,
        ProtectionPlan,
        ProtectiveOrder,
        Side,
        TradeDecision,
        WatchRequest,
    )
    from quantum_trader.states import IntentState, transition
    from workflows.policies import EXCHANGE_RETRY, HEARTBEAT_TIMEOUT, RECONCILE_WINDOW

S = IntentState
TRADE_STATE = visibility.TRADE_STATE

# How long each kind of step may take. Deadlines for the whole intent come from the
# worker's settings through the approval; these bound the individual calls.
APPROVE_TIMEOUT = timedelta(seconds=10)
APPROVE_WINDOW = timedelta(minutes=2)
PLACE_TIMEOUT = timedelta(seconds=60)
WATCH_WINDOW = timedelta(seconds=30)
PUBLISH_WINDOW = timedelta(minutes=15)
MIN_PLACEMENT_WINDOW = timedelta(seconds=15)
# A protective order gets this long (and PROTECT_RETRY's attempts) before the position is
# flattened instead: long enough to ride out a blip, short for an unprotected position.
PROTECT_WINDOW = timedelta(minutes=2)

# The exchange policy, with a lower cap and a bound on attempts.
PROTECT_RETRY = dataclasses.replace(EXCHANGE_RETRY, maximum_interval=timedelta(seconds=5), maximum_attempts=4)


class _Cause:
    """Why the workflow asked the exchange to cancel."""

    CANCEL = "cancel"
    EXPIRY = "expiry"
    DEADLINE = "deadline"
    FAILURE = "failure"


@workflow.defn(name=constants.WORKFLOW_NAME)
class TradeIntentWorkflow:
    def __init__(self) -> None:
        self._decision: TradeDecision | None = None
        self._state = S.RECEIVED
        self._finished = False
        self._reason = ""
        self._cancel: CancelRequest | None = None
        self._approval: Approval | None = None
        self._order: OrderRequest | None = None
        self._snapshot: OrderSnapshot | None = None
        self._attempts = 0
        self._started: datetime | None = None
        self._deadline: datetime | None = None
        self._history: list[tuple[IntentState, datetime]] = []
        # USD-M only.
        self._futures: FuturesApproval | None = None
        self._protection: list[ProtectiveOrder] = []
        self._protection_snapshots: list[AlgoSnapshot] = []
        self._protection_workflow_id: str | None = None
        self._flatten: OrderSnapshot | None = None

    # --- entry point -------------------------------------------------------------------

    @workflow.run
    async def run(self, decision: TradeDecision) -> IntentResult:
        self._decision = decision
        self._started = workflow.now()
        self._history.append((S.RECEIVED, self._started))
        # Set at start by start_intent; upserted only when a client started it without them.
        attributes = visibility.missing_updates(decision, workflow.info().typed_search_attributes)
        if attributes:
            workflow.upsert_search_attributes(attributes)
        self._show_details()
        futures = decision.market is Market.USDM
        try:
            state, reason = await (self._execute_futures(decision) if futures else self._execute(decision))
        except (asyncio.CancelledError, ActivityError) as error:
            if not is_cancelled_exception(error):
                raise
            # `temporal workflow cancel`: clean up at the exchange, then end CANCELLED.
            self._record_workflow_cancel()
            state, reason = await self._settle(_Cause.CANCEL)
            if futures:
                # What filled before the cancel took effect is a position: protect it.
                state, reason = await _shielded(self._protect_fill(state, reason))
        result = self._finish(state, reason)
        await self._publish(result)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    # --- operator messages -------------------------------------------------------------

    def _record_workflow_cancel(self) -> None:
        if self._cancel is None:
            self._cancel = CancelRequest(reason="workflow cancel requested")

    @workflow.signal
    def cancel_order(self, request: CancelRequest | None = None) -> None:
        """Cancel the intent's order (CLI: ``temporal workflow signal --name cancel_order``)."""
        if self._cancel is None and not self._finished:
            self._cancel = request or CancelRequest()

    @workflow.update
    async def request_cancel(self, request: CancelRequest | None = None) -> IntentStatus:
        """Cancel and answer with the outcome once the intent has ended."""
        self.cancel_order(request)
        await workflow.wait_condition(lambda: self._finished)
        return self.status()

    @request_cancel.validator
    def _validate_cancel(self, request: CancelRequest | None = None) -> None:
        if self._finished:
            raise ValueError(f"intent already ended in state {self._state.value}")

    @workflow.query
    def status(self) -> IntentStatus:
        decision = self._decision
        assert decision is not None
        return IntentStatus(
            trace_id=decision.trace_id,
            state=self._state,
            finished=self._finished,
            reason=self._reason,
            summary=decision.summary(),
            order=self._order,
            snapshot=self._snapshot,
            attempts=self._attempts,
            cancel_requested=self._cancel is not None,
            deadline=self._deadline,
            history=list(self._history),
        )

    # --- the steps ---------------------------------------------------------------------

    async def _gate(self, approve, decision: TradeDecision, summary: str):  # noqa: ANN001, ANN202 - activity method in, its result out
        """Run a risk gate; its result, or the end state when no gate could be reached.

        A local activity: the gate only reads, so re-running it after a crash is harmless,
        and the order can be sent from the first workflow task.
        """
        try:
            return await workflow.execute_local_activity_method(
                approve,
                decision,
                start_to_close_timeout=APPROVE_TIMEOUT,
                schedule_to_close_timeout=APPROVE_WINDOW,
                retry_policy=EXCHANGE_RETRY,
                summary=summary,
            )
        except ActivityError as error:
            if is_cancelled_exception(error):
                raise
            return S.FAILED, f"approval unavailable: {_cause_message(error)}"

    async def _execute(self, decision: TradeDecision) -> tuple[IntentState, str]:
        approval = await self._gate(TradingActivities.approve_intent, decision, f"risk gate {decision.symbol}")
        if isinstance(approval, tuple):
            return approval
        self._approval = approval
        self._deadline = self._started + timedelta(seconds=approval.deadline_seconds)  # type: ignore[operator]
        if self._cancel is not None:
            return S.CANCELLED, self._cancel.reason
        if not approval.approved or approval.order is None:
            return S.REJECTED, approval.reason
        self._move(S.APPROVED)
        self._order = approval.order

        self._move(S.SUBMITTED)
        outcome = await self._place(approval.order)
        if outcome is not None:
            return outcome
        return await self._follow()

    async def _place(self, order: OrderRequest) -> tuple[IntentState, str] | None:
        """Place the order; returns an end state only when placement itself ended the intent."""
        window = max(self._deadline - workflow.now(), MIN_PLACEMENT_WINDOW)  # type: ignore[operator]
        try:
            # A workflow cancel does not interrupt a placement in flight (its outcome would be
            # unknown): the placement finishes, then the follow step cancels the order.
            placed = await _shielded(
                workflow.execute_activity_method(
                    TradingActivities.place_order,
                    order,
                    start_to_close_timeout=PLACE_TIMEOUT,
                    schedule_to_close_timeout=window,
                    heartbeat_timeout=HEARTBEAT_TIMEOUT,
                    retry_policy=EXCHANGE_RETRY,
                    summary=f"place {order.order_type.value} {order.side.value} {order.quantity} {order.symbol} as {order.client_order_id}",
                ),
                on_cancel=self._record_workflow_cancel,
            )
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == errors.ORDER_REJECTED:
                return S.REJECTED, f"exchange rejected the order: {cause.message}"
            self._reason = f"placement failed: {_cause_message(error)}"
            return await self._settle(_Cause.FAILURE)
        self._attempts = placed.attempts
        self._apply(placed.snapshot)
        return None

    async def _follow(self) -> tuple[IntentState, str]:
        """Watch the order until it closes, the TTL or deadline passes, or a cancel arrives."""
        assert self._order is not None and self._approval is not None and self._deadline is not None
        ttl = self._approval.ttl_seconds
        expires_at = self._started + timedelta(seconds=ttl) if ttl else None  # type: ignore[operator]
        while self._snapshot is not None and self._snapshot.is_open:
            now = workflow.now()
            if self._cancel is not None:
                return await self._settle(_Cause.CANCEL)
            if expires_at is not None and now >= expires_at:
                return await self._settle(_Cause.EXPIRY)
            if now >= self._deadline:
                return await self._settle(_Cause.DEADLINE)
            until = min(t for t in (expires_at, self._deadline) if t is not None)
            window = min(WATCH_WINDOW, until - now)
            await self._watch(window)
        return self._closed_by_exchange(self._snapshot)

    async def _watch(self, window: timedelta) -> None:
        assert self._order is not None and self._snapshot is not None and self._approval is not None
        handle = workflow.start_activity_method(
            TradingActivities.watch_order,
            WatchRequest(
                order=self._order,
                since=self._snapshot,
                window_seconds=window.total_seconds(),
                poll_seconds=self._approval.poll_seconds,
            ),
            start_to_close_timeout=window + timedelta(seconds=30),
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=EXCHANGE_RETRY,
            cancellation_type=ActivityCancellationType.TRY_CANCEL,
            summary=f"watch {self._order.client_order_id}",
        )
        try:
            await workflow.wait_condition(lambda: handle.done() or self._cancel is not None)
        except asyncio.CancelledError:
            handle.cancel()
            raise
        if not handle.done():
            handle.cancel()
        try:
            self._apply(await handle)
        except (ActivityError, asyncio.CancelledError):
            # A cancelled or failed watch changes nothing: the loop decides what is next.
            pass

    async def _settle(self, cause: str) -> tuple[IntentState, str]:
        """Make sure no order is live, then name the end state from what the exchange says."""
        if self._order is None:
            return (S.CANCELLED, self._cancel.reason) if cause == _Cause.CANCEL and self._cancel else (S.FAILED, self._reason)
        request = CancelOrderRequest(order=self._order, may_be_in_flight=self._snapshot is None)
        try:
            final = await _shielded(
                workflow.execute_activity_method(
                    TradingActivities.cancel_order,
                    request,
                    start_to_close_timeout=PLACE_TIMEOUT,
                    schedule_to_close_timeout=RECONCILE_WINDOW,
                    heartbeat_timeout=HEARTBEAT_TIMEOUT,
                    retry_policy=EXCHANGE_RETRY,
                    summary=f"cancel {self._order.client_order_id} ({cause})",
                )
            )
        except ActivityError as error:
            return S.FAILED, f"order state could not be confirmed; {self._order.client_order_id} may be live: {_cause_message(error)}"
        if final is None:
            return self._end_without_order(cause)
        self._apply(final)
        return self._end_after_cancel(final, cause)

    def _end_without_order(self, cause: str) -> tuple[IntentState, str]:
        if cause == _Cause.CANCEL and self._cancel is not None:
            return S.CANCELLED, self._cancel.reason
        if cause == _Cause.EXPIRY:
            return S.EXPIRED, "ttl reached with nothing filled"
        if cause == _Cause.DEADLINE:
            return S.FAILED, "deadline passed before the order could be placed"
        return S.FAILED, f"{self._reason}; no order exists at the exchange"

    def _end_after_cancel(self, final: OrderSnapshot, cause: str) -> tuple[IntentState, str]:
        why = {
            _Cause.CANCEL: self._cancel.reason if self._cancel else "cancel requested",
            _Cause.EXPIRY: "ttl reached",
            _Cause.DEADLINE: "deadline passed",
            _Cause.FAILURE: self._reason,
        }[cause]
        if final.is_fully_filled:
            return S.FILLED, f"filled before the cancel took effect ({why})"
        if final.executed_qty > 0:
            return S.PARTIALLY_FILLED, f"{why}; {final.executed_qty} of {final.orig_qty} filled"
        if cause == _Cause.CANCEL:
            return S.CANCELLED, why
        if cause == _Cause.EXPIRY:
            return S.EXPIRED, why
        return S.FAILED, f"{why}; order cancelled with nothing filled"

    def _closed_by_exchange(self, final: OrderSnapshot) -> tuple[IntentState, str]:
        """End state for an order the exchange closed on its own (fill, IOC/FOK expiry)."""
        if final.is_fully_filled:
            if self._cancel is not None:
                return S.FILLED, f"filled before the cancel took effect ({self._cancel.reason})"
            return S.FILLED, "filled"
        if final.executed_qty > 0:
            return S.PARTIALLY_FILLED, f"exchange closed the order as {final.status}; {final.executed_qty} of {final.orig_qty} filled"
        if final.status == "REJECTED":
            return S.REJECTED, "exchange rejected the order"
        if final.status == "CANCELED":
            return S.CANCELLED, "cancelled at the exchange"
        return S.EXPIRED, f"exchange closed the order as {final.status} with nothing filled"

    # --- USD-M futures: leverage, entry, protection ------------------------------------

    async def _execute_futures(self, decision: TradeDecision) -> tuple[IntentState, str]:
        futures = await self._gate(FuturesActivities.approve_futures_intent, decision, f"futures risk gate {decision.symbol}")
        if isinstance(futures, tuple):
            return futures
        approval = futures.approval
        self._approval = approval
        self._deadline = self._started + timedelta(seconds=approval.deadline_seconds)  # type: ignore[operator]
        if self._cancel is not None:
            return S.CANCELLED, self._cancel.reason
        if not approval.approved or approval.order is None:
            return S.REJECTED, approval.reason
        self._futures = futures
        self._move(S.APPROVED)
        self._order = approval.order

        try:
            await workflow.execute_activity_method(
                FuturesActivities.set_leverage,
                LeverageRequest(trace_id=decision.trace_id, symbol=decision.symbol, leverage=futures.leverage),
                start_to_close_timeout=APPROVE_TIMEOUT,
                schedule_to_close_timeout=APPROVE_WINDOW,
                retry_policy=EXCHANGE_RETRY,
                summary=f"leverage x{futures.leverage} {decision.symbol}",
            )
        except ActivityError as error:
            if is_cancelled_exception(error):
                raise
            return S.FAILED, f"leverage not set, nothing placed: {_cause_message(error)}"
        if self._cancel is not None:
            return S.CANCELLED, self._cancel.reason

        self._move(S.SUBMITTED)
        outcome = await self._place(approval.order)
        state, reason = outcome if outcome is not None else await self._follow()
        return await _shielded(self._protect_fill(state, reason))

    async def _protect_fill(self, state: IntentState, reason: str) -> tuple[IntentState, str]:
        """Protect whatever the entry filled; with no fill there is nothing to protect."""
        if self._futures is None or self._snapshot is None or self._snapshot.executed_qty <= 0:
            return state, reason
        decision = self._decision
        assert decision is not None
        filled = self._snapshot.executed_qty
        self._protection = [t.for_quantity(decision.trace_id, decision.symbol, filled) for t in self._futures.protection]
        self._protection_snapshots = []
        self._show_details()
        for order in self._protection:
            try:
                placed = await workflow.execute_activity_method(
                    FuturesActivities.place_protection,
                    order,
                    start_to_close_timeout=PLACE_TIMEOUT,
                    schedule_to_close_timeout=PROTECT_WINDOW,
                    heartbeat_timeout=HEARTBEAT_TIMEOUT,
                    retry_policy=PROTECT_RETRY,
                    summary=f"place {order.label()} {order.order_type} {order.side.value} {order.quantity} @ {order.trigger_price} as {order.client_algo_id}",
                )
            except ActivityError as error:
                return await self._unprotected(order, error)
            self._protection_snapshots.append(placed.snapshot)
            self._show_details()
        await self._start_protection_workflow()
        ids = " and ".join(f"{o.label()} {o.client_algo_id}" for o in self._protection)
        return state, f"{reason}; protected by {ids}" if ids else reason

    async def _unprotected(self, failed: ProtectiveOrder, error: ActivityError) -> tuple[IntentState, str]:
        """Compensate a protection that could not be placed: flatten, then cancel what was placed."""
        decision, snapshot = self._decision, self._snapshot
        assert decision is not None and snapshot is not None
        why = f"{failed.label()} not placed: {_cause_message(error)}"
        self._reason = why
        workflow.logger.warning("protection failed, flattening trace_id=%s %s", decision.trace_id, why)
        flatten = self._closing_order(Step.FLATTEN, snapshot.executed_qty)
        try:
            closed = await workflow.execute_activity_method(
                FuturesActivities.close_position,
                ClosePositionRequest(order=flatten, entry_side=decision.side),
                start_to_close_timeout=PLACE_TIMEOUT,
                schedule_to_close_timeout=RECONCILE_WINDOW,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=EXCHANGE_RETRY,
                summary=f"flatten {flatten.quantity} {flatten.symbol} as {flatten.client_order_id}",
            )
        except ActivityError as flatten_error:
            return S.FAILED, f"position may be unprotected: flatten {flatten.client_order_id} failed ({_cause_message(flatten_error)}) after {why}"
        self._flatten = closed.snapshot
        # Cancel every protective order whose placement was tried: the failed one may still
        # land from a request in flight.
        tried = self._protection[: len(self._protection_snapshots) + 1]
        leftovers = []
        for order in tried:
            try:
                await workflow.execute_activity_method(
                    FuturesActivities.cancel_protection,
                    CancelProtectionRequest(order=order, may_be_in_flight=order is failed),
                    start_to_close_timeout=PLACE_TIMEOUT,
                    schedule_to_close_timeout=RECONCILE_WINDOW,
                    heartbeat_timeout=HEARTBEAT_TIMEOUT,
                    retry_policy=EXCHANGE_RETRY,
                    summary=f"cancel {order.label()} {order.client_algo_id}",
                )
            except ActivityError as cancel_error:
                leftovers.append(f"{order.client_algo_id} may be live: {_cause_message(cancel_error)}")
        flattened = f"flatten order {closed.snapshot.status} {closed.snapshot.executed_qty}" if closed.snapshot else "nothing left to flatten"
        detail = "; ".join([why, flattened, *leftovers])
        return S.FAILED, f"unprotected position closed ({detail})"

    async def _start_protection_workflow(self) -> None:
        """Hand the protective pair to the OCO child; it outlives this intent (ABANDON)."""
        decision, snapshot, approval = self._decision, self._snapshot, self._approval
        assert decision is not None and snapshot is not None and approval is not None
        plan = ProtectionPlan(
            trace_id=decision.trace_id,
            symbol=decision.symbol,
            entry_side=decision.side,
            quantity=snapshot.executed_qty,
            orders=self._protection,
            snapshots=self._protection_snapshots,
            close_order=self._closing_order(Step.CLOSE, snapshot.executed_qty),
            poll_seconds=approval.poll_seconds,
            started_at=workflow.now(),
        )
        workflow_id = protection_workflow_id(decision.trace_id)
        levels = ", ".join(f"{o.label()} {o.trigger_price}" for o in self._protection)
        try:
            await workflow.start_child_workflow(
                ProtectionWorkflow.run,
                plan,
                id=workflow_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"protect {decision.side.value} {snapshot.executed_qty} {decision.symbol}: {levels}",
            )
        except WorkflowAlreadyStartedError:
            pass  # started by an earlier pass of this intent (a cancel during protection)
        self._protection_workflow_id = workflow_id
        self._show_details()

    def _closing_order(self, step: Step, quantity: Decimal) -> OrderRequest:
        decision = self._decision
        assert decision is not None
        return OrderRequest(
            trace_id=decision.trace_id,
            market=Market.USDM,
            symbol=decision.symbol,
            side=Side.SELL if decision.side is Side.BUY else Side.BUY,
            order_type=OrderType.MARKET,
            quantity=quantity,
            client_order_id=client_order_id(decision.trace_id, step),
            reduce_only=True,
        )

    def _protection_ids(self) -> dict[str, str | None]:
        """The result's protection fields; set only once the OCO workflow has taken over."""
        if self._protection_workflow_id is None:
            return {}
        by_kind = {o.kind: o.client_algo_id for o in self._protection}
        return {
            "stop_loss_id": by_kind.get(ProtectionKind.STOP_LOSS),
            "take_profit_id": by_kind.get(ProtectionKind.TAKE_PROFIT),
            "protection_workflow_id": self._protection_workflow_id,
        }

    # --- state bookkeeping -------------------------------------------------------------

    def _apply(self, snapshot: OrderSnapshot) -> None:
        """Record the exchange's view and move the live state along with it."""
        self._snapshot = snapshot
        if snapshot.status == "NEW" and self._state is S.SUBMITTED:
            self._move(S.OPEN)
        elif snapshot.status == "PARTIALLY_FILLED" or (snapshot.is_open and snapshot.executed_qty > 0):
            self._move(S.PARTIALLY_FILLED)
        else:
            self._show_details()

    def _move(self, target: IntentState, reason: str | None = None) -> None:
        if target is self._state and reason is None:
            return
        self._state = transition(self._state, target)
        if reason is not None:
            self._reason = reason
        self._history.append((target, workflow.now()))
        workflow.upsert_search_attributes([TRADE_STATE.value_set(target.value)])
        self._show_details()

    def _finish(self, state: IntentState, reason: str) -> IntentResult:
        self._move(state, reason)
        self._finished = True
        decision, snapshot = self._decision, self._snapshot
        assert decision is not None and self._started is not None
        return IntentResult(
            trace_id=decision.trace_id,
            state=state,
            reason=reason,
            symbol=decision.symbol,
            side=decision.side,
            order_type=decision.order_type,
            market=decision.market,
            client_order_id=self._order.client_order_id if self._order else None,
            exchange_order_id=snapshot.order_id if snapshot else None,
            quantity=self._order.quantity if self._order else decision.quantity,
            executed_qty=snapshot.executed_qty if snapshot else 0,
            avg_price=snapshot.avg_price if snapshot else None,
            quote_qty=snapshot.cumulative_quote_qty if snapshot else 0,
            fees=snapshot.fees if snapshot else 0,
            fee_asset=snapshot.fee_asset if snapshot else None,
            attempts=self._attempts,
            reference_price=self._approval.reference_price if self._approval else None,
            position_size_usd=decision.position_size_usd,
            leverage=decision.leverage,
            source=decision.source,
            started_at=self._started,
            ended_at=workflow.now(),
            **self._protection_ids(),
        )

    async def _publish(self, result: IntentResult) -> None:
        try:
            await _shielded(
                # Local: publication is idempotent per trace_id (see publish_result).
                workflow.execute_local_activity_method(
                    ResultActivities.publish_result,
                    result,
                    start_to_close_timeout=timedelta(seconds=10),
                    schedule_to_close_timeout=PUBLISH_WINDOW,
                    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
                    summary=f"publish {result.state.value}",
                )
            )
        except ActivityError:
            workflow.logger.error("result not published trace_id=%s state=%s", result.trace_id, result.state.value)

    def _show_details(self) -> None:
        """Markdown for the Web UI's current details."""
        decision = self._decision
        assert decision is not None
        lines = [f"**{self._state.value}** {decision.summary()}"]
        if self._order is not None:
            lines.append(f"- client order ID: `{self._order.client_order_id}`")
        if self._snapshot is not None:
            snap = self._snapshot
            lines.append(f"- exchange: order `{snap.order_id}` {snap.status}, filled {snap.executed_qty} of {snap.orig_qty}")
        if self._deadline is not None:
            lines.append(f"- deadline: {self._deadline.isoformat()}")
        if self._cancel is not None:
            lines.append(f"- cancel requested: {self._cancel.reason}")
        if self._futures is not None:
            lines.append(f"- leverage: x{self._futures.leverage}")
        for index, order in enumerate(self._protection):
            placed = self._protection_snapshots[index].status if index < len(self._protection_snapshots) else "not placed"
            lines.append(f"- {order.label()} `{order.client_algo_id}` {order.order_type} @ {order.trigger_price}: {placed}")
        if self._flatten is not None:
            lines.append(f"- flatten order `{self._flatten.client_order_id}` {self._flatten.status}, filled {self._flatten.executed_qty}")
        if self._protection_workflow_id is not None:
            lines.append(f"- protection workflow: `{self._protection_workflow_id}`")
        if self._reason:
            lines.append(f"- reason: {self._reason}")
        workflow.set_current_details("\n".join(lines))


async def _shielded(awaitable, on_cancel=None):  # noqa: ANN001, ANN202 - passes the awaited type through
    """Await a step that must finish even if the workflow is cancelled meanwhile.

    The step runs to its end; ``on_cancel`` (if given) is told that a cancellation was
    requested, so the workflow can act on it once the step is done.
    """
    task = asyncio.ensure_future(awaitable)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise
            if on_cancel is not None:
                on_cancel()


def _cause_message(error: ActivityError) -> str:
    """The chain of failure messages under an activity error, outermost first."""
    messages = []
    cause: BaseException | None = error.cause
    while cause is not None:
        messages.append(getattr(cause, "message", None) or str(cause))
        cause = getattr(cause, "cause", None)
    return ": ".join(messages) or str(error)
