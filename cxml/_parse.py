"""Reading documents safely: bytes you hand us, never a path or URL, and nothing but elements.

lxml does the parsing with settings that load nothing (no DTD, no entities, no network, no
huge trees) and one parser per thread, reused: building one per call costs about 40 %. On top
of that we refuse what CXML never needs: a DOCTYPE (and so any entity), processing
instructions, namespaces (and so XInclude). Comments are dropped; they carry no meaning.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any, Final

from lxml import etree

from ._errors import CxmlParseError, CxmlValueError
from ._kinds import INVALID, TEXT
from ._model import BY_TAG, Content, Element, Node, Response, _build, _in_layout_order, _pairs

__all__ = ["MAX_ATTRIBUTES", "MAX_BYTES", "MAX_DEPTH", "parse"]

#: Twilio refuses documents over 64 kB (error 11750); so do we, unless told otherwise.
MAX_BYTES: Final = 64 * 1024
#: Real CXML nests about five deep (Response/Gather/Converse/Tool/Parameter).
MAX_DEPTH: Final = 32
#: No CXML verb has 30 attributes. lxml reads an element's attribute values in time quadratic
#: in their number (each value is looked up by name), so the size cap alone would let one
#: 64 KiB element of ~8,000 attributes cost half a second; this cap is checked first.
MAX_ATTRIBUTES: Final = 64

_POSITION: Final = re.compile(r", line \d+, column \d+$")
#: How `render` (and most writers) start a document: known to be UTF-8 without reading on.
_UTF8_DECLARATION: Final = b'<?xml version="1.0" encoding="UTF-8"?>'
_DECLARED_ENCODING: Final = re.compile(rb"<\?xml\s[^>]*?\bencoding\s*=\s*[\"']([^\"']*)")
_ASCII_ENCODINGS: Final = frozenset({b"utf-8", b"utf8", b"us-ascii", b"ascii"})
_XML_NS: Final = "{http://www.w3.org/XML/1998/namespace}"
_local = threading.local()

Lines = dict[int, int]
_Spec = tuple[int, str, "Callable[[str], object] | None"]


def _parsers() -> tuple[etree.XMLParser, etree.XMLParser]:
    """This thread's parsers: (for bytes, for text already decoded and re-encoded as UTF-8)."""
    try:
        return _local.parsers  # type: ignore[no-any-return]
    except AttributeError:
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
    return read(data, max_bytes, max_depth, None)


def read(data: bytes | str, max_bytes: int | None, max_depth: int, lines: Lines | None) -> Response:
    """`parse`, recording each node's source line in ``lines`` (by ``id``) when given."""
    root, careful = _parse_root(data, max_bytes)
    tag = root.tag
    if tag != "Response":
        if isinstance(tag, str) and tag.startswith("{"):
            raise CxmlParseError("XML namespaces are not allowed in CXML", line=root.sourceline)
        raise CxmlParseError(
            f"the root element must be <Response>, not <{_shown_tag(tag)}>",
            code=12102,
            line=root.sourceline,
        )
    return _node(root, 1, max_depth, careful, lines)  # type: ignore[return-value]  # root is Response


def parse_tree(data: bytes | str, *, max_bytes: int | None = MAX_BYTES) -> etree._Element:
    """Parse with the safe settings and refuse forbidden constructs; return lxml's root.

    Namespaces are refused by the reader, not here (see `_node`).
    """
    return _parse_root(data, max_bytes)[0]


def _parse_root(data: bytes | str, max_bytes: int | None) -> tuple[etree._Element, bool]:
    """lxml's root, and whether each element must still be checked (see `_careful`)."""
    if type(data) is bytes:
        raw, parser = data, _parsers()[0]
        careful = _careful(raw) if raw.startswith(_UTF8_DECLARATION) else _careful_bytes(raw)
    elif isinstance(data, str):
        # Re-encoded here; that parser ignores the declaration's encoding.
        raw, parser = data.encode("utf-8", "surrogatepass"), _parsers()[1]
        careful = _careful(raw)
    elif isinstance(data, bytes | bytearray | memoryview):
        raw, parser = bytes(data), _parsers()[0]
        careful = _careful_bytes(raw)
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
    if careful:
        docinfo = root.getroottree().docinfo
        if docinfo.doctype or docinfo.internalDTD is not None:
            raise CxmlParseError("a DOCTYPE is not allowed in CXML (no DTDs, no entities)", line=1)
    if root.getprevious() is not None or root.getnext() is not None:
        for sibling in (*root.itersiblings(preceding=True), *root.itersiblings()):
            _refuse(sibling)
    return root, careful


def _careful(raw: bytes) -> bool:
    """Whether UTF-8 (or ASCII) bytes may hold a DOCTYPE, a namespace declaration or an
    element over `MAX_ATTRIBUTES`, so that the tree must be checked for them.

    Each needs bytes a scan finds: ``<!`` (which comments and CDATA also give), the word
    ``xmlns``, and one ``=`` per attribute. Most documents have none of the first two and
    few of the third; the per-element checks they spare cost more than the scans. A false
    alarm costs time, never safety.
    """
    return raw.find(b"<!") >= 0 or raw.find(b"xmlns") >= 0 or raw.count(b"=") > MAX_ATTRIBUTES


def _careful_bytes(raw: bytes) -> bool:
    """`_careful` for bytes in an encoding of their own: only one that writes ASCII as ASCII
    (no BOM, no NUL, a declared encoding that is UTF-8 or ASCII) can be scanned as bytes."""
    if raw[:1] != b"<" or b"\x00" in raw[:4]:
        return True  # a BOM, UTF-16 or -32, EBCDIC, leading space: check the tree
    if raw.startswith(b"<?xml"):
        end = raw.find(b"?>")
        declared = _DECLARED_ENCODING.match(raw, 0, end if end >= 0 else len(raw))
        if declared and declared[1].lower() not in _ASCII_ENCODINGS:
            return True
    return _careful(raw)


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


def _check(el: etree._Element, depth: int, max_depth: int) -> None:
    """Raise for what may not be in CXML: other nodes, namespaces, too much depth."""
    tag = el.tag
    if type(tag) is not str:
        _refuse(el)
        raise AssertionError  # _refuse raises for every non-element the parser keeps
    if depth > max_depth:
        raise CxmlParseError(f"elements are nested more than {max_depth} deep", line=el.sourceline)
    if tag.startswith("{") or el.nsmap:
        what = "XInclude is" if "XInclude" in tag else "XML namespaces are"
        raise CxmlParseError(f"{what} not allowed in CXML", line=el.sourceline)
    if len(el.attrib) > MAX_ATTRIBUTES:
        _too_many_attributes(el)


def _too_many_attributes(el: etree._Element) -> None:
    # Counted without reading a value: reading them all is what costs quadratic time.
    count = len(el.attrib)
    raise CxmlParseError(
        f"<{_shown_tag(el.tag)}> has {count} attributes, over the limit of {MAX_ATTRIBUTES}",
        line=el.sourceline,
    )


def _node(  # noqa: PLR0915  # the hot loop of parsing, inlined on purpose
    el: etree._Element, depth: int, max_depth: int, careful: bool, lines: Lines | None
) -> Node | Element:
    """Turn an lxml element into a model node, keeping everything the model cannot type.

    Values read from the tree are already checked (lxml guarantees XML characters; kinds
    read only valid values), so `_build` stores known nodes without the constructor's checks.
    Module-level functions with their settings as arguments: closures defined per call
    cost more than the rest of reading a small document.
    """
    known = _CLASSES.get(el.tag)
    if known is None:
        # Not a modelled element, or not an element at all: _element checks everything.
        return _element(el, depth, max_depth, lines)
    # A modelled tag is a plain name (no namespace): depth, declarations and the attribute
    # count remain, and the last two only where the bytes did not rule them out.
    if careful or depth > max_depth:
        _check(el, depth, max_depth)
    cls, body, by_wire = known
    if body is None and (len(el) or (el.text or "").strip()):
        return _element(el, depth, max_depth, lines)  # content where the model has none
    fields: dict[str, object] = {}
    extra: list[tuple[str, str]] | None = None
    items = el.items()
    if items:
        last, ordered = -1, True
        for key, value in items:
            spec = by_wire.get(key)  # never a namespaced key: no modelled name has one
            if spec is not None:
                position, name, read = spec
                if read is None:  # text: the value as it is
                    fields[name] = value
                else:
                    typed = read(value)
                    if typed is INVALID:
                        if extra is None:
                            extra = []
                        extra.append((key, value))
                        continue
                    fields[name] = typed
                if position < last:
                    ordered = False
                last = position
                continue
            if extra is None:
                extra = []
            extra.append((_xml_attribute(key, el) if key[0] == "{" else key, value))
        if not ordered:  # fields holds only attributes so far: put them in field order
            fields = _in_layout_order(cls, fields)
    if body == "children":
        text = el.text
        # el[:] rather than iterating el: lxml's child iterator costs more to set up than
        # reading a small element does.
        children = el[:]
        if children:
            out: list[Node | Element | str] = [text] if text and not text.isspace() else []
            below = depth + 1
            for child in children:
                out.append(_node(child, below, max_depth, careful, lines))
                tail = child.tail
                if tail and not tail.isspace():
                    out.append(tail)
            fields["children"] = tuple(out)
        elif text and not text.isspace():
            fields["children"] = (text,)
    elif body is not None:
        content = el.text if not len(el) else _mixed(el, depth, max_depth, lines)
        if content:
            fields[body] = content
    if extra:
        try:
            fields["extra"] = _pairs(extra)
        except CxmlValueError as exc:
            raise CxmlParseError(exc.message, line=el.sourceline) from None
    made = _build(_new(cls), fields)
    if lines is not None:
        lines[id(made)] = el.sourceline or 0
    return made


def _mixed(el: etree._Element, depth: int, max_depth: int, lines: Lines | None) -> Content:
    # Inside text (SSML in Say, unknown elements) every character is content.
    out: list[Node | Element | str] = [el.text] if el.text else []
    for child in el[:]:
        out.append(_element(child, depth + 1, max_depth, lines))
        if child.tail:
            out.append(child.tail)
    return tuple(out)


def _element(el: etree._Element, depth: int, max_depth: int, lines: Lines | None) -> Element:
    _check(el, depth, max_depth)
    pairs = [
        (_xml_attribute(key, el) if key[0] == "{" else key, value) for key, value in el.items()
    ]
    try:
        made = Element(el.tag, _mixed(el, depth, max_depth, lines), attributes=pairs)  # type: ignore[arg-type]
    except CxmlValueError as exc:
        raise CxmlParseError(exc.message, line=el.sourceline) from None
    if lines is not None:
        lines[id(made)] = el.sourceline or 0
    return made


#: Node classes keep object's __new__ (checked at import): called directly, it costs less.
_new: Final = object.__new__
assert all(cls.__new__ is _new for cls in BY_TAG.values())

#: tag -> (class, body field, attributes by wire name): what the reader looks up per element.
#: Each attribute: (position, python name, the kind's reader, or None for plain text).
_CLASSES: Final[dict[object, tuple[type[Node], str | None, dict[str, _Spec]]]] = {
    tag: (
        cls,
        cls.body,
        {
            wire: (i, name, None if kind is TEXT else kind.read)
            for wire, (i, name, kind) in cls.by_wire.items()
        },
    )
    for tag, cls in BY_TAG.items()
}


def _xml_attribute(key: str, el: etree._Element) -> str:
    """``{xml namespace}lang`` as ``xml:lang``; any other namespaced attribute is refused."""
    if key.startswith(_XML_NS):
        return "xml:" + key[len(_XML_NS) :]
    raise CxmlParseError("namespaced attributes are not allowed", line=el.sourceline)
