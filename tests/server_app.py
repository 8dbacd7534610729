"""A PBX served by `flows.server.create_app` under a real uvicorn, for tests/test_server.py.

``python -m tests.server_app`` binds a free loopback port, prints ``port N`` on a line of its
own, and serves the example PBX there (its clock fixed on a Monday morning, in hours) until
SIGTERM; ``/media`` echoes the audio of streams. The bearer token comes from
``CXMLFLOW_TEST_TOKEN``; without it ``/voice`` is open.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys

from flows.routing import EXAMPLE_PBX, Router, load_pbx
from flows.server import create_app
from providers.media import EchoEngine, StreamServer

#: A Monday at 10:00 in New York: the example PBX's business hours send calls to its menu.
IN_HOURS = dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.UTC)


def main() -> None:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    router = Router(
        load_pbx(EXAMPLE_PBX),
        base_url=f"http://127.0.0.1:{port}/voice",
        secret="tests.server_app secret",
        clock=lambda: IN_HOURS,
    )
    token = os.environ.get("CXMLFLOW_TEST_TOKEN")
    # Unticketed streams get an echo: a test listener, not a public one (there, pass the
    # router's MediaBridge and every stream must carry its ticket).
    streams = StreamServer(engine=EchoEngine(), pace=False, on_outcome=router.record_outcome)
    app = create_app(router, token=token, streams=streams, open_routes=() if token else ("voice",))
    print(f"port {port}", flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
    sys.exit(0)


if __name__ == "__main__":
    main()
