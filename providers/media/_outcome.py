"""`Outcome`: how one AI media stream ended, as the bridge records it for the router.

Kinds: ``hangup`` (the caller hung up, or the platform stopped the stream), ``finished``
(the agent ended the call normally), ``transfer`` (the agent asks to connect the caller to
``destination``), ``stop`` (``stop_service``/``stop_flow``: the AI part ends, the call goes
on) and ``error`` (an abnormal end, with a stable ``code``).

>>> Outcome("transfer", destination="1001").to_json()
'{"kind":"transfer","destination":"1001"}'
>>> Outcome.from_json('{"kind":"error","code":"MEDIA_PROTOCOL","detail":"bad base64"}')
Outcome(kind='error', destination=None, code='MEDIA_PROTOCOL', detail='bad base64')
>>> try:
...     Outcome.from_json('{"kind":"bye"}')
... except OutcomeError as error:
...     print(error)
[BAD_OUTCOME] outcome.kind must be one of hangup, finished, transfer, stop, error
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal, get_args

import attrs

from .._errors import MediaError

__all__ = ["KINDS", "Outcome", "OutcomeError", "OutcomeKind"]

OutcomeKind = Literal["hangup", "finished", "transfer", "stop", "error"]
KINDS: Final[tuple[str, ...]] = get_args(OutcomeKind)
_FIELDS: Final = frozenset({"kind", "destination", "code", "detail"})
_DETAIL_LIMIT: Final = 500  # a detail is for people; it is cut, never refused


class OutcomeError(MediaError):
    """An outcome of the wrong shape: unknown kind or field, a transfer without a
    destination, an error without a code, text that is not an outcome's JSON."""

    code: int | str = "BAD_OUTCOME"


def _kind(instance: object, attribute: object, value: object) -> None:
    if value not in KINDS:
        raise OutcomeError(f"outcome.kind must be one of {', '.join(KINDS)}")


def _optional_text(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise OutcomeError(f"outcome.{attribute.name} must be non-empty text or absent")


def _detail(value: object) -> str:
    if not isinstance(value, str):
        raise OutcomeError("outcome.detail must be text")
    return value[:_DETAIL_LIMIT]


@attrs.frozen
class Outcome:
    """How a stream ended. ``transfer`` needs a ``destination``; ``error`` needs a ``code``
    (the `cxml.CxmlError` code of what went wrong, as text)."""

    kind: OutcomeKind = attrs.field(validator=_kind)
    destination: str | None = attrs.field(default=None, validator=_optional_text)
    code: str | None = attrs.field(default=None, validator=_optional_text)
    detail: str = attrs.field(default="", converter=_detail)

    def __attrs_post_init__(self) -> None:
        if self.kind == "transfer" and self.destination is None:
            raise OutcomeError("a transfer outcome needs a destination")
        if self.kind == "error" and self.code is None:
            raise OutcomeError("an error outcome needs a code")

    def to_json(self) -> str:
        """Compact JSON of the fields that are set (what `from_json` reads back)."""
        data: dict[str, str] = {"kind": self.kind}
        if self.destination is not None:
            data["destination"] = self.destination
        if self.code is not None:
            data["code"] = self.code
        if self.detail:
            data["detail"] = self.detail
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Outcome:
        """The outcome `to_json` wrote; `OutcomeError` for anything of another shape."""
        try:
            data = json.loads(text)
        except (ValueError, TypeError, RecursionError):
            raise OutcomeError("an outcome is JSON") from None
        if not isinstance(data, dict):
            raise OutcomeError("an outcome is a JSON object")
        unknown = set(data) - _FIELDS
        if unknown:
            raise OutcomeError(f"outcome has unknown fields: {', '.join(sorted(unknown))[:80]}")
        if "kind" not in data:
            raise OutcomeError("outcome.kind is missing")
        return cls(
            kind=data["kind"],
            destination=data.get("destination"),
            code=data.get("code"),
            detail=data.get("detail", ""),
        )


#: What an engine's plain ``hangup()`` means.
FINISHED: Final = Outcome("finished")
