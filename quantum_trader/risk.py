"""The strategy and risk gate: pure functions from a decision and market facts to a verdict.

The approval activity gathers the facts (kill switch, exchange filters, last price); this
module decides. Keeping the rules pure makes each one a plain unit test.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from quantum_trader.ids import client_order_id
from quantum_trader.models import Market, OrderRequest, OrderType, Side, TimeInForce, TradeDecision
from quantum_trader.settings import Settings


@dataclass(frozen=True)
class MarketFacts:
    """What the gate needs to know about the exchange for one symbol."""

    listed: bool
    step_size: Decimal = Decimal(0)
    min_qty: Decimal = Decimal(0)
    max_qty: Decimal = Decimal(0)
    tick_size: Decimal = Decimal(0)
    min_notional: Decimal = Decimal(0)
    last_price: Decimal | None = None


@dataclass(frozen=True)
class Verdict:
    approved: bool
    reason: str
    order: OrderRequest | None = None
    notional: Decimal | None = None
    reference_price: Decimal | None = None


def _reject(reason: str) -> Verdict:
    return Verdict(approved=False, reason=reason)


def round_to_step(value: Decimal, step: Decimal, rounding: str = ROUND_FLOOR) -> Decimal:
    """Round ``value`` to a multiple of ``step`` (no-op when step is 0)."""
    if step <= 0:
        return value
    return ((value / step).to_integral_value(rounding=rounding) * step).normalize()


def policy_check(decision: TradeDecision, settings: Settings, kill_switch: bool) -> str | None:
    """The rules that need no market data; returns a rejection reason or ``None``."""
    if kill_switch:
        return "kill switch engaged"
    if decision.market is Market.USDM:
        return "usdm futures intents are not enabled on this worker"
    if decision.symbol not in settings.allowed_symbols:
        return f"symbol {decision.symbol} is not in the allowed list"
    if decision.confidence is None and settings.min_confidence > 0:
        return "confidence missing"
    if decision.confidence is not None and decision.confidence < settings.min_confidence:
        return f"confidence {decision.confidence} below minimum {settings.min_confidence}"
    return None


def evaluate(decision: TradeDecision, settings: Settings, facts: MarketFacts, kill_switch: bool = False) -> Verdict:
    """Approve ``decision`` as one exchange order, or say why not."""
    reason = policy_check(decision, settings, kill_switch)
    if reason:
        return _reject(reason)
    if not facts.listed:
        return _reject(f"symbol {decision.symbol} is not listed on the exchange")

    if decision.order_type is OrderType.LIMIT:
        assert decision.price is not None  # the model guarantees it
        # Round the limit price the safe way: never pay more, never sell for less.
        rounding = ROUND_FLOOR if decision.side is Side.BUY else ROUND_CEILING
        price = round_to_step(decision.price, facts.tick_size, rounding)
        if price <= 0:
            return _reject(f"price {decision.price} rounds to zero at tick size {facts.tick_size}")
        reference = price
        time_in_force: TimeInForce | None = decision.time_in_force
    else:
        if facts.last_price is None or facts.last_price <= 0:
            return _reject("no market price available")
        price = None
        reference = facts.last_price
        time_in_force = None

    raw_qty = decision.quantity if decision.quantity is not None else decision.position_size_usd / reference  # type: ignore[operator]
    quantity = round_to_step(raw_qty, facts.step_size)
    if quantity <= 0 or quantity < facts.min_qty:
        return _reject(f"quantity {raw_qty} is below the minimum {facts.min_qty} after rounding to step {facts.step_size}")
    if facts.max_qty > 0 and quantity > facts.max_qty:
        return _reject(f"quantity {quantity} is above the maximum {facts.max_qty}")
    notional = (quantity * reference).normalize()
    if notional < facts.min_notional:
        return _reject(f"notional {notional} is below the exchange minimum {facts.min_notional}")
    if notional > settings.max_notional_usd:
        return _reject(f"notional {notional} exceeds the limit {settings.max_notional_usd}")

    order = OrderRequest(
        trace_id=decision.trace_id,
        market=decision.market,
        symbol=decision.symbol,
        side=decision.side,
        order_type=decision.order_type,
        quantity=quantity,
        price=price,
        time_in_force=time_in_force,
        client_order_id=client_order_id(decision.trace_id),
    )
    return Verdict(approved=True, reason="approved", order=order, notional=notional, reference_price=reference)
