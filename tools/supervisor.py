"""Child processes for the local stack: start, health-check, restart, stop without orphans.

Each child runs in its own session (its own process group), so a Ctrl-C at the terminal
reaches only the supervisor, which then stops the children in order. Stopping signals the
whole group, waits, and kills what is left. On Linux a child also receives SIGTERM if the
supervisor itself dies abruptly (``PR_SET_PDEATHSIG``), so even ``kill -9`` of the
supervisor leaves nothing running.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
RESTART_LIMIT = 5
RESTART_WINDOW_SECONDS = 60.0


class ChildFailed(RuntimeError):
    """A child exited during start-up or kept crashing; carries the tail of its log."""


HealthCheck = Callable[["Child"], Awaitable[bool]]


@dataclass
class Child:
    """One supervised process with its log file and health check."""

    name: str
    argv: list[str]
    log_path: Path
    address: str
    health: HealthCheck
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    stop_timeout: float = 10.0
    start_timeout: float = 60.0
    popen: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)
    # Exits announced by whoever killed the child on purpose (the proof and chaos harness):
    # restarted without counting toward the crash-loop limit.
    announced_exits: int = 0
    # The pid the supervisor last saw healthy: until it equals ``pid``, a restart is still under way.
    healthy_pid: int | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log_file:
            self.popen = subprocess.Popen(  # noqa: S603 - argv built from our own paths
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
            )

    async def wait_healthy(self, stopping: asyncio.Event) -> None:
        """Poll the health check until it passes; raise if the child exits or time runs out."""
        deadline = time.monotonic() + self.start_timeout
        while not stopping.is_set():
            if not self.running():
                raise ChildFailed(f"{self.name} exited with code {self.exit_code()} during start-up; see {self.log_path}\n{self.log_tail()}")
            try:
                if await self.health(self):
                    self.healthy_pid = self.pid
                    return
            except Exception as error:  # noqa: BLE001 - not up yet; the deadline decides
                log.debug("health check failed component=%s error=%s", self.name, error)
            if time.monotonic() > deadline:
                raise ChildFailed(f"{self.name} not healthy after {self.start_timeout:.0f}s; see {self.log_path}\n{self.log_tail()}")
            await asyncio.sleep(0.2)

    def exit_code(self) -> int | None:
        return self.popen.poll() if self.popen is not None else None

    def may_restart(self) -> bool:
        """Record a crash; False once it crashed too often in the recent window. An announced
        exit (a deliberate kill) is not a crash."""
        if self.announced_exits > 0:
            self.announced_exits -= 1
            return True
        now = time.monotonic()
        self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW_SECONDS] + [now]
        return len(self.restarts) <= RESTART_LIMIT

    async def stop(self, hurry: asyncio.Event | None = None) -> None:
        """SIGTERM the group, wait up to ``stop_timeout`` (less if hurried), then SIGKILL it."""
        if self.popen is None:
            return
        pgid = self.popen.pid
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        while self.popen.poll() is None and time.monotonic() < deadline:
            if hurry is not None and hurry.is_set():
                break
            await asyncio.sleep(0.05)
        # Whatever is left in the group (the leader or anything it forked) is killed.
        _signal_group(pgid, signal.SIGKILL)
        if self.popen.poll() is None:
            await asyncio.to_thread(self.popen.wait)

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


# Resolved in the parent: nothing slow may run between fork and exec.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
