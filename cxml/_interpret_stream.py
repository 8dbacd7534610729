"""The platform's side of a ``<Connect><Stream>``, for the call simulator.

cxml stays a leaf: it defines the small `StreamChannel` protocol (JSON text frames, as the
Cloudonix/Twilio media stream carries them), the `StreamConnector` that opens one, and the
one WebSocket implementation (`WebSocketChannel`, `open_websocket`), which
``providers.media`` uses on both its sides (its server and its onward connections).
`run_stream` then plays the caller: ``connected``, ``start``, the scenario's audio as 20 ms
μ-law ``media`` frames, ``dtmf``, ``stop``; and it records what the application sent back
(audio, marks, clears).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import json
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable
from urllib.parse import urlsplit

import attrs

from ._errors import ScenarioError, StreamError

if TYPE_CHECKING:
    from websockets.asyncio.connection import Connection as WebSocketConnection

__all__ = [
    "FRAME_BYTES",
    "PlatformFrames",
    "StreamChannel",
    "StreamConnector",
    "StreamResult",
    "StreamScript",
    "WebSocketChannel",
    "open_websocket",
    "run_stream",
    "websocket_connector",
]

#: One 20 ms frame of 8 kHz μ-law: what the platform sends per ``media`` event.
FRAME_BYTES: Final = 160
_RATE: Final = 8000
#: μ-law silence.
_SILENCE: Final = b"\xff"
#: Frames the app may send in one stream before the simulator stops listening.
MAX_RECEIVED_FRAMES: Final = 100_000
#: Largest frame a stream takes by default (a 20 ms media frame is well under 1 KiB).
MAX_FRAME: Final = 2**20
#: Longest caller audio a scenario may ask for (one hour); keeps a typo from filling memory.
MAX_CALLER_SECONDS: Final = 3600.0
#: Most audio one media message from the app may carry: 10 s of 8 kHz μ-law, the cap
#: ``providers.media`` documents (apps such as pipecat send seconds at once).
MAX_MEDIA_BYTES: Final = 80_000


@runtime_checkable
class StreamChannel(Protocol):
    """One media stream, seen from the platform side."""

    async def send(self, text: str) -> None:
        """Platform to app: one JSON text frame (connected, start, media, dtmf, stop)."""

    async def receive(self) -> str | None:
        """App to platform: the next JSON text frame (media, mark, clear); None once the app
        closed the stream."""

    async def close(self) -> None:
        """End the stream (idempotent)."""


#: Opens the stream for ``(url, custom parameters)``.
StreamConnector = Callable[[str, Mapping[str, str]], Awaitable[StreamChannel]]


class WebSocketChannel:
    """A `StreamChannel` over a ``websockets`` connection, client or server side.

    A clean close ends the stream quietly: ``receive`` returns None and a frame sent after it
    goes nowhere, as on any closed stream. An abnormal close is `StreamError` 31920, a binary
    frame (the protocol is JSON text) 31950.
    """

    def __init__(self, connection: WebSocketConnection) -> None:
        # Imported once here, not on every frame: each `from websockets.exceptions import`
        # statement runs a failing lookup through that module's lazy `__getattr__`.
        from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK

        self._ws = connection
        self._closed_ok, self._closed_error = ConnectionClosedOK, ConnectionClosedError

    async def send(self, text: str) -> None:
        try:
            await self._ws.send(text)
        except self._closed_ok:
            pass
        except self._closed_error as exc:
            raise StreamError(f"the stream closed while sending: {exc}", code=31920) from None

    async def receive(self) -> str | None:
        try:
            message = await self._ws.recv()
        except self._closed_ok:
            return None
        except self._closed_error as exc:
            raise StreamError(f"the stream closed abnormally: {exc}", code=31920) from None
        if not isinstance(message, str):
            raise StreamError("the peer sent a binary frame", code=31950)
        return message

    async def close(self) -> None:
        # Read on while closing: with its queue of unread frames full, websockets stops
        # reading, never sees the peer's close reply and waits out its close timeout (10 s
        # of a caller in silence). A receive already running drains instead (ConcurrencyError).
        draining = asyncio.create_task(self._drain())
        try:
            await self._ws.close()
        finally:
            draining.cancel()

    async def _drain(self) -> None:
        with contextlib.suppress(Exception):
            async for _ in self._ws:
                pass


async def open_websocket(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    address: tuple[str, int] | None = None,
    open_timeout: float = 5.0,
    max_size: int = MAX_FRAME,
) -> WebSocketChannel:
    """Open a WebSocket to a ``ws://`` or ``wss://`` URL, with ``headers`` in the handshake.

    ``address`` pins the connection to that ``(host, port)`` (one its caller has checked):
    the URL's host name still goes in ``Host`` and TLS SNI, and no proxy is used. Frames
    over ``max_size`` bytes close the stream. Raises `StreamError` (31920) when the URL is
    not a WebSocket URL or the handshake fails.
    """
    # websockets is imported when a stream opens, so `import cxml` stays as light as it was.
    from websockets.asyncio.client import connect

    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise StreamError(f"not a ws:// or wss:// URL: {url!r}", code=31920)
    options: dict[str, Any] = {}
    if address is not None:
        options.update(host=address[0], port=address[1], proxy=None)
        if parts.scheme == "wss":
            options["server_hostname"] = parts.hostname
    try:
        connection = await connect(
            url,
            additional_headers=dict(headers or {}),
            open_timeout=open_timeout,
            compression=None,
            max_size=max_size,
            **options,
        )
    except (OSError, TimeoutError, ValueError) as exc:
        raise StreamError(f"could not open {url}: {exc}", code=31920) from None
    except Exception as exc:  # websockets' handshake errors (InvalidStatus, InvalidURI, ...)
        raise StreamError(f"could not open {url}: {type(exc).__name__}", code=31920) from None
    return WebSocketChannel(connection)


async def websocket_connector(
    url: str, parameters: Mapping[str, str], *, open_timeout: float = 5.0
) -> StreamChannel:
    """Open a real WebSocket to a ``ws://`` or ``wss://`` URL (the default connector).

    ``parameters`` travel in the ``start`` frame, not here. Raises `StreamError` (31920) when
    the URL is not a WebSocket URL or the handshake fails.
    """
    return await open_websocket(url, open_timeout=open_timeout)


def _seconds(value: object, path: str, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(f"expected a number of seconds, got {value!r}", path=path)
    if value < 0:
        raise ScenarioError("must not be negative", path=path)
    return float(value)


@attrs.frozen(kw_only=True)
class StreamScript:
    """What the caller does on a stream: the audio it sends, keys it presses, when it leaves.

    ``audio`` is raw 8 kHz μ-law; without it the caller sends ``seconds`` of silence. ``dtmf``
    digits follow the audio. ``hangup_after`` (simulated seconds of stream audio either way)
    makes the caller hang up; otherwise the stream lasts until the app closes it, or the app
    has been quiet for ``idle_timeout`` real seconds (then the caller hangs up). ``timeout``
    bounds the whole stream in real seconds.
    """

    audio: bytes | None = None
    seconds: float = 1.0
    dtmf: str = ""
    hangup_after: float | None = None
    idle_timeout: float = 2.0
    timeout: float = 10.0

    def __attrs_post_init__(self) -> None:
        if self.audio is not None and not isinstance(self.audio, bytes):
            raise ScenarioError("expected bytes of μ-law", path="stream.audio")
        seconds = _seconds(self.seconds, "stream.seconds")
        assert seconds is not None
        if seconds > MAX_CALLER_SECONDS or len(self.audio or b"") > MAX_CALLER_SECONDS * _RATE:
            raise ScenarioError(
                f"at most {MAX_CALLER_SECONDS:.0f} s of caller audio", path="stream.seconds"
            )
        if not isinstance(self.dtmf, str) or any(c not in "0123456789*#" for c in self.dtmf):
            raise ScenarioError("expected keys from 0-9, * and #", path="stream.dtmf")
        _seconds(self.hangup_after, "stream.hangup_after", allow_none=True)
        for name in ("idle_timeout", "timeout"):
            if not _seconds(getattr(self, name), f"stream.{name}"):
                raise ScenarioError("must be positive", path=f"stream.{name}")

    @property
    def caller_audio(self) -> bytes:
        if self.audio is not None:
            return self.audio
        return _SILENCE * round(self.seconds * _RATE)


@attrs.frozen(kw_only=True)
class StreamResult:
    """What happened on one stream.

    ``ended_by``: ``app`` (it closed the stream), ``caller`` (hung up: ``hangup_after``),
    ``idle`` (the app went quiet; the caller hung up), ``timeout`` (the real-time bound),
    ``error`` (see ``error_code``/``error``), ``not-connected`` (the connector failed).
    """

    sent_frames: int = 0
    sent_seconds: float = 0.0
    sent_dtmf: str = ""
    received_frames: int = 0
    received_bytes: int = 0
    marks: tuple[str, ...] = ()
    clears: int = 0
    ended_by: str = "app"
    error_code: int | str | None = None
    error: str | None = None

    @property
    def received_seconds(self) -> float:
        """Seconds of audio the app sent (8 kHz μ-law: 8000 bytes a second)."""
        return self.received_bytes / _RATE

    @property
    def seconds(self) -> float:
        """How long the stream lasted on the simulated clock."""
        return max(self.sent_seconds, self.received_seconds)

    @property
    def caller_left(self) -> bool:
        """Whether the caller hung up (the call is over)."""
        return self.ended_by in ("caller", "idle", "timeout")


class PlatformFrames:
    """What the platform sends on one media stream, as JSON text frames.

    ``start`` is the ``start`` object (``callSid``, ``customParameters``, ``mediaFormat``, ...).
    Every frame after ``connected`` carries a ``sequenceNumber`` from 1, as Twilio's do; media
    frames carry the ``chunk`` number and the ``timestamp`` in milliseconds of 8 kHz audio
    sent before them. The one place this wire format is written: the simulator's streams and
    ``providers.media.PlatformPeer`` both use it.
    """

    def __init__(self, stream_sid: str, start: Mapping[str, object]) -> None:
        self.stream_sid = stream_sid
        self._start = dict(start)
        self._sequence = 0
        self._chunks = 0
        self._sent_bytes = 0

    def _frame(self, event: str, name: str, body: object) -> str:
        self._sequence += 1
        frame: dict[str, object] = {"event": event, "sequenceNumber": str(self._sequence)}
        frame.update({"streamSid": self.stream_sid, name: body})
        return json.dumps(frame, separators=(",", ":"))

    def connected(self) -> str:
        return '{"event":"connected","protocol":"Call","version":"1.0.0"}'

    def start(self) -> str:
        return self._frame("start", "start", self._start)

    def media(self, audio: bytes) -> str:
        """A chunk of the caller's 8 kHz μ-law."""
        self._chunks += 1
        media = {
            "track": "inbound",
            "chunk": str(self._chunks),
            "timestamp": str(self._sent_bytes * 1000 // _RATE),
            "payload": base64.b64encode(audio).decode("ascii"),
        }
        self._sent_bytes += len(audio)
        return self._frame("media", "media", media)

    def dtmf(self, digit: str) -> str:
        return self._frame("dtmf", "dtmf", {"track": "inbound_track", "digit": digit})

    def mark(self, name: str) -> str:
        """The echo of the app's mark ``name``, once the audio before it has played."""
        return self._frame("mark", "mark", {"name": name})

    def stop(self) -> str:
        start = self._start
        stop = {key: start[key] for key in ("accountSid", "callSid", "session") if key in start}
        return self._frame("stop", "stop", stop)


class _Session:
    """One stream's exchange; every failure of the peer becomes a recorded result."""

    def __init__(
        self, channel: StreamChannel, script: StreamScript, frames: PlatformFrames
    ) -> None:
        self.channel = channel
        self.script = script
        self.frames = frames
        self.lock = asyncio.Lock()  # one frame at a time, whatever the channel allows
        self.sent_frames = 0
        self.sent_dtmf = ""
        self.received_frames = 0
        self.received_bytes = 0
        self.marks: list[str] = []
        self.clears = 0
        self.error: StreamError | None = None
        self.sender_error: StreamError | None = None
        self.sender_done = False

    async def send(self, build: Callable[[], str]) -> None:
        # Built under the lock, so frames go out in the order of their sequence numbers.
        async with self.lock:
            await self.channel.send(build())

    def over(self) -> bool:
        limit = self.script.hangup_after
        if limit is None:
            return False
        sent = self.sent_frames * FRAME_BYTES / _RATE
        return max(sent, self.received_bytes / _RATE) >= limit

    async def caller(self) -> None:
        audio = self.script.caller_audio
        try:
            for start in range(0, len(audio), FRAME_BYTES):
                if self.over():
                    return
                frame = audio[start : start + FRAME_BYTES]
                await self.send(functools.partial(self.frames.media, frame))
                self.sent_frames += 1
            for digit in self.script.dtmf:
                await self.send(functools.partial(self.frames.dtmf, digit))
                self.sent_dtmf += digit
        except StreamError as exc:
            self.sender_error = exc
        except Exception as exc:  # a third-party channel's own failure
            self.sender_error = StreamError(f"sending failed: {type(exc).__name__}: {exc}")
        finally:
            self.sender_done = True

    def handle(self, text: str) -> None:
        """Record one app message; a malformed one is error 31950. Takes what
        ``providers.media.PlatformPeer`` takes: media (up to ``MAX_MEDIA_BYTES``), mark,
        clear, on this stream (or naming none, or null); other events are ignored."""
        try:
            frame = json.loads(text)
        except (ValueError, RecursionError):
            self.error = StreamError("the application sent a frame that is not JSON", code=31950)
            return
        event = frame.get("event") if isinstance(frame, dict) else None
        if not isinstance(event, str):
            self.error = StreamError("a frame without an event name", code=31950)
            return
        if event not in ("media", "mark", "clear"):
            return  # the app's own "connected", unknown ones: nothing to record
        if frame.get("streamSid") not in (None, self.frames.stream_sid):
            self.error = StreamError("a frame names another stream", code=31950)
            return
        if event == "media":
            media = frame.get("media")
            payload = media.get("payload") if isinstance(media, dict) else None
            try:
                if not isinstance(payload, str):
                    raise ValueError
                audio = binascii.a2b_base64(payload, strict_mode=True)
            except (ValueError, binascii.Error):
                self.error = StreamError("a media frame without base64 audio", code=31950)
                return
            if len(audio) > MAX_MEDIA_BYTES:
                self.error = StreamError("a media frame of over 10 s of audio", code=31950)
                return
            self.received_frames += 1
            self.received_bytes += len(audio)
        elif event == "mark":
            mark = frame.get("mark")
            name = mark.get("name") if isinstance(mark, dict) else None
            if not isinstance(name, str) or not name:
                self.error = StreamError("a mark without a name", code=31950)
                return
            self.marks.append(name)
        else:
            self.clears += 1

    async def answer_marks(self, already: int) -> int:
        """Echo the marks received so far: frames are handled in order, so the audio before
        each mark has "played" on the simulated clock by the time it is answered."""
        for name in self.marks[already:]:
            await self.send(functools.partial(self.frames.mark, name))
        return len(self.marks)


async def _listen_answering(session: _Session) -> str:
    answered = 0
    for _ in range(MAX_RECEIVED_FRAMES):
        if session.over():
            return "caller"
        try:
            text = await asyncio.wait_for(session.channel.receive(), session.script.idle_timeout)
        except TimeoutError:
            if not session.sender_done:
                continue
            return "idle"
        if text is None:
            return "app"
        session.handle(text)
        if session.error is not None:
            return "error"
        if session.sender_error is not None:
            session.error = session.sender_error
            return "error"
        answered = await session.answer_marks(answered)
    return "caller"


async def run_stream(
    channel: StreamChannel,
    script: StreamScript,
    *,
    stream_sid: str,
    start: Mapping[str, object],
) -> StreamResult:
    """Speak the platform's side of one stream on ``channel`` and report what happened.

    ``start`` is the ``start`` object (callSid, session, customParameters, ...). Never raises
    for anything the peer does: failures end the stream and are reported in the result.
    """
    frames = PlatformFrames(stream_sid, start)
    session = _Session(channel, script, frames)
    ended_by = "error"
    sender: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(script.timeout):
            try:
                await session.send(frames.connected)
                await session.send(frames.start)
            except StreamError as exc:
                session.error = exc
            except Exception as exc:
                session.error = StreamError(f"sending failed: {type(exc).__name__}: {exc}")
            if session.error is None:
                sender = asyncio.create_task(session.caller())
                try:
                    ended_by = await _listen_answering(session)
                except StreamError as exc:
                    session.error = exc
                except Exception as exc:
                    session.error = StreamError(f"receiving failed: {type(exc).__name__}: {exc}")
    except TimeoutError:
        ended_by = "timeout"
    finally:
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
    if session.error is not None:
        ended_by = "error"
    elif session.sender_error is not None and ended_by != "app":
        session.error = session.sender_error
        ended_by = "error"
    if ended_by != "app":
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await session.send(frames.stop)
    with contextlib.suppress(Exception):
        async with asyncio.timeout(2.0):
            await channel.close()
    error = session.error
    return StreamResult(
        sent_frames=session.sent_frames,
        sent_seconds=session.sent_frames * FRAME_BYTES / _RATE,
        sent_dtmf=session.sent_dtmf,
        received_frames=session.received_frames,
        received_bytes=session.received_bytes,
        marks=tuple(session.marks),
        clears=session.clears,
        ended_by=ended_by,
        error_code=error.code if error is not None else None,
        error=error.message if error is not None else None,
    )
