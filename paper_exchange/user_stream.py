"""Delivery of user data stream events to connected clients, with stream faults applied.

The engine hands every change to :meth:`UserStreams.publish` synchronously, in exchange
order; each connection renders it in its market's shape and queues it. One sender task per
connection writes the queue out in order (a ``stream_delay`` fault only moves when each
item may leave). What a fault does to the events is decided here, per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from asyncio import BaseTransport
from collections.abc import Callable
from typing import Any

from aiohttp import web

from paper_exchange import faults as fault_kinds
from paper_exchange import stream_render
from paper_exchange.events import StreamEvent
from paper_exchange.faults import FaultBook
from paper_exchange.listen_keys import ListenKeys
from paper_exchange.orders import SPOT

log = logging.getLogger("paper_exchange.streams")
GOING_AWAY = 1001
SHUTDOWN_TIMEOUT_SECONDS = 2.0
# Queue item that makes the sender close the connection once everything before it is sent.
_CLOSE = None


def dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


class Connection:
    """One stream WebSocket: a spot WebSocket API connection or a futures listenKey stream.

    Attributes:
        market: ``spot`` or ``usdm``.
        listen_key: the futures stream's key (``None`` on spot).
        subscription_id: the spot user data subscription on this connection, if any.
    """

    def __init__(self, ws: web.WebSocketResponse, transport: BaseTransport | None, market: str,
                 listen_key: str | None = None) -> None:
        self.ws = ws
        self.market = market
        self.listen_key = listen_key
        self.subscription_id: int | None = None
        self.next_subscription_id = 0
        self.held: list[str] = []
        self._transport = transport
        self._lock = asyncio.Lock()
        self._outbox: asyncio.Queue[tuple[float, str | None]] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        return self.market != SPOT or self.subscription_id is not None

    def start(self) -> None:
        self._sender = asyncio.create_task(self._send_loop())

    async def stop(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender

    def wrap(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.market == SPOT:
            return {"subscriptionId": self.subscription_id, "event": payload}
        return payload

    async def send(self, data: dict[str, Any]) -> None:
        """Send at once (answers to requests), between queued events, never inside one."""
        async with self._lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_str(dumps(data))

    def enqueue(self, text: str, delay_seconds: float = 0.0) -> None:
        self._outbox.put_nowait((time.monotonic() + delay_seconds, text))

    def finish(self, last: dict[str, Any] | None = None) -> None:
        """Send ``last`` (if any) after everything queued, then close the connection."""
        if last is not None:
            self.enqueue(dumps(last))
        self._outbox.put_nowait((0.0, _CLOSE))

    def cut(self) -> None:
        """Drop the TCP connection without a close frame."""
        if self._transport is not None:
            self._transport.abort()

    async def _send_loop(self) -> None:
        while True:
            due, text = await self._outbox.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if text is _CLOSE:
                await self.ws.close()
                return
            try:
                async with self._lock:
                    await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return


class UserStreams:
    """Every open stream connection of the (one) paper account, and its futures listenKey."""

    def __init__(self, clock: Callable[[], int], faults: FaultBook) -> None:
        self.clock = clock
        self.faults = faults
        self.listen_keys = ListenKeys(clock)
        self.connections: dict[Connection, None] = {}
        self._execution_ids = itertools.count(1)

    def add(self, connection: Connection) -> None:
        self.connections[connection] = None
        connection.start()
        log.info("stream connected", extra={"market": connection.market, "connections": len(self.connections)})

    async def remove(self, connection: Connection) -> None:
        self.connections.pop(connection, None)
        await connection.stop()
        log.info("stream closed", extra={"market": connection.market, "connections": len(self.connections)})

    # ---- events ------------------------------------------------------------------------

    def publish(self, event: StreamEvent) -> None:
        """Render ``event`` for every listening connection and queue it (faults applied)."""
        if not self.connections:
            return
        try:
            now = self.clock()
            rendered: dict[str, dict[str, Any] | None] = {}
            for connection in list(self.connections):
                if not connection.listening:
                    continue
                market = connection.market
                if market not in rendered:
                    rendered[market] = self._render(market, event, now)
                payload = rendered[market]
                if payload is not None:
                    self._deliver(connection, dumps(connection.wrap(payload)))
        except Exception:  # noqa: BLE001 - a stream must never fail the order that moved
            log.exception("stream event failed")

    def _render(self, market: str, event: StreamEvent, now: int) -> dict[str, Any] | None:
        if market == SPOT:
            return stream_render.spot_event(event, now, next(self._execution_ids))
        return stream_render.futures_event(event, now)

    def _deliver(self, connection: Connection, text: str) -> None:
        book = self.faults
        armed = book.stream_faults(connection.market)
        stall = armed.get(fault_kinds.STREAM_STALL)
        if stall is not None and book.fire(stall):
            return
        drop = armed.get(fault_kinds.STREAM_DROP)
        if drop is not None and drop.nth() and book.fire(drop):
            return
        texts = [text]
        duplicate = armed.get(fault_kinds.STREAM_DUPLICATE)
        if duplicate is not None and duplicate.nth() and book.fire(duplicate):
            texts = [text, text]
        delay = armed.get(fault_kinds.STREAM_DELAY)
        delay_seconds = delay.delay_ms / 1000 if delay is not None and book.fire(delay) else 0.0
        reorder = armed.get(fault_kinds.STREAM_REORDER)
        if reorder is not None:
            connection.held.extend(texts)
            if len(connection.held) < reorder.window:
                return
            window, connection.held = connection.held, []
            texts = window[::-1] if book.fire(reorder) else window
        elif connection.held:
            texts, connection.held = connection.held[::-1] + texts, []
        for each in texts:
            connection.enqueue(each, delay_seconds)

    # ---- connections -------------------------------------------------------------------

    def disconnect_all(self, market: str | None = None) -> int:
        """Cut every stream connection (of ``market``) at once; return how many."""
        cut = [c for c in self.connections if market in (None, c.market)]
        for connection in cut:
            connection.cut()
        log.info("streams disconnected", extra={"market": market, "count": len(cut)})
        return len(cut)

    def end_listen_key(self, key: str, last: dict[str, Any] | None = None) -> None:
        for connection in list(self.connections):
            if connection.listen_key == key:
                connection.finish(last)

    def expire_listen_key(self) -> None:
        """Close the futures streams of a key that has run out, after ``listenKeyExpired``."""
        key = self.listen_keys.take_expired()
        if key is None:
            return
        log.info("listen key expired")
        self.end_listen_key(key, {"e": "listenKeyExpired", "E": str(self.clock()), "listenKey": key})

    async def shutdown(self) -> None:
        """The server is stopping: ``serverShutdown`` on the WebSocket API, then close everything."""
        event = {"event": {"e": "serverShutdown", "E": self.clock()}}

        async def close(connection: Connection) -> None:
            if connection.market == SPOT:
                await connection.send(event)
            await connection.ws.close(code=GOING_AWAY)

        if self.connections:
            await asyncio.wait([asyncio.create_task(close(c)) for c in list(self.connections)],
                               timeout=SHUTDOWN_TIMEOUT_SECONDS)

    def reset(self) -> None:
        """Back to the start: no listenKey, no connection."""
        self.listen_keys.reset()
        for connection in list(self.connections):
            connection.cut()
