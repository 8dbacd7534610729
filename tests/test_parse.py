"""Parsing well-formed documents into the model, losslessly; bad input only raises our errors."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxml import (
    CxmlError,
    CxmlParseError,
    Dial,
    Element,
    Gather,
    Hangup,
    Number,
    Response,
    Say,
    parse,
    render,
)
from cxml.strategies import responses
from cxml.testing import canonical


def test_reads_typed_attributes() -> None:
    doc = parse(
        '<Response><Gather numDigits="1" input="dtmf speech" actionOnEmptyResult="true"'
        ' speechTimeout="auto" timeout="7"><Say loop="0">Hi</Say></Gather></Response>'
    )
    assert doc == Response(
        [
            Gather(
                [Say("Hi", loop=0)],
                num_digits=1,
                input=("dtmf", "speech"),
                action_on_empty_result=True,
                speech_timeout="auto",
                timeout=7,
            )
        ]
    )


def test_unreadable_values_and_unknown_attributes_are_kept_in_extra() -> None:
    doc = parse('<Response><Dial timeout="soon" minDigits="2" record="yes">1001</Dial></Response>')
    dial = doc.children[0]
    assert isinstance(dial, Dial)
    assert dial.timeout is None
    assert dial.extra == (("timeout", "soon"), ("minDigits", "2"), ("record", "yes"))
    assert 'timeout="soon" minDigits="2" record="yes"' in render(doc)


def test_unknown_elements_and_ssml_are_kept() -> None:
    text = (
        '<Response><Voicemail box="1"><Say>x</Say></Voicemail>'
        '<Say>Hello <break time="1s"/>world <emphasis>now</emphasis>!</Say></Response>'
    )
    doc = parse(text)
    assert doc.children[0] == Element("Voicemail", [Element("Say", ["x"])], attributes={"box": "1"})
    assert doc.children[1] == Say(
        [
            "Hello ",
            Element("break", attributes={"time": "1s"}),
            "world ",
            Element("emphasis", ["now"]),
            "!",
        ]
    )
    assert canonical(render(doc)) == canonical(text)


def test_content_where_the_model_has_none_is_kept_as_an_element() -> None:
    doc = parse("<Response><Hangup>now</Hangup><Number><x/></Number></Response>")
    assert doc.children[0] == Element("Hangup", ["now"])
    assert doc.children[1] == Number([Element("x")])


def test_layout_whitespace_is_dropped_other_text_kept() -> None:
    doc = parse("<Response>\n  <Dial> +14155550100 </Dial>\n  <Say>  spaced  </Say>\n</Response>")
    assert doc == Response([Dial(" +14155550100 "), Say("  spaced  ")])
    assert parse("<Response>stray<Hangup/>tail</Response>").children == ("stray", Hangup(), "tail")


def test_comments_are_dropped() -> None:
    doc = parse('<Response><!-- metadata key="a" --><Say>a<!-- x -->b</Say></Response>')
    assert doc == Response([Say("ab")])


def test_cdata_is_text() -> None:
    assert parse("<Response><Say><![CDATA[a < b & c]]></Say></Response>") == Response(
        [Say("a < b & c")]
    )


def test_encodings() -> None:
    latin = '<?xml version="1.0" encoding="ISO-8859-1"?><Response><Say>caf\xe9</Say></Response>'
    assert parse(latin.encode("latin-1")) == Response([Say("caf\xe9")])
    # A str is already decoded: its declaration's encoding is not applied again.
    assert parse(latin) == Response([Say("caf\xe9")])
    utf16 = '<?xml version="1.0" encoding="UTF-16"?><Response><Say>\u00e9\u4e2d</Say></Response>'
    assert parse(utf16.encode("utf-16")) == Response([Say("\u00e9\u4e2d")])


def test_aliases_are_normalised_when_read() -> None:
    doc = parse('<Response><Coach spyDirection="callee">tok</Coach></Response>')
    assert 'spyDirection="calee"' in render(doc)


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("<Response><Say>x</Response>", 12100, 1),
        ("<Response>\n<Say>\nx</Dial></Response>", 12100, 3),
        ("", 12100, 1),
        ("   <?xml version='1.0'?><Response/>", 12100, 1),
        ("<Dial>+1</Dial>", 12102, 1),
        ("<response/>", 12102, 1),
        ("<Response/><Response/>", 12100, 1),
        ("<Response>&nbsp;</Response>", 12100, 1),
    ],
)
def test_errors_have_codes_and_positions(text: str, code: int, line: int) -> None:
    with pytest.raises(CxmlParseError) as info:
        parse(text)
    assert info.value.code == code
    assert info.value.line == line
    if code == 12100:
        assert info.value.column is not None
        assert str(info.value).count("column") == 1


def test_size_cap_is_configurable() -> None:
    text = "<Response>" + "<Pause/>" * 9000 + "</Response>"
    with pytest.raises(CxmlParseError) as info:
        parse(text)
    assert info.value.code == 11750
    assert len(parse(text, max_bytes=None).children) == 9000
    with pytest.raises(CxmlParseError):
        parse("<Response/>", max_bytes=5)


def test_depth_cap_is_configurable() -> None:
    nested = "<Response>" + "<x>" * 10 + "</x>" * 10 + "</Response>"
    assert parse(nested, max_depth=11)
    with pytest.raises(CxmlParseError, match="nested more than 10"):
        parse(nested, max_depth=10)


def test_rejects_non_document_arguments() -> None:
    with pytest.raises(CxmlParseError):
        parse(42)  # type: ignore[arg-type]


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_our_errors(data: bytes) -> None:
    with contextlib.suppress(CxmlError):
        parse(data)


@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_our_errors(data: str) -> None:
    with contextlib.suppress(CxmlError):
        parse(data)


@given(responses(extras=True), st.data())
def test_damaged_documents_raise_only_our_errors(doc: Response, data: st.DataObject) -> None:
    text = render(doc).encode()
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 8)))
    junk = data.draw(st.binary(max_size=8))
    with contextlib.suppress(CxmlError):
        parse(text[:start] + junk + text[end:])


@given(responses(extras=True))
def test_parse_inverts_render(doc: Response) -> None:
    assert parse(render(doc)) == doc
    assert parse(render(doc, pretty=True)) == doc
    assert parse(render(doc).encode("utf-8")) == doc


def test_each_thread_parses_with_its_own_parser() -> None:
    docs = [render(Response([Say(f"caller {i}"), Dial(str(1000 + i))])) for i in range(50)]

    def work(offset: int) -> list[Response]:
        return [parse(docs[(offset + i) % 50]) for i in range(200)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(4)))
    for offset, parsed in enumerate(results):
        assert parsed == [parse(docs[(offset + i) % 50]) for i in range(200)]
