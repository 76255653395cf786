"""The operator commands as an operator runs them: the console script against a real stack
(Temporal dev server, Redis, paper exchange, worker)."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis
from temporalio.client import Client
from temporalio.service import RPCError

from paper_exchange.admin_client import PaperAdmin
from quantum_trader import constants, wire
from quantum_trader.ids import client_order_id
from quantum_trader.models import IntentResult, IntentStatus
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState
from tests.conftest import trace_id
from tests.support.eventually import eventually
from tests.support.processes import VENV_BIN
from tests.support.stack import settings_env

pytestmark = pytest.mark.usefixtures("worker")

RESTING_SYMBOL = "SOLUSDT"


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(settings: Settings, tmp_path: Path):  # noqa: ANN201 - returns the runner
    env = {key: value for key, value in os.environ.items() if not key.startswith("QT_")}
    env.update(settings_env(settings))

    async def run(*args: str, stdin: str | None = None) -> Run:
        process = await asyncio.create_subprocess_exec(
            str(VENV_BIN / "quantum-trader"), *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
        )
        out, err = await asyncio.wait_for(process.communicate(stdin.encode() if stdin else None), 120)
        return Run(process.returncode or 0, out.decode(), err.decode())

    return run


def assert_one_line_error(run: Run, *fragments: str) -> None:
    assert run.code == 1, run
    assert "Traceback" not in run.err and "Fatal Python error" not in run.err, run.err
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


async def resting_limit(cli, paper: PaperAdmin, client: Client, prefix: str) -> str:  # noqa: ANN001
    tid = trace_id(prefix)
    await paper.set_price(RESTING_SYMBOL, "150")
    run = await cli("submit", "--trace-id", tid, "--symbol", RESTING_SYMBOL, "--side", "BUY", "--quantity", "1",
                    "--type", "LIMIT", "--price", "100", "--ttl", "300", "--confidence", "0.9")
    assert run.code == 0, run
    handle = client.get_workflow_handle(tid)

    async def open_() -> bool:
        return (await handle.query("status", result_type=IntentStatus)).state is IntentState.OPEN

    await eventually(open_, what=f"{tid} OPEN")
    return tid


async def test_submit_wait_market_fills_and_status_json_reports_it(cli) -> None:  # noqa: ANN001
    tid = trace_id("cli-mkt")
    run = await cli("submit", "--trace-id", tid, "--symbol", "BTCUSDT", "--side", "buy", "--usd", "100",
                    "--confidence", "0.9", "--wait")
    assert run.code == 0, run
    assert run.out.splitlines() == [f"started {tid}: BUY $100 BTCUSDT MARKET conf=0.9", "FILLED filled"]

    status = await cli("status", tid, "--json")
    assert status.code == 0, status
    parsed = IntentStatus.model_validate_json(status.out)
    assert parsed.state is IntentState.FILLED and parsed.finished
    assert parsed.order is not None and parsed.order.client_order_id == client_order_id(tid)

    text = await cli("status", tid)
    assert text.code == 0 and "FILLED (ended)" in text.out and client_order_id(tid) in text.out


async def test_submit_json_twice_second_is_a_duplicate(cli) -> None:  # noqa: ANN001
    tid = trace_id("cli-dup")
    decision = json.dumps({"trace_id": tid, "symbol": "ETHUSDT", "action": "BUY", "quantity": "0.01", "confidence": 0.8})
    first = await cli("submit", "--json", decision)
    second = await cli("submit", "--json", "-", stdin=decision)
    assert first.code == 0 and first.out.startswith(f"started {tid}"), first
    assert second.code == 0 and second.out.startswith(f"duplicate: {tid}"), second


async def test_submit_invalid_decision_is_one_line(cli) -> None:  # noqa: ANN001
    run = await cli("submit", "--symbol", "BTCUSDT", "--side", "BUY", "--type", "LIMIT", "--quantity", "1")
    assert_one_line_error(run, "invalid decision", "LIMIT order needs a price")


async def test_submit_trace_id_of_another_intents_protection_is_one_line(cli) -> None:  # noqa: ANN001
    # Started directly, it would take the workflow ID of intent X's protection child.
    run = await cli("submit", "--trace-id", "t-1-oco", "--symbol", "BTCUSDT", "--side", "BUY", "--quantity", "0.001")
    assert_one_line_error(run, "invalid decision", "reserved for the protection workflow")


async def test_submit_via_stream_appends_a_parseable_entry(cli, redis: Redis) -> None:  # noqa: ANN001
    tid = trace_id("cli-stream")
    run = await cli("submit", "--via", "stream", "--trace-id", tid, "--symbol", "BTCUSDT", "--side", "SELL",
                    "--quantity", "0.002", "--confidence", "0.7")
    assert run.code == 0, run
    entry_id = run.out.split()[-1]
    [(_, fields)] = await redis.xrange(constants.DECISION_STREAM, min=entry_id, max=entry_id)
    parsed = wire.parse(fields)
    assert isinstance(parsed, wire.Accepted), parsed
    assert parsed.decision.trace_id == tid and parsed.decision.source == "cli"


async def test_list_filters_by_state_symbol_and_since(cli, paper: PaperAdmin, client: Client) -> None:  # noqa: ANN001
    tid = await resting_limit(cli, paper, client, "cli-list")

    async def listed() -> list[dict]:
        run = await cli("list", "--state", "open", "--symbol", RESTING_SYMBOL, "--since", "10m", "--json")
        assert run.code == 0, run
        rows = json.loads(run.out)
        assert tid in [row["trace_id"] for row in rows], rows
        return rows

    rows = await eventually(listed, what=f"{tid} listed as OPEN")
    row = next(row for row in rows if row["trace_id"] == tid)
    assert row == row | {"state": "OPEN", "symbol": RESTING_SYMBOL, "side": "BUY", "source": "cli", "status": "RUNNING"}
    table = await cli("list", "--state", "OPEN", "--symbol", RESTING_SYMBOL)
    assert table.code == 0 and tid in table.out and "TRACE_ID" in table.out

    none = await cli("list", "--state", "FILLED", "--symbol", RESTING_SYMBOL, "--since", "2000-01-01T00:00:00Z", "--source", "nobody")
    assert none.code == 0 and none.out.strip() == "no intents match"
    bad = await cli("list", "--since", "yesterday")
    assert_one_line_error(bad, "--since")
    await client.get_workflow_handle(tid).signal("cancel_order")


async def test_cancel_resting_limit_ends_cancelled_and_exchange_order_is_cancelled(cli, paper: PaperAdmin, client: Client) -> None:  # noqa: ANN001
    tid = await resting_limit(cli, paper, client, "cli-cancel")
    run = await cli("cancel", tid, "--reason", "desk says no")
    assert run.code == 0 and run.out.strip() == f"cancel_order sent to {tid}", run
    result = await asyncio.wait_for(client.get_workflow_handle(tid, result_type=IntentResult).result(), 60)
    assert result.state is IntentState.CANCELLED and result.reason == "desk says no"
    assert [order["status"] for order in await paper.orders_for(client_order_id(tid))] == ["CANCELED"]

    again = await cli("cancel", tid)
    assert_one_line_error(again, "already ended", "CANCELLED")


async def test_cancel_wait_answers_with_the_final_status(cli, paper: PaperAdmin, client: Client) -> None:  # noqa: ANN001
    tid = await resting_limit(cli, paper, client, "cli-cwait")
    run = await cli("cancel", tid, "--wait")
    assert run.code == 0, run
    assert "CANCELLED (ended)" in run.out and "cancelled by operator" in run.out


async def test_unknown_trace_id_is_one_line_for_status_and_cancel(cli) -> None:  # noqa: ANN001
    assert_one_line_error(await cli("status", "no-such-intent"), "no intent with trace_id no-such-intent")
    assert_one_line_error(await cli("cancel", "no-such-intent"), "no intent with trace_id no-such-intent")


async def test_unreachable_temporal_is_one_line(settings: Settings, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("QT_")}
    env.update(settings_env(settings.model_copy(update={"temporal_address": "127.0.0.1:1"})))
    process = await asyncio.create_subprocess_exec(
        str(VENV_BIN / "quantum-trader"), "status", "anything",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert_one_line_error(Run(process.returncode or 0, out.decode(), err.decode()), "cannot reach Temporal at 127.0.0.1:1")


async def test_stats_json_counts_intents_per_state(cli) -> None:  # noqa: ANN001
    tid = trace_id("cli-stats")
    # No confidence: the risk gate refuses it, and submit --wait exits with REJECTED's code.
    assert (await cli("submit", "--trace-id", tid, "--symbol", "BTCUSDT", "--side", "BUY", "--usd", "50", "--wait")).code == 14

    async def counted() -> dict:
        run = await cli("stats", "--json")
        assert run.code == 0, run
        report = json.loads(run.out)
        assert report["intents"]["REJECTED"] >= 1, report  # no confidence: the risk gate refuses it
        return report

    report = await eventually(counted, what="stats to count the rejected intent")
    assert "group_lag" in report["ingress"] and "dead_letter_length" in report["ingress"]


# -- exit codes: submit --wait and cancel --wait ----------------------------------------


async def test_submit_wait_rejected_exits_14_below_the_confidence_gate_or_outside_the_symbols(cli) -> None:  # noqa: ANN001
    low = await cli("submit", "--trace-id", trace_id("cli-low"), "--symbol", "BTCUSDT", "--side", "BUY", "--usd", "50",
                    "--confidence", "0.1", "--wait")
    assert low.code == 14, low
    assert low.out.splitlines()[-1].startswith("REJECTED "), low
    other = await cli("submit", "--trace-id", trace_id("cli-sym"), "--symbol", "ADAUSDT", "--side", "BUY", "--usd", "50",
                      "--confidence", "0.9", "--wait")
    assert other.code == 14, other
    assert other.out.splitlines()[-1].startswith("REJECTED "), other


async def test_cancel_wait_exits_0_and_the_waiting_submit_exits_12(cli, paper: PaperAdmin, client: Client) -> None:  # noqa: ANN001
    tid = trace_id("cli-codes")
    await paper.set_price(RESTING_SYMBOL, "150")
    submit = asyncio.create_task(cli("submit", "--trace-id", tid, "--symbol", RESTING_SYMBOL, "--side", "BUY", "--quantity", "1",
                                     "--type", "LIMIT", "--price", "100", "--ttl", "300", "--confidence", "0.9", "--wait"))
    handle = client.get_workflow_handle(tid)

    async def open_() -> bool:
        try:
            return (await handle.query("status", result_type=IntentStatus)).state is IntentState.OPEN
        except RPCError:  # not started yet
            return False

    await eventually(open_, what=f"{tid} OPEN")
    cancel = await cli("cancel", tid, "--wait")
    assert cancel.code == 0, cancel
    waited = await submit
    assert waited.code == 12, waited
    assert waited.out.splitlines() == [f"started {tid}: BUY 1 {RESTING_SYMBOL} LIMIT @100 conf=0.9", "CANCELLED cancelled by operator"], waited

    # The same trace_id again: nothing starts, and --wait reports the existing intent's end.
    again = await cli("submit", "--trace-id", tid, "--symbol", RESTING_SYMBOL, "--side", "BUY", "--quantity", "1",
                      "--type", "LIMIT", "--price", "100", "--confidence", "0.9", "--wait")
    assert again.code == 12, again
    assert again.out.splitlines() == [f"duplicate: {tid} already has a workflow; nothing started, waiting for its result",
                                      "CANCELLED cancelled by operator"], again
    # Without --wait a duplicate start is still a success: the start was deduplicated.
    deduplicated = await cli("submit", "--trace-id", tid, "--symbol", RESTING_SYMBOL, "--side", "BUY", "--quantity", "1",
                             "--type", "LIMIT", "--price", "100", "--confidence", "0.9")
    assert deduplicated.code == 0 and deduplicated.out.startswith(f"duplicate: {tid}"), deduplicated

    # cancel --wait on an intent that has already ended exits with its end state's code.
    ended = await cli("cancel", tid, "--wait")
    assert ended.code == 0, ended
    assert ended.out.strip() == f"intent {tid} already ended in state CANCELLED", ended


async def test_cancel_wait_on_a_filled_intent_exits_10(cli) -> None:  # noqa: ANN001
    tid = trace_id("cli-filled")
    filled = await cli("submit", "--trace-id", tid, "--symbol", "BTCUSDT", "--side", "BUY", "--usd", "100", "--confidence", "0.9", "--wait")
    assert filled.code == 0, filled
    late = await cli("cancel", tid, "--wait")
    assert late.code == 10, late
    assert late.out.strip() == f"intent {tid} already ended in state FILLED" and late.err == "", late


async def test_submit_wait_still_running_at_the_timeout_exits_3(cli, paper: PaperAdmin, client: Client) -> None:  # noqa: ANN001
    tid = trace_id("cli-slow")
    await paper.set_price(RESTING_SYMBOL, "150")
    run = await cli("submit", "--trace-id", tid, "--symbol", RESTING_SYMBOL, "--side", "BUY", "--quantity", "1",
                    "--type", "LIMIT", "--price", "100", "--ttl", "300", "--confidence", "0.9", "--wait", "--timeout", "1")
    assert run.code == 3, run
    assert run.out.splitlines() == [f"started {tid}: BUY 1 {RESTING_SYMBOL} LIMIT @100 conf=0.9"], run
    assert run.err.strip() == f"quantum-trader submit: {tid} has not ended within 1s; it keeps running", run
    await client.get_workflow_handle(tid).signal("cancel_order")
