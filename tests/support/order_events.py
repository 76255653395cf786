"""Helpers for tests of the order events listener and the watch that reads its store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from activities.exchange.order_events import MarketHealth, OrderEventStore, StoredOrder
from paper_exchange.admin_client import PaperAdmin
from quantum_trader.settings import Settings
from tests.support.eventually import eventually
from tests.support.processes import Proc
from tests.support.stack import listener_proc

LOOKUP = "/api/v3/order"
OPEN_ORDERS = "/api/v3/openOrders"
COUNTING = 1_000_000


def listener_settings(settings: Settings, **overrides: Any) -> Settings:
    """Quick health refreshes and reconnects, so tests see them within seconds."""
    values: dict[str, Any] = {
        "exchange_events_refresh_seconds": 1.0,
        "exchange_events_backoff_initial_seconds": 0.2,
        "exchange_events_backoff_max_seconds": 2.0,
        "stream_silence_seconds": 10.0,
    }
    values.update(overrides)
    return settings.model_copy(update=values)


def start_listener(home: Path, settings: Settings, name: str = "exchange-events") -> Proc:
    return listener_proc(home, listener_settings(settings), name).start()


async def connected(store: OrderEventStore, market: str, after_ms: int = 0, timeout: float = 30, listeners: int = 1) -> MarketHealth:
    """The market's stream health once a listener (re)connected after ``after_ms`` and at least
    ``listeners`` are connected."""

    async def probe() -> MarketHealth | None:
        health = await store.read_health(market)
        if health is None or health.newest_connect_ms <= after_ms:
            return None
        return health if sum(h.connected for h in health.listeners) >= listeners else None

    return await eventually(probe, timeout=timeout, what=f"{listeners} {market} stream(s) connected after {after_ms}")


async def stored(store: OrderEventStore, cid: str, done: Any, timeout: float = 30) -> StoredOrder:
    """The stored order once ``done(stored)`` holds."""

    async def probe() -> StoredOrder | None:
        found = await store.read_order(cid)
        return found if found is not None and done(found) else None

    return await eventually(probe, timeout=timeout, what=f"{cid} in the store")


class LookupCounter:
    """Counts the exchange's lookups (``GET`` of ``path``, by default ``/api/v3/order``) of the
    orders named by ``ids`` since :meth:`arm`, from the exchange's own request record: other
    tests' workflows on the same exchange (a protection still watching) are not counted."""

    def __init__(self, paper: PaperAdmin, path: str = LOOKUP, ids: Iterable[str] = ()) -> None:
        self._paper, self._path, self._ids = paper, path, set(ids)
        self._since: int | None = None

    def watch(self, *ids: str) -> None:
        """Count the lookups of these client order (or algo) IDs too."""
        self._ids.update(ids)

    async def arm(self) -> None:
        self._since = await self._paper.server_time()

    @property
    def since(self) -> int:
        """When :meth:`arm` was called (exchange ms)."""
        assert self._since is not None, "arm() first"
        return self._since

    async def count(self) -> int:
        assert self._since is not None, "arm() first"
        return sum(1 for r in await self._paper.requests(self._since)
                   if r["method"] == "GET" and r["path"] == self._path and r["client_id"] in self._ids)

    async def per_symbol(self, path: str, symbol: str) -> int:
        """``GET`` requests of ``path`` naming ``symbol`` since :meth:`arm` (an open-orders list)."""
        assert self._since is not None, "arm() first"
        return sum(1 for r in await self._paper.requests(self._since)
                   if r["method"] == "GET" and r["path"] == path and r.get("symbol") == symbol)

    async def exchange_seconds_passed(self, seconds: float) -> None:
        """Wait (polling the exchange's clock) until ``seconds`` of exchange time passed since :meth:`arm`."""
        assert self._since is not None, "arm() first"
        await exchange_time_reached(self._paper, self._since + int(seconds * 1000))


async def exchange_time_reached(paper: PaperAdmin, until_ms: int) -> None:
    """Wait (polling the exchange's clock) until it reads ``until_ms``."""
    seconds = max(until_ms - await paper.server_time(), 0) / 1000

    async def passed() -> bool:
        return await paper.server_time() >= until_ms

    await eventually(passed, timeout=seconds + 30, what=f"{seconds:.1f} s of exchange time")


def store_of(redis: Redis) -> OrderEventStore:
    return OrderEventStore(redis)
