"""The futures protection saga: what a ``usdm`` intent does once its entry has a fill.

Its stop-loss and take-profit are placed, each under its own deterministic ID; once both
are live a child ProtectionWorkflow (``<trace_id>-oco``) takes over the watch. If one
cannot be placed, the saga compensates: it flattens the position with a reduce-only
MARKET order, then cancels every protective order whose placement was tried, and the
intent ends FAILED ("unprotected position closed"). Deterministic code only.

An entry that fills while it still rests (a LIMIT) is protected at its first fill, not at
its end, and the child is given the entry, to cancel what is left of it before it closes the
position. Each larger fill seen later resizes the pair: the saga sends the child the next
generation of protective orders (the ``resize`` signal), sized to the new fill, and the child
replaces the pair with it. The pair is always sized to the intent's own fill, never more, so
it cannot close another intent's position on the symbol. If the first protection fails, the
entry is cancelled before the flatten.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from workflows.protection import ProtectionWorkflow
from workflows.steps import cause_message, close_position, exchange_step, place_protective_order

with workflow.unsafe.imports_passed_through():
    from activities.futures import FuturesActivities
    from quantum_trader.ids import Step, client_order_id, protection_workflow_id, protective_step
    from quantum_trader.models import (
        AlgoSnapshot,
        CancelProtectionRequest,
        FollowState,
        FuturesApproval,
        Market,
        OrderRequest,
        OrderSnapshot,
        OrderType,
        ProtectionKind,
        ProtectionPlan,
        ProtectiveOrder,
        ResizeProtection,
        Side,
        TradeDecision,
    )
    from quantum_trader.states import IntentState
    from workflows.policies import PLACE_TIMEOUT, RECONCILE_WINDOW


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
        self.compensated = False  # a placement failed and the position was flattened
        self.generation = 0  # how often the pair was resized while the entry rested

    @property
    def quantity(self) -> Decimal:
        """The fill the pair protects (zero before any)."""
        return self.orders[0].quantity if self.orders else Decimal(0)

    def carried(self) -> dict[str, object]:
        """FollowState's protection fields: a resting entry protected before continue-as-new."""
        return {"protection": self.orders, "protection_placed": self.placed, "protection_workflow_id": self.workflow_id,
                "protection_generation": self.generation}

    def restore(self, carried: FollowState) -> None:
        self.orders, self.placed = list(carried.protection), list(carried.protection_placed)
        self.workflow_id, self.generation = carried.protection_workflow_id, carried.protection_generation

    async def protect(self, filled: Decimal, state: IntentState, reason: str) -> tuple[IntentState, str]:
        """Protect ``filled`` (the entry's fill); the intent's end state and reason after it."""
        if self.compensated:
            return state, reason  # its protection failed while it rested: flattened already
        if self.workflow_id is not None:  # protected while the entry rested
            await self.resize(filled)
            return state, f"{reason}; {self._protected_by()}"
        failed = await self._place(filled)
        if failed is not None:
            return failed
        await self._hand_over(filled)
        return state, f"{reason}; {self._protected_by()}" if self.orders else reason

    async def protect_resting(
        self, entry: OrderRequest, filled: Decimal, stop_entry: Callable[[], Awaitable[Decimal]]
    ) -> tuple[IntentState, str] | None:
        """Protect ``filled`` of an entry that still rests: None once protected, else the
        intent's end (``stop_entry`` cancels the entry and answers its final fill, which is
        then flattened)."""
        failed = await self._place(filled, stop_entry)
        if failed is not None:
            return failed
        await self._hand_over(filled, entry=entry)
        return None

    async def resize(self, filled: Decimal) -> None:
        """The entry filled more since its protection started: have the child replace the pair
        with the next generation, sized to ``filled``. A child that has ended (a protective
        order fired, or a close) cancelled the entry and closed what it held: nothing to do."""
        if self.workflow_id is None or not self.orders or filled <= self.quantity:
            return
        decision = self._decision
        self.generation += 1
        self.orders = [
            o.model_copy(update={
                "quantity": filled,
                "client_algo_id": client_order_id(decision.trace_id, protective_step(o.kind), self.generation),
            })
            for o in self.orders
        ]
        self.placed = []
        self._on_change()
        try:
            await workflow.get_external_workflow_handle(self.workflow_id).signal(
                ProtectionWorkflow.resize, ResizeProtection(generation=self.generation, quantity=filled, orders=self.orders)
            )
        except FailureError as error:
            workflow.logger.warning("protection not resized", extra={
                "trace_id": decision.trace_id, "protection_workflow_id": self.workflow_id, "filled": str(filled), "error": str(error)})

    async def _place(self, quantity: Decimal, stop_entry: Callable[[], Awaitable[Decimal]] | None = None) -> tuple[IntentState, str] | None:
        """Place the protective orders for ``quantity``; the intent's end if one could not be."""
        decision = self._decision
        self.orders = [t.for_quantity(decision.trace_id, decision.symbol, quantity) for t in self._futures.protection]
        self.placed = []
        self._on_change()
        for order in self.orders:
            try:
                placed = await place_protective_order(order, timeout=PLACE_TIMEOUT)
            except ActivityError as error:
                return await self._compensate(order, error, quantity, stop_entry)
            self.placed.append(placed.snapshot)
            self._on_change()
        return None

    def _protected_by(self) -> str:
        return "protected by " + " and ".join(f"{o.label()} {o.client_algo_id}" for o in self.orders)

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

    async def _compensate(
        self, failed: ProtectiveOrder, error: ActivityError, filled: Decimal, stop_entry: Callable[[], Awaitable[Decimal]] | None
    ) -> tuple[IntentState, str]:
        """A protective order could not be placed: stop a resting entry, flatten, then cancel
        what was placed."""
        decision = self._decision
        why = f"{failed.label()} not placed: {cause_message(error)}"
        self.compensated = True
        self._on_failure(why)
        workflow.logger.warning("protection failed, flattening", extra={"trace_id": decision.trace_id, "error": why})
        if stop_entry is not None:
            filled = await stop_entry()  # no fill may come after the flatten
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

    async def _hand_over(self, filled: Decimal, entry: OrderRequest | None = None) -> None:
        """Hand the protective pair to the OCO child; it outlives this intent (ABANDON).
        ``entry``: the entry still rests, and the child cancels it before any close."""
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
            entry=entry,
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
