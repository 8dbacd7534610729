"""PipecatEngine end to end: real pipecat pipelines (no network service) run as the engine of
calls through `StreamServer`, with the platform played over a WebSocket on 127.0.0.1."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect

from providers.media import (
    PlatformPeer,
    StreamCall,
    StreamServer,
    VirtualClock,
    pcm_from_ulaw,
    ulaw_from_pcm,
)
from providers.media._outcome import Outcome
from providers.media.pipecat import PIPECAT_ERROR, PipecatEngine, PipecatUnavailableError
from providers.media.protocols import Clear, Media

from .loopback import media_until, run
from .media_signals import chunks, sinad, tone

pytest.importorskip("pipecat")

from pipecat.frames.frames import (
    EndWorkerFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    StartFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

Kept = list[tuple[StreamCall, Outcome]]


def keeper() -> tuple[Kept, Callable[[StreamCall, Outcome], Any]]:
    kept: Kept = []

    async def on_outcome(call: StreamCall, outcome: Outcome) -> None:
        kept.append((call, outcome))

    return kept, on_outcome


class Echo(FrameProcessor):
    """Says back what it hears."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            out = OutputAudioRawFrame(
                audio=frame.audio, sample_rate=frame.sample_rate, num_channels=1
            )
            await self.push_frame(out)
        else:
            await self.push_frame(frame, direction)


class Speaker(FrameProcessor):
    """Speaks ``clip`` (PCM16 at ``rate``) in 20 ms frames when the pipeline starts; ends the
    pipeline after it if ``end``. On a key, interrupts itself and speaks ``reply``."""

    def __init__(self, clip: bytes, rate: int, *, end: bool, reply: bytes = b"") -> None:
        super().__init__()
        self.clip, self.rate, self.end, self.reply = clip, rate, end, reply
        self.interruptions = 0

    async def say(self, pcm: bytes) -> None:
        for chunk in chunks(pcm, self.rate // 50 * 2):
            await self.push_frame(
                OutputAudioRawFrame(audio=chunk, sample_rate=self.rate, num_channels=1)
            )

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, StartFrame):
            await self.say(self.clip)
            if self.end:  # pipecat's way to end a pipeline: after the audio ahead of it
                await self.push_frame(EndWorkerFrame())
        elif isinstance(frame, InterruptionFrame):
            self.interruptions += 1
        elif isinstance(frame, InputDTMFFrame):
            await self.broadcast_interruption()
            await self.say(self.reply)


class Broken(FrameProcessor):
    """Fails on the first audio it hears."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            raise RuntimeError("secret-token-123 went wrong")
        await self.push_frame(frame, direction)


def served(
    factory: Callable[[StreamCall], Any], *, paced: bool = False, **options: Any
) -> tuple[StreamServer, Kept]:
    """A server running ``PipecatEngine(factory, **options)``, unpaced, or paced by a
    virtual clock."""
    kept, on_outcome = keeper()
    clock = VirtualClock(100.0)
    pacing: dict[str, Any] = {"clock": clock, "sleep": clock.sleep} if paced else {"pace": False}
    server = StreamServer(
        engine=lambda call: PipecatEngine(factory, **options), on_outcome=on_outcome, **pacing
    )
    return server, kept


def test_the_callers_audio_comes_back_through_a_pipecat_pipeline() -> None:
    server, kept = served(lambda call: Echo(), sample_rate=8000)
    sent = ulaw_from_pcm(tone(8000, 1.0, (440, 0.4), (1200, 0.2)))

    async def scenario() -> list[str]:
        async with server.listen() as address, connect(address) as socket:
            peer = PlatformPeer("MZ1", "CA1")
            await socket.send(peer.connected())
            await socket.send(peer.start())
            for frame in chunks(sent, 160):
                await socket.send(peer.media(frame))
            echoed = await media_until(socket, peer, 50)
            await socket.send(peer.stop())  # the caller hangs up: the pipeline is cancelled
            await socket.wait_closed()
            assert b"".join(echoed) == sent
        # no stray tasks: only this one and run()'s that waits for it
        others = asyncio.all_tasks() - {asyncio.current_task()}
        return [t.get_coro().__qualname__ for t in others]  # type: ignore[union-attr]

    assert run(scenario) == ["run.<locals>.bounded"]
    assert [outcome for _, outcome in kept] == [Outcome("hangup")]
    assert not server.errors


def test_a_pipeline_at_another_rate_is_resampled_both_ways() -> None:
    # The engine hears 16 kHz; the pipeline speaks 24 kHz, played at the call's 8 kHz.
    server, kept = served(lambda call: [Speaker(tone(24000, 1.0, (500, 0.4)), 24000, end=True)])

    async def scenario() -> bytes:
        async with server.listen() as address, connect(address) as socket:
            peer = PlatformPeer("MZ1", "CA1")
            await socket.send(peer.start())
            heard = [e.payload async for m in socket if isinstance(e := peer.parse(m), Media)]
            return b"".join(heard)

    heard = pcm_from_ulaw(run(scenario))
    assert len(heard) == pytest.approx(16000, abs=160 * 2)  # a second at 8 kHz
    assert sinad(heard, 8000, 500) > 25
    assert [outcome for _, outcome in kept] == [Outcome("finished")]


def test_the_pipelines_end_ends_the_stream_after_its_audio() -> None:
    clip = tone(8000, 0.5, (700, 0.3))
    server, kept = served(lambda call: Pipeline([Speaker(clip, 8000, end=True)]), sample_rate=8000)

    async def scenario() -> list[bytes]:
        async with server.listen() as address, connect(address) as socket:
            peer = PlatformPeer("MZ1", "CA1")
            await socket.send(peer.start())
            got = []
            async for message in socket:
                event = peer.parse(message)
                if isinstance(event, Media):
                    got.append(event.payload)
            return got

    assert b"".join(run(scenario)) == ulaw_from_pcm(clip)  # all of it played, then the end
    assert [(call.call_sid, outcome) for call, outcome in kept] == [("CA1", Outcome("finished"))]
    assert not server.errors


def test_an_interruption_in_the_pipeline_clears_the_playout() -> None:
    clip, reply = tone(8000, 2.0, (700, 0.3)), tone(8000, 0.2, (900, 0.3))

    async def factory(call: StreamCall) -> list[FrameProcessor]:
        return [Speaker(clip, 8000, end=False, reply=reply)]

    server, kept = served(factory, sample_rate=8000)

    async def scenario() -> list[object]:
        async with server.listen() as address, connect(address) as socket:
            peer = PlatformPeer("MZ1", "CA1")
            await socket.send(peer.start())
            await media_until(socket, peer, 10)
            await socket.send(peer.dtmf("5"))
            after: list[object] = []
            while not isinstance(event := peer.parse(await socket.recv()), Clear):
                pass
            after.append(event)
            after.extend(await media_until(socket, peer, 10))
            await socket.send(peer.stop())
            return after

    clear, *replied = run(scenario)
    assert clear == Clear()
    assert b"".join(replied) == ulaw_from_pcm(reply)  # the reply follows the clear
    assert [outcome for _, outcome in kept] == [Outcome("hangup")]


def test_with_barge_in_the_bridges_interruption_reaches_the_pipeline() -> None:
    # Paced, so the reply is still playing when the caller talks over it.
    speaker = Speaker(tone(8000, 10.0, (700, 0.3)), 8000, end=False)
    server, kept = served(lambda call: [speaker], paced=True, sample_rate=8000, barge_in=True)
    loud = ulaw_from_pcm(tone(8000, 0.02, (300, 0.3)))

    async def scenario() -> None:
        async with server.listen() as address, connect(address) as socket:
            peer = PlatformPeer("MZ1", "CA1")
            await socket.send(peer.start())
            await media_until(socket, peer, 10)
            for _ in range(3):
                await socket.send(peer.media(loud))  # the caller talks over the bot
            while not isinstance(peer.parse(await socket.recv()), Clear):
                pass
            await socket.send(peer.stop())
            await socket.wait_closed()

    run(scenario)
    assert speaker.interruptions == 1
    assert [outcome for _, outcome in kept] == [Outcome("hangup")]


def test_an_error_in_the_pipeline_ends_the_call_with_an_error_outcome() -> None:
    server, kept = served(lambda call: [Broken()], sample_rate=8000)

    async def scenario() -> None:
        async with server.listen() as address, connect(address) as socket:
            peer = PlatformPeer("MZ1", "CA1")
            await socket.send(peer.start())
            await socket.send(peer.media(b"\xff" * 160))
            await socket.wait_closed()

    run(scenario)
    ((_, outcome),) = kept
    assert (outcome.kind, outcome.code) == ("error", PIPECAT_ERROR)
    assert "RuntimeError" in str(outcome.detail)
    assert "secret" not in str(outcome.detail)


def test_a_tools_transfer_ends_the_stream_after_the_pipelines_audio() -> None:
    """An LLM service in the pipeline runs ``connect_call`` through pipecat's own function-call
    path (no model is asked: the call is handed to the service as a model would give it); the
    runner gets the call, the tool's transfer is the stream's outcome, after the audio."""
    pytest.importorskip("pipecat.services.openai.llm")
    from pipecat.frames.frames import FunctionCallFromLLM
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.services.openai.llm import OpenAILLMService

    from providers.tools import ToolRunner

    clip = tone(8000, 0.3, (700, 0.3))
    kept, on_outcome = keeper()
    llm = OpenAILLMService(api_key="placeholder-not-a-key")  # never asked for a reply
    context = LLMContext()
    runner = ToolRunner(["connect_call"])

    def engine(call: StreamCall) -> PipecatEngine:
        made = PipecatEngine(lambda call: [Speaker(clip, 8000, end=False), llm], sample_rate=8000)
        made.offer_tools(llm, context, runner)
        return made

    server = StreamServer(engine=engine, on_outcome=on_outcome, pace=False)
    transfer = {"destinations": [{"type": "extension", "target": "1001"}]}

    async def scenario() -> list[bytes]:
        async with server.listen() as address, connect(address) as socket:
            peer = PlatformPeer("MZ1", "CA1")
            await socket.send(peer.start())
            got = await media_until(socket, peer, len(clip) // 320)  # through the LLM service
            called = FunctionCallFromLLM("connect_call", "call-1", transfer, context)
            await llm.run_function_calls([called])
            async for message in socket:
                event = peer.parse(message)
                if isinstance(event, Media):
                    got.append(event.payload)
            return got

    assert b"".join(run(scenario)) == ulaw_from_pcm(clip)
    assert [(call.call_sid, outcome) for call, outcome in kept] == [
        ("CA1", Outcome("transfer", destination="1001"))
    ]
    assert isinstance(runner.call, StreamCall)
    assert runner.call.call_sid == "CA1"
    assert not runner.errors
    assert not server.errors


def test_without_pipecat_the_engine_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from providers.media import pipecat as module

    module._pipecat.cache_clear()
    monkeypatch.setitem(sys.modules, "pipecat.frames.frames", None)
    try:
        with pytest.raises(PipecatUnavailableError, match=r"cxmlflow\[pipecat\]") as caught:
            PipecatEngine(lambda call: Echo())
        assert caught.value.code == "PIPECAT_UNAVAILABLE"
    finally:
        module._pipecat.cache_clear()
