"""The SmartPBX "AI Provider" protocol: a WebSocket endpoint the PBX streams a call to.

`SmartPbxClient` is the PBX's side (cxmlflow's `ProviderBridge` plays it toward your agent);
`SmartPbxEndpoint` is the agent's side (what an endpoint implements). JSON text frames::

    PBX -> endpoint, once:
    {"event": "start", "start": {"callId": "..", "callerIdNumber": "+1..",
      "calleeIdNumber": "+1..", "accountId": "..",
      "mediaFormat": {"encoding": "pcm16" | "g711_ulaw" | "opus",
                      "sampleRate": 24000 | 8000 | 48000}}}
    both ways:
    {"event": "media", "media": {"payload": "<base64>"}}
    endpoint -> PBX (callId and accountId echoed from start, as SmartPBX's FAQ asks):
    {"event": "media", "callId": "..", "accountId": "..", "media": {"payload": "<base64>"}}

``connected`` and ``stop`` (not in SmartPBX's documentation, but sent by its example) are
tolerated, other events (``transcript``, ...) parse as `Unknown` (ignored and counted);
closing the socket ends the call. A payload may carry up to ``MAX_MEDIA_SECONDS`` of audio.
There is no ``clear`` and no ``mark``: the bridge paces audio itself and drops its own
queue on barge-in. Opus payloads are taken as raw Opus packets, one per message
(SmartPBX's framing is undocumented).
"""

from __future__ import annotations

from typing import Any, Final

from ..._errors import MediaProtocolError
from ..codecs import Encoding
from ._common import (
    Connected,
    Media,
    Start,
    Stop,
    Unknown,
    b64,
    dump,
    load,
    media_format,
    payload,
    section,
    text,
)

__all__ = ["WIRE_NAMES", "SmartPbxClient", "SmartPbxEndpoint"]

#: Our encoding names as SmartPBX spells them.
WIRE_NAMES: Final[dict[Encoding, str]] = {"pcmu": "g711_ulaw", "pcm16": "pcm16", "opus": "opus"}


def _media(body: dict[str, Any], encoding: Encoding, rate: int) -> Media:
    return Media(payload(section(body, "media"), "media", encoding, rate))


class SmartPbxClient:
    """The PBX's side toward an endpoint: ``start`` once, then ``media``; ``parse`` reads
    the endpoint's media (callId and accountId, when echoed, must be this call's)."""

    supports_clear: Final = False
    supports_mark: Final = False

    def __init__(
        self,
        call_id: str,
        *,
        account_id: str = "",
        caller: str = "",
        callee: str = "",
        encoding: Encoding = "pcm16",
        sample_rate: int = 24000,
    ) -> None:
        if encoding not in WIRE_NAMES:
            raise MediaProtocolError(f"SmartPBX carries {', '.join(WIRE_NAMES.values())} only")
        self.call_id, self.account_id = call_id, account_id
        self.caller, self.callee = caller, callee
        self.encoding, self.sample_rate = encoding, sample_rate

    def start(self) -> str:
        return dump(
            {
                "event": "start",
                "start": {
                    "callId": self.call_id,
                    "callerIdNumber": self.caller,
                    "calleeIdNumber": self.callee,
                    "accountId": self.account_id,
                    "mediaFormat": {
                        "encoding": WIRE_NAMES[self.encoding],
                        "sampleRate": self.sample_rate,
                    },
                },
            }
        )

    def media(self, data: bytes) -> str:
        # The hot path, as StreamProtocol.media: base64 needs no JSON escaping.
        return f'{{"event":"media","media":{{"payload":"{b64(data)}"}}}}'

    def parse(self, message: str | bytes) -> Media | Connected | Stop | Unknown:
        event, body = load(message)
        if event == "connected":
            return Connected(str(body.get("protocol", "")), str(body.get("version", "")))
        if event == "stop":
            return Stop(self.call_id)
        if event != "media":
            return Unknown(event)
        if "callId" in body and body["callId"] != self.call_id:
            raise MediaProtocolError("media.callId names another call")
        if "accountId" in body and body["accountId"] != self.account_id:
            raise MediaProtocolError("media.accountId names another call")
        return _media(body, self.encoding, self.sample_rate)


class SmartPbxEndpoint:
    """The endpoint's side: ``parse`` the PBX's start/media/connected/stop, build media
    that echoes the call's ids.

    >>> pbx = SmartPbxClient("call_1", account_id="acc_1", encoding="pcmu", sample_rate=8000)
    >>> endpoint = SmartPbxEndpoint()
    >>> endpoint.parse(pbx.start()).sample_rate
    8000
    >>> endpoint.media(b"\\xff")
    '{"event":"media","callId":"call_1","accountId":"acc_1","media":{"payload":"/w=="}}'
    """

    def __init__(self) -> None:
        self.start: Start | None = None

    def parse(self, message: str | bytes) -> Start | Media | Connected | Stop | Unknown:
        event, body = load(message)
        if event == "connected":
            return Connected(str(body.get("protocol", "")), str(body.get("version", "")))
        if event == "start":
            if self.start is not None:
                raise MediaProtocolError("a second start on one stream")
            start = section(body, "start")
            call_id = text(start, "callId", "start")
            assert call_id is not None
            encoding, rate = media_format(start.get("mediaFormat"), "start.mediaFormat")
            if encoding not in WIRE_NAMES:
                raise MediaProtocolError(f"start.mediaFormat: SmartPBX does not carry {encoding}")
            self.start = Start(
                call_sid=call_id,
                account_sid=text(start, "accountId", "start", required=False),
                caller=text(start, "callerIdNumber", "start", required=False),
                callee=text(start, "calleeIdNumber", "start", required=False),
                encoding=encoding,
                sample_rate=rate,
            )
            return self.start
        if event == "stop":
            return Stop(self.start.call_sid if self.start else None)
        if event != "media":
            return Unknown(event)
        if self.start is None:
            raise MediaProtocolError("media before start")
        return _media(body, self.start.encoding, self.start.sample_rate)

    def media(self, data: bytes) -> str:
        if self.start is None:
            raise MediaProtocolError("nothing can be sent before the stream's start")
        return dump(
            {
                "event": "media",
                "callId": self.start.call_sid,
                "accountId": self.start.account_sid or "",
                "media": {"payload": b64(data)},
            }
        )
