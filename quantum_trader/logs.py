"""Structured logging: one line per event, key=value or JSON, secrets scrubbed."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from quantum_trader.settings import Settings

_REDACTED = "[redacted]"


class _Scrub(logging.Filter):
    """Replace any configured secret value that slipped into a message."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = record.getMessage()
            if any(secret in message for secret in self._secrets):
                for secret in self._secrets:
                    message = message.replace(secret, _REDACTED)
                record.msg, record.args = message, None
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure(settings: Settings, process: str) -> None:
    """Set up the root logger for one process (``worker``, ``ingress``, ``exchange``...)."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_json:
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s level=%(levelname)s process={process} logger=%(name)s %(message)s"))
    handler.addFilter(_Scrub(settings.secret_values()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for noisy in ("aiohttp.access", "urllib3", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
