"""cxml simulate: whole calls from the command line, printed as a transcript."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cxml import Hangup, Response, Say, render
from flows.cli import main

from .loopback import serving

CALL = ["--to", "+14155550100", "--from", "+12125551234"]


def simulate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    status = main(["simulate", *args])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def test_the_example_pbx_after_hours_reaches_the_assistant_offline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, lines, _ = simulate(capsys, *CALL, "--at", "2026-11-23T23:00")
    assert status == 0
    assert lines[0].endswith("POST (first request)")
    assert "stream wss://bot.deepdub.dev/ws/example-bot/example-token?" in lines[1]
    assert "sent 50 frames, received 0.00s audio; ended by app" in lines[1]
    assert lines[-1].endswith("end: hangup")  # the stream's action: the assistant's `after`


def test_a_scenario_file_drives_the_menu_and_the_ring_group(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text('gather: ["1"]\ndial: {targets: {"1001": busy}, default: no-answer}\n')
    status, lines, _ = simulate(
        capsys, *CALL, "--at", "2026-11-23T10:00", "--scenario", str(scenario)
    )
    assert status == 0
    dials = [line.split("] ", 1)[1] for line in lines if "] dial " in line]
    assert dials == [
        "dial number 1001 (timeout 20s): busy -> action",
        "dial number 1002 (timeout 20s): no-answer -> action",
        "dial number 1001 (timeout 20s): busy -> action",
        "dial number 1002 (timeout 20s): no-answer -> action",
        "dial service +14155551234 (timeout 30s): no-answer",
    ]


def test_a_bad_scenario_names_the_file_and_the_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text('{"dial": {"default": "maybe"}}')
    status, lines, err = simulate(capsys, *CALL, "--scenario", str(scenario))
    assert (status, lines) == (1, [])
    assert err.startswith(f"{scenario}: $.dial.default.status: unknown dial status 'maybe'")
    status, _, err = simulate(capsys, *CALL, "--scenario", str(tmp_path / "missing.yaml"))
    assert status == 1
    assert "missing.yaml" in err


def test_an_unreachable_url_app_is_a_recorded_fetch_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, lines, _ = simulate(capsys, "http://127.0.0.1:9/voice", *CALL)
    assert status == 1
    assert "error 11200" in lines[1]
    assert lines[-1].endswith("end: error")


def test_a_bad_time_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = simulate(capsys, *CALL, "--at", "teatime")
    assert status == 2
    assert "--at" in err


class _App(BaseHTTPRequestHandler):
    """A voice application that greets the caller (if the domain key is right)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        ok = self.headers.get("Authorization") == "Bearer domain-key"
        data = render(Response([Say("Welcome" if ok else "Who are you?"), Hangup()])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_url_app_on_loopback_is_simulated_with_its_token(
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    url = f"http://127.0.0.1:{server.server_address[1]}/voice"
    with serving(server):
        status, lines, _ = simulate(capsys, url, *CALL, "--token", "domain-key")
    assert status == 0
    assert lines[0].endswith(f"POST {url}")
    assert lines[1].endswith('say (woman, en-US): "Welcome"')
    assert lines[-1].endswith("end: hangup")
