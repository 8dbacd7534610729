"""The one size-capped reader of HTTP response bodies (the simulator's app requests, the
providers' tool webhooks): a body that could exceed the cap is refused, never buffered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import CxmlError

if TYPE_CHECKING:
    import httpx

__all__ = ["read_capped_body"]


async def read_capped_body(response: httpx.Response, max_bytes: int) -> bytes:
    """The whole body of a ``response`` opened with ``stream=True``, if it is at most
    ``max_bytes`` long.

    A compressed body is refused before reading (decompressing would dodge the cap): a
    `CxmlError` with code 11200. A body over the cap is a `CxmlError` with code 11750, as
    soon as its ``Content-Length`` or the bytes read so far say so.
    """
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", ""):
        raise CxmlError(f"a {encoding[:32]}-encoded body was refused", code=11200)
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise CxmlError(f"the body is {length} bytes, over {max_bytes}", code=11750)
    body = bytearray()
    async for chunk in response.aiter_bytes():  # identity, checked above: no decoding
        body += chunk
        if len(body) > max_bytes:
            raise CxmlError(f"the body is over {max_bytes} bytes", code=11750)
    return bytes(body)
