"""One placement (or reconcile) attempt against the real paper exchange, with the attempt's
Temporal view (attempt number, times, heartbeat details) set by the test: where an attempt
waits (through the retry policy, never inside itself), what it records before it sends, on
which clock, and what it refuses to adopt."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.exchange.binance import BinanceExchange
from activities.placement import CLOCK_TOLERANCE_MS, Record, RecordKind
from activities.trading import TradingActivities
from paper_exchange.admin_client import PaperAdmin
from quantum_trader import errors
from quantum_trader.ids import client_order_id
from quantum_trader.models import CancelOrderRequest, Market, OrderRequest, OrderType, Side
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState, OrderStatus
from tests.conftest import trace_id
from tests.support.eventually import eventually
from tests.support.intents import result_of, start
from workflows.policies import HEARTBEAT_TIMEOUT, PLACE_TIMEOUT

ORDER = "/api/v3/order"


def _order(tid: str, quantity: str = "0.001", **fields: Any) -> OrderRequest:
    return OrderRequest(
        trace_id=tid, market=Market.SPOT, symbol="BTCUSDT", side=Side.BUY, order_type=OrderType.MARKET,
        quantity=Decimal(quantity), client_order_id=client_order_id(tid), **fields,
    )


def _environment(attempt: int = 1, ahead: timedelta = timedelta(0), details: Record | None = None,
                 scheduled_ago: timedelta = timedelta(0)) -> tuple[ActivityEnvironment, list[Record]]:
    """An attempt as Temporal starts place_order or cancel_order, and the records it heartbeats.

    ``ahead``: how far this worker's clock runs ahead of Temporal's (the attempt's start as
    Temporal recorded it is that much earlier than the local clock says).
    """
    now = datetime.now(timezone.utc) - ahead
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(
        ActivityEnvironment.default_info(),
        attempt=attempt, started_time=now, scheduled_time=now - scheduled_ago, current_attempt_scheduled_time=now,
        heartbeat_timeout=HEARTBEAT_TIMEOUT, start_to_close_timeout=PLACE_TIMEOUT, schedule_to_close_timeout=timedelta(minutes=5),
        heartbeat_details=[details.as_details()] if details else [], workflow_run_id="run-a",
    )
    records: list[Record] = []
    environment.on_heartbeat = lambda *d: records.append(Record.from_details(d[0]))  # type: ignore[arg-type]
    return environment, records


async def _run(settings: Settings, call: str, argument: object, environment: ActivityEnvironment) -> Any:
    gateway = BinanceExchange(settings)
    try:
        return await environment.run(getattr(TradingActivities(settings, gateway), call), argument)
    finally:
        await gateway.close()


def _wait_of(error: ApplicationError) -> int:
    assert error.type == errors.PLACEMENT_WAIT and not error.non_retryable, error
    assert error.next_retry_delay is not None
    return int(error.next_retry_delay.total_seconds() * 1000)


async def test_attempt_after_an_unknown_send_waits_through_the_retry_policy(settings: Settings, paper: PaperAdmin) -> None:
    # Attempt 1 recorded "sending" until 3 s from now: attempt 2 sends nothing, records
    # "clear" until then, and asks the retry policy for that wait instead of sleeping.
    tid = trace_id("wait")
    until = await paper.server_time() + 3_000
    environment, records = _environment(attempt=2, details=Record(1, RecordKind.SENDING, until))
    with pytest.raises(ApplicationError) as raised:
        await _run(settings, "place_order", _order(tid), environment)
    assert 2_000 <= _wait_of(raised.value) <= 3_500
    assert records == [Record(2, RecordKind.CLEAR, until)]
    assert await paper.orders_for(client_order_id(tid)) == []


@pytest.mark.parametrize(
    "details",
    [None, Record(1, RecordKind.CLEAR, 0), {"attempt": 2, "in_flight_until_ms": 0}],
    ids=["no-record", "record-of-an-older-attempt", "unknown-format"],
)
async def test_attempt_without_a_trusted_record_waits_a_horizon_from_its_scheduling(
    details: Record | dict[str, int] | None, settings: Settings, paper: PaperAdmin
) -> None:
    tid = trace_id("fallback")
    environment, _ = _environment(attempt=3, details=details if isinstance(details, Record) else None)
    if isinstance(details, dict):
        environment.info = dataclasses.replace(environment.info, heartbeat_details=[details])
    with pytest.raises(ApplicationError) as raised:
        await _run(settings, "place_order", _order(tid), environment)
    horizon = settings.recv_window_ms + settings.unknown_outcome_grace_ms
    assert horizon <= _wait_of(raised.value) <= horizon + CLOCK_TOLERANCE_MS + 500
    assert await paper.orders_for(client_order_id(tid)) == []


async def test_first_attempt_of_a_reset_run_waits_out_the_old_runs_last_attempt(settings: Settings, paper: PaperAdmin) -> None:
    # The gate of this run found no order, but an attempt of the run before the reset may
    # still send until its own cutoff: the first attempt looks, then waits.
    tid = trace_id("reset1")
    environment, records = _environment(attempt=1)
    with pytest.raises(ApplicationError) as raised:
        await _run(settings, "place_order", _order(tid, absent_in_run="run-a", earlier_run=True), environment)
    horizon = settings.recv_window_ms + settings.unknown_outcome_grace_ms + int(HEARTBEAT_TIMEOUT.total_seconds() * 1000)
    assert horizon <= _wait_of(raised.value) <= horizon + CLOCK_TOLERANCE_MS + 500
    assert [r.kind for r in records] == [RecordKind.CLEAR]
    assert await paper.orders_for(client_order_id(tid)) == []


async def test_worker_clock_off_temporals_refuses_to_send(settings: Settings, paper: PaperAdmin) -> None:
    tid = trace_id("skew1")
    environment, records = _environment(attempt=1, ahead=timedelta(seconds=30))
    with pytest.raises(ApplicationError) as raised:
        await _run(settings, "place_order", _order(tid, absent_in_run="run-a"), environment)
    assert raised.value.type == errors.REQUEST_REFUSED and not raised.value.non_retryable
    assert "clock skew" in raised.value.message
    assert records == []
    assert await paper.orders_for(client_order_id(tid)) == []


async def test_worker_clock_behind_temporals_is_caught_even_when_an_attempt_starts_late(settings: Settings, paper: PaperAdmin) -> None:
    # A clock 2.5 s behind Temporal's shows as -2.5 s on an attempt that starts at once, but
    # as -1 s (inside the tolerance) on one that starts 1.5 s late: the late start hides the
    # skew. The worker remembers its earlier readings, so the slow clock is still caught.
    gateway = BinanceExchange(settings)
    try:
        activities = TradingActivities(settings, gateway)
        prompt, _ = _environment(attempt=1, ahead=timedelta(seconds=-2.5))
        with pytest.raises(ApplicationError, match="clock skew"):
            await prompt.run(activities.place_order, _order(trace_id("slow1"), absent_in_run="run-a"))
        tid = trace_id("slow2")
        late, records = _environment(attempt=1, ahead=timedelta(seconds=-1))
        with pytest.raises(ApplicationError) as raised:
            await late.run(activities.place_order, _order(tid, absent_in_run="run-a"))
    finally:
        await gateway.close()
    assert raised.value.type == errors.REQUEST_REFUSED and "clock skew" in raised.value.message
    assert records == []
    assert await paper.orders_for(client_order_id(tid)) == []


@pytest.mark.parametrize("offset_ms", [30_000, -30_000])
async def test_send_is_recorded_and_stamped_on_the_exchange_clock(offset_ms: int, settings: Settings, paper: PaperAdmin) -> None:
    tid = trace_id("exstamp")
    await paper.configure(clock_offset_ms=offset_ms)
    try:
        environment, records = _environment(attempt=1)
        before = await paper.server_time()
        placed = await _run(settings, "place_order", _order(tid, absent_in_run="run-a"), environment)
        after = await paper.server_time()
    finally:
        await paper.configure(clock_offset_ms=0)
    assert placed.snapshot.status is OrderStatus.FILLED
    [sending] = records
    stamp = sending.until_ms - settings.recv_window_ms - settings.unknown_outcome_grace_ms  # type: ignore[operator]
    assert sending.kind is RecordKind.SENDING and before - 1_000 <= stamp <= after


async def test_reconcile_waits_through_the_retry_policy_before_trusting_no_order(settings: Settings, paper: PaperAdmin) -> None:
    # A placement may be in flight: "no order" proves nothing until any send made before the
    # reconcile was scheduled has expired. The wait is the retry policy's, then it is trusted.
    request = CancelOrderRequest(order=_order(trace_id("recon")), may_be_in_flight=True)
    environment, _ = _environment()
    with pytest.raises(ApplicationError) as raised:
        await _run(settings, "cancel_order", request, environment)
    horizon = settings.recv_window_ms + settings.unknown_outcome_grace_ms
    assert horizon <= _wait_of(raised.value) <= horizon + CLOCK_TOLERANCE_MS + 500
    later, _ = _environment(attempt=2, scheduled_ago=timedelta(milliseconds=horizon + CLOCK_TOLERANCE_MS + 100))
    assert await _run(settings, "cancel_order", request, later) is None


async def test_reconcile_in_a_reset_run_waits_out_the_old_runs_last_attempt(settings: Settings, paper: PaperAdmin) -> None:
    # An attempt of the run before the reset may send until its own cutoff, up to one
    # attempt's length after the reset: "no order" is not trusted before that send expires.
    request = CancelOrderRequest(order=_order(trace_id("reconreset"), earlier_run=True), may_be_in_flight=True)
    environment, _ = _environment()
    with pytest.raises(ApplicationError) as raised:
        await _run(settings, "cancel_order", request, environment)
    horizon = settings.recv_window_ms + settings.unknown_outcome_grace_ms
    assert _wait_of(raised.value) >= horizon + int(HEARTBEAT_TIMEOUT.total_seconds() * 1000)


async def test_reconcile_on_a_worker_ahead_of_temporal_does_not_trust_no_order(settings: Settings, paper: PaperAdmin) -> None:
    # The placement's request is held at the exchange; the reconcile runs on a worker whose
    # clock is 30 s ahead of Temporal's, so "scheduled + horizon" would look long past to it.
    tid = trace_id("reconskew")
    held = await paper.arm("latency", path=ORDER, method="POST", count=1, latency_ms=2_000)
    gateway = BinanceExchange(settings)
    sending = asyncio.ensure_future(gateway.place(_order(tid)))
    try:
        async def arrived() -> bool:
            return not any(f["id"] == held["id"] for f in await paper.faults())

        await eventually(arrived, timeout=10, interval=0.02, what="the order request to reach the exchange")
        environment, _ = _environment(ahead=timedelta(seconds=30))
        request = CancelOrderRequest(order=_order(tid), may_be_in_flight=True)
        with pytest.raises(ApplicationError) as raised:
            await _run(settings, "cancel_order", request, environment)
    finally:
        await asyncio.gather(sending, return_exceptions=True)
        await gateway.close()
    # Its reading of Temporal's clock says it may be 30 s ahead: it still waits a whole horizon.
    assert _wait_of(raised.value) >= settings.recv_window_ms + settings.unknown_outcome_grace_ms
    assert len(await paper.orders_for(client_order_id(tid))) == 1


@pytest.mark.usefixtures("worker")
async def test_order_under_a_reused_trace_id_that_is_another_order_is_refused_not_adopted(
    client: Client, settings: Settings, paper: PaperAdmin
) -> None:
    # The trace_id was used before, its old order (another quantity) is still at the exchange
    # under the same client order ID: the new intent must not take it for its own.
    tid = trace_id("reused")
    gateway = BinanceExchange(settings)
    try:
        await gateway.place(_order(tid, quantity="0.002"))
    finally:
        await gateway.close()
    result = await result_of(await start(client, settings, tid, quantity="0.001"))
    assert result.state is IntentState.REJECTED, result.reason
    assert "0.002" in result.reason and "0.001" in result.reason and client_order_id(tid) in result.reason
    assert len(await paper.orders_for(client_order_id(tid))) == 1


async def test_reset_run_adopts_its_earlier_runs_order_sized_at_another_price(settings: Settings, paper: PaperAdmin) -> None:
    # A reset re-runs the risk gate, which sizes the order at the price of the moment: the
    # order the run before the reset placed under the same client order ID is still this
    # intent's own, and must be adopted, not refused as another order.
    tid = trace_id("resetsize")
    gateway = BinanceExchange(settings)
    try:
        await gateway.place(_order(tid, quantity="0.002"))
    finally:
        await gateway.close()
    environment, _ = _environment(attempt=1, scheduled_ago=timedelta(minutes=1))
    placed = await _run(settings, "place_order", _order(tid, quantity="0.001", earlier_run=True), environment)
    assert placed.adopted and placed.snapshot.orig_qty == Decimal("0.002")
    assert len(await paper.orders_for(client_order_id(tid))) == 1


async def test_clock_skew_refusal_passes_on_the_trusted_record_it_was_given(settings: Settings, paper: PaperAdmin) -> None:
    # Attempts alternate between a good worker (which records how long to wait) and a worker
    # whose clock is off (which refuses at once). The refusal sends nothing, so it passes the
    # record on: without it, the next attempt falls back to a whole horizon from its own
    # scheduling, and the alternation can postpone the send for good.
    until = int(time.time() * 1000) + 60_000
    environment, records = _environment(attempt=3, ahead=timedelta(seconds=-2.5), details=Record(2, RecordKind.CLEAR, until))
    with pytest.raises(ApplicationError, match="clock skew"):
        await _run(settings, "place_order", _order(trace_id("skewpass"), absent_in_run="run-a"), environment)
    assert records == [Record(3, RecordKind.CLEAR, until)]
