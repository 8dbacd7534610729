"""Hostile data files (issue 17, items 2, 3 and 5): every YAML or JSON file cxmlflow reads (PBX
configurations, flows, scenarios, flow-run scripts) goes through `cxml._data`, which refuses
alias bombs, duplicate keys, deep nesting and bytes that are not UTF-8 with its own error,
naming the file and where in it; the command line prints that error, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import cxml._data
from cxml import CxmlError
from cxml._data import DataError, check_size, load_data, load_data_file
from flows.cli import main
from flows.routing import PbxConfigError, load_pbx

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "examples" / "ai_flow.json"

#: The issue's 665-byte PBX: nine levels of nine aliases in a campaign's metadata expand to
#: 9**9 (387 million) values; PyYAML took 61 s and 4 GB, one more level exhausted memory.
BOMB_LEVELS = "".join(
    f"      l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10)
)
ALIAS_BOMB_PBX = f"""\
campaigns:
  c:
    destination: hangup
    caller_id: "+14155550100"
    metadata:
      l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]
{BOMB_LEVELS}"""


@pytest.fixture(params=["c", "python"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs on libyaml's parser and on PyYAML's pure-Python one (the fallback
    where libyaml is not installed)."""
    if request.param == "python":
        monkeypatch.setattr(cxml._data, "_LOADER", yaml.SafeLoader)
    else:
        assert yaml.__with_libyaml__, "the C loader is expected in the test environment"
        assert cxml._data._LOADER is yaml.CSafeLoader
    return str(request.param)


def refused(text: str | bytes, fmt: cxml._data.DataFormat = "yaml") -> DataError:
    with pytest.raises(DataError) as caught:
        load_data(text, format=fmt, source="f.yaml")
    return caught.value


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


# --- the reader --------------------------------------------------------------------------------


@pytest.mark.usefixtures("loader")
def test_yaml_reads_as_safe_load_does_for_plain_documents() -> None:
    text = """\
timezone: Europe/London   # a comment
dids:
  "+14155550100": {destination: hangup, status: active}
numbers: [1, -2, 0x10, 1.5, .inf, true, no, null, ~]
dates: [2026-12-25, 2026-12-25T10:00:00Z]
text: |
  two
  lines
quoted: "17:00"
"""
    assert load_data(text, format="yaml") == yaml.safe_load(text)


@pytest.mark.usefixtures("loader")
@pytest.mark.parametrize(
    ("text", "path", "line"),
    [
        ("a: &x 1\nb: *x\n", "$.a", 1),  # the anchor is refused before its alias is met
        ("a: [1, 2]\nb: *x\n", "$.b", 2),
        ("base: {a: 1}\nother:\n  <<: {b: 2}\n", "$.other", 3),
    ],
    ids=["anchor", "alias", "merge-key"],
)
def test_yaml_anchors_aliases_and_merge_keys_are_refused(text: str, path: str, line: int) -> None:
    error = refused(text)
    assert (error.code, error.path, error.line) == ("YAML_ALIAS", path, line)


@pytest.mark.usefixtures("loader")
def test_the_alias_bomb_is_refused_at_its_first_anchor_without_expanding() -> None:
    assert len(ALIAS_BOMB_PBX.encode()) < 1000
    error = refused(ALIAS_BOMB_PBX)
    assert (error.code, error.path, error.line) == ("YAML_ALIAS", "$.campaigns.c.metadata.l0", 6)


@pytest.mark.usefixtures("loader")
@pytest.mark.parametrize(
    ("text", "fmt", "path", "line"),
    [
        ('extensions:\n  "1001": {}\n  "1001": {type: forward, forward_to: "+19005550100"}\n',
         "yaml", "$.extensions.1001", 3),
        ("a:\n  b: {c: 1, c: 2}\n", "yaml", "$.a.b.c", 2),
        ('{"extensions": {"1001": {}, "1001": {"type": "forward"}}}', "json",
         "$.extensions.1001", None),
        ('[{"a": 1}, {"b": {"x": 1, "y": 2, "x": 3}}]', "json", "$[1].b.x", None),
    ],
)  # fmt: skip
def test_a_key_given_twice_is_refused_with_its_path(
    text: str, fmt: cxml._data.DataFormat, path: str, line: int | None
) -> None:
    error = refused(text, fmt)
    assert (error.code, error.path, error.line) == ("DUPLICATE_KEY", path, line)


@pytest.mark.usefixtures("loader")
@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("[" * 5000 + "]" * 5000, "yaml"),
        ("a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 200)), "yaml"),
        ("[" * 100_000 + "]" * 100_000, "json"),
        ('{"a":' * 500 + "1" + "}" * 500, "json"),
    ],
    ids=["yaml-flow", "yaml-block", "json-100000", "json-500"],
)
def test_deep_nesting_is_refused(text: str, fmt: cxml._data.DataFormat) -> None:
    assert refused(text, fmt).code == "TOO_DEEP"


@pytest.mark.usefixtures("loader")
def test_too_many_values_are_refused() -> None:
    error = refused("[" + "0, " * 200_001 + "0]")
    assert (error.code, error.path) == ("TOO_LARGE", "$[199999]")
    assert refused("[" + "0," * 200_001 + "0]", "json").code == "TOO_LARGE"


def test_python_data_that_shares_its_lists_runs_out_of_budget_not_memory() -> None:
    bomb: list[Any] = ["lol"]
    for _ in range(40):  # 2**40 values once expanded
        bomb = [bomb, bomb]
    with pytest.raises(DataError) as caught:
        check_size({"metadata": bomb})
    assert caught.value.code == "TOO_LARGE"
    looped: dict[str, Any] = {}
    looped["self"] = looped
    with pytest.raises(DataError) as caught:
        check_size(looped)
    assert caught.value.code == "TOO_DEEP"


@pytest.mark.usefixtures("loader")
@pytest.mark.parametrize(
    ("data", "line", "column"),
    [
        (b"a: 1\nb: caf\xe9\n", 2, 7),  # Latin-1
        ("a: 1\n".encode("utf-16"), 1, 1),
        (b"a: \xff\xfe", 1, 4),
        ("a: \ud800", 1, 4),  # a lone surrogate in text
    ],
    ids=["latin-1", "utf-16", "bad-bytes", "surrogate"],
)
def test_anything_but_utf8_is_refused_with_its_position(
    data: bytes | str, line: int, column: int
) -> None:
    error = refused(data)
    assert (error.code, error.line, error.column) == ("NOT_UTF8", line, column)


@pytest.mark.usefixtures("loader")
def test_a_utf8_byte_order_mark_is_allowed() -> None:
    assert load_data(b"\xef\xbb\xbfa: 1\n", format="yaml") == {"a": 1}
    assert load_data(b'\xef\xbb\xbf{"a": 1}', format="json") == {"a": 1}


@pytest.mark.usefixtures("loader")
@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("date: 2026-13-45\n", 1),
        ("a: 1\nbig: " + "9" * 5000 + "\n", 2),
        ("a: !!python/object/apply:os.system [ls]\n", 1),
        ("a: !!binary aGVsbG8=\n", 1),
        ("a: !!set {x, y}\n", 1),
        ("? [a, b]\n: 1\n", 1),
        ("a: 1\n---\nb: 2\n", 2),
        ("a: b: c\n", 1),
        ("a: \x07\n", 1),
    ],
    ids=["bad-date", "huge-int", "python-tag", "binary", "set", "list-key", "two-documents",
         "syntax", "control-character"],
)  # fmt: skip
def test_yaml_beyond_json_like_data_is_invalid_yaml_with_its_line(text: str, line: int) -> None:
    error = refused(text)
    assert (error.code, error.line) == ("INVALID_YAML", line)
    assert "unicode string" not in str(error)


def test_json_constants_and_huge_integers_are_invalid_json() -> None:
    assert refused("[NaN]", "json").code == "INVALID_JSON"
    assert refused('{"a": Infinity}', "json").code == "INVALID_JSON"
    assert refused("[" + "9" * 5000 + "]", "json").code == "INVALID_JSON"
    error = refused('{"a": 1,\n "b": }', "json")
    assert (error.code, error.line, error.column) == ("INVALID_JSON", 2, 7)


def test_a_file_is_read_as_bytes_with_a_size_cap(tmp_path: Path) -> None:
    path = write(tmp_path, "x.yaml", "a: [1, 2]\n")
    assert load_data_file(path) == {"a": [1, 2]}
    with pytest.raises(DataError) as caught:
        load_data_file(path, max_bytes=5)
    assert (caught.value.code, caught.value.source) == ("TOO_LARGE", str(path))


@pytest.mark.parametrize(
    ("name", "text"),
    [("x.yaml", ""), ("x.yaml", "\n\n"), ("x.yaml", "# only a comment\n"), ("x.json", " \n")],
)
def test_a_file_without_a_document_is_empty(tmp_path: Path, name: str, text: str) -> None:
    with pytest.raises(DataError) as caught:
        load_data_file(write(tmp_path, name, text))
    assert caught.value.code == "EMPTY_FILE"
    if name.endswith("yaml"):
        assert load_data(text, format="yaml") is None  # text, not a file: no document is None


@pytest.mark.parametrize(
    "path", ["nowhere.yaml", "bad\0name.yaml", "."], ids=["missing", "nul", "directory"]
)
def test_a_file_that_cannot_be_opened_is_unreadable(tmp_path: Path, path: str) -> None:
    with pytest.raises(DataError) as caught:
        load_data_file(tmp_path / path if path != "." else tmp_path)
    assert caught.value.code == "UNREADABLE_FILE"


# --- properties --------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    # JSON has no infinities (the reader refuses them) and NaN is not equal to itself.
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@pytest.mark.usefixtures("loader")
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200), st.sampled_from(["yaml", "json"]))
def test_the_reader_raises_only_its_own_error(data: bytes | str, fmt: Any) -> None:
    try:
        load_data(data, format=fmt)
    except DataError as exc:
        assert exc.code in {"NOT_UTF8", "INVALID_YAML", "INVALID_JSON", "YAML_ALIAS",
                            "DUPLICATE_KEY", "TOO_DEEP", "TOO_LARGE"}  # fmt: skip


@pytest.mark.usefixtures("loader")
@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_json_and_yaml_dumps_read_back_the_same(value: Any) -> None:
    assert load_data(json.dumps(value), format="json") == value
    assert load_data(yaml.safe_dump(value), format="yaml") == value


@pytest.mark.usefixtures("loader")
@settings(max_examples=200, deadline=None)
@given(
    st.text(st.sampled_from("[]{}:,-&*!<>#'\"\n ab1?|"), max_size=60),
)
def test_yaml_punctuation_soup_raises_only_the_readers_error(text: str) -> None:
    with contextlib.suppress(DataError):
        load_data(text, format="yaml")


# --- every reader, from the API and the command line --------------------------------------------

#: The issue's cases: (file name, content).
HOSTILE: dict[str, tuple[str, bytes]] = {
    "bad-date": ("x.yaml", b"date: 2026-13-45\n"),
    "yaml-5000-deep": ("x.yaml", b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n"),
    "json-100000-deep": ("x.json", b"[" * 100_000 + b"]" * 100_000),
    "not-utf8": ("x.yaml", b"name: caf\xe9\n"),
    "utf16": ("x.yaml", "name: x\n".encode("utf-16")),
    "empty": ("x.yaml", b""),
    "alias": ("x.yaml", ALIAS_BOMB_PBX.encode()),
    "duplicate-key": ("x.yaml", b"a: 1\na: 2\n"),
}
CODES = {
    "bad-date": "INVALID_YAML",
    "yaml-5000-deep": "TOO_DEEP",
    "json-100000-deep": "TOO_DEEP",
    "not-utf8": "NOT_UTF8",
    "utf16": "NOT_UTF8",
    "empty": "EMPTY_FILE",
    "alias": "YAML_ALIAS",
    "duplicate-key": "DUPLICATE_KEY",
}


@pytest.fixture(params=sorted(HOSTILE))
def hostile(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    name, data = HOSTILE[request.param]
    return write(tmp_path, name, data), CODES[request.param]


def test_load_pbx_reports_each_hostile_file_as_a_config_issue(hostile: tuple[Path, str]) -> None:
    path, code = hostile
    # The issue's bound: no such input costs 1 s of CPU or 100 MB. CPU time of this process,
    # not wall time, so that other jobs on the machine cannot fail it (it takes milliseconds).
    start = time.process_time()
    with pytest.raises(PbxConfigError) as caught:
        load_pbx(path)
    assert time.process_time() - start < 1.0
    (issue,) = caught.value.issues
    assert issue.code == code
    tracemalloc.start()
    try:
        with pytest.raises(PbxConfigError):
            load_pbx(path)
        assert tracemalloc.get_traced_memory()[1] < 100 * 2**20
    finally:
        tracemalloc.stop()


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out + err


def test_cxml_check_prints_each_hostile_file_s_error(
    capsys: pytest.CaptureFixture[str], hostile: tuple[Path, str]
) -> None:
    path, code = hostile
    status, shown = run_cli(capsys, "check", str(path))
    assert status == 1
    assert shown.startswith(str(path))
    assert shown.count("\n") == 1
    assert code != "EMPTY_FILE" or "empty" in shown


def test_cxml_flow_validate_prints_each_hostile_file_s_error(
    capsys: pytest.CaptureFixture[str], hostile: tuple[Path, str]
) -> None:
    path, code = hostile
    status, shown = run_cli(capsys, "flow", "validate", str(path))
    assert status == 1
    assert shown.startswith(f"{path}")
    assert f"error {code}: " in shown


def test_cxml_flow_run_prints_each_hostile_script_s_error(
    capsys: pytest.CaptureFixture[str], hostile: tuple[Path, str]
) -> None:
    path, code = hostile
    status, shown = run_cli(capsys, "flow", "run", str(FLOW), "--script", str(path))
    assert status == 1
    assert shown.startswith(f"{path}")
    assert f"error {code}: " in shown


def test_cxml_simulate_prints_each_hostile_scenario_s_error(
    capsys: pytest.CaptureFixture[str], hostile: tuple[Path, str]
) -> None:
    path, code = hostile
    argv = ("simulate", "--to", "+14155550100", "--from", "+12125550000", "--scenario", str(path))
    status, shown = run_cli(capsys, *argv)
    assert status == 1
    assert shown.startswith(f"{path}")
    assert f"error {code}: " in shown


def test_errors_name_the_file_line_and_column(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    flow = write(tmp_path, "flow.yaml", "actions:\n  - type: answer\n    id: a\n    id: b\n")
    status, shown = run_cli(capsys, "flow", "validate", str(flow))
    assert (status, shown) == (
        1, f"{flow}:4:5: error DUPLICATE_KEY: the key 'id' is given twice (at $.actions[0].id)\n"
    )  # fmt: skip
    config = write(tmp_path, "pbx.yaml", "dids: {}\ndids: {}\n")
    status, shown = run_cli(capsys, "check", str(config))
    assert (status, shown) == (1, f"{config}: dids:2: the key 'dids' is given twice (column 1)\n")


@pytest.mark.parametrize(
    "source",
    [None, [], 42, b"dids: {}"],
    ids=["none", "list", "number", "bytes"],
)
def test_load_pbx_refuses_what_is_neither_a_path_nor_a_mapping(source: Any) -> None:
    with pytest.raises(PbxConfigError) as caught:
        load_pbx(source)
    (issue,) = caught.value.issues
    assert (issue.code, issue.path) == ("WRONG_TYPE", "$")


def test_load_pbx_reports_a_path_with_a_nul_as_unreadable() -> None:
    with pytest.raises(PbxConfigError) as caught:
        load_pbx("pbx\0.yaml")
    (issue,) = caught.value.issues
    assert issue.code == "UNREADABLE_FILE"
    assert "\0" not in issue.path
    assert main(["check", "pbx\0.yaml"]) == 1


def test_a_null_document_is_not_a_configuration(tmp_path: Path) -> None:
    with pytest.raises(PbxConfigError) as caught:
        load_pbx(write(tmp_path, "pbx.yaml", "~\n"))
    assert [(i.code, i.path) for i in caught.value.issues] == [("WRONG_TYPE", "$")]


def test_the_alias_bomb_in_a_flow_s_webhook_data_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    levels = "".join(
        f"        l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10)
    )
    flow = write(
        tmp_path,
        "flow.yaml",
        "actions:\n  - type: webhook_send\n    option:\n      uri: https://example.com/\n"
        f"      data:\n        l0: &l0 [a, a, a, a, a, a, a, a, a]\n{levels}",
    )
    status, shown = run_cli(capsys, "flow", "validate", str(flow))
    assert status == 1
    assert "error YAML_ALIAS: " in shown
    assert "$.actions[0].option.data.l0" in shown


def test_a_mapping_bomb_handed_to_load_pbx_is_refused(tmp_path: Path) -> None:
    bomb: list[Any] = ["lol"]
    for _ in range(30):
        bomb = [bomb, bomb]
    campaign = {"destination": "hangup", "caller_id": "+14155550100", "metadata": {"x": bomb}}
    with pytest.raises(PbxConfigError) as caught:
        load_pbx({"campaigns": {"c": campaign}})
    assert [i.code for i in caught.value.issues] == ["TOO_LARGE"]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_load_pbx_raises_only_config_errors_on_any_bytes(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "pbx.yaml"
        path.write_bytes(data)
        try:
            load_pbx(path)
        except PbxConfigError as exc:
            assert exc.issues
        except CxmlError as exc:  # pragma: no cover - the assertion below explains
            raise AssertionError(f"not a PbxConfigError: {exc!r}") from exc


_LEAVES = st.none() | st.booleans() | st.integers(-5, 400) | st.floats() | st.text(max_size=8)
_WORDS = st.sampled_from(
    ["hangup", "ring_group/a", "1001", "+14155550100", "09:00-17:00", "2026-12-25", "forward"]
)
_KEYS = st.sampled_from(
    ["a", "1001", "+14155550100", "members", "fallback", "options", "prompt", "exceptions",
     "schedule", "date", "type", "hours", "provider", "config", "metadata", "destination",
     "caller_id", "monday", "forward_to", "1", 1, None, True]
)  # fmt: skip
_VALUES = st.recursive(
    _LEAVES | _WORDS | st.dates(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["timezone", "dids", "extensions", "ring_groups", "ivr_menus",
                         "business_hours", "ai_assistants", "ai_load_balancers", "campaigns"]),
        st.dictionaries(_KEYS, _VALUES, max_size=3) | _VALUES,
        max_size=4,
    )
)  # fmt: skip
def test_load_pbx_raises_only_config_errors_on_any_data(config: dict[str, Any]) -> None:
    try:
        load_pbx(config)
    except PbxConfigError as exc:
        assert exc.issues


def test_load_flow_refuses_a_key_given_twice_in_json_text() -> None:
    from flows import FlowError, load_flow

    with pytest.raises(FlowError) as caught:
        load_flow('{"actions": [{"type": "answer", "type": "hangup"}]}')
    issues = [(i.code, i.path) for i in caught.value.issues]
    assert issues == [("DUPLICATE_KEY", "$.actions[0].type")]


def test_cxml_check_reports_a_chain_of_1000_fallbacks_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    hops = [f"ring_group/g{i + 1}" for i in range(999)] + ["hangup"]
    groups = "".join(
        f"  g{i}: {{members: ['1001'], fallback: {hop}}}\n" for i, hop in enumerate(hops)
    )
    config = write(
        tmp_path, "pbx.yaml", f"extensions:\n  '1001': {{status: inactive}}\nring_groups:\n{groups}"
    )
    status, shown = run_cli(capsys, "check", str(config))
    assert status == 1
    assert shown.startswith(f"{config}: ring_groups.g16.fallback: is automatic step 17 in a row")
    assert shown.count("\n") == 1
