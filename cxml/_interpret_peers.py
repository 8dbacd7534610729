"""In-process stream peers for simulated calls: the app side of a media stream, scripted.

A peer answers each frame the platform sends with the frames a ``reply`` function returns,
so a test knows exactly what was exchanged, without a socket. `echo_peer` is the usual script.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

from ._interpret_stream import StreamChannel

__all__ = ["PeerChannel", "Reply", "StreamPeers", "echo_peer"]

#: What the peer sends back for one platform frame: JSON text to send, None to close.
Reply = Callable[[dict[str, Any]], list[str | None]]


def echo_peer(frame: dict[str, Any]) -> list[str | None]:
    """Echo caller audio; answer a DTMF key with a mark; close once the mark comes back."""
    sid = frame.get("streamSid")
    if frame["event"] == "media":
        payload = frame["media"]["payload"]
        return [json.dumps({"event": "media", "streamSid": sid, "media": {"payload": payload}})]
    if frame["event"] == "dtmf":
        return [json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": "said-bye"}})]
    if frame["event"] == "mark":
        return [None]
    return []


class PeerChannel:
    """A `StreamChannel` whose app side is ``reply``; keeps every frame the platform sent."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.sent: list[dict[str, Any]] = []
        self.closed = False
        self._inbox: asyncio.Queue[str | None] = asyncio.Queue()

    async def send(self, text: str) -> None:
        frame = json.loads(text)
        self.sent.append(frame)
        for item in self.reply(frame):
            self._inbox.put_nowait(item)

    async def receive(self) -> str | None:
        if self.closed:
            return None
        item = await self._inbox.get()
        if item is None:
            self.closed = True
        return item

    async def close(self) -> None:
        self.closed = True


class StreamPeers:
    """A connector handing out `PeerChannel`s, remembering each (url, parameters, channel)."""

    def __init__(self, reply: Reply = echo_peer) -> None:
        self.reply = reply
        self.opened: list[tuple[str, dict[str, str], PeerChannel]] = []

    async def __call__(self, url: str, parameters: Mapping[str, str]) -> StreamChannel:
        channel = PeerChannel(self.reply)
        self.opened.append((url, dict(parameters), channel))
        return channel
