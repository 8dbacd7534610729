"""Time routing calls with cxmlflow against building the same documents with twilio-python.

Usage: ``python bench/bench_routing.py [--quick] [--check]``

Each row is one request, routed as docs/routing.md wires it (`CallRequest.from_payload(body,
url=url)`, made once; timed: ``router.handle(request)`` + ``render``): first calls to an
extension, an IVR menu, a SIP assistant and two WebSocket assistants (a URL template filled
per call; a `MediaBridge` with a ticket signed per call), then the menu's digit follow-up and
a ring group's no-answer follow-up, both signing the next callback. Against it, twilio-python's
`VoiceResponse` building and rendering the same document (checked in C14N form first) from
values it is handed: it routes nothing, signs nothing and fills no template. In one process,
interleaved (best repeat; see ``_timing.py``). Then one call with 10 and with 100,000 DIDs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from typing import Any

import yaml
from _timing import REPEAT, interleaved
from twilio.twiml.voice_response import VoiceResponse

from cxml import (
    CallRequest,
    Connect,
    Dial,
    Gather,
    Number,
    Parameter,
    Redirect,
    Response,
    Say,
    Service,
    Stream,
    render,
)
from cxml.testing import canonical
from flows.routing import EXAMPLE_PBX, Router, load_pbx
from providers import MediaBridge

NOW = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)  # a Monday, 10:00 in New York
VOICE_URL = "https://pbx.example.com/voice"
TARGET = 1.5  # twilio's time / ours, every row

#: Numbers added to the example PBX, one per kind of first call.
DIDS = {
    "+16460000001": "extension/1001",
    "+16460000002": "ivr_menu/main",
    "+16460000003": "ai_assistant/receptionist",
    "+16460000004": "ai_assistant/after_hours",
    "+16460000005": "ai_assistant/agent",
    "+16460000006": "ring_group/line",
}


def _config(extra_dids: int = 0) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(EXAMPLE_PBX.read_text())
    config["dids"].update({did: {"destination": to} for did, to in DIDS.items()})
    config["ai_assistants"]["agent"] = {
        "provider": "websocket-endpoint",
        "config": {"websocket_url": "wss://agent.example.com/ws", "media": "pcm16"},
    }
    config["ring_groups"]["line"] = {"strategy": "sequential", "members": ["1001", "1002"]}
    for i in range(extra_dids):
        config["dids"][f"+1647{i:07d}"] = {"destination": "ai_assistant/support"}
    return config


def _router(config: dict[str, Any]) -> Router:
    return Router(
        load_pbx(config),
        base_url=VOICE_URL,
        secret="bench-secret-0123456789",
        clock=lambda: NOW,
        bridge=MediaBridge("wss://bridge.example.com/media", secret="bench-bridge-secret-0123"),
    )


def _body(to: str, **fields: str) -> dict[str, str]:
    return {"CallSid": "CA1", "From": "+12125551234", "To": to, "Direction": "inbound", **fields}


# --- twilio-python building the same documents, from the values our document holds ----------


def _twilio_dial(doc: Response) -> Callable[[], str]:
    (dial,) = doc.children
    assert isinstance(dial, Dial)
    (number,) = dial.children
    assert isinstance(number, Number)
    action, timeout, text = dial.action, dial.timeout, str(number.text)

    def build() -> str:
        response = VoiceResponse()
        response.dial(action=action, timeout=timeout).number(text)
        return str(response.to_xml())

    return build


def _twilio_menu(doc: Response) -> Callable[[], str]:
    (gather,) = doc.children
    assert isinstance(gather, Gather)
    (say,) = gather.children
    assert isinstance(say, Say)
    action, text, voice = gather.action, str(say.text), say.voice

    def build() -> str:
        response = VoiceResponse()
        gather = response.gather(
            action=action, num_digits=1, timeout=5, action_on_empty_result=True
        )
        gather.say(text, voice=voice)
        return str(response.to_xml())

    return build


def _twilio_service(doc: Response) -> Callable[[], str]:
    (dial,) = doc.children
    assert isinstance(dial, Dial)
    (service,) = dial.children
    assert isinstance(service, Service)
    number, provider = str(service.text), service.provider

    def build() -> str:
        # twilio has no <Service> noun: its generic child is how a user would write one
        response = VoiceResponse()
        response.dial().add_child("Service", number, provider=provider)
        return str(response.to_xml())

    return build


def _twilio_stream(doc: Response) -> Callable[[], str]:
    connect, redirect = doc.children  # the AI stream, and the Redirect to its action
    assert isinstance(connect, Connect)
    assert isinstance(redirect, Redirect)
    (stream,) = connect.children
    assert isinstance(stream, Stream)
    url, action = stream.url, connect.action
    parameters = [(p.name, p.value) for p in stream.children if isinstance(p, Parameter)]

    def build() -> str:
        response = VoiceResponse()
        nested = response.connect(action=action).stream(url=url)
        for name, value in parameters:
            nested.parameter(name=name, value=value)
        response.redirect(action)
        return str(response.to_xml())

    return build


def _rows(router: Router) -> list[tuple[str, CallRequest, Callable[[Response], Callable[[], str]]]]:
    """(label, request, twilio builder for the document) per row."""

    def first(to: str) -> CallRequest:
        return CallRequest.from_payload(_body(to), url=VOICE_URL)

    def action(to: str) -> str:
        verb = router.handle(first(to)).children[0]
        assert isinstance(verb, Gather | Dial)
        assert verb.action is not None
        return verb.action

    menu_digit = CallRequest.from_payload(_body("+16460000002", Digits="1"), url=action(
        "+16460000002"))  # fmt: skip
    no_answer = CallRequest.from_payload(
        _body("+16460000006", DialCallStatus="no-answer"), url=action("+16460000006")
    )
    return [
        ("first call: extension", first("+16460000001"), _twilio_dial),
        ("first call: IVR menu (signed Gather action)", first("+16460000002"), _twilio_menu),
        ("first call: SIP assistant", first("+16460000003"), _twilio_service),
        ("first call: WebSocket assistant, URL filled per call", first("+16460000004"),
         _twilio_stream),
        ("first call: WebSocket assistant via MediaBridge (ticket)", first("+16460000005"),
         _twilio_stream),
        ("menu digit follow-up (round robin, signed Dial action)", menu_digit, _twilio_dial),
        ("ring group no-answer follow-up (signed Dial action)", no_answer, _twilio_dial),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer loops, rough figures")
    parser.add_argument("--check", action="store_true", help="exit 1 if a row misses its target")
    args = parser.parse_args(argv)
    loops = 1_000 if args.quick else 20_000

    router = _router(_config())
    funcs: list[Callable[[], object]] = []
    labels = []
    for label, request, twilio_for in _rows(router):
        doc = router.handle(request)
        twilio = twilio_for(doc)
        if canonical(render(doc)) != canonical(twilio()):
            raise SystemExit(f"{label}: twilio builds another document:\n{render(doc)}\n{twilio()}")
        labels.append(label)
        funcs.append(lambda r=request: render(router.handle(r)))  # type: ignore[misc]
        funcs.append(twilio)
    times = interleaved(funcs, loops)

    print(f"timeit: {REPEAT} repeats (round-robin) x {loops:,} loops; best (median)\n")
    print("| request | cxmlflow handle + render µs | twilio build + to_xml µs | speed-up "
          "| target |\n|---|---:|---:|---:|---|")  # fmt: skip
    missed = 0
    for i, label in enumerate(labels):
        ours, theirs = times[2 * i], times[2 * i + 1]
        ratio = theirs.best / ours.best
        missed += ratio < TARGET
        print(
            f"| {label} | {ours.best * 1e6:.2f} ({ours.median * 1e6:.2f}) "
            f"| {theirs.best * 1e6:.2f} ({theirs.median * 1e6:.2f}) | {ratio:.2f}x "
            f"| ≥ {TARGET}x: {'met' if ratio >= TARGET else 'MISSED'} |"
        )

    big = _router(_config(extra_dids=100_000))
    request = CallRequest.from_payload(_body("+16460000001"), url=VOICE_URL)
    small_time, big_time = interleaved(
        [lambda: render(router.handle(request)), lambda: render(big.handle(request))], loops
    )
    print(f"\nsame call, 10 vs 100,000 DIDs: {small_time.best * 1e6:.2f} vs "
          f"{big_time.best * 1e6:.2f} µs ({big_time.best / small_time.best:.2f}x)")  # fmt: skip
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
