"""Operator commands: ``submit``, ``status``, ``list``, ``cancel`` and ``stats``.

Each module is one subcommand of ``quantum-trader`` (``add_arguments`` and ``run``).
What they share is here: Temporal's failures become one clear line (Redis's:
:func:`quantum_trader.connections.redis_errors`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

from temporalio.client import Client, WorkflowExecutionDescription, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from quantum_trader.cli import CommandError
from quantum_trader.commands import exits
from quantum_trader.models import IntentResult
from quantum_trader.settings import Settings
from quantum_trader.startup import short_reason
from quantum_trader.visibility import TRADE_STATE

QUERY_TIMEOUT_SECONDS = 10.0


class StillRunning(CommandError):
    """``--wait`` gave up at its ``--timeout``; the intent keeps running (exit code 3)."""


def run_command(name: str, main: Callable[[], Awaitable[int]]) -> int:
    """Run an operator command's coroutine and return its exit code."""
    try:
        return asyncio.run(main())  # type: ignore[arg-type]
    except StillRunning as error:
        sys.stderr.write(f"quantum-trader {name}: {error}\n")
        return exits.STILL_RUNNING


async def temporal_client(settings: Settings) -> Client:
    from quantum_trader.temporal import connect

    try:
        return await connect(settings)
    except RuntimeError as error:
        raise CommandError(f"cannot reach Temporal at {settings.temporal_address}: {short_reason(error)}") from None


@contextlib.asynccontextmanager
async def temporal_errors(trace_id: str | None = None) -> AsyncIterator[None]:
    """Turn Temporal's errors into one line for the operator."""
    try:
        yield
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND and trace_id is not None:
            raise CommandError(f"no intent with trace_id {trace_id}") from None
        raise CommandError(f"Temporal refused the request: {_first_line(error)}") from None


async def describe(client: Client, trace_id: str) -> WorkflowExecutionDescription:
    async with temporal_errors(trace_id):
        return await client.get_workflow_handle(trace_id).describe()


async def intent_result(client: Client, trace_id: str, timeout: float, still_running: str) -> IntentResult:
    """The intent's end, waiting at most ``timeout`` seconds (then :class:`StillRunning`)."""
    handle = client.get_workflow_handle(trace_id, result_type=IntentResult)
    try:
        async with temporal_errors(trace_id):
            return await asyncio.wait_for(handle.result(), timeout)
    except TimeoutError:
        raise StillRunning(f"{trace_id} has not ended within {timeout:.0f}s; {still_running}") from None
    except WorkflowFailureError as error:  # terminated or failed from outside: no end state
        raise CommandError(f"{trace_id} ended without a result: {_first_line(error.cause or error)}") from None


def is_running(description: WorkflowExecutionDescription) -> bool:
    return description.status is not None and description.status.name == "RUNNING"


def trade_state(description: WorkflowExecutionDescription) -> str:
    return description.typed_search_attributes.get(TRADE_STATE) or "?"


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
