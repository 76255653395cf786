"""Spot balances (free/locked per asset) and the USD-M futures account (wallet, positions)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from paper_exchange import errors
from paper_exchange.decimals import ZERO


@dataclass(slots=True)
class Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO


class SpotBalances:
    """Free and locked amounts per asset; every move either succeeds whole or raises ``-2010``."""

    def __init__(self, start: dict[str, Decimal]) -> None:
        self.assets: dict[str, Balance] = {asset: Balance(free=amount) for asset, amount in start.items()}
        self.dirty: set[str] = set(self.assets)

    def get(self, asset: str) -> Balance:
        balance = self.assets.get(asset)
        if balance is None:
            balance = self.assets[asset] = Balance()
        return balance

    def require_free(self, asset: str, amount: Decimal) -> None:
        if self.get(asset).free < amount:
            raise errors.insufficient_balance()

    def lock(self, asset: str, amount: Decimal) -> None:
        self.require_free(asset, amount)
        balance = self.get(asset)
        balance.free -= amount
        balance.locked += amount
        self.dirty.add(asset)

    def unlock(self, asset: str, amount: Decimal) -> None:
        balance = self.get(asset)
        balance.locked -= amount
        balance.free += amount
        self.dirty.add(asset)

    def add_free(self, asset: str, amount: Decimal) -> None:
        self.get(asset).free += amount
        self.dirty.add(asset)

    def take_locked(self, asset: str, amount: Decimal) -> None:
        self.get(asset).locked -= amount
        self.dirty.add(asset)

    def set(self, asset: str, free: Decimal, locked: Decimal | None = None) -> None:
        balance = self.get(asset)
        balance.free = free
        if locked is not None:
            balance.locked = locked
        self.dirty.add(asset)


@dataclass(slots=True)
class Position:
    """A one-way-mode position: signed amount, average entry price, leverage."""

    symbol: str
    amount: Decimal = ZERO
    entry_price: Decimal = ZERO
    leverage: int = 20
    update_time: int = 0

    def unrealized(self, mark: Decimal) -> Decimal:
        return (mark - self.entry_price) * self.amount if self.amount else ZERO

    def apply_fill(self, signed_qty: Decimal, price: Decimal, now_ms: int) -> Decimal:
        """Move the position by ``signed_qty`` at ``price``; return the realized PnL."""
        realized = ZERO
        amount = self.amount
        if amount == 0 or (amount > 0) == (signed_qty > 0):
            total = abs(amount) + abs(signed_qty)
            self.entry_price = (abs(amount) * self.entry_price + abs(signed_qty) * price) / total
            self.amount = amount + signed_qty
        else:
            closing = min(abs(signed_qty), abs(amount))
            direction = 1 if amount > 0 else -1
            realized = closing * (price - self.entry_price) * direction
            self.amount = amount + signed_qty
            if self.amount == 0:
                self.entry_price = ZERO
            elif (self.amount > 0) != (amount > 0):
                self.entry_price = price
        self.update_time = now_ms
        return realized


class FuturesAccount:
    def __init__(self, wallet: Decimal, symbols: tuple[str, ...], leverage: int) -> None:
        self.wallet = wallet
        self.positions: dict[str, Position] = {symbol: Position(symbol, leverage=leverage) for symbol in symbols}
        self.dirty: set[str] = set(self.positions)
        self.wallet_dirty = True

    def position(self, symbol: str) -> Position:
        return self.positions[symbol]

    def used_margin(self, marks: dict[str, Decimal]) -> Decimal:
        return sum(
            (abs(p.amount) * marks[p.symbol] / p.leverage for p in self.positions.values() if p.amount),
            ZERO,
        )

    def unrealized(self, marks: dict[str, Decimal]) -> Decimal:
        return sum((p.unrealized(marks[p.symbol]) for p in self.positions.values()), ZERO)

    def available(self, marks: dict[str, Decimal]) -> Decimal:
        return self.wallet + self.unrealized(marks) - self.used_margin(marks)

    def charge(self, amount: Decimal) -> None:
        self.wallet -= amount
        self.wallet_dirty = True
