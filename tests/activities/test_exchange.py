"""The exchange interface: the discipline does not depend on Binance, and Binance's JSON
becomes the project's values (or a clear error) in one place."""

from __future__ import annotations

import inspect
import subprocess
import sys
from decimal import Decimal

import pytest

from activities.exchange import (
    DuplicateOrder,
    ExchangeConfigError,
    FuturesExchange,
    NothingToReduce,
    OrderRejected,
    OutcomeUnknown,
    RequestRefused,
)
from activities.exchange.binance import BinanceExchange, classify
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


def _api_error(status: int, code: int, msg: str, retry_after: str | None = None) -> Exception:
    from types import SimpleNamespace

    from binance.exceptions import BinanceAPIException

    response = SimpleNamespace(text="", headers={"Retry-After": retry_after} if retry_after else {}, request=None)
    return BinanceAPIException(response, status, f'{{"code":{code},"msg":"{msg}"}}')


@pytest.mark.parametrize(
    ("status", "code", "msg", "kind"),
    [
        # Business refusals: the exchange validated the request and refused it for good.
        (400, -1013, "Filter failure: LOT_SIZE", OrderRejected),
        (400, -1121, "Invalid symbol.", OrderRejected),
        (400, -1102, "Mandatory parameter 'price' was not sent.", OrderRejected),
        (400, -2010, "Account has insufficient balance for requested action.", OrderRejected),
        (400, -2013, "Order does not exist.", OrderRejected),
        (400, -2019, "Margin is insufficient.", OrderRejected),
        (400, -4028, "Leverage 200 is not valid", OrderRejected),
        (400, -5022, "Due to the order could not be executed as maker, the Post Only order will be rejected.", OrderRejected),
        # Throttled or overloaded: not executed, retry later.
        (400, -1008, "Request throttled by system-level protection. Reduce-only/close-position orders are exempt. Please try again.",
         RequestRefused),
        (503, -1008, "Server is currently overloaded with other requests. Please try again in a few minutes.", OutcomeUnknown),
        (429, -1015, "Too many new orders; current limit is 100 orders per 10 SECOND.", RequestRefused),
        (429, -1003, "Too many requests.", RequestRefused),
        (418, -1003, "Way too many requests; IP banned until 1700000000000.", RequestRefused),
        (400, -1021, "Timestamp for this request is outside of the recvWindow.", RequestRefused),
        (400, -5028, "Timestamp for this request is outside of the ME recvWindow.", RequestRefused),
        (403, 0, "WAF limit violated", RequestRefused),
        # Outcome unknown: the order may exist.
        (408, -1007, "Timeout waiting for response from backend server.", OutcomeUnknown),
        (400, -1006, "An unexpected response was received from the message bus.", OutcomeUnknown),
        (400, -1000, "An unknown error occurred while processing the request.", OutcomeUnknown),
        (400, -1001, "Internal error; unable to process your request. Please try again.", OutcomeUnknown),
        (400, -1016, "This service is no longer available.", OutcomeUnknown),
        (400, -9999, "a code nobody documented", OutcomeUnknown),
        (404, 0, "Not Found", OutcomeUnknown),
        (409, -2021, "Order cancel-replace partially failed.", OutcomeUnknown),
        # The operator must act.
        (401, -2015, "Invalid API-key, IP, or permissions for action.", ExchangeConfigError),
        (400, -1022, "Signature for this request is not valid.", ExchangeConfigError),
        # The order exists already: adopt it.
        (400, -2010, "Duplicate order sent.", DuplicateOrder),
        (400, -4116, "ClientOrderId is duplicated.", DuplicateOrder),
        (400, -2022, "ReduceOnly Order is rejected.", NothingToReduce),
    ],
)
def test_classify_binance_error_gives_the_kind_of_its_table_row(status: int, code: int, msg: str, kind: type) -> None:
    error = classify(_api_error(status, code, msg))
    assert type(error) is kind, f"{status} {code} {msg!r} -> {type(error).__name__}"


def test_classify_throttled_and_rate_limited_keep_the_retry_after_header() -> None:
    refused = classify(_api_error(429, -1015, "Too many new orders.", retry_after="7"))
    assert isinstance(refused, RequestRefused) and refused.retry_after == 7
    throttled = classify(_api_error(400, -1008, "Request throttled by system-level protection.", retry_after="3"))
    assert isinstance(throttled, RequestRefused) and throttled.retry_after == 3


def test_classify_table_in_the_docstring_names_every_coded_row() -> None:
    from activities.exchange import binance

    doc = binance.__doc__ or ""
    for code in (-1003, -1008, -1015, -1021, -1000, -1001, -1006, -1007, -1016, -2010, -4116, -2022, -2013, -2015):
        assert f"``{code}``" in doc, code
