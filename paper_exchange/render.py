"""Response shapes, field for field as Binance answers them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from paper_exchange.accounts import Position
from paper_exchange.decimals import ZERO, fmt, fmt8
from paper_exchange.orders import AlgoOrder, Order, Trade


def spot_order_ack(order: Order) -> dict[str, Any]:
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": order.time,
    }


def spot_order_result(order: Order) -> dict[str, Any]:
    return {
        **spot_order_ack(order),
        "price": fmt8(order.price),
        "origQty": fmt8(order.orig_qty),
        "executedQty": fmt8(order.executed_qty),
        "origQuoteOrderQty": fmt8(order.quote_order_qty),
        "cummulativeQuoteQty": fmt8(order.cum_quote),
        "status": str(order.status),
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
        "workingTime": order.time,
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def spot_fill(trade: Trade) -> dict[str, Any]:
    return {
        "price": fmt8(trade.price),
        "qty": fmt8(trade.qty),
        "commission": fmt8(trade.commission),
        "commissionAsset": trade.commission_asset,
        "tradeId": trade.trade_id,
    }


def spot_order_full(order: Order, fills: list[Trade]) -> dict[str, Any]:
    return {**spot_order_result(order), "fills": [spot_fill(t) for t in fills]}


def spot_order(order: Order) -> dict[str, Any]:
    """``GET /api/v3/order`` and ``openOrders`` entries."""
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": fmt8(order.price),
        "origQty": fmt8(order.orig_qty),
        "executedQty": fmt8(order.executed_qty),
        "cummulativeQuoteQty": fmt8(order.cum_quote),
        "status": str(order.status),
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
        "stopPrice": fmt8(ZERO),
        "icebergQty": fmt8(ZERO),
        "time": order.time,
        "updateTime": order.update_time,
        "isWorking": True,
        "workingTime": order.time,
        "origQuoteOrderQty": fmt8(order.quote_order_qty),
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def spot_cancel(order: Order, cancel_client_id: str) -> dict[str, Any]:
    return {
        "symbol": order.symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": cancel_client_id,
        "transactTime": order.update_time,
        "price": fmt8(order.price),
        "origQty": fmt8(order.orig_qty),
        "executedQty": fmt8(order.executed_qty),
        "origQuoteOrderQty": fmt8(order.quote_order_qty),
        "cummulativeQuoteQty": fmt8(order.cum_quote),
        "status": str(order.status),
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def spot_trade(trade: Trade) -> dict[str, Any]:
    return {
        "symbol": trade.symbol,
        "id": trade.trade_id,
        "orderId": trade.order_id,
        "orderListId": -1,
        "price": fmt8(trade.price),
        "qty": fmt8(trade.qty),
        "quoteQty": fmt8(trade.quote_qty),
        "commission": fmt8(trade.commission),
        "commissionAsset": trade.commission_asset,
        "time": trade.time,
        "isBuyer": trade.side == "BUY",
        "isMaker": trade.maker,
        "isBestMatch": True,
    }


def futures_order(order: Order) -> dict[str, Any]:
    """``GET /fapi/v1/order``, ``openOrders`` and ``allOrders`` entries."""
    return {
        "avgPrice": fmt(order.avg_price),
        "clientOrderId": order.client_order_id,
        "cumQuote": fmt(order.cum_quote),
        "executedQty": fmt(order.executed_qty),
        "orderId": order.order_id,
        "origQty": fmt(order.orig_qty),
        "origType": order.orig_type or order.type,
        "price": fmt(order.price),
        "reduceOnly": order.reduce_only,
        "side": order.side,
        "positionSide": "BOTH",
        "status": str(order.status),
        "stopPrice": fmt(order.stop_price),
        "closePosition": order.close_position,
        "symbol": order.symbol,
        "time": order.time,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "updateTime": order.update_time,
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
    }


def futures_order_placed(order: Order) -> dict[str, Any]:
    """``POST /fapi/v1/order``: the lookup's fields with ``cumQty``, without ``time``."""
    body = futures_order(order)
    del body["time"]
    return {"cumQty": fmt(order.executed_qty), **body}


def futures_order_cancelled(order: Order) -> dict[str, Any]:
    """``DELETE /fapi/v1/order``: as placed, without ``avgPrice``."""
    body = futures_order_placed(order)
    del body["avgPrice"]
    return body


def futures_trade(trade: Trade) -> dict[str, Any]:
    return {
        "buyer": trade.side == "BUY",
        "commission": fmt(trade.commission),
        "commissionAsset": trade.commission_asset,
        "id": trade.trade_id,
        "maker": trade.maker,
        "orderId": trade.order_id,
        "price": fmt(trade.price),
        "qty": fmt(trade.qty),
        "quoteQty": fmt(trade.quote_qty),
        "realizedPnl": fmt(trade.realized_pnl),
        "side": trade.side,
        "positionSide": "BOTH",
        "symbol": trade.symbol,
        "time": trade.time,
    }


def algo_order(algo: AlgoOrder) -> dict[str, Any]:
    return {
        "algoId": algo.algo_id,
        "clientAlgoId": algo.client_algo_id,
        "algoType": "CONDITIONAL",
        "orderType": algo.order_type,
        "symbol": algo.symbol,
        "side": algo.side,
        "positionSide": "BOTH",
        "timeInForce": "GTC",
        "quantity": fmt(algo.quantity),
        "algoStatus": str(algo.status),
        "actualOrderId": str(algo.actual_order_id) if algo.actual_order_id else "",
        "actualPrice": fmt(algo.actual_price) if algo.actual_order_id else "",
        "triggerPrice": fmt(algo.trigger_price),
        "price": "0",
        "icebergQuantity": None,
        "tpTriggerPrice": "0",
        "tpPrice": "0",
        "slTriggerPrice": "0",
        "slPrice": "0",
        "tpOrderType": "",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "workingType": algo.working_type,
        "priceMatch": "NONE",
        "closePosition": algo.close_position,
        "priceProtect": False,
        "reduceOnly": algo.reduce_only,
        "createTime": algo.create_time,
        "updateTime": algo.update_time,
        "triggerTime": algo.trigger_time,
        "goodTillDate": 0,
    }


# Fields of the algo order listings (``openAlgoOrders``, ``allAlgoOrders``) that a single
# algo order's answers (placement, lookup) do not carry.
_ALGO_LISTING_ONLY = ("tpTriggerPrice", "tpPrice", "slTriggerPrice", "slPrice")
# And those a placement does not carry either: nothing has executed yet.
_ALGO_EXECUTION = ("actualOrderId", "actualPrice", "tpOrderType")


def algo_order_lookup(algo: AlgoOrder) -> dict[str, Any]:
    """``GET /fapi/v1/algoOrder``."""
    body = algo_order(algo)
    for name in _ALGO_LISTING_ONLY:
        del body[name]
    return body


def algo_order_placed(algo: AlgoOrder) -> dict[str, Any]:
    """``POST /fapi/v1/algoOrder``."""
    body = algo_order_lookup(algo)
    for name in _ALGO_EXECUTION:
        del body[name]
    return body


# Maintenance margin rate of the lowest notional bracket, the one the paper exchange applies.
MAINT_MARGIN_RATE = Decimal("0.004")


def _position_figures(position: Position, mark: Decimal) -> dict[str, str]:
    notional = position.amount * mark
    initial = abs(notional) / position.leverage
    return {"notional": fmt(notional), "initialMargin": fmt(initial), "maintMargin": fmt(abs(notional) * MAINT_MARGIN_RATE)}


def position_risk_v2(position: Position, mark: Decimal) -> dict[str, Any]:
    """``GET /fapi/v2/positionRisk`` entries: every symbol, with leverage and margin type."""
    return {
        "entryPrice": fmt(position.entry_price),
        "breakEvenPrice": fmt(position.entry_price),
        "marginType": "cross",
        "isAutoAddMargin": "false",
        "isolatedMargin": "0",
        "leverage": str(position.leverage),
        "liquidationPrice": "0",
        "markPrice": fmt(mark),
        "maxNotionalValue": "1000000",
        "positionAmt": fmt(position.amount),
        "notional": _position_figures(position, mark)["notional"],
        "isolatedWallet": "0",
        "symbol": position.symbol,
        "unRealizedProfit": fmt(position.unrealized(mark)),
        "positionSide": "BOTH",
        "updateTime": position.update_time,
    }


def position_risk_v3(position: Position, mark: Decimal) -> dict[str, Any]:
    """``GET /fapi/v3/positionRisk`` entries: margins instead of leverage and margin type."""
    figures = _position_figures(position, mark)
    return {
        "symbol": position.symbol,
        "positionSide": "BOTH",
        "positionAmt": fmt(position.amount),
        "entryPrice": fmt(position.entry_price),
        "breakEvenPrice": fmt(position.entry_price),
        "markPrice": fmt(mark),
        "unRealizedProfit": fmt(position.unrealized(mark)),
        "liquidationPrice": "0",
        "isolatedMargin": "0",
        "notional": figures["notional"],
        "marginAsset": "USDT",
        "isolatedWallet": "0",
        "initialMargin": figures["initialMargin"],
        "maintMargin": figures["maintMargin"],
        "positionInitialMargin": figures["initialMargin"],
        "openOrderInitialMargin": "0",
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": position.update_time,
    }


def account_position_v2(position: Position, mark: Decimal) -> dict[str, Any]:
    """``positions`` of ``GET /fapi/v2/account``."""
    figures = _position_figures(position, mark)
    return {
        "symbol": position.symbol,
        "initialMargin": figures["initialMargin"],
        "maintMargin": figures["maintMargin"],
        "unrealizedProfit": fmt(position.unrealized(mark)),
        "positionInitialMargin": figures["initialMargin"],
        "openOrderInitialMargin": "0",
        "leverage": str(position.leverage),
        "isolated": False,
        "entryPrice": fmt(position.entry_price),
        "maxNotional": "1000000",
        "bidNotional": "0",
        "askNotional": "0",
        "positionSide": "BOTH",
        "positionAmt": fmt(position.amount),
        "updateTime": position.update_time,
    }


def account_position_v3(position: Position, mark: Decimal) -> dict[str, Any]:
    """``positions`` of ``GET /fapi/v3/account``: no leverage, entry price or isolated flag."""
    figures = _position_figures(position, mark)
    return {
        "symbol": position.symbol,
        "positionSide": "BOTH",
        "positionAmt": fmt(position.amount),
        "unrealizedProfit": fmt(position.unrealized(mark)),
        "isolatedMargin": "0",
        "notional": figures["notional"],
        "isolatedWallet": "0",
        "initialMargin": figures["initialMargin"],
        "maintMargin": figures["maintMargin"],
        "updateTime": position.update_time,
    }


def admin_order(order: Order) -> dict[str, Any]:
    return {
        "market": order.market,
        "symbol": order.symbol,
        "side": order.side,
        "type": order.type,
        "origType": order.orig_type or order.type,
        "clientOrderId": order.client_order_id,
        "orderId": order.order_id,
        "status": str(order.status),
        "origQty": fmt(order.orig_qty),
        "executedQty": fmt(order.executed_qty),
        "avgPrice": fmt(order.avg_price),
        "price": fmt(order.price),
        "cumQuote": fmt(order.cum_quote),
        "commission": fmt(order.commission),
        "timeInForce": order.time_in_force,
        "reduceOnly": order.reduce_only,
        "parentAlgoId": order.algo_id or None,
        "time": order.time,
        "updateTime": order.update_time,
    }


def admin_algo(algo: AlgoOrder) -> dict[str, Any]:
    return {
        "market": "usdm",
        "symbol": algo.symbol,
        "side": algo.side,
        "type": algo.order_type,
        "origType": algo.order_type,
        "clientAlgoId": algo.client_algo_id,
        "algoId": algo.algo_id,
        "status": str(algo.status),
        "origQty": fmt(algo.quantity),
        "executedQty": "0",
        "avgPrice": fmt(algo.actual_price),
        "price": "0",
        "triggerPrice": fmt(algo.trigger_price),
        "closePosition": algo.close_position,
        "reduceOnly": algo.reduce_only,
        "actualOrderId": algo.actual_order_id or None,
        "timeInForce": "GTC",
        "time": algo.create_time,
        "updateTime": algo.update_time,
    }
