"""Idempotency keys: every external side effect carries one derived from the trace_id.

Binance client order IDs allow at most 36 characters of ``[A-Za-z0-9_-]``. The ID keeps a
readable prefix of the trace_id (so operators can match it by eye) and a digest of the
whole trace_id and the step (so two trace_ids never share an ID, whatever they contain).
"""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum

from quantum_trader.constants import RESULT_PUBLISHED_KEY_PREFIX

CLIENT_ORDER_ID_MAX_LEN = 36
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_PREFIX_LEN = 16
_DIGEST_LEN = 12


class Step(StrEnum):
    """The side-effecting steps of an intent; each gets its own key."""

    ENTRY = "e"
    STOP_LOSS = "sl"
    TAKE_PROFIT = "tp"
    FLATTEN = "fl"
    # The protection workflow's own close order (``close_position`` signal, a lost protection).
    CLOSE = "cl"


def client_order_id(trace_id: str, step: Step = Step.ENTRY, generation: int = 0) -> str:
    """Deterministic client order ID for ``step`` of the intent ``trace_id``.

    ``generation`` numbers the protective orders that replace a stop-loss or take-profit
    resized to a larger fill (``…-sl1-…``, ``…-sl2-…``); 0 is the first, with the plain ID.
    """
    tag = f"{step.value}{generation}" if generation else step.value
    digest = hashlib.sha256(f"{trace_id}\x00{tag}".encode()).hexdigest()[:_DIGEST_LEN]
    prefix = _UNSAFE.sub("", trace_id)[:_PREFIX_LEN]
    value = f"{prefix}-{tag}-{digest}" if prefix else f"qt-{tag}-{digest}"
    assert len(value) <= CLIENT_ORDER_ID_MAX_LEN
    return value


def protective_step(kind: str) -> Step:
    """The step of a protective order of ``kind`` (``STOP_LOSS`` or ``TAKE_PROFIT``)."""
    return Step.STOP_LOSS if kind == "STOP_LOSS" else Step.TAKE_PROFIT


# Appended to an intent's trace_id to name its protection (OCO) child workflow.
PROTECTION_SUFFIX = "-oco"


def protection_workflow_id(trace_id: str) -> str:
    """Workflow ID of the intent's protection (OCO) child workflow."""
    return f"{trace_id}{PROTECTION_SUFFIX}"


def trace_id_conflict(trace_id: str) -> str | None:
    """Why ``trace_id`` cannot name an intent, or ``None`` when it can.

    Intents and their protection workflows share one workflow-ID space: a trace_id ending in
    the protection suffix is the protection workflow ID of the intent named by the rest, and
    starting it would block that protection (or be adopted by it as its own).
    """
    if trace_id.endswith(PROTECTION_SUFFIX):
        owner = trace_id[: -len(PROTECTION_SUFFIX)]
        return f"trace_id ends in {PROTECTION_SUFFIX!r}, reserved for the protection workflow of intent {owner!r}"
    return None


def result_key(trace_id: str) -> str:
    """Redis key that records the result of ``trace_id`` as published."""
    return f"{RESULT_PUBLISHED_KEY_PREFIX}{trace_id}"
