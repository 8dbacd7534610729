"""One media stream's session on a `StreamServer`: admission, listening, barge-in.

A session:

1. reads ``start`` (after an optional ``connected``) and has the server admit it (ticket,
   assistant, engine: see `StreamServer`);
2. decodes each media frame, resamples it to the engine's rate, runs the voice detector and
   hands the frame to the engine;
3. plays what the engine queues through a `Player` (``_playout``);
4. on barge-in (the detector's step to speech while the engine speaks, for engines that
   allow it) drops the player's queue, sends ``clear`` and tells the engine how much was
   played.

Every stream ends with an `Outcome`: the one the engine asked for (``Output.end``), else
``hangup`` when the platform stopped or closed the stream, else ``error`` with the code of
what went wrong (recorded on the server too, its code and message only). Events of names
the protocol does not know are ignored and counted. Nothing a caller sends can take the
server down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Final

import attrs

from cxml import CxmlError, StreamChannel

from .._errors import MediaError, MediaProtocolError
from ._outcome import Outcome
from ._playout import FRAME, Player
from .codecs import Codec, open_codec
from .engine import Engine, StreamCall
from .protocols import Connected, Dtmf, Mark, Media, Start, Stop, StreamProtocol, Unknown
from .resample import Framer, Resampler

if TYPE_CHECKING:
    from .server import StreamServer

__all__ = ["HANGUP", "Session", "StreamResult"]

log = logging.getLogger("providers.media")

HANGUP: Final = Outcome("hangup")


@attrs.frozen
class StreamResult:
    """How one stream went: its call (None if it was refused before it was admitted), its
    outcome, the events of unknown names ignored from either peer, the outbound frames
    dropped for being too late."""

    call: StreamCall | None
    outcome: Outcome
    ignored: int = 0
    dropped_frames: int = 0


class Session:
    def __init__(self, server: StreamServer, connection: StreamChannel) -> None:
        self.server, self.connection = server, connection
        self.protocol = StreamProtocol()
        self.engine: Engine = None  # type: ignore[assignment]  # set once admitted
        self.codec: Codec = None  # type: ignore[assignment]
        self.call: StreamCall | None = None  # set once admitted
        self.outcome: Outcome | None = None
        self.ignored = 0  # unknown events from the platform
        self._player: Player | None = None
        self._ended = False
        self._closed = False
        self._reporting: asyncio.Future[None] | None = None
        self._listening: asyncio.Task[None] | None = None

    def settle(self, outcome: Outcome) -> None:
        """The stream's outcome, if none was settled before. An error outcome an engine
        asked for is recorded on the server as a `MediaError` of its code."""
        if self.outcome is not None:
            return
        self.outcome = outcome
        if outcome.kind == "error":
            assert outcome.code is not None
            self.server._record(MediaError(outcome.detail or outcome.code, code=outcome.code))

    def fail(self, error: CxmlError) -> None:
        """An abnormal end: recorded on the server, and the outcome unless one was set."""
        self.server._record(error)
        if self.outcome is None:
            self.outcome = Outcome("error", code=str(error.code), detail=error.message)

    def _ignore(self, event: Unknown) -> None:
        self.ignored += 1
        self.server.ignored["platform"] += 1
        log.debug("ignored a platform event %r", event.name)

    async def send(self, text: str) -> None:
        if not self._ended:
            await self.connection.send(text)

    async def end(self) -> None:
        self._ended = True  # nothing more is sent
        # Report before closing: the platform posts the <Connect> action as soon as the
        # stream ends, and the router answers it from the outcome recorded here.
        await self._report()
        if not self._closed:
            self._closed = True
            await self.connection.close()
        # Closing need not wake a receive that is waiting (it depends on the connection):
        # stop listening here, so a hang-up by the engine always ends the session.
        listening = self._listening
        if listening is not None and listening is not asyncio.current_task():
            listening.cancel()

    async def _play(self, player: Player) -> None:
        try:
            await player.run()
        except Exception as exc:
            await self.playback_failed(exc)

    async def playback_failed(self, exc: Exception) -> None:
        """Sending the engine's audio failed (in the player's task or inline in ``play``):
        the stream ends with that error."""
        if isinstance(exc, CxmlError):
            self.fail(exc)
        else:
            self.fail(MediaError(f"playback failed: {type(exc).__name__}", code="PLAYBACK_FAILED"))
            log.debug("playback failure", exc_info=exc)
        await self.end()

    async def run(self) -> StreamResult:
        self.server._stream_started()
        try:
            return await self._run()
        finally:
            self.server._stream_ended()

    async def _run(self) -> StreamResult:
        player_task: asyncio.Task[None] | None = None
        started = False
        try:
            start = await asyncio.wait_for(self._read_start(), self.server.start_timeout)
            if start is None:
                self.settle(HANGUP)
                return self._result()
            call, self.engine = self.server._admit(start)
            self.call = call
            self.codec = open_codec(start.encoding, start.sample_rate)
            player = self._player = Player(self)
            player_task = asyncio.create_task(self._play(player))
            started = True  # stop() follows even a failed start: it may hold a socket
            await self.engine.start(call, player)
            self._listening = asyncio.create_task(self._listen(player))
            try:
                await self._listening
            except asyncio.CancelledError:
                if not self._ended:  # cancelled from outside, not ended by a hang-up
                    raise
            self.settle(HANGUP)  # the platform stopped or closed the stream
        except TimeoutError:
            self.fail(MediaProtocolError("no start in time", code="START_TIMEOUT"))
        except CxmlError as exc:
            self.fail(exc)
        except Exception as exc:  # an engine's own bug must not take the server down
            self.fail(MediaError(f"the engine failed: {type(exc).__name__}", code="ENGINE_FAILED"))
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
        await self._report()
        return self._result()

    async def _report(self) -> None:
        """Hand the outcome to ``on_outcome``, once, if the stream was admitted. Shielded: a
        player cancelled while ending the stream must not lose the record (`_run` waits)."""
        if self.call is None:
            return
        if self._reporting is None:
            self._reporting = asyncio.ensure_future(
                self.server._report(self.call, self.outcome or HANGUP)
            )
        await asyncio.shield(self._reporting)

    def _result(self) -> StreamResult:
        ignored = getattr(self.engine, "ignored", 0) if self.engine is not None else 0
        player = self._player
        return StreamResult(
            self.call,
            self.outcome or HANGUP,
            self.ignored + (ignored if isinstance(ignored, int) else 0),
            player.dropped_frames if player is not None else 0,
        )

    async def _read_start(self) -> Start | None:
        while True:
            message = await self.connection.receive()
            if message is None:
                return None
            event = self.protocol.parse(message)
            if isinstance(event, Start):
                return event
            if isinstance(event, Unknown):
                self._ignore(event)
            elif not isinstance(event, Connected):
                raise MediaProtocolError(f"{type(event).__name__.lower()} before start")

    async def _listen(self, player: Player) -> None:
        engine, protocol = self.engine, self.protocol
        inbound = Resampler(protocol.sample_rate, engine.sample_rate, quality=self.server.quality)
        # The engine hears 20 ms frames whatever the platform's chunks (up to the cap).
        framer = Framer(2 * round(engine.sample_rate * FRAME))
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
                for pcm in framer.push(inbound.process(self.codec.decode(event.payload))):
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
            elif isinstance(event, Unknown):
                self._ignore(event)
