"""Stream URLs from templates, with nothing a value can do to the URL's shape.

Rules (reference routing.md §5, security.md §5): the template is ``wss://``; placeholders
``{name}`` come from an allow-list; every value is percent-encoded as one component
(``quote(v, safe="")``, PHP's rawurlencode); nothing may be left over; and after rendering,
scheme, host and port must still be the template's.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import quote, urlsplit

from ._errors import StreamUrlError

__all__ = [
    "CALL_PLACEHOLDERS",
    "CONFIG_PLACEHOLDERS",
    "check_template",
    "check_websocket_url",
    "render_stream_url",
]

#: Filled from the call: CallSid, From, To.
CALL_PLACEHOLDERS: Final = frozenset({"session", "from", "to"})
#: Filled from an assistant's configuration (OPBX's list); providers add their own fields.
CONFIG_PLACEHOLDERS: Final = frozenset(
    {"bot_id", "auth_token", "api_key", "assistant_id", "agent_id", "app_id", "workspace_id",
     "project_id"}
)  # fmt: skip
_PLACEHOLDER: Final = re.compile(r"\{([a-z_]+)\}")


def render_stream_url(
    template: str, values: Mapping[str, object], *, allowed: Iterable[str] | None = None
) -> str:
    """Fill ``template``'s placeholders with ``values``, each encoded as one URL component.

    ``allowed`` replaces the default allow-list (`CONFIG_PLACEHOLDERS` and
    `CALL_PLACEHOLDERS`). Raises `StreamUrlError` for a template that is not ``wss://``, a
    placeholder not allowed or without a value, a value that is not text or a number (or is
    text no URL can carry: a lone surrogate), a value made only of dots (a path segment that
    would climb), or a result whose scheme, host or port differ from the template's.
    Messages name placeholders, never values.
    """
    names = frozenset(allowed) if allowed is not None else CONFIG_PLACEHOLDERS | CALL_PLACEHOLDERS
    origin, used = _checked_template(template, names)
    for name in used:
        if name not in values or values[name] is None:
            raise StreamUrlError(f"Template contains unsubstituted placeholder: {{{name}}}")

    def encoded(match: re.Match[str]) -> str:
        name = match.group(1)
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise StreamUrlError(f"{{{name}}} must be text or a whole number")
        text = str(value)
        if text and set(text) == {"."}:
            raise StreamUrlError(f"{{{name}}} may not be a dot segment")
        try:
            return quote(text, safe="")
        except UnicodeEncodeError:  # a lone surrogate (JSON's "\udc80"): no UTF-8, no URL
            raise StreamUrlError(f"{{{name}}} is not valid Unicode text") from None

    url = _PLACEHOLDER.sub(encoded, template)
    if "{" in url or "}" in url:
        raise StreamUrlError("the template has a malformed placeholder")
    rendered = urlsplit(url)
    if (rendered.scheme, rendered.hostname, rendered.port) != origin:  # the port was checked
        raise StreamUrlError("rendering changed the URL's scheme, host or port")
    return url


@functools.lru_cache(maxsize=256)
def _checked_template(
    template: str, names: frozenset[str]
) -> tuple[tuple[str, str | None, int | None], tuple[str, ...]]:
    """A template's origin (scheme, host, port) and placeholders, checked once per template:
    an assistant's template is rendered on every call it takes."""
    problem = check_template(template, names)
    if problem is not None:
        raise StreamUrlError(problem)
    base = urlsplit(template)
    try:
        port = base.port
    except ValueError:  # out of range, or not a number
        raise StreamUrlError("the template's port is not a valid port") from None
    return (base.scheme, base.hostname, port), tuple(_PLACEHOLDER.findall(template))


def check_template(template: str, allowed: Iterable[str]) -> str | None:
    """Why ``template`` cannot be a stream URL template with these placeholders, or None."""
    if not template.startswith("wss://"):
        return "a stream URL template must start with wss://"
    netloc = urlsplit(template).netloc
    if "{" in netloc or "}" in netloc:
        return "a stream URL template may not have placeholders in its host"
    names = frozenset(allowed)
    for name in _PLACEHOLDER.findall(template):
        if name not in names:
            return f"Disallowed placeholder: {{{name}}}"
    return None


def check_websocket_url(url: object, *, secure: bool = True) -> str | None:
    """Why ``url`` cannot be a configured WebSocket endpoint, or None if it can.

    An endpoint is a whole URL from configuration: ``wss://`` (or ``ws://`` when not
    ``secure``), a host, no user info, no fragment.
    """
    if not isinstance(url, str):
        return "must be a URL"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a bad port
    except ValueError:
        return "is not a valid URL"
    schemes = ("wss",) if secure else ("wss", "ws")
    if parts.scheme not in schemes:
        return f"must start with {' or '.join(s + '://' for s in schemes)}"
    if not parts.hostname:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        return "may not carry user info"
    if parts.fragment or "\\" in url or any(c.isspace() for c in url):
        return "may not have a fragment, backslashes or white space"
    return None
