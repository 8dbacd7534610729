"""``cxml flow validate`` and ``cxml flow run`` on real files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxml import CxmlError
from flows import Caller
from flows._cli_flows import _script
from flows.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "examples" / "ai_flow.json")
SCRIPT = str(ROOT / "examples" / "ai_flow_script.yaml")


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def write(tmp_path: Path, name: str, data: Any) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def test_validate_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "flow", "validate", EXAMPLE) == (0, f"{EXAMPLE}: ok\n", "")


def test_validate_reports_every_issue_and_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    actions = [{"type": "talk", "option": {"txt": "x"}},
               {"type": "goto", "option": {"target_id": "nowhere"}}]  # fmt: skip
    bad = write(tmp_path, "bad.json", actions)
    status, out, _ = cli(capsys, "flow", "validate", bad)
    assert status == 1
    assert f"{bad}: error UNKNOWN_OPTION $[0].option.txt" in out
    assert f"{bad}: error DANGLING_TARGET $[1].option.target_id" in out


def test_validate_yaml_and_media(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    flow = write(tmp_path, "chat.yaml", "actions:\n  - type: talk\n    option: {text: hi}\n")
    assert cli(capsys, "flow", "validate", flow)[0] == 0
    status, out, _ = cli(capsys, "flow", "validate", "--media", "non_rtc", flow)
    assert status == 1
    assert "MEDIA_MISMATCH" in out


def test_validate_unreadable_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.json", "{not json")
    status, _, err = cli(capsys, "flow", "validate", broken, str(tmp_path / "missing.json"))
    assert status == 1
    assert "INVALID_JSON" in err
    assert "missing.json" in err


def test_run_the_example_prints_its_trace(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, "flow", "run", EXAMPLE, "--script", SCRIPT)
    lines = out.splitlines()
    assert status == 0
    assert lines[-1] == "-- hangup after 12 step(s)"
    assert any('tool_call    name="set_variables"' in line for line in lines)
    assert 'text="Thank you. The caller booked a table for two at eight."' in out


def test_run_a_conversation(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    flow = write(tmp_path, "chat.json", [{"type": "ai_talk", "option": {"initial_prompt": "Hi"}}])
    script = write(tmp_path, "s.json", {"engine": ["One", "Two"], "messages": ["a", "b"]})
    status, out, _ = cli(capsys, "flow", "run", flow, "--script", script)
    assert status == 0
    assert out.count("reply        session=") == 2
    assert "> b" in out
    assert 'text="Two"' in out


def test_run_fails_on_a_failed_run_and_on_bad_scripts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    flow = write(tmp_path, "f.json", [{"type": "talk", "option": {"text": "${nobody}"}}])
    status, out, _ = cli(capsys, "flow", "run", flow, "--strict")
    assert status == 1
    assert "UNKNOWN_VARIABLE" in out
    scripts: list[object] = [{"engine": [], "surprise": 1}, {"caller": {"says": "not a list"}},
                             {"at": "yesterday"}, {"assistants": {"a": {}}}, [1]]  # fmt: skip
    for script in scripts:
        status, _, err = cli(
            capsys, "flow", "run", flow, "--script", write(tmp_path, "s.json", script)
        )
        assert status == 1
        assert "BAD_SCRIPT" in err


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
_KEYS = st.sampled_from(["engine", "caller", "variables", "media", "at", "assistants", "messages"])


@given(st.dictionaries(_KEYS, _JSON, max_size=4) | _JSON)
def test_a_script_is_read_or_refused_with_our_error(data: object) -> None:
    try:
        script = _script(data)
    except CxmlError:
        return
    assert isinstance(script["caller"], Caller)
