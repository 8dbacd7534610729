"""CallRequest: reading the platform's webhook body, strictly typed, leniently spelled."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxml._errors import CallRequestError, CxmlError
from cxml._request import (
    CALL_STATUSES,
    DIAL_CALL_STATUSES,
    DIRECTIONS,
    MAX_NESTING_DEPTH,
    MAX_STRING_LENGTH,
    CallRequest,
)

WIRE_NAMES = [
    "CallSid",
    "From",
    "To",
    "CallerName",
    "Direction",
    "CallStatus",
    "Session",
    "Diverted",
    "AssertedIdentity",
    "ApiVersion",
    "Domain",
    "AccountSid",
    "SessionData",
    "Digits",
    "SpeechResult",
    "DialCallStatus",
    "RecordingUrl",
]
KNOWN_LOWER = {name.lower() for name in WIRE_NAMES}
STRING_FIELDS = [n for n in WIRE_NAMES if n != "SessionData"]

# The body shape quoted in the reference (section 2.2), values invented.
OBSERVED_BODY: dict[str, object] = {
    "ApiVersion": "2024-01-01",
    "CallSid": "cs-0001",
    "Session": "sess-TOKEN-abc123",
    "From": "15551234567",
    "To": "50000",
    "Direction": "inbound",
    "CallStatus": "ringing",
    "Domain": "acme.cloudonix.net",
    "AccountSid": "acct-42",
    "SessionData": {
        "id": 1,
        "domainId": 2,
        "destination": "50000",
        "callerId": "15551234567",
        "token": "sd-TOKEN-xyz789",
        "profile": {
            "trunk-sip-headers": {},
            "callId": [],
            "inbound-trunk-name": "main",
            "inbound-trunk-id": 3,
        },
        "callStartTime": 0,
        "status": "processing",
        "vappServer": "vapp.example",
        "domainNameOrId": "acme",
        "ringing": False,
    },
}


def error_for(body: object, **kwargs: Any) -> CallRequestError:
    with pytest.raises(CallRequestError) as info:
        CallRequest.from_payload(body, **kwargs)  # type: ignore[arg-type]
    return info.value


# --- examples -------------------------------------------------------------------------------


def test_observed_body_parses() -> None:
    r = CallRequest.from_payload(OBSERVED_BODY, url="https://app.example/voice")
    assert r.call_sid == "cs-0001"
    assert r.from_ == "15551234567"
    assert r.to == "50000"
    assert r.direction == "inbound"
    assert r.call_status == "ringing"
    assert r.session == "sess-TOKEN-abc123"
    assert r.domain == "acme.cloudonix.net"
    assert r.account_sid == "acct-42"
    assert r.api_version == "2024-01-01"
    assert r.url == "https://app.example/voice"
    assert r.session_data is not None
    assert r.session_data["token"] == "sd-TOKEN-xyz789"
    assert r.session_data["profile"]["inbound-trunk-id"] == 3  # type: ignore[index]
    assert r.extra == {}
    assert r.dial_answered is None
    assert r.to_payload() == OBSERVED_BODY
    assert json.loads(json.dumps(r.to_payload())) == OBSERVED_BODY


def test_empty_body_is_a_valid_callback() -> None:
    r = CallRequest.from_payload({})
    assert r == CallRequest()
    assert r.to_payload() == {}


def test_get_query_string_shape() -> None:
    r = CallRequest.from_payload(
        {"CallSid": "c1", "Digits": "1234#", "SpeechResult": "sales please"},
        url="https://app.example/ivr?step=2",
    )
    assert (r.digits, r.speech_result) == ("1234#", "sales please")


@pytest.mark.parametrize(
    "body",
    [
        {"from": "100", "to": "200"},
        {"From": "100", "To": "200"},
        {"FROM": "100", "tO": "200"},
        {"From": "100", "from": "100", "To": "200", "to": "200"},
    ],
)
def test_from_to_key_case_tolerated(body: dict[str, object]) -> None:
    r = CallRequest.from_payload(body)
    assert (r.from_, r.to) == ("100", "200")
    assert r.extra == {}
    assert r.to_payload() == {"From": "100", "To": "200"}


@pytest.mark.parametrize("key", ["CallSid", "callSid", "callsid", "CALLSID"])
def test_call_sid_spellings(key: str) -> None:
    assert CallRequest.from_payload({key: "abc"}).call_sid == "abc"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"From": "sekrit-1", "from": "sekrit-2"}, "From"),
        ({"callSid": "sekrit-1", "CallSid": "sekrit-2"}, "CallSid"),
        ({"Session": "sekrit-1", "session": "sekrit-2"}, "Session"),
        (
            {"SessionData": {"token": "sekrit-1"}, "sessionData": {"token": "sekrit-2"}},
            "SessionData",
        ),
        ({"From": "sekrit-1", "from": None}, "From"),
    ],
)
def test_conflicting_duplicates_rejected(body: dict[str, object], field: str) -> None:
    err = error_for(body)
    assert err.field == field
    assert "sekrit" not in str(err)


def test_duplicates_equal_after_normalisation_are_accepted() -> None:
    r = CallRequest.from_payload({"DialCallStatus": "noanswer", "dialCallStatus": "no-answer"})
    assert r.dial_call_status == "no-answer"


@pytest.mark.parametrize(
    ("field", "value", "type_name"),
    [
        ("From", 15551234567, "int"),
        ("To", 50000.5, "float"),
        ("CallSid", True, "bool"),
        ("Session", ["sekrit-token"], "list"),
        ("Direction", {"v": "inbound"}, "dict"),
        ("DialCallStatus", 3, "int"),
        ("SessionData", "sekrit-token", "str"),
        ("SessionData", ["sekrit-token"], "list"),
        ("Digits", 1234, "int"),
    ],
)
def test_wrong_types_rejected_without_echo(field: str, value: object, type_name: str) -> None:
    err = error_for({field: value})
    assert err.field == field
    assert isinstance(err, CxmlError)
    assert type_name in err.message
    message = str(err)
    assert "sekrit" not in message
    assert repr(value) not in message
    if not isinstance(value, bool):
        assert str(value) not in message


def test_from_number_message() -> None:
    err = error_for({"From": 15551234567})
    assert err.message == "From must be a string, got int"


@pytest.mark.parametrize("body", [[], "From=1", 3, None, [("From", "1")]])
def test_body_must_be_a_mapping(body: object) -> None:
    assert error_for(body).field == "$"


def test_non_string_key_rejected() -> None:
    assert error_for({1: "x"}).field == "$"


def test_null_known_field_is_absent() -> None:
    r = CallRequest.from_payload({"From": None, "Digits": None})
    assert r == CallRequest()
    assert r.to_payload() == {}


def test_string_length_cap() -> None:
    assert CallRequest.from_payload({"From": "1" * MAX_STRING_LENGTH}).from_ is not None
    err = error_for({"From": "sekrit" * 1000})
    assert err.field == "From"
    assert str(MAX_STRING_LENGTH) in err.message
    assert "sekrit" not in str(err)
    assert len(str(err)) < 200


def test_nesting_cap_is_an_error_not_a_crash() -> None:
    deep: object = "leaf"
    for _ in range(MAX_NESTING_DEPTH + 5):
        deep = {"k": deep}
    assert error_for({"SessionData": deep}).field == "SessionData"
    assert error_for({"Custom": [deep]}).field == "Custom"
    deeper: object = []
    for _ in range(5000):
        deeper = [deeper]
    assert error_for({"Custom": deeper}).field == "Custom"


def test_unknown_fields_preserved_and_round_tripped() -> None:
    body: dict[str, object] = {
        "From": "1",
        "CallStartTime": 1700000000,
        "SessionStatus": "active",
        "profile": {"amd": {"result": "human", "confidence": 0.9}},
        "list": [1, "two", None, {"three": 3.0}],
        "call_sid": "snake-case is not a known spelling",
    }
    r = CallRequest.from_payload(body)
    assert r.call_sid is None
    assert set(r.extra) == set(body) - {"From"}
    assert r.extra["CallStartTime"] == 1700000000
    assert r.to_payload() == body
    assert CallRequest.from_payload(r.to_payload(), url=r.url) == r


@pytest.mark.parametrize(
    "spelling", ["noanswer", "no-answer", "NO-ANSWER", "No_Answer", "NoAnswer", "no answer"]
)
def test_dial_call_status_normalised(spelling: str) -> None:
    r = CallRequest.from_payload({"DialCallStatus": spelling})
    assert r.dial_call_status == "no-answer"
    assert r.dial_answered is False
    assert r.to_payload() == {"DialCallStatus": "no-answer"}


@pytest.mark.parametrize(
    ("status", "answered"),
    [
        ("completed", True),
        ("answered", True),
        ("busy", False),
        ("no-answer", False),
        ("failed", False),
        ("canceled", False),
        ("unknown", False),
        ("ringing", None),
        (None, None),
    ],
)
def test_dial_answered(status: str | None, answered: bool | None) -> None:
    assert CallRequest(dial_call_status=status).dial_answered is answered


def test_other_enumerations_normalised_the_same_way() -> None:
    r = CallRequest.from_payload({"Direction": "Outbound_API", "CallStatus": "IN PROGRESS"})
    assert (r.direction, r.call_status) == ("outbound-api", "in-progress")


@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
def test_every_direction_accepted(direction: str) -> None:
    assert CallRequest.from_payload({"Direction": direction}).direction == direction


@pytest.mark.parametrize("status", sorted(CALL_STATUSES))
def test_every_call_status_accepted(status: str) -> None:
    assert CallRequest.from_payload({"CallStatus": status}).call_status == status


@pytest.mark.parametrize(
    ("field", "value"),
    [("CallStatus", "exploded-zq"), ("CallStatus", "noanswerr"), ("CallStatus", "")],
)
def test_an_unknown_call_status_is_rejected(field: str, value: str) -> None:
    err = error_for({field: value})
    assert err.field == field
    if value:
        assert value not in str(err)


@pytest.mark.parametrize(
    ("field", "attr", "value"),
    [
        ("Direction", "direction", "sideways-zq"),
        ("Direction", "direction", ""),
        ("Direction", "direction", "inbóund"),
        ("DialCallStatus", "dial_call_status", "maybe-zq"),
        ("DialCallStatus", "dial_call_status", "queued"),
        ("DialCallStatus", "dial_call_status", "transferred"),
    ],
)
def test_an_unknown_direction_or_dial_status_is_kept_with_a_warning(
    field: str, attr: str, value: str
) -> None:
    # The platform defines these; a value the model does not know must not break the call.
    request = CallRequest.from_payload({"CallSid": "CA1", field: value})
    assert getattr(request, attr) == value
    (issue,) = request.issues
    assert (issue.code, issue.severity, issue.path) == (
        "UNKNOWN_REQUEST_VALUE",
        "warning",
        f"$.{field}",
    )
    assert field in issue.message
    assert request.to_payload()[field] == value
    assert CallRequest.from_payload(request.to_payload()) == request
    assert request.dial_answered is None


def test_known_values_give_no_issues() -> None:
    request = CallRequest.from_payload({"Direction": "Inbound", "DialCallStatus": "noanswer"})
    assert (request.direction, request.dial_call_status, request.issues) == (
        "inbound",
        "no-answer",
        (),
    )


def test_session_data_may_come_as_json_text_in_a_form_body() -> None:
    data = {"id": 1, "token": "s3cr3t", "profile": {"callId": ["a"]}}
    form = {"CallSid": "CA1", "SessionData": json.dumps(data)}
    request = CallRequest.from_payload(form)
    assert request.session_data is not None
    assert request.session_data["profile"]["callId"] == ("a",)  # type: ignore[index]
    assert request == CallRequest.from_payload({"CallSid": "CA1", "SessionData": data})
    assert request.to_payload()["SessionData"] == data


@pytest.mark.parametrize("text", ["not json", "{", "[1, 2]", '"a string"', "12", "", "[" * 5000])
def test_session_data_text_that_is_not_a_json_object_names_session_data(text: str) -> None:
    err = error_for({"SessionData": text})
    assert err.field == "SessionData"
    assert text[:20] not in str(err) or not text


@given(st.text(max_size=50))
def test_session_data_text_is_an_object_or_an_error_naming_it(text: str) -> None:
    try:
        request = CallRequest.from_payload({"SessionData": text})
    except CallRequestError as err:
        assert err.field == "SessionData"
    else:
        assert isinstance(request.session_data, Mapping)


def test_constructor_validates_too() -> None:
    with pytest.raises(CallRequestError) as info:
        CallRequest(call_status="sideways")
    assert info.value.field == "CallStatus"
    with pytest.raises(CallRequestError) as info:
        CallRequest(from_=123)  # type: ignore[arg-type]
    assert info.value.field == "From"
    with pytest.raises(CallRequestError) as info:
        CallRequest(url=b"https://x")  # type: ignore[arg-type]
    assert info.value.field == "url"
    with pytest.raises(CallRequestError) as info:
        CallRequest(extra={"from": "1"})
    assert info.value.field == "extra"
    assert CallRequest(dial_call_status="NoAnswer").dial_call_status == "no-answer"


def test_immutable() -> None:
    body: dict[str, Any] = {"SessionData": {"profile": {"callId": ["a"]}}, "Custom": {"k": [1]}}
    r = CallRequest.from_payload(body)
    body["SessionData"]["profile"]["callId"].append("b")
    body["Custom"]["k"].append(2)
    assert r.to_payload() == {"SessionData": {"profile": {"callId": ["a"]}}, "Custom": {"k": [1]}}
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        r.from_ = "2"  # type: ignore[misc]
    assert r.session_data is not None
    with pytest.raises(TypeError):
        r.session_data["x"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        r.extra["x"] = 1  # type: ignore[index]
    with pytest.raises(TypeError, match="unhashable"):
        hash(r)


def test_repr_hides_secrets() -> None:
    r = CallRequest.from_payload({**OBSERVED_BODY, "Apikey": "sekrit-api-key"})
    for text in (repr(r), str(r)):
        assert "sess-TOKEN-abc123" not in text
        assert "sd-TOKEN-xyz789" not in text
        assert "sekrit-api-key" not in text
        assert "15551234567" in text  # the rest stays useful for debugging
        assert "'Apikey'" in text


# --- properties -----------------------------------------------------------------------------

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
short_text = st.text(max_size=40)
unknown_keys = st.text(max_size=12).filter(lambda k: k.lower() not in KNOWN_LOWER)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


requests = st.builds(
    CallRequest,
    call_sid=optional(short_text),
    from_=optional(short_text),
    to=optional(short_text),
    caller_name=optional(short_text),
    direction=optional(st.sampled_from(sorted(DIRECTIONS))),
    call_status=optional(st.sampled_from(sorted(CALL_STATUSES))),
    session=optional(short_text),
    diverted=optional(short_text),
    asserted_identity=optional(short_text),
    api_version=optional(short_text),
    domain=optional(short_text),
    account_sid=optional(short_text),
    session_data=optional(st.dictionaries(st.text(max_size=8), json_values, max_size=5)),
    digits=optional(st.text(alphabet="0123456789*#", max_size=10)),
    speech_result=optional(short_text),
    dial_call_status=optional(st.sampled_from(sorted(DIAL_CALL_STATUSES))),
    recording_url=optional(short_text),
    url=optional(short_text),
    extra=st.dictionaries(unknown_keys, json_values, max_size=4),
)


@given(requests)
def test_payload_round_trip(r: CallRequest) -> None:
    payload = r.to_payload()
    assert CallRequest.from_payload(payload, url=r.url) == r
    assert json.loads(json.dumps(payload)) == payload
    assert all(payload[name] is not None for name in WIRE_NAMES if name in payload)
    assert set(payload) <= set(WIRE_NAMES) | set(r.extra)


@given(requests, short_text)
def test_repr_does_not_depend_on_secrets(r: CallRequest, other: str) -> None:
    hidden = attrs.evolve(
        r,
        session=None if r.session is None else other,
        session_data=None if r.session_data is None else {"token": other},
    )
    assert repr(hidden) == repr(r)


@given(st.text(min_size=6, max_size=30).filter(str.isprintable), requests)
def test_repr_never_contains_session(token: str, r: CallRequest) -> None:
    r = attrs.evolve(r, session=token)
    baseline = repr(attrs.evolve(r, session="x"))
    if token not in baseline:  # the token may coincide with another field's text
        assert token not in repr(r)


def random_case(name: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda flips: "".join(
            c.upper() if f else c.lower() for c, f in zip(name, flips, strict=True)
        )
    )


body_keys = st.sampled_from(WIRE_NAMES).flatmap(random_case) | st.text(max_size=10)
enumeration_values = st.sampled_from(
    sorted(DIRECTIONS | CALL_STATUSES | DIAL_CALL_STATUSES)
).flatmap(lambda v: st.sampled_from([v, v.upper(), v.replace("-", ""), v.replace("-", "_")]))
body_values = (
    json_values
    | enumeration_values
    | st.sampled_from([MAX_STRING_LENGTH, MAX_STRING_LENGTH + 1]).map("7".__mul__)
)


@given(st.dictionaries(body_keys, body_values, max_size=10))
def test_arbitrary_bodies_raise_only_call_request_error(body: dict[str, object]) -> None:
    try:
        r = CallRequest.from_payload(body)
    except CallRequestError as err:
        assert err.field == "$" or err.field.lower() in KNOWN_LOWER or err.field in body
        return
    for key in body:
        if key.lower() not in KNOWN_LOWER:
            assert key in r.extra
    assert CallRequest.from_payload(r.to_payload()) == r


@given(json_values)
def test_arbitrary_json_documents(document: object) -> None:
    try:
        CallRequest.from_payload(document)  # type: ignore[arg-type]
    except CallRequestError as err:
        assert not isinstance(document, Mapping) or err.field != "$"


def test_nan_in_unknown_field_round_trips() -> None:
    r = CallRequest.from_payload({"Score": math.nan})
    assert math.isnan(r.extra["Score"])  # type: ignore[arg-type]
    assert CallRequest.from_payload(r.to_payload()) == r


@given(st.sampled_from(["Direction", "DialCallStatus"]), st.text(max_size=30))
def test_any_direction_or_dial_status_string_is_read_never_refused(field: str, value: str) -> None:
    request = CallRequest.from_payload({field: value})
    read = request.direction if field == "Direction" else request.dial_call_status
    known = DIRECTIONS if field == "Direction" else DIAL_CALL_STATUSES
    if read in known:
        assert request.issues == ()
    else:
        assert read == value
        assert [i.path for i in request.issues] == [f"$.{field}"]
