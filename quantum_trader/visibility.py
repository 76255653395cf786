"""The search attributes operators filter intents by, as typed keys.

Shared by the workflows (which upsert them), the starter (which sets them at start, so an
intent is listed from its first moment without an extra upsert) and the CLI (which queries).
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, SearchAttributeUpdate, TypedSearchAttributes

from quantum_trader import constants
from quantum_trader.models import TradeDecision
from quantum_trader.states import IntentState

TRADE_STATE = SearchAttributeKey.for_keyword(constants.SA_TRADE_STATE)
SYMBOL = SearchAttributeKey.for_keyword(constants.SA_SYMBOL)
SIDE = SearchAttributeKey.for_keyword(constants.SA_SIDE)
SOURCE = SearchAttributeKey.for_keyword(constants.SA_SOURCE)


def intent_attributes(decision: TradeDecision, state: IntentState = IntentState.RECEIVED) -> list[SearchAttributePair[str]]:
    """The attributes of a new intent: its state, symbol, side and (if any) source."""
    pairs = [
        SearchAttributePair(TRADE_STATE, state.value),
        SearchAttributePair(SYMBOL, decision.symbol),
        SearchAttributePair(SIDE, decision.side.value),
    ]
    if decision.source:
        pairs.append(SearchAttributePair(SOURCE, decision.source))
    return pairs


def at_start(decision: TradeDecision) -> TypedSearchAttributes:
    return TypedSearchAttributes(intent_attributes(decision))


def missing_updates(decision: TradeDecision, present: TypedSearchAttributes) -> list[SearchAttributeUpdate[str]]:
    """Upserts for the intent's attributes that ``present`` does not already hold."""
    return [pair.key.value_set(pair.value) for pair in intent_attributes(decision) if present.get(pair.key) != pair.value]
