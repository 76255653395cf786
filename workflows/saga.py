"""The futures protection saga: what a ``usdm`` intent does once its entry has a fill.

Its stop-loss and take-profit are placed, each under its own deterministic ID; once both
are live a child ProtectionWorkflow (``<trace_id>-oco``) takes over the watch. If one
cannot be placed, the saga compensates: it flattens the position with a reduce-only
MARKET order, then cancels every protective order whose placement was tried, and the
intent ends FAILED ("unprotected position closed"). Deterministic code only.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from workflows.protection import ProtectionWorkflow
from workflows.steps import cause_message, close_position, exchange_step

with workflow.unsafe.imports_passed_through():
    from activities.futures import FuturesActivities
    from quantum_trader.ids import Step, client_order_id, protection_workflow_id
    from quantum_trader.models import (
        AlgoSnapshot,
        CancelProtectionRequest,
        FuturesApproval,
        Market,
        OrderRequest,
        OrderSnapshot,
        OrderType,
        ProtectionKind,
        ProtectionPlan,
        ProtectiveOrder,
        Side,
        TradeDecision,
    )
    from quantum_trader.states import IntentState
    from workflows.policies import PLACE_TIMEOUT, PROTECT_RETRY, PROTECT_WINDOW, RECONCILE_WINDOW


class ProtectionSaga:
    """One futures intent's protection, and what it shows of it.

    ``on_change`` is called whenever the protection changed (the workflow redraws its
    details); ``on_failure`` is told why the protection failed before the compensation
    starts (the workflow's reason while it runs).
    """

    def __init__(
        self,
        decision: TradeDecision,
        futures: FuturesApproval,
        *,
        on_change: Callable[[], None],
        on_failure: Callable[[str], None],
    ) -> None:
        self._decision = decision
        self._futures = futures
        self._on_change = on_change
        self._on_failure = on_failure
        self.orders: list[ProtectiveOrder] = []
        self.placed: list[AlgoSnapshot] = []
        self.flatten: OrderSnapshot | None = None
        self.workflow_id: str | None = None

    async def protect(self, filled: Decimal, state: IntentState, reason: str) -> tuple[IntentState, str]:
        """Protect ``filled`` (the entry's fill); the intent's end state and reason after it."""
        decision = self._decision
        self.orders = [t.for_quantity(decision.trace_id, decision.symbol, filled) for t in self._futures.protection]
        self.placed = []
        self._on_change()
        for order in self.orders:
            try:
                placed = await exchange_step(
                    FuturesActivities.place_protection,
                    order,
                    timeout=PLACE_TIMEOUT,
                    window=PROTECT_WINDOW,
                    retry=PROTECT_RETRY,
                    summary=f"place {order.label()} {order.order_type} {order.side.value} {order.quantity} @ {order.trigger_price} as {order.client_algo_id}",
                )
            except ActivityError as error:
                return await self._compensate(order, error, filled)
            self.placed.append(placed.snapshot)
            self._on_change()
        await self._hand_over(filled)
        ids = " and ".join(f"{o.label()} {o.client_algo_id}" for o in self.orders)
        return state, f"{reason}; protected by {ids}" if ids else reason

    def result_fields(self) -> dict[str, str | None]:
        """The intent result's protection fields; set only once the OCO workflow has taken over."""
        if self.workflow_id is None:
            return {}
        by_kind = {o.kind: o.client_algo_id for o in self.orders}
        return {
            "stop_loss_id": by_kind.get(ProtectionKind.STOP_LOSS),
            "take_profit_id": by_kind.get(ProtectionKind.TAKE_PROFIT),
            "protection_workflow_id": self.workflow_id,
        }

    async def _compensate(self, failed: ProtectiveOrder, error: ActivityError, filled: Decimal) -> tuple[IntentState, str]:
        """A protective order could not be placed: flatten, then cancel what was placed."""
        decision = self._decision
        why = f"{failed.label()} not placed: {cause_message(error)}"
        self._on_failure(why)
        workflow.logger.warning("protection failed, flattening", extra={"trace_id": decision.trace_id, "error": why})
        flatten = self._closing_order(Step.FLATTEN, filled)
        try:
            closed = await close_position(
                flatten, decision.side, timeout=PLACE_TIMEOUT, summary=f"flatten {flatten.quantity} {flatten.symbol} as {flatten.client_order_id}"
            )
        except ActivityError as flatten_error:
            return IntentState.FAILED, (
                f"position may be unprotected: flatten {flatten.client_order_id} failed ({cause_message(flatten_error)}) after {why}"
            )
        self.flatten = closed.snapshot
        # Cancel every protective order whose placement was tried: the failed one may still
        # land from a request in flight.
        leftovers = []
        for order in self.orders[: len(self.placed) + 1]:
            try:
                await exchange_step(
                    FuturesActivities.cancel_protection,
                    CancelProtectionRequest(order=order, may_be_in_flight=order is failed),
                    timeout=PLACE_TIMEOUT,
                    window=RECONCILE_WINDOW,
                    summary=f"cancel {order.label()} {order.client_algo_id}",
                )
            except ActivityError as cancel_error:
                leftovers.append(f"{order.client_algo_id} may be live: {cause_message(cancel_error)}")
        flattened = f"flatten order {closed.snapshot.status} {closed.snapshot.executed_qty}" if closed.snapshot else "nothing left to flatten"
        detail = "; ".join([why, flattened, *leftovers])
        return IntentState.FAILED, f"unprotected position closed ({detail})"

    async def _hand_over(self, filled: Decimal) -> None:
        """Hand the protective pair to the OCO child; it outlives this intent (ABANDON)."""
        decision = self._decision
        plan = ProtectionPlan(
            trace_id=decision.trace_id,
            symbol=decision.symbol,
            entry_side=decision.side,
            quantity=filled,
            orders=self.orders,
            snapshots=self.placed,
            close_order=self._closing_order(Step.CLOSE, filled),
            poll_seconds=self._futures.approval.poll_seconds,
            started_at=workflow.now(),
        )
        workflow_id = protection_workflow_id(decision.trace_id)
        levels = ", ".join(f"{o.label()} {o.trigger_price}" for o in self.orders)
        try:
            await workflow.start_child_workflow(
                ProtectionWorkflow.run,
                plan,
                id=workflow_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"protect {decision.side.value} {filled} {decision.symbol}: {levels}",
            )
        except WorkflowAlreadyStartedError:
            pass  # started by an earlier pass of this intent (a cancel during protection)
        self.workflow_id = workflow_id
        self._on_change()

    def _closing_order(self, step: Step, quantity: Decimal) -> OrderRequest:
        """A reduce-only MARKET order against the entry, under the step's own client order ID."""
        decision = self._decision
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
