"""Publishing each intent's result to ``quantum:stream:execution.result``, once per trace_id."""

from __future__ import annotations

import logging
from decimal import Decimal

from redis.asyncio import Redis
from temporalio import activity

from activities import metrics
from quantum_trader.ids import result_key
from quantum_trader.models import IntentResult
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState

log = logging.getLogger(__name__)

# Records the trace_id and appends in one atomic step: a retried activity (or a second
# run of the same trace_id) finds the key and appends nothing.
_PUBLISH_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
    local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
    return id
end
return false
"""

# Status words the original system's downstream consumers read.
_LEGACY_STATUS = {
    IntentState.FILLED: "filled",
    IntentState.PARTIALLY_FILLED: "partial",
    IntentState.REJECTED: "rejected",
    IntentState.CANCELLED: "cancelled",
    IntentState.EXPIRED: "expired",
    IntentState.FAILED: "failed",
}


def result_fields(result: IntentResult) -> dict[str, str]:
    """The stream entry: the new record plus the original system's field names."""
    fields = {k: _text(v) for k, v in result.model_dump(mode="json").items() if v is not None}
    fill_price = result.avg_price or result.reference_price
    slippage = ""
    if result.avg_price is not None and result.reference_price:
        slippage = str(((result.avg_price - result.reference_price) / result.reference_price * 100).quantize(Decimal("0.0001")))
    fields.update(
        {
            "action": result.side.value,
            "entry_price": _text(fill_price),
            "position_size_usd": _text(result.position_size_usd or result.quote_qty),
            "leverage": _text(result.leverage or 1),
            "timestamp": result.ended_at.isoformat(),
            "order_id": _text(result.exchange_order_id),
            "status": _LEGACY_STATUS[result.state],
            "slippage_pct": slippage,
            "fee_usd": _text(result.fees),
        }
    )
    return fields


def _text(value: object) -> str:
    return "" if value is None else str(value)


class ResultActivities:
    def __init__(self, settings: Settings, redis: Redis) -> None:
        self._settings = settings
        self._redis = redis
        self._script = redis.register_script(_PUBLISH_ONCE)

    @activity.defn
    async def publish_result(self, result: IntentResult) -> str | None:
        """Append the result once; returns the stream entry ID, or ``None`` if already there."""
        flat: list[str] = []
        for key, value in result_fields(result).items():
            flat.extend((key, value))
        keep_seconds = self._settings.dedup_retention_days * 86_400
        entry = await self._script(
            keys=[result_key(result.trace_id), self._settings.result_stream],
            args=[keep_seconds, self._settings.result_stream_maxlen, *flat],
        )
        entry_id = entry.decode() if isinstance(entry, bytes) else entry
        if entry_id:  # first publication of this trace_id: count the intent once
            metrics.count("quantum_intents_terminal", "Intents that reached a terminal state", state=result.state.value)
            metrics.observe_duration(
                "quantum_intent_duration", "Time from intent start to its terminal state", result.ended_at - result.started_at
            )
        log.info("TERMINAL STATE: %s | %s %s | trace_id=%s reason=%r published=%s",
                 result.state.value, result.symbol, result.side.value, result.trace_id, result.reason, bool(entry_id))
        return entry_id or None
