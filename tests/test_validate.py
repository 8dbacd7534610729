"""Validation: one case per rule, asserting code, severity and path; properties over documents."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxml import (
    Connect,
    Dial,
    Gather,
    Hangup,
    Input,
    Issue,
    Number,
    Pause,
    Record,
    Redirect,
    Response,
    Say,
    Scenario,
    Start,
    Stream,
    StreamPeers,
    StreamScript,
    echo_peer,
    interpret,
    parse,
    render,
    validate,
)
from cxml._validate import dialled_number
from cxml.strategies import e164, nodes, responses


def _found(text: str) -> set[tuple[int | str, str, str]]:
    return {(i.code, i.severity, i.path) for i in validate(f"<Response>{text}</Response>")}


E, W = "error", "warning"

CASES = [
    # unknown verbs and nouns, wrong case
    ("<Voicemail/>", 12200, E, "/Response/Voicemail[1]"),
    ("<say>hi</say>", 12200, E, "/Response/say[1]"),
    ("<Dial><Client>x</Client></Dial>", 12200, E, "/Response/Dial[1]/Client[1]"),
    # nouns under the wrong parent
    ("<Number>+14155550100</Number>", 12200, E, "/Response/Number[1]"),
    ("<Gather><Dial>1001</Dial></Gather>", 12200, E, "/Response/Gather[1]/Dial[1]"),
    (
        "<Connect><Parameter name='a' value='b'/></Connect>",
        12200,
        E,
        "/Response/Connect[1]/Parameter[1]",
    ),
    ("<Dial><Number><b/>1</Number></Dial>", 12200, E, "/Response/Dial[1]/Number[1]/*"),
    ("<Hangup>now</Hangup>", 12200, E, "/Response/Hangup[1]"),
    ("text<Hangup/>", 12200, E, "/Response/text()"),
    # bad enum values, booleans, lists
    ("<Reject reason='later'/>", 12200, E, "/Response/Reject[1]/@reason"),
    ("<Say answer='yes'>x</Say>", 12200, E, "/Response/Say[1]/@answer"),
    ("<Gather input='dtmf fax'/>", 12200, E, "/Response/Gather[1]/@input"),
    ("<Stream/>", 12200, E, "/Response/Stream[1]"),
    # non-numeric and out-of-range numbers
    ("<Dial timeout='soon'>1001</Dial>", 12200, E, "/Response/Dial[1]/@timeout"),
    ("<Dial timeout='0'>1001</Dial>", 12200, E, "/Response/Dial[1]/@timeout"),
    ("<Gather numDigits='0'/>", 12200, E, "/Response/Gather[1]/@numDigits"),
    ("<Pause length='-1'/>", 12200, E, "/Response/Pause[1]/@length"),
    (
        "<Dial><Conference maxParticipants='251'>r</Conference></Dial>",
        12200,
        E,
        "/Response/Dial[1]/Conference[1]/@maxParticipants",
    ),
    ("<Converse temperature='2.5'/>", 12200, E, "/Response/Converse[1]/@temperature"),
    ("<Converse temperature='warm'/>", 12200, E, "/Response/Converse[1]/@temperature"),
    # Stream urls that are not ws/wss
    (
        "<Connect><Stream url='https://a.example/s'/></Connect>",
        11100,
        E,
        "/Response/Connect[1]/Stream[1]/@url",
    ),
    ("<Start><Stream url='/relative'/></Start>", 11100, E, "/Response/Start[1]/Stream[1]/@url"),
    ("<Connect><Stream/></Connect>", 12200, E, "/Response/Connect[1]/Stream[1]/@url"),
    ("<Connect/>", 12200, E, "/Response/Connect[1]"),
    ("<Stop><Stream/></Stop>", 12200, E, "/Response/Stop[1]/Stream[1]/@name"),
    (
        "<Connect><Stream url='wss://a.example/s'><Parameter name='a'/></Stream></Connect>",
        12200,
        E,
        "/Response/Connect[1]/Stream[1]/Parameter[1]/@value",
    ),
    # Redirect targets not https/cx/service
    ("<Redirect>http://a.example/next</Redirect>", 11100, E, "/Response/Redirect[1]/text()"),
    ("<Redirect>ftp://a.example/next</Redirect>", 11100, E, "/Response/Redirect[1]/text()"),
    ("<Redirect></Redirect>", 11100, E, "/Response/Redirect[1]/text()"),
    ("<Redirect>/next</Redirect>", 11100, W, "/Response/Redirect[1]/text()"),
    # other URLs
    ("<Play>ftp://a.example/a.wav</Play>", 11100, E, "/Response/Play[1]/text()"),
    ("<Gather action='mailto:x@example.com'/>", 11100, E, "/Response/Gather[1]/@action"),
    ("<Gather action='https://a.example/x y'/>", 11100, E, "/Response/Gather[1]/@action"),
    # Header names without X-
    (
        "<Dial><Header name='Campaign' value='1'/><Number>1001</Number></Dial>",
        12200,
        W,
        "/Response/Dial[1]/Header[1]/@name",
    ),
    (
        "<Dial><Header name='X-A'/><Number>1001</Number></Dial>",
        12200,
        E,
        "/Response/Dial[1]/Header[1]/@value",
    ),
    (
        "<Dial><Number>1001</Number><Header name='X-A' value='1'/></Dial>",
        12200,
        W,
        "/Response/Dial[1]/Header[1]",
    ),
    # Number bodies that are neither E.164 nor a short extension
    ("<Dial><Number>call me</Number></Dial>", 13223, E, "/Response/Dial[1]/Number[1]/text()"),
    ("<Dial><Number>+0123</Number></Dial>", 13223, E, "/Response/Dial[1]/Number[1]/text()"),
    ("<Dial><Number>0123456789012</Number></Dial>", 13223, E, "/Response/Dial[1]/Number[1]/text()"),
    ("<Dial>not a number</Dial>", 13223, E, "/Response/Dial[1]/text()"),
    ("<Dial><Number>1-800-CALLME</Number></Dial>", 13223, E, "/Response/Dial[1]/Number[1]/text()"),
    # numbers written with separators: the platform dials them (Cloudonix's own examples)
    ("<Dial>1-805-101010</Dial>", 13223, W, "/Response/Dial[1]/text()"),
    ("<Dial><Number>415-123-4567</Number></Dial>", 13223, W, "/Response/Dial[1]/Number[1]/text()"),
    (
        "<Dial><Number>+1 (415) 123.4567</Number></Dial>",
        13223,
        W,
        "/Response/Dial[1]/Number[1]/text()",
    ),
    # seconds: "a positive number of seconds" allows decimals, not less
    ("<Gather speechTimeout='-1.5'/><Hangup/>", 12200, E, "/Response/Gather[1]/@speechTimeout"),
    ("<Gather maxTimeout='0'/><Hangup/>", 12200, E, "/Response/Gather[1]/@maxTimeout"),
    ("<Gather maxDuration='soon'/><Hangup/>", 12200, E, "/Response/Gather[1]/@maxDuration"),
    ("<Pause length='-0.5'/>", 12200, E, "/Response/Pause[1]/@length"),
    # a Converse Tool is a web service: name and url are required
    ("<Converse><Tool name='t'/></Converse>", 12200, E, "/Response/Converse[1]/Tool[1]/@url"),
    (
        "<Converse><Tool url='https://a.example/t'/></Converse>",
        12200,
        E,
        "/Response/Converse[1]/Tool[1]/@name",
    ),
    (
        "<Converse><Tool name='t' url='ftp://a.example/t'/></Converse>",
        11100,
        E,
        "/Response/Converse[1]/Tool[1]/@url",
    ),
    # a port the platform cannot connect to
    ("<Redirect>https://a.example:99999/n</Redirect>", 11100, E, "/Response/Redirect[1]/text()"),
    (
        "<Gather action='https://a.example:abc/n'/><Hangup/>",
        11100,
        E,
        "/Response/Gather[1]/@action",
    ),
    ("<Dial/>", 12200, E, "/Response/Dial[1]"),
    ("<Dial>1001<Number>1002</Number></Dial>", 12200, E, "/Response/Dial[1]/text()"),
    ("<Dial><Sip>no-at-sign</Sip></Dial>", 12200, E, "/Response/Dial[1]/Sip[1]/text()"),
    (
        "<Dial><Service>+14155551234</Service></Dial>",
        12200,
        E,
        "/Response/Dial[1]/Service[1]/@provider",
    ),
    ("<Dial hangupOn='x'>1001</Dial>", 12200, E, "/Response/Dial[1]/@hangupOn"),
    # keys
    ("<Gather finishOnKey='##'/>", 12200, E, "/Response/Gather[1]/@finishOnKey"),
    ("<Record finishOnKey='a'/>", 12200, E, "/Response/Record[1]/@finishOnKey"),
    ("<Play digits='12x'>https://a.example/a.wav</Play>", 12200, E, "/Response/Play[1]/@digits"),
    ("<Coach> </Coach>", 12200, E, "/Response/Coach[1]/text()"),
    # unreachable verbs
    ("<Hangup/><Say>bye</Say>", 12200, W, "/Response/Say[1]"),
    ("<Redirect>https://a.example/n</Redirect><Hangup/>", 12200, W, "/Response/Hangup[1]"),
    ("<Reject/><Say>x</Say><Say>y</Say>", 12200, W, "/Response/Say[2]"),
    # a Gather that ends the document without asking for the no-input callback
    ("<Gather><Say>Press 1</Say></Gather>", 12200, W, "/Response/Gather[1]"),
    # unknown attributes
    ("<Dial minDigits='1'>1001</Dial>", 12200, W, "/Response/Dial[1]/@minDigits"),
    ("<Say>  </Say>", 12200, W, "/Response/Say[1]/text()"),
]


@pytest.mark.parametrize(("body", "code", "severity", "path"), CASES)
def test_rule(body: str, code: int, severity: str, path: str) -> None:
    assert (code, severity, path) in _found(body)


def test_version_on_response() -> None:
    issues = validate('<Response version="2"><Hangup/></Response>')
    assert [(i.code, i.severity, i.path) for i in issues] == [
        (12101, "error", "/Response/@version")
    ]


def test_every_issue_at_once_in_document_order_with_lines() -> None:
    text = (
        "<Response>\n"
        '  <Dial timeout="soon" bogus="1">\n'
        "    <Number>call me</Number>\n"
        "  </Dial>\n"
        "  <Hangup/>\n"
        "  <Say>late</Say>\n"
        "</Response>\n"
    )
    assert validate(text) == [
        Issue(12200, "error", "timeout='soon' is not an integer", "/Response/Dial[1]/@timeout", 2),
        Issue(12200, "warning", "unknown attribute bogus on <Dial>", "/Response/Dial[1]/@bogus", 2),
        Issue(
            13223,
            "error",
            "'call me' is neither an E.164 number nor an extension",
            "/Response/Dial[1]/Number[1]/text()",
            3,
        ),
        Issue(12200, "warning", "<Say> never runs: it follows <Hangup>", "/Response/Say[1]", 6),
    ]


def test_models_validate_without_lines() -> None:
    issues = validate(Response([Dial([Number("nope")])]))
    assert [(i.code, i.path, i.line) for i in issues] == [
        (13223, "/Response/Dial[1]/Number[1]/text()", None)
    ]


def test_unparseable_text_is_one_issue_not_an_exception() -> None:
    assert [(i.code, i.severity, i.line) for i in validate("<Response><Say></Response>")] == [
        (12100, "error", 1)
    ]
    assert [i.code for i in validate("<Hangup/>")] == [12102]
    assert [i.code for i in validate(b"<Response/>" + b" " * 70_000)] == [11750]


def test_gather_followed_by_a_verb_or_asking_for_empty_results_is_fine() -> None:
    assert validate("<Response><Gather/><Hangup/></Response>") == []
    assert validate('<Response><Gather actionOnEmptyResult="true"/></Response>') == []


def test_content_where_none_belongs_is_named() -> None:
    (issue,) = validate("<Response><Hangup>now</Hangup></Response>")
    assert issue.message == "<Hangup> takes no content"


def test_suggests_the_right_case() -> None:
    (issue,) = validate("<Response><hangup/></Response>")
    assert "did you mean <Hangup>?" in issue.message


@pytest.mark.parametrize(
    ("text", "dialled"),
    [
        ("1-805-101010", "1805101010"),
        ("415-123-4567", "4151234567"),
        ("(415) 123 4567", "4151234567"),
        ("415.123.4567", "4151234567"),
        ("+1 415 123 4567", "+14151234567"),
        (" +14155550100 ", "+14155550100"),
        ("1001", "1001"),
    ],
)
def test_a_number_with_separators_warns_with_the_number_dialled(text: str, dialled: str) -> None:
    assert dialled_number(text) == dialled
    issues = validate(f"<Response><Dial><Number>{text}</Number></Dial></Response>")
    if dialled == text.strip():
        assert issues == []
    else:
        (issue,) = issues
        assert (issue.code, issue.severity) == (13223, "warning")
        assert issue.message.endswith(f"the platform dials {dialled}")


@pytest.mark.parametrize(
    "text", ["call me", "1-800-CALLME", "--", "()", "+0123", "1-2-3-4-5-6-7-8-9-0-1-2-3-4-5-6"]
)
def test_text_that_is_no_number_even_without_separators_is_13223(text: str) -> None:
    assert dialled_number(text) is None
    (issue,) = validate(f"<Response><Dial><Number>{text}</Number></Dial></Response>")
    assert (issue.code, issue.severity) == (13223, "error")


def test_a_conference_of_any_positive_size_up_to_250_is_fine() -> None:
    for size, ok in (("1", True), ("250", True), ("0", False), ("251", False)):
        text = (
            f"<Response><Dial><Conference maxParticipants='{size}'>r</Conference></Dial></Response>"
        )
        assert (validate(text) == []) is ok


def test_seconds_take_decimals_as_the_gather_page_documents() -> None:
    text = (
        '<Response><Gather input="speech" speechTimeout="1.5" timeout="2.5" maxTimeout="0.5"'
        ' maxDuration="90.5"/><Pause length="0.5"/><Hangup/></Response>'
    )
    assert validate(text) == []
    gather = parse(text).children[0]
    assert isinstance(gather, Gather)
    assert (gather.speech_timeout, gather.timeout, gather.max_timeout) == (1.5, 2.5, 0.5)
    assert validate('<Response><Gather speechTimeout="auto"/><Hangup/></Response>') == []
    assert validate(Response([Gather(speech_timeout=1.5, timeout=3), Pause(length=0.25)])) == []


def test_valid_documents_have_no_issues() -> None:
    text = render(
        Response([Say("Hello"), Dial([Number("+14155550100"), Number("1001")], timeout=20)])
    )
    assert validate(text) == []
    assert validate(Response([Say("Hello")])) == []


def test_long_bad_values_are_shortened_in_messages() -> None:
    (issue,) = validate(f"<Response><Dial timeout='{'9x' * 50}'>1001</Dial></Response>")
    assert len(issue.message) < 100


@given(responses())
def test_generated_documents_are_clean(doc: Response) -> None:
    assert validate(doc) == []
    assert validate(render(doc)) == []


@given(responses(extras=True))
def test_extras_are_reported_never_raised(doc: Response) -> None:
    issues = validate(render(doc, pretty=True))
    assert all(i.path.startswith("/Response") for i in issues)
    assert all(i.line is not None and i.line >= 1 for i in issues)


@given(st.text(max_size=200))
def test_validate_never_raises(text: str) -> None:
    for issue in validate(text):
        assert issue.severity in ("error", "warning")


# --- validate and the simulator agree ----------------------------------------------------------

#: Codes the simulator records for a document it cannot run (not for an app or a stream failing).
DOCUMENT_CODES = {11100, 12101, 12200, 13223}

_broken = st.sampled_from(
    [
        Connect(),
        Connect([Stream()]),
        Connect([Stream(url="wss://a.example/1"), Stream(url="wss://a.example/2")]),
        Redirect(""),
        Redirect("   "),
        Redirect("http://[::1/next"),
        Redirect("https://a.example:99999/next"),
        Gather(action="http://[::1/menu", action_on_empty_result=True),
        Dial(["1001"], action="https://a.example:abc/after"),
        Record(action="http://[::1/rec"),
        Dial(["1-805-101010"]),
        Gather(speech_timeout=1.5, timeout=0.5, action_on_empty_result=True),
        Connect([Stream(url="https://a.example/stream")]),
        Start([Stream(url="/relative")]),
        Start([Stream()]),
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(sorted(nodes().items())).flatmap(lambda kv: kv[1]), _broken),
             min_size=1, max_size=4),
    st.lists(st.builds(Input, digits=st.sampled_from(["", "1", "12#"])), max_size=2),
    st.lists(st.integers(0, 5), max_size=2),
)  # fmt: skip
def test_the_simulator_fails_a_document_only_where_validate_finds_an_error(
    verbs: list[Any], gathers: list[Input], records: list[int]
) -> None:
    doc = Response(verbs)
    scenario = Scenario(
        gather=gathers, record=records, stream=StreamScript(seconds=0.0), max_stages=3
    )
    trace = interpret(lambda _: doc, {"CallSid": "CA1", "From": "+12125551234", "To": "1001"},
                      scenario, url="https://app.example.com/voice",
                      connector=StreamPeers(echo_peer))  # fmt: skip
    failed = {e.code for e in trace.errors if e.code in DOCUMENT_CODES}
    errors = {i.code for i in validate(doc) if i.severity == "error"}
    # What validate accepts runs without a document failure; a failure is one validate names.
    assert failed <= errors, trace.transcript()
    # And the trace names validate's errors for every document the call got.
    assert {issue.code for _, issue in trace.document_errors} == (
        errors if trace.documents else set()
    )
    assert all(1 <= stage <= trace.stages for stage, _ in trace.document_errors)


@given(e164(), st.lists(st.sampled_from([" ", "-", ".", "(", ")"]), max_size=6), st.data())
def test_separators_anywhere_in_a_number_read_as_the_number(
    number: str, separators: list[str], data: st.DataObject
) -> None:
    digits = list(number)
    for separator in separators:  # never before a leading +
        at = data.draw(st.integers(1 if number.startswith("+") else 0, len(digits)))
        digits.insert(at, separator)
    written = "".join(digits)
    assert dialled_number(written) == number
    severities = {i.severity for i in validate(Response([Dial([Number(written)])]))}
    assert severities == ({"warning"} if written.strip() != number else set())


@given(st.text(max_size=30))
def test_a_dialled_number_is_a_number_or_none(text: str) -> None:
    dialled = dialled_number(text)
    assert dialled is None or dialled.lstrip("+").isdigit()


@pytest.mark.parametrize(
    ("verb", "code"),
    [
        (Connect([Stream(url="https://a.example/stream")]), 11100),
        (Connect([Stream(url="wss://")]), 11100),
        (Start([Stream(url="/relative")]), 11100),
        (Start([Stream()]), 12200),
        (Connect(), 12200),
    ],
)
def test_a_stream_the_platform_cannot_open_fails_in_validate_and_in_the_simulator(
    verb: Any, code: int
) -> None:
    # The Stream page: "an invalid URL stops the application".
    doc = Response([verb, Say("after"), Hangup()])
    assert code in {i.code for i in validate(doc) if i.severity == "error"}
    trace = interpret(lambda _: doc, {"CallSid": "CA1"}, connector=StreamPeers(echo_peer))
    assert [(e.code, e.fatal) for e in trace.errors] == [(code, True)]
    assert trace.said == ()
