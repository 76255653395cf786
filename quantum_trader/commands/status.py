"""``quantum-trader status TRACE_ID``: the intent's own answer to the ``status`` query."""

from __future__ import annotations

import argparse
import asyncio
import sys
from decimal import Decimal

from temporalio.service import RPCError

from quantum_trader.cli import CommandError
from quantum_trader.commands import QUERY_TIMEOUT_SECONDS, describe, is_running, run_command, temporal_client
from quantum_trader.models import IntentResult, IntentStatus
from quantum_trader.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trace_id", help="the decision's trace_id (the workflow ID)")
    parser.add_argument("--json", action="store_true", help="print the query result as JSON")


def run(args: argparse.Namespace, settings: Settings) -> int:
    async def main() -> int:
        status = await fetch_status(settings, args.trace_id)
        sys.stdout.write((status.model_dump_json(indent=2) if args.json else render(status)) + "\n")
        return 0

    return run_command("status", main)


async def fetch_status(settings: Settings, trace_id: str) -> IntentStatus:
    client = await temporal_client(settings)
    description = await describe(client, trace_id)
    handle = client.get_workflow_handle(trace_id, result_type=IntentResult)
    try:
        return await asyncio.wait_for(handle.query("status", result_type=IntentStatus), QUERY_TIMEOUT_SECONDS)
    except (RPCError, TimeoutError) as error:
        if is_running(description):
            raise CommandError(
                f"{trace_id} is running but no worker answered the status query ({type(error).__name__}); is quantum-trader worker up?"
            ) from None
    # An ended intent without a worker to replay it: its result says the same.
    result = await handle.result()
    return IntentStatus(trace_id=trace_id, state=result.state, finished=True, reason=result.reason, summary=_summary(result))


def _num(value: Decimal) -> str:
    """``100`` rather than ``1E+2``, ``0`` rather than ``0E-8``."""
    return format(value.normalize(), "f")


def _summary(result: IntentResult) -> str:
    return f"{result.side.value} {result.quantity} {result.symbol} {result.order_type.value}"


def render(status: IntentStatus) -> str:
    rows = [
        ("trace_id", status.trace_id),
        ("state", f"{status.state.value} ({'ended' if status.finished else 'running'})"),
        ("summary", status.summary),
    ]
    if status.reason:
        rows.append(("reason", status.reason))
    if status.order is not None:
        order = status.order
        rows.append(("order", f"{order.client_order_id} {order.order_type.value} {order.side.value} "
                              f"{_num(order.quantity)} {order.symbol}" + (f" @ {_num(order.price)}" if order.price else "")))
    if status.snapshot is not None:
        snap = status.snapshot
        rows.append(("exchange", f"order {snap.order_id} {snap.status}, filled {_num(snap.executed_qty)} of {_num(snap.orig_qty)}"
                                 + (f" avg {_num(snap.avg_price)}" if snap.avg_price is not None else "")))
    if status.attempts:
        rows.append(("attempts", str(status.attempts)))
    if status.cancel_requested:
        rows.append(("cancel", "requested"))
    if status.deadline is not None:
        rows.append(("deadline", status.deadline.isoformat(timespec="seconds")))
    if status.history:
        rows.append(("history", " -> ".join(f"{state.value} {at.strftime('%H:%M:%S')}" for state, at in status.history)))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
