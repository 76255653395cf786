"""Publishing each intent's result to ``quantum:stream:execution.result``, once per trace_id.

A marker key records each published trace_id, so a retried publication (or a second run of
the trace_id while Temporal still refuses it) appends nothing. The marker lives for the dedup
window (``QT_DEDUP_RETENTION_DAYS``) but never longer than the namespace actually retains a
closed run, read from Temporal: the worker's attempt to set the retention may have failed
(a managed namespace), and once Temporal forgets a run the trace_id may run again, whose
result must be published rather than taken for the old one.
"""

from __future__ import annotations

import time
from decimal import Decimal

from redis.asyncio import Redis
from temporalio import activity
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from activities import metrics
from quantum_trader import logs
from quantum_trader.ids import result_key
from quantum_trader.models import IntentResult
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState

log = logs.activity_logger(__name__)

# Appends and records the trace_id in one atomic step: a retried activity (or a second run
# of the same trace_id) finds the key and appends nothing. The append comes first because
# Redis does not undo a script's earlier writes when a later command fails: a failed XADD
# (the key is not a stream, out of memory) must not leave a marker its retry would obey.
_PUBLISH_ONCE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    return false
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
return id
"""
# How long a namespace retention read from Temporal is trusted before it is read again.
RETENTION_MAX_AGE_SECONDS = 300.0
# The marker's life when the retention cannot be read: Temporal's smallest retention.
MIN_RETENTION_SECONDS = 86_400

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
        # (monotonic time read, seconds) of the namespace's retention.
        self._retention: tuple[float, int] | None = None

    @activity.defn
    async def publish_result(self, result: IntentResult) -> str | None:
        """Append the result once; returns the stream entry ID, or ``None`` if already there."""
        flat: list[str] = []
        for key, value in result_fields(result).items():
            flat.extend((key, value))
        keep_seconds = min(self._settings.dedup_retention_days * 86_400, await self._retention_seconds())
        entry = await self._script(
            keys=[result_key(result.trace_id), self._settings.result_stream],
            args=[keep_seconds, self._settings.result_stream_maxlen, *flat],
        )
        entry_id = entry.decode() if isinstance(entry, bytes) else entry
        if entry_id:  # first publication of this trace_id: count the intent once
            metrics.count(metrics.INTENTS_TERMINAL, state=result.state.value)
            metrics.observe_duration(result.ended_at - result.started_at)
        log.info("terminal state %s", result.state.value, extra={
            "trace_id": result.trace_id, "state": result.state, "symbol": result.symbol, "side": result.side,
            "reason": result.reason, "published": bool(entry_id)})
        return entry_id or None

    async def _retention_seconds(self) -> int:
        """How long the worker's namespace keeps a closed run, read at most every few minutes."""
        if self._retention is not None and time.monotonic() - self._retention[0] <= RETENTION_MAX_AGE_SECONDS:
            return self._retention[1]
        client = activity.client()
        try:
            described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=client.namespace))
        except Exception as error:  # the marker then lives the shortest retention Temporal allows
            log.warning("namespace retention unreadable",
                        extra={"namespace": client.namespace, "marker_seconds": MIN_RETENTION_SECONDS, "error": error})
            return MIN_RETENTION_SECONDS
        seconds = int(described.config.workflow_execution_retention_ttl.ToTimedelta().total_seconds())
        if seconds <= 0:
            return MIN_RETENTION_SECONDS
        self._retention = (time.monotonic(), seconds)
        return seconds
