"""``quantum-trader worker``: runs TradeIntentWorkflow, ProtectionWorkflow and their activities.

Before it polls, the worker checks what it needs (:mod:`quantum_trader.startup`): exchange
keys are set (else exit 2); Temporal answers (waited for, with backoff, for up to
``QT_STARTUP_TIMEOUT_SECONDS``, then exit 1); the exchange takes the keys and keeps a clock
within ``recvWindow`` of this host's (refused keys or a clock beyond the window exit 2 at
once). An exchange still unreachable when that time is up is logged and the worker polls
anyway: running intents need it to reach their deadlines. It registers the search attributes (an unregistered one stalls workflows) and,
where it may, sets the namespace's retention to the dedup window. SIGTERM or SIGINT stops
polling, lets running activities finish, then exits.

Every exchange request goes through the request-weight budget all workers share in Redis
(:mod:`activities.exchange.budget`; ``QT_EXCHANGE_BUDGET_*``); the worker reads the
exchange's ``rateLimits`` once at start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import PollerBehaviorAutoscaling, UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import metrics
from activities.exchange import Exchange, ExchangeConfigError, FuturesExchange, OutcomeUnknown, RequestRefused
from activities.exchange.binance import BinanceExchange
from activities.exchange.budget import RequestBudget
from activities.futures import FuturesActivities
from activities.results import ResultActivities
from activities.trading import TradingActivities
from quantum_trader import gc_policy, logs
from quantum_trader.connections import redis_client
from quantum_trader.settings import Settings
from quantum_trader.startup import Deadline, StartRefused, Unreachable, until_reachable
from quantum_trader.temporal import connect_at_start, ensure_retention, ensure_search_attributes
from workflows.protection import ProtectionWorkflow
from workflows.trade_intent import TradeIntentWorkflow

log = logging.getLogger(__name__)


def _at_least(minimum: int):  # noqa: ANN202 - an argparse type
    def count(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-concurrent-activities", type=_at_least(1), default=200)
    parser.add_argument("--max-concurrent-workflow-tasks", type=_at_least(1), default=100)
    parser.add_argument(
        "--max-cached-workflows", type=_at_least(0), default=1000,
        help="intents kept in memory between their tasks (default 1,000); past it, the next task of an "
             "evicted intent replays its history first: keep it above the intents one worker follows")


def run(args: argparse.Namespace, settings: Settings) -> int:
    logs.configure(settings, "worker")
    logs.temporal_context_in_fields()
    asyncio.run(
        serve(
            settings,
            max_concurrent_activities=args.max_concurrent_activities,
            max_concurrent_workflow_tasks=args.max_concurrent_workflow_tasks,
            max_cached_workflows=args.max_cached_workflows,
        )
    )
    return 0


def require_keys(settings: Settings) -> None:
    """Without exchange keys every intent would fail its approval: refuse to start instead."""
    if not (settings.binance_api_key and settings.binance_api_key.get_secret_value()
            and settings.binance_api_secret and settings.binance_api_secret.get_secret_value()):
        raise StartRefused("QT_BINANCE_API_KEY and QT_BINANCE_API_SECRET must both be set (or their _FILE variants)")


async def check_exchange(exchange: Exchange, settings: Settings, deadline: Deadline) -> None:
    """Wait until the exchange answers; refuse keys it refuses and a clock off its own by
    more than ``recvWindow`` (the offset measured net of half the round trip)."""

    async def check() -> None:
        try:
            await checked()
        except OutcomeUnknown as error:  # nothing was sent that could trade: it is unreachable
            raise ConnectionError(str(error).removeprefix("outcome unknown: ")) from None

    async def checked() -> None:
        reading = await exchange.read_clock()
        if abs(reading.offset_ms) - reading.round_trip_ms / 2 > settings.recv_window_ms:
            direction = "ahead of" if reading.offset_ms > 0 else "behind"
            raise StartRefused(
                f"clock skew: the exchange's clock ({exchange.url}) is {abs(reading.offset_ms)} ms {direction} this host's "
                f"(round trip {reading.round_trip_ms} ms), more than QT_RECV_WINDOW_MS={settings.recv_window_ms}; "
                "synchronise this host's clock"
            )
        try:
            await exchange.check_credentials()
        except ExchangeConfigError as error:
            refusal = str(error).removeprefix("exchange refused credentials: ")
            raise StartRefused(
                f"the exchange at {exchange.url} refused the API keys: {refusal} (check QT_BINANCE_API_KEY and QT_BINANCE_API_SECRET)"
            ) from None
        log.info("exchange checked", extra={"url": exchange.url, "clock_offset_ms": reading.offset_ms, "round_trip_ms": reading.round_trip_ms})

    await until_reachable("exchange", exchange.url, check, deadline, (ConnectionError, RequestRefused))


def build_worker(client: Client, settings: Settings, gateway: FuturesExchange, redis: Redis, **options) -> Worker:  # noqa: ANN003
    trading = TradingActivities(settings, gateway, redis)
    futures = FuturesActivities(settings, gateway, redis, events=trading.events)
    results = ResultActivities(settings, redis)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[TradeIntentWorkflow, ProtectionWorkflow],
        activities=[
            trading.approve_intent,
            trading.place_order,
            trading.watch_order,
            trading.cancel_order,
            futures.approve_futures_intent,
            futures.set_leverage,
            futures.place_protection,
            futures.cancel_protection,
            futures.watch_protection,
            futures.close_position,
            results.publish_result,
        ],
        **{**worker_defaults(settings), **options},
    )


def worker_defaults(settings: Settings) -> dict[str, Any]:
    """Worker options this project runs with (the benchmark's ceiling worker uses them too)."""
    return {
        "graceful_shutdown_timeout": timedelta(seconds=10),
        "workflow_runner": workflow_runner(settings),
        "workflow_task_poller_behavior": PollerBehaviorAutoscaling(),
        "activity_task_poller_behavior": PollerBehaviorAutoscaling(),
    }


def workflow_runner(settings: Settings) -> WorkflowRunner:
    """The SDK sandbox when ``QT_WORKFLOW_SANDBOX`` is set, else the plain runner. The
    workflow tests set it and history replays always use it, so a non-deterministic call
    in workflow code fails a test.

    With the sandbox every module is passed through (imported once, not once per run):
    the workflows keep no module-level state. The sandbox costs about a fifth of the
    worker's CPU per intent (``make bench``)."""
    if settings.workflow_sandbox:
        return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_all_modules())
    return UnsandboxedWorkflowRunner()


async def _with_ingress(settings: Settings, client: Client, stop: asyncio.Event) -> None:
    """Run the ingress on the worker's own client until ``stop``. Its starts are eager: the
    server hands each new workflow's first task back in the start response instead of
    through a poll. If the ingress fails, the worker stops too, so that a supervisor
    restarts both rather than leaving a worker that reads no decisions."""
    from workers.ingress import consume

    log.info("worker runs the ingress (eager workflow starts)")
    ingress = asyncio.create_task(consume(settings, client, stop))
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait((ingress, stopped), return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    stopped.cancel()
    await ingress  # an ingress failure propagates: leaving the worker's block shuts it down


async def prepare(client: Client, settings: Settings) -> None:
    """Namespace set-up that must precede polling."""
    await ensure_search_attributes(client, settings.temporal_namespace)
    await ensure_retention(client, settings.temporal_namespace, settings.dedup_retention_days)


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime exporting Prometheus metrics, when a metrics port is set."""
    if settings.worker_metrics_port is None:
        return None
    bind = f"{settings.worker_metrics_host}:{settings.worker_metrics_port}"
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind)))


async def serve(settings: Settings, **options) -> None:  # noqa: ANN003
    require_keys(settings)
    deadline = Deadline(settings.startup_timeout_seconds)
    runtime = metrics_runtime(settings)
    client = await connect_at_start(settings, deadline, **({"runtime": runtime} if runtime else {}))
    assert client is not None  # no stop event: it connects or raises
    meter = runtime.metric_meter if runtime is not None else MetricMeter.noop
    if runtime is not None:
        metrics.start_at_zero(meter)
        log.info("worker metrics", extra={"url": f"http://{settings.worker_metrics_host}:{settings.worker_metrics_port}/metrics"})
    await prepare(client, settings)
    budget = RequestBudget.for_settings(settings, meter)
    gateway = BinanceExchange(settings, meter, budget)
    try:
        await check_exchange(gateway, settings, deadline)
        await gateway.load_rate_limits()
    except Unreachable as error:
        # Running intents need a worker to reach their deadlines while the exchange is down;
        # their activities retry it and they end as the fault model says.
        log.warning("exchange unreachable at start, polling anyway", extra={"url": gateway.url, "error": str(error)})
    except BaseException:
        await gateway.close()
        await budget.close()
        raise
    redis = redis_client(settings)
    worker = build_worker(client, settings, gateway, redis, **options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    gc_policy.apply()  # after start-up: what it built is frozen out of collections
    log.info("worker polling", extra={
        "task_queue": settings.task_queue, "namespace": settings.temporal_namespace, "address": settings.temporal_address})
    async with worker:
        if settings.worker_ingress:
            await _with_ingress(settings, client, stop)
        else:
            await stop.wait()
        log.info("worker stopping")
    await gateway.close()
    await budget.close()
    await redis.aclose()
    log.info("worker stopped")
