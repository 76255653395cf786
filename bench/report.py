"""The benchmark's outputs: a table on the terminal, a JSON file, a PNG plot, and the ratios."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.scenarios import PhaseResult, ScenarioResult, percentiles

RATE_PHASE = "rate"
SATURATION_PHASE = "saturation"


def phase_summary(phase: PhaseResult) -> dict[str, Any]:
    """One phase without its raw samples, with latency percentiles."""
    summary = {key: value for key, value in asdict(phase).items() if not key.endswith("_latency_ms")}
    summary["order_latency_ms"] = percentiles(phase.order_latency_ms)
    summary["terminal_latency_ms"] = percentiles(phase.terminal_latency_ms)
    return summary


def _metric(results: dict[str, ScenarioResult], scenario: str, phase: str, read: Any) -> float | None:
    result = results.get(scenario)
    if result is None or phase not in result.phases:
        return None
    return read(result.phases[phase])


def ratios(results: dict[str, ScenarioResult]) -> dict[str, float | None]:
    """c/a and c/b: throughput (higher is better), latency and CPU per intent (lower is better)."""
    measures = {
        "throughput_saturation": (SATURATION_PHASE, lambda p: p.throughput_per_s),
        "terminal_p50_at_rate": (RATE_PHASE, lambda p: percentiles(p.terminal_latency_ms)["p50"]),
        "terminal_p99_at_rate": (RATE_PHASE, lambda p: percentiles(p.terminal_latency_ms)["p99"]),
        "cpu_seconds_per_intent_saturation": (SATURATION_PHASE, lambda p: p.cpu_seconds_per_intent),
        "worker_peak_rss_saturation": (SATURATION_PHASE, lambda p: p.worker_peak_rss_mb),
    }
    out: dict[str, float | None] = {}
    for name, (phase, read) in measures.items():
        c = _metric(results, "system", phase, read)
        for anchor, letter in (("ceiling", "a"), ("baseline", "b")):
            other = _metric(results, anchor, phase, read)
            out[f"{name}_c_over_{letter}"] = round(c / other, 3) if c is not None and other else None
    return out


def report_json(results: dict[str, ScenarioResult], context: dict[str, Any]) -> dict[str, Any]:
    return {
        **context,
        "scenarios": {
            name: {
                "label": result.label,
                "processes": result.processes,
                "error": result.error,
                "phases": {phase_name: phase_summary(phase) for phase_name, phase in result.phases.items()},
            }
            for name, result in results.items()
        },
        "ratios": ratios(results),
        "samples_ms": {
            name: {
                phase_name: {"order": phase.order_latency_ms, "terminal": phase.terminal_latency_ms}
                for phase_name, phase in result.phases.items()
            }
            for name, result in results.items()
        },
    }


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def _db_ops(ops: dict[str, float] | None) -> str:
    return "–" if ops is None else f"{sum(ops.values()):.1f}"


def print_table(console: Console, results: dict[str, ScenarioResult], context: dict[str, Any]) -> None:
    machine = context["machine"]
    table = Table(
        title=f"quantum-trader bench · {machine['cpus']} CPU {machine['cpu_model']} · {machine['memory_gib']} GiB",
        caption="latencies in ms from decision published: order = accepted by the exchange, end = terminal result on the stream",
    )
    for column in ("scenario", "phase", "ended/offered", "per s", "order p50/p95/p99", "end p50/p95/p99",
                   "CPU s/intent", "server DB ops/intent", "worker MiB", "loadavg"):
        table.add_column(column, justify="left" if column in ("scenario", "phase") else "right")
    for name, result in results.items():
        if result.error:
            table.add_row(name, "error", result.error, *[""] * 7)
        for phase in result.phases.values():
            order, end = percentiles(phase.order_latency_ms), percentiles(phase.terminal_latency_ms)
            phase_label = f"{phase.rate:g}/s" if phase.rate else "saturation"
            table.add_row(
                name, phase_label, f"{phase.completed}/{phase.offered}", f"{phase.throughput_per_s:.1f}",
                "/".join(_ms(order[k]) for k in ("p50", "p95", "p99")),
                "/".join(_ms(end[k]) for k in ("p50", "p95", "p99")),
                f"{phase.cpu_seconds_per_intent:.4f}", _db_ops(phase.server_db_ops_per_intent), f"{phase.worker_peak_rss_mb:.0f}",
                f"{phase.loadavg_before[0]:.1f}→{phase.loadavg_after[0]:.1f}",
            )
    console.print(table)
    shown = {k: v for k, v in ratios(results).items() if v is not None}
    if shown:
        console.print("ratios: " + "  ".join(f"{k}={v}" for k, v in shown.items()))


def write_plot(path: Path, results: dict[str, ScenarioResult]) -> bool:
    """Latency CDFs per scenario and phase, and throughput bars. False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    colors = {"ceiling": "tab:green", "baseline": "tab:orange", "system": "tab:blue"}
    figure, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    panels = [
        (axes[0][0], RATE_PHASE, "terminal", "decision → terminal, fixed offered load"),
        (axes[0][1], SATURATION_PHASE, "terminal", "decision → terminal, saturation"),
        (axes[1][0], None, "order", "decision → order accepted by the exchange"),
    ]
    for axis, phase_name, kind, title in panels:
        for name, result in results.items():
            for phase in result.phases.values():
                if phase_name is not None and phase.name != phase_name:
                    continue
                samples = sorted(phase.terminal_latency_ms if kind == "terminal" else phase.order_latency_ms)
                if not samples:
                    continue
                share = [(index + 1) / len(samples) for index in range(len(samples))]
                style = "-" if phase.name == RATE_PHASE else "--"
                label = name if phase_name is not None else f"{name} ({'rate' if phase.name == RATE_PHASE else 'saturation'})"
                axis.plot(samples, share, style, color=colors.get(name), label=label)
        axis.set_xscale("log")
        axis.set_xlabel("ms")
        axis.set_ylabel("share of decisions")
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    bars = axes[1][1]
    names = [name for name, result in results.items() if SATURATION_PHASE in result.phases]
    values = [results[name].phases[SATURATION_PHASE].throughput_per_s for name in names]
    bars.bar(names, values, color=[colors.get(name) for name in names])
    for index, value in enumerate(values):
        bars.text(index, value, f"{value:.1f}", ha="center", va="bottom")
    bars.set_ylabel("decisions ending per second")
    bars.set_title("throughput at saturation")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
