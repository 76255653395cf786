"""``quantum-trader exchange``: start-up checks, key pair from settings, admin actions."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from paper_exchange.admin_client import SyncPaperAdmin
from tests.support.exchange import API_KEY, API_SECRET, Exchange, client_for
from tests.support.processes import VENV_BIN, Proc, free_port


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
    env.update(extra)
    return env


def test_exchange_without_key_pair_refuses_to_start_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(VENV_BIN / "quantum-trader"), "exchange", "--port", str(free_port())],
        env=clean_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "QT_BINANCE_API_KEY" in lines[0]


def test_exchange_takes_key_pair_from_settings_and_never_logs_secret(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(QT_BINANCE_API_KEY="settings-key", QT_BINANCE_API_SECRET="settings-secret-value")
    proc = Proc("settings-exchange", [str(VENV_BIN / "quantum-trader"), "exchange", "--port", str(port)], tmp_path / "x.log", env)
    original = os.getcwd()
    try:
        os.chdir(tmp_path)
        proc.start(wait_port=port, timeout=30)
    finally:
        os.chdir(original)
    try:
        client = client_for(f"http://127.0.0.1:{port}", "settings-key", "settings-secret-value")
        assert client.get_account()["canTrade"] is True
        client.close_connection()
    finally:
        proc.stop()
    assert [e["process"] for e in proc.log_entries("listening")] == ["exchange"]
    assert "settings-secret-value" not in proc.log_text()


def test_admin_cli_actions_reach_running_exchange(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    def cli(*args: str) -> object:
        result = subprocess.run(
            [str(VENV_BIN / "quantum-trader"), "exchange", *args, "--url", exchange.base_url],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    assert cli("health") == {"ok": True}
    assert cli("price", "BTCUSDT", "64000")["price"] == "64000"
    client = client_for(exchange.base_url, API_KEY, API_SECRET)
    client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001", newClientOrderId="cli-1")
    rows = cli("orders", "--symbol", "BTCUSDT")["orders"]  # type: ignore[index]
    assert [(r["clientOrderId"], r["avgPrice"]) for r in rows] == [("cli-1", "64000")]
    assert cli("fault", "error_5xx", "--path", "/api/v3/order", "--count", "2")["remaining"] == 2
    armed = cli("fault", "error", "--path", "/api/v3/order", "--method", "GET", "--code", "-1008", "--duration-ms", "60000")
    assert (armed["code"], armed["status"], armed["duration_ms"]) == (-1008, 400, 60000)
    assert cli("fault", "execute_later", "--delay-ms", "500", "--respond", "reset")["delay_ms"] == 500
    assert [f["kind"] for f in cli("faults")["faults"]] == ["error_5xx", "error", "execute_later"]  # type: ignore[index]
    assert cli("clear-faults") == {"cleared": 3}
    assert cli("reset") == {"ok": True}
    assert admin.orders() == []
