"""``quantum-trader worker`` at start: it waits (with backoff, within QT_STARTUP_TIMEOUT_SECONDS)
for Temporal and the exchange, and refuses at once what waiting cannot fix: no keys, keys the
exchange refuses, a clock off the exchange's by more than recvWindow. Each ending is one line
on stderr and an exit code (1: unreachable, a supervisor restarts it; 2: fix the settings)."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

import pytest

from paper_exchange.admin_client import PaperAdmin
from quantum_trader.logs import entries
from quantum_trader.settings import Settings
from tests.conftest import Stack
from tests.support.eventually import eventually
from tests.support.processes import VENV_BIN, Proc, free_port
from tests.support.stack import TEST_API_KEY, TEST_API_SECRET, worker_proc


def _retries(text: str, service: str, address: str) -> list[dict]:  # type: ignore[type-arg]
    """The WARNING entries of failed attempts to reach ``service`` at start."""
    return [entry for entry in entries(text) if entry["msg"] == "unreachable at start" and entry["level"] == "WARNING"
            and entry["service"] == service and entry["address"] == address]


def _settings(stack: Stack, **overrides: object) -> Settings:
    return stack.settings(task_queue=f"start-{uuid.uuid4().hex[:8]}", **{"startup_timeout_seconds": 30, **overrides})


async def _ended(worker: Proc, timeout: float = 30) -> tuple[int, list[str]]:
    """The worker's exit code and its output lines, once it has exited."""
    try:
        await eventually(lambda: not worker.alive(), timeout=timeout, what=f"{worker.name} to exit")
    finally:
        worker.stop()
    assert worker.popen is not None
    text = worker.log_text()
    assert "Traceback" not in text, text
    return worker.popen.returncode, text.strip().splitlines()


async def test_worker_temporal_unreachable_retries_then_one_line_exit_1(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    settings = Settings(_env_file=None, temporal_address=address, binance_api_key=TEST_API_KEY,  # type: ignore[call-arg]
                        binance_api_secret=TEST_API_SECRET, startup_timeout_seconds=2)
    code, lines = await _ended(worker_proc(tmp_path, settings).start())
    assert code == 1, lines
    assert re.fullmatch(rf"quantum-trader worker: Temporal unreachable at {address} after [23]s: Connection refused", lines[-1]), lines
    retries = _retries("\n".join(lines), "Temporal", address)
    assert len(retries) >= 2 and all(entry["error"] == "Connection refused" for entry in retries), lines


async def test_worker_without_exchange_keys_refuses_to_start_exit_2(stack: Stack, tmp_path: Path) -> None:
    settings = _settings(stack, binance_api_key=None, binance_api_secret=TEST_API_SECRET)
    code, lines = await _ended(worker_proc(tmp_path, settings).start())
    assert code == 2, lines
    assert lines == ["quantum-trader worker: QT_BINANCE_API_KEY and QT_BINANCE_API_SECRET must both be set (or their _FILE variants)"]


@pytest.mark.parametrize(
    ("key", "secret", "code"),
    [("not-a-known-key", TEST_API_SECRET, "-2015"), (TEST_API_KEY, "not-the-secret", "-1022")],
)
async def test_worker_keys_the_exchange_refuses_refuse_to_start_exit_2(
    stack: Stack, tmp_path: Path, key: str, secret: str, code: str
) -> None:
    settings = _settings(stack, binance_api_key=key, binance_api_secret=secret)
    exit_code, lines = await _ended(worker_proc(tmp_path, settings).start())
    assert exit_code == 2, lines
    assert lines[-1].startswith(f"quantum-trader worker: the exchange at {stack.exchange_url} refused the API keys: {code} "), lines
    assert "QT_BINANCE_API_KEY" in lines[-1] and secret not in lines[-1]


async def test_worker_clock_off_the_exchanges_beyond_recv_window_refuses_to_start_exit_2(
    stack: Stack, paper: PaperAdmin, tmp_path: Path
) -> None:
    settings = _settings(stack, recv_window_ms=3_000)
    await paper.configure(clock_offset_ms=-20_000)
    try:
        code, lines = await _ended(worker_proc(tmp_path, settings).start())
    finally:
        await paper.configure(clock_offset_ms=0)
    assert code == 2, lines
    found = re.fullmatch(
        rf"quantum-trader worker: clock skew: the exchange's clock \({re.escape(stack.exchange_url)}\) is (\d+) ms behind "
        r"this host's \(round trip \d+ ms\), more than QT_RECV_WINDOW_MS=3000; synchronise this host's clock", lines[-1])
    assert found is not None, lines
    assert 19_000 <= int(found.group(1)) <= 21_000


async def test_worker_exchange_still_unreachable_at_its_start_timeout_polls_anyway(stack: Stack, tmp_path: Path) -> None:
    # Intents already running need a worker to reach their deadlines while the exchange is
    # down (their activities retry and they end as the fault model says): an unreachable
    # exchange delays polling by the start timeout, never blocks it.
    url = f"http://127.0.0.1:{free_port()}"
    worker = worker_proc(tmp_path, _settings(stack, exchange_url=url, startup_timeout_seconds=2)).start()
    try:
        await eventually(lambda: "worker polling" in worker.log_text(), timeout=30, what="the worker to poll")
        text = worker.log_text()
        assert _retries(text, "exchange", url), text
        polling_anyway = [entry for entry in entries(text) if entry["msg"] == "exchange unreachable at start, polling anyway"]
        assert polling_anyway and polling_anyway[0]["url"] == url and polling_anyway[0]["level"] == "WARNING", text
        assert worker.alive()
    finally:
        worker.stop()
    assert worker.popen is not None and worker.popen.returncode == 0, worker.log_tail()
    assert "Traceback" not in worker.log_text()


# Counted, not timed, and on the check's own first call: a slow start cannot outlive the fault.
@pytest.mark.parametrize("fault", [{"kind": "error_5xx", "count": 2, "path": "/api/v3/time"},
                                   {"kind": "down", "count": 2, "path": "/api/v3/time"}], ids=["5xx", "down"])
async def test_worker_waits_while_the_exchange_fails_then_polls(stack: Stack, paper: PaperAdmin, tmp_path: Path, fault: dict) -> None:  # type: ignore[type-arg]
    # The chaos run restarts the exchange while workers restart: a worker must wait for it, not exit.
    await paper.arm(fault["kind"], **{key: value for key, value in fault.items() if key != "kind"})
    worker = worker_proc(tmp_path, _settings(stack)).start()
    try:
        await eventually(lambda: "worker polling" in worker.log_text(), timeout=30, what="the worker to poll")
        assert _retries(worker.log_text(), "exchange", stack.exchange_url), worker.log_text()
    finally:
        worker.stop()
    assert worker.popen is not None and worker.popen.returncode == 0, worker.log_tail()


@pytest.mark.parametrize(("flag", "value", "says"), [
    ("--max-cached-workflows", "-5", "must be at least 0, got -5"),
    ("--max-concurrent-activities", "0", "must be at least 1, got 0"),
    ("--max-concurrent-workflow-tasks", "many", "expected a whole number, got 'many'"),
])
def test_worker_with_a_bad_flag_says_which_and_exits_2(flag: str, value: str, says: str) -> None:
    done = subprocess.run([str(VENV_BIN / "quantum-trader"), "worker", flag, value], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == f"quantum-trader worker: error: argument {flag}: {says}"
