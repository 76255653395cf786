"""``quantum-trader cancel TRACE_ID``: the ``cancel_order`` signal, or with ``--wait`` the
``request_cancel`` update that answers once the intent has ended."""

from __future__ import annotations

import argparse
import asyncio
import sys

from temporalio.client import WorkflowUpdateFailedError

from quantum_trader.cli import CommandError
from quantum_trader.commands import describe, is_running, run_command, temporal_client, temporal_errors, trade_state
from quantum_trader.commands.status import render
from quantum_trader.models import CancelRequest, IntentStatus
from quantum_trader.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trace_id", help="the decision's trace_id (the workflow ID)")
    parser.add_argument("--reason", default="cancelled by operator", help="recorded as the intent's reason")
    parser.add_argument("--wait", action="store_true", help="wait until the intent has ended and print its status")
    parser.add_argument("--timeout", type=float, default=120.0, help="with --wait: seconds to wait (default 120)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    request = CancelRequest(reason=args.reason)

    async def main() -> int:
        if args.wait:
            status = await cancel_and_wait(settings, args.trace_id, request, args.timeout)
            sys.stdout.write(render(status) + "\n")
        else:
            await send_cancel(settings, args.trace_id, request)
            sys.stdout.write(f"cancel_order sent to {args.trace_id}\n")
        return 0

    return run_command("cancel", main)


async def send_cancel(settings: Settings, trace_id: str, request: CancelRequest) -> None:
    client = await temporal_client(settings)
    await _require_running(client, trace_id)
    async with temporal_errors(trace_id):
        await client.get_workflow_handle(trace_id).signal("cancel_order", request)


async def cancel_and_wait(settings: Settings, trace_id: str, request: CancelRequest, timeout: float) -> IntentStatus:
    client = await temporal_client(settings)
    await _require_running(client, trace_id)
    handle = client.get_workflow_handle(trace_id)
    try:
        async with temporal_errors(trace_id):
            return await asyncio.wait_for(
                handle.execute_update("request_cancel", request, result_type=IntentStatus), timeout
            )
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        raise CommandError(f"cancel refused: {getattr(cause, 'message', None) or cause or error}") from None
    except TimeoutError:
        raise CommandError(f"{trace_id} has not ended within {timeout:.0f}s; the cancel stays requested") from None


async def _require_running(client, trace_id: str) -> None:  # noqa: ANN001 - a temporalio Client
    description = await describe(client, trace_id)
    if not is_running(description):
        raise CommandError(f"intent {trace_id} already ended in state {trade_state(description)}")
