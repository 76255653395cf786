"""Authentication like Binance: API key, HMAC-SHA256 signature, timestamp window."""

from __future__ import annotations

import time

import pytest
import requests
from binance.client import Client
from binance.exceptions import BinanceAPIException

from paper_exchange.auth import sign, signature_matches
from tests.support.exchange import Exchange, client_for, error_of

# Binance's published example (spot API docs, "SIGNED endpoint examples").
VECTOR_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
VECTOR_PAYLOAD = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
)
VECTOR_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_signature_published_vector_matches() -> None:
    assert sign(VECTOR_SECRET, VECTOR_PAYLOAD) == VECTOR_SIGNATURE


def test_signature_vector_split_between_query_and_body_matches() -> None:
    query, body = VECTOR_PAYLOAD[:40], VECTOR_PAYLOAD[40:]
    assert signature_matches(VECTOR_SECRET, query, body, VECTOR_SIGNATURE)
    assert not signature_matches(VECTOR_SECRET, query, body, "0" * 64)


def test_signed_endpoint_without_api_key_is_refused_with_2014(exchange: Exchange) -> None:
    response = requests.get(f"{exchange.base_url}/api/v3/account?timestamp={int(time.time() * 1000)}", timeout=10)
    assert error_of(response)[1] == -2014


def test_signed_endpoint_unknown_api_key_is_refused_with_2015_http_401(exchange: Exchange) -> None:
    response = exchange.signed("GET", "/api/v3/account", key="someone-else")
    assert error_of(response) == (401, -2015)


def test_python_binance_with_wrong_key_raises_2015(exchange: Exchange) -> None:
    client = client_for(exchange.base_url, "wrong-key", exchange.api_secret)
    with pytest.raises(BinanceAPIException) as caught:
        client.get_account()
    assert caught.value.code == -2015


def test_signed_endpoint_bad_signature_is_refused_with_1022(exchange: Exchange) -> None:
    response = exchange.signed("GET", "/api/v3/account", secret="not-the-secret")
    assert error_of(response) == (400, -1022)


def test_python_binance_with_wrong_secret_raises_1022(exchange: Exchange) -> None:
    client = client_for(exchange.base_url, exchange.api_key, "wrong-secret")
    with pytest.raises(BinanceAPIException) as caught:
        client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")
    assert caught.value.code == -1022
    assert exchange.admin.orders() == []


def test_signed_endpoint_old_timestamp_is_refused_with_1021(exchange: Exchange) -> None:
    old = int(time.time() * 1000) - 60_000
    response = exchange.signed("GET", "/api/v3/account", {"recvWindow": 5000}, timestamp=old)
    assert error_of(response) == (400, -1021)


def test_signed_endpoint_future_timestamp_is_refused_with_1021(exchange: Exchange) -> None:
    future = int(time.time() * 1000) + 30_000
    response = exchange.signed("GET", "/api/v3/account", timestamp=future)
    assert error_of(response) == (400, -1021)


def test_python_binance_clock_ahead_raises_1021(exchange: Exchange) -> None:
    client = exchange.client()
    client.timestamp_offset = 120_000
    with pytest.raises(BinanceAPIException) as caught:
        client.get_account()
    assert caught.value.code == -1021


def test_signed_endpoint_recv_window_above_60000_is_refused(exchange: Exchange) -> None:
    response = exchange.signed("GET", "/api/v3/account", {"recvWindow": 70_000})
    assert error_of(response) == (400, -1131)


def test_signed_endpoint_missing_timestamp_is_refused_with_1102(exchange: Exchange) -> None:
    response = requests.get(
        f"{exchange.base_url}/api/v3/account?signature=abc", headers={"X-MBX-APIKEY": exchange.api_key}, timeout=10
    )
    assert error_of(response) == (400, -1102)


def test_signed_endpoint_missing_signature_is_refused_with_1102(exchange: Exchange) -> None:
    response = requests.get(
        f"{exchange.base_url}/api/v3/account?timestamp={int(time.time() * 1000)}",
        headers={"X-MBX-APIKEY": exchange.api_key},
        timeout=10,
    )
    assert error_of(response) == (400, -1102)


def test_signature_over_query_and_body_together_is_accepted(exchange: Exchange) -> None:
    timestamp = int(time.time() * 1000)
    query = "symbol=BTCUSDT&side=BUY&type=MARKET"
    body = f"quantity=0.001&newClientOrderId=split-1&timestamp={timestamp}"
    signature = sign(exchange.api_secret, query + body)
    response = requests.post(
        f"{exchange.base_url}/api/v3/order?{query}",
        data=f"{body}&signature={signature}",
        headers={"X-MBX-APIKEY": exchange.api_key, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "FILLED"


def test_unsigned_endpoints_need_no_key(exchange: Exchange) -> None:
    for path in (
        "/api/v3/ping",
        "/api/v3/time",
        "/api/v3/exchangeInfo",
        "/api/v3/ticker/price?symbol=BTCUSDT",
        "/fapi/v1/ping",
        "/fapi/v1/time",
        "/fapi/v1/exchangeInfo",
        "/fapi/v1/premiumIndex?symbol=BTCUSDT",
        "/fapi/v1/ticker/price?symbol=BTCUSDT",
    ):
        response = requests.get(exchange.base_url + path, timeout=10)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"


def test_python_binance_client_construction_pings(exchange: Exchange) -> None:
    client = exchange.client()
    assert isinstance(client, Client)
    assert client.ping() == {}
