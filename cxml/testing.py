"""Helpers for testing code that produces CXML: compare documents by meaning, not by bytes.

>>> from cxml import Response, Hangup
>>> from cxml.testing import assert_cxml_equal, canonical
>>> assert_cxml_equal(Response([Hangup()]), '<Response>\\n  <Hangup></Hangup>\\n</Response>')
>>> canonical('<Response><Dial timeout="20"  action="/a">+1555</Dial></Response>')
'<Response><Dial action="/a" timeout="20">+1555</Dial></Response>'
"""

from __future__ import annotations

import difflib

from lxml import etree

from ._errors import CxmlParseError
from ._model import BY_TAG, Container, Response
from ._parse import parse_tree
from ._render import render

__all__ = ["assert_cxml_equal", "canonical"]


def canonical(doc: Response | str | bytes) -> str:
    """The C14N 2.0 form of ``doc``, without the layout whitespace between a container's children.

    Attribute order, quoting, escaping, empty-element style and the XML declaration do not
    matter; text inside Say, Number, ... and everything inside unknown elements does. The
    comparison does not go through the model, so it also checks the model's own round trip.
    """
    root = _tree(doc)
    return etree.tostring(root, method="c14n2").decode()


def assert_cxml_equal(actual: Response | str | bytes, expected: Response | str | bytes) -> None:
    """Raise AssertionError, with a line diff, unless the two documents are canonically equal."""
    left, right = canonical(actual), canonical(expected)
    if left == right:
        return
    diff = difflib.unified_diff(_lines(left), _lines(right), "actual", "expected", lineterm="", n=2)
    raise AssertionError("CXML documents differ:\n" + "\n".join(diff))


def _tree(doc: Response | str | bytes) -> etree._Element:
    root = parse_tree(render(doc) if isinstance(doc, Response) else doc, max_bytes=None)
    if root.tag != "Response":
        raise CxmlParseError(f"the root element must be <Response>, not <{root.tag!s}>", code=12102)
    _strip_layout(root)
    return root


def _strip_layout(el: etree._Element) -> None:
    cls = BY_TAG.get(el.tag) if isinstance(el.tag, str) else None
    if cls is None or not issubclass(cls, Container):
        return  # text-bodied or unknown: every character is content
    if el.text is not None and el.text.isspace():
        el.text = None
    for child in el:
        if child.tail is not None and child.tail.isspace():
            child.tail = None
        _strip_layout(child)


def _lines(canonical_text: str) -> list[str]:
    """One element per line (for diffs only: the indentation is not part of the document)."""
    root = etree.fromstring(canonical_text.encode())
    etree.indent(root)
    return etree.tostring(root, encoding="unicode").splitlines()
