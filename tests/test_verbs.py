"""Every declared element is handled everywhere: a verb or noun is one class declaration (its
`_node` registers it, its parent's adder allows it) plus its behaviour, and a missed place
fails here rather than silently."""

from __future__ import annotations

import re

import attrs
import pytest
from hypothesis import find, given, settings

import cxml
from cxml import Node, Response, parse, render, validate
from cxml._interpret import RUNS
from cxml._model import BY_TAG, VERBS, _node
from cxml._validate import NO_RULES, _Checker
from cxml.strategies import nodes, responses

TAGS = sorted(BY_TAG)


def _tags(node: object) -> set[str]:
    if not isinstance(node, Node):
        return set()
    found = {node.tag}
    body = node.__dict__.get(node.body) if node.body else None
    for child in body if isinstance(body, tuple) else ():
        found |= _tags(child)
    return found


def test_the_registry_holds_every_node_class_of_cxml() -> None:
    declared = {
        obj
        for obj in vars(cxml).values()
        if isinstance(obj, type) and issubclass(obj, Node) and hasattr(obj, "tag")
    }
    assert declared == set(BY_TAG.values())
    assert all(cls.tag == tag for tag, cls in BY_TAG.items())


def test_the_verbs_are_what_a_response_has_adders_for() -> None:
    assert set(VERBS) == Response.allowed
    for tag in VERBS:
        adder = getattr(Response, re.sub(r"(?<!^)([A-Z])", r"_\1", tag).lower())
        assert adder.adds is BY_TAG[tag]


def test_every_allowed_child_is_a_declared_element() -> None:
    for cls in BY_TAG.values():
        assert cls.allowed <= set(BY_TAG), cls


def test_a_tag_cannot_be_declared_twice() -> None:
    @attrs.frozen(repr=False, slots=False)
    class Whisper(Node):
        pass

    with pytest.raises(TypeError, match="<Say> is declared twice"):
        _node("Say")(Whisper)
    assert BY_TAG["Say"] is cxml.Say


@pytest.mark.parametrize("tag", TAGS)
def test_every_element_has_validate_rules_or_is_declared_without(tag: str) -> None:
    has_rule = hasattr(_Checker, f"rule_{tag}")
    assert has_rule != (tag in NO_RULES), f"<{tag}>: a rule_{tag} method, or list it in NO_RULES"


def test_the_interpreter_runs_every_verb_and_only_verbs() -> None:
    assert set(RUNS) == {BY_TAG[tag] for tag in VERBS}


def test_the_strategies_draw_every_verb() -> None:
    assert set(nodes()) == set(VERBS)


def test_every_element_is_generated_and_round_trips() -> None:
    seen: set[str] = set()

    def check(doc: Response) -> None:
        seen.update(_tags(doc))
        text = render(doc)
        assert parse(text) == doc
        assert render(parse(text)) == text
        assert [i for i in validate(doc) if i.severity == "error"] == []

    settings(max_examples=400, database=None, derandomize=True)(given(responses())(check))()
    # Hypothesis may end a run early on a loaded machine: a tag it missed is searched for.
    for tag in sorted(set(BY_TAG) - seen):

        def holds(doc: Response, tag: str = tag) -> bool:
            return tag in _tags(doc)

        check(find(responses(), holds, settings=settings(database=None, max_examples=5000)))
    assert seen == set(BY_TAG)


def test_type_checkers_see_each_adder_signature() -> None:
    # mypy --strict checks this file: were an adder's signature lost, the ignores below
    # would be unused, which strict mode reports.
    doc = Response().say("Hi", loop=2).dial("+14155550100", timeout=20)
    assert render(doc).endswith(
        '<Say loop="2">Hi</Say><Dial timeout="20">+14155550100</Dial></Response>'
    )
    with pytest.raises(TypeError):
        Response().say("Hi", lop=2)  # type: ignore[call-arg]
    with pytest.raises(cxml.CxmlValueError):
        Response().gather(num_digits="1")  # type: ignore[arg-type]
