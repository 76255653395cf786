"""Binance's user data stream events to the store's events (:mod:`.order_events`).

Nothing past this module sees the stream's one-letter field names. An event this project
does not follow (balances, positions, an order status it does not know) becomes ``None``:
the watch then sees nothing new and the REST reconciliation reads the order itself.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from activities.exchange.order_events import AlgoEvent, OrderEvent, Trade
from quantum_trader.models import Side
from quantum_trader.states import AlgoStatus, OrderStatus

EXECUTION_REPORT = "executionReport"
ORDER_TRADE_UPDATE = "ORDER_TRADE_UPDATE"
ALGO_UPDATE = "ALGO_UPDATE"
# The execution type (``x``) of a cancel is spelled like the status.
CANCELED = OrderStatus.CANCELED.value


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def _trade(o: dict[str, Any]) -> Trade | None:
    trade_id = int(o.get("t", -1))
    if trade_id < 0 or _decimal(o.get("l")) == 0:
        return None
    return Trade(trade_id=trade_id, qty=_decimal(o.get("l")), fee=_decimal(o.get("n")), fee_asset=o.get("N") or None)


def _order_status(value: Any) -> OrderStatus | None:
    try:
        return OrderStatus(value)
    except ValueError:
        return None


def execution_report(e: dict[str, Any]) -> OrderEvent | None:
    """A spot ``executionReport``. A cancel reports the cancel request's ID in ``c`` and the
    order's own in ``C``."""
    status = _order_status(e.get("X"))
    if status is None:
        return None
    client_order_id = e.get("C") if e.get("x") == CANCELED and e.get("C") else e.get("c")
    return OrderEvent(
        client_order_id=str(client_order_id), symbol=e["s"], side=Side(e["S"]), order_type=e["o"], status=status,
        order_id=int(e["i"]), orig_qty=_decimal(e.get("q")), executed_qty=_decimal(e.get("z")),
        cumulative_quote_qty=_decimal(e.get("Z")), transaction_ms=int(e.get("T") or e.get("E") or 0),
        event_ms=int(e.get("E") or 0), trade=_trade(e),
    )


def order_trade_update(e: dict[str, Any]) -> OrderEvent | None:
    """A futures ``ORDER_TRADE_UPDATE``: no cumulative quote, so average price times filled."""
    o = e["o"]
    status = _order_status(o.get("X"))
    if status is None:
        return None
    executed = _decimal(o.get("z"))
    return OrderEvent(
        client_order_id=str(o["c"]), symbol=o["s"], side=Side(o["S"]), order_type=o["o"], status=status,
        order_id=int(o["i"]), orig_qty=_decimal(o.get("q")), executed_qty=executed,
        cumulative_quote_qty=(_decimal(o.get("ap")) * executed).normalize() if executed else Decimal(0),
        transaction_ms=int(o.get("T") or e.get("T") or e.get("E") or 0), event_ms=int(e.get("E") or 0), trade=_trade(o),
    )


def algo_update(e: dict[str, Any]) -> AlgoEvent | None:
    """A futures ``ALGO_UPDATE``: a conditional order placed, triggered, finished or ended."""
    o = e["o"]
    try:
        status = AlgoStatus(o.get("X"))
    except ValueError:
        return None
    actual = o.get("ai")
    price = o.get("ap")
    return AlgoEvent(
        client_algo_id=str(o["caid"]), algo_id=int(o["aid"]), status=status,
        actual_order_id=int(actual) if actual not in (None, "", 0, "0") else None,
        actual_price=_decimal(price) if price not in (None, "", "0", 0) and _decimal(price) != 0 else None,
        executed_qty=_decimal(o.get("aq")), transaction_ms=int(e.get("T") or e.get("E") or 0),
        event_ms=int(e.get("E") or 0),
    )


def parse(e: dict[str, Any]) -> OrderEvent | AlgoEvent | None:
    """The store event an exchange event carries, or ``None`` for one not followed."""
    kind = e.get("e")
    if kind == EXECUTION_REPORT:
        return execution_report(e)
    if kind == ORDER_TRADE_UPDATE:
        return order_trade_update(e)
    if kind == ALGO_UPDATE:
        return algo_update(e)
    return None
