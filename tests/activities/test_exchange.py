"""The exchange interface: the discipline does not depend on Binance, and Binance's JSON
becomes the project's values (or a clear error) in one place."""

from __future__ import annotations

import inspect
import subprocess
import sys
from decimal import Decimal

import pytest

from activities.exchange import FuturesExchange, OutcomeUnknown
from activities.exchange.binance import BinanceExchange
from activities.exchange.parse import algo_snapshot, order_snapshot
from quantum_trader.states import AlgoStatus, OrderStatus


@pytest.mark.parametrize("module", ["activities.placement", "activities.approval", "activities.trading", "activities.futures"])
def test_exchange_facing_module_imported_alone_loads_no_binance_code(module: str) -> None:
    probe = (
        f"import sys, {module}\n"
        "loaded = sorted(m for m in sys.modules if m == 'binance' or m.startswith('binance.') or m.endswith('.binance'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)


def test_binance_exchange_has_every_protocol_member_with_its_parameters() -> None:
    members = [name for name in dir(FuturesExchange) if not name.startswith("_") and name not in dir(object)]
    assert "place" in members and "algo_place" in members
    for name in members:
        wanted, actual = getattr(FuturesExchange, name), getattr(BinanceExchange, name)
        if isinstance(wanted, property):
            assert isinstance(actual, property), name
            continue
        wanted_params = list(inspect.signature(wanted).parameters)
        assert list(inspect.signature(actual).parameters)[: len(wanted_params)] == wanted_params, name
        assert inspect.iscoroutinefunction(actual) == inspect.iscoroutinefunction(wanted), name


def test_order_snapshot_with_binance_status_gives_the_enum() -> None:
    snapshot = order_snapshot(
        {"orderId": 7, "status": "PARTIALLY_FILLED", "origQty": "1", "executedQty": "0.4", "cummulativeQuoteQty": "40"}, "coid-1"
    )
    assert snapshot.status is OrderStatus.PARTIALLY_FILLED
    assert snapshot.client_order_id == "coid-1" and snapshot.avg_price == Decimal(100)


def test_order_snapshot_with_unknown_status_is_an_unknown_outcome_naming_it() -> None:
    with pytest.raises(OutcomeUnknown, match="'PENDING_MARS'"):
        order_snapshot({"orderId": 7, "status": "PENDING_MARS"}, "coid-1")


def test_algo_snapshot_with_unknown_status_is_an_unknown_outcome_naming_it() -> None:
    assert algo_snapshot({"algoId": 3, "algoStatus": "TRIGGERED", "actualOrderId": "9"}, "sl-1").status is AlgoStatus.TRIGGERED
    with pytest.raises(OutcomeUnknown, match="'HALF_TRIGGERED'"):
        algo_snapshot({"algoId": 3, "algoStatus": "HALF_TRIGGERED"}, "sl-1")
