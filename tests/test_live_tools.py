"""Tools on live calls: the `ToolRunner` (offered tools only, time limits, failures reported,
effects), and an `Agent` running its engine's tool calls through `StreamServer` on loopback."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect

from cxml import CallRequest
from providers import (
    AIAssistant,
    Function,
    HttpPolicy,
    MediaBridge,
    Message,
    ScriptedEngine,
    ToolCall,
    ToolError,
    ToolEvent,
    ToolRunner,
)
from providers.media import (
    Agent,
    EnergyDetector,
    Engine,
    Outcome,
    PlatformPeer,
    ScriptedSpeechToText,
    StreamCall,
    StreamServer,
    ToneTextToSpeech,
    VirtualClock,
    ulaw_from_pcm,
)
from providers.media.protocols import Mark, Media

from .loopback import Webhooks, serving, webhooks
from .media_signals import tone
from .outputs import Speaker

TOKEN = "hook-secret-5e4d3c2b1a"
LOOPBACK = HttpPolicy(allow_http=True, allowed_networks=("127.0.0.0/8",))
ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"order": {"type": "string"}},
    "required": ["order"],
}
TO_1001 = {"destinations": [{"type": "extension", "target": "1001"}]}
SPEECH = ulaw_from_pcm(tone(8000, 0.02, (300, 0.3)))
QUIET = b"\xff" * 160  # mu-law silence


# --- a webhook server on 127.0.0.1 ------------------------------------------------------------


@pytest.fixture
def hooks() -> Iterator[Webhooks]:
    with webhooks() as server:
        yield server


def function(hooks: Webhooks, path: str, name: str = "order_status") -> Function:
    url = f"http://127.0.0.1:{hooks.server_address[1]}{path}"
    return Function(name, url, "Look up an order", ORDER_SCHEMA, bearer_token=TOKEN)


def run(runner: ToolRunner, name: str, arguments: Mapping[str, Any] | None = None) -> Any:
    return asyncio.run(runner.run(ToolCall(name, arguments or {}, id=f"call-{name}")))


# --- the runner ---------------------------------------------------------------------------------


def test_builtin_tools_and_their_effects() -> None:
    sent: list[ToolEvent] = []

    async def deliver(event: ToolEvent) -> None:
        sent.append(event)

    variables = {"customer": "Ann"}
    runner = ToolRunner(["all"], variables=variables, on_event=deliver)
    assert run(runner, "set_variables", {"variables": {"order": "A17"}}).result == {
        "result": "success"
    }
    assert variables == {"customer": "Ann", "order": "A17"}  # the call's own mapping
    got = run(runner, "get_variables", {"names": ["order", "missing"]})
    assert got.result == {"variables": {"order": "A17", "missing": ""}}

    transfer = run(runner, "connect_call", TO_1001)
    assert (transfer.outcome, transfer.error) == (Outcome("transfer", destination="1001"), None)
    assert run(runner, "stop_service").outcome == Outcome("stop")
    assert run(runner, "stop_flow").outcome == Outcome("finished")  # seed 001: the call ends
    assert run(runner, "stop_media").outcome is None

    email = {"to": ["ann@example.com"], "subject": "Order", "content": "Shipped"}
    assert run(runner, "send_email", email).events == (ToolEvent("email", email),)
    assert [e.kind for e in sent] == ["connect", "email"]
    assert sent[0].data == TO_1001

    history = [Message("system", "Be brief"), Message("user", "Hi"), Message("tool", "{}")]
    read = asyncio.run(runner.run(ToolCall("get_aicall_messages"), messages=history))
    assert read.result == {
        "messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}]
    }
    assert not runner.errors


@pytest.mark.parametrize(
    ("name", "arguments", "code"),
    [
        ("connect_call", {}, "INVALID_ARGUMENTS"),
        ("connect_call", {"destinations": [{"type": "tel", "target": " "}]}, "INVALID_ARGUMENTS"),
        ("set_variables", {"variables": {"n": 1}}, "INVALID_ARGUMENTS"),
        ("search_knowledge", {"query": "hours"}, "NO_KNOWLEDGE_BASE"),
    ],
)
def test_failing_builtin_tools_are_reported_not_raised(
    name: str, arguments: dict[str, Any], code: str
) -> None:
    runner = ToolRunner(["all"])
    done = run(runner, name, arguments)
    assert (done.error, done.result["code"], done.outcome) == (code, code, None)
    assert [e.code for e in runner.errors] == [code]
    answer = done.message()
    assert (answer.role, answer.tool_call_id) == ("tool", f"call-{name}")
    assert json.loads(answer.content) == done.result


def test_a_tool_that_was_not_offered_is_refused_and_never_run(hooks: Webhooks) -> None:
    runner = ToolRunner(["get_variables"], [function(hooks, "/order")], policy=LOOPBACK)
    for name in ("stop_flow", "connect_call", "lookup", "order_status "):
        done = run(runner, name, TO_1001)
        assert (done.error, done.outcome) == ("TOOL_NOT_OFFERED", None)
        assert done.result["error"] == f"no tool {name!r} is available"
    assert hooks.received == []
    assert runner.names == ("get_variables", "order_status")


def test_a_webhook_function_gets_the_call_and_its_answer_goes_back(hooks: Webhooks) -> None:
    call = StreamCall("CA9", "MZ9", caller="+14155550123", callee="+14155550100")
    runner = ToolRunner([], [function(hooks, "/order")], call=call,
                        variables={"lang": "en"}, policy=LOOPBACK)  # fmt: skip
    done = run(runner, "order_status", {"order": "A17"})
    assert done.result == {"status": 200, "body": {"status": "shipped", "eta": "Friday"}}
    (request,) = hooks.received
    assert request["authorization"] == f"Bearer {TOKEN}"
    assert request["body"] == {
        "arguments": {"order": "A17"},
        "call": {"CallSid": "CA9", "StreamSid": "MZ9", "From": "+14155550123",
                 "To": "+14155550100"},
        "variables": {"lang": "en"},
    }  # fmt: skip

    # A CallRequest (flows) reaches the webhook as its payload.
    request_call = CallRequest.from_payload({"CallSid": "CA1", "From": "+14155550199"})
    offline = ToolRunner([], [function(hooks, "/order")], call=request_call, policy=LOOPBACK)
    run(offline, "order_status", {"order": "B2"})
    assert hooks.received[1]["body"]["call"] == request_call.to_payload()


def test_failing_webhooks_give_error_results_without_secrets(hooks: Webhooks) -> None:
    functions = [function(hooks, "/fail", "fails"), function(hooks, "/hang", "hangs"),
                 function(hooks, "/order", "checks")]  # fmt: skip
    # Long enough for /fail on a busy machine; /hang never answers.
    runner = ToolRunner([], functions, policy=LOOPBACK, timeout=1.5)
    failed = run(runner, "fails", {"order": "A17"})
    assert failed.error == "WEBHOOK_FAILED"
    assert (failed.result["status"], failed.result["body"]) == (500, {"error": "database down"})
    assert run(runner, "hangs", {"order": "A17"}).error == "TOOL_TIMEOUT"
    bad = run(runner, "checks", {"order": 17})  # the schema says text
    assert bad.error == "INVALID_ARGUMENTS"
    assert [r["path"] for r in hooks.received] == ["/fail", "/hang"]  # bad arguments never left
    assert [e.code for e in runner.errors] == [
        "WEBHOOK_FAILED",
        "TOOL_TIMEOUT",
        "INVALID_ARGUMENTS",
    ]
    for error in runner.errors:
        assert TOKEN not in str(error)


def test_webhook_bodies_are_rendered_off_the_event_loop(hooks: Webhooks) -> None:
    threads: list[threading.Thread] = []

    class Watched(Function):
        def render(self, *args: Any, **kwargs: Any) -> str:
            threads.append(threading.current_thread())
            return super().render(*args, **kwargs)

    watched = Watched("order_status", f"http://127.0.0.1:{hooks.server_address[1]}/order",
                      "Look up an order", ORDER_SCHEMA)  # fmt: skip
    runner = ToolRunner([], [watched], policy=LOOPBACK)
    assert run(runner, "order_status", {"order": "A17"}).ok
    assert threads
    assert threads[0] is not threading.main_thread()


def test_a_failing_event_hook_is_the_tools_failure() -> None:
    async def broken(event: ToolEvent) -> None:
        raise ConnectionError("smtp down")

    runner = ToolRunner(["send_message"], on_event=broken)
    done = run(runner, "send_message", {"to": ["+15550001111"], "text": "hi"})
    assert (done.error, done.result["error"]) == (
        "TOOL_FAILED",
        "send_message failed: ConnectionError",
    )


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda h: ToolRunner(["transfer_call"]), "UNKNOWN_TOOL"),
        (lambda h: ToolRunner(["all", "stop_flow"]), "BAD_TOOL_NAMES"),
        (lambda h: ToolRunner([], [function(h, "/a"), function(h, "/b")]), "DUPLICATE_TOOL"),
        (lambda h: ToolRunner(["stop_flow"], [function(h, "/a", "stop_flow")]), "DUPLICATE_TOOL"),
        (lambda h: ToolRunner([], timeout=0), "TOOL_ERROR"),
        (lambda h: ToolRunner([], timeout=True), "TOOL_ERROR"),
    ],
)
def test_bad_runners_are_refused(
    hooks: Webhooks, make: Callable[[Webhooks], Any], code: str
) -> None:
    with pytest.raises(ToolError) as info:
        make(hooks)
    assert info.value.code == code


def test_a_runner_from_an_assistants_config() -> None:
    bot = AIAssistant("b", "builtin", {"engine_model": "openai.gpt-4o",
                                       "tool_names": ["connect_call", "stop_service"]})  # fmt: skip
    runner = ToolRunner.for_assistant(bot.config)
    assert runner.names == ("connect_call", "stop_service")
    assert [s["function"]["name"] for s in runner.specs()] == ["connect_call", "stop_service"]
    assert ToolRunner.for_assistant({}).names == ()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
builtin_names = st.sampled_from(
    ["connect_call", "send_email", "send_message", "stop_media", "stop_service", "stop_flow",
     "set_variables", "get_variables", "get_aicall_messages", "search_knowledge", "lookup"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    offered=st.lists(builtin_names.filter(lambda n: n != "lookup"), unique=True),
    calls=st.lists(
        st.tuples(
            builtin_names,
            st.dictionaries(
                st.sampled_from(
                    ["destinations", "variables", "names", "to", "text", "query", "run_llm"]
                ),
                json_values,
                max_size=3,
            ),
        ),
        max_size=6,
    ),
)
def test_any_tool_call_gives_a_json_answer_and_never_raises(
    offered: list[str], calls: list[tuple[str, dict[str, Any]]]
) -> None:
    runner = ToolRunner(offered)

    async def scenario() -> None:
        for name, arguments in calls:
            done = await runner.run(ToolCall(name, arguments))
            json.loads(done.message().content)
            if name not in offered:
                assert done.error == "TOOL_NOT_OFFERED"
            assert (done.error is None) == ("error" not in done.result)
            assert done.outcome is None or done.error is None

    asyncio.run(scenario())
    failures = sum(1 for name, _ in calls if name not in offered)
    assert len(runner.errors) >= failures


# --- an Agent on a live call -------------------------------------------------------------------

SECRET = "media-bridge-secret-0123456789"
BRIDGE = MediaBridge("wss://bridge.example.com/media", SECRET)
NOW = 1_800_000_000.0


class Counting:
    """A voice detector that counts the frames the agent heard."""

    def __init__(self) -> None:
        self.inner, self.frames = EnergyDetector(), 0

    def feed(self, pcm: bytes, sample_rate: int) -> bool:
        self.frames += 1
        return self.inner.feed(pcm, sample_rate)


class Live:
    """A StreamServer with one ticketed assistant whose Agent runs ``script`` with ``functions``."""

    def __init__(self, script: list[Any], functions: list[Function], **runner: Any) -> None:
        self.bot = AIAssistant("concierge", "builtin", {"engine_model": "openai.gpt-4o",
                               "tool_names": ["connect_call", "stop_service"]})  # fmt: skip
        self.conversation = ScriptedEngine(script)
        self.agents: list[Agent] = []
        self.detectors: list[Counting] = []
        self.outcomes: list[tuple[StreamCall, Outcome]] = []

        def make(assistant: AIAssistant, call: StreamCall) -> Engine:
            tools = ToolRunner.for_assistant(assistant.config, functions, call=call,
                                             policy=LOOPBACK, **runner)  # fmt: skip
            self.detectors.append(Counting())
            agent = Agent(ScriptedSpeechToText(["where is my order"]), self.conversation,
                          ToneTextToSpeech(word_seconds=0.1), sample_rate=8000, runner=tools,
                          detector=lambda: self.detectors[-1])  # fmt: skip
            self.agents.append(agent)
            return agent

        async def keep(call: StreamCall, outcome: Outcome) -> None:
            self.outcomes.append((call, outcome))

        clock = VirtualClock()  # paced playout, without waiting for real time
        self.server = StreamServer(bridge=BRIDGE, assistants=[self.bot], engines=make,
                                   clock=clock, sleep=clock.sleep, now=lambda: NOW,
                                   on_outcome=keep)  # fmt: skip
        ticket = BRIDGE.ticket("concierge", "CA9", caller="+14155550123",
                               callee="+14155550100", now=NOW)  # fmt: skip
        self.peer = PlatformPeer("MZ9", "CA9", parameters={"cxmlflow-ticket": ticket,
                                 "From": "+14155550123", "To": "+14155550100"})  # fmt: skip

    async def ask(self, socket: Any) -> None:
        """Start the stream and say one utterance (300 ms of speech, then quiet)."""
        await socket.send(self.peer.start())
        for frame in [SPEECH] * 15 + [QUIET] * 25:
            await socket.send(self.peer.media(frame))

    async def until_mark(self, socket: Any, name: str) -> int:
        """Media frames received until the mark ``name`` (echoed back, as the platform does)."""
        frames = 0
        while True:
            event = self.peer.parse(await socket.recv())
            if isinstance(event, Media):
                frames += 1
            elif isinstance(event, Mark):
                await socket.send(self.peer.mark(event.name))
                if event.name == name:
                    return frames


def lookup_then_transfer() -> list[Any]:
    return [
        {"text": "One moment please",
         "tool_calls": [{"name": "order_status", "arguments": {"order": "A17"}, "id": "t1"}]},
        {"text": "It ships Friday connecting you now",
         "tool_calls": [{"name": "connect_call", "arguments": TO_1001, "id": "t2"}]},
    ]  # fmt: skip


def test_an_agent_runs_a_webhook_then_transfers_the_live_call(hooks: Webhooks) -> None:
    live = Live(lookup_then_transfer(), [function(hooks, "/slow")])

    async def scenario() -> None:
        async with live.server.listen() as address, connect(address) as socket:
            await live.ask(socket)
            await asyncio.to_thread(hooks.arrived.wait, 10)
            # The webhook is still waiting for us: the first reply plays out in full meanwhile,
            # and what the caller sends still reaches the agent.
            assert await live.until_mark(socket, "reply-1") == 15  # 3 words of 100 ms
            heard = live.detectors[0].frames
            for _ in range(10):
                await socket.send(live.peer.media(QUIET))
            for _ in range(500):  # bounded: the frames are taken while the tool still runs
                if live.detectors[0].frames >= heard + 10:
                    break
                await asyncio.sleep(0.01)
            assert live.detectors[0].frames >= heard + 10
            assert not hooks.release.is_set()
            hooks.release.set()
            assert await live.until_mark(socket, "reply-2") == 30  # 6 words, then the end
            await socket.wait_closed()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    seen = live.conversation.seen
    answer = seen[1][-1]
    assert (answer.role, answer.tool_call_id) == ("tool", "t1")
    shipped = {"status": "shipped", "eta": "Friday"}
    assert json.loads(answer.content) == {"status": 200, "body": shipped}
    assert hooks.received[0]["body"]["call"]["From"] == "+14155550123"
    ((call, outcome),) = live.outcomes
    assert (call.call_sid, outcome) == ("CA9", Outcome("transfer", destination="1001"))
    (agent,) = live.agents
    assert agent.outcome == outcome
    assert agent.runner is not None
    assert not agent.runner.errors
    assert not live.server.errors


def test_failing_and_unoffered_tools_do_not_end_the_call(hooks: Webhooks) -> None:
    script = [
        {"tool_calls": [{"name": "order_status", "arguments": {"order": "A17"}, "id": "t1"},
                        {"name": "stop_flow", "id": "t2"}]},
        {"tool_calls": [{"name": "slow_status", "arguments": {"order": "A17"}, "id": "t3"}]},
        "Sorry, our systems are down",
    ]  # fmt: skip
    functions = [function(hooks, "/fail"), function(hooks, "/hang", "slow_status")]
    live = Live(script, functions, timeout=1.5)  # /hang never answers

    async def scenario() -> None:
        async with live.server.listen() as address, connect(address) as socket:
            await live.ask(socket)
            assert await live.until_mark(socket, "reply-1") == 25
            await socket.send(live.peer.stop())
            await socket.wait_closed()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    seen = live.conversation.seen
    answers = {m.tool_call_id: json.loads(m.content) for m in seen[-1] if m.role == "tool"}
    assert answers["t1"]["code"] == "WEBHOOK_FAILED"
    assert answers["t2"]["code"] == "TOOL_NOT_OFFERED"  # stop_flow is not in tool_names
    assert answers["t3"]["code"] == "TOOL_TIMEOUT"
    (agent,) = live.agents
    assert agent.runner is not None
    assert [e.code for e in agent.runner.errors] == ["WEBHOOK_FAILED", "TOOL_NOT_OFFERED",
                                                     "TOOL_TIMEOUT"]  # fmt: skip
    assert agent.outcome is None
    ((_, outcome),) = live.outcomes
    assert outcome == Outcome("hangup")  # the caller ended it, not a tool


async def _say(agent: Agent) -> None:
    for pcm in [tone(8000, 0.02, (300, 0.3))] * 15 + [bytes(320)] * 25:
        await agent.audio(pcm)


def test_neither_a_barge_in_nor_the_next_words_cancel_a_running_webhook(hooks: Webhooks) -> None:
    conversation = ScriptedEngine([
        {"text": "Let me check",
         "tool_calls": [{"name": "order_status", "arguments": {"order": "A17"}, "id": "t1"}]},
        "It ships Friday",
    ])  # fmt: skip
    runner = ToolRunner([], [function(hooks, "/slow")], policy=LOOPBACK)
    agent = Agent(ScriptedSpeechToText(["where is my order", "hello?"]), conversation,
                  ToneTextToSpeech(word_seconds=0.1), sample_rate=8000, runner=runner)  # fmt: skip
    speaker = Speaker()

    async def scenario() -> None:
        await agent.start(StreamCall("CA1"), speaker)
        await _say(agent)
        await asyncio.to_thread(hooks.arrived.wait, 10)
        await agent.interrupted(0.1)  # the caller talks over "Let me check" ...
        await _say(agent)  # ... and says more while the webhook still runs
        hooks.release.set()
        for _ in range(1000):  # bounded: until the engine is asked about "hello?"
            if len(conversation.seen) == 2:
                break
            await asyncio.sleep(0.01)
        await agent.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    _, second = conversation.seen
    assert [m.role for m in second] == ["user", "assistant", "tool", "user"]
    assert second[1].content == "Let"  # a third of the reply was heard
    assert (second[2].tool_call_id, json.loads(second[2].content)["status"]) == ("t1", 200)
    assert second[3].content == "hello?"
    assert [r["path"] for r in hooks.received] == ["/slow"]  # run once, to its end
    assert speaker.ended == []


@pytest.fixture
def self_signed(tmp_path: Path) -> Iterator[Webhooks]:
    """A webhook server on 127.0.0.1 speaking TLS with a certificate nobody vouches for."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=api.example.test",
                    "-addext", "subjectAltName=DNS:api.example.test"],
                   check=True, capture_output=True)  # fmt: skip
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server = Webhooks()
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    with serving(server):
        yield server


def test_webhooks_verify_certificates_on_every_call(self_signed: Webhooks) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    url = f"https://api.example.test:{self_signed.server_address[1]}/order"
    hook = Function("order_status", url, "Look up an order", ORDER_SCHEMA)
    policy = HttpPolicy(allowed_networks=("127.0.0.0/8",), resolve=resolve)
    runner = ToolRunner([], [hook], policy=policy)
    for _ in range(2):  # the TLS context is shared between requests: it checks each one
        done = run(runner, "order_status", {"order": "A17"})
        assert done.error == "CONNECT_FAILED"
    assert self_signed.received == []
