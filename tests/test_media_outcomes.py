"""How media streams end (`Outcome`, ``Output.end``, ``on_outcome``), what tickets carry to
the endpoint, and a bridge that bends: unknown events, long chunks, recorded error codes."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from cxml import CallRequest, Stream, StreamChannel
from providers import AIAssistant, HttpPolicy, MediaBridge, SignatureError
from providers.media import (
    BaseEngine,
    EchoEngine,
    Outcome,
    OutcomeError,
    PlatformPeer,
    StreamCall,
    StreamResult,
    StreamServer,
    VirtualClock,
    connect_websocket,
    e164,
)
from providers.media.protocols import Media

from .loopback import run

SECRET = "media-outcome-secret-0123456789"
BRIDGE = MediaBridge("wss://bridge.example.com/media", SECRET)
NOW = 1_800_000_000.0
QUIET = b"\xff" * 160
LOOPBACK = HttpPolicy(allow_http=True, allowed_networks=("127.0.0.0/8",))
ENDPOINT = AIAssistant(
    "agent", "websocket-endpoint", {"websocket_url": "wss://agent.example.com/ws", "media": "pcm16"}
)


# --- the Outcome value ----------------------------------------------------------------------

texts = st.text(min_size=1, max_size=20)
outcomes = st.one_of(
    st.builds(
        Outcome, st.sampled_from(["hangup", "finished", "stop"]), detail=st.text(max_size=30)
    ),
    st.builds(Outcome, st.just("transfer"), destination=texts),
    st.builds(Outcome, st.just("error"), code=texts, detail=st.text(max_size=30)),
)


@given(outcomes)
def test_an_outcome_survives_json(outcome: Outcome) -> None:
    assert Outcome.from_json(outcome.to_json()) == outcome


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        "{}",
        '{"kind":"bye"}',
        '{"kind":"transfer"}',
        '{"kind":"error"}',
        '{"kind":"stop","extra":1}',
        '{"kind":"transfer","destination":5}',
        '{"kind":"stop","detail":null}',
    ],
)
def test_an_outcome_of_another_shape_is_refused_with_a_code(text: str) -> None:
    with pytest.raises(OutcomeError) as caught:
        Outcome.from_json(text)
    assert caught.value.code == "BAD_OUTCOME"


# --- Output.end and on_outcome --------------------------------------------------------------


class Transferring(BaseEngine):
    """Says goodbye (a second of audio), then asks to transfer; a second end is ignored."""

    async def start(self, call: StreamCall, output: Any) -> None:
        await super().start(call, output)
        await output.play(b"\x00\x00" * 8000)
        await output.end(Outcome("transfer", destination="1001"))
        await output.end(Outcome("stop"))


def _kept() -> tuple[list[tuple[StreamCall, Outcome]], Callable[..., Any]]:
    kept: list[tuple[StreamCall, Outcome]] = []

    async def on_outcome(call: StreamCall, outcome: Outcome) -> None:
        kept.append((call, outcome))

    return kept, on_outcome


def test_the_engines_outcome_ends_the_stream_after_its_audio_and_is_kept_once() -> None:
    kept, on_outcome = _kept()
    server = StreamServer(engine=lambda call: Transferring(), pace=False, on_outcome=on_outcome)

    async def scenario() -> list[str]:
        stream = await server.connector()("wss://bridge.example.com/media", {})
        peer = PlatformPeer("MZ1", "CA1")
        await stream.send(peer.start())
        events = []
        while (message := await stream.receive()) is not None:
            events.append(json.loads(message)["event"])
        await stream.close()
        return events

    events = run(scenario)
    assert events == ["media"] * 50  # all the goodbye played before the end
    assert [(call.call_sid, outcome) for call, outcome in kept] == [
        ("CA1", Outcome("transfer", destination="1001"))
    ]
    assert not server.errors


@pytest.mark.parametrize(
    ("last", "outcome"),
    [
        ("stop", Outcome("hangup")),
        ("close", Outcome("hangup")),
        ("{", Outcome("error", code="MEDIA_PROTOCOL", detail="a message is not JSON")),
    ],
)
def test_the_session_records_how_the_platform_ended_the_stream(last: str, outcome: Outcome) -> None:
    kept, on_outcome = _kept()
    server = StreamServer(engine=lambda call: EchoEngine(), pace=False, on_outcome=on_outcome)

    async def scenario() -> StreamResult:
        peer = PlatformPeer("MZ1", "CA1")
        app, platform = _pair()
        session = asyncio.create_task(server.handle(app))
        for message in (peer.start(), peer.media(QUIET)):
            await platform.send(message)
        if last == "stop":
            await platform.send(peer.stop())
        elif last == "close":
            await platform.close()
        else:
            await platform.send(last)
        return await session

    result = run(scenario)
    assert result.outcome == outcome
    assert kept == [(result.call, outcome)]
    assert [e.code for e in server.errors] == ([] if outcome.code is None else [outcome.code])


def test_a_refused_stream_reaches_errors_but_not_on_outcome() -> None:
    kept, on_outcome = _kept()
    server = StreamServer(bridge=BRIDGE, assistants=[ENDPOINT], pace=False, now=lambda: NOW,
                          on_outcome=on_outcome)  # fmt: skip
    forged = BRIDGE.ticket("agent", "CA2", now=NOW)  # another call's ticket

    async def scenario() -> StreamResult:
        app, platform = _pair()
        session = asyncio.create_task(server.handle(app))
        await platform.send(
            PlatformPeer("MZ1", "CA1", parameters={"cxmlflow-ticket": forged}).start()
        )
        return await session

    result = run(scenario)
    assert result.call is None
    assert result.outcome.kind == "error"
    assert result.outcome.code == "BAD_SIGNATURE"
    assert [e.code for e in server.errors] == ["BAD_SIGNATURE"]
    assert kept == []


def test_an_on_outcome_that_fails_is_recorded_and_the_server_carries_on() -> None:
    async def broken(call: StreamCall, outcome: Outcome) -> None:
        raise RuntimeError("store is down")

    server = StreamServer(engine=lambda call: EchoEngine(), pace=False, on_outcome=broken)

    async def scenario() -> StreamResult:
        app, platform = _pair()
        session = asyncio.create_task(server.handle(app))
        peer = PlatformPeer("MZ1", "CA1")
        await platform.send(peer.start())
        await platform.send(peer.stop())
        return await session

    assert run(scenario).outcome == Outcome("hangup")
    assert [e.code for e in server.errors] == ["OUTCOME_NOT_KEPT"]


class _Pipe:
    """One direction-pair end of an in-memory stream (a `cxml.StreamChannel`)."""

    def __init__(self, inbox: asyncio.Queue[str | None], outbox: asyncio.Queue[str | None]):
        self.inbox, self.outbox = inbox, outbox

    async def send(self, text: str) -> None:
        self.outbox.put_nowait(text)

    async def receive(self) -> str | None:
        return await self.inbox.get()

    async def close(self) -> None:
        self.outbox.put_nowait(None)


def _pair() -> tuple[_Pipe, _Pipe]:
    a: asyncio.Queue[str | None] = asyncio.Queue()
    b: asyncio.Queue[str | None] = asyncio.Queue()
    return _Pipe(a, b), _Pipe(b, a)


# --- caller numbers reach the endpoint (seed 002) ------------------------------------------

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")


@asynccontextmanager
async def seed_002_endpoint(
    extra: list[str] | None = None, reply_seconds: float = 2.0, hang_up_after: int = 0
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """An AI endpoint written from seed 002 alone (plain json, no cxmlflow code): checks the
    ``start`` event's fields, answers with ``extra`` messages and then one ``reply_seconds``
    media chunk of silence at the rate start named, keeps what it saw, and closes the
    socket (ends the call) once it has heard ``hang_up_after`` media messages."""
    seen: dict[str, Any] = {"start": None, "problems": [], "media": 0}

    async def handler(socket: ServerConnection) -> None:
        async for text in socket:
            message = json.loads(text)
            if message["event"] == "start":
                start = message["start"]
                seen["start"] = start
                for field in ("callerIdNumber", "calleeIdNumber"):
                    if not E164.match(start.get(field, "")):
                        seen["problems"].append(f"{field} is not E.164: {start.get(field)!r}")
                fmt = start["mediaFormat"]
                if (fmt["encoding"], fmt["sampleRate"]) not in (
                    ("pcm16", 24000), ("g711_ulaw", 8000), ("opus", 48000)
                ):  # fmt: skip
                    seen["problems"].append(f"mediaFormat {fmt}")
                for message_text in extra or []:
                    await socket.send(message_text)
                width = 2 if fmt["encoding"] == "pcm16" else 1
                chunk = bytes(int(fmt["sampleRate"] * width * reply_seconds))
                await socket.send(json.dumps({
                    "event": "media", "callId": start["callId"], "accountId": start["accountId"],
                    "media": {"payload": base64.b64encode(chunk).decode()},
                }))  # fmt: skip
            elif message["event"] == "media":
                seen["media"] += 1
            if seen["start"] is not None and seen["media"] >= hang_up_after:
                await socket.close()

    async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws/media-stream", seen


def _bridge_server(address: str, **options: Any) -> StreamServer:
    async def local(url: str, headers: Mapping[str, str]) -> StreamChannel:
        return await connect_websocket(address, headers, policy=LOOPBACK)

    options.setdefault("pace", False)
    return StreamServer(
        bridge=BRIDGE, assistants=[ENDPOINT], now=lambda: NOW, connect=local, **options
    )


def test_the_ticket_carries_the_calls_numbers_to_the_endpoints_start() -> None:
    """The verb signs From, To and the account into the ticket; the stream carries no other
    copy of them, and the server that admits it fills the endpoint's start from the ticket."""
    request = CallRequest(
        call_sid="CA7", from_="+1 (555) 010-2030", to="sip:+15559870000@pbx.example.com",
        account_sid="AC9",
    )  # fmt: skip
    verb = ENDPOINT.verb(request, bridge=BRIDGE, now=NOW)
    stream = verb.children[0]
    assert isinstance(stream, Stream)
    parameters = {p.name: p.value for p in stream.children}  # type: ignore[union-attr]
    assert set(parameters) == {"cxmlflow-ticket"}
    admitted = BRIDGE.admit(parameters["cxmlflow-ticket"], now=NOW)
    assert (admitted.caller, admitted.callee, admitted.account) == (
        "+1 (555) 010-2030", "sip:+15559870000@pbx.example.com", "AC9"
    )  # fmt: skip
    kept, on_outcome = _kept()

    async def scenario() -> dict[str, Any]:
        async with seed_002_endpoint(reply_seconds=0.1) as (address, seen):
            server = _bridge_server(address, on_outcome=on_outcome)
            async with server.listen() as listening, connect(listening) as socket:
                peer = PlatformPeer("MZ1", "CA7", parameters=parameters)
                await socket.send(peer.start())
                async for _ in socket:  # the reply, then the endpoint's end closes the stream
                    pass
            return seen

    seen = run(scenario)
    assert seen["problems"] == []
    start = seen["start"]
    fields = ("callId", "callerIdNumber", "calleeIdNumber", "accountId")
    assert [start[f] for f in fields] == ["CA7", "+15550102030", "+15559870000", "AC9"]
    ((call, outcome),) = kept
    assert (call.caller, call.callee, call.account_sid) == (
        "+1 (555) 010-2030", "sip:+15559870000@pbx.example.com", "AC9"
    )  # fmt: skip
    assert outcome == Outcome("finished")  # the endpoint closed its socket


@pytest.mark.parametrize(
    ("number", "wire"),
    [
        ("+15550102030", "+15550102030"),
        ("tel:+44-20-7946-0000", "+442079460000"),
        ("sips:+972501234567@x;user=phone", "+972501234567"),
        ("1001", "1001"),
        ("anonymous", "anonymous"),
        ("+0123", "+0123"),
        (None, ""),
    ],
)
def test_e164_normalises_numbers_and_leaves_the_rest(number: str | None, wire: str) -> None:
    assert e164(number) == wire


def test_a_tampered_ticket_cannot_change_the_numbers() -> None:
    ticket = BRIDGE.ticket("agent", "CA1", caller="+15550000001", now=NOW)
    head, _, mac = ticket.partition(".")
    payload = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    payload["from"] = "+15550000002"
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(SignatureError):
        BRIDGE.admit(f"{forged}.{mac}", now=NOW)


# --- a bridge that bends --------------------------------------------------------------------


def test_unknown_events_and_long_chunks_from_both_peers_keep_the_call_up() -> None:
    """The endpoint sends a transcript and a 2 s chunk; the platform a pipecat-sized 3 s chunk
    and events of its own: the call goes on, audio is re-framed into 20 ms frames, the
    unknown events are counted per stream and on the server."""
    kept, on_outcome = _kept()
    extra = [json.dumps({"event": "transcript", "text": "hi"}), '{"event":"ping"}']

    async def scenario() -> tuple[list[bytes], dict[str, Any], StreamServer]:
        async with seed_002_endpoint(extra, reply_seconds=2.0, hang_up_after=150) as (
            address,
            seen,
        ):
            server = _bridge_server(address, on_outcome=on_outcome)
            ticket = BRIDGE.ticket("agent", "CA1", caller="+15550102030", callee="+15559870000",
                                   now=NOW)  # fmt: skip
            peer = PlatformPeer("MZ1", "CA1", parameters={"cxmlflow-ticket": ticket})
            heard: list[bytes] = []
            async with server.listen() as listening, connect(listening) as socket:
                await socket.send(peer.start())
                await socket.send('{"event":"transcription","streamSid":"MZ1"}')
                await socket.send(peer.media(QUIET * 150))  # 3 s in one message
                async for message in socket:
                    event = peer.parse(message)
                    if isinstance(event, Media):
                        heard.append(event.payload)
            return heard, seen, server

    heard, seen, server = run(scenario)
    assert seen["problems"] == []
    assert [len(frame) for frame in heard] == [160] * 100  # 2 s as 20 ms frames
    assert seen["media"] == 150  # the caller's 3 s reached the endpoint as 150 frames
    assert server.ignored == {"platform": 1, "endpoint": 2}
    assert not server.errors
    assert [outcome for _, outcome in kept] == [Outcome("finished")]


@pytest.mark.parametrize(
    ("endpoint_says", "code"),
    [
        ('{"event":"media","media":{"payload":"@@@"}}', "ENDPOINT_PROTOCOL"),
        ("not json", "ENDPOINT_PROTOCOL"),
    ],
)
def test_an_endpoint_that_sends_garbage_ends_the_call_with_a_recorded_code(
    endpoint_says: str, code: str
) -> None:
    kept, on_outcome = _kept()

    async def scenario() -> StreamServer:
        async with seed_002_endpoint([endpoint_says], reply_seconds=0.0) as (address, _):
            server = _bridge_server(address, on_outcome=on_outcome)
            ticket = BRIDGE.ticket("agent", "CA1", now=NOW)
            peer = PlatformPeer("MZ1", "CA1", parameters={"cxmlflow-ticket": ticket})
            async with server.listen() as listening, connect(listening) as socket:
                await socket.send(peer.start())
                async for _ in socket:
                    pass
            return server

    server = run(scenario)
    assert [e.code for e in server.errors] == [code]
    ((_, outcome),) = kept
    assert (outcome.kind, outcome.code) == ("error", code)


# Integers stand for media messages of that many bytes (built in the test: small reprs).
platform_messages = st.one_of(
    st.integers(0, 90000),
    st.sampled_from(
        [
            '{"event":"transcript","text":"x"}',
            '{"event":"mark","mark":{"name":"m"}}',
            '{"event":"dtmf","dtmf":{"digit":"5"}}',
            '{"event":"connected"}',
            '{"event":"media","media":{"payload":"@@"}}',
            '{"event":"stop"}',
            "{",
            '{"event":"media","media":{"payload":"AAA=","track":"outbound"}}',
        ]
    ),
)
endpoint_messages = st.one_of(
    st.integers(0, 500000),
    st.sampled_from(
        [
            '{"event":"transcript","text":"x"}',
            '{"event":"connected"}',
            '{"event":"clear"}',
            '{"event":"media","media":{"payload":"AAA"}}',
            '{"event":"stop"}',
            "[]",
        ]
    ),
)

KNOWN_CODES = {"MEDIA_PROTOCOL", "MEDIA_TOO_LARGE", "ENDPOINT_PROTOCOL", "ENDPOINT_LOST"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(platform_messages, max_size=6), st.lists(endpoint_messages, max_size=6))
def test_any_events_from_either_peer_leave_the_call_up_or_end_it_with_a_code(
    platform_says: list[int | str], endpoint_says: list[int | str]
) -> None:
    peer = PlatformPeer(
        "MZ1", "CA1", parameters={"cxmlflow-ticket": BRIDGE.ticket("agent", "CA1", now=NOW)}
    )
    from_platform = [m if isinstance(m, str) else peer.media(b"\x7f" * m) for m in platform_says]
    from_endpoint = [
        m if isinstance(m, str) else
        json.dumps({"event": "media", "media": {"payload": base64.b64encode(bytes(m)).decode()}})
        for m in endpoint_says
    ]  # fmt: skip
    results: list[StreamResult] = []

    async def scenario() -> None:
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        for message in from_endpoint:
            queue.put_nowait(message)

        class Endpoint:
            """The endpoint's end of an in-memory pipe: it says its messages, then waits."""

            async def send(self, text: str) -> None:
                pass

            async def receive(self) -> str | None:
                return await queue.get()

            async def close(self) -> None:
                queue.put_nowait(None)

        async def local(url: str, headers: Mapping[str, str]) -> StreamChannel:
            return Endpoint()

        server = StreamServer(bridge=BRIDGE, assistants=[ENDPOINT], now=lambda: NOW,
                              connect=local, pace=False)  # fmt: skip
        app, platform = _pair()
        session = asyncio.create_task(server.handle(app))
        await platform.send(peer.start())
        for message in from_platform:
            await platform.send(message)
        await asyncio.sleep(0)
        running = not session.done()
        await platform.send(peer.stop())
        results.append(await session)
        result = results[0]
        codes = [str(e.code) for e in server.errors]
        assert set(codes) <= KNOWN_CODES
        if result.outcome.kind == "error":  # the first abnormal end is the outcome
            assert codes[0] == result.outcome.code
        else:  # errors after the end was settled are recorded, not the outcome
            assert result.outcome.kind in ("hangup", "finished")
        assert running or result.outcome.kind != "hangup" or '"stop"' in "".join(from_platform)

    run(scenario)
    assert len(results) == 1


# --- pacing on a schedule -------------------------------------------------------------------


class Burst(BaseEngine):
    """Queues ``seconds`` of audio at once."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    async def start(self, call: StreamCall, output: Any) -> None:
        await super().start(call, output)
        await output.play(b"\x00\x00" * int(8000 * self.seconds))
        await output.hangup()


class StallingClock(VirtualClock):
    """A virtual clock on which every ``stall_every``-th sleep oversleeps by ``stall``
    seconds: a busy event loop, made deterministic."""

    def __init__(self, stall: float, stall_every: int) -> None:
        super().__init__()
        self.stall, self.stall_every, self.sleeps = stall, stall_every, 0

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        extra = self.stall if self.sleeps % self.stall_every == 0 else 0.0
        await super().sleep(seconds + extra)


@pytest.mark.parametrize(("stall", "dropped"), [(0.05, 0), (0.5, 1)])
def test_a_stalling_loop_catches_up_on_the_schedule_instead_of_sliding(
    stall: float, dropped: int
) -> None:
    """Frames are sent by their slot: after a stall the due frames go out at once (short
    stalls lose nothing), frames more than ``late`` past their slot are dropped, and the
    whole reply still ends on time: no backlog builds up."""
    clock = StallingClock(stall, stall_every=10)
    sent: list[float] = []

    async def scenario() -> StreamResult:
        server = StreamServer(engine=lambda call: Burst(4.0), clock=clock, sleep=clock.sleep)
        app, platform = _pair()
        session = asyncio.create_task(server.handle(app))
        await platform.send(PlatformPeer("MZ1", "CA1").start())
        while (message := await platform.receive()) is not None:
            if json.loads(message)["event"] == "media":
                sent.append(clock())
        return await session

    result = run(scenario)
    assert (result.dropped_frames > 0) == bool(dropped)
    assert len(sent) + result.dropped_frames == 200
    # Every frame left within ``late`` (0.1 s) of its slot, and the last on time.
    slots = [i * 0.02 for i in range(200)]
    first = sent[0]
    on_schedule = [s for s in slots if s >= 0]
    assert all(t - first <= on_schedule[-1] + 0.1 + 1e-9 for t in sent)
    assert clock() - first <= 4.0 + stall + 0.1


class RealTimeSource(BaseEngine):
    """Plays 20 ms frames on a real-time schedule (catching up when late, as audio waiting
    in a socket arrives), and blocks the event loop for half a second at frame 30."""

    def __init__(self) -> None:
        super().__init__()
        self.task: asyncio.Task[None] | None = None

    async def start(self, call: StreamCall, output: Any) -> None:
        await super().start(call, output)
        self.task = asyncio.create_task(self._speak(output))

    async def _speak(self, output: Any) -> None:
        loop = asyncio.get_running_loop()
        origin = loop.time()
        for i in range(100):
            due = origin + i * 0.02
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            if i == 30:
                time.sleep(0.5)  # a busy loop: everything waits
            await output.play(b"\x00\x00" * 160)
        await output.hangup()


def test_audio_that_waited_out_a_stalled_loop_is_dropped_not_queued() -> None:
    """After a half-second stall mid-reply, what piled up meanwhile is dropped (beyond the
    ``late`` tolerance) instead of being played half a second late for the rest of the
    call; every frame is either sent or counted as dropped."""

    async def scenario() -> tuple[int, StreamResult, StreamServer]:
        server = StreamServer(engine=lambda call: RealTimeSource())
        app, platform = _pair()
        session = asyncio.create_task(server.handle(app))
        await platform.send(PlatformPeer("MZ1", "CA1").start())
        sent = 0
        while (message := await platform.receive()) is not None:
            sent += json.loads(message)["event"] == "media"
        return sent, await session, server

    sent, result, server = run(scenario)
    assert sent + result.dropped_frames == 100
    assert result.dropped_frames >= 10  # about 20: (0.5 s - 0.1 s) of 20 ms frames
    assert server.dropped_frames == result.dropped_frames
    assert result.outcome == Outcome("finished")
