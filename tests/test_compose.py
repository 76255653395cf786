"""The production ``docker-compose.yml``, checked for structure (no Docker engine here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from quantum_trader.settings import Settings

yaml = pytest.importorskip("yaml", reason="PyYAML is part of the test extras: pip install -e '.[test]'")

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"
APP_SERVICES = ("worker", "ingress")
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """``depends_on`` in either form, as target -> condition."""
    value = service.get("depends_on") or {}
    if isinstance(value, list):
        return {name: "service_started" for name in value}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in value.items()}


def environment(service: dict[str, Any]) -> dict[str, str]:
    value = service.get("environment") or {}
    if isinstance(value, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in value)
    return {name: "" if v is None else str(v) for name, v in value.items()}


def published_ports(service: dict[str, Any]) -> list[int]:
    ports = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            if entry.get("published") is not None:
                ports.append(int(entry["published"]))
            continue
        parts = str(entry).split("/")[0].split(":")
        if len(parts) >= 2:
            ports.append(int(parts[-2]))
    return ports


def test_compose_has_the_production_services(services: dict[str, dict[str, Any]]) -> None:
    images = {name: str(service.get("image", "")) for name, service in services.items()}
    assert any(image.startswith("postgres") for image in images.values())
    assert any(image.startswith("temporalio/admin-tools") for image in images.values())
    assert any(image.startswith("temporalio/server") for image in images.values())
    assert any(image.startswith("temporalio/ui") for image in images.values())
    assert any(image.startswith("redis") for image in images.values())
    assert not any("auto-setup" in image for image in images.values()), "temporalio/auto-setup is deprecated"
    for name in APP_SERVICES:
        assert "build" in services[name], f"{name} must be built from the project's Dockerfile"


def test_compose_every_service_has_an_image_or_a_build(services: dict[str, dict[str, Any]]) -> None:
    assert [name for name, service in services.items() if "image" not in service and "build" not in service] == []


def test_compose_build_context_has_a_dockerfile(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        build = services[name]["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (COMPOSE.parent / context / dockerfile).is_file(), name


def test_compose_dependencies_exist_and_their_conditions_can_be_met(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            assert target in services, f"{name} depends on missing service {target}"
            assert condition in CONDITIONS, f"{name} -> {target}: unknown condition {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target} to be healthy but it has no healthcheck"
            if condition == "service_completed_successfully":
                assert services[target].get("restart", "no") == "no", f"{target} is a one-shot job and must not restart"


def test_compose_app_environment_names_are_real_settings(services: dict[str, dict[str, Any]]) -> None:
    fields = set(Settings.model_fields)
    for name in APP_SERVICES:
        env = environment(services[name])
        assert env, f"{name} has no environment"
        unknown = [key for key in env if not key.startswith("QT_") or key[3:].lower() not in fields]
        assert unknown == [], f"{name}: not settings: {unknown}"


def test_compose_interpolated_app_variables_are_settings_too(services: dict[str, dict[str, Any]]) -> None:
    fields = set(Settings.model_fields)
    for name in APP_SERVICES:
        for value in environment(services[name]).values():
            for variable in re.findall(r"\$\{([A-Z0-9_]+)", value):
                assert variable.startswith("QT_") and variable[3:].lower() in fields, f"{name}: ${{{variable}}}"


def test_compose_published_ports_do_not_collide(services: dict[str, dict[str, Any]]) -> None:
    owners: dict[int, str] = {}
    for name, service in services.items():
        for port in published_ports(service):
            assert port not in owners, f"port {port} published by both {owners[port]} and {name}"
            owners[port] = name


def test_compose_worker_scales(services: dict[str, dict[str, Any]]) -> None:
    """``--scale worker=N`` needs no fixed container name and no published port."""
    for name in APP_SERVICES:
        assert "container_name" not in services[name]
        assert published_ports(services[name]) == []


def test_compose_redis_keeps_an_append_only_file(services: dict[str, dict[str, Any]]) -> None:
    redis = next(service for service in services.values() if str(service.get("image", "")).startswith("redis"))
    command = " ".join(redis.get("command") or []) if isinstance(redis.get("command"), list) else str(redis.get("command", ""))
    assert "--appendonly yes" in command
    assert redis.get("volumes"), "the AOF must live on a volume"


def test_compose_namespace_job_sets_retention(services: dict[str, dict[str, Any]]) -> None:
    jobs = [s for s in services.values() if "namespace" in " ".join(map(str, s.get("command") or []))]
    assert any("--retention" in " ".join(map(str, job["command"])) for job in jobs)


def test_compose_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes") or []:
            source = str(volume).split(":")[0] if not isinstance(volume, dict) else str(volume.get("source", ""))
            if source and not source.startswith((".", "/", "~")):
                assert source in declared, f"{name} uses undeclared volume {source}"
