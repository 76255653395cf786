"""Check the model: spin writes the verifier, the C compiler builds it, the verifier searches.

    python -m tools.model.check                      # the shipped model at the default bound
    python -m tools.model.check --bound slow         # the larger bound (slow tier)
    python -m tools.model.check --sabotage NO_LOOKUP # a variant with a protection removed

Exit 0 when no property is violated. On a counterexample the trail is replayed
(``spin -t -k``) and printed as steps named like the code, times in seconds, and the exit
status is 1.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from quantum_trader.states import IntentState as S
from quantum_trader.states import OrderStatus
from tools.model import constants

MODEL_DIR = constants.ROOT / "model"
MODEL = MODEL_DIR / "placement.pml"
# The futures protection saga after the entry's follow (P4); small: its searches take a second.
PROTECTION_MODEL = MODEL_DIR / "protection.pml"
PROTECTION_BOUNDS: dict[str, list[dict[str, int]]] = {
    "default": [{"MAXFAULTS": 1}],
    "slow": [{"MAXFAULTS": 3}],
}
PROTECTION_SABOTAGES: dict[str, dict[str, int]] = {
    "NO_FLATTEN": {"MAXFAULTS": 0},
    "NO_PROTECT_WAIT": {"MAXFAULTS": 0},
}
# Each bound: how many attempts, worker faults and workflow resets the search covers.
# Runs of one bound are checked one after the other; every run must find no violation.
BOUNDS: dict[str, list[dict[str, int]]] = {
    "default": [
        {"MAXATT": 3, "MAXFAULTS": 1, "MAXRESETS": 0},
    ],
    "slow": [
        {"MAXATT": 3, "MAXFAULTS": 0, "MAXRESETS": 1},
        {"MAXATT": 3, "MAXFAULTS": 2, "MAXRESETS": 0},
        # 1 reset with 1 fault: over 48 million states, past 2.5 GB even with hash compaction.
    ],
}
# Protections the sabotage variants remove (model/placement.pml says what each flag does),
# each with the smallest bound its counterexample needs (the search stops at the first one).
SABOTAGES: dict[str, dict[str, int]] = {
    "NO_UNKNOWN_WAIT": {"MAXATT": 3, "MAXFAULTS": 0, "MAXRESETS": 0},
    "STALE_HORIZON": {"MAXATT": 3, "MAXFAULTS": 0, "MAXRESETS": 0},
    "NO_LOOKUP": {"MAXATT": 3, "MAXFAULTS": 0, "MAXRESETS": 0},
    "SETTLE_TRUSTS": {"MAXATT": 3, "MAXFAULTS": 0, "MAXRESETS": 0},
    "NO_CUTOFF": {"MAXATT": 3, "MAXFAULTS": 2, "MAXRESETS": 0},
    "NO_RESET_WAIT": {"MAXATT": 3, "MAXFAULTS": 0, "MAXRESETS": 1},
}
# Found against protocol v2: a slow worker clock passes the clock check when its attempt starts
# late (docs/model.md, "Finding"); the shipped model assumes every clock is within TOL.
FINDINGS: dict[str, dict[str, int]] = {
    "SKEW_BEYOND_TOL": {"MAXATT": 3, "MAXFAULTS": 2, "MAXRESETS": 0},
}
MEMORY_MB = 2500
DEPTH = 400_000

# The model's numbers for the intent's end (E_*) and the order's state (O_*).
END_STATES = {str(n): state.value for n, state in enumerate((S.FILLED, S.CANCELLED, S.EXPIRED, S.FAILED, S.REJECTED), 1)}
ORDER_STATES = {"0": "none", "1": f"{OrderStatus.NEW.value} (resting)", "2": OrderStatus.FILLED.value, "3": OrderStatus.CANCELED.value}
CAUSES = {"0": "placement failed", "1": "cancel", "2": "deadline"}


class ToolMissing(RuntimeError):
    """spin or a C compiler is not installed."""


@dataclass
class Result:
    flags: dict[str, int | bool]
    violated: bool
    states: int
    seconds: float
    steps: list[str] = field(default_factory=list)
    output: str = ""

    def describe(self) -> str:
        head = " ".join(f"-D{k}" if v is True else f"-D{k}={v}" for k, v in self.flags.items())
        verdict = "COUNTEREXAMPLE" if self.violated else "no violation"
        lines = [f"model {head}: {verdict} ({self.states} states, {self.seconds:.1f} s)"]
        lines += [f"  {step}" for step in self.steps]
        return "\n".join(lines)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolMissing(f"{name} is not installed (Debian: apt-get install -y spin gcc)")
    return path


def _defines(flags: dict[str, int | bool]) -> list[str]:
    return [f"-D{k}" if v is True else f"-D{k}={v}" for k, v in flags.items()]


def _seconds(ticks: str) -> str:
    return f"{int(ticks) * constants.UNIT_MS / 1000:g}s"


def readable(line: str) -> str | None:
    """One step of a replayed trail, times in seconds; ``None`` for a line that is no step."""
    line = line.strip()
    if not line.startswith("@@"):
        return None
    line = line[2:]
    line = re.sub(r"intent ends (\d)", lambda m: f"intent ends {END_STATES[m.group(1)]}", line)
    line = re.sub(r"ended (\d)", lambda m: f"ended {END_STATES[m.group(1)]}", line)
    line = re.sub(r": order (\d)$", lambda m: f": order {ORDER_STATES[m.group(1)]}", line)
    line = re.sub(r"\(cause (\d)\)", lambda m: f"({CAUSES[m.group(1)]})", line)
    line = re.sub(r"~(-?\d+)", lambda m: _seconds(m.group(1)), line)
    match = re.match(r"(\d+) (.*)", line)
    if match:
        return f"t={_seconds(match.group(1)):>7} {match.group(2)}"
    return line


def check(flags: dict[str, int | bool], timeout: float = 600, optimize: str = "-O1", model: Path = MODEL) -> Result:
    """Verify the model with these -D flags; replay and translate a counterexample.

    ``optimize`` is the C compiler's level: ``-O0`` builds in a second and suits a search that
    stops early (a sabotaged variant); ``-O1`` builds in several and searches faster.
    """
    spin, cc = _tool("spin"), _tool("gcc")
    defines = _defines(flags)
    with tempfile.TemporaryDirectory(prefix="qt-model-") as work:
        here = Path(work)
        for source in MODEL_DIR.glob("*.pml"):
            shutil.copy(source, here / source.name)
        subprocess.run([spin, *defines, "-a", model.name], cwd=here, check=True, capture_output=True, text=True)
        subprocess.run([cc, optimize, "-DSAFETY", "-DCOLLAPSE", f"-DMEMLIM={MEMORY_MB}", "-o", "pan", "pan.c"],
                       cwd=here, check=True, capture_output=True, text=True)
        run = subprocess.run(["./pan", f"-m{DEPTH}"], cwd=here, capture_output=True, text=True, timeout=timeout)
        output = run.stdout + run.stderr
        stored = re.search(r"(\d+) states, stored", output)
        elapsed = re.search(r"elapsed time ([\d.e+]+) seconds", output)
        errors = re.search(r"errors: (\d+)", output)
        if errors is None:
            raise RuntimeError(f"the verifier did not finish:\n{output}")
        result = Result(flags, int(errors.group(1)) > 0, int(stored.group(1)) if stored else 0,
                        float(elapsed.group(1)) if elapsed else 0.0, output=output)
        if not result.violated and ("Search not completed" in output or "MEMLIM" in output or "max search depth too small" in output):
            raise RuntimeError(f"the search did not complete (depth or memory bound):\n{output}")
        trail = here / f"{model.name}.trail"
        if result.violated and trail.exists():
            replay = subprocess.run([spin, *defines, "-t", "-k", trail.name, model.name],
                                    cwd=here, capture_output=True, text=True, timeout=timeout)
            steps = [s for s in map(readable, replay.stdout.splitlines()) if s is not None]
            # The replay finishes the atomic step that failed: stop at the violated property.
            ends = [n for n, step in enumerate(steps) if step.startswith("PROPERTY")]
            result.steps = steps[: ends[0] + 1] if ends else steps
        return result


def shipped(bound: str = "default") -> list[Result]:
    return [check(dict(flags)) for flags in BOUNDS[bound]] + [protection(flags) for flags in PROTECTION_BOUNDS[bound]]


def protection(flags: dict[str, int | bool]) -> Result:
    """Check the protection saga's model (P1 for the protective order, P4)."""
    return check(dict(flags), optimize="-O0", model=PROTECTION_MODEL)


def sabotaged(name: str) -> Result:
    if name in PROTECTION_SABOTAGES:
        return protection({name: True, **PROTECTION_SABOTAGES[name]})
    bound = SABOTAGES.get(name) or FINDINGS[name]
    # A search that needs a reset runs long enough for the faster build to pay.
    return check({name: True, **bound}, optimize="-O1" if bound["MAXRESETS"] else "-O0")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bound", choices=sorted(BOUNDS), default="default")
    parser.add_argument("--sabotage", choices=sorted([*SABOTAGES, *PROTECTION_SABOTAGES, *FINDINGS]), help="check a variant with this protection removed")
    args = parser.parse_args(argv)
    if constants.main(["--check"]) != 0:
        return 1
    results = [sabotaged(args.sabotage)] if args.sabotage else shipped(args.bound)
    for result in results:
        print(result.describe())
    return 1 if any(r.violated for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
