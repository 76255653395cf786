"""Starting a long-running process: wait for what it needs, or refuse in one line.

The worker and the ingress share one rule. A service that is not reachable yet (Temporal,
Redis, the exchange) is waited for: each attempt that fails logs one WARNING naming the
service, where it was looked for and why, and the next waits a capped exponential backoff,
until ``QT_STARTUP_TIMEOUT_SECONDS`` have passed since the start (0: one attempt). Then the
process exits 1 with :class:`Unreachable`'s one line, and a supervisor (compose
``restart:``) starts it again. A mistake that waiting cannot fix (no keys, keys the exchange
refuses, a clock off by more than ``recvWindow``) is :class:`StartRefused`: exit 2 at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from quantum_trader.cli import CommandError

log = logging.getLogger(__name__)

T = TypeVar("T")
BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 10.0
# One attempt may take at least this long, even when less of the startup timeout is left.
MIN_ATTEMPT_SECONDS = 10.0


class Unreachable(CommandError):
    """A service did not answer within the startup timeout (exit 1: a supervisor retries)."""

    def __init__(self, what: str, where: str, waited: float, reason: str) -> None:
        super().__init__(f"{what} unreachable at {where} after {waited:.0f}s: {reason}")


class StartRefused(CommandError):
    """A setting or the exchange says this process must not run as configured (exit 2)."""

    exit_code = 2


class Backoff:
    """Capped exponential backoff with jitter; ``reset()`` after a success."""

    def __init__(self, initial: float = BACKOFF_INITIAL_SECONDS, cap: float = BACKOFF_MAX_SECONDS) -> None:
        self.initial, self.cap = initial, cap
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self.cap, self._next * 2)
        return delay * random.uniform(0.8, 1.0)

    def reset(self) -> None:
        self._next = self.initial


class Deadline:
    """The end of a process's start: ``timeout`` seconds after it was made."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    @property
    def remaining(self) -> float:
        return self.timeout - self.elapsed


async def until_reachable(
    what: str,
    where: str,
    attempt: Callable[[], Awaitable[T]],
    deadline: Deadline,
    transient: tuple[type[BaseException], ...],
    *,
    stop: asyncio.Event | None = None,
) -> T | None:
    """``attempt()`` until it succeeds; a ``transient`` failure is retried with backoff.

    Raises :class:`Unreachable` once ``deadline`` has passed, and returns ``None`` if
    ``stop`` is set while waiting. Any other exception propagates at once.
    """
    backoff = Backoff()
    while True:
        try:
            return await asyncio.wait_for(attempt(), max(deadline.remaining, MIN_ATTEMPT_SECONDS))
        except (*transient, TimeoutError) as error:
            reason = short_reason(error)
            left = deadline.remaining
            if left <= 0:
                raise Unreachable(what, where, deadline.elapsed, reason) from None
            delay = min(backoff.next(), left)
            log.warning("unreachable at start", extra={
                "service": what, "address": where, "retry_in_s": round(delay, 1),
                "waited_s": round(deadline.elapsed), "timeout_s": deadline.timeout, "error": reason,
            })
        if stop is None:
            await asyncio.sleep(delay)
        elif await _stopped(stop, delay):
            return None


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


# The readable part of the Temporal SDK's connect failure (a Rust error's debug form).
_RUST_MESSAGE = re.compile(r'message: "([^"]+)"')
MAX_REASON_CHARS = 200


def short_reason(error: BaseException) -> str:
    """One short line saying why a connection failed."""
    text = str(error).strip()
    if isinstance(error, TimeoutError) and not text:
        return "no answer (timed out)"
    found = _RUST_MESSAGE.findall(text)
    if found:
        return found[-1]
    first = text.splitlines()[0] if text else type(error).__name__
    return first[:MAX_REASON_CHARS]
