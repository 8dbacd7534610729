"""StreamServer and ProviderBridge end to end: real WebSocket peers on 127.0.0.1, the
in-process connector, tickets, conversion both ways, marks and barge-in."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from cxml import CallRequest, Parameter, Stream, StreamChannel, StreamError
from providers import (
    AIAssistant,
    AssistantUnavailableError,
    BlockedAddressError,
    HttpPolicy,
    MediaBridge,
    SignatureError,
)
from providers.media import (
    BaseEngine,
    DtmfEngine,
    EchoEngine,
    Engine,
    PlatformPeer,
    PlaybackEngine,
    SmartPbxEndpoint,
    StreamCall,
    StreamResult,
    StreamServer,
    VirtualClock,
    connect_websocket,
    open_codec,
    pcm_from_ulaw,
    ulaw_from_pcm,
)
from providers.media.protocols import Clear, Mark, Media, Start, Unknown

from .loopback import media_until, run
from .media_signals import chunks, sinad, tone

SECRET = "media-bridge-secret-0123456789"
BRIDGE = MediaBridge("wss://bridge.example.com/media", SECRET)
NOW = 1_800_000_000.0
LOUD = ulaw_from_pcm(tone(8000, 0.02, (300, 0.3)))  # a 20 ms frame of "speech"
QUIET = b"\xff" * 160  # mu-law silence
#: The test endpoints listen on loopback over plain ws://, which the default guard refuses.
LOOPBACK = HttpPolicy(allow_http=True, allowed_networks=("127.0.0.0/8",))


def _ticketed(peer_sid: str, call_sid: str, assistant: str, **parameters: str) -> PlatformPeer:
    ticket = BRIDGE.ticket(assistant, call_sid, now=NOW)
    return PlatformPeer(peer_sid, call_sid, parameters={"cxmlflow-ticket": ticket, **parameters})


# --- the platform through a real WebSocket into StreamServer ------------------------------


def test_a_ticketed_call_over_websocket_is_echoed_intact() -> None:
    bot = AIAssistant("bot", "builtin", {"engine_model": "openai.gpt-4o"})
    # The document the router returns holds the ticket the platform hands back in start.
    verb = bot.verb(CallRequest.from_payload({"CallSid": "CA7"}), bridge=BRIDGE, now=NOW)
    stream = verb.children[0]
    assert isinstance(stream, Stream)
    parameters = {str(p.name): str(p.value) for p in stream.children if isinstance(p, Parameter)}
    assert "cxmlflow-ticket" in parameters
    engines: list[StreamCall] = []

    def make(assistant: AIAssistant, call: StreamCall) -> Engine:
        assert assistant is bot
        engines.append(call)
        return EchoEngine()

    server = StreamServer(bridge=BRIDGE, assistants=[bot], engines=make, pace=False,
                          now=lambda: NOW)  # fmt: skip
    sent = ulaw_from_pcm(tone(8000, 1.0, (440, 0.4), (1200, 0.2)))

    async def scenario() -> None:
        async with server.listen() as address, connect(address) as socket:
            peer = PlatformPeer("MZ7", "CA7", parameters=parameters, account_sid="AC1")
            await socket.send(peer.connected())
            await socket.send(peer.start())
            for frame in chunks(sent, 160):
                await socket.send(peer.media(frame))
            echoed = await media_until(socket, peer, 50)
            await socket.send(peer.stop())
            assert b"".join(echoed) == sent
            await socket.wait_closed()

    run(scenario)
    (call,) = engines
    assert (call.call_sid, call.account_sid, call.assistant) == ("CA7", "AC1", bot)
    assert "cxmlflow-ticket" not in call.parameters
    assert not server.errors


@pytest.mark.parametrize(
    ("ticket_for", "error", "code"),
    [
        (("bot", "CA-other"), SignatureError, "BAD_SIGNATURE"),
        (("ghost", "CA1"), AssistantUnavailableError, "ASSISTANT_UNAVAILABLE"),
        (("sleepy", "CA1"), AssistantUnavailableError, "ASSISTANT_UNAVAILABLE"),
        (None, SignatureError, "BAD_SIGNATURE"),
        ("forged", SignatureError, "BAD_SIGNATURE"),
    ],
)
def test_streams_without_a_good_ticket_are_closed(
    ticket_for: tuple[str, str] | str | None, error: type[Exception], code: str
) -> None:
    assistants = [
        AIAssistant("bot", "builtin", {"engine_model": "openai.gpt-4o"}),
        AIAssistant("sleepy", "builtin", {"engine_model": "openai.gpt-4o"}, status="inactive"),
    ]
    server = StreamServer(bridge=BRIDGE, assistants=assistants, engines=lambda a, c: EchoEngine(),
                          pace=False, now=lambda: NOW)  # fmt: skip
    if ticket_for is None:
        parameters = {}
    elif ticket_for == "forged":
        parameters = {"cxmlflow-ticket": BRIDGE.ticket("bot", "CA1", now=NOW)[:-3] + "AAA"}
    else:
        assert isinstance(ticket_for, tuple)
        parameters = {"cxmlflow-ticket": BRIDGE.ticket(*ticket_for, now=NOW)}

    async def scenario() -> None:
        async with server.listen() as address, connect(address) as socket:
            peer = PlatformPeer("MZ1", "CA1", parameters=parameters)
            await socket.send(peer.start())
            await socket.send(peer.media(QUIET))
            await socket.wait_closed()  # closed without a word

    run(scenario)
    (refused,) = server.errors
    assert isinstance(refused, error)
    assert refused.code == code


def test_an_expired_ticket_is_refused() -> None:
    bot = AIAssistant("bot", "builtin", {"engine_model": "openai.gpt-4o"})
    server = StreamServer(bridge=BRIDGE, assistants=[bot], engines=lambda a, c: EchoEngine(),
                          pace=False, now=lambda: NOW + BRIDGE.ttl + 5)  # fmt: skip

    async def scenario() -> None:
        stream = await server.connector()("wss://bridge.example.com/media", {})
        await stream.send(_ticketed("MZ1", "CA1", "bot").start())
        assert await stream.receive() is None
        await stream.close()

    run(scenario)
    assert server.errors[0].message == "the token has expired"


# --- in process: the connector the call simulator uses -------------------------------------


def test_the_in_process_connector_echoes_through_resamplers() -> None:
    # An engine at 16 kHz: mu-law 8k -> 16k -> engine -> 16k -> 8k mu-law.
    connector = StreamServer.for_engine(lambda call: EchoEngine(16000))
    sent = ulaw_from_pcm(tone(8000, 1.0, (440, 0.5)))

    async def scenario() -> None:
        stream = await connector("wss://bridge.example.com/media", {"lang": "en"})
        peer = PlatformPeer("MZ1", "CA1")
        await stream.send(peer.start())
        got = []
        for frame in chunks(sent, 160):
            await stream.send(peer.media(frame))
            message = await stream.receive()
            assert message is not None
            event = peer.parse(message)
            assert isinstance(event, Media)
            got.append(event.payload)
        await stream.close()
        assert await stream.receive() is None
        assert [len(p) for p in got] == [160] * 50
        # mu-law allows ~38 dB once; encoding twice (caller, then bridge) about 35.
        assert sinad(pcm_from_ulaw(b"".join(got)), 8000, 440) >= 32

    run(scenario)
    assert connector.urls == ["wss://bridge.example.com/media"]


def test_dtmf_engine_answers_keys_and_hangs_up() -> None:
    clip = tone(8000, 0.1, (700, 0.3))
    engine = DtmfEngine({"1": clip}, greeting=tone(8000, 0.04, (500, 0.3)))
    connector = StreamServer.for_engine(engine)

    async def scenario() -> None:
        stream = await connector("wss://bridge.example.com/media", {})
        peer = PlatformPeer("MZ1", "CA1")
        await stream.send(peer.start())
        greeting = []
        while (event := peer.parse(await stream.receive() or "")) != Mark("greeting"):
            greeting.append(event)
        assert len(greeting) == 2
        for digit in "19#":
            await stream.send(peer.dtmf(digit))
        events = []
        while (message := await stream.receive()) is not None:
            events.append(peer.parse(message))
        await stream.close()
        # A key interrupts what plays; key 1 plays its clip; 9 is not in the menu; # ends.
        assert events[0] == Clear()
        assert [type(e) for e in events[1:]] == [Media] * 5 + [Mark]
        assert events[-1] == Mark("key-1")

    run(scenario)
    assert engine.digits == ["1", "9", "#"]
    assert ("stop", None) in engine.events


# --- pacing, marks, barge-in -----------------------------------------------------------------


class Wire:
    """The app's end of a stream, logging each message as it crosses (in or out)."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.log: list[tuple[str, str]] = []

    async def send(self, text: str) -> None:
        self.log.append(("out", json.loads(text)["event"]))
        self.outbox.put_nowait(text)

    async def receive(self) -> str | None:
        message = await self.inbox.get()
        if message is not None:
            self.log.append(("in", json.loads(message)["event"]))
        return message

    async def close(self) -> None:
        self.outbox.put_nowait(None)


async def _next_out(wire: Wire, peer: PlatformPeer) -> Media | Mark | Clear | Unknown | None:
    message = await wire.outbox.get()
    return None if message is None else peer.parse(message)


def test_paced_audio_marks_after_what_was_played_and_barge_in_clears_within_a_frame() -> None:
    clock = VirtualClock(100.0)
    engine = PlaybackEngine([tone(8000, 0.1, (500, 0.3)), tone(8000, 2.0, (600, 0.3))])
    server = StreamServer(engine=engine, clock=clock, sleep=clock.sleep)
    wire, peer = Wire(), PlatformPeer("MZ1", "CA1")

    async def scenario() -> None:
        session = asyncio.create_task(server.handle(wire))
        wire.inbox.put_nowait(peer.start())
        first = [await _next_out(wire, peer) for _ in range(6)]
        assert first[:5] == [Media(first[i].payload) for i in range(5)]  # type: ignore[union-attr]
        assert first[5] == Mark("clip-0")  # sent after the clip's 5 frames, not when queued
        assert not engine.events  # and not played until the platform says so
        wire.inbox.put_nowait(peer.mark("clip-0"))
        received = 0
        while received < 20:  # 400 ms into the long clip, the caller starts talking
            event = await _next_out(wire, peer)
            received += isinstance(event, Media)
        assert ("played", "clip-0") in engine.events
        for _ in range(3):
            wire.inbox.put_nowait(peer.media(LOUD))
        while not isinstance(await _next_out(wire, peer), Clear):
            pass
        wire.inbox.put_nowait(peer.media(QUIET))
        wire.inbox.put_nowait(peer.stop())
        await session
        assert await wire.outbox.get() is None  # nothing of the reply after the clear

    run(scenario)
    # The loud frame that makes 40 ms of speech is the 2nd; the clear follows within a frame.
    inbound = [i for i, (way, event) in enumerate(wire.log) if (way, event) == ("in", "media")]
    clear = wire.log.index(("out", "clear"))
    assert sum(1 for way, e in wire.log[inbound[1] : clear] if (way, e) == ("out", "media")) <= 1
    (played,) = [value for kind, value in engine.events if kind == "interrupted"]
    # The reply is the audio played without a pause (both clips); its frames run `lead`
    # (40 ms) ahead of the clock, and those were not heard yet.
    sent = sum(1 for way, e in wire.log[:clear] if (way, e) == ("out", "media"))
    assert played == pytest.approx(sent * 0.02 - server.lead, abs=0.021)
    assert ("played", "clip-1") not in engine.events


def test_marks_echoed_by_a_clear_are_not_played() -> None:
    # Unpaced, all audio is sent at once and the platform buffers it; its clear echoes the
    # pending mark, which must not count as played.
    engine = PlaybackEngine([tone(8000, 1.0, (600, 0.3))])
    server = StreamServer(engine=engine, pace=False)
    wire, peer = Wire(), PlatformPeer("MZ1", "CA1")

    async def scenario() -> None:
        session = asyncio.create_task(server.handle(wire))
        wire.inbox.put_nowait(peer.start())
        while await _next_out(wire, peer) != Mark("clip-0"):
            pass
        for _ in range(2):
            wire.inbox.put_nowait(peer.media(LOUD))
        while not isinstance(await _next_out(wire, peer), Clear):
            pass
        wire.inbox.put_nowait(peer.mark("clip-0"))  # Twilio echoes marks on clear
        wire.inbox.put_nowait(peer.stop())
        await session

    run(scenario)
    assert [kind for kind, _ in engine.events] == ["interrupted", "stop"]
    assert engine.events[0] == ("interrupted", 1.0)  # unpaced: what was sent


def test_an_echo_engine_is_not_interrupted_by_the_voice_it_echoes() -> None:
    engine = EchoEngine()
    server = StreamServer(engine=engine, pace=False)
    wire, peer = Wire(), PlatformPeer("MZ1", "CA1")

    async def scenario() -> None:
        session = asyncio.create_task(server.handle(wire))
        wire.inbox.put_nowait(peer.start())
        for _ in range(10):
            wire.inbox.put_nowait(peer.media(LOUD))
        for _ in range(10):
            assert await _next_out(wire, peer) == Media(LOUD)
        wire.inbox.put_nowait(peer.stop())
        await session

    run(scenario)
    assert ("out", "clear") not in wire.log
    assert wire.log.count(("out", "media")) == 10


class Crashing(BaseEngine):
    async def dtmf(self, digit: str) -> None:
        raise ZeroDivisionError(digit)


def test_an_engine_that_fails_ends_its_call_not_the_server() -> None:
    server = StreamServer(engine=lambda call: Crashing(), pace=False)

    async def scenario() -> None:
        stream = await server.connector()("wss://bridge.example.com/media", {})
        await stream.send(PlatformPeer("MZ1", "CA1").start())
        await stream.send(PlatformPeer("MZ1", "CA1").dtmf("5"))
        assert await stream.receive() is None
        await stream.close()

    run(scenario)
    assert server.errors[0].code == "ENGINE_FAILED"
    assert "ZeroDivisionError" in server.errors[0].message


# --- onward to a remote AI endpoint (SmartPBX protocol) --------------------------------------


@contextlib.asynccontextmanager
async def fake_endpoint(reply: bytes) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """An AI endpoint on 127.0.0.1 speaking SmartPBX: records what it hears and, once it has
    heard a second of audio, answers with ``reply`` (PCM16 at its own rate)."""
    seen: dict[str, Any] = {"audio": bytearray(), "headers": None, "start": None}

    async def handler(socket: ServerConnection) -> None:
        assert socket.request is not None
        seen["headers"] = socket.request.headers  # case-insensitive
        endpoint = SmartPbxEndpoint()
        codec = None
        async for message in socket:
            event = endpoint.parse(message)
            if isinstance(event, Start):
                seen["start"] = event
                # One codec per direction: Opus keeps state in each.
                codec = open_codec(event.encoding, event.sample_rate)
                answer = open_codec(event.encoding, event.sample_rate)
                frame = 2 * event.sample_rate // 50
                for part in chunks(reply[: len(reply) - len(reply) % frame], frame):
                    await socket.send(endpoint.media(answer.encode(part)))
            elif isinstance(event, Media):
                assert codec is not None
                seen["audio"] += codec.decode(event.payload)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/agent", seen


def _formats() -> list[str]:
    formats = ["pcm16", "g711_ulaw"]
    try:
        open_codec("opus")
    except Exception:
        return formats
    return [*formats, "opus"]


@pytest.mark.parametrize("media", _formats())
def test_provider_bridge_converts_both_ways_for_each_media_format(media: str) -> None:
    rate = {"pcm16": 24000, "g711_ulaw": 8000, "opus": 48000}[media]
    agent = AIAssistant(
        "agent",
        "websocket-endpoint",
        {"websocket_url": "wss://agent.example.com/ws", "media": media,
         "websocket_headers": {"Authorization": "Bearer t0ken"}},
    )  # fmt: skip
    caller_audio = ulaw_from_pcm(tone(8000, 1.0, (440, 0.4)))
    dialled: list[str] = []

    async def scenario() -> None:
        async with fake_endpoint(tone(rate, 1.0, (500, 0.4))) as (address, seen):

            async def local(url: str, headers: Mapping[str, str]) -> StreamChannel:
                dialled.append(url)  # the configured wss:// URL, sent to the local endpoint
                return await connect_websocket(address, headers, policy=LOOPBACK)

            server = StreamServer(bridge=BRIDGE, assistants=[agent], pace=False,
                                  now=lambda: NOW, connect=local)  # fmt: skip
            async with server.listen() as stream_address, connect(stream_address) as socket:
                peer = _ticketed("MZ1", "CA1", "agent", From="+15551230000", To="+15559870000")
                await socket.send(peer.start())
                for frame in chunks(caller_audio, 160):
                    await socket.send(peer.media(frame))
                heard = await media_until(socket, peer, 45)
                await socket.send(peer.stop())
                assert [m async for m in socket]  # the rest of the reply, to the close
            # What the endpoint heard: the caller's tone at the endpoint's rate and format.
            start = seen["start"]
            assert (start.call_sid, start.caller, start.callee) == (
                "CA1", "+15551230000", "+15559870000"
            )  # fmt: skip
            assert (start.encoding, start.sample_rate) == (
                {"pcm16": "pcm16", "g711_ulaw": "pcmu", "opus": "opus"}[media], rate
            )  # fmt: skip
            assert seen["headers"]["Authorization"] == "Bearer t0ken"
            audio = bytes(seen["audio"])
            assert abs(len(audio) / 2 / rate - 1.0) <= 0.03
            assert sinad(audio, rate, 440, skip=0.1) >= (20 if media == "opus" else 30)
            # What the caller heard: the endpoint's tone, as mu-law 8 kHz.
            assert sinad(pcm_from_ulaw(b"".join(heard)), 8000, 500, skip=0.1) >= (
                20 if media == "opus" else 30
            )

    run(scenario)
    assert dialled == ["wss://agent.example.com/ws"]


def test_provider_bridge_to_an_unreachable_endpoint_closes_the_stream() -> None:
    config = {"websocket_url": "wss://agent.example.com/ws", "media": "pcm16"}
    agent = AIAssistant("agent", "websocket-endpoint", config)

    async def nowhere(url: str, headers: Mapping[str, str]) -> StreamChannel:
        return await connect_websocket(
            "ws://127.0.0.1:9/none", headers, policy=LOOPBACK, open_timeout=2
        )

    server = StreamServer(bridge=BRIDGE, assistants=[agent], pace=False, now=lambda: NOW,
                          connect=nowhere)  # fmt: skip

    async def scenario() -> None:
        stream = await server.connector()("wss://bridge.example.com/media", {})
        await stream.send(_ticketed("MZ1", "CA1", "agent").start())
        assert await stream.receive() is None
        await stream.close()

    run(scenario)
    assert server.errors[0].code == "ASSISTANT_UNAVAILABLE"


@pytest.mark.parametrize(
    "url",
    ["wss://127.0.0.1:9/ws", "wss://10.1.2.3/ws", "wss://[::1]/ws", "ws://agent.example.com/"],
)
def test_the_default_connect_refuses_private_addresses_and_plain_ws(url: str) -> None:
    async def scenario() -> None:
        with pytest.raises(BlockedAddressError) as caught:
            await connect_websocket(url, {})
        assert caught.value.code == "BLOCKED_ADDRESS"

    run(scenario)


def test_an_endpoint_on_a_private_address_is_refused_by_the_server() -> None:
    config = {"websocket_url": "wss://127.0.0.1:9/ws", "media": "pcm16"}
    agent = AIAssistant("agent", "websocket-endpoint", config)
    server = StreamServer(bridge=BRIDGE, assistants=[agent], pace=False, now=lambda: NOW)

    async def scenario() -> None:
        stream = await server.connector()("wss://bridge.example.com/media", {})
        await stream.send(_ticketed("MZ1", "CA1", "agent").start())
        assert await stream.receive() is None
        await stream.close()

    run(scenario)
    assert server.errors[0].code == "BLOCKED_ADDRESS"


class TimedWire(Wire):
    """A Wire that notes the clock's time of each message the app sends."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.clock = clock
        self.times: list[tuple[str, float]] = []

    async def send(self, text: str) -> None:
        self.times.append((json.loads(text)["event"], self.clock()))
        await super().send(text)


def test_frames_leave_20_ms_apart_and_the_hang_up_waits_for_the_last_to_play() -> None:
    clock = VirtualClock(50.0)
    engine = PlaybackEngine([tone(8000, 0.2, (500, 0.3))], hangup=True)
    server = StreamServer(engine=engine, clock=clock, sleep=clock.sleep, lead=0.04)
    wire, peer = TimedWire(clock), PlatformPeer("MZ1", "CA1")

    async def scenario() -> None:
        wire.inbox.put_nowait(peer.start())
        await server.handle(wire)  # the engine hangs up: the session ends by itself

    run(scenario)
    sent = [t for event, t in wire.times if event == "media"]
    assert len(sent) == 10
    # Each frame leaves `lead` before its 20 ms slot; the first two have no earlier slot.
    slots = [50.0 + 0.02 * i for i in range(10)]
    assert sent == pytest.approx([max(50.0, s - 0.04) for s in slots])
    assert wire.times[-1][0] == "mark"
    # The stream closed once the last frame's slot had passed, not when it was sent.
    assert clock() == pytest.approx(50.2)
    assert ("stop", None) in engine.events


class Forwarder(BaseEngine):
    """Plays each caller frame back from a task of its own, as `ProviderBridge` plays what
    its endpoint sends, and swallows what playing raises (as a bridge takes its endpoint's
    errors); notes whether the frame was on the wire when ``play`` returned."""

    def __init__(self, wire: Wire) -> None:
        super().__init__()
        self.wire = wire
        self.on_the_wire_after_play: list[bool] = []
        self.raised: list[Exception] = []
        self.tasks: set[asyncio.Task[None]] = set()

    async def audio(self, pcm: bytes) -> None:
        task = asyncio.create_task(self._forward(pcm))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _forward(self, pcm: bytes) -> None:
        sent = sum(1 for way, event in self.wire.log if (way, event) == ("out", "media"))
        try:
            await self._out().play(pcm)
        except Exception as exc:
            self.raised.append(exc)
        now = sum(1 for way, event in self.wire.log if (way, event) == ("out", "media"))
        self.on_the_wire_after_play.append(now > sent)


def test_a_waiting_paced_player_sends_a_due_frame_from_play_itself() -> None:
    # No wake-up of the player's task per frame: on a busy loop that is a turn of delay.
    clock = VirtualClock(10.0)
    wire, peer = Wire(), PlatformPeer("MZ1", "CA1")
    engine = Forwarder(wire)
    server = StreamServer(engine=engine, clock=clock, sleep=clock.sleep)

    async def scenario() -> None:
        session = asyncio.create_task(server.handle(wire))
        wire.inbox.put_nowait(peer.start())
        for _ in range(3):
            wire.inbox.put_nowait(peer.media(b"\xff" * 160))
            await clock.sleep(0.02)
        wire.inbox.put_nowait(peer.stop())
        await session

    run(scenario)
    assert engine.on_the_wire_after_play == [True, True, True]


class FailingWire(Wire):
    async def send(self, text: str) -> None:
        if json.loads(text)["event"] == "media":
            raise StreamError("the stream closed while sending", code=31920)
        await super().send(text)


def test_a_send_failing_inside_play_ends_the_stream_as_a_playback_failure() -> None:
    # The error is the stream's, recorded as the player's task would, not the engine's.
    clock = VirtualClock(10.0)
    wire, peer = FailingWire(), PlatformPeer("MZ1", "CA1")
    engine = Forwarder(wire)
    server = StreamServer(engine=engine, clock=clock, sleep=clock.sleep)

    async def scenario() -> StreamResult:
        wire.inbox.put_nowait(peer.start())
        wire.inbox.put_nowait(peer.media(b"\xff" * 160))
        return await server.handle(wire)  # ends by itself: the failed send ends it

    result = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert result.outcome.kind == "error"
    assert result.outcome.code == "31920"
    assert [e.code for e in server.errors] == [31920]
    assert engine.raised == []


class Marker(BaseEngine):
    """Plays a frame and marks it "same" on every key."""

    async def dtmf(self, digit: str) -> None:
        await super().dtmf(digit)
        output = self._out()
        if digit == "*":
            await output.clear()
        else:
            await output.play(tone(8000, 0.02, (500, 0.3)))
            await output.mark("same")


def test_a_mark_name_used_again_is_told_apart_on_the_wire() -> None:
    engine = Marker()
    server = StreamServer(engine=engine, pace=False)
    wire, peer = Wire(), PlatformPeer("MZ1", "CA1")

    async def next_mark() -> str:
        while not isinstance(event := await _next_out(wire, peer), Mark):
            pass
        return event.name

    async def scenario() -> None:
        session = asyncio.create_task(server.handle(wire))
        wire.inbox.put_nowait(peer.start())
        wire.inbox.put_nowait(peer.dtmf("1"))
        first = await next_mark()
        wire.inbox.put_nowait(peer.dtmf("2"))
        second = await next_mark()  # still pending: the same name would be ambiguous
        wire.inbox.put_nowait(peer.dtmf("*"))  # clear; this platform echoes nothing
        wire.inbox.put_nowait(peer.dtmf("3"))
        third = await next_mark()
        wire.inbox.put_nowait(peer.mark(third))
        wire.inbox.put_nowait(peer.mark(first))  # late echo of a cleared mark
        wire.inbox.put_nowait(peer.stop())
        await session
        assert first == "same"
        assert len({first, second, third}) == 3
        assert all(name.startswith("same~") for name in (second, third))

    run(scenario)
    # Only the mark played after the clear counts; the cleared ones do not.
    assert [e for e in engine.events if e[0] == "played"] == [("played", "same")]


def test_barge_in_over_a_provider_bridge_drops_the_bridges_own_queue() -> None:
    # SmartPBX has no clear: the endpoint sent its whole reply at once, and the bridge, which
    # paces it out in real time, must drop what the caller has not heard yet.
    config = {"websocket_url": "wss://agent.example.com/ws", "media": "pcm16"}
    agent = AIAssistant("agent", "websocket-endpoint", config)

    async def scenario() -> None:
        async with fake_endpoint(tone(24000, 3.0, (500, 0.4))) as (address, _):

            async def local(url: str, headers: Mapping[str, str]) -> StreamChannel:
                return await connect_websocket(address, headers, policy=LOOPBACK)

            server = StreamServer(bridge=BRIDGE, assistants=[agent], now=lambda: NOW,
                                  connect=local)  # fmt: skip
            async with server.listen() as stream_address, connect(stream_address) as socket:
                peer = _ticketed("MZ1", "CA1", "agent")
                await socket.send(peer.start())
                heard = await media_until(socket, peer, 5)
                for _ in range(3):
                    await socket.send(peer.media(LOUD))
                after = []
                while not isinstance(event := peer.parse(await socket.recv()), Clear):
                    after.append(event)
                await socket.send(peer.stop())
                rest = [peer.parse(m) async for m in socket]
            # Paced: far less than the 3 s reply went out, and nothing of it after the clear.
            assert len(heard) + len(after) < 100
            assert not [e for e in rest if isinstance(e, Media)]

    run(scenario)
