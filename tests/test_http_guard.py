"""The outbound HTTP guard, against a real HTTP server on 127.0.0.1 (no mocks of httpx).

The server counts the requests it receives, so every refusal can assert that nothing left.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import ipaddress
import json
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from cxml import CxmlError
from providers._errors import BlockedAddressError, ToolError
from providers.tools import (
    GuardedResponse,
    HttpPolicy,
    check_addresses,
    check_url,
    guarded_request,
)
from tests.loopback import free_port, serving

MIB = 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hits: list[str]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the connection closes after each reply: no keep-alive
    slow_seconds: ClassVar[float] = 1.5

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _reply(
        self, status: int, body: bytes, content_type: str = "application/json", **extra: str
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _route(self) -> None:
        server = self.server
        assert isinstance(server, _Server)
        server.hits.append(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with contextlib.suppress(OSError):  # the client gave up (a timeout or size test)
            self._answer(self.path.split("?", 1)[0], body)

    def _answer(self, path: str, body: bytes) -> None:
        if path == "/json":
            self._reply(200, b'{"ok": true}')
        elif path == "/echo":
            echo = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode(),
            }
            self._reply(200, json.dumps(echo).encode())
        elif path in ("/huge", "/huge-declared"):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if path == "/huge-declared":
                self.send_header("Content-Length", str(MIB))
            self.end_headers()  # without a length, the body ends when the connection closes
            for _ in range(16):
                self.wfile.write(b"x" * (64 * 1024))
        elif path == "/slow":
            time.sleep(self.slow_seconds)
            self._reply(200, b"{}")
        elif path == "/trickle":  # every byte arrives within the read timeout; the whole does not
            self.send_response(200)
            self.send_header("Content-Length", "40")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
        elif path == "/gzip":
            self._reply(200, gzip.compress(b"{}" + b" " * MIB), Content_Encoding="gzip")
        elif path == "/redirect":
            self._reply(302, b"", Location="http://169.254.169.254/latest/meta-data/")
        else:
            self._reply(404, b"{}")


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.hits = []
    with serving(httpd):
        yield httpd


@pytest.fixture
def base(server: _Server) -> str:
    server.hits.clear()
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def port(server: _Server) -> int:
    server.hits.clear()
    return int(server.server_address[1])


LOCAL = HttpPolicy(allow_http=True, allowed_networks=("127.0.0.0/8",))


class Resolver:
    """An injected resolver that answers every name with fixed addresses and counts calls."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return list(self.answers)


def run(coro: Awaitable[GuardedResponse]) -> GuardedResponse:
    async def main() -> GuardedResponse:
        return await coro

    return asyncio.run(main())


def get(url: str, policy: HttpPolicy, **kw: Any) -> GuardedResponse:
    return run(guarded_request(kw.pop("method", "GET"), url, policy=policy, **kw))


BLOCKED = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "::1",
    "::",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata address
    "2002:7f00:1::",
    "2002:c0a8:101::",  # 6to4 of 192.168.1.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo of 127.0.0.1
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.0.8",
    "192.0.2.1",
    "198.18.0.1",
    "2001:db8::1",
]


def _literal(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@pytest.mark.parametrize("address", BLOCKED)
def test_blocked_literal_hosts_are_refused(address: str, port: int, server: _Server) -> None:
    resolver = Resolver("93.184.216.34")
    policy = HttpPolicy(allow_http=True, resolve=resolver)
    with pytest.raises(BlockedAddressError) as info:
        get(f"http://{_literal(address)}:{port}/json", policy)
    assert info.value.code == "BLOCKED_ADDRESS"
    assert resolver.calls == []  # a literal is checked as it is, never resolved
    assert server.hits == []


@pytest.mark.parametrize("address", BLOCKED)
def test_names_resolving_to_blocked_addresses_are_refused(
    address: str, port: int, server: _Server
) -> None:
    resolver = Resolver(address)
    with pytest.raises(BlockedAddressError):
        get(f"http://service.example:{port}/json", HttpPolicy(allow_http=True, resolve=resolver))
    assert resolver.calls == ["service.example"]
    assert server.hits == []


@pytest.mark.parametrize(
    "answers", [("93.184.216.34", "127.0.0.1"), ("127.0.0.1", "93.184.216.34"), ("8.8.8.8", "::1")]
)
def test_one_blocked_address_among_good_ones_refuses(
    answers: tuple[str, ...], port: int, server: _Server
) -> None:
    policy = HttpPolicy(allow_http=True, resolve=Resolver(*answers))
    with pytest.raises(BlockedAddressError):
        get(f"http://service.example:{port}/json", policy)
    assert server.hits == []


def test_public_addresses_pass_the_check() -> None:
    answers = ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "93.184.216.34")
    policy = HttpPolicy(resolve=Resolver(*answers))
    found = asyncio.run(check_addresses("service.example", 443, policy))
    assert [str(a) for a in found] == list(answers[:2])  # in order, without duplicates


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "::ffff:8.8.8.8", "2002:808:808::1"])
def test_wrapped_public_addresses_pass(address: str) -> None:
    # a DNS64 network answers with NAT64 addresses for every IPv4-only host
    policy = HttpPolicy(resolve=Resolver(address))
    found = asyncio.run(check_addresses("service.example", 443, policy))
    assert found == [ipaddress.ip_address(address)]


def test_allowed_networks_cover_wrapped_addresses() -> None:
    found = asyncio.run(check_addresses("::ffff:127.0.0.1", 80, LOCAL))
    assert found == [ipaddress.ip_address("::ffff:127.0.0.1")]
    with pytest.raises(BlockedAddressError):
        asyncio.run(check_addresses("10.0.0.1", 80, LOCAL))


@pytest.mark.parametrize(
    "host",
    [
        "0x7f000001",
        "2130706433",
        "0177.0.0.1",
        "127.1",
        "127.0.1",
        "0x7f.0.0.1",
        "127.000.000.001",
        "017700000001",
        "1.2.3.4.5",
        "127.0.0.1.",
        "example.com.",
        "0x7F000001",
        "under_score.example",
        "-dash.example",
        "exa%20mple.com",
        "[fe80::1%25eth0]",
    ],
)
def test_non_standard_host_spellings_are_refused_before_resolution(
    host: str, port: int, server: _Server
) -> None:
    resolver = Resolver("127.0.0.1")
    policy = HttpPolicy(allow_http=True, allowed_networks=("127.0.0.0/8",), resolve=resolver)
    with pytest.raises(BlockedAddressError):
        get(f"http://{host}:{port}/json", policy)
    assert resolver.calls == []
    assert server.hits == []


@pytest.mark.parametrize(
    "url",
    [
        "http://user@127.0.0.1:{port}/json",
        "http://user:password@127.0.0.1:{port}/json",
        "http://evil.example\\@127.0.0.1:{port}/json",
        "http://user@evil.example@127.0.0.1:{port}/json",
        "http://127.0.0.1:{port}\\json",
        "http://127.0.0.1:{port}/js on",
        "http://127.0.0.1:{port}/json\r\nX-Injected: 1",
        "ftp://127.0.0.1:{port}/json",
        "file:///etc/passwd",
        "gopher://127.0.0.1:{port}/",
        "ws://127.0.0.1:{port}/",
        "https:///json",
        "https://",
        "",
        "/json",
        "https://:443/json",
        "http://127.0.0.1:0/json",
        "http://[::1/json",
    ],
)
def test_malformed_urls_are_refused(url: str, port: int, server: _Server) -> None:
    with pytest.raises(BlockedAddressError):
        get(url.format(port=port), LOCAL)
    assert server.hits == []


def test_non_text_url_is_refused() -> None:
    with pytest.raises(BlockedAddressError):
        check_url(b"https://example.com/", HttpPolicy())  # type: ignore[arg-type]


def test_http_is_refused_unless_allowed(base: str, server: _Server) -> None:
    policy = HttpPolicy(allowed_networks=("127.0.0.0/8",))
    with pytest.raises(BlockedAddressError, match="https"):
        get(f"{base}/json", policy)
    assert server.hits == []
    assert get(f"{base}/json", LOCAL).status == 200


def test_check_url_returns_the_pieces() -> None:
    checked = check_url("https://API.Example.com/v1/tools?key=k#frag", HttpPolicy())
    assert (checked.scheme, checked.host, checked.port, checked.is_ip) == (
        "https",
        "api.example.com",
        443,
        False,
    )
    assert checked.host_header == "api.example.com"
    assert "key=k" not in repr(checked)  # the query may hold a credential
    idna = check_url("https://bücher.example:8443/", HttpPolicy())
    assert (idna.host, idna.host_header) == ("xn--bcher-kva.example", "xn--bcher-kva.example:8443")
    v6 = check_url("http://[2606:4700::1111]/", HttpPolicy(allow_http=True))
    assert (v6.host, v6.port, v6.is_ip) == ("2606:4700::1111", 80, True)


def test_good_request_reaches_the_server(base: str, server: _Server) -> None:
    response = get(f"{base}/json", LOCAL)
    assert response.status == 200
    assert json.loads(response.body) == {"ok": True}
    assert response.content_type == "application/json"
    assert response.headers["content-type"] == "application/json"
    assert server.hits == ["/json"]


def test_the_validated_address_is_pinned(port: int, server: _Server) -> None:
    resolver = Resolver("127.0.0.1")
    policy = HttpPolicy(allow_http=True, allowed_networks=("127.0.0.0/8",), resolve=resolver)
    response = get(
        f"http://api.example.test:{port}/echo?q=1",
        policy,
        method="POST",
        headers={"Authorization": "Bearer t0ken", "Accept-Encoding": "gzip"},
        content=b'{"a": 1}',
    )
    echo = json.loads(response.body)
    assert resolver.calls == ["api.example.test"]  # resolved once, then connected by address
    assert echo["method"] == "POST"
    assert echo["path"] == "/echo?q=1"
    assert echo["body"] == '{"a": 1}'
    assert echo["headers"]["host"] == f"api.example.test:{port}"
    assert echo["headers"]["authorization"] == "Bearer t0ken"
    assert echo["headers"]["accept-encoding"] == "identity"  # the caller's gzip is overridden
    assert server.hits == ["/echo?q=1"]


@pytest.mark.parametrize("path", ["/huge", "/huge-declared"])
def test_large_responses_are_cut_off(path: str, base: str, server: _Server) -> None:
    started = time.monotonic()
    with pytest.raises(ToolError) as info:
        get(base + path, LOCAL)
    assert info.value.code == "RESPONSE_TOO_LARGE"
    assert time.monotonic() - started < 3
    assert server.hits == [path]


def test_max_bytes_is_the_limit(base: str) -> None:
    exact = HttpPolicy(allow_http=True, allowed_networks=("127.0.0.0/8",), max_bytes=12)
    assert get(f"{base}/json", exact).body == b'{"ok": true}'
    smaller = HttpPolicy(allow_http=True, allowed_networks=("127.0.0.0/8",), max_bytes=11)
    with pytest.raises(ToolError, match="larger than 11 bytes"):
        get(f"{base}/json", smaller)


def test_compressed_responses_are_refused(base: str, server: _Server) -> None:
    with pytest.raises(ToolError) as info:
        get(f"{base}/gzip", LOCAL)
    assert info.value.code == "UNSUPPORTED_ENCODING"
    assert server.hits == ["/gzip"]


def test_redirects_are_returned_not_followed(base: str, server: _Server) -> None:
    response = get(f"{base}/redirect", LOCAL)
    assert response.status == 302
    assert response.headers["location"] == "http://169.254.169.254/latest/meta-data/"
    assert server.hits == ["/redirect"]


SHORT = HttpPolicy(
    allow_http=True, allowed_networks=("127.0.0.0/8",), read_timeout=0.3, total_timeout=1.0
)


@pytest.mark.parametrize(("path", "bound"), [("/slow", 0.9), ("/trickle", 1.8)])
def test_slow_servers_time_out(path: str, bound: float, base: str) -> None:
    started = time.monotonic()
    with pytest.raises(ToolError) as info:
        get(base + path, SHORT)
    assert info.value.code == "TIMEOUT"
    assert time.monotonic() - started < bound


def test_a_slow_resolver_is_bounded_by_the_total_timeout() -> None:
    async def stall(host: str, port: int) -> list[str]:
        await asyncio.sleep(10)
        return []

    policy = HttpPolicy(resolve=stall, total_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(ToolError) as info:
        get("https://service.example/", policy)
    assert info.value.code == "TIMEOUT"
    assert time.monotonic() - started < 1


def test_connection_errors_are_tool_errors(port: int) -> None:
    with pytest.raises(ToolError) as info:
        get(f"http://127.0.0.1:{free_port()}/json", LOCAL)
    assert info.value.code == "CONNECT_FAILED"
    # TLS to a plain HTTP server fails in the handshake (the SNI name is sent, too)
    policy = HttpPolicy(allowed_networks=("127.0.0.0/8",), resolve=Resolver("127.0.0.1"))
    with pytest.raises(ToolError) as info:
        get(f"https://api.example.test:{port}/json", policy)
    assert info.value.code == "CONNECT_FAILED"


def _failing(exc: Exception) -> Callable[[str, int], Awaitable[list[str]]]:
    async def resolve(host: str, port: int) -> list[str]:
        raise exc

    return resolve


@pytest.mark.parametrize(
    ("resolve", "code"),
    [
        (_failing(socket.gaierror(-2, "Name or service not known")), "CONNECT_FAILED"),
        (Resolver(), "CONNECT_FAILED"),
        (Resolver("not-an-address"), "BLOCKED_ADDRESS"),
    ],
)
def test_resolution_failures(
    resolve: Callable[[str, int], Awaitable[list[str]]], code: str
) -> None:
    with pytest.raises(ToolError) as info:
        get("https://service.example/", HttpPolicy(resolve=resolve))
    assert info.value.code == code


def test_header_values_never_reach_error_messages(base: str, server: _Server) -> None:
    secret = "s3cr3t-t0ken"
    with pytest.raises(CxmlError) as info:
        get(f"{base}/json", LOCAL, headers={"Authorization": f"Bearer {secret}\r\nX-Evil: 1"})
    assert secret not in str(info.value)
    assert secret not in repr(info.value)
    assert server.hits == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"connect_timeout": 0},
        {"read_timeout": -1},
        {"total_timeout": "10"},
        {"max_bytes": 1.5},
        {"max_bytes": True},
        {"allow_http": "yes"},
        {"allowed_networks": ("not a network",)},
        {"allowed_networks": ("10.0.0.1/8",)},  # host bits set: a typo, not a network
    ],
)
def test_policy_is_validated(kwargs: dict[str, Any]) -> None:
    with pytest.raises(CxmlError):
        HttpPolicy(**kwargs)
