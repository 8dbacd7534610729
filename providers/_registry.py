"""AI providers as data: what each is called, how calls reach it, which settings it needs.

A `Provider` declares its protocol and its `ConfigField`s; `Registry` holds providers by key
and lists them grouped by protocol (what a selection dropdown shows). `registry` is the one
cxmlflow ships: the 16 SIP providers and deepdub of OPBX's documentation, a generic WebSocket
endpoint (SmartPBX), a SIP voice bot (exten.bot) and a built-in AI (VoIPBIN). Register your
own on it, or build a `Registry` of your own and pass it where one is taken.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Final, Literal

import attrs

from ._errors import ToolError
from ._urls import CALL_PLACEHOLDERS, check_template, check_websocket_url
from .tools import resolve_tool_names

__all__ = [
    "PROTOCOL_LABELS",
    "ConfigField",
    "Protocol",
    "Provider",
    "Registry",
    "registry",
]

Protocol = Literal["sip", "websocket", "websocket_endpoint", "sip_bot", "builtin_ai"]
#: How each protocol is shown, in the order a dropdown lists them.
PROTOCOL_LABELS: Final[Mapping[Protocol, str]] = {
    "sip": "SIP",
    "websocket": "WebSocket",
    "websocket_endpoint": "WebSocket endpoint",
    "sip_bot": "SIP voice bot",
    "builtin_ai": "Built-in AI",
}
FieldType = Literal["text", "tel", "password", "url", "choice", "list", "mapping"]

Check = Callable[[object], str | None]


@attrs.frozen
class ConfigField:
    """One setting of a provider. ``check`` returns why a value is wrong, or None."""

    name: str
    type: FieldType = "text"
    required: bool = True
    secret: bool = False
    description: str = ""
    choices: tuple[str, ...] = ()
    #: Other spellings accepted on input (``initial_prompt`` for ``init_prompt``).
    aliases: tuple[str, ...] = ()
    check: Check | None = attrs.field(default=None, eq=False)
    #: The value as it is kept, from a valid value as written (``openai@exten.bot`` is kept
    #: as ``sip:openai@exten.bot``).
    convert: Callable[[object], object] | None = attrs.field(default=None, eq=False)

    def problem(self, value: object) -> str | None:
        """Why ``value`` is not a valid value of this field, or None."""
        problem = self._type_problem(value)
        if problem is None and self.check is not None:
            problem = self.check(value)
        return problem

    def _type_problem(self, value: object) -> str | None:
        if self.type == "list":
            ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
            return None if ok else "must be a list of text"
        if self.type == "mapping":
            ok = isinstance(value, Mapping) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            )
            return None if ok else "must map text to text"
        if not isinstance(value, str):
            return f"must be text, got {_kind(value)}"
        if self.required and not value.strip():
            return "must not be empty"
        if self.choices and value not in self.choices:
            return "must be one of " + ", ".join(self.choices)
        return None


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


@attrs.frozen
class Provider:
    """A provider: its registry ``key`` (written as-is into CXML), protocol and settings."""

    key: str = attrs.field(validator=attrs.validators.matches_re(r"[a-z0-9][a-z0-9._-]*"))
    name: str
    protocol: Protocol = attrs.field(validator=attrs.validators.in_(tuple(PROTOCOL_LABELS)))
    fields: tuple[ConfigField, ...] = ()
    #: For ``websocket`` providers: the stream URL template (see `render_stream_url`).
    url_template: str | None = None
    description: str = ""

    def __attrs_post_init__(self) -> None:
        names = {f.name for f in self.fields}
        needed = {"sip": {"phone_number"}, "sip_bot": {"username", "password", "domain"}}
        missing = needed.get(self.protocol, set()) - names
        if missing:
            raise ValueError(f"a {self.protocol} provider needs the fields {sorted(missing)}")
        if (self.protocol == "websocket") != (self.url_template is not None):
            raise ValueError("a url_template is what a websocket provider has, and only it")
        if self.url_template is not None:
            problem = check_template(self.url_template, names | CALL_PLACEHOLDERS)
            if problem is not None:
                raise ValueError(f"url_template: {problem}")

    def field(self, name: str) -> ConfigField | None:
        """The field called ``name`` (or aliased so), if any."""
        return next((f for f in self.fields if name == f.name or name in f.aliases), None)

    def clean(self, config: Mapping[str, object]) -> tuple[dict[str, object], dict[str, str]]:
        """``config`` with aliases resolved, and every problem by field name."""
        cleaned: dict[str, object] = {}
        problems: dict[str, str] = {}
        for key, value in config.items():
            spec = self.field(key) if isinstance(key, str) else None
            if spec is None:
                problems[str(key)] = f"is not a setting of {self.key}"
            elif spec.name in cleaned:
                problems[key] = f"repeats {spec.name}"
            elif value is None and not spec.required:
                continue
            elif (problem := spec.problem(value)) is not None:
                problems[key] = problem
            else:
                cleaned[spec.name] = value if spec.convert is None else spec.convert(value)
        for spec in self.fields:
            if spec.required and spec.name not in cleaned and spec.name not in problems:
                problems[spec.name] = "is required"
        return cleaned, problems


@attrs.define
class Registry:
    """Providers by key. ``register`` adds one; iteration is in registration order."""

    _providers: dict[str, Provider] = attrs.field(factory=dict, alias="providers")

    def register(self, provider: Provider, *, replace: bool = False) -> Provider:
        """Add ``provider``; a key already taken needs ``replace=True``."""
        if provider.key in self._providers and not replace:
            raise ValueError(f"provider {provider.key!r} is already registered")
        self._providers[provider.key] = provider
        return provider

    def get(self, key: str) -> Provider | None:
        return self._providers.get(key)

    def __getitem__(self, key: str) -> Provider:
        return self._providers[key]

    def __contains__(self, key: object) -> bool:
        return key in self._providers

    def __iter__(self) -> Iterator[Provider]:
        return iter(self._providers.values())

    def __len__(self) -> int:
        return len(self._providers)

    def by_protocol(self) -> dict[str, list[Provider]]:
        """Providers grouped under their protocol's label, as a dropdown lists them."""
        groups: dict[str, list[Provider]] = {}
        for protocol, label in PROTOCOL_LABELS.items():
            members = [p for p in self if p.protocol == protocol]
            if members:
                groups[label] = members
        return groups

    def copy(self) -> Registry:
        """A registry with the same providers, to extend without touching this one."""
        return Registry(providers=dict(self._providers))


# --- the providers cxmlflow ships ---------------------------------------------------------

_E164: Final = re.compile(r"\+[1-9][0-9]{1,14}\Z")
_SIP_URI: Final = re.compile(r"sips?:[^@\s;:]+@[^@\s;]+(?:;\S*)?\Z", re.IGNORECASE)
#: A SIP address without its scheme, as exten.bot writes its bots' (``openai@exten.bot``).
_SIP_ADDRESS: Final = re.compile(r"[^@\s;:<>]+@[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:;\S*)?\Z")
_BCP47: Final = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*\Z")
#: RFC 9110 token: what an HTTP (and SIP) header name may be made of.
HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")


def _matches(pattern: re.Pattern[str], what: str) -> Check:
    def check(value: object) -> str | None:
        return None if isinstance(value, str) and pattern.match(value) else f"must be {what}"

    return check


def _sip_uri(value: object) -> str | None:
    if isinstance(value, str) and (_SIP_URI.match(value) or _SIP_ADDRESS.match(value)):
        return None
    return "must be a sip: URI (sip:openai@exten.bot) or a SIP address (openai@exten.bot)"


def _as_sip_uri(value: object) -> object:
    """A SIP address read as the SIP URI it names: ``openai@exten.bot`` is
    ``sip:openai@exten.bot``; a URI stays as written."""
    return value if _SIP_URI.match(str(value)) else f"sip:{value}"


def _websocket_url(value: object) -> str | None:
    return check_websocket_url(value)


def _headers(value: object) -> str | None:
    assert isinstance(value, Mapping)
    bad = [k for k in value if not HEADER_NAME.match(k)]
    return f"has header names that are not HTTP tokens: {', '.join(bad)}" if bad else None


def _media(value: object) -> str | None:
    return None if value in MEDIA_FORMATS else "must be one of " + ", ".join(MEDIA_FORMATS)


def _engine_model(value: object) -> str | None:
    provider, dot, model = str(value).partition(".")
    if not dot or not model or provider not in ENGINE_PROVIDERS:
        return "must be <provider>.<model> with a known provider, e.g. openai.gpt-4o"
    return None


def _tool_names(value: object) -> str | None:
    try:
        resolve_tool_names(value)  # type: ignore[arg-type]  # a list of text, checked already
    except ToolError as exc:
        return str(exc.message).removeprefix("tool_names: ")
    return None


PHONE_NUMBER: Final = ConfigField(
    "phone_number",
    "tel",
    description="the agent's number at the provider, E.164 (+14155551234)",
    check=_matches(_E164, "an E.164 number such as +14155551234"),
)

#: The SIP providers of OPBX's documentation, spelled exactly as there.
SIP_PROVIDERS: Final = (
    "synthflow", "dasha", "superdash.ai", "ultravox", "elevenlabs", "deepvox", "relayhawk",
    "voicehub", "retell", "vapi", "fonio", "sigmamind", "modon", "puretalk", "millis-us",
    "millis-eu",
)  # fmt: skip
#: Audio a WebSocket endpoint may take (SmartPBX): encoding -> sample rate.
MEDIA_FORMATS: Final[Mapping[str, int]] = {"pcm16": 24000, "g711_ulaw": 8000, "opus": 48000}
#: LLM providers an ``engine_model`` may name (VoIPBIN's list); the model part is free.
ENGINE_PROVIDERS: Final = frozenset(
    {"anthropic", "aws", "azure", "cerebras", "deepseek", "fireworks", "gemini", "grok", "groq",
     "mistral", "nvidia", "ollama", "openai", "openrouter", "perplexity", "qwen", "sambanova",
     "together"}
)  # fmt: skip
TTS_TYPES: Final = (
    "async", "aws", "azure", "cartesia", "deepgram", "elevenlabs", "fish", "google", "groq",
    "hume", "inworld", "lmnt", "minimax", "neuphonic", "nvidia-riva", "openai", "piper",
    "playht", "rime", "sarvam", "xtts",
)  # fmt: skip
STT_TYPES: Final = ("cartesia", "deepgram", "elevenlabs", "google")


def _builtin() -> Registry:
    shipped = Registry()
    for key in SIP_PROVIDERS:
        shipped.register(Provider(key, key, "sip", (PHONE_NUMBER,)))
    shipped.register(
        Provider(
            "deepdub",
            "Deepdub",
            "websocket",
            (
                ConfigField("bot_id", description="your Deepdub bot identifier"),
                ConfigField("auth_token", "password", secret=True, description="access token"),
            ),
            url_template=(
                "wss://bot.deepdub.dev/ws/{bot_id}/{auth_token}"
                "?session={session}&from={from}&to={to}"
            ),
        )
    )
    shipped.register(
        Provider(
            "websocket-endpoint",
            "WebSocket AI endpoint",
            "websocket_endpoint",
            (
                ConfigField(
                    "websocket_url", "url", description="wss:// URL of your agent's endpoint",
                    check=_websocket_url,
                ),
                ConfigField(
                    "websocket_headers", "mapping", required=False, secret=True,
                    description="headers for the connection request (authorization, ...)",
                    check=_headers,
                ),
                ConfigField(
                    "media", "choice", choices=tuple(MEDIA_FORMATS), check=_media,
                    description="audio the endpoint takes: pcm16@24000, g711_ulaw@8000, opus@48000",
                ),
            ),
            description="your agent over WebSocket (SmartPBX protocol), through the media bridge",
        )
    )  # fmt: skip
    shipped.register(
        Provider(
            "sip-bot",
            "SIP voice bot",
            "sip_bot",
            (
                ConfigField(
                    "mode", "choice", required=False, choices=("server", "client"),
                    description="server: the bot is the registrar (default); client: it "
                    "registers with your PBX",
                ),
                ConfigField("username", description="SIP account user"),
                ConfigField("password", "password", secret=True, description="SIP password"),
                ConfigField("domain", description="SIP domain (the bot's, or your PBX's)"),
                ConfigField(
                    "sip_uri", required=False, check=_sip_uri, convert=_as_sip_uri,
                    description="the bot's SIP URI, e.g. sip:openai@exten.bot (openai@exten.bot "
                    "as exten.bot writes it is read as that URI); in client mode, where your "
                    "PBX reaches the registered bot",
                ),
                ConfigField(
                    "transfer_uri", required=False, check=_sip_uri, convert=_as_sip_uri,
                    description="where the bot transfers callers, e.g. sip:100@10.8.0.1",
                ),
            ),
            description="a SIP account running a voice bot; G.711 (mu-law, A-law) only",
        )
    )  # fmt: skip
    shipped.register(
        Provider(
            "builtin",
            "Built-in AI",
            "builtin_ai",
            (
                ConfigField(
                    "engine_model", check=_engine_model,
                    description="<provider>.<model>, e.g. openai.gpt-4o",
                ),
                ConfigField("engine_key", "password", required=False, secret=True),
                ConfigField(
                    "init_prompt", required=False, aliases=("initial_prompt",),
                    description="the system prompt",
                ),
                ConfigField("tts_type", "choice", required=False, choices=TTS_TYPES),
                ConfigField(
                    "tts_voice_id", required=False, aliases=("voice", "voice_id"),
                    description="provider voice id; empty: the provider's default",
                ),
                ConfigField("stt_type", "choice", required=False, choices=STT_TYPES),
                ConfigField(
                    "stt_language", required=False, check=_matches(_BCP47, "a BCP-47 tag"),
                    description="BCP-47 language to listen for; absent: auto-detect",
                ),
                ConfigField(
                    "tool_names", "list", required=False, check=_tool_names,
                    description='["all"], [] (none) or tool names',
                ),
            ),
            description="cxmlflow's own agent pipeline (speech-to-text, LLM, text-to-speech)",
        )
    )  # fmt: skip
    return shipped


#: The providers cxmlflow ships; register your own on it (or on a `Registry.copy`).
registry: Final = _builtin()
