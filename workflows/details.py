"""The Markdown each workflow shows as its current details in the Web UI (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from quantum_trader.models import (
        AlgoSnapshot,
        CancelRequest,
        ClosePositionSignal,
        OrderRequest,
        OrderSnapshot,
        ProtectionPlan,
        ProtectiveOrder,
        TradeDecision,
    )
    from quantum_trader.states import IntentState, ProtectionState


def intent_details(
    state: IntentState,
    decision: TradeDecision,
    *,
    order: OrderRequest | None,
    snapshot: OrderSnapshot | None,
    deadline: datetime | None,
    cancel: CancelRequest | None,
    reason: str,
    leverage: int | None = None,
    protection: Sequence[ProtectiveOrder] = (),
    protection_placed: Sequence[AlgoSnapshot] = (),
    flatten: OrderSnapshot | None = None,
    protection_workflow_id: str | None = None,
) -> str:
    """An intent's state, its order at the exchange and, for futures, its protection."""
    lines = [f"**{state.value}** {decision.summary()}"]
    if order is not None:
        lines.append(f"- client order ID: `{order.client_order_id}`")
    if snapshot is not None:
        lines.append(f"- exchange: order `{snapshot.order_id}` {snapshot.status}, filled {snapshot.executed_qty} of {snapshot.orig_qty}")
    if deadline is not None:
        lines.append(f"- deadline: {deadline.isoformat()}")
    if cancel is not None:
        lines.append(f"- cancel requested: {cancel.reason}")
    if leverage is not None:
        lines.append(f"- leverage: x{leverage}")
    for index, protective in enumerate(protection):
        placed = protection_placed[index].status if index < len(protection_placed) else "not placed"
        lines.append(f"- {protective.label()} `{protective.client_algo_id}` {protective.order_type} @ {protective.trigger_price}: {placed}")
    if flatten is not None:
        lines.append(f"- flatten order `{flatten.client_order_id}` {flatten.status}, filled {flatten.executed_qty}")
    if protection_workflow_id is not None:
        lines.append(f"- protection workflow: `{protection_workflow_id}`")
    if reason:
        lines.append(f"- reason: {reason}")
    return "\n".join(lines)


def protection_details(
    state: ProtectionState,
    plan: ProtectionPlan,
    *,
    snapshots: Sequence[AlgoSnapshot],
    close: ClosePositionSignal | None,
    close_snapshot: OrderSnapshot | None,
    reason: str,
) -> str:
    """A protection workflow's state, its protective orders and its close order."""
    lines = [f"**{state}** {plan.entry_side.value} {plan.quantity} {plan.symbol} (intent `{plan.trace_id}`)"]
    for order, snapshot in zip(plan.orders, snapshots):
        lines.append(f"- {order.label()} `{order.client_algo_id}` {order.order_type} {order.side.value} @ {order.trigger_price}: {snapshot.status}")
    if close is not None:
        lines.append(f"- close requested: {close.reason}")
    if close_snapshot is not None:
        lines.append(f"- close order `{close_snapshot.client_order_id}` {close_snapshot.status}, filled {close_snapshot.executed_qty}")
    if reason:
        lines.append(f"- reason: {reason}")
    return "\n".join(lines)
