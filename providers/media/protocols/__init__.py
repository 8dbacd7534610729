"""Stream protocols: one serializer per wire protocol, parsing into shared event classes."""

from __future__ import annotations

from ._common import (
    MAX_MEDIA_SECONDS,
    Clear,
    Connected,
    Dtmf,
    Event,
    Mark,
    Media,
    Start,
    Stop,
    Unknown,
)
from .platform import PlatformPeer, StreamProtocol
from .smartpbx import SmartPbxClient, SmartPbxEndpoint

__all__ = [
    "MAX_MEDIA_SECONDS",
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
    "Unknown",
]
