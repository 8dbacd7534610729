"""The built-in tools of a VoIPBIN-style AI (seed 001) and the ``tool_names`` selector.

An AI lists its tools by name: ``["all"]`` is every built-in tool, ``[]`` none, anything else an
explicit list. ``conversation`` says whether a tool makes sense in a chat (no live call): the
seed's table marks ``connect_call``, ``stop_media`` and ``stop_flow`` "avoid".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, Literal

import attrs

from .._errors import ToolError
from ._spec import tool_spec

__all__ = [
    "BUILTIN_TOOLS",
    "ToolDefinition",
    "conversation_unsafe",
    "resolve_tool_names",
]


@attrs.frozen
class ToolDefinition:
    """A built-in tool: its schema for the model, where it fits, and what it does."""

    name: str
    description: str
    parameters: Mapping[str, Any] = attrs.field(hash=False)
    conversation: Literal["supported", "avoid"]
    effect: str

    def spec(self) -> dict[str, Any]:
        """The tool spec for the model: ``{"type": "function", "function": {...}}``."""
        return tool_spec(self.name, self.description, self.parameters)


def _object(
    properties: Mapping[str, Any], required: Sequence[str] = (), *, run_llm: str
) -> dict[str, Any]:
    """An arguments schema; every tool takes ``run_llm``, as in VoIPBIN."""
    run = {"type": "boolean", "description": run_llm}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"run_llm": run, **properties},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


def _endpoints(types: Sequence[str], target: str) -> dict[str, Any]:
    endpoint = {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": list(types)},
            "target": {"type": "string", "minLength": 1, "description": target},
            "target_name": {"type": "string", "description": "Display name (optional)"},
        },
        "required": ["type", "target"],
        "additionalProperties": False,
    }
    return {"type": "array", "items": endpoint, "minItems": 1}


_E164: Final = {"type": "string", "pattern": r"^\+[1-9][0-9]{1,14}$"}

_TOOLS: Final = (
    ToolDefinition(
        "connect_call",
        "Transfer the caller to, or connect them with, another endpoint "
        "(an agent, a conference, an extension, a SIP URI or a phone number).",
        _object(
            {
                "destinations": _endpoints(
                    ("agent", "conference", "extension", "line", "sip", "tel"),
                    "Destination address: E.164 number for tel, extension name, SIP URI ...",
                )
            },
            ["destinations"],
            run_llm="Set true to speak after connecting; false for a silent transfer.",
        ),
        "avoid",
        "connects the call to another endpoint; needs a live phone call",
    ),
    ToolDefinition(
        "send_email",
        "Send an email message.",
        _object(
            {
                "to": {
                    "type": "array",
                    "items": {"type": "string", "format": "email"},
                    "minItems": 1,
                    "description": "Recipient email addresses",
                },
                "subject": {"type": "string", "minLength": 1},
                "content": {"type": "string", "description": "Email body"},
            },
            ["to", "subject", "content"],
            run_llm="Set true to confirm verbally after sending.",
        ),
        "supported",
        "sends an email",
    ),
    ToolDefinition(
        "send_message",
        "Send an SMS text message.",
        _object(
            {
                "to": {
                    "type": "array",
                    "items": _E164,
                    "minItems": 1,
                    "description": "Recipient phone numbers in E.164 format (+15551234567)",
                },
                "text": {"type": "string", "minLength": 1},
            },
            ["to", "text"],
            run_llm="Set true to confirm verbally after sending.",
        ),
        "supported",
        "sends an SMS",
    ),
    ToolDefinition(
        "stop_media",
        "Stop the media (hold music, a greeting) that a previous action is playing.",
        _object({}, run_llm="Set true to speak after stopping the media."),
        "avoid",
        "stops media playback; the AI conversation continues",
    ),
    ToolDefinition(
        "stop_service",
        "End the AI conversation; the flow continues with its next action (soft stop).",
        _object({}, run_llm="Set true to say goodbye before ending."),
        "supported",
        "ends the AI conversation; the flow continues",
    ),
    ToolDefinition(
        "stop_flow",
        "Terminate the whole flow and the call; nothing runs after it (hard stop).",
        _object({}, run_llm="Set true to say goodbye before hanging up."),
        "avoid",
        "terminates the flow and the call",
    ),
    ToolDefinition(
        "set_variables",
        "Save key-value data to the flow context for later actions.",
        _object(
            {
                "variables": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "minProperties": 1,
                    "description": "Names and string values to save",
                }
            },
            ["variables"],
            run_llm="Set true to continue the conversation after saving.",
        ),
        "supported",
        "writes flow variables",
    ),
    ToolDefinition(
        "get_variables",
        "Read variables saved in the flow context.",
        _object(
            {
                "names": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1},
                    "uniqueItems": True,
                    "description": "Variable names to read; omit to read them all",
                }
            },
            run_llm="Set true to respond using the values read.",
        ),
        "supported",
        "reads flow variables",
    ),
    ToolDefinition(
        "get_aicall_messages",
        "Get the message history of an AI call.",
        _object(
            {"aicall_id": {"type": "string", "minLength": 1, "description": "Id of the AI call"}},
            ["aicall_id"],
            run_llm="Set true to respond based on the messages.",
        ),
        "supported",
        "reads an AI call's messages",
    ),
    ToolDefinition(
        "search_knowledge",
        "Search the AI's knowledge base for information about the caller's question.",
        _object(
            {"query": {"type": "string", "minLength": 1, "description": "What to look up"}},
            ["query"],
            run_llm="Set true to respond using what was found.",
        ),
        "supported",
        "searches the knowledge base (RAG)",
    ),
)

#: The built-in tools by name, in the seed's order (the order ``["all"]`` resolves to).
BUILTIN_TOOLS: Final[Mapping[str, ToolDefinition]] = MappingProxyType({t.name: t for t in _TOOLS})


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def resolve_tool_names(names: Sequence[str]) -> tuple[ToolDefinition, ...]:
    """The tools an AI's ``tool_names`` selects: ``["all"]`` every built-in tool in a stable
    order, ``[]`` none, otherwise the listed ones in the order given.

    Raises :class:`ToolError` naming every bad entry: ``UNKNOWN_TOOL`` if the only problem is
    names that are not built-in tools, else ``BAD_TOOL_NAMES`` (not a list, an entry that is not
    text, a duplicate, ``"all"`` mixed with names).
    """
    if isinstance(names, str | bytes) or not isinstance(names, Sequence):
        raise ToolError("tool_names: expected a list of tool names", code="BAD_TOOL_NAMES")
    if list(names) == ["all"]:
        return tuple(BUILTIN_TOOLS.values())
    problems: list[str] = []
    unknown: list[str] = []
    seen: set[str] = set()
    for index, name in enumerate(names):
        if not isinstance(name, str):
            problems.append(f"[{index}] is not text ({type(name).__name__})")
        elif name == "all":
            problems.append(f'[{index}] "all" cannot be combined with other names')
        elif name in seen:
            problems.append(f"[{index}] {_shown(name)} is listed twice")
        elif name not in BUILTIN_TOOLS:
            unknown.append(f"[{index}] {_shown(name)} is not a built-in tool")
        else:
            seen.add(name)
    if problems or unknown:
        code = "BAD_TOOL_NAMES" if problems else "UNKNOWN_TOOL"
        raise ToolError(f"tool_names: {'; '.join(problems + unknown)}", code=code)
    return tuple(BUILTIN_TOOLS[name] for name in names)


def conversation_unsafe(tools: Iterable[ToolDefinition]) -> tuple[str, ...]:
    """The names of ``tools`` to avoid in a chat (no live call), in order."""
    return tuple(tool.name for tool in tools if tool.conversation == "avoid")
