"""Structured logs: key=value or JSON lines, and secret values scrubbed from messages."""

from __future__ import annotations

import json
import logging

import pytest

from quantum_trader import logs
from quantum_trader.settings import Settings


@pytest.fixture
def restore_root_logger():  # noqa: ANN201
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_logs_one_object_per_line_with_secret_scrubbed(capsys: pytest.CaptureFixture[str], restore_root_logger: None) -> None:
    settings = Settings(_env_file=None, log_json=True, binance_api_secret="very-secret-value")
    logs.configure(settings, "worker")
    logging.getLogger("activities.trading").info("order placed trace_id=%s note=%s", "t-1", "very-secret-value")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    entry = json.loads(line)
    assert entry["level"] == "INFO" and entry["logger"] == "activities.trading"
    assert entry["msg"] == "order placed trace_id=t-1 note=[redacted]"


def test_plain_logs_are_key_value_with_process(capsys: pytest.CaptureFixture[str], restore_root_logger: None) -> None:
    logs.configure(Settings(_env_file=None), "ingress")
    logging.getLogger("workers.ingress").warning("DEAD_LETTER source_id=%s reason=%s", "1-0", "bad side")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "level=WARNING process=ingress logger=workers.ingress DEAD_LETTER source_id=1-0 reason=bad side" in line
