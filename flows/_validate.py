"""Checking flow definitions: every problem at once, with a stable code and a JSON path.

VoIPBIN checks only the action type when a flow is created and finds the rest at run time
(flows.md §8, §13); this checks what can be known beforehand. Errors:

* UNKNOWN_ACTION_TYPE, UNKNOWN_KEY, UNKNOWN_OPTION, MISSING_REQUIRED, WRONG_TYPE, BAD_ENUM;
* DUPLICATE_ID, DANGLING_TARGET (``next_id``, goto, branch and condition targets);
* GOTO_WITHOUT_LOOP_COUNT (VoIPBIN skips a goto without a bound above 0);
* BAD_ENGINE_MODEL (``engine_model`` is not ``<provider>.<model>`` with a known provider);
* MEDIA_MISMATCH: with ``media`` given, an action that needs a live call in a flow without
  one, or the reverse (VoIPBIN silently skips it);
* UNKNOWN_TOOL, BAD_TOOL_NAMES: an AI's ``tool_names`` that `providers.resolve_tool_names`
  refuses (a name that is no built-in tool; a duplicate, ``"all"`` mixed with names);
* MISSING_AI: an ``ai``/``ai_talk`` with neither a prompt (``initial_prompt``) nor an AI
  configuration (``assistance_id``, ``ai_id``): seed 001's action "references the AI
  configuration or provides inline settings";
* BAD_VARIABLES: a call request's ``variables`` that VoIPBIN's injection rules refuse;
* TOO_LARGE, TOO_DEEP: more values than `cxml._data.MAX_VALUES` (a value reached twice counts
  twice) or nesting deeper than `cxml._data.MAX_DEPTH`, as for a flow read from a file; the
  only issue reported then.

A flow may be given as a flow object (``{"name", "detail", "actions", ...}``), a bare list of
actions, or the body of VoIPBIN's ``POST /calls`` (``source``, ``destinations``, ``actions``,
``variables``, ...), as seed 003 writes them.

Warnings (`load_flow` still loads the flow):

* EMPTY_FLOW: the flow has no actions (it does nothing);
* BRANCH_WITHOUT_DEFAULT: a branch without ``default_target_id``: a value not in its
  ``target_ids`` ends the run as failed (VoIPBIN looks up the empty id and stops). The action
  after a branch runs only when ``next_id`` or a jump leads to it;
* UNREACHABLE_ACTION: no path from the first action reaches it;
* REPEATED_OPTION: one option written under two spellings; the first one written is used;
* UNSET_VARIABLE: a ``${name}`` read in an option that no ``variable_set`` of the flow sets
  (anywhere in it, whatever the order: a set that runs after the read is not caught), that
  is not built in (`BUILTIN_VARIABLES`) and not in ``variables``. Names an AI may set with
  its ``set_variables`` tool cannot be known here: pass them in ``variables``;
* CONVERSATION_UNSAFE_TOOL: with ``media="non_rtc"`` (a conversation), an ``ai``/``ai_talk``
  whose ``tool_names`` selects a voice-only tool (`providers.conversation_unsafe`:
  ``connect_call``, ``stop_media``, ``stop_flow``; ``["all"]`` includes them).

A value written as ``${...}`` where a number, flag, list or object is expected is substituted
at run time and checked then; the same goes for a target id or a tool name with ``${``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

from cxml import Issue
from cxml._data import DataError, check_size
from providers import ENGINE_PROVIDERS, ToolError, conversation_unsafe, resolve_tool_names

from ._catalog import ACTIONS, RENAMED, ActionSpec, Opt
from ._variables import BUILTIN_VARIABLES, VariableError, check_initial_variables, references

__all__ = ["json_schema", "validate_flow"]

_FLOW_KEYS: Final = frozenset(
    {"id", "type", "name", "detail", "actions", "on_complete_flow_id", "persist", "direct_hash",
     "customer_id", "tm_create", "tm_update", "tm_delete"}
)  # fmt: skip
_ACTION_KEYS: Final = frozenset({"id", "next_id", "type", "option", "tm_execute"})
#: The fields of a ``POST /calls`` body: a call whose flow is given inline as ``actions``.
CALL_KEYS: Final = frozenset(
    {"source", "destinations", "actions", "flow_id", "variables", "early_execution", "anonymous"}
)
#: Options of an AI action that name what it talks with: a prompt or an AI configuration.
_AI_SOURCES: Final = ("initial_prompt", "assistance_id", "ai_id")
_FLOW_TYPES: Final = ("flow", "conference", "queue", "campaign", "transfer")
#: Types after which the next action in the list does not run on its own (a branch goes to
#: a target or its default, or fails the run).
_ENDS: Final = frozenset({"stop", "hangup", "block", "branch"})
#: Types whose ``tool_names`` select built-in tools.
_AI_TYPES: Final = frozenset({"ai", "ai_talk"})

Media = Literal["rtc", "non_rtc"]


def validate_flow(
    data: object,
    *,
    media: Media | None = None,
    variables: Iterable[str] = (),
    tools: Iterable[str] = (),
) -> list[Issue]:
    """Every problem in a flow definition (a flow object or a list of actions), in order.

    ``media`` says whether the flow runs with a live call (``"rtc"``) or without one
    (``"non_rtc"``: conversations, API runs); actions that need the other are reported.
    ``variables`` names the variables the run is known to have besides the flow's own
    ``variable_set`` keys and the built-ins: those it is started with (injected), or that
    something outside the flow sets (an AI's ``set_variables``). ``tools`` names the webhook
    functions the run provides, which ``tool_names`` may list beside the built-in tools.
    """
    try:
        # Python data has no file size to cap: a budget of values instead, the one files get
        # (lists that share their items count each time, so a shared-list bomb stops here).
        check_size(data)
    except DataError as exc:
        return [data_issue(exc)]
    checker = _Checker(media, variables, tools)
    checker.flow(data)
    return checker.issues


def data_issue(exc: DataError) -> Issue:
    """What `cxml._data` refuses (too large, too deep, not JSON) as an issue of the flow."""
    return Issue(exc.code, "error", exc.message, exc.path or "$", exc.line)


class _Checker:
    def __init__(self, media: Media | None, variables: Iterable[str], tools: Iterable[str]) -> None:
        self.media = media
        self.functions = frozenset([tools] if isinstance(tools, str) else tools)
        self.issues: list[Issue] = []
        #: Names a ``${name}`` may read without a warning, besides BUILTIN_VARIABLES.
        # One name given as a string means that name, not its letters.
        self.known: set[str] = {variables} if isinstance(variables, str) else set(variables)

    def add(self, code: str, path: str, message: str, *, warning: bool = False) -> None:
        self.issues.append(Issue(code, "warning" if warning else "error", message, path))

    def flow(self, data: object) -> None:
        if isinstance(data, list):
            actions: object = data
            prefix = "$"
        elif isinstance(data, Mapping) and is_call_body(data):
            self.call_body(data)
            if "actions" not in data:
                message = "a call needs its actions here (a flow_id names a flow stored elsewhere)"
                self.add("MISSING_REQUIRED", "$.actions", message)
                return
            actions, prefix = data["actions"], "$.actions"
        elif isinstance(data, Mapping):
            for key in data:
                if key not in _FLOW_KEYS:
                    self.add("UNKNOWN_KEY", f"$.{key}", f"{key!r} is not a flow field")
            kind = data.get("type", "flow")
            if kind not in _FLOW_TYPES:
                self.add("BAD_ENUM", "$.type", f"must be one of {', '.join(_FLOW_TYPES)}")
            for key in ("name", "detail", "direct_hash"):
                if key in data and not isinstance(data[key], str):
                    self.add("WRONG_TYPE", f"$.{key}", "must be text")
            if "actions" not in data:
                self.add("MISSING_REQUIRED", "$.actions", "a flow needs actions")
                return
            actions, prefix = data["actions"], "$.actions"
        else:
            self.add("WRONG_TYPE", "$", "a flow is an object with actions, or a list of actions")
            return
        if not isinstance(actions, list):
            self.add("WRONG_TYPE", prefix, "must be a list of actions")
            return
        if not actions:
            self.add("EMPTY_FLOW", prefix, "the flow has no actions: it does nothing",
                     warning=True)  # fmt: skip
        ids: dict[str, int] = {}
        for i, action in enumerate(actions):
            if not isinstance(action, Mapping):
                continue
            if action.get("type") == "variable_set":
                option = action.get("option")
                key = option.get("key") if isinstance(option, Mapping) else None
                if isinstance(key, str):
                    self.known.add(key)
            ident = action.get("id")
            if isinstance(ident, str):
                if ident in ids:
                    self.add(
                        "DUPLICATE_ID", f"{prefix}[{i}].id", f"{ident} is also action {ids[ident]}"
                    )
                else:
                    ids[ident] = i
        for i, action in enumerate(actions):
            self.action(action, f"{prefix}[{i}]", ids)
        self.reachability(actions, ids, prefix)

    def call_body(self, data: Mapping[str, Any]) -> None:
        """The fields of a ``POST /calls`` body besides its actions."""
        for key in data:
            if key not in CALL_KEYS:
                self.add("UNKNOWN_KEY", f"$.{key}", f"{key!r} is not a field of a call request")
        fields = {
            "source": Opt("address"), "destinations": Opt("addresses", True),
            "flow_id": Opt("id"), "early_execution": Opt("bool"),
            "anonymous": Opt("enum", choices=("yes", "no", "auto")),
        }  # fmt: skip
        for name, opt in fields.items():
            if name in data:
                self.value(opt, data[name], f"$.{name}", {})
            elif opt.required:
                self.add("MISSING_REQUIRED", f"$.{name}", f"a call needs {name}")
        if "variables" in data:
            try:
                check_initial_variables(data["variables"])
            except VariableError as exc:
                self.add(str(exc.code), "$.variables", exc.message)

    def action(self, action: object, path: str, ids: Mapping[str, int]) -> None:
        if not isinstance(action, Mapping):
            self.add("WRONG_TYPE", path, "an action is an object")
            return
        for key in action:
            if key not in _ACTION_KEYS:
                self.add("UNKNOWN_KEY", f"{path}.{key}", f"{key!r} is not an action field")
        for key in ("id", "next_id"):
            if key in action and not isinstance(action[key], str):
                self.add("WRONG_TYPE", f"{path}.{key}", "must be text")
        next_id = action.get("next_id")
        if isinstance(next_id, str) and next_id not in ids:
            self.add("DANGLING_TARGET", f"{path}.next_id", f"no action has the id {next_id}")
        kind = action.get("type")
        spec = ACTIONS.get(kind) if isinstance(kind, str) else None
        if spec is None:
            hint = f"; use {RENAMED[kind]}" if isinstance(kind, str) and kind in RENAMED else ""
            self.add("UNKNOWN_ACTION_TYPE", f"{path}.type", f"unknown action type {kind!r}{hint}")
            return
        if self.media is not None and spec.media not in ("any", self.media):
            needs = "a live call" if spec.media == "rtc" else "no live call"
            self.add("MEDIA_MISMATCH", f"{path}.type", f"{kind} needs {needs}; it would be skipped")
        option = action.get("option", {})
        if option is None:
            option = {}
        if not isinstance(option, Mapping):
            self.add("WRONG_TYPE", f"{path}.option", "must be an object")
            return
        self.options(kind, spec, option, f"{path}.option", ids)  # type: ignore[arg-type]

    def options(
        self, kind: str, spec: ActionSpec, option: Mapping[str, Any], path: str,
        ids: Mapping[str, int],
    ) -> None:  # fmt: skip
        given: dict[str, str] = {}
        for key, value in option.items():
            found = spec.option(key) if isinstance(key, str) else None
            if found is None:
                self.add("UNKNOWN_OPTION", f"{path}.{key}", f"{kind} has no option {key!r}")
                continue
            name, opt = found
            if name in given:
                self.add("REPEATED_OPTION", f"{path}.{key}",
                         f"repeats {given[name]}, which is used instead", warning=True)  # fmt: skip
                continue
            given[name] = key
            self.value(opt, value, f"{path}.{key}", ids)
            self.reads(value, f"{path}.{key}")
        for name, opt in spec.options.items():
            if opt.required and name not in given:
                self.add("MISSING_REQUIRED", f"{path}.{name}", f"{kind} needs {name}")
        if kind == "goto":
            count = option.get("loop_count")
            variable = isinstance(count, str) and "${" in count  # checked at run time
            if not variable and not (isinstance(count, int) and count > 0):
                self.add(
                    "GOTO_WITHOUT_LOOP_COUNT", f"{path}.loop_count",
                    "a goto without a loop_count above 0 does nothing (VoIPBIN treats it as a "
                    "no-op); give it a bound",
                )  # fmt: skip
        model = option.get("engine_model")
        if isinstance(model, str) and "${" not in model:
            provider, dot, rest = model.partition(".")
            if not dot or not rest or provider not in ENGINE_PROVIDERS:
                message = "must be <provider>.<model> with a known provider, e.g. openai.gpt-4o"
                self.add("BAD_ENGINE_MODEL", f"{path}.engine_model", message)
        if kind in _AI_TYPES and not any(
            _filled(option[given[name]]) for name in _AI_SOURCES if name in given
        ):
            self.add(
                "MISSING_AI", path,
                f"{kind} needs an AI: assistance_id (or ai_id) naming an AI configuration, or "
                "an initial_prompt for an inline one",
            )  # fmt: skip
        if kind == "branch" and "default_target_id" not in given:
            self.add(
                "BRANCH_WITHOUT_DEFAULT", f"{path}.default_target_id",
                "a value not in target_ids ends the run as failed (VoIPBIN has no action to go "
                "to); give a default_target_id",
                warning=True,
            )  # fmt: skip
        if kind in _AI_TYPES and "tool_names" in given:
            self.tools(option[given["tool_names"]], f"{path}.{given['tool_names']}")

    def reads(self, value: Any, path: str) -> None:
        """Warn about each ``${name}`` in ``value`` that nothing is known to set."""
        if isinstance(value, str):
            if "${" not in value:  # the common case, without the walk or the regex
                return
            texts = [(path, value)]
        elif isinstance(value, Mapping | list):
            texts = _texts_with_references(value, path)
        else:
            return
        for where, text in texts:
            for name in dict.fromkeys(name for _, name in references(text)):  # once per text
                if name in self.known or name in BUILTIN_VARIABLES:
                    continue
                self.add(
                    "UNSET_VARIABLE", where,
                    f"${{{name}}} is not built in, and no variable_set of the flow sets it: it "
                    "reads as empty unless the run is started with it (pass it in variables=)",
                    warning=True,
                )  # fmt: skip

    def tools(self, names: Any, path: str) -> None:
        """Tool names the providers do not know; voice-only tools in a conversation."""
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            return  # WRONG_TYPE already, or a ${...} for the whole list
        if any("${" in n for n in names):
            return  # substituted at run time; checked then
        try:
            tools = resolve_tool_names([n for n in names if n not in self.functions])
        except ToolError as exc:
            self.add(str(exc.code), path, exc.message)
            return
        if self.media != "non_rtc":
            return
        unsafe = conversation_unsafe(tools)
        # ["all"] selects them all from its one entry; a list names each one at its index.
        where = [(0, unsafe)] if names == ["all"] and unsafe else [
            (i, (n,)) for i, n in enumerate(names) if n in unsafe
        ]  # fmt: skip
        for i, selected in where:
            self.add(
                "CONVERSATION_UNSAFE_TOOL", f"{path}[{i}]",
                f"{', '.join(selected)} needs a live call; avoid it in a conversation AI",
                warning=True,
            )  # fmt: skip

    def value(self, opt: Opt, value: Any, path: str, ids: Mapping[str, int]) -> None:
        if isinstance(value, str) and "${" in value and opt.type not in ("str", "id", "enum"):
            return  # substituted at run time; checked then
        problem = type_problem(opt, value)
        if problem is not None:
            code = "BAD_ENUM" if opt.type == "enum" and isinstance(value, str) else "WRONG_TYPE"
            self.add(code, path, problem)
            return
        targets: list[tuple[str, str]] = []
        if opt.action_ref and isinstance(value, str):
            targets.append((path, value))
        if opt.type == "targets":
            targets += [(f"{path}.{k}", v) for k, v in value.items()]
        for where, target in targets:
            if target not in ids and "${" not in target:
                self.add("DANGLING_TARGET", where, f"no action has the id {target}")

    def reachability(self, actions: list[Any], ids: Mapping[str, int], prefix: str) -> None:
        """Warn about actions no path from the first one reaches."""
        seen: set[int] = set()
        todo = [0] if actions else []
        while todo:
            i = todo.pop()
            if i in seen or not 0 <= i < len(actions) or not isinstance(actions[i], Mapping):
                continue
            seen.add(i)
            todo += _successors(actions[i], i, ids)
        for i in range(len(actions)):
            if i not in seen:
                self.add("UNREACHABLE_ACTION", f"{prefix}[{i}]", "no path reaches this action",
                         warning=True)  # fmt: skip


def is_call_body(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` is a ``POST /calls`` body (it says where the call goes), not a flow."""
    return "destinations" in data or "source" in data


def _filled(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _texts_with_references(
    value: Mapping[Any, Any] | list[Any], path: str
) -> list[tuple[str, str]]:
    """(JSON path, text) of every string in ``value`` with a ``${``, in document order.

    A loop, not recursion: parsed JSON can nest deeper than Python's stack.
    """
    found: list[tuple[str, str]] = []
    todo: list[tuple[str, Any]] = [(path, value)]
    while todo:
        where, item = todo.pop()
        if isinstance(item, str):
            if "${" in item:
                found.append((where, item))
        elif isinstance(item, Mapping):
            todo += [(f"{where}.{k}", v) for k, v in reversed(list(item.items()))]
        elif isinstance(item, list | tuple):
            todo += [(f"{where}[{i}]", v) for i, v in reversed(list(enumerate(item)))]
    return found


def _successors(action: Mapping[str, Any], i: int, ids: Mapping[str, int]) -> list[int]:
    kind = action.get("type")
    if not isinstance(kind, str):
        kind = None  # a list or object type is unhashable: no frozenset or dict lookups
    option = action.get("option") if isinstance(action.get("option"), Mapping) else {}
    spec = ACTIONS.get(kind) if kind is not None else None
    out: list[int] = []
    if spec is not None:
        for key, value in option.items():  # type: ignore[union-attr]
            found = spec.option(key) if isinstance(key, str) else None
            if found is None:
                continue
            if found[1].action_ref and isinstance(value, str) and value in ids:
                out.append(ids[value])
            if found[1].type == "targets" and isinstance(value, Mapping):
                out += [ids[v] for v in value.values() if isinstance(v, str) and v in ids]
    next_id = action.get("next_id")
    if kind == "branch":
        return out  # it jumps to a target or its default, or the run fails: never onward
    if isinstance(next_id, str) and next_id in ids:
        out.append(ids[next_id])
    elif kind not in _ENDS:
        out.append(i + 1)
    return out


def type_problem(opt: Opt, value: Any) -> str | None:
    kind = opt.type
    if kind in ("str", "id"):
        return None if isinstance(value, str) else "must be text"
    if kind == "enum":
        if value in opt.choices:
            return None
        return "must be one of " + ", ".join(repr(c) for c in opt.choices)
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "must be a whole number"
    if kind == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "must be a number"
    if kind == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "address":
        return _address_problem(value)
    if kind == "addresses":
        if not isinstance(value, list) or not value:
            return "must be a non-empty list of addresses"
        return next((p for p in map(_address_problem, value) if p is not None), None)
    if kind in ("strings", "ints"):
        item = str if kind == "strings" else int
        ok = isinstance(value, list) and all(
            isinstance(v, item) and not isinstance(v, bool) for v in value
        )
        return None if ok else f"must be a list of {'text' if item is str else 'whole numbers'}"
    if kind == "targets":
        ok = (
            isinstance(value, Mapping)
            and len(value) > 0
            and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        )
        return None if ok else "must map values to action ids"
    if kind == "actions":
        return None if isinstance(value, list) else "must be a list of actions"
    return None if isinstance(value, Mapping) else "must be an object"


_ADDRESS_TYPES: Final = (
    "tel", "sip", "email", "agent", "extension", "conference", "ai", "ai_team", "line",
    "webchat", "web_session", "whatsapp",
)  # fmt: skip


def _address_problem(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return "an address is an object with type and target"
    if value.get("type") not in _ADDRESS_TYPES:
        return "an address type must be one of " + ", ".join(_ADDRESS_TYPES)
    if not isinstance(value.get("target"), str):
        return "an address needs a target"
    return None


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a flow object: what editors and other tools use.

    It describes shapes and types only; `validate_flow` also checks ids, targets, media and
    bounds, which a schema cannot express.
    """
    address = {
        "type": "object",
        "properties": {"type": {"enum": list(_ADDRESS_TYPES)}, "target": {"type": "string"}},
        "required": ["type", "target"],
    }
    types: dict[str, Any] = {
        "str": {"type": "string"}, "id": {"type": "string"}, "int": {"type": "integer"},
        "float": {"type": "number"}, "bool": {"type": "boolean"}, "address": address,
        "addresses": {"type": "array", "items": address, "minItems": 1},
        "strings": {"type": "array", "items": {"type": "string"}},
        "ints": {"type": "array", "items": {"type": "integer"}},
        "targets": {"type": "object", "additionalProperties": {"type": "string"},
                    "minProperties": 1},
        "actions": {"type": "array"}, "object": {"type": "object"},
    }  # fmt: skip
    # validate_flow leaves a ${...} where a number, flag, list or object goes to run time.
    variable = {"type": "string", "pattern": r"\$\{"}
    variants = []
    for kind, spec in ACTIONS.items():
        properties: dict[str, Any] = {}
        required = []
        for name, opt in spec.options.items():
            shape = {"enum": list(opt.choices)} if opt.type == "enum" else types[opt.type]
            if opt.type not in ("str", "id", "enum"):
                shape = {"anyOf": [shape, variable]}
            for spelling in (name, *opt.aliases):
                properties[spelling] = shape
            if opt.required:
                required.append(name)  # an alias spelling satisfies it in validate_flow only
        option: dict[str, Any] = {
            "type": "object", "properties": properties, "additionalProperties": False,
        }  # fmt: skip
        if required:
            option["required"] = required
        elif kind in _AI_TYPES:  # a prompt or an AI configuration (MISSING_AI)
            spellings = [s for n in _AI_SOURCES for s in (n, *spec.options[n].aliases)]
            option["anyOf"] = [{"required": [s]} for s in spellings]
            required = spellings  # so the option itself is required below
        else:
            option["type"] = ["object", "null"]  # validate_flow reads null as no options
        variants.append({
            "type": "object",
            "properties": {
                "id": {"type": "string"}, "next_id": {"type": "string"}, "type": {"const": kind},
                "option": option, "tm_execute": {},
            },
            "required": ["type", *(["option"] if required else [])],
            "additionalProperties": False,
        })  # fmt: skip
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://cxmlflow.dev/schema/flow.json",
        "type": "object",
        "properties": {
            "type": {"enum": list(_FLOW_TYPES)},
            "name": {"type": "string"},
            "actions": {"type": "array", "items": {"oneOf": variants}},
        },
        "required": ["actions"],
    }
