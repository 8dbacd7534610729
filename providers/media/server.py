"""`StreamServer`: answers the platform's ``<Connect><Stream>`` media streams and runs an
engine on each (one `Session` per stream).

Streams arrive as `cxml.StreamChannel`s: a real WebSocket (`StreamServer.listen`, through
`cxml.WebSocketChannel`) or an in-memory pipe (`InProcessConnector`, for call simulators and
tests) run the same session code. Every admitted stream's `Outcome` goes to ``on_outcome``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import attrs

from cxml import CxmlError, StreamChannel, WebSocketChannel

from .._assistant import TICKET_PARAMETER, AIAssistant, MediaBridge
from .._errors import AssistantUnavailableError, MediaError, SignatureError
from ._engines import engine_for
from ._in_process import InProcessConnector
from ._outcome import Outcome
from ._playout import LoopWatch
from ._session import Session, StreamResult
from ._websocket import connect_websocket
from .engine import Engine, StreamCall
from .protocols import Start
from .protocols._common import MAX_MESSAGE
from .provider_bridge import ProviderBridge
from .resample import Quality
from .vad import EnergyDetector, VoiceDetector

__all__ = ["EngineFactory", "OutcomeHandler", "StreamServer"]

log = logging.getLogger("providers.media")

EngineFactory = Callable[[AIAssistant, StreamCall], Engine]
OutcomeHandler = Callable[[StreamCall, Outcome], Awaitable[None]]


class StreamServer:
    """Answers ``<Connect><Stream>`` media streams and runs an engine on each.

    ``bridge`` verifies tickets (`MediaBridge`, the one `AIAssistant.verb` signed with);
    ``assistants`` are the assistants tickets may name; ``engines(assistant, call)`` makes the
    engine for assistants that are not remote endpoints (default `engine_for`: the engine a
    built-in assistant's configuration describes). ``engine`` serves streams that carry
    no ticket: an `Engine` (every such stream gets that one) or a factory ``f(call)`` (one
    each); leave it None on a public listener, where every stream must be ticketed.

    ``pace``: send outbound audio in real time (20 ms frames, ``lead`` seconds ahead; a
    frame more than ``late`` seconds past its slot is dropped, not sent; ``watch_loop``,
    on by default when pacing in real time, drops what arrives after a loop stall); with
    ``clock``/``sleep`` you bring the clock (`VirtualClock`). ``detector`` makes each
    stream's voice detector; ``quality`` is the resamplers'. ``connect`` opens onward
    WebSockets for `ProviderBridge` (default `connect_websocket`). ``now`` dates tickets.

    ``on_outcome(call, outcome)`` is awaited once per admitted stream when it has ended
    (streams refused before admission carry no call anyone vouched for, so they only reach
    ``errors``). ``errors`` keeps the latest abnormal ends; ``ignored`` counts the events of
    unknown names ignored, by peer (``platform``, ``endpoint``).
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
        late: float = 0.1,
        detector: Callable[[], VoiceDetector] = EnergyDetector,
        quality: Quality = "medium",
        connect: Callable[[str, Mapping[str, str]], Awaitable[StreamChannel]] = connect_websocket,
        now: Callable[[], float] = time.time,
        start_timeout: float = 10.0,
        on_outcome: OutcomeHandler | None = None,
        watch_loop: bool | None = None,
    ) -> None:
        if isinstance(assistants, Mapping):
            self.assistants = dict(assistants)
        else:
            self.assistants = {a.name: a for a in assistants}
        self.bridge, self.engines, self.engine = bridge, engines, engine
        self.pace, self.clock, self.sleep = pace, clock, sleep
        self.lead, self.late = lead, late
        self.detector, self.quality, self.connect = detector, quality, connect
        self.now, self.start_timeout = now, start_timeout
        self.on_outcome = on_outcome
        #: The latest errors of refused or failed streams (codes and messages only).
        self.errors: collections.deque[CxmlError] = collections.deque(maxlen=100)
        #: Events of unknown names ignored so far, by peer: ``platform``, ``endpoint``.
        self.ignored: collections.Counter[str] = collections.Counter()
        #: Outbound frames dropped so far for being more than ``late`` past their slot.
        self.dropped_frames = 0
        if watch_loop is None:  # a virtual clock has no stalls to watch
            watch_loop = pace and sleep is asyncio.sleep
        self._watch = LoopWatch(clock, sleep) if watch_loop else None
        self._watching: asyncio.Task[None] | None = None
        self._streams = 0
        self._sessions: set[asyncio.Task[StreamResult]] = set()

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

    async def handle(self, connection: StreamChannel) -> StreamResult:
        """Run one stream's session to its end (its `StreamResult`, with the outcome);
        never raises for what a peer sent."""
        return await Session(self, connection).run()

    @contextlib.asynccontextmanager
    async def listen(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve WebSocket streams on ``host:port`` while the block runs; yields the
        ``ws://host:port`` address (put TLS in front for ``wss://``)."""
        from websockets.asyncio.server import serve

        async def handler(socket: Any) -> None:
            await self.handle(WebSocketChannel(socket))

        async with serve(handler, host, port, max_size=MAX_MESSAGE, compression=None) as server:
            bound = next(iter(server.sockets)).getsockname()
            yield f"ws://{bound[0]}:{bound[1]}"
            server.close()
            await server.wait_closed()

    async def wait_closed(self) -> None:
        """Wait for the in-process sessions still running."""
        while self._sessions:
            await asyncio.gather(*self._sessions, return_exceptions=True)

    def _spawn(self, connection: StreamChannel) -> asyncio.Task[StreamResult]:
        task = asyncio.create_task(self.handle(connection))
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)
        return task

    def _record(self, error: CxmlError) -> None:
        self.errors.append(error)
        log.warning("media stream ended: [%s] %s", error.code, error.message)

    async def _report(self, call: StreamCall, outcome: Outcome) -> None:
        if self.on_outcome is None:
            return
        try:
            await self.on_outcome(call, outcome)
        except Exception as exc:  # the stream is over either way; keep the server up
            self._record(
                MediaError(f"on_outcome failed: {type(exc).__name__}", code="OUTCOME_NOT_KEPT")
            )
            log.debug("on_outcome failure", exc_info=True)

    def _stream_started(self) -> None:
        self._streams += 1
        if self._watch is not None and self._watching is None:
            self._watching = asyncio.create_task(self._watch.run())

    def _stream_ended(self) -> None:
        self._streams -= 1
        if self._streams == 0 and self._watching is not None:
            self._watching.cancel()
            self._watching = None

    def _ignored_by_endpoint(self) -> None:
        self.ignored["endpoint"] += 1

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
        admitted = self.bridge.admit(ticket, now=self.now())
        if admitted.call_sid != start.call_sid:
            raise SignatureError("the ticket is for another call")
        assistant = self.assistants.get(admitted.assistant)
        if assistant is None or not assistant.active:
            raise AssistantUnavailableError(f"assistant {admitted.assistant!r} is not served here")
        # What the ticket vouches for wins over what the stream says.
        call = attrs.evolve(
            call,
            assistant=assistant,
            caller=admitted.caller or call.caller,
            callee=admitted.callee or call.callee,
            account_sid=admitted.account or call.account_sid,
        )
        if assistant.definition.protocol == "websocket_endpoint":
            config = assistant.config
            engine: Engine = ProviderBridge(
                config["websocket_url"],
                headers=config.get("websocket_headers") or {},
                media=config["media"],
                connect=self.connect,
                on_ignored=self._ignored_by_endpoint,
            )
            return call, engine
        engines = self.engines if self.engines is not None else engine_for
        return call, engines(assistant, call)
