"""The production image as a user gets it: only what the Dockerfile copies, ``pip install .``.

The tests install ``.[test]`` from the whole checkout, so a runtime import that only a test
extra provides, or a command that needs a tool left out of the image, would pass them and
break the image. This test builds the image's install in a fresh virtualenv instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from quantum_trader.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION_PACKAGES = {"quantum_trader", "workflows", "activities", "workers"}


def dockerfile_copies() -> list[str]:
    """The sources of the Dockerfile's ``COPY`` lines."""
    sources: list[str] = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words and words[0] == "COPY":
            sources.extend(words[1:-1])
    return sources


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    app = tmp_path_factory.mktemp("app")
    for source in dockerfile_copies():
        path = ROOT / source
        if path.is_dir():
            shutil.copytree(path, app / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, app / source)
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(app)], check=True, timeout=600)
    return venv


def test_the_image_copies_no_tool_or_test_code() -> None:
    copied = {Path(source).parts[0] for source in dockerfile_copies()}
    assert copied - {"pyproject.toml", "README.md"} == PRODUCTION_PACKAGES


def test_the_image_installs_only_production_packages(image_venv: Path) -> None:
    site = next((image_venv / "lib").glob("python3*/site-packages"))
    ours = {p.name for p in site.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert ours & {"tools", "bench", "paper_exchange", "tests"} == set()
    assert PRODUCTION_PACKAGES <= ours


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_answers_help_or_says_in_one_line_what_it_needs(image_venv: Path, command: str) -> None:
    done = subprocess.run(
        [str(image_venv / "bin" / "quantum-trader"), command, "--help"], capture_output=True, text=True, timeout=60
    )
    if done.returncode == 0:
        assert done.stdout.startswith("usage: quantum-trader"), done.stdout
        assert done.stderr == ""
        return
    assert done.returncode == 2, done
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"quantum-trader {command}: not part of this install"), lines[0]


def test_worker_against_a_closed_port_fails_in_one_line(image_venv: Path, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("QT_")}
    env.update(QT_TEMPORAL_ADDRESS=address, QT_BINANCE_API_KEY="key", QT_BINANCE_API_SECRET="secret", QT_STARTUP_TIMEOUT_SECONDS="0")
    done = subprocess.run(
        [str(image_venv / "bin" / "quantum-trader"), "worker"], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path
    )
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1] == f"quantum-trader worker: Temporal unreachable at {address} after 0s: Connection refused"
