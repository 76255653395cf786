"""Decimal parsing and Binance-style formatting (money and quantities are never floats)."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, InvalidOperation

ZERO = Decimal(0)
EIGHT_PLACES = Decimal("0.00000001")


def to_decimal(value: object) -> Decimal | None:
    """A finite Decimal from a string or number, or ``None`` when it is not one."""
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def fmt8(value: Decimal) -> str:
    """Spot style: always eight decimal places, e.g. ``"0.01000000"``."""
    return f"{value.quantize(EIGHT_PLACES, rounding=ROUND_DOWN):f}"


def fmt(value: Decimal) -> str:
    """Futures style: plain digits without exponent or trailing zeros."""
    if value == 0:
        return "0"
    text = f"{value.normalize():f}"
    return text


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Round down to a multiple of ``step``."""
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def is_multiple(value: Decimal, step: Decimal) -> bool:
    return step == 0 or value % step == 0
