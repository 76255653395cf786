"""TradeIntentWorkflow on the real stack: Temporal dev server, redis-server, the paper
exchange, python-binance. One scenario per terminal state and per failure the original
system could not survive."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from redis.asyncio import Redis
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import SearchAttributeKey, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.testing import ActivityEnvironment
from temporalio.service import RPCError

from activities.exchange import ExchangeError, RequestRefused, lookup
from activities.exchange.binance import BinanceExchange
from activities.placement import Record, RecordKind, place_exactly_once
from activities.trading import TradingActivities
from paper_exchange.admin_client import PaperAdmin
from quantum_trader import constants, errors
from quantum_trader.ids import client_order_id
from quantum_trader.models import CancelRequest, IntentResult, IntentStatus, Market, OrderRequest, OrderSnapshot, OrderType, Side
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState
from quantum_trader.temporal import start_intent
from tests.conftest import running_worker, trace_id
from tests.support.eventually import eventually
from tests.support.intents import decision, record_history, result_of, start
from tests.support.stack import temporal_binary

pytestmark = pytest.mark.usefixtures("worker")


async def _status(client: Client, tid: str) -> IntentStatus:
    return await client.get_workflow_handle(tid).query("status", result_type=IntentStatus)


async def _wait_state(client: Client, tid: str, state: IntentState) -> IntentStatus:
    async def probe() -> IntentStatus | None:
        status = await _status(client, tid)
        return status if status.state is state else None

    return await eventually(probe, timeout=30, what=f"{tid} in {state}")


async def test_market_intent_fills_with_one_order_and_one_result(client: Client, settings: Settings, paper: PaperAdmin, redis: Redis) -> None:
    tid = trace_id("fill")
    handle = await start(client, settings, tid)
    result = await result_of(handle)
    assert result.state is IntentState.FILLED
    assert result.client_order_id == client_order_id(tid)
    assert result.executed_qty == Decimal("0.001")
    assert result.avg_price and result.avg_price > 0
    assert result.fees > 0
    orders = await paper.orders_for(client_order_id(tid))
    assert len(orders) == 1 and orders[0]["status"] == "FILLED"
    entries = await redis.xrange(settings.result_stream)
    mine = [fields for _, fields in entries if fields[b"trace_id"] == tid.encode()]
    assert len(mine) == 1
    assert mine[0][b"state"] == b"FILLED" and mine[0][b"status"] == b"filled"
    description = await handle.describe()
    assert description.typed_search_attributes.get(SearchAttributeKey.for_keyword("TradeState")) == "FILLED"
    assert await description.static_summary() == "BUY 0.001 BTCUSDT MARKET conf=0.9"
    await record_history(handle, "market_filled")


async def test_same_decision_started_50_times_concurrently_runs_once(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid = trace_id("dup")
    same = decision(tid)
    outcomes = await asyncio.gather(*(start_intent(client, same, settings) for _ in range(50)))
    assert sum(o.started for o in outcomes) == 1
    result = await result_of(client.get_workflow_handle(tid, result_type=IntentResult))
    assert result.state is IntentState.FILLED
    assert len(await paper.orders_for(client_order_id(tid))) == 1
    # Closed, yet still refused: REJECT_DUPLICATE holds for the namespace's retention.
    again = await start_intent(client, same, settings)
    assert not again.started
    with pytest.raises(WorkflowAlreadyStartedError):
        await client.start_workflow(
            constants.WORKFLOW_NAME, same, id=tid, task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    assert len(await paper.orders_for(client_order_id(tid))) == 1


async def test_limit_intent_price_crosses_fills(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid = trace_id("lfill")
    await paper.set_price("ETHUSDT", "3000")
    handle = await start(client, settings, tid, symbol="ETHUSDT", order_type="LIMIT", price="2900", quantity="0.01", ttl_seconds=60)
    await _wait_state(client, tid, IntentState.OPEN)
    await paper.set_price("ETHUSDT", "2899")
    result = await result_of(handle)
    assert result.state is IntentState.FILLED
    assert result.avg_price == Decimal("2900")
    await record_history(handle, "limit_filled")


async def test_limit_intent_nothing_fills_by_ttl_expires_and_cancels_at_exchange(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid = trace_id("exp")
    await paper.set_price("SOLUSDT", "150")
    handle = await start(client, settings, tid, symbol="SOLUSDT", order_type="LIMIT", price="100", quantity="0.1", ttl_seconds=2)
    result = await result_of(handle)
    assert result.state is IntentState.EXPIRED
    assert result.executed_qty == 0
    orders = await paper.orders_for(client_order_id(tid))
    assert [o["status"] for o in orders] == ["CANCELED"]
    await record_history(handle, "limit_expired")


async def test_limit_intent_partial_fill_then_ttl_ends_partially_filled(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid = trace_id("part")
    await paper.set_price("BNBUSDT", "600")
    await paper.configure(liquidity={"BNBUSDT": "0.4"})
    try:
        handle = await start(client, settings, tid, symbol="BNBUSDT", order_type="LIMIT", price="590", quantity="1", ttl_seconds=4)
        await _wait_state(client, tid, IntentState.OPEN)
        await paper.set_price("BNBUSDT", "589")  # one matching pass: 0.4 of 1 fills
        await paper.set_price("BNBUSDT", "600")  # and the price walks away
        status = await _wait_state(client, tid, IntentState.PARTIALLY_FILLED)
        assert status.snapshot is not None and status.snapshot.executed_qty == Decimal("0.4")
        result = await result_of(handle)
    finally:
        await paper.configure(liquidity={"BNBUSDT": None})
    assert result.state is IntentState.PARTIALLY_FILLED
    assert result.executed_qty == Decimal("0.4")
    orders = await paper.orders_for(client_order_id(tid))
    assert len(orders) == 1 and orders[0]["status"] == "CANCELED"
    await record_history(handle, "limit_partial_expired")


async def _resting_limit(client: Client, settings: Settings, paper: PaperAdmin, prefix: str):  # noqa: ANN202
    tid = trace_id(prefix)
    await paper.set_price("XRPUSDT", "0.6")
    handle = await start(client, settings, tid, symbol="XRPUSDT", order_type="LIMIT", price="0.5", quantity="20", ttl_seconds=120)
    await _wait_state(client, tid, IntentState.OPEN)
    return tid, handle


async def test_cancel_signal_on_resting_limit_cancels_at_exchange(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid, handle = await _resting_limit(client, settings, paper, "csig")
    await handle.signal("cancel_order", CancelRequest(reason="ops"))
    result = await result_of(handle)
    assert result.state is IntentState.CANCELLED
    assert result.reason == "ops"
    assert [o["status"] for o in await paper.orders_for(client_order_id(tid))] == ["CANCELED"]
    await record_history(handle, "cancel_signal")


async def test_cancel_update_answers_with_the_outcome(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid, handle = await _resting_limit(client, settings, paper, "cupd")
    status = await handle.execute_update("request_cancel", CancelRequest(reason="desk"), result_type=IntentStatus)
    assert status.state is IntentState.CANCELLED and status.finished
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):
        await handle.execute_update("request_cancel", CancelRequest(reason="again"), result_type=IntentStatus)
    assert [o["status"] for o in await paper.orders_for(client_order_id(tid))] == ["CANCELED"]


async def test_workflow_cancel_cancels_order_then_completes_cancelled(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid, handle = await _resting_limit(client, settings, paper, "wcan")
    await handle.cancel()
    result = await result_of(handle)
    assert result.state is IntentState.CANCELLED
    assert [o["status"] for o in await paper.orders_for(client_order_id(tid))] == ["CANCELED"]
    await record_history(handle, "workflow_cancel")


async def test_cancel_before_placement_places_nothing(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid = trace_id("cpre")
    handle = await client.start_workflow(
        constants.WORKFLOW_NAME, decision(tid), id=tid, task_queue=settings.task_queue,
        start_signal="cancel_order", start_signal_args=[CancelRequest(reason="changed my mind")],
        result_type=IntentResult,
    )
    result = await result_of(handle)
    assert result.state is IntentState.CANCELLED and result.reason == "changed my mind"
    assert await paper.orders_for(client_order_id(tid)) == []


async def test_cancel_race_lost_to_fill_ends_filled_and_says_so(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid, handle = await _resting_limit(client, settings, paper, "race")
    # The cancel request reaches the exchange only after the order has filled.
    await paper.arm("latency", path="/api/v3/order", method="DELETE", count=1, latency_ms=2000)
    await handle.signal("cancel_order", CancelRequest(reason="ops"))

    async def cancel_in_progress() -> bool:
        description = await handle.describe()
        return any(a.activity_type.name == "cancel_order" for a in description.raw_description.pending_activities)

    await eventually(cancel_in_progress, timeout=30, what="the cancel activity to start")
    await paper.set_price("XRPUSDT", "0.49")
    result = await result_of(handle)
    assert result.state is IntentState.FILLED
    assert "filled before the cancel took effect" in result.reason
    assert [o["status"] for o in await paper.orders_for(client_order_id(tid))] == ["FILLED"]


async def test_cancel_after_end_is_refused(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid = trace_id("late")
    handle = await start(client, settings, tid)
    result = await result_of(handle)
    assert result.state is IntentState.FILLED
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):
        await handle.execute_update("request_cancel", CancelRequest(reason="too late"), result_type=IntentStatus)


async def test_low_confidence_rejected_by_policy_places_nothing(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid = trace_id("lowc")
    result = await result_of(await start(client, settings, tid, confidence="0.1"))
    assert result.state is IntentState.REJECTED
    assert "confidence" in result.reason
    assert await paper.orders_for(client_order_id(tid)) == []


async def test_kill_switch_rejects_new_intents(client: Client, settings: Settings, paper: PaperAdmin, redis: Redis) -> None:
    tid = trace_id("kill")
    await redis.set(constants.KILL_SWITCH_KEY, "1")
    try:
        result = await result_of(await start(client, settings, tid))
    finally:
        await redis.delete(constants.KILL_SWITCH_KEY)
    assert result.state is IntentState.REJECTED and result.reason == "kill switch engaged"
    assert await paper.orders_for(client_order_id(tid)) == []


async def test_insufficient_balance_rejected_by_exchange(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid = trace_id("bal")
    await paper.set_balance("USDT", "0")
    try:
        result = await result_of(await start(client, settings, tid))
    finally:
        await paper.reset()
    assert result.state is IntentState.REJECTED
    assert "insufficient balance" in result.reason
    assert result.attempts <= 1


async def test_response_lost_adopts_the_order_exactly_once(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid = trace_id("lost")
    await paper.arm("drop_response", path="/api/v3/order", method="POST", count=1)
    handle = await start(client, settings, tid)
    result = await result_of(handle)
    assert result.state is IntentState.FILLED
    assert result.attempts == 2
    orders = await paper.orders_for(client_order_id(tid))
    assert len(orders) == 1
    await record_history(handle, "response_lost")


async def test_5xx_before_execution_retries_then_fills_once(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid = trace_id("5xx")
    await paper.arm("error_5xx", path="/api/v3/order", method="POST", count=2)
    result = await result_of(await start(client, settings, tid))
    assert result.state is IntentState.FILLED
    # Two sends answered 5xx, each followed by an attempt that only waits (the retry policy
    # waits for it; no attempt sleeps), then the send that fills.
    assert result.attempts == 5
    assert len(await paper.orders_for(client_order_id(tid))) == 1


def _temporal_cli(stack, *args: str) -> subprocess.CompletedProcess[str]:  # noqa: ANN001
    return subprocess.run(
        [temporal_binary(), *args, "--address", stack.temporal_address, "--namespace", "default"],
        capture_output=True, text=True, timeout=60, check=False,
    )


async def test_temporal_cli_signal_cancels_and_list_query_finds_it(stack, client: Client, settings: Settings, paper: PaperAdmin) -> None:  # noqa: ANN001
    tid, handle = await _resting_limit(client, settings, paper, "cli")
    signal = _temporal_cli(stack, "workflow", "signal", "-w", tid, "--name", "cancel_order", "--input", '{"reason":"ops"}')
    assert signal.returncode == 0, signal.stderr
    result = await result_of(handle)
    assert result.state is IntentState.CANCELLED and result.reason == "ops"

    async def listed() -> bool:
        found = _temporal_cli(stack, "workflow", "list", "--query", f'TradeState="CANCELLED" AND Symbol="XRPUSDT" AND WorkflowId="{tid}"', "-o", "json")
        assert found.returncode == 0, found.stderr
        return tid in found.stdout

    await eventually(listed, timeout=30, what="visibility to list the cancelled intent")


async def test_exchange_down_for_the_whole_deadline_ends_failed_with_no_order(stack, client: Client, paper: PaperAdmin, redis: Redis) -> None:  # noqa: ANN001
    settings = stack.settings(market_deadline_seconds=5)
    tid = trace_id("fail")
    await paper.arm("error_5xx", path="/api/v3/order", method="POST")
    async with running_worker(client, settings, redis):
        result = await result_of(await start(client, settings, tid), timeout=120)
    assert result.state is IntentState.FAILED
    assert "no order exists at the exchange" in result.reason
    assert result.client_order_id == client_order_id(tid)
    assert await paper.orders_for(client_order_id(tid)) == []


def _activity_environment() -> ActivityEnvironment:
    """An activity environment whose attempt started now with a minute to run."""
    now = datetime.now(timezone.utc)
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(
        ActivityEnvironment.default_info(),
        started_time=now, scheduled_time=now, current_attempt_scheduled_time=now,
        start_to_close_timeout=timedelta(minutes=1), schedule_to_close_timeout=timedelta(minutes=1),
    )
    return environment


async def test_exchange_filter_failure_is_a_non_retryable_rejection(settings: Settings) -> None:
    gateway = BinanceExchange(settings)
    activities = TradingActivities(settings, gateway)
    order = OrderRequest(
        trace_id="filter-1", market=Market.SPOT, symbol="BTCUSDT", side=Side.BUY, order_type=OrderType.MARKET,
        quantity=Decimal("0.0000001"), client_order_id=client_order_id("filter-1"),
    )
    try:
        with pytest.raises(ApplicationError) as error:
            await _activity_environment().run(activities.place_order, order)
    finally:
        await gateway.close()
    assert error.value.non_retryable
    assert error.value.type == errors.ORDER_REJECTED
    assert "-1013" in str(error.value) or "Filter failure" in str(error.value)


async def test_placement_attempt_near_its_timeout_sends_nothing(settings: Settings, paper: PaperAdmin) -> None:
    gateway = BinanceExchange(settings)
    activities = TradingActivities(settings, gateway)
    tid = trace_id("late-send")
    order = OrderRequest(
        trace_id=tid, market=Market.SPOT, symbol="BTCUSDT", side=Side.BUY, order_type=OrderType.MARKET,
        quantity=Decimal("0.001"), client_order_id=client_order_id(tid),
    )
    # The attempt started now but has one second to run, less than the send safety margin.
    # (The SDK's default info, an attempt "started" in 1970, is now refused for clock skew.)
    expired = _activity_environment()
    expired.info = dataclasses.replace(expired.info, start_to_close_timeout=timedelta(seconds=1))
    try:
        with pytest.raises(ApplicationError) as error:
            await expired.run(activities.place_order, order)
    finally:
        await gateway.close()
    assert not error.value.non_retryable and error.value.type == errors.REQUEST_REFUSED
    assert "too close to its timeout" in error.value.message
    assert await paper.orders_for(client_order_id(tid)) == []


def _market_order(tid: str, **fields: object) -> OrderRequest:
    return OrderRequest(
        trace_id=tid, market=Market.SPOT, symbol="BTCUSDT", side=Side.BUY, order_type=OrderType.MARKET,
        quantity=Decimal("0.001"), client_order_id=client_order_id(tid), **fields,  # type: ignore[arg-type]
    )


async def test_gate_records_that_no_order_exists_yet_for_its_run(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid = trace_id("absent")
    handle = await start(client, settings, tid)
    assert (await result_of(handle)).state is IntentState.FILLED
    status = await _status(client, tid)
    assert status.order is not None and status.order.absent_in_run == (await handle.describe()).run_id
    assert len(await paper.orders_for(client_order_id(tid))) == 1


async def test_gate_that_finds_the_order_leaves_placement_to_adopt_it(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    # A trace_id reused once the dedup window has passed: its order is already at the exchange.
    tid = trace_id("reused")
    gateway = BinanceExchange(settings)
    try:
        await gateway.place(_market_order(tid))
    finally:
        await gateway.close()
    handle = await start(client, settings, tid)
    result = await result_of(handle)
    assert result.state is IntentState.FILLED
    status = await _status(client, tid)
    assert status.order is not None and status.order.absent_in_run is None
    assert len(await paper.orders_for(client_order_id(tid))) == 1


@pytest.mark.parametrize(
    ("absent_in_run", "attempt", "looks_up"),
    [("run-a", 1, False), ("run-b", 1, True), (None, 1, True), ("run-a", 2, True)],
    ids=["same-run-first-attempt", "other-run", "gate-unsure", "retry"],
)
async def test_placement_skips_its_lookup_only_on_the_gates_run_and_first_attempt(
    absent_in_run: str | None, attempt: int, looks_up: bool, settings: Settings, paper: PaperAdmin
) -> None:
    # A 5xx armed on the order lookup: an attempt that looks the order up fails on it, one
    # that trusts its gate sends at once and leaves the fault armed.
    tid = trace_id("skip")
    await paper.arm("error_5xx", path="/api/v3/order", method="GET", count=1)
    environment = _activity_environment()
    environment.info = dataclasses.replace(environment.info, attempt=attempt, workflow_run_id="run-a")
    gateway = BinanceExchange(settings)
    activities = TradingActivities(settings, gateway)
    # As on a worker whose gate already ran: the exchange clock offset is measured (an
    # attempt may only skip its lookup then: it stamps its send on the exchange's clock).
    await gateway.symbol_rules(Market.SPOT, "BTCUSDT")
    try:
        if looks_up:
            with pytest.raises(ApplicationError):
                await environment.run(activities.place_order, _market_order(tid, absent_in_run=absent_in_run))
        else:
            placed = await environment.run(activities.place_order, _market_order(tid, absent_in_run=absent_in_run))
            assert placed.attempts == 1 and not placed.adopted
    finally:
        await gateway.close()
    assert len(await paper.faults()) == (0 if looks_up else 1)
    assert len(await paper.orders_for(client_order_id(tid))) == (0 if looks_up else 1)


async def test_a_send_stalled_past_its_recorded_horizon_cannot_execute(stack, paper: PaperAdmin) -> None:  # noqa: ANN001
    # The attempt records "an order may be in flight until T + horizon", then its process
    # stalls (GC pause, suspended VM) past the request's recvWindow before the send goes
    # out. A retry trusts that record, so the late send must be refused, not placed.
    settings = stack.settings(recv_window_ms=1_000)
    gateway = BinanceExchange(settings)
    tid = trace_id("stall")
    order = _market_order(tid)
    heartbeats: list[Record] = []
    environment = _activity_environment()
    environment.on_heartbeat = lambda *details: heartbeats.append(Record.from_details(details[0]))  # type: ignore[arg-type]

    async def stalled_send() -> OrderSnapshot:
        recorded = heartbeats[-1].until_ms
        assert recorded is not None and heartbeats[-1].kind is RecordKind.SENDING
        stamped = recorded - gateway.in_flight_horizon_ms  # on the exchange's clock
        await eventually(lambda: _later_than(paper, stamped + settings.recv_window_ms), timeout=10,
                         what="the exchange clock past the recorded moment's recvWindow")
        return await gateway.place(order)

    async def attempt() -> object:
        return await place_exactly_once(gateway, lambda: lookup(gateway, order), stalled_send)

    try:
        with pytest.raises(RequestRefused, match="recvWindow"):
            await environment.run(attempt)
    finally:
        await gateway.close()
    assert heartbeats[-1] == Record(1, RecordKind.REFUSED)  # refused outright: nothing in flight
    assert await paper.orders_for(client_order_id(tid)) == []


async def _later_than(paper: PaperAdmin, moment_ms: int) -> bool:
    return await paper.server_time() > moment_ms


async def test_gate_reuses_a_recent_price_and_shares_one_read(stack, paper: PaperAdmin) -> None:  # noqa: ANN001
    cached = BinanceExchange(stack.settings(price_max_age_seconds=60))
    fresh = BinanceExchange(stack.settings(price_max_age_seconds=0))
    try:
        await paper.set_price("SOLUSDT", "150")
        assert await cached.reference_price(Market.SPOT, "SOLUSDT") == Decimal("150")
        await paper.set_price("SOLUSDT", "151")
        assert await cached.reference_price(Market.SPOT, "SOLUSDT") == Decimal("150")
        assert await fresh.reference_price(Market.SPOT, "SOLUSDT") == Decimal("151")
        # Callers that miss together share one read: one armed 5xx fails all of them.
        await paper.arm("error_5xx", path="/api/v3/ticker/price", count=1)
        outcomes = await asyncio.gather(*(fresh.reference_price(Market.SPOT, "SOLUSDT") for _ in range(5)), return_exceptions=True)
        assert all(isinstance(outcome, ExchangeError) for outcome in outcomes), outcomes
        assert await fresh.reference_price(Market.SPOT, "SOLUSDT") == Decimal("151")
    finally:
        await cached.close()
        await fresh.close()


@pytest.mark.parametrize("how", ["update", "workflow_cancel"])
async def test_cancel_while_approving_leaves_no_open_order(
    how: str, stack, client: Client, paper: PaperAdmin, redis: Redis  # noqa: ANN001
) -> None:
    # The approval is a local activity: a cancel that arrives while it runs is handled
    # right after it, like a cancel just after placement. A fresh worker has no cached
    # exchange filters, so a delay on exchangeInfo holds its approval.
    settings = stack.settings()
    tid = trace_id(f"capp-{how[:3]}")
    await paper.set_price("XRPUSDT", "0.6")
    await paper.arm("latency", path="/api/v3/exchangeInfo", count=1, latency_ms=1500)
    async with running_worker(client, settings, redis):
        handle = await start(client, settings, tid, symbol="XRPUSDT", order_type="LIMIT", price="0.5", quantity="20", ttl_seconds=120)
        if how == "update":
            status = await handle.execute_update("request_cancel", CancelRequest(reason="desk"), result_type=IntentStatus)
            assert status.state is IntentState.CANCELLED
        else:
            await handle.cancel()
        result = await result_of(handle)
    assert result.state is IntentState.CANCELLED
    assert all(o["status"] == "CANCELED" for o in await paper.orders_for(client_order_id(tid)))


async def test_workflow_cancel_during_market_placement_reports_the_fill(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid = trace_id("cplace")
    fault = await paper.arm("latency", path="/api/v3/order", method="POST", count=1, latency_ms=1500)
    handle = await start(client, settings, tid)

    async def order_request_in_flight() -> bool:
        return not any(f["id"] == fault["id"] and f["remaining"] > 0 for f in await paper.faults())

    await eventually(order_request_in_flight, timeout=30, what="the order request to reach the exchange")
    await handle.cancel()
    result = await result_of(handle)
    orders = await paper.orders_for(client_order_id(tid))
    assert len(orders) == 1 and orders[0]["status"] == "FILLED"
    # The MARKET order filled while the cancel was on its way: the intent says so.
    assert result.state is IntentState.FILLED
    assert result.executed_qty == Decimal("0.001")
    assert result.reason == "filled before the cancel took effect (workflow cancel requested)"


async def test_workflow_cancel_during_limit_placement_cancels_the_resting_order(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid = trace_id("cplim")
    await paper.set_price("XRPUSDT", "0.6")
    fault = await paper.arm("latency", path="/api/v3/order", method="POST", count=1, latency_ms=1500)
    handle = await start(client, settings, tid, symbol="XRPUSDT", order_type="LIMIT", price="0.5", quantity="20", ttl_seconds=120)

    async def order_request_in_flight() -> bool:
        return not any(f["id"] == fault["id"] and f["remaining"] > 0 for f in await paper.faults())

    await eventually(order_request_in_flight, timeout=30, what="the order request to reach the exchange")
    await handle.cancel()
    result = await result_of(handle)
    assert result.state is IntentState.CANCELLED and result.reason == "workflow cancel requested"
    assert [o["status"] for o in await paper.orders_for(client_order_id(tid))] == ["CANCELED"]


async def test_rate_limited_placement_retried_after_retry_after_fills_once(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid = trace_id("429")
    await paper.arm("rate_limit_429", path="/api/v3/order", method="POST", count=1, retry_after=1)
    handle = await start(client, settings, tid)
    result = await result_of(handle)
    assert result.state is IntentState.FILLED
    assert result.attempts == 2
    assert len(await paper.orders_for(client_order_id(tid))) == 1
    history = await handle.fetch_history()
    failures = [e.activity_task_failed_event_attributes.failure for e in history.events if e.HasField("activity_task_failed_event_attributes")]
    retried = [e for e in history.events if e.HasField("activity_task_started_event_attributes") and e.activity_task_started_event_attributes.attempt == 2]
    assert retried  # the second attempt ran
    assert not failures  # retries are not failures in the history
