"""Clients of the paper exchange's user data streams, for its tests.

python-binance drives the streams where it can (the spot WebSocket API subscription and
the futures user socket); a plain aiohttp WebSocket client reads the frames where a test
must see pings, closes and the raw order of what was sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import aiohttp
import requests
from binance.async_client import AsyncClient
from binance.ws.keepalive_websocket import KeepAliveWebsocket
from binance.ws.streams import BinanceSocketManager

from paper_exchange.auth import sign
from tests.support.exchange import Exchange

SPOT_PATH = "/ws-api/v3"
RECEIVE_TIMEOUT = 15.0
READ_TIMEOUT = 0.5


def ws_base(exchange: Exchange) -> str:
    return exchange.base_url.replace("http://", "ws://", 1)


async def stream_client(exchange: Exchange, secret: str | None = None) -> AsyncClient:
    """python-binance's AsyncClient with REST, WebSocket API and streams on the paper exchange."""
    base = exchange.base_url
    cls = type("PaperStreamClient", (AsyncClient,), {
        "API_URL": base + "/api", "FUTURES_URL": base + "/fapi", "WS_API_URL": ws_base(exchange) + SPOT_PATH,
    })
    client = await cls.create(exchange.api_key, secret or exchange.api_secret)
    # Its read loop notices a close only between reads, each bounded by TIMEOUT (10 s):
    # a shorter bound lets each test's socket close quickly.
    client.ws_api.TIMEOUT = READ_TIMEOUT
    return client


def futures_user_socket(client: AsyncClient, exchange: Exchange) -> KeepAliveWebsocket:
    """python-binance's futures user socket, opened on this exchange's private stream."""
    manager = BinanceSocketManager(client)
    manager.FSTREAM_URL = ws_base(exchange) + "/"
    socket = manager.futures_user_socket()
    socket.TIMEOUT = READ_TIMEOUT
    return socket


def subscribe_request(exchange: Exchange, request_id: str = "sub-1", *, secret: str | None = None,
                      timestamp: int | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"apiKey": exchange.api_key, "timestamp": timestamp or int(time.time() * 1000)}
    params["signature"] = sign(secret or exchange.api_secret, urlencode(sorted(params.items())))
    return {"id": request_id, "method": "userDataStream.subscribe.signature", "params": params}


async def next_message(ws: aiohttp.ClientWebSocketResponse, timeout: float = RECEIVE_TIMEOUT) -> aiohttp.WSMessage:
    return await asyncio.wait_for(ws.receive(), timeout)


async def next_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = RECEIVE_TIMEOUT) -> dict[str, Any]:
    """The next text frame as JSON; pings in between are answered by aiohttp."""
    deadline = time.monotonic() + timeout
    while True:
        message = await next_message(ws, max(0.1, deadline - time.monotonic()))
        if message.type == aiohttp.WSMsgType.TEXT:
            return json.loads(message.data)
        if message.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
            if message.type == aiohttp.WSMsgType.PING:
                await ws.pong(message.data)
            continue
        raise AssertionError(f"expected a text frame, got {message.type}: {message.data!r}")


async def events_until(ws: aiohttp.ClientWebSocketResponse, done: Any, timeout: float = RECEIVE_TIMEOUT) -> list[dict]:
    """Text frames until ``done(frame)`` holds (that frame included)."""
    frames: list[dict] = []
    while True:
        frames.append(await next_json(ws, timeout))
        if done(frames[-1]):
            return frames


@asynccontextmanager
async def ws_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


def listen_key(exchange: Exchange, method: str = "POST", *, key: str | None = None) -> requests.Response:
    headers = {"X-MBX-APIKEY": exchange.api_key if key is None else key}
    return requests.request(method, exchange.base_url + "/fapi/v1/listenKey", headers=headers, timeout=10)
