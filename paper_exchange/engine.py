"""The matching engine: orders, fills, balances and positions. Pure state, no HTTP, no I/O.

Matching model (kept simple and deterministic):

- A MARKET order, or a LIMIT order that crosses when placed, fills at once at the current
  price (plus the configured spread), as a taker.
- A resting LIMIT order fills at its own price during a *matching pass* when the current
  price crosses it. A pass runs for a symbol each time its price moves (walk tick) or is
  set through the admin API.
- A liquidity cap per symbol limits the quantity one order fills per pass, which yields
  partial fills. MARKET, IOC and the rest of a capped FOK expire instead of resting.
- Commissions are charged in the quote asset (USDT) on both markets, for simplicity.
- Futures use one-way mode: one signed position per symbol and a USDT wallet.

Every change an account's user data stream reports (an order accepted, traded, cancelled
or expired; a conditional order placed, triggered or finished; the balances or position
it moved) is handed to ``listener`` as an :mod:`paper_exchange.events` record, in exchange order.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from paper_exchange import errors, events
from paper_exchange.accounts import FuturesAccount, SpotBalances
from paper_exchange.config import PaperExchangeConfig
from paper_exchange.decimals import EIGHT_PLACES, ZERO, floor_to_step
from paper_exchange.errors import ApiError
from paper_exchange.events import StreamEvent
from paper_exchange.orders import SPOT, USDM, AlgoOrder, AlgoStatus, Order, Status, Trade
from paper_exchange.prices import PriceBook
from paper_exchange.symbols import MarketRules, SymbolSpec, require_symbol

ALL_SYMBOLS = "*"
ID_COUNTERS = ("spot_order", "usdm_order", "algo", "spot_trade", "usdm_trade")


@dataclass(frozen=True)
class OrderRequest:
    """A validated new-order request (spot or futures)."""

    market: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    quantity: Decimal | None
    price: Decimal | None
    client_order_id: str
    quote_order_qty: Decimal | None = None
    reduce_only: bool = False


@dataclass(frozen=True)
class AlgoRequest:
    """A validated conditional (algo) order: STOP_MARKET or TAKE_PROFIT_MARKET."""

    symbol: str
    side: str
    order_type: str
    quantity: Decimal | None
    trigger_price: Decimal
    close_position: bool
    reduce_only: bool
    working_type: str
    client_algo_id: str


def new_client_id() -> str:
    return "paper" + uuid.uuid4().hex[:17]


def _ignore(event: StreamEvent) -> None:
    """The listener of an engine nobody streams from."""


class Engine:
    """All exchange state and the operations on it. Callers persist what ``drain()`` returns."""

    def __init__(
        self, config: PaperExchangeConfig, specs: dict[str, SymbolSpec], prices: PriceBook, clock: Callable[[], int]
    ) -> None:
        self.config = config
        self.specs = specs
        self.prices = prices
        self.clock = clock
        self.listener: Callable[[StreamEvent], None] = _ignore
        self.reset()

    # ---- lifecycle -------------------------------------------------------------------

    def reset(self) -> None:
        config = self.config
        self.orders: dict[str, dict[int, Order]] = {SPOT: {}, USDM: {}}
        self.client_ids: dict[tuple[str, str, str], int] = {}
        self.open_ids: dict[tuple[str, str], dict[int, None]] = {}
        self.trades: dict[tuple[str, int], list[Trade]] = {}
        self.algos: dict[int, AlgoOrder] = {}
        self.algo_client_ids: dict[tuple[str, str], int] = {}
        self.open_algos: dict[str, dict[int, None]] = {}
        self.next_ids = {name: 1 for name in ID_COUNTERS}
        start = {spec.base: config.base_balance for spec in self.specs.values()}
        start.update(dict(config.spot_balances))
        self.balances = SpotBalances(start)
        self.futures = FuturesAccount(config.futures_wallet, tuple(self.specs), config.default_leverage)
        self.liquidity: dict[str, Decimal] = {}
        self.fees = {SPOT: config.spot_fee, USDM: config.futures_fee}
        self.spread = config.spread
        self.dirty_orders: set[tuple[str, int]] = set()
        self.dirty_algos: set[int] = set()
        self.new_trades: list[Trade] = []
        self.ids_dirty = True

    def restore(
        self,
        orders: list[Order],
        algos: list[AlgoOrder],
        trades: list[Trade],
        next_ids: dict[str, int],
    ) -> None:
        """Rebuild indexes from persisted records (balances/positions are set by the caller)."""
        for order in sorted(orders, key=lambda o: (o.market, o.order_id)):
            self._index(order)
        for algo in sorted(algos, key=lambda a: a.algo_id):
            self.algos[algo.algo_id] = algo
            self.algo_client_ids[(algo.symbol, algo.client_algo_id)] = algo.algo_id
            if algo.is_open:
                self.open_algos.setdefault(algo.symbol, {})[algo.algo_id] = None
        for trade in sorted(trades, key=lambda t: (t.market, t.trade_id)):
            self.trades.setdefault((trade.market, trade.order_id), []).append(trade)
        self.next_ids.update(next_ids)

    def drain(self) -> tuple[list[Order], list[AlgoOrder], list[Trade]]:
        """Changed orders, changed algo orders and new trades since the last call."""
        orders = [self.orders[m][i] for m, i in self.dirty_orders]
        algos = [self.algos[i] for i in self.dirty_algos]
        trades = self.new_trades
        self.dirty_orders = set()
        self.dirty_algos = set()
        self.new_trades = []
        return orders, algos, trades

    # ---- queries ---------------------------------------------------------------------

    def spec(self, symbol: str) -> SymbolSpec:
        return require_symbol(self.specs, symbol)

    def rules(self, market: str, symbol: str) -> MarketRules:
        spec = self.spec(symbol)
        return spec.spot if market == SPOT else spec.futures

    def find_order(self, market: str, symbol: str, order_id: int | None, client_id: str | None) -> Order | None:
        if order_id is not None:
            order = self.orders[market].get(order_id)
            return order if order is not None and order.symbol == symbol else None
        if client_id:
            found = self.client_ids.get((market, symbol, client_id))
            return self.orders[market][found] if found is not None else None
        return None

    def get_order(self, market: str, symbol: str, order_id: int | None, client_id: str | None) -> Order:
        self.spec(symbol)
        order = self.find_order(market, symbol, order_id, client_id)
        if order is None:
            raise errors.no_such_order()
        return order

    def open_orders(self, market: str, symbol: str | None) -> list[Order]:
        if symbol is not None:
            self.spec(symbol)
        found = [
            self.orders[market][order_id]
            for (m, s), ids in self.open_ids.items()
            if m == market and (symbol is None or s == symbol)
            for order_id in ids
        ]
        return sorted(found, key=lambda o: o.order_id)

    def order_trades(self, market: str, order_id: int) -> list[Trade]:
        return self.trades.get((market, order_id), [])

    def symbol_trades(self, market: str, symbol: str, order_id: int | None) -> list[Trade]:
        self.spec(symbol)
        if order_id is not None:
            return [t for t in self.order_trades(market, order_id) if t.symbol == symbol]
        found = [
            trade
            for (m, _), trades in self.trades.items()
            if m == market
            for trade in trades
            if trade.symbol == symbol
        ]
        return sorted(found, key=lambda t: t.trade_id)

    def find_algo(self, algo_id: int | None, client_algo_id: str | None, symbol: str | None) -> AlgoOrder | None:
        if algo_id is not None:
            return self.algos.get(algo_id)
        if client_algo_id:
            if symbol:
                found = self.algo_client_ids.get((symbol, client_algo_id))
                return self.algos[found] if found is not None else None
            matches = [a for a in self.algos.values() if a.client_algo_id == client_algo_id]
            return max(matches, key=lambda a: a.algo_id) if matches else None
        return None

    def open_algo_orders(self, symbol: str | None) -> list[AlgoOrder]:
        found = [self.algos[i] for s, ids in self.open_algos.items() if symbol is None or s == symbol for i in ids]
        return sorted(found, key=lambda a: a.algo_id)

    def cap(self, symbol: str) -> Decimal | None:
        return self.liquidity.get(symbol, self.liquidity.get(ALL_SYMBOLS))

    def marks(self) -> dict[str, Decimal]:
        return self.prices.prices

    # ---- placing and cancelling ------------------------------------------------------

    def place(self, request: OrderRequest) -> tuple[Order, list[Trade]]:
        """Validate, accept and take liquidity for a new order; return it and its fills."""
        spec, fill_price, quantity = self.validate(request)
        key = (request.market, request.symbol, request.client_order_id)
        existing = self.client_ids.get(key)
        if existing is not None and self.orders[request.market][existing].is_open:
            raise errors.duplicate_order() if request.market == SPOT else errors.futures_duplicate_order()
        now = self.clock()
        order = Order(
            market=request.market,
            order_id=0,
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            type=request.type,
            time_in_force=request.time_in_force,
            orig_qty=quantity,
            price=request.price if request.price is not None else ZERO,
            status=Status.NEW,
            time=now,
            update_time=now,
            quote_order_qty=request.quote_order_qty or ZERO,
            reduce_only=request.reduce_only,
            orig_type=request.type,
        )
        if request.market == SPOT:
            self._reserve_spot(order, spec, fill_price)
        else:
            self._check_futures(order, fill_price)
        order.order_id = self._next_id(f"{request.market}_order")
        self._index(order)
        self._touch(order)
        self._report(order, events.NEW)
        trades = self._take(order, fill_price)
        return order, trades

    def validate(self, request: OrderRequest) -> tuple[SymbolSpec, Decimal, Decimal]:
        """Filter checks of a new order (what ``order/test`` runs): spec, taker price, quantity."""
        spec = self.spec(request.symbol)
        rules = spec.spot if request.market == SPOT else spec.futures
        fill_price = self._taker_price(request.symbol, request.side)
        quantity = self._quantity(request, rules, fill_price)
        skip_notional = request.market == USDM and request.reduce_only
        rules.check(quantity, request.price, fill_price, check_notional=not skip_notional)
        crossing = request.price is not None and self._crosses(request.side, request.price, fill_price)
        if request.type == "LIMIT_MAKER" and crossing:
            raise ApiError(errors.REJECTED, "Order would immediately match and take.")
        return spec, fill_price, quantity

    def cancel(
        self, market: str, symbol: str, order_id: int | None, client_id: str | None, cancel_client_id: str = ""
    ) -> Order:
        self.spec(symbol)
        order = self.find_order(market, symbol, order_id, client_id)
        if order is None or not order.is_open:
            raise errors.unknown_order()
        self._close(order, Status.CANCELED, cancel_client_id)
        return order

    def place_algo(self, request: AlgoRequest) -> AlgoOrder:
        spec = self.spec(request.symbol)
        rules = spec.futures
        existing = self.algo_client_ids.get((request.symbol, request.client_algo_id))
        if existing is not None and self.algos[existing].is_open:
            raise errors.futures_duplicate_order()
        mark = self.prices[request.symbol]
        quantity = request.quantity if request.quantity is not None else ZERO
        rules.check_price(request.trigger_price)
        if not request.close_position:
            rules.check(quantity, None, request.trigger_price, check_notional=not request.reduce_only)
        now = self.clock()
        algo = AlgoOrder(
            algo_id=0,
            client_algo_id=request.client_algo_id,
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            quantity=quantity,
            trigger_price=request.trigger_price,
            close_position=request.close_position,
            reduce_only=request.reduce_only or request.close_position,
            working_type=request.working_type,
            status=AlgoStatus.NEW,
            create_time=now,
            update_time=now,
        )
        if algo.triggered_by(mark):
            raise ApiError(errors.WOULD_TRIGGER, "Order would immediately trigger.")
        algo.algo_id = self._next_id("algo")
        self.algos[algo.algo_id] = algo
        self.algo_client_ids[(algo.symbol, algo.client_algo_id)] = algo.algo_id
        self.open_algos.setdefault(algo.symbol, {})[algo.algo_id] = None
        self.dirty_algos.add(algo.algo_id)
        self._report_algo(algo, events.NEW)
        return algo

    def cancel_algo(self, algo_id: int | None, client_algo_id: str | None, symbol: str | None) -> AlgoOrder:
        algo = self.find_algo(algo_id, client_algo_id, symbol)
        if algo is None or not algo.is_open:
            raise errors.unknown_order()
        self._finish_algo(algo, AlgoStatus.CANCELED)
        return algo

    def set_leverage(self, symbol: str, leverage: int) -> None:
        self.spec(symbol)
        if not 1 <= leverage <= 125:
            raise ApiError(errors.BAD_LEVERAGE, f"Leverage {leverage} is not valid")
        position = self.futures.position(symbol)
        position.leverage = leverage
        self.futures.dirty.add(symbol)

    # ---- matching --------------------------------------------------------------------

    def match(self, symbol: str) -> int:
        """One matching pass for ``symbol``: resting LIMITs that cross fill, algo orders trigger."""
        fills = 0
        price = self.prices[symbol]
        for market in (SPOT, USDM):
            for order_id in list(self.open_ids.get((market, symbol), {})):
                order = self.orders[market][order_id]
                if self._crosses(order.side, order.price, price):
                    fills += len(self._fill_capped(order, order.price, maker=True))
        for algo_id in list(self.open_algos.get(symbol, {})):
            algo = self.algos[algo_id]
            if algo.triggered_by(price):
                fills += self._trigger(algo)
        return fills

    # ---- internals -------------------------------------------------------------------

    def _next_id(self, counter: str) -> int:
        value = self.next_ids[counter]
        self.next_ids[counter] = value + 1
        self.ids_dirty = True
        return value

    def _index(self, order: Order) -> None:
        self.orders[order.market][order.order_id] = order
        self.client_ids[(order.market, order.symbol, order.client_order_id)] = order.order_id
        if order.is_open:
            self.open_ids.setdefault((order.market, order.symbol), {})[order.order_id] = None

    def _touch(self, order: Order) -> None:
        self.dirty_orders.add((order.market, order.order_id))

    def _taker_price(self, symbol: str, side: str) -> Decimal:
        price = self.prices[symbol]
        if not self.spread:
            return price
        tick = self.specs[symbol].spot.tick_size
        adjusted = price * (1 + self.spread) if side == "BUY" else price * (1 - self.spread)
        return max(floor_to_step(adjusted, tick), tick)

    @staticmethod
    def _crosses(side: str, limit: Decimal, price: Decimal) -> bool:
        return price <= limit if side == "BUY" else price >= limit

    def _quantity(self, request: OrderRequest, rules: MarketRules, fill_price: Decimal) -> Decimal:
        if request.quantity is not None:
            return request.quantity
        assert request.quote_order_qty is not None
        return floor_to_step(request.quote_order_qty / fill_price, rules.step_size)

    def _fee(self, market: str, quote: Decimal) -> Decimal:
        return (quote * self.fees[market]).quantize(EIGHT_PLACES)

    def _reserve_spot(self, order: Order, spec: SymbolSpec, fill_price: Decimal) -> None:
        fee_rate = self.fees[SPOT]
        if order.type == "MARKET":
            if order.side == "BUY":
                self.balances.require_free(spec.quote, order.orig_qty * fill_price * (1 + fee_rate))
            else:
                self.balances.require_free(spec.base, order.orig_qty)
            return
        if order.side == "BUY":
            order.lock_asset, amount = spec.quote, order.orig_qty * order.price * (1 + fee_rate)
        else:
            order.lock_asset, amount = spec.base, order.orig_qty
        self.balances.lock(order.lock_asset, amount)
        order.lock_total = order.lock_left = amount

    def _check_futures(self, order: Order, fill_price: Decimal) -> None:
        position = self.futures.position(order.symbol)
        signed = order.orig_qty if order.side == "BUY" else -order.orig_qty
        opposite = position.amount != 0 and (position.amount > 0) != (signed > 0)
        if order.reduce_only:
            if not opposite:
                raise ApiError(errors.REDUCE_ONLY_REJECTED, "ReduceOnly Order is rejected.")
            return
        increase = order.orig_qty - abs(position.amount) if opposite else order.orig_qty
        if increase <= 0:
            return
        reference = order.price if order.type != "MARKET" and order.price else fill_price
        required = increase * reference / position.leverage + self._fee(USDM, increase * reference)
        if self.futures.available(self.marks()) < required:
            raise ApiError(errors.MARGIN_INSUFFICIENT, "Margin is insufficient.")

    def _take(self, order: Order, fill_price: Decimal) -> list[Trade]:
        """Taker step right after acceptance: fill what crosses, then rest or expire the rest."""
        crosses = order.type == "MARKET" or self._crosses(order.side, order.price, fill_price)
        trades: list[Trade] = []
        if order.time_in_force == "FOK":
            cap = self.cap(order.symbol)
            if not crosses or (cap is not None and cap < order.orig_qty):
                self._close(order, Status.EXPIRED)
                return trades
        if crosses:
            trades = self._fill_capped(order, fill_price, maker=False)
        if order.is_open and (order.type == "MARKET" or order.time_in_force in ("IOC", "FOK")):
            self._close(order, Status.EXPIRED)
        return trades

    def _fill_capped(self, order: Order, price: Decimal, maker: bool) -> list[Trade]:
        quantity = order.remaining
        cap = self.cap(order.symbol)
        if cap is not None:
            quantity = min(quantity, cap)
        if order.market == USDM and order.reduce_only:
            position = self.futures.position(order.symbol).amount
            closing = position < 0 if order.side == "BUY" else position > 0
            quantity = min(quantity, abs(position)) if closing else ZERO
        if quantity <= 0:
            return []
        return [self._execute(order, quantity, price, maker)]

    def _execute(self, order: Order, quantity: Decimal, price: Decimal, maker: bool) -> Trade:
        now = self.clock()
        quote = quantity * price
        fee = self._fee(order.market, quote)
        realized = ZERO
        if order.market == SPOT:
            self._settle_spot(order, quantity, quote, fee)
        else:
            position = self.futures.position(order.symbol)
            realized = position.apply_fill(quantity if order.side == "BUY" else -quantity, price, now)
            self.futures.charge(fee - realized)
            self.futures.dirty.add(order.symbol)
        order.executed_qty += quantity
        order.cum_quote += quote
        order.commission += fee
        order.move_to(Status.FILLED if order.remaining == 0 else Status.PARTIALLY_FILLED, now)
        if not order.is_open:
            self._release_lock(order)
            self.open_ids.get((order.market, order.symbol), {}).pop(order.order_id, None)
        self._touch(order)
        trade = Trade(
            market=order.market,
            trade_id=self._next_id(f"{order.market}_trade"),
            order_id=order.order_id,
            symbol=order.symbol,
            side=order.side,
            price=price,
            qty=quantity,
            quote_qty=quote,
            commission=fee,
            commission_asset=self.specs[order.symbol].quote,
            time=now,
            maker=maker,
            realized_pnl=realized,
        )
        self.trades.setdefault((order.market, order.order_id), []).append(trade)
        self.new_trades.append(trade)
        self._report(order, events.TRADE, trade)
        return trade

    def _settle_spot(self, order: Order, quantity: Decimal, quote: Decimal, fee: Decimal) -> None:
        spec = self.specs[order.symbol]
        balances = self.balances
        if order.side == "BUY":
            if order.lock_asset:
                last = quantity == order.remaining
                release = order.lock_left if last else order.lock_total * quantity / order.orig_qty
                order.lock_left -= release
                balances.take_locked(spec.quote, release)
                balances.add_free(spec.quote, release - quote - fee)
            else:
                balances.add_free(spec.quote, -(quote + fee))
            balances.add_free(spec.base, quantity)
        else:
            if order.lock_asset:
                order.lock_left -= quantity
                balances.take_locked(spec.base, quantity)
            else:
                balances.add_free(spec.base, -quantity)
            balances.add_free(spec.quote, quote - fee)

    def _release_lock(self, order: Order) -> None:
        if order.lock_asset and order.lock_left:
            self.balances.unlock(order.lock_asset, order.lock_left)
            order.lock_left = ZERO

    def _close(self, order: Order, status: Status, cancel_client_id: str = "") -> None:
        order.move_to(status, self.clock())
        self._release_lock(order)
        self.open_ids.get((order.market, order.symbol), {}).pop(order.order_id, None)
        self._touch(order)
        self._report(order, str(status), cancel_client_id=cancel_client_id)

    def _trigger(self, algo: AlgoOrder) -> int:
        position = self.futures.position(algo.symbol).amount
        closing = position < 0 if algo.side == "BUY" else position > 0
        if algo.close_position or algo.reduce_only:
            limit = abs(position) if closing else ZERO
            quantity = limit if algo.close_position else min(algo.quantity, limit)
        else:
            quantity = algo.quantity
        algo.trigger_time = self.clock()
        self._report_algo(algo, events.TRIGGERING)
        if quantity <= 0:
            self._finish_algo(algo, AlgoStatus.EXPIRED)
            return 0
        now = algo.trigger_time
        order = Order(
            market=USDM,
            order_id=self._next_id("usdm_order"),
            client_order_id=algo.client_algo_id,
            symbol=algo.symbol,
            side=algo.side,
            type="MARKET",
            time_in_force="GTC",
            orig_qty=quantity,
            price=ZERO,
            status=Status.NEW,
            time=now,
            update_time=now,
            reduce_only=algo.reduce_only,
            close_position=algo.close_position,
            orig_type=algo.order_type,
            stop_price=algo.trigger_price,
            algo_id=algo.algo_id,
        )
        self._index(order)
        self._touch(order)
        self._report(order, events.NEW)
        algo.actual_order_id = order.order_id
        self._report_algo(algo, events.TRIGGERED)
        trades = self._take(order, self._taker_price(algo.symbol, algo.side))
        algo.actual_price = order.avg_price
        self._finish_algo(algo, AlgoStatus.FINISHED)
        return len(trades)

    def _finish_algo(self, algo: AlgoOrder, status: AlgoStatus) -> None:
        algo.status = status
        algo.update_time = self.clock()
        self.open_algos.get(algo.symbol, {}).pop(algo.algo_id, None)
        self.dirty_algos.add(algo.algo_id)
        self._report_algo(algo, str(status))

    # ---- stream reports --------------------------------------------------------------

    def _report(self, order: Order, execution: str, trade: Trade | None = None, cancel_client_id: str = "") -> None:
        """Tell the listener about an order event and the balances or position it moved."""
        when = trade.time if trade is not None else order.update_time
        self.listener(events.OrderEvent(dataclasses.replace(order), execution, when, trade, cancel_client_id))
        if order.market == SPOT:
            spec = self.specs[order.symbol]
            assets = tuple((a, self.balances.get(a).free, self.balances.get(a).locked) for a in (spec.base, spec.quote))
            self.listener(events.SpotBalanceEvent(assets, when))
        elif trade is not None:
            position = dataclasses.replace(self.futures.position(order.symbol))
            self.listener(events.FuturesAccountEvent(self.futures.wallet, position, self.prices[order.symbol], when))

    def _report_algo(self, algo: AlgoOrder, status: str) -> None:
        order = self.orders[USDM].get(algo.actual_order_id) if algo.actual_order_id else None
        filled, average = (order.executed_qty, order.avg_price) if order is not None else (ZERO, ZERO)
        self.listener(events.AlgoEvent(dataclasses.replace(algo), status, self.clock(), filled, average))
