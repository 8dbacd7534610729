"""Parsing well-formed documents into the model, losslessly; bad input only raises our errors."""

from __future__ import annotations

import contextlib
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxml import (
    Coach,
    Conference,
    CxmlError,
    CxmlParseError,
    Dial,
    Element,
    Gather,
    Hangup,
    Node,
    Number,
    Record,
    Response,
    Say,
    parse,
    render,
    replace,
    validate,
)
from cxml._kinds import _Enum, _Float, _Int, _List
from cxml._model import Container
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


def test_aliases_are_read_normalised_and_written_as_they_were_read() -> None:
    doc = parse('<Response><Coach spyDirection="callee">tok</Coach></Response>')
    coach = doc.children[0]
    assert isinstance(coach, Coach)
    assert coach.spy_direction == "calee"  # the model's reading
    assert 'spyDirection="callee"' in render(doc)  # the text as written
    # A value the user sets is written in the model's spelling.
    assert 'spyDirection="calee"' in render(Response([replace(coach, spy_direction="callee")]))
    # Other fields changed around it keep its spelling.
    assert 'spyDirection="callee"' in render(Response([replace(coach, policy="barge")]))


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


# --- a round trip keeps what was written ---------------------------------------------------------


@pytest.mark.parametrize(
    ("element", "attribute"),
    [
        ('<Converse sessionTools="redirect dial"/>', "sessionTools"),
        ('<Converse statusCallbackEvent="in-progress completed"/>', "statusCallbackEvent"),
        ('<Gather input="dtmf,speech"/>', "input"),
        ('<Gather input="dtmf, speech" timeout="05"/>', "timeout"),
        ('<Gather speechTimeout="1.50"/>', "speechTimeout"),
        ('<Dial trunks="[1,2]">1001</Dial>', "trunks"),
        ('<Dial trunks="eu-1 us-2">1001</Dial>', "trunks"),
        ('<Dial><Conference trim="do-not-trim">r</Conference></Dial>', "trim"),
        ('<Record trim="do-no-trim"/>', "trim"),
        ('<Coach whisperDirection="callee">t</Coach>', "whisperDirection"),
        ('<Say loop="+2">x</Say>', "loop"),
        ('<Converse temperature="0.70"/>', "temperature"),
    ],
)
def test_a_value_comes_back_as_it_was_written(element: str, attribute: str) -> None:
    text = f'<?xml version="1.0" encoding="UTF-8"?>\n<Response>{element}</Response>'
    doc = parse(text)
    assert render(doc) == text
    assert parse(render(doc)) == doc
    written = text.split(f'{attribute}="')[1].split('"', maxsplit=1)[0]
    assert validate(text) == [] or all(i.severity == "warning" for i in validate(text))
    assert f'{attribute}="{written}"' in render(doc)


def test_the_model_reads_the_normalised_value_and_a_new_value_is_written_its_way() -> None:
    doc = parse('<Response><Dial><Conference trim="do-not-trim">r</Conference></Dial></Response>')
    dial = doc.children[0]
    assert isinstance(dial, Dial)
    room = dial.children[0]
    assert isinstance(room, Conference)
    assert room.trim == "do-no-trim"
    assert room == Conference("r", trim="do-no-trim")
    assert 'trim="do-not-trim"' in render(Response([Dial([replace(room, muted=True)])]))
    assert 'trim="do-no-trim"' in render(Response([Dial([replace(room, trim="do-not-trim")])]))
    # A spelling one kind reads is not carried to another that reads it otherwise.
    assert Record(trim=room.trim).trim == "do-not-trim"  # type: ignore[arg-type]
    assert 'trim="do-not-trim"' in render(Response([Record(trim=room.trim)]))  # type: ignore[arg-type]


def _spellings(kind: object, value: object) -> list[str]:
    """Wire texts other than the model's own that read as ``value``."""
    if isinstance(kind, _List):
        items = list(value)  # type: ignore[call-overload]
        out = [",".join(items), ", ".join(items), " " + " , ".join(items) + " "]
        return out + ([json.dumps(items)] if kind.json_arrays else [])
    if isinstance(kind, _Enum) and isinstance(value, str):
        return [alias for alias, target in kind.aliases.items() if target == value]
    if isinstance(kind, _Int) and type(value) is int:
        return [f"0{value}", f"+{value}"] if value >= 0 else []
    if isinstance(kind, _Float) and type(value) is float and "e" not in repr(value):
        return [repr(value) + "0"]
    return []


def _respelled(data: st.DataObject, node: object) -> Any:
    if not isinstance(node, Node):
        return node
    changes: dict[str, object] = {}
    for name, _, kind in node.wire:
        value = getattr(node, name)
        options = _spellings(kind, value) if value is not None else []
        respell: bool = bool(options) and data.draw(st.booleans())
        if respell:
            spelling: str = data.draw(st.sampled_from(options))
            typed = kind.read(spelling)
            assert typed == value
            changes[name] = typed
    if isinstance(node, Container):
        changes["children"] = tuple(_respelled(data, child) for child in node.children)
    return replace(node, **changes) if changes else node


@settings(max_examples=200)
@given(responses(extras=True), st.data())
def test_parse_then_render_gives_back_every_spelling(doc: Response, data: st.DataObject) -> None:
    written = _respelled(data, doc)
    assert written == doc  # the spellings read as the same values
    text = render(written)
    assert render(parse(text)) == text  # byte for byte
    assert canonical(render(parse(text), pretty=True)) == canonical(text)
    assert parse(text) == doc
    assert _errors(text) == _errors(doc)


def _errors(doc: Response | str) -> list[tuple[object, str, str]]:
    return [(i.code, i.path, i.message) for i in validate(doc) if i.severity == "error"]
