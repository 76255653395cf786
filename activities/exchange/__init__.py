"""What the activities need from an exchange: a small Protocol, its errors, and the send stamp.

The exactly-once discipline (:mod:`activities.placement`) and the activities talk only to
this module, never to a venue's client library; Binance is one implementation
(:mod:`activities.exchange.binance`). To add another exchange, write
``activities/exchange/<name>.py`` with a class that satisfies :class:`Exchange` (and
:class:`FuturesExchange` if it trades futures), turn its failures into the errors below
(a definite refusal, a refusal that may be retried, or an outcome that is unknown), send
every order under the client order ID it is given and find it again by that ID, make a
request sent inside :func:`signed_at` carry exactly the stamp it is given (exchange time)
and unable to execute after it plus ``in_flight_horizon_ms``, and say in
``clock_offset_ms`` how far the exchange's clock is ahead of the worker's. The worker checks
at start, through ``check_credentials`` and ``read_clock``, that the keys are taken and the
clocks agree within ``recvWindow``. Then construct it instead of ``BinanceExchange`` in
``workers/worker.py`` (behind a setting when both must stay available).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from typing import ParamSpec, Protocol, TypeVar

from quantum_trader.models import AlgoSnapshot, Market, OrderRequest, OrderSnapshot, ProtectiveOrder


class ExchangeError(Exception):
    """Base of the exchange errors.

    Attributes:
        code: the exchange's own error code, when it gave one.
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class OrderRejected(ExchangeError):
    """The exchange refused the order for good: retrying cannot help."""


class NothingToReduce(OrderRejected):
    """A reduce-only order was refused because there is no position left to reduce."""


class ExchangeConfigError(ExchangeError):
    """Keys, permissions or signing are wrong: an operator must fix the settings."""


class RequestRefused(ExchangeError):
    """The request did not execute (rate limit, clock); it may be retried later.

    Attributes:
        retry_after: seconds the exchange asked to wait, when it said.
    """

    def __init__(self, message: str, code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, code)
        self.retry_after = retry_after


class OutcomeUnknown(ExchangeError):
    """The request may or may not have executed."""


class DuplicateOrder(ExchangeError):
    """An open order with this client order ID already exists."""


@dataclass(frozen=True)
class SymbolRules:
    """The exchange filters that decide whether an order is acceptable."""

    symbol: str
    base_asset: str
    quote_asset: str
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    tick_size: Decimal
    min_notional: Decimal


@dataclass(frozen=True)
class ClockReading:
    """The exchange's clock against this host's, read once.

    Attributes:
        offset_ms: the exchange's clock minus this host's, at the middle of the round trip.
        round_trip_ms: how long the read took; the offset is uncertain by half of it.
    """

    offset_ms: int
    round_trip_ms: int


# The moment (exchange ms) that requests made inside :func:`signed_at` are stamped with.
_SIGNED_AT_MS: ContextVar[int | None] = ContextVar("signed_at_ms", default=None)


@contextlib.contextmanager
def signed_at(moment_ms: int) -> Iterator[None]:
    """Requests made inside are stamped with ``moment_ms``, on the exchange's clock, instead
    of their send time.

    An implementation must make sure such a request cannot execute after ``moment_ms +
    in_flight_horizon_ms`` (exchange time). A placement records that it may have an order
    in flight until that moment, then sends; the stamp keeps the record true even when the
    process stalls in between (a GC pause, a suspended VM, SIGSTOP) or the clock offset is
    re-measured meanwhile: a late send is refused instead of placing an order after a retry
    already looked and found none.
    """
    token = _SIGNED_AT_MS.set(moment_ms)
    try:
        yield
    finally:
        _SIGNED_AT_MS.reset(token)


def send_stamp_ms() -> int | None:
    """The moment set by the enclosing :func:`signed_at`, or ``None`` outside one."""
    return _SIGNED_AT_MS.get()


class Priority(IntEnum):
    """How much of the request-weight budget a call may use (:mod:`activities.exchange.budget`);
    a higher priority goes first when the budget is short.

    Attributes:
        RECONCILE: order lookups, watches and polls: the lowest share.
        ENTRY: new entries and what they read first (rules, prices, the lookup before sending),
            and the mass reconcile's rounds (one replaces every lookup of a symbol).
        CRITICAL: cancels and protective orders (stop-loss, take-profit, closing a position):
            the whole budget.
    """

    RECONCILE = 0
    ENTRY = 1
    CRITICAL = 2


_PRIORITY: ContextVar[Priority | None] = ContextVar("call_priority", default=None)


@contextlib.contextmanager
def calls_at(priority: Priority) -> Iterator[None]:
    """Exchange calls made inside use at least ``priority`` of the budget: inside an enclosing
    one, the more urgent of the two (a cancel's own lookups are as urgent as the cancel)."""
    current = _PRIORITY.get()
    token = _PRIORITY.set(priority if current is None else max(priority, current))
    try:
        yield
    finally:
        _PRIORITY.reset(token)


P = ParamSpec("P")
R = TypeVar("R")


def at_priority(priority: Priority) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Run the decorated coroutine (an activity) inside :func:`calls_at` ``priority``."""

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with calls_at(priority):
                return await fn(*args, **kwargs)

        return run

    return decorate


def call_priority(default: Priority = Priority.ENTRY) -> Priority:
    """The priority of a call made here: the enclosing :func:`calls_at`'s, else ``default``."""
    current = _PRIORITY.get()
    return default if current is None else current


class Exchange(Protocol):
    """One exchange connection, shared by every activity of a worker.

    Every method raises only :class:`ExchangeError` kinds for exchange and transport
    failures, and none retries on its own.
    """

    @property
    def in_flight_horizon_ms(self) -> int:
        """How long after its stamp a request may still execute at the exchange."""
        ...

    @property
    def clock_offset_ms(self) -> int | None:
        """The exchange's clock minus this worker's (ms): what requests are signed with.

        ``None`` until the connection has measured it (any call does); every horizon of the
        placement protocol is on the exchange's clock through it.
        """
        ...

    @property
    def url(self) -> str:
        """Where the exchange is, for messages."""
        ...

    async def check_credentials(self) -> None:
        """One signed read: :class:`ExchangeConfigError` when the exchange refuses the keys."""
        ...

    async def read_clock(self) -> ClockReading:
        """Read the exchange's clock now, against this host's."""
        ...

    async def symbol_rules(self, market: Market, symbol: str) -> SymbolRules | None:
        """Filters of ``symbol`` on ``market``, or ``None`` if it is not traded there."""
        ...

    async def reference_price(self, market: Market, symbol: str) -> Decimal:
        """The price market orders are sized with: last price (spot), mark price (futures)."""
        ...

    async def find_order(self, market: Market, symbol: str, client_order_id: str) -> OrderSnapshot | None:
        """The order with this client order ID, or ``None`` if the exchange has none."""
        ...

    async def open_orders(self, market: Market, symbol: str) -> list[OrderSnapshot]:
        """Every open order of ``symbol`` on ``market``, in one request (the mass reconcile)."""
        ...

    async def place(self, order: OrderRequest) -> OrderSnapshot:
        """Send the order once, under ``order.client_order_id``."""
        ...

    async def cancel(self, order: OrderRequest) -> OrderSnapshot | None:
        """Cancel by client order ID; ``None`` when the exchange knows no open order by it."""
        ...

    async def fees(self, order: OrderRequest, snapshot: OrderSnapshot) -> OrderSnapshot:
        """``snapshot`` with the fees the order's trades were charged."""
        ...

    async def close(self) -> None:
        """Release the connection."""
        ...


async def lookup(exchange: Exchange, order: OrderRequest) -> OrderSnapshot | None:
    """``order`` as the exchange holds it, found by its client order ID; ``None`` if it has none."""
    return await exchange.find_order(order.market, order.symbol, order.client_order_id)


class FuturesExchange(Exchange, Protocol):
    """The futures steps: leverage, position, and conditional (protective) orders."""

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        """Set the symbol's leverage and return what the exchange set; idempotent."""
        ...

    async def position_amount(self, symbol: str) -> Decimal:
        """Signed one-way position of ``symbol``: positive long, negative short."""
        ...

    async def futures_order_by_id(self, symbol: str, order_id: int) -> OrderSnapshot | None:
        """The futures order with this exchange order ID, or ``None``."""
        ...

    async def algo_place(self, order: ProtectiveOrder) -> AlgoSnapshot:
        """Send the conditional order once, under ``order.client_algo_id``."""
        ...

    async def algo_lookup(self, order: ProtectiveOrder) -> AlgoSnapshot | None:
        """The conditional order with this client algo ID, or ``None``."""
        ...

    async def find_algo(self, symbol: str, client_algo_id: str) -> AlgoSnapshot | None:
        """:meth:`algo_lookup` by symbol and client algo ID alone."""
        ...

    async def open_algo_orders(self, symbol: str) -> list[AlgoSnapshot]:
        """Every open conditional order of ``symbol``, in one request (the mass reconcile)."""
        ...

    async def algo_cancel(self, order: ProtectiveOrder) -> bool:
        """Cancel by client algo ID; ``False`` when no open conditional order has it."""
        ...


__all__ = [
    "ClockReading",
    "DuplicateOrder",
    "Exchange",
    "ExchangeConfigError",
    "ExchangeError",
    "FuturesExchange",
    "NothingToReduce",
    "OrderRejected",
    "OutcomeUnknown",
    "Priority",
    "RequestRefused",
    "SymbolRules",
    "at_priority",
    "call_priority",
    "calls_at",
    "lookup",
    "send_stamp_ms",
    "signed_at",
]
