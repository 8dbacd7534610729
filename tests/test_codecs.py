"""G.711 against the C audioop module (all codes, all samples), PCM16 and Opus codecs."""

from __future__ import annotations

import warnings
from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers import CodecUnavailableError, MediaFormatError
from providers.media import codecs
from providers.media.codecs import (
    alaw_from_pcm,
    encoding_of,
    open_codec,
    pcm_from_alaw,
    pcm_from_ulaw,
    ulaw_from_pcm,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

EVERY_CODE = bytes(range(256))
EVERY_SAMPLE = array("h", range(-32768, 32768)).tobytes()
pcm16 = st.lists(st.integers(-32768, 32767), max_size=400).map(lambda v: array("h", v).tobytes())


def test_every_code_decodes_as_audioop_does() -> None:
    assert pcm_from_ulaw(EVERY_CODE) == audioop.ulaw2lin(EVERY_CODE, 2)
    assert pcm_from_alaw(EVERY_CODE) == audioop.alaw2lin(EVERY_CODE, 2)


def test_every_sample_encodes_as_audioop_does() -> None:
    assert ulaw_from_pcm(EVERY_SAMPLE) == audioop.lin2ulaw(EVERY_SAMPLE, 2)
    assert alaw_from_pcm(EVERY_SAMPLE) == audioop.lin2alaw(EVERY_SAMPLE, 2)


def test_the_pure_python_fallback_is_bit_exact_too() -> None:
    # The tables a Python without audioop uses, checked over every code and every sample.
    for law, lin2, to_lin in (
        ("ulaw", audioop.lin2ulaw, audioop.ulaw2lin),
        ("alaw", audioop.lin2alaw, audioop.alaw2lin),
    ):
        assert codecs._py_decode(law)(EVERY_CODE) == to_lin(EVERY_CODE, 2)  # type: ignore[arg-type]
        assert codecs._py_encode(law)(EVERY_SAMPLE) == lin2(EVERY_SAMPLE, 2)  # type: ignore[arg-type]


@given(pcm16)
def test_random_pcm_matches_audioop_and_codes_round_trip(pcm: bytes) -> None:
    ulaw = ulaw_from_pcm(pcm)
    assert ulaw == audioop.lin2ulaw(pcm, 2)
    assert alaw_from_pcm(pcm) == audioop.lin2alaw(pcm, 2)
    # A decoded code encodes back to itself (G.711's one ambiguity is the two zeros).
    assert ulaw_from_pcm(pcm_from_ulaw(ulaw)) == ulaw.replace(b"\x7f", b"\xff")


@given(st.binary(max_size=300))
def test_codes_round_trip_through_pcm(data: bytes) -> None:
    assert ulaw_from_pcm(pcm_from_ulaw(data)) == data.replace(b"\x7f", b"\xff")
    assert alaw_from_pcm(pcm_from_alaw(data)) == data


def test_odd_pcm_is_refused_with_our_error() -> None:
    with pytest.raises(MediaFormatError) as caught:
        ulaw_from_pcm(b"\x00\x01\x02")
    assert caught.value.code == "MEDIA_FORMAT"
    with pytest.raises(MediaFormatError):
        open_codec("pcm16", 16000).decode(b"\x00")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("audio/x-mulaw", "pcmu"), ("G711_ULAW", "pcmu"), ("PCMA", "pcma"), ("pcm16", "pcm16"),
     ("audio/L16", "pcm16"), ("opus", "opus")],
)  # fmt: skip
def test_wire_names(name: str, expected: str) -> None:
    assert encoding_of(name) == expected


def test_codec_objects_and_their_rates() -> None:
    ulaw = open_codec("g711_ulaw")
    assert (ulaw.encoding, ulaw.sample_rate) == ("pcmu", 8000)
    assert ulaw.decode(b"\xff\x00") == audioop.ulaw2lin(b"\xff\x00", 2)
    assert open_codec("pcm16", 24000).encode(b"\x01\x02") == b"\x01\x02"
    with pytest.raises(MediaFormatError):
        open_codec("g711_ulaw", 16000)
    with pytest.raises(MediaFormatError):
        open_codec("gsm")


def test_opus_round_trip_or_a_clear_not_installed_error() -> None:
    try:
        opus = open_codec("opus")
    except CodecUnavailableError as exc:
        assert exc.code == "CODEC_UNAVAILABLE"
        assert "libopus0" in exc.message
        return
    tone = array("h", [int(8000 * ((i // 24) % 2 * 2 - 1)) for i in range(960)]).tobytes()
    packet = opus.encode(tone)
    assert 0 < len(packet) < len(tone)
    assert len(opus.decode(packet)) == len(tone)
    with pytest.raises(MediaFormatError):
        opus.encode(tone[:100])
    with pytest.raises(MediaFormatError):
        opus.decode(b"\xff\xff\xff")
