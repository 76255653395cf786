"""USD-M futures intents on the real stack: leverage, a filled entry, its protective
stop-loss and take-profit as conditional orders, the OCO protection workflow, and the
saga that flattens a position whose protection cannot be placed.

The module runs its own paper exchange, so futures positions (one per symbol, shared by
every intent on it) never mix with other tests; each scenario uses its own symbol.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError
from temporalio.worker import Replayer

from activities.exchange.binance import BinanceExchange
from paper_exchange.admin_client import PaperAdmin
from quantum_trader.ids import Step, client_order_id, protection_workflow_id
from quantum_trader.models import ClosePositionSignal, IntentResult, IntentStatus, ProtectionStatus, TradeDecision
from quantum_trader.payloads import DATA_CONVERTER
from quantum_trader.risk import FuturesPolicy, MarketFacts, evaluate, evaluate_futures
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState
from tests.conftest import Stack, running_worker, trace_id
from tests.support.eventually import eventually
from tests.support.intents import HISTORIES, record_history, result_of, start
from tests.support.processes import Proc
from tests.support.stack import exchange_proc, temporal_binary, worker_proc
from workflows.protection import ProtectionWorkflow
from workflows.trade_intent import TradeIntentWorkflow

TRADE_STATE = SearchAttributeKey.for_keyword("TradeState")
PROTECTION_HISTORIES = HISTORIES / "protection"


# --- the module's own exchange and worker -------------------------------------------------


@pytest.fixture(scope="module")
def futures_exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    home = tmp_path_factory.mktemp("futures-exchange")
    proc, port = exchange_proc(home)
    proc.port = port  # type: ignore[attr-defined]
    proc.start(wait_port=port)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def fsettings(stack: Stack, futures_exchange: Proc) -> Settings:
    return stack.settings(
        exchange_url=f"http://127.0.0.1:{futures_exchange.port}",  # type: ignore[attr-defined]
        task_queue=f"futures-{uuid.uuid4().hex[:8]}",
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fworker(client: Client, fsettings: Settings, redis: Redis) -> AsyncIterator[None]:
    async with running_worker(client, fsettings, redis):
        yield


@pytest_asyncio.fixture(loop_scope="session")
async def fpaper(fsettings: Settings) -> AsyncIterator[PaperAdmin]:
    assert fsettings.exchange_url is not None
    admin = PaperAdmin(fsettings.exchange_url)
    await admin.clear_faults()
    yield admin
    await admin.clear_faults()


@pytest_asyncio.fixture(loop_scope="session")
async def gateway(fsettings: Settings) -> AsyncIterator[BinanceExchange]:
    """python-binance against the module's exchange, to read positions and leverage."""
    gateway = BinanceExchange(fsettings)
    yield gateway
    await gateway.close()


# --- helpers ------------------------------------------------------------------------------


def _ids(tid: str) -> tuple[str, str]:
    return client_order_id(tid, Step.STOP_LOSS), client_order_id(tid, Step.TAKE_PROFIT)


async def _algo_rows(paper: PaperAdmin, client_algo_id: str) -> list[dict[str, Any]]:
    """The conditional orders with this ID (not the MARKET order a trigger created)."""
    return [o for o in await paper.orders_for(client_algo_id) if "algoId" in o]


async def _protected(client: Client, settings: Settings, tid: str, **fields: Any) -> IntentResult:
    handle = await start(client, settings, tid, market="usdm", **fields)
    result = await result_of(handle)
    assert result.state is IntentState.FILLED, result.reason
    assert result.protection_workflow_id == protection_workflow_id(tid)
    return result


def _child(client: Client, tid: str) -> WorkflowHandle[Any, ProtectionStatus]:
    return client.get_workflow_handle(protection_workflow_id(tid), result_type=ProtectionStatus)


async def _record_protection(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """Stored apart from the intent histories: test_replay replays only TradeIntentWorkflow."""
    if os.environ.get("QT_RECORD_HISTORIES") == "1":
        PROTECTION_HISTORIES.mkdir(parents=True, exist_ok=True)
    await record_history(handle, f"protection/{name}")


async def _position(gateway: BinanceExchange, symbol: str) -> Decimal:
    return await gateway.position_amount(symbol)


# --- the gate (pure) ----------------------------------------------------------------------


def _usdm(**fields: Any) -> TradeDecision:
    values = {"trace_id": "g-1", "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.01", "confidence": "0.9", "market": "usdm",
              "leverage": 5, "stop_loss": "58000", "take_profit": "62000"}
    values.update(fields)
    return TradeDecision.model_validate(values)


FACTS = MarketFacts(listed=True, step_size=Decimal("0.001"), min_qty=Decimal("0.001"), max_qty=Decimal("1000"),
                    tick_size=Decimal("0.1"), min_notional=Decimal("100"), last_price=Decimal("60000"))


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"leverage": 50}, "leverage 50 is outside 1..20"),
        ({"stop_loss": None}, "needs a stop_loss"),
        ({"stop_loss": "61000"}, "stop_loss 61000 must be below"),
        ({"take_profit": "59000"}, "take_profit 59000 must be above"),
        ({"side": "SELL"}, "stop_loss 58000 must be above"),
        ({"quantity": "0.001"}, "below the exchange minimum 100"),
    ],
)
def test_futures_gate_rejections_carry_a_reason(settings: Settings, fields: dict[str, Any], needle: str) -> None:
    outcome = evaluate_futures(_usdm(**fields), settings, FACTS, FuturesPolicy(max_leverage=20))
    assert not outcome.verdict.approved and needle in outcome.verdict.reason


def test_futures_gate_approves_with_protection_on_the_closing_side(settings: Settings) -> None:
    outcome = evaluate_futures(_usdm(side="SELL", stop_loss="61000.05", take_profit="58000.05"), settings, FACTS, FuturesPolicy())
    assert outcome.verdict.approved and outcome.leverage == 5
    stop, take = outcome.protection
    assert (stop.side.value, stop.trigger_price, stop.client_algo_id) == ("BUY", Decimal("61000"), client_order_id("g-1", Step.STOP_LOSS))
    assert (take.side.value, take.trigger_price, take.client_algo_id) == ("BUY", Decimal("58000.1"), client_order_id("g-1", Step.TAKE_PROFIT))
    # The spot gate never approves a usdm decision.
    assert not evaluate(_usdm(), settings, FACTS).approved


# --- scenarios on the real stack -----------------------------------------------------------

uses_futures_worker = pytest.mark.usefixtures("fworker")


@uses_futures_worker
async def test_protected_entry_fills_and_both_protective_orders_exist_with_deterministic_ids(
    client: Client, fsettings: Settings, fpaper: PaperAdmin, gateway: BinanceExchange
) -> None:
    tid = trace_id("fut")
    sl_id, tp_id = _ids(tid)
    await fpaper.set_price("BTCUSDT", "60000")
    result = await _protected(client, fsettings, tid, symbol="BTCUSDT", quantity="0.01", leverage=5, stop_loss="58000", take_profit="62000")
    assert (result.stop_loss_id, result.take_profit_id) == (sl_id, tp_id)
    assert result.market.value == "usdm" and result.leverage == 5 and result.executed_qty == Decimal("0.01")
    entry = await fpaper.orders_for(client_order_id(tid))
    assert len(entry) == 1 and entry[0]["market"] == "usdm" and entry[0]["status"] == "FILLED"
    stop, take = await _algo_rows(fpaper, sl_id), await _algo_rows(fpaper, tp_id)
    assert len(stop) == 1 and len(take) == 1
    assert (stop[0]["type"], stop[0]["side"], stop[0]["triggerPrice"], stop[0]["status"]) == ("STOP_MARKET", "SELL", "58000", "NEW")
    assert (take[0]["type"], take[0]["side"], take[0]["triggerPrice"], take[0]["status"]) == ("TAKE_PROFIT_MARKET", "SELL", "62000", "NEW")
    assert stop[0]["reduceOnly"] and take[0]["reduceOnly"] and stop[0]["origQty"] == "0.01"
    assert await _position(gateway, "BTCUSDT") == Decimal("0.01")
    account = await gateway._call("futures_account")  # v3 positionRisk no longer carries leverage
    assert int(next(p["leverage"] for p in account["positions"] if p["symbol"] == "BTCUSDT")) == 5

    child = _child(client, tid)
    status = await child.query("status", result_type=ProtectionStatus)
    assert status.state == "PROTECTED" and not status.finished
    description = await child.describe()
    assert description.typed_search_attributes.get(TRADE_STATE) == "PROTECTED"
    await record_history(client.get_workflow_handle(tid), "futures_protected_entry")

    await child.signal("close_position", ClosePositionSignal(reason="test clean-up"))
    assert (await result_of(child)).state == "CLOSED"
    assert await _position(gateway, "BTCUSDT") == 0


@uses_futures_worker
async def test_mark_price_crosses_stop_fills_stop_cancels_take_profit_child_ends(
    client: Client, fsettings: Settings, fpaper: PaperAdmin, gateway: BinanceExchange
) -> None:
    tid = trace_id("fstop")
    sl_id, tp_id = _ids(tid)
    await fpaper.set_price("ETHUSDT", "3000")
    await _protected(client, fsettings, tid, symbol="ETHUSDT", quantity="0.1", leverage=3, stop_loss="2900", take_profit="3100")
    child = _child(client, tid)
    await fpaper.set_price("ETHUSDT", "2890")
    final = await result_of(child)
    assert final.state == "CLOSED" and final.finished and final.fired == sl_id, final.reason
    assert "take-profit cancelled" in final.reason and final.close is None
    assert [o["status"] for o in await _algo_rows(fpaper, sl_id)] == ["FINISHED"]
    assert [o["status"] for o in await _algo_rows(fpaper, tp_id)] == ["CANCELED"]
    triggered = [o for o in await fpaper.orders_for(sl_id) if o.get("parentAlgoId")]
    assert len(triggered) == 1 and triggered[0]["status"] == "FILLED" and triggered[0]["executedQty"] == "0.1"
    assert await _position(gateway, "ETHUSDT") == 0
    assert (await child.describe()).typed_search_attributes.get(TRADE_STATE) == "CLOSED"
    await _record_protection(child, "stop_fired")


@uses_futures_worker
async def test_protection_fails_repeatedly_position_flattened_intent_failed(
    client: Client, fsettings: Settings, fpaper: PaperAdmin, gateway: BinanceExchange
) -> None:
    tid = trace_id("funp")
    sl_id, tp_id = _ids(tid)
    await fpaper.set_price("BNBUSDT", "600")
    await fpaper.arm("error_5xx", path="/fapi/v1/algoOrder", method="POST")
    handle = await start(client, fsettings, tid, market="usdm", symbol="BNBUSDT", side="SELL", quantity="1", leverage=2,
                         stop_loss="620", take_profit="580")
    result = await result_of(handle, timeout=120)
    assert result.state is IntentState.FAILED
    assert result.reason.startswith("unprotected position closed"), result.reason
    assert result.protection_workflow_id is None and result.stop_loss_id is None
    flatten = await fpaper.orders_for(client_order_id(tid, Step.FLATTEN))
    assert len(flatten) == 1
    assert (flatten[0]["side"], flatten[0]["status"], flatten[0]["executedQty"], flatten[0]["reduceOnly"]) == ("BUY", "FILLED", "1", True)
    assert await _algo_rows(fpaper, sl_id) == [] and await _algo_rows(fpaper, tp_id) == []
    assert await _position(gateway, "BNBUSDT") == 0
    await record_history(handle, "futures_unprotected_flattened")


@uses_futures_worker
async def test_limit_entry_with_no_fill_places_no_protection(client: Client, fsettings: Settings, fpaper: PaperAdmin) -> None:
    tid = trace_id("fnofill")
    await fpaper.set_price("BTCUSDT", "60000")
    handle = await start(client, fsettings, tid, market="usdm", symbol="BTCUSDT", quantity="0.01", order_type="LIMIT", price="50000",
                         ttl_seconds=2, stop_loss="48000", take_profit="52000")
    result = await result_of(handle)
    assert result.state is IntentState.EXPIRED and result.executed_qty == 0
    assert [o["status"] for o in await fpaper.orders_for(client_order_id(tid))] == ["CANCELED"]
    sl_id, tp_id = _ids(tid)
    assert await fpaper.orders_for(sl_id) == [] and await fpaper.orders_for(tp_id) == []
    assert result.protection_workflow_id is None


@uses_futures_worker
async def test_limit_entry_expiring_partly_filled_ends_with_its_fill_protected(
    client: Client, fsettings: Settings, fpaper: PaperAdmin, gateway: BinanceExchange
) -> None:
    tid = trace_id("fpart")
    sl_id, tp_id = _ids(tid)
    await fpaper.set_price("BNBUSDT", "600")
    await fpaper.configure(liquidity={"BNBUSDT": "0.4"})
    try:
        handle = await start(client, fsettings, tid, market="usdm", symbol="BNBUSDT", quantity="1", order_type="LIMIT", price="590",
                             ttl_seconds=10, leverage=2, stop_loss="570", take_profit="620")

        async def resting() -> bool:
            return [o["status"] for o in await fpaper.orders_for(client_order_id(tid))] == ["NEW"]

        await eventually(resting, timeout=30, what="the LIMIT entry to rest")
        await fpaper.set_price("BNBUSDT", "589")  # one matching pass: 0.4 of 1 fills
        await fpaper.set_price("BNBUSDT", "600")
        result = await result_of(handle)
    finally:
        await fpaper.configure(liquidity={"BNBUSDT": None})
    assert result.state is IntentState.PARTIALLY_FILLED and result.executed_qty == Decimal("0.4"), result.reason
    assert result.stop_loss_id == sl_id and result.take_profit_id == tp_id
    assert [o["origQty"] for o in await _algo_rows(fpaper, sl_id)] == ["0.4"]
    assert [o["origQty"] for o in await _algo_rows(fpaper, tp_id)] == ["0.4"]
    assert await _position(gateway, "BNBUSDT") == Decimal("0.4")
    child = _child(client, tid)
    await child.signal("close_position", ClosePositionSignal(reason="test clean-up"))
    assert (await result_of(child)).state == "CLOSED"
    assert await _position(gateway, "BNBUSDT") == 0


async def _rest_with_a_fill(client: Client, settings: Settings, paper: PaperAdmin, tid: str) -> WorkflowHandle[Any, IntentResult]:
    """A BNBUSDT BUY LIMIT of 1 @ 590 with a long TTL that fills 0.4 and keeps resting."""
    await paper.set_price("BNBUSDT", "600")
    await paper.configure(liquidity={"BNBUSDT": "0.4"})
    handle = await start(client, settings, tid, market="usdm", symbol="BNBUSDT", quantity="1", order_type="LIMIT", price="590",
                         ttl_seconds=120, leverage=2, stop_loss="570", take_profit="620")

    async def resting() -> bool:
        return [o["status"] for o in await paper.orders_for(client_order_id(tid))] == ["NEW"]

    await eventually(resting, timeout=30, what="the LIMIT entry to rest")
    await paper.set_price("BNBUSDT", "589")  # one matching pass: 0.4 of 1 fills
    await paper.set_price("BNBUSDT", "600")
    return handle


async def _protection_live(client: Client, paper: PaperAdmin, tid: str, quantity: str, generation: int = 0) -> None:
    """Wait (well inside the entry's 120 s TTL) for the pair of ``generation`` sized ``quantity``."""
    ids = [client_order_id(tid, step, generation) for step in (Step.STOP_LOSS, Step.TAKE_PROFIT)]

    async def live() -> bool:
        rows = [row for i in ids for row in await _algo_rows(paper, i)]
        if [(o["status"], o["origQty"], o["reduceOnly"]) for o in rows] != [("NEW", quantity, True)] * 2:
            return False
        try:
            status = await _child(client, tid).query("status", result_type=ProtectionStatus)
        except RPCError:
            return False  # not started yet: the intent starts it once both orders are live
        return status.state == "PROTECTED" and [o.client_algo_id for o in status.orders] == ids

    await eventually(live, timeout=30, what=f"the stop-loss and take-profit for {quantity} while the entry rests")


@uses_futures_worker
async def test_resting_limit_entry_is_protected_from_its_first_fill_and_the_protection_grows_with_its_fills(
    client: Client, fsettings: Settings, fpaper: PaperAdmin, gateway: BinanceExchange
) -> None:
    tid = trace_id("frest")
    first = _ids(tid)
    grown = tuple(client_order_id(tid, step, 1) for step in (Step.STOP_LOSS, Step.TAKE_PROFIT))
    try:
        handle = await _rest_with_a_fill(client, fsettings, fpaper, tid)
        await _protection_live(client, fpaper, tid, "0.4")
        assert [o["status"] for o in await fpaper.orders_for(client_order_id(tid))] == ["PARTIALLY_FILLED"]
        status = await handle.query("status", result_type=IntentStatus)
        assert status.state is IntentState.PARTIALLY_FILLED and not status.finished
        await fpaper.set_price("BNBUSDT", "589")  # 0.4 more fills: the pair is replaced by one for 0.8
        await fpaper.set_price("BNBUSDT", "600")
        await _protection_live(client, fpaper, tid, "0.8", generation=1)
        assert [o["status"] for i in first for o in await _algo_rows(fpaper, i)] == ["CANCELED", "CANCELED"]
        await handle.signal("cancel_order")
        result = await result_of(handle)
    finally:
        await fpaper.configure(liquidity={"BNBUSDT": None})
    assert result.state is IntentState.PARTIALLY_FILLED and result.executed_qty == Decimal("0.8"), result.reason
    assert f"protected by stop-loss {grown[0]}" in result.reason, result.reason
    assert (result.stop_loss_id, result.take_profit_id) == grown
    assert await _position(gateway, "BNBUSDT") == Decimal("0.8")
    await record_history(handle, "futures_resting_fill_protected")
    child = _child(client, tid)
    await _record_protection(child, "resized_while_entry_rests")  # still running: its history so far
    await child.signal("close_position", ClosePositionSignal(reason="test clean-up"))
    assert (await result_of(child)).state == "CLOSED"
    assert await _position(gateway, "BNBUSDT") == 0


@uses_futures_worker
async def test_stop_loss_firing_while_the_entry_rests_cancels_the_rest_of_the_entry_and_leaves_nothing_open(
    client: Client, fsettings: Settings, fpaper: PaperAdmin, gateway: BinanceExchange
) -> None:
    tid = trace_id("frestfire")
    sl_id, tp_id = _ids(tid)
    try:
        handle = await _rest_with_a_fill(client, fsettings, fpaper, tid)
        await _protection_live(client, fpaper, tid, "0.4")
        await fpaper.set_price("BNBUSDT", "569")  # through the stop: the entry fills 0.4 more, the stop fires
        child = _child(client, tid)
        final = await result_of(child)
        result = await result_of(handle)
        await fpaper.set_price("BNBUSDT", "580")  # under the entry's price: a live entry would fill again
    finally:
        await fpaper.configure(liquidity={"BNBUSDT": None})
    assert final.state == "CLOSED" and final.fired == sl_id, final.reason
    assert "entry " + client_order_id(tid) in final.reason, final.reason
    entry = await fpaper.orders_for(client_order_id(tid))
    assert [(o["status"], o["executedQty"]) for o in entry] == [("CANCELED", "0.8")], entry
    assert [o["status"] for o in await _algo_rows(fpaper, tp_id)] == ["CANCELED"]
    # The stop closed the 0.4 it protected; the close took the 0.4 the entry filled with it.
    assert await _position(gateway, "BNBUSDT") == 0
    assert result.state is IntentState.PARTIALLY_FILLED and result.executed_qty == Decimal("0.8"), result.reason
    await _record_protection(child, "fired_while_entry_rests")


def _temporal_cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [temporal_binary(), *args, "--address", stack.temporal_address, "--namespace", "default"],
        capture_output=True, text=True, timeout=60, check=False,
    )


@uses_futures_worker
async def test_close_position_from_temporal_cli_closes_and_cancels_both(
    stack: Stack, client: Client, fsettings: Settings, fpaper: PaperAdmin, gateway: BinanceExchange
) -> None:
    tid = trace_id("fcli")
    sl_id, tp_id = _ids(tid)
    await fpaper.set_price("XRPUSDT", "0.6")
    await _protected(client, fsettings, tid, symbol="XRPUSDT", quantity="100", leverage=2, stop_loss="0.55", take_profit="0.65")
    assert await _position(gateway, "XRPUSDT") == Decimal("100")
    signal = _temporal_cli(stack, "workflow", "signal", "-w", protection_workflow_id(tid), "--name", "close_position",
                           "--input", '{"reason":"ops"}')
    assert signal.returncode == 0, signal.stderr
    child = _child(client, tid)
    final = await result_of(child)
    assert final.state == "CLOSED" and final.close_requested and final.reason.startswith("ops"), final.reason
    close = await fpaper.orders_for(client_order_id(tid, Step.CLOSE))
    assert len(close) == 1
    assert (close[0]["side"], close[0]["status"], close[0]["executedQty"], close[0]["reduceOnly"]) == ("SELL", "FILLED", "100", True)
    assert [o["status"] for o in await _algo_rows(fpaper, sl_id)] == ["CANCELED"]
    assert [o["status"] for o in await _algo_rows(fpaper, tp_id)] == ["CANCELED"]
    assert await _position(gateway, "XRPUSDT") == 0

    async def listed() -> bool:
        found = _temporal_cli(stack, "workflow", "list", "--query",
                              f'TradeState="CLOSED" AND Symbol="XRPUSDT" AND WorkflowId="{protection_workflow_id(tid)}"', "-o", "json")
        assert found.returncode == 0, found.stderr
        return protection_workflow_id(tid) in found.stdout

    await eventually(listed, timeout=30, what="visibility to list the closed protection")
    await _record_protection(child, "close_signal")


async def test_worker_killed_between_fill_and_protection_places_protection_once(
    stack: Stack, client: Client, fsettings: Settings, fpaper: PaperAdmin, gateway: BinanceExchange, tmp_path: Path
) -> None:
    settings = fsettings.model_copy(update={"task_queue": f"fcrash-{uuid.uuid4().hex[:8]}"})
    first = worker_proc(tmp_path, settings, "worker-1").start()
    second = worker_proc(tmp_path, settings, "worker-2")
    tid = trace_id("fcrash")
    sl_id, tp_id = _ids(tid)
    try:
        await fpaper.set_price("SOLUSDT", "150")
        # The stop-loss request reaches the exchange, then waits there while the worker dies.
        fault = await fpaper.arm("latency", path="/fapi/v1/algoOrder", method="POST", count=1, latency_ms=1500)
        handle = await start(client, settings, tid, market="usdm", symbol="SOLUSDT", quantity="1", leverage=2,
                             stop_loss="140", take_profit="160")

        async def protection_in_flight() -> bool:
            return not any(f["id"] == fault["id"] and f.get("remaining", 1) > 0 for f in await fpaper.faults())

        await eventually(protection_in_flight, timeout=60, what="the stop-loss request to reach the exchange")
        description = await handle.describe()
        pending = [a for a in description.raw_description.pending_activities if a.activity_type.name == "place_protection"]
        assert pending and pending[0].state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        assert [o["status"] for o in await fpaper.orders_for(client_order_id(tid))] == ["FILLED"]
        first.kill()

        second.start()
        result = await result_of(handle, timeout=120)
        assert result.state is IntentState.FILLED, second.log_tail()
        assert len(await _algo_rows(fpaper, sl_id)) == 1 and len(await _algo_rows(fpaper, tp_id)) == 1
        assert len(await fpaper.orders_for(client_order_id(tid))) == 1
        assert "protection adopted" in second.log_text()
        await record_history(handle, "futures_worker_killed_before_protection")

        child = _child(client, tid)
        await child.signal("close_position", ClosePositionSignal(reason="test clean-up"))
        assert (await result_of(child, timeout=60)).state == "CLOSED"
        assert await _position(gateway, "SOLUSDT") == 0
    finally:
        first.kill()
        second.stop()


async def test_close_refused_for_good_ends_close_failed_and_leaves_the_protection_in_place(
    stack: Stack, client: Client, redis: Redis, tmp_path: Path
) -> None:
    # The key loses its trading permission while a position is protected: the close order is
    # refused outright (-2015), so the stop-loss and take-profit must stay at the exchange,
    # and the protection must end CLOSE_FAILED, saying the position may be open.
    proc, port = exchange_proc(tmp_path)  # its own exchange: the position stays open here
    proc.start(wait_port=port)
    settings = stack.settings(exchange_url=f"http://127.0.0.1:{port}", task_queue=f"fclosefail-{uuid.uuid4().hex[:8]}")
    paper = PaperAdmin(settings.exchange_url or "")
    gateway = BinanceExchange(settings)
    tid = trace_id("fclosefail")
    sl_id, tp_id = _ids(tid)
    try:
        async with running_worker(client, settings, redis):
            await paper.set_price("SOLUSDT", "150")
            await _protected(client, settings, tid, symbol="SOLUSDT", quantity="1", leverage=2, stop_loss="140", take_profit="160")
            await paper.arm("key_revoked", path="/fapi/v1/order", method="POST")
            child = _child(client, tid)
            await child.signal("close_position", ClosePositionSignal(reason="ops"))
            final = await result_of(child, timeout=60)
        assert final.state == "CLOSE_FAILED", final.reason
        assert "position may be open" in final.reason and "-2015" in final.reason, final.reason
        assert final.reason.endswith("protective orders left in place"), final.reason
        assert (await child.describe()).typed_search_attributes.get(TRADE_STATE) == "CLOSE_FAILED"
        assert [o["status"] for o in await _algo_rows(paper, sl_id)] == ["NEW"]
        assert [o["status"] for o in await _algo_rows(paper, tp_id)] == ["NEW"]
        assert await paper.orders_for(client_order_id(tid, Step.CLOSE)) == []
        await paper.clear_faults()
        assert await _position(gateway, "SOLUSDT") == Decimal("1")
        await _record_protection(child, "close_failed")
    finally:
        await gateway.close()
        proc.stop()


# --- stored histories of the protection workflow ----------------------------------------------

PROTECTION_FILES = sorted(PROTECTION_HISTORIES.glob("*.json")) if PROTECTION_HISTORIES.exists() else []


@pytest.mark.parametrize("path", PROTECTION_FILES, ids=[p.stem for p in PROTECTION_FILES])
async def test_stored_protection_history_replays_without_nondeterminism(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(workflows=[TradeIntentWorkflow, ProtectionWorkflow], data_converter=DATA_CONVERTER)
    await replayer.replay_workflow(history)


# --- the protection watch under a rate limit --------------------------------------------------


@pytest.mark.slow  # the spot watch's Retry-After test runs in `make test`
@uses_futures_worker
async def test_protection_watch_waits_for_retry_after_and_shows_needs_attention(
    client: Client, fsettings: Settings, fpaper: PaperAdmin, gateway: BinanceExchange
) -> None:
    tid = trace_id("fra")
    await fpaper.set_price("BNBUSDT", "600")
    await _protected(client, fsettings, tid, symbol="BNBUSDT", quantity="0.1", leverage=2, stop_loss="500", take_profit="700")
    child = _child(client, tid)
    armed = await fpaper.arm("rate_limit_429", path="/fapi/v1/algoOrder", method="GET", count=1_000_000, retry_after=10)
    until = await fpaper.server_time() + 30_000

    async def passed() -> bool:
        return await fpaper.server_time() >= until

    await eventually(passed, timeout=60, interval=0.5, what="30 s of exchange time")
    left = next((f["remaining"] for f in await fpaper.faults() if f["id"] == armed["id"]), 0)
    used = 1_000_000 - left
    # One lookup at most every Retry-After (two orders each round): 30 s / 10 s, plus the round in flight when armed.
    assert used <= 8, f"{used} lookups of two protective orders in 30 s under Retry-After 10"

    async def needs_attention() -> bool:
        return (await child.describe()).typed_search_attributes.get(TRADE_STATE) == "NEEDS_ATTENTION"

    await eventually(needs_attention, timeout=120, interval=0.5, what="the protection to show NEEDS_ATTENTION")
    await fpaper.clear_faults(armed["id"])
    await child.signal("close_position", ClosePositionSignal(reason="test clean-up"))
    assert (await result_of(child)).state == "CLOSED"
    assert await _position(gateway, "BNBUSDT") == 0
    await _record_protection(child, "watch_backoff")


# --- an entry whose state cannot be confirmed ---------------------------------------------------

ENTRY = "/fapi/v1/order"


@asynccontextmanager
async def _own_exchange(
    stack: Stack, client: Client, redis: Redis, tmp_path: Path, name: str
) -> AsyncIterator[tuple[Settings, PaperAdmin, BinanceExchange]]:
    """An exchange of the test's own, with a worker on it: what the test leaves open stays there."""
    proc, port = exchange_proc(tmp_path)
    proc.start(wait_port=port)
    settings = stack.settings(exchange_url=f"http://127.0.0.1:{port}", task_queue=f"{name}-{uuid.uuid4().hex[:8]}")
    paper = PaperAdmin(settings.exchange_url or "")
    gateway = BinanceExchange(settings)
    try:
        async with running_worker(client, settings, redis):
            yield settings, paper, gateway
    finally:
        await gateway.close()
        proc.stop()


async def _revoke_order_calls(paper: PaperAdmin) -> None:
    """The key may no longer look the entry up or cancel it, for good (-2015)."""
    for method in ("GET", "DELETE"):
        await paper.arm("key_revoked", path=ENTRY, method=method)


async def test_entry_outcome_unknown_then_refused_for_good_fails_saying_a_position_may_be_open(
    stack: Stack, client: Client, redis: Redis, tmp_path: Path
) -> None:
    # The entry is accepted but answered "outcome unknown", and executes a moment later; by
    # then the key may no longer look orders up or cancel them. The intent never sees the
    # order, so it cannot protect it: its FAILED must name the entry and say a position may
    # be open on the symbol.
    tid = trace_id("fblind")
    entry_id = client_order_id(tid)
    sl_id, tp_id = _ids(tid)
    async with _own_exchange(stack, client, redis, tmp_path, "fblind") as (settings, paper, gateway):
        await paper.set_price("SOLUSDT", "150")
        unknown = await paper.arm("execute_later", path=ENTRY, method="POST", count=1, delay_ms=2_000)
        handle = await start(client, settings, tid, market="usdm", symbol="SOLUSDT", quantity="1", leverage=2,
                             stop_loss="140", take_profit="160")

        async def sent() -> bool:
            return not any(f["id"] == unknown["id"] and f.get("remaining", 1) > 0 for f in await paper.faults())

        # Armed before the deferred entry executes: every lookup that could see it is refused.
        await eventually(sent, timeout=30, interval=0.1, what="the entry to reach the exchange")
        await _revoke_order_calls(paper)
        result = await result_of(handle, timeout=120)
        assert result.state is IntentState.FAILED, result.reason
        assert f"{entry_id} may be live" in result.reason and "-2015" in result.reason, result.reason
        assert "a position may be open on SOLUSDT (no fill seen" in result.reason, result.reason
        assert result.executed_qty == 0 and result.protection_workflow_id is None
        assert await paper.orders_for(sl_id) == [] and await paper.orders_for(tp_id) == []
        # What the reason warns of: the entry executed, and its position is open, unprotected.
        await paper.clear_faults()

        async def opened() -> bool:
            return await _position(gateway, "SOLUSDT") == Decimal("1")

        await eventually(opened, timeout=30, what="the deferred entry's position")
        assert [o["status"] for o in await paper.orders_for(entry_id)] == ["FILLED"]
        await record_history(handle, "futures_entry_unconfirmed_position_may_be_open")


@pytest.mark.slow  # its unfilled twin runs in `make test`
async def test_partly_filled_entry_whose_cancel_is_refused_protects_the_fill_and_says_a_position_may_be_open(
    stack: Stack, client: Client, redis: Redis, tmp_path: Path
) -> None:
    # A LIMIT entry fills 0.4 of 1 and rests, and the 0.4 is protected then; then the key may
    # no longer look it up or cancel it. At its TTL the cancel is refused: the intent ends
    # FAILED (the rest may still fill), the 0.4 it saw filled stays protected, and the reason
    # says a position may be open.
    tid = trace_id("fpartblind")
    entry_id = client_order_id(tid)
    sl_id, tp_id = _ids(tid)
    async with _own_exchange(stack, client, redis, tmp_path, "fpartblind") as (settings, paper, gateway):
        await paper.set_price("BNBUSDT", "600")
        await paper.configure(liquidity={"BNBUSDT": "0.4"})
        handle = await start(client, settings, tid, market="usdm", symbol="BNBUSDT", quantity="1", order_type="LIMIT", price="590",
                             ttl_seconds=20, leverage=2, stop_loss="570", take_profit="620")

        async def resting() -> bool:
            return [o["status"] for o in await paper.orders_for(entry_id)] == ["NEW"]

        await eventually(resting, timeout=30, what="the LIMIT entry to rest")
        await paper.set_price("BNBUSDT", "589")  # one matching pass: 0.4 of 1 fills
        await paper.set_price("BNBUSDT", "600")

        async def seen_partly_filled() -> bool:
            status = await handle.query("status", result_type=IntentStatus)
            return status.state is IntentState.PARTIALLY_FILLED

        await eventually(seen_partly_filled, timeout=30, what="the intent to see the partial fill")
        await _revoke_order_calls(paper)
        result = await result_of(handle, timeout=120)
        assert result.state is IntentState.FAILED, result.reason
        assert f"{entry_id} may be live" in result.reason and "-2015" in result.reason, result.reason
        assert "a position may be open on BNBUSDT (0.4 filled when last seen" in result.reason, result.reason
        assert f"protected by stop-loss {sl_id}" in result.reason, result.reason
        assert result.executed_qty == Decimal("0.4")
        assert (result.stop_loss_id, result.take_profit_id) == (sl_id, tp_id)
        assert result.protection_workflow_id == protection_workflow_id(tid)
        assert [o["origQty"] for o in await _algo_rows(paper, sl_id)] == ["0.4"]
        assert [o["origQty"] for o in await _algo_rows(paper, tp_id)] == ["0.4"]
        await record_history(handle, "futures_resting_fill_protected_unconfirmed")

        await paper.clear_faults()
        assert [o["status"] for o in await paper.orders_for(entry_id)] == ["PARTIALLY_FILLED"]  # still live, as the reason says
        await gateway._call("futures_cancel_order", symbol="BNBUSDT", origClientOrderId=entry_id)
        child = _child(client, tid)
        await child.signal("close_position", ClosePositionSignal(reason="test clean-up"))
        assert (await result_of(child)).state == "CLOSED"
        assert await _position(gateway, "BNBUSDT") == 0
