"""Time cxml against twilio-python, raw lxml and xml.etree on two small CXML documents.

Usage: ``python bench/bench_cxml.py [--quick] [--check] [--loops N]``

Everything runs in one process. Each workload is timed with `timeit` (7 repeats, taken
round-robin across workloads; the best repeat divided by the loop count is the time per
document, the median shown beside it: see ``_timing.py``). Render workloads build the
document inside the timed call, so twilio, lxml and cxml each pay for their own tree.
Before any timing, every renderer's output is parsed once and compared in C14N 2.0 form, so
all of them are timed producing the same document, and the parsers are checked to read it
back. See docs/performance.md for the figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version

import defusedxml.ElementTree as safe_ET
from _timing import REPEAT, interleaved
from lxml import etree
from twilio.twiml.voice_response import VoiceResponse

import cxml
from cxml import Connect, Dial, Number, Parameter, Response, Stream

LOOPS = 20_000
QUICK_LOOPS = 1_000

#: (name, wanted, numerator group, denominator group): speed ratio = time(den) / time(num).
TARGETS: tuple[tuple[str, float, str, str], ...] = (
    ("cxml render vs twilio", 5.0, "cxml", "twilio"),
    ("cxml render vs raw lxml", 0.7, "cxml", "lxml"),
    ("cxml parse vs xml.etree", 1.0, "cxml.parse", "etree.parse"),
)
#: Shown for context, with no target: the safe standard-library parser cxml.parse replaces,
#: and the floor of any reader of lxml's tree into this model (`_bare`).
CONTEXT: tuple[tuple[str, str, str], ...] = (
    ("cxml parse vs defusedxml", "cxml.parse", "defusedxml.parse"),
    ("bare floor vs xml.etree", "floor.parse", "etree.parse"),
    ("cxml parse vs bare floor", "cxml.parse", "floor.parse"),
)

# Parsed the way cxml parses: nothing loaded, one parser reused.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


# --- D1: <Response><Dial callerId timeout><Number/></Dial></Response> ---------------------


def twilio_d1() -> str:
    r = VoiceResponse()
    r.dial(caller_id="+15557654321", timeout=20).number("+15551234567")
    out: str = r.to_xml()
    return out


def lxml_d1() -> bytes:
    root = etree.Element("Response")
    dial = etree.SubElement(root, "Dial", callerId="+15557654321", timeout="20")
    etree.SubElement(dial, "Number").text = "+15551234567"
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def cxml_d1() -> str:
    return cxml.render(Response(Dial(Number("+15551234567"), caller_id="+15557654321", timeout=20)))


def chained_d1() -> str:
    return cxml.render(
        Response().dial(Number("+15551234567"), caller_id="+15557654321", timeout=20)
    )


# --- D2: <Response><Connect><Stream url><Parameter/></Stream></Connect></Response> --------


def twilio_d2() -> str:
    r = VoiceResponse()
    r.connect().stream(url="wss://media.example.com/stream").parameter(
        name="callId", value="abc123"
    )
    out: str = r.to_xml()
    return out


def lxml_d2() -> bytes:
    root = etree.Element("Response")
    connect = etree.SubElement(root, "Connect")
    stream = etree.SubElement(connect, "Stream", url="wss://media.example.com/stream")
    etree.SubElement(stream, "Parameter", name="callId", value="abc123")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def cxml_d2() -> str:
    return cxml.render(
        Response(
            Connect(
                Stream(
                    Parameter(name="callId", value="abc123"), url="wss://media.example.com/stream"
                )
            )
        )
    )


def chained_d2() -> str:
    return cxml.render(
        Response().connect(
            Stream(url="wss://media.example.com/stream").parameter(name="callId", value="abc123")
        )
    )


@dataclass(frozen=True)
class Document:
    key: str
    twilio: Callable[[], str]
    lxml: Callable[[], bytes]
    cxml: Callable[[], str]
    chained: Callable[[], str]
    prebuilt: Response


DOCUMENTS = (
    Document(
        "D1",
        twilio_d1,
        lxml_d1,
        cxml_d1,
        chained_d1,
        Response(Dial(Number("+15551234567"), caller_id="+15557654321", timeout=20)),
    ),
    Document(
        "D2",
        twilio_d2,
        lxml_d2,
        cxml_d2,
        chained_d2,
        Response(
            Connect(
                Stream(
                    Parameter(name="callId", value="abc123"), url="wss://media.example.com/stream"
                )
            )
        ),
    ),
)


@dataclass(frozen=True)
class Workload:
    doc: str
    group: str
    label: str
    func: Callable[[], object]


def _bytes(out: str | bytes) -> bytes:
    return out.encode("utf-8") if isinstance(out, str) else out


def _c14n(data: bytes) -> bytes:
    return etree.tostring(etree.fromstring(data), method="c14n2")


def _bare(el: etree._Element) -> object:
    """One model node per element, holding its attributes as written and its children, and
    nothing else: no checks (DOCTYPE, namespaces, depth, attribute count), no typed values,
    no text, wire names for field names. Not a reader (it gives a different document): the
    least any reader of lxml's tree into this model must do, so a floor under cxml.parse.
    """
    node = object.__new__(getattr(cxml, str(el.tag)))  # D1 and D2 hold only model tags
    fields = node.__dict__
    for key, value in el.items():
        fields[key] = value
    children = el[:]
    if children:
        fields["children"] = tuple([_bare(child) for child in children])
    return node


def check_outputs(doc: Document) -> bytes:
    """Fail unless every renderer writes the same document; return cxml's bytes."""
    outputs: dict[str, bytes] = {
        "twilio": _bytes(doc.twilio()),
        "lxml": _bytes(doc.lxml()),
        "cxml": _bytes(doc.cxml()),
        "cxml chained": _bytes(doc.chained()),
        "cxml prebuilt": _bytes(cxml.render(doc.prebuilt)),
    }
    canonical = {name: _c14n(data) for name, data in outputs.items()}
    if len(set(canonical.values())) != 1:
        shown = "\n".join(f"  {name}: {c.decode()}" for name, c in canonical.items())
        raise SystemExit(f"{doc.key}: the renderers disagree (C14N 2.0):\n{shown}")
    data = outputs["cxml"]
    # The parsers must read it back to the same thing too.
    if cxml.parse(data) != doc.prebuilt:
        raise SystemExit(f"{doc.key}: cxml.parse does not give back the document")
    if ET.canonicalize(ET.tostring(ET.fromstring(data))) != canonical["cxml"].decode():
        raise SystemExit(f"{doc.key}: xml.etree reads a different document")
    return data


def workloads(doc: Document, data: bytes) -> list[Workload]:
    prebuilt = doc.prebuilt

    def cxml_prebuilt() -> str:
        return cxml.render(prebuilt)

    def lxml_parse() -> etree._Element:
        return etree.fromstring(data, _PARSER)

    def etree_parse() -> ET.Element:
        return ET.fromstring(data)

    def defused_parse() -> object:
        return safe_ET.fromstring(data)

    def cxml_parse() -> Response:
        return cxml.parse(data)

    def floor_parse() -> object:
        return _bare(etree.fromstring(data, _PARSER))

    table: list[tuple[str, str, Callable[[], object]]] = [
        ("twilio", "render: twilio VoiceResponse + to_xml()", doc.twilio),
        ("lxml", "render: raw lxml Element/SubElement + tostring", doc.lxml),
        ("cxml", "render: cxml constructors + render", doc.cxml),
        ("cxml.chained", "render: cxml chained builder + render", doc.chained),
        ("cxml.prebuilt", "render: cxml render of a prebuilt document", cxml_prebuilt),
        ("lxml.parse", "parse: lxml fromstring, reused parser", lxml_parse),
        ("etree.parse", "parse: xml.etree.ElementTree.fromstring", etree_parse),
        ("defusedxml.parse", "parse: defusedxml.ElementTree.fromstring", defused_parse),
        ("cxml.parse", "parse: cxml.parse (to the model)", cxml_parse),
        ("floor.parse", "parse: floor: lxml + bare model nodes, no checks", floor_parse),
    ]
    return [Workload(doc.key, group, label, func) for group, label, func in table]


def machine() -> str:
    lxml_v = ".".join(map(str, etree.LXML_VERSION[:3]))
    libxml2_v = ".".join(map(str, etree.LIBXML_VERSION))
    return (
        f"{platform.machine()} {platform.system()}, nproc {os.cpu_count()}, "
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"lxml {lxml_v} (libxml2 {libxml2_v}), twilio {version('twilio')}, "
        f"attrs {version('attrs')}, cxmlflow {version('cxmlflow')}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_LOOPS} loops per repeat")
    ap.add_argument("--loops", type=int, help=f"loops per repeat (default {LOOPS})")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args(argv)
    loops: int = args.loops if args.loops is not None else QUICK_LOOPS if args.quick else LOOPS
    if loops < 1:
        ap.error("--loops must be at least 1")

    print(machine())
    print(f"timeit: {REPEAT} repeats (round-robin) x {loops:,} loops; best and median\n")

    items = [w for doc in DOCUMENTS for w in workloads(doc, check_outputs(doc))]
    timings = interleaved([w.func for w in items], loops)
    results = {(w.doc, w.group): t.best for w, t in zip(items, timings, strict=True)}
    rows = [(w.doc, w.label, t) for w, t in zip(items, timings, strict=True)]

    width = max(len(label) for _, label, _ in rows)
    print(f"| doc | {'workload':<{width}} | µs best | µs median | docs/s (best) |")
    print(f"|-----|{'-' * (width + 2)}|--------:|----------:|--------------:|")
    for key, label, t in rows:
        print(
            f"| {key}  | {label:<{width}} | {t.best * 1e6:7.2f} | {t.median * 1e6:9.2f} "
            f"| {1 / t.best:13,.0f} |"
        )

    names = max(len(name) for name in [t[0] for t in TARGETS] + [c[0] for c in CONTEXT])
    print(f"\n| doc | {'speed ratio':<{names}} | measured |   target | result |")
    print(f"|-----|{'-' * (names + 2)}|---------:|---------:|--------|")
    missed = 0
    for doc in DOCUMENTS:
        for name, wanted, num, den in TARGETS:
            ratio = results[doc.key, den] / results[doc.key, num]
            ok = ratio >= wanted
            missed += not ok
            print(
                f"| {doc.key}  | {name:<{names}} | {ratio:7.2f}x | >= {wanted:4.1f}x | "
                f"{'met' if ok else 'MISSED':<6} |"
            )
    for doc in DOCUMENTS:
        for name, num, den in CONTEXT:
            ratio = results[doc.key, den] / results[doc.key, num]
            print(f"| {doc.key}  | {name:<{names}} | {ratio:7.2f}x | {'(context)':>9} |        |")
    print(f"\n{len(DOCUMENTS) * len(TARGETS) - missed} of {len(DOCUMENTS) * len(TARGETS)} met")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
