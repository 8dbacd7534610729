"""Hypothesis strategies for PBX configurations. Requires the hypothesis package.

``pbx_configs()`` draws configurations (as the mappings `load_pbx` reads) that load without
error: every reference resolves and no chain of fallbacks loops, because each kind of
resource only points at kinds drawn before it (assistants, then load balancers, ring groups,
menus, business hours, and DIDs last).

>>> from hypothesis import given, settings
>>> from flows.routing import load_pbx
>>> from flows.strategies import pbx_configs
>>> @settings(max_examples=20)
... @given(pbx_configs())
... def test_loads(config):
...     assert load_pbx(config).dids
>>> test_loads()
"""

from __future__ import annotations

from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised only without hypothesis
    raise ImportError("flows.strategies requires hypothesis: pip install hypothesis") from exc

from providers import BUILTIN_TOOLS, ENGINE_PROVIDERS, SIP_PROVIDERS

from ._catalog import ACTIONS, Opt
from ._validate import _ADDRESS_TYPES
from ._variables import BUILTIN_VARIABLES
from .routing import Field, LbMember, declared_fields

__all__ = ["flows", "pbx_configs"]

_STATUS = st.sampled_from(["active", "active", "active", "inactive"])
_E164 = st.from_regex(r"\+1[2-9][0-9]{9}", fullmatch=True)
#: Narrower ranges than the loader allows, so a generated call ends within a test's budget of
#: callbacks (a group rings members x ring_turns times; a menu replays max_turns times) and a
#: percentage balancer has a member with a weight.
_NARROWER = {"ring_turns": (1, 3), "max_turns": (1, 4), "priority": (1, 5), "weight": (1, 5)}


def _pick(targets: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(targets) if targets else st.just("hangup")


def _value(spec: Field, level: list[str]) -> st.SearchStrategy[Any]:
    """Values the loader accepts for a declared field; destinations are drawn from ``level``."""
    if spec.kind == "int":
        low, high = _NARROWER.get(spec.key, (spec.low, spec.high))
        return st.integers(low, high)
    if spec.kind == "choice":
        return st.sampled_from(spec.choices)
    if spec.kind == "bool":
        return st.booleans()
    if spec.kind == "status":
        return _STATUS
    if spec.kind == "destination":
        allowed = [d for d in level if not spec.targets or d.partition("/")[0] in spec.targets]
        return _pick(allowed)
    if spec.kind == "text" and spec.pattern is not None:
        return _E164
    if spec.kind == "text":
        return st.text(max_size=10)
    raise ValueError(f"{spec.key} is custom: draw it by hand")  # pragma: no cover


def _fields(
    draw: st.DrawFn, fields: tuple[Field, ...], level: list[str], **custom: Any
) -> dict[str, Any]:
    """A resource: ``custom`` (its custom fields, drawn by hand), every required declared
    field, and each optional one or its default."""
    item = dict(custom)
    for spec in fields:
        if spec.kind == "custom" or spec.key in item:
            continue
        if spec.required or draw(st.booleans()):
            item[spec.key] = draw(_value(spec, level))
    return item


@st.composite
def pbx_configs(draw: st.DrawFn, *, max_items: int = 3) -> dict[str, Any]:
    """A PBX configuration mapping that `load_pbx` accepts.

    The fields each resource declares (`flows.routing.fields_table`) are drawn from their
    declaration; members, options, prompts and schedules by hand.
    """
    config: dict[str, Any] = {"timezone": draw(st.sampled_from(["UTC", "America/New_York"]))}
    many = st.integers(1, max_items)
    some = st.integers(0, max_items)

    def resource(section: str, level: list[str], **custom: Any) -> dict[str, Any]:
        return _fields(draw, declared_fields(section), level, **custom)

    extensions = {f"10{i:02d}": resource("extensions", [], type="user") for i in range(draw(many))}
    if draw(st.booleans()):
        extensions["1099"] = resource("extensions", [], type="forward", forward_to=draw(_E164))
    config["extensions"] = extensions
    config["conferences"] = {"room": resource("conferences", [])}
    level = ["hangup", "conference/room"] + [f"extension/{e}" for e in extensions]
    assistants = {
        f"agent{i}": resource(
            "ai_assistants", level,
            provider=draw(st.sampled_from(SIP_PROVIDERS)),
            config={"phone_number": draw(_E164)},
            status=draw(_STATUS),
            transfer_targets=draw(st.lists(_E164, max_size=2, unique=True)),
        )
        for i in range(draw(many))
    }  # fmt: skip
    config["ai_assistants"] = assistants
    level += [f"ai_assistant/{a}" for a in assistants]

    def member(name: str) -> dict[str, Any]:
        return _fields(draw, declared_fields(LbMember), [], assistant=name)

    balancers = {
        f"lb{i}": resource(
            "ai_load_balancers", level,
            members=[member(name) for name in draw(
                st.lists(st.sampled_from(sorted(assistants)), min_size=1, unique=True)
            )],
        )
        for i in range(draw(some))
    }  # fmt: skip
    config["ai_load_balancers"] = balancers
    level += [f"ai_load_balancer/{b}" for b in balancers]

    groups = {
        f"group{i}": resource(
            "ring_groups", level,
            members=draw(st.lists(st.sampled_from(sorted(extensions)), min_size=1, unique=True)),
        )
        for i in range(draw(some))
    }  # fmt: skip
    config["ring_groups"] = groups
    level += [f"ring_group/{g}" for g in groups]

    keys = st.sampled_from(["0", "1", "2", "3", "9", "*", "11", "42"])  # "#" ends input
    menus = {
        f"menu{i}": resource(
            "ivr_menus", level,
            prompt=draw(st.sampled_from([{"say": "Press a key."},
                                         {"play": "https://audio.example.com/menu.wav"}])),
            options=draw(st.dictionaries(keys, _pick(level), min_size=1, max_size=4)),
        )
        for i in range(draw(some))
    }  # fmt: skip
    config["ivr_menus"] = menus
    level += [f"ivr_menu/{m}" for m in menus]

    if draw(st.booleans()):
        config["business_hours"] = {
            "hours": resource(
                "business_hours", level,
                timezone=draw(st.sampled_from(["Europe/London", "Asia/Tokyo", "UTC"])),
                schedule={"monday": [["09:00", "17:00"]], "friday": [["22:00", "02:00"]]},
                exceptions=[{"date": "2026-12-25", "type": "closed"}],
            )
        }  # fmt: skip
        level.append("business_hours/hours")

    numbers = draw(st.lists(_E164, min_size=1, max_size=max_items, unique=True))
    config["dids"] = {number: resource("dids", level) for number in numbers}
    return config


# No "${" in plain text: every variable a generated flow reads is one it sets or a built-in.
_TEXT = st.text(max_size=12).filter(lambda text: "${" not in text)
_UUID = st.uuids().map(str)
#: Names a variable_set may set that a ``${name}`` can read back (no "}", "$" or newline).
_NAME = st.from_regex(r"[a-z][a-z0-9_.]{0,8}", fullmatch=True)
_BUILTINS = st.sampled_from(sorted(BUILTIN_VARIABLES))
_TOOL_NAMES = st.just(["all"]) | st.lists(st.sampled_from(sorted(BUILTIN_TOOLS)), unique=True)


def _option_value(
    draw: st.DrawFn, kind: str, name: str, opt: Opt, ids: list[str], *, readable: list[str]
) -> Any:
    """A value the catalog accepts for one option of an action of type ``kind``.

    Text may read a variable: a built-in, or one of ``readable`` (set by the flow).
    """
    text = _TEXT
    if opt.type == "str":
        names = _BUILTINS | st.sampled_from(readable) if readable else _BUILTINS
        reference = st.tuples(_TEXT, names, _TEXT).map(lambda t: f"{t[0]}${{{t[1]}}}{t[2]}")
        text = _TEXT | reference
    address = st.fixed_dictionaries(
        {"type": st.sampled_from(_ADDRESS_TYPES), "target": _TEXT}
    )  # fmt: skip
    if kind == "goto" and name == "loop_count":
        return draw(st.integers(1, 5))
    if kind == "variable_set" and name == "key":
        return draw(_NAME | _TEXT)
    if name == "tool_names":
        return draw(_TOOL_NAMES)
    if name == "engine_model":
        provider = draw(st.sampled_from(sorted(ENGINE_PROVIDERS)))
        return f"{provider}.{draw(st.from_regex(r'[a-z0-9-]{1,10}', fullmatch=True))}"
    if opt.action_ref:
        return draw(st.sampled_from(ids))
    strategies: dict[str, st.SearchStrategy[Any]] = {
        "str": text,
        "id": _UUID,
        "int": st.integers(0, 100_000),
        "float": st.floats(-1e6, 1e6, allow_nan=False),
        "bool": st.booleans(),
        "address": address,
        "addresses": st.lists(address, min_size=1, max_size=2),
        "strings": st.lists(_TEXT, max_size=2),
        "ints": st.lists(st.integers(0, 6), max_size=3),
        "actions": st.just([{"type": "answer"}]),
        "object": st.dictionaries(_TEXT, _TEXT, max_size=2),
    }
    if opt.type == "enum":
        return draw(st.sampled_from(opt.choices))
    if opt.type == "targets":
        return draw(st.dictionaries(_TEXT, st.sampled_from(ids), min_size=1, max_size=3))
    return draw(strategies[opt.type])


@st.composite
def flows(draw: st.DrawFn, *, max_actions: int = 6) -> dict[str, Any]:
    """A flow object (``{"actions": [...]}``) that `validate_flow` finds no error in.

    Actions of any catalog type with valid options (each under one of its spellings), ids on
    some actions, and every goto (with a loop_count), branch and condition target, and every
    ``next_id``, naming an action of the flow. An action without options may write
    ``"option": {}`` or ``null``, or leave it out. Text reads only built-in variables and those
    a ``variable_set`` of the flow sets; AI ``tool_names`` are built-in tools, and an ``ai`` or
    ``ai_talk`` has a prompt or names its AI. Warnings about unreachable actions and branches
    without a default may remain (and CONVERSATION_UNSAFE_TOOL with ``media="non_rtc"``).

    >>> from hypothesis import given, settings
    >>> from flows import load_flow, validate_flow
    >>> @settings(max_examples=20)
    ... @given(flows())
    ... def test_valid(flow):
    ...     assert all(i.severity == "warning" for i in validate_flow(flow))
    ...     assert load_flow(flow).to_dict() == flow
    >>> test_valid()
    """
    count = draw(st.integers(1, max_actions))
    has_id = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    uuids = draw(st.lists(_UUID, min_size=count, max_size=count, unique=True))
    ids = [u for u, flag in zip(uuids, has_id, strict=True) if flag]
    # Types whose required options name an action can only be used when some action has an id.
    kinds = sorted(
        kind for kind, spec in ACTIONS.items()
        if ids or not any(o.required and (o.action_ref or o.type == "targets")
                          for o in spec.options.values())
    )  # fmt: skip
    actions: list[dict[str, Any]] = []
    readable: list[str] = []  # variable_set keys so far: later text may read them
    for i in range(count):
        kind = draw(st.sampled_from(kinds))
        spec = ACTIONS[kind]
        action: dict[str, Any] = {"type": kind}
        if has_id[i]:
            action["id"] = uuids[i]
        if ids and draw(st.integers(0, 5)) == 0:
            action["next_id"] = draw(st.sampled_from(ids))
        option: dict[str, Any] = {}
        for name, opt in spec.options.items():
            refers = opt.action_ref or opt.type == "targets"
            wanted = opt.required or (kind == "goto" and name == "loop_count")
            if refers and not ids:
                continue
            if not wanted and not draw(st.booleans()):
                continue
            spelling = draw(st.sampled_from((name, *opt.aliases)))
            option[spelling] = _option_value(draw, kind, name, opt, ids, readable=readable)
        if kind in ("ai", "ai_talk") and not any(
            isinstance(option.get(k), str) and option[k].strip()
            for k in ("initial_prompt", "init_prompt", "assistance_id", "ai_id")
        ):  # an AI action names its AI or gives a prompt (MISSING_AI)
            option.pop("init_prompt", None)
            option["initial_prompt"] = draw(_TEXT.filter(str.strip))
        key = option.get("key") if kind == "variable_set" else None
        if isinstance(key, str) and key and not set(key) & set("${}\n"):
            readable.append(key)
        if option:
            action["option"] = option
        else:  # an action without options may leave it out, or write {} or null
            written = draw(st.sampled_from(["absent", "empty", "null"]))
            if written != "absent":
                action["option"] = {} if written == "empty" else None
        if draw(st.integers(0, 9)) == 0:
            action["tm_execute"] = "2026-01-01 00:00:00.000000"
        actions.append(action)
    flow: dict[str, Any] = {"actions": actions}
    if draw(st.booleans()):
        flow["type"] = draw(st.sampled_from(["flow", "conference", "queue", "campaign"]))
        flow["name"] = draw(_TEXT)
    return flow
