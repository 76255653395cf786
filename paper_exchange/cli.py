"""``quantum-trader exchange``: run the paper exchange, or talk to a running one's admin API.

    quantum-trader exchange --port 8900 [--state-file PATH] [--api-key K --api-secret S]
    quantum-trader exchange orders --url http://127.0.0.1:8900 [--symbol BTCUSDT]
    quantum-trader exchange price BTCUSDT 61000
    quantum-trader exchange fault drop_response --path /api/v3/order --count 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from paper_exchange.admin_client import SyncPaperAdmin
from paper_exchange.app import create_app
from paper_exchange.config import PaperExchangeConfig
from paper_exchange.decimals import to_decimal
from paper_exchange.faults import KINDS, RESPOND_MODES
from paper_exchange.symbols import DEFAULT_SYMBOLS, split_symbol
from quantum_trader import logs
from quantum_trader.settings import Settings

log = logging.getLogger("paper_exchange")
DEFAULT_PORT = 8900
ADMIN_TIMEOUT_SECONDS = 10.0
# Admin actions without arguments: (method, path under /_paper/).
PLAIN_ACTIONS = {
    "health": ("GET", "health"),
    "reset": ("POST", "reset"),
    "state": ("GET", "state"),
    "faults": ("GET", "faults"),
    "clear-faults": ("DELETE", "faults"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--state-file", type=Path, help="SQLite file that keeps orders, balances and positions")
    parser.add_argument("--api-key", help="accepted API key (default QT_BINANCE_API_KEY)")
    parser.add_argument("--api-secret", help="its HMAC secret (default QT_BINANCE_API_SECRET)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the price walk and fault probabilities")
    parser.add_argument("--symbols", default=",".join(DEFAULT_SYMBOLS), help="comma-separated symbols")
    parser.add_argument("--tick-ms", type=int, default=1000, help="price walk interval in milliseconds")
    parser.add_argument("--stream-ping-seconds", type=float, default=20.0,
                        help="user data streams ping interval; no pong within half of it disconnects (default 20)")
    parser.add_argument("--spot-fee", default="0.001", help="spot commission rate (charged in the quote asset)")
    parser.add_argument("--futures-fee", default="0.0004", help="futures commission rate")
    parser.add_argument("--weight-limit", type=int, default=0, help="request weight per minute, counted per market (spot, futures), 0 = no limit")
    parser.add_argument("--order-limit-10s", type=int, default=0, help="orders per 10 seconds, 0 = no limit")
    parser.add_argument("--log-level", default=None, help="log level (default from QT_LOG_LEVEL)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", help="admin action against a running exchange")
    _add_admin_actions(actions)


def _add_admin_actions(actions: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--url", help="base URL (default QT_EXCHANGE_URL or http://127.0.0.1:PORT)")
        return sub

    action("health", "check that the exchange answers")
    orders = action("orders", "list every order the exchange accepted")
    orders.add_argument("--symbol")
    orders.add_argument("--client-order-id")
    orders.add_argument("--market", choices=("spot", "usdm"))
    price = action("price", "set (and hold) a symbol's price; runs a matching pass")
    price.add_argument("symbol")
    price.add_argument("price")
    price.add_argument("--release", action="store_true", help="let the walk move it again")
    action("reset", "orders, balances, positions, prices, faults back to the start")
    action("state", "balances, positions, prices and runtime config")
    fault = action("fault", "arm a fault")
    fault.add_argument("kind", choices=KINDS)
    fault.add_argument("--path")
    fault.add_argument("--method")
    fault.add_argument("--count", type=int)
    fault.add_argument("--probability", type=float)
    fault.add_argument("--latency-ms", type=int)
    fault.add_argument("--retry-after", type=int)
    fault.add_argument("--respond", choices=RESPOND_MODES)
    fault.add_argument("--delay-ms", type=int,
                       help="execute_later: process the request this much later; stream_delay: send events this much later")
    fault.add_argument("--market", choices=("spot", "usdm"), help="stream faults: only this market's streams")
    fault.add_argument("--every", type=int, help="stream_drop/stream_duplicate: only every Nth event")
    fault.add_argument("--window", type=int, help="stream_reorder: events per reversed window (default 2)")
    fault.add_argument("--status", type=int, help="error: HTTP status (default 400)")
    fault.add_argument("--code", type=int, help="error: Binance code, e.g. -1008")
    fault.add_argument("--msg", help="error: message (Binance's text for well-known codes)")
    fault.add_argument("--duration-ms", type=int, help="disarm after this many milliseconds")
    action("faults", "list armed faults")
    action("clear-faults", "disarm every fault")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.action is not None:
        return run_admin_action(args, _admin_url(args, settings))
    logs.configure(settings, "exchange", level=args.log_level)
    config = build_config(args, settings)
    asyncio.run(serve(config))
    return 0


def _admin_url(args: argparse.Namespace, settings: object) -> str:
    if args.url:
        return str(args.url).rstrip("/")
    configured = getattr(settings, "exchange_url", None)
    return str(configured).rstrip("/") if configured else f"http://127.0.0.1:{args.port}"


def run_admin_action(args: argparse.Namespace, base_url: str) -> int:
    """Print the admin API's JSON answer; exit 1 on an error answer or an unreachable exchange."""
    method, path, body, query = _admin_request(args)
    admin = SyncPaperAdmin(base_url, timeout=ADMIN_TIMEOUT_SECONDS)
    try:
        result = admin.request(method, path, json=body, params=query, check=False)
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        sys.stderr.write(f"quantum-trader exchange {args.action}: cannot reach {base_url}: {error}\n")
        return 1
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 1 if isinstance(result, dict) and "error" in result else 0


def _admin_request(args: argparse.Namespace) -> tuple[str, str, dict[str, Any] | None, dict[str, str] | None]:
    """``(method, path under /_paper/, JSON body, query)`` of an admin action."""
    action = args.action
    if action == "orders":
        query = {k: v for k, v in (("symbol", args.symbol), ("clientOrderId", args.client_order_id), ("market", args.market)) if v}
        return "GET", "orders", None, query
    if action == "price":
        return "POST", "price", {"symbol": args.symbol, "price": args.price, "hold": not args.release}, None
    if action == "fault":
        names = (
            "path", "method", "count", "probability", "latency_ms", "retry_after", "respond",
            "delay_ms", "status", "code", "msg", "duration_ms", "market", "every", "window",
        )
        fault = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
        return "POST", "faults", {"kind": args.kind, **fault}, None
    if action not in PLAIN_ACTIONS:
        raise ValueError(f"unknown admin action {action}")
    method, path = PLAIN_ACTIONS[action]
    return method, path, None, None


def _fail(message: str) -> Exception:
    from quantum_trader.cli import CommandError

    return CommandError(message)


def build_config(args: argparse.Namespace, settings: object) -> PaperExchangeConfig:
    """The exchange's config from flags, falling back to the shared settings for the key pair."""
    api_key = args.api_key
    api_secret = args.api_secret
    if not api_key or not api_secret:
        key = getattr(settings, "binance_api_key", None)
        secret = getattr(settings, "binance_api_secret", None)
        api_key = api_key or (key.get_secret_value() if key is not None else None)
        api_secret = api_secret or (secret.get_secret_value() if secret is not None else None)
    if not api_key or not api_secret:
        raise _fail("no API key pair: pass --api-key and --api-secret or set QT_BINANCE_API_KEY and QT_BINANCE_API_SECRET")
    symbols = tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip())
    for symbol in symbols:
        try:
            split_symbol(symbol)
        except ValueError as error:
            raise _fail(str(error)) from None
    fees = {}
    for name in ("spot_fee", "futures_fee"):
        value = to_decimal(getattr(args, name))
        if value is None or value < 0:
            raise _fail(f"--{name.replace('_', '-')} must be a non-negative decimal")
        fees[name] = value
    try:
        return PaperExchangeConfig(
            api_key=api_key,
            api_secret=api_secret,
            host=args.host,
            port=args.port,
            state_file=args.state_file,
            seed=args.seed,
            symbols=symbols,
            tick_ms=args.tick_ms,
            stream_ping_seconds=args.stream_ping_seconds,
            spot_fee=Decimal(fees["spot_fee"]),
            futures_fee=Decimal(fees["futures_fee"]),
            weight_limit=args.weight_limit,
            order_limit_10s=args.order_limit_10s,
        )
    except ValueError as error:
        raise _fail(str(error)) from None


async def serve(config: PaperExchangeConfig, ready: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT; state is flushed on the way out."""
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, reuse_address=True)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("listening", extra={
        "host": config.host, "port": config.port, "state_file": config.state_file, "symbols": ",".join(config.symbols),
        "tick_ms": config.tick_ms, "seed": config.seed,
    })
    if ready is not None:
        ready.set()
    await stop.wait()
    log.info("stopping")
    await runner.cleanup()
