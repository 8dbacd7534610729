"""The platform's two event webhooks as validated values: session updates and call records.

Besides asking the voice application for CXML, Cloudonix reports on calls through two more
webhooks, configured per domain:

- **session update**: a call's state changed (many per call: new, ringing, connected, ...);
  the body is the session object. Documented fields (Cloudonix, "Session updates" and the
  "Session" data model): ``token`` (the session's unique id; the ``CallSid`` of its voice
  requests), ``domain``, ``callerId``, ``destination``, ``direction``, ``status``, ``id``,
  ``callStartTime``, ``callAnswerTime``, ``callEndTime`` (UNIX epoch *milliseconds*).
  https://developers.cloudonix.com/Documentation/make.com/webhooks/sessionUpdates
  https://developers.cloudonix.com/Documentation/dataModels/session
- **CDR**: one per call, after it ended, "regardless of the final session status". Documented
  fields (Cloudonix, "CDR Processor" and "Call Detail Report"): ``timestamp`` (epoch seconds),
  ``domain``, ``from``, ``to``, ``duration``, ``billsec`` (seconds), ``disposition``
  (``CONNECTED``, ...), ``call_id`` (SIP Call-ID) and ``session`` (the session object, with
  ``token``, ``id`` and the three epoch-millisecond times).
  https://developers.cloudonix.com/Documentation/cxmlExamples/outboundNotifications/theCdrProcessor
  https://developers.cloudonix.com/Documentation/apiWorkflow/apiCallDetailReports

Where the documentation is silent, this follows what OPBX (the reference PBX on Cloudonix)
reads: a CDR may name its tenant as ``owner.domain.uuid`` / ``owner.domain.name`` instead of
``domain``, and may carry ``recording_url``; session statuses besides ``new``/``connected``
(``processing``, ``ringing``, ``busy``, ...) and dispositions besides ``CONNECTED``
(``BUSY``, ``NOANSWER``, ``CANCEL``, ...) are the ones OPBX handles.

Bodies arrive as JSON (numbers are numbers, nested objects are objects) or form-encoded (every
value a string; a nested field is a dotted key such as ``session.token``); both read to equal
values. Types are strict and every problem is a :class:`~cxml.CallRequestError` whose ``field``
is the dotted path (``owner.domain.uuid``). A status, direction or disposition this module does
not know is kept as given and reported by ``issues`` (a warning): the platform may add states.
The whole body stays available, read-only, as ``raw``; its values never appear in reprs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final, TypeVar

import attrs

from ._errors import CallRequestError
from ._request import MAX_STRING_LENGTH, _freeze, _keys_only, _letters, _type_name
from ._validate import Issue

__all__ = [
    "DIRECTIONS",
    "DISPOSITIONS",
    "SESSION_STATUSES",
    "CallRecord",
    "SessionUpdate",
]

#: Session ``status`` values, canonical spellings (those of ``CallRequest.call_status`` where
#: the two overlap). Matching ignores case and punctuation (``NEW``, ``no_answer``).
SESSION_STATUSES: Final = frozenset(
    {
        "new",
        "processing",
        "ringing",
        "connected",
        "answered",
        "completed",
        "busy",
        "no-answer",
        "canceled",
        "failed",
        "congestion",
    }
)
#: Statuses after which the call is over.
ENDED_STATUSES: Final = frozenset(
    {"completed", "busy", "no-answer", "canceled", "failed", "congestion"}
)
#: Session ``direction`` values (the session data model; OPBX's validator).
DIRECTIONS: Final = frozenset({"incoming", "outgoing", "internal", "application"})
#: CDR ``disposition`` values, upper case as the platform writes them.
DISPOSITIONS: Final = frozenset(
    {"CONNECTED", "ANSWERED", "BUSY", "NOANSWER", "CANCEL", "CONGESTION", "FAILED"}
)
#: Dispositions meaning the call was connected.
ANSWERED_DISPOSITIONS: Final = frozenset({"CONNECTED", "ANSWERED"})

#: Largest whole number accepted (a signed 64-bit column holds it).
MAX_INTEGER: Final = 2**63 - 1
#: Latest epoch accepted, in milliseconds: the end of year 9999, the last `datetime` can hold.
MAX_EPOCH_MS: Final = 253_402_300_799_999

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

_T = TypeVar("_T")


def _canonical_table(choices: frozenset[str], aliases: Mapping[str, str]) -> dict[str, str]:
    table = {_letters(choice): choice for choice in choices}
    table.update(aliases)
    return table


# Spellings seen for one state (OPBX accepts each of them).
_STATUS_KEYS: Final = _canonical_table(
    SESSION_STATUSES, {"answer": "answered", "cancel": "canceled", "cancelled": "canceled"}
)
_DIRECTION_KEYS: Final = _canonical_table(DIRECTIONS, {})
_DISPOSITION_KEYS: Final = _canonical_table(
    DISPOSITIONS, {"answer": "ANSWERED", "canceled": "CANCEL", "cancelled": "CANCEL"}
)


def _canonical(value: str | None, table: Mapping[str, str]) -> str | None:
    """The canonical spelling of a known value; an unknown one (or None) as given."""
    if value is None or not value.isascii():
        return value
    return table.get(_letters(value), value)


def _unknown(value: str | None, table: Mapping[str, str], field: str) -> list[Issue]:
    if value is None or value in table.values():
        return []
    shown = value if len(value) <= 64 else value[:64] + "..."
    return [
        Issue(
            code="UNKNOWN_VALUE",
            severity="warning",
            message=f"{field} {shown!r} is not a value cxmlflow knows; kept as given",
            path=field,
        )
    ]


# --- reading a body ------------------------------------------------------------------------


@attrs.frozen
class _Both:
    """A field given both nested and as a dotted key (checked to agree once read)."""

    nested: object
    flat: object


def _lookup(body: Mapping[str, object], path: tuple[str, ...]) -> tuple[bool, object]:
    """The value at ``path``, nested (JSON) or as one dotted key (a form); (found, value).

    A JSON null anywhere on the way means absent. An intermediate value that is not an object
    is an error naming it (``owner.domain``).
    """
    node: object = body
    found = True
    for depth, key in enumerate(path):
        if node is None:
            found = False
            break
        if not isinstance(node, Mapping):
            where = ".".join(path[:depth])
            raise CallRequestError(
                f"{where} must be an object (mapping), got {_type_name(node)}", field=where
            )
        if key not in node:
            found = False
            break
        node = node[key]
    if node is None:
        found = False
    flat = body.get(".".join(path)) if len(path) > 1 else None
    if flat is None:
        return found, node if found else None
    if found and node != flat:
        # Two encodings of one field ("5" and 5 may still agree): compared once read.
        return True, _Both(node, flat)
    return True, flat


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise CallRequestError(f"{field} must be a string, got {_type_name(value)}", field=field)
    if len(value) > MAX_STRING_LENGTH:
        raise CallRequestError(
            f"{field} is longer than {MAX_STRING_LENGTH} characters", field=field
        )
    return value


def _whole(value: object, field: str, maximum: int = MAX_INTEGER) -> int | None:
    """A non-negative whole number from JSON (int, or a float like 33.0) or a form (digits).

    The empty string is None: a form has no other way to say null.
    """
    number: int
    if isinstance(value, bool):
        raise CallRequestError(f"{field} must be a whole number, got bool", field=field)
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            raise CallRequestError(f"{field} must be a whole number", field=field)
        number = int(value)
    elif isinstance(value, str):
        if value == "":
            return None
        if not (value.isascii() and value.isdigit() and len(value) <= 19):
            raise CallRequestError(
                f"{field} must be a whole number (decimal digits only)", field=field
            )
        number = int(value)
    else:
        raise CallRequestError(
            f"{field} must be a whole number, got {_type_name(value)}", field=field
        )
    if number < 0:
        raise CallRequestError(f"{field} must not be negative", field=field)
    if number > maximum:
        raise CallRequestError(f"{field} must be at most {maximum}", field=field)
    return number


def _epoch_ms(value: object, field: str) -> datetime | None:
    """Epoch milliseconds as an aware UTC datetime; 0 (not happened yet) and "" are None."""
    ms = _whole(value, field, MAX_EPOCH_MS)
    if not ms:
        return None
    return _EPOCH + timedelta(milliseconds=ms)


def _epoch_s(value: object, field: str) -> datetime | None:
    """Epoch seconds as an aware UTC datetime; 0 and "" are None."""
    seconds = _whole(value, field, MAX_EPOCH_MS // 1000)
    if not seconds:
        return None
    return _EPOCH + timedelta(seconds=seconds)


class _Body:
    """Typed reads of one webhook body; every error names the dotted path it is about."""

    def __init__(self, body: object, what: str) -> None:
        if not isinstance(body, Mapping):
            raise CallRequestError(
                f"the {what} body must be an object (mapping), got {_type_name(body)}",
                field="$",
            )
        for key in body:
            if not isinstance(key, str):
                raise CallRequestError(
                    f"{what} body keys must be strings, got {_type_name(key)}", field="$"
                )
        self.body: Mapping[str, object] = body

    def read(self, path: str, reader: Callable[[object, str], _T | None]) -> _T | None:
        keys = tuple(path.split("."))
        found, value = _lookup(self.body, keys)
        if not found:
            return None
        if isinstance(value, _Both):
            nested, flat = reader(value.nested, path), reader(value.flat, path)
            if nested != flat:
                raise CallRequestError(
                    f"{path} is given twice with different values (nested and as {path!r})",
                    field=path,
                )
            return nested
        return reader(value, path)

    def text(self, path: str) -> str | None:
        return self.read(path, _text)

    def whole(self, path: str) -> int | None:
        return self.read(path, _whole)

    def epoch_ms(self, path: str) -> datetime | None:
        return self.read(path, _epoch_ms)

    def epoch_s(self, path: str) -> datetime | None:
        return self.read(path, _epoch_s)

    @staticmethod
    def require(value: _T | None, path: str) -> _T:
        if value is None or value == "":
            raise CallRequestError(f"{path} is missing or empty", field=path)
        return value

    def raw(self) -> Mapping[str, object]:
        return _freeze_body(self.body)


def _freeze_body(body: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType({key: _freeze(value, key) for key, value in body.items()})


def _urls(value: object, field: str) -> tuple[str, ...] | None:
    """One URL, or a list of them."""
    if isinstance(value, str):
        return (_text(value, field),) if value else ()
    if isinstance(value, (list, tuple)):
        return tuple(_text(item, f"{field}[{index}]") for index, item in enumerate(value))
    raise CallRequestError(
        f"{field} must be a string or a list of strings, got {_type_name(value)}", field=field
    )


# --- checks for direct construction ----------------------------------------------------------


def _required_text(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _text(value, attribute.name)


def _optional_text(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _text(value, attribute.name)


def _required_whole(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise CallRequestError(
            f"{attribute.name} must be an int, got {_type_name(value)}", field=attribute.name
        )
    _whole(value, attribute.name)


def _optional_whole(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _required_whole(_instance, attribute, value)


def _optional_time(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise CallRequestError(
            f"{attribute.name} must be an aware datetime, got {_type_name(value)}",
            field=attribute.name,
        )


def _url_tuple(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise CallRequestError(
            f"recording_urls must be a sequence of strings, got {_type_name(value)}",
            field="recording_urls",
        )
    return tuple(value)


def _to_raw(value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise CallRequestError("raw must be a mapping with string keys", field="raw")
    return _freeze_body(value)


def _raw_field() -> Mapping[str, object]:
    # Kept for the caller, left out of equality: a form and a JSON body of one event are equal.
    return attrs.field(
        factory=lambda: MappingProxyType({}), converter=_to_raw, eq=False, repr=_keys_only
    )


# --- the two values ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SessionUpdate:
    """One call state change, from the session-update webhook.

    ``status`` and ``direction`` hold the canonical spelling of a known value
    (:data:`SESSION_STATUSES`, :data:`DIRECTIONS`), or the value as given; :attr:`issues` warns
    about the unknown ones. Times are aware UTC datetimes, None until they happen. ``raw`` is
    the whole body, read-only, not part of equality.
    """

    #: The session's unique id (``token``), the ``CallSid`` of the call's voice requests.
    token: str = attrs.field(validator=_required_text)
    domain: str = attrs.field(validator=_required_text)
    status: str = attrs.field(validator=_required_text)
    #: The platform's numeric session id (``id``).
    session_id: int | None = attrs.field(default=None, validator=_optional_whole)
    #: The event's id (``eventId``): the same event delivered twice has the same one.
    event_id: str | None = attrs.field(default=None, validator=_optional_text)
    caller_id: str | None = attrs.field(default=None, validator=_optional_text)
    destination: str | None = attrs.field(default=None, validator=_optional_text)
    direction: str | None = attrs.field(default=None, validator=_optional_text)
    call_start_time: datetime | None = attrs.field(default=None, validator=_optional_time)
    call_answer_time: datetime | None = attrs.field(default=None, validator=_optional_time)
    call_end_time: datetime | None = attrs.field(default=None, validator=_optional_time)
    raw: Mapping[str, object] = _raw_field()

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "status", _canonical(self.status, _STATUS_KEYS))
        object.__setattr__(self, "direction", _canonical(self.direction, _DIRECTION_KEYS))

    @classmethod
    def from_payload(cls, body: Mapping[str, object]) -> SessionUpdate:
        """Read a session-update body (parsed JSON, or a form as a ``str`` to ``str`` mapping).

        ``token``, ``domain`` and ``status`` are required (non-empty strings); ``id`` and the
        ``call*Time`` epochs (milliseconds; 0 means not yet) are whole numbers or digit
        strings. Every problem raises :class:`~cxml.CallRequestError` naming the field.
        """
        read = _Body(body, "session update")
        return cls(
            token=read.require(read.text("token"), "token"),
            domain=read.require(read.text("domain"), "domain"),
            status=read.require(read.text("status"), "status"),
            session_id=read.whole("id"),
            event_id=read.text("eventId"),
            caller_id=read.text("callerId"),
            destination=read.text("destination"),
            direction=read.text("direction"),
            call_start_time=read.epoch_ms("callStartTime"),
            call_answer_time=read.epoch_ms("callAnswerTime"),
            call_end_time=read.epoch_ms("callEndTime"),
            raw=read.raw(),
        )

    @property
    def ended(self) -> bool:
        """Whether this status means the call is over (completed, busy, no-answer, ...)."""
        return self.status in ENDED_STATUSES

    @property
    def issues(self) -> list[Issue]:
        """Warnings (code ``UNKNOWN_VALUE``) for a status or direction this module does not
        know: the value is kept as given, the platform may have added it."""
        return _unknown(self.status, _STATUS_KEYS, "status") + _unknown(
            self.direction, _DIRECTION_KEYS, "direction"
        )


@attrs.frozen(kw_only=True)
class CallRecord:
    """One call detail record (CDR), from the CDR webhook, after the call ended.

    ``disposition`` holds the canonical spelling of a known value (:data:`DISPOSITIONS`) or the
    value as given (:attr:`issues` warns). ``duration`` is the whole call and ``billsec`` the
    connected part, in seconds. ``domain`` is the tenant's name (``domain``, else
    ``owner.domain.name``), ``domain_uuid`` its id (``owner.domain.uuid``): at least one is
    set by :meth:`from_payload`. ``raw`` is the whole body, read-only, not part of equality.
    """

    disposition: str = attrs.field(validator=_required_text)
    duration: int = attrs.field(validator=_required_whole)
    billsec: int | None = attrs.field(default=None, validator=_optional_whole)
    domain: str | None = attrs.field(default=None, validator=_optional_text)
    domain_uuid: str | None = attrs.field(default=None, validator=_optional_text)
    from_: str | None = attrs.field(default=None, validator=_optional_text)
    to: str | None = attrs.field(default=None, validator=_optional_text)
    #: The SIP Call-ID (``call_id``).
    call_id: str | None = attrs.field(default=None, validator=_optional_text)
    #: The session's unique id (``session.token``), as `SessionUpdate.token`.
    token: str | None = attrs.field(default=None, validator=_optional_text)
    #: The platform's numeric session id (``session.id``).
    session_id: int | None = attrs.field(default=None, validator=_optional_whole)
    #: When the record was written (``timestamp``, epoch seconds).
    timestamp: datetime | None = attrs.field(default=None, validator=_optional_time)
    call_start_time: datetime | None = attrs.field(default=None, validator=_optional_time)
    call_answer_time: datetime | None = attrs.field(default=None, validator=_optional_time)
    call_end_time: datetime | None = attrs.field(default=None, validator=_optional_time)
    recording_urls: tuple[str, ...] = attrs.field(
        default=(), converter=_url_tuple, validator=attrs.validators.deep_iterable(_required_text)
    )
    raw: Mapping[str, object] = _raw_field()

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "disposition", _canonical(self.disposition, _DISPOSITION_KEYS))

    @classmethod
    def from_payload(cls, body: Mapping[str, object]) -> CallRecord:
        """Read a CDR body (parsed JSON, or a form with dotted keys for nested fields).

        ``disposition`` and ``duration`` are required, and a tenant: ``domain``,
        ``owner.domain.name`` or ``owner.domain.uuid`` (``domain`` and ``owner.domain.name``
        must agree if both are sent). Durations are whole seconds, ``timestamp`` epoch
        seconds, ``session.call*Time`` epoch milliseconds; ``recording_url`` is one URL or a
        list. Every problem raises :class:`~cxml.CallRequestError` naming the (dotted) field.
        """
        read = _Body(body, "CDR")
        domain = read.text("domain")
        owner_name = read.text("owner.domain.name")
        if domain and owner_name and domain != owner_name:
            raise CallRequestError(
                "owner.domain.name and domain name different domains", field="owner.domain.name"
            )
        domain = domain or owner_name
        domain_uuid = read.text("owner.domain.uuid")
        if not domain and not domain_uuid:
            raise CallRequestError(
                "domain is missing (send domain, owner.domain.name or owner.domain.uuid)",
                field="domain",
            )
        return cls(
            disposition=read.require(read.text("disposition"), "disposition"),
            duration=read.require(read.whole("duration"), "duration"),
            billsec=read.whole("billsec"),
            domain=domain or None,
            domain_uuid=domain_uuid or None,
            from_=read.text("from"),
            to=read.text("to"),
            call_id=read.text("call_id"),
            token=read.text("session.token"),
            session_id=read.whole("session.id"),
            timestamp=read.epoch_s("timestamp"),
            call_start_time=read.epoch_ms("session.callStartTime"),
            call_answer_time=read.epoch_ms("session.callAnswerTime"),
            call_end_time=read.epoch_ms("session.callEndTime"),
            recording_urls=read.read("recording_url", _urls) or (),
            raw=read.raw(),
        )

    @property
    def answered(self) -> bool | None:
        """True if the call was connected (``CONNECTED``, ``ANSWERED``), False for the other
        known dispositions, None for one this module does not know."""
        if self.disposition in ANSWERED_DISPOSITIONS:
            return True
        if self.disposition in DISPOSITIONS:
            return False
        return None

    @property
    def issues(self) -> list[Issue]:
        """A warning (code ``UNKNOWN_VALUE``) for a disposition this module does not know."""
        return _unknown(self.disposition, _DISPOSITION_KEYS, "disposition")
