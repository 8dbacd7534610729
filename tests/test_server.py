"""`flows.server.create_app` under a real uvicorn on loopback: the simulator's calls through
the example PBX (menu, ring group, and an AI assistant streaming to the same server's
``/media``), authentication, bad bodies, tampered state, the probes, reloads and the log."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxml import Connect, Parameter, Response, Stream, Streamed, interpret
from flows.routing import EXAMPLE_PBX, MemoryStore, Router, StateStoreError, load_pbx
from flows.server import create_app, media_secret, media_url
from providers import MediaBridge
from providers.media import StreamServer
from tests.server_app import CONCIERGE_DID, pbx_config, running, write_pbx

pytest.importorskip("uvicorn")

TOKEN = "test-token-0123456789"
ADMIN = "admin-token-0123456789"
CALL = {"CallSid": "CA-served", "From": "+12125551234", "To": "+14155550100"}
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``http://127.0.0.1:PORT`` of a uvicorn process serving the example PBX (and the
    concierge), and the file its log goes to."""
    folder = tmp_path_factory.mktemp("served")
    env = {
        "CXMLFLOW_TEST_TOKEN": TOKEN,
        "CXMLFLOW_TEST_METRICS": "1",
        "CXMLFLOW_TEST_EVENTS": str(folder / "events"),
        "CXMLFLOW_TEST_CONFIG": str(write_pbx(folder / "pbx.yaml")),
    }
    with running(env, folder / "log") as (_, url):
        yield url, folder


@pytest.fixture(scope="module")
def base(served: tuple[str, Path]) -> str:
    return served[0]


def _events(folder: Path) -> list[dict[str, str]]:
    """What the served app's webhook callbacks were given."""
    path = folder / "events"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _simulate(
    base: str, scenario: dict[str, object], tmp_path: Path, *options: str, to: str = CALL["To"]
) -> str:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "simulate", f"{base}/voice", "--token", TOKEN,
         "--to", to, "--from", CALL["From"], "--scenario", str(path), *options],
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
        ("CallSid=CA1&SessionData=%7Bnot", "application/x-www-form-urlencoded", "SessionData"),
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


SESSION = {"token": "CA-hooked", "domain": "pbx.example.com", "status": "connected",
           "callerId": "+12125551234", "destination": "+14155550100", "direction": "incoming",
           "callStartTime": 1764514800000}  # fmt: skip
CDR = {"domain": "pbx.example.com", "disposition": "CONNECTED", "duration": 42, "billsec": 30,
       "from": "+12125551234", "to": "+14155550100", "session": {"token": "CA-hooked"}}  # fmt: skip


def test_session_updates_and_cdrs_reach_the_applications_callbacks(
    served: tuple[str, Path],
) -> None:
    base, folder = served
    form = {"token": "CA-form", "domain": "pbx.example.com", "status": "ringing"}
    cdr_form = {"domain": "pbx.example.com", "disposition": "BUSY", "duration": "7",
                "session.token": "CA-form"}  # fmt: skip
    for path, body in (("/session", SESSION), ("/cdr", CDR)):
        assert httpx.post(f"{base}{path}", json=body, headers=_auth()).status_code == 204
    for path, fields in (("/session", form), ("/cdr", cdr_form)):
        assert httpx.post(f"{base}{path}", data=fields, headers=_auth()).status_code == 204
    hooked = [e for e in _events(folder) if e["token"] in ("CA-hooked", "CA-form")]
    assert hooked == [
        {"kind": "session", "token": "CA-hooked", "domain": "pbx.example.com",
         "status": "connected"},
        {"kind": "cdr", "token": "CA-hooked", "domain": "pbx.example.com",
         "disposition": "CONNECTED"},
        {"kind": "session", "token": "CA-form", "domain": "pbx.example.com", "status": "ringing"},
        {"kind": "cdr", "token": "CA-form", "domain": "pbx.example.com", "disposition": "BUSY"},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/session", {**SESSION, "status": ""}, "status"),
        ("/session", {k: v for k, v in SESSION.items() if k != "domain"}, "domain"),
        ("/session", {**SESSION, "callStartTime": "yesterday"}, "callStartTime"),
        ("/cdr", {**CDR, "duration": -1}, "duration"),
        ("/cdr", {**CDR, "session": {"token": 7}}, "session.token"),
        ("/cdr", {k: v for k, v in CDR.items() if k != "domain"}, "domain"),
    ],
)
def test_a_bad_event_is_400_naming_the_field_and_a_bad_token_401(
    served: tuple[str, Path], path: str, body: dict[str, object], field: str
) -> None:
    base, folder = served
    before = len(_events(folder))
    answer = httpx.post(f"{base}{path}", json=body, headers=_auth())
    assert answer.status_code == 400
    assert answer.text.startswith(f"{field}: ")
    refused = httpx.post(f"{base}{path}", json=SESSION if path == "/session" else CDR)
    assert refused.status_code == 401
    assert len(_events(folder)) == before  # the callback runs before the answer: none ran


def _counters(base: str) -> dict[str, float]:
    """The served app's counters, by sample (``name{labels}``)."""
    from prometheus_client.parser import text_string_to_metric_families

    answer = httpx.get(f"{base}/metrics")
    assert answer.status_code == 200
    return {
        f"{sample.name}{json.dumps(sample.labels, sort_keys=True)}": sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def test_metrics_count_requests_by_route_and_status_and_answers_by_outcome(
    base: str, tmp_path: Path
) -> None:
    pytest.importorskip("prometheus_client")
    before = _counters(base)
    httpx.post(f"{base}/voice", json=CALL, headers=_auth())
    httpx.post(f"{base}/voice", json=CALL)
    httpx.post(f"{base}/voice", json={**CALL, "To": "+14155550199"}, headers=_auth())
    _simulate(base, {"stream": {"seconds": 0.2, "dtmf": "5"}}, tmp_path, "--connect-streams",
              to=CONCIERGE_DID)  # fmt: skip
    after = _counters(base)

    def delta(sample: str) -> float:
        return after.get(sample, 0.0) - before.get(sample, 0.0)

    voice = 'cxmlflow_requests_total{"route": "voice", "status": "%s"}'
    assert delta(voice % "200") == 4  # three calls, and the concierge's <Connect> action
    assert delta(voice % "401") == 1
    assert delta('cxmlflow_answers_total{"outcome": "gather"}') == 1
    assert delta('cxmlflow_answers_total{"outcome": "dial"}') == 1  # the agents' first (SIP)
    assert delta('cxmlflow_answers_total{"outcome": "connect"}') == 1
    assert delta('cxmlflow_answers_total{"outcome": "hangup"}') == 1  # after the AI finished
    assert delta('cxmlflow_streams_total{"outcome": "finished"}') == 1


def test_metrics_are_served_only_when_enabled_and_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from starlette.testclient import TestClient

    with TestClient(create_app(_router(), token=TOKEN)) as client:
        assert client.get("/metrics").status_code == 404
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if not installed
    with pytest.raises(RuntimeError, match=r"pip install 'cxmlflow\[metrics\]'"):
        create_app(_router(), token=TOKEN, metrics=True)


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

    with pytest.raises(ValueError, match=r"for \['cdr', 'session'\]"):
        create_app(_router(), open_routes=("voice",))
    everything = ("voice", "session", "cdr")
    with TestClient(create_app(_router(), open_routes=everything)) as client:
        assert client.post("/voice", json=CALL).status_code == 200


@pytest.mark.parametrize(
    ("digit", "then", "end"),
    [
        ("1", "dial number 1001 (timeout 30s): completed", "end-of-document"),
        ("2", "(timeout 20s): completed", "hangup"),  # a member of the sales ring group
        ("5", "]", "hangup"),  # finished: the assistant's `after` (hangup)
    ],
)
def test_simulate_runs_the_ai_assistant_on_the_same_servers_media(
    base: str, tmp_path: Path, digit: str, then: str, end: str
) -> None:
    """`cxml simulate --connect-streams`: the router's <Connect> sends the stream to this
    server's /media with a ticket; the engine ends it on a key, the outcome goes through the
    store, and the <Connect> action continues the call from it."""
    scenario = {"stream": {"seconds": 0.2, "dtmf": digit, "timeout": 10},
                "dial": {"default": "completed"}}  # fmt: skip
    out = _simulate(base, scenario, tmp_path, "--connect-streams", to=CONCIERGE_DID)
    media = base.replace("http://", "ws://") + "/media"
    lines = out.splitlines()
    assert (
        f"stream {media}: sent 10 frames + dtmf {digit}, received 0.06s audio; ended by app"
        in (lines[1])
    ), out
    assert "POST " in lines[2]
    assert "?cxmlflow=" in lines[2]
    assert then in lines[3]
    assert lines[-1].endswith(f"end: {end}"), out


def test_the_media_websocket_refuses_a_stream_without_a_ticket(base: str) -> None:
    media = media_url(f"{base}/voice")
    doc = Response([Connect([Stream([Parameter(name="lang", value="en")], url=media)])])
    script = {"stream": {"seconds": 0.4, "idle_timeout": 1.0, "timeout": 10}}
    trace = interpret(lambda request: doc, CALL, script)
    (streamed,) = trace.of(Streamed)
    assert streamed.url == media
    assert streamed.result.received_bytes == 0
    assert streamed.result.ended_by == "app"


def test_a_forged_ticket_is_refused_too(base: str) -> None:
    media = media_url(f"{base}/voice")
    forged = MediaBridge(media, media_secret("not the server's secret")).ticket("concierge", "CA1")
    doc = Response(
        [Connect([Stream([Parameter(name="cxmlflow-ticket", value=forged)], url=media)])]
    )
    trace = interpret(lambda request: doc, {**CALL, "CallSid": "CA1"}, {"stream": {"seconds": 0.4}})
    (streamed,) = trace.of(Streamed)
    assert streamed.result.received_bytes == 0


def test_each_request_is_logged_once_without_secrets(served: tuple[str, Path]) -> None:
    base, log = served[0], served[1] / "log"
    httpx.post(f"{base}/voice", json={**CALL, "CallSid": "CA-logged"}, headers=_auth())
    httpx.post(f"{base}/voice", json={**CALL, "CallSid": "CA-nope"})
    httpx.post(f"{base}/voice", json={**CALL, "CallStatus": "exploded"}, headers=_auth())
    text = ""
    for _ in range(100):  # the log is written by another process
        text = log.read_text(encoding="utf-8")
        if "bad field CallStatus" in text:
            break
        time.sleep(0.05)
    assert "voice 200 call='CA-logged' gather" in text
    assert "voice 401 call=None no valid bearer token" in text
    assert "voice 400 call=None bad field CallStatus" in text
    assert TOKEN not in text
    assert "cxmlflow=" not in text  # no signed state either (no access log with queries)


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


# --- reload: a real uvicorn process of its own ----------------------------------------------


def _wait_for(log: Path, text: str, count: int = 1) -> None:
    for _ in range(200):  # the log is written by another process
        if log.read_text(encoding="utf-8").count(text) >= count:
            return
        time.sleep(0.05)
    pytest.fail(f"never logged {text!r}: {log.read_text(encoding='utf-8')}")


def _first_verb(base: str) -> str:
    answer = httpx.post(f"{base}/voice", json=CALL, headers=_auth())
    assert answer.status_code == 200
    return answer.text.split("<Response><", 1)[1].split(" ", 1)[0].split(">", 1)[0]


def test_reload_keeps_the_old_pbx_on_errors_and_swaps_in_a_good_one(tmp_path: Path) -> None:
    config = write_pbx(tmp_path / "pbx.yaml")
    env = {"CXMLFLOW_TEST_TOKEN": TOKEN, "CXMLFLOW_TEST_ADMIN_TOKEN": ADMIN,
           "CXMLFLOW_TEST_CONFIG": str(config)}  # fmt: skip
    log = tmp_path / "log"
    with running(env, log) as (process, base):
        first = httpx.post(f"{base}/voice", json=CALL, headers=_auth())
        assert "<Gather" in first.text  # in hours: the menu
        action = first.text.split('action="', 1)[1].split('"', 1)[0].replace("&amp;", "&")

        broken = pbx_config()
        broken["dids"]["+14155550100"] = {"destination": "extension/9999"}
        config.write_text(yaml.safe_dump(broken), encoding="utf-8")
        admin = {"Authorization": f"Bearer {ADMIN}"}
        assert httpx.post(f"{base}/admin/reload", headers=_auth()).status_code == 401
        refused = httpx.post(f"{base}/admin/reload", headers=admin)
        assert refused.status_code == 422
        (issue,) = refused.json()["issues"]
        assert issue["path"] == "dids.+14155550100.destination"
        assert "9999" in issue["message"]
        assert _first_verb(base) == "Gather"  # the old PBX serves on

        process.send_signal(signal.SIGHUP)
        _wait_for(log, "reload (SIGHUP)")
        assert _first_verb(base) == "Gather"

        good = pbx_config()
        good["dids"]["+14155550100"] = {"destination": "extension/1002"}
        config.write_text(yaml.safe_dump(good), encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        _wait_for(log, "loaded")
        assert _first_verb(base) == "Dial"
        assert (
            "<Number>1002</Number>" in httpx.post(f"{base}/voice", json=CALL, headers=_auth()).text
        )

        # The call that reached the menu before goes on from its signed state.
        resumed = httpx.post(action, json={**CALL, "Digits": "0"}, headers=_auth())
        assert "<Dial" in resumed.text
        assert "+12125550000" in resumed.text  # the operator, as the menu's 0 says

        config.write_text(EXAMPLE_PBX.read_text(encoding="utf-8"), encoding="utf-8")
        loaded = httpx.post(f"{base}/admin/reload", headers=admin)
        assert loaded.status_code == 200
        assert loaded.json() == {"loaded": str(config)}
        assert _first_verb(base) == "Gather"
    text = log.read_text(encoding="utf-8")
    assert "reload (admin): " in text
    assert "dids.+14155550100.destination: " in text  # each problem is logged
    assert ADMIN not in text
    assert TOKEN not in text


# --- the event webhooks in process: open CDRs, failing callbacks, any body --------------------


def test_cdrs_can_be_served_without_a_token_where_the_platform_sends_none() -> None:
    from starlette.testclient import TestClient

    from cxml import CallRecord

    records: list[CallRecord] = []

    async def keep(record: CallRecord) -> None:
        records.append(record)

    app = create_app(_router(), token=TOKEN, open_routes={"cdr"}, on_cdr=keep)
    with TestClient(app) as client:
        assert client.post("/cdr", json=CDR).status_code == 204
        assert client.post("/session", json=SESSION).status_code == 401
        assert client.post("/voice", json=CALL).status_code == 401
    (record,) = records
    assert (record.token, record.duration, record.billsec) == ("CA-hooked", 42, 30)
    assert record.answered is True


def test_a_failing_callback_is_a_500_and_the_app_serves_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from starlette.testclient import TestClient

    async def broken(update: object) -> None:
        raise KeyError("the application's own bug")

    app = create_app(_router(), token=TOKEN, on_session_update=broken)
    with caplog.at_level("INFO", logger="flows.server"), TestClient(app) as client:
        assert client.post("/session", json=SESSION, headers=_auth()).status_code == 500
        assert client.post("/cdr", json=CDR, headers=_auth()).status_code == 204  # no callback
    assert "session 500 call='CA-hooked' connected; the callback raised KeyError" in caplog.text


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_FIELDS = st.sampled_from(sorted({*SESSION, *CDR, "owner", "id", "eventId", "recording_url"}))
_FORMS = st.dictionaries(_FIELDS | st.text(max_size=8), st.text(max_size=12), max_size=6)


def test_any_event_body_is_204_or_a_400_naming_a_field() -> None:
    from starlette.testclient import TestClient

    from cxml import CallRecord, SessionUpdate

    seen: list[object] = []

    async def keep(event: object) -> None:
        seen.append(event)

    app = create_app(_router(), token=TOKEN, on_session_update=keep, on_cdr=keep)
    with TestClient(app) as client:

        @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(
            route=st.sampled_from(["/session", "/cdr"]),
            body=st.dictionaries(_FIELDS, _JSON, max_size=8) | _JSON,
            form=_FORMS,
        )
        def check(route: str, body: object, form: dict[str, str]) -> None:
            seen.clear()
            answers = [
                client.post(route, json=body, headers=_auth()),
                client.post(route, data=form, headers=_auth()),
            ]
            for answer in answers:
                assert answer.status_code in (204, 400), answer.text
                if answer.status_code == 400:
                    field, colon, _ = answer.text.partition(": ")
                    assert colon
                    assert field
            kind = SessionUpdate if route == "/session" else CallRecord
            assert len(seen) == sum(a.status_code == 204 for a in answers)
            assert all(isinstance(event, kind) for event in seen)

        check()


def test_create_app_checks_its_settings() -> None:
    with pytest.raises(ValueError, match="base_url, secret: give them to the Router"):
        create_app(_router(), token=TOKEN, base_url="https://x.example/voice", secret="s" * 32)
    with pytest.raises(ValueError, match="needs base_url= and secret="):
        create_app(EXAMPLE_PBX, token=TOKEN, base_url="https://pbx.example.com/voice")
    with pytest.raises(ValueError, match="builds the media server itself"):
        create_app(EXAMPLE_PBX, token=TOKEN, base_url="https://pbx.example.com/voice",
                   secret="s" * 32, streams=StreamServer())  # fmt: skip
    with pytest.raises(ValueError, match="admin_token= needs config="):
        create_app(_router(), token=TOKEN, admin_token=ADMIN)
    with pytest.raises(ValueError, match="admin_token must not be empty"):
        create_app(_router(), token=TOKEN, admin_token="", config=EXAMPLE_PBX)


@pytest.mark.parametrize(
    ("base_url", "media"),
    [
        ("https://pbx.example.com/voice", True),
        ("http://127.0.0.1:8080/voice", True),  # loopback: ws:// never leaves the machine
        ("http://[::1]:8080/voice", True),
        ("http://pbx.example.com/voice", False),  # tickets would cross a network in clear
        ("http://10.0.0.7:8080/voice", False),
    ],
)
def test_media_is_served_for_wss_or_loopback_base_urls_only(
    base_url: str, media: bool, caplog: pytest.LogCaptureFixture
) -> None:
    from starlette.routing import WebSocketRoute

    with caplog.at_level("WARNING", logger="flows.server"):
        app = create_app(EXAMPLE_PBX, token=TOKEN, base_url=base_url, secret="s" * 32)
    served = [r.path for r in app.routes if isinstance(r, WebSocketRoute)]
    assert served == (["/media"] if media else [])
    assert ("no /media" in caplog.text) is not media
