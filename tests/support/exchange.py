"""Helpers for driving a paper exchange process in tests: raw signed requests, clients."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from binance.async_client import AsyncClient
from binance.client import Client

from paper_exchange.admin_client import SyncPaperAdmin
from paper_exchange.auth import sign
from tests.support.processes import VENV_BIN, Proc

API_KEY = "paper-test-key-0001"
API_SECRET = "paper-test-secret-0001-do-not-use-elsewhere"


def exchange_args(port: int, state_file: Path, *extra: str) -> list[str]:
    return [
        str(VENV_BIN / "quantum-trader"),
        "exchange",
        "--port",
        str(port),
        "--api-key",
        API_KEY,
        "--api-secret",
        API_SECRET,
        "--state-file",
        str(state_file),
        "--tick-ms",
        "200",
        *extra,
    ]


def start_exchange(name: str, port: int, state_file: Path, log_path: Path) -> Proc:
    return Proc(name, exchange_args(port, state_file), log_path).start(wait_port=port, timeout=30)


@dataclass(frozen=True)
class Exchange:
    """A running paper exchange as tests see it."""

    base_url: str
    api_key: str
    api_secret: str
    admin: SyncPaperAdmin

    def client(self) -> Client:
        return client_for(self.base_url, self.api_key, self.api_secret)

    async def async_client(self) -> AsyncClient:
        return await async_client_for(self.base_url, self.api_key, self.api_secret)

    def signed(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        secret: str | None = None,
        timestamp: int | None = None,
        in_body: bool | None = None,
    ) -> requests.Response:
        """A hand-signed request, for cases a client library would not send."""
        values = dict(params or {})
        values.setdefault("timestamp", timestamp if timestamp is not None else int(time.time() * 1000))
        payload = urlencode(values)
        signature = sign(secret or self.api_secret, payload)
        payload = f"{payload}&signature={signature}"
        headers = {"X-MBX-APIKEY": key if key is not None else self.api_key}
        if in_body is None:
            in_body = method in ("POST", "DELETE")
        if in_body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            return requests.request(method, self.base_url + path, data=payload, headers=headers, timeout=10)
        return requests.request(method, f"{self.base_url}{path}?{payload}", headers=headers, timeout=10)


def client_for(base_url: str, api_key: str, api_secret: str, timeout: float | None = None) -> Client:
    attributes: dict[str, Any] = {"API_URL": base_url + "/api", "FUTURES_URL": base_url + "/fapi"}
    if timeout is not None:
        attributes["REQUEST_TIMEOUT"] = timeout
    cls = type("PaperClient", (Client,), attributes)
    return cls(api_key, api_secret)


async def async_client_for(base_url: str, api_key: str, api_secret: str) -> AsyncClient:
    cls = type("PaperAsyncClient", (AsyncClient,), {"API_URL": base_url + "/api", "FUTURES_URL": base_url + "/fapi"})
    return await cls.create(api_key, api_secret)


def error_of(response: requests.Response) -> tuple[int, int]:
    """``(http_status, binance_code)`` of an error answer."""
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    return response.status_code, response.json()["code"]
