"""Writing documents: deterministic, well-formed, every value escaped exactly once, here.

The model refuses characters XML cannot carry when a node is built, so writing needs no
checks, only escaping; that is why this is plain string building rather than an lxml tree
(several times faster, and `tests/test_render.py` reads every output back with lxml).
"""

from __future__ import annotations

import re
from typing import Final

from ._errors import CxmlValueError
from ._kinds import TEXT
from ._model import Container, Element, Node, Response

__all__ = ["render"]

DECLARATION: Final = '<?xml version="1.0" encoding="UTF-8"?>\n'

# \r, \n and \t in attributes would be normalised to spaces by any reader; character
# references keep them. In text only \r needs one.
_ATTR: Final = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\t": "&#9;",
        "\n": "&#10;",
        "\r": "&#13;",
    }
)
_TEXT: Final = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


_ATTR_SPECIAL: Final = re.compile('[&<>"\t\n\r]').search
_TEXT_SPECIAL: Final = re.compile("[&<>\r]").search


def _attr(value: str) -> str:
    return value if _ATTR_SPECIAL(value) is None else value.translate(_ATTR)


def _text(value: str) -> str:
    return value if _TEXT_SPECIAL(value) is None else value.translate(_TEXT)


def render(doc: Response, *, pretty: bool = False) -> str:
    """Write ``doc`` as a CXML document with an XML declaration.

    Attributes come in the model's field order, then ``extra`` ones in theirs. ``pretty``
    indents elements whose children are all elements by two spaces and ends with a newline;
    text is never re-indented, so pretty and compact output mean the same document.
    """
    if not isinstance(doc, Response):
        raise CxmlValueError(f"render expects a Response, got {type(doc).__name__}")
    out = [DECLARATION]
    _write(doc, out, "\n" if pretty else None)
    if pretty:
        out.append("\n")
    return "".join(out)


def _write(node: Node | Element | str, out: list[str], indent: str | None) -> None:
    """Append ``node``; ``indent`` is the newline-and-spaces before a child, or None inline."""
    if isinstance(node, str):
        out.append(_text(node) if _TEXT_SPECIAL(node) else node)
        return
    tag = node.tag
    out.append("<" + tag)
    if isinstance(node, Element):
        pairs = node.attributes
        body: object = node.content
    else:
        # A node's __dict__ holds only what was given, attributes first in field order.
        fields = node.__dict__
        by_name = node.by_name
        for name, value in fields.items():
            spec = by_name.get(name)
            if spec is not None:
                kind = spec[2]
                text = value if kind is TEXT else kind.write(value)
                if _ATTR_SPECIAL(text):
                    text = text.translate(_ATTR)
                out.append(f' {spec[1]}="{text}"')
        pairs = node.extra
        body = fields.get(node.body, "")  # type: ignore[arg-type]  # None finds nothing
    for key, text in pairs:
        out.append(f' {key}="{_attr(text)}"')
    if not body:
        out.append("/>")
    elif type(body) is str:
        out.append(f">{_text(body) if _TEXT_SPECIAL(body) else body}</{tag}>")
    else:
        assert isinstance(body, tuple)
        out.append(">")
        # Only a container's layout is free: elsewhere whitespace would be content.
        if indent is None or not isinstance(node, Container) or str in map(type, body):
            for child in body:
                _write(child, out, None)
        else:
            inner = indent + "  "
            for child in body:
                out.append(inner)
                _write(child, out, inner)
            out.append(indent)
        out.append(f"</{tag}>")
