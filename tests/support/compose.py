"""Reading ``docker-compose.yml`` as Compose would: services, interpolation, environment,
published ports and health checks, so tests can check it and run its commands here."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, ${NAME:+alt}, ${NAME+alt}, $NAME, $$
_VARIABLE = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


class Unset(Exception):
    """A ``${NAME:?error}`` variable has no value: Compose refuses to start."""


def load() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """``value`` with its variables replaced from ``env`` (the shell and ``.env``), as Compose does."""

    def replace(match: re.Match[str]) -> str:
        dollar, name, operator, argument, bare = match.groups()
        if dollar:
            return "$"
        if bare:
            return env.get(bare, "")
        current = env.get(name)
        is_set, non_empty = current is not None, bool(current)
        if operator in (":-", "-"):
            return current if (non_empty if operator == ":-" else is_set) else argument  # type: ignore[return-value]
        if operator in (":?", "?"):
            if not (non_empty if operator == ":?" else is_set):
                raise Unset(f"{name}: {argument}")
            return current  # type: ignore[return-value]
        if operator in (":+", "+"):
            return argument if (non_empty if operator == ":+" else is_set) else ""
        return current or ""

    return _VARIABLE.sub(replace, value)


def variables(value: str) -> list[str]:
    """The names of the variables ``value`` interpolates."""
    return [m.group(2) or m.group(5) for m in _VARIABLE.finditer(value) if not m.group(1)]


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    """The service's ``environment`` as written: ``None`` for a name without a value (passed
    through from the shell or ``.env`` if set there, else left unset in the container)."""
    value = service.get("environment") or {}
    if isinstance(value, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in value)
    return {name: None if v is None else str(v) for name, v in value.items()}


def resolved_environment(service: dict[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """The container's environment: interpolated, pass-through names taken from ``env`` or dropped."""
    resolved = {}
    for name, value in environment(service).items():
        if value is None:
            if name in env:
                resolved[name] = env[name]
        else:
            resolved[name] = interpolate(value, env)
    return resolved


def command(service: dict[str, Any], env: Mapping[str, str]) -> list[str]:
    value = service.get("command") or []
    parts = shlex.split(value) if isinstance(value, str) else [str(part) for part in value]
    return [interpolate(part, env) for part in parts]


def healthcheck(service: dict[str, Any], env: Mapping[str, str]) -> list[str]:
    """The health check as an argv: ``CMD`` form as is, ``CMD-SHELL`` through ``sh -c``."""
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        return ["sh", "-c", interpolate(test, env)]
    kind, *rest = test
    rest = [interpolate(str(part), env) for part in rest]
    if kind == "CMD-SHELL":
        return ["sh", "-c", " ".join(rest)]
    assert kind == "CMD", f"unknown healthcheck form {kind}"
    return rest


def published_ports(service: dict[str, Any], env: Mapping[str, str]) -> list[tuple[str, int, int]]:
    """``(host address, host port, container port)`` of every published port; the address
    is ``0.0.0.0`` (every interface) when the entry names none."""
    ports = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            if entry.get("published") is not None:
                ports.append((interpolate(str(entry.get("host_ip", "0.0.0.0")), env),
                              int(interpolate(str(entry["published"]), env)), int(entry["target"])))
            continue
        parts = interpolate(str(entry), env).split("/")[0].split(":")
        if len(parts) == 3:
            ports.append((parts[0], int(parts[1]), int(parts[2])))
        elif len(parts) == 2:
            ports.append(("0.0.0.0", int(parts[0]), int(parts[1])))
    return ports


def long_running(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Services that stay up (not one-shot jobs with ``restart: "no"``)."""
    return {name: s for name, s in services.items() if str(s.get("restart", "")) != "no"}


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    """``(path in the repository, path in the container)`` of every ``./`` bind mount."""
    mounts = []
    for volume in service.get("volumes") or []:
        source, target = (volume.get("source", ""), volume.get("target", "")) if isinstance(volume, dict) else str(volume).split(":")[:2]
        if source.startswith("./"):
            mounts.append((ROOT / source, target))
    return mounts
