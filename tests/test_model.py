"""The document model: construction checks, builders, reprs, aliases."""

from __future__ import annotations

import traceback

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cxml
import cxml.strategies as cxml_strategies
from cxml import (
    Coach,
    Conference,
    CxmlError,
    CxmlValueError,
    Dial,
    Element,
    Gather,
    Header,
    Number,
    Parameter,
    Record,
    Reject,
    Response,
    Say,
    Service,
    Sip,
    Stream,
)


def test_fields_are_snake_case_and_default_to_absent() -> None:
    gather = Gather(num_digits=1, action_on_empty_result=True)
    assert gather.finish_on_key is None
    assert gather.num_digits == 1
    assert tuple(wire for name, wire, _ in Gather.wire if getattr(gather, name) is not None) == (
        "numDigits",
        "actionOnEmptyResult",
    )


def test_nodes_are_frozen_and_hashable() -> None:
    dial = Dial([Number("+14155550100")], timeout=20)
    with pytest.raises(AttributeError):
        dial.timeout = 30  # type: ignore[misc]
    assert hash(dial) == hash(Dial([Number("+14155550100")], timeout=20))


def test_chained_builder_returns_new_nodes() -> None:
    empty = Response()
    doc = empty.say("Hello").dial(Number("+14155550100"), timeout=20).hangup()
    assert empty.children == ()
    assert [type(c).__name__ for c in doc.children] == ["Say", "Dial", "Hangup"]
    dial = Dial(timeout=20).number("+14155550100").header(name="X-A", value="1")
    assert dial.children == (Number("+14155550100"), Header(name="X-A", value="1"))
    stream = Stream(url="wss://a.example").parameter(name="n", value="v")
    assert stream.children == (Parameter(name="n", value="v"),)


def test_single_child_and_sequences_are_accepted() -> None:
    assert Response(Say("a")) == Response([Say("a")]) == Response((Say("a"),))
    assert Dial("+14155550100").children == ("+14155550100",)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Dial(timeout="20"), "Dial.timeout"),  # type: ignore[arg-type]
        (lambda: Dial(timeout=True), "Dial.timeout"),
        (lambda: Say("hi", answer="true"), "Say.answer"),  # type: ignore[arg-type]
        (lambda: Reject(reason="nope"), "Reject.reason"),  # type: ignore[arg-type]
        (lambda: Gather(input=["dtmf", "fax"]), "Gather.input"),
        (lambda: Gather(input=[""]), "Gather.input"),
        (lambda: Coach("t", policy="shout"), "Coach.policy"),  # type: ignore[arg-type]
        (lambda: Response([Say("a"), 3]), "Response children"),  # type: ignore[list-item]
        (lambda: Say(["a", 3]), "Say text"),  # type: ignore[list-item]
    ],
)
def test_wrong_types_and_values_name_the_field(build: object, field: str) -> None:
    with pytest.raises(CxmlValueError) as info:
        build()  # type: ignore[operator]
    assert field in str(info.value)
    assert isinstance(info.value, CxmlError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x0b", "\x1f", "\ufffe", "\uffff", "\ud800"])
def test_characters_xml_cannot_carry_raise_our_error(bad: str) -> None:
    for build in (
        lambda: Say(f"a{bad}b"),
        lambda: Dial([Number("1")], action=f"https://x/{bad}"),
        lambda: Say("a", extra={"data-x": bad}),
        lambda: Element("break", [bad]),
    ):
        with pytest.raises(CxmlValueError) as info:
            build()
        assert info.value.code == 12100


def test_legal_control_characters_are_kept() -> None:
    assert Say("a\tb\r\nc").text == "a\tb\r\nc"


@pytest.mark.parametrize("name", ["1abc", "a b", "a>b", "", "ns:x", "xmlns:x"])
def test_extra_attribute_names_must_be_xml_names(name: str) -> None:
    with pytest.raises(CxmlValueError):
        Say("a", extra={name: "v"})


def test_extra_cannot_repeat_a_modelled_attribute() -> None:
    with pytest.raises(CxmlValueError, match="timeout"):
        Dial("1001", timeout=5, extra={"timeout": "6"})
    # ...but may hold it when the field is absent (how parse keeps an unreadable value).
    assert Dial("1001", extra={"timeout": "soon"}).extra == (("timeout", "soon"),)


def test_aliases_are_normalised_to_cloudonix_spellings() -> None:
    coach = Coach("token", spy_direction="callee", whisper_direction="calee")  # type: ignore[arg-type]
    assert (coach.spy_direction, coach.whisper_direction) == ("calee", "calee")
    assert Conference("room", trim="do-not-trim").trim == "do-no-trim"  # type: ignore[arg-type]
    assert Record(trim="do-no-trim").trim == "do-not-trim"  # type: ignore[arg-type]


def test_lists_accept_strings_and_sequences() -> None:
    assert Gather(input="dtmf speech").input == ("dtmf", "speech")
    assert Gather(input=["speech"]).input == ("speech",)
    assert Dial("1", trunks="a,b").trunks == ("a", "b")


def test_repr_shows_what_is_set_and_hides_secrets() -> None:
    sip = Sip("bot@sip.example.com", username="u", password="hunter2")
    service = Service("+14155551234", provider="retell", password="s3cret")
    assert repr(sip) == "Sip('bot@sip.example.com', username='u', password=***)"
    assert "s3cret" not in repr(Response([Dial([service])]))
    assert repr(Dial(timeout=20)) == "Dial(timeout=20)"


def test_public_names_report_the_public_module() -> None:
    assert Dial.__module__ == "cxml"
    assert cxml.CxmlParseError.__module__ == "cxml"


def test_exports_are_pinned() -> None:
    public = {n for n in dir(cxml) if not n.startswith("_")} - {
        "annotations",
        "testing",
        "strategies",
        "pytest_plugin",  # the simulate_call fixture, imported by the tests that use it
    }
    assert set(cxml.__all__) == public


def test_replace_changes_fields_in_field_order_and_leaves_the_node_alone() -> None:
    template = Gather(Say("Press 1"), num_digits=1, timeout=5, extra={"x-note": "a"})
    made = cxml.replace(template, action="https://example.com/next?a=1")
    built = Gather(
        Say("Press 1"),
        action="https://example.com/next?a=1",
        num_digits=1,
        timeout=5,
        extra={"x-note": "a"},
    )
    assert made == built
    assert cxml.render(Response(made)) == cxml.render(Response(built))  # action written first
    assert template.action is None  # the template is left as it was
    assert made.children is template.children  # shared, not copied
    assert cxml.replace(made, action=None) == template  # None unsets
    assert cxml.replace(made, children=()) == Gather(
        action="https://example.com/next?a=1", num_digits=1, timeout=5, extra={"x-note": "a"}
    )
    assert cxml.replace(made) == made


@pytest.mark.parametrize(
    "changes",
    [
        {"action": "https://example.com/\x00"},
        {"num_digits": "1"},
        {"children": [Say("hi"), 3]},
        {"extra": {"bad name": "x"}},
        {"extra": {"numDigits": "2"}},  # num_digits is set
    ],
)
def test_replace_checks_as_the_constructor_does(changes: dict[str, object]) -> None:
    with pytest.raises(CxmlValueError):
        cxml.replace(Gather(num_digits=1), **changes)


def test_replace_refuses_unknown_fields_and_non_nodes() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'url'"):
        cxml.replace(Say("hi"), url="https://example.com/")
    with pytest.raises(TypeError):
        cxml.replace("<Say/>", text="hi")  # type: ignore[type-var]


def test_appending_checks_every_character() -> None:
    with pytest.raises(CxmlValueError):
        Response().say("a\x00b")
    with pytest.raises(CxmlValueError):
        Dial().append("+1415\x00")


def test_the_declared_converters_are_what_checks_the_body_and_extra() -> None:
    for cls in (Dial, Say, Reject):
        fields = attrs.fields(cls)
        if cls.body:
            assert cls.checks[cls.body][1] is getattr(fields, cls.body).converter
        assert cls.checks["extra"][1] is fields.extra.converter
    with pytest.raises(CxmlValueError, match="Dial children"):
        Dial([Number("+14155550100"), 3])  # type: ignore[list-item]
    with pytest.raises(CxmlValueError, match="Say text"):
        Say("a\x01")


def test_a_bad_argument_traceback_shows_the_generated_init() -> None:
    with pytest.raises(CxmlValueError) as caught:
        Gather(timeout="soon")  # type: ignore[arg-type]
    text = "".join(traceback.format_exception(caught.value))
    assert '<cxml generated __init__ of Gather>", line ' in text
    assert "_d['timeout'] = _check_timeout(timeout, 'Gather', 'timeout')" in text  # linecache


_hostile = st.one_of(
    st.none(),
    st.text(max_size=5),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.lists(st.one_of(st.text(max_size=3), st.integers()), max_size=3),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    st.builds(object),
)


@given(
    doc=cxml_strategies.responses(extras=True, max_verbs=3),
    field=st.sampled_from(["action", "timeout", "input", "text", "children", "extra", "loop"]),
    value=_hostile,
)
def test_replace_raises_only_our_errors_on_hostile_values(
    doc: Response, field: str, value: object
) -> None:
    for node in (doc, *doc.children):
        if not isinstance(node, cxml.Node):
            continue
        assert cxml.replace(node) == node
        try:
            made = cxml.replace(node, **{field: value})
        except (CxmlValueError, TypeError) as exc:
            assert isinstance(exc, CxmlValueError) or "unexpected keyword argument" in str(exc)
            continue
        if isinstance(made, Response):
            assert cxml.parse(cxml.render(made)) == made
        else:
            assert cxml.parse(cxml.render(Response(made))) == Response(made)
