"""The cxml command, run as a user would: a real process, real files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

import cxml
from cxml.testing import assert_cxml_equal
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


# --- cxml check and cxml route --------------------------------------------------------------

#: One problem of each family the loader reports: unknown key, wrong value, range, time, zone,
#: a YAML 1.1 time read as a number, a missing field, destinations that do not exist.
BROKEN_PBX = """\
colour: blue
dids:
  "4155550100": {destination: ring_group/support}
extensions:
  "1001": {type: user, forward_to: "1002"}
ring_groups:
  sales: {members: ["1001", "1001"], timeout: 2, strategy: random}
business_hours:
  main:
    timezone: europe/london
    schedule: {monday: ["09:00-25:00"], tuesday: [[09:00, 17:00]]}
    open: ivr_menu/main
"""
BROKEN_PATHS = [
    "$.colour",
    "dids.4155550100",
    "extensions.1001.forward_to",
    "ring_groups.sales.members[1]",
    "ring_groups.sales.strategy",
    "ring_groups.sales.timeout",
    "business_hours.main.closed",
    "business_hours.main.timezone",
    "business_hours.main.schedule.monday[0]",
    "business_hours.main.schedule.tuesday[0]",
    "dids.4155550100.destination",
    "business_hours.main.open",
]
#: A small PBX in London: a DID through Monday office hours to a user, otherwise a forward.
LONDON_YAML = """\
timezone: Europe/London
dids:
  "+441610000001": {destination: business_hours/office}
extensions:
  "1001": {type: user, timeout: 25}
  "1002": {type: forward, forward_to: "+442070000000"}
business_hours:
  office:
    schedule: {monday: ["09:00-17:00"]}
    open: extension/1001
    closed: extension/1002
"""
LONDON = {
    "timezone": "Europe/London",
    "dids": {"+441610000001": {"destination": "business_hours/office"}},
    "extensions": {
        "1001": {"type": "user", "timeout": 25},
        "1002": {"type": "forward", "forward_to": "+442070000000"},
    },
    "business_hours": {
        "office": {
            "schedule": {"monday": ["09:00-17:00"]},
            "open": "extension/1001",
            "closed": "extension/1002",
        }
    },
}
IN_HOURS = '<Response><Dial timeout="25"><Number>1001</Number></Dial></Response>'
AFTER_HOURS = '<Response><Dial timeout="30"><Number>+442070000000</Number></Dial></Response>'
#: The example PBX's number, and what its menu is, in hours.
EXAMPLE_DID = "+14155550100"
MONDAY_MORNING_NY = "2026-11-23T10:30"


def _documents(stdout: str) -> list[cxml.Response]:
    """The CXML documents ``cxml route`` printed (two with --digits), each valid."""
    texts = re.split(r"\n<!-- after pressing [^>]* -->\n", stdout)
    docs = []
    for text in texts:
        assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<Response>'), text
        assert cxml.validate(text) == [], text
        docs.append(cxml.parse(text))
    return docs


def _without_actions(doc: cxml.Response) -> str:
    root = etree.fromstring(cxml.render(doc).encode())
    for element in root.iter():
        element.attrib.pop("action", None)
    return etree.tostring(root, encoding="unicode")


def _config(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_check_reports_every_problem_with_its_path_and_exits_1(tmp_path: Path) -> None:
    config = _config(tmp_path, "broken.yaml", BROKEN_PBX)
    done = _run("check", str(config))
    assert done.returncode == 1
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    prefix = f"{config}: "
    assert all(line.startswith(prefix) for line in lines), lines
    printed = [line.removeprefix(prefix).partition(": ")[0] for line in lines]
    assert printed == BROKEN_PATHS
    assert all(line.removeprefix(prefix).partition(": ")[2] for line in lines)  # a message each


def test_check_a_good_config_prints_a_summary_and_exits_0(tmp_path: Path) -> None:
    for config in (
        _config(tmp_path, "london.yaml", LONDON_YAML),
        _config(tmp_path, "london.json", json.dumps(LONDON)),
    ):
        done = _run("check", str(config))
        assert (done.returncode, done.stderr) == (0, "")
        assert done.stdout == f"{config}: ok (1 dids, 2 extensions, 0 ai_assistants)\n"


def test_check_reports_a_missing_or_unreadable_file_once(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    done = _run("check", str(missing))
    assert done.returncode == 1
    assert done.stdout == f"{missing}: No such file or directory\n"
    bad_yaml = _config(tmp_path, "bad.yaml", "dids: [\n")
    done = _run("check", str(bad_yaml))
    assert done.returncode == 1
    assert done.stdout.startswith(f"{bad_yaml}:2: not valid YAML: ")
    bad_json = _config(tmp_path, "bad.json", '{"dids": ')
    done = _run("check", str(bad_json))
    assert done.returncode == 1
    assert done.stdout.startswith(f"{bad_json}:1: not valid JSON: ")


@pytest.mark.parametrize("name", ["pbx.yaml", "pbx.json"])
def test_route_reads_a_config_file_in_yaml_or_json(tmp_path: Path, name: str) -> None:
    text = LONDON_YAML if name.endswith(".yaml") else json.dumps(LONDON, indent=2)
    config = _config(tmp_path, name, text)
    common = ("route", str(config), "--to", "+441610000001", "--from", "+12125551234")
    # A bare --at is the PBX's own time: 10:00 in London, in hours.
    done = _run(*common, "--at", "2026-11-23T10:00")
    assert (done.returncode, done.stderr) == (0, "")
    (doc,) = _documents(done.stdout)
    assert_cxml_equal(doc, IN_HOURS)
    # With an offset, the instant counts: 10:00 in Los Angeles is 18:00 in London, closed.
    done = _run(*common, "--at", "2026-11-23T10:00-08:00")
    (doc,) = _documents(done.stdout)
    assert_cxml_equal(doc, AFTER_HOURS)
    # 08:59:59 UTC is 08:59:59 in London in November: not open yet.
    done = _run(*common, "--at", "2026-11-23T08:59:59+00:00")
    (doc,) = _documents(done.stdout)
    assert_cxml_equal(doc, AFTER_HOURS)


def test_route_follows_the_direction(tmp_path: Path) -> None:
    config = _config(tmp_path, "pbx.yaml", LONDON_YAML)
    common = ("route", str(config), "--to", "1001", "--from", "1002")
    done = _run(*common, "--direction", "subscriber")
    (doc,) = _documents(done.stdout)
    assert_cxml_equal(doc, IN_HOURS)
    done = _run(*common)  # inbound by default: an outside caller reaches DIDs only
    (doc,) = _documents(done.stdout)
    assert_cxml_equal(
        doc,
        "<Response><Say>The number you have dialed is not in service.</Say><Hangup/></Response>",
    )


def test_route_with_a_broken_config_reports_it_and_exits_1(tmp_path: Path) -> None:
    config = _config(tmp_path, "broken.yaml", BROKEN_PBX)
    done = _run("route", str(config), "--to", "+441610000001", "--from", "+12125551234")
    assert (done.returncode, done.stdout) == (1, "")
    printed = [
        line.removeprefix(f"{config}: ").partition(": ")[0] for line in done.stderr.splitlines()
    ]
    assert printed == BROKEN_PATHS
    missing = tmp_path / "missing.yaml"
    done = _run("route", str(missing), "--to", "+441610000001", "--from", "+12125551234")
    assert (done.returncode, done.stderr) == (1, f"{missing}: No such file or directory\n")


def test_route_the_example_pbx_now() -> None:
    """No CONFIG and no --at: the example PBX at the real time. In hours or not, it answers
    with one valid document: the menu or the after-hours assistant."""
    done = _run("route", "--to", EXAMPLE_DID, "--from", "+12125551234")
    assert (done.returncode, done.stderr) == (0, "")
    (doc,) = _documents(done.stdout)
    # the menu's Gather, or the assistant's Connect followed by the Redirect that carries on
    # the call when the stream ends
    kinds = [type(verb) for verb in doc.children]
    assert kinds in ([cxml.Gather], [cxml.Connect, cxml.Redirect]), kinds
    # with --digits, a call answered by the menu goes on; one answered by the assistant does not
    done = _run("route", "--to", EXAMPLE_DID, "--from", "+12125551234", "--digits", "0")
    assert (done.returncode, done.stderr) == (0, "")
    docs = _documents(done.stdout)
    assert len(docs) == (2 if isinstance(docs[0].children[0], cxml.Gather) else 1)


@pytest.mark.parametrize(
    ("digits", "after"),
    [
        ("1", '<Response><Dial timeout="20"><Number>1001</Number></Dial></Response>'),
        ("0", '<Response><Dial timeout="30"><Number>+12125550000</Number></Dial></Response>'),
        (
            "9",
            '<Response><Gather numDigits="1" timeout="5" actionOnEmptyResult="true">'
            "<Say>Sorry, that is not a valid option.</Say>"
            '<Say voice="Cloudonix-Neural:Zoe">Welcome to Example Corp. For sales press 1, for '
            "our AI agents press 2, for the operator press 0.</Say></Gather></Response>",
        ),
    ],
    ids=["sales", "operator", "invalid"],
)
def test_route_digits_answers_the_menu_through_its_signed_callback(digits: str, after: str) -> None:
    done = _run(
        "route", "--to", EXAMPLE_DID, "--from", "+12125551234",
        "--at", MONDAY_MORNING_NY, "--digits", digits,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    assert f"\n<!-- after pressing {digits} -->\n" in done.stdout
    menu, answer = _documents(done.stdout)
    gather = menu.children[0]
    assert isinstance(gather, cxml.Gather)
    assert gather.action is not None
    assert gather.action.startswith("https://pbx.example.com/voice?cxmlflow=")
    assert_cxml_equal(_without_actions(answer), after)


def test_route_digits_after_hours_prints_the_one_document() -> None:
    done = _run(
        "route", "--to", EXAMPLE_DID, "--from", "+12125551234",
        "--at", "2026-11-23T18:30", "--digits", "1",
    )  # fmt: skip
    assert done.returncode == 0
    assert "after pressing" not in done.stdout
    (doc,) = _documents(done.stdout)
    assert isinstance(doc.children[0], cxml.Connect)


@pytest.mark.parametrize("at", ["nope", "2026-13-01T10:00", "23/11/2026 10:30", ""])
def test_route_refuses_a_bad_at_with_exit_2(at: str) -> None:
    done = _run("route", "--to", EXAMPLE_DID, "--from", "+12125551234", "--at", at)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "--at" in done.stderr
