"""TradeIntentWorkflow: one trade decision, at most one exchange order, one explicit end.

Deterministic code only: every side effect is an activity. The workflow ID is the
decision's trace_id (the deduplication); the order's client order ID is derived from it
(the exchange-side idempotency key). Spot and USD-M futures take one path:

1. approve or reject (risk gate and exchange filters);
2. futures only: set the leverage;
3. place exactly one order (a retried activity that adopts an earlier placement);
4. follow it until filled, expired at its TTL, cancelled on request, or past the deadline,
   and name the end state with :func:`quantum_trader.states.outcome`. A watch that cannot
   see the order (refused, rate limited, banned) backs off and shows ``NEEDS_ATTENTION``;
   each watch and each wait ends by the TTL and the deadline, so the follow ends by them
   (plus ``WATCH_SLACK``) whatever the exchange answers. A long follow continues as new,
   carrying a :class:`FollowState`, whenever Temporal suggests it;
5. futures only: protect whatever the entry filled (the saga in :mod:`workflows.saga`): a
   resting entry from its first fill on (the protection grows with its fills), any other at
   its end;
6. complete with an :class:`IntentResult` in one of the six terminal states, published once
   to the result stream.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

from workflows import details
from workflows.saga import ProtectionSaga
from workflows.steps import WatchHealth, cause_message, exchange_step, shielded

with workflow.unsafe.imports_passed_through():
    from activities.futures import FuturesActivities
    from activities.results import ResultActivities
    from activities.trading import TradingActivities
    from quantum_trader import constants, errors, visibility
    from quantum_trader.models import (
        Approval,
        CancelOrderRequest,
        CancelRequest,
        FollowState,
        FuturesApproval,
        IntentResult,
        IntentStatus,
        LeverageRequest,
        Market,
        OrderRequest,
        OrderSnapshot,
        TradeDecision,
        WatchRequest,
    )
    from quantum_trader.states import Cause, IntentState, OrderStatus, outcome, transition
    from workflows.policies import (
        APPROVE_TIMEOUT,
        APPROVE_WINDOW,
        EXCHANGE_RETRY,
        FOLLOW_MAX_EVENTS,
        MIN_PLACEMENT_WINDOW,
        PATCH_FOLLOW_CONTINUE_AS_NEW,
        PATCH_PROTECT_RESTING,
        PATCH_WATCH_BACKOFF,
        PLACE_TIMEOUT,
        PUBLISH_LOCAL_RETRY,
        PUBLISH_RETRY,
        PUBLISH_TIMEOUT,
        PUBLISH_WINDOW,
        RECONCILE_WINDOW,
        WATCH_RETRY,
        WATCH_SLACK,
        watch_heartbeat_timeout,
    )

S = IntentState
TRADE_STATE = visibility.TRADE_STATE


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
        # Set while the exchange keeps us from seeing the order (TradeState NEEDS_ATTENTION).
        self._health = WatchHealth()
        # USD-M only, once approved.
        self._futures: FuturesApproval | None = None
        self._saga: ProtectionSaga | None = None

    # --- entry point -------------------------------------------------------------------

    @workflow.run
    async def run(self, start: TradeDecision | FollowState) -> IntentResult:
        """Run the intent: a decision, or the follow an earlier run continued as new with."""
        carried = start if isinstance(start, FollowState) else None
        decision = carried.decision if carried is not None else start
        assert isinstance(decision, TradeDecision)
        self._decision = decision
        if carried is None:
            self._started = workflow.now()
            self._history.append((S.RECEIVED, self._started))
            # Set at start by start_intent; upserted only when a client started it without them.
            attributes = visibility.missing_updates(decision, workflow.info().typed_search_attributes)
            if attributes:
                workflow.upsert_search_attributes(attributes)
        else:
            self._restore(decision, carried)
        self._show_details()
        try:
            state, reason = await (self._execute(decision) if carried is None else self._follow_and_protect())
        except (asyncio.CancelledError, ActivityError) as error:
            if not is_cancelled_exception(error):
                raise
            # `temporal workflow cancel`: clean up at the exchange, then end CANCELLED.
            self._record_workflow_cancel()
            state, reason = await self._settle(Cause.CANCEL)
            if self._saga is not None:
                # What filled before the cancel took effect is a position: protect it.
                state, reason = await shielded(self._protect(state, reason))
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

    # --- the path ----------------------------------------------------------------------

    async def _execute(self, decision: TradeDecision) -> tuple[IntentState, str]:
        """Approve, place the one order and follow it; futures add the leverage and the saga."""
        ended = await self._approve(decision)
        if ended is None and self._futures is not None:
            ended = await self._set_leverage(decision, self._futures)
        if ended is not None:
            return ended
        assert self._order is not None
        self._move(S.SUBMITTED)
        ended = await self._place(self._order)
        if ended is not None:
            return await self._protected(*ended)
        return await self._follow_and_protect()

    async def _follow_and_protect(self) -> tuple[IntentState, str]:
        """Follow the placed order to its end; futures then protect what it filled."""
        return await self._protected(*await self._follow())

    async def _protected(self, state: IntentState, reason: str) -> tuple[IntentState, str]:
        if self._saga is None:
            return state, reason
        return await shielded(self._protect(state, reason))

    async def _approve(self, decision: TradeDecision) -> tuple[IntentState, str] | None:
        """Run the risk gate; the end state when the intent ends before any order."""
        verdict = await self._gate(decision)
        if isinstance(verdict, tuple):
            return verdict
        futures = verdict if isinstance(verdict, FuturesApproval) else None
        approval = futures.approval if futures is not None else verdict
        self._approval = approval
        self._deadline = self._started + timedelta(seconds=approval.deadline_seconds)  # type: ignore[operator]
        if self._cancel is not None:
            return S.CANCELLED, self._cancel.reason
        if not approval.approved or approval.order is None:
            return S.REJECTED, approval.reason
        if futures is not None:
            self._futures = futures
            self._saga = ProtectionSaga(decision, futures, on_change=self._show_details, on_failure=self._note_reason)
        self._move(S.APPROVED)
        self._order = approval.order
        return None

    async def _gate(self, decision: TradeDecision) -> Approval | FuturesApproval | tuple[IntentState, str]:
        """The market's risk gate: its verdict, or the end state when no gate could be reached.

        A local activity: the gate only reads, so re-running it after a crash is harmless,
        and the order can be sent from the first workflow task.
        """
        if decision.market is Market.USDM:
            approve, summary = FuturesActivities.approve_futures_intent, f"futures risk gate {decision.symbol}"
        else:
            approve, summary = TradingActivities.approve_intent, f"risk gate {decision.symbol}"
        try:
            return await workflow.execute_local_activity_method(
                approve,
                decision,
                start_to_close_timeout=APPROVE_TIMEOUT,
                schedule_to_close_timeout=APPROVE_WINDOW,
                retry_policy=EXCHANGE_RETRY,
                summary=summary,
            )
        except (ActivityError, ApplicationError) as error:
            # A local activity failed for good raises its last failure itself, not wrapped.
            if is_cancelled_exception(error):
                raise
            return S.FAILED, f"approval unavailable: {cause_message(error) if isinstance(error, ActivityError) else error.message}"

    async def _set_leverage(self, decision: TradeDecision, futures: FuturesApproval) -> tuple[IntentState, str] | None:
        """Futures only: set the approved leverage before the entry; an end state if it ends here."""
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
            return S.FAILED, f"leverage not set, nothing placed: {cause_message(error)}"
        if self._cancel is not None:
            return S.CANCELLED, self._cancel.reason
        return None

    @staticmethod
    def _as_placed(order: OrderRequest) -> OrderRequest:
        """``order`` as this run's placement and reconcile see it: in a reset run the run before
        it may have a request in flight, which even the first placement attempt and the
        reconcile must wait out (the activities' input only; the commands are the same)."""
        info = workflow.info()
        if info.run_id != info.first_execution_run_id:
            return order.model_copy(update={"earlier_run": True})
        return order

    async def _place(self, order: OrderRequest) -> tuple[IntentState, str] | None:
        """Place the order; returns an end state only when placement itself ended the intent."""
        window = max(self._deadline - workflow.now(), MIN_PLACEMENT_WINDOW)  # type: ignore[operator]
        order = self._as_placed(order)
        try:
            # A workflow cancel does not interrupt a placement in flight (its outcome would be
            # unknown): the placement finishes, then the follow step cancels the order.
            placed = await shielded(
                exchange_step(
                    TradingActivities.place_order,
                    order,
                    timeout=PLACE_TIMEOUT,
                    window=window,
                    summary=f"place {order.order_type.value} {order.side.value} {order.quantity} {order.symbol} as {order.client_order_id}",
                ),
                on_cancel=self._record_workflow_cancel,
            )
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == errors.ORDER_REJECTED:
                return S.REJECTED, f"exchange rejected the order: {cause.message}"
            self._reason = f"placement failed: {cause_message(error)}"
            return await self._settle(Cause.FAILURE)
        self._attempts = placed.attempts
        self._apply(placed.snapshot)
        return None

    async def _follow(self) -> tuple[IntentState, str]:
        """Watch the order until it closes, the TTL or deadline passes, or a cancel arrives."""
        assert self._order is not None and self._approval is not None and self._deadline is not None
        ttl = self._approval.ttl_seconds
        expires_at = self._started + timedelta(seconds=ttl) if ttl else None  # type: ignore[operator]
        seen = self._snapshot  # the view before the last watch's answer
        while self._snapshot is not None and self._snapshot.is_open:
            seen = self._snapshot
            now = workflow.now()
            if self._cancel is not None:
                return await self._settle(Cause.CANCEL)
            if expires_at is not None and now >= expires_at:
                return await self._settle(Cause.EXPIRY)
            if now >= self._deadline:
                return await self._settle(Cause.DEADLINE)
            if self._resting_fill_unprotected():
                ended = await self._protect_resting()
                if ended is not None:
                    return ended
                continue
            if self._saga is not None and self._snapshot.executed_qty > self._saga.quantity:
                await self._saga.resize(self._snapshot.executed_qty)  # once protected while resting
            if self._continue_as_new_suggested():
                self._continue_as_new()
            until = min(t for t in (expires_at, self._deadline) if t is not None)
            window = timedelta(seconds=self._approval.watch_window_seconds)
            await self._watch(min(window, until - now), until)
        return outcome(self._snapshot, Cause.EXCHANGE, self._cancel.reason if self._cancel else "", seen=seen)

    def _resting_fill_unprotected(self) -> bool:
        """Futures: the entry has a fill while it still rests, and no protection yet."""
        saga, snapshot = self._saga, self._snapshot
        return (
            saga is not None
            and saga.workflow_id is None
            and not saga.compensated
            and snapshot is not None
            and snapshot.is_open
            and snapshot.executed_qty > 0
            and workflow.patched(PATCH_PROTECT_RESTING)
        )

    async def _protect_resting(self) -> tuple[IntentState, str] | None:
        """Protect the resting entry's fill now, not at the entry's end (up to its TTL later);
        larger fills resize the protection as the follow sees them.

        None once protected (the follow goes on); the intent's end if the protection failed.
        A workflow cancel meanwhile waits for the protection, then settles the entry.
        """
        assert self._saga is not None and self._order is not None
        stopped: list[tuple[IntentState, str]] = []

        async def stop_entry() -> Decimal:
            stopped.append(await self._settle(Cause.FAILURE))
            assert self._snapshot is not None
            return self._snapshot.executed_qty

        assert self._snapshot is not None
        protecting = self._saga.protect_resting(self._order, self._snapshot.executed_qty, stop_entry)
        ended = await shielded(protecting, on_cancel=self._record_workflow_cancel)
        if ended is None:
            return None
        state, reason = ended
        if stopped and stopped[0][0] is S.FAILED:
            reason = f"{reason}; {stopped[0][1]}"  # the entry's cancel was not confirmed either
        return state, reason

    async def _watch(self, window: timedelta, until: datetime) -> None:
        """One watch of the order, ``window`` long at most; after a watch that failed, wait
        (never past ``until``, the TTL or deadline) before the loop watches again."""
        assert self._order is not None and self._snapshot is not None and self._approval is not None
        handle = workflow.start_activity_method(
            TradingActivities.watch_order,
            WatchRequest(
                order=self._order,
                since=self._snapshot,
                window_seconds=window.total_seconds(),
                poll_seconds=self._approval.poll_seconds,
            ),
            start_to_close_timeout=window + WATCH_SLACK,
            # However its polls fail, the watch ends in time for the TTL and the deadline.
            schedule_to_close_timeout=window + WATCH_SLACK,
            heartbeat_timeout=watch_heartbeat_timeout(window),
            retry_policy=WATCH_RETRY,
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
            snapshot = await handle
        except asyncio.CancelledError:
            return
        except ActivityError as error:
            # A cancelled watch changes nothing: the loop decides what is next. A failed one
            # means the exchange kept us from seeing the order for the whole window.
            if not is_cancelled_exception(error) and workflow.patched(PATCH_WATCH_BACKOFF):
                await self._unseen(error, until)
            return
        self._seen()
        self._apply(snapshot)

    async def _unseen(self, error: ActivityError, until: datetime) -> None:
        """A watch failed for its whole window: show NEEDS_ATTENTION, then back off."""
        assert self._order is not None
        delay = min(self._health.failed(f"order {self._order.client_order_id}", error), until - workflow.now())
        self._show_details()
        workflow.logger.warning("order not seen", extra={
            "trace_id": self._order.trace_id, "client_order_id": self._order.client_order_id,
            "failures": self._health.failures, "backoff_s": round(delay.total_seconds()), "error": cause_message(error),
        })
        if delay <= timedelta(0):
            return
        try:
            await workflow.wait_condition(lambda: self._cancel is not None, timeout=delay, timeout_summary="back off after a failed watch")
        except asyncio.TimeoutError:
            pass

    def _seen(self) -> None:
        """A watch answered: the exchange shows us the order again."""
        if self._health.answered(self._state.value):
            self._show_details()

    # --- continue-as-new -----------------------------------------------------------------

    def _continue_as_new_suggested(self) -> bool:
        # No cancel pending: the request_cancel update waits on this run for its answer.
        info = workflow.info()
        return (
            self._cancel is None
            and (info.is_continue_as_new_suggested() or info.get_current_history_length() >= FOLLOW_MAX_EVENTS)
            and workflow.patched(PATCH_FOLLOW_CONTINUE_AS_NEW)
        )

    def _continue_as_new(self) -> NoReturn:
        """Go on following in a fresh run (a bounded history), carrying the frozen state."""
        decision = self._decision
        assert decision is not None and self._approval is not None and self._order is not None
        assert self._snapshot is not None and self._started is not None and self._deadline is not None
        carried = FollowState(
            decision=decision,
            state=self._state,
            reason=self._reason,
            approval=self._approval,
            futures=self._futures,
            order=self._order,
            snapshot=self._snapshot,
            attempts=self._attempts,
            started=self._started,
            deadline=self._deadline,
            history=self._history,
            attention=self._health.attention,
            watch_failures=self._health.failures,
            **(self._saga.carried() if self._saga else {}),
        )
        workflow.logger.info("intent continues as new", extra={
            "trace_id": decision.trace_id, "history_length": workflow.info().get_current_history_length()})
        workflow.continue_as_new(carried)

    def _restore(self, decision: TradeDecision, carried: FollowState) -> None:
        """Take up the follow where the previous run left it."""
        self._state, self._reason = carried.state, carried.reason
        self._approval, self._order, self._snapshot = carried.approval, carried.order, carried.snapshot
        self._attempts, self._started, self._deadline = carried.attempts, carried.started, carried.deadline
        self._history = list(carried.history)
        self._health = WatchHealth(carried.watch_failures, carried.attention)
        if carried.futures is not None:
            self._futures = carried.futures
            self._saga = ProtectionSaga(decision, carried.futures, on_change=self._show_details, on_failure=self._note_reason)
            self._saga.restore(carried)

    async def _settle(self, cause: Cause) -> tuple[IntentState, str]:
        """Make sure no order is live, then name the end state from what the exchange says."""
        if self._order is None:
            return (S.CANCELLED, self._cancel.reason) if cause is Cause.CANCEL and self._cancel else (S.FAILED, self._reason)
        order = self._order
        try:
            final = await shielded(
                exchange_step(
                    TradingActivities.cancel_order,
                    CancelOrderRequest(order=self._as_placed(order), may_be_in_flight=self._snapshot is None),
                    timeout=PLACE_TIMEOUT,
                    window=RECONCILE_WINDOW,
                    summary=f"cancel {order.client_order_id} ({cause})",
                )
            )
        except ActivityError as error:
            reason = f"order state could not be confirmed; {order.client_order_id} may be live: {cause_message(error)}"
            if order.market is Market.USDM:
                # An operator must look: the entry may have filled. What this workflow saw
                # filled is protected next (_protect); anything filled since is not.
                filled = self._snapshot.executed_qty if self._snapshot is not None else 0
                seen_fill = f"{filled} filled when last seen" if filled > 0 else "no fill seen"
                reason = f"{reason}; a position may be open on {order.symbol} ({seen_fill}, anything filled since is unprotected)"
            return S.FAILED, reason
        seen = self._snapshot
        if final is not None:
            self._apply(final)
        why = {Cause.CANCEL: self._cancel.reason if self._cancel else "", Cause.FAILURE: self._reason}.get(cause, "")
        return outcome(final, cause, why, seen=seen)

    async def _protect(self, state: IntentState, reason: str) -> tuple[IntentState, str]:
        """Futures only: protect whatever the entry filled; with no fill there is nothing to protect."""
        if self._saga is None or self._snapshot is None or self._snapshot.executed_qty <= 0:
            return state, reason
        return await self._saga.protect(self._snapshot.executed_qty, state, reason)

    # --- state bookkeeping -------------------------------------------------------------

    def _apply(self, snapshot: OrderSnapshot) -> None:
        """Record the exchange's view and move the live state along with it."""
        self._snapshot = snapshot
        if snapshot.status is OrderStatus.NEW and self._state is S.SUBMITTED:
            self._move(S.OPEN)
        elif snapshot.is_open and snapshot.executed_qty > 0:
            # The fills decide, not the status's name: outcome() keeps what was filled.
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

    def _note_reason(self, reason: str) -> None:
        self._reason = reason

    def _finish(self, state: IntentState, reason: str) -> IntentResult:
        self._health.attention = None  # the end state says it all from here
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
            **(self._saga.result_fields() if self._saga else {}),
        )

    async def _publish(self, result: IntentResult) -> None:
        """Publish the result to the result stream; the workflow closes only once it is there.

        A few local attempts first (publication is idempotent per trace_id, see
        publish_result). If the stream still refuses, the intent keeps its terminal state,
        says in the Web UI that its result is not published, and a server-side activity
        retries until it is. A workflow cancel abandons the publication, with a log line.
        """
        try:
            await shielded(
                workflow.execute_local_activity_method(
                    ResultActivities.publish_result,
                    result,
                    start_to_close_timeout=PUBLISH_TIMEOUT,
                    schedule_to_close_timeout=PUBLISH_WINDOW,
                    retry_policy=PUBLISH_LOCAL_RETRY,
                    summary=f"publish {result.state.value}",
                )
            )
            return
        except (ActivityError, ApplicationError) as error:
            # A local activity out of attempts raises its last failure itself, not wrapped.
            message = cause_message(error) if isinstance(error, ActivityError) else error.message
            workflow.logger.error("result not published", extra={"trace_id": result.trace_id, "state": result.state.value, "error": message})
        if not workflow.patched("publish-until-published"):
            return
        workflow.set_current_details(
            f"{workflow.get_current_details()}\n\n**Result not published** to the result stream yet: "
            f"the intent ended {result.state.value}; publication is retried until the stream takes it."
        )
        try:
            await workflow.execute_activity_method(
                ResultActivities.publish_result,
                result,
                start_to_close_timeout=PUBLISH_TIMEOUT,
                retry_policy=PUBLISH_RETRY,
                summary=f"publish {result.state.value} (retried until published)",
            )
        except (asyncio.CancelledError, ActivityError) as error:
            if not is_cancelled_exception(error):
                raise
            workflow.logger.error("result publication abandoned by a workflow cancel",
                                  extra={"trace_id": result.trace_id, "state": result.state.value})
            return
        workflow.logger.info("result published late", extra={"trace_id": result.trace_id, "state": result.state.value})
        self._show_details()

    def _show_details(self) -> None:
        """Markdown for the Web UI's current details."""
        assert self._decision is not None
        saga = self._saga
        workflow.set_current_details(
            details.intent_details(
                self._state,
                self._decision,
                order=self._order,
                snapshot=self._snapshot,
                deadline=self._deadline,
                cancel=self._cancel,
                reason=self._reason,
                attention=self._health.attention,
                leverage=self._futures.leverage if self._futures else None,
                protection=saga.orders if saga else (),
                protection_placed=saga.placed if saga else (),
                flatten=saga.flatten if saga else None,
                protection_workflow_id=saga.workflow_id if saga else None,
            )
        )
