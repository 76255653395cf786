"""A TCP proxy a test controls: a partition between one process and one server, on demand.

Point a process at :attr:`TcpProxy.address` instead of the server's own port (for example a
worker's ``temporal_address``, while its exchange URL stays direct: the worker is then cut off
from Temporal but not from the exchange). Then:

- :meth:`TcpProxy.pause` stops forwarding in both directions and keeps every connection open,
  as a partition that drops packets without an RST would. Bytes sent meanwhile wait in the
  proxy and the kernel buffers; new connections are accepted but not connected upstream.
- :meth:`TcpProxy.resume` forwards again, held bytes first.
- :meth:`TcpProxy.cut` resets every connection (both sides see an RST); new ones still work.

The proxy runs its own event loop in a daemon thread, so sync and async tests drive it the
same way; every control call returns once it has taken effect.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")
CHUNK = 64 * 1024
CONTROL_TIMEOUT_SECONDS = 10.0


@dataclass(eq=False)
class _Link:
    """One proxied connection: the client's side and the upstream side."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None

    def writers(self) -> list[asyncio.StreamWriter]:
        return [w for w in (self.client, self.upstream) if w is not None]


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST (SO_LINGER 0) rather than a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


class TcpProxy:
    """Forwards ``host:port`` (a free port by default) to ``target_host:target_port``.

    Attributes:
        target_host: Where connections are forwarded to.
        target_port: Its port.
        port: The proxy's own port, known once started.
    """

    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"tcp-proxy-{target_port}", daemon=True)
        self._flowing = asyncio.Event()
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        """``host:port`` to give a client instead of the target's."""
        return f"{self.host}:{self.port}"

    @property
    def paused(self) -> bool:
        return not self._flowing.is_set()

    def start(self) -> TcpProxy:
        self._thread.start()
        self._server = self._run(self._listen())
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def pause(self) -> None:
        """Stop forwarding both ways; connections stay open."""
        self._run(self._set_flowing(False))

    def resume(self) -> None:
        """Forward again, held bytes first."""
        self._run(self._set_flowing(True))

    def cut(self) -> int:
        """Reset every open connection; return how many there were."""
        return self._run(self._cut())

    def connections(self) -> int:
        """How many client connections are open through the proxy."""
        return self._run(self._count())

    def stop(self) -> None:
        """Stop listening, reset every connection and end the proxy's thread."""
        if not self._thread.is_alive():
            return
        self._run(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=CONTROL_TIMEOUT_SECONDS)
        self._loop.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # ---- inside the proxy's loop -------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=CONTROL_TIMEOUT_SECONDS)

    async def _listen(self) -> asyncio.Server:
        self._flowing.set()
        return await asyncio.start_server(self._accept, self.host, self.port)

    async def _set_flowing(self, flowing: bool) -> None:
        if flowing:
            self._flowing.set()
        else:
            self._flowing.clear()

    async def _count(self) -> int:
        return len(self._links)

    async def _cut(self) -> int:
        links = list(self._links)
        for link in links:
            for writer in link.writers():
                _reset(writer)
        self._links.clear()
        return len(links)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._cut()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(writer)
        self._links.add(link)
        try:
            await self._flowing.wait()
            try:
                upstream_reader, link.upstream = await asyncio.open_connection(self.target_host, self.target_port)
            except OSError:
                return
            pipes = [
                asyncio.create_task(self._pipe(reader, link.upstream)),
                asyncio.create_task(self._pipe(upstream_reader, writer)),
            ]
            try:
                # Either side ending ends the connection: the proxy never half-closes.
                await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pipe in pipes:
                    pipe.cancel()
                await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._links.discard(link)
            for each in link.writers():
                each.transport.abort()

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while True:
                await self._flowing.wait()
                data = await source.read(CHUNK)
                if not data:
                    return
                # Paused while reading: hold the bytes until resumed.
                await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            return
