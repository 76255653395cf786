"""User data streams: the spot WebSocket API subscription and the USD-M futures listenKey stream.

python-binance (its ``user_socket`` over the WebSocket API and its ``futures_user_socket``)
reads the events where it can; a plain aiohttp client reads frames where a test must see
pings, closes or the raw order of what the exchange sent.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from binance.async_client import AsyncClient
from binance.exceptions import BinanceAPIException
from binance.ws.streams import BinanceSocketManager

from paper_exchange.admin_client import SyncPaperAdmin
from tests.paper_exchange.streams import (
    SPOT_PATH,
    events_until,
    futures_user_socket,
    listen_key,
    next_json,
    next_message,
    stream_client,
    subscribe_request,
    ws_base,
    ws_session,
)
from tests.support.exchange import Exchange, error_of, exchange_args
from tests.support.processes import Proc, free_port

CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
HOUR_MS = 3_600_000


async def recv_until(socket, done, limit: int = 50) -> list[dict]:  # noqa: ANN001 - a python-binance socket
    """Events from a python-binance socket until ``done(event)`` holds (bounded by count and its timeout)."""
    events: list[dict] = []
    for _ in range(limit):
        events.append(await asyncio.wait_for(socket.recv(), 20))
        assert events[-1].get("e") != "error", events[-1]
        if done(events[-1]):
            return events
    raise AssertionError(f"no matching event among {events}")


def reports(events: list[dict], client_id: str) -> list[dict]:
    """The order's execution reports; a cancel's names the order in ``C`` (``c`` is the cancel's own ID)."""
    return [e for e in events if e.get("e") == "executionReport" and client_id in (e["c"], e["C"])]


# ---- spot: WebSocket API subscription ---------------------------------------------------


async def test_spot_subscribe_with_bad_signature_is_refused_like_rest(exchange: Exchange) -> None:
    client = await stream_client(exchange, secret="not-the-secret")
    try:
        manager = BinanceSocketManager(client)
        with pytest.raises(BinanceAPIException) as caught:
            async with manager.user_socket():
                pass
        assert (caught.value.code, caught.value.message) == (-1022, "Signature for this request is not valid.")
    finally:
        await client.close_connection()


async def test_spot_subscribe_errors_have_binance_ws_api_shape(exchange: Exchange) -> None:
    async with ws_session() as session, session.ws_connect(ws_base(exchange) + SPOT_PATH) as ws:
        await ws.send_json(subscribe_request(exchange, "old", timestamp=int(time.time() * 1000) - 120_000))
        answer = await next_json(ws)
        assert (answer["id"], answer["status"], answer["error"]) == (
            "old", 400, {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."})
        await ws.send_json({"id": 7, "method": "ping"})
        assert {k: v for k, v in (await next_json(ws)).items() if k != "rateLimits"} == {"id": 7, "status": 200, "result": {}}
        await ws.send_json({"id": 8, "method": "time"})
        assert (await next_json(ws))["result"]["serverTime"] > 0


async def test_spot_limit_order_filled_in_parts_reports_new_then_trades_with_cumulative_quantities(
    exchange: Exchange, admin: SyncPaperAdmin
) -> None:
    await admin.aio.set_price("BTCUSDT", "60000")
    await admin.aio.configure(liquidity={"BTCUSDT": "0.004"})
    client = await stream_client(exchange)
    try:
        async with BinanceSocketManager(client).user_socket() as socket:
            await client.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                      quantity="0.01", price="59000", newClientOrderId="ws-limit")
            for price in ("58900", "58800", "58700"):
                await admin.aio.set_price("BTCUSDT", price)
            events = await recv_until(socket, lambda e: e.get("e") == "executionReport" and e["X"] == "FILLED")
        found = reports(events, "ws-limit")
        assert [(e["x"], e["X"], e["l"], e["z"], e["L"]) for e in found] == [
            ("NEW", "NEW", "0.00000000", "0.00000000", "0.00000000"),
            ("TRADE", "PARTIALLY_FILLED", "0.00400000", "0.00400000", "59000.00000000"),
            ("TRADE", "PARTIALLY_FILLED", "0.00400000", "0.00800000", "59000.00000000"),
            ("TRADE", "FILLED", "0.00200000", "0.01000000", "59000.00000000"),
        ]
        trade_ids = [e["t"] for e in found]
        assert trade_ids[0] == -1 and len(set(trade_ids[1:])) == 3 and all(t > 0 for t in trade_ids[1:])
        assert all(e["m"] for e in found[1:]) and Decimal(found[-1]["Z"]) == Decimal("590")
        times = [(e["E"], e["T"]) for e in found]
        assert times == sorted(times) and all(e["E"] >= e["T"] for e in found)
        positions = [e for e in events if e.get("e") == "outboundAccountPosition"]
        assert positions and {b["a"] for b in positions[-1]["B"]} == {"BTC", "USDT"}
    finally:
        await client.close_connection()


async def test_spot_cancel_reports_canceled(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    await admin.aio.set_price("BTCUSDT", "60000")
    client = await stream_client(exchange)
    try:
        async with BinanceSocketManager(client).user_socket() as socket:
            await client.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                      quantity="0.001", price="50000", newClientOrderId="ws-cancel")
            await client.cancel_order(symbol="BTCUSDT", origClientOrderId="ws-cancel", newClientOrderId="ws-cancel-req")
            events = await recv_until(socket, lambda e: e.get("e") == "executionReport" and e["x"] == "CANCELED")
        found = reports(events, "ws-cancel")
        assert [(e["x"], e["X"], e["c"], e["C"]) for e in found] == [
            ("NEW", "NEW", "ws-cancel", ""), ("CANCELED", "CANCELED", "ws-cancel-req", "ws-cancel")]
        assert found[0]["i"] == found[1]["i"] and found[1]["z"] == "0.00000000"
    finally:
        await client.close_connection()


async def test_spot_unsubscribe_ends_with_event_stream_terminated(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    async with ws_session() as session, session.ws_connect(ws_base(exchange) + SPOT_PATH) as ws:
        await ws.send_json(subscribe_request(exchange))
        subscribed = await next_json(ws)
        assert (subscribed["status"], subscribed["result"]) == (200, {"subscriptionId": 0})
        await ws.send_json({"id": "u", "method": "userDataStream.unsubscribe", "params": {"subscriptionId": 0}})
        frames = await events_until(ws, lambda f: "event" in f)
        assert frames[0]["id"] == "u" and frames[0]["status"] == 200
        assert frames[-1]["subscriptionId"] == 0 and frames[-1]["event"]["e"] == "eventStreamTerminated"
        await admin.aio.set_price("BTCUSDT", "60000")
        exchange.client().create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")
        await ws.send_json({"id": "fence", "method": "ping"})
        assert (await next_json(ws))["id"] == "fence"


async def test_spot_server_stopping_sends_server_shutdown(tmp_path: Path, exchange: Exchange) -> None:
    port = free_port()
    proc = Proc("stopping-exchange", exchange_args(port, tmp_path / "state.db"), tmp_path / "exchange.log").start(
        wait_port=port, timeout=30)
    try:
        async with ws_session() as session, session.ws_connect(f"ws://127.0.0.1:{port}{SPOT_PATH}") as ws:
            await ws.send_json(subscribe_request(exchange))
            assert (await next_json(ws))["status"] == 200
            await asyncio.to_thread(proc.stop)
            frame = await next_json(ws)
            assert frame["event"]["e"] == "serverShutdown" and frame["event"]["E"] > 0
    finally:
        proc.stop()


# ---- USD-M futures: listenKey and the private stream --------------------------------------


async def test_futures_user_socket_reports_fill_and_account_update(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    await admin.aio.set_price("BTCUSDT", "60000")
    client = await stream_client(exchange)
    try:
        async with futures_user_socket(client, exchange) as socket:
            await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01",
                                              newClientOrderId="fws-entry")
            events = await recv_until(socket, lambda e: e.get("e") == "ACCOUNT_UPDATE")
        updates = [e["o"] for e in events if e.get("e") == "ORDER_TRADE_UPDATE"]
        assert [(o["c"], o["x"], o["X"], o["l"], o["z"], o["L"], o["ap"]) for o in updates] == [
            ("fws-entry", "NEW", "NEW", "0", "0", "0", "0"),
            ("fws-entry", "TRADE", "FILLED", "0.01", "0.01", "60000", "60000"),
        ]
        assert updates[1]["t"] > 0 and updates[1]["n"] == "0.24" and updates[1]["N"] == "USDT" and updates[1]["ps"] == "BOTH"
        account = events[-1]["a"]
        assert account["m"] == "ORDER" and account["P"][0]["s"] == "BTCUSDT" and account["P"][0]["pa"] == "0.01"
    finally:
        await client.close_connection()


async def test_futures_stop_order_reports_algo_update_when_placed_and_triggered(
    exchange: Exchange, admin: SyncPaperAdmin
) -> None:
    await admin.aio.set_price("BTCUSDT", "60000")
    client = await stream_client(exchange)
    try:
        async with futures_user_socket(client, exchange) as socket:
            await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01",
                                              newClientOrderId="fws-pos")
            await client.futures_create_order(symbol="BTCUSDT", side="SELL", type="STOP_MARKET", triggerPrice="58000",
                                              closePosition="true", clientAlgoId="fws-sl")
            await admin.aio.set_price("BTCUSDT", "57900")
            events = await recv_until(socket, lambda e: e.get("e") == "ALGO_UPDATE" and e["o"]["X"] == "FINISHED")
        algo = [e["o"] for e in events if e.get("e") == "ALGO_UPDATE"]
        assert [(o["caid"], o["X"]) for o in algo] == [
            ("fws-sl", "NEW"), ("fws-sl", "TRIGGERING"), ("fws-sl", "TRIGGERED"), ("fws-sl", "FINISHED")]
        assert algo[0]["aid"] == algo[-1]["aid"] and algo[0]["o"] == "STOP_MARKET" and algo[0]["tp"] == "58000"
        assert algo[0]["ai"] == "" and algo[-1]["ai"] != "" and algo[-1]["aq"] == "0.01" and algo[-1]["ap"] == "57900"
        closing = [e["o"] for e in events if e.get("e") == "ORDER_TRADE_UPDATE" and str(e["o"]["i"]) == algo[-1]["ai"]]
        assert [(o["x"], o["X"], o["ot"], o["cp"]) for o in closing] == [
            ("NEW", "NEW", "STOP_MARKET", True), ("TRADE", "FILLED", "STOP_MARKET", True)]
    finally:
        await client.close_connection()


def test_futures_listen_key_is_one_per_account_and_needs_an_api_key(exchange: Exchange) -> None:
    first = listen_key(exchange).json()["listenKey"]
    assert listen_key(exchange).json()["listenKey"] == first
    assert listen_key(exchange, "PUT").json() == {"listenKey": first}
    assert error_of(listen_key(exchange, key="")) == (401, -2014)
    assert error_of(listen_key(exchange, key="someone-else")) == (401, -2015)
    assert listen_key(exchange, "DELETE").json() == {}
    assert listen_key(exchange, "PUT").json() == {"code": -1125, "msg": "This listenKey does not exist."}
    assert listen_key(exchange).json()["listenKey"] != first


async def test_futures_listen_key_delete_closes_the_stream(exchange: Exchange) -> None:
    key = listen_key(exchange).json()["listenKey"]
    async with ws_session() as session, session.ws_connect(f"{ws_base(exchange)}/private/ws/{key}") as ws:
        listen_key(exchange, "DELETE")
        assert (await next_message(ws)).type in CLOSED


async def test_futures_listen_key_expires_unless_kept_alive(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    key = listen_key(exchange).json()["listenKey"]
    await admin.aio.configure(clock_offset_ms=40 * 60_000)
    assert listen_key(exchange, "PUT").status_code == 200
    await admin.aio.configure(clock_offset_ms=90 * 60_000)
    async with ws_session() as session, session.ws_connect(f"{ws_base(exchange)}/ws/{key}") as ws:
        await admin.aio.configure(clock_offset_ms=101 * 60_000)
        expired = await next_json(ws)
        assert (expired["e"], expired["listenKey"]) == ("listenKeyExpired", key)
        assert (await next_message(ws)).type in CLOSED
    assert listen_key(exchange, "PUT").json()["code"] == -1125


# ---- keepalive ----------------------------------------------------------------------------


async def test_stream_server_pings_and_drops_a_client_that_never_answers(exchange: Exchange) -> None:
    key = listen_key(exchange).json()["listenKey"]
    async with ws_session() as session:
        async with session.ws_connect(f"{ws_base(exchange)}/private/ws/{key}", autoping=False) as ws:
            assert (await next_message(ws)).type == aiohttp.WSMsgType.PING
            while (message := await next_message(ws)).type == aiohttp.WSMsgType.PING:
                pass
            assert message.type in CLOSED
        async with session.ws_connect(f"{ws_base(exchange)}/private/ws/{key}", autoping=False) as ws:
            for _ in range(2):
                ping = await next_message(ws)
                assert ping.type == aiohttp.WSMsgType.PING
                await ws.pong(ping.data)
            await ws.ping(b"client")
            assert (await next_message(ws)).type == aiohttp.WSMsgType.PONG


# ---- faults -------------------------------------------------------------------------------


async def _futures_stream(exchange: Exchange, session: aiohttp.ClientSession, **kwargs) -> aiohttp.ClientWebSocketResponse:  # noqa: ANN003
    key = listen_key(exchange).json()["listenKey"]
    return await session.ws_connect(f"{ws_base(exchange)}/private/ws?listenKey={key}", **kwargs)


def _rest(exchange: Exchange, *client_ids: str) -> None:
    """One resting futures LIMIT per ID: exactly one ORDER_TRADE_UPDATE (NEW) each."""
    client = exchange.client()
    for client_id in client_ids:
        client.futures_create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.002",
                                    price="50000", newClientOrderId=client_id)


async def _ids(ws: aiohttp.ClientWebSocketResponse, last: str) -> list[str]:
    frames = await events_until(ws, lambda f: f.get("o", {}).get("c") == last)
    return [f["o"]["c"] for f in frames]


async def test_fault_stream_disconnect_closes_every_stream(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    async with ws_session() as session:
        futures = await _futures_stream(exchange, session)
        spot = await session.ws_connect(ws_base(exchange) + SPOT_PATH)
        await spot.send_json(subscribe_request(exchange))
        assert (await next_json(spot))["status"] == 200
        answer = await admin.aio.arm("stream_disconnect")
        assert answer["disconnected"] == 2
        assert (await next_message(futures)).type in CLOSED
        assert (await next_message(spot)).type in CLOSED


async def test_fault_stream_stall_keeps_pinging_but_delivers_nothing(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    await admin.aio.set_price("BTCUSDT", "60000")
    async with ws_session() as session:
        ws = await _futures_stream(exchange, session, autoping=False)
        await admin.aio.arm("stream_stall")
        _rest(exchange, "stall-lost")
        assert len(exchange.client().futures_get_open_orders(symbol="BTCUSDT")) == 1
        for _ in range(2):
            ping = await next_message(ws)
            assert ping.type == aiohttp.WSMsgType.PING, ping
            await ws.pong(ping.data)
        await admin.aio.clear_faults()
        _rest(exchange, "stall-after")
        assert (await next_json(ws))["o"]["c"] == "stall-after"
        await ws.close()


async def test_fault_stream_drop_every_second_event(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    await admin.aio.set_price("BTCUSDT", "60000")
    async with ws_session() as session:
        ws = await _futures_stream(exchange, session)
        await admin.aio.arm("stream_drop", every=2)
        _rest(exchange, "d0", "d1", "d2", "d3")
        await admin.aio.clear_faults()
        _rest(exchange, "d4")
        assert await _ids(ws, "d4") == ["d0", "d2", "d4"]
        await ws.close()


async def test_fault_stream_duplicate_sends_an_event_twice(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    await admin.aio.set_price("BTCUSDT", "60000")
    async with ws_session() as session:
        ws = await _futures_stream(exchange, session)
        await admin.aio.arm("stream_duplicate", count=1)
        _rest(exchange, "u0", "u1")
        assert await _ids(ws, "u1") == ["u0", "u0", "u1"]
        await ws.close()


async def test_fault_stream_reorder_reverses_a_window(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    await admin.aio.set_price("BTCUSDT", "60000")
    async with ws_session() as session:
        ws = await _futures_stream(exchange, session)
        await admin.aio.arm("stream_reorder", window=3, count=1)
        _rest(exchange, "r0", "r1", "r2", "r3")
        assert await _ids(ws, "r3") == ["r2", "r1", "r0", "r3"]
        await ws.close()


async def test_fault_stream_delay_holds_events_back(exchange: Exchange, admin: SyncPaperAdmin) -> None:
    await admin.aio.set_price("BTCUSDT", "60000")
    async with ws_session() as session:
        ws = await _futures_stream(exchange, session)
        await admin.aio.arm("stream_delay", delay_ms=1500)
        _rest(exchange, "late")
        event = await next_json(ws)
        received_ms = time.time() * 1000
        assert event["o"]["c"] == "late" and received_ms - event["E"] >= 1500 - 50
        await ws.close()


async def test_spot_stream_faults_apply_to_the_ws_api_too(exchange: Exchange, admin: SyncPaperAdmin, aclient: AsyncClient) -> None:
    await admin.aio.set_price("BTCUSDT", "60000")
    async with ws_session() as session, session.ws_connect(ws_base(exchange) + SPOT_PATH) as ws:
        await ws.send_json(subscribe_request(exchange))
        assert (await next_json(ws))["status"] == 200
        await admin.aio.arm("stream_drop", market="spot", count=1)
        await aclient.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.001",
                                   price="50000", newClientOrderId="spot-d")
        frames = await events_until(ws, lambda f: f.get("event", {}).get("e") == "outboundAccountPosition")
        assert [f["event"]["e"] for f in frames] == ["outboundAccountPosition"]


def test_stream_fault_specs_are_checked(admin: SyncPaperAdmin) -> None:
    refused = [
        {"kind": "stream_delay"},
        {"kind": "stream_drop", "path": "/api/v3/order"},
        {"kind": "stream_reorder", "window": 1},
        {"kind": "stream_drop", "every": 0},
        {"kind": "stream_stall", "market": "coinm"},
    ]
    for body in refused:
        answer = admin.request("POST", "faults", json=body, check=False)
        assert "error" in answer, body
    armed = admin.arm("stream_duplicate", market="usdm", every=3)
    assert (armed["market"], armed["every"], armed["window"]) == ("usdm", 3, 2)
