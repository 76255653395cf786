"""What a proof run reports: each check's verdict and evidence, and the verdict line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The checks, in the order of the verdict line.
CHECKS = ("DEDUP", "TERMINAL", "RESTART", "IDEMPOTENT", "CANCEL", "BADINPUT", "INFLIGHT", "SKEW", "ATTENTION")


@dataclass
class CheckResult:
    name: str
    passed: bool
    evidence: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def word(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def render(self) -> str:
        lines = [f"{self.name}: {self.word}  ({self.seconds:.1f} s)"]
        lines += [f"  {line}" for line in self.evidence]
        return "\n".join(lines)


@dataclass
class Report:
    checks: dict[str, CheckResult]
    run: str
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks.values())

    def verdict(self) -> str:
        parts = [f"{name}={self.checks[name].word}" for name in CHECKS if name in self.checks]
        return " | ".join([*parts, f"OVERALL={'PASS' if self.ok else 'FAIL'}"])

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": "PASS" if self.ok else "FAIL",
            "verdict": self.verdict(),
            "run": self.run,
            "seconds": self.seconds,
            "checks": {
                name: {"result": check.word, "seconds": round(check.seconds, 1), "evidence": check.evidence}
                for name, check in self.checks.items()
            },
        }


class Evidence:
    """Collects evidence lines and the conditions a check requires."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.failures: list[str] = []

    def note(self, line: str) -> None:
        self.lines.append(line)

    def require(self, condition: bool, line: str) -> bool:
        self.lines.append(("ok    " if condition else "FAIL  ") + line)
        if not condition:
            self.failures.append(line)
        return condition

    @property
    def passed(self) -> bool:
        return not self.failures
