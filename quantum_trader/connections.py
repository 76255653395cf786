"""Clients of the services every process talks to, built in one place.

Building a client never connects: the first command does.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from quantum_trader.settings import Settings

# Connections one client holds at most; a command finding them all busy waits for one (up to
# its socket timeout) instead of failing: a worker's thousand watches share one client.
REDIS_POOL_SIZE = 100


def redis_client(
    source: Settings | str,
    *,
    socket_timeout: float = 5,
    socket_connect_timeout: float = 5,
    health_check_interval: int = 0,
) -> Redis:
    """An asyncio Redis client for ``settings.redis_url`` (with its password) or a bare URL.

    Args:
        source: The settings, whose ``redis_password`` secret is used when set, or a URL
            (any password is then part of the URL).
        socket_timeout: Seconds a command may wait for its answer (redis-py's default).
            A blocking read needs more than it blocks for.
        socket_connect_timeout: Seconds a connection attempt may take (redis-py's default).
        health_check_interval: Seconds idle after which a connection is checked with a
            PING before its next command (0: never).
    """
    if isinstance(source, str):
        url, password = source, None
    else:
        url = source.redis_url
        password = source.redis_password.get_secret_value() if source.redis_password else None
    pool = BlockingConnectionPool.from_url(
        url,
        password=password,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_connect_timeout,
        health_check_interval=health_check_interval,
        max_connections=REDIS_POOL_SIZE,
        timeout=socket_timeout,
    )
    return Redis.from_pool(pool)


def redis_location(source: Settings | str) -> str:
    """The Redis URL without its password, for messages and logs."""
    url = source if isinstance(source, str) else source.redis_url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


# What an unreachable Redis raises: refused, reset, timed out, name not resolved.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


@contextlib.asynccontextmanager
async def redis_errors(settings: Settings) -> AsyncIterator[None]:
    """For operator commands: an unreachable Redis becomes one line naming its URL
    (without the password), not a traceback."""
    from quantum_trader.cli import CommandError
    from quantum_trader.startup import short_reason

    try:
        yield
    except REDIS_DOWN as error:
        raise CommandError(f"cannot reach Redis at {redis_location(settings)}: {short_reason(error)}") from None
