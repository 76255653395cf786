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
# The request-weight budget every worker shares (activities/exchange/budget.py), labelled by
# API root (`api`: the base URL's first path segment, `api` or `fapi`).
EXCHANGE_BUDGET_USED = "quantum_exchange_budget_used_weight"
EXCHANGE_BUDGET_LEFT = "quantum_exchange_budget_left_weight"
EXCHANGE_PAUSES = "quantum_exchange_pauses"
EXCHANGE_PAUSE_LEFT = "quantum_exchange_pause_seconds_left"
EXCHANGE_BUDGET_WAITS = "quantum_exchange_budget_waits"
EXCHANGE_BUDGET_WAITING = "quantum_exchange_budget_waiting"

COUNTERS = {
    INTENTS_TERMINAL: "Intents that reached a terminal state",
    PLACEMENT_ATTEMPTS: "Order placement attempts",
    ORDERS_ADOPTED: "Placements that found their order already at the exchange",
    RECONCILIATIONS: "Order cancellations and reconciliations at the exchange",
    EXCHANGE_THROTTLED: "Exchange responses refusing for the rate: HTTP 429 (rate limit) or 418 (IP ban)",
    EXCHANGE_PAUSES: "Fleet-wide pauses this process set after a 429 or 418, until its Retry-After",
    EXCHANGE_BUDGET_WAITS: "Calls the request budget held back, by priority: waited (then sent) or refused (retried later)",
}
GAUGES = {
    EXCHANGE_BUDGET_USED: "Request weight the fleet used in the current window, as the shared budget counts it (the exchange's count when higher)",
    EXCHANGE_BUDGET_LEFT: "Request weight left in the current window for the most urgent calls (cancels, protective orders)",
    EXCHANGE_PAUSE_LEFT: "Seconds left of the fleet-wide pause after a 429 or 418, as this process last saw it",
    EXCHANGE_BUDGET_WAITING: "Calls of this process asleep waiting for the request budget, by priority",
}
# Counters of rare events, exported at zero from the worker's start so that dashboards and
# alerts find them before the first event: name -> the label sets to start.
AT_ZERO: dict[str, tuple[dict[str, str], ...]] = {
    ORDERS_ADOPTED: ({},),
    RECONCILIATIONS: ({},),
    EXCHANGE_THROTTLED: ({"status": "429"}, {"status": "418"}),
    EXCHANGE_PAUSES: ({"status": "429"}, {"status": "418"}),
    EXCHANGE_BUDGET_WAITS: tuple(
        {"priority": priority, "outcome": outcome}
        for priority in ("critical", "entry", "reconcile") for outcome in ("waited", "refused")
    ),
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


def gauge(meter: MetricMeter, name: str) -> MetricGauge:
    return meter.create_gauge(name, GAUGES[name])


def used_weight(meter: MetricMeter) -> MetricGauge:
    return meter.create_gauge(
        EXCHANGE_USED_WEIGHT, "Request weight used in the current minute (X-MBX-USED-WEIGHT-1M of the last exchange response)"
    )


def start_at_zero(meter: MetricMeter) -> None:
    """Export the rare-event counters at zero (the worker calls this with its Runtime's meter)."""
    for name, label_sets in AT_ZERO.items():
        for labels in label_sets:
            counter(meter, name).add(0, labels or None)
