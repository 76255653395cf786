"""`quantum-trader bench --scenarios resting` with five orders and a short hold, in both
follow modes: the scenario runs end to end and its report has every field.

Only the report's shape and the no-loss check are asserted; no number is.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import VENV_BIN

OPEN = 5


@pytest.mark.slow  # two stacks started in turn: about 20 s
@pytest.mark.timeout(150)
def test_bench_resting_tiny_run_writes_json_and_markdown_for_both_modes(tmp_path: Path) -> None:
    json_path, markdown_path = tmp_path / "bench.json", tmp_path / "resting.md"
    done = subprocess.run(
        [str(VENV_BIN / "quantum-trader"), "bench", "--scenarios", "resting", "--home", str(tmp_path / "home"),
         "--json", str(json_path), "--markdown", str(markdown_path), "--open", str(OPEN), "--hold", "2",
         "--reconcile-seconds", "1", "--fill-batch", "2", "--trickle-seconds", "0"],
        capture_output=True, text=True, timeout=140,
        env={key: value for key, value in os.environ.items() if not key.startswith("QT_")},
    )
    assert done.returncode == 0, done.stderr[-3000:]

    report = json.loads((tmp_path / "bench-resting.json").read_text())
    resting = report["resting"]
    assert resting["plan"]["reconcile_seconds"] == 1 and resting["plan"]["hold_seconds"] == 2
    assert set(resting["targets"]) == {"fill_to_terminal_p50_ms", "fill_to_terminal_p99_ms",
                                       "weight_per_open_order_per_minute", "peak_used_weight_1m_at_10000"}
    runs = {run["mode"]: run for run in resting["runs"]}
    assert set(runs) == {"streams", "poll"}
    for mode, run in runs.items():
        assert run["error"] is None and run["skipped"] is None
        assert run["open"] == OPEN and run["resting"] == OPEN and run["symbols"] == 1
        assert run["order_events"] == ("auto" if mode == "streams" else "poll")
        # Nothing lost: every intent FILLED, with exactly one order at the exchange.
        assert run["filled"] == OPEN and run["lost"] == 0 and run["states"] == {"FILLED": OPEN}
        assert run["intents_with_one_order"] == OPEN and run["orders_at_exchange"] == OPEN
        assert {"total", "per_open_order_per_minute", "peak_used_weight_1m", "requests_by_endpoint", "refused_429"} <= set(run["weight"])
        # One batch of two filled and waited for, then the other three at once.
        assert run["fill_batches"] == 1 and run["fill_batch"] == 2 and run["burst"] == OPEN - 2
        assert set(run["fill_to_terminal_ms"]) == {"p50", "p95", "p99", "max", "samples"}
        assert run["fill_to_terminal_ms"]["samples"] == 2 and run["burst_fill_to_terminal_ms"]["samples"] == OPEN - 2
        samples = resting["samples_ms"][f"{mode}-{OPEN}"]
        assert len(samples["batches"]) == 2 and len(samples["burst"]) == OPEN - 2
        assert run["breakdown"]["samples"] == 2
        assert set(run["breakdown"]) == {"samples", "fill_to_watch_returned_ms", "watch_returned_to_close_ms",
                                         "fill_to_published_ms"}
        assert run["breakdown"]["fill_to_published_ms"]["p50"] is not None
        assert set(run["targets_met"]) == set(resting["targets"])
        assert run["processes"]["worker"]["peak_rss_mb"] > 0
    assert "exchange-events" in runs["streams"]["processes"] and "exchange-events" not in runs["poll"]["processes"]

    table = markdown_path.read_text()
    assert table.startswith("| follow | open |")
    assert "| streams | 5 |" in table and "| poll | 5 |" in table
    assert "QT_RECONCILE_SECONDS=1" in table
