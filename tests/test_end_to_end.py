"""A whole call through every layer: the router answers, the simulator plays the platform, the
media bridge (`providers.media.StreamServer`) admits the router's ticket and runs the AI
assistant's engine — in process, and over a real WebSocket on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any

from cxml import CallTrace, Dialed, StreamChannel, Streamed, interpret_async, websocket_connector
from flows.routing import MemoryStore, Router, load_pbx
from providers import AIAssistant, MediaBridge
from providers.media import EchoEngine, Engine, StreamCall, StreamServer

MONDAY_NOON = dt.datetime(2026, 11, 23, 17, 0, tzinfo=dt.UTC)
BRIDGE = MediaBridge("wss://media.example.com/bridge", "bridge-secret-0123456789abcdef")
PBX: dict[str, Any] = {
    "timezone": "America/New_York",
    "dids": {"+15550000001": {"destination": "ring_group/sales"}},
    "extensions": {"1001": {"type": "user"}},
    "ring_groups": {
        "sales": {
            "strategy": "sequential",
            "timeout": 15,
            "ring_turns": 1,
            "members": ["1001"],
            "fallback": "ai_assistant/helper",
        },
    },
    "ai_assistants": {
        "helper": {"provider": "builtin", "config": {"engine_model": "openai.gpt-4o"}},
    },
}
CALL = {"CallSid": "CA-e2e", "From": "+12125551234", "To": "+15550000001", "Direction": "inbound"}
SCENARIO = {"dial": {"default": "no-answer"}, "stream": {"seconds": 0.4, "idle_timeout": 0.2}}


def setup() -> tuple[Router, StreamServer, list[tuple[str, str]]]:
    pbx = load_pbx(PBX)
    router = Router(pbx, base_url="https://pbx.example.com/voice", secret="s" * 32,
                    store=MemoryStore(), clock=lambda: MONDAY_NOON, bridge=BRIDGE)  # fmt: skip
    served: list[tuple[str, str]] = []

    def engines(assistant: AIAssistant, call: StreamCall) -> Engine:
        served.append((assistant.name, call.call_sid))
        return EchoEngine()

    server = StreamServer(
        bridge=BRIDGE, assistants=list(pbx.ai_assistants.values()), engines=engines,
        pace=False, now=MONDAY_NOON.timestamp,  # tickets are dated by the router's clock
    )  # fmt: skip
    return router, server, served


def check(trace: CallTrace, served: list[tuple[str, str]]) -> None:
    assert trace.errors == ()
    assert [d.status for d in trace.of(Dialed)] == ["no-answer"]
    (streamed,) = trace.of(Streamed)
    assert streamed.url == BRIDGE.url
    assert served == [("helper", "CA-e2e")]  # the ticket named the assistant and the call
    result = streamed.result
    assert result.sent_frames == 20
    assert result.received_bytes == 20 * 160  # every frame echoed back by the engine


def test_a_call_reaches_the_ai_engine_through_the_in_process_bridge() -> None:
    router, server, served = setup()
    trace = asyncio.run(
        interpret_async(router.handle, CALL, SCENARIO, connector=server.connector())
    )
    check(trace, served)


def test_a_call_reaches_the_ai_engine_over_a_real_websocket() -> None:
    router, server, served = setup()

    async def main() -> CallTrace:
        async with server.listen("127.0.0.1", 0) as address:

            async def connector(url: str, parameters: Mapping[str, str]) -> StreamChannel:
                # The document names the public wss:// bridge; here it listens on loopback.
                assert url == BRIDGE.url
                return await websocket_connector(address, parameters)

            return await interpret_async(router.handle, CALL, SCENARIO, connector=connector)

    check(asyncio.run(main()), served)


def test_a_forged_ticket_never_reaches_an_engine() -> None:
    _, server, served = setup()
    other = MediaBridge(BRIDGE.url, "another-secret-0123456789abcdef")
    forged = Router(load_pbx(PBX), base_url="https://pbx.example.com/voice", secret="s" * 32,
                    store=MemoryStore(), clock=lambda: MONDAY_NOON, bridge=other)  # fmt: skip
    trace = asyncio.run(
        interpret_async(forged.handle, CALL, SCENARIO, connector=server.connector())
    )
    (streamed,) = trace.of(Streamed)
    assert served == []
    assert streamed.result.received_bytes == 0
    assert [e.code for e in server.errors] == ["BAD_SIGNATURE"]
