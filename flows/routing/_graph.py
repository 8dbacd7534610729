"""A PBX configuration as a graph: what each number, schedule, menu, group and agent leads to.

Every edge that names a resource comes from one configuration path, the same path
`Pbx.references` lists for it (``ivr_menus.main.options.1``). Marks say what the router will
do: an ``inactive`` resource, an ``unreachable`` one (no active DID and no live campaign leads
to it), an edge into an inactive resource ends the call with the ``unavailable`` message, a
ring-group or balancer member the router passes over is ``skipped``, and with ``at`` each
business-hours schedule is ``open`` or ``closed`` with the branch taken marked ``now``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

import attrs

from .._diagram import Graph, GraphEdge, GraphNode
from ._config import EXTENSION, KINDS, BusinessHours, Destination, Pbx
from ._hours import WEEKDAYS, TimeRange

__all__ = ["graph"]

#: Kinds whose inactive resource ends a call routed to it with the unavailable message (an
#: inactive business-hours schedule is always closed instead).
_UNAVAILABLE_WHEN_INACTIVE: Final = frozenset(
    {"ring_group", "ivr_menu", "ai_assistant", "ai_load_balancer", "conference"}
)
_SECTION_OF: Final = {kind.name: kind.section for kind in KINDS}
#: Campaign statuses that dial now or may later.
_LIVE_CAMPAIGN: Final = frozenset({"draft", "active", "paused"})


def graph(pbx: Pbx, at: dt.datetime | None = None) -> Graph:
    """The routing graph of ``pbx``; with ``at`` (aware), each business-hours schedule's state
    at that instant and the branch it takes.

    >>> from flows.routing import EXAMPLE_PBX, load_pbx
    >>> g = graph(load_pbx(EXAMPLE_PBX))
    >>> [(e.label, e.target) for e in g.edges_from("ivr_menu/main")][:2]
    [('press 1', 'ring_group/sales'), ('press 2', 'ai_load_balancer/agents')]
    >>> sorted(g.node("extension/1003").marks)
    ['inactive']
    """
    if at is not None and at.tzinfo is None:
        raise ValueError("at must be an aware datetime (with a time zone)")
    return _Builder(pbx, at).build()


class _Builder:
    def __init__(self, pbx: Pbx, at: dt.datetime | None) -> None:
        self.pbx = pbx
        self.at = at
        self.nodes: dict[str, GraphNode] = {}
        self.edges: list[GraphEdge] = []

    def build(self) -> Graph:
        pbx = self.pbx
        for number, did in pbx.dids.items():
            self.node(f"did/{number}", "did", number, [did.name], active=did.active)
            self.route(f"did/{number}", did.destination, "destination", "",
                       f"dids.{number}.destination")  # fmt: skip
        for ident, campaign in pbx.campaigns.items():
            detail = [campaign.status, f"caller id {campaign.caller_id}", campaign.name]
            live = campaign.status in _LIVE_CAMPAIGN  # completed and archived ones are over
            self.node(f"campaign/{ident}", "campaign", f"campaign {ident}", detail, active=live)
            self.route(f"campaign/{ident}", campaign.destination, "destination", "",
                       f"campaigns.{ident}.destination")  # fmt: skip
        for number in pbx.extensions:
            self.extension(number)
        for ident in pbx.ring_groups:
            self.ring_group(ident)
        for ident in pbx.ivr_menus:
            self.ivr_menu(ident)
        for ident in pbx.business_hours:
            self.business_hours(ident)
        for ident in pbx.ai_assistants:
            self.assistant(ident)
        for ident in pbx.ai_load_balancers:
            self.balancer(ident)
        for ident, room in pbx.conferences.items():
            detail = [room.name] if room.name != ident else []
            if room.max_participants is not None:
                detail.append(f"up to {room.max_participants}")
            self.node(f"conference/{ident}", "conference", f"conference {ident}", detail,
                      active=room.active)  # fmt: skip
        self.mark_unreachable()
        # Nodes first drawn as a target (hangup, outside numbers) go after the resources.
        order = {kind: i for i, kind in enumerate(_ORDER)}
        nodes = sorted(self.nodes.values(), key=lambda n: order.get(n.kind, len(order)))
        position = {node.id: i for i, node in enumerate(nodes)}
        return Graph(nodes, sorted(self.edges, key=lambda e: position[e.source]))

    # -- nodes and edges --

    def node(
        self, node_id: str, kind: str, label: str, detail: list[str], *, active: bool = True
    ) -> None:
        marks = set() if active else {"inactive"}
        self.nodes[node_id] = GraphNode(node_id, kind, label, [d for d in detail if d], marks)

    def mark(self, node_id: str, mark: str) -> None:
        node = self.nodes[node_id]
        self.nodes[node_id] = attrs.evolve(node, marks=node.marks | {mark})

    def target(self, target: Destination) -> str:
        """The node of a destination, made if it is the first edge to hangup."""
        if target.kind == "hangup":
            self.nodes.setdefault("hangup", GraphNode("hangup", "hangup", "hang up"))
        return str(target)

    def outside(self, number: str) -> str:
        """The node of a number or SIP URI outside the PBX."""
        kind = "sip" if number.startswith("sip:") else "number"
        node_id = f"{kind}/{number}"
        self.nodes.setdefault(node_id, GraphNode(node_id, kind, number))
        return node_id

    def route(
        self, source: str, target: Destination, kind: str, label: str, path: str, *,
        marks: frozenset[str] = frozenset(),
    ) -> None:  # fmt: skip
        """An edge along which the call is routed to ``target``."""
        if self.ends_unavailable(target):
            marks |= {"unavailable"}
        self.edges.append(GraphEdge(source, self.target(target), kind, label, path, marks))

    def ends_unavailable(self, target: Destination) -> bool:
        """Whether routing a call to ``target`` answers with the unavailable message."""
        if target.kind == "extension":
            return self.pbx.ringable(target.id) is None
        if target.kind not in _UNAVAILABLE_WHEN_INACTIVE:
            return False
        section: Mapping[str, Any] = getattr(self.pbx, _SECTION_OF[target.kind])
        return not section[target.id].active

    # -- resources --

    def extension(self, number: str) -> None:
        ext = self.pbx.extensions[number]
        label = f"ext {number}" + (f" {ext.name}" if ext.name else "")
        self.node(f"extension/{number}", "extension", label, [f"{ext.type}, {ext.timeout}s"],
                  active=ext.active)  # fmt: skip
        if ext.forward_to is None:
            return
        path = f"extensions.{number}.forward_to"
        if EXTENSION.match(ext.forward_to):
            self.route(f"extension/{number}", Destination("extension", ext.forward_to),
                       "forward", "forward", path)  # fmt: skip
        else:
            target = self.outside(ext.forward_to)
            self.edges.append(GraphEdge(f"extension/{number}", target, "forward", "forward", path))

    def ring_group(self, ident: str) -> None:
        group = self.pbx.ring_groups[ident]
        turns = "1 turn" if group.ring_turns == 1 else f"{group.ring_turns} turns"
        detail = [f"{group.strategy}, {group.timeout}s, {turns}", group.name]
        self.node(f"ring_group/{ident}", "ring_group", f"ring group {ident}", detail,
                  active=group.active)  # fmt: skip
        for i, number in enumerate(group.members):
            label = "ring" if group.strategy == "simultaneous" else str(i + 1)
            marks = frozenset() if self.pbx.ringable(number) else frozenset({"skipped"})
            self.edges.append(
                GraphEdge(f"ring_group/{ident}", f"extension/{number}", "member", label,
                          f"ring_groups.{ident}.members[{i}]", marks)
            )  # fmt: skip
        self.route(f"ring_group/{ident}", group.fallback, "fallback", "no answer",
                   f"ring_groups.{ident}.fallback")  # fmt: skip

    def ivr_menu(self, ident: str) -> None:
        menu = self.pbx.ivr_menus[ident]
        turns = "1 turn" if menu.max_turns == 1 else f"{menu.max_turns} turns"
        detail = [f"{menu.timeout}s, {turns}", menu.name]
        node = f"ivr_menu/{ident}"
        self.node(node, "ivr_menu", f"menu {ident}", detail, active=menu.active)
        for digits, target in menu.options.items():
            self.route(node, target, "option", f"press {digits}",
                       f"ivr_menus.{ident}.options.{digits}")  # fmt: skip
        if menu.max_turns > 1:
            self.edges.append(GraphEdge(node, node, "no_input", "no input or other key: again"))
        self.route(node, menu.failover, "failover", f"no choice after {turns}",
                   f"ivr_menus.{ident}.failover")  # fmt: skip

    def business_hours(self, ident: str) -> None:
        hours = self.pbx.business_hours[ident]
        node = f"business_hours/{ident}"
        detail = [hours.timezone, *_week(hours), hours.name]
        if hours.exceptions:
            count = len(hours.exceptions)
            detail.append(f"{count} exception{'s' if count > 1 else ''}")
        state: bool | None = None if self.at is None else hours.schedule.is_open(self.at)
        if state is not None and self.at is not None:
            local = hours.schedule.local(self.at)
            day = WEEKDAYS[local.weekday()][:3]
            detail.append(f"{day} {local:%Y-%m-%d %H:%M}: {'open' if state else 'closed'}")
        self.node(node, "business_hours", f"hours {ident}", detail, active=hours.active)
        if state is not None:
            self.mark(node, "open" if state else "closed")
        for branch, target in (("open", hours.open), ("closed", hours.closed)):
            now = frozenset({"now"}) if state is not None and state == (branch == "open") else None
            self.route(node, target, branch, branch, f"business_hours.{ident}.{branch}",
                       marks=now or frozenset())  # fmt: skip

    def assistant(self, ident: str) -> None:
        assistant = self.pbx.ai_assistants[ident]
        node = f"ai_assistant/{ident}"
        protocol = assistant.definition.protocol
        detail = [f"{assistant.provider}, {protocol}", assistant.description]
        self.node(node, "ai_assistant", f"AI {ident}", detail, active=assistant.active)
        routing = self.pbx.routing(ident)
        if routing.after.kind != "hangup":
            self.route(node, routing.after, "after", "after the stream",
                       f"ai_assistants.{ident}.after")  # fmt: skip
        for i, number in enumerate(routing.transfer_targets):
            path = f"ai_assistants.{ident}.transfer_targets[{i}]"
            target = self.outside(number)
            self.edges.append(GraphEdge(node, target, "transfer", "may transfer", path))

    def balancer(self, ident: str) -> None:
        balancer = self.pbx.ai_load_balancers[ident]
        node = f"ai_load_balancer/{ident}"
        detail = [balancer.strategy + (", follow-through" if balancer.follow_through else "")]
        self.node(node, "ai_load_balancer", f"AI balancer {ident}", [*detail, balancer.name],
                  active=balancer.active)  # fmt: skip
        # Strategy order: priority picks by priority (ties in listed order), the others walk
        # the list.
        members = list(enumerate(balancer.members))
        if balancer.strategy == "priority":
            members.sort(key=lambda item: item[1].priority)
        for rank, (i, member) in enumerate(members):
            if balancer.strategy == "priority":
                label = f"priority {member.priority}"
            elif balancer.strategy == "percentage":
                label = f"weight {member.weight}"
            else:
                label = str(rank + 1)
            skipped = not self.pbx.ai_assistants[member.assistant].active or (
                balancer.strategy == "percentage" and member.weight == 0
            )
            self.edges.append(
                GraphEdge(node, f"ai_assistant/{member.assistant}", "member", label,
                          f"ai_load_balancers.{ident}.members[{i}]",
                          frozenset({"skipped"}) if skipped else frozenset())
            )  # fmt: skip
        self.route(node, balancer.fallback, "fallback", "nobody took it",
                   f"ai_load_balancers.{ident}.fallback")  # fmt: skip

    # -- reachability --

    def mark_unreachable(self) -> None:
        """Mark the resources no active DID and no live campaign leads to. A call goes on
        from an active resource only; from an inactive schedule only to its closed branch."""
        starts = [f"did/{n}" for n, did in self.pbx.dids.items() if did.active]
        starts += [
            f"campaign/{i}" for i, c in self.pbx.campaigns.items() if c.status in _LIVE_CAMPAIGN
        ]
        onward: dict[str, list[str]] = {}
        for edge in self.edges:
            source = self.nodes[edge.source]
            if "inactive" not in source.marks or edge.kind == "closed":
                onward.setdefault(edge.source, []).append(edge.target)
        reached = set(starts)
        todo = list(starts)
        while todo:
            for target in onward.get(todo.pop(), ()):
                if target not in reached:
                    reached.add(target)
                    todo.append(target)
        for node_id, node in list(self.nodes.items()):
            if node.kind in _RESOURCE_KINDS and node_id not in reached:
                self.mark(node_id, "unreachable")


def _week(hours: BusinessHours) -> list[str]:
    """The weekly schedule in a few lines: days with the same ranges grouped (``mon-thu
    09:00-17:00``)."""
    lines: list[str] = []
    run: list[str] = []
    shown: tuple[TimeRange, ...] | None = None

    def close() -> None:
        if run and shown:
            days = run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}"
            lines.append(f"{days} {', '.join(str(r) for r in shown)}")

    for day in WEEKDAYS:
        ranges = tuple(hours.weekly.get(day, ()))
        if ranges != shown:
            close()
            run, shown = [], ranges
        run.append(day[:3])
    close()
    return lines or ["always closed"]


_RESOURCE_KINDS: Final = frozenset(
    {"extension", "ring_group", "ivr_menu", "business_hours", "ai_assistant",
     "ai_load_balancer", "conference"}
)  # fmt: skip
#: Drawing order by kind: where calls come in, then the resources, then where they end.
_ORDER: Final = (
    "did", "campaign", "business_hours", "ivr_menu", "ring_group", "ai_load_balancer",
    "ai_assistant", "extension", "conference", "number", "sip", "hangup",
)  # fmt: skip
