"""Connecting to Temporal and starting intents: shared by the worker, ingress and CLI."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, UpdateNamespaceRequest
from temporalio.client import Client, TLSConfig, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError
from google.protobuf.duration_pb2 import Duration

from quantum_trader import constants, tracing, visibility
from quantum_trader.codec import CodecError, EncryptionCodec, parse_keys
from quantum_trader.payloads import DATA_CONVERTER
from quantum_trader.models import IntentResult, TradeDecision
from quantum_trader.settings import Settings
from quantum_trader.startup import Deadline, until_reachable

log = logging.getLogger(__name__)


def _tls(settings: Settings) -> TLSConfig | bool:
    if not (settings.temporal_tls or settings.temporal_tls_cert or settings.temporal_tls_ca):
        return bool(settings.temporal_api_key)  # API keys imply TLS (Temporal Cloud)

    def read(path):  # noqa: ANN001, ANN202
        return path.read_bytes() if path else None

    return TLSConfig(
        server_root_ca_cert=read(settings.temporal_tls_ca),
        client_cert=read(settings.temporal_tls_cert),
        client_private_key=read(settings.temporal_tls_key),
        domain=settings.temporal_tls_server_name,
    )


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic JSON payloads, encrypted (with failure messages) when codec keys are set."""
    if settings.codec_keys is None:
        return DATA_CONVERTER
    return dataclasses.replace(
        DATA_CONVERTER,
        payload_codec=payload_codec(settings),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def payload_codec(settings: Settings) -> EncryptionCodec:
    """The encryption codec from ``QT_CODEC_KEYS`` / ``QT_CODEC_KEY_ID``."""
    if settings.codec_keys is None:
        raise CodecError("QT_CODEC_KEYS is not set")
    keys = parse_keys(settings.codec_keys.get_secret_value())
    key_id = settings.codec_key_id
    if key_id is None:
        if len(keys) > 1:
            raise CodecError("QT_CODEC_KEY_ID must name the active key when QT_CODEC_KEYS holds several")
        key_id = next(iter(keys))
    return EncryptionCodec(keys, key_id)


async def connect(settings: Settings, **kwargs) -> Client:  # noqa: ANN003 - passed to Client.connect
    """A client with the project's data converter, TLS and API key from settings, and the
    tracing interceptor when ``QT_OTEL_ENDPOINT`` is set (workers built on it trace too)."""
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    kwargs.setdefault("interceptors", tracing.interceptors(settings))
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        tls=_tls(settings),
        api_key=api_key,
        **kwargs,
    )


async def connect_at_start(
    settings: Settings, deadline: Deadline, *, stop: asyncio.Event | None = None, **kwargs  # noqa: ANN003
) -> Client | None:
    """:func:`connect` for a process that is starting: retried with backoff until ``deadline``
    (then :class:`~quantum_trader.startup.Unreachable`); ``None`` if ``stop`` is set first."""
    return await until_reachable(
        "Temporal", settings.temporal_address, lambda: connect(settings, **kwargs), deadline, (RuntimeError, RPCError, OSError), stop=stop
    )


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register the custom search attributes if missing; returns the ones added.

    An unregistered attribute stalls every workflow that sets it, so workers call this
    before they poll. Safe to call any number of times, from any number of workers.
    """
    existing = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    missing = [name for name in constants.SEARCH_ATTRIBUTES if name not in existing.custom_attributes]
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=namespace,
                    search_attributes={name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for name in missing},
                )
            )
        except Exception as error:  # another worker won the race: check again
            existing = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
            if any(name not in existing.custom_attributes for name in constants.SEARCH_ATTRIBUTES):
                raise
            log.info("search attributes registered concurrently", extra={"error": error})
        log.info("search attributes registered", extra={"names": ",".join(missing)})
    return missing


async def ensure_retention(client: Client, namespace: str, days: int) -> bool:
    """Set the namespace's retention (the dedup window) to ``days`` where permitted."""
    wanted = timedelta(days=days)
    described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    current = described.config.workflow_execution_retention_ttl.ToTimedelta()
    if current == wanted:
        return False
    try:
        await client.workflow_service.update_namespace(
            UpdateNamespaceRequest(
                namespace=namespace,
                config=NamespaceConfig(workflow_execution_retention_ttl=Duration(seconds=int(wanted.total_seconds()))),
            )
        )
    except Exception as error:  # e.g. no permission on a managed namespace
        log.warning("namespace retention unchanged", extra={"namespace": namespace, "current": current, "wanted": wanted, "error": error})
        return False
    log.info("namespace retention set", extra={"namespace": namespace, "retention": wanted})
    return True


@dataclass(frozen=True)
class StartOutcome:
    trace_id: str
    started: bool
    run_id: str | None = None
    # The server handed the first workflow task straight to a worker on this client.
    eager: bool = False


async def start_intent(client: Client, decision: TradeDecision, settings: Settings) -> StartOutcome:
    """Start the intent's workflow; a trace_id seen before is refused, not started again.

    With tracing on, the start runs inside the intent's span (attribute ``trace_id``),
    the root of every span the intent makes."""
    with tracing.intent_span(client, decision) as span:
        try:
            handle: WorkflowHandle[object, IntentResult] = await client.start_workflow(
                constants.WORKFLOW_NAME,
                decision,
                id=decision.trace_id,
                task_queue=settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=decision.summary(),
                search_attributes=visibility.at_start(decision),
                request_eager_start=True,
                result_type=IntentResult,
            )
        except WorkflowAlreadyStartedError:
            log.info("DUPLICATE_SKIP", extra={"trace_id": decision.trace_id})
            if span is not None:
                span.set_attribute("duplicate", True)
            return StartOutcome(trace_id=decision.trace_id, started=False)
    # Set by the SDK from the start response (it has no public accessor yet).
    eager = bool(getattr(handle, "__temporal_eagerly_started", False))
    log.info("intent started", extra={"trace_id": decision.trace_id, "run_id": handle.result_run_id, "eager": eager})
    return StartOutcome(trace_id=decision.trace_id, started=True, run_id=handle.result_run_id, eager=eager)
