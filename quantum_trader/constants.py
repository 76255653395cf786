"""Names shared across processes: task queue, streams, groups, keys, search attributes."""

TASK_QUEUE = "trade-intents"
WORKFLOW_NAME = "TradeIntentWorkflow"

# Redis streams and keys (the first four are the original system's names).
DECISION_STREAM = "quantum:stream:ai.decision.made"
DEAD_LETTER_STREAM = "quantum:stream:ai.decision.dlq"
INTENT_STREAM = "quantum:stream:trade.intent"
RESULT_STREAM = "quantum:stream:execution.result"
INGRESS_GROUP = "quantum:group:intents"
RESULT_PUBLISHED_KEY_PREFIX = "quantum:result:published:"
KILL_SWITCH_KEY = "quantum:control:kill_switch"

# Custom search attributes (all Keyword), registered before any worker polls.
SA_TRADE_STATE = "TradeState"
SA_SYMBOL = "Symbol"
SA_SIDE = "Side"
SA_SOURCE = "Source"
SEARCH_ATTRIBUTES = (SA_TRADE_STATE, SA_SYMBOL, SA_SIDE, SA_SOURCE)

# Limits on decision fields: they become workflow IDs, search attributes and exchange params.
TRACE_ID_MAX_LEN = 128
TEXT_FIELD_MAX_LEN = 256
