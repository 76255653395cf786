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
    return {
        "orderId": order.order_id,
        "symbol": order.symbol,
        "status": str(order.status),
        "clientOrderId": order.client_order_id,
        "price": fmt(order.price),
        "avgPrice": fmt(order.avg_price),
        "origQty": fmt(order.orig_qty),
        "executedQty": fmt(order.executed_qty),
        "cumQty": fmt(order.executed_qty),
        "cumQuote": fmt(order.cum_quote),
        "timeInForce": order.time_in_force,
        "type": order.type,
        "reduceOnly": order.reduce_only,
        "closePosition": order.close_position,
        "side": order.side,
        "positionSide": "BOTH",
        "stopPrice": fmt(order.stop_price),
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": order.orig_type or order.type,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
        "time": order.time,
        "updateTime": order.update_time,
    }


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


def position_risk(position: Position, mark: Decimal) -> dict[str, Any]:
    notional = position.amount * mark
    initial = abs(notional) / position.leverage
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
        "notional": fmt(notional),
        "marginAsset": "USDT",
        "isolatedWallet": "0",
        "initialMargin": fmt(initial),
        "maintMargin": fmt(abs(notional) * Decimal("0.004")),
        "positionInitialMargin": fmt(initial),
        "openOrderInitialMargin": "0",
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
        "leverage": str(position.leverage),
        "marginType": "cross",
        "isAutoAddMargin": "false",
        "maxNotionalValue": "1000000",
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
