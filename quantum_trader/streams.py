"""Redis stream operations of the ingress: the group, acks, dead letters, the intent feed.

Dead-lettering and its ack are one Lua script, so a crash cannot leave one without the
other. The script appends to the dead-letter stream only if its ``XACK`` removed the entry
from the group's pending list: a redelivered or concurrently reclaimed entry whose dead
letter already exists is never dead-lettered twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

from quantum_trader import constants
from quantum_trader.models import TradeDecision

# A Lua call unpacks at most a few thousand arguments; an entry with more fields keeps
# its first ones and says so.
DEAD_LETTER_MAX_FIELDS = 1_000

_DEAD_LETTER = """
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))
  return 1
end
return 0
"""

_PUBLISH_INTENT = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
  return 1
end
return 0
"""


@dataclass(frozen=True)
class GroupInfo:
    """The consumer group as ``XINFO GROUPS`` reports it."""

    consumers: int
    pending: int
    lag: int | None
    last_delivered_id: str


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def ensure_group(redis: Redis, stream: str, group: str, start_id: str) -> bool:
    """Create the group (and the stream) if missing; returns whether it was created."""
    try:
        await redis.xgroup_create(stream, group, id=start_id, mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" in str(error):
            return False
        raise
    return True


async def group_info(redis: Redis, stream: str, group: str) -> GroupInfo | None:
    """The group's consumers, pending count and lag; ``None`` if the group does not exist."""
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError as error:
        if "no such key" in str(error).lower():
            return None
        raise
    for entry in groups:
        if text(entry["name"]) == group:
            return GroupInfo(
                consumers=int(entry["consumers"]),
                pending=int(entry["pending"]),
                lag=None if entry.get("lag") is None else int(entry["lag"]),
                last_delivered_id=text(entry["last-delivered-id"]),
            )
    return None


def dead_letter_fields(
    source_id: str, reason: str, consumer: str, original: Mapping[bytes, bytes] | None
) -> list[bytes | str]:
    """The dead-letter entry as a flat field/value list: ours first, then ``orig.<field>``."""
    fields: list[bytes | str] = [
        "reason", reason,
        "source_id", source_id,
        "source_stream", constants.DECISION_STREAM,
        "consumer", consumer,
        "dead_lettered_at_ms", str(int(time.time() * 1000)),
    ]
    items = list((original or {}).items())
    if len(items) > DEAD_LETTER_MAX_FIELDS:
        fields += ["orig_truncated", f"kept {DEAD_LETTER_MAX_FIELDS} of {len(items)} fields"]
        items = items[:DEAD_LETTER_MAX_FIELDS]
    prefix = constants.DEAD_LETTER_FIELD_PREFIX.encode()
    for key, value in items:
        fields += [prefix + (key if isinstance(key, bytes) else str(key).encode()), value]
    return fields


class StreamOps:
    """Commands on one decision stream and group; the scripts are loaded once."""

    def __init__(self, redis: Redis, stream: str = constants.DECISION_STREAM, group: str = constants.INGRESS_GROUP) -> None:
        self.redis = redis
        self.stream = stream
        self.group = group
        self._dead_letter = redis.register_script(_DEAD_LETTER)
        self._publish_intent = redis.register_script(_PUBLISH_INTENT)

    async def dead_letter(self, pipe: Pipeline, source_id: str, fields: list[bytes | str]) -> None:
        """Queue: ack ``source_id`` and, if it was still pending, append its dead letter."""
        await self._dead_letter(keys=[self.stream, constants.DEAD_LETTER_STREAM], args=[self.group, source_id, *fields], client=pipe)

    async def dead_letter_gone(self, source_id: str, consumer: str) -> None:
        """Record an entry deleted from the stream while pending (Redis already dropped it)."""
        fields = dead_letter_fields(source_id, "entry was deleted from the stream before it was processed", consumer, None)
        await self.redis.xadd(constants.DEAD_LETTER_STREAM, dict(zip(fields[::2], fields[1::2], strict=True)))

    async def publish_intent(self, pipe: Pipeline, decision: TradeDecision) -> None:
        """Queue: append the intent to the trade.intent stream once per trace_id."""
        key = f"{constants.INTENT_DEDUP_KEY_PREFIX}{decision.trace_id}"
        await self._publish_intent(
            keys=[key, constants.INTENT_STREAM],
            args=[constants.INTENT_DEDUP_TTL_SECONDS, constants.INTENT_STREAM_MAXLEN, "data", intent_json(decision), "trace_id", decision.trace_id],
            client=pipe,
        )

    def ack(self, pipe: Pipeline, ids: Iterable[str]) -> None:
        ids = list(ids)
        if ids:
            pipe.xack(self.stream, self.group, *ids)


def intent_json(decision: TradeDecision) -> str:
    """The intent in the original trade.intent names (``action`` for the side)."""
    body = decision.model_dump(mode="json", exclude_none=True)
    body["action"] = body.pop("side")
    return json.dumps(body, separators=(",", ":"), sort_keys=True)
