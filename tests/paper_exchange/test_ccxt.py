"""An independent client, ccxt, loads the markets, reads market data, and places, queries
and cancels a spot order on the paper exchange.

ccxt is pointed at the exchange by rewriting the Binance hosts in ``urls["api"]``; with
``fetchCurrencies`` and ``fetchMargins`` off and ``fetchMarkets`` limited to one market type,
``load_markets()`` asks only that market's exchangeInfo (no ``/sapi`` capital or margin calls).
"""

from __future__ import annotations

import ccxt
import pytest

from paper_exchange.admin_client import SyncPaperAdmin
from tests.support.exchange import Exchange


def ccxt_binance(exchange: Exchange, market: str = "spot") -> ccxt.binance:
    """ccxt's Binance on the paper exchange: ``market`` is ``spot`` or ``future`` (USDⓈ-M)."""
    client = ccxt.binance(
        {
            "apiKey": exchange.api_key,
            "secret": exchange.api_secret,
            "options": {
                "defaultType": market,
                "fetchCurrencies": False,
                "fetchMargins": False,
                "fetchMarkets": {"types": ["spot" if market == "spot" else "linear"]},
            },
        }
    )
    hosts = {"https://api.binance.com/api": "/api", "https://fapi.binance.com/fapi": "/fapi"}
    for name, url in client.urls["api"].items():
        if isinstance(url, str):
            for host, path in hosts.items():
                url = url.replace(host, exchange.base_url + path)
            client.urls["api"][name] = url
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


@pytest.mark.parametrize(("market", "symbol", "tick"), [("spot", "BTC/USDT", 0.01), ("future", "BTC/USDT:USDT", 0.1)])
def test_ccxt_reads_ticker_order_book_and_ohlcv(exchange: Exchange, admin: SyncPaperAdmin, market: str, symbol: str, tick: float) -> None:
    admin.set_price("BTCUSDT", "61000")
    admin.set_price("BTCUSDT", "60000")
    client = ccxt_binance(exchange, market)
    assert symbol in client.load_markets()
    ticker = client.fetch_ticker(symbol)
    assert (ticker["symbol"], ticker["last"], ticker["high"]) == (symbol, 60000.0, 61000.0)
    book = client.fetch_order_book(symbol, 5)
    assert (book["bids"][0][0], book["asks"][0][0]) == (60000.0, 60000.0)
    assert book["bids"][1][0] == pytest.approx(60000 - tick) and book["asks"][1][0] == pytest.approx(60000 + tick)
    assert len(book["bids"]) == len(book["asks"]) == 5
    candles = client.fetch_ohlcv(symbol, "1m", limit=3)
    assert 1 <= len(candles) <= 3
    assert all(opened % 60_000 == 0 for opened, *_ in candles)
    assert (max(high for _, _, high, *_ in candles), candles[-1][4]) == (61000.0, 60000.0)  # high, last close
    seen = {(r["method"], r["path"]) for r in admin.requests()}
    assert not any(path.startswith("/sapi/") for _, path in seen), seen
