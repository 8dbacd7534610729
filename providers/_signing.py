"""Signed tokens: small JSON payloads with an expiry, HMAC-SHA256 over a shared secret.

Used wherever state leaves the process and comes back: the assistant named in a media
stream's Parameter, and (in flows.routing) the per-call state in callback URLs. The token is
``base64url(json) "." base64url(mac)``, without base64 padding: URL-safe, so it needs no
further escaping in a query. Everything here is the standard library's ``hmac``, ``json``
and ``base64``.
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

__all__ = ["Signer", "sign", "verify"]

#: Made once: ``json.dumps`` with options builds a new encoder on every call.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def _b64(data: bytes) -> bytes:
    """base64url without the ``=`` padding (it only pads the end)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs and verifies tokens with one secret (at least 16 bytes).

    The MAC is HMAC-SHA256 (RFC 2104). The keyed HMAC is made once, here, and copied per
    token, so the key schedule is not redone per call. `sign` and `verify` keep one Signer
    per secret; a caller that signs often (the router) holds its own.
    """

    __slots__ = ("_keyed",)

    def __init__(self, secret: str | bytes) -> None:
        if isinstance(secret, str):
            key = secret.encode()
        elif isinstance(secret, bytes | bytearray | memoryview):
            key = bytes(secret)
        else:  # bytes(64) would be 64 zero bytes: a key nobody chose
            raise SignatureError(
                f"the signing secret must be text or bytes, not {type(secret).__name__}"
            )
        if len(key) < 16:
            raise SignatureError("the signing secret must be at least 16 bytes long")
        self._keyed = hmac.new(key, digestmod="sha256")

    def __repr__(self) -> str:
        return "Signer(...)"  # never the key

    def mac(self, message: bytes) -> bytes:
        """HMAC-SHA256 of ``message`` under the secret."""
        mac = self._keyed.copy()
        mac.update(message)
        return mac.digest()

    def sign(self, payload: Mapping[str, object], *, ttl: float, now: float | None = None) -> str:
        """A token carrying ``payload`` (JSON-able; key ``exp`` is reserved) for ``ttl`` s."""
        if "exp" in payload:
            raise SignatureError("'exp' is reserved for the expiry")
        issued = time.time() if now is None else now
        # The MAC covers these exact bytes, so key order need not be canonical.
        body = _COMPACT.encode({**payload, "exp": int(issued + ttl)})
        head = _b64(body.encode("ascii"))
        return (head + b"." + _b64(self.mac(head))).decode("ascii")

    def verify(self, token: str, *, now: float | None = None) -> dict[str, object]:
        """The payload of a token this secret signed, if it has not expired; else
        SignatureError."""
        head, dot, mac_text = token.partition(".") if isinstance(token, str) else ("", "", "")
        if not dot or not head.isascii() or not mac_text.isascii():
            raise SignatureError("malformed token")
        expected = _b64(self.mac(head.encode("ascii")))
        # Compare the MAC's text before decoding anything the sender wrote: base64 decoding
        # ignores a last character's spare bits, and JSON decoding of a forgery could recurse.
        if not hmac.compare_digest(mac_text.encode("ascii"), expected):
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


@functools.lru_cache(maxsize=64)
def _cached_signer(secret: str | bytes) -> Signer:
    return Signer(secret)


def _signer(secret: str | bytes) -> Signer:
    # Only hashable secrets are cached; a bytearray (or a wrong type) gets its own Signer.
    return _cached_signer(secret) if isinstance(secret, str | bytes) else Signer(secret)


def sign(
    payload: Mapping[str, object], secret: str | bytes, *, ttl: float, now: float | None = None
) -> str:
    """A token carrying ``payload`` (JSON-able; key ``exp`` is reserved) for ``ttl`` seconds."""
    return _signer(secret).sign(payload, ttl=ttl, now=now)


def verify(token: str, secret: str | bytes, *, now: float | None = None) -> dict[str, object]:
    """The payload of a token this secret signed, if it has not expired; else SignatureError."""
    return _signer(secret).verify(token, now=now)
