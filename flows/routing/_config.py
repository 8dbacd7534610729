"""The PBX configuration: what a backend knows about its numbers, people and agents.

`load_pbx` reads YAML, JSON or a mapping (format in docs/routing.md) into a frozen `Pbx`,
reporting every problem at once with its path (``ring_groups.sales.fallback``): unknown keys,
wrong types and ranges, dangling references, fallback chains that never reach an end,
invalid time zones and provider settings. Destinations are typed references, ``kind/id``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, TypeVar

import attrs

from cxml import CxmlError
from providers import AIAssistant, ProviderConfigError, Registry, metadata_problems, registry

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
    "AiLoadBalancer",
    "Campaign",
    "ConferenceRoom",
    "ConfigIssue",
    "Destination",
    "Did",
    "Extension",
    "IvrMenu",
    "Pbx",
    "PbxConfigError",
    "Prompt",
    "RingGroup",
    "load_pbx",
]

Kind = Literal[
    "extension",
    "ring_group",
    "ivr_menu",
    "business_hours",
    "ai_assistant",
    "ai_load_balancer",
    "conference",
    "hangup",
]
DESTINATION_KINDS: Final[tuple[Kind, ...]] = (
    "extension", "ring_group", "ivr_menu", "business_hours", "ai_assistant",
    "ai_load_balancer", "conference", "hangup",
)  # fmt: skip
#: The configuration section holding each kind of resource.
SECTIONS: Final[Mapping[str, str]] = {
    "extension": "extensions",
    "ring_group": "ring_groups",
    "ivr_menu": "ivr_menus",
    "business_hours": "business_hours",
    "ai_assistant": "ai_assistants",
    "ai_load_balancer": "ai_load_balancers",
    "conference": "conferences",
    "campaign": "campaigns",
}
E164: Final = re.compile(r"\+[1-9][0-9]{1,14}\Z")
EXTENSION: Final = re.compile(r"[0-9]{1,10}\Z")
_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_DIGITS: Final = re.compile(r"[0-9*#]{1,10}\Z")
_ALL_DAY: Final = TimeRange(dt.time(0), dt.time(0))


@attrs.frozen
class ConfigIssue:
    """One problem in a configuration: where (``path``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class PbxConfigError(CxmlError):
    """The configuration has problems; ``issues`` lists every one with its path."""

    code: int | str = "INVALID_PBX_CONFIG"

    def __init__(self, issues: list[ConfigIssue]) -> None:
        shown = "\n".join(f"  {issue}" for issue in issues)
        super().__init__(f"{len(issues)} problem(s) in the PBX configuration:\n{shown}")
        self.issues = tuple(issues)


@attrs.frozen
class Destination:
    """Where a call goes: ``kind/id``, or ``hangup`` (id empty)."""

    kind: Kind
    id: str = ""

    def __str__(self) -> str:
        return self.kind if self.kind == "hangup" else f"{self.kind}/{self.id}"


HANGUP: Final = Destination("hangup")


@attrs.frozen
class Did:
    number: str
    destination: Destination
    active: bool = True


@attrs.frozen
class Extension:
    """``user``: rings the subscriber; ``forward``: an E.164 number, SIP URI or extension."""

    number: str
    type: Literal["user", "forward"]
    active: bool = True
    forward_to: str | None = None
    timeout: int = 30
    name: str = ""


@attrs.frozen
class RingGroup:
    id: str
    members: tuple[str, ...]
    strategy: Literal["simultaneous", "sequential", "round_robin"] = "simultaneous"
    timeout: int = 30
    ring_turns: int = 1
    fallback: Destination = HANGUP
    active: bool = True


@attrs.frozen
class Prompt:
    """What a menu says (``say``, with ``voice`` and ``language``) or plays (``play``: a URL)."""

    say: str | None = None
    play: str | None = None
    voice: str | None = None
    language: str | None = None


@attrs.frozen
class IvrMenu:
    id: str
    prompt: Prompt
    options: Mapping[str, Destination]
    timeout: int = 5
    max_turns: int = 3
    failover: Destination = HANGUP
    invalid_prompt: Prompt = Prompt(say="Sorry, that is not a valid option.")
    no_input_prompt: Prompt = Prompt(say="Sorry, I did not get that.")
    active: bool = True


@attrs.frozen
class BusinessHours:
    id: str
    schedule: Schedule
    open: Destination
    closed: Destination


@attrs.frozen
class LbMember:
    assistant: str
    priority: int = 1
    weight: int = 1


@attrs.frozen
class AiLoadBalancer:
    id: str
    members: tuple[LbMember, ...]
    strategy: Literal["round_robin", "priority", "percentage"] = "round_robin"
    follow_through: bool = False
    fallback: Destination = HANGUP
    active: bool = True


@attrs.frozen
class ConferenceRoom:
    id: str
    name: str
    max_participants: int | None = None
    muted: bool | None = None
    beep: bool | None = None
    hold_music: bool | None = None
    start_on_enter: bool | None = None
    end_on_exit: bool | None = None
    active: bool = True


@attrs.frozen
class Campaign:
    """An auto-dialer campaign: who answered calls go to, and when it may dial."""

    id: str
    destination: Destination
    caller_id: str
    #: When it may dial: its weekly schedule (every day, all day, if none) between its dates.
    window: Window
    metadata: Mapping[str, Any] = MappingProxyType({})
    status: Literal["draft", "active", "paused", "completed", "archived"] = "draft"

    def is_runnable(self, at: dt.datetime) -> bool:
        """Whether the campaign may place calls at ``at`` (aware), in its own time zone."""
        return self.status == "active" and self.window.runnable(at)


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

    def references(self, kind: str, id: str) -> list[str]:
        """Every place that points at ``kind/id`` (as configuration paths): what must go
        before the resource can be deleted."""
        return list(self._references.get((kind, id), ()))

    def did(self, number: str | None) -> Did | None:
        """The DID for a dialled number, with or without its leading +."""
        if not number:
            return None
        found = self.dids.get(number)
        if found is None and not number.startswith("+"):
            found = self.dids.get("+" + number)
        return found


# --- loading --------------------------------------------------------------------------------

T = TypeVar("T")
_SECTION_KEYS: Final = (
    "timezone", "dids", "extensions", "ring_groups", "ivr_menus", "business_hours",
    "ai_assistants", "ai_load_balancers", "conferences", "campaigns",
)  # fmt: skip


def load_pbx(source: str | Path | Mapping[str, Any], *, registry: Registry = registry) -> Pbx:
    """Read a configuration (a YAML or JSON file, or a mapping) and check all of it.

    Raises `PbxConfigError` listing every problem with its path.
    """
    data: object
    if isinstance(source, Mapping):
        data = source
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PbxConfigError([ConfigIssue(str(path), exc.strerror or str(exc))]) from None
        data = _parse_text(text, path)
    return _Loader(registry).load(data)


def _parse_text(text: str, path: Path) -> object:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise PbxConfigError([ConfigIssue(str(path), f"not valid JSON: {exc}")]) from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise PbxConfigError([ConfigIssue(where, f"not valid YAML: {exc}")]) from None


class _Loader:
    """Reads one configuration, collecting issues instead of stopping at the first."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.issues: list[ConfigIssue] = []
        self.refs: dict[tuple[str, str], list[str]] = {}
        self.pending: list[tuple[str, Destination]] = []  # checked once all ids are known
        self.invalid: set[tuple[str, str]] = set()  # defined, but with problems of their own

    def fail(self, path: str, message: str) -> None:
        self.issues.append(ConfigIssue(path, message))

    # -- generic field readers; each returns a default after recording a problem --

    def mapping(self, value: object, path: str, known: tuple[str, ...] | None) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail(path, f"must be a mapping, not {_kind(value)}")
            return {}
        for key in value:
            if not isinstance(key, str):
                self.fail(f"{path}.{key}", 'keys must be text (quote numbers: "1001")')
            elif known is not None and key not in known:
                self.fail(f"{path}.{key}", f"unknown key; expected one of {', '.join(known)}")
        return value

    def text(
        self,
        value: object,
        path: str,
        default: str = "",
        *,
        pattern: re.Pattern[str] | None = None,
        what: str = "",
    ) -> str:
        if value is None:
            return default
        if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
            self.fail(path, f"must be {what or 'text'}")
            return default
        return value

    def number(self, value: object, path: str, default: int, low: int, high: int) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"must be a whole number from {low} to {high}")
            return default
        if not low <= value <= high:
            self.fail(path, f"must be from {low} to {high}, not {value}")
            return default
        return value

    def flag(self, value: object, path: str, default: bool | None) -> Any:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(path, "must be true or false")
            return default
        return value

    def choice(self, value: object, path: str, choices: tuple[T, ...], default: T) -> T:
        if value is None:
            return default
        if value not in choices:
            self.fail(path, "must be one of " + ", ".join(map(str, choices)))
            return default
        return value  # `in choices` narrowed it to T

    def status(self, value: object, path: str) -> bool:
        return self.choice(value, path, ("active", "inactive"), "active") == "active"

    def destination(
        self, value: object, path: str, default: Destination | None = None
    ) -> Destination:
        if value is None and default is not None:
            return default
        if not isinstance(value, str):
            self.fail(path, "must be a destination: kind/id or hangup")
            return HANGUP
        kind, _, ident = value.partition("/")
        if value == "hangup":
            return HANGUP
        if kind not in DESTINATION_KINDS or kind == "hangup" or not ident:
            self.fail(
                path, f"{value!r} is not a destination; kinds: {', '.join(DESTINATION_KINDS)}"
            )
            return HANGUP
        target = Destination(kind, ident)
        self.pending.append((path, target))
        return target

    def section(
        self, data: Mapping[str, Any], name: str, read: Callable[[str, Any, str], T | None]
    ) -> dict[str, T]:
        items = self.mapping(data.get(name), name, None)
        out: dict[str, T] = {}
        for key, value in items.items():
            if not isinstance(key, str):
                continue
            path = f"{name}.{key}"
            made = read(key, value, path)
            if made is not None:
                out[key] = made
            else:
                self.invalid.add((name, key))
        return out

    # -- the sections --

    def load(self, data: object) -> Pbx:
        top = self.mapping(data, "$", _SECTION_KEYS)
        if not isinstance(data, Mapping):
            raise PbxConfigError(self.issues)
        timezone = self.text(top.get("timezone"), "timezone", "UTC")
        if (problem := check_timezone(timezone)) is not None:
            self.fail("timezone", problem)
            timezone = "UTC"
        self.default_timezone = timezone
        pbx_fields: dict[str, dict[str, Any]] = {
            "dids": self.section(top, "dids", self.did),
            "extensions": self.section(top, "extensions", self.extension),
            "ring_groups": self.section(top, "ring_groups", self.ring_group),
            "ivr_menus": self.section(top, "ivr_menus", self.ivr_menu),
            "business_hours": self.section(top, "business_hours", self.hours),
            "ai_assistants": self.section(top, "ai_assistants", self.assistant),
            "ai_load_balancers": self.section(top, "ai_load_balancers", self.balancer),
            "conferences": self.section(top, "conferences", self.conference),
            "campaigns": self.section(top, "campaigns", self.campaign),
        }
        self.check_references(pbx_fields)
        self.check_endless_chains(pbx_fields)
        if self.issues:
            raise PbxConfigError(self.issues)
        frozen = {k: MappingProxyType(v) for k, v in pbx_fields.items()}
        refs = MappingProxyType({k: tuple(v) for k, v in self.refs.items()})
        return Pbx(timezone=timezone, references=refs, **frozen)

    def did(self, key: str, value: Any, path: str) -> Did | None:
        if not E164.match(key):
            self.fail(path, "a DID must be an E.164 number such as +14155550100")
        item = self.mapping(value, path, ("destination", "status", "name"))
        if item.get("destination") is None:
            self.fail(f"{path}.destination", "is required")
        return Did(
            key,
            self.destination(item.get("destination"), f"{path}.destination", HANGUP),
            self.status(item.get("status"), f"{path}.status"),
        )

    def extension(self, key: str, value: Any, path: str) -> Extension | None:
        if not EXTENSION.match(key):
            self.fail(path, "an extension number is 1 to 10 digits")
        item = self.mapping(value, path, ("type", "status", "forward_to", "timeout", "name"))
        kind: Literal["user", "forward"] = self.choice(
            item.get("type"), f"{path}.type", ("user", "forward"), "user"
        )
        forward_to = self.text(item.get("forward_to"), f"{path}.forward_to") or None
        if kind == "forward" and forward_to is None:
            self.fail(f"{path}.forward_to", "is required for a forward")
        elif kind == "user" and forward_to is not None:
            self.fail(f"{path}.forward_to", "is only for type forward")
        elif forward_to is not None and not (
            E164.match(forward_to) or forward_to.startswith("sip:") or EXTENSION.match(forward_to)
        ):
            self.fail(f"{path}.forward_to", "must be an E.164 number, a sip: URI or an extension")
        elif forward_to is not None and EXTENSION.match(forward_to):
            self.pending.append((f"{path}.forward_to", Destination("extension", forward_to)))
        return Extension(
            key,
            kind,
            self.status(item.get("status"), f"{path}.status"),
            forward_to,
            self.number(item.get("timeout"), f"{path}.timeout", 30, 5, 300),
            self.text(item.get("name"), f"{path}.name"),
        )

    def ring_group(self, key: str, value: Any, path: str) -> RingGroup | None:
        item = self.mapping(
            value,
            path,
            ("strategy", "timeout", "ring_turns", "members", "fallback", "status", "name"),
        )
        members = item.get("members")
        listed: list[str] = []
        if not isinstance(members, list) or not 1 <= len(members) <= 50:
            self.fail(f"{path}.members", "must list 1 to 50 extension numbers")
        else:
            for i, member in enumerate(members):
                where = f"{path}.members[{i}]"
                if not isinstance(member, str):
                    self.fail(where, "must be an extension number in quotes")
                elif member in listed:
                    self.fail(where, f"{member} is listed twice")
                else:
                    listed.append(member)
                    self.pending.append((where, Destination("extension", member)))
        return RingGroup(
            key,
            tuple(listed),
            self.choice(item.get("strategy"), f"{path}.strategy",
                        ("simultaneous", "sequential", "round_robin"), "simultaneous"),
            self.number(item.get("timeout"), f"{path}.timeout", 30, 5, 300),
            self.number(item.get("ring_turns"), f"{path}.ring_turns", 1, 1, 9),
            self.destination(item.get("fallback"), f"{path}.fallback", HANGUP),
            self.status(item.get("status"), f"{path}.status"),
        )  # fmt: skip

    def prompt(self, value: object, path: str, default: Prompt | None) -> Prompt:
        if value is None and default is not None:
            return default
        if isinstance(value, str):
            return Prompt(say=value)
        item = self.mapping(value, path, ("say", "play", "voice", "language"))
        say = self.text(item.get("say"), f"{path}.say") or None
        play = self.text(item.get("play"), f"{path}.play") or None
        if (say is None) == (play is None):
            self.fail(path, "needs exactly one of say (text) or play (an audio URL)")
        if play is not None and not re.match(r"https?://", play):
            self.fail(f"{path}.play", "must be an http(s) URL")
        return Prompt(
            say, play, self.text(item.get("voice"), f"{path}.voice") or None,
            self.text(item.get("language"), f"{path}.language") or None,
        )  # fmt: skip

    def ivr_menu(self, key: str, value: Any, path: str) -> IvrMenu | None:
        item = self.mapping(
            value,
            path,
            ("prompt", "options", "timeout", "max_turns", "failover", "invalid_prompt",
             "no_input_prompt", "status", "name"),
        )  # fmt: skip
        if "prompt" not in item:
            self.fail(f"{path}.prompt", "is required")
        options: dict[str, Destination] = {}
        raw = self.mapping(item.get("options"), f"{path}.options", None)
        if not raw:
            self.fail(f"{path}.options", "needs at least one option")
        for digits, target in raw.items():
            where = f"{path}.options.{digits}"
            if not isinstance(digits, str) or not _DIGITS.match(digits):
                self.fail(where, "option keys are 1 to 10 of 0-9, * and # (quote them)")
                continue
            options[digits] = self.destination(target, where)
        return IvrMenu(
            key,
            self.prompt(item.get("prompt"), f"{path}.prompt", Prompt(say="")),
            MappingProxyType(options),
            self.number(item.get("timeout"), f"{path}.timeout", 5, 1, 30),
            self.number(item.get("max_turns"), f"{path}.max_turns", 3, 1, 9),
            self.destination(item.get("failover"), f"{path}.failover", HANGUP),
            self.prompt(item.get("invalid_prompt"), f"{path}.invalid_prompt",
                        IvrMenu.__attrs_attrs__.invalid_prompt.default),
            self.prompt(item.get("no_input_prompt"), f"{path}.no_input_prompt",
                        IvrMenu.__attrs_attrs__.no_input_prompt.default),
            self.status(item.get("status"), f"{path}.status"),
        )  # fmt: skip

    def weekly(self, value: object, path: str) -> dict[str, tuple[Any, ...]]:
        days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        weekly: dict[str, tuple[Any, ...]] = {}
        for day, ranges in self.mapping(value, path, days).items():
            if day not in days:
                continue  # reported by mapping()
            try:
                weekly[day] = parse_ranges(ranges, f"{path}.{day}")
            except TimeRangeError as exc:
                self.fail(exc.path, exc.problem)
        return weekly

    def zone(self, value: object, path: str) -> str:
        zone = self.text(value, path, self.default_timezone)
        if (problem := check_timezone(zone)) is not None:
            self.fail(path, problem)
            return "UTC"
        return zone

    def date(self, value: object, path: str) -> dt.date | None:
        if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
            return value
        try:
            return dt.date.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            pass
        self.fail(path, "must be a date, YYYY-MM-DD")
        return None

    def hours(self, key: str, value: Any, path: str) -> BusinessHours | None:
        item = self.mapping(
            value, path, ("timezone", "schedule", "exceptions", "open", "closed", "status", "name")
        )
        exceptions: dict[dt.date, Any] = {}
        listed = item.get("exceptions") or []
        if not isinstance(listed, list):
            self.fail(f"{path}.exceptions", "must be a list")
            listed = []
        for i, entry in enumerate(listed):
            where = f"{path}.exceptions[{i}]"
            row = self.mapping(entry, where, ("date", "type", "hours", "name"))
            day = self.date(row.get("date"), f"{where}.date")
            kind: Literal["closed", "special_hours"] = self.choice(
                row.get("type"), f"{where}.type", ("closed", "special_hours"), "closed"
            )
            ranges: tuple[Any, ...] = ()
            if kind == "special_hours":
                try:
                    ranges = parse_ranges(row.get("hours"), f"{where}.hours")
                except TimeRangeError as exc:
                    self.fail(exc.path, exc.problem)
            elif row.get("hours") is not None:
                self.fail(f"{where}.hours", "only special_hours exceptions have hours")
            if day is None:
                self.fail(f"{where}.date", "is required") if "date" not in row else None
            elif day in exceptions:
                self.fail(f"{where}.date", f"{day} has two exceptions")
            else:
                exceptions[day] = DateException(kind, ranges)
        for required in ("open", "closed"):
            if required not in item:
                self.fail(f"{path}.{required}", "is required")
        schedule = Schedule(
            self.zone(item.get("timezone"), f"{path}.timezone"),
            self.weekly(item.get("schedule"), f"{path}.schedule"),
            exceptions,
            active=self.status(item.get("status"), f"{path}.status"),
        )
        return BusinessHours(
            key,
            schedule,
            self.destination(item.get("open"), f"{path}.open", HANGUP),
            self.destination(item.get("closed"), f"{path}.closed", HANGUP),
        )

    def assistant(self, key: str, value: Any, path: str) -> AIAssistant | None:
        item = self.mapping(value, path, ("provider", "config", "status", "description"))
        try:
            return AIAssistant(
                key,
                item.get("provider"),  # type: ignore[arg-type]
                item.get("config") or {},
                status=item.get("status", "active"),
                description=item.get("description") or "",
                registry=self.registry,
            )
        except ProviderConfigError as exc:
            for field, problem in exc.problems.items():
                self.fail(f"{path}.{field}", problem)
            return None

    def balancer(self, key: str, value: Any, path: str) -> AiLoadBalancer | None:
        item = self.mapping(
            value, path, ("strategy", "members", "follow_through", "fallback", "status", "name")
        )
        members: list[LbMember] = []
        listed = item.get("members")
        if not isinstance(listed, list) or not listed:
            self.fail(f"{path}.members", "must list at least one AI assistant")
            listed = []
        for i, entry in enumerate(listed):
            where = f"{path}.members[{i}]"
            row = (
                {"assistant": entry}
                if isinstance(entry, str)
                else self.mapping(entry, where, ("assistant", "priority", "weight"))
            )
            name = self.text(row.get("assistant"), f"{where}.assistant")
            if not name:
                self.fail(where, "needs an assistant")
                continue
            if any(m.assistant == name for m in members):
                self.fail(where, f"{name} is listed twice")
            self.pending.append((where, Destination("ai_assistant", name)))
            members.append(
                LbMember(
                    name,
                    self.number(row.get("priority"), f"{where}.priority", 1, 1, 100),
                    self.number(row.get("weight"), f"{where}.weight", 1, 0, 100),
                )
            )
        strategy: Literal["round_robin", "priority", "percentage"] = self.choice(
            item.get("strategy"), f"{path}.strategy", ("round_robin", "priority", "percentage"),
            "round_robin",
        )  # fmt: skip
        if strategy == "percentage" and members and not any(m.weight for m in members):
            self.fail(f"{path}.members", "percentage needs a member with a weight above 0")
        return AiLoadBalancer(
            key,
            tuple(members),
            strategy,
            self.flag(item.get("follow_through"), f"{path}.follow_through", False),
            self.destination(item.get("fallback"), f"{path}.fallback", HANGUP),
            self.status(item.get("status"), f"{path}.status"),
        )

    def conference(self, key: str, value: Any, path: str) -> ConferenceRoom | None:
        item = self.mapping(
            value,
            path,
            ("name", "max_participants", "muted", "beep", "hold_music", "start_on_enter",
             "end_on_exit", "status"),
        )  # fmt: skip
        return ConferenceRoom(
            key,
            self.text(item.get("name"), f"{path}.name", key),
            None if item.get("max_participants") is None
            else self.number(item.get("max_participants"), f"{path}.max_participants", 25, 2, 250),
            self.flag(item.get("muted"), f"{path}.muted", None),
            self.flag(item.get("beep"), f"{path}.beep", None),
            self.flag(item.get("hold_music"), f"{path}.hold_music", None),
            self.flag(item.get("start_on_enter"), f"{path}.start_on_enter", None),
            self.flag(item.get("end_on_exit"), f"{path}.end_on_exit", None),
            self.status(item.get("status"), f"{path}.status"),
        )  # fmt: skip

    def campaign(self, key: str, value: Any, path: str) -> Campaign | None:
        item = self.mapping(
            value,
            path,
            ("destination", "caller_id", "metadata", "timezone", "schedule", "start_date",
             "end_date", "status", "name"),
        )  # fmt: skip
        destination = self.destination(item.get("destination"), f"{path}.destination")
        if destination.kind not in ("ai_assistant", "ai_load_balancer", "hangup"):
            self.fail(f"{path}.destination", "must be an ai_assistant, ai_load_balancer or hangup")
        metadata = self.mapping(item.get("metadata"), f"{path}.metadata", None)
        for name, problem in metadata_problems(metadata).items():
            self.fail(f"{path}.metadata.{name}", problem)
        if "caller_id" not in item:
            self.fail(f"{path}.caller_id", "is required")
        start = self.date(item.get("start_date"), f"{path}.start_date")
        end = self.date(item.get("end_date"), f"{path}.end_date")
        if start is not None and end is not None and end < start:
            self.fail(f"{path}.end_date", "is before start_date")
        weekly = self.weekly(item.get("schedule"), f"{path}.schedule")
        if "schedule" not in item:
            weekly = dict.fromkeys(WEEKDAYS, (_ALL_DAY,))
        zone = self.zone(item.get("timezone"), f"{path}.timezone")
        if start is not None and end is not None and end < start:
            end = None  # reported above
        window = Window(Schedule(zone, weekly, {}), start, end)
        return Campaign(
            key,
            destination,
            self.text(item.get("caller_id"), f"{path}.caller_id", pattern=E164,
                      what="an E.164 number such as +14155550100"),
            window,
            MappingProxyType(dict(metadata)),
            self.choice(item.get("status"), f"{path}.status",
                        ("draft", "active", "paused", "completed", "archived"), "draft"),
        )  # fmt: skip

    # -- whole-configuration checks --

    def check_references(self, sections: Mapping[str, Mapping[str, Any]]) -> None:
        for path, target in self.pending:
            if target.kind == "hangup":
                continue
            section = SECTIONS[target.kind]
            if target.id not in sections[section] and (section, target.id) not in self.invalid:
                self.fail(path, f"{target} does not exist")
            self.refs.setdefault((target.kind, target.id), []).append(path)

    def check_endless_chains(self, sections: Mapping[str, Mapping[str, Any]]) -> None:
        """Refuse loops made only of automatic steps (fallbacks, failovers, business-hours
        outcomes, forwards): a call caught in one would ring or bounce forever."""
        edges: dict[tuple[str, str], list[tuple[str, Destination]]] = {}

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
        for start in edges:
            for path in _cycle(start, edges):
                if path not in reported:
                    reported.add(path)
                    self.fail(path, "is part of a loop of fallbacks that never ends the call")


def _cycle(
    start: tuple[str, str], edges: Mapping[tuple[str, str], list[tuple[str, Destination]]]
) -> Iterator[str]:
    """The paths of a loop of automatic steps through ``start``, if there is one."""
    trail: list[str] = []
    seen: set[tuple[str, str]] = set()

    def walk(node: tuple[str, str]) -> bool:
        for path, target in edges.get(node, []):
            nxt = (target.kind, target.id)
            trail.append(path)
            if nxt == start:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if walk(nxt):
                    return True
            trail.pop()
        return False

    if walk(start):
        yield from trail


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__
