"""A flow as a graph: its actions in order and where each one goes next.

Edges follow the interpreter (`flows.run`): the next action in the list (or ``next_id``);
a goto's jump, labelled with its loop count, and where it goes once the count is spent; a
branch's targets by value and its default (with no default, a value it does not know ends
the run as failed, as in VoIPBIN); a condition's ``true`` (the next action) and ``false``
branches; the sub-flows ``fetch`` and ``fetch_flow`` run before going on, and the flows a
``call`` or an ``on_end_flow_id`` starts; the end after stop, hangup and block (with a
block's or a hangup's ``next_id`` too, which a continued or call-less run follows). A
target written as
``${...}`` (known at run time) gets a node of its own. Actions a `validate_flow` issue points
at are marked with its severity and code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from cxml import Issue

from ._diagram import Graph, GraphEdge, GraphNode
from ._flow import Action, Flow, load_flow
from ._validate import validate_flow

__all__ = ["graph"]

#: Types after which the run ends.
_ENDS: Final = frozenset({"stop", "hangup", "block"})
#: Options naming another flow the action starts (by id).
_FLOW_OPTIONS: Final = ("flow_id", "on_end_flow_id")
#: What a node shows of an action besides its type: (option, how to show it).
_SHOWN: Final = {
    "talk": "text",
    "play": "stream_urls",
    "variable_set": "key",
    "condition_variable": "variable",
    "condition_call_status": "status",
    "branch": "variable",
    "webhook_send": "uri",
    "ai_talk": "engine_model",
    "ai": "engine_model",
    "queue_join": "queue_id",
    "conference_join": "conference_id",
}
_ACTION_PATH: Final = re.compile(r"\$(?:\.actions)?\[([0-9]+)\]")


def graph(flow: Flow | object, *, issues: Iterable[Issue] | None = None) -> Graph:
    """The graph of ``flow`` (a `Flow`, or what `load_flow` reads; `FlowError` if it has
    errors). ``issues`` are those to mark (default: `validate_flow`'s warnings for it).

    >>> g = graph({"actions": [
    ...     {"id": "ask", "type": "talk", "option": {"text": "Press 1"}},
    ...     {"type": "goto", "option": {"target_id": "ask", "loop_count": 2}},
    ...     {"type": "hangup"}]})
    >>> for edge in g.edges:
    ...     print(f"{edge.source} -> {edge.target} {edge.label}".rstrip())
    action/0 -> action/1
    action/1 -> action/0 goto x2
    action/1 -> action/2 after 2
    action/2 -> end hangup
    """
    if not isinstance(flow, Flow):
        flow = load_flow(flow)
    if issues is None:
        issues = validate_flow(flow.to_dict())
    return _Builder(flow, list(issues)).build()


class _Builder:
    def __init__(self, flow: Flow, issues: list[Issue]) -> None:
        self.flow = flow
        self.issues = issues
        self.nodes: dict[str, GraphNode] = {}
        self.edges: list[GraphEdge] = []
        self.ids = {a.id: i for i, a in enumerate(flow.actions) if a.id is not None}

    def build(self) -> Graph:
        found: dict[int, list[Issue]] = {}
        for issue in self.issues:
            match = _ACTION_PATH.match(issue.path)
            if match is not None:
                found.setdefault(int(match.group(1)), []).append(issue)
        for i, action in enumerate(self.flow.actions):
            self.action(i, action, found.get(i, []))
        for i, action in enumerate(self.flow.actions):
            self.onward(i, action)
        # The actions in order, then the end, then the sub-flows.
        nodes = list(self.nodes.values())
        nodes.sort(key=lambda n: (not n.id.startswith("action/"), n.id != "end"))
        return Graph(nodes, self.edges)

    def action(self, i: int, action: Action, issues: list[Issue]) -> None:
        kind = "condition" if action.type.startswith("condition_") else action.type
        kind = kind if kind in ("branch", "condition") else "action"
        detail = [f"id {action.id}"] if action.id is not None else []
        shown = _SHOWN.get(action.type)
        value = action.get(shown) if shown is not None else None
        if value is not None:
            detail.append(_show(value))
        detail += [f"{issue.severity} {issue.code}" for issue in issues]
        marks: set[str] = {i.severity for i in issues if i.severity in ("error", "warning")}
        if any(issue.code == "UNREACHABLE_ACTION" for issue in issues):
            marks.add("unreachable")
        self.nodes[f"action/{i}"] = GraphNode(
            f"action/{i}", kind, f"{i}: {action.type}", detail, marks
        )

    def end(self) -> str:
        self.nodes.setdefault("end", GraphNode("end", "end", "end"))
        return "end"

    def external(self, kind: str, name: str, label: str) -> str:
        node_id = f"{kind}/{name}"
        self.nodes.setdefault(node_id, GraphNode(node_id, kind, label))
        return node_id

    def to(self, target: object) -> str | None:
        """The node of an action id, or of a ``${...}`` target (known at run time); None
        when there is no target."""
        if isinstance(target, str) and target in self.ids:
            return f"action/{self.ids[target]}"
        if isinstance(target, str) and "${" in target:
            return self.external("variable", target, f"{target} (at run time)")
        return None

    def after(self, i: int, action: Action) -> str:
        """Where the run goes when ``action`` does not jump."""
        if action.next_id is not None:
            found = self.to(action.next_id)
            if found is not None:
                return found
        return f"action/{i + 1}" if i + 1 < len(self.flow.actions) else self.end()

    def edge(self, i: int, target: str | None, kind: str, label: str = "", path: str = "") -> None:
        if target is not None:
            where = f"$.actions[{i}]{path}" if path else ""
            self.edges.append(GraphEdge(f"action/{i}", target, kind, label, where))

    def onward(self, i: int, action: Action) -> None:
        kind = action.type
        if kind in _ENDS:
            self.edge(i, self.end(), "end", kind)
            # A block goes on when the run is continued; a hangup is skipped in a run without
            # a call. Both then follow their next_id (as validate_flow reads them).
            if kind != "stop" and action.next_id is not None:
                label = "when continued" if kind == "block" else "next_id"
                self.edge(i, self.to(action.next_id), "next", label)
            return
        for name in _FLOW_OPTIONS:
            flow_id = action.get(name)
            if isinstance(flow_id, str):
                node = self.external("flow", flow_id, f"flow {flow_id}")
                label = "fetch" if kind == "fetch_flow" else name.replace("_", " ")
                self.edge(i, node, "fetch", label, f".option.{name}")
        if kind == "fetch":
            url = str(action.get("event_url"))
            self.edge(i, self.external("url", url, f"fetch {url}"), "fetch", "fetch",
                      ".option.event_url")  # fmt: skip
        if kind == "goto":
            count = action.get("loop_count")
            self.edge(i, self.to(action.get("target_id")), "goto", f"goto x{count}",
                      ".option.target_id")  # fmt: skip
            self.edge(i, self.after(i, action), "next", f"after {count}")
            return
        if kind == "branch":
            targets = action.get("target_ids") or {}
            for value, target in targets.items():
                self.edge(i, self.to(target), "branch", f"= {value}",
                          f".option.target_ids.{value}")  # fmt: skip
            default = self.to(action.get("default_target_id"))
            if default is not None:
                self.edge(i, default, "branch", "default", ".option.default_target_id")
            else:  # VoIPBIN finds no action for the empty default id: the run fails
                self.edge(i, self.end(), "end", "no match: fails", ".option.target_ids")
            return
        if kind.startswith("condition_"):
            self.edge(i, self.after(i, action), "next", "true")
            self.edge(i, self.to(action.get("false_target_id")), "condition", "false",
                      ".option.false_target_id")  # fmt: skip
            return
        self.edge(i, self.after(i, action), "next", "then" if kind.startswith("fetch") else "")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    return str(value)
