"""The original Redis-streams execution path, rebuilt for comparison only.

    python -m bench.baseline router|executor

As the system this project replaces worked (see its P0 report):

- the **router** reads ``quantum:stream:ai.decision.made`` through a consumer group,
  approves a decision whose confidence passes the threshold, deduplicates with
  ``SET quantum:dedup:trade_intent:<trace_id> 1 NX EX 86400`` and then ``XADD``s the intent
  (one ``data`` field of JSON) to ``quantum:stream:trade.intent``;
- the **executor** reads the intent stream through ``quantum:group:execution:trade.intent``,
  acknowledges each entry **as soon as it is read** (a crash afterwards loses the intent),
  places a MARKET order with python-binance's ``AsyncClient`` without a client order ID,
  and appends the outcome to ``quantum:stream:execution.result`` in the original field names
  (plus ``trace_id``, so the benchmark can match it).

No retries, no reconciliation, no exchange-side idempotency: the fast and unsafe anchor.
The executor places the orders of one read concurrently over one reused HTTP session,
which is the fastest honest form of that design.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import sys
import time
from decimal import Decimal
from typing import Any

from binance import AsyncClient
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from quantum_trader import constants, logs
from quantum_trader.connections import redis_client
from quantum_trader.settings import Settings
from quantum_trader.states import OrderStatus

log = logging.getLogger("bench.baseline")

ROUTER_GROUP = "quantum:group:router:ai.decision.made"
EXECUTION_GROUP = "quantum:group:execution:trade.intent"
READ_COUNT = 64
BLOCK_MS = 1_000
# The original result's status for the exchange order's; anything else was "rejected".
RESULT_STATUS = {OrderStatus.FILLED: "filled", OrderStatus.PARTIALLY_FILLED: "partial"}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def ensure_group(redis: Redis, stream: str, group: str) -> None:
    try:
        await redis.xgroup_create(stream, group, id="$", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


class Router:
    def __init__(self, settings: Settings, redis: Redis, stop: asyncio.Event) -> None:
        self.settings, self.redis, self.stop = settings, redis, stop
        self.consumer = f"router-{socket.gethostname()}-{os.getpid()}"

    async def run(self) -> None:
        await ensure_group(self.redis, constants.DECISION_STREAM, ROUTER_GROUP)
        while not self.stop.is_set():
            response = await self.redis.xreadgroup(
                ROUTER_GROUP, self.consumer, {constants.DECISION_STREAM: ">"}, count=READ_COUNT, block=BLOCK_MS
            )
            for _, entries in response or []:
                for entry_id, fields in entries:
                    await self.route({_text(k): _text(v) for k, v in fields.items()})
                    await self.redis.xack(constants.DECISION_STREAM, ROUTER_GROUP, entry_id)

    async def route(self, decision: dict[str, str]) -> None:
        trace_id = decision.get("trace_id", "")
        if Decimal(decision.get("confidence", "0")) < self.settings.min_confidence:
            log.info("Strategy rejected trace_id=%s", trace_id)
            return
        log.info("Strategy approved trace_id=%s symbol=%s", trace_id, decision.get("symbol"))
        fresh = await self.redis.set(
            f"{constants.INTENT_DEDUP_KEY_PREFIX}{trace_id}", "1", nx=True, ex=constants.INTENT_DEDUP_TTL_SECONDS
        )
        if not fresh:
            log.info("DUPLICATE_SKIP trace_id=%s", trace_id)
            return
        intent = {**decision, "action": decision.get("action") or decision.get("side", "")}
        await self.redis.xadd(
            constants.INTENT_STREAM, {"data": json.dumps(intent)}, maxlen=constants.INTENT_STREAM_MAXLEN, approximate=True
        )


def _client_class(exchange_url: str) -> type[AsyncClient]:
    base = exchange_url.rstrip("/")
    return type("PaperAsyncClient", (AsyncClient,), {"API_URL": f"{base}/api", "API_TESTNET_URL": f"{base}/api"})


class Executor:
    def __init__(self, settings: Settings, redis: Redis, stop: asyncio.Event) -> None:
        self.settings, self.redis, self.stop = settings, redis, stop
        self.consumer = f"execution-{socket.gethostname()}-{os.getpid()}"
        self.client: AsyncClient | None = None

    async def run(self) -> None:
        key, secret = self.settings.binance_credentials
        assert self.settings.exchange_url, "the baseline trades on the paper exchange only"
        self.client = await _client_class(self.settings.exchange_url).create(key, secret)
        await ensure_group(self.redis, constants.INTENT_STREAM, EXECUTION_GROUP)
        try:
            while not self.stop.is_set():
                response = await self.redis.xreadgroup(
                    EXECUTION_GROUP, self.consumer, {constants.INTENT_STREAM: ">"}, count=READ_COUNT, block=BLOCK_MS
                )
                for _, entries in response or []:
                    # The original's immediate ACK: from here on nothing remembers the entry.
                    await self.redis.xack(constants.INTENT_STREAM, EXECUTION_GROUP, *[entry_id for entry_id, _ in entries])
                    intents = [json.loads(_text(fields[b"data"])) for _, fields in entries]
                    results = await asyncio.gather(*(self.execute(intent) for intent in intents))
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for result in results:
                            pipe.xadd(self.settings.result_stream, result, maxlen=self.settings.result_stream_maxlen, approximate=True)
                        await pipe.execute()
        finally:
            await self.client.close_connection()

    async def execute(self, intent: dict[str, str]) -> dict[str, str]:
        assert self.client is not None
        symbol, action, trace_id = intent.get("symbol", ""), intent.get("action", "").upper(), intent.get("trace_id", "")
        result = {
            "trace_id": trace_id, "symbol": symbol, "action": action, "entry_price": "", "position_size_usd": "",
            "leverage": intent.get("leverage", "1"), "timestamp": str(int(time.time() * 1000)),
            "order_id": "", "status": "rejected", "slippage_pct": "", "fee_usd": "",
        }
        try:
            order = await self.client.create_order(symbol=symbol, side=action, type="MARKET", quantity=intent["quantity"])
        except Exception as error:  # the original logged the failure and moved on
            log.info("TERMINAL STATE: FAILED | Reason: %s | trace_id=%s", error, trace_id)
            return result
        filled = Decimal(str(order.get("executedQty", "0")))
        quote = Decimal(str(order.get("cummulativeQuoteQty", "0")))
        status = RESULT_STATUS.get(order.get("status", ""), "rejected")
        result.update(
            order_id=str(order.get("orderId", "")), status=status, timestamp=str(int(time.time() * 1000)),
            entry_price=str(quote / filled) if filled else "", position_size_usd=str(quote),
        )
        log.info("TERMINAL STATE: %s | %s %s | trace_id=%s", status.upper(), symbol, action, trace_id)
        return result


async def serve(role: str, settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    redis = redis_client(settings)
    try:
        await (Router if role == "router" else Executor)(settings, redis, stop).run()
    finally:
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=("router", "executor"))
    args = parser.parse_args()
    settings = Settings()
    logs.configure(settings, f"baseline-{args.role}")
    asyncio.run(serve(args.role, settings))
    sys.stderr.flush()


if __name__ == "__main__":
    main()
