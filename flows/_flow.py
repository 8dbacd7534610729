"""Flow definitions: a list of actions, each a type and its options, read and written back as given.

`load_flow` accepts a flow object (``{"actions": [...]}``), a bare list of actions, or their
JSON text; it refuses a flow `validate_flow` finds errors in (`FlowError` lists them all).
Options keep the spelling they were written in, so ``flow.to_dict()`` gives back what was
loaded (an ``"option": null`` too); `Action.get` reads an option under any of its spellings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from cxml import CxmlError, Issue
from cxml._data import DataError, load_data

from ._catalog import ACTIONS
from ._validate import data_issue, validate_flow

__all__ = ["Action", "Flow", "FlowError", "load_flow"]

_FIELDS = ("id", "next_id", "type", "option")


class FlowError(CxmlError):
    """A flow definition has errors; ``issues`` lists each with its JSON path and code."""

    code: int | str = "INVALID_FLOW"

    def __init__(self, issues: list[Issue]) -> None:
        shown = "\n".join(f"  {i.path}: {i.code} {i.message}" for i in issues)
        super().__init__(f"{len(issues)} error(s) in the flow:\n{shown}")
        self.issues = tuple(issues)


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def thawed(value: Any) -> Any:
    """A frozen value (read-only mappings, tuples) as plain dicts and lists again."""
    if isinstance(value, Mapping):
        return {k: thawed(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thawed(v) for v in value]
    return value


@attrs.frozen
class Action:
    """One step: ``type``, ``option`` (immutable), an ``id`` to jump to, a ``next_id``."""

    type: str
    #: None when the action was written without an ``option`` key at all.
    option: Mapping[str, Any] | None = attrs.field(default=None, converter=_frozen)
    id: str | None = None
    next_id: str | None = None
    #: Other keys the action was written with (``tm_execute``, ...), kept for the round trip;
    #: an action written with ``"option": null`` keeps that here (``option`` is then None).
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen)

    def get(self, name: str, default: Any = None) -> Any:
        """The option ``name`` (any of its spellings) under whichever spelling it was written.

        If it was written under two spellings, the first one written wins, as in `validate_flow`
        (which warns REPEATED_OPTION about the other).
        """
        option = self.option or {}
        spec = ACTIONS.get(self.type)
        found = spec.option(name) if spec is not None else None
        if found is None:
            return option.get(name, default)
        spellings = (found[0], *found[1].aliases)
        return next((v for k, v in option.items() if k in spellings), default)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.id is not None:
            out["id"] = self.id
        if self.next_id is not None:
            out["next_id"] = self.next_id
        out["type"] = self.type
        if self.option is not None or "option" in self.extra:
            out["option"] = thawed(self.option)  # in place, for a null kept in extra
        out.update(thawed(self.extra))
        return out


@attrs.frozen
class Flow:
    """A validated flow: its actions in order, and its other fields as given."""

    actions: tuple[Action, ...]
    #: The flow object's other fields (``type``, ``name``, ...), kept for the round trip.
    fields: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen)

    def action(self, action_id: str) -> Action | None:
        """The action with this ``id``, if any."""
        return next((a for a in self.actions if a.id == action_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {**thawed(self.fields), "actions": [a.to_dict() for a in self.actions]}


def parse_flow_data(data: object) -> object:
    """JSON text or bytes as data (through `cxml._data`: UTF-8, no duplicate keys, bounded
    depth and size); anything else as it is."""
    if isinstance(data, str | bytes | bytearray):
        try:
            return load_data(bytes(data) if isinstance(data, bytearray) else data, format="json")
        except DataError as exc:
            raise FlowError([data_issue(exc)]) from None
    return data


def load_flow(data: object, *, tools: Iterable[str] = ()) -> Flow:
    """A `Flow` from a flow object, a list of actions or their JSON; `FlowError` if invalid.

    Warnings (unreachable actions, variables never set, ...) do not stop loading:
    `validate_flow` reports them. JSON text or an option nested deeper than Python's stack is
    refused (INVALID_JSON, TOO_DEEP) rather than raising RecursionError. ``tools`` names the
    webhook functions an AI's ``tool_names`` may list besides the built-in tools.
    """
    data = parse_flow_data(data)
    errors = [i for i in validate_flow(data, tools=tools) if i.severity == "error"]
    if errors:
        raise FlowError(errors)
    body: Mapping[str, Any] = {"actions": data} if isinstance(data, list) else data  # type: ignore[assignment]
    actions = []
    prefix = "$" if isinstance(data, list) else "$.actions"
    for i, raw in enumerate(body["actions"]):
        # A null option stays in extra, so that to_dict writes it back as null.
        skip = ("id", "next_id", "type") if raw.get("option", {}) is None else _FIELDS
        extra = {k: v for k, v in raw.items() if k not in skip}
        try:
            action = Action(raw["type"], raw.get("option"), raw.get("id"), raw.get("next_id"),
                            extra)  # fmt: skip
        except RecursionError:  # freezing recurses once per level; validate_flow does not
            message = "nested too deeply to load"
            raise FlowError([Issue("TOO_DEEP", "error", message, f"{prefix}[{i}]")]) from None
        actions.append(action)
    return Flow(tuple(actions), {k: v for k, v in body.items() if k != "actions"})
