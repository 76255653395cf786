"""Pure domain rules: the state table, idempotency keys, the decision model, the risk gate."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from pydantic import ValidationError

from quantum_trader.ids import CLIENT_ORDER_ID_MAX_LEN, Step, client_order_id
from quantum_trader.models import OrderType, Side, TradeDecision
from quantum_trader.risk import MarketFacts, evaluate, round_to_step
from quantum_trader.settings import Settings
from quantum_trader.states import TERMINAL_STATES, TRANSITIONS, IntentState, InvalidTransition, transition

S = IntentState


def test_state_table_terminal_states_have_no_way_out_except_partial() -> None:
    assert TERMINAL_STATES == {S.FILLED, S.PARTIALLY_FILLED, S.CANCELLED, S.EXPIRED, S.REJECTED, S.FAILED}
    for state in TERMINAL_STATES - {S.PARTIALLY_FILLED}:
        assert TRANSITIONS[state] == frozenset()


def test_state_table_every_live_state_can_reach_failed() -> None:
    for state in set(S) - TERMINAL_STATES:
        assert S.FAILED in TRANSITIONS[state]


@pytest.mark.parametrize(
    ("current", "target"),
    [(S.FILLED, S.CANCELLED), (S.REJECTED, S.SUBMITTED), (S.RECEIVED, S.FILLED), (S.OPEN, S.REJECTED)],
)
def test_transition_not_in_table_raises(current: IntentState, target: IntentState) -> None:
    with pytest.raises(InvalidTransition):
        transition(current, target)


def test_transition_same_state_is_allowed() -> None:
    assert transition(S.OPEN, S.OPEN) is S.OPEN


@pytest.mark.parametrize("trace", ["a", "proof-dup-a443a4c3", "x" * 128, "ai:2026-11-26T10:00:00.123Z", "äöü-日本"])
def test_client_order_id_fits_binance_alphabet_and_length(trace: str) -> None:
    for step in Step:
        value = client_order_id(trace, step)
        assert len(value) <= CLIENT_ORDER_ID_MAX_LEN
        assert re.fullmatch(r"[A-Za-z0-9_-]+", value)
        assert value == client_order_id(trace, step)  # deterministic


def test_client_order_id_differs_for_trace_ids_sharing_a_prefix() -> None:
    a, b = "same-prefix-long-enough-0001", "same-prefix-long-enough-0002"
    assert client_order_id(a) != client_order_id(b)
    assert client_order_id(a, Step.ENTRY) != client_order_id(a, Step.STOP_LOSS)


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


def test_settings_secret_file_variant_and_no_secret_in_repr(tmp_path) -> None:  # noqa: ANN001
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cr3t-value\n")
    settings = _settings(binance_api_key="key-value", binance_api_secret_file=str(secret_file))
    assert settings.binance_credentials == ("key-value", "s3cr3t-value")
    assert "s3cr3t-value" not in repr(settings) and "key-value" not in repr(settings)
