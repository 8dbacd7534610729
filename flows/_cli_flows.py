"""``cxml flow validate`` and ``cxml flow run``: flow definitions from the command line.

A script (JSON or YAML) says what the world does during ``flow run``::

    engine: ["Hello, how can I help?", {tool_calls: [{name: stop_service}]}]
    caller: {says: ["I need a plumber"], digits: ["1"]}
    variables: {customer: Ann}
    media: rtc                 # or non_rtc (no live call)
    at: 2026-11-23T10:00:00Z   # the clock condition_datetime reads
    assistants: {helper: {provider: builtin, config: {engine_model: openai.gpt-4o}}}
    messages: ["hi", "thanks"] # instead of a call: a text conversation, one run per message
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import yaml

from cxml import CxmlError, Issue
from providers import AIAssistant, ScriptedEngine

from ._conversations import Conversations
from ._flow import FlowError, load_flow, parse_flow_data
from ._interpreter import Caller, Event, RunResult, run
from ._validate import validate_flow

__all__ = ["add_flow_commands"]

_SCRIPT_KEYS = frozenset({"engine", "caller", "variables", "media", "at", "assistants", "messages"})


def add_flow_commands(commands: Any) -> None:
    """Add ``flow validate`` and ``flow run`` to the ``cxml`` parser's subcommands."""
    flow = commands.add_parser("flow", help="validate and run VoIPBIN-style flow definitions")
    verbs = flow.add_subparsers(required=True, metavar="VERB")
    check = verbs.add_parser(
        "validate",
        help="report every problem in flow files",
        description="Print file: severity code path message for every issue; exit 1 when "
        "there is an error (or, with --strict, a warning).",
    )
    check.add_argument("files", nargs="+", metavar="FILE", help="flow (JSON or YAML)")
    check.add_argument("--media", choices=("rtc", "non_rtc"), help="the flow runs with(out) a call")
    check.add_argument("--strict", action="store_true", help="warnings fail too")
    check.set_defaults(run=_validate)
    execute = verbs.add_parser(
        "run",
        help="run a flow offline and print its trace",
        description="Run FILE with a scripted AI engine and caller and print every step.",
    )
    execute.add_argument("file", metavar="FILE", help="flow (JSON or YAML)")
    execute.add_argument("--script", metavar="SCRIPT", help="what the engine and caller do")
    execute.add_argument("--strict", action="store_true", help="unknown ${variables} fail")
    execute.set_defaults(run=_run)


def _load(name: str) -> object:
    text = Path(name).read_text(encoding="utf-8")
    if name.endswith((".yaml", ".yml")):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CxmlError(f"not YAML: {exc}", code="INVALID_YAML") from None
    return parse_flow_data(text)


def _issue_line(name: str, issue: Issue) -> str:
    return f"{name}: {issue.severity} {issue.code} {issue.path} {issue.message}"


def _validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    failed = False
    for name in args.files:
        try:
            issues = validate_flow(_load(name), media=args.media)
        except (OSError, CxmlError) as exc:
            print(f"{name}: error {getattr(exc, 'code', 'IO')} {exc}", file=err)
            failed = True
            continue
        for issue in issues:
            print(_issue_line(name, issue), file=out)
            failed = failed or issue.severity == "error" or args.strict
        if not issues:
            print(f"{name}: ok", file=out)
    return 1 if failed else 0


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        flow = load_flow(_load(args.file))
        script = _script(_load(args.script) if args.script else {})
    except FlowError as exc:
        for issue in exc.issues:
            print(_issue_line(args.file, issue), file=err)
        return 1
    except (OSError, CxmlError) as exc:
        print(f"error {getattr(exc, 'code', 'IO')} {exc}", file=err)
        return 1
    engine = script["engine"]
    at = script["at"]
    clock = (lambda: at) if at is not None else None
    try:
        if script["messages"] is not None:
            return asyncio.run(_chat(flow, script, engine, clock, out))
        result = asyncio.run(
            run(flow, engine=engine, assistants=script["assistants"], media=script["media"],
                variables=script["variables"], caller=script["caller"], clock=clock,
                strict=args.strict)
        )  # fmt: skip
    except CxmlError as exc:
        print(f"error {exc.code} {exc.message}", file=err)
        return 1
    _print(result, out)
    return 0 if result.status != "failed" else 1


async def _chat(flow: Any, script: Mapping[str, Any], engine: ScriptedEngine, clock: Any,
                out: TextIO) -> int:  # fmt: skip
    chats = Conversations(flow, engine=engine, assistants=script["assistants"], clock=clock)
    status = 0
    for text in script["messages"]:
        print(f"> {text}", file=out)
        turn = await chats.receive("conversation", text, variables=script["variables"])
        _print(turn.run, out)
        status = status or int(turn.run.status == "failed")
    return status


def _bad(message: str) -> CxmlError:
    return CxmlError(f"script {message}", code="BAD_SCRIPT")


def _texts(value: object, key: str) -> list[str]:
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise _bad(f"{key}: a list of text")
    return value


def _script(data: object) -> dict[str, Any]:
    """The script's parts, checked: every problem is a CxmlError naming the key."""
    if not isinstance(data, Mapping):
        raise _bad("must be an object")
    unknown = set(data) - _SCRIPT_KEYS
    if unknown:
        raise _bad(f"has unknown keys: {sorted(map(str, unknown))}")
    caller = data.get("caller") or {}
    if not isinstance(caller, Mapping) or set(caller) - {"says", "digits"}:
        raise _bad("caller: {says: [...], digits: [...]}")
    says = _texts(caller.get("says", []), "caller.says")
    digits = _texts(caller.get("digits", []), "caller.digits")
    engine = data.get("engine") or []
    if not isinstance(engine, list):
        raise _bad("engine: a list of replies")
    at = data.get("at")
    if at is not None:
        try:
            at = at if isinstance(at, dt.datetime) else dt.datetime.fromisoformat(str(at))
        except ValueError:
            raise _bad(f"at: {at!r:.40} is not an ISO time") from None
        at = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
    assistants = {}
    specs = data.get("assistants") or {}
    if not isinstance(specs, Mapping):
        raise _bad("assistants: an object of assistants by id")
    for ident, spec in specs.items():
        if not isinstance(spec, Mapping) or not isinstance(spec.get("provider"), str):
            raise _bad(f"assistants.{ident}: needs a provider")
        config, status = spec.get("config") or {}, spec.get("status", "active")
        if not isinstance(config, Mapping) or status not in ("active", "inactive"):
            raise _bad(f"assistants.{ident}: config is an object, status active or inactive")
        assistants[str(ident)] = AIAssistant(str(ident), spec["provider"], config, status=status)
    variables = data.get("variables") or {}
    if not isinstance(variables, Mapping):
        raise _bad("variables: an object of names and values")
    media = data.get("media", "rtc")
    if media not in ("rtc", "non_rtc"):
        raise _bad("media: rtc or non_rtc")
    messages = data.get("messages")
    return {
        "engine": ScriptedEngine(engine),
        "caller": Caller(says, digits),
        "variables": {str(k): str(v) for k, v in variables.items()},
        "media": media,
        "at": at,
        "assistants": assistants,
        "messages": None if messages is None else _texts(messages, "messages"),
    }


def _print(result: RunResult, out: TextIO) -> None:
    for event in result.events:
        print(_line(event), file=out)
    print(f"-- {result.status} after {result.steps} step(s)", file=out)


def _line(event: Event) -> str:
    shown = " ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}"
                     for k, v in event.data.items() if v not in (None, "", [], {}))  # fmt: skip
    return f"{event.path:<16} {event.kind:<12} {shown}".rstrip()
