"""Binance's JSON to the project's values: order and algo snapshots, symbol rules.

Nothing past this module sees Binance's field names or status strings. A status this
project does not know becomes :class:`OutcomeUnknown` naming it: the order's state cannot
be judged, and a later attempt may read a status it knows.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from activities.exchange import OutcomeUnknown, SymbolRules
from quantum_trader.models import AlgoSnapshot, OrderSnapshot
from quantum_trader.states import AlgoStatus, OrderStatus

# exchangeInfo lists halted and delisted symbols too; only these are tradable.
TRADING = "TRADING"


def order_status(value: object) -> OrderStatus:
    try:
        return OrderStatus(value)
    except ValueError:
        raise OutcomeUnknown(f"exchange reported an unknown order status {value!r}") from None


def algo_status(value: object) -> AlgoStatus:
    try:
        return AlgoStatus(value)
    except ValueError:
        raise OutcomeUnknown(f"exchange reported an unknown algo order status {value!r}") from None


def order_snapshot(data: dict[str, Any], client_order_id: str) -> OrderSnapshot:
    """An order answer (placement, lookup or cancel), spot or futures."""
    fills = data.get("fills") or []
    fees = sum((Decimal(f.get("commission", "0")) for f in fills), Decimal(0))
    fee_asset = fills[0].get("commissionAsset") if fills else None
    quote = data.get("cummulativeQuoteQty") or data.get("cumQuote") or "0"
    return OrderSnapshot(
        client_order_id=data.get("clientOrderId") or client_order_id,
        order_id=data.get("orderId"),
        status=order_status(data.get("status", OrderStatus.NEW)),
        orig_qty=Decimal(str(data.get("origQty", "0"))),
        executed_qty=Decimal(str(data.get("executedQty", "0"))),
        cumulative_quote_qty=Decimal(str(quote)),
        fees=fees,
        fee_asset=fee_asset,
        update_time_ms=data.get("updateTime") or data.get("transactTime"),
        symbol=data.get("symbol"),
        side=data.get("side"),
        order_type=data.get("type"),
    )


def algo_snapshot(data: dict[str, Any], client_algo_id: str) -> AlgoSnapshot:
    """A conditional (algo) order answer."""
    actual = data.get("actualOrderId")
    price = data.get("actualPrice")
    return AlgoSnapshot(
        client_algo_id=data.get("clientAlgoId") or client_algo_id,
        algo_id=data.get("algoId"),
        status=algo_status(data.get("algoStatus", AlgoStatus.NEW)),
        actual_order_id=int(actual) if actual not in (None, "", 0, "0") else None,
        actual_price=Decimal(str(price)) if price not in (None, "") else None,
    )


def with_fees(snapshot: OrderSnapshot, trades: list[dict[str, Any]]) -> OrderSnapshot:
    """``snapshot`` with the commission of the order's trades totalled."""
    total = sum((Decimal(str(t.get("commission", "0"))) for t in trades), Decimal(0))
    asset = trades[0].get("commissionAsset") if trades else snapshot.fee_asset
    return snapshot.model_copy(update={"fees": total, "fee_asset": asset})


def position_amount(rows: list[dict[str, Any]]) -> Decimal:
    """The one-way-mode (``BOTH``) position from ``positionRisk`` rows."""
    return sum((Decimal(str(r.get("positionAmt", "0"))) for r in rows if r.get("positionSide", "BOTH") == "BOTH"), Decimal(0))


def rules_by_symbol(info: dict[str, Any]) -> dict[str, SymbolRules]:
    """The tradable symbols of an ``exchangeInfo`` answer, spot or futures."""
    return {s["symbol"]: symbol_rules(s) for s in info.get("symbols", []) if s.get("status", TRADING) == TRADING}


def symbol_rules(entry: dict[str, Any]) -> SymbolRules:
    filters = {f["filterType"]: f for f in entry.get("filters", [])}
    lot = filters.get("LOT_SIZE", {})
    price = filters.get("PRICE_FILTER", {})
    notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
    return SymbolRules(
        symbol=entry["symbol"],
        base_asset=entry.get("baseAsset", ""),
        quote_asset=entry.get("quoteAsset", ""),
        step_size=Decimal(str(lot.get("stepSize", "0"))),
        min_qty=Decimal(str(lot.get("minQty", "0"))),
        max_qty=Decimal(str(lot.get("maxQty", "0"))),
        tick_size=Decimal(str(price.get("tickSize", "0"))),
        min_notional=Decimal(str(notional.get("minNotional") or notional.get("notional") or "0")),
    )
