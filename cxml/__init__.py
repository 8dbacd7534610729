"""cxml: Cloudonix CXML documents — model, safe parser, renderer, validator, call requests.

>>> from cxml import Response, Dial, Number, render
>>> print(render(Response().dial(Number("+14155550100"), timeout=20)))
<?xml version="1.0" encoding="UTF-8"?>
<Response><Dial timeout="20"><Number>+14155550100</Number></Dial></Response>
"""

from __future__ import annotations

from ._errors import CallRequestError, CxmlError, CxmlParseError, CxmlValueError
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
)
from ._parse import MAX_ATTRIBUTES, MAX_BYTES, MAX_DEPTH, parse
from ._render import render
from ._request import CallRequest
from ._validate import Issue, validate

__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "CallRequest",
    "CallRequestError",
    "Coach",
    "Conference",
    "Connect",
    "Converse",
    "CxmlError",
    "CxmlParseError",
    "CxmlValueError",
    "Description",
    "Dial",
    "Element",
    "Gather",
    "Hangup",
    "Header",
    "Issue",
    "Node",
    "Number",
    "Parameter",
    "Pause",
    "Play",
    "Record",
    "Redirect",
    "Reject",
    "Response",
    "Say",
    "Service",
    "Sip",
    "Speech",
    "Start",
    "Stop",
    "Stream",
    "System",
    "Tool",
    "User",
    "parse",
    "render",
    "validate",
]

# Public names report the public module, so reprs and docs do not leak private paths.
for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, int):
        _obj.__module__ = "cxml"
del _name, _obj
