"""``quantum-trader ingress``: every ``ai.decision.made`` event becomes exactly one intent.

The process reads the decision stream through the consumer group ``quantum:group:intents``
and, for each entry, parses it (:mod:`quantum_trader.wire`), starts ``TradeIntentWorkflow``
with workflow ID = trace_id, and acknowledges the entry only once the start succeeded or
was refused as a duplicate. Invalid entries go to the dead-letter stream together with
their ack. Nothing is acknowledged that has no workflow or dead letter:

* at start it waits for Temporal and Redis with backoff for up to
  ``QT_STARTUP_TIMEOUT_SECONDS``, then exits 1 with one line (:mod:`quantum_trader.startup`);

* on start it first finishes its own pending entries (a stable ``QT_INGRESS_CONSUMER``
  resumes where it died), then takes over entries other consumers left idle past
  ``QT_INGRESS_RECLAIM_IDLE_MS`` (``XAUTOCLAIM``), and keeps doing so periodically;
* while Temporal refuses starts it stops reading, retries with capped exponential backoff
  and keeps its claim on the waiting entries fresh so no other consumer takes them over;
* when Redis goes away it reconnects with backoff; unacknowledged entries stay pending;
* every few seconds it records durably where its group would have to start again so that
  nothing unhandled is skipped (before the oldest pending entry, else after the last one
  delivered); a group that is lost (``NOGROUP``) is created again there, and a start
  re-reads at most those seconds, whose trace_ids Temporal refuses as duplicates;
* a decision older than the dedup window (``QT_DEDUP_RETENTION_DAYS``, or the namespace's
  retention when that is shorter) is dead-lettered, not started: Temporal may have forgotten
  its trace_id, so it could trade twice;
* a trace_id that is another intent's protection workflow ID (``<trace_id>-oco``) is
  dead-lettered with that reason;
* the standalone process registers the search attributes before it starts anything, so a
  fresh namespace does not refuse valid decisions;
* SIGTERM or SIGINT stops reading, finishes the starts and acks in flight, and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from quantum_trader import connections, constants, logs
from quantum_trader.ids import trace_id_conflict
from quantum_trader.metrics import Count, IngressMetrics
from quantum_trader.models import TradeDecision
from quantum_trader.settings import Settings
from quantum_trader.streams import StreamOps, dead_letter_fields, ensure_group, group_info, text
from quantum_trader.startup import Backoff, Deadline, until_reachable
from quantum_trader.temporal import connect_at_start, ensure_search_attributes, start_intent
from quantum_trader.wire import Accepted, parse

log = logging.getLogger(__name__)

T = TypeVar("T")
REDIS_DOWN = connections.REDIS_DOWN
GAUGE_INTERVAL_SECONDS = 5.0
# How often the namespace's retention (the dedup window's bound) is read again.
RETENTION_INTERVAL_SECONDS = 300.0
DAY_MS = 86_400_000
# Temporal's refusal of a start whose search attributes the namespace has not registered.
UNREGISTERED_ATTRIBUTE = "no mapping defined for search attribute"
# The largest sequence number of a stream entry ID.
MAX_SEQUENCE = 2**64 - 1


def consumer_name() -> str:
    """``ingress-<host>-<pid>-<random>``: unique per process, readable in XINFO CONSUMERS."""
    return f"ingress-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def redis_client(settings: Settings) -> Redis:
    """A client whose read timeout outlasts the blocking read."""
    return connections.redis_client(
        settings, socket_timeout=settings.ingress_block_ms / 1000 + 10, socket_connect_timeout=5, health_check_interval=15
    )


@dataclass(frozen=True)
class Entry:
    id: str
    fields: dict[bytes, bytes] | None


class Kind(Enum):
    STARTED = "started"
    DUPLICATE = "duplicate"
    DEAD = "dead"
    RETRY = "retry"


@dataclass(frozen=True)
class Outcome:
    entry: Entry
    kind: Kind
    decision: TradeDecision | None = None
    reason: str = ""


class Ingress:
    """One consumer of the decision stream. ``run()`` until ``stop()``."""

    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        client: Client,
        *,
        consumer: str | None = None,
        metrics: IngressMetrics | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.client = client
        self.consumer = consumer or settings.ingress_consumer or consumer_name()
        self.metrics = metrics or IngressMetrics()
        self.ops = StreamOps(redis)
        self._stop = stop or asyncio.Event()
        self._starts = asyncio.Semaphore(settings.ingress_max_concurrent_starts)
        self._redis_backoff = Backoff(settings.ingress_backoff_initial_seconds, settings.ingress_backoff_max_seconds)
        self._temporal_backoff = Backoff(settings.ingress_backoff_initial_seconds, settings.ingress_backoff_max_seconds)
        self._start_failures: dict[str, int] = {}
        self._reclaim_every = min(settings.ingress_reclaim_idle_ms / 2000, 5.0)
        self._dedup_window_ms = settings.dedup_retention_days * DAY_MS

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- the loop ---------------------------------------------------------------------

    async def run(self) -> None:
        log.info("ingress reading", extra={
            "stream": self.ops.stream, "group": self.ops.group, "consumer": self.consumer, "batch": self.settings.ingress_batch_size,
            "concurrency": self.settings.ingress_max_concurrent_starts, "reclaim_idle_ms": self.settings.ingress_reclaim_idle_ms,
        })
        await self._read_dedup_window()
        await self._redis_until_done(self._ensure_group)
        await self._redis_until_done(self._drain_own_pending)
        next_reclaim = next_gauges = 0.0
        next_retention = time.monotonic() + RETENTION_INTERVAL_SECONDS
        while not self.stopping:
            try:
                now = time.monotonic()
                if now >= next_retention:
                    await self._read_dedup_window()
                    next_retention = time.monotonic() + RETENTION_INTERVAL_SECONDS
                if now >= next_reclaim:
                    await self._reclaim()
                    next_reclaim = time.monotonic() + self._reclaim_every
                if now >= next_gauges:
                    await self._record_checkpoint()
                    await self._refresh_gauges()
                    next_gauges = time.monotonic() + GAUGE_INTERVAL_SECONDS
                entries = await self._read(">")
                if entries:
                    await self._handle(entries)
                self._redis_backoff.reset()
            except REDIS_DOWN as error:
                await self._redis_down(error)
            except ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                log.warning("consumer group missing, creating it again", extra={"group": self.ops.group})
                await self._redis_until_done(self._ensure_group)
        await self._shutdown()

    async def _ensure_group(self) -> None:
        checkpoint = await self.redis.get(self._checkpoint_key)
        start_id = text(checkpoint) if checkpoint else self.settings.ingress_group_start_id
        created = await ensure_group(self.redis, self.ops.stream, self.ops.group, start_id)
        if created:
            log.info("consumer group created",
                     extra={"group": self.ops.group, "start_id": start_id, "from_checkpoint": checkpoint is not None})

    async def _read_dedup_window(self) -> None:
        """How long Temporal still refuses a trace_id: the setting, or the namespace's retention
        when that is shorter (the worker may not have been permitted to set it)."""
        try:
            described = await self.client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=self.client.namespace))
        except RPCError as error:
            log.warning("namespace retention unreadable, dedup window kept", extra={"window_ms": self._dedup_window_ms, "error": error})
            return
        retention_ms = int(described.config.workflow_execution_retention_ttl.ToTimedelta().total_seconds() * 1000)
        setting_ms = self.settings.dedup_retention_days * DAY_MS
        self._dedup_window_ms = min(setting_ms, retention_ms) if retention_ms > 0 else setting_ms
        if self._dedup_window_ms < setting_ms:
            log.warning("namespace retention shorter than QT_DEDUP_RETENTION_DAYS",
                        extra={"namespace": self.client.namespace, "retention_ms": retention_ms})

    @property
    def _checkpoint_key(self) -> str:
        return f"{constants.INGRESS_CHECKPOINT_KEY_PREFIX}{self.ops.group}"

    async def _record_checkpoint(self) -> None:
        """Record where a lost group must start again: just before the oldest entry not yet
        acked, or after the last one delivered. Read in one transaction, so an entry delivered
        and still unacked is never behind the mark; a mark recorded late is only earlier."""
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.xinfo_groups(self.ops.stream)
                pipe.xpending(self.ops.stream, self.ops.group)
                groups, pending = await pipe.execute()
        except ResponseError as error:
            if "no such key" in str(error).lower():
                return
            raise
        last = next((text(g["last-delivered-id"]) for g in groups if text(g["name"]) == self.ops.group), None)
        if last is None:
            return
        oldest = pending.get("min") if pending.get("pending") else None
        await self.redis.set(self._checkpoint_key, _before(text(oldest)) if oldest else last)

    async def _drain_own_pending(self) -> None:
        """Entries delivered to this consumer name and never acked (a restart under a stable name)."""
        after = "0"
        while not self.stopping:
            entries = await self._read(after)
            if not entries:
                return
            log.info("resuming own pending", extra={"entries": len(entries), "consumer": self.consumer})
            await self._handle(entries)
            after = entries[-1].id

    async def _read(self, after: str) -> list[Entry]:
        block = self.settings.ingress_block_ms if after == ">" else None
        response = await self.redis.xreadgroup(
            self.ops.group, self.consumer, {self.ops.stream: after}, count=self.settings.ingress_batch_size, block=block
        )
        if not response:
            return []
        _, items = response[0]
        return [Entry(text(entry_id), fields) for entry_id, fields in items]

    async def _reclaim(self) -> None:
        """Take over entries idle past the reclaim time in any consumer (a dead one's)."""
        start = "0-0"
        while not self.stopping:
            next_start, claimed, deleted = await self.redis.xautoclaim(
                self.ops.stream, self.ops.group, self.consumer, self.settings.ingress_reclaim_idle_ms,
                start_id=start, count=self.settings.ingress_batch_size,
            )
            for entry_id in deleted:
                log.warning("DEAD_LETTER", extra={"source_id": text(entry_id), "reason": "deleted-while-pending"})
                await self.ops.dead_letter_gone(text(entry_id), self.consumer)
                self.metrics.inc(Count.DEAD_LETTERED)
            if claimed:
                entries = [Entry(text(entry_id), fields) for entry_id, fields in claimed]
                self.metrics.inc(Count.RECLAIMED, len(entries))
                log.info("reclaimed", extra={"entries": len(entries), "first": entries[0].id, "last": entries[-1].id})
                await self._handle(entries, await self._deliveries(entries))
            start = text(next_start)
            if start == "0-0":
                return

    async def _deliveries(self, entries: list[Entry]) -> dict[str, int]:
        rows = await self.redis.xpending_range(
            self.ops.stream, self.ops.group, min=entries[0].id, max=entries[-1].id,
            count=len(entries) * 2, consumername=self.consumer,
        )
        return {text(row["message_id"]): int(row["times_delivered"]) for row in rows}

    # -- one batch --------------------------------------------------------------------

    async def _handle(self, entries: list[Entry], deliveries: dict[str, int] | None = None) -> None:
        """Resolve every entry of a batch: started, duplicate or dead-lettered, then acked.

        Returns early only when stopping; whatever is unresolved then stays pending.
        """
        self.metrics.inc(Count.READ, len(entries))
        todo: list[tuple[Entry, TradeDecision]] = []
        settled: list[Outcome] = []
        limit = self.settings.ingress_max_deliveries
        oldest_ms = int(time.time() * 1000) - self._dedup_window_ms
        for entry in entries:
            delivered = (deliveries or {}).get(entry.id, 0)
            if delivered > limit:
                settled.append(Outcome(entry, Kind.DEAD, reason=f"delivered {delivered} times without being finished"))
                continue
            if _entry_ms(entry.id) < oldest_ms:
                reason = (f"decision older than the dedup window of {self._dedup_window_ms / DAY_MS:g} days: "
                          "its trace_id may be forgotten, so starting it could trade it twice")
                settled.append(Outcome(entry, Kind.DEAD, reason=reason))
                continue
            parsed = parse(entry.fields, self.settings.allowed_symbols)
            if not isinstance(parsed, Accepted):
                settled.append(Outcome(entry, Kind.DEAD, reason=parsed.reason))
            elif (conflict := trace_id_conflict(parsed.decision.trace_id)) is not None:
                settled.append(Outcome(entry, Kind.DEAD, parsed.decision, conflict))
            else:
                todo.append((entry, parsed.decision))
        while True:
            outcomes = await asyncio.gather(*(self._start(entry, decision) for entry, decision in todo))
            settled += [o for o in outcomes if o.kind is not Kind.RETRY]
            if not await self._commit(settled):
                return
            settled = []
            todo = [(o.entry, o.decision) for o in outcomes if o.kind is Kind.RETRY and o.decision is not None]
            if not todo:
                self._temporal_backoff.reset()
                return
            if self.stopping:
                log.warning("stopping with entries not started; they stay pending", extra={"entries": len(todo)})
                return
            delay = self._temporal_backoff.next()
            reason = next(o.reason for o in outcomes if o.kind is Kind.RETRY)
            log.warning("temporal unavailable", extra={"starts_waiting": len(todo), "retry_in_s": round(delay, 1), "reason": reason})
            await self._sleep(delay)
            todo = await self._still_ours(todo)

    async def _start(self, entry: Entry, decision: TradeDecision) -> Outcome:
        async with self._starts:
            try:
                outcome = await start_intent(self.client, decision, self.settings)
            except RPCError as error:
                if error.status is RPCStatusCode.INVALID_ARGUMENT and UNREGISTERED_ATTRIBUTE not in error.message:
                    return Outcome(entry, Kind.DEAD, decision, f"temporal refused the start: {error.message}"[:500])
                # Otherwise Temporal is down, or the namespace does not know the search
                # attributes yet (registered, but not yet seen by every server): retry.
                self.metrics.inc(Count.START_ERRORS)
                return Outcome(entry, Kind.RETRY, decision, f"{error.status.name if error.status else 'RPC'}: {error.message}")
            except Exception as error:
                # Not an RPC failure, so possibly caused by this entry itself: retried a
                # bounded number of times, then dead-lettered with the error as reason.
                return self._unexpected(entry, decision, error)
        self._start_failures.pop(entry.id, None)
        if not outcome.started:
            return Outcome(entry, Kind.DUPLICATE, decision)
        if self.settings.ingress_crash_after_start:
            log.warning("test hook: killing the ingress after starting, before its ack", extra={"trace_id": decision.trace_id})
            os.kill(os.getpid(), signal.SIGKILL)
        return Outcome(entry, Kind.STARTED, decision)

    def _unexpected(self, entry: Entry, decision: TradeDecision, error: Exception) -> Outcome:
        self.metrics.inc(Count.START_ERRORS)
        failures = self._start_failures.get(entry.id, 0) + 1
        self._start_failures[entry.id] = failures
        log.error("start failed", extra={"trace_id": decision.trace_id, "attempt": failures, "error": repr(error)}, exc_info=error)
        if failures >= self.settings.ingress_max_deliveries:
            self._start_failures.pop(entry.id, None)
            return Outcome(entry, Kind.DEAD, decision, f"start failed {failures} times: {error!r}"[:500])
        return Outcome(entry, Kind.RETRY, decision, repr(error))

    async def _commit(self, outcomes: list[Outcome]) -> bool:
        """Dead letters, intent feed and acks for settled entries, in one round trip.

        Retried while Redis is down; returns False if stopping cut that short (the
        entries then stay pending and are redelivered, and their starts are duplicates).
        """
        if not outcomes:
            return True

        async def write() -> bool:
            async with self.redis.pipeline(transaction=False) as pipe:
                for o in outcomes:
                    if o.kind is Kind.DEAD:
                        await self.ops.dead_letter(pipe, o.entry.id, dead_letter_fields(o.entry.id, o.reason, self.consumer, o.entry.fields))
                    elif self.settings.ingress_publish_intents and o.decision is not None:
                        await self.ops.publish_intent(pipe, o.decision)
                self.ops.ack(pipe, [o.entry.id for o in outcomes if o.kind is not Kind.DEAD])
                await pipe.execute()
            return True

        if not await self._redis_until_done(write):
            return False
        for o in outcomes:
            if o.kind is Kind.DEAD:
                log.warning("DEAD_LETTER", extra={"source_id": o.entry.id, "reason": o.reason})
        self.metrics.inc(Count.STARTED, sum(o.kind is Kind.STARTED for o in outcomes))
        self.metrics.inc(Count.DUPLICATES, sum(o.kind is Kind.DUPLICATE for o in outcomes))
        self.metrics.inc(Count.DEAD_LETTERED, sum(o.kind is Kind.DEAD for o in outcomes))
        self.metrics.inc(Count.ACKED, len(outcomes))
        return True

    async def _still_ours(self, todo: list[tuple[Entry, TradeDecision]]) -> list[tuple[Entry, TradeDecision]]:
        """Refresh the claim on entries waiting for Temporal (resets their idle time, not
        their delivery count) and drop any that another consumer has meanwhile acked."""

        async def claim() -> set[str]:
            ids = [entry.id for entry, _ in todo]
            claimed = await self.redis.xclaim(self.ops.stream, self.ops.group, self.consumer, 0, ids, justid=True)
            return {text(entry_id) for entry_id in claimed}

        ours = await self._redis_until_done(claim)
        if ours is None:
            return todo
        return [(entry, decision) for entry, decision in todo if entry.id in ours]

    # -- Redis availability -----------------------------------------------------------

    async def _redis_until_done(self, operation: Callable[[], Awaitable[T]]) -> T | None:
        """Run ``operation`` until Redis answers; ``None`` if stopping first (so an
        operation whose result matters returns something other than ``None``)."""
        while True:
            try:
                result = await operation()
            except REDIS_DOWN as error:
                if self.stopping:
                    log.warning("stopping while redis is unavailable", extra={"error": repr(error)})
                    return None
                await self._redis_down(error)
                continue
            self._redis_backoff.reset()
            return result

    async def _redis_down(self, error: BaseException) -> None:
        delay = self._redis_backoff.next()
        log.warning("redis unavailable, reconnecting", extra={"retry_in_s": round(delay, 1), "error": repr(error)})
        await self._sleep(delay)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when asked to stop."""
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            pass

    async def _refresh_gauges(self) -> None:
        info = await group_info(self.redis, self.ops.stream, self.ops.group)
        if info is not None:
            self.metrics.pending.set(info.pending)
            if info.lag is not None:
                self.metrics.lag.set(info.lag)
        self.metrics.dead_letter_length.set(await self.redis.xlen(constants.DEAD_LETTER_STREAM))
        await self.metrics.flush(self.redis)

    async def _shutdown(self) -> None:
        try:
            await self.metrics.flush(self.redis)
            pending = await self.redis.xpending_range(self.ops.stream, self.ops.group, "-", "+", 1, consumername=self.consumer)
            if not pending:
                # Nothing of ours is pending, so removing the consumer loses nothing.
                await self.redis.xgroup_delconsumer(self.ops.stream, self.ops.group, self.consumer)
        except (*REDIS_DOWN, ResponseError) as error:
            log.warning("shutdown bookkeeping skipped", extra={"error": repr(error)})
        log.info("ingress stopped", extra={"consumer": self.consumer, "counts": _counts(self.metrics)})


def _entry_ms(entry_id: str) -> int:
    """The millisecond time part of a stream entry ID."""
    return int(entry_id.split("-", 1)[0])


def _before(entry_id: str) -> str:
    """The stream entry ID just before ``entry_id``."""
    ms, sequence = (int(part) for part in entry_id.split("-", 1))
    if sequence > 0:
        return f"{ms}-{sequence - 1}"
    return f"{ms - 1}-{MAX_SEQUENCE}" if ms > 0 else "0-0"


def _counts(metrics: IngressMetrics) -> str:
    return ",".join(f"{name.value}={metrics.counts[name]}" for name in Count)


# -- process --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--consumer", help="consumer name (default: ingress-<host>-<pid>-<random>, or QT_INGRESS_CONSUMER)")
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port (or QT_INGRESS_METRICS_PORT)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    logs.configure(settings, "ingress")
    updates: dict[str, Any] = {}
    if args.consumer:
        updates["ingress_consumer"] = args.consumer
    if args.metrics_port is not None:
        updates["ingress_metrics_port"] = args.metrics_port
    return asyncio.run(serve(settings.model_copy(update=updates)))


async def serve(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    deadline = Deadline(settings.startup_timeout_seconds)
    client = await connect_at_start(settings, deadline, stop=stop)
    if client is None or not await _redis_at_start(settings, deadline, stop):
        return 0
    # The worker registers them too, but this process may be the first to reach a fresh
    # namespace: without them every start is refused and valid decisions are dead-lettered.
    try:
        await ensure_search_attributes(client, settings.temporal_namespace)
    except RPCError as error:  # e.g. no operator permission: starts then wait until they exist
        log.warning("search attributes not registered", extra={"namespace": settings.temporal_namespace, "error": error})
    await consume(settings, client, stop)
    return 0


async def _redis_at_start(settings: Settings, deadline: Deadline, stop: asyncio.Event) -> bool:
    """Wait for Redis as for Temporal; False if stopped first."""
    redis = connections.redis_client(settings)
    try:
        return await until_reachable("Redis", connections.redis_location(settings), redis.ping, deadline, REDIS_DOWN, stop=stop) is not None
    finally:
        await redis.aclose()


async def consume(settings: Settings, client: Client, stop: asyncio.Event) -> None:
    """Run one ingress on ``client`` until ``stop``: the standalone process, or a worker's
    own (``QT_WORKER_INGRESS``), whose starts are then eager."""
    metrics = IngressMetrics()
    if settings.ingress_metrics_port is not None:
        metrics.serve(settings.ingress_metrics_port, settings.ingress_metrics_host)
        log.info("ingress metrics", extra={"url": f"http://{settings.ingress_metrics_host}:{settings.ingress_metrics_port}/metrics"})
    redis = redis_client(settings)
    try:
        await Ingress(settings, redis, client, metrics=metrics, stop=stop).run()
    finally:
        await redis.aclose()
