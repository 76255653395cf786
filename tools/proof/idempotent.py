"""IDEMPOTENT: lost responses, 5xx and "-1007 after processing" at the exchange: one order
per intent, and no order the intents do not account for.
"""

from __future__ import annotations

from quantum_trader.ids import client_order_id
from quantum_trader.states import IntentState
from tools.proof.context import ORDER_PATH, ProofContext
from tools.proof.report import Evidence

# fault armed for one placement -> the label of the intent that meets it
FAULTS = (("drop_response", "idem-lost"), ("error_5xx", "idem-5xx"), ("unknown_1007_after", "idem-1007"))


async def check(proof: ProofContext, ev: Evidence) -> None:
    source = proof.source("idempotent")
    before = await proof.order_keys()
    traces: dict[str, str] = {}
    for kind, label in FAULTS:
        trace_id = proof.trace(label)
        fault = await proof.h.paper.arm(kind, path=ORDER_PATH, method="POST", count=1)
        await proof.publish(proof.market(trace_id, source))
        await proof.wait_fault_used(fault["id"])
        traces[trace_id] = kind
        ev.note(f"{kind} armed on POST {ORDER_PATH}; met by the first placement of {trace_id}")
    results = await proof.results(traces)
    orders = await proof.orders_by_client_id()
    entries = await proof.result_entries(traces)
    ours = {client_order_id(t) for t in traces}
    new_orders = await proof.orders_since(before)
    for trace_id, kind in traces.items():
        cid = client_order_id(trace_id)
        own = orders.get(cid, [])
        result = results[trace_id]
        ev.require(
            len(own) == 1 and result.state is IntentState.FILLED and result.exchange_order_id == own[0].get("orderId"),
            f"{trace_id} ({kind}): {len(own)} order(s) for {cid} "
            f"(orderId {','.join(str(o.get('orderId')) for o in own) or 'none'}), result {result.state.value} "
            f"orderId {result.exchange_order_id} after {result.attempts} attempt(s)",
        )
        ev.require(entries.get(trace_id) == 1, f"{trace_id}: {entries.get(trace_id)} execution.result entr(ies)")
    strays = [f"{o.get('clientOrderId')}#{o.get('orderId')}" for o in new_orders if str(o.get("clientOrderId")) not in ours]
    ev.require(len(new_orders) == len(traces) and not strays,
               f"orders accepted by the exchange during the check: {len(new_orders)} for {len(traces)} intents"
               + (f"; not from any intent's client order ID: {', '.join(strays[:5])}" if strays else ""))
