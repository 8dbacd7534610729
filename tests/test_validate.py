"""Validation: one case per rule, asserting code, severity and path; properties over documents."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxml import Dial, Issue, Number, Response, Say, render, validate
from cxml.strategies import responses


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
        E,
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
