"""`connect_websocket`: `cxml.open_websocket` behind the providers' SSRF guard."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from cxml import StreamChannel, StreamError, open_websocket

from .._errors import AssistantUnavailableError, BlockedAddressError
from ..tools import HttpPolicy, check_addresses
from .protocols._common import MAX_MESSAGE

__all__ = ["connect_websocket"]


async def connect_websocket(
    url: str,
    headers: Mapping[str, str],
    *,
    policy: HttpPolicy | None = None,
    open_timeout: float = 10.0,
) -> StreamChannel:
    """Open a WebSocket to ``url`` with ``headers`` (what `ProviderBridge` uses by default).

    The host goes through the same SSRF guard as tool webhooks first: resolved once, every
    address checked, the connection made to the checked address (the name still in ``Host``
    and TLS SNI), no proxy, no cross-origin redirect. ``policy`` (`providers.HttpPolicy`)
    admits private networks (``allowed_networks``) or plain ``ws://`` (``allow_http``).
    An endpoint that does not answer is `AssistantUnavailableError`.
    """
    policy = policy or HttpPolicy()
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    if not secure and not (parts.scheme == "ws" and policy.allow_http):
        raise BlockedAddressError("an AI endpoint is reached over wss:// only")
    try:
        host, port = parts.hostname, parts.port or (443 if secure else 80)
    except ValueError:
        host = None
    if not host:
        raise BlockedAddressError("the AI endpoint's URL has no valid host and port")
    addresses = await check_addresses(host, port, policy)
    try:
        return await open_websocket(
            url,
            headers=headers,
            address=(str(addresses[0]), port),
            open_timeout=open_timeout,
            max_size=MAX_MESSAGE,
        )
    except StreamError:  # its message names the URL, which may carry a token
        raise AssistantUnavailableError("the AI endpoint could not be reached") from None
