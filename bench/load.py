"""The one load generator, and how each scenario's end points are observed.

A decision is *published* when it is appended to the decision stream (its entry ID's
millisecond time); every scenario, the ceiling too, starts from that stream. An order is
*accepted* at the exchange's own ``time`` of the order. An intent is *terminal* when its
record is on the result stream (that entry ID's time) or, for the ceiling, at the
workflow's close time. All of these are read from one machine's clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from redis.asyncio import Redis
from temporalio.client import Client

from bench.empty_workflow import EMPTY_WORKFLOW_NAME
from paper_exchange.admin_client import PaperAdmin
from quantum_trader import constants
from quantum_trader.connections import redis_client

SYMBOL = "BTCUSDT"
QUANTITY = "0.001"
POLL_SECONDS = 0.2


def entry_ms(entry_id: Any) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return int(text.split("-", 1)[0])


def decision_fields(trace_id: str) -> dict[str, str]:
    """A MARKET buy that the risk gate approves and the paper exchange fills at once."""
    return {
        "trace_id": trace_id,
        "symbol": SYMBOL,
        "action": "BUY",
        "quantity": QUANTITY,
        "order_type": "MARKET",
        "confidence": "0.9",
        "source": "bench",
        "timestamp": datetime.now(UTC).isoformat(),
    }


@dataclass
class Observed:
    """What one phase saw, keyed by trace_id (milliseconds since the epoch)."""

    published: dict[str, float] = field(default_factory=dict)
    accepted: dict[str, float] = field(default_factory=dict)
    terminal: dict[str, float] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    orders: int = 0


class Driver(Protocol):
    async def publish(self, trace_ids: Sequence[str], rate: float | None) -> dict[str, float]: ...
    async def finished(self, trace_ids: Sequence[str]) -> int: ...
    async def observe(self, observed: Observed) -> None: ...
    async def close(self) -> None: ...


async def paced(trace_ids: Sequence[str], rate: float, send: Callable[[str], Awaitable[None]]) -> None:
    """Call ``send`` for each trace_id on a fixed schedule (``rate`` per second), never
    waiting for a previous send: an open-loop load that does not slow down with the system."""
    began = time.monotonic()
    tasks = []
    for index, trace_id in enumerate(trace_ids):
        delay = began + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(trace_id)))
    await asyncio.gather(*tasks)


async def publish_decisions(redis: Redis, trace_ids: Sequence[str], rate: float | None) -> dict[str, float]:
    """Append one decision per trace_id to the decision stream, paced at ``rate`` per second
    or all at once in one pipeline; returns each one's entry time."""
    if rate:
        published: dict[str, float] = {}

        async def send(trace_id: str) -> None:
            published[trace_id] = entry_ms(await redis.xadd(constants.DECISION_STREAM, decision_fields(trace_id)))

        await paced(trace_ids, rate, send)
        return published
    async with redis.pipeline(transaction=False) as pipe:
        for trace_id in trace_ids:
            pipe.xadd(constants.DECISION_STREAM, decision_fields(trace_id))
        ids = await pipe.execute()
    return {trace_id: entry_ms(entry_id) for trace_id, entry_id in zip(trace_ids, ids, strict=True)}


class StreamDriver:
    """Decisions on ``quantum:stream:ai.decision.made``; results on the result stream; orders
    from the paper exchange's admin API. Serves the baseline and this system."""

    def __init__(self, redis_url: str, exchange_url: str, result_stream: str, order_key: str) -> None:
        self.redis = redis_client(redis_url)
        self.paper = PaperAdmin(exchange_url)
        self.result_stream = result_stream
        # How a result names its order: "client_order_id" (this system) or "order_id" (baseline).
        self.order_key = order_key
        self.expected = 0

    async def publish(self, trace_ids: Sequence[str], rate: float | None) -> dict[str, float]:
        self.expected += len(trace_ids)
        return await publish_decisions(self.redis, trace_ids, rate)

    async def finished(self, trace_ids: Sequence[str]) -> int:
        """Results so far of this phase (every result on the stream is one of the bench's)."""
        return len(trace_ids) - max(0, self.expected - int(await self.redis.xlen(self.result_stream)))

    async def observe(self, observed: Observed) -> None:
        wanted = observed.published.keys()
        order_of: dict[str, str] = {}
        for entry_id, raw in await self.redis.xrange(self.result_stream):
            fields = {k.decode(): v.decode() for k, v in raw.items()}
            trace_id = fields.get("trace_id", "")
            if trace_id not in wanted:
                continue
            observed.terminal[trace_id] = entry_ms(entry_id)
            observed.states[trace_id] = fields.get("state") or fields.get("status", "")
            if fields.get(self.order_key):
                order_of[fields[self.order_key]] = trace_id
        orders = await self.paper.orders(symbol=SYMBOL)
        key = "clientOrderId" if self.order_key == "client_order_id" else "orderId"
        for order in orders:
            trace_id = order_of.get(str(order[key]))
            if trace_id is not None:
                observed.accepted[trace_id] = float(order["time"])
                observed.orders += 1

    async def close(self) -> None:
        await self.redis.aclose()


class CeilingDriver:
    """Decisions on the stream, read by the ceiling worker's own starter (so its starts are
    eager); ends read from visibility."""

    def __init__(self, redis_url: str, client: Client) -> None:
        self.redis = redis_client(redis_url)
        self.client = client
        self.query = f'WorkflowType="{EMPTY_WORKFLOW_NAME}" AND ExecutionStatus="Completed"'
        self.expected = 0

    async def publish(self, trace_ids: Sequence[str], rate: float | None) -> dict[str, float]:
        self.expected += len(trace_ids)
        return await publish_decisions(self.redis, trace_ids, rate)

    async def finished(self, trace_ids: Sequence[str]) -> int:
        count = (await self.client.count_workflows(self.query)).count
        return len(trace_ids) - max(0, self.expected - count)

    async def observe(self, observed: Observed) -> None:
        async for execution in self.client.list_workflows(self.query, page_size=1000):
            if execution.id in observed.published and execution.close_time is not None:
                observed.terminal[execution.id] = execution.close_time.timestamp() * 1000
                observed.states[execution.id] = "COMPLETED"

    async def close(self) -> None:
        await self.redis.aclose()


async def wait_finished(driver: Driver, trace_ids: Sequence[str], timeout: float) -> tuple[int, float]:
    """Poll until every decision of the phase has ended or ``timeout`` passes.

    Returns the count that ended and the wall time spent waiting.
    """
    began = time.monotonic()
    done = 0
    while time.monotonic() - began < timeout:
        done = await driver.finished(trace_ids)
        if done >= len(trace_ids):
            break
        await asyncio.sleep(POLL_SECONDS)
    return done, time.monotonic() - began
