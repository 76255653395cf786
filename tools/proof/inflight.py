"""INFLIGHT: the worker SIGKILLed right after an order request whose outcome it never
learns (the exchange holds it before answering), and which the exchange accepts but executes
seconds later ("accept now, execute
later", inside recvWindow + grace). The retry must wait out that request's horizon before
it trusts "no order": exactly one order under the key, adopted by a later attempt.

The paper stack runs with a 1 s grace (the exchange has no queue of its own); this check
injects a delay in the matching engine, so it gives the worker Binance's grace first
(the default ``unknown_outcome_grace_ms``), which needs a stack this proof starts.
"""

from __future__ import annotations

from quantum_trader.ids import client_order_id
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState
from tools.proof.context import ORDER_PATH, ProofContext, until
from tools.proof.report import Evidence

GRACE_VARIABLE = "QT_UNKNOWN_OUTCOME_GRACE_MS"
# Long enough that the next attempt (Temporal times the killed one out after its heartbeat
# timeout) looks before the request executes; shorter than the in-flight horizon, as promised.
EXECUTE_AFTER_MS = 10_000
# How long the request waits at the exchange before it is accepted (inside recvWindow).
HELD_MS = 2_000


async def check(proof: ProofContext, ev: Evidence) -> None:
    harness = proof.h
    source = proof.source("inflight")
    trace_id = proof.trace("if-kill")
    cid = client_order_id(trace_id)
    grace_ms = proof.settings.unknown_outcome_grace_ms
    if harness.set_environment is not None:
        grace_ms = max(grace_ms, Settings.model_fields["unknown_outcome_grace_ms"].default)
        harness.set_environment("worker", {GRACE_VARIABLE: str(grace_ms)})
        old, new = await harness.restart("worker")
        ev.note(f"worker pid {old} replaced by pid {new} with unknown_outcome_grace_ms={grace_ms}")
    horizon_ms = proof.settings.recv_window_ms + grace_ms
    delay_ms = min(EXECUTE_AFTER_MS, horizon_ms - HELD_MS - 1_000)
    try:
        # A marketable LIMIT: it fills when it executes, and its deadline is its TTL, not the MARKET one.
        # The request is held at the exchange before it is accepted: the worker dies not knowing.
        held = await harness.paper.arm("latency", path=ORDER_PATH, method="POST", latency_ms=HELD_MS, count=1)
        await harness.paper.arm("execute_later", path=ORDER_PATH, method="POST", delay_ms=delay_ms, count=1)
        await proof.publish(proof.limit(trace_id, source, "1.05", ttl=90))
        await proof.wait_fault_used(held["id"])
        sent_at = await harness.paper.server_time()
        old, new = await harness.restart("worker")
        ev.note(f"POST {ORDER_PATH} for {trace_id} held {HELD_MS} ms at the exchange, then accepted to execute "
                f"{delay_ms} ms later (horizon {horizon_ms} ms from its stamp); worker pid {old} SIGKILLed right after "
                f"the send, before any answer; replacement pid {new}")
        result = await proof.result(trace_id)
    finally:
        if harness.set_environment is not None:
            # The worker keeps the longer grace until its next restart: only slower, never less safe.
            harness.set_environment("worker", {GRACE_VARIABLE: str(proof.settings.unknown_outcome_grace_ms)})

    async def executed() -> bool:
        return await harness.paper.server_time() > sent_at + HELD_MS + delay_ms + 1_000

    # Count once the held request has executed: a second order would be there by then.
    await until(executed, (HELD_MS + delay_ms) / 1000 + 30, "the held request to execute")
    orders = await proof.orders_by_client_id()
    await proof.one_intent(ev, trace_id, result, orders, await proof.result_entries([trace_id]))
    own = orders.get(cid, [])
    ev.require(
        result.state is IntentState.FILLED and len(own) == 1 and result.exchange_order_id == own[0].get("orderId"),
        f"{trace_id}: {result.state.value} with order {result.exchange_order_id} after {result.attempts} attempt(s); "
        f"the exchange holds {len(own)} order(s) under {cid} once the held request executed",
    )
