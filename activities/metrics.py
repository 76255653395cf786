"""The worker's own Prometheus metrics, exported next to the Temporal SDK's.

They go through the SDK's metric meter, so one ``/metrics`` endpoint (the worker's
Runtime, ``QT_WORKER_METRICS_PORT``) serves both. Outside a worker with telemetry the
meter is a no-op.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity


def count(name: str, description: str, **labels: str) -> None:
    """Add one to the counter ``name`` with ``labels``."""
    counter = activity.metric_meter().create_counter(name, description)
    counter.add(1, labels or None)


def observe_duration(name: str, description: str, value: timedelta, **labels: str) -> None:
    histogram = activity.metric_meter().create_histogram_timedelta(name, description, unit="ms")
    histogram.record(value, labels or None)
