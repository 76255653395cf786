"""Clients of the services every process talks to, built in one place.

Building a client never connects: the first command does.
"""

from __future__ import annotations

from redis.asyncio import Redis

from quantum_trader.settings import Settings


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
    return Redis.from_url(
        url,
        password=password,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_connect_timeout,
        health_check_interval=health_check_interval,
    )
