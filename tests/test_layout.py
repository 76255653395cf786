"""The layout's promises, checked on the source: where states are spelled, what imports what.

- Exchange and intent statuses are spelled only in the state module, the Binance adapter
  (the one place that reads Binance's JSON) and the paper exchange (which plays Binance).
- ``workers/`` holds only production processes; the domain package imports no process,
  tool or benchmark; the exactly-once discipline imports no exchange implementation.
"""

from __future__ import annotations

import ast
from pathlib import Path

from quantum_trader.states import AlgoStatus, IntentState, OrderStatus, ProtectionState

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("quantum_trader", "workflows", "activities", "workers", "tools", "bench")
# Where a status may be spelled as a string.
SPELLERS = {"quantum_trader/states.py", "activities/exchange/binance.py", "activities/exchange/parse.py"}
STATUSES = {s.value for enum in (OrderStatus, AlgoStatus, IntentState, ProtectionState) for s in enum}
PRODUCTION_PROCESSES = {"__init__.py", "worker.py", "ingress.py", "codec_server.py", "exchange_events.py"}


def sources(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_statuses_are_spelled_only_in_the_state_module_and_the_exchange_adapter() -> None:
    found = []
    for path in sources(*PACKAGES):
        if relative(path) in SPELLERS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in STATUSES:
                found.append(f"{relative(path)}:{node.lineno} {node.value!r}")
    assert found == []


def test_workers_holds_only_production_processes() -> None:
    assert {p.name for p in (ROOT / "workers").glob("*.py")} == PRODUCTION_PROCESSES


def test_production_code_imports_no_tool_benchmark_or_paper_exchange() -> None:
    offenders = [
        f"{relative(path)} imports {name}"
        for path in sources("quantum_trader", "workflows", "activities", "workers")
        for name in imported_modules(path)
        if name.partition(".")[0] in {"tools", "bench", "paper_exchange", "tests"}
    ]
    assert offenders == []


def test_the_domain_package_imports_no_process_or_activity() -> None:
    offenders = [
        f"{relative(path)} imports {name}"
        for path in sources("quantum_trader")
        for name in imported_modules(path)
        if name.partition(".")[0] in {"workers", "activities", "workflows"}
    ]
    assert offenders == []
