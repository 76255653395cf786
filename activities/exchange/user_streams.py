"""Connections to Binance's user data streams (or the paper exchange's, which speaks them).

* spot: the WebSocket API, ``userDataStream.subscribe.signature`` (HMAC-SHA256 like a signed
  REST request); events arrive as ``{"subscriptionId", "event"}``.
* USDⓈ-M futures: a listenKey (``POST /fapi/v1/listenKey``, ``PUT`` to keep it alive), then
  the private stream ``<base>/private/ws/<listenKey>``; events arrive bare.

:func:`frames` yields every exchange event of one connection and returns when the
connection ends for any reason the listener answers by reconnecting: a close, a
``serverShutdown``, an ``eventStreamTerminated``, a ``listenKeyExpired``, or silence. It
answers pings itself and calls ``on_frame`` for every frame, pings and pongs included.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from quantum_trader.settings import Settings

SPOT = "spot"
USDM = "usdm"
BINANCE_SPOT_WS = "wss://ws-api.binance.com:443/ws-api/v3"
BINANCE_SPOT_TESTNET_WS = "wss://ws-api.testnet.binance.vision/ws-api/v3"
BINANCE_USDM_WS = "wss://fstream.binance.com"
BINANCE_USDM_TESTNET_WS = "wss://fstream.binancefuture.com"
BINANCE_USDM_REST = "https://fapi.binance.com"
BINANCE_USDM_TESTNET_REST = "https://testnet.binancefuture.com"
LISTEN_KEY_PATH = "/fapi/v1/listenKey"
# Events after which the connection delivers nothing more.
ENDING_EVENTS = frozenset({"serverShutdown", "eventStreamTerminated", "listenKeyExpired"})
SUBSCRIBE_TIMEOUT_SECONDS = 10.0
REQUEST_TIMEOUT_SECONDS = 10.0


class StreamError(Exception):
    """The stream could not be opened or was refused (a reconnect with backoff follows)."""


@dataclass(frozen=True)
class Endpoints:
    """Where one market's user data stream is."""

    market: str
    ws_url: str  # spot: the WebSocket API; usdm: the private stream's base
    rest_url: str | None = None  # usdm: where listenKeys are made


def _ws(url: str) -> str:
    return url.rstrip("/").replace("https://", "wss://", 1).replace("http://", "ws://", 1)


def endpoints(settings: Settings, market: str) -> Endpoints:
    """The market's stream URLs: the settings', else the paper exchange's, else Binance's."""
    base, testnet = settings.exchange_url, settings.binance_testnet
    if market == SPOT:
        url = settings.exchange_events_spot_url or (
            _ws(base) + "/ws-api/v3" if base else BINANCE_SPOT_TESTNET_WS if testnet else BINANCE_SPOT_WS)
        return Endpoints(SPOT, url)
    rest = base.rstrip("/") if base else BINANCE_USDM_TESTNET_REST if testnet else BINANCE_USDM_REST
    url = settings.exchange_events_usdm_url or (_ws(base) if base else BINANCE_USDM_TESTNET_WS if testnet else BINANCE_USDM_WS)
    return Endpoints(USDM, url.rstrip("/"), rest)


def subscribe_message(api_key: str, api_secret: str, recv_window_ms: int) -> dict[str, Any]:
    params: dict[str, Any] = {"apiKey": api_key, "recvWindow": recv_window_ms, "timestamp": int(time.time() * 1000)}
    payload = urlencode(sorted(params.items()))
    params["signature"] = hmac.new(api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return {"id": uuid.uuid4().hex, "method": "userDataStream.subscribe.signature", "params": params}


async def listen_key(session: aiohttp.ClientSession, where: Endpoints, api_key: str, method: str = "POST") -> str:
    """A new (``POST``) or extended (``PUT``) listenKey; :class:`StreamError` if refused."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    async with session.request(method, f"{where.rest_url}{LISTEN_KEY_PATH}", headers={"X-MBX-APIKEY": api_key}, timeout=timeout) as response:
        body = await response.json(content_type=None)
        if response.status != 200:
            raise StreamError(f"listenKey {method} refused: HTTP {response.status} {body}")
        return str(body.get("listenKey", ""))


async def _subscribe(ws: aiohttp.ClientWebSocketResponse, message: dict[str, Any], on_frame: Callable[[], None]) -> None:
    await ws.send_str(json.dumps(message))
    async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
        while True:
            frame = await ws.receive()
            on_frame()
            if frame.type == aiohttp.WSMsgType.PING:
                await ws.pong(frame.data)
                continue
            if frame.type != aiohttp.WSMsgType.TEXT:
                raise StreamError(f"stream closed while subscribing ({frame.type.name})")
            answer = json.loads(frame.data)
            if answer.get("id") == message["id"]:
                if answer.get("status") != 200:
                    raise StreamError(f"subscription refused: {answer.get('error')}")
                return


async def frames(
    ws: aiohttp.ClientWebSocketResponse, on_frame: Callable[[], None], *, ping_every: float, silence: float
) -> AsyncIterator[dict[str, Any]]:
    """The exchange events of one open connection, until it ends (see the module docstring)."""
    quiet = 0.0
    while True:
        try:
            frame = await ws.receive(timeout=ping_every)
        except asyncio.TimeoutError:
            quiet += ping_every
            if quiet >= silence:
                return
            await ws.ping()
            continue
        quiet = 0.0
        on_frame()
        if frame.type == aiohttp.WSMsgType.PING:
            await ws.pong(frame.data)
        elif frame.type == aiohttp.WSMsgType.TEXT:
            data = json.loads(frame.data)
            event = data.get("event", data.get("data", data)) if isinstance(data, dict) else None
            if not isinstance(event, dict) or "e" not in event:
                continue  # an answer to a request, or not an event
            if event["e"] in ENDING_EVENTS:
                return
            yield event
        elif frame.type != aiohttp.WSMsgType.PONG:
            return  # closed, closing or an error


async def open_stream(
    session: aiohttp.ClientSession, where: Endpoints, settings: Settings, on_frame: Callable[[], None]
) -> tuple[aiohttp.ClientWebSocketResponse, str | None]:
    """An open, subscribed connection, and the futures listenKey it is on (spot: ``None``)."""
    api_key, api_secret = settings.binance_credentials
    if where.market == SPOT:
        ws = await session.ws_connect(where.ws_url, autoping=False, heartbeat=None)
        try:
            await _subscribe(ws, subscribe_message(api_key, api_secret, settings.recv_window_ms), on_frame)
        except BaseException:
            await ws.close()
            raise
        return ws, None
    key = await listen_key(session, where, api_key)
    ws = await session.ws_connect(f"{where.ws_url}/private/ws/{key}", autoping=False, heartbeat=None)
    return ws, key
