"""The risk gate: sizing against the exchange's filters, and rejections with a reason."""

from __future__ import annotations

from decimal import Decimal

import pytest

from quantum_trader.ids import client_order_id
from quantum_trader.models import TradeDecision
from quantum_trader.risk import MarketFacts, evaluate, round_to_step
from quantum_trader.settings import Settings


def _settings(**overrides: object) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[arg-type]


FACTS = MarketFacts(
    listed=True, step_size=Decimal("0.00001"), min_qty=Decimal("0.00001"), max_qty=Decimal("9000"),
    tick_size=Decimal("0.01"), min_notional=Decimal("5"), last_price=Decimal("60000"),
)


def _decision(**fields: object) -> TradeDecision:
    values = {"trace_id": "t-1", "symbol": "BTCUSDT", "side": "BUY", "confidence": "0.9", **fields}
    return TradeDecision.model_validate(values)


def test_risk_gate_sizes_quote_amount_down_to_step() -> None:
    verdict = evaluate(_decision(position_size_usd="100"), _settings(), FACTS)
    assert verdict.approved and verdict.order is not None
    assert verdict.order.quantity == Decimal("0.00166")  # 100 / 60000 = 0.0016666.. floored
    assert verdict.order.client_order_id == client_order_id("t-1")


def test_risk_gate_limit_price_rounded_in_the_safe_direction() -> None:
    buy = evaluate(_decision(order_type="LIMIT", price="59999.999", quantity="0.001"), _settings(), FACTS)
    sell = evaluate(_decision(side="SELL", order_type="LIMIT", price="60000.001", quantity="0.001"), _settings(), FACTS)
    assert buy.order and buy.order.price == Decimal("59999.99")
    assert sell.order and sell.order.price == Decimal("60000.01")


@pytest.mark.parametrize(
    ("decision", "settings", "kill", "needle"),
    [
        ({"quantity": "0.001"}, {}, True, "kill switch"),
        ({"quantity": "0.001", "confidence": "0.2"}, {}, False, "confidence"),
        ({"quantity": "0.001", "symbol": "DOGEUSDT"}, {}, False, "allowed list"),
        ({"quantity": "0.000001"}, {}, False, "below the minimum"),
        ({"quantity": "0.00005"}, {}, False, "notional 3"),
        ({"quantity": "1"}, {"max_notional_usd": "1000"}, False, "exceeds the limit"),
        ({"quantity": "0.001", "market": "usdm"}, {}, False, "usdm"),
    ],
)
def test_risk_gate_rejections_carry_a_reason(decision: dict, settings: dict, kill: bool, needle: str) -> None:
    verdict = evaluate(_decision(**decision), _settings(**settings), FACTS, kill_switch=kill)
    assert not verdict.approved and verdict.order is None
    assert needle in verdict.reason


def test_risk_gate_unlisted_symbol_rejected() -> None:
    verdict = evaluate(_decision(quantity="1"), _settings(), MarketFacts(listed=False))
    assert not verdict.approved and "not listed" in verdict.reason


def test_round_to_step_keeps_exact_multiples() -> None:
    assert round_to_step(Decimal("0.123"), Decimal("0.001")) == Decimal("0.123")
    assert round_to_step(Decimal("0.1239"), Decimal("0.001")) == Decimal("0.123")
    assert round_to_step(Decimal("5"), Decimal("0")) == Decimal("5")
