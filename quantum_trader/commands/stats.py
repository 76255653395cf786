"""``quantum-trader stats``: the ingress's totals, the group's lag and pending, the
dead-letter count, and intents per state from Temporal's visibility store."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from quantum_trader import constants
from redis.asyncio import Redis

from quantum_trader.connections import redis_client, redis_errors
from quantum_trader.metrics import Count
from quantum_trader.settings import Settings
from quantum_trader.startup import short_reason
from quantum_trader.states import IntentState
from quantum_trader.streams import group_info, text

TEMPORAL_TIMEOUT_SECONDS = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-temporal", action="store_true", help="skip the per-state workflow counts")


def run(args: argparse.Namespace, settings: Settings) -> int:
    report = asyncio.run(collect(settings, temporal=not args.no_temporal))
    print(json.dumps(report, indent=1) if args.json else render(report))
    return 0


async def collect(settings: Settings, *, temporal: bool = True) -> dict[str, Any]:
    """Everything ``stats`` shows, as plain data."""
    report: dict[str, Any] = {"ingress": await _redis_part(settings)}
    if temporal:
        try:
            report["intents"] = await asyncio.wait_for(_intents_by_state(settings), TEMPORAL_TIMEOUT_SECONDS)
        except (TimeoutError, RuntimeError, OSError) as error:
            report["intents"] = {"error": f"temporal unavailable at {settings.temporal_address}: {short_reason(error)}"}
    return report


async def _redis_part(settings: Settings) -> dict[str, Any]:
    redis = redis_client(settings, socket_timeout=10)
    try:
        async with redis_errors(settings):
            return await _ingress_counts(redis)
    finally:
        await redis.aclose()


async def _ingress_counts(redis: Redis) -> dict[str, Any]:
    totals = await redis.hgetall(constants.INGRESS_COUNTERS_KEY)
    info = await group_info(redis, constants.DECISION_STREAM, constants.INGRESS_GROUP)
    part: dict[str, Any] = {name.value: int(totals.get(name.value.encode(), 0)) for name in Count}
    part["group_lag"] = info.lag if info else None
    part["group_pending"] = info.pending if info else None
    part["group_consumers"] = info.consumers if info else 0
    part["stream_length"] = await redis.xlen(constants.DECISION_STREAM)
    part["dead_letter_length"] = await redis.xlen(constants.DEAD_LETTER_STREAM)
    return part


async def _intents_by_state(settings: Settings) -> dict[str, int]:
    from quantum_trader.temporal import connect  # the Temporal SDK only when asked for

    client = await connect(settings)
    counts = {"total": (await client.count_workflows(f'WorkflowType="{constants.WORKFLOW_NAME}"')).count}
    for state in IntentState:
        query = f'WorkflowType="{constants.WORKFLOW_NAME}" AND {constants.SA_TRADE_STATE}="{state.value}"'
        counts[state.value] = (await client.count_workflows(query)).count
    return counts


def render(report: dict[str, Any]) -> str:
    lines = []
    for section, values in report.items():
        for name, value in values.items():
            lines.append(f"{section}.{name} {text(value) if value is not None else '-'}")
    return "\n".join(lines)
