"""A seeded random walk per symbol; a symbol whose price was set by the admin API is held."""

from __future__ import annotations

import math
import random
from decimal import Decimal

from paper_exchange.decimals import floor_to_step


class PriceBook:
    """Last price per symbol (spot last price and futures mark price are the same number)."""

    def __init__(self, start: dict[str, Decimal], ticks: dict[str, Decimal], seed: int, volatility: Decimal) -> None:
        self._start = dict(start)
        self._ticks = ticks
        self._seed = seed
        self._volatility = float(volatility)
        self.prices: dict[str, Decimal] = dict(start)
        self.held: set[str] = set()
        self._rng = random.Random(seed)

    def reset(self) -> None:
        self.prices = dict(self._start)
        self.held.clear()
        self._rng = random.Random(self._seed)

    def __getitem__(self, symbol: str) -> Decimal:
        return self.prices[symbol]

    def set(self, symbol: str, price: Decimal, hold: bool = True) -> None:
        self.prices[symbol] = price
        if hold:
            self.held.add(symbol)
        else:
            self.held.discard(symbol)

    def step(self) -> list[str]:
        """Advance every symbol that is not held by one walk step; return the ones that moved."""
        moved = []
        for symbol, price in self.prices.items():
            if symbol in self.held:
                continue
            factor = math.exp(self._rng.gauss(0.0, self._volatility))
            tick = self._ticks[symbol]
            new_price = max(floor_to_step(price * Decimal(repr(factor)), tick), tick)
            if new_price != price:
                self.prices[symbol] = new_price
                moved.append(symbol)
        return moved
