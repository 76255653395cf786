"""The request-weight budget every worker process shares in Redis, on the real parts: the
session's redis-server, a paper exchange of this module's own with its weight limit set low
(300 a minute: its exchangeInfo says so, and it answers 429 past it), python-binance, and
worker-like processes (tests/support/budget_load.py) for the fleet.

The paper exchange records every request it takes in (``GET /_paper/requests``): the tests
count the weight it saw per minute, and who sent while the fleet was paused.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from binance.client import Client
from redis.asyncio import Redis

from activities.exchange import Priority, RequestRefused
from activities.exchange.binance import BinanceExchange
from activities.exchange.budget import (
    FUTURES_LIMITS,
    REQUEST_COSTS,
    RequestBudget,
    Window,
    default_limits,
    limits_from,
    pause_seconds,
    reported_counts,
    request_cost,
    split_url,
)
from paper_exchange.admin_client import PaperAdmin
from quantum_trader import constants
from quantum_trader.models import Market, OrderRequest, OrderType, Side, TimeInForce
from quantum_trader.settings import Settings
from tests.conftest import Stack
from tests.support.eventually import eventually
from tests.support.exchange import client_for
from tests.support.processes import Proc, free_port
from tests.support.stack import TEST_API_KEY, TEST_API_SECRET, exchange_proc, settings_env

WEIGHT_LIMIT = 300  # the exchange's: 240 for the fleet (margin 0.8), 144 for lookups (share 0.6)
LOOKUP = "/api/v3/order"
LOOKUP_WEIGHT = 4


@pytest.fixture(scope="module")
def limited_exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("budget-exchange")
    proc, port = exchange_proc(home, None, "--weight-limit", str(WEIGHT_LIMIT))
    proc.start(wait_port=port, timeout=30)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def paper(limited_exchange: str, redis: Redis) -> AsyncIterator[PaperAdmin]:
    """The module's exchange, reset (weight limit, request record) with its budget cleared in Redis."""
    admin = PaperAdmin(limited_exchange)
    await admin.reset()
    keys = [key async for key in redis.scan_iter(match=f"{constants.EXCHANGE_BUDGET_KEY_PREFIX}{limited_exchange}*")]
    if keys:
        await redis.delete(*keys)
    yield admin
    await admin.clear_faults()


def _settings(stack: Stack, url: str, **overrides: Any) -> Settings:
    return stack.settings(exchange_url=url, **{"exchange_budget_max_wait_seconds": 0, **overrides})


async def _gateway(settings: Settings) -> tuple[BinanceExchange, RequestBudget]:
    """A gateway as the worker builds it: a shared budget, the exchange's limits read at start."""
    budget = RequestBudget.for_settings(settings)
    gateway = BinanceExchange(settings, budget=budget)
    await gateway.load_rate_limits()
    return gateway, budget


async def _close(*parts: BinanceExchange | RequestBudget) -> None:
    for part in parts:
        await part.close()


def _weight_by_minute(requests: list[dict[str, Any]]) -> dict[int, int]:
    minutes: Counter[int] = Counter()
    for request in requests:
        minutes[request["at_ms"] // 60_000] += request["weight"]
    return dict(minutes)


async def _early_in_a_minute(seconds: float = 30) -> None:
    """Wait until 2 to ``seconds`` seconds of the current minute have passed (the paper
    exchange's clock is this host's), so that a test's weight stays in one window and a call
    waiting for the next one waits less than a minute."""
    await eventually(lambda: 2 <= time.time() % 60 < seconds, timeout=65, interval=0.5, what="the start of a minute")


def _order(symbol: str, client_order_id: str) -> OrderRequest:
    return OrderRequest(trace_id=client_order_id, market=Market.SPOT, symbol=symbol, side=Side.BUY, order_type=OrderType.LIMIT,
                        quantity=Decimal("0.02"), price=Decimal("1000"), time_in_force=TimeInForce.GTC, client_order_id=client_order_id)


# --- the parts ------------------------------------------------------------------------------


def test_limits_from_exchange_info_rate_limits_keep_weight_and_orders() -> None:
    rate_limits = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
    ]
    assert set(limits_from(rate_limits)) == set(FUTURES_LIMITS)
    assert limits_from(rate_limits)[0] == Window("weight", 60_000, 2400)


def test_reported_counts_read_every_weight_and_order_header() -> None:
    headers = {"x-mbx-used-weight-1m": "1234", "X-MBX-ORDER-COUNT-10S": "7", "X-MBX-ORDER-COUNT-1D": "90", "X-MBX-USED-WEIGHT": "1234"}
    assert reported_counts(headers) == {("weight", 60_000): 1234, ("orders", 10_000): 7, ("orders", 86_400_000): 90}


def test_pause_after_418_is_the_later_of_retry_after_and_the_ban_it_names() -> None:
    now = 1_700_000_000_000
    assert pause_seconds(429, {"Retry-After": "7"}, "Too many requests.", now) == 7
    assert pause_seconds(429, {}, "Too many requests.", now) == 60
    assert pause_seconds(418, {}, "Way too many requests.", now) == 120
    assert pause_seconds(418, {"Retry-After": "30"}, f"IP banned until {now + 300_000}.", now) == 300


def test_split_url_keeps_spot_futures_and_testnet_apart() -> None:
    assert split_url("https://api.binance.com/api/v3/order?symbol=X") == ("https://api.binance.com/api", "/api/v3/order")
    assert split_url("https://fapi.binance.com/fapi/v1/order")[0] == "https://fapi.binance.com/fapi"
    assert split_url("https://testnet.binance.vision/api/v3/order")[0] == "https://testnet.binance.vision/api"


def test_split_url_keeps_the_markets_apart_behind_a_path_prefix() -> None:
    """``QT_EXCHANGE_URL`` may carry a path (a gateway in front of the exchange): spot and
    futures still get their own windows and their listed costs."""
    assert split_url("http://gw.example/binance/api/v3/order?x=1") == ("http://gw.example/binance/api", "/api/v3/order")
    assert split_url("http://gw.example/binance/fapi/v1/order") == ("http://gw.example/binance/fapi", "/fapi/v1/order")
    assert request_cost("GET", split_url("http://gw.example/binance/api/v3/order")[1]) == REQUEST_COSTS[("GET", "/api/v3/order")]
    assert default_limits(split_url("http://gw.example/binance/fapi/v1/order")[0]) == FUTURES_LIMITS


# --- every call goes through the budget -----------------------------------------------------


async def test_every_gateway_call_is_metered_with_a_listed_weight(stack: Stack, limited_exchange: str, paper: PaperAdmin, redis: Redis) -> None:
    await paper.configure(weight_limit=0)  # this test counts, it does not limit
    await paper.set_price("BTCUSDT", "60000")
    settings = _settings(stack, limited_exchange)
    gateway, budget = await _gateway(settings)
    try:
        await gateway.check_credentials()
        await gateway.read_clock()
        await gateway.reference_price(Market.SPOT, "BTCUSDT")
        await gateway.reference_price(Market.USDM, "BTCUSDT")
        order = _order("BTCUSDT", f"b-{uuid.uuid4().hex[:10]}")
        placed = await gateway.place(order)
        await gateway.find_order(Market.SPOT, "BTCUSDT", order.client_order_id)
        await gateway.cancel(order)
        await gateway.fees(order, placed)
        await gateway.set_leverage("BTCUSDT", 5)
        await gateway.position_amount("BTCUSDT")
    finally:
        await _close(gateway, budget)
    seen = await paper.requests()
    assert {(r["method"], r["path"]) for r in seen} <= set(REQUEST_COSTS), "a request the budget does not list"
    spot = sum(REQUEST_COSTS[(r["method"], r["path"])].weight for r in seen if r["path"].startswith("/api/"))
    counted = int(await redis.get(f"{constants.EXCHANGE_BUDGET_KEY_PREFIX}{limited_exchange}/api:weight:60000:{seen[-1]['at_ms'] // 60_000}") or 0)
    # Every spot request was counted before it was sent, and only the spot ones: the exchange
    # counts futures weight apart (fapi.binance.com), so its spot headers add nothing more;
    # unless the minute turned meanwhile.
    if seen[0]["at_ms"] // 60_000 == seen[-1]["at_ms"] // 60_000:
        assert counted == spot


# --- (a) three processes share one budget ---------------------------------------------------


def _load(home: Path, settings: Settings, prefix: str, start_at: float, seconds: float, *extra: str) -> Proc:
    args = [sys.executable, "-m", "tests.support.budget_load", "--start-at", str(start_at), "--seconds", str(seconds),
            "--prefix", prefix, *extra]
    return Proc(f"load-{prefix}", args, home / f"load-{prefix}.log", env=settings_env(settings)).start()


async def _results(procs: list[Proc]) -> list[dict[str, int]]:
    await eventually(lambda: not any(p.alive() for p in procs), timeout=90, interval=0.3, what="the load processes to finish")
    results = []
    for proc in procs:
        assert proc.popen is not None and proc.popen.returncode == 0, proc.log_tail()
        results.append(json.loads([line for line in proc.log_text().splitlines() if line.startswith("{")][-1]))
    return results


async def _run_fleet(home: Path, settings: Settings, run: str, *extra: str, seconds: float = 6) -> list[dict[str, int]]:
    start_at = time.time() + 6  # each process connects and reads the limits first
    procs = [_load(home, settings, f"{run}{i}", start_at, seconds, *extra) for i in range(3)]
    try:
        return await _results(procs)
    finally:
        for proc in procs:
            proc.stop()


# Three worker processes for two minute-windows: the slow tier (the 418 pause test stays in make test).
@pytest.mark.slow
async def test_three_processes_share_one_budget_and_stay_under_the_exchange_limit(
    stack: Stack, limited_exchange: str, paper: PaperAdmin, tmp_path: Path
) -> None:
    settings = _settings(stack, limited_exchange)
    # The same load without the budget: each process alone is over the exchange's limit.
    unbudgeted = await _run_fleet(tmp_path, settings, "u", "--unbudgeted")
    assert any(result["refused_by_exchange"] for result in unbudgeted), unbudgeted
    assert any(r["status"] == 429 for r in await paper.requests())

    await paper.reset()
    budgeted = await _run_fleet(tmp_path, settings, "s")
    seen = await paper.requests()
    assert sum(result["answered"] for result in budgeted) > 0, budgeted
    assert not [r for r in seen if r["status"] in (418, 429)], budgeted
    assert all(result["refused_by_exchange"] == 0 for result in budgeted), budgeted
    assert max(_weight_by_minute(seen).values()) <= WEIGHT_LIMIT * 0.8, _weight_by_minute(seen)
    # The budget, not the load, was the limit: every process was held back.
    assert all(result["refused_by_budget"] > 0 for result in budgeted), budgeted


# --- (b) one 418 pauses all -----------------------------------------------------------------


async def test_418_seen_by_one_process_pauses_all_three_until_retry_after(
    stack: Stack, limited_exchange: str, paper: PaperAdmin, tmp_path: Path
) -> None:
    retry_after = 4
    await paper.configure(weight_limit=0)  # Binance's published 6,000: the pause, not the weight, holds them
    settings = _settings(stack, limited_exchange)
    start_at = time.time() + 6
    procs = [_load(tmp_path, settings, f"b{i}", start_at, 25, "--pace", "0.25") for i in range(3)]
    try:
        async def all_polling() -> bool:
            senders = {r["client_id"].split("-")[0] for r in await paper.requests() if r["path"] == LOOKUP and r["client_id"]}
            return senders == {"b0", "b1", "b2"}

        await eventually(all_polling, timeout=30, interval=0.3, what="three processes polling")
        await paper.arm("ban_418", path=LOOKUP, method="GET", count=1, retry_after=retry_after)

        async def banned() -> dict[str, Any] | None:
            return next((r for r in await paper.requests() if r["status"] == 418), None)

        ban = await eventually(banned, timeout=10, interval=0.2, what="the 418")
        until = ban["at_ms"] + retry_after * 1000

        async def resumed() -> list[dict[str, Any]]:
            return [r for r in await paper.requests(ban["at_ms"] + 1) if r["path"] == LOOKUP and r["at_ms"] > until]

        await eventually(resumed, timeout=retry_after + 15, interval=0.3, what="polling after the pause")
        during = [r for r in await paper.requests(ban["at_ms"] + 1) if r["at_ms"] < until]
    finally:
        for proc in procs:
            proc.stop()
    banned_sender = ban["client_id"].split("-")[0]
    senders = Counter(r["client_id"].split("-")[0] for r in during)
    # Only what the two others had already sent when the 418 came back may arrive after it:
    # one lookup each at most (each process polls one lookup at a time). Before: ~30.
    assert senders[banned_sender] == 0, during
    assert all(count <= 1 for count in senders.values()) and len(during) <= 2, during


# --- (c) priorities -------------------------------------------------------------------------


# Waits for a minute window to turn: the slow tier.
@pytest.mark.slow
async def test_cancel_goes_through_while_lookups_wait_for_the_exhausted_budget(
    stack: Stack, limited_exchange: str, paper: PaperAdmin
) -> None:
    await paper.set_price("ETHUSDT", "3000")
    await _early_in_a_minute()
    filler, filler_budget = await _gateway(_settings(stack, limited_exchange))
    waiter, waiter_budget = await _gateway(_settings(stack, limited_exchange, exchange_budget_max_wait_seconds=60))
    order = _order("ETHUSDT", f"c-{uuid.uuid4().hex[:10]}")
    queued: list[asyncio.Task[Any]] = []
    try:
        await filler.place(order)  # rests: 1000 is far below the price
        with pytest.raises(RequestRefused, match="budget is spent"):
            for n in range(WEIGHT_LIMIT):
                await filler.find_order(Market.SPOT, "ETHUSDT", f"fill-{n}")
        queued = [asyncio.ensure_future(waiter.find_order(Market.SPOT, "ETHUSDT", f"queued-{n}")) for n in range(3)]
        def lookups_waiting() -> bool:
            ended = [task for task in queued if task.done()]
            assert not ended, f"a queued lookup ended: {ended[0].exception() or ended[0].result()}"
            return waiter_budget.waiting[Priority.RECONCILE] == 3

        await eventually(lookups_waiting, timeout=10, what="three lookups waiting")
        since = (await paper.requests())[-1]["at_ms"]
        cancelled = await waiter.cancel(order)
        assert cancelled is not None and cancelled.status.value == "CANCELED"
        assert not any(task.done() for task in queued)
        after = await paper.requests(since)
        assert [r["method"] for r in after if r["client_id"] == order.client_order_id] == ["DELETE"]
        assert not [r for r in after if (r["client_id"] or "").startswith("queued-")], after
    finally:
        for task in queued:
            task.cancel()
        await asyncio.gather(*queued, return_exceptions=True)
        await _close(filler, filler_budget, waiter, waiter_budget)


# --- (d) the exchange's count wins ----------------------------------------------------------


@pytest.mark.slow  # waits for a fresh minute window
async def test_exchange_reporting_more_weight_than_counted_slows_the_budget_down(
    stack: Stack, limited_exchange: str, paper: PaperAdmin, redis: Redis
) -> None:
    await _early_in_a_minute()
    gateway, budget = await _gateway(_settings(stack, limited_exchange))
    other: Client = client_for(limited_exchange, TEST_API_KEY, TEST_API_SECRET)  # another client on the same IP
    try:
        for _ in range(5):
            other.get_account()  # weight 20 each, unseen by the budget
        used_by_other = int(other.response.headers["X-MBX-USED-WEIGHT-1M"])
        lookups = 0
        with pytest.raises(RequestRefused, match="budget is spent"):
            for n in range(WEIGHT_LIMIT):
                await gateway.find_order(Market.SPOT, "BTCUSDT", f"d-{n}")
                lookups += 1
        minute = (await paper.requests())[-1]["at_ms"] // 60_000
        counted = int(await redis.get(f"{constants.EXCHANGE_BUDGET_KEY_PREFIX}{limited_exchange}/api:weight:60000:{minute}") or 0)
    finally:
        other.close_connection()
        await _close(gateway, budget)
    reconcile_allowed = int(WEIGHT_LIMIT * 0.8 * 0.6)
    # Without the headers the budget would allow (144 - its own start-up reads) / 4 = 30 lookups.
    assert lookups <= (reconcile_allowed - used_by_other) // LOOKUP_WEIGHT + 1, (lookups, used_by_other)
    assert counted >= used_by_other + lookups * LOOKUP_WEIGHT


# --- (e) Redis down -------------------------------------------------------------------------


async def test_redis_down_calls_still_go_through_on_a_per_process_budget(
    stack: Stack, limited_exchange: str, paper: PaperAdmin, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(stack, limited_exchange, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with caplog.at_level(logging.WARNING, logger="activities.exchange.budget"):
        gateway, budget = await _gateway(settings)
        try:
            assert await gateway.reference_price(Market.SPOT, "BTCUSDT") > 0
            assert await gateway.find_order(Market.SPOT, "BTCUSDT", "e-1") is None
            assert not budget.shared
        finally:
            await _close(gateway, budget)
    warnings = [r for r in caplog.records if r.getMessage().startswith("exchange budget unshared")]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    # The exchange's limits were still read, and the process's own count holds it to them.
    assert budget.limits(f"{limited_exchange}/api")[0] == Window("weight", 60_000, WEIGHT_LIMIT)
