"""The router: a platform request in, the CXML that routes the call out.

The first request of a call is routed by its direction and number; every later step (IVR
input, a dial result, the next AI assistant) comes back to the URL the router wrote into an
``action``, carrying the call's state (`CallbackState`) in one signed query parameter. The
router keeps no per-call memory of its own: any process holding the same secret can continue
any call. State shared across calls (round-robin cursors) goes through a `StateStore`.
"""

from __future__ import annotations

import collections
import copy
import datetime as dt
import itertools
import logging
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs, urlsplit

import attrs

from cxml import (
    CallRequest,
    Conference,
    Connect,
    CxmlError,
    Dial,
    Gather,
    Hangup,
    Node,
    Number,
    Play,
    Redirect,
    Response,
    Say,
    Sip,
    replace,
)
from providers import (
    AIAssistant,
    AssistantUnavailableError,
    MediaBridge,
    SignatureError,
    Signer,
)

from ._callback import (
    AiStream,
    BalancerPick,
    CallbackState,
    CallbackStateError,
    MenuTurn,
    RingAttempt,
    Step,
    decode,
    encode,
)
from ._config import (
    MAX_STEPS,
    AiLoadBalancer,
    Destination,
    Extension,
    IvrMenu,
    LbMember,
    Pbx,
    Prompt,
    RingGroup,
)
from ._outcomes import (
    claim_key,
    normalise_number,
    outcome_key,
    outcome_recorder,
    read_outcome,
)
from ._state import MemoryStore, StateStore, StateStoreError

if TYPE_CHECKING:
    from providers.media import Outcome, StreamCall

__all__ = ["Messages", "Router"]

#: The query parameter that carries a callback's signed state.
STATE_PARAMETER: Final = "cxmlflow"
_CONNECTED: Final = frozenset({"completed", "answered"})
_FAILED: Final = frozenset({"busy", "no-answer", "failed", "canceled"})
_INTERNAL: Final = frozenset({"subscriber", "application"})
#: CallStatus values of a call that is over: nothing more can be routed on it.
_CALL_OVER: Final = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
#: Where a token of ours (base64url, ".", base64url) may sit in a URL: a run of those
#: characters, from where its payload starts. The payload is a JSON object, '{"' and a
#: letter, which base64url writes "eyJ".
_TOKEN_CHARS: Final = re.compile(r"[A-Za-z0-9_.-]+")
_TOKEN_HEAD: Final = re.compile("eyJ")
#: A damaged callback is a mishap, not an attack (a forger gains nothing over sending a first
#: request): a bounded search finds a token that a single damaged character moved.
_RUNS_CHECKED: Final = 8
_HEADS_CHECKED: Final = 4
#: While the store is down, rotations take a random turn below this (any member, weighted).
_RANDOM_TURNS: Final = 1 << 30

log = logging.getLogger("flows.routing")


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


@attrs.frozen
class _Call:
    """One request being routed: what routing needs besides the PBX.

    ``now`` is the router's clock, read once per request: business hours, the expiry of the
    state it signs and the bridge tickets it dates all see the same instant. ``metadata``
    follows a campaign call to its assistants.
    """

    request: CallRequest
    now: dt.datetime
    metadata: Mapping[str, object] | None = None

    @property
    def timestamp(self) -> float:
        """`now` as POSIX time (signatures' expiry, tickets)."""
        return self.now.timestamp()


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
        self.store: StateStore = store if store is not None else MemoryStore()
        self.clock = clock or _utc_now
        self.bridge = bridge
        self.state_ttl = state_ttl
        self.messages = messages
        #: Transfers refused (a destination the PBX does not allow), by assistant id.
        self.refused_transfers: collections.Counter[str] = collections.Counter()
        # Whether the store failed last time: an outage is logged once, and its end once.
        self._store_down = False
        self._store_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Router(base_url={self.base_url!r})"

    def with_pbx(self, pbx: Pbx) -> Router:
        """This router with another configuration: the same secret, store, clock, bridge and
        counters, so calls in progress continue on their signed state. A server swaps the
        result in whole (a reload); a request that already holds this router finishes on it."""
        router = copy.copy(self)
        router.pbx = pbx
        return router

    # --- entry points -------------------------------------------------------------------

    def handle(self, request: CallRequest) -> Response:
        """The document for a call's first request, or for a callback this router wrote.

        Never raises for a bad request: unknown numbers, inactive targets and tampered,
        expired or foreign callbacks get a spoken error and a hangup.
        """
        call = _Call(request, self.clock())
        try:
            state = self._state(call)
            verbs = self._first(call) if state is None else self._resume(call, state)
            return Response(verbs)
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
        call = _Call(request, self.clock(), {**campaign.metadata, **(metadata or {})})
        try:
            return Response(self._route(campaign.destination, call, 0))
        except _StopError as stop:
            return self._goodbye(stop.message)
        except CxmlError:  # e.g. a destination's metadata that cannot travel
            return self._goodbye(self.messages.cannot_continue)

    async def record_outcome(self, call: StreamCall, outcome: Outcome) -> None:
        """Record how an AI stream ended, for the ``<Connect>`` action to read: pass it as
        ``StreamServer(on_outcome=router.record_outcome)`` (or `outcome_recorder` of the same
        store, in a process without a router). Kept for ``state_ttl`` seconds."""
        await outcome_recorder(self.store, ttl=self.state_ttl)(call, outcome)

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
        nxt = hours.open if hours.schedule.is_open(call.now) else hours.closed
        return self._route(nxt, call, steps + 1)

    def _to_ai_assistant(self, ident: str, call: _Call, steps: int) -> list[Node]:
        assistant = self.pbx.ai_assistants.get(ident)
        if assistant is None or not assistant.active:
            raise _StopError(self.messages.unavailable)
        try:
            verb = self._verb(assistant, call)
        except AssistantUnavailableError:
            raise _StopError(self.messages.unavailable) from None
        if isinstance(verb, Dial):
            return [verb]  # SIP: the provider's own call; it ends where the Dial ends
        return self._streamed(verb, call, self._ai_stream(ident))

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
        ext = self.pbx.ringable(number)
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
        found = (self.pbx.ringable(number) for number in group.members)
        return [ext for ext in found if ext is not None]

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
        action = self._callback(call, RingAttempt(group.id, attempt, start))
        return [Dial([self._target(m) for m in ringing], timeout=group.timeout, action=action)]

    # --- IVR menus ------------------------------------------------------------------------

    def _ivr(self, ident: str) -> IvrMenu:
        menu = self.pbx.ivr_menus.get(ident)
        if menu is None or not menu.active:
            raise _StopError(self.messages.unavailable)
        return menu

    def _menu(
        self, menu: IvrMenu, call: _Call, turn: int, notice: Prompt | None = None
    ) -> list[Node]:
        """The menu's Gather for ``turn``, after ``notice`` (why it is replayed)."""
        lengths = {len(digits) for digits in menu.options}
        prompts = (self._prompt(p) for p in (notice, menu.prompt) if p is not None)
        gather = Gather(
            [node for node in prompts if node is not None],
            action=self._callback(call, MenuTurn(menu.id, turn)),
            action_on_empty_result=True,  # OPBX's dead "no input" branch (D1) lives again
            num_digits=lengths.pop() if len(lengths) == 1 else None,
            timeout=menu.timeout,
        )
        return [gather]

    @staticmethod
    def _prompt(prompt: Prompt) -> Node | None:
        if prompt.play:
            return Play(prompt.play)
        if prompt.say:
            return Say(prompt.say, voice=prompt.voice, language=prompt.language)
        return None

    def _ivr_input(self, menu: IvrMenu, call: _Call, turn: int) -> list[Node]:
        digits = (call.request.digits or "").strip()
        target = menu.options.get(digits)
        if target is not None:
            return self._route(target, call, 0)
        if turn + 1 >= menu.max_turns:
            return self._route(menu.failover, call, 1)
        notice = menu.invalid_prompt if digits else menu.no_input_prompt
        return self._menu(menu, call, turn + 1, notice)

    # --- AI assistants and load balancers -------------------------------------------------

    def _verb(self, assistant: AIAssistant, call: _Call) -> Dial | Connect:
        """The assistant's verb; AssistantUnavailableError if it cannot take the call."""
        return assistant.verb(
            call.request, metadata=call.metadata, bridge=self.bridge, now=call.timestamp
        )

    def _balance(
        self, balancer: AiLoadBalancer, call: _Call, tried: tuple[str, ...], steps: int
    ) -> list[Node]:
        """The next member of ``balancer`` not yet tried on this call, or its fallback."""
        tried_now = list(tried)
        while (name := self._pick(balancer, tried_now)) is not None:
            try:
                verb = self._verb(self.pbx.ai_assistants[name], call)
            except AssistantUnavailableError:
                tried_now.append(name)  # e.g. needs a bridge this router has not got
                continue
            # SIP assistants are dialled (<Dial>), the others streamed to (<Connect>).
            pick = BalancerPick(balancer.id, (*tried_now, name), isinstance(verb, Connect))
            if isinstance(verb, Dial):
                if not balancer.follow_through:
                    return [verb]
                return [replace(verb, action=self._callback(call, pick))]
            # A stream's outcome is answered either way; follow-through adds the failover.
            step = pick if balancer.follow_through else self._ai_stream(name)
            return self._streamed(verb, call, step)
        # The fallback is routed without follow-through, so it cannot loop back here.
        return self._fallback(balancer.fallback, call, steps)

    def _streamed(self, verb: Connect, call: _Call, step: Step) -> list[Node]:
        """An AI stream that comes back to ``step`` when it ends: as the ``<Connect>``'s
        action and, because Cloudonix does not document that action (it documents that the
        document goes on after the stream), as a ``<Redirect>`` to the same URL after it. The
        router answers whichever comes first and hangs up on the other (`_claim`)."""
        url = self._callback(call, step)
        return [replace(verb, action=url), Redirect(url)]

    @staticmethod
    def _ai_stream(assistant: str) -> AiStream:
        """The step of a new AI stream, named at random (8 bytes: never met twice in a call)."""
        return AiStream(assistant, secrets.token_urlsafe(8))

    # --- AI stream ends ---------------------------------------------------------------------

    def _claim(self, call: _Call) -> bool:
        """Whether this request is the first to answer its stream end (the action, the
        Redirect after it, a retry: one routes, the others hang up). A failing store cannot
        tell: the call goes on rather than being cut."""
        token = self._token(call.request) or ""
        try:
            count = self.store.incr(claim_key(call.request.call_sid or "", token),
                                    ttl=self.state_ttl)  # fmt: skip
        except StateStoreError as exc:
            self._store_failed(exc)
            return True
        self._store_answered()
        return count == 1

    def _outcome(self, call: _Call) -> Outcome | None:
        """The outcome the bridge recorded for this call's stream, taken out of the store
        (a later stream of the same call must not read it); None if there is none."""
        key = outcome_key(call.request.call_sid or "")
        try:
            text = self.store.get(key)
            if text is None:
                self._store_answered()
                return None
            self.store.delete(key)
            self._store_answered()
            return read_outcome(text)
        except StateStoreError as exc:
            self._store_failed(exc)
            return None
        except CxmlError as exc:  # the store holds what no bridge wrote
            log.warning("no AI outcome for call %s: [%s] %s", key, exc.code, exc.message)
            return None

    def _stream_ended(
        self, call: _Call, assistant: str, outcome: Outcome | None, steps: int
    ) -> list[Node]:
        """Where the call goes when ``assistant``'s stream ended with ``outcome``."""
        if call.request.call_status in _CALL_OVER:
            return [Hangup()]  # e.g. the caller hung up during the goodbye: dial nobody
        if outcome is not None and outcome.kind in ("finished", "hangup"):
            return [Hangup()]
        if outcome is not None and outcome.kind == "transfer":
            assert outcome.destination is not None
            target = self._transfer(assistant, outcome.destination)
            if isinstance(target, Destination):
                return self._route(target, call, steps + 1)
            if target is not None:
                return [Dial([Number(target)])]
            self.refused_transfers[assistant] += 1
            log.warning(
                "refused a transfer by AI assistant %r to %r: not a destination of this PBX",
                assistant, outcome.destination[:40],
            )  # fmt: skip
        # stop, error, a refused transfer, or nothing recorded: the assistant's next step
        return self._route(self.pbx.routing(assistant).after, call, steps + 1)

    def _transfer(self, assistant: str, destination: str) -> Destination | str | None:
        """What an AI asked to transfer to, if the PBX allows it: one of its extensions (by
        number), ring groups or assistants (``kind/id`` or the bare id), or a number the
        assistant's ``transfer_targets`` list (as listed). None for anything else."""
        text = destination.strip()
        kind, slash, ident = text.partition("/")
        if slash:
            wanted = [(kind, ident)]
        else:
            wanted = [("extension", normalise_number(text)), ("ring_group", text),
                      ("ai_assistant", text)]  # fmt: skip
        for kind, ident in wanted:
            if self._transferable(kind, ident):
                return Destination(kind, ident)
        number = normalise_number(text)
        listed = self.pbx.routing(assistant).transfer_targets
        # the AI may leave out the +
        return next((n for n in listed if number in (n, n[1:])), None)

    def _transferable(self, kind: str, ident: str) -> bool:
        """Whether ``kind/id`` is an active extension, ring group or assistant of the PBX."""
        if kind == "extension":
            return self.pbx.ringable(ident) is not None
        if kind == "ring_group":
            group = self.pbx.ring_groups.get(ident)
            return group is not None and group.active
        if kind == "ai_assistant":
            assistant = self.pbx.ai_assistants.get(ident)
            return assistant is not None and assistant.active
        return False

    def _candidates(self, balancer: AiLoadBalancer) -> list[LbMember]:
        """The members that can be picked (active; weight above 0 for percentage), in the
        order picking walks them (by priority, stably, for priority)."""
        assistants = self.pbx.ai_assistants
        candidates = [m for m in balancer.members if assistants[m.assistant].active]
        if balancer.strategy == "priority":
            candidates.sort(key=lambda m: m.priority)  # stable: ties keep their order
        elif balancer.strategy == "percentage":
            candidates = [m for m in candidates if m.weight > 0]
        return candidates

    def _pick(self, balancer: AiLoadBalancer, tried: list[str]) -> str | None:
        candidates = [m for m in self._candidates(balancer) if m.assistant not in tried]
        if not candidates:
            return None
        if balancer.strategy == "priority":
            return candidates[0].assistant
        if balancer.strategy == "round_robin" and tried:
            # A call's later picks go on in listed order from the member it started at: only
            # its first pick takes a turn, so failovers never skew the rotation across calls.
            names = [m.assistant for m in balancer.members]
            if tried[-1] in names:
                left = {m.assistant for m in candidates}
                start = names.index(tried[-1]) + 1
                return next(n for n in names[start:] + names[:start] if n in left)
        turn = self._cursor(f"ai_load_balancer:{balancer.id}:cursor")
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

        A store that fails costs the rotation, never the call: the turn is random, so the
        picks still spread over the members (by weight for a percentage balancer).
        """
        try:
            turn = self.store.incr(key) - 1
        except StateStoreError as exc:
            self._store_failed(exc)
            return secrets.randbelow(_RANDOM_TURNS)
        self._store_answered()
        return turn

    def _store_failed(self, exc: StateStoreError) -> None:
        """Log the start of a store outage, once: every call fails the same way until it ends."""
        with self._store_lock:
            if self._store_down:
                return
            self._store_down = True
        log.warning(
            "state store failing; routing goes on without it (round-robin picks at random, "
            "AI stream ends unclaimed and without outcome) until it answers again: [%s] %s",
            exc.code, exc.message,
        )  # fmt: skip

    def _store_answered(self) -> None:
        """Log the end of a store outage, once."""
        if not self._store_down:  # the usual case, without taking the lock
            return
        with self._store_lock:
            if not self._store_down:
                return
            self._store_down = False
        log.warning("state store answers again; round-robin picks take turns again")

    # --- callbacks ------------------------------------------------------------------------

    def _callback(self, call: _Call, step: Step) -> str:
        """The action URL that brings the call back at ``step``, bound to this call's sid."""
        state = CallbackState(call.request.call_sid or "", step, call.metadata)
        token = self._signer.sign(encode(state), ttl=self.state_ttl, now=call.timestamp)
        return self._callback_prefix + token

    @staticmethod
    def _token(request: CallRequest) -> str | None:
        """The signed state in a callback's URL, as sent."""
        values = parse_qs(urlsplit(request.url).query).get(STATE_PARAMETER) if request.url else None
        return values[-1] if values else None

    def _state(self, call: _Call) -> CallbackState | None:
        """The signed state of a callback URL; None for a call's first request."""
        request = call.request
        token = self._token(request)
        if token is None:
            if self._lost_state(request):
                raise _StopError(self.messages.cannot_continue)
            return None
        try:
            state = decode(self._signer.verify(token, now=call.timestamp))
        except (SignatureError, CallbackStateError):
            # A signed state of a shape this router never writes was tampered with too.
            raise _StopError(self.messages.cannot_continue) from None
        if state.call_sid != (request.call_sid or ""):
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
        if not request.url or not _TOKEN_HEAD.search(request.url):
            return False  # most first requests: nothing that could be a token
        runs = (run.group() for run in _TOKEN_CHARS.finditer(request.url))
        candidates = (
            run[head.start() :]
            for run in itertools.islice((r for r in runs if _TOKEN_HEAD.search(r)), _RUNS_CHECKED)
            for head in itertools.islice(_TOKEN_HEAD.finditer(run), _HEADS_CHECKED)
        )
        return any(self._signed_here(token) for token in candidates)

    def _signed_here(self, token: str) -> bool:
        """Whether this router's secret signed ``token``, expired or not."""
        try:
            self._signer.verify(token, now=0)
        except SignatureError:
            return False
        return True

    def _resume(self, call: _Call, state: CallbackState) -> list[Node]:
        if state.metadata:
            call = attrs.evolve(call, metadata=state.metadata)
        status = call.request.dial_call_status
        match state.step:
            case MenuTurn(menu=menu, turn=turn):
                return self._ivr_input(self._ivr(menu), call, turn)
            case RingAttempt(group=group, attempt=attempt, start=start):
                if status in _CONNECTED:
                    return [Hangup()]
                return self._ring(self._group(group), call, attempt + 1, start, 0)
            case BalancerPick(balancer=ident, tried=tried, streamed=True):
                # A stream's end: the picked assistant's outcome, as for a lone assistant;
                # with none recorded, only an explicit failure (the stream never connected)
                # moves on to the next member, not a status the platform left out.
                if not self._claim(call):
                    return [Hangup()]
                outcome = self._outcome(call)
                if outcome is not None or (status or call.request.call_status) not in _FAILED:
                    return self._stream_ended(call, tried[-1], outcome, 0)
                return self._balance(self._balancer(ident), call, tried, 0)
            case BalancerPick(balancer=ident, tried=tried):
                if status in _CONNECTED:
                    return [Hangup()]
                return self._balance(self._balancer(ident), call, tried, 0)
            case AiStream(assistant=assistant):
                if not self._claim(call):
                    return [Hangup()]  # answered already (the action, then the Redirect)
                return self._stream_ended(call, assistant, self._outcome(call), 0)
        raise AssertionError(f"unreachable: {state.step!r}")

    def _balancer(self, ident: str) -> AiLoadBalancer:
        balancer = self.pbx.ai_load_balancers.get(ident)
        if balancer is None:
            raise _StopError(self.messages.unavailable)
        return balancer

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
