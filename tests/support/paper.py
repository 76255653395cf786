"""Admin client for the paper exchange's ``/_paper`` API (what tests count orders with)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp


class PaperAdmin:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        async with aiohttp.ClientSession() as session:
            async with session.request(method, f"{self.base_url}/_paper/{path}", **kwargs) as response:
                response.raise_for_status()
                return await response.json()

    async def orders(self, **filters: str) -> list[dict[str, Any]]:
        data = await self._request("GET", "orders", params=filters)
        return data["orders"]

    async def orders_for(self, client_order_id: str) -> list[dict[str, Any]]:
        return await self.orders(clientOrderId=client_order_id)

    async def set_price(self, symbol: str, price: Decimal | str) -> None:
        await self._request("POST", "price", json={"symbol": symbol, "price": str(price)})

    async def set_balance(self, asset: str, free: Decimal | str) -> None:
        await self._request("POST", "balance", json={"asset": asset, "free": str(free)})

    async def configure(self, **config: Any) -> None:
        await self._request("POST", "config", json=config)

    async def arm(self, kind: str, **fault: Any) -> dict[str, Any]:
        return await self._request("POST", "faults", json={"kind": kind, **fault})

    async def faults(self) -> list[dict[str, Any]]:
        data = await self._request("GET", "faults")
        return data["faults"] if isinstance(data, dict) else data

    async def clear_faults(self) -> None:
        await self._request("DELETE", "faults")

    async def server_time(self) -> int:
        """The exchange's clock (``GET /api/v3/time``), in ms."""
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{self.base_url}/api/v3/time") as response:
                response.raise_for_status()
                return int((await response.json())["serverTime"])

    async def reset(self) -> None:
        await self._request("POST", "reset")
