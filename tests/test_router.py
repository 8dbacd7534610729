"""flows.routing.Router: a platform request in, the CXML that routes the call out.

Each topic builds its own small PBX as a dict. Calls are driven the way the platform drives
them: the first request is POSTed to the voice URL, and every callback is POSTed to the
``action`` URL the router wrote into the previous document (`PlatformCall.callback`), with the
same CallSid plus ``DialCallStatus`` or ``Digits``. Every document the router returns is checked
with `cxml.validate` (`checked`). Expected documents are compared whole, with the signed
``action`` URLs taken out (`assert_doc`); tests that care about the callbacks assert on the
action separately.
"""

from __future__ import annotations

import base64
import datetime as dt
import string
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

import attrs
import pytest
from lxml import etree

from cxml import (
    CallRequest,
    Connect,
    CxmlError,
    Dial,
    Gather,
    Hangup,
    Number,
    Parameter,
    Redirect,
    Response,
    Say,
    Service,
    Stream,
    parse,
    render,
    validate,
)
from cxml.testing import assert_cxml_equal
from flows.routing import (
    STATE_PARAMETER,
    MemoryStore,
    Messages,
    Pbx,
    Router,
    StateStoreError,
    load_pbx,
)
from providers import MediaBridge

BASE_URL = "https://pbx.example.com/voice"
SECRET = "router-test-secret-0123456789abcdef"
OTHER_SECRET = "another-secret-for-another-router!"
CALLER = "+12125551234"
#: Monday 2026-11-23, 12:00 in New York (17:00 UTC).
MONDAY_NOON = dt.datetime(2026, 11, 23, 17, 0, tzinfo=dt.UTC)
MESSAGES = Messages()
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
BASE64URL = string.ascii_letters + string.digits + "-_"

ASSISTANTS: dict[str, Any] = {
    "receptionist": {"provider": "retell", "config": {"phone_number": "+14155551234"}},
    "support": {"provider": "vapi", "config": {"phone_number": "+14155552222"}},
    "sales_bot": {"provider": "synthflow", "config": {"phone_number": "+14155553333"}},
    "after_hours": {"provider": "deepdub", "config": {"bot_id": "B1", "auth_token": "T1"}},
    "retired": {
        "provider": "retell",
        "config": {"phone_number": "+14155554444"},
        "status": "inactive",
    },
    "agent": {
        "provider": "websocket-endpoint",
        "config": {"websocket_url": "wss://agent.example.com/ws", "media": "pcm16"},
    },
}
RECEPTIONIST = '<Dial><Service provider="retell">+14155551234</Service></Dial>'
SUPPORT = '<Dial><Service provider="vapi">+14155552222</Service></Dial>'
SALES_BOT = '<Dial><Service provider="synthflow">+14155553333</Service></Dial>'
HANGUP = "<Hangup/>"
#: A ring group or balancer whose fallback is ``hangup``: said once, then the hangup (D7).
NOBODY = f"<Say>{Messages().no_answer}</Say><Hangup/>"


# --- helpers --------------------------------------------------------------------------------

N = TypeVar("N")


def only(nodes: Iterable[object], kind: type[N]) -> N:
    """The one node in ``nodes``, which must be a ``kind``."""
    (node,) = nodes
    assert isinstance(node, kind), node
    return node


def streamed(doc: Response) -> Connect:
    """The AI ``<Connect>`` that is all of ``doc``, with the ``<Redirect>`` to its own action
    after it (the platform may not post a Connect's action; the document goes on)."""
    connect, redirect = doc.children
    assert isinstance(connect, Connect)
    assert connect.action is not None
    assert redirect == Redirect(connect.action)
    return connect


class Clock:
    """A clock the test moves by assigning ``now``."""

    def __init__(self, now: dt.datetime = MONDAY_NOON) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def make_router(
    config: Mapping[str, Any] | Pbx,
    *,
    clock: Callable[[], dt.datetime] | None = None,
    secret: str = SECRET,
    bridge: MediaBridge | None = None,
    state_ttl: float = 3600.0,
) -> Router:
    pbx = config if isinstance(config, Pbx) else load_pbx(config)
    return Router(
        pbx,
        base_url=BASE_URL,
        secret=secret,
        clock=clock or Clock(),
        store=MemoryStore(),
        bridge=bridge,
        state_ttl=state_ttl,
    )


def checked(doc: Response) -> Response:
    """``doc``, after checking it is a valid CXML document (as a model and as text)."""
    assert isinstance(doc, Response)
    text = render(doc)
    assert validate(doc) == [], text
    assert validate(text) == [], text
    assert "Goodbye. Goodbye." not in text  # D7: a message is built once
    assert len(doc.children) > 0, "never an empty document (D6)"
    # In the model's one form: attributes in field order, values as parse reads them.
    assert parse(text) == doc
    assert render(parse(text)) == text
    return doc


def actions(doc: Response) -> list[str]:
    """The action URLs of the document's verbs."""
    found = [getattr(node, "action", None) for node in doc.children]
    return [url for url in found if isinstance(url, str)]


def action_of(doc: Response) -> str:
    """The one callback URL in ``doc``: the router's own URL with a signed state."""
    (url,) = actions(doc)
    assert url.startswith(BASE_URL + "?"), url
    assert list(parse_qs(urlsplit(url).query)) == [STATE_PARAMETER]
    return url


def token_of(doc: Response) -> str:
    return parse_qs(urlsplit(action_of(doc)).query)[STATE_PARAMETER][0]


def with_token(token: str) -> str:
    return f"{BASE_URL}?{urlencode({STATE_PARAMETER: token})}"


def without_actions(doc: Response) -> str:
    """``doc`` without action URLs, and without the Redirect that follows every AI Connect
    (checked: to the Connect's own action)."""
    root = etree.fromstring(render(doc).encode())
    for connect in root.iter("Connect"):
        redirect = connect.getnext()
        assert redirect is not None
        assert redirect.tag == "Redirect"
        assert redirect.text == connect.get("action")
        assert redirect.text
        root.remove(redirect)
    for element in root.iter():
        element.attrib.pop("action", None)
    return etree.tostring(root, encoding="unicode")


def assert_doc(doc: Response, inner: str) -> None:
    """``doc`` is ``<Response>inner</Response>``, ignoring the action URLs."""
    assert_cxml_equal(without_actions(doc), f"<Response>{inner}</Response>")


def goodbye(message: str) -> str:
    return f"<Say>{message}</Say><Hangup/>"


class PlatformCall:
    """One call, driven as the platform drives it: a first request, then callbacks."""

    def __init__(
        self,
        router: Router,
        to: str,
        *,
        sid: str = "CA1",
        from_: str = CALLER,
        direction: str | None = "inbound",
    ) -> None:
        self.router = router
        self.fields: dict[str, str] = {"CallSid": sid, "From": from_, "To": to}
        if direction is not None:
            self.fields["Direction"] = direction
        self.doc: Response | None = None

    def start(self) -> Response:
        self.doc = checked(self.router.handle(CallRequest.from_payload(self.fields)))
        return self.doc

    def callback(self, **fields: str) -> Response:
        """POST to the action URL of the last document, with ``fields`` added."""
        assert self.doc is not None, "start the call first"
        url = action_of(self.doc)
        request = CallRequest.from_payload({**self.fields, **fields}, url=url)
        self.doc = checked(self.router.handle(request))
        return self.doc


def first(router: Router, to: str, **kwargs: Any) -> Response:
    return PlatformCall(router, to, **kwargs).start()


# --- DIDs -----------------------------------------------------------------------------------

DESTINATIONS: dict[str, Any] = {
    "dids": {
        "+15550000001": {"destination": "extension/1001"},
        "+15550000002": {"destination": "ring_group/sales"},
        "+15550000003": {"destination": "ivr_menu/main"},
        "+15550000004": {"destination": "business_hours/always"},
        "+15550000005": {"destination": "ai_assistant/receptionist"},
        "+15550000006": {"destination": "ai_load_balancer/agents"},
        "+15550000007": {"destination": "conference/standup"},
        "+15550000008": {"destination": "hangup"},
        "+15550000009": {"destination": "extension/1001", "status": "inactive"},
    },
    "extensions": {"1001": {"type": "user"}, "1002": {"type": "user"}},
    "ring_groups": {
        "sales": {"strategy": "simultaneous", "timeout": 20, "members": ["1001", "1002"]},
    },
    "ivr_menus": {
        "main": {"prompt": {"say": "For sales press 1"}, "options": {"1": "ring_group/sales"}},
    },
    "business_hours": {
        "always": {
            "schedule": {day: [["00:00", "24:00"]] for day in WEEKDAYS},
            "open": "extension/1002",
            "closed": "hangup",
        },
    },
    "ai_assistants": ASSISTANTS,
    "ai_load_balancers": {"agents": {"members": ["support", "sales_bot"]}},
    "conferences": {
        "standup": {"name": "daily-standup", "max_participants": 10, "muted": True, "beep": False}
    },
}


@pytest.mark.parametrize(
    ("did", "inner", "has_action"),
    [
        ("+15550000001", '<Dial timeout="30"><Number>1001</Number></Dial>', False),
        (
            "+15550000002",
            '<Dial timeout="20"><Number>1001</Number><Number>1002</Number></Dial>',
            True,
        ),
        (
            "+15550000003",
            '<Gather numDigits="1" timeout="5" actionOnEmptyResult="true">'
            "<Say>For sales press 1</Say></Gather>",
            True,
        ),
        ("+15550000004", '<Dial timeout="30"><Number>1002</Number></Dial>', False),
        ("+15550000005", RECEPTIONIST, False),
        ("+15550000006", SUPPORT, False),
        (
            "+15550000007",
            '<Dial><Conference maxParticipants="10" muted="true" beep="false">'
            "daily-standup</Conference></Dial>",
            False,
        ),
        ("+15550000008", HANGUP, False),
    ],
    ids=[
        "extension",
        "ring_group",
        "ivr_menu",
        "business_hours",
        "ai_assistant",
        "ai_load_balancer",
        "conference",
        "hangup",
    ],
)
def test_a_did_routes_to_each_kind_of_destination(did: str, inner: str, has_action: bool) -> None:
    doc = first(make_router(DESTINATIONS), did)
    assert_doc(doc, inner)
    if has_action:
        action_of(doc)
    else:
        assert actions(doc) == []


@pytest.mark.parametrize("did", ["+15550009999", "+15550000009", "", "not-a-number"])
def test_an_unknown_or_inactive_did_is_not_in_service(did: str) -> None:
    doc = first(make_router(DESTINATIONS), did)
    assert_doc(doc, goodbye(MESSAGES.not_in_service))


def test_a_did_dialled_without_its_plus_is_found() -> None:
    router = make_router(DESTINATIONS)
    assert_doc(first(router, "15550000001"), '<Dial timeout="30"><Number>1001</Number></Dial>')
    assert_doc(first(router, "15550000005"), RECEPTIONIST)


# --- extensions -----------------------------------------------------------------------------

EXTENSIONS: dict[str, Any] = {
    "extensions": {
        "1001": {"type": "user", "name": "Alice"},
        "1002": {"type": "user", "timeout": 45},
        "1003": {"type": "user", "status": "inactive"},
        "2001": {"type": "forward", "forward_to": "+12125550000"},
        "2002": {"type": "forward", "forward_to": "sip:alice@sip.example.com:5060"},
        "2003": {"type": "forward", "forward_to": "1002"},
        "2004": {"type": "forward", "forward_to": "1003"},
        "2005": {"type": "forward", "forward_to": "+12125550000", "status": "inactive"},
        "2006": {"type": "forward", "forward_to": "2003"},
    },
}


@pytest.mark.parametrize(
    ("extension", "inner"),
    [
        ("1001", '<Dial timeout="30"><Number>1001</Number></Dial>'),
        ("1002", '<Dial timeout="45"><Number>1002</Number></Dial>'),
        ("2001", '<Dial timeout="30"><Number>+12125550000</Number></Dial>'),
        ("2002", '<Dial timeout="30"><Sip>sip:alice@sip.example.com:5060</Sip></Dial>'),
        # forwarding to an extension is dialling that extension (its own timeout)
        ("2003", '<Dial timeout="45"><Number>1002</Number></Dial>'),
        ("2006", '<Dial timeout="45"><Number>1002</Number></Dial>'),
    ],
    ids=["user", "user-timeout", "forward-e164", "forward-sip", "forward-extension", "chain"],
)
def test_an_extension_rings_the_user_or_where_it_forwards(extension: str, inner: str) -> None:
    doc = first(make_router(EXTENSIONS), extension, from_="1001", direction="subscriber")
    assert_doc(doc, inner)
    assert actions(doc) == []


@pytest.mark.parametrize(
    "extension",
    ["1003", "2004", "2005"],
    ids=["inactive-user", "forward-to-inactive", "inactive-forward"],
)
def test_an_inactive_extension_gets_the_unavailable_message(extension: str) -> None:
    doc = first(make_router(EXTENSIONS), extension, from_="1001", direction="subscriber")
    assert_doc(doc, goodbye(MESSAGES.unavailable))


# --- ring groups ----------------------------------------------------------------------------

RING_GROUPS: dict[str, Any] = {
    "dids": {
        "+15550000101": {"destination": "ring_group/all"},
        "+15550000102": {"destination": "ring_group/line"},
        "+15550000103": {"destination": "ring_group/rotate"},
        "+15550000104": {"destination": "ring_group/nobody"},
        "+15550000105": {"destination": "ring_group/twice"},
    },
    "extensions": {
        "1001": {"type": "user"},
        "1002": {"type": "user"},
        "1003": {"type": "user", "status": "inactive"},
        "1004": {"type": "user"},
        "1098": {"type": "forward", "forward_to": "sip:desk@sip.example.com"},
        "1099": {"type": "forward", "forward_to": "+12125550000"},
    },
    "ring_groups": {
        "all": {
            "strategy": "simultaneous",
            "timeout": 20,
            "members": ["1001", "1003", "1099", "1098"],
            "fallback": "ai_assistant/receptionist",
        },
        "line": {
            "strategy": "sequential",
            "timeout": 15,
            "ring_turns": 2,
            "members": ["1001", "1003", "1002"],
            "fallback": "ai_assistant/receptionist",
        },
        "rotate": {
            "strategy": "round_robin",
            "timeout": 25,
            "members": ["1001", "1002", "1004"],
            "fallback": "ai_load_balancer/agents",
        },
        "nobody": {"members": ["1003"], "fallback": "ai_assistant/receptionist"},
        "twice": {"ring_turns": 2, "members": ["1001", "1002"], "fallback": "hangup"},
    },
    "ai_assistants": ASSISTANTS,
    "ai_load_balancers": {
        "agents": {
            "strategy": "priority",
            "follow_through": True,
            "members": [
                {"assistant": "support", "priority": 1},
                {"assistant": "sales_bot", "priority": 2},
            ],
            "fallback": "ai_assistant/receptionist",
        },
    },
}


def ring(timeout: int, *numbers: str) -> str:
    """A Dial of ``numbers``, as a ring group's attempt looks without its action."""
    return f'<Dial timeout="{timeout}">{"".join(f"<Number>{n}</Number>" for n in numbers)}</Dial>'


def test_simultaneous_rings_every_active_member_at_once_then_falls_back() -> None:
    call = PlatformCall(make_router(RING_GROUPS), "+15550000101")
    assert_doc(
        call.start(),
        '<Dial timeout="20"><Number>1001</Number><Number>+12125550000</Number>'
        "<Sip>sip:desk@sip.example.com</Sip></Dial>",
    )
    fallback = call.callback(DialCallStatus="no-answer")
    assert_doc(fallback, RECEPTIONIST)
    assert actions(fallback) == []


def test_simultaneous_rings_everyone_once_per_ring_turn() -> None:
    call = PlatformCall(make_router(RING_GROUPS), "+15550000105")
    assert_doc(call.start(), ring(30, "1001", "1002"))
    assert_doc(call.callback(DialCallStatus="no-answer"), ring(30, "1001", "1002"))
    # fallback hangup: the message once, never "Goodbye. Goodbye." (D7)
    assert_doc(call.callback(DialCallStatus="busy"), NOBODY)


def test_sequential_rings_members_in_order_for_every_ring_turn_then_falls_back() -> None:
    call = PlatformCall(make_router(RING_GROUPS), "+15550000102")
    rang = [call.start()]
    for _ in range(3):
        rang.append(call.callback(DialCallStatus="no-answer"))
    # 1003 is inactive: skipped. Two members x ring_turns 2 = four attempts.
    for doc, member in zip(rang, ["1001", "1002", "1001", "1002"], strict=True):
        assert_doc(doc, ring(15, member))
    assert len({action_of(doc) for doc in rang}) == len(rang)
    assert_doc(call.callback(DialCallStatus="no-answer"), RECEPTIONIST)


def test_round_robin_starts_each_call_one_member_further_on() -> None:
    """D3: OPBX's round robin always started at the first member; ours rotates."""
    router = make_router(RING_GROUPS)
    orders = []
    for sid in ("CA1", "CA2", "CA3", "CA4"):
        call = PlatformCall(router, "+15550000103", sid=sid)
        docs = [call.start()]
        docs += [call.callback(DialCallStatus="no-answer") for _ in range(2)]
        order = []
        for doc in docs:
            dial = only(doc.children, Dial)
            order.append(only(dial.children, Number).text)
            assert dial.timeout == 25
        orders.append(order)
    assert orders == [
        ["1001", "1002", "1004"],
        ["1002", "1004", "1001"],
        ["1004", "1001", "1002"],
        ["1001", "1002", "1004"],
    ]


def test_a_ring_group_falls_back_to_a_load_balancer_that_follows_through() -> None:
    call = PlatformCall(make_router(RING_GROUPS), "+15550000103")
    call.start()
    call.callback(DialCallStatus="busy")
    call.callback(DialCallStatus="no-answer")
    first_agent = call.callback(DialCallStatus="failed")
    assert_doc(first_agent, SUPPORT)
    action_of(first_agent)  # the balancer follows through
    assert_doc(call.callback(DialCallStatus="busy"), SALES_BOT)
    last = call.callback(DialCallStatus="no-answer")
    assert_doc(last, RECEPTIONIST)
    assert actions(last) == []


@pytest.mark.parametrize("status", ["completed", "answered"])
@pytest.mark.parametrize("did", ["+15550000101", "+15550000102", "+15550000103", "+15550000105"])
def test_a_connected_ring_group_call_ends_with_a_hangup(did: str, status: str) -> None:
    """D2: OPBX ignored DialCallStatus and rang on (or fell back) after a completed call."""
    call = PlatformCall(make_router(RING_GROUPS), did)
    call.start()
    assert_doc(call.callback(DialCallStatus=status), HANGUP)


def test_a_connected_call_ends_even_on_a_later_attempt() -> None:
    call = PlatformCall(make_router(RING_GROUPS), "+15550000102")
    call.start()
    call.callback(DialCallStatus="busy")
    call.callback(DialCallStatus="no-answer")
    assert_doc(call.callback(DialCallStatus="completed"), HANGUP)


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", "canceled", None])
def test_an_unanswered_attempt_moves_on_to_the_next_member(status: str | None) -> None:
    call = PlatformCall(make_router(RING_GROUPS), "+15550000102")
    assert_doc(call.start(), ring(15, "1001"))
    fields = {} if status is None else {"DialCallStatus": status}
    assert_doc(call.callback(**fields), ring(15, "1002"))


def test_a_ring_group_whose_members_are_all_inactive_goes_straight_to_its_fallback() -> None:
    doc = first(make_router(RING_GROUPS), "+15550000104")
    assert_doc(doc, RECEPTIONIST)
    assert actions(doc) == []


def test_ring_group_members_that_forward_to_extensions_ring_the_final_active_user() -> None:
    pbx = {
        "dids": {"+15550000106": {"destination": "ring_group/forwards"}},
        "extensions": {
            "1001": {"type": "user"},
            "1003": {"type": "user", "status": "inactive"},
            "2003": {"type": "forward", "forward_to": "1001"},
            "2004": {"type": "forward", "forward_to": "1003"},
            "2006": {"type": "forward", "forward_to": "2003"},
        },
        "ring_groups": {"forwards": {"members": ["2004", "2006"]}},
    }
    assert_doc(first(make_router(pbx), "+15550000106"), ring(30, "1001"))


class BrokenStore:
    """A StateStore whose server is down."""

    def incr(self, key: str, *, ttl: float | None = None) -> int:
        raise StateStoreError("the store is down")

    def add(self, key: str, member: str, *, ttl: float | None = None) -> None:
        raise StateStoreError("the store is down")

    def members(self, key: str) -> frozenset[str]:
        raise StateStoreError("the store is down")

    def get(self, key: str) -> str | None:
        raise StateStoreError("the store is down")

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        raise StateStoreError("the store is down")

    def delete(self, key: str) -> None:
        raise StateStoreError("the store is down")


def test_a_failing_store_costs_the_rotation_never_the_call() -> None:
    """Each call starts at a random member (issue 17: not always the first), then rotates."""
    router = Router(load_pbx(RING_GROUPS), base_url=BASE_URL, secret=SECRET, store=BrokenStore())
    members = ["1001", "1002", "1004"]
    starts = set()
    for sid in (f"CA{i}" for i in range(40)):
        call = PlatformCall(router, "+15550000103", sid=sid)
        doc = call.start()
        start = next(m for m in members if f">{m}<" in render(doc))
        assert_doc(doc, ring(25, start))
        after = members[(members.index(start) + 1) % 3]
        assert_doc(call.callback(DialCallStatus="busy"), ring(25, after))
        starts.add(start)
    assert starts == set(members)  # 40 calls on one member: a 3 ** -39 chance


# --- IVR menus ------------------------------------------------------------------------------

MENU_PROMPT = "For sales press 1, for support press 2, for the operator press 0."
IVR: dict[str, Any] = {
    "dids": {
        "+15550000201": {"destination": "ivr_menu/main"},
        "+15550000202": {"destination": "ivr_menu/mixed"},
        "+15550000203": {"destination": "ivr_menu/played"},
    },
    "extensions": {"1001": {"type": "user"}},
    "ring_groups": {"sales": {"timeout": 20, "members": ["1001"]}},
    "ivr_menus": {
        "main": {
            "prompt": {"say": MENU_PROMPT, "voice": "Cloudonix-Neural:Zoe", "language": "en-US"},
            "timeout": 7,
            "max_turns": 3,
            "options": {
                "1": "ring_group/sales",
                "2": "ai_assistant/support",
                "0": "extension/1001",
            },
            "failover": "ai_assistant/receptionist",
        },
        "mixed": {
            "prompt": "Enter an extension, or press 9 to leave.",
            "options": {"9": "hangup", "1001": "extension/1001"},
            "max_turns": 1,
        },
        "played": {
            "prompt": {"play": "https://cdn.example.com/menu.mp3"},
            "options": {"1": "ai_assistant/receptionist"},
            "invalid_prompt": {"say": "Nope."},
            "no_input_prompt": {"play": "https://cdn.example.com/hello.mp3"},
        },
    },
    "ai_assistants": ASSISTANTS,
}
MAIN_SAY = f'<Say voice="Cloudonix-Neural:Zoe" language="en-US">{MENU_PROMPT}</Say>'
INVALID = "<Say>Sorry, that is not a valid option.</Say>"
NO_INPUT = "<Say>Sorry, I did not get that.</Say>"


def gather(*prompts: str, timeout: int = 7, num_digits: int | None = 1) -> str:
    digits = "" if num_digits is None else f' numDigits="{num_digits}"'
    return (
        f'<Gather{digits} timeout="{timeout}" actionOnEmptyResult="true">'
        + "".join(prompts)
        + "</Gather>"
    )


def test_a_menu_gathers_with_action_on_empty_result_so_no_input_comes_back() -> None:
    """D1: OPBX never set actionOnEmptyResult, so "no input" ended the call."""
    doc = first(make_router(IVR), "+15550000201")
    assert_doc(doc, gather(MAIN_SAY))
    assert only(doc.children, Gather).action_on_empty_result is True
    action_of(doc)


def test_num_digits_is_set_only_when_every_option_has_the_same_length() -> None:
    doc = first(make_router(IVR), "+15550000202")
    prompt = "<Say>Enter an extension, or press 9 to leave.</Say>"
    assert_doc(doc, gather(prompt, timeout=5, num_digits=None))


def test_a_menu_can_play_its_prompt() -> None:
    doc = first(make_router(IVR), "+15550000203")
    assert_doc(doc, gather("<Play>https://cdn.example.com/menu.mp3</Play>", timeout=5))


@pytest.mark.parametrize(
    ("digits", "inner", "has_action"),
    [
        ("1", ring(20, "1001"), True),
        ("2", SUPPORT, False),
        ("0", '<Dial timeout="30"><Number>1001</Number></Dial>', False),
    ],
)
def test_a_valid_digit_routes_to_its_option(digits: str, inner: str, has_action: bool) -> None:
    call = PlatformCall(make_router(IVR), "+15550000201")
    call.start()
    doc = call.callback(Digits=digits)
    assert_doc(doc, inner)
    assert bool(actions(doc)) is has_action


def test_a_multi_digit_option_routes() -> None:
    call = PlatformCall(make_router(IVR), "+15550000202")
    call.start()
    assert_doc(call.callback(Digits="1001"), '<Dial timeout="30"><Number>1001</Number></Dial>')


def test_an_invalid_digit_replays_the_menu_after_the_invalid_prompt() -> None:
    call = PlatformCall(make_router(IVR), "+15550000201")
    first_action = action_of(call.start())
    doc = call.callback(Digits="7")
    assert_doc(doc, gather(INVALID, MAIN_SAY))
    assert action_of(doc) != first_action  # the turn moved on
    # the caller can still choose after a replay
    assert_doc(call.callback(Digits="2"), SUPPORT)


@pytest.mark.parametrize("fields", [{}, {"Digits": ""}], ids=["absent", "empty"])
def test_no_input_replays_the_menu_after_the_no_input_prompt(fields: dict[str, str]) -> None:
    call = PlatformCall(make_router(IVR), "+15550000201")
    call.start()
    assert_doc(call.callback(**fields), gather(NO_INPUT, MAIN_SAY))


def test_custom_invalid_and_no_input_prompts() -> None:
    call = PlatformCall(make_router(IVR), "+15550000203")
    menu = "<Play>https://cdn.example.com/menu.mp3</Play>"
    call.start()
    assert_doc(call.callback(Digits="5"), gather("<Say>Nope.</Say>", menu, timeout=5))
    assert_doc(
        call.callback(), gather("<Play>https://cdn.example.com/hello.mp3</Play>", menu, timeout=5)
    )


def test_after_max_turns_the_menu_fails_over() -> None:
    call = PlatformCall(make_router(IVR), "+15550000201")
    call.start()  # turn 1 of 3
    assert_doc(call.callback(Digits="7"), gather(INVALID, MAIN_SAY))  # turn 2
    assert_doc(call.callback(), gather(NO_INPUT, MAIN_SAY))  # turn 3
    failover = call.callback(Digits="8")
    assert_doc(failover, RECEPTIONIST)
    assert actions(failover) == []


def test_a_menu_with_one_turn_fails_over_at_the_first_miss() -> None:
    call = PlatformCall(make_router(IVR), "+15550000202")
    call.start()
    assert_doc(call.callback(Digits="5"), HANGUP)  # failover defaults to hangup


# --- business hours -------------------------------------------------------------------------

HOURS: dict[str, Any] = {
    "timezone": "Asia/Tokyo",
    "dids": {
        "+15550000301": {"destination": "business_hours/office"},
        "+15550000302": {"destination": "business_hours/tokyo"},
    },
    "extensions": {"1001": {"type": "user"}},
    "business_hours": {
        "office": {
            "timezone": "America/New_York",
            "schedule": {
                day: [["09:00", "17:00"]]
                for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
            },
            "exceptions": [
                {"date": "2026-12-25", "type": "closed"},
                {"date": "2026-12-24", "type": "special_hours", "hours": [["09:00", "13:00"]]},
            ],
            "open": "extension/1001",
            "closed": "ai_assistant/after_hours",
        },
        "tokyo": {  # no timezone of its own: the PBX's
            "schedule": {"monday": [["09:00", "17:00"]]},
            "open": "extension/1001",
            "closed": "hangup",
        },
    },
    "ai_assistants": ASSISTANTS,
}
OPEN = '<Dial timeout="30"><Number>1001</Number></Dial>'
CLOSED = (
    '<Connect><Stream url="wss://bot.deepdub.dev/ws/B1/T1?session=CA1&amp;from=%2B12125551234'
    '&amp;to=%2B15550000301"/></Connect>'
)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("instant", "is_open"),
    [
        ("2026-11-23T17:00", True),  # Monday 12:00 in New York
        ("2026-11-23T14:00", True),  # 09:00: the start is inclusive
        ("2026-11-23T21:59:59", True),  # 16:59:59
        ("2026-11-23T22:00", False),  # 17:00: the end is exclusive
        ("2026-11-23T13:30", False),  # 08:30 locally; 13:30 in UTC would be open (D11)
        ("2026-11-24T01:00", False),  # Monday 20:00 locally, although Tuesday in UTC
        ("2026-11-28T17:00", False),  # Saturday: no hours
        ("2026-12-24T17:00", True),  # Thursday 12:00, inside the special hours
        ("2026-12-24T19:00", False),  # Thursday 14:00: outside the special hours
        ("2026-12-25T17:00", False),  # Friday, closed all day
    ],
)
def test_business_hours_route_open_or_closed_by_the_clock(instant: str, is_open: bool) -> None:
    doc = first(make_router(HOURS, clock=Clock(utc(instant))), "+15550000301")
    assert_doc(doc, OPEN if is_open else CLOSED)


@pytest.mark.parametrize(
    ("instant", "is_open"),
    [("2026-11-23T01:00", True), ("2026-11-23T10:00", False)],  # 10:00 / 19:00 in Tokyo
)
def test_a_schedule_without_a_timezone_uses_the_pbxs(instant: str, is_open: bool) -> None:
    doc = first(make_router(HOURS, clock=Clock(utc(instant))), "+15550000302")
    assert_doc(doc, OPEN if is_open else HANGUP)


def test_inactive_business_hours_are_always_closed() -> None:
    config = {**HOURS, "business_hours": {**HOURS["business_hours"]}}
    config["business_hours"]["office"] = {**HOURS["business_hours"]["office"], "status": "inactive"}
    assert_doc(first(make_router(config), "+15550000301"), CLOSED)  # Monday noon


# --- AI assistants --------------------------------------------------------------------------

AI: dict[str, Any] = {
    "dids": {
        "+15550000401": {"destination": "ai_assistant/receptionist"},
        "+15550000402": {"destination": "ai_assistant/after_hours"},
        "+15550000403": {"destination": "ai_assistant/retired"},
        "+15550000404": {"destination": "ai_assistant/agent"},
    },
    "ai_assistants": ASSISTANTS,
}
BRIDGE = MediaBridge("wss://media.example.com/bridge", "bridge-secret-0123456789abcdef")


def test_a_sip_assistant_is_dialled_as_a_service() -> None:
    doc = first(make_router(AI), "+15550000401")
    assert_doc(doc, RECEPTIONIST)
    assert actions(doc) == []


def test_a_deepdub_assistant_gets_a_stream_with_every_placeholder_filled() -> None:
    """D13: nothing is left for the platform to expand."""
    doc = first(make_router(AI), "+15550000402", sid="CA 7/8")
    assert_doc(
        doc,
        '<Connect><Stream url="wss://bot.deepdub.dev/ws/B1/T1?session=CA%207%2F8'
        '&amp;from=%2B12125551234&amp;to=%2B15550000402"/></Connect>',
    )
    assert "{" not in render(doc)


def test_a_deepdub_stream_never_leaves_a_placeholder_for_the_platform() -> None:
    """D13, for an anonymous caller: a missing From fills in as empty, not as ``{from}``."""
    router = make_router(AI)
    request = CallRequest.from_payload({"CallSid": "CA1", "To": "+15550000402"})
    doc = checked(router.handle(request))
    assert_doc(
        doc,
        '<Connect><Stream url="wss://bot.deepdub.dev/ws/B1/T1?session=CA1'
        '&amp;from=&amp;to=%2B15550000402"/></Connect>',
    )


def test_an_inactive_assistant_gets_the_unavailable_message() -> None:
    assert_doc(first(make_router(AI), "+15550000403"), goodbye(MESSAGES.unavailable))


def test_a_bridge_served_assistant_streams_to_the_bridge_with_a_ticket() -> None:
    doc = first(make_router(AI, bridge=BRIDGE), "+15550000404", sid="CA9")
    stream = only(streamed(doc).children, Stream)
    ticket = only(stream.children, Parameter)
    assert ticket.name == "cxmlflow-ticket"
    assert ticket.value is not None
    # The router dates the ticket by its clock, so the bridge checks it at that time.
    assert BRIDGE.admit(ticket.value, now=MONDAY_NOON.timestamp()).call_sid == "CA9"
    assert_doc(
        doc,
        '<Connect><Stream url="wss://media.example.com/bridge">'
        f'<Parameter name="cxmlflow-ticket" value="{ticket.value}"/>'
        "</Stream></Connect>",
    )


def test_a_bridge_served_assistant_without_a_bridge_gets_the_unavailable_message() -> None:
    assert_doc(first(make_router(AI), "+15550000404"), goodbye(MESSAGES.unavailable))


# --- AI load balancers ----------------------------------------------------------------------

BALANCERS: dict[str, Any] = {
    "dids": {
        "+15550000501": {"destination": "ai_load_balancer/rr"},
        "+15550000502": {"destination": "ai_load_balancer/prio"},
        "+15550000503": {"destination": "ai_load_balancer/pct"},
        "+15550000504": {"destination": "ai_load_balancer/follow"},
        "+15550000505": {"destination": "ai_load_balancer/skips"},
        "+15550000506": {"destination": "ai_load_balancer/off"},
        "+15550000507": {"destination": "ai_load_balancer/streams"},
    },
    "ai_assistants": ASSISTANTS,
    "ai_load_balancers": {
        "rr": {"strategy": "round_robin", "members": ["receptionist", "support", "sales_bot"]},
        "prio": {
            "strategy": "priority",
            "follow_through": True,
            "members": [
                {"assistant": "support", "priority": 5},
                {"assistant": "receptionist", "priority": 1},
                {"assistant": "sales_bot", "priority": 3},
            ],
        },
        "pct": {
            "strategy": "percentage",
            "members": [
                {"assistant": "receptionist", "weight": 3},
                {"assistant": "support", "weight": 1},
                {"assistant": "sales_bot", "weight": 0},
            ],
        },
        "follow": {
            "follow_through": True,
            "members": ["receptionist", "support"],
            "fallback": "ai_assistant/sales_bot",
        },
        "skips": {"follow_through": True, "members": ["retired", "agent", "support"]},
        "off": {
            "status": "inactive",
            "members": ["receptionist"],
            "fallback": "ai_assistant/support",
        },
        "streams": {"follow_through": True, "members": ["after_hours", "receptionist"]},
    },
}
BY_PROVIDER = {"retell": "receptionist", "vapi": "support", "synthflow": "sales_bot"}


def chosen(doc: Response) -> str:
    """Which SIP assistant ``doc`` dials."""
    service = only(doc.children, Dial).children[-1]
    assert isinstance(service, Service)
    assert service.provider is not None
    return BY_PROVIDER[service.provider]


def test_round_robin_rotates_across_calls() -> None:
    router = make_router(BALANCERS)
    docs = [first(router, "+15550000501", sid=f"CA{i}") for i in range(6)]
    assert [chosen(d) for d in docs] == ["receptionist", "support", "sales_bot"] * 2
    assert all(actions(d) == [] for d in docs)  # no follow-through: no callback


def test_priority_takes_the_lowest_number_first_then_the_next_on_failure() -> None:
    router = make_router(BALANCERS)
    for sid in ("CA1", "CA2"):  # every call starts at the top
        call = PlatformCall(router, "+15550000502", sid=sid)
        assert chosen(call.start()) == "receptionist"
        assert chosen(call.callback(DialCallStatus="busy")) == "sales_bot"
        assert chosen(call.callback(DialCallStatus="no-answer")) == "support"
        assert_doc(call.callback(DialCallStatus="failed"), NOBODY)


def test_percentage_shares_are_exact_over_every_weight_cycle() -> None:
    router = make_router(BALANCERS)
    picks = [chosen(first(router, "+15550000503", sid=f"CA{i}")) for i in range(12)]
    for cycle in range(3):
        shares = Counter(picks[cycle * 4 : cycle * 4 + 4])
        assert shares == {"receptionist": 3, "support": 1}


def test_follow_through_tries_every_member_once_then_the_fallback_without_a_callback() -> None:
    call = PlatformCall(make_router(BALANCERS), "+15550000504")
    first_doc = call.start()
    assert_doc(first_doc, RECEPTIONIST)
    action_of(first_doc)
    second = call.callback(DialCallStatus="busy")
    assert_doc(second, SUPPORT)
    action_of(second)
    fallback = call.callback(DialCallStatus="no-answer")
    assert_doc(fallback, SALES_BOT)
    assert actions(fallback) == []  # the fallback cannot loop back into the balancer


def test_follow_through_picks_an_untried_member_whatever_the_cursor_says() -> None:
    router = make_router(BALANCERS)
    one = PlatformCall(router, "+15550000504", sid="CA1")
    two = PlatformCall(router, "+15550000504", sid="CA2")
    assert chosen(one.start()) == "receptionist"
    assert chosen(two.start()) == "support"
    # the shared cursor moved on, but each call gets the member it has not tried
    assert chosen(one.callback(DialCallStatus="busy")) == "support"
    assert chosen(two.callback(DialCallStatus="busy")) == "receptionist"


def test_failovers_do_not_skew_the_round_robin_across_calls() -> None:
    """Each call starts one member further on even when every member fails over: a call's
    later picks go on in listed order and take no turn. (They used to take one each, so with
    three members failing in every call, every call started at the first member.)"""
    pbx = {
        "dids": {"+15550000508": {"destination": "ai_load_balancer/all"}},
        "ai_assistants": ASSISTANTS,
        "ai_load_balancers": {
            "all": {
                "strategy": "round_robin",
                "follow_through": True,
                "members": ["receptionist", "retired", "support", "sales_bot"],
            }
        },
    }
    router = make_router(pbx)
    members = ["receptionist", "support", "sales_bot"]  # retired is inactive
    for sid in range(7):
        call = PlatformCall(router, "+15550000508", sid=f"CA{sid}")
        tried = [chosen(call.start())]
        tried += [chosen(call.callback(DialCallStatus="busy")) for _ in range(2)]
        turn = sid % 3
        assert tried == members[turn:] + members[:turn]
        assert_doc(call.callback(DialCallStatus="failed"), NOBODY)


@pytest.mark.parametrize("status", ["completed", "answered"])
def test_a_connected_follow_through_ends_with_a_hangup_not_an_empty_document(status: str) -> None:
    """D6: OPBX answered HTTP 204 with an empty body."""
    call = PlatformCall(make_router(BALANCERS), "+15550000504")
    call.start()
    doc = call.callback(DialCallStatus=status)
    assert_doc(doc, HANGUP)
    assert render(doc).endswith("<Response><Hangup/></Response>")


def test_inactive_and_unreachable_members_are_skipped() -> None:
    call = PlatformCall(make_router(BALANCERS), "+15550000505")
    assert_doc(call.start(), SUPPORT)  # retired is inactive; agent needs a bridge
    assert_doc(call.callback(DialCallStatus="busy"), NOBODY)


def test_a_member_served_by_the_bridge_is_reached_when_the_router_has_one() -> None:
    call = PlatformCall(make_router(BALANCERS, bridge=BRIDGE), "+15550000505")
    doc = call.start()
    streamed(doc)
    action_of(doc)
    assert_doc(call.callback(DialCallStatus="busy"), SUPPORT)


def test_an_inactive_balancer_is_unavailable_like_any_inactive_target() -> None:
    doc = first(make_router(BALANCERS), "+15550000506")
    assert_doc(doc, goodbye(MESSAGES.unavailable))


@pytest.mark.parametrize("fields", [{"CallStatus": "in-progress"}, {"CallStatus": "completed"}, {}])
def test_a_stream_that_ended_normally_is_not_failed_over(fields: dict[str, str]) -> None:
    """Reference §7.3: only an explicit failure (DialCallStatus, else CallStatus) moves on. A
    <Connect> action comes back when the conversation ends, without a DialCallStatus."""
    call = PlatformCall(make_router(BALANCERS), "+15550000507")
    streamed(call.start())
    assert_doc(call.callback(**fields), HANGUP)


@pytest.mark.parametrize(
    "fields",
    [{"DialCallStatus": "failed"}, {"CallStatus": "busy"}, {"CallStatus": "no-answer"}],
)
def test_a_stream_that_failed_moves_on_to_the_next_member(fields: dict[str, str]) -> None:
    call = PlatformCall(make_router(BALANCERS), "+15550000507")
    streamed(call.start())
    doc = call.callback(**fields)
    assert_doc(doc, RECEPTIONIST)
    action_of(doc)


# --- direction ------------------------------------------------------------------------------

DIRECTIONS: dict[str, Any] = {
    "dids": {"+15550000601": {"destination": "extension/1002"}},
    "extensions": {"1001": {"type": "user"}, "1002": {"type": "user"}},
}


@pytest.mark.parametrize("direction", ["subscriber", "application"])
def test_a_subscriber_dials_an_extension(direction: str) -> None:
    doc = first(make_router(DIRECTIONS), "1001", from_="1002", direction=direction)
    assert_doc(doc, '<Dial timeout="30"><Number>1001</Number></Dial>')


def test_a_subscriber_dialling_a_did_of_the_pbx_reaches_its_destination() -> None:
    doc = first(make_router(DIRECTIONS), "+15550000601", from_="1001", direction="subscriber")
    assert_doc(doc, '<Dial timeout="30"><Number>1002</Number></Dial>')


@pytest.mark.parametrize("to", ["+12125550000", "12125550000", "+442071234567"])
def test_a_subscriber_dialling_out_gets_the_no_outbound_message(to: str) -> None:
    """Toll fraud: nothing here makes the PBX dial an outside number."""
    doc = first(make_router(DIRECTIONS), to, from_="1001", direction="subscriber")
    assert_doc(doc, goodbye(MESSAGES.no_outbound))


@pytest.mark.parametrize("to", ["1001", "+12125550000", "12125550000"])
@pytest.mark.parametrize("direction", ["inbound", None])
def test_an_outside_caller_reaches_dids_only(to: str, direction: str | None) -> None:
    doc = first(make_router(DIRECTIONS), to, direction=direction)
    assert_doc(doc, goodbye(MESSAGES.not_in_service))
    assert "Dial" not in render(doc)


# --- campaigns ------------------------------------------------------------------------------

CAMPAIGNS: dict[str, Any] = {
    "ai_assistants": ASSISTANTS,
    "ai_load_balancers": {
        "callers": {
            "strategy": "priority",
            "follow_through": True,
            "members": [
                {"assistant": "receptionist", "priority": 1},
                {"assistant": "support", "priority": 2},
            ],
        },
    },
    "campaigns": {
        "sip": {
            "destination": "ai_assistant/receptionist",
            "caller_id": "+14155550100",
            "status": "active",
            "metadata": {"purpose": "reminder", "clinic": {"name": "Main St", "open": True}},
        },
        "ws": {
            "destination": "ai_assistant/after_hours",
            "caller_id": "+14155550100",
            "metadata": {"purpose": "reminder"},
        },
        "lb": {
            "destination": "ai_load_balancer/callers",
            "caller_id": "+14155550100",
            "metadata": {"purpose": "survey"},
        },
        "plain": {"destination": "ai_assistant/receptionist", "caller_id": "+14155550100"},
        "window": {
            "destination": "hangup",
            "caller_id": "+14155550100",
            "status": "active",
            "timezone": "America/Los_Angeles",
            "schedule": {"monday": [["10:00", "18:00"]]},
            "start_date": "2026-11-20",
            "end_date": "2026-11-30",
        },
        "late": {
            "destination": "hangup",
            "caller_id": "+14155550100",
            "status": "active",
            "timezone": "America/Los_Angeles",
            "schedule": {"monday": [["00:00", "24:00"]]},
            "end_date": "2026-11-30",
        },
    },
}
#: The answered outbound call: from the campaign's caller id to the destination.
CAMPAIGN_CALL = {
    "CallSid": "CA-camp",
    "From": "+14155550100",
    "To": "+12125551234",
    "Direction": "outbound-api",
}


def test_a_campaign_call_carries_its_metadata_as_sip_headers() -> None:
    router = make_router(CAMPAIGNS)
    doc = router.campaign(
        "sip",
        CallRequest.from_payload(CAMPAIGN_CALL),
        metadata={"patient": "Bob", "purpose": "follow-up"},  # the destination's wins
    )
    assert_doc(
        checked(doc),
        '<Dial><Header name="X-purpose" value="follow-up"/>'
        '<Header name="X-clinic.name" value="Main St"/><Header name="X-clinic.open" value="true"/>'
        '<Header name="X-patient" value="Bob"/>'
        '<Service provider="retell">+14155551234</Service></Dial>',
    )


def test_a_campaign_call_carries_its_metadata_as_stream_parameters() -> None:
    router = make_router(CAMPAIGNS)
    doc = router.campaign("ws", CallRequest.from_payload(CAMPAIGN_CALL), metadata={"row": 7})
    assert_doc(
        checked(doc),
        '<Connect><Stream url="wss://bot.deepdub.dev/ws/B1/T1?session=CA-camp'
        '&amp;from=%2B14155550100&amp;to=%2B12125551234">'
        '<Parameter name="purpose" value="reminder"/><Parameter name="row" value="7"/>'
        "</Stream></Connect>",
    )


def test_a_campaign_without_metadata_adds_no_headers() -> None:
    doc = make_router(CAMPAIGNS).campaign("plain", CallRequest.from_payload(CAMPAIGN_CALL))
    assert_doc(checked(doc), RECEPTIONIST)


def test_campaign_metadata_follows_the_call_through_a_load_balancer() -> None:
    router = make_router(CAMPAIGNS)
    call = PlatformCall(
        router,
        CAMPAIGN_CALL["To"],
        sid=CAMPAIGN_CALL["CallSid"],
        from_=CAMPAIGN_CALL["From"],
        direction=CAMPAIGN_CALL["Direction"],
    )
    call.doc = checked(
        router.campaign("lb", CallRequest.from_payload(CAMPAIGN_CALL), metadata={"id": "d-1"})
    )
    headers = '<Header name="X-purpose" value="survey"/><Header name="X-id" value="d-1"/>'
    assert_doc(call.doc, f'<Dial>{headers}<Service provider="retell">+14155551234</Service></Dial>')
    assert_doc(
        call.callback(DialCallStatus="busy"),
        f'<Dial>{headers}<Service provider="vapi">+14155552222</Service></Dial>',
    )


def test_an_unknown_campaign_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        make_router(CAMPAIGNS).campaign("nope", CallRequest.from_payload(CAMPAIGN_CALL))


@pytest.mark.parametrize(
    ("campaign_id", "instant", "runnable"),
    [
        ("window", "2026-11-23T19:00", True),  # Monday 11:00 in Los Angeles
        ("window", "2026-11-23T17:00", False),  # 09:00 locally (17:00 UTC is in 10-18)
        ("window", "2026-11-24T01:30", True),  # Monday 17:30 locally, Tuesday in UTC
        ("window", "2026-11-24T19:00", False),  # Tuesday: no hours
        ("window", "2026-11-16T19:00", False),  # a Monday before start_date
        ("window", "2026-11-30T19:00", True),  # end_date is inclusive
        ("window", "2026-12-07T19:00", False),  # a Monday after end_date
        ("late", "2026-12-01T05:00", True),  # Nov 30 21:00 locally: the local date counts
        ("late", "2026-12-08T05:00", False),  # Dec 7 locally: after end_date
    ],
)
def test_campaign_is_runnable_in_its_own_timezone_between_its_dates(
    campaign_id: str, instant: str, runnable: bool
) -> None:
    campaign = load_pbx(CAMPAIGNS).campaigns[campaign_id]
    assert campaign.is_runnable(utc(instant)) is runnable


@pytest.mark.parametrize("status", ["draft", "paused", "completed", "archived"])
def test_only_an_active_campaign_is_runnable(
    status: Literal["draft", "paused", "completed", "archived"],
) -> None:
    campaign = load_pbx(CAMPAIGNS).campaigns["window"]
    assert campaign.is_runnable(utc("2026-11-23T19:00"))
    assert not attrs.evolve(campaign, status=status).is_runnable(utc("2026-11-23T19:00"))


def test_a_campaign_is_a_draft_unless_its_status_says_otherwise() -> None:
    campaign = load_pbx(CAMPAIGNS).campaigns["ws"]
    assert campaign.status == "draft"
    assert not campaign.is_runnable(MONDAY_NOON)


# --- signed callbacks -----------------------------------------------------------------------

SIGNED: dict[str, Any] = {
    "dids": {"+15550000701": {"destination": "ivr_menu/main"}},
    "extensions": {"1001": {"type": "user"}},
    "ivr_menus": {"main": {"prompt": "Press 1", "options": {"1": "extension/1001"}}},
}
PRESSED_ONE = '<Dial timeout="30"><Number>1001</Number></Dial>'
CANNOT_CONTINUE = goodbye(MESSAGES.cannot_continue)


def press_one(router: Router, url: str, *, sid: str = "CA1") -> Response:
    """The platform's IVR callback to ``url``: the caller pressed 1."""
    payload = {"CallSid": sid, "From": CALLER, "To": "+15550000701", "Digits": "1"}
    return checked(router.handle(CallRequest.from_payload(payload, url=url)))


def started(router: Router, *, sid: str = "CA1") -> str:
    """The signed state token of a new call's first document."""
    return token_of(first(router, "+15550000701", sid=sid))


def test_a_genuine_callback_is_followed() -> None:
    router = make_router(SIGNED)
    assert_doc(press_one(router, with_token(started(router))), PRESSED_ONE)


def test_changing_any_single_character_of_the_token_is_refused() -> None:
    router = make_router(SIGNED)
    token = started(router)
    for position in range(len(token)):
        original = token[position]
        # a letter becomes the one with its top bit flipped (a bit that always counts);
        # the dot between payload and signature becomes a letter
        changed = BASE64URL[(BASE64URL.index(original) + 32) % 64] if original != "." else "A"
        tampered = token[:position] + changed + token[position + 1 :]
        assert_doc(press_one(router, with_token(tampered)), CANNOT_CONTINUE)


def test_changing_any_character_to_any_other_character_is_refused() -> None:
    """Every replacement at every position, including the signature's last character, whose
    spare bits a lenient base64 decoder ignores (the signature must be compared as text)."""
    router = make_router(SIGNED)
    token = started(router)
    refused = render(Response([Say(MESSAGES.cannot_continue), Hangup()]))
    accepted = []
    for position in range(len(token)):
        for changed in BASE64URL + ".=%+/ ":
            if changed == token[position]:
                continue
            tampered = token[:position] + changed + token[position + 1 :]
            if render(press_one(router, with_token(tampered))) != refused:
                accepted.append((position, changed))
    assert accepted == []


#: What a character of a callback URL is changed to: URL syntax, letters and digits, characters
#: a URL should not hold at all.
REPLACEMENTS = "x0Z-._~%?&=#/;:@+ é\x00\n"


def _damaged(url: str, token: str) -> Iterator[tuple[int, str, str]]:
    """Every single-character change of ``url`` outside ``token``: (position, new character,
    damaged url)."""
    start = url.index(token)
    for position, original in enumerate(url):
        if start <= position < start + len(token):
            continue  # the token's own characters: the tests above
        for changed in REPLACEMENTS:
            if changed != original:
                yield position, changed, url[:position] + changed + url[position + 1 :]


@pytest.mark.parametrize("base_url", [BASE_URL, "https://pbx.example.com/voice?tenant=7&x=y"])
@pytest.mark.parametrize(
    ("to", "callback", "expected"),
    [
        ("+15550000701", {"Digits": "1"}, PRESSED_ONE),
        ("+15550000701", {"Digits": ""}, gather(NO_INPUT, "<Say>Press 1</Say>", timeout=5)),
        ("+15550000701", {}, gather(NO_INPUT, "<Say>Press 1</Say>", timeout=5)),
        ("+15550000702", {"DialCallStatus": "no-answer"}, ring(30, "1002")),
        ("+15550000702", {"DialCallStatus": "completed"}, HANGUP),
    ],
    ids=["menu-digit", "menu-no-input", "menu-no-input-absent", "ring-group-next",
         "ring-group-answered"],
)  # fmt: skip
def test_changing_any_other_character_of_the_callback_url_routes_the_same_or_refuses(
    base_url: str, to: str, callback: dict[str, str], expected: str
) -> None:
    """Scheme, host, path, the parameter's name, its "?", "=" and "&", other parameters: the
    router reads only the state parameter (docs/routing.md), so a change elsewhere routes the
    call as the genuine callback does, and one that loses the parameter gets the error
    document. Never a crash, and never another routing: above all not the call's first
    request again (a menu from the start, or ringing a group again after an answer)."""
    config = {
        **SIGNED,
        "dids": {**SIGNED["dids"], "+15550000702": {"destination": "ring_group/line"}},
        "extensions": {"1001": {"type": "user"}, "1002": {"type": "user"}},
        "ring_groups": {"line": {"strategy": "sequential", "members": ["1001", "1002"]}},
    }
    router = Router(load_pbx(config), base_url=base_url, secret=SECRET, clock=Clock())
    fields = {"CallSid": "CA1", "From": CALLER, "To": to, "Direction": "inbound"}
    url = only(actions(checked(router.handle(CallRequest.from_payload(fields)))), str)
    token = parse_qs(urlsplit(url).query)[STATE_PARAMETER][0]
    assert url.endswith(f"{STATE_PARAMETER}={token}")

    def outcome(at: str) -> str:
        doc = checked(router.handle(CallRequest.from_payload({**fields, **callback}, url=at)))
        return without_actions(doc)

    genuine = outcome(url)
    assert_cxml_equal(genuine, f"<Response>{expected}</Response>")
    refused = without_actions(Response([Say(MESSAGES.cannot_continue), Hangup()]))
    seen: Counter[str] = Counter()
    wrong = []
    for position, changed, damaged in _damaged(url, token):
        got = outcome(damaged)
        if got == genuine:
            seen["same"] += 1
        elif got == refused:
            seen["refused"] += 1
        else:
            wrong.append((position, changed, damaged, got))
    assert wrong == []
    # both outcomes happen: the check is not vacuous either way
    assert seen["same"] > 0
    assert seen["refused"] > 0


def test_a_scheme_host_or_path_rewrite_continues_the_call() -> None:
    """What a proxy does to the whole URL, not one character: documented as harmless."""
    router = make_router(SIGNED)
    token = started(router)
    query = urlencode({STATE_PARAMETER: token})
    for url in (
        f"http://pbx.example.com/voice?{query}",
        f"https://127.0.0.1:8443/voice?{query}",
        f"https://pbx.example.com/internal/cxml/voice?{query}",
        f"/voice?{query}",
        f"https://pbx.example.com/voice?proxy=1&{query}&trace=abc",
    ):
        assert_doc(press_one(router, url), PRESSED_ONE)


def test_a_callback_that_lost_its_state_is_refused_not_restarted() -> None:
    """A Gather or Dial callback whose URL lost the state parameter (a proxy dropping the
    query, a misspelt name) cannot be continued; it is not taken for the call's first request.
    A real first request still is."""
    router = make_router(SIGNED)
    token = started(router)
    fields = {"CallSid": "CA1", "From": CALLER, "To": "+15550000701"}

    def handled(url: str | None, **more: str) -> Response:
        return checked(router.handle(CallRequest.from_payload({**fields, **more}, url=url)))

    for url in (
        BASE_URL,
        None,
        f"{BASE_URL}?{STATE_PARAMETER.upper()}={token}",
        f"{BASE_URL}?state={token}",
        f"{BASE_URL}#{STATE_PARAMETER}={token}",
        f"{BASE_URL}?{STATE_PARAMETER}=",
    ):
        for more in ({"Digits": "1"}, {"Digits": ""}, {"DialCallStatus": "completed"}):
            assert_doc(handled(url, **more), CANNOT_CONTINUE)
    # without Digits or DialCallStatus, only a token of ours in the URL tells it apart
    expired = started(make_router(SIGNED, clock=Clock(MONDAY_NOON - dt.timedelta(days=9))))
    for url in (
        f"{BASE_URL}?state={token}",
        f"{BASE_URL}?x=1;{STATE_PARAMETER}={token}",
        f"{BASE_URL}?{STATE_PARAMETER}x{token}",
        f"{BASE_URL}?state={expired}",
    ):
        assert_doc(handled(url), CANNOT_CONTINUE)
    # a first request, even with somebody else's token-like values in its URL, is one
    menu = gather("<Say>Press 1</Say>", timeout=5)
    foreign = started(make_router(SIGNED, secret=OTHER_SECRET))
    jwt = f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.{'A' * 43}"
    for url in (BASE_URL, None, f"{BASE_URL}?state={foreign}", f"{BASE_URL}?auth={jwt}"):
        assert_doc(handled(url), menu)


def test_a_token_signed_by_another_secret_is_refused() -> None:
    pbx = load_pbx(SIGNED)
    mine, theirs = make_router(pbx), make_router(pbx, secret=OTHER_SECRET)
    assert_doc(press_one(mine, with_token(started(theirs))), CANNOT_CONTINUE)
    assert_doc(press_one(theirs, with_token(started(mine))), CANNOT_CONTINUE)


def test_another_router_with_the_same_secret_continues_the_call() -> None:
    pbx = load_pbx(SIGNED)
    assert_doc(press_one(make_router(pbx), with_token(started(make_router(pbx)))), PRESSED_ONE)


def test_an_expired_token_is_refused() -> None:
    clock = Clock()
    router = make_router(SIGNED, clock=clock, state_ttl=60)
    url = with_token(started(router))
    clock.now = MONDAY_NOON + dt.timedelta(seconds=59)
    assert_doc(press_one(router, url), PRESSED_ONE)
    clock.now = MONDAY_NOON + dt.timedelta(seconds=61)
    assert_doc(press_one(router, url), CANNOT_CONTINUE)
    clock.now = MONDAY_NOON + dt.timedelta(days=2)
    assert_doc(press_one(router, url), CANNOT_CONTINUE)


def test_a_token_replayed_for_another_call_is_refused() -> None:
    router = make_router(SIGNED)
    url = with_token(started(router, sid="CA1"))
    assert_doc(press_one(router, url, sid="CA2"), CANNOT_CONTINUE)
    assert_doc(press_one(router, url, sid="CA1"), PRESSED_ONE)


@pytest.mark.parametrize(
    "junk",
    [
        "junk",
        "a.b",
        ".",
        "....",
        "eyJ9.",
        ".c2ln",
        "%%%",
        "\u00e9t\u00e9.\u00e9t\u00e9",
        "x" * 5000,
        base64.urlsafe_b64encode(b'{"k":"ivr","m":"main","t":0,"c":"CA1"}').decode() + ".AAAA",
        base64.urlsafe_b64encode(b"\xff\xfe\x00").decode() + ".AAAA",
    ],
)
def test_junk_in_the_state_parameter_is_refused(junk: str) -> None:
    assert_doc(press_one(make_router(SIGNED), with_token(junk)), CANNOT_CONTINUE)


def test_junk_state_next_to_a_genuine_query_is_refused() -> None:
    router = make_router(SIGNED)
    url = f"{BASE_URL}?{STATE_PARAMETER}=not-a-token&{STATE_PARAMETER}=%00%ff"
    assert_doc(press_one(router, url), CANNOT_CONTINUE)


def test_a_forged_deeply_nested_state_is_refused_without_a_crash() -> None:
    """The signature is checked before the payload is decoded: a forgery never reaches the JSON
    decoder (which would recurse out of the router on deep nesting)."""
    head = base64.urlsafe_b64encode(b"[" * 100_000).rstrip(b"=").decode()
    assert_doc(press_one(make_router(SIGNED), with_token(head + ".AAAA")), CANNOT_CONTINUE)


# --- construction ---------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["", "short", "fifteen-chars!!", b"0123456789abcde"])
def test_the_router_refuses_a_short_secret(secret: str | bytes) -> None:
    with pytest.raises((ValueError, CxmlError)) as caught:
        Router(load_pbx(SIGNED), base_url=BASE_URL, secret=secret)
    if secret:
        assert str(secret) not in str(caught.value)


@pytest.mark.parametrize(
    "base_url",
    [
        "ftp://pbx.example.com/voice",
        "wss://pbx.example.com/voice",
        "pbx.example.com/voice",
        "/voice",
        "https:///voice",
        "https://pbx.example.com/voice#fragment",
        "",
    ],
)
def test_the_router_refuses_a_base_url_that_is_not_http(base_url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        Router(load_pbx(SIGNED), base_url=base_url, secret=SECRET)


def test_a_base_url_xml_cannot_carry_gets_the_error_document_not_an_exception() -> None:
    # Every callback URL starts with the base URL: none can be written into a verb.
    base = "https://pbx.example.com/vo\x01ice"
    router = Router(load_pbx(SIGNED), base_url=base, secret=SECRET, clock=Clock())
    request = CallRequest.from_payload({"CallSid": "CA1", "From": CALLER, "To": "+15550000701"})
    assert_doc(router.handle(request), CANNOT_CONTINUE)


def test_the_routers_repr_hides_its_secret() -> None:
    router = make_router(SIGNED)
    assert SECRET not in repr(router)
    assert SECRET not in str(router)


def test_a_base_url_with_a_query_keeps_it_and_still_continues_calls() -> None:
    base = "https://pbx.example.com/voice?tenant=7"
    router = Router(load_pbx(SIGNED), base_url=base, secret=SECRET, clock=Clock())
    request = CallRequest.from_payload({"CallSid": "CA1", "From": CALLER, "To": "+15550000701"})
    doc = checked(router.handle(request))
    (url,) = actions(doc)
    assert url.startswith(base + "&" + STATE_PARAMETER + "=")
    assert_doc(press_one(router, url), PRESSED_ONE)


def test_with_pbx_keeps_calls_in_progress_and_leaves_the_old_router_as_it_was() -> None:
    """What a reload swaps in: new calls see the new configuration, a call already in the
    menu goes on with its signed state, and the old router still routes as before."""
    router = make_router(IVR)
    call = PlatformCall(router, "+15550000201")
    call.start()
    dids = {did: v for did, v in IVR["dids"].items() if did != "+15550000201"}
    reloaded = router.with_pbx(load_pbx({**IVR, "dids": dids}))
    assert (reloaded.store, reloaded.clock) == (router.store, router.clock)
    call.router = reloaded
    assert_doc(call.callback(Digits="2"), SUPPORT)
    assert first(reloaded, "+15550000201") != first(router, "+15550000201")
    assert_doc(first(router, "+15550000201"), gather(MAIN_SAY))
