"""Test signals and measurements for the media tests: tones, sine-fit SINAD, levels."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float64]


def tone(rate: int, seconds: float, *tones: tuple[float, float]) -> bytes:
    """PCM16 LE of the sum of ``(frequency, amplitude 0..1)`` sines."""
    t = np.arange(round(rate * seconds)) / rate
    mix = sum((a * np.sin(2 * np.pi * f * t) for f, a in tones), np.zeros_like(t))
    return (mix * 32767).round().astype("<i2").tobytes()


def samples(pcm: bytes) -> Samples:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def sinad(pcm: bytes, rate: int, frequency: float, *, skip: float = 0.05) -> float:
    """Signal to noise-and-distortion (dB) of a sine at ``frequency``: the best-fitting sine
    (amplitude, phase and offset free) against everything else; ``skip`` s of start-up left
    out."""
    y = samples(pcm)[round(skip * rate) :]
    t = np.arange(len(y)) / rate
    basis = np.stack([np.sin(2 * np.pi * frequency * t), np.cos(2 * np.pi * frequency * t),
                      np.ones_like(t)], axis=1)  # fmt: skip
    fit = basis @ np.linalg.lstsq(basis, y, rcond=None)[0]
    residual = float(np.sum((y - fit) ** 2))
    return math.inf if residual == 0 else 10 * math.log10(float(np.sum(fit**2)) / residual)


def rms(pcm: bytes) -> float:
    y = samples(pcm)
    return float(np.sqrt(np.mean(y**2))) if len(y) else 0.0


def chunks(pcm: bytes, size: int) -> list[bytes]:
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]
