"""Whole calls through the router with cxml.interpret, as the platform would make them.

The router runs in process (``Router.handle``) and, once, behind a real HTTP server on
127.0.0.1; AI assistants served by the media bridge are reached over a real WebSocket on
127.0.0.1, where a small server plays the bridge and checks the router's ticket.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from cxml import (
    CallRequest,
    CallTrace,
    Dialed,
    Gathered,
    Scenario,
    StreamChannel,
    Streamed,
    interpret,
    interpret_async,
    render,
    websocket_connector,
)
from flows.routing import EXAMPLE_PBX, MemoryStore, Messages, Router, load_pbx
from providers import MediaBridge, Ticket

from .loopback import serving

SECRET = "interpret-test-secret-0123456789"
BRIDGE = MediaBridge("wss://media.example.com/bridge", "bridge-secret-0123456789abcdef")
#: Monday 2026-11-23, 12:00 in New York; and 23:00 the same day (closed).
MONDAY_NOON = dt.datetime(2026, 11, 23, 17, 0, tzinfo=dt.UTC)
MONDAY_NIGHT = dt.datetime(2026, 11, 24, 4, 0, tzinfo=dt.UTC)
CALLER = "+12125551234"
MESSAGES = Messages()

PBX: dict[str, Any] = {
    "timezone": "America/New_York",
    "dids": {
        "+15550000001": {"destination": "ivr_menu/main"},
        "+15550000002": {"destination": "business_hours/office"},
    },
    "extensions": {"1001": {"type": "user"}, "1002": {"type": "user"}},
    "ring_groups": {
        "sales": {
            "strategy": "sequential",
            "timeout": 15,
            "ring_turns": 1,
            "members": ["1001", "1002"],
            "fallback": "ai_assistant/agent",
        },
    },
    "ivr_menus": {
        "main": {
            "prompt": {"say": "For sales press 1"},
            "timeout": 5,
            "max_turns": 3,
            "options": {"1": "ring_group/sales"},
            "failover": "hangup",
        },
    },
    "business_hours": {
        "office": {
            "schedule": {"monday": [["09:00", "17:00"]]},
            "open": "ring_group/sales",
            "closed": "ai_assistant/agent",
        },
    },
    "ai_assistants": {
        "agent": {
            "provider": "websocket-endpoint",
            "config": {"websocket_url": "wss://agent.example.com/ws", "media": "pcm16"},
        },
    },
}


def router(
    config: Mapping[str, Any] | Any = PBX,
    *,
    at: dt.datetime = MONDAY_NOON,
    base_url: str = "https://pbx.example.com/voice",
) -> Router:
    return Router(
        load_pbx(config), base_url=base_url, secret=SECRET, store=MemoryStore(),
        clock=lambda: at, bridge=BRIDGE,
    )  # fmt: skip


def call(to: str, sid: str = "CA1") -> dict[str, str]:
    return {"CallSid": sid, "From": CALLER, "To": to, "Direction": "inbound"}


class Bridge:
    """The app side of the media bridge, on a real WebSocket: admits the router's ticket,
    echoes the caller's audio, answers a key with a mark and hangs up once it is played."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at
        self.admitted: list[Ticket] = []
        self.frames: list[dict[str, Any]] = []

    async def __call__(self, ws: ServerConnection) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            self.frames.append(frame)
            event, sid = frame["event"], frame.get("streamSid")
            if event == "start":
                ticket = frame["start"]["customParameters"]["cxmlflow-ticket"]
                self.admitted.append(BRIDGE.admit(ticket, now=self.at.timestamp()))
            elif event == "media":
                echo = {"event": "media", "streamSid": sid, "media": frame["media"]}
                await ws.send(json.dumps(echo))
            elif event == "dtmf":
                mark = {"event": "mark", "streamSid": sid, "mark": {"name": "goodbye"}}
                await ws.send(json.dumps(mark))
            elif event == "mark":
                return  # played: the bridge ends the conversation


async def with_bridge(
    bridge: Bridge, app: Router, to: str, scenario: Mapping[str, Any]
) -> CallTrace:
    async with serve(bridge, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]

        async def connector(url: str, parameters: Mapping[str, str]) -> StreamChannel:
            # The document names the public wss:// bridge; in the test it listens on loopback.
            assert url == BRIDGE.url
            return await websocket_connector(f"ws://127.0.0.1:{port}/", parameters)

        return await interpret_async(app.handle, call(to), scenario, connector=connector)


def test_wrong_digit_no_input_a_ring_group_nobody_answers_then_the_ai_over_websocket() -> None:
    bridge = Bridge(MONDAY_NOON)
    scenario = {"gather": ["7", None, "1"], "stream": {"seconds": 0.2, "dtmf": "5"}}
    trace = asyncio.run(with_bridge(bridge, router(), "+15550000001", scenario))
    menu = load_pbx(PBX).ivr_menus["main"]
    assert menu.invalid_prompt is not None
    assert menu.no_input_prompt is not None

    assert trace.errors == ()
    gathers = trace.of(Gathered)
    assert [(g.digits, g.requested) for g in gathers] == [("7", True), (None, True), ("1", True)]
    assert trace.said == (
        "For sales press 1",
        menu.invalid_prompt.say,
        "For sales press 1",
        menu.no_input_prompt.say,
        "For sales press 1",
    )
    dials = trace.of(Dialed)
    assert [[t.target for t in d.targets] for d in dials] == [["1001"], ["1002"]]
    assert [d.status for d in dials] == ["no-answer", "no-answer"]
    assert all(d.action is not None for d in dials)
    (streamed,) = trace.of(Streamed)
    assert streamed.url == BRIDGE.url
    assert [(t.assistant, t.call_sid) for t in bridge.admitted] == [("agent", "CA1")]
    result = streamed.result
    assert (result.sent_frames, result.received_frames, result.marks) == (10, 10, ("goodbye",))
    assert result.ended_by == "app"
    assert [f["event"] for f in bridge.frames] == [
        "connected",
        "start",
        *["media"] * 10,
        "dtmf",
        "mark",
    ]
    assert bridge.frames[1]["start"]["callSid"] == "CA1"
    # This bridge records no outcome: the stream's action goes to the assistant's `after`.
    assert streamed.action is not None
    assert trace.ended.reason == "hangup"
    # first request, three menu answers, two dial results, the stream's action
    assert len(trace.requests) == 7
    assert trace.requests[0].url is None
    assert trace.requests[-2].parameters["DialCallStatus"] == "no-answer"
    assert trace.requests[-1].url == streamed.action


def test_after_hours_the_call_goes_to_the_after_hours_assistant() -> None:
    bridge = Bridge(MONDAY_NIGHT)
    scenario = {"stream": {"seconds": 0.04, "dtmf": "9"}}
    trace = asyncio.run(with_bridge(bridge, router(at=MONDAY_NIGHT), "+15550000002", scenario))
    assert trace.of(Dialed) == ()  # the office ring group is never tried
    assert [s.url for s in trace.of(Streamed)] == [BRIDGE.url]
    assert [(t.assistant, t.call_sid) for t in bridge.admitted] == [("agent", "CA1")]
    assert trace.errors == ()
    # in hours, the same number rings the group
    open_trace = interpret(router().handle, call("+15550000002"))
    assert [d.targets[0].target for d in open_trace.of(Dialed)][:1] == ["1001"]


def test_the_example_pbx_after_hours_streams_to_deepdub() -> None:
    streams: list[tuple[str, dict[str, str]]] = []

    async def closed_at_once(url: str, parameters: Mapping[str, str]) -> StreamChannel:
        streams.append((url, dict(parameters)))
        return await websocket_connector("ws://127.0.0.1:9/", parameters)  # nobody listens

    trace = interpret(
        router(EXAMPLE_PBX, at=MONDAY_NIGHT).handle, call("+14155550100"), connector=closed_at_once
    )
    assert streams[0][0].startswith("wss://bot.deepdub.dev/ws/example-bot/example-token?")
    assert [e.code for e in trace.errors] == [31920]  # recorded, not raised
    assert trace.ended.reason == "hangup"  # the stream's action: the assistant's `after`


def test_a_load_balancer_follows_through_to_the_next_agent_when_one_is_busy() -> None:
    scenario = Scenario.from_mapping(
        {
            "dial": {
                "targets": {
                    "+14155551234": "busy",
                    "+14155552222": {"status": "completed", "duration": 120},
                }
            }
        }
    )
    trace = interpret(router(EXAMPLE_PBX).handle, call("+14155550199"), scenario)
    dials = trace.of(Dialed)
    assert [(d.targets[0].target, d.targets[0].provider, d.status) for d in dials] == [
        ("+14155551234", "retell", "busy"),
        ("+14155552222", "vapi", "completed"),
    ]
    assert trace.requests[2].parameters["DialCallStatus"] == "completed"
    assert trace.requests[2].parameters["DialCallDuration"] == "120"
    assert trace.ended.reason == "hangup"
    assert trace.errors == ()


def test_a_load_balancer_whose_agents_are_all_busy_says_so_and_hangs_up() -> None:
    trace = interpret(
        router(EXAMPLE_PBX).handle, call("+14155550199"), {"dial": {"service": "busy"}}
    )
    assert [d.status for d in trace.of(Dialed)] == ["busy", "busy"]
    assert trace.said == (MESSAGES.no_answer,)
    assert trace.ended.reason == "hangup"


def test_a_tampered_callback_gets_the_error_document_not_a_crash() -> None:
    inner = router()

    def tampering(request: CallRequest) -> Any:
        # A platform (or anyone) that alters the signed state in the callback URL.
        if request.url is not None:
            url = request.url[:-3] + ("AAA" if not request.url.endswith("AAA") else "BBB")
            request = CallRequest.from_payload(request.to_payload(), url=url)
        return inner.handle(request)

    trace = interpret(tampering, call("+15550000001"), {"gather": ["1"]})
    assert trace.said == ("For sales press 1", MESSAGES.cannot_continue)
    assert trace.ended.reason == "hangup"
    assert trace.errors == ()


# --- the same router over HTTP --------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    app: Router
    origin: str
    tokens: list[str | None]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).tokens.append(self.headers.get("Authorization"))
        request = CallRequest.from_payload(body, url=self.origin + self.path)
        data = render(self.app.handle(request)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet


def test_the_router_over_http_on_loopback_gives_the_same_trace_as_in_process() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    url = f"{origin}/voice"

    class Handler(_Handler):
        app = router(EXAMPLE_PBX, base_url=url)
        tokens: list[str | None] = []  # noqa: RUF012 (one server, one list)

    Handler.origin = origin
    server.RequestHandlerClass = Handler
    scenario = {"gather": ["7", None, "1"], "dial": {"targets": {"1002": "busy"}}}
    with serving(server):
        remote = interpret(url, call("+14155550100"), scenario, token="domain-key")
    local_router = router(EXAMPLE_PBX, base_url=url)
    local = interpret(local_router.handle, call("+14155550100"), scenario, url=url)

    assert remote.errors == ()
    assert remote.events == local.events
    assert remote.requests == local.requests
    assert remote.documents == local.documents  # parsed from the wire == built in process
    assert Handler.tokens == ["Bearer domain-key"] * len(remote.requests)
    # the menu, its two retries, four ring-group attempts, then the receptionist
    assert len(remote.requests) == 8
    assert [d.targets[0].target for d in remote.of(Dialed)] == [
        "1001",
        "1002",
        "1001",
        "1002",
        "+14155551234",
    ]
