"""The one table of intent states and the transitions allowed between them.

Every state change of a trade intent goes through :func:`transition`; terminal states are
named here and nowhere else.
"""

from __future__ import annotations

from enum import StrEnum


class IntentState(StrEnum):
    RECEIVED = "RECEIVED"
    APPROVED = "APPROVED"
    SUBMITTED = "SUBMITTED"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"


# The six end states an intent's workflow completes with. PARTIALLY_FILLED is also the live
# state of a resting order with some fills; it is final once the workflow has completed.
TERMINAL_STATES = frozenset(
    {
        IntentState.FILLED,
        IntentState.PARTIALLY_FILLED,
        IntentState.CANCELLED,
        IntentState.EXPIRED,
        IntentState.REJECTED,
        IntentState.FAILED,
    }
)

S = IntentState
# state -> states it may move to. PARTIALLY_FILLED is both a live state (an order resting
# with some fills) and an end state (expired or cancelled after some fills); the workflow
# ends in it through finish(), never through a further transition.
TRANSITIONS: dict[IntentState, frozenset[IntentState]] = {
    S.RECEIVED: frozenset({S.APPROVED, S.REJECTED, S.CANCELLED, S.FAILED}),
    S.APPROVED: frozenset({S.SUBMITTED, S.CANCELLED, S.FAILED}),
    # A placement can be refused by the exchange (REJECTED) or answer already filled.
    S.SUBMITTED: frozenset(
        {S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED, S.REJECTED, S.FAILED}
    ),
    S.OPEN: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED, S.FAILED}),
    # A partially filled order that is cancelled or expires ends PARTIALLY_FILLED.
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.FAILED}),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.EXPIRED: frozenset(),
    S.REJECTED: frozenset(),
    S.FAILED: frozenset(),
}


class InvalidTransition(ValueError):
    """Raised when code tries a state change the table does not allow."""

    def __init__(self, current: IntentState, target: IntentState) -> None:
        super().__init__(f"invalid intent transition {current} -> {target}")
        self.current = current
        self.target = target


def can_transition(current: IntentState, target: IntentState) -> bool:
    return target == current or target in TRANSITIONS[current]


def transition(current: IntentState, target: IntentState) -> IntentState:
    """Return ``target`` if the table allows ``current -> target``; raise otherwise.

    Staying in the same state is always allowed (a repeated poll reports the same state).
    """
    if not can_transition(current, target):
        raise InvalidTransition(current, target)
    return target
