"""flows: PBX routing (flows.routing) and VoIPBIN-style flow definitions.

`load_flow` / `validate_flow` read and check a flow, `run` executes it offline (an AI step
answered by a `providers.ConversationEngine`), `Conversations` keeps text conversations' AI
sessions, and `to_cxml` compiles what CXML can express. See docs/flows.md.

>>> from flows import load_flow, validate_flow
>>> flow = load_flow({"actions": [{"type": "answer"},
...                               {"type": "talk", "option": {"text": "Hello"}}]})
>>> [a.type for a in flow.actions]
['answer', 'talk']
>>> [(i.code, i.path) for i in validate_flow([{"type": "talk", "option": {"txt": "Hi"}}])]
[('UNKNOWN_OPTION', '$[0].option.txt'), ('MISSING_REQUIRED', '$[0].option.text')]
>>> import asyncio
>>> from flows import run
>>> asyncio.run(run(flow)).status
'finished'
"""

from __future__ import annotations

from ._catalog import ACTIONS, ActionSpec, Opt
from ._compile import FlowCompileError, to_cxml
from ._conversations import Conversations, ConversationTurn
from ._diagram import (
    Graph,
    GraphEdge,
    GraphNode,
    GraphvizError,
    render_graph,
    sequence_diagram,
    to_dot,
    to_mermaid,
    to_svg,
)
from ._directory import DIRECT_DOMAIN, FlowDirectory, direct_hash
from ._flow import Action, Flow, FlowError, load_flow
from ._graph import graph
from ._interpreter import Caller, Event, FlowRunError, RunResult, run
from ._validate import json_schema, validate_flow
from ._variables import BUILTIN_VARIABLES, VariableError, substitute

__all__ = [
    "ACTIONS",
    "BUILTIN_VARIABLES",
    "DIRECT_DOMAIN",
    "Action",
    "ActionSpec",
    "Caller",
    "ConversationTurn",
    "Conversations",
    "Event",
    "Flow",
    "FlowCompileError",
    "FlowDirectory",
    "FlowError",
    "FlowRunError",
    "Graph",
    "GraphEdge",
    "GraphNode",
    "GraphvizError",
    "Opt",
    "RunResult",
    "VariableError",
    "direct_hash",
    "graph",
    "json_schema",
    "load_flow",
    "render_graph",
    "run",
    "sequence_diagram",
    "substitute",
    "to_cxml",
    "to_dot",
    "to_mermaid",
    "to_svg",
    "validate_flow",
]
