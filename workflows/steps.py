"""Helpers both workflows use to run their steps (deterministic code only)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from activities.futures import FuturesActivities
    from quantum_trader.models import ClosePositionRequest, CloseResult, OrderRequest, Side
    from workflows.policies import EXCHANGE_RETRY, HEARTBEAT_TIMEOUT, RECONCILE_WINDOW

T = TypeVar("T")


async def exchange_step(
    activity: Callable[[Any, Any], Awaitable[T]],
    arg: Any,  # noqa: ANN401 - the activity's one input
    *,
    timeout: timedelta,
    window: timedelta,
    summary: str,
    retry: RetryPolicy = EXCHANGE_RETRY,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
) -> T:
    """Run one exchange activity that heartbeats: ``timeout`` per attempt, ``window`` for all."""
    return await workflow.execute_activity_method(
        activity,
        arg,
        start_to_close_timeout=timeout,
        schedule_to_close_timeout=window,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=retry,
        cancellation_type=cancellation_type,
        summary=summary,
    )


async def close_position(
    order: OrderRequest,
    entry_side: Side,
    *,
    timeout: timedelta,
    summary: str,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
) -> CloseResult:
    """Close a futures position with ``order`` (reduce-only MARKET), retried for up to RECONCILE_WINDOW.

    The saga's flatten and the protection workflow's close both take this step.
    """
    return await exchange_step(
        FuturesActivities.close_position,
        ClosePositionRequest(order=order, entry_side=entry_side),
        timeout=timeout,
        window=RECONCILE_WINDOW,
        summary=summary,
        cancellation_type=cancellation_type,
    )


async def shielded(awaitable: Awaitable[T], on_cancel: Callable[[], None] | None = None) -> T:
    """Await a step that must finish even if the workflow is cancelled meanwhile.

    The step runs to its end; ``on_cancel`` (if given) is told that a cancellation was
    requested, so the workflow can act on it once the step is done.
    """
    task = asyncio.ensure_future(awaitable)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise
            if on_cancel is not None:
                on_cancel()


def cause_message(error: ActivityError) -> str:
    """The chain of failure messages under an activity error, outermost first."""
    messages = []
    cause: BaseException | None = error.cause
    while cause is not None:
        messages.append(getattr(cause, "message", None) or str(cause))
        cause = getattr(cause, "cause", None)
    return ": ".join(messages) or str(error)
