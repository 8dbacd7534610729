"""Live calls under load: N concurrent two-leg loopback calls, platform -> bridge -> AI
endpoint and back, with cxmlflow's bridge (`StreamServer` + `ProviderBridge`) and with a
naive relay, on one core each, in one run.

Usage: ``python bench/bench_live.py [--quick] [--calls 25,50,100] [--seconds S]``

The bridge runs in a process of its own pinned to core 0 (``os.sched_setaffinity``); the
load (the platform's callers and the AI endpoints, pre-built messages, no parsing) runs in
another process pinned to core 1. Each call: the caller sends a 20 ms mu-law 8 kHz frame
every 20 ms, the endpoint (SmartPBX protocol, seed 002, PCM16 24 kHz) answers with a 20 ms
frame every 20 ms from its start; both keep a monotonic schedule and catch up when late.

The naive relay is what one writes by hand: a plain ``websockets`` handler, ``json`` and
``base64`` per message, ``audioop`` (mu-law) and ``soxr.ResampleStream`` (8 <-> 24 kHz),
every frame forwarded as soon as it is read, no pacing.

Figures, per direction and bridge: the share of the audio delivered (seconds received over
seconds sent), and the lateness of what arrives (arrival time minus the time the source's
schedule sent the last of it: p50, p99); for the caller's side also the p99 lateness as
played (a platform plays each chunk from its arrival or after what it already holds, so
audio forwarded in a burst is heard as late as audio paced out). Targets: 100 calls with
>= 99 % delivered and p99 lateness < 40 ms, and no load level worse than the naive relay.
The machine's load average is printed first: other jobs on the cores skew every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import multiprocessing
import os
import sys
import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import soxr
from websockets.exceptions import ConnectionClosed

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop  # type: ignore[import-not-found,unused-ignore]
    except ModuleNotFoundError:  # Python 3.13+: the audioop-lts package
        import audioop_lts as audioop  # type: ignore[import-not-found,no-redef,unused-ignore]

FRAME = 0.02
TAIL = 2.0  # seconds receivers keep listening after the sources stopped
SECRET = "bench-live-secret-0123456789abcdef"
NOW = 1_800_000_000.0


def _pin(core: int) -> None:
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core if core in cores else min(cores)})


def _tone(rate: int, seconds: float, frequency: float) -> bytes:
    t = np.arange(round(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * frequency * t) * 32767).astype("<i2").tobytes()


def _payload_bytes(message: str) -> int:
    """Decoded bytes of a media message's payload, found without parsing the JSON."""
    at = message.find('"payload"')
    if at < 0:
        return 0
    at = message.find('"', at + 9) + 1  # json.dumps puts a space after the colon
    end = message.find('"', at)
    padding = (message[end - 2 : end]).count("=")
    return (end - at) * 3 // 4 - padding


# --- the bridges ----------------------------------------------------------------------------


async def _ours(ready: Any, endpoint: str) -> None:
    from cxml import StreamChannel
    from providers import AIAssistant, HttpPolicy, MediaBridge
    from providers.media import StreamServer, connect_websocket

    bridge = MediaBridge("wss://bridge.example.com/media", SECRET)
    agent = AIAssistant(
        "agent", "websocket-endpoint",
        {"websocket_url": "wss://agent.example.com/ws", "media": "pcm16"},
    )  # fmt: skip
    policy = HttpPolicy(allow_http=True, allowed_networks=("127.0.0.0/8",))

    async def local(url: str, headers: Mapping[str, str]) -> StreamChannel:
        return await connect_websocket(endpoint, headers, policy=policy)

    server = StreamServer(
        bridge=bridge,
        assistants=[agent],
        connect=local,
        now=lambda: NOW,
    )
    async with server.listen() as address:
        ready.send(address)
        await asyncio.to_thread(ready.recv)  # until told to stop
    errors = [str(e) for e in list(server.errors)[:3]]
    ready.send({"errors": [*errors, f"{server.dropped_frames} frames dropped as too late"]})


async def _naive(ready: Any, endpoint: str) -> None:
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    async def handler(platform: Any) -> None:
        with contextlib.suppress(ConnectionClosed):
            await relay(platform)

    async def relay(platform: Any) -> None:
        sid = ""
        up = soxr.ResampleStream(8000, 24000, 1, dtype="int16")
        down = soxr.ResampleStream(24000, 8000, 1, dtype="int16")
        async for text in platform:
            message = json.loads(text)
            if message["event"] == "start":
                sid = message["start"]["streamSid"]
                call = message["start"]["callSid"]
                break
        else:
            return
        async with connect(endpoint, compression=None) as agent:
            await agent.send(json.dumps({"event": "start", "start": {
                "callId": call, "callerIdNumber": "", "calleeIdNumber": "", "accountId": "",
                "mediaFormat": {"encoding": "pcm16", "sampleRate": 24000}}}))  # fmt: skip

            async def from_agent() -> None:
                with contextlib.suppress(ConnectionClosed):
                    await to_platform()

            async def to_platform() -> None:
                async for text in agent:
                    message = json.loads(text)
                    if message["event"] != "media":
                        continue
                    pcm = np.frombuffer(base64.b64decode(message["media"]["payload"]), "<i2")
                    ulaw = audioop.lin2ulaw(down.resample_chunk(pcm).tobytes(), 2)
                    payload = base64.b64encode(ulaw).decode()
                    await platform.send(json.dumps(
                        {"event": "media", "streamSid": sid, "media": {"payload": payload}}
                    ))  # fmt: skip

            back = asyncio.create_task(from_agent())
            try:
                async for text in platform:
                    message = json.loads(text)
                    if message["event"] == "stop":
                        break
                    if message["event"] != "media":
                        continue
                    pcm = audioop.ulaw2lin(base64.b64decode(message["media"]["payload"]), 2)
                    wide = up.resample_chunk(np.frombuffer(pcm, "<i2")).tobytes()
                    payload = base64.b64encode(wide).decode()
                    await agent.send(json.dumps({"event": "media", "media": {"payload": payload}}))
            finally:
                back.cancel()

    async with serve(handler, "127.0.0.1", 0, compression=None, max_size=2**21) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        ready.send(f"ws://127.0.0.1:{port}")
        await asyncio.to_thread(ready.recv)
    ready.send({"errors": []})


def _bridge_process(kind: str, ready: Any, endpoint: str) -> None:
    _pin(0)
    logging.disable(logging.WARNING)  # a call cut at the end of the window is not news
    asyncio.run((_ours if kind == "ours" else _naive)(ready, endpoint))


# --- the load: callers and endpoints ---------------------------------------------------------


class _Meter:
    """Audio received on one direction of one call, against its source's schedule."""

    __slots__ = ("bytes_per_second", "heard", "lateness", "origin", "played", "received")

    def __init__(self, bytes_per_second: int, lateness: list[float], heard: list[float]) -> None:
        self.bytes_per_second = bytes_per_second
        self.received = 0.0
        self.origin: float | None = None  # when the source's frame 0 was due
        self.lateness, self.heard = lateness, heard
        self.played = 0.0  # when the platform's buffer runs dry

    def arrived(self, message: str, now: float) -> None:
        seconds = _payload_bytes(message) / self.bytes_per_second
        self.received += seconds
        if self.origin is not None:
            due = self.origin + self.received - seconds  # when the source sent its start
            self.lateness.append(now - (self.origin + self.received - FRAME))
            # As a platform plays it: from arrival, or after what it already holds.
            starts = max(now, self.played)
            self.played = starts + seconds
            self.heard.append(starts - due)


async def _paced(send: Any, message: str, origin: float, until: float) -> int:
    """Send ``message`` every 20 ms from ``origin`` on a monotonic schedule (catching up
    when late) until ``until``; the frames sent."""
    sent = 0
    while True:
        due = origin + sent * FRAME
        if due >= until:
            return sent
        now = time.monotonic()
        if due > now:
            await asyncio.sleep(due - now)
        await send(message)
        sent += 1


class _Load:
    """The platform's callers and the AI endpoints of ``calls`` calls, in one process.

    Every call is set up (both legs connected) before anyone sends, so the window measures
    carrying calls, not opening them; then all send from one origin for ``seconds``."""

    def __init__(self, calls: int, seconds: float) -> None:
        from providers.media import ulaw_from_pcm

        self.calls, self.seconds = calls, seconds
        self.caller_frame = ulaw_from_pcm(_tone(8000, FRAME, 440))
        agent_frame = base64.b64encode(_tone(24000, FRAME, 500)).decode()
        self.agent_media = json.dumps({"event": "media", "media": {"payload": agent_frame}})
        self.lateness: dict[str, list[float]] = {"in": [], "out": []}
        self.heard: dict[str, list[float]] = {"in": [], "out": []}
        self.inbound: dict[str, _Meter] = {}  # by call: what the endpoint hears
        self.outbound: dict[str, _Meter] = {}  # by call: what the caller hears
        self.sent = {"in": 0, "out": 0}
        self.agents = 0
        self.connected = asyncio.Event()
        self.go: asyncio.Future[tuple[float, float]] = asyncio.get_running_loop().create_future()

    @staticmethod
    async def _hear(socket: Any, meter: _Meter) -> None:
        async for message in socket:
            meter.arrived(str(message), time.monotonic())

    async def agent(self, socket: Any) -> None:
        start = json.loads(await socket.recv())["start"]
        call = start["callId"]
        hearing = asyncio.create_task(self._hear(socket, self.inbound[call]))
        self.agents += 1
        if self.agents == self.calls:
            self.connected.set()
        origin, until = await self.go
        self.outbound[call].origin = origin
        with contextlib.suppress(ConnectionClosed):
            frames = await _paced(socket.send, self.agent_media, origin, until)
            self.sent["out"] += frames  # not ``+= await``: that reads the total first
        await asyncio.sleep(TAIL)  # what is still on its way
        hearing.cancel()

    async def caller(self, i: int, address: str) -> None:
        from websockets.asyncio.client import connect

        from providers import MediaBridge
        from providers.media import PlatformPeer

        call = f"CA{i}"
        ticket = MediaBridge("wss://bridge.example.com/media", SECRET).ticket(
            "agent", call, caller="+15550100000", callee="+15550200000", now=NOW
        )
        peer = PlatformPeer(f"MZ{i}", call, parameters={"cxmlflow-ticket": ticket})
        media = peer.media(self.caller_frame)  # one pre-built frame: the load does not parse
        self.inbound[call] = _Meter(48000, self.lateness["in"], self.heard["in"])
        self.outbound[call] = meter = _Meter(8000, self.lateness["out"], self.heard["out"])
        async with connect(address, compression=None, max_size=2**21, open_timeout=60) as socket:
            await socket.send(peer.start())
            hearing = asyncio.create_task(self._hear(socket, meter))
            origin, until = await self.go
            self.inbound[call].origin = origin
            with contextlib.suppress(ConnectionClosed):
                frames = await _paced(socket.send, media, origin, until)
                self.sent["in"] += frames
            await asyncio.sleep(TAIL)
            hearing.cancel()
            with contextlib.suppress(ConnectionClosed):
                await socket.send(peer.stop())

    async def run(self, pipe: Any) -> dict[str, Any]:
        from websockets.asyncio.server import serve

        async with serve(self.agent, "127.0.0.1", 0, compression=None, max_size=2**21) as server:
            pipe.send(next(iter(server.sockets)).getsockname()[1])
            address = await asyncio.to_thread(pipe.recv)  # the bridge is up
            callers = asyncio.gather(
                *(self.caller(i, address) for i in range(self.calls)), return_exceptions=True
            )
            setup = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.connected.wait(), 60)
            setup = time.monotonic() - setup
            pipe.send(("window", self.agents))
            began = time.monotonic() + 0.2
            self.go.set_result((began, began + self.seconds))
            cpu = time.process_time()
            await callers
            cpu = time.process_time() - cpu
            wall = time.monotonic() - began
        result: dict[str, Any] = {"setup": setup, "load_cpu": cpu / wall}
        for way, meters in (("in", self.inbound), ("out", self.outbound)):
            received = sum(m.received for m in meters.values())
            late = np.array(self.lateness[way] or [0.0]) * 1000
            heard = np.array(self.heard[way] or [0.0]) * 1000
            result[way] = {
                "delivered": received / max(self.sent[way] * FRAME, 1e-9),
                "p50": float(np.percentile(late, 50)),
                "p99": float(np.percentile(late, 99)),
                "heard p99": float(np.percentile(heard, 99)),
            }
        return result


def _load_process(calls: int, seconds: float, pipe: Any) -> None:
    _pin(1)

    async def load() -> dict[str, Any]:
        return await _Load(calls, seconds).run(pipe)

    pipe.send(asyncio.run(load()))


def measure(kind: str, calls: int, seconds: float) -> dict[str, Any]:
    """One load level through one bridge: the load's figures and the bridge's CPU share.

    The load opens its endpoint server and tells its port; the bridge starts with that
    endpoint and tells its address; the load then dials the bridge."""
    context = multiprocessing.get_context("spawn")
    load_end, load_here = context.Pipe()
    bridge_end, bridge_here = context.Pipe()
    load = context.Process(target=_load_process, args=(calls, seconds, load_end))
    load.start()
    endpoint = f"ws://127.0.0.1:{load_here.recv()}"
    bridge = context.Process(target=_bridge_process, args=(kind, bridge_end, endpoint))
    bridge.start()
    address = bridge_here.recv()
    pid = bridge.pid
    assert pid is not None
    load_here.send(address)
    _, connected = load_here.recv()  # every call set up: the window begins
    cpu_before, began = _cpu(pid), time.monotonic()
    result: dict[str, Any] = load_here.recv()
    result["bridge_cpu"] = (_cpu(pid) - cpu_before) / (time.monotonic() - began)
    result["connected"] = connected
    bridge_here.send("stop")
    result["errors"] = bridge_here.recv()["errors"]
    load.join(30)
    bridge.join(30)
    return result


def _cpu(pid: int) -> float:
    """CPU seconds a process has used (user + system), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="two load levels, short windows")
    parser.add_argument("--calls", default=None, help="load levels, e.g. 25,50,100")
    parser.add_argument("--seconds", type=float, default=None, help="sending window per level")
    args = parser.parse_args(argv)
    levels = [int(n) for n in (args.calls or ("20,100" if args.quick else "25,50,100")).split(",")]
    seconds = args.seconds or (3.0 if args.quick else 6.0)
    print(f"## Live calls: bridge on one core, {seconds:.0f} s of 20 ms frames both ways\n")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print(
        "| calls | bridge | in: delivered | in: p50 / p99 late | out: delivered "
        "| out: p50 / p99 late | out: p99 as played | bridge CPU | load CPU |\n"
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    for calls in levels:
        for kind in ("naive", "ours"):
            r = measure(kind, calls, seconds)
            way_in, way_out = r["in"], r["out"]
            print(f"| {calls} | {kind} | {way_in['delivered'] * 100:.1f} % "
                  f"| {way_in['p50']:.0f} / {way_in['p99']:.0f} ms "
                  f"| {way_out['delivered'] * 100:.1f} % "
                  f"| {way_out['p50']:.0f} / {way_out['p99']:.0f} ms "
                  f"| {way_out['heard p99']:.0f} ms "
                  f"| {r['bridge_cpu'] * 100:.0f} % | {r['load_cpu'] * 100:.0f} % |")  # fmt: skip
            notes = [f"{r['connected']} calls set up in {r['setup']:.1f} s", *r["errors"]]
            print(f"|   | {'; '.join(notes)} |", flush=True)
    print("\ntargets: 100 calls, >= 99 % delivered, p99 lateness < 40 ms; never worse than naive")
    return 0


if __name__ == "__main__":
    sys.exit(main())
