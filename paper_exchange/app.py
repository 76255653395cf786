"""The aiohttp application: Binance routes behind faults, rate limits and authentication."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from paper_exchange import admin, errors, faults, futures, futures_stream, market_data, spot, ws_api
from paper_exchange.config import PaperExchangeConfig
from paper_exchange.errors import ApiError
from paper_exchange.faults import Fault
from paper_exchange.limits import Usage
from paper_exchange.params import Params
from paper_exchange.routing import Route
from paper_exchange.state import PaperExchange, SeenRequest

log = logging.getLogger("paper_exchange")
EXCHANGE = admin.EXCHANGE
JSON = "application/json"
ADMIN_PREFIX = "/_paper/"
# The request's client order (or algo) ID, kept on the request for its log line.
CLIENT_IDS = "client_ids"
SYMBOL = "symbol"
# The request weight the limits charged, kept on the request for the record of requests seen.
CHARGED = "charged"


def _dump(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def _usage_headers(usage: Usage | None) -> dict[str, str]:
    if usage is None:
        return {}
    headers = {"X-MBX-USED-WEIGHT-1M": str(usage.weight_1m), "X-MBX-USED-WEIGHT": str(usage.weight_1m)}
    if usage.orders_10s is not None:
        headers["X-MBX-ORDER-COUNT-10S"] = str(usage.orders_10s)
    return headers


def error_response(error: ApiError, usage: Usage | None = None) -> web.Response:
    headers = {**_usage_headers(usage), **error.headers}
    return web.Response(text=_dump(error.body()), status=error.status, content_type=JSON, headers=headers)


async def _read_body(request: web.Request) -> str:
    if not request.body_exists:
        return ""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(-1101, "Too many parameters sent for this endpoint.") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(errors.ILLEGAL_CHARS, "Illegal characters found in a parameter.") from None


async def _buffer_body(request: web.Request) -> None:
    """Read the body into aiohttp's cache; errors surface again when it is processed."""
    if request.can_read_body:
        with contextlib.suppress(web.HTTPRequestEntityTooLarge, ConnectionError):
            await request.read()


def _params(query: str, body: str) -> Params:
    values = dict(parse_qsl(body, keep_blank_values=True)) if body else {}
    if query:
        values.update(parse_qsl(query, keep_blank_values=True))
    return Params(values)


async def _process(request: web.Request, route: Route, ex: PaperExchange, later: Fault | None = None) -> web.StreamResponse:
    """Charge, authenticate and check the request, then run its handler (or, with ``later``, defer it)."""
    usage: Usage | None = None
    try:
        body = await _read_body(request)
        now = ex.clock()
        query = request.rel_url.raw_query_string
        params = _params(query, body)
        weight = route.weight_of(params)
        request[CHARGED] = weight  # charged even when the limits refuse it, as Binance does
        limiter = ex.limiters[route.market]
        usage = limiter.charge(now, weight, route.is_order)
        request[CLIENT_IDS] = _client_ids(params)
        request[SYMBOL] = params.get("symbol")
        if route.signed or route.keyed:
            ex.credentials.authenticate(request.headers.get("X-MBX-APIKEY"))
        if route.signed:
            ex.credentials.verify(query, body, params.values, now, ex.config.max_recv_window_ms)
        if later is not None:
            # Accepted: from here on nothing checks the timestamp again.
            run = functools.partial(_run_deferred, ex, route, params, request.method, request.path)
            ex.defer(request.method, request.path, later.delay_ms, run)
            log.info("request deferred", extra={
                "method": request.method, "path": request.path, "delay_ms": later.delay_ms, **_client_ids(params)})
            return await _drop(request, later)
        result = route.handler(ex, params)
        ex.commit()
        if route.free_when_accepted:
            usage = Usage(limiter.refund(now, weight), usage.orders_10s)
            request[CHARGED] = 0
        return web.Response(text=_dump(result), content_type=JSON, headers=_usage_headers(usage))
    except ApiError as error:
        ex.commit()
        return error_response(error, usage)
    except Exception:  # noqa: BLE001 - one request must never take the exchange down
        log.exception("request failed", extra={"method": request.method, "path": request.path})
        ex.commit()
        return error_response(ApiError(errors.UNKNOWN, "An unknown error occurred while processing the request.", 500))


def _client_ids(params: Params) -> dict[str, str]:
    """The client order or algo ID a request names, as log fields."""
    ids = {"client_order_id": params.get("origClientOrderId") or params.get("newClientOrderId"),
           "client_algo_id": params.get("clientAlgoId")}
    return {name: value for name, value in ids.items() if value}


def _run_deferred(ex: PaperExchange, route: Route, params: Params, method: str, path: str) -> None:
    """Process a request an ``execute_later`` fault accepted earlier; its answer goes nowhere."""
    fields = {"method": method, "path": path, **_client_ids(params)}
    try:
        route.handler(ex, params)
        log.info("deferred request executed", extra=fields)
    except ApiError as error:
        log.info("deferred request refused", extra={**fields, "code": error.code, "error": error.msg})
    except Exception:  # noqa: BLE001 - one request must never take the exchange down
        log.exception("deferred request failed", extra=fields)
    ex.commit()


async def _drop(request: web.Request, fault: Fault) -> web.StreamResponse:
    """Lose the answer: answer -1007, send a bare 503, or abort the TCP connection."""
    if fault.respond == faults.RESPOND_1007:
        return error_response(errors.unknown_outcome())
    if fault.respond == faults.RESPOND_503:
        return web.Response(status=503, body=b"")
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise asyncio.CancelledError


def _fault_response(fault: Fault, ex: PaperExchange, market: str) -> ApiError:
    kind = fault.kind
    retry_after = fault.retry_after or 0
    if kind == faults.ERROR:
        return errors.armed_error(fault.status, fault.code, fault.msg, fault.retry_after)
    if kind == faults.ERROR_5XX:
        return errors.service_unavailable()
    if kind == faults.UNKNOWN_1007:
        return errors.unknown_outcome()
    if kind == faults.RATE_LIMIT_429:
        limit = market_data.weight_limit(ex, market)
        return errors.too_many_requests(retry_after, f"{limit} request weight per 1 MINUTE")
    if kind == faults.BAN_418:
        return errors.banned(retry_after, ex.clock() + retry_after * 1000)
    if kind == faults.TIMESTAMP_1021:
        return errors.timestamp_outside_window()
    if kind == faults.KEY_REVOKED:
        return errors.key_refused()
    raise ValueError(f"no immediate answer for fault kind {kind}")


def endpoint(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        ex = request.app[EXCHANGE]
        arrived_ms = ex.clock()
        status: int | None = None
        try:
            response = await answer(request, ex)
            status = response.status
            return response
        finally:
            # A fault answers before the body is read: its query still names the order.
            query = _params(request.rel_url.raw_query_string, "")
            ids = request.get(CLIENT_IDS) or _client_ids(query)
            ex.seen.append(SeenRequest(arrived_ms, request.method, request.path, request.get(CHARGED, 0), status,
                                       ids.get("client_order_id") or ids.get("client_algo_id"), request.get(SYMBOL) or query.get("symbol")))

    async def answer(request: web.Request, ex: PaperExchange) -> web.StreamResponse:
        selected = ex.faults.select(request.path, request.method)
        if selected.latency_ms:
            # Take the request in before the delay, as an exchange that has queued it
            # would: a client that gives up meanwhile has still sent its order.
            await _buffer_body(request)
            await asyncio.sleep(selected.latency_ms / 1000)
        fault = selected.fault
        if fault is None:
            return await _process(request, route, ex)
        log.info("fault applied", extra={"fault_id": fault.id, "kind": fault.kind, "method": request.method, "path": request.path})
        if fault.kind == faults.DOWN:
            return await _drop(request, fault)
        if fault.kind == faults.EXECUTE_LATER:
            return await _process(request, route, ex, later=fault)
        if fault.kind not in faults.AFTER_PROCESSING:
            return error_response(_fault_response(fault, ex, route.market))
        await _process(request, route, ex)
        if fault.kind == faults.UNKNOWN_1007_AFTER:
            return error_response(errors.unknown_outcome())
        return await _drop(request, fault)

    return handle


async def not_found(request: web.Request) -> web.Response:
    return web.Response(
        text=_dump({"code": -1000, "msg": f"Unknown endpoint {request.method} {request.path}."}),
        status=404,
        content_type=JSON,
    )


async def _ticker(ex: PaperExchange) -> None:
    interval = ex.config.tick_ms / 1000
    while True:
        await asyncio.sleep(interval)
        try:
            ex.tick()
            ex.streams.expire_listen_key()
        except Exception:  # noqa: BLE001 - the walk must keep going
            log.exception("tick failed")


@web.middleware
async def request_log(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """One line per request: method, path, status, duration and the client order ID it
    names; never the query, the body or the headers (signature, API key). Admin requests
    log at DEBUG (each admin action logs its own line)."""
    started = time.perf_counter()
    status: int | None = None
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:
        status = error.status
        raise
    finally:
        level = logging.DEBUG if request.path.startswith(ADMIN_PREFIX) else logging.INFO
        if log.isEnabledFor(level):
            log.log(level, "request" if status is not None else "request dropped", extra={
                "method": request.method, "path": request.path, "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1), **request.get(CLIENT_IDS, {})})


async def _stop_streams(app: web.Application) -> None:
    await app[EXCHANGE].streams.shutdown()


async def _background(app: web.Application) -> AsyncIterator[None]:
    ex = app[EXCHANGE]
    task = asyncio.create_task(_ticker(ex))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    ex.close()


def create_app(config: PaperExchangeConfig) -> web.Application:
    """A ready-to-run application; its state lives in ``app[EXCHANGE]``."""
    app = web.Application(client_max_size=config.max_body_bytes, middlewares=[request_log])
    app[EXCHANGE] = PaperExchange(config)
    admin.add_routes(app)
    for route in (*spot.ROUTES, *futures.ROUTES, *futures_stream.ROUTES):
        app.router.add_route(route.method, route.path, endpoint(route))
    app.router.add_get(ws_api.PATH, ws_api.handle)
    futures_stream.add_routes(app)
    app.router.add_route("*", "/{tail:.*}", not_found)
    app.cleanup_ctx.append(_background)
    app.on_shutdown.append(_stop_streams)
    return app
