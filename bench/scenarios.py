"""Each scenario's stack, started fresh, and its phases driven by the load generator."""

from __future__ import annotations

import asyncio
import shutil
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from bench import procstat, server_metrics
from bench.load import CeilingDriver, Driver, Observed, StreamDriver, wait_finished
from quantum_trader import constants
from quantum_trader.cli import CommandError
from quantum_trader.settings import Settings
from tools.dev import HOST, DevStack, StackOptions, run_until_stopped, settings_environment
from tools.supervisor import Child

CEILING_TASK_QUEUE = "bench-ceiling"
SETTLE_SECONDS = 2.0


class Scenario(StrEnum):
    CEILING = "ceiling"
    BASELINE = "baseline"
    SYSTEM = "system"


LABELS = {
    Scenario.CEILING: "a: Temporal ceiling (empty workflow, eager start)",
    Scenario.BASELINE: "b: original streams design (router + executor)",
    Scenario.SYSTEM: "c: this system (ingress + TradeIntentWorkflow)",
}
# The process whose peak memory is reported as the worker's.
WORKER_OF = {Scenario.CEILING: "worker", Scenario.BASELINE: "executor", Scenario.SYSTEM: "worker"}


@dataclass(frozen=True)
class Levers:
    """The tuning knobs a run used; every one reaches the processes through flags or env."""

    max_concurrent_activities: int = 200
    max_concurrent_workflow_tasks: int = 100
    # The worker's workflow cache; None keeps the SDK's default (1,000).
    max_cached_workflows: int | None = None
    worker_options: tuple[str, ...] = ()
    dynamic_config: tuple[str, ...] = ()
    sqlite_pragmas: tuple[str, ...] = ()
    # c's ingress runs in the worker process (eager starts) unless this is set.
    separate_ingress: bool = False

    def worker_flags(self) -> list[str]:
        flags = ["--max-concurrent-activities", str(self.max_concurrent_activities),
                 "--max-concurrent-workflow-tasks", str(self.max_concurrent_workflow_tasks)]
        if self.max_cached_workflows is not None:
            flags += ["--max-cached-workflows", str(self.max_cached_workflows)]
        for option in self.worker_options:
            flags += ["--option", option]
        return flags

    def describe(self, settings: Settings) -> dict[str, Any]:
        return {
            **asdict(self),
            "ingress_batch_size": settings.ingress_batch_size,
            "ingress_max_concurrent_starts": settings.ingress_max_concurrent_starts,
            "ingress_block_ms": settings.ingress_block_ms,
            "ingress_in_worker": not self.separate_ingress,
            "log_level": settings.log_level,
            "sqlite_pragmas_always": ["journal_mode=wal", "synchronous=normal"],
        }


@dataclass(frozen=True)
class Phase:
    name: str
    decisions: int
    rate: float | None  # None: all published at once (saturation)
    reported: bool = True


@dataclass
class PhaseResult:
    name: str
    offered: int
    rate: float | None
    completed: int
    lost: int
    wall_s: float
    throughput_per_s: float
    order_latency_ms: list[float]
    terminal_latency_ms: list[float]
    states: dict[str, int]
    orders_at_exchange: int | None
    cpu_seconds: dict[str, float]
    cpu_seconds_per_intent: float
    peak_rss_mb: dict[str, float]
    worker_peak_rss_mb: float
    # Temporal server database operations per intent, by operation (None: no server).
    server_db_ops_per_intent: dict[str, float] | None
    loadavg_before: tuple[float, float, float]
    loadavg_after: tuple[float, float, float]


@dataclass
class ScenarioResult:
    scenario: str
    label: str
    processes: list[str]
    phases: dict[str, PhaseResult] = field(default_factory=dict)
    error: str | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class ScenarioStack(DevStack):
    """The dev stack's parts that one scenario needs, with the run's levers applied."""

    def __init__(self, scenario: Scenario, home: Path, settings: Settings, levers: Levers, out: TextIO) -> None:
        options = StackOptions(
            home=home, temporal_port=_free_port(), ui_port=_free_port(), redis_port=_free_port(),
            exchange_port=_free_port(), codec_port=_free_port(),
        )
        if scenario is Scenario.CEILING:
            settings = settings.model_copy(update={"task_queue": CEILING_TASK_QUEUE})
        elif scenario is Scenario.SYSTEM:
            settings = settings.model_copy(update={"worker_ingress": not levers.separate_ingress})
        super().__init__(options, settings, out)
        if self.external_redis:
            raise CommandError("the benchmark runs its own redis-server per scenario: install redis-server")
        self.scenario = scenario
        self.levers = levers
        self.server_metrics_port = _free_port()

    @property
    def server_metrics_url(self) -> str | None:
        if self.scenario is Scenario.BASELINE:
            return None
        return f"http://{HOST}:{self.server_metrics_port}/metrics"

    def _plan(self) -> list[Child]:
        planned = {child.name: child for child in super()._plan()}
        temporal = planned["temporal"]
        temporal.argv += ["--metrics-port", str(self.server_metrics_port)]
        for value in self.levers.dynamic_config:
            temporal.argv += ["--dynamic-config-value", value]
        for pragma in self.levers.sqlite_pragmas:
            temporal.argv += ["--sqlite-pragma", pragma]
        worker = planned["worker"]
        if self.scenario is Scenario.CEILING:
            worker.argv = [sys.executable, "-m", "bench.workers", "ceiling", *self.levers.worker_flags()]
            return [planned["redis"], temporal, worker]
        if self.scenario is Scenario.BASELINE:
            return [planned["redis"], planned["exchange"], self._baseline_child("router"), self._baseline_child("executor")]
        if self.levers.worker_options:
            worker.argv = [sys.executable, "-m", "bench.workers", "system", *self.levers.worker_flags()]
        else:
            worker.argv = [*worker.argv, *self.levers.worker_flags()]
        return [planned[name] for name in ("redis", "temporal", "exchange", "worker", "ingress") if name in planned]

    def _baseline_child(self, role: str) -> Child:
        from bench.baseline import EXECUTION_GROUP, ROUTER_GROUP

        stream, group = {
            "router": (constants.DECISION_STREAM, ROUTER_GROUP),
            "executor": (constants.INTENT_STREAM, EXECUTION_GROUP),
        }[role]

        async def healthy(child: Child) -> bool:
            groups = await self.redis().xinfo_groups(stream)
            return any(_text(g.get("name") or g.get(b"name")) == group for g in groups)

        env = {**_environment(), **settings_environment(self.settings)}
        return Child(role, [sys.executable, "-m", "bench.baseline", role], self.logs / f"{role}.log",
                     f"group {group}", healthy, env=env)


def _environment() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if not key.startswith("QT_")}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _nearest_rank(values: Sequence[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(-(-share * len(ordered) // 1)) - 1))
    return ordered[index]


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "p50": rounded(_nearest_rank(values, 0.50)),
        "p95": rounded(_nearest_rank(values, 0.95)),
        "p99": rounded(_nearest_rank(values, 0.99)),
        "max": rounded(max(values) if values else None),
    }


class ScenarioRun:
    """Start one scenario's stack, run its phases, stop it."""

    def __init__(self, scenario: Scenario, home: Path, settings: Settings, levers: Levers,
                 phases: Sequence[Phase], timeout_for: Any, say: Any) -> None:
        self.scenario = scenario
        self.home = home
        self.settings = settings
        self.levers = levers
        self.phases = phases
        self.timeout_for = timeout_for
        self.say = say
        self.result = ScenarioResult(scenario.value, LABELS[scenario], [])

    async def run(self) -> ScenarioResult:
        shutil.rmtree(self.home, ignore_errors=True)
        self.home.mkdir(parents=True)
        with open(self.home / "stack.out", "w") as out:
            stack = ScenarioStack(self.scenario, self.home, self.settings, self.levers, out)
            code = await run_until_stopped(stack, lambda stopping: self._body(stack, stopping))
        if code != 0 and self.result.error is None:
            self.result.error = f"stack failed (exit {code}); see {self.home / 'stack.out'} and {self.home / 'logs'}"
        return self.result

    async def _driver(self, stack: ScenarioStack) -> Driver:
        if self.scenario is Scenario.CEILING:
            return CeilingDriver(stack.redis_url, await stack.client())
        order_key = "client_order_id" if self.scenario is Scenario.SYSTEM else "order_id"
        return StreamDriver(stack.redis_url, stack.exchange_url, stack.settings.result_stream, order_key)

    async def _body(self, stack: ScenarioStack, stopping: asyncio.Event) -> int:
        pids = {child.name: child.pid for child in stack.children if child.pid is not None}
        self.result.processes = sorted(pids)
        self.say(f"[{self.scenario}] stack ready: " + ", ".join(f"{name}={pid}" for name, pid in pids.items()))
        driver = await self._driver(stack)
        run_id = f"{int(time.time()) % 100000:05d}"
        try:
            for phase in self.phases:
                if stopping.is_set():
                    break
                result = await self._phase(driver, phase, pids, f"bench-{self.scenario.value[0]}-{run_id}-{phase.name}",
                                           stack.server_metrics_url)
                if phase.reported:
                    self.result.phases[phase.name] = result
                await asyncio.sleep(SETTLE_SECONDS)
        finally:
            await driver.close()
        return 0

    async def _phase(self, driver: Driver, phase: Phase, pids: dict[str, int], prefix: str,
                     server_metrics_url: str | None) -> PhaseResult:
        trace_ids = [f"{prefix}-{index:05d}" for index in range(phase.decisions)]
        for pid in pids.values():
            procstat.reset_peak(pid)
        load_before = procstat.loadavg()
        cpu_before = self._cpu(pids)
        server_before = await server_metrics.read(server_metrics_url) if server_metrics_url else None
        began = time.monotonic()
        published = await driver.publish(trace_ids, phase.rate)
        completed, _ = await wait_finished(driver, trace_ids, self.timeout_for(phase))
        cpu = {name: round(after - cpu_before[name], 2) for name, after in self._cpu(pids).items()}
        server_after = await server_metrics.read_after(server_metrics_url, server_before, completed) if server_metrics_url else None
        load_after = procstat.loadavg()
        peak = {name: round(procstat.peak_rss_mb(pid), 1) for name, pid in pids.items()}
        observed = Observed(published=published)
        await driver.observe(observed)
        result = _phase_result(
            phase, observed, cpu, peak, peak.get(WORKER_OF[self.scenario], 0.0), load_before, load_after,
            places_orders=self.scenario is not Scenario.CEILING,
            server_db_ops=server_metrics.per_intent(server_before, server_after, completed),
        )
        self.say(
            f"[{self.scenario}] {phase.name}: {result.completed}/{phase.decisions} ended in "
            f"{time.monotonic() - began:.1f}s, {result.throughput_per_s:.1f}/s, loadavg {load_after[0]}"
        )
        return result

    def _cpu(self, pids: dict[str, int]) -> dict[str, float]:
        return {name: procstat.cpu_seconds(pid) for name, pid in pids.items()}


def _phase_result(
    phase: Phase, observed: Observed, cpu: dict[str, float], peak: dict[str, float], worker_peak: float,
    load_before: tuple[float, float, float], load_after: tuple[float, float, float], *, places_orders: bool,
    server_db_ops: dict[str, float] | None = None,
) -> PhaseResult:
    ended = [trace_id for trace_id in observed.published if trace_id in observed.terminal]
    first = min(observed.published.values(), default=0.0)
    last = max((observed.terminal[t] for t in ended), default=first)
    wall = max(0.001, (last - first) / 1000)
    states: dict[str, int] = {}
    for trace_id in ended:
        states[observed.states[trace_id]] = states.get(observed.states[trace_id], 0) + 1
    return PhaseResult(
        name=phase.name,
        offered=phase.decisions,
        rate=phase.rate,
        completed=len(ended),
        lost=phase.decisions - len(ended),
        wall_s=round(wall, 2),
        throughput_per_s=round(len(ended) / wall, 1),
        order_latency_ms=[round(observed.accepted[t] - observed.published[t], 1) for t in ended if t in observed.accepted],
        terminal_latency_ms=[round(observed.terminal[t] - observed.published[t], 1) for t in ended],
        states=states,
        orders_at_exchange=observed.orders if places_orders else None,
        cpu_seconds=cpu,
        cpu_seconds_per_intent=round(sum(cpu.values()) / max(1, len(ended)), 4),
        peak_rss_mb=peak,
        worker_peak_rss_mb=worker_peak,
        server_db_ops_per_intent=server_db_ops,
        loadavg_before=load_before,
        loadavg_after=load_after,
    )
