"""Flows as the seeds write them (issue 16, item 3): AI actions need an AI, seed 003's request
bodies validate and run, direct SIP URIs resolve to their flow, real-time summaries update."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from cxml import Issue
from flows import (
    Caller,
    FlowDirectory,
    FlowError,
    RunResult,
    direct_hash,
    json_schema,
    load_flow,
    run,
    validate_flow,
)
from flows.cli import main
from providers import Reply, ScriptedEngine

SEEDS = Path(__file__).resolve().parent / "seed_flows"
#: Seed 003's five POST /calls bodies, byte for byte as the seed writes them.
BODIES = sorted(SEEDS.glob("*.json"))


def codes(data: object, **kwargs: Any) -> list[tuple[str, str, str]]:
    return [(str(i.code), i.path, i.severity) for i in validate_flow(data, **kwargs)]


# -- an AI action needs an AI ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ai", "ai_talk"])
@pytest.mark.parametrize(
    "option",
    [None, {}, {"voice_type": "female"}, {"initial_prompt": ""}, {"init_prompt": "  "},
     {"assistance_id": ""}, {"tool_names": ["stop_service"], "engine_model": "openai.gpt-4o"}],
)  # fmt: skip
def test_an_ai_action_without_prompt_or_ai_is_an_error(
    kind: str, option: dict[str, Any] | None
) -> None:
    action: dict[str, Any] = {"type": kind}
    if option is not None:
        action["option"] = option
    assert codes([{"type": "answer"}, action]) == [("MISSING_AI", "$[1].option", "error")]
    with pytest.raises(FlowError) as caught:
        load_flow([action])
    assert [i.code for i in caught.value.issues] == ["MISSING_AI"]


@pytest.mark.parametrize("kind", ["ai", "ai_talk"])
@pytest.mark.parametrize(
    "option",
    [{"initial_prompt": "You help."}, {"init_prompt": "You help."}, {"assistance_id": "a1"},
     {"ai_id": "a1"}, {"assistance_type": "team", "assistance_id": "t1"},
     {"initial_prompt": "${prompt}"}],
)  # fmt: skip
def test_an_ai_action_with_a_prompt_or_an_ai_is_fine(kind: str, option: dict[str, Any]) -> None:
    flow = {"actions": [{"type": kind, "option": option}]}
    assert validate_flow(flow, variables=["prompt"]) == []
    assert list(Draft202012Validator(json_schema()).iter_errors(flow)) == []


@pytest.mark.parametrize("kind", ["ai", "ai_talk"])
def test_the_json_schema_refuses_an_ai_action_without_an_ai(kind: str) -> None:
    flow = {"actions": [{"type": kind, "option": {"voice_type": "male"}}]}
    assert list(Draft202012Validator(json_schema()).iter_errors(flow)) != []


@pytest.mark.parametrize("data", [[], {"actions": []}, {"name": "n", "actions": []}])
def test_an_empty_flow_is_a_warning(data: object) -> None:
    where = "$" if isinstance(data, list) else "$.actions"
    assert codes(data) == [("EMPTY_FLOW", where, "warning")]
    assert load_flow(data).actions == ()


# -- seed 003's request bodies ------------------------------------------------------------------


def test_the_five_seed_bodies_are_there() -> None:
    assert [b.stem for b in BODIES] == [
        "ai_assistant", "ai_summary", "ai_summary_real_time", "ai_talk", "ai_voice_id",
    ]  # fmt: skip


@pytest.mark.parametrize("body", BODIES, ids=lambda p: p.stem)
def test_each_seed_body_validates_as_written(
    body: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert validate_flow(json.loads(body.read_text())) == []
    assert main(["flow", "validate", str(body)]) == 0
    assert capsys.readouterr().out == f"{body}: ok\n"


@pytest.mark.parametrize("body", BODIES, ids=lambda p: p.stem)
def test_each_seed_body_runs_as_written(
    body: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "script.json"
    replies = ["Hello, how can I help?", "We connect calls.", "The caller asked what we do."]
    script.write_text(json.dumps({"engine": replies, "caller": {"says": ["What do you do?"]}}))
    status = main(["flow", "run", str(body), "--script", str(script)])
    out = capsys.readouterr().out
    assert status == 0
    assert out.splitlines()[-1].startswith("-- finished after")
    data = json.loads(body.read_text())
    assert f"$.actions[{len(data['actions']) - 1}]" in out  # it ran to the last action


def test_a_run_of_a_call_body_knows_its_call() -> None:
    body = json.loads((SEEDS / "ai_talk.json").read_text())
    body["variables"] = {"customer": "Ann"}
    body["actions"] = [{"type": "talk", "option": {
        "text": "${customer}: ${voipbin.call.source.target} -> "
                "${voipbin.call.destination.target} (${voipbin.call.direction})"}}]  # fmt: skip
    result = asyncio.run(run(body))
    said = result.of("talk")[0].data["text"]
    assert said == "Ann: +15551234567 -> +15559876543 (outgoing)"
    # Variables given to run win over the body's.
    again = asyncio.run(run(body, variables={"customer": "Bo"}))
    assert again.of("talk")[0].data["text"].startswith("Bo:")


def test_a_flow_body_with_name_and_detail() -> None:
    flow = {"name": "Sales", "detail": "sales line", "actions": [{"type": "answer"}]}
    assert validate_flow(flow) == []
    assert load_flow(flow).to_dict() == flow
    assert codes({"name": 3, "actions": [{"type": "answer"}]}) == [
        ("WRONG_TYPE", "$.name", "error")
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"destinations": []}, [("WRONG_TYPE", "$.destinations", "error")]),
        ({"source": {"type": "fax", "target": "1"}}, [("WRONG_TYPE", "$.source", "error")]),
        ({"anonymous": "maybe"}, [("BAD_ENUM", "$.anonymous", "error")]),
        ({"early_execution": "yes"}, [("WRONG_TYPE", "$.early_execution", "error")]),
        ({"name": "x"}, [("UNKNOWN_KEY", "$.name", "error")]),
        ({"variables": {"voipbin.x": "1"}}, [("BAD_VARIABLES", "$.variables", "error")]),
        ({"variables": {"n": 1}}, [("BAD_VARIABLES", "$.variables", "error")]),
        ({"variables": {"n": "1"}, "flow_id": "f", "anonymous": "no"}, []),
    ],
)
def test_a_call_body_is_checked(change: dict[str, Any], expected: list[Any]) -> None:
    body = json.loads((SEEDS / "ai_talk.json").read_text())
    body.update(change)
    assert codes(body) == expected


def test_a_call_body_needs_destinations_and_actions() -> None:
    assert codes({"source": {"type": "tel", "target": "+15551234567"}, "flow_id": "f1"}) == [
        ("MISSING_REQUIRED", "$.destinations", "error"),
        ("MISSING_REQUIRED", "$.actions", "error"),
    ]


_ADDRESS = st.fixed_dictionaries(
    {"type": st.sampled_from(["tel", "sip", "extension"]), "target": st.text(max_size=12)}
)
_ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=8,
)  # fmt: skip


@given(
    st.fixed_dictionaries(
        {"destinations": st.lists(_ADDRESS, max_size=2) | _ANY},
        optional={"source": _ADDRESS | _ANY, "actions": st.just([{"type": "answer"}]) | _ANY,
                  "variables": st.dictionaries(st.text(max_size=5), st.text(max_size=5)) | _ANY,
                  "flow_id": _ANY, "anonymous": _ANY, "early_execution": _ANY, "x": _ANY},
    )
)  # fmt: skip
def test_validating_any_call_body_gives_issues_and_raises_nothing(body: dict[str, Any]) -> None:
    issues = validate_flow(body)
    assert all(isinstance(i, Issue) and i.path.startswith("$") for i in issues)
    if not any(i.severity == "error" for i in issues):
        assert load_flow(body).to_dict() == body


# -- direct SIP URIs ----------------------------------------------------------------------------

SUPPORT = {
    "name": "support",
    "direct_hash": "c5d6e7f8a9b0",
    "actions": [{"type": "answer"}, {"type": "talk", "option": {"text": "Support"}}],
}


@pytest.mark.parametrize(
    "uri",
    ["sip:direct.c5d6e7f8a9b0@sip.voipbin.net", "SIP:direct.c5d6e7f8a9b0@SIP.VoIPBIN.net",
     "sips:direct.c5d6e7f8a9b0@sip.voipbin.net:5061;transport=tls",
     " sip:direct.c5d6e7f8a9b0@sip.voipbin.net?X-A=1"],
)  # fmt: skip
def test_a_direct_uri_resolves_to_its_flow(uri: str) -> None:
    directory = FlowDirectory({"f1": SUPPORT, "f2": [{"type": "hangup"}]})
    found = directory.resolve(uri)
    assert found is not None
    assert found is directory["f1"]
    assert found.to_dict() == SUPPORT
    assert dict(directory) == {"f1": directory["f1"], "f2": directory["f2"]}


@pytest.mark.parametrize(
    "uri",
    ["sip:direct.c5d6e7f8a9b0@sip.example.com", "sip:c5d6e7f8a9b0@sip.voipbin.net",
     "sip:direct.000000000000@sip.voipbin.net", "tel:+15551234567", "direct.c5d6e7f8a9b0",
     "sip:direct.@sip.voipbin.net", ""],
)  # fmt: skip
def test_other_uris_resolve_to_nothing(uri: str) -> None:
    assert FlowDirectory({"f1": SUPPORT}).resolve(uri) is None


def test_an_ai_direct_uri_talks_with_that_ai_and_the_domain_is_configurable() -> None:
    directory = FlowDirectory(ais={"a092c5d9": "abc123"}, domain="sip.example.com")
    flow = directory.resolve("sip:direct.abc123@sip.example.com")
    assert flow is not None
    assert [a.type for a in flow.actions] == ["answer", "ai_talk"]
    assert flow.actions[1].get("assistance_id") == "a092c5d9"
    assert directory.resolve("sip:direct.abc123@sip.voipbin.net") is None


def test_a_directory_is_the_flows_fetch_flow_loads() -> None:
    directory = FlowDirectory({"f1": SUPPORT})
    main_flow = [{"type": "fetch_flow", "option": {"flow_id": "f1"}}]
    result = asyncio.run(run(main_flow, flows=directory))
    assert [e.data["text"] for e in result.of("talk")] == ["Support"]


@pytest.mark.parametrize(
    ("flows", "ais", "code", "path"),
    [
        ({"f1": SUPPORT, "f2": SUPPORT}, {}, "DUPLICATE_DIRECT_HASH", "flows.f2.direct_hash"),
        ({"f1": SUPPORT}, {"a1": "c5d6e7f8a9b0"}, "DUPLICATE_DIRECT_HASH", "ais.a1"),
        ({"f1": {**SUPPORT, "direct_hash": ""}}, {}, "WRONG_TYPE", "flows.f1.direct_hash"),
        ({"f1": [{"type": "nope"}]}, {}, "UNKNOWN_ACTION_TYPE", "$[0].type"),
    ],
)
def test_a_directory_refuses_what_it_cannot_resolve(
    flows: dict[str, Any], ais: dict[str, str], code: str, path: str
) -> None:
    with pytest.raises(FlowError) as caught:
        FlowDirectory(flows, ais=ais)
    assert [(i.code, i.path) for i in caught.value.issues] == [(code, path)]


_HASH = st.from_regex(r"[A-Za-z0-9]{1,20}", fullmatch=True)


@given(_HASH, st.sampled_from(["sip", "SIP", "sips"]), st.sampled_from(["", ":5060", ";lr"]))
def test_direct_hash_reads_back_any_hash(hash_: str, scheme: str, tail: str) -> None:
    assert direct_hash(f"{scheme}:direct.{hash_}@sip.voipbin.net{tail}") == hash_


@given(st.text(max_size=60) | _ANY)
def test_direct_hash_never_raises(uri: object) -> None:
    found = direct_hash(uri)
    assert found is None or (isinstance(uri, str) and f"direct.{found}@" in uri)


# -- real-time summaries ------------------------------------------------------------------------


def live_summary_run() -> RunResult:
    flow = [
        {"type": "answer"},
        {"type": "ai_summary", "option": {"source_type": "call", "real_time": True}},
        {"type": "talk", "option": {"text": "Welcome to the shop."}},
        {"type": "ai_talk", "option": {"initial_prompt": "You sell shoes."}},
        {"type": "hangup"},
    ]
    engine = ScriptedEngine([
        "S0: nothing yet", "S1: greeted",
        "Which size?", "S2: asked for size", "Size 42 it is.", "S3: size 42", "S4: final",
    ])  # fmt: skip
    return asyncio.run(run(flow, engine=engine, caller=Caller(says=["Size 42"])))


def test_a_real_time_summary_is_updated_as_the_call_goes_on() -> None:
    result = live_summary_run()
    summaries = result.of("summary")
    assert [(e.data["update"], e.data["content"]) for e in summaries] == [
        (0, "S0: nothing yet"), (1, "S1: greeted"), (2, "S2: asked for size"),
        (3, "S3: size 42"),
    ]  # fmt: skip
    assert [e.data.get("after") for e in summaries] == [
        None, "$.actions[2]", "$.actions[3]", "$.actions[3]",
    ]  # fmt: skip
    assert all(e.path == "$.actions[1]" and e.data["real_time"] for e in summaries)
    assert len({e.data["id"] for e in summaries}) == 1  # one summary, updated
    assert result.variables["voipbin.ai_summary.content"] == "S3: size 42"
    assert result.status == "hangup"


def test_the_end_of_the_call_updates_a_real_time_summary_with_its_last_words() -> None:
    flow = [
        {"type": "ai_summary", "option": {"real_time": True}},
        {"type": "talk", "option": {"text": "Goodbye."}},
        {"type": "hangup"},
    ]
    seen: list[str] = []

    class Engine(ScriptedEngine):
        async def reply(self, messages: Any, tools: Any) -> Reply:
            seen.append(messages[-1].content)
            return Reply(f"v{len(seen)}")

    result = asyncio.run(run(flow, engine=Engine([])))
    assert [e.data["content"] for e in result.of("summary")] == ["v1", "v2"]
    assert seen == ["", "assistant: Goodbye."]


def test_a_summary_without_real_time_is_made_once() -> None:
    flow = [
        {"type": "ai_summary", "option": {"source_type": "call"}},
        {"type": "talk", "option": {"text": "More words."}},
    ]
    result = asyncio.run(run(flow, engine=ScriptedEngine(["once", "never"])))
    assert [e.data for e in result.of("summary")] == [
        {"id": result.variables["voipbin.ai_summary.id"], "content": "once"}
    ]
