"""AI in text conversations (SMS, LINE): one AI session per conversation, reused across messages.

Each inbound message runs the number's flow afresh, without a live call (``non_rtc``); its
``ai_talk`` step starts the reply and the flow moves on at once, as in VoIPBIN (flows.md §7.5).
The session's messages carry the context from one message to the next. A new session starts
when the previous one called ``stop_service`` or ``stop_flow``, or sat idle longer than
``idle_timeout`` (24 hours by default). A message that arrives while the reply to an earlier
one is still being made supersedes it: the earlier reply is dropped, never delivered late.

Sessions live in a `StateStore` (JSON, expiring after ``idle_timeout``), as does the count of
each conversation's messages that decides which reply is the latest: with a `RedisStore`, any
process continues any conversation, and a message to one process supersedes a reply another
is still making.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from providers import AIAssistant, ConversationEngine, Function, HttpPolicy, Message, ToolCall

from ._flow import Flow, load_flow
from ._interpreter import RunResult, _Run, _Stop, prepare
from .routing import MemoryStore, StateStore, StateStoreError

__all__ = ["ConversationTurn", "Conversations"]


@attrs.frozen
class ConversationTurn:
    """What one inbound message led to: the flow's run and the reply delivered, if any.

    ``reply`` is None when the flow had no AI step or the reply was superseded
    (``superseded``); ``session`` is the id of the AI session that answered.
    """

    run: RunResult
    reply: str | None
    session: str | None
    superseded: bool = False


@attrs.define(eq=False)
class _Session:
    id: str
    messages: list[Message]
    last_active: dt.datetime
    ended: bool = False

    def to_json(self) -> str:
        return json.dumps({
            "id": self.id,
            "messages": [_message_json(m) for m in self.messages],
            "last_active": self.last_active.isoformat(),
            "ended": self.ended,
        })  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> _Session:
        data = json.loads(text)
        return cls(
            data["id"],
            [_message(m) for m in data["messages"]],
            dt.datetime.fromisoformat(data["last_active"]),
            data["ended"],
        )


def _message_json(message: Message) -> dict[str, Any]:
    calls = [
        {"name": c.name, "arguments": dict(c.arguments), "id": c.id} for c in message.tool_calls
    ]
    return {"role": message.role, "content": message.content,
            "tool_call_id": message.tool_call_id, "tool_calls": calls}  # fmt: skip


def _message(data: dict[str, Any]) -> Message:
    calls = [ToolCall(c["name"], c["arguments"], c["id"]) for c in data["tool_calls"]]
    return Message(data["role"], data["content"], data["tool_call_id"], calls)


class Conversations:
    """The AI sessions of every conversation one flow answers.

    ``store`` keeps the sessions (default: this process's memory); give every process the
    same `RedisStore` and any of them continues any conversation. Sessions are keyed by
    conversation id: flows that share a store need conversation ids (or store prefixes) of
    their own.

    >>> import asyncio
    >>> from providers import ScriptedEngine
    >>> chats = Conversations(
    ...     [{"type": "ai_talk", "option": {"initial_prompt": "You are a florist."}}],
    ...     engine=ScriptedEngine(["Roses or tulips?", "Tulips it is."]),
    ... )
    >>> asyncio.run(chats.receive("conv-1", "I want flowers")).reply
    'Roses or tulips?'
    >>> [m.role for m in chats.messages("conv-1")]
    ['system', 'user', 'assistant']
    """

    def __init__(
        self,
        flow: Flow | object,
        *,
        engine: ConversationEngine,
        assistants: Mapping[str, AIAssistant] | None = None,
        functions: Sequence[Function] = (),
        http: HttpPolicy | None = None,
        idle_timeout: dt.timedelta = dt.timedelta(hours=24),
        clock: Callable[[], dt.datetime] | None = None,
        step_limit: int = 100,
        store: StateStore | None = None,
    ) -> None:
        if idle_timeout <= dt.timedelta(0):
            raise ValueError(f"idle_timeout must be positive, not {idle_timeout}")
        self.functions = tuple(functions)
        self.flow = (
            flow if isinstance(flow, Flow) else load_flow(flow, tools=[f.name for f in functions])
        )
        self.engine = engine
        self.assistants = dict(assistants or {})
        self.http = http
        self.idle_timeout = idle_timeout
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.step_limit = step_limit
        self.store: StateStore = store if store is not None else MemoryStore()

    def messages(self, conversation_id: str) -> tuple[Message, ...]:
        """The messages of the conversation's current session (empty if it has none)."""
        session = self._load(conversation_id)
        return tuple(session.messages) if session is not None else ()

    def _load(self, conversation_id: str) -> _Session | None:
        text = self.store.get(f"conversation:{conversation_id}")
        if text is None:
            return None
        try:
            return _Session.from_json(text)
        except (ValueError, KeyError, TypeError) as exc:
            raise StateStoreError(
                f"the session of conversation {conversation_id!r} is not readable: {exc}"
            ) from exc

    def _save(self, conversation_id: str, session: _Session) -> None:
        # Expires when it would be idle too long anyway; every message restarts the time.
        ttl = self.idle_timeout.total_seconds()
        self.store.set(f"conversation:{conversation_id}", session.to_json(), ttl=ttl)

    def _count(self, conversation_id: str) -> int:
        """Number this conversation's new message (1, 2, ...), in every process at once."""
        key = f"conversation:{conversation_id}:messages"
        return self.store.incr(key, ttl=self.idle_timeout.total_seconds())

    def _is_latest(self, conversation_id: str, number: int) -> bool:
        return self.store.get(f"conversation:{conversation_id}:messages") == str(number)

    async def receive(
        self, conversation_id: str, text: str, *, variables: Mapping[str, str] | None = None
    ) -> ConversationTurn:
        """Run the flow for one inbound message and wait for its reply (or its supersession)."""
        number = self._count(conversation_id)
        turn = _Turn(self, conversation_id, text, number)
        flow, state = prepare(
            self.flow, engine=self.engine, assistants=self.assistants, call=None,
            media="non_rtc", variables=variables, caller=None, functions=self.functions,
            http=self.http, flows=None, clock=self.clock, strict=False, conversation=turn,
        )  # fmt: skip
        state.variables.update({
            "voipbin.activeflow.reference_type": "conversation",
            "voipbin.activeflow.reference_id": conversation_id,
            "voipbin.conversation.id": conversation_id,
            "voipbin.conversation_message.id": str(uuid.uuid4()),
            "voipbin.conversation_message.text": text,
            "voipbin.conversation_message.direction": "incoming",
        })  # fmt: skip
        try:
            status = await state.execute(flow.actions, self.step_limit)
            for task in turn.tasks:  # the flow went on while the replies were being made
                try:
                    await task
                except _Stop as stop:  # the reply failed (no engine answer, bad tools, ...)
                    status = stop.status
        finally:
            # Cancelled, or an engine raised: no reply task outlives its message.
            for task in turn.tasks:
                task.cancel()
            await asyncio.gather(*turn.tasks, return_exceptions=True)
        return ConversationTurn(state.result(status), turn.reply, turn.session, turn.superseded)

    def _session(self, conversation_id: str, prompt: str) -> _Session:
        now = self.clock()
        session = self._load(conversation_id)
        if session is None or session.ended or now - session.last_active > self.idle_timeout:
            opening = [Message("system", prompt)] if prompt else []
            session = _Session(str(uuid.uuid4()), opening, now)
        return session


@attrs.define(eq=False)
class _Turn:
    """One inbound message's part in its conversation (the interpreter's Conversation)."""

    chats: Conversations
    conversation_id: str
    text: str
    number: int
    tasks: list[asyncio.Task[None]] = attrs.field(factory=list)
    reply: str | None = None
    session: str | None = None
    superseded: bool = False

    def start_reply(
        self, run: _Run, engine: ConversationEngine, prompt: str,
        tools: Sequence[Mapping[str, Any]], path: str,
    ) -> None:  # fmt: skip
        session = self.chats._session(self.conversation_id, prompt)
        session.messages.append(Message("user", self.text))
        session.last_active = self.chats.clock()
        self.chats._save(self.conversation_id, session)
        self.session = session.id
        run.emit("ai_start", path, session=session.id, mode="conversation",
                 tools=[t["function"]["name"] for t in tools])  # fmt: skip
        self.tasks.append(asyncio.create_task(self._answer(run, engine, session, tools, path)))

    async def _answer(
        self, run: _Run, engine: ConversationEngine, session: _Session,
        tools: Sequence[Mapping[str, Any]], path: str,
    ) -> None:  # fmt: skip
        messages = list(session.messages)
        control, texts = await run.exchange(engine, messages, tools, path, None, speak=False)
        if not self.chats._is_latest(self.conversation_id, self.number):
            # A newer message arrived meanwhile: only the reply to the latest is delivered.
            self.superseded = True
            run.emit("reply_dropped", path, session=session.id, text=" ".join(texts))
            return
        session.messages[:] = messages  # no newer message touched it, or we would have returned
        session.last_active = self.chats.clock()
        session.ended = control in ("stop_service", "stop_flow")
        self.chats._save(self.conversation_id, session)
        self.reply = " ".join(texts) if texts else None
        run.emit("reply", path, session=session.id, text=self.reply)
        if session.ended:
            run.emit("ai_end", path, reason=control)
