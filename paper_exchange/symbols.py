"""Symbol specifications and the exchange filters (PRICE_FILTER, LOT_SIZE, NOTIONAL).

Values are close to Binance's own for the default symbols; any other symbol gets a
generic specification so ``--symbols`` can list it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from paper_exchange.decimals import is_multiple
from paper_exchange.errors import ApiError, filter_failure

DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT")
QUOTE_ASSETS = ("USDT", "USDC", "FDUSD", "BTC")


@dataclass(frozen=True)
class MarketRules:
    """Filters of one symbol on one market."""

    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    min_price: Decimal
    max_price: Decimal = Decimal("1000000")
    max_notional: Decimal = Decimal("9000000")

    def check_price(self, price: Decimal) -> None:
        if price < self.min_price or price > self.max_price or not is_multiple(price, self.tick_size):
            raise filter_failure("PRICE_FILTER")

    def check(
        self, quantity: Decimal, price: Decimal | None, reference_price: Decimal, check_notional: bool = True
    ) -> None:
        """Raise ``-1013`` when the order breaks a filter; MARKET orders pass ``price=None``."""
        if price is not None:
            self.check_price(price)
        if quantity < self.min_qty or quantity > self.max_qty or not is_multiple(quantity, self.step_size):
            raise filter_failure("LOT_SIZE")
        if not check_notional:
            return
        notional = quantity * (price if price is not None else reference_price)
        if notional < self.min_notional or notional > self.max_notional:
            raise filter_failure("NOTIONAL")


@dataclass(frozen=True)
class SymbolSpec:
    symbol: str
    base: str
    quote: str
    start_price: Decimal
    spot: MarketRules
    futures: MarketRules


def _d(text: str) -> Decimal:
    return Decimal(text)


_KNOWN: dict[str, tuple[str, MarketRules, MarketRules]] = {
    "BTCUSDT": (
        "60000",
        MarketRules(_d("0.01"), _d("0.00001"), _d("0.00001"), _d("9000"), _d("5"), _d("0.01")),
        MarketRules(_d("0.10"), _d("0.001"), _d("0.001"), _d("1000"), _d("100"), _d("556.80"), _d("4529764")),
    ),
    "ETHUSDT": (
        "3000",
        MarketRules(_d("0.01"), _d("0.0001"), _d("0.0001"), _d("9000"), _d("5"), _d("0.01")),
        MarketRules(_d("0.01"), _d("0.001"), _d("0.001"), _d("10000"), _d("20"), _d("39.86"), _d("306177")),
    ),
    "BNBUSDT": (
        "600",
        MarketRules(_d("0.01"), _d("0.001"), _d("0.001"), _d("9000"), _d("5"), _d("0.01")),
        MarketRules(_d("0.010"), _d("0.01"), _d("0.01"), _d("10000"), _d("5"), _d("6.600"), _d("100000")),
    ),
    "SOLUSDT": (
        "150",
        MarketRules(_d("0.01"), _d("0.001"), _d("0.001"), _d("9000"), _d("5"), _d("0.01")),
        MarketRules(_d("0.0100"), _d("1"), _d("1"), _d("1000000"), _d("5"), _d("0.4200"), _d("6857")),
    ),
    "XRPUSDT": (
        "0.6",
        MarketRules(_d("0.0001"), _d("0.1"), _d("0.1"), _d("9000000"), _d("5"), _d("0.0001")),
        MarketRules(_d("0.0001"), _d("0.1"), _d("0.1"), _d("10000000"), _d("5"), _d("0.0143"), _d("100000")),
    ),
}

_GENERIC_SPOT = MarketRules(_d("0.0001"), _d("0.01"), _d("0.01"), _d("9000000"), _d("5"), _d("0.0001"))
_GENERIC_FUTURES = MarketRules(_d("0.0001"), _d("0.01"), _d("0.01"), _d("10000000"), _d("5"), _d("0.0001"))


def split_symbol(symbol: str) -> tuple[str, str]:
    for quote in QUOTE_ASSETS:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    raise ValueError(f"cannot tell base and quote asset of {symbol!r}")


def spec_for(symbol: str) -> SymbolSpec:
    """The specification of ``symbol``: Binance-like for known ones, generic otherwise."""
    base, quote = split_symbol(symbol)
    start, spot, futures = _KNOWN.get(symbol, ("1", _GENERIC_SPOT, _GENERIC_FUTURES))
    return SymbolSpec(symbol, base, quote, Decimal(start), spot, futures)


def require_symbol(specs: dict[str, SymbolSpec], symbol: str) -> SymbolSpec:
    try:
        return specs[symbol]
    except KeyError:
        raise ApiError.invalid_symbol() from None
