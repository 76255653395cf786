"""The risk gate's opening and its answer, shared by the spot and the futures gate.

Both gates read the kill switch, run the policy checks, read the market's facts (only
when the policy passed) and answer an :class:`Approval` whose TTL and deadline follow one
rule: a MARKET order has no TTL and the market deadline; any other order rests for its
TTL (or the default) and ends by TTL plus a margin.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, TypeVar

from temporalio.exceptions import ApplicationError

from activities.exchange import Exchange, ExchangeConfigError, ExchangeError, RequestRefused
from activities.placement import as_application_error, kill_switch_engaged
from quantum_trader import errors, logs
from quantum_trader.models import Approval, Market, OrderRequest, OrderType, TradeDecision
from quantum_trader.risk import MarketFacts, Verdict, policy_check
from quantum_trader.settings import Settings

log = logs.activity_logger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Opening(Generic[T]):
    """What the gate read before deciding.

    Attributes:
        kill_switch: whether the kill switch is engaged.
        facts: the market's facts; unlisted when a policy check refused the decision.
        beside: what the read made beside the facts returned (``None`` when none was made).
    """

    kill_switch: bool
    facts: MarketFacts
    beside: T | None = None


async def open_gate(
    settings: Settings,
    exchange: Exchange,
    redis: object | None,
    decision: TradeDecision,
    market: Market,
    extra_policy: Callable[[TradeDecision], str | None] | None = None,
    beside: Callable[[], Awaitable[T]] | None = None,
) -> Opening[T]:
    """Read the kill switch, run the policy checks, then (if they pass) the market facts and
    ``beside``, concurrently. Exchange failures of the reads become retryable activity
    errors, except a configuration error, which stops the intent."""
    kill_switch = settings.kill_switch or await kill_switch_engaged(redis)
    refusal = policy_check(decision, settings, kill_switch) or (extra_policy(decision) if extra_policy else None)
    if refusal is not None:
        return Opening(kill_switch, MarketFacts(listed=False))
    try:
        if beside is None:
            return Opening(kill_switch, await market_facts(exchange, market, decision))
        facts, found = await asyncio.gather(market_facts(exchange, market, decision), beside())
    except ExchangeConfigError as error:
        raise as_application_error(error) from None
    except ExchangeError as error:
        # Reads are safe to retry whatever their outcome, but not sooner than the exchange asked:
        # reading on through a 429 earns an IP ban that stops every order, cancels included.
        delay = timedelta(seconds=error.retry_after) if isinstance(error, RequestRefused) and error.retry_after else None
        raise ApplicationError(str(error), type=errors.EXCHANGE_UNAVAILABLE, next_retry_delay=delay) from None
    return Opening(kill_switch, facts, found)


async def market_facts(exchange: Exchange, market: Market, decision: TradeDecision) -> MarketFacts:
    """The symbol's filters on ``market``, and its reference price for a MARKET order."""
    rules = await exchange.symbol_rules(market, decision.symbol)
    if rules is None:
        return MarketFacts(listed=False)
    price = None
    if decision.order_type is OrderType.MARKET:
        price = await exchange.reference_price(market, decision.symbol)
    return MarketFacts(
        listed=True,
        step_size=rules.step_size,
        min_qty=rules.min_qty,
        max_qty=rules.max_qty,
        tick_size=rules.tick_size,
        min_notional=rules.min_notional,
        last_price=price,
    )


def ttl_seconds(settings: Settings, decision: TradeDecision) -> int | None:
    """How long the order rests at the exchange; ``None`` for a MARKET order."""
    if decision.order_type is OrderType.MARKET:
        return None
    return decision.ttl_seconds or settings.limit_default_ttl_seconds


def deadline_seconds(settings: Settings, decision: TradeDecision) -> int:
    """How long the intent may take in all."""
    ttl = ttl_seconds(settings, decision)
    if ttl is None:
        return settings.market_deadline_seconds
    return ttl + settings.limit_deadline_margin_seconds


def approval(settings: Settings, decision: TradeDecision, verdict: Verdict, order: OrderRequest | None, what: str) -> Approval:
    """The gate's answer for ``verdict``, with ``order`` to place; logs it as ``what``."""
    log.info("%s %s", what, "approved" if verdict.approved else "rejected", extra={
        "trace_id": decision.trace_id, "client_order_id": order.client_order_id if order else None, "reason": verdict.reason})
    return Approval(
        approved=verdict.approved,
        reason=verdict.reason,
        order=order,
        notional=verdict.notional,
        reference_price=verdict.reference_price,
        deadline_seconds=deadline_seconds(settings, decision),
        poll_seconds=settings.order_poll_seconds,
        ttl_seconds=ttl_seconds(settings, decision),
        watch_window_seconds=settings.order_watch_window_seconds,
    )
