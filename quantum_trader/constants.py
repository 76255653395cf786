"""Names shared across processes: task queue, streams, groups, keys, search attributes."""

TASK_QUEUE = "trade-intents"
WORKFLOW_NAME = "TradeIntentWorkflow"
# The OCO watch a futures intent starts over its protective orders (child `<trace_id>-oco`).
PROTECTION_WORKFLOW_NAME = "ProtectionWorkflow"

# Redis streams and keys (the first four are the original system's names).
DECISION_STREAM = "quantum:stream:ai.decision.made"
DEAD_LETTER_STREAM = "quantum:stream:ai.decision.dlq"
INTENT_STREAM = "quantum:stream:trade.intent"
RESULT_STREAM = "quantum:stream:execution.result"
INGRESS_GROUP = "quantum:group:intents"
RESULT_PUBLISHED_KEY_PREFIX = "quantum:result:published:"
KILL_SWITCH_KEY = "quantum:control:kill_switch"
# The exchange request budget every worker shares: `<prefix><API base URL>:<window>:<index>`
# counters and `<prefix><API base URL>:pause` (activities/exchange/budget.py).
EXCHANGE_BUDGET_KEY_PREFIX = "quantum:budget:"

# Custom search attributes (all Keyword), registered before any worker polls.
SA_TRADE_STATE = "TradeState"
SA_SYMBOL = "Symbol"
SA_SIDE = "Side"
SA_SOURCE = "Source"
SEARCH_ATTRIBUTES = (SA_TRADE_STATE, SA_SYMBOL, SA_SIDE, SA_SOURCE)

# Limits on decision fields: they become workflow IDs, search attributes and exchange params.
TRACE_ID_MAX_LEN = 128
TEXT_FIELD_MAX_LEN = 256

# Ingress (stream -> workflows).
# The original router's dedup key; the ingress uses it only to append each intent once
# to INTENT_STREAM when that compatibility feed is enabled.
INTENT_DEDUP_KEY_PREFIX = "quantum:dedup:trade_intent:"
INTENT_DEDUP_TTL_SECONDS = 86_400
INTENT_STREAM_MAXLEN = 10_000
# Running totals of every ingress process (HINCRBY), read by `quantum-trader stats`.
INGRESS_COUNTERS_KEY = "quantum:ingress:counters"
# Where the ingress's consumer group starts again if it is lost (an entry ID; suffixed with the group).
INGRESS_CHECKPOINT_KEY_PREFIX = "quantum:ingress:checkpoint:"
# Wire form: one field holding JSON, as the original event bus wrote it.
WIRE_DATA_FIELD = "data"
WIRE_MAX_FIELDS = 64
WIRE_MAX_BYTES = 64 * 1024
# Dead-letter entries carry the original fields under this prefix.
DEAD_LETTER_FIELD_PREFIX = "orig."

# Order events from the exchange's user data streams (workers/exchange_events.py writes,
# the worker's watch reads): the latest snapshot of each order, its trades, the algo orders,
# each market's stream health, and the channel that names an order after each change.
ORDER_EVENTS_KEY_PREFIX = "quantum:order:"
ORDER_TRADES_KEY_PREFIX = "quantum:order-trades:"
ALGO_EVENTS_KEY_PREFIX = "quantum:algo:"
ORDER_LOOK_KEY_PREFIX = "quantum:order-look:"
# One health record per listener (the single ``quantum:user-stream:{market}`` record of
# earlier listeners is ignored: a worker that reads only that one polls until upgraded).
USER_STREAM_KEY_PREFIX = "quantum:user-streams:"
# The orders (and protective orders) watches follow right now, per market: the reconciler's list.
WATCHED_KEY_PREFIX = "quantum:watched:"
# The mass reconciler's last round per market (and its cadence), and its round lock.
RECONCILER_KEY_PREFIX = "quantum:reconciler:"
RECONCILE_LOCK_KEY_PREFIX = "quantum:reconcile-lock:"
# Set by every running mass reconciler each second, expiring in a few: one is running.
RECONCILER_ALIVE_KEY_PREFIX = "quantum:reconciler-alive:"
ORDER_EVENTS_CHANNEL = "quantum:order-events"
