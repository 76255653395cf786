"""Market data the common clients read: 24-hour tickers, book tickers, order books and
klines, derived from the exchange's own prices, with Binance's weights and errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests

from paper_exchange.admin_client import SyncPaperAdmin
from tests.support.exchange import Exchange, error_of


def get(exchange: Exchange, path: str, **params: Any) -> Any:
    answer = requests.get(exchange.base_url + path, params=params, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_book_ticker_and_depth_meet_the_last_price(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    assert get(exchange, "/api/v3/ticker/bookTicker", symbol="BTCUSDT") == {
        "symbol": "BTCUSDT", "bidPrice": "60000.00000000", "bidQty": "9000.00000000",
        "askPrice": "60000.00000000", "askQty": "9000.00000000"}
    book = get(exchange, "/api/v3/depth", symbol="BTCUSDT", limit=3)
    assert [level[0] for level in book["bids"]] == ["60000.00000000", "59999.99000000", "59999.98000000"]
    assert [level[0] for level in book["asks"]] == ["60000.00000000", "60000.01000000", "60000.02000000"]
    futures = get(exchange, "/fapi/v1/depth", symbol="BTCUSDT", limit=5)
    assert (futures["bids"][1], futures["asks"][1]) == (["59999.9", "1000"], ["60000.1", "1000"])
    assert len(futures["bids"]) == len(futures["asks"]) == 5


def test_book_shows_the_spread_and_the_liquidity_cap(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    admin.set_price("ETHUSDT", "3000")
    admin.configure(spread="0.001", liquidity={"ETHUSDT": "0.4"})
    ticker = get(exchange, "/fapi/v1/ticker/bookTicker", symbol="ETHUSDT")
    assert (ticker["bidPrice"], ticker["askPrice"], ticker["bidQty"], ticker["askQty"]) == ("2997", "3003", "0.4", "0.4")


def test_ticker_24hr_follows_prices_and_the_account_trades(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "61000")
    admin.set_price("BTCUSDT", "59000")
    admin.set_price("BTCUSDT", "60000")
    fill = exchange.signed("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"})
    trade_id = fill.json()["fills"][0]["tradeId"]
    day = get(exchange, "/api/v3/ticker/24hr", symbol="BTCUSDT")
    assert (day["lastPrice"], day["highPrice"], day["lowPrice"]) == ("60000.00000000", "61000.00000000", "59000.00000000")
    assert (day["volume"], day["quoteVolume"], day["count"], day["firstId"], day["lastId"]) == (
        "0.01000000", "600.00000000", 1, trade_id, trade_id)
    assert Decimal(day["priceChange"]) == Decimal(day["lastPrice"]) - Decimal(day["openPrice"])
    assert day["closeTime"] - day["openTime"] == 86_400_000
    futures = get(exchange, "/fapi/v1/ticker/24hr", symbol="BTCUSDT")
    assert (futures["lastPrice"], futures["count"], futures["firstId"]) == ("60000", 0, -1)  # no futures trades
    mini = get(exchange, "/api/v3/ticker/24hr", symbols='["BTCUSDT","ETHUSDT"]', type="MINI")
    assert [row["symbol"] for row in mini] == ["BTCUSDT", "ETHUSDT"] and "bidPrice" not in mini[0]


def test_klines_end_at_the_current_price(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    admin.set_price("SOLUSDT", "150")
    admin.set_price("SOLUSDT", "152")
    [*_, last] = get(exchange, "/api/v3/klines", symbol="SOLUSDT", interval="1m", limit=5)
    assert last[4] == "152.00000000" and last[2] >= "152.00000000"
    assert last[6] == last[0] + 59_999
    hour = get(exchange, "/fapi/v1/klines", symbol="SOLUSDT", interval="1h")
    assert hour[-1][0] % 3_600_000 == 0 and hour[-1][4] == "152"
    assert len(get(exchange, "/api/v3/klines", symbol="SOLUSDT", interval="1m", limit=1)) == 1


def _weights(admin: SyncPaperAdmin, path: str) -> list[int]:
    return [r["weight"] for r in admin.requests() if r["path"] == path]


@pytest.mark.parametrize(("path", "params", "weight"), [
    ("/api/v3/depth", {"symbol": "BTCUSDT"}, 5),
    ("/api/v3/depth", {"symbol": "BTCUSDT", "limit": 500}, 25),
    ("/api/v3/depth", {"symbol": "BTCUSDT", "limit": 1000}, 50),
    ("/api/v3/depth", {"symbol": "BTCUSDT", "limit": 5000}, 250),
    ("/api/v3/ticker/24hr", {"symbol": "BTCUSDT"}, 2),
    ("/api/v3/ticker/24hr", {"symbols": '["BTCUSDT","ETHUSDT"]'}, 2),
    ("/api/v3/ticker/24hr", {}, 80),
    ("/api/v3/ticker/bookTicker", {"symbol": "BTCUSDT"}, 2),
    ("/api/v3/ticker/bookTicker", {}, 4),
    ("/api/v3/ticker/price", {}, 4),
    ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m"}, 2),
    ("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 5}, 2),
    ("/fapi/v1/depth", {"symbol": "BTCUSDT"}, 10),
    ("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 1000}, 20),
    ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1m", "limit": 99}, 1),
    ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1m"}, 5),
    ("/fapi/v1/ticker/24hr", {}, 40),
    ("/fapi/v1/ticker/bookTicker", {}, 5),
    ("/fapi/v1/premiumIndex", {}, 10),
])
def test_market_data_charges_binance_weight(exchange: Exchange, admin: SyncPaperAdmin, path: str, params: dict[str, Any], weight: int) -> None:
    get(exchange, path, **params)
    assert _weights(admin, path) == [weight]


def test_open_orders_without_a_symbol_cost_what_binance_charges(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    for path in ("/api/v3/openOrders", "/fapi/v1/openOrders"):
        assert exchange.signed("GET", path, {"symbol": "BTCUSDT"}).status_code == 200
        assert exchange.signed("GET", path).status_code == 200
    assert _weights(admin, "/api/v3/openOrders") == [6, 80]
    assert _weights(admin, "/fapi/v1/openOrders") == [1, 40]


@pytest.mark.parametrize(("path", "params", "code"), [
    ("/api/v3/depth", {"symbol": "NOPEUSDT"}, -1121),
    ("/api/v3/depth", {}, -1102),
    ("/api/v3/depth", {"symbol": "BTCUSDT", "limit": "ten"}, -1100),
    ("/api/v3/klines", {"symbol": "BTCUSDT"}, -1102),
    ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "7m"}, -1120),
    ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m", "startTime": "yesterday"}, -1100),
    ("/api/v3/ticker/24hr", {"symbol": "NOPEUSDT"}, -1121),
    ("/api/v3/ticker/24hr", {"symbols": '["BTCUSDT","NOPEUSDT"]'}, -1121),
    ("/api/v3/ticker/24hr", {"symbols": "BTCUSDT"}, -1100),
    ("/api/v3/ticker/24hr", {"symbol": "BTCUSDT", "symbols": '["BTCUSDT"]'}, -1128),
    ("/api/v3/ticker/bookTicker", {"symbol": "NOPEUSDT"}, -1121),
    ("/fapi/v1/depth", {"symbol": "NOPEUSDT"}, -1121),
    ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "2s"}, -1120),
    ("/fapi/v1/ticker/24hr", {"symbol": "NOPEUSDT"}, -1121),
])
def test_bad_market_data_parameters_get_binance_errors(exchange: Exchange, path: str, params: dict[str, Any], code: int) -> None:
    assert error_of(requests.get(exchange.base_url + path, params=params, timeout=10)) == (400, code)
