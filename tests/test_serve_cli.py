"""`cxml serve` as a real subprocess on loopback: the example PBX served under uvicorn, the
secrets from the environment only, and ``--dev``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cxml import CallRequest, render
from flows.routing import EXAMPLE_PBX, Router, load_pbx
from tests.loopback import free_port, stop_process
from tests.server_app import CONCIERGE_DID, write_pbx

pytest.importorskip("uvicorn")

SECRET = "cxml serve test secret 0123456789"
TOKEN = "serve-token-0123456789"
CALL = {"CallSid": "CA-serve", "From": "+12125551234", "To": "+14155550100"}
ROOT = Path(__file__).resolve().parent.parent
SECRETS = ("CXMLFLOW_SECRET", "CXMLFLOW_WEBHOOK_TOKEN")


def _env(**secrets: str) -> dict[str, str]:
    """This process's environment without the serve secrets, plus ``secrets``."""
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return {**env, **secrets}


def _start(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], str]:
    """``cxml serve ARGS --port P`` on a free port, once it answers ``/healthz``; a second try
    on another port if the first lost the port to someone else."""
    for _ in range(2):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "serve", *args, "--port", str(port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                if process.poll() is not None:
                    break
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        return process, url
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        except BaseException:
            stop_process(process)
            raise
        stop_process(process)
    pytest.fail("cxml serve never answered /healthz")


@pytest.fixture
def served() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of ``cxml serve`` with the secrets in its environment."""
    process, url = _start(_env(CXMLFLOW_SECRET=SECRET, CXMLFLOW_WEBHOOK_TOKEN=TOKEN), "--metrics")
    try:
        yield url
    finally:
        stop_process(process)
        assert process.stderr is not None
        output = process.stderr.read()
        process.stderr.close()
        assert SECRET not in output
        assert TOKEN not in output


def _unsigned(xml: str) -> str:
    return re.sub(r"cxmlflow=[^\"&<]*", "cxmlflow=STATE", xml)


def test_serve_answers_the_first_call_with_the_example_pbx(served: str) -> None:
    key = {"Authorization": f"Bearer {TOKEN}"}
    answer = httpx.post(f"{served}/voice", data=CALL, headers=key, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/xml"
    # What the example PBX answers now (its menu in business hours), with the same settings.
    router = Router(load_pbx(EXAMPLE_PBX), base_url=f"{served}/voice", secret=SECRET)
    expected = render(router.handle(CallRequest.from_payload(CALL)))
    assert _unsigned(answer.text) == _unsigned(expected)
    assert httpx.post(f"{served}/voice", data=CALL, timeout=10).status_code == 401
    assert httpx.get(f"{served}/readyz", timeout=10).status_code == 200
    metrics = httpx.get(f"{served}/metrics", timeout=10).text  # --metrics
    assert 'cxmlflow_requests_total{route="voice",status="200"} 1.0' in metrics
    assert 'cxmlflow_requests_total{route="voice",status="401"} 1.0' in metrics
    verb = answer.text.split("<Response><", 1)[1].split(" ", 1)[0].lower()  # by the hour
    assert f'cxmlflow_answers_total{{outcome="{verb}"}} 1.0' in metrics


@pytest.mark.parametrize("missing", SECRETS)
def test_serve_without_a_secret_exits_2_naming_it(missing: str) -> None:
    present = {name: "a value of at least 16 bytes" for name in SECRETS if name != missing}
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "serve", "--port", str(free_port())],
        cwd=ROOT, env=_env(**present), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"set {missing}" in done.stderr
    assert "--dev" in done.stderr


def test_serve_with_a_broken_config_exits_1_with_its_problems(tmp_path: Path) -> None:
    config = tmp_path / "pbx.yaml"
    config.write_text("dids: {'+14155550100': {destination: extension/9999}}\n")
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "serve", str(config), "--port", str(free_port())],
        cwd=ROOT, env=_env(CXMLFLOW_SECRET=SECRET, CXMLFLOW_WEBHOOK_TOKEN=TOKEN),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith(f"{config}: ")


def test_serve_dev_starts_with_a_random_secret_and_an_open_voice_route() -> None:
    process, url = _start(_env(), "--dev")
    try:
        answer = httpx.post(f"{url}/voice", data=CALL, timeout=10)
        assert answer.status_code == 200
        assert "<Response>" in answer.text
    finally:
        stop_process(process)
        assert process.stderr is not None
        output = process.stderr.read()
        process.stderr.close()
    assert "CXMLFLOW_SECRET is unset" in output
    assert "the webhooks are served without a token" in output


def test_serve_streams_the_ai_assistants_to_its_own_media(tmp_path: Path) -> None:
    """The router's <Connect> names this server's /media with a ticket that /media admits
    (the built-in assistant then has no engine here: no vendor keys), and the stream's
    outcome, kept in the store, answers the <Connect> action."""
    config = write_pbx(tmp_path / "pbx.yaml")
    env = _env(CXMLFLOW_SECRET=SECRET, CXMLFLOW_WEBHOOK_TOKEN=TOKEN)
    process, url = _start(env, str(config))
    try:
        scenario = tmp_path / "scenario.json"
        scenario.write_text('{"stream": {"seconds": 0.2, "timeout": 10}}', encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "flows.cli", "simulate", f"{url}/voice", "--token", TOKEN,
             "--to", CONCIERGE_DID, "--from", CALL["From"], "--scenario", str(scenario),
             "--connect-streams"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        stop_process(process)
        assert process.stderr is not None
        output = process.stderr.read()
        process.stderr.close()
    lines = done.stdout.splitlines()
    assert f"stream {url.replace('http', 'ws')}/media: sent 10 frames" in lines[1], done.stdout
    assert f"POST {url}/voice?cxmlflow=" in lines[2]
    assert lines[-1].endswith("end: hangup")
    assert "[ENGINE_UNAVAILABLE] assistant 'concierge'" in output  # admitted, then no engine
    assert "voice 200 call='CA-cli' connect" in output
    assert "media - call=None error ENGINE_UNAVAILABLE" in output
    assert SECRET not in output
    assert TOKEN not in output


def test_serve_with_workers_on_redis_shares_the_round_robin(
    redis_port: int,
    tmp_path: Path,
) -> None:
    """Each worker builds its app from the environment, on the one Redis: the ring group's
    round robin turns once per call, whichever worker answers it."""
    import redis

    store = f"redis://127.0.0.1:{redis_port}/8"
    redis.Redis.from_url(store).flushdb()
    config = tmp_path / "pbx.yaml"
    text = EXAMPLE_PBX.read_text(encoding="utf-8")
    config.write_text(text.replace("business_hours/main", "ring_group/sales", 1))
    env = _env(CXMLFLOW_SECRET=SECRET, CXMLFLOW_WEBHOOK_TOKEN=TOKEN)
    process, url = _start(env, str(config), "--workers", "2", "--redis", store)
    try:
        key = {"Authorization": f"Bearer {TOKEN}"}
        rung = []
        for _ in range(6):
            answer = httpx.post(f"{url}/voice", data=CALL, headers=key, timeout=10)
            assert answer.status_code == 200
            rung.append(answer.text.split("<Number>", 1)[1].split("<", 1)[0])
        assert rung == ["1001", "1002"] * 3  # 1003 is inactive
        assert httpx.post(f"{url}/voice", data=CALL, timeout=10).status_code == 401
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
    finally:
        stop_process(process)
        assert process.stderr is not None
        process.stderr.close()


def test_app_from_environment_needs_the_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from starlette.testclient import TestClient

    from flows.server import app_from_environment

    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CXMLFLOW_BASE_URL", "https://pbx.example.com/voice")
    with pytest.raises(RuntimeError, match="set CXMLFLOW_SECRET"):
        app_from_environment()
    monkeypatch.setenv("CXMLFLOW_SECRET", SECRET)
    with pytest.raises(RuntimeError, match="set CXMLFLOW_WEBHOOK_TOKEN"):
        app_from_environment()
    monkeypatch.setenv("CXMLFLOW_DEV", "1")
    with TestClient(app_from_environment()) as client:
        assert client.post("/voice", data=CALL).status_code == 200
    monkeypatch.setenv("CXMLFLOW_WEBHOOK_TOKEN", TOKEN)
    with TestClient(app_from_environment()) as client:
        assert client.post("/voice", data=CALL).status_code == 401


def test_an_admin_reload_reaches_every_worker(tmp_path: Path) -> None:
    """With --workers, the worker that takes POST /admin/reload checks the file and has
    uvicorn replace every worker (each loads it anew); a broken file changes nothing."""
    config = tmp_path / "pbx.yaml"
    config.write_text(EXAMPLE_PBX.read_text(encoding="utf-8"), encoding="utf-8")
    admin = "admin-token-0123456789"
    env = _env(CXMLFLOW_SECRET=SECRET, CXMLFLOW_WEBHOOK_TOKEN=TOKEN, CXMLFLOW_ADMIN_TOKEN=admin)
    process, url = _start(env, str(config), "--workers", "2")
    key, admin_key = {"Authorization": f"Bearer {TOKEN}"}, {"Authorization": f"Bearer {admin}"}

    def answers() -> list[str]:
        return [httpx.post(f"{url}/voice", data=CALL, headers=key, timeout=10).text
                for _ in range(8)]  # fmt: skip

    try:
        text = EXAMPLE_PBX.read_text(encoding="utf-8")
        config.write_text(text.replace("business_hours/main", "extension/9999", 1))
        refused = httpx.post(f"{url}/admin/reload", headers=admin_key, timeout=10)
        assert refused.status_code == 422
        assert all("<Number>1002</Number>" not in a for a in answers())

        config.write_text(text.replace("business_hours/main", "extension/1002", 1))
        assert httpx.post(f"{url}/admin/reload", headers=admin_key, timeout=10).status_code == 200
        for _ in range(200):  # uvicorn replaces the workers one after the other
            if all("<Number>1002</Number>" in a for a in answers()):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the workers never served the new configuration")
    finally:
        stop_process(process)
        assert process.stderr is not None
        output = process.stderr.read()
        process.stderr.close()
    assert admin not in output
