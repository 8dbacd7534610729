"""The stream channels and the HTTP body reader that cxml and providers share: in-memory
pairs, scripted peers, WebSockets on both sides, and the size cap."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.asyncio.client import connect

from cxml import (
    CxmlError,
    MemoryChannel,
    PeerChannel,
    StreamChannel,
    WebSocketChannel,
    echo_peer,
    open_websocket,
    read_capped_body,
)
from providers.media import EchoEngine, InProcessConnector, PlatformPeer, StreamServer


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 10))


# --- in memory -------------------------------------------------------------------------------


@given(st.lists(st.text(max_size=20), max_size=10))
def test_a_memory_pair_delivers_in_order_until_either_end_closes(texts: list[str]) -> None:
    async def scenario() -> None:
        one, other = MemoryChannel.pair()
        for text in texts:
            await one.send(text)
        await one.close()
        await one.send("after the close")  # goes nowhere
        assert [await other.receive() for _ in texts] == texts
        assert await other.receive() is None
        assert await other.receive() is None  # and from then on
        assert (other.closed, one.closed) == (True, True)
        await other.send("to a closed peer")
        assert await one.receive() is None

    run(scenario)


def test_closing_an_end_wakes_its_own_pending_receive() -> None:
    async def scenario() -> None:
        one, _other = MemoryChannel.pair()
        waiting = asyncio.create_task(one.receive())
        await asyncio.sleep(0)
        await one.close()
        assert await waiting is None

    run(scenario)


def test_a_peer_channel_answers_each_frame_with_its_reply() -> None:
    async def scenario() -> None:
        channel = PeerChannel(echo_peer)
        assert isinstance(channel, StreamChannel)
        await channel.send(json.dumps({"event": "media", "streamSid": "MZ1",
                                       "media": {"payload": "/w=="}}))  # fmt: skip
        echoed = json.loads(await channel.receive() or "")
        assert (echoed["event"], echoed["media"]["payload"]) == ("media", "/w==")
        await channel.send(json.dumps({"event": "dtmf", "streamSid": "MZ1",
                                       "dtmf": {"digit": "1"}}))  # fmt: skip
        assert json.loads(await channel.receive() or "")["mark"] == {"name": "said-bye"}
        assert not channel.closed
        await channel.send(json.dumps({"event": "mark", "mark": {"name": "said-bye"}}))
        assert await channel.receive() is None  # the echo peer closes on the mark
        assert channel.closed
        assert [f["event"] for f in channel.sent] == ["media", "dtmf", "mark"]

    run(scenario)


def test_the_in_process_connector_hands_out_memory_channels() -> None:
    async def scenario() -> None:
        connector = StreamServer.for_engine(EchoEngine())
        assert isinstance(connector, InProcessConnector)
        stream = await connector("wss://bridge.example.com/media", {})
        assert isinstance(stream, MemoryChannel)
        peer = PlatformPeer("MZ1", "CA1")
        for message in (peer.connected(), peer.start(), peer.media(b"\xff" * 160)):
            await stream.send(message)
        assert json.loads(await stream.receive() or "")["event"] == "media"
        await stream.close()  # waits for the session: it has ended by now
        assert connector.server._sessions == set()

    run(scenario)


# --- WebSockets ------------------------------------------------------------------------------


def test_a_binary_frame_to_the_stream_server_is_a_recorded_31950() -> None:
    server = StreamServer(engine=EchoEngine(), pace=False)

    async def scenario() -> None:
        async with server.listen() as address, connect(address) as socket:
            await socket.send(PlatformPeer("MZ1", "CA1").start())
            await socket.send(b"\x00\x01")
            assert [m async for m in socket] == []  # the server closed the stream

    run(scenario)
    assert [e.code for e in server.errors] == [31950]


def test_one_websocket_channel_serves_both_ends() -> None:
    # StreamServer.listen wraps the server side; open_websocket gives the client side.
    server = StreamServer(engine=EchoEngine(), pace=False)

    async def scenario() -> None:
        async with server.listen() as address:
            channel = await open_websocket(address, headers={"X-Test": "1"})
            assert isinstance(channel, WebSocketChannel)
            peer = PlatformPeer("MZ1", "CA1")
            for message in (peer.connected(), peer.start(), peer.media(b"\xff" * 160)):
                await channel.send(message)
            assert json.loads(await channel.receive() or "")["event"] == "media"
            await channel.close()
            assert await channel.receive() is None  # a clean close ends the stream quietly
            await channel.send(peer.stop())  # and a late frame goes nowhere

    run(scenario)
    assert list(server.errors) == []


def test_open_websocket_refuses_other_schemes_and_dead_ends() -> None:
    async def scenario() -> None:
        for url in ("https://agent.example.com/ws", "ws://127.0.0.1:9/none"):
            with pytest.raises(CxmlError) as caught:
                await open_websocket(url, open_timeout=2)
            assert caught.value.code == 31920

    run(scenario)


# --- HTTP bodies -----------------------------------------------------------------------------


async def _read(
    chunks: list[bytes], max_bytes: int, headers: dict[str, str] | None = None
) -> bytes:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, content=body())

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        response = await client.send(client.build_request("GET", "http://a.example/"), stream=True)
        try:
            return await read_capped_body(response, max_bytes)
        finally:
            await response.aclose()


@given(st.lists(st.binary(max_size=50), max_size=8), st.integers(min_value=0, max_value=300))
def test_a_body_is_read_whole_up_to_the_cap_and_refused_over_it(
    chunks: list[bytes], max_bytes: int
) -> None:
    whole = b"".join(chunks)
    if len(whole) <= max_bytes:
        assert asyncio.run(_read(chunks, max_bytes)) == whole
    else:
        with pytest.raises(CxmlError) as caught:
            asyncio.run(_read(chunks, max_bytes))
        assert caught.value.code == 11750


def test_a_declared_length_over_the_cap_and_a_compressed_body_are_refused_unread() -> None:
    with pytest.raises(CxmlError, match="1000 bytes, over 10") as caught:
        asyncio.run(_read([b"x"], 10, {"Content-Length": "1000"}))
    assert caught.value.code == 11750
    with pytest.raises(CxmlError, match="gzip") as caught:
        asyncio.run(_read([b"x"], 10, {"Content-Encoding": "gzip"}))
    assert caught.value.code == 11200
