"""Signed tokens: small JSON payloads with an expiry, HMAC-SHA256 over a shared secret.

Used wherever state leaves the process and comes back: the assistant named in a media
stream's Parameter, and (in flows.routing) the per-call state in callback URLs. The token is
``base64url(json) "." base64url(mac)``: URL-safe, so it needs no further escaping in a query.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import json
import time
from collections.abc import Mapping

from ._errors import SignatureError

__all__ = ["sign", "verify"]

# One encoder, made once: json.dumps builds a new one per call when given options.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@functools.lru_cache(maxsize=64)
def _keyed(secret: str | bytes) -> hmac.HMAC:
    """An HMAC-SHA256 already keyed with ``secret``: copying it skips the key schedule."""
    key = secret.encode() if isinstance(secret, str) else secret
    if len(key) < 16:
        raise SignatureError("the signing secret must be at least 16 bytes long")
    return hmac.new(key, digestmod="sha256")


def _mac(secret: str | bytes, message: bytes) -> bytes:
    keyed = _keyed(secret).copy()
    keyed.update(message)
    return keyed.digest()


def sign(
    payload: Mapping[str, object], secret: str | bytes, *, ttl: float, now: float | None = None
) -> str:
    """A token carrying ``payload`` (JSON-able; key ``exp`` is reserved) for ``ttl`` seconds."""
    if "exp" in payload:
        raise SignatureError("'exp' is reserved for the expiry")
    issued = time.time() if now is None else now
    # The MAC covers these exact bytes, so key order need not be canonical.
    body = _COMPACT.encode({**payload, "exp": int(issued + ttl)}).encode()
    head = _b64(body)
    mac = _mac(secret, head.encode("ascii"))
    return f"{head}.{_b64(mac)}"


def verify(token: str, secret: str | bytes, *, now: float | None = None) -> dict[str, object]:
    """The payload of a token this secret signed, if it has not expired; else SignatureError."""
    head, dot, mac_text = token.partition(".") if isinstance(token, str) else ("", "", "")
    if not dot or not head.isascii() or not mac_text.isascii():
        raise SignatureError("malformed token")
    expected = _mac(secret, head.encode("ascii"))
    # Compare the MAC's text before decoding anything the sender wrote: base64 decoding
    # ignores a last character's spare bits, and JSON decoding of a forgery could recurse.
    if not hmac.compare_digest(mac_text.encode("ascii"), _b64(expected).encode("ascii")):
        raise SignatureError("the token's signature does not match")
    try:
        payload = json.loads(_unb64(head))
    except (binascii.Error, ValueError, RecursionError):
        raise SignatureError("malformed token") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
        raise SignatureError("malformed token")
    if (time.time() if now is None else now) > payload["exp"]:
        raise SignatureError("the token has expired")
    del payload["exp"]
    return payload
