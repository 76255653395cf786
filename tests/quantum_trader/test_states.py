"""The state module: the intent table, and outcome(), an intent's end state and reason (one test per branch)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from quantum_trader.models import OrderSnapshot
from quantum_trader.states import TERMINAL_STATES, TRANSITIONS, Cause, IntentState, InvalidTransition, OrderStatus, outcome, transition

S = IntentState


def _order(status: OrderStatus, executed: str = "0", orig: str = "1") -> OrderSnapshot:
    return OrderSnapshot(client_order_id="t-1-e", order_id=7, status=status, orig_qty=Decimal(orig), executed_qty=Decimal(executed))


# --- no order at the exchange ---------------------------------------------------------------


def test_outcome_no_order_cancel_ends_cancelled_with_the_cancel_reason() -> None:
    assert outcome(None, Cause.CANCEL, "ops") == (S.CANCELLED, "ops")


def test_outcome_no_order_cancel_without_reason_says_cancel_requested() -> None:
    assert outcome(None, Cause.CANCEL) == (S.CANCELLED, "cancel requested")


def test_outcome_no_order_expiry_ends_expired_with_nothing_filled() -> None:
    assert outcome(None, Cause.EXPIRY) == (S.EXPIRED, "ttl reached with nothing filled")


def test_outcome_no_order_deadline_ends_failed_before_placement() -> None:
    assert outcome(None, Cause.DEADLINE) == (S.FAILED, "deadline passed before the order could be placed")


def test_outcome_no_order_failure_ends_failed_with_the_failure() -> None:
    assert outcome(None, Cause.FAILURE, "placement failed: timeout") == (
        S.FAILED,
        "placement failed: timeout; no order exists at the exchange",
    )


# --- the workflow cancelled the order: what was filled by then decides -----------------------


@pytest.mark.parametrize(
    ("cause", "why", "words"),
    [
        (Cause.CANCEL, "ops", "ops"),
        (Cause.CANCEL, "", "cancel requested"),
        (Cause.EXPIRY, "", "ttl reached"),
        (Cause.DEADLINE, "", "deadline passed"),
        (Cause.FAILURE, "placement failed: timeout", "placement failed: timeout"),
    ],
)
def test_outcome_cancelled_order_already_filled_ends_filled(cause: Cause, why: str, words: str) -> None:
    final = _order(OrderStatus.FILLED, executed="1")
    assert outcome(final, cause, why) == (S.FILLED, f"filled before the cancel took effect ({words})")


@pytest.mark.parametrize(
    ("cause", "why", "words"),
    [
        (Cause.CANCEL, "ops", "ops"),
        (Cause.EXPIRY, "", "ttl reached"),
        (Cause.DEADLINE, "", "deadline passed"),
        (Cause.FAILURE, "placement failed: timeout", "placement failed: timeout"),
    ],
)
def test_outcome_cancelled_order_with_some_fills_ends_partially_filled(cause: Cause, why: str, words: str) -> None:
    final = _order(OrderStatus.CANCELED, executed="0.4")
    assert outcome(final, cause, why) == (S.PARTIALLY_FILLED, f"{words}; 0.4 of 1 filled")


def test_outcome_cancelled_order_nothing_filled_on_cancel_ends_cancelled() -> None:
    assert outcome(_order(OrderStatus.CANCELED), Cause.CANCEL, "ops") == (S.CANCELLED, "ops")


def test_outcome_cancelled_order_nothing_filled_on_expiry_ends_expired() -> None:
    assert outcome(_order(OrderStatus.CANCELED), Cause.EXPIRY) == (S.EXPIRED, "ttl reached")


def test_outcome_cancelled_order_nothing_filled_at_deadline_ends_failed() -> None:
    assert outcome(_order(OrderStatus.CANCELED), Cause.DEADLINE) == (
        S.FAILED,
        "deadline passed; order cancelled with nothing filled",
    )


def test_outcome_cancelled_order_nothing_filled_after_failure_ends_failed() -> None:
    assert outcome(_order(OrderStatus.CANCELED), Cause.FAILURE, "placement failed: timeout") == (
        S.FAILED,
        "placement failed: timeout; order cancelled with nothing filled",
    )


# --- the exchange closed the order on its own -----------------------------------------------


def test_outcome_exchange_filled_ends_filled() -> None:
    assert outcome(_order(OrderStatus.FILLED, executed="1"), Cause.EXCHANGE) == (S.FILLED, "filled")


def test_outcome_exchange_filled_after_a_late_cancel_names_the_cancel() -> None:
    assert outcome(_order(OrderStatus.FILLED, executed="1"), Cause.EXCHANGE, "ops") == (
        S.FILLED,
        "filled before the cancel took effect (ops)",
    )


def test_outcome_exchange_closed_with_some_fills_ends_partially_filled() -> None:
    assert outcome(_order(OrderStatus.EXPIRED, executed="0.4"), Cause.EXCHANGE) == (
        S.PARTIALLY_FILLED,
        "exchange closed the order as EXPIRED; 0.4 of 1 filled",
    )


def test_outcome_exchange_rejected_ends_rejected() -> None:
    assert outcome(_order(OrderStatus.REJECTED), Cause.EXCHANGE) == (S.REJECTED, "exchange rejected the order")


def test_outcome_exchange_canceled_nothing_filled_ends_cancelled() -> None:
    # Binance spells the order's status CANCELED; the intent ends CANCELLED.
    assert outcome(_order(OrderStatus.CANCELED), Cause.EXCHANGE) == (S.CANCELLED, "cancelled at the exchange")


@pytest.mark.parametrize("status", [OrderStatus.EXPIRED, OrderStatus.EXPIRED_IN_MATCH])
def test_outcome_exchange_expired_nothing_filled_ends_expired(status: OrderStatus) -> None:
    assert outcome(_order(status), Cause.EXCHANGE) == (S.EXPIRED, f"exchange closed the order as {status} with nothing filled")


# --- the exchange forgot the order (a reset, lost state) -------------------------------------


@pytest.mark.parametrize(
    ("cause", "why", "words"),
    [
        (Cause.CANCEL, "ops", "ops; "),
        (Cause.EXPIRY, "", "ttl reached; "),
        (Cause.DEADLINE, "", "deadline passed; "),
        (Cause.FAILURE, "placement failed: timeout", "placement failed: timeout; "),
        (Cause.EXCHANGE, "", ""),
    ],
)
def test_outcome_order_forgotten_after_fills_ends_partially_filled_with_the_fills_seen(cause: Cause, why: str, words: str) -> None:
    seen = _order(OrderStatus.PARTIALLY_FILLED, executed="0.4")
    assert outcome(None, cause, why, seen=seen) == (
        S.PARTIALLY_FILLED,
        f"{words}the exchange no longer has order t-1-e as seen with 0.4 of 1 filled",
    )


def test_outcome_exchange_showing_fewer_fills_than_seen_keeps_the_fills_seen() -> None:
    seen = _order(OrderStatus.PARTIALLY_FILLED, executed="0.4")
    state, reason = outcome(_order(OrderStatus.CANCELED), Cause.EXPIRY, seen=seen)
    assert state is S.PARTIALLY_FILLED and "0.4 of 1" in reason


def test_outcome_order_forgotten_before_any_fill_follows_the_cause() -> None:
    assert outcome(None, Cause.EXPIRY, seen=_order(OrderStatus.NEW)) == (S.EXPIRED, "ttl reached with nothing filled")


def test_outcome_filled_after_fills_were_seen_ends_filled() -> None:
    seen = _order(OrderStatus.PARTIALLY_FILLED, executed="0.4")
    assert outcome(_order(OrderStatus.FILLED, executed="1"), Cause.CANCEL, "ops", seen=seen)[0] is S.FILLED


def _live_state(seen: OrderSnapshot | None) -> IntentState:
    """The state the workflow is in with ``seen`` as its view (TradeIntentWorkflow._apply)."""
    if seen is None:
        return S.SUBMITTED
    return S.PARTIALLY_FILLED if seen.executed_qty > 0 else S.OPEN


_VIEWS = [
    None,
    *(_order(status) for status in OrderStatus),
    *(_order(status, executed="0.4") for status in OrderStatus if status is not OrderStatus.FILLED),
    _order(OrderStatus.FILLED, executed="1"),
]


@pytest.mark.parametrize("cause", list(Cause))
def test_outcome_is_always_a_legal_transition_from_the_live_state(cause: Cause) -> None:
    # Every view the workflow may hold, then every final answer (or none: a forgotten order).
    for seen in _VIEWS:
        if seen is not None and not seen.is_open:
            continue  # the follow ends at a closed view; only open ones are followed further
        for final in _VIEWS:
            state, _ = outcome(final, cause, "why", seen=seen)
            current = _live_state(seen)
            assert state in TERMINAL_STATES
            assert transition(current, state) is state, (seen, final, cause)


# --- the intent table -------------------------------------------------------------------


def test_state_table_terminal_states_have_no_way_out_except_partial() -> None:
    assert TERMINAL_STATES == {S.FILLED, S.PARTIALLY_FILLED, S.CANCELLED, S.EXPIRED, S.REJECTED, S.FAILED}
    for state in TERMINAL_STATES - {S.PARTIALLY_FILLED}:
        assert TRANSITIONS[state] == frozenset()


def test_state_table_every_live_state_can_reach_failed() -> None:
    for state in set(S) - TERMINAL_STATES:
        assert S.FAILED in TRANSITIONS[state]


@pytest.mark.parametrize(
    ("current", "target"),
    [(S.FILLED, S.CANCELLED), (S.REJECTED, S.SUBMITTED), (S.RECEIVED, S.FILLED), (S.OPEN, S.APPROVED), (S.PARTIALLY_FILLED, S.EXPIRED)],
)
def test_transition_not_in_table_raises(current: IntentState, target: IntentState) -> None:
    with pytest.raises(InvalidTransition):
        transition(current, target)


def test_transition_same_state_is_allowed() -> None:
    assert transition(S.OPEN, S.OPEN) is S.OPEN
