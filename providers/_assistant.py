"""AI assistants: a provider plus its settings, validated once, turned into CXML per call."""

from __future__ import annotations

import json
from collections.abc import Mapping
from ipaddress import ip_address
from types import MappingProxyType
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import attrs

from cxml import (
    CallRequest,
    Connect,
    CxmlError,
    Dial,
    Header,
    Node,
    Parameter,
    Service,
    Sip,
    Stream,
    replace,
)

from ._errors import AssistantUnavailableError, ProviderConfigError, SignatureError
from ._registry import HEADER_NAME, Provider, Registry, registry
from ._signing import sign, verify
from ._urls import CALL_PLACEHOLDERS, check_websocket_url, render_stream_url
from .tools import Function, resolve_tool_names

__all__ = ["AIAssistant", "MediaBridge", "Ticket", "flatten_metadata", "metadata_problems"]

Status = Literal["active", "inactive"]
_STATUSES: Final = ("active", "inactive")
#: The name of the Stream Parameter that carries a bridge ticket.
TICKET_PARAMETER: Final = "cxmlflow-ticket"


@attrs.frozen
class MediaBridge:
    """Where your own media bridge listens (``wss://``), and the secret its tickets share.
    Plain ``ws://`` is accepted on a loopback host only (``localhost``, ``127.0.0.0/8``,
    ``[::1]``): local development and tests, where the stream never leaves the machine.

    Assistants that cxmlflow's bridge serves (a WebSocket endpoint, the built-in AI) are
    reached by ``<Connect><Stream url=bridge>``; a signed ticket in a Parameter tells the
    bridge which assistant and call it is for, and cannot be forged or replayed for long.
    """

    url: str = attrs.field()
    secret: str | bytes = attrs.field(repr=False)
    #: Seconds a ticket stays valid: the platform connects as soon as it reads the document.
    ttl: float = 300.0

    @url.validator
    def _check_url(self, _: object, url: str) -> None:
        problem = check_websocket_url(url, secure=not _loopback(url))
        if problem is not None:
            raise ProviderConfigError("MediaBridge", {"url": problem})

    def ticket(
        self,
        assistant: str,
        call_sid: str,
        *,
        caller: str | None = None,
        callee: str | None = None,
        account: str | None = None,
        now: float | None = None,
    ) -> str:
        """A signed ticket naming ``assistant`` for call ``call_sid``, with the call's From
        (``caller``), To (``callee``) and account when known: whichever process admits the
        stream learns them from the ticket alone."""
        payload: dict[str, str] = {"assistant": assistant, "call": call_sid}
        for key, value in (("from", caller), ("to", callee), ("account", account)):
            if value:
                payload[key] = value
        return sign(payload, self.secret, ttl=self.ttl, now=now)

    def admit(self, ticket: str, *, now: float | None = None) -> Ticket:
        """The `Ticket` this bridge signed; `SignatureError` for anything else."""
        payload = verify(ticket, self.secret, now=now)
        assistant, call = payload.get("assistant"), payload.get("call")
        if not isinstance(assistant, str) or not isinstance(call, str):
            # Signed with this secret but not a ticket (a router's callback state, say).
            raise SignatureError("the token is not a media ticket")
        extra: list[str | None] = []
        for key in ("from", "to", "account"):
            value = payload.get(key)
            if value is not None and not isinstance(value, str):
                raise SignatureError("the token is not a media ticket")
            extra.append(value)
        return Ticket(assistant, call, *extra)


def _loopback(url: object) -> bool:
    """Whether ``url``'s host is this machine's loopback (by name or address)."""
    try:
        host = urlsplit(url).hostname if isinstance(url, str) else None
        return host == "localhost" or (host is not None and ip_address(host).is_loopback)
    except ValueError:  # not an address (a name), or not a URL: no exemption
        return False


@attrs.frozen
class Ticket:
    """What a media ticket vouches for: the assistant, the call's sid, its From
    (``caller``), To (``callee``) and account (None when the call did not say)."""

    assistant: str
    call_sid: str
    caller: str | None = None
    callee: str | None = None
    account: str | None = None


def flatten_metadata(metadata: Mapping[str, object], prefix: str = "") -> list[tuple[str, str]]:
    """Nested keys as ``a.b``; booleans as true/false, numbers as text, None as empty, lists
    as JSON."""
    flat: list[tuple[str, str]] = []
    for key, value in metadata.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat += flatten_metadata(value, f"{name}.")
        elif isinstance(value, bool):
            flat.append((name, "true" if value else "false"))
        elif isinstance(value, list | tuple):
            flat.append((name, json.dumps(value, ensure_ascii=False, default=str)))
        else:
            flat.append((name, "" if value is None else str(value)))
    return flat


def _deep_freeze(value: Any) -> Any:
    """Settings as immutable values: mappings read-only, lists tuples, all the way down."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _deep_freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_deep_freeze(v) for v in value)
    return value


def _frozen_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    # Anything else is kept as given and reported by the assistant's check.
    return MappingProxyType(dict(config)) if isinstance(config, Mapping) else config


def _listed(value: Any) -> Any:
    # A list or tuple of functions as a tuple; anything else is kept and reported.
    return tuple(value) if isinstance(value, list | tuple) else value


def _functions_problem(
    functions: object, definition: Provider, config: Mapping[str, Any]
) -> str | None:
    """Why ``functions`` cannot be offered by an assistant of ``definition``, or None."""
    if not isinstance(functions, tuple) or not all(isinstance(f, Function) for f in functions):
        return "must be a list of providers.Function"
    if not functions:
        return None
    if definition.protocol != "builtin_ai":
        return (
            "only assistants cxmlflow's engines serve (provider builtin) are offered functions; "
            "a bot elsewhere calls the functions set where it runs"
        )
    names = [f.name for f in functions]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        return f"two functions are named {repeated[0]!r}"
    try:
        builtin = {t.name for t in resolve_tool_names(list(config.get("tool_names") or []))}
    except CxmlError:  # reported as the tool_names field's problem
        return None
    clash = sorted(builtin.intersection(names))
    return f"{clash[0]!r} is also a built-in tool in tool_names" if clash else None


@attrs.frozen(repr=False)
class AIAssistant:
    """A named assistant on a provider, with its settings checked when it is created.

    ``ProviderConfigError.problems`` names every bad field at once. Settings marked secret
    never appear in ``repr``, ``str`` or errors. ``verb(call)`` gives the CXML that routes a
    call to the assistant. ``functions`` are webhook `Function`s its engine offers on every
    call, besides its ``tool_names`` (``builtin`` assistants only).
    """

    name: str
    provider: str
    config: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_config)
    status: Status = "active"
    description: str = ""
    registry: Registry = attrs.field(default=registry, eq=False)
    #: Webhook functions offered on every call to this assistant, besides its ``tool_names``
    #: (exten.bot links functions to a bot); only for assistants cxmlflow's engines serve.
    functions: tuple[Function, ...] = attrs.field(default=(), converter=_listed)
    #: (provider definition, ``<Dial>`` of the SIP target) of the last verb: nodes are
    #: immutable, so one made from these frozen settings serves every call (with its own
    #: action) while the definition is the same.
    _dial: tuple[Provider, Dial] | None = attrs.field(
        init=False, default=None, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        problems: dict[str, str] = {}
        if not isinstance(self.name, str) or not self.name.strip():
            problems["name"] = "must be non-empty text"
        if self.status not in _STATUSES:
            problems["status"] = "must be active or inactive"
        definition = self.registry.get(self.provider) if isinstance(self.provider, str) else None
        if definition is None:
            problems["provider"] = "is not a registered provider"
        elif not isinstance(self.config, Mapping):
            problems["config"] = "must be a mapping of settings"
        else:
            cleaned, config_problems = definition.clean(self.config)
            problems.update({f"config.{k}": v for k, v in config_problems.items()})
            object.__setattr__(self, "config", _deep_freeze(cleaned))
            problem = _functions_problem(self.functions, definition, cleaned)
            if problem is not None:
                problems["functions"] = problem
        if problems:
            raise ProviderConfigError(f"AI assistant {self.name!r}", problems)

    @property
    def definition(self) -> Provider:
        return self.registry[self.provider]

    @property
    def active(self) -> bool:
        return self.status == "active"

    def __repr__(self) -> str:
        secret = {f.name for f in self.definition.fields if f.secret}
        shown = {k: "***" if k in secret else v for k, v in self.config.items()}
        functions = f", functions={[f.name for f in self.functions]!r}" if self.functions else ""
        return (
            f"AIAssistant(name={self.name!r}, provider={self.provider!r}, config={shown!r}, "
            f"status={self.status!r}{functions})"
        )

    def __str__(self) -> str:
        return f"AI assistant {self.name} ({self.provider}, {self.status})"

    def verb(
        self,
        call: CallRequest,
        *,
        metadata: Mapping[str, object] | None = None,
        action: str | None = None,
        bridge: MediaBridge | None = None,
        now: float | None = None,
    ) -> Dial | Connect:
        """The verb that routes ``call`` here: ``<Dial>`` for SIP, ``<Connect>`` for streams.

        ``metadata`` travels as ``X-`` Headers (SIP) or Stream Parameters (WebSocket);
        ``action`` is the verb's callback URL (e.g. to try the next assistant);
        ``bridge`` is needed for assistants the media bridge serves (``now``, a POSIX time,
        dates its ticket). Raises `AssistantUnavailableError` for an inactive assistant.
        """
        if not self.active:
            raise AssistantUnavailableError(f"{self} is not active")
        flat: list[tuple[str, str]] = []
        if metadata:
            problems = metadata_problems(metadata)
            if problems:
                raise ProviderConfigError("metadata", problems)
            flat = flatten_metadata(metadata)
        definition = self.definition
        protocol = definition.protocol
        if protocol in ("sip", "sip_bot"):
            cached = self._dial
            if cached is None or cached[0] is not definition:
                cached = (definition, Dial(self._sip_target(definition)))
                object.__setattr__(self, "_dial", cached)
            if not flat:
                return replace(cached[1], action=action)
            headers: list[Node] = [Header(name=n, value=v) for n, v in _header_names(flat)]
            return Dial([*headers, *cached[1].children], action=action)
        parameters = [Parameter(name=n, value=v) for n, v in flat]
        if protocol == "websocket":
            url = self._template_url(call)
        else:
            if bridge is None:
                raise AssistantUnavailableError(
                    f"{self} is served by the media bridge: pass bridge="
                )
            if not call.call_sid:
                raise AssistantUnavailableError("the call has no CallSid to sign a ticket for")
            url = bridge.url
            ticket = bridge.ticket(
                self.name,
                call.call_sid,
                caller=call.from_,
                callee=call.to,
                account=call.account_sid,
                now=now,
            )
            parameters.insert(0, Parameter(name=TICKET_PARAMETER, value=ticket))
        return Connect([Stream(parameters, url=url)], action=action)

    def _sip_target(self, definition: Provider) -> Service | Sip:
        config = self.config
        if definition.protocol == "sip":
            return Service(config["phone_number"], provider=self.provider)
        if config.get("mode", "server") == "client":
            # The bot registered with our PBX: ring it where the PBX reaches it (its sip_uri,
            # else its account there); our PBX is the registrar, so no credentials.
            return Sip(config.get("sip_uri") or f"sip:{config['username']}@{config['domain']}")
        uri = config.get("sip_uri") or f"sip:{config['username']}@{config['domain']}"
        return Sip(uri, username=config["username"], password=config["password"])

    def _template_url(self, call: CallRequest) -> str:
        template = self.definition.url_template
        if template is None:
            raise AssistantUnavailableError(f"provider {self.provider} has no stream URL template")
        # An anonymous caller has no From: it fills in as empty, as any empty value does.
        values: dict[str, object] = {
            "session": call.call_sid or "",
            "from": call.from_ or "",
            "to": call.to or "",
        }
        values.update(self.config)
        allowed = {f.name for f in self.definition.fields} | CALL_PLACEHOLDERS
        return render_stream_url(template, values, allowed=allowed)


def metadata_problems(metadata: Mapping[str, object]) -> dict[str, str]:
    """Every metadata key that cannot travel, by key: each must make an ``X-`` SIP header of
    its own (and a stream Parameter), and the ticket's name is reserved."""
    problems: dict[str, str] = {}
    seen: set[str] = set()
    for key, _ in flatten_metadata(metadata):
        name = key if key[:2].upper() == "X-" else f"X-{key}"
        if key == TICKET_PARAMETER:
            problems[key] = "is a reserved name"
        elif not HEADER_NAME.match(name):
            problems[key] = "cannot be a SIP header name (use letters, digits, -._)"
        elif name.lower() in seen:
            problems[key] = "names the same header as another key"
        seen.add(name.lower())
    return problems


def _header_names(flat: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(key if key[:2].upper() == "X-" else f"X-{key}", value) for key, value in flat]
