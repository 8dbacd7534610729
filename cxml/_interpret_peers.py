"""In-process stream peers for simulated calls: the app side of a media stream, scripted.

A peer answers each frame the platform sends with the frames a ``reply`` function returns,
so a test knows exactly what was exchanged, without a socket. `echo_peer` is the usual script.
`MemoryChannel` is the in-memory stream underneath, also the one ``providers.media``'s
in-process connector hands out.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any, Self

from ._interpret_stream import StreamChannel

__all__ = ["MemoryChannel", "PeerChannel", "Reply", "StreamPeers", "echo_peer"]

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


class MemoryChannel:
    """One end of an in-memory stream (a `StreamChannel`); `pair` makes the two ends.

    As on a socket: ``receive`` returns None once either end closed, and what is sent after
    that goes nowhere. ``close`` also wakes this end's own pending ``receive``.
    """

    def __init__(self) -> None:
        self._inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._peer: MemoryChannel | None = None
        self._closed = False
        self._peer_closed = False

    @classmethod
    def pair(cls) -> tuple[Self, Self]:
        """Two connected ends: what one sends, the other receives."""
        one, other = cls(), cls()
        one._peer, other._peer = other, one
        return one, other

    @property
    def closed(self) -> bool:
        """Whether this end closed, or has received the other end's close."""
        return self._closed or self._peer_closed

    async def send(self, text: str) -> None:
        if not self.closed and self._peer is not None:
            self._peer._inbox.put_nowait(text)

    async def receive(self) -> str | None:
        if self.closed:
            return None
        message = await self._inbox.get()
        if message is None:
            self._peer_closed = True
        return message

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._peer is not None:
                self._peer._inbox.put_nowait(None)
            self._inbox.put_nowait(None)  # wakes our own pending receive


class PeerChannel:
    """The platform's end of a `MemoryChannel` pair whose app end is ``reply``: each frame
    sent is answered at once with the frames ``reply`` returns (None closes the app's end).
    Keeps every frame the platform sent, in ``sent``.
    """

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.sent: list[dict[str, Any]] = []
        self._platform, self._app = MemoryChannel.pair()

    @property
    def closed(self) -> bool:
        return self._platform.closed

    async def send(self, text: str) -> None:
        frame = json.loads(text)
        self.sent.append(frame)
        for item in self.reply(frame):
            if item is None:
                await self._app.close()
            else:
                await self._app.send(item)

    async def receive(self) -> str | None:
        return await self._platform.receive()

    async def close(self) -> None:
        await self._platform.close()


class StreamPeers:
    """A connector handing out `PeerChannel`s, remembering each (url, parameters, channel)."""

    def __init__(self, reply: Reply = echo_peer) -> None:
        self.reply = reply
        self.opened: list[tuple[str, dict[str, str], PeerChannel]] = []

    async def __call__(self, url: str, parameters: Mapping[str, str]) -> StreamChannel:
        channel = PeerChannel(self.reply)
        self.opened.append((url, dict(parameters), channel))
        return channel
