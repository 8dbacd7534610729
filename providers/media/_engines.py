"""`engine_for`: the engine a ``builtin`` assistant's configuration describes.

An assistant of provider ``builtin`` (seed 001) names an LLM as ``engine_model``
(``<provider>.<model>``, e.g. ``openai.gpt-4o``), a speech-to-text service (``stt_type``) and a
text-to-speech service (``tts_type``). `engine_for` turns that into an `Engine`:

1. a factory registered with `register_engine` for the exact ``engine_model``, else for its
   provider part, wins over everything below;
2. a realtime model (its provider is in `REALTIME_PROVIDERS` and its model name contains
   ``realtime``, e.g. ``openai.gpt-4o-realtime-preview``) is served by `OpenAIRealtime`
   (speech to speech: ``stt_type``/``tts_type`` are not used);
3. any other model is assembled into a pipecat pipeline (speech-to-text -> LLM ->
   text-to-speech) from the pipecat services `SERVICES` lists for ``stt_type``,
   the ``engine_model`` provider and ``tts_type``, run by `PipecatEngine`.

Either way the assistant's ``tool_names``, its own webhook ``functions`` and those given to
`engine_for` are offered to the model and run by a `ToolRunner` on the call (on a pipeline through
`PipecatEngine.offer_tools`); a registered factory is given neither.

Whatever cannot be served raises `EngineUnavailableError` (code ``ENGINE_UNAVAILABLE``) naming
the fix: the extra to install (``pip install 'cxmlflow[pipecat]'``, pipecat's own per-vendor
extra such as ``pip install 'pipecat-ai[deepgram]'``), the environment variable holding a
service's key, or the provider that is not supported (register a factory for it).

`SERVICES` is data: one row per seed value, with pipecat's module and class (imported only when
an engine is built), the ``pipecat-ai`` extra it needs and the environment variables its
constructor takes. API keys are read when the engine is built and never appear in errors,
reprs or logs.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Final, Literal

import attrs

from .._assistant import AIAssistant
from .._errors import MediaError
from .._voices import elevenlabs_voice
from ..tools import Function, ToolRunner
from .engine import Engine, StreamCall

__all__ = [
    "PIPECAT_EXTRA",
    "REALTIME_PROVIDERS",
    "SERVICES",
    "EngineFactory",
    "EngineRegistry",
    "EngineUnavailableError",
    "Plan",
    "ServiceSpec",
    "engine_for",
    "engines",
    "plan_engine",
    "register_engine",
    "services_markdown",
]


Kind = Literal["stt", "llm", "tts"]
#: ``factory(assistant, call)``: the engine for one call (as `StreamServer`'s ``engines``).
EngineFactory = Callable[[AIAssistant, StreamCall], Engine]

#: What to install for `PipecatEngine` itself.
PIPECAT_EXTRA: Final = "pip install 'cxmlflow[pipecat]'"
#: ``engine_model`` providers whose ``*realtime*`` models `OpenAIRealtime` serves.
REALTIME_PROVIDERS: Final = frozenset({"openai"})


class EngineUnavailableError(MediaError):
    """No engine can be made for the assistant: a package is missing (the message says what
    to install), a service's key is not set (the message names the environment variable, never
    a value), or the provider, type or model is not supported (register a factory for it)."""

    code: int | str = "ENGINE_UNAVAILABLE"


def _frozen(options: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(options))


@attrs.frozen
class ServiceSpec:
    """One row of `SERVICES`: the pipecat service for a seed value.

    ``module``/``cls`` name the class (imported when an engine is built); ``extra`` is the
    ``pipecat-ai`` extra it needs; ``key`` the environment variable of its API key (for the
    LLM, the assistant's ``engine_key`` comes first), None when the service authenticates
    otherwise (AWS and Google read their own credentials); ``options`` maps further
    constructor arguments to the environment variables that hold them. A row with an
    ``unsupported`` reason is listed so that its error can say why.
    """

    kind: Kind
    name: str
    module: str = ""
    cls: str = ""
    extra: str = ""
    key: str | None = None
    options: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen)
    unsupported: str = ""

    @property
    def install(self) -> str:
        """The pip command for this service's pipecat extra (pipecat-ai itself if none)."""
        return f"pip install 'pipecat-ai[{self.extra}]'" if self.extra else "pip install pipecat-ai"

    @property
    def path(self) -> str:
        return f"{self.module}.{self.cls}" if self.cls else ""


def _row(
    kind: Kind, name: str, path: str, extra: str, key: str | None = None, **options: str
) -> ServiceSpec:
    module, _, cls = path.rpartition(".")
    return ServiceSpec(kind, name, f"pipecat.services.{module}", cls, extra, key, options)


def _no(kind: Kind, name: str, why: str) -> ServiceSpec:
    return ServiceSpec(kind, name, unsupported=why)


_HTTP = "pipecat's service needs an aiohttp session; register a factory that builds it"

# fmt: off
#: Seed 001's ``stt_type``s, ``engine_model`` providers and ``tts_type``s -> pipecat services
#: (checked against pipecat-ai's source, ``src/pipecat/services/<vendor>/{stt,llm,tts}.py``).
SERVICES: Final[tuple[ServiceSpec, ...]] = (
    _row("stt", "cartesia", "cartesia.stt.CartesiaSTTService", "cartesia", "CARTESIA_API_KEY"),
    _row("stt", "deepgram", "deepgram.stt.DeepgramSTTService", "deepgram", "DEEPGRAM_API_KEY"),
    _row("stt", "elevenlabs", "elevenlabs.stt.ElevenLabsRealtimeSTTService", "elevenlabs",
         "ELEVENLABS_API_KEY"),
    _row("stt", "google", "google.stt.GoogleSTTService", "google",
         credentials_path="GOOGLE_APPLICATION_CREDENTIALS"),

    _row("llm", "anthropic", "anthropic.llm.AnthropicLLMService", "anthropic", "ANTHROPIC_API_KEY"),
    _row("llm", "aws", "aws.llm.AWSBedrockLLMService", "aws"),
    _row("llm", "azure", "azure.llm.AzureLLMService", "azure", "AZURE_OPENAI_API_KEY",
         endpoint="AZURE_OPENAI_ENDPOINT"),
    _row("llm", "cerebras", "cerebras.llm.CerebrasLLMService", "cerebras", "CEREBRAS_API_KEY"),
    _row("llm", "deepseek", "deepseek.llm.DeepSeekLLMService", "deepseek", "DEEPSEEK_API_KEY"),
    _row("llm", "fireworks", "fireworks.llm.FireworksLLMService", "fireworks", "FIREWORKS_API_KEY"),
    _row("llm", "gemini", "google.llm.GoogleLLMService", "google", "GOOGLE_API_KEY"),
    _row("llm", "grok", "xai.llm.GrokLLMService", "xai", "XAI_API_KEY"),
    _row("llm", "groq", "groq.llm.GroqLLMService", "groq", "GROQ_API_KEY"),
    _row("llm", "mistral", "mistral.llm.MistralLLMService", "mistral", "MISTRAL_API_KEY"),
    _row("llm", "nvidia", "nvidia.llm.NvidiaLLMService", "nvidia", "NVIDIA_API_KEY"),
    _row("llm", "ollama", "ollama.llm.OLLamaLLMService", ""),  # no extra: pipecat-ai's own
    _row("llm", "openai", "openai.llm.OpenAILLMService", "openai", "OPENAI_API_KEY"),
    _row("llm", "openrouter", "openrouter.llm.OpenRouterLLMService", "openrouter",
         "OPENROUTER_API_KEY"),
    _row("llm", "perplexity", "perplexity.llm.PerplexityLLMService", "perplexity",
         "PERPLEXITY_API_KEY"),
    _row("llm", "qwen", "qwen.llm.QwenLLMService", "qwen", "QWEN_API_KEY"),
    _row("llm", "sambanova", "sambanova.llm.SambaNovaLLMService", "sambanova",
         "SAMBANOVA_API_KEY"),
    _row("llm", "together", "together.llm.TogetherLLMService", "together", "TOGETHER_API_KEY"),

    _row("tts", "async", "asyncai.tts.AsyncAITTSService", "asyncai", "ASYNCAI_API_KEY"),
    _row("tts", "aws", "aws.tts.AWSPollyTTSService", "aws"),
    _row("tts", "azure", "azure.tts.AzureTTSService", "azure", "AZURE_SPEECH_API_KEY",
         region="AZURE_SPEECH_REGION"),
    _row("tts", "cartesia", "cartesia.tts.CartesiaTTSService", "cartesia", "CARTESIA_API_KEY"),
    _row("tts", "deepgram", "deepgram.tts.DeepgramTTSService", "deepgram", "DEEPGRAM_API_KEY"),
    _row("tts", "elevenlabs", "elevenlabs.tts.ElevenLabsTTSService", "elevenlabs",
         "ELEVENLABS_API_KEY"),
    _row("tts", "fish", "fish.tts.FishAudioTTSService", "fish", "FISH_API_KEY"),
    _row("tts", "google", "google.tts.GoogleTTSService", "google",
         credentials_path="GOOGLE_APPLICATION_CREDENTIALS"),
    _row("tts", "groq", "groq.tts.GroqTTSService", "groq", "GROQ_API_KEY"),
    _row("tts", "hume", "hume.tts.HumeTTSService", "hume", "HUME_API_KEY"),
    _row("tts", "inworld", "inworld.tts.InworldTTSService", "inworld", "INWORLD_API_KEY"),
    _row("tts", "lmnt", "lmnt.tts.LmntTTSService", "lmnt", "LMNT_API_KEY"),
    _no("tts", "minimax", _HTTP),
    _row("tts", "neuphonic", "neuphonic.tts.NeuphonicTTSService", "neuphonic",
         "NEUPHONIC_API_KEY"),
    _row("tts", "nvidia-riva", "nvidia.tts.NvidiaTTSService", "nvidia", "NVIDIA_API_KEY"),
    _row("tts", "openai", "openai.tts.OpenAITTSService", "openai", "OPENAI_API_KEY"),
    _row("tts", "piper", "piper.tts.PiperTTSService", "piper"),
    _no("tts", "playht", "pipecat no longer ships a PlayHT service"),
    _row("tts", "rime", "rime.tts.RimeTTSService", "rime", "RIME_API_KEY"),
    _row("tts", "sarvam", "sarvam.tts.SarvamTTSService", "sarvam", "SARVAM_API_KEY"),
    _no("tts", "xtts", _HTTP),
)
# fmt: on
_BY_KEY: Final = {(s.kind, s.name): s for s in SERVICES}
_KINDS: Final = {"stt": "stt_type", "llm": "engine_model", "tts": "tts_type"}


def services_markdown() -> str:
    """`SERVICES` as a Markdown table (docs/engines.md shows it, and a test keeps them equal)."""
    lines = [
        "| setting | value | pipecat service | install | key variable |",
        "| --- | --- | --- | --- | --- |",
    ]
    for spec in SERVICES:
        value = f"`{spec.name}.*`" if spec.kind == "llm" else f"`{spec.name}`"
        if spec.unsupported:
            lines.append(
                f"| {_KINDS[spec.kind]} | {value} | not supported: {spec.unsupported} | | |"
            )
            continue
        variables = ([spec.key] if spec.key else []) + list(spec.options.values())
        keys = ", ".join(f"`{v}`" for v in variables) or "(none: the vendor's own credentials)"
        package = f"pipecat-ai[{spec.extra}]" if spec.extra else "pipecat-ai"
        lines.append(
            f"| {_KINDS[spec.kind]} | {value} | `{spec.path.removeprefix('pipecat.services.')}` "
            f"| `{package}` | {keys} |"
        )
    return "\n".join(lines) + "\n"


@attrs.frozen
class Plan:
    """What `engine_for` builds for an assistant, before anything is imported:
    ``engine`` is ``factory`` (a registered one), ``realtime`` or ``pipecat`` (with the
    ``stt``, ``llm`` and ``tts`` rows of `SERVICES`)."""

    engine: Literal["factory", "realtime", "pipecat"]
    model: str
    factory: EngineFactory | None = None
    stt: ServiceSpec | None = None
    llm: ServiceSpec | None = None
    tts: ServiceSpec | None = None


class EngineRegistry:
    """Engine factories by ``engine_model`` (``openai.gpt-4o``) or provider (``openai``);
    a registered factory wins over the built-in mapping, an exact model over its provider.
    Calling the registry is `engine_for`; ``services`` is the built-in mapping, `SERVICES`."""

    services: tuple[ServiceSpec, ...] = SERVICES

    def __init__(self) -> None:
        self._factories: dict[str, EngineFactory] = {}

    def register(self, prefix: str, factory: EngineFactory) -> None:
        """Serve assistants whose ``engine_model`` is ``prefix``, or whose provider is."""
        if not isinstance(prefix, str) or not prefix:
            raise ValueError("an engine factory is registered under a model or provider name")
        self._factories[prefix] = factory

    def unregister(self, prefix: str) -> None:
        """Forget the factory registered under ``prefix`` (if any)."""
        self._factories.pop(prefix, None)

    def __contains__(self, prefix: object) -> bool:
        return prefix in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._factories))

    def plan(self, assistant: AIAssistant) -> Plan:
        """What would serve ``assistant`` (see `Plan`); `EngineUnavailableError` if nothing."""
        if assistant.provider != "builtin":
            raise EngineUnavailableError(
                f"assistant {assistant.name!r} is of provider {assistant.provider!r}: "
                "engine_for serves built-in assistants only"
            )
        config = assistant.config
        model = str(config["engine_model"])
        provider, _, name = model.partition(".")
        for prefix in (model, provider):
            if prefix in self._factories:
                return Plan("factory", model, factory=self._factories[prefix])
        if "realtime" in name.lower():
            if provider not in REALTIME_PROVIDERS:
                raise EngineUnavailableError(
                    f"realtime models of {provider!r} are not supported (only "
                    f"{', '.join(sorted(REALTIME_PROVIDERS))}); register an engine factory "
                    f"for {model!r}"
                )
            return Plan("realtime", model)
        missing = [f for f in ("stt_type", "tts_type") if not config.get(f)]
        if missing:
            raise EngineUnavailableError(
                f"assistant {assistant.name!r}: the model {model!r} is not speech to speech, "
                f"so it needs {' and '.join(missing)} (or a realtime model, or a registered "
                "engine factory)"
            )
        rows = [
            _spec("stt", str(config["stt_type"])),
            _spec("llm", provider),
            _spec("tts", str(config["tts_type"])),
        ]
        return Plan("pipecat", model, stt=rows[0], llm=rows[1], tts=rows[2])

    def __call__(
        self,
        assistant: AIAssistant,
        call: StreamCall | None = None,
        *,
        functions: Iterable[Function] = (),
    ) -> Engine:
        """The engine for ``assistant`` on ``call`` (see the module's documentation),
        offering the assistant's ``tool_names`` and the webhook ``functions``."""
        plan = self.plan(assistant)
        if call is None:
            call = StreamCall(call_sid="", assistant=assistant)
        functions = [*assistant.functions, *functions]  # its own are offered on every call
        if plan.factory is not None:
            return plan.factory(assistant, call)
        if plan.engine == "realtime":
            return _realtime(assistant, functions)
        return _pipecat(assistant, plan, functions)


def _spec(kind: Kind, name: str) -> ServiceSpec:
    spec = _BY_KEY.get((kind, name))
    what = {"stt": "stt_type", "llm": "engine_model provider", "tts": "tts_type"}[kind]
    if spec is None:
        raise EngineUnavailableError(f"{what} {name!r} is not supported; register a factory")
    if spec.unsupported:
        raise EngineUnavailableError(f"{what} {name!r} is not supported: {spec.unsupported}")
    return spec


def _realtime(assistant: AIAssistant, functions: Iterable[Function] = ()) -> Engine:
    from .realtime import OpenAIRealtime  # imported when a realtime engine is wanted

    functions = list(functions)
    if functions:
        runner = ToolRunner.for_assistant(assistant.config, functions)
        engine: Engine = OpenAIRealtime.for_assistant(assistant, runner=runner)
    else:
        engine = OpenAIRealtime.for_assistant(assistant)
    return engine


def _secret(variable: str, service: ServiceSpec) -> str:
    value = os.environ.get(variable)
    if not value:
        raise EngineUnavailableError(
            f"{service.kind} {service.name!r} needs its key in the environment variable {variable}"
        )
    return value


def _service_class(spec: ServiceSpec) -> Any:
    try:
        module = importlib.import_module(spec.module)
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("pipecat"):  # this pipecat has no such service
            raise EngineUnavailableError(
                f"{spec.kind} {spec.name!r}: the installed pipecat-ai has no {spec.module}; "
                "upgrade pipecat-ai or register a factory"
            ) from None
        raise EngineUnavailableError(
            f"{spec.kind} {spec.name!r} needs pipecat's {spec.extra!r} extra: {spec.install}"
        ) from None
    except Exception:  # pipecat raises ImportError/Exception("Missing module: ...") itself
        raise EngineUnavailableError(
            f"{spec.kind} {spec.name!r} needs pipecat's {spec.extra!r} extra: {spec.install}"
        ) from None
    cls = getattr(module, spec.cls, None)
    if cls is None:
        raise EngineUnavailableError(
            f"{spec.kind} {spec.name!r}: the installed pipecat-ai has no {spec.path}; "
            "upgrade pipecat-ai or register a factory"
        )
    return cls


def _build(spec: ServiceSpec, key: str | None, settings: Mapping[str, Any]) -> Any:
    cls = _service_class(spec)
    arguments: dict[str, Any] = {
        name: _secret(variable, spec) for name, variable in spec.options.items()
    }
    if spec.key is not None:
        arguments["api_key"] = key or _secret(spec.key, spec)
    wanted = {k: v for k, v in settings.items() if v}
    if wanted:
        arguments["settings"] = cls.Settings(**wanted)
    try:
        return cls(**arguments)
    except Exception as exc:  # the message could hold what we passed: name the type only
        raise EngineUnavailableError(
            f"{spec.kind} {spec.name!r}: pipecat's {spec.cls} refused its settings "
            f"({type(exc).__name__}); register a factory"
        ) from None


def _pipecat(assistant: AIAssistant, plan: Plan, functions: Iterable[Function] = ()) -> Engine:
    rows = [s for s in (plan.stt, plan.llm, plan.tts) if s is not None]
    try:
        import pipecat  # noqa: F401  # the extra; its services are imported from the table
    except ImportError:
        installs = " and ".join(sorted({s.install for s in rows}))
        raise EngineUnavailableError(
            f"assistant {assistant.name!r} runs as a pipecat pipeline: {PIPECAT_EXTRA} "
            f"(and {installs})"
        ) from None
    stt_row, llm_row, tts_row = rows
    config = assistant.config
    language = config.get("stt_language")
    voice = config.get("tts_voice_id")
    if not voice and tts_row.name == "elevenlabs":  # seed 001's voice for the language
        voice = elevenlabs_voice(language)
    stt = _build(stt_row, None, {"language": language})
    llm = _build(llm_row, config.get("engine_key"), {"model": plan.model.partition(".")[2]})
    tts = _build(tts_row, None, {"voice": voice})

    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair

    from .pipecat import PipecatEngine

    prompt = config.get("init_prompt")
    context = LLMContext([{"role": "system", "content": prompt}] if prompt else [])
    aggregators = LLMContextAggregatorPair(context)

    def pipeline(call: StreamCall) -> list[Any]:
        return [stt, aggregators.user(), llm, tts, aggregators.assistant()]

    engine = PipecatEngine(pipeline)
    # The assistant's tool_names and the webhook functions, run on the call by a ToolRunner
    # (the engine gives it the call when it starts).
    engine.offer_tools(llm, context, ToolRunner.for_assistant(config, functions))
    return engine


#: The registry `engine_for` and `register_engine` use.
engines: Final = EngineRegistry()


def engine_for(
    assistant: AIAssistant,
    call: StreamCall | None = None,
    *,
    functions: Iterable[Function] = (),
) -> Engine:
    """The engine ``assistant``'s configuration describes (a `StreamServer` ``engines``
    factory), offering its ``tool_names`` and the webhook ``functions`` (a registered
    factory is not given them); `EngineUnavailableError` naming what to install or what is
    not supported."""
    return engines(assistant, call, functions=functions)


def register_engine(prefix: str, factory: EngineFactory) -> None:
    """Serve assistants whose ``engine_model`` is ``prefix``, or whose provider is, with
    ``factory(assistant, call)``; it wins over the built-in mapping."""
    engines.register(prefix, factory)


def plan_engine(assistant: AIAssistant) -> Plan:
    """What `engine_for` would build for ``assistant``, without importing anything."""
    return engines.plan(assistant)
