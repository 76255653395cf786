"""Typed access to request parameters, raising Binance's errors for missing or malformed ones."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

from paper_exchange import errors
from paper_exchange.decimals import to_decimal
from paper_exchange.errors import ApiError

CLIENT_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,36}$")
CLIENT_ID_LEGAL = "^[a-zA-Z0-9-_]{1,36}$"
DECIMAL_PATTERN = re.compile(r"^-?[0-9]{1,20}(\.[0-9]{1,20})?$")
INTEGER_PATTERN = re.compile(r"^[0-9]{1,20}$")

SIDES = ("BUY", "SELL")
BAD_ENUM = {
    "side": (errors.BAD_SIDE, "Invalid side."),
    "type": (errors.BAD_TYPE, "Invalid orderType."),
    "timeInForce": (errors.BAD_TIF, "Invalid timeInForce."),
}


class Params:
    """Query and body parameters of one request (the query wins when both carry a name)."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if value else None

    def required(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise errors.mandatory(name)
        return value

    def symbol(self) -> str:
        return self.required("symbol").upper()

    def decimal(self, name: str, required: bool = False) -> Decimal | None:
        value = self.required(name) if required else self.get(name)
        if value is None:
            return None
        number = to_decimal(value) if DECIMAL_PATTERN.match(value) else None
        if number is None:
            raise errors.illegal(name)
        return number

    def positive(self, name: str, required: bool = False, what: str = "quantity") -> Decimal | None:
        number = self.decimal(name, required)
        if number is not None and number <= 0:
            raise ApiError(errors.FILTER, f"Invalid {what}.")
        return number

    def integer(self, name: str, required: bool = False) -> int | None:
        value = self.required(name) if required else self.get(name)
        if value is None:
            return None
        if not INTEGER_PATTERN.match(value):
            raise errors.illegal(name, "^[0-9]{1,20}$")
        return int(value)

    def choice(self, name: str, allowed: Iterable[str], required: bool = True) -> str | None:
        value = self.required(name) if required else self.get(name)
        if value is None:
            return None
        if value not in allowed:
            code, msg = BAD_ENUM.get(name, (errors.ILLEGAL_CHARS, f"Illegal characters found in parameter '{name}'."))
            raise ApiError(code, msg)
        return value

    def flag(self, name: str) -> bool:
        value = self.get(name)
        if value is None:
            return False
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise errors.illegal(name, "^(true|false)$")
        return lowered == "true"

    def client_id(self, name: str) -> str | None:
        value = self.get(name)
        if value is not None and not CLIENT_ID_PATTERN.match(value):
            raise errors.illegal(name, CLIENT_ID_LEGAL)
        return value
