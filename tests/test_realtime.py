"""`OpenAIRealtime` against an OpenAI Realtime server on loopback (tests/realtime_server.py),
carrying whole calls through a real `StreamServer` with a platform peer on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from providers import AIAssistant, Function, HttpPolicy, MediaError, ToolRunner
from providers.media import (
    Outcome,
    PlatformPeer,
    StreamCall,
    StreamServer,
    VirtualClock,
    connect_websocket,
    open_codec,
    pcm_from_ulaw,
)
from providers.media.protocols import Clear, Mark, Media
from providers.media.realtime import OpenAIRealtime

from .loopback import Webhooks, free_port, webhooks
from .media_signals import rms, tone
from .outputs import Speaker
from .realtime_server import RealtimeServer, RealtimeSession

KEY = "sk-test-realtime-7f6e5d4c3b2a"
LOOPBACK = HttpPolicy(allow_http=True, allowed_networks=("127.0.0.0/8",))
CONNECT = functools.partial(connect_websocket, policy=LOOPBACK)
TO_1001 = {"destinations": [{"type": "extension", "target": "1001"}]}
ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"order": {"type": "string"}},
    "required": ["order"],
}


def ulaw_noise(size: int, seed: int) -> bytes:
    """Mu-law bytes of every code but 0x7F (negative zero, which G.711 decodes as 0xFF's 0)."""
    rng = random.Random(seed)
    return bytes(rng.choice([c for c in range(256) if c != 0x7F]) for _ in range(size))


@pytest.fixture
def hooks() -> Iterator[Webhooks]:
    with webhooks() as server:
        yield server


class Live:
    """A StreamServer whose streams get an `OpenAIRealtime` against ``url``, a platform peer."""

    def __init__(self, url: str, **settings: Any) -> None:
        self.engines: list[OpenAIRealtime] = []
        self.outcomes: list[Outcome] = []
        settings.setdefault("api_key", KEY)

        def make(call: StreamCall) -> OpenAIRealtime:
            engine = OpenAIRealtime(url=url, connect=CONNECT, **settings)
            self.engines.append(engine)
            return engine

        async def keep(call: StreamCall, outcome: Outcome) -> None:
            self.outcomes.append(outcome)

        clock = VirtualClock()  # paced playout, without waiting for real time
        self.server = StreamServer(engine=make, clock=clock, sleep=clock.sleep, on_outcome=keep)
        self.peer = PlatformPeer("MZ1", "CA1")

    async def hear(
        self, socket: ClientConnection, size: int, *, echo: int | None = None, marks: int = 0
    ) -> tuple[bytes, list[str]]:
        """Mu-law the platform received until ``size`` bytes and ``marks`` marks came (or, for
        a ``size`` < 0, the stream closed); the marks seen, the first ``echo`` of them (all
        by default) echoed back as played."""
        audio, seen = bytearray(), list[str]()
        with pytest.raises(ConnectionClosed) if size < 0 else _nothing():
            while size < 0 or len(audio) < size or len(seen) < marks:
                event = self.peer.parse(await asyncio.wait_for(socket.recv(), 10))
                if isinstance(event, Media):
                    audio += event.payload
                elif isinstance(event, Mark):
                    seen.append(event.name)
                    if echo is None or len(seen) <= echo:
                        with contextlib.suppress(ConnectionClosed):  # it may be ending
                            await socket.send(self.peer.mark(event.name))
        return bytes(audio), seen


class _nothing:  # noqa: N801 (a null context manager that also types as one)
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


async def until(condition: Any) -> None:
    """Wait (bounded) for ``condition()``: something another peer's message brings about."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def opened(live: Live, rt: RealtimeServer, socket: ClientConnection) -> RealtimeSession:
    await socket.send(live.peer.start())
    session = await rt.session()
    await session.expect("session.update")
    return session


# --- whole calls -------------------------------------------------------------------------------


def test_a_whole_call_in_mu_law_passes_the_platforms_bytes_through() -> None:
    rt = RealtimeServer()
    caller = ulaw_noise(160 * 25, seed=1)  # 0.5 s
    reply = ulaw_noise(800 * 6, seed=2)  # 0.6 s in 100 ms deltas

    async def scenario() -> None:
        async with rt.serving() as url:
            live = Live(url, voice="marin", instructions="Be brief.")
            async with live.server.listen() as address, connect(address) as socket:
                session = await opened(live, rt, socket)
                update = session.events[0]["session"]
                assert update["audio"]["output"]["voice"] == "marin"
                assert update["instructions"] == "Be brief."
                assert session.format == "g711_ulaw"
                assert session.headers["Authorization"] == f"Bearer {KEY}"
                assert session.model == "gpt-realtime"
                for first in range(0, len(caller), 160):
                    await socket.send(live.peer.media(caller[first : first + 160]))
                assert await session.audio_of(len(caller)) == caller  # not a bit changed
                await session.speak(reply, 800)
                heard, marks = await live.hear(socket, len(reply), marks=6)
                assert heard == reply  # nor on the way back
                assert marks == [f"rt-{n}" for n in range(1, 7)]
                (engine,) = live.engines
                await until(lambda: engine.heard == ("item_1", 600))
                await socket.send(live.peer.stop())
                await socket.wait_closed()
                await session.closed.wait()
            assert live.outcomes == [Outcome("hangup")]
            assert not session.problems
            assert not live.server.errors

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_a_whole_call_in_pcm16_at_24_khz() -> None:
    rt = RealtimeServer()
    reply = tone(24000, 0.5, (440, 0.3))

    async def scenario() -> None:
        async with rt.serving() as url:
            live = Live(url, audio_format="pcm16", dialect="beta")
            async with live.server.listen() as address, connect(address) as socket:
                session = await opened(live, rt, socket)
                assert session.format == "pcm16"
                assert session.headers["OpenAI-Beta"] == "realtime=v1"
                speech = open_codec("pcmu").encode(tone(8000, 0.4, (300, 0.3)))
                for first in range(0, len(speech), 160):
                    await socket.send(live.peer.media(speech[first : first + 160]))
                heard_in = await session.audio_of(19 * 960)  # 24 kHz PCM16, 20 ms frames
                assert rms(heard_in[4800:]) > 0.2 * 32767
                await session.speak(reply, 4800, beta=True)  # 100 ms deltas
                heard, _ = await live.hear(socket, 4000)  # 0.5 s of 8 kHz mu-law
                assert rms(pcm_from_ulaw(heard[800:])) > 0.2 * 32767
                await socket.send(live.peer.stop())
                await socket.wait_closed()
            assert live.outcomes == [Outcome("hangup")]
            assert not session.problems

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_a_function_call_is_answered_by_a_webhook_and_a_transfer_ends_the_call(
    hooks: Webhooks,
) -> None:
    rt = RealtimeServer()
    order = Function("order_status", hooks.url("/order"), "Look up an order", ORDER_SCHEMA)
    runner = ToolRunner(["connect_call"], [order], policy=LOOPBACK)
    reply = ulaw_noise(800 * 3, seed=3)

    async def scenario() -> None:
        async with rt.serving() as url:
            live = Live(url, runner=runner)
            async with live.server.listen() as address, connect(address) as socket:
                session = await opened(live, rt, socket)
                tools = session.events[0]["session"]["tools"]
                assert [t["name"] for t in tools] == ["connect_call", "order_status"]
                assert tools[1]["parameters"] == ORDER_SCHEMA
                await session.call_function("order_status", '{"order": "A17"}', "call_1")
                item = (await session.expect("conversation.item.create"))["item"]
                assert (item["type"], item["call_id"]) == ("function_call_output", "call_1")
                assert json.loads(item["output"]) == {
                    "status": 200,
                    "body": {"status": "shipped", "eta": "Friday"},
                }
                await session.expect("response.create")
                await session.speak(reply, 800)
                await session.call_function("connect_call", json.dumps(TO_1001), "call_2")
                item = (await session.expect("conversation.item.create"))["item"]
                assert item["call_id"] == "call_2"
                # The transfer waits for the reply queued before it, then ends the stream.
                heard, _ = await live.hear(socket, -1)
                assert heard == reply
                await session.closed.wait()
            assert [e["type"] for e in session.events][-1] == "conversation.item.create"
            assert live.outcomes == [Outcome("transfer", destination="1001")]
            assert hooks.received[0]["body"]["arguments"] == {"order": "A17"}
            assert hooks.received[0]["body"]["call"]["CallSid"] == "CA1"
            assert not session.problems
            assert not runner.errors

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_audio_keeps_flowing_while_a_webhook_runs(hooks: Webhooks) -> None:
    rt = RealtimeServer()
    slow = Function("order_status", hooks.url("/slow"), "Look up an order", ORDER_SCHEMA)
    runner = ToolRunner([], [slow], policy=LOOPBACK)
    caller = ulaw_noise(160 * 10, seed=7)

    async def scenario() -> None:
        async with rt.serving() as url:
            live = Live(url, runner=runner)
            async with live.server.listen() as address, connect(address) as socket:
                session = await opened(live, rt, socket)
                await session.call_function("order_status", '{"order": "A17"}', "call_1")
                await asyncio.to_thread(hooks.arrived.wait, 10)
                for first in range(0, len(caller), 160):
                    await socket.send(live.peer.media(caller[first : first + 160]))
                assert await session.audio_of(len(caller)) == caller
                assert not hooks.release.is_set()  # the webhook is still waiting
                assert [e["type"] for e in session.events] == ["session.update"]
                hooks.release.set()
                item = (await session.expect("conversation.item.create"))["item"]
                assert item["call_id"] == "call_1"
                await session.expect("response.create")
                await socket.send(live.peer.stop())
                await socket.wait_closed()
            assert live.outcomes == [Outcome("hangup")]

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_the_model_speaks_again_once_every_tool_of_its_response_answered() -> None:
    rt = RealtimeServer()
    runner = ToolRunner(["get_variables"], variables={"order": "A17"})

    async def scenario() -> None:
        async with rt.serving() as url:
            live = Live(url, runner=runner)
            async with live.server.listen() as address, connect(address) as socket:
                session = await opened(live, rt, socket)
                response = await session.begin()
                for call_id, arguments in (("c1", '{"names": ["order"]}'), ("c2", "{oops")):
                    done = {"type": "response.function_call_arguments.done", "call_id": call_id}
                    await session.send({**done, "response_id": response, "item_id": "item_9",
                                        "output_index": 0, "name": "get_variables",
                                        "arguments": arguments})  # fmt: skip
                await session.done(response)
                answers = {}
                for _ in range(2):
                    item = (await session.expect("conversation.item.create"))["item"]
                    answers[item["call_id"]] = json.loads(item["output"])
                await session.expect("response.create")
                await socket.send(live.peer.stop())
                await socket.wait_closed()
                await session.closed.wait()
            assert answers["c1"] == {"variables": {"order": "A17"}}
            assert answers["c2"]["code"] == "INVALID_ARGUMENTS"
            assert [e["type"] for e in session.events].count("response.create") == 1
            assert [e.code for e in runner.errors] == ["INVALID_ARGUMENTS"]

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_barge_in_truncates_the_reply_where_the_caller_stopped_hearing_it() -> None:
    rt = RealtimeServer()
    reply = ulaw_noise(800 * 10, seed=4)  # 1 s in 100 ms deltas
    after = ulaw_noise(800, seed=5)

    async def scenario() -> None:
        async with rt.serving() as url:
            live = Live(url)
            async with live.server.listen() as address, connect(address) as socket:
                session = await opened(live, rt, socket)
                response = await session.speak(reply, 800, finish=False)
                # The platform plays 300 ms of it (3 marks of 10 come back).
                heard, marks = await live.hear(socket, len(reply), echo=3, marks=10)
                assert len(marks) == 10
                (engine,) = live.engines
                await until(lambda: engine.heard == ("item_1", 300))
                await session.speech_started()
                await session.expect("response.cancel")
                truncate = await session.expect("conversation.item.truncate")
                assert (truncate["item_id"], truncate["content_index"]) == ("item_1", 0)
                assert truncate["audio_end_ms"] == 300
                assert engine.truncations == [("item_1", 300)]
                while not isinstance(live.peer.parse(await socket.recv()), Clear):
                    pass
                # Late deltas of the cut reply are not played; the next reply is.
                await session.deltas(response, "item_1", reply[:1600], 800)
                await session.speak(after, 800, item="item_2")
                heard, _ = await live.hear(socket, len(after))
                assert heard == after
                await socket.send(live.peer.stop())
                await socket.wait_closed()
            assert live.outcomes == [Outcome("hangup")]
            assert not session.problems

    asyncio.run(asyncio.wait_for(scenario(), 30))


# --- ends and failures -------------------------------------------------------------------------


def test_the_service_closing_mid_call_ends_the_stream_with_an_error() -> None:
    rt = RealtimeServer()

    async def scenario() -> None:
        async with rt.serving() as url:
            live = Live(url)
            async with live.server.listen() as address, connect(address) as socket:
                session = await opened(live, rt, socket)
                await socket.send(live.peer.media(b"\xff" * 160))
                await session.close()
                await live.hear(socket, -1)
            (outcome,) = live.outcomes
            assert (outcome.kind, outcome.code) == ("error", "REALTIME_CLOSED")
            assert [e.code for e in live.server.errors] == ["REALTIME_CLOSED"]

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_error_events_are_kept_and_a_fatal_one_ends_the_call() -> None:
    rt = RealtimeServer()

    async def scenario() -> None:
        async with rt.serving() as url:
            live = Live(url)
            async with live.server.listen() as address, connect(address) as socket:
                session = await opened(live, rt, socket)
                await session.error("invalid_request_error", "response_cancel_not_active", "x")
                (engine,) = live.engines
                await until(lambda: len(engine.errors) == 1)
                reply = ulaw_noise(800, seed=6)
                await session.speak(reply, 800)  # the call goes on
                assert (await live.hear(socket, 800))[0] == reply
                await session.error("server_error", "server_error", "the model failed")
                await live.hear(socket, -1)
            (outcome,) = live.outcomes
            assert (outcome.kind, outcome.code) == ("error", "REALTIME_ERROR")
            assert outcome.detail == "[server_error] the model failed"
            assert [e.code for e in engine.errors] == ["response_cancel_not_active", "server_error"]

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_an_unreachable_service_ends_the_stream_without_showing_the_key() -> None:
    port = free_port()  # a port nothing listens on

    async def scenario() -> None:
        live = Live(f"ws://127.0.0.1:{port}/v1/realtime?key={KEY}")
        async with live.server.listen() as address, connect(address) as socket:
            await socket.send(live.peer.start())
            await live.hear(socket, -1)
        (outcome,) = live.outcomes
        assert (outcome.kind, outcome.code) == ("error", "REALTIME_UNREACHABLE")
        assert KEY not in outcome.detail
        assert KEY not in repr(live.engines[0])
        assert all(KEY not in str(e) for e in live.server.errors)

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_the_key_comes_from_the_assistant_or_the_environment_and_is_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rt = RealtimeServer()
    bot = AIAssistant("bot", "builtin", {"engine_model": "openai.gpt-realtime-mini",
                                         "engine_key": KEY, "init_prompt": "Be kind.",
                                         "tool_names": ["stop_service"]})  # fmt: skip
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")

    async def headers(engine: OpenAIRealtime, call: StreamCall) -> RealtimeSession:
        await engine.start(call, Speaker())
        session = await rt.session()
        await session.expect("session.update")
        await engine.stop()
        return session

    async def scenario() -> None:
        async with rt.serving() as url:
            engine = OpenAIRealtime.for_assistant(bot, url=url, connect=CONNECT)
            session = await headers(engine, StreamCall("CA1"))
            assert session.headers["Authorization"] == f"Bearer {KEY}"
            assert session.model == "gpt-realtime-mini"
            update = session.events[0]["session"]
            assert update["instructions"] == "Be kind."
            assert [t["name"] for t in update["tools"]] == ["stop_service"]
            assert KEY not in repr(engine)
            plain = OpenAIRealtime(url=url, connect=CONNECT)
            session = await headers(plain, StreamCall("CA2", assistant=bot))
            assert session.headers["Authorization"] == f"Bearer {KEY}"
            plain = OpenAIRealtime(url=url, connect=CONNECT)
            session = await headers(plain, StreamCall("CA3"))
            assert session.headers["Authorization"] == "Bearer sk-from-the-environment"

    asyncio.run(asyncio.wait_for(scenario(), 30))
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(MediaError) as info:
        asyncio.run(OpenAIRealtime().start(StreamCall("CA4"), Speaker()))
    assert info.value.code == "REALTIME_NO_KEY"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(MediaError):
        OpenAIRealtime(audio_format="opus")  # type: ignore[arg-type]
    with pytest.raises(MediaError):
        OpenAIRealtime(dialect="v2")  # type: ignore[arg-type]


# --- properties --------------------------------------------------------------------------------


@given(st.binary(max_size=400))
def test_g711_passes_through_the_bridge_bit_exact(data: bytes) -> None:
    """What the bridge decodes, the engine encodes back to the very bytes (mu-law's negative
    zero aside), so a G.711 stream reaches the service as the platform sent it."""
    for name in ("g711_ulaw", "g711_alaw"):
        codec = open_codec(name)
        expected = data.replace(b"\x7f", b"\xff") if name == "g711_ulaw" else data
        assert codec.encode(codec.decode(data)) == expected


events = st.fixed_dictionaries(
    {"type": st.sampled_from([
        "response.output_audio.delta", "response.audio.delta", "response.created",
        "response.done", "input_audio_buffer.speech_started", "error", "session.updated",
        "response.function_call_arguments.done"])},
    optional={
        "item_id": st.one_of(st.none(), st.text(max_size=4), st.integers()),
        "delta": st.one_of(st.text(max_size=12), st.binary(max_size=8).map(
            lambda b: __import__("base64").b64encode(b).decode())),
        "response": st.one_of(st.none(), st.fixed_dictionaries({"id": st.text(max_size=3)})),
        "error": st.one_of(st.none(), st.dictionaries(
            st.sampled_from(["type", "code", "message"]), st.text(max_size=6))),
        "name": st.sampled_from(["stop_service", "nope", ""]),
        "call_id": st.text(max_size=3),
        "arguments": st.one_of(st.text(max_size=6), st.just("{}")),
        "response_id": st.text(max_size=3),
    },
)  # fmt: skip


@settings(max_examples=30, deadline=None)
@given(st.lists(events | st.just({"type": 7}), max_size=8))
def test_any_server_events_end_the_call_cleanly(script: list[dict[str, Any]]) -> None:
    rt = RealtimeServer()
    speaker = Speaker()

    async def scenario() -> None:
        async with rt.serving() as url:
            engine = OpenAIRealtime(url=url, api_key=KEY, connect=CONNECT,
                                    runner=ToolRunner(["stop_service"]))  # fmt: skip
            await engine.start(StreamCall("CA1"), speaker)
            session = await rt.session()
            for event in script:
                await session.send(event)
            await session.socket.send("not json")
            await session.close()
            await until(lambda: bool(speaker.ended))
            await engine.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert len(speaker.ended) == 1
    assert speaker.ended[0].kind in ("error", "stop")
