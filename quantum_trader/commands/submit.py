"""``quantum-trader submit``: one decision, from JSON or flags, to Temporal or the stream.

    quantum-trader submit --symbol BTCUSDT --side BUY --usd 100
    quantum-trader submit --symbol ETHUSDT --side BUY --quantity 0.05 --type LIMIT --price 2500 --ttl 600
    quantum-trader submit --json '{"trace_id": "t-1", "symbol": "BTCUSDT", "action": "BUY", "quantity": "0.001"}'
    echo '{...}' | quantum-trader submit --json - --via stream

``--via temporal`` (the default) starts the workflow itself, as the ingress would;
``--via stream`` publishes to ``ai.decision.made`` for the ingress to pick up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from quantum_trader import constants
from quantum_trader.cli import CommandError
from quantum_trader.ids import trace_id_conflict
from quantum_trader.commands import exits, intent_result, run_command, temporal_client, temporal_errors
from quantum_trader.models import TradeDecision
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState

if TYPE_CHECKING:
    from temporalio.client import Client

_FLAGS = ("trace_id", "symbol", "side", "quantity", "position_size_usd", "order_type", "price", "time_in_force",
          "ttl_seconds", "confidence", "market", "leverage", "source")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = exits.epilog(IntentState.FILLED) + "\n\nA trace_id that already has a workflow starts nothing: exit 0, or with --wait that intent's code."
    parser.add_argument("--json", dest="json_text", metavar="JSON", help="the decision as JSON; '-' reads stdin, '@FILE' a file")
    parser.add_argument("--trace-id", dest="trace_id", help="default: cli-<random>")
    parser.add_argument("--symbol")
    parser.add_argument("--side", choices=("BUY", "SELL", "buy", "sell"))
    parser.add_argument("--quantity", help="base-asset quantity")
    parser.add_argument("--usd", dest="position_size_usd", help="position size in USD (instead of --quantity)")
    parser.add_argument("--type", dest="order_type", choices=("MARKET", "LIMIT", "market", "limit"))
    parser.add_argument("--price", help="limit price")
    parser.add_argument("--tif", dest="time_in_force", choices=("GTC", "IOC", "FOK"))
    parser.add_argument("--ttl", dest="ttl_seconds", type=int, help="LIMIT: seconds before the order is cancelled as EXPIRED")
    parser.add_argument("--confidence", help="0..1; the risk gate refuses a decision without one or below QT_MIN_CONFIDENCE")
    parser.add_argument("--market", choices=("spot", "usdm"))
    parser.add_argument("--leverage", type=int)
    parser.add_argument("--source", help="default: cli")
    parser.add_argument("--via", choices=("temporal", "stream"), default="temporal", help="start the workflow, or publish for the ingress")
    parser.add_argument("--wait", action="store_true",
                        help="--via temporal: wait for the intent to end (a duplicate's too), print its result and exit with its code")
    parser.add_argument("--timeout", type=float, default=300.0, help="with --wait: seconds to wait (default 300)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    decision = build_decision(args)
    if args.via == "stream":
        if args.wait:
            raise CommandError("--wait works only with --via temporal")
        entry_id = asyncio.run(publish(settings, decision))
        sys.stdout.write(f"published {decision.trace_id} to {constants.DECISION_STREAM} as {entry_id}\n")
        return 0

    async def main() -> int:
        client = await temporal_client(settings)
        started = await start(client, settings, decision)
        if started:
            sys.stdout.write(f"started {decision.trace_id}: {decision.summary()}\n")
        elif args.wait:
            sys.stdout.write(f"duplicate: {decision.trace_id} already has a workflow; nothing started, waiting for its result\n")
        else:
            sys.stdout.write(f"duplicate: {decision.trace_id} already has a workflow; nothing started\n")
        if not args.wait:
            return exits.OK
        sys.stdout.flush()
        result = await intent_result(client, decision.trace_id, args.timeout, "it keeps running")
        sys.stdout.write(f"{result.state.value} {result.reason}".rstrip() + "\n")
        return exits.for_end_state(result.state, IntentState.FILLED)

    return run_command("submit", main)


def build_decision(args: argparse.Namespace) -> TradeDecision:
    """The decision from --json, overlaid with any flags given, validated by the model."""
    values: dict[str, Any] = _read_json(args.json_text) if args.json_text else {}
    for name in _FLAGS:
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    values.setdefault("trace_id", f"cli-{uuid.uuid4().hex[:12]}")
    values.setdefault("source", "cli")
    try:
        decision = TradeDecision.model_validate(values)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "decision"
        raise CommandError(f"invalid decision: {where}: {first.get('msg')}") from None
    if (conflict := trace_id_conflict(decision.trace_id)) is not None:
        raise CommandError(f"invalid decision: trace_id: {conflict}")
    return decision


def _read_json(text: str) -> dict[str, Any]:
    try:
        if text == "-":
            text = sys.stdin.read()
        elif text.startswith("@"):
            text = Path(text[1:]).read_text()
        data = json.loads(text)
    except (OSError, json.JSONDecodeError) as error:
        raise CommandError(f"cannot read the decision JSON: {error}") from None
    if not isinstance(data, dict):
        raise CommandError("the decision JSON must be an object")
    return data


async def start(client: Client, settings: Settings, decision: TradeDecision) -> bool:
    """Start the intent's workflow; False when its trace_id already has one."""
    from quantum_trader.temporal import start_intent

    async with temporal_errors(decision.trace_id):
        return (await start_intent(client, decision, settings)).started


async def publish(settings: Settings, decision: TradeDecision) -> str:
    """Append the decision in the flat wire form (one stream field per decision field)."""
    from redis.exceptions import RedisError

    from quantum_trader.connections import redis_client, redis_errors, redis_location

    fields = {key: str(value) for key, value in decision.model_dump(mode="json", exclude_none=True).items()}
    redis = redis_client(settings, socket_timeout=10)
    try:
        async with redis_errors(settings):
            entry_id = await redis.xadd(constants.DECISION_STREAM, fields)  # type: ignore[arg-type]
    except RedisError as error:
        raise CommandError(f"cannot publish to Redis at {redis_location(settings)}: {error}") from None
    finally:
        await redis.aclose()
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
