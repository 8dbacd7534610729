"""Stream protocols: one serializer per wire protocol, parsing into shared event classes."""

from __future__ import annotations

from ._common import Clear, Connected, Dtmf, Event, Mark, Media, Start, Stop
from .platform import PlatformPeer, StreamProtocol
from .smartpbx import SmartPbxClient, SmartPbxEndpoint

__all__ = [
    "Clear",
    "Connected",
    "Dtmf",
    "Event",
    "Mark",
    "Media",
    "PlatformPeer",
    "SmartPbxClient",
    "SmartPbxEndpoint",
    "Start",
    "Stop",
    "StreamProtocol",
]
