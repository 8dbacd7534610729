"""Time validate_flow against jsonschema on a 1,000-action flow, and count what each reports.

Usage: ``python bench/bench_flows.py [--quick] [--check]``

In one process: ``validate_flow(flow)`` against
``list(Draft202012Validator(json_schema()).iter_errors(flow))`` (the validator built once,
outside the timing) on the same flow of 1,000 actions of mixed types (answer, talk, sleep,
digits_receive, branch, condition_variable, goto with loop_count, variable_set, ai_talk,
ai_summary with the seed's spellings, connect, webhook_send, hangup). Median of repeats.
Then plants a few errors and a warning and prints how many issues each one finds: the schema
sees shapes only, not dangling targets, duplicate ids, unbounded gotos, bad engine models,
unknown tool names or variables nothing sets.
Target: validate_flow at least as fast as jsonschema (ratio >= 1.0), and reports more.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import timeit
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator

from flows import json_schema, validate_flow

REPEAT = 7  # timeit repeats (3 with --quick); the median is reported
SIZE = 1_000


def _block(n: int) -> list[dict[str, Any]]:
    """Twenty actions of mixed types; ids are unique per block, targets stay inside it."""
    menu, yes, done = f"menu-{n}", f"yes-{n}", f"done-{n}"
    return [
        {"type": "answer"},
        {"id": menu, "type": "talk", "option": {"text": "Press 1 or 2", "language": "en-US"}},
        {"type": "digits_receive", "option": {"duration": 5000, "length": 1, "key": "#"}},
        {"type": "branch", "option": {"variable": "voipbin.call.digits",
                                      "target_ids": {"1": yes, "2": done},
                                      "default_target_id": menu}},
        {"id": yes, "type": "variable_set", "option": {"key": "choice", "value": "yes"}},
        {"type": "condition_variable",
         "option": {"condition": "==", "variable": "${choice}", "value_type": "string",
                    "value_string": "yes", "false_target_id": menu}},
        {"type": "sleep", "option": {"duration": 2000}},
        {"type": "ai_talk", "option": {"initial_prompt": "You are helpful, ${voipbin.call.id}.",
                                       "voice_type": "female", "engine_model": "openai.gpt-4o",
                                       "duration": 300,
                                       "tool_names": ["send_email", "stop_service"]}},
        {"type": "ai_summary", "option": {"source_type": "call",
                                          "source_id": "${voipbin.call.id}", "real_time": True}},
        {"type": "transcribe_start", "option": {"language": "en-US", "real_time": True}},
        {"type": "webhook_send", "option": {"uri": "https://example.com/hook", "method": "POST",
                                            "data_type": "application/json", "data": "{}"}},
        {"type": "connect", "option": {"source": {"type": "tel", "target": "+15551234567"},
                                       "destinations": [{"type": "tel",
                                                         "target": "+15551111111"}]}},
        {"type": "play", "option": {"stream_urls": ["https://example.com/a.wav"]}},
        {"type": "recording_start", "option": {"format": "wav", "end_of_key": "#",
                                               "duration": 60, "beep_start": True}},
        {"type": "recording_stop"},
        {"type": "condition_datetime", "option": {"condition": ">=", "hour": 8, "minute": -1,
                                                  "weekdays": [1, 2, 3, 4, 5],
                                                  "false_target_id": done}},
        {"type": "email_send", "option": {"destinations": [{"type": "email",
                                                            "target": "a@example.com"}],
                                          "subject": "Call",
                                          "content": "${voipbin.ai_summary.content}"}},
        {"type": "goto", "option": {"target_id": menu, "loop_count": 2}},
        {"id": done, "type": "talk", "option": {"text": "Goodbye", "provider": "gcp"}},
        {"type": "message_send", "option": {"destinations": [{"type": "tel",
                                                              "target": "+15552222222"}],
                                            "text": "Thanks"}},
    ]  # fmt: skip


def build_flow(size: int = SIZE) -> dict[str, Any]:
    """A flow object of ``size`` actions (a multiple of 20) that validate_flow finds clean."""
    actions: list[dict[str, Any]] = []
    for n in range(size // 20):
        actions += _block(n)
    return {"type": "flow", "name": "bench", "actions": actions}


def plant_errors(flow: dict[str, Any]) -> dict[str, Any]:
    """The flow with seven planted errors (five a schema cannot express) and one warning."""
    bad = copy.deepcopy(flow)
    actions = bad["actions"]
    actions[3]["option"]["target_ids"]["3"] = "no-such-action"  # DANGLING_TARGET
    actions[20]["id"] = "menu-0"  # DUPLICATE_ID
    actions[37]["option"]["loop_count"] = 0  # GOTO_WITHOUT_LOOP_COUNT
    actions[47]["option"]["engine_model"] = "gpt-4o"  # BAD_ENGINE_MODEL
    actions[61]["option"]["txt"] = "typo"  # UNKNOWN_OPTION (the schema sees this)
    actions[66]["option"]["duration"] = "5 s"  # WRONG_TYPE (the schema sees this)
    actions[87]["option"]["tool_names"] = ["send_email", "fax"]  # UNKNOWN_TOOL
    actions[101]["option"]["text"] = "Press 1, ${nmae}"  # UNSET_VARIABLE (a warning)
    return bad


def _per_call(func: Callable[[], object], loops: int, repeat: int) -> float:
    timer = timeit.Timer(func)
    timer.timeit(number=1)
    return statistics.median(timer.repeat(repeat, loops)) / loops


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer loops, rough figures")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    # jsonschema takes about a second per run of this flow: fewer loops for it.
    loops, schema_loops, repeat = (5, 1, 3) if args.quick else (20, 2, REPEAT)

    flow = build_flow()
    schema = json_schema()
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    ours = validate_flow(flow)
    theirs = list(validator.iter_errors(flow))
    if ours or theirs:
        print(f"the bench flow is not clean: {ours[:3]} {[e.message for e in theirs[:3]]}")
        return 1

    mine = _per_call(lambda: validate_flow(flow), loops, repeat)
    schema_time = _per_call(lambda: list(validator.iter_errors(flow)), schema_loops, repeat)
    ratio = schema_time / mine
    print(f"{len(flow['actions'])}-action flow, median of {repeat} repeats")
    print(f"  validate_flow              {mine * 1e6:12,.0f} µs")
    print(f"  jsonschema Draft 2020-12   {schema_time * 1e6:12,.0f} µs")
    print(f"  speed ratio (jsonschema / validate_flow): {ratio:.2f}x (target >= 1.00)")

    bad = plant_errors(flow)
    issues = validate_flow(bad)
    found = [i for i in issues if i.severity == "error"]
    warned = [i for i in issues if i.severity == "warning"]
    schema_errors = list(validator.iter_errors(bad))
    print("planted: 7 errors (dangling target, duplicate id, goto loop_count 0, bad engine")
    print("  model, unknown tool, unknown option, wrong type) and 1 warning (unset variable)")
    print(
        f"  validate_flow errors: {len(found)}: {', '.join(sorted({str(i.code) for i in found}))}"
    )
    print(f"  validate_flow warnings: {len(warned)}: "
          f"{', '.join(sorted({str(i.code) for i in warned}))}")  # fmt: skip
    print(f"  jsonschema errors:    {len(schema_errors)} (at "
          f"{', '.join('/'.join(map(str, e.absolute_path)) for e in schema_errors)})")  # fmt: skip
    ok = ratio >= 1.0 and len(found) > len(schema_errors)
    if args.check and not ok:
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
