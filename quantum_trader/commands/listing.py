"""``quantum-trader list``: intents from Temporal's visibility store, newest first.

    quantum-trader list --state OPEN --symbol BTCUSDT --since 2h
    quantum-trader list --since 2026-01-31T00:00:00Z --json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

from rich.console import Console
from rich.table import Table

from quantum_trader import constants
from quantum_trader.cli import CommandError
from quantum_trader.commands import run_command, temporal_client, temporal_errors
from quantum_trader.visibility import SIDE, SOURCE, SYMBOL, TRADE_STATE
from quantum_trader.models import SOURCE_PATTERN, SYMBOL_PATTERN
from quantum_trader.settings import Settings
from quantum_trader.states import IntentState

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", type=str.upper, choices=[state.value for state in IntentState], metavar="STATE",
                        help="one of " + ", ".join(state.value for state in IntentState))
    parser.add_argument("--symbol", type=str.upper)
    parser.add_argument("--side", type=str.upper, choices=("BUY", "SELL"))
    parser.add_argument("--source", help="the decision's source")
    parser.add_argument("--since", help="started within a duration (30m, 2h, 7d) or after an ISO time")
    parser.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    parser.add_argument("--json", action="store_true", help="one JSON array")


def run(args: argparse.Namespace, settings: Settings) -> int:
    query = build_query(state=args.state, symbol=args.symbol, side=args.side, source=args.source, since=args.since)

    async def main() -> int:
        rows = await list_intents(settings, query, args.limit)
        if args.json:
            sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        elif rows:
            Console(width=None if sys.stdout.isatty() else 200).print(_table(rows))
        else:
            sys.stdout.write("no intents match\n")
        return 0

    return run_command("list", main)


def build_query(*, state: str | None = None, symbol: str | None = None, side: str | None = None,
                source: str | None = None, since: str | None = None, now: datetime | None = None) -> str:
    """A visibility query from validated filters (nothing unchecked reaches the query)."""
    clauses = [f'WorkflowType="{constants.WORKFLOW_NAME}"']
    if state:
        clauses.append(f'{constants.SA_TRADE_STATE}="{IntentState(state).value}"')
    if symbol:
        if not SYMBOL_PATTERN.fullmatch(symbol):
            raise CommandError(f"--symbol {symbol!r} is not a symbol")
        clauses.append(f'{constants.SA_SYMBOL}="{symbol}"')
    if side:
        clauses.append(f'{constants.SA_SIDE}="{side}"')
    if source:
        if not SOURCE_PATTERN.fullmatch(source) or '"' in source:
            raise CommandError(f"--source {source!r} contains characters that are not allowed")
        clauses.append(f'{constants.SA_SOURCE}="{source}"')
    if since:
        moment = parse_since(since, now or datetime.now(timezone.utc))
        clauses.append(f'StartTime >= "{moment.isoformat().replace("+00:00", "Z")}"')
    return " AND ".join(clauses)


def parse_since(text: str, now: datetime) -> datetime:
    match = _DURATION.fullmatch(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"--since {text!r}: give a duration such as 30m, 2h, 7d or an ISO time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


async def list_intents(settings: Settings, query: str, limit: int) -> list[dict[str, Any]]:
    client = await temporal_client(settings)
    rows = []
    async with temporal_errors():
        async for execution in client.list_workflows(query, limit=limit):
            attributes = execution.typed_search_attributes
            rows.append({
                "trace_id": execution.id,
                "state": attributes.get(TRADE_STATE),
                "symbol": attributes.get(SYMBOL),
                "side": attributes.get(SIDE),
                "source": attributes.get(SOURCE),
                "status": execution.status.name if execution.status else None,
                "started": execution.start_time.isoformat() if execution.start_time else None,
                "closed": execution.close_time.isoformat() if execution.close_time else None,
            })
    return rows


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("trace_id", "state", "symbol", "side", "source", "status", "started", "closed"):
        table.add_column(column.upper(), no_wrap=True)
    for row in rows:
        table.add_row(
            *(str(row[key] or "") for key in ("trace_id", "state", "symbol", "side", "source", "status")),
            _short_time(row["started"]),
            _short_time(row["closed"]),
        )
    return table


def _short_time(value: str | None) -> str:
    """UTC, to the second: ``11-26 18:40:13``."""
    return datetime.fromisoformat(value).astimezone(timezone.utc).strftime("%m-%d %H:%M:%S") if value else ""
