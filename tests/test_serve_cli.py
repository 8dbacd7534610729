"""`cxml serve` as a real subprocess on loopback: the example PBX served under uvicorn, the
secrets from the environment only, and ``--dev``."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cxml import CallRequest, render
from flows.routing import EXAMPLE_PBX, Router, load_pbx

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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _start(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], str]:
    """``cxml serve ARGS --port P`` on a free port, once it answers ``/healthz``; a second try
    on another port if the first lost the port to someone else."""
    for _ in range(2):
        port = _free_port()
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
            _stop(process)
            raise
        _stop(process)
    pytest.fail("cxml serve never answered /healthz")


@pytest.fixture
def served() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of ``cxml serve`` with the secrets in its environment."""
    process, url = _start(_env(CXMLFLOW_SECRET=SECRET, CXMLFLOW_WEBHOOK_TOKEN=TOKEN))
    try:
        yield url
    finally:
        _stop(process)
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


@pytest.mark.parametrize("missing", SECRETS)
def test_serve_without_a_secret_exits_2_naming_it(missing: str) -> None:
    present = {name: "a value of at least 16 bytes" for name in SECRETS if name != missing}
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "serve", "--port", str(_free_port())],
        cwd=ROOT, env=_env(**present), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"set {missing}" in done.stderr
    assert "--dev" in done.stderr


def test_serve_with_a_broken_config_exits_1_with_its_problems(tmp_path: Path) -> None:
    config = tmp_path / "pbx.yaml"
    config.write_text("dids: {'+14155550100': {destination: extension/9999}}\n")
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "serve", str(config), "--port", str(_free_port())],
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
        _stop(process)
        assert process.stderr is not None
        output = process.stderr.read()
        process.stderr.close()
    assert "CXMLFLOW_SECRET is unset" in output
    assert "/voice is served without a token" in output


def test_serve_with_workers_builds_each_app_from_the_environment() -> None:
    process, url = _start(
        _env(CXMLFLOW_SECRET=SECRET, CXMLFLOW_WEBHOOK_TOKEN=TOKEN), "--workers", "2"
    )
    try:
        key = {"Authorization": f"Bearer {TOKEN}"}
        for _ in range(4):
            answer = httpx.post(f"{url}/voice", data=CALL, headers=key, timeout=10)
            assert answer.status_code == 200
            assert f'action="{url}/voice?cxmlflow=' in answer.text or "<Gather" not in answer.text
        assert httpx.post(f"{url}/voice", data=CALL, timeout=10).status_code == 401
    finally:
        _stop(process)
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
