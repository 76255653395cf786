"""Idempotency keys: client order IDs derived from the trace_id and the step."""

from __future__ import annotations

import re

import pytest

from quantum_trader.ids import CLIENT_ORDER_ID_MAX_LEN, Step, client_order_id


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
