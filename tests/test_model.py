"""The document model: construction checks, builders, reprs, aliases."""

from __future__ import annotations

import pytest

import cxml
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


def test_with_action_keeps_field_order_and_checks_the_action() -> None:
    from cxml._model import response_of, with_action

    template = Gather(Say("Press 1"), num_digits=1, timeout=5)
    made = with_action(template, "https://example.com/next?a=1")
    assert made == Gather(
        Say("Press 1"), action="https://example.com/next?a=1", num_digits=1, timeout=5
    )
    assert cxml.render(Response(made)) == cxml.render(
        Response(
            Gather(Say("Press 1"), action="https://example.com/next?a=1", num_digits=1, timeout=5)
        )
    )
    assert with_action(template, None) is template
    assert "action" not in template.__dict__  # the template is left as it was
    with pytest.raises(CxmlValueError):
        with_action(template, "https://example.com/\x00")
    with pytest.raises(TypeError):
        with_action(made, "https://example.com/again")  # already has one
    with pytest.raises(TypeError):
        with_action(Say("hi"), "https://example.com/")  # no action attribute
    assert response_of([made]) == Response(made)
    assert response_of([]) == Response()
    with pytest.raises(TypeError):
        response_of(["text"])  # type: ignore[list-item]
