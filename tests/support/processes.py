"""Real processes for tests: free ports, start-and-wait, clean shutdown."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quantum_trader import logs
from tests.support.eventually import eventually_sync

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stable_port() -> int:
    """A free port below the ephemeral range, for a process that binds it again later (a stack
    restarted on the same ports). A port from :func:`free_port` is in that range, which
    outgoing connections take their local ports from: by the restart a client's connection
    may hold it, and the listener fails with "address already in use"."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(500):
        port = random.randint(max(1024, low - 12_000), low - 1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port below {low}")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _as_text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass
class Proc:
    """A child process with its log file; ``stop()`` is idempotent."""

    name: str
    args: Sequence[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None

    def start(self, wait_port: int | None = None, timeout: float = 60.0) -> Proc:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        env = {**os.environ, **self.env}
        self.popen = subprocess.Popen(
            list(self.args), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        if wait_port is not None:
            def ready() -> bool:
                assert self.popen is not None
                if self.popen.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}")
                return port_open(wait_port)

            eventually_sync(ready, timeout=timeout, what=f"{self.name} on port {wait_port}")
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash would."""
        if self.alive():
            assert self.popen is not None
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        if not self.alive():
            return
        assert self.popen is not None
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_entries(self, msg: str | None = None, **fields: str) -> list[dict[str, Any]]:
        """The entries of its log (either format), those with ``msg`` and ``fields`` if given
        (compared as text: ``eager="true"``)."""
        return [e for e in logs.entries(self.log_text())
                if (msg is None or e["msg"] == msg) and all(_as_text(e.get(k)) == v for k, v in fields.items())]
