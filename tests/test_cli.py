"""The cxml command, run as a user would: a real process, real files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import main

EXAMPLE = Path(__file__).parent.parent / "examples" / "welcome.xml"
BAD = """<Response>
  <Dial timeout="soon">
    <Number>call me</Number>
  </Dial>
  <Hangup/>
  <Say>late</Say>
</Response>
"""


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        check=False,
    )


def test_validate_the_bundled_example() -> None:
    done = _run("validate", str(EXAMPLE))
    assert (done.returncode, done.stdout) == (0, f"{EXAMPLE}: ok\n")


def test_validate_reports_every_issue_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text(BAD)
    done = _run("validate", str(bad), str(EXAMPLE))
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{bad}:2: error 12200 timeout='soon' is not an integer (/Response/Dial[1]/@timeout)",
        f"{bad}:3: error 13223 'call me' is neither an E.164 number nor an extension "
        "(/Response/Dial[1]/Number[1]/text())",
        f"{bad}:6: warning 12200 <Say> never runs: it follows <Hangup> (/Response/Say[1])",
        f"{EXAMPLE}: ok",
    ]


def test_warnings_fail_only_when_strict(tmp_path: Path) -> None:
    doc = tmp_path / "warn.xml"
    doc.write_text("<Response><Hangup/><Say>late</Say></Response>")
    assert main(["validate", str(doc)]) == 0
    assert main(["validate", "--strict", str(doc)]) == 1


def test_validate_reads_stdin_and_reports_unreadable_files(tmp_path: Path) -> None:
    done = _run("validate", "-", stdin="<Response><Say>x</Response>")
    assert done.returncode == 1
    assert done.stdout.startswith("-:1: error 12100 not well-formed")
    missing = tmp_path / "missing.xml"
    done = _run("validate", str(missing))
    assert done.returncode == 1
    assert str(missing) in done.stderr


def test_fmt_prints_canonical_form_and_check_agrees(tmp_path: Path) -> None:
    doc = tmp_path / "doc.xml"
    doc.write_text("<Response><Say language='en-GB' voice='woman'>Hi &amp; bye</Say></Response>")
    done = _run("fmt", str(doc))
    assert done.returncode == 0
    assert done.stdout == (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response>\n'
        '  <Say voice="woman" language="en-GB">Hi &amp; bye</Say>\n</Response>\n'
    )
    assert _run("fmt", "--check", str(doc)).returncode == 1
    assert _run("fmt", "--write", str(doc)).returncode == 0
    assert doc.read_text() == done.stdout
    assert _run("fmt", "--check", str(doc)).returncode == 0
    assert _run("fmt", "--check", str(EXAMPLE)).returncode == 0


def test_fmt_keeps_comments_unless_told(tmp_path: Path) -> None:
    doc = tmp_path / "doc.xml"
    original = "<Response><!-- why --><Hangup/></Response>"
    doc.write_text(original)
    done = _run("fmt", "--write", str(doc))
    assert done.returncode == 1
    assert "--drop-comments" in done.stderr
    assert doc.read_text() == original


def test_fmt_reports_parse_errors_with_code_and_line(tmp_path: Path) -> None:
    doc = tmp_path / "doc.xml"
    doc.write_text("<Response>\n<Say>\n</Response>")
    done = _run("fmt", str(doc))
    assert done.returncode == 1
    assert done.stderr.startswith(f"{doc}:3: error 12100 ")


def test_usage_errors_exit_2() -> None:
    assert _run().returncode == 2
    with pytest.raises(SystemExit) as info:
        main(["nonsense"])
    assert info.value.code == 2
