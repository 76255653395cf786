"""The resting-orders scenario: what following N open LIMIT orders costs, and how soon a fill ends its intent.

For each open count N and each follow mode (``streams``: ``QT_ORDER_EVENTS=auto`` with the
``exchange-events`` listener; ``poll``: ``QT_ORDER_EVENTS=poll``, no listener) one fresh
stack (Redis, Temporal dev server, paper exchange, one worker with the ingress in it, the
listener in streams mode only) gets N LIMIT buys priced at half the held market price, so
they rest. Once all N are NEW at the exchange they are held ``hold`` seconds, and measured:

* REST request weight per open order per minute, from the exchange's record of Binance
  requests (``/_paper/requests``): every one of them is the worker's or the listener's,
  since the benchmark itself calls only the ``/_paper/`` admin API, which is not charged;
* the peak ``X-MBX-USED-WEIGHT-1M`` the exchange answered during the hold: its fixed
  one-minute window (``at_ms // 60000``, as its limiter counts) summed over that record;
* RSS and CPU of the worker and the listener (``/proc``), also per open intent;
* the fleet request budget's waits and refusals (the worker's Prometheus metrics).

Then the orders are filled and *fill to terminal* is measured per intent: from the fill's
transaction time at the exchange (the order's ``updateTime``) to the workflow's close time
in Temporal visibility, the moment its terminal state is recorded. Both clocks are this
host's. Each symbol's orders rest on price levels one tick apart, ``fill_batch`` orders a
level; the price is moved down one level at a time, and each batch is waited for, for
``trickle_seconds`` (the latency a fill sees when the system is not busy with others); then
every symbol's price is moved below all levels at once (the burst: the latency when every
remaining order fills in the same second). Last, every intent must be FILLED with exactly
one order at the exchange.

Binance allows 200 open orders per symbol (``MAX_NUM_ORDERS``); the paper exchange does not
enforce it on spot, but the orders are spread over ``ceil(N / per_symbol)`` generated
symbols (``RST001USDT``, ...) all the same, as they would have to be on Binance.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import aiohttp
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench import procstat
from bench.scenarios import Levers, percentiles
from paper_exchange.admin_client import PaperAdmin
from quantum_trader import constants
from quantum_trader.cli import CommandError
from quantum_trader.connections import redis_client
from quantum_trader.ids import client_order_id
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState, OrderStatus
from tools.dev import HOST, DevStack, StackOptions, run_until_stopped

# Binance's MAX_NUM_ORDERS filter: open orders per symbol.
PER_SYMBOL = 200
MARKET_PRICE = "1"
# Each symbol's orders rest on price levels one tick apart, ``fill_batch`` orders a level, so
# that moving the price down one level fills one batch: 0.5000, 0.4999, ...
TOP_PRICE = Decimal("0.5")
TICK = Decimal("0.0001")  # the generic symbols' tick size
BURST_PRICE = "0.4"  # below every level: fills whatever still rests
QUANTITY = "20"  # 10 USDT at the limit price: above the generic symbols' 5 USDT minimum notional
# Binance's spot request weight per minute, enforced by the paper exchange (429 above it).
WEIGHT_LIMIT = 6_000
# New orders per 10 s the paper exchange announces and enforces. Placing is not what this
# scenario measures: Binance's 100 per 10 s would make placing 10,000 orders take 17 minutes.
ORDER_LIMIT_10S = 10_000
POLL_SECONDS = 0.5
MINUTE_MS = 60_000
BUDGET_WAITS = "quantum_exchange_budget_waits"
# How long a fill may stay unseen beyond its share of the work: a watch window (30 s) and
# the longest back-off after failed watches (5 min), as when the request budget refuses polls.
UNSEEN_ALLOWANCE_SECONDS = 330
# Intents of the batches whose histories split fill to terminal into its two halves.
BREAKDOWN_SAMPLE = 20

TARGETS = {
    "fill_to_terminal_p50_ms": 20,
    "fill_to_terminal_p99_ms": 100,
    "weight_per_open_order_per_minute": 2,
    "peak_used_weight_1m_at_10000": 3_000,
}


class FollowMode(StrEnum):
    STREAMS = "streams"
    POLL = "poll"


@dataclass(frozen=True)
class RestingPlan:
    """What one resting run does; every field reaches the report."""

    open_counts: tuple[int, ...]
    modes: tuple[FollowMode, ...]
    hold_seconds: float
    reconcile_seconds: float
    poll_seconds: float
    per_symbol: int = PER_SYMBOL
    # Polling is run only up to this many open orders unless forced: past it the fleet
    # budget throttles the polls and the run takes long without saying more.
    poll_max_open: int = 1_000
    ttl_seconds: int = 3_600
    # Fills: batches of this many orders, one price level at a time, each waited for, for
    # up to ``trickle_seconds`` (at least one batch); then the rest at once (the burst).
    fill_batch: int = 10
    trickle_seconds: float = 60.0
    # Decisions published per second; 0: all at once.
    place_per_second: float = 0.0
    # Worker activity slots: None sizes them to the open count (every watch holds one).
    max_concurrent_activities: int | None = None
    # QT_ORDER_WATCH_WINDOW_SECONDS of the stacks (taken from the environment's settings).
    watch_window_seconds: float = 30.0

    def runs(self) -> list[tuple[int, FollowMode]]:
        return [(count, mode) for count in self.open_counts for mode in self.modes]

    def skipped(self, count: int, mode: FollowMode) -> str | None:
        if mode is FollowMode.POLL and count > self.poll_max_open:
            return f"polling runs up to {self.poll_max_open} open orders (--resting-poll-max-open)"
        return None

    def activity_slots(self, count: int) -> int:
        if self.max_concurrent_activities is not None:
            return self.max_concurrent_activities
        return max(200, count + 100)

    def cached_workflows(self, count: int) -> int:
        """Every resting intent stays in the worker's workflow cache: an evicted one replays
        its history at each watch window's end."""
        return max(1_000, count + 100)


@dataclass
class ProcessUse:
    """One process over the hold: memory, and CPU as seconds and as a share of one core."""

    rss_before_mb: float
    rss_mb: float
    peak_rss_mb: float
    cpu_seconds: float
    cpu_percent: float
    rss_kib_per_open_intent: float | None = None
    cpu_ms_per_open_intent_per_minute: float | None = None


@dataclass
class RestingResult:
    mode: str
    open: int
    symbols: int
    per_symbol: int
    order_events: str
    reconcile_seconds: float
    poll_seconds: float
    max_concurrent_activities: int
    max_cached_workflows: int = 1_000
    skipped: str | None = None
    error: str | None = None
    seconds_to_resting: float | None = None
    resting: int = 0
    hold_seconds: float | None = None
    weight: dict[str, Any] = field(default_factory=dict)
    processes: dict[str, ProcessUse] = field(default_factory=dict)
    budget_waits: dict[str, float] = field(default_factory=dict)
    fill_batch: int = 0
    fill_batches: int = 0
    fill_seconds: float | None = None
    # Fill to terminal of the batches filled one at a time, and of the burst that filled the rest.
    fill_to_terminal_ms: list[float] = field(default_factory=list)
    burst: int = 0
    burst_fill_to_terminal_ms: list[float] = field(default_factory=list)
    # Where a batch fill's time goes: fill to the watch's completion recorded by the server,
    # then to the close (workflow task, result publication, completion).
    breakdown: dict[str, Any] = field(default_factory=dict)
    # Fill waits that ran out (the run goes on, and counts what ended).
    fill_timeouts: list[str] = field(default_factory=list)
    states: dict[str, int] = field(default_factory=dict)
    filled: int = 0
    orders_at_exchange: int = 0
    intents_with_one_order: int = 0
    lost: int = 0
    wall_seconds: float | None = None


def symbols_for(count: int, per_symbol: int) -> tuple[str, ...]:
    return tuple(f"RST{index:03d}USDT" for index in range(1, max(1, math.ceil(count / per_symbol)) + 1))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class RestingStack(DevStack):
    """A dev stack on free ports: the listener only in streams mode, the exchange trading
    the generated symbols, the ingress in the worker, the worker's metrics served."""

    def __init__(self, home: Path, settings: Settings, mode: FollowMode, symbols: Sequence[str], levers: Levers,
                 reconcile_seconds: float, poll_seconds: float, result_maxlen: int, out: TextIO) -> None:
        options = StackOptions(
            home=home, temporal_port=_free_port(), ui_port=_free_port(), redis_port=_free_port(),
            exchange_port=_free_port(), codec_port=_free_port(), order_events=mode is FollowMode.STREAMS,
        )
        self.metrics_port = _free_port()
        settings = settings.model_copy(update={
            "order_events": "auto" if mode is FollowMode.STREAMS else "poll",
            "reconcile_seconds": reconcile_seconds,
            "order_poll_seconds": poll_seconds,
            "allowed_symbols": tuple(symbols),
            "worker_ingress": True,
            "worker_metrics_port": self.metrics_port,
            "result_stream_maxlen": max(10_000, result_maxlen),
        })
        super().__init__(options, settings, out)
        if self.external_redis:
            raise CommandError("the benchmark runs its own redis-server per scenario: install redis-server")
        self.symbols = tuple(symbols)
        self.levers = levers

    @property
    def metrics_url(self) -> str:
        return f"http://{HOST}:{self.metrics_port}/metrics"

    def _plan(self) -> list[Any]:
        planned = super()._plan()
        for child in planned:
            if child.name == "exchange":
                child.argv += ["--symbols", ",".join(self.symbols), "--weight-limit", str(WEIGHT_LIMIT),
                               "--order-limit-10s", str(ORDER_LIMIT_10S)]
            elif child.name == "worker":
                child.argv += self.levers.worker_flags()
        return planned


def level_price(level: int) -> Decimal:
    return TOP_PRICE - level * TICK


def decision_fields(trace_id: str, symbol: str, price: Decimal, ttl_seconds: int) -> dict[str, str]:
    """A LIMIT buy at about half the held price: it rests until the price is moved."""
    return {
        "trace_id": trace_id, "symbol": symbol, "action": "BUY", "quantity": QUANTITY, "order_type": "LIMIT",
        "price": str(price), "ttl_seconds": str(ttl_seconds), "confidence": "0.9", "source": "bench",
        "timestamp": datetime.now(UTC).isoformat(),
    }


class RequestRecord:
    """The exchange's record of Binance requests, read as it grows (it keeps the last 20,000)."""

    def __init__(self, paper: PaperAdmin) -> None:
        self.paper = paper
        self.rows: list[dict[str, Any]] = []

    async def read(self, since_ms: int) -> None:
        """Add the requests from ``since_ms`` (or from the last one read) that are new."""
        start = self.rows[-1]["at_ms"] if self.rows else since_ms
        already = sum(1 for row in reversed(self.rows) if row["at_ms"] == start) if self.rows else 0
        fresh = await self.paper.requests(since_ms=start)
        self.rows += fresh[already:]

    def between(self, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        return [row for row in self.rows if start_ms <= row["at_ms"] <= end_ms]


def weight_summary(rows: Sequence[dict[str, Any]], all_rows: Sequence[dict[str, Any]], open_orders: int,
                   start_ms: int, end_ms: int) -> dict[str, Any]:
    """Weight over the hold, per open order per minute, and the peak one-minute window the
    exchange's ``X-MBX-USED-WEIGHT-1M`` showed during it (earlier requests of a window the
    hold began in count, as they did in the header)."""
    minutes = max(end_ms - start_ms, 1) / MINUTE_MS
    total = sum(int(row["weight"]) for row in rows)
    windows: Counter[int] = Counter()
    first, last = start_ms // MINUTE_MS, end_ms // MINUTE_MS
    for row in all_rows:
        window = int(row["at_ms"]) // MINUTE_MS
        if first <= window <= last and row["at_ms"] <= end_ms:
            windows[window] += int(row["weight"])
    by_path = Counter(f"{row['method']} {row['path']}" for row in rows)
    by_status = Counter(str(row["status"]) for row in rows)
    return {
        "requests": len(rows),
        "total": total,
        "per_minute": round(total / minutes, 1),
        "per_open_order_per_minute": round(total / open_orders / minutes, 3) if open_orders else None,
        "peak_used_weight_1m": max(windows.values(), default=0),
        "windows_1m": {str(window): value for window, value in sorted(windows.items())},
        "requests_by_endpoint": dict(by_path.most_common()),
        "requests_by_status": dict(by_status),
        "refused_429": by_status.get("429", 0),
    }


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)")


async def budget_waits(url: str) -> dict[str, float]:
    """The worker's ``quantum_exchange_budget_waits`` counters by labels (empty when unreadable)."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            async with session.get(url) as response:
                text = await response.text()
    except (aiohttp.ClientError, TimeoutError, OSError):
        return {}
    found: dict[str, float] = {}
    for line in text.splitlines():
        sample = _SAMPLE.match(line)
        if sample is None or not sample["name"].startswith(BUDGET_WAITS) or sample["name"].endswith("_created"):
            continue
        labels = ",".join(part for part in (sample["labels"] or "").split(",") if part and not part.startswith("service"))
        found[labels or "all"] = found.get(labels or "all", 0.0) + float(sample["value"])
    return found


def _difference(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {key: value - before.get(key, 0.0) for key, value in after.items() if value - before.get(key, 0.0)}


async def _until(probe: Callable[[], Any], timeout: float, what: str, every: float = POLL_SECONDS) -> Any:
    """Poll ``probe`` until it returns something true, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = await probe()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(every)


class RestingRun:
    """One open count in one follow mode, on its own fresh stack."""

    def __init__(self, plan: RestingPlan, count: int, mode: FollowMode, home: Path, settings: Settings,
                 levers: Levers, say: Callable[[str], None]) -> None:
        self.plan, self.count, self.mode, self.home = plan, count, mode, home
        self.settings, self.say = settings, say
        self.symbols = symbols_for(count, plan.per_symbol)
        self.levers = dataclasses.replace(levers, max_concurrent_activities=plan.activity_slots(count),
                                          max_cached_workflows=plan.cached_workflows(count))
        self.result = RestingResult(
            mode=mode.value, open=count, symbols=len(self.symbols), per_symbol=plan.per_symbol,
            order_events="auto" if mode is FollowMode.STREAMS else "poll", reconcile_seconds=plan.reconcile_seconds,
            poll_seconds=plan.poll_seconds, max_concurrent_activities=self.levers.max_concurrent_activities,
            max_cached_workflows=plan.cached_workflows(count),
            fill_batch=plan.fill_batch,
        )
        self.tag = f"resting {mode.value} N={count}"

    async def run(self) -> RestingResult:
        began = time.monotonic()
        shutil.rmtree(self.home, ignore_errors=True)
        self.home.mkdir(parents=True)
        with open(self.home / "stack.out", "w") as out:
            stack = RestingStack(self.home, self.settings, self.mode, self.symbols, self.levers, self.plan.reconcile_seconds,
                                 self.plan.poll_seconds, 2 * self.count, out)
            code = await run_until_stopped(stack, lambda stopping: self._body(stack, stopping))
        if code != 0 and self.result.error is None:
            self.result.error = f"stack failed (exit {code}); see {self.home / 'stack.out'} and {self.home / 'logs'}"
        self.result.wall_seconds = round(time.monotonic() - began, 1)
        return self.result

    async def _body(self, stack: RestingStack, stopping: asyncio.Event) -> int:
        pids = {child.name: child.pid for child in stack.children if child.pid is not None}
        self.say(f"[{self.tag}] stack ready: " + ", ".join(f"{name}={pid}" for name, pid in pids.items()))
        paper = PaperAdmin(stack.exchange_url)
        redis = redis_client(stack.redis_url)
        measuring = asyncio.create_task(self._measure(stack, paper, redis, pids))
        stopped = asyncio.create_task(stopping.wait())
        try:
            await asyncio.wait({measuring, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not measuring.done():
                measuring.cancel()
                self.result.error = "stopped by a signal"
            with contextlib.suppress(asyncio.CancelledError):
                await measuring
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            self.result.error = f"{type(error).__name__}: {error}"
        finally:
            stopped.cancel()
            await redis.aclose()
        return 0

    async def _measure(self, stack: RestingStack, paper: PaperAdmin, redis: Any, pids: dict[str, int]) -> None:
        for symbol in self.symbols:
            await paper.set_price(symbol, MARKET_PRICE)  # held: the price walk leaves it alone
        run_id = f"{int(time.time()) % 100000:05d}"
        trace_ids = [f"bench-r-{self.mode.value[0]}-{run_id}-{index:05d}" for index in range(self.count)]
        per_symbol, batch = self.plan.per_symbol, self.plan.fill_batch
        symbol_of = {trace_id: self.symbols[index // per_symbol] for index, trace_id in enumerate(trace_ids)}
        level_of = {trace_id: (index % per_symbol) // batch for index, trace_id in enumerate(trace_ids)}
        baseline_rss = {name: procstat.rss_mb(pid) for name, pid in pids.items()}
        submitted = time.monotonic()
        rate = self.plan.place_per_second
        chunk = max(1, int(rate)) if rate > 0 else len(trace_ids)
        for start in range(0, len(trace_ids), chunk):
            if rate > 0:  # pacing the publication, one chunk a second
                await asyncio.sleep(max(0.0, submitted + start / rate - time.monotonic()))
            async with redis.pipeline(transaction=False) as pipe:
                for trace_id in trace_ids[start:start + chunk]:
                    pipe.xadd(constants.DECISION_STREAM, decision_fields(trace_id, symbol_of[trace_id], level_price(level_of[trace_id]),
                                                                       self.plan.ttl_seconds))
                await pipe.execute()

        async def all_resting() -> bool:
            orders = await paper.orders(market="spot")
            self.result.resting = sum(1 for order in orders if order["status"] == OrderStatus.NEW)
            return self.result.resting >= self.count

        # Seldom at large counts: the admin API renders every order, which costs the exchange CPU.
        every = 2.0 if self.count >= 1_000 else POLL_SECONDS
        await _until(all_resting, 120 + self.count / 5, f"{self.count} orders resting", every=every)
        self.result.seconds_to_resting = round(time.monotonic() - submitted, 1)
        self.say(f"[{self.tag}] all {self.count} resting after {self.result.seconds_to_resting} s; holding {self.plan.hold_seconds:g} s")
        await self._hold(stack, paper, pids, baseline_rss)
        burst = await self._fill(stack, paper, redis, trace_ids, symbol_of, level_of)
        await self._check(stack, paper, redis, trace_ids, burst)

    async def _hold(self, stack: RestingStack, paper: PaperAdmin, pids: dict[str, int], baseline_rss: dict[str, float]) -> None:
        watched = {name: pids[name] for name in ("worker", "exchange-events") if name in pids}
        record = RequestRecord(paper)
        for pid in watched.values():
            procstat.reset_peak(pid)
        cpu_before = {name: procstat.cpu_seconds(pid) for name, pid in watched.items()}
        waits_before = await budget_waits(stack.metrics_url)
        start_ms = int(time.time() * 1000)
        began = time.monotonic()
        await record.read(start_ms - start_ms % MINUTE_MS)
        while (left := self.plan.hold_seconds - (time.monotonic() - began)) > 0:
            await asyncio.sleep(min(5.0, left))
            await record.read(start_ms)
        end_ms = int(time.time() * 1000)
        held = time.monotonic() - began
        await record.read(start_ms)
        self.result.hold_seconds = round(held, 1)
        self.result.budget_waits = _difference(await budget_waits(stack.metrics_url), waits_before)
        self.result.weight = weight_summary(record.between(start_ms, end_ms), record.rows, self.count, start_ms, end_ms)
        for name, pid in watched.items():
            cpu = procstat.cpu_seconds(pid) - cpu_before[name]
            rss = procstat.rss_mb(pid)
            use = ProcessUse(
                rss_before_mb=round(baseline_rss.get(name, 0.0), 1), rss_mb=round(rss, 1),
                peak_rss_mb=round(procstat.peak_rss_mb(pid), 1), cpu_seconds=round(cpu, 2),
                cpu_percent=round(100 * cpu / held, 1),
            )
            if self.count:
                use.rss_kib_per_open_intent = round((rss - baseline_rss.get(name, 0.0)) * 1024 / self.count, 1)
                use.cpu_ms_per_open_intent_per_minute = round(cpu * 1000 / self.count / (held / 60), 3)
            self.result.processes[name] = use
        weight = self.result.weight
        self.say(f"[{self.tag}] hold {held:.0f} s: {weight['per_open_order_per_minute']} weight/order/min, "
                 f"peak {weight['peak_used_weight_1m']}/min, {weight['refused_429']} refused (429)")

    async def _fill(self, stack: RestingStack, paper: PaperAdmin, redis: Any, trace_ids: Sequence[str],
                    symbol_of: dict[str, str], level_of: dict[str, int]) -> set[str]:
        """Batch by batch (one price level of one symbol), each waited for, while the trickle
        lasts; then every symbol's price below all levels at once. Returns the burst's trace IDs."""
        began = time.monotonic()
        levels = sorted({(symbol_of[t], level_of[t]) for t in trace_ids}, key=lambda key: (self.symbols.index(key[0]), key[1]))
        size = Counter((symbol_of[t], level_of[t]) for t in trace_ids)
        expected = 0
        filled: set[tuple[str, int]] = set()
        for symbol, level in levels:
            if filled and time.monotonic() - began >= self.plan.trickle_seconds:
                break
            await paper.set_price(symbol, level_price(level))
            expected += size[(symbol, level)]
            filled.add((symbol, level))
            self.result.fill_batches += 1
            if not await self._results_reach(stack, redis, expected, size[(symbol, level)], f"batch {symbol}@{level_price(level)}"):
                break
        burst = {t for t in trace_ids if (symbol_of[t], level_of[t]) not in filled}
        if burst:
            for symbol in sorted({symbol_of[t] for t in burst}):
                await paper.set_price(symbol, BURST_PRICE)
            await self._results_reach(stack, redis, len(trace_ids), len(burst), "burst")
        self.result.burst = len(burst)
        self.result.fill_seconds = round(time.monotonic() - began, 1)
        return burst

    async def _results_reach(self, stack: RestingStack, redis: Any, expected: int, batch: int, what: str) -> bool:
        """Wait for ``expected`` results in all; False (and noted) if they do not come in time."""
        async def ended() -> bool:
            return int(await redis.xlen(stack.settings.result_stream)) >= expected

        timeout = 120 + batch + UNSEEN_ALLOWANCE_SECONDS
        try:
            await _until(ended, timeout, f"{what}: {batch} fills ending", every=0.05)
        except TimeoutError as error:
            self.result.fill_timeouts.append(str(error))
            self.say(f"[{self.tag}] {error}")
            return False
        return True

    async def _check(self, stack: RestingStack, paper: PaperAdmin, redis: Any, trace_ids: Sequence[str],
                     burst: set[str]) -> None:
        """Fill to terminal per intent; every intent FILLED, with one order at the exchange."""
        client = await stack.client()
        query = f'WorkflowType="{constants.WORKFLOW_NAME}" AND ExecutionStatus="Completed"'

        async def closed() -> bool:
            return (await client.count_workflows(query)).count >= len(trace_ids)

        try:
            await _until(closed, 60 + len(trace_ids) / 50, "every workflow closed in visibility")
        except TimeoutError as error:
            self.result.fill_timeouts.append(str(error))
        close_ms: dict[str, float] = {}
        async for execution in client.list_workflows(query, page_size=1000):
            if execution.close_time is not None:
                close_ms[execution.id] = execution.close_time.timestamp() * 1000
        states: dict[str, str] = {}
        published_ms: dict[str, float] = {}  # an entry's ID is the Redis clock's ms when it was added
        for entry_id, raw in await redis.xrange(stack.settings.result_stream):
            fields = {key.decode(): value.decode() for key, value in raw.items()}
            states[fields.get("trace_id", "")] = fields.get("state", "")
            published_ms[fields.get("trace_id", "")] = float(entry_id.decode().partition("-")[0])
        orders: dict[str, list[dict[str, Any]]] = {}
        for order in await paper.orders(market="spot"):
            orders.setdefault(order["clientOrderId"], []).append(order)
        fill_ms: dict[str, float] = {}
        latencies: list[float] = []
        burst_latencies: list[float] = []
        for trace_id in trace_ids:
            own = orders.get(client_order_id(trace_id), [])
            if len(own) == 1:
                self.result.intents_with_one_order += 1
                if own[0]["status"] == OrderStatus.FILLED and trace_id in close_ms:
                    fill_ms[trace_id] = float(own[0]["updateTime"])
                    sample = round(close_ms[trace_id] - fill_ms[trace_id], 1)
                    (burst_latencies if trace_id in burst else latencies).append(sample)
        self.result.orders_at_exchange = sum(len(own) for own in orders.values())
        self.result.states = dict(Counter(states.get(trace_id, "missing") for trace_id in trace_ids))
        self.result.filled = self.result.states.get(IntentState.FILLED, 0)
        self.result.lost = len(trace_ids) - self.result.filled
        self.result.fill_to_terminal_ms = latencies
        self.result.burst_fill_to_terminal_ms = burst_latencies
        batched = [t for t in trace_ids if t not in burst and t in fill_ms][:BREAKDOWN_SAMPLE]
        self.result.breakdown = await breakdown(client, batched, fill_ms, close_ms, published_ms)
        shown, bursted = percentiles(latencies), percentiles(burst_latencies)
        self.say(f"[{self.tag}] {self.result.filled}/{len(trace_ids)} FILLED, {self.result.orders_at_exchange} orders; "
                 f"fill to terminal p50 {shown['p50']} ms, p99 {shown['p99']} ms ({len(latencies)} in "
                 f"{self.result.fill_batches} batches); burst of {len(burst)}: p50 {bursted['p50']} ms, p99 {bursted['p99']} ms")


async def breakdown(client: Client, trace_ids: Sequence[str], fill_ms: dict[str, float],
                    close_ms: dict[str, float], published_ms: dict[str, float]) -> dict[str, Any]:
    """Fill to the watch's completion (the last activity completion in the history, as the
    server recorded it) and from there to the close, for ``trace_ids``; and fill to the
    result's publication on the result stream, the moment downstream consumers learn of it
    (one step before the close: the workflow completes after the stream has the result)."""
    to_watch, to_close, to_published = [], [], []
    for trace_id in trace_ids:
        history = await client.get_workflow_handle(trace_id).fetch_history()
        completed = [event for event in history.events if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED]
        if not completed:
            continue
        watched_ms = completed[-1].event_time.ToMilliseconds()
        to_watch.append(round(watched_ms - fill_ms[trace_id], 1))
        to_close.append(round(close_ms[trace_id] - watched_ms, 1))
        if trace_id in published_ms:
            to_published.append(round(published_ms[trace_id] - fill_ms[trace_id], 1))
    return {"samples": len(to_watch), "fill_to_watch_returned_ms": percentiles(to_watch),
            "watch_returned_to_close_ms": percentiles(to_close), "fill_to_published_ms": percentiles(to_published)}


async def _run_all(plan: RestingPlan, home: Path, settings: Settings, levers: Levers,
                   say: Callable[[str], None]) -> list[RestingResult]:
    results = []
    for count, mode in plan.runs():
        skipped = plan.skipped(count, mode)
        if skipped is not None:
            say(f"[resting {mode.value} N={count}] skipped: {skipped}")
            results.append(RestingResult(
                mode=mode.value, open=count, symbols=len(symbols_for(count, plan.per_symbol)), per_symbol=plan.per_symbol,
                order_events="poll", reconcile_seconds=plan.reconcile_seconds, poll_seconds=plan.poll_seconds,
                max_concurrent_activities=plan.activity_slots(count), max_cached_workflows=plan.cached_workflows(count),
                fill_batch=plan.fill_batch, skipped=skipped,
            ))
            continue
        say(f"[resting {mode.value} N={count}] starting a fresh stack under {home / f'{mode.value}-{count}'}")
        run = RestingRun(plan, count, mode, home / f"{mode.value}-{count}", settings, levers, say)
        result = await run.run()
        if result.error:
            say(f"[resting {mode.value} N={count}] {result.error}")
        results.append(result)
    return results


def run_all(plan: RestingPlan, home: Path, settings: Settings, levers: Levers, say: Callable[[str], None]) -> list[RestingResult]:
    return asyncio.run(_run_all(plan, home, settings, levers, say))


def parse_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise CommandError(f"--open takes comma-separated counts, not {text!r}") from None
    if not counts or any(count <= 0 for count in counts):
        raise CommandError("--open takes positive counts")
    return counts


def parse_modes(text: str) -> tuple[FollowMode, ...]:
    try:
        return tuple(FollowMode(part.strip()) for part in text.split(",") if part.strip())
    except ValueError:
        raise CommandError(f"--follow takes names from {','.join(m.value for m in FollowMode)}, not {text!r}") from None

