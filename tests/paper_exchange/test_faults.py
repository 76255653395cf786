"""Injected faults: what the client sees and whether the order reached the exchange."""

from __future__ import annotations

import aiohttp
import pytest
import requests
from binance.async_client import AsyncClient
from binance.client import Client
from binance.exceptions import BinanceAPIException

from paper_exchange.admin_client import SyncPaperAdmin
from tests.support.exchange import Exchange, client_for
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
