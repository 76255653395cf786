"""One paper exchange process per test session, reset before each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from binance.async_client import AsyncClient
from binance.client import Client

from paper_exchange.admin_client import SyncPaperAdmin
from tests.support.exchange import API_KEY, API_SECRET, Exchange, exchange_args
from tests.support.processes import Proc, free_port


@pytest.fixture(scope="session")
def exchange_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, str]]:
    root = tmp_path_factory.mktemp("paper-exchange")
    port = free_port()
    # Pings every 2 s, so the keepalive tests see several within their bounds.
    args = exchange_args(port, root / "state.db", "--stream-ping-seconds", "2")
    proc = Proc("paper-exchange", args, root / "exchange.log").start(wait_port=port, timeout=30)
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


@pytest.fixture
def exchange(exchange_process: tuple[Proc, str]) -> Exchange:
    proc, base_url = exchange_process
    assert proc.alive(), proc.log_tail()
    admin = SyncPaperAdmin(base_url)
    admin.reset()
    return Exchange(base_url, API_KEY, API_SECRET, admin)


@pytest.fixture
def admin(exchange: Exchange) -> SyncPaperAdmin:
    return exchange.admin


@pytest.fixture
def client(exchange: Exchange) -> Iterator[Client]:
    client = exchange.client()
    yield client
    client.close_connection()


@pytest_asyncio.fixture
async def aclient(exchange: Exchange) -> AsyncIterator[AsyncClient]:
    client = await exchange.async_client()
    yield client
    await client.close_connection()
