"""What a simulated call did: its events, in order, and the requests it made.

Every event is a frozen value with ``at`` (simulated seconds) and ``stage`` (which document);
a `CallTrace` holds them, with the requests and documents, and reads as a transcript.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import attrs

from ._interpret_stream import StreamResult
from ._model import Element, Response
from ._request import CallRequest
from ._validate import Issue, validate

__all__ = [
    "AppRequest",
    "CallTrace",
    "Dialed",
    "DialedTarget",
    "Ended",
    "ErrorEvent",
    "Event",
    "Forked",
    "Gathered",
    "Paused",
    "Played",
    "Recorded",
    "Redirected",
    "Requested",
    "Said",
    "Skipped",
    "Streamed",
]


@attrs.frozen(kw_only=True)
class Event:
    """Something that happened: ``at`` seconds into the call (simulated), in ``stage`` (the
    1-based number of the document being run)."""

    at: float
    stage: int


@attrs.frozen(kw_only=True)
class Requested(Event):
    """The platform requested a document (the same request is in `CallTrace.requests`)."""

    url: str | None
    method: str
    parameters: Mapping[str, object]


@attrs.frozen(kw_only=True)
class Said(Event):
    """``<Say>``: text (SSML flattened to its text) in ``voice`` and ``language``."""

    text: str
    voice: str
    language: str
    loop: int = 1


@attrs.frozen(kw_only=True)
class Played(Event):
    """``<Play>``: an audio URL (or, with ``digits``, tones)."""

    url: str
    loop: int = 1
    digits: str | None = None


@attrs.frozen(kw_only=True)
class Paused(Event):
    """``<Pause>`` for ``length`` seconds."""

    length: float


@attrs.frozen(kw_only=True)
class DialedTarget:
    """One target of a Dial: its ``kind`` (number, sip, service, conference), text, result."""

    kind: str
    target: str
    status: str
    duration: float
    provider: str | None = None


@attrs.frozen(kw_only=True)
class Dialed(Event):
    """``<Dial>``: every target rang at once; ``status`` and ``duration`` (seconds of talk)
    are what the platform reports as DialCallStatus and DialCallDuration; ``action`` is where
    they were POSTed (None: the document went on); ``headers`` are its ``<Header>``s."""

    targets: tuple[DialedTarget, ...]
    status: str
    duration: float
    timeout: int
    headers: tuple[tuple[str, str], ...] = ()
    action: str | None = None
    #: Seconds the Dial took on the simulated clock: ringing, then any talk.
    elapsed: float = 0.0


@attrs.frozen(kw_only=True)
class Gathered(Event):
    """``<Gather>``: the prompts played, then what the caller entered (``digits`` or
    ``speech``; both None: it timed out) and where the result went (``action``, None when the
    document went on)."""

    prompts: tuple[Said | Played | Paused, ...]
    input: tuple[str, ...]
    digits: str | None = None
    speech: str | None = None
    action: str | None = None
    requested: bool = False

    @property
    def timed_out(self) -> bool:
        return self.digits is None and self.speech is None


@attrs.frozen(kw_only=True)
class Recorded(Event):
    """``<Record>``: ``duration`` seconds recorded (0: empty, the action is not requested)."""

    prompts: tuple[Said | Played | Paused, ...]
    duration: float
    url: str | None = None
    action: str | None = None
    requested: bool = False


@attrs.frozen(kw_only=True)
class Redirected(Event):
    """``<Redirect>`` to ``url`` (resolved against the document's URL)."""

    url: str
    method: str


@attrs.frozen(kw_only=True)
class Streamed(Event):
    """``<Connect><Stream>``: where it went, its custom parameters, and what was exchanged."""

    url: str
    name: str | None
    parameters: Mapping[str, str]
    result: StreamResult
    action: str | None = None


@attrs.frozen(kw_only=True)
class Forked(Event):
    """``<Start><Stream>``: a media fork was asked for (the simulator does not open it)."""

    url: str | None
    name: str | None


@attrs.frozen(kw_only=True)
class Skipped(Event):
    """A verb the simulator does not run (Coach, Converse, Stop, unknown elements)."""

    verb: str
    reason: str


@attrs.frozen(kw_only=True)
class ErrorEvent(Event):
    """A failure, with the platform's error ``code`` (11200 fetch failed, 11750 too large,
    12100 parse error, 12300 bad content type, 11100 bad URL, 31920/31950 stream, ...).
    ``fatal`` errors end the call."""

    code: int | str
    message: str
    url: str | None = None
    fatal: bool = True


@attrs.frozen(kw_only=True)
class Ended(Event):
    """How the call ended: ``hangup``, ``reject`` (with ``detail`` the reason),
    ``end-of-document``, ``caller-hangup``, ``error``, ``stage-limit`` or ``time-limit``."""

    reason: str
    detail: str | None = None


@attrs.frozen(kw_only=True)
class AppRequest:
    """One request to the application: the URL (None for a callable's first request), the
    method and the parameters (the JSON body, or the query of a GET)."""

    url: str | None
    method: str
    parameters: Mapping[str, object]
    stage: int
    at: float


_E = TypeVar("_E", bound=Event)


def said_text(text: object) -> str:
    if isinstance(text, str):
        return text
    parts: list[str] = []
    for item in text if isinstance(text, tuple) else ():
        if isinstance(item, str):
            parts.append(item)
        elif isinstance(item, Element):
            parts.append(said_text(item.content))
    return "".join(parts)


@attrs.frozen(kw_only=True)
class CallTrace:
    """Everything one simulated call did: ``events`` in order, ``requests`` made and the
    ``documents`` they got."""

    call: CallRequest
    events: tuple[Event, ...]
    requests: tuple[AppRequest, ...]
    #: The document each request got (None where it failed), in step with ``requests``.
    documents: tuple[Response | None, ...] = ()
    answered: bool = False

    @property
    def ended(self) -> Ended:
        last = self.events[-1]
        assert isinstance(last, Ended)  # the simulator always ends with one
        return last

    @property
    def errors(self) -> tuple[ErrorEvent, ...]:
        return tuple(e for e in self.events if isinstance(e, ErrorEvent))

    @property
    def duration(self) -> float:
        """Simulated seconds from the first request to the end of the call."""
        return self.ended.at

    @property
    def stages(self) -> int:
        return len(self.requests)

    @property
    def document_errors(self) -> tuple[tuple[int, Issue], ...]:
        """(stage, issue) for each error `validate` finds in the documents the call got: what
        the platform would fail the call on. Empty exactly when every document validates
        without an error; the simulator runs what it can of the rest."""
        return tuple(
            (stage, issue)
            for stage, doc in enumerate(self.documents, 1)
            if doc is not None
            for issue in validate(doc)
            if issue.severity == "error"
        )

    def of(self, kind: type[_E]) -> tuple[_E, ...]:
        """The events of one kind, in order (prompts inside a Gather or Record included)."""
        found: list[_E] = []
        for event in self.events:
            if isinstance(event, Gathered | Recorded):
                found += [p for p in event.prompts if isinstance(p, kind)]
            if isinstance(event, kind):
                found.append(event)
        return tuple(found)

    @property
    def said(self) -> tuple[str, ...]:
        """Everything said to the caller, in order (Gather prompts included)."""
        return tuple(e.text for e in self.of(Said))

    def transcript(self) -> str:
        """The trace as lines of text, for people."""
        return "\n".join(_line(e) for e in self.events) + "\n"


def _short(url: str | None, width: int = 72) -> str:
    if url is None:
        return "(first request)"
    return url if len(url) <= width else url[: width - 1] + "…"


def _prompt_line(event: Event) -> str:
    if isinstance(event, Said):
        loop = f" x{event.loop}" if event.loop != 1 else ""
        return f'say ({event.voice}, {event.language}){loop}: "{event.text}"'
    if isinstance(event, Played):
        return f"play {event.url}" + (f" digits {event.digits}" if event.digits else "")
    if isinstance(event, Paused):
        return f"pause {event.length}s"
    return type(event).__name__


def _head(event: Event) -> str:
    return f"[{event.at:7.1f}s] "


def _line(event: Event) -> str:
    head = _head(event)
    if isinstance(event, Requested):
        shown = {
            k: v
            for k, v in event.parameters.items()
            if k
            in (
                "Digits",
                "SpeechResult",
                "DialCallStatus",
                "DialCallDuration",
                "RecordingUrl",
                "RecordingDuration",
            )
        }
        extra = "".join(f" {k}={v}" for k, v in shown.items())
        return f"{head}{event.method} {_short(event.url)}{extra}"
    if isinstance(event, Said | Played | Paused):
        return head + _prompt_line(event)
    if isinstance(event, Gathered):
        prompts = "".join(f"{_head(p)}  {_prompt_line(p)}\n" for p in event.prompts)
        if event.digits is not None:
            got = f"pressed {event.digits}"
        elif event.speech is not None:
            got = f'said "{event.speech}"'
        else:
            got = "no input"
        sent = " -> action" if event.requested else " -> next verb"
        return f"{prompts}{head}gather ({' '.join(event.input)}): {got}{sent}"
    if isinstance(event, Dialed):
        targets = ", ".join(
            f"{t.kind} {t.target}" + ("" if len(event.targets) == 1 else f" {t.status}")
            for t in event.targets
        )
        talk = f" {event.duration:g}s" if event.status == "completed" else ""
        sent = " -> action" if event.action else ""
        return f"{head}dial {targets} (timeout {event.timeout}s): {event.status}{talk}{sent}"
    if isinstance(event, Recorded):
        return f"{head}record {event.duration:g}s" + (f" {event.url}" if event.url else "")
    if isinstance(event, Redirected):
        return f"{head}redirect {_short(event.url)}"
    if isinstance(event, Streamed):
        r = event.result
        marks = f", marks {list(r.marks)}" if r.marks else ""
        clears = f", {r.clears} clear" if r.clears else ""
        return (
            f"{head}stream {_short(event.url, 64)}: sent {r.sent_frames} frames"
            f"{' + dtmf ' + r.sent_dtmf if r.sent_dtmf else ''}, received "
            f"{r.received_seconds:.2f}s audio{marks}{clears}; ended by {r.ended_by}"
        )
    if isinstance(event, Forked):
        return f"{head}fork stream {event.url} (not opened)"
    if isinstance(event, Skipped):
        return f"{head}skip {event.verb}: {event.reason}"
    if isinstance(event, ErrorEvent):
        return f"{head}error {event.code}: {event.message}"
    if isinstance(event, Ended):
        detail = f" ({event.detail})" if event.detail else ""
        return f"{head}end: {event.reason}{detail}"
    return head + type(event).__name__
