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

Keys (prefixes in :mod:`quantum_trader.constants`): ``quantum:order:{client_order_id}``
(HASH, the snapshot), ``quantum:order-trades:{client_order_id}`` (HASH, trade ID ->
``qty|fee|asset``), ``quantum:algo:{client_algo_id}`` (HASH), ``quantum:user-stream:{market}``
(HASH, the listener's health) and ``quantum:order-look:{client_order_id}`` (the worker's
last REST look). After a change the script publishes the ID on ``quantum:order-events``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

from redis.asyncio import Redis

from quantum_trader import constants
from quantum_trader.models import AlgoSnapshot, OrderSnapshot, Side
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


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


class OrderEventStore:
    """Reads and writes of the order events keys; one per process, sharing its Redis client."""

    def __init__(self, redis: Redis, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._merge = redis.register_script(_MERGE)

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

    async def write_health(self, market: str, health: StreamHealth, ttl_seconds: float) -> None:
        key = constants.USER_STREAM_KEY_PREFIX + market
        mapping = {
            "connected": int(health.connected), "connected_at_ms": health.connected_at_ms,
            "last_message_ms": health.last_message_ms, "last_event_ms": health.last_event_ms,
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=mapping)
            pipe.pexpire(key, max(1, int(ttl_seconds * 1000)))
            await pipe.execute()

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

    async def read_health(self, market: str) -> StreamHealth | None:
        raw = await self._redis.hgetall(constants.USER_STREAM_KEY_PREFIX + market)
        if not raw:
            return None
        data = {k.decode(): int(v) for k, v in raw.items()}
        return StreamHealth(
            connected=bool(data.get("connected", 0)), connected_at_ms=data.get("connected_at_ms", 0),
            last_message_ms=data.get("last_message_ms", 0), last_event_ms=data.get("last_event_ms", 0),
        )

    # --- the worker's REST looks -------------------------------------------------------

    async def record_look(self, client_order_id: str, at_ms: int) -> None:
        """When the worker last asked the exchange itself about the order."""
        await self._redis.set(constants.ORDER_LOOK_KEY_PREFIX + client_order_id, at_ms, ex=self._ttl)

    async def last_look(self, client_order_id: str) -> int | None:
        value = await self._redis.get(constants.ORDER_LOOK_KEY_PREFIX + client_order_id)
        return int(value) if value is not None else None
