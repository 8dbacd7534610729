"""Playout: what an engine queues on one stream, sent to the platform as 20 ms frames.

`Player` is the engine's `Output`: audio is resampled to the platform's rate, encoded and cut
into 20 ms frames, sent on a monotonic clock a little ahead of real time (``lead``), so the
platform's buffer stays small and the bridge knows what was heard. ``pace=False`` sends at
once (tests, simulators); a `VirtualClock` paces without waiting. On barge-in the session
drops the queue (`Player.interrupt`); marks echoed by the platform because of a ``clear`` do
not count as played.

Pacing keeps a schedule, not a sleep per frame: frame *n* of a reply is due at
``reply start + n * 20 ms``. Each wake-up sends every frame due by then (``now + lead``), so
a late wake-up catches up instead of pushing the rest of the reply later; a frame more than
``late`` seconds past its slot is dropped (counted in ``dropped_frames``) rather than sent,
so a busy loop costs a little audio, never seconds of backlog. While the player's task waits
for audio, ``play`` sends what is due at once itself: audio arriving in real time (a remote
endpoint's 20 ms frames) costs no wake-up of that task, nor a turn of a busy loop. While
wake-ups come late the player sends that much further ahead (up to ``MAX_LAG``, easing off
again), so the platform's buffer rides out the loop's stalls. Only a real underrun (the
engine had nothing queued) moves the schedule on. Audio that waited in a socket while the
loop stalled (a `LoopWatch` measures stalls) is dropped as it arrives, beyond ``late``,
mid-reply.
"""

from __future__ import annotations

import asyncio
import collections
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

import attrs

from ._outcome import FINISHED, Outcome
from .resample import Framer, Resampler

if TYPE_CHECKING:
    from ._session import Session

__all__ = ["FRAME", "REPLY_GAP", "LoopWatch", "Player", "VirtualClock"]

FRAME: Final = 0.02  # seconds of audio a media message carries
#: Seconds of silence after which the next audio is a new reply (not an underrun).
REPLY_GAP: Final = 0.3
#: How far ahead of ``lead`` a lagging loop may send (seconds), and how fast that eases.
MAX_LAG: Final = 0.5
LAG_DECAY: Final = 0.95


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


class LoopWatch:
    """How long the event loop has stalled, in all: a tick every 20 ms, and whatever it
    wakes more than a frame late adds to ``stalled``. A player that sees ``stalled`` grow
    between two chunks of a reply knows that much audio waited in a socket meanwhile."""

    def __init__(
        self, clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]]
    ) -> None:
        self.clock, self.sleep = clock, sleep
        self.stalled = 0.0

    async def run(self) -> None:
        clock, sleep = self.clock, self.sleep
        while True:
            before = clock()
            await sleep(FRAME)
            late = clock() - before - FRAME
            if late > FRAME:  # jitter under a frame is no stall
                self.stalled += late


@attrs.frozen
class _MarkItem:
    name: str


@attrs.frozen
class _HangupItem:
    outcome: Outcome


class Player:
    """The engine's `Output` on one stream: a queue of 20 ms frames, marks and a hang-up,
    sent in real time (or at once), with what was played accounted for."""

    def __init__(self, session: Session) -> None:
        server = session.server
        self._server = server
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
        self._waiting = False  # `run` waits for something to be queued
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
        self._idle = True  # the queue ran dry: the next frame may start after a gap
        self._lag = 0.0  # how late the loop woke us lately (decays), added to the lead
        self._watch = server._watch if self._pace else None
        self._stall_seen = self._watch.stalled if self._watch is not None else 0.0
        self._last_audio = -math.inf  # clock time of the last play()
        self._stale = 0.0  # seconds of arriving audio that waited out a loop stall
        self._stale_until = -math.inf
        self._late = server.late
        self.sent_frames = 0
        #: Frames dropped because they were more than ``late`` seconds past their slot.
        self.dropped_frames = 0
        #: The outcome an ``end`` asked for (None until then).
        self.ending: Outcome | None = None
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

    def _stale_input(self, pcm: bytes) -> bool:
        """Whether ``pcm`` is audio that waited out a stall of the event loop, mid-reply,
        beyond ``late``: dropped before it costs a resample (the load is shed where it is
        cheapest), so a busy loop loses audio instead of queueing seconds of it."""
        assert self._watch is not None
        now, stalled = self._clock(), self._watch.stalled
        new, self._stall_seen = stalled - self._stall_seen, stalled
        # A reply was under way when the stall began: its audio piled up in the socket.
        if new > 0 and now - new - self._last_audio < REPLY_GAP:
            self._stale += new
            self._stale_until = now + 2 * self._stale + 1.0
        self._last_audio = now
        if self._stale <= self._late or now > self._stale_until:
            self._stale = 0.0
            return False
        seconds = len(pcm) / (2 * self._engine_rate)
        self._stale -= seconds
        frames = max(1, round(seconds / FRAME))
        self.dropped_frames += frames
        self._server.dropped_frames += frames
        return True

    def _wire_name(self, name: str) -> str:
        if name not in self._pending_marks and name not in self._cleared_marks:
            return name
        self._mark_count += 1
        return f"{name}~{self._mark_count}"

    async def play(self, pcm: bytes) -> None:
        if self.hung_up:
            return
        if self._watch is not None and self._stale_input(pcm):
            return
        queue = self._queue
        inline = self._pace and self._waiting and not queue
        queue.extend(self._framer.push(self._resampler.process(pcm)))
        if inline and queue:
            # The player waits for audio: what is due now goes out from here, which saves it
            # a wake-up per frame (and, on a busy loop, a turn of the loop of delay).
            try:
                await self._send_due(sleep=False)
            except Exception as exc:
                await self._session.playback_failed(exc)
                return
            if not queue:
                self._idle = True  # as `run` marks it when the queue runs dry
                return
        self._ready.set()

    async def mark(self, name: str) -> None:
        self._flush_partial()
        self._queue.append(_MarkItem(name))
        self._ready.set()

    async def clear(self) -> None:
        self._drop()
        await self._session.send(self._protocol.clear())

    async def hangup(self) -> None:
        await self.end(FINISHED)

    async def end(self, outcome: Outcome) -> None:
        if self.ending is not None:
            return  # the first end asked for wins
        self.ending = outcome
        self._session.settle(outcome)
        self._flush_partial()
        self._queue.append(_HangupItem(outcome))
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
        hangup = next((item for item in self._queue if isinstance(item, _HangupItem)), None)
        self._queue.clear()
        self._framer.clear()
        self._resampler.reset()  # a clear is a real discontinuity; a pause is not
        self._slot = -math.inf  # nothing is playing any more
        self._idle = True
        self._reply_frames = 0
        # Marks already sent will be echoed by the platform's clear: they were not played.
        self._cleared_marks.update(dict.fromkeys(self._pending_marks))
        self._pending_marks.clear()
        while len(self._cleared_marks) > 256:  # platforms that do not echo on clear
            del self._cleared_marks[next(iter(self._cleared_marks))]
        if hangup is not None:  # an end asked for stays asked for
            self._queue.append(hangup)
            self._ready.set()

    def _flush_partial(self) -> None:
        tail = self._framer.flush()
        if tail is not None:
            self._queue.append(tail)

    async def run(self) -> None:
        """Send the queue for as long as the stream lasts."""
        while True:
            if not self._queue:
                self._idle = True
                self._ready.clear()
                self._waiting = True
                try:
                    await self._ready.wait()
                finally:
                    self._waiting = False
                continue
            item = self._queue[0]
            if isinstance(item, bytes):
                await self._send_due()
            elif isinstance(item, _MarkItem):
                self._queue.popleft()
                wire = self._wire_name(item.name)
                self._pending_marks[wire] = item.name
                await self._session.send(self._protocol.mark(wire))
            else:
                # End once what was queued before has been played.
                if self._pace and self._slot > self._clock():
                    await self._sleep(self._slot - self._clock())
                    continue
                self._queue.popleft()
                self.hung_up = True
                await self._session.end()
                return

    async def _send_due(self, *, sleep: bool = True) -> None:
        """Send the frames at the head of the queue that are due (all of them, unpaced);
        with ``sleep=False`` return instead of waiting for the first one's time."""
        queue, send, media, encode = (
            self._queue, self._session.send, self._protocol.media, self._codec.encode
        )  # fmt: skip
        if not self._pace:
            while queue and isinstance(frame := queue[0], bytes):
                queue.popleft()
                self._reply_frames += 1
                self.sent_frames += 1
                await send(media(encode(frame)))
            return
        now = self._clock()
        if self._idle:
            self._idle = False
            if self._slot + REPLY_GAP <= now:  # silence for a while: this starts a reply
                self._slot = self._reply_start = now
                self._reply_frames = 0
            elif self._slot < now:  # an underrun inside a reply: the gap was not playing
                self._reply_start += now - self._slot
                self._slot = now
        lead = self._lead + self._lag
        wait = self._slot - lead - now
        if wait > 0:
            if not sleep:
                return
            await self._sleep(wait)
            # How late this wake-up came: a busy loop. Later frames go out that much further
            # ahead, so the platform's buffer, not the caller, absorbs the next stall.
            overshoot = self._clock() - now - wait
            self._lag = min(max(overshoot, self._lag * LAG_DECAY), MAX_LAG)
            return  # the queue may have been cleared meanwhile: look again
        # Every frame due by now goes out in one pass: a late wake-up catches up on the
        # schedule instead of sliding it; frames too late to be worth playing are dropped.
        horizon, too_late = now + lead, now - self._late
        while queue and isinstance(frame := queue[0], bytes):
            if self._slot > horizon or self._idle:
                break
            queue.popleft()
            if self._slot < too_late:
                self.dropped_frames += 1
                self._server.dropped_frames += 1
                self._reply_start += FRAME  # not heard: it does not count as played
            else:
                self._reply_frames += 1
                self.sent_frames += 1
                await send(media(encode(frame)))
            self._slot += FRAME
