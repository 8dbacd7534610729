"""Documents nobody here wrote: Cloudonix's own CXML examples (tests/corpus/cloudonix/).

Each validates without an error, comes back from parse and render exactly as written (after
canonical whitespace), and runs in the simulator without an error. MANIFEST.json names the page
each one was copied from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cxml import (
    Converse,
    Dialed,
    ErrorEvent,
    Gather,
    Response,
    interpret,
    parse,
    render,
    validate,
)
from cxml.testing import canonical

CORPUS = Path(__file__).parent / "corpus" / "cloudonix"
MANIFEST = json.loads((CORPUS / "MANIFEST.json").read_text())["documents"]
FILES = [entry["file"] for entry in MANIFEST]


def _text(name: str) -> str:
    return (CORPUS / name).read_text(encoding="utf-8")


def test_the_manifest_cites_a_source_for_every_document_and_lists_them_all() -> None:
    assert sorted(FILES) == sorted(p.name for p in CORPUS.glob("*.xml"))
    assert len(FILES) >= 25
    for entry in MANIFEST:
        assert entry["source"].startswith(("https://developers.", "reference/cxml.md"))
    from_pages = [e for e in MANIFEST if e["source"].startswith("https://")]
    verbs = {tag for e in from_pages for tag in _tags(parse(_text(e["file"])))}
    # Every verb and noun whose page shows a whole example.
    assert verbs >= {
        "Coach", "Conference", "Converse", "Description", "Dial", "Gather", "Hangup", "Header",
        "Number", "Parameter", "Pause", "Play", "Record", "Redirect", "Reject", "Say", "Sip",
        "Speech", "System", "Tool",
    }  # fmt: skip


def _tags(node: object) -> set[str]:
    tags = {node.tag} if hasattr(node, "tag") else set()
    for child in getattr(node, "children", ()):
        tags |= _tags(child)
    return tags


@pytest.mark.parametrize("name", FILES)
def test_a_platform_example_has_no_errors(name: str) -> None:
    errors = [i for i in validate(_text(name)) if i.severity == "error"]
    assert errors == []


@pytest.mark.parametrize("name", FILES)
def test_a_platform_example_comes_back_as_written(name: str) -> None:
    text = _text(name)
    doc = parse(text)
    assert canonical(render(doc)) == canonical(text)
    assert canonical(render(doc, pretty=True)) == canonical(text)
    assert parse(render(doc)) == doc


@pytest.mark.parametrize("name", FILES)
def test_a_platform_example_runs_in_the_simulator_without_an_error(name: str) -> None:
    text = _text(name)
    trace = interpret(lambda _: text, {"CallSid": "CA1", "From": "+12125551234", "To": "1001"},
                      {"max_stages": 3}, url="https://app.example.com/voice")  # fmt: skip
    assert not trace.of(ErrorEvent), trace.transcript()
    assert trace.document_errors == ()
    assert trace.ended.reason in {"hangup", "reject", "end-of-document", "stage-limit"}


def test_the_dial_page_number_is_a_warning_naming_the_number_dialled() -> None:
    issues = validate(_text("dial_text_number.xml"))
    assert [(i.code, i.severity, i.path) for i in issues] == [
        (13223, "warning", "/Response/Dial[1]/text()")
    ]
    assert "1805101010" in issues[0].message
    trace = interpret(lambda _: _text("dial_trunks.xml"), {"CallSid": "CA1"})
    (dialed,) = trace.of(Dialed)
    assert dialed.targets[0].target == "1805101010"


def test_the_converse_page_reads_as_the_platform_does() -> None:
    doc = parse(_text("converse_agent.xml"))
    gather = doc.children[0]
    assert isinstance(gather, Gather)
    assert gather.speech_timeout == 1.5
    assert gather.input == ("speech",)
    converse = gather.children[0]
    assert isinstance(converse, Converse)
    assert converse.session_tools == ("redirect", "dial")
    # The page's spelling (space-separated) is what comes back, not the model's commas.
    assert 'sessionTools="redirect dial"' in render(doc)


def test_the_corpus_is_not_trivially_equal_to_its_own_rendering() -> None:
    # Guards the round-trip test: rendering changes layout, so equality must come from
    # canonical comparison, not from rendering nothing at all.
    text = _text("converse_tool.xml")
    assert render(parse(text)) != text
    assert isinstance(parse(text), Response)
