"""The events every stream protocol parses into, and the checks they share."""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs

from ..._errors import MediaError, MediaProtocolError
from ..codecs import ENCODINGS, Encoding, encoding_of

__all__ = [
    "MAX_MEDIA_SECONDS",
    "MAX_MESSAGE",
    "Clear",
    "Connected",
    "Dtmf",
    "Event",
    "Mark",
    "Media",
    "Start",
    "Stop",
    "Unknown",
]

#: Largest audio payload taken, in seconds of audio: longer chunks (pipecat sends seconds at
#: once) are cut into 20 ms frames by the bridge; over this, the stream ends (MEDIA_TOO_LARGE).
MAX_MEDIA_SECONDS: Final = 10.0
#: Largest text frame taken: 10 s of 48 kHz PCM16 in base64 is 1.25 MiB.
MAX_MESSAGE: Final = 2 * 1024 * 1024
DTMF_DIGITS: Final = frozenset("0123456789*#ABCDabcd")


def _frozen(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@attrs.frozen
class Connected:
    """The platform opened the stream (Twilio, Cloudonix: ``protocol`` "Call")."""

    protocol: str = ""
    version: str = ""


@attrs.frozen
class Start:
    """A call's stream begins. Platform streams fill ``stream_sid`` and ``parameters`` (the
    ``<Parameter>`` children of ``<Stream>``); SmartPBX fills ``caller``/``callee`` and gives
    its ``callId`` as ``call_sid``, ``accountId`` as ``account_sid``."""

    call_sid: str
    stream_sid: str = ""
    account_sid: str | None = None
    session: str | None = None
    tracks: tuple[str, ...] = ("inbound",)
    parameters: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen)
    encoding: Encoding = "pcmu"
    sample_rate: int = 8000
    caller: str | None = None
    callee: str | None = None


@attrs.frozen
class Media:
    """Audio: ``payload`` is the decoded bytes in the stream's encoding."""

    payload: bytes = attrs.field(repr=lambda p: f"<{len(p)} bytes>")
    track: str | None = None
    chunk: int | None = None
    timestamp: int | None = None


@attrs.frozen
class Dtmf:
    """A key the caller pressed."""

    digit: str


@attrs.frozen
class Mark:
    """A named point in the outbound audio; the platform echoes it once played (or cleared)."""

    name: str


@attrs.frozen
class Clear:
    """Drop the outbound audio buffered at the platform (barge-in)."""


@attrs.frozen
class Stop:
    """The stream ended (the call hung up, or the stream was stopped)."""

    call_sid: str | None = None


def _short(name: object) -> str:
    return str(name)[:40]


@attrs.frozen
class Unknown:
    """A well-formed message of an event this side does not know (``transcript``, a newer
    protocol's events): ignored and counted, never an error. ``name`` is cut to 40
    characters."""

    name: str = attrs.field(converter=_short)


Event = Connected | Start | Media | Dtmf | Mark | Clear | Stop | Unknown

_COMPACT: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dump(message: Any) -> str:
    return _COMPACT.encode(message)


def load(text: str | bytes) -> tuple[str, dict[str, Any]]:
    """(event, message) of a text frame, every shape problem a MediaProtocolError."""
    if not isinstance(text, str):
        raise MediaProtocolError("binary frames are not part of this protocol (text JSON only)")
    if len(text) > MAX_MESSAGE:
        raise MediaProtocolError(
            f"a message of {len(text)} characters is over {MAX_MESSAGE}", code="MEDIA_TOO_LARGE"
        )
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise MediaProtocolError("a message is not JSON") from None
    if not isinstance(message, dict):
        raise MediaProtocolError("a message is a JSON object")
    event = message.get("event")
    if not isinstance(event, str):
        raise MediaProtocolError("a message has no event name")
    return event, message


def section(message: Mapping[str, Any], name: str, *, required: bool = True) -> dict[str, Any]:
    """The object under ``name`` (``{}`` when optional and absent)."""
    value = message.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise MediaProtocolError(f"{message.get('event')}.{name} must be an object")
    return value


def text(message: Mapping[str, Any], name: str, where: str, *, required: bool = True) -> str | None:
    value = message.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise MediaProtocolError(f"{where}.{name} must be non-empty text")
    return value


def number(message: Mapping[str, Any], name: str, where: str) -> int | None:
    """An integer sent as a number or as digits (Twilio sends numbers as strings)."""
    value = message.get(name)
    if value is None:
        return None
    kind = type(value)  # exact types: bool is not a number here, str subclasses cannot come
    if kind is str and len(value) < 19 and value.isascii() and value.isdigit():
        return int(value)
    if kind is int and 0 <= value < 2**63:
        return int(value)
    raise MediaProtocolError(f"{where}.{name} must be a whole number")


def payload(media: Mapping[str, Any], where: str, encoding: Encoding, sample_rate: int) -> bytes:
    """The base64 payload, decoded and checked against the stream's encoding."""
    value = media.get("payload")
    if not isinstance(value, str):
        raise MediaProtocolError(f"{where}.payload must be base64 text")
    try:
        # Strict mode refuses what validate=True does (and more), without its regex pass.
        data = binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError):
        raise MediaProtocolError(f"{where}.payload is not valid base64") from None
    if encoding == "opus":
        limit = 1275 * 3  # RFC 6716: a packet is at most 1275 bytes per frame, 3 frames
    else:
        width = 2 if encoding == "pcm16" else 1
        if len(data) % width:
            raise MediaProtocolError(f"{where}.payload of {len(data)} bytes is not whole samples")
        limit = int(sample_rate * width * MAX_MEDIA_SECONDS)
    if len(data) > limit:
        raise MediaProtocolError(
            f"{where}.payload of {len(data)} bytes is over {limit}", code="MEDIA_TOO_LARGE"
        )
    return data


def media_format(value: object, where: str) -> tuple[Encoding, int]:
    """(encoding, rate) of a ``mediaFormat`` object; the encoding's own rate when absent."""
    if value is None:
        return "pcmu", 8000
    if not isinstance(value, dict):
        raise MediaProtocolError(f"{where} must be an object")
    name = value.get("encoding")
    if not isinstance(name, str):
        raise MediaProtocolError(f"{where}.encoding must be text")
    try:
        encoding = encoding_of(name)
    except MediaError:
        raise MediaProtocolError(f"{where}.encoding {name!r:.40} is not supported") from None
    rate = number(value, "sampleRate", where)
    if rate is None:
        rate = ENCODINGS[encoding]
    if encoding != "pcm16" and rate != ENCODINGS[encoding]:
        raise MediaProtocolError(f"{where}: {encoding} runs at {ENCODINGS[encoding]} Hz")
    if not 1000 <= rate <= 192000:
        raise MediaProtocolError(f"{where}.sampleRate must be 1000..192000")
    channels = value.get("channels", 1)
    if channels not in (1, "1"):
        raise MediaProtocolError(f"{where}.channels: only mono audio is carried")
    return encoding, rate


def b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")
