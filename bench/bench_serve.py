"""The voice webhook under uvicorn: requests per second of one worker, cxmlflow's app against a
bare Starlette endpoint that returns the same document, same server settings, in one run.

Usage: ``python bench/bench_serve.py [--quick] [--seconds S] [--connections C] [--check]``

Two uvicorn processes, one worker each, started alike (a loopback socket, uvicorn's logging
configuration with cxmlflow's request lines, no access log, lifespan on), both pinned to core
0 when there are two cores or more:

- ``cxmlflow``: `flows.server.create_app` on the example PBX (bearer token, clock fixed on a
  Monday morning), whose ``/voice`` reads the form, checks the token, routes the call through
  the menu in a worker thread, signs the menu's callback, renders and logs a line;
- ``bare``: a Starlette route at ``/voice`` that reads the body and returns a fixed document,
  the one cxmlflow answered (same bytes but for the signed state).

The load is a separate process (pinned to core 1): ``C`` keep-alive connections sending the
same form-encoded POST one after the other for ``S`` seconds, with a minimal HTTP/1.1 client
(asyncio streams; httpx would cost more than the servers). Rounds alternate between the two
servers; the best round of each is compared (the median beside it shows how much the machine
moved). Target: cxmlflow at least 0.7x the bare endpoint. ``--check`` exits 1 if it is not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

TARGET = 0.7
TOKEN = "bench-token-0123456789"
SECRET = "bench_serve secret 0123456789"
MONDAY = dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.UTC)  # 10:00 in New York: the menu
FORM = b"CallSid=CA-bench&From=%2B12125551234&To=%2B14155550100&Direction=inbound"
_LENGTH = re.compile(rb"\r\ncontent-length: *([0-9]+)", re.IGNORECASE)


def _request(port: int) -> bytes:
    return (
        b"POST /voice HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
        b"Authorization: Bearer %s\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s"
    ) % (port, TOKEN.encode(), len(FORM), FORM)


def _pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(0, {core})


# --- the servers ----------------------------------------------------------------------------


def _router(port: int) -> object:
    from flows.routing import EXAMPLE_PBX, Router, load_pbx

    return Router(load_pbx(EXAMPLE_PBX), base_url=f"http://127.0.0.1:{port}/voice",
                  secret=SECRET, clock=lambda: MONDAY)  # fmt: skip


def _document(port: int) -> bytes:
    """What cxmlflow answers the benchmark's request with (for the bare endpoint)."""
    from urllib.parse import parse_qsl

    from cxml import CallRequest, render

    router = _router(port)
    call = CallRequest.from_payload(dict(parse_qsl(FORM.decode())))
    return render(router.handle(call)).encode()  # type: ignore[attr-defined]


def serve(kind: str) -> None:
    """Run one server on a free loopback port; print ``port N`` once bound."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from flows.routing import Router
    from flows.server import create_app, log_config

    _pin(0)
    # IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets of that protocol only.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    if kind == "cxmlflow":
        router = _router(port)
        assert isinstance(router, Router)
        app = create_app(router, token=TOKEN)
    else:
        document = _document(port)

        async def voice(request: Request) -> Response:
            await request.body()
            return Response(document, media_type="application/xml")

        app = Starlette(routes=[Route("/voice", voice, methods=["POST"])])
    sock.listen(1024)  # connections wait in the backlog until uvicorn accepts them
    print(f"port {port}", flush=True)
    config = uvicorn.Config(app, log_config=log_config(), access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


@contextlib.contextmanager
def _server(kind: str) -> Iterator[int]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("port "):
            raise SystemExit(f"the {kind} server did not start")
        yield int(line.split()[1])
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


# --- the load -------------------------------------------------------------------------------


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> bytes:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"the server answered {head[:40]!r}")
    found = _LENGTH.search(head)
    if found is None:
        raise SystemExit("the server answered without a Content-Length")
    return await reader.readexactly(int(found.group(1)))


async def _load(port: int, seconds: float, connections: int) -> float:
    """Requests per second answered over ``connections`` keep-alive connections."""
    request = _request(port)
    count = 0

    async def client(deadline: float) -> None:
        nonlocal count
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while time.monotonic() < deadline:
            await _exchange(reader, writer, request)
            count += 1
        writer.close()

    start = time.monotonic()
    await asyncio.gather(*(client(start + seconds) for _ in range(connections)))
    return count / (time.monotonic() - start)


def load(port: int, seconds: float, connections: int) -> None:
    _pin(1)
    print(f"{asyncio.run(_load(port, seconds, connections)):.1f}", flush=True)


def _measure(port: int, seconds: float, connections: int) -> float:
    done = subprocess.run(
        [sys.executable, __file__, "--load", str(port), str(seconds), str(connections)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(done.stdout)


async def _answer(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await _exchange(reader, writer, _request(port))
    finally:
        writer.close()


def _unsigned(document: bytes) -> bytes:
    return re.sub(
        rb"cxmlflow=[^\"&<]*", b"STATE", re.sub(rb"127\.0\.0\.1:[0-9]+", b"HOST", document)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one 1-second round each")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of a round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per server")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is missed")
    parser.add_argument("--serve", choices=("cxmlflow", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--load", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    if args.load:
        load(int(args.load[0]), float(args.load[1]), int(args.load[2]))
        return 0
    seconds, rounds = (1.0, 1) if args.quick else (args.seconds, args.rounds)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{len(os.sched_getaffinity(0))} cores; {args.connections} connections, "
          f"{rounds} rounds of {seconds:g} s per server")  # fmt: skip
    with _server("cxmlflow") as ours, _server("bare") as bare:
        documents = [asyncio.run(_answer(port)) for port in (ours, bare)]
        if _unsigned(documents[0]) != _unsigned(documents[1]):
            raise SystemExit("the two servers answer different documents")
        _measure(ours, 0.5, args.connections)  # warm up both
        _measure(bare, 0.5, args.connections)
        figures: dict[str, list[float]] = {"cxmlflow": [], "bare": []}
        for _ in range(rounds):
            figures["cxmlflow"].append(_measure(ours, seconds, args.connections))
            figures["bare"].append(_measure(bare, seconds, args.connections))
    for name, samples in figures.items():
        print(f"{name:>9}: {max(samples):8.0f} requests/s best, "
              f"{statistics.median(samples):8.0f} median")  # fmt: skip
    ratio = max(figures["cxmlflow"]) / max(figures["bare"])
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(f"    ratio: {ratio:.2f}x the bare endpoint (target >= {TARGET}x: {verdict})")
    return 1 if args.check and ratio < TARGET else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(main())
