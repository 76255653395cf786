"""Binance (or the paper exchange, which speaks its API) through python-binance.

One :class:`BinanceExchange` per worker process: it owns one ``AsyncClient`` (one HTTP
session, reused by every activity), caches symbol filters per market, and turns
python-binance's failures into the errors of :mod:`activities.exchange`:

* :class:`OrderRejected`: the exchange definitively refused (balance, filter, symbol).
* :class:`RequestRefused`: the request definitively did not execute but may be retried
  (rate limit, throttling, timestamp window); ``retry_after`` says when.
* :class:`OutcomeUnknown`: the order may exist (a timeout, a 5xx, an error nobody
  documented): retried, and reconciled by looking the order up.

:func:`classify` decides by the first row that matches, from Binance's spot and USD-M
futures error code lists. Only codes documented as a refusal of the request are read as
one; whatever it does not recognise may have executed, so it is an unknown outcome:

| HTTP status / code | kind |
| --- | --- |
| HTTP 5xx, whatever the code; HTTP 409 (cancel-replace partly done) | :class:`OutcomeUnknown` |
| ``-2010`` "Duplicate order sent." (spot); ``-4116`` "ClientOrderId is duplicated." (futures) | :class:`DuplicateOrder` |
| HTTP 418 / 429 / 403 (IP ban, rate limit, WAF); ``-1003`` too many requests, ``-1008`` overloaded / throttled, ``-1015`` too many new orders | :class:`RequestRefused`, with ``Retry-After`` |
| ``-1021`` outside recvWindow; ``-5028`` outside the matching engine's recvWindow | :class:`RequestRefused` |
| ``-1002``, ``-1011``, ``-1022``, ``-1099``, ``-2014``, ``-2015`` (key, signature, IP whitelist, permissions) | :class:`ExchangeConfigError` |
| ``-2022`` ReduceOnly order rejected (futures) | :class:`NothingToReduce` |
| ``-1013`` filter failure, ``-1014``, ``-1020``; 11xx request issues ``-1100`` to ``-1199`` (parameters, symbol, precision); ``-2010`` new order rejected, ``-2011`` cancel rejected, ``-2013`` no such order, ``-2016``, ``-2018`` to ``-2021``, ``-2023`` to ``-2028`` (balance, margin, would trigger, position, open orders, leverage); 40xx-44xx futures filters ``-4000`` to ``-4499``; ``-5021`` FOK, ``-5022`` post-only rejected | :class:`OrderRejected` |
| ``-1000`` unknown, ``-1001`` internal, ``-1006`` / ``-1007`` execution status unknown, ``-1016`` service shutting down; any other code or 4xx | :class:`OutcomeUnknown` |

Spot (``/api``) and USD-M futures (``/fapi``) differ only in python-binance's method names
and a few parameters, which :data:`_APIS` lists per market.

With a :class:`~activities.exchange.budget.RequestBudget` (the worker always gives one),
every REST request python-binance makes (connecting, reads, orders, cancels, futures) first
takes its weight from the budget every worker shares, at the priority of the gateway method
(:class:`~activities.exchange.Priority`, raised by an enclosing
:func:`~activities.exchange.calls_at`), and every answer corrects it. Without one (tools,
tests) requests are not metered.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
from binance import AsyncClient
from binance.exceptions import BinanceAPIException, BinanceRequestException
from temporalio.common import MetricMeter

from activities import metrics
from activities.exchange import (
    ClockReading,
    DuplicateOrder,
    ExchangeConfigError,
    ExchangeError,
    NothingToReduce,
    OrderRejected,
    OutcomeUnknown,
    Priority,
    RequestRefused,
    SymbolRules,
    call_priority,
    calls_at,
    send_stamp_ms,
)
from activities.exchange import budget as budgets
from activities.exchange import parse
from activities.exchange.budget import RequestBudget
from quantum_trader import logs
from quantum_trader.models import AlgoSnapshot, Market, OrderRequest, OrderSnapshot, ProtectiveOrder
from quantum_trader.settings import Settings

log = logs.activity_logger(__name__)

# Error codes, as Binance documents them (the table in the module docstring).
CODE_TOO_MANY_REQUESTS = -1003
CODE_TIMESTAMP = -1021
CODE_NEW_ORDER_REJECTED = -2010
CODE_CANCEL_REJECTED = -2011
CODE_NO_SUCH_ORDER = -2013
CODE_REDUCE_ONLY_REJECTED = -2022
CODE_FUTURES_DUPLICATE_ORDER = -4116
# Refused for the rate: too many requests, overloaded or throttled, too many new orders.
THROTTLED_CODES = frozenset({CODE_TOO_MANY_REQUESTS, -1008, -1015})
THROTTLED_STATUSES = frozenset({403, 418, 429})
# Refused for the clock: the request's timestamp is outside recvWindow (API or matching engine).
TIMESTAMP_CODES = frozenset({CODE_TIMESTAMP, -5028})
CONFIG_ERROR_CODES = frozenset({-1002, -1011, -1022, -1099, -2014, -2015})
# Refused for good after validation: the request, the symbol, the account or the order.
REJECTED_CODES = frozenset(
    {-1013, -1014, -1020, *range(-1199, -1099), CODE_NEW_ORDER_REJECTED, CODE_CANCEL_REJECTED, CODE_NO_SUCH_ORDER, -2016,
     -2018, -2019, -2020, -2021, -2023, -2024, -2025, -2026, -2027, -2028, *range(-4499, -3999), -5021, -5022}
)
DUPLICATE_ORDER_MESSAGE = "Duplicate order sent."
# A lookup answered with this found no order under the ID.
NOT_FOUND_CODES = frozenset({CODE_NO_SUCH_ORDER})
# A cancel answered with these found no open order under the ID.
NOTHING_TO_CANCEL_CODES = frozenset({CODE_CANCEL_REJECTED, CODE_NO_SUCH_ORDER})

RULES_MAX_AGE_SECONDS = 300.0
# What a python-binance call raises, each mapped by classify().
CLIENT_ERRORS = (BinanceAPIException, BinanceRequestException, asyncio.TimeoutError, aiohttp.ClientError, OSError)
USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"  # on every REST response, errors included
# Where python-binance sends spot requests when QT_EXCHANGE_URL is unset.
BINANCE_URL = "https://api.binance.com"
BINANCE_TESTNET_URL = "https://testnet.binance.vision"
# A request signed with a fixed stamp (signed_at) must be sent this long before its
# recvWindow ends, or the budget refuses it instead of waiting.
SIGNED_SEND_MARGIN_SECONDS = 0.5


def classify(error: BaseException) -> ExchangeError:
    """Map a python-binance / transport failure to the exchange error kinds (the table above)."""
    if isinstance(error, ExchangeError):
        return error
    if isinstance(error, BinanceAPIException):
        return _classify_api_error(error)
    if isinstance(error, (asyncio.TimeoutError, aiohttp.ClientError, BinanceRequestException, OSError)):
        return OutcomeUnknown(f"outcome unknown: {type(error).__name__}: {error}")
    raise error


def _classify_api_error(error: BinanceAPIException) -> ExchangeError:
    code, message, status = error.code, error.message, error.status_code
    text = f"{code} {message}"
    if status >= 500 or status == 409:
        return OutcomeUnknown(f"outcome unknown: HTTP {status} {text}", code)
    if code == CODE_FUTURES_DUPLICATE_ORDER or (code == CODE_NEW_ORDER_REJECTED and message == DUPLICATE_ORDER_MESSAGE):
        return DuplicateOrder(text, code)
    if status in THROTTLED_STATUSES or code in THROTTLED_CODES:
        return RequestRefused(f"rate limited: HTTP {status} {text}", code, _retry_after(error))
    if code in TIMESTAMP_CODES:
        return RequestRefused(f"clock outside recvWindow: {text}", code, None)
    if code in CONFIG_ERROR_CODES:
        return ExchangeConfigError(f"exchange refused credentials: {text}", code)
    if code == CODE_REDUCE_ONLY_REJECTED:
        return NothingToReduce(text, code)
    if code in REJECTED_CODES:
        return OrderRejected(text, code)
    return OutcomeUnknown(f"outcome unknown, unrecognised error: HTTP {status} {text}", code)


def _retry_after(error: BinanceAPIException) -> float | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class _Api:
    """python-binance's names for one market's endpoints, and what differs in their use."""

    exchange_info: str
    price: str
    price_field: str
    create_order: str
    get_order: str
    open_orders: str
    cancel_order: str
    trades: str
    # newOrderRespType: FULL carries the spot fills; futures answers RESULT at most.
    response_type: str
    accepts_reduce_only: bool


_APIS: dict[Market, _Api] = {
    Market.SPOT: _Api(
        exchange_info="get_exchange_info",
        price="get_symbol_ticker",
        price_field="price",
        create_order="create_order",
        get_order="get_order",
        open_orders="get_open_orders",
        cancel_order="cancel_order",
        trades="get_my_trades",
        response_type="FULL",
        accepts_reduce_only=False,
    ),
    Market.USDM: _Api(
        exchange_info="futures_exchange_info",
        price="futures_mark_price",
        price_field="markPrice",
        create_order="futures_create_order",
        get_order="futures_get_order",
        open_orders="futures_get_open_orders",
        cancel_order="futures_cancel_order",
        trades="futures_account_trades",
        response_type="RESULT",
        accepts_reduce_only=True,
    ),
}


def _order_params(order: OrderRequest, api: _Api) -> dict[str, Any]:
    """The new-order parameters, with the idempotency key."""
    params: dict[str, Any] = {
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.order_type.value,
        "quantity": _plain(order.quantity),
        "newClientOrderId": order.client_order_id,
        "newOrderRespType": api.response_type,
    }
    if order.price is not None:
        params["price"] = _plain(order.price)
    if order.time_in_force is not None:
        params["timeInForce"] = order.time_in_force.value
    if order.reduce_only and api.accepts_reduce_only:
        params["reduceOnly"] = "true"
    return params


def _plain(value: Decimal) -> str:
    """Decimal as Binance wants it: no exponent, no trailing zeros."""
    return format(value.normalize(), "f")


class BinanceExchange:
    """python-binance ``AsyncClient`` for one worker, created on first use; an
    :class:`activities.exchange.FuturesExchange`. With ``meter`` (the worker's), it exports
    the request weight of the last response and counts 429 and 418 refusals; with ``budget``,
    every request is metered by it (the module docstring)."""

    def __init__(self, settings: Settings, meter: MetricMeter = MetricMeter.noop, budget: RequestBudget | None = None) -> None:
        self._settings = settings
        self._budget = budget
        self._client: AsyncClient | None = None
        self._used_weight = metrics.used_weight(meter)
        self._throttled = metrics.counter(meter, metrics.EXCHANGE_THROTTLED)
        self._lock = asyncio.Lock()
        # market -> (monotonic time read, rules by symbol)
        self._rules: dict[Market, tuple[float, dict[str, SymbolRules]]] = {}
        # (market, symbol) -> (monotonic time read, price) and the read in flight, if any.
        self._prices: dict[tuple[Market, str], tuple[float, Decimal]] = {}
        self._price_reads: dict[tuple[Market, str], asyncio.Task[Decimal]] = {}

    @property
    def in_flight_horizon_ms(self) -> int:
        """How long after sending a request it may still execute at the exchange."""
        return self._settings.recv_window_ms + self._settings.unknown_outcome_grace_ms

    @property
    def url(self) -> str:
        """``QT_EXCHANGE_URL``, or Binance's own (live or testnet) spot API."""
        if self._settings.exchange_url:
            return self._settings.exchange_url.rstrip("/")
        return BINANCE_TESTNET_URL if self._settings.binance_testnet else BINANCE_URL

    @property
    def clock_offset_ms(self) -> int | None:
        """python-binance's ``timestamp_offset``: measured from ``serverTime`` when the client
        connects and again after a ``-1021``; ``None`` before the first connection."""
        return int(self._client.timestamp_offset) if self._client is not None else None

    async def client(self) -> AsyncClient:
        async with self._lock:
            if self._client is None:
                self._client = await self._connect()
            return self._client

    async def _connect(self) -> AsyncClient:
        settings = self._settings
        key, secret = settings.binance_credentials
        client_class = _client_class(settings, self._budget)
        try:
            client = await client_class.create(key, secret, testnet=settings.binance_testnet and not settings.exchange_url)
        except Exception as error:  # connection refused, DNS, 5xx at ping
            raise classify(error) from None
        client.REQUEST_RECVWINDOW = settings.recv_window_ms
        client.REQUEST_TIMEOUT = settings.exchange_timeout_seconds
        log.info("exchange connected", extra={"url": settings.exchange_url or "binance", "testnet": settings.binance_testnet})
        return client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close_connection()
            self._client = None

    async def _call(self, method: str, priority: Priority = Priority.ENTRY, **params: Any) -> Any:
        client = await self.client()
        try:
            with calls_at(priority):
                result = await getattr(client, method)(**params)
        except CLIENT_ERRORS as error:
            if isinstance(error, BinanceAPIException):
                self._observe(error.response, error.status_code)
                if error.code == CODE_TIMESTAMP:
                    await self._resync_clock(client)
            raise classify(error) from None
        self._observe(client.response, None)
        return result

    def _observe(self, response: Any, status: int | None) -> None:
        """The weight the exchange reports having used, and a rate-limit or ban refusal."""
        if status in (418, 429):
            self._throttled.add(1, {"status": str(status)})
        weight = (getattr(response, "headers", None) or {}).get(USED_WEIGHT_HEADER)
        if weight is not None and weight.isdigit():
            self._used_weight.set(int(weight))

    async def _call_unless(self, codes: frozenset[int], method: str, priority: Priority, **params: Any) -> Any | None:
        """``_call``, with ``None`` for a rejection carrying one of ``codes``."""
        try:
            return await self._call(method, priority, **params)
        except OrderRejected as error:
            if error.code in codes:
                return None
            raise

    async def _resync_clock(self, client: AsyncClient) -> None:
        try:
            server = await client.get_server_time()
            client.timestamp_offset = server["serverTime"] - int(time.time() * 1000)
        except Exception:  # best effort; the retry will tell
            log.warning("exchange clock resync failed")

    async def load_rate_limits(self) -> None:
        """Read each market's exchangeInfo once (at worker start): the budget takes its
        ``rateLimits``, and the symbol rules are cached. An exchange that cannot be read
        leaves Binance's published limits in place, with a WARNING."""
        if self._budget is None:
            return
        for market in (Market.SPOT, Market.USDM):
            try:
                rules = parse.rules_by_symbol(await self._call(_APIS[market].exchange_info))
            except ExchangeError as error:
                log.warning("exchange rate limits unread, Binance's published limits apply",
                            extra={"market": market.value, "error": str(error)})
                continue
            self._rules[market] = (time.monotonic(), rules)

    # --- reads -------------------------------------------------------------------------

    async def check_credentials(self) -> None:
        """``GET /api/v3/account``, signed: refused keys raise :class:`ExchangeConfigError`."""
        await self._call("get_account", omitZeroBalances="true")

    async def read_clock(self) -> ClockReading:
        """``GET /api/v3/time`` against this host's clock at the middle of the round trip."""
        client = await self.client()
        sent_ms = time.time() * 1000
        started = time.monotonic()
        try:
            server = await client.get_server_time()
        except CLIENT_ERRORS as error:
            raise classify(error) from None
        round_trip_ms = (time.monotonic() - started) * 1000
        offset_ms = int(server["serverTime"]) - (sent_ms + round_trip_ms / 2)
        return ClockReading(offset_ms=round(offset_ms), round_trip_ms=round(round_trip_ms))


    async def symbol_rules(self, market: Market, symbol: str, max_age_seconds: float = RULES_MAX_AGE_SECONDS) -> SymbolRules | None:
        """Filters of ``symbol`` on ``market``, or ``None`` if the exchange does not list it."""
        loaded_at, rules = self._rules.get(market, (0.0, {}))
        if time.monotonic() - loaded_at > max_age_seconds or symbol not in rules:
            rules = parse.rules_by_symbol(await self._call(_APIS[market].exchange_info))
            self._rules[market] = (time.monotonic(), rules)
        return rules.get(symbol)

    async def reference_price(self, market: Market, symbol: str) -> Decimal:
        """Spot last price or USD-M mark price, at most ``QT_PRICE_MAX_AGE_SECONDS`` old.

        Concurrent callers that find no recent price share one read.
        """
        key = (market, symbol)
        cached = self._prices.get(key)
        if cached is not None and time.monotonic() - cached[0] <= self._settings.price_max_age_seconds:
            return cached[1]
        task = self._price_reads.get(key)
        if task is None:
            task = asyncio.ensure_future(self._read_price(market, symbol))
            self._price_reads[key] = task
            task.add_done_callback(lambda done: self._price_read_done(key, done))
        return await asyncio.shield(task)

    async def _read_price(self, market: Market, symbol: str) -> Decimal:
        api = _APIS[market]
        data = await self._call(api.price, symbol=symbol)
        return Decimal(str(data[api.price_field]))

    def _price_read_done(self, key: tuple[Market, str], task: asyncio.Task[Decimal]) -> None:
        self._price_reads.pop(key, None)
        if not task.cancelled() and task.exception() is None:
            self._prices[key] = (time.monotonic(), task.result())

    async def find_order(self, market: Market, symbol: str, client_order_id: str) -> OrderSnapshot | None:
        """The ``market`` order with this client order ID, or ``None`` if the exchange has none."""
        data = await self._call_unless(
            NOT_FOUND_CODES, _APIS[market].get_order, Priority.RECONCILE, symbol=symbol, origClientOrderId=client_order_id
        )
        return None if data is None else parse.order_snapshot(data, client_order_id)

    async def open_orders(self, market: Market, symbol: str) -> list[OrderSnapshot]:
        """``GET /api/v3/openOrders`` (weight 6) or ``/fapi/v1/openOrders`` (weight 1), with the
        symbol (without it they weigh 80 / 40)."""
        data = await self._call(_APIS[market].open_orders, Priority.RECONCILE, symbol=symbol)
        return [parse.order_snapshot(row, "") for row in data]

    async def fees(self, order: OrderRequest, snapshot: OrderSnapshot) -> OrderSnapshot:
        """``snapshot`` with fees totalled from the order's trades."""
        if snapshot.executed_qty == 0 or snapshot.order_id is None:
            return snapshot
        trades = await self._call(_APIS[order.market].trades, Priority.RECONCILE, symbol=order.symbol, orderId=snapshot.order_id)
        return parse.with_fees(snapshot, trades)

    # --- writes ------------------------------------------------------------------------

    async def place(self, order: OrderRequest) -> OrderSnapshot:
        """Send the order once. Raises the exchange error kinds; never retries. A reduce-only
        order (closing a position) is as urgent as a cancel."""
        api = _APIS[order.market]
        priority = Priority.CRITICAL if order.reduce_only else Priority.ENTRY
        data = await self._call(api.create_order, priority, **_order_params(order, api))
        return parse.order_snapshot(data, order.client_order_id)

    async def cancel(self, order: OrderRequest) -> OrderSnapshot | None:
        """Cancel by client order ID. ``None`` when the exchange knows no open order by it."""
        data = await self._call_unless(
            NOTHING_TO_CANCEL_CODES, _APIS[order.market].cancel_order, Priority.CRITICAL, symbol=order.symbol,
            origClientOrderId=order.client_order_id,
        )
        return None if data is None else parse.order_snapshot(data, order.client_order_id)

    # --- USD-M futures (``/fapi``) ------------------------------------------------------

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        """Set the symbol's leverage; the same value twice is a no-op at the exchange."""
        data = await self._call("futures_change_leverage", symbol=symbol, leverage=leverage)
        return int(data.get("leverage", leverage))

    async def position_amount(self, symbol: str) -> Decimal:
        """Signed one-way-mode position of ``symbol``: positive long, negative short."""
        return parse.position_amount(await self._call("futures_position_information", Priority.RECONCILE, symbol=symbol))

    async def futures_order_by_id(self, symbol: str, order_id: int) -> OrderSnapshot | None:
        data = await self._call_unless(NOT_FOUND_CODES, "futures_get_order", Priority.RECONCILE, symbol=symbol, orderId=order_id)
        return None if data is None else parse.order_snapshot(data, str(data.get("clientOrderId", "")))

    # --- USD-M conditional (algo) orders: the protective stop-loss and take-profit -------

    async def algo_lookup(self, order: ProtectiveOrder) -> AlgoSnapshot | None:
        """The conditional order with this client algo ID, or ``None`` if there is none."""
        return await self.find_algo(order.symbol, order.client_algo_id)

    async def find_algo(self, symbol: str, client_algo_id: str) -> AlgoSnapshot | None:
        data = await self._call_unless(
            NOT_FOUND_CODES, "futures_get_algo_order", Priority.RECONCILE, symbol=symbol, clientAlgoId=client_algo_id
        )
        return None if data is None else parse.algo_snapshot(data, client_algo_id)

    async def open_algo_orders(self, symbol: str) -> list[AlgoSnapshot]:
        """``GET /fapi/v1/openAlgoOrders`` with the symbol (weight 1; 40 without it)."""
        data = await self._call("futures_get_open_algo_orders", Priority.RECONCILE, symbol=symbol)
        return [parse.algo_snapshot(row, "") for row in data]

    async def algo_place(self, order: ProtectiveOrder) -> AlgoSnapshot:
        """Send the conditional order once, with its deterministic ``clientAlgoId``.

        python-binance would invent a random ``clientAlgoId`` if none were passed, which
        would make a retried placement a second order.
        """
        data = await self._call(
            "futures_create_algo_order",
            Priority.CRITICAL,
            algoType="CONDITIONAL",
            symbol=order.symbol,
            side=order.side.value,
            type=order.order_type,
            triggerPrice=_plain(order.trigger_price),
            quantity=_plain(order.quantity),
            reduceOnly="true",
            workingType="MARK_PRICE",
            clientAlgoId=order.client_algo_id,
        )
        return parse.algo_snapshot(data, order.client_algo_id)

    async def algo_cancel(self, order: ProtectiveOrder) -> bool:
        """Cancel by client algo ID; ``False`` when no open conditional order has it."""
        cancelled = await self._call_unless(
            NOTHING_TO_CANCEL_CODES, "futures_cancel_algo_order", Priority.CRITICAL, symbol=order.symbol, clientAlgoId=order.client_algo_id
        )
        return cancelled is not None


class _StampedClient(AsyncClient):
    """python-binance's client, honouring :func:`activities.exchange.signed_at`: the request
    carries the stamp (exchange time) as its ``timestamp``, and Binance executes it only until
    ``timestamp + recvWindow``, which is within the exchange's ``in_flight_horizon_ms``.

    With ``BUDGET`` set, every request (python-binance sends each through ``_request``)
    takes its weight from it first and corrects it with the answer."""

    BUDGET: RequestBudget | None = None

    def _get_request_kwargs(self, method, signed, force_params=False, **kwargs):  # noqa: ANN001, ANN202, FBT002 - python-binance's signature
        moment = send_stamp_ms()
        if not signed or moment is None:
            return super()._get_request_kwargs(method, signed, force_params, **kwargs)
        # The client stamps ``time.time() * 1000 + timestamp_offset`` while it signs, all in
        # this synchronous call: set the offset so that it stamps exactly the recorded moment.
        offset = self.timestamp_offset
        self.timestamp_offset = moment - time.time() * 1000
        try:
            return super()._get_request_kwargs(method, signed, force_params, **kwargs)
        finally:
            self.timestamp_offset = offset

    async def _request(self, method, uri: str, signed: bool, force_params: bool = False, **kwargs):  # noqa: ANN001, ANN003, ANN202, FBT001, FBT002 - python-binance's signature
        budget = self.BUDGET
        if budget is None:
            return await super()._request(method, uri, signed, force_params, **kwargs)
        api, path = budgets.split_url(uri)
        await budget.acquire(api, budgets.request_cost(method, path), call_priority(), self._exchange_ms, self._send_bound(signed))
        try:
            result = await super()._request(method, uri, signed, force_params, **kwargs)
        except BinanceAPIException as error:
            headers = getattr(error.response, "headers", None) or {}
            await budget.observe(api, error.status_code, headers, error.message, self._exchange_ms())
            raise
        await budget.observe(api, self.response.status, self.response.headers, "", self._exchange_ms())
        if path.endswith("/exchangeInfo") and isinstance(result, dict) and isinstance(result.get("rateLimits"), list):
            budget.configure(api, budgets.limits_from(result["rateLimits"]))
        return result

    def _exchange_ms(self) -> int:
        """The exchange's clock, as python-binance measured it."""
        return int(time.time() * 1000 + self.timestamp_offset)

    def _send_bound(self, signed: bool) -> float | None:  # noqa: FBT001
        """How long a request signed with a fixed stamp may still wait (seconds): past its
        ``recvWindow`` it would only be refused."""
        moment = send_stamp_ms()
        if not signed or moment is None:
            return None
        return (moment + self.REQUEST_RECVWINDOW - self._exchange_ms()) / 1000 - SIGNED_SEND_MARGIN_SECONDS


def _client_class(settings: Settings, budget: RequestBudget | None = None) -> type[AsyncClient]:
    """python-binance's client (stamped by ``signed_at``, metered by ``budget``), pointed at
    ``QT_EXCHANGE_URL`` when it is set."""
    attributes: dict[str, Any] = {"BUDGET": budget}
    if settings.exchange_url:
        base = settings.exchange_url.rstrip("/")
        attributes.update(
            {"API_URL": f"{base}/api", "API_TESTNET_URL": f"{base}/api", "FUTURES_URL": f"{base}/fapi", "FUTURES_TESTNET_URL": f"{base}/fapi"}
        )
    return type("PaperAsyncClient" if settings.exchange_url else "BinanceAsyncClient", (_StampedClient,), attributes)
