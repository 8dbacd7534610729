"""Stateful resampling: chunked equals one-shot, clean tones, no clicks, anti-aliasing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers import MediaFormatError
from providers.media.resample import Framer, Resampler

from .media_signals import chunks, rms, samples, sinad, tone

PAIRS = [(8000, 16000), (8000, 24000), (16000, 8000), (24000, 8000), (8000, 48000),
         (48000, 8000), (16000, 24000), (24000, 16000)]  # fmt: skip


def _close(a: bytes, b: bytes) -> bool:
    """Same length, samples within one step: float sums may round differently by chunk."""
    return len(a) == len(b) and bool(np.abs(samples(a) - samples(b)).max(initial=0) <= 1)


def _chunked(resampler: Resampler, pcm: bytes) -> bytes:
    frame = resampler.rate_in // 50 * 2  # 20 ms
    return b"".join(resampler.process(c) for c in chunks(pcm, frame))


@pytest.mark.parametrize(("rate_in", "rate_out"), PAIRS)
def test_a_tone_in_20_ms_chunks_is_clean_and_equals_one_shot(rate_in: int, rate_out: int) -> None:
    signal = tone(rate_in, 1.0, (440, 0.5))
    chunked = _chunked(Resampler(rate_in, rate_out), signal)
    whole = Resampler(rate_in, rate_out).process(signal)
    assert len(chunked) == len(whole) == 2 * rate_out
    difference = samples(chunked) - samples(whole)
    # Chunking adds nothing: SINAD of chunked against one-shot (both are the same filter).
    noise = float(np.sum(difference**2))
    assert noise == 0 or 10 * math.log10(float(np.sum(samples(whole) ** 2)) / noise) >= 60
    assert sinad(chunked, rate_out, 440) >= 60


@pytest.mark.parametrize(("rate_in", "rate_out"), PAIRS)
def test_no_discontinuity_at_frame_boundaries(rate_in: int, rate_out: int) -> None:
    frequency, amplitude = 1000.0, 0.5
    signal = tone(rate_in, 0.5, (frequency, amplitude))
    out = samples(_chunked(Resampler(rate_in, rate_out), signal))
    steps = np.abs(np.diff(out[rate_out // 100 :]))  # past the filter's start-up
    # A sine cannot move faster than its slope; a click at a boundary would.
    bound = 2 * math.pi * frequency / rate_out * amplitude * 32767 * 1.05 + 2
    assert steps.max() <= bound


@pytest.mark.parametrize(("rate_in", "rate_out"), [(24000, 8000), (16000, 8000), (48000, 8000)])
@pytest.mark.parametrize("quality", ["low", "medium", "high"])
def test_an_out_of_band_tone_is_removed_going_down(
    rate_in: int, rate_out: int, quality: str
) -> None:
    # 6 kHz cannot exist at 8 kHz; without a filter it would alias to 2 kHz at -6 dB.
    signal = tone(rate_in, 0.5, (6000, 0.5))
    out = _chunked(Resampler(rate_in, rate_out, quality=quality), signal)  # type: ignore[arg-type]
    attenuation = 20 * math.log10(rms(signal) / max(rms(out[rate_out // 5 :]), 1e-3))
    assert attenuation >= {"low": 45, "medium": 70, "high": 90}[quality]


def test_every_call_returns_its_share_with_no_hold_back() -> None:
    up, down = Resampler(8000, 24000), Resampler(24000, 8000)
    for frame in chunks(tone(8000, 0.2, (300, 0.3)), 320):
        assert len(up.process(frame)) == 960
    for frame in chunks(tone(24000, 0.2, (300, 0.3)), 960):
        assert len(down.process(frame)) == 320
    assert up.delay < 0.02
    assert down.delay < 0.02


def test_silence_between_bursts_does_not_reset_the_state() -> None:
    # pipecat#5769: a resampler cleared during a pause drops audio mid-word.
    speech = tone(8000, 0.1, (440, 0.5))
    stream = speech + bytes(3200) + speech
    chunked = _chunked(Resampler(8000, 16000), stream)
    assert _close(chunked, Resampler(8000, 16000).process(stream))


@given(st.lists(st.integers(1, 400), min_size=1, max_size=12))
def test_any_chunking_gives_the_same_samples(sizes: list[int]) -> None:
    signal = tone(24000, sum(sizes) / 24000, (700, 0.4), (2500, 0.2))
    for rate_out in (8000, 16000, 48000):
        whole = Resampler(24000, rate_out).process(signal)
        r = Resampler(24000, rate_out)
        parts, at = [], 0
        for size in sizes:
            parts.append(r.process(signal[at : at + 2 * size]))
            at += 2 * size
        assert _close(b"".join(parts), whole)


def test_bad_rates_and_odd_lengths_are_our_errors() -> None:
    with pytest.raises(MediaFormatError):
        Resampler(8000, 0)
    with pytest.raises(MediaFormatError):
        Resampler(8000, 16000, quality="best")  # type: ignore[arg-type]
    with pytest.raises(MediaFormatError):
        Resampler(8000, 16000).process(b"\x00")
    assert Resampler(8000, 8000).process(b"\x01\x02") == b"\x01\x02"


def test_framer_keeps_the_remainder_and_pads_on_flush() -> None:
    framer = Framer(160)
    assert framer.push(bytes(100)) == []
    assert framer.push(bytes(300)) == [bytes(160), bytes(160)]
    assert framer.pending == 80
    assert framer.flush(b"\xff") == bytes(80) + b"\xff" * 80
    assert framer.flush() is None
