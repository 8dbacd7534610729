"""Variables: substitution (compatible and strict), escapes, the size cap, references, injection."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxml import CxmlError
from flows._variables import (
    BUILTIN_VARIABLES,
    VariableError,
    check_initial_variables,
    references,
    substitute,
)

VARS = {"name": "Ann", "voipbin.call.source.target": "+15551230000", "n": "3", "empty": ""}

CASES = [
    ("Hello ${name}", "Hello Ann"),
    ("${name}${n}", "Ann3"),  # adjacent references
    ("${name} and ${name} from ${voipbin.call.source.target}", "Ann and Ann from +15551230000"),
    ("${missing}|${}", "|"),  # unknown and empty names read as "" (VoIPBIN)
    ("[${empty}]", "[]"),
    ("no references at all", "no references at all"),
    ("a lone $ and { and } stay", "a lone $ and { and } stay"),
    ("unterminated ${name", "unterminated ${name"),
    ("closed on the next line ${name\n}", "closed on the next line ${name\n}"),
    ("${a\n${name}", "${a\nAnn"),  # the later reference on the next line still counts
    ("${na${name}", ""),  # first '}' ends it: the name is 'na${name', unknown
    ("costs $${price}", "costs ${price}"),  # the escape
    ("$${name} is ${name}", "${name} is Ann"),
    ("$$${name}", "$${name}"),  # '$' then the escape, not '$' then a reference
    ("$$ and $}", "$$ and $}"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_substitute_text(text: str, expected: str) -> None:
    assert substitute(text, VARS) == expected


def test_substitute_nested_options_keeps_shape_and_types() -> None:
    option = {
        "text": "Hi ${name}",
        "loop": True,
        "count": 3,
        "none": None,
        "destinations": [{"type": "tel", "target": "${voipbin.call.source.target}"}, 7, False],
        "names": ["${name}", "${n}", 1.5],
        "${name}": "keys are not substituted",
    }
    assert substitute(option, VARS) == {
        "text": "Hi Ann",
        "loop": True,
        "count": 3,
        "none": None,
        "destinations": [{"type": "tel", "target": "+15551230000"}, 7, False],
        # VoIPBIN would make these ["Ann", "3", "1.5"]; we keep 1.5 a number.
        "names": ["Ann", "3", 1.5],
        "${name}": "keys are not substituted",
    }


def test_substitute_reads_frozen_options() -> None:
    # flows.Action freezes options into mapping proxies and tuples.
    frozen: Mapping[str, object] = MappingProxyType(
        {"a": ("${name}", MappingProxyType({"b": "${n}"}))}
    )
    assert substitute(frozen, VARS) == {"a": ("Ann", {"b": "3"})}


@pytest.mark.parametrize("scalar", [0, 1.5, True, None, b"${name}"])
def test_non_string_scalars_are_untouched(scalar: object) -> None:
    assert substitute(scalar, VARS) is scalar


def test_input_is_not_modified() -> None:
    option = {"text": "${name}", "list": ["${n}"]}
    substitute(option, VARS)
    assert option == {"text": "${name}", "list": ["${n}"]}


def test_strict_unknown_names_the_variable_and_path() -> None:
    option = {"text": "ok", "nested": [{"x": 1}, {"text": "Hi ${who}"}]}
    with pytest.raises(VariableError) as info:
        substitute(option, VARS, strict=True, path="$.actions[2].option")
    err = info.value
    assert (err.code, err.name, err.path) == (
        "UNKNOWN_VARIABLE",
        "who",
        "$.actions[2].option.nested[1].text",
    )
    assert "${who}" in str(err)
    assert "$.actions[2].option.nested[1].text" in str(err)
    assert isinstance(err, CxmlError)


@pytest.mark.parametrize(
    ("text", "name"),
    [("${}", ""), ("x ${name", None), ("${a\n}", None), ("${na${name}", "na${name")],
)
def test_strict_malformed(text: str, name: str | None) -> None:
    with pytest.raises(VariableError) as info:
        substitute({"text": text}, VARS, strict=True)
    assert (info.value.code, info.value.name, info.value.path) == ("BAD_VARIABLE", name, "$.text")


def test_strict_accepts_known_names_escapes_and_empty_values() -> None:
    text = "${name}${empty} $${literal} ${voipbin.call.source.target}"
    assert substitute(text, VARS, strict=True) == "Ann ${literal} +15551230000"


def test_compatible_is_the_default() -> None:
    assert substitute("${who}", VARS) == substitute("${who}", VARS, strict=False) == ""


def test_values_are_not_expanded_again() -> None:
    hostile = {"a": "${secret}", "b": "$${secret}", "c": "${a}", "secret": "s3cr3t"}
    for strict in (False, True):
        assert substitute("${a}", hostile, strict=strict) == "${secret}"
        assert substitute("${b}", hostile, strict=strict) == "$${secret}"
        assert substitute("${c}", hostile, strict=strict) == "${a}"
        # A value cannot complete a reference begun in the text, either.
        assert substitute("${a}}", {"a": "${x"}, strict=strict) == "${x}"


def test_size_cap() -> None:
    big = {"v": "x" * 40_000}
    with pytest.raises(VariableError) as info:
        substitute({"text": "${v}${v}"}, big)
    assert (info.value.code, info.value.path) == ("VALUE_TOO_LARGE", "$.text")
    assert substitute("${v}", big) == "x" * 40_000
    assert substitute("${v}${v}", big, max_bytes=80_000) == "x" * 80_000
    with pytest.raises(VariableError, match="VALUE_TOO_LARGE"):
        substitute("${v}" * 10_000, big)  # stops early rather than building 400 MB
    with pytest.raises(VariableError, match="VALUE_TOO_LARGE"):
        substitute("é${v}", {"v": "é" * 32_768})  # counted in UTF-8 bytes
    # Growth is capped, not length: long text as written, with nothing added, passes.
    long = "y" * 70_000
    assert substitute(long + "${none}", {}) == long
    with pytest.raises(VariableError, match="VALUE_TOO_LARGE"):
        substitute(long + "${v}", {"v": "z" * 10})  # grows past both the cap and the text


def test_references() -> None:
    option = {
        "text": "${a} and ${b.c}",
        "escaped": "$${x}",
        "broken": "${y",
        "n": 1,
        "list": ["plain", {"deep": "${}"}, "${d}${a}"],
    }
    assert references(option) == [
        (".text", "a"),
        (".text", "b.c"),
        (".list[1].deep", ""),
        (".list[2]", "d"),
        (".list[2]", "a"),
    ]
    assert references("${a}") == [("", "a")]
    assert references([1, None]) == []


def test_builtin_variables() -> None:
    expected = {
        "voipbin.activeflow.id",
        "voipbin.activeflow.complete_count",
        "voipbin.flow.reference_data",
        "voipbin.call.digits",
        "voipbin.call.source.target_name",
        "voipbin.call.destination.type",
        "voipbin.conversation.owner_id",
        "voipbin.conversation.self.target",
        "voipbin.conversation.peer.name",
        "voipbin.conversation_message.text",
        "voipbin.queue.detail",
        "voipbin.queuecall.timeout_service",
        "voipbin.aicall.pipecatcall_id",
        "voipbin.ai_summary.content",
        "voipbin.recording.filenames",
        "voipbin.transcribe.direction",
        "voipbin.tts.elevenlabs.voice_id",
    }
    assert expected <= BUILTIN_VARIABLES
    assert all(name.startswith("voipbin.") for name in BUILTIN_VARIABLES)
    assert len(BUILTIN_VARIABLES) == 6 + 1 + 14 + 12 + 3 + 3 + 3 + 6 + 5 + 6 + 3 + 1
    assert "voipbin.call.source" not in BUILTIN_VARIABLES


def test_initial_variables_accepted() -> None:
    values = {" campaign ": "summer", "intent": "", "k" * 10: "v" * 32_768}
    assert check_initial_variables(values) == {
        "campaign": "summer",
        "intent": "",
        "k" * 10: "v" * 32_768,
    }
    assert check_initial_variables({}) == {}
    assert check_initial_variables({f"k{i}": "v" for i in range(100)}) == {
        f"k{i}": "v" for i in range(100)
    }


def _problems(values: Any) -> tuple[str, ...]:
    with pytest.raises(VariableError) as info:
        check_initial_variables(values)
    assert info.value.code == "BAD_VARIABLES"
    return info.value.problems


def test_initial_variables_every_problem_named() -> None:
    problems = _problems(
        {
            "voipbin.activeflow.id": "forged",
            "  VOIPBIN.call.digits": "1",
            "count": 3,
            "big": "x" * 32_769,
            "  ": "blank",
            "dup": "1",
            " dup": "2",
        }
    )
    assert len(problems) == 6
    assert problems[0].startswith("voipbin.activeflow.id: ")
    assert "reserved" in problems[0]
    assert "reserved" in problems[1]
    assert "count: the value must be a string, not int" in problems
    assert any(p.startswith("big: ") and "32769 bytes" in p for p in problems)
    assert any("empty" in p for p in problems)
    assert any(p.startswith(" dup: ") for p in problems)


def test_initial_variables_error_carries_first_name() -> None:
    with pytest.raises(VariableError) as info:
        check_initial_variables({"ok": "1", "voipbin.x": "2"})
    assert (info.value.name, info.value.path) == ("voipbin.x", "$.voipbin.x")
    assert "voipbin.x" in str(info.value)


def test_initial_variables_limits() -> None:
    assert any("101 variables" in p for p in _problems({f"k{i}": "v" for i in range(101)}))
    three = {f"k{i}": "x" * 30 * 1024 for i in range(3)}  # each fits, the total does not
    assert len(_problems(three)) == 1
    assert _problems({"k": 1, 2: "v"}) == (
        "k: the value must be a string, not int",
        "2: a variable name must be a string",
    )
    with pytest.raises(VariableError, match="must be an object"):
        check_initial_variables(["a"])  # type: ignore[arg-type]


# --- properties ---

# Text rich in the characters that matter, plus anything else.
_TEXT = st.text(st.sampled_from("${}$.\na é") | st.characters(), max_size=40)
_MAPS = st.dictionaries(_TEXT, _TEXT, max_size=6)
_NESTED = st.recursive(
    _TEXT | st.integers() | st.booleans() | st.none(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(value=_NESTED, variables=_MAPS, strict=st.booleans(), max_bytes=st.integers(0, 100))
def test_substitute_only_raises_variable_error(
    value: object, variables: dict[str, str], strict: bool, max_bytes: int
) -> None:
    try:
        substitute(value, variables, strict=strict, max_bytes=max_bytes)
    except VariableError as exc:
        assert exc.code in ("UNKNOWN_VARIABLE", "BAD_VARIABLE", "VALUE_TOO_LARGE")


@given(text=st.text().filter(lambda t: "$" not in t), variables=_MAPS, strict=st.booleans())
def test_text_without_dollar_is_unchanged(
    text: str, variables: dict[str, str], strict: bool
) -> None:
    assert substitute(text, variables, strict=strict) == text


@given(text=_TEXT, value=st.text(st.characters(exclude_characters="${}"), max_size=5))
def test_no_reference_survives_a_complete_map(text: str, value: str) -> None:
    names = {name for _, name in references(text)}
    result = substitute(text, dict.fromkeys(names, value))
    # Only an escape writes '${', so each '${name}' left must be one of those.
    escapes = text.count("$${")
    for name in names:
        assert result.count("${" + name + "}") <= escapes
    if escapes == 0:
        assert all("${" + name + "}" not in result for name in names)


@given(text=_TEXT, variables=_MAPS)
def test_strict_agrees_with_compatible_when_it_succeeds(
    text: str, variables: dict[str, str]
) -> None:
    try:
        strict = substitute(text, variables, strict=True)
    except VariableError:
        return
    assert strict == substitute(text, variables)
