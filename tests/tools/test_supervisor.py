"""The supervisor's crash-loop guard: crashes count, announced (deliberate) kills do not."""

from __future__ import annotations

from pathlib import Path

from tools.supervisor import RESTART_LIMIT, Child


async def _never(child: Child) -> bool:
    return False


def _child(tmp_path: Path) -> Child:
    return Child(name="worker", argv=["true"], log_path=tmp_path / "worker.log", address="-", health=_never)


def test_a_child_crashing_more_than_the_limit_in_a_minute_is_given_up(tmp_path: Path) -> None:
    child = _child(tmp_path)
    assert all(child.may_restart() for _ in range(RESTART_LIMIT))
    assert not child.may_restart()


def test_announced_kills_never_reach_the_limit_and_crashes_still_do(tmp_path: Path) -> None:
    # The proof and the chaos run SIGKILL the worker many times a minute on purpose.
    child = _child(tmp_path)
    for _ in range(3 * RESTART_LIMIT):
        child.announced_exits += 1
        assert child.may_restart()
    assert all(child.may_restart() for _ in range(RESTART_LIMIT))
    assert not child.may_restart()
