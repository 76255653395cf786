"""A pausable TCP proxy: a partition between one process and one server, on demand.

A process given :attr:`Partition.address` instead of the server's own address reaches the
server through this proxy (for example a worker's ``temporal_address``, while its exchange
URL stays direct: the worker is then cut off from Temporal but not from the exchange).

- :meth:`Partition.pause` stops forwarding both ways and keeps every connection open (bytes
  wait, new connections are accepted but not connected upstream), as a network that drops
  packets without an RST would.
- :meth:`Partition.resume` forwards again, held bytes first.
- :meth:`Partition.cut` resets every connection (both sides see an RST); new ones still work.

It runs on the caller's event loop; the chaos run uses it as is, and the tests drive it from
a thread of its own (``tests/support/proxy.py``).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass

CHUNK = 64 * 1024


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


class Partition:
    """Forwards ``host:port`` (a free port unless given) to ``target_host:target_port``.

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
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        """``host:port`` to give a client instead of the target's."""
        return f"{self.host}:{self.port}"

    @property
    def paused(self) -> bool:
        return not self._flowing.is_set()

    @property
    def connections(self) -> int:
        """How many client connections are open through the proxy."""
        return len(self._links)

    async def start(self) -> Partition:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def pause(self) -> None:
        """Stop forwarding both ways; connections stay open."""
        self._flowing.clear()

    def resume(self) -> None:
        """Forward again, held bytes first."""
        self._flowing.set()

    def cut(self) -> int:
        """Reset every open connection; return how many there were."""
        links = list(self._links)
        for link in links:
            for writer in link.writers():
                _reset(writer)
        self._links.clear()
        return len(links)

    async def stop(self) -> None:
        """Stop listening and reset every connection."""
        if self._server is not None:
            self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
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
            self._tasks.discard(task)
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
                await self._flowing.wait()  # paused while reading: hold the bytes until resumed
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            return
