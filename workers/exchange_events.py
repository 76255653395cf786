"""``quantum-trader exchange-events``: the exchange's user data streams into the order events store.

One connection per market (``QT_EXCHANGE_EVENTS_MARKETS``: spot's WebSocket API
subscription, the USDⓈ-M listenKey stream), each event merged into Redis by
:class:`~activities.exchange.order_events.OrderEventStore`, which only moves an order
forward: several listeners may run at once, and a repeated or late event changes nothing.

* At start it waits for Redis like the worker (``QT_STARTUP_TIMEOUT_SECONDS``, then exit 1);
  without API keys it refuses at once (exit 2).
* A connection that closes, is refused, goes silent for ``QT_STREAM_SILENCE_SECONDS``, or
  says ``serverShutdown`` / ``eventStreamTerminated`` / ``listenKeyExpired`` is opened again
  after a capped exponential backoff with jitter (never a spin).
* Every ``QT_EXCHANGE_EVENTS_REFRESH_SECONDS`` it writes each market's health under its own
  listener ID (``quantum:user-streams:{market}``, one record per listener: connected,
  connected_at_ms, last_message_ms, last_event_ms), expiring after three times that, so a
  dead listener leaves nothing "connected" behind. The worker's watch trusts the store while
  some listener's record says healthy.
* With ``QT_EXCHANGE_EVENTS_RECONCILE`` (the default) it also does the mass reconcile
  (:mod:`activities.mass_reconcile`): one open-orders request per symbol with watched orders
  every ``QT_RECONCILE_SECONDS``, through the fleet's request budget, one round at a time in
  the fleet.
* The futures listenKey is extended every ``QT_EXCHANGE_EVENTS_LISTEN_KEY_KEEPALIVE_SECONDS``.
* SIGTERM or SIGINT closes the streams, marks them disconnected and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
import uuid

import aiohttp
from redis.asyncio import Redis

from activities.exchange import order_events, stream_parse, user_streams
from activities.exchange.binance import BinanceExchange
from activities.exchange.budget import RequestBudget
from activities.exchange.order_events import Applied, OrderEventStore, StreamHealth
from activities.exchange.stream_metrics import StreamMetrics
from activities.exchange.user_streams import Endpoints, StreamError
from activities.mass_reconcile import MassReconciler
from quantum_trader import connections, logs
from quantum_trader.models import Market
from quantum_trader.settings import Settings
from quantum_trader.startup import Backoff, Deadline, StartRefused, short_reason, until_reachable

log = logging.getLogger(__name__)
# A connection that lived this long was healthy: the next reconnect starts its backoff afresh.
STABLE_CONNECTION_SECONDS = 10.0
STREAM_FAILURES = (StreamError, aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError, KeyError, *connections.REDIS_DOWN)


def now_ms() -> int:
    return int(time.time() * 1000)


def listener_id() -> str:
    """This process's name in the health records and the reconcile lock."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class MarketListener:
    """One market's stream: connect, apply events, reconnect; its health for the refresher."""

    def __init__(self, settings: Settings, store: OrderEventStore, session: aiohttp.ClientSession,
                 metrics: StreamMetrics, where: Endpoints, name: str) -> None:
        self._settings, self._store, self._session, self._metrics = settings, store, session, metrics
        self.where = where
        self.name = name
        self.market = where.market
        self.health = StreamHealth(False, 0, 0, 0)
        self._backoff = Backoff(settings.exchange_events_backoff_initial_seconds, settings.exchange_events_backoff_max_seconds)

    async def run(self) -> None:
        """Hold the stream until cancelled."""
        while True:
            started = time.monotonic()
            try:
                await self._connection()
                reason = "closed"
            except STREAM_FAILURES as error:
                reason = short_reason(error)
            self._set(connected=False)
            self._metrics.connected.labels(self.market).set(0)
            with contextlib.suppress(*connections.REDIS_DOWN):
                await self._write_health()
            if time.monotonic() - started >= STABLE_CONNECTION_SECONDS:
                self._backoff.reset()
            delay = self._backoff.next()
            self._metrics.reconnects.labels(self.market).inc()
            log.warning("user data stream lost", extra={"market": self.market, "error": reason, "retry_in_s": round(delay, 2)})
            await asyncio.sleep(delay)

    async def _connection(self) -> None:
        ws, key = await user_streams.open_stream(self._session, self.where, self._settings, self._on_frame)
        keepalive = asyncio.create_task(self._keep_alive(ws, key)) if key is not None else None
        try:
            at = now_ms()
            self._set(connected=True, connected_at_ms=at, last_message_ms=at)
            self._metrics.connected.labels(self.market).set(1)
            await self._write_health()
            log.info("user data stream connected", extra={"market": self.market, "url": self.where.ws_url})
            refresh = self._settings.exchange_events_refresh_seconds
            async for event in user_streams.frames(ws, self._on_frame, ping_every=refresh, silence=self._settings.stream_silence_seconds):
                await self._apply(event)
        finally:
            if keepalive is not None:
                keepalive.cancel()
            await ws.close()

    async def _keep_alive(self, ws: aiohttp.ClientWebSocketResponse, key: str) -> None:
        api_key, _ = self._settings.binance_credentials
        while True:
            await asyncio.sleep(self._settings.exchange_events_listen_key_keepalive_seconds)
            try:
                await user_streams.listen_key(self._session, self.where, api_key, "PUT")
            except (StreamError, aiohttp.ClientError, OSError, asyncio.TimeoutError) as error:
                log.warning("listenKey keepalive failed", extra={"market": self.market, "error": short_reason(error)})
                await ws.close()  # a new connection makes a new key
                return

    async def _apply(self, event: dict) -> None:
        parsed = stream_parse.parse(event)
        if parsed is None:
            return
        self._set(last_event_ms=now_ms())
        if isinstance(parsed, order_events.OrderEvent):
            applied = await self._store.apply_order(parsed)
        else:
            applied = await self._store.apply_algo(parsed)
        counter = self._metrics.duplicates if applied is Applied.DUPLICATE else self._metrics.applied
        counter.labels(self.market).inc()
        if parsed.event_ms:
            self._metrics.lag.labels(self.market).observe(max(0.0, (now_ms() - parsed.event_ms) / 1000))

    def _on_frame(self) -> None:
        self._set(last_message_ms=now_ms())

    def _set(self, **changes: object) -> None:
        self.health = StreamHealth(**{**self.health.__dict__, **changes})  # type: ignore[arg-type]

    async def _write_health(self) -> None:
        ttl = 3 * self._settings.exchange_events_refresh_seconds
        await self._store.write_health(self.market, self.name, self.health, ttl, now_ms())


async def refresh_health(listeners: list[MarketListener], store: OrderEventStore, every: float) -> None:
    """Keep this listener's health records fresh (each expires after three intervals)."""
    while True:
        await asyncio.sleep(every)
        for listener in listeners:
            try:
                await store.write_health(listener.market, listener.name, listener.health, 3 * every, now_ms())
            except connections.REDIS_DOWN as error:
                log.warning("stream health not written", extra={"market": listener.market, "error": short_reason(error)})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port")


def run(args: argparse.Namespace, settings: Settings) -> int:
    logs.configure(settings, "exchange-events")
    if args.metrics_port is not None:
        settings = settings.model_copy(update={"exchange_events_metrics_port": args.metrics_port})
    try:
        settings.binance_credentials
    except ValueError as error:
        raise StartRefused(str(error)) from None
    return asyncio.run(serve(settings))


async def serve(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    redis = connections.redis_client(settings)
    try:
        where = connections.redis_location(settings)
        if await until_reachable("Redis", where, redis.ping, Deadline(settings.startup_timeout_seconds), connections.REDIS_DOWN, stop=stop) is None:
            return 0
        await listen(settings, redis, stop)
    finally:
        await redis.aclose()
    return 0


async def listen(settings: Settings, redis: Redis, stop: asyncio.Event, metrics: StreamMetrics | None = None) -> None:
    """Hold every configured market's stream until ``stop``."""
    metrics = metrics or StreamMetrics()
    markets = tuple(dict.fromkeys(settings.exchange_events_markets))
    metrics.start(markets)
    if settings.exchange_events_metrics_port is not None:
        metrics.serve(settings.exchange_events_metrics_port, settings.exchange_events_metrics_host)
    store = OrderEventStore(redis, settings.order_events_ttl_seconds)
    name = listener_id()
    budget = RequestBudget.for_settings(settings) if settings.exchange_events_reconcile else None
    exchange = BinanceExchange(settings, budget=budget) if budget is not None else None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=settings.exchange_timeout_seconds)) as session:
        listeners = [MarketListener(settings, store, session, metrics, user_streams.endpoints(settings, m), name) for m in markets]
        tasks = [asyncio.create_task(listener.run()) for listener in listeners]
        tasks.append(asyncio.create_task(refresh_health(listeners, store, settings.exchange_events_refresh_seconds)))
        try:
            if exchange is not None:
                # The fleet's budget is the limits the exchange announces (exchangeInfo), as the
                # workers take them; unreadable, Binance's published ones, with a warning.
                await exchange.load_rate_limits()
                reconciler = MassReconciler(settings, exchange, store, name)
                tasks += [asyncio.create_task(reconciler.run(Market(m))) for m in markets]
            log.info("exchange events listener started", extra={
                "markets": ",".join(markets), "listener": name, "mass_reconcile": exchange is not None})
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for listener in listeners:
                listener.health = StreamHealth(False, listener.health.connected_at_ms, listener.health.last_message_ms,
                                               listener.health.last_event_ms)
                with contextlib.suppress(*connections.REDIS_DOWN):
                    await store.write_health(listener.market, name, listener.health, 3 * settings.exchange_events_refresh_seconds, now_ms())
            if exchange is not None and budget is not None:
                await exchange.close()
                await budget.close()
    log.info("exchange events listener stopped")
