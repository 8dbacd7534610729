"""AI stream outcomes continue the call in CXML (issue 13, item 2).

The router writes ``<Connect action=URL>`` and ``<Redirect>URL</Redirect>`` for streamed
assistants; the media bridge records each stream's `Outcome` in the router's store; the
router answers the first request to URL from it, and hangs up on any later one. Unit tests
post callbacks to `Router.handle` as the platform would; the end-to-end tests drive whole calls
with `cxml.interpret_async` through the router to `StreamServer` on a loopback WebSocket.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from cxml import (
    CallRequest,
    CallTrace,
    Connect,
    Dial,
    Dialed,
    DialOutcome,
    Hangup,
    Number,
    Redirect,
    Response,
    Say,
    Scenario,
    StreamChannel,
    Streamed,
    StreamScript,
    interpret_async,
    websocket_connector,
)
from flows.routing import (
    MemoryStore,
    Messages,
    RedisStore,
    Router,
    StateStore,
    StateStoreError,
    load_pbx,
    outcome_recorder,
)
from flows.routing._outcomes import outcome_key
from providers import (
    AIAssistant,
    Function,
    HttpPolicy,
    MediaBridge,
    ScriptedEngine,
    ToolRunner,
)
from providers.media import (
    Agent,
    Engine,
    Outcome,
    ScriptedSpeechToText,
    StreamCall,
    StreamServer,
    ToneTextToSpeech,
    connect_websocket,
    ulaw_from_pcm,
)
from providers.media.server import OutcomeHandler

from .loopback import Webhooks, webhooks
from .media_signals import tone

BASE_URL = "https://pbx.example.com/voice"
SECRET = "ai-outcomes-secret-0123456789abcdef"
BRIDGE = MediaBridge("wss://media.example.com/bridge", "bridge-secret-0123456789abcdef")
NOON = dt.datetime(2026, 11, 23, 17, 0, tzinfo=dt.UTC)
CALLER, DID = "+12125551234", "+15550000001"
LOOPBACK = HttpPolicy(allow_http=True, allowed_networks=("127.0.0.0/8",))
E164 = re.compile(r"\+[1-9][0-9]{1,14}\Z")

PBX: dict[str, Any] = {
    "dids": {
        DID: {"destination": "ai_assistant/concierge"},
        "+15550000002": {"destination": "ai_assistant/desk"},
        "+15550000003": {"destination": "ai_assistant/sip"},
        "+15550000004": {"destination": "ai_load_balancer/agents"},
        "+15550000005": {"destination": "ai_load_balancer/plain"},
        "+15550000006": {"destination": "ai_assistant/bare"},
    },
    "extensions": {"1001": {}, "1002": {}, "1003": {"status": "inactive"}},
    "ring_groups": {"sales": {"members": ["1001", "1002"]}},
    "conferences": {"room": {}},
    "ai_assistants": {
        "concierge": {
            "provider": "builtin",
            "config": {"engine_model": "openai.gpt-4o", "tool_names": ["connect_call"]},
            "after": "ai_assistant/desk",
            "transfer_targets": ["+14155550123"],
        },
        "desk": {
            "provider": "websocket-endpoint",
            "config": {"websocket_url": "wss://agent.example.com/ws", "media": "pcm16"},
            "after": "extension/1002",
        },
        "sip": {"provider": "retell", "config": {"phone_number": "+14155551234"}},
        "bare": {"provider": "builtin", "config": {"engine_model": "openai.gpt-4o"}},
    },
    "ai_load_balancers": {
        "agents": {
            "members": ["concierge", "desk"],
            "strategy": "priority",
            "follow_through": True,
        },
        "plain": {"members": ["desk"]},
    },
}
DIAL_1001 = Response([Dial([Number("1001")], timeout=30)])
DIAL_1002 = Response([Dial([Number("1002")], timeout=30)])
HANGUP = Response([Hangup()])


def make_router(store: StateStore | None = None) -> Router:
    return Router(load_pbx(PBX), base_url=BASE_URL, secret=SECRET, bridge=BRIDGE,
                  store=store or MemoryStore(), clock=lambda: NOON)  # fmt: skip


def request(to: str = DID, sid: str = "CA1", url: str | None = None, **fields: str) -> CallRequest:
    body = {"CallSid": sid, "From": CALLER, "To": to, "Direction": "inbound", **fields}
    return CallRequest.from_payload(body, url=url)


def stream_url(doc: Response) -> str:
    """The URL of the AI stream that is all of ``doc``: the Connect's action, and the
    Redirect's target after it."""
    connect, redirect = doc.children
    assert isinstance(connect, Connect)
    assert connect.action is not None
    assert redirect == Redirect(connect.action)
    return connect.action


async def keep(recorder: OutcomeHandler, call: StreamCall, outcome: Outcome) -> None:
    await recorder(call, outcome)


def record(router: Router, outcome: Outcome, sid: str = "CA1") -> None:
    asyncio.run(router.record_outcome(StreamCall(sid), outcome))


def ended(router: Router, outcome: Outcome | None, to: str = DID, **fields: str) -> Response:
    """The answer to a stream of a call to ``to`` that ended with ``outcome``."""
    url = stream_url(router.handle(request(to)))
    if outcome is not None:
        record(router, outcome)
    return router.handle(request(to, url=url, **{"CallStatus": "in-progress", **fields}))


# --- each outcome's answer ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("destination", "answer"),
    [
        ("1001", DIAL_1001),
        (" 10-01 ", DIAL_1001),
        ("extension/1001", DIAL_1001),
        ("+14155550123", Response([Dial([Number("+14155550123")])])),
        ("tel:+1 (415) 555-0123", Response([Dial([Number("+14155550123")])])),
        ("14155550123", Response([Dial([Number("+14155550123")])])),
    ],
)
def test_a_transfer_dials_an_allowed_target(destination: str, answer: Response) -> None:
    router = make_router()
    assert ended(router, Outcome("transfer", destination=destination)) == answer
    assert not router.refused_transfers


@pytest.mark.parametrize("destination", ["ring_group/sales", "sales"])
def test_a_transfer_to_a_ring_group_rings_it(destination: str) -> None:
    (dial,) = ended(make_router(), Outcome("transfer", destination=destination)).children
    assert isinstance(dial, Dial)
    assert dial.action is not None
    assert [n.text for n in dial.children if isinstance(n, Number)] == ["1001", "1002"]


@pytest.mark.parametrize("destination", ["ai_assistant/desk", "desk"])
def test_a_transfer_to_an_assistant_streams_to_it(destination: str) -> None:
    router = make_router()
    doc = ended(router, Outcome("transfer", destination=destination))
    stream_url(doc)  # a new stream, with its own callback
    # desk's stream ends with nothing recorded: desk's `after`; concierge's outcome was taken.
    back = router.handle(request(url=stream_url(doc), CallStatus="in-progress"))
    assert back == DIAL_1002


@pytest.mark.parametrize(
    "destination",
    ["+19005550199", "+1415555012", "1003", "1099", "conference/room", "ivr_menu/main",
     "sip:premium@evil.example.com", "ai_assistant/missing", "ring_group/"],
)  # fmt: skip
def test_a_transfer_anywhere_else_is_refused_and_goes_to_after(
    destination: str, caplog: pytest.LogCaptureFixture
) -> None:
    router = make_router()
    with caplog.at_level(logging.WARNING, logger="flows.routing"):
        doc = ended(router, Outcome("transfer", destination=destination))
    stream_url(doc)  # concierge's after: the desk assistant
    assert router.refused_transfers == {"concierge": 1}
    assert "refused a transfer by AI assistant 'concierge'" in caplog.text


@pytest.mark.parametrize(
    ("outcome", "answer"),
    [
        (Outcome("finished"), HANGUP),
        (Outcome("hangup"), HANGUP),
        (Outcome("stop"), DIAL_1002),
        (Outcome("error", code="ENGINE_FAILED"), DIAL_1002),
        (None, DIAL_1002),
    ],
)
def test_the_other_outcomes(outcome: Outcome | None, answer: Response) -> None:
    """desk's `after` is extension 1002: stop, error and no outcome go there."""
    assert ended(make_router(), outcome, to="+15550000002") == answer


@pytest.mark.parametrize("status", ["completed", "failed", "canceled", "no-answer", "busy"])
def test_a_call_that_is_over_is_never_dialled_onward(status: str) -> None:
    """A caller who hung up during the goodbye of a transfer: nothing is dialled."""
    router = make_router()
    assert ended(router, Outcome("transfer", destination="1001"), CallStatus=status) == HANGUP


def test_the_default_after_is_a_hangup() -> None:
    router = make_router()
    assert router.pbx.routing("bare").after.kind == "hangup"
    assert ended(router, Outcome("stop"), to="+15550000006") == HANGUP


def test_a_balancer_without_follow_through_answers_its_streams_end_too() -> None:
    router = make_router()
    assert ended(router, Outcome("stop"), to="+15550000005") == DIAL_1002  # desk's after
    assert ended(router, Outcome("transfer", destination="sales"), to="+15550000005") != HANGUP


# --- once, however the platform comes back ------------------------------------------------------


def test_the_action_then_the_redirect_route_once() -> None:
    router = make_router()
    url = stream_url(router.handle(request()))
    record(router, Outcome("transfer", destination="1001"))
    assert router.handle(request(url=url, CallStatus="in-progress")) == DIAL_1001
    for _ in range(3):  # the Redirect after it, then retries
        assert router.handle(request(url=url, CallStatus="in-progress")) == HANGUP


def test_two_processes_sharing_a_store_route_once() -> None:
    store = MemoryStore()
    first, second = make_router(store), make_router(store)
    url = stream_url(first.handle(request()))
    recorded = Outcome("transfer", destination="1001")
    asyncio.run(keep(outcome_recorder(store), StreamCall("CA1"), recorded))
    assert second.handle(request(url=url, CallStatus="in-progress")) == DIAL_1001
    assert first.handle(request(url=url, CallStatus="in-progress")) == HANGUP


def test_routers_sharing_redis_route_once(redis_store: RedisStore) -> None:
    first, second = make_router(redis_store), make_router(redis_store)
    url = stream_url(first.handle(request()))
    recorded = Outcome("transfer", destination="1001")
    asyncio.run(keep(outcome_recorder(redis_store), StreamCall("CA1"), recorded))
    assert second.handle(request(url=url, CallStatus="in-progress")) == DIAL_1001
    assert first.handle(request(url=url, CallStatus="in-progress")) == HANGUP
    assert redis_store.get(outcome_key("CA1")) is None  # taken when read


def test_each_stream_of_a_call_is_answered_from_its_own_outcome() -> None:
    router = make_router()
    url = stream_url(router.handle(request()))
    record(router, Outcome("stop"))
    desk = router.handle(request(url=url, CallStatus="in-progress"))  # concierge's after
    # desk's stream ends before its outcome reached the store: stop is not read twice
    assert router.handle(request(url=stream_url(desk), CallStatus="in-progress")) == DIAL_1002


def test_two_streams_of_a_call_never_share_a_url() -> None:
    """Even at the same instant (the same assistant again, say): each has its own claim."""
    router = make_router()
    first, second = (stream_url(router.handle(request())) for _ in range(2))
    assert first != second
    record(router, Outcome("transfer", destination="1001"))
    assert router.handle(request(url=first, CallStatus="in-progress")) == DIAL_1001
    assert router.handle(request(url=second, CallStatus="in-progress")) != HANGUP  # desk


def test_tampered_and_other_calls_callbacks_route_nothing() -> None:
    router = make_router()
    cannot = Response([Say(Messages().cannot_continue), Hangup()])
    url = stream_url(router.handle(request()))
    record(router, Outcome("transfer", destination="1001"))
    assert router.handle(request(url=url[:-2] + "xx", CallStatus="in-progress")) == cannot
    assert router.handle(request(sid="CA2", url=url, CallStatus="in-progress")) == cannot
    # neither claimed the stream end nor took its outcome
    assert router.handle(request(url=url, CallStatus="in-progress")) == DIAL_1001


def test_an_outcome_no_bridge_wrote_goes_to_after(caplog: pytest.LogCaptureFixture) -> None:
    router = make_router()
    url = stream_url(router.handle(request("+15550000002")))
    router.store.set(outcome_key("CA1"), '{"kind":"transfer"}')
    with caplog.at_level(logging.WARNING, logger="flows.routing"):
        assert router.handle(request("+15550000002", url=url)) == DIAL_1002
    assert "BAD_OUTCOME" in caplog.text


class BrokenStore(MemoryStore):
    def incr(self, key: str, *, ttl: float | None = None) -> int:
        raise StateStoreError("redis is down")

    def get(self, key: str) -> str | None:
        raise StateStoreError("redis is down")


def test_a_failing_store_costs_the_outcome_not_the_call() -> None:
    router = make_router(BrokenStore())
    url = stream_url(router.handle(request("+15550000002")))
    assert router.handle(request("+15550000002", url=url)) == DIAL_1002


def test_the_recorder_calls_the_store_off_the_event_loop() -> None:
    threads: list[threading.Thread] = []

    class Watched(MemoryStore):
        def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
            threads.append(threading.current_thread())
            super().set(key, value, ttl=ttl)

    store = Watched()
    asyncio.run(keep(outcome_recorder(store, ttl=60), StreamCall("CA7"), Outcome("finished")))
    asyncio.run(keep(outcome_recorder(store), StreamCall(""), Outcome("finished")))  # no key
    assert store.get(outcome_key("CA7")) == '{"kind":"finished"}'
    assert len(threads) == 1
    assert threads[0] is not threading.main_thread()


# --- load balancers and SIP assistants ---------------------------------------------------------


def test_a_balancers_streamed_pick_fails_over_or_is_answered_from_its_outcome() -> None:
    router = make_router()
    url = stream_url(router.handle(request("+15550000004")))  # concierge, by priority
    # never connected: the next member, once
    desk = router.handle(request("+15550000004", url=url, DialCallStatus="failed"))
    assert router.handle(request("+15550000004", url=url)) == HANGUP
    # desk's stream transfers: answered like a lone assistant's, against desk's targets
    record(router, Outcome("transfer", destination="+14155550123"))
    refused = router.handle(request("+15550000004", url=stream_url(desk)))
    assert (refused, router.refused_transfers) == (DIAL_1002, {"desk": 1})


def test_a_balancers_stream_that_ended_with_an_outcome_is_not_failed_over() -> None:
    router = make_router()
    url = stream_url(router.handle(request("+15550000004")))
    record(router, Outcome("transfer", destination="1001"))
    assert router.handle(request("+15550000004", url=url, CallStatus="busy")) == HANGUP
    url = stream_url(router.handle(request("+15550000004", sid="CA2")))
    record(router, Outcome("transfer", destination="1001"), sid="CA2")
    assert router.handle(request("+15550000004", sid="CA2", url=url)) == DIAL_1001


def test_sip_assistants_keep_their_dial() -> None:
    (dial,) = make_router().handle(request("+15550000003")).children
    assert isinstance(dial, Dial)
    assert dial.action is None


# --- whole calls on loopback ---------------------------------------------------------------------

SPEECH = ulaw_from_pcm(tone(8000, 0.3, (300, 0.3)))
QUIET = b"\xff" * 4000  # half a second of mu-law silence
ORDER_SCHEMA = {"type": "object", "properties": {"order": {"type": "string"}},
                "required": ["order"]}  # fmt: skip


@pytest.fixture
def hooks() -> Iterator[Webhooks]:
    with webhooks() as server:
        yield server


def lookup_then_transfer(target: Mapping[str, str]) -> ScriptedEngine:
    return ScriptedEngine([
        {"text": "One moment",
         "tool_calls": [{"name": "order_status", "arguments": {"order": "A17"}, "id": "t1"}]},
        {"text": "Connecting you",
         "tool_calls": [{"name": "connect_call", "arguments": {"destinations": [target]},
                         "id": "t2"}]},
    ])  # fmt: skip


async def call_through(
    router: Router, server: StreamServer, to: str, scenario: Scenario
) -> CallTrace:
    """A call to ``to`` through ``router``; its streams reach ``server`` on loopback."""
    async with server.listen() as address:

        async def connector(url: str, parameters: Mapping[str, str]) -> StreamChannel:
            assert url == BRIDGE.url  # the public wss:// bridge listens on loopback here
            return await websocket_connector(address, parameters)

        return await interpret_async(router.handle, request(to), scenario, connector=connector)


def agent_server(router: Router, hooks: Webhooks, engine: ScriptedEngine) -> StreamServer:
    hook = Function("order_status", f"http://127.0.0.1:{hooks.server_address[1]}/order",
                    "Look up an order", ORDER_SCHEMA)  # fmt: skip

    def make(assistant: AIAssistant, call: StreamCall) -> Engine:
        tools = ToolRunner.for_assistant(assistant.config, [hook], call=call, policy=LOOPBACK)
        speech = ScriptedSpeechToText(["where is my order"])
        voice = ToneTextToSpeech(word_seconds=0.05)
        return Agent(speech, engine, voice, sample_rate=8000, runner=tools)

    async def nowhere(url: str, headers: Mapping[str, str]) -> StreamChannel:
        # The desk endpoint is not served here: a closed port on loopback.
        return await connect_websocket("ws://127.0.0.1:9/none", headers, policy=LOOPBACK,
                                       open_timeout=2)  # fmt: skip

    return StreamServer(bridge=BRIDGE, assistants=router.pbx.ai_assistants, engines=make,
                        pace=False, now=NOON.timestamp, connect=nowhere,
                        on_outcome=router.record_outcome)  # fmt: skip


CALLER_SPEAKS = Scenario(
    stream=StreamScript(audio=SPEECH + QUIET, idle_timeout=5.0),
    targets={"1001": DialOutcome(duration=30), "1002": DialOutcome(duration=30)},
)  # fmt: skip


def test_an_ai_looks_up_an_order_then_transfers_the_call_to_1001(hooks: Webhooks) -> None:
    router = make_router()
    engine = lookup_then_transfer({"type": "extension", "target": "1001"})
    server = agent_server(router, hooks, engine)
    trace = asyncio.run(asyncio.wait_for(call_through(router, server, DID, CALLER_SPEAKS), 30))

    # the tool request reached the webhook, with the call, and its answer the engine
    (request,) = hooks.received
    hook = request["body"]
    assert request["path"] == "/order"
    assert hook["arguments"] == {"order": "A17"}
    assert (hook["call"]["CallSid"], hook["call"]["From"]) == ("CA1", CALLER)
    answer = engine.seen[1][-1]
    assert (answer.role, json.loads(answer.content)["body"]["eta"]) == ("tool", "Friday")
    # the stream ended (the agent closed it), its action was posted, the call dialled 1001
    (streamed,) = trace.of(Streamed)
    assert (streamed.url, streamed.result.ended_by) == (BRIDGE.url, "app")
    assert streamed.action is not None
    assert [r.url for r in trace.requests] == [None, streamed.action]
    (dialed,) = trace.of(Dialed)
    assert ([t.target for t in dialed.targets], dialed.status) == (["1001"], "completed")
    assert trace.events.index(streamed) < trace.events.index(dialed)
    assert trace.documents[1] == DIAL_1001
    assert (trace.errors, list(server.errors), router.refused_transfers) == ((), [], {})


def test_an_ai_asking_for_an_unlisted_number_is_refused_and_the_call_goes_to_after(
    hooks: Webhooks,
) -> None:
    router = make_router()
    engine = lookup_then_transfer({"type": "number", "target": "+19005550199"})
    server = agent_server(router, hooks, engine)
    scenario = Scenario(stream=StreamScript(audio=SPEECH + QUIET, idle_timeout=5.0),
                        targets={"1002": DialOutcome()})  # fmt: skip
    # concierge's after is the desk endpoint, which nobody serves here: its stream fails
    # and desk's own after (extension 1002) takes the call.
    trace = asyncio.run(asyncio.wait_for(call_through(router, server, DID, scenario), 30))
    assert router.refused_transfers == {"concierge": 1}
    streams = trace.of(Streamed)
    assert [s.url for s in streams] == [BRIDGE.url, BRIDGE.url]
    assert trace.documents[1] is not None
    assert stream_url(trace.documents[1])
    assert [d.targets[0].target for d in trace.of(Dialed)] == ["1002"]
    assert all(d.targets[0].target != "+19005550199" for d in trace.of(Dialed))
    assert [e.code for e in server.errors] == ["ASSISTANT_UNAVAILABLE"]  # desk's stream


def test_a_websocket_endpoint_gets_the_callers_numbers_and_its_end_continues_the_call() -> None:
    """The endpoint is written from seed 002 alone: a ``start`` with callId, callerIdNumber,
    calleeIdNumber (E.164), accountId and mediaFormat, then ``media`` both ways; either side
    closes. This one answers with a short greeting and closes: the agent finished."""
    router = make_router()
    starts: list[dict[str, Any]] = []
    greeting = base64.b64encode(tone(24000, 0.2, (500, 0.3))).decode()

    async def endpoint(ws: ServerConnection) -> None:
        media, closing = 0, []
        async for raw in ws:  # read on while closing: unread frames would stall the close
            message = json.loads(raw)
            if message["event"] == "start":
                starts.append(message["start"])
            elif message["event"] == "media":
                media += 1
                if media == 5:
                    await ws.send(json.dumps({"event": "media", "media": {"payload": greeting}}))
                    closing.append(asyncio.create_task(ws.close()))  # the conversation is over
        await asyncio.gather(*closing)

    async def scenario() -> CallTrace:
        async with serve(endpoint, "127.0.0.1", 0) as agent:
            port = agent.sockets[0].getsockname()[1]

            async def local(url: str, headers: Mapping[str, str]) -> StreamChannel:
                assert url == "wss://agent.example.com/ws"
                return await connect_websocket(f"ws://127.0.0.1:{port}", headers, policy=LOOPBACK)

            server = StreamServer(bridge=BRIDGE, assistants=router.pbx.ai_assistants, pace=False,
                                  now=NOON.timestamp, connect=local,
                                  on_outcome=router.record_outcome)  # fmt: skip
            caller = Scenario(stream=StreamScript(seconds=1.0, idle_timeout=5.0))
            return await call_through(router, server, "+15550000002", caller)

    trace = asyncio.run(asyncio.wait_for(scenario(), 30))
    (start,) = starts
    assert (start["callId"], start["callerIdNumber"], start["calleeIdNumber"]) == (
        "CA1",
        CALLER,
        "+15550000002",
    )
    assert E164.match(start["callerIdNumber"])
    assert E164.match(start["calleeIdNumber"])
    assert start["mediaFormat"] == {"encoding": "pcm16", "sampleRate": 24000}
    (streamed,) = trace.of(Streamed)
    assert streamed.result.ended_by == "app"
    assert streamed.result.received_frames > 0
    assert [r.url for r in trace.requests] == [None, streamed.action]
    assert trace.documents[1] == HANGUP  # finished: the endpoint ended the conversation
    assert trace.ended.reason == "hangup"
