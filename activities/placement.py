"""The placement protocol (v2) every order-sending activity follows, whatever the order kind.

Every horizon is kept on the exchange's clock: ``exchange now = local now +
exchange.clock_offset_ms``, the offset requests are signed with. A request sent inside
``signed_at(stamp)`` carries ``stamp`` (exchange time) and cannot execute after ``stamp +
H``, H being ``exchange.in_flight_horizon_ms`` (recvWindow, checked by the exchange, plus a
grace for delays inside its matching engine). A Temporal timestamp S maps to at most
``E(S) = S + allowance + offset`` on the exchange's clock, the allowance being how far ahead
of Temporal's this worker's clock may be: the attempt's own reading of ``local now -
started_time`` (the clock error plus the start delay, which is never negative), at least
CLOCK_TOLERANCE.

One attempt (:func:`place_exactly_once`) never sleeps. It adopts, sends once, or fails so
that the retry policy runs the next attempt later (durably, on the server):

1. Clock (:func:`refuse_on_clock_skew`): a worker whose recent readings show its clock
   behind Temporal's by more than CLOCK_TOLERANCE refuses to send ("clock skew",
   retryable), and so does an attempt whose reading leaves no time before its send cutoff.
   A slow clock hidden by an equally late start is not caught: worker clocks must be kept
   within CLOCK_TOLERANCE of Temporal's (NTP); docs/fault-model.md. Send cutoff:
   nothing is sent later than SEND_SAFETY_MARGIN before the earliest moment Temporal may time
   the attempt out (its start plus the heartbeat timeout, or its start-to-close or
   schedule-to-close timeout). Temporal schedules attempt N only after attempt N-1 ended or
   timed out, so every send of an earlier attempt is stamped before E(S_N), S_N being attempt
   N's scheduled time, even from a worker cut off from Temporal that still reaches the
   exchange.
2. Look the order up by its key (skipped only on attempt 1 of the first run when the gate
   already found none). Found: adopt it, unless it is not the order requested (another
   symbol, side, quantity or type under the same key): that is a refusal, never an adoption.
3. Until when may an earlier send still execute? Attempt 1 of the first run: nothing.
   Attempt 1 of a reset run (``earlier_run``): ``E(S_1) + heartbeat timeout + H``, since an
   attempt of the old run may send until its own cutoff. Attempt N >= 2: the previous
   attempt's record if it is a trusted one, else ``E(S_N) + H``; never earlier than the
   reset bound in a reset run.
4. If the lookup started before that horizon, it proves nothing: record "clear" and fail
   with PLACEMENT_WAIT, its ``next_retry_delay`` the time left.
5. Otherwise check the send cutoff, record "sending" (until ``stamp + H``) and send once
   inside ``signed_at(stamp)``. A duplicate is adopted; a definite refusal records
   "refused"; an unknown outcome fails the attempt, and the next one waits it out.

Records are heartbeat details (:class:`Record`). Heartbeats reach the server in order but
asynchronously and throttled, so the server may hold an earlier record of an attempt than
its last, or none: every such prefix is either untrusted (the fallback applies) or at least
as late as the truth. The first heartbeat of an attempt goes out at once, so no attempt
heartbeats before "sending": an untrusted liveness heartbeat first would turn "sending"
into a throttled one. An attempt never records "clear" and then sends.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar
from weakref import WeakKeyDictionary

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.exchange import (
    DuplicateOrder,
    Exchange,
    ExchangeConfigError,
    ExchangeError,
    OrderRejected,
    OutcomeUnknown,
    RequestRefused,
    signed_at,
)
from quantum_trader import errors
from quantum_trader.constants import KILL_SWITCH_KEY
from workflows.policies import CLOCK_READINGS_KEPT, CLOCK_TOLERANCE, PLACEMENT_WAIT_PAD, SEND_SAFETY_MARGIN

T = TypeVar("T")


def _in_ms(duration: timedelta) -> int:
    return int(duration.total_seconds() * 1000)


SEND_SAFETY_MARGIN_MS = _in_ms(SEND_SAFETY_MARGIN)
CLOCK_TOLERANCE_MS = _in_ms(CLOCK_TOLERANCE)


class RecordKind(StrEnum):
    """What a placement attempt recorded last. Each kind is trusted by the next attempt."""

    # Written just before the send: a request of this attempt may execute until ``until_ms``.
    SENDING = "sending"
    # The exchange refused this attempt's send outright; earlier sends had expired before it.
    REFUSED = "refused"
    # The attempt's last act when it sends nothing: earlier sends may execute until ``until_ms``.
    CLEAR = "clear"


@dataclass(frozen=True)
class Record:
    """Heartbeat details of a placement attempt; ``until_ms`` is exchange time."""

    attempt: int
    kind: RecordKind
    until_ms: int | None = None

    @classmethod
    def from_details(cls, details: object) -> Record | None:
        """The record in heartbeat details, or ``None`` for anything else (an older format too)."""
        if not isinstance(details, dict):
            return None
        try:
            until = details.get("until_ms")
            return cls(int(details["attempt"]), RecordKind(details["kind"]), None if until is None else int(until))
        except (KeyError, TypeError, ValueError):
            return None

    def as_details(self) -> dict[str, int | str | None]:
        return {"attempt": self.attempt, "kind": self.kind.value, "until_ms": self.until_ms}


def local_now_ms() -> int:
    return int(time.time() * 1000)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def clock_offset_ms(exchange: Exchange) -> int:
    """The exchange's clock minus this worker's, ``0`` while not measured yet."""
    return exchange.clock_offset_ms or 0


def exchange_now_ms(exchange: Exchange) -> int:
    """The exchange's clock as this worker signs with it."""
    return local_now_ms() + clock_offset_ms(exchange)


def on_exchange_clock(exchange: Exchange, moment: datetime, allowance_ms: int = CLOCK_TOLERANCE_MS) -> int:
    """E(moment): the latest exchange time a Temporal timestamp can stand for, this worker's
    clock being at most ``allowance_ms`` ahead of Temporal's (see :func:`refuse_on_clock_skew`)."""
    return ms(moment) + max(allowance_ms, CLOCK_TOLERANCE_MS) + clock_offset_ms(exchange)


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


class ClockReadings:
    """One worker's recent readings of its clock against Temporal's: ``local now -
    started_time`` at each attempt's start.

    A reading is the clock's error plus the delay before the attempt started (queueing, a
    busy event loop), and the delay is unknown but never negative. So a reading bounds how far
    the clock can be AHEAD (by at most the reading), and a clock BEHIND Temporal's by as much
    as an attempt started late reads as right: the smallest reading of the last
    CLOCK_READINGS_KEPT is the best bound on a slow clock.
    """

    def __init__(self) -> None:
        self._readings: deque[tuple[float, int]] = deque()

    def lowest_ms(self, reading_ms: int) -> int:
        """Keep ``reading_ms``; the smallest reading kept."""
        now = time.monotonic()
        self._readings.append((now, reading_ms))
        while self._readings and self._readings[0][0] < now - CLOCK_READINGS_KEPT.total_seconds():
            self._readings.popleft()
        return min(r for _, r in self._readings)


_READINGS: WeakKeyDictionary[Exchange, ClockReadings] = WeakKeyDictionary()


def refuse_on_clock_skew(info: activity.Info, exchange: Exchange, *, sends: bool = True) -> int:
    """Check this worker's clock against Temporal's; the allowance its horizons must add.

    Raises :class:`RequestRefused` (retryable, nothing sent, nothing recorded) when the clock
    is behind Temporal's by more than CLOCK_TOLERANCE by the worker's recent readings (its
    send cutoff would come late), or, for an attempt that ``sends``, when this attempt's
    reading leaves no time to send before its cutoff (a clock that far ahead, or a start that
    late). Otherwise returns how far ahead of Temporal's the clock may be (this reading, at
    least CLOCK_TOLERANCE): every Temporal timestamp is moved onto the exchange's clock with
    it (:func:`on_exchange_clock`), so a clock ahead, or a busy worker, waits longer instead
    of trusting "no order" early.
    """
    reading = local_now_ms() - ms(info.started_time)
    lowest = _READINGS.setdefault(exchange, ClockReadings()).lowest_ms(reading)
    if lowest < -CLOCK_TOLERANCE_MS:
        raise RequestRefused(
            f"clock skew: this worker's clock is at least {-lowest} ms behind Temporal's "
            f"(tolerance {CLOCK_TOLERANCE_MS} ms); nothing sent"
        )
    longest = longest_attempt(info)
    if sends and longest is not None and reading > max(_in_ms(longest) - SEND_SAFETY_MARGIN_MS, CLOCK_TOLERANCE_MS):
        raise RequestRefused(
            f"clock skew or a late start: the attempt started {reading} ms ago by this worker's clock, "
            f"past its send cutoff; nothing sent"
        )
    return max(reading, CLOCK_TOLERANCE_MS)


def longest_attempt(info: activity.Info) -> timedelta | None:
    """How long after its start Temporal may let an attempt run at the earliest timeout."""
    limits = [t for t in (info.heartbeat_timeout, info.start_to_close_timeout) if t]
    return min(limits) if limits else None


def send_cutoff_ms(info: activity.Info) -> int | None:
    """Local time after which this attempt sends nothing: a margin before its earliest timeout."""
    deadlines = []
    longest = longest_attempt(info)
    if longest is not None:
        deadlines.append(ms(info.started_time + longest))
    if info.schedule_to_close_timeout:
        deadlines.append(ms(info.scheduled_time + info.schedule_to_close_timeout))
    return min(deadlines) - SEND_SAFETY_MARGIN_MS if deadlines else None


def previous_record(info: activity.Info) -> Record | None:
    """The previous attempt's record, the only one an attempt trusts; ``None`` when the server
    holds none of it (lost, or the attempt died before recording)."""
    record = Record.from_details(info.heartbeat_details[0] if info.heartbeat_details else None)
    return record if record is not None and record.attempt == info.attempt - 1 else None


def earlier_send_horizon_ms(
    info: activity.Info, exchange: Exchange, earlier_run: bool, allowance_ms: int = CLOCK_TOLERANCE_MS
) -> int | None:
    """Until when (exchange time) a request sent by an earlier attempt or run could still execute."""
    horizon_ms = exchange.in_flight_horizon_ms
    reset_bound = None
    if earlier_run:
        # An attempt of the old run started before this run's first scheduling and sends
        # until its own cutoff, at most one attempt's length later.
        longest = longest_attempt(info) or timedelta(0)
        reset_bound = on_exchange_clock(exchange, info.scheduled_time, allowance_ms) + _in_ms(longest) + horizon_ms
    if info.attempt <= 1:
        return reset_bound
    record = previous_record(info)
    if record is not None:
        horizon = record.until_ms
    else:
        # The previous attempt left no trusted record: whatever it sent was stamped before
        # this attempt was scheduled.
        horizon = on_exchange_clock(exchange, info.current_attempt_scheduled_time, allowance_ms) + horizon_ms
    if reset_bound is None:
        return horizon
    return reset_bound if horizon is None else max(horizon, reset_bound)


def wait_for(exchange: Exchange, attempt: int, horizon_ms: int, on_wait: Callable[[int], None] | None) -> ApplicationError:
    """Record "clear" and return the error that has the retry policy wait until ``horizon_ms``."""
    activity.heartbeat(Record(attempt, RecordKind.CLEAR, horizon_ms).as_details())
    wait_ms = max(horizon_ms - exchange_now_ms(exchange), 0)
    if on_wait is not None:
        on_wait(wait_ms)
    return ApplicationError(
        f"an earlier request may execute for {wait_ms} ms more; looking again after that",
        type=errors.PLACEMENT_WAIT,
        next_retry_delay=timedelta(milliseconds=wait_ms) + PLACEMENT_WAIT_PAD,
    )


async def reconcile(
    exchange: Exchange,
    cancel_or_lookup: Callable[[], Awaitable[T | None]],
    may_be_in_flight: bool,
    earlier_run: bool = False,
) -> T | None:
    """Cancel (or find closed) the order under its key; ``None`` when the exchange has none.

    When a placement may still be in flight, "none" is trusted only from a lookup that
    started once any send made before this activity was first scheduled can no longer
    execute (every placement attempt had ended or timed out by then): E(scheduled) + H, and
    in a reset run (``earlier_run``) one attempt's length more, as an attempt of the run before
    the reset may send until its own cutoff. Before that, the attempt fails with PLACEMENT_WAIT and the retry policy waits. Exchange
    errors leave as Temporal errors (:func:`as_application_error`), so the activity retries
    or stops.
    """
    info = activity.info()
    looked_at = local_now_ms()
    try:
        final = await cancel_or_lookup()
        if final is not None or not may_be_in_flight:
            return final
        allowance = refuse_on_clock_skew(info, exchange, sends=False)
    except ExchangeError as error:
        raise as_application_error(error) from None
    horizon = on_exchange_clock(exchange, info.scheduled_time, allowance) + exchange.in_flight_horizon_ms
    if earlier_run:
        horizon += _in_ms(longest_attempt(info) or timedelta(0))
    if horizon > looked_at + clock_offset_ms(exchange):
        wait_ms = max(horizon - exchange_now_ms(exchange), 0)
        raise ApplicationError(
            f"no order yet, but a placement may execute for {wait_ms} ms more; looking again after that",
            type=errors.PLACEMENT_WAIT,
            next_retry_delay=timedelta(milliseconds=wait_ms) + PLACEMENT_WAIT_PAD,
        )
    return None


async def place_exactly_once(
    exchange: Exchange,
    lookup: Callable[[], Awaitable[T | None]],
    send: Callable[[], Awaitable[T]],
    *,
    on_wait: Callable[[int], None] | None = None,
    known_absent: bool = False,
    earlier_run: bool = False,
    mismatch: Callable[[T], str | None] | None = None,
) -> tuple[T, int, bool]:
    """One attempt of the protocol above for one order.

    Returns what the exchange holds under the key, the attempt number, and whether it was
    adopted rather than sent by this attempt. ``on_wait`` is told how many milliseconds the
    retry policy will wait for an earlier send to expire. ``known_absent``: this run's gate
    found no order under the key before any attempt could send one. ``earlier_run``: an
    earlier run of the workflow (before a reset) may have sent. ``mismatch`` says how an
    order found under the key differs from the request (``None`` when it is the one).
    """
    info = activity.info()
    attempt = info.attempt
    try:
        allowance = refuse_on_clock_skew(info, exchange)
    except RequestRefused:
        # Nothing looked up or sent: pass the previous record on, so that attempts alternating
        # with a worker whose clock is off do not restart the wait from each scheduling.
        if (passed := previous_record(info)) is not None:
            activity.heartbeat(Record(attempt, RecordKind.CLEAR, passed.until_ms).as_details())
        raise

    def adopt(found: T) -> tuple[T, int, bool]:
        difference = mismatch(found) if mismatch is not None else None
        if difference is not None:
            raise OrderRejected(f"not adopted: {difference}")
        return found, attempt, True

    looked_at = local_now_ms()
    # Skipping the lookup needs the clock offset measured already (a lookup measures it).
    skip_lookup = attempt == 1 and known_absent and not earlier_run and exchange.clock_offset_ms is not None
    existing = None if skip_lookup else await lookup()
    if existing is not None:
        return adopt(existing)
    horizon = earlier_send_horizon_ms(info, exchange, earlier_run, allowance)
    if horizon is not None and horizon > looked_at + clock_offset_ms(exchange):
        raise wait_for(exchange, attempt, horizon, on_wait)
    cutoff = send_cutoff_ms(info)
    if cutoff is not None and local_now_ms() > cutoff:
        activity.heartbeat(Record(attempt, RecordKind.CLEAR, horizon).as_details())
        raise RequestRefused("attempt too close to its timeout to send safely")
    stamp = exchange_now_ms(exchange)
    activity.heartbeat(Record(attempt, RecordKind.SENDING, stamp + exchange.in_flight_horizon_ms).as_details())
    try:
        with signed_at(stamp):
            sent = await send()
        return sent, attempt, False
    except DuplicateOrder:
        # An open order with our key exists: it is ours (if it is the one requested).
        adopted = await lookup()
        if adopted is None:
            raise OutcomeUnknown("duplicate reported but order not found yet") from None
        return adopt(adopted)
    except (RequestRefused, OrderRejected, ExchangeConfigError):
        # Definitively not executed: no request of this attempt is in flight.
        activity.heartbeat(Record(attempt, RecordKind.REFUSED).as_details())
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
