"""Runs the proof's checks against a stack and reports them (``quantum-trader proof``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any

from quantum_trader import logs
from quantum_trader.settings import Settings
from tools.harness import add_stack_arguments, stack_from_args
from tools.proof import attention, badinput, cancel, dedup, idempotent, inflight, restart, skew, terminal
from tools.proof.context import ProofContext
from tools.proof.report import CHECKS, CheckResult, Evidence, Report

Check = Callable[[ProofContext, Evidence], Awaitable[None]]
# TERMINAL is not here: it plants its intents before the others run and is judged last.
BODIES: dict[str, Check] = {
    "DEDUP": dedup.check,
    "RESTART": restart.check,
    "IDEMPOTENT": idempotent.check,
    "CANCEL": cancel.check,
    "BADINPUT": badinput.check,
    "INFLIGHT": inflight.check,
    "SKEW": skew.check,
    "ATTENTION": attention.check,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_stack_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON (stdout carries only that)")
    parser.add_argument("--check", action="append", choices=CHECKS, metavar="NAME",
                        help=f"run only this check (repeatable; one of {', '.join(CHECKS)})")


def run(args: argparse.Namespace, settings: Settings) -> int:
    logs.configure(settings.model_copy(update={"log_level": "WARNING"}), "proof")
    out = sys.stderr if args.json else sys.stdout
    return asyncio.run(_main(args, settings, out))


async def _main(args: argparse.Namespace, settings: Settings, out: Any) -> int:
    started = time.monotonic()
    # Without the exchange events listener: the checks prove the polling follow, the
    # reconciler every order falls back to (ATTENTION needs its lookups refused).
    async with stack_from_args(args, settings, out=sys.stderr, order_events=False) as harness:
        proof = Proof(harness, out=None if args.json else out)
        report = await proof.run(args.check or list(CHECKS))
    report.seconds = round(time.monotonic() - started, 1)
    if args.json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        out.write(f"\n{report.verdict()}\n(proof took {report.seconds:.0f} s)\n")
    sys.stdout.flush()
    return 0 if report.ok else 1


class Proof(ProofContext):
    """Runs the named checks, one after the other, on one stack."""

    async def run(self, names: Iterable[str]) -> Report:
        wanted = [name for name in CHECKS if name in set(names)]
        results: dict[str, CheckResult] = {}
        await self._prepare()
        planted: dict[str, dict[str, str]] = {}
        if "TERMINAL" in wanted:
            # Its own intents go first, so the expiring LIMIT runs while the others do.
            planted = await terminal.plant(self)
        for name in wanted:
            if name != "TERMINAL":
                results[name] = await self._run_check(name, BODIES[name])
        if "TERMINAL" in wanted:
            results["TERMINAL"] = await self._run_check("TERMINAL", functools.partial(terminal.check, planted=planted))
        return Report({name: results[name] for name in CHECKS if name in results}, run=f"proof-{self.run_id}")

    async def _run_check(self, name: str, body: Check) -> CheckResult:
        evidence = Evidence()
        started = time.monotonic()
        try:
            await body(self, evidence)
        except Exception as error:  # noqa: BLE001 - a check that cannot finish has failed
            evidence.require(False, f"check could not finish: {type(error).__name__}: {error}")
        finally:
            with contextlib.suppress(Exception):
                await self.h.paper.clear_faults()
        result = CheckResult(name, evidence.passed, evidence.lines, time.monotonic() - started)
        if self.out is not None:
            self.out.write(result.render() + "\n\n")
            self.out.flush()
        return result

    async def _prepare(self) -> None:
        await self.h.paper.clear_faults()
        self._prices = {symbol: Decimal(price) for symbol, price in (await self.h.paper.prices()).items()}
        if self.out is not None:
            self.out.write(f"proof run proof-{self.run_id} against {self.settings.temporal_address} "
                           f"(Redis {self.settings.redis_url}, exchange {self.h.exchange_url})\n\n")
