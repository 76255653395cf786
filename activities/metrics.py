"""The worker's own Prometheus metrics, exported next to the Temporal SDK's.

They go through the SDK's metric meter, so one ``/metrics`` endpoint (the worker's
Runtime, ``QT_WORKER_METRICS_PORT``) serves both: inside an activity its meter (which adds
the activity's namespace, task queue and type), elsewhere the Runtime's. Without telemetry
the meter is a no-op. Every name is declared here, with its help text.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity
from temporalio.common import MetricCounter, MetricGauge, MetricMeter

INTENTS_TERMINAL = "quantum_intents_terminal"
INTENT_DURATION = "quantum_intent_duration"
PLACEMENT_ATTEMPTS = "quantum_placement_attempts"
ORDERS_ADOPTED = "quantum_orders_adopted"
RECONCILIATIONS = "quantum_reconciliations"
EXCHANGE_THROTTLED = "quantum_exchange_throttled"
EXCHANGE_USED_WEIGHT = "quantum_exchange_used_weight_1m"

COUNTERS = {
    INTENTS_TERMINAL: "Intents that reached a terminal state",
    PLACEMENT_ATTEMPTS: "Order placement attempts",
    ORDERS_ADOPTED: "Placements that found their order already at the exchange",
    RECONCILIATIONS: "Order cancellations and reconciliations at the exchange",
    EXCHANGE_THROTTLED: "Exchange responses refusing for the rate: HTTP 429 (rate limit) or 418 (IP ban)",
}
# Counters of rare events, exported at zero from the worker's start so that dashboards and
# alerts find them before the first event: name -> the label sets to start.
AT_ZERO: dict[str, tuple[dict[str, str], ...]] = {
    ORDERS_ADOPTED: ({},),
    RECONCILIATIONS: ({},),
    EXCHANGE_THROTTLED: ({"status": "429"}, {"status": "418"}),
}


def count(name: str, **labels: str) -> None:
    """Add one to the counter ``name`` with ``labels``, from inside an activity."""
    counter(activity.metric_meter(), name).add(1, labels or None)


def observe_duration(value: timedelta, **labels: str) -> None:
    """Record an intent's duration (start to terminal state), from inside an activity."""
    histogram = activity.metric_meter().create_histogram_timedelta(
        INTENT_DURATION, "Time from intent start to its terminal state", unit="ms"
    )
    histogram.record(value, labels or None)


def counter(meter: MetricMeter, name: str) -> MetricCounter:
    return meter.create_counter(name, COUNTERS[name])


def used_weight(meter: MetricMeter) -> MetricGauge:
    return meter.create_gauge(
        EXCHANGE_USED_WEIGHT, "Request weight used in the current minute (X-MBX-USED-WEIGHT-1M of the last exchange response)"
    )


def start_at_zero(meter: MetricMeter) -> None:
    """Export the rare-event counters at zero (the worker calls this with its Runtime's meter)."""
    for name, label_sets in AT_ZERO.items():
        for labels in label_sets:
            counter(meter, name).add(0, labels or None)
