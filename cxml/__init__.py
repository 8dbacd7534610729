"""cxml: Cloudonix CXML documents — model, safe parser, renderer, validator, call requests.

>>> from cxml import Response, Dial, Number, render
>>> print(render(Response().dial(Number("+14155550100"), timeout=20)))
<?xml version="1.0" encoding="UTF-8"?>
<Response><Dial timeout="20"><Number>+14155550100</Number></Dial></Response>
"""

from __future__ import annotations

from ._errors import (
    CallRequestError,
    CxmlError,
    CxmlParseError,
    CxmlValueError,
    ScenarioError,
    SimulationError,
    StreamError,
)
from ._events import CallRecord, SessionUpdate
from ._http_body import read_capped_body
from ._interpret import interpret, interpret_async
from ._interpret_peers import MemoryChannel, PeerChannel, StreamPeers, echo_peer
from ._interpret_scenario import DialOutcome, Input, Scenario
from ._interpret_stream import (
    PlatformFrames,
    StreamChannel,
    StreamConnector,
    StreamResult,
    StreamScript,
    WebSocketChannel,
    open_websocket,
    websocket_connector,
)
from ._interpret_trace import (
    AppRequest,
    CallTrace,
    Dialed,
    DialedTarget,
    Ended,
    ErrorEvent,
    Event,
    Forked,
    Gathered,
    Paused,
    Played,
    Recorded,
    Redirected,
    Requested,
    Said,
    Skipped,
    Streamed,
)
from ._kinds import check_xml_text
from ._model import (
    Coach,
    Conference,
    Connect,
    Converse,
    Description,
    Dial,
    Element,
    Gather,
    Hangup,
    Header,
    Node,
    Number,
    Parameter,
    Pause,
    Play,
    Record,
    Redirect,
    Reject,
    Response,
    Say,
    Service,
    Sip,
    Speech,
    Start,
    Stop,
    Stream,
    System,
    Tool,
    User,
    replace,
)
from ._parse import MAX_ATTRIBUTES, MAX_BYTES, MAX_DEPTH, parse
from ._render import render
from ._request import CallRequest
from ._validate import Issue, validate

__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "AppRequest",
    "CallRecord",
    "CallRequest",
    "CallRequestError",
    "CallTrace",
    "Coach",
    "Conference",
    "Connect",
    "Converse",
    "CxmlError",
    "CxmlParseError",
    "CxmlValueError",
    "Description",
    "Dial",
    "DialOutcome",
    "Dialed",
    "DialedTarget",
    "Element",
    "Ended",
    "ErrorEvent",
    "Event",
    "Forked",
    "Gather",
    "Gathered",
    "Hangup",
    "Header",
    "Input",
    "Issue",
    "MemoryChannel",
    "Node",
    "Number",
    "Parameter",
    "Pause",
    "Paused",
    "PeerChannel",
    "PlatformFrames",
    "Play",
    "Played",
    "Record",
    "Recorded",
    "Redirect",
    "Redirected",
    "Reject",
    "Requested",
    "Response",
    "Said",
    "Say",
    "Scenario",
    "ScenarioError",
    "Service",
    "SessionUpdate",
    "SimulationError",
    "Sip",
    "Skipped",
    "Speech",
    "Start",
    "Stop",
    "Stream",
    "StreamChannel",
    "StreamConnector",
    "StreamError",
    "StreamPeers",
    "StreamResult",
    "StreamScript",
    "Streamed",
    "System",
    "Tool",
    "User",
    "WebSocketChannel",
    "check_xml_text",
    "echo_peer",
    "interpret",
    "interpret_async",
    "open_websocket",
    "parse",
    "read_capped_body",
    "render",
    "replace",
    "validate",
    "websocket_connector",
]

# Public names report the public module, so reprs and docs do not leak private paths.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) or hasattr(_obj, "__code__"):
        _obj.__module__ = "cxml"  # classes and functions; not constants or type aliases
del _name, _obj
