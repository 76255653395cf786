"""The exchange's clock offset: serverTime, the recvWindow checks and order times move together."""

from __future__ import annotations

import time

import pytest
from binance.async_client import AsyncClient
from binance.exceptions import BinanceAPIException

from paper_exchange.admin_client import SyncPaperAdmin
from tests.support.exchange import Exchange


def local_ms() -> int:
    return int(time.time() * 1000)


async def market_buy(client: AsyncClient, client_id: str) -> dict:
    return await client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001", newClientOrderId=client_id)


async def test_clock_offset_moves_server_time_and_order_times(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    await admin.aio.configure(clock_offset_ms=45_000)
    client = await exchange.async_client()
    try:
        before = local_ms()
        order = await market_buy(client, "clock-times")
        server = (await client.get_server_time())["serverTime"]
        after = local_ms()
    finally:
        await client.close_connection()
    assert before + 45_000 <= order["transactTime"] <= after + 45_000
    assert before + 45_000 <= server <= after + 45_000
    assert (await admin.aio.orders(clientOrderId="clock-times"))[0]["time"] == order["transactTime"]
    assert (await admin.aio.state())["config"]["clock_offset_ms"] == 45_000


@pytest.mark.parametrize("offset_ms", [30_000, -30_000])
async def test_client_synced_before_an_offset_change_gets_1021_and_a_resynced_one_trades(
    exchange: Exchange, admin: SyncPaperAdmin, offset_ms: int
) -> None:
    stale = await exchange.async_client()
    try:
        await admin.aio.configure(clock_offset_ms=offset_ms)
        with pytest.raises(BinanceAPIException) as caught:
            await market_buy(stale, "clock-stale")
        assert (caught.value.status_code, caught.value.code) == (400, -1021)
        assert await admin.aio.orders(clientOrderId="clock-stale") == []
        # What python-binance does at create: measure the offset from serverTime.
        stale.timestamp_offset = (await stale.get_server_time())["serverTime"] - local_ms()
        assert (await market_buy(stale, "clock-resynced"))["status"] == "FILLED"
    finally:
        await stale.close_connection()
    fresh = await exchange.async_client()
    try:
        assert (await market_buy(fresh, "clock-fresh"))["status"] == "FILLED"
    finally:
        await fresh.close_connection()


async def test_clock_behind_by_less_than_the_future_tolerance_still_accepts(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    client = await exchange.async_client()
    try:
        # A request may be stamped up to 1000 ms ahead of the exchange's clock.
        await admin.aio.configure(clock_offset_ms=-500)
        assert (await market_buy(client, "clock-ahead-ok"))["status"] == "FILLED"
        await admin.aio.configure(clock_offset_ms=-3000)
        with pytest.raises(BinanceAPIException) as caught:
            await market_buy(client, "clock-ahead-refused")
        assert caught.value.code == -1021
    finally:
        await client.close_connection()


def test_reset_puts_the_clock_back(admin: SyncPaperAdmin) -> None:
    admin.configure(clock_offset_ms=10_000)
    admin.reset()
    assert admin.state()["config"]["clock_offset_ms"] == 0
    assert abs(admin.server_time() - local_ms()) < 5_000


def test_clock_offset_must_be_an_integer(admin: SyncPaperAdmin) -> None:
    for value in ("10", 1.5, True, 10**12):
        assert "error" in admin.request("POST", "config", json={"clock_offset_ms": value}, check=False)
    assert admin.state()["config"]["clock_offset_ms"] == 0
