"""The `Engine` protocol an AI engine implements, the `Agent` pipeline, and ready engines.

An engine hears the caller as PCM16 LE mono frames at its own ``sample_rate`` (the bridge
decodes and resamples) and talks through the `Output` it is given at ``start``: ``play``
queues audio, ``mark`` a named point in it (``played(name)`` comes back once the audio
before it was played, not when it was queued), ``clear`` drops what is queued, ``end``
ends the stream once what is queued has played, with an `Outcome` (``hangup()`` is
``end(Outcome("finished"))``). When the caller talks over the engine
(barge-in), the bridge flushes the queue and calls ``interrupted(played)`` with the seconds
of the interrupted reply the caller actually heard.

`Agent` is the speech-to-text -> conversation engine (`providers.ConversationEngine`, the one
flows use) -> text-to-speech pipeline, each part pluggable. `EchoEngine`, `PlaybackEngine`
and `DtmfEngine` are small engines for tests and examples.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

import attrs

from .._assistant import AIAssistant
from .._conversation import ConversationEngine, Message, ToolCall
from .._errors import MediaFormatError, ToolError
from ..tools import ToolRunner
from ._outcome import Outcome
from .vad import EnergyDetector, VoiceDetector

__all__ = [
    "Agent",
    "BaseEngine",
    "DtmfEngine",
    "EchoEngine",
    "Engine",
    "Output",
    "PlaybackEngine",
    "ScriptedSpeechToText",
    "SpeechToText",
    "StreamCall",
    "TextToSpeech",
    "ToneTextToSpeech",
]


def _frozen(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@attrs.frozen
class StreamCall:
    """The call a stream carries, as the platform's ``start`` told it.

    ``parameters`` are the ``<Stream>``'s ``<Parameter>`` values (the bridge ticket removed);
    ``assistant`` is the assistant the ticket named, None for an engine served without one.
    ``caller``/``callee`` come from a ``From``/``To`` (or ``from``/``to``) Parameter if any.
    """

    call_sid: str
    stream_sid: str = ""
    account_sid: str | None = None
    session: str | None = None
    parameters: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen)
    assistant: AIAssistant | None = None
    caller: str | None = None
    callee: str | None = None


class Output(Protocol):
    """What an engine speaks through; the bridge implements it for each stream."""

    @property
    def sample_rate(self) -> int:
        """The rate ``play`` takes: the engine's own."""
        ...

    @property
    def speaking(self) -> bool:
        """True while queued audio is still to be played."""
        ...

    async def play(self, pcm: bytes) -> None:
        """Queue PCM16 LE mono audio; returns at once (playback is paced by the bridge)."""
        ...

    async def mark(self, name: str) -> None:
        """A named point after what is queued; ``engine.played(name)`` once it is reached."""
        ...

    async def clear(self) -> None:
        """Drop the queued audio and stop what is playing (the engine interrupts itself)."""
        ...

    async def hangup(self) -> None:
        """End the stream once the queued audio has played: ``end(Outcome("finished"))``."""
        ...

    async def end(self, outcome: Outcome) -> None:
        """End the stream once the queued audio has played, with ``outcome`` (a transfer,
        a stop, ...), which the bridge records for the router. The first end asked for
        wins; later ones are ignored."""
        ...


@runtime_checkable
class Engine(Protocol):
    """An AI engine on one call. All methods are awaited in order, from one task; an engine
    that thinks for long should do so in a task of its own and speak through ``output``.

    An engine may set ``barge_in = False`` to keep talking over the caller (an echo).
    """

    sample_rate: int

    async def start(self, call: StreamCall, output: Output) -> None:
        """The stream is up; keep ``output`` to speak."""

    async def audio(self, pcm: bytes) -> None:
        """The caller's next frame (20 ms in practice), PCM16 LE at ``sample_rate``."""

    async def dtmf(self, digit: str) -> None:
        """The caller pressed a key."""

    async def played(self, mark: str) -> None:
        """The audio queued before ``mark`` was played."""

    async def interrupted(self, played: float) -> None:
        """The caller spoke over the reply: the queue was flushed; ``played`` seconds of the
        reply were heard."""

    async def stop(self) -> None:
        """The stream ended (hang-up, stop, protocol error); release what you hold."""


class BaseEngine:
    """An engine that does nothing; subclass it and override what you need."""

    sample_rate: int = 8000
    barge_in: bool = True

    def __init__(self) -> None:
        self.output: Output | None = None
        self.call: StreamCall | None = None
        #: What happened, for tests: ("dtmf", "5"), ("played", "mark"), ("interrupted", 0.5)
        self.events: list[tuple[str, object]] = []

    async def start(self, call: StreamCall, output: Output) -> None:
        self.call, self.output = call, output

    async def audio(self, pcm: bytes) -> None:
        return None

    async def dtmf(self, digit: str) -> None:
        self.events.append(("dtmf", digit))

    async def played(self, mark: str) -> None:
        self.events.append(("played", mark))

    async def interrupted(self, played: float) -> None:
        self.events.append(("interrupted", played))

    async def stop(self) -> None:
        self.events.append(("stop", None))

    def _out(self) -> Output:
        if self.output is None:
            raise RuntimeError("the engine has not been started")
        return self.output


class EchoEngine(BaseEngine):
    """Plays the caller's audio straight back (a loopback test of the whole path)."""

    barge_in = False

    def __init__(self, sample_rate: int = 8000) -> None:
        super().__init__()
        self.sample_rate = sample_rate

    async def audio(self, pcm: bytes) -> None:
        await self._out().play(pcm)


class PlaybackEngine(BaseEngine):
    """Plays ``clips`` (PCM16 at ``sample_rate``) one after the other, a mark named
    ``clip-<n>`` after each; hangs up after the last if ``hangup``."""

    def __init__(
        self, clips: Iterable[bytes], sample_rate: int = 8000, *, hangup: bool = False
    ) -> None:
        super().__init__()
        self.clips, self.sample_rate, self.hangup = list(clips), sample_rate, hangup

    async def start(self, call: StreamCall, output: Output) -> None:
        await super().start(call, output)
        for i, clip in enumerate(self.clips):
            await output.play(clip)
            await output.mark(f"clip-{i}")
        if self.hangup:
            await output.hangup()


class DtmfEngine(BaseEngine):
    """Answers keys: plays ``menu[digit]`` for each key pressed (``greeting`` first), hangs
    up on ``end``. Keys not in the menu are recorded and ignored."""

    def __init__(
        self,
        menu: Mapping[str, bytes],
        sample_rate: int = 8000,
        *,
        greeting: bytes = b"",
        end: str | None = "#",
    ) -> None:
        super().__init__()
        self.menu, self.sample_rate = dict(menu), sample_rate
        self.greeting, self.end = greeting, end
        self.digits: list[str] = []

    async def start(self, call: StreamCall, output: Output) -> None:
        await super().start(call, output)
        if self.greeting:
            await output.play(self.greeting)
            await output.mark("greeting")

    async def dtmf(self, digit: str) -> None:
        await super().dtmf(digit)
        self.digits.append(digit)
        output = self._out()
        if digit == self.end:
            await output.hangup()
        elif digit in self.menu:
            await output.clear()
            await output.play(self.menu[digit])
            await output.mark(f"key-{digit}")


# --- the Agent pipeline ----------------------------------------------------------------------


@runtime_checkable
class SpeechToText(Protocol):
    """Turns one utterance (PCM16 LE at ``sample_rate``) into text ("" if nothing was said)."""

    async def transcribe(self, pcm: bytes, sample_rate: int) -> str: ...


@runtime_checkable
class TextToSpeech(Protocol):
    """Speaks ``text`` as PCM16 LE chunks at ``sample_rate``; chunks come as soon as they are
    ready, so playback starts before the whole reply is synthesized."""

    def synthesize(self, text: str, sample_rate: int) -> AsyncIterator[bytes]: ...


class ScriptedSpeechToText:
    """Hears its script's texts in order, whatever was said (for tests); records what it got."""

    def __init__(self, texts: Iterable[str]) -> None:
        self._texts = list(texts)
        self.heard: list[bytes] = []

    async def transcribe(self, pcm: bytes, sample_rate: int) -> str:
        self.heard.append(pcm)
        return self._texts.pop(0) if self._texts else ""


class ToneTextToSpeech:
    """Speaks each word as a 440 Hz tone of ``word_seconds`` (for tests), in 20 ms chunks."""

    def __init__(self, word_seconds: float = 0.2, level: float = 0.3) -> None:
        self.word_seconds, self.level = word_seconds, level
        self.spoken: list[str] = []

    async def synthesize(self, text: str, sample_rate: int) -> AsyncIterator[bytes]:
        self.spoken.append(text)
        total = round(len(text.split()) * self.word_seconds * sample_rate)
        step = sample_rate // 50
        for first in range(0, total, step):
            n = min(step, total - first)
            yield b"".join(
                round(
                    self.level * 32767 * math.sin(2 * math.pi * 440 * (first + i) / sample_rate)
                ).to_bytes(2, "little", signed=True)
                for i in range(n)
            )
            await asyncio.sleep(0)


class Agent(BaseEngine):
    """Speech-to-text, then the conversation engine, then text-to-speech, turn by turn.

    The caller's speech is cut into utterances by a `VoiceDetector` (an `EnergyDetector` by
    default); each utterance is transcribed, added to the conversation as a user message,
    answered by ``conversation.reply(messages, tools)``, and the reply's text spoken. The
    reply is marked ``reply-<n>`` and played as it is synthesized. When the caller barges in,
    the assistant's message is cut to the share of its words that was heard (``played``
    over the reply's length), so the next turn knows what the caller actually heard.

    Tool calls in a reply are run by ``runner`` (a `providers.ToolRunner`; by default one
    offering the ``tool_names`` of the call's assistant), their results added as ``tool``
    messages and the engine asked again, at most ``max_tool_rounds`` times a turn. Tools run
    in a task of their own: audio keeps flowing, and neither a barge-in nor the caller's next
    words cancel a webhook half way (the next turn waits for its result). A tool's effect ends
    the stream once what is queued has played: ``connect_call`` with a transfer outcome,
    ``stop_service`` with a stop; failures go back to the engine and into ``runner.errors``.
    ``tools`` are the specs offered to the engine (default: the runner's).
    """

    def __init__(
        self,
        stt: SpeechToText,
        conversation: ConversationEngine,
        tts: TextToSpeech,
        *,
        sample_rate: int = 16000,
        prompt: str = "",
        greeting: str = "",
        tools: Sequence[Mapping[str, Any]] = (),
        runner: ToolRunner | None = None,
        max_tool_rounds: int = 8,
        detector: Callable[[], VoiceDetector] = EnergyDetector,
    ) -> None:
        super().__init__()
        if sample_rate not in (8000, 16000, 24000, 48000):
            raise MediaFormatError("an Agent runs at 8000, 16000, 24000 or 48000 Hz")
        self.stt, self.conversation, self.tts = stt, conversation, tts
        self.sample_rate, self.greeting, self.tools = sample_rate, greeting, tuple(tools)
        self.runner, self.max_tool_rounds = runner, max_tool_rounds
        self.messages: list[Message] = [Message("system", prompt)] if prompt else []
        #: The effect a tool gave the call (a transfer, a stop), once one did.
        self.outcome: Outcome | None = None
        self._detector = detector()
        self._utterance = bytearray()
        self._turn: asyncio.Task[None] | None = None
        self._running: asyncio.Task[Outcome | None] | None = None  # the tools of a reply
        self._replies = 0
        self._reply_seconds = 0.0  # how long the reply being spoken is, so far

    async def start(self, call: StreamCall, output: Output) -> None:
        await super().start(call, output)
        if self.runner is None:
            assistant = call.assistant
            config, functions = (assistant.config, assistant.functions) if assistant else ({}, ())
            self.runner = ToolRunner.for_assistant(config, functions, call=call)
        elif self.runner.call is None:
            self.runner.call = call
        if not self.tools:
            self.tools = tuple(self.runner.specs())
        if self.greeting:
            self.messages.append(Message("assistant", self.greeting))
            self._turn = asyncio.create_task(self._speak(self.greeting))

    async def audio(self, pcm: bytes) -> None:
        if self._detector.feed(pcm, self.sample_rate):
            self._utterance += pcm
        elif self._utterance:
            utterance, self._utterance = bytes(self._utterance), bytearray()
            await self._finish_turn()
            if self.outcome is None:
                self._turn = asyncio.create_task(self._answer(utterance, self._running))

    async def interrupted(self, played: float) -> None:
        await super().interrupted(played)
        await self._finish_turn()
        last = next((m for m in reversed(self.messages) if m.role == "assistant"), None)
        if last is not None and self._reply_seconds > 0 and played < self._reply_seconds:
            words = last.content.split()
            heard = " ".join(words[: round(len(words) * played / self._reply_seconds)])
            index = len(self.messages) - 1 - self.messages[::-1].index(last)
            self.messages[index] = attrs.evolve(last, content=heard)

    async def stop(self) -> None:
        await super().stop()
        await self._finish_turn()
        if self._running is not None:  # the call is over: no one is left to tell
            self._running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._running

    async def _finish_turn(self) -> None:
        if self._turn is not None and not self._turn.done():
            self._turn.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._turn
        self._turn = None

    async def _answer(self, utterance: bytes, tools: asyncio.Task[Outcome | None] | None) -> None:
        text = await self.stt.transcribe(utterance, self.sample_rate)
        if tools is not None:  # the results of the last reply's tools come first
            await asyncio.wait({tools})
        if not text.strip() or self.outcome is not None:
            return
        self.messages.append(Message("user", text))
        for _ in range(self.max_tool_rounds):
            reply = await self.conversation.reply(tuple(self.messages), self.tools)
            self.messages.append(Message("assistant", reply.text, tool_calls=reply.tool_calls))
            spoken, running = asyncio.Event(), None
            if reply.tool_calls:  # started first: they run while the reply is spoken
                running = self._running = asyncio.create_task(
                    self._run_tools(reply.tool_calls, spoken)
                )
            try:
                if reply.text:
                    await self._speak(reply.text)
            finally:
                spoken.set()
            if running is None or await asyncio.shield(running) is not None:
                return
        loop = f"the engine called tools {self.max_tool_rounds} times in one turn"
        self._tools().errors.append(ToolError(loop, code="TOOL_LOOP"))

    def _tools(self) -> ToolRunner:
        if self.runner is None:
            raise RuntimeError("the engine has not been started")
        return self.runner

    async def _run_tools(self, calls: Sequence[ToolCall], spoken: asyncio.Event) -> Outcome | None:
        """Run a reply's tool calls in order and answer each; the first effect ends the
        stream once the reply's words are queued, whatever the turn that asked does then."""
        runner, outcome = self._tools(), None
        for call in calls:
            done = await runner.run(call, messages=self.messages)
            self.messages.append(done.message())
            outcome = outcome or done.outcome
        if outcome is not None and self.outcome is None:
            self.outcome = outcome
            await spoken.wait()
            await self._out().end(outcome)
        return outcome

    async def _speak(self, text: str) -> None:
        output = self._out()
        self._replies += 1
        self._reply_seconds = 0.0
        async for chunk in self.tts.synthesize(text, self.sample_rate):
            self._reply_seconds += len(chunk) / 2 / self.sample_rate
            await output.play(chunk)
        await output.mark(f"reply-{self._replies}")
