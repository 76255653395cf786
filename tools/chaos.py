"""``quantum-trader chaos``: many decisions while the stack is broken, then a reconciliation.

N decisions (default 1,000; a fifth of them exact repeats of earlier ones) go through the
Redis stream: MARKET buys, low-confidence ones the risk gate rejects, LIMITs that rest and
expire, marketable LIMITs, and resting LIMITs cancelled with the ``cancel_order`` signal.
Meanwhile a driver SIGKILLs the worker at random moments (the supervisor starts a
replacement), SIGKILLs the Temporal dev server, Redis and the paper exchange once each
(each restarts on its own files), and keeps exchange faults armed: 5xx on 10% of requests,
lost responses on 5% of order placements, and bursts of 429.

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
import secrets
import sys
import time
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from temporalio.service import RPCError

from quantum_trader import constants, logs
from quantum_trader.models import CancelRequest
from tools.audit import Reconciliation, order_rows, read_results, read_workflows, reconcile
from quantum_trader.settings import Settings
from tools.harness import Harness, Unavailable, add_stack_arguments, stack_from_args

ORDER_PATH = "/api/v3/order"
DUPLICATE_SHARE = 0.20
MIN_WINDOW_SECONDS = 30.0
# The supervisor gives up on a child that crashes more than 5 times a minute.
MIN_SECONDS_BETWEEN_WORKER_KILLS = 13.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_stack_arguments(parser)
    parser.add_argument("--decisions", type=int, default=1000, help="decisions to publish, repeats included (default 1000)")
    parser.add_argument("--rate", type=float, default=10.0, help="decisions per second (default 10)")
    parser.add_argument("--worker-kills", type=int, default=None, help="worker SIGKILLs (default: one per ~15 s of publishing, at least 3)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the decision mix and the driver (default random)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for every intent to end (default 900)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON (stdout carries only that)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.decisions < 1:
        from quantum_trader.cli import CommandError

        raise CommandError("--decisions must be at least 1")
    logs.configure(settings.model_copy(update={"log_level": "WARNING"}), "chaos")
    return asyncio.run(_main(args, settings))


async def _main(args: argparse.Namespace, settings: Settings) -> int:
    out = sys.stderr if args.json else sys.stdout
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    async with stack_from_args(args, settings, out=sys.stderr) as harness:
        chaos = Chaos(harness, decisions=args.decisions, rate=args.rate, seed=seed, worker_kills=args.worker_kills,
                      timeout=args.timeout, out=out)
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
    issued: list[dict[str, str]] = field(default_factory=list)
    cancel_targets: list[str] = field(default_factory=list)

    @property
    def source(self) -> str:
        return f"chaos-{self.run_id}"

    def next(self) -> tuple[dict[str, str], bool]:
        if self.issued and self.rng.random() < DUPLICATE_SHARE:
            return dict(self.rng.choice(self.issued)), True
        fields = self._fresh(f"chaos-{self.run_id}-{len(self.issued):05d}")
        self.issued.append(fields)
        return fields, False

    def _fresh(self, trace_id: str) -> dict[str, str]:
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


def _price(value: Decimal) -> str:
    places = Decimal("0.01") if value >= 10 else Decimal("0.0001")
    return str(value.quantize(places, rounding=ROUND_DOWN))


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Tally:
    published: int = 0
    duplicates: int = 0
    unique: set[str] = field(default_factory=set)
    cancels_sent: int = 0
    worker_kills: int = 0
    restarts: dict[str, int] = field(default_factory=dict)
    bursts_429: int = 0
    events: list[str] = field(default_factory=list)


class Chaos:
    def __init__(self, harness: Harness, *, decisions: int, rate: float, seed: int, worker_kills: int | None,
                 timeout: float, out: Any) -> None:
        self.h = harness
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

    def say(self, line: str) -> None:
        self.out.write(f"[{time.monotonic() - self._started:6.1f}s] {line}\n")
        self.out.flush()

    async def run(self) -> dict[str, Any]:
        self._started = time.monotonic()
        since_ms = int(time.time() * 1000) - 1000
        prices = {s: Decimal(p) for s, p in (await self.h.paper.prices()).items() if s in self.h.settings.allowed_symbols}
        mix = Mix(self.run_id, self.rng, prices)
        self.say(f"chaos run {mix.source}: {self.decisions} decisions over ~{self.window:.0f}s, seed {self.seed}, "
                 f"{self.worker_kills} worker kills, Temporal/Redis/exchange restarted once each")
        await self.arm_faults()
        publishing = asyncio.create_task(self.publish(mix))
        cancelling = asyncio.create_task(self.cancel_targets(mix, publishing))
        driving = asyncio.create_task(self.drive())
        bursting = asyncio.create_task(self.bursts_429(publishing))
        try:
            await asyncio.gather(publishing, driving)
            await cancelling
        finally:
            for task in (publishing, cancelling, driving, bursting):
                task.cancel()
            await asyncio.gather(publishing, cancelling, driving, bursting, return_exceptions=True)
        published_at = time.monotonic() - self._started
        self.say(f"published {self.tally.published} decisions ({self.tally.duplicates} repeats, {len(self.tally.unique)} unique); "
                 "waiting for every intent to end")
        ended = await self.wait_all_ended(mix.source)
        await self.h.paper.clear_faults()
        reconciliation = await self.reconcile(mix.source, since_ms)
        seconds = time.monotonic() - self._started
        self.out.write("\n" + reconciliation.table() + "\n\n")
        ok = ended and reconciliation.ok
        self.out.write(
            f"disruptions: worker SIGKILLs {self.tally.worker_kills}, restarts "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.tally.restarts.items()))
            + f", 429 bursts {self.tally.bursts_429}; cancel signals {self.tally.cancels_sent}\n"
            f"CHAOS={'PASS' if ok else 'FAIL'}  ({self.tally.published} decisions, {len(self.tally.unique)} intents, "
            f"{seconds:.0f} s; publishing took {published_at:.0f} s)\n"
        )
        self.out.flush()
        return {
            "ok": ok,
            "run": mix.source,
            "seed": self.seed,
            "decisions_published": self.tally.published,
            "duplicates_published": self.tally.duplicates,
            "intents": len(self.tally.unique),
            "cancel_signals": self.tally.cancels_sent,
            "worker_kills": self.tally.worker_kills,
            "restarts": self.tally.restarts,
            "bursts_429": self.tally.bursts_429,
            "all_ended": ended,
            "seconds": round(seconds, 1),
            "reconciliation": reconciliation.as_dict(),
            "events": self.tally.events,
        }

    # --- decisions ------------------------------------------------------------------------

    async def publish(self, mix: Mix) -> None:
        interval = self.window / self.decisions
        next_at = time.monotonic()
        while self.tally.published < self.decisions:
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

    async def drive(self) -> None:
        """Worker kills at random moments; Temporal, Redis and the exchange once each."""
        plan: list[tuple[float, str]] = [(0.30 * self.window, "temporal"), (0.55 * self.window, "redis"), (0.75 * self.window, "exchange")]
        # One kill per slot, at a random moment of it, never closer than the supervisor allows.
        slot = max(1.0 * self.window / self.worker_kills, MIN_SECONDS_BETWEEN_WORKER_KILLS)
        kills = [0.05 * self.window + i * slot + self.rng.uniform(0, slot - MIN_SECONDS_BETWEEN_WORKER_KILLS)
                 for i in range(self.worker_kills)]
        plan += [(at, "worker") for at in kills]
        for at, component in sorted(plan):
            await asyncio.sleep(max(0.0, at - (time.monotonic() - self._started)))
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
                total = (await client.count_workflows(query)).count
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

    async def reconcile(self, source: str, since_ms: int) -> Reconciliation:
        client = await self.h.client()
        workflows = await read_workflows(client, f'WorkflowType="{constants.WORKFLOW_NAME}" AND {constants.SA_SOURCE}="{source}"')
        results = await self.h.redis_call(lambda redis: read_results(redis, self.h.settings.result_stream, self.tally.unique))
        orders = order_rows(await self.h.paper.orders(), since_ms=since_ms)
        reconciliation = reconcile(self.tally.unique, workflows, results, orders)
        reconciliation.counts = {
            "decisions published": self.tally.published,
            "  of them repeats": self.tally.duplicates,
            **reconciliation.counts,
        }
        return reconciliation
