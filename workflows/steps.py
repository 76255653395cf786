"""Helpers both workflows use to run their steps (deterministic code only)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from activities.futures import FuturesActivities
    from quantum_trader.models import ClosePositionRequest, CloseResult, OrderRequest, ProtectionPlacement, ProtectiveOrder, Side
    from quantum_trader.states import Attention
    from quantum_trader.visibility import TRADE_STATE
    from workflows.policies import (
        EXCHANGE_RETRY,
        HEARTBEAT_TIMEOUT,
        PROTECT_RETRY,
        PROTECT_WINDOW,
        RECONCILE_WINDOW,
        WATCH_BACKOFF,
        WATCH_BACKOFF_MAX,
    )

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


async def place_protective_order(order: ProtectiveOrder, *, timeout: timedelta) -> ProtectionPlacement:
    """Place one protective (conditional) order, retried for up to PROTECT_WINDOW.

    The saga's first pair and the protection workflow's resized pairs both take this step.
    """
    return await exchange_step(
        FuturesActivities.place_protection,
        order,
        timeout=timeout,
        window=PROTECT_WINDOW,
        retry=PROTECT_RETRY,
        summary=f"place {order.label()} {order.order_type} {order.side.value} {order.quantity} @ {order.trigger_price} as {order.client_algo_id}",
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


def watch_backoff(failures: int, error: ActivityError) -> timedelta:
    """How long to wait before the next watch after ``failures`` watches in a row failed,
    the last with ``error``: doubling from WATCH_BACKOFF up to WATCH_BACKOFF_MAX, and never
    less than the Retry-After the exchange gave."""
    delay = min(WATCH_BACKOFF * 2 ** min(max(failures - 1, 0), 16), WATCH_BACKOFF_MAX)
    cause: BaseException | None = error.cause
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.next_retry_delay is not None:
            delay = max(delay, cause.next_retry_delay)
        cause = getattr(cause, "cause", None)
    return delay


class WatchHealth:
    """How a follow loop's watches are going: failures in a row, and the NEEDS_ATTENTION they
    raise (the TradeState search attribute and a line in the Web UI details) until a watch
    answers again. Both follow loops keep one; a trade intent carries it across continue-as-new."""

    def __init__(self, failures: int = 0, attention: str | None = None) -> None:
        self.failures = failures
        self.attention = attention

    def failed(self, what: str, error: ActivityError) -> timedelta:
        """A watch of ``what`` failed for its whole window: raise NEEDS_ATTENTION (once) and
        return how long to back off."""
        self.failures += 1
        if self.attention is None:
            workflow.upsert_search_attributes([TRADE_STATE.value_set(Attention.NEEDS_ATTENTION.value)])
        self.attention = f"{what} not seen at the exchange for {self.failures} watch(es): {cause_message(error)}"
        return watch_backoff(self.failures, error)

    def answered(self, state: str) -> bool:
        """A watch answered: clear NEEDS_ATTENTION, showing ``state`` again; True if it was raised."""
        self.failures = 0
        if self.attention is None:
            return False
        self.attention = None
        workflow.upsert_search_attributes([TRADE_STATE.value_set(state)])
        return True
