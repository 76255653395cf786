"""Injected faults: what the client sees and whether the order reached the exchange."""

from __future__ import annotations

import time

import aiohttp
import pytest
import requests
from binance.async_client import AsyncClient
from binance.client import Client
from binance.exceptions import BinanceAPIException

from paper_exchange.admin_client import SyncPaperAdmin
from tests.support.exchange import Exchange, client_for, error_of
from tests.support.eventually import eventually_sync

ORDER_PATH = "/api/v3/order"


def market_buy(client: Client, client_id: str) -> dict:
    return client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001", newClientOrderId=client_id)


def accepted(admin: SyncPaperAdmin, client_id: str) -> list[dict]:
    return admin.orders(clientOrderId=client_id)


def test_drop_response_reset_order_exists_while_client_sees_connection_error(client: Client, admin: SyncPaperAdmin) -> None:
    admin.arm(kind="drop_response", path=ORDER_PATH, method="POST", count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        market_buy(client, "lost-1")
    assert [o["status"] for o in accepted(admin, "lost-1")] == ["FILLED"]
    assert client.get_order(symbol="BTCUSDT", origClientOrderId="lost-1")["status"] == "FILLED"
    # count=1: the next request is answered normally.
    assert market_buy(client, "lost-2")["status"] == "FILLED"


def test_drop_response_503_order_exists_while_client_sees_http_503(client: Client, admin: SyncPaperAdmin) -> None:
    admin.arm(kind="drop_response", path=ORDER_PATH, count=1, respond="503")
    with pytest.raises(BinanceAPIException) as caught:
        market_buy(client, "lost-503")
    assert caught.value.status_code == 503
    assert len(accepted(admin, "lost-503")) == 1


async def test_drop_response_async_client_sees_disconnect_and_order_exists(aclient: AsyncClient, admin: SyncPaperAdmin) -> None:
    await admin.aio.arm(kind="drop_response", path=ORDER_PATH, count=1)
    with pytest.raises(aiohttp.ClientError):
        await aclient.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001", newClientOrderId="alost")
    assert (await aclient.get_order(symbol="BTCUSDT", origClientOrderId="alost"))["status"] == "FILLED"


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("error_5xx", 503, -1001), ("unknown_1007", 408, -1007), ("timestamp_1021", 400, -1021), ("key_revoked", 401, -2015)],
)
def test_refusing_fault_answers_its_error_without_processing(client: Client, admin: SyncPaperAdmin, kind: str, status: int, code: int) -> None:
    admin.arm(kind=kind, path=ORDER_PATH, count=1)
    with pytest.raises(BinanceAPIException) as caught:
        market_buy(client, f"refused-{kind}")
    assert (caught.value.status_code, caught.value.code) == (status, code)
    assert accepted(admin, f"refused-{kind}") == []
    assert market_buy(client, f"after-{kind}")["status"] == "FILLED"  # count=1: the next request goes through


def test_unknown_1007_after_processes_then_answers_1007(client: Client, admin: SyncPaperAdmin) -> None:
    admin.arm(kind="unknown_1007_after", path=ORDER_PATH, count=1)
    with pytest.raises(BinanceAPIException) as caught:
        market_buy(client, "u1007a")
    assert caught.value.code == -1007
    assert [o["status"] for o in accepted(admin, "u1007a")] == ["FILLED"]


def test_rate_limit_429_carries_retry_after_and_1003(exchange: Exchange, client: Client, admin: SyncPaperAdmin) -> None:
    admin.arm(kind="rate_limit_429", count=1, retry_after=7)
    with pytest.raises(BinanceAPIException) as caught:
        client.get_account()
    assert (caught.value.status_code, caught.value.code) == (429, -1003)
    assert caught.value.response.headers["Retry-After"] == "7"
    assert client.get_account()["canTrade"] is True


def test_ban_418_carries_retry_after(client: Client, admin: SyncPaperAdmin) -> None:
    admin.arm(kind="ban_418", count=1, retry_after=30)
    with pytest.raises(BinanceAPIException) as caught:
        market_buy(client, "banned")
    assert (caught.value.status_code, caught.value.code) == (418, -1003)
    assert caught.value.response.headers["Retry-After"] == "30"
    assert accepted(admin, "banned") == []


def test_latency_fault_delays_then_processes(client: Client, admin: SyncPaperAdmin) -> None:
    admin.arm(kind="latency", path=ORDER_PATH, latency_ms=300, count=1)
    assert market_buy(client, "slow")["status"] == "FILLED"
    assert admin.faults() == []


def test_down_refuses_every_binance_path_but_admin_answers(client: Client, admin: SyncPaperAdmin) -> None:
    admin.arm(kind="down")
    with pytest.raises(requests.exceptions.ConnectionError):
        client.ping()
    with pytest.raises(requests.exceptions.ConnectionError):
        client.futures_ping()
    assert admin.health() == {"ok": True}
    assert admin.clear_faults() == 1
    assert client.ping() == {}


def test_down_with_503_answers_503(client: Client, admin: SyncPaperAdmin) -> None:
    admin.arm(kind="down", respond="503")
    with pytest.raises(BinanceAPIException) as caught:
        client.ping()
    assert caught.value.status_code == 503


def test_fault_count_scopes_to_next_n_matching_requests(client: Client, admin: SyncPaperAdmin) -> None:
    admin.arm(kind="error_5xx", path=ORDER_PATH, method="POST", count=2)
    assert client.get_account()["canTrade"] is True  # another path is untouched
    with pytest.raises(BinanceAPIException):
        market_buy(client, "c1")
    assert [f["remaining"] for f in admin.faults()] == [1]
    with pytest.raises(BinanceAPIException):
        market_buy(client, "c2")
    assert admin.faults() == []
    assert market_buy(client, "c3")["status"] == "FILLED"
    assert [o["clientOrderId"] for o in admin.orders()] == ["c3"]


def test_fault_method_scope_leaves_other_methods_alone(client: Client, admin: SyncPaperAdmin) -> None:
    admin.arm(kind="error_5xx", path=ORDER_PATH, method="DELETE")
    assert market_buy(client, "m1")["status"] == "FILLED"
    with pytest.raises(BinanceAPIException) as caught:
        client.cancel_order(symbol="BTCUSDT", origClientOrderId="m1")
    assert caught.value.status_code == 503


def test_fault_probability_zero_never_fires(client: Client, admin: SyncPaperAdmin) -> None:
    admin.arm(kind="error_5xx", probability=0.0, count=1)
    for index in range(5):
        assert market_buy(client, f"p{index}")["status"] == "FILLED"
    assert [f["remaining"] for f in admin.faults()] == [1]


def test_fault_listing_and_clearing(admin: SyncPaperAdmin) -> None:
    first = admin.arm(kind="latency", latency_ms=10)
    admin.arm(kind="ban_418", path="/fapi/v1/order", count=3)
    listed = admin.faults()
    assert [(f["id"], f["kind"], f["remaining"]) for f in listed] == [(first["id"], "latency", None), (listed[1]["id"], "ban_418", 3)]
    assert admin.clear_faults(first["id"]) == 1
    assert admin.clear_faults() == 1
    assert admin.faults() == []


def test_fault_spec_errors_are_refused(admin: SyncPaperAdmin) -> None:
    for body in ({"kind": "meteor"}, {"kind": "latency"}, {"kind": "error_5xx", "count": 0}, {"kind": "down", "path": "/_paper/orders"}):
        assert "error" in admin.request("POST", "faults", json=body, check=False)
    assert admin.faults() == []


def test_faults_never_apply_to_admin_paths(admin: SyncPaperAdmin) -> None:
    admin.arm(kind="error_5xx")
    assert admin.health() == {"ok": True}
    assert admin.orders() == []


def test_latency_fault_client_gives_up_order_still_placed(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    admin.arm(kind="latency", path=ORDER_PATH, latency_ms=1500, count=1)
    impatient = client_for(exchange.base_url, exchange.api_key, exchange.api_secret, timeout=0.3)
    with pytest.raises(requests.exceptions.Timeout):
        market_buy(impatient, "gave-up")
    eventually_sync(lambda: accepted(admin, "gave-up"), timeout=10, what="order placed after the client timed out")
    assert accepted(admin, "gave-up")[0]["status"] == "FILLED"


# ---- accept now, execute later -------------------------------------------------------------

FUTURES_ORDER_PATH = "/fapi/v1/order"


def api_error(call, **kwargs) -> BinanceAPIException:  # noqa: ANN001 - any client method
    with pytest.raises(BinanceAPIException) as caught:
        call(**kwargs)
    return caught.value


def deferred(admin: SyncPaperAdmin) -> list[dict]:
    return admin.deferred()


def test_execute_later_answers_1007_now_and_places_the_order_after_the_delay(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    admin.arm(kind="execute_later", path=ORDER_PATH, method="POST", delay_ms=3000, count=1)
    error = api_error(market_buy, client=client, client_id="late-1")
    assert (error.status_code, error.code) == (408, -1007)
    # Until the delay has passed a lookup says the order does not exist: a retry could misread it.
    assert api_error(client.get_order, symbol="BTCUSDT", origClientOrderId="late-1").code == -2013
    assert accepted(admin, "late-1") == []
    assert [(d["method"], d["path"]) for d in deferred(admin)] == [("POST", ORDER_PATH)]
    orders = eventually_sync(lambda: accepted(admin, "late-1"), timeout=15, what="the deferred order")
    assert [o["status"] for o in orders] == ["FILLED"]
    assert client.get_order(symbol="BTCUSDT", origClientOrderId="late-1")["status"] == "FILLED"
    assert deferred(admin) == []


def test_execute_later_executes_after_timestamp_plus_recv_window(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    admin.arm(kind="execute_later", path=ORDER_PATH, delay_ms=2500, count=1)
    stamp = int(time.time() * 1000)
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001", "newClientOrderId": "late-window", "recvWindow": 1000}
    answer = exchange.signed("POST", ORDER_PATH, params, timestamp=stamp)
    assert error_of(answer) == (408, -1007)
    orders = eventually_sync(lambda: accepted(admin, "late-window"), timeout=15, what="the deferred order")
    # Binance's recvWindow checks do not cover delays inside the matching engine.
    assert orders[0]["time"] > stamp + 1000
    assert orders[0]["status"] == "FILLED"


def test_latency_holds_before_the_timestamp_check_so_a_late_request_gets_1021(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    admin.arm(kind="latency", path=ORDER_PATH, latency_ms=1500, count=1)
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001", "newClientOrderId": "held", "recvWindow": 500}
    assert error_of(exchange.signed("POST", ORDER_PATH, params)) == (400, -1021)
    assert accepted(admin, "held") == []


def test_execute_later_refuses_a_stale_timestamp_now_and_never_executes_it(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    admin.arm(kind="execute_later", path=ORDER_PATH, delay_ms=1000, count=1)
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001", "newClientOrderId": "late-stale"}
    answer = exchange.signed("POST", ORDER_PATH, params, timestamp=int(time.time() * 1000) - 60_000)
    assert error_of(answer) == (400, -1021)
    assert deferred(admin) == []


def test_execute_later_refuses_a_bad_signature_now(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    admin.arm(kind="execute_later", path=ORDER_PATH, delay_ms=1000, count=1)
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001", "newClientOrderId": "late-forged"}
    assert error_of(exchange.signed("POST", ORDER_PATH, params, secret="wrong")) == (400, -1022)
    assert deferred(admin) == []


def test_execute_later_with_reset_drops_the_connection_and_places_later(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    admin.arm(kind="execute_later", path=ORDER_PATH, delay_ms=1000, respond="reset", count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        market_buy(client, "late-reset")
    orders = eventually_sync(lambda: accepted(admin, "late-reset"), timeout=15, what="the deferred order")
    assert [o["status"] for o in orders] == ["FILLED"]


def test_execute_later_on_futures_order_and_algo_order(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    admin.arm(kind="execute_later", path=FUTURES_ORDER_PATH, method="POST", delay_ms=2000, count=1)
    error = api_error(client.futures_create_order, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newClientOrderId="late-fut")
    assert (error.status_code, error.code) == (408, -1007)
    assert api_error(client.futures_get_order, symbol="BTCUSDT", origClientOrderId="late-fut").code == -2013
    orders = eventually_sync(lambda: accepted(admin, "late-fut"), timeout=15, what="the deferred futures order")
    assert [(o["market"], o["status"]) for o in orders] == [("usdm", "FILLED")]

    admin.arm(kind="execute_later", path="/fapi/v1/algoOrder", method="POST", delay_ms=2000, count=1)
    error = api_error(
        client.futures_create_order, symbol="BTCUSDT", side="SELL", type="STOP_MARKET", triggerPrice="58000",
        closePosition="true", clientAlgoId="late-sl",
    )
    assert (error.status_code, error.code) == (408, -1007)
    assert api_error(client.futures_get_algo_order, clientAlgoId="late-sl").code == -2013
    algos = eventually_sync(lambda: accepted(admin, "late-sl"), timeout=15, what="the deferred algo order")
    assert len(algos) == 1


def test_execute_later_duplicate_of_an_open_order_is_refused_when_it_runs(client: Client, admin: SyncPaperAdmin) -> None:
    admin.set_price("BTCUSDT", "60000")
    params = dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.001", price="50000", newClientOrderId="late-dup")
    admin.arm(kind="execute_later", path=ORDER_PATH, delay_ms=1500, count=1)
    assert api_error(client.create_order, **params).code == -1007
    client.create_order(**params)  # the retry lands first
    eventually_sync(lambda: deferred(admin) == [], timeout=15, what="the deferred request to run")
    assert len(accepted(admin, "late-dup")) == 1


def test_reset_forgets_deferred_requests(client: Client, admin: SyncPaperAdmin) -> None:
    admin.arm(kind="execute_later", path=ORDER_PATH, delay_ms=60_000, count=1)
    assert api_error(market_buy, client=client, client_id="late-forgotten").code == -1007
    assert len(deferred(admin)) == 1
    admin.reset()
    assert deferred(admin) == []


def test_execute_later_needs_a_delay(admin: SyncPaperAdmin) -> None:
    for body in ({"kind": "execute_later"}, {"kind": "execute_later", "delay_ms": 0}, {"kind": "execute_later", "delay_ms": 10, "respond": "teapot"}):
        assert "error" in admin.request("POST", "faults", json=body, check=False)


# ---- any error on any endpoint, for a count or a duration ---------------------------------


@pytest.mark.parametrize(
    ("status", "code", "msg"),
    [
        (400, -1008, "Server is currently overloaded with other requests. Please try again in a few minutes."),
        (400, -1016, "This service is no longer available."),
        (503, -1001, "Internal error; unable to process your request. Please try again."),
    ],
)
def test_error_fault_answers_the_armed_status_code_and_msg_without_processing(
    client: Client, admin: SyncPaperAdmin, status: int, code: int, msg: str
) -> None:
    admin.arm(kind="error", path=ORDER_PATH, method="POST", status=status, code=code, msg=msg, count=1)
    error = api_error(market_buy, client=client, client_id=f"err{code}")
    assert (error.status_code, error.code, error.message) == (status, code, msg)
    assert "Retry-After" not in error.response.headers
    assert accepted(admin, f"err{code}") == []
    assert market_buy(client, f"after{code}")["status"] == "FILLED"


def test_error_fault_on_a_lookup_carries_retry_after_and_leaves_placement_alone(client: Client, admin: SyncPaperAdmin) -> None:
    admin.arm(kind="error", path=ORDER_PATH, method="GET", code=-1008, retry_after=12)
    assert market_buy(client, "looked-up")["status"] == "FILLED"
    error = api_error(client.get_order, symbol="BTCUSDT", origClientOrderId="looked-up")
    assert (error.status_code, error.code) == (400, -1008)
    assert error.message == "Server is currently overloaded with other requests. Please try again in a few minutes."
    assert error.response.headers["Retry-After"] == "12"


def test_fault_with_a_duration_stops_firing_when_it_ends(client: Client, admin: SyncPaperAdmin) -> None:
    admin.arm(kind="error", path=ORDER_PATH, method="POST", code=-1008, duration_ms=800)
    [listed] = admin.faults()
    assert listed["duration_ms"] == 800 and 0 < listed["expires_in_ms"] <= 800
    assert api_error(market_buy, client=client, client_id="during").code == -1008

    def placed() -> bool:
        try:
            return market_buy(client, "after-duration")["status"] == "FILLED"
        except BinanceAPIException as error:
            assert error.code == -1008
            return False

    eventually_sync(placed, timeout=10, what="the fault to expire")
    assert admin.faults() == []


def test_fault_with_count_and_duration_ends_at_whichever_comes_first(client: Client, admin: SyncPaperAdmin) -> None:
    admin.arm(kind="error_5xx", path=ORDER_PATH, count=1, duration_ms=60_000)
    assert api_error(market_buy, client=client, client_id="first").status_code == 503
    assert market_buy(client, "second")["status"] == "FILLED"


def test_error_fault_spec_errors_are_refused(admin: SyncPaperAdmin) -> None:
    for body in (
        {"kind": "error"},
        {"kind": "error", "code": 1008},
        {"kind": "error", "code": -1999},
        {"kind": "error", "code": -1008, "status": 200},
        {"kind": "error", "code": -1008, "msg": 7},
        {"kind": "error_5xx", "duration_ms": 0},
    ):
        assert "error" in admin.request("POST", "faults", json=body, check=False), body
    assert admin.faults() == []
