"""The matching engine on its own (no HTTP): balances stay consistent whatever the order flow."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paper_exchange.config import PaperExchangeConfig
from paper_exchange.engine import Engine, OrderRequest
from paper_exchange.errors import ApiError
from paper_exchange.orders import SPOT, USDM, InvalidTransition, Order, Status
from paper_exchange.prices import PriceBook
from paper_exchange.symbols import spec_for

START_USDT = Decimal("100000")
START_BTC = Decimal("2")


def new_engine() -> Engine:
    config = PaperExchangeConfig(
        api_key="k", api_secret="s", symbols=("BTCUSDT",), spot_balances=(("USDT", START_USDT),), base_balance=START_BTC
    )
    specs = {"BTCUSDT": spec_for("BTCUSDT")}
    prices = PriceBook({"BTCUSDT": Decimal("60000")}, {"BTCUSDT": Decimal("0.01")}, seed=1, volatility=Decimal("0.001"))
    ticks = iter(range(1, 10**9))
    return Engine(config, specs, prices, clock=lambda: next(ticks))


actions = st.one_of(
    st.tuples(
        st.just("order"),
        st.sampled_from(["BUY", "SELL"]),
        st.sampled_from(["MARKET", "LIMIT"]),
        st.sampled_from(["GTC", "IOC", "FOK"]),
        st.integers(min_value=1, max_value=50_000).map(lambda n: Decimal(n) / 100_000),
        st.integers(min_value=55_000, max_value=65_000).map(Decimal),
    ),
    st.tuples(st.just("price"), st.integers(min_value=55_000, max_value=65_000).map(Decimal)),
    st.tuples(st.just("cancel"), st.integers(min_value=1, max_value=40)),
    st.tuples(st.just("liquidity"), st.sampled_from([None, Decimal("0.05"), Decimal("0.2")])),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(actions, max_size=40))
def test_engine_any_order_flow_conserves_balances_and_locks(flow: list[tuple]) -> None:
    engine = new_engine()
    for index, action in enumerate(flow):
        kind = action[0]
        try:
            if kind == "order":
                _, side, order_type, tif, quantity, price = action
                engine.place(
                    OrderRequest(
                        market=SPOT,
                        symbol="BTCUSDT",
                        side=side,
                        type=order_type,
                        time_in_force=tif if order_type == "LIMIT" else "GTC",
                        quantity=quantity,
                        price=price if order_type == "LIMIT" else None,
                        client_order_id=f"c{index % 7}",
                    )
                )
            elif kind == "price":
                engine.prices.set("BTCUSDT", action[1])
                engine.match("BTCUSDT")
            elif kind == "cancel":
                engine.cancel(SPOT, "BTCUSDT", action[1], None)
            elif action[1] is None:
                engine.liquidity.clear()
            else:
                engine.liquidity["*"] = action[1]
        except ApiError:
            pass
    trades = [t for ts in engine.trades.values() for t in ts]
    bought = sum((t.qty for t in trades if t.side == "BUY"), Decimal(0))
    sold = sum((t.qty for t in trades if t.side == "SELL"), Decimal(0))
    spent = sum((t.quote_qty + t.commission for t in trades if t.side == "BUY"), Decimal(0))
    received = sum((t.quote_qty - t.commission for t in trades if t.side == "SELL"), Decimal(0))
    btc = engine.balances.get("BTC")
    usdt = engine.balances.get("USDT")
    assert btc.free + btc.locked == START_BTC + bought - sold
    assert usdt.free + usdt.locked == START_USDT - spent + received
    assert min(btc.free, btc.locked, usdt.free, usdt.locked) >= 0
    open_orders = engine.open_orders(SPOT, "BTCUSDT")
    assert btc.locked == sum((o.lock_left for o in open_orders if o.lock_asset == "BTC"), Decimal(0))
    assert usdt.locked == sum((o.lock_left for o in open_orders if o.lock_asset == "USDT"), Decimal(0))
    for orders in engine.orders.values():
        for order in orders.values():
            assert order.executed_qty == sum((t.qty for t in engine.order_trades(order.market, order.order_id)), Decimal(0))
            assert order.is_open == (order.order_id in engine.open_ids.get((order.market, order.symbol), {}))


def test_order_status_filled_to_canceled_is_an_invalid_transition() -> None:
    order = Order(SPOT, 1, "c", "BTCUSDT", "BUY", "LIMIT", "GTC", Decimal(1), Decimal(1), Status.FILLED, 0, 0)
    with pytest.raises(InvalidTransition):
        order.move_to(Status.CANCELED, 1)


def test_futures_position_flip_realizes_pnl_and_reprices_entry() -> None:
    engine = new_engine()
    request = dict(market=USDM, symbol="BTCUSDT", type="MARKET", time_in_force="GTC", price=None)
    engine.place(OrderRequest(side="BUY", quantity=Decimal("0.010"), client_order_id="a", **request))
    engine.prices.set("BTCUSDT", Decimal("61000"))
    _, trades = engine.place(OrderRequest(side="SELL", quantity=Decimal("0.030"), client_order_id="b", **request))
    position = engine.futures.position("BTCUSDT")
    assert (position.amount, position.entry_price) == (Decimal("-0.020"), Decimal("61000"))
    assert trades[0].realized_pnl == Decimal("10")
