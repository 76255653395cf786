"""USD-M futures user data: ``POST/PUT/DELETE /fapi/v1/listenKey`` and the private stream.

The stream is served where Binance serves it since 2026-04-23, ``/private/ws/<listenKey>``
(and ``/private/ws?listenKey=<listenKey>``, the form python-binance opens), and at the
classic ``/ws/<listenKey>``. It carries ``ORDER_TRADE_UPDATE``, ``ACCOUNT_UPDATE`` and
``ALGO_UPDATE``; when the key expires it sends ``listenKeyExpired`` and closes; a
``DELETE`` of the key closes it.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from paper_exchange.admin import EXCHANGE
from paper_exchange.listen_keys import no_such_key
from paper_exchange.orders import USDM
from paper_exchange.params import Params
from paper_exchange.routing import Route
from paper_exchange.state import PaperExchange
from paper_exchange.user_stream import Connection

STREAM_PATHS = ("/private/ws/{listen_key}", "/private/ws", "/ws/{listen_key}")


def open_listen_key(ex: PaperExchange, p: Params) -> dict[str, Any]:
    return {"listenKey": ex.streams.listen_keys.open()}


def keep_listen_key_alive(ex: PaperExchange, p: Params) -> dict[str, Any]:
    return {"listenKey": ex.streams.listen_keys.keepalive(p.get("listenKey"))}


def close_listen_key(ex: PaperExchange, p: Params) -> dict[str, Any]:
    key = ex.streams.listen_keys.close(p.get("listenKey"))
    ex.streams.end_listen_key(key)
    return {}


ROUTES = [
    Route("POST", "/fapi/v1/listenKey", open_listen_key, keyed=True),
    Route("PUT", "/fapi/v1/listenKey", keep_listen_key_alive, keyed=True),
    Route("DELETE", "/fapi/v1/listenKey", close_listen_key, keyed=True),
]


async def handle(request: web.Request) -> web.StreamResponse:
    ex = request.app[EXCHANGE]
    key = request.match_info.get("listen_key") or request.query.get("listenKey", "")
    if not ex.streams.listen_keys.active(key):
        error = no_such_key()
        return web.Response(text=json.dumps(error.body()), status=400, content_type="application/json")
    ws = web.WebSocketResponse(heartbeat=ex.config.stream_ping_seconds)
    await ws.prepare(request)
    connection = Connection(ws, request.transport, USDM, key)
    ex.streams.add(connection)
    try:
        async for _ in ws:
            pass  # the stream takes no requests; pings are answered by aiohttp
    finally:
        await ex.streams.remove(connection)
    return ws


def add_routes(app: web.Application) -> None:
    for path in STREAM_PATHS:
        app.router.add_get(path, handle)
