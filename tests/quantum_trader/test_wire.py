"""The ai.decision.made wire forms: both shapes parse, everything else gets a reason."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantum_trader.constants import WIRE_MAX_BYTES, WIRE_MAX_FIELDS
from quantum_trader.models import Side
from quantum_trader.wire import Accepted, Rejected, WireForm, parse

ALLOWED = ("BTCUSDT", "ETHUSDT")

# The original proof harness: XADD quantum:stream:ai.decision.made * <flat fields> trace_id=proof-dup-...
PROOF_HARNESS = {
    b"symbol": b"BTCUSDT",
    b"action": b"BUY",
    b"confidence": b"0.85",
    b"position_size_usd": b"100",
    b"leverage": b"1",
    b"timestamp": b"2026-01-15T10:00:00Z",
    b"source": b"proof_harness",
    b"trace_id": b"proof-dup-a443a4c3",
}


def _bus(payload: dict[str, Any], **envelope: bytes) -> dict[bytes, bytes]:
    return {b"data": json.dumps(payload).encode(), **{k.encode(): v for k, v in envelope.items()}}


def _accepted(fields: Any) -> Accepted:
    parsed = parse(fields, ALLOWED)
    assert isinstance(parsed, Accepted), parsed
    return parsed


def _reason(fields: Any) -> str:
    parsed = parse(fields, ALLOWED)
    assert isinstance(parsed, Rejected), parsed
    return parsed.reason


def test_wire_proof_harness_flat_fields_accepted() -> None:
    parsed = _accepted(PROOF_HARNESS)
    assert parsed.form is WireForm.FLAT
    d = parsed.decision
    assert (d.trace_id, d.symbol, d.side) == ("proof-dup-a443a4c3", "BTCUSDT", Side.BUY)
    assert d.confidence == Decimal("0.85") and d.position_size_usd == Decimal("100")
    assert d.source == "proof_harness" and d.leverage == 1


def test_wire_flat_fields_as_str_accepted() -> None:
    fields = {k.decode(): v.decode() for k, v in PROOF_HARNESS.items()}
    assert _accepted(fields).decision.trace_id == "proof-dup-a443a4c3"


def test_wire_event_bus_data_json_accepted_with_exact_decimals() -> None:
    payload = {"trace_id": "bus-1", "symbol": "ethusdt", "action": "sell", "confidence": 0.7,
               "position_size_usd": 12.34, "leverage": 3, "timestamp": 1767261600, "source": "ai-engine",
               "stop_loss_pct": 0.02, "extra": {"nested": [1, 2]}}
    parsed = _accepted(_bus(payload))
    assert parsed.form is WireForm.DATA
    d = parsed.decision
    assert (d.trace_id, d.symbol, d.side) == ("bus-1", "ETHUSDT", Side.SELL)
    assert d.position_size_usd == Decimal("12.34") and d.confidence == Decimal("0.7")


def test_wire_data_json_envelope_fills_missing_fields() -> None:
    parsed = _accepted(_bus({"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.01"}, trace_id=b"env-1"))
    assert parsed.decision.trace_id == "env-1"


def test_wire_data_json_envelope_trace_id_conflict_rejected() -> None:
    assert "differs" in _reason(_bus({"trace_id": "a1", "symbol": "BTCUSDT", "side": "BUY", "quantity": "1"}, trace_id=b"b2"))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (None, "no longer exists"),
        ({}, "no fields"),
        ({b"data": b"{not json"}, "not valid JSON"),
        ({b"data": b"[1, 2]"}, "not an object"),
        ({b"data": b'{"trace_id": "n1", "symbol": "BTCUSDT", "side": "BUY", "quantity": NaN}'}, "non-finite"),
        ({b"data": b'{"trace_id": "n1", "symbol": "BTCUSDT", "side": "BUY", "quantity": Infinity}'}, "non-finite"),
        ({b"data": b'{"trace_id": "n1", "symbol": "BTCUSDT", "side": "BUY", "quantity": true}'}, "boolean"),
        ({b"data": b"[" * 40_000 + b"]" * 40_000}, "entry is"),
        ({b"data": b"[" * 5000 + b"]" * 5000}, "not valid JSON"),
        ({b"data": b'{"q": ' + b"9" * 5000 + b"}"}, "not valid JSON"),
        ({b"symbol": b"BTCUSDT", b"side": b"BUY", b"quantity": b"1"}, "trace_id: Field required"),
        ({**PROOF_HARNESS, b"trace_id": b"has space"}, "trace_id may only contain"),
        ({**PROOF_HARNESS, b"trace_id": b"../../etc"}, "trace_id may only contain"),
        ({**PROOF_HARNESS, b"trace_id": b"x" * 129}, "trace_id"),
        ({**PROOF_HARNESS, b"trace_id": b"\xff\xfe"}, "not valid UTF-8"),
        ({**PROOF_HARNESS, b"\xc3\x28": b"1"}, "field name is not valid UTF-8"),
        ({**PROOF_HARNESS, b"source": b"a\x00b"}, "NUL"),
        ({**PROOF_HARNESS, b"action": b"CLOSE"}, "action: Input should be 'BUY' or 'SELL'"),
        ({**PROOF_HARNESS, b"side": b"SELL"}, "side and action disagree"),
        ({**PROOF_HARNESS, b"position_size_usd": b"-5"}, "greater than zero"),
        ({**PROOF_HARNESS, b"position_size_usd": b"0"}, "greater than zero"),
        ({**PROOF_HARNESS, b"position_size_usd": b"NaN"}, "position_size_usd"),
        ({**PROOF_HARNESS, b"position_size_usd": b"inf"}, "position_size_usd"),
        ({**PROOF_HARNESS, b"position_size_usd": b"1e400"}, "out of range"),
        ({**PROOF_HARNESS, b"position_size_usd": b"lots"}, "position_size_usd"),
        ({**PROOF_HARNESS, b"symbol": b"DOGEUSDT"}, "unknown symbol DOGEUSDT"),
        ({**PROOF_HARNESS, b"symbol": b"BTC/USDT"}, "symbol"),
        ({**PROOF_HARNESS, b"confidence": b"1.5"}, "confidence"),
        ({**PROOF_HARNESS, b"note": b"n" * 300}, "longer than"),
        ({**PROOF_HARNESS, b"source": b"x" * (WIRE_MAX_BYTES + 1)}, "bytes, more than"),
        ({f"f{i}".encode(): b"1" for i in range(WIRE_MAX_FIELDS + 1)}, "fields, more than"),
    ],
)
def test_wire_malformed_entry_rejected_with_reason(fields: Any, expected: str) -> None:
    reason = _reason(fields)
    assert expected in reason
    assert len(reason) <= 500


def test_wire_without_known_symbols_any_wellformed_symbol_accepted() -> None:
    parsed = parse({**PROOF_HARNESS, b"symbol": b"DOGEUSDT"})
    assert isinstance(parsed, Accepted) and parsed.decision.symbol == "DOGEUSDT"


# -- property tests: whatever arrives, a decision or a reason, never an exception --------

_names = st.sampled_from(
    ["trace_id", "symbol", "side", "action", "quantity", "position_size_usd", "confidence", "price",
     "order_type", "time_in_force", "ttl_seconds", "market", "leverage", "timestamp", "source", "data", "x"]
)
_json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
_json = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_names, inner, max_size=5), max_leaves=20)
_values = st.binary(max_size=60) | st.text(max_size=60).map(str.encode) | _json.map(lambda v: json.dumps(v).encode())


def _check(fields: Any) -> None:
    parsed = parse(fields, ALLOWED)
    if isinstance(parsed, Rejected):
        assert parsed.reason and len(parsed.reason) <= 500
    else:
        assert isinstance(parsed, Accepted) and parsed.decision.symbol in ALLOWED


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_names.map(str.encode) | st.binary(max_size=12), _values, max_size=10))
def test_wire_arbitrary_flat_entry_parses_or_names_a_reason(fields: dict[bytes, bytes]) -> None:
    _check(fields)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_names, _json, max_size=10), st.dictionaries(_names.map(str.encode), _values, max_size=3))
def test_wire_arbitrary_data_json_parses_or_names_a_reason(payload: dict[str, Any], envelope: dict[bytes, bytes]) -> None:
    _check({**envelope, b"data": json.dumps(payload).encode()})


_valid = st.fixed_dictionaries(
    {
        "trace_id": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,40}", fullmatch=True),
        "symbol": st.sampled_from(ALLOWED),
        "side": st.sampled_from(["BUY", "SELL", "buy", " sell "]),
        "quantity": st.decimals(min_value=Decimal("0.00001"), max_value=Decimal("1000"), places=5).map(str),
    }
)


@given(_valid, st.sampled_from(["flat", "data"]), st.sampled_from(["trace_id", "symbol", "side", "quantity"]))
def test_wire_valid_decision_with_one_field_corrupted_never_raises(values: dict[str, str], form: str, field: str) -> None:
    fields = _bus(values) if form == "data" else {k.encode(): v.encode() for k, v in values.items()}
    assert isinstance(parse(fields, ALLOWED), Accepted)
    corrupted = dict(values)
    corrupted[field] = corrupted[field] + "\u2028\x7f"
    fields = _bus(corrupted) if form == "data" else {k.encode(): v.encode() for k, v in corrupted.items()}
    _check(fields)
