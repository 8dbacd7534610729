"""exten.bot as seed 004 writes it (issue 16, item 4): the bot's SIP address, client mode, a
function's human-readable name and OpenAI function object, and webhook functions attached to an
assistant, offered on every call to it (flows runs, engine_for, a live Agent)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxml import CallRequest, CxmlError, Response, Sip, parse, render
from flows import Caller, run
from flows.routing import ResourceInUseError, load_pbx, validate_pbx
from providers import (
    AIAssistant,
    Function,
    HttpPolicy,
    Message,
    ProviderConfigError,
    Reply,
    ScriptedEngine,
    ToolError,
)
from providers.media import Agent, ScriptedSpeechToText, StreamCall, ToneTextToSpeech, engine_for
from tests.loopback import Webhooks, webhooks
from tests.media_signals import tone
from tests.outputs import Speaker

CALL = CallRequest.from_payload({"CallSid": "CA1", "From": "+14155550123", "To": "+14155550100"})
BOT = {"username": "u123", "password": "pw-secret", "domain": "exten.bot"}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"party": {"type": "integer", "minimum": 1}},
    "required": ["party"],
}
#: The function object exten.bot's "Function Description (Json schema)" holds.
BOOK = {"name": "book_table", "description": "Book a table for the caller", "parameters": SCHEMA}
LOOPBACK = HttpPolicy(allow_http=True, allowed_networks=("127.0.0.0/8",))


def dial(assistant: AIAssistant) -> str:
    return render(Response([assistant.verb(CALL)]))


# -- the bot's SIP address -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "read"),
    [("openai@exten.bot", "sip:openai@exten.bot"),
     ("70000000000@exten.bot", "sip:70000000000@exten.bot"),
     ("sip:openai@exten.bot", "sip:openai@exten.bot"),
     ("sips:openai@exten.bot;transport=tls", "sips:openai@exten.bot;transport=tls"),
     ("openai@exten.bot:5060", "sip:openai@exten.bot:5060")],
)  # fmt: skip
def test_the_bot_address_as_the_seed_writes_it_is_read_as_a_sip_uri(
    written: str, read: str
) -> None:
    bot = AIAssistant("bot", "sip-bot", {**BOT, "sip_uri": written, "transfer_uri": "100@10.8.0.1"})
    assert (bot.config["sip_uri"], bot.config["transfer_uri"]) == (read, "sip:100@10.8.0.1")
    (target,) = parse(dial(bot)).children[0].children  # type: ignore[union-attr]
    assert isinstance(target, Sip)
    assert (target.text, target.username, target.password) == (read, "u123", "pw-secret")


@pytest.mark.parametrize("written", ["openai", "openai@", "@exten.bot", "a@b@exten.bot",
                                     "tel:+14155550100", "openai@exten bot", ""])  # fmt: skip
def test_what_is_no_sip_address_is_refused_naming_the_field(written: str) -> None:
    with pytest.raises(ProviderConfigError) as caught:
        AIAssistant("bot", "sip-bot", {**BOT, "sip_uri": written})
    assert list(caught.value.problems) == ["config.sip_uri"]


@given(st.text(max_size=40))
def test_any_sip_uri_value_is_read_as_a_uri_the_dial_carries_or_refused(written: str) -> None:
    try:
        bot = AIAssistant("bot", "sip-bot", {**BOT, "sip_uri": written})
    except ProviderConfigError as exc:
        assert set(exc.problems) == {"config.sip_uri"}
        return
    uri = bot.config["sip_uri"]
    assert uri.lower().startswith(("sip:", "sips:"))
    assert uri.endswith(written)
    (target,) = parse(dial(bot)).children[0].children  # type: ignore[union-attr]
    assert isinstance(target, Sip)
    assert target.text == uri


def test_client_mode_dials_the_bots_sip_uri_without_credentials() -> None:
    client = {**BOT, "mode": "client", "domain": "pbx.example.com"}
    with_uri = AIAssistant("bot", "sip-bot", {**client, "sip_uri": "7000@pbx.example.com"})
    assert dial(with_uri).endswith(
        "<Response><Dial><Sip>sip:7000@pbx.example.com</Sip></Dial></Response>"
    )
    without = AIAssistant("bot", "sip-bot", client)
    assert dial(without).endswith(
        "<Response><Dial><Sip>sip:u123@pbx.example.com</Sip></Dial></Response>"
    )
    assert "pw-secret" not in dial(with_uri) + dial(without)


# -- a function's names and its OpenAI function object -------------------------------------------


@pytest.mark.parametrize(
    "description",
    [BOOK, {"type": "function", "function": BOOK}, {"type": "function", **BOOK}],
    ids=["bare", "tool", "flat"],
)
def test_the_description_may_be_the_openai_function_object(description: dict[str, Any]) -> None:
    made = Function(url="https://hooks.example.com/book", description=description,
                    title="Book a table")  # fmt: skip
    assert (made.name, made.title, made.description) == (
        "book_table", "Book a table", "Book a table for the caller",
    )  # fmt: skip
    assert made.parameters == SCHEMA
    assert made.spec() == {"type": "function", "function": BOOK}
    same = Function("book_table", "https://hooks.example.com/book", "Book a table for the caller",
                    SCHEMA, title="Book a table")  # fmt: skip
    assert made == same
    # Given beside the object, what agrees with it is fine.
    assert Function("book_table", "https://hooks.example.com/book", BOOK, SCHEMA) == made.__class__(
        "book_table", "https://hooks.example.com/book", BOOK, parameters=dict(SCHEMA)
    )


def test_a_function_object_without_parameters_takes_no_arguments() -> None:
    made = Function(url="https://hooks.example.com/t", description={"name": "time_now"})
    assert made.parameters == {"type": "object", "properties": {}}
    assert made.check_arguments({}) == {}
    assert made.title is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "reserve"}, "name"),
        ({"parameters": {"type": "object", "properties": {}}}, "parameters"),
        ({"description": {**BOOK, "strict": True}}, "description"),
        ({"description": {"type": "function", "function": BOOK, "x": 1}}, "description"),
        ({"description": {**BOOK, "type": "web_search"}}, "description"),
        ({"description": {"description": "no name"}}, "name"),
        ({"description": {**BOOK, "name": 7}}, "name"),
        ({"description": {**BOOK, "description": ["x"]}}, "description"),
        ({"description": {**BOOK, "parameters": {"type": "string"}}}, "parameters"),
        ({"description": 42}, "description"),
        ({"url": None}, "url"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "Book\na table"}, "title"),
        ({"title": 3}, "title"),
    ],
)
def test_what_contradicts_or_is_wrong_is_refused_naming_the_field(
    changes: dict[str, Any], field: str
) -> None:
    given_: dict[str, Any] = {"url": "https://hooks.example.com/book", "description": BOOK}
    given_.update(changes)
    with pytest.raises(ToolError) as caught:
        Function(**given_)
    assert caught.value.code == "INVALID_FUNCTION"
    assert caught.value.message.startswith(f"Function.{field}:")


_NAMES = st.from_regex(r"[a-zA-Z0-9_-]{1,64}", fullmatch=True)
_SCHEMAS = st.fixed_dictionaries(
    {"type": st.just("object"),
     "properties": st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True),
                                   st.sampled_from([{"type": "string"}, {"type": "integer"}]),
                                   max_size=3)}
)  # fmt: skip


@given(_NAMES, st.text(max_size=30), _SCHEMAS, st.sampled_from(["bare", "tool", "flat"]))
def test_an_object_and_its_fields_make_the_same_function(
    name: str, text: str, schema: dict[str, Any], form: str
) -> None:
    bare = {"name": name, "description": text, "parameters": schema}
    written = {
        "bare": bare, "tool": {"type": "function", "function": bare},
        "flat": {"type": "function", **bare},
    }[form]  # fmt: skip
    made = Function(url="https://hooks.example.com/f", description=written)
    assert made == Function(name, "https://hooks.example.com/f", text, schema)
    assert made.spec()["function"] == bare


@given(
    st.dictionaries(
        st.sampled_from(["type", "name", "description", "parameters", "function", "strict"]),
        st.none() | st.text(max_size=5) | st.integers() | _SCHEMAS,
        max_size=4,
    )
)
def test_any_function_object_makes_a_function_or_an_invalid_function_error(
    written: dict[str, Any],
) -> None:  # fmt: skip
    try:
        made = Function(url="https://hooks.example.com/f", description=written)
    except ToolError as exc:
        assert exc.code == "INVALID_FUNCTION"
        return
    assert made.spec()["function"]["name"] == written["name"]


# -- functions attached to an assistant ----------------------------------------------------------


def book(url: str = "https://hooks.example.com/book") -> Function:
    return Function(url=url, description=BOOK, title="Book a table", bearer_token="tok-hidden")


def concierge(*functions: Function, **config: Any) -> AIAssistant:
    settings = {"engine_model": "openai.gpt-realtime", "tool_names": ["stop_service"], **config}
    return AIAssistant("concierge", "builtin", settings, functions=list(functions))


def test_an_assistant_keeps_its_functions() -> None:
    assistant = concierge(book())
    assert assistant.functions == (book(),)
    assert "functions=['book_table']" in repr(assistant)
    assert "tok-hidden" not in repr(assistant)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda: AIAssistant("bot", "sip-bot", BOT, functions=[book()]), "provider builtin"),
        (lambda: AIAssistant("r", "retell", {"phone_number": "+14155551234"},
                             functions=[book()]), "provider builtin"),
        (lambda: concierge(book(), book()), "two functions are named 'book_table'"),
        (lambda: concierge(Function("stop_service", "https://h.example.com/s", "x",
                                    {"type": "object"})), "also a built-in tool"),
        (lambda: AIAssistant("c", "builtin", {"engine_model": "openai.gpt-4o"},
                             functions=["book_table"]), "providers.Function"),
        (lambda: AIAssistant("c", "builtin", {"engine_model": "openai.gpt-4o"},
                             functions="book_table"), "providers.Function"),
    ],
)  # fmt: skip
def test_functions_an_assistant_cannot_offer_are_refused(make: Any, problem: str) -> None:
    with pytest.raises(ProviderConfigError) as caught:
        make()
    assert problem in caught.value.problems["functions"]


PBX: dict[str, Any] = {
    "functions": {
        "book_table": {"title": "Book a table", "url": "https://hooks.example.com/book",
                       "bearer_token": "tok-hidden", "description": BOOK},
        "order_status": {"url": "https://hooks.example.com/order", "description": "Order status",
                         "parameters": {"type": "object"}},
    },
    "dids": {"+14155550100": {"destination": "ai_assistant/concierge"}},
    "ai_assistants": {
        "concierge": {"provider": "builtin", "functions": ["book_table", "order_status"],
                      "config": {"engine_model": "openai.gpt-realtime",
                                 "tool_names": ["stop_service"]}},
        "host": {"provider": "builtin", "functions": ["book_table"],
                 "config": {"engine_model": "openai.gpt-4o"}},
    },
}  # fmt: skip


def test_a_pbx_attaches_its_functions_to_assistants() -> None:
    pbx = load_pbx(PBX)
    assert pbx.functions["book_table"].title == "Book a table"
    assert [f.name for f in pbx.ai_assistants["concierge"].functions] == [
        "book_table", "order_status",
    ]  # fmt: skip
    assert pbx.references("function", "book_table") == [
        "ai_assistants.concierge.functions[0]", "ai_assistants.host.functions[0]",
    ]  # fmt: skip


def test_a_function_in_use_cannot_be_deleted() -> None:
    pbx = load_pbx(PBX)
    with pytest.raises(ResourceInUseError) as caught:
        pbx.without("function", "book_table")
    assert caught.value.references == (
        "ai_assistants.concierge.functions[0]", "ai_assistants.host.functions[0]",
    )  # fmt: skip
    freed = pbx.without("ai_assistant", "host").without("did", "+14155550100")
    freed = freed.without("ai_assistant", "concierge").without("function", "book_table")
    assert list(freed.functions) == ["order_status"]


@pytest.mark.parametrize(
    ("change", "path", "code"),
    [
        ({"ai_assistants": {"c": {"provider": "builtin", "functions": ["nope"],
                                  "config": {"engine_model": "openai.gpt-4o"}}}},
         "ai_assistants.c.functions[0]", "UNKNOWN_FUNCTION"),
        ({"ai_assistants": {"c": {"provider": "builtin", "functions": ["book_table"] * 2,
                                  "config": {"engine_model": "openai.gpt-4o"}}}},
         "ai_assistants.c.functions[1]", "DUPLICATE"),
        ({"ai_assistants": {"c": {"provider": "builtin", "functions": "book_table",
                                  "config": {"engine_model": "openai.gpt-4o"}}}},
         "ai_assistants.c.functions", "WRONG_TYPE"),
        ({"ai_assistants": {"c": {"provider": "sip-bot", "functions": ["book_table"],
                                  "config": BOT}}},
         "ai_assistants.c.functions", "INVALID_PROVIDER_CONFIG"),
        ({"functions": {"book_table": {"url": "https://h.example.com/b",
                                       "description": {**BOOK, "name": "reserve"}}}},
         "functions.book_table", "INVALID_FUNCTION"),
        ({"functions": {"f": {"url": "ftp://h.example.com/b", "description": "x",
                              "parameters": {"type": "object"}}}},
         "functions.f.url", "INVALID_FUNCTION"),
        ({"functions": {"f": {"url": "https://h.example.com/b", "description": "x",
                              "parameters": {"type": "string"}}}},
         "functions.f.parameters", "INVALID_FUNCTION"),
        ({"functions": {"f": {"url": "https://h.example.com/b", "descripton": "x"}}},
         "functions.f.descripton", "UNKNOWN_KEY"),
        ({"functions": ["book_table"]}, "functions", "WRONG_TYPE"),
    ],
)  # fmt: skip
def test_a_pbx_reports_what_is_wrong_with_its_functions(
    change: dict[str, Any], path: str, code: str
) -> None:
    config = {"functions": {"book_table": PBX["functions"]["book_table"]}, **change}
    issues = validate_pbx(config)
    assert (code, path) in [(i.code, i.path) for i in issues]
    assert all("tok-hidden" not in i.message for i in issues)


class Recording(ScriptedEngine):
    """A scripted engine that also keeps the names of the tools each reply was offered."""

    def __init__(self, script: list[Any]) -> None:
        super().__init__(script)
        self.offered: list[list[str]] = []

    async def reply(self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]]) -> Reply:
        self.offered.append([t["function"]["name"] for t in tools])
        return await super().reply(messages, tools)


@pytest.fixture
def hooks() -> Iterator[Webhooks]:
    with webhooks() as server:
        yield server


def test_a_flow_run_offers_the_assistants_functions_and_calls_them(hooks: Webhooks) -> None:
    config = json.loads(json.dumps(PBX))
    config["functions"]["order_status"]["url"] = hooks.url("/order")
    pbx = load_pbx(config)
    engine = Recording([
        {"tool_calls": [{"name": "order_status", "arguments": {}, "id": "t1"}]},
        "It ships Friday.", {"tool_calls": [{"name": "stop_service", "id": "t2"}]},
    ])  # fmt: skip
    flow = [{"type": "ai_talk", "option": {"assistance_id": "concierge"}}]
    result = asyncio.run(run(flow, engine=engine, assistants=pbx.ai_assistants, http=LOOPBACK,
                             caller=Caller(says=["Where is my order?"])))  # fmt: skip
    assert engine.offered[0] == ["stop_service", "book_table", "order_status"]
    assert result.of("ai_start")[0].data["tools"] == engine.offered[0]
    (answer,) = result.of("tool_result")[:1]
    assert answer.data["result"] == {"status": 200, "body": {"status": "shipped", "eta": "Friday"}}
    assert [r["path"] for r in hooks.received] == ["/order"]


def test_a_flow_step_listing_a_name_the_assistant_has_fails_clearly() -> None:
    pbx = load_pbx(PBX)
    other = Function("book_table", "https://elsewhere.example.com/b", "x", {"type": "object"})
    flow = [{"type": "ai_talk", "option": {"assistance_id": "concierge",
                                           "tool_names": ["book_table"]}}]  # fmt: skip
    result = asyncio.run(run(flow, engine=ScriptedEngine([]), assistants=pbx.ai_assistants,
                             functions=[other]))  # fmt: skip
    assert result.status == "failed"
    assert result.of("error")[0].data["code"] == "DUPLICATE_TOOL"


def test_engine_for_offers_the_assistants_functions_on_every_call() -> None:
    from providers.media.realtime import OpenAIRealtime

    pbx = load_pbx(PBX)
    assistant = pbx.ai_assistants["concierge"]
    for _ in range(2):
        engine = engine_for(assistant)
        assert isinstance(engine, OpenAIRealtime)
        assert [t["name"] for t in engine.tools()] == ["stop_service", "book_table", "order_status"]
    extra = Function("weather", "https://hooks.example.com/w", "Weather", {"type": "object"})
    engine = engine_for(assistant, functions=[extra])
    assert isinstance(engine, OpenAIRealtime)
    assert [t["name"] for t in engine.tools()][-1] == "weather"
    assert [t["name"] for t in OpenAIRealtime.for_assistant(assistant).tools()] == [
        "stop_service", "book_table", "order_status",
    ]  # fmt: skip


# What importing pipecat's services warns about (pipecat's own code, not ours).
@pytest.mark.filterwarnings("ignore:'audioop' is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:`AudioContextTTSService` is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:path is deprecated. Use files:DeprecationWarning")
def test_a_pipecat_engine_offers_the_assistants_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pipecat")
    monkeypatch.setenv("CARTESIA_API_KEY", "cartesia-not-a-real-key")
    monkeypatch.setenv("ELEVENLABS_API_KEY", "elevenlabs-not-a-real-key")
    assistant = AIAssistant("host", "builtin", {
        "engine_model": "openai.gpt-4o-mini", "engine_key": "sk-not-real",
        "stt_type": "cartesia", "tts_type": "elevenlabs", "tool_names": ["stop_service"],
    }, functions=[book()])  # fmt: skip
    engine = engine_for(assistant)
    engine.pipeline_factory(StreamCall("CA1"))  # type: ignore[attr-defined]
    (runner,) = engine.runners  # type: ignore[attr-defined]
    assert runner.names == ("stop_service", "book_table")


def test_a_live_agent_offers_the_assistants_functions_and_runs_them_under_its_policy(
    hooks: Webhooks,
) -> None:
    # An Agent made without a runner builds it from the call's assistant, as a StreamServer
    # engine factory does; its policy is the default one, which refuses a loopback webhook.
    assistant = concierge(book(hooks.url("/order")))
    conversation = Recording([
        {"tool_calls": [{"name": "book_table", "arguments": {"party": 2}, "id": "t1"}]},
        "Sorry, I could not book it.",
    ])  # fmt: skip
    agent = Agent(ScriptedSpeechToText(["a table for two"]), conversation,
                  ToneTextToSpeech(word_seconds=0.1), sample_rate=8000)  # fmt: skip

    async def scenario() -> None:
        await agent.start(StreamCall("CA1", assistant=assistant), Speaker())
        for pcm in [tone(8000, 0.02, (300, 0.3))] * 15 + [bytes(320)] * 25:
            await agent.audio(pcm)
        for _ in range(1000):  # bounded: until the engine has the tool's answer
            if len(conversation.seen) == 2:
                break
            await asyncio.sleep(0.01)
        await agent.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert conversation.offered[0] == ["stop_service", "book_table"]
    answer = conversation.seen[1][-1]
    assert (answer.role, answer.tool_call_id) == ("tool", "t1")
    assert json.loads(answer.content)["code"] == "BLOCKED_ADDRESS"  # offered, run, refused
    assert hooks.received == []


def test_errors_never_show_the_bearer_token() -> None:
    config = json.loads(json.dumps(PBX))
    config["functions"]["book_table"]["url"] = "ftp://hooks.example.com/book"
    try:
        load_pbx(config)
    except CxmlError as exc:
        assert "tok-hidden" not in str(exc)
    else:  # pragma: no cover - the loader refuses the URL
        pytest.fail("an ftp URL was accepted")


def test_a_realtime_session_offers_the_assistants_functions_on_every_call() -> None:
    import functools

    from providers.media import connect_websocket
    from providers.media.realtime import OpenAIRealtime
    from tests.realtime_server import RealtimeServer

    rt = RealtimeServer()
    connect = functools.partial(connect_websocket, policy=LOOPBACK)
    assistant = concierge(book(), engine_key="sk-not-real-0123")

    async def offered(engine: OpenAIRealtime, call: StreamCall) -> list[str]:
        await engine.start(call, Speaker())
        session = await rt.session()
        update = await session.expect("session.update")
        await engine.stop()
        return [t["name"] for t in update["session"]["tools"]]

    async def scenario() -> list[list[str]]:
        async with rt.serving() as url:
            built = OpenAIRealtime.for_assistant(assistant, url=url, connect=connect)
            plain = OpenAIRealtime(url=url, connect=connect)  # its runner comes with the call
            return [
                await offered(built, StreamCall("CA1")),
                await offered(plain, StreamCall("CA2", assistant=assistant)),
            ]

    assert asyncio.run(asyncio.wait_for(scenario(), 30)) == [["stop_service", "book_table"]] * 2
