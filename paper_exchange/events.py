"""What the engine reports as it moves orders and balances, for the user data streams.

Each record holds copies taken at the moment of the change, so a stream renders what
the exchange did then, not what the order looks like later. The engine hands them to
its listener in exchange order; :mod:`paper_exchange.user_stream` renders and delivers them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from paper_exchange.accounts import Position
from paper_exchange.orders import AlgoOrder, Order, Trade

# Execution types of an order event (spot ``x``, futures ``o.x``).
NEW = "NEW"
TRADE = "TRADE"
CANCELED = "CANCELED"
EXPIRED = "EXPIRED"
REJECTED = "REJECTED"
# Algo statuses that exist only in the moment of triggering (the record keeps NEW/FINISHED/...).
TRIGGERING = "TRIGGERING"
TRIGGERED = "TRIGGERED"


@dataclass(frozen=True)
class OrderEvent:
    """An order was accepted, traded, cancelled or expired (``time``: its transaction time)."""

    order: Order
    execution: str
    time: int
    trade: Trade | None = None
    cancel_client_id: str = ""


@dataclass(frozen=True)
class SpotBalanceEvent:
    """Spot balances an order event may have changed: ``(asset, free, locked)``."""

    balances: tuple[tuple[str, Decimal, Decimal], ...]
    time: int


@dataclass(frozen=True)
class FuturesAccountEvent:
    """The futures wallet and one position after a fill."""

    wallet: Decimal
    position: Position
    mark: Decimal
    time: int


@dataclass(frozen=True)
class AlgoEvent:
    """A conditional order changed status; ``filled``/``avg_price`` of the order it placed."""

    algo: AlgoOrder
    status: str
    time: int
    filled: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)


StreamEvent = OrderEvent | SpotBalanceEvent | FuturesAccountEvent | AlgoEvent
