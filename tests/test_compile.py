"""flows.to_cxml: what CXML can say is compiled verb by verb; the rest is refused by name."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings

from cxml import CallRequest, CxmlError, Say, parse, render, validate
from cxml.testing import assert_cxml_equal
from flows import FlowCompileError, strategies, to_cxml
from providers import AIAssistant, MediaBridge

CALL = CallRequest.from_payload({"CallSid": "CA1", "From": "+15550001111", "To": "+15550002222"})
RETELL = AIAssistant("r", "retell", {"phone_number": "+14155551234"})
DEEPDUB = AIAssistant("d", "deepdub", {"bot_id": "B1", "auth_token": "T1"})


def test_a_straight_flow_compiles_to_the_matching_verbs() -> None:
    flow = [
        {"type": "answer"},
        {"type": "variable_set", "option": {"key": "name", "value": "Ann"}},
        {"type": "talk", "option": {"text": "Hi ${name}", "language": "en-US"}},
        {
            "type": "play",
            "option": {"stream_urls": ["https://x.test/a.wav", "https://x.test/b.wav"]},
        },
        {"type": "sleep", "option": {"duration": 2000}},
        {"type": "digits_receive", "option": {"duration": 5000, "length": 4, "key": "#"}},
        {
            "type": "connect",
            "option": {
                "source": {"type": "tel", "target": "+15550001111"},
                "destinations": [
                    {"type": "tel", "target": "+15550003333"},
                    {"type": "sip", "target": "sip:desk@pbx.example.com"},
                    {"type": "conference", "target": "room-1"},
                ],
            },
        },
        {"type": "hangup"},
        {"type": "stop"},
        {"type": "talk", "option": {"text": "after stop: not compiled"}},
    ]
    doc = to_cxml(flow, gather_action="https://app.example.com/digits")
    assert_cxml_equal(
        doc,
        """<Response>
        <Pause answer="true" length="0"/>
        <Say language="en-US">Hi Ann</Say>
        <Play>https://x.test/a.wav</Play><Play>https://x.test/b.wav</Play>
        <Pause length="2"/>
        <Gather action="https://app.example.com/digits" finishOnKey="#" numDigits="4" timeout="5"/>
        <Dial callerId="+15550001111"><Number>+15550003333</Number>
          <Sip>sip:desk@pbx.example.com</Sip><Conference>room-1</Conference></Dial>
        <Hangup/></Response>""",
    )
    assert [i for i in validate(doc) if i.severity == "error"] == []


def test_ai_actions_route_through_the_assistant() -> None:
    sip = to_cxml(
        [{"type": "ai_talk", "option": {"assistance_id": "r"}}], assistants={"r": RETELL}, call=CALL
    )
    assert_cxml_equal(
        sip, '<Response><Dial><Service provider="retell">+14155551234</Service></Dial></Response>'
    )
    stream = to_cxml(
        [{"type": "ai", "option": {"ai_id": "d"}}],
        assistants={"d": DEEPDUB},
        call=CALL,
        bridge=MediaBridge("wss://media.example.com/b", "s" * 32),
    )
    assert "wss://bot.deepdub.dev/ws/B1/T1" in render(stream)


@pytest.mark.parametrize(
    ("flow", "path", "code"),
    [
        (
            [{"id": "a", "type": "goto", "option": {"target_id": "a", "loop_count": 1}}],
            "$.actions[0]",
            "NEEDS_RUNTIME",
        ),
        (
            [{"type": "answer", "next_id": "b"}, {"id": "b", "type": "hangup"}],
            "$.actions[0].next_id",
            "NEEDS_RUNTIME",
        ),
        (
            [{"type": "sleep", "option": {"duration": 1500}}],
            "$.actions[0].option.duration",
            "NEEDS_RUNTIME",
        ),
        (
            [{"type": "talk", "option": {"text": "${who}"}}],
            "$.actions[0].option.text",
            "UNKNOWN_VARIABLE",
        ),
        (
            [{"type": "talk", "option": {"text": "x", "async": True}}],
            "$.actions[0].option.async",
            "NEEDS_RUNTIME",
        ),
        (
            [{"type": "digits_receive", "option": {"key": "#*"}}],
            "$.actions[0].option.key",
            "NEEDS_RUNTIME",
        ),
        (
            [
                {
                    "type": "connect",
                    "option": {"destinations": [{"type": "email", "target": "a@b.c"}]},
                }
            ],
            "$.actions[0].option.destinations[0].type",
            "NEEDS_RUNTIME",
        ),
        (
            [{"type": "ai_talk", "option": {"assistance_id": "nobody"}}],
            "$.actions[0].option.assistance_id",
            "NEEDS_RUNTIME",
        ),
        (
            [{"type": "ai_talk", "option": {"initial_prompt": "inline"}}],
            "$.actions[0].option.initial_prompt",
            "NEEDS_RUNTIME",
        ),
        ([{"type": "transcribe_start"}], "$.actions[0]", "NEEDS_RUNTIME"),
        (
            [{"type": "play", "option": {"stream_urls": ["https://x.test/a.wav", ""]}}],
            "$.actions[0].option.stream_urls[1]",
            "BAD_URL",
        ),
        (
            [{"type": "play", "option": {"stream_urls": ["file:///etc/passwd"]}}],
            "$.actions[0].option.stream_urls[0]",
            "BAD_URL",
        ),
    ],
)
def test_what_needs_the_runtime_is_refused_by_path(
    flow: list[dict[str, Any]], path: str, code: str
) -> None:
    with pytest.raises(FlowCompileError) as caught:
        to_cxml(flow, assistants={"r": RETELL}, call=CALL)
    assert (caught.value.path, caught.value.code) == (path, code)
    assert path not in caught.value.message.removeprefix(path)  # the path is said once


def test_an_ai_action_without_the_call_is_refused() -> None:
    with pytest.raises(FlowCompileError) as caught:
        to_cxml([{"type": "ai_talk", "option": {"assistance_id": "r"}}], assistants={"r": RETELL})
    assert "call=" in caught.value.message


def test_hostile_text_is_escaped_once() -> None:
    text = '<Hangup/> & "quotes" ]]>'
    doc = to_cxml([{"type": "talk", "option": {"text": "${t}"}}], variables={"t": text})
    said = parse(render(doc)).children[0]
    assert isinstance(said, Say)
    assert said.text == text


@settings(max_examples=80, deadline=None)
@given(strategies.flows())
def test_generated_flows_compile_to_valid_cxml_or_raise_our_error(flow: Any) -> None:
    try:
        doc = to_cxml(flow, assistants={"r": RETELL}, call=CALL)
    except CxmlError:
        return
    assert [i for i in validate(render(doc)) if i.severity == "error"] == []
    tags = {"Pause", "Say", "Play", "Gather", "Dial", "Connect", "Hangup"}
    assert all(not isinstance(v, str) and v.tag in tags for v in doc.children)
