"""Signed tokens: small JSON payloads with an expiry, HMAC-SHA256 over a shared secret.

Used wherever state leaves the process and comes back: the assistant named in a media
stream's Parameter, and (in flows.routing) the per-call state in callback URLs. The token is
``base64url(json) "." base64url(mac)``: URL-safe, so it needs no further escaping in a query.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import json.encoder
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from ._errors import SignatureError

__all__ = ["Signer", "sign", "verify"]

# One encoder, made once: json.dumps builds a new one per call when given options, and
# JSONEncoder.encode sets up its Python-level helpers per call. The C encoder is made once,
# without circular-reference markers (a dict shared by calls would keep stale ids after a
# failed encoding); a circular payload then ends in RecursionError, reported as json does.
_COMPACT = json.JSONEncoder(separators=(",", ":"))
_MAKE_C_ENCODER: Callable[..., Any] | None = getattr(json.encoder, "c_make_encoder", None)
_C_ENCODER: Callable[[object, int], list[str]] | None = (
    None
    if _MAKE_C_ENCODER is None
    else _MAKE_C_ENCODER(
        None, _COMPACT.default, json.encoder.encode_basestring_ascii, None, ":", ",",
        False, False, True,
    )
)  # fmt: skip
_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")
_b2a: Final = binascii.b2a_base64


def _json(payload: object) -> bytes:
    """Compact JSON, ASCII only (as ``json.dumps`` writes it), as bytes."""
    if _C_ENCODER is None:  # pragma: no cover  # CPython always has the C encoder
        return _COMPACT.encode(payload).encode("ascii")
    try:
        return "".join(_C_ENCODER(payload, 0)).encode("ascii")
    except RecursionError:
        raise ValueError("Circular reference detected (or a payload nested too deep)") from None


def _b64(data: bytes) -> bytes:
    """base64url without padding (what ``urlsafe_b64encode`` gives, minus the ``=``)."""
    return _b2a(data, newline=False).translate(_URLSAFE, b"=")  # "=" only pads the end


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


#: HMAC's pads (RFC 2104), as byte translation tables, as the hmac module builds them.
_IPAD: Final = bytes(x ^ 0x36 for x in range(256))
_OPAD: Final = bytes(x ^ 0x5C for x in range(256))
_SHA256_BLOCK: Final = 64


class Signer:
    """Signs and verifies tokens with one secret (at least 16 bytes).

    The MAC is HMAC-SHA256 (RFC 2104) over the secret, the same bytes as
    ``hmac.new(secret, msg, "sha256")``. The key schedule is done once, here: the two
    SHA-256 states with the padded key absorbed; each token copies them. That is the
    hmac module's own construction, without its Python-level wrapper and OpenSSL's HMAC
    context (whose copy costs more than the two digest copies). `sign` and `verify` keep
    one Signer per secret; hot paths (the router) hold their own.
    """

    __slots__ = ("_inner", "_outer")

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
        if len(key) > _SHA256_BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_SHA256_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def __repr__(self) -> str:
        return "Signer(...)"  # never the key

    def mac(self, message: bytes) -> bytes:
        """HMAC-SHA256 of ``message`` under the secret."""
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def sign(self, payload: Mapping[str, object], *, ttl: float, now: float | None = None) -> str:
        """A token carrying ``payload`` (JSON-able; key ``exp`` is reserved) for ``ttl`` s."""
        if "exp" in payload:
            raise SignatureError("'exp' is reserved for the expiry")
        issued = time.time() if now is None else now
        # The MAC covers these exact bytes, so key order need not be canonical.
        members = _json(dict(payload))[1:-1].decode("ascii")  # its members; "exp" goes after
        return self.sign_members(members, ttl=ttl, now=issued)

    def sign_members(self, members: str, *, ttl: float, now: float) -> str:
        """`sign` for a payload its caller wrote as JSON text: the members of an object,
        comma-separated, without braces and without ``exp`` (``'"k":"ivr","t":0'``).

        For hot paths whose payload has a fixed shape: only the caller's own JSON (strings
        written with ``json.encoder.encode_basestring_ascii``) may go in, never input.
        The token is the one `sign` gives for the same members in the same order.
        """
        if members:
            body = f'{{{members},"exp":{int(now + ttl)}}}'.encode("ascii")
        else:
            body = f'{{"exp":{int(now + ttl)}}}'.encode("ascii")
        # mac and _b64, inline: this is most of a signed callback's cost.
        head = _b2a(body, newline=False).translate(_URLSAFE, b"=")
        inner = self._inner.copy()
        inner.update(head)
        outer = self._outer.copy()
        outer.update(inner.digest())
        mac = _b2a(outer.digest(), newline=False).translate(_URLSAFE, b"=")
        return (head + b"." + mac).decode("ascii")

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
