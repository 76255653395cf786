"""One running paper exchange: engine, prices, faults, limits, credentials and persistence."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from paper_exchange.auth import Credentials
from paper_exchange.candles import CandleBook
from paper_exchange.config import PaperExchangeConfig
from paper_exchange.engine import Engine
from paper_exchange.faults import FaultBook
from paper_exchange.limits import RateLimiter
from paper_exchange.orders import SPOT, USDM
from paper_exchange.prices import PriceBook
from paper_exchange.store import Snapshot, Store
from paper_exchange.symbols import spec_for
from paper_exchange.user_stream import UserStreams

log = logging.getLogger("paper_exchange")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Deferred:
    """A request accepted now whose processing runs later (the ``execute_later`` fault)."""

    method: str
    path: str
    due_ms: int
    handle: asyncio.TimerHandle

    def describe(self) -> dict[str, object]:
        return {"method": self.method, "path": self.path, "due_ms": self.due_ms}


# How many Binance requests :attr:`PaperExchange.seen` remembers.
SEEN_KEPT = 20_000


@dataclass(frozen=True)
class SeenRequest:
    """One Binance request as the exchange took it in (``GET /_paper/requests`` lists them)."""

    at_ms: int
    method: str
    path: str
    weight: int
    status: int | None
    client_id: str | None
    symbol: str | None = None

    def describe(self) -> dict[str, object]:
        return {"at_ms": self.at_ms, "method": self.method, "path": self.path, "weight": self.weight,
                "status": self.status, "client_id": self.client_id, "symbol": self.symbol}


class PaperExchange:
    """Everything the HTTP layer acts on; state changes are persisted by :meth:`commit`.

    Attributes:
        clock_offset_ms: added to the host clock to make the exchange's clock (runtime config).
        deferred: requests accepted now and processed later, in the order they were accepted.
        seen: the last SEEN_KEPT Binance requests, oldest first: when each arrived (exchange
            clock), the weight it was charged (0 when a fault answered before the limits)
            and its answer's status (``None`` when no answer was sent).
    """

    def __init__(self, config: PaperExchangeConfig) -> None:
        self.config = config
        self.clock_offset_ms = 0
        self.deferred: list[Deferred] = []
        self.seen: deque[SeenRequest] = deque(maxlen=SEEN_KEPT)
        self.specs = {symbol: spec_for(symbol) for symbol in config.symbols}
        self.prices = PriceBook(
            {s: spec.start_price for s, spec in self.specs.items()},
            {s: spec.spot.tick_size for s, spec in self.specs.items()},
            config.seed,
            config.walk_volatility,
        )
        self.candles = CandleBook()
        self._observe_prices(list(self.specs))
        self.engine = Engine(config, self.specs, self.prices, self.clock)
        self.faults = FaultBook(config.seed)
        self.streams = UserStreams(self.clock, self.faults)
        self.engine.listener = self.streams.publish
        # Binance counts spot (api.binance.com, with its WebSocket API) and USDⓈ-M futures
        # (fapi.binance.com) request weight and orders apart, each against its own limits.
        self.limiters = {market: RateLimiter(config.weight_limit, config.order_limit_10s) for market in (SPOT, USDM)}
        self.credentials = Credentials(config.api_key, config.api_secret)
        self.store = Store(config.state_file) if config.state_file else None
        self._prices_dirty = False
        if self.store is not None:
            snapshot = self.store.load()
            if snapshot is not None:
                self._restore(snapshot)
                log.info("state restored", extra={
                    "file": config.state_file, "orders": len(snapshot.orders), "algo_orders": len(snapshot.algos),
                    "trades": len(snapshot.trades),
                })
            else:
                self.commit()

    def clock(self) -> int:
        """The exchange's clock in ms: the host clock plus the configured offset."""
        return now_ms() + self.clock_offset_ms

    def defer(self, method: str, path: str, delay_ms: int, action: Callable[[], None]) -> None:
        """Run ``action`` ``delay_ms`` from now on the running event loop, unless reset first."""

        def run() -> None:
            self.deferred = [d for d in self.deferred if d.handle is not handle]
            action()

        handle = asyncio.get_running_loop().call_later(delay_ms / 1000, run)
        self.deferred.append(Deferred(method, path, self.clock() + delay_ms, handle))

    def _drop_deferred(self) -> None:
        for item in self.deferred:
            item.handle.cancel()
        self.deferred = []

    def _restore(self, snapshot: Snapshot) -> None:
        engine = self.engine
        engine.restore(snapshot.orders, snapshot.algos, snapshot.trades, snapshot.meta.get("next_ids", {}))
        engine.balances.assets.update(snapshot.balances)
        for symbol, position in snapshot.positions.items():
            if symbol in engine.futures.positions:
                engine.futures.positions[symbol] = position
        if "futures_wallet" in snapshot.meta:
            engine.futures.wallet = Decimal(snapshot.meta["futures_wallet"])
        for symbol, price in snapshot.meta.get("held_prices", {}).items():
            if symbol in self.prices.prices:
                self.prices.set(symbol, Decimal(price), hold=True)
        self._observe_prices(list(self.specs))
        engine.balances.dirty = set()
        engine.futures.dirty = set()
        engine.futures.wallet_dirty = False
        engine.ids_dirty = False

    def commit(self) -> None:
        """Persist whatever changed since the last commit (no-op without a state file)."""
        if self.store is None:
            self.engine.drain()
            return
        held = None
        if self._prices_dirty:
            held = {s: str(self.prices[s]) for s in sorted(self.prices.held)}
            self._prices_dirty = False
        self.store.flush(self.engine, held)

    def _observe_prices(self, symbols: list[str]) -> None:
        now = self.clock()
        for symbol in symbols:
            self.candles.observe(symbol, self.prices[symbol], now)

    def set_price(self, symbol: str, price: Decimal, hold: bool) -> int:
        """Set a price (held unless ``hold`` is false) and run one matching pass at once."""
        self.prices.set(symbol, price, hold)
        self._observe_prices([symbol])
        self._prices_dirty = True
        fills = self.engine.match(symbol)
        self.commit()
        return fills

    def tick(self) -> int:
        """One walk step for symbols that are not held, each followed by its matching pass."""
        fills = 0
        moved = self.prices.step()
        self._observe_prices(moved)
        for symbol in moved:
            fills += self.engine.match(symbol)
        if fills:
            self.commit()
        return fills

    def reset(self) -> None:
        """Back to the start: orders, balances, positions, prices, faults, runtime config.

        Deferred requests are forgotten: they never run. Stream connections are cut and
        the futures listenKey is forgotten.
        """
        self._drop_deferred()
        self.seen.clear()
        self.clock_offset_ms = 0
        self.engine.reset()
        self.prices.reset()
        self.candles.reset()
        self._observe_prices(list(self.specs))
        self.faults.reset()
        self.streams.reset()
        for limiter in self.limiters.values():
            limiter.reset(self.config.weight_limit, self.config.order_limit_10s)
        self._prices_dirty = True
        if self.store is not None:
            self.store.clear()
        self.commit()

    def close(self) -> None:
        self._drop_deferred()
        if self.store is not None:
            self.commit()
            self.store.close()
