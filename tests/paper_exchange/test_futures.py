"""USD-M futures through python-binance: leverage, positions, algo stop-loss / take-profit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from binance.async_client import AsyncClient
from binance.client import Client
from binance.exceptions import BinanceAPIException

from paper_exchange.admin_client import SyncPaperAdmin
from tests.support.exchange import Exchange


def position(client: Client, symbol: str = "BTCUSDT") -> dict[str, str]:
    """The symbol's ``/fapi/v3/positionRisk`` row; none (a flat position) reads as amount 0."""
    rows = client.futures_position_information(symbol=symbol)
    assert len(rows) <= 1
    return rows[0] if rows else {"symbol": symbol, "positionAmt": "0"}


def leverage(account: dict[str, Any], symbol: str = "BTCUSDT") -> str:
    """A symbol's leverage from ``/fapi/v2/account`` (v3's positionRisk no longer carries it)."""
    return next(p["leverage"] for p in account["positions"] if p["symbol"] == symbol)


def api_error(call, **kwargs) -> BinanceAPIException:  # noqa: ANN001 - any client method
    with pytest.raises(BinanceAPIException) as caught:
        call(**kwargs)
    return caught.value


def test_futures_market_data_endpoints_answer(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    assert client.futures_ping() == {}
    assert client.futures_time()["serverTime"] > 0
    info = client.futures_exchange_info()
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert (filters["LOT_SIZE"]["stepSize"], filters["MIN_NOTIONAL"]["notional"]) == ("0.001", "100")
    assert client.futures_mark_price(symbol="BTCUSDT")["markPrice"] == "60000"
    assert client.futures_symbol_ticker(symbol="BTCUSDT")["price"] == "60000"


def test_futures_leverage_change_shows_in_position_risk(client: Client) -> None:
    assert client.futures_change_leverage(symbol="BTCUSDT", leverage=7)["leverage"] == 7
    assert leverage(client.futures_account()) == "7"
    assert api_error(client.futures_change_leverage, symbol="BTCUSDT", leverage=500).code == -4028


def test_futures_market_entry_opens_position_and_charges_fee(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    order = client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newClientOrderId="fut-entry")
    assert (order["status"], order["executedQty"], order["avgPrice"]) == ("FILLED", "0.01", "60000")
    held = position(client)
    assert (held["positionAmt"], held["entryPrice"]) == ("0.01", "60000")
    admin.set_price("BTCUSDT", "61000")
    assert Decimal(position(client)["unRealizedProfit"]) == 10
    account = client.futures_account()
    assert Decimal(account["totalWalletBalance"]) == Decimal("1000000") - Decimal("0.24")
    assert Decimal(account["totalUnrealizedProfit"]) == 10
    trades = client.futures_account_trades(symbol="BTCUSDT", orderId=order["orderId"])
    assert [(t["price"], t["qty"], t["commission"]) for t in trades] == [("60000", "0.01", "0.24")]
    assert client.futures_get_order(symbol="BTCUSDT", origClientOrderId="fut-entry")["status"] == "FILLED"


def test_futures_stop_market_close_position_triggers_on_mark_and_closes(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newClientOrderId="t1-entry")
    stop = client.futures_create_order(
        symbol="BTCUSDT", side="SELL", type="STOP_MARKET", stopPrice="58000", closePosition="true", clientAlgoId="t1-sl"
    )
    take = client.futures_create_order(
        symbol="BTCUSDT", side="SELL", type="TAKE_PROFIT_MARKET", triggerPrice="63000", closePosition="true", clientAlgoId="t1-tp"
    )
    assert (stop["clientAlgoId"], stop["algoStatus"], stop["triggerPrice"]) == ("t1-sl", "NEW", "58000")
    assert {a["clientAlgoId"] for a in client.futures_get_open_algo_orders(symbol="BTCUSDT")} == {"t1-sl", "t1-tp"}
    admin.set_price("BTCUSDT", "59000")
    assert position(client)["positionAmt"] == "0.01"
    admin.set_price("BTCUSDT", "57900")
    assert position(client)["positionAmt"] == "0"
    finished = client.futures_get_order(symbol="BTCUSDT", clientAlgoId="t1-sl")
    assert finished["algoStatus"] == "FINISHED"
    actual = client.futures_get_order(symbol="BTCUSDT", orderId=int(finished["actualOrderId"]))
    assert (actual["status"], actual["side"], actual["executedQty"], actual["avgPrice"]) == ("FILLED", "SELL", "0.01", "57900")
    assert actual["origType"] == "STOP_MARKET"
    # The take-profit is still armed; cancelling it by client algo ID ends it.
    cancelled = client.futures_cancel_order(symbol="BTCUSDT", clientAlgoId="t1-tp")
    assert cancelled["clientAlgoId"] == "t1-tp"
    assert client.futures_get_order(symbol="BTCUSDT", clientAlgoId="t1-tp")["algoStatus"] == "CANCELED"
    audit = admin.orders(market="usdm")
    listed = sorted(("algoId" in r, r.get("clientAlgoId") or r["clientOrderId"]) for r in audit)
    assert listed == [(False, "t1-entry"), (False, "t1-sl"), (True, "t1-sl"), (True, "t1-tp")]
    triggered = next(r for r in audit if r.get("clientOrderId") == "t1-sl")
    assert triggered["parentAlgoId"] == stop["algoId"]


def test_futures_take_profit_with_quantity_reduce_only_closes_part(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("ETHUSDT", "3000")
    client.futures_create_order(symbol="ETHUSDT", side="SELL", type="MARKET", quantity="1")
    client.futures_create_order(
        symbol="ETHUSDT", side="BUY", type="TAKE_PROFIT_MARKET", triggerPrice="2900", quantity="0.4", reduceOnly="true",
        clientAlgoId="eth-tp",
    )
    admin.set_price("ETHUSDT", "2890")
    assert position(client, "ETHUSDT")["positionAmt"] == "-0.6"
    wallet = Decimal(client.futures_account()["totalWalletBalance"])
    fees = Decimal("3000") * Decimal("0.0004") + Decimal("0.4") * Decimal("2890") * Decimal("0.0004")
    assert wallet == Decimal("1000000") + Decimal("0.4") * 110 - fees


def test_futures_algo_duplicate_client_algo_id_while_open_is_refused(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    params = dict(symbol="BTCUSDT", side="SELL", type="STOP_MARKET", stopPrice="58000", closePosition="true", clientAlgoId="dup-sl")
    client.futures_create_order(**params)
    error = api_error(client.futures_create_order, **params)
    assert (error.status_code, error.code, error.message) == (400, -4116, "ClientOrderId is duplicated.")
    client.futures_cancel_algo_order(clientAlgoId="dup-sl")
    assert client.futures_create_order(**params)["algoStatus"] == "NEW"


def test_futures_duplicate_client_order_id_while_open_is_refused_with_4116(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    params = dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="50000", newClientOrderId="fdup")
    client.futures_create_order(**params)
    error = api_error(client.futures_create_order, **params)
    # USD-M futures answer with their own code and text, not spot's -2010 "Duplicate order sent.".
    assert (error.status_code, error.code, error.message) == (400, -4116, "ClientOrderId is duplicated.")
    assert len(admin.orders(clientOrderId="fdup", market="usdm")) == 1
    client.futures_cancel_order(symbol="BTCUSDT", origClientOrderId="fdup")
    assert client.futures_create_order(**params)["status"] == "NEW"


def test_futures_algo_that_would_trigger_now_is_refused(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    error = api_error(
        client.futures_create_order, symbol="BTCUSDT", side="SELL", type="STOP_MARKET", stopPrice="61000", closePosition="true"
    )
    assert error.code == -2021


def test_futures_reduce_only_without_position_is_refused(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    error = api_error(client.futures_create_order, symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.01", reduceOnly="true")
    assert error.code == -2022


def test_futures_limit_rests_fills_on_cross_and_unknown_lookups_fail(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    order = client.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="59000", newClientOrderId="fut-lmt"
    )
    assert order["status"] == "NEW"
    assert [o["clientOrderId"] for o in client.futures_get_open_orders(symbol="BTCUSDT")] == ["fut-lmt"]
    admin.set_price("BTCUSDT", "58950")
    assert client.futures_get_order(symbol="BTCUSDT", orderId=order["orderId"])["status"] == "FILLED"
    assert position(client)["entryPrice"] == "59000"
    assert api_error(client.futures_get_order, symbol="BTCUSDT", origClientOrderId="nope").code == -2013
    assert api_error(client.futures_cancel_order, symbol="BTCUSDT", origClientOrderId="fut-lmt").code == -2011
    assert api_error(client.futures_get_order, symbol="BTCUSDT", clientAlgoId="nope").code == -2013
    assert api_error(client.futures_cancel_order, symbol="BTCUSDT", clientAlgoId="nope").code == -2011


def test_futures_limit_cancel_reports_canceled(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    client.futures_create_order(
        symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.01", price="65000", newClientOrderId="fut-cx"
    )
    assert client.futures_cancel_order(symbol="BTCUSDT", origClientOrderId="fut-cx")["status"] == "CANCELED"


def test_futures_filter_and_symbol_errors(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    assert api_error(client.futures_create_order, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.0015").code == -1013
    assert api_error(client.futures_create_order, symbol="NOPEUSDT", side="BUY", type="MARKET", quantity="1").code == -1121


def test_futures_insufficient_margin_is_refused(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    admin.set_balance("USDT", "10", market="usdm")
    assert api_error(client.futures_create_order, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01").code == -2019


async def test_futures_async_client_full_flow(aclient: AsyncClient, admin: SyncPaperAdmin) -> None:
    await admin.aio.set_price("SOLUSDT", "150")
    assert await aclient.futures_ping() == {}
    assert (await aclient.futures_time())["serverTime"] > 0
    assert len((await aclient.futures_exchange_info())["symbols"]) == 5
    assert (await aclient.futures_mark_price(symbol="SOLUSDT"))["markPrice"] == "150"
    assert (await aclient.futures_symbol_ticker(symbol="SOLUSDT"))["price"] == "150"
    await aclient.futures_change_leverage(symbol="SOLUSDT", leverage=5)
    entry = await aclient.futures_create_order(symbol="SOLUSDT", side="BUY", type="MARKET", quantity="10", newClientOrderId="a-entry")
    assert entry["status"] == "FILLED"
    sl = await aclient.futures_create_order(
        symbol="SOLUSDT", side="SELL", type="STOP_MARKET", stopPrice="140", closePosition="true", clientAlgoId="a-sl"
    )
    assert (await aclient.futures_get_order(symbol="SOLUSDT", algoId=sl["algoId"]))["algoStatus"] == "NEW"
    assert [a["clientAlgoId"] for a in await aclient.futures_get_open_orders(symbol="SOLUSDT", conditional=True)] == ["a-sl"]
    await aclient.futures_create_order(
        symbol="SOLUSDT", side="SELL", type="TAKE_PROFIT_MARKET", triggerPrice="180", closePosition="true", clientAlgoId="a-tp"
    )
    assert (await aclient.futures_cancel_order(symbol="SOLUSDT", clientAlgoId="a-tp"))["clientAlgoId"] == "a-tp"
    assert (await aclient.futures_get_order(symbol="SOLUSDT", clientAlgoId="a-tp"))["algoStatus"] == "CANCELED"
    fetched = await aclient.futures_get_order(symbol="SOLUSDT", origClientOrderId="a-entry")
    assert (fetched["orderId"], fetched["status"]) == (entry["orderId"], "FILLED")
    limit = await aclient.futures_create_order(
        symbol="SOLUSDT", side="SELL", type="LIMIT", timeInForce="GTC", quantity="10", price="170", newClientOrderId="a-lmt"
    )
    assert [o["orderId"] for o in await aclient.futures_get_open_orders(symbol="SOLUSDT")] == [limit["orderId"]]
    assert (await aclient.futures_cancel_order(symbol="SOLUSDT", orderId=limit["orderId"]))["status"] == "CANCELED"
    risk = await aclient.futures_position_information(symbol="SOLUSDT")
    assert (risk[0]["positionAmt"], leverage(await aclient.futures_account(), "SOLUSDT")) == ("10", "5")
    await admin.aio.set_price("SOLUSDT", "139")
    assert await aclient.futures_position_information(symbol="SOLUSDT") == []  # v3 lists held symbols only
    account = await aclient.futures_account()
    assert Decimal(account["totalWalletBalance"]) < Decimal("1000000")
    trades = await aclient.futures_account_trades(symbol="SOLUSDT")
    assert [t["realizedPnl"] for t in trades] == ["0", "-110"]


def test_futures_history_balance_and_test_order_endpoints(exchange: Exchange, client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    assert client.futures_create_test_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01") == {}
    assert admin.orders() == []
    client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newClientOrderId="h-1")
    client.futures_create_order(
        symbol="BTCUSDT", side="SELL", type="STOP_MARKET", stopPrice="50000", closePosition="true", clientAlgoId="h-sl"
    )
    assert [o["clientOrderId"] for o in client.futures_get_all_orders(symbol="BTCUSDT")] == ["h-1"]
    assert [a["clientAlgoId"] for a in client.futures_get_all_algo_orders(symbol="BTCUSDT")] == ["h-sl"]
    balance = client.futures_account_balance()
    assert balance[0]["asset"] == "USDT" and Decimal(balance[0]["balance"]) == Decimal("1000000") - Decimal("0.24")
    # Conditional types sent straight to /fapi/v1/order are refused, as Binance now does.
    response = exchange.signed(
        "POST", "/fapi/v1/order", {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET", "stopPrice": "50000", "quantity": "0.01"}
    )
    assert response.status_code == 400 and response.json()["code"] == -4120
