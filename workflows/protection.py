"""ProtectionWorkflow: the one-cancels-the-other watch over an intent's protective orders.

Started by TradeIntentWorkflow once a ``usdm`` entry has filled and its stop-loss and
take-profit are live, under the ID ``<trace_id>-oco``; it outlives the intent (parent close
policy ABANDON). Deterministic code only. It:

1. watches the protective orders (a polling activity that heartbeats);
2. when one fires, cancels the other and closes whatever the fill left open;
3. when a protective order disappears without firing (cancelled or expired at the
   exchange), closes the position rather than leave it unprotected;
4. on the ``close_position`` signal closes the position now (reduce-only MARKET with its
   own deterministic ID) and cancels both protective orders;
5. when it was started while the entry still rested (``plan.entry``): on the ``resize``
   signal (the entry filled more) replaces the pair with the next generation sized to the new
   fill, cancelling the old pair first (two pairs live at once could both fire and close more
   than this intent holds; if the new pair cannot be placed, it closes the position); and
   before any close, cancels what is left of the entry, so that no later fill reopens it.

Its state (:class:`quantum_trader.states.ProtectionState`) is visible in the Web UI:
``TradeState`` is ``PROTECTED`` while it watches (``NEEDS_ATTENTION`` while the exchange
keeps refusing to show the protective orders; its watches then back off),
``CLOSED`` when it ends (``CLOSE_FAILED`` if its close order failed for good),
``Symbol``/``Side`` are the intent's, and the current details list both orders.
Cancelling this workflow stops the watch and leaves the protective orders at the
exchange, where they keep protecting the position.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError, is_cancelled_exception
from temporalio.workflow import ActivityCancellationType

from workflows import details
from workflows.steps import WatchHealth, cause_message, close_position, exchange_step, place_protective_order

with workflow.unsafe.imports_passed_through():
    from activities.futures import FuturesActivities
    from activities.trading import TradingActivities
    from quantum_trader import constants
    from quantum_trader.models import (
        AlgoSnapshot,
        CancelOrderRequest,
        CancelProtectionRequest,
        ClosePositionSignal,
        OrderSnapshot,
        ProtectionPlan,
        ProtectionStatus,
        ProtectionWatch,
        ProtectiveOrder,
        ResizeProtection,
    )
    from quantum_trader.states import AlgoStatus, ProtectionState
    from quantum_trader.visibility import SIDE, SYMBOL, TRADE_STATE
    from workflows.policies import (
        HEARTBEAT_TIMEOUT,
        PATCH_WATCH_BACKOFF,
        PROTECTION_STEP_TIMEOUT,
        PROTECTION_WATCH_WINDOW,
        RECONCILE_WINDOW,
        WATCH_RETRY,
        WATCH_SLACK,
    )


@workflow.defn(name=constants.PROTECTION_WORKFLOW_NAME)
class ProtectionWorkflow:
    def __init__(self) -> None:
        self._plan: ProtectionPlan | None = None
        self._snapshots: list[AlgoSnapshot] = []
        self._state = ProtectionState.PROTECTED
        self._finished = False
        self._reason = ""
        self._fired: str | None = None
        self._close: ClosePositionSignal | None = None
        self._close_snapshot: OrderSnapshot | None = None
        self._close_failed = False
        self._resize: ResizeProtection | None = None
        # Set while the exchange keeps us from seeing the protective orders (TradeState NEEDS_ATTENTION).
        self._health = WatchHealth()

    @workflow.run
    async def run(self, plan: ProtectionPlan) -> ProtectionStatus:
        self._plan = plan
        self._snapshots = list(plan.snapshots) or [AlgoSnapshot(client_algo_id=o.client_algo_id, status=AlgoStatus.NEW) for o in plan.orders]
        if plan.close_reason is not None:
            self._close = ClosePositionSignal(reason=plan.close_reason)
        self._resize = plan.resize
        workflow.upsert_search_attributes(
            [TRADE_STATE.value_set(ProtectionState.PROTECTED.value), SYMBOL.value_set(plan.symbol), SIDE.value_set(plan.entry_side.value)]
        )
        self._show_details()
        while True:
            plan = self._plan  # a resize replaces it
            if self._close is not None:
                reason = await self._close_now(self._close.reason)
                break
            fired = next((i for i, s in enumerate(self._snapshots) if s.fired), None)
            if fired is not None:
                reason = await self._after_fire(fired)
                break
            lost = next((i for i, s in enumerate(self._snapshots) if not s.is_open and not s.fired), None)
            if lost is not None:
                order, snapshot = plan.orders[lost], self._snapshots[lost]
                reason = await self._close_now(f"{order.label()} {order.client_algo_id} was {snapshot.status} at the exchange without firing")
                break
            if self._resize is not None:
                await self._resize_now(self._resize)
                continue
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(plan.model_copy(update={
                    "snapshots": self._snapshots, "close_reason": self._close.reason if self._close else None, "resize": self._resize}))
            await self._watch()
        self._state = ProtectionState.CLOSE_FAILED if self._close_failed else ProtectionState.CLOSED
        self._reason, self._finished = reason, True
        self._health.attention = None
        workflow.upsert_search_attributes([TRADE_STATE.value_set(self._state.value)])
        self._show_details()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    # --- operator messages -------------------------------------------------------------

    @workflow.signal
    def close_position(self, request: ClosePositionSignal | None = None) -> None:
        """Close the position now (CLI: ``temporal workflow signal --name close_position``)."""
        if self._close is None and not self._finished:
            self._close = request or ClosePositionSignal()
            self._show_details()

    @workflow.signal
    def resize(self, request: ResizeProtection) -> None:
        """The entry, still resting, filled more: replace the pair with ``request.orders``.
        Sent by the intent; a generation already applied (or older) changes nothing."""
        plan = self._plan
        if self._finished or plan is None or request.generation <= plan.generation:
            return
        if self._resize is None or request.generation > self._resize.generation:
            self._resize = request

    @workflow.query
    def status(self) -> ProtectionStatus:
        plan = self._plan
        assert plan is not None
        return ProtectionStatus(
            trace_id=plan.trace_id,
            state=self._state,
            finished=self._finished,
            reason=self._reason,
            symbol=plan.symbol,
            quantity=plan.quantity,
            orders=list(plan.orders),
            snapshots=list(self._snapshots),
            fired=self._fired,
            close=self._close_snapshot,
            close_requested=self._close is not None,
        )

    # --- the steps ---------------------------------------------------------------------

    async def _watch(self) -> None:
        plan = self._plan
        assert plan is not None
        handle = workflow.start_activity_method(
            FuturesActivities.watch_protection,
            ProtectionWatch(
                orders=plan.orders,
                since=self._snapshots,
                window_seconds=PROTECTION_WATCH_WINDOW.total_seconds(),
                poll_seconds=plan.poll_seconds,
            ),
            start_to_close_timeout=PROTECTION_WATCH_WINDOW + WATCH_SLACK,
            # However its polls fail, the watch ends and the loop can act on a close request.
            schedule_to_close_timeout=PROTECTION_WATCH_WINDOW + WATCH_SLACK,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=WATCH_RETRY,
            cancellation_type=ActivityCancellationType.TRY_CANCEL,
            summary=f"watch {' and '.join(o.client_algo_id for o in plan.orders)}",
        )
        await workflow.wait_condition(lambda: handle.done() or self._close is not None or self._resize is not None)
        if not handle.done():
            handle.cancel()
        try:
            snapshots = list(await handle)
        except asyncio.CancelledError:
            return
        except ActivityError as error:
            # A cancelled watch changes nothing: the loop decides what is next. A failed one
            # means the exchange kept us from seeing the protective orders for the whole window.
            if not is_cancelled_exception(error) and workflow.patched(PATCH_WATCH_BACKOFF):
                await self._unseen(error)
            return
        self._seen()
        self._snapshots = snapshots
        self._show_details()

    async def _unseen(self, error: ActivityError) -> None:
        """A watch failed for its whole window: show NEEDS_ATTENTION, then back off (a close
        request ends the wait at once)."""
        plan = self._plan
        assert plan is not None
        delay = self._health.failed("protective orders", error)
        self._show_details()
        workflow.logger.warning("protection not seen", extra={
            "trace_id": plan.trace_id, "failures": self._health.failures, "backoff_s": round(delay.total_seconds()),
            "error": cause_message(error)})
        try:
            await workflow.wait_condition(
                lambda: self._close is not None or self._resize is not None, timeout=delay, timeout_summary="back off after a failed watch")
        except asyncio.TimeoutError:
            pass

    def _seen(self) -> None:
        """A watch answered: the exchange shows us the protective orders again."""
        if self._health.answered(self._state.value):
            self._show_details()

    async def _resize_now(self, request: ResizeProtection) -> None:
        """Replace the pair with the next generation, sized to the entry's larger fill."""
        self._resize = None
        plan = self._plan
        assert plan is not None
        if request.generation <= plan.generation:
            return
        # The old pair goes first: two pairs live at once could both fire and close more
        # than this intent holds (another intent's position on the symbol).
        for index, order in enumerate(plan.orders):
            if self._snapshots[index].is_open:
                self._snapshots[index] = await self._cancel(order)
        if any(s.fired for s in self._snapshots):
            return  # it fired first: the loop closes what is left
        if any(s.status is AlgoStatus.UNKNOWN for s in self._snapshots):
            self._close = ClosePositionSignal(reason="a protective order could not be cancelled to resize the protection")
            return
        self._plan = plan.model_copy(update={"orders": request.orders, "quantity": request.quantity, "generation": request.generation})
        self._snapshots = [AlgoSnapshot(client_algo_id=o.client_algo_id, status=AlgoStatus.NEW) for o in request.orders]
        self._show_details()
        for index, order in enumerate(request.orders):
            try:
                placed = await place_protective_order(order, timeout=PROTECTION_STEP_TIMEOUT)
            except ActivityError as error:
                # Part of the position would be unprotected: close it all (the close cancels
                # every order of the new pair, including one whose request may have landed).
                self._close = ClosePositionSignal(reason=f"{order.label()} {order.client_algo_id} not placed: {cause_message(error)}")
                return
            self._snapshots[index] = placed.snapshot
        self._show_details()
        workflow.logger.info("protection resized", extra={
            "trace_id": plan.trace_id, "quantity": str(request.quantity), "generation": request.generation})

    async def _after_fire(self, index: int) -> str:
        """One protective order fired: cancel the others, close what its fill left open."""
        plan = self._plan
        assert plan is not None
        order, snapshot = plan.orders[index], self._snapshots[index]
        self._fired = order.client_algo_id
        parts = [f"{order.label()} {order.client_algo_id} fired at {snapshot.actual_price or order.trigger_price}"]
        parts += await self._stop_entry()
        plan = self._plan  # the entry's last fills may have grown the quantity
        assert plan is not None
        await self._cancel_others(skip=index)
        others = [o.label() for i, o in enumerate(plan.orders) if i != index]
        if others:
            parts.append(f"{' and '.join(others)} cancelled")
        left = plan.quantity - snapshot.executed_qty
        if left > 0:
            parts.append(await self._close_quantity(left, f"{left} left open by the fill"))
        return "; ".join(parts)

    async def _close_now(self, why: str) -> str:
        """Close the position first, then cancel every protective order."""
        plan = self._plan
        assert plan is not None
        why = "; ".join([why, *await self._stop_entry()])
        plan = self._plan  # the entry's last fills may have grown the quantity
        assert plan is not None
        closed = await self._close_quantity(plan.quantity, why)
        if self._close_failed:
            return f"{why}; {closed}; protective orders left in place"
        await self._cancel_others(skip=None)
        return f"{why}; {closed}; protective orders cancelled"

    async def _stop_entry(self) -> list[str]:
        """Cancel what is left of an entry that still rested when protection started; what
        became of it, for the reason (nothing when there was no such entry). Whatever it filled
        beyond the protected quantity joins the quantity to close."""
        plan = self._plan
        assert plan is not None
        entry = plan.entry
        if entry is None:
            return []
        try:
            final = await exchange_step(
                TradingActivities.cancel_order,
                CancelOrderRequest(order=entry),
                timeout=PROTECTION_STEP_TIMEOUT,
                window=RECONCILE_WINDOW,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                summary=f"cancel the rest of entry {entry.client_order_id}",
            )
        except ActivityError as error:
            workflow.logger.error("entry not cancelled", extra={
                "trace_id": plan.trace_id, "client_order_id": entry.client_order_id, "error": cause_message(error)})
            return [f"entry {entry.client_order_id} may still fill: {cause_message(error)}"]
        if final is None:
            return [f"entry {entry.client_order_id} not found"]
        if final.executed_qty > plan.quantity:
            self._plan = plan.model_copy(update={"quantity": final.executed_qty})
        return [f"entry {entry.client_order_id} {final.status} with {final.executed_qty} filled"]

    async def _close_quantity(self, quantity, why: str) -> str:  # noqa: ANN001 - Decimal
        plan = self._plan
        assert plan is not None
        order = plan.close_order.model_copy(update={"quantity": quantity})
        try:
            result = await close_position(
                order,
                plan.entry_side,
                timeout=PROTECTION_STEP_TIMEOUT,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                summary=f"close {quantity} {plan.symbol} as {order.client_order_id} ({why})",
            )
        except ActivityError as error:
            self._close_failed = True
            return f"close order {order.client_order_id} failed, position may be open: {cause_message(error)}"
        self._close_snapshot = result.snapshot
        if result.snapshot is None:
            return "nothing was left open to close"
        return f"close order {order.client_order_id} {result.snapshot.status} {result.snapshot.executed_qty}"

    async def _cancel_others(self, skip: int | None) -> None:
        plan = self._plan
        assert plan is not None
        for index, order in enumerate(plan.orders):
            if index == skip or not self._snapshots[index].is_open:
                continue
            self._snapshots[index] = await self._cancel(order)
        self._show_details()

    async def _cancel(self, order: ProtectiveOrder) -> AlgoSnapshot:
        try:
            final = await exchange_step(
                FuturesActivities.cancel_protection,
                CancelProtectionRequest(order=order),
                timeout=PROTECTION_STEP_TIMEOUT,
                window=RECONCILE_WINDOW,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                summary=f"cancel {order.label()} {order.client_algo_id}",
            )
        except ActivityError as error:
            workflow.logger.error("protective order not cancelled", extra={
                "trace_id": order.trace_id, "client_algo_id": order.client_algo_id, "error": cause_message(error)})
            return AlgoSnapshot(client_algo_id=order.client_algo_id, status=AlgoStatus.UNKNOWN)
        return final or AlgoSnapshot(client_algo_id=order.client_algo_id, status=AlgoStatus.NONE)

    def _show_details(self) -> None:
        """Markdown for the Web UI's current details."""
        plan = self._plan
        assert plan is not None
        workflow.set_current_details(
            details.protection_details(
                self._state,
                plan,
                snapshots=self._snapshots,
                close=self._close,
                close_snapshot=self._close_snapshot,
                reason=self._reason,
                attention=self._health.attention,
            )
        )
