"""Loopback peers for the tests: a real HTTP server on 127.0.0.1, stopped however the test
ends; bounded async scenarios; the platform's side of a media stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import threading
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import BaseServer
from typing import Any

from providers.media import PlatformPeer
from providers.media.protocols import Media


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (until something takes it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_process(process: subprocess.Popen[Any]) -> None:
    """Terminate a server process started by a test, killing it if it does not exit."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def run(scenario: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    """Run ``scenario()`` in a new event loop, failing it after ``timeout`` seconds."""

    async def bounded() -> Any:
        return await asyncio.wait_for(scenario(), timeout)

    return asyncio.run(bounded())


async def media_until(socket: Any, peer: PlatformPeer, frames: int) -> list[bytes]:
    """The payloads of the next ``frames`` media messages ``socket`` receives (marks and clears
    skipped), read as the platform ``peer`` reads them."""
    got: list[bytes] = []
    while len(got) < frames:
        event = peer.parse(await socket.recv())
        if isinstance(event, Media):
            got.append(event.payload)
    return got


@contextlib.contextmanager
def serving(server: BaseServer) -> Iterator[None]:
    """Serve ``server`` (bound to a loopback port) from a thread while the block runs."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert not thread.is_alive()


class Webhooks(ThreadingHTTPServer):
    """Tool webhooks on 127.0.0.1: ``/order`` and ``/slow`` answer an order's status, ``/fail``
    a 500, ``/hang`` nothing until ``release``; each request is kept in ``received`` (path,
    JSON body, Authorization header)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _WebhookHandler)
        self.received: list[dict[str, Any]] = []
        self.arrived = threading.Event()  # a request reached /slow
        self.release = threading.Event()  # /slow and /hang answer once it is set

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _WebhookHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        server = self.server
        assert isinstance(server, Webhooks)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server.received.append({"path": self.path, "body": body,
                                "authorization": self.headers.get("Authorization")})  # fmt: skip
        if self.path == "/slow":
            server.arrived.set()
            server.release.wait(30)
        if self.path == "/hang":
            server.release.wait(30)
        status, reply = {
            "/order": (200, {"status": "shipped", "eta": "Friday"}),
            "/slow": (200, {"status": "shipped", "eta": "Friday"}),
            "/fail": (500, {"error": "database down"}),
        }.get(self.path, (404, {"error": "no such hook"}))
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextlib.contextmanager
def webhooks() -> Iterator[Webhooks]:
    """A `Webhooks` server, serving while the block runs; no handler outlives it."""
    server = Webhooks()
    with serving(server):
        try:
            yield server
        finally:
            server.release.set()
