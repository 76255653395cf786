"""Injected faults, armed through ``POST /_paper/faults`` and applied to non-admin requests.

Kinds and what the client sees:

- ``latency``: waits ``latency_ms`` then processes normally (combines with one other fault).
  The wait comes *before* the timestamp/recvWindow check: a request held longer than its
  ``recvWindow`` is refused ``-1021`` and never executes. Compare ``execute_later``.
- ``execute_later``: "accept now, execute later". The request passes the rate limit, the API
  key, timestamp/``recvWindow`` and signature checks now; the client gets an unknown outcome
  at once (``respond``: ``"1007"``, the default, answers HTTP 408 ``-1007``; ``"reset"``
  aborts the connection; ``"503"`` sends a bare 503); the request is processed ``delay_ms``
  later, unconditionally, as Binance's matching engine may (its recvWindow checks "do not
  cover potential delays inside the Matching Engine itself"). Until then a lookup of the
  order answers ``-2013``. ``GET /_paper/state`` lists pending ones under ``deferred``; a
  reset (or a restart) forgets them. Works on any route; meant for ``POST /api/v3/order``,
  ``POST /fapi/v1/order`` and ``POST /fapi/v1/algoOrder``.
- ``error``: any Binance error without processing: HTTP ``status`` (default 400), ``code``
  (required, negative) and ``msg`` (optional for the codes in
  :data:`paper_exchange.errors.DEFAULT_MESSAGES`, required otherwise), with a
  ``Retry-After`` header only if ``retry_after`` is given.
- ``error_5xx``: HTTP 503 ``-1001`` without processing.
- ``unknown_1007``: HTTP 408 ``-1007`` (outcome unknown) without processing.
- ``unknown_1007_after``: processes the request, then answers HTTP 408 ``-1007``.
- ``drop_response``: processes the request (the order exists), then drops the answer:
  the TCP connection is aborted without a byte (``respond: "reset"``, default), or an
  HTTP 503 with an empty body is sent (``respond: "503"``).
- ``rate_limit_429`` / ``ban_418``: HTTP 429 / 418 ``-1003`` with ``Retry-After``
  (``retry_after`` seconds, default 1).
- ``timestamp_1021``: HTTP 400 ``-1021``.
- ``key_revoked``: HTTP 401 ``-2015`` without processing, as when the key loses its
  trading permission or IP whitelist entry.
- ``down``: every request is refused like ``drop_response`` but without processing.

Stream kinds act on the user data streams (the spot WebSocket API subscription and the
futures listenKey stream), not on requests; ``market`` (``spot`` or ``usdm``, optional)
scopes them instead of ``path``/``method``, and ``count`` counts affected events:

- ``stream_disconnect``: every stream connection (of ``market``) is cut at once, without
  a close frame or ``serverShutdown``; nothing stays armed.
- ``stream_stall``: connections stay up and pings keep flowing both ways (the server pings
  and answers pings; WebSocket API requests are answered), but no event is delivered:
  events are lost, not held back. A client's ping-based liveness check cannot see it.
- ``stream_drop``: events are lost; with ``every`` = N only every Nth one.
- ``stream_duplicate``: events are sent twice; with ``every`` = N only every Nth one.
- ``stream_reorder``: ``window`` events (default 2) are held, then sent in reverse order;
  ``count`` counts windows. A window still partly filled when the fault ends is sent,
  reversed, before the next event.
- ``stream_delay``: every event is sent ``delay_ms`` late (their order is kept).

Every kind is scoped by ``path`` and ``method`` (both optional) and fires with
``probability`` (default 1). ``count`` disarms it after N matching requests and
``duration_ms`` after that many milliseconds from arming (host monotonic clock, not the
exchange clock); with both, whichever comes first; with neither it stays until cleared.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paper_exchange import errors

LATENCY = "latency"
EXECUTE_LATER = "execute_later"
ERROR = "error"
ERROR_5XX = "error_5xx"
UNKNOWN_1007 = "unknown_1007"
UNKNOWN_1007_AFTER = "unknown_1007_after"
DROP_RESPONSE = "drop_response"
RATE_LIMIT_429 = "rate_limit_429"
BAN_418 = "ban_418"
TIMESTAMP_1021 = "timestamp_1021"
KEY_REVOKED = "key_revoked"
DOWN = "down"
STREAM_DISCONNECT = "stream_disconnect"
STREAM_STALL = "stream_stall"
STREAM_DROP = "stream_drop"
STREAM_DUPLICATE = "stream_duplicate"
STREAM_REORDER = "stream_reorder"
STREAM_DELAY = "stream_delay"
STREAM_KINDS = (STREAM_DISCONNECT, STREAM_STALL, STREAM_DROP, STREAM_DUPLICATE, STREAM_REORDER, STREAM_DELAY)
STREAM_MARKETS = ("spot", "usdm")
KINDS = (LATENCY, EXECUTE_LATER, ERROR, ERROR_5XX, UNKNOWN_1007, UNKNOWN_1007_AFTER, DROP_RESPONSE, RATE_LIMIT_429, BAN_418, TIMESTAMP_1021, KEY_REVOKED, DOWN, *STREAM_KINDS)
# Faults that let the request reach the engine before the answer is spoiled.
AFTER_PROCESSING = frozenset({UNKNOWN_1007_AFTER, DROP_RESPONSE})
RESPOND_RESET = "reset"
RESPOND_503 = "503"
RESPOND_1007 = "1007"
RESPOND_MODES = (RESPOND_RESET, RESPOND_503, RESPOND_1007)
# Kinds whose Retry-After header is always sent (default 1 s); ``error`` sends it only if given.
RETRY_AFTER_KINDS = frozenset({RATE_LIMIT_429, BAN_418})
MAX_DELAY_MS = 600_000
MAX_DURATION_MS = 86_400_000
MAX_WINDOW = 1000


class FaultSpecError(ValueError):
    """The admin request does not describe a valid fault."""


@dataclass
class Fault:
    """One armed fault; ``expires_at`` is on the book's monotonic clock (seconds)."""

    id: str
    kind: str
    path: str | None
    method: str | None
    remaining: int | None
    probability: float
    latency_ms: int
    retry_after: int | None
    respond: str
    delay_ms: int = 0
    status: int = 400
    code: int = 0
    msg: str | None = None
    duration_ms: int | None = None
    expires_at: float | None = None
    market: str | None = None
    every: int | None = None
    window: int = 2
    # Events a stream fault has looked at (``every`` counts them).
    seen: int = 0

    def matches(self, path: str, method: str) -> bool:
        return (self.path is None or self.path == path) and (self.method is None or self.method == method)

    def matches_stream(self, market: str) -> bool:
        return self.kind in STREAM_KINDS and self.market in (None, market)

    def nth(self) -> bool:
        """Count one more event; true when ``every`` picks it (every event without ``every``)."""
        self.seen += 1
        return self.every is None or self.seen % self.every == 0

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def describe(self, now: float) -> dict[str, Any]:
        expires_in_ms = None if self.expires_at is None else max(0, round((self.expires_at - now) * 1000))
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
            "delay_ms": self.delay_ms,
            "status": self.status,
            "code": self.code,
            "msg": self.msg,
            "duration_ms": self.duration_ms,
            "expires_in_ms": expires_in_ms,
            "market": self.market,
            "every": self.every,
            "window": self.window,
        }


@dataclass(frozen=True)
class Selected:
    """What to do to one request: an optional delay and at most one other fault."""

    latency_ms: int = 0
    fault: Fault | None = None


def _integer(body: dict[str, Any], name: str, low: int, high: int, default: int | None = None) -> int | None:
    value = body.get(name, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise FaultSpecError(f"{name} must be an integer between {low} and {high}")
    return value


def _error_fields(body: dict[str, Any]) -> tuple[int, int, str | None]:
    """``(status, code, msg)`` of an ``error`` fault."""
    status = _integer(body, "status", 400, 599, default=400)
    code = _integer(body, "code", -99_999, -1)
    if code is None:
        raise FaultSpecError("an error fault needs a Binance code such as -1008")
    msg = body.get("msg")
    if msg is not None and (not isinstance(msg, str) or not msg):
        raise FaultSpecError("msg must be a non-empty string")
    if msg is None and code not in errors.DEFAULT_MESSAGES:
        known = ", ".join(str(c) for c in sorted(errors.DEFAULT_MESSAGES, reverse=True))
        raise FaultSpecError(f"msg is required for code {code} (it is optional for {known})")
    assert status is not None
    return status, code, msg


def parse_fault(fault_id: str, body: dict[str, Any], now: float) -> Fault:
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
    latency_ms = _integer(body, "latency_ms", 0, MAX_DELAY_MS, default=0)
    if kind == LATENCY and latency_ms == 0:
        raise FaultSpecError("a latency fault needs latency_ms > 0")
    delay_ms = _integer(body, "delay_ms", 0, MAX_DELAY_MS, default=0)
    if kind in (EXECUTE_LATER, STREAM_DELAY) and delay_ms == 0:
        raise FaultSpecError(f"an {kind} fault needs delay_ms > 0")
    market = body.get("market")
    if market is not None and market not in STREAM_MARKETS:
        raise FaultSpecError(f"market must be one of {', '.join(STREAM_MARKETS)}")
    if kind in STREAM_KINDS and (path is not None or method is not None):
        raise FaultSpecError("stream faults are scoped by market (spot or usdm), not by path or method")
    every = _integer(body, "every", 1, MAX_WINDOW)
    window = _integer(body, "window", 2, MAX_WINDOW, default=2)
    duration_ms = _integer(body, "duration_ms", 1, MAX_DURATION_MS)
    retry_after = body.get("retry_after")
    if retry_after is None and kind in RETRY_AFTER_KINDS:
        retry_after = 1
    if retry_after is not None and (not isinstance(retry_after, int) or isinstance(retry_after, bool) or retry_after < 0):
        raise FaultSpecError("retry_after must be a non-negative integer (seconds)")
    respond = body.get("respond", RESPOND_1007 if kind == EXECUTE_LATER else RESPOND_RESET)
    if respond not in RESPOND_MODES:
        raise FaultSpecError(f"respond must be one of {', '.join(RESPOND_MODES)}")
    status, code, msg = _error_fields(body) if kind == ERROR else (400, 0, None)
    assert latency_ms is not None and delay_ms is not None and window is not None
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
        delay_ms=delay_ms,
        status=status,
        code=code,
        msg=msg,
        duration_ms=duration_ms,
        expires_at=None if duration_ms is None else now + duration_ms / 1000,
        market=market,
        every=every,
        window=window,
    )


class FaultBook:
    """Armed faults in arming order; a fault with a count disarms itself when used up."""

    def __init__(self, seed: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._seed = seed
        self._clock = clock
        self._rng = random.Random(seed)
        self._faults: list[Fault] = []
        self._next_id = 1

    def arm(self, body: dict[str, Any]) -> Fault:
        fault = parse_fault(f"f{self._next_id}", body, self._clock())
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
        now = self._expire()
        return [fault.describe(now) for fault in self._faults]

    def describe(self, fault: Fault) -> dict[str, Any]:
        return fault.describe(self._clock())

    def select(self, path: str, method: str) -> Selected:
        """Pick what applies to this request and use up one count of each fault picked."""
        if not self._faults:
            return Selected()
        self._expire()
        latency = 0
        chosen: Fault | None = None
        for fault in list(self._faults):
            if fault.kind in STREAM_KINDS or not fault.matches(path, method):
                continue
            if fault.kind == LATENCY:
                if latency == 0 and self._fires(fault):
                    latency = fault.latency_ms
            elif chosen is None and self._fires(fault):
                chosen = fault
        return Selected(latency, chosen)

    def stream_faults(self, market: str) -> dict[str, Fault]:
        """The first armed fault of each stream kind that applies to ``market``."""
        if not self._faults:
            return {}
        self._expire()
        found: dict[str, Fault] = {}
        for fault in self._faults:
            if fault.matches_stream(market):
                found.setdefault(fault.kind, fault)
        return found

    def fire(self, fault: Fault) -> bool:
        """Apply ``fault`` once (its probability, and one of its count)."""
        return self._fires(fault)

    def _expire(self) -> float:
        """Disarm the faults whose duration has passed; return the clock reading used."""
        now = self._clock()
        self._faults = [fault for fault in self._faults if not fault.expired(now)]
        return now

    def _fires(self, fault: Fault) -> bool:
        if fault.probability < 1.0 and self._rng.random() >= fault.probability:
            return False
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0 and fault in self._faults:
                self._faults.remove(fault)
        return True
