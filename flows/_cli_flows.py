"""``cxml flow validate`` and ``cxml flow run``: flow definitions from the command line.

``flow run --format mermaid`` writes the run as a Mermaid sequence diagram (caller, flow,
engine, webhooks) instead of the step-by-step trace.

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
from typing import Any, TextIO

from cxml import CxmlError, Issue
from cxml._data import DataError, load_data_file
from providers import AIAssistant, ScriptedEngine

from ._conversations import Conversations
from ._diagram import conversation_diagram, sequence_diagram
from ._flow import FlowError, load_flow
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
    execute.add_argument(
        "--format",
        choices=("text", "mermaid"),
        default="text",
        help="text: every step (default); mermaid: a sequence diagram of the run",
    )
    execute.set_defaults(run=_run)


def _load(name: str) -> object:
    """A flow or script file's data (JSON, or YAML for .yaml and .yml): `DataError` for a file
    that cannot be read, is not UTF-8, has a YAML alias or a duplicate key, nests too deep."""
    return load_data_file(name, default_format="json")


def _data_error(exc: DataError) -> str:
    """``FILE:LINE:COL: error CODE: message (at path)``."""
    at = f" (at {exc.path})" if exc.path and exc.path != "$" else ""
    return f"{exc.location}: error {exc.code}: {exc.message}{at}"


def _issue_line(name: str, issue: Issue) -> str:
    return f"{name}: {issue.severity} {issue.code} {issue.path} {issue.message}"


def _validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    failed = False
    for name in args.files:
        try:
            issues = validate_flow(_load(name), media=args.media)
        except DataError as exc:
            print(_data_error(exc), file=err)
            failed = True
            continue
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
    except DataError as exc:
        print(_data_error(exc), file=err)
        return 1
    except (OSError, CxmlError) as exc:
        print(f"error {getattr(exc, 'code', 'IO')} {exc}", file=err)
        return 1
    engine = script["engine"]
    at = script["at"]
    clock = (lambda: at) if at is not None else None
    try:
        if script["messages"] is not None:
            turns = asyncio.run(_chat(flow, script, engine, clock))
        else:
            result = asyncio.run(
                run(flow, engine=engine, assistants=script["assistants"], media=script["media"],
                    variables=script["variables"], caller=script["caller"], clock=clock,
                    strict=args.strict)
            )  # fmt: skip
            turns = [(None, result)]
    except CxmlError as exc:
        print(f"error {exc.code} {exc.message}", file=err)
        return 1
    if args.format == "mermaid":
        chat = [(text, done) for text, done in turns if text is not None]
        out.write(conversation_diagram(chat) if chat else sequence_diagram(turns[0][1]))
    else:
        for text, done in turns:
            if text is not None:
                print(f"> {text}", file=out)
            _print(done, out)
    return 1 if any(done.status == "failed" for _, done in turns) else 0


async def _chat(
    flow: Any, script: Mapping[str, Any], engine: ScriptedEngine, clock: Any
) -> list[tuple[str | None, RunResult]]:
    """Each message of the script and the run it led to, in one conversation."""
    chats = Conversations(flow, engine=engine, assistants=script["assistants"], clock=clock)
    turns: list[tuple[str | None, RunResult]] = []
    for text in script["messages"]:
        turn = await chats.receive("conversation", text, variables=script["variables"])
        turns.append((text, turn.run))
    return turns


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
