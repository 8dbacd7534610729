"""The state a callback URL carries: one typed value per kind of step, one codec for all.

The router signs a `CallbackState` into every ``action`` it writes and reads it back when the
platform posts to that URL. A state is the call's sid, the step the call is at and, for
campaign calls, the metadata that follows the call. On the wire it is a flat JSON object::

    {"kind": "menu", "call": "CA1", "menu": "main", "turn": 0}
    {"kind": "ring", "call": "CA1", "group": "sales", "attempt": 1, "start": 2}
    {"kind": "balancer", "call": "CA1", "balancer": "agents", "tried": ["a"], "streamed": false}
    {"kind": "ai_stream", "call": "CA1", "assistant": "receptionist", "stream": "kV3x8Q",
     "metadata": {"k": "v"}}

`decode` checks the whole shape (every key, no other, each of its type; counts are whole
numbers from 0). Only this router's secret signs these objects, so a signed object of another
shape is a tampered callback (or a leaked secret): `CallbackStateError`, never a guess.

>>> state = CallbackState("CA1", MenuTurn("main", 2))
>>> encode(state)
{'kind': 'menu', 'call': 'CA1', 'menu': 'main', 'turn': 2}
>>> decode(encode(state)) == state
True
>>> try:
...     decode({"kind": "menu", "call": "CA1", "menu": "main", "turn": True})
... except CallbackStateError as exc:
...     print(exc.code, exc.message)
BAD_CALLBACK_STATE 'turn' must be a whole number from 0, not True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final

import attrs

from cxml import CxmlError

__all__ = [
    "AiStream",
    "BalancerPick",
    "CallbackState",
    "CallbackStateError",
    "MenuTurn",
    "RingAttempt",
    "Step",
    "decode",
    "encode",
]


class CallbackStateError(CxmlError):
    """A signed callback state whose shape is not one this module writes."""

    code: int | str = "BAD_CALLBACK_STATE"


def _text(fields: Mapping[str, object], key: str) -> str:
    value = fields[key]
    if not isinstance(value, str):
        raise CallbackStateError(f"{key!r} must be text, not {value!r:.40}")
    return value


def _count(fields: Mapping[str, object], key: str) -> int:
    value = fields[key]
    # bool is an int to Python, not to this format.
    if type(value) is not int or value < 0:
        raise CallbackStateError(f"{key!r} must be a whole number from 0, not {value!r:.40}")
    return value


def _flag(fields: Mapping[str, object], key: str) -> bool:
    value = fields[key]
    if not isinstance(value, bool):
        raise CallbackStateError(f"{key!r} must be true or false, not {value!r:.40}")
    return value


def _names(fields: Mapping[str, object], key: str) -> tuple[str, ...]:
    value = fields[key]
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise CallbackStateError(f"{key!r} must be a list of names, not {value!r:.40}")
    return tuple(value)


@attrs.frozen
class MenuTurn:
    """An IVR menu's Gather: which menu, and which turn of it (from 0)."""

    kind: ClassVar[str] = "menu"
    menu: str
    turn: int


@attrs.frozen
class RingAttempt:
    """A ring group's Dial: attempt number ``attempt`` (from 0), the rotation starting at
    member ``start`` (round robin; 0 otherwise)."""

    kind: ClassVar[str] = "ring"
    group: str
    attempt: int
    start: int


@attrs.frozen
class BalancerPick:
    """An AI load balancer's follow-through: the assistants this call has tried (the last is
    the one picked now), and whether that one was streamed to (``<Connect>``) or dialled."""

    kind: ClassVar[str] = "balancer"
    balancer: str
    tried: tuple[str, ...]
    streamed: bool


@attrs.frozen
class AiStream:
    """An AI assistant's ``<Connect>``: its action comes back when the stream ends.
    ``stream`` is a random name of this stream, so that two streams of one call never share
    a URL, nor the claim on their end."""

    kind: ClassVar[str] = "ai_stream"
    assistant: str
    stream: str


Step = MenuTurn | RingAttempt | BalancerPick | AiStream


@attrs.frozen
class CallbackState:
    """What a callback URL carries: the call it belongs to, its step, the call's metadata."""

    call_sid: str
    step: Step
    #: JSON-able; None when the call has none (only campaign calls do).
    metadata: Mapping[str, Any] | None = None


#: Each kind of step by its name on the wire, with the keys its state has: "kind", "call"
#: and the step's fields; "metadata" is optional.
_STEPS: Final[dict[str, tuple[type[Step], frozenset[str]]]] = {
    step.kind: (step, frozenset({"kind", "call", *(f.name for f in attrs.fields(step))}))
    for step in (MenuTurn, RingAttempt, BalancerPick, AiStream)
}
#: How a step's field is read back, by its annotation (a string: ``from __future__``).
_READERS: Final[dict[object, Callable[[Mapping[str, object], str], Any]]] = {
    "str": _text,
    "int": _count,
    "bool": _flag,
    "tuple[str, ...]": _names,
}


def _read(step_class: type[Step], fields: Mapping[str, object]) -> Step:
    return step_class(*(_READERS[f.type](fields, f.name) for f in attrs.fields(step_class)))


def encode(state: CallbackState) -> dict[str, object]:
    """``state`` as the plain JSON-able mapping `decode` reads back."""
    step = state.step
    payload: dict[str, object] = {"kind": step.kind, "call": state.call_sid}
    for field in attrs.fields(type(step)):
        value = getattr(step, field.name)
        payload[field.name] = list(value) if isinstance(value, tuple) else value
    if state.metadata:
        payload["metadata"] = dict(state.metadata)
    return payload


def decode(payload: Mapping[str, object]) -> CallbackState:
    """The state `encode` wrote as ``payload``; `CallbackStateError` for any other shape."""
    kind = payload.get("kind")
    found = _STEPS.get(kind) if isinstance(kind, str) else None
    if found is None:
        raise CallbackStateError(f"unknown kind of step {kind!r:.40}")
    step_class, keys = found
    if payload.keys() - {"metadata"} != keys:
        raise CallbackStateError(
            f"a {kind} state has the keys {sorted(keys)}, not {sorted(payload)}"
        )
    metadata = payload.get("metadata", {})
    if not isinstance(metadata, dict):
        raise CallbackStateError(f"'metadata' must be an object, not {metadata!r:.40}")
    return CallbackState(_text(payload, "call"), _read(step_class, payload), metadata or None)
