"""The compose file's production services, run here as Compose would run them.

The exact ``command`` and ``environment`` of the worker, ingress and codec-server services,
interpolated from an operator's ``.env`` (exchange keys, codec keys), against the session's
stack: its Temporal dev server stands in for ``temporal``, its redis-server for ``redis``, the
paper exchange for Binance. Only what Compose resolves is substituted: service host names, the
container ports (free ports here, since every process shares this host), ``0.0.0.0``
(loopback here) and ``python`` (this interpreter). Then each service's own health check
passes, one decision on the stream ends FILLED, the codec server decrypts its history, and
every metric the Grafana dashboard and the alert rules query is exported.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from google.protobuf import json_format
from redis.asyncio import Redis
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client

from quantum_trader import constants
from quantum_trader.codec import new_key
from quantum_trader.connections import redis_client
from tests.conftest import Stack, trace_id
from tests.support import compose as c
from tests.support.eventually import eventually, eventually_sync
from tests.support.ingress import bus, group, private_redis_url, publish
from tests.support.processes import Proc, free_port
from tests.support.stack import TEST_API_KEY, TEST_API_SECRET

SERVICES = ("worker", "ingress", "codec-server")
# Container ports the compose file gives these services, each mapped to a free port here.
CONTAINER_PORTS = (9464, 9465, 8888)
DASHBOARD = c.ROOT / "deploy" / "grafana" / "dashboards" / "quantum-trader.json"
RULES = c.ROOT / "deploy" / "prometheus" / "alerts.rules.yml"
# Exported by the Temporal server (PROMETHEUS_ENDPOINT) or made by Prometheus, not by our processes.
FROM_THE_SERVER = {"service_requests", "service_errors", "service_latency_bucket", "up"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}


@dataclass
class Running:
    procs: dict[str, Proc]
    ports: dict[int, int]  # container port -> port here
    redis_url: str
    localize: Any

    def port(self, container_port: int) -> int:
        return self.ports[container_port]


def _localizer(stack: Stack, redis_url: str, ports: dict[int, int]):  # noqa: ANN202
    def localize(text: str) -> str:
        text = text.replace("redis://redis:6379/0", redis_url).replace("temporal:7233", stack.temporal_address)
        text = text.replace("0.0.0.0", "127.0.0.1")
        return re.sub(r"\b(9464|9465|8888)\b", lambda m: str(ports[int(m.group(1))]), text)

    return localize


def _healthy(argv: list[str]) -> bool:
    argv = [sys.executable if argv[0] == "python" else argv[0], *argv[1:]]
    return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0


@pytest.fixture(scope="module")
def running(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    home = tmp_path_factory.mktemp("compose")
    services = c.load()["services"]
    dotenv = {  # what the operator's .env holds
        "QT_BINANCE_API_KEY": TEST_API_KEY,
        "QT_BINANCE_API_SECRET": TEST_API_SECRET,
        "QT_EXCHANGE_URL": stack.exchange_url,
        "QT_TASK_QUEUE": f"compose-{trace_id('q')}",
        "QT_CODEC_KEYS": json.dumps({"k1": new_key()}),
        "QT_CODEC_KEY_ID": "k1",
    }
    ports = {port: free_port() for port in CONTAINER_PORTS}
    redis_url = private_redis_url(stack.redis_url)
    localize = _localizer(stack, redis_url, ports)
    procs: dict[str, Proc] = {}
    try:
        for name in SERVICES:
            env = {key: localize(value) for key, value in c.resolved_environment(services[name], dotenv).items()}
            argv = [localize(arg) for arg in c.command(services[name], dotenv)]
            procs[name] = Proc(name, [str(Path(sys.executable).parent / "quantum-trader"), *argv], home / f"{name}.log", env=env).start()
        for name in SERVICES:
            check = [localize(arg) for arg in c.healthcheck(services[name], dotenv)]

            def healthy(name: str = name, check: list[str] = check) -> bool:
                assert procs[name].alive(), f"{name} exited:\n{procs[name].log_tail()}"
                return _healthy(check)

            eventually_sync(healthy, timeout=60, interval=0.5, what=f"{name}'s compose health check")
        yield Running(procs, ports, redis_url, localize)
    finally:
        for proc in procs.values():
            proc.stop()


async def _result(redis: Redis, trace: str) -> dict[str, str]:
    for _, fields in await redis.xrange(constants.RESULT_STREAM):
        decoded = {k.decode(): v.decode() for k, v in fields.items()}
        if decoded.get("trace_id") == trace:
            return decoded
    raise AssertionError(f"no result for {trace} yet")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def filled(running: Running, client: Client) -> str:
    """One decision through the stream, ended FILLED; returns its trace_id."""
    redis = redis_client(running.redis_url)
    try:
        await eventually(lambda: group(redis), timeout=30, what="the ingress's consumer group")
        trace = trace_id("compose")
        await publish(redis, bus(trace))
        result = await eventually(lambda: _result(redis, trace), timeout=60, what=f"{trace}'s result")
    finally:
        await redis.aclose()
    assert result["state"] == "FILLED", result
    return trace


async def test_compose_services_run_healthy_and_a_decision_on_the_stream_ends_filled(filled: str) -> None:
    assert filled


async def test_compose_codec_server_decrypts_what_the_ingress_encrypted(running: Running, client: Client, filled: str) -> None:
    """The session's client has no codec: it sees the started event's input encrypted."""
    handle = client.get_workflow_handle(filled)
    started = await anext(aiter(handle.fetch_history_events()))
    payloads = started.workflow_execution_started_event_attributes.input
    assert payloads.payloads[0].metadata["encoding"] == b"binary/encrypted"
    request = urllib.request.Request(
        f"http://127.0.0.1:{running.port(8888)}/decode", data=json_format.MessageToJson(payloads).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        decoded = json.loads(response.read())
    assert filled.encode() in json_format.ParseDict(decoded, Payloads()).payloads[0].data


def _metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    expr = re.sub(r'"[^"]*"', "", expr)  # label values
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)  # matchers, ranges
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*(?!\s*\()\b", expr))
    functions = set(re.findall(r"([a-zA-Z_]+)\s*\(", expr))
    return {name for name in names - functions - PROMQL_WORDS if not re.fullmatch(r"[0-9.e]+", name)}


def _queried() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    exprs += [rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    return set().union(*map(_metric_names, exprs))


def _exported(port: int) -> tuple[set[str], dict[str, str]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {re.split(r"[{ ]", line, maxsplit=1)[0] for line in text.splitlines() if line and not line.startswith("#")}
    types = {parts[2]: parts[3] for line in text.splitlines() if (parts := line.split()) and line.startswith("# TYPE")}
    return samples, types


def _is_exported(name: str, samples: set[str], types: dict[str, str]) -> bool:
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and types.get(name.removesuffix(suffix)) == "histogram":
            return True
    return name in samples


def test_metric_names_parse_from_promql() -> None:
    assert _metric_names('histogram_quantile(0.95, sum by (le, x) (rate(a_bucket{s="f"}[$__rate_interval])))') == {"a_bucket"}
    assert _metric_names("max(b) + max(c) > 1000") == {"b", "c"}


async def test_every_metric_the_dashboard_and_alerts_query_is_exported(running: Running, filled: str) -> None:
    queried = _queried()
    assert {"quantum_intents_terminal", "quantum_exchange_used_weight_1m", "quantum_ingress_group_lag"} <= queried
    sources = [_exported(running.port(9464)), _exported(running.port(9465))]

    def missing() -> list[str]:
        nonlocal sources
        sources = [_exported(running.port(9464)), _exported(running.port(9465))]
        return sorted(n for n in queried - FROM_THE_SERVER if not any(_is_exported(n, *source) for source in sources))

    # The SDK exports on its own schedule: poll until every name appears, then say which did not.
    try:
        await eventually(lambda: not missing(), timeout=15, what="every queried metric")
    except AssertionError:
        still = missing()
        assert still == [], f"queried but not exported: {still}"
