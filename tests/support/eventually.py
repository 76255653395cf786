"""Bounded waiting for tests: poll a condition until it holds or a deadline passes."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


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
    deadline = time.monotonic() + timeout
    last_error: AssertionError | None = None
    while True:
        try:
            value = probe()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            last_error = None
        except AssertionError as error:
            last_error = error
        if time.monotonic() >= deadline:
            if last_error is not None:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}: {last_error}")
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


def eventually_sync(
    probe: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"
) -> T:
    """Blocking twin of :func:`eventually` for synchronous tests and fixtures."""
    deadline = time.monotonic() + timeout
    last_error: AssertionError | None = None
    while True:
        try:
            value = probe()
            if value:
                return value
            last_error = None
        except AssertionError as error:
            last_error = error
        if time.monotonic() >= deadline:
            if last_error is not None:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}: {last_error}")
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
