"""BADINPUT: malformed events land in the dead-letter stream; no workflow, no order."""

from __future__ import annotations

import contextlib

from temporalio.service import RPCError

from quantum_trader import constants
from quantum_trader.ids import client_order_id
from tools.proof.context import ProofContext, text, until
from tools.proof.report import Evidence


async def check(proof: ProofContext, ev: Evidence) -> None:
    source = proof.source("badinput")
    base = proof.trace("bad")
    events: list[tuple[str, dict[str, str]]] = [
        ("missing symbol", {"trace_id": f"{base}-1", "side": "BUY", "position_size_usd": "100", "confidence": "0.9", "source": source}),
        ("side HOLD", {**proof.market(f"{base}-2", source), "side": "HOLD"}),
        ("negative quantity", {**proof.market(f"{base}-3", source), "position_size_usd": "-1"}),
        ("unlisted symbol", {**proof.market(f"{base}-4", source), "symbol": "DOGEUSDT"}),
        ("trace_id with spaces", {**proof.market(f"{base} 5", source)}),
        ("data field that is not JSON", {"data": "{not json"}),
        ("no decision fields at all", {"junk": "x"}),
    ]
    orders_before = await proof.order_keys()
    entry_ids: dict[str, str] = {}
    for what, fields in events:
        (entry_id,) = await proof.publish(fields, valid=False)
        entry_ids[entry_id] = what
    dead = await until(lambda: _dead_letters(proof, set(entry_ids)), 60, "the dead letters", allow_timeout=True) or {}
    for entry_id, what in entry_ids.items():
        reason = dead.get(entry_id)
        ev.require(reason is not None, f"{what}: entry {entry_id} -> "
                                       + (f"{constants.DEAD_LETTER_STREAM} ({reason})" if reason else "no dead letter"))
    workflows = await proof.workflows_of(source)
    for _, fields in events:
        trace_id = fields.get("trace_id")
        if trace_id:
            with contextlib.suppress(RPCError):
                workflows += [(trace_id, "?")] * await proof.runs_of(trace_id)
    orders = await proof.orders_by_client_id()
    own = [o for _, f in events if f.get("trace_id") for o in orders.get(client_order_id(f["trace_id"]), [])]
    new_orders = await proof.orders_since(orders_before)
    ev.require(not workflows, f"workflows started for them: {len(workflows)}")
    ev.require(not own and not new_orders, f"exchange orders for them: {len(own)}; orders accepted during the check: {len(new_orders)}")


async def _dead_letters(proof: ProofContext, entry_ids: set[str]) -> dict[str, str] | None:
    """source_id -> reason for the dead letters of ``entry_ids``, once all are there."""
    found: dict[str, str] = {}
    rows = await proof.h.redis_call(lambda r: r.xrange(constants.DEAD_LETTER_STREAM, "-", "+"))
    for _, fields in rows:
        data = {text(k): text(v) for k, v in fields.items()}
        if data.get("source_id") in entry_ids:
            found[data["source_id"]] = data.get("reason", "")
    return found if set(found) >= entry_ids else None
