"""Graphs of PBX configurations and flows, and simulated calls as sequence diagrams.

The Mermaid checks parse the output with a grammar of the subset the diagrams use (written
here from Mermaid's flowchart and sequence-diagram syntax), and decode every label back to
the text it was made from; the DOT checks run Graphviz itself.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import re
import shutil
import subprocess
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxml
from flows import (
    Caller,
    Graph,
    GraphEdge,
    GraphNode,
    RunResult,
    graph,
    load_flow,
    run,
    sequence_diagram,
    to_dot,
    to_mermaid,
    validate_flow,
)
from flows._diagram import _edge_text, _line, _node_lines
from flows.cli import main
from flows.routing import EXAMPLE_PBX, Router, load_pbx
from flows.routing import graph as pbx_graph
from flows.strategies import flows, pbx_configs
from providers import Function, HttpPolicy, ScriptedEngine
from tests.ci import running_in_ci
from tests.loopback import webhooks

ROOT = Path(__file__).parent.parent
EXAMPLE = yaml.safe_load(EXAMPLE_PBX.read_text())
SECTIONS = {
    "extension": "extensions", "ring_group": "ring_groups", "ivr_menu": "ivr_menus",
    "business_hours": "business_hours", "ai_assistant": "ai_assistants",
    "ai_load_balancer": "ai_load_balancers", "conference": "conferences",
}  # fmt: skip
#: CI installs Graphviz: there a missing ``dot`` fails these tests instead of skipping them.
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None and not running_in_ci(),
    reason="Graphviz is not installed (apt-get install graphviz)",
)


# --- a grammar of the Mermaid subset the diagrams use ---------------------------------------

#: Text inside a quoted label: no quote or line break; ``#`` only opening an entity code,
#: ``<`` only as a line break.
_QUOTED = r'(?:[^"\n#<]|#[0-9]+;|#[a-z]+;|<br>)*'
#: A sequence message: as above, and no ``;`` (it ends a statement there).
_MESSAGE = r"(?:[^\n#<;]|#[0-9]+;|<br>)+"
_SHAPES = [("([", "])"), ("{{", "}}"), ("{", "}"), ("[[", "]]"), ("((", "))"), (">", "]"),
           ("[(", ")]"), ("[", "]")]  # fmt: skip
_NODE = re.compile(
    r"    (n[0-9]+)(?:"
    + "|".join(f'{re.escape(a)}"({_QUOTED})"{re.escape(b)}' for a, b in _SHAPES)
    + r")\Z"
)
_EDGE = re.compile(rf'    (n[0-9]+) (-->|-\.->)(?:\|"({_QUOTED})"\|)? (n[0-9]+)\Z')
_CSS = r"[a-z-]+:[#a-z0-9. ]+(?:,[a-z-]+:[#a-z0-9. ]+)*"
_CLASSDEF = re.compile(rf"    classDef ([a-z]+) {_CSS}\Z")
_CLASS = re.compile(r"    class (n[0-9]+(?:,n[0-9]+)*) ([a-z]+)\Z")
_LINKSTYLE = re.compile(rf"    linkStyle ([0-9]+(?:,[0-9]+)*) {_CSS}\Z")


def _decode(text: str) -> list[str]:
    """A label's lines, entity codes decoded."""
    return [
        re.sub(r"#([0-9]+);", lambda m: chr(int(m.group(1))), line) for line in text.split("<br>")
    ]


def parse_flowchart(text: str) -> tuple[dict[str, list[str]], list[tuple[str, str, str]]]:
    """Check ``text`` is a flowchart of the subset; return its labels by node and its edges
    (source, target, label)."""
    lines = text.split("\n")
    assert lines[0] in ("flowchart LR", "flowchart TD")
    assert lines[-1] == "", "ends with a newline"
    nodes: dict[str, list[str]] = {}
    edges: list[tuple[str, str, str]] = []
    classes: set[str] = set()
    styled: set[int] = set()
    for line in lines[1:-1]:
        if (m := _NODE.match(line)) is not None:
            assert m.group(1) not in nodes, f"node defined twice: {line}"
            assert not edges, "nodes come before edges"
            label = next(g for g in m.groups()[1:] if g is not None)
            nodes[m.group(1)] = _decode(label)
        elif (m := _EDGE.match(line)) is not None:
            source, _, label, target = m.groups()
            assert source in nodes, line
            assert target in nodes, line
            edges.append((source, target, _decode(label)[0] if label is not None else ""))
        elif (m := _CLASSDEF.match(line)) is not None:
            classes.add(m.group(1))
        elif (m := _CLASS.match(line)) is not None:
            assert m.group(2) in classes, line
            assert set(m.group(1).split(",")) <= set(nodes), line
        elif (m := _LINKSTYLE.match(line)) is not None:
            numbers = {int(n) for n in m.group(1).split(",")}
            assert max(numbers) < len(edges), line
            assert not numbers & styled, line
            styled |= numbers
        else:
            raise AssertionError(f"not flowchart syntax: {line!r}")
    return nodes, edges


_PARTICIPANT = re.compile(r"    participant ([A-Z]) as ([A-Za-z ]+)\Z")
_ARROW = re.compile(rf"    ([A-Z])(->>|-->>)([A-Z]): ({_MESSAGE})\Z")
_NOTE = re.compile(rf"    Note over ([A-Z])(?:,([A-Z]))?: ({_MESSAGE})\Z")


def parse_sequence(text: str) -> list[tuple[str, str, str]]:
    """Check ``text`` is a sequence diagram of the subset; return (from, to, text) of each
    message and note (a note's ``to`` is ``note``)."""
    lines = text.split("\n")
    assert lines[0] == "sequenceDiagram"
    assert lines[-1] == ""
    participants: set[str] = set()
    said: list[tuple[str, str, str]] = []
    for line in lines[1:-1]:
        if (m := _PARTICIPANT.match(line)) is not None:
            assert not said, "participants come first"
            participants.add(m.group(1))
        elif (m := _ARROW.match(line)) is not None:
            assert {m.group(1), m.group(3)} <= participants, line
            said.append((m.group(1), m.group(3), _decode(m.group(4))[0]))
        elif (m := _NOTE.match(line)) is not None:
            assert {m.group(1), m.group(2) or m.group(1)} <= participants, line
            said.append((m.group(1), "note", _decode(m.group(3))[0]))
        else:
            raise AssertionError(f"not sequence-diagram syntax: {line!r}")
    return said


def check_mermaid(drawn: Graph) -> None:
    """The flowchart parses, and every label and edge reads back as the graph has it."""
    nodes, edges = parse_flowchart(to_mermaid(drawn))
    assert list(nodes.values()) == [_node_lines(n) for n in drawn.nodes]
    index = {node.id: f"n{i}" for i, node in enumerate(drawn.nodes)}
    assert edges == [(index[e.source], index[e.target], _edge_text(e)) for e in drawn.edges]


def check_dot(drawn: Graph) -> None:
    """Graphviz reads the DOT, with every node, edge and label as the graph has them."""
    done = subprocess.run(
        ["dot", "-Tjson"], input=to_dot(drawn).encode(), capture_output=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert not done.stderr, done.stderr.decode()  # no warnings either
    read = json.loads(done.stdout)

    def unescape(value: str) -> str:  # an escString: \n a line break, \x the character x
        return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)

    labels = [unescape(o["label"]) for o in read.get("objects", [])]
    assert labels == ["\n".join(_node_lines(n)) for n in drawn.nodes]
    index = {node.id: i for i, node in enumerate(drawn.nodes)}
    got = [(e["tail"], e["head"], unescape(e.get("label", ""))) for e in read.get("edges", [])]
    # Graphviz lists edges grouped by node, not in the order given.
    assert sorted(got) == sorted(
        (index[e.source], index[e.target], _edge_text(e)) for e in drawn.edges
    )


# --- the PBX graph ------------------------------------------------------------------------


def _resources(pbx: Any) -> list[tuple[str, str]]:
    return [(kind, ident) for kind, section in SECTIONS.items() for ident in getattr(pbx, section)]


def check_references(config: dict[str, Any]) -> Graph:
    """The graph has a node for every DID, campaign and resource, and its edges into each
    resource are exactly the places `Pbx.references` lists for it."""
    pbx = load_pbx(config)
    drawn = pbx_graph(pbx)
    ids = {node.id for node in drawn.nodes}
    expected = {f"did/{n}" for n in pbx.dids} | {f"campaign/{c}" for c in pbx.campaigns}
    expected |= {f"{kind}/{ident}" for kind, ident in _resources(pbx)}
    assert expected <= ids
    extra = ids - expected
    assert all(i == "hangup" or i.startswith(("number/", "sip/")) for i in extra), extra
    for kind, ident in _resources(pbx):
        into = {e.path for e in drawn.edges_to(f"{kind}/{ident}") if e.path}
        assert into == set(pbx.references(kind, ident)), (kind, ident)
    return drawn


def test_example_graph_is_what_its_yaml_says() -> None:
    drawn = check_references(EXAMPLE)
    assert [n.id for n in drawn.nodes] == [
        "did/+14155550100", "did/+14155550199", "campaign/reminders", "business_hours/main",
        "ivr_menu/main", "ring_group/sales", "ai_load_balancer/agents",
        "ai_assistant/receptionist", "ai_assistant/support", "ai_assistant/after_hours",
        "extension/1001", "extension/1002", "extension/1003", "extension/1000",
        "number/+12125550000", "hangup",
    ]  # fmt: skip
    # The edges no reference lists: a menu's replay, a forward outside, a fallback to hangup.
    unlisted = {(e.source, e.target, e.kind, e.label) for e in drawn.edges if not e.path} | {
        (e.source, e.target, e.kind, e.label)
        for e in drawn.edges
        if e.target in ("hangup", "number/+12125550000")
    }
    assert unlisted == {
        ("ivr_menu/main", "ivr_menu/main", "no_input", "no input or other key: again"),
        ("extension/1000", "number/+12125550000", "forward", "forward"),
        ("ai_load_balancer/agents", "hangup", "fallback", "nobody took it"),
    }
    assert len(drawn.edges) == 18
    menu = [(e.label, e.target) for e in drawn.edges_from("ivr_menu/main")]
    assert menu == [
        ("press 1", "ring_group/sales"), ("press 2", "ai_load_balancer/agents"),
        ("press 0", "extension/1000"), ("no input or other key: again", "ivr_menu/main"),
        ("no choice after 3 turns", "ai_assistant/receptionist"),
    ]  # fmt: skip
    sales = [(e.label, e.target, sorted(e.marks)) for e in drawn.edges_from("ring_group/sales")]
    assert sales == [
        ("1", "extension/1001", []), ("2", "extension/1002", []),
        ("3", "extension/1003", ["skipped"]),  # Carol is inactive: the group passes her over
        ("no answer", "ai_assistant/receptionist", []),
    ]  # fmt: skip
    assert drawn.node("ai_assistant/after_hours").detail == ("deepdub, websocket",)
    assert {n.id for n in drawn.nodes if n.marks} == {"extension/1003"}


def test_a_graph_is_data_a_backend_can_send() -> None:
    drawn = pbx_graph(load_pbx(EXAMPLE_PBX))
    data = json.loads(json.dumps(drawn.to_dict()))
    nodes = [GraphNode(n["id"], n["kind"], n["label"], n["detail"], n["marks"])
             for n in data["nodes"]]  # fmt: skip
    edges = [GraphEdge(e["source"], e["target"], e["kind"], e["label"], e["path"], e["marks"])
             for e in data["edges"]]  # fmt: skip
    assert Graph(nodes, edges) == drawn
    with pytest.raises(ValueError, match="unknown marks"):
        GraphNode("x", "did", "x", marks={"hidden"})
    with pytest.raises(ValueError, match="not in the graph"):
        Graph(nodes, [*edges, GraphEdge("did/+14155550100", "ring_group/nope", "destination")])
    with pytest.raises(ValueError, match="unique"):
        Graph([*nodes, nodes[0]], edges)


def test_unreachable_inactive_and_unavailable_are_marked() -> None:
    config = copy.deepcopy(EXAMPLE)
    config["ivr_menus"]["main"]["status"] = "inactive"
    config["ring_groups"]["spare"] = {"members": ["1001"]}
    config["dids"]["+14155550188"] = {"destination": "ring_group/spare", "status": "inactive"}
    config["ai_assistants"]["support"]["status"] = "inactive"
    config["ai_assistants"]["old_bot"] = {
        "provider": "retell",
        "config": {"phone_number": "+14155553333"},
    }
    config["campaigns"]["done"] = {**config["campaigns"]["reminders"], "status": "completed",
                                   "destination": "ai_assistant/old_bot"}  # fmt: skip
    drawn = check_references(config)
    marks = {n.id: sorted(n.marks) for n in drawn.nodes if n.marks}
    assert marks == {
        "ivr_menu/main": ["inactive"],  # reached through business hours, goes no further
        "ring_group/sales": ["unreachable"],  # only the inactive menu led here
        "ring_group/spare": ["unreachable"],  # only an inactive DID points at it
        "extension/1000": ["unreachable"],
        "extension/1001": ["unreachable"],
        "extension/1002": ["unreachable"],
        "extension/1003": ["inactive", "unreachable"],
        "ai_assistant/support": ["inactive"],
        "did/+14155550188": ["inactive"],
        "campaign/done": ["inactive"],  # completed: it no longer dials
        "ai_assistant/old_bot": ["unreachable"],  # only the completed campaign led here
    }
    hours = {e.label: sorted(e.marks) for e in drawn.edges_from("business_hours/main")}
    assert hours == {"open": ["unavailable"], "closed": []}
    agents = {e.target: sorted(e.marks) for e in drawn.edges_from("ai_load_balancer/agents")}
    assert agents == {"ai_assistant/receptionist": [], "ai_assistant/support": ["skipped"],
                      "hangup": []}  # fmt: skip
    mermaid = to_mermaid(drawn)
    assert "(unreachable)" in "\n".join(line for n in parse_flowchart(mermaid)[0].values()
                                        for line in n)  # fmt: skip
    assert "linkStyle" in mermaid
    assert "classDef unreachable" in mermaid


def test_an_extension_forwarding_to_an_inactive_one_ends_unavailable() -> None:
    config = copy.deepcopy(EXAMPLE)
    config["extensions"]["1004"] = {"type": "forward", "forward_to": "1003"}
    config["ivr_menus"]["main"]["options"]["4"] = "extension/1004"
    drawn = check_references(config)
    edge = next(e for e in drawn.edges_from("ivr_menu/main") if e.label == "press 4")
    assert edge.marks == {"unavailable"}


@pytest.mark.parametrize(
    ("at", "state", "taken"),
    [
        (dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC), "open", "open"),  # Monday 10:00 NY
        (dt.datetime(2026, 11, 23, 23, 0, tzinfo=dt.UTC), "closed", "closed"),
        (dt.datetime(2026, 12, 25, 15, 0, tzinfo=dt.UTC), "closed", "closed"),  # an exception
    ],
)
def test_business_hours_state_at_an_instant(at: dt.datetime, state: str, taken: str) -> None:
    drawn = pbx_graph(load_pbx(EXAMPLE_PBX), at)
    hours = drawn.node("business_hours/main")
    assert hours.marks == {state}
    assert hours.detail[-1].endswith(f": {state}")
    now = [e.label for e in drawn.edges_from("business_hours/main") if "now" in e.marks]
    assert now == [taken]
    with pytest.raises(ValueError, match="aware"):
        pbx_graph(load_pbx(EXAMPLE_PBX), dt.datetime(2026, 11, 23, 15, 0))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pbx_configs())
def test_every_generated_pbx_graph_matches_references_and_parses(config: dict[str, Any]) -> None:
    drawn = check_references(config)
    check_mermaid(drawn)


# Names from anyone's configuration: quotes, brackets, arrows, entity codes, line breaks,
# Mermaid and DOT directives.
_HOSTILE = st.lists(
    st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from(
        ['"', "]", "[", "-->", "#", "#35;", ";", "<br>", "<script>", "\n", "\\", "\\n", "}",
         "%%", "click", "end", "|", "`", "&amp;", "\ud800"]
    ),
    max_size=8,
).map("".join)  # fmt: skip


@needs_dot
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(group=_HOSTILE.filter(lambda t: "/" not in t and t != ""), name=_HOSTILE)
def test_hostile_names_stay_labels(group: str, name: str) -> None:
    config = copy.deepcopy(EXAMPLE)
    config["ring_groups"][group] = {"members": ["1001"], "name": name}
    config["extensions"]["1001"]["name"] = name
    config["ivr_menus"]["main"]["options"]["5"] = f"ring_group/{group}"
    drawn = check_references(config)
    check_mermaid(drawn)
    check_dot(drawn)


@needs_dot
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pbx_configs())
def test_graphviz_reads_every_generated_pbx(config: dict[str, Any]) -> None:
    check_dot(pbx_graph(load_pbx(config)))


@needs_dot
def test_graphviz_reads_the_example_at_an_instant() -> None:
    check_dot(pbx_graph(load_pbx(EXAMPLE_PBX), dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)))


# --- the flow graph -----------------------------------------------------------------------

FLOW = {
    "actions": [
        {"type": "answer"},
        {"id": "menu", "type": "talk", "option": {"text": 'Press 1 for "sales"; 2 to repeat'}},
        {"type": "digits_receive", "option": {"duration": 5000, "length": 1}},
        {"type": "branch", "option": {"target_ids": {"1": "sales", "2": "again"}}},
        {"id": "again", "type": "goto", "option": {"target_id": "menu", "loop_count": 3}},
        {"type": "hangup"},
        {"id": "sales", "type": "fetch_flow", "option": {"flow_id": "sales-flow"}},
        {
            "type": "condition_call_status",
            "option": {"status": "hangup", "false_target_id": "menu"},
        },
        {"type": "talk", "option": {"text": "never said"}, "next_id": "menu"},
    ]
}


def test_a_flow_graph_follows_the_interpreter() -> None:
    drawn = graph(FLOW)
    assert [(e.source, e.target, e.label) for e in drawn.edges] == [
        ("action/0", "action/1", ""),
        ("action/1", "action/2", ""),
        ("action/2", "action/3", ""),
        ("action/3", "action/6", "= 1"),
        ("action/3", "action/4", "= 2"),
        ("action/3", "end", "no match: fails"),  # no default: VoIPBIN stops the run
        ("action/4", "action/1", "goto x3"),
        ("action/4", "action/5", "after 3"),
        ("action/5", "end", "hangup"),
        ("action/6", "flow/sales-flow", "fetch"),
        ("action/6", "action/7", "then"),
        ("action/7", "action/8", "true"),
        ("action/7", "action/1", "false"),
        ("action/8", "action/1", ""),  # its next_id
    ]
    assert drawn.node("action/3").kind == "branch"
    assert drawn.node("action/1").detail == ("id menu", 'Press 1 for "sales"; 2 to repeat')
    # The action after the branch runs (2 jumps to it), but a value besides 1 and 2 fails.
    assert [(n.id, sorted(n.marks)) for n in drawn.nodes if n.marks] == [("action/3", ["warning"])]
    assert drawn.node("action/3").detail[-1] == "warning BRANCH_WITHOUT_DEFAULT"
    check_mermaid(drawn)


def test_a_target_known_at_run_time_is_drawn_as_such() -> None:
    flow = {"actions": [
        {"type": "variable_set", "option": {"key": "next", "value": "x"}},
        {"type": "goto", "option": {"target_id": "${next}", "loop_count": 1}},
    ]}  # fmt: skip
    drawn = graph(flow)
    jump = next(e for e in drawn.edges if e.kind == "goto")
    assert (jump.target, jump.path) == ("variable/${next}", "$.actions[1].option.target_id")
    assert drawn.node("variable/${next}").label == "${next} (at run time)"
    check_mermaid(drawn)


def test_actions_an_issue_points_at_are_marked() -> None:
    flow = {"actions": [{"type": "stop"}, {"type": "talk", "option": {"text": "${nobody}"}}]}
    drawn = graph(flow)
    node = drawn.node("action/1")
    assert node.marks == {"warning", "unreachable"}
    assert node.detail == ("${nobody}", "warning UNSET_VARIABLE", "warning UNREACHABLE_ACTION")
    assert not drawn.edges_to("action/1")
    assert parse_flowchart(to_mermaid(drawn))[0]["n1"][-1] == "(warning)"


def _index(path: str) -> int:
    found = re.match(r"\$\.actions\[([0-9]+)\]", path)
    assert found is not None, path
    return int(found.group(1))


def _reachable(drawn: Graph) -> set[str]:
    seen = {"action/0"}
    todo = ["action/0"]
    while todo:
        for edge in drawn.edges_from(todo.pop()):
            if edge.target not in seen:
                seen.add(edge.target)
                todo.append(edge.target)
    return seen


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flows())
def test_every_generated_flow_graph_parses_and_has_each_jump(flow: dict[str, Any]) -> None:
    drawn = graph(flow)
    loaded = load_flow(flow)
    ids = {a.id: i for i, a in enumerate(loaded.actions) if a.id is not None}
    assert [n.id for n in drawn.nodes[: len(loaded.actions)]] == [
        f"action/{i}" for i in range(len(loaded.actions))
    ]
    # Every target the flow names is an edge from its option's path.
    paths = {(e.path, e.target) for e in drawn.edges}
    for i, action in enumerate(loaded.actions):
        for key, value in (action.option or {}).items():
            if key in ("target_id", "false_target_id", "default_target_id"):
                assert (f"$.actions[{i}].option.{key}", f"action/{ids[value]}") in paths
            if key == "target_ids":
                for k, target in value.items():
                    where = f"$.actions[{i}].option.target_ids.{k}"
                    assert (where, f"action/{ids[target]}") in paths

    # What the validator calls unreachable is marked so; what it calls reachable, the graph
    # reaches, and nothing more, but through a stop's next_id (the validator follows it; a
    # run never does).
    def unreachable(data: dict[str, Any]) -> set[str]:
        return {
            f"action/{_index(issue.path)}"
            for issue in validate_flow(data)
            if issue.code == "UNREACHABLE_ACTION"
        }

    assert {n.id for n in drawn.nodes if "unreachable" in n.marks} == unreachable(flow)
    stopped = {"actions": [{k: v for k, v in a.items() if k != "next_id" or a["type"] != "stop"}
                           for a in flow["actions"]]}  # fmt: skip
    actions = {f"action/{i}" for i in range(len(loaded.actions))}
    assert actions - unreachable(stopped) == _reachable(drawn) & actions
    check_mermaid(drawn)


@needs_dot
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flows())
def test_graphviz_reads_every_generated_flow(flow: dict[str, Any]) -> None:
    check_dot(graph(flow))


# --- simulated calls as sequence diagrams ---------------------------------------------------


def _simulate(config: Any, to: str, scenario: dict[str, Any], at: dt.datetime) -> cxml.CallTrace:
    router = Router(load_pbx(config), base_url="https://pbx.example.com/voice",
                    secret="s" * 32, clock=lambda: at)  # fmt: skip
    body = {"CallSid": "CA1", "From": "+12125551234", "To": to, "Direction": "inbound"}
    return cxml.interpret(router.handle, body, scenario)


def test_a_simulated_call_as_a_sequence_diagram() -> None:
    trace = _simulate(EXAMPLE_PBX, "+14155550100",
                      {"gather": ["1"], "dial": {"targets": {"1002": "completed"}}},
                      dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC))  # fmt: skip
    said = parse_sequence(sequence_diagram(trace))
    assert said[0] == ("C", "P", "calls +14155550100 from +12125551234")
    assert said[1:3] == [("P", "A", "POST first request"), ("A", "P", "Gather")]
    assert said[3][:2] == ("P", "C")
    assert said[3][2].startswith('say "Welcome to Example Corp.')
    assert ("C", "P", "presses 1") in said
    assert ("P", "A", "POST https://pbx.example.com/voice Digits=1") in said
    dials = [text for who, kind, text in said if kind == "note" and text.startswith("dial")]
    assert dials[-1].endswith(": completed 30s") or "completed" in dials[-1]
    assert said[-1] == ("C", "note", "end: hangup")
    assert not any("cxmlflow=" in text for _, _, text in said)  # no signed state


def test_a_stream_goes_through_the_media_stream_to_the_engine() -> None:
    trace = _simulate(EXAMPLE_PBX, "+14155550100", {},
                      dt.datetime(2026, 11, 23, 23, 0, tzinfo=dt.UTC))  # fmt: skip
    said = parse_sequence(sequence_diagram(trace))
    stream = [(a, b) for a, b, _ in said if "S" in (a, b) or "E" in (a, b)]
    assert stream == [("P", "S"), ("S", "E"), ("E", "S"), ("S", "P")]
    connect = next(text for a, b, text in said if (a, b) == ("P", "S"))
    # The stream URL's path holds the provider's token: only the host is drawn.
    assert connect == "connect wss://bot.deepdub.dev"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pbx_configs(), st.lists(st.sampled_from(["1", "2", "9", "42", ""]), max_size=3))
def test_every_generated_pbx_call_draws(config: dict[str, Any], keys: list[str]) -> None:
    to = next(iter(config["dids"]))
    trace = _simulate(config, to, {"gather": keys},
                      dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC))  # fmt: skip
    said = parse_sequence(sequence_diagram(trace))
    requests = [text for who, to_, text in said if (who, to_) == ("P", "A")]
    assert len(requests) == len(trace.requests)
    assert said[-1][2].startswith("end: ")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_HOSTILE)
def test_hostile_prompts_stay_messages(text: str) -> None:
    config = copy.deepcopy(EXAMPLE)
    config["ivr_menus"]["main"]["prompt"] = {"say": text or "x"}
    trace = _simulate(config, "+14155550100", {"gather": ["9", "*"]},
                      dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC))  # fmt: skip
    said = parse_sequence(sequence_diagram(trace))
    spoken = [t for who, to, t in said if (who, to) == ("P", "C")]
    assert spoken == [_line(f'say "{t}"') for t in trace.said]


# --- a flow's run as a sequence diagram -----------------------------------------------------

LOCAL = HttpPolicy(allow_http=True, allowed_networks=("127.0.0.0/8",))


def _no_dns(host: str, port: int) -> Awaitable[list[str]]:
    async def loopback() -> list[str]:
        return ["127.0.0.1"]  # refused by the default policy: no request leaves the machine

    return loopback()


def _run(flow: Any, **kwargs: Any) -> RunResult:
    return asyncio.run(run(flow, **kwargs))


def test_a_flow_run_with_webhooks_as_a_sequence_diagram() -> None:
    with webhooks() as hooks:
        order = Function("order", hooks.url("/order"), "An order's status",
                         {"type": "object", "properties": {"id": {"type": "string"}}})  # fmt: skip
        flow = [
            {"type": "webhook_send", "option": {"uri": hooks.url("/order?token=s3cret"),
                                                "data": '{"a": 1}'}},
            {"type": "ai_talk", "option": {"initial_prompt": "p", "tool_names": ["order"]}},
            {"type": "webhook_send", "option": {"uri": "http://10.0.0.1/x"}},
            {"type": "stop"},
        ]  # fmt: skip
        engine = ScriptedEngine(
            [{"tool_calls": [{"name": "order", "arguments": {"id": "7"}}]}, "It ships Friday"]
        )
        result = _run(flow, engine=engine, functions=[order], http=LOCAL)
    said = parse_sequence(sequence_diagram(result))
    shipped = _line('{"body": {"eta": "Friday", "status": "shipped"}, "status": 200}')
    assert said == [
        ("C", "F", "calls"),
        ("F", "W", f"POST {hooks.url('/order')}"),  # without its query (tokens)
        ("W", "F", "status 404"),  # the hooks know /order, not /order?token=...
        ("F", "E", "start AI with tools order"),
        ("E", "F", 'calls order {"id": "7"}'),
        ("F", "W", 'order {"id": "7"}'),  # a webhook function: the backend's service
        ("W", "F", shipped),
        ("F", "E", _line(f"order: {shipped}")),
        ("E", "C", 'says "It ships Friday"'),
        ("E", "F", "AI ends: caller_silent"),
        ("F", "note", _line("error BLOCKED_ADDRESS: " + result.of("error")[0].data["message"])),
        ("F", "note", "stop"),
        ("C", "note", "end: stopped after 4 step(s)"),
    ]
    assert [r["path"] for r in hooks.received] == ["/order?token=s3cret", "/order"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flows(), st.lists(st.sampled_from(["1", "2", "", "9"]), max_size=3))
def test_every_generated_flow_run_draws(flow: dict[str, Any], digits: list[str]) -> None:
    engine = ScriptedEngine(["ok", {"tool_calls": [{"name": "stop_service"}]}] * 3)
    result = _run(flow, engine=engine, caller=Caller(says=["hi"], digits=digits),
                  step_limit=40, http=HttpPolicy(resolve=_no_dns))  # fmt: skip
    said = parse_sequence(sequence_diagram(result))
    assert said[-1] == ("C", "note", f"end: {result.status} after {result.steps} step(s)")

    def sent(source: str, target: str, prefix: str) -> list[str]:
        return [t for a, b, t in said if (a, b) == (source, target) and t.startswith(prefix)]

    assert sent("F", "C", "say ") == [_line(f'say "{e.data["text"]}"') for e in result.of("talk")]
    assert sent("C", "F", "presses ") == [
        _line(f"presses {e.data['digits']}") for e in result.of("digits") if e.data["digits"]
    ]
    assert sent("E", "C", "says ") == [_line(f'says "{e.data["text"]}"')
                                       for e in result.of("ai_said")]  # fmt: skip
    assert len(sent("E", "F", "calls ")) == len(result.of("tool_call"))
    assert len(sent("F", "E", "")) == len(result.of("ai_start")) + len(
        result.of("tool_result") + result.of("tool_refused") + result.of("summary")
    )
    assert len(sent("F", "W", "")) == len(result.of("webhook")) + len(result.of("fetch"))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_HOSTILE, _HOSTILE)
def test_hostile_words_in_a_run_stay_messages(text: str, reply: str) -> None:
    flow = [{"type": "talk", "option": {"text": text}},
            {"type": "ai_talk", "option": {"initial_prompt": "p"}}]  # fmt: skip
    result = _run(flow, engine=ScriptedEngine([reply + "."]), caller=Caller(says=[text]))
    said = parse_sequence(sequence_diagram(result))
    assert said[1] == ("F", "C", _line(f'say "{result.of("talk")[0].data["text"]}"'))
    assert ("E", "C", _line(f'says "{reply}."')) in said
    assert ("C", "E", _line(f'says "{text}"')) in said


def test_cxml_flow_run_format_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["flow", "run", str(ROOT / "examples" / "ai_flow.json"),
            "--script", str(ROOT / "examples" / "ai_flow_script.yaml")]  # fmt: skip
    assert main([*argv, "--format", "mermaid"]) == 0
    said = parse_sequence(capsys.readouterr().out)
    assert said[:4] == [("C", "F", "calls"), ("F", "C", "answer"),
                        ("F", "C", 'say "Press 1 to talk to our assistant."'),
                        ("C", "F", "presses 9")]  # fmt: skip
    assert ("F", "note", 'branch voipbin.call.digits = "1": assistant') in said
    assert ("C", "E", 'says "I\'d like to book a table for two tonight"') in said
    assert [t for a, b, t in said if (a, b) == ("E", "F") and t.startswith("calls")] == [
        'calls set_variables {"variables": {"booking": "2 at 20:00"}}',
        "calls stop_service",
    ]
    assert ("F", "E", 'set_variables: {"result": "success"}') in said
    assert ("E", "F", "summary: The caller booked a table for two at eight.") in said
    assert said[-2:] == [("F", "C", "hangup"), ("C", "note", "end: hangup after 12 step(s)")]
    # The same run as text: one event a line, then how it ended.
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "-- hangup after 12 step(s)"


def test_cxml_flow_run_draws_a_conversation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "flow.json").write_text(
        json.dumps([{"type": "ai_talk", "option": {"initial_prompt": "You help."}}])
    )
    (tmp_path / "script.yaml").write_text(
        'engine: ["Hi there", "Bye"]\nmessages: [hello, thanks]\n'
    )
    argv = ["flow", "run", str(tmp_path / "flow.json"), "--script", str(tmp_path / "script.yaml")]
    assert main([*argv, "--format", "mermaid"]) == 0
    said = parse_sequence(capsys.readouterr().out)
    writes = [i for i, (a, b, _) in enumerate(said) if (a, b) == ("C", "F")]
    assert [said[i][2] for i in writes] == ['writes "hello"', 'writes "thanks"']
    assert [t for a, b, t in said if (a, b) == ("E", "C")] == [
        'replies "Hi there"', 'replies "Bye"'
    ]  # fmt: skip
    assert [t for _, kind, t in said if t.startswith("end:")] == [
        "end: finished after 1 step(s)"
    ] * 2


# --- the command line and the docs --------------------------------------------------------


def test_cxml_graph_prints_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph"]) == 0
    assert capsys.readouterr().out == to_mermaid(pbx_graph(load_pbx(EXAMPLE_PBX)))
    assert main(["graph", "--at", "2026-11-23T10:00"]) == 0  # the PBX's own zone: open
    assert '"open (now)"' in capsys.readouterr().out


def test_cxml_graph_draws_a_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(FLOW))
    assert main(["graph", str(path), "--format", "dot"]) == 0
    assert capsys.readouterr().out == to_dot(graph(FLOW))
    as_yaml = tmp_path / "flow.yaml"
    as_yaml.write_text(yaml.safe_dump(FLOW))
    assert main(["graph", str(as_yaml)]) == 0
    assert capsys.readouterr().out == to_mermaid(graph(FLOW))
    path.write_text(json.dumps({"actions": [{"type": "talk"}]}))
    assert main(["graph", str(path)]) == 1
    assert "MISSING_REQUIRED $.actions[0].option.text" in capsys.readouterr().err
    assert main(["graph", str(path), "--at", "2026-11-23T10:00"]) == 2


def test_cxml_graph_reports_a_bad_pbx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pbx.yaml"
    path.write_text("dids: {'+14155550100': {destination: ring_group/nope}}\n")
    assert main(["graph", str(path)]) == 1
    assert capsys.readouterr().err == (
        f"{path}: dids.+14155550100.destination: ring_group/nope does not exist\n"
    )
    assert main(["graph", "--at", "soon"]) == 2


@needs_dot
def test_cxml_graph_svg(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", "--format", "svg"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("<?xml")
    assert "<svg" in out
    assert "ring group sales" in out


def test_svg_without_graphviz_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no dot program on it
    assert main(["graph", "--format", "svg"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "apt-get install graphviz" in captured.err


def test_cxml_simulate_format_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "--to", "+14155550199", "--from", "+12125551234",
            "--at", "2026-11-23T10:00", "--format", "mermaid"]  # fmt: skip
    assert main(argv) == 0
    said = parse_sequence(capsys.readouterr().out)
    assert said[-1] == ("C", "note", "end: hangup")
    assert ("C", "note", "dial service +14155551234: no-answer") in said


def _mermaid_after(doc: Path, marker: str) -> str:
    text = doc.read_text()
    start = text.index("```mermaid\n", text.index(marker)) + len("```mermaid\n")
    return text[start : text.index("```", start)]


def test_docs_show_the_example_pbx_graph() -> None:
    shown = _mermaid_after(ROOT / "docs" / "routing.md", "<!-- graph of the example PBX -->")
    assert shown == to_mermaid(pbx_graph(load_pbx(EXAMPLE_PBX)))


def test_docs_show_the_example_flow_graph() -> None:
    text = (ROOT / "docs" / "flows.md").read_text()
    marker = text.index("<!-- graph of this flow -->")
    start = text.rindex("```json\n", 0, marker) + len("```json\n")
    flow = json.loads(text[start : text.index("```", start)])
    assert _mermaid_after(ROOT / "docs" / "flows.md", "<!-- graph of this flow -->") == (
        to_mermaid(graph(flow))
    )
