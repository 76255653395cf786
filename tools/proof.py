"""``quantum-trader proof``: the original proof harness's verdicts, reproduced and extended.

It injects decisions through the Redis stream (flat fields, as the original harness did),
breaks the stack on purpose, and prints one block of evidence per check and a verdict line::

    DEDUP=PASS | TERMINAL=PASS | RESTART=PASS | IDEMPOTENT=PASS | CANCEL=PASS | BADINPUT=PASS | OVERALL=PASS

- DEDUP: two identical decisions, then 50 copies at once: one workflow, one exchange
  order, the copies logged ``DUPLICATE_SKIP``.
- TERMINAL: every injected intent ends in a terminal state within its deadline; no
  workflow of the run stays open.
- RESTART: the worker SIGKILLed while its order request is in flight, the Temporal dev
  server and Redis SIGKILLed and restarted on their files, an ingress killed between a
  workflow start and its ack: every intent completes once.
- IDEMPOTENT: lost responses, 5xx and "-1007 after processing" at the exchange: one order
  per intent, and no order the intents do not account for.
- CANCEL: a resting LIMIT cancelled by the ``cancel_order`` signal ends CANCELLED and
  leaves no open order.
- BADINPUT: malformed events land in the dead-letter stream; no workflow, no order.

Each check's decisions carry their own ``source`` (a search attribute), so whatever
workflows a decision produced are found by it, whatever their IDs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from quantum_trader import constants, logs
from quantum_trader.ids import client_order_id
from quantum_trader.models import CancelRequest, IntentResult, IntentStatus
from tools.audit import execution_status, read_results
from quantum_trader.settings import Settings
from quantum_trader.states import OPEN_ORDER_STATUSES, TERMINAL_STATES, IntentState
from tools.harness import Harness, add_stack_arguments, kill_group, stack_from_args

CHECKS = ("DEDUP", "TERMINAL", "RESTART", "IDEMPOTENT", "CANCEL", "BADINPUT")
ORDER_PATH = "/api/v3/order"
# A deadline timer fires in the workflow; acting on it needs a worker to pick the task up.
TERMINAL_GRACE_SECONDS = 30.0
RESULT_TIMEOUT_SECONDS = 300.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_stack_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON (stdout carries only that)")
    parser.add_argument("--check", action="append", choices=CHECKS, metavar="NAME",
                        help=f"run only this check (repeatable; one of {', '.join(CHECKS)})")


def run(args: argparse.Namespace, settings: Settings) -> int:
    logs.configure(settings.model_copy(update={"log_level": "WARNING"}), "proof")
    out = sys.stderr if args.json else sys.stdout
    return asyncio.run(_main(args, settings, out))


async def _main(args: argparse.Namespace, settings: Settings, out: Any) -> int:
    started = time.monotonic()
    async with stack_from_args(args, settings, out=sys.stderr) as harness:
        proof = Proof(harness, out=None if args.json else out)
        report = await proof.run(args.check or list(CHECKS))
    report.seconds = round(time.monotonic() - started, 1)
    if args.json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        out.write(f"\n{report.verdict()}\n(proof took {report.seconds:.0f} s)\n")
    sys.stdout.flush()
    return 0 if report.ok else 1


# --- results ------------------------------------------------------------------------------


@dataclass
class CheckResult:
    name: str
    passed: bool
    evidence: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def word(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def render(self) -> str:
        lines = [f"{self.name}: {self.word}  ({self.seconds:.1f} s)"]
        lines += [f"  {line}" for line in self.evidence]
        return "\n".join(lines)


@dataclass
class Report:
    checks: dict[str, CheckResult]
    run: str
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks.values())

    def verdict(self) -> str:
        parts = [f"{name}={self.checks[name].word}" for name in CHECKS if name in self.checks]
        return " | ".join([*parts, f"OVERALL={'PASS' if self.ok else 'FAIL'}"])

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": "PASS" if self.ok else "FAIL",
            "verdict": self.verdict(),
            "run": self.run,
            "seconds": self.seconds,
            "checks": {
                name: {"result": check.word, "seconds": round(check.seconds, 1), "evidence": check.evidence}
                for name, check in self.checks.items()
            },
        }


class Evidence:
    """Collects evidence lines and the conditions a check requires."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.failures: list[str] = []

    def note(self, line: str) -> None:
        self.lines.append(line)

    def require(self, condition: bool, line: str) -> bool:
        self.lines.append(("ok    " if condition else "FAIL  ") + line)
        if not condition:
            self.failures.append(line)
        return condition

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class Injected:
    trace_id: str
    fields: dict[str, str]
    deadline_seconds: float | None  # None: not expected to start a workflow


# --- the proof ----------------------------------------------------------------------------


class Proof:
    def __init__(self, harness: Harness, out: Any | None = sys.stdout, *, result_timeout: float = RESULT_TIMEOUT_SECONDS,
                 terminal_grace: float = TERMINAL_GRACE_SECONDS) -> None:
        self.h = harness
        self.out = out
        self.run_id = secrets.token_hex(3)
        self.injected: dict[str, Injected] = {}
        self.sources: list[str] = []
        self.result_timeout = result_timeout
        self.terminal_grace = terminal_grace
        self._prices: dict[str, Decimal] = {}

    @property
    def settings(self) -> Settings:
        return self.h.settings

    async def run(self, names: Iterable[str]) -> Report:
        wanted = [name for name in CHECKS if name in set(names)]
        bodies: dict[str, Callable[[Evidence], Awaitable[None]]] = {
            "DEDUP": self.check_dedup,
            "RESTART": self.check_restart,
            "IDEMPOTENT": self.check_idempotent,
            "CANCEL": self.check_cancel,
            "BADINPUT": self.check_badinput,
        }
        results: dict[str, CheckResult] = {}
        await self._prepare()
        if "TERMINAL" in wanted:
            # Its own intents go first, so the expiring LIMIT runs while the others do.
            await self.terminal_setup()
        for name in wanted:
            if name != "TERMINAL":
                results[name] = await self._run_check(name, bodies[name])
        if "TERMINAL" in wanted:
            results["TERMINAL"] = await self._run_check("TERMINAL", self.check_terminal)
        return Report({name: results[name] for name in CHECKS if name in results}, run=f"proof-{self.run_id}")

    async def _run_check(self, name: str, body: Callable[[Evidence], Awaitable[None]]) -> CheckResult:
        evidence = Evidence()
        started = time.monotonic()
        try:
            await body(evidence)
        except Exception as error:  # noqa: BLE001 - a check that cannot finish has failed
            evidence.require(False, f"check could not finish: {type(error).__name__}: {error}")
        finally:
            with contextlib.suppress(Exception):
                await self.h.paper.clear_faults()
        result = CheckResult(name, evidence.passed, evidence.lines, time.monotonic() - started)
        if self.out is not None:
            self.out.write(result.render() + "\n\n")
            self.out.flush()
        return result

    async def _prepare(self) -> None:
        await self.h.paper.clear_faults()
        self._prices = {symbol: Decimal(price) for symbol, price in (await self.h.paper.prices()).items()}
        if self.out is not None:
            self.out.write(f"proof run proof-{self.run_id} against {self.settings.temporal_address} "
                           f"(Redis {self.settings.redis_url}, exchange {self.h.exchange_url})\n\n")

    # --- decisions ------------------------------------------------------------------------

    def source(self, check: str) -> str:
        name = f"proof-{self.run_id}-{check}"
        if name not in self.sources:
            self.sources.append(name)
        return name

    def trace(self, label: str) -> str:
        return f"proof-{label}-{self.run_id}{secrets.token_hex(2)}"

    def market(self, trace_id: str, source: str, **extra: str) -> dict[str, str]:
        return {"trace_id": trace_id, "symbol": "BTCUSDT", "side": "BUY", "order_type": "MARKET",
                "position_size_usd": "100", "confidence": "0.9", "source": source, **extra}

    def limit(self, trace_id: str, source: str, factor: str, ttl: int, symbol: str = "ETHUSDT") -> dict[str, str]:
        price = (self._prices[symbol] * Decimal(factor)).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        return {"trace_id": trace_id, "symbol": symbol, "side": "BUY", "order_type": "LIMIT", "position_size_usd": "100",
                "price": str(price), "ttl_seconds": str(ttl), "confidence": "0.9", "source": source}

    def deadline_of(self, fields: dict[str, str]) -> float:
        if fields.get("order_type") == "LIMIT":
            ttl = int(fields.get("ttl_seconds") or self.settings.limit_default_ttl_seconds)
            return ttl + self.settings.limit_deadline_margin_seconds
        return float(self.settings.market_deadline_seconds)

    async def publish(self, fields: dict[str, str], *, copies: int = 1, valid: bool = True) -> list[str]:
        """XADD ``fields`` ``copies`` times in one round trip; returns the entry IDs."""
        trace_id = fields.get("trace_id", "")
        if trace_id:
            self.injected[trace_id] = Injected(trace_id, fields, self.deadline_of(fields) if valid else None)

        async def xadd(redis: Any) -> list[str]:
            async with redis.pipeline(transaction=False) as pipe:
                for _ in range(copies):
                    pipe.xadd(constants.DECISION_STREAM, fields)
                return [_text(entry) for entry in await pipe.execute()]

        return await self.h.redis_call(xadd)

    # --- reading outcomes -------------------------------------------------------------------

    async def result(self, trace_id: str, timeout: float | None = None) -> IntentResult:
        """The intent's result once its workflow has completed (retrying through restarts)."""
        client = await self.h.client()
        handle = client.get_workflow_handle(trace_id, result_type=IntentResult)
        deadline = time.monotonic() + (timeout or self.result_timeout)
        while True:
            try:
                description = await handle.describe()
                if description.status is not WorkflowExecutionStatus.RUNNING:
                    return await handle.result()
            except RPCError:
                pass  # not started yet, or Temporal is restarting
            if time.monotonic() > deadline:
                raise TimeoutError(f"{trace_id} did not end within {timeout or self.result_timeout:.0f}s")
            await asyncio.sleep(0.3)

    async def results(self, trace_ids: Iterable[str], timeout: float | None = None) -> dict[str, IntentResult]:
        ids = list(trace_ids)
        values = await asyncio.gather(*(self.result(t, timeout) for t in ids))
        return dict(zip(ids, values))

    async def workflows_of(self, source: str) -> list[tuple[str, str]]:
        """(workflow ID, status) of every workflow whose decision carried ``source``."""
        client = await self.h.client()
        rows = []
        async for execution in client.list_workflows(f'{constants.SA_SOURCE}="{source}"'):
            rows.append((execution.id, execution_status(execution)))
        return rows

    async def settled_workflows_of(self, source: str, at_least: int, timeout: float | None = None) -> list[tuple[str, str]]:
        """Wait until ``source`` has at least ``at_least`` workflows and none is running."""
        deadline = time.monotonic() + (timeout or self.result_timeout)
        while True:
            with contextlib.suppress(RPCError):
                rows = await self.workflows_of(source)
                if len(rows) >= at_least and all(status != "RUNNING" for _, status in rows):
                    return rows
            if time.monotonic() > deadline:
                raise TimeoutError(f"workflows of {source} still running or missing after {timeout or self.result_timeout:.0f}s")
            await asyncio.sleep(0.5)

    async def runs_of(self, trace_id: str) -> int:
        client = await self.h.client()
        return (await client.count_workflows(f'WorkflowId="{trace_id}"')).count

    async def orders_by_client_id(self) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for order in await self.h.paper.orders():
            grouped.setdefault(str(order.get("clientOrderId")), []).append(order)
        return grouped

    async def order_keys(self) -> set[tuple[str, int]]:
        return {(str(o.get("market")), int(o.get("orderId") or 0)) for o in await self.h.paper.orders()}

    async def result_entries(self, trace_ids: Iterable[str]) -> dict[str, int]:
        wanted = set(trace_ids)
        rows = await self.h.redis_call(lambda redis: read_results(redis, self.settings.result_stream, wanted))
        counts = dict.fromkeys(wanted, 0)
        for row in rows:
            counts[row.trace_id] += 1
        return counts

    async def duplicate_skips(self, trace_id: str, at_least: int, timeout: float = 30.0) -> int:
        """``DUPLICATE_SKIP trace_id=<trace_id>`` lines in the ingress log(s)."""
        pattern = re.compile(rf"DUPLICATE_SKIP trace_id={re.escape(trace_id)}\b")
        deadline = time.monotonic() + timeout
        while True:
            found = 0
            for path in (self.h.home / "logs").glob("ingress*.log"):
                with contextlib.suppress(OSError):
                    found += len(pattern.findall(path.read_text(errors="replace")))
            if found >= at_least or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.3)

    async def status(self, trace_id: str) -> IntentStatus | None:
        client = await self.h.client()
        with contextlib.suppress(RPCError):
            return await client.get_workflow_handle(trace_id).query("status", result_type=IntentStatus)
        return None

    async def wait_state(self, trace_id: str, state: IntentState, timeout: float = 120.0) -> IntentStatus:
        deadline = time.monotonic() + timeout
        while True:
            status = await self.status(trace_id)
            if status is not None and (status.state is state or status.finished):
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"{trace_id} not {state.value} within {timeout:.0f}s")
            await asyncio.sleep(0.3)

    async def wait_fault_used(self, fault_id: str, timeout: float = 120.0) -> None:
        """Wait until an armed ``count=1`` fault has met its request."""
        deadline = time.monotonic() + timeout
        while True:
            live = {f["id"]: f for f in await self.h.paper.faults()}
            if fault_id not in live or (live[fault_id].get("remaining") or 0) <= 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"no request met fault {fault_id} within {timeout:.0f}s")
            await asyncio.sleep(0.05)

    async def one_intent(self, ev: Evidence, trace_id: str, result: IntentResult, orders: dict[str, list[dict[str, Any]]],
                         results: dict[str, int], expect: set[IntentState] | None = None) -> None:
        """The common promise: one run, one result entry, at most one order, in a terminal state."""
        cid = client_order_id(trace_id)
        own = orders.get(cid, [])
        runs = await self.runs_of(trace_id)
        wanted = expect or set(TERMINAL_STATES)
        ids = ",".join(str(o.get("orderId")) for o in own) or "none"
        ev.require(
            runs == 1 and results.get(trace_id) == 1 and len(own) <= 1 and result.state in wanted,
            f"{trace_id}: {result.state.value}, runs={runs}, result entries={results.get(trace_id)}, "
            f"orders for {cid}={len(own)} (orderId {ids}), attempts={result.attempts}",
        )

    # --- DEDUP --------------------------------------------------------------------------------

    async def check_dedup(self, ev: Evidence) -> None:
        source = self.source("dedup")
        pair, fifty = self.trace("dup"), self.trace("dup50")
        await self.publish(self.market(pair, source), copies=1)
        await self.publish(self.market(pair, source), copies=1)
        ev.note(f"XADD {constants.DECISION_STREAM} * trace_id={pair} ... (twice, identical flat fields)")
        await self.publish(self.market(fifty, source), copies=50)
        ev.note(f"XADD {constants.DECISION_STREAM} * trace_id={fifty} ... (50 copies in one pipeline)")
        rows = await self.settled_workflows_of(source, at_least=2)
        per_decision = {pair: 0, fifty: 0}
        for workflow_id, _ in rows:
            for trace_id in per_decision:
                if workflow_id.startswith(trace_id):
                    per_decision[trace_id] += 1
        orders = await self.orders_by_client_id()
        results = await self.result_entries(per_decision)
        for trace_id, copies in ((pair, 2), (fifty, 50)):
            cid = client_order_id(trace_id)
            own = orders.get(cid, [])
            ev.require(per_decision[trace_id] == 1, f"{trace_id}: {copies} copies -> {per_decision[trace_id]} workflow(s)")
            ev.require(len(own) == 1, f"{trace_id}: {len(own)} exchange order(s) for {cid} "
                                      f"(orderId {','.join(str(o.get('orderId')) for o in own) or 'none'})")
            ev.require(results.get(trace_id) == 1, f"{trace_id}: {results.get(trace_id)} execution.result entr(ies)")
            skips = await self.duplicate_skips(trace_id, copies - 1)
            ev.require(skips >= copies - 1, f"{trace_id}: DUPLICATE_SKIP logged {skips} time(s) for {copies - 1} extra copies")

    # --- TERMINAL -------------------------------------------------------------------------------

    async def terminal_setup(self) -> None:
        source = self.source("terminal")
        self._terminal = {
            self.trace("term-mkt"): self.market("", source),
            self.trace("term-lowconf"): self.market("", source, confidence="0.2"),
            self.trace("term-expire"): self.limit("", source, "0.80", ttl=3),
            self.trace("term-lmtfill"): self.limit("", source, "1.02", ttl=60),
        }
        for trace_id, fields in self._terminal.items():
            fields["trace_id"] = trace_id
            await self.publish(fields)

    async def check_terminal(self, ev: Evidence) -> None:
        expected = {"term-mkt": IntentState.FILLED, "term-lowconf": IntentState.REJECTED,
                    "term-expire": IntentState.EXPIRED, "term-lmtfill": IntentState.FILLED}
        client = await self.h.client()
        valid = {t: i for t, i in self.injected.items() if i.deadline_seconds is not None}
        longest = max((i.deadline_seconds or 0 for i in valid.values()), default=0)
        bound = min(self.result_timeout, longest + self.terminal_grace)
        ended: dict[str, IntentResult] = {}
        open_ids: list[str] = []
        for trace_id in sorted(valid):
            try:
                ended[trace_id] = await self.result(trace_id, timeout=bound)
            except TimeoutError:
                open_ids.append(trace_id)
                bound = 1.0  # the longest deadline has passed already
        for trace_id, fields in getattr(self, "_terminal", {}).items():
            kind = trace_id.split("-")[2]
            got = ended.get(trace_id)
            ev.require(got is not None and got.state is expected[f"term-{kind}"],
                       f"{trace_id} ({fields['order_type']}{' conf=' + fields['confidence'] if kind == 'lowconf' else ''}"
                       f"{' ttl=' + fields['ttl_seconds'] + 's' if 'ttl_seconds' in fields else ''}): "
                       f"{got.state.value if got else 'not ended'} (expected {expected[f'term-{kind}'].value})")
        late = []
        states: dict[str, int] = {}
        for trace_id, result in ended.items():
            states[result.state.value] = states.get(result.state.value, 0) + 1
            took = (result.ended_at - result.started_at).total_seconds()
            if took > (valid[trace_id].deadline_seconds or 0) + self.terminal_grace:
                late.append(f"{trace_id} took {took:.0f}s")
        longest_taken = max(((r.ended_at - r.started_at).total_seconds() for r in ended.values()), default=0.0)
        ev.require(not open_ids, f"{len(ended)} of {len(valid)} injected intents ended: "
                                 + ", ".join(f"{k}={v}" for k, v in sorted(states.items()))
                                 + (f"; not ended: {', '.join(open_ids[:10])}" if open_ids else ""))
        ev.require(all(r.state in TERMINAL_STATES for r in ended.values()), "every ended intent is in a terminal state")
        ev.require(not late, f"each ended within its deadline (+{self.terminal_grace:.0f}s for the timer's task); "
                             f"slowest took {longest_taken:.1f}s" + (f"; late: {', '.join(late[:5])}" if late else ""))
        query = " OR ".join(f'{constants.SA_SOURCE}="{s}"' for s in self.sources)
        running = (await client.count_workflows(f'({query}) AND ExecutionStatus="Running"')).count if self.sources else 0
        ev.require(running == 0 and not open_ids,
                   f"workflows of this run still open: {running} in visibility, {len(open_ids)} past their deadline")

    # --- RESTART --------------------------------------------------------------------------------

    async def check_restart(self, ev: Evidence) -> None:
        source = self.source("restart")
        traces: list[str] = []

        # 1. The worker SIGKILLed while its order request is inside the exchange.
        worker_trace = self.trace("rs-worker")
        fault = await self.h.paper.arm("latency", path=ORDER_PATH, method="POST", latency_ms=4000, count=1)
        await self.publish(self.market(worker_trace, source))
        traces.append(worker_trace)
        await self.wait_fault_used(fault["id"])
        old, new = await self.h.restart("worker")
        ev.note(f"worker pid {old} SIGKILLed while POST {ORDER_PATH} for {worker_trace} was in flight; replacement pid {new}")

        # 2. The Temporal dev server SIGKILLed with a LIMIT resting and restarted on its DB;
        #    a decision published while it is down.
        resting, during = self.trace("rs-temporal-limit"), self.trace("rs-temporal-down")
        await self.publish(self.limit(resting, source, "0.80", ttl=8))
        traces.append(resting)
        await self.wait_state(resting, IntentState.OPEN)
        old = self.h.pid_of("temporal")
        assert old is not None
        kill_group(old)
        await self.publish(self.market(during, source))
        traces.append(during)
        new = await self.h.wait_replaced("temporal", old)
        self.h.restarts["temporal"] = self.h.restarts.get("temporal", 0) + 1
        ev.note(f"temporal pid {old} SIGKILLed with {resting} OPEN (ttl 8s) and {during} published while down; "
                f"restarted on its DB as pid {new}")

        # 3. Redis SIGKILLed right after a publish, and restarted on its AOF; one more published meanwhile.
        #    The results published so far must still be there afterwards.
        await self.results(traces)
        before, meanwhile = self.trace("rs-redis-before"), self.trace("rs-redis-down")
        await self.publish(self.market(before, source))
        traces.append(before)
        old = self.h.pid_of("redis")
        if old is None:
            ev.note("redis is not supervised by this stack (QT_REDIS_URL): its restart is skipped")
        else:
            kill_group(old)
            publishing = asyncio.create_task(self.publish(self.market(meanwhile, source)))
            traces.append(meanwhile)
            new = await self.h.wait_replaced("redis", old)
            await publishing
            ev.note(f"redis pid {old} SIGKILLed right after {before} was published; {meanwhile} published while it "
                    f"was down; restarted on its AOF as pid {new}")

        # 4. An ingress killed between a workflow start and its ack.
        crashed, crash_traces = await self.crash_an_ingress(source)
        traces += crash_traces
        ev.note(f"ingress consumer {crashed['consumer']} (pid {crashed['pid']}) SIGKILLed itself after starting "
                f"{crashed['trace_id']}, before its ack ({crashed['pending']} entry pending)")

        results = await self.results(traces)
        orders = await self.orders_by_client_id()
        entries = await self.result_entries(traces)
        for trace_id in traces:
            await self.one_intent(ev, trace_id, results[trace_id], orders, entries)
        worker_result = results[worker_trace]
        ev.require(worker_result.attempts >= 2 and worker_result.state is IntentState.FILLED,
                   f"{worker_trace}: placed by attempt {worker_result.attempts} after the kill, order "
                   f"{worker_result.exchange_order_id} adopted, not doubled")
        ev.require(results[resting].state is IntentState.EXPIRED,
                   f"{resting}: its TTL timer survived the Temporal restart ({results[resting].state.value})")
        settled = await self.settle_pending(crashed["consumer"])
        skips = await self.duplicate_skips(crashed["trace_id"], 1)
        ev.require(settled and skips >= 1,
                   f"{crashed['trace_id']}: its entry was reclaimed by the supervised ingress, refused as a duplicate "
                   f"(DUPLICATE_SKIP x{skips}) and acked; pending now {0 if settled else 'not 0'}")

    async def crash_an_ingress(self, source: str) -> tuple[dict[str, Any], list[str]]:
        """Run an extra ingress that SIGKILLs itself after its first start; feed it decisions
        one at a time until it has taken one (the supervised ingress may take some first)."""
        consumer = f"proof-crash-{self.run_id}"
        log_path = self.h.home / "logs" / f"ingress-{consumer}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = self.h.child_environment(QT_INGRESS_CRASH_AFTER_START="true", QT_INGRESS_CONSUMER=consumer)
        with open(log_path, "ab") as log_file:
            popen = subprocess.Popen([*_quantum_trader(), "ingress"], stdout=log_file, stderr=subprocess.STDOUT,  # noqa: S603
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        traces: list[str] = []
        try:
            await _until(lambda: self._has_consumer(consumer), 60, f"ingress {consumer} reading")
            for attempt in range(10):
                trace_id = self.trace(f"rs-ingress{attempt}")
                await self.publish(self.market(trace_id, source))
                traces.append(trace_id)
                with contextlib.suppress(TimeoutError):
                    await _until(lambda: popen.poll() is not None, 5, "the crash")
                if popen.poll() is not None:
                    break
            if popen.returncode != -signal.SIGKILL:
                raise RuntimeError(f"the crashing ingress did not crash (exit {popen.poll()}); see {log_path}")
            started = re.findall(r"after starting trace_id=(\S+)", log_path.read_text(errors="replace"))
            pending = await self._pending_of(consumer)
            return {"consumer": consumer, "pid": popen.pid, "trace_id": started[-1], "pending": pending}, traces
        finally:
            if popen.poll() is None:
                kill_group(popen.pid)
                popen.wait(10)

    async def _has_consumer(self, consumer: str) -> bool:
        with contextlib.suppress(Exception):
            rows = await self.h.redis().xinfo_consumers(constants.DECISION_STREAM, constants.INGRESS_GROUP)
            return any(_text(row.get("name")) == consumer for row in rows)
        return False

    async def _pending_of(self, consumer: str) -> int:
        rows = await self.h.redis_call(lambda r: r.xpending_range(
            constants.DECISION_STREAM, constants.INGRESS_GROUP, "-", "+", 100, consumername=consumer))
        return len(rows)

    async def settle_pending(self, consumer: str, timeout: float = 180.0) -> bool:
        """Wait until the dead consumer has nothing pending (another ingress took it over), then remove it."""
        try:
            await _until(lambda: self._no_pending(consumer), timeout, f"{consumer}'s entries reclaimed")
        except TimeoutError:
            return False
        with contextlib.suppress(Exception):
            await self.h.redis().xgroup_delconsumer(constants.DECISION_STREAM, constants.INGRESS_GROUP, consumer)
        return True

    async def _no_pending(self, consumer: str) -> bool:
        return await self._pending_of(consumer) == 0

    # --- IDEMPOTENT -----------------------------------------------------------------------------

    async def check_idempotent(self, ev: Evidence) -> None:
        source = self.source("idempotent")
        before = await self.order_keys()
        traces: dict[str, str] = {}
        for kind, label in (("drop_response", "idem-lost"), ("error_5xx", "idem-5xx"), ("unknown_1007_after", "idem-1007")):
            trace_id = self.trace(label)
            fault = await self.h.paper.arm(kind, path=ORDER_PATH, method="POST", count=1)
            await self.publish(self.market(trace_id, source))
            await self.wait_fault_used(fault["id"])
            traces[trace_id] = kind
            ev.note(f"{kind} armed on POST {ORDER_PATH}; met by the first placement of {trace_id}")
        results = await self.results(traces)
        orders = await self.orders_by_client_id()
        entries = await self.result_entries(traces)
        ours = {client_order_id(t) for t in traces}
        new_orders = [o for o in await self.h.paper.orders() if (str(o.get("market")), int(o.get("orderId") or 0)) not in before]
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

    # --- CANCEL ---------------------------------------------------------------------------------

    async def check_cancel(self, ev: Evidence) -> None:
        source = self.source("cancel")
        trace_id = self.trace("cancel")
        await self.publish(self.limit(trace_id, source, "0.80", ttl=600))
        status = await self.wait_state(trace_id, IntentState.OPEN)
        ev.require(status.state is IntentState.OPEN, f"{trace_id}: LIMIT resting at the exchange ({status.state.value}, "
                                                     f"orderId {status.snapshot.order_id if status.snapshot else None})")
        client = await self.h.client()
        await client.get_workflow_handle(trace_id).signal("cancel_order", CancelRequest(reason="proof: cancel_order signal"))
        ev.note(f"signal cancel_order sent to {trace_id}")
        result = await self.result(trace_id)
        own = (await self.orders_by_client_id()).get(client_order_id(trace_id), [])
        open_orders = [o for o in own if o.get("status") in OPEN_ORDER_STATUSES]
        ev.require(result.state is IntentState.CANCELLED, f"{trace_id}: ended {result.state.value} ({result.reason})")
        ev.require(len(own) == 1 and not open_orders,
                   f"exchange: {len(own)} order(s) for {client_order_id(trace_id)}, statuses "
                   f"{','.join(str(o.get('status')) for o in own) or 'none'}; open: {len(open_orders)}")
        entries = await self.result_entries([trace_id])
        ev.require(entries[trace_id] == 1, f"{trace_id}: {entries[trace_id]} execution.result entr(ies)")

    # --- BADINPUT -------------------------------------------------------------------------------

    async def check_badinput(self, ev: Evidence) -> None:
        source = self.source("badinput")
        base = self.trace("bad")
        events: list[tuple[str, dict[str, str]]] = [
            ("missing symbol", {"trace_id": f"{base}-1", "side": "BUY", "position_size_usd": "100", "confidence": "0.9", "source": source}),
            ("side HOLD", {**self.market(f"{base}-2", source), "side": "HOLD"}),
            ("negative quantity", {**self.market(f"{base}-3", source), "position_size_usd": "-1"}),
            ("unlisted symbol", {**self.market(f"{base}-4", source), "symbol": "DOGEUSDT"}),
            ("trace_id with spaces", {**self.market(f"{base} 5", source)}),
            ("data field that is not JSON", {"data": "{not json"}),
            ("no decision fields at all", {"junk": "x"}),
        ]
        orders_before = await self.order_keys()
        entry_ids: dict[str, str] = {}
        for what, fields in events:
            (entry_id,) = await self.publish(fields, valid=False)
            entry_ids[entry_id] = what
        dead = await _until(lambda: self._dead_letters(set(entry_ids)), 60, "the dead letters", allow_timeout=True) or {}
        for entry_id, what in entry_ids.items():
            reason = dead.get(entry_id)
            ev.require(reason is not None, f"{what}: entry {entry_id} -> "
                                           + (f"{constants.DEAD_LETTER_STREAM} ({reason})" if reason else "no dead letter"))
        workflows = await self.workflows_of(source)
        for _, fields in events:
            trace_id = fields.get("trace_id")
            if trace_id:
                with contextlib.suppress(RPCError):
                    workflows += [(trace_id, "?")] * await self.runs_of(trace_id)
        orders = await self.orders_by_client_id()
        own = [o for _, f in events if f.get("trace_id") for o in orders.get(client_order_id(f["trace_id"]), [])]
        new_orders = [o for o in await self.h.paper.orders() if (str(o.get("market")), int(o.get("orderId") or 0)) not in orders_before]
        ev.require(not workflows, f"workflows started for them: {len(workflows)}")
        ev.require(not own and not new_orders, f"exchange orders for them: {len(own)}; orders accepted during the check: {len(new_orders)}")

    async def _dead_letters(self, entry_ids: set[str]) -> dict[str, str] | None:
        """source_id -> reason for the dead letters of ``entry_ids``, once all are there."""
        found: dict[str, str] = {}
        rows = await self.h.redis_call(lambda r: r.xrange(constants.DEAD_LETTER_STREAM, "-", "+"))
        for _, fields in rows:
            data = {_text(k): _text(v) for k, v in fields.items()}
            if data.get("source_id") in entry_ids:
                found[data["source_id"]] = data.get("reason", "")
        return found if set(found) >= entry_ids else None


# --- helpers ------------------------------------------------------------------------------


async def _until(probe: Callable[[], Any], timeout: float, what: str, *, allow_timeout: bool = False) -> Any:
    deadline = time.monotonic() + timeout
    value = None
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            if allow_timeout:
                return value
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.2)


def _quantum_trader() -> list[str]:
    script = Path(sys.executable).parent / "quantum-trader"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from quantum_trader.cli import main; sys.exit(main())"]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

