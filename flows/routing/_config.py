"""The PBX configuration: what a backend knows about its numbers, people and agents.

`load_pbx` reads YAML, JSON or a mapping (format in docs/routing.md) into a frozen `Pbx`,
reporting every problem at once as a `cxml.Issue` with a stable code and its path
(``ring_groups.sales.fallback``): unknown keys, wrong types and ranges, dangling references,
fallback chains that never reach an end or are longer than the router follows, invalid time
zones and provider settings. Files are read by `cxml._data` (no YAML aliases, no duplicate keys).
Destinations are typed references, ``kind/id``.

Each resource declares its fields once, on its class (`Field` in each attribute's metadata:
the key, type, range, default and help text). The loader reads and checks them from that
declaration, docs/routing.md's tables are rendered from it (`fields_table`), and
`flows.strategies` draws values from it. Each destination kind is one `DestinationKind` in
`KINDS`; a test checks the loader, the router and the strategies handle every one.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

import attrs

from cxml import CxmlError, Issue
from cxml._data import DataError, check_size, load_data_file
from providers import (
    AIAssistant,
    Function,
    ProviderConfigError,
    Registry,
    metadata_problems,
    registry,
)

from ._hours import (
    WEEKDAYS,
    DateException,
    Schedule,
    TimeRange,
    TimeRangeError,
    Window,
    check_timezone,
    parse_ranges,
)

__all__ = [
    "DESTINATION_KINDS",
    "KINDS",
    "AiLoadBalancer",
    "AssistantRouting",
    "BusinessHours",
    "Campaign",
    "ConferenceRoom",
    "Destination",
    "DestinationKind",
    "Did",
    "Extension",
    "Field",
    "IvrMenu",
    "LbMember",
    "Pbx",
    "PbxConfigError",
    "Prompt",
    "ResourceInUseError",
    "RingGroup",
    "declared_fields",
    "fields_table",
    "load_pbx",
    "validate_pbx",
]

E164: Final = re.compile(r"\+[1-9][0-9]{1,14}\Z")
EXTENSION: Final = re.compile(r"[0-9]{1,10}\Z")
_DIGITS: Final = re.compile(r"[0-9*]{1,10}\Z")
_ALL_DAY: Final = TimeRange(dt.time(0), dt.time(0))
#: How many automatic steps (business hours, forwards, fallbacks) the router takes for one
#: request; the router reads it from here, and longer chains are refused at load time.
MAX_STEPS: Final = 16


class PbxConfigError(CxmlError):
    """The configuration has problems; ``issues`` lists every one (`cxml.Issue`, with its
    code and path)."""

    code: int | str = "INVALID_PBX_CONFIG"

    def __init__(self, issues: list[Issue]) -> None:
        shown = "\n".join(f"  {describe(issue)}" for issue in issues)
        super().__init__(f"{len(issues)} problem(s) in the PBX configuration:\n{shown}")
        self.issues = tuple(issues)


class ResourceInUseError(CxmlError):
    """A resource cannot be deleted while something points at it (what OPBX answers with
    409 Conflict); ``references`` lists every place that does, as configuration paths."""

    code: int | str = "RESOURCE_IN_USE"
    #: The HTTP status an API deleting the resource answers with.
    http_status: Final = 409

    def __init__(self, kind: str, id: str, references: list[str]) -> None:
        shown = "\n".join(f"  {path}" for path in references)
        super().__init__(
            f"{kind}/{id} cannot be deleted: {len(references)} reference(s) point at it; "
            f"remove them first:\n{shown}"
        )
        self.kind, self.id, self.references = kind, id, tuple(references)


def describe(issue: Issue) -> str:
    """``path: message`` (``path:line: message`` when the line is known), as the error and
    ``cxml check`` print an issue of a configuration."""
    where = f"{issue.path}:{issue.line}" if issue.line else issue.path
    return f"{where}: {issue.message}"


# --- destinations ---------------------------------------------------------------------------


@attrs.frozen
class DestinationKind:
    """A kind of destination: its name (``ring_group``) and the `Pbx` mapping its resources
    live in (``ring_groups``; empty for ``hangup``, which has none).

    What its resources may point at is declared on their fields (`Field.targets`): see
    `references`.
    """

    name: str
    section: str

    @property
    def references(self) -> frozenset[str]:
        """The kinds a resource of this kind may point at, from its declared fields."""
        if not self.section:
            return frozenset()
        found: set[str] = set()
        for spec in declared_fields(self.section):
            if spec.kind == "destination" or spec.targets:
                found.update(spec.targets or DESTINATION_KINDS)
        return frozenset(found)


#: Every kind of destination. Adding one: an entry here, its resource class and `Pbx` field,
#: a reader in the loader (`_Loader.readers`), the router's ``_ROUTES`` and the strategies;
#: tests/test_pbx_declarations.py fails until every place handles it.
KINDS: Final = (
    DestinationKind("extension", "extensions"),
    DestinationKind("ring_group", "ring_groups"),
    DestinationKind("ivr_menu", "ivr_menus"),
    DestinationKind("business_hours", "business_hours"),
    DestinationKind("ai_assistant", "ai_assistants"),
    DestinationKind("ai_load_balancer", "ai_load_balancers"),
    DestinationKind("conference", "conferences"),
    DestinationKind("hangup", ""),
)
DESTINATION_KINDS: Final = tuple(kind.name for kind in KINDS)
_SECTION_OF: Final = {kind.name: kind.section for kind in KINDS}


@attrs.frozen
class Destination:
    """Where a call goes: ``kind/id``, or ``hangup`` (id empty)."""

    kind: str
    id: str = ""

    def __str__(self) -> str:
        return self.kind if self.kind == "hangup" else f"{self.kind}/{self.id}"


HANGUP: Final = Destination("hangup")


# --- field declarations ---------------------------------------------------------------------

FieldKind = Literal["text", "int", "bool", "choice", "status", "destination", "custom"]
_SPEC: Final = "pbx"


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of a field that must be given.
REQUIRED: Final[Any] = _Required()


@attrs.frozen
class Field:
    """One key of a resource, declared once: how the loader reads it, what the docs table
    says about it, what the strategies draw.

    ``kind`` is how it is read: ``text`` (matching ``pattern`` if given), ``int`` (from
    ``low`` to ``high``), ``bool``, ``choice`` (one of ``choices``), ``status`` (``active`` or
    ``inactive``, kept as a bool), ``destination`` (``kind/id``, one of ``targets`` if given),
    or ``custom`` (the resource's reader reads it; ``help`` describes it). ``key`` is the
    configuration key, ``attr`` the attribute it fills; ``targets`` on a custom field names the
    kinds it refers to by id (a ring group's members are extensions).
    """

    kind: FieldKind
    help: str = ""
    key: str = ""
    attr: str = ""
    #: For a field declared on a resource class, the attrs default (`declared_fields`).
    default: Any = REQUIRED
    #: The docs' Default column, when the default is not a plain value.
    shown: str = ""
    low: int = 0
    high: int = 0
    choices: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    targets: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def describe(self) -> str:
        """The docs' "Type, range" column."""
        if self.kind == "int":
            span = f"{self.low}\N{EN DASH}{self.high}"
            return f"{self.help}, {span}" if self.help else span
        if self.kind == "choice":
            return ", ".join(f"`{c}`" for c in self.choices)
        if self.kind == "status":
            return "`active` or `inactive`"
        if self.kind == "bool":
            return "true or false"
        if self.kind == "destination":
            if self.targets:
                kinds = [f"`{t}`" if t == "hangup" else f"`{t}/…`" for t in self.targets]
                return ", ".join(kinds[:-1]) + " or " + kinds[-1]
            return self.help or "destination"
        return self.help or "text"

    def shown_default(self) -> str:
        """The docs' Default column."""
        if self.shown:
            return self.shown
        if self.required:
            return "required"
        value = self.default
        if self.kind == "status":
            return "`active`" if value else "`inactive`"
        if value is None or value == "":
            return "—"
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, str | Destination):
            return f"`{value}`"
        return str(value)


def _spec(kind: FieldKind, **spec: Any) -> dict[str, Field]:
    """The metadata declaring an attrs field as a configuration key (see `Field`); the
    field's default is the attrs default."""
    return {_SPEC: Field(kind, **spec)}


_STATUS: Final = _spec("status", key="status")
_NAME: Final = _spec("text", help="a free label")


@functools.cache
def _fields_of(cls: type) -> tuple[Field, ...]:
    return tuple(
        attrs.evolve(
            spec,
            attr=a.name,
            key=spec.key or a.name,
            default=REQUIRED if a.default is attrs.NOTHING else a.default,
        )
        for a in attrs.fields(cls)
        if (spec := a.metadata.get(_SPEC)) is not None
    )


# --- the resources --------------------------------------------------------------------------


@attrs.frozen
class Did:
    number: str
    destination: Destination = attrs.field(metadata=_spec("destination"))
    active: bool = attrs.field(default=True, metadata=_STATUS)
    name: str = attrs.field(default="", metadata=_NAME)


@attrs.frozen
class Extension:
    """``user``: rings the subscriber; ``forward``: an E.164 number, SIP URI or extension."""

    number: str
    type: Literal["user", "forward"] = attrs.field(
        default="user", metadata=_spec("choice", choices=("user", "forward"))
    )
    forward_to: str | None = attrs.field(
        default=None,
        metadata=_spec(
            "custom",
            targets=("extension",),
            help="E.164, `sip:` URI or an existing extension; required for a forward, refused "
            "otherwise",
        ),
    )
    timeout: int = attrs.field(default=30, metadata=_spec("int", low=5, high=300, help="seconds"))
    active: bool = attrs.field(default=True, metadata=_STATUS)
    name: str = attrs.field(default="", metadata=_NAME)


@attrs.frozen
class RingGroup:
    id: str
    members: tuple[str, ...] = attrs.field(
        metadata=_spec(
            "custom",
            help="1\N{EN DASH}50 existing extension numbers, no repeats",
            targets=("extension",),
        )
    )
    strategy: Literal["simultaneous", "sequential", "round_robin"] = attrs.field(
        default="simultaneous",
        metadata=_spec("choice", choices=("simultaneous", "sequential", "round_robin")),
    )
    timeout: int = attrs.field(
        default=30, metadata=_spec("int", low=5, high=300, help="seconds each attempt rings")
    )
    ring_turns: int = attrs.field(default=1, metadata=_spec("int", low=1, high=9))
    fallback: Destination = attrs.field(default=HANGUP, metadata=_spec("destination"))
    active: bool = attrs.field(default=True, metadata=_STATUS)
    name: str = attrs.field(default="", metadata=_NAME)


@attrs.frozen
class Prompt:
    """What a menu says (``say``, with ``voice`` and ``language``) or plays (``play``: a URL)."""

    say: str | None = attrs.field(default=None, metadata=_spec("text"))
    play: str | None = attrs.field(default=None, metadata=_spec("text"))
    voice: str | None = attrs.field(default=None, metadata=_spec("text"))
    language: str | None = attrs.field(default=None, metadata=_spec("text"))


_PROMPT: Final = (
    "text, or `{say: text}` or `{play: http(s) URL}`, with optional `voice`, `language`"
)


@attrs.frozen
class IvrMenu:
    id: str
    prompt: Prompt = attrs.field(metadata=_spec("custom", help=_PROMPT))
    options: Mapping[str, Destination] = attrs.field(
        metadata=_spec(
            "custom",
            help="keys of 1\N{EN DASH}10 of `0-9*` (`#` ends input) → destination; at least one",
            targets=DESTINATION_KINDS,
        )
    )
    timeout: int = attrs.field(default=5, metadata=_spec("int", low=1, high=30, help="seconds"))
    max_turns: int = attrs.field(default=3, metadata=_spec("int", low=1, high=9))
    failover: Destination = attrs.field(default=HANGUP, metadata=_spec("destination"))
    invalid_prompt: Prompt = attrs.field(
        default=Prompt(say="Sorry, that is not a valid option."),
        metadata=_spec("custom", help="prompt", shown='"Sorry, that is not a valid option."'),
    )
    no_input_prompt: Prompt = attrs.field(
        default=Prompt(say="Sorry, I did not get that."),
        metadata=_spec("custom", help="prompt", shown='"Sorry, I did not get that."'),
    )
    active: bool = attrs.field(default=True, metadata=_STATUS)
    name: str = attrs.field(default="", metadata=_NAME)


_ZONE_HELP: Final = "IANA name"
_RANGES: Final = "`monday`..`sunday` → list of ranges"


@attrs.frozen
class BusinessHours:
    id: str
    open: Destination = attrs.field(metadata=_spec("destination"))
    closed: Destination = attrs.field(metadata=_spec("destination"))
    timezone: str = attrs.field(
        metadata=_spec("custom", help=_ZONE_HELP, shown="top-level `timezone`")
    )
    weekly: Mapping[str, tuple[TimeRange, ...]] = attrs.field(
        default=MappingProxyType({}),
        metadata=_spec("custom", key="schedule", help=_RANGES, shown="every day closed"),
    )
    exceptions: Mapping[dt.date, DateException] = attrs.field(
        default=MappingProxyType({}),
        metadata=_spec(
            "custom",
            shown="none",
            help="list of `{date: YYYY-MM-DD, type: closed or special_hours, hours}`, one per date",
        ),
    )
    active: bool = attrs.field(default=True, metadata=_STATUS)
    name: str = attrs.field(default="", metadata=_NAME)
    #: The schedule the fields above make (what the router asks).
    schedule: Schedule = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        schedule = Schedule(self.timezone, self.weekly, self.exceptions, active=self.active)
        object.__setattr__(self, "schedule", schedule)


@attrs.frozen
class LbMember:
    assistant: str = attrs.field(metadata=_spec("text"))
    priority: int = attrs.field(default=1, metadata=_spec("int", low=1, high=100))
    weight: int = attrs.field(default=1, metadata=_spec("int", low=0, high=100))


@attrs.frozen
class AiLoadBalancer:
    id: str
    members: tuple[LbMember, ...] = attrs.field(
        metadata=_spec(
            "custom",
            targets=("ai_assistant",),
            shown="required (priority 1, weight 1)",
            help="assistant ids, or `{assistant, priority: 1\N{EN DASH}100, "
            "weight: 0\N{EN DASH}100}`; at least one",
        )
    )
    strategy: Literal["round_robin", "priority", "percentage"] = attrs.field(
        default="round_robin",
        metadata=_spec("choice", choices=("round_robin", "priority", "percentage")),
    )
    follow_through: bool = attrs.field(default=False, metadata=_spec("bool"))
    fallback: Destination = attrs.field(default=HANGUP, metadata=_spec("destination"))
    active: bool = attrs.field(default=True, metadata=_STATUS)
    name: str = attrs.field(default="", metadata=_NAME)


@attrs.frozen
class ConferenceRoom:
    id: str
    #: Empty in the configuration means the id.
    name: str = attrs.field(default="", metadata=_spec("text", shown="the id"))
    max_participants: int | None = attrs.field(default=None, metadata=_spec("int", low=2, high=250))
    muted: bool | None = attrs.field(default=None, metadata=_spec("bool"))
    beep: bool | None = attrs.field(default=None, metadata=_spec("bool"))
    hold_music: bool | None = attrs.field(default=None, metadata=_spec("bool"))
    start_on_enter: bool | None = attrs.field(default=None, metadata=_spec("bool"))
    end_on_exit: bool | None = attrs.field(default=None, metadata=_spec("bool"))
    active: bool = attrs.field(default=True, metadata=_STATUS)


@attrs.frozen
class Campaign:
    """An auto-dialer campaign: who answered calls go to, and when it may dial."""

    id: str
    destination: Destination = attrs.field(
        metadata=_spec("destination", targets=("ai_assistant", "ai_load_balancer", "hangup"))
    )
    caller_id: str = attrs.field(metadata=_spec("text", pattern=E164, help="E.164"))
    timezone: str = attrs.field(
        metadata=_spec("custom", help=_ZONE_HELP, shown="top-level `timezone`")
    )
    metadata: Mapping[str, Any] = attrs.field(
        default=MappingProxyType({}),
        metadata=_spec(
            "custom",
            shown="{}",
            help="mapping handed to the assistant (each key must make an `X-` header)",
        ),
    )
    #: None: every day, all day.
    weekly: Mapping[str, tuple[TimeRange, ...]] | None = attrs.field(
        default=None,
        metadata=_spec(
            "custom",
            key="schedule",
            shown="every day, all day",
            help=f"{_RANGES}: when it may dial",
        ),
    )
    start_date: dt.date | None = attrs.field(
        default=None, metadata=_spec("custom", help="YYYY-MM-DD, inclusive")
    )
    end_date: dt.date | None = attrs.field(
        default=None, metadata=_spec("custom", help="YYYY-MM-DD, inclusive")
    )
    status: Literal["draft", "active", "paused", "completed", "archived"] = attrs.field(
        default="draft",
        metadata=_spec("choice", choices=("draft", "active", "paused", "completed", "archived")),
    )
    name: str = attrs.field(default="", metadata=_NAME)
    #: When it may dial: its weekly schedule between its dates (what `is_runnable` asks).
    window: Window = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        weekly = dict.fromkeys(WEEKDAYS, (_ALL_DAY,)) if self.weekly is None else self.weekly
        window = Window(Schedule(self.timezone, weekly, {}), self.start_date, self.end_date)
        object.__setattr__(self, "window", window)

    def is_runnable(self, at: dt.datetime) -> bool:
        """Whether the campaign may place calls at ``at`` (aware), in its own time zone."""
        return self.status == "active" and self.window.runnable(at)


@attrs.frozen
class AssistantRouting:
    """What the PBX does around an AI assistant (`providers.AIAssistant` holds the provider's
    settings): where the call goes when its stream ends (``after``), and the numbers outside
    the PBX its AI may transfer callers to (``transfer_targets``)."""

    after: Destination = attrs.field(default=HANGUP, metadata=_spec("destination"))
    transfer_targets: tuple[str, ...] = attrs.field(
        default=(),
        metadata=_spec("custom", shown="none", help="list of E.164 numbers its AI may transfer to"),
    )


#: An AI assistant is `providers.AIAssistant`, which checks its own settings, plus its
#: `AssistantRouting`; these are the keys the configuration gives it.
_ASSISTANT_FIELDS: Final = (
    Field("text", key="provider", attr="provider", help="a registered provider"),
    Field(
        "custom",
        key="config",
        attr="config",
        help="its settings",
        default=MappingProxyType({}),
        shown="{}",
    ),
    Field("text", key="description", attr="description", default=""),
    Field("status", key="status", attr="active", default=True),
    Field(
        "custom",
        key="functions",
        attr="functions",
        help="names of `functions` offered on every call to it (provider builtin)",
        default=(),
        shown="none",
    ),
    *_fields_of(AssistantRouting),
)
#: The keys of one webhook function of the top-level ``functions`` (exten.bot's fields).
_FUNCTION_KEYS: Final = (
    "title", "url", "bearer_token", "description", "parameters", "input_template",
)  # fmt: skip
#: The keys of one business-hours exception (a `DateException`, which has no declaration of
#: its own: it lives in _hours.py, below this module).
_EXCEPTION_FIELDS: Final = (
    Field("custom", key="date", attr="date", help="YYYY-MM-DD"),
    Field("choice", key="type", attr="type", default="closed", choices=("closed", "special_hours")),
    Field("custom", key="hours", attr="ranges", default=(), help="ranges, for special_hours"),
    Field("text", key="name", attr="name", default=""),
)
#: The class of each section's resources.
_CLASSES: Final[Mapping[str, type]] = {
    "dids": Did,
    "extensions": Extension,
    "ring_groups": RingGroup,
    "ivr_menus": IvrMenu,
    "business_hours": BusinessHours,
    "ai_load_balancers": AiLoadBalancer,
    "conferences": ConferenceRoom,
    "campaigns": Campaign,
}
SECTIONS: Final = (
    "dids", "extensions", "ring_groups", "ivr_menus", "business_hours", "ai_assistants",
    "ai_load_balancers", "conferences", "campaigns",
)  # fmt: skip


def declared_fields(section: str | type) -> tuple[Field, ...]:
    """The fields a section's resources take (``"ring_groups"``), or those of a resource
    class (`LbMember`), in declaration order."""
    if isinstance(section, type):
        return _fields_of(section)
    if section == "ai_assistants":
        return _ASSISTANT_FIELDS
    return _fields_of(_CLASSES[section])


def fields_table(section: str) -> str:
    """The Markdown table of a section's fields, as docs/routing.md shows it.

    >>> print(fields_table("dids"))
    | Field | Type, range | Default |
    |---|---|---|
    | `destination` | destination | required |
    | `status` | `active` or `inactive` | `active` |
    | `name` | a free label | — |
    """
    rows = ["| Field | Type, range | Default |", "|---|---|---|"]
    rows += [
        f"| `{spec.key}` | {spec.describe()} | {spec.shown_default()} |"
        for spec in declared_fields(section)
    ]
    return "\n".join(rows)


@attrs.frozen
class Pbx:
    """A validated PBX configuration. Build it with `load_pbx`."""

    timezone: str
    dids: Mapping[str, Did]
    extensions: Mapping[str, Extension]
    ring_groups: Mapping[str, RingGroup]
    ivr_menus: Mapping[str, IvrMenu]
    business_hours: Mapping[str, BusinessHours]
    ai_assistants: Mapping[str, AIAssistant]
    ai_load_balancers: Mapping[str, AiLoadBalancer]
    conferences: Mapping[str, ConferenceRoom]
    campaigns: Mapping[str, Campaign]
    _references: Mapping[tuple[str, str], tuple[str, ...]] = attrs.field(alias="references")
    #: Each assistant's routing settings, by assistant id (`routing` reads them).
    assistant_routing: Mapping[str, AssistantRouting] = MappingProxyType({})
    #: The webhook functions assistants are offered, by the name the model calls them.
    functions: Mapping[str, Function] = MappingProxyType({})
    #: The resource (section, id) each reference of `references` is written in.
    _owners: Mapping[str, tuple[str, str]] = attrs.field(
        default=MappingProxyType({}), alias="owners", repr=False
    )

    def routing(self, assistant: str) -> AssistantRouting:
        """The routing settings of ``assistant`` (the defaults if it has none)."""
        return self.assistant_routing.get(assistant, _NO_ROUTING)

    def ringable(self, number: str) -> Extension | None:
        """The active extension that ringing ``number`` reaches, following forwards to other
        extensions (at most `MAX_STEPS`); None if the chain ends at a missing or inactive one.
        """
        for _ in range(MAX_STEPS):
            ext = self.extensions.get(number)
            if ext is None or not ext.active:
                return None
            if ext.forward_to is None or not EXTENSION.match(ext.forward_to):
                return ext
            number = ext.forward_to
        return None

    def references(self, kind: str, id: str) -> list[str]:
        """Every place that points at ``kind/id`` (as configuration paths): what must go
        before the resource can be deleted."""
        return list(self._references.get((kind, id), ()))

    def without(self, kind: str, id: str) -> Pbx:
        """This configuration with the resource ``kind/id`` deleted (``did`` and ``campaign``
        are kinds too), and with the references it made itself.

        Raises `ResourceInUseError` (``RESOURCE_IN_USE``) listing every reference that still
        points at it from another resource (`references`, less the resource's own: a menu
        option back to its own menu goes with the menu); a `CxmlError` ``UNKNOWN_KIND`` or
        ``UNKNOWN_RESOURCE`` when there is no such kind or resource.
        """
        section = _DELETABLE.get(kind)
        if section is None:
            kinds = ", ".join(_DELETABLE)
            raise CxmlError(f"{kind!r} is not a kind of resource; kinds: {kinds}",
                            code="UNKNOWN_KIND")  # fmt: skip
        resources: Mapping[str, Any] = getattr(self, section)
        if id not in resources:
            raise CxmlError(f"there is no {kind}/{id}", code="UNKNOWN_RESOURCE")
        owner = (section, id)
        blocking = [p for p in self.references(kind, id) if self._owners.get(p) != owner]
        if blocking:
            raise ResourceInUseError(kind, id, blocking)
        kept = {
            target: tuple(p for p in paths if self._owners.get(p) != owner)
            for target, paths in self._references.items()
            if target != (kind, id)
        }
        changes: dict[str, Any] = {
            section: MappingProxyType({k: v for k, v in resources.items() if k != id}),
            "references": MappingProxyType({k: v for k, v in kept.items() if v}),
            "owners": MappingProxyType({p: o for p, o in self._owners.items() if o != owner}),
        }
        if kind == "ai_assistant":
            routing = self.assistant_routing
            changes["assistant_routing"] = MappingProxyType(
                {k: v for k, v in routing.items() if k != id}
            )
        return attrs.evolve(self, **changes)

    def did(self, number: str | None) -> Did | None:
        """The DID for a dialled number, with or without its leading +."""
        if not number:
            return None
        found = self.dids.get(number)
        if found is None and not number.startswith("+"):
            found = self.dids.get("+" + number)
        return found


_NO_ROUTING: Final = AssistantRouting()
#: What `Pbx.without` deletes: each kind of resource and the section it lives in.
_DELETABLE: Final = {
    "did": "dids",
    **{k.name: k.section for k in KINDS if k.section},
    "campaign": "campaigns",
    "function": "functions",
}


# --- loading --------------------------------------------------------------------------------


def load_pbx(source: str | Path | Mapping[str, Any], *, registry: Registry = registry) -> Pbx:
    """Read a configuration (a YAML or JSON file, or a mapping) and check all of it.

    Raises `PbxConfigError` listing every problem (issue codes in docs/errors.md); a file is
    read with `cxml._data` (no YAML aliases, no duplicate keys, bounded size and depth).
    """
    data: object
    if isinstance(source, Mapping):
        data = source
        try:
            check_size(data, source="the mapping")
        except DataError as exc:
            raise PbxConfigError([_data_issue(exc, "$")]) from None
    elif isinstance(source, str | os.PathLike):
        name = str(Path(source)) if "\0" not in str(source) else repr(str(source))
        try:
            data = load_data_file(source, default_format="yaml")
        except DataError as exc:
            raise PbxConfigError([_data_issue(exc, name)]) from None
    else:
        problem = f"load_pbx takes a file path or a mapping, not {_kind(source)}"
        raise PbxConfigError([Issue("WRONG_TYPE", "error", problem, "$")])
    return _Loader(registry).load(data)


def _data_issue(exc: DataError, name: str) -> Issue:
    """A reader's error as an issue: at its configuration path when it has one (a duplicate
    key, an alias), else at the file (or ``$`` for a mapping)."""
    path = name if exc.path is None or exc.path == "$" else exc.path.removeprefix("$.")
    where = f" (column {exc.column})" if exc.column is not None and exc.line is not None else ""
    return Issue(exc.code, "error", f"{exc.message}{where}", path, exc.line)


def validate_pbx(
    source: str | Path | Mapping[str, Any], *, registry: Registry = registry
) -> list[Issue]:
    """Every problem in a configuration, as `load_pbx` finds them; empty if it loads."""
    try:
        load_pbx(source, registry=registry)
    except PbxConfigError as exc:
        return list(exc.issues)
    return []


class _Loader:
    """Reads one configuration, collecting issues instead of stopping at the first."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.issues: list[Issue] = []
        self.refs: dict[tuple[str, str], list[str]] = {}
        self.pending: list[tuple[str, Destination]] = []  # checked once all ids are known
        self.invalid: set[tuple[str, str]] = set()  # defined, but with problems of their own
        self.default_timezone = "UTC"
        self.assistant_routing: dict[str, AssistantRouting] = {}
        #: The resource (section, id) each pending reference is written in.
        self.owners: dict[str, tuple[str, str]] = {}
        #: The top-level webhook functions, and the names of those with problems.
        self.functions: dict[str, Function] = {}
        self.invalid_functions: set[str] = set()
        #: How each section's resources are read (key, value, path).
        self.readers = {
            "dids": self.did,
            "extensions": self.extension,
            "ring_groups": self.ring_group,
            "ivr_menus": self.ivr_menu,
            "business_hours": self.hours,
            "ai_assistants": self.assistant,
            "ai_load_balancers": self.balancer,
            "conferences": self.conference,
            "campaigns": self.campaign,
        }

    def fail(self, code: str, path: str, message: str) -> None:
        self.issues.append(Issue(code, "error", message, path))

    # -- generic readers; each returns a default after recording a problem --

    def mapping(self, value: object, path: str, known: tuple[str, ...] | None) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail("WRONG_TYPE", path, f"must be a mapping, not {_kind(value)}")
            return {}
        for key in value:
            if not isinstance(key, str):
                self.fail(
                    "WRONG_TYPE", f"{path}.{key}", 'keys must be text (quote numbers: "1001")'
                )
            elif known is not None and key not in known:
                self.fail(
                    "UNKNOWN_KEY",
                    f"{path}.{key}",
                    f"unknown key; expected one of {', '.join(known)}",
                )
        return value

    def item(self, value: object, path: str, fields: tuple[Field, ...]) -> Mapping[str, Any]:
        """A resource's mapping, its unknown keys reported."""
        return self.mapping(value, path, tuple(spec.key for spec in fields))

    def fields(self, cls: type, item: Mapping[str, Any], path: str) -> dict[str, Any]:
        """The declared fields of ``cls`` that are not custom, read from ``item``, by
        attribute name."""
        return self.read(_fields_of(cls), item, path)

    def read(self, fields: tuple[Field, ...], item: Mapping[str, Any], path: str) -> dict[str, Any]:
        return {
            spec.attr: self.field(spec, item.get(spec.key), f"{path}.{spec.key}")
            for spec in fields
            if spec.kind != "custom"
        }

    def field(self, spec: Field, value: object, path: str) -> Any:
        if value is None and spec.required:
            self.fail("MISSING_REQUIRED", path, "is required")
            return HANGUP if spec.kind == "destination" else ""
        if spec.kind == "text":
            return self.text(value, path, spec.default, pattern=spec.pattern, what=spec.help)
        if spec.kind == "int":
            return self.number(value, path, spec.default, spec.low, spec.high)
        if spec.kind == "bool":
            return self.flag(value, path, spec.default)
        if spec.kind == "choice":
            return self.choice(value, path, spec.choices, spec.default)
        if spec.kind == "status":
            return self.choice(value, path, ("active", "inactive"), "active") == "active"
        if spec.kind == "destination":
            return self.destination(value, path, spec.default, spec.targets)
        raise AssertionError(f"{spec.kind} fields are read by their resource")  # pragma: no cover

    def text(
        self, value: object, path: str, default: Any = "", *,
        pattern: re.Pattern[str] | None = None, what: str = "",
    ) -> Any:  # fmt: skip
        if value is None:
            return default
        if not isinstance(value, str):
            self.fail("WRONG_TYPE", path, f"must be {what or 'text'}")
            return default
        if pattern is not None and not pattern.match(value):
            self.fail("BAD_VALUE", path, f"must be {what or 'text'}")
            return default
        return value

    def number(self, value: object, path: str, default: Any, low: int, high: int) -> Any:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail("WRONG_TYPE", path, f"must be a whole number from {low} to {high}")
            return default
        if not low <= value <= high:
            self.fail("OUT_OF_RANGE", path, f"must be from {low} to {high}, not {value}")
            return default
        return value

    def flag(self, value: object, path: str, default: Any) -> Any:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail("WRONG_TYPE", path, "must be true or false")
            return default
        return value

    def choice(self, value: object, path: str, choices: tuple[str, ...], default: Any) -> Any:
        if value is None:
            return default
        if value not in choices:
            self.fail("BAD_ENUM", path, "must be one of " + ", ".join(choices))
            return default
        return value

    def destination(
        self, value: object, path: str, default: Any = REQUIRED, targets: tuple[str, ...] = ()
    ) -> Destination:
        if value is None and default is not REQUIRED:
            return default  # type: ignore[no-any-return]
        if not isinstance(value, str):
            self.fail("BAD_DESTINATION", path, "must be a destination: kind/id or hangup")
            return HANGUP
        kind, _, ident = value.partition("/")
        if value == "hangup":
            target = HANGUP
        elif kind not in _SECTION_OF or kind == "hangup" or not ident:
            self.fail(
                "BAD_DESTINATION", path,
                f"{value!r} is not a destination; kinds: {', '.join(DESTINATION_KINDS)}",
            )  # fmt: skip
            return HANGUP
        else:
            target = Destination(kind, ident)
            self.pending.append((path, target))
        if targets and target.kind not in targets:
            self.fail("BAD_DESTINATION", path, "must be " + " or ".join(
                ", ".join(targets).rsplit(", ", 1)
            ))  # fmt: skip
        return target

    def section(self, data: Mapping[str, Any], name: str) -> dict[str, Any]:
        read = self.readers[name]
        items = self.mapping(data.get(name), name, None)
        out: dict[str, Any] = {}
        for key, value in items.items():
            if not isinstance(key, str):
                continue
            start = len(self.pending)
            made = read(key, value, f"{name}.{key}")
            self.owners.update((path, (name, key)) for path, _ in self.pending[start:])
            if made is not None:
                out[key] = made
            else:
                self.invalid.add((name, key))
        return out

    # -- the sections --

    def load(self, data: object) -> Pbx:
        if data is None:  # mapping() takes a missing mapping for an empty one
            self.fail("WRONG_TYPE", "$", "must be a mapping of sections (dids, ...), not nothing")
        top = self.mapping(data, "$", ("timezone", "functions", *SECTIONS))
        if not isinstance(data, Mapping):
            raise PbxConfigError(self.issues)
        self.default_timezone = self.zone(top.get("timezone"), "timezone", "UTC")
        self.read_functions(top.get("functions"))
        sections = {name: self.section(top, name) for name in SECTIONS}
        self.check_references(sections)
        self.check_endless_chains(sections)
        if self.issues:
            raise PbxConfigError(self.issues)
        frozen = {k: MappingProxyType(v) for k, v in sections.items()}
        refs = MappingProxyType({k: tuple(v) for k, v in self.refs.items()})
        routing = MappingProxyType(
            {k: v for k, v in self.assistant_routing.items() if k in sections["ai_assistants"]}
        )
        return Pbx(
            timezone=self.default_timezone,
            references=refs,
            assistant_routing=routing,
            owners=MappingProxyType(self.owners),
            functions=MappingProxyType(self.functions),
            **frozen,
        )

    def did(self, key: str, value: Any, path: str) -> Did:
        if not E164.match(key):
            self.fail("BAD_VALUE", path, "a DID must be an E.164 number such as +14155550100")
        item = self.item(value, path, _fields_of(Did))
        return Did(key, **self.fields(Did, item, path))

    def extension(self, key: str, value: Any, path: str) -> Extension:
        if not EXTENSION.match(key):
            self.fail("BAD_VALUE", path, "an extension number is 1 to 10 digits")
        item = self.item(value, path, _fields_of(Extension))
        read = self.fields(Extension, item, path)
        where = f"{path}.forward_to"
        forward_to = self.text(item.get("forward_to"), where) or None
        if read["type"] == "forward" and forward_to is None:
            self.fail("MISSING_REQUIRED", where, "is required for a forward")
        elif read["type"] == "user" and forward_to is not None:
            self.fail("BAD_VALUE", where, "is only for type forward")
        elif forward_to is not None and not (
            E164.match(forward_to) or forward_to.startswith("sip:") or EXTENSION.match(forward_to)
        ):
            self.fail("BAD_VALUE", where, "must be an E.164 number, a sip: URI or an extension")
        elif forward_to is not None and EXTENSION.match(forward_to):
            self.pending.append((where, Destination("extension", forward_to)))
        return Extension(key, forward_to=forward_to, **read)

    def ring_group(self, key: str, value: Any, path: str) -> RingGroup:
        item = self.item(value, path, _fields_of(RingGroup))
        members = item.get("members")
        listed: list[str] = []
        if not isinstance(members, list) or not 1 <= len(members) <= 50:
            code = "MISSING_REQUIRED" if members is None else "WRONG_TYPE"
            self.fail(code, f"{path}.members", "must list 1 to 50 extension numbers")
        else:
            for i, member in enumerate(members):
                where = f"{path}.members[{i}]"
                if not isinstance(member, str):
                    self.fail("WRONG_TYPE", where, "must be an extension number in quotes")
                elif member in listed:
                    self.fail("DUPLICATE", where, f"{member} is listed twice")
                else:
                    listed.append(member)
                    self.pending.append((where, Destination("extension", member)))
        return RingGroup(key, tuple(listed), **self.fields(RingGroup, item, path))

    def prompt(self, value: object, path: str, default: Prompt | None) -> Prompt:
        if value is None and default is not None:
            return default
        if isinstance(value, str):
            return Prompt(say=value)
        item = self.item(value, path, _fields_of(Prompt))
        read = self.fields(Prompt, item, path)
        read = {name: text or None for name, text in read.items()}
        if (read["say"] is None) == (read["play"] is None):
            self.fail(
                "MISSING_REQUIRED", path, "needs exactly one of say (text) or play (an audio URL)"
            )
        if read["play"] is not None and not re.match(r"https?://", read["play"]):
            self.fail("BAD_VALUE", f"{path}.play", "must be an http(s) URL")
        return Prompt(**read)

    def ivr_menu(self, key: str, value: Any, path: str) -> IvrMenu:
        item = self.item(value, path, _fields_of(IvrMenu))
        if "prompt" not in item:
            self.fail("MISSING_REQUIRED", f"{path}.prompt", "is required")
        options: dict[str, Destination] = {}
        raw = self.mapping(item.get("options"), f"{path}.options", None)
        if not raw:
            self.fail("MISSING_REQUIRED", f"{path}.options", "needs at least one option")
        for digits, target in raw.items():
            where = f"{path}.options.{digits}"
            if isinstance(digits, str) and "#" in digits:
                # The menu's Gather ends input at # (its default finishOnKey): never pressed.
                self.fail(
                    "BAD_VALUE", where, "# ends the caller's input, so it cannot be in an option"
                )
                continue
            if not isinstance(digits, str) or not _DIGITS.match(digits):
                self.fail("BAD_VALUE", where, "option keys are 1 to 10 of 0-9 and * (quote them)")
                continue
            options[digits] = self.destination(target, where)
        defaults = {spec.attr: spec.default for spec in _fields_of(IvrMenu)}
        return IvrMenu(
            key,
            self.prompt(item.get("prompt"), f"{path}.prompt", Prompt(say="")),
            MappingProxyType(options),
            invalid_prompt=self.prompt(
                item.get("invalid_prompt"), f"{path}.invalid_prompt", defaults["invalid_prompt"]
            ),
            no_input_prompt=self.prompt(
                item.get("no_input_prompt"), f"{path}.no_input_prompt", defaults["no_input_prompt"]
            ),
            **self.fields(IvrMenu, item, path),
        )

    def weekly(self, value: object, path: str) -> dict[str, tuple[TimeRange, ...]]:
        weekly: dict[str, tuple[TimeRange, ...]] = {}
        for day, ranges in self.mapping(value, path, WEEKDAYS).items():
            if day not in WEEKDAYS:
                continue  # reported by mapping()
            weekly[day] = self.ranges(ranges, f"{path}.{day}")
        return weekly

    def ranges(self, value: object, path: str) -> tuple[TimeRange, ...]:
        try:
            return parse_ranges(value, path)
        except TimeRangeError as exc:
            self.issues.append(Issue(exc.code, "error", exc.problem, exc.path))
            return ()

    def zone(self, value: object, path: str, default: str) -> str:
        zone = self.text(value, path, default, what="a time zone name such as Europe/London")
        if (problem := check_timezone(zone)) is not None:
            self.fail("BAD_TIMEZONE", path, problem)
            return "UTC"
        return zone  # type: ignore[no-any-return]

    def date(self, value: object, path: str) -> dt.date | None:
        """A date (YAML reads an unquoted 2026-12-25 as one) or YYYY-MM-DD text; None if not
        given, or after reporting anything else (20261225, a date with a time)."""
        if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
            return value
        if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        shown = value.isoformat() if isinstance(value, dt.datetime) else repr(value)
        self.fail("BAD_VALUE", path, f"must be a date, YYYY-MM-DD, not {shown:.40}")
        return None

    def exceptions(self, value: object, path: str) -> dict[dt.date, DateException]:
        exceptions: dict[dt.date, DateException] = {}
        listed = value or []
        if not isinstance(listed, list):
            self.fail("WRONG_TYPE", path, "must be a list")
            listed = []
        for i, entry in enumerate(listed):
            where = f"{path}[{i}]"
            row = self.item(entry, where, _EXCEPTION_FIELDS)
            day = self.date(row.get("date"), f"{where}.date")
            read = self.read(_EXCEPTION_FIELDS, row, where)
            ranges: tuple[TimeRange, ...] = ()
            if read["type"] == "special_hours":
                ranges = self.ranges(row.get("hours"), f"{where}.hours")
            elif row.get("hours") is not None:
                self.fail("BAD_VALUE", f"{where}.hours", "only special_hours exceptions have hours")
            if day is None:
                if row.get("date") is None:  # absent or null: the holiday would stay open
                    self.fail("MISSING_REQUIRED", f"{where}.date", "is required")
            elif day in exceptions:
                self.fail("DUPLICATE", f"{where}.date", f"{day} has two exceptions")
            else:
                exceptions[day] = DateException(ranges=ranges, **read)
        return exceptions

    def hours(self, key: str, value: Any, path: str) -> BusinessHours:
        item = self.item(value, path, _fields_of(BusinessHours))
        read = self.fields(BusinessHours, item, path)
        return BusinessHours(
            key,
            timezone=self.zone(item.get("timezone"), f"{path}.timezone", self.default_timezone),
            weekly=self.weekly(item.get("schedule"), f"{path}.schedule"),
            exceptions=self.exceptions(item.get("exceptions"), f"{path}.exceptions"),
            **read,
        )

    def assistant(self, key: str, value: Any, path: str) -> AIAssistant | None:
        item = self.item(value, path, _ASSISTANT_FIELDS)
        self.assistant_routing[key] = AssistantRouting(
            transfer_targets=self.numbers(item.get("transfer_targets"), f"{path}.transfer_targets"),
            **self.fields(AssistantRouting, item, path),
        )
        try:
            return AIAssistant(
                key,
                item.get("provider"),  # type: ignore[arg-type]
                item.get("config") or {},
                status=item.get("status", "active"),
                description=item.get("description") or "",
                registry=self.registry,
                functions=self.assistant_functions(key, item.get("functions"), path),
            )
        except ProviderConfigError as exc:
            for field, problem in exc.problems.items():
                self.fail("INVALID_PROVIDER_CONFIG", f"{path}.{field}", problem)
            return None

    def read_functions(self, value: object) -> None:
        """The top-level ``functions``: webhook functions by the name the model calls."""
        for name, spec in self.mapping(value, "functions", None).items():
            if not isinstance(name, str):
                continue
            path = f"functions.{name}"
            item = self.mapping(spec, path, _FUNCTION_KEYS)
            try:
                self.functions[name] = Function(
                    name,
                    item.get("url"),
                    item.get("description", ""),
                    item.get("parameters"),
                    bearer_token=item.get("bearer_token"),
                    input_template=item.get("input_template"),
                    title=item.get("title"),
                )
            except CxmlError as exc:
                self.invalid_functions.add(name)
                field = exc.message.partition(":")[0].removeprefix("Function.")
                if field not in _FUNCTION_KEYS and field != "name":
                    field = "url" if exc.code == "BLOCKED_ADDRESS" else "input_template"
                where = path if field == "name" else f"{path}.{field}"
                self.fail("INVALID_FUNCTION", where, exc.message)

    def assistant_functions(self, key: str, value: object, path: str) -> tuple[Function, ...]:
        """The functions an assistant lists by name, each a reference to it."""
        if value is None:
            return ()
        where = f"{path}.functions"
        if not isinstance(value, list):
            self.fail("WRONG_TYPE", where, "must be a list of function names")
            return ()
        found: list[Function] = []
        for i, name in enumerate(value):
            at = f"{where}[{i}]"
            if not isinstance(name, str):
                self.fail("WRONG_TYPE", at, "must be the name of one of functions")
            elif any(f.name == name for f in found):
                self.fail("DUPLICATE", at, f"{name} is listed twice")
            elif name in self.functions:
                found.append(self.functions[name])
                self.refs.setdefault(("function", name), []).append(at)
                self.owners[at] = ("ai_assistants", key)
            elif name not in self.invalid_functions:
                self.fail("UNKNOWN_FUNCTION", at, f"no function {name!r} in functions")
        return tuple(found)

    def numbers(self, value: object, path: str) -> tuple[str, ...]:
        """A list of distinct E.164 numbers (an assistant's transfer targets)."""
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail("WRONG_TYPE", path, "must be a list of E.164 numbers")
            return ()
        numbers: list[str] = []
        for i, number in enumerate(value):
            where = f"{path}[{i}]"
            if not isinstance(number, str) or not E164.match(number):
                self.fail("BAD_VALUE", where, "must be an E.164 number such as +14155550100")
            elif number in numbers:
                self.fail("DUPLICATE", where, f"{number} is listed twice")
            else:
                numbers.append(number)
        return tuple(numbers)

    def balancer(self, key: str, value: Any, path: str) -> AiLoadBalancer:
        item = self.item(value, path, _fields_of(AiLoadBalancer))
        members: list[LbMember] = []
        listed = item.get("members")
        if not isinstance(listed, list) or not listed:
            code = "MISSING_REQUIRED" if listed is None else "WRONG_TYPE"
            self.fail(code, f"{path}.members", "must list at least one AI assistant")
            listed = []
        for i, entry in enumerate(listed):
            where = f"{path}.members[{i}]"
            row = (
                {"assistant": entry}
                if isinstance(entry, str)
                else self.item(entry, where, _fields_of(LbMember))
            )
            if not isinstance(row.get("assistant"), str) or not row["assistant"]:
                self.fail("MISSING_REQUIRED", where, "needs an assistant")
                continue
            member = LbMember(**self.fields(LbMember, row, where))
            if any(m.assistant == member.assistant for m in members):
                self.fail("DUPLICATE", where, f"{member.assistant} is listed twice")
            self.pending.append((where, Destination("ai_assistant", member.assistant)))
            members.append(member)
        read = self.fields(AiLoadBalancer, item, path)
        if read["strategy"] == "percentage" and members and not any(m.weight for m in members):
            self.fail(
                "BAD_VALUE", f"{path}.members", "percentage needs a member with a weight above 0"
            )
        return AiLoadBalancer(key, tuple(members), **read)

    def conference(self, key: str, value: Any, path: str) -> ConferenceRoom:
        item = self.item(value, path, _fields_of(ConferenceRoom))
        read = self.fields(ConferenceRoom, item, path)
        read["name"] = read["name"] or key
        return ConferenceRoom(key, **read)

    def campaign(self, key: str, value: Any, path: str) -> Campaign:
        item = self.item(value, path, _fields_of(Campaign))
        read = self.fields(Campaign, item, path)
        metadata = self.mapping(item.get("metadata"), f"{path}.metadata", None)
        for name, problem in metadata_problems(metadata).items():
            self.fail("BAD_METADATA", f"{path}.metadata.{name}", problem)
        start = self.date(item.get("start_date"), f"{path}.start_date")
        end = self.date(item.get("end_date"), f"{path}.end_date")
        if start is not None and end is not None and end < start:
            self.fail("BAD_VALUE", f"{path}.end_date", "is before start_date")
            end = None
        return Campaign(
            key,
            timezone=self.zone(item.get("timezone"), f"{path}.timezone", self.default_timezone),
            metadata=MappingProxyType(dict(metadata)),
            weekly=self.weekly(item.get("schedule"), f"{path}.schedule")
            if "schedule" in item
            else None,
            start_date=start,
            end_date=end,
            **read,
        )

    # -- whole-configuration checks --

    def check_references(self, sections: Mapping[str, Mapping[str, Any]]) -> None:
        for path, target in self.pending:
            section = _SECTION_OF[target.kind]
            if target.id not in sections[section] and (section, target.id) not in self.invalid:
                self.fail("DANGLING_DESTINATION", path, f"{target} does not exist")
            self.refs.setdefault((target.kind, target.id), []).append(path)

    def check_endless_chains(self, sections: Mapping[str, Mapping[str, Any]]) -> None:
        """Refuse loops made only of automatic steps (fallbacks, failovers, business-hours
        outcomes, forwards): a call caught in one would ring or bounce forever. Then refuse
        chains of them longer than the router follows (`check_long_chains`)."""
        edges: dict[_Node, list[tuple[str, Destination]]] = {}

        def edge(kind: str, ident: str, path: str, target: Destination) -> None:
            edges.setdefault((kind, ident), []).append((path, target))

        for ident, group in sections["ring_groups"].items():
            edge("ring_group", ident, f"ring_groups.{ident}.fallback", group.fallback)
        for ident, menu in sections["ivr_menus"].items():
            edge("ivr_menu", ident, f"ivr_menus.{ident}.failover", menu.failover)
        for ident, hours in sections["business_hours"].items():
            edge("business_hours", ident, f"business_hours.{ident}.open", hours.open)
            edge("business_hours", ident, f"business_hours.{ident}.closed", hours.closed)
        for ident, balancer in sections["ai_load_balancers"].items():
            edge(
                "ai_load_balancer", ident, f"ai_load_balancers.{ident}.fallback", balancer.fallback
            )
        for ident, ext in sections["extensions"].items():
            if ext.forward_to is not None and EXTENSION.match(ext.forward_to):
                target = Destination("extension", ext.forward_to)
                edge("extension", ident, f"extensions.{ident}.forward_to", target)

        reported: set[str] = set()
        for start in _on_loops(edges):
            for path in _cycle(start, edges):
                if path not in reported:
                    reported.add(path)
                    self.fail(
                        "ENDLESS_LOOP",
                        path,
                        "is part of a loop of fallbacks that never ends the call",
                    )
        self.check_long_chains(sections, edges)

    def check_long_chains(
        self,
        sections: Mapping[str, Mapping[str, Any]],
        edges: Mapping[_Node, list[tuple[str, Destination]]],
    ) -> None:
        """Refuse a chain of more automatic steps than the router takes for one request
        (`MAX_STEPS`): every caller reaching its end would hear "unavailable".

        Steps chain while nothing answers: a business-hours outcome always, a ring group's
        or balancer's fallback when it has no active member to try (otherwise the fallback
        comes in a later request, after the Dial, and counts from 1 again, as a menu's
        failover does). Forwards from extension to extension are counted apart: ringing one
        follows at most `MAX_STEPS` extensions."""
        assistants = sections["ai_assistants"]
        extensions = sections["extensions"]

        def waits(node: _Node) -> bool:
            """Whether arriving at ``node`` ends the request (so its step comes later)."""
            kind, ident = node
            if kind == "ivr_menu":
                return True
            if kind == "ring_group" and ident in sections["ring_groups"]:
                members = sections["ring_groups"][ident].members
                return any(extensions[m].active for m in members if m in extensions)
            if kind == "ai_load_balancer" and ident in sections["ai_load_balancers"]:
                picks = sections["ai_load_balancers"][ident].members
                return any(
                    assistants[m.assistant].active for m in picks if m.assistant in assistants
                )
            return False  # business hours, and what is missing (reported as dangling)

        steps = {n: e for n, e in edges.items() if n[0] != "extension"}
        for path, start in _long_chains(steps, waits, MAX_STEPS + 1):
            self.fail(
                "TOO_MANY_STEPS", path,
                f"is automatic step {MAX_STEPS + 1} in a row from {start[0]}/{start[1]} "
                f"(fallbacks, business-hours outcomes); the router takes at most {MAX_STEPS} "
                "before it answers 'unavailable'",
            )  # fmt: skip
        forwards = {n: e for n, e in edges.items() if n[0] == "extension"}
        for path, start in _long_chains(forwards, lambda _: False, MAX_STEPS):
            self.fail(
                "TOO_MANY_STEPS", path,
                f"is forward {MAX_STEPS} in a row from extension {start[1]}; ringing an "
                f"extension follows at most {MAX_STEPS - 1} forwards",
            )  # fmt: skip


_Node = tuple[str, str]
_Edges = Mapping[_Node, list[tuple[str, Destination]]]


def _targets(edges: _Edges) -> dict[_Node, list[_Node]]:
    found: dict[_Node, list[_Node]] = {node: [] for node in edges}
    for node, out in edges.items():
        for _, target in out:
            found[node].append((target.kind, target.id))
            found.setdefault((target.kind, target.id), [])
    return found


def _on_loops(edges: _Edges) -> list[_Node]:
    """The nodes that may lie on a loop: what is left after taking away, again and again,
    the nodes nothing leads to and those that lead nowhere. Linear in the graph, where
    searching for a loop from every node would be quadratic (a chain of 1,000 fallbacks)."""
    succ = _targets(edges)
    pred: dict[_Node, list[_Node]] = {node: [] for node in succ}
    for node, out in succ.items():
        for target in out:
            pred[target].append(node)
    outdeg = {node: len(out) for node, out in succ.items()}
    indeg = {node: len(into) for node, into in pred.items()}
    queue = [node for node in succ if not outdeg[node] or not indeg[node]]
    removed: set[_Node] = set()
    while queue:
        node = queue.pop()
        if node in removed:
            continue
        removed.add(node)
        for target in succ[node]:
            indeg[target] -= 1
            if not indeg[target] and target not in removed:
                queue.append(target)
        for source in pred[node]:
            outdeg[source] -= 1
            if not outdeg[source] and source not in removed:
                queue.append(source)
    return [node for node in edges if node not in removed]


def _cycle(start: _Node, edges: _Edges) -> list[str]:
    """The paths of a loop of automatic steps through ``start``, if there is one (a depth-first
    search with its own stack: chains may be longer than Python's recursion limit)."""
    trail: list[str] = []  # the path of each edge down the stack
    seen: set[_Node] = set()
    stack = [iter(edges.get(start, []))]
    while stack:
        for path, target in stack[-1]:
            nxt = (target.kind, target.id)
            if nxt == start:
                return [*trail, path]
            if nxt not in seen:
                seen.add(nxt)
                trail.append(path)
                stack.append(iter(edges.get(nxt, [])))
                break
        else:
            stack.pop()
            if trail:
                trail.pop()
    return []


def _long_chains(
    edges: _Edges, waits: Callable[[_Node], bool], limit: int
) -> Iterator[tuple[str, _Node]]:
    """The edges that are step ``limit`` of the longest chain reaching them, with the chain's
    first node. Nodes for which ``waits`` is true start a chain afresh. Nodes on or after a
    loop are skipped (the loop is reported). Every chain longer than ``limit - 1`` steps has
    one such edge: along a longest chain the count goes up by exactly one per step."""
    succ = _targets(edges)
    indeg = dict.fromkeys(succ, 0)
    for out in succ.values():
        for nxt in out:
            indeg[nxt] += 1
    depth = dict.fromkeys(succ, 0)
    origin = {node: node for node in succ}
    queue = [node for node in succ if not indeg[node]]
    while queue:  # nodes in topological order (Kahn)
        node = queue.pop()
        before, first = (0, node) if waits(node) else (depth[node], origin[node])
        for path, target in edges.get(node, []):
            nxt = (target.kind, target.id)
            if before + 1 == limit:
                yield path, first
            if before + 1 > depth[nxt]:
                depth[nxt], origin[nxt] = before + 1, first
            indeg[nxt] -= 1
            if not indeg[nxt]:
                queue.append(nxt)


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__
