"""The conversation engine an AI step talks to: messages and tools in, text and tool calls out.

An engine is anything with ``async reply(messages, tools) -> Reply``: an LLM client, a rule
set, or :class:`ScriptedEngine`, which answers from a script and is what tests and examples use.
Flows (``ai_talk``, ``ai_summary``, conversations) and the media ``Agent`` pipeline both speak to
engines through this one protocol.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal, Protocol, runtime_checkable

import attrs

from ._errors import ProviderError

__all__ = ["ConversationEngine", "Message", "Reply", "ScriptedEngine", "ToolCall"]

Role = Literal["system", "user", "assistant", "tool"]
_ROLES = ("system", "user", "assistant", "tool")


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


def _calls(value: Iterable[ToolCall]) -> tuple[ToolCall, ...]:
    return tuple(value)


@attrs.frozen
class ToolCall:
    """The engine asks for tool ``name`` with ``arguments``; ``id`` ties the result to it."""

    name: str = attrs.field(validator=attrs.validators.instance_of(str))
    arguments: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    id: str = ""


@attrs.frozen
class Message:
    """One message of a conversation; a ``tool`` message answers the call named ``tool_call_id``."""

    role: Role = attrs.field(validator=attrs.validators.in_(_ROLES))
    content: str = attrs.field(validator=attrs.validators.instance_of(str))
    tool_call_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = attrs.field(default=(), converter=_calls)


@attrs.frozen
class Reply:
    """What the engine says (``text``, possibly empty) and the tools it wants called."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = attrs.field(default=(), converter=_calls)

    @classmethod
    def of(cls, value: Reply | str | Mapping[str, Any]) -> Reply:
        """A reply from a script entry: a Reply, plain text, or ``{"text", "tool_calls"}``
        where each call is ``{"name", "arguments"?, "id"?}``."""
        if isinstance(value, Reply):
            return value
        if isinstance(value, str):
            return cls(value)
        if not isinstance(value, Mapping):
            raise ProviderError(f"a scripted reply is text or an object, not {value!r:.60}")
        unknown = set(value) - {"text", "tool_calls"}
        if unknown:
            raise ProviderError(f"a scripted reply has unknown keys: {sorted(map(str, unknown))}")
        text = value.get("text", "")
        calls = value.get("tool_calls", ())
        if not isinstance(text, str) or not isinstance(calls, list | tuple):
            raise ProviderError("a scripted reply's text is text and its tool_calls a list")
        parsed: list[ToolCall] = []
        for i, call in enumerate(calls):
            if (
                not isinstance(call, Mapping)
                or not isinstance(call.get("name"), str)
                or not isinstance(call.get("arguments", {}), Mapping)
                or set(call) - {"name", "arguments", "id"}
            ):
                raise ProviderError(
                    f"tool_calls[{i}] must be {{name, arguments?, id?}}, not {call!r:.60}"
                )
            parsed.append(
                ToolCall(call["name"], call.get("arguments", {}), str(call.get("id", "")))
            )
        return cls(text, parsed)


@runtime_checkable
class ConversationEngine(Protocol):
    """Answers a conversation. ``tools`` are OpenAI-style specs (``{"type": "function", ...}``)."""

    async def reply(
        self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]]
    ) -> Reply: ...


class ScriptedEngine:
    """An engine that gives its script's replies in order, then empty replies.

    It records every conversation it was shown in ``seen`` (a list of message tuples), so a
    test can check what the engine was told, including the context kept across turns.

    >>> import asyncio
    >>> engine = ScriptedEngine(["Hello!", {"tool_calls": [{"name": "stop_service"}]}])
    >>> asyncio.run(engine.reply([Message("user", "Hi")], [])).text
    'Hello!'
    >>> asyncio.run(engine.reply([], [])).tool_calls[0].name
    'stop_service'
    >>> asyncio.run(engine.reply([], []))
    Reply(text='', tool_calls=())
    """

    def __init__(self, script: Iterable[Reply | str | Mapping[str, Any]] = ()) -> None:
        self._replies = [Reply.of(entry) for entry in script]
        self._next = 0
        self.seen: list[tuple[Message, ...]] = []

    @property
    def remaining(self) -> int:
        """Replies of the script not given yet."""
        return len(self._replies) - self._next

    async def reply(self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]]) -> Reply:
        self.seen.append(tuple(messages))
        if self._next >= len(self._replies):
            return Reply()
        self._next += 1
        return self._replies[self._next - 1]
