"""The Promela models of the placement and follow protocol (model/placement.pml) and of the
futures protection saga (model/protection.pml): the shipped models have no counterexample,
every sabotaged variant has one, and their constants are the code's."""

from __future__ import annotations

import pytest

from tools.model import check, constants


def test_model_constants_are_what_the_generator_writes() -> None:
    """model/constants.pml comes from workflows/policies.py and the Settings (`make model` rewrites it)."""
    assert constants.TARGET.read_text(encoding="utf-8") == constants.render()


def test_model_constants_keep_the_tolerance_inside_the_send_margin() -> None:
    ticks = {c.name: c.ticks for c in constants.constants()}
    assert ticks["TOL"] < ticks["MARGIN"] < ticks["HBT"]
    assert ticks["H"] == ticks["RECV_WINDOW"] + ticks["GRACE"]


def _name(flags: dict[str, int]) -> str:
    return "-".join(f"{k}{v}" for k, v in flags.items())


# The searches that take more than a few seconds run in the slow tier (`make test-slow`).
SLOW_SABOTAGES = {"NO_RESET_WAIT"}


@pytest.mark.parametrize("flags", check.BOUNDS["default"], ids=_name)
def test_shipped_model_has_no_counterexample(flags: dict[str, int]) -> None:
    result = check.check(dict(flags))
    print(result.describe())
    assert not result.violated, result.describe()
    assert result.states > 0


@pytest.mark.slow  # minutes: `make test-slow` (run by CI)
@pytest.mark.parametrize("flags", check.BOUNDS["slow"], ids=_name)
def test_shipped_model_has_no_counterexample_at_the_larger_bound(flags: dict[str, int]) -> None:
    result = check.check(dict(flags), timeout=1800)
    print(result.describe())
    assert not result.violated, result.describe()


@pytest.mark.parametrize(
    "sabotage",
    [pytest.param(name, marks=[pytest.mark.slow] if name in SLOW_SABOTAGES else []) for name in check.SABOTAGES],
)
def test_sabotaged_model_gives_a_counterexample(sabotage: str) -> None:
    """With one protection removed the checker finds a run that breaks P1, P2 or P3, printed
    as steps named like the code."""
    result = check.sabotaged(sabotage)
    print(result.describe())
    assert result.violated, result.describe()
    assert any(step.startswith("PROPERTY P") for step in result.steps), result.describe()
    assert any("place_exactly_once" in step or "reconcile" in step for step in result.steps), result.describe()


@pytest.mark.slow  # tens of seconds: `make test-slow` (run by CI)
def test_a_slow_clock_that_starts_late_passes_the_clock_check_and_sends_after_its_timeout() -> None:
    """The finding against protocol v2: with worker clocks off by more than CLOCK_TOLERANCE, the
    check against the attempt's start cannot stop a slow clock whose attempt starts late."""
    result = check.sabotaged("SKEW_BEYOND_TOL")
    print(result.describe())
    assert result.violated, result.describe()
    assert any("record sending" in step for step in result.steps), result.describe()


def test_readable_step_names_times_in_seconds_and_states_by_name() -> None:
    assert check.readable("   @@48 attempt 2 place_exactly_once: record sending until=~80") == (
        "t=    24s attempt 2 place_exactly_once: record sending until=40s"
    )
    assert check.readable("@@3 intent ends 1") == "t=   1.5s intent ends FILLED"
    assert check.readable("@@PROPERTY P2 violated: an order executed after the intent ended 4") == (
        "PROPERTY P2 violated: an order executed after the intent ended FAILED"
    )
    assert check.readable("pan: wrote placement.pml.trail") is None


@pytest.mark.parametrize(
    "flags",
    [*check.PROTECTION_BOUNDS["default"], *(pytest.param(f, marks=pytest.mark.slow) for f in check.PROTECTION_BOUNDS["slow"])],
    ids=_name,
)
def test_protection_model_has_no_counterexample(flags: dict[str, int]) -> None:
    """P4 (model/protection.pml): a futures intent that ends with a filled quantity leaves a live
    protective order or a flattened position, and never two protective orders."""
    result = check.protection(flags)
    print(result.describe())
    assert not result.violated, result.describe()
    assert result.states > 0


def test_protection_without_the_flatten_gives_a_counterexample() -> None:
    """_compensate ending the intent without close_position leaves the fill open and unprotected."""
    result = check.sabotaged("NO_FLATTEN")
    print(result.describe())
    assert result.violated, result.describe()
    assert "intent ends FAILED" in result.steps, result.describe()
    assert result.steps[-1].startswith("PROPERTY P4 violated"), result.describe()


def test_protection_without_the_wait_after_an_unknown_outcome_places_two_protective_orders() -> None:
    result = check.sabotaged("NO_PROTECT_WAIT")
    print(result.describe())
    assert result.violated, result.describe()
    assert any("send -> unknown outcome" in step for step in result.steps), result.describe()
    assert result.steps[-1].startswith("PROPERTY P1 violated"), result.describe()
