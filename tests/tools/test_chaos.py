"""The three-source reconciliation's rules on made-up rows (futures and resets included), a
reduced chaos run (60 decisions, worker kills, Temporal/Redis/exchange restarts, exchange
faults, the cheap timing faults and futures), and the harness waiting out a Temporal restart."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from decimal import Decimal

from quantum_trader.ids import Step, client_order_id
from tools.audit import OrderRow, ProtectionRow, ResultRow, WorkflowRow, reconcile
from quantum_trader.settings import Settings
from tests.support.eventually import eventually
from tests.support.processes import VENV_BIN, stable_port
from tests.support.stack import temporal_proc
from tools import harness as harness_module


def _clean(n: int = 3) -> tuple[list[str], list[WorkflowRow], list[ResultRow], list[OrderRow]]:
    traces = [f"t-{i}" for i in range(n)]
    workflows = [WorkflowRow(t, f"run-{t}", "COMPLETED", "FILLED") for t in traces]
    results = [ResultRow(t, "FILLED", client_order_id(t), str(i + 1), "0.001", f"{i}-0") for i, t in enumerate(traces)]
    orders = [OrderRow(client_order_id(t), str(i + 1), "FILLED", "0.001") for i, t in enumerate(traces)]
    return traces, workflows, results, orders


def _rules(traces, workflows, results, orders) -> set[str]:  # noqa: ANN001
    return set(reconcile(traces, workflows, results, orders).by_rule())


def test_reconcile_three_agreeing_sources_has_no_violation() -> None:
    outcome = reconcile(*_clean())
    assert outcome.ok, outcome.table()
    assert outcome.counts["exchange: orders"] == 3
    assert outcome.counts["temporal: FILLED"] == 3


def test_reconcile_a_second_order_for_one_client_order_id_is_a_violation() -> None:
    traces, workflows, results, orders = _clean()
    orders.append(OrderRow(client_order_id("t-0"), "99", "FILLED", "0.001"))
    assert "reused-client-order-id" in _rules(traces, workflows, results, orders)


def test_reconcile_an_order_no_intent_owns_is_an_orphan() -> None:
    traces, workflows, results, orders = _clean()
    orders.append(OrderRow("rnd-abc", "77", "FILLED", "0.001"))
    assert _rules(traces, workflows, results, orders) == {"orphan-order"}


def test_reconcile_missing_or_doubled_results_and_runs_are_violations() -> None:
    traces, workflows, results, orders = _clean()
    workflows.append(WorkflowRow("t-1", "run-again", "COMPLETED", "FILLED"))
    results = [r for r in results if r.trace_id != "t-2"] + [results[0]]
    assert {"duplicate-runs", "missing-result", "duplicate-results"} <= _rules(traces, workflows, results, orders)


def test_reconcile_open_workflow_and_open_order_for_an_ended_intent_are_violations() -> None:
    traces, workflows, results, orders = _clean()
    workflows[0] = WorkflowRow("t-0", "run-t-0", "RUNNING", "OPEN")
    workflows[1] = WorkflowRow("t-1", "run-t-1", "COMPLETED", "CANCELLED")
    results[1] = ResultRow("t-1", "CANCELLED", client_order_id("t-1"), "2", "0", "1-0")
    orders[1] = OrderRow(client_order_id("t-1"), "2", "NEW", "0")
    rules = _rules(traces, workflows, results, orders)
    assert {"open-workflow", "open-order"} <= rules


def test_reconcile_disagreeing_states_and_quantities_are_violations() -> None:
    traces, workflows, results, orders = _clean()
    results[0] = ResultRow("t-0", "EXPIRED", client_order_id("t-0"), "1", "0.001", "0-0")
    orders[1] = OrderRow(client_order_id("t-1"), "2", "FILLED", "0.002")
    assert {"state-mismatch", "order-mismatch"} <= _rules(traces, workflows, results, orders)


def test_reconcile_a_decision_without_a_workflow_is_missing() -> None:
    traces, workflows, results, orders = _clean()
    assert "missing-workflow" in _rules([*traces, "t-lost"], workflows, results, orders)


def test_reconcile_the_run_a_reset_replaced_is_counted_not_a_violation() -> None:
    traces, workflows, results, orders = _clean()
    workflows.append(WorkflowRow("t-0", "run-before-reset", "TERMINATED", "OPEN"))
    assert "duplicate-runs" in _rules(traces, workflows, results, orders)
    outcome = reconcile(traces, workflows, results, orders, reset={"t-0"})
    assert outcome.ok, outcome.table()
    assert outcome.counts["temporal: runs replaced by a reset"] == 1


def test_reconcile_a_reset_that_came_after_its_intent_ended_leaves_a_completed_run_counted_not_a_violation() -> None:
    # The intent ended between the reset's decision and the command: the reset starts a new
    # run from a closed one, which stays COMPLETED beside it.
    traces, workflows, results, orders = _clean()
    workflows[0] = WorkflowRow("t-0", "run-t-0", "COMPLETED", "FILLED", started_ms=2_000)
    workflows.append(WorkflowRow("t-0", "run-before-reset", "COMPLETED", "FILLED", started_ms=1_000))
    assert "duplicate-runs" in _rules(traces, workflows, results, orders)
    outcome = reconcile(traces, workflows, results, orders, reset={"t-0"})
    assert outcome.ok, outcome.table()
    assert outcome.counts["temporal: runs replaced by a reset"] == 1


def test_reconcile_a_triggered_stop_shares_its_client_algo_id_without_reuse() -> None:
    traces, workflows, results, orders, protections, positions = _futures_clean()
    outcome = reconcile(traces, workflows, results, orders, protections=protections, positions=positions)
    assert outcome.ok, outcome.table()
    assert outcome.counts["futures: protected"] == 1 and outcome.counts["futures: protections CLOSED"] == 1
    # A second stop order triggered under the same ID is a reuse.
    orders.append(OrderRow(client_order_id("f-0", Step.STOP_LOSS), "12", "FILLED", "0.01", "BTCUSDT", "usdm", "SELL", "0.01",
                           parent_algo_id="5"))
    assert "reused-client-order-id" in _rules_futures(traces, workflows, results, orders, protections, positions)


def test_reconcile_a_filled_futures_entry_without_protection_or_flatten_is_unprotected() -> None:
    traces, workflows, results, orders, protections, positions = _futures_clean()
    results[0] = ResultRow("f-0", "FILLED", client_order_id("f-0"), "1", "0.01", "0-0", market="usdm")
    orders = [o for o in orders if o.client_order_id == client_order_id("f-0")]
    rules = _rules_futures(traces, workflows, results, orders, protections, (positions[0], {"BTCUSDT": Decimal("0.01")}))
    assert {"unprotected-fill", "open-position"} <= rules


def test_reconcile_a_stop_left_working_after_its_protection_closed_is_live() -> None:
    traces, workflows, results, orders, protections, positions = _futures_clean()
    orders = [o if o.client_order_id != client_order_id("f-0", Step.TAKE_PROFIT) else
              OrderRow(o.client_order_id, o.order_id, "NEW", "0", "BTCUSDT", "usdm", "SELL", "0.01", algo=True) for o in orders]
    assert _rules_futures(traces, workflows, results, orders, protections, positions) == {"live-protective-order"}


def test_reconcile_an_open_protection_or_a_moved_position_is_a_violation() -> None:
    traces, workflows, results, orders, protections, positions = _futures_clean()
    running = [ProtectionRow("f-0", "RUNNING", "PROTECTED")]
    assert "protection-not-closed" in _rules_futures(traces, workflows, results, orders, running, positions)
    moved = (positions[0], {"BTCUSDT": Decimal("0.02")})
    assert _rules_futures(traces, workflows, results, orders, protections, moved) == {"position-mismatch"}


def test_reconcile_a_flattened_entry_accounts_for_its_position() -> None:
    traces, workflows, results, orders, protections, positions = _futures_clean()
    workflows[0] = WorkflowRow("f-0", "run-f-0", "COMPLETED", "FAILED")
    results[0] = ResultRow("f-0", "FAILED", client_order_id("f-0"), "1", "0.01", "0-0", market="usdm")
    orders = [orders[0], OrderRow(client_order_id("f-0", Step.FLATTEN), "3", "FILLED", "0.01", "BTCUSDT", "usdm", "SELL", "0.01")]
    outcome = reconcile(traces, workflows, results, orders, protections=[ProtectionRow("f-0", "NOT_FOUND")], positions=positions)
    assert outcome.ok, outcome.table()
    assert outcome.counts["futures: flattened"] == 1


def _resized() -> tuple[list[str], list[WorkflowRow], list[ResultRow], list[OrderRow], list[ProtectionRow],
                        tuple[dict[str, Decimal], dict[str, Decimal]]]:
    """A LIMIT entry filled 0.01 then 0.01 more while it rested: its pair (generation 0, for
    0.01) was replaced by generation 1 for 0.02, whose stop-loss fired."""
    sl0, tp0 = client_order_id("f-0", Step.STOP_LOSS), client_order_id("f-0", Step.TAKE_PROFIT)
    sl1, tp1 = client_order_id("f-0", Step.STOP_LOSS, 1), client_order_id("f-0", Step.TAKE_PROFIT, 1)
    workflows = [WorkflowRow("f-0", "run-f-0", "COMPLETED", "FILLED")]
    results = [ResultRow("f-0", "FILLED", client_order_id("f-0"), "1", "0.02", "0-0", market="usdm", stop_loss_id=sl1,
                         take_profit_id=tp1, protection_workflow_id="f-0-oco")]
    orders = [
        OrderRow(client_order_id("f-0"), "1", "FILLED", "0.02", "BTCUSDT", "usdm", "BUY", "0.02"),
        OrderRow(sl0, "5", "CANCELED", "0", "BTCUSDT", "usdm", "SELL", "0.01", algo=True),
        OrderRow(tp0, "6", "CANCELED", "0", "BTCUSDT", "usdm", "SELL", "0.01", algo=True),
        OrderRow(sl1, "7", "FINISHED", "0", "BTCUSDT", "usdm", "SELL", "0.02", algo=True),
        OrderRow(tp1, "8", "CANCELED", "0", "BTCUSDT", "usdm", "SELL", "0.02", algo=True),
        OrderRow(sl1, "2", "FILLED", "0.02", "BTCUSDT", "usdm", "SELL", "0.02", parent_algo_id="7"),
    ]
    return ["f-0"], workflows, results, orders, [ProtectionRow("f-0", "COMPLETED", "CLOSED")], ({"BTCUSDT": Decimal("0.5")}, {"BTCUSDT": Decimal("0.5")})


def test_reconcile_a_pair_resized_while_its_entry_rested_is_owned_and_accounted() -> None:
    traces, workflows, results, orders, protections, positions = _resized()
    outcome = reconcile(traces, workflows, results, orders, protections=protections, positions=positions)
    assert outcome.ok, outcome.table()
    assert outcome.counts["futures: protected"] == 1


def test_reconcile_a_resized_pair_left_short_of_the_fill_or_a_replaced_one_left_working_is_a_violation() -> None:
    traces, workflows, results, orders, protections, positions = _resized()
    short = [OrderRow(o.client_order_id, o.order_id, "NEW" if o.order_id == "8" else "CANCELED", "0", "BTCUSDT", "usdm", "SELL", "0.01",
                      algo=True) if o.order_id in ("7", "8") else o for o in orders if o.order_id != "2"]
    short.append(OrderRow(client_order_id("f-0", Step.CLOSE), "3", "FILLED", "0.02", "BTCUSDT", "usdm", "SELL", "0.02"))
    assert "unprotected-fill" in _rules_futures(traces, workflows, results, short, protections, positions)
    stale = [OrderRow(o.client_order_id, o.order_id, "NEW", "0", "BTCUSDT", "usdm", "SELL", "0.01", algo=True) if o.order_id == "5" else o
             for o in orders]
    assert _rules_futures(traces, workflows, results, stale, protections, positions) == {"live-protective-order"}


def _futures_clean() -> tuple[list[str], list[WorkflowRow], list[ResultRow], list[OrderRow], list[ProtectionRow],
                              tuple[dict[str, Decimal], dict[str, Decimal]]]:
    """One BUY 0.01 BTCUSDT entry, its stop-loss fired (the order it created sold 0.01), its take-profit cancelled."""
    sl, tp = client_order_id("f-0", Step.STOP_LOSS), client_order_id("f-0", Step.TAKE_PROFIT)
    workflows = [WorkflowRow("f-0", "run-f-0", "COMPLETED", "FILLED")]
    results = [ResultRow("f-0", "FILLED", client_order_id("f-0"), "1", "0.01", "0-0", market="usdm", stop_loss_id=sl,
                         take_profit_id=tp, protection_workflow_id="f-0-oco")]
    orders = [
        OrderRow(client_order_id("f-0"), "1", "FILLED", "0.01", "BTCUSDT", "usdm", "BUY", "0.01"),
        OrderRow(sl, "5", "FINISHED", "0", "BTCUSDT", "usdm", "SELL", "0.01", algo=True),
        OrderRow(tp, "6", "CANCELED", "0", "BTCUSDT", "usdm", "SELL", "0.01", algo=True),
        OrderRow(sl, "2", "FILLED", "0.01", "BTCUSDT", "usdm", "SELL", "0.01", parent_algo_id="5"),
    ]
    protections = [ProtectionRow("f-0", "COMPLETED", "CLOSED")]
    return ["f-0"], workflows, results, orders, protections, ({"BTCUSDT": Decimal("0.5")}, {"BTCUSDT": Decimal("0.5")})


def _rules_futures(traces, workflows, results, orders, protections, positions) -> set[str]:  # noqa: ANN001
    return set(reconcile(traces, workflows, results, orders, protections=protections, positions=positions).by_rule())


# The cheap timing ingredients only: the skewed second worker and the partition are the slow tier's.
CHEAP_TIMING = ["--skew-seconds", "0", "--partitions", "0", "--resets", "1"]


def _chaos(tmp_path: Path, decisions: int, *flags: str, timeout: float) -> dict:  # type: ignore[type-arg]
    env = {key: value for key, value in os.environ.items() if not key.startswith("QT_")}
    done = subprocess.run(
        [str(VENV_BIN / "quantum-trader"), "chaos", "--decisions", str(decisions), "--home", str(tmp_path / "home"), "--json",
         "--timeout", "300", *flags],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path, check=False,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-6000:]
    return json.loads(done.stdout)


@pytest.mark.slow  # two minutes of a full stack under faults; `make test-slow` (run by CI)
@pytest.mark.timeout(420)
def test_reduced_chaos_run_reconciles_without_violation(tmp_path: Path) -> None:
    summary = _chaos(tmp_path, 60, *CHEAP_TIMING, timeout=400)
    assert summary["ok"] and summary["all_ended"]
    assert summary["decisions_published"] == 60
    assert summary["worker_kills"] >= 2
    assert summary["restarts"] == {"temporal": 1, "redis": 1, "exchange": 1}
    counts = summary["reconciliation"]["counts"]
    assert counts["temporal: workflows"] == counts["intents (unique trace_ids)"] == summary["intents"]
    assert counts["results: entries"] == summary["intents"]
    assert counts["temporal: running"] == 0 and counts["exchange: open orders"] == 0
    timing = summary["timing"]
    assert timing["exchange_clock_moves"] == 1 and timing["execute_later_armed"] >= 1 and len(timing["resets"]) == 1
    assert timing["futures_intents"] >= 1 and counts["futures: intents"] == timing["futures_intents"]


async def test_harness_client_waits_while_temporal_restarts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chaos signals operators' cancels while it restarts Temporal: the harness's first
    connect must wait for the server instead of failing the run."""
    refused: list[BaseException] = []
    real_connect = harness_module.connect

    async def counting_connect(settings: Settings):  # noqa: ANN202 - returns the real client
        try:
            return await real_connect(settings)
        except RuntimeError as error:
            refused.append(error)
            raise

    monkeypatch.setattr(harness_module, "connect", counting_connect)
    port = stable_port()  # bound only later: outside the range outgoing connections use
    harness = harness_module.Harness(Settings(temporal_address=f"127.0.0.1:{port}"), tmp_path,
                                     pid_of=lambda _c: None, healthy=lambda _c: asyncio.sleep(0, True))
    connecting = asyncio.create_task(harness.client(timeout=90))
    await eventually(lambda: len(refused) >= 2, timeout=30, what="connects refused while nothing listens")
    assert not connecting.done()
    server, _, _ = temporal_proc(tmp_path, port=port)
    server.start(wait_port=port)
    try:
        client = await asyncio.wait_for(connecting, 90)
        assert (await client.count_workflows()).count == 0
    finally:
        server.stop()
