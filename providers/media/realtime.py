"""`OpenAIRealtime`: an `Engine` speaking the OpenAI Realtime WebSocket protocol.

The engine connects to ``url?model=<model>`` (OpenAI's, or any service that speaks the same
events: the URL, model and headers are settings), sends ``session.update`` (instructions,
voice, the tools of its `ToolRunner`, turn detection, audio formats) and then carries the call:

* caller audio goes out as ``input_audio_buffer.append`` (base64), the server's voice
  detector cuts the turns;
* the reply's ``response.output_audio.delta`` (``response.audio.delta`` in the beta
  dialect) is played, with a mark every ``mark_every`` seconds of it (0.1) and at the end of
  each item, so the engine knows how much of each reply item the caller has actually heard;
* on ``input_audio_buffer.speech_started`` (the caller talks over the reply) the engine
  clears its playout, sends ``response.cancel`` and ``conversation.item.truncate`` with
  ``audio_end_ms`` = what was played of that item;
* ``response.function_call_arguments.done`` runs the tool through the `ToolRunner` in a task
  of its own (audio keeps flowing); its result goes back as a ``function_call_output`` item,
  then ``response.create`` once every tool of that response has answered. A tool's effect (a
  transfer, a stop, the end of the call) ends the stream once the queued audio has played;
* a fatal ``error`` event, the server closing, or a failed connection end the stream with an
  error outcome: ``REALTIME_ERROR``, ``REALTIME_CLOSED``, ``REALTIME_UNREACHABLE``
  (``REALTIME_NO_KEY`` when OpenAI's own URL is used without a key). Other ``error``
  events (a cancel with no active response, ...) are kept in ``errors`` and the call goes on.

Audio formats: ``g711_ulaw`` / ``g711_alaw`` run the engine at 8 kHz, the platform's own
rate, so a mu-law stream is never resampled: the bridge's G.711 decode and the engine's
encode are exact inverses (the bytes the platform sent reach the service unchanged, and the
service's bytes reach the platform unchanged), a table look-up each way. ``pcm16`` runs at
24 kHz (the bridge resamples 8 <-> 24 kHz). The API key comes from ``api_key``, else the
assistant's ``engine_key``, else the ``key_env`` environment variable; it is sent in the
``Authorization`` header only, never shown in a repr, a log or an error.

>>> engine = OpenAIRealtime(model="gpt-realtime", voice="marin", instructions="Be brief.",
...                         audio_format="g711_ulaw", api_key="sk-test")
>>> engine
OpenAIRealtime('wss://api.openai.com/v1/realtime', model='gpt-realtime', audio_format='g711_ulaw')
>>> engine.sample_rate
8000
>>> update = engine.session_update()
>>> update["type"], update["session"]["audio"]["input"]["format"]
('session.update', {'type': 'audio/pcmu'})
>>> update["session"]["audio"]["output"]["voice"], update["session"]["instructions"]
('marin', 'Be brief.')
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from cxml import CxmlError, StreamChannel

from .._assistant import AIAssistant
from .._conversation import ToolCall
from .._errors import MediaError, ToolError
from ..tools import ToolRunner
from ._outcome import Outcome
from ._websocket import connect_websocket
from .codecs import open_codec
from .engine import Output, StreamCall

__all__ = ["AUDIO_FORMATS", "DEFAULT_URL", "AudioFormat", "OpenAIRealtime", "RealtimeEventError"]

log = logging.getLogger("providers.media")

DEFAULT_URL: Final = "wss://api.openai.com/v1/realtime"
AudioFormat = Literal["g711_ulaw", "g711_alaw", "pcm16"]
#: Each audio format's rate, and its names in the GA and beta dialects.
AUDIO_FORMATS: Final[Mapping[str, tuple[int, dict[str, Any], str]]] = {
    "g711_ulaw": (8000, {"type": "audio/pcmu"}, "g711_ulaw"),
    "g711_alaw": (8000, {"type": "audio/pcma"}, "g711_alaw"),
    "pcm16": (24000, {"type": "audio/pcm", "rate": 24000}, "pcm16"),
}
_AUDIO_DELTAS: Final = frozenset({"response.output_audio.delta", "response.audio.delta"})
_AUDIO_DONE: Final = frozenset({"response.output_audio.done", "response.audio.done"})
#: ``error`` events that end the call (the others are kept and the call goes on).
FATAL_TYPES: Final = frozenset({"server_error", "authentication_error", "permission_error"})
FATAL_CODES: Final = frozenset(
    {"session_expired", "invalid_api_key", "insufficient_quota", "session_closed"}
)
_KEPT: Final = 100
_OPENAI_HOST: Final = "api.openai.com"
_CLOSED: Final = "the realtime service closed the connection"


class RealtimeEventError(MediaError):
    """An ``error`` event from the realtime service (its code and message only)."""

    code: int | str = "REALTIME_ERROR"


def _flat_tool(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A chat-style tool spec (``{"type": "function", "function": {...}}``) as the Realtime
    API takes it: ``{"type": "function", "name", "description", "parameters"}``."""
    inner = spec.get("function")
    if isinstance(inner, Mapping):
        return {"type": "function", **inner}
    return dict(spec)


class OpenAIRealtime:
    """An `Engine` on the OpenAI Realtime protocol (see the module's documentation).

    ``dialect`` is ``"ga"`` (the released API: ``session.type``, ``audio.input.format``,
    ``response.output_audio.delta``) or ``"beta"`` (``input_audio_format``, the
    ``OpenAI-Beta: realtime=v1`` header); both dialects' event names are understood either
    way. ``turn_detection`` is sent as given (None: the server's default, server VAD).
    ``runner`` runs the tools (default: one offering the assistant's ``tool_names``);
    ``connect(url, headers)`` opens the socket (default `connect_websocket`, behind the
    SSRF guard: pass one with a loopback `providers.HttpPolicy` for a local server).
    """

    barge_in = False  # the service's own voice detector says when the caller talks over it

    def __init__(
        self,
        *,
        url: str = DEFAULT_URL,
        model: str = "gpt-realtime",
        api_key: str | None = None,
        key_env: str = "OPENAI_API_KEY",
        headers: Mapping[str, str] | None = None,
        voice: str | None = None,
        instructions: str = "",
        turn_detection: Mapping[str, Any] | None = None,
        audio_format: AudioFormat = "g711_ulaw",
        dialect: Literal["ga", "beta"] = "ga",
        runner: ToolRunner | None = None,
        mark_every: float = 0.1,
        connect: Callable[[str, Mapping[str, str]], Awaitable[StreamChannel]] = connect_websocket,
    ) -> None:
        if audio_format not in AUDIO_FORMATS:
            raise MediaError(
                f"audio_format is one of {', '.join(AUDIO_FORMATS)}, not {audio_format!r:.20}"
            )
        if dialect not in ("ga", "beta"):
            raise MediaError(f"dialect is 'ga' or 'beta', not {dialect!r:.20}")
        self.url, self.model, self.voice = url, model, voice
        self.instructions, self.audio_format, self.dialect = instructions, audio_format, dialect
        self.turn_detection = dict(turn_detection) if turn_detection is not None else None
        self.runner, self.key_env = runner, key_env
        self._api_key = api_key
        self._headers = dict(headers or {})
        self._connect = connect
        self.sample_rate: int = AUDIO_FORMATS[audio_format][0]
        self._g711 = open_codec(audio_format) if audio_format != "pcm16" else None
        self._connection: StreamChannel | None = None
        self._output: Output | None = None
        self._reader: asyncio.Task[None] | None = None
        self._tools: set[asyncio.Task[None]] = set()
        self._stopping = False
        # Playout accounting: the item being played, ms queued and ms heard of it.
        self._item: str | None = None
        self._queued = 0  # bytes of PCM16 at the engine's rate
        self._marked = 0
        self._heard_ms = 0
        self._mark_bytes = max(2, round(mark_every * self.sample_rate) * 2)
        self._marks: dict[str, tuple[str, int]] = {}
        self._mark_count = 0
        self._dropped: collections.deque[str] = collections.deque(maxlen=64)  # items cut
        self._responding = False
        # Tool calls per response: still running, and responses done while some ran.
        self._open: dict[str, int] = {}
        self._finished: set[str] = set()
        #: How the engine ended the call (a tool's effect or an error), once it did.
        self.outcome: Outcome | None = None
        #: The ``error`` events the service sent (code and message only), oldest first.
        self.errors: collections.deque[RealtimeEventError] = collections.deque(maxlen=_KEPT)
        #: Barge-ins: (item id, audio_end_ms) of each truncate sent.
        self.truncations: list[tuple[str, int]] = []
        #: Messages from the service that were not JSON objects (ignored).
        self.malformed = 0

    def __repr__(self) -> str:  # the key, the headers and the URL's query stay out
        url = self.url.split("?", 1)[0]
        return f"OpenAIRealtime({url!r}, model={self.model!r}, audio_format={self.audio_format!r})"

    @property
    def heard(self) -> tuple[str, int] | None:
        """The reply item being played and the milliseconds of it the caller has heard
        (marks acknowledged); None when no reply is playing."""
        return None if self._item is None else (self._item, self._heard_ms)

    @classmethod
    def for_assistant(cls, assistant: AIAssistant, **settings: Any) -> OpenAIRealtime:
        """The engine a ``builtin`` assistant's config describes: ``engine_model``
        (``openai.<model>``), ``engine_key``, ``init_prompt``, ``tts_voice_id``, a runner
        offering its ``tool_names``; ``settings`` (any constructor argument) win."""
        config = assistant.config
        model = str(config.get("engine_model") or "")
        _, dot, name = model.partition(".")
        options: dict[str, Any] = {"model": name if dot else model}
        if config.get("engine_key"):
            options["api_key"] = config["engine_key"]
        if config.get("init_prompt"):
            options["instructions"] = config["init_prompt"]
        if config.get("tts_voice_id"):
            options["voice"] = config["tts_voice_id"]
        options.update(settings)
        if "runner" not in options:
            options["runner"] = ToolRunner.for_assistant(config, assistant.functions)
        if not options["model"]:
            del options["model"]
        return cls(**options)

    # --- session set-up -----------------------------------------------------------------------

    def tools(self) -> list[dict[str, Any]]:
        """The tools offered to the model, as the Realtime API spells function tools."""
        return [_flat_tool(spec) for spec in self.runner.specs()] if self.runner else []

    def session_update(self) -> dict[str, Any]:
        """The ``session.update`` event the engine sends first."""
        _, ga_format, beta_format = AUDIO_FORMATS[self.audio_format]
        session: dict[str, Any]
        if self.dialect == "ga":
            audio_in: dict[str, Any] = {"format": dict(ga_format)}
            audio_out: dict[str, Any] = {"format": dict(ga_format)}
            if self.turn_detection is not None:
                audio_in["turn_detection"] = self.turn_detection
            if self.voice:
                audio_out["voice"] = self.voice
            session = {"type": "realtime", "model": self.model, "output_modalities": ["audio"],
                       "audio": {"input": audio_in, "output": audio_out}}  # fmt: skip
        else:
            session = {"modalities": ["audio", "text"], "input_audio_format": beta_format,
                       "output_audio_format": beta_format}  # fmt: skip
            if self.turn_detection is not None:
                session["turn_detection"] = self.turn_detection
            if self.voice:
                session["voice"] = self.voice
        if self.instructions:
            session["instructions"] = self.instructions
        tools = self.tools()
        if tools:
            session["tools"], session["tool_choice"] = tools, "auto"
        return {"type": "session.update", "session": session}

    def _key(self, call: StreamCall) -> str | None:
        if self._api_key:
            return self._api_key
        if call.assistant is not None and call.assistant.config.get("engine_key"):
            return str(call.assistant.config["engine_key"])
        return os.environ.get(self.key_env) or None

    def _address(self) -> str:
        separator = "&" if "?" in self.url else "?"
        return f"{self.url}{separator}model={self.model}" if self.model else self.url

    # --- the Engine protocol ------------------------------------------------------------------

    async def start(self, call: StreamCall, output: Output) -> None:
        self._output = output
        if self.runner is None:
            assistant = call.assistant
            config, functions = (assistant.config, assistant.functions) if assistant else ({}, ())
            self.runner = ToolRunner.for_assistant(config, functions, call=call)
        elif self.runner.call is None:
            self.runner.call = call
        headers = dict(self._headers)
        key = self._key(call)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        elif urlsplit(self.url).hostname == _OPENAI_HOST:
            raise MediaError(
                f"no API key: set engine_key or {self.key_env}", code="REALTIME_NO_KEY"
            )
        if self.dialect == "beta":
            headers.setdefault("OpenAI-Beta", "realtime=v1")
        try:
            self._connection = await self._connect(self._address(), headers)
        except Exception as exc:  # its message may name the URL; the type is enough
            raise MediaError(
                f"the realtime service could not be reached: {type(exc).__name__}",
                code="REALTIME_UNREACHABLE",
            ) from None
        await self._send(json.dumps(self.session_update(), separators=(",", ":")))
        self._reader = asyncio.create_task(self._read(output))

    async def audio(self, pcm: bytes) -> None:
        if self._connection is None or self.outcome is not None:
            return
        data = self._g711.encode(pcm) if self._g711 is not None else pcm
        await self._send(
            '{"type":"input_audio_buffer.append","audio":"'
            + base64.b64encode(data).decode("ascii")
            + '"}'
        )

    async def dtmf(self, digit: str) -> None:
        return None  # the protocol carries no keys

    async def played(self, mark: str) -> None:
        reached = self._marks.pop(mark, None)
        if reached is not None and reached[0] == self._item:
            self._heard_ms = max(self._heard_ms, reached[1])

    async def interrupted(self, played: float) -> None:
        await self._barge_in()  # only when an owner turned barge_in on

    async def stop(self) -> None:
        self._stopping = True
        tasks = [t for t in (self._reader, *self._tools) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._connection is not None:
            await self._connection.close()

    # --- from the service ---------------------------------------------------------------------

    async def _send(self, text: str) -> None:
        connection = self._connection
        if connection is None or self._stopping:
            return
        try:
            await connection.send(text)
        except CxmlError:
            await self._end(Outcome("error", code="REALTIME_CLOSED", detail=_CLOSED))

    async def _end(self, outcome: Outcome) -> None:
        if self.outcome is None and not self._stopping and self._output is not None:
            self.outcome = outcome
            await self._output.end(outcome)

    async def _read(self, output: Output) -> None:
        assert self._connection is not None
        detail = _CLOSED
        try:
            while self.outcome is None:
                message = await self._connection.receive()
                if message is None:
                    break
                try:
                    event = json.loads(message)
                except ValueError:
                    event = None
                if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                    self.malformed += 1
                    continue
                await self._handle(event, output)
        except CxmlError as exc:
            detail = f"the realtime connection was lost: [{exc.code}]"
        await self._end(Outcome("error", code="REALTIME_CLOSED", detail=detail))

    async def _handle(self, event: dict[str, Any], output: Output) -> None:
        kind = event["type"]
        if kind in _AUDIO_DELTAS:
            await self._play(event, output)
        elif kind == "input_audio_buffer.speech_started":
            await self._barge_in()
        elif kind == "response.created":
            self._responding = True
        elif kind in _AUDIO_DONE:
            await self._mark(output)
        elif kind == "response.done":
            self._responding = False
            await self._mark(output)
            await self._response_done(_text(event.get("response"), "id"))
        elif kind == "response.function_call_arguments.done":
            self._call_tool(event)
        elif kind == "error":
            await self._error(event)

    async def _play(self, event: dict[str, Any], output: Output) -> None:
        item, delta = event.get("item_id"), event.get("delta")
        if not isinstance(item, str) or not isinstance(delta, str) or item in self._dropped:
            return
        try:
            data = base64.b64decode(delta, validate=True)
        except (binascii.Error, ValueError):
            self.malformed += 1
            return
        if self._g711 is not None:
            data = self._g711.decode(data)
        elif len(data) % 2:
            data = data[:-1]
        if not data:
            return
        self._responding = True
        if item != self._item:
            self._item, self._queued, self._marked, self._heard_ms = item, 0, 0, 0
            self._marks.clear()
        self._queued += len(data)
        await output.play(data)
        if self._queued - self._marked >= self._mark_bytes:
            await self._mark(output)

    async def _mark(self, output: Output) -> None:
        """A mark after what is queued of the item, unless one is there already."""
        item = self._item
        if item is None or self._queued <= self._marked:
            return
        self._marked = self._queued
        self._mark_count += 1
        name = f"rt-{self._mark_count}"
        self._marks[name] = (item, self._ms(self._queued))
        await output.mark(name)

    async def _barge_in(self) -> None:
        """The caller talks over the reply: stop it where the caller stopped hearing it."""
        item, output = self._item, self._output
        if output is None or item is None:
            return
        unheard = self._heard_ms < self._ms(self._queued)
        if not unheard and not self._responding:
            return
        await output.clear()
        if self._responding:
            self._responding = False
            await self._send('{"type":"response.cancel"}')
        if unheard:
            heard = self._heard_ms
            self.truncations.append((item, heard))
            await self._send(json.dumps({"type": "conversation.item.truncate", "item_id": item,
                                         "content_index": 0, "audio_end_ms": heard}))  # fmt: skip
        self._dropped.append(item)
        self._item, self._queued, self._marked, self._heard_ms = None, 0, 0, 0
        self._marks.clear()

    def _ms(self, size: int) -> int:
        """Milliseconds of ``size`` bytes of PCM16 at the engine's rate."""
        return size * 500 // self.sample_rate

    async def _error(self, event: dict[str, Any]) -> None:
        error = event.get("error")
        kind, code = _text(error, "type"), _text(error, "code")
        message = (_text(error, "message") or "an error")[:200]
        failure = RealtimeEventError(message, code=code or kind or "REALTIME_ERROR")
        self.errors.append(failure)
        log.debug("realtime error event [%s]", failure.code)
        if kind in FATAL_TYPES or code in FATAL_CODES:
            await self._end(Outcome("error", code="REALTIME_ERROR",
                                    detail=f"[{failure.code}] {message}"))  # fmt: skip

    # --- tools --------------------------------------------------------------------------------

    def _call_tool(self, event: dict[str, Any]) -> None:
        name, call_id = _text(event, "name"), _text(event, "call_id")
        if name is None or call_id is None:
            self.malformed += 1
            return
        response = _text(event, "response_id") or ""
        self._open[response] = self._open.get(response, 0) + 1
        task = asyncio.create_task(self._run_tool(name, call_id, event.get("arguments"), response))
        self._tools.add(task)
        task.add_done_callback(self._tools.discard)

    async def _run_tool(self, name: str, call_id: str, arguments: object, response: str) -> None:
        runner = self.runner
        assert runner is not None
        try:
            parsed = json.loads(arguments) if isinstance(arguments, str) and arguments else {}
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            done = await runner.run(ToolCall(name, parsed, id=call_id))
            result, outcome = done.result, done.outcome
        else:
            problem = f"{name}: the arguments are not a JSON object"
            runner.errors.append(ToolError(problem, code="INVALID_ARGUMENTS"))
            result, outcome = {"error": problem, "code": "INVALID_ARGUMENTS"}, None
        item = {"type": "function_call_output", "call_id": call_id,
                "output": json.dumps(result, default=str)}  # fmt: skip
        await self._send(json.dumps({"type": "conversation.item.create", "item": item}))
        self._open[response] -= 1
        if outcome is not None:
            await self._end(outcome)  # once what is queued has played
        elif self._open[response] == 0 and response in self._finished:
            await self._respond(response)

    async def _response_done(self, response: str | None) -> None:
        response = response or ""
        if response not in self._open:
            return
        if self._open[response] == 0:
            await self._respond(response)
        else:
            self._finished.add(response)

    async def _respond(self, response: str) -> None:
        """Every tool of ``response`` answered: the model speaks again."""
        self._open.pop(response, None)
        self._finished.discard(response)
        if self.outcome is None:
            await self._send('{"type":"response.create"}')


def _text(value: object, key: str) -> str | None:
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, str) and found else None
