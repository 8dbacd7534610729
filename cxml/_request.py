"""The request the Cloudonix platform sends to a voice application, as a validated value.

The platform POSTs a JSON object (or, for GET, a query string) with Twilio-style parameter names
(``CallSid``, ``From``, ``Direction``, ...; see the CXML reference, section 2). Real senders differ
in key case (OPBX accepts ``From`` and ``from``) and in value spellings (``noanswer`` vs
``no-answer``), so reading is lenient about *spelling* but strict about *types*: a value of the
wrong type, an unknown ``CallStatus``, or two spellings of one key that disagree is a
:class:`~cxml.CallRequestError` naming the field. A ``Direction`` or ``DialCallStatus`` the
model does not know is the platform's to define, not a broken request: it is kept as given, with
a warning in :attr:`CallRequest.issues`. ``SessionData`` may come as a JSON text (form bodies
carry only strings). Nothing is guessed and nothing is dropped: fields this module does not know
are kept in :attr:`CallRequest.extra` and written back by :meth:`CallRequest.to_payload`.

Error messages and the repr never show the values of ``Session``, ``SessionData`` (which holds a
``token``) or the unknown fields (``cxml-java`` turns ``X-Cx-*`` headers such as ``X-Cx-Apikey``
into parameters, so an unknown field may be a credential).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, Literal

import attrs

from ._errors import CallRequestError
from ._validate import Issue

__all__ = ["CallRequest"]

#: ``Direction`` values: the documented ones plus ``outbound``/``application`` (seen in OPBX)
#: and ``outbound-dial`` (Twilio's name for a dialled leg).
DIRECTIONS: Final = frozenset(
    {"inbound", "subscriber", "outbound-api", "outbound-dial", "outbound", "application"}
)
#: ``CallStatus`` values: the documented list plus ``answered`` (OPBX's validator accepts it).
CALL_STATUSES: Final = frozenset(
    {
        "queued",
        "ringing",
        "in-progress",
        "completed",
        "busy",
        "canceled",
        "failed",
        "no-answer",
        "unknown",
        "answered",
    }
)
#: ``DialCallStatus`` values, canonical spellings (``cxml-java`` writes ``noanswer``).
DIAL_CALL_STATUSES: Final = frozenset(
    {"ringing", "completed", "answered", "busy", "no-answer", "failed", "canceled", "unknown"}
)
#: Dial outcomes meaning the called party was connected.
DIAL_SUCCESS_STATUSES: Final = frozenset({"completed", "answered"})
#: Dial outcomes meaning the called party was not reached (what OPBX treats as failure).
DIAL_FAILURE_STATUSES: Final = frozenset({"busy", "no-answer", "failed", "canceled", "unknown"})

#: Longest string accepted in a known field. Real values are short (numbers, ids, tokens, URLs);
#: the cap keeps a hostile or broken sender from pushing megabytes into logs and documents.
MAX_STRING_LENGTH: Final = 4096
#: Deepest nesting accepted in ``SessionData`` and unknown fields (real bodies nest 3 levels);
#: the cap turns pathological input into a CallRequestError instead of a RecursionError.
MAX_NESTING_DEPTH: Final = 64
#: Longest ``SessionData`` given as JSON text (real ones are a few kB).
MAX_SESSION_DATA_LENGTH: Final = 64 * 1024
#: Issue code of a value kept although the model does not know it.
UNKNOWN_VALUE: Final = "UNKNOWN_REQUEST_VALUE"

_Kind = Literal["text", "choice", "mapping"]


@attrs.frozen
class _Spec:
    """How one known field is named on the wire and checked."""

    attr: str
    wire: str
    kind: _Kind = "text"
    choices: frozenset[str] = frozenset()
    #: Keep a value outside ``choices`` as given (with an issue) instead of refusing it.
    open_ended: bool = False


_SPECS: Final = (
    _Spec("call_sid", "CallSid"),
    _Spec("from_", "From"),
    _Spec("to", "To"),
    _Spec("caller_name", "CallerName"),
    _Spec("direction", "Direction", "choice", DIRECTIONS, open_ended=True),
    _Spec("call_status", "CallStatus", "choice", CALL_STATUSES),
    _Spec("session", "Session"),
    _Spec("diverted", "Diverted"),
    _Spec("asserted_identity", "AssertedIdentity"),
    _Spec("api_version", "ApiVersion"),
    _Spec("domain", "Domain"),
    _Spec("account_sid", "AccountSid"),
    _Spec("session_data", "SessionData", "mapping"),
    _Spec("digits", "Digits"),
    _Spec("speech_result", "SpeechResult"),
    _Spec("dial_call_status", "DialCallStatus", "choice", DIAL_CALL_STATUSES, open_ended=True),
    _Spec("recording_url", "RecordingUrl"),
)
_BY_KEY: Final = {spec.wire.lower(): spec for spec in _SPECS}


def _letters(value: str) -> str:
    """The comparison key for enumerated values: ASCII letters only, lower case (as cxml-java)."""
    return "".join(ch for ch in value.lower() if "a" <= ch <= "z")


_CANONICAL: Final = {
    spec.wire: {_letters(choice): choice for choice in spec.choices}
    for spec in _SPECS
    if spec.kind == "choice"
}


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _freeze(value: object, field: str, depth: int = 0) -> object:
    """Copy JSON-like data so the request cannot change: mappings become read-only, lists tuples."""
    if depth > MAX_NESTING_DEPTH:
        raise CallRequestError(
            f"{field} is nested deeper than {MAX_NESTING_DEPTH} levels", field=field
        )
    if isinstance(value, Mapping):
        return MappingProxyType(
            {key: _freeze(item, field, depth + 1) for key, item in value.items()}
        )
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item, field, depth + 1) for item in value)
    return value


def _thaw(value: object) -> object:
    """Undo `_freeze`: plain ``dict``/``list`` data, ready for ``json.dumps``."""
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [_thaw(item) for item in value]
    return value


def _session_data(text: str, spec: _Spec) -> object:
    """``SessionData`` sent as JSON text (a form body): the object it holds."""
    if len(text) > MAX_SESSION_DATA_LENGTH:
        raise CallRequestError(
            f"{spec.wire} is longer than {MAX_SESSION_DATA_LENGTH} characters", field=spec.wire
        )
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        # The text itself may hold a token: say where, not what.
        raise CallRequestError(
            f"{spec.wire} is a string but not JSON: it must be an object", field=spec.wire
        ) from None


def _clean(spec: _Spec, value: object) -> object:
    """Check one known field's value and return it normalised (or frozen); None stays None."""
    if value is None:
        return None
    if spec.kind == "mapping":
        if isinstance(value, str):
            value = _session_data(value, spec)
        if not isinstance(value, Mapping):
            raise CallRequestError(
                f"{spec.wire} must be an object (mapping), got {_type_name(value)}",
                field=spec.wire,
            )
        return _freeze(value, spec.wire)
    if not isinstance(value, str):
        raise CallRequestError(
            f"{spec.wire} must be a string, got {_type_name(value)}", field=spec.wire
        )
    if len(value) > MAX_STRING_LENGTH:
        raise CallRequestError(
            f"{spec.wire} is longer than {MAX_STRING_LENGTH} characters", field=spec.wire
        )
    if spec.kind == "choice":
        canonical = _CANONICAL[spec.wire].get(_letters(value)) if value.isascii() else None
        if canonical is None and spec.open_ended:
            return value  # `_unknown_values` reports it
        if canonical is None:
            raise CallRequestError(
                f"{spec.wire} has an unknown value; expected one of "
                + ", ".join(sorted(spec.choices)),
                field=spec.wire,
            )
        return canonical
    return value


def _clean_extra(extra: object) -> Mapping[str, object]:
    """Freeze the unknown fields; a key that spells a known field belongs in that field."""
    if not isinstance(extra, Mapping):
        raise CallRequestError(f"extra must be a mapping, got {_type_name(extra)}", field="extra")
    frozen: dict[str, object] = {}
    for key, value in extra.items():
        if not isinstance(key, str):
            raise CallRequestError(
                f"extra keys must be strings, got {_type_name(key)}", field="extra"
            )
        spec = _BY_KEY.get(key.lower())
        if spec is not None:
            raise CallRequestError(
                f"extra key {key!r} is the known field {spec.wire}; pass it as {spec.attr}",
                field="extra",
            )
        frozen[key] = _freeze(value, key)
    return MappingProxyType(frozen)


def _unknown_values(request: CallRequest) -> tuple[Issue, ...]:
    """A warning for each open-ended field whose value the model does not know."""
    issues = []
    for spec in _SPECS:
        value = getattr(request, spec.attr)
        if spec.open_ended and value is not None and value not in spec.choices:
            known = ", ".join(sorted(spec.choices))
            message = (
                f"{spec.wire} {value!r} is not a value the model knows ({known}); kept as given"
            )
            issues.append(Issue(UNKNOWN_VALUE, "warning", message, f"$.{spec.wire}"))
    return tuple(issues)


def _redacted(value: object) -> str:
    return "None" if value is None else "'<redacted>'"


def _keys_only(value: Mapping[str, object]) -> str:
    return "{" + ", ".join(f"{key!r}: ..." for key in value) + "}"


@attrs.frozen(kw_only=True, unsafe_hash=False)
class CallRequest:
    """One request from the platform to a voice application (initial request or callback).

    Every field is optional because callbacks carry only some of them. Attribute names are
    snake_case (``from_`` for ``From``); :meth:`from_payload` and :meth:`to_payload` convert to
    and from the wire. Construction validates like :meth:`from_payload` does, so a
    ``CallRequest`` always holds canonical values. Equal by value; not hashable (it holds
    mappings).
    """

    call_sid: str | None = None
    from_: str | None = None
    to: str | None = None
    caller_name: str | None = None
    direction: str | None = None
    call_status: str | None = None
    session: str | None = attrs.field(default=None, repr=_redacted)
    diverted: str | None = None
    asserted_identity: str | None = None
    api_version: str | None = None
    domain: str | None = None
    account_sid: str | None = None
    session_data: Mapping[str, object] | None = attrs.field(default=None, repr=_redacted)
    digits: str | None = None
    speech_result: str | None = None
    dial_call_status: str | None = None
    recording_url: str | None = None
    #: The URL the platform sent the request to; a router recognises its own callbacks by it.
    url: str | None = None
    #: Body fields this class does not know, kept so nothing is lost; read-only.
    extra: Mapping[str, object] = attrs.field(factory=dict, repr=_keys_only)
    #: Warnings about values kept although the model does not know them (a ``Direction`` or
    #: ``DialCallStatus`` outside the documented sets); derived from the fields.
    issues: tuple[Issue, ...] = attrs.field(init=False, factory=tuple, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        # Validation lives here (not in per-field converters) so every path, from_payload or
        # direct construction, checks the same way and errors carry the wire name.
        for spec in _SPECS:
            object.__setattr__(self, spec.attr, _clean(spec, getattr(self, spec.attr)))
        if self.url is not None and not isinstance(self.url, str):
            raise CallRequestError(f"url must be a string, got {_type_name(self.url)}", field="url")
        object.__setattr__(self, "extra", _clean_extra(self.extra))
        object.__setattr__(self, "issues", _unknown_values(self))

    @classmethod
    def from_payload(cls, body: Mapping[str, object], *, url: str | None = None) -> CallRequest:
        """Read a request body (parsed JSON, or a GET query as a ``str`` to ``str`` mapping).

        Known keys match case-insensitively (``From``/``from``, ``CallSid``/``callsid``); two
        spellings of one key must agree. Known string fields must be ``str`` of at most
        :data:`MAX_STRING_LENGTH` characters, ``SessionData`` an object or the JSON text of one;
        ``Direction``, ``CallStatus`` and ``DialCallStatus`` are normalised to their canonical
        spelling (``NoAnswer`` -> ``no-answer``); an unknown ``CallStatus`` is rejected, an
        unknown ``Direction`` or ``DialCallStatus`` kept as given with a warning in
        :attr:`issues`. Anything else goes to
        :attr:`extra`. Every problem raises :class:`~cxml.CallRequestError` with ``field`` set
        to the wire name (``"$"`` for the body itself).
        """
        if not isinstance(body, Mapping):
            raise CallRequestError(
                f"the request body must be an object (mapping), got {_type_name(body)}",
                field="$",
            )
        known: dict[str, Any] = {}
        seen_as: dict[str, str] = {}
        extra: dict[str, object] = {}
        for key, value in body.items():
            if not isinstance(key, str):
                raise CallRequestError(
                    f"request body keys must be strings, got {_type_name(key)}", field="$"
                )
            spec = _BY_KEY.get(key.lower())
            if spec is None:
                extra[key] = value
                continue
            clean = _clean(spec, value)
            if spec.attr in known and known[spec.attr] != clean:
                raise CallRequestError(
                    f"{spec.wire} is given twice with different values "
                    f"(as {seen_as[spec.attr]!r} and {key!r})",
                    field=spec.wire,
                )
            known[spec.attr] = clean
            seen_as[spec.attr] = key
        return cls(url=url, extra=extra, **known)

    def to_payload(self) -> dict[str, object]:
        """The wire form: canonical key spellings, unknown fields included, None omitted.

        ``CallRequest.from_payload(r.to_payload(), url=r.url) == r`` holds for every request.
        The result is plain ``dict``/``list`` data, ready for ``json.dumps``.
        """
        payload: dict[str, object] = {}
        for spec in _SPECS:
            value = getattr(self, spec.attr)
            if value is not None:
                payload[spec.wire] = _thaw(value)
        for key, value in self.extra.items():
            payload[key] = _thaw(value)
        return payload

    @property
    def dial_answered(self) -> bool | None:
        """Whether the ``<Dial>`` this callback reports connected the caller.

        True for ``completed``/``answered``, False for ``busy``, ``no-answer``, ``failed``,
        ``canceled`` and ``unknown``; None when there is no ``DialCallStatus`` or it is
        ``ringing`` (not an outcome yet).
        """
        if self.dial_call_status in DIAL_SUCCESS_STATUSES:
            return True
        if self.dial_call_status in DIAL_FAILURE_STATUSES:
            return False
        return None
