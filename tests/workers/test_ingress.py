"""The ingress on a real Redis and a real Temporal dev server (and, where orders are
counted, the real worker and paper exchange): each event becomes exactly one intent,
each bad event a dead letter, under duplicates, crashes and outages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest_asyncio
from hypothesis import HealthCheck, Phase, given, settings as hsettings
from hypothesis import strategies as st
from redis.asyncio import Redis
from temporalio.client import Client

from activities.exchange.binance import BinanceExchange
from paper_exchange.admin_client import PaperAdmin
from quantum_trader import constants
from quantum_trader.connections import redis_client
from quantum_trader.ids import client_order_id
from quantum_trader.metrics import Count
from quantum_trader.models import IntentResult
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState
from quantum_trader.commands.stats import collect
from quantum_trader.streams import StreamOps, dead_letter_fields, ensure_group
from quantum_trader.temporal import connect
from quantum_trader.wire import Rejected, parse
from tests.conftest import Stack
from tests.support.ingress import (
    FAST, bus, count_on_queue, dead_letters, flat, group, ingress_proc, private_redis_url, publish,
    run_id, running_ingress, workflow_exists,
)
from tests.support.eventually import eventually
from tests.support.processes import free_port, stable_port
from tests.support.stack import redis_proc, temporal_proc, worker_proc
from workers.worker import build_worker


@pytest_asyncio.fixture(loop_scope="session")
async def db(stack: Stack) -> AsyncIterator[tuple[str, Redis]]:
    """A private, empty Redis database for the ingress under test."""
    url = private_redis_url(stack.redis_url)
    redis = redis_client(url)
    await redis.flushdb()
    yield url, redis
    await redis.aclose()


def _ingress_settings(stack: Stack, url: str, **overrides: Any) -> Settings:
    return stack.settings(redis_url=url, **{**FAST, **overrides})


# -- exactly once under duplicates -----------------------------------------------------


async def test_ingress_1000_events_30pct_duplicates_one_workflow_and_one_order_per_trace_id(
    stack: Stack, client: Client, redis: Redis, db: tuple[str, Redis], paper: PaperAdmin
) -> None:
    url, stream_redis = db
    cfg = _ingress_settings(stack, url, ingress_max_concurrent_starts=100, ingress_batch_size=200)
    run = run_id()
    unique = [f"bulk-{run}-{i:04d}" for i in range(700)]
    symbols = ("BTCUSDT", "ETHUSDT", "BNBUSDT")
    quantity = {"BTCUSDT": "0.001", "ETHUSDT": "0.01", "BNBUSDT": "0.05"}

    def event(i: int, tid: str) -> dict[str, str]:
        symbol = symbols[i % 3]
        form = bus if i % 2 else flat  # both wire forms in one stream
        return form(tid, symbol=symbol, quantity=quantity[symbol])

    first = [event(i, tid) for i, tid in enumerate(unique)]
    repeats = [event(i, unique[i % 150]) for i in range(150)]  # published again, later
    racing = [event(i, unique[150 + i % 75]) for i in range(150)]  # same trace_ids from two publishers at once
    gateway = BinanceExchange(cfg)
    worker = build_worker(client, cfg, gateway, redis, max_concurrent_workflow_tasks=100, max_concurrent_activities=200)
    async with worker, running_ingress(cfg, client) as ingress:
        await publish(stream_redis, *first[:400])
        await asyncio.gather(
            publish(stream_redis, *first[400:]),
            *(publish(stream_redis, *racing[k::4]) for k in range(4)),
        )
        await publish(stream_redis, *repeats)

        async def all_acked() -> bool:
            info = await group(stream_redis)
            assert info.pending == 0 and info.lag == 0, info
            return ingress.metrics.counts[Count.ACKED] == 1000

        await eventually(all_acked, timeout=60, what="all 1000 events acked")
        assert ingress.metrics.counts[Count.STARTED] == 700
        assert ingress.metrics.counts[Count.DUPLICATES] == 300
        assert ingress.metrics.counts[Count.DEAD_LETTERED] == 0

        async def all_finished() -> bool:
            running = await client.count_workflows(f'TaskQueue="{cfg.task_queue}" AND ExecutionStatus="Running"')
            assert running.count == 0, f"{running.count} still running"
            return True

        await eventually(all_finished, timeout=90, interval=1, what="every intent to finish")
    await gateway.close()
    assert await count_on_queue(client, cfg.task_queue) == 700
    filled = await client.count_workflows(f'TaskQueue="{cfg.task_queue}" AND {constants.SA_TRADE_STATE}="FILLED"')
    assert filled.count == 700
    wanted = {client_order_id(tid) for tid in unique}
    # The exchange is the session's: other modules' conditional orders carry clientAlgoId only.
    orders = [o for o in await paper.orders() if o.get("clientOrderId") in wanted]
    assert len(orders) == 700
    assert {o["clientOrderId"] for o in orders} == wanted


# -- malformed input ---------------------------------------------------------------------

_GOOD = {"trace_id": "x1", "symbol": "BTCUSDT", "action": "BUY", "confidence": "0.9", "quantity": "0.001"}
_BAD_VALUES: dict[str, list[bytes]] = {
    "trace_id": [b"", b"has space", b"../up", b"\xff\xfe", b"x" * 200, b"-lead"],
    "symbol": [b"DOGEUSDT", b"btc/usdt", b"", b"\xc3("],
    "action": [b"CLOSE", b"HOLD", b"", b"\x00"],
    "quantity": [b"0", b"-1", b"NaN", b"inf", b"1e400", b"lots", b""],
    "confidence": [b"2", b"-0.1", b"NaN"],
}


@st.composite
def _malformed(draw: st.DrawFn) -> dict[bytes, bytes]:
    kind = draw(st.sampled_from(["corrupt-flat", "corrupt-json", "garbage-json", "random"]))
    if kind == "random":
        fields = draw(st.dictionaries(st.binary(min_size=1, max_size=10), st.binary(max_size=40), min_size=1, max_size=6))
        return fields if isinstance(parse(fields, Settings(_env_file=None).allowed_symbols), Rejected) else {b"data": b"\x80"}
    if kind == "garbage-json":
        return {b"data": draw(st.sampled_from([b"{", b"[]", b"null", b"\"s\"", b"{\"quantity\": NaN}", b"\xff{}"]))}
    field = draw(st.sampled_from(sorted(_BAD_VALUES)))
    value = draw(st.sampled_from(_BAD_VALUES[field]))
    good = {k.encode(): v.encode() for k, v in _GOOD.items()}
    good[b"trace_id"] = f"mal-{draw(st.integers(0, 10**9))}".encode()
    corrupt = {**good, field.encode(): value}
    if kind == "corrupt-flat" or not _is_text(corrupt):
        return corrupt
    return {b"data": json.dumps({k.decode(): v.decode() for k, v in corrupt.items()}).encode()}


def _is_text(fields: dict[bytes, bytes]) -> bool:
    try:
        for key, value in fields.items():
            key.decode(), value.decode()
    except UnicodeDecodeError:
        return False
    return True


@pytest_asyncio.fixture(loop_scope="session")
async def live(stack: Stack, client: Client, settings: Settings, worker: None, db: tuple[str, Redis]) -> AsyncIterator[tuple[Any, Redis, list[str], list[str]]]:
    """An ingress in front of the session worker, with lists of what a test published."""
    url, stream_redis = db
    async with running_ingress(_ingress_settings(stack, url, task_queue=settings.task_queue), client) as ingress:
        yield ingress, stream_redis, [], []


# No shrinking: a failing example here fails by timing out, and shrinking would repeat that.
@hsettings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(_malformed(), min_size=1, max_size=8))
async def test_ingress_malformed_events_dead_lettered_with_reasons_ingress_stays_up(
    live: tuple[Any, Redis, list[str], list[str]], client: Client, batch: list[dict[bytes, bytes]]
) -> None:
    ingress, stream_redis, bad_ids, canaries = live
    canary = f"canary-{run_id()}"
    ids = await publish(stream_redis, *batch, flat(canary))
    bad_ids += ids[:-1]
    canaries.append(canary)

    async def settled() -> bool:
        info = await group(stream_redis)
        assert info.pending == 0 and info.lag == 0, info
        letters = await dead_letters(stream_redis)
        assert {f[b"source_id"].decode() for f in letters} == set(bad_ids)
        return True

    await eventually(settled, timeout=20, what="the batch dead-lettered and the canary acked")
    assert await workflow_exists(client, canary)
    letters = await dead_letters(stream_redis)
    assert len(letters) == len(bad_ids)  # each exactly once
    for fields in letters:
        assert fields[b"reason"] and fields[b"source_stream"] == constants.DECISION_STREAM.encode()
    by_source = {f[b"source_id"].decode(): f for f in letters}
    for entry_id, original in zip(ids, batch, strict=False):
        kept = {k[len(b"orig."):]: v for k, v in by_source[entry_id].items() if k.startswith(b"orig.")}
        assert kept == original
    assert ingress.metrics.counts[Count.STARTED] == len(canaries), dict(ingress.metrics.counts)
    assert ingress.metrics.counts[Count.DEAD_LETTERED] == len(bad_ids)


async def test_ingress_malformed_events_place_no_order(
    stack: Stack, client: Client, settings: Settings, worker: None, db: tuple[str, Redis], paper: PaperAdmin
) -> None:
    url, stream_redis = db
    run = run_id()
    bad = [
        {**flat(f"neg-{run}"), "quantity": "-1"},
        {**flat(f"sym-{run}"), "symbol": "DOGEUSDT"},
        {"data": json.dumps({**flat(f"nan-{run}"), "quantity": "NaN"})},
        {"data": "not json"},
        {**flat(f"side-{run}"), "action": "HOLD"},
    ]
    canary = f"ok-{run}"
    async with running_ingress(_ingress_settings(stack, url, task_queue=settings.task_queue), client) as ingress:
        await publish(stream_redis, *bad, flat(canary))
        handle = client.get_workflow_handle(canary, result_type=IntentResult)
        await eventually(lambda: workflow_exists(client, canary), timeout=20, what="the canary's workflow")
        result = await asyncio.wait_for(handle.result(), 60)
        assert result.state is IntentState.FILLED
        await eventually(lambda: ingress.metrics.counts[Count.DEAD_LETTERED] == 5, timeout=10, what="5 dead letters")
    reasons = sorted(f[b"reason"].decode() for f in await dead_letters(stream_redis))
    assert any("unknown symbol DOGEUSDT" in r for r in reasons)
    assert any("not valid JSON" in r for r in reasons)
    for prefix in ("neg", "sym", "nan", "side"):
        assert not await workflow_exists(client, f"{prefix}-{run}")
        assert await paper.orders_for(client_order_id(f"{prefix}-{run}")) == []
    assert len(await paper.orders_for(client_order_id(canary))) == 1


# -- crashes and reclaims ------------------------------------------------------------------


async def test_ingress_killed_between_start_and_ack_redelivered_refused_as_duplicate_one_workflow(
    stack: Stack, client: Client, db: tuple[str, Redis], tmp_path: Any
) -> None:
    url, stream_redis = db
    run = run_id()
    tid = f"crash-{run}"
    metrics_port = free_port()
    cfg = _ingress_settings(stack, url, ingress_consumer=f"ingress-fixed-{run}")
    await publish(stream_redis, flat(tid))

    crashing = ingress_proc(tmp_path, cfg.model_copy(update={"ingress_crash_after_start": True}), "ingress-crash").start()
    await eventually(lambda: not crashing.alive(), timeout=30, what="the ingress to kill itself after the start")
    assert crashing.popen is not None and crashing.popen.returncode == -9
    assert await workflow_exists(client, tid)
    info = await group(stream_redis)
    assert info.pending == 1, "the started entry must still be pending: it was never acked"

    # Same consumer name: the new process resumes its own pending entry at once.
    restarted = ingress_proc(tmp_path, cfg.model_copy(update={"ingress_metrics_port": metrics_port}), "ingress-restart").start()
    try:
        await eventually(lambda: _no_pending(stream_redis), timeout=30, what="the redelivered entry acked")
        await eventually(lambda: restarted.log_entries("DUPLICATE_SKIP", trace_id=tid), timeout=10, what="DUPLICATE_SKIP in the log")
        exposition = await eventually(lambda: _exposition_with(metrics_port, "quantum_ingress_acked_total 1.0"), timeout=10,
                                      what="the restarted ingress to count its ack")
        assert "quantum_ingress_duplicates_total 1.0" in exposition
        assert "quantum_ingress_intents_started_total 0.0" in exposition
    finally:
        restarted.stop()
    assert restarted.popen is not None and restarted.popen.returncode == 0
    await eventually(lambda: _count_is(client, cfg.task_queue, 1), timeout=15, what="exactly one workflow")
    report = await collect(cfg)
    assert report["ingress"]["duplicates"] == 1 and report["ingress"]["group_pending"] == 0
    assert report["ingress"]["dead_letter_length"] == 0 and report["intents"]["total"] >= 1


async def _no_pending(redis: Redis) -> bool:
    info = await group(redis)
    assert info.pending == 0 and info.lag == 0, info
    return True


async def _exposition_with(port: int, line: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        exposition = await response.text()
    assert line in exposition, exposition[-2000:]
    return exposition


async def _count_is(client: Client, task_queue: str, expected: int) -> bool:
    count = await count_on_queue(client, task_queue)
    assert count == expected, f"{count} workflows, expected {expected}"
    return True


async def test_ingress_consumer_dies_holding_pending_entries_other_reclaims_and_finishes_them(
    stack: Stack, client: Client, db: tuple[str, Redis], tmp_path: Any
) -> None:
    url, stream_redis = db
    run = run_id()
    tids = [f"reclaim-{run}-{i:02d}" for i in range(20)]
    cfg = _ingress_settings(stack, url, ingress_batch_size=50)
    await publish(stream_redis, *(flat(tid) for tid in tids))

    dying = ingress_proc(tmp_path, cfg.model_copy(update={"ingress_crash_after_start": True}), "ingress-dying").start()
    await eventually(lambda: not dying.alive(), timeout=30, what="the first consumer to die")
    held = await stream_redis.xpending_range(constants.DECISION_STREAM, constants.INGRESS_GROUP, "-", "+", 100)
    assert len(held) == 20 and {row["consumer"] for row in held} == {held[0]["consumer"]}
    assert held[0]["consumer"].decode().startswith("ingress-")

    async with running_ingress(cfg, client) as survivor:
        await eventually(lambda: _no_pending(stream_redis), timeout=30, what="the survivor to finish the held entries")
        counts = survivor.metrics.counts
        # Redis may show the acks before the survivor has the reply and counts them.
        await eventually(lambda: counts[Count.ACKED] == 20, timeout=10, what="the survivor to count its acks")
        assert counts[Count.RECLAIMED] == 20
        assert counts[Count.STARTED] + counts[Count.DUPLICATES] == 20
        assert counts[Count.DUPLICATES] >= 1  # at least the one the dead consumer had started
    for tid in tids:
        assert await workflow_exists(client, tid)
    await eventually(lambda: _count_is(client, cfg.task_queue, 20), timeout=15, what="20 workflows")


async def test_ingress_publish_intents_setting_appends_each_intent_once(
    stack: Stack, client: Client, db: tuple[str, Redis]
) -> None:
    url, stream_redis = db
    run = run_id()
    cfg = _ingress_settings(stack, url, ingress_publish_intents=True)
    async with running_ingress(cfg, client) as ingress:
        await publish(stream_redis, flat(f"feed-{run}-a"), bus(f"feed-{run}-a"), flat(f"feed-{run}-b", action="SELL"))
        await eventually(lambda: ingress.metrics.counts[Count.ACKED] == 3, timeout=20, what="3 acks")
    entries = await stream_redis.xrange(constants.INTENT_STREAM)
    bodies = [json.loads(fields[b"data"]) for _, fields in entries]
    assert [(b["trace_id"], b["action"]) for b in bodies] == [(f"feed-{run}-a", "BUY"), (f"feed-{run}-b", "SELL")]
    assert bodies[0]["symbol"] == "BTCUSDT" and bodies[0]["quantity"] == "0.001"


async def test_worker_running_the_ingress_starts_intents_eagerly_and_fills_them(
    stack: Stack, client: Client, db: tuple[str, Redis], paper: PaperAdmin, tmp_path: Any
) -> None:
    url, stream_redis = db
    run = run_id()
    cfg = _ingress_settings(stack, url, worker_ingress=True)
    tids = [f"eager-{run}-{i}" for i in range(3)]
    await publish(stream_redis, *(flat(tid) for tid in tids))
    worker = worker_proc(tmp_path, cfg, "worker-ingress").start()
    try:
        await eventually(lambda: _no_pending(stream_redis), timeout=30, what="every entry started and acked")
        for tid in tids:
            result = await client.get_workflow_handle(tid, result_type=IntentResult).result()
            assert result.state is IntentState.FILLED
            assert len(await paper.orders_for(client_order_id(tid))) == 1
        for tid in tids:
            assert len(worker.log_entries("intent started", trace_id=tid, eager="true")) == 1
    finally:
        worker.stop()
    assert worker.popen is not None and worker.popen.returncode == 0
    assert worker.log_entries("intent started", eager="false") == []


async def test_worker_running_the_ingress_exits_when_the_ingress_fails(
    stack: Stack, db: tuple[str, Redis], tmp_path: Any
) -> None:
    # A key of the wrong type where the decision stream belongs: the ingress cannot create
    # its group. The worker must not go on polling without anyone reading decisions.
    url, stream_redis = db
    await stream_redis.set(constants.DECISION_STREAM, "not a stream")
    worker = worker_proc(tmp_path, _ingress_settings(stack, url, worker_ingress=True), "worker-ingress-fails").start()
    try:
        await eventually(lambda: not worker.alive(), timeout=30, what="the worker to exit")
    finally:
        worker.stop()
    assert worker.popen is not None and worker.popen.returncode not in (0, None)
    assert "WRONGTYPE" in worker.log_text()


# -- outages ---------------------------------------------------------------------------------


async def test_ingress_temporal_down_then_restarted_loses_nothing_acks_nothing_early(
    stack: Stack, db: tuple[str, Redis], tmp_path: Any
) -> None:
    url, stream_redis = db
    run = run_id()
    temporal, port, _ = temporal_proc(tmp_path)
    temporal.start(wait_port=port, timeout=120)
    try:
        cfg = _ingress_settings(stack, url, temporal_address=f"127.0.0.1:{port}")
        own = await connect(cfg)
        before = [f"up-{run}-{i:02d}" for i in range(10)]
        during = [f"down-{run}-{i:02d}" for i in range(15)]
        async with running_ingress(cfg, own) as ingress:
            await publish(stream_redis, *(flat(tid) for tid in before))
            await eventually(lambda: ingress.metrics.counts[Count.ACKED] == 10, timeout=30, what="the first 10 acked")

            temporal.kill()
            await publish(stream_redis, *(flat(tid) for tid in during))

            async def held_back() -> bool:
                # Reading stops while starts fail: what was read stays pending, the rest unread.
                info = await group(stream_redis)
                assert info.pending >= 1 and info.pending + (info.lag or 0) == 15, info
                return ingress.metrics.counts[Count.START_ERRORS] >= 2 * info.pending  # two failed rounds

            await eventually(held_back, timeout=60, what="failed starts retried, their entries held")
            assert ingress.metrics.counts[Count.ACKED] == 10, "nothing may be acked while Temporal is down"
            info = await group(stream_redis)
            assert info.pending + (info.lag or 0) == 15

            temporal.start(wait_port=port, timeout=120)
            await eventually(lambda: _no_pending(stream_redis), timeout=90, interval=0.5, what="the held entries started and acked")
            await eventually(lambda: ingress.metrics.counts[Count.ACKED] >= 25, timeout=10, what="the ingress to count its acks")
            assert ingress.metrics.counts[Count.ACKED] == 25
        for tid in before + during:
            assert await workflow_exists(own, tid), tid
    finally:
        temporal.stop()


async def test_ingress_redis_restarted_reconnects_and_finishes_every_entry(
    stack: Stack, client: Client, tmp_path: Any
) -> None:
    server, port = redis_proc(tmp_path, stable_port())  # restarted on it: outside the ephemeral range
    server.start(wait_port=port)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        cfg = _ingress_settings(stack, url)
        publisher = redis_client(url)
        run = run_id()
        tids = [f"redis-{run}-{i:02d}" for i in range(20)]
        async with running_ingress(cfg, client) as ingress:
            await publish(publisher, *(flat(tid) for tid in tids[:10]))
            await eventually(lambda: ingress.metrics.counts[Count.ACKED] == 10, timeout=20, what="the first 10 acked")
            server.stop()
            server.start(wait_port=port)
            await publisher.aclose()
            publisher = redis_client(url)
            await publish(publisher, *(flat(tid) for tid in tids[10:]))
            await eventually(lambda: ingress.metrics.counts[Count.ACKED] == 20, timeout=30, what="the next 10 acked")
            assert (await group(publisher)).pending == 0
        await publisher.aclose()
        for tid in tids:
            assert await workflow_exists(client, tid), tid
    finally:
        server.stop()


async def test_dead_letter_written_twice_for_one_entry_appends_once_and_acks(db: tuple[str, Redis]) -> None:
    _, stream_redis = db
    ops = StreamOps(stream_redis)
    await ensure_group(stream_redis, ops.stream, ops.group, "0")
    [entry_id] = await publish(stream_redis, {"data": "{broken"})
    await stream_redis.xreadgroup(ops.group, "a", {ops.stream: ">"})
    fields = dead_letter_fields(entry_id, "data is not valid JSON", "a", {b"data": b"{broken"})
    for _ in range(2):  # a redelivery, or a second consumer that reclaimed it, does it again
        async with stream_redis.pipeline(transaction=False) as pipe:
            await ops.dead_letter(pipe, entry_id, fields)
            await pipe.execute()
    letters = await dead_letters(stream_redis)
    assert len(letters) == 1
    assert letters[0][b"source_id"] == entry_id.encode() and letters[0][b"orig.data"] == b"{broken"
    assert (await group(stream_redis)).pending == 0
