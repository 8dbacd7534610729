"""The outbound HTTP guard: every tool webhook request goes through :func:`guarded_request`.

The rules follow the security reference, section 6:

* the URL is checked before anything else: http(s) only (plain http only when the policy allows
  it), no userinfo, no backslash, and the host must be a DNS name or a canonical IP literal
  (``0x7f000001``, ``2130706433``, ``0177.0.0.1`` and ``127.1`` all reach 127.0.0.1 through
  ``getaddrinfo``, so they are refused rather than interpreted);
* the host is resolved once and *every* address is checked, after unwrapping the IPv4 address
  hidden in IPv4-mapped, 6to4, Teredo and NAT64 addresses; one blocked address refuses the URL;
* the connection goes to the address that was checked (the URL host is replaced by the IP
  literal; the original name travels in the ``Host`` header and in TLS SNI, and the certificate
  is verified against it), so a second DNS answer cannot swap in another address;
* redirects are **not followed**: a 3xx response is returned as it is, for the caller to judge;
* the response must not be compressed (``Accept-Encoding: identity`` is sent and any
  ``Content-Encoding`` is refused: a small gzip body can decode to gigabytes), its raw bytes are
  counted against ``max_bytes``, and the whole exchange runs under one overall deadline.

Every failure is a :class:`~providers.ToolError` (or :class:`~providers.BlockedAddressError`) with a
stable code; httpx exceptions never escape, and messages never repeat header values or the URL's
path and query, which may carry credentials.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs
import httpx

from cxml import CxmlError, read_capped_body

from .._errors import BlockedAddressError, ToolError

__all__ = [
    "CheckedUrl",
    "GuardedResponse",
    "HttpPolicy",
    "check_addresses",
    "check_url",
    "guarded_request",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``resolve(host, port)`` returns the addresses of ``host`` as strings.
Resolver = Callable[[str, int], Awaitable[list[str]]]

#: Ranges refused on top of what ``ipaddress`` reports as not global: its flags miss multicast,
#: 192.0.0.0/24, the 6to4 relay anycast and newer special-purpose blocks (security.md §6.1).
_BLOCKED_NETWORKS: Final[tuple[IPNetwork, ...]] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "169.254.0.0/16",  # link-local, including the 169.254.169.254 metadata service
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_LABEL: Final = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
#: What WHATWG URL parsers read as an IPv4 number when it ends a host name.
_NUMERIC_LABEL: Final = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def _networks(values: Iterable[str | IPNetwork]) -> tuple[IPNetwork, ...]:
    try:
        return tuple(ipaddress.ip_network(v) for v in values)
    except (TypeError, ValueError):
        raise ToolError(
            "HttpPolicy.allowed_networks: expected IP networks such as '127.0.0.0/8'",
            code="INVALID_POLICY",
        ) from None


def _boolean(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise ToolError(
            f"HttpPolicy.{attribute.name}: expected true or false", code="INVALID_POLICY"
        )


def _positive(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    kinds = int if attribute.name == "max_bytes" else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
        raise ToolError(
            f"HttpPolicy.{attribute.name}: expected a positive number", code="INVALID_POLICY"
        )


@attrs.frozen
class HttpPolicy:
    """What an outbound request may do. The defaults suit webhooks on the public internet.

    ``allowed_networks`` are explicit exceptions to the address rules (for example
    ``127.0.0.0/8`` in tests, or a trusted internal service). ``resolve`` replaces DNS
    resolution (it must return every address of the name); by default the running loop's
    ``getaddrinfo`` is used. The timeouts are in seconds: ``read_timeout`` applies to each
    read, ``total_timeout`` to the whole request including resolution.
    """

    allow_http: bool = attrs.field(default=False, validator=_boolean)
    allowed_networks: tuple[IPNetwork, ...] = attrs.field(default=(), converter=_networks)
    connect_timeout: float = attrs.field(default=3.0, validator=_positive)
    read_timeout: float = attrs.field(default=5.0, validator=_positive)
    total_timeout: float = attrs.field(default=10.0, validator=_positive)
    max_bytes: int = attrs.field(default=65536, validator=_positive)
    resolve: Resolver | None = attrs.field(default=None)

    def allows(self, address: IPAddress) -> bool:
        """Whether ``address`` lies in one of the explicitly allowed networks."""
        return any(
            address.version == net.version and address in net for net in self.allowed_networks
        )


@attrs.frozen
class CheckedUrl:
    """A URL that passed :func:`check_url`: ``host`` is lowercase ASCII (IDNA), IPv6 unbracketed."""

    url: httpx.URL = attrs.field(repr=False)  # may carry credentials in its query
    scheme: str
    host: str
    port: int
    is_ip: bool

    @property
    def host_header(self) -> str:
        """The ``Host`` header value (the port only when it is not the scheme's default)."""
        return self.url.netloc.decode("ascii")


@attrs.frozen
class GuardedResponse:
    """A response read in full. ``headers`` has lowercase names (repeated headers joined by
    ``", "``); ``content_type`` is the bare media type, lowercase, or ``""``."""

    status: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)
    content_type: str


def _blocked(reason: str) -> BlockedAddressError:
    return BlockedAddressError(f"outbound request refused: {reason}")


def _check_host(host: str) -> bool:
    """Refuse anything but a DNS name or a canonical IP literal; return whether it is an IP."""
    if ":" in host:  # httpx only accepts this inside brackets, as an IPv6 literal
        try:
            if "%" in host:  # a zone id names a local interface
                raise ValueError
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _blocked("the URL host is not a valid IPv6 address") from None
        return True
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):  # an IPv4 literal: only the dotted-quad spelling
        try:
            canonical = str(ipaddress.IPv4Address(host)) == host
        except ValueError:
            canonical = False
        if not canonical:
            raise _blocked("the URL host is an IPv4 address in a non-standard spelling")
        return True
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise _blocked("the URL host is not a valid DNS name")
    return False


def check_url(url: str, policy: HttpPolicy) -> CheckedUrl:
    """Check ``url`` before any resolution; raise :class:`BlockedAddressError` if it is refused."""
    if not isinstance(url, str):
        raise _blocked(f"expected the URL as text, got {type(url).__name__}")
    if "\\" in url or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise _blocked("the URL contains a backslash, a space or a control character")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise _blocked("the URL cannot be parsed") from None
    allowed = ("http", "https") if policy.allow_http else ("https",)
    if parsed.scheme not in allowed:
        raise _blocked(f"the URL scheme must be {' or '.join(allowed)}")
    if parsed.userinfo:
        raise _blocked("the URL contains userinfo (user@)")
    host = parsed.raw_host.decode("ascii", errors="replace")  # U+FFFD fails the checks
    if not host:
        raise _blocked("the URL has no host")
    is_ip = _check_host(host)
    port = _DEFAULT_PORTS[parsed.scheme] if parsed.port is None else parsed.port
    if not 0 < port < 65536:
        raise _blocked("the URL port is out of range")
    return CheckedUrl(parsed, parsed.scheme, host, port, is_ip)


def _decisive(address: IPAddress) -> list[IPAddress]:
    """The addresses that decide whether ``address`` may be used.

    An IPv4-mapped or NAT64 address reaches exactly the IPv4 address inside it, so that one
    decides (a DNS64 network answers with NAT64 addresses for every IPv4-only host). 6to4 and
    Teredo addresses must pass both as themselves and through the IPv4 addresses they carry.
    """
    if isinstance(address, ipaddress.IPv4Address):
        return [address]
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address in _NAT64:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    found: list[IPAddress] = [address]
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def _is_blocked(address: IPAddress) -> bool:
    return (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or any(address.version == n.version and address in n for n in _BLOCKED_NETWORKS)
    )


def _refused(address: IPAddress, policy: HttpPolicy) -> bool:
    if policy.allows(address):
        return False
    return any(_is_blocked(a) and not policy.allows(a) for a in _decisive(address))


async def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def _resolve(host: str, port: int, policy: HttpPolicy) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass  # a name, not a literal
    try:
        found = await (policy.resolve or _getaddrinfo)(host, port)
        addresses = list(dict.fromkeys(ipaddress.ip_address(a) for a in found))
    except OSError:
        raise ToolError(f"cannot resolve {host}", code="CONNECT_FAILED") from None
    except (TypeError, ValueError):
        raise _blocked(f"{host} resolved to something that is not an IP address") from None
    if not addresses:
        raise ToolError(f"{host} resolved to no address", code="CONNECT_FAILED")
    return addresses


async def check_addresses(host: str, port: int, policy: HttpPolicy) -> list[IPAddress]:
    """Resolve ``host`` (unless it is an IP literal) and return its addresses, in order.

    Raises :class:`BlockedAddressError` if *any* address is blocked and not explicitly allowed by
    ``policy.allowed_networks``, and :class:`ToolError` ``CONNECT_FAILED`` if resolution fails.
    """
    addresses = await _resolve(host, port, policy)
    for address in addresses:
        if _refused(address, policy):
            raise _blocked(f"the address {address} of {host} is not public")
    return addresses


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


async def _read(response: httpx.Response, policy: HttpPolicy) -> GuardedResponse:
    try:
        body = await read_capped_body(response, policy.max_bytes)
    except CxmlError as exc:
        if exc.code == 11750:
            raise ToolError(
                f"the response is larger than {policy.max_bytes} bytes", code="RESPONSE_TOO_LARGE"
            ) from None
        encoding = response.headers.get("content-encoding", "")
        raise ToolError(
            f"the response is compressed ({encoding[:32]}); only identity is accepted",
            code="UNSUPPORTED_ENCODING",
        ) from None
    return GuardedResponse(
        status=response.status_code,
        headers=MappingProxyType(dict(response.headers.items())),
        body=body,
        content_type=_media_type(response.headers.get("content-type")),
    )


@functools.cache
def _tls() -> ssl.SSLContext:
    # Building a context loads the CA bundle: ~60 ms of CPU, so it is built once, in a thread.
    return httpx.create_ssl_context()


async def _send(
    target: CheckedUrl,
    addresses: list[IPAddress],
    method: str,
    *,
    headers: Mapping[str, str] | None,
    content: bytes,
    policy: HttpPolicy,
) -> GuardedResponse:
    sent = httpx.Headers(headers or {})
    sent["Host"] = target.host_header
    sent["Accept-Encoding"] = "identity"
    extensions = {}
    if target.scheme == "https" and not target.is_ip:
        extensions["sni_hostname"] = target.host  # the certificate is checked against this name
    timeout = httpx.Timeout(
        connect=policy.connect_timeout,
        read=policy.read_timeout,
        write=policy.read_timeout,
        pool=policy.connect_timeout,
    )
    # trust_env=False: a proxy from the environment would connect by name, undoing the pinning.
    # The first call builds the context in a thread; later ones take the cached one directly.
    tls = _tls() if _tls.cache_info().currsize else await asyncio.to_thread(_tls)
    async with httpx.AsyncClient(
        trust_env=False, follow_redirects=False, timeout=timeout, verify=tls
    ) as c:
        for index, address in enumerate(addresses):  # the first address that accepts a connection
            request = c.build_request(
                method,
                target.url.copy_with(host=str(address), fragment=None),
                headers=sent,
                content=content,
                extensions=extensions,
            )
            try:
                response = await c.send(request, stream=True)
            except httpx.ConnectError:
                if index + 1 < len(addresses):
                    continue
                raise
            try:
                return await _read(response, policy)
            finally:
                await response.aclose()
    raise AssertionError("unreachable: addresses is never empty")


async def guarded_request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes = b"",
    policy: HttpPolicy = HttpPolicy(),
) -> GuardedResponse:
    """Send one request through the guard and read the whole response (see the module doc).

    Redirects are not followed: a 3xx comes back as it is. Errors: :class:`BlockedAddressError`
    (URL or address refused), :class:`ToolError` with code ``CONNECT_FAILED``, ``TIMEOUT``,
    ``RESPONSE_TOO_LARGE`` or ``UNSUPPORTED_ENCODING``.
    """
    target = check_url(url, policy)
    try:
        async with asyncio.timeout(policy.total_timeout):
            addresses = await check_addresses(target.host, target.port, policy)
            return await _send(
                target, addresses, method, headers=headers, content=content, policy=policy
            )
    except TimeoutError:
        raise ToolError(
            f"no complete response from {target.host} within {policy.total_timeout} s",
            code="TIMEOUT",
        ) from None
    except httpx.TimeoutException:
        raise ToolError(f"{target.host} did not answer in time", code="TIMEOUT") from None
    # The exception text is left out on purpose: it may quote header values (a bearer token).
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise ToolError(
            f"request to {target.host} failed ({type(exc).__name__})", code="CONNECT_FAILED"
        ) from None
