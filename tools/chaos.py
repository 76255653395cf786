"""``quantum-trader chaos``: many decisions while the stack is broken, then a reconciliation.

N decisions (default 1,000; a fifth of them exact repeats of earlier ones) go through the
Redis stream: MARKET buys, low-confidence ones the risk gate rejects, LIMITs that rest and
expire, marketable LIMITs, and resting LIMITs cancelled with the ``cancel_order`` signal.
Meanwhile a driver SIGKILLs the worker at random moments (the supervisor starts a
replacement), SIGKILLs the Temporal dev server, Redis and the paper exchange once each
(each restarts on its own files), and keeps exchange faults armed: 5xx on 10% of requests,
lost responses on 5% of order placements, and bursts of 429.

Timing faults, each on by default and each with its own flag and line in the report:

- a second worker whose wall clock libfaketime moves by +-2 s, the sign switched at each of
  its restarts, and the exchange's own clock moved once (``clock_offset_ms``);
- accept-then-execute-later: one order placement every few seconds is accepted, answered
  with an unknown outcome and executed ``--execute-later-ms`` later, which stays inside the
  in-flight horizon recvWindow + grace the stack runs with;
- a partition between the supervised worker and Temporal (it reaches Temporal through
  :class:`tools.partition.Partition`, paused longer than the 5 s heartbeat timeout) while it
  still reaches the exchange;
- ``temporal workflow reset`` to the first workflow task of a few intents while their order
  request is in flight;
- USD-M futures intents with a stop-loss and a take-profit; once every intent has ended,
  every protection still open is closed with ``close_position`` and the audit accounts for
  every position.

When every intent has ended, :mod:`tools.audit` checks Temporal visibility,
the ``execution.result`` stream and the exchange's order log against each other. The
table of counts is printed; the exit code is 1 on any violation.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import secrets
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from quantum_trader import constants, logs
from quantum_trader.ids import protection_workflow_id
from quantum_trader.models import CancelRequest, ClosePositionSignal
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState
from tools.audit import (
    ProtectionRow,
    Reconciliation,
    ResultRow,
    order_rows,
    position_amounts,
    read_protections,
    read_results,
    read_workflows,
    reconcile,
)
from tools.dev import PAPER_UNKNOWN_OUTCOME_GRACE_MS as PAPER_GRACE_MS
from tools.dev import temporal_binary
from tools.harness import LIBFAKETIME, SKEWED_WORKER, Harness, Unavailable, add_stack_arguments, stack_from_args

ORDER_PATH = "/api/v3/order"
FUTURES_ORDER_PATH = "/fapi/v1/order"
DUPLICATE_SHARE = 0.20
MIN_WINDOW_SECONDS = 30.0
# The supervisor gives up on a child that crashes more than 5 times a minute.
MIN_SECONDS_BETWEEN_WORKER_KILLS = 13.0
# The placement activity's heartbeat timeout (workflows/policies.py): a partition must outlast it.
HEARTBEAT_TIMEOUT_SECONDS = 5.0
PLACE_ACTIVITY = "place_order"
# How long a reset waits to catch its intent's order request in flight.
RESET_CATCH_SECONDS = 15.0
# How long the protections still open at the end get to close.
CLOSE_TIMEOUT_SECONDS = 240.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_stack_arguments(parser)
    parser.add_argument("--decisions", type=int, default=1000, help="decisions to publish from the mix, repeats included; each reset adds one more (default 1000)")
    parser.add_argument("--rate", type=float, default=10.0, help="decisions per second (default 10)")
    parser.add_argument("--worker-kills", type=int, default=None, help="worker SIGKILLs (default: one per ~15 s of publishing, at least 3)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the decision mix and the driver (default random)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for every intent to end (default 900)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON (stdout carries only that)")
    timing = parser.add_argument_group("timing faults and futures (each on by default; 0 turns one off)")
    timing.add_argument("--skew-seconds", type=float, default=2.0,
                        help="wall-clock skew of a second worker (libfaketime), sign switched at each restart (default 2)")
    timing.add_argument("--exchange-clock-offset-ms", type=int, default=2500,
                        help="the exchange's clock is moved by this much, either way, once during the run (default 2500)")
    timing.add_argument("--execute-later-ms", type=int, default=2500,
                        help="accept-then-execute-later delay armed on one order placement every few seconds (default 2500; "
                             "must stay below recvWindow + grace minus the exchange clock move)")
    timing.add_argument("--partitions", type=int, default=None,
                        help="pauses of the supervised worker's link to Temporal (default: one per ~40 s of publishing, at least 1)")
    timing.add_argument("--partition-seconds", type=float, default=8.0,
                        help=f"length of each partition, longer than the {HEARTBEAT_TIMEOUT_SECONDS:.0f} s heartbeat timeout (default 8)")
    timing.add_argument("--resets", type=int, default=3, help="intents reset to their first workflow task mid-placement (default 3)")
    timing.add_argument("--futures-share", type=float, default=0.20, help="share of fresh decisions that are USD-M futures (default 0.2)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from quantum_trader.cli import CommandError

    if args.decisions < 1:
        raise CommandError("--decisions must be at least 1")
    horizon_ms = settings.recv_window_ms + (settings.unknown_outcome_grace_ms if args.stack else PAPER_GRACE_MS)
    if args.execute_later_ms and args.execute_later_ms + abs(args.exchange_clock_offset_ms) >= horizon_ms:
        raise CommandError(f"--execute-later-ms plus the exchange clock move must stay below recvWindow + grace ({horizon_ms} ms): "
                           "an order executed later than that is outside the fault model")
    if args.partitions and args.partition_seconds <= HEARTBEAT_TIMEOUT_SECONDS:
        raise CommandError(f"--partition-seconds must exceed the {HEARTBEAT_TIMEOUT_SECONDS:.0f} s heartbeat timeout")
    if args.skew_seconds and not LIBFAKETIME.exists():
        raise CommandError(f"--skew-seconds needs libfaketime ({LIBFAKETIME}; apt-get install libfaketime) or --skew-seconds 0")
    logs.configure(settings.model_copy(update={"log_level": "WARNING"}), "chaos")
    return asyncio.run(_main(args, settings))


async def _main(args: argparse.Namespace, settings: Settings) -> int:
    out = sys.stderr if args.json else sys.stdout
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    ingredients = Ingredients.from_args(args)
    async with stack_from_args(args, settings, out=sys.stderr, partitioned_worker=ingredients.partitions != 0,
                               skewed_worker=ingredients.first_skew) as harness:
        chaos = Chaos(harness, decisions=args.decisions, rate=args.rate, seed=seed, worker_kills=args.worker_kills,
                      timeout=args.timeout, out=out, ingredients=ingredients)
        summary = await chaos.run()
    if args.json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    sys.stdout.flush()
    return 0 if summary["ok"] else 1


# --- the decision mix ---------------------------------------------------------------------


@dataclass
class Mix:
    """Seeded decisions; about ``DUPLICATE_SHARE`` of them repeat an earlier one exactly."""

    run_id: str
    rng: random.Random
    prices: dict[str, Decimal]
    futures_share: float = 0.0
    issued: list[dict[str, str]] = field(default_factory=list)
    cancel_targets: list[str] = field(default_factory=list)
    futures: set[str] = field(default_factory=set)
    # One side per futures symbol: the exchange nets a symbol's position (one-way mode), so a
    # long and a short intent on one symbol would reduce each other's position.
    futures_sides: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.futures_sides = {symbol: self.rng.choice(("BUY", "SELL")) for symbol in sorted(self.prices)}

    @property
    def source(self) -> str:
        return f"chaos-{self.run_id}"

    def next(self) -> tuple[dict[str, str], bool]:
        if self.issued and self.rng.random() < DUPLICATE_SHARE:
            return dict(self.rng.choice(self.issued)), True
        fields = self._fresh(f"chaos-{self.run_id}-{len(self.issued):05d}")
        self.issued.append(fields)
        return fields, False

    def market_buy(self, trace_id: str) -> dict[str, str]:
        """A spot MARKET buy the gate approves (never repeated by :meth:`next`)."""
        symbol = self.rng.choice(sorted(self.prices))
        return {"trace_id": trace_id, "symbol": symbol, "side": "BUY", "confidence": "0.9", "order_type": "MARKET",
                "position_size_usd": str(self.rng.randrange(50, 500)), "source": self.source}

    def _fresh(self, trace_id: str) -> dict[str, str]:
        if self.rng.random() < self.futures_share:
            self.futures.add(trace_id)
            return self._futures(trace_id)
        symbol = self.rng.choice(sorted(self.prices))
        price = self.prices[symbol]
        base = {"trace_id": trace_id, "symbol": symbol, "side": "BUY", "confidence": f"{self.rng.uniform(0.6, 0.97):.2f}",
                "position_size_usd": str(self.rng.randrange(50, 500)), "source": self.source}
        roll = self.rng.random()
        if roll < 0.45:
            return {**base, "order_type": "MARKET"}
        if roll < 0.55:
            return {**base, "order_type": "MARKET", "confidence": f"{self.rng.uniform(0.05, 0.45):.2f}"}
        if roll < 0.72:
            return {**base, "order_type": "LIMIT", "price": _price(price * Decimal("0.85")), "ttl_seconds": str(self.rng.randrange(3, 12))}
        if roll < 0.85:
            return {**base, "order_type": "LIMIT", "price": _price(price * Decimal("1.03")), "ttl_seconds": "60"}
        self.cancel_targets.append(trace_id)
        return {**base, "order_type": "LIMIT", "price": _price(price * Decimal("0.80")), "ttl_seconds": "300"}

    def _futures(self, trace_id: str) -> dict[str, str]:
        """A USD-M entry with a stop-loss and a take-profit 2-4% either side of its entry price."""
        symbol = self.rng.choice(sorted(self.prices))
        side = self.futures_sides[symbol]
        away = Decimal(1) if side == "BUY" else Decimal(-1)  # the direction a profit lies in
        base = {"trace_id": trace_id, "symbol": symbol, "side": side, "market": "usdm", "confidence": f"{self.rng.uniform(0.6, 0.97):.2f}",
                "position_size_usd": str(self.rng.randrange(150, 600)), "leverage": str(self.rng.randrange(2, 6)), "source": self.source}
        roll = self.rng.random()
        entry = self.prices[symbol]
        if roll < 0.70:
            order = {"order_type": "MARKET"}
        elif roll < 0.85:  # rests below (above) the market and expires
            entry = entry * (1 - away * Decimal("0.15"))
            order = {"order_type": "LIMIT", "price": _price(entry), "ttl_seconds": str(self.rng.randrange(3, 12))}
        else:  # marketable
            entry = entry * (1 + away * Decimal("0.01"))
            order = {"order_type": "LIMIT", "price": _price(entry), "ttl_seconds": "60"}
        stop = entry * (1 - away * Decimal(str(round(self.rng.uniform(0.02, 0.04), 4))))
        take = entry * (1 + away * Decimal(str(round(self.rng.uniform(0.02, 0.04), 4))))
        return {**base, **order, "stop_loss": _price(stop), "take_profit": _price(take)}


def _price(value: Decimal) -> str:
    places = Decimal("0.01") if value >= 10 else Decimal("0.0001")
    return str(value.quantize(places, rounding=ROUND_DOWN))


# --- the run ----------------------------------------------------------------------------------


def failure_reasons(results: Iterable[ResultRow]) -> Counter[str]:
    """FAILED results grouped by their reason with its numbers and IDs elided."""
    return Counter(re.sub(r"\d+(\.\d+)?", "N", re.sub(r"chaos-\S+", "ID", r.reason))[:160] for r in results if r.state == IntentState.FAILED)


@dataclass(frozen=True)
class Ingredients:
    """The timing faults and the futures share of one run (0 turns one off)."""

    skew_seconds: float = 2.0
    exchange_clock_offset_ms: int = 2500
    execute_later_ms: int = 2500
    partitions: int | None = None
    partition_seconds: float = 8.0
    resets: int = 3
    futures_share: float = 0.20

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Ingredients:
        return cls(args.skew_seconds, args.exchange_clock_offset_ms, args.execute_later_ms, args.partitions,
                   args.partition_seconds, args.resets, args.futures_share)

    @property
    def first_skew(self) -> str | None:
        return f"+{self.skew_seconds:g}s" if self.skew_seconds else None


@dataclass
class Tally:
    published: int = 0  # from the mix, as --decisions asks
    reset_published: int = 0  # one MARKET buy per reset, on top
    duplicates: int = 0
    unique: set[str] = field(default_factory=set)
    cancels_sent: int = 0
    worker_kills: int = 0
    restarts: dict[str, int] = field(default_factory=dict)
    bursts_429: int = 0
    skew_restarts: int = 0
    clock_moves: int = 0
    execute_later_armed: int = 0
    execute_later_fired: int = 0
    partitions: int = 0
    resets: set[str] = field(default_factory=set)
    resets_in_flight: int = 0
    protections_closed: int = 0
    events: list[str] = field(default_factory=list)


class Chaos:
    def __init__(self, harness: Harness, *, decisions: int, rate: float, seed: int, worker_kills: int | None,
                 timeout: float, out: Any, ingredients: Ingredients | None = None) -> None:
        self.h = harness
        self.ingredients = ingredients or Ingredients()
        self.decisions = decisions
        self.window = max(decisions / max(rate, 0.1), MIN_WINDOW_SECONDS)
        self.seed = seed
        self.rng = random.Random(seed)
        self.worker_kills = worker_kills if worker_kills is not None else max(3, int(self.window / 15))
        self.timeout = timeout
        self.out = out
        self.run_id = secrets.token_hex(3)
        self.tally = Tally()
        self._restarting = asyncio.Lock()
        self._started = 0.0
        partitions = self.ingredients.partitions
        self.partitions = 0 if harness.partition is None else partitions if partitions is not None else max(1, int(self.window / 40))
        self.skewed = harness.pid_of(SKEWED_WORKER) is not None
        self.skew = self.ingredients.first_skew
        self.clock_offset_ms = 0
        self.mix: Mix | None = None
        self.failures: Counter[str] = Counter()

    def say(self, line: str) -> None:
        self.out.write(f"[{time.monotonic() - self._started:6.1f}s] {line}\n")
        self.out.flush()

    async def run(self) -> dict[str, Any]:
        self._started = time.monotonic()
        since_ms = int(time.time() * 1000) - 1000
        prices = {s: Decimal(p) for s, p in (await self.h.paper.prices()).items() if s in self.h.settings.allowed_symbols}
        mix = self.mix = Mix(self.run_id, self.rng, prices, futures_share=self.ingredients.futures_share)
        self.say(f"chaos run {mix.source}: {self.decisions} decisions over ~{self.window:.0f}s, seed {self.seed}, "
                 f"{self.worker_kills} worker kills, Temporal/Redis/exchange restarted once each")
        self.say(self.describe_ingredients())
        positions_before = position_amounts(await self.h.paper.state())
        await self.arm_faults()
        publishing = asyncio.create_task(self.publish(mix))
        cancelling = asyncio.create_task(self.cancel_targets(mix, publishing))
        driving = asyncio.create_task(self.drive())
        background = [asyncio.create_task(self.bursts_429(publishing))]
        if self.ingredients.execute_later_ms:
            background.append(asyncio.create_task(self.execute_later(publishing)))
        try:
            await asyncio.gather(publishing, driving)
            await cancelling
        finally:
            for task in (publishing, cancelling, driving, *background):
                task.cancel()
            await asyncio.gather(publishing, cancelling, driving, *background, return_exceptions=True)
        published_at = time.monotonic() - self._started
        self.say(f"published {self.tally.published} decisions ({self.tally.duplicates} repeats) and {self.tally.reset_published} to reset, "
                 f"{len(self.tally.unique)} unique; "
                 "waiting for every intent to end")
        ended = await self.wait_all_ended(mix.source)
        await self.h.paper.clear_faults()
        closed = await self.close_protections(mix.futures & self.tally.unique)
        reconciliation = await self.reconcile(mix.source, since_ms, positions_before)
        ended = ended and closed
        seconds = time.monotonic() - self._started
        self.out.write("\n" + reconciliation.table() + "\n\n")
        if self.failures:
            self.out.write("FAILED intents by reason (numbers elided):\n"
                           + "".join(f"  {n:>4}  {reason}\n" for reason, n in self.failures.most_common(8)))
        ok = ended and reconciliation.ok
        self.out.write(
            f"disruptions: worker SIGKILLs {self.tally.worker_kills}, restarts "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.tally.restarts.items()))
            + f", 429 bursts {self.tally.bursts_429}; cancel signals {self.tally.cancels_sent}\n"
            + "timing: " + self.timing_line() + "\n"
            f"CHAOS={'PASS' if ok else 'FAIL'}  ({self.tally.published} decisions, {len(self.tally.unique)} intents, "
            f"{seconds:.0f} s; publishing took {published_at:.0f} s)\n"
        )
        self.out.flush()
        return {
            "ok": ok,
            "run": mix.source,
            "seed": self.seed,
            "decisions_published": self.tally.published,
            "reset_decisions_published": self.tally.reset_published,
            "duplicates_published": self.tally.duplicates,
            "intents": len(self.tally.unique),
            "cancel_signals": self.tally.cancels_sent,
            "worker_kills": self.tally.worker_kills,
            "restarts": self.tally.restarts,
            "bursts_429": self.tally.bursts_429,
            "timing": {
                "skewed_worker_restarts": self.tally.skew_restarts,
                "exchange_clock_moves": self.tally.clock_moves,
                "execute_later_armed": self.tally.execute_later_armed,
                "execute_later_fired": self.tally.execute_later_fired,
                "partitions": self.tally.partitions,
                "resets": sorted(self.tally.resets),
                "resets_in_flight": self.tally.resets_in_flight,
                "futures_intents": len(mix.futures & self.tally.unique),
                "protections_closed": self.tally.protections_closed,
            },
            "failed_reasons": dict(self.failures),
            "all_ended": ended,
            "seconds": round(seconds, 1),
            "reconciliation": reconciliation.as_dict(),
            "events": self.tally.events,
        }

    # --- decisions ------------------------------------------------------------------------

    async def publish(self, mix: Mix) -> None:
        interval = self.window / self.decisions
        next_at = time.monotonic()
        prices_at = time.monotonic()
        while self.tally.published < self.decisions:
            if time.monotonic() - prices_at > 5:  # futures levels follow the market
                prices_at = time.monotonic()
                with contextlib.suppress(Exception):
                    fresh = await self.h.paper.prices()
                    mix.prices.update({s: Decimal(fresh[s]) for s in mix.prices if s in fresh})
            fields, repeated = mix.next()
            await self.h.redis_call(lambda redis, f=fields: redis.xadd(constants.DECISION_STREAM, f))
            self.tally.published += 1
            self.tally.duplicates += int(repeated)
            self.tally.unique.add(fields["trace_id"])
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def cancel_targets(self, mix: Mix, publishing: asyncio.Task[None]) -> None:
        """Send ``cancel_order`` to each resting LIMIT meant to be cancelled, 1-5 s after it appears."""
        done = 0
        pending: list[asyncio.Task[None]] = []
        while not publishing.done() or done < len(mix.cancel_targets):
            while done < len(mix.cancel_targets):
                pending.append(asyncio.create_task(self.cancel_one(mix.cancel_targets[done], self.rng.uniform(1, 5))))
                done += 1
            await asyncio.sleep(0.2)
        await asyncio.gather(*pending)

    async def cancel_one(self, trace_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                client = await self.h.client()
                await client.get_workflow_handle(trace_id).signal("cancel_order", CancelRequest(reason="chaos: operator cancel"))
                self.tally.cancels_sent += 1
                return
            except RPCError as error:
                if "completed" in str(error).lower():
                    return  # it ended before the signal: nothing to cancel
            await asyncio.sleep(1.0)

    # --- disruptions ----------------------------------------------------------------------

    async def arm_faults(self) -> None:
        await self.h.paper.arm("error_5xx", probability=0.10)
        await self.h.paper.arm("drop_response", path=ORDER_PATH, method="POST", probability=0.05)
        if self.clock_offset_ms:
            await self.h.paper.configure(clock_offset_ms=self.clock_offset_ms)  # the config lives in memory too

    def describe_ingredients(self) -> str:
        i = self.ingredients
        return ("timing: " + ", ".join([
            f"worker {SKEWED_WORKER} at {self.skew} (sign switched at each restart)" if self.skewed else "no skewed worker",
            f"exchange clock moved {i.exchange_clock_offset_ms} ms once" if i.exchange_clock_offset_ms else "exchange clock unmoved",
            f"execute_later {i.execute_later_ms} ms on one placement at a time, armed every 2-4 s" if i.execute_later_ms else "no execute_later",
            f"{self.partitions} partitions of {i.partition_seconds:g} s" if self.partitions else "no partition",
            f"{i.resets} resets mid-placement", f"{i.futures_share:.0%} futures"]))

    def timing_line(self) -> str:
        t = self.tally
        return (f"{SKEWED_WORKER} restarts {t.skew_restarts}, exchange clock moves {t.clock_moves}, "
                f"execute_later {t.execute_later_fired} of {t.execute_later_armed} armed fired, partitions {t.partitions}, "
                f"resets {len(t.resets)} ({t.resets_in_flight} with the request in flight), protections closed {t.protections_closed}")

    async def drive(self) -> None:
        """Worker kills at random moments; Temporal, Redis and the exchange once each; the timing faults."""
        plan: list[tuple[float, str]] = [(0.30 * self.window, "temporal"), (0.55 * self.window, "redis"), (0.75 * self.window, "exchange")]
        # One kill per slot, at a random moment of it, never closer than the supervisor allows.
        slot = max(1.0 * self.window / self.worker_kills, MIN_SECONDS_BETWEEN_WORKER_KILLS)
        kills = [0.05 * self.window + i * slot + self.rng.uniform(0, slot - MIN_SECONDS_BETWEEN_WORKER_KILLS)
                 for i in range(self.worker_kills)]
        plan += [(at, "worker") for at in kills]
        if self.skewed:  # the skewed worker restarts twice, its clock's sign switched each time
            plan += [(0.35 * self.window, "skew"), (0.70 * self.window, "skew")]
        if self.ingredients.exchange_clock_offset_ms:
            plan.append((0.40 * self.window, "clock"))
        plan += [((0.15 + 0.7 * (i + 0.5) / self.partitions) * self.window, "partition") for i in range(self.partitions)]
        plan += [((0.10 + 0.8 * (i + 0.3) / self.ingredients.resets) * self.window, "reset") for i in range(self.ingredients.resets)]
        for at, component in sorted(plan):
            await asyncio.sleep(max(0.0, at - (time.monotonic() - self._started)))
            if component == "skew":
                await self.switch_skew()
            elif component == "clock":
                await self.move_exchange_clock()
            elif component == "partition":
                await self.partition()
            elif component == "reset":
                try:
                    await self.reset_during_placement()
                except (RPCError, OSError) as error:
                    self.note(f"a reset mid-placement could not be done: {error}")
            else:
                await self.disrupt(component)

    async def disrupt(self, component: str) -> None:
        async with self._restarting:
            try:
                old, new = await self.h.restart(component)
            except Unavailable as error:
                self.say(f"{component}: {error}")
                raise
            if component == "worker":
                self.tally.worker_kills += 1
            else:
                self.tally.restarts[component] = self.tally.restarts.get(component, 0) + 1
            if component == "exchange":
                await self.arm_faults()  # faults live in the exchange's memory
            line = f"{component} pid {old} SIGKILLed, replacement pid {new} healthy"
            self.tally.events.append(f"{time.monotonic() - self._started:.1f}s {line}")
            self.say(line)

    def note(self, line: str) -> None:
        self.tally.events.append(f"{time.monotonic() - self._started:.1f}s {line}")
        self.say(line)

    async def switch_skew(self) -> None:
        """Restart the skewed worker with its clock moved the other way."""
        assert self.skew is not None and self.h.set_environment is not None
        self.skew = ("-" if self.skew.startswith("+") else "+") + self.skew[1:]
        self.h.set_environment(SKEWED_WORKER, {"FAKETIME": self.skew})
        async with self._restarting:
            old, new = await self.h.restart(SKEWED_WORKER)
            self.tally.skew_restarts += 1
            self.note(f"{SKEWED_WORKER} pid {old} SIGKILLed, replacement pid {new} healthy with its clock at {self.skew}")

    async def move_exchange_clock(self) -> None:
        self.clock_offset_ms = self.rng.choice((1, -1)) * self.ingredients.exchange_clock_offset_ms
        await self.h.paper.configure(clock_offset_ms=self.clock_offset_ms)
        self.tally.clock_moves += 1
        self.note(f"exchange clock moved to {self.clock_offset_ms:+d} ms")

    async def partition(self) -> None:
        """Cut the supervised worker off from Temporal (not from the exchange) for a while."""
        assert self.h.partition is not None
        async with self._restarting:
            self.h.partition.pause()
            self.note(f"worker cut off from Temporal for {self.ingredients.partition_seconds:g} s (the exchange stays reachable)")
            try:
                await asyncio.sleep(self.ingredients.partition_seconds)
            finally:
                self.h.partition.resume()
            self.tally.partitions += 1
            self.note("worker reaches Temporal again")

    async def execute_later(self, publishing: asyncio.Task[None]) -> None:
        """Every 2-4 s, one order placement (spot or futures) is accepted now and executed later."""
        armed: tuple[str, int] | None = None  # the fault's id, and the exchange's restarts when it was armed

        async def settled() -> bool:
            """Whether the armed fault is gone (counted as fired unless the exchange restarted meanwhile)."""
            nonlocal armed
            if armed is not None:
                if armed[0] in {f["id"] for f in await self.h.paper.faults()} and armed[1] == self.exchange_restarts():
                    return False
                self.tally.execute_later_fired += int(armed[1] == self.exchange_restarts())
                armed = None
            return True

        while not publishing.done():
            with contextlib.suppress(Exception):
                if await settled():  # one armed at a time
                    path = self.rng.choice((ORDER_PATH, ORDER_PATH, FUTURES_ORDER_PATH))
                    fault = await self.h.paper.arm("execute_later", path=path, method="POST", count=1,
                                                   delay_ms=self.ingredients.execute_later_ms, respond=self.rng.choice(("1007", "reset")))
                    armed = (fault["id"], self.exchange_restarts())
                    self.tally.execute_later_armed += 1
            await asyncio.sleep(self.rng.uniform(2, 4))
        with contextlib.suppress(Exception):
            await settled()

    def exchange_restarts(self) -> int:
        return self.tally.restarts.get("exchange", 0)

    async def reset_during_placement(self) -> None:
        """Publish a MARKET buy and reset its workflow to the first workflow task while its order is in flight."""
        assert self.mix is not None
        trace_id = f"{self.mix.source}-reset{len(self.tally.resets)}"
        # Every placement in the next few seconds is accepted now and executed later.
        await self.h.paper.arm("execute_later", path=ORDER_PATH, method="POST", duration_ms=4000,
                               delay_ms=self.ingredients.execute_later_ms or 2000)
        fields = self.mix.market_buy(trace_id)
        await self.h.redis_call(lambda redis: redis.xadd(constants.DECISION_STREAM, fields))
        self.tally.reset_published += 1
        self.tally.unique.add(trace_id)
        in_flight = await self.wait_placing(trace_id)
        if not in_flight and not await self.running(trace_id):
            self.note(f"{trace_id} ended before its placement was caught in flight; not reset")
            return
        settings = self.h.settings
        command = [temporal_binary(), "workflow", "reset", "--workflow-id", trace_id, "--type", "FirstWorkflowTask",
                   "--reason", "chaos: reset during placement", "--yes",
                   "--address", settings.temporal_address, "--namespace", settings.temporal_namespace]
        for _ in range(3):
            process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            output, _ = await process.communicate()
            if process.returncode == 0:
                self.tally.resets.add(trace_id)
                self.tally.resets_in_flight += int(in_flight)
                state = "with its order request in flight" if in_flight else "(its placement was not caught in flight)"
                self.note(f"{trace_id} reset to its first workflow task {state}")
                return
            await asyncio.sleep(1.0)
        self.note(f"{trace_id} could not be reset: {output.decode(errors='replace').strip()[-300:]}")

    async def running(self, workflow_id: str) -> bool:
        client = await self.h.client()
        described = await client.get_workflow_handle(workflow_id).describe()
        return described.status == WorkflowExecutionStatus.RUNNING

    async def wait_placing(self, trace_id: str) -> bool:
        """Wait until ``trace_id``'s placement activity has started (True), or give up (False)."""
        deadline = time.monotonic() + RESET_CATCH_SECONDS
        while time.monotonic() < deadline:
            with contextlib.suppress(RPCError):
                client = await self.h.client()
                described = await client.get_workflow_handle(trace_id).describe()
                if described.status is not None and described.status != WorkflowExecutionStatus.RUNNING:
                    return False
                pending = described.raw_description.pending_activities
                if any(a.activity_type.name == PLACE_ACTIVITY and (a.attempt > 1 or a.last_started_time.seconds) for a in pending):
                    return True
            await asyncio.sleep(0.05)
        return False

    async def bursts_429(self, publishing: asyncio.Task[None]) -> None:
        while not publishing.done():
            await asyncio.sleep(self.rng.uniform(5, 12))
            with contextlib.suppress(Exception):
                await self.h.paper.arm("rate_limit_429", count=self.rng.randrange(3, 10), retry_after=1)
                self.tally.bursts_429 += 1

    # --- the end ----------------------------------------------------------------------------

    async def wait_all_ended(self, source: str) -> bool:
        query = f'WorkflowType="{constants.WORKFLOW_NAME}" AND {constants.SA_SOURCE}="{source}"'
        deadline = time.monotonic() + self.timeout
        last_report = 0.0
        while time.monotonic() < deadline:
            with contextlib.suppress(RPCError):
                client = await self.h.client()
                # The run a reset replaced is TERMINATED: not an intent of its own.
                total = (await client.count_workflows(f'{query} AND ExecutionStatus!="Terminated"')).count
                running = (await client.count_workflows(f'{query} AND ExecutionStatus="Running"')).count
                if total >= len(self.tally.unique) and running == 0:
                    self.say(f"all {total} intents ended")
                    return True
                if time.monotonic() - last_report > 15:
                    self.say(f"{total} of {len(self.tally.unique)} intents started, {running} running")
                    last_report = time.monotonic()
            await asyncio.sleep(1.0)
        self.say(f"not every intent ended within {self.timeout:.0f}s")
        return False

    async def close_protections(self, futures: Iterable[str]) -> bool:
        """Signal ``close_position`` to every protection still open; wait until each has ended."""
        client = await self.h.client()
        open_ids: list[str] = []
        for trace_id in sorted(futures):
            workflow_id = protection_workflow_id(trace_id)
            try:
                if not await self.running(workflow_id):
                    continue
                await client.get_workflow_handle(workflow_id).signal("close_position", ClosePositionSignal(reason="chaos: end of run"))
            except RPCError as error:
                if error.status == RPCStatusCode.NOT_FOUND:
                    continue
                raise
            open_ids.append(workflow_id)
        self.tally.protections_closed = len(open_ids)
        if open_ids:
            self.say(f"closing {len(open_ids)} protected positions still open")
        deadline = time.monotonic() + min(CLOSE_TIMEOUT_SECONDS, self.timeout)
        while open_ids and time.monotonic() < deadline:
            still = []
            for workflow_id in open_ids:
                with contextlib.suppress(RPCError):
                    if not await self.running(workflow_id):
                        continue
                still.append(workflow_id)
            open_ids = still
            if open_ids:
                await asyncio.sleep(1.0)
        if open_ids:
            self.say(f"{len(open_ids)} protections did not end after close_position: {', '.join(open_ids[:5])}")
        return not open_ids

    async def reconcile(self, source: str, since_ms: int, positions_before: dict[str, Decimal]) -> Reconciliation:
        client = await self.h.client()
        workflows = await read_workflows(client, f'WorkflowType="{constants.WORKFLOW_NAME}" AND {constants.SA_SOURCE}="{source}"')
        results = await self.h.redis_call(lambda redis: read_results(redis, self.h.settings.result_stream, self.tally.unique))
        orders = order_rows(await self.h.paper.orders(), since_ms=since_ms)
        assert self.mix is not None
        protections: list[ProtectionRow] = await read_protections(client, sorted(self.mix.futures & self.tally.unique))
        positions_after = position_amounts(await self.h.paper.state())
        reconciliation = reconcile(self.tally.unique, workflows, results, orders, reset=self.tally.resets,
                                   protections=protections, positions=(positions_before, positions_after))
        self.failures = failure_reasons(results)
        t = self.tally
        reconciliation.counts = {
            "decisions published": t.published,
            "  of them repeats": t.duplicates,
            "reset decisions published": t.reset_published,
            "chaos: worker SIGKILLs": t.worker_kills,
            "chaos: skewed worker restarts": t.skew_restarts,
            "chaos: exchange clock moves": t.clock_moves,
            "chaos: execute_later armed": t.execute_later_armed,
            "chaos: execute_later fired": t.execute_later_fired,
            "chaos: partitions from Temporal": t.partitions,
            "chaos: resets mid-placement": len(t.resets),
            "chaos: protections closed at end": t.protections_closed,
            **reconciliation.counts,
        }
        return reconciliation
