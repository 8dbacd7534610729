"""Issue 17 item 1: tool templates and schema patterns cannot take unbounded time or memory."""

from __future__ import annotations

import time

import pytest

from providers import Function, ToolError
from providers.tools._patterns import pattern_problem
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


@pytest.mark.parametrize("pattern", ["^(a+)+$", "(a|ab)+", r"\d+\d+x", "(a)\\1", "^(a?a?)+$"])
def test_backtracking_patterns_are_refused_when_the_function_is_defined(pattern: str) -> None:
    with pytest.raises(ToolError) as info:
        _function(pattern)
    assert info.value.code == "INVALID_FUNCTION"
    assert "$.properties.code.pattern" in info.value.message


@pytest.mark.parametrize("pattern", [r"^\d{4}-\d{2}-\d{2}$", r"^\w+@\w+\.\w+$", r"(\d{1,3}\.){3}"])
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    assert pattern_problem(pattern) is None
    assert _function(pattern).spec()["function"]["name"] == "f"


def test_a_pattern_is_matched_against_bounded_text_only() -> None:
    function = _function("^[a-z]+$")
    assert function.check_arguments({"code": "abc"}) == {"code": "abc"}
    with pytest.raises(ToolError, match="longer than 1024 characters"):
        function.check_arguments({"code": "a" * 2000})
