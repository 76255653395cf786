"""``quantum-trader proof``: OVERALL=PASS on a fresh home, and each check seen to FAIL with
its protection removed (tests/support/sabotage.py holds the levers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from quantum_trader.settings import Settings
from tools.dev import DevStack
from tools.harness import Harness, fresh_stack
from tools.proof import CHECKS, CheckResult, Proof
from tools.supervisor import Child
from tests.support.processes import VENV_BIN

ROOT = Path(__file__).resolve().parents[2]
VERDICT = ("DEDUP=PASS | TERMINAL=PASS | RESTART=PASS | IDEMPOTENT=PASS | CANCEL=PASS | BADINPUT=PASS | "
           "INFLIGHT=PASS | SKEW=PASS | ATTENTION=PASS | OVERALL=PASS")


def _env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("QT_")}


@pytest.mark.timeout(600)
def test_proof_on_a_fresh_home_passes_every_check(tmp_path: Path) -> None:
    done = subprocess.run([str(VENV_BIN / "quantum-trader"), "proof", "--home", str(tmp_path / "home"), "--json"],
                          capture_output=True, text=True, timeout=580, env=_env(), cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    report = json.loads(done.stdout)
    assert report["verdict"] == VERDICT
    assert set(report["checks"]) == set(CHECKS)
    evidence = "\n".join(line for check in report["checks"].values() for line in check["evidence"])
    assert "DUPLICATE_SKIP logged 49 time(s)" in evidence
    assert "SIGKILLed while POST /api/v3/order" in evidence
    assert "SIGKILLed right after" in evidence and "clock skew" in evidence and "NEEDS_ATTENTION" in evidence


# --- each check with its protection removed -----------------------------------------------


class LeverStack(DevStack):
    """The dev stack, but the worker and ingress run through tests/support/sabotage.py,
    and Redis optionally without its append-only file."""

    lever_dir: Path
    redis_persistent = True

    def _plan(self) -> list[Child]:
        children = super()._plan()
        for child in children:
            if child.name in ("worker", "ingress"):
                child.argv = [sys.executable, "-m", "tests.support.sabotage", str(self.lever_dir / child.name), child.name]
                child.cwd = ROOT
            if child.name == "redis" and not self.redis_persistent:
                child.argv = [arg if arg != "yes" else "no" for arg in child.argv]
        return children


class Levers:
    def __init__(self, harness: Harness, folder: Path) -> None:
        self.harness = harness
        self.folder = folder
        self.current = {"worker": "", "ingress": ""}

    async def use(self, worker: str = "", ingress: str = "", *, restart: bool = True) -> None:
        """Apply the levers; a component restarts only when its lever changes (and ``restart``:
        a check that restarts the worker itself picks the lever up then; the supervisor gives
        up on a component restarted more than five times a minute)."""
        for component, lever in (("worker", worker), ("ingress", ingress)):
            if self.current[component] != lever:
                (self.folder / component).write_text(lever)
                if restart:
                    await self.harness.restart(component)
                self.current[component] = lever


def _settings() -> Settings:
    # Short deadlines so TERMINAL's bound (deadline + grace) is reached quickly.
    return Settings(_env_file=None, market_deadline_seconds=5, limit_deadline_margin_seconds=5)  # type: ignore[call-arg]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def levers(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Levers]:
    home = tmp_path_factory.mktemp("levers")

    class Stack(LeverStack):
        lever_dir = home

    async with fresh_stack(home / "stack", _settings(), out=sys.stderr, stack_class=Stack, order_events=False) as harness:
        yield Levers(harness, home)


async def _check(harness: Harness, name: str, **options: float) -> CheckResult:
    report = await Proof(harness, out=sys.stderr, **options).run([name])
    sys.stderr.write(report.verdict() + "\n")
    return report.checks[name]


def _failed_lines(result: CheckResult) -> str:
    return "\n".join(line for line in result.evidence if line.startswith("FAIL"))


@pytest.mark.slow  # a full stack each; `make test-slow` (run by CI)
async def test_dedup_fails_when_every_copy_starts_its_own_workflow(levers: Levers) -> None:
    await levers.use(ingress="no-dedup")
    result = await _check(levers.harness, "DEDUP", result_timeout=120)
    assert not result.passed, result.render()
    assert "2 copies -> 2 workflow(s)" in _failed_lines(result)


@pytest.mark.slow  # a full stack each; `make test-slow` (run by CI)
async def test_badinput_fails_when_invalid_events_are_dropped(levers: Levers) -> None:
    await levers.use(ingress="no-dead-letter")
    result = await _check(levers.harness, "BADINPUT")
    assert not result.passed, result.render()
    assert "no dead letter" in _failed_lines(result)


async def test_idempotent_fails_with_a_random_client_order_id(levers: Levers) -> None:
    await levers.use(worker="random-client-order-id")
    result = await _check(levers.harness, "IDEMPOTENT", result_timeout=120)
    assert not result.passed, result.render()
    failed = _failed_lines(result)
    assert "0 order(s) for" in failed
    assert "not from any intent's client order ID: rnd-" in failed


async def test_cancel_fails_when_the_exchange_order_is_not_cancelled(levers: Levers) -> None:
    await levers.use(worker="no-cancel")
    result = await _check(levers.harness, "CANCEL", result_timeout=120)
    assert not result.passed, result.render()
    assert "statuses NEW; open: 1" in _failed_lines(result)


@pytest.mark.slow  # a full stack each; `make test-slow` (run by CI)
async def test_terminal_fails_when_intents_have_no_deadline(levers: Levers) -> None:
    await levers.use(worker="no-deadline")
    result = await _check(levers.harness, "TERMINAL", result_timeout=120, terminal_grace=5)
    assert not result.passed, result.render()
    assert "not ended" in _failed_lines(result)
    client = await levers.harness.client()
    async for execution in client.list_workflows('ExecutionStatus="Running"'):
        await client.get_workflow_handle(execution.id).terminate(reason="test clean-up")


@pytest.mark.slow  # a full stack each; `make test-slow` (run by CI)
async def test_attention_fails_when_watch_errors_are_swallowed(levers: Levers) -> None:
    # The follow polls again at once: no NEEDS_ATTENTION, and its history races.
    await levers.use(worker="no-watch-backoff")
    result = await _check(levers.harness, "ATTENTION", result_timeout=120)
    assert not result.passed, result.render()
    failed = _failed_lines(result)
    assert "TradeState OPEN after" in failed
    assert "(bound 50 events)" in failed


@pytest.mark.slow  # a full stack each; `make test-slow` (run by CI)
async def test_inflight_fails_when_a_retry_trusts_a_stale_horizon(levers: Levers) -> None:
    # The retry after the kill looks before the held request executes, finds nothing and sends.
    await levers.use(worker="stale-horizon", restart=False)  # INFLIGHT restarts the worker
    result = await _check(levers.harness, "INFLIGHT", result_timeout=120)
    assert not result.passed, result.render()
    assert "the exchange holds 2 order(s)" in _failed_lines(result)


@pytest.mark.slow  # a full stack each; `make test-slow` (run by CI)
async def test_skew_fails_when_the_clock_check_is_removed(levers: Levers) -> None:
    # The worker 30 s slow sends: its send cutoff falls 30 s after Temporal's timeout.
    await levers.use(worker="no-clock-check", restart=False)  # SKEW restarts the worker
    result = await _check(levers.harness, "SKEW", result_timeout=120)
    assert not result.passed, result.render()
    assert "on the skewed worker: 1 order(s) sent" in _failed_lines(result)


@pytest.mark.slow  # a full stack each; `make test-slow` (run by CI)
async def test_restart_fails_when_redis_keeps_nothing_across_a_restart(tmp_path: Path) -> None:
    class Stack(LeverStack):
        lever_dir = tmp_path
        redis_persistent = False

    async with fresh_stack(tmp_path / "stack", _settings(), out=sys.stderr, stack_class=Stack, order_events=False) as harness:
        result = await _check(harness, "RESTART", result_timeout=60)
    assert not result.passed, result.render()
    assert "result entries=0" in _failed_lines(result) or "could not finish" in _failed_lines(result)
