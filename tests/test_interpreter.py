"""flows.run and flows.Conversations: each action's effect, AI steps and their tools, limits."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cxml import CallRequest, CxmlError
from flows import ACTIONS, Caller, Conversations, FlowRunError, RunResult, run, strategies
from providers import AIAssistant, Function, HttpPolicy, Message, Reply, ScriptedEngine
from tests.loopback import serving

LOCAL = HttpPolicy(allow_http=True, allowed_networks=("127.0.0.0/8",))
MONDAY = dt.datetime(2026, 11, 23, 10, 30, tzinfo=dt.UTC)  # a Monday


def go(actions: Sequence[Mapping[str, Any]], **kwargs: Any) -> RunResult:
    kwargs.setdefault("clock", lambda: MONDAY)
    return asyncio.run(run({"actions": list(actions)}, **kwargs))


def kinds(result: RunResult) -> list[str]:
    return [e.kind for e in result.events]


def talk(text: str, ident: str | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"type": "talk", "option": {"text": text}}
    if ident:
        action["id"] = ident
    return action


def said(result: RunResult) -> list[str]:
    return [e.data["text"] for e in result.of("talk")]


# -- straight runs, variables, ends ------------------------------------------------------------


def test_a_straight_flow_runs_in_order_and_finishes() -> None:
    result = go(
        [
            {"type": "answer"},
            talk("Hi"),
            {"type": "sleep", "option": {"duration": 1500}},
            {"type": "play", "option": {"stream_urls": ["https://x.test/a.wav"]}},
        ]
    )
    assert result.status == "finished"
    assert kinds(result) == ["answer", "talk", "sleep", "play"]
    assert result.of("play")[0].data["urls"] == ["https://x.test/a.wav"]
    assert result.steps == 4


def test_variables_are_substituted_before_each_step() -> None:
    result = go(
        [
            {"type": "variable_set", "option": {"key": "name", "value": "Ann"}},
            {"type": "variable_set", "option": {"key": "greeting", "value": "Hi ${name}"}},
            talk("${greeting} from ${voipbin.call.source.target}; ${missing}."),
        ],
        call=CallRequest.from_payload({"CallSid": "CA7", "From": "+15550001", "To": "+15550002"}),
    )
    assert said(result) == ["Hi Ann from +15550001; ."]
    assert result.variables["voipbin.call.id"] == "CA7"


def test_strict_mode_ends_the_run_on_an_unknown_variable() -> None:
    result = go([talk("${missing}"), talk("never")], strict=True)
    assert result.status == "failed"
    error = result.of("error")[0]
    assert (error.data["code"], error.path) == ("UNKNOWN_VARIABLE", "$.actions[0].option.text")
    assert said(result) == []


def test_initial_variables_follow_voipbin_rules() -> None:
    assert said(go([talk("${a}")], variables={"a": "1"})) == ["1"]
    with pytest.raises(FlowRunError) as caught:
        go([talk("x")], variables={"voipbin.call.id": "forged"})
    assert caught.value.code == "BAD_VARIABLES"


def setter(value: str) -> dict[str, Any]:
    return {"type": "variable_set", "option": {"key": "x", "value": value}}


@pytest.mark.parametrize(
    ("kind", "status", "media"),
    [("hangup", "hangup", "rtc"), ("stop", "stopped", "rtc"), ("block", "blocked", "non_rtc")],
)
def test_ending_actions(kind: str, status: str, media: str) -> None:
    result = go([setter("a"), {"type": kind}, setter("b")], media=media)
    assert result.status == status
    assert result.variables["x"] == "a"


def test_block_does_not_run_on_a_call() -> None:
    assert go([{"type": "block"}, setter("b")]).status == "finished"


def test_actions_of_the_other_media_class_are_skipped() -> None:
    result = go(
        [talk("voice only"), {"type": "variable_set", "option": {"key": "x", "value": "1"}}],
        media="non_rtc",
    )
    assert kinds(result) == ["skipped", "variable_set"]
    assert result.variables["x"] == "1"


def test_next_id_jumps() -> None:
    result = go([{**talk("a"), "next_id": "c"}, talk("b"), talk("c", "c")])
    assert said(result) == ["a", "c"]


# -- control flow ------------------------------------------------------------------------------


def test_goto_jumps_loop_count_times_then_falls_through() -> None:
    result = go(
        [talk("top", "top"), {"type": "goto", "option": {"target_id": "top", "loop_count": 2}}]
    )
    assert said(result) == ["top", "top", "top"]
    assert [e.data["jumped"] for e in result.of("goto")] == [True, True, False]


def test_goto_loop_count_may_come_from_a_variable() -> None:
    flow: list[dict[str, Any]] = [
        {"type": "variable_set", "option": {"key": "n", "value": "1"}},
        talk("top", "top"),
        {"type": "goto", "option": {"target_id": "top", "loop_count": "${n}"}},
    ]
    assert said(asyncio.run(run({"actions": flow}))) == ["top", "top"]


def test_an_endless_loop_stops_at_the_step_limit() -> None:
    flow = [talk("a", "a"), {"type": "goto", "option": {"target_id": "a", "loop_count": 10**6}}]
    result = go(flow)
    assert result.status == "step_limit"
    assert result.steps == 100
    assert go(flow, step_limit=7).steps == 7


def test_branch_reads_digits_and_resets_them() -> None:
    flow: list[dict[str, Any]] = [
        {"id": "ask", "type": "digits_receive", "option": {"length": 1}},
        {"type": "branch", "option": {"target_ids": {"1": "one"}, "default_target_id": "ask"}},
        talk("one", "one"),
        talk("${voipbin.call.digits}|"),
    ]
    result = go(flow, caller=Caller(digits=["7", "1"]))
    assert [e.data["value"] for e in result.of("branch")] == ["7", "1"]
    assert said(result) == ["one", "|"]  # branch emptied the variable it read


def test_digits_stop_at_the_key_and_the_length() -> None:
    flow: list[dict[str, Any]] = [
        {"type": "digits_receive", "option": {"key": "#", "length": 4}},
        {"type": "digits_receive", "option": {"length": 2}},
        {"type": "digits_receive"},
    ]
    result = go(flow, caller=Caller(digits=["12#34", "98765"]))
    assert [e.data["digits"] for e in result.of("digits")] == ["12", "98", ""]


@pytest.mark.parametrize(
    ("value_type", "value", "option", "held"),
    [
        ("string", "gold", {"value_string": "gold"}, True),
        ("string", "silver", {"value_string": "gold"}, False),
        ("number", "42", {"value_number": 40}, True),
        ("number", "not a number", {"value_number": 40}, False),
        ("length", "abcd", {"value_length": 3}, True),
    ],
)
def test_condition_variable(
    value_type: str, value: str, option: dict[str, Any], held: bool
) -> None:
    condition = ">=" if value_type != "string" else "=="
    flow: list[dict[str, Any]] = [
        {"type": "variable_set", "option": {"key": "v", "value": value}},
        {
            "type": "condition_variable",
            "option": {
                "condition": condition,
                "variable": "${v}",
                "value_type": value_type,
                "false_target_id": "no",
                **option,
            },
        },
        talk("yes"),
        {"type": "stop"},
        talk("no", "no"),
    ]
    assert said(go(flow)) == (["yes"] if held else ["no"])


@pytest.mark.parametrize(
    ("option", "held"),
    [
        ({"condition": ">=", "hour": 10, "minute": -1}, True),  # 10 >= 10 (now is 10:30 UTC)
        ({"condition": ">=", "hour": 9, "minute": -1}, False),  # VoIPBIN's order: option ⟨op⟩ now
        ({"condition": "==", "hour": 10}, False),  # an omitted minute is 0, not "any"
        ({"condition": "==", "hour": 10, "minute": 30}, True),
        ({"condition": "==", "hour": -1, "minute": -1, "weekdays": [1]}, True),  # Monday = 1
        ({"condition": "==", "hour": -1, "minute": -1, "weekdays": [0, 6]}, False),
        ({"condition": "==", "month": 11, "day": 23, "hour": -1, "minute": -1}, True),
    ],
)
def test_condition_datetime_follows_voipbin(option: dict[str, Any], held: bool) -> None:
    flow: list[dict[str, Any]] = [
        {"type": "condition_datetime", "option": {**option, "false_target_id": "no"}},
        talk("yes"),
        {"type": "stop"},
        talk("no", "no"),
    ]
    assert said(go(flow)) == (["yes"] if held else ["no"])


def test_sleep_moves_the_clock_the_conditions_read() -> None:
    flow: list[dict[str, Any]] = [
        {"type": "sleep", "option": {"duration": 30 * 60 * 1000}},
        {
            "type": "condition_datetime",
            "option": {"condition": "==", "hour": 11, "minute": 0, "false_target_id": "no"},
        },
        talk("eleven"),
        {"type": "stop"},
        talk("no", "no"),
    ]
    assert said(go(flow)) == ["eleven"]


def test_a_bad_number_after_substitution_fails_the_run_at_its_option() -> None:
    result = go([{"type": "sleep", "option": {"duration": "${wait}"}}], variables={"wait": "soon"})
    assert result.status == "failed"
    assert result.of("error")[0].data["code"] == "WRONG_TYPE"
    assert result.of("error")[0].path == "$.actions[0].option.duration"


def test_a_jump_to_a_missing_id_fails_the_run() -> None:
    result = go(
        [
            {"type": "variable_set", "option": {"key": "t", "value": "nowhere"}},
            {"type": "goto", "option": {"target_id": "${t}", "loop_count": 1}},
        ]
    )
    assert result.status == "failed"
    assert result.of("error")[0].data["code"] == "DANGLING_TARGET"


# -- AI steps ------------------------------------------------------------------------------------

BOT = AIAssistant(
    "helper",
    "builtin",
    {
        "engine_model": "openai.gpt-4o",
        "init_prompt": "You help ${customer}.",
        "tool_names": [
            "set_variables",
            "get_variables",
            "stop_service",
            "stop_flow",
            "connect_call",
            "send_email",
        ],
        "stt_language": "ja-JP",
    },
)
PROMPTED = {"type": "ai_talk", "option": {"initial_prompt": "You help."}}
AI = {"id": "ai", "type": "ai_talk", "option": {"assistance_type": "ai", "assistance_id": "helper"}}


def ai_run(
    script: Sequence[Any], says: Sequence[str] = (), after: Sequence[Any] = (), **kwargs: Any
) -> tuple[RunResult, ScriptedEngine]:
    engine = ScriptedEngine(script)
    result = go(
        [AI, *after],
        engine=engine,
        assistants={"helper": BOT},
        caller=Caller(says=says),
        variables={"customer": "Ann"},
        **kwargs,
    )
    return result, engine


def tool(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments, "id": f"call-{name}"}]}


def test_the_ai_speaks_first_then_alternates_with_the_caller_keeping_context() -> None:
    result, engine = ai_run(["Hello", "Sure", "Bye"], says=["I need help", "Thanks"])
    assert [(e.kind, e.data["text"]) for e in result.events if "text" in e.data] == [
        ("ai_said", "Hello"),
        ("caller_said", "I need help"),
        ("ai_said", "Sure"),
        ("caller_said", "Thanks"),
        ("ai_said", "Bye"),
    ]
    assert result.of("ai_end")[0].data["reason"] == "caller_silent"
    last = engine.seen[-1]
    assert [m.role for m in last] == ["system", "assistant", "user", "assistant", "user"]
    assert last[0].content == "You help Ann."  # the prompt is substituted
    assert result.of("ai_said")[0].data["voice"] == "PmgfHCGeS5b7sH90BOOJ"  # Japanese, female


def test_the_elevenlabs_override_variable_picks_the_voice() -> None:
    result, _ = ai_run(["Hi"])
    flow: list[dict[str, Any]] = [
        {
            "type": "variable_set",
            "option": {"key": "voipbin.tts.elevenlabs.voice_id", "value": "custom-voice"},
        },
        AI,
    ]
    overridden = go(
        flow,
        engine=ScriptedEngine(["Hi"]),
        assistants={"helper": BOT},
        variables={"customer": "Ann"},
    )
    assert result.of("ai_said")[0].data["voice"] != "custom-voice"
    assert overridden.of("ai_said")[0].data["voice"] == "custom-voice"


def test_set_and_get_variables_change_the_flow_variables() -> None:
    result, engine = ai_run(
        [
            tool("set_variables", variables={"order": "pizza"}),
            tool("get_variables", names=["order"]),
            tool("stop_service"),
        ],
        after=[talk("Order: ${order}")],
    )
    assert said(result) == ["Order: pizza"]
    answer = engine.seen[2][-1]
    assert answer.role == "tool"
    assert answer.tool_call_id == "call-get_variables"
    assert json.loads(answer.content) == {"variables": {"order": "pizza"}}


def test_stop_service_ends_the_ai_step_and_the_flow_goes_on() -> None:
    result, engine = ai_run(
        [tool("stop_service"), "never asked"], says=["hello?"], after=[talk("after")]
    )
    assert said(result) == ["after"]
    assert result.status == "finished"
    assert engine.remaining == 1


def test_stop_flow_ends_the_run() -> None:
    result, _ = ai_run([tool("stop_flow")], after=[talk("never")])
    assert (result.status, said(result)) == ("stopped", [])


def test_connect_call_connects_and_ends_the_ai_step() -> None:
    target = [{"type": "tel", "target": "+15557654321"}]
    result, _ = ai_run([tool("connect_call", destinations=target)], after=[talk("after")])
    assert result.of("connect")[0].data["destinations"] == target
    assert result.of("ai_end")[0].data["reason"] == "connect_call"
    assert said(result) == ["after"]


def test_the_other_builtin_tools() -> None:
    bot = AIAssistant("helper", "builtin", {"engine_model": "openai.gpt-4o", "tool_names": ["all"]})
    engine = ScriptedEngine(
        [
            "Hello",
            tool("send_email", to=["ann@example.com"], subject="Order", content="Soup"),
            tool("send_message", to=["+15550001111"], text="Your soup is on its way"),
            tool("stop_media"),
            tool("get_aicall_messages", aicall_id="x"),
            tool("search_knowledge", query="opening hours"),
            "Done",
        ]
    )
    result = go([AI], engine=engine, assistants={"helper": bot}, caller=Caller(says=["Soup"]))
    email = {"to": ["ann@example.com"], "subject": "Order", "content": "Soup"}
    assert result.of("email")[0].data == email
    assert result.of("message")[0].data["text"] == "Your soup is on its way"
    answers = {m.tool_call_id: json.loads(m.content) for m in engine.seen[-1] if m.role == "tool"}
    history = answers["call-get_aicall_messages"]["messages"]
    assert [m["content"] for m in history if m["role"] == "user"] == ["Soup"]
    assert "error" in answers["call-search_knowledge"]
    assert answers["call-stop_media"] == {"result": "success"}
    assert result.of("ai_end")[0].data["reason"] == "caller_silent"


def test_a_tool_the_ai_was_not_given_is_never_run() -> None:
    result, engine = ai_run([tool("send_message", to=["+15550001"], text="hi"), "ok"])
    assert result.of("message") == []
    assert result.of("tool_refused")[0].data["name"] == "send_message"
    assert "is available" in engine.seen[1][-1].content


def test_an_engine_that_only_calls_tools_is_bounded() -> None:
    result, _ = ai_run([tool("get_variables")] * 50)
    assert result.of("error")[0].data["code"] == "TOOL_LOOP"
    assert result.status == "finished"


def test_an_ai_step_without_an_engine_or_with_an_unknown_assistant_fails() -> None:
    assert go([AI]).of("error")[0].data["code"] == "NO_ENGINE"
    unknown = go([AI], engine=ScriptedEngine())
    assert (unknown.status, unknown.of("error")[0].data["code"]) == ("failed", "UNKNOWN_ASSISTANT")
    asleep = AIAssistant("helper", "builtin", {"engine_model": "openai.gpt-4o"}, status="inactive")
    inactive = go([AI], engine=ScriptedEngine(), assistants={"helper": asleep})
    assert inactive.of("error")[0].data["code"] == "ASSISTANT_INACTIVE"


def test_ai_summary_summarises_the_conversation_into_its_variable() -> None:
    summary = {"type": "ai_summary", "option": {"source_type": "call", "language": "en-US"}}
    result, engine = ai_run(
        ["How can I help?", tool("stop_service"), "Ann wants a refund."],
        says=["I want a refund"],
        after=[summary, talk("${voipbin.ai_summary.content}")],
    )
    assert said(result) == ["Ann wants a refund."]
    shown = engine.seen[-1]
    assert shown[0].role == "system"
    assert "user: I want a refund" in shown[1].content
    assert "assistant: How can I help?" in shown[1].content
    assert result.variables["voipbin.ai_summary.reference_type"] == "call"


class _Hook(BaseHTTPRequestHandler):
    bodies: list[Any] = []  # noqa: RUF012 (shared on purpose: the test reads what arrived)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"null")
        _Hook.bodies.append(body)
        if self.path == "/actions":
            payload = json.dumps([{"type": "talk", "option": {"text": "fetched"}}]).encode()
        else:
            payload = json.dumps({"booked": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    with serving(server):
        yield f"http://127.0.0.1:{server.server_address[1]}"


def test_webhook_functions_are_called_over_http(hook: str) -> None:
    book = Function(
        "book",
        f"{hook}/book",
        "Book a table",
        {"type": "object", "properties": {"seats": {"type": "integer"}}, "required": ["seats"]},
    )
    bot = AIAssistant("helper", "builtin", {"engine_model": "openai.gpt-4o", "tool_names": []})
    engine = ScriptedEngine([tool("book", seats=2), "Booked"])
    action = {"type": "ai_talk", "option": {"assistance_id": "helper", "tool_names": ["book"]}}
    result = go([action], engine=engine, assistants={"helper": bot}, functions=[book], http=LOCAL)
    assert result.of("tool_result")[0].data["result"] == {"status": 200, "body": {"booked": True}}
    sent = _Hook.bodies[0]
    assert sent["arguments"] == {"seats": 2}
    assert sent["variables"]["voipbin.activeflow.id"] == result.variables["voipbin.activeflow.id"]


def test_webhook_send_and_fetch(hook: str) -> None:
    flow: list[dict[str, Any]] = [
        {"type": "webhook_send", "option": {"uri": f"{hook}/event", "data": '{"a": 1}'}},
        {"type": "fetch", "option": {"event_url": f"{hook}/actions"}},
        talk("after"),
    ]
    result = go(flow, http=LOCAL)
    assert result.of("webhook")[0].data["status"] == 200
    assert said(result) == ["fetched", "after"]  # the fetched actions run, then the flow goes on
    assert _Hook.bodies[0] == {"a": 1}
    assert set(_Hook.bodies[1]) == {"activeflow_id", "reference_id"}


def test_outbound_requests_are_guarded() -> None:
    flow: list[dict[str, Any]] = [
        {"type": "webhook_send", "option": {"uri": "http://127.0.0.1:9/x"}},
        talk("after"),
        {"type": "fetch", "option": {"event_url": "https://10.0.0.1/actions"}},
        talk("never"),
    ]
    result = go(flow)  # the default policy: https only, no private addresses
    assert [e.data["code"] for e in result.of("error")] == ["BLOCKED_ADDRESS", "BLOCKED_ADDRESS"]
    assert (result.status, said(result)) == ("failed", ["after"])


def test_fetch_flow_runs_a_flow_by_id_and_returns() -> None:
    sub = {"actions": [talk("in the sub-flow")]}
    result = go(
        [{"type": "fetch_flow", "option": {"flow_id": "sub"}}, talk("back")], flows={"sub": sub}
    )
    assert said(result) == ["in the sub-flow", "back"]


# -- conversations -------------------------------------------------------------------------------

CHAT = [
    {
        "type": "ai_talk",
        "option": {"initial_prompt": "You are a florist.", "assistance_id": "helper"},
    },
    {"type": "variable_set", "option": {"key": "after", "value": "yes"}},
]


class _Clock:
    def __init__(self) -> None:
        self.now = MONDAY

    def __call__(self) -> dt.datetime:
        return self.now


def chats(script: Sequence[Any], clock: _Clock | None = None) -> Conversations:
    bot = AIAssistant(
        "helper",
        "builtin",
        {"engine_model": "openai.gpt-4o", "tool_names": ["stop_service", "set_variables"]},
    )
    return Conversations(
        CHAT, engine=ScriptedEngine(script), assistants={"helper": bot}, clock=clock or _Clock()
    )


def test_a_conversation_reuses_its_session_across_messages() -> None:
    talk_ = chats(["Roses?", "Red ones."])

    async def main() -> None:
        first = await talk_.receive("c1", "Flowers please")
        second = await talk_.receive("c1", "Yes, roses")
        assert (first.reply, second.reply) == ("Roses?", "Red ones.")
        assert first.session == second.session
        assert [m.content for m in talk_.messages("c1")] == [
            "You are a florist.",
            "Flowers please",
            "Roses?",
            "Yes, roses",
            "Red ones.",
        ]
        # The flow moved past ai_talk before the reply came.
        assert [e.kind for e in first.run.events] == ["ai_start", "variable_set", "reply"]
        assert first.run.variables["voipbin.conversation.id"] == "c1"

    asyncio.run(main())


def test_stop_service_or_idleness_starts_a_new_session() -> None:
    clock = _Clock()
    talk_ = chats([{"text": "Bye", **tool("stop_service")}, "Hello again", "Hi once more"], clock)

    async def main() -> None:
        first = await talk_.receive("c1", "done")
        second = await talk_.receive("c1", "back")
        clock.now += dt.timedelta(hours=24, seconds=1)
        third = await talk_.receive("c1", "a day later")
        assert first.reply == "Bye"
        assert len({first.session, second.session, third.session}) == 3
        assert [m.content for m in talk_.messages("c1")][1:] == ["a day later", "Hi once more"]

    asyncio.run(main())


class _SlowEngine:
    """Answers each call once its gate opens; the test decides the order."""

    def __init__(self) -> None:
        self.gates: list[asyncio.Event] = []
        self.seen: list[tuple[Message, ...]] = []

    async def reply(self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]]) -> Reply:
        gate = asyncio.Event()
        self.gates.append(gate)
        self.seen.append(tuple(messages))
        await gate.wait()
        return Reply(f"answer to {messages[-1].content}")


def test_a_newer_message_supersedes_a_reply_still_being_made() -> None:
    engine = _SlowEngine()
    talk_ = Conversations(
        [*CHAT[1:], {"type": "ai_talk", "option": {"initial_prompt": "p"}}], engine=engine
    )

    async def main() -> None:
        first = asyncio.create_task(talk_.receive("c1", "one"))
        while len(engine.gates) < 1:
            await asyncio.sleep(0)
        second = asyncio.create_task(talk_.receive("c1", "two"))
        while len(engine.gates) < 2:
            await asyncio.sleep(0)
        engine.gates[1].set()
        engine.gates[0].set()
        dropped, latest = await first, await second
        assert (dropped.reply, dropped.superseded) == (None, True)
        assert dropped.run.of("reply_dropped")[0].data["text"] == "answer to one"
        assert latest.reply == "answer to two"
        assert [m.content for m in engine.seen[1]] == ["p", "one", "two"]  # context kept
        assert [m.content for m in talk_.messages("c1")] == ["p", "one", "two", "answer to two"]

    asyncio.run(main())


# -- properties ----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategies.flows())
def test_generated_flows_end_within_the_step_limit_raising_only_our_errors(
    flow: dict[str, Any],
) -> None:
    engine = ScriptedEngine(
        [tool("set_variables", variables={"x": "1"}), "ok", tool("stop_service")] * 3
    )
    try:
        result = go(
            flow["actions"] if isinstance(flow, dict) else flow,
            engine=engine,
            caller=Caller(says=["hi"], digits=["1", "2"]),
            step_limit=40,
        )
    except CxmlError:
        return
    assert result.steps <= 40
    assert result.status in ("finished", "stopped", "hangup", "blocked", "step_limit", "failed")


# -- hostile values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "value", "path", "code"),
    [
        ({"type": "condition_datetime", "option": {"condition": "==", "weekdays": "${v}",
                                                   "false_target_id": "end"}},
         "monday", "$.actions[0].option.weekdays", "WRONG_TYPE"),
        ({"type": "branch", "option": {"target_ids": "${v}"}}, "x",
         "$.actions[0].option.target_ids", "WRONG_TYPE"),
        ({"type": "sleep", "option": {"duration": "${v}"}}, "9" * 20,
         "$.actions[0].option.duration", "WRONG_TYPE"),
        ({"type": "sleep", "option": {"duration": "${v}"}}, "-1",
         "$.actions[0].option.duration", "WRONG_TYPE"),
        ({"type": "goto", "option": {"target_id": "end", "loop_count": "${v}"}}, "many",
         "$.actions[0].option.loop_count", "WRONG_TYPE"),
    ],
)  # fmt: skip
def test_values_are_checked_again_after_substitution(
    action: dict[str, Any], value: str, path: str, code: str
) -> None:
    result = go([action, {"id": "end", "type": "stop"}], variables={"v": value})
    assert result.status == "failed"
    error = result.of("error")[0]
    assert (error.path, error.data["code"]) == (path, code)


def test_a_literal_sleep_out_of_range_fails_the_run() -> None:
    result = go([{"type": "sleep", "option": {"duration": 10**30}}])
    assert (result.status, result.of("error")[0].data["code"]) == ("failed", "WRONG_TYPE")


def test_booleans_and_numbers_are_read_from_substituted_text() -> None:
    flow = [{"type": "variable_set", "option": {"key": "n", "value": "2"}},
            talk("top", "top"),
            {"type": "goto", "option": {"target_id": "top", "loop_count": "${n}"}},
            {"type": "recording_start", "option": {"beep_start": "${yes}"}}]  # fmt: skip
    result = go(flow, variables={"yes": "True"})
    assert said(result) == ["top", "top", "top"]
    assert result.of("recording_start")[0].data["beep_start"] is True


def test_engine_written_tool_arguments_are_data() -> None:
    bot = AIAssistant("helper", "builtin", {"engine_model": "openai.gpt-4o", "tool_names": ["all"]})
    engine = ScriptedEngine([
        tool("send_email", to=["a@example.com"], subject="s", content="c", path="x", kind="y"),
        tool("get_variables", names=[{"a": 1}, "customer", 7]),
        tool("set_variables", variables={"big": "x" * 40_000}),
        "done",
    ])  # fmt: skip
    result = go([AI], engine=engine, assistants={"helper": bot}, variables={"customer": "Ann"})
    assert result.status == "finished"
    assert result.of("email")[0].data["path"] == "x"
    answers = [json.loads(m.content) for m in engine.seen[-1] if m.role == "tool"]
    assert answers[1] == {"variables": {"customer": "Ann"}}
    assert "error" in answers[2]
    assert "big" not in result.variables


def test_a_step_limit_must_be_a_whole_number() -> None:
    for limit in (0, 1.5, "10", True):
        with pytest.raises(FlowRunError):
            go([talk("x")], step_limit=limit)


class _Deep(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        payload = b"[" * 100_000 + b"]" * 100_000
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def test_hostile_webhook_data_and_fetch_answers_end_as_our_errors() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Deep)
    policy = HttpPolicy(allow_http=True, allowed_networks=("127.0.0.0/8",), max_bytes=300_000)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    flow = [{"type": "webhook_send", "option": {"uri": base, "data": "\ud800"}},
            {"type": "webhook_send", "option": {"uri": base, "data_type": "a\nb"}},
            {"type": "fetch", "option": {"event_url": base}}, talk("never")]  # fmt: skip
    with serving(server):
        result = go(flow, http=policy)
    assert [e.data["code"] for e in result.of("error")] == ["BAD_DATA", "BAD_DATA", "FETCH_FAILED"]
    assert (result.status, said(result)) == ("failed", [])


class _Broken:
    async def reply(self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]]) -> Reply:
        await asyncio.sleep(0)
        raise RuntimeError("the engine's own bug")


def test_a_failing_engine_leaves_no_reply_task_behind() -> None:
    chats = Conversations([PROMPTED, PROMPTED], engine=_Broken())

    async def main() -> None:
        with pytest.raises(RuntimeError):
            await chats.receive("c1", "hello")
        current = asyncio.current_task()
        assert [t for t in asyncio.all_tasks() if t is not current] == []

    asyncio.run(main())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategies.flows(), st.data())
def test_any_text_substituted_into_a_typed_option_ends_the_run_cleanly(
    flow: dict[str, Any], data: st.DataObject
) -> None:
    actions = flow["actions"] if isinstance(flow, dict) else flow
    typed = [
        (i, key)
        for i, action in enumerate(actions)
        for key in action.get("option") or {}
        if (found := ACTIONS[action["type"]].option(key)) is not None
        and found[1].type not in ("str", "id", "enum")
    ]
    assume(typed)
    i, key = data.draw(st.sampled_from(typed))
    actions[i]["option"][key] = "${v}"
    value = data.draw(st.text(max_size=30) | st.from_regex(r"-?[0-9]{1,25}", fullmatch=True))
    engine = ScriptedEngine(["ok", tool("stop_service")])
    try:
        result = go(actions, engine=engine, variables={"v": value}, step_limit=30)
    except CxmlError:
        return  # our error: the flow does not load with ${v} there (an enum list, ...)
    assert result.status in ("finished", "stopped", "hangup", "blocked", "step_limit", "failed")
