"""Frozen models for every workflow, activity, signal and update input and output.

Quantities and prices are ``Decimal`` (strings on the wire), never floats. The decision
model is the gate for untrusted input: whatever it refuses carries a readable reason.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, model_validator

from quantum_trader.constants import TEXT_FIELD_MAX_LEN, TRACE_ID_MAX_LEN
from quantum_trader.states import AlgoStatus, IntentState, OrderStatus, ProtectionState

# A trace_id becomes the workflow ID verbatim and a visibility-query value: keep it to a
# printable alphabet that neither Temporal, a shell nor a URL mangles.
TRACE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,20}$")
SOURCE_PATTERN = re.compile(r"^[\w .:/@-]*$")

_MAX_DIGITS = 28


def _finite_positive(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number")
    if value <= 0:
        raise ValueError("must be greater than zero")
    if len(value.as_tuple().digits) > _MAX_DIGITS or value.adjusted() > 15 or value.adjusted() < -12:
        raise ValueError("is out of range")
    return value


PositiveDecimal = Annotated[Decimal, Field(allow_inf_nan=False), AfterValidator(_finite_positive)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class Market(StrEnum):
    SPOT = "spot"
    USDM = "usdm"


class TradeDecision(_Frozen):
    """A trade decision from the AI engine; its ``trace_id`` is the workflow ID."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)

    trace_id: str = Field(min_length=1, max_length=TRACE_ID_MAX_LEN)
    symbol: str = Field(min_length=2, max_length=20)
    side: Side = Field(validation_alias=AliasChoices("side", "action"))
    confidence: Decimal | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    quantity: PositiveDecimal | None = None
    position_size_usd: PositiveDecimal | None = None
    order_type: OrderType = OrderType.MARKET
    price: PositiveDecimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    ttl_seconds: int | None = Field(default=None, gt=0, le=7 * 24 * 3600)
    market: Market = Market.SPOT
    leverage: int | None = Field(default=None, ge=1, le=125)
    stop_loss: PositiveDecimal | None = None
    take_profit: PositiveDecimal | None = None
    source: str | None = Field(default=None, max_length=64)
    timestamp: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if v not in ("", None)}
        for key in ("side", "action", "order_type", "time_in_force"):
            if isinstance(data.get(key), str):
                data[key] = data[key].strip().upper()
        for key in ("market",):
            if isinstance(data.get(key), str):
                data[key] = data[key].strip().lower()
        if isinstance(data.get("symbol"), str):
            data["symbol"] = data["symbol"].strip().upper()
        for key, value in data.items():
            if isinstance(value, str) and len(value) > TEXT_FIELD_MAX_LEN:
                raise ValueError(f"field {key!r} is longer than {TEXT_FIELD_MAX_LEN} characters")
        return data

    @model_validator(mode="after")
    def _check(self) -> TradeDecision:
        if not TRACE_ID_PATTERN.fullmatch(self.trace_id):
            raise ValueError("trace_id may only contain letters, digits and . _ : - and must start alphanumeric")
        if not SYMBOL_PATTERN.fullmatch(self.symbol):
            raise ValueError("symbol must be 2-20 upper-case letters or digits")
        if self.source is not None and not SOURCE_PATTERN.fullmatch(self.source):
            raise ValueError("source contains characters that are not allowed")
        if self.quantity is None and self.position_size_usd is None:
            raise ValueError("one of quantity or position_size_usd is required")
        if self.order_type is OrderType.LIMIT and self.price is None:
            raise ValueError("a LIMIT order needs a price")
        if self.order_type is OrderType.MARKET and self.price is not None:
            raise ValueError("a MARKET order takes no price")
        return self

    def summary(self) -> str:
        """One line for the Web UI, e.g. ``BUY 0.01 BTCUSDT MARKET conf=0.87``."""
        size = f"{self.quantity}" if self.quantity is not None else f"${self.position_size_usd}"
        parts = [self.side.value, size, self.symbol, self.order_type.value]
        if self.price is not None:
            parts.append(f"@{self.price}")
        if self.confidence is not None:
            parts.append(f"conf={self.confidence}")
        if self.market is Market.USDM:
            parts.append(f"usdm x{self.leverage or 1}")
        return " ".join(parts)


class CancelRequest(_Frozen):
    """Input of the ``cancel_order`` signal and update; all fields optional."""

    reason: str = Field(default="cancel requested", max_length=TEXT_FIELD_MAX_LEN)


class OrderRequest(_Frozen):
    """Exactly what the placement activity sends; the client order ID is its idempotency key."""

    trace_id: str
    market: Market
    symbol: str
    side: Side
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    client_order_id: str
    # USD-M only: the order may only reduce the position (flatten and close orders).
    reduce_only: bool = False
    # The workflow run whose risk gate found no order under this client order ID. That
    # run's first placement attempt sends without looking again; any other attempt or run
    # (a retry, a reset) looks first.
    absent_in_run: str | None = None
    # Set by the workflow when its run is not the first of its chain (a reset): a run before
    # it may have sent this order, so even the first placement attempt waits that out.
    earlier_run: bool = False


class Approval(_Frozen):
    """Outcome of the risk gate: an order to place, or a rejection with its reason."""

    approved: bool
    reason: str = ""
    order: OrderRequest | None = None
    notional: Decimal | None = None
    reference_price: Decimal | None = None
    deadline_seconds: int
    poll_seconds: float = 1.0
    ttl_seconds: int | None = None
    # The longest watch of the order (QT_ORDER_WATCH_WINDOW_SECONDS; older approvals: 30 s).
    watch_window_seconds: float = 30.0


class OrderSnapshot(_Frozen):
    """The exchange's view of one order, normalised from Binance's JSON."""

    client_order_id: str
    order_id: int | None = None
    status: OrderStatus
    orig_qty: Decimal = Decimal(0)
    executed_qty: Decimal = Decimal(0)
    cumulative_quote_qty: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    fee_asset: str | None = None
    update_time_ms: int | None = None
    # What the order is, as the exchange reports it (absent from older records).
    symbol: str | None = None
    side: Side | None = None
    order_type: str | None = None

    @property
    def avg_price(self) -> Decimal | None:
        if self.executed_qty == 0:
            return None
        return (self.cumulative_quote_qty / self.executed_qty).quantize(Decimal("0.00000001"))

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def is_fully_filled(self) -> bool:
        return self.status is OrderStatus.FILLED


class PlacementResult(_Frozen):
    """What the placement activity returns: the order and how many attempts it took."""

    snapshot: OrderSnapshot
    attempts: int
    adopted: bool = False


class CancelOrderRequest(_Frozen):
    """Make sure the intent's order is not live; ``may_be_in_flight`` after an unknown outcome."""

    order: OrderRequest
    may_be_in_flight: bool = False


class WatchRequest(_Frozen):
    order: OrderRequest
    since: OrderSnapshot
    window_seconds: float
    poll_seconds: float


class IntentResult(_Frozen):
    """The record every TradeIntentWorkflow completes with."""

    trace_id: str
    state: IntentState
    reason: str = ""
    symbol: str
    side: Side
    order_type: OrderType
    market: Market = Market.SPOT
    client_order_id: str | None = None
    exchange_order_id: int | None = None
    quantity: Decimal | None = None
    executed_qty: Decimal = Decimal(0)
    avg_price: Decimal | None = None
    quote_qty: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    fee_asset: str | None = None
    attempts: int = 0
    reference_price: Decimal | None = None
    position_size_usd: Decimal | None = None
    leverage: int | None = None
    source: str | None = None
    started_at: datetime
    ended_at: datetime
    # USD-M only: the protective orders' client algo IDs and the OCO workflow watching them.
    stop_loss_id: str | None = None
    take_profit_id: str | None = None
    protection_workflow_id: str | None = None


class IntentStatus(_Frozen):
    """Answer of the ``status`` query."""

    trace_id: str
    state: IntentState
    finished: bool
    reason: str = ""
    summary: str
    order: OrderRequest | None = None
    snapshot: OrderSnapshot | None = None
    attempts: int = 0
    cancel_requested: bool = False
    deadline: datetime | None = None
    history: list[tuple[IntentState, datetime]] = Field(default_factory=list)


class FollowState(_Frozen):
    """What a trade intent carries into its next run when it continues as new while
    following its order: the decision and everything decided before the follow, frozen as
    it was. The next run takes it instead of the decision as its input."""

    decision: TradeDecision
    state: IntentState
    reason: str = ""
    approval: Approval
    futures: FuturesApproval | None = None
    order: OrderRequest
    snapshot: OrderSnapshot
    attempts: int
    started: datetime
    deadline: datetime
    history: list[tuple[IntentState, datetime]]
    attention: str | None = None
    watch_failures: int = 0
    # USD-M: the protection started while the entry still rested (see ProtectionSaga).
    protection: list[ProtectiveOrder] = Field(default_factory=list)
    protection_placed: list[AlgoSnapshot] = Field(default_factory=list)
    protection_workflow_id: str | None = None
    protection_generation: int = 0


# --- USD-M futures: leverage, protective orders and the OCO protection workflow ---------


class ProtectionKind(StrEnum):
    STOP_LOSS = "STOP_LOSS"
    TAKE_PROFIT = "TAKE_PROFIT"


class ProtectiveOrder(_Frozen):
    """One conditional (algo) order that closes the intent's position at a trigger price.

    ``client_algo_id`` is its idempotency key; ``quantity`` is the entry's filled quantity
    and the order is reduce-only, so it can close the intent's position but never open one.
    While the entry still rests and fills, each larger fill gets a new generation of the
    pair (:func:`quantum_trader.ids.client_order_id`), which replaces the one before.
    """

    trace_id: str
    symbol: str
    kind: ProtectionKind
    side: Side
    trigger_price: Decimal
    quantity: Decimal
    client_algo_id: str

    @property
    def order_type(self) -> str:
        return "STOP_MARKET" if self.kind is ProtectionKind.STOP_LOSS else "TAKE_PROFIT_MARKET"

    def label(self) -> str:
        return "stop-loss" if self.kind is ProtectionKind.STOP_LOSS else "take-profit"


class ProtectionTarget(_Frozen):
    """A protective level approved by the gate; the quantity is known only after the fill."""

    kind: ProtectionKind
    side: Side
    trigger_price: Decimal
    client_algo_id: str

    def for_quantity(self, trace_id: str, symbol: str, quantity: Decimal) -> ProtectiveOrder:
        return ProtectiveOrder(
            trace_id=trace_id, symbol=symbol, kind=self.kind, side=self.side,
            trigger_price=self.trigger_price, quantity=quantity, client_algo_id=self.client_algo_id,
        )


class FuturesApproval(_Frozen):
    """Outcome of the gate for a ``usdm`` decision: the entry plus leverage and protection."""

    approval: Approval
    leverage: int = 1
    protection: list[ProtectionTarget] = Field(default_factory=list)


class LeverageRequest(_Frozen):
    trace_id: str
    symbol: str
    leverage: int


class AlgoSnapshot(_Frozen):
    """The exchange's view of one conditional order (``/fapi/v1/algoOrder``)."""

    client_algo_id: str
    algo_id: int | None = None
    status: AlgoStatus
    actual_order_id: int | None = None
    actual_price: Decimal | None = None
    # Filled quantity of the MARKET order the trigger created (when known).
    executed_qty: Decimal = Decimal(0)

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def fired(self) -> bool:
        """The trigger was hit: the exchange sent (or is sending) the closing order."""
        return self.status.has_fired and self.actual_order_id is not None


class ProtectionPlacement(_Frozen):
    snapshot: AlgoSnapshot
    attempts: int
    adopted: bool = False


class CancelProtectionRequest(_Frozen):
    order: ProtectiveOrder
    may_be_in_flight: bool = False


class ClosePositionRequest(_Frozen):
    """Close the intent's position now with a reduce-only MARKET order (``order``)."""

    order: OrderRequest
    # The entry's side: the position to close is long after a BUY, short after a SELL.
    entry_side: Side


class CloseResult(_Frozen):
    """What closing did: the close order's final state, or ``None`` when nothing was open."""

    snapshot: OrderSnapshot | None = None
    position_amount: Decimal = Decimal(0)
    attempts: int = 0


class ProtectionPlan(_Frozen):
    """Input of the protection (OCO) workflow, also what it continues-as-new with."""

    trace_id: str
    symbol: str
    entry_side: Side
    quantity: Decimal
    orders: list[ProtectiveOrder]
    snapshots: list[AlgoSnapshot] = Field(default_factory=list)
    close_order: OrderRequest
    poll_seconds: float = 1.0
    started_at: datetime | None = None
    close_reason: str | None = None
    # Set when protection started while the entry still rested: the entry to cancel before
    # the position is closed, so that what is left of it cannot open the position again.
    entry: OrderRequest | None = None
    # How many times the pair was resized (replaced by a larger one) since it was placed, and
    # a resize received but not yet applied when the workflow continued as new.
    generation: int = 0
    resize: ResizeProtection | None = None


class ResizeProtection(_Frozen):
    """Input of the protection workflow's ``resize`` signal: the entry, still resting, filled
    more; replace the pair with ``orders`` (generation ``generation``, sized to the new fill)."""

    generation: int
    quantity: Decimal
    orders: list[ProtectiveOrder]


class ClosePositionSignal(_Frozen):
    """Input of the protection workflow's ``close_position`` signal; all fields optional."""

    reason: str = Field(default="close requested", max_length=TEXT_FIELD_MAX_LEN)


class ProtectionWatch(_Frozen):
    orders: list[ProtectiveOrder]
    since: list[AlgoSnapshot]
    window_seconds: float
    poll_seconds: float


class ProtectionStatus(_Frozen):
    """Answer of the protection workflow's ``status`` query, and its result."""

    trace_id: str
    state: ProtectionState
    finished: bool = False
    reason: str = ""
    symbol: str
    quantity: Decimal
    orders: list[ProtectiveOrder] = Field(default_factory=list)
    snapshots: list[AlgoSnapshot] = Field(default_factory=list)
    fired: str | None = None
    close: OrderSnapshot | None = None
    close_requested: bool = False
