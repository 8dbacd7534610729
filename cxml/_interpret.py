"""The call simulator: run one call through a voice application the way the platform would.

The application is a Python callable (``CallRequest -> Response | str``, sync or async, such
as ``Router.handle``) or an http(s) URL. Each document is one stage: verbs run top to bottom
on a simulated clock (nothing sleeps); a verb with an ``action`` ends the stage and its result
is POSTed there; Redirect replaces the document; the end of a document hangs up. A `Scenario`
says what the world does; the `CallTrace` says what happened, event by event, and which
requests were made.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeAlias
from urllib.parse import urljoin, urlsplit

import attrs

from ._errors import CxmlError, CxmlParseError, SimulationError, StreamError
from ._http_body import read_capped_body
from ._interpret_scenario import NO_INPUT, DialOutcome, Input, Scenario
from ._interpret_stream import StreamConnector, StreamResult, run_stream, websocket_connector
from ._interpret_trace import (
    AppRequest,
    CallTrace,
    Dialed,
    DialedTarget,
    Ended,
    ErrorEvent,
    Event,
    Forked,
    Gathered,
    Paused,
    Played,
    Recorded,
    Redirected,
    Requested,
    Said,
    Skipped,
    Streamed,
    said_text,
)
from ._model import (
    Coach,
    Conference,
    Connect,
    Converse,
    Dial,
    Element,
    Gather,
    Hangup,
    Header,
    Node,
    Number,
    Parameter,
    Pause,
    Play,
    Record,
    Redirect,
    Reject,
    Response,
    Say,
    Service,
    Sip,
    Start,
    Stop,
    Stream,
)
from ._parse import MAX_BYTES, parse
from ._validate import dialled_number, stream_url_problem

if TYPE_CHECKING:
    import httpx
from ._request import CallRequest

__all__ = ["App", "interpret", "interpret_async"]

App: TypeAlias = (
    "str | Callable[[CallRequest], Response | str | bytes | Awaitable[Response | str | bytes]]"
)

#: Content types a CXML document may come with (anything else is error 12300).
XML_TYPES: Final = frozenset({"text/xml", "application/xml"})
#: Characters of speech per second, for the simulated length of a Say.
_SAY_RATE: Final = 15.0
_DIAL_TIMEOUT: Final = 30
_GATHER_TIMEOUT: Final = 5
_RECORD_TIMEOUT: Final = 5
_RECORD_MAX: Final = 3600


# --- running a call ---------------------------------------------------------------------


@attrs.frozen
class _Next:
    """The stage a verb handed the call to."""

    url: str | None
    method: str = "POST"
    parameters: Mapping[str, str] = attrs.field(factory=dict)


class _CallOverError(Exception):
    """The call has ended (the Ended event is recorded)."""


class _Run:
    def __init__(
        self,
        app: App,
        call: CallRequest,
        scenario: Scenario,
        *,
        url: str | None,
        token: str | None,
        origins: frozenset[str],
        timeout: float,
        max_bytes: int,
        connector: StreamConnector,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self.app = app
        self.call = call
        self.scenario = scenario
        self.url = url
        self.token = token
        self.origins = origins
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.connector = connector
        self.transport = transport
        self.client: httpx.AsyncClient | None = None
        self.events: list[Event] = []
        self.requests: list[AppRequest] = []
        self.documents: list[Response | None] = []
        self.now = 0.0
        self.stage = 0
        self.answered = False
        self.gathers = 0
        self.records = 0
        self.streams = 0

    # --- bookkeeping ----------------------------------------------------------------------

    def add(self, cls: type[Event], **fields: Any) -> Any:
        event = cls(at=min(self.now, self.scenario.max_seconds), stage=self.stage, **fields)
        self.events.append(event)
        return event

    def end(self, reason: str, detail: str | None = None) -> _CallOverError:
        self.add(Ended, reason=reason, detail=detail)
        return _CallOverError()

    def fail(self, code: int | str, message: str, url: str | None = None) -> _CallOverError:
        self.add(ErrorEvent, code=code, message=message, url=url)
        return self.end("error")

    def advance(self, seconds: float) -> None:
        self.now += seconds
        if self.now > self.scenario.max_seconds:
            raise self.end("time-limit")

    def base_parameters(self) -> dict[str, object]:
        body = self.call.to_payload()
        body["CallStatus"] = "in-progress" if self.answered else "ringing"
        return body

    def resolve(self, target: str | None, doc_url: str | None) -> str | None:
        """An action or Redirect URL, relative to the document's URL as a browser would."""
        if target is None:
            return doc_url
        if doc_url is None:
            return target
        try:
            return urljoin(doc_url, target)
        except ValueError:  # e.g. an unclosed IPv6 bracket: the document's URL is unusable
            raise self.fail(11100, f"{target!r:.80} is not a usable URL", doc_url) from None

    # --- the loop over stages -------------------------------------------------------------

    async def run(self) -> CallTrace:
        step = _Next(self.url)
        try:
            for _ in range(self.scenario.max_stages):
                doc = await self.fetch(step)
                step = await self.execute(doc, step.url)
            raise self.end("stage-limit")
        except _CallOverError:
            pass
        finally:
            if self.client is not None:
                await self.client.aclose()
        return CallTrace(
            call=self.call,
            events=tuple(self.events),
            requests=tuple(self.requests),
            documents=tuple(self.documents),
            answered=self.answered,
        )

    async def fetch(self, step: _Next) -> Response:
        self.stage += 1
        body = {**self.base_parameters(), **step.parameters}
        request = AppRequest(
            url=step.url, method=step.method, parameters=body, stage=self.stage, at=self.now
        )
        self.requests.append(request)
        self.add(Requested, url=step.url, method=step.method, parameters=body)
        self.documents.append(None)  # until the document is read
        if isinstance(self.app, str):
            doc = await self.fetch_http(step.url, step.method, body)
        else:
            doc = await self.fetch_callable(step.url, body)
        self.documents[-1] = doc
        return doc

    async def fetch_callable(self, url: str | None, body: dict[str, object]) -> Response:
        assert not isinstance(self.app, str)
        try:
            request = CallRequest.from_payload(body, url=url)
        except CxmlError as exc:
            raise self.fail(exc.code, f"the callback parameters are not a request: {exc}") from None
        try:
            result: object = self.app(request)
            if inspect.isawaitable(result):
                async with asyncio.timeout(self.timeout):
                    result = await result
        except TimeoutError:
            raise self.fail(11200, f"no answer within {self.timeout:g} s", url) from None
        except Exception as exc:  # the app's bug is the platform's HTTP 500
            raise self.fail(
                11200, f"the application raised {type(exc).__name__}: {exc}", url
            ) from None
        if isinstance(result, Response):
            return result
        if isinstance(result, str | bytes):
            return self.parse(result, url)
        raise self.fail(
            11200, f"the application returned {type(result).__name__}, not a Response or CXML", url
        )

    def parse(self, data: str | bytes, url: str | None) -> Response:
        try:
            return parse(data, max_bytes=self.max_bytes)
        except CxmlParseError as exc:
            raise self.fail(exc.code, str(exc), url) from None

    async def fetch_http(self, url: str | None, method: str, body: dict[str, object]) -> Response:
        try:
            origin = _origin(url) if url is not None else None
        except ValueError:  # a bad port or bracket
            raise self.fail(11100, f"cannot request {url!r:.80}: not a usable URL", url) from None
        if url is None or urlsplit(url).scheme not in ("http", "https"):
            raise self.fail(11100, f"cannot request {url!r}: not an http(s) URL", url)
        if origin not in self.origins:
            # A document must not steer the simulator to hosts nobody asked it to call.
            raise self.fail(11200, f"{origin} is not an allowed origin", url)
        import httpx  # only URL apps need it: `import cxml` stays light

        if self.client is None:
            self.client = httpx.AsyncClient(
                timeout=self.timeout,
                follow_redirects=False,
                trust_env=False,  # a proxy from the environment has no business here
                transport=self.transport,
            )
        headers = {
            "Accept": "application/xml, text/xml",
            "Accept-Encoding": "identity",  # a compressed body would dodge the size cap
            "User-Agent": "cxmlflow-interpret",
        }
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            if method == "GET":
                query = {k: v if isinstance(v, str) else str(v) for k, v in body.items()}
                built = self.client.build_request("GET", url, params=query, headers=headers)
            else:
                built = self.client.build_request("POST", url, json=body, headers=headers)
            async with asyncio.timeout(self.timeout):
                data = await self._read(built)
        except _CallOverError:
            raise
        except TimeoutError:
            raise self.fail(11200, f"no answer within {self.timeout:g} s", url) from None
        except httpx.HTTPError as exc:
            raise self.fail(11200, f"the request failed: {type(exc).__name__}", url) from None
        return self.parse(data, url)

    async def _read(self, request: httpx.Request) -> bytes:
        assert self.client is not None
        url = str(request.url)
        response = await self.client.send(request, stream=True)
        try:
            status = response.status_code
            if 300 <= status < 400:
                where = response.headers.get("location", "?")
                raise self.fail(11200, f"HTTP {status} redirect to {where} refused", url)
            if status >= 400 or status < 200:
                raise self.fail(11200, f"HTTP {status}", url)
            kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind not in XML_TYPES:
                raise self.fail(12300, f"content type {kind or 'missing'}, not XML", url)
            try:
                return await read_capped_body(response, self.max_bytes)
            except CxmlError as exc:
                raise self.fail(exc.code, exc.message, url) from None
        finally:
            await response.aclose()

    # --- one document ---------------------------------------------------------------------

    async def execute(self, doc: Response, doc_url: str | None) -> _Next:
        for verb in doc.children:
            step = await self.verb(verb, doc_url)
            if step is not None:
                return step
        raise self.end("end-of-document")

    async def verb(self, verb: object, doc_url: str | None) -> _Next | None:
        run = _run_of(type(verb))
        if run is not None:
            step = run(self, verb, doc_url)
            return await step if inspect.isawaitable(step) else step  # type: ignore[return-value]
        if isinstance(verb, Element):
            self.add(Skipped, verb=verb.tag, reason="not a CXML verb")
        elif isinstance(verb, Node):
            self.add(Skipped, verb=verb.tag, reason="not a verb of <Response>")
        return None  # stray text: layout the platform ignores

    def play(self, verb: Say | Play | Pause, doc_url: str | None) -> None:
        self.media(verb, in_prompt=False)

    def hangup(self, verb: Hangup, doc_url: str | None) -> None:
        raise self.end("hangup")

    def reject(self, verb: Reject, doc_url: str | None) -> None:
        raise self.end("reject", verb.reason or "rejected")

    def start(self, verb: Start, doc_url: str | None) -> None:
        for stream in verb.children:
            if isinstance(stream, Stream):
                self.check_stream_url(stream, doc_url)
                self.add(Forked, url=stream.url, name=stream.name)

    def check_stream_url(self, stream: Stream, doc_url: str | None) -> None:
        """A Stream url the platform cannot open stops the application (the Stream page)."""
        if stream.url is None:
            raise self.fail(12200, "a <Stream> needs a url", doc_url)
        problem = stream_url_problem(stream.url)
        if problem is not None:
            raise self.fail(11100, f"stream url {problem}", doc_url)

    def skip(self, verb: Node, doc_url: str | None) -> None:
        self.add(Skipped, verb=verb.tag, reason="not simulated")

    def media(self, verb: Say | Play | Pause, *, in_prompt: bool) -> Said | Played | Paused:
        if isinstance(verb, Pause):
            length = verb.length if verb.length is not None else 1
            self.answered = self.answered or bool(verb.answer)
            event: Said | Played | Paused = Paused(at=self.now, stage=self.stage, length=length)
            seconds = float(length)
        else:
            loop = verb.loop if verb.loop is not None else 1
            self.answered = self.answered or verb.answer is not False
            if isinstance(verb, Say):
                text = said_text(verb.text)
                event = Said(
                    at=self.now,
                    stage=self.stage,
                    text=text,
                    voice=verb.voice or "woman",
                    language=verb.language or "en-US",
                    loop=loop,
                )
                once = max(1.0, len(text) / _SAY_RATE)
            else:
                digits = verb.digits
                event = Played(
                    at=self.now,
                    stage=self.stage,
                    url=said_text(verb.text),
                    loop=loop,
                    digits=digits,
                )
                once = self.scenario.play_seconds if verb.text else 0.0
                once += sum(0.5 if c == "w" else 0.1 for c in digits or "")
            # loop 0 repeats until the call moves on: in a prompt, until the caller answers.
            seconds = once if in_prompt and loop == 0 else (math.inf if loop == 0 else once * loop)
        if not in_prompt:
            self.events.append(event)
        self.advance(seconds)
        return event

    def prompts(self, verb: Gather | Record) -> tuple[Said | Played | Paused, ...]:
        played: list[Said | Played | Paused] = []
        for child in verb.children:
            if isinstance(child, Say | Play | Pause):
                played.append(self.media(child, in_prompt=True))
            elif isinstance(child, Node | Element):
                self.add(Skipped, verb=child.tag, reason=f"not simulated inside <{verb.tag}>")
        return tuple(played)

    def gather(self, verb: Gather, doc_url: str | None) -> _Next | None:
        kinds = tuple(verb.input) if verb.input else ("dtmf",)
        prompts = self.prompts(verb)
        entered = (
            self.scenario.gather[self.gathers]
            if self.gathers < len(self.scenario.gather)
            else NO_INPUT
        )
        self.gathers += 1
        digits = self._keys(verb, entered) if "dtmf" in kinds else None
        speech = entered.speech if "speech" in kinds and entered.speech else None
        if digits is None and speech is None:
            self.advance(verb.timeout if verb.timeout is not None else _GATHER_TIMEOUT)
        else:
            self.advance(len(digits or "") * 1.0 + len((speech or "").split()) * 0.4 + 1.0)
        parameters: dict[str, str] = {}
        if digits is not None:
            parameters["Digits"] = digits
        if speech is not None:
            parameters["SpeechResult"] = speech
            parameters["Confidence"] = "0.9"
        requested = bool(parameters) or bool(verb.action_on_empty_result)
        if requested and not parameters:  # an empty result, sent as empty fields
            parameters = {"Digits": ""} if "dtmf" in kinds else {"SpeechResult": ""}
        action = self.resolve(verb.action, doc_url) if requested else None
        self.add(
            Gathered,
            prompts=prompts,
            input=kinds,
            digits=digits,
            speech=speech,
            action=action,
            requested=requested,
        )
        return _Next(action, verb.method or "POST", parameters) if requested else None

    @staticmethod
    def _keys(verb: Gather, entered: Input) -> str | None:
        """The Digits a Gather reports for the keys pressed (None: nothing was entered)."""
        if not entered.digits:
            return None
        finish = "#" if verb.finish_on_key is None else verb.finish_on_key
        digits = ""
        for key in entered.digits:
            if finish and key == finish:
                break
            digits += key
            if verb.num_digits is not None and len(digits) >= verb.num_digits:
                break
        return digits or None

    def dial(self, verb: Dial, doc_url: str | None) -> _Next | None:
        timeout = verb.timeout if verb.timeout is not None else _DIAL_TIMEOUT
        targets: list[DialedTarget] = []
        headers: list[tuple[str, str]] = []
        rang: list[tuple[DialedTarget, DialOutcome]] = []
        for child in verb.children:
            kind, text, provider = "", "", None
            if isinstance(child, str):
                text = child.strip()
                kind = "sip" if "@" in text or text.startswith("sip:") else "number"
            elif isinstance(child, Number | Sip | Service | Conference):
                text = said_text(child.text).strip()
                kind = child.tag.lower()
                if isinstance(child, Service):
                    provider = child.provider
                if isinstance(child, Conference):
                    text = text or "default"
            elif isinstance(child, Header):
                headers.append((child.name or "", child.value or ""))
                continue
            else:
                continue
            if kind == "number":  # <Number>1-805-101010</Number> rings 1805101010
                text = dialled_number(text) or text
            outcome = self.scenario.outcome(kind, text)
            talk = outcome.duration if outcome.status == "completed" else 0.0
            if verb.time_limit is not None:
                talk = min(talk, float(verb.time_limit))
            target = DialedTarget(
                kind=kind, target=text, status=outcome.status, duration=talk, provider=provider
            )
            targets.append(target)
            rang.append((target, outcome))
        status, duration, seconds = self._dial_result(rang, timeout)
        # Dial never answers by itself, but a callee who answers answers the caller's leg too.
        self.answered = self.answered or status == "completed"
        action = self.resolve(verb.action, doc_url) if verb.action is not None else None
        self.add(
            Dialed,
            targets=tuple(targets),
            status=status,
            duration=duration,
            timeout=timeout,
            headers=tuple(headers),
            action=action,
            elapsed=seconds,
        )
        self.advance(seconds)
        if verb.action is None:
            return None
        parameters = {"DialCallStatus": status, "DialCallDuration": str(round(duration))}
        return _Next(action, verb.method or "POST", parameters)

    @staticmethod
    def _dial_result(
        rang: list[tuple[DialedTarget, DialOutcome]], timeout: int
    ) -> tuple[str, float, float]:
        """(DialCallStatus, talk seconds, seconds the Dial took): the first target to answer
        within the timeout takes the call; otherwise busy if all were busy, no-answer if any
        rang out, else failed."""
        answering = [(o.ring, t) for t, o in rang if o.status == "completed" and o.ring < timeout]
        if answering:
            ring, target = min(answering, key=lambda pair: pair[0])
            return "completed", target.duration, ring + target.duration
        if not rang:
            return "failed", 0.0, 0.0
        statuses = {o.status if o.status != "completed" else "no-answer" for _, o in rang}
        if statuses == {"busy"}:
            return "busy", 0.0, max(o.ring for _, o in rang)
        if "no-answer" in statuses:
            return "no-answer", 0.0, float(timeout)
        if statuses == {"canceled"}:
            return "canceled", 0.0, max(o.ring for _, o in rang)
        return "failed", 0.0, max(min(o.ring, timeout) for _, o in rang)

    def record(self, verb: Record, doc_url: str | None) -> _Next | None:
        prompts = self.prompts(verb)
        spoken = (
            self.scenario.record[self.records] if self.records < len(self.scenario.record) else 0.0
        )
        self.records += 1
        self.answered = True  # recording needs the media path
        limit = verb.max_length if verb.max_length is not None else _RECORD_MAX
        duration = min(spoken, float(limit))
        silence = verb.timeout if verb.timeout is not None else _RECORD_TIMEOUT
        if duration <= 0:
            self.add(Recorded, prompts=prompts, duration=0.0)
            self.advance(silence)
            return None
        sid = self.call.call_sid or "call"
        url = f"https://recordings.cxmlflow.invalid/{sid}/RE{self.records}.wav"
        action = self.resolve(verb.action, doc_url)
        self.add(
            Recorded, prompts=prompts, duration=duration, url=url, action=action, requested=True
        )
        self.advance(duration + (silence if duration < limit else 0))
        parameters = {"RecordingUrl": url, "RecordingDuration": str(round(duration))}
        return _Next(action, verb.method or "POST", parameters)

    def redirect(self, verb: Redirect, doc_url: str | None) -> _Next:
        target = said_text(verb.text).strip()
        if not target:
            raise self.fail(11100, "a Redirect without a URL", doc_url)
        url = self.resolve(target, doc_url)
        assert url is not None
        method = verb.method or "POST"
        self.add(Redirected, url=url, method=method)
        return _Next(url, method)

    async def connect(self, verb: Connect, doc_url: str | None) -> _Next | None:
        streams = [s for s in verb.children if isinstance(s, Stream)]
        if len(streams) != 1 or not streams[0].url:
            # A schema problem, as `validate` reports it (11100 is for a URL it cannot use).
            raise self.fail(12200, "a <Connect> needs exactly one <Stream> with a url", doc_url)
        stream = streams[0]
        self.check_stream_url(stream, doc_url)
        assert stream.url is not None
        parameters = {
            p.name: p.value or ""
            for p in stream.children
            if isinstance(p, Parameter) and p.name is not None
        }
        self.answered = True  # a bidirectional stream carries the caller's media
        result = await self.open_stream(stream.url, parameters)
        action = self.resolve(verb.action, doc_url) if verb.action is not None else None
        if result.error_code is not None:
            self.add(
                ErrorEvent,
                code=result.error_code,
                message=result.error or "",
                url=stream.url,
                fatal=False,
            )
        self.add(
            Streamed,
            url=stream.url,
            name=stream.name,
            parameters=parameters,
            result=result,
            action=None if result.caller_left else action,
        )
        self.advance(min(result.seconds, self.scenario.stream.hangup_after or math.inf))
        if result.caller_left:
            raise self.end("caller-hangup", f"on the stream ({result.ended_by})")
        if action is None:
            return None
        results = {"CallStatus": "in-progress"}
        if result.ended_by == "not-connected":
            results["DialCallStatus"] = "failed"  # what the router reads as "move on"
        return _Next(action, verb.method or "POST", results)

    async def open_stream(self, url: str, parameters: Mapping[str, str]) -> StreamResult:
        self.streams += 1
        script = self.scenario.stream
        try:
            async with asyncio.timeout(script.timeout):
                channel = await self.connector(url, parameters)
        except StreamError as exc:
            return StreamResult(ended_by="not-connected", error_code=exc.code, error=exc.message)
        except TimeoutError:
            return StreamResult(
                ended_by="not-connected", error_code=31920, error="the connection timed out"
            )
        except Exception as exc:  # a third-party connector's own failure
            return StreamResult(
                ended_by="not-connected",
                error_code=31920,
                error=f"the connector failed: {type(exc).__name__}: {exc}",
            )
        sid = f"MZ{self.streams:032x}"
        start = {
            "streamSid": sid,
            "callSid": self.call.call_sid or "",
            "accountSid": self.call.account_sid or "",
            "session": self.call.session or self.call.call_sid or "",
            "tracks": ["inbound"],
            "customParameters": dict(parameters),
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        return await run_stream(channel, script, stream_sid=sid, start=start)


#: How the simulator runs each verb of <Response>. Every verb has an entry, those it does not
#: simulate too (`_Run.skip`); tests/test_verbs.py checks that against the model's verbs.
RUNS: Final[dict[type[Node], Callable[[_Run, Any, str | None], object]]] = {
    Coach: _Run.skip,
    Connect: _Run.connect,
    Converse: _Run.skip,
    Dial: _Run.dial,
    Gather: _Run.gather,
    Hangup: _Run.hangup,
    Pause: _Run.play,
    Play: _Run.play,
    Record: _Run.record,
    Redirect: _Run.redirect,
    Reject: _Run.reject,
    Say: _Run.play,
    Start: _Run.start,
    Stop: _Run.skip,
}


def _run_of(cls: type) -> Callable[[_Run, Any, str | None], object] | None:
    for base in cls.__mro__:  # a subclass of a verb's class runs as the verb
        run = RUNS.get(base)
        if run is not None:
            return run
    return None


def _origin(url: str) -> str:
    """scheme://host:port, the unit of trust for the URLs a simulated call may request."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def _request(call: CallRequest | Mapping[str, object]) -> CallRequest:
    if isinstance(call, CallRequest):
        return call
    if isinstance(call, Mapping):
        return CallRequest.from_payload(call)
    raise SimulationError(f"call must be a CallRequest or a mapping, not {type(call).__name__}")


async def interpret_async(
    app: App,
    call: CallRequest | Mapping[str, object],
    scenario: Scenario | Mapping[str, Any] | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
    origins: Sequence[str] = (),
    timeout: float = 10.0,
    max_bytes: int = MAX_BYTES,
    connector: StreamConnector | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> CallTrace:
    """Run one call through ``app``; the async form of `interpret` (same arguments)."""
    if isinstance(app, str):
        parts = urlsplit(app)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SimulationError(f"the application URL must be http(s): {app!r}", code=11100)
        first_url: str | None = url or app
        try:
            allowed = {_origin(u) for u in (app, url or app, *origins)}
        except ValueError as exc:  # a bad port
            raise SimulationError(f"not a usable URL: {exc}", code=11100) from None
    elif callable(app):
        allowed = set()
        first_url = url
    else:
        raise SimulationError(
            f"the application must be a callable or an http(s) URL, not {type(app).__name__}"
        )
    if scenario is None:
        scenario = Scenario()
    elif not isinstance(scenario, Scenario):
        scenario = Scenario.from_mapping(scenario)
    run = _Run(
        app,
        _request(call),
        scenario,
        url=first_url,
        token=token,
        origins=frozenset(allowed),
        timeout=timeout,
        max_bytes=max_bytes,
        connector=connector or websocket_connector,
        transport=transport,
    )
    return await run.run()


def interpret(
    app: App,
    call: CallRequest | Mapping[str, object],
    scenario: Scenario | Mapping[str, Any] | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
    origins: Sequence[str] = (),
    timeout: float = 10.0,
    max_bytes: int = MAX_BYTES,
    connector: StreamConnector | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> CallTrace:
    """Run one call through ``app`` as the platform would and return its `CallTrace`.

    ``app``: a callable taking a `CallRequest` (``Router.handle``; sync or async; returning a
    `Response` or CXML text) or an http(s) URL. ``call``: the first request (a `CallRequest`
    or its JSON body). ``scenario``: a `Scenario` (or its mapping form); default: nobody
    answers, the caller enters nothing. ``url``: the first request's URL (for a URL app,
    default the app URL). ``token``: sent as ``Authorization: Bearer``. ``origins``: URLs
    whose origins (scheme, host, port) a URL app's documents may send the call to besides its
    own. ``timeout``: seconds per request (HTTP, or an async callable). ``max_bytes``: the
    document size cap (11750). ``connector``: opens media streams (default: a real
    WebSocket). ``transport``: an httpx transport for URL apps.

    Only programming errors raise (`SimulationError`, `ScenarioError`, `CallRequestError`);
    whatever the application does is recorded in the trace. Use `interpret_async` inside a
    running event loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise SimulationError("interpret() cannot run inside an event loop: await interpret_async")
    return asyncio.run(
        interpret_async(
            app,
            call,
            scenario,
            url=url,
            token=token,
            origins=origins,
            timeout=timeout,
            max_bytes=max_bytes,
            connector=connector,
            transport=transport,
        )
    )
