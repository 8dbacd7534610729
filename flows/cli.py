"""The ``cxml`` command: route and simulate calls through a PBX configuration; check and format
CXML; validate and run flows.

It lives in the top layer because it reaches every layer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import secrets
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import cxml
from cxml._data import DataError, load_data_file

from ._cli_flows import add_flow_commands
from ._cli_graph import add_graph_command
from ._diagram import sequence_diagram
from .routing import EXAMPLE_PBX, PbxConfigError, RedisStore, ResourceInUseError, Router, load_pbx
from .routing._config import describe

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 problems found, 2 usage)."""
    args = _parser().parse_args(argv)
    try:
        status: int = args.run(args, sys.stdout, sys.stderr)
    except BrokenPipeError:  # e.g. piped into head
        return 0
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cxml", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    route = commands.add_parser(
        "route",
        help="print the CXML a PBX answers a call with",
        description="Route one call through a PBX configuration and print the CXML. With "
        "--digits, also answer the menu the call reaches and print what follows. Without "
        "CONFIG, the example PBX shipped with cxmlflow is used.",
    )
    route.add_argument("config", nargs="?", metavar="CONFIG", help="PBX configuration (YAML/JSON)")
    _call_arguments(route)
    route.add_argument("--digits", metavar="D", help="keys pressed at the menu, if one answers")
    route.set_defaults(run=_route)

    simulate = commands.add_parser(
        "simulate",
        help="run a whole call offline and print what happens",
        description="Run one call through a PBX configuration (or the voice application at an "
        "http(s) URL) the way the platform would, on a simulated clock, and print the "
        "transcript. --scenario says who answers and what the caller presses (see "
        "docs/testing.md). Without APP, the example PBX shipped with cxmlflow is used. Exit 1 "
        "if the call had an error.",
    )
    simulate.add_argument(
        "app", nargs="?", metavar="APP", help="PBX configuration (YAML/JSON) or http(s) URL"
    )
    _call_arguments(simulate)
    simulate.add_argument("--scenario", metavar="FILE", help="the scenario (YAML/JSON)")
    simulate.add_argument("--token", metavar="KEY", help="Bearer token for a URL application")
    simulate.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="URL",
        help="another origin a URL application may send the call to (repeatable)",
    )
    simulate.add_argument(
        "--connect-streams",
        action="store_true",
        help="open real WebSockets for <Connect><Stream> (default: an offline peer that "
        "takes the caller's audio and hangs up)",
    )
    simulate.add_argument(
        "--format",
        choices=("text", "mermaid"),
        default="text",
        help="text: the transcript (default); mermaid: a sequence diagram",
    )
    simulate.set_defaults(run=_simulate)

    check_config = commands.add_parser(
        "check",
        help="report every problem in a PBX configuration",
        description="Print each problem as path: message; exit 1 if there is any.",
    )
    check_config.add_argument("config", metavar="CONFIG", help="PBX configuration (YAML/JSON)")
    check_config.add_argument(
        "--remove",
        action="append",
        default=[],
        type=_resource,
        metavar="KIND/ID",
        help="whether the resource can be deleted: exit 1 listing every reference that still "
        "points at it (repeatable: each is removed from what the previous ones left)",
    )
    check_config.set_defaults(run=_check)

    check = commands.add_parser(
        "validate",
        help="report every problem in CXML files",
        description="Print file:line: severity code message (path) for every issue; "
        "exit 1 when there is an error (or, with --strict, a warning).",
    )
    check.add_argument("files", nargs="+", metavar="FILE", help="CXML file, or - for stdin")
    check.add_argument("--strict", action="store_true", help="warnings fail too")
    check.add_argument("--max-bytes", type=int, default=cxml.MAX_BYTES, metavar="N")
    check.set_defaults(run=_validate)

    fmt = commands.add_parser(
        "fmt",
        help="print a CXML file in canonical pretty form",
        description="Parse FILE and print it with the model's attribute order and two-space "
        "indentation. Exit 1 if it cannot be parsed (or, with --check, if it would change).",
    )
    fmt.add_argument("file", metavar="FILE", help="CXML file, or - for stdin")
    fmt.add_argument("--check", action="store_true", help="print nothing; exit 1 if not formatted")
    fmt.add_argument("--write", action="store_true", help="rewrite FILE in place")
    fmt.add_argument(
        "--drop-comments",
        action="store_true",
        help="format a file with comments (they carry no meaning and are not kept)",
    )
    fmt.add_argument("--max-bytes", type=int, default=cxml.MAX_BYTES, metavar="N")
    fmt.set_defaults(run=_fmt)

    serve = commands.add_parser(
        "serve",
        help="serve a PBX to the platform under uvicorn",
        description="Serve a PBX configuration to the platform under uvicorn: the voice, "
        "session-update and CDR webhooks (/voice, /session, /cdr), the media WebSocket of its "
        "AI streams (/media), the probes (/healthz, /readyz); see docs/serve.md. Without PBX, "
        "the example PBX shipped with cxmlflow is served. The secrets come from the "
        "environment only: CXMLFLOW_SECRET signs callback state and media tickets, "
        "CXMLFLOW_WEBHOOK_TOKEN is the bearer token the platform sends, CXMLFLOW_ADMIN_TOKEN "
        "(optional) enables POST /admin/reload. SIGHUP reloads the configuration. Exit 1 if "
        "the configuration has problems, 2 if a secret is missing.",
    )
    serve.add_argument("config", nargs="?", metavar="PBX", help="PBX configuration (YAML/JSON)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to bind (default 8080)")
    serve.add_argument(
        "--base-url",
        metavar="URL",
        help="the public URL of /voice, as the platform calls it (default http://HOST:PORT/voice)",
    )
    serve.add_argument(
        "--redis", metavar="URL", help="keep call state in Redis (default: in memory)"
    )
    serve.add_argument(
        "--workers", type=int, default=1, metavar="N", help="uvicorn worker processes"
    )
    serve.add_argument(
        "--dev",
        action="store_true",
        help="local development: a random secret if CXMLFLOW_SECRET is unset, and the "
        "webhooks without a token if CXMLFLOW_WEBHOOK_TOKEN is unset",
    )
    serve.add_argument(
        "--metrics",
        action="store_true",
        help="serve Prometheus counters at /metrics (needs prometheus-client)",
    )
    serve.set_defaults(run=_serve)
    add_flow_commands(commands)
    add_graph_command(commands)
    return parser


def _call_arguments(command: argparse.ArgumentParser) -> None:
    """The call that ``route`` and ``simulate`` take: who dials what, how, and when."""
    command.add_argument("--to", required=True, metavar="N", help="the dialled number")
    command.add_argument("--from", dest="caller", required=True, metavar="N", help="the caller")
    command.add_argument(
        "--direction",
        default="inbound",
        choices=("inbound", "subscriber", "application", "outbound-api"),
        help="inbound: an outside caller (default); subscriber: a PBX user",
    )
    command.add_argument("--at", metavar="ISO-TIME", help="when the call happens (default: now)")


# "<!--" as UTF-8 (and ASCII-compatible encodings) and as UTF-16 either way round.
_COMMENT_MARKS = tuple("<!--".encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be"))


def _router(args: argparse.Namespace, err: TextIO) -> Router | int:
    """The router ``cxml route`` and ``cxml simulate`` use, or an exit status."""
    config = getattr(args, "config", None) or getattr(args, "app", None)
    try:
        pbx = load_pbx(config or EXAMPLE_PBX)
    except PbxConfigError as exc:
        for issue in exc.issues:
            print(_config_issue(config, issue), file=err)
        return 1
    at = dt.datetime.now(dt.UTC)
    if args.at is not None:  # an empty --at is an error, not "now"
        try:
            at = dt.datetime.fromisoformat(args.at)
        except ValueError:
            print(f"--at: {args.at!r} is not an ISO time", file=err)
            return 2
        if at.tzinfo is None:  # a bare local time means the PBX's own zone
            at = at.replace(tzinfo=ZoneInfo(pbx.timezone))
    return Router(
        pbx, base_url="https://pbx.example.com/voice", secret="cxml route: no real calls",
        clock=lambda: at,
    )  # fmt: skip


def _route(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    router = _router(args, err)
    if isinstance(router, int):
        return router
    body = {"CallSid": "CA-cli", "From": args.caller, "To": args.to, "Direction": args.direction}
    request = cxml.CallRequest.from_payload(body)
    doc = router.handle(request)
    out.write(cxml.render(doc, pretty=True))
    gathers = [v for v in doc.children if isinstance(v, cxml.Gather) and v.action]
    if args.digits is not None and gathers:
        out.write(f"\n<!-- after pressing {args.digits} -->\n")
        callback = cxml.CallRequest.from_payload(
            {**body, "Digits": args.digits}, url=gathers[0].action
        )
        out.write(cxml.render(router.handle(callback), pretty=True))
    return 0


def _config_issue(config: str | None, issue: cxml.Issue) -> str:
    """``CONFIG: path: message``; a problem with the file itself (unreadable, not YAML) already
    names it, so it is not named twice."""
    if config is None or issue.path == str(Path(config)):  # the example PBX, or the file
        return describe(issue)
    return f"{config}: {describe(issue)}"


def _offline_peer(script: cxml.StreamScript) -> cxml.StreamPeers:
    """A stream peer that takes all the caller's audio and keys, then hangs up: what a stream
    does without a network, the same on every run."""
    expected = math.ceil(len(script.caller_audio) / 160) + len(script.dtmf)
    counted = [0]

    def reply(frame: Mapping[str, Any]) -> list[str | None]:
        if frame["event"] in ("media", "dtmf"):
            counted[0] += 1
        done = (frame["event"] == "start" and expected == 0) or counted[0] == expected
        return [None] if done and frame["event"] != "connected" else []

    return cxml.StreamPeers(reply)


def _simulate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    scenario = cxml.Scenario()
    if args.scenario:
        try:
            data = load_data_file(args.scenario, default_format="yaml")
            scenario = cxml.Scenario.from_mapping(data if data is not None else {})  # type: ignore[arg-type]
        except DataError as exc:
            at = f" (at {exc.path})" if exc.path and exc.path != "$" else ""
            print(f"{exc.location}: error {exc.code}: {exc.message}{at}", file=err)
            return 1
        except cxml.ScenarioError as exc:
            print(f"{args.scenario}: {exc.path}: {exc.reason}", file=err)
            return 1
    app: str | Callable[[cxml.CallRequest], cxml.Response]
    if args.app and args.app.startswith(("http://", "https://")):
        app = args.app
    else:
        router = _router(args, err)
        if isinstance(router, int):
            return router
        app = router.handle
    body = {"CallSid": "CA-cli", "From": args.caller, "To": args.to, "Direction": args.direction}
    connector = None if args.connect_streams else _offline_peer(scenario.stream)
    try:
        trace = cxml.interpret(
            app,
            body,
            scenario,
            token=args.token,
            origins=args.allow_origin,
            connector=connector,
        )
    except cxml.CxmlError as exc:
        print(f"error {exc.code}: {exc.message}", file=err)
        return 2
    out.write(sequence_diagram(trace) if args.format == "mermaid" else trace.transcript())
    return 1 if trace.errors else 0


def _check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        pbx = load_pbx(args.config)
    except PbxConfigError as exc:
        for issue in exc.issues:
            print(_config_issue(args.config, issue), file=out)
        return 1
    for kind, ident in args.remove:
        try:
            pbx = pbx.without(kind, ident)
        except ResourceInUseError as exc:
            for path in exc.references:
                print(f"{args.config}: {path}: still points at {kind}/{ident}", file=out)
            print(f"{args.config}: {kind}/{ident} cannot be removed ({exc.code})", file=out)
            return 1
        except cxml.CxmlError as exc:
            print(f"{args.config}: error {exc.code} {exc.message}", file=err)
            return 1
        print(f"{args.config}: {kind}/{ident} can be removed", file=out)
    if args.remove:
        return 0
    counts = {name: len(getattr(pbx, name)) for name in ("dids", "extensions", "ai_assistants")}
    print(f"{args.config}: ok ({', '.join(f'{n} {k}' for k, n in counts.items())})", file=out)
    return 0


def _resource(text: str) -> tuple[str, str]:
    """``kind/id`` of ``--remove`` (the id may hold further slashes)."""
    kind, slash, ident = text.partition("/")
    if not slash or not kind or not ident:
        raise argparse.ArgumentTypeError(f"{text!r} is not kind/id (ai_assistant/receptionist)")
    return kind, ident


def _read(name: str) -> bytes:
    return sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()


def _validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    failed = False
    for name in args.files:
        try:
            data = _read(name)
        except OSError as exc:
            print(f"{name}: error {exc.strerror or exc}", file=err)
            failed = True
            continue
        issues = cxml.validate(data, max_bytes=args.max_bytes)
        for issue in issues:
            where = f"{name}:{issue.line}" if issue.line else name
            print(
                f"{where}: {issue.severity} {issue.code} {issue.message} ({issue.path})", file=out
            )
            failed = failed or issue.severity == "error" or args.strict
        if not issues:
            print(f"{name}: ok", file=out)
    return 1 if failed else 0


def _fmt(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        data = _read(args.file)
        doc = cxml.parse(data, max_bytes=args.max_bytes)
    except OSError as exc:
        print(f"{args.file}: error {exc.strerror or exc}", file=err)
        return 1
    except cxml.CxmlParseError as exc:
        where = f"{args.file}:{exc.line}" if exc.line else args.file
        print(f"{where}: error {exc.code} {exc.message}", file=err)
        return 1
    if not args.drop_comments and any(mark in data for mark in _COMMENT_MARKS):
        print(
            f"{args.file}: error: has comments, which formatting drops; "
            "pass --drop-comments to format it anyway",
            file=err,
        )
        return 1
    text = cxml.render(doc, pretty=True)
    if args.check:
        return 0 if text.encode() == data else 1
    if args.write and args.file != "-":
        Path(args.file).write_text(text, encoding="utf-8")
    else:
        out.write(text)
    return 0


def _serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        import uvicorn

        from . import server
    except ImportError as exc:
        print(f"cxml serve needs {exc.name}: pip install 'cxmlflow[serve]'", file=err)
        return 2
    secret = os.environ.get(server.ENV_SECRET) or None
    token = os.environ.get(server.ENV_TOKEN) or None
    if not args.dev:
        missing = [
            f"{name} ({what})"
            for name, what, value in (
                (server.ENV_SECRET, "the router's signing secret", secret),
                (server.ENV_TOKEN, "the platform's requests API key", token),
            )
            if value is None
        ]
        if missing:
            print(
                f"cxml serve: set {' and '.join(missing)} in the environment, "
                "or pass --dev for local development",
                file=err,
            )
            return 2
    if args.workers < 1:
        print("--workers: must be at least 1", file=err)
        return 2
    if args.metrics:
        try:
            import prometheus_client  # noqa: F401
        except ImportError:
            print("--metrics needs prometheus-client: pip install 'cxmlflow[metrics]'", file=err)
            return 2
    if secret is None:
        secret = secrets.token_urlsafe(32)
        print(
            f"cxml serve --dev: {server.ENV_SECRET} is unset, callbacks are signed with a "
            "random secret made for this run",
            file=err,
        )
    if token is None:
        print(
            f"cxml serve --dev: {server.ENV_TOKEN} is unset, the webhooks are served without "
            "a token",
            file=err,
        )
    host = f"[{args.host}]" if ":" in args.host else args.host
    base_url = args.base_url or f"http://{host}:{args.port}/voice"
    config = Path(args.config).resolve() if args.config else EXAMPLE_PBX
    admin_token = os.environ.get(server.ENV_ADMIN_TOKEN) or None
    try:
        store = RedisStore.from_url(args.redis) if args.redis else None
        app = server.create_app(
            config,
            base_url=base_url,
            secret=secret,
            store=store,
            token=token,
            open_routes=() if token else server.AUTHENTICATED_ROUTES,
            admin_token=admin_token,
            metrics=args.metrics,
        )
    except PbxConfigError as exc:
        for issue in exc.issues:
            print(_config_issue(args.config, issue), file=err)
        return 1
    except ImportError as exc:
        print(f"--redis needs {exc.name}: pip install 'cxmlflow[redis]'", file=err)
        return 2
    except (ValueError, cxml.CxmlError) as exc:  # a base URL the router or bridge refuses
        print(f"cxml serve: {exc}", file=err)
        return 2
    print(f"cxml serve: {args.config or 'the example PBX'} at {base_url}", file=err)
    # The app logs a line per request itself; uvicorn's access log would add the query,
    # which carries the signed call state.
    options: dict[str, Any] = {"log_config": server.log_config(), "access_log": False}
    if args.workers == 1:
        uvicorn.run(app, host=args.host, port=args.port, **options)
        return 0
    # Each worker builds its own app: tell it what to build (secrets included, in the
    # environment the worker processes inherit, never on a command line).
    os.environ[server.ENV_SECRET] = secret
    os.environ[server.ENV_BASE_URL] = base_url
    os.environ[server.ENV_DEV] = "1" if args.dev else ""
    os.environ[server.ENV_CONFIG] = str(config)
    os.environ[server.ENV_REDIS] = args.redis or ""
    os.environ[server.ENV_METRICS] = "1" if args.metrics else ""
    os.environ[server.ENV_WORKERS] = str(args.workers)
    uvicorn.run(
        "flows.server:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        **options,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
