"""`quantum-trader bench` with tiny counts: the harness runs every scenario and reports.

Only the report's shape is checked; no number in it is asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import VENV_BIN

SCENARIOS = ("ceiling", "baseline", "system")


@pytest.mark.slow
@pytest.mark.timeout(280)
def test_bench_tiny_run_writes_table_json_and_plot(tmp_path: Path) -> None:
    report_path, plot_path = tmp_path / "report.json", tmp_path / "plot.png"
    done = subprocess.run(
        [str(VENV_BIN / "quantum-trader"), "bench", "--home", str(tmp_path / "home"), "--json", str(report_path),
         "--plot", str(plot_path), "--decisions", "6", "--rate", "10", "--duration", "0.5", "--warmup", "2"],
        capture_output=True, text=True, timeout=260, env={key: value for key, value in os.environ.items() if not key.startswith("QT_")},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "saturation" in done.stdout

    report = json.loads(report_path.read_text())
    assert set(report["scenarios"]) == set(SCENARIOS)
    assert report["machine"]["cpus"] >= 1 and len(report["loadavg_at_start"]) == 3
    for name in SCENARIOS:
        scenario = report["scenarios"][name]
        assert scenario["error"] is None
        for phase_name, offered in (("rate", 5), ("saturation", 6)):
            phase = scenario["phases"][phase_name]
            assert phase["offered"] == offered
            assert phase["completed"] + phase["lost"] == offered
            assert set(phase["terminal_latency_ms"]) == {"p50", "p95", "p99", "max"}
            assert phase["cpu_seconds_per_intent"] >= 0
            assert phase["worker_peak_rss_mb"] > 0
            assert len(report["samples_ms"][name][phase_name]["terminal"]) == phase["completed"]
            if name == "ceiling":
                assert phase["orders_at_exchange"] is None
            else:
                assert phase["orders_at_exchange"] == phase["completed"]
            if name == "baseline":
                assert phase["server_db_ops_per_intent"] is None
            else:  # every workflow is created once in the server's database
                assert phase["server_db_ops_per_intent"]["CreateWorkflowExecution"] == 1
    assert {"throughput_saturation_c_over_a", "throughput_saturation_c_over_b"} <= set(report["ratios"])

    pytest.importorskip("matplotlib")
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
