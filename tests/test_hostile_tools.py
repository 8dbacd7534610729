"""Issue 17 item 1: tool templates and schema patterns cannot take unbounded time or memory."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers import Function, ToolError
from providers.tools._templates import JsonTemplate


def test_the_issues_groupby_template_is_refused() -> None:
    with pytest.raises(ToolError) as info:
        JsonTemplate("{{ range(99999)|groupby('real')|length }}").render({})
    assert info.value.code == "TEMPLATE_TOO_LARGE"


def test_chained_filters_cannot_grow_past_the_cap() -> None:
    chain = JsonTemplate("{{ (range(1000)|list|string|list|string|list|string)|length }}")
    with pytest.raises(ToolError) as info:
        chain.render({})
    assert info.value.code == "TEMPLATE_TOO_LARGE"


def test_many_cheap_steps_hit_the_time_budget() -> None:
    unit = "{{ range(1000)|groupby('real')|length }}"
    template = JsonTemplate("[" + ",".join([unit] * 380) + "]")
    started = time.process_time()
    with pytest.raises(ToolError) as info:
        template.render({})
    assert info.value.code == "TEMPLATE_TOO_SLOW"
    assert time.process_time() - started < 2  # generous: the budget is 0.25 s of CPU


def _function(pattern: str) -> Function:
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": pattern}}}
    return Function(name="f", url="https://hooks.example.com/x", description="d", parameters=schema)


@pytest.mark.parametrize("pattern", ["^(a+)+$", "(a|ab)+$", r"\d+\d+x", "^(a?a?)+$", "(.*a){12}$"])
def test_backtracking_patterns_match_in_linear_time(pattern: str) -> None:
    """Each takes Python's re seconds (or longer) on the argument below; RE2 answers at once."""
    function = _function(pattern)
    hostile = "a" * 5_000 + "!"
    started = time.process_time()
    with pytest.raises(ToolError) as info:
        function.check_arguments({"code": hostile})
    assert time.process_time() - started < 1  # generous: RE2 takes well under a millisecond
    assert info.value.code == "INVALID_ARGUMENTS"
    assert hostile not in info.value.message  # the rule is named, not the value


@pytest.mark.parametrize("pattern", ["(a)\\1", "^(?=a)a$", "(?<!x)y", "a{2000}"])
def test_patterns_that_need_backtracking_are_refused_when_the_function_is_defined(
    pattern: str,
) -> None:
    with pytest.raises(ToolError) as info:
        _function(pattern)
    assert info.value.code == "INVALID_FUNCTION"
    assert "$.properties.code.pattern cannot be matched without backtracking" in info.value.message


def test_pattern_properties_are_refused_with_their_path() -> None:
    schema = {
        "type": "object",
        "properties": {"tags": {"type": "object", "patternProperties": {"^x-": {}}}},
    }
    with pytest.raises(ToolError) as info:
        Function(name="f", url="https://hooks.example.com/x", description="d", parameters=schema)
    assert "$.properties.tags.patternProperties is not supported" in info.value.message


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (r"^\d{4}-\d{2}-\d{2}$", "2026-12-04", "2026-12-4"),
        (r"^\w+@\w+\.\w+$", "ann@example.com", "ann@example"),
        (r"(\d{1,3}\.){3}", "10.0.0.1", "10.0"),
        ("ö+", "schön", "schon"),
    ],
)
def test_ordinary_patterns_match_as_json_schema_says(pattern: str, good: str, bad: str) -> None:
    function = _function(pattern)
    assert function.check_arguments({"code": good}) == {"code": good}
    with pytest.raises(ToolError, match="does not satisfy pattern"):
        function.check_arguments({"code": bad})


#: Any code point, lone surrogates included (JSON text can carry them).
_ANY_TEXT = st.characters(exclude_categories=())


@given(pattern=st.text(_ANY_TEXT, max_size=40), argument=st.text(_ANY_TEXT, max_size=200))
def test_any_pattern_and_argument_raise_only_tool_errors(pattern: str, argument: str) -> None:
    try:
        function = _function(pattern)
    except ToolError as exc:
        assert exc.code == "INVALID_FUNCTION"
        return
    try:
        function.check_arguments({"code": argument})
    except ToolError as exc:
        assert exc.code == "INVALID_ARGUMENTS"
