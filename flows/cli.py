"""The ``cxml`` command: check and format CXML documents (routing and simulation to come).

It lives in the top layer because it will reach every layer.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import cxml

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
    return parser


# "<!--" as UTF-8 (and ASCII-compatible encodings) and as UTF-16 either way round.
_COMMENT_MARKS = tuple("<!--".encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be"))


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


if __name__ == "__main__":
    raise SystemExit(main())
