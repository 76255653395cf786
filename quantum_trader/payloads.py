"""Pydantic JSON payloads with one cache of type adapters per process.

The SDK's pydantic converter caches its ``TypeAdapter`` per converter instance, and the
worker builds a new payload converter for every workflow instance it creates (a start, or a
replay after the instance left the workflow cache). Building the adapter of
``TradeDecision | FollowState`` generates the schema of every model it holds: with thousands
of resting intents, a fifth of the worker's time went to rebuilding the same adapters. Here
every instance shares one cache.
"""

from __future__ import annotations

import functools
from typing import Any

import temporalio.api.common.v1
from pydantic import TypeAdapter
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import CompositePayloadConverter, DataConverter, DefaultPayloadConverter, JSONPlainPayloadConverter

# Types the worker decodes: models, their unions, lists of them; far fewer than this.
MAX_ADAPTERS = 1024


@functools.lru_cache(maxsize=MAX_ADAPTERS)
def adapter(type_hint: Any) -> TypeAdapter[Any]:  # noqa: ANN401 - any type hint
    """The process's one adapter for ``type_hint`` (hashable)."""
    return TypeAdapter(type_hint)


class SharedAdapterJSONConverter(PydanticJSONPlainPayloadConverter):
    """The SDK's pydantic JSON converter, decoding through the process's adapters."""

    def from_payload(self, payload: temporalio.api.common.v1.Payload, type_hint: type | None = None) -> Any:  # noqa: ANN401
        hint = type_hint if type_hint is not None else Any
        try:
            hash(hint)
        except TypeError:  # an unhashable hint cannot be cached
            return TypeAdapter(hint).validate_json(payload.data)
        return adapter(hint).validate_json(payload.data)


class PayloadConverter(CompositePayloadConverter):
    """The default converters, with JSON through :class:`SharedAdapterJSONConverter`."""

    def __init__(self) -> None:
        json_converter = SharedAdapterJSONConverter()
        super().__init__(*(json_converter if isinstance(c, JSONPlainPayloadConverter) else c
                           for c in DefaultPayloadConverter.default_encoding_payload_converters))


DATA_CONVERTER = DataConverter(payload_converter_class=PayloadConverter)
