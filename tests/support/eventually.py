"""Bounded waiting for tests: poll a condition until it holds or a deadline passes."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class _Bound:
    """The deadline of one wait and the last assertion the probe raised."""

    def __init__(self, timeout: float, what: str) -> None:
        self.timeout, self.what = timeout, what
        self.deadline = time.monotonic() + timeout
        self.last_error: AssertionError | None = None

    def check(self) -> None:
        """Raise a clear error once the deadline has passed."""
        if time.monotonic() < self.deadline:
            return
        if self.last_error is not None:
            raise AssertionError(f"timed out after {self.timeout}s waiting for {self.what}: {self.last_error}")
        raise AssertionError(f"timed out after {self.timeout}s waiting for {self.what}")


async def eventually(
    probe: Callable[[], Awaitable[T] | T],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Call ``probe`` until it returns a truthy value without raising ``AssertionError``.

    Returns that value. After ``timeout`` seconds the last assertion error (or a clear
    timeout error) is raised, so a failing wait says what it was waiting for.
    """
    bound = _Bound(timeout, what)
    while True:
        try:
            value = probe()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            bound.last_error = None
        except AssertionError as error:
            bound.last_error = error
        bound.check()
        await asyncio.sleep(interval)


def eventually_sync(
    probe: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"
) -> T:
    """Blocking twin of :func:`eventually` for synchronous tests and fixtures."""
    bound = _Bound(timeout, what)
    while True:
        try:
            value = probe()
            if value:
                return value
            bound.last_error = None
        except AssertionError as error:
            bound.last_error = error
        bound.check()
        time.sleep(interval)
