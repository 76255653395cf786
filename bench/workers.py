"""Worker processes the benchmark starts: the ceiling's, and this system's with extra options.

    python -m bench.workers ceiling|system [--max-concurrent-activities N]
        [--max-concurrent-workflow-tasks N] [--max-cached-workflows N] [--option KEY=VALUE ...]

``system`` runs the project's own worker (:func:`workers.worker.serve`) with any further
``temporalio.worker.Worker`` option (pollers, cache size, workflow runner); ``ceiling`` runs
only :class:`BenchEmptyWorkflow` with the same options, and starts one for each entry on the
decision stream from its own client, so every start can be eager (the server hands the first
workflow task back in the start response only to a worker on the starting client).
Settings come from ``QT_*``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from typing import Any

from temporalio.worker import PollerBehaviorAutoscaling, UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from redis.asyncio import Redis
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from bench.empty_workflow import EMPTY_WORKFLOW_NAME, BenchEmptyWorkflow
from quantum_trader import constants, gc_policy, logs
from quantum_trader.connections import redis_client
from quantum_trader.settings import Settings
from quantum_trader.temporal import connect
from workers.worker import worker_defaults

log = logging.getLogger(__name__)


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` into a Worker keyword: ints, floats and booleans become values, and
    ``workflow_runner=unsandboxed|passthrough`` / ``*_poller_behavior=autoscaling`` become
    objects. ``passthrough`` keeps the sandbox's checks but imports every module once, not
    once per workflow run."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    value: Any = raw
    if raw.lower() in ("true", "false"):
        value = raw.lower() == "true"
    else:
        for kind in (int, float):
            try:
                value = kind(raw)
                break
            except ValueError:
                continue
    if key == "workflow_runner":
        runners = {
            "unsandboxed": UnsandboxedWorkflowRunner,
            "passthrough": lambda: SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_all_modules()),
        }
        if raw not in runners:
            raise argparse.ArgumentTypeError("workflow_runner accepts 'unsandboxed' or 'passthrough'")
        value = runners[raw]()
    elif key.endswith("_poller_behavior"):
        if raw != "autoscaling":
            raise argparse.ArgumentTypeError(f"{key} accepts only 'autoscaling'")
        value = PollerBehaviorAutoscaling()
    return key, value


def worker_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "max_concurrent_activities": args.max_concurrent_activities,
        "max_concurrent_workflow_tasks": args.max_concurrent_workflow_tasks,
    }
    if args.max_cached_workflows is not None:
        options["max_cached_workflows"] = args.max_cached_workflows
    options.update(dict(args.option or []))
    return options


async def serve_ceiling(settings: Settings, options: dict[str, Any]) -> None:
    client = await connect(settings)
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[BenchEmptyWorkflow],
        **{**worker_defaults(settings), **options},
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("ceiling worker polling task_queue=%s options=%s", settings.task_queue, sorted(options))
    redis = redis_client(settings)
    async with worker:
        starter = asyncio.create_task(start_from_stream(client, redis, settings, stop))
        await stop.wait()
        starter.cancel()
    await redis.aclose()


async def start_from_stream(client: Client, redis: Redis, settings: Settings, stop: asyncio.Event) -> None:
    """Start an empty workflow, eagerly, for every new entry on the decision stream.

    A plain XREAD from the newest entry: the ceiling measures Temporal, not delivery
    guarantees, so there is no group, acknowledgement or dead-letter stream.
    """
    gate = asyncio.Semaphore(settings.ingress_max_concurrent_starts)
    pending: set[asyncio.Task[None]] = set()

    async def start(trace_id: str) -> None:
        try:
            await client.start_workflow(
                EMPTY_WORKFLOW_NAME, trace_id, id=trace_id, task_queue=settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE, request_eager_start=True,
            )
        except Exception:  # the run reports it as lost
            log.exception("ceiling start failed trace_id=%s", trace_id)
        finally:
            gate.release()

    last: bytes | str = "$"
    while not stop.is_set():
        batches = await redis.xread({constants.DECISION_STREAM: last}, count=settings.ingress_batch_size,
                                    block=settings.ingress_block_ms)
        for _, entries in batches:
            for entry_id, fields in entries:
                last = entry_id
                await gate.acquire()  # read no further than the starts in flight allow
                task = asyncio.create_task(start(fields[b"trace_id"].decode()))
                pending.add(task)
                task.add_done_callback(pending.discard)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("ceiling", "system"))
    parser.add_argument("--max-concurrent-activities", type=int, default=200)
    parser.add_argument("--max-concurrent-workflow-tasks", type=int, default=100)
    parser.add_argument("--max-cached-workflows", type=int)
    parser.add_argument("--option", type=parse_option, action="append", metavar="KEY=VALUE")
    args = parser.parse_args()
    settings = Settings()
    logs.configure(settings, f"bench-{args.kind}-worker")
    options = worker_options(args)
    if args.kind == "ceiling":
        gc_policy.apply()  # as the production worker's serve() does
        asyncio.run(serve_ceiling(settings, options))
    else:
        from workers.worker import serve

        asyncio.run(serve(settings, **options))
    # Leave without interpreter teardown, as the console script does (temporalio/sdk-python#300).
    sys.stderr.flush()
    logging.shutdown()
    os._exit(0)


if __name__ == "__main__":
    main()
