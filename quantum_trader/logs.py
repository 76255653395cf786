"""Structured logging: one line per event, key=value or JSON, secrets scrubbed.

A log call names its event in a short message and passes its data as fields::

    log.info("order placed", extra={"trace_id": order.trace_id, "client_order_id": order.client_order_id})

Every line starts with ``ts``, ``level``, ``logger``, ``process`` and ``msg``, then the call's
fields, then the Temporal context that ``workflow.logger`` and the adapters of
:func:`activity_logger` attach (``workflow_id``, ``run_id``, ``workflow_type``,
``activity_type``, ``activity_id``, ``attempt``, ``task_queue``, ``namespace``; a call's own
field of the same name wins), then ``exc`` for an exception; a field whose value is
``None`` is left out. ``QT_LOG_JSON=true`` writes one JSON object per line; otherwise
``key=value`` pairs, a value quoted (JSON string escapes) when it is empty or holds a space,
a quote, ``=`` or a control character. Every configured secret is replaced by
``[redacted]`` in the message, every field value and the traceback.

This module must not import the Temporal SDK at import time: the paper exchange uses it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from quantum_trader.settings import Settings

_REDACTED = "[redacted]"
# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# Dicts the Temporal SDK's logger adapters attach, flattened into fields.
_TEMPORAL_CONTEXT = ("temporal_workflow", "temporal_activity")
_CONTEXT_NAMES = {"workflow_run_id": "run_id"}
_CONTEXT_ORDER = ("workflow_id", "run_id", "workflow_type", "activity_type", "activity_id", "attempt", "task_queue", "namespace")
# The full info objects the SDK can attach on request: too big for a line.
_SKIPPED = frozenset({"workflow_info", "activity_info"})
_HEAD = ("ts", "level", "logger", "process", "msg")
_NEEDS_QUOTES = re.compile(r'[\s"=\\]|[^\x20-\x7e]')
_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        value = value.value
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class _Formatter(logging.Formatter):
    """The entry of a record as ordered fields, secrets scrubbed; subclasses render it."""

    def __init__(self, process: str, secrets: list[str]) -> None:
        super().__init__()
        self._process = process
        self._secrets = [s for s in secrets if len(s) >= 4]

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                if secret in value:
                    value = value.replace(secret, _REDACTED)
        return value

    def entry(self, record: logging.LogRecord) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": self._process,
            "msg": self._scrub(record.getMessage()),
        }
        for key, value in vars(record).items():
            if value is None or key in _RECORD_ATTRIBUTES or key in _SKIPPED or key in _TEMPORAL_CONTEXT or key.startswith("_"):
                continue
            entry.setdefault(key, self._scrub(_plain(value)))
        context = {}
        for name in _TEMPORAL_CONTEXT:
            details = getattr(record, name, None)
            if isinstance(details, dict):
                context.update((_CONTEXT_NAMES.get(key, key), value) for key, value in details.items())
        for key in (*(k for k in _CONTEXT_ORDER if k in context), *(k for k in context if k not in _CONTEXT_ORDER)):
            entry.setdefault(key, self._scrub(_plain(context[key])))
        if record.exc_info:
            entry["exc"] = self._scrub(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = self._scrub(self.formatStack(record.stack_info))
        return entry


class _JsonFormatter(_Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.entry(record))


class _TextFormatter(_Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={_text(value)}" for key, value in self.entry(record).items())


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    text = str(value)
    return json.dumps(text) if not text or _NEEDS_QUOTES.search(text) else text


def parse_line(line: str) -> dict[str, Any]:
    """The fields of one log line in either format (text values come back as strings)."""
    line = line.strip()
    if line.startswith("{"):
        parsed = json.loads(line)
        if not isinstance(parsed, dict):
            raise ValueError(f"not a log entry: {line[:80]}")
        return parsed
    return {key: json.loads(value) if value.startswith('"') else value for key, value in _PAIR.findall(line)}


def entries(text: str) -> list[dict[str, Any]]:
    """The log entries in a process's output, either format; other lines are skipped."""
    found = []
    for line in text.splitlines():
        try:
            entry = parse_line(line)
        except ValueError:
            continue
        if "msg" in entry:
            found.append(entry)
    return found


def configure(settings: Settings, process: str, level: str | None = None) -> None:
    """Set up the root logger for one process (``worker``, ``ingress``, ``exchange``...)."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = _JsonFormatter if settings.log_json else _TextFormatter
    handler.setFormatter(formatter(process, settings.secret_values()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or settings.log_level).upper())
    for noisy in ("aiohttp.access", "urllib3", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def temporal_context_in_fields() -> None:
    """Keep the Temporal SDK's loggers from appending their context to the message text:
    the formatter already writes it as fields."""
    from temporalio import activity, workflow

    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False


def activity_logger(name: str) -> logging.LoggerAdapter[logging.Logger]:
    """The logger ``name`` with the running activity's context on each record (workflow
    and run ID, activity type, attempt...), as fields; plain outside an activity."""
    from temporalio import activity

    adapter = activity.LoggerAdapter(logging.getLogger(name), None)
    adapter.activity_info_on_message = False
    return adapter
