"""Every state this project names, in one place.

- :class:`IntentState` and :data:`TRANSITIONS`: a trade intent's life, the one table every
  state change goes through (:func:`transition`); the terminal states are named here.
- :class:`ProtectionState`: the protection (OCO) workflow's life.
- :class:`OrderStatus` and :class:`AlgoStatus`: what the exchange says of an order or a
  conditional (algo) order, with Binance's spelling (``CANCELED``, one L; an intent ends
  ``CANCELLED``).
- :func:`outcome`: the one pure function that names an intent's end state from the
  exchange's last view of its order and the cause that ended the follow.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from quantum_trader.models import OrderSnapshot


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
    # REJECTED after OPEN: an exchange may refuse an order it first acknowledged (Binance
    # reports REJECTED for an order the matching engine would not take after its NEW).
    S.OPEN: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED, S.REJECTED, S.FAILED}),
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


class ProtectionState(StrEnum):
    """The protection workflow's ``TradeState`` values (not intent states)."""

    PROTECTED = "PROTECTED"
    CLOSED = "CLOSED"
    # The close order failed after all its retries: the position may be open, and the
    # protective orders were left in place.
    CLOSE_FAILED = "CLOSE_FAILED"


class Attention(StrEnum):
    """What ``TradeState`` shows over a live workflow's state while an operator is needed.

    Not a state of the intent's table: the order's life has not changed, only our view of
    it. An intent shows it over OPEN or PARTIALLY_FILLED (a protection over PROTECTED) while
    the exchange refuses to show us a live order for a whole watch window (a revoked key, an
    IP no longer whitelisted, a rate limit or a ban), and returns to that state, unchanged,
    once the exchange answers again.
    """

    NEEDS_ATTENTION = "NEEDS_ATTENTION"


class OrderStatus(StrEnum):
    """An exchange order's status, as Binance spells it (spot and USD-M futures)."""

    PENDING_NEW = "PENDING_NEW"
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    PENDING_CANCEL = "PENDING_CANCEL"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    # Expired by self-trade prevention.
    EXPIRED_IN_MATCH = "EXPIRED_IN_MATCH"

    @property
    def is_open(self) -> bool:
        """The order may still fill."""
        return self in _OPEN_ORDER_STATUSES


_OPEN_ORDER_STATUSES = frozenset({OrderStatus.PENDING_NEW, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})
OPEN_ORDER_STATUSES = _OPEN_ORDER_STATUSES


class AlgoStatus(StrEnum):
    """A conditional (algo) order's status (``/fapi/v1/algoOrder``'s ``algoStatus``)."""

    NEW = "NEW"
    TRIGGERING = "TRIGGERING"
    TRIGGERED = "TRIGGERED"
    FINISHED = "FINISHED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"
    # Not Binance's: the protection workflow's record of an order it could not cancel
    # (UNKNOWN) or that the exchange did not have (NONE).
    UNKNOWN = "UNKNOWN"
    NONE = "NONE"

    @property
    def is_open(self) -> bool:
        """Waiting for its trigger."""
        return self is AlgoStatus.NEW

    @property
    def has_fired(self) -> bool:
        """The trigger was hit and the exchange sent (or is sending) the closing order."""
        return self in (AlgoStatus.TRIGGERED, AlgoStatus.FINISHED)


class Cause(StrEnum):
    """Why the workflow stopped following an intent's order."""

    CANCEL = "cancel"  # an operator's cancel (signal, update or workflow cancel)
    EXPIRY = "expiry"  # the order's TTL passed
    DEADLINE = "deadline"  # the intent's deadline passed
    FAILURE = "failure"  # placement failed for good; the order may or may not exist
    EXCHANGE = "exchange"  # the exchange closed the order on its own (fill, IOC/FOK expiry)


def outcome(
    final: OrderSnapshot | None, cause: Cause, why: str = "", seen: OrderSnapshot | None = None
) -> tuple[IntentState, str]:
    """The intent's end state and reason, from the exchange's last view of its order.

    ``final`` is ``None`` when the exchange has no order under the intent's client order ID
    (and none can still appear). ``why`` is the cause's own words: the cancel's reason for
    CANCEL, the failure for FAILURE, and for EXCHANGE the reason of a cancel that arrived
    too late ("" when none did). ``seen`` is the workflow's own earlier view of the order:
    fills seen there happened, even if the exchange has since forgotten the order (a reset,
    lost state), so the intent ends PARTIALLY_FILLED, the one end a partially filled intent
    can move to, besides FILLED and FAILED.
    """
    if seen is not None and seen.executed_qty > 0 and (final is None or (final.status != OrderStatus.FILLED and final.executed_qty < seen.executed_qty)):
        return _forgotten(seen, why or _CAUSE_WORDS.get(cause, ""))
    if final is None:
        return _without_order(cause, why)
    if cause is Cause.EXCHANGE:
        return _closed_by_exchange(final, why)
    return _after_cancel(final, cause, why or _CAUSE_WORDS.get(cause, ""))


_CAUSE_WORDS = {Cause.CANCEL: "cancel requested", Cause.EXPIRY: "ttl reached", Cause.DEADLINE: "deadline passed"}


def _forgotten(seen: OrderSnapshot, why: str) -> tuple[IntentState, str]:
    """The exchange no longer shows the fills the workflow saw: those are what the intent got."""
    words = f"{why}; " if why else ""
    return IntentState.PARTIALLY_FILLED, (
        f"{words}the exchange no longer has order {seen.client_order_id} as seen with "
        f"{seen.executed_qty} of {seen.orig_qty} filled"
    )


def _without_order(cause: Cause, why: str) -> tuple[IntentState, str]:
    if cause is Cause.CANCEL:
        return IntentState.CANCELLED, why or _CAUSE_WORDS[cause]
    if cause is Cause.EXPIRY:
        return IntentState.EXPIRED, "ttl reached with nothing filled"
    if cause is Cause.DEADLINE:
        return IntentState.FAILED, "deadline passed before the order could be placed"
    return IntentState.FAILED, f"{why}; no order exists at the exchange"


def _after_cancel(final: OrderSnapshot, cause: Cause, why: str) -> tuple[IntentState, str]:
    """The workflow asked the exchange to cancel; what was filled by then decides."""
    if final.status == OrderStatus.FILLED:
        return IntentState.FILLED, f"filled before the cancel took effect ({why})"
    if final.executed_qty > 0:
        return IntentState.PARTIALLY_FILLED, f"{why}; {final.executed_qty} of {final.orig_qty} filled"
    if cause is Cause.CANCEL:
        return IntentState.CANCELLED, why
    if cause is Cause.EXPIRY:
        return IntentState.EXPIRED, why
    return IntentState.FAILED, f"{why}; order cancelled with nothing filled"


def _closed_by_exchange(final: OrderSnapshot, late_cancel: str) -> tuple[IntentState, str]:
    if final.status == OrderStatus.FILLED:
        if late_cancel:
            return IntentState.FILLED, f"filled before the cancel took effect ({late_cancel})"
        return IntentState.FILLED, "filled"
    if final.executed_qty > 0:
        return IntentState.PARTIALLY_FILLED, (
            f"exchange closed the order as {final.status}; {final.executed_qty} of {final.orig_qty} filled"
        )
    if final.status == OrderStatus.REJECTED:
        return IntentState.REJECTED, "exchange rejected the order"
    if final.status == OrderStatus.CANCELED:
        return IntentState.CANCELLED, "cancelled at the exchange"
    return IntentState.EXPIRED, f"exchange closed the order as {final.status} with nothing filled"
