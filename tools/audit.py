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

A workflow reset (``reset``: the trace_ids reset on purpose) leaves the old run TERMINATED
beside the new one (COMPLETED, when the intent had ended before the reset came): those runs
are counted, not violations; the rules apply to the rest.

USD-M futures (intents whose result or entry order is ``usdm``), once every intent has ended
and every protection still open was asked to close (``protections``: each intent's
``<trace_id>-oco``; ``positions``: the exchange's positions per symbol before and after):

- ``unprotected-fill``: an entry with any fill has its stop-loss and take-profit at the
  exchange for the filled quantity and names its protection workflow, or, without
  protection, was flattened by its own reduce-only order for the whole filled quantity;
- ``protection-not-closed``: every protection an intent names ended ``CLOSED`` (not running,
  not ``CLOSE_FAILED``, not missing);
- ``live-protective-order``: no stop-loss or take-profit left working once its protection
  ended, and no futures order of the intent (flatten, close) left open;
- ``open-position``: each intent's fills net to zero (entry, minus the stop or take-profit
  that fired, the close or the flatten);
- ``position-mismatch``: per symbol, the exchange's position moved by exactly the run's net
  fills.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from quantum_trader import constants
from quantum_trader.ids import Step, protection_workflow_id
from quantum_trader.ids import client_order_id as default_client_order_id
from quantum_trader.states import OPEN_ORDER_STATUSES, TERMINAL_STATES, AlgoStatus, IntentState, OrderStatus, ProtectionState

TERMINAL = {state.value for state in TERMINAL_STATES}
# The end states whose result reports an executed quantity.
FILLED_STATES = frozenset({IntentState.FILLED, IntentState.PARTIALLY_FILLED})
# Temporal's name for an execution without a status.
UNSPECIFIED_STATUS = "UNSPECIFIED"
# Status of the old run a workflow reset leaves behind, and of a workflow never started.
TERMINATED_STATUS = "TERMINATED"
# A run that ended; a reset after the end leaves one beside the new run.
COMPLETED_STATUS = "COMPLETED"
NOT_FOUND_STATUS = "NOT_FOUND"
USDM = "usdm"
# A conditional order still working at the exchange.
OPEN_ALGO_STATUS = AlgoStatus.NEW
FIRED_ALGO_STATUS = AlgoStatus.FINISHED
PROTECTION_CLOSED = ProtectionState.CLOSED


@dataclass(frozen=True)
class WorkflowRow:
    """One execution as Temporal visibility lists it."""

    trace_id: str
    run_id: str
    status: str  # RUNNING, COMPLETED, FAILED, TERMINATED, ...
    trade_state: str | None
    started_ms: int = 0


@dataclass(frozen=True)
class ResultRow:
    """One entry of the ``execution.result`` stream."""

    trace_id: str
    state: str
    client_order_id: str | None
    exchange_order_id: str | None
    executed_qty: str | None
    entry_id: str = ""
    market: str = "spot"
    reason: str = ""
    stop_loss_id: str | None = None
    take_profit_id: str | None = None
    protection_workflow_id: str | None = None


@dataclass(frozen=True)
class OrderRow:
    """One order of the exchange's audit trail."""

    client_order_id: str
    order_id: str
    status: str
    executed_qty: str
    symbol: str = ""
    market: str = "spot"
    side: str = ""
    orig_qty: str = ""
    # A conditional (algo) order's own row, and the order a triggered one created (its parent).
    algo: bool = False
    parent_algo_id: str | None = None

    @property
    def signed_fill(self) -> Decimal:
        """Executed quantity, negative for a SELL."""
        quantity = _decimal(self.executed_qty)
        return -quantity if self.side == "SELL" else quantity


@dataclass(frozen=True)
class ProtectionRow:
    """An intent's protection workflow (``<trace_id>-oco``) as Temporal describes it."""

    trace_id: str
    status: str  # RUNNING, COMPLETED, ..., or NOT_FOUND
    trade_state: str | None = None


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
    reset: Iterable[str] = (),
    protections: Iterable[ProtectionRow] = (),
    positions: tuple[dict[str, Decimal], dict[str, Decimal]] | None = None,
) -> Reconciliation:
    """Check the three sources against each other for the intents ``trace_ids``."""
    expected = sorted(set(trace_ids))
    reset = set(reset)
    runs: dict[str, list[WorkflowRow]] = defaultdict(list)
    reset_runs = 0
    for row in workflows:
        if row.trace_id in reset and row.status == TERMINATED_STATUS:
            reset_runs += 1  # the run the reset replaced
            continue
        runs[row.trace_id].append(row)
    for trace_id in reset:
        # A reset that came after its intent had ended starts a new run from a closed one,
        # which stays COMPLETED: the older of two completed runs is the one it replaced.
        kept = sorted(runs.get(trace_id, []), key=lambda r: r.started_ms)
        if len(kept) == 2 and all(r.status == COMPLETED_STATUS for r in kept) and kept[0].started_ms < kept[1].started_ms:
            reset_runs += 1
            runs[trace_id] = kept[1:]
    published: dict[str, list[ResultRow]] = defaultdict(list)
    for row in results:
        published[row.trace_id].append(row)
    orders = list(orders)
    # Plain orders by client order ID; conditional orders by client algo ID; the order a
    # triggered conditional order created carries its client algo ID and is counted apart.
    by_client_id: dict[str, list[OrderRow]] = defaultdict(list)
    algos: dict[str, list[OrderRow]] = defaultdict(list)
    triggered: dict[str, list[OrderRow]] = defaultdict(list)
    for order in orders:
        group = algos if order.algo else triggered if order.parent_algo_id else by_client_id
        group[order.client_order_id].append(order)
    owner: dict[str, list[str]] = defaultdict(list)
    for trace_id in expected:
        # Every side-effecting step of an intent has its own client order ID, and each
        # generation of a resized protective pair its own.
        for step in Step:
            for key in _generations(client_order_id, trace_id, step, algos):
                owner[key].append(trace_id)

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
            elif execution.status != COMPLETED_STATUS:
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

    for group in (by_client_id, algos, triggered):
        for client_id, same in group.items():
            if len(same) > 1:
                add("reused-client-order-id", client_id, f"{len(same)} orders: " + ",".join(o.order_id for o in same))
            owners = owner.get(client_id, [])
            if len(owners) != 1:
                ids = ",".join(o.order_id for o in same)
                add("orphan-order", client_id, f"order(s) {ids} belong to {len(owners)} intents")

    futures = _Futures(published, by_client_id, algos, triggered, {p.trace_id: p for p in protections}, client_order_id, add)
    for trace_id in expected:
        futures.check(trace_id, final.get(trace_id))
    if positions is not None:
        futures.check_positions(orders, owner, *positions)

    expected_set = set(expected)
    for trace_id in sorted(set(runs) - expected_set):
        add("unexpected-workflow", trace_id, "workflow that no decision asked for")

    states = Counter(final.values())
    counts: dict[str, int] = {
        "intents (unique trace_ids)": len(expected),
        "temporal: workflows": sum(len(runs.get(t, [])) for t in expected),
        "temporal: runs replaced by a reset": reset_runs,
        "temporal: running": sum(1 for t in expected for r in runs.get(t, []) if r.status == "RUNNING"),
        **{f"temporal: {name}": states.get(name, 0) for name in sorted(TERMINAL)},
        "results: entries": sum(len(published.get(t, [])) for t in expected),
        "results: trace_ids": sum(1 for t in expected if published.get(t)),
        "exchange: orders": len(orders),
        "exchange: client order IDs": len(by_client_id),
        "exchange: open orders": sum(1 for o in orders if o.status in OPEN_ORDER_STATUSES),
        "exchange: filled orders": sum(1 for o in orders if o.status == OrderStatus.FILLED),
        **futures.counts,
    }
    return Reconciliation(counts, violations)


class _Futures:
    """The futures rules of :func:`reconcile` (see the module's docstring)."""

    def __init__(
        self,
        published: dict[str, list[ResultRow]],
        by_client_id: dict[str, list[OrderRow]],
        algos: dict[str, list[OrderRow]],
        triggered: dict[str, list[OrderRow]],
        protections: dict[str, ProtectionRow],
        client_order_id: Callable[..., str],
        add: Callable[[str, str, str], None],
    ) -> None:
        self.published, self.by_client_id, self.algos, self.triggered = published, by_client_id, algos, triggered
        self.protections, self.client_order_id, self.add = protections, client_order_id, add
        self.counts = {"futures: intents": 0, "futures: filled entries": 0, "futures: protected": 0,
                       "futures: flattened": 0, "futures: protections CLOSED": 0}

    def _orders(self, trace_id: str, step: Step) -> list[OrderRow]:
        """The plain orders of one step, and the orders its conditional orders created."""
        keys = _generations(self.client_order_id, trace_id, step, self.algos)
        return [o for key in keys for o in self.by_client_id.get(key, []) + self.triggered.get(key, [])]

    def _algos(self, trace_id: str, step: Step) -> list[list[OrderRow]]:
        """The conditional orders of a protective step, one list per generation."""
        return [self.algos.get(key, []) for key in _generations(self.client_order_id, trace_id, step, self.algos)]

    def check(self, trace_id: str, state: str | None) -> None:
        entries = self.published.get(trace_id, [])
        result = entries[0] if entries else None
        entry = self._orders(trace_id, Step.ENTRY)
        if not ((result is not None and result.market == USDM) or any(o.market == USDM for o in entry)):
            return
        self.counts["futures: intents"] += 1
        filled = sum((_decimal(o.executed_qty) for o in entry), Decimal(0))
        protection = self.protections.get(trace_id)
        named = result is not None and result.protection_workflow_id is not None
        if named and result.protection_workflow_id != protection_workflow_id(trace_id):
            self.add("unprotected-fill", trace_id, f"result names protection {result.protection_workflow_id}")
        if filled > 0:
            self.counts["futures: filled entries"] += 1
            if named:
                self.counts["futures: protected"] += 1
                self._check_protective_orders(trace_id, filled)
            else:
                flattened = sum((_decimal(o.executed_qty) for o in self._orders(trace_id, Step.FLATTEN)), Decimal(0))
                if flattened != filled:
                    self.add("unprotected-fill", trace_id,
                             f"entry filled {filled}, no protection named (result {state}), flattened {flattened}")
                else:
                    self.counts["futures: flattened"] += 1
        if named:
            if protection is None or protection.status == NOT_FOUND_STATUS:
                self.add("protection-not-closed", trace_id, "the protection workflow it names does not exist")
            elif protection.status != COMPLETED_STATUS or protection.trade_state != PROTECTION_CLOSED:
                self.add("protection-not-closed", trace_id, f"protection {protection.status} with TradeState={protection.trade_state}")
            else:
                self.counts["futures: protections CLOSED"] += 1
        watching = protection is not None and protection.status == "RUNNING"
        if watching:
            return  # reported above; its orders and position are still its own
        for step in PROTECTIVE_STEPS:
            for algo in (a for rows in self._algos(trace_id, step) for a in rows):
                if algo.status == OPEN_ALGO_STATUS:
                    self.add("live-protective-order", trace_id, f"{step.name.lower()} {algo.order_id} ({algo.client_order_id}) is still working")
        for step in (Step.FLATTEN, Step.CLOSE):
            for order in self._orders(trace_id, step):
                if order.status in OPEN_ORDER_STATUSES:
                    self.add("live-protective-order", trace_id, f"{step.name.lower()} order {order.order_id} is {order.status}")
        net = sum((o.signed_fill for step in Step for o in self._orders(trace_id, step)), Decimal(0))
        if net != 0:
            self.add("open-position", trace_id, f"the intent's fills net to {net} (entry filled {filled})")

    def _check_protective_orders(self, trace_id: str, filled: Decimal) -> None:
        """The latest generation of each protective order is sized to the whole fill, unless
        one of the pair fired first (its entry's later fills were then closed, not protected)."""
        generations = {step: self._algos(trace_id, step) for step in PROTECTIVE_STEPS}
        fired = any(a.status == FIRED_ALGO_STATUS for per_step in generations.values() for rows in per_step for a in rows)
        for step, per_step in generations.items():
            rows = per_step[-1]
            if not rows:
                self.add("unprotected-fill", trace_id, f"entry filled {filled} but no {step.name.lower()} at the exchange")
            elif _decimal(rows[0].orig_qty) != filled and not fired:
                self.add("unprotected-fill", trace_id, f"{step.name.lower()} for {rows[0].orig_qty}, entry filled {filled}")

    def check_positions(self, orders: list[OrderRow], owner: dict[str, list[str]], before: dict[str, Decimal], after: dict[str, Decimal]) -> None:
        moved: dict[str, Decimal] = defaultdict(Decimal)
        for order in orders:
            if order.market == USDM and not order.algo and owner.get(order.client_order_id):
                moved[order.symbol] += order.signed_fill
        for symbol in sorted(set(moved) | set(before) | set(after)):
            change = after.get(symbol, Decimal(0)) - before.get(symbol, Decimal(0))
            if change != moved.get(symbol, Decimal(0)):
                self.add("position-mismatch", symbol, f"position moved {change} at the exchange, the run's fills net {moved.get(symbol, 0)}")


PROTECTIVE_STEPS = (Step.STOP_LOSS, Step.TAKE_PROFIT)


def _generations(client_order_id: Callable[..., str], trace_id: str, step: Step, algos: dict[str, list[OrderRow]]) -> list[str]:
    """The client order IDs of ``step``: one, or for a protective order every generation of
    it at the exchange (a pair resized while its entry rested), oldest first."""
    keys = [client_order_id(trace_id, step)]
    while step in PROTECTIVE_STEPS and client_order_id(trace_id, step, len(keys)) in algos:
        keys.append(client_order_id(trace_id, step, len(keys)))
    return keys


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
                started_ms=int(execution.start_time.timestamp() * 1000) if execution.start_time else 0,
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
                        market=data.get("market") or "spot",
                        reason=data.get("reason", ""),
                        stop_loss_id=data.get("stop_loss_id") or None,
                        take_profit_id=data.get("take_profit_id") or None,
                        protection_workflow_id=data.get("protection_workflow_id") or None,
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
            side=str(order.get("side", "")),
            orig_qty=str(order.get("origQty", "")),
            algo="algoId" in order and "orderId" not in order,
            parent_algo_id=str(order["parentAlgoId"]) if order.get("parentAlgoId") else None,
        )
        for order in orders
        if since_ms is None or int(order.get("time") or 0) >= since_ms
    ]


def position_amounts(state: dict[str, Any]) -> dict[str, Decimal]:
    """Futures positions per symbol from ``GET /_paper/state``."""
    rows = (state.get("futures") or {}).get("positions") or []
    return {str(row["symbol"]): Decimal(str(row["positionAmt"])) for row in rows if Decimal(str(row["positionAmt"]))}


async def read_protections(client: Any, trace_ids: Iterable[str]) -> list[ProtectionRow]:
    """Each intent's protection workflow (``<trace_id>-oco``), ``NOT_FOUND`` where there is none."""
    from temporalio.service import RPCError, RPCStatusCode

    rows: list[ProtectionRow] = []
    for trace_id in trace_ids:
        try:
            described = await client.get_workflow_handle(protection_workflow_id(trace_id)).describe()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            rows.append(ProtectionRow(trace_id, NOT_FOUND_STATUS))
            continue
        values = described.search_attributes.get(constants.SA_TRADE_STATE) or []
        rows.append(ProtectionRow(trace_id, execution_status(described), str(values[0]) if values else None))
    return rows


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
