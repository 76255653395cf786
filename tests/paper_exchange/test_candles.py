"""The one-minute price history behind klines and the 24-hour ticker."""

from __future__ import annotations

import calendar
from decimal import Decimal

from paper_exchange.candles import MINUTE_MS, CandleBook, aggregate, interval_end, interval_start

T0 = calendar.timegm((2026, 12, 2, 10, 0, 0)) * 1000  # a Wednesday, 10:00 UTC


def _ohlc(candle: object) -> tuple[str, ...]:
    return tuple(str(getattr(candle, name)) for name in ("open", "high", "low", "close"))


def test_minutes_without_a_move_are_the_previous_close_flat() -> None:
    book = CandleBook()
    book.observe("BTCUSDT", Decimal("100"), T0 + 1_000)
    book.observe("BTCUSDT", Decimal("104"), T0 + 20_000)
    book.observe("BTCUSDT", Decimal("98"), T0 + 40_000)
    book.observe("BTCUSDT", Decimal("101"), T0 + 3 * MINUTE_MS + 5_000)
    minutes = book.minutes("BTCUSDT", T0 - 10 * MINUTE_MS, T0 + 3 * MINUTE_MS + 6_000)
    assert [c.open_ms - T0 for c in minutes] == [0, MINUTE_MS, 2 * MINUTE_MS, 3 * MINUTE_MS]  # none before the history
    assert [_ohlc(c) for c in minutes] == [
        ("100", "104", "98", "98"), ("98", "98", "98", "98"), ("98", "98", "98", "98"), ("101", "101", "101", "101")]
    assert book.minutes("ETHUSDT", T0, T0 + MINUTE_MS) == []


def test_minutes_group_into_longer_intervals() -> None:
    book = CandleBook()
    for minute, price in enumerate(["10", "12", "9", "11", "11", "13"]):
        book.observe("X", Decimal(price), T0 + minute * MINUTE_MS)
    grouped = aggregate("3m", book.minutes("X", T0, T0 + 5 * MINUTE_MS))
    assert [(c.open_ms - T0, _ohlc(c)) for c in grouped] == [
        (0, ("10", "12", "9", "9")), (3 * MINUTE_MS, ("11", "13", "11", "13"))]


def test_interval_boundaries_are_binance_s() -> None:
    assert interval_start("1h", T0 + 59 * MINUTE_MS) == T0
    assert interval_start("1d", T0) == calendar.timegm((2026, 12, 2, 0, 0, 0)) * 1000
    assert interval_start("1w", T0) == calendar.timegm((2026, 11, 30, 0, 0, 0)) * 1000  # Monday
    assert interval_start("1M", T0) == calendar.timegm((2026, 12, 1, 0, 0, 0)) * 1000
    assert interval_end("1M", interval_start("1M", T0)) == calendar.timegm((2027, 1, 1, 0, 0, 0)) * 1000 - 1
    assert interval_end("1m", T0) == T0 + MINUTE_MS - 1
