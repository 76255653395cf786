"""Market data derived from the exchange's own prices: 24-hour tickers, book tickers, order
books and klines, for spot (``/api/v3``) and USDⓈ-M futures (``/fapi/v1``).

- **Prices** are the walk's (or the admin's) last price per symbol, which is also the mark
  price; history comes from :mod:`paper_exchange.candles` (a day of one-minute candles,
  from the exchange's start or last reset).
- **The book** is what an order would meet: the best ask is what a MARKET buy pays and the
  best bid what a MARKET sell receives (the last price, moved by ``spread`` when one is
  configured; so without a spread the book is locked at the last price). Deeper levels step
  one tick away. Each level shows the liquidity cap of the symbol (``liquidity`` config) or,
  without one, the LOT_SIZE ``maxQty``: what one order can fill at once.
- **Volumes and trade counts** are the account's own trades on that market (the paper
  exchange has no other traders); ``firstId``/``lastId`` are -1 when there were none.
- **Weights** are Binance's for each endpoint and parameter set (the ``weigh_*`` functions).
"""

from __future__ import annotations

import json
from decimal import ROUND_CEILING, Decimal
from typing import Any

from paper_exchange import candles, errors
from paper_exchange.candles import Candle
from paper_exchange.decimals import ZERO, floor_to_step, fmt, fmt8
from paper_exchange.errors import ApiError
from paper_exchange.orders import SPOT, USDM, Trade
from paper_exchange.params import Params
from paper_exchange.routing import Weigh
from paper_exchange.state import PaperExchange

SYMBOLS_LEGAL = r'^\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\]$'
TICKER_TYPES = ("FULL", "MINI")
SPOT_DEPTH_DEFAULT, SPOT_DEPTH_MAX = 100, 5000
FUTURES_DEPTH_DEFAULT, FUTURES_DEPTH_MAX = 500, 1000
KLINES_DEFAULT = 500
KLINES_MAX = {SPOT: 1000, USDM: 1500}


# ---- weights (Binance's, by parameter) ------------------------------------------------------


def _count_symbols(p: Params) -> int | None:
    """How many symbols a request names (``symbol`` 1, ``symbols`` its length), ``None`` for all."""
    if p.get("symbol"):
        return 1
    raw = p.get("symbols")
    if raw is None:
        return None
    try:
        names = json.loads(raw)
    except ValueError:
        return None
    return len(names) if isinstance(names, list) else None


def _limit(p: Params, default: int) -> int:
    raw = p.get("limit")
    return int(raw) if raw is not None and raw.isdigit() else default


def weigh_spot_ticker_24hr(p: Params) -> int:
    count = _count_symbols(p)
    if count is None:
        return 80
    return 2 if count <= 20 else 40 if count <= 100 else 80


def weigh_spot_book_ticker(p: Params) -> int:
    """Also ``ticker/price``: 2 for one symbol, 4 otherwise."""
    return 2 if p.get("symbol") else 4


def weigh_spot_depth(p: Params) -> int:
    limit = _limit(p, SPOT_DEPTH_DEFAULT)
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def weigh_futures_depth(p: Params) -> int:
    limit = _limit(p, FUTURES_DEPTH_DEFAULT)
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


def weigh_futures_klines(p: Params) -> int:
    limit = _limit(p, KLINES_DEFAULT)
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def weigh_by_symbol(with_symbol: int, without: int) -> Weigh:
    """The weight of an endpoint that costs ``with_symbol`` for one symbol, ``without`` for all."""
    return lambda p: with_symbol if p.get("symbol") else without


# ---- parameters -----------------------------------------------------------------------------


def symbols_of(ex: PaperExchange, p: Params, allow_list: bool = True) -> tuple[list[str], bool]:
    """The symbols asked for and whether one object (``symbol``) rather than a list is answered."""
    symbol, raw = p.get("symbol"), p.get("symbols") if allow_list else None
    if symbol is not None and raw is not None:
        raise ApiError(errors.OPTIONAL_PARAMS_BAD_COMBO, "Combination of optional parameters invalid.")
    if symbol is not None:
        ex.engine.spec(symbol.upper())
        return [symbol.upper()], True
    if raw is None:
        return list(ex.specs), False
    try:
        names = json.loads(raw)
    except ValueError:
        names = None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise errors.illegal("symbols", SYMBOLS_LEGAL)
    for name in names:
        ex.engine.spec(name)
    return list(dict.fromkeys(names)), False


def _bounded(p: Params, name: str, default: int, maximum: int) -> int:
    value = p.integer(name)
    if value is None:
        return default
    if value < 1:
        raise errors.illegal(name, "^[0-9]{1,20}$")
    return min(value, maximum)


# ---- the book -------------------------------------------------------------------------------


def _tick(ex: PaperExchange, market: str, symbol: str) -> Decimal:
    return ex.engine.rules(market, symbol).tick_size


def best_prices(ex: PaperExchange, market: str, symbol: str) -> tuple[Decimal, Decimal]:
    """``(bid, ask)``: what a MARKET sell receives and a MARKET buy pays now, on the market's
    tick (futures ticks can be coarser than the shared price's)."""
    price = ex.prices[symbol]
    spread = ex.engine.spread
    tick = _tick(ex, market, symbol)
    bid = max(floor_to_step(price * (1 - spread), tick), tick)
    ask = (price * (1 + spread) / tick).to_integral_value(rounding=ROUND_CEILING) * tick
    return bid, ask


def level_quantity(ex: PaperExchange, market: str, symbol: str) -> Decimal:
    cap = ex.engine.cap(symbol)
    return cap if cap is not None else ex.engine.rules(market, symbol).max_qty


def _levels(best: Decimal, step: Decimal, count: int, qty: str, fmt_price: Any) -> list[list[str]]:
    levels = []
    for i in range(count):
        price = best + step * i
        if price <= 0:
            break
        levels.append([fmt_price(price), qty])
    return levels


def _book(ex: PaperExchange, market: str, symbol: str, limit: int) -> tuple[list[list[str]], list[list[str]]]:
    bid, ask = best_prices(ex, market, symbol)
    tick = _tick(ex, market, symbol)
    fmt_price = fmt8 if market == SPOT else fmt
    qty = fmt_price(level_quantity(ex, market, symbol))
    return _levels(bid, -tick, limit, qty, fmt_price), _levels(ask, tick, limit, qty, fmt_price)


def spot_depth(ex: PaperExchange, p: Params) -> dict[str, Any]:
    symbol = p.symbol()
    ex.engine.spec(symbol)
    bids, asks = _book(ex, SPOT, symbol, _bounded(p, "limit", SPOT_DEPTH_DEFAULT, SPOT_DEPTH_MAX))
    return {"lastUpdateId": ex.clock(), "bids": bids, "asks": asks}


def futures_depth(ex: PaperExchange, p: Params) -> dict[str, Any]:
    symbol = p.symbol()
    ex.engine.spec(symbol)
    bids, asks = _book(ex, USDM, symbol, _bounded(p, "limit", FUTURES_DEPTH_DEFAULT, FUTURES_DEPTH_MAX))
    now = ex.clock()
    return {"lastUpdateId": now, "E": now, "T": now, "bids": bids, "asks": asks}


def _book_ticker(ex: PaperExchange, market: str, symbol: str) -> dict[str, Any]:
    bid, ask = best_prices(ex, market, symbol)
    fmt_price = fmt8 if market == SPOT else fmt
    qty = fmt_price(level_quantity(ex, market, symbol))
    return {"symbol": symbol, "bidPrice": fmt_price(bid), "bidQty": qty, "askPrice": fmt_price(ask), "askQty": qty}


def spot_book_ticker(ex: PaperExchange, p: Params) -> Any:
    symbols, single = symbols_of(ex, p)
    rows = [_book_ticker(ex, SPOT, s) for s in symbols]
    return rows[0] if single else rows


def futures_book_ticker(ex: PaperExchange, p: Params) -> Any:
    symbols, single = symbols_of(ex, p, allow_list=False)
    now = ex.clock()
    rows = [{**_book_ticker(ex, USDM, s), "time": now} for s in symbols]
    return rows[0] if single else rows


# ---- 24-hour statistics ---------------------------------------------------------------------


def _trades(ex: PaperExchange, market: str, symbol: str, start_ms: int, end_ms: int) -> list[Trade]:
    found = [t for (m, _), trades in ex.engine.trades.items() if m == market for t in trades
             if t.symbol == symbol and start_ms <= t.time <= end_ms]
    return sorted(found, key=lambda t: t.trade_id)


def _volumes(trades: list[Trade]) -> tuple[Decimal, Decimal]:
    return sum((t.qty for t in trades), ZERO), sum((t.quote_qty for t in trades), ZERO)


def _rolling_day(ex: PaperExchange, market: str, symbol: str) -> dict[str, Any]:
    """The 24-hour window's figures, as Decimals and ints (formatted by the market's renderer)."""
    now = ex.clock()
    start = now - candles.DAY_MS
    last = ex.prices[symbol]
    minutes = ex.candles.minutes(symbol, start, now)
    open_price = minutes[0].open if minutes else last
    high = max([c.high for c in minutes] + [last])
    low = min([c.low for c in minutes] + [last])
    trades = _trades(ex, market, symbol, start, now)
    volume, quote_volume = _volumes(trades)
    change = last - open_price
    return {
        "symbol": symbol,
        "change": change,
        "percent": (change * 100 / open_price).quantize(Decimal("0.001")) if open_price else ZERO,
        "weighted": quote_volume / volume if volume else last,
        "open": open_price, "high": high, "low": low, "last": last,
        "last_qty": trades[-1].qty if trades else ZERO,
        "volume": volume, "quote_volume": quote_volume,
        "open_time": start, "close_time": now,
        "first_id": trades[0].trade_id if trades else -1,
        "last_id": trades[-1].trade_id if trades else -1,
        "count": len(trades),
    }


def _spot_day(ex: PaperExchange, symbol: str, mini: bool) -> dict[str, Any]:
    day = _rolling_day(ex, SPOT, symbol)
    counts = {"openTime": day["open_time"], "closeTime": day["close_time"], "firstId": day["first_id"],
              "lastId": day["last_id"], "count": day["count"]}
    if mini:
        return {"symbol": symbol, "openPrice": fmt8(day["open"]), "highPrice": fmt8(day["high"]), "lowPrice": fmt8(day["low"]),
                "lastPrice": fmt8(day["last"]), "volume": fmt8(day["volume"]), "quoteVolume": fmt8(day["quote_volume"]), **counts}
    book = _book_ticker(ex, SPOT, symbol)
    return {
        "symbol": symbol,
        "priceChange": fmt8(day["change"]),
        "priceChangePercent": f"{day['percent']:f}",
        "weightedAvgPrice": fmt8(day["weighted"]),
        "prevClosePrice": fmt8(day["open"]),
        "lastPrice": fmt8(day["last"]),
        "lastQty": fmt8(day["last_qty"]),
        "bidPrice": book["bidPrice"], "bidQty": book["bidQty"], "askPrice": book["askPrice"], "askQty": book["askQty"],
        "openPrice": fmt8(day["open"]),
        "highPrice": fmt8(day["high"]),
        "lowPrice": fmt8(day["low"]),
        "volume": fmt8(day["volume"]),
        "quoteVolume": fmt8(day["quote_volume"]),
        **counts,
    }


def spot_ticker_24hr(ex: PaperExchange, p: Params) -> Any:
    mini = p.choice("type", TICKER_TYPES, required=False) == "MINI"
    symbols, single = symbols_of(ex, p)
    rows = [_spot_day(ex, s, mini) for s in symbols]
    return rows[0] if single else rows


def _futures_day(ex: PaperExchange, symbol: str) -> dict[str, Any]:
    day = _rolling_day(ex, USDM, symbol)
    return {
        "symbol": symbol,
        "priceChange": fmt(day["change"]),
        "priceChangePercent": f"{day['percent']:f}",
        "weightedAvgPrice": fmt(day["weighted"]),
        "lastPrice": fmt(day["last"]),
        "lastQty": fmt(day["last_qty"]),
        "openPrice": fmt(day["open"]),
        "highPrice": fmt(day["high"]),
        "lowPrice": fmt(day["low"]),
        "volume": fmt(day["volume"]),
        "quoteVolume": fmt(day["quote_volume"]),
        "openTime": day["open_time"],
        "closeTime": day["close_time"],
        "firstId": day["first_id"],
        "lastId": day["last_id"],
        "count": day["count"],
    }


def futures_ticker_24hr(ex: PaperExchange, p: Params) -> Any:
    symbols, single = symbols_of(ex, p, allow_list=False)
    rows = [_futures_day(ex, s) for s in symbols]
    return rows[0] if single else rows


# ---- klines ---------------------------------------------------------------------------------


def _kline(ex: PaperExchange, market: str, symbol: str, interval: str, candle: Candle, now: int) -> list[Any]:
    close_ms = candles.interval_end(interval, candle.open_ms)
    trades = _trades(ex, market, symbol, candle.open_ms, min(close_ms, now))
    volume, quote_volume = _volumes(trades)
    # The taker bought when the account bought as taker or sold as maker.
    taker_buys = [t for t in trades if (t.side == "BUY") != t.maker]
    taker_volume, taker_quote = _volumes(taker_buys)
    f = fmt8 if market == SPOT else fmt
    return [candle.open_ms, f(candle.open), f(candle.high), f(candle.low), f(candle.close), f(volume), close_ms,
            f(quote_volume), len(trades), f(taker_volume), f(taker_quote), "0"]


def _klines(ex: PaperExchange, p: Params, market: str) -> list[list[Any]]:
    symbol = p.symbol()
    ex.engine.spec(symbol)
    interval = p.required("interval")
    if interval not in candles.INTERVAL_MINUTES and interval != candles.MONTH:
        raise ApiError(errors.BAD_INTERVAL, "Invalid interval.")
    limit = _bounded(p, "limit", KLINES_DEFAULT, KLINES_MAX[market])
    start, end = p.integer("startTime"), p.integer("endTime")
    now = ex.clock()
    end = min(end, now) if end is not None else now
    first = start if start is not None else end - candles.DAY_MS * 31
    minutes = ex.candles.minutes(symbol, candles.interval_start(interval, first), end)
    rows = candles.aggregate(interval, minutes)
    if start is not None:
        rows = [c for c in rows if c.open_ms >= candles.interval_start(interval, start)]
        rows = rows[:limit]
    else:
        rows = rows[-limit:]
    return [_kline(ex, market, symbol, interval, c, now) for c in rows]


def spot_klines(ex: PaperExchange, p: Params) -> list[list[Any]]:
    return _klines(ex, p, SPOT)


def futures_klines(ex: PaperExchange, p: Params) -> list[list[Any]]:
    return _klines(ex, p, USDM)
