"""User data stream payloads, field letter for field letter as Binance sends them.

Spot: ``executionReport`` and ``outboundAccountPosition`` (the WebSocket API wraps them
as ``{"subscriptionId": n, "event": {...}}``). USD-M futures: ``ORDER_TRADE_UPDATE``,
``ACCOUNT_UPDATE`` and ``ALGO_UPDATE``. ``E`` is the event time (when the stream sends
it), ``T`` the transaction time of the change; both on the exchange's clock.
"""

from __future__ import annotations

from typing import Any

from paper_exchange.decimals import ZERO, fmt, fmt8
from paper_exchange.events import AlgoEvent, FuturesAccountEvent, OrderEvent, SpotBalanceEvent, StreamEvent
from paper_exchange.orders import SPOT


def spot_event(event: StreamEvent, now: int, execution_id: int) -> dict[str, Any] | None:
    """The spot payload of ``event``, or ``None`` when spot streams do not carry it."""
    if isinstance(event, OrderEvent) and event.order.market == SPOT:
        return execution_report(event, now, execution_id)
    if isinstance(event, SpotBalanceEvent):
        return account_position(event, now)
    return None


def futures_event(event: StreamEvent, now: int) -> dict[str, Any] | None:
    """The USD-M futures payload of ``event``, or ``None`` when futures streams do not carry it."""
    if isinstance(event, OrderEvent) and event.order.market != SPOT:
        return order_trade_update(event, now)
    if isinstance(event, FuturesAccountEvent):
        return account_update(event, now)
    if isinstance(event, AlgoEvent):
        return algo_update(event, now)
    return None


def execution_report(event: OrderEvent, now: int, execution_id: int) -> dict[str, Any]:
    order, trade = event.order, event.trade
    # A cancel reports the cancel request's client order ID in ``c`` and the order's in ``C``.
    client_id, original_id = (event.cancel_client_id, order.client_order_id) if event.cancel_client_id else (
        order.client_order_id, "")
    return {
        "e": "executionReport",
        "E": now,
        "s": order.symbol,
        "c": client_id,
        "S": order.side,
        "o": order.type,
        "f": order.time_in_force,
        "q": fmt8(order.orig_qty),
        "p": fmt8(order.price),
        "P": fmt8(ZERO),
        "F": fmt8(ZERO),
        "g": -1,
        "C": original_id,
        "x": event.execution,
        "X": str(order.status),
        "r": "NONE",
        "i": order.order_id,
        "l": fmt8(trade.qty if trade else ZERO),
        "z": fmt8(order.executed_qty),
        "L": fmt8(trade.price if trade else ZERO),
        "n": fmt8(trade.commission) if trade else "0",
        "N": trade.commission_asset if trade else None,
        "T": event.time,
        "t": trade.trade_id if trade else -1,
        "I": execution_id,
        "w": order.is_open and order.type != "MARKET",
        "m": trade.maker if trade else False,
        "M": False,
        "O": order.time,
        "Z": fmt8(order.cum_quote),
        "Y": fmt8(trade.quote_qty if trade else ZERO),
        "Q": fmt8(order.quote_order_qty),
        "W": order.time,
        "V": "EXPIRE_MAKER",
    }


def account_position(event: SpotBalanceEvent, now: int) -> dict[str, Any]:
    return {
        "e": "outboundAccountPosition",
        "E": now,
        "u": event.time,
        "B": [{"a": asset, "f": fmt8(free), "l": fmt8(locked)} for asset, free, locked in event.balances],
    }


def order_trade_update(event: OrderEvent, now: int) -> dict[str, Any]:
    order, trade = event.order, event.trade
    return {
        "e": "ORDER_TRADE_UPDATE",
        "E": now,
        "T": event.time,
        "o": {
            "s": order.symbol,
            "c": order.client_order_id,
            "S": order.side,
            "o": order.type,
            "f": order.time_in_force,
            "q": fmt(order.orig_qty),
            "p": fmt(order.price),
            "ap": fmt(order.avg_price),
            "sp": fmt(order.stop_price),
            "x": event.execution,
            "X": str(order.status),
            "i": order.order_id,
            "l": fmt(trade.qty if trade else ZERO),
            "z": fmt(order.executed_qty),
            "L": fmt(trade.price if trade else ZERO),
            "N": trade.commission_asset if trade else "USDT",
            "n": fmt(trade.commission if trade else ZERO),
            "T": event.time,
            "t": trade.trade_id if trade else 0,
            "b": "0",
            "a": "0",
            "m": trade.maker if trade else False,
            "R": order.reduce_only,
            "wt": "CONTRACT_PRICE",
            "ot": order.orig_type or order.type,
            "ps": "BOTH",
            "cp": order.close_position,
            "rp": fmt(trade.realized_pnl if trade else ZERO),
            "pP": False,
            "si": 0,
            "ss": 0,
            "V": "EXPIRE_MAKER",
            "pm": "NONE",
            "gtd": 0,
        },
    }


def account_update(event: FuturesAccountEvent, now: int) -> dict[str, Any]:
    position = event.position
    return {
        "e": "ACCOUNT_UPDATE",
        "E": now,
        "T": event.time,
        "a": {
            "m": "ORDER",
            "B": [{"a": "USDT", "wb": fmt(event.wallet), "cw": fmt(event.wallet), "bc": "0"}],
            "P": [{
                "s": position.symbol,
                "pa": fmt(position.amount),
                "ep": fmt(position.entry_price),
                "bep": fmt(position.entry_price),
                "cr": "0",
                "up": fmt(position.unrealized(event.mark)),
                "mt": "cross",
                "iw": "0",
                "ps": "BOTH",
            }],
        },
    }


def algo_update(event: AlgoEvent, now: int) -> dict[str, Any]:
    algo = event.algo
    placed = bool(algo.actual_order_id)
    return {
        "e": "ALGO_UPDATE",
        "T": event.time,
        "E": now,
        "o": {
            "caid": algo.client_algo_id,
            "aid": algo.algo_id,
            "at": "CONDITIONAL",
            "o": algo.order_type,
            "s": algo.symbol,
            "S": algo.side,
            "ps": "BOTH",
            "f": "GTC",
            "q": fmt(algo.quantity),
            "X": event.status,
            "ai": str(algo.actual_order_id) if placed else "",
            "ap": fmt(event.avg_price),
            "aq": fmt(event.filled),
            "act": "MARKET" if placed else "",
            "tp": fmt(algo.trigger_price),
            "p": "0",
            "V": "EXPIRE_MAKER",
            "wt": algo.working_type,
            "pm": "NONE",
            "cp": algo.close_position,
            "pP": False,
            "R": algo.reduce_only,
            "tt": algo.trigger_time,
            "gtd": 0,
            "rm": "",
        },
    }
