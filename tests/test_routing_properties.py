"""Whole calls through generated PBXs: every call ends, within a bound, in valid documents."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cxml import CallRequest, Connect, Dial, Gather, Hangup, Response, parse, render, validate
from flows.routing import MemoryStore, Router, load_pbx
from flows.strategies import pbx_configs

#: Callbacks one call may take: menus replay max_turns times, groups ring members x turns.
MAX_CALLBACKS = 60
DIAL_RESULTS = ["completed", "answered", "busy", "no-answer", "failed", "canceled", None]


def _action(doc: Response) -> str | None:
    for verb in doc.children:
        if isinstance(verb, Gather | Dial | Connect) and verb.action:
            return verb.action
    return None


@settings(max_examples=60, deadline=None)
@given(pbx_configs(), st.data())
def test_every_call_from_every_did_ends_in_valid_documents(
    config: dict[str, Any], data: st.DataObject
) -> None:
    pbx = load_pbx(config)
    hour = data.draw(st.integers(0, 23 * 7))
    now = dt.datetime(2026, 11, 23, tzinfo=dt.UTC) + dt.timedelta(hours=hour)
    router = Router(
        pbx, base_url="https://pbx.example.com/voice", secret="s" * 32, clock=lambda: now,
        store=MemoryStore(),
    )  # fmt: skip
    for number in pbx.dids:
        body = {"CallSid": f"CA{number}", "From": "+12125551234", "To": number}
        doc = router.handle(CallRequest.from_payload({**body, "Direction": "inbound"}))
        for _ in range(MAX_CALLBACKS):
            assert [i for i in validate(doc) if i.severity == "error"] == []
            text = render(doc)  # in the model's one form: as parse reads it, field order
            assert parse(text) == doc
            assert render(parse(text)) == text
            action = _action(doc)
            if action is None:
                break
            result: dict[str, Any] = {}
            if isinstance(doc.children[0], Gather):
                result["Digits"] = data.draw(st.sampled_from(["", "1", "2", "9", "42", "#"]))
            elif (status := data.draw(st.sampled_from(DIAL_RESULTS))) is not None:
                result["DialCallStatus"] = status
            doc = router.handle(CallRequest.from_payload({**body, **result}, url=action))
            if result.get("DialCallStatus") in ("completed", "answered"):
                assert doc == Response([Hangup()])
        else:
            raise AssertionError(f"the call to {number} was still going after many callbacks")
