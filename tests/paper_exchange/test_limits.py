"""Weight headers and the configurable request and order limits (429 ``-1003``)."""

from __future__ import annotations

import pytest
from binance.client import Client
from binance.exceptions import BinanceAPIException

from paper_exchange.admin_client import SyncPaperAdmin
from tests.support.exchange import Exchange


def test_responses_carry_weight_and_order_count_headers(exchange: Exchange, client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")
    headers = client.response.headers
    assert int(headers["X-MBX-USED-WEIGHT-1M"]) >= 1
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
