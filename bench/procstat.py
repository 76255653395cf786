"""CPU time and peak memory of process trees, read from ``/proc`` (Linux only).

A component may be a wrapper that forks the real server, so each one is measured as its
whole process tree. CPU is ``utime + stime`` (``/proc/<pid>/stat``); peak memory is
``VmHWM`` (``/proc/<pid>/status``), which :func:`reset_peak` rewinds to the current RSS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children = _children_map()
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of ``pid``'s tree so far (0 for a process gone)."""
    total = 0
    for member in tree(pid):
        fields = _stat_fields(member)
        if fields is not None:
            # After the name: state(0) ppid(1) ... utime(11) stime(12).
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_mb(pid: int) -> float:
    """The largest ``VmHWM`` in ``pid``'s tree, in MiB."""
    return max((_status_kb(member, "VmHWM") for member in tree(pid)), default=0) / 1024


def reset_peak(pid: int) -> None:
    """Rewind ``VmHWM`` of ``pid``'s tree to the current RSS (``clear_refs`` value 5)."""
    for member in tree(pid):
        try:
            (_PROC / str(member) / "clear_refs").write_text("5")
        except OSError:
            pass


@dataclass(frozen=True)
class Machine:
    cpus: int
    cpu_model: str
    memory_gib: float

    @classmethod
    def read(cls) -> Machine:
        model = ""
        try:
            for line in (_PROC / "cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        memory = _meminfo_kb("MemTotal") / 1024 / 1024
        return cls(cpus=os.cpu_count() or 0, cpu_model=model, memory_gib=round(memory, 1))


def _meminfo_kb(key: str) -> int:
    try:
        for line in (_PROC / "meminfo").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def loadavg() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


def rss_mb(pid: int) -> float:
    """The resident memory (``VmRSS``) of ``pid``'s tree now, in MiB."""
    return sum(_status_kb(member, "VmRSS") for member in tree(pid)) / 1024
