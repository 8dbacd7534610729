"""Media streams over real WebSockets on 127.0.0.1: a peer that misbehaves is recorded, the
call goes on, and nothing is raised or left open."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from cxml import (
    CallTrace,
    Connect,
    ErrorEvent,
    Parameter,
    Say,
    StreamChannel,
    Streamed,
    StreamError,
    StreamPeers,
    interpret,
    interpret_async,
    websocket_connector,
)
from cxml import Response as Document
from cxml import Stream as StreamNoun
from providers import MediaProtocolError
from providers.media import PlatformPeer

CALL = {"CallSid": "CA1", "From": "+12125551234", "To": "+14155550100"}
DOC = Document(
    [
        Connect([StreamNoun([Parameter(name="k", value="v")], url="wss://agent.example.com/ws")]),
        Say("After the stream"),
    ]
)
Handler = Callable[[ServerConnection], Awaitable[None]]


async def call_through(
    handler: Handler,
    scenario: Mapping[str, Any] | None = None,
    process_request: Callable[[ServerConnection, Request], Response | None] | None = None,
) -> CallTrace:
    async with serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
        port = server.sockets[0].getsockname()[1]

        async def connector(url: str, parameters: Mapping[str, str]) -> StreamChannel:
            return await websocket_connector(f"ws://127.0.0.1:{port}/", parameters)

        return await interpret_async(lambda _: DOC, CALL, scenario, connector=connector)


async def after_start(ws: ServerConnection) -> dict[str, Any]:
    json.loads(await ws.recv())  # connected
    start: dict[str, Any] = json.loads(await ws.recv())
    return start


async def binary(ws: ServerConnection) -> None:
    await after_start(ws)
    await ws.send(b"\x00\x01")
    await ws.wait_closed()


async def not_json(ws: ServerConnection) -> None:
    await after_start(ws)
    await ws.send("{oops")
    await ws.wait_closed()


async def no_audio(ws: ServerConnection) -> None:
    start = await after_start(ws)
    await ws.send(json.dumps({"event": "media", "streamSid": start["streamSid"], "media": {}}))
    await ws.wait_closed()


async def abnormal(ws: ServerConnection) -> None:
    await after_start(ws)
    await ws.close(code=1011, reason="engine crashed")


@pytest.mark.parametrize(
    ("handler", "code"),
    [(binary, 31950), (not_json, 31950), (no_audio, 31950), (abnormal, 31920)],
    ids=["binary", "not-json", "media-without-audio", "abnormal-close"],
)
def test_a_misbehaving_peer_is_an_error_event_and_the_document_goes_on(
    handler: Handler, code: int
) -> None:
    trace = asyncio.run(call_through(handler, {"stream": {"seconds": 0.04}}))
    assert [(e.code, e.fatal) for e in trace.of(ErrorEvent)] == [(code, False)]
    assert trace.of(Streamed)[0].result.ended_by == "error"
    assert trace.said == ("After the stream",)
    assert trace.ended.reason == "end-of-document"


def test_a_refused_handshake_is_31920_and_the_stream_is_not_connected() -> None:
    def refuse(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(HTTPStatus.FORBIDDEN, "no ticket\n")

    async def unreachable(ws: ServerConnection) -> None:  # pragma: no cover - refused first
        raise AssertionError("the handshake was refused")

    trace = asyncio.run(call_through(unreachable, process_request=refuse))
    assert [e.code for e in trace.errors] == [31920]
    assert trace.of(Streamed)[0].result.ended_by == "not-connected"


def test_marks_clears_and_the_app_side_frames_are_recorded() -> None:
    received: list[dict[str, Any]] = []

    async def agent(ws: ServerConnection) -> None:
        start = await after_start(ws)
        sid = start["streamSid"]
        payload = {"payload": "//79/A=="}  # four bytes of μ-law
        for _ in range(3):
            await ws.send(json.dumps({"event": "media", "streamSid": sid, "media": payload}))
        await ws.send(json.dumps({"event": "clear", "streamSid": sid}))
        await ws.send(json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": "m1"}}))
        async for raw in ws:
            frame = json.loads(raw)
            received.append(frame)
            if frame["event"] == "mark":
                return

    trace = asyncio.run(call_through(agent, {"stream": {"seconds": 0.02}}))
    result = trace.of(Streamed)[0].result
    assert (result.received_frames, result.received_bytes, result.clears) == (3, 12, 1)
    assert (result.marks, result.ended_by) == (("m1",), "app")
    assert received[-1]["mark"] == {"name": "m1"}
    assert trace.errors == ()


def test_a_stream_the_caller_leaves_gets_a_stop() -> None:
    frames: list[dict[str, Any]] = []

    async def chatty(ws: ServerConnection) -> None:
        start = await after_start(ws)
        audio = {"payload": "/" * 8000}  # 6000 bytes: 0.75 s
        for _ in range(4):
            media = {"event": "media", "streamSid": start["streamSid"], "media": audio}
            await ws.send(json.dumps(media))
        async for raw in ws:
            frames.append(json.loads(raw))

    scenario = {"stream": {"seconds": 0.02, "hangup_after": 2}}
    trace = asyncio.run(call_through(chatty, scenario))
    assert trace.ended.reason == "caller-hangup"
    assert frames[-1]["event"] == "stop"
    assert frames[-1]["stop"]["callSid"] == "CA1"


def test_the_websocket_connector_refuses_other_schemes() -> None:
    with pytest.raises(StreamError) as caught:
        asyncio.run(websocket_connector("https://agent.example.com/ws", {}))
    assert caught.value.code == 31920


# --- the simulator takes what providers.media's PlatformPeer takes -------------------------

app_messages = st.one_of(
    st.integers(0, 90_000).map(lambda n: ("media", n)),
    st.sampled_from(
        [
            '{"event":"mark","streamSid":"SID","mark":{"name":"m"}}',
            '{"event":"mark","streamSid":"SID","mark":{"name":""}}',
            '{"event":"clear","streamSid":"SID"}',
            '{"event":"clear"}',
            '{"event":"clear","streamSid":"MZ-other"}',
            '{"event":"clear","streamSid":null}',
            '{"event":"transcript","text":"hi"}',
            '{"event":"media","streamSid":"SID","media":{"payload":"@@"}}',
            '{"event":"media","streamSid":"SID","media":{"payload":"AA="}}',
            '{"event":"media","streamSid":"SID"}',
            "[1]",
        ]
    ),
)


@settings(max_examples=40, deadline=None)
@given(app_messages)
def test_the_simulator_and_platform_peer_accept_the_same_app_messages(
    drawn: tuple[str, int] | str,
) -> None:
    """One app message, to the simulator (as the app's first answer) and to `PlatformPeer`:
    both take it (media up to 10 s, unknown events ignored) or both refuse it."""
    sent: list[tuple[str, str]] = []

    def reply(frame: dict[str, Any]) -> list[str | None]:
        if frame["event"] != "start":
            return []
        sid = frame["streamSid"]
        if isinstance(drawn, tuple):
            payload = base64.b64encode(b"\x7f" * drawn[1]).decode()
            message = json.dumps(
                {"event": "media", "streamSid": sid, "media": {"payload": payload}}
            )
        else:
            message = drawn.replace("SID", sid)
        sent.append((sid, message))
        return [message, None]

    scenario = {"stream": {"seconds": 0.02}}
    trace = interpret(lambda _: DOC, CALL, scenario, connector=StreamPeers(reply))
    ((sid, message),) = sent
    try:
        PlatformPeer(sid, "CA1").parse(message)
        refused = False
    except MediaProtocolError:
        refused = True
    codes = [e.code for e in trace.of(ErrorEvent)]
    assert codes == ([31950] if refused else [])
