"""The spot WebSocket API (``/ws-api/v3``), as far as user data streams need it.

Requests are JSON text frames ``{"id", "method", "params"}``; answers are
``{"id", "status", "result" | "error", "rateLimits"}``. Methods: ``ping``, ``time``,
``userDataStream.subscribe.signature`` (HMAC-SHA256 over the parameters sorted by name,
checked like a signed REST request: the same ``-1021``/``-1022``/``-2014``/``-2015``) and
``userDataStream.unsubscribe``. A subscription then receives the account's events as
``{"subscriptionId": n, "event": {...}}``, and ``eventStreamTerminated`` when it ends.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSMsgType, web

from paper_exchange import errors
from paper_exchange.admin import EXCHANGE
from paper_exchange.errors import ApiError
from paper_exchange.limits import Usage
from paper_exchange.orders import SPOT
from paper_exchange.state import PaperExchange
from paper_exchange.user_stream import Connection

log = logging.getLogger("paper_exchange.ws_api")
PATH = "/ws-api/v3"
BINANCE_WEIGHT_LIMIT = 6000
Method = Callable[[PaperExchange, Connection, dict[str, Any]], dict[str, Any]]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def ping(ex: PaperExchange, connection: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return {}


def server_time(ex: PaperExchange, connection: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return {"serverTime": ex.clock()}


def subscribe_signature(ex: PaperExchange, connection: Connection, params: dict[str, Any]) -> dict[str, Any]:
    ex.credentials.authenticate(_text(params.get("apiKey") or ""))
    values = {name: _text(value) for name, value in params.items()}
    signature = values.pop("signature", "")
    payload = urlencode(sorted(values.items()))
    signed = f"{payload}&signature={signature}" if signature else payload
    ex.credentials.verify(signed, "", values, ex.clock(), ex.config.max_recv_window_ms)
    if connection.subscription_id is not None:
        raise ApiError(errors.UNKNOWN, "User Data Stream subscription already active.")
    connection.subscription_id = connection.next_subscription_id
    connection.next_subscription_id += 1
    return {"subscriptionId": connection.subscription_id}


def unsubscribe(ex: PaperExchange, connection: Connection, params: dict[str, Any]) -> dict[str, Any]:
    wanted = params.get("subscriptionId")
    current = connection.subscription_id
    if wanted is not None and (current is None or _text(wanted) != str(current)):
        raise ApiError(errors.UNKNOWN, "Invalid subscriptionId.")
    if current is not None:
        # After the answer, behind any event still queued for this subscription.
        terminated = {"subscriptionId": current, "event": {"e": "eventStreamTerminated", "E": ex.clock()}}
        connection.subscription_id = None
        connection.enqueue(json.dumps(terminated, separators=(",", ":")))
    return {}


METHODS: dict[str, tuple[Method, int]] = {
    "ping": (ping, 1),
    "time": (server_time, 1),
    "userDataStream.subscribe.signature": (subscribe_signature, 2),
    "userDataStream.unsubscribe": (unsubscribe, 2),
}


def _rate_limits(ex: PaperExchange, usage: Usage | None) -> list[dict[str, Any]]:
    # The WebSocket API shares the spot REST API's request weight.
    limiter = ex.limiters[SPOT]
    count = usage.weight_1m if usage is not None else limiter.usage().weight_1m
    return [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": limiter.weight_limit or BINANCE_WEIGHT_LIMIT, "count": count}]


async def _answer(ex: PaperExchange, connection: Connection, text: str) -> None:
    request_id: Any = None
    usage: Usage | None = None
    try:
        try:
            request = json.loads(text)
        except ValueError:
            raise ApiError(errors.UNKNOWN, "Invalid JSON: request is not valid JSON.") from None
        if not isinstance(request, dict):
            raise ApiError(errors.UNKNOWN, "Invalid request: a JSON object is required.")
        request_id = request.get("id")
        params = request.get("params") or {}
        method = METHODS.get(str(request.get("method")))
        if method is None:
            raise ApiError(errors.UNKNOWN, f"Unknown method: {request.get('method')!r}.")
        if not isinstance(params, dict):
            raise ApiError(errors.UNKNOWN, "Invalid request: params must be an object.")
        handler, weight = method
        usage = ex.limiters[SPOT].charge(ex.clock(), weight, False)
        result = handler(ex, connection, params)
        await connection.send({"id": request_id, "status": 200, "result": result, "rateLimits": _rate_limits(ex, usage)})
    except ApiError as error:
        await connection.send({"id": request_id, "status": error.status, "error": error.body(),
                               "rateLimits": _rate_limits(ex, usage)})
    except Exception:  # noqa: BLE001 - one request must never take the connection down
        log.exception("websocket request failed")
        unknown = ApiError(errors.UNKNOWN, "An unknown error occurred while processing the request.", 500)
        await connection.send({"id": request_id, "status": 500, "error": unknown.body(),
                               "rateLimits": _rate_limits(ex, usage)})


async def handle(request: web.Request) -> web.WebSocketResponse:
    ex = request.app[EXCHANGE]
    ws = web.WebSocketResponse(heartbeat=ex.config.stream_ping_seconds)
    await ws.prepare(request)
    connection = Connection(ws, request.transport, SPOT)
    ex.streams.add(connection)
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await _answer(ex, connection, message.data)
    finally:
        await ex.streams.remove(connection)
    return ws
