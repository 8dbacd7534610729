"""The platform's media stream (Twilio Media Streams, and Cloudonix's variant of it).

`StreamProtocol` is the app's side (what a ``<Connect><Stream url>`` reaches): it parses what
the platform sends and builds what the app sends back. `PlatformPeer` is the platform's side,
for tests and simulators that play the platform.

Platform -> app (JSON text frames)::

    {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    {"event": "start", "sequenceNumber": "1", "streamSid": "MZ..",
     "start": {"streamSid": "MZ..", "callSid": "CA..", "accountSid": "AC.." (Twilio),
               "session": ".." (Cloudonix), "tracks": ["inbound"],
               "customParameters": {"name": "value"},
               "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}
    {"event": "media", "streamSid": "MZ..",
     "media": {"payload": "<base64 mu-law>", "track"?: "inbound", "chunk"?: "2",
               "timestamp"?: "20"}}
    {"event": "dtmf", "dtmf": {"digit": "5", "track"?: "inbound_track"}}
    {"event": "mark", "mark": {"name": "greeting"}}     echoed once the audio before it played
    {"event": "stop", "stop": {"callSid": "CA..", "accountSid"?: .., "session"?: ..}}

App -> platform::

    {"event": "media", "streamSid": "MZ..", "media": {"payload": "<base64 mu-law>"}}
    {"event": "mark", "streamSid": "MZ..", "mark": {"name": "greeting"}}
    {"event": "clear", "streamSid": "MZ.."}

Cloudonix sends no ``accountSid`` and no ``mediaFormat`` (mu-law 8 kHz is assumed), and puts
its session token in ``start.session``. ``connected`` is optional; ``start`` must come before
media, once. Numbers may be sent as numbers or as digit strings. A media payload may carry
up to ``MAX_MEDIA_SECONDS`` (10 s) of audio. Events of other names, either way, parse as
`Unknown` (the bridge ignores and counts them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from cxml import PlatformFrames

from ..._errors import MediaProtocolError
from ..codecs import Encoding
from ._common import (
    DTMF_DIGITS,
    Clear,
    Connected,
    Dtmf,
    Event,
    Mark,
    Media,
    Start,
    Stop,
    Unknown,
    b64,
    dump,
    load,
    media_format,
    number,
    payload,
    section,
    text,
)

__all__ = ["PlatformPeer", "StreamProtocol"]

_INBOUND: Final = frozenset({"connected", "start", "media", "dtmf", "mark", "stop"})
_OUTBOUND: Final = frozenset({"media", "mark", "clear"})


def _parameters(start: Mapping[str, Any]) -> dict[str, str]:
    value = start.get("customParameters")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise MediaProtocolError("start.customParameters must map text to text")
    return value


class StreamProtocol:
    """The app's side of one platform stream: ``parse`` each message, build replies.

    It remembers the stream from ``start`` (sid, encoding) to check media and to address
    what it builds. ``supports_clear`` and ``supports_mark`` are what the bridge relies on.
    """

    supports_clear: Final = True
    supports_mark: Final = True

    def __init__(self) -> None:
        self.start: Start | None = None
        self._media_head: str | None = None

    @property
    def encoding(self) -> Encoding:
        return self.start.encoding if self.start else "pcmu"

    @property
    def sample_rate(self) -> int:
        return self.start.sample_rate if self.start else 8000

    def parse(self, message: str | bytes) -> Event:
        """The event of one message; `MediaProtocolError` for anything malformed, `Unknown`
        for a well-formed message of an event this protocol does not have."""
        event, body = load(message)
        start = self.start
        if event == "media" and start is not None:  # the hot path: 50 a second
            media = section(body, "media")
            return Media(
                payload(media, "media", start.encoding, start.sample_rate),
                text(media, "track", "media", required=False),
                number(media, "chunk", "media"),
                number(media, "timestamp", "media"),
            )
        if event not in _INBOUND:
            return Unknown(event)
        if event == "connected":
            return Connected(str(body.get("protocol", "")), str(body.get("version", "")))
        if event == "start":
            if self.start is not None:
                raise MediaProtocolError("a second start on one stream")
            self.start = self._start(body)
            return self.start
        if start is None:
            raise MediaProtocolError(f"{event} before start")
        if event == "dtmf":
            digit = text(section(body, "dtmf"), "digit", "dtmf")
            if digit is None or len(digit) != 1 or digit not in DTMF_DIGITS:
                raise MediaProtocolError("dtmf.digit must be one of 0-9 * # A-D")
            return Dtmf(digit)
        if event == "mark":
            name = text(section(body, "mark"), "name", "mark")
            assert name is not None
            return Mark(name)
        stop = section(body, "stop", required=False)
        return Stop(text(stop, "callSid", "stop", required=False))

    @staticmethod
    def _start(body: Mapping[str, Any]) -> Start:
        start = section(body, "start")
        call_sid = text(start, "callSid", "start")
        assert call_sid is not None
        stream_sid = text(start, "streamSid", "start", required=False) or text(
            body, "streamSid", "start", required=False
        )
        tracks = start.get("tracks", ["inbound"])
        if not isinstance(tracks, list) or not all(isinstance(t, str) for t in tracks):
            raise MediaProtocolError("start.tracks must be a list of text")
        encoding, rate = media_format(start.get("mediaFormat"), "start.mediaFormat")
        return Start(
            call_sid=call_sid,
            stream_sid=stream_sid or "",
            account_sid=text(start, "accountSid", "start", required=False),
            session=text(start, "session", "start", required=False),
            tracks=tuple(tracks),
            parameters=_parameters(start),
            encoding=encoding,
            sample_rate=rate,
        )

    def _sid(self) -> str:
        if self.start is None:
            raise MediaProtocolError("nothing can be sent before the stream's start")
        return self.start.stream_sid

    def media(self, data: bytes) -> str:
        """A media message carrying ``data`` (already in the stream's encoding)."""
        # The hot path: 50 a second a call. base64 needs no JSON escaping; the sid was
        # encoded once, so this is the same text dump() would give.
        if self._media_head is None:
            self._media_head = '{"event":"media","streamSid":' + dump(self._sid()) + ","
        return f'{self._media_head}"media":{{"payload":"{b64(data)}"}}}}'

    def mark(self, name: str) -> str:
        return dump({"event": "mark", "streamSid": self._sid(), "mark": {"name": name}})

    def clear(self) -> str:
        return dump({"event": "clear", "streamSid": self._sid()})


class PlatformPeer:
    """The platform's side of a stream: builds what the platform sends (with cxml's
    `PlatformFrames`, the simulator's own) and parses what the app answers (media, mark,
    clear). Tests and call simulators use it.

    >>> peer = PlatformPeer("MZ1", "CA1", parameters={"lang": "en"})
    >>> app = StreamProtocol()
    >>> app.parse(peer.start())  # doctest: +ELLIPSIS
    Start(call_sid='CA1', stream_sid='MZ1', ...)
    >>> peer.parse(app.mark("hello"))
    Mark(name='hello')
    """

    def __init__(
        self,
        stream_sid: str,
        call_sid: str,
        *,
        parameters: Mapping[str, str] | None = None,
        account_sid: str | None = None,
        session: str | None = None,
    ) -> None:
        self.stream_sid, self.call_sid = stream_sid, call_sid
        self.parameters = dict(parameters or {})
        self.account_sid, self.session = account_sid, session
        start: dict[str, Any] = {
            "streamSid": stream_sid,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "customParameters": self.parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        if account_sid is not None:
            start["accountSid"] = account_sid
        if session is not None:
            start["session"] = session
        self._frames = PlatformFrames(stream_sid, start)

    def connected(self) -> str:
        return self._frames.connected()

    def start(self) -> str:
        return self._frames.start()

    def media(self, data: bytes) -> str:
        """A 20 ms-or-other chunk of mu-law, numbered and timed like Twilio's."""
        return self._frames.media(data)

    def dtmf(self, digit: str) -> str:
        return self._frames.dtmf(digit)

    def mark(self, name: str) -> str:
        return self._frames.mark(name)

    def stop(self) -> str:
        return self._frames.stop()

    def parse(self, message: str | bytes) -> Media | Mark | Clear | Unknown:
        """An app message: media (mu-law bytes, up to ``MAX_MEDIA_SECONDS``), mark or clear;
        `Unknown` for any other event (a platform ignores those)."""
        event, body = load(message)
        if event not in _OUTBOUND:
            return Unknown(event)
        if body.get("streamSid") not in (None, self.stream_sid):
            raise MediaProtocolError("the message names another stream")
        if event == "clear":
            return Clear()
        if event == "mark":
            name = text(section(body, "mark"), "name", "mark")
            assert name is not None
            return Mark(name)
        return Media(payload(section(body, "media"), "media", "pcmu", 8000))
