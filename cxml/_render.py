"""Writing documents: deterministic, well-formed, every value escaped exactly once, here.

The model refuses characters XML cannot carry when a node is built, so writing needs no
checks, only escaping; that is why this is plain string building rather than an lxml tree
(several times faster, and `tests/test_render.py` reads every output back with lxml).
"""

from __future__ import annotations

from typing import Final

from ._errors import CxmlValueError
from ._kinds import TEXT
from ._model import Container, Element, Node, Response, Text

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


def _attr(value: str) -> str:
    return value.translate(_ATTR) if not value.isalnum() else value


def _text(value: str) -> str:
    return value.translate(_TEXT) if not value.isalnum() else value


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
        out.append(_text(node))
        return
    if isinstance(node, Element):
        out.append(f"<{node.tag}")
        pairs = node.attributes
        body: object = node.content
    else:
        out.append(f"<{node.tag}")
        for name, wire, kind in node.wire:
            value = getattr(node, name)
            if value is not None:
                text = value if kind is TEXT else kind.write(value)
                out.append(f' {wire}="{_attr(text)}"')
        pairs = node.extra
        body = (
            node.children
            if isinstance(node, Container)
            else node.text
            if isinstance(node, Text)
            else ""
        )
    for key, text in pairs:
        out.append(f' {key}="{_attr(text)}"')
    if not body:
        out.append("/>")
        return
    out.append(">")
    if isinstance(body, str):
        out.append(_text(body))
    else:
        assert isinstance(body, tuple)
        # Only a container's layout is free: elsewhere whitespace would be content.
        inner = None
        if (
            indent is not None
            and isinstance(node, Container)
            and not any(isinstance(child, str) for child in body)
        ):
            inner = indent + "  "
        for child in body:
            if inner is not None:
                out.append(inner)
            _write(child, out, inner)
        if inner is not None:
            out.append(inner[:-2])
    out.append(f"</{node.tag}>")
