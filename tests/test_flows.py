"""Flow definitions: the seed's examples load clean, each rule reports its code at its path."""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import Awaitable
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from cxml import Issue
from cxml._data import MAX_VALUES
from flows import (
    ACTIONS,
    Caller,
    FlowError,
    RunResult,
    graph,
    json_schema,
    load_flow,
    run,
    validate_flow,
)
from flows.strategies import flows
from providers import HttpPolicy, ScriptedEngine

# The ``actions`` of each curl example in seed 003 (VoIPBIN's AI tutorial), as written there.
SEED_FLOWS: dict[str, list[dict[str, Any]]] = {
    "simple_ai": [
        {"type": "answer"},
        {
            "type": "ai",
            "option": {
                "initial_prompt": "You are a helpful customer service assistant. "
                "Answer questions politely and concisely.",
                "voice_type": "female",
            },
        },
    ],
    "ai_talk": [
        {"type": "answer"},
        {
            "type": "ai_talk",
            "option": {
                "initial_prompt": "You are an expert sales representative for VoIPBIN. Help "
                "customers understand our calling and messaging platform. Be enthusiastic but "
                "professional.",
                "voice_type": "male",
            },
        },
    ],
    "custom_voice_id": [
        {"type": "answer"},
        {
            "type": "variable_set",
            "option": {"key": "voipbin.tts.elevenlabs.voice_id", "value": "21m00Tcm4TlvDq8ikWAM"},
        },
        {
            "type": "ai_talk",
            "option": {
                "initial_prompt": "You are a friendly receptionist. Greet callers warmly and "
                "help them with their inquiries."
            },
        },
    ],
    "summary": [
        {"type": "answer"},
        {"type": "transcribe_start", "option": {"language": "en-US"}},
        {
            "type": "talk",
            "option": {
                "text": "Hello! This call is being transcribed and summarized. Please tell me "
                "about your experience with our service.",
                "language": "en-US",
            },
        },
        {"type": "sleep", "option": {"duration": 30000}},
        {
            "type": "ai_summary",
            "option": {"source_type": "transcribe", "source_id": "${voipbin.transcribe.id}"},
        },
        {
            "type": "talk",
            "option": {
                "text": "Thank you for your feedback. We have recorded and summarized your call.",
                "language": "en-US",
            },
        },
    ],
    "real_time_summary": [
        {"type": "answer"},
        {"type": "transcribe_start", "option": {"language": "en-US", "real_time": True}},
        {
            "type": "ai_summary",
            "option": {"source_type": "call", "source_id": "${voipbin.call.id}", "real_time": True},
        },
        {
            "type": "connect",
            "option": {
                "source": {"type": "tel", "target": "+15551234567"},
                "destinations": [{"type": "tel", "target": "+15551111111"}],
            },
        },
    ],
}

A = "11111111-1111-1111-1111-111111111111"
B = "22222222-2222-2222-2222-222222222222"
MISSING = "99999999-9999-9999-9999-999999999999"


def codes(data: object, **kwargs: Any) -> list[tuple[str | int, str]]:
    return [(i.code, i.path) for i in validate_flow(data, **kwargs)]


def only(data: object, **kwargs: Any) -> Issue:
    issues = validate_flow(data, **kwargs)
    assert len(issues) == 1, issues
    return issues[0]


# -- the seed's flows -----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SEED_FLOWS))
def test_seed_flow_loads_without_any_issue(name: str) -> None:
    actions = SEED_FLOWS[name]
    assert validate_flow(actions) == []
    assert validate_flow({"actions": actions}) == []
    flow = load_flow(actions)
    assert [a.type for a in flow.actions] == [a["type"] for a in actions]
    assert flow.to_dict() == {"actions": actions}


@pytest.mark.parametrize("name", sorted(SEED_FLOWS))
def test_seed_flow_matches_json_schema(name: str) -> None:
    validator = Draft202012Validator(json_schema())
    assert list(validator.iter_errors({"actions": SEED_FLOWS[name]})) == []


def test_json_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    variants = schema["properties"]["actions"]["items"]["oneOf"]
    assert {v["properties"]["type"]["const"] for v in variants} == set(ACTIONS)


def test_json_schema_rejects_what_it_can_see() -> None:
    validator = Draft202012Validator(json_schema())
    bad = {"actions": [{"type": "talk", "option": {"txt": "Hi"}}, {"type": "nope"}]}
    assert len(list(validator.iter_errors(bad))) == 2


# -- one test per rule: code and JSON path --------------------------------------------------


def test_unknown_action_type() -> None:
    issue = only([{"type": "dance"}])
    assert (issue.code, issue.path, issue.severity) == ("UNKNOWN_ACTION_TYPE", "$[0].type", "error")


@pytest.mark.parametrize(
    ("old", "new"),
    [("chatbot_talk", "ai_talk"), ("agent_call", "connect"), ("hangup_relay", "hangup")],
)
def test_renamed_action_type_gets_a_hint(old: str, new: str) -> None:
    issue = only({"actions": [{"type": old}]})
    assert (issue.code, issue.path) == ("UNKNOWN_ACTION_TYPE", "$.actions[0].type")
    assert f"use {new}" in issue.message


def test_missing_or_non_text_type() -> None:
    assert codes([{}, {"type": 3}]) == [
        ("UNKNOWN_ACTION_TYPE", "$[0].type"),
        ("UNKNOWN_ACTION_TYPE", "$[1].type"),
    ]


def test_unknown_key_on_flow_and_action() -> None:
    data = {"actions": [{"type": "answer", "opts": {}}], "colour": "red"}
    assert codes(data) == [
        ("UNKNOWN_KEY", "$.colour"),
        ("UNKNOWN_KEY", "$.actions[0].opts"),
    ]


def test_known_flow_fields_and_tm_execute_are_accepted() -> None:
    data = {
        "type": "flow", "name": "n", "detail": "d", "persist": False, "on_complete_flow_id": A,
        "actions": [{"type": "answer", "tm_execute": "2026-01-01 00:00:00"}],
    }  # fmt: skip
    assert validate_flow(data) == []


def test_unknown_option() -> None:
    assert codes([{"type": "talk", "option": {"text": "Hi", "txt": "Hi"}}]) == [
        ("UNKNOWN_OPTION", "$[0].option.txt")
    ]


def test_missing_required() -> None:
    assert codes([{"type": "sleep"}, {"type": "email_send", "option": {"subject": "s"}}]) == [
        ("MISSING_REQUIRED", "$[0].option.duration"),
        ("MISSING_REQUIRED", "$[1].option.destinations"),
        ("MISSING_REQUIRED", "$[1].option.content"),
    ]


def test_missing_actions() -> None:
    assert codes({"name": "x"}) == [("MISSING_REQUIRED", "$.actions")]


@pytest.mark.parametrize(
    ("action", "path"),
    [
        ({"type": "sleep", "option": {"duration": "30"}}, "$[0].option.duration"),
        ({"type": "sleep", "option": {"duration": True}}, "$[0].option.duration"),
        ({"type": "sleep", "option": {"duration": 1.5}}, "$[0].option.duration"),
        ({"type": "talk", "option": {"text": 5}}, "$[0].option.text"),
        ({"type": "talk", "option": {"text": "x", "async": "yes"}}, "$[0].option.async"),
        ({"type": "play", "option": {"stream_urls": "http://a"}}, "$[0].option.stream_urls"),
        ({"type": "connect", "option": {"destinations": []}}, "$[0].option.destinations"),
        (
            {"type": "connect", "option": {"destinations": [{"type": "fax", "target": "1"}]}},
            "$[0].option.destinations",
        ),
        ({"type": "talk", "option": {"text": "x", "provider": 1}}, "$[0].option.provider"),
        ({"type": "answer", "option": []}, "$[0].option"),
        ({"type": "answer", "id": 7}, "$[0].id"),
        ({"type": "answer", "next_id": None}, "$[0].next_id"),
    ],
)
def test_wrong_type(action: object, path: str) -> None:
    assert codes([action]) == [("WRONG_TYPE", path)]


def test_an_action_that_is_not_an_object() -> None:
    errors = [(i.code, i.path) for i in validate_flow([{"type": "answer"}, "stop"]) if
              i.severity == "error"]  # fmt: skip
    assert errors == [("WRONG_TYPE", "$[1]")]


@pytest.mark.parametrize("data", [None, "flow", 3, {"actions": {"type": "answer"}}])
def test_wrong_type_of_flow(data: object) -> None:
    assert [c for c, _ in codes(data)] == ["WRONG_TYPE"]


def test_bad_enum() -> None:
    assert codes(
        [{"type": "talk", "option": {"text": "x", "provider": "azure"}}, {"type": "answer"}]
    ) == [("BAD_ENUM", "$[0].option.provider")]
    assert codes({"type": "call", "actions": [{"type": "answer"}]}) == [("BAD_ENUM", "$.type")]


def test_duplicate_id() -> None:
    data = [{"id": A, "type": "answer"}, {"id": A, "type": "answer"}]
    assert codes(data) == [("DUPLICATE_ID", "$[1].id")]


@pytest.mark.parametrize(
    ("action", "path"),
    [
        ({"type": "answer", "next_id": MISSING}, "$[0].next_id"),
        ({"type": "goto", "option": {"target_id": MISSING, "loop_count": 2}},
         "$[0].option.target_id"),
        ({"type": "branch", "option": {"target_ids": {"1": A, "2": MISSING},
                                       "default_target_id": A}},
         "$[0].option.target_ids.2"),
        ({"type": "branch", "option": {"target_ids": {"1": A}, "default_target_id": MISSING}},
         "$[0].option.default_target_id"),
        ({"type": "condition_variable",
          "option": {"condition": "==", "variable": "${x}", "value_type": "string",
                     "false_target_id": MISSING}},
         "$[0].option.false_target_id"),
        ({"type": "condition_datetime", "option": {"condition": ">=", "false_target_id": MISSING}},
         "$[0].option.false_target_id"),
    ],
)  # fmt: skip
def test_dangling_target(action: dict[str, Any], path: str) -> None:
    data = [action, {"id": A, "type": "answer"}]
    assert codes(data, variables=["x"]) == [("DANGLING_TARGET", path)]


def test_target_with_a_variable_is_not_dangling() -> None:
    data = [{"type": "goto", "option": {"target_id": "${next}", "loop_count": 1}}]
    assert validate_flow(data, variables=["next"]) == []
    # Not a dangling target, but nothing sets it:
    assert codes(data) == [("UNSET_VARIABLE", "$[0].option.target_id")]


@pytest.mark.parametrize("option", [{}, {"loop_count": 0}, {"loop_count": -1}])
def test_goto_without_loop_count(option: dict[str, Any]) -> None:
    data = [{"id": A, "type": "answer"}, {"type": "goto", "option": {"target_id": A, **option}}]
    assert codes(data) == [("GOTO_WITHOUT_LOOP_COUNT", "$[1].option.loop_count")]


def test_goto_with_loop_count() -> None:
    data = [
        {"id": A, "type": "answer"},
        {"type": "goto", "option": {"target_id": A, "loop_count": 3}},
    ]
    assert validate_flow(data) == []


@pytest.mark.parametrize("model", ["gpt-4o", "nobody.gpt-4o", "openai.", ".gpt-4o"])
def test_bad_engine_model(model: str) -> None:
    data = [{"type": "ai_talk", "option": {"initial_prompt": "p", "engine_model": model}}]
    assert codes(data) == [("BAD_ENGINE_MODEL", "$[0].option.engine_model")]


@pytest.mark.parametrize("model", ["openai.gpt-4o", "anthropic.claude-3", "${model}"])
def test_good_engine_model(model: str) -> None:
    data = [{"type": "ai_talk", "option": {"initial_prompt": "p", "engine_model": model}}]
    assert validate_flow(data, variables=["model"]) == []


def test_media_mismatch() -> None:
    data = [{"type": "answer"}, {"type": "ai_task"}, {"type": "stop"}]
    assert validate_flow(data) == []
    assert codes(data, media="non_rtc") == [("MEDIA_MISMATCH", "$[0].type")]
    assert codes(data, media="rtc") == [("MEDIA_MISMATCH", "$[1].type")]
    assert codes([{"type": "block"}], media="rtc") == [("MEDIA_MISMATCH", "$[0].type")]


@pytest.mark.parametrize(
    ("media", "action", "needs"),
    [
        ("non_rtc", {"type": "talk", "option": {"text": "Hi"}}, "needs a live call"),
        ("non_rtc", {"type": "digits_receive"}, "needs a live call"),
        ("rtc", {"type": "ai_task"}, "needs no live call"),
        ("rtc", {"type": "block"}, "needs no live call"),
    ],
)
def test_media_mismatch_both_ways(
    media: Literal["rtc", "non_rtc"], action: dict[str, Any], needs: str
) -> None:
    data = {"actions": [{"type": "stop"}, action]}
    issues = [i for i in validate_flow(data, media=media) if i.code != "UNREACHABLE_ACTION"]
    assert [(i.code, i.path, i.severity) for i in issues] == [
        ("MEDIA_MISMATCH", "$.actions[1].type", "error")
    ]
    assert needs in issues[0].message
    other: Literal["rtc", "non_rtc"] = "rtc" if media == "non_rtc" else "non_rtc"
    assert [i.code for i in validate_flow(data, media=other)] == ["UNREACHABLE_ACTION"]


def test_unreachable_action_is_a_warning() -> None:
    data = [{"type": "answer"}, {"type": "hangup"}, {"type": "talk", "option": {"text": "x"}}]
    issue = only(data)
    assert (issue.code, issue.path, issue.severity) == ("UNREACHABLE_ACTION", "$[2]", "warning")
    assert load_flow(data).actions[2].type == "talk"  # warnings do not stop loading


def test_targets_make_actions_reachable() -> None:
    data = [
        {"type": "branch", "option": {"target_ids": {"1": A}, "default_target_id": B}},
        {"id": A, "type": "stop"},
        {"id": B, "type": "hangup"},
        {"type": "answer"},
    ]
    assert codes(data) == [("UNREACHABLE_ACTION", "$[3]")]
    jump = [{"type": "answer", "next_id": B}, {"type": "answer"}, {"id": B, "type": "stop"}]
    assert codes(jump) == [("UNREACHABLE_ACTION", "$[1]")]


@pytest.mark.parametrize(
    ("kind", "option", "second"),
    [
        ("ai_talk", {"initial_prompt": "a", "init_prompt": "b"}, "init_prompt"),
        ("ai_summary", {"source_type": "call", "reference_type": "call"}, "reference_type"),
        ("ai_summary", {"reference_id": "x", "source_id": "y"}, "source_id"),
    ],
)
def test_repeated_option(kind: str, option: dict[str, Any], second: str) -> None:
    issue = only([{"type": kind, "option": option}])
    assert (issue.code, issue.path) == ("REPEATED_OPTION", f"$[0].option.{second}")


def test_repeated_option_is_a_warning() -> None:
    data = [{"type": "ai_talk", "option": {"initial_prompt": "a", "init_prompt": "b"}}]
    assert only(data).severity == "warning"


def test_repeated_option_loads_and_the_first_spelling_is_read() -> None:
    data = [{"type": "ai_talk", "option": {"init_prompt": "first", "initial_prompt": "second"}}]
    action = load_flow(data).actions[0]
    assert action.get("initial_prompt") == action.get("init_prompt") == "first"


def test_every_problem_is_reported_at_once() -> None:
    data = {
        "colour": "red",
        "actions": [
            {"id": A, "type": "talk", "option": {"txt": "Hi"}},
            {"id": A, "type": "chatbot_talk"},
            {"type": "goto", "option": {"target_id": MISSING}},
        ],
    }
    assert codes(data) == [
        ("UNKNOWN_KEY", "$.colour"),
        ("DUPLICATE_ID", "$.actions[1].id"),
        ("UNKNOWN_OPTION", "$.actions[0].option.txt"),
        ("MISSING_REQUIRED", "$.actions[0].option.text"),
        ("UNKNOWN_ACTION_TYPE", "$.actions[1].type"),
        ("DANGLING_TARGET", "$.actions[2].option.target_id"),
        ("GOTO_WITHOUT_LOOP_COUNT", "$.actions[2].option.loop_count"),
    ]


# -- spellings and variables ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "spelling", "canonical", "value"),
    [
        ("ai_summary", "source_type", "reference_type", "call"),
        ("ai_summary", "reference_type", "reference_type", "call"),
        ("ai_summary", "source_id", "reference_id", "${voipbin.call.id}"),
        ("ai_summary", "reference_id", "reference_id", "${voipbin.call.id}"),
        ("ai_talk", "initial_prompt", "initial_prompt", "Be nice."),
        ("ai_talk", "init_prompt", "initial_prompt", "Be nice."),
        ("ai", "init_prompt", "initial_prompt", "Be nice."),
    ],
)
def test_aliases_are_accepted_and_read(
    kind: str, spelling: str, canonical: str, value: str
) -> None:
    data = [{"type": kind, "option": {spelling: value}}]
    assert validate_flow(data) == []
    action = load_flow(data).actions[0]
    assert action.get(canonical) == value
    assert action.get(spelling) == value
    assert action.option == {spelling: value}  # kept as written
    assert action.get("language", "en") == "en"


def test_action_get_by_alias_reads_the_canonical_spelling() -> None:
    action = load_flow([{"type": "ai_talk", "option": {"initial_prompt": "p"}}]).actions[0]
    assert action.get("init_prompt") == "p"


@pytest.mark.parametrize(
    "action",
    [
        {"type": "sleep", "option": {"duration": "${wait}"}},
        {"type": "digits_receive", "option": {"duration": "${t}", "length": "${n}"}},
        {"type": "recording_start", "option": {"duration": "${d}", "end_of_silence": "${s}"}},
        {"type": "condition_variable", "option": {
            "condition": ">", "variable": "${x}", "value_type": "number",
            "value_number": "${y}", "false_target_id": A}},
    ],
)  # fmt: skip
def test_variables_are_accepted_for_int_options(action: dict[str, Any]) -> None:
    data = [action, {"id": A, "type": "stop"}]
    assert validate_flow(data, variables=["wait", "t", "n", "d", "s", "x", "y"]) == []


def test_variables_are_not_a_way_around_enums() -> None:
    data = [{"type": "talk", "option": {"text": "x", "provider": "${p}"}}]
    assert codes(data, variables=["p"]) == [("BAD_ENUM", "$[0].option.provider")]


def test_variable_loop_count() -> None:
    data = [
        {"id": A, "type": "answer"},
        {"type": "goto", "option": {"target_id": A, "loop_count": "${loops}"}},
    ]
    assert validate_flow(data, variables=["loops"]) == []


# -- variables read but never set -----------------------------------------------------------


def test_unset_variable() -> None:
    data = {"actions": [{"type": "answer"}, {"type": "talk", "option": {"text": "Hi ${name}"}}]}
    issue = only(data)
    assert (issue.code, issue.path, issue.severity) == (
        "UNSET_VARIABLE", "$.actions[1].option.text", "warning"
    )  # fmt: skip
    assert "${name}" in issue.message
    assert load_flow(data).actions[1].get("text") == "Hi ${name}"  # a warning: it loads


def test_unset_variable_path_inside_lists_and_objects() -> None:
    data = [
        {"type": "connect", "option": {"destinations": [
            {"type": "tel", "target": "+15551111111"}, {"type": "tel", "target": "${agent}"}]}},
        {"type": "play", "option": {"stream_urls": ["https://a.example/${file}.wav"]}},
    ]  # fmt: skip
    assert codes(data) == [
        ("UNSET_VARIABLE", "$[0].option.destinations[1].target"),
        ("UNSET_VARIABLE", "$[1].option.stream_urls[0]"),
    ]


@pytest.mark.parametrize(("levels", "found"), [(30, "UNSET_VARIABLE"), (5000, "TOO_DEEP")])
def test_unset_variable_deep_in_an_option(levels: int, found: str) -> None:
    nested: object = "${deep}"
    for _ in range(levels):  # 5000: deeper than the recursion limit, refused before any walk
        nested = {"a": [nested]}
    data = [{"type": "webhook_send", "option": {"uri": "https://a.example", "data": nested}}]
    if found == "TOO_DEEP":
        assert [i.code for i in validate_flow(data)] == ["TOO_DEEP"]
        return
    assert codes(data) == [
        ("WRONG_TYPE", "$[0].option.data"),
        ("UNSET_VARIABLE", "$[0].option.data" + ".a[0]" * levels),
    ]


def test_variable_set_anywhere_in_the_flow_counts_as_set() -> None:
    talk = {"type": "talk", "option": {"text": "You chose ${choice}"}}
    set_it = {"type": "variable_set", "option": {"key": "choice", "value": "1"}}
    assert validate_flow([set_it, talk]) == []
    assert validate_flow([talk, set_it]) == []  # order is not followed (documented)
    other = {"type": "variable_set", "option": {"key": "choices", "value": "1"}}
    assert codes([other, talk]) == [("UNSET_VARIABLE", "$[1].option.text")]


def test_builtin_and_injected_variables_are_set() -> None:
    data = [{"type": "talk", "option": {"text": "${voipbin.call.source.target} ${caller}"}}]
    assert validate_flow(data, variables=["caller"]) == []
    assert validate_flow(data, variables="caller") == []  # one name, not its letters
    assert validate_flow(data, variables=iter(["caller"])) == []  # any iterable, read once
    assert codes(data) == [("UNSET_VARIABLE", "$[0].option.text")]
    assert "${caller}" in only(data).message
    typo = [{"type": "talk", "option": {"text": "${voipbin.call.digit}"}}]
    assert codes(typo) == [("UNSET_VARIABLE", "$[0].option.text")]


def test_each_unset_name_once_per_string_and_escapes_are_not_reads() -> None:
    data = [{"type": "talk", "option": {"text": "${a} ${a} ${b} $${c}"}}]
    assert [i.message.split()[0] for i in validate_flow(data)] == ["${a}", "${b}"]
    assert validate_flow([{"type": "talk", "option": {"text": "costs $${price}"}}]) == []


def test_a_variable_set_key_that_reads_a_variable() -> None:
    data = [{"type": "variable_set", "option": {"key": "${k}", "value": "${v}"}}]
    assert codes(data, variables=["v"]) == [("UNSET_VARIABLE", "$[0].option.key")]


def test_ai_set_variables_do_not_count_as_set() -> None:
    data = [
        {"type": "ai_talk", "option": {"initial_prompt": "p", "tool_names": ["set_variables"]}},
        {"type": "talk", "option": {"text": "Your order is ${order}"}},
    ]
    assert codes(data) == [("UNSET_VARIABLE", "$[1].option.text")]
    assert validate_flow(data, variables=["order"]) == []


def test_unknown_and_repeated_options_are_not_read() -> None:
    data = [
        {"type": "talk", "option": {"text": "x", "txt": "${a}"}},
        {"type": "ai_talk", "option": {"init_prompt": "p", "initial_prompt": "${b}"}},
    ]
    assert codes(data) == [
        ("UNKNOWN_OPTION", "$[0].option.txt"),
        ("REPEATED_OPTION", "$[1].option.initial_prompt"),
    ]


# -- AI tools -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ai", "ai_talk"])
@pytest.mark.parametrize(
    ("names", "code"),
    [
        (["send_email", "fax"], "UNKNOWN_TOOL"),
        (["nope"], "UNKNOWN_TOOL"),
        (["all", "send_email"], "BAD_TOOL_NAMES"),
        (["send_email", "send_email"], "BAD_TOOL_NAMES"),
    ],
)
def test_bad_tool_names(kind: str, names: list[str], code: str) -> None:
    issue = only([{"type": kind, "option": {"initial_prompt": "p", "tool_names": names}}])
    assert (issue.code, issue.path, issue.severity) == (code, "$[0].option.tool_names", "error")


def test_unknown_tool_names_every_bad_entry() -> None:
    issue = only(
        [
            {
                "type": "ai_talk",
                "option": {"initial_prompt": "p", "tool_names": ["fax", "send_email", "pager"]},
            }
        ]
    )
    assert "[0] 'fax'" in issue.message
    assert "[2] 'pager'" in issue.message


@pytest.mark.parametrize(
    ("names", "path"),
    [("send_email", "$[0].option.tool_names"), (["send_email", 3], "$[0].option.tool_names")],
)
def test_tool_names_wrong_type(names: object, path: str) -> None:
    assert codes([{"type": "ai_talk", "option": {"initial_prompt": "p", "tool_names": names}}]) == [
        ("WRONG_TYPE", path)
    ]


@pytest.mark.parametrize("names", [[], ["all"], ["send_email", "stop_service"], "${tools}",
                                   ["${tool}"]])  # fmt: skip
def test_good_tool_names(names: object) -> None:
    data = [{"type": "ai_talk", "option": {"initial_prompt": "p", "tool_names": names}}]
    assert validate_flow(data, variables=["tools", "tool"]) == []


@pytest.mark.parametrize("kind", ["ai", "ai_talk"])
def test_conversation_unsafe_tool(kind: str) -> None:
    names = ["send_email", "connect_call", "get_variables", "stop_flow"]
    data = {"actions": [{"type": kind, "option": {"initial_prompt": "p", "tool_names": names}}]}
    issues = validate_flow(data, media="non_rtc")
    assert [(i.code, i.path, i.severity) for i in issues] == [
        ("CONVERSATION_UNSAFE_TOOL", "$.actions[0].option.tool_names[1]", "warning"),
        ("CONVERSATION_UNSAFE_TOOL", "$.actions[0].option.tool_names[3]", "warning"),
    ]
    assert "connect_call" in issues[0].message
    assert "stop_flow" in issues[1].message
    assert validate_flow(data) == validate_flow(data, media="rtc") == []  # a call: fine


def test_conversation_unsafe_tools_selected_by_all() -> None:
    data = [{"type": "ai_talk", "option": {"initial_prompt": "p", "tool_names": ["all"]}}]
    issue = only(data, media="non_rtc")
    assert (issue.code, issue.path) == ("CONVERSATION_UNSAFE_TOOL", "$[0].option.tool_names[0]")
    assert all(name in issue.message for name in ("connect_call", "stop_media", "stop_flow"))
    safe = ["send_email", "send_message", "set_variables", "get_variables", "stop_service"]
    action = {"type": "ai_talk", "option": {"initial_prompt": "p", "tool_names": safe}}
    assert validate_flow([action], media="non_rtc") == []


# -- load_flow ------------------------------------------------------------------------------


def test_load_flow_raises_with_every_error() -> None:
    data = [
        {"type": "talk", "option": {"txt": "Hi"}},
        {"type": "nope"},
        {"type": "answer"},
        {"type": "stop"},
        {"type": "hangup"},  # unreachable: a warning, not in the error
    ]
    with pytest.raises(FlowError) as caught:
        load_flow(data)
    assert [(i.code, i.path) for i in caught.value.issues] == [
        ("UNKNOWN_OPTION", "$[0].option.txt"),
        ("MISSING_REQUIRED", "$[0].option.text"),
        ("UNKNOWN_ACTION_TYPE", "$[1].type"),
    ]
    assert "3 error(s)" in str(caught.value)
    assert "$[1].type: UNKNOWN_ACTION_TYPE" in str(caught.value)
    assert caught.value.code == "INVALID_FLOW"


@pytest.mark.parametrize("text", ['{"actions": [', b"[{]", "", "nope"])
def test_load_flow_refuses_bad_json(text: str | bytes) -> None:
    with pytest.raises(FlowError) as caught:
        load_flow(text)
    assert [(i.code, i.path) for i in caught.value.issues] == [("INVALID_JSON", "$")]


def test_load_flow_refuses_what_is_nested_deeper_than_the_stack() -> None:
    with pytest.raises(FlowError) as caught:
        load_flow("[" * 100_000)
    assert [(i.code, i.path) for i in caught.value.issues] == [("TOO_DEEP", "$")]
    nested: list[Any] = []
    for _ in range(5000):
        nested = [nested]
    call = {"destinations": [{"type": "tel", "target": "+15551111111"}], "actions": nested}
    data = {"actions": [{"type": "answer"}, {"type": "call", "option": call}]}
    # Python data gets the depth cap a file gets: the same issue, at the same path.
    (issue,) = validate_flow(data)
    assert issue.code == "TOO_DEEP"
    assert issue.path.startswith("$.actions[1].option.actions[0][0]")
    with pytest.raises(FlowError) as caught:
        load_flow(data)
    assert caught.value.issues == (issue,)
    shallow = {"actions": [{"type": "answer"}, {"type": "call", "option": {**call,
               "actions": nested_list(70)}}]}  # fmt: skip
    with pytest.raises(FlowError) as from_text:
        load_flow(json.dumps(shallow))
    assert list(from_text.value.issues) == validate_flow(shallow)


def nested_list(depth: int) -> list[Any]:
    nested: list[Any] = []
    for _ in range(depth):
        nested = [nested]
    return nested


def shared_list_bomb(levels: int) -> list[Any]:
    """2**levels strings once expanded, in ``levels`` lists that share their items."""
    bomb: list[Any] = ["lol"]
    for _ in range(levels):
        bomb = [bomb, bomb]
    return bomb


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"actions": [{"type": "webhook_send", "option": {
            "uri": "https://hooks.example.com/x", "data": shared_list_bomb(50)}}]},
         "$.actions[0].option.data["),
        ([{"type": "answer"}, *shared_list_bomb(60)], "$["),
        ({"destinations": [{"type": "tel", "target": "+15551111111"}],
          "variables": {"v": shared_list_bomb(60)}, "actions": [{"type": "answer"}]},
         "$.variables.v["),
    ],
    ids=["webhook-data", "actions", "call-variables"],
)  # fmt: skip
def test_a_shared_list_bomb_given_as_python_data_is_refused_not_walked(
    data: object, path: str
) -> None:
    # 2**50 values and more if walked: the value budget stops it after MAX_VALUES (counting each
    # time a shared list is reached), as it stops the same data read from a file.
    (issue,) = validate_flow(data)
    assert (issue.code, issue.severity) == ("TOO_LARGE", "error")
    assert issue.path.startswith(path)
    assert str(MAX_VALUES) in issue.message
    with pytest.raises(FlowError) as caught:
        load_flow(data)
    assert caught.value.issues == (issue,)


def test_the_value_budget_is_the_one_a_file_gets() -> None:
    # Just over the budget: JSON text and the same data in Python give the same issue.
    items = [str(i) for i in range(MAX_VALUES)]
    data = [{"type": "webhook_send", "option": {"uri": "https://h.example.com", "data": items}}]
    (issue,) = validate_flow(data)
    with pytest.raises(FlowError) as caught:
        load_flow(json.dumps(data))
    assert caught.value.issues == (issue,)
    assert issue.code == "TOO_LARGE"
    del items[-10:]  # within the budget: the flow is checked as usual
    assert codes(data) == [("WRONG_TYPE", "$[0].option.data")]


def test_load_flow_accepts_json_text_and_a_bare_list() -> None:
    actions = SEED_FLOWS["summary"]
    body = {"type": "flow", "name": "summary", "actions": actions}
    from_text = load_flow(json.dumps(body))
    assert from_text.to_dict() == body
    assert load_flow(json.dumps(body).encode()).to_dict() == body
    assert load_flow(json.dumps(actions)).to_dict() == {"actions": actions}
    assert load_flow(actions) == load_flow({"actions": actions})
    assert from_text.fields == {"type": "flow", "name": "summary"}


def test_flow_round_trip_keeps_everything_as_written() -> None:
    body = {
        "type": "flow",
        "name": "menu",
        "persist": False,
        "actions": [
            {"id": A, "type": "answer", "tm_execute": "2026-01-01"},
            {"type": "talk", "option": {"text": "Press 1", "digits_handle": "next"}},
            {"type": "digits_receive", "option": {"duration": 5000, "length": 1}},
            {"type": "branch", "option": {"target_ids": {"1": B}, "default_target_id": A}},
            {"id": B, "type": "ai_summary", "next_id": A,
             "option": {"source_type": "call", "source_id": "${voipbin.call.id}"}},
        ],
    }  # fmt: skip
    flow = load_flow(body)
    assert flow.to_dict() == body
    assert flow.action(B) is flow.actions[4]
    assert flow.action(MISSING) is None
    assert flow.actions[0].extra == {"tm_execute": "2026-01-01"}
    assert flow.actions[4].get("reference_type") == "call"
    assert flow.actions[1].option is not None
    with pytest.raises(TypeError):
        flow.actions[1].option["text"] = "changed"  # type: ignore[index]


def test_round_trip_of_a_null_option() -> None:
    body = {"actions": [{"type": "answer", "option": None}]}
    assert load_flow(body).to_dict() == body


def test_input_is_not_aliased() -> None:
    body: dict[str, Any] = {"actions": [{"type": "talk", "option": {"text": "Hi"}}]}
    out = load_flow(body).to_dict()
    out["actions"][0]["option"]["text"] = "Bye"
    assert body["actions"][0]["option"]["text"] == "Hi"


# -- properties -----------------------------------------------------------------------------


@given(flows())
def test_generated_flows_have_no_errors(flow: dict[str, Any]) -> None:
    issues = validate_flow(flow)
    assert [i for i in issues if i.severity == "error"] == []
    assert {i.code for i in issues} <= {"UNREACHABLE_ACTION", "BRANCH_WITHOUT_DEFAULT"}


@given(flows())
def test_generated_flows_round_trip(flow: dict[str, Any]) -> None:
    assert load_flow(flow).to_dict() == flow
    assert load_flow(json.dumps(flow)).to_dict() == flow


@given(flows())
def test_generated_flows_have_no_media_mismatch_for_media_they_fit(flow: dict[str, Any]) -> None:
    for media in ("rtc", "non_rtc"):
        fits = all(ACTIONS[a["type"]].media in ("any", media) for a in flow["actions"])
        mismatches = [i for i in validate_flow(flow, media=media) if i.code == "MEDIA_MISMATCH"]
        assert bool(mismatches) != fits


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.sampled_from(["${a}", "${voipbin.call.id}", "$${a}", "${", "${}", "all",
                       "connect_call", "stop_service"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20,
)  # fmt: skip
_KEYS = st.sampled_from(["id", "next_id", "type", "option", "tm_execute", "x"])
_TYPES = st.sampled_from([*ACTIONS, "chatbot_talk", ""])
_OPTION_KEYS = st.sampled_from(
    sorted({n for s in ACTIONS.values() for o in s.options for n in (o, *s.options[o].aliases)})
)
# Action-shaped data, so that most of the checker is reached, not just its first guard.
_ACTIONISH = st.fixed_dictionaries(
    {"type": _TYPES | st.none() | st.integers() | st.text(max_size=4)},
    optional={"option": st.dictionaries(_OPTION_KEYS, _JSON, max_size=4) | _JSON,
              "id": st.sampled_from([A, B]) | _JSON, "next_id": st.sampled_from([A, B]) | _JSON},
) | st.dictionaries(_KEYS, _JSON, max_size=5)  # fmt: skip


def _never_raises(data: object) -> None:
    for media in (None, "rtc", "non_rtc"):
        issues = validate_flow(data, media=media, variables=["a"])
        assert isinstance(issues, list)
        assert all(isinstance(i, Issue) and i.path.startswith("$") for i in issues)
        assert all(i.severity in ("error", "warning") for i in issues)


@given(_JSON)
def test_validate_flow_never_raises_on_json(data: object) -> None:
    _never_raises(data)


@given(st.lists(_ACTIONISH, max_size=5))
def test_validate_flow_never_raises_on_action_shaped_data(data: list[Any]) -> None:
    _never_raises(data)
    _never_raises({"actions": data})


@pytest.mark.parametrize("kind", [[], {"a": 1}])
def test_validate_flow_on_an_unhashable_type(kind: object) -> None:
    assert codes([{"type": kind}]) == [("UNKNOWN_ACTION_TYPE", "$[0].type")]


@settings(max_examples=50)
@given(flows())
def test_generated_flows_match_the_json_schema(flow: dict[str, Any]) -> None:
    assert list(Draft202012Validator(json_schema()).iter_errors(flow)) == []


@pytest.mark.parametrize("kind", sorted(ACTIONS))
def test_json_schema_and_validate_flow_agree_on_variables_in_every_option(kind: str) -> None:
    # Every option written as ${x} (enums cannot be): both accept the action as written.
    option = {
        name: opt.choices[0] if opt.type == "enum" else "${x}"
        for name, opt in ACTIONS[kind].options.items()
    }
    flow = {"actions": [{"type": kind, "option": option}]}
    assert validate_flow(flow, variables=["x"]) == []
    assert list(Draft202012Validator(json_schema()).iter_errors(flow)) == []


_NO_REQUIRED = sorted(
    k
    for k, s in ACTIONS.items()
    if not any(o.required for o in s.options.values()) and k not in ("ai", "ai_talk")
)


@pytest.mark.parametrize("kind", _NO_REQUIRED)
def test_json_schema_and_validate_flow_agree_on_a_null_option(kind: str) -> None:
    flow = {"actions": [{"type": kind, "option": None}]}
    assert validate_flow(flow) == []
    assert list(Draft202012Validator(json_schema()).iter_errors(flow)) == []


def test_json_schema_accepts_variables_where_validate_flow_does() -> None:
    flow = {"actions": [{"type": "sleep", "option": {"duration": "${wait}"}}]}
    assert validate_flow(flow, variables=["wait"]) == []
    assert list(Draft202012Validator(json_schema()).iter_errors(flow)) == []


def test_tool_names_may_list_the_runs_webhook_functions() -> None:
    flow = [
        {
            "type": "ai_talk",
            "option": {"initial_prompt": "p", "tool_names": ["book_table", "stop_service"]},
        }
    ]
    assert codes(flow) == [("UNKNOWN_TOOL", "$[0].option.tool_names")]
    assert codes(flow, tools=["book_table"]) == []
    load_flow(flow, tools=["book_table"])


# -- a branch with no default: the interpreter, the validator and the graph agree ------------

BRANCH_FLOW: list[dict[str, Any]] = [
    {"type": "digits_receive", "option": {"length": 1}},
    {"type": "branch", "option": {"target_ids": {"1": A}}, "next_id": B},
    {"id": B, "type": "talk", "option": {"text": "after the branch"}},
    {"id": A, "type": "talk", "option": {"text": "one"}},
    {"type": "stop"},
]


def _run_branch(digits: str) -> RunResult:
    return asyncio.run(run(BRANCH_FLOW, caller=Caller(digits=[digits])))


def test_a_branch_value_with_no_target_and_no_default_fails_the_run() -> None:
    # VoIPBIN looks the value up, else takes default_target_id: the empty id, which no
    # action has, so the activeflow stops; neither the next action nor next_id runs.
    result = _run_branch("7")
    assert result.status == "failed"
    (error,) = result.of("error")
    assert (error.path, error.data["code"]) == (
        "$.actions[1].option.default_target_id", "BRANCH_WITHOUT_DEFAULT"
    )  # fmt: skip
    assert "'7'" in error.data["message"]
    assert [e.kind for e in result.events] == ["digits", "branch", "error"]
    assert [e.data["text"] for e in _run_branch("1").of("talk")] == ["one"]


def test_the_validator_and_the_graph_read_a_branch_as_the_interpreter_runs_it() -> None:
    issues = validate_flow(BRANCH_FLOW)
    assert [(i.code, i.path, i.severity) for i in issues] == [
        ("BRANCH_WITHOUT_DEFAULT", "$[1].option.default_target_id", "warning"),
        ("UNREACHABLE_ACTION", "$[2]", "warning"),  # neither in order nor as next_id
    ]
    drawn = graph(BRANCH_FLOW)
    assert [(e.target, e.label) for e in drawn.edges_from("action/1")] == [
        ("action/3", "= 1"), ("end", "no match: fails"),
    ]  # fmt: skip
    with_default = copy.deepcopy(BRANCH_FLOW)
    with_default[1]["option"]["default_target_id"] = B
    assert validate_flow(with_default) == []
    result = asyncio.run(run(with_default, caller=Caller(digits=["7"])))
    assert [e.data["text"] for e in result.of("talk")] == ["after the branch", "one"]


def _no_dns(host: str, port: int) -> Awaitable[list[str]]:
    async def blocked() -> list[str]:
        return ["127.0.0.1"]  # a loopback address the default policy refuses: no network

    return blocked()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flows(), st.lists(st.sampled_from(["1", "2", "", "9"]), max_size=4))
def test_no_run_of_a_generated_flow_reaches_an_action_called_unreachable(
    flow: dict[str, Any], digits: list[str]
) -> None:
    # A call's run skips block and ai_task and goes on, where the validator, not told the
    # media, reads a block as the end: those become answers (ids and next_ids kept).
    for action in flow["actions"]:
        if ACTIONS[action["type"]].media == "non_rtc":
            action["type"] = "answer"
            action.pop("option", None)
    unreachable = {
        issue.path for issue in validate_flow(flow) if issue.code == "UNREACHABLE_ACTION"
    }
    engine = ScriptedEngine(["ok", {"tool_calls": [{"name": "stop_service"}]}] * 4)
    result = asyncio.run(
        run(flow, engine=engine, caller=Caller(says=["hi"], digits=digits), step_limit=40,
            http=HttpPolicy(resolve=_no_dns))
    )  # fmt: skip
    # Events of the flow's own actions ($.actions[i], not a fetched sub-flow's).
    ran = {e.path for e in result.events if re.fullmatch(r"\$\.actions\[[0-9]+\]", e.path)}
    assert not ran & unreachable
