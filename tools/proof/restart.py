"""RESTART: the worker SIGKILLed while its order request is in flight, the Temporal dev
server and Redis SIGKILLed and restarted on their files, an ingress killed between a
workflow start and its ack: every intent completes once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from typing import Any

from quantum_trader import constants, logs
from quantum_trader.states import IntentState
from tools.harness import kill_group
from tools.proof.context import ORDER_PATH, ProofContext, quantum_trader_command, text, until
from tools.proof.report import Evidence


async def check(proof: ProofContext, ev: Evidence) -> None:
    source = proof.source("restart")
    traces: list[str] = []

    # 1. The worker SIGKILLed while its order request is inside the exchange.
    worker_trace = proof.trace("rs-worker")
    fault = await proof.h.paper.arm("latency", path=ORDER_PATH, method="POST", latency_ms=4000, count=1)
    await proof.publish(proof.market(worker_trace, source))
    traces.append(worker_trace)
    await proof.wait_fault_used(fault["id"])
    old, new = await proof.h.restart("worker")
    ev.note(f"worker pid {old} SIGKILLed while POST {ORDER_PATH} for {worker_trace} was in flight; replacement pid {new}")

    # 2. The Temporal dev server SIGKILLed with a LIMIT resting and restarted on its DB;
    #    a decision published while it is down.
    resting, during = proof.trace("rs-temporal-limit"), proof.trace("rs-temporal-down")
    await proof.publish(proof.limit(resting, source, "0.80", ttl=8))
    traces.append(resting)
    await proof.wait_state(resting, IntentState.OPEN)
    old = proof.h.kill("temporal")
    await proof.publish(proof.market(during, source))
    traces.append(during)
    new = await proof.h.wait_replaced("temporal", old)
    proof.h.restarts["temporal"] = proof.h.restarts.get("temporal", 0) + 1
    ev.note(f"temporal pid {old} SIGKILLed with {resting} OPEN (ttl 8s) and {during} published while down; "
            f"restarted on its DB as pid {new}")

    # 3. Redis SIGKILLed right after a publish, and restarted on its AOF; one more published meanwhile.
    #    The results published so far must still be there afterwards.
    await proof.results(traces)
    before, meanwhile = proof.trace("rs-redis-before"), proof.trace("rs-redis-down")
    await proof.publish(proof.market(before, source))
    traces.append(before)
    if proof.h.pid_of("redis") is None:
        ev.note("redis is not supervised by this stack (QT_REDIS_URL): its restart is skipped")
    else:
        old = proof.h.kill("redis")
        publishing = asyncio.create_task(proof.publish(proof.market(meanwhile, source)))
        traces.append(meanwhile)
        new = await proof.h.wait_replaced("redis", old)
        await publishing
        ev.note(f"redis pid {old} SIGKILLed right after {before} was published; {meanwhile} published while it "
                f"was down; restarted on its AOF as pid {new}")

    # 4. An ingress killed between a workflow start and its ack.
    crashed, crash_traces = await crash_an_ingress(proof, source)
    traces += crash_traces
    ev.note(f"ingress consumer {crashed['consumer']} (pid {crashed['pid']}) SIGKILLed itself after starting "
            f"{crashed['trace_id']}, before its ack ({crashed['pending']} entry pending)")

    results = await proof.results(traces)
    orders = await proof.orders_by_client_id()
    entries = await proof.result_entries(traces)
    for trace_id in traces:
        await proof.one_intent(ev, trace_id, results[trace_id], orders, entries)
    worker_result = results[worker_trace]
    ev.require(worker_result.attempts >= 2 and worker_result.state is IntentState.FILLED,
               f"{worker_trace}: placed by attempt {worker_result.attempts} after the kill, order "
               f"{worker_result.exchange_order_id} adopted, not doubled")
    ev.require(results[resting].state is IntentState.EXPIRED,
               f"{resting}: its TTL timer survived the Temporal restart ({results[resting].state.value})")
    settled = await settle_pending(proof, crashed["consumer"])
    skips = await proof.duplicate_skips(crashed["trace_id"], 1)
    ev.require(settled and skips >= 1,
               f"{crashed['trace_id']}: its entry was reclaimed by the supervised ingress, refused as a duplicate "
               f"(DUPLICATE_SKIP x{skips}) and acked; pending now {0 if settled else 'not 0'}")


async def crash_an_ingress(proof: ProofContext, source: str) -> tuple[dict[str, Any], list[str]]:
    """Run an extra ingress that SIGKILLs itself after its first start; feed it decisions
    one at a time until it has taken one (the supervised ingress may take some first)."""
    consumer = f"proof-crash-{proof.run_id}"
    log_path = proof.h.home / "logs" / f"ingress-{consumer}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = proof.h.child_environment(QT_INGRESS_CRASH_AFTER_START="true", QT_INGRESS_CONSUMER=consumer)
    with open(log_path, "ab") as log_file:
        popen = subprocess.Popen([*quantum_trader_command(), "ingress"], stdout=log_file, stderr=subprocess.STDOUT,  # noqa: S603
                                 stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    traces: list[str] = []
    try:
        await until(lambda: _has_consumer(proof, consumer), 60, f"ingress {consumer} reading")
        for attempt in range(10):
            trace_id = proof.trace(f"rs-ingress{attempt}")
            await proof.publish(proof.market(trace_id, source))
            traces.append(trace_id)
            with contextlib.suppress(TimeoutError):
                await until(lambda: popen.poll() is not None, 5, "the crash")
            if popen.poll() is not None:
                break
        if popen.returncode != -signal.SIGKILL:
            raise RuntimeError(f"the crashing ingress did not crash (exit {popen.poll()}); see {log_path}")
        started = [e["trace_id"] for e in logs.entries(log_path.read_text(errors="replace"))
                   if e["msg"].startswith("test hook: killing the ingress") and "trace_id" in e]
        pending = await _pending_of(proof, consumer)
        return {"consumer": consumer, "pid": popen.pid, "trace_id": started[-1], "pending": pending}, traces
    finally:
        if popen.poll() is None:
            kill_group(popen.pid)
            popen.wait(10)


async def _has_consumer(proof: ProofContext, consumer: str) -> bool:
    with contextlib.suppress(Exception):
        rows = await proof.h.redis().xinfo_consumers(constants.DECISION_STREAM, constants.INGRESS_GROUP)
        return any(text(row.get("name")) == consumer for row in rows)
    return False


async def _pending_of(proof: ProofContext, consumer: str) -> int:
    rows = await proof.h.redis_call(lambda r: r.xpending_range(
        constants.DECISION_STREAM, constants.INGRESS_GROUP, "-", "+", 100, consumername=consumer))
    return len(rows)


async def settle_pending(proof: ProofContext, consumer: str, timeout: float = 180.0) -> bool:
    """Wait until the dead consumer has nothing pending (another ingress took it over), then remove it."""
    try:
        await until(lambda: _no_pending(proof, consumer), timeout, f"{consumer}'s entries reclaimed")
    except TimeoutError:
        return False
    with contextlib.suppress(Exception):
        await proof.h.redis().xgroup_delconsumer(constants.DECISION_STREAM, constants.INGRESS_GROUP, consumer)
    return True


async def _no_pending(proof: ProofContext, consumer: str) -> bool:
    return await _pending_of(proof, consumer) == 0
