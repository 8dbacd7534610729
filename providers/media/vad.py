"""Voice-activity detection for barge-in and turn taking: an energy detector, pluggable.

A detector is fed the caller's audio frame by frame and says whether the caller is speaking
now; the bridge interrupts the engine on the step from "not speaking" to "speaking". Replace
`EnergyDetector` with anything that has ``feed(pcm, sample_rate) -> bool`` (a WebRTC or
Silero VAD wrapper) by passing a factory to `StreamServer` or `Agent`.

>>> from providers.media.vad import EnergyDetector
>>> vad = EnergyDetector()
>>> loud = (8000).to_bytes(2, "little", signed=True) * 160
>>> [vad.feed(loud, 8000) for _ in range(3)]
[False, True, True]
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import numpy as np

from .._errors import MediaFormatError
from .codecs import _audioop

__all__ = ["EnergyDetector", "VoiceDetector", "level"]


@runtime_checkable
class VoiceDetector(Protocol):
    """Says, frame by frame, whether the caller is speaking (PCM16 LE at ``sample_rate``)."""

    def feed(self, pcm: bytes, sample_rate: int) -> bool: ...


def level(pcm: bytes) -> float:
    """RMS level of PCM16 in dB below full scale (-inf for digital silence)."""
    if len(pcm) % 2:
        raise MediaFormatError(f"PCM16 audio has an even number of bytes, not {len(pcm)}")
    if not pcm:
        return -math.inf
    if _audioop is not None:
        rms = float(_audioop.rms(pcm, 2))
    else:  # pragma: no cover - Python 3.13+ without audioop-lts
        rms = float(np.sqrt(np.mean(np.frombuffer(pcm, "<i2").astype(np.float64) ** 2)))
    return 20 * math.log10(rms / 32768) if rms else -math.inf


class EnergyDetector:
    """Speech is ``start`` seconds of frames louder than ``threshold`` dBFS; it ends after
    ``stop`` seconds below it (the hang-over keeps short gaps between words inside speech).

    The defaults (-35 dBFS, 40 ms, 400 ms) suit telephone audio with little background noise;
    raise ``threshold`` for noisy lines.
    """

    def __init__(self, threshold: float = -35.0, start: float = 0.04, stop: float = 0.4) -> None:
        self.threshold, self.start, self.stop = threshold, start, stop
        self.speaking = False
        self._loud = 0.0  # seconds of loud audio in a row
        self._quiet = 0.0  # seconds of quiet audio in a row

    def feed(self, pcm: bytes, sample_rate: int) -> bool:
        seconds = len(pcm) / 2 / sample_rate
        if level(pcm) >= self.threshold:
            self._loud += seconds
            self._quiet = 0.0
        else:
            self._quiet += seconds
            self._loud = 0.0
        # Frame durations are binary fractions of a second: compare with a little slack.
        if not self.speaking and self._loud >= self.start - 1e-9:
            self.speaking = True
        elif self.speaking and self._quiet >= self.stop - 1e-9:
            self.speaking = False
        return self.speaking

    def reset(self) -> None:
        self.speaking, self._loud, self._quiet = False, 0.0, 0.0

    def __repr__(self) -> str:
        return f"EnergyDetector(threshold={self.threshold}, start={self.start}, stop={self.stop})"
