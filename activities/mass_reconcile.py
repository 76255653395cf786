"""The mass reconcile: one open-orders request per symbol and round, instead of one lookup
per order.

While a market's user data stream is healthy, the watches trust the order events store,
but a stream may stall while pings flow, so every order must still be compared with the
exchange now and then. Looking each one up (``GET /api/v3/order``, weight 4, every
``QT_RECONCILE_SECONDS``) costs about 2 weight per open order per minute: 10,000 open
orders would take 20,000 a minute, over Binance's 6,000. Instead, every
``QT_RECONCILE_SECONDS``, for each symbol that has watched open orders:

* one ``GET /api/v3/openOrders?symbol=`` (weight 6; futures ``/fapi/v1/openOrders``, weight 1,
  and ``/fapi/v1/openAlgoOrders``, weight 1, for protective orders) lists them all; each
  watched order it lists is merged into the store by the same monotonic merge as the stream's
  events (a REST answer never moves an order backwards) and gets its look time recorded, so
  its watch does not look itself. A symbol whose watched orders cost no more to look up one
  by one (one spot order: 4 against 6) is looked up instead, merged and recorded the same way;
* a watched order it does not list has ended (or was placed after the request): if the
  store already holds its end, or it was looked at since the request, nothing is asked;
  otherwise (the stream lost its end) one lookup, merged and recorded the same way.

The watches register what they follow (:meth:`OrderEventStore.watch`). A round is due every
``QT_RECONCILE_SECONDS``, and at once when no healthy listener has been connected since the
last round began (a reconnect: the stream may have missed something meanwhile), though not
sooner than :data:`MIN_ROUND_GAP_MS` after the last one. Rounds run
only while some listener reports the market healthy (otherwise the watches poll).

Every listener process runs one :class:`MassReconciler` per market; a Redis lock per market
and round, and the round record read again under it, make one round at a time in the fleet.
The requests go through the fleet's request budget at the entries' priority (a round
replaces many lookups: it must not starve behind them); a failure backs
off (capped exponential, at least the exchange's Retry-After) and leaves the round undone,
so the watches fall back to their own looks when no round completes for two periods.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from activities.exchange import ExchangeError, FuturesExchange, Priority, RequestRefused, calls_at
from activities.exchange.budget import request_cost
from activities.exchange.order_events import ALGO, ORDER, OrderEventStore
from quantum_trader.connections import REDIS_DOWN
from quantum_trader.models import Market
from quantum_trader.settings import Settings
from quantum_trader.startup import Backoff

log = logging.getLogger(__name__)

# How often a reconciler checks whether a round is due (reconnects are noticed this fast), and
# says it is running (that lapses after ALIVE_MS: the watches then stop waiting for rounds).
TICK_SECONDS = 1.0
ALIVE_MS = 5_000
# Symbols asked at once in a round, and store merges at once.
SYMBOLS_AT_ONCE = 4
MERGES_AT_ONCE = 100
# After a reconnect, a round is due at once, but never sooner than this after the last one
# (a stream that keeps reconnecting costs a round per this much at most).
MIN_ROUND_GAP_MS = 10_000
# Binance's weights (budget.REQUEST_COSTS): a symbol with watched orders is listed when that
# costs less than looking its orders up one by one (spot: 6 against 4 per order).
LIST_COST = {Market.SPOT: request_cost("GET", "/api/v3/openOrders").weight, Market.USDM: request_cost("GET", "/fapi/v1/openOrders").weight}
LOOKUP_COST = {Market.SPOT: request_cost("GET", "/api/v3/order").weight, Market.USDM: request_cost("GET", "/fapi/v1/order").weight}
ALGO_LIST_COST = request_cost("GET", "/fapi/v1/openAlgoOrders").weight
ALGO_LOOKUP_COST = request_cost("GET", "/fapi/v1/algoOrder").weight
BACKOFF_INITIAL_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0


def now_ms() -> int:
    return int(time.time() * 1000)


class MassReconciler:
    """The rounds of one process; ``owner`` names it in the round lock."""

    def __init__(self, settings: Settings, exchange: FuturesExchange, store: OrderEventStore, owner: str) -> None:
        self._settings, self._exchange, self._store, self._owner = settings, exchange, store, owner
        self._period_ms = int(settings.reconcile_seconds * 1000)
        self._silence_ms = int(settings.stream_silence_seconds * 1000)

    async def run(self, market: Market) -> None:
        """Do the market's rounds when due, until cancelled."""
        backoff = Backoff(BACKOFF_INITIAL_SECONDS, BACKOFF_MAX_SECONDS)
        while True:
            delay = TICK_SECONDS
            try:
                await self._store.reconciler_alive(market, ALIVE_MS)
                if await self.maybe_round(market):
                    backoff.reset()
            except ExchangeError as error:
                retry_after = error.retry_after if isinstance(error, RequestRefused) else None
                delay = max(backoff.next(), retry_after or 0.0)
                log.warning("mass reconcile failed", extra={"market": market.value, "error": str(error), "retry_in_s": round(delay, 2)})
            except REDIS_DOWN as error:
                delay = backoff.next()
                log.warning("mass reconcile without Redis", extra={"market": market.value, "error": str(error)})
            except Exception:  # a bug must not end the rounds for good, nor the listener's streams
                delay = backoff.next()
                log.exception("mass reconcile round failed", extra={"market": market.value, "retry_in_s": round(delay, 2)})
            await asyncio.sleep(delay)

    async def due(self, market: Market) -> bool:
        """A healthy stream, and a round not done this period or not since the last reconnect."""
        now = now_ms()
        health = await self._store.read_health(market.value, now)
        covered = health.covered_since(now, self._silence_ms) if health is not None else None
        if covered is None:
            return False
        last = await self._store.read_round(market)
        if last is None or now - last.last_round_ms >= self._period_ms:
            return True
        return covered > last.last_round_ms and now - last.last_round_ms >= MIN_ROUND_GAP_MS

    async def maybe_round(self, market: Market) -> bool:
        """One round if due and no other process is doing it; whether one was done."""
        if not await self.due(market):
            return False
        if not await self._store.lock_round(market, self._owner, max(self._period_ms, 1_000)):
            return False
        try:
            if not await self.due(market):  # another process finished one meanwhile
                return False
            await self._store.reconciler_alive(market, max(self._period_ms, ALIVE_MS))  # a long round is no lapse
            # At the entries' share: one round replaces every lookup of its symbols, so it must
            # go while the lookups' own share is spent, or the watches keep falling back to them.
            with calls_at(Priority.ENTRY):
                await self.round(market)
            return True
        finally:
            try:
                await self._store.unlock_round(market, self._owner)
            except REDIS_DOWN:
                pass  # it expires

    async def round(self, market: Market) -> None:
        started = now_ms()
        watched: dict[tuple[str, str], list[str]] = defaultdict(list)
        for kind, symbol, client_id in await self._store.watched(market, started):
            if kind == ORDER or (kind == ALGO and market is Market.USDM):
                watched[(kind, symbol)].append(client_id)
        kinds = {ORDER: self._orders(market), ALGO: self._algos()}
        at_once = asyncio.Semaphore(SYMBOLS_AT_ONCE)

        async def limited(kind: _Kind, symbol: str, ids: list[str]) -> int:
            async with at_once:
                return await self._symbol(kind, symbol, ids)

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(limited(kinds[kind], symbol, ids)) for (kind, symbol), ids in sorted(watched.items())]
        except ExceptionGroup as failed:  # the first failure stands for the round's
            raise failed.exceptions[0] from None
        lookups = sum(task.result() for task in tasks)
        await self._store.record_round(market, started, self._period_ms)
        log.info("mass reconcile round", extra={
            "market": market.value, "symbols": len({symbol for _, symbol in watched}),
            "orders": sum(map(len, watched.values())), "lookups": lookups})

    def _orders(self, market: Market) -> _Kind:
        async def ended(cid: str) -> bool:
            stored = await self._store.read_order(cid)
            return stored is not None and not stored.snapshot.is_open

        return _Kind(
            ORDER, LIST_COST[market], LOOKUP_COST[market],
            listing=lambda symbol: self._exchange.open_orders(market, symbol),
            lookup=lambda symbol, cid: self._exchange.find_order(market, symbol, cid),
            apply=self._store.apply_snapshot, client_id=lambda found: found.client_order_id, ended=ended,
        )

    def _algos(self) -> _Kind:
        async def ended(cid: str) -> bool:
            stored = await self._store.read_algo(cid)
            return stored is not None and not stored.is_open

        return _Kind(
            ALGO, ALGO_LIST_COST, ALGO_LOOKUP_COST, listing=self._exchange.open_algo_orders, lookup=self._exchange.find_algo,
            apply=self._store.apply_algo_snapshot, client_id=lambda found: found.client_algo_id, ended=ended,
        )

    async def _symbol(self, kind: _Kind, symbol: str, ids: list[str]) -> int:
        """Reconcile the watched orders of one symbol; how many were looked up one by one."""
        if len(ids) * kind.lookup_cost <= kind.list_cost:
            # Fewer orders than a list is worth: each is looked up, unless looked at within
            # half a period (it waits for the next round).
            return await self._look_up(kind, symbol, await self._unaccounted(kind, ids, now_ms() - self._period_ms // 2))
        asked = now_ms()
        opened = {kind.client_id(found): found for found in await kind.listing(symbol)}
        listed = [cid for cid in ids if cid in opened]
        await in_chunks(listed, lambda cid: kind.apply(opened[cid], asked))
        await self._store.record_looks(listed, asked)
        return await self._look_up(kind, symbol, await self._unaccounted(kind, [cid for cid in ids if cid not in opened], asked))

    async def _look_up(self, kind: _Kind, symbol: str, ids: list[str]) -> int:
        for cid in ids:
            looked = now_ms()
            found = await kind.lookup(symbol, cid)
            if found is not None:
                await kind.apply(found, looked)
            await self._store.record_look(cid, looked)
        return len(ids)

    async def _unaccounted(self, kind: _Kind, ids: list[str], since: int) -> list[str]:
        """Of ``ids``, the orders whose end the store does not hold and that nobody looked at
        since ``since`` (an order newer than a list is not in it because it is newer)."""
        looks = await self._store.last_looks(ids)
        return [cid for cid in ids if (looks[cid] or 0) < since and not await kind.ended(cid)]


@dataclass(frozen=True)
class _Kind:
    """How one kind of watched order (plain, or conditional) is listed, looked up and stored."""

    name: str
    list_cost: int
    lookup_cost: int
    listing: Callable[[str], Awaitable[list[Any]]]
    lookup: Callable[[str, str], Awaitable[Any | None]]
    apply: Callable[[Any, int], Awaitable[Any]]
    client_id: Callable[[Any], str]
    ended: Callable[[str], Awaitable[bool]]


async def in_chunks(ids: list[str], call: Callable[[str], Awaitable[Any]]) -> None:
    """``call`` each of ``ids``, :data:`MERGES_AT_ONCE` at a time (one Redis round trip each)."""
    for start in range(0, len(ids), MERGES_AT_ONCE):
        await asyncio.gather(*(call(cid) for cid in ids[start:start + MERGES_AT_ONCE]))
