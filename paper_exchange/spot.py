"""Spot endpoints under ``/api/v3``."""

from __future__ import annotations

from typing import Any

from paper_exchange import errors, market_data, render, tickers
from paper_exchange.decimals import fmt8
from paper_exchange.engine import OrderRequest, new_client_id
from paper_exchange.errors import ApiError
from paper_exchange.orders import SPOT
from paper_exchange.params import SIDES, Params
from paper_exchange.routing import Route
from paper_exchange.state import PaperExchange

ORDER_TYPES = ("MARKET", "LIMIT", "LIMIT_MAKER")
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
RESPONSE_TYPES = ("ACK", "RESULT", "FULL")


def parse_new_order(ex: PaperExchange, p: Params) -> tuple[OrderRequest, str]:
    symbol = p.symbol()
    ex.engine.spec(symbol)
    side = p.choice("side", SIDES)
    order_type = p.choice("type", ORDER_TYPES)
    assert side is not None and order_type is not None
    time_in_force = "GTC"
    price = None
    quote_order_qty = None
    if order_type == "LIMIT":
        time_in_force = p.choice("timeInForce", TIME_IN_FORCE) or "GTC"
    if order_type in ("LIMIT", "LIMIT_MAKER"):
        quantity = p.positive("quantity", required=True)
        price = p.positive("price", required=True, what="price")
    else:
        quantity = p.positive("quantity")
        quote_order_qty = p.positive("quoteOrderQty", what="quoteOrderQty")
        if quantity is None and quote_order_qty is None:
            raise ApiError(
                errors.MANDATORY, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
            )
        if quantity is not None:
            quote_order_qty = None
    response_type = p.choice("newOrderRespType", RESPONSE_TYPES, required=False) or "FULL"
    request = OrderRequest(
        market=SPOT,
        symbol=symbol,
        side=side,
        type=order_type,
        time_in_force=time_in_force,
        quantity=quantity,
        price=price,
        quote_order_qty=quote_order_qty,
        client_order_id=p.client_id("newClientOrderId") or new_client_id(),
    )
    return request, response_type


def new_order(ex: PaperExchange, p: Params) -> dict[str, Any]:
    request, response_type = parse_new_order(ex, p)
    order, trades = ex.engine.place(request)
    if response_type == "ACK":
        return render.spot_order_ack(order)
    if response_type == "RESULT":
        return render.spot_order_result(order)
    return render.spot_order_full(order, trades)


def order_test(ex: PaperExchange, p: Params) -> dict[str, Any]:
    request, _ = parse_new_order(ex, p)
    ex.engine.validate(request)
    return {}


def order_reference(p: Params) -> tuple[int | None, str | None]:
    order_id = p.integer("orderId")
    client_id = p.get("origClientOrderId")
    if order_id is None and client_id is None:
        raise ApiError(errors.MANDATORY, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
    return order_id, client_id


def get_order(ex: PaperExchange, p: Params) -> dict[str, Any]:
    symbol = p.symbol()
    order_id, client_id = order_reference(p)
    return render.spot_order(ex.engine.get_order(SPOT, symbol, order_id, client_id))


def cancel_order(ex: PaperExchange, p: Params) -> dict[str, Any]:
    symbol = p.symbol()
    order_id, client_id = order_reference(p)
    cancel_id = p.client_id("newClientOrderId") or new_client_id()
    order = ex.engine.cancel(SPOT, symbol, order_id, client_id, cancel_id)
    return render.spot_cancel(order, cancel_id)


def open_orders(ex: PaperExchange, p: Params) -> list[dict[str, Any]]:
    symbol = p.get("symbol")
    return [render.spot_order(o) for o in ex.engine.open_orders(SPOT, symbol.upper() if symbol else None)]


def account(ex: PaperExchange, p: Params) -> dict[str, Any]:
    omit_zero = p.flag("omitZeroBalances")
    fee = str(ex.engine.fees[SPOT])
    balances = [
        {"asset": asset, "free": fmt8(b.free), "locked": fmt8(b.locked)}
        for asset, b in sorted(ex.engine.balances.assets.items())
        if not (omit_zero and b.free == 0 and b.locked == 0)
    ]
    basis_points = int(ex.engine.fees[SPOT] * 10_000)
    return {
        "makerCommission": basis_points,
        "takerCommission": basis_points,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {"maker": fee, "taker": fee, "buyer": "0", "seller": "0"},
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": ex.clock(),
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": 1,
    }


def my_trades(ex: PaperExchange, p: Params) -> list[dict[str, Any]]:
    symbol = p.symbol()
    order_id = p.integer("orderId")
    limit = p.integer("limit") or 500
    trades = ex.engine.symbol_trades(SPOT, symbol, order_id)
    return [render.spot_trade(t) for t in trades[-limit:]]


ROUTES = [
    Route("GET", "/api/v3/ping", market_data.ping),
    Route("GET", "/api/v3/time", market_data.server_time),
    Route("GET", "/api/v3/exchangeInfo", market_data.spot_exchange_info, weight=20),
    Route("GET", "/api/v3/ticker/price", market_data.spot_ticker_price, weigh=tickers.weigh_spot_book_ticker),
    Route("GET", "/api/v3/ticker/24hr", tickers.spot_ticker_24hr, weigh=tickers.weigh_spot_ticker_24hr),
    Route("GET", "/api/v3/ticker/bookTicker", tickers.spot_book_ticker, weigh=tickers.weigh_spot_book_ticker),
    Route("GET", "/api/v3/depth", tickers.spot_depth, weigh=tickers.weigh_spot_depth),
    Route("GET", "/api/v3/klines", tickers.spot_klines, weight=2),
    # Placements and cancels cost weight only when they fail (Binance, since 2026-04-02).
    Route("POST", "/api/v3/order", new_order, signed=True, is_order=True, free_when_accepted=True),
    Route("POST", "/api/v3/order/test", order_test, signed=True),
    Route("GET", "/api/v3/order", get_order, signed=True, weight=4),
    Route("DELETE", "/api/v3/order", cancel_order, signed=True, free_when_accepted=True),
    Route("GET", "/api/v3/openOrders", open_orders, signed=True, weigh=tickers.weigh_by_symbol(6, 80)),
    Route("GET", "/api/v3/account", account, signed=True, weight=20),
    Route("GET", "/api/v3/myTrades", my_trades, signed=True, weigh=lambda p: 5 if p.get("orderId") else 20),
]
