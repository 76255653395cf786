"""The worker's one connection to a Binance-compatible exchange, through python-binance.

One :class:`ExchangeGateway` per worker process: it owns one ``AsyncClient`` (one HTTP
session, reused by every activity), caches symbol filters, and turns python-binance's
answers into :class:`OrderSnapshot` values and its failures into three kinds of error:

* :class:`OrderRejected`: the exchange definitively refused (balance, filter, symbol).
* :class:`RequestRefused`: the request definitively did not execute but may be retried
  (rate limit, timestamp window); ``retry_after`` says when.
* :class:`OutcomeUnknown`: a timeout, a 5xx, ``-1006`` or ``-1007``: the order may exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
from binance import AsyncClient
from binance.exceptions import BinanceAPIException, BinanceRequestException

from quantum_trader.models import AlgoSnapshot, Market, OrderRequest, OrderSnapshot, ProtectiveOrder
from quantum_trader.settings import Settings

log = logging.getLogger(__name__)

# Error codes, as Binance documents them.
CODE_TOO_MANY_REQUESTS = -1003
CODE_UNKNOWN_ERROR = -1006
CODE_TIMEOUT = -1007
CODE_TIMESTAMP = -1021
CODE_NEW_ORDER_REJECTED = -2010
CODE_CANCEL_REJECTED = -2011
CODE_NO_SUCH_ORDER = -2013
CODE_REDUCE_ONLY_REJECTED = -2022
CONFIG_ERROR_CODES = frozenset({-2014, -2015, -1022, -1002})
DUPLICATE_ORDER_MESSAGE = "Duplicate order sent."


class ExchangeError(Exception):
    """Base of the gateway's errors; ``code`` is Binance's, when there is one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class OrderRejected(ExchangeError):
    """The exchange refused the order for good: retrying cannot help."""


class ExchangeConfigError(ExchangeError):
    """Keys, permissions or signing are wrong: an operator must fix the settings."""


class RequestRefused(ExchangeError):
    """The request did not execute (rate limit, clock); it may be retried later."""

    def __init__(self, message: str, code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, code)
        self.retry_after = retry_after


class OutcomeUnknown(ExchangeError):
    """The request may or may not have executed."""


class DuplicateOrder(ExchangeError):
    """An open order with this client order ID already exists."""


@dataclass(frozen=True)
class SymbolRules:
    """The exchange filters that decide whether an order is acceptable."""

    symbol: str
    base_asset: str
    quote_asset: str
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    tick_size: Decimal
    min_notional: Decimal


def classify(error: BaseException) -> ExchangeError:
    """Map a python-binance / transport failure to the gateway's error kinds."""
    if isinstance(error, ExchangeError):
        return error
    if isinstance(error, BinanceAPIException):
        code, message, status = error.code, error.message, error.status_code
        text = f"{code} {message}"
        if status >= 500 or code in (CODE_UNKNOWN_ERROR, CODE_TIMEOUT):
            return OutcomeUnknown(f"outcome unknown: HTTP {status} {text}", code)
        if status in (418, 429) or code == CODE_TOO_MANY_REQUESTS:
            retry_after = _retry_after(error)
            return RequestRefused(f"rate limited: HTTP {status} {text}", code, retry_after)
        if code == CODE_TIMESTAMP:
            return RequestRefused(f"clock outside recvWindow: {text}", code, None)
        if code == CODE_NEW_ORDER_REJECTED and message == DUPLICATE_ORDER_MESSAGE:
            return DuplicateOrder(text, code)
        if code in CONFIG_ERROR_CODES:
            return ExchangeConfigError(f"exchange refused credentials: {text}", code)
        return OrderRejected(text, code)
    if isinstance(error, (asyncio.TimeoutError, aiohttp.ClientError, BinanceRequestException, OSError)):
        return OutcomeUnknown(f"outcome unknown: {type(error).__name__}: {error}")
    raise error


def _retry_after(error: BinanceAPIException) -> float | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def snapshot_from_order(data: dict[str, Any], client_order_id: str) -> OrderSnapshot:
    """Normalise an order answer (placement, lookup or cancel) from Binance's JSON."""
    fills = data.get("fills") or []
    fees = sum((Decimal(f.get("commission", "0")) for f in fills), Decimal(0))
    fee_asset = fills[0].get("commissionAsset") if fills else None
    quote = data.get("cummulativeQuoteQty") or data.get("cumQuote") or "0"
    return OrderSnapshot(
        client_order_id=data.get("clientOrderId") or client_order_id,
        order_id=data.get("orderId"),
        status=data.get("status", "NEW"),
        orig_qty=Decimal(str(data.get("origQty", "0"))),
        executed_qty=Decimal(str(data.get("executedQty", "0"))),
        cumulative_quote_qty=Decimal(str(quote)),
        fees=fees,
        fee_asset=fee_asset,
        update_time_ms=data.get("updateTime") or data.get("transactTime"),
    )


def _order_params(order: OrderRequest, response_type: str) -> dict[str, Any]:
    """The new-order parameters spot and futures share, with the idempotency key."""
    params: dict[str, Any] = {
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.order_type.value,
        "quantity": _plain(order.quantity),
        "newClientOrderId": order.client_order_id,
        "newOrderRespType": response_type,
    }
    if order.price is not None:
        params["price"] = _plain(order.price)
    if order.time_in_force is not None:
        params["timeInForce"] = order.time_in_force.value
    return params


def _plain(value: Decimal) -> str:
    """Decimal as Binance wants it: no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return text


class ExchangeGateway:
    """python-binance ``AsyncClient`` for one worker, created on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: AsyncClient | None = None
        self._lock = asyncio.Lock()
        self._rules: dict[str, SymbolRules] = {}
        self._rules_loaded_at = 0.0
        self._futures_rules: dict[str, SymbolRules] = {}
        self._futures_rules_loaded_at = 0.0
        # (kind, symbol) -> (monotonic time read, price) and the read in flight, if any.
        self._prices: dict[tuple[str, str], tuple[float, Decimal]] = {}
        self._price_reads: dict[tuple[str, str], asyncio.Task[Decimal]] = {}

    @property
    def recv_window_ms(self) -> int:
        return self._settings.recv_window_ms

    @property
    def in_flight_horizon_ms(self) -> int:
        """How long after sending a request it may still execute at the exchange."""
        return self._settings.recv_window_ms + self._settings.unknown_outcome_grace_ms

    async def client(self) -> AsyncClient:
        async with self._lock:
            if self._client is None:
                self._client = await self._connect()
            return self._client

    async def _connect(self) -> AsyncClient:
        settings = self._settings
        key, secret = settings.binance_credentials
        client_class = _client_class(settings)
        try:
            client = await client_class.create(key, secret, testnet=settings.binance_testnet and not settings.exchange_url)
        except Exception as error:  # connection refused, DNS, 5xx at ping
            raise classify(error) from None
        client.REQUEST_RECVWINDOW = settings.recv_window_ms
        client.REQUEST_TIMEOUT = settings.exchange_timeout_seconds
        log.info("exchange connected url=%s testnet=%s", settings.exchange_url or "binance", settings.binance_testnet)
        return client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close_connection()
            self._client = None

    async def _call(self, method: str, **params: Any) -> Any:
        client = await self.client()
        try:
            return await getattr(client, method)(**params)
        except (BinanceAPIException, BinanceRequestException, asyncio.TimeoutError, aiohttp.ClientError, OSError) as error:
            if isinstance(error, BinanceAPIException) and error.code == CODE_TIMESTAMP:
                await self._resync_clock(client)
            raise classify(error) from None

    async def _resync_clock(self, client: AsyncClient) -> None:
        try:
            server = await client.get_server_time()
            client.timestamp_offset = server["serverTime"] - int(time.time() * 1000)
        except Exception:  # best effort; the retry will tell
            log.warning("exchange clock resync failed")

    # --- reads -------------------------------------------------------------------------

    async def symbol_rules(self, symbol: str, max_age_seconds: float = 300.0) -> SymbolRules | None:
        """Filters of ``symbol``, or ``None`` if the exchange does not list it."""
        if time.monotonic() - self._rules_loaded_at > max_age_seconds or symbol not in self._rules:
            info = await self._call("get_exchange_info")
            self._rules = {s["symbol"]: _rules_from_info(s) for s in info.get("symbols", []) if s.get("status", "TRADING") == "TRADING"}
            self._rules_loaded_at = time.monotonic()
        return self._rules.get(symbol)

    async def last_price(self, symbol: str) -> Decimal:
        """Spot last price, at most ``QT_PRICE_MAX_AGE_SECONDS`` old."""
        return await self._recent_price("last", symbol, self._read_last_price)

    async def _read_last_price(self, symbol: str) -> Decimal:
        data = await self._call("get_symbol_ticker", symbol=symbol)
        return Decimal(str(data["price"]))

    async def _recent_price(self, kind: str, symbol: str, read: Callable[[str], Awaitable[Decimal]]) -> Decimal:
        """A price read no longer ago than the setting allows; concurrent callers share one read."""
        key = (kind, symbol)
        cached = self._prices.get(key)
        if cached is not None and time.monotonic() - cached[0] <= self._settings.price_max_age_seconds:
            return cached[1]
        task = self._price_reads.get(key)
        if task is None:
            task = asyncio.ensure_future(read(symbol))
            self._price_reads[key] = task
            task.add_done_callback(lambda done: self._price_read_done(key, done))
        return await asyncio.shield(task)

    def _price_read_done(self, key: tuple[str, str], task: asyncio.Task[Decimal]) -> None:
        self._price_reads.pop(key, None)
        if not task.cancelled() and task.exception() is None:
            self._prices[key] = (time.monotonic(), task.result())

    async def lookup(self, order: OrderRequest) -> OrderSnapshot | None:
        """The order with this client order ID, or ``None`` if the exchange has none."""
        return await self.find_order(order.market, order.symbol, order.client_order_id)

    async def find_order(self, market: Market, symbol: str, client_order_id: str) -> OrderSnapshot | None:
        """The ``market`` order with this client order ID, or ``None`` if the exchange has none."""
        method = "futures_get_order" if market is Market.USDM else "get_order"
        try:
            data = await self._call(method, symbol=symbol, origClientOrderId=client_order_id)
        except OrderRejected as error:
            if error.code == CODE_NO_SUCH_ORDER:
                return None
            raise
        return snapshot_from_order(data, client_order_id)

    async def fees(self, order: OrderRequest, snapshot: OrderSnapshot) -> OrderSnapshot:
        """``snapshot`` with fees totalled from the order's trades."""
        if snapshot.executed_qty == 0 or snapshot.order_id is None:
            return snapshot
        method = "futures_account_trades" if order.market is Market.USDM else "get_my_trades"
        trades = await self._call(method, symbol=order.symbol, orderId=snapshot.order_id)
        total = sum((Decimal(str(t.get("commission", "0"))) for t in trades), Decimal(0))
        asset = trades[0].get("commissionAsset") if trades else snapshot.fee_asset
        return snapshot.model_copy(update={"fees": total, "fee_asset": asset})

    # --- writes ------------------------------------------------------------------------

    async def place(self, order: OrderRequest) -> OrderSnapshot:
        """Send the order once. Raises the gateway's error kinds; never retries."""
        if order.market is Market.USDM:
            return await self._futures_place(order)
        data = await self._call("create_order", **_order_params(order, response_type="FULL"))
        return snapshot_from_order(data, order.client_order_id)

    async def cancel(self, order: OrderRequest) -> OrderSnapshot | None:
        """Cancel by client order ID. ``None`` when the exchange knows no open order by it."""
        if order.market is Market.USDM:
            return await self._futures_cancel(order)
        try:
            data = await self._call("cancel_order", symbol=order.symbol, origClientOrderId=order.client_order_id)
        except OrderRejected as error:
            if error.code in (CODE_CANCEL_REJECTED, CODE_NO_SUCH_ORDER):
                return None
            raise
        return snapshot_from_order(data, order.client_order_id)

    # --- USD-M futures (``/fapi``) ------------------------------------------------------

    async def futures_symbol_rules(self, symbol: str, max_age_seconds: float = 300.0) -> SymbolRules | None:
        """Futures filters of ``symbol``, or ``None`` if the exchange lists no such contract."""
        if time.monotonic() - self._futures_rules_loaded_at > max_age_seconds or symbol not in self._futures_rules:
            info = await self._call("futures_exchange_info")
            self._futures_rules = {
                s["symbol"]: _rules_from_info(s) for s in info.get("symbols", []) if s.get("status", "TRADING") == "TRADING"
            }
            self._futures_rules_loaded_at = time.monotonic()
        return self._futures_rules.get(symbol)

    async def mark_price(self, symbol: str) -> Decimal:
        """USD-M mark price, at most ``QT_PRICE_MAX_AGE_SECONDS`` old."""
        return await self._recent_price("mark", symbol, self._read_mark_price)

    async def _read_mark_price(self, symbol: str) -> Decimal:
        data = await self._call("futures_mark_price", symbol=symbol)
        return Decimal(str(data["markPrice"]))

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        """Set the symbol's leverage; the same value twice is a no-op at the exchange."""
        data = await self._call("futures_change_leverage", symbol=symbol, leverage=leverage)
        return int(data.get("leverage", leverage))

    async def position_amount(self, symbol: str) -> Decimal:
        """Signed one-way-mode position of ``symbol``: positive long, negative short."""
        rows = await self._call("futures_position_information", symbol=symbol)
        return sum((Decimal(str(r.get("positionAmt", "0"))) for r in rows if r.get("positionSide", "BOTH") == "BOTH"), Decimal(0))

    async def futures_order_by_id(self, symbol: str, order_id: int) -> OrderSnapshot | None:
        try:
            data = await self._call("futures_get_order", symbol=symbol, orderId=order_id)
        except OrderRejected as error:
            if error.code == CODE_NO_SUCH_ORDER:
                return None
            raise
        return snapshot_from_order(data, str(data.get("clientOrderId", "")))

    async def _futures_place(self, order: OrderRequest) -> OrderSnapshot:
        params = _order_params(order, response_type="RESULT")
        if order.reduce_only:
            params["reduceOnly"] = "true"
        data = await self._call("futures_create_order", **params)
        return snapshot_from_order(data, order.client_order_id)

    async def _futures_cancel(self, order: OrderRequest) -> OrderSnapshot | None:
        try:
            data = await self._call("futures_cancel_order", symbol=order.symbol, origClientOrderId=order.client_order_id)
        except OrderRejected as error:
            if error.code in (CODE_CANCEL_REJECTED, CODE_NO_SUCH_ORDER):
                return None
            raise
        return snapshot_from_order(data, order.client_order_id)

    # --- USD-M conditional (algo) orders: the protective stop-loss and take-profit -------

    async def algo_lookup(self, order: ProtectiveOrder) -> AlgoSnapshot | None:
        """The conditional order with this client algo ID, or ``None`` if there is none."""
        try:
            data = await self._call("futures_get_algo_order", symbol=order.symbol, clientAlgoId=order.client_algo_id)
        except OrderRejected as error:
            if error.code == CODE_NO_SUCH_ORDER:
                return None
            raise
        return algo_snapshot(data, order.client_algo_id)

    async def algo_place(self, order: ProtectiveOrder) -> AlgoSnapshot:
        """Send the conditional order once, with its deterministic ``clientAlgoId``.

        python-binance would invent a random ``clientAlgoId`` if none were passed, which
        would make a retried placement a second order.
        """
        data = await self._call(
            "futures_create_algo_order",
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
        return algo_snapshot(data, order.client_algo_id)

    async def algo_cancel(self, order: ProtectiveOrder) -> bool:
        """Cancel by client algo ID; ``False`` when no open conditional order has it."""
        try:
            await self._call("futures_cancel_algo_order", symbol=order.symbol, clientAlgoId=order.client_algo_id)
        except OrderRejected as error:
            if error.code in (CODE_CANCEL_REJECTED, CODE_NO_SUCH_ORDER):
                return False
            raise
        return True


def algo_snapshot(data: dict[str, Any], client_algo_id: str) -> AlgoSnapshot:
    """Normalise an algo order answer from Binance's JSON."""
    actual = data.get("actualOrderId")
    price = data.get("actualPrice")
    return AlgoSnapshot(
        client_algo_id=data.get("clientAlgoId") or client_algo_id,
        algo_id=data.get("algoId"),
        status=data.get("algoStatus", "NEW"),
        actual_order_id=int(actual) if actual not in (None, "", 0, "0") else None,
        actual_price=Decimal(str(price)) if price not in (None, "") else None,
    )


# The local moment (ms) that requests made inside :func:`signed_at` are stamped with.
_SIGNED_AT_MS: ContextVar[int | None] = ContextVar("signed_at_ms", default=None)


@contextlib.contextmanager
def signed_at(moment_ms: int) -> Iterator[None]:
    """Stamp every signed request made inside with ``moment_ms`` instead of the send time.

    The exchange executes a request only until its ``timestamp + recvWindow``. A placement
    records that it may have an order in flight until ``moment_ms`` plus that horizon, then
    sends; stamping the send with the same moment keeps the record true even when the
    process stalls in between (a GC pause, a suspended VM, SIGSTOP): a late send is refused
    with ``-1021`` instead of placing an order after a retry already looked and found none.
    """
    token = _SIGNED_AT_MS.set(moment_ms)
    try:
        yield
    finally:
        _SIGNED_AT_MS.reset(token)


class _StampedClient(AsyncClient):
    """python-binance's client, honouring :func:`signed_at`."""

    def _get_request_kwargs(self, method, signed, force_params=False, **kwargs):  # noqa: ANN001, ANN202, FBT002 - python-binance's signature
        moment = _SIGNED_AT_MS.get()
        if not signed or moment is None:
            return super()._get_request_kwargs(method, signed, force_params, **kwargs)
        # The client stamps ``time.time() * 1000 + timestamp_offset`` while it signs, all in
        # this synchronous call: shift the offset to the recorded moment for just this call.
        offset = self.timestamp_offset
        self.timestamp_offset = offset + moment - time.time() * 1000
        try:
            return super()._get_request_kwargs(method, signed, force_params, **kwargs)
        finally:
            self.timestamp_offset = offset


def _client_class(settings: Settings) -> type[AsyncClient]:
    """python-binance's client (stamped by :func:`signed_at`), pointed at ``QT_EXCHANGE_URL`` when it is set."""
    if not settings.exchange_url:
        return _StampedClient
    base = settings.exchange_url.rstrip("/")
    return type(
        "PaperAsyncClient",
        (_StampedClient,),
        {"API_URL": f"{base}/api", "API_TESTNET_URL": f"{base}/api", "FUTURES_URL": f"{base}/fapi", "FUTURES_TESTNET_URL": f"{base}/fapi"},
    )


def _rules_from_info(entry: dict[str, Any]) -> SymbolRules:
    filters = {f["filterType"]: f for f in entry.get("filters", [])}
    lot = filters.get("LOT_SIZE", {})
    price = filters.get("PRICE_FILTER", {})
    notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
    return SymbolRules(
        symbol=entry["symbol"],
        base_asset=entry.get("baseAsset", ""),
        quote_asset=entry.get("quoteAsset", ""),
        step_size=Decimal(str(lot.get("stepSize", "0"))),
        min_qty=Decimal(str(lot.get("minQty", "0"))),
        max_qty=Decimal(str(lot.get("maxQty", "0"))),
        tick_size=Decimal(str(price.get("tickSize", "0"))),
        min_notional=Decimal(str(notional.get("minNotional") or notional.get("notional") or "0")),
    )
