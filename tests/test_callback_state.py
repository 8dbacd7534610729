"""The callback-state codec (flows.routing._callback) and the router's use of it.

The codec is private to flows.routing (the router is its only user), so its round trip is
tested on the module; the wrong-shape property goes through `Router.handle`, the way a forged
callback would arrive: signed with the router's own secret, posted to its URL.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxml import CallRequest, Hangup, Response, Say, render
from flows.routing import STATE_PARAMETER, MemoryStore, Messages, Router, load_pbx
from flows.routing._callback import (
    AiStream,
    BalancerPick,
    CallbackState,
    CallbackStateError,
    MenuTurn,
    RingAttempt,
    decode,
    encode,
)
from providers import Signer

BASE_URL = "https://pbx.example.com/voice"
SECRET = "callback-state-secret-0123456789"
NOW = dt.datetime(2026, 11, 23, 17, 0, tzinfo=dt.UTC)
CANNOT_CONTINUE = render(Response([Say(Messages().cannot_continue), Hangup()]))

PBX: dict[str, Any] = {
    "dids": {"+15550000001": {"destination": "ivr_menu/main"}},
    "extensions": {"1001": {}, "1002": {}},
    "ring_groups": {"sales": {"strategy": "sequential", "members": ["1001", "1002"]}},
    "ivr_menus": {"main": {"prompt": "Press 1", "options": {"1": "extension/1001"}}},
    "ai_assistants": {
        "receptionist": {"provider": "retell", "config": {"phone_number": "+14155551234"}},
        "support": {"provider": "vapi", "config": {"phone_number": "+14155552222"}},
    },
    "ai_load_balancers": {
        "agents": {"members": ["receptionist", "support"], "follow_through": True},
    },
}

# --- the codec ------------------------------------------------------------------------------

NAMES = st.text(max_size=20)
COUNTS = st.integers(min_value=0, max_value=2**62)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=8,
)  # fmt: skip
STEPS = (
    st.builds(MenuTurn, NAMES, COUNTS)
    | st.builds(RingAttempt, NAMES, COUNTS, COUNTS)
    | st.builds(BalancerPick, NAMES, st.lists(NAMES, max_size=5).map(tuple), st.booleans())
    | st.builds(AiStream, NAMES, NAMES)
)
STATES = st.builds(
    CallbackState,
    NAMES,
    STEPS,
    st.none() | st.dictionaries(st.text(max_size=8), JSON_VALUES, min_size=1, max_size=4),
)


@given(STATES)
def test_a_state_survives_encoding_json_and_signing(state: CallbackState) -> None:
    payload = encode(state)
    assert decode(payload) == state
    assert decode(json.loads(json.dumps(payload))) == state
    signer = Signer(SECRET)
    assert decode(signer.verify(signer.sign(payload, ttl=60, now=0), now=0)) == state


@pytest.mark.parametrize(
    ("state", "payload"),
    [
        (
            CallbackState("CA1", MenuTurn("main", 2)),
            {"kind": "menu", "call": "CA1", "menu": "main", "turn": 2},
        ),
        (
            CallbackState("CA1", RingAttempt("sales", 3, 1)),
            {"kind": "ring", "call": "CA1", "group": "sales", "attempt": 3, "start": 1},
        ),
        (
            CallbackState("CA1", BalancerPick("agents", ("a", "b"), True), {"k": {"n": 1}}),
            {"kind": "balancer", "call": "CA1", "balancer": "agents", "tried": ["a", "b"],
             "streamed": True, "metadata": {"k": {"n": 1}}},
        ),
        (
            CallbackState("CA1", AiStream("receptionist", "kV3x8Q")),
            {"kind": "ai_stream", "call": "CA1", "assistant": "receptionist", "stream": "kV3x8Q"},
        ),
    ],
    ids=["menu", "ring", "balancer", "ai_stream"],
)  # fmt: skip
def test_each_kind_of_step_has_one_flat_json_shape(
    state: CallbackState, payload: dict[str, object]
) -> None:
    """The wire format: tokens in flight survive a deploy only while this holds."""
    assert encode(state) == payload
    assert decode(payload) == state


# --- states of every wrong shape ------------------------------------------------------------

#: A valid state of each kind for the PBX above, and the callback fields that continue it.
VALID: dict[str, tuple[dict[str, object], dict[str, str]]] = {
    "menu": ({"kind": "menu", "call": "CA1", "menu": "main", "turn": 0}, {"Digits": "1"}),
    "ring": (
        {"kind": "ring", "call": "CA1", "group": "sales", "attempt": 0, "start": 0},
        {"DialCallStatus": "no-answer"},
    ),
    "balancer": (
        {"kind": "balancer", "call": "CA1", "balancer": "agents", "tried": ["receptionist"],
         "streamed": False, "metadata": {"campaign": "spring"}},
        {"DialCallStatus": "busy"},
    ),
    "ai_stream": (
        {"kind": "ai_stream", "call": "CA1", "assistant": "receptionist", "stream": "kV3x8Q"}, {}
    ),
}  # fmt: skip

#: Values of every JSON type but the one a key takes.
_OTHERS: dict[str, st.SearchStrategy[object]] = {
    "text": st.sampled_from([0, 7, True, None, 1.5, ["main"], {"id": "main"}]),
    "count": st.sampled_from(["0", True, False, None, 1.0, -1, [1], {}])
    | st.integers(max_value=-1),
    "flag": st.sampled_from([0, 1, "true", "false", None, [], {}]),
    "names": st.sampled_from(["receptionist", "", None, 3, {"a": 1}, [1], ["a", None], [["a"]]]),
    "metadata": st.sampled_from([None, [], ["k"], "k=v", 1, True]),
}
_TYPES: dict[str, str] = {
    "call": "text", "menu": "text", "group": "text", "balancer": "text", "assistant": "text",
    "turn": "count", "attempt": "count", "start": "count", "stream": "text", "streamed": "flag",
    "tried": "names", "metadata": "metadata",
}  # fmt: skip


@st.composite
def wrong_shapes(draw: st.DrawFn) -> dict[str, object]:
    """A state of each kind changed into a shape the codec never writes."""
    payload = dict(VALID[draw(st.sampled_from(sorted(VALID)))][0])
    keys = sorted(payload)
    change = draw(st.sampled_from(["drop", "add", "retype", "kind"]))
    if change == "drop":
        del payload[draw(st.sampled_from([k for k in keys if k != "metadata"]))]
    elif change == "add":
        # another kind's key, or one no kind has
        others = [k for k in _TYPES if k not in payload and k != "metadata"]
        extra = draw(
            st.sampled_from(others) | st.text(max_size=8).filter(lambda k: k not in _TYPES)
        )
        payload[extra if extra != "kind" else "kind2"] = draw(st.sampled_from([0, "x", None]))
    elif change == "retype":
        key = draw(st.sampled_from([k for k in keys if k != "kind"] + ["metadata"]))
        payload[key] = draw(_OTHERS[_TYPES[key]])
    else:
        payload["kind"] = draw(
            st.text(max_size=10).filter(lambda k: k not in VALID)
            | st.sampled_from([None, 1, ["menu"], {"kind": "menu"}])
        )
    return payload


def _router() -> Router:
    return Router(load_pbx(PBX), base_url=BASE_URL, secret=SECRET, clock=lambda: NOW,
                  store=MemoryStore())  # fmt: skip


def _handle(router: Router, payload: dict[str, object], fields: dict[str, str]) -> str:
    token = Signer(SECRET).sign(payload, ttl=60, now=NOW.timestamp())
    url = f"{BASE_URL}?{urlencode({STATE_PARAMETER: token})}"
    body = {"CallSid": "CA1", "From": "+12125551234", "To": "+15550000001", **fields}
    return render(router.handle(CallRequest.from_payload(body, url=url)))


@given(wrong_shapes(), st.sampled_from([{}, {"Digits": "1"}, {"DialCallStatus": "busy"}]))
def test_a_signed_state_of_any_wrong_shape_gets_the_error_document(
    payload: dict[str, object], fields: dict[str, str]
) -> None:
    with pytest.raises(CallbackStateError):
        decode(payload)
    assert _handle(_router(), payload, fields) == CANNOT_CONTINUE


@pytest.mark.parametrize("kind", ["menu", "ring", "balancer"])
def test_the_valid_states_the_property_starts_from_are_followed(kind: str) -> None:
    """The control for the property above: unchanged, each state continues the call."""
    payload, fields = VALID[kind]
    assert _handle(_router(), payload, fields) != CANNOT_CONTINUE


def test_an_ai_stream_state_decodes_and_its_end_is_answered_once() -> None:
    """With no outcome recorded the call goes to the assistant's ``after`` (hangup by
    default); the same stream end coming back again is hung up, never routed twice."""
    payload, fields = VALID["ai_stream"]
    assert decode(payload) == CallbackState("CA1", AiStream("receptionist", "kV3x8Q"))
    router = _router()
    hangup = render(Response([Hangup()]))
    assert _handle(router, payload, fields) == hangup
    assert _handle(router, payload, fields) == hangup
