"""Running a flow offline, step by step, the way VoIPBIN's flow manager does (flows.md §4-§6).

`run` walks the actions from the first: ``next_id`` or the next in the list, jumps set by goto,
branch and the conditions, sub-flows pushed by ``fetch``/``fetch_flow`` that return to the
action after them. Before each step the action's options are substituted with the flow's
variables. Every step and what it did is an `Event` in the result's trace; nothing is sent to
a real call. What the world does is given: `Caller` says what the caller speaks and keys in,
a `ConversationEngine` answers for the AI, webhook tools and ``webhook_send``/``fetch`` go
through providers' guarded HTTP client.

Rules kept from VoIPBIN: at most ``step_limit`` (100) steps; a goto jumps ``loop_count`` times
per run and is a no-op without one; branch resets the variable it read; condition_variable
compares the substituted ``variable`` text; condition_datetime compares ``option ⟨op⟩ now``
in UTC, with weekdays counted from Sunday = 0 and an omitted hour or minute meaning 0 (-1 is
"any"); actions of the other media class are skipped; ``webhook_send``, ``email_send`` and
``variable_set`` failures are logged and the flow goes on, while a failed ``fetch``, a jump to
a missing id (a branch's value with no target and no default too) or a bad option value ends
the run as ``failed``.

An AI step (``ai``, ``ai_talk``) lets the AI speak first, then alternates: the caller's next
utterance, the engine's reply, the tools it calls (a bounded number of rounds per turn). It
ends when the engine calls ``stop_service`` (the flow goes on), ``stop_flow`` (the run ends),
``connect_call`` (the caller is connected; the flow goes on), or when the caller has nothing
more to say. Messages are kept across turns, so the engine sees the whole conversation.
Tools run through `providers.ToolRunner`, the one a live call's ``Agent`` uses; an assistant's
own webhook functions are offered besides its ``tool_names``.

``ai_summary`` asks the engine for a summary of what was said; with ``real_time`` the summary
is asked for again after each later step or AI turn that added words, and when the run ends
(each version a ``summary`` event with its ``update`` number). A ``POST /calls`` body runs as
the outgoing call it places: its ``source`` and first destination fill ``voipbin.call.*``.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Literal, Protocol

import attrs

from cxml import CallRequest, CxmlError
from providers import (
    AIAssistant,
    ConversationEngine,
    Function,
    HttpPolicy,
    Message,
    Reply,
    ToolCall,
    ToolResult,
    ToolRunner,
    elevenlabs_voice,
    guarded_request,
    resolve_tool_names,
)

from ._catalog import ACTIONS
from ._flow import Action, Flow, FlowError, load_flow, thawed
from ._validate import type_problem
from ._variables import BUILTIN_VARIABLES, VariableError, check_initial_variables, substitute

__all__ = ["Caller", "Conversation", "Event", "FlowRunError", "RunResult", "prepare", "run"]

Media = Literal["rtc", "non_rtc"]
Status = Literal["finished", "stopped", "hangup", "blocked", "step_limit", "failed"]

#: Engine and tool round trips one AI turn may take before the step gives up on it.
MAX_TOOL_ROUNDS: Final = 8
#: Turns one AI step may take (a caller script is finite, an engine may not be).
MAX_AI_TURNS: Final = 50
#: The tools that end an AI step when they succeed.
_CONTROLS: Final = frozenset({"stop_service", "stop_flow", "connect_call"})
#: Seconds a tool may run beyond its HTTP policy's time limit (rendering, the event hooks).
_TOOL_GRACE: Final = 5.0
_SUMMARY_PROMPT: Final = (
    "Summarize the following {kind} in {language}: who called, what they wanted, what was "
    "agreed, and what happens next. Answer with the summary only."
)


class FlowRunError(CxmlError):
    """A run cannot start: bad arguments, not a bad flow step (those end the run as failed)."""

    code: int | str = "BAD_RUN"


@attrs.frozen
class Event:
    """One thing a step did: ``kind`` (``talk``, ``ai_said``, ``tool_call``, ``error`` …),
    ``path`` (the action's JSON path, ``$.actions[3]``), ``data`` (what it did, as values)."""

    kind: str
    path: str
    data: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class RunResult:
    """How a run ended (``status``), its trace, its variables at the end and the AI messages."""

    status: Status
    events: tuple[Event, ...]
    variables: Mapping[str, str]
    steps: int
    messages: tuple[Message, ...] = ()

    def of(self, kind: str) -> list[Event]:
        """The events of one kind, in order."""
        return [e for e in self.events if e.kind == kind]


def _texts(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class Caller:
    """What the caller does: ``says`` one utterance per AI turn, ``digits`` one entry per
    digits_receive (``""`` is a timeout), in order."""

    says: tuple[str, ...] = attrs.field(default=(), converter=_texts)
    digits: tuple[str, ...] = attrs.field(default=(), converter=_texts)


# -- the run ----------------------------------------------------------------------------------


async def run(
    flow: Flow | object,
    *,
    engine: ConversationEngine | None = None,
    assistants: Mapping[str, AIAssistant] | None = None,
    call: CallRequest | None = None,
    media: Media = "rtc",
    variables: Mapping[str, str] | None = None,
    caller: Caller | None = None,
    functions: Sequence[Function] = (),
    http: HttpPolicy | None = None,
    flows: Mapping[str, Flow | object] | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    step_limit: int = 100,
    strict: bool = False,
) -> RunResult:
    """Run ``flow`` to its end and return what happened.

    ``media`` is ``"rtc"`` for a flow on a live call (``call`` fills the ``voipbin.call.*``
    variables) and ``"non_rtc"`` for one without (API runs, conversations): actions of the other
    class are skipped, as VoIPBIN does. ``variables`` are the injected initial values (VoIPBIN's
    rules: strings, no ``voipbin.`` names). ``assistants`` are the AI configurations that
    ``assistance_id`` names; ``engine`` answers every AI step. ``functions`` are webhook tools
    an AI may call when its ``tool_names`` lists them; ``http`` is the policy for every outbound
    request (webhooks, fetch). ``flows`` are the flows ``fetch_flow`` may load, by id.
    ``strict`` makes an unknown ``${name}`` end the run (``UNKNOWN_VARIABLE``) instead of
    reading as empty.
    """
    loaded, state = prepare(
        flow,
        engine=engine,
        assistants=assistants,
        call=call,
        media=media,
        variables=variables,
        caller=caller,
        functions=functions,
        http=http,
        flows=flows,
        clock=clock,
        strict=strict,
    )
    return state.result(await state.execute(loaded.actions, step_limit))


def prepare(
    flow: Flow | object,
    *,
    engine: ConversationEngine | None,
    assistants: Mapping[str, AIAssistant] | None,
    call: CallRequest | None,
    media: Media,
    variables: Mapping[str, str] | None,
    caller: Caller | None,
    functions: Sequence[Function],
    http: HttpPolicy | None,
    flows: Mapping[str, Flow | object] | None,
    clock: Callable[[], dt.datetime] | None,
    strict: bool,
    conversation: Conversation | None = None,
) -> tuple[Flow, _Run]:
    """The flow and a run state ready to execute it (shared by `run` and conversations)."""
    if not isinstance(flow, Flow):
        flow = load_flow(flow, tools=[f.name for f in functions])
    if media not in ("rtc", "non_rtc"):
        raise FlowRunError(f"media must be 'rtc' or 'non_rtc', not {media!r}")
    state = _Run(
        media=media,
        engine=engine,
        assistants=dict(assistants or {}),
        call=call,
        caller=caller or Caller(),
        functions={f.name: f for f in functions},
        http=http or HttpPolicy(),
        flows=dict(flows or {}),
        clock=clock or (lambda: dt.datetime.now(dt.UTC)),
        strict=strict,
        conversation=conversation,
    )
    # A POST /calls body brings its own initial variables; those given here win.
    written = flow.fields.get("variables")
    initial = (
        {**thawed(written), **(variables or {})} if isinstance(written, Mapping) else variables
    )
    try:
        state.variables.update(check_initial_variables(initial or {}))
    except VariableError as exc:
        raise FlowRunError(exc.message, code="BAD_VARIABLES") from None
    state.start_variables(flow.fields)
    return flow, state


class Conversation(Protocol):
    """How an ``ai_talk`` step answers in a text conversation: it starts the reply and the
    flow moves on at once (VoIPBIN delivers chat replies asynchronously)."""

    def start_reply(
        self,
        run: _Run,
        engine: ConversationEngine,
        prompt: str,
        tools: Sequence[Mapping[str, Any]],
        path: str,
    ) -> None: ...


@attrs.define(eq=False)
class _Frame:
    """One stack of actions: the flow, or a sub-flow a fetch pushed, with its cursor."""

    actions: Sequence[Action]
    prefix: str
    index: int = 0


@attrs.frozen
class _Jump:
    """Where a step continues: ``index`` in ``frame`` (which may be below the current one)."""

    frame: _Frame
    index: int


class _Stop(Exception):  # noqa: N818 (control flow, not an error)
    """Ends the run with ``status`` (raised from deep inside a step)."""

    def __init__(self, status: Status) -> None:
        self.status = status


@attrs.define(eq=False)
class _Summary:
    """An ``ai_summary`` of the run: what it summarises, and for a real-time one, how many
    lines of the conversation its latest version covers."""

    path: str
    id: str
    kind: str
    reference: str
    language: str
    real_time: bool = False
    covered: int = 0
    updates: int = 0


@attrs.define
class _Run:
    media: Media
    engine: ConversationEngine | None
    assistants: dict[str, AIAssistant]
    call: CallRequest | None
    caller: Caller
    functions: dict[str, Function]
    http: HttpPolicy
    flows: dict[str, Flow | object]
    clock: Callable[[], dt.datetime]
    strict: bool
    conversation: Conversation | None = None
    variables: dict[str, str] = attrs.field(factory=dict)
    events: list[Event] = attrs.field(factory=list)
    #: Every AI message of the run, in order, for ai_summary and the result.
    transcript: list[Message] = attrs.field(factory=list)
    steps: int = 0
    elapsed: dt.timedelta = dt.timedelta()
    said: int = 0
    keyed: int = 0
    loops: dict[tuple[str, int], int] = attrs.field(factory=dict)
    stack: list[_Frame] = attrs.field(factory=list)
    #: The real-time summaries (``ai_summary`` with ``real_time``) kept up to date.
    live: list[_Summary] = attrs.field(factory=list)
    #: The webhook functions of the assistants AI steps talked with, by name: offered by
    #: those steps only (`tools` decides what a step offers), run by name like the run's.
    own_functions: dict[str, Function] = attrs.field(factory=dict)

    def emit(self, kind: str, path: str, **data: Any) -> None:
        self.events.append(Event(kind, path, data))

    def record(self, action: Action, path: str, **data: Any) -> None:
        """An event named after the action, holding its options (and ``data``)."""
        self.events.append(Event(action.type, path, {**thawed(dict(action.option or {})), **data}))

    def result(self, status: Status) -> RunResult:
        return RunResult(
            status, tuple(self.events), dict(self.variables), self.steps, tuple(self.transcript)
        )

    def fail(self, path: str, code: str, message: str) -> _Stop:
        self.emit("error", path, code=code, message=message)
        return _Stop("failed")

    def now(self) -> dt.datetime:
        return self.clock().astimezone(dt.UTC) + self.elapsed

    def start_variables(self, fields: Mapping[str, Any]) -> None:
        call, v = self.call, self.variables
        v["voipbin.activeflow.id"] = str(uuid.uuid4())
        v["voipbin.activeflow.reference_type"] = "call" if self.media == "rtc" else "api"
        if self.media == "rtc":
            sid = call.call_sid if call is not None and call.call_sid else str(uuid.uuid4())
            v["voipbin.call.id"] = sid
            v["voipbin.activeflow.reference_id"] = sid
        destinations = fields.get("destinations")
        if call is None and isinstance(destinations, tuple) and destinations:
            # A POST /calls body: the call it places goes out from its source to the first
            # destination that answers (offline: the first).
            v["voipbin.call.direction"] = "outgoing"
            ends = (("source", fields.get("source")), ("destination", destinations[0]))
            for side, address in ends:
                for key in ("type", "target", "target_name", "name", "detail"):
                    value = address.get(key) if isinstance(address, Mapping) else None
                    if isinstance(value, str):
                        v[f"voipbin.call.{side}.{key}"] = value
        if call is not None:
            outbound = (call.direction or "").startswith("outbound")
            v["voipbin.call.direction"] = "outgoing" if outbound else "incoming"
            for side, number in (("source", call.from_), ("destination", call.to)):
                if number:
                    v[f"voipbin.call.{side}.target"] = number
                    v[f"voipbin.call.{side}.type"] = "tel" if number.startswith("+") else ""

    async def execute(self, actions: Sequence[Action], step_limit: int = 100) -> Status:
        if type(step_limit) is not int or step_limit < 1:
            raise FlowRunError("step_limit must be at least 1")
        self.stack = [_Frame(actions, "$.actions")]
        status: Status = "finished"
        try:
            while self.stack:
                frame = self.stack[-1]
                if frame.index >= len(frame.actions):
                    self.stack.pop()  # a sub-flow returns to the action after its caller
                    continue
                if self.steps >= step_limit:
                    self.emit("limit", self.path(frame), steps=self.steps)
                    return "step_limit"
                self.steps += 1
                path = self.path(frame)
                await self.step(frame)
                await self.refresh(path)
        except _Stop as stop:
            status = stop.status
        if status != "failed":
            try:  # the call has ended: real-time summaries take in its last words
                await self.refresh("$")
            except _Stop as stop:
                status = stop.status
        return status

    def conversation_lines(self) -> list[str]:
        """What was said so far, one ``role: text`` line each: what a summary reads."""
        lines = [
            f"{m.role}: {m.content}"
            for m in self.transcript
            if m.role in ("user", "assistant") and m.content
        ]
        return lines + [f"assistant: {e.data['text']}" for e in self.events if e.kind == "talk"]

    async def summarize(self, summary: _Summary, after: str | None = None) -> None:
        """Summarise the conversation so far into ``${voipbin.ai_summary.*}``; an event
        ``summary`` (for a real-time summary's updates: ``update`` counts them and ``after``
        is the step whose words it took in)."""
        engine = self.need_engine(summary.path)
        lines = self.conversation_lines()
        prompt = _SUMMARY_PROMPT.format(kind=summary.kind, language=summary.language)
        try:
            reply = Reply.of(
                await engine.reply(
                    (Message("system", prompt), Message("user", "\n".join(lines))), ()
                )
            )
        except CxmlError as exc:
            raise self.fail(
                summary.path, str(exc.code), f"the engine failed: {exc.message}"
            ) from None
        summary.covered = len(lines)
        self.variables.update(
            {
                "voipbin.ai_summary.id": summary.id,
                "voipbin.ai_summary.content": reply.text,
                "voipbin.ai_summary.reference_type": summary.kind,
                "voipbin.ai_summary.reference_id": summary.reference,
                "voipbin.ai_summary.language": summary.language,
            }
        )
        extra: dict[str, Any] = {}
        if summary.real_time:
            extra = {"real_time": True, "update": summary.updates}
            if after is not None:
                extra["after"] = after
            summary.updates += 1
        self.emit("summary", summary.path, id=summary.id, content=reply.text, **extra)

    async def refresh(self, after: str) -> None:
        """Update each real-time summary when the conversation has grown since its last
        version (``after`` is the step, or ``$`` for the end of the call)."""
        if not self.live:
            return
        grown = len(self.conversation_lines())
        for summary in self.live:
            if grown > summary.covered:
                await self.summarize(summary, after)

    def path(self, frame: _Frame) -> str:
        return f"{frame.prefix}[{frame.index}]"

    async def step(self, frame: _Frame) -> None:
        written = frame.actions[frame.index]
        path = self.path(frame)
        needs = ACTIONS[written.type].media
        if needs in ("any", self.media):
            jump = await self.perform(written, path, frame)
        else:
            self.emit("skipped", path, type=written.type, reason=f"needs {needs} media")
            jump = None
        if jump is None and written.next_id is not None:
            jump = self.find(frame, written.next_id, f"{path}.next_id")
        if jump is None:
            frame.index += 1  # a sub-flow this step pushed runs first, then this frame resumes
        else:
            jump.frame.index = jump.index

    async def perform(self, written: Action, path: str, frame: _Frame) -> _Jump | None:
        """Substitute the action's options and do it; a jump says where to continue."""
        try:
            option = substitute(
                thawed(written.option or {}),
                self.variables,
                strict=self.strict,
                path=f"{path}.option",
            )
        except VariableError as exc:
            raise self.fail(exc.path, str(exc.code), exc.message) from None
        action = Action(written.type, self.typed(written.type, option, path), written.id,
                        written.next_id)  # fmt: skip
        handler = _HANDLERS.get(action.type)
        if handler is not None:
            return await handler(self, action, path, frame)
        # Media operations with no result a flow can read: recorded as they were asked for.
        self.record(action, path)
        return None

    def find(self, frame: _Frame, target: object, path: str) -> _Jump:
        """Where ``target`` is: in this frame, else (as VoIPBIN) in the frames below it."""
        for below in reversed(self.stack[: self.stack.index(frame) + 1]):
            for index, action in enumerate(below.actions):
                if action.id == target:
                    # Jumping into an outer stack drops the sub-flows above it.
                    while self.stack[-1] is not below:
                        self.stack.pop()
                    return _Jump(below, index)
        raise self.fail(path, "DANGLING_TARGET", f"no action has the id {target}")

    def typed(self, kind: str, option: Mapping[str, Any], path: str) -> dict[str, Any]:
        """The substituted options checked again against the action's spec, which the
        validator could not do for values written as ``${...}``: numbers and booleans are
        read from their text, and anything of the wrong type or out of range ends the run."""
        spec = ACTIONS[kind]
        out = dict(option)
        for key, written in option.items():
            found = spec.option(key)
            if found is None:
                continue
            opt, where, value = found[1], f"{path}.option.{key}", written
            if isinstance(value, str) and opt.type in ("int", "float", "bool"):
                value = out[key] = _from_text(opt.type, value)
            problem = type_problem(opt, value)
            if problem is None and opt.type in ("int", "float") and abs(value) > _MAX_NUMBER:
                problem = f"must be at most {_MAX_NUMBER} in size"
            if problem is not None:
                code = "BAD_ENUM" if opt.type == "enum" and isinstance(value, str) else "WRONG_TYPE"
                raise self.fail(where, code, f"{value!r:.40} after substitution: {problem}")
        return out

    # -- tools and AI -----------------------------------------------------------------------

    def ai_config(self, action: Action, path: str) -> tuple[AIAssistant | None, dict[str, Any]]:
        """The assistant an AI action names and its settings, inline options winning."""
        ident = action.get("assistance_id") or action.get("ai_id")
        if action.get("assistance_type") == "team":
            raise self.fail(
                f"{path}.option.assistance_type", "UNSUPPORTED", "AI teams are not simulated"
            )
        assistant = None
        if ident:
            assistant = self.assistants.get(ident)
            if assistant is None:
                raise self.fail(
                    f"{path}.option.assistance_id",
                    "UNKNOWN_ASSISTANT",
                    f"no assistant {ident!r} was given",
                )
            if assistant.status != "active":
                raise self.fail(
                    f"{path}.option.assistance_id",
                    "ASSISTANT_INACTIVE",
                    f"assistant {ident!r} is inactive",
                )
        settings: dict[str, Any] = dict(assistant.config) if assistant is not None else {}
        for name in ("initial_prompt", "engine_model", "voice_type", "tool_names"):
            value = action.get(name)
            if value is not None:
                settings["init_prompt" if name == "initial_prompt" else name] = value
        if "initial_prompt" in settings:
            settings.setdefault("init_prompt", settings.pop("initial_prompt"))
        return assistant, settings

    def tools(
        self, settings: Mapping[str, Any], path: str, assistant: AIAssistant | None = None
    ) -> list[dict[str, Any]]:
        """The specs an AI step offers: its ``tool_names`` (built-in tools and the run's
        webhook functions) and the assistant's own functions, offered on every call to it."""
        names = list(settings.get("tool_names") or [])
        webhooks = [n for n in names if n in self.functions]
        try:
            builtin = resolve_tool_names([n for n in names if n not in self.functions])
        except CxmlError as exc:
            raise self.fail(f"{path}.option.tool_names", str(exc.code), exc.message) from None
        own = {f.name: f for f in assistant.functions} if assistant is not None else {}
        clash = [n for n in [*webhooks, *(t.name for t in builtin)] if n in own]
        if clash:
            raise self.fail(
                f"{path}.option.tool_names", "DUPLICATE_TOOL",
                f"{clash[0]!r} is also a function of assistant {assistant.name!r}",  # type: ignore[union-attr]
            )  # fmt: skip
        self.own_functions.update(own)
        return (
            [t.spec() for t in builtin]
            + [self.functions[n].spec() for n in webhooks]
            + [f.spec() for f in own.values()]
        )

    def prompt(self, settings: Mapping[str, Any]) -> str:
        """The AI's system prompt, substituted with the flow's variables as they are now."""
        return substitute(str(settings.get("init_prompt") or ""), self.variables)

    def need_engine(self, path: str) -> ConversationEngine:
        if self.engine is None:
            raise self.fail(path, "NO_ENGINE", "an AI step needs an engine: pass engine=")
        return self.engine

    async def exchange(
        self,
        engine: ConversationEngine,
        messages: list[Message],
        tools: Sequence[Mapping[str, Any]],
        path: str,
        voice: str | None,
        *,
        speak: bool = True,
    ) -> tuple[str | None, list[str]]:
        """One AI turn: the engine's replies and the tools they call, until one calls none.
        Returns the control tool that ended the AI step (if any) and the texts said; with
        ``speak`` false the texts are not traced as said (a chat reply may yet be dropped)."""
        texts: list[str] = []
        offered = {t["function"]["name"] for t in tools}
        for _ in range(MAX_TOOL_ROUNDS):
            try:
                reply = Reply.of(await engine.reply(tuple(messages), tools))
            except CxmlError as exc:
                raise self.fail(path, str(exc.code), f"the engine failed: {exc.message}") from None
            message = Message("assistant", reply.text, tool_calls=reply.tool_calls)
            messages.append(message)
            self.transcript.append(message)
            if reply.text:
                texts.append(reply.text)
                if speak:
                    self.emit("ai_said", path, text=reply.text, voice=voice)
            if not reply.tool_calls:
                return None, texts
            control = None
            runner = self.runner(offered)
            for call in reply.tool_calls:
                if call.name in offered:
                    done = await self.tool(call, path, runner)
                else:  # the runner refuses what the AI was not given, whatever it asks for
                    done = await runner.run(call)
                    self.emit("tool_refused", path, name=call.name)
                answer = done.message()
                messages.append(answer)
                self.transcript.append(answer)
                if done.ok and call.name in _CONTROLS and control is None:
                    control = call.name
            if control is not None:
                return control, texts
        self.emit(
            "error",
            path,
            code="TOOL_LOOP",
            message=f"the engine called tools {MAX_TOOL_ROUNDS} times in one turn",
        )
        return "stop_service", texts

    def runner(self, offered: Iterable[str]) -> ToolRunner:
        """The tool runner of one AI turn offering ``offered`` (a webhook's name wins)."""
        names = list(dict.fromkeys(offered))
        functions = {**self.own_functions, **self.functions}
        return ToolRunner(
            [n for n in names if n not in functions],
            [functions[n] for n in names if n in functions],
            call=self.call,
            variables=self.variables,
            policy=self.http,
            # The policy's own limit speaks first; this one bounds the rest of a tool's work.
            timeout=self.http.total_timeout + _TOOL_GRACE,
        )

    async def tool(self, call: ToolCall, path: str, runner: ToolRunner) -> ToolResult:
        """Run one offered tool call through ``runner``, tracing the call, what it asks the
        backend to do (connect, email, message) and its result."""
        self.emit("tool_call", path, name=call.name, arguments=dict(call.arguments))
        done = await runner.run(call, messages=self.transcript)
        for event in done.events:
            extra = {"by": "ai"} if event.kind == "connect" else {}
            self.events.append(Event(event.kind, path, {**event.data, **extra}))
        self.emit("tool_result", path, name=call.name, result=done.result)
        return done


# -- the actions with an effect on the run ---------------------------------------------------

_Handler = Callable[[_Run, Action, str, _Frame], Awaitable[_Jump | None]]
_HANDLERS: dict[str, _Handler] = {}


def _handles(*kinds: str) -> Callable[[_Handler], _Handler]:
    def register(handler: _Handler) -> _Handler:
        for kind in kinds:
            _HANDLERS[kind] = handler
        return handler

    return register


@_handles("answer")
async def _answer(run: _Run, action: Action, path: str, frame: _Frame) -> None:
    run.emit("answer", path)


@_handles("talk")
async def _talk(run: _Run, action: Action, path: str, frame: _Frame) -> None:
    run.emit(
        "talk",
        path,
        text=action.get("text"),
        language=action.get("language"),
        voice=action.get("voice_id"),
    )


@_handles("play")
async def _play(run: _Run, action: Action, path: str, frame: _Frame) -> None:
    run.emit("play", path, urls=list(action.get("stream_urls") or []))


@_handles("sleep")
async def _sleep(run: _Run, action: Action, path: str, frame: _Frame) -> None:
    ms = action.get("duration")
    if not 0 <= ms <= _MAX_SLEEP:
        raise run.fail(f"{path}.option.duration", "WRONG_TYPE", f"sleep lasts 0 to {_MAX_SLEEP} ms")
    run.elapsed += dt.timedelta(milliseconds=ms)
    run.emit("sleep", path, duration=ms)


@_handles("hangup")
async def _hangup(run: _Run, action: Action, path: str, frame: _Frame) -> None:
    run.emit("hangup", path, reason=action.get("reason"))
    raise _Stop("hangup")


@_handles("stop")
async def _stop(run: _Run, action: Action, path: str, frame: _Frame) -> None:
    run.emit("stop", path)
    raise _Stop("stopped")


@_handles("block")
async def _block(run: _Run, action: Action, path: str, frame: _Frame) -> None:
    run.emit("block", path)
    raise _Stop("blocked")


@_handles("variable_set")
async def _variable_set(run: _Run, action: Action, path: str, frame: _Frame) -> None:
    key, value = str(action.get("key")), str(action.get("value"))
    run.variables[key] = value
    run.emit("variable_set", path, key=key, value=value)


@_handles("goto")
async def _goto(run: _Run, action: Action, path: str, frame: _Frame) -> _Jump | None:
    key = (frame.prefix, frame.index)
    if key not in run.loops:
        run.loops[key] = action.get("loop_count") or 0
    if run.loops[key] <= 0:
        run.emit("goto", path, target=action.get("target_id"), jumped=False)
        return None
    run.loops[key] -= 1
    run.emit("goto", path, target=action.get("target_id"), jumped=True, left=run.loops[key])
    return run.find(frame, action.get("target_id"), f"{path}.option.target_id")


@_handles("branch")
async def _branch(run: _Run, action: Action, path: str, frame: _Frame) -> _Jump | None:
    name = action.get("variable") or "voipbin.call.digits"
    value = run.variables.get(name, "")
    run.variables[name] = ""  # VoIPBIN resets what it branched on, so a re-entry asks anew
    targets = action.get("target_ids") or {}
    target = targets.get(value) or action.get("default_target_id")
    run.emit("branch", path, variable=name, value=value, target=target)
    if not target:  # VoIPBIN looks up the empty id, finds no action and stops the activeflow
        raise run.fail(
            f"{path}.option.default_target_id", "BRANCH_WITHOUT_DEFAULT",
            f"{value!r:.40} is not in target_ids and the branch has no default_target_id",
        )  # fmt: skip
    return run.find(frame, target, f"{path}.option.target_ids")


#: Numbers an option may hold (JSON's exact integers), so no step overflows a clock or a list.
_MAX_NUMBER: Final = 2**53
#: The longest a sleep may last, in milliseconds: a day.
_MAX_SLEEP: Final = 86_400_000


def _from_text(kind: str, text: str) -> Any:
    """A number or boolean read from substituted text; the text itself if it is neither."""
    if kind == "bool":
        return {"true": True, "false": False}.get(text.strip().lower(), text)
    try:
        return int(text) if kind == "int" else float(text)
    except ValueError:
        return text


_COMPARE: Final[Mapping[str, Callable[[Any, Any], bool]]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@_handles("condition_variable")
async def _condition_variable(run: _Run, action: Action, path: str, frame: _Frame) -> _Jump | None:
    compare = _COMPARE[action.get("condition")]
    text = str(action.get("variable"))
    kind = action.get("value_type")
    if kind == "number":
        expected = action.get("value_number") or 0.0
        try:
            held = compare(float(text), expected)
        except ValueError:
            held = False  # not a number: the comparison fails, as in VoIPBIN
    elif kind == "length":
        held = compare(len(text), action.get("value_length") or 0)
    else:
        held = compare(text, str(action.get("value_string") or ""))
    run.emit("condition", path, type="variable", value=text, held=held)
    return None if held else run.find(frame, action.get("false_target_id"), path)


@_handles("condition_datetime")
async def _condition_datetime(run: _Run, action: Action, path: str, frame: _Frame) -> _Jump | None:
    now = run.now()
    compare = _COMPARE[action.get("condition")]
    weekday = (now.weekday() + 1) % 7  # Go's time.Weekday: Sunday is 0
    held = True
    weekdays = action.get("weekdays")
    if weekdays:
        held = weekday in weekdays
    checks = (
        ("month", now.month, 1),
        ("day", now.day, 1),
        ("hour", now.hour, 0),
        ("minute", now.minute, 0),
    )
    for name, current, least in checks:
        value = action.get(name)
        value = 0 if value is None and least == 0 else value
        if held and value is not None and value >= least:
            held = compare(value, current)  # option ⟨op⟩ now, VoIPBIN's operand order
    run.emit("condition", path, type="datetime", at=now.isoformat(), held=held)
    return None if held else run.find(frame, action.get("false_target_id"), path)


@_handles("digits_receive")
async def _digits_receive(run: _Run, action: Action, path: str, frame: _Frame) -> None:
    entered = run.caller.digits[run.keyed] if run.keyed < len(run.caller.digits) else ""
    run.keyed += 1
    key, length = action.get("key"), action.get("length")
    if key:
        cut = min((entered.find(k) for k in key if k in entered), default=-1)
        entered = entered if cut < 0 else entered[:cut]
    if length:
        entered = entered[:length]
    run.variables["voipbin.call.digits"] = entered
    run.emit("digits", path, digits=entered)


@_handles("transcribe_start", "recording_start")
async def _start_capture(run: _Run, action: Action, path: str, frame: _Frame) -> None:
    group = "transcribe" if action.type == "transcribe_start" else "recording"
    ident = str(uuid.uuid4())
    run.variables[f"voipbin.{group}.id"] = ident
    for name in ("language", "direction", "format"):
        value = action.get(name)
        if value is not None and f"voipbin.{group}.{name}" in BUILTIN_VARIABLES:
            run.variables[f"voipbin.{group}.{name}"] = str(value)
    run.record(action, path, id=ident)


@_handles("connect")
async def _connect(run: _Run, action: Action, path: str, frame: _Frame) -> None:
    run.emit(
        "connect",
        path,
        destinations=thawed(action.get("destinations")),
        source=thawed(action.get("source")),
        by="flow",
    )


@_handles("email_send", "message_send")
async def _outbox(run: _Run, action: Action, path: str, frame: _Frame) -> None:
    # Sending is the backend's job; the trace says what would be sent.
    run.record(action, path)


@_handles("webhook_send")
async def _webhook_send(run: _Run, action: Action, path: str, frame: _Frame) -> None:
    method, uri = action.get("method") or "POST", str(action.get("uri"))
    data = action.get("data")
    body = data if isinstance(data, str) else json.dumps(thawed(data) or {})
    content_type = action.get("data_type") or "application/json"
    try:
        if not content_type.isascii() or not content_type.isprintable():
            raise CxmlError(f"data_type {content_type!r:.40} is not a media type", code="BAD_DATA")
        try:
            content = body.encode()
        except UnicodeEncodeError:
            raise CxmlError("data holds text UTF-8 cannot carry", code="BAD_DATA") from None
        response = await guarded_request(
            method, uri, headers={"Content-Type": content_type}, content=content, policy=run.http
        )
    except CxmlError as exc:  # logged, and the flow goes on (VoIPBIN)
        run.emit("error", path, code=str(exc.code), message=exc.message)
        return
    run.emit("webhook", path, method=method, uri=uri, status=response.status)


@_handles("fetch")
async def _fetch(run: _Run, action: Action, path: str, frame: _Frame) -> None:
    method, url = action.get("event_method") or "POST", str(action.get("event_url"))
    body = json.dumps(
        {
            "activeflow_id": run.variables["voipbin.activeflow.id"],
            "reference_id": run.variables.get("voipbin.activeflow.reference_id", ""),
        }
    )
    try:
        response = await guarded_request(
            method,
            url,
            headers={"Content-Type": "application/json"},
            content=body.encode() if method == "POST" else b"",
            policy=run.http,
        )
    except CxmlError as exc:
        raise run.fail(path, str(exc.code), exc.message) from None
    if response.status != 200:
        raise run.fail(path, "FETCH_FAILED", f"{url} answered {response.status}")
    try:
        actions = json.loads(response.body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the stack
        raise run.fail(path, "FETCH_FAILED", f"{url} did not answer JSON") from None
    run.emit("fetch", path, url=url, actions=len(actions) if isinstance(actions, list) else 0)
    _push(run, actions, f"{path}.fetched", path)


@_handles("fetch_flow")
async def _fetch_flow(run: _Run, action: Action, path: str, frame: _Frame) -> None:
    ident = str(action.get("flow_id"))
    if ident not in run.flows:
        raise run.fail(f"{path}.option.flow_id", "UNKNOWN_FLOW", f"no flow {ident!r} was given")
    run.emit("fetch_flow", path, flow_id=ident)
    _push(run, run.flows[ident], path, path)


def _push(run: _Run, data: object, prefix: str, path: str) -> None:
    """Run ``data``'s actions (a Flow, a flow object or a list of actions) next, then return
    after the current action."""
    if not isinstance(data, Flow):
        if isinstance(data, Mapping):
            data = data.get("actions")
        if not isinstance(data, list):
            raise run.fail(path, "INVALID_FLOW", "the fetched actions are not a valid flow ($)")
        try:
            data = load_flow(data, tools=run.functions)
        except FlowError as exc:
            where = exc.issues[0].path
            raise run.fail(
                path, "INVALID_FLOW", f"the fetched actions are not a valid flow ({where})"
            ) from None
    # The caller's frame moves past the fetch first (the step sets its index afterwards).
    run.stack.append(_Frame(data.actions, prefix))


@_handles("ai", "ai_talk")
async def _ai_talk(run: _Run, action: Action, path: str, frame: _Frame) -> None:
    engine = run.need_engine(path)
    assistant, settings = run.ai_config(action, path)
    tools = run.tools(settings, path, assistant)
    if run.conversation is not None:
        run.conversation.start_reply(run, engine, run.prompt(settings), tools, path)
        return
    language = settings.get("stt_language") or "en-US"
    voice = elevenlabs_voice(
        language,
        settings.get("voice_type"),
        override=run.variables.get("voipbin.tts.elevenlabs.voice_id")
        or settings.get("tts_voice_id"),
    )
    aicall = str(uuid.uuid4())
    run.variables.update(
        {
            "voipbin.aicall.id": aicall,
            "voipbin.aicall.ai_engine_model": str(settings.get("engine_model", "")),
            "voipbin.aicall.stt_language": str(settings.get("stt_language", "")),
        }
    )
    if action.get("assistance_id") or action.get("ai_id"):
        run.variables["voipbin.aicall.ai_id"] = str(
            action.get("assistance_id") or action.get("ai_id")
        )
    messages: list[Message] = []
    prompt = run.prompt(settings)
    if prompt:
        messages.append(Message("system", prompt))
        run.transcript.append(messages[-1])
    run.emit(
        "ai_start",
        path,
        aicall_id=aicall,
        tools=[t["function"]["name"] for t in tools],
        voice=voice,
    )
    for _ in range(MAX_AI_TURNS):
        control, _ = await run.exchange(engine, messages, tools, path, voice)
        await run.refresh(path)  # a real-time summary follows the conversation turn by turn
        if control == "stop_flow":
            run.emit("ai_end", path, reason="stop_flow")
            raise _Stop("stopped")
        if control is not None:
            run.emit("ai_end", path, reason=control)
            return
        if run.said >= len(run.caller.says):
            run.emit("ai_end", path, reason="caller_silent")
            return
        utterance = run.caller.says[run.said]
        run.said += 1
        run.emit("caller_said", path, text=utterance)
        messages.append(Message("user", utterance))
        run.transcript.append(messages[-1])
    run.emit("ai_end", path, reason="turn_limit")


@_handles("ai_summary")
async def _ai_summary(run: _Run, action: Action, path: str, frame: _Frame) -> None:
    run.need_engine(path)
    summary = _Summary(
        path,
        str(uuid.uuid4()),
        action.get("reference_type") or "call",
        action.get("reference_id") or run.variables.get("voipbin.call.id", ""),
        action.get("language") or "en-US",
        real_time=bool(action.get("real_time")),
    )
    await run.summarize(summary)
    if summary.real_time:
        run.live.append(summary)
