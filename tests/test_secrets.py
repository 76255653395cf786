"""Secrets never leave the worker: after real scenarios (fill, cancel, policy and exchange
rejections, a 5xx retry, a dead letter) no history, log, stream entry or CLI output holds
the exchange key or secret."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from paper_exchange.admin_client import PaperAdmin
from quantum_trader import constants, logs
from quantum_trader.connections import redis_client
from quantum_trader.models import CancelRequest, IntentResult
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState
from tests.conftest import Stack, trace_id
from tests.support.ingress import FAST, flat, private_redis_url, publish, workflow_exists
from tests.support.eventually import eventually
from tests.support.processes import VENV_BIN
from tests.support.stack import TEST_API_KEY, TEST_API_SECRET, settings_env, worker_proc
from tests.support.ingress import ingress_proc

SECRETS = (TEST_API_KEY, TEST_API_SECRET)


def leaks(text: str, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    """Which secrets (by position, never by value) appear in ``text``."""
    return [f"secret #{i}" for i, secret in enumerate(secrets) if secret in text]


def test_leak_scan_finds_a_planted_secret() -> None:
    assert leaks(f"level=INFO msg=connected key={TEST_API_KEY}") == ["secret #0"]
    assert leaks("level=INFO msg=connected") == []


@pytest.mark.parametrize("json_lines", [True, False])
def test_log_fields_message_and_traceback_scrubbed(capsys: pytest.CaptureFixture[str], json_lines: bool) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    logs.configure(Settings(_env_file=None, log_json=json_lines, binance_api_key=TEST_API_KEY, binance_api_secret=TEST_API_SECRET), "worker")
    try:
        log = logging.getLogger("activities.exchange.binance")
        log.info("connected %s", TEST_API_KEY, extra={"key": TEST_API_KEY, "url": f"http://x/?signature={TEST_API_SECRET}",
                                                      "temporal_activity": {"workflow_id": TEST_API_SECRET}})
        try:
            raise RuntimeError(f"refused {TEST_API_SECRET}")
        except RuntimeError:
            log.exception("request failed", extra={"why": TEST_API_SECRET})
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    text = capsys.readouterr().err
    assert leaks(text) == []
    first, second = (logs.parse_line(line) for line in text.strip().splitlines())
    assert (first["msg"], first["key"], first["url"], first["workflow_id"]) == (
        "connected [redacted]", "[redacted]", "http://x/?signature=[redacted]", "[redacted]")
    assert second["why"] == "[redacted]" and "refused [redacted]" in second["exc"]


def _cli(settings: Settings, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")} | settings_env(settings)
    done = subprocess.run([str(VENV_BIN / "quantum-trader"), *args], env=env, capture_output=True, text=True, timeout=60, check=False)
    return done.stdout + done.stderr


async def test_scenarios_leave_no_secret_in_histories_logs_streams_or_cli(
    stack: Stack, client: Client, paper: PaperAdmin, tmp_path: Path
) -> None:
    settings = stack.settings(task_queue=f"secrets-{uuid.uuid4().hex[:8]}", redis_url=private_redis_url(stack.redis_url), **FAST)
    redis = redis_client(settings)
    await redis.flushdb()
    worker = worker_proc(tmp_path, settings).start()
    ingress = ingress_proc(tmp_path, settings).start()
    ids = {name: trace_id(f"sec-{name}") for name in ("fill", "limit", "lowconf", "balance", "retry")}
    try:
        await paper.arm("error_5xx", path="/api/v3/order", method="POST", count=1)
        await publish(redis, flat(ids["retry"], symbol="BTCUSDT", side="BUY", quantity="0.001", confidence="0.9"))
        await paper.set_price("XRPUSDT", "0.6")
        await publish(
            redis,
            flat(ids["fill"], symbol="BTCUSDT", side="BUY", quantity="0.001", confidence="0.9"),
            flat(ids["limit"], symbol="XRPUSDT", side="BUY", order_type="LIMIT", price="0.5", quantity="20", ttl_seconds="120", confidence="0.9"),
            flat(ids["lowconf"], symbol="BTCUSDT", side="BUY", quantity="0.001", confidence="0.1"),
            flat(ids["balance"], symbol="BTCUSDT", action="SELL", quantity="5000", confidence="0.9"),
            {"trace_id": "bad id", "symbol": "BTCUSDT"},
        )
        handles = {name: client.get_workflow_handle(tid, result_type=IntentResult) for name, tid in ids.items()}
        for handle in handles.values():
            await eventually(lambda h=handle: workflow_exists(client, h.id), timeout=60, what=f"{handle.id} to start")

        async def limit_open() -> bool:
            output = _cli(settings, "status", ids["limit"], "--json")
            return output.startswith("{") and json.loads(output)["state"] == "OPEN"

        await eventually(limit_open, timeout=60, what="the LIMIT intent to rest")
        await handles["limit"].signal("cancel_order", CancelRequest(reason="ops"))
        results = {name: await handle.result() for name, handle in handles.items()}
        assert {n: r.state for n, r in results.items()} == {
            "fill": IntentState.FILLED, "limit": IntentState.CANCELLED, "lowconf": IntentState.REJECTED,
            "balance": IntentState.REJECTED, "retry": IntentState.FILLED,
        }
        assert max(r.attempts for r in results.values()) >= 2  # the 5xx hit one placement

        texts = {f"history {name}": (await handle.fetch_history()).to_json() for name, handle in handles.items()}
        texts["result stream"] = repr(await redis.xrange(constants.RESULT_STREAM))
        texts["dead letters"] = repr(await redis.xrange(constants.DEAD_LETTER_STREAM))
        assert "bad id" in texts["dead letters"]
        texts["cli status"] = _cli(settings, "status", ids["balance"])
        texts["cli list"] = _cli(settings, "list", "--json")
        texts["cli stats"] = _cli(settings, "stats", "--json")
    finally:
        ingress.stop()
        worker.stop()
        await redis.aclose()
    texts["worker log"] = worker.log_text()
    texts["ingress log"] = ingress.log_text()
    assert "placement attempt failed" in texts["worker log"]  # the error path was logged
    found = {where: hits for where, text in texts.items() if (hits := leaks(text))}
    assert found == {}
