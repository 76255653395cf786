"""The placement discipline every order-sending activity follows, whatever the order kind.

On every attempt:

1. Look the order up by its idempotency key (client order ID or ``clientAlgoId``); if the
   exchange has it, adopt it.
2. If an earlier attempt may have sent a request whose outcome is unknown, wait until that
   request provably cannot execute any more (``timestamp + recvWindow`` plus a grace), then
   look it up once more.
3. Send nothing close to this attempt's own timeout: once it times out the workflow moves
   on, accounting only for requests sent before that moment.
4. Only then send, and record in the heartbeat until when this send could still land, or
   that nothing is in flight when the exchange refused it outright. The send is stamped
   with the moment recorded (:func:`signed_at`), so a process that stalls before sending
   cannot land it later than the record says.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.exchange import (
    DuplicateOrder,
    ExchangeConfigError,
    ExchangeError,
    OrderRejected,
    OutcomeUnknown,
    RequestRefused,
    signed_at,
)
from quantum_trader import errors
from quantum_trader.constants import KILL_SWITCH_KEY
from workflows.policies import HEARTBEAT_EVERY, SEND_SAFETY_MARGIN

T = TypeVar("T")

HEARTBEAT_EVERY_SECONDS = HEARTBEAT_EVERY.total_seconds()
SEND_SAFETY_MARGIN_MS = int(SEND_SAFETY_MARGIN.total_seconds() * 1000)


@dataclass(frozen=True)
class Progress:
    """Heartbeat details of a placement attempt."""

    attempt: int
    in_flight_until_ms: int | None

    @classmethod
    def from_details(cls, details: object) -> Progress | None:
        if isinstance(details, dict) and "attempt" in details:
            return cls(int(details["attempt"]), details.get("in_flight_until_ms"))
        return None

    def as_details(self) -> dict[str, int | None]:
        return {"attempt": self.attempt, "in_flight_until_ms": self.in_flight_until_ms}


def now_ms() -> int:
    return int(time.time() * 1000)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def sleep_heartbeating(seconds: float, *details: object) -> None:
    """Sleep while heartbeating, so cancellation and worker death are noticed."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        activity.heartbeat(*details)
        await asyncio.sleep(min(HEARTBEAT_EVERY_SECONDS, left))


def as_application_error(error: ExchangeError) -> ApplicationError:
    """Map exchange errors to Temporal: rejections stop retries, the rest retry."""
    if isinstance(error, OrderRejected):
        return ApplicationError(str(error), error.code, type=errors.ORDER_REJECTED, non_retryable=True)
    if isinstance(error, ExchangeConfigError):
        return ApplicationError(str(error), error.code, type=errors.EXCHANGE_CONFIG, non_retryable=True)
    if isinstance(error, RequestRefused):
        delay = timedelta(seconds=error.retry_after) if error.retry_after else None
        return ApplicationError(str(error), error.code, type=errors.REQUEST_REFUSED, next_retry_delay=delay)
    return ApplicationError(str(error), error.code, type=errors.OUTCOME_UNKNOWN)


def refuse_send_near_deadline(info: activity.Info) -> None:
    """Raise :class:`RequestRefused` when this attempt may time out before its send lands."""
    deadlines = []
    if info.start_to_close_timeout:
        deadlines.append(ms(info.started_time + info.start_to_close_timeout))
    if info.schedule_to_close_timeout:
        deadlines.append(ms(info.scheduled_time + info.schedule_to_close_timeout))
    if deadlines and now_ms() + SEND_SAFETY_MARGIN_MS > min(deadlines):
        raise RequestRefused("attempt too close to its timeout to send safely")


def earlier_send_horizon_ms(info: activity.Info, horizon_ms: int) -> int | None:
    """Until when a request sent by an earlier attempt could still execute."""
    if info.attempt <= 1:
        return None
    progress = Progress.from_details(info.heartbeat_details[0] if info.heartbeat_details else None)
    if progress is not None and progress.attempt == info.attempt - 1:
        # The previous attempt recorded its last send (or that it had none in flight).
        return progress.in_flight_until_ms
    # The previous attempt died without a word: anything it sent predates this attempt's
    # scheduling, so it cannot land after that moment plus the horizon.
    return ms(info.current_attempt_scheduled_time) + horizon_ms


async def wait_out_earlier_sends(horizon_ms: int) -> None:
    """For clean-up activities: wait until any send made before this activity was
    scheduled can no longer execute."""
    horizon = ms(activity.info().scheduled_time) + horizon_ms
    if horizon > now_ms():
        await sleep_heartbeating((horizon - now_ms()) / 1000)


async def reconcile(cancel_or_lookup: Callable[[], Awaitable[T | None]], may_be_in_flight: bool, horizon_ms: int) -> T | None:
    """Cancel (or find closed) the order under its key; ``None`` when the exchange has none.

    When a placement may still be in flight, "none" is trusted only once any earlier send
    can no longer execute: then the order is looked for once more. Exchange errors leave as
    Temporal errors (:func:`as_application_error`), so the activity retries or stops.
    """
    try:
        final = await cancel_or_lookup()
        if final is None and may_be_in_flight:
            await wait_out_earlier_sends(horizon_ms)
            final = await cancel_or_lookup()
    except ExchangeError as error:
        raise as_application_error(error) from None
    return final


async def place_exactly_once(
    horizon_ms: int,
    lookup: Callable[[], Awaitable[T | None]],
    send: Callable[[], Awaitable[T]],
    on_wait: Callable[[int], None] | None = None,
    known_absent: bool = False,
) -> tuple[T, int, bool]:
    """Follow the discipline above for one order.

    Returns what the exchange holds under the key, the attempt number, and whether it was
    adopted from an earlier attempt rather than sent by this one. ``on_wait`` is told how
    many milliseconds the attempt waits for an earlier send to expire. ``known_absent``
    says that this workflow run already found no order under the key before any attempt
    could send one: the first attempt then skips its own lookup (step 1).
    """
    info = activity.info()
    attempt = info.attempt
    existing = None if attempt == 1 and known_absent else await lookup()
    if existing is None:
        horizon = earlier_send_horizon_ms(info, horizon_ms)
        if horizon is not None and horizon > now_ms():
            if on_wait is not None:
                on_wait(horizon - now_ms())
            await sleep_heartbeating((horizon - now_ms()) / 1000, Progress(attempt, horizon).as_details())
            existing = await lookup()
    if existing is not None:
        return existing, attempt, True
    refuse_send_near_deadline(info)
    sent_at = now_ms()
    activity.heartbeat(Progress(attempt, sent_at + horizon_ms).as_details())
    try:
        with signed_at(sent_at):
            sent = await send()
        return sent, attempt, False
    except DuplicateOrder:
        # An open order with our key exists: it is ours, adopt it.
        adopted = await lookup()
        if adopted is None:
            raise OutcomeUnknown("duplicate reported but order not found yet") from None
        return adopted, attempt, True
    except (RequestRefused, OrderRejected, ExchangeConfigError):
        # Definitively not executed: no request of this attempt is in flight.
        activity.heartbeat(Progress(attempt, None).as_details())
        raise


async def kill_switch_engaged(redis: object | None) -> bool:
    """Whether the Redis kill switch is set; an unreadable switch keeps the gate shut."""
    if redis is None:
        return False
    try:
        value = await redis.get(KILL_SWITCH_KEY)  # type: ignore[attr-defined]
    except Exception as error:  # the gate must not open because Redis is down
        raise ApplicationError(f"kill switch unreadable: {error}", type=errors.EXCHANGE_UNAVAILABLE) from None
    return value not in (None, b"", b"0", "0", "")
