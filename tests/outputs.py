"""An engine's `Output` for tests: keeps what the engine queued, marked and how it ended."""

from __future__ import annotations

from providers.media import Outcome


class Speaker:
    """An Output that keeps what it was given (what the bridge would play): the audio,
    the marks, and each outcome the stream was ended with."""

    speaking = False

    def __init__(self, sample_rate: int = 8000) -> None:
        self.sample_rate = sample_rate
        self.audio = bytearray()
        self.marks: list[str] = []
        self.ended: list[Outcome] = []

    async def play(self, pcm: bytes) -> None:
        self.audio += pcm

    async def mark(self, name: str) -> None:
        self.marks.append(name)

    async def clear(self) -> None:
        self.audio.clear()

    async def hangup(self) -> None:
        await self.end(Outcome("finished"))

    async def end(self, outcome: Outcome) -> None:
        self.ended.append(outcome)
