"""A pausable TCP proxy: a partition between one process and one server, for the chaos run.

A process given :attr:`Partition.address` instead of the server's own address reaches the
server through this proxy. :meth:`Partition.pause` stops forwarding both ways and keeps every
connection open (bytes wait, new connections are accepted but not connected upstream), as a
network that drops packets without an RST would; :meth:`Partition.resume` forwards again,
held bytes first. It runs on the caller's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib

CHUNK = 64 * 1024


class Partition:
    """Forwards ``host:port`` (a free port unless given) to ``target_host:target_port``."""

    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = host
        self.port = port
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def paused(self) -> bool:
        return not self._flowing.is_set()

    async def start(self) -> Partition:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def pause(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.cancel()
        await asyncio.gather(*self._links, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = asyncio.current_task()
        assert link is not None
        self._links.add(link)
        upstream: asyncio.StreamWriter | None = None
        try:
            await self._flowing.wait()
            try:
                upstream_reader, upstream = await asyncio.open_connection(self.target_host, self.target_port)
            except OSError:
                return
            pipes = [asyncio.create_task(self._pipe(reader, upstream)), asyncio.create_task(self._pipe(upstream_reader, writer))]
            try:
                # Either side ending ends the connection: the proxy never half-closes.
                await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pipe in pipes:
                    pipe.cancel()
                await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._links.discard(link)
            for each in (writer, upstream):
                if each is not None:
                    each.transport.abort()

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                await self._flowing.wait()
                data = await source.read(CHUNK)
                if not data:
                    return
                await self._flowing.wait()  # paused while reading: hold the bytes until resumed
                sink.write(data)
                await sink.drain()
