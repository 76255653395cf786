"""Idempotency keys: client order IDs derived from the trace_id and the step."""

from __future__ import annotations

import re

import pytest

from quantum_trader.ids import CLIENT_ORDER_ID_MAX_LEN, Step, client_order_id, protection_workflow_id, trace_id_conflict


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


def test_trace_id_conflict_names_the_intent_whose_protection_id_it_is() -> None:
    assert protection_workflow_id("abc") == "abc-oco"
    reason = trace_id_conflict(protection_workflow_id("abc"))
    assert reason is not None and "'-oco'" in reason and "'abc'" in reason
    for free in ("abc", "abc-OCO", "abc-oco-1", "oco"):
        assert trace_id_conflict(free) is None, free
