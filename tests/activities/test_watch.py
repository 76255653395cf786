"""The watch activities' pieces that decide pace and window: every failed poll is retried,
after Retry-After when the exchange gave one, and a worker clock ahead of Temporal's does
not shorten a first attempt's window."""

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


def test_first_attempt_takes_the_whole_window_even_with_a_clock_ahead() -> None:
    assert watch_seconds_left(_info(1, timedelta(minutes=5)), 30) == 30


def test_retry_finishes_the_window_of_the_first_attempt() -> None:
    assert 9 <= watch_seconds_left(_info(2, timedelta(seconds=20)), 30) <= 10
    assert watch_seconds_left(_info(3, timedelta(minutes=5)), 30) == 0
