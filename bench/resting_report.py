"""The resting-orders scenario's outputs: JSON, and one markdown table with the targets beside the numbers.

Targets are reported, never asserted: a number beside its target says ``yes`` or ``no``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.resting import TARGETS, ProcessUse, RestingPlan, RestingResult
from bench.scenarios import percentiles
from quantum_trader.states import IntentState


def run_summary(result: RestingResult) -> dict[str, Any]:
    """One run without its raw samples, with the fill-to-terminal percentiles and target checks."""
    samples = ("fill_to_terminal_ms", "burst_fill_to_terminal_ms")
    summary = {key: value for key, value in asdict(result).items() if key not in samples}
    for name in samples:
        values = getattr(result, name)
        summary[name] = {**percentiles(values), "samples": len(values)}
    summary["targets_met"] = targets_met(result)
    return summary


def targets_met(result: RestingResult) -> dict[str, bool | None]:
    """Each target against this run's number; None where the run has no such number."""
    latency = percentiles(result.fill_to_terminal_ms)
    per_order = result.weight.get("per_open_order_per_minute")
    peak = result.weight.get("peak_used_weight_1m")

    def at_most(value: float | None, target: float) -> bool | None:
        return None if value is None else value <= target

    return {
        "fill_to_terminal_p50_ms": at_most(latency["p50"], TARGETS["fill_to_terminal_p50_ms"]),
        "fill_to_terminal_p99_ms": at_most(latency["p99"], TARGETS["fill_to_terminal_p99_ms"]),
        "weight_per_open_order_per_minute": at_most(per_order, TARGETS["weight_per_open_order_per_minute"]),
        "peak_used_weight_1m_at_10000": (
            None if peak is None or result.open < 10_000 else peak < TARGETS["peak_used_weight_1m_at_10000"]
        ),
    }


def report_json(results: list[RestingResult], plan: RestingPlan, context: dict[str, Any]) -> dict[str, Any]:
    return {
        **context,
        "resting": {
            "plan": {**asdict(plan), "modes": [mode.value for mode in plan.modes]},
            "targets": TARGETS,
            "latency_measured": "fill transaction time at the exchange (the order's updateTime) to the workflow's "
                                "close time in Temporal visibility; fill_to_terminal_ms: batches filled one at a time, "
                                "burst_fill_to_terminal_ms: the rest filled at once",
            "runs": [run_summary(result) for result in results],
            "samples_ms": {f"{result.mode}-{result.open}": {"batches": result.fill_to_terminal_ms,
                                                            "burst": result.burst_fill_to_terminal_ms}
                           for result in results},
        },
    }


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _against(value: float | None, met: bool | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    return _number(value, digits) + ("" if met is None else (" yes" if met else " no"))


def _process(result: RestingResult, name: str) -> str:
    use = result.processes.get(name)
    if use is None:
        return "–"
    return (f"{use.rss_mb:,.0f} MiB ({_number(use.rss_kib_per_open_intent)} KiB/intent), "
            f"{use.cpu_percent:.1f}% CPU ({_number(use.cpu_ms_per_open_intent_per_minute, 2)} ms/intent/min)")


def _checked(result: RestingResult) -> tuple[str, str]:
    if not result.states:
        return "not checked", "not checked"
    return f"{result.filled:,}/{result.open:,}", f"{result.intents_with_one_order:,}/{result.open:,}"


def _budget(result: RestingResult) -> str:
    """The worker's request-budget refusals and waits over the hold (any priority)."""
    refused = sum(v for k, v in result.budget_waits.items() if 'outcome="refused"' in k)
    waited = sum(v for k, v in result.budget_waits.items() if 'outcome="waited"' in k)
    return f"{refused:,.0f}/{waited:,.0f}"


def _split(result: RestingResult) -> str:
    if not result.breakdown.get("samples"):
        return "–"
    to_watch, to_close = result.breakdown["fill_to_watch_returned_ms"], result.breakdown["watch_returned_to_close_ms"]
    published = result.breakdown.get("fill_to_published_ms")  # not in reports older than it
    split = f"{_number(to_watch['p50'], 0)} + {_number(to_close['p50'], 0)}"
    return f"{split} ({_number(published['p50'], 0)})" if published and published.get("p50") is not None else split


def _burst(result: RestingResult) -> str:
    if not result.burst:
        return "–"
    latency = percentiles(result.burst_fill_to_terminal_ms)
    return f"{result.burst:,}: {_number(latency['p50'], 0)}/{_number(latency['p99'], 0)}"


HEADER = ("follow", "open", "symbols", "weight/order/min (≤2)", "peak weight/min (<3,000 at 10k)", "429s",
          "budget refused/waited",
          "fill→terminal p50 ms (≤20)", "p99 ms (≤100)", "p50 split: fill→watch + watch→close (fill→published) ms", "batches×size",
          "burst: n, p50/p99 ms", IntentState.FILLED.value,
          "one order each", "worker", "listener", "run s")


def markdown_table(results: list[RestingResult]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(" --- " for _ in HEADER) + "|"]
    for result in results:
        if result.skipped or (result.error and not result.weight):
            note = f"skipped: {result.skipped}" if result.skipped else f"error: {result.error}"
            lines.append(f"| {result.mode} | {result.open:,} | {result.symbols} | {note} |" + " |" * (len(HEADER) - 4))
            continue
        met = targets_met(result)
        latency = percentiles(result.fill_to_terminal_ms)
        weight = result.weight
        row = [
            result.mode, f"{result.open:,}", str(result.symbols),
            _against(weight.get("per_open_order_per_minute"), met["weight_per_open_order_per_minute"], 3),
            _against(weight.get("peak_used_weight_1m"), met["peak_used_weight_1m_at_10000"], 0),
            str(weight.get("refused_429", 0)), _budget(result),
            _against(latency["p50"], met["fill_to_terminal_p50_ms"], 0),
            _against(latency["p99"], met["fill_to_terminal_p99_ms"], 0),
            _split(result), f"{result.fill_batches}×{result.fill_batch}", _burst(result),
            *_checked(result),
            _process(result, "worker"), _process(result, "exchange-events"), _number(result.wall_seconds, 0),
        ]
        lines.append("| " + " | ".join(row) + " |")
    notes = [f"- {result.mode} {result.open:,}: {timeout}" for result in results for timeout in result.fill_timeouts]
    notes += [f"- {result.mode} {result.open:,}: error: {result.error}" for result in results if result.error and result.weight]
    if notes:
        lines += ["", "Waits that ran out, errors (a run that measured its hold keeps its numbers):", *notes]
    return "\n".join(lines) + "\n"


def settings_line(results: list[RestingResult], plan: RestingPlan) -> str:
    slots = sorted({result.max_concurrent_activities for result in results})
    caches = sorted({result.max_cached_workflows for result in results})
    return (f"hold {plan.hold_seconds:g} s, QT_RECONCILE_SECONDS={plan.reconcile_seconds:g}, "
            f"QT_ORDER_POLL_SECONDS={plan.poll_seconds:g}, QT_ORDER_WATCH_WINDOW_SECONDS={plan.watch_window_seconds:g}, at most {plan.per_symbol} open orders per symbol, "
            f"{f'decisions at {plan.place_per_second:g}/s, ' if plan.place_per_second else ''}fills in batches of {plan.fill_batch} for {plan.trickle_seconds:g} s then the rest at once, "
            f"worker max concurrent activities {', '.join(str(s) for s in slots)}, "
            f"max cached workflows {', '.join(str(c) for c in caches)}")


def results_from_json(report: dict[str, Any]) -> list[RestingResult]:
    """The runs of a written report, samples included, to render its table again."""
    resting = report["resting"]
    results = []
    for run in resting["runs"]:
        fields = {key: value for key, value in run.items() if key in RestingResult.__dataclass_fields__}
        samples = resting["samples_ms"].get(f"{run['mode']}-{run['open']}", {})
        fields["fill_to_terminal_ms"] = samples.get("batches", [])
        fields["burst_fill_to_terminal_ms"] = samples.get("burst", [])
        fields["processes"] = {name: ProcessUse(**use) for name, use in run.get("processes", {}).items()}
        results.append(RestingResult(**fields))
    return results


def main(argv: list[str]) -> int:
    """``python -m bench.resting_report FILE.json``: print a written report's table again."""
    if len(argv) != 1:
        print("usage: python -m bench.resting_report RESTING.json", file=sys.stderr)
        return 2
    print(markdown_table(results_from_json(json.loads(Path(argv[0]).read_text()))), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
