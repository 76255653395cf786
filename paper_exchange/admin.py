"""The admin API under ``/_paper/`` (no Binance client calls it; no auth, no faults, no limits).

- ``GET  /_paper/health``  -> ``{"ok": true}``
- ``GET  /_paper/orders[?symbol=&clientOrderId=&market=spot|usdm]`` -> ``{"orders": [...]}``
  every order ever accepted, spot and futures, algo orders included.
- ``POST /_paper/price {"symbol", "price", "hold": true}`` sets a price (held by default)
  and runs one matching pass at once.
- ``POST /_paper/balance {"asset", "free", "locked"?, "market": "spot"|"usdm"}``
- ``POST /_paper/config {"liquidity": {"BTCUSDT"|"*": "0.4"|null}, "weight_limit", "order_limit_10s",
  "spot_fee", "futures_fee", "spread", "clock_offset_ms"}``; ``clock_offset_ms`` (an integer,
  at most a day either way) moves the exchange's whole clock: ``serverTime``, the
  ``timestamp``/``recvWindow`` checks and every order, trade and update time.
- ``POST /_paper/reset``; ``GET /_paper/state`` (``deferred`` lists the requests an
  ``execute_later`` fault accepted that have not run yet, with their ``due_ms`` on the exchange clock)
- ``GET  /_paper/requests[?since_ms=]`` -> ``{"requests": [...]}``: the last Binance requests
  taken in (arrival ``at_ms`` on the exchange clock, ``method``, ``path``, ``weight`` charged,
  answer ``status``, ``client_id``, ``symbol``), oldest first, those arrived at or after ``since_ms``.
- ``POST /_paper/faults {...}``, ``GET /_paper/faults``, ``DELETE /_paper/faults[/{id}]``;
  ``stream_disconnect`` answers ``disconnected``: how many stream connections it cut.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

from aiohttp import web

from paper_exchange import render
from paper_exchange.decimals import fmt, to_decimal
from paper_exchange.engine import ALL_SYMBOLS
from paper_exchange.faults import STREAM_DISCONNECT, FaultSpecError
from paper_exchange.orders import MARKETS, SPOT, USDM
from paper_exchange.state import PaperExchange

log = logging.getLogger("paper_exchange.admin")
EXCHANGE: web.AppKey[PaperExchange] = web.AppKey("exchange", PaperExchange)
MAX_CLOCK_OFFSET_MS = 86_400_000


class AdminError(Exception):
    """A bad admin request: answered 400 ``{"error": ...}``."""


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = json.loads(await request.text())
    except (ValueError, UnicodeDecodeError) as error:
        raise AdminError(f"body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise AdminError("body must be a JSON object")
    return body


def _decimal(body: dict[str, Any], name: str, required: bool = True) -> Decimal | None:
    if name not in body or body[name] is None:
        if required:
            raise AdminError(f"{name} is required")
        return None
    value = to_decimal(body[name])
    if value is None or value < 0:
        raise AdminError(f"{name} must be a non-negative decimal string")
    return value


def _symbol(ex: PaperExchange, body: dict[str, Any]) -> str:
    symbol = str(body.get("symbol", "")).upper()
    if symbol not in ex.specs:
        raise AdminError(f"unknown symbol {symbol!r}")
    return symbol


def handler(fn: Any) -> Any:
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return _json(await fn(request, request.app[EXCHANGE]))
        except AdminError as error:
            return _json({"error": str(error)}, status=400)

    return wrapped


@handler
async def health(request: web.Request, ex: PaperExchange) -> Any:
    return {"ok": True}


@handler
async def orders(request: web.Request, ex: PaperExchange) -> Any:
    symbol = request.query.get("symbol")
    client_id = request.query.get("clientOrderId")
    market = request.query.get("market")
    if market is not None and market not in MARKETS:
        raise AdminError("market must be spot or usdm")
    rows: list[tuple[int, dict[str, Any]]] = []
    for each_market in MARKETS:
        if market not in (None, each_market):
            continue
        for order in ex.engine.orders[each_market].values():
            if symbol not in (None, order.symbol) or client_id not in (None, order.client_order_id):
                continue
            rows.append((order.time, render.admin_order(order)))
    if market in (None, USDM):
        for algo in ex.engine.algos.values():
            if symbol not in (None, algo.symbol) or client_id not in (None, algo.client_algo_id):
                continue
            rows.append((algo.create_time, render.admin_algo(algo)))
    rows.sort(key=lambda row: row[0])
    return {"orders": [row for _, row in rows]}


@handler
async def price(request: web.Request, ex: PaperExchange) -> Any:
    body = await _body(request)
    symbol = _symbol(ex, body)
    value = _decimal(body, "price")
    assert value is not None
    if value <= 0:
        raise AdminError("price must be positive")
    hold = body.get("hold", True)
    if not isinstance(hold, bool):
        raise AdminError("hold must be true or false")
    fills = ex.set_price(symbol, value, hold)
    log.info("price set", extra={"symbol": symbol, "price": fmt(value), "hold": hold, "fills": fills})
    return {"symbol": symbol, "price": fmt(value), "hold": hold, "fills": fills}


@handler
async def reset(request: web.Request, ex: PaperExchange) -> Any:
    ex.reset()
    log.info("reset")
    return {"ok": True}


@handler
async def balance(request: web.Request, ex: PaperExchange) -> Any:
    body = await _body(request)
    asset = str(body.get("asset", "")).upper()
    if not asset.isalnum():
        raise AdminError("asset is required")
    free = _decimal(body, "free")
    assert free is not None
    market = body.get("market", SPOT)
    if market == USDM:
        if asset != "USDT":
            raise AdminError("the futures wallet holds USDT only")
        ex.engine.futures.wallet = free
        ex.engine.futures.wallet_dirty = True
    elif market == SPOT:
        ex.engine.balances.set(asset, free, _decimal(body, "locked", required=False))
    else:
        raise AdminError("market must be spot or usdm")
    ex.commit()
    return {"asset": asset, "free": fmt(free), "market": market}


@handler
async def config(request: web.Request, ex: PaperExchange) -> Any:
    body = await _body(request)
    engine = ex.engine
    liquidity = body.get("liquidity")
    if liquidity is not None:
        if not isinstance(liquidity, dict):
            raise AdminError('liquidity must be an object such as {"BTCUSDT": "0.4"} ("*" for every symbol)')
        for key, value in liquidity.items():
            symbol = str(key).upper()
            if symbol != ALL_SYMBOLS and symbol not in ex.specs:
                raise AdminError(f"unknown symbol {key!r}")
            if value is None:
                engine.liquidity.pop(symbol, None)
                continue
            cap = to_decimal(value)
            if cap is None or cap <= 0:
                raise AdminError("a liquidity cap must be a positive decimal string")
            engine.liquidity[symbol] = cap
    for name in ("weight_limit", "order_limit_10s"):
        if name in body:
            value = body[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise AdminError(f"{name} must be a non-negative integer (0 disables)")
            for limiter in ex.limiters.values():
                setattr(limiter, name, value)
    for name, key in (("spot_fee", SPOT), ("futures_fee", USDM)):
        if name in body:
            fee = _decimal(body, name)
            assert fee is not None
            engine.fees[key] = fee
    if "spread" in body:
        spread = _decimal(body, "spread")
        assert spread is not None
        engine.spread = spread
    if "clock_offset_ms" in body:
        ex.clock_offset_ms = _clock_offset(body["clock_offset_ms"])
    log.info("config changed", extra={"keys": ",".join(sorted(body))})
    return _config_view(ex)


def _clock_offset(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) > MAX_CLOCK_OFFSET_MS:
        raise AdminError(f"clock_offset_ms must be an integer between -{MAX_CLOCK_OFFSET_MS} and {MAX_CLOCK_OFFSET_MS}")
    return value


def _config_view(ex: PaperExchange) -> dict[str, Any]:
    return {
        "liquidity": {s: fmt(v) for s, v in ex.engine.liquidity.items()},
        "weight_limit": ex.limiters[SPOT].weight_limit,
        "order_limit_10s": ex.limiters[SPOT].order_limit_10s,
        "spot_fee": fmt(ex.engine.fees[SPOT]),
        "futures_fee": fmt(ex.engine.fees[USDM]),
        "spread": fmt(ex.engine.spread),
        "clock_offset_ms": ex.clock_offset_ms,
    }


@handler
async def state(request: web.Request, ex: PaperExchange) -> Any:
    engine = ex.engine
    marks = engine.marks()
    return {
        "prices": {s: fmt(p) for s, p in ex.prices.prices.items()},
        "held": sorted(ex.prices.held),
        "balances": {
            asset: {"free": fmt(b.free), "locked": fmt(b.locked)} for asset, b in sorted(engine.balances.assets.items())
        },
        "futures": {
            "wallet": fmt(engine.futures.wallet),
            "available": fmt(engine.futures.available(marks)),
            "positions": [
                render.position_risk_v2(p, marks[p.symbol]) for p in engine.futures.positions.values() if p.amount
            ],
            "leverage": {s: p.leverage for s, p in engine.futures.positions.items()},
        },
        "next_ids": dict(engine.next_ids),
        "config": _config_view(ex),
        "deferred": [item.describe() for item in ex.deferred],
    }


@handler
async def requests_seen(request: web.Request, ex: PaperExchange) -> Any:
    since = request.query.get("since_ms", "0")
    if not since.lstrip("-").isdigit():
        raise AdminError("since_ms must be an integer (exchange ms)")
    return {"requests": [seen.describe() for seen in ex.seen if seen.at_ms >= int(since)]}


@handler
async def arm_fault(request: web.Request, ex: PaperExchange) -> Any:
    body = await _body(request)
    try:
        fault = ex.faults.arm(body)
    except FaultSpecError as error:
        raise AdminError(str(error)) from None
    log.info("fault armed", extra={
        "fault_id": fault.id, "kind": fault.kind, "path": fault.path, "method": fault.method, "count": fault.remaining,
        "duration_ms": fault.duration_ms,
    })
    if fault.kind == STREAM_DISCONNECT:
        # An action, not a state: it cuts what is connected now and stays armed for nothing.
        ex.faults.remove(fault.id)
        return {**ex.faults.describe(fault), "disconnected": ex.streams.disconnect_all(fault.market)}
    return ex.faults.describe(fault)


@handler
async def list_faults(request: web.Request, ex: PaperExchange) -> Any:
    return {"faults": ex.faults.listing()}


@handler
async def clear_faults(request: web.Request, ex: PaperExchange) -> Any:
    cleared = ex.faults.clear()
    log.info("faults cleared", extra={"count": cleared})
    return {"cleared": cleared}


@handler
async def remove_fault(request: web.Request, ex: PaperExchange) -> Any:
    fault_id = request.match_info["fault_id"]
    if not ex.faults.remove(fault_id):
        raise AdminError(f"no armed fault {fault_id!r}")
    return {"cleared": 1}


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/_paper/health", health)
    router.add_get("/_paper/orders", orders)
    router.add_get("/_paper/state", state)
    router.add_get("/_paper/requests", requests_seen)
    router.add_post("/_paper/price", price)
    router.add_post("/_paper/reset", reset)
    router.add_post("/_paper/balance", balance)
    router.add_post("/_paper/config", config)
    router.add_post("/_paper/faults", arm_fault)
    router.add_get("/_paper/faults", list_faults)
    router.add_delete("/_paper/faults", clear_faults)
    router.add_delete("/_paper/faults/{fault_id}", remove_fault)
