"""`ToolRunner`: runs an AI's tool calls for one call, offline (flows) or live (the `Agent`).

A runner is made per call with the tools the engine was offered (built-in names, as an AI's
``tool_names`` lists them, and webhook `Function` objects), the call it serves, the call's
variables (shared: ``set_variables`` writes into the mapping given), an `HttpPolicy` and a
time limit.
``await runner.run(tool_call)`` gives a `ToolResult`: what the engine is told (``result``,
JSON-able), what the call should do (``outcome``: a transfer for ``connect_call``, a stop for
``stop_service``, the end of the call for ``stop_flow``), what the backend should do
(``events``: an email, a message, a connection) and, when it failed, an ``error`` code.

Nothing a tool does ends the call by itself: a tool that was not offered is refused, one that
fails or outlasts its time limit gives an error result, and each failure is kept in
``runner.errors`` (code and message only, never arguments or secrets). Webhook bodies are
rendered (JSON-Schema check, sandboxed template) in a worker thread, so a call's audio keeps
flowing while a tool runs.

>>> import asyncio
>>> from providers import ToolCall
>>> runner = ToolRunner(["set_variables", "connect_call"])
>>> asyncio.run(runner.run(ToolCall("set_variables", {"variables": {"order": "soup"}}))).result
{'result': 'success'}
>>> runner.variables["order"]
'soup'
>>> transfer = ToolCall("connect_call", {"destinations": [{"type": "extension", "target": "1001"}]})
>>> asyncio.run(runner.run(transfer)).outcome
Outcome(kind='transfer', destination='1001', code=None, detail='')
>>> refused = asyncio.run(runner.run(ToolCall("stop_flow")))
>>> refused.error, refused.result["error"]
('TOOL_NOT_OFFERED', "no tool 'stop_flow' is available")
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import attrs

from cxml import CallRequest, CxmlError

from .._conversation import Message, ToolCall
from .._errors import ToolError
from ._builtin import resolve_tool_names
from ._function import Function
from ._guard import HttpPolicy

if TYPE_CHECKING:
    from ..media._outcome import Outcome
    from ..media.engine import StreamCall

__all__ = ["ToolEvent", "ToolResult", "ToolRunner"]

#: The longest text ``set_variables`` stores in one variable (VoIPBIN's 32 KiB).
MAX_VALUE: Final = 32 * 1024
#: Failures a runner keeps (the latest).
_KEPT: Final = 100
_MAX_DESTINATION: Final = 256


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen
class ToolEvent:
    """Something a tool asks the backend to do: ``email`` and ``message`` (the engine's
    arguments), ``connect`` (``destinations``). The data is the engine's, never keywords."""

    kind: str
    data: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen)


@attrs.frozen
class ToolResult:
    """What one tool call gave: ``result`` is what the engine is told; ``outcome`` how the
    call should go on (None: it goes on as it is); ``error`` the code when the tool failed."""

    name: str
    call_id: str
    result: Any
    outcome: Outcome | None = None
    events: tuple[ToolEvent, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def message(self) -> Message:
        """The ``tool`` message that answers the call in the conversation."""
        return Message("tool", json.dumps(self.result, default=str), tool_call_id=self.call_id)


class _Failed(Exception):  # noqa: N818 (control flow inside run)
    """A tool failed with ``code`` and ``message``; ``result`` may add fields for the engine."""

    def __init__(self, code: str, message: str, **result: Any) -> None:
        self.code, self.message, self.result = code, message, result


def _outcome(kind: str, destination: str | None = None) -> Outcome:
    # providers.media imports providers.tools, so the outcome type is imported on first use.
    from ..media._outcome import Outcome

    return Outcome(kind, destination=destination)  # type: ignore[arg-type]  # kinds are ours


def _call_payload(call: CallRequest | StreamCall | Mapping[str, Any] | None) -> dict[str, Any]:
    """The call as the webhook template's ``call`` sees it (the platform's field names)."""
    if call is None:
        return {}
    if isinstance(call, CallRequest):
        return call.to_payload()
    if isinstance(call, Mapping):
        return dict(call)
    fields = {
        "CallSid": call.call_sid,
        "StreamSid": call.stream_sid or None,
        "AccountSid": call.account_sid,
        "Session": call.session,
        "From": call.caller,
        "To": call.callee,
    }
    return {k: v for k, v in fields.items() if v is not None}


def _destination(arguments: Mapping[str, Any]) -> str:
    """The first destination's target: where ``connect_call`` sends the caller."""
    destinations = arguments.get("destinations")
    first = destinations[0] if isinstance(destinations, list) and destinations else None
    target = first.get("target") if isinstance(first, Mapping) else None
    if (
        not isinstance(target, str)
        or not target.strip()
        or len(target) > _MAX_DESTINATION
        or not target.isprintable()
    ):
        raise _Failed("INVALID_ARGUMENTS", "connect_call: destinations[0].target must be text")
    return target.strip()


class ToolRunner:
    """Runs the tool calls of one call's AI (see the module's documentation).

    ``tools`` are built-in tool names (``["all"]``, ``[]`` or names: `resolve_tool_names`);
    ``functions`` the webhook tools. ``call`` is the `cxml.CallRequest`, the media
    `StreamCall` or the payload the webhooks see as ``call``. ``variables`` is the call's
    variable mapping (kept, not copied). ``timeout`` is each tool call's time limit in seconds.
    ``on_event`` receives each `ToolEvent` (send the email, log the connection); a failure
    there is the tool's failure.

    Raises `ToolError` for bad ``tools`` (``UNKNOWN_TOOL``, ``BAD_TOOL_NAMES``), two tools of
    one name (``DUPLICATE_TOOL``) or a time limit that is not a positive number.
    """

    def __init__(
        self,
        tools: Sequence[str] = (),
        functions: Iterable[Function] = (),
        *,
        call: CallRequest | StreamCall | Mapping[str, Any] | None = None,
        variables: MutableMapping[str, str] | None = None,
        policy: HttpPolicy | None = None,
        timeout: float = 10.0,
        on_event: Callable[[ToolEvent], Awaitable[None]] | None = None,
    ) -> None:
        builtins = {t.name: t for t in resolve_tool_names(tools)}
        webhooks: dict[str, Function] = {}
        for function in functions:
            if not isinstance(function, Function):
                raise ToolError(f"functions: {function!r:.40} is not a Function")
            if function.name in builtins or function.name in webhooks:
                raise ToolError(f"two tools are named {function.name!r}", code="DUPLICATE_TOOL")
            webhooks[function.name] = function
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ToolError("timeout: expected a positive number of seconds")
        self._builtins, self._functions = builtins, webhooks
        self.call = call
        self.variables: MutableMapping[str, str] = {} if variables is None else variables
        self.policy = policy or HttpPolicy()
        self.timeout = float(timeout)
        self.on_event = on_event
        #: The latest failures (code and message), oldest first.
        self.errors: collections.deque[ToolError] = collections.deque(maxlen=_KEPT)

    @classmethod
    def for_assistant(
        cls,
        config: Mapping[str, Any],
        functions: Iterable[Function] = (),
        **options: Any,
    ) -> ToolRunner:
        """A runner offering what an assistant's ``config`` lists in ``tool_names`` (none if
        absent) and ``functions``; ``options`` as for the constructor."""
        return cls(list(config.get("tool_names") or []), functions, **options)

    @property
    def names(self) -> tuple[str, ...]:
        """The tools offered: built-ins first, in their order, then the functions."""
        return (*self._builtins, *self._functions)

    def specs(self) -> list[dict[str, Any]]:
        """The tool specs to offer the engine (``{"type": "function", ...}``)."""
        return [t.spec() for t in self._builtins.values()] + [
            f.spec() for f in self._functions.values()
        ]

    async def run(self, call: ToolCall, *, messages: Sequence[Message] = ()) -> ToolResult:
        """Run one tool call within the time limit; never raises for what the tool did.
        ``messages`` is the conversation so far (what ``get_aicall_messages`` reads)."""
        name = call.name
        try:
            if name not in self._builtins and name not in self._functions:
                raise _Failed("TOOL_NOT_OFFERED", f"no tool {name!r} is available")
            try:
                async with asyncio.timeout(self.timeout):
                    return await self._run(call, messages)
            except TimeoutError:
                raise _Failed(
                    "TOOL_TIMEOUT", f"{name}: no answer within {self.timeout:g} s"
                ) from None
        except _Failed as failed:
            return self._failure(call, failed)
        except CxmlError as exc:
            return self._failure(call, _Failed(str(exc.code), exc.message))
        except Exception as exc:  # a tool's own bug must not end the call
            return self._failure(
                call, _Failed("TOOL_FAILED", f"{name} failed: {type(exc).__name__}")
            )

    def _failure(self, call: ToolCall, failed: _Failed) -> ToolResult:
        self.errors.append(ToolError(failed.message, code=failed.code))
        result = {"error": failed.message, "code": failed.code, **failed.result}
        return ToolResult(call.name, call.id, result, error=failed.code)

    async def _run(self, call: ToolCall, messages: Sequence[Message]) -> ToolResult:
        name, args = call.name, dict(call.arguments)
        if name in self._functions:
            return await self._webhook(call, self._functions[name], args)
        outcome: Outcome | None = None
        events: tuple[ToolEvent, ...] = ()
        result: Any = {"result": "success"}
        if name == "set_variables":
            values = args.get("variables")
            if not isinstance(values, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in values.items()
            ):
                raise _Failed("INVALID_ARGUMENTS", "variables must map names to text")
            if any(len(v) > MAX_VALUE for v in values.values()):
                raise _Failed(
                    "INVALID_ARGUMENTS", f"a value may hold at most {MAX_VALUE} characters"
                )
            self.variables.update(values)
        elif name == "get_variables":
            names = args.get("names")
            wanted = (
                [n for n in names if isinstance(n, str)]
                if isinstance(names, list)
                else list(self.variables)
            )
            result = {"variables": {n: self.variables.get(n, "") for n in wanted}}
        elif name == "get_aicall_messages":
            result = {
                "messages": [
                    {"role": m.role, "content": m.content} for m in messages if m.role != "tool"
                ]
            }
        elif name == "connect_call":
            outcome = _outcome("transfer", _destination(args))
            events = (ToolEvent("connect", {"destinations": args["destinations"]}),)
        elif name == "stop_service":
            outcome = _outcome("stop")
        elif name == "stop_flow":
            outcome = _outcome("finished")  # seed 001: a hard stop, the call ends
        elif name in ("send_email", "send_message"):
            events = (ToolEvent("email" if name == "send_email" else "message", args),)
        elif name == "search_knowledge":
            raise _Failed("NO_KNOWLEDGE_BASE", "no knowledge base is attached")
        # stop_media: nothing plays beside the AI here; it succeeds and the AI goes on.
        if self.on_event is not None:
            for event in events:
                await self.on_event(event)
        return ToolResult(name, call.id, result, outcome, events)

    async def _webhook(
        self, call: ToolCall, function: Function, args: dict[str, Any]
    ) -> ToolResult:
        # The schema check and the template may take a while on hostile input: off the loop.
        body = await asyncio.to_thread(
            function.render, args, call=_call_payload(self.call), variables=dict(self.variables)
        )
        answer = await function.post(body, self.policy)
        result = {"status": answer.status, "body": answer.body}
        if not answer.ok:
            raise _Failed(
                "WEBHOOK_FAILED", f"{function.name}: the webhook answered {answer.status}", **result
            )
        return ToolResult(call.name, call.id, result)
