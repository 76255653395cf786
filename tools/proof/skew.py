"""SKEW: a worker whose wall clock is off Temporal's (libfaketime) refuses to send, retryably
("clock skew"): its horizons and its send cutoff would be wrong by the skew. The intent
still ends with one order once a worker with a good clock takes the retry.

A worker off the exchange's clock by more than recvWindow refuses to start at all, so the
exchange's clock moves with the skewed worker's: the skew this check is about is Temporal's.

It restarts the stack's worker with its clock moved, so it needs a stack this proof
supervises (not ``--stack``).
"""

from __future__ import annotations

from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from quantum_trader.ids import client_order_id
from quantum_trader.states import IntentState
from tools.harness import LIBFAKETIME, faketime_environment
from tools.proof.context import ProofContext, until
from tools.proof.report import Evidence

# A slow clock: the dangerous side (an attempt's send cutoff falls after Temporal's timeout).
SKEW = "-30s"
SKEW_MS = -30_000
GOOD_CLOCK = {"LD_PRELOAD": "", "FAKETIME": ""}


async def check(proof: ProofContext, ev: Evidence) -> None:
    harness = proof.h
    if harness.set_environment is None or not LIBFAKETIME.exists():
        ev.note("skipped: needs a stack this proof starts (not --stack) and libfaketime")
        return
    source = proof.source("skew")
    trace_id = proof.trace("sk-clock")
    cid = client_order_id(trace_id)
    harness.set_environment("worker", faketime_environment(SKEW))
    try:
        await harness.paper.configure(clock_offset_ms=SKEW_MS)
        old, new = await harness.restart("worker")
        ev.note(f"worker pid {old} replaced by pid {new} with its clock, and the exchange's, at {SKEW} (libfaketime); the only worker")
        await proof.publish(proof.limit(trace_id, source, "1.05", ttl=90))
        refusal = await until(lambda: _refused_or_ended(proof, trace_id), 60, f"{trace_id} refused or ended")
        skewed_orders = (await proof.orders_by_client_id()).get(cid, [])
        ev.require(
            not skewed_orders and "clock skew" in refusal,
            f"{trace_id} on the skewed worker: {len(skewed_orders)} order(s) sent; placement: {refusal[:160]}",
        )
    finally:
        harness.set_environment("worker", GOOD_CLOCK)
        await harness.paper.configure(clock_offset_ms=0)
        old, new = await harness.restart("worker")
    ev.note(f"worker pid {old} replaced by pid {new} with a good clock")
    result = await proof.result(trace_id, timeout=120)
    orders = await proof.orders_by_client_id()
    await proof.one_intent(ev, trace_id, result, orders, await proof.result_entries([trace_id]))
    ev.require(result.state is IntentState.FILLED and len(orders.get(cid, [])) == 1,
               f"{trace_id}: {result.state.value} by attempt {result.attempts}, one order {result.exchange_order_id}")


async def _refused_or_ended(proof: ProofContext, trace_id: str) -> str:
    """The placement's last failure once it mentions the clock, ``ended`` once the intent ended."""
    client = await proof.h.client()
    try:
        description = await client.get_workflow_handle(trace_id).describe()
    except RPCError:
        return ""
    if description.status is not WorkflowExecutionStatus.RUNNING:
        return f"ended {description.status.name} without a refusal"
    failure = _placement_failure(description.raw_description)
    return failure if "clock" in failure else ""


def _placement_failure(raw: Any) -> str:
    for pending in raw.pending_activities:
        if pending.activity_type.name == "place_order" and pending.HasField("last_failure"):
            return str(pending.last_failure.message)
    return ""
