"""The chaos run's partition proxy (:class:`tools.partition.Partition`) on an event loop of
its own, in a daemon thread, so sync and async tests drive it the same way; every control
call returns once it has taken effect.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

from tools.partition import Partition

T = TypeVar("T")
CONTROL_TIMEOUT_SECONDS = 10.0


class TcpProxy:
    """Forwards ``host:port`` (a free port by default) to ``target_host:target_port``; see
    :class:`tools.partition.Partition` for what pause, resume and cut do."""

    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"tcp-proxy-{target_port}", daemon=True)
        self._partition = Partition(target_host, target_port, host=host, port=port)

    @property
    def address(self) -> str:
        return self._partition.address

    @property
    def port(self) -> int:
        return self._partition.port

    @property
    def paused(self) -> bool:
        return self._partition.paused

    def start(self) -> TcpProxy:
        self._thread.start()
        self._run(self._partition.start())
        return self

    def pause(self) -> None:
        self._call(self._partition.pause)

    def resume(self) -> None:
        self._call(self._partition.resume)

    def cut(self) -> int:
        return self._call(self._partition.cut)

    def connections(self) -> int:
        return self._call(lambda: self._partition.connections)

    def stop(self) -> None:
        """Stop listening, reset every connection and end the proxy's thread."""
        if not self._thread.is_alive():
            return
        self._run(self._partition.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=CONTROL_TIMEOUT_SECONDS)
        self._loop.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=CONTROL_TIMEOUT_SECONDS)

    def _call(self, action: Callable[[], T]) -> T:
        async def inside() -> T:
            return action()

        return self._run(inside())
