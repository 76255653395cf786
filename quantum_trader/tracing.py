"""Optional OpenTelemetry tracing, off unless ``QT_OTEL_ENDPOINT`` is set.

When it is set, :func:`interceptors` gives the Temporal client a
``temporalio.contrib.opentelemetry.TracingInterceptor``; a worker built on that client
takes it over. Each intent is then one trace: the ``TradeIntent`` span (attribute
``trace_id``) around its start, the SDK's ``StartWorkflow``, ``RunWorkflow``,
``StartActivity`` and ``RunActivity`` spans below it (attribute ``temporalWorkflowID``, the
same trace_id). Spans leave through OTLP/HTTP in batches; :func:`shutdown` sends what is
left before the process exits.

OpenTelemetry is the ``otel`` extra: nothing here imports it while tracing is off.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from temporalio.client import Client, Interceptor

    from quantum_trader.models import TradeDecision
    from quantum_trader.settings import Settings

INTENT_SPAN = "TradeIntent"
_TRACES_PATH = "/v1/traces"

# Every provider this process made, so that shutdown() can flush them.
_providers: list[TracerProvider] = []
# One provider (one exporter) per endpoint and service name, however often a process connects.
_shared: dict[tuple[str, str], TracerProvider] = {}


class TracingNotInstalled(Exception):
    """``QT_OTEL_ENDPOINT`` is set but the ``otel`` extra is not installed."""

    def __init__(self) -> None:
        super().__init__("QT_OTEL_ENDPOINT is set but OpenTelemetry is not installed: pip install '.[otel]'")


def interceptors(settings: Settings, exporter: SpanExporter | None = None) -> list[Interceptor]:
    """The client interceptors tracing needs: none when ``QT_OTEL_ENDPOINT`` is unset.

    ``exporter`` replaces the OTLP exporter (tests pass an in-memory one).
    """
    if settings.otel_endpoint is None:
        return []
    try:
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError:
        raise TracingNotInstalled() from None
    provider = _provider(settings, exporter)
    return [TracingInterceptor(provider.get_tracer("quantum_trader"))]


def _provider(settings: Settings, exporter: SpanExporter | None) -> TracerProvider:
    assert settings.otel_endpoint is not None
    key = (settings.otel_endpoint, settings.otel_service_name)
    if exporter is None and key in _shared:
        return _shared[key]
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=traces_url(settings.otel_endpoint))
            shared = True
        else:
            shared = False
    except ImportError:
        raise TracingNotInstalled() from None
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: settings.otel_service_name}), shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    _providers.append(provider)
    if shared:
        _shared[key] = provider
    return provider


def traces_url(endpoint: str) -> str:
    """The collector's traces URL: ``<endpoint>/v1/traces`` unless it names that path already."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(_TRACES_PATH) else endpoint + _TRACES_PATH


@contextlib.contextmanager
def intent_span(client: Client, decision: TradeDecision) -> Iterator[Any]:
    """The intent's own span, keyed by ``trace_id``, when the client traces; else nothing.

    Started around the workflow start, it is the parent of every span the SDK makes for
    the intent, so the intent is one trace. Yields the span (or None) for more attributes.
    """
    tracer = _tracer(client)
    if tracer is None:
        yield None
        return
    attributes = {"trace_id": decision.trace_id, "symbol": decision.symbol, "side": decision.side.value,
                  "order_type": decision.order_type.value, "source": decision.source or ""}
    with tracer.start_as_current_span(INTENT_SPAN, attributes=attributes) as span:
        yield span


def _tracer(client: Client) -> Any:
    chosen = client.config()["interceptors"]
    if not chosen:
        return None
    try:
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError:
        return None

    return next((interceptor.tracer for interceptor in chosen if isinstance(interceptor, TracingInterceptor)), None)


def flush() -> None:
    """Export every finished span now."""
    for provider in _providers:
        provider.force_flush()


def shutdown() -> None:
    """Send the spans still buffered (a process ends without interpreter teardown)."""
    while _providers:
        _providers.pop().shutdown()
    _shared.clear()
