"""Every REST body the paper exchange answers has the shape Binance documents for it.

For each endpoint the body is compared with Binance's published example
(``binance_examples.py``, each with its source): every documented key present, no key the
example does not have, and the same JSON type (string, number, boolean, list, object) at
every place. Lists are compared item by item with the example's first item. A few keys
Binance documents as conditional (present only for some order types) are named per case.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from paper_exchange.admin_client import SyncPaperAdmin
from tests.paper_exchange import binance_examples as doc
from tests.support.exchange import Exchange

# Keys Binance's futures order examples show for trailing-stop orders only.
TRAILING = frozenset({"activatePrice", "priceRate"})


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return type(value).__name__


def mismatches(documented: Any, actual: Any, conditional: Iterable[str] = (), where: str = "$") -> list[str]:
    """How ``actual`` differs in shape from ``documented`` (empty when it does not)."""
    optional = frozenset(conditional)
    if isinstance(documented, dict):
        if not isinstance(actual, dict):
            return [f"{where}: {_kind(actual)} where the docs have an object"]
        found = [f"{where}: missing {key!r}" for key in documented if key not in actual and key not in optional]
        found += [f"{where}: undocumented {key!r}" for key in actual if key not in documented]
        for key in [k for k in documented if k in actual]:
            found += mismatches(documented[key], actual[key], optional, f"{where}.{key}")
        return found
    if isinstance(documented, list):
        if not isinstance(actual, list):
            return [f"{where}: {_kind(actual)} where the docs have a list"]
        if not documented or not actual:
            return []
        if len({_kind(item) for item in documented}) > 1:  # a row such as a kline: position by position
            if len(actual) != len(documented):
                return [f"{where}: {len(actual)} items where the docs have {len(documented)}"]
            return [m for i, (d, a) in enumerate(zip(documented, actual, strict=True)) for m in mismatches(d, a, optional, f"{where}[{i}]")]
        return [m for i, item in enumerate(actual) for m in mismatches(documented[0], item, optional, f"{where}[{i}]")]
    if _kind(documented) != _kind(actual):
        return [f"{where}: {_kind(actual)} {actual!r} where the docs have {_kind(documented)} {documented!r}"]
    return []


def test_mismatches_names_missing_extra_and_mistyped_keys() -> None:
    documented = {"a": "1", "b": 2, "rows": [{"c": True}]}
    assert mismatches(documented, {"a": "x", "b": 3, "rows": [{"c": False}]}) == []
    assert mismatches(documented, {"a": 1, "rows": [{"c": True, "d": 0}]}) == [
        "$: missing 'b'", "$.a: number 1 where the docs have string '1'", "$.rows[0]: undocumented 'd'"]
    assert mismatches([[1, "2"]], [[1, "2", "3"]]) == ["$[0]: 3 items where the docs have 2"]


@dataclass(frozen=True)
class Case:
    """One endpoint: how to ask it, and the example to compare the answer with."""

    name: str
    example: Any
    ask: Callable[[Exchange], requests.Response]
    conditional: frozenset[str] = field(default_factory=frozenset)
    pick: Callable[[Any], Any] = lambda body: body


def public(path: str, **params: Any) -> Callable[[Exchange], requests.Response]:
    return lambda ex: requests.get(ex.base_url + path, params=params, timeout=10)


def signed(method: str, path: str, **params: Any) -> Callable[[Exchange], requests.Response]:
    return lambda ex: ex.signed(method, path, params)


def _state(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    """Something to show: a spot fill and a resting order, a futures position, a resting
    futures order and a conditional order."""
    admin.set_price("BTCUSDT", "60000")
    for method, path, params in [
        ("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}),
        ("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                   "quantity": "0.01", "price": "50000", "newClientOrderId": "shape-spot"}),
        ("POST", "/fapi/v1/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}),
        ("POST", "/fapi/v1/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                    "quantity": "0.01", "price": "50000", "newClientOrderId": "shape-usdm"}),
        ("POST", "/fapi/v1/algoOrder", {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL",
                                        "type": "STOP_MARKET", "triggerPrice": "55000", "closePosition": "true",
                                        "clientAlgoId": "shape-algo"}),
    ]:
        answer = exchange.signed(method, path, params)
        assert answer.status_code == 200, answer.text


def _spot_order(resp: str) -> Callable[[Exchange], requests.Response]:
    return signed("POST", "/api/v3/order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001", newOrderRespType=resp)


def _first_symbol(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "symbols": body["symbols"][:1]}


CASES = [
    Case("spot ping", doc.SPOT_PING, public("/api/v3/ping")),
    Case("spot time", doc.SPOT_TIME, public("/api/v3/time")),
    Case("spot exchangeInfo", doc.SPOT_EXCHANGE_INFO, public("/api/v3/exchangeInfo"),
         pick=lambda b: {**_first_symbol(b), "symbols": [{**b["symbols"][0], "filters": []}]}),
    Case("spot ticker/price", doc.SPOT_TICKER_PRICE, public("/api/v3/ticker/price", symbol="BTCUSDT")),
    Case("spot ticker/24hr", doc.SPOT_TICKER_24HR, public("/api/v3/ticker/24hr", symbol="BTCUSDT")),
    Case("spot ticker/24hr MINI", doc.SPOT_TICKER_24HR_MINI, public("/api/v3/ticker/24hr", symbol="BTCUSDT", type="MINI")),
    Case("spot ticker/bookTicker", doc.SPOT_BOOK_TICKER, public("/api/v3/ticker/bookTicker", symbol="BTCUSDT")),
    Case("spot depth", doc.SPOT_DEPTH, public("/api/v3/depth", symbol="BTCUSDT", limit=5)),
    Case("spot klines", doc.SPOT_KLINES, public("/api/v3/klines", symbol="BTCUSDT", interval="1m")),
    Case("spot order ACK", doc.SPOT_ORDER_ACK, _spot_order("ACK")),
    Case("spot order RESULT", doc.SPOT_ORDER_RESULT, _spot_order("RESULT")),
    Case("spot order FULL", doc.SPOT_ORDER_FULL, _spot_order("FULL")),
    Case("spot order/test", doc.SPOT_ORDER_TEST,
         signed("POST", "/api/v3/order/test", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")),
    Case("spot query order", doc.SPOT_QUERY_ORDER, signed("GET", "/api/v3/order", symbol="BTCUSDT", origClientOrderId="shape-spot")),
    Case("spot cancel", doc.SPOT_CANCEL, signed("DELETE", "/api/v3/order", symbol="BTCUSDT", origClientOrderId="shape-spot")),
    Case("spot openOrders", doc.SPOT_OPEN_ORDERS, signed("GET", "/api/v3/openOrders", symbol="BTCUSDT")),
    Case("spot account", doc.SPOT_ACCOUNT, signed("GET", "/api/v3/account")),
    Case("spot myTrades", doc.SPOT_MY_TRADES, signed("GET", "/api/v3/myTrades", symbol="BTCUSDT")),
    Case("futures ping", doc.SPOT_PING, public("/fapi/v1/ping")),
    Case("futures time", doc.FUTURES_CHECK_SERVER_TIME, public("/fapi/v1/time")),
    Case("futures exchangeInfo", doc.FUTURES_EXCHANGE_INFORMATION, public("/fapi/v1/exchangeInfo"),
         pick=lambda b: {**_first_symbol(b), "symbols": [{**b["symbols"][0], "filters": []}]}),
    Case("futures premiumIndex", doc.FUTURES_MARK_PRICE, public("/fapi/v1/premiumIndex", symbol="BTCUSDT")),
    Case("futures ticker/price", doc.FUTURES_SYMBOL_PRICE_TICKER, public("/fapi/v1/ticker/price", symbol="BTCUSDT")),
    Case("futures v2 ticker/price", doc.FUTURES_SYMBOL_PRICE_TICKER_V2, public("/fapi/v2/ticker/price", symbol="BTCUSDT")),
    Case("futures ticker/24hr", doc.FUTURES_TICKER24HR_PRICE_CHANGE_STATISTICS, public("/fapi/v1/ticker/24hr", symbol="BTCUSDT")),
    Case("futures ticker/bookTicker", doc.FUTURES_SYMBOL_ORDER_BOOK_TICKER, public("/fapi/v1/ticker/bookTicker", symbol="BTCUSDT")),
    Case("futures depth", doc.FUTURES_ORDER_BOOK, public("/fapi/v1/depth", symbol="BTCUSDT", limit=5)),
    Case("futures klines", doc.FUTURES_KLINE_CANDLESTICK_DATA, public("/fapi/v1/klines", symbol="BTCUSDT", interval="1m")),
    Case("futures new order", doc.FUTURES_TEST_ORDER,
         signed("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="40000"),
         TRAILING),
    Case("futures query order", doc.FUTURES_QUERY_ORDER, signed("GET", "/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="shape-usdm"),
         TRAILING),
    Case("futures cancel", doc.FUTURES_CANCEL_ORDER, signed("DELETE", "/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="shape-usdm"),
         TRAILING),
    Case("futures openOrders", doc.FUTURES_CURRENT_ALL_OPEN_ORDERS, signed("GET", "/fapi/v1/openOrders", symbol="BTCUSDT"), TRAILING),
    # The USDⓈ-M All Orders page shows the Query Order example's fields (the SDK's copy adds
    # COIN-M's cumBase and pair): https://developers.binance.com/docs/zh-CN/derivatives/usds-margined-futures/trade/rest-api/All-Orders
    Case("futures allOrders", [doc.FUTURES_QUERY_ORDER], signed("GET", "/fapi/v1/allOrders", symbol="BTCUSDT"), TRAILING),
    Case("futures listenKey", doc.FUTURES_START_USER_DATA_STREAM,
         lambda ex: requests.post(ex.base_url + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": ex.api_key}, timeout=10)),
    Case("futures leverage", doc.FUTURES_CHANGE_INITIAL_LEVERAGE, signed("POST", "/fapi/v1/leverage", symbol="BTCUSDT", leverage="5")),
    Case("futures v2 positionRisk", doc.FUTURES_POSITION_INFORMATION_V2, signed("GET", "/fapi/v2/positionRisk", symbol="BTCUSDT")),
    Case("futures v3 positionRisk", doc.FUTURES_POSITION_INFORMATION_V3, signed("GET", "/fapi/v3/positionRisk", symbol="BTCUSDT")),
    Case("futures v2 account", doc.FUTURES_ACCOUNT_INFORMATION_V2, signed("GET", "/fapi/v2/account")),
    Case("futures v3 account", doc.FUTURES_ACCOUNT_INFORMATION_V3, signed("GET", "/fapi/v3/account")),
    Case("futures v2 balance", doc.FUTURES_FUTURES_ACCOUNT_BALANCE_V2, signed("GET", "/fapi/v2/balance")),
    Case("futures v3 balance", doc.FUTURES_FUTURES_ACCOUNT_BALANCE_V3, signed("GET", "/fapi/v3/balance")),
    Case("futures userTrades", doc.FUTURES_ACCOUNT_TRADE_LIST, signed("GET", "/fapi/v1/userTrades", symbol="BTCUSDT"),
         # baseQty and pair belong to COIN-M's trade list, which the SDK's example shares.
         frozenset({"baseQty", "pair", "marginAsset"})),
    Case("futures new algoOrder", doc.FUTURES_NEW_ALGO_ORDER,
         signed("POST", "/fapi/v1/algoOrder", algoType="CONDITIONAL", symbol="BTCUSDT", side="SELL", type="TAKE_PROFIT_MARKET",
                triggerPrice="70000", closePosition="true"),
         # activatePrice / callbackRate: trailing stops only.
         frozenset({"activatePrice", "callbackRate"})),
    Case("futures query algoOrder", doc.FUTURES_QUERY_ALGO_ORDER, signed("GET", "/fapi/v1/algoOrder", clientAlgoId="shape-algo"),
         # actualType / actualQty: once triggered.
         frozenset({"actualType", "actualQty"})),
    Case("futures cancel algoOrder", doc.FUTURES_CANCEL_ALGO_ORDER, signed("DELETE", "/fapi/v1/algoOrder", clientAlgoId="shape-algo")),
    Case("futures openAlgoOrders", doc.FUTURES_CURRENT_ALL_ALGO_OPEN_ORDERS, signed("GET", "/fapi/v1/openAlgoOrders", symbol="BTCUSDT")),
    Case("futures allAlgoOrders", doc.FUTURES_QUERY_ALL_ALGO_ORDERS, signed("GET", "/fapi/v1/allAlgoOrders", symbol="BTCUSDT")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_body_has_binance_documented_shape(case: Case, exchange: Exchange, admin: SyncPaperAdmin) -> None:
    _state(exchange, admin)
    answer = case.ask(exchange)
    assert answer.status_code == 200, answer.text
    body = case.pick(answer.json())
    if isinstance(body, list):
        assert body, f"{case.name}: an empty list shows no shape"
    assert mismatches(case.example, body, case.conditional) == []


def _filters_by_type(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["filterType"]: f for f in body["symbols"][0]["filters"]}


def test_spot_symbol_filters_have_documented_shapes(exchange: Exchange) -> None:
    filters = _filters_by_type(requests.get(exchange.base_url + "/api/v3/exchangeInfo", params={"symbol": "BTCUSDT"}, timeout=10).json())
    documented = {name[len("SPOT_FILTER_"):]: getattr(doc, name) for name in dir(doc) if name.startswith("SPOT_FILTER_")}
    assert set(filters) <= set(documented)
    assert {name: mismatches(documented[name], f) for name, f in filters.items()} == dict.fromkeys(filters, [])


def test_futures_symbol_filters_have_documented_shapes(exchange: Exchange) -> None:
    filters = _filters_by_type(requests.get(exchange.base_url + "/fapi/v1/exchangeInfo", timeout=10).json())
    assert set(filters) <= set(doc.FUTURES_FILTERS)
    assert {name: mismatches(doc.FUTURES_FILTERS[name], f) for name, f in filters.items()} == dict.fromkeys(filters, [])
