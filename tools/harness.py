"""A local stack that ``proof`` and ``chaos`` can break on purpose.

Either a fresh ``quantum-trader dev`` stack supervised in this process (:func:`fresh_stack`),
or an already running one described by its ``--ready-file`` (:func:`attached_stack`). Both
give a :class:`Harness`: the stack's settings and clients, and :meth:`Harness.restart`,
which SIGKILLs one component and waits until the supervisor has a healthy replacement.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from temporalio.client import Client

from paper_exchange.admin_client import PaperAdmin
from quantum_trader.cli import CommandError
from quantum_trader.connections import redis_client
from quantum_trader.settings import Settings
from quantum_trader.temporal import connect
from tools.dev import HOST, DevStack, StackOptions, WorkerVariant, settings_environment
from tools.partition import Partition
from tools.supervisor import ChildFailed

T = TypeVar("T")
COMPONENTS = ("redis", "temporal", "exchange", "worker", "ingress")
# The second worker a fresh stack may run, with its clock skewed by libfaketime.
SKEWED_WORKER = "worker-skewed"
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
# The fresh stack's ingress takes over a dead consumer's entries after this long.
FRESH_RECLAIM_IDLE_MS = 3_000
# How long an admin call waits for a restarting exchange.
EXCHANGE_RESTART_SECONDS = 120.0


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """``--home`` for a fresh stack or ``--stack`` for a running one (shared by proof and chaos)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--home", type=Path, help="start a fresh stack with its state here (default: a new temporary folder)")
    where.add_argument("--stack", type=Path, metavar="READY_FILE",
                       help="use the running `quantum-trader dev --ready-file READY_FILE` stack instead of starting one")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home (and its logs) afterwards")


class Unavailable(RuntimeError):
    """A component did not come back within its bound."""


@dataclass
class Harness:
    """A running stack: its settings, clients, component pids and a way to restart each."""

    settings: Settings
    home: Path
    pid_of: Callable[[str], int | None]
    healthy: Callable[[str], Awaitable[bool]]
    out: Any = field(default=sys.stderr)
    _client: Client | None = None
    _redis: Redis | None = None
    restarts: dict[str, int] = field(default_factory=dict)
    # Fresh stacks only: the proxy between the supervised worker and Temporal (when asked for),
    # and a way to change a child's environment before its next start.
    partition: Partition | None = None
    set_environment: Callable[[str, dict[str, str]], None] | None = None
    # Fresh stacks only: tell the supervisor a kill is deliberate, so that the proof's and the
    # chaos run's many kills never reach its crash-loop limit.
    announce_kill: Callable[[str], None] | None = None

    @property
    def exchange_url(self) -> str:
        assert self.settings.exchange_url is not None
        return self.settings.exchange_url.rstrip("/")

    def log_path(self, component: str) -> Path:
        return self.home / "logs" / f"{component}.log"

    def say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    async def client(self, timeout: float = 120.0) -> Client:
        """The stack's Temporal client; the first call waits while Temporal restarts."""
        deadline = time.monotonic() + timeout
        while self._client is None:
            try:
                self._client = await connect(self.settings)
            except RuntimeError:  # the SDK's "Failed client connect"
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)
        return self._client

    def redis(self) -> Redis:
        if self._redis is None:
            self._redis = redis_client(self.settings, socket_connect_timeout=5, socket_timeout=30)
        return self._redis

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        self._client = None

    async def redis_call(self, operation: Callable[[Redis], Awaitable[T]], timeout: float = 120.0) -> T:
        """Run a Redis command, retrying while Redis restarts."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return await operation(self.redis())
            except REDIS_DOWN:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)

    async def restart(self, component: str, timeout: float = 180.0) -> tuple[int, int]:
        """SIGKILL ``component``'s process group; wait for its healthy replacement.

        Returns the old and the new pid. The supervisor (``quantum-trader dev``) starts
        the replacement; this only kills and waits.
        """
        old = self.kill(component)
        new = await self.wait_replaced(component, old, timeout)
        self.restarts[component] = self.restarts.get(component, 0) + 1
        return old, new

    def kill(self, component: str) -> int:
        """SIGKILL ``component``'s process group, announced to the supervisor; its old pid."""
        old = self.pid_of(component)
        if old is None:
            raise Unavailable(f"{component} is not part of this stack")
        if self.announce_kill is not None:
            self.announce_kill(component)
        kill_group(old)
        return old

    async def wait_replaced(self, component: str, old: int, timeout: float = 180.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.pid_of(component)
            if pid is not None and pid != old and _alive(pid):
                with contextlib.suppress(Exception):
                    if await self.healthy(component):
                        return pid
            await asyncio.sleep(0.2)
        raise Unavailable(f"{component} was not replaced within {timeout:.0f}s; see {self.log_path(component)}")

    @property
    def paper(self) -> PaperAdmin:
        """The exchange's admin API; each call retries while the exchange restarts."""
        return PaperAdmin(self.exchange_url, retry_for=EXCHANGE_RESTART_SECONDS)

    def child_environment(self, **extra: str) -> dict[str, str]:
        """Environment for an extra process of this stack (e.g. a second ingress)."""
        base = {key: value for key, value in os.environ.items() if not key.startswith("QT_")}
        return {**base, **settings_environment(self.settings), **extra}


# --- a fresh stack, supervised here ---------------------------------------------------


def faketime_environment(offset: str) -> dict[str, str]:
    """A process environment whose wall clock is moved by ``offset`` (``+2s``, ``-2s``); monotonic time is not."""
    return {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


@contextlib.asynccontextmanager
async def fresh_stack(
    home: Path, base: Settings, out: Any = sys.stderr, stack_class: type[DevStack] = DevStack, *,
    partitioned_worker: bool = False, skewed_worker: str | None = None, order_events: bool = True,
) -> AsyncIterator[Harness]:
    """Start ``quantum-trader dev``'s stack in ``home`` on free ports and supervise it here.

    ``stack_class`` lets tests swap a component for one with a protection removed.
    ``partitioned_worker`` points the supervised worker at Temporal through a
    :class:`~tools.partition.Partition` (``Harness.partition``) while its exchange stays direct;
    ``skewed_worker`` (e.g. ``+2s``) adds a second worker, :data:`SKEWED_WORKER`, whose clock
    libfaketime moves by that much. ``order_events`` runs the exchange events listener.
    """
    temporal_port = free_port()
    partition = await Partition(HOST, temporal_port).start() if partitioned_worker else None
    workers = [WorkerVariant("worker", temporal_address=partition.address if partition else None)]
    if skewed_worker is not None:
        workers.append(WorkerVariant(SKEWED_WORKER, env=faketime_environment(skewed_worker)))
    options = StackOptions(
        home=home.resolve(), temporal_port=temporal_port, ui_port=free_port(), redis_port=free_port(), exchange_port=free_port(),
        workers=tuple(workers), order_events=order_events,
    )
    # The proof and chaos kill the worker and the ingress separately: keep them two processes.
    settings = base.model_copy(update={
        "ingress_reclaim_idle_ms": min(base.ingress_reclaim_idle_ms, FRESH_RECLAIM_IDLE_MS),
        "worker_ingress": False,
    })
    stack = stack_class(options, settings, out=out)
    stopping = asyncio.Event()
    with stack.locked():
        try:
            await stack.start(stopping)
            supervisor = asyncio.create_task(stack.supervise(stopping))
            children = {child.name: child for child in stack.children}

            def pid_of(name: str) -> int | None:
                child = children.get(name)
                return child.pid if child is not None and child.running() else None

            async def healthy(name: str) -> bool:
                # Healthy as the supervisor saw it: its restarts run one at a time, so a component
                # killed while it still waits for another's replacement would never be restarted.
                child = children[name]
                return child.running() and child.healthy_pid == child.pid and bool(await child.health(child))

            def set_environment(name: str, env: dict[str, str]) -> None:
                children[name].env.update(env)

            def announce_kill(name: str) -> None:
                children[name].announced_exits += 1

            harness = Harness(stack.settings, stack.home, pid_of, healthy, out=out, partition=partition,
                              set_environment=set_environment, announce_kill=announce_kill)
            try:
                yield harness
            finally:
                stopping.set()
                await harness.close()
                with contextlib.suppress(asyncio.CancelledError, ChildFailed):
                    await supervisor
        finally:
            if partition is not None:
                partition.resume()
            await stack.stop()
            if partition is not None:
                await partition.stop()


@contextlib.asynccontextmanager
async def attached_stack(ready_file: Path, base: Settings, out: Any = sys.stderr) -> AsyncIterator[Harness]:
    """A running ``quantum-trader dev`` stack, from its ready file; its supervisor restarts what we kill."""
    info = read_ready(ready_file)
    keys = Path(info["home"]) / "exchange-keys.json"
    updates: dict[str, Any] = {
        "temporal_address": info["temporal_address"],
        "temporal_namespace": info.get("temporal_namespace", base.temporal_namespace),
        "task_queue": info.get("task_queue", base.task_queue),
        "redis_url": info["redis_url"],
        "exchange_url": info["exchange_url"],
    }
    if keys.exists():
        pair = json.loads(keys.read_text())
        updates |= {"binance_api_key": pair["api_key"], "binance_api_secret": pair["api_secret"], "unknown_outcome_grace_ms": 1000}
    settings = base.model_copy(update=updates)

    def pid_of(name: str) -> int | None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            return read_ready(ready_file)["pids"].get(name)
        return None

    async def healthy(name: str) -> bool:
        # The supervisor rewrites the ready file only once the replacement is healthy.
        return pid_of(name) is not None

    harness = Harness(settings, Path(info["home"]), pid_of, healthy, out=out)
    try:
        yield harness
    finally:
        await harness.close()


@contextlib.asynccontextmanager
async def stack_from_args(
    args: argparse.Namespace, settings: Settings, out: Any = sys.stderr, *, partitioned_worker: bool = False,
    skewed_worker: str | None = None, order_events: bool = True,
) -> AsyncIterator[Harness]:
    """The stack ``--stack``/``--home`` name; the worker and listener options apply to a fresh stack only."""
    extra = {"partitioned_worker": partitioned_worker, "skewed_worker": skewed_worker, "order_events": order_events}
    if args.stack is not None:
        if not args.stack.exists():
            raise CommandError(f"no ready file at {args.stack}; start `quantum-trader dev --ready-file {args.stack}` first")
        async with attached_stack(args.stack, settings, out) as harness:
            yield harness
        return
    if args.home is not None:
        async with fresh_stack(args.home, settings, out, **extra) as harness:
            yield harness
        return
    folder = Path(tempfile.mkdtemp(prefix="qt-stack-"))
    try:
        async with fresh_stack(folder, settings, out, **extra) as harness:
            yield harness
    finally:
        if args.keep:
            out.write(f"home kept: {folder}\n")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def read_ready(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by ``pid`` (each supervised child leads its own)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
