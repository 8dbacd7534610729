"""cxml.testing: canonical comparison that ignores form, not meaning."""

from __future__ import annotations

import pytest
from hypothesis import given

from cxml import CxmlParseError, Dial, Hangup, Number, Response, Say, render
from cxml.strategies import responses
from cxml.testing import assert_cxml_equal, canonical


def test_form_does_not_matter() -> None:
    a = (
        '<?xml version="1.0"?>'
        '<Response><Dial timeout="20" action="/a">1001</Dial><Hangup/></Response>'
    )
    b = (
        "<Response>\n  <Dial action='/a' timeout='20'>1001</Dial>\n"
        "  <!-- done -->\n  <Hangup></Hangup>\n</Response>"
    )
    assert canonical(a) == canonical(b)
    assert_cxml_equal(a, b.encode())
    assert_cxml_equal(Response([Dial("1001", action="/a", timeout=20), Hangup()]), a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("<Response><Say>hi</Say></Response>", "<Response><Say> hi</Say></Response>"),
        ("<Response><Say>hi</Say></Response>", "<Response><Say voice='man'>hi</Say></Response>"),
        (
            "<Response><Hangup/><Say>x</Say></Response>",
            "<Response><Say>x</Say><Hangup/></Response>",
        ),
        ("<Response><Dial>1001</Dial></Response>", "<Response><Dial> 1001</Dial></Response>"),
    ],
)
def test_meaning_does(a: str, b: str) -> None:
    assert canonical(a) != canonical(b)
    with pytest.raises(AssertionError):
        assert_cxml_equal(a, b)


def test_failure_shows_a_line_diff() -> None:
    actual = Response([Say("Hello"), Dial([Number("+14155550100")], timeout=20)])
    expected = Response([Say("Hello"), Dial([Number("+14155550199")], timeout=20)])
    with pytest.raises(AssertionError) as info:
        assert_cxml_equal(actual, expected)
    message = str(info.value)
    assert "-    <Number>+14155550100</Number>" in message
    assert "+    <Number>+14155550199</Number>" in message
    assert "<Say>Hello</Say>" in message  # context


def test_refuses_what_is_not_cxml() -> None:
    with pytest.raises(CxmlParseError):
        canonical("<Dial/>")
    with pytest.raises(CxmlParseError):
        canonical("<Response>")


@given(responses(extras=True))
def test_pretty_and_compact_are_the_same_document(doc: Response) -> None:
    assert_cxml_equal(render(doc), render(doc, pretty=True))
