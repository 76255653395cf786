"""Weight headers and the configurable request and order limits (429 ``-1003``)."""

from __future__ import annotations

import pytest
import requests
from binance.client import Client
from binance.exceptions import BinanceAPIException

from paper_exchange.admin_client import SyncPaperAdmin
from tests.support.exchange import Exchange


def test_responses_carry_weight_and_order_count_headers(exchange: Exchange, client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")
    headers = client.response.headers
    assert int(headers["X-MBX-USED-WEIGHT-1M"]) >= 0  # a successful placement costs none
    assert int(headers["X-MBX-ORDER-COUNT-10S"]) >= 1
    client.get_account()
    assert "X-MBX-USED-WEIGHT-1M" in client.response.headers


def test_order_limit_exceeded_answers_429_with_retry_after(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    admin.configure(order_limit_10s=2)
    placed = 0
    with pytest.raises(BinanceAPIException) as caught:
        for _ in range(3 * 10):
            client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")
            placed += 1
    assert (caught.value.status_code, caught.value.code) == (429, -1003)
    assert int(caught.value.response.headers["Retry-After"]) >= 1
    assert 1 <= placed <= 2 * 3
    assert len(admin.orders()) == placed


def test_weight_limit_exceeded_answers_429(client: Client, admin: SyncPaperAdmin) -> None:
    admin.configure(weight_limit=50)
    with pytest.raises(BinanceAPIException) as caught:
        for _ in range(10):
            client.get_account()  # weight 20
    assert (caught.value.status_code, caught.value.code) == (429, -1003)
    admin.configure(weight_limit=0)
    assert client.get_account()["canTrade"] is True


def _used(response: requests.Response) -> int:
    assert response.status_code == 200, response.text
    return int(response.headers["X-MBX-USED-WEIGHT-1M"])


def test_spot_and_futures_count_request_weight_apart(exchange: Exchange) -> None:
    """api.binance.com and fapi.binance.com keep separate weight counters: one market's
    requests never show in the other's ``X-MBX-USED-WEIGHT-1M``."""
    base = exchange.base_url
    spot = _used(requests.get(base + "/api/v3/exchangeInfo", timeout=10))  # weight 20
    assert spot >= 20
    futures = _used(requests.get(base + "/fapi/v1/time", timeout=10))  # weight 1
    assert futures == 1  # the first futures request of this minute
    # A spot request adds to the spot count only (or starts a new minute at 1).
    assert _used(requests.get(base + "/api/v3/time", timeout=10)) in (spot + 1, 1)
    assert _used(exchange.signed("GET", "/fapi/v2/account")) in (futures + 5, 5)


def test_spot_weight_limit_reached_leaves_futures_answering(client: Client, admin: SyncPaperAdmin) -> None:
    admin.configure(weight_limit=50)
    with pytest.raises(BinanceAPIException) as caught:
        for _ in range(10):
            client.get_account()  # weight 20
    assert (caught.value.status_code, caught.value.code) == (429, -1003)
    assert client.futures_account()["canTrade"] is True
    admin.configure(weight_limit=0)


def _limits(response: requests.Response) -> set[tuple[str, str, int, int]]:
    return {(r["rateLimitType"], r["interval"], r["intervalNum"], r["limit"]) for r in response.json()["rateLimits"]}


def test_each_market_publishes_its_own_rate_limits(exchange: Exchange) -> None:
    spot = _limits(requests.get(exchange.base_url + "/api/v3/exchangeInfo", timeout=10))
    futures = _limits(requests.get(exchange.base_url + "/fapi/v1/exchangeInfo", timeout=10))
    # Binance's published limits: spot 6,000 weight a minute, futures 2,400.
    assert spot == {("REQUEST_WEIGHT", "MINUTE", 1, 6000), ("ORDERS", "SECOND", 10, 100), ("ORDERS", "DAY", 1, 200000)}
    assert futures == {("REQUEST_WEIGHT", "MINUTE", 1, 2400), ("ORDERS", "MINUTE", 1, 1200), ("ORDERS", "SECOND", 10, 300)}


def test_spot_placements_and_cancels_cost_weight_only_when_they_fail(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    """Since 2026-04-02 Binance charges a successful ``POST`` / ``DELETE /api/v3/order`` no
    request weight and a failed one its documented weight (1)."""
    admin.set_price("BTCUSDT", "60000")
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01", "price": "50000"}
    placed = exchange.signed("POST", "/api/v3/order", {**order, "newClientOrderId": "free-1"})
    refused = exchange.signed("POST", "/api/v3/order", {**order, "quantity": "0.000001"})  # LOT_SIZE
    cancelled = exchange.signed("DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "free-1"})
    unknown = exchange.signed("DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "free-1"})
    assert [r.status_code for r in (placed, refused, cancelled, unknown)] == [200, 400, 200, 400]
    charged = [(r["method"], r["status"], r["weight"]) for r in admin.requests() if r["path"] == "/api/v3/order"]
    assert charged == [("POST", 200, 0), ("POST", 400, 1), ("DELETE", 200, 0), ("DELETE", 400, 1)]
    # The header agrees: the successful ones left the count where it was.
    assert int(cancelled.headers["X-MBX-USED-WEIGHT-1M"]) in (int(refused.headers["X-MBX-USED-WEIGHT-1M"]), 0)
