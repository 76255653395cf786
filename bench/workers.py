"""Worker processes the benchmark starts: the ceiling's, and this system's with extra options.

    python -m bench.workers ceiling|system [--max-concurrent-activities N]
        [--max-concurrent-workflow-tasks N] [--option KEY=VALUE ...]

``system`` runs the project's own worker (:func:`workers.worker.serve`) with any further
``temporalio.worker.Worker`` option (pollers, cache size, workflow runner); ``ceiling`` runs
only :class:`BenchEmptyWorkflow` with the same options. Settings come from ``QT_*``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from datetime import timedelta
from typing import Any

from temporalio.worker import PollerBehaviorAutoscaling, UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from bench.empty_workflow import BenchEmptyWorkflow
from quantum_trader import logs
from quantum_trader.settings import Settings
from quantum_trader.temporal import connect

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
    options.update(dict(args.option or []))
    return options


async def serve_ceiling(settings: Settings, options: dict[str, Any]) -> None:
    client = await connect(settings)
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[BenchEmptyWorkflow],
        graceful_shutdown_timeout=timedelta(seconds=5),
        **options,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("ceiling worker polling task_queue=%s options=%s", settings.task_queue, sorted(options))
    async with worker:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("ceiling", "system"))
    parser.add_argument("--max-concurrent-activities", type=int, default=200)
    parser.add_argument("--max-concurrent-workflow-tasks", type=int, default=100)
    parser.add_argument("--option", type=parse_option, action="append", metavar="KEY=VALUE")
    args = parser.parse_args()
    settings = Settings()
    logs.configure(settings, f"bench-{args.kind}-worker")
    options = worker_options(args)
    if args.kind == "ceiling":
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
