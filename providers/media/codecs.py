"""G.711 (mu-law, A-law), PCM16 and optional Opus, all to and from PCM16 little-endian mono.

G.711 is bit-exact with ITU-T G.711 as the C ``audioop`` module implements it (the stdlib one
on Python 3.11/3.12, ``audioop-lts`` on 3.13+). Without either, the same algorithm runs from
tables built once in pure Python (slower, same bytes). Opus (48 kHz, 20 ms packets) needs
the ``opus`` extra and Debian's ``libopus0``; without them `open_codec("opus")` raises
`CodecUnavailableError`.

>>> pcm = pcm_from_ulaw(bytes([0xFF, 0x80, 0x00]))
>>> [int.from_bytes(pcm[i:i + 2], "little", signed=True) for i in (0, 2, 4)]
[0, 32124, -32124]
>>> ulaw_from_pcm(pcm) == bytes([0xFF, 0x80, 0x00])
True
"""

from __future__ import annotations

import sys
import warnings
from array import array
from collections.abc import Callable
from functools import cache
from types import ModuleType
from typing import Any, Final, Literal, Protocol, runtime_checkable

from .._errors import CodecUnavailableError, MediaFormatError

__all__ = [
    "ENCODINGS",
    "Codec",
    "Encoding",
    "alaw_from_pcm",
    "encoding_of",
    "open_codec",
    "pcm_from_alaw",
    "pcm_from_ulaw",
    "ulaw_from_pcm",
]

Encoding = Literal["pcmu", "pcma", "pcm16", "opus"]
#: The rate each encoding runs at when nothing says otherwise (Opus only runs at 48 kHz here).
ENCODINGS: Final[dict[Encoding, int]] = {"pcmu": 8000, "pcma": 8000, "pcm16": 8000, "opus": 48000}
# Every spelling seen on the wire (Twilio MIME types, SmartPBX names, SDP names), lower-cased.
_ALIASES: Final[dict[str, Encoding]] = {
    "pcmu": "pcmu", "audio/x-mulaw": "pcmu", "g711_ulaw": "pcmu", "mulaw": "pcmu",
    "ulaw": "pcmu", "pcma": "pcma", "audio/x-alaw": "pcma", "g711_alaw": "pcma",
    "alaw": "pcma", "pcm16": "pcm16", "l16": "pcm16", "audio/l16": "pcm16",
    "linear16": "pcm16", "slin": "pcm16", "opus": "opus", "audio/opus": "opus",
}  # fmt: skip


def encoding_of(name: str) -> Encoding:
    """The encoding a wire name means (``audio/x-mulaw``, ``g711_ulaw``, ``PCMU`` ...)."""
    found = _ALIASES.get(name.strip().lower()) if isinstance(name, str) else None
    if found is None:
        raise MediaFormatError(f"unknown audio encoding {name!r:.40}")
    return found


def _load_audioop() -> ModuleType | None:
    # The stdlib module warns on import from 3.11 on (it is removed in 3.13, where
    # audioop-lts provides the same C code under the same name).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:
            return None
    return audioop


_audioop: Final = _load_audioop()
_BIG_ENDIAN: Final = sys.byteorder == "big"


# --- G.711 in pure Python: the algorithm of audioop.c (Sun's g711.c), used to build tables --


def _search(value: int, table: tuple[int, ...]) -> int:
    return next((i for i, end in enumerate(table) if value <= end), len(table))


_SEG_U: Final = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_SEG_A: Final = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _ulaw_code(sample: int) -> int:
    """The mu-law code of a 16-bit sample: its top 14 bits, biased, segment and mantissa."""
    value = sample >> 2
    mask = 0x7F if value < 0 else 0xFF
    value = min(abs(value), 32635) + (0x84 >> 2)
    seg = _search(value, _SEG_U)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((value >> (seg + 1)) & 0xF)) ^ mask


def _alaw_code(sample: int) -> int:
    """The A-law code of a 16-bit sample: its top 13 bits, even bits inverted."""
    value = sample >> 3
    if value >= 0:
        mask = 0xD5
    else:
        mask, value = 0x55, -value - 1
    seg = _search(value, _SEG_A)
    if seg >= 8:
        return 0x7F ^ mask
    shift = 1 if seg < 2 else seg
    return ((seg << 4) | ((value >> shift) & 0xF)) ^ mask


def _ulaw_linear(code: int) -> int:
    code = ~code & 0xFF
    t = (((code & 0xF) << 3) + 0x84) << ((code & 0x70) >> 4)
    return 0x84 - t if code & 0x80 else t - 0x84


def _alaw_linear(code: int) -> int:
    code ^= 0x55
    t = (code & 0xF) << 4
    seg = (code & 0x70) >> 4
    t += 8 if seg == 0 else 0x108
    if seg > 1:
        t <<= seg - 1
    return t if code & 0x80 else -t


@cache
def _tables(law: Literal["ulaw", "alaw"]) -> tuple[tuple[bytes, ...], bytes]:
    """(decode: code -> 2 bytes of PCM16 LE, encode: 65,536 codes indexed by sample + 32768)."""
    linear, code = (_ulaw_linear, _ulaw_code) if law == "ulaw" else (_alaw_linear, _alaw_code)
    decode = tuple(linear(c).to_bytes(2, "little", signed=True) for c in range(256))
    encode = bytes(code(s) for s in range(-32768, 32768))
    return decode, encode


def _samples(pcm: bytes) -> array[int]:
    if len(pcm) % 2:
        raise MediaFormatError(f"PCM16 audio has an even number of bytes, not {len(pcm)}")
    samples = array("h", pcm)
    if _BIG_ENDIAN:
        samples.byteswap()
    return samples


def _py_decode(law: Literal["ulaw", "alaw"]) -> Callable[[bytes], bytes]:
    def decode(data: bytes) -> bytes:
        return b"".join(map(_tables(law)[0].__getitem__, data))

    return decode


def _py_encode(law: Literal["ulaw", "alaw"]) -> Callable[[bytes], bytes]:
    def encode(pcm: bytes) -> bytes:
        table = _tables(law)[1]
        return bytes(table[s + 32768] for s in _samples(pcm))

    return encode


def _c_decode(convert: Callable[[bytes, int], bytes]) -> Callable[[bytes], bytes]:
    if _BIG_ENDIAN:
        assert _audioop is not None
        swap = _audioop.byteswap
        return lambda data: swap(convert(data, 2), 2)
    return lambda data: convert(data, 2)


def _c_encode(convert: Callable[[bytes, int], bytes]) -> Callable[[bytes], bytes]:
    assert _audioop is not None
    swap, error = _audioop.byteswap, _audioop.error

    def encode(pcm: bytes) -> bytes:
        try:  # audioop refuses an odd length itself: no check on the way (once a frame)
            return convert(pcm, 2)
        except error:
            raise MediaFormatError(
                f"PCM16 audio has an even number of bytes, not {len(pcm)}"
            ) from None

    def encode_swapped(pcm: bytes) -> bytes:  # pragma: no cover - big-endian machines
        try:
            return convert(swap(pcm, 2), 2)
        except error:
            raise MediaFormatError(
                f"PCM16 audio has an even number of bytes, not {len(pcm)}"
            ) from None

    return encode_swapped if _BIG_ENDIAN else encode


if _audioop is not None:
    pcm_from_ulaw = _c_decode(_audioop.ulaw2lin)
    ulaw_from_pcm = _c_encode(_audioop.lin2ulaw)
    pcm_from_alaw = _c_decode(_audioop.alaw2lin)
    alaw_from_pcm = _c_encode(_audioop.lin2alaw)
else:  # pragma: no cover - Python 3.13+ without audioop-lts
    pcm_from_ulaw = _py_decode("ulaw")
    ulaw_from_pcm = _py_encode("ulaw")
    pcm_from_alaw = _py_decode("alaw")
    alaw_from_pcm = _py_encode("alaw")
pcm_from_ulaw.__doc__ = "mu-law bytes -> PCM16 LE (two bytes a sample)."
ulaw_from_pcm.__doc__ = "PCM16 LE -> mu-law bytes (one a sample); odd lengths are refused."
pcm_from_alaw.__doc__ = "A-law bytes -> PCM16 LE (two bytes a sample)."
alaw_from_pcm.__doc__ = "PCM16 LE -> A-law bytes (one a sample); odd lengths are refused."


# --- codec objects, one per stream ---------------------------------------------------------


@runtime_checkable
class Codec(Protocol):
    """Turns one stream's payloads into PCM16 LE mono at ``sample_rate`` and back.

    Opus codecs hold state (one per stream and direction); G.711 and PCM16 do not.
    """

    encoding: Encoding
    sample_rate: int

    def decode(self, payload: bytes) -> bytes: ...

    def encode(self, pcm: bytes) -> bytes: ...


class _G711:
    def __init__(self, encoding: Literal["pcmu", "pcma"]) -> None:
        self.encoding: Encoding = encoding
        self.sample_rate = 8000
        ulaw = encoding == "pcmu"
        self._decode = pcm_from_ulaw if ulaw else pcm_from_alaw
        self._encode = ulaw_from_pcm if ulaw else alaw_from_pcm

    def decode(self, payload: bytes) -> bytes:
        return self._decode(payload)

    def encode(self, pcm: bytes) -> bytes:
        return self._encode(pcm)

    def __repr__(self) -> str:
        return f"<{self.encoding} codec at {self.sample_rate} Hz>"


class _Pcm16:
    def __init__(self, sample_rate: int) -> None:
        self.encoding: Encoding = "pcm16"
        self.sample_rate = sample_rate

    def decode(self, payload: bytes) -> bytes:
        if len(payload) % 2:
            raise MediaFormatError(f"PCM16 audio has an even number of bytes, not {len(payload)}")
        return payload

    encode = decode

    def __repr__(self) -> str:
        return f"<pcm16 codec at {self.sample_rate} Hz>"


class _Opus:
    """Opus at 48 kHz mono, one packet per 20 ms message."""

    FRAME: Final = 960  # samples in 20 ms at 48 kHz

    def __init__(self, module: Any) -> None:
        self.encoding: Encoding = "opus"
        self.sample_rate = 48000
        self._encoder = module.Encoder(48000, 1, module.APPLICATION_VOIP)
        self._decoder = module.Decoder(48000, 1)
        self._errors: tuple[type[BaseException], ...] = (module.OpusError,)

    def decode(self, payload: bytes) -> bytes:
        try:
            return bytes(self._decoder.decode(payload, 5760))  # up to 120 ms
        except self._errors as exc:
            raise MediaFormatError(f"not an Opus packet: {exc}") from None

    def encode(self, pcm: bytes) -> bytes:
        """One Opus packet of exactly 20 ms of PCM (1,920 bytes); frame audio first."""
        if len(pcm) != 2 * self.FRAME:
            raise MediaFormatError(f"Opus encodes 20 ms (1920 bytes) at a time, not {len(pcm)}")
        return bytes(self._encoder.encode(pcm, self.FRAME))

    def __repr__(self) -> str:
        return "<opus codec at 48000 Hz>"


def _opuslib() -> Any:
    try:
        import opuslib  # type: ignore[import-not-found,unused-ignore]
    except Exception as exc:  # opuslib raises a bare Exception when libopus is missing
        raise CodecUnavailableError(
            "Opus needs libopus (Debian: apt-get install libopus0) and the opus extra "
            f"(pip install 'cxmlflow[opus]'): {exc}"
        ) from None
    return opuslib


def open_codec(encoding: str, sample_rate: int | None = None) -> Codec:
    """A codec for one stream: ``encoding`` is any wire name (`encoding_of`); ``sample_rate``
    must be the encoding's (8000 for G.711, 48000 for Opus) and is free for PCM16."""
    kind = encoding_of(encoding)
    rate = ENCODINGS[kind] if sample_rate is None else sample_rate
    if kind == "pcm16":
        if not isinstance(rate, int) or not 1000 <= rate <= 192000:
            raise MediaFormatError(f"PCM16 runs at 1000..192000 Hz, not {rate!r:.20}")
        return _Pcm16(rate)
    if rate != ENCODINGS[kind]:
        raise MediaFormatError(f"{kind} runs at {ENCODINGS[kind]} Hz, not {rate!r:.20}")
    if kind == "opus":
        return _Opus(_opuslib())
    return _G711(kind)
