"""CANCEL: a resting LIMIT cancelled by the ``cancel_order`` signal ends CANCELLED and
leaves no open order.
"""

from __future__ import annotations

from quantum_trader.ids import client_order_id
from quantum_trader.models import CancelRequest
from quantum_trader.states import OPEN_ORDER_STATUSES, IntentState
from tools.proof.context import ProofContext
from tools.proof.report import Evidence


async def check(proof: ProofContext, ev: Evidence) -> None:
    source = proof.source("cancel")
    trace_id = proof.trace("cancel")
    await proof.publish(proof.limit(trace_id, source, "0.80", ttl=600))
    status = await proof.wait_state(trace_id, IntentState.OPEN)
    ev.require(status.state is IntentState.OPEN, f"{trace_id}: LIMIT resting at the exchange ({status.state.value}, "
                                                 f"orderId {status.snapshot.order_id if status.snapshot else None})")
    client = await proof.h.client()
    await client.get_workflow_handle(trace_id).signal("cancel_order", CancelRequest(reason="proof: cancel_order signal"))
    ev.note(f"signal cancel_order sent to {trace_id}")
    result = await proof.result(trace_id)
    own = (await proof.orders_by_client_id()).get(client_order_id(trace_id), [])
    open_orders = [o for o in own if o.get("status") in OPEN_ORDER_STATUSES]
    ev.require(result.state is IntentState.CANCELLED, f"{trace_id}: ended {result.state.value} ({result.reason})")
    ev.require(len(own) == 1 and not open_orders,
               f"exchange: {len(own)} order(s) for {client_order_id(trace_id)}, statuses "
               f"{','.join(str(o.get('status')) for o in own) or 'none'}; open: {len(open_orders)}")
    entries = await proof.result_entries([trace_id])
    ev.require(entries[trace_id] == 1, f"{trace_id}: {entries[trace_id]} execution.result entr(ies)")
