"""Spot endpoints through python-binance's sync and async clients."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from binance.async_client import AsyncClient
from binance.client import Client
from binance.exceptions import BinanceAPIException

from paper_exchange.admin_client import SyncPaperAdmin
from tests.support.exchange import Exchange, error_of


def balances(client: Client) -> dict[str, tuple[Decimal, Decimal]]:
    return {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"])) for b in client.get_account()["balances"]}


def api_error(call, *args, **kwargs) -> BinanceAPIException:  # noqa: ANN001 - any client method
    with pytest.raises(BinanceAPIException) as caught:
        call(*args, **kwargs)
    return caught.value


# ---- market data -----------------------------------------------------------------------


def test_exchange_info_lists_default_symbols_with_filters(client: Client) -> None:
    info = client.get_exchange_info()
    symbols = {s["symbol"]: s for s in info["symbols"]}
    assert set(symbols) == {"BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"}
    filters = {f["filterType"]: f for f in symbols["BTCUSDT"]["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert filters["NOTIONAL"]["minNotional"] == "5.00000000"


def test_ticker_price_after_admin_set_is_that_price(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("ETHUSDT", "3100.5")
    assert client.get_symbol_ticker(symbol="ETHUSDT") == {"symbol": "ETHUSDT", "price": "3100.50000000"}


def test_ticker_price_without_symbol_lists_all(client: Client) -> None:
    assert {row["symbol"] for row in client.get_symbol_ticker()} >= {"BTCUSDT", "XRPUSDT"}


def test_server_time_and_ping_answer(client: Client) -> None:
    assert client.ping() == {}
    assert client.get_server_time()["serverTime"] > 0


# ---- MARKET and LIMIT orders -------------------------------------------------------------


def test_market_buy_fills_at_price_with_fee_in_quote(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    before = balances(client)
    order = client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newClientOrderId="mkt-1")
    assert order["status"] == "FILLED"
    assert order["clientOrderId"] == "mkt-1"
    assert order["executedQty"] == "0.01000000"
    assert order["cummulativeQuoteQty"] == "600.00000000"
    assert order["fills"] == [
        {"price": "60000.00000000", "qty": "0.01000000", "commission": "0.60000000", "commissionAsset": "USDT", "tradeId": 1}
    ]
    after = balances(client)
    assert after["BTC"][0] - before["BTC"][0] == Decimal("0.01")
    assert before["USDT"][0] - after["USDT"][0] == Decimal("600.6")


def test_market_buy_by_quote_order_qty_rounds_quantity_down(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    order = client.order_market_buy(symbol="BTCUSDT", quoteOrderQty="100")
    assert order["status"] == "FILLED"
    assert order["executedQty"] == "0.00166000"


def test_market_sell_moves_base_to_quote(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("SOLUSDT", "150")
    before = balances(client)
    client.create_order(symbol="SOLUSDT", side="SELL", type="MARKET", quantity="2")
    after = balances(client)
    assert before["SOL"][0] - after["SOL"][0] == 2
    assert after["USDT"][0] - before["USDT"][0] == Decimal("300") - Decimal("0.3")


def test_limit_below_price_rests_and_locks_quote(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    order = client.create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="50000", newClientOrderId="rest-1"
    )
    assert order["status"] == "NEW"
    assert order["fills"] == []
    assert balances(client)["USDT"][1] == Decimal("500.5")  # notional plus the fee
    assert [o["clientOrderId"] for o in client.get_open_orders(symbol="BTCUSDT")] == ["rest-1"]
    assert client.get_order(symbol="BTCUSDT", orderId=order["orderId"])["status"] == "NEW"
    assert client.get_order(symbol="BTCUSDT", origClientOrderId="rest-1")["orderId"] == order["orderId"]


def test_limit_crossing_at_placement_fills_as_taker_at_current_price(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    order = client.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="61000")
    assert order["status"] == "FILLED"
    assert order["fills"][0]["price"] == "60000.00000000"
    assert balances(client)["USDT"][1] == 0


def test_limit_fills_when_admin_price_crosses(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("ETHUSDT", "3000")
    order = client.create_order(
        symbol="ETHUSDT", side="SELL", type="LIMIT", timeInForce="GTC", quantity="1", price="3100", newClientOrderId="tp-1"
    )
    assert order["status"] == "NEW"
    assert balances(client)["ETH"][1] == 1
    assert admin.set_price("ETHUSDT", "3150")["fills"] == 1
    filled = client.get_order(symbol="ETHUSDT", origClientOrderId="tp-1")
    assert filled["status"] == "FILLED"
    assert filled["cummulativeQuoteQty"] == "3100.00000000"  # a resting order fills at its own price
    assert balances(client)["ETH"][1] == 0
    trades = client.get_my_trades(symbol="ETHUSDT", orderId=order["orderId"])
    assert [(t["price"], t["qty"], t["commission"], t["isMaker"]) for t in trades] == [
        ("3100.00000000", "1.00000000", "3.10000000", True)
    ]


def test_cancel_by_client_id_unlocks_and_reports_canceled(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    client.create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="50000", newClientOrderId="cx-1"
    )
    cancelled = client.cancel_order(symbol="BTCUSDT", origClientOrderId="cx-1")
    assert cancelled["status"] == "CANCELED"
    assert cancelled["origClientOrderId"] == "cx-1"
    assert balances(client)["USDT"] == (Decimal("1000000"), Decimal(0))
    assert client.get_open_orders(symbol="BTCUSDT") == []


def test_liquidity_cap_partially_fills_limit_then_cancel_keeps_executed(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    admin.configure(liquidity={"BTCUSDT": "0.4"})
    order = client.create_order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC", quantity="1", price="61000")
    assert order["status"] == "NEW"
    admin.set_price("BTCUSDT", "61500")
    assert client.get_order(symbol="BTCUSDT", orderId=order["orderId"])["executedQty"] == "0.40000000"
    admin.set_price("BTCUSDT", "61500")
    partial = client.get_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert (partial["status"], partial["executedQty"]) == ("PARTIALLY_FILLED", "0.80000000")
    cancelled = client.cancel_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert (cancelled["status"], cancelled["executedQty"]) == ("CANCELED", "0.80000000")
    assert len(client.get_my_trades(symbol="BTCUSDT", orderId=order["orderId"])) == 2
    assert balances(client)["BTC"] == (Decimal("99.2"), Decimal(0))


def test_market_order_over_liquidity_cap_expires_rest(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    admin.configure(liquidity={"*": "0.3"})
    order = client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="1")
    assert (order["status"], order["executedQty"]) == ("EXPIRED", "0.30000000")


def test_ioc_limit_fills_what_crosses_and_expires_rest(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    admin.configure(liquidity={"BTCUSDT": "0.5"})
    order = client.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="IOC", quantity="1", price="60000")
    assert (order["status"], order["executedQty"]) == ("EXPIRED", "0.50000000")
    assert balances(client)["USDT"][1] == 0


def test_fok_limit_that_cannot_fill_whole_expires_untouched(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    admin.configure(liquidity={"BTCUSDT": "0.5"})
    order = client.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="FOK", quantity="1", price="60000")
    assert (order["status"], order["executedQty"]) == ("EXPIRED", "0.00000000")
    full = client.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="FOK", quantity="0.5", price="60000")
    assert full["status"] == "FILLED"


def test_new_order_resp_type_ack_and_result_shapes(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    ack = client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001", newOrderRespType="ACK")
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    result = client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001", newOrderRespType="RESULT")
    assert result["status"] == "FILLED" and "fills" not in result


def test_order_ids_increase_monotonically(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    ids = [client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")["orderId"] for _ in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_test_order_validates_without_placing(client: Client, admin: SyncPaperAdmin) -> None:
    assert client.create_test_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001") == {}
    error = api_error(client.create_test_order, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.000001")
    assert error.code == -1013
    assert admin.orders() == []


def test_admin_orders_lists_every_accepted_order_with_audit_fields(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newClientOrderId="audit-1")
    client.create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="50000", newClientOrderId="audit-2"
    )
    rows = admin.orders(symbol="BTCUSDT")
    assert [(r["clientOrderId"], r["status"], r["market"]) for r in rows] == [
        ("audit-1", "FILLED", "spot"),
        ("audit-2", "NEW", "spot"),
    ]
    assert rows[0]["avgPrice"] == "60000" and rows[0]["executedQty"] == "0.01"
    assert {"side", "type", "orderId", "origQty", "price", "timeInForce", "time", "updateTime"} <= set(rows[0])
    assert [r["clientOrderId"] for r in admin.orders(clientOrderId="audit-2")] == ["audit-2"]


# ---- the duplicate client order ID rule ----------------------------------------------------


def test_duplicate_client_id_while_open_is_refused_with_2010(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    params = dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="50000")
    client.create_order(newClientOrderId="dup-open", **params)
    error = api_error(client.create_order, newClientOrderId="dup-open", **params)
    assert (error.code, error.message) == (-2010, "Duplicate order sent.")
    assert len(admin.orders(clientOrderId="dup-open")) == 1


def test_duplicate_client_id_after_fill_is_accepted_as_new_order(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    first = client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newClientOrderId="dup-filled")
    second = client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newClientOrderId="dup-filled")
    assert second["orderId"] > first["orderId"]
    assert len(admin.orders(clientOrderId="dup-filled")) == 2
    # Lookups by client ID find the most recent order.
    assert client.get_order(symbol="BTCUSDT", origClientOrderId="dup-filled")["orderId"] == second["orderId"]


def test_duplicate_client_id_after_cancel_is_accepted(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    params = dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="50000")
    client.create_order(newClientOrderId="dup-cx", **params)
    client.cancel_order(symbol="BTCUSDT", origClientOrderId="dup-cx")
    assert client.create_order(newClientOrderId="dup-cx", **params)["status"] == "NEW"


# ---- rejections ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"type": "MARKET", "quantity": "0.000001"}, "Filter failure: LOT_SIZE"),
        ({"type": "MARKET", "quantity": "0.000015"}, "Filter failure: LOT_SIZE"),
        ({"type": "MARKET", "quantity": "0.00001"}, "Filter failure: NOTIONAL"),
        ({"type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01", "price": "50000.001"}, "Filter failure: PRICE_FILTER"),
    ],
)
def test_order_breaking_filter_is_refused_with_1013(client: Client, admin: SyncPaperAdmin, params: dict[str, str], message: str) -> None:
    admin.set_price("BTCUSDT", "60000")
    error = api_error(client.create_order, symbol="BTCUSDT", side="BUY", **params)
    assert (error.code, error.message) == (-1013, message)
    assert admin.orders() == []


def test_unknown_symbol_is_refused_with_1121(client: Client) -> None:
    error = api_error(client.create_order, symbol="DOGEUSDT", side="BUY", type="MARKET", quantity="1")
    assert (error.code, error.message) == (-1121, "Invalid symbol.")
    assert api_error(client.get_symbol_ticker, symbol="NOPEUSDT").code == -1121


def test_insufficient_quote_balance_is_refused_with_2010(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_balance("USDT", "10")
    error = api_error(client.create_order, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    assert (error.code, error.message) == (-2010, "Account has insufficient balance for requested action.")
    limit = api_error(
        client.create_order, symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="50000"
    )
    assert limit.code == -2010
    assert admin.orders() == []


def test_insufficient_base_balance_is_refused_with_2010(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    error = api_error(client.create_order, symbol="BTCUSDT", side="SELL", type="MARKET", quantity="101")
    assert error.code == -2010


def test_get_unknown_order_is_refused_with_2013(client: Client) -> None:
    assert api_error(client.get_order, symbol="BTCUSDT", orderId=999999).code == -2013
    error = api_error(client.get_order, symbol="BTCUSDT", origClientOrderId="never-sent")
    assert (error.code, error.message) == (-2013, "Order does not exist.")


def test_cancel_unknown_or_filled_order_is_refused_with_2011(client: Client, admin: SyncPaperAdmin) -> None:
    error = api_error(client.cancel_order, symbol="BTCUSDT", origClientOrderId="never-sent")
    assert (error.code, error.message) == (-2011, "Unknown order sent.")
    admin.set_price("BTCUSDT", "60000")
    filled = client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")
    assert api_error(client.cancel_order, symbol="BTCUSDT", orderId=filled["orderId"]).code == -2011


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"side": "BUY", "type": "MARKET"}, -1102),
        ({"side": "BUY", "quantity": "1"}, -1102),
        ({"type": "LIMIT", "side": "BUY", "quantity": "0.01", "timeInForce": "GTC"}, -1102),
        ({"side": "BUY", "type": "MARKET", "quantity": "abc"}, -1100),
        ({"side": "BUY", "type": "MARKET", "quantity": "1e3"}, -1100),
        ({"side": "HOLD", "type": "MARKET", "quantity": "1"}, -1117),
        ({"side": "BUY", "type": "SOMETIMES", "quantity": "1"}, -1116),
        ({"side": "BUY", "type": "LIMIT", "timeInForce": "NEVER", "quantity": "0.01", "price": "1"}, -1115),
        ({"side": "BUY", "type": "MARKET", "quantity": "0.01", "newClientOrderId": "has space"}, -1100),
        ({"side": "BUY", "type": "MARKET", "quantity": "0"}, -1013),
    ],
)
def test_bad_order_params_get_binance_error_json(exchange: Exchange, params: dict[str, str], code: int) -> None:
    response = exchange.signed("POST", "/api/v3/order", {"symbol": "BTCUSDT", **params})
    assert error_of(response) == (400, code)


def test_missing_symbol_is_refused_with_1102(exchange: Exchange) -> None:
    response = exchange.signed("POST", "/api/v3/order", {"side": "BUY", "type": "MARKET", "quantity": "1"})
    assert error_of(response) == (400, -1102)


def test_huge_body_is_refused_with_json_error(exchange: Exchange) -> None:
    response = requests.post(
        f"{exchange.base_url}/api/v3/order",
        data="a=" + "x" * 200_000,
        headers={"X-MBX-APIKEY": exchange.api_key, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["code"] < 0


def test_garbage_body_is_refused_with_json_error(exchange: Exchange) -> None:
    response = requests.post(
        f"{exchange.base_url}/api/v3/order",
        data=b"\xff\xfe\x00garbage",
        headers={"X-MBX-APIKEY": exchange.api_key},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["code"] < 0


def test_unknown_path_answers_json_404(exchange: Exchange) -> None:
    response = requests.get(f"{exchange.base_url}/api/v3/nothing-here", timeout=10)
    assert response.status_code == 404
    assert response.json()["code"] == -1000


# ---- the async client ----------------------------------------------------------------------


async def test_async_client_market_limit_get_cancel_account_trades(aclient: AsyncClient, admin: SyncPaperAdmin) -> None:
    await admin.aio.set_price("BTCUSDT", "60000")
    assert await aclient.ping() == {}
    assert (await aclient.get_server_time())["serverTime"] > 0
    assert len((await aclient.get_exchange_info())["symbols"]) == 5
    assert (await aclient.get_symbol_ticker(symbol="BTCUSDT"))["price"] == "60000.00000000"
    market = await aclient.create_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newClientOrderId="async-mkt"
    )
    assert market["status"] == "FILLED" and market["fills"][0]["commission"] == "0.60000000"
    limit = await aclient.create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="50000", newClientOrderId="async-lmt"
    )
    assert (await aclient.get_order(symbol="BTCUSDT", origClientOrderId="async-lmt"))["status"] == "NEW"
    assert [o["orderId"] for o in await aclient.get_open_orders(symbol="BTCUSDT")] == [limit["orderId"]]
    assert (await aclient.cancel_order(symbol="BTCUSDT", orderId=limit["orderId"]))["status"] == "CANCELED"
    account = await aclient.get_account()
    assert {b["asset"]: b["free"] for b in account["balances"]}["BTC"] == "100.01000000"
    trades = await aclient.get_my_trades(symbol="BTCUSDT", orderId=market["orderId"])
    assert [t["commission"] for t in trades] == ["0.60000000"]
    assert await aclient.create_test_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01") == {}


async def test_async_client_errors_carry_binance_codes(aclient: AsyncClient, admin: SyncPaperAdmin) -> None:
    await admin.aio.set_price("BTCUSDT", "60000")
    params = dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="50000")
    await aclient.create_order(newClientOrderId="async-dup", **params)
    for call, kwargs, code in (
        (aclient.create_order, {"newClientOrderId": "async-dup", **params}, -2010),
        (aclient.get_order, {"symbol": "BTCUSDT", "origClientOrderId": "missing"}, -2013),
        (aclient.cancel_order, {"symbol": "BTCUSDT", "origClientOrderId": "missing"}, -2011),
        (aclient.create_order, {**params, "quantity": "0.000001"}, -1013),
        (aclient.create_order, {**params, "symbol": "NOPEUSDT"}, -1121),
    ):
        with pytest.raises(BinanceAPIException) as caught:
            await call(**kwargs)
        assert caught.value.code == code, (kwargs, caught.value)
