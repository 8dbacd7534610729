"""The router: a platform request in, the CXML that routes the call out.

The first request of a call is routed by its direction and number; every later step (IVR
input, a dial result, the next AI assistant) comes back to the URL the router wrote into an
``action``, carrying the call's state in one signed query parameter. The router keeps no
per-call memory of its own: any process holding the same secret can continue any call.
State shared across calls (round-robin cursors) goes through a `StateStore`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import json.encoder
import re
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import attrs

from cxml import (
    CallRequest,
    Conference,
    Connect,
    CxmlError,
    CxmlValueError,
    Dial,
    Gather,
    Hangup,
    Node,
    Number,
    Play,
    Response,
    Say,
    Sip,
)
from cxml._kinds import check_xml_text
from cxml._model import response_of, with_action
from providers import (
    AIAssistant,
    AssistantUnavailableError,
    MediaBridge,
    Provider,
    SignatureError,
)
from providers._signing import Signer

from ._config import (
    EXTENSION,
    AiLoadBalancer,
    Destination,
    Extension,
    IvrMenu,
    LbMember,
    Pbx,
    Prompt,
    RingGroup,
)
from ._state import MemoryStore, StateStore, StateStoreError

__all__ = ["Messages", "Router"]

#: The query parameter that carries a callback's signed state.
STATE_PARAMETER: Final = "cxmlflow"
#: How many automatic steps (business hours, forwards, fallbacks) one request may take.
MAX_STEPS: Final = 16
_CONNECTED: Final = frozenset({"completed", "answered"})
#: A run of base64url characters, a dot and 43 more: where a token of ours (base64url JSON,
#: ".", a base64url HMAC-SHA256) may be in a URL. Tried at the start of every run (a
#: lookahead: runs may overlap, "name.token.mac") and possessive, so a scan is linear.
_TOKEN_RUN: Final = re.compile(r"(?<![A-Za-z0-9_-])(?=([A-Za-z0-9_-]++)\.([A-Za-z0-9_-]{43}))")
#: The base64url of '{"', which starts every token's payload.
_TOKEN_HEAD: Final = re.compile("eyJ")
#: A damaged callback is a mishap, not an attack (a forger gains nothing over sending a first
#: request): a bounded search finds a token that a single damaged character moved.
_TOKEN_RUNS_CHECKED: Final = 8
_TOKEN_STARTS_CHECKED: Final = 4
_FAILED: Final = frozenset({"busy", "no-answer", "failed", "canceled"})
_INTERNAL: Final = frozenset({"subscriber", "application"})


@attrs.frozen
class Messages:
    """What callers hear when routing cannot go on (each followed by a hangup)."""

    not_in_service: str = "The number you have dialed is not in service."
    unavailable: str = "Sorry, this service is not available right now. Goodbye."
    no_outbound: str = "Outbound calls are not allowed from this line. Goodbye."
    cannot_continue: str = "Sorry, we could not continue this call. Goodbye."
    no_answer: str = "Nobody is available to take your call. Goodbye."


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _StopError(Exception):
    """Routing cannot go on; the caller hears ``message`` and the call ends."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Call:
    """One request being routed: what routing needs besides the PBX.

    The router's clock is read once per request, when first needed: business hours, the
    expiry of the state it signs and the bridge tickets it dates all see the same instant.
    """

    __slots__ = ("_clock", "_now", "_timestamp", "metadata", "request")

    def __init__(
        self,
        request: CallRequest,
        clock: Callable[[], dt.datetime],
        metadata: Mapping[str, object] | None = None,
    ) -> None:
        self.request = request
        self.metadata = metadata
        self._clock = clock
        self._now: dt.datetime | None = None
        self._timestamp: float | None = None

    def now(self) -> dt.datetime:
        now = self._now
        if now is None:
            now = self._now = self._clock()
        return now

    def timestamp(self) -> float:
        """`now` as POSIX time (signatures' expiry, tickets)."""
        stamp = self._timestamp
        if stamp is None:
            stamp = self._timestamp = self.now().timestamp()
        return stamp

    def with_metadata(self, metadata: Mapping[str, object]) -> _Call:
        call = _Call(self.request, self._clock, metadata)
        call._now, call._timestamp = self._now, self._timestamp
        return call


#: A JSON string literal for any str (json's own escaping, ASCII only).
_js: Final[Callable[[str], str]] = json.encoder.encode_basestring_ascii
_JSON_BOOL: Final = {True: "true", False: "false"}
_METADATA_JSON: Final = json.JSONEncoder(separators=(",", ":"))


#: Which notice an IVR menu's Gather says before its prompt: none, invalid input, no input.
_FIRST, _INVALID, _NO_INPUT = 0, 1, 2


@attrs.frozen
class _MenuParts:
    """An IVR menu's Gathers without their action, by notice (`_FIRST`...): fixed by the
    menu, so made once; each call adds its own signed action (`with_action`)."""

    id_json: str
    gathers: tuple[Gather, Gather, Gather]


@attrs.frozen
class _BalancerParts:
    """What picking a member of an AI load balancer needs, fixed by the configuration."""

    id_json: str
    cursor_key: str
    #: The members that can be picked (active; weight above 0 for percentage), in the order
    #: picking walks them (by priority, stably, for priority).
    candidates: tuple[LbMember, ...]
    #: Every member's assistant in listed order: where a call's round-robin failover goes on.
    listed: tuple[str, ...]


class Router:
    """Routes calls through a `Pbx`.

    ``base_url`` is where the platform reaches your voice webhook (callbacks come back to
    it); ``secret`` signs the state in callback URLs (at least 16 bytes); ``store`` holds
    round-robin cursors (default: in memory; use `RedisStore` across processes); ``clock``
    returns an aware datetime (business hours, expiry); ``bridge`` is your media bridge, for
    assistants it serves; ``state_ttl`` is how long a callback stays valid, in seconds.
    """

    def __init__(
        self,
        pbx: Pbx,
        *,
        base_url: str,
        secret: str | bytes,
        store: StateStore | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        bridge: MediaBridge | None = None,
        state_ttl: float = 3600.0,
        messages: Messages = Messages(),
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.fragment:
            raise ValueError("base_url must be an absolute http(s) URL without a fragment")
        self._signer = Signer(secret)  # refuses a short secret now rather than mid-call
        self.pbx = pbx
        self.base_url = base_url
        # Tokens are base64url and ".", safe in a query as they are.
        self._callback_prefix = f"{base_url}{'&' if parts.query else '?'}{STATE_PARAMETER}="
        # A callback URL is this prefix and a token (base64url and "."): when the prefix is
        # XML text, so is every callback URL, and verbs need not check each one again.
        try:
            self._prefix_checked = check_xml_text(self._callback_prefix, "base_url") is not None
        except CxmlValueError:
            self._prefix_checked = False  # each action is then checked, and refused
        self.store: StateStore = store if store is not None else MemoryStore()
        self.clock = clock or _utc_now
        self.bridge = bridge
        self.state_ttl = state_ttl
        self.messages = messages
        # Parts of the configuration made once (nodes are immutable, so shared), each kept
        # with the Pbx and object it was made from.
        self._menu_parts: dict[str, tuple[Pbx, IvrMenu, _MenuParts]] = {}
        self._balancer_parts: dict[str, tuple[Pbx, AiLoadBalancer, _BalancerParts]] = {}
        self._static_verbs: dict[str, tuple[AIAssistant, Provider, Dial | Connect]] = {}

    def __repr__(self) -> str:
        return f"Router(base_url={self.base_url!r})"

    # --- entry points -------------------------------------------------------------------

    def handle(self, request: CallRequest) -> Response:
        """The document for a call's first request, or for a callback this router wrote.

        Never raises for a bad request: unknown numbers, inactive targets and tampered,
        expired or foreign callbacks get a spoken error and a hangup.
        """
        call = _Call(request, self.clock)
        try:
            if request.url is None and request.digits is None and request.dial_call_status is None:
                return response_of(self._first(call))  # `_state`'s answer, without the call
            state = self._state(call)
            if state is None:
                return response_of(self._first(call))
            return response_of(self._resume(call, state))
        except _StopError as stop:
            return self._goodbye(stop.message)
        except CxmlError:
            return self._goodbye(self.messages.cannot_continue)

    def campaign(
        self,
        campaign_id: str,
        request: CallRequest,
        *,
        metadata: Mapping[str, object] | None = None,
    ) -> Response:
        """The document for an answered auto-dialer call of ``campaign_id``.

        The campaign's metadata, updated with ``metadata`` (the destination's own), reaches
        the assistant as ``X-`` headers (SIP) or stream parameters (WebSocket).
        """
        campaign = self.pbx.campaigns.get(campaign_id)
        if campaign is None:
            raise KeyError(f"no campaign {campaign_id!r}")
        call = _Call(request, self.clock, {**campaign.metadata, **(metadata or {})})
        try:
            return Response(self._route(campaign.destination, call, 0))
        except _StopError as stop:
            return self._goodbye(stop.message)
        except CxmlError:  # e.g. a destination's metadata that cannot travel
            return self._goodbye(self.messages.cannot_continue)

    # --- first requests -----------------------------------------------------------------

    def _first(self, call: _Call) -> list[Node]:
        request = call.request
        to = (request.to or "").strip()
        if request.direction in _INTERNAL:
            if to in self.pbx.extensions:
                return self._route(Destination("extension", to), call, 0)
            did = self.pbx.did(to)
            if did is None:
                # A subscriber dialling out: this router does not place outbound calls.
                raise _StopError(self.messages.no_outbound)
        else:
            # External callers reach DIDs only: nothing they dial makes the PBX dial out.
            did = self.pbx.did(to)
        if did is None or not did.active:
            raise _StopError(self.messages.not_in_service)
        return self._route(did.destination, call, 0)

    # --- destinations -------------------------------------------------------------------

    def _route(self, target: Destination, call: _Call, steps: int) -> list[Node]:
        if steps > MAX_STEPS:
            raise _StopError(self.messages.unavailable)
        to = _ROUTES.get(target.kind)
        if to is None:
            raise _StopError(self.messages.unavailable)
        return to(self, target.id, call, steps)

    def _to_hangup(self, ident: str, call: _Call, steps: int) -> list[Node]:
        return [Hangup()]

    def _to_ring_group(self, ident: str, call: _Call, steps: int) -> list[Node]:
        return self._ring(self._group(ident), call, 0, None, steps)

    def _to_ivr_menu(self, ident: str, call: _Call, steps: int) -> list[Node]:
        return self._menu(self._ivr(ident), call, 0)

    def _to_business_hours(self, ident: str, call: _Call, steps: int) -> list[Node]:
        hours = self.pbx.business_hours.get(ident)
        if hours is None:
            raise _StopError(self.messages.unavailable)
        nxt = hours.open if hours.schedule.is_open(call.now()) else hours.closed
        return self._route(nxt, call, steps + 1)

    def _to_ai_assistant(self, ident: str, call: _Call, steps: int) -> list[Node]:
        assistant = self.pbx.ai_assistants.get(ident)
        if assistant is None or not assistant.active:
            raise _StopError(self.messages.unavailable)
        return [self._assistant_verb(assistant, call, None)]

    def _to_ai_load_balancer(self, ident: str, call: _Call, steps: int) -> list[Node]:
        balancer = self.pbx.ai_load_balancers.get(ident)
        if balancer is None or not balancer.active:
            raise _StopError(self.messages.unavailable)
        return self._balance(balancer, call, (), steps)

    def _fallback(self, target: Destination, call: _Call, steps: int) -> list[Node]:
        """Where a group or balancer sends the call when nobody took it; a plain hangup says
        so first (once: OPBX said "Goodbye. Goodbye.", D7)."""
        if target.kind == "hangup":
            return [Say(self.messages.no_answer), Hangup()]
        return self._route(target, call, steps + 1)

    def _extension(self, number: str, call: _Call, steps: int) -> list[Node]:
        ext = self._ringable(number)
        if ext is None:
            raise _StopError(self.messages.unavailable)
        return [Dial([self._target(ext)], timeout=ext.timeout)]

    @staticmethod
    def _target(ext: Extension) -> Node:
        """What dialling an extension rings: the subscriber, or where it forwards."""
        if ext.type == "user" or ext.forward_to is None:
            return Number(ext.number)
        if ext.forward_to.startswith("sip:"):
            return Sip(ext.forward_to)
        return Number(ext.forward_to)

    def _conference(self, ident: str, call: _Call, steps: int) -> list[Node]:
        room = self.pbx.conferences.get(ident)
        if room is None or not room.active:
            raise _StopError(self.messages.unavailable)
        noun = Conference(
            room.name,
            max_participants=room.max_participants,
            muted=room.muted,
            beep=room.beep,
            hold_music=room.hold_music,
            start_conference_on_enter=room.start_on_enter,
            end_conference_on_exit=room.end_on_exit,
        )
        return [Dial([noun])]

    # --- ring groups ----------------------------------------------------------------------

    def _group(self, ident: str) -> RingGroup:
        group = self.pbx.ring_groups.get(ident)
        if group is None or not group.active:
            raise _StopError(self.messages.unavailable)
        return group

    def _members(self, group: RingGroup) -> list[Extension]:
        """The extensions a group rings: active members, forwards to extensions followed."""
        found = (self._ringable(number) for number in group.members)
        return [ext for ext in found if ext is not None]

    def _ringable(self, number: str) -> Extension | None:
        """The active extension that ringing ``number`` reaches, following forwards to other
        extensions; None if the chain ends at a missing or inactive one."""
        for _ in range(MAX_STEPS):
            ext = self.pbx.extensions.get(number)
            if ext is None or not ext.active:
                return None
            if ext.forward_to is None or not EXTENSION.match(ext.forward_to):
                return ext
            number = ext.forward_to
        return None

    def _ring(
        self, group: RingGroup, call: _Call, attempt: int, start: int | None, steps: int
    ) -> list[Node]:
        """Attempt number ``attempt`` (from 0) of ``group``, or its fallback after the last."""
        members = self._members(group)
        simultaneous = group.strategy == "simultaneous"
        attempts = group.ring_turns * (1 if simultaneous else len(members))
        if not members or attempt >= attempts:
            return self._fallback(group.fallback, call, steps)
        if start is None:
            # A real round robin: each call starts one member further on (OPBX never did).
            start = 0
            if group.strategy == "round_robin":
                start = self._cursor(f"ring_group:{group.id}:cursor") % len(members)
        ringing = members if simultaneous else [members[(start + attempt) % len(members)]]
        action = self._callback(
            call, f'"k":"ring","g":{_js(group.id)},"a":{attempt:d},"s":{start:d}'
        )
        return [Dial([self._target(m) for m in ringing], timeout=group.timeout, action=action)]

    # --- IVR menus ------------------------------------------------------------------------

    def _ivr(self, ident: str) -> IvrMenu:
        menu = self.pbx.ivr_menus.get(ident)
        if menu is None or not menu.active:
            raise _StopError(self.messages.unavailable)
        return menu

    def _menu(self, menu: IvrMenu, call: _Call, turn: int, notice: int = _FIRST) -> list[Node]:
        """The menu's Gather for ``turn``, after ``notice`` (why it is replayed)."""
        cached = self._menu_parts.get(menu.id)
        if cached is not None and cached[0] is self.pbx and cached[1] is menu:
            parts = cached[2]
        else:
            parts = self._parts(menu)
        action = self._callback(call, f'"k":"ivr","m":{parts.id_json},"t":{turn:d}')
        return [with_action(parts.gathers[notice], action, checked=self._prefix_checked)]

    def _parts(self, menu: IvrMenu) -> _MenuParts:
        """The menu's fixed parts, made on its first call (`_menu` looks them up; nodes are
        immutable, so they are shared)."""
        lengths = {len(digits) for digits in menu.options}
        num_digits = lengths.pop() if len(lengths) == 1 else None
        prompt = self._prompts(menu.prompt)

        def gather(notice: Prompt | None) -> Gather:
            return Gather(
                (*self._prompts(notice), *prompt),
                action_on_empty_result=True,  # OPBX's dead "no input" branch (D1) lives again
                num_digits=num_digits,
                timeout=menu.timeout,
            )

        gathers = (gather(None), gather(menu.invalid_prompt), gather(menu.no_input_prompt))
        parts = _MenuParts(id_json=_js(menu.id), gathers=gathers)
        self._menu_parts[menu.id] = (self.pbx, menu, parts)
        return parts

    @classmethod
    def _prompts(cls, prompt: Prompt | None) -> tuple[Node, ...]:
        node = None if prompt is None else cls._prompt(prompt)
        return () if node is None else (node,)

    @staticmethod
    def _prompt(prompt: Prompt) -> Node | None:
        if prompt.play:
            return Play(prompt.play)
        if prompt.say:
            return Say(prompt.say, voice=prompt.voice, language=prompt.language)
        return None

    # --- AI assistants and load balancers -------------------------------------------------

    def _verb(self, assistant: AIAssistant, call: _Call, action: str | None) -> Dial | Connect:
        """The assistant's verb; AssistantUnavailableError if it cannot take the call."""
        if action is None and not call.metadata:
            # A SIP assistant's verb without metadata or action depends on its settings
            # only: made once (per provider definition: the registry may replace one).
            definition = assistant.definition
            cached = self._static_verbs.get(assistant.name)
            if cached is not None and cached[0] is assistant and cached[1] is definition:
                return cached[2]
            if definition.protocol in ("sip", "sip_bot"):
                verb = assistant.verb(call.request)
                self._static_verbs[assistant.name] = (assistant, definition, verb)
                return verb
        return assistant.verb(
            call.request,
            metadata=call.metadata,
            action=action,
            bridge=self.bridge,
            now=call.timestamp(),
        )

    def _assistant_verb(self, assistant: AIAssistant, call: _Call, action: str | None) -> Node:
        try:
            return self._verb(assistant, call, action)
        except AssistantUnavailableError:
            raise _StopError(self.messages.unavailable) from None

    def _balance(
        self, balancer: AiLoadBalancer, call: _Call, tried: tuple[str, ...], steps: int
    ) -> list[Node]:
        """The next member of ``balancer`` not yet tried on this call, or its fallback."""
        cached = self._balancer_parts.get(balancer.id)
        if cached is not None and cached[0] is self.pbx and cached[1] is balancer:
            parts = cached[2]
        else:
            parts = self._balancer(balancer)
        tried_now = list(tried)
        while True:
            name = self._pick(balancer, parts, tried_now)
            if name is None:
                # The fallback is routed without follow-through, so it cannot loop back here.
                return self._fallback(balancer.fallback, call, steps)
            try:
                verb = self._verb(self.pbx.ai_assistants[name], call, None)
            except AssistantUnavailableError:
                tried_now.append(name)  # e.g. needs a bridge this router has not got
                continue
            if not balancer.follow_through:
                return [verb]
            # SIP assistants are dialled (<Dial>), the others streamed to (<Connect>).
            stream = _JSON_BOOL[not isinstance(verb, Dial)]
            tried_json = ",".join(map(_js, (*tried_now, name))) if tried_now else _js(name)
            state = f'"k":"alb","b":{parts.id_json},"tried":[{tried_json}],"v":{stream}'
            action = self._callback(call, state)
            return [with_action(verb, action, checked=self._prefix_checked)]

    def _balancer(self, balancer: AiLoadBalancer) -> _BalancerParts:
        """The balancer's fixed parts, made on its first call (`_balance` looks them up)."""
        assistants = self.pbx.ai_assistants
        candidates = [m for m in balancer.members if assistants[m.assistant].active]
        if balancer.strategy == "priority":
            candidates.sort(key=lambda m: m.priority)  # stable: ties keep their order
        elif balancer.strategy == "percentage":
            candidates = [m for m in candidates if m.weight > 0]
        parts = _BalancerParts(
            id_json=_js(balancer.id),
            cursor_key=f"ai_load_balancer:{balancer.id}:cursor",
            candidates=tuple(candidates),
            listed=tuple(m.assistant for m in balancer.members),
        )
        self._balancer_parts[balancer.id] = (self.pbx, balancer, parts)
        return parts

    def _pick(
        self, balancer: AiLoadBalancer, parts: _BalancerParts, tried: list[str]
    ) -> str | None:
        candidates = parts.candidates
        if tried:
            candidates = tuple(m for m in candidates if m.assistant not in tried)
        if not candidates:
            return None
        if balancer.strategy == "priority":
            return candidates[0].assistant
        if balancer.strategy == "round_robin" and tried:
            # A call's later picks go on in listed order from the member it started at: only
            # its first pick takes a turn, so failovers never skew the rotation across calls.
            names = parts.listed
            if tried[-1] in names:
                left = {m.assistant for m in candidates}
                start = names.index(tried[-1]) + 1
                return next(n for n in names[start:] + names[:start] if n in left)
        turn = self._cursor(parts.cursor_key)
        if balancer.strategy == "round_robin":
            return candidates[turn % len(candidates)].assistant
        # percentage: walk the weights cyclically, so shares are exact over every cycle
        point = turn % sum(m.weight for m in candidates)
        for member in candidates:
            point -= member.weight
            if point < 0:
                return member.assistant
        raise AssertionError("unreachable: point is below the total weight")

    def _cursor(self, key: str) -> int:
        """The next turn of a rotation shared by every process (0, 1, 2, ...).

        A store that fails costs the rotation (turn 0), never the call.
        """
        try:
            return self.store.incr(key) - 1
        except StateStoreError:
            return 0

    # --- callbacks ------------------------------------------------------------------------

    def _callback(self, call: _Call, state: str) -> str:
        """The action URL that brings the call back with ``state``, bound to this call's sid.

        ``state`` is the JSON text of the state's members (`Signer.sign_members`): each
        payload has a fixed shape, and writing it here costs a fraction of a JSON encoder's
        round trip. Every string in it is written by ``_js``.
        """
        state += ',"c":' + _js(call.request.call_sid or "")
        if call.metadata:
            state += ',"md":' + _METADATA_JSON.encode(dict(call.metadata))
        token = self._signer.sign_members(state, ttl=self.state_ttl, now=call.timestamp())
        return self._callback_prefix + token

    def _state(self, call: _Call) -> dict[str, Any] | None:
        """The signed state of a callback URL; None for a call's first request."""
        request = call.request
        values = None
        if request.url is not None:
            values = parse_qs(urlsplit(request.url).query).get(STATE_PARAMETER)
        if not values:
            if self._lost_state(request):
                raise _StopError(self.messages.cannot_continue)
            return None
        try:
            state = self._signer.verify(values[-1], now=call.timestamp())
        except SignatureError:
            raise _StopError(self.messages.cannot_continue) from None
        if state.get("c") != (request.call_sid or ""):
            raise _StopError(self.messages.cannot_continue)  # another call's callback
        return state

    def _lost_state(self, request: CallRequest) -> bool:
        """Whether a request without a state parameter is a callback that lost it: one with
        what only callbacks carry (a Gather's Digits, a Dial's DialCallStatus), or a URL that
        holds a token this router signed somewhere else (a damaged parameter name or
        separator). Served as a first request, it would route the call again from the start:
        ring a group again after the call was answered, or reset a menu.
        """
        if request.digits is not None or request.dial_call_status is not None:
            return True
        if not request.url:  # a first request without a URL: nothing to search
            return False
        runs = itertools.islice(_TOKEN_RUN.finditer(request.url), _TOKEN_RUNS_CHECKED)
        for run in runs:
            head, mac = run.group(1), run.group(2)
            starts = itertools.islice(_TOKEN_HEAD.finditer(head), _TOKEN_STARTS_CHECKED)
            for start in starts:
                try:
                    self._signer.verify(f"{head[start.start() :]}.{mac}", now=0)
                except SignatureError:
                    continue
                return True  # signed by us, expired or not
        return False

    def _resume(self, call: _Call, state: dict[str, Any]) -> list[Node]:
        metadata = state.get("md")
        if isinstance(metadata, dict):
            call = call.with_metadata(metadata)
        kind = state.get("k")
        if kind == "ivr":
            return self._ivr_input(self._ivr(str(state["m"])), call, int(state["t"]))
        connected = call.request.dial_call_status in _CONNECTED
        if kind == "ring":
            if connected:
                return [Hangup()]
            group = self._group(str(state["g"]))
            return self._ring(group, call, int(state["a"]) + 1, int(state["s"]), 0)
        if kind == "alb":
            # A stream's action is requested when the conversation ends: only an explicit
            # failure moves on, not a status the platform left out.
            failed = call.request.dial_call_status or call.request.call_status
            if connected or (state.get("v") and failed not in _FAILED):
                return [Hangup()]
            balancer = self.pbx.ai_load_balancers.get(str(state["b"]))
            if balancer is None:
                raise _StopError(self.messages.unavailable)
            tried = tuple(str(name) for name in state["tried"])
            return self._balance(balancer, call, tried, 0)
        raise _StopError(self.messages.cannot_continue)

    def _ivr_input(self, menu: IvrMenu, call: _Call, turn: int) -> list[Node]:
        digits = (call.request.digits or "").strip()
        target = menu.options.get(digits)
        if target is not None:
            return self._route(target, call, 0)
        if turn + 1 >= menu.max_turns:
            return self._route(menu.failover, call, 1)
        return self._menu(menu, call, turn + 1, _INVALID if digits else _NO_INPUT)

    def _goodbye(self, message: str) -> Response:
        return Response([Say(message), Hangup()])


#: Destination kind -> how the router reaches it (ident, call, steps).
_ROUTES: Final[dict[str, Callable[[Router, str, _Call, int], list[Node]]]] = {
    "hangup": Router._to_hangup,
    "extension": Router._extension,
    "conference": Router._conference,
    "ring_group": Router._to_ring_group,
    "ivr_menu": Router._to_ivr_menu,
    "business_hours": Router._to_business_hours,
    "ai_assistant": Router._to_ai_assistant,
    "ai_load_balancer": Router._to_ai_load_balancer,
}
