"""USD-M futures endpoints under ``/fapi`` (the paths python-binance's ``futures_*`` methods call)."""

from __future__ import annotations

from typing import Any

from paper_exchange import errors, market_data, render, tickers
from paper_exchange.accounts import Position
from paper_exchange.decimals import ZERO, fmt
from paper_exchange.engine import AlgoRequest, OrderRequest, new_client_id
from paper_exchange.errors import ApiError
from paper_exchange.orders import USDM
from paper_exchange.params import SIDES, Params
from paper_exchange.routing import Route
from paper_exchange.spot import order_reference
from paper_exchange.state import PaperExchange

ORDER_TYPES = ("MARKET", "LIMIT")
ALGO_ORDER_TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET")
CONDITIONAL_TYPES = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX")
WORKING_TYPES = ("MARK_PRICE", "CONTRACT_PRICE")


def _check_position_side(p: Params) -> None:
    side = p.get("positionSide")
    if side is not None and side != "BOTH":
        raise ApiError(-4061, "Order's position side does not match user's setting.")


def parse_new_order(ex: PaperExchange, p: Params) -> OrderRequest:
    symbol = p.symbol()
    ex.engine.spec(symbol)
    side = p.choice("side", SIDES)
    raw_type = p.required("type")
    if raw_type in CONDITIONAL_TYPES:
        raise ApiError(-4120, "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.")
    order_type = p.choice("type", ORDER_TYPES)
    assert side is not None and order_type is not None
    _check_position_side(p)
    time_in_force = "GTC"
    price = None
    if order_type == "LIMIT":
        time_in_force = p.choice("timeInForce", TIME_IN_FORCE) or "GTC"
        price = p.positive("price", required=True, what="price")
    quantity = p.positive("quantity", required=True)
    return OrderRequest(
        market=USDM,
        symbol=symbol,
        side=side,
        type=order_type,
        time_in_force=time_in_force,
        quantity=quantity,
        price=price,
        client_order_id=p.client_id("newClientOrderId") or new_client_id(),
        reduce_only=p.flag("reduceOnly"),
    )


def new_order(ex: PaperExchange, p: Params) -> dict[str, Any]:
    order, _ = ex.engine.place(parse_new_order(ex, p))
    return render.futures_order_placed(order)


def order_test(ex: PaperExchange, p: Params) -> dict[str, Any]:
    ex.engine.validate(parse_new_order(ex, p))
    return {}


def get_order(ex: PaperExchange, p: Params) -> dict[str, Any]:
    symbol = p.symbol()
    order_id, client_id = order_reference(p)
    return render.futures_order(ex.engine.get_order(USDM, symbol, order_id, client_id))


def cancel_order(ex: PaperExchange, p: Params) -> dict[str, Any]:
    symbol = p.symbol()
    order_id, client_id = order_reference(p)
    return render.futures_order_cancelled(ex.engine.cancel(USDM, symbol, order_id, client_id))


def open_orders(ex: PaperExchange, p: Params) -> list[dict[str, Any]]:
    symbol = p.get("symbol")
    return [render.futures_order(o) for o in ex.engine.open_orders(USDM, symbol.upper() if symbol else None)]


def all_orders(ex: PaperExchange, p: Params) -> list[dict[str, Any]]:
    symbol = p.symbol()
    ex.engine.spec(symbol)
    orders = [o for o in ex.engine.orders[USDM].values() if o.symbol == symbol]
    return [render.futures_order(o) for o in sorted(orders, key=lambda o: o.order_id)]


def new_algo_order(ex: PaperExchange, p: Params) -> dict[str, Any]:
    algo_type = p.required("algoType")
    if algo_type != "CONDITIONAL":
        raise ApiError(errors.ILLEGAL_CHARS, "Illegal characters found in parameter 'algoType'; legal range is 'CONDITIONAL'.")
    symbol = p.symbol()
    ex.engine.spec(symbol)
    side = p.choice("side", SIDES)
    order_type = p.choice("type", ALGO_ORDER_TYPES)
    assert side is not None and order_type is not None
    _check_position_side(p)
    trigger_price = p.positive("triggerPrice", required=True, what="triggerPrice")
    assert trigger_price is not None
    close_position = p.flag("closePosition")
    quantity = None if close_position else p.positive("quantity", required=True)
    request = AlgoRequest(
        symbol=symbol,
        side=side,
        order_type=order_type,
        quantity=quantity,
        trigger_price=trigger_price,
        close_position=close_position,
        reduce_only=p.flag("reduceOnly"),
        working_type=p.choice("workingType", WORKING_TYPES, required=False) or "CONTRACT_PRICE",
        client_algo_id=p.client_id("clientAlgoId") or new_client_id(),
    )
    return render.algo_order_placed(ex.engine.place_algo(request))


def _algo_reference(p: Params) -> tuple[int | None, str | None]:
    algo_id = p.integer("algoId")
    client_algo_id = p.get("clientAlgoId")
    if algo_id is None and client_algo_id is None:
        raise ApiError(errors.MANDATORY, "Param 'algoId' or 'clientAlgoId' must be sent, but both were empty/null!")
    return algo_id, client_algo_id


def get_algo_order(ex: PaperExchange, p: Params) -> dict[str, Any]:
    algo_id, client_algo_id = _algo_reference(p)
    algo = ex.engine.find_algo(algo_id, client_algo_id, p.get("symbol"))
    if algo is None:
        raise errors.no_such_order()
    return render.algo_order_lookup(algo)


def cancel_algo_order(ex: PaperExchange, p: Params) -> dict[str, Any]:
    algo_id, client_algo_id = _algo_reference(p)
    algo = ex.engine.cancel_algo(algo_id, client_algo_id, p.get("symbol"))
    return {"algoId": algo.algo_id, "clientAlgoId": algo.client_algo_id, "code": "200", "msg": "success"}


def open_algo_orders(ex: PaperExchange, p: Params) -> list[dict[str, Any]]:
    symbol = p.get("symbol")
    return [render.algo_order(a) for a in ex.engine.open_algo_orders(symbol.upper() if symbol else None)]


def all_algo_orders(ex: PaperExchange, p: Params) -> list[dict[str, Any]]:
    symbol = p.symbol()
    ex.engine.spec(symbol)
    return [render.algo_order(a) for a in sorted(ex.engine.algos.values(), key=lambda a: a.algo_id) if a.symbol == symbol]


def change_leverage(ex: PaperExchange, p: Params) -> dict[str, Any]:
    symbol = p.symbol()
    leverage = p.integer("leverage", required=True)
    assert leverage is not None
    ex.engine.set_leverage(symbol, leverage)
    return {"leverage": leverage, "maxNotionalValue": "1000000", "symbol": symbol}


def _positions(ex: PaperExchange, p: Params, held_only: bool) -> list[Position]:
    """The positions ``positionRisk`` reports: ``symbol``'s or every symbol's; with
    ``held_only`` (v3) only those with a position or an open order, as Binance answers."""
    symbol = p.get("symbol")
    if symbol is not None:
        ex.engine.spec(symbol.upper())
    positions = ex.engine.futures.positions
    wanted = [symbol.upper()] if symbol else list(positions)
    if held_only:
        wanted = [s for s in wanted if positions[s].amount or ex.engine.open_orders(USDM, s)]
    return [positions[s] for s in wanted]


def position_risk_v2(ex: PaperExchange, p: Params) -> list[dict[str, Any]]:
    return [render.position_risk_v2(position, ex.prices[position.symbol]) for position in _positions(ex, p, held_only=False)]


def position_risk_v3(ex: PaperExchange, p: Params) -> list[dict[str, Any]]:
    return [render.position_risk_v3(position, ex.prices[position.symbol]) for position in _positions(ex, p, held_only=True)]


def _balance_figures(ex: PaperExchange) -> dict[str, str]:
    futures = ex.engine.futures
    marks = ex.engine.marks()
    unrealized = futures.unrealized(marks)
    available = futures.available(marks)
    return {
        "walletBalance": fmt(futures.wallet),
        "unrealizedProfit": fmt(unrealized),
        "marginBalance": fmt(futures.wallet + unrealized),
        "initialMargin": fmt(futures.used_margin(marks)),
        "availableBalance": fmt(available),
        "maxWithdrawAmount": fmt(max(available, ZERO)),
    }


def _account_totals(ex: PaperExchange) -> tuple[dict[str, Any], dict[str, Any]]:
    """The totals of ``GET /fapi/v2|v3/account`` and its USDT asset entry (v3's fields)."""
    figures = _balance_figures(ex)
    totals = {
        "totalInitialMargin": figures["initialMargin"],
        "totalMaintMargin": "0",
        "totalWalletBalance": figures["walletBalance"],
        "totalUnrealizedProfit": figures["unrealizedProfit"],
        "totalMarginBalance": figures["marginBalance"],
        "totalPositionInitialMargin": figures["initialMargin"],
        "totalOpenOrderInitialMargin": "0",
        "totalCrossWalletBalance": figures["walletBalance"],
        "totalCrossUnPnl": figures["unrealizedProfit"],
        "availableBalance": figures["availableBalance"],
        "maxWithdrawAmount": figures["maxWithdrawAmount"],
    }
    asset = {
        "asset": "USDT",
        "walletBalance": figures["walletBalance"],
        "unrealizedProfit": figures["unrealizedProfit"],
        "marginBalance": figures["marginBalance"],
        "maintMargin": "0",
        "initialMargin": figures["initialMargin"],
        "positionInitialMargin": figures["initialMargin"],
        "openOrderInitialMargin": "0",
        "crossWalletBalance": figures["walletBalance"],
        "crossUnPnl": figures["unrealizedProfit"],
        "availableBalance": figures["availableBalance"],
        "maxWithdrawAmount": figures["maxWithdrawAmount"],
        "updateTime": ex.clock(),
    }
    return totals, asset


def account_v2(ex: PaperExchange, p: Params) -> dict[str, Any]:
    """Every symbol's position, with leverage; the account's flags."""
    totals, asset = _account_totals(ex)
    marks = ex.engine.marks()
    return {
        "feeTier": 0,
        "feeBurn": False,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "updateTime": 0,
        "multiAssetsMargin": False,
        "tradeGroupId": -1,
        **totals,
        "assets": [{**asset, "marginAvailable": True}],
        "positions": [render.account_position_v2(pos, marks[pos.symbol]) for pos in ex.engine.futures.positions.values()],
    }


def account_v3(ex: PaperExchange, p: Params) -> dict[str, Any]:
    """Totals, assets, and only the symbols with a position or an open order."""
    totals, asset = _account_totals(ex)
    marks = ex.engine.marks()
    held = _positions(ex, Params({}), held_only=True)
    return {**totals, "assets": [asset], "positions": [render.account_position_v3(pos, marks[pos.symbol]) for pos in held]}


def balance(ex: PaperExchange, p: Params) -> list[dict[str, Any]]:
    figures = _balance_figures(ex)
    return [
        {
            "accountAlias": "paper",
            "asset": "USDT",
            "balance": figures["walletBalance"],
            "crossWalletBalance": figures["walletBalance"],
            "crossUnPnl": figures["unrealizedProfit"],
            "availableBalance": figures["availableBalance"],
            "maxWithdrawAmount": figures["maxWithdrawAmount"],
            "marginAvailable": True,
            "updateTime": ex.clock(),
        }
    ]


def user_trades(ex: PaperExchange, p: Params) -> list[dict[str, Any]]:
    symbol = p.symbol()
    order_id = p.integer("orderId")
    limit = p.integer("limit") or 500
    return [render.futures_trade(t) for t in ex.engine.symbol_trades(USDM, symbol, order_id)[-limit:]]


ROUTES = [
    Route("GET", "/fapi/v1/ping", market_data.ping),
    Route("GET", "/fapi/v1/time", market_data.server_time),
    Route("GET", "/fapi/v1/exchangeInfo", market_data.futures_exchange_info),
    Route("GET", "/fapi/v1/premiumIndex", market_data.premium_index, weigh=tickers.weigh_by_symbol(1, 10)),
    Route("GET", "/fapi/v1/ticker/price", market_data.futures_ticker_price, weigh=tickers.weigh_by_symbol(1, 2)),
    Route("GET", "/fapi/v2/ticker/price", market_data.futures_ticker_price, weigh=tickers.weigh_by_symbol(1, 2)),
    Route("GET", "/fapi/v1/ticker/24hr", tickers.futures_ticker_24hr, weigh=tickers.weigh_by_symbol(1, 40)),
    Route("GET", "/fapi/v1/ticker/bookTicker", tickers.futures_book_ticker, weigh=tickers.weigh_by_symbol(2, 5)),
    Route("GET", "/fapi/v1/depth", tickers.futures_depth, weigh=tickers.weigh_futures_depth),
    Route("GET", "/fapi/v1/klines", tickers.futures_klines, weigh=tickers.weigh_futures_klines),
    # Placements cost no IP weight on USDⓈ-M futures, only order counts.
    Route("POST", "/fapi/v1/order", new_order, signed=True, is_order=True, weight=0),
    Route("POST", "/fapi/v1/order/test", order_test, signed=True),
    Route("GET", "/fapi/v1/order", get_order, signed=True),
    Route("DELETE", "/fapi/v1/order", cancel_order, signed=True),
    Route("GET", "/fapi/v1/openOrders", open_orders, signed=True, weigh=tickers.weigh_by_symbol(1, 40)),
    Route("GET", "/fapi/v1/allOrders", all_orders, signed=True, weight=5),
    Route("POST", "/fapi/v1/algoOrder", new_algo_order, signed=True, is_order=True, weight=0),
    Route("GET", "/fapi/v1/algoOrder", get_algo_order, signed=True),
    Route("DELETE", "/fapi/v1/algoOrder", cancel_algo_order, signed=True),
    Route("GET", "/fapi/v1/openAlgoOrders", open_algo_orders, signed=True, weigh=tickers.weigh_by_symbol(1, 40)),
    Route("GET", "/fapi/v1/allAlgoOrders", all_algo_orders, signed=True, weight=5),
    Route("POST", "/fapi/v1/leverage", change_leverage, signed=True),
    Route("GET", "/fapi/v2/positionRisk", position_risk_v2, signed=True, weight=5),
    Route("GET", "/fapi/v3/positionRisk", position_risk_v3, signed=True, weight=5),
    Route("GET", "/fapi/v2/account", account_v2, signed=True, weight=5),
    Route("GET", "/fapi/v3/account", account_v3, signed=True, weight=5),
    Route("GET", "/fapi/v2/balance", balance, signed=True, weight=5),
    Route("GET", "/fapi/v3/balance", balance, signed=True, weight=5),
    Route("GET", "/fapi/v1/userTrades", user_trades, signed=True, weight=5),
]
