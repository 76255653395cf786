"""The console script's answer to the common mistakes: one line on stderr and an exit code,
never a traceback. Bad settings exit 2 before any command runs; a service an operator
command cannot reach exits 1 naming it and where it was looked for."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from quantum_trader.cli import main
from tests.support.processes import free_port


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # noqa: ANN201 - sets QT_* variables
    """A clean ``QT_*`` environment and a working directory without a ``.env``."""
    for key in list(os.environ):
        if key.startswith("QT_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)

    def set_env(**values: str) -> None:
        for key, value in values.items():
            monkeypatch.setenv(key, value)

    return set_env


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("variable", "value", "what"),
    [
        ("QT_ALLOWED_SYMBOLS", "BTCUSDT,ETH", "a JSON list"),
        ("QT_BINANCE_API_KEY_FILE", "/nonexistent/key", "cannot read /nonexistent/key"),
        ("QT_LOG_LEVEL", "verbose", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
        ("QT_RECV_WINDOW_MS", "soon", "valid integer"),
        ("QT_STARTUP_TIMEOUT_SECONDS", "-1", "greater than or equal to 0"),
    ],
)
def test_bad_setting_is_one_line_naming_it_and_exit_2(env, capsys, variable: str, value: str, what: str) -> None:  # noqa: ANN001
    env(**{variable: value})
    assert main(["stats"]) == 2
    line = one_line(capsys)
    assert line.startswith(f"quantum-trader: invalid settings: {variable}: "), line
    assert what in line, line


def test_secret_file_that_is_a_directory_is_one_line(env, capsys, tmp_path: Path) -> None:  # noqa: ANN001
    env(QT_REDIS_PASSWORD_FILE=str(tmp_path))
    assert main(["stats"]) == 2
    assert one_line(capsys).startswith(f"quantum-trader: invalid settings: QT_REDIS_PASSWORD_FILE: cannot read {tmp_path}")


def test_log_level_is_case_insensitive(env) -> None:  # noqa: ANN001
    from quantum_trader.settings import Settings

    env(QT_LOG_LEVEL="debug")
    assert Settings().log_level == "DEBUG"


@pytest.mark.parametrize("argv", [["stats", "--no-temporal"], ["submit", "--via", "stream", "--symbol", "BTCUSDT", "--side", "BUY", "--usd", "50"]])
def test_unreachable_redis_is_one_line_with_its_url_but_not_its_password_exit_1(env, capsys, argv: list[str]) -> None:  # noqa: ANN001
    port = free_port()
    env(QT_REDIS_URL=f"redis://:hunter2-secret@127.0.0.1:{port}/3")
    assert main(argv) == 1
    line = one_line(capsys)
    assert line.startswith(f"quantum-trader {argv[0]}: cannot reach Redis at redis://127.0.0.1:{port}/3: "), line
    assert "hunter2" not in line


@pytest.mark.parametrize("argv", [["status", "x"], ["list"], ["cancel", "x"], ["submit", "--symbol", "BTCUSDT", "--side", "BUY", "--usd", "50"]])
def test_unreachable_temporal_is_one_line_with_its_address_exit_1(env, capsys, argv: list[str]) -> None:  # noqa: ANN001
    port = free_port()
    env(QT_TEMPORAL_ADDRESS=f"127.0.0.1:{port}")
    assert main(argv) == 1
    line = one_line(capsys)
    assert line.startswith(f"quantum-trader {argv[0]}: cannot reach Temporal at 127.0.0.1:{port}: "), line
    assert "Connection refused" in line and "tonic" not in line, line
