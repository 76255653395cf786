"""Reconcile three independent records of the same intents.

- Temporal visibility: one workflow execution per trace_id, its status and ``TradeState``;
- the ``execution.result`` stream: the record each workflow published when it ended;
- the exchange's order log (``GET /_paper/orders``): every order ever accepted.

:func:`reconcile` is pure: it takes rows read from the three sources and returns the
counts and every violation of the rules below, so the rules can be tested on made-up rows.

Rules (each violation names its rule):

- ``missing-workflow``, ``duplicate-runs``, ``open-workflow``, ``not-completed``,
  ``not-terminal``: exactly one completed run per trace_id, in a terminal state;
- ``missing-result``, ``duplicate-results``, ``state-mismatch``: exactly one result per
  trace_id, in the state the workflow ended in;
- ``reused-client-order-id``: no client order ID with more than one order;
- ``orphan-order``: every exchange order belongs to exactly one intent;
- ``open-order``: no open order for an intent that has ended;
- ``order-mismatch``: the result names the order the exchange has, with the same
  executed quantity; a fill is never reported without an order;
- ``unexpected-workflow``: no workflow of the run that no decision asked for.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from quantum_trader import constants
from quantum_trader.ids import Step
from quantum_trader.ids import client_order_id as default_client_order_id
from quantum_trader.states import OPEN_ORDER_STATUSES, TERMINAL_STATES, IntentState, OrderStatus

TERMINAL = {state.value for state in TERMINAL_STATES}
# The end states whose result reports an executed quantity.
FILLED_STATES = frozenset({IntentState.FILLED, IntentState.PARTIALLY_FILLED})
# Temporal's name for an execution without a status.
UNSPECIFIED_STATUS = "UNSPECIFIED"


@dataclass(frozen=True)
class WorkflowRow:
    """One execution as Temporal visibility lists it."""

    trace_id: str
    run_id: str
    status: str  # RUNNING, COMPLETED, FAILED, TERMINATED, ...
    trade_state: str | None


@dataclass(frozen=True)
class ResultRow:
    """One entry of the ``execution.result`` stream."""

    trace_id: str
    state: str
    client_order_id: str | None
    exchange_order_id: str | None
    executed_qty: str | None
    entry_id: str = ""


@dataclass(frozen=True)
class OrderRow:
    """One order of the exchange's audit trail."""

    client_order_id: str
    order_id: str
    status: str
    executed_qty: str
    symbol: str = ""
    market: str = "spot"


@dataclass(frozen=True)
class Violation:
    rule: str
    subject: str
    detail: str

    def line(self) -> str:
        return f"{self.rule:<24} {self.subject}  {self.detail}"


@dataclass
class Reconciliation:
    counts: dict[str, int]
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def by_rule(self) -> dict[str, int]:
        return dict(Counter(v.rule for v in self.violations))

    def table(self, limit: int = 25) -> str:
        width = max(len(name) for name in self.counts) + 2
        lines = [f"{'source / count':<{width}} value", f"{'-' * (width - 1)} -----"]
        lines += [f"{name:<{width}} {value}" for name, value in self.counts.items()]
        lines.append(f"{'violations':<{width}} {len(self.violations)}")
        for rule, n in sorted(self.by_rule().items()):
            lines.append(f"  {rule:<{width - 2}} {n}")
        for violation in self.violations[:limit]:
            lines.append("  " + violation.line())
        if len(self.violations) > limit:
            lines.append(f"  ... {len(self.violations) - limit} more")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "counts": self.counts,
            "violations_by_rule": self.by_rule(),
            "violations": [asdict(v) for v in self.violations],
        }


def reconcile(
    trace_ids: Iterable[str],
    workflows: Iterable[WorkflowRow],
    results: Iterable[ResultRow],
    orders: Iterable[OrderRow],
    *,
    client_order_id: Callable[..., str] = default_client_order_id,
) -> Reconciliation:
    """Check the three sources against each other for the intents ``trace_ids``."""
    expected = sorted(set(trace_ids))
    runs: dict[str, list[WorkflowRow]] = defaultdict(list)
    for row in workflows:
        runs[row.trace_id].append(row)
    published: dict[str, list[ResultRow]] = defaultdict(list)
    for row in results:
        published[row.trace_id].append(row)
    orders = list(orders)
    by_client_id: dict[str, list[OrderRow]] = defaultdict(list)
    for order in orders:
        by_client_id[order.client_order_id].append(order)
    owner: dict[str, list[str]] = defaultdict(list)
    for trace_id in expected:
        # Every side-effecting step of an intent has its own client order ID.
        for step in Step:
            owner[client_order_id(trace_id, step)].append(trace_id)

    violations: list[Violation] = []
    add = lambda rule, subject, detail: violations.append(Violation(rule, subject, detail))  # noqa: E731

    final: dict[str, str] = {}
    for trace_id in expected:
        executions = runs.get(trace_id, [])
        if not executions:
            add("missing-workflow", trace_id, "no workflow in Temporal visibility")
        elif len(executions) > 1:
            add("duplicate-runs", trace_id, f"{len(executions)} runs: " + ",".join(r.run_id for r in executions))
        for execution in executions[:1]:
            if execution.status == "RUNNING":
                add("open-workflow", trace_id, f"still running in state {execution.trade_state}")
            elif execution.status != "COMPLETED":
                add("not-completed", trace_id, f"closed as {execution.status}")
            elif execution.trade_state not in TERMINAL:
                add("not-terminal", trace_id, f"completed with TradeState={execution.trade_state}")
            else:
                final[trace_id] = execution.trade_state

        entries = published.get(trace_id, [])
        if not entries:
            add("missing-result", trace_id, "no entry in the execution.result stream")
        elif len(entries) > 1:
            add("duplicate-results", trace_id, f"{len(entries)} entries: " + ",".join(e.entry_id for e in entries))
        if entries and trace_id in final and entries[0].state != final[trace_id]:
            add("state-mismatch", trace_id, f"workflow {final[trace_id]} but result {entries[0].state}")
        if entries and entries[0].state not in TERMINAL:
            add("not-terminal", trace_id, f"result state {entries[0].state}")

        own_orders = by_client_id.get(client_order_id(trace_id), [])
        state = final.get(trace_id) or (entries[0].state if entries else None)
        if state in TERMINAL:
            for order in own_orders:
                if order.status in OPEN_ORDER_STATUSES:
                    add("open-order", trace_id, f"order {order.order_id} ({order.client_order_id}) is {order.status} but the intent ended {state}")
        if entries:
            _compare_with_exchange(trace_id, entries[0], own_orders, add)

    for client_id, same in by_client_id.items():
        if len(same) > 1:
            add("reused-client-order-id", client_id, f"{len(same)} orders: " + ",".join(o.order_id for o in same))
        owners = owner.get(client_id, [])
        if len(owners) != 1:
            ids = ",".join(o.order_id for o in same)
            add("orphan-order", client_id, f"order(s) {ids} belong to {len(owners)} intents")

    expected_set = set(expected)
    for trace_id in sorted(set(runs) - expected_set):
        add("unexpected-workflow", trace_id, "workflow that no decision asked for")

    states = Counter(final.values())
    counts: dict[str, int] = {
        "intents (unique trace_ids)": len(expected),
        "temporal: workflows": sum(len(runs.get(t, [])) for t in expected),
        "temporal: running": sum(1 for t in expected for r in runs.get(t, []) if r.status == "RUNNING"),
        **{f"temporal: {name}": states.get(name, 0) for name in sorted(TERMINAL)},
        "results: entries": sum(len(published.get(t, [])) for t in expected),
        "results: trace_ids": sum(1 for t in expected if published.get(t)),
        "exchange: orders": len(orders),
        "exchange: client order IDs": len(by_client_id),
        "exchange: open orders": sum(1 for o in orders if o.status in OPEN_ORDER_STATUSES),
        "exchange: filled orders": sum(1 for o in orders if o.status == OrderStatus.FILLED),
    }
    return Reconciliation(counts, violations)


def _compare_with_exchange(trace_id: str, result: ResultRow, own_orders: list[OrderRow], add: Callable[[str, str, str], None]) -> None:
    if not own_orders:
        if result.state in FILLED_STATES and _decimal(result.executed_qty) > 0:
            add("order-mismatch", trace_id, f"result {result.state} with executed_qty={result.executed_qty} but no order at the exchange")
        return
    order = own_orders[0]
    if result.exchange_order_id and result.exchange_order_id != order.order_id:
        add("order-mismatch", trace_id, f"result names order {result.exchange_order_id}, exchange has {order.order_id}")
    if _decimal(result.executed_qty) != _decimal(order.executed_qty):
        add("order-mismatch", trace_id, f"executed_qty result={result.executed_qty} exchange={order.executed_qty}")


def _decimal(value: str | None) -> Decimal:
    try:
        return Decimal(value) if value else Decimal(0)
    except InvalidOperation:
        return Decimal(-1)


# --- reading the three sources ---------------------------------------------------------


async def read_workflows(client: Any, query: str) -> list[WorkflowRow]:
    """Every execution matching a visibility ``query`` (closed ones included)."""
    key = constants.SA_TRADE_STATE
    rows: list[WorkflowRow] = []
    async for execution in client.list_workflows(query, page_size=1000):
        values = execution.search_attributes.get(key) or []
        rows.append(
            WorkflowRow(
                trace_id=execution.id,
                run_id=execution.run_id,
                status=execution_status(execution),
                trade_state=str(values[0]) if values else None,
            )
        )
    return rows


def execution_status(execution: Any) -> str:
    """A listed execution's status name (RUNNING, COMPLETED, ...)."""
    return execution.status.name if execution.status is not None else UNSPECIFIED_STATUS


async def read_results(redis: Any, stream: str, wanted: set[str] | None = None) -> list[ResultRow]:
    """Entries of the result stream (optionally only those of ``wanted`` trace_ids)."""
    rows: list[ResultRow] = []
    start = "-"
    while True:
        batch = await redis.xrange(stream, min=start, max="+", count=1000)
        if not batch:
            return rows
        for entry_id, fields in batch:
            data = {_text(k): _text(v) for k, v in fields.items()}
            trace_id = data.get("trace_id", "")
            if wanted is None or trace_id in wanted:
                rows.append(
                    ResultRow(
                        trace_id=trace_id,
                        state=data.get("state", ""),
                        client_order_id=data.get("client_order_id") or None,
                        exchange_order_id=data.get("exchange_order_id") or None,
                        executed_qty=data.get("executed_qty") or None,
                        entry_id=_text(entry_id),
                    )
                )
        if len(batch) < 1000:
            return rows
        start = "(" + _text(batch[-1][0])


def order_rows(orders: Iterable[dict[str, Any]], since_ms: int | None = None) -> list[OrderRow]:
    """Rows of ``GET /_paper/orders``' ``orders`` (accepted at or after ``since_ms``)."""
    return [
        OrderRow(
            client_order_id=str(order.get("clientOrderId") or order.get("clientAlgoId") or ""),
            order_id=str(order.get("orderId") or order.get("algoId") or ""),
            status=str(order.get("status", "")),
            executed_qty=str(order.get("executedQty", "0")),
            symbol=str(order.get("symbol", "")),
            market=str(order.get("market", "spot")),
        )
        for order in orders
        if since_ms is None or int(order.get("time") or 0) >= since_ms
    ]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
