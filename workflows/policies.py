"""Timeouts and retry policies shared by the workflows (deterministic constants only)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from quantum_trader import errors

# Activities that heartbeat are retried this soon after their worker dies.
HEARTBEAT_TIMEOUT = timedelta(seconds=5)
# How long clean-up keeps trying to confirm that no order is live.
RECONCILE_WINDOW = timedelta(hours=1)

# Exchange calls: quick first retry, capped backoff; business refusals are not retried.
EXCHANGE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=list(errors.NON_RETRYABLE),
)
