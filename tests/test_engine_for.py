"""`engine_for`: seed 001's engine-model providers, tts and stt types, each mapped to an engine or
to a clear error; registered factories; a `StreamServer` with no engine factory serving a
built-in assistant through `engine_for` on loopback."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from providers import AIAssistant, MediaBridge
from providers._registry import ENGINE_PROVIDERS, STT_TYPES, TTS_TYPES
from providers._voices import elevenlabs_voice
from providers.media import (
    EchoEngine,
    Engine,
    EngineRegistry,
    EngineUnavailableError,
    PlatformPeer,
    StreamCall,
    StreamServer,
    engine_for,
    engines,
    plan_engine,
    register_engine,
    services_markdown,
)
from providers.media._outcome import Outcome
from providers.media.protocols import Media

PIPECAT = importlib.util.find_spec("pipecat") is not None
# What importing and building pipecat's services warns about (pipecat's own code, not ours).
pytestmark = [
    pytest.mark.filterwarnings("ignore:'audioop' is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:`AudioContextTTSService` is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:path is deprecated. Use files:DeprecationWarning"),
]
SECRET_KEY = "sk-do-not-show-0123456789"
SERVICES = engines.services
UNSUPPORTED = {s.name for s in SERVICES if s.unsupported}


def builtin(model: str = "openai.gpt-4o", name: str = "concierge", **config: object) -> AIAssistant:
    settings: dict[str, object] = {"engine_model": model, "engine_key": SECRET_KEY}
    settings.update(config)
    return AIAssistant(name, "builtin", settings)


def built_or_explained(assistant: AIAssistant, *names: str) -> Engine | EngineUnavailableError:
    """The engine, or the error, which must say what to install or what is not supported."""
    try:
        engine = engine_for(assistant)
    except EngineUnavailableError as exc:
        assert exc.code == "ENGINE_UNAVAILABLE"
        assert SECRET_KEY not in str(exc)
        message = str(exc)
        if any(n in UNSUPPORTED for n in names):
            assert "not supported" in message
        elif not PIPECAT:
            assert "pip install 'cxmlflow[pipecat]'" in message
            assert "pip install 'pipecat-ai[" in message
        else:  # pipecat is there: a vendor extra, a key or a class is what is missing
            assert "pipecat-ai" in message or "environment variable" in message, message
        return exc
    assert isinstance(engine, Engine)
    return engine


# --- the table ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name"),
    [("stt", n) for n in STT_TYPES]
    + [("llm", n) for n in sorted(ENGINE_PROVIDERS)]
    + [("tts", n) for n in TTS_TYPES],
)
def test_every_seed_value_has_a_row(kind: str, name: str) -> None:
    (row,) = [s for s in SERVICES if (s.kind, s.name) == (kind, name)]
    if row.unsupported:
        assert not row.cls
    else:
        assert row.module.startswith("pipecat.services.")
        assert row.module.endswith(f".{kind}")
        assert row.cls.endswith("Service")
        assert row.install.startswith("pip install ")
        assert row.install.endswith(f"'pipecat-ai[{row.extra}]'" if row.extra else "pipecat-ai")


def test_the_table_has_one_row_per_seed_value_and_nothing_else() -> None:
    keys = [(s.kind, s.name) for s in SERVICES]
    assert len(keys) == len(set(keys))
    assert set(keys) == (
        {("stt", n) for n in STT_TYPES}
        | {("llm", n) for n in ENGINE_PROVIDERS}
        | {("tts", n) for n in TTS_TYPES}
    )


@pytest.mark.parametrize("provider", sorted(ENGINE_PROVIDERS))
def test_each_engine_model_provider_is_a_pipecat_llm_or_a_clear_error(provider: str) -> None:
    assistant = builtin(f"{provider}.some-model", stt_type="deepgram", tts_type="cartesia")
    plan = plan_engine(assistant)
    assert (plan.engine, plan.model) == ("pipecat", f"{provider}.some-model")
    assert plan.llm is not None
    assert plan.llm.name == provider
    assert plan.stt is not None
    assert plan.stt.name == "deepgram"
    assert plan.tts is not None
    assert plan.tts.name == "cartesia"
    built_or_explained(assistant, provider)


@pytest.mark.parametrize("tts", TTS_TYPES)
def test_each_tts_type_is_a_pipecat_service_or_a_clear_error(tts: str) -> None:
    assistant = builtin(stt_type="deepgram", tts_type=tts)
    if tts in UNSUPPORTED:
        with pytest.raises(EngineUnavailableError, match=f"tts_type '{tts}' is not supported"):
            plan_engine(assistant)
    else:
        plan = plan_engine(assistant)
        assert plan.tts is not None
        assert plan.tts.name == tts
    built_or_explained(assistant, tts)


@pytest.mark.parametrize("stt", STT_TYPES)
def test_each_stt_type_is_a_pipecat_service_or_a_clear_error(stt: str) -> None:
    assistant = builtin(stt_type=stt, tts_type="elevenlabs")
    plan = plan_engine(assistant)
    assert plan.stt is not None
    assert plan.stt.name == stt
    built_or_explained(assistant, stt)


def test_without_pipecat_the_error_names_both_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pipecat", None)  # as if pipecat-ai were not installed
    assistant = builtin("anthropic.claude-sonnet", stt_type="deepgram", tts_type="elevenlabs")
    with pytest.raises(EngineUnavailableError) as caught:
        engine_for(assistant)
    message = str(caught.value)
    for needed in ("pip install 'cxmlflow[pipecat]'", "pipecat-ai[anthropic]",
                   "pipecat-ai[deepgram]", "pipecat-ai[elevenlabs]"):  # fmt: skip
        assert needed in message
    assert SECRET_KEY not in message
    assert SECRET_KEY not in repr(caught.value)


def test_a_pipecat_pipeline_is_assembled_from_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pipecat")
    from providers.media.pipecat import PipecatEngine

    monkeypatch.setenv("CARTESIA_API_KEY", "cartesia-not-a-real-key")
    monkeypatch.setenv("ELEVENLABS_API_KEY", "elevenlabs-not-a-real-key")
    assistant = builtin("openai.gpt-4o-mini", stt_type="cartesia", tts_type="elevenlabs",
                        stt_language="de-DE", init_prompt="Be brief.")  # fmt: skip
    engine = engine_for(assistant)
    assert isinstance(engine, PipecatEngine)
    stt, user, llm, tts, assistant_side = engine.pipeline_factory(StreamCall("CA1"))
    names = [type(p).__name__ for p in (stt, user, llm, tts, assistant_side)]
    assert names == ["CartesiaSTTService", "LLMUserAggregator", "OpenAILLMService",
                     "ElevenLabsTTSService", "LLMAssistantAggregator"]  # fmt: skip
    assert llm._settings.model == "gpt-4o-mini"
    assert tts._settings.voice == elevenlabs_voice("de-DE")  # seed 001's voice table
    assert user._context.messages == [{"role": "system", "content": "Be brief."}]


def test_tools_on_a_pipecat_pipeline_are_declared_registered_and_run_by_the_runner(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("pipecat")
    from pipecat.frames.frames import FunctionCallResultProperties
    from pipecat.services.llm_service import FunctionCallParams

    from providers.media.pipecat import PipecatEngine
    from providers.tools import Function

    monkeypatch.setenv("CARTESIA_API_KEY", "cartesia-not-a-real-key")
    monkeypatch.setenv("ELEVENLABS_API_KEY", "elevenlabs-not-a-real-key")
    lookup = Function("lookup_order", "https://example.com/orders", "Find an order.",
                      parameters={"type": "object", "properties": {"id": {"type": "string"}},
                                  "required": ["id"]})  # fmt: skip
    assistant = builtin("openai.gpt-4o-mini", stt_type="cartesia", tts_type="elevenlabs",
                        tool_names=["set_variables", "connect_call"])  # fmt: skip
    with caplog.at_level("WARNING", logger="providers.media"):
        engine = engine_for(assistant, functions=[lookup])
    assert isinstance(engine, PipecatEngine)
    assert not caplog.text
    _, user, llm, _, _ = engine.pipeline_factory(StreamCall("CA1"))
    (runner,) = engine.runners
    offered = ("set_variables", "connect_call", "lookup_order")
    assert runner.names == offered
    declared = user._context.tools.standard_tools
    assert tuple(schema.name for schema in declared) == offered
    assert declared[2].properties == {"id": {"type": "string"}}
    assert declared[2].required == ["id"]
    assert all(llm.has_function(name) for name in offered)
    assert not llm.has_function("stop_flow")

    answers: list[tuple[object, FunctionCallResultProperties | None]] = []

    async def result_callback(
        result: object, *, properties: FunctionCallResultProperties | None = None
    ) -> None:
        answers.append((result, properties))

    def params(name: str, call_id: str, arguments: Mapping[str, object]) -> FunctionCallParams:
        return FunctionCallParams(name, call_id, arguments, llm, None, user._context,
                                  result_callback)  # fmt: skip

    async def drive() -> None:
        await llm._functions["set_variables"].handler(
            params("set_variables", "c1", {"variables": {"order": "soup"}})
        )
        transfer = {"destinations": [{"type": "extension", "target": "1001"}]}
        await llm._functions["connect_call"].handler(params("connect_call", "c2", transfer))

    asyncio.run(asyncio.wait_for(drive(), 20))
    (variables, none), (transferred, properties) = answers
    assert (variables, none) == ({"result": "success"}, None)
    assert runner.variables["order"] == "soup"
    assert transferred == {"result": "success"}
    assert properties is not None
    assert properties.run_llm is False  # the call ends: the model says no more
    assert engine.outcome == Outcome("transfer", destination="1001")


def test_a_missing_service_key_names_its_variable_not_a_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("pipecat")
    monkeypatch.delenv("CARTESIA_API_KEY", raising=False)
    assistant = builtin("openai.gpt-4o-mini", stt_type="cartesia", tts_type="elevenlabs")
    with pytest.raises(EngineUnavailableError, match="environment variable CARTESIA_API_KEY"):
        engine_for(assistant)


def test_realtime_models_are_served_by_openai_realtime() -> None:
    from providers.media.realtime import OpenAIRealtime

    engine = engine_for(builtin("openai.gpt-4o-realtime-preview", init_prompt="Be brief."))
    assert isinstance(engine, OpenAIRealtime)
    assert (engine.model, engine.instructions) == ("gpt-4o-realtime-preview", "Be brief.")
    assert SECRET_KEY not in repr(engine)


def test_a_realtime_engine_offers_the_tool_names_and_the_webhook_functions() -> None:
    from providers.media.realtime import OpenAIRealtime
    from providers.tools import Function

    lookup = Function("lookup_order", "https://example.com/orders", "Find an order.",
                      parameters={"type": "object", "properties": {}})  # fmt: skip
    assistant = builtin("openai.gpt-realtime", tool_names=["connect_call"])
    engine = engine_for(assistant, functions=[lookup])
    assert isinstance(engine, OpenAIRealtime)
    assert [tool["name"] for tool in engine.tools()] == ["connect_call", "lookup_order"]


@pytest.mark.parametrize(
    "model", ["openai.gpt-4o-realtime-preview", "openai.gpt-realtime", "openai.GPT-4O-REALTIME"]
)
def test_realtime_models_go_to_openai_realtime(model: str) -> None:
    plan = plan_engine(builtin(model))  # no stt_type/tts_type needed: speech to speech
    assert (plan.engine, plan.model) == ("realtime", model)


def test_realtime_models_of_other_providers_are_refused() -> None:
    with pytest.raises(EngineUnavailableError, match="realtime models of 'azure'"):
        plan_engine(builtin("azure.gpt-4o-realtime-preview"))


@pytest.mark.parametrize(
    ("config", "missing"),
    [({}, "stt_type and tts_type"), ({"tts_type": "openai"}, "stt_type"),
     ({"stt_type": "google"}, "tts_type")],
)  # fmt: skip
def test_a_text_model_without_speech_services_is_refused(
    config: dict[str, str], missing: str
) -> None:
    with pytest.raises(EngineUnavailableError, match=f"needs {missing}"):
        engine_for(builtin(**config))


def test_engine_for_serves_built_in_assistants_only() -> None:
    endpoint = AIAssistant("retell", "retell", {"phone_number": "+14155551234"})
    with pytest.raises(EngineUnavailableError, match="built-in assistants only"):
        engine_for(endpoint)


# --- registered factories -----------------------------------------------------------------------


def test_a_registered_factory_wins_an_exact_model_over_its_provider() -> None:
    registry = EngineRegistry()
    made: list[tuple[str, str]] = []

    def factory(tag: str) -> object:
        def make(assistant: AIAssistant, call: StreamCall) -> Engine:
            made.append((tag, call.call_sid))
            return EchoEngine()

        return make

    registry.register("openai", factory("provider"))  # type: ignore[arg-type]
    registry.register("openai.gpt-4o-realtime-preview", factory("model"))  # type: ignore[arg-type]
    realtime = builtin("openai.gpt-4o-realtime-preview")
    text = builtin("openai.gpt-4o")  # no stt/tts: only a factory can serve it
    assert isinstance(registry(realtime, StreamCall("CA1")), EchoEngine)
    assert isinstance(registry(text, StreamCall("CA2")), EchoEngine)
    assert made == [("model", "CA1"), ("provider", "CA2")]
    assert list(registry) == ["openai", "openai.gpt-4o-realtime-preview"]
    assert registry.plan(realtime).engine == "factory"
    registry.unregister("openai.gpt-4o-realtime-preview")
    registry(realtime)
    assert made[-1] == ("provider", "")
    registry.unregister("openai")
    assert registry.plan(realtime).engine == "realtime"
    with pytest.raises(ValueError, match="model or provider"):
        registry.register("", factory("none"))  # type: ignore[arg-type]


# --- StreamServer with no engine factory --------------------------------------------------------

BRIDGE = MediaBridge("wss://bridge.example.com/media", "engine-for-secret-0123456789")
NOW = 1_800_000_000.0
ECHO_MODEL = "ollama.echo-for-tests"


@pytest.fixture
def echo_registered() -> Iterator[list[StreamCall]]:
    calls: list[StreamCall] = []

    def echo(assistant: AIAssistant, call: StreamCall) -> Engine:
        calls.append(call)
        return EchoEngine()

    register_engine(ECHO_MODEL, echo)
    try:
        yield calls
    finally:
        engines.unregister(ECHO_MODEL)


def ticketed(assistant: str, call_sid: str) -> PlatformPeer:
    ticket = BRIDGE.ticket(assistant, call_sid, caller="+14155550123", now=NOW)
    return PlatformPeer("MZ1", call_sid, parameters={"cxmlflow-ticket": ticket})


def test_a_stream_server_with_no_engines_serves_a_builtin_assistant_via_engine_for(
    echo_registered: list[StreamCall],
) -> None:
    bot = builtin(ECHO_MODEL, name="echo")
    server = StreamServer(bridge=BRIDGE, assistants=[bot], pace=False, now=lambda: NOW)
    peer = ticketed("echo", "CA7")
    frame = bytes(b for b in range(161) if b != 0x7F)  # mu-law 0x7f decodes as 0xff does

    async def scenario() -> bytes:
        async with server.listen() as address, connect(address) as socket:
            await socket.send(peer.connected())
            await socket.send(peer.start())
            await socket.send(peer.media(frame))
            for _ in range(50):  # bounded: the echo is the next media message
                event = peer.parse(await socket.recv())
                if isinstance(event, Media):
                    await socket.send(peer.stop())
                    return event.payload
        raise AssertionError("no echo")

    echoed = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert echoed == frame
    ((call,),) = [echo_registered]
    assert (call.call_sid, call.assistant, call.caller) == ("CA7", bot, "+14155550123")
    assert not server.errors


def test_a_builtin_assistant_that_cannot_be_served_refuses_its_stream() -> None:
    bot = builtin("openai.gpt-4o", name="mute")  # no speech services, no factory
    server = StreamServer(bridge=BRIDGE, assistants=[bot], pace=False, now=lambda: NOW)

    async def scenario() -> None:
        stream = await server.connector()("wss://bridge.example.com/media", {})
        await stream.send(ticketed("mute", "CA8").start())
        assert await stream.receive() is None
        await stream.close()

    asyncio.run(asyncio.wait_for(scenario(), 20))
    (error,) = server.errors
    assert error.code == "ENGINE_UNAVAILABLE"
    assert "stt_type and tts_type" in str(error)
    assert SECRET_KEY not in str(error)


def test_the_guide_shows_the_table_as_the_data_has_it() -> None:
    guide = (Path(__file__).parent.parent / "docs" / "engines.md").read_text(encoding="utf-8")
    assert services_markdown() in guide
