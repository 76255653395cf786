"""Optional tracing (QT_OTEL_ENDPOINT): off by default; when on, one intent is one trace, its
root span keyed by trace_id. A real worker and client on the session stack, the project's own
wiring, with only the OTLP exporter swapped for an in-memory one."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis.asyncio import Redis
from temporalio.client import Client

from quantum_trader import tracing
from quantum_trader.models import IntentResult, TradeDecision
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState
from quantum_trader.temporal import connect, start_intent
from tests.conftest import Stack, running_worker, trace_id
from tests.support.processes import VENV_BIN, free_port
from tests.support.stack import settings_env

NOT_INSTALLED = "QT_OTEL_ENDPOINT is set but OpenTelemetry is not installed: pip install '.[otel]'"


async def test_tracing_unset_installs_no_interceptor(client: Client) -> None:
    # The session client is connected from settings without QT_OTEL_ENDPOINT.
    assert client.config()["interceptors"] == []
    assert tracing.interceptors(Settings(_env_file=None)) == []  # type: ignore[call-arg]


async def test_tracing_one_market_intent_is_one_trace_keyed_by_trace_id(stack: Stack, redis: Redis) -> None:
    settings = stack.settings(otel_endpoint="http://127.0.0.1:4318", otel_service_name="qt-test")
    exporter = InMemorySpanExporter()
    traced = await connect(settings, interceptors=tracing.interceptors(settings, exporter))
    tid = trace_id("otel")
    decision = TradeDecision(trace_id=tid, symbol="BTCUSDT", side="BUY", position_size_usd="100", confidence="0.9")
    async with running_worker(traced, settings, redis):
        assert (await start_intent(traced, decision, settings)).started
        result = await asyncio.wait_for(traced.get_workflow_handle(tid, result_type=IntentResult).result(), 60)
    assert result.state is IntentState.FILLED
    tracing.flush()

    spans = [span for span in exporter.get_finished_spans()
             if tid in (span.attributes.get("trace_id"), span.attributes.get("temporalWorkflowID"))]
    names = {span.name for span in spans}
    assert {tracing.INTENT_SPAN, "StartWorkflow:TradeIntentWorkflow", "RunWorkflow:TradeIntentWorkflow",
            "StartActivity:place_order", "RunActivity:place_order"} <= names, names
    [root] = [span for span in spans if span.name == tracing.INTENT_SPAN]
    assert root.attributes["trace_id"] == tid and root.parent is None
    assert root.resource.attributes["service.name"] == "qt-test"
    assert {span.context.trace_id for span in spans} == {root.context.trace_id}


@pytest.mark.usefixtures("worker")
async def test_tracing_submit_exports_its_intent_span_over_otlp_before_it_exits(settings: Settings, tmp_path: Path) -> None:
    received: list[ExportTraceServiceRequest] = []

    async def traces(request: web.Request) -> web.Response:
        received.append(ExportTraceServiceRequest.FromString(await request.read()))
        return web.Response(content_type="application/x-protobuf", body=b"")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    env = {key: value for key, value in os.environ.items() if not key.startswith("QT_")}
    env.update(settings_env(settings), QT_OTEL_ENDPOINT=f"http://127.0.0.1:{port}", QT_OTEL_SERVICE_NAME="qt-submit")
    tid = trace_id("otel-cli")
    try:
        process = await asyncio.create_subprocess_exec(
            str(VENV_BIN / "quantum-trader"), "submit", "--trace-id", tid, "--symbol", "BTCUSDT", "--side", "BUY",
            "--usd", "50", "--confidence", "0.9", "--wait",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await runner.cleanup()
    assert process.returncode == 0, (out, err)

    spans = {span.name: (resource.resource, span) for request in received for resource in request.resource_spans
             for scope in resource.scope_spans for span in scope.spans}
    resource, root = spans[tracing.INTENT_SPAN]
    assert {a.key: a.value.string_value for a in root.attributes}["trace_id"] == tid
    assert {a.key: a.value.string_value for a in resource.attributes}["service.name"] == "qt-submit"
    assert spans["StartWorkflow:TradeIntentWorkflow"][1].trace_id == root.trace_id


async def test_tracing_set_without_opentelemetry_is_one_line_and_exit_2(settings: Settings, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("QT_")}
    env.update(settings_env(settings), QT_OTEL_ENDPOINT="http://127.0.0.1:4318")
    # As installed without the otel extra: importing opentelemetry fails.
    hide = "import sys; sys.modules['opentelemetry'] = None; from quantum_trader.cli import entry; sys.argv[0] = 'quantum-trader'; entry()"
    for command in (["worker"], ["submit", "--symbol", "BTCUSDT", "--side", "BUY", "--usd", "10"]):
        process = await asyncio.create_subprocess_exec(
            str(VENV_BIN / "python"), "-c", hide, *command,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), 60)
        finally:
            if process.returncode is None:  # it started instead of refusing: leave nothing behind
                process.kill()
                await process.wait()
        assert process.returncode == 2, (command, out, err)
        assert err.decode().strip().splitlines() == [f"quantum-trader {command[0]}: {NOT_INSTALLED}"], err
