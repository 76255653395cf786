"""An independent client, ccxt, places, queries and cancels a spot order on the paper exchange."""

from __future__ import annotations

import ccxt

from paper_exchange.admin_client import SyncPaperAdmin
from tests.support.exchange import Exchange


def ccxt_binance(exchange: Exchange) -> ccxt.binance:
    client = ccxt.binance(
        {
            "apiKey": exchange.api_key,
            "secret": exchange.api_secret,
            "options": {
                "defaultType": "spot",
                "fetchCurrencies": False,
                "fetchMargins": False,
                "fetchMarkets": {"types": ["spot"]},
            },
        }
    )
    for name, url in client.urls["api"].items():
        if isinstance(url, str):
            client.urls["api"][name] = url.replace("https://api.binance.com/api", exchange.base_url + "/api")
    return client


def test_ccxt_places_fetches_and_cancels_spot_limit_order(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    client = ccxt_binance(exchange)
    markets = client.load_markets()
    assert "BTC/USDT" in markets
    placed = client.create_order("BTC/USDT", "limit", "buy", 0.01, 50000, {"newClientOrderId": "ccxt-1"})
    assert placed["status"] == "open"
    fetched = client.fetch_order(placed["id"], "BTC/USDT")
    assert (fetched["clientOrderId"], fetched["price"], fetched["amount"]) == ("ccxt-1", 50000.0, 0.01)
    assert [o["id"] for o in client.fetch_open_orders("BTC/USDT")] == [placed["id"]]
    cancelled = client.cancel_order(placed["id"], "BTC/USDT")
    assert cancelled["status"] == "canceled"
    assert [o["status"] for o in admin.orders(clientOrderId="ccxt-1")] == ["CANCELED"]


def test_ccxt_market_order_fills_and_balance_moves(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    admin.set_price("ETHUSDT", "3000")
    client = ccxt_binance(exchange)
    client.load_markets()
    order = client.create_order("ETH/USDT", "market", "buy", 0.5)
    assert (order["status"], order["filled"]) == ("closed", 0.5)
    assert client.fetch_balance()["ETH"]["free"] == 100.5
