"""The intent state table: terminal states, transitions allowed and refused."""

from __future__ import annotations

import pytest

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
