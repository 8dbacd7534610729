"""`flows.server.create_app` under a real uvicorn on loopback: the simulator's calls through
the example PBX, authentication, bad bodies, tampered state and the probes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cxml import Connect, Parameter, Response, Stream, Streamed, interpret
from flows.routing import EXAMPLE_PBX, MemoryStore, Router, StateStoreError, load_pbx
from flows.server import create_app
from providers import MediaBridge
from providers.media import StreamServer

pytest.importorskip("uvicorn")

TOKEN = "test-token-0123456789"
CALL = {"CallSid": "CA-served", "From": "+12125551234", "To": "+14155550100"}
ROOT = Path(__file__).resolve().parent.parent


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a uvicorn process serving the example PBX."""
    env = {**os.environ, "CXMLFLOW_TEST_TOKEN": TOKEN}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.server_app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("port "), line
        url = f"http://127.0.0.1:{int(line.split()[1])}"
        for _ in range(200):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            process.poll()
            assert process.returncode is None, "the server exited"
            time.sleep(0.05)
        else:
            pytest.fail("the server never answered /healthz")
        yield url
    finally:
        _stop(process)


def _simulate(base: str, scenario: dict[str, object], tmp_path: Path) -> str:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "simulate", f"{base}/voice", "--token", TOKEN,
         "--to", CALL["To"], "--from", CALL["From"], "--scenario", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def test_simulate_runs_the_menu_and_the_ring_group_to_the_end(base: str, tmp_path: Path) -> None:
    out = _simulate(base, {"gather": ["9", "1"], "dial": {"targets": {"1001": "busy"}}}, tmp_path)
    lines = out.splitlines()
    assert "Welcome to Example Corp." in lines[1]
    assert "pressed 9 -> action" in out
    assert "Sorry, that is not a valid option." in out
    assert "pressed 1 -> action" in out
    assert "dial number 1001 (timeout 20s): busy -> action" in out
    assert "DialCallStatus=busy" in out
    assert "dial number 1002 (timeout 20s): no-answer -> action" in out
    # Two turns round the group, then its fallback: the receptionist (a SIP assistant).
    assert "dial service +14155551234" in out
    assert lines[-1].endswith("end: end-of-document"), out


def test_simulate_ends_when_a_member_answers(base: str, tmp_path: Path) -> None:
    out = _simulate(base, {"gather": ["1"], "dial": {"targets": {"1001": "completed"}}}, tmp_path)
    assert "dial number 1001 (timeout 20s): completed" in out
    assert out.splitlines()[-1].endswith("end: hangup"), out


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"bearer {TOKEN}x", "Bearer"]
)
def test_a_missing_or_bad_token_is_401(base: str, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    answer = httpx.post(f"{base}/voice", data=CALL, headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert TOKEN not in answer.text


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def test_form_json_and_get_bodies_answer_cxml(base: str) -> None:
    for answer in (
        httpx.post(f"{base}/voice", data=CALL, headers=_auth()),
        httpx.post(f"{base}/voice", json=CALL, headers=_auth()),
        httpx.get(f"{base}/voice", params=CALL, headers=_auth()),
    ):
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/xml"
        assert "<Gather" in answer.text
        assert "Welcome to Example Corp." in answer.text


@pytest.mark.parametrize(
    ("body", "kind", "field"),
    [
        ('{"CallSid": "CA1", "Direction": "sideways"}', "application/json", "Direction"),
        ('{"CallSid": 7}', "application/json", "CallSid"),
        ("[1, 2]", "application/json", "$"),
        ("{not json", "application/json", "$"),
        ("CallSid=CA1&CallStatus=exploded", "application/x-www-form-urlencoded", "CallStatus"),
    ],
)
def test_a_bad_body_is_400_naming_the_field(base: str, body: str, kind: str, field: str) -> None:
    answer = httpx.post(f"{base}/voice", content=body, headers={**_auth(), "Content-Type": kind})
    assert answer.status_code == 400
    assert answer.text.startswith(f"{field}: ")


def test_an_unknown_content_type_and_a_huge_body_are_refused(base: str) -> None:
    headers = {**_auth(), "Content-Type": "text/csv"}
    assert httpx.post(f"{base}/voice", content="a,b", headers=headers).status_code == 415
    big = {"CallSid": "CA1", "Filler": "x" * 70_000}
    assert httpx.post(f"{base}/voice", json=big, headers=_auth()).status_code == 413


def test_a_tampered_state_gets_the_spoken_error(base: str) -> None:
    first = httpx.post(f"{base}/voice", json=CALL, headers=_auth())
    action = first.text.split('action="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert action.startswith(f"{base}/voice?cxmlflow=")
    resumed = httpx.post(action, json={**CALL, "Digits": "1"}, headers=_auth())
    assert "<Dial" in resumed.text  # the signed state, as written, routes on
    head, _, tail = action.rpartition(".")
    tampered = f"{head}.{'A' if tail[0] != 'A' else 'B'}{tail[1:]}"
    answer = httpx.post(tampered, json={**CALL, "Digits": "1"}, headers=_auth())
    assert answer.status_code == 200
    assert "<Say" in answer.text
    assert "<Hangup" in answer.text
    assert "<Dial" not in answer.text


def test_health_and_readiness(base: str) -> None:
    assert httpx.get(f"{base}/healthz").status_code == 200
    assert httpx.get(f"{base}/readyz").status_code == 200


# --- in process: what needs another app than the served one -----------------------------


class _DownStore(MemoryStore):
    def get(self, key: str) -> str | None:
        raise StateStoreError("the store is down")


def _router(**options: object) -> Router:
    return Router(
        load_pbx(EXAMPLE_PBX), base_url="https://pbx.example.com/voice", secret="s" * 32,
        **options,  # type: ignore[arg-type]
    )  # fmt: skip


def test_readyz_is_503_when_the_store_fails() -> None:
    from starlette.testclient import TestClient

    with TestClient(create_app(_router(store=_DownStore()), token=TOKEN)) as client:
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200


def test_a_token_or_an_open_route_is_required() -> None:
    with pytest.raises(ValueError, match="token="):
        create_app(_router())
    with pytest.raises(ValueError, match="no such authenticated route"):
        create_app(_router(), token=TOKEN, open_routes=("healthz",))
    with pytest.raises(ValueError, match="empty"):
        create_app(_router(), token="")
    from starlette.testclient import TestClient

    with TestClient(create_app(_router(), open_routes=("voice",))) as client:
        assert client.post("/voice", json=CALL).status_code == 200


def test_a_stream_reaches_the_media_websocket_on_the_same_port(base: str) -> None:
    media = base.replace("http://", "ws://") + "/media"
    doc = Response([Connect([Stream([Parameter(name="lang", value="en")], url=media)])])
    script = {"stream": {"seconds": 0.4, "dtmf": "5", "idle_timeout": 1.0, "timeout": 10}}
    trace = interpret(lambda request: doc, CALL, script)
    (streamed,) = trace.of(Streamed)
    assert streamed.url == media
    assert streamed.result.sent_frames == 20
    assert streamed.result.received_seconds == pytest.approx(0.4)
    assert trace.errors == ()


def test_with_a_bridge_the_media_websocket_admits_ticketed_streams_only() -> None:
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    streams = StreamServer(bridge=MediaBridge("wss://pbx.example.com/media", "b" * 32), pace=False)
    start = {
        "streamSid": "MZ1", "callSid": "CA1", "accountSid": "AC1", "tracks": ["inbound"],
        "customParameters": {},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }  # fmt: skip
    with (
        TestClient(create_app(_router(), token=TOKEN, streams=streams)) as client,
        client.websocket_connect("/media") as socket,
    ):
        socket.send_text(json.dumps({"event": "connected", "protocol": "Call"}))
        socket.send_text(json.dumps({"event": "start", "streamSid": "MZ1", "start": start}))
        with pytest.raises(WebSocketDisconnect):
            socket.receive_text()
    assert [e.code for e in streams.errors] == ["BAD_SIGNATURE"]
