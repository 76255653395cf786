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
    from quantum_trader.states import Attention, IntentState, ProtectionState


def intent_details(
    state: IntentState,
    decision: TradeDecision,
    *,
    order: OrderRequest | None,
    snapshot: OrderSnapshot | None,
    deadline: datetime | None,
    cancel: CancelRequest | None,
    reason: str,
    attention: str | None = None,
    leverage: int | None = None,
    protection: Sequence[ProtectiveOrder] = (),
    protection_placed: Sequence[AlgoSnapshot] = (),
    flatten: OrderSnapshot | None = None,
    protection_workflow_id: str | None = None,
) -> str:
    """An intent's state, its order at the exchange and, for futures, its protection.

    ``attention`` (set while the exchange keeps us from seeing the order) comes first, over
    the state, as it does in the ``TradeState`` search attribute.
    """
    placed = [s.status for s in protection_placed]
    # After a resize, the protection workflow places the new pair itself.
    placed += ["placed by the protection workflow" if protection_workflow_id else "not placed"] * (len(protection) - len(placed))
    return _markdown(
        _title(state, attention, decision.summary()),
        _attention_line(attention),
        f"client order ID: `{order.client_order_id}`" if order is not None else None,
        f"exchange: order `{snapshot.order_id}` {snapshot.status}, filled {snapshot.executed_qty} of {snapshot.orig_qty}" if snapshot is not None else None,
        f"deadline: {deadline.isoformat()}" if deadline is not None else None,
        f"cancel requested: {cancel.reason}" if cancel is not None else None,
        f"leverage: x{leverage}" if leverage is not None else None,
        *(f"{o.label()} `{o.client_algo_id}` {o.order_type} @ {o.trigger_price}: {status}" for o, status in zip(protection, placed)),
        f"flatten order `{flatten.client_order_id}` {flatten.status}, filled {flatten.executed_qty}" if flatten is not None else None,
        f"protection workflow: `{protection_workflow_id}`" if protection_workflow_id is not None else None,
        f"reason: {reason}" if reason else None,
    )


def protection_details(
    state: ProtectionState,
    plan: ProtectionPlan,
    *,
    snapshots: Sequence[AlgoSnapshot],
    close: ClosePositionSignal | None,
    close_snapshot: OrderSnapshot | None,
    reason: str,
    attention: str | None = None,
) -> str:
    """A protection workflow's state, its protective orders and its close order."""
    return _markdown(
        _title(state, attention, f"{plan.entry_side.value} {plan.quantity} {plan.symbol} (intent `{plan.trace_id}`)"),
        _attention_line(attention),
        *(f"{o.label()} `{o.client_algo_id}` {o.order_type} {o.side.value} @ {o.trigger_price}: {s.status}" for o, s in zip(plan.orders, snapshots)),
        f"close requested: {close.reason}" if close is not None else None,
        f"close order `{close_snapshot.client_order_id}` {close_snapshot.status}, filled {close_snapshot.executed_qty}" if close_snapshot is not None else None,
        f"reason: {reason}" if reason else None,
    )


def _title(state: IntentState | ProtectionState, attention: str | None, summary: str) -> str:
    if attention is None:
        return f"**{state.value}** {summary}"
    return f"**{Attention.NEEDS_ATTENTION.value}** ({state.value}) {summary}"


def _attention_line(attention: str | None) -> str | None:
    return f"needs attention: {attention}" if attention is not None else None


def _markdown(title: str, *items: str | None) -> str:
    """The title line, then one bullet per item that is not None."""
    return "\n".join([title, *(f"- {item}" for item in items if item is not None)])
