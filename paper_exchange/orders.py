"""Orders, algo (conditional) orders and trades, with the order status table.

These are plain records; :mod:`paper_exchange.engine` moves them. ``to_doc`` /
``from_doc`` turn them into JSON-safe dicts for the state file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from paper_exchange.decimals import ZERO

SPOT = "spot"
USDM = "usdm"
MARKETS = (SPOT, USDM)


class Status(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"


OPEN_STATUSES = frozenset({Status.NEW, Status.PARTIALLY_FILLED})

# (from, to) pairs the engine may take. Every other move is a bug.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.PARTIALLY_FILLED, Status.FILLED, Status.CANCELED, Status.EXPIRED}),
    # A partially filled order keeps filling, or ends cancelled/expired with executedQty > 0.
    Status.PARTIALLY_FILLED: frozenset(
        {Status.PARTIALLY_FILLED, Status.FILLED, Status.CANCELED, Status.EXPIRED}
    ),
    Status.FILLED: frozenset(),
    Status.CANCELED: frozenset(),
    Status.EXPIRED: frozenset(),
    Status.REJECTED: frozenset(),
}


class AlgoStatus(StrEnum):
    NEW = "NEW"
    CANCELED = "CANCELED"
    TRIGGERED = "TRIGGERED"
    FINISHED = "FINISHED"
    EXPIRED = "EXPIRED"


OPEN_ALGO_STATUSES = frozenset({AlgoStatus.NEW})


class InvalidTransition(RuntimeError):
    """The engine tried a status move the table does not allow."""


@dataclass(slots=True)
class Order:
    market: str
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    orig_qty: Decimal
    price: Decimal
    status: Status
    time: int
    update_time: int
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    commission: Decimal = ZERO
    quote_order_qty: Decimal = ZERO
    reduce_only: bool = False
    close_position: bool = False
    orig_type: str = ""
    stop_price: Decimal = ZERO
    lock_asset: str = ""
    lock_left: Decimal = ZERO
    lock_total: Decimal = ZERO
    algo_id: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.executed_qty if self.executed_qty else ZERO

    def move_to(self, status: Status, now_ms: int) -> None:
        if status not in TRANSITIONS[self.status]:
            raise InvalidTransition(f"order {self.order_id}: {self.status} -> {status}")
        self.status = status
        self.update_time = now_ms


@dataclass(slots=True)
class AlgoOrder:
    algo_id: int
    client_algo_id: str
    symbol: str
    side: str
    order_type: str
    quantity: Decimal
    trigger_price: Decimal
    close_position: bool
    reduce_only: bool
    working_type: str
    status: AlgoStatus
    create_time: int
    update_time: int
    trigger_time: int = 0
    actual_order_id: int = 0
    actual_price: Decimal = ZERO

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_ALGO_STATUSES

    def triggered_by(self, mark: Decimal) -> bool:
        """STOP_MARKET fires when the price moves against the position, TAKE_PROFIT when for it."""
        rising = (self.order_type == "STOP_MARKET") == (self.side == "BUY")
        return mark >= self.trigger_price if rising else mark <= self.trigger_price


@dataclass(slots=True)
class Trade:
    market: str
    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    maker: bool
    realized_pnl: Decimal = ZERO


Record = TypeVar("Record", Order, AlgoOrder, Trade)


def to_doc(record: Order | AlgoOrder | Trade) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for item in dataclasses.fields(record):
        value = getattr(record, item.name)
        doc[item.name] = str(value) if isinstance(value, Decimal) else value
    return doc


def from_doc(cls: type[Record], doc: dict[str, Any]) -> Record:
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        if item.name not in doc:
            continue
        value = doc[item.name]
        kind = str(item.type)
        if kind == "Decimal":
            value = Decimal(value)
        elif kind == "Status":
            value = Status(value)
        elif kind == "AlgoStatus":
            value = AlgoStatus(value)
        values[item.name] = value
    return cls(**values)
