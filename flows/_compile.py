"""Compiling a flow to one CXML document, for the part of a flow CXML can say by itself.

A straight run of media actions maps onto verbs: answer → an answering zero-length Pause,
talk → Say, play → Play, sleep → Pause, hangup → Hangup, connect → Dial, digits_receive →
Gather, ai/ai_talk → the assistant's Dial or Connect, stop → the end of the document, and
variable_set → a value substituted into later actions. Anything that needs the flow's
runtime (jumps, conditions, transcription, webhooks, ...) or an option CXML cannot carry is a
`FlowCompileError` naming the action, never something silently left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cxml import (
    CallRequest,
    Conference,
    CxmlError,
    Dial,
    Gather,
    Hangup,
    Node,
    Number,
    Pause,
    Play,
    Response,
    Say,
    Sip,
)
from providers import AIAssistant, MediaBridge

from ._flow import Action, Flow, load_flow
from ._variables import VariableError, substitute

__all__ = ["FlowCompileError", "to_cxml"]


class FlowCompileError(CxmlError):
    """An action cannot be expressed in CXML; ``path`` names it (``$.actions[3]``)."""

    code: int | str = "NEEDS_RUNTIME"

    def __init__(self, path: str, message: str, *, code: str | None = None) -> None:
        super().__init__(f"{path}: {message}", code=code)
        self.path = path


def to_cxml(
    flow: Flow | object,
    *,
    variables: Mapping[str, str] | None = None,
    assistants: Mapping[str, AIAssistant] | None = None,
    call: CallRequest | None = None,
    bridge: MediaBridge | None = None,
    gather_action: str | None = None,
) -> Response:
    """The CXML document that does what ``flow`` does, when CXML alone can do it.

    ``variables`` fill ``${...}`` (strictly: an unknown one is an error); ``assistants`` (by
    id) and ``call`` are needed for AI actions; ``gather_action`` is where digits_receive
    posts the digits.
    """
    if not isinstance(flow, Flow):
        flow = load_flow(flow)
    values = dict(variables or {})
    verbs: list[Node] = []
    for index, action in enumerate(flow.actions):
        path = f"$.actions[{index}]"
        if action.next_id is not None:
            raise FlowCompileError(f"{path}.next_id", "jumps need the flow runtime")
        try:
            option: Mapping[str, Any] = substitute(
                dict(action.option or {}), values, strict=True, path=f"{path}.option"
            )
        except VariableError as exc:
            message = exc.message.removeprefix(f"{exc.path}: ")
            raise FlowCompileError(exc.path, message, code=str(exc.code)) from None
        bound = Action(action.type, option)
        if action.type == "stop":
            break
        if action.type == "variable_set":
            values[str(bound.get("key"))] = str(bound.get("value"))
            continue
        verbs += _verbs(
            bound,
            path,
            assistants=assistants or {},
            call=call,
            bridge=bridge,
            gather_action=gather_action,
        )
    return Response(verbs)


def _verbs(
    action: Action,
    path: str,
    *,
    assistants: Mapping[str, AIAssistant],
    call: CallRequest | None,
    bridge: MediaBridge | None,
    gather_action: str | None,
) -> list[Node]:
    kind = action.type
    _refuse_unsupported(action, path)
    if kind == "answer":
        return [Pause(length=0, answer=True)]
    if kind == "talk":
        return [Say(action.get("text"), language=action.get("language"),
                    voice=action.get("voice_id"))]  # fmt: skip
    if kind == "play":
        urls = action.get("stream_urls")
        for i, url in enumerate(urls):
            if not url.startswith(("https://", "http://")) or url.strip() != url:
                where = f"{path}.option.stream_urls[{i}]"
                raise FlowCompileError(where, "Play needs an absolute http(s) URL", code="BAD_URL")
        return [Play(url) for url in urls]
    if kind == "sleep":
        return [Pause(length=_seconds(action.get("duration"), f"{path}.option.duration"))]
    if kind == "hangup":
        return [Hangup()]
    if kind == "connect":
        return [_dial(action, path)]
    if kind == "digits_receive":
        key = action.get("key")
        if key is not None and len(key) > 1:
            raise FlowCompileError(f"{path}.option.key", "CXML ends input on one key only")
        duration = action.get("duration")
        timeout = None if duration is None else _seconds(duration, f"{path}.option.duration")
        return [Gather(action=gather_action, num_digits=action.get("length"),
                       finish_on_key=key, timeout=timeout)]  # fmt: skip
    if kind in ("ai", "ai_talk"):
        return [_assistant(action, path, assistants, call, bridge)]
    raise FlowCompileError(path, f"{kind} needs the flow runtime; CXML cannot express it")


#: Options that change what an action does in ways CXML cannot express.
_UNSUPPORTED = {
    "talk": ("async", "digits_handle"),
    "hangup": ("reference_id",),
    "connect": ("early_media", "relay_reason", "anonymous"),
    "ai": ("initial_prompt", "voice_type", "engine_model", "duration"),
    "ai_talk": ("initial_prompt", "voice_type", "engine_model", "duration"),
}


def _refuse_unsupported(action: Action, path: str) -> None:
    for name in _UNSUPPORTED.get(action.type, ()):
        if action.get(name) not in (None, False, ""):
            raise FlowCompileError(
                f"{path}.option.{name}", f"{action.type} with {name} needs the flow runtime"
            )


def _seconds(milliseconds: object, path: str) -> int:
    if not isinstance(milliseconds, int) or milliseconds < 0 or milliseconds % 1000:
        raise FlowCompileError(path, "CXML counts whole seconds: use a multiple of 1000 ms")
    return milliseconds // 1000


def _dial(action: Action, path: str) -> Dial:
    nouns: list[Node] = []
    for i, address in enumerate(action.get("destinations")):
        kind, target = address["type"], address["target"]
        if kind in ("tel", "extension"):
            nouns.append(Number(target))
        elif kind == "sip":
            nouns.append(Sip(target))
        elif kind == "conference":
            nouns.append(Conference(target))
        else:
            raise FlowCompileError(
                f"{path}.option.destinations[{i}].type", f"CXML cannot dial a {kind} address"
            )
    source = action.get("source")
    return Dial(nouns, caller_id=source["target"] if source else None)


def _assistant(
    action: Action,
    path: str,
    assistants: Mapping[str, AIAssistant],
    call: CallRequest | None,
    bridge: MediaBridge | None,
) -> Node:
    ident = action.get("assistance_id") or action.get("ai_id")
    if action.get("assistance_type") == "team":
        raise FlowCompileError(f"{path}.option.assistance_type", "AI teams need the flow runtime")
    assistant = assistants.get(ident) if isinstance(ident, str) else None
    if assistant is None:
        raise FlowCompileError(
            f"{path}.option.assistance_id", "name an assistant given in assistants="
        )
    if call is None:
        raise FlowCompileError(path, "routing to an assistant needs the call: pass call=")
    try:
        return assistant.verb(call, bridge=bridge)
    except CxmlError as exc:
        raise FlowCompileError(path, exc.message, code=str(exc.code)) from None
