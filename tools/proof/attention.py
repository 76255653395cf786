"""ATTENTION: the exchange refuses every lookup of a resting LIMIT with -2015 (a revoked key,
or this host's IP no longer whitelisted). The follow backs off instead of spinning: the
intent shows TradeState NEEDS_ATTENTION naming the order, its history stays small, and once
the key works again the follow sees the order (filled meanwhile) and the intent ends FILLED.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.common import SearchAttributeKey

from quantum_trader.ids import client_order_id
from quantum_trader.states import Attention, IntentState, OrderStatus
from tools.proof.context import ORDER_PATH, ProofContext, until
from tools.proof.report import Evidence

# Its own symbol: the check moves its price to fill the order.
SYMBOL = "XRPUSDT"
FAULT_COUNT = 1_000_000  # permanent in effect; counted, so the refused lookups are known
TRADE_STATE = SearchAttributeKey.for_keyword("TradeState")
# A watch fails after about 15 s of refusals (its retry policy); then the workflow says so.
ATTENTION_TIMEOUT = 35.0
# Events a backing-off follow may add meanwhile (about ten); a spinning one adds them every second.
HISTORY_BOUND = 50


async def check(proof: ProofContext, ev: Evidence) -> None:
    source = proof.source("attention")
    trace_id = proof.trace("at-revoked")
    cid = client_order_id(trace_id)
    fields = proof.limit(trace_id, source, "0.80", ttl=180, symbol=SYMBOL)
    await proof.publish(fields)
    await proof.wait_state(trace_id, IntentState.OPEN)
    handle = (await proof.h.client()).get_workflow_handle(trace_id)  # its latest run

    client = await proof.h.client()

    async def history() -> int:
        """Events over the intent's runs (continue-as-new starts a fresh history)."""
        runs = [e.run_id async for e in client.list_workflows(f'WorkflowId="{trace_id}"')]
        total = 0
        for run_id in set(runs) | {(await handle.describe()).run_id}:
            described = await client.get_workflow_handle(trace_id, run_id=run_id).describe()
            total += int(described.raw_description.workflow_execution_info.history_length)
        return total

    async def trade_state() -> str | None:
        return (await handle.describe()).typed_search_attributes.get(TRADE_STATE)

    before = await history()
    fault = await proof.h.paper.arm("key_revoked", path=ORDER_PATH, method="GET", count=FAULT_COUNT)
    armed = time.monotonic()

    async def attention() -> bool:
        return await trade_state() == Attention.NEEDS_ATTENTION.value

    shown = await until(attention, ATTENTION_TIMEOUT, "NEEDS_ATTENTION", allow_timeout=True)
    waited = time.monotonic() - armed
    grown = await history() - before
    details = (await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)).current_details
    ev.note(f"{trace_id} OPEN (order {cid}); every GET {ORDER_PATH} answered 401 -2015 for {waited:.0f} s")
    ev.require(bool(shown) and cid in details and "-2015" in details,
               f"{trace_id}: TradeState {await trade_state()} after {waited:.0f} s; details name the order and -2015: "
               f"{cid in details and '-2015' in details}")
    lookups = await _refused(proof, fault)
    ev.require(grown < HISTORY_BOUND, f"{trace_id}: history grew by {grown} event(s) over its run(s) in {waited:.0f} s "
                                      f"of refusals, {lookups} lookup(s) refused (bound {HISTORY_BOUND} events)")

    # The order fills while the follow cannot see it; once lookups work again it must.
    price = proof.price(SYMBOL)
    await proof.h.paper.set_price(SYMBOL, (Decimal(fields["price"]) * Decimal("0.99")).quantize(Decimal("0.0001")))
    await proof.h.paper.clear_faults(fault["id"])
    ev.note(f"{SYMBOL} moved below the order's price, then the fault cleared")
    try:
        result = await proof.result(trace_id, timeout=90)
    finally:
        await proof.h.paper.set_price(SYMBOL, price, hold=False)
    orders = await proof.orders_by_client_id()
    await proof.one_intent(ev, trace_id, result, orders, await proof.result_entries([trace_id]),
                           expect={IntentState.FILLED})
    statuses = [o.get("status") for o in orders.get(cid, [])]
    ev.require(statuses == [OrderStatus.FILLED.value], f"{trace_id}: its order at the exchange: {statuses}")


async def _refused(proof: ProofContext, fault: dict[str, Any]) -> int:
    """How many requests the armed fault has answered so far."""
    left = next((f["remaining"] for f in await proof.h.paper.faults() if f["id"] == fault["id"]), FAULT_COUNT)
    return FAULT_COUNT - int(left or 0)
