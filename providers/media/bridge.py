"""Bridges: `StreamServer` answers the platform's media streams and runs an engine on each;
`ProviderBridge` is the engine that carries a call onward to a remote AI endpoint.

The per-stream session is written against `Connection` (send text, receive text, close),
so a real WebSocket (`StreamServer.listen`) and an in-memory pipe (`InProcessConnector`, for
call simulators and tests) run the same code. A session:

1. reads ``start`` (after an optional ``connected``), verifies the bridge ticket in its
   ``cxmlflow-ticket`` Parameter with the `MediaBridge`, and picks the assistant it names:
   a ``websocket_endpoint`` assistant is served by a `ProviderBridge` to its
   ``websocket_url``; any other by the server's ``engines(assistant, call)`` factory. A
   stream without a ticket is served only if the server was given ``engine=`` for that;
2. decodes each media frame, resamples it to the engine's rate, runs the voice detector and
   hands the frame to the engine;
3. plays what the engine queues: resampled, encoded and cut into 20 ms frames, sent on a
   monotonic clock a little ahead of real time (``lead``), so the platform's buffer stays
   small and the bridge knows what was heard. ``pace=False`` sends at once (tests,
   simulators); ``clock``/``sleep`` take a virtual clock (`VirtualClock`);
4. on barge-in (the detector's step to speech while the engine speaks, for engines that
   allow it) drops its queue, sends ``clear`` and tells the engine how much was played.
   Marks echoed by the platform because of a ``clear`` do not count as played.

Every refused stream or failure closes the connection and is kept in `StreamServer.errors`
(its code and message only); nothing a caller sends can take the server down.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import attrs

from cxml import CxmlError

from .._assistant import TICKET_PARAMETER, AIAssistant, MediaBridge
from .._errors import (
    AssistantUnavailableError,
    BlockedAddressError,
    MediaError,
    MediaProtocolError,
    SignatureError,
)
from .._registry import MEDIA_FORMATS
from ..tools import HttpPolicy, check_addresses
from .codecs import Codec, encoding_of, open_codec
from .engine import Engine, Output, StreamCall
from .protocols import Connected, Dtmf, Mark, Media, Start, Stop, StreamProtocol
from .protocols._common import MAX_MESSAGE
from .protocols.smartpbx import SmartPbxClient
from .resample import Framer, Quality, Resampler
from .vad import EnergyDetector, VoiceDetector

__all__ = [
    "Connection",
    "InProcessConnector",
    "ProviderBridge",
    "StreamServer",
    "VirtualClock",
    "connect_websocket",
]

log = logging.getLogger("providers.media")

FRAME: Final = 0.02  # seconds of audio a media message carries
#: Seconds of silence after which the next audio is a new reply (not an underrun).
REPLY_GAP: Final = 0.3
EngineFactory = Callable[[AIAssistant, StreamCall], Engine]


class Connection(Protocol):
    """One end of a media stream: text frames in and out.

    ``receive`` returns None once the other side closed (and from then on); a binary frame
    comes back as bytes, which the protocols refuse.
    """

    async def send(self, text: str) -> None: ...

    async def receive(self) -> str | bytes | None: ...

    async def close(self) -> None: ...


class VirtualClock:
    """A clock for pacing without waiting: ``sleep`` moves time on and yields once.

    >>> import asyncio
    >>> clock = VirtualClock()
    >>> asyncio.run(clock.sleep(1.5)); clock()
    1.5
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


# --- WebSocket connections -------------------------------------------------------------------


class _WebSocket:
    """A `Connection` over a ``websockets`` connection (either side)."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket

    async def send(self, text: str) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            await self._socket.send(text)

    async def receive(self) -> str | bytes | None:
        from websockets.exceptions import ConnectionClosed

        try:
            message: str | bytes = await self._socket.recv()
        except ConnectionClosed:
            return None
        return message

    async def close(self) -> None:
        await self._socket.close()


async def connect_websocket(
    url: str,
    headers: Mapping[str, str],
    *,
    policy: HttpPolicy | None = None,
    open_timeout: float = 10.0,
) -> Connection:
    """Open a WebSocket to ``url`` with ``headers`` (what `ProviderBridge` uses by default).

    The host goes through the same SSRF guard as tool webhooks first: resolved once, every
    address checked, the connection made to the checked address (the name still in ``Host``
    and TLS SNI), no proxy, no cross-origin redirect. ``policy`` (`providers.HttpPolicy`)
    admits private networks (``allowed_networks``) or plain ``ws://`` (``allow_http``).
    """
    from websockets.asyncio.client import connect

    policy = policy or HttpPolicy()
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    if not secure and not (parts.scheme == "ws" and policy.allow_http):
        raise BlockedAddressError("an AI endpoint is reached over wss:// only")
    try:
        host, port = parts.hostname, parts.port or (443 if secure else 80)
    except ValueError:
        host = None
    if not host:
        raise BlockedAddressError("the AI endpoint's URL has no valid host and port")
    addresses = await check_addresses(host, port, policy)
    options: dict[str, Any] = {"host": str(addresses[0]), "port": port, "proxy": None}
    if secure:
        options["server_hostname"] = host
    socket = await connect(
        url,
        additional_headers=dict(headers),
        open_timeout=open_timeout,
        max_size=MAX_MESSAGE,
        compression=None,
        **options,
    )
    return _WebSocket(socket)


# --- in-memory pipes -------------------------------------------------------------------------


class _PipeEnd:
    """One end of an in-memory stream; ``receive`` is None once the peer closed."""

    def __init__(self, inbox: asyncio.Queue[str | None], outbox: asyncio.Queue[str | None]):
        self._inbox, self._outbox = inbox, outbox
        self._closed = False
        self._peer_closed = False
        self.session: asyncio.Task[None] | None = None

    async def send(self, text: str) -> None:
        # What is sent after either side closed goes nowhere, as on a closed socket.
        if not self._closed and not self._peer_closed:
            self._outbox.put_nowait(text)

    async def receive(self) -> str | None:
        if self._peer_closed or self._closed:
            return None
        message = await self._inbox.get()
        if message is None:
            self._peer_closed = True
        return message

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._outbox.put_nowait(None)
            self._inbox.put_nowait(None)  # wakes our own pending receive
        if self.session is not None and self.session is not asyncio.current_task():
            # The platform hung up: let the session finish its clean-up first.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.session), 5.0)


def _pipe() -> tuple[_PipeEnd, _PipeEnd]:
    to_app: asyncio.Queue[str | None] = asyncio.Queue()
    to_platform: asyncio.Queue[str | None] = asyncio.Queue()
    return _PipeEnd(to_platform, to_app), _PipeEnd(to_app, to_platform)


class InProcessConnector:
    """Streams to ``server`` in process: ``await connector(url, parameters)`` gives the
    platform's end of a new stream (async ``send``/``receive``/``close``; ``receive`` is
    None once the session ended) and runs the server's session on the other end.

    This is the connector a call simulator takes for ``<Connect><Stream>``; ``url`` and
    ``parameters`` are accepted for its signature (the parameters travel in the ``start``
    message the simulator sends). ``close()`` waits for the session to finish.
    """

    def __init__(self, server: StreamServer) -> None:
        self.server = server
        self.urls: list[str] = []

    async def __call__(self, url: str, parameters: Mapping[str, str]) -> _PipeEnd:
        self.urls.append(url)
        platform, app = _pipe()
        platform.session = self.server._spawn(app)
        return platform


# --- playback --------------------------------------------------------------------------------


@attrs.frozen
class _MarkItem:
    name: str


@attrs.frozen
class _HangupItem:
    pass


class _Player:
    """The engine's `Output` on one stream: a queue of 20 ms frames, marks and a hang-up,
    sent in real time (or at once), with what was played accounted for."""

    def __init__(self, session: _Session) -> None:
        server = session.server
        self._session = session
        self._protocol = session.protocol
        self._engine_rate = session.engine.sample_rate
        self._resampler = Resampler(
            self._engine_rate, session.protocol.sample_rate, quality=server.quality
        )
        self._codec = session.codec
        frame_samples = round(session.protocol.sample_rate * FRAME)
        self._framer = Framer(frame_samples * 2)  # PCM16 at the platform's rate
        self._queue: collections.deque[bytes | _MarkItem | _HangupItem] = collections.deque()
        self._ready = asyncio.Event()
        self._pace, self._clock, self._sleep, self._lead = (
            server.pace, server.clock, server.sleep, server.lead
        )  # fmt: skip
        self._slot = -math.inf  # when the next frame is due to play
        self._reply_start = 0.0  # clock time the current reply began playing
        self._reply_frames = 0  # frames of the current reply sent
        # Marks on the wire, by the name sent: the engine's, or made unique (``name~n``) when
        # that name is still pending or was cleared, so every echo means one mark.
        self._pending_marks: dict[str, str] = {}  # sent, not echoed: wire name -> engine's
        self._cleared_marks: dict[str, None] = {}  # sent before a clear: an echo is no play
        self._mark_count = 0
        self.sent_frames = 0
        self.hung_up = False

    # Output ------------------------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        return self._engine_rate

    @property
    def speaking(self) -> bool:
        if self._queue or self._framer.pending:
            return True
        if self._pace:
            return self._slot > self._clock()
        return bool(self._pending_marks)

    def _wire_name(self, name: str) -> str:
        if name not in self._pending_marks and name not in self._cleared_marks:
            return name
        self._mark_count += 1
        return f"{name}~{self._mark_count}"

    async def play(self, pcm: bytes) -> None:
        if self.hung_up:
            return
        self._queue.extend(self._framer.push(self._resampler.process(pcm)))
        self._ready.set()

    async def mark(self, name: str) -> None:
        self._flush_partial()
        self._queue.append(_MarkItem(name))
        self._ready.set()

    async def clear(self) -> None:
        self._drop()
        await self._session.send(self._protocol.clear())

    async def hangup(self) -> None:
        self._flush_partial()
        self._queue.append(_HangupItem())
        self._ready.set()

    # bridge side -------------------------------------------------------------------------

    def interrupt(self) -> float:
        """Drop everything queued; the seconds of the current reply that were played."""
        played = self._played()
        self._drop()
        return played

    def acknowledge(self, wire: str) -> str | None:
        """A mark came back: the engine's name for it if it means played, None if it was
        echoed because of a clear (or is not ours)."""
        if wire in self._cleared_marks:
            del self._cleared_marks[wire]
            return None
        name = self._pending_marks.pop(wire, None)
        if name is not None and not self._pace and not self._pending_marks and not self._queue:
            self._reply_frames = 0  # unpaced, the platform's marks end a reply
        return name

    def _played(self) -> float:
        sent = self._reply_frames * FRAME
        if not self._pace:
            return sent
        return max(0.0, min(sent, self._clock() - self._reply_start))

    def _drop(self) -> None:
        hangup = any(isinstance(item, _HangupItem) for item in self._queue)
        self._queue.clear()
        self._framer.clear()
        self._resampler.reset()  # a clear is a real discontinuity; a pause is not
        self._slot = -math.inf  # nothing is playing any more
        self._reply_frames = 0
        # Marks already sent will be echoed by the platform's clear: they were not played.
        self._cleared_marks.update(dict.fromkeys(self._pending_marks))
        self._pending_marks.clear()
        while len(self._cleared_marks) > 256:  # platforms that do not echo on clear
            del self._cleared_marks[next(iter(self._cleared_marks))]
        if hangup:  # a hang-up asked for stays asked for
            self._queue.append(_HangupItem())
            self._ready.set()

    def _flush_partial(self) -> None:
        tail = self._framer.flush()
        if tail is not None:
            self._queue.append(tail)

    async def run(self) -> None:
        """Send the queue for as long as the stream lasts."""
        while True:
            if not self._queue:
                self._ready.clear()
                await self._ready.wait()
                continue
            item = self._queue[0]
            if isinstance(item, bytes):
                await self._send_frame()
            elif isinstance(item, _MarkItem):
                self._queue.popleft()
                wire = self._wire_name(item.name)
                self._pending_marks[wire] = item.name
                await self._session.send(self._protocol.mark(wire))
            else:
                # Hang up once what was queued before has been played.
                if self._pace and self._slot > self._clock():
                    await self._sleep(self._slot - self._clock())
                    continue
                self._queue.popleft()
                self.hung_up = True
                await self._session.end()
                return

    async def _send_frame(self) -> None:
        if self._pace:
            now = self._clock()
            if self._slot + REPLY_GAP <= now:  # silence for a while: this starts a reply
                self._slot = self._reply_start = now
                self._reply_frames = 0
            elif self._slot < now:  # an underrun inside a reply: the gap was not playing
                self._reply_start += now - self._slot
                self._slot = now
            wait = self._slot - self._lead - now
            if wait > 0:
                await self._sleep(wait)
                return  # the queue may have been cleared meanwhile: look again
        frame = self._queue.popleft()
        assert isinstance(frame, bytes)
        self._reply_frames += 1
        self.sent_frames += 1
        if self._pace:
            self._slot += FRAME
        await self._session.send(self._protocol.media(self._codec.encode(frame)))


# --- sessions --------------------------------------------------------------------------------


class _Session:
    def __init__(self, server: StreamServer, connection: Connection) -> None:
        self.server, self.connection = server, connection
        self.protocol = StreamProtocol()
        self.engine: Engine = None  # type: ignore[assignment]  # set once admitted
        self.codec: Codec = None  # type: ignore[assignment]
        self._ended = False
        self._listening: asyncio.Task[None] | None = None

    async def send(self, text: str) -> None:
        if not self._ended:
            await self.connection.send(text)

    async def end(self) -> None:
        if not self._ended:
            self._ended = True
            await self.connection.close()
        # Closing need not wake a receive that is waiting (it depends on the connection):
        # stop listening here, so a hang-up by the engine always ends the session.
        listening = self._listening
        if listening is not None and listening is not asyncio.current_task():
            listening.cancel()

    async def _play(self, player: _Player) -> None:
        try:
            await player.run()
        except CxmlError as exc:
            self.server._record(exc)
            await self.end()
        except Exception as exc:
            self.server._record(MediaError(f"playback failed: {type(exc).__name__}"))
            log.debug("playback failure", exc_info=True)
            await self.end()

    async def run(self) -> None:
        player_task: asyncio.Task[None] | None = None
        started = False
        try:
            start = await asyncio.wait_for(self._read_start(), self.server.start_timeout)
            if start is None:
                return
            call, self.engine = self.server._admit(start)
            self.codec = open_codec(start.encoding, start.sample_rate)
            player = _Player(self)
            player_task = asyncio.create_task(self._play(player))
            started = True  # stop() follows even a failed start: it may hold a socket
            await self.engine.start(call, player)
            self._listening = asyncio.create_task(self._listen(player))
            try:
                await self._listening
            except asyncio.CancelledError:
                if not self._ended:  # cancelled from outside, not ended by a hang-up
                    raise
        except (CxmlError, TimeoutError) as exc:
            error = exc if isinstance(exc, CxmlError) else MediaProtocolError("no start in time")
            self.server._record(error)
        except Exception as exc:  # an engine's own bug must not take the server down
            self.server._record(MediaError(f"the engine failed: {type(exc).__name__}"))
            log.debug("engine failure", exc_info=True)
        finally:
            if player_task is not None:
                player_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await player_task
            if started:
                try:
                    await self.engine.stop()
                except Exception:
                    log.debug("engine failure on stop", exc_info=True)
            await self.end()

    async def _read_start(self) -> Start | None:
        while True:
            message = await self.connection.receive()
            if message is None:
                return None
            event = self.protocol.parse(message)
            if isinstance(event, Start):
                return event
            if not isinstance(event, Connected):
                raise MediaProtocolError(f"{type(event).__name__.lower()} before start")

    async def _listen(self, player: _Player) -> None:
        engine, protocol = self.engine, self.protocol
        inbound = Resampler(protocol.sample_rate, engine.sample_rate, quality=self.server.quality)
        detector = self.server.detector()
        barge_in = bool(getattr(engine, "barge_in", True))
        speaking = False
        while not self._ended:
            message = await self.connection.receive()
            if message is None or self._ended:
                return
            event = protocol.parse(message)
            if isinstance(event, Media):
                if event.track not in (None, "inbound", "inbound_track"):
                    continue
                pcm = inbound.process(self.codec.decode(event.payload))
                was_speaking, speaking = speaking, detector.feed(pcm, engine.sample_rate)
                if barge_in and speaking and not was_speaking and player.speaking:
                    played = player.interrupt()
                    await self.send(protocol.clear())
                    await engine.interrupted(played)
                await engine.audio(pcm)
            elif isinstance(event, Dtmf):
                await engine.dtmf(event.digit)
            elif isinstance(event, Mark):
                reached = player.acknowledge(event.name)
                if reached is not None:
                    await engine.played(reached)
            elif isinstance(event, Stop):
                return


# --- the server ------------------------------------------------------------------------------


class StreamServer:
    """Answers ``<Connect><Stream>`` media streams and runs an engine on each.

    ``bridge`` verifies tickets (`MediaBridge`, the one `AIAssistant.verb` signed with);
    ``assistants`` are the assistants tickets may name; ``engines(assistant, call)`` makes the
    engine for assistants that are not remote endpoints. ``engine`` serves streams that carry
    no ticket: an `Engine` (every such stream gets that one) or a factory ``f(call)`` (one
    each); leave it None on a public listener, where every stream must be ticketed.

    ``pace``: send outbound audio in real time (20 ms frames, ``lead`` seconds ahead); with
    ``clock``/``sleep`` you bring the clock (`VirtualClock`). ``detector`` makes each
    stream's voice detector; ``quality`` is the resamplers'. ``connect`` opens onward
    WebSockets for `ProviderBridge` (default `connect_websocket`). ``now`` dates tickets.
    """

    def __init__(
        self,
        *,
        bridge: MediaBridge | None = None,
        assistants: Mapping[str, AIAssistant] | Iterable[AIAssistant] = (),
        engines: EngineFactory | None = None,
        engine: Engine | Callable[[StreamCall], Engine] | None = None,
        pace: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        lead: float = 0.04,
        detector: Callable[[], VoiceDetector] = EnergyDetector,
        quality: Quality = "medium",
        connect: Callable[[str, Mapping[str, str]], Awaitable[Connection]] = connect_websocket,
        now: Callable[[], float] = time.time,
        start_timeout: float = 10.0,
    ) -> None:
        if isinstance(assistants, Mapping):
            self.assistants = dict(assistants)
        else:
            self.assistants = {a.name: a for a in assistants}
        self.bridge, self.engines, self.engine = bridge, engines, engine
        self.pace, self.clock, self.sleep, self.lead = pace, clock, sleep, lead
        self.detector, self.quality, self.connect = detector, quality, connect
        self.now, self.start_timeout = now, start_timeout
        #: The latest errors of refused or failed streams (codes and messages only).
        self.errors: collections.deque[CxmlError] = collections.deque(maxlen=100)
        self._sessions: set[asyncio.Task[None]] = set()

    @classmethod
    def for_engine(
        cls, engine: Engine | Callable[[StreamCall], Engine], **options: Any
    ) -> InProcessConnector:
        """A connector serving ``engine`` in process without tickets, unpaced by default:
        ``interpret(app, connector=StreamServer.for_engine(EchoEngine()))``."""
        options.setdefault("pace", False)
        return cls(engine=engine, **options).connector()

    def connector(self) -> InProcessConnector:
        """An in-process connector to this server (see `InProcessConnector`)."""
        return InProcessConnector(self)

    async def handle(self, connection: Connection) -> None:
        """Run one stream's session to its end; never raises for what the peer sent."""
        await _Session(self, connection).run()

    @contextlib.asynccontextmanager
    async def listen(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve WebSocket streams on ``host:port`` while the block runs; yields the
        ``ws://host:port`` address (put TLS in front for ``wss://``)."""
        from websockets.asyncio.server import serve

        async def handler(socket: Any) -> None:
            await self.handle(_WebSocket(socket))

        async with serve(handler, host, port, max_size=MAX_MESSAGE, compression=None) as server:
            bound = next(iter(server.sockets)).getsockname()
            yield f"ws://{bound[0]}:{bound[1]}"
            server.close()
            await server.wait_closed()

    async def wait_closed(self) -> None:
        """Wait for the in-process sessions still running."""
        while self._sessions:
            await asyncio.gather(*self._sessions, return_exceptions=True)

    def _spawn(self, connection: Connection) -> asyncio.Task[None]:
        task = asyncio.create_task(self.handle(connection))
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)
        return task

    def _record(self, error: CxmlError) -> None:
        self.errors.append(error)
        log.warning("media stream ended: [%s] %s", error.code, error.message)

    def _admit(self, start: Start) -> tuple[StreamCall, Engine]:
        parameters = dict(start.parameters)
        ticket = parameters.pop(TICKET_PARAMETER, None)
        call = StreamCall(
            call_sid=start.call_sid,
            stream_sid=start.stream_sid,
            account_sid=start.account_sid,
            session=start.session,
            parameters=parameters,
            caller=parameters.get("From") or parameters.get("from"),
            callee=parameters.get("To") or parameters.get("to"),
        )
        if ticket is None:
            if self.engine is None:
                raise SignatureError("the stream carries no ticket")
            if isinstance(self.engine, Engine):
                return call, self.engine
            return call, self.engine(call)
        if self.bridge is None:
            raise SignatureError("this server takes no tickets (no bridge configured)")
        name, call_sid = self.bridge.admit(ticket, now=self.now())
        if call_sid != start.call_sid:
            raise SignatureError("the ticket is for another call")
        assistant = self.assistants.get(name)
        if assistant is None or not assistant.active:
            raise AssistantUnavailableError(f"assistant {name!r} is not served here")
        call = attrs.evolve(call, assistant=assistant)
        if assistant.definition.protocol == "websocket_endpoint":
            config = assistant.config
            engine: Engine = ProviderBridge(
                config["websocket_url"],
                headers=config.get("websocket_headers") or {},
                media=config["media"],
                connect=self.connect,
            )
            return call, engine
        if self.engines is None:
            raise AssistantUnavailableError(f"no engine for assistant {name!r}")
        return call, self.engines(assistant, call)


# --- onward to a remote AI endpoint --------------------------------------------------------


class ProviderBridge:
    """An `Engine` that carries the call to a remote endpoint speaking SmartPBX's protocol
    (seed 002): it connects to ``url`` with ``headers``, sends ``start`` with the endpoint's
    ``media`` format (``pcm16`` at 24 kHz, ``g711_ulaw`` at 8 kHz, ``opus`` at 48 kHz), and
    converts audio both ways (the bridge's resamplers meet the endpoint's rate).

    The endpoint cannot be told to stop (the protocol has no clear): on barge-in the bridge
    drops its own queue, so the caller stops hearing the reply at once.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        media: str = "pcm16",
        connect: Callable[[str, Mapping[str, str]], Awaitable[Connection]] = connect_websocket,
    ) -> None:
        if media not in MEDIA_FORMATS:
            raise MediaError(f"media is one of {', '.join(MEDIA_FORMATS)}, not {media!r:.20}")
        self.url, self.media = url, media
        self._headers = dict(headers or {})
        self._connect = connect
        self.sample_rate: int = MEDIA_FORMATS[media]
        self.barge_in = True
        self._encoding = encoding_of(media)
        self._codec = open_codec(self._encoding, self.sample_rate)
        self._framer = Framer(2 * self.sample_rate // 50) if self._encoding == "opus" else None
        self._connection: Connection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._client: SmartPbxClient | None = None
        #: Barge-ins, with the seconds played of each reply (the endpoint is not told).
        self.interruptions: list[float] = []

    def __repr__(self) -> str:  # headers hold tokens
        return f"ProviderBridge({self.url!r}, media={self.media!r})"

    async def start(self, call: StreamCall, output: Output) -> None:
        self._client = SmartPbxClient(
            call.call_sid,
            account_id=call.account_sid or "",
            caller=call.caller or "",
            callee=call.callee or "",
            encoding=self._encoding,
            sample_rate=self.sample_rate,
        )
        try:
            self._connection = await self._connect(self.url, self._headers)
        except CxmlError:
            raise
        except Exception as exc:
            raise AssistantUnavailableError(
                f"the AI endpoint could not be reached: {type(exc).__name__}"
            ) from None
        await self._connection.send(self._client.start())
        self._reader = asyncio.create_task(self._read(output))

    async def _read(self, output: Output) -> None:
        assert self._connection is not None
        assert self._client is not None
        try:
            while True:
                message = await self._connection.receive()
                if message is None:
                    break
                event = self._client.parse(message)
                if isinstance(event, Media):
                    await output.play(self._codec.decode(event.payload))
                elif isinstance(event, Stop):
                    break
        except CxmlError as exc:
            log.warning("AI endpoint stream ended: [%s] %s", exc.code, exc.message)
        await output.hangup()

    async def audio(self, pcm: bytes) -> None:
        if self._connection is None or self._client is None:
            return
        if self._framer is not None:  # Opus: one 20 ms packet a message
            for frame in self._framer.push(pcm):
                await self._connection.send(self._client.media(self._codec.encode(frame)))
        else:
            await self._connection.send(self._client.media(self._codec.encode(pcm)))

    async def dtmf(self, digit: str) -> None:
        return None  # the protocol carries no keys

    async def played(self, mark: str) -> None:
        return None

    async def interrupted(self, played: float) -> None:
        self.interruptions.append(played)

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._connection is not None:
            await self._connection.close()
