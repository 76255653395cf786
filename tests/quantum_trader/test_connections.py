"""The one Redis client factory, against a real redis-server."""

from __future__ import annotations

import asyncio

from quantum_trader.connections import REDIS_POOL_SIZE, redis_client
from tests.conftest import Stack


async def test_more_concurrent_commands_than_the_pool_holds_wait_for_a_connection_instead_of_failing(stack: Stack) -> None:
    # A worker with a thousand watches reads the store from all of them at once; a full pool
    # used to raise "Too many connections", which every caller takes for Redis being down.
    redis = redis_client(stack.redis_url)
    try:
        answers = await asyncio.gather(*(redis.blpop([f"test:pool:{i}"], timeout=0.2) for i in range(3 * REDIS_POOL_SIZE)))
    finally:
        await redis.aclose()
    assert answers == [None] * (3 * REDIS_POOL_SIZE)
