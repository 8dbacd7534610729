"""``cxml graph [FILE]``: a PBX configuration or a flow as a diagram (Mermaid, DOT or SVG)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from cxml import CxmlError
from cxml._data import DataError, load_data_file

from ._diagram import FORMATS, render_graph
from ._flow import FlowError, load_flow
from ._graph import graph as flow_graph
from .routing import EXAMPLE_PBX, PbxConfigError, load_pbx
from .routing import graph as pbx_graph
from .routing._config import describe

__all__ = ["add_graph_command"]


def add_graph_command(commands: Any) -> None:
    """Add ``graph`` to the ``cxml`` parser's subcommands."""
    command = commands.add_parser(
        "graph",
        help="draw a PBX configuration or a flow (Mermaid, DOT or SVG)",
        description="Print the routing graph of a PBX configuration (the example PBX "
        "shipped with cxmlflow without FILE) or the graph of a flow (a file with actions). "
        "Mermaid renders on GitHub and GitLab; SVG needs Graphviz's dot program. Exit 1 if "
        "the file has problems, 2 for usage errors and a missing Graphviz.",
    )
    command.add_argument("file", nargs="?", metavar="FILE", help="PBX configuration or flow")
    command.add_argument("--format", choices=FORMATS, default="mermaid", help="default mermaid")
    command.add_argument(
        "--at", metavar="ISO-TIME", help="show whether each business-hours schedule is open then"
    )
    command.set_defaults(run=_graph)


def _flow_data(path: Path) -> object | None:
    """What a flow file (JSON or YAML) holds: a list of actions, or an object with
    ``actions``; None for anything else, which is read as a PBX configuration."""
    try:
        data = load_data_file(path)
    except DataError:
        return None  # load_pbx reports what is wrong with it
    is_flow = isinstance(data, list) or (isinstance(data, dict) and "actions" in data)
    return data if is_flow else None


def _graph(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    path = Path(args.file) if args.file else None
    try:
        data = _flow_data(path) if path is not None else None
        if data is not None:
            if args.at is not None:
                print("--at: only a PBX configuration has business hours", file=err)
                return 2
            try:
                drawn = flow_graph(load_flow(data))
            except FlowError as exc:
                for issue in exc.issues:
                    print(f"{path}: {issue.severity} {issue.code} {issue.path} {issue.message}",
                          file=err)  # fmt: skip
                return 1
        else:
            try:
                pbx = load_pbx(path or EXAMPLE_PBX)
            except PbxConfigError as exc:
                for issue in exc.issues:
                    where = "" if path is None or issue.path == str(path) else f"{path}: "
                    print(where + describe(issue), file=err)
                return 1
            at = None
            if args.at is not None:
                try:
                    at = dt.datetime.fromisoformat(args.at)
                except ValueError:
                    print(f"--at: {args.at!r} is not an ISO time", file=err)
                    return 2
                if at.tzinfo is None:  # a bare local time means the PBX's own zone
                    at = at.replace(tzinfo=ZoneInfo(pbx.timezone))
            drawn = pbx_graph(pbx, at)
        out.write(render_graph(drawn, args.format))
    except CxmlError as exc:  # GraphvizError: not installed, or it failed
        print(f"cxml graph: {exc.message}", file=err)
        return 2
    return 0
