"""The ingress's counters: Prometheus metrics, plain numbers for tests, totals in Redis.

Every process keeps its own registry (two ingress instances in one test process do not
collide). Increments since the last flush are added to the Redis hash
``INGRESS_COUNTERS_KEY`` so ``quantum-trader stats`` shows totals across processes.
"""

from __future__ import annotations

from collections import Counter as Tally
from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from redis.asyncio import Redis

from quantum_trader.constants import INGRESS_COUNTERS_KEY


class Count(StrEnum):
    """The ingress's counters; the value is the Redis hash field and the metric's stem."""

    READ = "events_read"
    STARTED = "intents_started"
    DUPLICATES = "duplicates"
    DEAD_LETTERED = "dead_lettered"
    RECLAIMED = "reclaimed"
    START_ERRORS = "start_errors"
    ACKED = "acked"


_HELP = {
    Count.READ: "Stream entries read (new, own pending and reclaimed)",
    Count.STARTED: "Workflows started",
    Count.DUPLICATES: "Starts refused because the trace_id already has a workflow (DUPLICATE_SKIP)",
    Count.DEAD_LETTERED: "Invalid entries appended to the dead-letter stream",
    Count.RECLAIMED: "Entries taken over from consumers idle past the reclaim time",
    Count.START_ERRORS: "Workflow start attempts that failed and will be retried",
    Count.ACKED: "Entries acknowledged",
}


class IngressMetrics:
    """Counters and gauges of one ingress process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.counts: Tally[Count] = Tally()
        self._unflushed: Tally[Count] = Tally()
        self._counters = {
            name: Counter(f"quantum_ingress_{name.value}", _HELP[name], registry=self.registry) for name in Count
        }
        self.lag = Gauge("quantum_ingress_group_lag", "Entries in the stream not yet delivered to the group", registry=self.registry)
        self.pending = Gauge("quantum_ingress_group_pending", "Entries delivered to the group but not acknowledged", registry=self.registry)
        self.dead_letter_length = Gauge("quantum_ingress_dead_letter_length", "Entries in the dead-letter stream", registry=self.registry)

    def inc(self, name: Count, amount: int = 1) -> None:
        if amount <= 0:
            return
        self.counts[name] += amount
        self._unflushed[name] += amount
        self._counters[name].inc(amount)

    def serve(self, port: int, host: str) -> None:
        """Expose ``/metrics`` on ``host:port`` from a background thread."""
        start_http_server(port, addr=host, registry=self.registry)

    async def flush(self, redis: Redis) -> None:
        """Add the increments since the last flush to the shared Redis totals."""
        if not self._unflushed:
            return
        pending, self._unflushed = self._unflushed, Tally()
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for name, amount in pending.items():
                    pipe.hincrby(INGRESS_COUNTERS_KEY, name.value, amount)
                await pipe.execute()
        except BaseException:
            self._unflushed.update(pending)
            raise
