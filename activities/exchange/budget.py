"""One request-weight budget for every worker process, kept in Redis.

Binance counts request weight per IP (6,000 a minute on spot) and new orders per account
(100 per 10 s, 200,000 a day); a 429 that is not honoured becomes a 418 IP ban of 2 minutes
to 3 days, which stops cancels and stop-losses too. Each worker process used to believe it
owned the whole budget. :class:`RequestBudget` is the budget they share:

* **Windows.** Fixed windows on the exchange's clock, as Binance counts them: the
  exchange's ``rateLimits`` (exchangeInfo, read at worker start and at every rules refresh;
  :data:`SPOT_LIMITS` / :data:`FUTURES_LIMITS` until then, or when it cannot be read), times
  ``QT_EXCHANGE_BUDGET_MARGIN``. One Redis counter per window and API base URL
  (``quantum:budget:<base URL>:<weight|orders>:<interval ms>:<window index>``), so spot and
  futures, testnet and live never mix.
* **Cost.** :data:`REQUEST_COSTS`: each endpoint's Binance weight, and one order for a new
  order (:func:`request_cost`). A call takes its cost from every window before it is sent,
  in one Lua script (check all, then add all): it is sent only if every window has room.
* **Priorities.** :class:`~activities.exchange.Priority`: cancels and protective orders
  may fill the whole budget, new entries ``QT_EXCHANGE_BUDGET_ENTRY_SHARE`` of it,
  reconciliation (lookups, watches, polls) ``QT_EXCHANGE_BUDGET_RECONCILE_SHARE``. Lookups
  that have spent their share leave the rest to cancels. When windows turn, waiting cancels
  wake first (:data:`WAKE_DELAY_MS`).
* **Waiting.** A call without room sleeps until the window that is full ends, then tries
  again; if that would take longer than ``QT_EXCHANGE_BUDGET_MAX_WAIT_SECONDS`` (or, for a
  request signed with a fixed stamp, than its ``recvWindow`` leaves) it sends nothing and
  raises :class:`~activities.exchange.RequestRefused` with ``retry_after``, which the
  activities already retry after that delay.
* **The exchange's count wins.** Every answer's ``X-MBX-USED-WEIGHT-1M`` and
  ``X-MBX-ORDER-COUNT-10S`` / ``-1D`` (any ``-<n><S|M|H|D>``) raise the matching counter
  when the exchange counted more than the fleet did (another client on the same IP).
* **Pause.** A 429 or 418 pauses every process until its ``Retry-After`` (418: the later
  of ``Retry-After`` and the "banned until" it names); without the header, 60 s after a
  429 (one weight window) and 120 s after a 418 (Binance's shortest ban):
  :data:`PAUSE_WITHOUT_RETRY_AFTER`; plus :data:`PAUSE_PAD_MS` for the workers' clocks.
  Nothing is sent by any process until it ends.
* **Redis down.** The budget falls back to a count of its own process, with a WARNING,
  and tries Redis again every :data:`REDIS_RETRY_SECONDS`: trading goes on, and the
  exchange's headers still correct each process's count.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.exceptions import RedisError
from temporalio.common import MetricMeter

from activities import metrics
from activities.exchange import Priority, RequestRefused
from quantum_trader import constants
from quantum_trader.connections import redis_client, redis_location
from quantum_trader.settings import Settings

log = logging.getLogger(__name__)

WEIGHT = "weight"
ORDERS = "orders"
INTERVAL_MS = {"SECOND": 1_000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}


@dataclass(frozen=True)
class Window:
    """One limit: ``limit`` of request weight or new orders per ``interval_ms``."""

    counts: str
    interval_ms: int
    limit: int


# Binance's published limits (exchangeInfo ``rateLimits``), used until the exchange's are read.
SPOT_LIMITS = (Window(WEIGHT, 60_000, 6_000), Window(ORDERS, 10_000, 100), Window(ORDERS, 86_400_000, 200_000))
FUTURES_LIMITS = (Window(WEIGHT, 60_000, 2_400), Window(ORDERS, 10_000, 300), Window(ORDERS, 60_000, 1_200))


@dataclass(frozen=True)
class Cost:
    """What one request takes from the windows."""

    weight: int
    orders: int = 0


# Binance's request weight per endpoint (spot REST and USD-M futures docs). Since 2026-04-02 a
# successful spot placement or cancel costs 0 weight and a failed one 1: they reserve 1 (the
# exchange's count corrects it). New orders (placements, conditional orders) count one order.
# ``openOrders`` costs 6 (spot) / 1 (futures) with a symbol, 80 / 40 without: name the symbol
# (``openAlgoOrders`` likewise 1 with a symbol).
REQUEST_COSTS: dict[tuple[str, str], Cost] = {
    ("GET", "/api/v3/ping"): Cost(1),
    ("GET", "/api/v3/time"): Cost(1),
    ("GET", "/api/v3/exchangeInfo"): Cost(20),
    ("GET", "/api/v3/ticker/price"): Cost(2),
    ("GET", "/api/v3/account"): Cost(20),
    ("GET", "/api/v3/order"): Cost(4),
    ("GET", "/api/v3/openOrders"): Cost(6),
    ("GET", "/api/v3/myTrades"): Cost(20),
    ("POST", "/api/v3/order"): Cost(1, orders=1),
    ("DELETE", "/api/v3/order"): Cost(1),
    ("GET", "/fapi/v1/ping"): Cost(1),
    ("GET", "/fapi/v1/time"): Cost(1),
    ("GET", "/fapi/v1/exchangeInfo"): Cost(1),
    ("GET", "/fapi/v1/premiumIndex"): Cost(1),
    ("GET", "/fapi/v1/ticker/price"): Cost(1),
    ("GET", "/fapi/v2/ticker/price"): Cost(1),
    ("GET", "/fapi/v1/order"): Cost(1),
    ("GET", "/fapi/v1/openOrders"): Cost(1),
    ("POST", "/fapi/v1/order"): Cost(1, orders=1),
    ("DELETE", "/fapi/v1/order"): Cost(1),
    ("GET", "/fapi/v1/algoOrder"): Cost(1),
    ("GET", "/fapi/v1/openAlgoOrders"): Cost(1),
    ("POST", "/fapi/v1/algoOrder"): Cost(1, orders=1),
    ("DELETE", "/fapi/v1/algoOrder"): Cost(1),
    ("POST", "/fapi/v1/leverage"): Cost(1),
    ("GET", "/fapi/v2/positionRisk"): Cost(5),
    ("GET", "/fapi/v3/positionRisk"): Cost(5),
    ("GET", "/fapi/v2/account"): Cost(5),
    ("GET", "/fapi/v3/account"): Cost(5),
    ("GET", "/fapi/v1/userTrades"): Cost(5),
    ("POST", "/fapi/v1/listenKey"): Cost(1),
    ("PUT", "/fapi/v1/listenKey"): Cost(1),
    ("DELETE", "/fapi/v1/listenKey"): Cost(1),
}
# An endpoint missing from the table is charged as one of the heaviest the gateway uses.
UNLISTED_COST = Cost(20)
# When windows turn, the most urgent waiting calls go first.
WAKE_DELAY_MS = {Priority.CRITICAL: 0, Priority.ENTRY: 100, Priority.RECONCILE: 200}
PAUSE_WITHOUT_RETRY_AFTER = {429: 60.0, 418: 120.0}
PAUSE_STATUSES = frozenset(PAUSE_WITHOUT_RETRY_AFTER)
# Added to every pause: the workers' readings of the exchange's clock differ by a few ms.
PAUSE_PAD_MS = 250
REDIS_RETRY_SECONDS = 5.0
# The shortest sleep of a call waiting for room.
MIN_SLEEP_SECONDS = 0.01
# A Redis that does not answer within this costs a call no more before the fallback.
REDIS_TIMEOUT_SECONDS = 0.5
# Counters outlive their window by this much (a late header still finds its window).
COUNTER_GRACE_MS = 60_000
_COUNT_HEADER = re.compile(r"^X-MBX-(USED-WEIGHT|ORDER-COUNT)-(\d+)([SMHD])$", re.IGNORECASE)
_UNIT_MS = {"S": 1_000, "M": 60_000, "H": 3_600_000, "D": 86_400_000}
_BANNED_UNTIL = re.compile(r"banned until (\d{13})")
# ``<prefix>/<api|fapi|...>/v<n>/...``: the API root is the segment before the version.
_VERSIONED_PATH = re.compile(r"^(?P<prefix>(?:/[^/]+)*?)(?P<path>(?P<root>/[^/]+)/v\d+(?:/.*)?)$")

GRANTED, PAUSED, FULL = 0, 1, 2

# KEYS[1]: the pause (exchange ms it ends); KEYS[2..]: one counter per window, weight first.
# ARGV[1]: now (exchange ms); then per counter: cost, allowed, ms until its window ends.
# Returns {GRANTED|PAUSED|FULL, ms to wait, the first counter's count (-1: unknown)}.
_TAKE = """
local now = tonumber(ARGV[1])
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
if paused > now then return {1, paused - now, -1} end
local wait, used = 0, {}
for i = 2, #KEYS do
  local at = 2 + (i - 2) * 3
  local cost, allowed, ends = tonumber(ARGV[at]), tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  used[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used[i] > 0 and used[i] + cost > allowed and ends > wait then wait = ends end
end
if wait > 0 then return {2, wait, used[2] or -1} end
for i = 2, #KEYS do
  local at = 2 + (i - 2) * 3
  used[i] = redis.call('INCRBY', KEYS[i], tonumber(ARGV[at]))
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[at + 2]) + tonumber(ARGV[#ARGV]))
end
return {0, 0, used[2] or -1}
"""
# KEYS: counters; ARGV: per counter the exchange's count and a TTL (ms). Only ever raises.
_RAISE = """
for i = 1, #KEYS do
  local reported = tonumber(ARGV[2 * i - 1])
  if reported > tonumber(redis.call('GET', KEYS[i]) or '0') then
    redis.call('SET', KEYS[i], reported, 'PX', tonumber(ARGV[2 * i]))
  end
end
return 0
"""
# KEYS[1]: the pause; ARGV: when it ends (exchange ms), TTL (ms). Only ever extends.
_PAUSE = """
if tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
  return 1
end
return 0
"""


def request_cost(method: str, path: str) -> Cost:
    """What ``method path`` takes from the budget (:data:`REQUEST_COSTS`)."""
    return REQUEST_COSTS.get((method.upper(), path), UNLISTED_COST)


def split_url(url: str) -> tuple[str, str]:
    """``(API base URL, path)`` of a request URL: ``https://api.binance.com/api/v3/order?x``
    gives ``("https://api.binance.com/api", "/api/v3/order")``. A base URL with a path of its
    own keeps it in the API (``http://gw/binance/fapi/v1/order`` gives
    ``("http://gw/binance/fapi", "/fapi/v1/order")``): each market keeps its own windows."""
    parts = urlsplit(url)
    versioned = _VERSIONED_PATH.match(parts.path)
    if versioned:
        return f"{parts.scheme}://{parts.netloc}{versioned['prefix']}{versioned['root']}", versioned["path"]
    root = "/" + parts.path.lstrip("/").split("/", 1)[0]
    return f"{parts.scheme}://{parts.netloc}{root}", parts.path


def default_limits(api: str) -> tuple[Window, ...]:
    return FUTURES_LIMITS if api.endswith("/fapi") else SPOT_LIMITS


def limits_from(rate_limits: Iterable[Mapping[str, Any]]) -> tuple[Window, ...]:
    """The windows of exchangeInfo's ``rateLimits`` (``REQUEST_WEIGHT`` and ``ORDERS``; others
    are not request weight and are left out)."""
    kinds = {"REQUEST_WEIGHT": WEIGHT, "ORDERS": ORDERS}
    windows = []
    for entry in rate_limits:
        counts, unit = kinds.get(str(entry.get("rateLimitType"))), INTERVAL_MS.get(str(entry.get("interval")))
        try:
            number, limit = int(entry.get("intervalNum", 1)), int(entry["limit"])
        except (KeyError, TypeError, ValueError):
            continue
        if counts and unit and number > 0 and limit > 0:
            windows.append(Window(counts, unit * number, limit))
    return tuple(sorted(windows, key=lambda w: (w.counts != WEIGHT, w.interval_ms)))


def reported_counts(headers: Mapping[str, str]) -> dict[tuple[str, int], int]:
    """``(weight|orders, interval ms) -> count`` from the ``X-MBX-USED-WEIGHT-*`` and
    ``X-MBX-ORDER-COUNT-*`` headers of an answer."""
    counts = {}
    for name, value in headers.items():
        match = _COUNT_HEADER.match(name)
        if match and str(value).isdigit():
            kind = WEIGHT if match[1].upper() == "USED-WEIGHT" else ORDERS
            counts[(kind, int(match[2]) * _UNIT_MS[match[3].upper()])] = int(value)
    return counts


def pause_seconds(status: int, headers: Mapping[str, str], message: str, now_ms: int) -> float:
    """How long every process stays silent after a 429 or 418 answer."""
    retry_after: float | None = None
    try:
        retry_after = float(headers.get("Retry-After", ""))
    except ValueError:
        pass
    seconds = retry_after if retry_after is not None and retry_after > 0 else PAUSE_WITHOUT_RETRY_AFTER[status]
    banned = _BANNED_UNTIL.search(message or "") if status == 418 else None
    if banned:
        seconds = max(seconds, (int(banned[1]) - now_ms) / 1000)
    return seconds


class _LocalCounts:
    """The scripts' semantics in this process alone: the fallback while Redis is down."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[int, float]] = {}  # key -> (value, expires at, monotonic)

    def _get(self, key: str) -> int:
        value, expires = self._values.get(key, (0, 0.0))
        return value if expires > time.monotonic() else 0

    def _set(self, key: str, value: int, ttl_ms: int) -> None:
        self._values[key] = (value, time.monotonic() + ttl_ms / 1000)

    def run(self, script: str, keys: Sequence[str], args: Sequence[int]) -> list[int]:
        now = time.monotonic()
        self._values = {k: v for k, v in self._values.items() if v[1] > now}
        if script is _TAKE:
            return self._take(keys, args)
        if script is _RAISE:
            for i, key in enumerate(keys):
                if args[2 * i] > self._get(key):
                    self._set(key, args[2 * i], args[2 * i + 1])
            return [0]
        if args[0] > self._get(keys[0]):
            self._set(keys[0], args[0], args[1])
        return [1]

    def _take(self, keys: Sequence[str], args: Sequence[int]) -> list[int]:
        now, grace = args[0], args[-1]
        paused = self._get(keys[0])
        if paused > now:
            return [PAUSED, paused - now, -1]
        counters = list(zip(keys[1:], zip(*[iter(args[1:-1])] * 3), strict=True))
        used = [self._get(key) for key, _ in counters]
        wait = max((ends for (_, (cost, allowed, ends)), count in zip(counters, used, strict=True)
                    if count > 0 and count + cost > allowed), default=0)
        if wait > 0:
            return [FULL, wait, used[0] if used else -1]
        for i, (key, (cost, _, ends)) in enumerate(counters):
            used[i] += cost
            self._set(key, used[i], ends + grace)
        return [GRANTED, 0, used[0] if used else -1]


class RequestBudget:
    """The request-weight budget of one worker process, shared with the others through
    ``redis`` (``None``: this process's own). See the module docstring.

    Args:
        settings: the ``QT_EXCHANGE_BUDGET_*`` settings.
        redis: the shared store; the budget closes it.
        meter: the worker's metric meter.

    Attributes:
        waiting: how many calls of each priority are asleep in this process, waiting for room.
    """

    def __init__(self, settings: Settings, redis: Redis | None, meter: MetricMeter = MetricMeter.noop) -> None:
        self._margin = settings.exchange_budget_margin
        self._shares = {
            Priority.CRITICAL: 1.0,
            Priority.ENTRY: settings.exchange_budget_entry_share,
            Priority.RECONCILE: settings.exchange_budget_reconcile_share,
        }
        self._max_wait = settings.exchange_budget_max_wait_seconds
        self._redis = redis
        self._redis_where = redis_location(settings) if redis is not None else ""
        self._scripts = {s: redis.register_script(s) for s in (_TAKE, _RAISE, _PAUSE)} if redis is not None else {}
        self._redis_retry_at = 0.0
        self._redis_down = False
        self._local = _LocalCounts()
        self._limits: dict[str, tuple[Window, ...]] = {}
        self._used = metrics.gauge(meter, metrics.EXCHANGE_BUDGET_USED)
        self._left = metrics.gauge(meter, metrics.EXCHANGE_BUDGET_LEFT)
        self._pause_left = metrics.gauge(meter, metrics.EXCHANGE_PAUSE_LEFT)
        self._pauses = metrics.counter(meter, metrics.EXCHANGE_PAUSES)
        self._waits = metrics.counter(meter, metrics.EXCHANGE_BUDGET_WAITS)
        self._waiting_gauge = metrics.gauge(meter, metrics.EXCHANGE_BUDGET_WAITING)
        self.waiting: dict[Priority, int] = dict.fromkeys(Priority, 0)

    @classmethod
    def for_settings(cls, settings: Settings, meter: MetricMeter = MetricMeter.noop) -> RequestBudget:
        """Shared through ``QT_REDIS_URL`` unless ``QT_EXCHANGE_BUDGET_SHARED`` is off."""
        redis = None
        if settings.exchange_budget_shared:
            redis = redis_client(settings, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
        log.info("exchange budget", extra={
            "shared_in": redis_location(settings) if redis is not None else "this process", "margin": settings.exchange_budget_margin,
            "entry_share": settings.exchange_budget_entry_share, "reconcile_share": settings.exchange_budget_reconcile_share})
        return cls(settings, redis, meter)

    @property
    def shared(self) -> bool:
        """Whether the count is the fleet's (in Redis) right now, not this process's."""
        return self._redis is not None and not self._redis_down

    def limits(self, api: str) -> tuple[Window, ...]:
        """The windows of the API at base URL ``api``: the exchange's, or Binance's defaults."""
        return self._limits.get(api) or default_limits(api)

    def configure(self, api: str, windows: tuple[Window, ...]) -> None:
        """Take the exchange's own limits (exchangeInfo ``rateLimits``) for ``api``."""
        if not windows or not any(w.counts == WEIGHT for w in windows) or self._limits.get(api) == windows:
            return
        self._limits[api] = windows
        log.info("exchange rate limits", extra={
            "api": api, "limits": ", ".join(f"{w.limit} {w.counts}/{w.interval_ms // 1000}s" for w in windows),
            "margin": self._margin})

    def allowed(self, window: Window, priority: Priority) -> int:
        """How much of ``window`` calls of ``priority`` may fill."""
        return max(int(window.limit * self._margin * self._shares[priority]), 1)

    async def acquire(
        self, api: str, cost: Cost, priority: Priority, clock: Callable[[], int], max_wait: float | None = None
    ) -> None:
        """Take ``cost`` from the budget of ``api`` before a request is sent, waiting (asleep)
        while a window is full or the fleet is paused.

        Args:
            clock: the exchange's clock (ms), as this process knows it.
            max_wait: a tighter bound than ``QT_EXCHANGE_BUDGET_MAX_WAIT_SECONDS``, in seconds.

        Raises:
            RequestRefused: the wait would exceed the bound; nothing was sent. ``retry_after``
                says when the budget has room again.
        """
        bound = self._max_wait if max_wait is None else max(min(self._max_wait, max_wait), 0.0)
        started = time.monotonic()
        waited = False
        labels = {"priority": priority.name.lower()}
        while True:
            now = clock()
            counters = self._counters(api, cost, priority, now)
            status, wait_ms, used = await self._run(
                _TAKE,
                [self._pause_key(api), *(key for key, _, _ in counters)],
                [now, *(value for _, cost_allowed, ends in counters for value in (*cost_allowed, ends)), COUNTER_GRACE_MS],
            )
            if status == GRANTED:
                self._show(api, used)
                if waited:
                    self._waits.add(1, {**labels, "outcome": "waited"})
                return
            if status == PAUSED:
                self._pause_left.set(math.ceil(wait_ms / 1000), {"api": _root(api)})
            # Never a busy loop, even when a window ends right now.
            delay = max((wait_ms + WAKE_DELAY_MS[priority]) / 1000, MIN_SLEEP_SECONDS)
            if time.monotonic() - started + delay > bound:
                self._waits.add(1, {**labels, "outcome": "refused"})
                reason = "the fleet is paused after a 429/418" if status == PAUSED else "the request budget is spent"
                raise RequestRefused(
                    f"rate limited: {reason} at {api} for {wait_ms / 1000:.1f}s more; nothing sent", None, math.ceil(wait_ms / 1000)
                )
            waited = True
            await self._sleep(priority, delay)

    async def observe(self, api: str, status: int | None, headers: Mapping[str, str], message: str, now_ms: int) -> None:
        """Correct the counts by an answer's ``X-MBX-*`` headers (the exchange's count wins
        when higher), and pause the fleet after a 429 or 418."""
        reported = reported_counts(headers)
        keys, args = [], []
        for window in self.limits(api):
            count = reported.get((window.counts, window.interval_ms))
            if count is not None:
                index = now_ms // window.interval_ms
                keys.append(self._counter_key(api, window, index))
                args += [count, (index + 1) * window.interval_ms - now_ms + COUNTER_GRACE_MS]
        if keys:
            await self._run(_RAISE, keys, args)
        if status in PAUSE_STATUSES:
            seconds = pause_seconds(status, headers, message, now_ms)
            pause_ms = math.ceil(seconds * 1000) + PAUSE_PAD_MS
            await self._run(_PAUSE, [self._pause_key(api)], [now_ms + pause_ms, pause_ms + COUNTER_GRACE_MS])
            self._pauses.add(1, {"status": str(status)})
            self._pause_left.set(math.ceil(seconds), {"api": _root(api)})
            log.warning("exchange rate limit: every worker pauses", extra={"api": api, "status": status, "pause_seconds": seconds})

    async def close(self) -> None:
        """Close the shared store's connections."""
        if self._redis is not None:
            await self._redis.aclose()

    # --- internals ---------------------------------------------------------------------

    async def _sleep(self, priority: Priority, seconds: float) -> None:
        """Sleep, counted in :attr:`waiting` (calls of each priority asleep in this process)."""
        label = {"priority": priority.name.lower()}
        self.waiting[priority] += 1
        self._waiting_gauge.set(self.waiting[priority], label)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.waiting[priority] -= 1
            self._waiting_gauge.set(self.waiting[priority], label)

    def _counters(self, api: str, cost: Cost, priority: Priority, now: int) -> list[tuple[str, tuple[int, int], int]]:
        """``(key, (cost, allowed), ms until the window ends)`` of each window the cost touches."""
        counters = []
        for window in self.limits(api):
            amount = cost.weight if window.counts == WEIGHT else cost.orders
            if amount > 0:
                index = now // window.interval_ms
                ends = (index + 1) * window.interval_ms - now
                counters.append((self._counter_key(api, window, index), (amount, self.allowed(window, priority)), ends))
        return counters

    def _show(self, api: str, used: int) -> None:
        weight = next((w for w in self.limits(api) if w.counts == WEIGHT), None)
        if used < 0 or weight is None:
            return
        labels = {"api": _root(api)}
        self._used.set(used, labels)
        self._left.set(max(self.allowed(weight, Priority.CRITICAL) - used, 0), labels)
        self._pause_left.set(0, labels)

    async def _run(self, script: str, keys: list[str], args: list[int]) -> list[int]:
        """Run ``script`` in Redis; in this process alone while Redis cannot be reached."""
        if self._redis is not None and time.monotonic() >= self._redis_retry_at:
            try:
                answer = await self._scripts[script](keys=keys, args=args)
                result = [int(value) for value in answer] if isinstance(answer, list) else [int(answer)]
            except (RedisError, OSError) as error:
                self._redis_retry_at = time.monotonic() + REDIS_RETRY_SECONDS
                if not self._redis_down:
                    self._redis_down = True
                    log.warning("exchange budget unshared: Redis unreachable, this process counts alone", extra={
                        "redis": self._redis_where, "error": f"{type(error).__name__}: {error}", "retry_seconds": REDIS_RETRY_SECONDS})
            else:
                if self._redis_down:
                    self._redis_down = False
                    log.info("exchange budget shared again", extra={"redis": self._redis_where})
                return result
        return self._local.run(script, keys, args)

    @staticmethod
    def _counter_key(api: str, window: Window, index: int) -> str:
        return f"{constants.EXCHANGE_BUDGET_KEY_PREFIX}{api}:{window.counts}:{window.interval_ms}:{index}"

    @staticmethod
    def _pause_key(api: str) -> str:
        return f"{constants.EXCHANGE_BUDGET_KEY_PREFIX}{api}:pause"


def _root(api: str) -> str:
    """``api`` or ``fapi``: the metrics label of an API base URL."""
    return api.rsplit("/", 1)[-1]
