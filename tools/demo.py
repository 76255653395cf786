"""``quantum-trader demo``: the dev stack plus a stream of realistic decisions and a live view.

The generator publishes decisions to ``quantum:stream:ai.decision.made``, the path the AI
engine uses, so the ingress starts the intents (without an ingress in this installation it
starts them directly). The mix: MARKET buys that fill, low-confidence ones the risk gate
rejects, LIMIT buys far below the market that expire at their TTL, marketable LIMITs that
fill, futures shorts, repeats of earlier decisions (the duplicates Temporal refuses), and
one resting LIMIT an operator cancels with the ``cancel_order`` signal.

``--decisions N --exit`` publishes N, waits until every intent has ended, prints a JSON
summary and exits 0 only if every intent ended and the exchange holds exactly one order
per approved intent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import secrets
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text
from temporalio.client import Client
from temporalio.service import RPCError

from paper_exchange.admin_client import PaperAdmin
from quantum_trader import constants, logs
from quantum_trader.ids import client_order_id
from quantum_trader.models import CancelRequest, IntentResult, IntentStatus, TradeDecision
from quantum_trader.settings import Settings
from quantum_trader.states import TERMINAL_STATES, IntentState
from quantum_trader.temporal import start_intent
from tools.dev import DevStack, StackOptions, add_stack_arguments, run_until_stopped

CANCEL_REASON = "demo: operator cancel"
STATE_ORDER = [state for state in IntentState]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_stack_arguments(parser)
    parser.add_argument("--decisions", type=int, help="publish this many decisions, then stop publishing (default: until Ctrl-C)")
    parser.add_argument("--exit", action="store_true", help="with --decisions: wait for every intent to end, print a JSON summary, exit")
    parser.add_argument("--rate", type=float, default=None, help="decisions per second (default 2, or 25 with --exit)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the decision mix (default random)")
    parser.add_argument("--timeout", type=float, default=300.0, help="with --exit: seconds to wait for every intent to end (default 300)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.exit and not args.decisions:
        from quantum_trader.cli import CommandError

        raise CommandError("--exit needs --decisions N")
    logs.configure(settings.model_copy(update={"log_level": "WARNING"}), "demo")
    # With --exit, stdout carries only the JSON summary.
    out = sys.stderr if args.exit else sys.stdout
    stack = DevStack(StackOptions.from_args(args), settings, out=out)
    demo = Demo(stack, args)
    return asyncio.run(run_until_stopped(stack, demo.run))


# --- the decision mix -------------------------------------------------------------------


@dataclass
class DecisionMix:
    """Realistic decisions from a seeded generator; repeats earlier ones now and then."""

    run_id: str
    rng: random.Random
    prices: dict[str, Decimal]
    issued: list[dict[str, str]] = field(default_factory=list)
    cancel_target: str | None = None

    @property
    def source(self) -> str:
        return f"demo-{self.run_id}"

    def next(self) -> tuple[dict[str, str], bool]:
        """The next decision's wire fields, and whether it repeats an earlier one."""
        if len(self.issued) >= 5 and self.rng.random() < 0.08:
            return dict(self.rng.choice(self.issued)), True
        number = len(self.issued)
        fields = self._fresh(f"demo-{self.run_id}-{number:05d}", number)
        self.issued.append(fields)
        return fields, False

    def _fresh(self, trace_id: str, number: int) -> dict[str, str]:
        symbol = self.rng.choice(sorted(self.prices))
        price = self.prices[symbol]
        base = {
            "trace_id": trace_id,
            "symbol": symbol,
            "side": "BUY",
            "position_size_usd": str(self.rng.randrange(50, 500)),
            "confidence": f"{self.rng.uniform(0.6, 0.97):.2f}",
            "source": self.source,
        }
        if number == 3 and self.cancel_target is None:
            # Rests far below the market for ten minutes, until the operator cancels it.
            self.cancel_target = trace_id
            return {**base, "order_type": "LIMIT", "price": _price(price * Decimal("0.85")), "ttl_seconds": "600"}
        roll = self.rng.random()
        if roll < 0.50:
            return {**base, "order_type": "MARKET"}
        if roll < 0.60:
            return {**base, "order_type": "MARKET", "confidence": f"{self.rng.uniform(0.1, 0.45):.2f}"}
        if roll < 0.80:
            below = Decimal(str(self.rng.uniform(0.90, 0.95)))
            return {**base, "order_type": "LIMIT", "price": _price(price * below), "ttl_seconds": str(self.rng.randrange(4, 12))}
        if roll < 0.93:
            above = Decimal(str(self.rng.uniform(1.01, 1.03)))
            return {**base, "order_type": "LIMIT", "price": _price(price * above), "ttl_seconds": "60"}
        # A leveraged short on USD-M futures, protected by a stop above and a take-profit below.
        return {
            **base, "side": "SELL", "order_type": "MARKET", "market": "usdm", "leverage": str(self.rng.choice((2, 3, 5))),
            "stop_loss": _price(price * Decimal("1.03")), "take_profit": _price(price * Decimal("0.96")),
        }


def _kind(state: IntentState) -> str:
    if state is IntentState.PARTIALLY_FILLED:
        return "in flight or end state"
    return "end state" if state in TERMINAL_STATES else "in flight"


def _price(value: Decimal) -> str:
    places = Decimal("0.01") if value >= 10 else Decimal("0.0001")
    return str(value.quantize(places, rounding=ROUND_DOWN))


# --- the demo -----------------------------------------------------------------------------


@dataclass
class Progress:
    published: int = 0
    duplicates_published: int = 0
    unique: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    running: int = 0
    total: int = 0
    cancel_note: str = ""


class Demo:
    def __init__(self, stack: DevStack, args: argparse.Namespace) -> None:
        self.stack = stack
        self.decisions: int | None = args.decisions
        self.exit_when_done: bool = args.exit
        self.rate: float = args.rate or (25.0 if args.exit else 2.0)
        self.timeout: float = args.timeout
        self.rng = random.Random(args.seed if args.seed is not None else secrets.randbits(32))
        self.run_id = secrets.token_hex(3)
        self.progress = Progress()
        self.console = Console(stderr=self.exit_when_done)

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    @property
    def source(self) -> str:
        return f"demo-{self.run_id}"

    def ui_link(self) -> str:
        query = urllib.parse.quote(f'{constants.SA_SOURCE}="{self.source}"')
        return f"{self.stack.ui_url}/namespaces/{self.settings.temporal_namespace}/workflows?query={query}"

    async def run(self, stopping: asyncio.Event) -> int:
        client = await self.stack.client()
        started = time.monotonic()
        mix = DecisionMix(self.run_id, self.rng, await self._prices())
        tasks = [
            asyncio.create_task(self._publish(mix, client, stopping)),
            asyncio.create_task(self._cancel_when_open(mix, client, stopping)),
        ]
        try:
            if self.exit_when_done:
                return await self._until_done(client, stopping, started, mix)
            await self._display(client, stopping)
            return 0
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- publishing ---------------------------------------------------------------------

    async def _publish(self, mix: DecisionMix, client: Client, stopping: asyncio.Event) -> None:
        redis = self.stack.redis()
        via_stream = self.stack.ingress_available
        interval = 1.0 / self.rate if self.rate > 0 else 0.0
        next_at = time.monotonic()
        while not stopping.is_set() and (self.decisions is None or self.progress.published < self.decisions):
            if self.progress.published % 25 == 0 and self.progress.published:
                mix.prices = await self._prices()
            fields, repeated = mix.next()
            if via_stream:
                await redis.xadd(constants.DECISION_STREAM, fields)  # type: ignore[arg-type]
            else:
                await start_intent(client, TradeDecision.model_validate(fields), self.settings)
            self.progress.published += 1
            self.progress.duplicates_published += 1 if repeated else 0
            self.progress.unique.add(fields["trace_id"])
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _cancel_when_open(self, mix: DecisionMix, client: Client, stopping: asyncio.Event) -> None:
        """The operator's part: once the resting LIMIT is OPEN, send the cancel signal."""
        while mix.cancel_target is None and not stopping.is_set():
            await asyncio.sleep(0.2)
        if mix.cancel_target is None:
            return
        handle = client.get_workflow_handle(mix.cancel_target)
        self.progress.cancel_note = f"{mix.cancel_target}: waiting for OPEN"
        while not stopping.is_set():
            try:
                status = await handle.query("status", result_type=IntentStatus)
            except RPCError:  # not started yet, or no worker has answered yet
                await asyncio.sleep(0.3)
                continue
            if status.state is IntentState.OPEN or status.finished:
                break
            await asyncio.sleep(0.3)
        if stopping.is_set():
            return
        await handle.signal("cancel_order", CancelRequest(reason=CANCEL_REASON))
        self.progress.cancel_note = f"{mix.cancel_target}: cancel_order signal sent"

    # --- watching -----------------------------------------------------------------------

    async def _refresh(self, client: Client) -> None:
        base = f'WorkflowType="{constants.WORKFLOW_NAME}" AND {constants.SA_SOURCE}="{self.source}"'
        counts = await asyncio.gather(
            *(client.count_workflows(f'{base} AND {constants.SA_TRADE_STATE}="{state.value}"') for state in STATE_ORDER)
        )
        self.progress.counts = {state.value: c.count for state, c in zip(STATE_ORDER, counts)}
        self.progress.total = (await client.count_workflows(base)).count
        self.progress.running = (await client.count_workflows(f'{base} AND ExecutionStatus="Running"')).count

    def _view(self) -> Group:
        p = self.progress
        table = Table(title=f"intents of run {self.source}", expand=False)
        table.add_column("state")
        table.add_column("intents", justify="right")
        table.add_column("", style="dim")
        for state in STATE_ORDER:
            table.add_row(state.value, str(p.counts.get(state.value, 0)), _kind(state))
        target = f" of {self.decisions}" if self.decisions else ""
        lines = [
            Text(f"published {p.published}{target} decisions ({p.duplicates_published} repeats), "
                 f"{p.total} intents, {p.running} running"),
            Text(f"operator cancel: {p.cancel_note or 'pending'}"),
            Text(f"Temporal Web UI: {self.ui_link()}"),
        ]
        if not self.exit_when_done:
            lines.append(Text("Ctrl-C stops the demo and the stack", style="dim"))
        return Group(table, *lines)

    async def _display(self, client: Client, stopping: asyncio.Event) -> None:
        with Live(self._view(), console=self.console, refresh_per_second=2, transient=False) as live:
            while not stopping.is_set():
                with contextlib.suppress(RPCError):
                    await self._refresh(client)
                live.update(self._view())
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stopping.wait(), 1.0)

    async def _until_done(self, client: Client, stopping: asyncio.Event, started: float, mix: DecisionMix) -> int:
        live = Live(self._view(), console=self.console, refresh_per_second=2) if self.console.is_terminal else None
        deadline = time.monotonic() + self.timeout
        with live or contextlib.nullcontext():
            while not stopping.is_set() and time.monotonic() < deadline:
                with contextlib.suppress(RPCError):
                    await self._refresh(client)
                if live is not None:
                    live.update(self._view())
                p = self.progress
                if p.published >= (self.decisions or 0) and p.total >= len(p.unique) and p.running == 0:
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stopping.wait(), 0.5)
        summary = await self._summary(client, started, mix)
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        sys.stdout.flush()
        return 0 if summary["ok"] else 1

    # --- the summary --------------------------------------------------------------------

    async def _summary(self, client: Client, started: float, mix: DecisionMix) -> dict[str, Any]:
        p = self.progress
        results = await self._results(client, sorted(p.unique))
        ended = [r for r in results.values() if r is not None]
        states = {state.value: 0 for state in STATE_ORDER if state in TERMINAL_STATES}
        for result in ended:
            states[result.state.value] += 1
        approved = {r.client_order_id for r in ended if r.client_order_id is not None}
        orders = await self._exchange_orders({client_order_id(tid) for tid in p.unique})
        per_id: dict[str, int] = {}
        for order in orders:
            per_id[order["clientOrderId"]] = per_id.get(order["clientOrderId"], 0) + 1
        # Every published decision either started a workflow or was refused as a duplicate.
        await self._refresh(client)
        refused = p.published - p.total
        cancelled = results.get(mix.cancel_target or "")
        unfinished = sorted(tid for tid, r in results.items() if r is None)
        ok = not unfinished and refused == p.duplicates_published and len(orders) == len(approved) and all(n == 1 for n in per_id.values()) and set(per_id) == approved
        return {
            "ok": ok,
            "run": self.source,
            "path": "stream+ingress" if self.stack.ingress_available else "direct start",
            "decisions_published": p.published,
            "duplicates_published": p.duplicates_published,
            "duplicates_refused": refused,
            "intents": len(p.unique),
            "ended": len(ended),
            "unfinished": unfinished[:20],
            "states": states,
            "approved_intents": len(approved),
            "exchange_orders": len(orders),
            "intents_with_more_than_one_order": sorted(cid for cid, n in per_id.items() if n > 1),
            "operator_cancel": {"trace_id": mix.cancel_target, "state": cancelled.state.value if cancelled else None},
            "seconds": round(time.monotonic() - started, 1),
            "ui_url": self.ui_link(),
        }

    async def _results(self, client: Client, trace_ids: list[str]) -> dict[str, IntentResult | None]:
        gate = asyncio.Semaphore(32)

        async def one(trace_id: str) -> IntentResult | None:
            async with gate:
                handle = client.get_workflow_handle(trace_id, result_type=IntentResult)
                try:
                    description = await handle.describe()
                    if description.status is None or description.status.name == "RUNNING":
                        return None
                    return await handle.result()
                except Exception:  # noqa: BLE001 - not found or failed: counted as not ended
                    return None

        values = await asyncio.gather(*(one(tid) for tid in trace_ids))
        return dict(zip(trace_ids, values))

    # --- the exchange and the ingress -----------------------------------------------------

    async def _prices(self) -> dict[str, Decimal]:
        prices = await PaperAdmin(self.stack.exchange_url, timeout=10).prices()
        allowed = set(self.settings.allowed_symbols)
        return {symbol: Decimal(price) for symbol, price in prices.items() if symbol in allowed}

    async def _exchange_orders(self, client_order_ids: set[str]) -> list[dict[str, Any]]:
        orders = await PaperAdmin(self.stack.exchange_url).orders()
        return [order for order in orders if order.get("clientOrderId") in client_order_ids]
