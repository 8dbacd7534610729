"""A PBX served by `flows.server.create_app` under a real uvicorn, for the serving tests.

``python -m tests.server_app`` binds a free loopback port (or ``CXMLFLOW_TEST_PORT``), prints
``port N`` on a line of its own, and serves a PBX there until SIGTERM, its clock fixed on a
Monday morning (in hours). The environment says what:

- ``CXMLFLOW_TEST_CONFIG``: the PBX file (write one with `write_pbx`: the example PBX and a
  built-in AI concierge on ``CONCIERGE_DID``);
- ``CXMLFLOW_TEST_TOKEN``: the webhooks' bearer token (without it they are open);
- ``CXMLFLOW_TEST_EVENTS``: a file the ``/session`` and ``/cdr`` callbacks append to (a JSON
  line per event); ``CXMLFLOW_TEST_METRICS``: ``1`` serves ``/metrics``;
- ``CXMLFLOW_TEST_ADMIN_TOKEN``: ``/admin/reload``'s; ``CXMLFLOW_TEST_REDIS``: a Redis URL
  for the state store (default: in memory); ``CXMLFLOW_TEST_BASE_URL``: the public URL of
  ``/voice`` (default: this server's own), so that several servers can share one.

The concierge's engine is `Concierge` (built-in engines need a vendor's key): the router's
bridge, tickets and outcomes are the product's own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from cxml import CallRecord, SessionUpdate
from flows.routing import EXAMPLE_PBX, RedisStore
from flows.server import create_app, log_config
from providers import AIAssistant
from providers.media import BaseEngine, Outcome, Output, StreamCall
from tests.loopback import stop_process

#: A Monday at 10:00 in New York: the example PBX's business hours send calls to its menu.
IN_HOURS = dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.UTC)
#: The router's signing secret (media tickets are signed with a key derived from it).
SECRET = "tests.server_app secret"
#: The number that reaches the concierge (an AI assistant served on the app's own /media).
CONCIERGE_DID = "+14155550111"
#: 60 ms of a quiet square wave at 8 kHz (PCM16): what the concierge says first (short: the
#: media server plays it in real time, and the workers test makes a hundred such calls).
GREETING = b"".join((800 if (i // 20) % 2 else -800).to_bytes(2, "little", signed=True)
                    for i in range(480))  # fmt: skip


def pbx_config() -> dict[str, Any]:
    """The example PBX plus the concierge: a ``builtin`` assistant on `CONCIERGE_DID`."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE_PBX.read_text(encoding="utf-8"))
    data["dids"][CONCIERGE_DID] = {"destination": "ai_assistant/concierge"}
    data["ai_assistants"]["concierge"] = {
        "provider": "builtin",
        "config": {"engine_model": "openai.gpt-4o"},
    }
    return data


def write_pbx(path: Path) -> Path:
    path.write_text(yaml.safe_dump(pbx_config()), encoding="utf-8")
    return path


class Concierge(BaseEngine):
    """Greets, then ends the stream on the caller's first key: ``1`` transfers to extension
    1001, ``2`` to the sales ring group, any other finishes the call."""

    sample_rate = 8000

    async def start(self, call: StreamCall, output: Output) -> None:
        await super().start(call, output)
        await output.play(GREETING)

    async def dtmf(self, digit: str) -> None:
        await super().dtmf(digit)
        target = {"1": "1001", "2": "sales"}.get(digit)
        outcome = Outcome("transfer", destination=target) if target else Outcome("finished")
        await self._out().end(outcome)


@contextlib.contextmanager
def running(env: Mapping[str, str], log: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """This module in a subprocess (``env`` added to this process's environment, its log
    written to ``log``): yields the process and its ``http://127.0.0.1:PORT`` once
    ``/healthz`` answers, and stops it when the block ends."""
    root = Path(__file__).resolve().parent.parent
    with log.open("w", encoding="utf-8") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.server_app"],
            cwd=root, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=sink, text=True,
        )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("port "), line + log.read_text(encoding="utf-8")
        url = f"http://127.0.0.1:{int(line.split()[1])}"
        for _ in range(200):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "the server exited"
            time.sleep(0.05)
        else:
            raise AssertionError("the server never answered /healthz")
        yield process, url
    finally:
        stop_process(process)
        if process.stdout is not None:
            process.stdout.close()


def _recorder(path: str | None, kind: str) -> Callable[[Any], Awaitable[None]] | None:
    """A webhook callback that appends what it was given to ``path`` (a JSON line each)."""
    if not path:
        return None

    async def record(event: SessionUpdate | CallRecord) -> None:
        fields = {"kind": kind, "token": event.token, "domain": event.domain}
        if isinstance(event, SessionUpdate):
            fields["status"] = event.status
        else:
            fields["disposition"] = event.disposition
        with open(path, "a", encoding="utf-8") as sink:
            sink.write(json.dumps(fields) + "\n")

    return record


def engines(assistant: AIAssistant, call: StreamCall) -> Concierge:
    """The server's engine factory: a `Concierge` for every assistant."""
    return Concierge()


def main() -> None:
    import uvicorn

    env = os.environ
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets of that protocol only
    # (without it, each response waits out the client's delayed ACK, 40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", int(env.get("CXMLFLOW_TEST_PORT") or 0)))
    port = sock.getsockname()[1]
    token = env.get("CXMLFLOW_TEST_TOKEN")
    redis = env.get("CXMLFLOW_TEST_REDIS")
    app = create_app(
        env["CXMLFLOW_TEST_CONFIG"],
        base_url=env.get("CXMLFLOW_TEST_BASE_URL") or f"http://127.0.0.1:{port}/voice",
        secret=SECRET,
        clock=lambda: IN_HOURS,
        store=RedisStore.from_url(redis) if redis else None,
        engines=engines,
        token=token,
        open_routes=() if token else ("voice", "session", "cdr"),
        admin_token=env.get("CXMLFLOW_TEST_ADMIN_TOKEN") or None,
        metrics=env.get("CXMLFLOW_TEST_METRICS") == "1",
        on_session_update=_recorder(env.get("CXMLFLOW_TEST_EVENTS"), "session"),
        on_cdr=_recorder(env.get("CXMLFLOW_TEST_EVENTS"), "cdr"),
    )
    print(f"port {port}", flush=True)
    config = uvicorn.Config(app, log_config=log_config(), access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    sys.exit(0)


if __name__ == "__main__":
    main()
