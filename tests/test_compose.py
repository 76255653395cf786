"""The production ``docker-compose.yml``, checked against what the code expects (no Docker
engine here; tests/test_compose_run.py runs its commands against a local stack)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from quantum_trader.cli import COMMANDS, build_parser
from quantum_trader.settings import Settings
from tests.support import compose as c

yaml = pytest.importorskip("yaml", reason="PyYAML is part of the test extras: pip install -e '.[test]'")

APP_SERVICES = ("worker", "ingress", "exchange-events", "codec-server")
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
SETTINGS = {f"QT_{name.upper()}" for name in Settings.model_fields}
# What an operator reaches on this machine; everything else stays inside the compose network.
PUBLISHED = {"temporal", "temporal-ui", "redis", "codec-server", "grafana"}
PROMETHEUS = c.ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA = c.ROOT / "deploy" / "grafana"
# What `docker compose up` refuses to start without (.env).
REQUIRED = {"QT_BINANCE_API_KEY": "key", "QT_BINANCE_API_SECRET": "secret"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return c.load()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def prometheus() -> dict[str, Any]:
    return yaml.safe_load(PROMETHEUS.read_text())


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """``depends_on`` in either form, as target -> condition."""
    value = service.get("depends_on") or {}
    if isinstance(value, list):
        return {name: "service_started" for name in value}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in value.items()}


def env(service: dict[str, Any]) -> dict[str, str]:
    """The service's environment with only the required ``.env`` entries: defaults applied,
    pass-through names dropped."""
    return c.resolved_environment(service, REQUIRED)


def in_repository(service: dict[str, Any], container_path: str) -> Path:
    """The repository file or folder a bind mount shows at ``container_path``."""
    for source, target in c.bind_mounts(service):
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return source / container_path[len(target):].lstrip("/")
    raise AssertionError(f"{container_path} is not mounted from the repository")


def scrape_jobs(prometheus: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in prometheus["scrape_configs"]}


def test_compose_has_the_production_services(services: dict[str, dict[str, Any]]) -> None:
    images = {name: str(service.get("image", "")) for name, service in services.items()}
    for prefix in ("postgres", "temporalio/admin-tools", "temporalio/server", "temporalio/ui", "redis",
                   "prom/prometheus", "grafana/grafana"):
        assert any(image.startswith(prefix) for image in images.values()), prefix
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
        assert (c.COMPOSE.parent / context / dockerfile).is_file(), name


def test_compose_app_commands_are_quantum_trader_subcommands_with_real_flags(services: dict[str, dict[str, Any]]) -> None:
    """The image's entry point is ``quantum-trader``: each command is a subcommand and its flags parse."""
    for name, service in services.items():
        if "build" not in service:
            continue
        argv = c.command(service, {})
        assert argv and argv[0] in COMMANDS, f"{name}: {argv}"
        build_parser(argv[0]).parse_args(argv)  # an unknown flag exits here


def test_compose_dependencies_exist_and_their_conditions_can_be_met(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            assert target in services, f"{name} depends on missing service {target}"
            assert condition in CONDITIONS, f"{name} -> {target}: unknown condition {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target} to be healthy but it has no healthcheck"
            if condition == "service_completed_successfully":
                assert services[target].get("restart", "no") == "no", f"{target} is a one-shot job and must not restart"
            assert set(services[target].get("profiles", [])) <= set(service.get("profiles", [])), \
                f"{name} depends on {target}, which only runs in a profile"


def test_compose_every_qt_variable_is_a_setting() -> None:
    """Environment names and interpolated variables alike: a QT_* name is a setting (or its _FILE variant)."""
    named = set(re.findall(r"\bQT_[A-Z0-9_]*[A-Z0-9]\b", c.COMPOSE.read_text()))
    assert named and sorted(named - SETTINGS) == []


def test_compose_app_environment_names_are_real_settings(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        names = c.environment(services[name])
        assert names, f"{name} has no environment"
        assert [key for key in names if key not in SETTINGS] == [], name
        for value in names.values():
            for variable in c.variables(value or ""):
                assert variable in SETTINGS, f"{name}: ${{{variable}}} is not a setting"


def test_compose_app_environment_is_valid_settings(services: dict[str, dict[str, Any]]) -> None:
    """With the required secrets given, each app service's environment builds a Settings."""
    for name in APP_SERVICES:
        values = {key[3:].lower(): value for key, value in env(services[name]).items()}
        Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_compose_publishes_only_operator_ports_and_only_on_localhost_by_default(services: dict[str, dict[str, Any]]) -> None:
    published = {name for name, service in services.items() if c.published_ports(service, {})}
    assert published == PUBLISHED
    for name in published:
        for address, _, _ in c.published_ports(services[name], {}):
            assert address == "127.0.0.1", f"{name} is published on {address} by default"


def test_compose_published_ports_do_not_collide(services: dict[str, dict[str, Any]]) -> None:
    owners: dict[int, str] = {}
    for name, service in services.items():
        for _, port, _ in c.published_ports(service, {}):
            assert port not in owners, f"port {port} published by both {owners[port]} and {name}"
            owners[port] = name


def test_compose_every_long_running_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    running = c.long_running(services)
    assert {"postgresql", "temporal", "temporal-ui", "redis", "worker", "ingress", "exchange-events", "codec-server",
            "prometheus", "grafana"} <= set(running)
    assert [name for name, service in running.items() if not service.get("healthcheck", {}).get("test")] == []


def test_compose_app_healthchecks_use_python_on_the_metrics_or_codec_port(services: dict[str, dict[str, Any]]) -> None:
    """The image is python:3.11-slim (no curl): the checks are python one-liners on the service's own port."""
    ports = {"worker": env(services["worker"])["QT_WORKER_METRICS_PORT"],
             "ingress": env(services["ingress"])["QT_INGRESS_METRICS_PORT"],
             "exchange-events": env(services["exchange-events"])["QT_EXCHANGE_EVENTS_METRICS_PORT"],
             "codec-server": c.command(services["codec-server"], {})[c.command(services["codec-server"], {}).index("--port") + 1]}
    for name, port in ports.items():
        argv = c.healthcheck(services[name], {})
        assert argv[0] == "python", name
        assert f"127.0.0.1:{port}/" in " ".join(argv), name


def test_compose_worker_scales(services: dict[str, dict[str, Any]]) -> None:
    """``--scale worker=N`` needs no fixed container name and no published port."""
    for name in ("worker", "ingress", "exchange-events"):
        assert "container_name" not in services[name]
        assert c.published_ports(services[name], {}) == []


def test_compose_metrics_endpoints_listen_inside_the_network(services: dict[str, dict[str, Any]]) -> None:
    assert env(services["worker"])["QT_WORKER_METRICS_HOST"] == "0.0.0.0"
    assert env(services["ingress"])["QT_INGRESS_METRICS_HOST"] == "0.0.0.0"
    assert env(services["exchange-events"])["QT_EXCHANGE_EVENTS_METRICS_HOST"] == "0.0.0.0"
    assert env(services["temporal"])["PROMETHEUS_ENDPOINT"].startswith("0.0.0.0:")


def test_prometheus_scrapes_every_worker_replica_ingress_and_temporal_on_their_metrics_ports(
    services: dict[str, dict[str, Any]], prometheus: dict[str, Any]
) -> None:
    jobs = scrape_jobs(prometheus)
    for job, service, port_name in (("worker", "worker", "QT_WORKER_METRICS_PORT"), ("ingress", "ingress", "QT_INGRESS_METRICS_PORT"),
                                    ("exchange-events", "exchange-events", "QT_EXCHANGE_EVENTS_METRICS_PORT")):
        (sd,) = jobs[job]["dns_sd_configs"]  # one target per replica: `--scale worker=3` finds three
        assert sd["names"] == [service] and sd.get("type", "A") == "A"
        assert sd["port"] == int(env(services[service])[port_name]), job
    temporal_port = env(services["temporal"])["PROMETHEUS_ENDPOINT"].rsplit(":", 1)[1]
    assert jobs["temporal"]["static_configs"][0]["targets"] == [f"temporal:{temporal_port}"]


def test_prometheus_and_grafana_mount_their_files_from_the_repository(services: dict[str, dict[str, Any]], prometheus: dict[str, Any]) -> None:
    for name in ("prometheus", "grafana"):
        mounts = c.bind_mounts(services[name])
        assert mounts, name
        assert [str(source) for source, _ in mounts if not source.exists()] == []
    config = next(a for a in c.command(services["prometheus"], {}) if a.startswith("--config.file=")).split("=", 1)[1]
    assert in_repository(services["prometheus"], config) == PROMETHEUS
    assert prometheus["rule_files"]
    for rule_file in prometheus["rule_files"]:  # relative to the configuration file
        assert (PROMETHEUS.parent / rule_file).is_file(), rule_file


def test_prometheus_rules_parse() -> None:
    for path in PROMETHEUS.parent.glob("*.rules.yml"):
        groups = yaml.safe_load(path.read_text())["groups"]
        assert all(rule["expr"] for group in groups for rule in group["rules"]), path


def test_grafana_provisioning_files_parse_and_point_at_prometheus_and_the_dashboard(services: dict[str, dict[str, Any]]) -> None:
    (datasource,) = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "quantum-trader.yml").read_text())["providers"]
    dashboards_dir = in_repository(services["grafana"], provider["options"]["path"])
    dashboard = json.loads((dashboards_dir / "quantum-trader.json").read_text())
    panels = dashboard["panels"]
    assert panels
    for panel in panels:
        if panel.get("type") == "row":
            continue
        assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]


def test_compose_codec_keys_reach_worker_ingress_and_codec_server_and_the_ui_uses_it(services: dict[str, dict[str, Any]]) -> None:
    for name in ("worker", "ingress", "codec-server"):  # the services that read Temporal payloads
        names = c.environment(services[name])
        assert "QT_CODEC_KEYS" in names and "QT_CODEC_KEY_ID" in names, name
        # unset unless given: an empty QT_CODEC_KEYS would be a malformed key set
        assert names["QT_CODEC_KEYS"] is None and names["QT_CODEC_KEY_ID"] is None, name
    assert "codec" in services["codec-server"].get("profiles", []), "the codec server needs keys: it runs in the codec profile"
    argv = c.command(services["codec-server"], {})
    port = int(argv[argv.index("--port") + 1])
    ((_, host_port, container_port),) = c.published_ports(services["codec-server"], {})
    assert container_port == port
    ((_, ui_port, _),) = c.published_ports(services["temporal-ui"], {})
    origins = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--ui-origin"]
    assert f"http://localhost:{ui_port}" in origins and f"http://127.0.0.1:{ui_port}" in origins
    ui = c.environment(services["temporal-ui"])
    assert "TEMPORAL_CODEC_ENDPOINT" in ui  # the browser calls it: http://localhost:<codec port>
    assert f"localhost:{host_port}" in (c.COMPOSE.parent / ".env.example").read_text()


def test_compose_redis_keeps_an_append_only_file(services: dict[str, dict[str, Any]]) -> None:
    redis = next(service for service in services.values() if str(service.get("image", "")).startswith("redis"))
    assert "--appendonly yes" in " ".join(c.command(redis, {}))
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
