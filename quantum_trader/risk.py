"""The strategy and risk gate: pure functions from a decision and market facts to a verdict.

The approval activity gathers the facts (kill switch, exchange filters, last price); this
module decides. Keeping the rules pure makes each one a plain unit test.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from quantum_trader.ids import Step, client_order_id
from quantum_trader.models import Market, OrderRequest, OrderType, ProtectionKind, ProtectionTarget, Side, TimeInForce, TradeDecision
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
class FuturesPolicy:
    """Limits of the USD-M gate that the spot gate does not have.

    Attributes:
        max_leverage: highest leverage a decision may ask for (the exchange allows up to 125).
        require_stop_loss: refuse a ``usdm`` decision that carries no stop-loss level.
    """

    max_leverage: int = 20
    require_stop_loss: bool = True


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
    if decision.symbol not in settings.allowed_symbols:
        return f"symbol {decision.symbol} is not in the allowed list"
    if decision.confidence is None and settings.min_confidence > 0:
        return "confidence missing"
    if decision.confidence is not None and decision.confidence < settings.min_confidence:
        return f"confidence {decision.confidence} below minimum {settings.min_confidence}"
    return None


def evaluate(decision: TradeDecision, settings: Settings, facts: MarketFacts, kill_switch: bool = False) -> Verdict:
    """Approve a spot ``decision`` as one exchange order, or say why not."""
    reason = policy_check(decision, settings, kill_switch)
    if reason:
        return _reject(reason)
    if decision.market is Market.USDM:
        # Leverage and protection are checked only by evaluate_futures.
        return _reject("usdm decisions are approved by the futures gate, not the spot gate")
    return _size(decision, settings, facts)


def _size(decision: TradeDecision, settings: Settings, facts: MarketFacts) -> Verdict:
    """The entry order: price rounding, quantity, exchange filters and the notional limit."""
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


def futures_policy_check(decision: TradeDecision, policy: FuturesPolicy) -> str | None:
    """The USD-M rules that need no market data; returns a rejection reason or ``None``."""
    leverage = decision.leverage or 1
    if not 1 <= leverage <= policy.max_leverage:
        return f"leverage {leverage} is outside 1..{policy.max_leverage}"
    if policy.require_stop_loss and decision.stop_loss is None:
        return "a usdm intent needs a stop_loss"
    return None


@dataclass(frozen=True)
class FuturesVerdict:
    verdict: Verdict
    leverage: int = 1
    protection: tuple[ProtectionTarget, ...] = ()


def evaluate_futures(
    decision: TradeDecision, settings: Settings, facts: MarketFacts, policy: FuturesPolicy, kill_switch: bool = False
) -> FuturesVerdict:
    """Approve a ``usdm`` decision: the entry sized as on spot, plus leverage and protection.

    ``facts.last_price`` is the mark price. The stop-loss and take-profit must lie on the
    losing and the winning side of the entry's reference price (limit price, else mark),
    rounded to the tick towards the entry, so a protective order never sits beyond its level.
    """
    reason = policy_check(decision, settings, kill_switch) or futures_policy_check(decision, policy)
    if reason:
        return FuturesVerdict(_reject(reason))
    verdict = _size(decision, settings, facts)
    if not verdict.approved:
        return FuturesVerdict(verdict)
    reference = verdict.reference_price
    assert reference is not None
    long = decision.side is Side.BUY
    closing = Side.SELL if long else Side.BUY
    targets = []
    levels = ((ProtectionKind.STOP_LOSS, decision.stop_loss, Step.STOP_LOSS), (ProtectionKind.TAKE_PROFIT, decision.take_profit, Step.TAKE_PROFIT))
    for kind, level, step in levels:
        if level is None:
            continue
        losing = kind is ProtectionKind.STOP_LOSS
        # Long: stop below, take-profit above the entry. Short: the other way round.
        below = losing == long
        name = "stop_loss" if losing else "take_profit"
        price = round_to_step(level, facts.tick_size, ROUND_CEILING if below else ROUND_FLOOR)
        if below and not price < reference:
            return FuturesVerdict(_reject(f"{name} {level} must be below the entry reference {reference} for a {decision.side.value}"))
        if not below and not price > reference:
            return FuturesVerdict(_reject(f"{name} {level} must be above the entry reference {reference} for a {decision.side.value}"))
        targets.append(ProtectionTarget(kind=kind, side=closing, trigger_price=price, client_algo_id=client_order_id(decision.trace_id, step)))
    return FuturesVerdict(verdict, leverage=decision.leverage or 1, protection=tuple(targets))
