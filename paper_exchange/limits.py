"""Request weight and order-count windows, reported in ``X-MBX-*`` headers and enforced when configured."""

from __future__ import annotations

from dataclasses import dataclass

from paper_exchange import errors

MINUTE_MS = 60_000
TEN_SECONDS_MS = 10_000


@dataclass
class Usage:
    weight_1m: int
    orders_10s: int | None


class RateLimiter:
    """Fixed windows (one minute of weight, ten seconds of orders), like Binance's counters."""

    def __init__(self, weight_limit: int, order_limit_10s: int) -> None:
        self.weight_limit = weight_limit
        self.order_limit_10s = order_limit_10s
        self._weight_window = -1
        self._weight = 0
        self._order_window = -1
        self._orders = 0

    def reset(self, weight_limit: int, order_limit_10s: int) -> None:
        self.__init__(weight_limit, order_limit_10s)  # type: ignore[misc]

    def charge(self, now_ms: int, weight: int, is_order: bool) -> Usage:
        """Count one request; raise 429 ``-1003`` when a configured limit is passed."""
        window = now_ms // MINUTE_MS
        if window != self._weight_window:
            self._weight_window, self._weight = window, 0
        self._weight += weight
        if self.weight_limit and self._weight > self.weight_limit:
            retry = (MINUTE_MS - now_ms % MINUTE_MS) // 1000 + 1
            raise errors.too_many_requests(retry, f"{self.weight_limit} request weight per 1 MINUTE")
        if not is_order:
            return Usage(self._weight, None)
        order_window = now_ms // TEN_SECONDS_MS
        if order_window != self._order_window:
            self._order_window, self._orders = order_window, 0
        self._orders += 1
        if self.order_limit_10s and self._orders > self.order_limit_10s:
            retry = (TEN_SECONDS_MS - now_ms % TEN_SECONDS_MS) // 1000 + 1
            raise errors.too_many_requests(retry, f"{self.order_limit_10s} orders per 10 SECOND")
        return Usage(self._weight, self._orders)

    def refund(self, now_ms: int, weight: int) -> int:
        """Give back ``weight`` charged at ``now_ms`` (a request Binance charges only when it
        fails); return the minute's weight."""
        if now_ms // MINUTE_MS == self._weight_window:
            self._weight = max(self._weight - weight, 0)
        return self._weight

    def usage(self) -> Usage:
        return Usage(self._weight, self._orders)
