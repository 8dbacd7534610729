"""Diagrams: the graph `flows.routing.graph` and `flows.graph` return, drawn as a Mermaid
flowchart or as DOT (SVG through Graphviz's ``dot`` program); a simulated call
(`cxml.CallTrace`) or a flow's run (`flows.RunResult`) drawn as a Mermaid sequence diagram.

Labels come from configurations and flows, which anyone may write, so each format escapes
them for its own grammar: Mermaid gets every character outside a small safe set as an entity
code (``#34;``), DOT a quoted string with backslashes and quotes escaped. No name can add a
node, an edge or a directive, or end a diagram early.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

import attrs

import cxml
from cxml import CallTrace, CxmlError
from providers import BUILTIN_TOOLS

from ._interpreter import Event, RunResult

__all__ = [
    "Graph",
    "GraphEdge",
    "GraphNode",
    "GraphvizError",
    "render_graph",
    "sequence_diagram",
    "to_dot",
    "to_mermaid",
    "to_svg",
]

#: What a node may be marked with: ``inactive`` (its status), ``unreachable`` (no DID,
#: campaign or first action leads to it), ``open``/``closed`` (business hours at the instant
#: asked about), ``error``/``warning`` (a validation issue points at it).
NODE_MARKS: Final = frozenset({"inactive", "unreachable", "open", "closed", "error", "warning"})
#: What an edge may be marked with: ``unavailable`` (the call ends with the unavailable
#: message there), ``skipped`` (a member the router passes over), ``now`` (the branch taken
#: at the instant asked about).
EDGE_MARKS: Final = frozenset({"unavailable", "skipped", "now"})
Format = Literal["mermaid", "dot", "svg"]
FORMATS: Final = ("mermaid", "dot", "svg")
#: Longest label line drawn; longer names and texts are cut with an ellipsis.
MAX_LINE: Final = 60


_Check = Callable[[object, "attrs.Attribute[frozenset[str]]", frozenset[str]], None]


def _marks(allowed: frozenset[str]) -> _Check:
    def check(_: object, attribute: attrs.Attribute[frozenset[str]], value: frozenset[str]) -> None:
        unknown = value - allowed
        if unknown:
            raise ValueError(f"{attribute.name}: unknown marks {sorted(unknown)}")

    return check


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _set(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


@attrs.frozen
class GraphNode:
    """One thing drawn: ``id`` (unique in its graph: ``ring_group/sales``, ``action/3``),
    ``kind`` (``did``, ``ring_group``, ``action``, ...), a one-line ``label``, ``detail``
    lines (strategy, provider, time zone, ...) and ``marks`` (`NODE_MARKS`)."""

    id: str
    kind: str
    label: str
    detail: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    marks: frozenset[str] = attrs.field(
        default=frozenset(), converter=_set, validator=_marks(NODE_MARKS)
    )


@attrs.frozen
class GraphEdge:
    """From node ``source`` to node ``target``: ``kind`` (``destination``, ``option``,
    ``fallback``, ``goto``, ...), the ``label`` drawn on it, the configuration or JSON
    ``path`` it comes from (empty for edges nothing is written for, such as a flow's next
    action) and ``marks`` (`EDGE_MARKS`)."""

    source: str
    target: str
    kind: str
    label: str = ""
    path: str = ""
    marks: frozenset[str] = attrs.field(
        default=frozenset(), converter=_set, validator=_marks(EDGE_MARKS)
    )


def _nodes(value: Iterable[GraphNode]) -> tuple[GraphNode, ...]:
    return tuple(value)


def _edges(value: Iterable[GraphEdge]) -> tuple[GraphEdge, ...]:
    return tuple(value)


def _consistent(graph: Graph, _: object, edges: tuple[GraphEdge, ...]) -> None:
    ids = [node.id for node in graph.nodes]
    if len(set(ids)) != len(ids):
        raise ValueError("node ids must be unique")
    known = set(ids)
    for edge in edges:
        if edge.source not in known or edge.target not in known:
            raise ValueError(f"edge {edge.source} -> {edge.target} names a node not in the graph")


@attrs.frozen
class Graph:
    """Nodes and edges, in drawing order (a backend can draw them in its own UI)."""

    nodes: tuple[GraphNode, ...] = attrs.field(converter=_nodes)
    edges: tuple[GraphEdge, ...] = attrs.field(converter=_edges, validator=_consistent)

    def node(self, node_id: str) -> GraphNode:
        """The node with this id (KeyError if there is none)."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def edges_from(self, node_id: str) -> tuple[GraphEdge, ...]:
        return tuple(e for e in self.edges if e.source == node_id)

    def edges_to(self, node_id: str) -> tuple[GraphEdge, ...]:
        return tuple(e for e in self.edges if e.target == node_id)

    def to_dict(self) -> dict[str, list[dict[str, object]]]:
        """Plain data for JSON (a backend's own UI): marks as sorted lists."""
        return {
            "nodes": [
                {"id": n.id, "kind": n.kind, "label": n.label, "detail": list(n.detail),
                 "marks": sorted(n.marks)}
                for n in self.nodes
            ],
            "edges": [
                {"source": e.source, "target": e.target, "kind": e.kind, "label": e.label,
                 "path": e.path, "marks": sorted(e.marks)}
                for e in self.edges
            ],
        }  # fmt: skip

    def to_mermaid(self) -> str:
        return to_mermaid(self)

    def to_dot(self) -> str:
        return to_dot(self)


class GraphvizError(CxmlError):
    """SVG output needs Graphviz's ``dot`` program: it is not installed
    (``GRAPHVIZ_MISSING``) or it failed (``GRAPHVIZ_FAILED``)."""

    code: int | str = "GRAPHVIZ_FAILED"


# --- text ---------------------------------------------------------------------------------


def _line(text: str) -> str:
    """One label line: control characters as spaces, a lone surrogate (from JSON's
    ``"\\ud800"``) as U+FFFD, cut to `MAX_LINE`."""
    text = "".join(
        " " if ord(c) < 32 or 127 <= ord(c) < 160 else "\N{REPLACEMENT CHARACTER}"
        if 0xD800 <= ord(c) <= 0xDFFF else c
        for c in text
    )  # fmt: skip
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 1] + "\N{HORIZONTAL ELLIPSIS}"


def _node_lines(node: GraphNode) -> list[str]:
    lines = [node.label, *node.detail]
    # Open and closed are in the detail, with the instant they are for.
    lines += [f"({mark})" for mark in sorted(node.marks - {"open", "closed"})]
    return [_line(text) for text in lines]


def _edge_text(edge: GraphEdge) -> str:
    words = [edge.label] if edge.label else []
    words += [f"({mark})" for mark in sorted(edge.marks) if mark != "now"]
    if "now" in edge.marks:
        words.append("(now)")
    return _line(" ".join(words))


#: Characters Mermaid reads as themselves inside a quoted label or a message; everything else
#: is written as an entity code.
_MERMAID_SAFE: Final = re.compile(r"[A-Za-z0-9 .,:/+_=@()'?-]")


def mermaid_text(lines: Iterable[str]) -> str:
    """Lines of text as one Mermaid label: entity codes outside the safe set, ``<br>``
    between lines."""
    return "<br>".join(
        "".join(c if _MERMAID_SAFE.match(c) else f"#{ord(c)};" for c in line) for line in lines
    )


def dot_text(lines: Iterable[str]) -> str:
    """Lines of text as one DOT quoted string (with its quotes)."""
    escaped = (line.replace("\\", "\\\\").replace('"', '\\"') for line in lines)
    return '"' + "\\n".join(escaped) + '"'


# --- Mermaid flowchart --------------------------------------------------------------------

#: Mermaid shape (opening, closing) by node kind; a box for anything else.
_MERMAID_SHAPES: Final[Mapping[str, tuple[str, str]]] = {
    "did": ("([", "])"),
    "campaign": ("([", "])"),
    "business_hours": ("{{", "}}"),
    "ivr_menu": ("{", "}"),
    "branch": ("{", "}"),
    "condition": ("{", "}"),
    "ring_group": ("[[", "]]"),
    "ai_load_balancer": ("[[", "]]"),
    "hangup": ("((", "))"),
    "end": ("((", "))"),
    "number": (">", "]"),
    "sip": (">", "]"),
    "flow": ("[(", ")]"),
    "url": ("[(", ")]"),
}
_MERMAID_ARROWS: Final[Mapping[str, str]] = {"fetch": "-.->", "transfer": "-.->"}
#: Styles by mark; a node's first mark in this order wins its fill.
_MERMAID_CLASSES: Final = (
    ("error", "fill:#fdd,stroke:#c00,stroke-width:2px"),
    ("unreachable", "fill:#fff3cd,stroke:#b8860b,stroke-dasharray:4 3"),
    ("inactive", "fill:#eee,stroke:#999,color:#777,stroke-dasharray:4 3"),
    ("warning", "fill:#fff3cd,stroke:#b8860b"),
    ("open", "fill:#dfd,stroke:#090"),
    ("closed", "fill:#fdd,stroke:#c00"),
)
_MERMAID_EDGE_STYLES: Final = (
    ("unavailable", "stroke:#c00,stroke-dasharray:4 3"),
    ("now", "stroke:#090,stroke-width:3px"),
    ("skipped", "stroke:#999,stroke-dasharray:2 3"),
)


def to_mermaid(graph: Graph, *, direction: Literal["LR", "TD"] = "LR") -> str:
    """The graph as a Mermaid flowchart (nodes ``n0``, ``n1``, ... in graph order)."""
    index = {node.id: f"n{i}" for i, node in enumerate(graph.nodes)}
    out = [f"flowchart {direction}"]
    for node in graph.nodes:
        opening, closing = _MERMAID_SHAPES.get(node.kind, ("[", "]"))
        out.append(f'    {index[node.id]}{opening}"{mermaid_text(_node_lines(node))}"{closing}')
    for edge in graph.edges:
        arrow = _MERMAID_ARROWS.get(edge.kind, "-->")
        text = _edge_text(edge)
        label = f'|"{mermaid_text([text])}"|' if text else ""
        out.append(f"    {index[edge.source]} {arrow}{label} {index[edge.target]}")
    for mark, style in _MERMAID_CLASSES:
        members = [index[n.id] for n in graph.nodes if _first_mark(n.marks) == mark]
        if members:
            out.append(f"    classDef {mark} {style}")
            out.append(f"    class {','.join(members)} {mark}")
    for mark, style in _MERMAID_EDGE_STYLES:
        numbers = [str(i) for i, e in enumerate(graph.edges) if _first_edge_mark(e) == mark]
        if numbers:
            out.append(f"    linkStyle {','.join(numbers)} {style}")
    return "\n".join(out) + "\n"


def _first_mark(marks: frozenset[str]) -> str | None:
    return next((mark for mark, _ in _MERMAID_CLASSES if mark in marks), None)


def _first_edge_mark(edge: GraphEdge) -> str | None:
    return next((mark for mark, _ in _MERMAID_EDGE_STYLES if mark in edge.marks), None)


# --- DOT ----------------------------------------------------------------------------------

_DOT_SHAPES: Final[Mapping[str, str]] = {
    "did": "oval",
    "campaign": "oval",
    "business_hours": "hexagon",
    "ivr_menu": "diamond",
    "branch": "diamond",
    "condition": "diamond",
    "ring_group": "box3d",
    "ai_load_balancer": "box3d",
    "hangup": "circle",
    "end": "circle",
    "number": "cds",
    "sip": "cds",
    "flow": "cylinder",
    "url": "cylinder",
}
_DOT_FILLS: Final[Mapping[str, str]] = {
    "error": "#ffdddd",
    "unreachable": "#fff3cd",
    "inactive": "#eeeeee",
    "warning": "#fff3cd",
    "open": "#ddffdd",
    "closed": "#ffdddd",
}


def to_dot(graph: Graph, *, name: str = "cxmlflow") -> str:
    """The graph as a Graphviz DOT digraph."""
    index = {node.id: f"n{i}" for i, node in enumerate(graph.nodes)}
    out = [
        f"digraph {dot_text([name])} {{",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for node in graph.nodes:
        attributes = [f"label={dot_text(_node_lines(node))}"]
        if node.kind in _DOT_SHAPES:
            attributes.append(f"shape={_DOT_SHAPES[node.kind]}")
        mark = _first_mark(node.marks)
        if mark is not None:
            attributes.append(f'fillcolor="{_DOT_FILLS[mark]}"')
        if node.marks & {"inactive", "unreachable"}:
            attributes.append('style="rounded,filled,dashed"')
        out.append(f"  {index[node.id]} [{', '.join(attributes)}];")
    for edge in graph.edges:
        attributes = []
        text = _edge_text(edge)
        if text:
            attributes.append(f"label={dot_text([text])}")
        if "unavailable" in edge.marks:
            attributes.append('color="#cc0000", style=dashed')
        elif "skipped" in edge.marks or edge.kind in _MERMAID_ARROWS:
            attributes.append("style=dotted")
        if "now" in edge.marks:
            attributes.append('color="#009900", penwidth=2.5')
        shown = f" [{', '.join(attributes)}]" if attributes else ""
        out.append(f"  {index[edge.source]} -> {index[edge.target]}{shown};")
    out.append("}")
    return "\n".join(out) + "\n"


def to_svg(graph: Graph, *, timeout: float = 60.0) -> str:
    """The graph as SVG, drawn by Graphviz's ``dot`` program; `GraphvizError` if it is not
    installed or fails."""
    program = shutil.which("dot")
    if program is None:
        raise GraphvizError(
            "SVG output needs Graphviz's dot program, which is not installed: "
            "apt-get install graphviz (macOS: brew install graphviz); "
            "or choose --format mermaid or dot",
            code="GRAPHVIZ_MISSING",
        )
    try:
        done = subprocess.run(
            [program, "-Tsvg"],
            input=to_dot(graph).encode("utf-8", "replace"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GraphvizError(f"dot did not run: {exc}") from None
    if done.returncode != 0:
        problem = done.stderr.decode("utf-8", "replace").strip()[:500]
        raise GraphvizError(f"dot failed (exit {done.returncode}): {problem}")
    return done.stdout.decode("utf-8", "replace")


def render_graph(graph: Graph, fmt: Format = "mermaid") -> str:
    """The graph in ``fmt``: ``mermaid``, ``dot`` or ``svg``."""
    if fmt == "mermaid":
        return to_mermaid(graph)
    if fmt == "dot":
        return to_dot(graph)
    if fmt == "svg":
        return to_svg(graph)
    raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")


# --- a simulated call as a sequence diagram -----------------------------------------------

#: The participants, in order: (Mermaid id, name).
PARTICIPANTS: Final = (
    ("C", "Caller"),
    ("P", "Platform"),
    ("A", "Application"),
    ("S", "Media stream"),
    ("E", "Engine"),
)
_SHOWN_PARAMETERS: Final = (
    "Digits", "SpeechResult", "DialCallStatus", "DialCallDuration", "RecordingDuration",
)  # fmt: skip


def sequence_diagram(trace: CallTrace | RunResult) -> str:
    """A simulated call (`cxml.interpret`'s trace) or a flow's run (`flows.run`'s result) as
    a Mermaid sequence diagram.

    A call: the caller, the platform, the application, the media stream and the engine at
    its other end; the requests and the verbs of each document, what was said and played,
    the digits pressed, dials, streams and how the call ended. A run: the caller, the flow,
    the AI engine and the webhooks (`RUN_PARTICIPANTS`); each step, what was said, the
    digits, the AI's turns, its tool calls with their results, webhook calls and the end.
    """
    if isinstance(trace, RunResult):
        return _sequence(RUN_PARTICIPANTS, run_lines(trace))
    call = trace.call
    lines = [_message("C", "P", f"calls {call.to or '?'} from {call.from_ or '?'}")]
    for event in trace.events:
        lines += _sequence_lines(event, trace)
    return _sequence(PARTICIPANTS, lines)


def _sequence(participants: Iterable[tuple[str, str]], lines: Iterable[str]) -> str:
    """The one sequence-diagram writer: the participants (Mermaid id, name), then the lines
    `_message` and `_note` wrote."""
    out = ["sequenceDiagram"]
    out += [f"    participant {key} as {name}" for key, name in participants]
    out += lines
    return "\n".join(out) + "\n"


def _message(source: str, target: str, text: str, *, reply: bool = False) -> str:
    arrow = "-->>" if reply else "->>"
    return f"    {source}{arrow}{target}: {mermaid_text([_line(text)])}"


def _note(over: str, text: str) -> str:
    return f"    Note over {over}: {mermaid_text([_line(text)])}"


def _where(url: str, *, host_only: bool = False) -> str:
    """A URL without its query (callback state, tokens), or only its scheme and host (a
    stream's path may hold a provider's credentials)."""
    parts = urlsplit(url)
    if host_only:
        return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "(stream)"
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _verbs(document: cxml.Response | None) -> str:
    if document is None:
        return "no document"
    names = [type(node).__name__ for node in document.children]
    return " ".join(names) if names else "empty Response"


def _sequence_lines(event: cxml.Event, trace: CallTrace) -> list[str]:
    if isinstance(event, cxml.Requested):
        shown = [f"{k}={event.parameters[k]}" for k in _SHOWN_PARAMETERS if k in event.parameters]
        where = "first request" if event.url is None else _where(event.url)
        lines = [_message("P", "A", " ".join([event.method, where, *shown]))]
        if 0 < event.stage <= len(trace.documents):
            lines.append(_message("A", "P", _verbs(trace.documents[event.stage - 1]), reply=True))
        return lines
    if isinstance(event, cxml.Said):
        return [_message("P", "C", f'say "{event.text}"')]
    if isinstance(event, cxml.Played):
        what = f"tones {event.digits}" if event.digits else f"play {event.url}"
        return [_message("P", "C", what)]
    if isinstance(event, cxml.Paused):
        return [_note("P", f"pause {event.length}s")]
    if isinstance(event, cxml.Gathered):
        lines = [line for prompt in event.prompts for line in _sequence_lines(prompt, trace)]
        if event.digits is not None:
            lines.append(_message("C", "P", f"presses {event.digits}"))
        elif event.speech is not None:
            lines.append(_message("C", "P", f'says "{event.speech}"'))
        else:
            lines.append(_note("C", "no input"))
        return lines
    if isinstance(event, cxml.Recorded):
        lines = [line for prompt in event.prompts for line in _sequence_lines(prompt, trace)]
        return [*lines, _message("C", "P", f"records {event.duration:g}s")]
    if isinstance(event, cxml.Dialed):
        targets = ", ".join(f"{t.kind} {t.target}" for t in event.targets)
        talk = f" {event.duration:g}s" if event.status == "completed" else ""
        return [_note("C,P", f"dial {targets}: {event.status}{talk}")]
    if isinstance(event, cxml.Streamed):
        result = event.result
        sent = f"caller audio {result.sent_seconds:g}s"
        sent += f", digits {result.sent_dtmf}" if result.sent_dtmf else ""
        back = f"audio {result.received_seconds:.2f}s"
        back += f", marks {' '.join(result.marks)}" if result.marks else ""
        back += f", {result.clears} clear" if result.clears else ""
        ended = f"stream ended by {result.ended_by}"
        ended += f" ({result.error_code})" if result.error_code is not None else ""
        return [
            _message("P", "S", f"connect {_where(event.url, host_only=True)}"),
            _message("S", "E", sent),
            _message("E", "S", back, reply=True),
            _message("S", "P", ended, reply=True),
        ]
    if isinstance(event, cxml.Redirected):
        return [_note("P", f"redirect {_where(event.url)}")]
    if isinstance(event, cxml.Forked):
        return [_note("P", f"fork stream {event.url} (not opened)")]
    if isinstance(event, cxml.Skipped):
        return [_note("P", f"skip {event.verb}: {event.reason}")]
    if isinstance(event, cxml.ErrorEvent):
        return [_note("P,A", f"error {event.code}: {event.message}")]
    if isinstance(event, cxml.Ended):
        detail = f" ({event.detail})" if event.detail else ""
        return [_note("C,P", f"end: {event.reason}{detail}")]
    return []


# --- a flow's run as a sequence diagram ---------------------------------------------------

#: The participants of a flow's run, in order: (Mermaid id, name).
RUN_PARTICIPANTS: Final = (("C", "Caller"), ("F", "Flow"), ("E", "Engine"), ("W", "Webhooks"))


def conversation_diagram(turns: Iterable[tuple[str, RunResult]]) -> str:
    """A text conversation (each inbound message and the run it led to) as one diagram."""
    lines: list[str] = []
    for text, result in turns:
        lines.append(_message("C", "F", f'writes "{text}"'))
        lines += run_lines(result, start=False)
    return _sequence(RUN_PARTICIPANTS, lines)


def run_lines(result: RunResult, *, start: bool = True) -> list[str]:
    """The messages and notes of one run, from how it starts (``start``) to how it ended."""
    lines: list[str] = []
    if start:
        v = result.variables
        if v.get("voipbin.activeflow.reference_type") == "call":
            ends = [f"{side} {v[f'voipbin.call.{key}.target']}"
                    for side, key in (("to", "destination"), ("from", "source"))
                    if v.get(f"voipbin.call.{key}.target")]  # fmt: skip
            lines.append(_message("C", "F", " ".join(["calls", *ends])))
        else:
            lines.append(_note("F", "run without a call"))
    for event in result.events:
        lines += _run_event(event)
    lines.append(_note("C,F", f"end: {result.status} after {result.steps} step(s)"))
    return lines


def _shown(value: object) -> str:
    """A value of an event as short text: text as it is, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def _targets(value: object) -> str:
    """Addresses (``[{type, target}, ...]``) as ``tel +1555..., sip ...``."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        found = [f"{a.get('type', '')} {a.get('target', '')}".strip() for a in value
                 if isinstance(a, Mapping)]  # fmt: skip
        if found:
            return ", ".join(found)
    return _shown(value) if value is not None else ""


def _run_event(event: Event) -> list[str]:
    d: Mapping[str, Any] = event.data
    kind = event.kind
    if kind == "answer":
        return [_message("F", "C", "answer")]
    if kind == "talk":
        return [_message("F", "C", f'say "{_shown(d.get("text"))}"')]
    if kind == "play":
        return [_message("F", "C", "play " + ", ".join(map(str, d.get("urls") or [])))]
    if kind == "digits":
        digits = d.get("digits")
        return [_message("C", "F", f"presses {digits}") if digits else _note("C", "no digits")]
    if kind == "hangup":
        reason = f" ({d['reason']})" if d.get("reason") else ""
        return [_message("F", "C", f"hangup{reason}")]
    if kind == "connect":
        by = " (by the AI)" if d.get("by") == "ai" else ""
        return [_message("F", "C", f"connect to {_targets(d.get('destinations'))}{by}")]
    if kind == "caller_said":
        return [_message("C", "E", f'says "{_shown(d.get("text"))}"')]
    if kind in ("ai_said", "reply"):
        return [_message("E", "C", f'{"says" if kind == "ai_said" else "replies"} '
                                   f'"{_shown(d.get("text"))}"')]  # fmt: skip
    if kind == "ai_start":
        tools = d.get("tools") or []
        offered = f" with tools {', '.join(map(str, tools))}" if tools else ""
        return [_message("F", "E", f"start AI{offered}")]
    if kind == "ai_end":
        return [_message("E", "F", f"AI ends: {_shown(d.get('reason'))}", reply=True)]
    if kind == "tool_call":
        name = str(d.get("name"))
        arguments = d.get("arguments") or {}
        call = f"{name} {_shown(arguments)}" if arguments else name
        lines = [_message("E", "F", f"calls {call}")]
        if name not in BUILTIN_TOOLS:  # a webhook function: the backend's own service
            lines.append(_message("F", "W", call))
        return lines
    if kind == "tool_result":
        name, result = str(d.get("name")), _shown(d.get("result"))
        lines = [] if name in BUILTIN_TOOLS else [_message("W", "F", result, reply=True)]
        return [*lines, _message("F", "E", f"{name}: {result}", reply=True)]
    if kind == "tool_refused":
        return [_message("F", "E", f"refused {d.get('name')}: not offered", reply=True)]
    if kind == "summary":
        update = f" (update {d['update']})" if "update" in d else ""
        return [
            _message("F", "E", f"summarise what was said{update}"),
            _message("E", "F", f"summary: {_shown(d.get('content'))}", reply=True),
        ]
    if kind == "webhook":
        return [
            _message("F", "W", f"{d.get('method')} {_where(str(d.get('uri')))}"),
            _message("W", "F", f"status {d.get('status')}", reply=True),
        ]
    if kind == "fetch":
        return [
            _message("F", "W", f"fetch {_where(str(d.get('url')))}"),
            _message("W", "F", f"{d.get('actions')} action(s)", reply=True),
        ]
    if kind in ("email", "message", "email_send", "message_send"):
        what = "email" if kind.startswith("email") else "message"
        return [_note("F", f"send {what} to {_targets(d.get('destinations'))}".rstrip())]
    if kind == "error":
        return [_note("F", f"error {d.get('code')}: {d.get('message')}")]
    return [_note("F", _run_note(kind, d))]


def _run_note(kind: str, d: Mapping[str, Any]) -> str:
    """A step with no one else in it (the flow's own work) as the text of a note."""
    if kind == "variable_set":
        return f"set {d.get('key')} = {_shown(d.get('value'))}"
    if kind == "goto":
        if not d.get("jumped"):
            return "goto: no jump left, go on"
        return f"goto {d.get('target')} ({d.get('left')} left)"
    if kind == "branch":
        target = d.get("target") or "no target"
        return f'branch {d.get("variable")} = "{_shown(d.get("value"))}": {target}'
    if kind == "condition":
        subject = d.get("at") if d.get("type") == "datetime" else f'"{_shown(d.get("value"))}"'
        return f"condition {d.get('type')} {subject}: {'true' if d.get('held') else 'false'}"
    if kind == "sleep":
        return f"sleep {d.get('duration')} ms"
    if kind == "skipped":
        return f"skip {d.get('type')}: {d.get('reason')}"
    if kind == "fetch_flow":
        return f"fetch flow {d.get('flow_id')}"
    if kind == "limit":
        return f"step limit: {d.get('steps')} steps"
    if kind == "reply_dropped":
        return f'reply dropped (a newer message came): "{_shown(d.get("text"))}"'
    return kind.replace("_", " ")  # stop, block, and media operations recorded as asked
