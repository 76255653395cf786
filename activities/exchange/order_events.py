"""The order events store in Redis: what the user data streams reported, per order.

The listener (``workers/exchange_events.py``) writes; the worker's watch reads. Several
listeners may write the same event at once, late, twice or out of order, so every write
goes through one Lua script that only moves an order forward:

* ``executed_qty`` never decreases;
* at equal ``executed_qty`` a terminal status beats an open one, and an open one never
  replaces a terminal one;
* otherwise the later transaction time wins (an equal one is a duplicate).

Each trade is recorded once under its trade ID (``HSETNX``) with its quantity and fee, so
fees add up once per trade whatever the stream repeats, and the reader can tell whether
the trades it holds account for the whole executed quantity (then the fees are complete).
Decimals stay strings in Redis; the script compares quantities as numbers only.

A REST answer (the mass reconciler's ``openOrders``, a lookup) is merged by the same script:
it is one more event, and it never moves an order backwards.

Keys (prefixes in :mod:`quantum_trader.constants`): ``quantum:order:{client_order_id}``
(HASH, the snapshot), ``quantum:order-trades:{client_order_id}`` (HASH, trade ID ->
``qty|fee|asset``), ``quantum:algo:{client_algo_id}`` (HASH), ``quantum:user-streams:{market}``
(HASH, listener ID -> that listener's health, each expiring on its own),
``quantum:order-look:{client_order_id}`` (the last REST look at the order, by a watch or the
reconciler), ``quantum:watched:{market}`` (ZSET, ``kind|symbol|id`` -> until when a watch
follows it) and ``quantum:reconciler:{market}`` (HASH, the mass reconciler's last round and
cadence; ``quantum:reconciler-alive:{market}`` while one runs). After a change the script
publishes the ID on ``quantum:order-events``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

from redis.asyncio import Redis

from quantum_trader import constants
from quantum_trader.models import AlgoSnapshot, Market, OrderSnapshot, Side
from quantum_trader.states import AlgoStatus, OrderStatus

DEFAULT_TTL_SECONDS = 7 * 86_400


# KEYS: snapshot hash, trades hash. ARGV: ttl, channel, id, trade_id ('' none), trade record,
# terminal ('1'/'0'), executed_qty, transaction time (ms), then field/value pairs to store.
_MERGE = """
local changed = 0
local ttl = tonumber(ARGV[1])
if ARGV[4] ~= '' then
  if redis.call('HSETNX', KEYS[2], ARGV[4], ARGV[5]) == 1 then changed = 1 end
  redis.call('EXPIRE', KEYS[2], ttl)
end
local cur = redis.call('HMGET', KEYS[1], 'executed_qty', 'terminal', 'transaction_ms')
local apply
if not cur[1] then
  apply = true
else
  local old_qty, new_qty = tonumber(cur[1]), tonumber(ARGV[7])
  local old_end, new_end = cur[2] == '1', ARGV[6] == '1'
  if old_end and not new_end then apply = false
  elseif new_qty < old_qty then apply = false
  elseif new_qty > old_qty then apply = true
  elseif new_end and not old_end then apply = true
  else apply = tonumber(ARGV[8]) > tonumber(cur[3] or '0') end
end
if apply then
  redis.call('HSET', KEYS[1], 'terminal', ARGV[6], 'executed_qty', ARGV[7], 'transaction_ms', ARGV[8], unpack(ARGV, 9))
  changed = 2
end
if changed > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('PUBLISH', ARGV[2], ARGV[3])
end
return changed
"""


# KEYS: the market's health hash. ARGV: listener ID, its record, now (ms), key ttl (ms).
# Records are ``connected|connected_at_ms|last_message_ms|last_event_ms|expires_at_ms``; a
# listener's record past its own expiry is dropped here and ignored by readers.
_WRITE_HEALTH = """
local now = tonumber(ARGV[3])
local records = redis.call('HGETALL', KEYS[1])
for i = 1, #records, 2 do
  local expires = tonumber(string.match(records[i + 1], '([^|]*)$'))
  if not expires or expires < now then redis.call('HDEL', KEYS[1], records[i]) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
"""

# Kinds of watched orders in ``quantum:watched:{market}``.
ORDER, ALGO = "order", "algo"


class Applied(IntEnum):
    """What one write did."""

    DUPLICATE = 0  # nothing new: seen already, or older than what is stored
    TRADE_ONLY = 1  # a trade's fee recorded; the snapshot stays (a late, reordered event)
    SNAPSHOT = 2  # the snapshot moved forward


@dataclass(frozen=True)
class Trade:
    """One fill as the stream reported it."""

    trade_id: int
    qty: Decimal
    fee: Decimal
    fee_asset: str | None


@dataclass(frozen=True)
class OrderEvent:
    """One order update (spot ``executionReport``, futures ``ORDER_TRADE_UPDATE``), normalised."""

    client_order_id: str
    symbol: str
    side: Side
    order_type: str
    status: OrderStatus
    order_id: int
    orig_qty: Decimal
    executed_qty: Decimal
    cumulative_quote_qty: Decimal
    transaction_ms: int
    event_ms: int
    trade: Trade | None = None


@dataclass(frozen=True)
class AlgoEvent:
    """One conditional order update (futures ``ALGO_UPDATE``), normalised."""

    client_algo_id: str
    algo_id: int
    status: AlgoStatus
    actual_order_id: int | None
    actual_price: Decimal | None
    executed_qty: Decimal
    transaction_ms: int
    event_ms: int


@dataclass(frozen=True)
class StoredOrder:
    """An order as the stream reported it. ``fees_complete``: the recorded trades account for
    the whole executed quantity, so ``snapshot.fees`` is the order's fee total."""

    snapshot: OrderSnapshot
    fees_complete: bool


@dataclass(frozen=True)
class StreamHealth:
    """A market's stream as its listener last reported it (times in ms since the epoch)."""

    connected: bool
    connected_at_ms: int
    last_message_ms: int
    last_event_ms: int

    def healthy(self, now_ms: int, silence_ms: int) -> bool:
        """Connected, and some frame (event, ping, pong) arrived within ``silence_ms``."""
        return self.connected and now_ms - self.last_message_ms <= silence_ms


@dataclass(frozen=True)
class MarketHealth:
    """A market's streams, one per listener that reported within its expiry."""

    listeners: tuple[StreamHealth, ...]

    def healthy(self, now_ms: int, silence_ms: int) -> bool:
        """Some listener is connected and not silent: the store can be trusted."""
        return any(h.healthy(now_ms, silence_ms) for h in self.listeners)

    def covered_since(self, now_ms: int, silence_ms: int) -> int | None:
        """Since when (ms) some healthy listener has been connected without a break: a stream
        has reported every change of an order after that moment. ``None`` when none is healthy."""
        starts = [h.connected_at_ms for h in self.listeners if h.healthy(now_ms, silence_ms)]
        return min(starts) if starts else None

    @property
    def connected(self) -> bool:
        return any(h.connected for h in self.listeners)

    @property
    def newest_connect_ms(self) -> int:
        """The latest (re)connection of a connected listener (0 if none)."""
        return max((h.connected_at_ms for h in self.listeners if h.connected), default=0)


@dataclass(frozen=True)
class ReconcilerRound:
    """The mass reconciler's last complete round of a market (ms since the epoch) and its cadence."""

    last_round_ms: int
    period_ms: int

    def live(self, now_ms: int) -> bool:
        """Its rounds keep coming: the last one is at most two periods old (and a little)."""
        return now_ms <= self.live_until_ms

    @property
    def live_until_ms(self) -> int:
        return self.last_round_ms + 2 * self.period_ms + RECONCILER_SLACK_MS


# A round may take this long beyond its period before the watches stop counting on it.
RECONCILER_SLACK_MS = 5_000


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


class OrderEventStore:
    """Reads and writes of the order events keys; one per process, sharing its Redis client."""

    def __init__(self, redis: Redis, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._merge = redis.register_script(_MERGE)
        self._write_health = redis.register_script(_WRITE_HEALTH)
        self._unlock = redis.register_script(_UNLOCK)

    # --- writes (the listener) ---------------------------------------------------------

    async def apply_order(self, event: OrderEvent) -> Applied:
        cid = event.client_order_id
        trade = event.trade
        fields = {
            "status": event.status.value, "order_id": event.order_id, "orig_qty": _text(event.orig_qty),
            "cumulative_quote_qty": _text(event.cumulative_quote_qty), "update_time_ms": event.transaction_ms,
            "event_ms": event.event_ms, "symbol": event.symbol, "side": event.side.value, "order_type": event.order_type,
        }
        args: list[object] = [
            self._ttl, constants.ORDER_EVENTS_CHANNEL, cid,
            "" if trade is None else trade.trade_id,
            "" if trade is None else f"{_text(trade.qty)}|{_text(trade.fee)}|{trade.fee_asset or ''}",
            "1" if not event.status.is_open else "0", _text(event.executed_qty), event.transaction_ms,
        ]
        for name, value in fields.items():
            args += [name, value]
        keys = [constants.ORDER_EVENTS_KEY_PREFIX + cid, constants.ORDER_TRADES_KEY_PREFIX + cid]
        return Applied(int(await self._merge(keys=keys, args=args)))

    async def apply_algo(self, event: AlgoEvent) -> Applied:
        cid = event.client_algo_id
        fields: dict[str, object] = {"status": event.status.value, "algo_id": event.algo_id, "event_ms": event.event_ms}
        if event.actual_order_id is not None:
            fields["actual_order_id"] = event.actual_order_id
        if event.actual_price is not None:
            fields["actual_price"] = _text(event.actual_price)
        args: list[object] = [
            self._ttl, constants.ORDER_EVENTS_CHANNEL, cid, "", "",
            "0" if event.status.is_open else "1", _text(event.executed_qty), event.transaction_ms,
        ]
        for name, value in fields.items():
            args += [name, value]
        keys = [constants.ALGO_EVENTS_KEY_PREFIX + cid, constants.ORDER_TRADES_KEY_PREFIX + "algo:" + cid]
        return Applied(int(await self._merge(keys=keys, args=args)))

    async def apply_snapshot(self, snapshot: OrderSnapshot, event_ms: int) -> Applied:
        """Merge an order as a REST answer showed it (no trade: its fees stay the stream's)."""
        if snapshot.symbol is None or snapshot.side is None or snapshot.order_id is None:
            return Applied.DUPLICATE  # not enough to store; the stream or the watch will tell
        return await self.apply_order(OrderEvent(
            client_order_id=snapshot.client_order_id, symbol=snapshot.symbol, side=snapshot.side,
            order_type=snapshot.order_type or "", status=snapshot.status, order_id=snapshot.order_id,
            orig_qty=snapshot.orig_qty, executed_qty=snapshot.executed_qty, cumulative_quote_qty=snapshot.cumulative_quote_qty,
            transaction_ms=snapshot.update_time_ms or 0, event_ms=event_ms,
        ))

    async def apply_algo_snapshot(self, snapshot: AlgoSnapshot, event_ms: int) -> Applied:
        """Merge a conditional order as a REST answer showed it. Any status but NEW is an end
        for the merge, so a REST answer needs no transaction time to move it forward."""
        if snapshot.algo_id is None:
            return Applied.DUPLICATE
        return await self.apply_algo(AlgoEvent(
            client_algo_id=snapshot.client_algo_id, algo_id=snapshot.algo_id, status=snapshot.status,
            actual_order_id=snapshot.actual_order_id, actual_price=snapshot.actual_price,
            executed_qty=snapshot.executed_qty, transaction_ms=0, event_ms=event_ms,
        ))

    async def write_health(self, market: str, listener_id: str, health: StreamHealth, ttl_seconds: float, now_ms: int) -> None:
        """One listener's health; it counts for ``ttl_seconds`` unless written again."""
        ttl_ms = max(1, int(ttl_seconds * 1000))
        record = "|".join(str(v) for v in (int(health.connected), health.connected_at_ms, health.last_message_ms,
                                           health.last_event_ms, now_ms + ttl_ms))
        await self._write_health(keys=[constants.USER_STREAM_KEY_PREFIX + market], args=[listener_id, record, now_ms, ttl_ms])

    # --- reads (the worker) ------------------------------------------------------------

    async def read_order(self, client_order_id: str) -> StoredOrder | None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(constants.ORDER_EVENTS_KEY_PREFIX + client_order_id)
            pipe.hgetall(constants.ORDER_TRADES_KEY_PREFIX + client_order_id)
            raw, trades = await pipe.execute()
        if not raw or b"status" not in raw:
            return None
        data = {k.decode(): v.decode() for k, v in raw.items()}
        executed = Decimal(data["executed_qty"])
        qty, fees, asset = Decimal(0), Decimal(0), None
        for record in trades.values():
            trade_qty, fee, fee_asset = record.decode().split("|")
            qty, fees = qty + Decimal(trade_qty), fees + Decimal(fee)
            asset = asset or fee_asset or None
        snapshot = OrderSnapshot(
            client_order_id=client_order_id, order_id=int(data["order_id"]), status=OrderStatus(data["status"]),
            orig_qty=Decimal(data["orig_qty"]), executed_qty=executed,
            cumulative_quote_qty=Decimal(data["cumulative_quote_qty"]), fees=fees, fee_asset=asset,
            update_time_ms=int(data["update_time_ms"]), symbol=data["symbol"], side=Side(data["side"]),
            order_type=data["order_type"],
        )
        return StoredOrder(snapshot, fees_complete=qty == executed)

    async def read_algo(self, client_algo_id: str) -> AlgoSnapshot | None:
        raw = await self._redis.hgetall(constants.ALGO_EVENTS_KEY_PREFIX + client_algo_id)
        if not raw or b"status" not in raw:
            return None
        data = {k.decode(): v.decode() for k, v in raw.items()}
        return AlgoSnapshot(
            client_algo_id=client_algo_id, algo_id=int(data["algo_id"]), status=AlgoStatus(data["status"]),
            actual_order_id=int(data["actual_order_id"]) if "actual_order_id" in data else None,
            actual_price=Decimal(data["actual_price"]) if "actual_price" in data else None,
            executed_qty=Decimal(data["executed_qty"]),
        )

    async def read_health(self, market: str, now_ms: int | None = None) -> MarketHealth | None:
        """The market's listeners whose records have not expired (at ``now_ms``, default now);
        ``None`` if there are none."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        raw = await self._redis.hgetall(constants.USER_STREAM_KEY_PREFIX + market)
        listeners = []
        for value in raw.values():
            fields = value.decode().split("|")
            if len(fields) != 5 or not all(f.lstrip("-").isdigit() for f in fields) or int(fields[4]) < now_ms:
                continue
            connected, connected_at, last_message, last_event, _ = (int(f) for f in fields)
            listeners.append(StreamHealth(bool(connected), connected_at, last_message, last_event))
        return MarketHealth(tuple(listeners)) if listeners else None

    # --- the worker's REST looks -------------------------------------------------------

    async def record_look(self, client_order_id: str, at_ms: int) -> None:
        """When the worker last asked the exchange itself about the order."""
        await self._redis.set(constants.ORDER_LOOK_KEY_PREFIX + client_order_id, at_ms, ex=self._ttl)

    async def last_look(self, client_order_id: str) -> int | None:
        value = await self._redis.get(constants.ORDER_LOOK_KEY_PREFIX + client_order_id)
        return int(value) if value is not None else None

    async def record_looks(self, client_ids: list[str], at_ms: int) -> None:
        """:meth:`record_look` for many orders at once (a mass reconcile)."""
        if not client_ids:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for cid in client_ids:
                pipe.set(constants.ORDER_LOOK_KEY_PREFIX + cid, at_ms, ex=self._ttl)
            await pipe.execute()

    async def last_looks(self, client_ids: list[str]) -> dict[str, int | None]:
        values = await self._redis.mget([constants.ORDER_LOOK_KEY_PREFIX + cid for cid in client_ids]) if client_ids else []
        return {cid: int(v) if v is not None else None for cid, v in zip(client_ids, values, strict=True)}

    # --- what the watches follow, for the mass reconciler -----------------------------

    async def watch(self, market: Market, kind: str, symbol: str, client_id: str, until_ms: int) -> None:
        """A watch follows this order until ``until_ms`` (or :meth:`unwatch`)."""
        await self._redis.zadd(constants.WATCHED_KEY_PREFIX + market.value, {_member(kind, symbol, client_id): until_ms})

    async def unwatch(self, market: Market, kind: str, symbol: str, client_id: str) -> None:
        await self._redis.zrem(constants.WATCHED_KEY_PREFIX + market.value, _member(kind, symbol, client_id))

    async def watched(self, market: Market, now_ms: int) -> list[tuple[str, str, str]]:
        """``(kind, symbol, client ID)`` of every order a watch follows now; expired ones are dropped."""
        key = constants.WATCHED_KEY_PREFIX + market.value
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now_ms)
            pipe.zrange(key, 0, -1)
            _, members = await pipe.execute()
        found = []
        for member in members:
            kind, symbol, client_id = member.decode().split("|", 2)
            found.append((kind, symbol, client_id))
        return found

    # --- the mass reconciler's rounds ------------------------------------------------

    async def read_round(self, market: Market) -> ReconcilerRound | None:
        """The last round, while some reconciler is running (``None`` otherwise)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(constants.RECONCILER_KEY_PREFIX + market.value)
            pipe.exists(constants.RECONCILER_ALIVE_KEY_PREFIX + market.value)
            raw, alive = await pipe.execute()
        if not alive or b"last_round_ms" not in raw or b"period_ms" not in raw:
            return None
        return ReconcilerRound(int(raw[b"last_round_ms"]), int(raw[b"period_ms"]))

    async def reconciler_alive(self, market: Market, ttl_ms: int) -> None:
        """A reconciler of ``market`` is running, for ``ttl_ms`` unless said again."""
        await self._redis.set(constants.RECONCILER_ALIVE_KEY_PREFIX + market.value, 1, px=ttl_ms)

    async def record_round(self, market: Market, at_ms: int, period_ms: int) -> None:
        """A round that began at ``at_ms`` is complete; the record lasts three periods."""
        key = constants.RECONCILER_KEY_PREFIX + market.value
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"last_round_ms": at_ms, "period_ms": period_ms})
            pipe.pexpire(key, 3 * period_ms + RECONCILER_SLACK_MS)
            await pipe.execute()

    async def lock_round(self, market: Market, owner: str, ttl_ms: int) -> bool:
        """Take the market's round lock (one round at a time in the fleet)."""
        return bool(await self._redis.set(constants.RECONCILE_LOCK_KEY_PREFIX + market.value, owner, nx=True, px=ttl_ms))

    async def unlock_round(self, market: Market, owner: str) -> None:
        """Release the lock if this owner still holds it."""
        await self._unlock(keys=[constants.RECONCILE_LOCK_KEY_PREFIX + market.value], args=[owner])


def _member(kind: str, symbol: str, client_id: str) -> str:
    return f"{kind}|{symbol}|{client_id}"
