"""The ``ai.decision.made`` wire forms, parsed into a decision or a dead-letter reason.

The AI engine's events arrive in one of the two shapes the original system used:

* **flat**: every decision field is its own stream field
  (``XADD quantum:stream:ai.decision.made * symbol BTCUSDT action BUY ... trace_id proof-dup-1``);
* **data**: one field ``data`` holding a JSON object (the original event bus). Other
  fields beside it are an envelope: they fill in keys the JSON lacks, and a ``trace_id``
  there must agree with the one in the JSON.

:func:`parse` is pure and total: whatever bytes arrive, it returns :class:`Accepted` or
:class:`Rejected` with a readable reason, never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from quantum_trader.constants import WIRE_DATA_FIELD, WIRE_MAX_BYTES, WIRE_MAX_FIELDS
from quantum_trader.models import TradeDecision

REASON_MAX_LEN = 500
_MODEL_KEYS = frozenset(TradeDecision.model_fields) | {"action"}


class WireForm(StrEnum):
    FLAT = "flat"
    DATA = "data"


@dataclass(frozen=True)
class Accepted:
    decision: TradeDecision
    form: WireForm


@dataclass(frozen=True)
class Rejected:
    reason: str


Parsed = Accepted | Rejected


class _Invalid(Exception):
    """Raised inside this module only; becomes a :class:`Rejected`."""


def parse(fields: Mapping[Any, Any] | None, known_symbols: Collection[str] | None = None) -> Parsed:
    """Parse one stream entry's fields into a validated decision, or say why not.

    Args:
        fields: the entry's fields as read from Redis (bytes or str keys and values);
            ``None`` for an entry that no longer exists in the stream.
        known_symbols: when given, a decision for any other symbol is rejected.
    """
    try:
        text = _decode(fields)
        form, payload = _payload(text)
        decision = _validate(payload)
    except _Invalid as error:
        return Rejected(_clip(str(error)))
    if known_symbols is not None and decision.symbol not in known_symbols:
        return Rejected(f"unknown symbol {decision.symbol}")
    return Accepted(decision, form)


def _decode(fields: Mapping[Any, Any] | None) -> dict[str, str]:
    if fields is None:
        raise _Invalid("entry no longer exists in the stream")
    if not fields:
        raise _Invalid("entry has no fields")
    if len(fields) > WIRE_MAX_FIELDS:
        raise _Invalid(f"entry has {len(fields)} fields, more than {WIRE_MAX_FIELDS}")
    size = 0
    text: dict[str, str] = {}
    for key, value in fields.items():
        name = _text(key, "a field name")
        text[name] = _text(value, f"field {name!r}")
        size += len(name) + len(text[name])
    if size > WIRE_MAX_BYTES:
        raise _Invalid(f"entry is {size} bytes, more than {WIRE_MAX_BYTES}")
    return text


def _text(value: Any, what: str) -> str:
    if isinstance(value, str):
        raw = value
    elif isinstance(value, bytes | bytearray | memoryview):
        try:
            raw = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise _Invalid(f"{_clip(what, 80)} is not valid UTF-8") from None
    else:
        raise _Invalid(f"{_clip(what, 80)} is not text")
    if "\x00" in raw:
        raise _Invalid(f"{_clip(what, 80)} contains a NUL character")
    return raw


def _payload(text: dict[str, str]) -> tuple[WireForm, dict[str, Any]]:
    if WIRE_DATA_FIELD not in text:
        return WireForm.FLAT, dict(text)
    envelope = {k: v for k, v in text.items() if k != WIRE_DATA_FIELD}
    body = _json_object(text[WIRE_DATA_FIELD])
    if "trace_id" in envelope and "trace_id" in body and body["trace_id"] != envelope["trace_id"]:
        raise _Invalid("trace_id in the data JSON differs from the trace_id field")
    return WireForm.DATA, {**envelope, **body}


def _reject_constant(name: str) -> Any:
    raise _Invalid(f"data JSON contains the non-finite number {name}")


def _json_object(data: str) -> dict[str, Any]:
    try:
        body = json.loads(data, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        # JSONDecodeError and over-long integers are ValueErrors; deep nesting recurses.
        raise _Invalid(f"data is not valid JSON: {type(error).__name__}") from None
    if not isinstance(body, dict):
        raise _Invalid(f"data JSON is a {type(body).__name__}, not an object")
    for key in _MODEL_KEYS & body.keys():
        if isinstance(body[key], bool):
            raise _Invalid(f"data JSON field {key!r} is a boolean")
    return body


def _validate(payload: dict[str, Any]) -> TradeDecision:
    side, action = payload.get("side"), payload.get("action")
    if isinstance(side, str) and isinstance(action, str) and side.strip().upper() != action.strip().upper():
        raise _Invalid("side and action disagree")
    try:
        return TradeDecision.model_validate(payload)
    except ValidationError as error:
        raise _Invalid(f"invalid decision: {_describe(error)}") from None
    except (ValueError, TypeError, ArithmeticError) as error:
        # Errors raised outside pydantic's own wrapping (e.g. by a decimal context).
        raise _Invalid(f"invalid decision: {type(error).__name__}") from None


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False)[:3]:
        where = ".".join(str(part) for part in item.get("loc", ()))
        message = str(item.get("msg", "invalid"))
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "invalid"


def _clip(text: str, limit: int = REASON_MAX_LEN) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
