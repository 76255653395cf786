"""The workers' payload converter: what the SDK's pydantic converter decodes, with one cache of
type adapters per process. The worker builds a payload converter per workflow instance (each
start, each replay after the workflow cache evicted it); the SDK's converter keeps its
adapters per converter, so every instance built the adapter of its input again."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter
from temporalio.contrib.pydantic import pydantic_data_converter

from quantum_trader.models import FollowState, TradeDecision
from quantum_trader.payloads import DATA_CONVERTER
from tests.support.intents import decision

START = TradeDecision | FollowState  # the workflow's input


def _built(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The type hints every TypeAdapter is built for from here on."""
    built: list[Any] = []
    original = TypeAdapter.__init__

    def counting(self: TypeAdapter[Any], type_: Any, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        built.append(type_)
        original(self, type_, *args, **kwargs)

    monkeypatch.setattr(TypeAdapter, "__init__", counting)
    return built


def test_workflow_instances_share_the_adapters_their_inputs_are_decoded_with(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = DATA_CONVERTER.payload_converter.to_payloads([decision("payloads-1")])[0]
    built = _built(monkeypatch)
    for _ in range(3):  # three workflow instances, each with the converter the worker makes it
        converter = DATA_CONVERTER.payload_converter_class()
        [start] = converter.from_payloads([payload], [START])  # type: ignore[arg-type]
        assert isinstance(start, TradeDecision) and start.trace_id == "payloads-1"
    assert built.count(START) <= 1, f"the input's adapter was built {built.count(START)} times"


def test_payloads_are_the_sdk_pydantic_converters_both_ways() -> None:
    """Same encoding as the SDK's pydantic converter: stored histories replay either way."""
    value = decision("payloads-2")
    ours = DATA_CONVERTER.payload_converter.to_payloads([value])
    theirs = pydantic_data_converter.payload_converter.to_payloads([value])
    assert ours == theirs
    assert pydantic_data_converter.payload_converter.from_payloads(ours, [TradeDecision]) == [value]
    assert DATA_CONVERTER.payload_converter.from_payloads(theirs, [TradeDecision]) == [value]
