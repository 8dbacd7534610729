"""The voice detector and the Agent pipeline (speech-to-text, conversation, text-to-speech)."""

from __future__ import annotations

import asyncio
import math

import pytest

from providers import MediaFormatError, Message, ScriptedEngine
from providers.media import (
    Agent,
    EnergyDetector,
    Engine,
    PlatformPeer,
    ScriptedSpeechToText,
    StreamCall,
    StreamServer,
    ToneTextToSpeech,
    level,
    ulaw_from_pcm,
)
from providers.media.protocols import Mark, Media

from .media_signals import tone
from .outputs import Speaker

SPEECH = tone(8000, 0.02, (300, 0.3))
SILENCE = bytes(320)


def test_level_in_dbfs() -> None:
    assert level(b"") == -math.inf
    assert level(SILENCE) == -math.inf
    assert level(tone(8000, 0.1, (1000, 1.0))) == pytest.approx(-3.0, abs=0.1)
    with pytest.raises(MediaFormatError):
        level(b"\x00")


def test_energy_detector_needs_start_time_and_keeps_short_gaps() -> None:
    vad = EnergyDetector(threshold=-35, start=0.04, stop=0.1)
    assert [vad.feed(SPEECH, 8000) for _ in range(3)] == [False, True, True]
    # A 60 ms gap between words stays inside speech; 100 ms of quiet ends it.
    assert [vad.feed(SILENCE, 8000) for _ in range(3)] == [True, True, True]
    assert vad.feed(SPEECH, 8000)
    assert [vad.feed(SILENCE, 8000) for _ in range(5)] == [True, True, True, True, False]
    quiet = tone(8000, 0.02, (300, 0.005))  # -49 dBFS: line noise, not speech
    assert not any(vad.feed(quiet, 8000) for _ in range(10))


def test_barge_in_cuts_the_reply_to_the_words_heard() -> None:
    conversation = ScriptedEngine(["Sure."])
    agent = Agent(ScriptedSpeechToText(["what was that"]), conversation,
                  ToneTextToSpeech(word_seconds=0.2), greeting="one two three four")  # fmt: skip

    async def scenario() -> None:
        speaker = Speaker(16000)
        await agent.start(StreamCall("CA1"), speaker)
        assert agent._turn is not None
        await agent._turn
        assert len(speaker.audio) == 2 * 16000 * 0.8
        assert speaker.marks == ["reply-1"]
        await agent.interrupted(0.4)  # half of it was heard
        assert agent.messages[-1] == Message("assistant", "one two")
        for _ in range(10):
            await agent.audio(tone(16000, 0.02, (300, 0.3)))
        for _ in range(25):
            await agent.audio(bytes(640))
        await agent._turn
        await agent.stop()

    asyncio.run(scenario())
    # The next turn's conversation holds what the caller actually heard.
    assert conversation.seen[0] == (
        Message("assistant", "one two"),
        Message("user", "what was that"),
    )


def test_an_agent_answers_a_caller_through_the_stream_server() -> None:
    stt = ScriptedSpeechToText(["hello"])
    conversation = ScriptedEngine(["Hi there how can I help"])
    tts = ToneTextToSpeech(word_seconds=0.2)
    agents: list[Agent] = []

    def make(call: StreamCall) -> Engine:
        agents.append(Agent(stt, conversation, tts, prompt="You are a receptionist."))
        return agents[-1]

    connector = StreamServer.for_engine(make)

    async def scenario() -> None:
        stream = await connector("wss://bridge.example.com/media", {})
        peer = PlatformPeer("MZ1", "CA1")
        await stream.send(peer.start())
        for _ in range(15):  # 300 ms of speech, then half a second of quiet
            await stream.send(peer.media(ulaw_from_pcm(SPEECH)))
        for _ in range(25):
            await stream.send(peer.media(ulaw_from_pcm(SILENCE)))
        frames = 0
        while (event := peer.parse(await stream.receive() or "")) != Mark("reply-1"):
            frames += isinstance(event, Media)
        await stream.close()
        assert frames == 60  # six words of 200 ms, in 20 ms frames

    asyncio.run(asyncio.wait_for(scenario(), 20))
    (agent,) = agents
    assert 0.25 <= len(stt.heard[0]) / 2 / 16000 <= 0.8  # the utterance, at the agent's rate
    assert conversation.seen == [
        (Message("system", "You are a receptionist."), Message("user", "hello"))
    ]
    assert agent.messages[-1] == Message("assistant", "Hi there how can I help")
    assert tts.spoken == ["Hi there how can I help"]
    assert ("stop", None) in agent.events


def test_an_agent_runs_at_a_telephony_rate() -> None:
    with pytest.raises(MediaFormatError):
        Agent(ScriptedSpeechToText([]), ScriptedEngine(), ToneTextToSpeech(), sample_rate=11025)


def test_the_public_names_of_providers_media() -> None:
    import providers.media

    public = {
        name
        for name, value in vars(providers.media).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("providers")
    }
    assert sorted(providers.media.__all__) == providers.media.__all__
    assert set(providers.media.__all__) == public
