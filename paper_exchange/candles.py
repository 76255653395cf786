"""The price history behind klines and the 24-hour ticker: one-minute candles per symbol.

Every price the exchange takes (a walk step, an admin price, the start price) updates the
symbol's candle of that minute on the exchange's clock. A minute in which the price did not
move has no record; it is the previous close, flat. The last :data:`KEPT_MINUTES` are kept,
in memory only: a restart or a reset starts the history again from the current prices.
Spot's last price and the futures mark price are the same number here, so both markets
share the history; volumes come from each market's own trades.
"""

from __future__ import annotations

import calendar
import datetime
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

MINUTE_MS = 60_000
DAY_MS = 86_400_000
# A day of minutes: enough for the 24-hour ticker and a day of klines.
KEPT_MINUTES = 1440
# Kline intervals (Binance's names) in minutes; ``1M`` is a calendar month, counted apart.
INTERVAL_MINUTES = {
    "1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30,
    "1h": 60, "2h": 120, "4h": 240, "6h": 360, "8h": 480, "12h": 720,
    "1d": 1440, "3d": 4320, "1w": 10080,
}
MONTH = "1M"
# 1970-01-01 was a Thursday; Binance's weekly candles open on Mondays.
WEEK_OFFSET_MS = 4 * DAY_MS


@dataclass
class Candle:
    """Open, high, low and close of one interval starting at ``open_ms``."""

    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal

    def take(self, price: Decimal) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price


class CandleBook:
    """Minute candles of every symbol, newest last."""

    def __init__(self) -> None:
        self._minutes: dict[str, deque[Candle]] = {}

    def reset(self) -> None:
        self._minutes.clear()

    def observe(self, symbol: str, price: Decimal, now_ms: int) -> None:
        """Record ``price`` as the symbol's latest, at ``now_ms`` on the exchange's clock."""
        minute = now_ms - now_ms % MINUTE_MS
        candles = self._minutes.setdefault(symbol, deque(maxlen=KEPT_MINUTES))
        if candles and candles[-1].open_ms == minute:
            candles[-1].take(price)
        elif candles and candles[-1].open_ms > minute:  # the clock was set back: keep the newest minute
            candles[-1].take(price)
        else:
            candles.append(Candle(minute, price, price, price, price))

    def minutes(self, symbol: str, start_ms: int, end_ms: int) -> list[Candle]:
        """One candle per minute from ``start_ms`` to ``end_ms`` (inclusive), flat where the
        price did not move; none before the history's first minute."""
        recorded = self._minutes.get(symbol)
        if not recorded:
            return []
        first = max(start_ms - start_ms % MINUTE_MS, recorded[0].open_ms)
        last = end_ms - end_ms % MINUTE_MS
        by_minute = {c.open_ms: c for c in recorded if first <= c.open_ms <= last}
        previous = next((c for c in reversed(recorded) if c.open_ms < first), None)
        close = previous.close if previous is not None else recorded[0].open
        series = []
        for minute in range(first, last + 1, MINUTE_MS):
            candle = by_minute.get(minute)
            if candle is None:
                candle = Candle(minute, close, close, close, close)
            series.append(candle)
            close = candle.close
        return series


def interval_start(interval: str, at_ms: int) -> int:
    """When the ``interval`` candle holding ``at_ms`` opens (UTC)."""
    if interval == MONTH:
        day = datetime.datetime.fromtimestamp(at_ms / 1000, tz=datetime.UTC)
        return calendar.timegm((day.year, day.month, 1, 0, 0, 0)) * 1000
    length = INTERVAL_MINUTES[interval] * MINUTE_MS
    offset = WEEK_OFFSET_MS if interval == "1w" else 0
    return at_ms - (at_ms - offset) % length


def interval_end(interval: str, open_ms: int) -> int:
    """The last millisecond of the ``interval`` candle opening at ``open_ms``."""
    if interval == MONTH:
        day = datetime.datetime.fromtimestamp(open_ms / 1000, tz=datetime.UTC)
        year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
        return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000 - 1
    return open_ms + INTERVAL_MINUTES[interval] * MINUTE_MS - 1


def aggregate(interval: str, minutes: list[Candle]) -> list[Candle]:
    """Minute candles grouped into ``interval`` candles, oldest first."""
    grouped: list[Candle] = []
    for minute in minutes:
        start = interval_start(interval, minute.open_ms)
        if grouped and grouped[-1].open_ms == start:
            grouped[-1].high = max(grouped[-1].high, minute.high)
            grouped[-1].low = min(grouped[-1].low, minute.low)
            grouped[-1].close = minute.close
        else:
            grouped.append(Candle(start, minute.open, minute.high, minute.low, minute.close))
    return grouped
