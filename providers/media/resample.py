"""Stateful polyphase resampling of PCM16 streams, and a fixed-size re-framer.

One `Resampler` per stream and direction. It keeps its filter history and phase between
calls, so 20 ms chunks come out exactly as the whole signal would (no clicks at frame
boundaries), and it never resets on its own: a pause in the stream is just a pause (the
pipecat#5769 class of bug). ``reset()`` is there for a real discontinuity.

The filter is a Kaiser-windowed sinc whose stop band starts at the lower rate's Nyquist
frequency, so going down (24 kHz TTS to 8 kHz) removes what would alias, and going up
removes the images. Each call returns every sample it can: ``len(out)`` follows the rate ratio
exactly over time (160 samples at 8 kHz give 480 at 24 kHz, every call), with the filter's
group delay (`Resampler.delay`, 1-3 ms) and no hold-back.

Integer ratios (8 kHz <-> 16, 24 and 48 kHz, the telephone cases) take the fast way: the
windows of 16 consecutive positions share one row and one block filter (`_blocked`), so a
20 ms chunk is one int16 -> float32 copy of ten short overlapping rows and one BLAS product;
a stream of equal chunks keeps its history in place in one buffer (`Resampler._settle`) and
rounds and saturates with one addition and one clip. About five numpy calls a chunk, at or
under ``soxr`` used directly (docs/performance.md). Other ratios run the general polyphase
loop.

>>> up = Resampler(8000, 24000)
>>> len(up.process(bytes(320))), round(up.delay * 1000, 1)
(960, 3.0)
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable
from functools import cache
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from .._errors import MediaFormatError

__all__ = ["QUALITIES", "Framer", "Quality", "Resampler"]

Quality = Literal["low", "medium", "high"]
#: quality -> (stop-band attenuation dB, transition width as a fraction of the lower Nyquist)
QUALITIES: Final[dict[Quality, tuple[float, float]]] = {
    "low": (50.0, 0.30),
    "medium": (75.0, 0.20),
    "high": (95.0, 0.12),
}

_Floats = npt.NDArray[np.float32]
#: Positions (input samples going up, output samples going down) per row of the block filter.
_BLOCK: Final = 16


def _saturating() -> Callable[..., Any]:
    """numpy's ``clip`` ufunc (one call, unlike ``np.clip``'s Python wrapper), else an equal."""
    for name in ("numpy._core.umath", "numpy.core.umath"):
        try:
            found = getattr(importlib.import_module(name), "clip", None)
        except ImportError:  # pragma: no cover - the other numpy major version
            continue
        if isinstance(found, np.ufunc):
            return found

    def clip(y: _Floats, low: np.float32, high: np.float32, out: _Floats) -> _Floats:
        np.minimum(y, high, out=out)  # pragma: no cover
        return np.maximum(out, low, out=out)

    return clip  # pragma: no cover


_clip: Final = _saturating()
# ufuncs take 0-d arrays faster than scalars, which they convert on every call.
_LOW: Final = np.array(-32768.0, dtype=np.float32)
_HIGH: Final = np.array(32767.0, dtype=np.float32)
# Adding 1.5 * 2**23 rounds a float32 below 2**22 to an integer (half to even, as np.rint)
# and leaves that integer, two's complement, in the low 16 bits of the float's bit pattern:
# one addition and a strided copy of those halves replace rint, astype and tobytes.
_MAGIC: Final = np.array(1.5 * 2**23, dtype=np.float32)
_MAGIC_LOW: Final = _MAGIC + _LOW
_MAGIC_HIGH: Final = _MAGIC + _HIGH
_LITTLE: Final = sys.byteorder == "little"  # where those low halves come first
#: A steady stream's state and arrays (`Resampler._steady`): chunk length, the buffer of history
#: + chunk (bytes), where the chunk goes, the windows in it (int16), the windows as float32,
#: outputs as rows and flat, their low 16 bits (PCM16), and the block filter.
_Steady = tuple[
    int, memoryview, int, npt.NDArray[np.int16], _Floats, _Floats, _Floats,
    npt.NDArray[np.int16], _Floats,
]  # fmt: skip


@cache
def _design(up: int, down: int, quality: Quality) -> tuple[_Floats, int]:
    """Polyphase filter bank ``(taps, up)``, rows in time order, and taps per phase."""
    attenuation, transition = QUALITIES[quality]
    # In the upsampled domain (rate * up) the stop band begins at the lower Nyquist.
    nyquist = 1.0 / (2 * max(up, down))  # cycles per upsampled sample
    width = transition * nyquist
    cutoff = nyquist - width / 2
    # Kaiser's formulas for the window shape and length that reach `attenuation`.
    if attenuation > 50:
        beta = 0.1102 * (attenuation - 8.7)
    else:
        beta = 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21)
    length = math.ceil((attenuation - 7.95) / (2.285 * 2 * math.pi * width)) + 1
    per_phase = max(2, math.ceil(length / up))
    n = per_phase * up
    t = np.arange(n) - (n - 1) / 2
    h = 2 * cutoff * np.sinc(2 * cutoff * t) * np.kaiser(n, beta)
    h *= up / h.sum()  # unity gain at DC after zero-stuffing
    # bank[i, p]: weight of the window's i-th sample (oldest first) for output phase p.
    bank = h.reshape(per_phase, up)[::-1].astype(np.float32)
    return np.ascontiguousarray(bank), per_phase


@cache
def _blocked(up: int, down: int, quality: Quality) -> _Floats:
    """The bank spread over `_BLOCK` consecutive positions: one row of windows, many outputs.

    Position q of a row starts ``q * hop`` samples into the row's window (hop is 1 going up,
    ``down`` going down) and gives ``up`` outputs (1 going down), so
    ``blocked[q * hop + i, q * up + p] = bank[i, p]``. One matrix product of the rows' windows
    with it computes ``_BLOCK`` positions a row: the windows copied out for BLAS are
    ``_BLOCK`` times fewer than with one window a position, for ~20 % more multiplications.
    """
    bank, taps = _design(up, down, quality)
    hop = 1 if down == 1 else down
    blocked = np.zeros((taps + (_BLOCK - 1) * hop, _BLOCK * up), dtype=np.float32)
    for q in range(_BLOCK):
        blocked[q * hop : q * hop + taps, q * up : (q + 1) * up] = bank
    return blocked


_NONE: Final = np.empty(0, dtype=np.float32)
_IDLE: Final[_Steady] = (-1, memoryview(b""), 0, np.empty(0, np.int16), _NONE, _NONE, _NONE,
                         np.empty(0, np.int16), _NONE)  # fmt: skip


class Resampler:
    """PCM16 LE mono from ``rate_in`` to ``rate_out``, one stream, state carried across calls.

    ``quality`` trades filter length for stop-band depth: ``low`` (50 dB), ``medium`` (75 dB,
    the default) and ``high`` (95 dB). Equal rates pass audio through untouched.
    """

    def __init__(self, rate_in: int, rate_out: int, *, quality: Quality = "medium") -> None:
        for name, rate in (("rate_in", rate_in), ("rate_out", rate_out)):
            if not isinstance(rate, int) or not 1000 <= rate <= 192000:
                raise MediaFormatError(f"{name} must be 1000..192000 Hz, not {rate!r:.20}")
        if quality not in QUALITIES:
            raise MediaFormatError(f"quality is one of {', '.join(QUALITIES)}, not {quality!r}")
        g = math.gcd(rate_in, rate_out)
        self.rate_in, self.rate_out, self.quality = rate_in, rate_out, quality
        self._up, self._down = rate_out // g, rate_in // g
        if self._up * self._down > 4096:
            raise MediaFormatError(f"{rate_in} -> {rate_out} Hz is too odd a ratio")
        self._bank, self._taps = _design(self._up, self._down, quality)
        # Output j is computed at input index (j * down) // up with phase (j * down) % up.
        self._phases = (np.arange(self._up) * self._down) % self._up
        self._scratch: tuple[_Floats, _Floats] | None = None
        # Integer ratios (8 <-> 16, 24, 48 kHz) run on the int16 history as bytes: a position
        # is one window of `taps` samples, `hop` apart, giving `up` outputs (1 going down).
        self._integer = self._up != self._down and 1 in (self._up, self._down)
        self._hop = self._down if self._up == 1 else 1
        if self._integer:
            self._blocks = _blocked(self._up, self._down, quality)
        self.reset()

    @property
    def delay(self) -> float:
        """The filter's group delay in seconds (what the output lags the input by)."""
        if self._up == self._down:
            return 0.0
        return (self._taps * self._up - 1) / 2 / (self.rate_in * self._up)

    def reset(self) -> None:
        """Forget the history: only for a real discontinuity (a new utterance source)."""
        self._buffer = np.zeros(self._taps - 1, dtype=np.float32)
        self._consumed = 0  # input samples seen
        self._produced = 0  # output samples given
        # Integer ratios: the input from the next position's first sample on, PCM16 LE; in
        # `_steady` instead while chunks of one length come (its chunk length is then >= 0).
        self._history = bytes(2 * (self._taps - 1))
        self._steady: _Steady = _IDLE

    def process(self, pcm: bytes) -> bytes:
        """Resample the next chunk; returns every output sample it determines."""
        steady = self._steady
        if len(pcm) == steady[0]:
            # An integer ratio, the same length again: no array is made, the history stays
            # where it is (`_settle`).
            _, buffer, at, source, windows, y, out, pcm16, blocks = steady
            buffer[at:] = pcm
            np.copyto(windows, source)  # int16 -> float32, overlapping windows copied out
            np.dot(windows, blocks, out=y)
            buffer[:at] = buffer[len(pcm) :]  # the next history: every position used a chunk
            np.add(out, _MAGIC, out=out)
            _clip(out, _MAGIC_LOW, _MAGIC_HIGH, out=out)
            return pcm16.tobytes()
        if len(pcm) % 2:
            raise MediaFormatError(f"PCM16 audio has an even number of bytes, not {len(pcm)}")
        if self._integer:
            return self._positions(pcm)
        if self._up == self._down or not pcm:
            return bytes(pcm)
        keep = self._taps - 1
        n = len(pcm) // 2
        if len(self._buffer) != keep + n:  # chunk sizes rarely change: reuse the buffer
            grown = np.empty(keep + n, dtype=np.float32)
            grown[:keep] = self._buffer[:keep]  # the history, moved to the front
            self._buffer = grown
        buf = self._buffer
        buf[keep:] = np.frombuffer(pcm, dtype="<i2")
        start = self._consumed
        self._consumed += n
        up, down = self._up, self._down
        end = -(-self._consumed * up // down)  # outputs whose input index is now known
        stride = buf.strides[0]
        if down == 1:
            # Upsampling by an integer: each input sample gives `up` outputs, one matmul.
            # BLAS wants the overlapping windows copied out first; that is still cheaper.
            work = self._work(n, self._taps, up)
            np.copyto(work[0], _windows(buf, n, self._taps, stride, 1))
            y = np.matmul(work[0], self._bank, out=work[1]).reshape(-1)
        elif up == 1:
            # Downsampling by an integer: only every `down`-th window is computed.
            first = self._produced * down - start
            count = end - self._produced
            work = self._work(count, self._taps, 1)
            np.copyto(work[0], _windows(buf[first:], count, self._taps, stride, down))
            y = np.matmul(work[0], self._bank, out=work[1]).reshape(-1)
        else:
            j = np.arange(self._produced, end)
            windows = _windows(buf, n, self._taps, stride, 1)[j * down // up - start]
            y = np.einsum("ij,ji->i", windows, self._bank[:, self._phases[j % up]])
        self._produced = end
        buf[:keep] = buf[n:]
        np.rint(y, out=y)
        # np.clip's Python wrapper costs more than these two ufuncs together.
        np.minimum(y, 32767.0, out=y)
        np.maximum(y, -32768.0, out=y)
        return y.astype("<i2").tobytes()

    def _positions(self, pcm: bytes) -> bytes:
        """An integer ratio: every position the history and ``pcm`` complete, in rows of
        `_BLOCK` positions (one window copy, int16 to float32 on the way, and one product),
        the few left over one window each. A chunk that fills whole rows and uses exactly
        its own length of input sets up `_steady` for the next chunk of that length."""
        if not pcm:
            return b""  # no position completes, no state changes
        steady = self._steady
        if steady[0] >= 0:  # the history is in the steady buffer: take it back
            self._history, self._steady = steady[1][: steady[2]].tobytes(), _IDLE
        data = self._history + bytes(pcm)
        taps, hop = self._taps, self._hop
        count = (len(data) // 2 - taps) // hop + 1  # positions whose last sample is here
        if count <= 0:
            self._history = data
            return b""
        rows, rest = divmod(count, _BLOCK)
        shape, strides = (rows, len(self._blocks)), (2 * _BLOCK * hop, 2)
        parts: list[_Floats] = []
        if rows:
            whole = np.ndarray(shape, "<i2", data, 0, strides)
            parts.append(np.dot(whole.astype(np.float32), self._blocks).ravel())
        if rest:
            left = np.ndarray((rest, taps), "<i2", data, 2 * rows * _BLOCK * hop, (2 * hop, 2))
            parts.append(np.dot(left.astype(np.float32), self._bank).ravel())
        out = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self._history = data[2 * count * hop :]
        if rows and not rest and 2 * count * hop == len(pcm) and _LITTLE:
            self._steady = self._settle(len(pcm), shape, strides)
        _clip(out, _LOW, _HIGH, out=out)
        np.rint(out, out=out)
        return out.astype("<i2").tobytes()

    def _settle(self, size: int, shape: tuple[int, int], strides: tuple[int, int]) -> _Steady:
        """Arrays for chunks of ``size`` bytes from now on, the history moved into them."""
        at = len(self._history)
        samples = np.zeros((at + size) // 2, dtype=np.int16)
        buffer = samples.data.cast("B")
        buffer[:at] = self._history
        source: npt.NDArray[np.int16] = np.ndarray(shape, "<i2", samples, 0, strides)
        y = np.empty((shape[0], self._blocks.shape[1]), dtype=np.float32)
        out = y.ravel()
        windows = np.empty(shape, dtype=np.float32)
        return (size, buffer, at, source, windows, y, out, out.view(np.int16)[::2], self._blocks)

    def _work(self, rows: int, taps: int, columns: int) -> tuple[_Floats, _Floats]:
        """Scratch arrays for ``rows`` windows and their outputs, kept between calls."""
        if self._scratch is None or self._scratch[0].shape[0] != rows:
            self._scratch = (
                np.empty((rows, taps), dtype=np.float32),
                np.empty((rows, columns), dtype=np.float32),
            )
        return self._scratch

    def __repr__(self) -> str:
        return f"<Resampler {self.rate_in} -> {self.rate_out} Hz, {self.quality}>"


def _windows(buf: _Floats, count: int, taps: int, stride: int, step: int) -> _Floats:
    """``count`` overlapping views of ``taps`` samples of ``buf``, ``step`` samples apart."""
    view: _Floats = np.ndarray((count, taps), np.float32, buf, 0, (stride * step, stride))
    return view


class Framer:
    """Cuts a byte stream into frames of exactly ``size`` bytes, keeping the remainder.

    >>> framer = Framer(4)
    >>> framer.push(b"abcdef"), framer.push(b"gh"), framer.pending
    ([b'abcd'], [b'efgh'], 0)
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise MediaFormatError("a frame is at least one byte")
        self.size = size
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes waiting for a frame to fill."""
        return len(self._buffer)

    def push(self, data: bytes) -> list[bytes]:
        """The whole frames ``data`` completes."""
        size = self.size
        if not self._buffer and len(data) == size:  # the usual 20 ms in, 20 ms out
            return [bytes(data)]
        self._buffer += data
        whole = len(self._buffer) - len(self._buffer) % size
        frames = [bytes(self._buffer[i : i + size]) for i in range(0, whole, size)]
        del self._buffer[:whole]
        return frames

    def flush(self, fill: bytes = b"\x00") -> bytes | None:
        """The remainder padded to a whole frame with ``fill``, or None if nothing is pending."""
        if not self._buffer:
            return None
        frame = bytes(self._buffer) + fill * (self.size - len(self._buffer))
        self._buffer.clear()
        return frame[: self.size]

    def clear(self) -> None:
        """Drop what is pending (barge-in)."""
        self._buffer.clear()
