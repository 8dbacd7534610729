"""An OpenAI Realtime server on 127.0.0.1 for the tests, written from the public protocol
documentation (client and server events of the Realtime WebSocket API).

Each connection is a `RealtimeSession`: the server sends ``session.created``, checks every
client event's shape (``problems`` lists what was wrong), collects the audio of
``input_audio_buffer.append``, answers ``response.cancel`` (``response.done`` with status
``cancelled`` while a response is active) and ``conversation.item.truncate``
(``conversation.item.truncated``), and hands every other client event to the test
(`RealtimeSession.expect`). The test plays the model: `speak`, `call_function`,
`speech_started`, `error`, `close`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

_FORMATS_GA = {"audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw", "audio/pcm": "pcm16"}
_FORMATS_BETA = {"g711_ulaw", "g711_alaw", "pcm16"}
_CLIENT_EVENTS = {
    "session.update", "input_audio_buffer.append", "input_audio_buffer.commit",
    "input_audio_buffer.clear", "conversation.item.create", "conversation.item.truncate",
    "conversation.item.delete", "response.create", "response.cancel",
}  # fmt: skip


class RealtimeSession:
    """One client connection (see the module's documentation)."""

    def __init__(self, socket: ServerConnection) -> None:
        self.socket = socket
        request = socket.request
        assert request is not None
        self.headers = dict(request.headers.raw_items())
        self.model = parse_qs(urlsplit(request.path).query).get("model", [""])[0]
        self.audio = bytearray()  # every appended byte, decoded
        self.appends = 0
        self.events: list[dict[str, Any]] = []  # every client event but appends
        self.problems: list[str] = []
        self.format: str | None = None
        self.responding: str | None = None  # the active response's id
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._ids = itertools.count(1)
        self.closed = asyncio.Event()

    # --- what the client sends ------------------------------------------------------------------

    async def run(self) -> None:
        await self.send({"type": "session.created",
                         "session": {"id": "sess_test", "object": "realtime.session"}})  # fmt: skip
        try:
            async for message in self.socket:
                event = self._take(message)
                kind = event.get("type") if event else None
                if kind == "response.cancel":
                    await self._cancelled()
                elif kind == "conversation.item.truncate":
                    assert event is not None
                    await self.send({"type": "conversation.item.truncated",
                                     "item_id": event.get("item_id"),
                                     "content_index": event.get("content_index"),
                                     "audio_end_ms": event.get("audio_end_ms")})  # fmt: skip
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    def _take(self, message: str | bytes) -> dict[str, Any] | None:
        if not isinstance(message, str):
            self.problems.append("a binary frame")
            return None
        event = json.loads(message)
        kind = event.get("type") if isinstance(event, dict) else None
        if kind not in _CLIENT_EVENTS:
            self.problems.append(f"unknown client event {kind!r}")
            return None
        if kind == "input_audio_buffer.append":
            self.appends += 1
            self.audio += base64.b64decode(event["audio"], validate=True)
            return None
        check = getattr(self, "_check_" + kind.replace(".", "_"), None)
        if check is not None:
            check(event)
        self.events.append(event)
        self._inbox.put_nowait(event)
        return dict(event)

    def _check_session_update(self, event: dict[str, Any]) -> None:
        session = event.get("session")
        if not isinstance(session, dict):
            self.problems.append("session.update without a session")
            return
        if session.get("type") == "realtime":  # GA
            audio = session.get("audio", {})
            formats = {audio.get(side, {}).get("format", {}).get("type") for side in
                       ("input", "output")}  # fmt: skip
            if len(formats) != 1 or not formats <= set(_FORMATS_GA):
                self.problems.append(f"audio formats {formats}")
                return
            (found,) = formats
            if found == "audio/pcm" and audio["input"]["format"].get("rate") != 24000:
                self.problems.append("audio/pcm is 24 kHz only")
            self.format = _FORMATS_GA[found]
        else:  # beta
            formats = {session.get("input_audio_format"), session.get("output_audio_format")}
            if len(formats) != 1 or not formats <= _FORMATS_BETA:
                self.problems.append(f"audio formats {formats}")
                return
            (self.format,) = formats
        for tool in session.get("tools", []):
            if tool.get("type") != "function" or not isinstance(tool.get("name"), str):
                self.problems.append(f"a tool of the wrong shape: {tool}")
            if not isinstance(tool.get("parameters"), dict):
                self.problems.append("a tool without parameters")

    def _check_conversation_item_create(self, event: dict[str, Any]) -> None:
        item = event.get("item", {})
        if item.get("type") == "function_call_output" and not (
            isinstance(item.get("call_id"), str) and isinstance(item.get("output"), str)
        ):
            self.problems.append("a function_call_output needs call_id and output text")

    def _check_conversation_item_truncate(self, event: dict[str, Any]) -> None:
        if not isinstance(event.get("item_id"), str) or event.get("content_index") != 0:
            self.problems.append("a truncate needs an item_id and content_index 0")
        end = event.get("audio_end_ms")
        if not isinstance(end, int) or end < 0:
            self.problems.append("a truncate needs audio_end_ms >= 0")

    async def _cancelled(self) -> None:
        if self.responding is not None:
            response, self.responding = self.responding, None
            await self.send({"type": "response.done",
                             "response": {"id": response, "status": "cancelled"}})  # fmt: skip

    async def expect(self, kind: str) -> dict[str, Any]:
        """The next client event (appends aside), which must be of type ``kind``."""
        event = await asyncio.wait_for(self._inbox.get(), 10)
        assert event["type"] == kind, f"expected {kind}, got {event['type']}"
        return event

    async def audio_of(self, size: int) -> bytes:
        """The first ``size`` bytes of audio appended, once they have all come (bounded)."""
        for _ in range(1000):
            if len(self.audio) >= size:
                return bytes(self.audio[:size])
            await asyncio.sleep(0.01)
        raise AssertionError(f"only {len(self.audio)} of {size} bytes of audio came")

    # --- the model's side -----------------------------------------------------------------------

    async def send(self, event: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.socket.send(json.dumps(event))

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    async def begin(self) -> str:
        """``response.created``: a response starts; its id."""
        response = self.responding = self._id("resp")
        await self.send({"type": "response.created",
                         "response": {"id": response, "status": "in_progress"}})  # fmt: skip
        return response

    async def done(self, response: str) -> None:
        if self.responding == response:
            self.responding = None
        await self.send({"type": "response.done",
                         "response": {"id": response, "status": "completed"}})  # fmt: skip

    async def speak(
        self, audio: bytes, chunk: int, *, item: str = "item_1", beta: bool = False,
        finish: bool = True,
    ) -> str:  # fmt: skip
        """One audio reply: ``audio`` (in the session's format) in deltas of ``chunk`` bytes."""
        response = await self.begin()
        await self.deltas(response, item, audio, chunk, beta=beta)
        if finish:
            await self.done(response)
        return response

    async def deltas(
        self, response: str, item: str, audio: bytes, chunk: int, *, beta: bool = False
    ) -> None:
        kind = "response.audio.delta" if beta else "response.output_audio.delta"
        for first in range(0, len(audio), chunk):
            delta = base64.b64encode(audio[first : first + chunk]).decode()
            await self.send({"type": kind, "event_id": self._id("event"),
                             "response_id": response, "item_id": item, "output_index": 0,
                             "content_index": 0, "delta": delta})  # fmt: skip

    async def call_function(self, name: str, arguments: str, call_id: str) -> str:
        """A response that asks for one function call, then ends."""
        response = await self.begin()
        await self.send({"type": "response.function_call_arguments.done",
                         "event_id": self._id("event"), "response_id": response,
                         "item_id": self._id("item"), "output_index": 0, "call_id": call_id,
                         "name": name, "arguments": arguments})  # fmt: skip
        await self.done(response)
        return response

    async def speech_started(self, audio_start_ms: int = 0) -> None:
        started = {"type": "input_audio_buffer.speech_started", "item_id": self._id("item")}
        await self.send({**started, "audio_start_ms": audio_start_ms})

    async def error(self, kind: str, code: str, message: str) -> None:
        await self.send({"type": "error", "event_id": self._id("event"),
                         "error": {"type": kind, "code": code, "message": message,
                                   "param": None, "event_id": None}})  # fmt: skip

    async def close(self) -> None:
        await self.socket.close()


class RealtimeServer:
    """Serves `RealtimeSession`s on 127.0.0.1; ``await server.session()`` is the next one."""

    def __init__(self) -> None:
        self._sessions: asyncio.Queue[RealtimeSession] = asyncio.Queue()
        self.url = ""

    async def session(self) -> RealtimeSession:
        return await asyncio.wait_for(self._sessions.get(), 10)

    async def _handle(self, socket: ServerConnection) -> None:
        session = RealtimeSession(socket)
        self._sessions.put_nowait(session)
        await session.run()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        """Serve while the block runs; yields the ``ws://127.0.0.1:port/v1/realtime`` URL."""
        async with serve(self._handle, "127.0.0.1", 0, compression=None) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}/v1/realtime"
            yield self.url
            server.close()
            await server.wait_closed()
