"""The test-controlled TCP proxy (tests/support/proxy.py): pause, resume and cut, on plain
sockets and between a Temporal client and a real dev server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import RPCError

from tests.support.eventually import eventually
from tests.support.processes import Proc
from tests.support.proxy import TcpProxy
from tests.support.stack import temporal_proc

SILENCE_SECONDS = 0.5


class EchoServer:
    """Echoes every byte back on each connection; one thread per connection."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def echo_proxy() -> Iterator[TcpProxy]:
    server = EchoServer()
    with TcpProxy("127.0.0.1", server.port) as proxy:
        yield proxy
    server.close()


def connect(proxy: TcpProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=5)


def nothing_arrives(sock: socket.socket) -> bool:
    """No byte within a short silence (a bounded wait, not a timing assertion)."""
    sock.settimeout(SILENCE_SECONDS)
    try:
        sock.recv(4096)
    except TimeoutError:
        return True
    finally:
        sock.settimeout(5)
    return False


def test_proxy_forwards_both_ways(echo_proxy: TcpProxy) -> None:
    with connect(echo_proxy) as sock:
        sock.sendall(b"ping")
        assert sock.recv(4096) == b"ping"
        assert echo_proxy.connections() == 1


def test_paused_proxy_holds_bytes_keeps_the_connection_and_delivers_on_resume(echo_proxy: TcpProxy) -> None:
    with connect(echo_proxy) as sock:
        sock.sendall(b"before")
        assert sock.recv(4096) == b"before"
        echo_proxy.pause()
        sock.sendall(b"during")
        assert nothing_arrives(sock)
        assert echo_proxy.connections() == 1  # no RST, no FIN: the connection is still there
        echo_proxy.resume()
        assert sock.recv(4096) == b"during"


def test_connection_opened_while_paused_waits_for_resume(echo_proxy: TcpProxy) -> None:
    echo_proxy.pause()
    with connect(echo_proxy) as sock:
        sock.sendall(b"early")
        assert nothing_arrives(sock)
        echo_proxy.resume()
        assert sock.recv(4096) == b"early"


def test_cut_resets_every_connection_and_new_ones_work(echo_proxy: TcpProxy) -> None:
    first, second = connect(echo_proxy), connect(echo_proxy)
    for sock in (first, second):
        sock.sendall(b"x")
        assert sock.recv(16) == b"x"
    assert echo_proxy.cut() == 2
    for sock in (first, second):
        try:
            assert sock.recv(16) == b""
        except ConnectionResetError:
            pass
        sock.close()
    with connect(echo_proxy) as sock:
        sock.sendall(b"again")
        assert sock.recv(4096) == b"again"


@pytest.fixture(scope="module")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    home: Path = tmp_path_factory.mktemp("proxy-temporal")
    proc: Proc
    proc, port, _ = temporal_proc(home)
    proc.start(wait_port=port, timeout=60)
    try:
        yield port
    finally:
        proc.stop()


async def system_info(client: Client) -> bool:
    await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=2))
    return True


async def answers(client: Client) -> bool:
    try:
        return await system_info(client)
    except RPCError:
        return False


async def connected(address: str) -> Client | None:
    """A client once the frontend answers: its port opens before it is healthy."""
    try:
        return await Client.connect(address)
    except (RuntimeError, RPCError):
        return None


async def test_temporal_client_through_a_paused_proxy_times_out_and_recovers(temporal_server: int) -> None:
    with TcpProxy("127.0.0.1", temporal_server) as proxy:
        client = await eventually(lambda: connected(proxy.address), timeout=60, what="the dev server's frontend healthy")
        assert await system_info(client)
        proxy.pause()
        with pytest.raises(RPCError):
            await system_info(client)
        proxy.resume()
        await eventually(lambda: answers(client), timeout=30, what="Temporal through the resumed proxy")
        proxy.cut()
        await eventually(lambda: answers(client), timeout=30, what="Temporal after the proxy cut the connection")
