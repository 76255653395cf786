"""The decision model: the gate for untrusted input refuses with a readable reason."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from quantum_trader.models import OrderType, Side, TradeDecision


def test_decision_accepts_original_action_alias_and_string_fields() -> None:
    d = TradeDecision.model_validate(
        {"trace_id": "proof-dup-a443a4c3", "symbol": "btcusdt", "action": "buy", "confidence": "0.8", "position_size_usd": "100"}
    )
    assert d.side is Side.BUY and d.symbol == "BTCUSDT" and d.position_size_usd == Decimal("100")
    assert d.order_type is OrderType.MARKET


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"quantity": "NaN"}, "quantity"),
        ({"quantity": "Infinity"}, "quantity"),
        ({"quantity": "-1"}, "greater than zero"),
        ({"quantity": "0"}, "greater than zero"),
        ({"quantity": 1e309}, "quantity"),
        ({"side": "HOLD"}, "side"),
        ({"trace_id": "bad id with spaces"}, "trace_id"),
        ({"trace_id": "x" * 300}, "trace_id"),
        ({"trace_id": "-leading"}, "trace_id"),
        ({"order_type": "LIMIT"}, "price"),
        ({"confidence": "1.5"}, "confidence"),
        ({"quantity": None, "position_size_usd": None}, "quantity or position_size_usd"),
        ({"symbol": "BTC/USDT"}, "symbol"),
        ({"source": "a\x00b"}, "source"),
    ],
)
def test_decision_bad_input_refused_with_reason(fields: dict, needle: str) -> None:
    values = {"trace_id": "t-1", "symbol": "BTCUSDT", "side": "BUY", "quantity": "1", **fields}
    with pytest.raises(ValidationError) as error:
        TradeDecision.model_validate(values)
    assert needle in str(error.value)
