"""What an intent does with the exchange's refusals, on the real stack: a throttled lookup
after an unknown outcome is no rejection, the risk gate waits as long as a 429 asks, and a
duplicate client order ID is recognised on spot and on futures."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from temporalio.client import Client

from activities.exchange import DuplicateOrder
from activities.exchange.binance import BinanceExchange
from paper_exchange.admin_client import PaperAdmin
from quantum_trader.ids import client_order_id
from quantum_trader.models import Market, OrderRequest, OrderType, Side, TimeInForce
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState, OrderStatus
from tests.conftest import trace_id
from tests.support.eventually import eventually
from tests.support.intents import record_history, result_of, start

pytestmark = pytest.mark.usefixtures("worker")

THROTTLED = "Request throttled by system-level protection. Reduce-only/close-position orders are exempt. Please try again."


async def _armed(paper: PaperAdmin, fault_id: str) -> dict | None:
    return next((f for f in await paper.faults() if f["id"] == fault_id), None)


async def test_throttled_lookup_after_unknown_outcome_adopts_the_order_instead_of_rejecting(
    client: Client, settings: Settings, paper: PaperAdmin
) -> None:
    tid = trace_id("thr")
    # The order is created but its answer is -1007; the request is held 1.5 s first, so the
    # throttling of the lookups can be armed before any retry looks the order up.
    held = await paper.arm("latency", path="/api/v3/order", method="POST", count=1, latency_ms=1500)
    lost = await paper.arm("unknown_1007_after", path="/api/v3/order", method="POST", count=1)
    handle = await start(client, settings, tid)
    await eventually(lambda: _both_used(paper, held["id"], lost["id"]), timeout=30, what="the placement to reach the exchange")
    await paper.arm("error", path="/api/v3/order", method="GET", count=1, status=400, code=-1008, msg=THROTTLED)

    result = await result_of(handle)

    orders = await paper.orders_for(client_order_id(tid))
    assert len(orders) == 1 and orders[0]["status"] == "FILLED"
    assert result.state is IntentState.FILLED, result.reason
    assert result.exchange_order_id == orders[0]["orderId"]


async def _both_used(paper: PaperAdmin, *fault_ids: str) -> bool:
    for fault_id in fault_ids:
        assert await _armed(paper, fault_id) is None, f"fault {fault_id} still armed"
    return True


# The gate reads a spot price (ticker) or a futures mark price (premiumIndex).
GATE_PRICE_READS = {
    "spot": ("/api/v3/ticker/price", {}),
    "usdm": ("/fapi/v1/premiumIndex", {"market": "usdm", "quantity": "0.01", "leverage": 2, "stop_loss": "50000", "take_profit": "70000"}),
}


@pytest.mark.parametrize("market", sorted(GATE_PRICE_READS))
async def test_gate_rate_limited_on_its_price_read_retries_after_retry_after(
    market: str, client: Client, settings: Settings, paper: PaperAdmin
) -> None:
    tid = trace_id(f"gate429{market}")
    path, fields = GATE_PRICE_READS[market]
    fault = await paper.arm("rate_limit_429", path=path, method="GET", count=2, retry_after=2)
    handle = await start(client, settings, tid, **fields)
    seen: dict[int, float] = {}

    async def used(times: int) -> bool:
        armed = await _armed(paper, fault["id"])
        remaining = 0 if armed is None else armed["remaining"]
        assert remaining <= 2 - times, f"the gate read the price {2 - remaining} times"
        seen.setdefault(times, time.monotonic())
        return True

    await eventually(lambda: used(1), timeout=30, interval=0.02, what="the gate's first price read")
    await eventually(lambda: used(2), timeout=30, interval=0.02, what="the gate's second price read")
    # Retry-After: 2 s. Polling every 20 ms can only shorten the gap seen by that much.
    assert seen[2] - seen[1] >= 1.9, f"the gate read again {seen[2] - seen[1]:.2f}s after a 429 asking for 2s"
    result = await result_of(handle)
    assert result.state is IntentState.FILLED, result.reason


@pytest.mark.parametrize("market", [Market.SPOT, Market.USDM])
async def test_second_send_of_an_open_order_is_a_duplicate_to_adopt_on_spot_and_futures(settings: Settings, market: Market) -> None:
    tid = trace_id(f"dup{market.value}")
    order = OrderRequest(
        trace_id=tid, market=market, symbol="BTCUSDT", side=Side.BUY, order_type=OrderType.LIMIT, quantity=Decimal("0.2"),
        price=Decimal("1000"), time_in_force=TimeInForce.GTC, client_order_id=client_order_id(tid),
    )
    gateway = BinanceExchange(settings)
    try:
        placed = await gateway.place(order)
        with pytest.raises(DuplicateOrder):
            await gateway.place(order)
        assert await gateway.cancel(order) is not None
    finally:
        await gateway.close()
    assert placed.status is OrderStatus.NEW


async def test_gate_refused_for_good_ends_the_intent_failed_with_the_reason(client: Client, settings: Settings, paper: PaperAdmin) -> None:
    tid = trace_id("gatekey")
    # A configuration error is not retried: the gate's local activity fails for good.
    await paper.arm("key_revoked", path="/api/v3/ticker/price", method="GET", count=1)
    handle = await start(client, settings, tid)
    result = await result_of(handle)
    assert result.state is IntentState.FAILED
    assert "approval unavailable" in result.reason and "-2015" in result.reason, result.reason
    assert await paper.orders_for(client_order_id(tid)) == []
    await record_history(handle, "gate_refused_for_good")
