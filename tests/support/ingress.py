"""Helpers for ingress tests: a private Redis database per test, decisions on the wire,
an in-process ingress, an ingress subprocess, and reads of the group and the DLQ."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from temporalio.client import Client

from quantum_trader import constants
from quantum_trader.settings import Settings
from quantum_trader.streams import GroupInfo, group_info
from tests.support.processes import VENV_BIN, Proc
from tests.support.stack import settings_env
from workers.ingress import Ingress, redis_client

# Database 0 belongs to the session's worker; each ingress test takes the next of 1..15
# so its stream, group and dead letters start empty and are its own.
_databases = itertools.cycle(range(1, 16))

# Small timings so reclaim and backoff happen within a test's patience.
FAST = {
    "ingress_block_ms": 200,
    "ingress_reclaim_idle_ms": 1_000,
    "ingress_backoff_initial_seconds": 0.1,
    "ingress_backoff_max_seconds": 1.0,
    "ingress_group_start_id": "0",
}


def private_redis_url(base_url: str) -> str:
    return f"{base_url.rsplit('/', 1)[0]}/{next(_databases)}"


def run_id() -> str:
    return uuid.uuid4().hex[:8]


def flat(trace_id: str, **fields: Any) -> dict[str, str]:
    """A decision in the proof harness's flat form: small MARKET buy, confident."""
    values = {"symbol": "BTCUSDT", "action": "BUY", "confidence": "0.8", "quantity": "0.001",
              "source": "ingress-test", "trace_id": trace_id}
    values.update({k: str(v) for k, v in fields.items()})
    return values


def bus(trace_id: str, **fields: Any) -> dict[str, str]:
    """The same decision as the event bus wrote it: one ``data`` field holding JSON."""
    return {"data": json.dumps(flat(trace_id, **fields))}


async def publish(redis: Redis, *entries: dict[Any, Any]) -> list[str]:
    async with redis.pipeline(transaction=False) as pipe:
        for fields in entries:
            pipe.xadd(constants.DECISION_STREAM, fields)
        ids = await pipe.execute()
    return [i.decode() for i in ids]


async def group(redis: Redis) -> GroupInfo:
    info = await group_info(redis, constants.DECISION_STREAM, constants.INGRESS_GROUP)
    assert info is not None, "the ingress group does not exist"
    return info


async def dead_letters(redis: Redis) -> list[dict[bytes, bytes]]:
    return [fields for _, fields in await redis.xrange(constants.DEAD_LETTER_STREAM)]


async def workflow_exists(client: Client, workflow_id: str) -> bool:
    from temporalio.service import RPCError, RPCStatusCode

    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def count_on_queue(client: Client, task_queue: str) -> int:
    return (await client.count_workflows(f'TaskQueue="{task_queue}"')).count


@asynccontextmanager
async def running_ingress(settings: Settings, client: Client, **options: Any) -> AsyncIterator[Ingress]:
    """An in-process ingress with its own Redis connection; stopped (SIGTERM path) on exit."""
    redis = redis_client(settings)
    ingress = Ingress(settings, redis, client, **options)
    task = asyncio.create_task(ingress.run())
    try:
        yield ingress
    finally:
        ingress.stop()
        try:
            await asyncio.wait_for(task, 30)
        finally:
            await redis.aclose()


def ingress_proc(home: Path, settings: Settings, name: str = "ingress") -> Proc:
    return Proc(name, [str(VENV_BIN / "quantum-trader"), "ingress"], home / f"{name}.log", env=settings_env(settings))
