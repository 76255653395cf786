"""The order events listener's Prometheus metrics, on its own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class StreamMetrics:
    """Connected (gauge per market), events applied and duplicates ignored, event lag
    (now minus the event's time ``E``), reconnects."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.connected = Gauge("quantum_exchange_stream_connected", "1 while the market's user data stream is subscribed",
                               ["market"], registry=self.registry)
        self.applied = Counter("quantum_exchange_events_applied", "Order events that changed the stored order",
                               ["market"], registry=self.registry)
        self.duplicates = Counter("quantum_exchange_events_duplicates", "Order events ignored: seen already or older than the stored order",
                                  ["market"], registry=self.registry)
        self.lag = Histogram("quantum_exchange_event_lag_seconds", "Time from the exchange's event time (E) to the event's store",
                             ["market"], buckets=LAG_BUCKETS, registry=self.registry)
        self.reconnects = Counter("quantum_exchange_stream_reconnects", "User data stream connections lost and opened again",
                                  ["market"], registry=self.registry)

    def start(self, markets: tuple[str, ...]) -> None:
        """Every series at zero from the start, so dashboards find them before the first event."""
        for market in markets:
            self.connected.labels(market).set(0)
            for counter in (self.applied, self.duplicates, self.reconnects):
                counter.labels(market)

    def serve(self, port: int, host: str) -> None:
        start_http_server(port, addr=host, registry=self.registry)
