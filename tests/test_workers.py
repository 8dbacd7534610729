"""Many processes on one Redis: two uvicorn processes serve the same PBX, and every call's
consecutive requests (its callbacks, and its media stream) alternate between them. The calls
must route exactly as they do in one process: the same transcripts, so the same round-robin
turns, menu turns and AI outcomes.

Two processes on two ports, not ``uvicorn --workers 2`` on one: the kernel spreads one port's
connections as it likes, and the point is to make *every* request change process. Both are
configured with one public URL (as behind a load balancer); the simulator's HTTP transport and
media connector send each request to the other process than the one before.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from cxml import CallTrace, StreamChannel, interpret_async, websocket_connector
from flows.routing import MemoryStore, Router, load_pbx
from flows.server import media_secret, media_url
from providers import MediaBridge
from providers.media import StreamServer
from tests.server_app import CONCIERGE_DID, IN_HOURS, SECRET, engines, running, write_pbx

pytest.importorskip("uvicorn")

TOKEN = "workers-token-0123456789"
#: The public URL both processes are configured with (nothing listens there: the simulator's
#: transport sends each request to one of the two processes instead).
PUBLIC = "http://127.0.0.1:9/voice"
CALLS = 200
MENU, AGENTS = "+14155550100", "+14155550199"
#: (number, scenario) by call index modulo their count: menus, ring-group and load-balancer
#: round robins, the concierge's three outcomes (transfer to 1001, to the sales group, done).
KINDS: list[tuple[str, dict[str, Any]]] = [
    (MENU, {"gather": ["1"], "dial": {"targets": {"1001": "busy"}, "default": "no-answer"}}),
    (MENU, {"gather": ["2"], "dial": {"default": "failed"}}),
    (CONCIERGE_DID, {"stream": {"seconds": 0.1, "dtmf": "1"}, "dial": {"default": "completed"}}),
    (MENU, {"gather": ["7", "9", "8"]}),
    (CONCIERGE_DID, {"stream": {"seconds": 0.1, "dtmf": "2"}, "dial": {"default": "no-answer"}}),
    (AGENTS, {"dial": {"default": "busy"}}),
    (CONCIERGE_DID, {"stream": {"seconds": 0.1, "dtmf": "5"}}),
]


@pytest.fixture(scope="module")
def two_processes(redis_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """The ports of two uvicorn processes serving one PBX on one (emptied) Redis database."""
    import redis

    url = f"redis://127.0.0.1:{redis_port}/7"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    folder = tmp_path_factory.mktemp("workers")
    env = {"CXMLFLOW_TEST_TOKEN": TOKEN, "CXMLFLOW_TEST_REDIS": url,
           "CXMLFLOW_TEST_BASE_URL": PUBLIC,
           "CXMLFLOW_TEST_CONFIG": str(write_pbx(folder / "pbx.yaml"))}  # fmt: skip
    with (
        running(env, folder / "first.log") as (_, first),
        running(env, folder / "second.log") as (_, second),
    ):
        yield [int(first.rsplit(":", 1)[1]), int(second.rsplit(":", 1)[1])]


class _Alternating(httpx.AsyncBaseTransport):
    """Sends each request to the next of ``ports`` on 127.0.0.1 (whatever its URL's port),
    and each media stream (`media`) too."""

    def __init__(self, ports: Iterator[int], inner: httpx.AsyncHTTPTransport) -> None:
        self.ports = ports
        self.inner = inner  # shared by the calls (the client closes this one at each end)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(port=next(self.ports))
        return await self.inner.handle_async_request(request)

    async def media(self, url: str, parameters: Mapping[str, str]) -> StreamChannel:
        """The media connector: the stream goes to the next process too."""
        assert url == media_url(PUBLIC)
        return await websocket_connector(f"ws://127.0.0.1:{next(self.ports)}/media", parameters)

    async def aclose(self) -> None:
        pass


def _call(i: int) -> tuple[dict[str, str], dict[str, Any]]:
    to, scenario = KINDS[i % len(KINDS)]
    return {"CallSid": f"CA-worker-{i:03d}", "From": "+12125551234", "To": to}, scenario


def _transcript(trace: CallTrace) -> str:
    """What happened, without the signed state (its nonces differ from run to run)."""
    return re.sub(r"cxmlflow=[^\s&\"]+", "cxmlflow=STATE", trace.transcript())


async def _served(ports: list[int]) -> list[str]:
    """Every call against the two processes, each request to the other one than before."""
    transcripts = []
    async with httpx.AsyncHTTPTransport() as inner:
        for i in range(CALLS):
            turns = itertools.cycle(ports if i % 2 == 0 else ports[::-1])
            transport = _Alternating(turns, inner)
            body, scenario = _call(i)
            trace = await interpret_async(
                PUBLIC, body, scenario, token=TOKEN, transport=transport, connector=transport.media
            )
            assert not trace.errors, trace.transcript()
            transcripts.append(_transcript(trace))
    return transcripts


async def _one_process(config: Path) -> list[str]:
    """The same calls through one router in this process (in-memory store, in-process
    media server): what the two processes must match."""
    bridge = MediaBridge(media_url(PUBLIC), media_secret(SECRET))
    router = Router(load_pbx(config), base_url=PUBLIC, secret=SECRET, store=MemoryStore(),
                    clock=lambda: IN_HOURS, bridge=bridge)  # fmt: skip
    streams = StreamServer(bridge=bridge, assistants=router.pbx.ai_assistants, engines=engines,
                           on_outcome=router.record_outcome, pace=False,
                           now=IN_HOURS.timestamp)  # fmt: skip
    transcripts = []
    for i in range(CALLS):
        body, scenario = _call(i)
        trace = await interpret_async(router.handle, body, scenario, url=PUBLIC,
                                      connector=streams.connector())  # fmt: skip
        assert not trace.errors, trace.transcript()
        transcripts.append(_transcript(trace))
    return transcripts


def test_calls_alternating_between_two_processes_route_as_in_one(
    two_processes: list[int], tmp_path: Path
) -> None:
    served = asyncio.run(_served(two_processes))
    expected = asyncio.run(_one_process(write_pbx(tmp_path / "pbx.yaml")))
    assert len(served) == CALLS
    for i, (got, want) in enumerate(zip(served, expected, strict=True)):
        assert got == want, f"call {i}:\n{got}\n--- one process:\n{want}"
    # The transcripts exercise what is shared: round-robin turns of the ring group and the
    # load balancer, and the AI outcomes recorded by one process and read by the other.
    joined = "\n".join(served)
    assert joined.count("dial number 1001 (timeout 20s)") > 10
    assert joined.count("dial number 1002 (timeout 20s)") > 10
    assert joined.count("dial service +14155551234") > 10
    assert joined.count("dial service +14155552222") > 10
    assert joined.count("dial number 1001 (timeout 30s): completed") == len(range(2, CALLS, 7))
    streams = sum(1 for i in range(CALLS) if i % 7 in (2, 4, 6))
    assert joined.count("stream ws://127.0.0.1:9/media: sent 5 frames + dtmf") == streams
