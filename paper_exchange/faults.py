"""Injected faults, armed through ``POST /_paper/faults`` and applied to non-admin requests.

Kinds and what the client sees:

- ``latency``: waits ``latency_ms`` then processes normally (combines with one other fault).
- ``error_5xx``: HTTP 503 ``-1001`` without processing.
- ``unknown_1007``: HTTP 408 ``-1007`` (outcome unknown) without processing.
- ``unknown_1007_after``: processes the request, then answers HTTP 408 ``-1007``.
- ``drop_response``: processes the request (the order exists), then drops the answer:
  the TCP connection is aborted without a byte (``respond: "reset"``, default), or an
  HTTP 503 with an empty body is sent (``respond: "503"``).
- ``rate_limit_429`` / ``ban_418``: HTTP 429 / 418 ``-1003`` with ``Retry-After``.
- ``timestamp_1021``: HTTP 400 ``-1021``.
- ``key_revoked``: HTTP 401 ``-2015`` without processing, as when the key loses its
  trading permission or IP whitelist entry.
- ``down``: every request is refused like ``drop_response`` but without processing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

LATENCY = "latency"
ERROR_5XX = "error_5xx"
UNKNOWN_1007 = "unknown_1007"
UNKNOWN_1007_AFTER = "unknown_1007_after"
DROP_RESPONSE = "drop_response"
RATE_LIMIT_429 = "rate_limit_429"
BAN_418 = "ban_418"
TIMESTAMP_1021 = "timestamp_1021"
KEY_REVOKED = "key_revoked"
DOWN = "down"
KINDS = (LATENCY, ERROR_5XX, UNKNOWN_1007, UNKNOWN_1007_AFTER, DROP_RESPONSE, RATE_LIMIT_429, BAN_418, TIMESTAMP_1021, KEY_REVOKED, DOWN)
# Faults that let the request reach the engine before the answer is spoiled.
AFTER_PROCESSING = frozenset({UNKNOWN_1007_AFTER, DROP_RESPONSE})
RESPOND_MODES = ("reset", "503")


class FaultSpecError(ValueError):
    """The admin request does not describe a valid fault."""


@dataclass
class Fault:
    id: str
    kind: str
    path: str | None
    method: str | None
    remaining: int | None
    probability: float
    latency_ms: int
    retry_after: int
    respond: str

    def matches(self, path: str, method: str) -> bool:
        return (self.path is None or self.path == path) and (self.method is None or self.method == method)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "path": self.path,
            "method": self.method,
            "count": self.remaining,
            "remaining": self.remaining,
            "probability": self.probability,
            "latency_ms": self.latency_ms,
            "retry_after": self.retry_after,
            "respond": self.respond,
        }


@dataclass(frozen=True)
class Selected:
    """What to do to one request: an optional delay and at most one other fault."""

    latency_ms: int = 0
    fault: Fault | None = None


def parse_fault(fault_id: str, body: dict[str, Any]) -> Fault:
    kind = body.get("kind")
    if kind not in KINDS:
        raise FaultSpecError(f"kind must be one of {', '.join(KINDS)}")
    path = body.get("path")
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise FaultSpecError("path must be an absolute path such as /api/v3/order")
    if path is not None and path.startswith("/_paper"):
        raise FaultSpecError("faults never apply to /_paper paths")
    method = body.get("method")
    if method is not None and (not isinstance(method, str) or not method.isalpha()):
        raise FaultSpecError("method must be an HTTP method such as POST")
    count = body.get("count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise FaultSpecError("count must be a positive integer")
    probability = body.get("probability", 1.0)
    if not isinstance(probability, (int, float)) or isinstance(probability, bool) or not 0 <= probability <= 1:
        raise FaultSpecError("probability must be a number between 0 and 1")
    latency_ms = body.get("latency_ms", 0)
    if not isinstance(latency_ms, int) or isinstance(latency_ms, bool) or not 0 <= latency_ms <= 600_000:
        raise FaultSpecError("latency_ms must be an integer between 0 and 600000")
    if kind == LATENCY and latency_ms == 0:
        raise FaultSpecError("a latency fault needs latency_ms > 0")
    retry_after = body.get("retry_after", 1)
    if not isinstance(retry_after, int) or isinstance(retry_after, bool) or retry_after < 0:
        raise FaultSpecError("retry_after must be a non-negative integer (seconds)")
    respond = body.get("respond", "reset")
    if respond not in RESPOND_MODES:
        raise FaultSpecError("respond must be 'reset' or '503'")
    return Fault(
        id=fault_id,
        kind=kind,
        path=path,
        method=method.upper() if method else None,
        remaining=count,
        probability=float(probability),
        latency_ms=latency_ms,
        retry_after=retry_after,
        respond=respond,
    )


class FaultBook:
    """Armed faults in arming order; a fault with a count disarms itself when used up."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self._faults: list[Fault] = []
        self._next_id = 1

    def arm(self, body: dict[str, Any]) -> Fault:
        fault = parse_fault(f"f{self._next_id}", body)
        self._next_id += 1
        self._faults.append(fault)
        return fault

    def clear(self) -> int:
        count = len(self._faults)
        self._faults = []
        return count

    def remove(self, fault_id: str) -> bool:
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) != before

    def reset(self) -> None:
        self.clear()
        self._rng = random.Random(self._seed)
        self._next_id = 1

    def listing(self) -> list[dict[str, Any]]:
        return [fault.describe() for fault in self._faults]

    def select(self, path: str, method: str) -> Selected:
        """Pick what applies to this request and use up one count of each fault picked."""
        if not self._faults:
            return Selected()
        latency = 0
        chosen: Fault | None = None
        for fault in list(self._faults):
            if not fault.matches(path, method):
                continue
            if fault.kind == LATENCY:
                if latency == 0 and self._fires(fault):
                    latency = fault.latency_ms
            elif chosen is None and self._fires(fault):
                chosen = fault
        return Selected(latency, chosen)

    def _fires(self, fault: Fault) -> bool:
        if fault.probability < 1.0 and self._rng.random() >= fault.probability:
            return False
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
        return True
