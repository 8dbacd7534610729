"""Reading documents safely: bytes you hand us, never a path or URL, and nothing but elements.

lxml does the parsing with settings that load nothing (no DTD, no entities, no network, no
huge trees) and one parser per thread, reused: building one per call costs about 40 %. On top
of that we refuse what CXML never needs: a DOCTYPE (and so any entity), processing
instructions, namespaces (and so XInclude). Comments are dropped; they carry no meaning.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Final

from lxml import etree

from ._errors import CxmlParseError, CxmlValueError
from ._kinds import INVALID
from ._model import BY_TAG, Container, Content, Element, Node, Response, Text

__all__ = ["MAX_BYTES", "MAX_DEPTH", "parse"]

#: Twilio refuses documents over 64 kB (error 11750); so do we, unless told otherwise.
MAX_BYTES: Final = 64 * 1024
#: Real CXML nests about five deep (Response/Gather/Converse/Tool/Parameter).
MAX_DEPTH: Final = 32

_POSITION: Final = re.compile(r", line \d+, column \d+$")
_XML_NS: Final = "{http://www.w3.org/XML/1998/namespace}"
_local = threading.local()

Lines = dict[int, int]


def _parsers() -> tuple[etree.XMLParser, etree.XMLParser]:
    """This thread's parsers: (for bytes, for text already decoded and re-encoded as UTF-8)."""
    parsers: tuple[etree.XMLParser, etree.XMLParser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = (_new_parser(None), _new_parser("utf-8"))
    return parsers


class _NothingExternal(etree.Resolver):
    """Answer every request for an external resource (DTD, entity) with nothing.

    The settings already ask libxml2 not to load any; this makes sure no file, pipe or URL
    named by a document is ever opened, whatever libxml2 version or option combination.
    """

    def resolve(self, system_url: str | None, public_id: str | None, context: object) -> Any:
        return self.resolve_string("", context)


def _new_parser(encoding: str | None) -> etree.XMLParser:
    # Note: collect_ids=False must not be added: with it libxml2 opens file:// external
    # subsets despite load_dtd=False (tests/test_security.py shows it with a FIFO).
    parser = etree.XMLParser(
        encoding=encoding,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=False,  # refused below, not silently dropped
        remove_comments=True,
    )
    parser.resolvers.add(_NothingExternal())
    return parser


def parse(
    data: bytes | str, *, max_bytes: int | None = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> Response:
    """Read a CXML document into the model.

    Raises `CxmlParseError` (code 12100, 12102 or 11750, with line and column where known)
    for anything that is not a well-formed, safe document rooted at ``<Response>``. Problems
    inside a well-formed document (unknown verbs, bad values) are kept and left to `validate`.
    """
    return read(data, max_bytes=max_bytes, max_depth=max_depth, lines=None)


def read(
    data: bytes | str, *, max_bytes: int | None, max_depth: int, lines: Lines | None
) -> Response:
    """`parse`, recording each node's source line in ``lines`` (by ``id``) when given."""
    root = parse_tree(data, max_bytes=max_bytes)
    if isinstance(root.tag, str) and root.tag.startswith("{"):
        raise CxmlParseError("XML namespaces are not allowed in CXML", line=root.sourceline)
    if root.tag != "Response":
        raise CxmlParseError(
            f"the root element must be <Response>, not <{_shown_tag(root.tag)}>",
            code=12102,
            line=root.sourceline,
        )
    doc = _Reader(max_depth, lines).node(root, 1)
    assert isinstance(doc, Response)
    return doc


def parse_tree(data: bytes | str, *, max_bytes: int | None = MAX_BYTES) -> etree._Element:
    """Parse with the safe settings and refuse forbidden constructs; return lxml's root."""
    if isinstance(data, str):
        raw, parser = data.encode("utf-8", "surrogatepass"), _parsers()[1]
    elif isinstance(data, bytes | bytearray | memoryview):
        raw, parser = bytes(data), _parsers()[0]
    else:
        raise CxmlParseError(f"expected bytes or str, got {type(data).__name__}")
    if max_bytes is not None and len(raw) > max_bytes:
        raise CxmlParseError(
            f"the document is {len(raw)} bytes, over the limit of {max_bytes}", code=11750
        )
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        message = _POSITION.sub("", exc.msg or "syntax error")  # we report it separately
        raise CxmlParseError(f"not well-formed: {message}", line=line, column=column) from None
    except (ValueError, LookupError) as exc:  # e.g. an unknown encoding declaration
        raise CxmlParseError(f"not readable: {exc}") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise CxmlParseError("a DOCTYPE is not allowed in CXML (no DTDs, no entities)", line=1)
    for sibling in (*root.itersiblings(preceding=True), *root.itersiblings()):
        _refuse(sibling)
    return root


def _shown_tag(tag: object) -> str:
    return tag if isinstance(tag, str) else "?"


def _refuse(node: etree._Element) -> None:
    """Raise for a node that is not an element: processing instruction, entity reference."""
    if isinstance(node, etree._ProcessingInstruction):
        what = "processing instructions are not allowed in CXML"
    elif isinstance(node, etree._Entity):
        what = "entity references are not allowed in CXML"
    elif isinstance(node, etree._Comment):
        return
    else:
        what = "unexpected node"
    raise CxmlParseError(what, line=node.sourceline)


class _Reader:
    """Turns lxml elements into model nodes, keeping everything the model cannot type."""

    def __init__(self, max_depth: int, lines: Lines | None) -> None:
        self.max_depth = max_depth
        self.lines = lines

    def node(self, el: etree._Element, depth: int) -> Node | Element:
        tag = self._tag(el, depth)
        cls = BY_TAG.get(tag)
        pairs = self._attributes(el)
        if cls is None or (
            not issubclass(cls, Container | Text) and (len(el) or (el.text or "").strip())
        ):
            # Unknown, or content where the model has none: kept whole for validate to report.
            return self._element(el, tag, pairs, depth)
        kwargs: dict[str, object] = {}
        extra = []
        by_wire = cls.by_wire
        for key, value in pairs:
            spec = by_wire.get(key)
            if spec is not None:
                typed = spec[1].read(value)
                if typed is not INVALID:
                    kwargs[spec[0]] = typed
                    continue
            extra.append((key, value))
        args: tuple[object, ...] = ()
        if issubclass(cls, Container):
            args = (self._children(el, depth),)
        elif issubclass(cls, Text):
            args = (el.text or "",) if not len(el) else (self._mixed(el, depth),)
        try:
            node = cls(*args, extra=extra, **kwargs)
        except CxmlValueError as exc:
            raise CxmlParseError(exc.message, line=el.sourceline) from None
        if self.lines is not None:
            self.lines[id(node)] = el.sourceline or 0
        return node

    def _tag(self, el: etree._Element, depth: int) -> str:
        if depth > self.max_depth:
            raise CxmlParseError(
                f"elements are nested more than {self.max_depth} deep", line=el.sourceline
            )
        tag = el.tag
        if not isinstance(tag, str):
            _refuse(el)
            raise AssertionError  # _refuse raises for every non-element but comments
        if tag.startswith("{") or el.nsmap:
            what = "XInclude is" if "XInclude" in tag else "XML namespaces are"
            raise CxmlParseError(f"{what} not allowed in CXML", line=el.sourceline)
        return tag

    def _attributes(self, el: etree._Element) -> list[tuple[str, str]]:
        pairs = []
        for raw_key, value in el.items():
            key = raw_key if isinstance(raw_key, str) else raw_key.decode()
            if key.startswith(_XML_NS):
                key = "xml:" + key[len(_XML_NS) :]
            elif key.startswith("{"):
                raise CxmlParseError("namespaced attributes are not allowed", line=el.sourceline)
            pairs.append((key, value if isinstance(value, str) else value.decode()))
        return pairs

    def _children(self, el: etree._Element, depth: int) -> Content:
        # Whitespace between a container's children is layout; other text is kept.
        out: list[Node | Element | str] = []
        if el.text and not el.text.isspace():
            out.append(el.text)
        for child in el:
            if isinstance(child, etree._Comment):
                continue
            out.append(self.node(child, depth + 1))
            if child.tail and not child.tail.isspace():
                out.append(child.tail)
        return tuple(out)

    def _mixed(self, el: etree._Element, depth: int) -> Content:
        # Inside text (SSML in Say, unknown elements) every character is content.
        out: list[Node | Element | str] = [el.text] if el.text else []
        for child in el:
            if not isinstance(child, etree._Comment):
                out.append(self._element(child, self._tag(child, depth + 1), None, depth + 1))
            if child.tail:
                out.append(child.tail)
        return tuple(out)

    def _element(
        self, el: etree._Element, tag: str, pairs: list[tuple[str, str]] | None, depth: int
    ) -> Element:
        if pairs is None:
            pairs = self._attributes(el)
        try:
            node = Element(tag, self._mixed(el, depth), attributes=pairs)
        except CxmlValueError as exc:
            raise CxmlParseError(exc.message, line=el.sourceline) from None
        if self.lines is not None:
            self.lines[id(node)] = el.sourceline or 0
        return node
