"""``ApplicationError.type`` names that cross the activity/workflow boundary."""

# Not retried: the exchange refused the order for good (balance, filters, symbol).
ORDER_REJECTED = "OrderRejected"
# Not retried: keys, permissions or signing are wrong.
EXCHANGE_CONFIG = "ExchangeConfigError"
# Retried: the request did not execute (rate limit, clock window).
REQUEST_REFUSED = "RequestRefused"
# Retried: the request may have executed (timeout, 5xx, -1006, -1007).
OUTCOME_UNKNOWN = "OutcomeUnknown"
# Retried: a read or a dependency was unavailable.
EXCHANGE_UNAVAILABLE = "ExchangeUnavailable"
# Retried after its next_retry_delay: an earlier request may still execute; the retry
# policy waits until it cannot (no attempt sleeps).
PLACEMENT_WAIT = "PlacementWait"

NON_RETRYABLE = (ORDER_REJECTED, EXCHANGE_CONFIG)
