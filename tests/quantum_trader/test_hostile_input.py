"""Hostile input at the decision model and the wire parser: every case is refused with a
reason or accepted as a safe decision; nothing raises.

``make test`` runs a short pass; ``make fuzz`` runs 10,000 cases per property
(``QT_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantum_trader.ids import client_order_id
from quantum_trader.wire import Accepted, Rejected, parse

EXAMPLES = int(os.environ.get("QT_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

CONTROL = st.characters(min_codepoint=0, max_codepoint=31) | st.sampled_from(["\x7f", "\u2028", "\ufeff", "\u202e"])
NASTY_TEXT = st.one_of(
    st.text(min_size=0, max_size=40),
    st.text(alphabet=CONTROL, min_size=1, max_size=8),
    st.builds(lambda a, c, b: a + c + b, st.text(max_size=10), CONTROL, st.text(max_size=10)),
    st.text(min_size=256, max_size=2_000),
    st.sampled_from(['a b', 'a/b', 'a"b', "a'b", "a\\b", "a;b", "a&b=c", "%00", "../x", "日本", "ü", "a\nb", "*", ""]),
)
NASTY_NUMBER = st.one_of(
    st.sampled_from(["NaN", "nan", "Infinity", "-Infinity", "inf", "1e309", "-0", "0", "-0.0", "1e400", "1e-400",
                     "9" * 60, "0." + "0" * 40 + "1", "1_000", "0x10", " 1", "1,5", "", "--1", "1e", "true", "null"]),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
WRONG_TYPE = st.one_of(st.none(), st.booleans(), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))

BASE = {"trace_id": "fuzz-1", "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", "confidence": "0.9"}
TEXT_FIELDS = ["trace_id", "symbol", "side", "action", "order_type", "time_in_force", "market", "source", "timestamp"]
NUMBER_FIELDS = ["quantity", "position_size_usd", "price", "confidence", "ttl_seconds", "leverage", "stop_loss", "take_profit"]
SAFE_TRACE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def _check(outcome: Accepted | Rejected) -> None:
    """Either a reason, or a decision that is safe to turn into a workflow and an order."""
    if isinstance(outcome, Rejected):
        assert outcome.reason.strip()
        return
    decision = outcome.decision
    assert SAFE_TRACE_ID.fullmatch(decision.trace_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,36}", client_order_id(decision.trace_id))
    for value in (decision.quantity, decision.position_size_usd, decision.price, decision.stop_loss, decision.take_profit):
        assert value is None or (isinstance(value, Decimal) and value.is_finite() and value > 0)
    assert decision.quantity is not None or decision.position_size_usd is not None


@FUZZ
@given(field=st.sampled_from(TEXT_FIELDS), value=NASTY_TEXT)
def test_hostile_text_in_any_field_refused_or_safe(field: str, value: str) -> None:
    fields = {**BASE, field: value}
    _check(parse({k.encode(): v.encode("utf-8", "surrogatepass") for k, v in fields.items()}))
    _check(parse({b"data": json.dumps(fields).encode()}))


@FUZZ
@given(field=st.sampled_from(NUMBER_FIELDS), value=NASTY_NUMBER)
def test_hostile_numbers_refused_or_finite_and_positive(field: str, value: str) -> None:
    fields = {**BASE, field: value}
    _check(parse({k.encode(): v.encode() for k, v in fields.items()}))


@FUZZ
@given(field=st.sampled_from(TEXT_FIELDS + NUMBER_FIELDS), value=WRONG_TYPE)
def test_wrong_json_types_refused_or_safe(field: str, value: Any) -> None:
    _check(parse({b"data": json.dumps({**BASE, field: value}).encode()}))


@FUZZ
@given(size=st.integers(min_value=10_000, max_value=2_000_000), field=st.sampled_from(["trace_id", "source", "extra"]))
def test_enormous_fields_refused(size: int, field: str) -> None:
    outcome = parse({**{k.encode(): v.encode() for k, v in BASE.items()}, field.encode(): b"x" * size})
    assert isinstance(outcome, Rejected) and outcome.reason


@FUZZ
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_as_data_refused_or_safe(raw: bytes) -> None:
    _check(parse({b"data": raw}))
    _check(parse({b"trace_id": raw, b"symbol": b"BTCUSDT", b"side": b"BUY", b"quantity": b"1"}))
