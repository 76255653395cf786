"""The one client of a running paper exchange's ``/_paper/`` admin API (see :mod:`paper_exchange.admin`).

:class:`PaperAdmin` is asyncio; :class:`SyncPaperAdmin` makes the same calls blocking,
for synchronous callers (the ``quantum-trader exchange <action>`` command, the
exchange's own tests). Each call opens its own HTTP session, so one client serves any
event loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from decimal import Decimal
from typing import Any

import aiohttp

DEFAULT_TIMEOUT_SECONDS = 30.0
ADMIN_PREFIX = "/_paper/"
# What a restarting (or not yet started) exchange looks like to a caller.
UNREACHABLE = (aiohttp.ClientConnectionError, TimeoutError, OSError)
RETRY_PAUSE_SECONDS = 0.3


class PaperAdmin:
    """Prices, balances, faults and the order log of the exchange at ``base_url``.

    Attributes:
        base_url: The exchange's address, e.g. ``http://127.0.0.1:8900``.
        timeout: Seconds one attempt may take, connecting included.
        retry_for: Seconds to keep retrying while the exchange cannot be reached (a
            restart); 0 tries once. An answer, even an error, is never retried.
    """

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, retry_for: float = 0.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry_for = retry_for

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        check: bool = True,
    ) -> Any:
        """The JSON answer of ``<method> /_paper/<path>``.

        Raises:
            aiohttp.ClientResponseError: The answer is an error and ``check`` is set;
                without ``check`` its body (``{"error": ...}``) is returned instead.
            aiohttp.ClientError, TimeoutError: The exchange cannot be reached.
        """
        return await self._call(method, ADMIN_PREFIX + path, json=json, params=params or None, check=check)

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        deadline = time.monotonic() + self.retry_for
        while True:
            try:
                return await self._attempt(method, path, **kwargs)
            except UNREACHABLE:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(RETRY_PAUSE_SECONDS)

    async def _attempt(self, method: str, path: str, *, check: bool = True, **kwargs: Any) -> Any:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
            async with session.request(method, self.base_url + path, **kwargs) as response:
                if check:
                    response.raise_for_status()
                return await response.json()

    async def health(self) -> dict[str, Any]:
        return await self.request("GET", "health")

    async def orders(self, **filters: str) -> list[dict[str, Any]]:
        """Every order the exchange accepted, oldest first; filters: ``symbol``, ``clientOrderId``, ``market``."""
        return (await self.request("GET", "orders", params=filters))["orders"]

    async def orders_for(self, client_order_id: str) -> list[dict[str, Any]]:
        return await self.orders(clientOrderId=client_order_id)

    async def set_price(self, symbol: str, price: Decimal | str, *, hold: bool = True) -> dict[str, Any]:
        """Set (and by default hold) a price; the answer counts the fills of the matching pass it runs."""
        return await self.request("POST", "price", json={"symbol": symbol, "price": str(price), "hold": hold})

    async def set_balance(
        self, asset: str, free: Decimal | str, *, market: str = "spot", locked: Decimal | str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"asset": asset, "free": str(free), "market": market}
        if locked is not None:
            body["locked"] = str(locked)
        return await self.request("POST", "balance", json=body)

    async def configure(self, **config: Any) -> dict[str, Any]:
        """Change the runtime config (liquidity, limits, fees, spread, clock_offset_ms); the answer is the whole config."""
        return await self.request("POST", "config", json=config)

    async def arm(self, kind: str, **fault: Any) -> dict[str, Any]:
        """Arm a fault (see :mod:`paper_exchange.faults`); the answer describes it, ``id`` included."""
        return await self.request("POST", "faults", json={"kind": kind, **fault})

    async def faults(self) -> list[dict[str, Any]]:
        return (await self.request("GET", "faults"))["faults"]

    async def clear_faults(self, fault_id: str | None = None) -> int:
        """Disarm one fault, or all of them; returns how many were disarmed."""
        path = "faults" if fault_id is None else f"faults/{fault_id}"
        return int((await self.request("DELETE", path))["cleared"])

    async def reset(self) -> None:
        """Orders, balances, positions, prices and faults back to the start."""
        await self.request("POST", "reset")

    async def state(self) -> dict[str, Any]:
        """Balances, positions, prices and the runtime config."""
        return await self.request("GET", "state")

    async def deferred(self) -> list[dict[str, Any]]:
        """Requests an ``execute_later`` fault accepted that have not run yet (``method``, ``path``, ``due_ms``)."""
        return (await self.state())["deferred"]

    async def requests(self, since_ms: int = 0) -> list[dict[str, Any]]:
        """The Binance requests the exchange took in (``at_ms``, ``method``, ``path``, ``weight``,
        ``status``, ``client_id``, ``symbol``), oldest first, from ``since_ms`` on the exchange clock."""
        return (await self.request("GET", "requests", params={"since_ms": str(since_ms)}))["requests"]

    async def server_time(self) -> int:
        """The exchange's clock (``GET /api/v3/time``), in ms."""
        return int((await self._call("GET", "/api/v3/time"))["serverTime"])

    async def prices(self) -> dict[str, str]:
        """The last price of every symbol (``GET /api/v3/ticker/price``)."""
        return {row["symbol"]: row["price"] for row in await self._call("GET", "/api/v3/ticker/price")}


class SyncPaperAdmin:
    """:class:`PaperAdmin`'s calls, blocking: each runs in a fresh event loop.

    Not for code already inside an event loop: there, await the same call on ``aio``.

    Attributes:
        aio: The :class:`PaperAdmin` whose calls these are.
    """

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.aio = PaperAdmin(base_url, timeout=timeout)

    @property
    def base_url(self) -> str:
        return self.aio.base_url

    def __getattr__(self, name: str) -> Any:
        call = getattr(self.aio, name)
        if not inspect.iscoroutinefunction(call):
            return call

        @functools.wraps(call)
        def blocking(*args: Any, **kwargs: Any) -> Any:
            return asyncio.run(call(*args, **kwargs))

        return blocking
