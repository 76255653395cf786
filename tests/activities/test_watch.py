"""The watch activities' pieces that decide pace and window: every failed poll is retried,
after Retry-After when the exchange gave one, a first attempt that started late ends by its
window, and a worker clock ahead of Temporal's shortens a first attempt's window by a tenth
at most."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

from temporalio.testing import ActivityEnvironment

from activities.exchange import ExchangeConfigError, OrderRejected, OutcomeUnknown, RequestRefused
from activities.trading import watch_failure, watch_seconds_left
from quantum_trader import errors


def _info(attempt: int, scheduled_ago: timedelta):  # noqa: ANN202 - activity.Info
    return dataclasses.replace(
        ActivityEnvironment.default_info(), attempt=attempt, scheduled_time=datetime.now(timezone.utc) - scheduled_ago
    )


def test_watch_failure_revoked_key_is_retried() -> None:
    error = watch_failure(ExchangeConfigError("exchange refused credentials: -2015 Invalid API-key", -2015))
    assert not error.non_retryable and error.type == errors.EXCHANGE_CONFIG and "-2015" in error.message


def test_watch_failure_rejection_is_retried() -> None:
    assert not watch_failure(OrderRejected("-1121 Invalid symbol.", -1121)).non_retryable


def test_watch_failure_rate_limit_waits_for_retry_after() -> None:
    error = watch_failure(RequestRefused("rate limited: HTTP 429", -1003, retry_after=30))
    assert not error.non_retryable and error.next_retry_delay == timedelta(seconds=30)


def test_watch_failure_unknown_outcome_leaves_the_pace_to_the_policy() -> None:
    assert watch_failure(OutcomeUnknown("outcome unknown: HTTP 503")).next_retry_delay is None


def test_first_attempt_is_shortened_by_at_most_a_tenth_of_its_window_even_with_a_clock_ahead() -> None:
    """A worker clock five minutes ahead of Temporal's must not shorten every watch to one
    poll (a spinning follow loop)."""
    assert watch_seconds_left(_info(1, timedelta(minutes=5)), 30) == 27


def test_first_attempt_that_started_late_ends_by_its_window_from_scheduling() -> None:
    """A worker whose loop lagged 4 s (a long garbage collection with 10,000 watches) started
    the watch late; taking the whole window from its own start, it returned after Temporal's
    schedule-to-close (window + 5 s) had already timed it out (53 intents showed
    NEEDS_ATTENTION in the 10,000-order benchmark)."""
    assert 295.5 <= watch_seconds_left(_info(1, timedelta(seconds=4)), 300) <= 296


def test_retry_finishes_the_window_of_the_first_attempt() -> None:
    assert 9 <= watch_seconds_left(_info(2, timedelta(seconds=20)), 30) <= 10
    assert watch_seconds_left(_info(3, timedelta(minutes=5)), 30) == 0
