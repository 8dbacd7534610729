"""cxml.interpret on hand-written applications: the platform's stage model, verb by verb.

Each test's application is a small function returning documents, so what the platform must do
with them (post results, fall through, replace the document, hang up) is the only thing under
test. HTTP applications run against httpx's MockTransport; streams against in-process peers
(`cxml.StreamPeers`) or, in `test_interpret_router.py`, real WebSockets on loopback.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxml import (
    CallRequest,
    CallTrace,
    Connect,
    Dial,
    Dialed,
    Ended,
    ErrorEvent,
    Gather,
    Gathered,
    Hangup,
    Input,
    Number,
    Parameter,
    Pause,
    Paused,
    Play,
    Played,
    Record,
    Recorded,
    Redirect,
    Redirected,
    Reject,
    Requested,
    Response,
    Said,
    Say,
    Scenario,
    ScenarioError,
    Service,
    SimulationError,
    Sip,
    Skipped,
    Stream,
    Streamed,
    StreamError,
    StreamPeers,
    StreamScript,
    echo_peer,
    interpret,
    interpret_async,
    render,
)
from cxml.pytest_plugin import CallSimulator, simulate_call  # noqa: F401 (fixture)

CALL = {"CallSid": "CA1", "From": "+12125551234", "To": "+14155550100", "Direction": "inbound"}
APP_URL = "https://app.example.com/voice/start"


class Pages:
    """An application made of documents by URL (None: the first request); records requests."""

    def __init__(self, pages: Mapping[str | None, Response | str]) -> None:
        self.pages = pages
        self.seen: list[CallRequest] = []

    def __call__(self, request: CallRequest) -> Response | str:
        self.seen.append(request)
        return self.pages[request.url]


def run(doc: Response, scenario: Mapping[str, Any] | Scenario | None = None) -> CallTrace:
    return interpret(lambda _: doc, CALL, scenario, connector=StreamPeers())


def kinds(trace: CallTrace) -> list[str]:
    return [type(e).__name__ for e in trace.events]


# --- speech, media and the end of a document ------------------------------------------------


def test_say_play_and_pause_run_in_order_and_the_end_of_the_document_hangs_up() -> None:
    trace = run(
        Response(
            [
                Say("Hello", voice="Cloudonix-Neural:Zoe", language="en-GB"),
                Play("https://cdn.example.com/a.wav", loop=2),
                Pause(length=3),
                Say("Bye"),
            ]
        ),
        Scenario(play_seconds=4),
    )
    assert kinds(trace) == ["Requested", "Said", "Played", "Paused", "Said", "Ended"]
    said = trace.of(Said)
    assert (said[0].text, said[0].voice, said[0].language) == (
        "Hello",
        "Cloudonix-Neural:Zoe",
        "en-GB",
    )
    assert (said[1].voice, said[1].language) == ("woman", "en-US")  # the documented defaults
    assert trace.of(Played)[0].url == "https://cdn.example.com/a.wav"
    assert trace.of(Paused)[0].length == 3
    assert trace.of(Paused)[0].at == trace.of(Played)[0].at + 8  # two loops of four seconds
    assert trace.ended.reason == "end-of-document"
    assert trace.answered


def test_a_pause_alone_does_not_answer_the_call() -> None:
    assert not run(Response([Pause(length=2), Hangup()])).answered
    assert run(Response([Pause(length=2, answer=True), Hangup()])).answered


def test_hangup_and_reject_end_the_call_and_nothing_after_them_runs() -> None:
    trace = run(Response([Hangup(), Say("never")]))
    assert (trace.ended.reason, trace.said) == ("hangup", ())
    trace = run(Response([Reject(reason="busy"), Say("never")]))
    assert (trace.ended.reason, trace.ended.detail) == ("reject", "busy")
    assert run(Response([Reject()])).ended.detail == "rejected"


def test_ssml_is_said_as_its_text() -> None:
    doc = render(Response([Say("x")])).replace(">x<", "><emphasis>Hi</emphasis> there<")
    assert interpret(lambda _: doc, CALL).said == ("Hi there",)


# --- Gather ---------------------------------------------------------------------------------


def menu(**gather: Any) -> Pages:
    first = Response([Gather([Say("Press 1")], action="menu", **gather), Say("No input"), Hangup()])
    return Pages(
        {
            APP_URL: first,
            "https://app.example.com/voice/menu": Response([Say("Thanks"), Hangup()]),
        }
    )


def test_gather_input_ends_the_stage_and_posts_digits_to_the_relative_action() -> None:
    app = menu(num_digits=1)
    trace = interpret(app, CALL, {"gather": ["1"]}, url=APP_URL)
    assert trace.said == ("Press 1", "Thanks")  # the verbs after the Gather never ran
    gathered = trace.of(Gathered)[0]
    assert (gathered.digits, gathered.action) == ("1", "https://app.example.com/voice/menu")
    callback = app.seen[1]
    assert (callback.url, callback.digits, callback.call_sid) == (gathered.action, "1", "CA1")
    assert callback.call_status == "in-progress"  # the prompt answered the call
    assert [r.url for r in trace.requests] == [APP_URL, gathered.action]


def test_the_trace_keeps_the_document_each_request_got() -> None:
    app = menu(num_digits=1)
    trace = interpret(app, CALL, {"gather": ["1"]}, url=APP_URL)
    assert trace.documents == (app.pages[APP_URL], app.pages["https://app.example.com/voice/menu"])
    failed = interpret(lambda _: "<Response>", CALL)
    assert failed.documents == (None,)


def test_gather_without_input_falls_through_to_the_next_verb() -> None:
    trace = interpret(menu(), CALL, {"gather": [None]}, url=APP_URL)
    assert trace.said == ("Press 1", "No input")
    assert trace.of(Gathered)[0].timed_out
    assert trace.ended.reason == "hangup"
    assert len(trace.requests) == 1


def test_gather_without_input_posts_an_empty_result_with_action_on_empty_result() -> None:
    app = menu(action_on_empty_result=True)
    trace = interpret(app, CALL, url=APP_URL)  # no scenario: the caller enters nothing
    assert trace.said == ("Press 1", "Thanks")
    assert app.seen[1].digits == ""


def test_gather_without_action_posts_to_the_document_url() -> None:
    app = Pages({APP_URL: Response([Gather([Say("Go")], num_digits=2)])})
    trace = interpret(app, CALL, {"gather": ["42", None], "max_stages": 2}, url=APP_URL)
    assert [r.url for r in trace.requests] == [APP_URL, APP_URL]
    assert app.seen[1].digits == "42"


@pytest.mark.parametrize(
    ("keys", "gather", "digits"),
    [
        ("12#", {}, "12"),  # the finish key ends input and is not reported
        ("1234", {"num_digits": 2}, "12"),
        ("12*3", {"finish_on_key": "*"}, "12"),
        ("12#3", {"finish_on_key": ""}, "12#3"),  # empty: no finish key
        ("#", {}, None),  # only the finish key: nothing entered
    ],
)
def test_keys_become_digits_as_the_gather_says(
    keys: str, gather: dict[str, Any], digits: str | None
) -> None:
    trace = interpret(menu(**gather), CALL, {"gather": [keys]}, url=APP_URL)
    assert trace.of(Gathered)[0].digits == digits


def test_speech_is_heard_only_by_a_gather_that_listens_for_it() -> None:
    scenario = {"gather": [{"speech": "sales please"}]}
    app = menu(input=["speech"])
    trace = interpret(app, CALL, scenario, url=APP_URL)
    assert trace.of(Gathered)[0].speech == "sales please"
    assert app.seen[1].speech_result == "sales please"
    trace = interpret(menu(), CALL, scenario, url=APP_URL)  # dtmf only
    assert trace.of(Gathered)[0].timed_out


def test_each_gather_takes_the_next_input() -> None:
    doc = Response([Gather(num_digits=1), Gather(num_digits=1), Gather(num_digits=1)])
    trace = interpret(lambda _: doc, CALL, {"gather": [None, "", "5"], "max_stages": 2})
    # The third posts to the document's URL; the same document then hears nothing more.
    assert [g.digits for g in trace.of(Gathered)] == [None, None, "5", None, None, None]
    assert trace.ended.reason == "end-of-document"


# --- Dial -----------------------------------------------------------------------------------


def test_a_dial_without_action_goes_on_with_the_next_verb() -> None:
    doc = Response([Dial([Number("1001")], timeout=20), Say("After the dial")])
    trace = run(doc)
    dialed = trace.of(Dialed)[0]
    assert (dialed.status, dialed.action, [t.target for t in dialed.targets]) == (
        "no-answer",
        None,
        ["1001"],
    )
    assert trace.said == ("After the dial",)
    assert trace.of(Said)[0].at == 20  # it rang for the whole timeout
    assert not run(Response([Dial("1001"), Hangup()])).answered  # Dial never answers by itself
    answered = run(Response([Dial("1001"), Hangup()]), {"dial": {"default": "completed"}})
    assert answered.answered  # the callee did


@pytest.mark.parametrize(
    ("outcomes", "status", "duration"),
    [
        ({"1001": "busy", "1002": "busy"}, "busy", 0),
        ({"1001": "busy", "1002": "no-answer"}, "no-answer", 0),
        ({"1001": "failed", "1002": "busy"}, "failed", 0),
        ({"1001": {"status": "completed", "duration": 45, "ring": 3}}, "completed", 45),
        # the first to answer takes the call
        (
            {
                "1001": {"status": "completed", "duration": 10, "ring": 8},
                "1002": {"status": "completed", "duration": 99, "ring": 2},
            },
            "completed",
            99,
        ),
        ({"1001": {"status": "completed", "ring": 25}}, "no-answer", 0),  # after the timeout
    ],
)
def test_dial_results_are_posted_to_the_action(
    outcomes: dict[str, Any], status: str, duration: int
) -> None:
    app = Pages(
        {
            None: Response([Dial([Number("1001"), Number("1002")], timeout=20, action="/dial")]),
            "/dial": Response([Hangup()]),
        }
    )
    trace = interpret(app, CALL, {"dial": {"targets": outcomes}})
    assert trace.of(Dialed)[0].status == status
    assert trace.requests[1].at == trace.of(Dialed)[0].elapsed  # the callback comes after it
    assert (app.seen[1].dial_call_status, app.seen[1].extra["DialCallDuration"]) == (
        status,
        str(duration),
    )


def test_dial_outcomes_fall_back_from_target_to_kind_to_default() -> None:
    doc = Response(
        [
            Dial([Number("+14155550111")]),
            Dial([Sip("sip:bob@example.com")]),
            Dial([Service("+14155551234", provider="retell")]),
            Dial("1003"),
        ]
    )
    scenario = Scenario.from_mapping(
        {
            "dial": {
                "targets": {"14155550111": "busy"},  # numbers match with or without +
                "sip": {"status": "completed", "duration": 5},
                "default": "failed",
            }
        }
    )
    dials = run(doc, scenario).of(Dialed)
    assert [(d.targets[0].kind, d.status) for d in dials] == [
        ("number", "busy"),
        ("sip", "completed"),
        ("service", "failed"),
        ("number", "failed"),
    ]
    assert dials[2].targets[0].provider == "retell"


def test_a_dial_time_limit_caps_the_talk() -> None:
    doc = Response([Dial([Number("1001")], time_limit=10)])
    trace = run(doc, {"dial": {"default": {"status": "completed", "duration": 300}}})
    assert trace.of(Dialed)[0].duration == 10


# --- Record, Redirect -----------------------------------------------------------------------


def test_an_empty_recording_falls_through_and_a_spoken_one_is_posted() -> None:
    app = Pages(
        {
            None: Response([Record(action="/rec", max_length=60), Say("Nothing recorded")]),
            "/rec": Response([Say("Got it")]),
        }
    )
    assert interpret(app, CALL).said == ("Nothing recorded",)
    trace = interpret(app, CALL, {"record": [0, 600]})
    assert trace.of(Recorded)[0].duration == 0
    assert interpret(app, CALL, {"record": [75]}).of(Recorded)[0].duration == 60
    assert app.seen[-1].recording_url is not None
    assert app.seen[-1].extra["RecordingDuration"] == "60"


def test_redirect_replaces_the_document() -> None:
    app = Pages(
        {
            APP_URL: Response([Redirect("/voice/next"), Say("never")]),
            "https://app.example.com/voice/next": Response([Say("Next"), Hangup()]),
        }
    )
    trace = interpret(app, CALL, url=APP_URL)
    assert trace.said == ("Next",)
    assert trace.of(Redirected)[0].url == "https://app.example.com/voice/next"
    assert [e.stage for e in trace.events if isinstance(e, Requested)] == [1, 2]


def test_a_redirect_loop_ends_at_the_stage_limit() -> None:
    trace = interpret(lambda _: Response([Redirect("/again")]), CALL, {"max_stages": 7})
    assert trace.ended.reason == "stage-limit"
    assert len(trace.requests) == 7
    assert trace.errors == ()


def test_endless_audio_ends_at_the_time_limit() -> None:
    trace = run(Response([Play("https://cdn.example.com/hold.wav", loop=0)]), {"max_seconds": 60})
    assert (trace.ended.reason, trace.duration) == ("time-limit", 60)


def test_a_verb_the_simulator_does_not_run_is_skipped_not_fatal() -> None:
    doc = "<Response><Voicemail/><Coach>tok</Coach><Say>Still here</Say></Response>"
    trace = interpret(lambda _: doc, CALL)
    assert [e.verb for e in trace.of(Skipped)] == [
        "Voicemail",
        "Coach",
    ]
    assert trace.said == ("Still here",)


# --- applications that fail -----------------------------------------------------------------


def broken(exc: Exception) -> Callable[[CallRequest], Response]:
    def app(_: CallRequest) -> Response:
        raise exc

    return app


@pytest.mark.parametrize(
    ("result", "code"),
    [
        ("<Response><Say>unclosed</Response>", 12100),
        ("<Reply/>", 12102),
        ("<Response>" + "<Pause/>" * 20000 + "</Response>", 11750),
        (42, 11200),
    ],
)
def test_a_bad_document_is_an_error_event_and_ends_the_call(result: object, code: int) -> None:
    trace = interpret(lambda _: result, CALL)  # type: ignore[arg-type, return-value]
    assert [e.code for e in trace.errors] == [code]
    assert trace.ended.reason == "error"


def test_an_application_that_raises_is_an_http_500_to_the_platform() -> None:
    trace = interpret(broken(KeyError("menu")), CALL)
    assert [(e.code, e.fatal) for e in trace.errors] == [(11200, True)]
    assert "KeyError" in trace.errors[0].message


def test_an_async_application_is_awaited() -> None:
    async def app(request: CallRequest) -> str:
        await asyncio.sleep(0)
        return render(Response([Say(f"Hello {request.from_}"), Hangup()]))

    assert interpret(app, CALL).said == ("Hello +12125551234",)


def test_interpret_async_runs_in_a_running_loop_and_interpret_refuses_to() -> None:
    doc = Response([Hangup()])

    async def main() -> CallTrace:
        with pytest.raises(SimulationError):
            interpret(lambda _: doc, CALL)
        return await interpret_async(lambda _: doc, CALL)

    assert asyncio.run(main()).ended.reason == "hangup"


@pytest.mark.parametrize("app", [42, "ftp://app.example.com/", "/relative"])
def test_an_app_that_is_neither_callable_nor_an_http_url_is_refused(app: Any) -> None:
    with pytest.raises(SimulationError):
        interpret(app, CALL)


# --- applications over HTTP -----------------------------------------------------------------


def xml(doc: Response | str, status: int = 200, **headers: str) -> httpx.Response:
    text = render(doc) if isinstance(doc, Response) else doc
    return httpx.Response(
        status, content=text.encode(), headers={"content-type": "text/xml", **headers}
    )


def over_http(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> CallTrace:
    return interpret(APP_URL, CALL, transport=httpx.MockTransport(handler), **kw)


def test_an_http_app_gets_a_json_post_with_the_token_and_its_actions_resolve() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path == "/voice/start":
            return xml(Response([Gather(action="menu?x=1&y=2", num_digits=1)]))
        return xml(Response([Say("Thanks"), Hangup()]))

    trace = over_http(handler, token="secret-token", scenario={"gather": ["3"]})
    assert trace.said == ("Thanks",)
    first, second = requests
    assert first.headers["authorization"] == "Bearer secret-token"
    assert first.headers["content-type"] == "application/json"
    assert json.loads(first.content)["CallSid"] == "CA1"
    assert str(second.url) == "https://app.example.com/voice/menu?x=1&y=2"
    assert json.loads(second.content)["Digits"] == "3"
    assert "secret-token" not in repr(trace)


def test_a_get_redirect_sends_the_parameters_in_the_query() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "GET":
            return xml(Response([Hangup()]))
        return xml(Response([Redirect("/voice/get", method="GET")]))

    assert over_http(handler).ended.reason == "hangup"
    assert seen[1].method == "GET"
    assert seen[1].url.params["CallSid"] == "CA1"


@pytest.mark.parametrize(
    ("response", "code"),
    [
        (xml(Response([Hangup()]), status=500), 11200),
        (xml(Response([Hangup()]), status=302, location="https://elsewhere.example/"), 11200),
        (httpx.Response(200, content=render(Response([Hangup()])).encode()), 12300),
        (
            httpx.Response(200, content=b"<Response/>", headers={"content-type": "text/html"}),
            12300,
        ),
        (xml("<Response>" + "<Pause/>" * 20000 + "</Response>"), 11750),
        (xml("<Response><Say>"), 12100),
        (
            httpx.Response(
                200,
                content=gzip.compress(render(Response([Hangup()])).encode()),
                headers={"content-type": "text/xml", "content-encoding": "gzip"},
            ),
            11200,
        ),
    ],
    ids=["500", "redirect", "no-type", "html", "too-large", "not-well-formed", "gzip"],
)
def test_http_failures_get_the_platform_error_codes(response: httpx.Response, code: int) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return response

    trace = over_http(handler)
    assert [e.code for e in trace.errors] == [code]
    assert trace.ended.reason == "error"
    assert calls == [APP_URL]  # a redirect is never followed


def test_an_unreachable_app_is_a_fetch_failure() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    assert [e.code for e in over_http(handler).errors] == [11200]


def test_a_document_cannot_send_the_call_to_another_origin_unless_allowed() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        if request.url.host == "app.example.com":
            return xml(Response([Redirect("http://169.254.169.254/latest/meta-data")]))
        return xml(Response([Hangup()]))

    trace = over_http(handler)
    assert [e.code for e in trace.errors] == [11200]
    assert asked == [APP_URL]
    trace = over_http(handler, origins=["http://169.254.169.254"])
    assert (trace.errors, trace.ended.reason) == ((), "hangup")


def test_a_slow_async_application_times_out() -> None:
    async def app(request: CallRequest) -> Response:
        await asyncio.Event().wait()  # never answers
        raise AssertionError("unreachable")

    trace = interpret(app, CALL, timeout=0.05)
    assert [e.code for e in trace.errors] == [11200]


def test_an_action_with_a_scheme_the_platform_cannot_fetch_is_11100() -> None:
    trace = over_http(lambda _: xml(Response([Redirect("cx://container-app")])))
    assert [e.code for e in trace.errors] == [11100]


@pytest.mark.parametrize(
    "target",
    ["https://app.example.com:99999/next", "https://app.example.com:abc/", "http://[::1/x"],
)
def test_an_unusable_url_in_a_document_is_11100_not_a_crash(target: str) -> None:
    trace = over_http(lambda _: xml(Response([Redirect(target)])))
    assert [e.code for e in trace.errors] == [11100]


# --- streams (in process) -------------------------------------------------------------------


def stream_doc(action: str | None = None) -> Response:
    stream = Stream([Parameter(name="who", value="test")], url="wss://bot.example.com/s")
    return Response([Connect([stream], action=action), Say("After the stream")])


def test_a_stream_carries_the_caller_audio_and_records_what_came_back() -> None:
    peers = StreamPeers(echo_peer)
    trace = interpret(
        lambda _: stream_doc(), CALL, {"stream": {"seconds": 0.1, "dtmf": "5"}}, connector=peers
    )
    ((url, parameters, channel),) = peers.opened
    assert (url, parameters) == ("wss://bot.example.com/s", {"who": "test"})
    events = [f["event"] for f in channel.sent]
    assert events == ["connected", "start", *["media"] * 5, "dtmf", "mark"]
    start = channel.sent[1]
    assert "sequenceNumber" not in channel.sent[0]
    assert [f["sequenceNumber"] for f in channel.sent[1:4]] == ["1", "2", "3"]
    assert start["start"]["customParameters"] == {"who": "test"}
    assert start["start"]["mediaFormat"] == {
        "encoding": "audio/x-mulaw",
        "sampleRate": 8000,
        "channels": 1,
    }
    assert start["start"]["callSid"] == "CA1"
    assert [f["media"]["chunk"] for f in channel.sent[2:7]] == ["1", "2", "3", "4", "5"]
    assert channel.sent[-1]["mark"] == {"name": "said-bye"}  # answered after its audio
    streamed = trace.of(Streamed)[0]
    result = streamed.result
    assert (result.sent_frames, result.received_frames, result.received_bytes) == (5, 5, 800)
    assert (result.marks, result.ended_by, result.sent_dtmf) == (("said-bye",), "app", "5")
    assert trace.said == ("After the stream",)  # the document went on after the stream


def test_a_stream_that_sends_nonsense_is_recorded_and_ended_not_a_crash() -> None:
    def nonsense(frame: dict[str, Any]) -> list[str | None]:
        return ["{not json"] if frame["event"] == "start" else []

    trace = interpret(lambda _: stream_doc(), CALL, connector=StreamPeers(nonsense))
    assert [(e.code, e.fatal) for e in trace.of(ErrorEvent)] == [(31950, False)]
    assert trace.of(Streamed)[0].result.ended_by == "error"
    assert trace.said == ("After the stream",)


def test_a_stream_that_cannot_open_tells_the_connect_action_it_failed() -> None:
    async def refuse(url: str, parameters: Mapping[str, str]) -> Any:
        raise StreamError("handshake refused", code=31920)

    app = Pages({None: stream_doc(action="/after"), "/after": Response([Hangup()])})
    trace = interpret(app, CALL, connector=refuse)
    assert [e.code for e in trace.errors] == [31920]
    assert app.seen[1].dial_call_status == "failed"


def test_a_caller_that_hangs_up_on_the_stream_ends_the_call() -> None:
    def talker(frame: dict[str, Any]) -> list[str | None]:
        sid = frame.get("streamSid")
        audio = {"payload": "/" * 1600}  # base64 of 1200 bytes: 0.15 s a frame
        return [json.dumps({"event": "media", "streamSid": sid, "media": audio})]

    scenario = Scenario(stream=StreamScript(seconds=0.2, hangup_after=1.0))
    trace = interpret(lambda _: stream_doc("/after"), CALL, scenario, connector=StreamPeers(talker))
    assert trace.of(Streamed)[0].result.ended_by == "caller"
    assert (trace.ended.reason, trace.said) == ("caller-hangup", ())
    assert len(trace.requests) == 1  # nobody is left to ask for the action


def test_a_quiet_app_makes_the_caller_hang_up() -> None:
    scenario = Scenario(stream=StreamScript(seconds=0.02, idle_timeout=0.05))
    trace = interpret(lambda _: stream_doc(), CALL, scenario, connector=StreamPeers(lambda _: []))
    assert trace.of(Streamed)[0].result.ended_by == "idle"
    assert trace.ended.reason == "caller-hangup"


# --- scenarios ------------------------------------------------------------------------------


def test_a_scenario_reads_its_file_form() -> None:
    scenario = Scenario.from_mapping(
        {
            "dial": {
                "default": "busy",
                "conference": {"status": "completed", "duration": 60},
                "targets": {"1001": {"status": "completed", "duration": 45, "ring": 5}},
            },
            "gather": ["1", 2, None, {"speech": "sales"}],
            "record": [12],
            "stream": {"seconds": 0.5, "dtmf": "5", "hangup_after": 30, "audio": "/w=="},
            "max_stages": 9,
        }
    )
    assert scenario.gather == (Input("1"), Input("2"), Input(), Input(speech="sales"))
    assert scenario.outcome("number", "1001").ring == 5
    assert scenario.outcome("conference", "room").duration == 60
    assert scenario.outcome("sip", "sip:x@y").status == "busy"
    assert scenario.stream.caller_audio == b"\xff"
    assert scenario.max_stages == 9


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"dail": {}}, "$.dail"),
        ({"dial": {"default": "maybe"}}, "$.dial.default.status"),
        ({"dial": {"targets": {"1001": {"status": "busy", "colour": 1}}}}, "$.dial.targets.1001"),
        ({"dial": {"pager": "busy"}}, "$.dial.pager"),
        ({"gather": "123"}, "$.gather"),
        ({"gather": ["1", {"digits": "1x"}]}, "$.gather[1].digits"),
        ({"record": [-1]}, "$.record[0]"),
        ({"stream": {"dtmf": "A"}}, "$.stream.dtmf"),
        ({"stream": {"audio": "not base64!"}}, "$.stream.audio"),
        ({"stream": {"volume": 3}}, "$.stream"),
        ({"max_stages": 0}, "$.max_stages"),
        ({"max_seconds": float("inf")}, "$.max_seconds"),
    ],
)
def test_a_bad_scenario_names_the_path(data: dict[str, Any], path: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_mapping(data)
    assert caught.value.path == path
    assert caught.value.code == "INVALID_SCENARIO"


# --- the fixture ----------------------------------------------------------------------------


def test_the_simulate_call_fixture_runs_a_call_with_in_process_peers(
    simulate_call: CallSimulator,  # noqa: F811 (the fixture imported above)
) -> None:
    scenario = {"stream": {"dtmf": "1"}}  # echo_peer hangs up once its mark is played
    trace = simulate_call(lambda _: stream_doc(), to="+14155550100", scenario=scenario)
    assert trace.call.to == "+14155550100"
    assert simulate_call.peers.opened[0][0] == "wss://bot.example.com/s"
    assert simulate_call.traces == [trace]


def test_the_transcript_reads_like_the_call() -> None:
    app = menu(num_digits=1)
    text = interpret(app, CALL, {"gather": ["1"]}, url=APP_URL).transcript()
    lines = text.splitlines()
    assert lines[0].endswith(f"POST {APP_URL}")
    assert lines[1].endswith('  say (woman, en-US): "Press 1"')
    assert lines[2].endswith("gather (dtmf): pressed 1 -> action")
    assert lines[3].endswith("POST https://app.example.com/voice/menu Digits=1")
    assert lines[-1].endswith("end: hangup")
    assert isinstance(interpret(app, CALL).events[-1], Ended)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_SCENARIO_KEYS = st.sampled_from(
    ["gather", "record", "dial", "stream", "max_stages", "max_seconds", "targets", "default",
     "status", "seconds", "audio", "dtmf"]
)  # fmt: skip


@given(st.dictionaries(_SCENARIO_KEYS | st.text(max_size=6), _JSON, max_size=5))
def test_a_scenario_from_any_mapping_loads_or_names_its_path(data: dict[str, Any]) -> None:
    try:
        Scenario.from_mapping(data)
    except ScenarioError as exc:
        assert exc.path
