"""What every proof check works with: the harness, decisions published on the stream, and
the outcomes read back from Temporal, the result stream, the exchange and the ingress logs.

Each check's decisions carry their own ``source`` (a search attribute), so whatever
workflows a decision produced are found by it, whatever their IDs.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from quantum_trader import constants, logs
from quantum_trader.ids import client_order_id
from quantum_trader.models import IntentResult, IntentStatus
from quantum_trader.settings import Settings
from quantum_trader.states import TERMINAL_STATES, IntentState
from tools.audit import execution_status, read_results
from tools.harness import Harness
from tools.proof.report import Evidence

ORDER_PATH = "/api/v3/order"
# A deadline timer fires in the workflow; acting on it needs a worker to pick the task up.
TERMINAL_GRACE_SECONDS = 30.0
RESULT_TIMEOUT_SECONDS = 300.0


@dataclass
class Injected:
    trace_id: str
    fields: dict[str, str]
    deadline_seconds: float | None  # None: not expected to start a workflow


class ProofContext:
    """One proof run's stack, the decisions it injected and the ways to read their outcomes."""

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

    def price(self, symbol: str) -> Decimal:
        """The symbol's price when the proof started."""
        return self._prices[symbol]

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
                return [text(entry) for entry in await pipe.execute()]

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
        """Every order the exchange has accepted so far, by (market, orderId)."""
        return {_order_key(order) for order in await self.h.paper.orders()}

    async def orders_since(self, before: set[tuple[str, int]]) -> list[dict[str, Any]]:
        """The orders accepted since ``before`` was read with :meth:`order_keys`."""
        return [order for order in await self.h.paper.orders() if _order_key(order) not in before]

    async def result_entries(self, trace_ids: Iterable[str]) -> dict[str, int]:
        wanted = set(trace_ids)
        rows = await self.h.redis_call(lambda redis: read_results(redis, self.settings.result_stream, wanted))
        counts = dict.fromkeys(wanted, 0)
        for row in rows:
            counts[row.trace_id] += 1
        return counts

    async def duplicate_skips(self, trace_id: str, at_least: int, timeout: float = 30.0) -> int:
        """``DUPLICATE_SKIP`` lines of ``trace_id`` in the ingress log(s)."""
        deadline = time.monotonic() + timeout
        while True:
            found = 0
            for path in (self.h.home / "logs").glob("ingress*.log"):
                with contextlib.suppress(OSError):
                    found += sum(e["msg"] == "DUPLICATE_SKIP" and e.get("trace_id") == trace_id
                                 for e in logs.entries(path.read_text(errors="replace")))
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


# --- helpers ------------------------------------------------------------------------------


async def until(probe: Callable[[], Any], timeout: float, what: str, *, allow_timeout: bool = False) -> Any:
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


def _order_key(order: dict[str, Any]) -> tuple[str, int]:
    return str(order.get("market")), int(order.get("orderId") or 0)


def quantum_trader_command() -> list[str]:
    script = Path(sys.executable).parent / "quantum-trader"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from quantum_trader.cli import main; sys.exit(main())"]


def text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

