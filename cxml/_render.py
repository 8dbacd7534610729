"""Writing documents: deterministic, well-formed, every value escaped exactly once, here.

The model refuses characters XML cannot carry when a node is built, so writing needs no
checks, only escaping; that is why this is plain string building rather than an lxml tree
(several times faster, and `tests/test_render.py` reads every output back with lxml).
"""

from __future__ import annotations

from typing import Final

from ._errors import CxmlValueError
from ._kinds import TEXT, Kind
from ._model import BY_TAG, Container, Content, Element, Node, Response

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

# Whether a value needs escaping is a few `in` scans, not a regex search: each scan runs in
# C without setting up a match, several times faster for short values and long URLs alike.


def _attr(value: str) -> str:
    if (
        "&" in value or "<" in value or ">" in value or '"' in value
        or "\t" in value or "\n" in value or "\r" in value
    ):  # fmt: skip
        return value.translate(_ATTR)
    return value


def _text(value: str) -> str:
    if "&" in value or "<" in value or ">" in value or "\r" in value:
        return value.translate(_TEXT)
    return value


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
    shape = _SHAPES.get(node.__class__)
    if shape is None:
        if isinstance(node, str):
            out.append(_text(node))
            return
        if isinstance(node, Element):
            _write_element(node, out)
            return
        shape = _shape(type(node))  # a subclass of a node class
    start, end, attributes, body_name, layout = shape
    # A node's __dict__ holds only what was given, attributes first in field order.
    fields = node.__dict__
    out.append(start)
    for name, value in fields.items():
        spec = attributes.get(name)
        if spec is not None:
            text = value if spec[1] is None else spec[1].write(value)
            # `_attr`, inline (the hot path)
            if (
                "&" in text or "<" in text or ">" in text or '"' in text
                or "\t" in text or "\n" in text or "\r" in text
            ):  # fmt: skip
                text = text.translate(_ATTR)
            out.append(spec[0] + text + '"')
    extra = fields.get("extra")
    if extra:
        for key, text in extra:
            out.append(f' {key}="{_attr(text)}"')
    body = fields.get(body_name) if body_name else None
    if not body:
        out.append("/>")
    elif type(body) is str:
        out.append(f">{_text(body)}{end}")
    else:
        _write_content(body, out, indent if layout else None, end)


def _write_element(node: Element, out: list[str]) -> None:
    tag = node.tag
    out.append("<" + tag)
    for key, text in node.attributes:
        out.append(f' {key}="{_attr(text)}"')
    if node.content:
        _write_content(node.content, out, None, f"</{tag}>")
    else:
        out.append("/>")


def _write_content(body: Content, out: list[str], indent: str | None, end: str) -> None:
    """Children, inline or (``indent``: a container's, whose layout is free) one a line."""
    out.append(">")
    if indent is None or str in map(type, body):
        for child in body:
            _write(child, out, None)
    else:
        inner = indent + "  "
        for child in body:
            out.append(inner)
            _write(child, out, inner)
        out.append(indent)
    out.append(end)


#: What writing a node of a class looks up: ``<Tag``, ``</Tag>``, python name ->
#: (`` wire="``, its kind or None for text), the body field, whether its layout is free.
_Shape = tuple[str, str, dict[str, tuple[str, Kind | None]], str | None, bool]


def _shape(cls: type[Node]) -> _Shape:
    return (
        "<" + cls.tag,
        f"</{cls.tag}>",
        {name: (f' {wire}="', None if kind is TEXT else kind) for name, wire, kind in cls.wire},
        cls.body,
        issubclass(cls, Container),
    )


_SHAPES: Final[dict[type, _Shape]] = {cls: _shape(cls) for cls in BY_TAG.values()}
