"""A real HTTP server on 127.0.0.1 for the tests that need one, stopped however they end."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import BaseServer
from typing import Any


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
