"""Stream protocols: the platform's and SmartPBX's messages, and junk refused cleanly."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers import MediaProtocolError
from providers.media import EchoEngine, PlatformPeer, SmartPbxClient, SmartPbxEndpoint, StreamServer
from providers.media.protocols import (
    MAX_MEDIA_SECONDS,
    Clear,
    Connected,
    Dtmf,
    Mark,
    Media,
    Start,
    Stop,
    StreamProtocol,
    Unknown,
)

TWILIO_START = {
    "event": "start",
    "sequenceNumber": "1",
    "streamSid": "MZ1",
    "start": {
        "streamSid": "MZ1",
        "accountSid": "AC1",
        "callSid": "CA1",
        "tracks": ["inbound"],
        "customParameters": {"lang": "en"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    },
}
CLOUDONIX_START = {
    "event": "start",
    "streamSid": "MZ2",
    "start": {"session": "sess-9", "callSid": "CA2", "tracks": ["inbound"]},
}


def _started(start: dict[str, Any] = TWILIO_START) -> StreamProtocol:
    protocol = StreamProtocol()
    protocol.parse(json.dumps(start))
    return protocol


def test_twilio_start_media_dtmf_mark_stop() -> None:
    protocol = StreamProtocol()
    assert protocol.parse('{"event":"connected","protocol":"Call","version":"1.0.0"}') == (
        Connected("Call", "1.0.0")
    )
    start = protocol.parse(json.dumps(TWILIO_START))
    assert start == Start(
        call_sid="CA1", stream_sid="MZ1", account_sid="AC1", parameters={"lang": "en"}
    )
    media = protocol.parse(
        json.dumps(
            {
                "event": "media",
                "streamSid": "MZ1",
                "media": {
                    "track": "inbound",
                    "chunk": "2",
                    "timestamp": "20",
                    "payload": base64.b64encode(b"\xff" * 160).decode(),
                },
            }
        )
    )
    assert media == Media(b"\xff" * 160, "inbound", 2, 20)
    assert protocol.parse('{"event":"dtmf","dtmf":{"digit":"#"}}') == Dtmf("#")
    assert protocol.parse('{"event":"mark","mark":{"name":"m1"}}') == Mark("m1")
    assert protocol.parse('{"event":"stop","stop":{"callSid":"CA1"}}') == Stop("CA1")


def test_cloudonix_start_without_account_or_media_format_is_mulaw_8k() -> None:
    protocol = _started(CLOUDONIX_START)
    assert protocol.start is not None
    assert (protocol.start.session, protocol.start.account_sid) == ("sess-9", None)
    assert (protocol.encoding, protocol.sample_rate, protocol.start.stream_sid) == (
        "pcmu", 8000, "MZ2"
    )  # fmt: skip
    assert protocol.parse('{"event":"stop","stop":{"session":"sess-9","callSid":"CA2"}}') == Stop(
        "CA2"
    )


def test_outbound_messages_address_the_stream() -> None:
    protocol = _started()
    # The fast path writes exactly what the JSON encoder would, even for an odd sid.
    odd = json.loads(json.dumps(TWILIO_START))
    odd["start"]["streamSid"] = 'MZ"\\\u00e9'
    assert _started(odd).media(b"\x01") == json.dumps(
        {"event": "media", "streamSid": 'MZ"\\\u00e9', "media": {"payload": "AQ=="}},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert json.loads(protocol.media(b"\x00\x01")) == {
        "event": "media", "streamSid": "MZ1", "media": {"payload": "AAE="}
    }  # fmt: skip
    assert json.loads(protocol.mark("m")) == {"event": "mark", "streamSid": "MZ1",
                                              "mark": {"name": "m"}}  # fmt: skip
    assert json.loads(protocol.clear()) == {"event": "clear", "streamSid": "MZ1"}
    peer = PlatformPeer("MZ1", "CA1")
    assert peer.parse(protocol.clear()) == Clear()
    assert peer.parse(protocol.media(b"\x01")) == Media(b"\x01")


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"event": 3}', "no event"),
        ('{"event": "media", "media": {"payload": "AA=="}}', "before start"),
    ],
)
def test_messages_refused_before_start(message: str, why: str) -> None:
    with pytest.raises(MediaProtocolError) as caught:
        StreamProtocol().parse(message)
    assert why in caught.value.message
    assert caught.value.code == "MEDIA_PROTOCOL"


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ({"event": "media", "media": {"payload": "@@@"}}, "not valid base64"),
        ({"event": "media", "media": {"payload": 5}}, "base64 text"),
        ({"event": "media", "media": {"payload": base64.b64encode(bytes(80002)).decode()}},
         "over 80000"),
        ({"event": "media", "media": {"payload": "AA==", "chunk": "two"}}, "whole number"),
        ({"event": "media"}, "must be an object"),
        ({"event": "dtmf", "dtmf": {"digit": "55"}}, "dtmf.digit"),
        ({"event": "mark", "mark": {}}, "mark.name"),
        (TWILIO_START, "second start"),
    ],
)  # fmt: skip
def test_messages_refused_after_start(message: dict[str, Any], why: str) -> None:
    with pytest.raises(MediaProtocolError) as caught:
        _started().parse(json.dumps(message))
    assert why in caught.value.message


def test_odd_sized_pcm16_frames_and_bad_formats_are_refused() -> None:
    start = json.loads(json.dumps(TWILIO_START))
    start["start"]["mediaFormat"] = {"encoding": "audio/l16", "sampleRate": 16000}
    protocol = _started(start)
    assert protocol.sample_rate == 16000
    with pytest.raises(MediaProtocolError, match="whole samples"):
        protocol.parse(json.dumps({"event": "media", "media": {"payload": "AAAA"}}))
    for media_format in ({"encoding": "gsm"}, {"encoding": "audio/x-mulaw", "sampleRate": 16000},
                         {"encoding": "audio/x-mulaw", "channels": 2}):  # fmt: skip
        start["start"]["mediaFormat"] = media_format
        with pytest.raises(MediaProtocolError):
            _started(start)


def test_binary_frames_are_refused() -> None:
    with pytest.raises(MediaProtocolError, match="binary"):
        StreamProtocol().parse(b'{"event":"connected"}')


# --- SmartPBX ---------------------------------------------------------------------------


def test_smartpbx_start_and_media_both_ways() -> None:
    pbx = SmartPbxClient("call_12345", account_id="acc_abc123", caller="+1234567890",
                         callee="+1234567891", encoding="pcm16", sample_rate=24000)  # fmt: skip
    assert json.loads(pbx.start()) == {
        "event": "start",
        "start": {
            "callId": "call_12345",
            "callerIdNumber": "+1234567890",
            "calleeIdNumber": "+1234567891",
            "accountId": "acc_abc123",
            "mediaFormat": {"encoding": "pcm16", "sampleRate": 24000},
        },
    }
    endpoint = SmartPbxEndpoint()
    start = endpoint.parse(pbx.start())
    assert isinstance(start, Start)
    assert (start.call_sid, start.account_sid, start.caller) == (
        "call_12345", "acc_abc123", "+1234567890"
    )  # fmt: skip
    assert endpoint.parse(pbx.media(b"\x01\x02")) == Media(b"\x01\x02")
    reply = endpoint.media(b"\x03\x04")
    assert json.loads(reply)["callId"] == "call_12345"
    assert json.loads(reply)["accountId"] == "acc_abc123"
    assert pbx.parse(reply) == Media(b"\x03\x04")
    # Tolerated: connected and stop, and media without the ids.
    assert isinstance(pbx.parse('{"event":"connected"}'), Connected)
    assert pbx.parse('{"event":"stop"}') == Stop("call_12345")
    assert pbx.parse('{"event":"media","media":{"payload":"AAA="}}') == Media(b"\x00\x00")


def test_smartpbx_refuses_foreign_ids_and_odd_pcm() -> None:
    pbx = SmartPbxClient("c1", account_id="a1")
    for message, why in [
        ('{"event":"media","callId":"c2","media":{"payload":"AAA="}}', "another call"),
        ('{"event":"media","media":{"payload":"AAAA"}}', "whole samples"),
    ]:
        with pytest.raises(MediaProtocolError, match=why):
            pbx.parse(message)
    endpoint = SmartPbxEndpoint()
    with pytest.raises(MediaProtocolError, match="before start"):
        endpoint.parse('{"event":"media","media":{"payload":"AAA="}}')
    with pytest.raises(MediaProtocolError, match="not supported"):
        endpoint.parse('{"event":"start","start":{"callId":"c","mediaFormat":{"encoding":"x"}}}')


def test_events_of_unknown_names_parse_as_unknown_on_every_side() -> None:
    """Neither peer's extra events (pipecat's, a transcript, a newer protocol's) are errors."""
    transcript = '{"event":"transcript","text":"hello"}'
    assert StreamProtocol().parse(transcript) == Unknown("transcript")  # even before start
    assert _started().parse('{"event":"dance","x":1}') == Unknown("dance")
    assert PlatformPeer("MZ1", "CA1").parse('{"event":"twirl","streamSid":"MZ9"}') == Unknown(
        "twirl"
    )
    assert SmartPbxClient("c1").parse(transcript) == Unknown("transcript")
    assert SmartPbxEndpoint().parse('{"event":"clear"}') == Unknown("clear")
    assert Unknown("x" * 100).name == "x" * 40


def test_payloads_up_to_ten_seconds_are_taken_and_longer_ones_refused_with_a_code() -> None:
    ten_seconds = base64.b64encode(bytes(80000)).decode()
    message = json.dumps({"event": "media", "media": {"payload": ten_seconds}})
    assert MAX_MEDIA_SECONDS == 10.0
    assert len(_started().parse(message).payload) == 80000  # type: ignore[union-attr]
    app = StreamProtocol()
    app.parse(PlatformPeer("MZ1", "CA1").start())
    assert len(PlatformPeer("MZ1", "CA1").parse(app.media(bytes(80000))).payload) == 80000  # type: ignore[union-attr]
    with pytest.raises(MediaProtocolError) as caught:
        _started().parse(message.replace(ten_seconds, base64.b64encode(bytes(80001)).decode()))
    assert caught.value.code == "MEDIA_TOO_LARGE"


# --- junk ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
events = st.sampled_from(["connected", "start", "media", "dtmf", "mark", "stop", "clear", "x"])
messages = st.one_of(
    st.text(max_size=60),
    json_values.map(json.dumps),
    st.builds(
        lambda event, body: json.dumps({"event": event, **body}),
        events,
        st.dictionaries(
            st.sampled_from(["start", "media", "dtmf", "mark", "stop", "streamSid"]),
            json_values,
            max_size=3,
        ),
    ),
    st.builds(
        lambda payload, extra: json.dumps(
            {"event": "media", "media": {"payload": payload, **extra}}
        ),
        st.text(alphabet="AB+/=@", max_size=12),
        st.dictionaries(st.sampled_from(["chunk", "timestamp", "track"]), json_values, max_size=2),
    ),
)


@given(st.lists(messages, max_size=6))
def test_junk_gives_only_our_error(junk: list[str]) -> None:
    for parser in (_started(), StreamProtocol(), SmartPbxClient("c"), SmartPbxEndpoint()):
        for message in junk:
            with contextlib.suppress(MediaProtocolError):
                parser.parse(message)


@given(st.lists(messages, min_size=1, max_size=4))
def test_junk_closes_the_stream_cleanly_and_the_server_carries_on(junk: list[str]) -> None:
    async def scenario() -> None:
        server = StreamServer(engine=lambda call: EchoEngine(), pace=False)
        connect = server.connector()
        stream = await connect("wss://bridge.example.com/media", {})
        await stream.send(PlatformPeer("MZ1", "CA1").start())
        for message in junk:
            await stream.send(message)
        await stream.send("{")  # whatever came before, this ends it
        while await stream.receive() is not None:
            pass
        await stream.close()
        # Refused with our error, or ended by a junk message that happened to be a valid stop.
        assert [type(e) for e in server.errors] in ([MediaProtocolError], [])
        assert server.errors or any('"stop"' in m for m in junk)
        # The same server still serves the next call.
        peer = PlatformPeer("MZ2", "CA2")
        second = await connect("wss://bridge.example.com/media", {})
        for message in (peer.start(), peer.media(b"\x10" * 160)):
            await second.send(message)
        echoed = await second.receive()
        assert echoed is not None
        assert peer.parse(echoed) == Media(b"\x10" * 160)
        await second.close()
        await server.wait_closed()

    asyncio.run(scenario())


@given(
    st.binary(max_size=400),
    st.sampled_from(sorted("0123456789*#ABCD")),
    st.text(min_size=1, max_size=20),
    st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=4),
)
def test_what_the_peer_builds_the_app_reads_back(
    audio: bytes, digit: str, name: str, parameters: dict[str, str]
) -> None:
    peer = PlatformPeer("MZ1", "CA1", parameters=parameters, session="s1")
    app = StreamProtocol()
    start = app.parse(peer.start())
    assert isinstance(start, Start)
    assert (start.parameters, start.session, start.account_sid) == (parameters, "s1", None)
    assert app.parse(peer.media(audio)) == Media(audio, "inbound", 1, 0)
    assert app.parse(peer.dtmf(digit)) == Dtmf(digit)
    assert app.parse(peer.mark(name)) == Mark(name)
    assert peer.parse(app.media(audio)) == Media(audio)
    assert peer.parse(app.mark(name)) == Mark(name)
    endpoint = SmartPbxEndpoint()
    pbx = SmartPbxClient(name, account_id="a", encoding="pcmu", sample_rate=8000)
    endpoint.parse(pbx.start())
    assert endpoint.parse(pbx.media(audio)) == Media(audio)
    assert pbx.parse(endpoint.media(audio)) == Media(audio)


def test_the_peer_numbers_and_times_its_frames_as_twilio_does() -> None:
    # The frames come from cxml's PlatformFrames, which the call simulator also uses.
    peer = PlatformPeer("MZ1", "CA1", account_sid="AC1", session="s1")
    frames = [json.loads(f) for f in (peer.connected(), peer.start(), peer.media(b"\xff" * 160),
                                      peer.media(b"\xff" * 80), peer.media(b"\xff"), peer.dtmf("7"),
                                      peer.mark("m"), peer.stop())]  # fmt: skip
    assert "sequenceNumber" not in frames[0]
    assert [f["sequenceNumber"] for f in frames[1:]] == [str(n) for n in range(1, 8)]
    assert {f["streamSid"] for f in frames[1:]} == {"MZ1"}
    # chunk counts frames; timestamp is the milliseconds of 8 kHz audio sent before each one
    assert [(f["media"]["chunk"], f["media"]["timestamp"]) for f in frames[2:5]] == [
        ("1", "0"), ("2", "20"), ("3", "30")
    ]  # fmt: skip
    assert frames[-1]["stop"] == {"accountSid": "AC1", "callSid": "CA1", "session": "s1"}
    assert PlatformPeer("MZ2", "CA2").stop().endswith('"stop":{"callSid":"CA2"}}')
