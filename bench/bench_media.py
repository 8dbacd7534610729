"""Time the media path per 20 ms frame against audioop + soxr used directly, and measure how
many concurrent loopback calls one core carries through StreamServer.

Usage: ``python bench/bench_media.py [--quick] [--calls N] [--seconds S]``

Part 1, in one process, interleaved repeats: per 20 ms frame, the inbound step (mu-law 8 kHz
-> PCM16 -> 24 kHz or 16 kHz) and the outbound step (PCM16 24/16 kHz -> 8 kHz -> mu-law),
with cxmlflow's codecs and `Resampler` against ``audioop`` + ``soxr.ResampleStream`` called
directly; then the same with the message around it (JSON + base64: our `StreamProtocol`
against ``json`` + ``base64``). Part 2: a load process opens N calls over WebSocket on
127.0.0.1 to a `StreamServer` running `EchoEngine` at 8 kHz, then at 16 kHz (both
resamplers), paced output, each call sending a 20 ms frame every 20 ms; the server's CPU
time over the window gives the share of a core per call. Prints ratios against the targets
(docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import soxr
from _timing import REPEAT, interleaved

from providers.media import (
    EchoEngine,
    PlatformPeer,
    Resampler,
    StreamProtocol,
    StreamServer,
    pcm_from_ulaw,
    ulaw_from_pcm,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop


def _tone(rate: int, seconds: float) -> bytes:
    t = np.arange(round(rate * seconds)) / rate
    mix = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1800 * t)
    return (mix * 32767).astype("<i2").tobytes()


def _frames(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data) - size + 1, size)]


def _timed(workloads: dict[str, Callable[[], object]], loops: int) -> dict[str, float]:
    """Best µs per call of each workload (``_timing.py``)."""
    timings = interleaved(list(workloads.values()), loops, REPEAT)
    return {name: t.best * 1e6 for name, t in zip(workloads, timings, strict=True)}


def _cycler(items: list[Any]) -> Callable[[], Any]:
    state = {"i": 0}

    def following() -> Any:
        i = state["i"]
        state["i"] = (i + 1) % len(items)
        return items[i]

    return following


def _dsp_rate(rate: int, loops: int) -> None:
    """Rows for mu-law 8 kHz <-> PCM16 at ``rate``: ours, audioop + soxr HQ and QQ."""
    ulaw = _frames(ulaw_from_pcm(_tone(8000, 2.0)), 160)
    pcm = _frames(_tone(rate, 2.0), 2 * rate // 50)
    ours_in, ours_out = Resampler(8000, rate), Resampler(rate, 8000)
    next_ulaw, next_pcm = _cycler(ulaw), _cycler(pcm)

    def soxr_in(quality: str) -> Callable[[], object]:
        up = soxr.ResampleStream(8000, rate, 1, dtype="int16", quality=quality)
        return lambda: up.resample_chunk(
            np.frombuffer(audioop.ulaw2lin(next_ulaw(), 2), "<i2")
        ).tobytes()

    def soxr_out(quality: str) -> Callable[[], object]:
        down = soxr.ResampleStream(rate, 8000, 1, dtype="int16", quality=quality)
        return lambda: audioop.lin2ulaw(
            down.resample_chunk(np.frombuffer(next_pcm(), "<i2")).tobytes(), 2
        )

    times = _timed(
        {
            "ours in": lambda: ours_in.process(pcm_from_ulaw(next_ulaw())),
            "HQ in": soxr_in("HQ"),
            "QQ in": soxr_in("QQ"),
            "ours out": lambda: ulaw_from_pcm(ours_out.process(next_pcm())),
            "HQ out": soxr_out("HQ"),
            "QQ out": soxr_out("QQ"),
        },
        loops,
    )
    kilo = rate // 1000
    for way, label in (("in", f"in: mu-law -> {kilo} kHz"), ("out", f"out: {kilo} kHz -> mu-law")):
        ours, hq, qq = times[f"ours {way}"], times[f"HQ {way}"], times[f"QQ {way}"]
        print(
            f"| {label} | {ours:.1f} | {hq:.1f} | {ours / hq:.2f}x | {qq:.1f} | {ours / qq:.2f}x |"
        )
    both = times["ours in"] + times["ours out"]
    anchor = times["HQ in"] + times["HQ out"]
    print(f"| both ways, {kilo} kHz | {both:.1f} | {anchor:.1f} | {both / anchor:.2f}x | | |")


def dsp(loops: int) -> None:
    print(f"## Per 20 ms frame (best of {REPEAT} x {loops:,}, µs)\n")
    print("| step | cxmlflow | audioop + soxr HQ | ratio | audioop + soxr QQ | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for rate in (24000, 16000):
        _dsp_rate(rate, loops)

    # The message around the audio: parse + base64 + decode + resample, and back.
    peer = PlatformPeer("MZ1", "CA1")
    protocol = StreamProtocol()
    protocol.parse(peer.start())
    messages = [peer.media(f) for f in _frames(ulaw_from_pcm(_tone(8000, 2.0)), 160)]
    pcm24 = _frames(_tone(24000, 2.0), 960)
    ours_in, ours_out = Resampler(8000, 24000), Resampler(24000, 8000)
    up = soxr.ResampleStream(8000, 24000, 1, dtype="int16", quality="HQ")
    down = soxr.ResampleStream(24000, 8000, 1, dtype="int16", quality="HQ")
    next_message, next_pcm = _cycler(messages), _cycler(pcm24)

    def ours_message_in() -> object:
        event = protocol.parse(next_message())
        return ours_in.process(pcm_from_ulaw(event.payload))  # type: ignore[union-attr]

    def direct_message_in() -> object:
        body = json.loads(next_message())
        data = base64.b64decode(body["media"]["payload"])
        return up.resample_chunk(np.frombuffer(audioop.ulaw2lin(data, 2), "<i2")).tobytes()

    def ours_message_out() -> object:
        return protocol.media(ulaw_from_pcm(ours_out.process(next_pcm())))

    def direct_message_out() -> object:
        data = audioop.lin2ulaw(down.resample_chunk(np.frombuffer(next_pcm(), "<i2")).tobytes(), 2)
        payload = base64.b64encode(data).decode()
        return json.dumps({"event": "media", "streamSid": "MZ1", "media": {"payload": payload}})

    times = _timed(
        {"ours in": ours_message_in, "direct in": direct_message_in,
         "ours out": ours_message_out, "direct out": direct_message_out},
        loops,
    )  # fmt: skip
    print("\n| with the message (JSON + base64), 24 kHz | cxmlflow | json + base64 + audioop + "
          "soxr HQ | ratio |\n|---|---:|---:|---:|")  # fmt: skip
    for way in ("in", "out"):
        ours, direct = times[f"ours {way}"], times[f"direct {way}"]
        print(f"| {way} | {ours:.1f} | {direct:.1f} | {ours / direct:.2f}x |")
    both = times["ours in"] + times["ours out"]
    anchor = times["direct in"] + times["direct out"]
    print(f"| both ways | {both:.1f} | {anchor:.1f} | {both / anchor:.2f}x |")
    print("\ntarget: both ways <= 1.2x audioop + soxr used directly")


def _sinad(pcm: bytes, rate: int, frequency: float) -> float:
    """dB of the best-fitting sine at ``frequency`` against the rest (first 100 ms left out)."""
    y = np.frombuffer(pcm, "<i2").astype(np.float64)[rate // 10 :]
    t = np.arange(len(y)) / rate
    basis = np.stack([np.sin(2 * np.pi * frequency * t), np.cos(2 * np.pi * frequency * t),
                      np.ones_like(t)], axis=1)  # fmt: skip
    fit = basis @ np.linalg.lstsq(basis, y, rcond=None)[0]
    return float(10 * np.log10(np.sum(fit**2) / max(np.sum((y - fit) ** 2), 1e-12)))


def quality() -> None:
    """SINAD of a 440 Hz tone resampled in 20 ms chunks, and what is left of a 6 kHz tone
    taken down to 8 kHz (6 dB: not filtered at all), for ours and soxr's stream modes."""
    print("\n## Quality in 20 ms chunks\n")
    print("| resampler | 8->24 k SINAD | 24->8 k SINAD | 6 kHz tone 24->8 k | held back, worst "
          "|\n|---|---:|---:|---:|---:|")  # fmt: skip
    for name in ("ours low", "ours medium", "ours high", "soxr HQ", "soxr QQ"):
        results = []
        held = 0  # ms of audio owed and not yet returned, at worst
        for rate_in, rate_out, tones, frequency in (
            (8000, 24000, ((440, 0.5),), 440.0),
            (24000, 8000, ((440, 0.5),), 440.0),
            (24000, 8000, ((440, 0.25), (6000, 0.25)), 440.0),
        ):
            if name.startswith("ours"):
                ours = Resampler(rate_in, rate_out, quality=name.split()[1])  # type: ignore[arg-type]
                step: Callable[[bytes], bytes] = ours.process
            else:
                stream = soxr.ResampleStream(rate_in, rate_out, 1, dtype="int16",
                                             quality=name.split()[1])  # fmt: skip

                def step(chunk: bytes, s: Any = stream) -> bytes:
                    return bytes(s.resample_chunk(np.frombuffer(chunk, "<i2")).tobytes())

            produced = consumed = 0
            out = []
            for chunk in _frames(_mix(rate_in, 2.0, tones), 2 * rate_in // 50):
                part = step(chunk)
                out.append(part)
                consumed += len(chunk) // 2
                produced += len(part) // 2
                behind = consumed * rate_out // rate_in - produced
                held = max(held, round(behind / rate_out * 1000))
            results.append(_sinad(b"".join(out), rate_out, frequency))
        print(f"| {name} | {results[0]:.0f} dB | {results[1]:.0f} dB | {results[2]:.0f} dB "
              f"| {held} ms |")  # fmt: skip


def _mix(rate: int, seconds: float, tones: tuple[tuple[float, float], ...]) -> bytes:
    t = np.arange(round(rate * seconds)) / rate
    mix = sum((a * np.sin(2 * np.pi * f * t) for f, a in tones), np.zeros_like(t))
    return (mix * 32767).astype("<i2").tobytes()


# --- capacity ------------------------------------------------------------------------------


async def _callers(address: str, calls: int, seconds: float) -> None:
    from websockets.asyncio.client import connect

    frame = ulaw_from_pcm(_tone(8000, 0.02))

    async def caller(i: int) -> None:
        peer = PlatformPeer(f"MZ{i}", f"CA{i}")
        async with connect(address, compression=None) as socket:
            await socket.send(peer.start())

            async def drain() -> None:
                async for _ in socket:
                    pass

            reader = asyncio.create_task(drain())
            start = time.monotonic()
            n = 0
            while (now := time.monotonic()) - start < seconds:
                await socket.send(peer.media(frame))
                n += 1
                await asyncio.sleep(max(0.0, start + n * 0.02 - now))
            await socket.send(peer.stop())
            await reader

    await asyncio.gather(*(caller(i) for i in range(calls)))


def _load(address: str, calls: int, seconds: float) -> None:
    asyncio.run(_callers(address, calls, seconds))


class _CountingEcho(EchoEngine):
    """The echo, counting the caller's frames: the load actually carried."""

    frames = 0

    async def audio(self, pcm: bytes) -> None:
        _CountingEcho.frames += 1
        await super().audio(pcm)


async def _serve(calls: int, seconds: float, rate: int) -> tuple[float, float, int]:
    server = StreamServer(engine=lambda call: _CountingEcho(rate))
    async with server.listen() as address:
        load = multiprocessing.get_context("spawn").Process(
            target=_load, args=(address, calls, seconds + 2.0)
        )
        load.start()
        await asyncio.sleep(1.5)  # every call connected and streaming
        wall, cpu, frames = time.perf_counter(), time.process_time(), _CountingEcho.frames
        await asyncio.sleep(seconds)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        frames = _CountingEcho.frames - frames
        await asyncio.to_thread(load.join, seconds + 30)
    return wall, cpu, frames


def capacity(calls: int, seconds: float) -> None:
    print(f"\n## Capacity: {calls} loopback calls, 50 frames/s each way, {seconds:.0f} s\n")
    print("| engine | frames/s a call, in | server CPU | per call | calls per core | target |\n"
          "|---|---:|---:|---:|---:|---|")  # fmt: skip
    for rate, label in ((8000, "echo at 8 kHz (no resampling)"),
                        (16000, "echo at 16 kHz (both resamplers)")):  # fmt: skip
        wall, cpu, frames = asyncio.run(_serve(calls, seconds, rate))
        # Per call at the nominal 50 frames/s: scaled by the load the callers managed.
        carried = frames / wall / calls
        share = cpu / wall / calls * 100 * 50 / carried
        print(f"| {label} | {carried:.1f} | {cpu / wall * 100:.0f} % | {share:.2f} % "
              f"| ~{100 / share:.0f} | >= 100 |")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer loops, rough figures")
    parser.add_argument("--calls", type=int, default=50, help="concurrent calls (part 2)")
    parser.add_argument("--seconds", type=float, default=8.0, help="measuring window (part 2)")
    args = parser.parse_args(argv)
    dsp(500 if args.quick else 3000)
    quality()
    capacity(min(args.calls, 20) if args.quick else args.calls, 3.0 if args.quick else args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
