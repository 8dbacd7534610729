"""SessionUpdate and CallRecord: the platform's session-update and CDR webhook bodies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

import cxml
from cxml import CallRecord, CallRequestError, CxmlError, SessionUpdate
from cxml._events import DIRECTIONS, DISPOSITIONS, MAX_EPOCH_MS, SESSION_STATUSES

# A session update as the platform POSTs it: the session object (Cloudonix "Session" data
# model and "Session updates" webhook; the extra fields are those OPBX stores).
SESSION_JSON = """{
  "id": 22228976, "eventId": "ev-7f3a", "domainId": 1780, "domain": "acme.cloudonix.net",
  "subscriberId": 248846, "callerId": "+14155550123", "destination": "+14155550100",
  "direction": "incoming", "status": "connected", "token": "8d670566f2de4c83ad815119df546240",
  "createdAt": "2026-12-03T10:30:00Z", "modifiedAt": "2026-12-03T10:30:05Z",
  "callStartTime": 1796293800000, "callAnswerTime": 1796293804250, "callEndTime": 0,
  "timeLimit": 3600, "vappServer": "172.24.40.152", "action": "update", "reason": null,
  "callIds": ["g5ubVWFlrWWIlRLJrKbkQg.."],
  "profile": {"subscriber-sip-headers": {"Cloudonix-Signature": "ef6bd6c646c465a2"}}
}"""

# A CDR as the CDR processor documentation shows it (values our own).
CDR_JSON = """{
  "timestamp": 1796293840, "domain": "acme.cloudonix.net", "subscriber": 372,
  "from": "12127773456", "to": "14155550100", "cx_trunk_id": null, "application": 345,
  "route": null, "duration": 33, "billsec": 31, "disposition": "CONNECTED",
  "rated_cost": null, "approx_cost": null, "sell_cost": null, "vapp_server": "172.24.41.58",
  "call_id": "315df9a833a762214873c11b49bf622a@192.0.2.10:5060",
  "session": {
    "id": 9812750, "domainId": 3, "domain": "acme.cloudonix.net",
    "destination": "14155550100", "callerId": "12127773456",
    "token": "16a7294c989b11e7b3d32b9edb8660c7", "timeLimit": 0,
    "profile": {"callId": ["315df9a833a762214873c11b49bf622a@192.0.2.10:5060"],
                "qos": {"rxjitter": 0, "tx_mos": 4.4}},
    "callStartTime": 1796293806387, "callEndTime": 1796293840343,
    "callAnswerTime": 1796293808610, "status": "connected", "vappServer": "172.24.41.58"
  }
}"""

# A CDR naming its tenant the way OPBX reads it, with a recording.
OWNER_CDR = {
    "from": "+14155550123",
    "to": "+14155550100",
    "disposition": "NO ANSWER",
    "duration": 20,
    "billsec": 0,
    "call_id": "abc123-def456",
    "recording_url": "https://storage.example.com/recordings/rec_123.mp3",
    "owner": {"domain": {"uuid": "5f0c7a8e-1d2b-4c3d-9e8f-0a1b2c3d4e5f", "name": "acme.net"}},
}


def utc(moment: str) -> datetime:
    return datetime.fromisoformat(moment).replace(tzinfo=UTC)


def form(payload: Mapping[str, Any]) -> dict[str, str]:
    """The same body form-encoded, read back as the server reads a form: nested fields as
    dotted keys, every value a string, null as the empty string."""
    flat: dict[str, str] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else key, item)
        elif value is None:
            flat[prefix] = ""
        elif isinstance(value, list):
            flat[prefix] = json.dumps(value)  # a form has no lists; kept opaque
        else:
            flat[prefix] = str(value)

    walk("", payload)
    return dict(parse_qsl(urlencode(flat), keep_blank_values=True))


def field_of(call: Any, body: object) -> str:
    with pytest.raises(CallRequestError) as caught:
        call(body)
    assert caught.value.code == "INVALID_CALL_REQUEST"
    assert isinstance(caught.value, CxmlError)
    return caught.value.field


# --- reading the documented payloads ---------------------------------------------------------


def test_session_update_from_the_documented_payload() -> None:
    update = SessionUpdate.from_payload(json.loads(SESSION_JSON))
    assert update.token == "8d670566f2de4c83ad815119df546240"
    assert update.session_id == 22228976
    assert update.event_id == "ev-7f3a"
    assert update.domain == "acme.cloudonix.net"
    assert (update.caller_id, update.destination) == ("+14155550123", "+14155550100")
    assert (update.direction, update.status) == ("incoming", "connected")
    # Epoch milliseconds, kept to the millisecond; 0 is "has not happened".
    assert update.call_start_time == utc("2026-12-03T10:30:00")
    assert update.call_answer_time == utc("2026-12-03T10:30:04.250")
    assert update.call_end_time is None
    assert update.issues == []
    assert not update.ended
    # Nothing is lost: the whole body stays, read-only.
    assert update.raw["vappServer"] == "172.24.40.152"
    assert update.raw["callIds"] == ("g5ubVWFlrWWIlRLJrKbkQg..",)
    with pytest.raises(TypeError):
        update.raw["status"] = "x"  # type: ignore[index]


def test_call_record_from_the_documented_payload() -> None:
    record = CallRecord.from_payload(json.loads(CDR_JSON))
    assert record.disposition == "CONNECTED"
    assert record.answered is True
    assert (record.duration, record.billsec) == (33, 31)
    assert (record.from_, record.to) == ("12127773456", "14155550100")
    assert (record.domain, record.domain_uuid) == ("acme.cloudonix.net", None)
    assert record.call_id == "315df9a833a762214873c11b49bf622a@192.0.2.10:5060"
    assert record.token == "16a7294c989b11e7b3d32b9edb8660c7"
    assert record.session_id == 9812750
    assert record.timestamp == utc("2026-12-03T10:30:40")
    assert record.call_start_time == utc("2026-12-03T10:30:06.387")
    assert record.call_answer_time == utc("2026-12-03T10:30:08.610")
    assert record.call_end_time == utc("2026-12-03T10:30:40.343")
    assert record.recording_urls == ()
    assert record.issues == []
    assert record.raw["session"]["profile"]["qos"]["tx_mos"] == 4.4  # type: ignore[index]


def test_call_record_with_the_tenant_as_owner_and_a_recording() -> None:
    record = CallRecord.from_payload(OWNER_CDR)
    assert record.domain == "acme.net"
    assert record.domain_uuid == "5f0c7a8e-1d2b-4c3d-9e8f-0a1b2c3d4e5f"
    assert record.disposition == "NOANSWER"
    assert record.answered is False
    assert record.recording_urls == ("https://storage.example.com/recordings/rec_123.mp3",)
    only_uuid = {**OWNER_CDR, "owner": {"domain": {"uuid": "u-1"}}}
    assert CallRecord.from_payload(only_uuid).domain is None
    assert CallRecord.from_payload(only_uuid).domain_uuid == "u-1"
    several = {**OWNER_CDR, "recording_url": ["https://a.example/1.mp3", "https://a.example/2"]}
    assert len(CallRecord.from_payload(several).recording_urls) == 2


@pytest.mark.parametrize(
    ("payload", "reader"),
    [(json.loads(SESSION_JSON), SessionUpdate), (json.loads(CDR_JSON), CallRecord)],
    ids=["session-update", "cdr"],
)
def test_form_and_json_bodies_read_to_equal_values(payload: dict[str, Any], reader: Any) -> None:
    from_json = reader.from_payload(payload)
    from_form = reader.from_payload(form(payload))
    assert from_form == from_json
    assert isinstance(from_form.raw[next(iter(from_form.raw))], str)  # the form, as sent


def test_a_form_with_owner_and_session_as_dotted_keys() -> None:
    body = form({**OWNER_CDR, "session": {"token": "tok", "callAnswerTime": 1796293804250}})
    assert body["owner.domain.uuid"] == "5f0c7a8e-1d2b-4c3d-9e8f-0a1b2c3d4e5f"
    record = CallRecord.from_payload(body)
    assert (record.token, record.domain_uuid) == ("tok", "5f0c7a8e-1d2b-4c3d-9e8f-0a1b2c3d4e5f")
    assert record.call_answer_time == utc("2026-12-03T10:30:04.250")
    # The empty string is a form's null: an optional number or time is absent.
    assert CallRecord.from_payload({**body, "billsec": "", "timestamp": ""}).billsec is None


# --- spellings and values the platform may add -----------------------------------------------


@pytest.mark.parametrize(
    ("given_", "canonical"),
    [
        ("NEW", "new"),
        ("Ringing", "ringing"),
        ("noanswer", "no-answer"),
        ("NO_ANSWER", "no-answer"),
        ("cancelled", "canceled"),
        ("answer", "answered"),
        ("completed", "completed"),
    ],
)
def test_known_statuses_are_canonical(given_: str, canonical: str) -> None:
    body = {"token": "t", "domain": "d", "status": given_}
    update = SessionUpdate.from_payload(body)
    assert update.status == canonical
    assert update.issues == []
    assert update.ended is (canonical in {"no-answer", "canceled", "completed"})


def test_an_unknown_status_or_direction_is_kept_with_a_warning() -> None:
    body = {"token": "t", "domain": "d", "status": "Parked", "direction": "sideways"}
    update = SessionUpdate.from_payload(body)
    assert (update.status, update.direction) == ("Parked", "sideways")
    assert [(i.code, i.severity, i.path) for i in update.issues] == [
        ("UNKNOWN_VALUE", "warning", "status"),
        ("UNKNOWN_VALUE", "warning", "direction"),
    ]
    assert "'Parked'" in update.issues[0].message
    assert not update.ended


def test_an_unknown_disposition_is_kept_with_a_warning() -> None:
    record = CallRecord.from_payload({**OWNER_CDR, "disposition": "VOICEMAIL"})
    assert record.disposition == "VOICEMAIL"
    assert record.answered is None
    assert [(i.code, i.path) for i in record.issues] == [("UNKNOWN_VALUE", "disposition")]
    assert CallRecord.from_payload({**OWNER_CDR, "disposition": "cancelled"}).disposition == (
        "CANCEL"
    )


# --- bad bodies name their field -------------------------------------------------------------

SESSION = {"token": "t", "domain": "acme", "status": "ringing"}
CDR = {"domain": "acme", "disposition": "BUSY", "duration": 0}


@pytest.mark.parametrize("missing", ["token", "domain", "status"])
def test_a_missing_session_update_field_names_itself(missing: str) -> None:
    body = {key: value for key, value in SESSION.items() if key != missing}
    assert field_of(SessionUpdate.from_payload, body) == missing
    assert field_of(SessionUpdate.from_payload, {**SESSION, missing: ""}) == missing
    assert field_of(SessionUpdate.from_payload, {**SESSION, missing: None}) == missing


@pytest.mark.parametrize("missing", ["domain", "disposition", "duration"])
def test_a_missing_cdr_field_names_itself(missing: str) -> None:
    body = {key: value for key, value in CDR.items() if key != missing}
    assert field_of(CallRecord.from_payload, body) == missing


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"token": 42}, "token"),
        ({"status": ["ringing"]}, "status"),
        ({"callerId": {"name": "x"}}, "callerId"),
        ({"id": "12ab"}, "id"),
        ({"id": True}, "id"),
        ({"id": -1}, "id"),
        ({"id": "-1"}, "id"),
        ({"callStartTime": 1.5}, "callStartTime"),
        ({"callStartTime": float("nan")}, "callStartTime"),
        ({"callAnswerTime": MAX_EPOCH_MS + 1}, "callAnswerTime"),
        ({"callEndTime": "1e12"}, "callEndTime"),
        ({"eventId": 7}, "eventId"),
        ({"destination": "x" * 5000}, "destination"),
    ],
)
def test_a_wrong_session_update_field_names_itself(extra: dict[str, Any], field: str) -> None:
    assert field_of(SessionUpdate.from_payload, {**SESSION, **extra}) == field


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"duration": "33s"}, "duration"),
        ({"duration": 2**63}, "duration"),
        ({"billsec": False}, "billsec"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"from": 12127773456}, "from"),
        ({"session": "16a7294c"}, "session"),
        ({"session": {"token": 5}}, "session.token"),
        ({"session": {"id": "x"}}, "session.id"),
        ({"session": {"callStartTime": -5}}, "session.callStartTime"),
        ({"owner": "acme"}, "owner"),
        ({"owner": {"domain": ["acme"]}}, "owner.domain"),
        ({"owner": {"domain": {"uuid": 7}}}, "owner.domain.uuid"),
        ({"owner.domain.uuid": 7}, "owner.domain.uuid"),
        ({"owner": {"domain": {"name": "other"}}}, "owner.domain.name"),
        ({"recording_url": 5}, "recording_url"),
        ({"recording_url": ["https://a.example/1", None]}, "recording_url[1]"),
        # One field, two encodings that disagree.
        ({"session": {"token": "a"}, "session.token": "b"}, "session.token"),
    ],
)
def test_a_wrong_cdr_field_names_itself(extra: dict[str, Any], field: str) -> None:
    assert field_of(CallRecord.from_payload, {**CDR, **extra}) == field


def test_a_body_that_is_not_an_object_is_field_dollar() -> None:
    int_key: dict[object, object] = {1: "x"}
    int_key.update(CDR)
    for reader in (SessionUpdate.from_payload, CallRecord.from_payload):
        assert field_of(reader, ["token", "t"]) == "$"
        assert field_of(reader, int_key) == "$"


def test_two_encodings_that_agree_are_one_field() -> None:
    body = {**CDR, "session": {"token": "a", "id": 5}, "session.token": "a", "session.id": "5"}
    record = CallRecord.from_payload(body)
    assert (record.token, record.session_id) == ("a", 5)


def test_reprs_show_no_body_values() -> None:
    update = SessionUpdate.from_payload(json.loads(SESSION_JSON))
    record = CallRecord.from_payload(json.loads(CDR_JSON))
    assert "ef6bd6c646c465a2" not in repr(update)  # a header signature inside profile
    assert "'profile': ..." in repr(update)
    assert "rxjitter" not in repr(record)


def test_direct_construction_is_checked() -> None:
    update = SessionUpdate(token="t", domain="d", status="BUSY", direction="Outgoing")
    assert (update.status, update.direction, update.ended) == ("busy", "outgoing", True)
    assert update.raw == {}
    with pytest.raises(CallRequestError) as caught:
        SessionUpdate(token=5, domain="d", status="new")  # type: ignore[arg-type]
    assert caught.value.field == "token"
    with pytest.raises(CallRequestError) as caught:
        SessionUpdate(token="t", domain="d", status="new", call_start_time=datetime(2026, 1, 1))
    assert caught.value.field == "call_start_time"
    with pytest.raises(CallRequestError) as caught:
        CallRecord(disposition="BUSY", duration=-1)
    assert caught.value.field == "duration"
    with pytest.raises(CallRequestError) as caught:
        CallRecord(disposition="BUSY", duration=0, recording_urls="https://a.example/1")
    assert caught.value.field == "recording_urls"
    other_zone = timezone(timedelta(hours=2))
    record = CallRecord(
        disposition="busy", duration=0, timestamp=datetime(2026, 1, 1, tzinfo=other_zone)
    )
    assert (record.disposition, record.answered) == ("BUSY", False)


def test_the_public_names() -> None:
    assert {"SessionUpdate", "CallRecord"} <= set(cxml.__all__)
    assert SessionUpdate.__module__ == "cxml"


# --- properties ------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
# Keys the readers look at, so the property reaches their checks, not only the unknown path.
KNOWN_KEYS = [
    "token",
    "domain",
    "status",
    "id",
    "eventId",
    "callerId",
    "destination",
    "direction",
    "callStartTime",
    "callAnswerTime",
    "callEndTime",
    "disposition",
    "duration",
    "billsec",
    "from",
    "to",
    "call_id",
    "timestamp",
    "recording_url",
    "session",
    "owner",
    "session.token",
    "session.id",
    "session.callStartTime",
    "owner.domain",
    "owner.domain.uuid",
    "owner.domain.name",
]
keys = st.sampled_from(KNOWN_KEYS) | st.text(max_size=12)
json_bodies = st.dictionaries(keys, json_values, max_size=12)
form_bodies = st.dictionaries(keys, st.text(max_size=20) | st.from_regex(r"\A[0-9]{0,21}\Z"))
nested_known = st.fixed_dictionaries(
    {},
    optional={
        "session": st.dictionaries(
            st.sampled_from(["token", "id", "callStartTime", "callEndTime"]), json_values
        ),
        "owner": st.fixed_dictionaries(
            {},
            optional={
                "domain": st.dictionaries(st.sampled_from(["uuid", "name"]), json_values)
                | json_values
            },
        ),
    },
)


@given(
    st.one_of(
        json_bodies,
        form_bodies,
        st.builds(lambda a, b: {**a, **b}, json_bodies, nested_known),
        json_values,
    )
)
def test_any_body_reads_or_raises_call_request_error(body: Any) -> None:
    for reader in (SessionUpdate.from_payload, CallRecord.from_payload):
        try:
            value = reader(body)
        except CallRequestError as exc:
            assert exc.field  # always names where
        else:
            assert value.raw == body or value.raw.keys() == body.keys()
            assert "raw={" in repr(value)
            assert all(issue.severity == "warning" for issue in value.issues)


def epoch_ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


moments = st.datetimes(
    min_value=datetime(1970, 1, 1, 0, 0, 1),
    max_value=datetime(9999, 12, 31),
    timezones=st.just(UTC),
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))
texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=30)
whole = st.integers(min_value=0, max_value=2**63 - 1)


@st.composite
def session_updates(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A valid session-update body and the values it must read to."""
    expected: dict[str, Any] = {
        "token": draw(texts),
        "domain": draw(texts),
        "status": draw(st.sampled_from(sorted(SESSION_STATUSES))),
        "session_id": draw(st.none() | whole),
        "event_id": draw(st.none() | texts),
        "caller_id": draw(st.none() | texts),
        "destination": draw(st.none() | texts),
        "direction": draw(st.none() | st.sampled_from(sorted(DIRECTIONS))),
        "call_start_time": draw(st.none() | moments),
        "call_answer_time": draw(st.none() | moments),
        "call_end_time": draw(st.none() | moments),
    }
    wire = {
        "session_id": "id",
        "event_id": "eventId",
        "caller_id": "callerId",
        "call_start_time": "callStartTime",
        "call_answer_time": "callAnswerTime",
        "call_end_time": "callEndTime",
    }
    body: dict[str, Any] = {}
    for name, value in expected.items():
        if value is not None:
            body[wire.get(name, name)] = epoch_ms(value) if isinstance(value, datetime) else value
    return body, expected


@st.composite
def call_records(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A valid CDR body and the values it must read to."""
    expected: dict[str, Any] = {
        "disposition": draw(st.sampled_from(sorted(DISPOSITIONS))),
        "duration": draw(whole),
        "billsec": draw(st.none() | whole),
        "domain": draw(st.none() | texts),
        "domain_uuid": draw(st.none() | texts),
        "from_": draw(st.none() | texts),
        "to": draw(st.none() | texts),
        "call_id": draw(st.none() | texts),
        "token": draw(st.none() | texts),
        "session_id": draw(st.none() | whole),
        "timestamp": draw(st.none() | moments.map(lambda m: m.replace(microsecond=0))),
        "call_start_time": draw(st.none() | moments),
        "call_answer_time": draw(st.none() | moments),
        "call_end_time": draw(st.none() | moments),
        "recording_urls": tuple(draw(st.lists(texts, max_size=3))),
    }
    if expected["domain"] is None and expected["domain_uuid"] is None:
        expected["domain"] = draw(texts)
    body: dict[str, Any] = {
        "disposition": expected["disposition"],
        "duration": expected["duration"],
    }
    session: dict[str, Any] = {}
    owner_domain: dict[str, Any] = {}
    places = {
        "billsec": (body, "billsec"),
        "from_": (body, "from"),
        "to": (body, "to"),
        "call_id": (body, "call_id"),
        "token": (session, "token"),
        "session_id": (session, "id"),
        "domain_uuid": (owner_domain, "uuid"),
        "call_start_time": (session, "callStartTime"),
        "call_answer_time": (session, "callAnswerTime"),
        "call_end_time": (session, "callEndTime"),
    }
    for name, (where, key) in places.items():
        if expected[name] is not None:
            value = expected[name]
            where[key] = epoch_ms(value) if isinstance(value, datetime) else value
    if expected["timestamp"] is not None:
        body["timestamp"] = epoch_ms(expected["timestamp"]) // 1000
    if expected["domain"] is not None:
        # Either documented place for the name.
        if draw(st.booleans()):
            body["domain"] = expected["domain"]
        else:
            owner_domain["name"] = expected["domain"]
    if expected["recording_urls"]:
        urls = list(expected["recording_urls"])
        body["recording_url"] = urls[0] if len(urls) == 1 and draw(st.booleans()) else urls
    if session:
        body["session"] = session
    if owner_domain:
        body["owner"] = {"domain": owner_domain}
    return body, expected


def fields(value: object, names: Mapping[str, Any]) -> dict[str, Any]:
    return {name: getattr(value, name) for name in names}


@given(session_updates())
def test_session_update_round_trip(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    body, expected = case
    update = SessionUpdate.from_payload(body)
    assert fields(update, expected) == expected
    assert update.issues == []
    assert SessionUpdate.from_payload(form(body)) == update
    assert SessionUpdate(**expected) == update


@given(call_records())
def test_call_record_round_trip(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    body, expected = case
    record = CallRecord.from_payload(body)
    assert fields(record, expected) == expected
    assert record.issues == []
    if not isinstance(body.get("recording_url"), list):  # a form has no lists
        assert CallRecord.from_payload(form(body)) == record
    assert CallRecord(**expected) == record
