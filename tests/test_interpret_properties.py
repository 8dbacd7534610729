"""Properties of the call simulator over generated PBXs, scenarios and documents."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cxml import (
    CallRequest,
    Connect,
    DialOutcome,
    Ended,
    ErrorEvent,
    Hangup,
    Input,
    Response,
    Scenario,
    Stream,
    Streamed,
    StreamPeers,
    StreamScript,
    echo_peer,
    interpret,
)
from cxml.strategies import responses
from flows.routing import MemoryStore, Router, load_pbx
from flows.strategies import pbx_configs

ENDINGS = {"hangup", "reject", "end-of-document", "caller-hangup"}

outcomes = st.builds(
    DialOutcome,
    status=st.sampled_from(["completed", "busy", "no-answer", "failed", "canceled"]),
    duration=st.integers(0, 600),
    ring=st.integers(0, 40),
)
inputs = st.one_of(
    st.builds(Input, digits=st.sampled_from(["", "1", "2", "9", "42", "#", "0#"])),
    st.builds(Input, speech=st.sampled_from(["sales", "agent"])),
    st.just(Input()),
)


@st.composite
def scenarios(draw: st.DrawFn, *, max_stages: int = 50) -> Scenario:
    return Scenario(
        kinds=draw(st.dictionaries(st.sampled_from(["number", "sip", "service"]), outcomes)),
        default=draw(outcomes),
        gather=draw(st.lists(inputs, max_size=6)),
        record=draw(st.lists(st.integers(0, 30), max_size=3)),
        stream=StreamScript(seconds=draw(st.sampled_from([0.0, 0.02, 0.1])), dtmf="1"),
        max_stages=max_stages,
    )


@settings(max_examples=40, deadline=None)
@given(pbx_configs(), scenarios(), st.integers(0, 24 * 7 - 1))
def test_every_simulated_call_through_a_generated_pbx_ends_without_an_error(
    config: dict[str, Any], scenario: Scenario, hour: int
) -> None:
    now = dt.datetime(2026, 11, 23, tzinfo=dt.UTC) + dt.timedelta(hours=hour)
    router = Router(
        load_pbx(config), base_url="https://pbx.example.com/voice", secret="s" * 32,
        clock=lambda: now, store=MemoryStore(),
    )  # fmt: skip
    for number in router.pbx.dids:
        body = {"CallSid": f"CA{number}", "From": "+12125551234", "To": number}
        trace = interpret(router.handle, {**body, "Direction": "inbound"}, scenario)
        assert trace.ended.reason in ENDINGS, trace.transcript()
        assert not any(isinstance(e, ErrorEvent) for e in trace.events), trace.transcript()
        assert len(trace.requests) <= scenario.max_stages


@settings(max_examples=150, deadline=None)
@given(responses(extras=True, max_verbs=4), scenarios(max_stages=4))
def test_any_document_runs_to_an_end_and_only_our_errors_are_recorded(
    doc: Response, scenario: Scenario
) -> None:
    seen: list[CallRequest] = []

    def app(request: CallRequest) -> Response:
        seen.append(request)
        return doc

    trace = interpret(app, {"CallSid": "CA1", "From": "+1212", "To": "1001"}, scenario,
                      connector=StreamPeers(echo_peer))  # fmt: skip
    assert isinstance(trace.events[-1], Ended)
    assert sum(isinstance(e, Ended) for e in trace.events) == 1
    assert len(trace.requests) == len(seen) <= scenario.max_stages
    assert [e.at for e in trace.events] == sorted(e.at for e in trace.events)
    assert trace.duration <= scenario.max_seconds


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_any_text_an_application_returns_is_a_document_or_a_recorded_error(
    text: str | bytes,
) -> None:
    trace = interpret(lambda _: text, {"CallSid": "CA1"}, {"max_stages": 3})
    assert trace.ended.reason in ENDINGS | {"error", "stage-limit", "time-limit"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
peer_frames = st.one_of(
    st.text(max_size=40),
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {"event": st.sampled_from(["media", "mark", "clear", "stop", "dtmf"])},
        optional={"media": json_values, "mark": json_values, "streamSid": json_values},
    ).map(json.dumps),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(peer_frames | st.none(), max_size=3), min_size=1, max_size=8))
def test_a_stream_peer_sending_anything_never_breaks_the_call(
    replies: list[list[str | None]],
) -> None:
    queue = list(replies)

    def reply(frame: dict[str, Any]) -> list[str | None]:
        return queue.pop(0) if queue else [None]

    doc = Response([Connect([Stream(url="wss://agent.example.com/ws")]), Hangup()])
    scenario = Scenario(stream=StreamScript(seconds=0.06, dtmf="1", idle_timeout=0.05))
    trace = interpret(lambda _: doc, {"CallSid": "CA1"}, scenario, connector=StreamPeers(reply))
    (streamed,) = trace.of(Streamed)
    assert streamed.result.ended_by in {"app", "error", "idle", "caller"}
    assert {e.code for e in trace.errors} <= {31950}
    assert trace.ended.reason in {"hangup", "caller-hangup"}
