"""``quantum-trader cancel TRACE_ID``: the ``cancel_order`` signal, or with ``--wait`` the
``request_cancel`` update that answers once the intent has ended.

With ``--wait`` the exit code is the intent's end (:mod:`quantum_trader.commands.exits`):
0 for CANCELLED, the end state's own code otherwise (an order that filled before the
cancel took effect exits 10), also when the intent had already ended before the cancel.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from temporalio.client import Client, WorkflowUpdateFailedError

from quantum_trader.cli import CommandError
from quantum_trader.commands import (
    StillRunning,
    describe,
    exits,
    intent_result,
    is_running,
    run_command,
    temporal_client,
    temporal_errors,
    trade_state,
)
from quantum_trader.commands.status import render
from quantum_trader.models import CancelRequest, IntentStatus
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState

_ENDED_TIMEOUT_SECONDS = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (exits.epilog(IntentState.CANCELLED)
                     + "\n\nWith --wait, an intent that had already ended exits with its end state's code.")
    parser.add_argument("trace_id", help="the decision's trace_id (the workflow ID)")
    parser.add_argument("--reason", default="cancelled by operator", help="recorded as the intent's reason")
    parser.add_argument("--wait", action="store_true", help="wait until the intent has ended, print its status and exit with its code")
    parser.add_argument("--timeout", type=float, default=120.0, help="with --wait: seconds to wait (default 120)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    request = CancelRequest(reason=args.reason)

    async def main() -> int:
        if not args.wait:
            await send_cancel(settings, args.trace_id, request)
            sys.stdout.write(f"cancel_order sent to {args.trace_id}\n")
            return exits.OK
        client = await temporal_client(settings)
        status = await cancel_and_wait(client, args.trace_id, request, args.timeout)
        if status is None:
            state = await ended_state(client, args.trace_id)
            sys.stdout.write(f"intent {args.trace_id} already ended in state {state.value}\n")
        else:
            state = status.state
            sys.stdout.write(render(status) + "\n")
        return exits.for_end_state(state, IntentState.CANCELLED)

    return run_command("cancel", main)


async def send_cancel(settings: Settings, trace_id: str, request: CancelRequest) -> None:
    client = await temporal_client(settings)
    if not is_running(description := await describe(client, trace_id)):
        raise CommandError(f"intent {trace_id} already ended in state {trade_state(description)}")
    async with temporal_errors(trace_id):
        await client.get_workflow_handle(trace_id).signal("cancel_order", request)


async def cancel_and_wait(client: Client, trace_id: str, request: CancelRequest, timeout: float) -> IntentStatus | None:
    """The intent's status once the cancel has ended it; None when it had ended before."""
    if not is_running(await describe(client, trace_id)):
        return None
    handle = client.get_workflow_handle(trace_id)
    try:
        async with temporal_errors(trace_id):
            return await asyncio.wait_for(
                handle.execute_update("request_cancel", request, result_type=IntentStatus), timeout
            )
    except WorkflowUpdateFailedError:
        # The one refusal: the intent ended between the describe and the update.
        return None
    except TimeoutError:
        raise StillRunning(f"{trace_id} has not ended within {timeout:.0f}s; the cancel stays requested") from None


async def ended_state(client: Client, trace_id: str) -> IntentState:
    """The end state of an intent that has ended (or is completing) without this cancel."""
    return (await intent_result(client, trace_id, _ENDED_TIMEOUT_SECONDS, "it is still completing")).state
