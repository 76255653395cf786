"""The ingress at its edges, on a real Redis and a real Temporal dev server: a consumer group
lost under it, decisions older than the dedup window, a namespace nobody prepared, and a
trace_id that would take another intent's protection workflow ID."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest_asyncio
from google.protobuf.duration_pb2 import Duration
from redis.asyncio import Redis
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client

from quantum_trader import constants
from quantum_trader.connections import redis_client
from quantum_trader.ids import protection_workflow_id
from quantum_trader.logs import entries
from quantum_trader.settings import Settings
from quantum_trader.temporal import connect, ensure_search_attributes
from tests.conftest import Stack
from tests.support.eventually import eventually
from tests.support.processes import Proc, free_port
from tests.support.ingress import FAST, dead_letters, flat, group, ingress_proc, private_redis_url, publish, run_id, running_ingress, workflow_exists


@pytest_asyncio.fixture(loop_scope="session")
async def db(stack: Stack) -> AsyncIterator[tuple[str, Redis]]:
    """A private, empty Redis database for the ingress under test."""
    url = private_redis_url(stack.redis_url)
    redis = redis_client(url)
    await redis.flushdb()
    yield url, redis
    await redis.aclose()


async def _started(client: Client, *trace_ids: str) -> bool:
    for tid in trace_ids:
        assert await workflow_exists(client, tid), f"no workflow {tid}"
    return True


async def _settled(redis: Redis) -> bool:
    info = await group(redis)
    assert info.pending == 0 and info.lag == 0, info
    return True


async def test_ingress_group_lost_is_created_again_where_it_was_and_starts_what_was_appended_meanwhile(
    stack: Stack, client: Client, db: tuple[str, Redis]
) -> None:
    url, redis = db
    run = run_id()
    before, meanwhile = f"lost-{run}-1", f"lost-{run}-2"
    cfg = stack.settings(redis_url=url, **{**FAST, "ingress_group_start_id": "$"})
    async with running_ingress(cfg, client):
        await eventually(lambda: group(redis), timeout=10, what="the group")
        await publish(redis, flat(before))
        await eventually(lambda: _started(client, before), timeout=20, what="the first decision started")
        await eventually(lambda: _settled(redis), timeout=10, what="the first decision acked")
        async with redis.pipeline(transaction=True) as pipe:
            pipe.xgroup_destroy(constants.DECISION_STREAM, constants.INGRESS_GROUP)
            pipe.xadd(constants.DECISION_STREAM, flat(meanwhile))
            await pipe.execute()
        await eventually(lambda: _started(client, meanwhile), timeout=20, what="the decision appended while the group was gone")
        await eventually(lambda: _settled(redis), timeout=10, what="every entry acked")
    assert await dead_letters(redis) == []


async def test_ingress_decision_older_than_the_dedup_window_dead_lettered_not_started(
    stack: Stack, client: Client, db: tuple[str, Redis]
) -> None:
    url, redis = db
    run = run_id()
    stale, fresh = f"stale-{run}", f"fresh-{run}"
    cfg = stack.settings(redis_url=url, **FAST)
    old_ms = int(time.time() * 1000) - int(timedelta(days=cfg.dedup_retention_days + 1).total_seconds() * 1000)
    stale_id = (await redis.xadd(constants.DECISION_STREAM, flat(stale), id=f"{old_ms}-0")).decode()
    await publish(redis, flat(fresh))
    async with running_ingress(cfg, client):
        await eventually(lambda: _started(client, fresh), timeout=20, what="the fresh decision started")
        await eventually(lambda: _settled(redis), timeout=10, what="every entry settled")
    letters = await dead_letters(redis)
    assert [f[b"source_id"].decode() for f in letters] == [stale_id]
    assert b"older than" in letters[0][b"reason"], letters[0][b"reason"]
    assert not await workflow_exists(client, stale)


async def test_ingress_trace_id_ending_in_the_protection_suffix_dead_lettered_with_the_reason(
    stack: Stack, client: Client, db: tuple[str, Redis]
) -> None:
    url, redis = db
    run = run_id()
    owner = f"own-{run}"
    taken, canary = protection_workflow_id(owner), f"canary-{run}"
    cfg = stack.settings(redis_url=url, **FAST)
    ids = await publish(redis, flat(taken), flat(canary))
    async with running_ingress(cfg, client):
        await eventually(lambda: _started(client, canary), timeout=20, what="the canary started")
        await eventually(lambda: _settled(redis), timeout=10, what="every entry settled")
    letters = await dead_letters(redis)
    assert [f[b"source_id"].decode() for f in letters] == [ids[0]]
    reason = letters[0][b"reason"].decode()
    assert "-oco" in reason and owner in reason, reason
    assert not await workflow_exists(client, taken)


async def _fresh_namespace(client: Client) -> str:
    namespace = f"fresh-{uuid.uuid4().hex[:8]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=Duration(seconds=86_400))
    )

    async def described() -> bool:
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
        return True

    await eventually(described, timeout=30, what=f"namespace {namespace}")
    return namespace


async def test_standalone_ingress_on_a_fresh_namespace_registers_the_search_attributes_and_starts(
    stack: Stack, client: Client, db: tuple[str, Redis], tmp_path: Any
) -> None:
    url, redis = db
    namespace = await _fresh_namespace(client)
    cfg = stack.settings(redis_url=url, temporal_namespace=namespace, **FAST)
    fresh_client = await connect(cfg)
    tid = f"ns-{run_id()}"
    await publish(redis, flat(tid))
    proc = ingress_proc(tmp_path, cfg).start()
    try:

        async def started() -> bool:
            assert await dead_letters(redis) == [], "dead-lettered"
            return await _started(fresh_client, tid)

        await eventually(started, timeout=60, what=f"{tid} started in {namespace}")
    finally:
        proc.stop()


async def test_ingress_dedup_window_is_the_namespace_retention_when_shorter_than_the_setting(
    stack: Stack, client: Client, db: tuple[str, Redis]
) -> None:
    url, redis = db
    namespace = await _fresh_namespace(client)  # retains closed runs one day
    cfg = stack.settings(redis_url=url, temporal_namespace=namespace, dedup_retention_days=7, **FAST)
    run = run_id()
    stale, fresh = f"stale2d-{run}", f"fresh-{run}"
    two_days_ago = int(time.time() * 1000) - int(timedelta(days=2).total_seconds() * 1000)
    stale_id = (await redis.xadd(constants.DECISION_STREAM, flat(stale), id=f"{two_days_ago}-0")).decode()
    await publish(redis, flat(fresh))
    fresh_client = await connect(cfg)
    await ensure_search_attributes(fresh_client, namespace)
    async with running_ingress(cfg, fresh_client):
        await eventually(lambda: _started(fresh_client, fresh), timeout=30, what="the fresh decision started")
        await eventually(lambda: _settled(redis), timeout=10, what="every entry settled")
    letters = await dead_letters(redis)
    assert [f[b"source_id"].decode() for f in letters] == [stale_id]
    assert b"older than" in letters[0][b"reason"], letters[0][b"reason"]
    assert not await workflow_exists(fresh_client, stale)


async def _exited_1(proc: Proc) -> list[str]:
    """The ingress's output lines once it has exited, which must be with code 1."""
    try:
        await eventually(lambda: not proc.alive(), timeout=30, what="the ingress to exit")
    finally:
        proc.stop()
    lines = proc.log_text().strip().splitlines()
    assert proc.popen is not None and proc.popen.returncode == 1, lines
    return lines


async def test_ingress_start_waits_for_temporal_then_one_line_exit_1(tmp_path: Any) -> None:
    # The same rule as the worker's start: retried with backoff within QT_STARTUP_TIMEOUT_SECONDS.
    address = f"127.0.0.1:{free_port()}"
    proc = ingress_proc(tmp_path, Settings(_env_file=None, temporal_address=address, startup_timeout_seconds=1)).start()  # type: ignore[call-arg]
    lines = await _exited_1(proc)
    assert "Traceback" not in proc.log_text()
    assert re.fullmatch(rf"quantum-trader ingress: Temporal unreachable at {address} after [12]s: Connection refused", lines[-1]), lines
    assert any(entry["msg"] == "unreachable at start" and entry["address"] == address for entry in entries(proc.log_text())), lines


async def test_ingress_start_waits_for_redis_then_one_line_exit_1(stack: Stack, tmp_path: Any) -> None:
    port = free_port()
    proc = ingress_proc(tmp_path, stack.settings(redis_url=f"redis://:not-shown@127.0.0.1:{port}/0", startup_timeout_seconds=1)).start()
    lines = await _exited_1(proc)
    assert re.fullmatch(rf"quantum-trader ingress: Redis unreachable at redis://127.0.0.1:{port}/0 after [12]s: .+", lines[-1]), lines
    assert "not-shown" not in proc.log_text()
