"""DEDUP: two identical decisions, then 50 copies at once: one workflow, one exchange
order, the copies logged ``DUPLICATE_SKIP``.
"""

from __future__ import annotations

from quantum_trader import constants
from quantum_trader.ids import client_order_id
from tools.proof.context import ProofContext
from tools.proof.report import Evidence


async def check(proof: ProofContext, ev: Evidence) -> None:
    source = proof.source("dedup")
    pair, fifty = proof.trace("dup"), proof.trace("dup50")
    await proof.publish(proof.market(pair, source), copies=1)
    await proof.publish(proof.market(pair, source), copies=1)
    ev.note(f"XADD {constants.DECISION_STREAM} * trace_id={pair} ... (twice, identical flat fields)")
    await proof.publish(proof.market(fifty, source), copies=50)
    ev.note(f"XADD {constants.DECISION_STREAM} * trace_id={fifty} ... (50 copies in one pipeline)")
    rows = await proof.settled_workflows_of(source, at_least=2)
    per_decision = {pair: 0, fifty: 0}
    for workflow_id, _ in rows:
        for trace_id in per_decision:
            if workflow_id.startswith(trace_id):
                per_decision[trace_id] += 1
    orders = await proof.orders_by_client_id()
    results = await proof.result_entries(per_decision)
    for trace_id, copies in ((pair, 2), (fifty, 50)):
        cid = client_order_id(trace_id)
        own = orders.get(cid, [])
        ev.require(per_decision[trace_id] == 1, f"{trace_id}: {copies} copies -> {per_decision[trace_id]} workflow(s)")
        ev.require(len(own) == 1, f"{trace_id}: {len(own)} exchange order(s) for {cid} "
                                  f"(orderId {','.join(str(o.get('orderId')) for o in own) or 'none'})")
        ev.require(results.get(trace_id) == 1, f"{trace_id}: {results.get(trace_id)} execution.result entr(ies)")
        skips = await proof.duplicate_skips(trace_id, copies - 1)
        ev.require(skips >= copies - 1, f"{trace_id}: DUPLICATE_SKIP logged {skips} time(s) for {copies - 1} extra copies")
