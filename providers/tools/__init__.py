"""Tools an AI agent can call: webhook functions, the built-in tools, and the outbound HTTP guard.

* :class:`Function` — a tool answered by a webhook (name, URL, bearer token, JSON Schema of the
  arguments, sandboxed JSON input template); ``await function.call(arguments, ...)``.
* :data:`BUILTIN_TOOLS`, :func:`resolve_tool_names` (``tool_names``: ``["all"]``, ``[]`` or a
  list) and :func:`conversation_unsafe` (tools to avoid in a chat).
* :class:`ToolRunner` — runs one call's tool calls (offered tools only, each within a time
  limit, failures reported, never raised) and says what they do to the call
  (:class:`ToolResult`, :class:`ToolEvent`).
* :func:`guarded_request` and :class:`HttpPolicy` — every outbound request: https only, resolved
  addresses checked and pinned, no redirects followed, size and time caps.
"""

from __future__ import annotations

from ._builtin import BUILTIN_TOOLS, ToolDefinition, conversation_unsafe, resolve_tool_names
from ._function import DEFAULT_INPUT_TEMPLATE, Function, FunctionResult
from ._guard import (
    CheckedUrl,
    GuardedResponse,
    HttpPolicy,
    check_addresses,
    check_url,
    guarded_request,
)
from ._runner import ToolEvent, ToolResult, ToolRunner
from ._templates import MAX_OUTPUT, JsonTemplate

__all__ = [
    "BUILTIN_TOOLS",
    "DEFAULT_INPUT_TEMPLATE",
    "MAX_OUTPUT",
    "CheckedUrl",
    "Function",
    "FunctionResult",
    "GuardedResponse",
    "HttpPolicy",
    "JsonTemplate",
    "ToolDefinition",
    "ToolEvent",
    "ToolResult",
    "ToolRunner",
    "check_addresses",
    "check_url",
    "conversation_unsafe",
    "guarded_request",
    "resolve_tool_names",
]

# Public names report the public module, so reprs and docs do not leak private paths.
for _name in __all__:
    _obj = globals()[_name]
    if callable(_obj):
        _obj.__module__ = __name__
del _name, _obj
