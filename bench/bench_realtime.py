"""Per-frame cost of the `OpenAIRealtime` path: G.711 mu-law passthrough against pcm16 24 kHz.

Usage: ``python bench/bench_realtime.py [--quick] [--check]``

One 20 ms frame each way, as a call through `StreamServer` costs it beyond what every engine
pays (the platform's JSON and base64): in, the caller's mu-law frame decoded, resampled to the
engine's rate (8 kHz: untouched; 24 kHz: 8 -> 24 kHz) and handed to ``engine.audio``, which
encodes it (mu-law) and sends ``input_audio_buffer.append``; out, one
``response.output_audio.delta`` of 20 ms read by the engine's reader, decoded and played
through an output that does the bridge's playout work (resample to 8 kHz, 20 ms frames,
mu-law encode, the platform's media message). The service's socket is an in-memory channel.

Target: the passthrough costs at most half the pcm16 path (``--check`` exits 1 if not).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
from collections.abc import Mapping
from typing import Any

from _timing import interleaved

from providers.media import Framer, Outcome, Resampler, StreamCall, open_codec
from providers.media.realtime import AudioFormat, OpenAIRealtime

PLATFORM_RATE = 8000
FRAMES = 250  # 5 s of audio each way per batch


class Channel:
    """The realtime service's socket, in memory: what the engine sends is counted; what
    it reads comes from ``inbox``."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[str] = asyncio.Queue()
        self.sent = 0

    async def send(self, text: str) -> None:
        self.sent += len(text)

    async def receive(self) -> str | None:
        return await self.inbox.get()

    async def close(self) -> None:
        return None


class Playout:
    """An `Output` doing the bridge's per-frame playout work, counting what it played."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.speaking = False
        self._resampler = Resampler(sample_rate, PLATFORM_RATE)
        self._framer = Framer(2 * PLATFORM_RATE // 50)
        self._codec = open_codec("pcmu")
        self.played = 0
        self.wanted = 0
        self.done = asyncio.Event()
        self.messages = 0

    async def play(self, pcm: bytes) -> None:
        for frame in self._framer.push(self._resampler.process(pcm)):
            payload = base64.b64encode(self._codec.encode(frame)).decode("ascii")
            message = '{"event":"media","streamSid":"MZ1","media":{"payload":"' + payload + '"}}'
            self.messages += len(message)
        self.played += 1
        if self.played >= self.wanted:
            self.done.set()

    async def mark(self, name: str) -> None:
        return None

    async def clear(self) -> None:
        return None

    async def hangup(self) -> None:
        return None

    async def end(self, outcome: Outcome) -> None:
        return None


class Route:
    """One engine set up on an in-memory service, and the frames it carries per batch."""

    def __init__(self, audio_format: AudioFormat, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.channel = Channel()

        async def connect(url: str, headers: Mapping[str, str]) -> Channel:
            return self.channel

        self.engine = OpenAIRealtime(
            audio_format=audio_format,
            api_key="sk-bench",
            connect=connect,
        )
        rate = self.engine.sample_rate
        self.output = Playout(rate)
        loop.run_until_complete(self.engine.start(StreamCall("CA1"), self.output))
        self.decode = open_codec("pcmu").decode
        self.inbound = Resampler(PLATFORM_RATE, rate)
        caller = bytes(range(256)) * 1000
        self.frames = [caller[i * 160 : (i + 1) * 160] for i in range(FRAMES)]
        # The service's 20 ms deltas, in its format.
        reply = bytes(range(255, -1, -1)) * 1000
        if audio_format == "pcm16":
            pcm = open_codec("pcmu").decode(reply)
            audio = Resampler(PLATFORM_RATE, rate).process(pcm)
            size = 2 * rate // 50
        else:
            audio, size = reply, 160
        self.deltas = [
            json.dumps({"type": "response.output_audio.delta", "response_id": "resp_1",
                        "item_id": "item_1", "output_index": 0, "content_index": 0,
                        "delta": base64.b64encode(audio[i * size:(i + 1) * size]).decode()})
            for i in range(FRAMES)
        ]  # fmt: skip

    async def _batch(self) -> None:
        engine, decode, inbound = self.engine, self.decode, self.inbound
        for frame in self.frames:
            await engine.audio(inbound.process(decode(frame)))
        output = self.output
        output.wanted = output.played + len(self.deltas)
        output.done.clear()
        for delta in self.deltas:
            self.channel.inbox.put_nowait(delta)
        await output.done.wait()

    def batch(self) -> None:
        self.loop.run_until_complete(self._batch())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, rough figures")
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is missed")
    args = parser.parse_args(argv)
    loop = asyncio.new_event_loop()
    try:
        names: tuple[AudioFormat, ...] = ("g711_ulaw", "pcm16")
        paths = {name: Route(name, loop) for name in names}
        timings = interleaved(
            [p.batch for p in paths.values()], loops=2 if args.quick else 10,
            repeat=3 if args.quick else 7,
        )  # fmt: skip
        for engine in (p.engine for p in paths.values()):
            loop.run_until_complete(engine.stop())
    finally:
        loop.close()
    results: dict[str, Any] = {}
    print(f"per 20 ms frame, both directions ({FRAMES} frames a batch); best (median)")
    for (name, _), timing in zip(paths.items(), timings, strict=True):
        best, median = timing.best / FRAMES * 1e6, timing.median / FRAMES * 1e6
        results[name] = best
        label = "mu-law passthrough (8 kHz)" if name == "g711_ulaw" else "pcm16 24 kHz"
        print(f"  {label:28} {best:7.1f} us ({median:.1f})")
    ratio = results["g711_ulaw"] / results["pcm16"]
    met = ratio <= 0.5
    print(f"passthrough / pcm16: {ratio:.2f} (target <= 0.50: {'met' if met else 'MISSED'})")
    return 0 if met or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
