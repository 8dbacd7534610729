"""Reading YAML and JSON data safely: the one reader for every data file cxmlflow reads (PBX
configurations, flow definitions, call scenarios, flow-run scripts).

Everything it refuses is a `DataError` (a `CxmlError`) naming the file and, where known, the
line, column and data path (``$.extensions.1001``); nothing else escapes, whatever the bytes:

- ``UNREADABLE_FILE``: the file cannot be opened (missing, a directory, a NUL in the name);
- ``NOT_UTF8``: bytes that are not UTF-8 (a UTF-8 byte-order mark is allowed);
- ``TOO_LARGE``: more than ``max_bytes`` bytes, or more than ``max_values`` values;
- ``TOO_DEEP``: lists and mappings nested deeper than ``max_depth``;
- ``YAML_ALIAS``: YAML anchors, aliases and merge keys (``&a``, ``*a``, ``<<``). Refused
  rather than bounded: a 665-byte file of nested aliases expands into gigabytes, and no
  configuration needs them;
- ``DUPLICATE_KEY``: a key given twice in one mapping (YAML or JSON); otherwise the last one
  would silently win;
- ``INVALID_YAML``, ``INVALID_JSON``: not YAML or JSON; in YAML also a tag beyond the JSON-like
  types (str, int, float, bool, null, timestamp), a key that is a list or mapping, a scalar
  that cannot be read as its type (``2026-13-45``) and more than one document. JSON's ``NaN``
  and ``Infinity`` are refused too.

YAML is read event by event from PyYAML's C parser where libyaml is installed (the pure-Python
parser otherwise), and the values are built here, iteratively, so no input reaches Python's
recursion limit. An empty document is ``None``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from ._errors import CxmlError

__all__ = [
    "MAX_DATA_BYTES",
    "MAX_DEPTH",
    "MAX_VALUES",
    "DataError",
    "check_size",
    "data_format",
    "load_data",
    "load_data_file",
]

DataFormat = Literal["yaml", "json"]

#: Caps that keep any input under a second of work and a few tens of megabytes. A 10,000-DID
#: PBX is about 60,000 values; a configuration nests about 6 deep, a flow's options a little more.
MAX_DATA_BYTES: Final = 8 * 1024 * 1024
MAX_DEPTH: Final = 64
MAX_VALUES: Final = 200_000

#: PyYAML's C parser where libyaml is installed: the pure-Python one takes 13 s for 2.4 MB.
_LOADER: Final[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG: Final = "tag:yaml.org,2002:"
_SCALAR_TAGS: Final = frozenset(
    _TAG + name for name in ("str", "int", "float", "bool", "null", "timestamp")
)
_COLLECTION_TAGS: Final = frozenset({None, "!", _TAG + "seq", _TAG + "map"})


class DataError(CxmlError, ValueError):
    """A data file (or text) cannot be read; ``source`` names it, ``line`` and ``column``
    (1-based) and ``path`` (``$.dids``) say where, when known."""

    code: int | str = "INVALID_DATA"

    def __init__(
        self,
        message: str,
        *,
        code: str,
        source: str,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.source = source
        self.path = path
        self.line = line
        self.column = column

    @property
    def location(self) -> str:
        """``source:line:column`` (as much of it as is known)."""
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def __str__(self) -> str:
        at = f" (at {self.path})" if self.path else ""
        return f"[{self.code}] {self.location}: {self.message}{at}"


def data_format(path: str | os.PathLike[str], default: DataFormat) -> DataFormat:
    """``json`` for a ``.json`` file, ``yaml`` for ``.yaml`` and ``.yml``, else ``default``."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    return default


def load_data_file(
    path: str | os.PathLike[str],
    *,
    format: DataFormat | None = None,
    default_format: DataFormat = "yaml",
    max_bytes: int = MAX_DATA_BYTES,
    max_depth: int = MAX_DEPTH,
    max_values: int = MAX_VALUES,
) -> object:
    """The data in the file at ``path``; ``format`` (else the suffix, else ``default_format``)
    says how to read it. Raises `DataError` only; a file with no document in it (empty, or
    only comments) is ``EMPTY_FILE``: an empty configuration or scenario is a mistake."""
    source = os.fspath(path) if isinstance(path, str | os.PathLike) else repr(path)
    try:
        with open(path, "rb") as file:
            raw = file.read(max_bytes + 1)
    except (OSError, ValueError, TypeError) as exc:  # ValueError: a NUL in the name
        reason = getattr(exc, "strerror", None) or str(exc)
        raise DataError(reason, code="UNREADABLE_FILE", source=source) from None
    if len(raw) > max_bytes:
        raise DataError(
            f"the file is larger than {max_bytes} bytes", code="TOO_LARGE", source=source
        )
    return load_data(
        raw,
        format=format or data_format(source, default_format),
        source=source,
        max_depth=max_depth,
        max_values=max_values,
        empty=False,
    )


def load_data(
    data: bytes | str,
    *,
    format: DataFormat,
    source: str = "<data>",
    max_depth: int = MAX_DEPTH,
    max_values: int = MAX_VALUES,
    empty: bool = True,
) -> object:
    """The value YAML or JSON ``data`` holds; ``source`` names it in errors. Text with no
    document (blank, or YAML comments only) is ``None``, or with ``empty=False`` an
    ``EMPTY_FILE`` error. Raises `DataError` only."""
    text = _text(data, source)
    if not empty and _blank(text, format):
        raise DataError("the file is empty", code="EMPTY_FILE", source=source)
    if format == "json":
        return _load_json(text, source, max_depth, max_values)
    return _Builder(text, source, max_depth, max_values).build()


def check_size(
    value: object,
    *,
    source: str = "<data>",
    max_depth: int = MAX_DEPTH,
    max_values: int = MAX_VALUES,
) -> None:
    """Refuse data (already in Python: a mapping handed to a loader) with more than
    ``max_values`` values or nested deeper than ``max_depth``, without recursion.

    A value reached twice counts twice, so lists that share their items (the Python form of a
    YAML alias bomb) run out of budget instead of out of memory."""
    _walk(value, source, max_depth, max_values)


# --- text ------------------------------------------------------------------------------------


def _text(data: bytes | str, source: str) -> str:
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate
            line, column = _position(data, exc.start)
            raise DataError(
                "holds a character UTF-8 cannot carry (a lone surrogate)",
                code="NOT_UTF8", source=source, line=line, column=column,
            ) from None  # fmt: skip
        return data.removeprefix("\ufeff")
    if not isinstance(data, bytes | bytearray):
        raise DataError(
            f"expected text or bytes, not {type(data).__name__}", code="INVALID_DATA", source=source
        )
    try:
        return bytes(data).decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(
            f"is not UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8",
            code="NOT_UTF8", source=source, line=line, column=column,
        ) from None  # fmt: skip


def _blank(text: str, format: DataFormat) -> bool:
    if format == "json":
        return not text.strip()
    return all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines())


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``text[index]``."""
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


# --- JSON ------------------------------------------------------------------------------------


class _Duplicated(dict[str, Any]):
    """A JSON object that had a key twice (found, with its path, by the walk after parsing:
    the parser's hook does not know where it is)."""

    duplicate: str = ""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    made = dict(pairs)
    if len(made) == len(pairs):
        return made
    seen: set[str] = set()
    flagged = _Duplicated(made)
    flagged.duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
    return flagged


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _load_json(text: str, source: str, max_depth: int, max_values: int) -> object:
    try:
        value = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"not valid JSON: {exc.msg}",
            code="INVALID_JSON", source=source, line=exc.lineno, column=exc.colno,
        ) from None  # fmt: skip
    except RecursionError:  # the json module recurses once per level
        raise DataError(
            f"nested deeper than {max_depth} levels", code="TOO_DEEP", source=source
        ) from None
    except ValueError as exc:  # NaN, or an integer of more digits than Python converts
        raise DataError(f"not valid JSON: {exc}", code="INVALID_JSON", source=source) from None
    _walk(value, source, max_depth, max_values)
    return value


def _walk(value: object, source: str, max_depth: int, max_values: int) -> None:
    # Each entry: the value, its depth and its path as a linked list (rendered on error only).
    stack: list[tuple[object, int, tuple[Any, ...]]] = [(value, 0, ())]
    count = 0
    while stack:
        item, depth, trail = stack.pop()
        count += 1
        if count > max_values:
            raise DataError(
                f"holds more than {max_values} values",
                code="TOO_LARGE", source=source, path=_render(trail),
            )  # fmt: skip
        if isinstance(item, Mapping):
            children: Any = item.items()
        elif isinstance(item, list | tuple):
            children = enumerate(item)
        else:
            continue
        if depth >= max_depth:
            raise DataError(
                f"nested deeper than {max_depth} levels",
                code="TOO_DEEP", source=source, path=_render(trail),
            )  # fmt: skip
        if isinstance(item, _Duplicated):
            raise DataError(
                f"the key {item.duplicate!r} is given twice",
                code="DUPLICATE_KEY", source=source, path=_render((trail, item.duplicate)),
            )  # fmt: skip
        if count + len(stack) + len(item) > max_values:
            raise DataError(
                f"holds more than {max_values} values",
                code="TOO_LARGE", source=source, path=_render(trail),
            )  # fmt: skip
        stack.extend((child, depth + 1, (trail, key)) for key, child in children)


def _render(trail: tuple[Any, ...]) -> str:
    keys: list[object] = []
    while trail:
        trail, key = trail
        keys.append(key)
    return "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in reversed(keys))


# --- YAML ------------------------------------------------------------------------------------

_NO_KEY: Final = object()


class _Frame:
    """A list or mapping being built; ``key`` is a mapping's key awaiting its value."""

    __slots__ = ("container", "key", "trail")

    def __init__(self, container: list[Any] | dict[Any, Any], trail: tuple[Any, ...]) -> None:
        self.container = container
        self.key: Any = _NO_KEY
        self.trail = trail


class _Builder:
    """Builds one YAML document from parser events, with the checks of the module docstring."""

    def __init__(self, text: str, source: str, max_depth: int, max_values: int) -> None:
        self.text = text
        self.source = source
        self.max_depth = max_depth
        self.max_values = max_values
        self.loader: Any = None
        self.stack: list[_Frame] = []
        self.count = 0

    def fail(self, message: str, code: str, event: Any, trail: tuple[Any, ...] | None) -> DataError:
        mark = event.start_mark
        return DataError(
            message,
            code=code,
            source=self.source,
            path=None if trail is None else _render(trail),
            line=mark.line + 1,
            column=mark.column + 1,
        )

    def build(self) -> object:
        try:
            # The pure-Python reader checks the characters as it is made.
            self.loader = _LOADER(self.text)
            return self._document()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = " ".join(p for p in (exc.context, exc.problem) if p)
            # libyaml stops flow collections ([[[...) nested 1,000 deep before we see them
            deep = "nesting depth" in problem
            raise DataError(
                f"nested deeper than {self.max_depth} levels"
                if deep
                else f"not valid YAML: {problem}",
                code="TOO_DEEP" if deep else "INVALID_YAML",
                source=self.source,
                line=None if mark is None else mark.line + 1,
                column=None if mark is None else mark.column + 1,
            ) from None
        except yaml.reader.ReaderError as exc:
            # The C parser counts UTF-8 bytes, the Python one characters.
            offset = exc.position
            if _LOADER is not yaml.SafeLoader:
                offset = len(self.text.encode("utf-8")[:offset].decode("utf-8", "ignore"))
            line, column = _position(self.text, offset)
            raise DataError(
                f"not valid YAML: {exc.reason}",
                code="INVALID_YAML", source=self.source, line=line, column=column,
            ) from None  # fmt: skip
        except yaml.YAMLError as exc:  # pragma: no cover - every parser error has a mark
            raise DataError(
                f"not valid YAML: {exc}", code="INVALID_YAML", source=self.source
            ) from None
        finally:
            if self.loader is not None:
                self.loader.dispose()

    def _document(self) -> object:
        loader = self.loader
        loader.get_event()  # stream start
        if loader.check_event(yaml.StreamEndEvent):
            return None
        loader.get_event()  # document start
        value = self._value()
        loader.get_event()  # document end
        if not loader.check_event(yaml.StreamEndEvent):
            event = loader.peek_event()
            raise self.fail("holds more than one YAML document", "INVALID_YAML", event, None)
        return value

    def _value(self) -> object:
        """Read events until one whole value is built."""
        stack = self.stack
        while True:
            event = self.loader.get_event()
            if isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
                value: Any = stack.pop().container
            elif isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise self.fail(
                    "YAML anchors and aliases (&name, *name) are not accepted; write the "
                    "value out", "YAML_ALIAS", event, self._trail(),
                )  # fmt: skip
            else:
                self.count += 1
                if self.count > self.max_values:
                    raise self.fail(
                        f"holds more than {self.max_values} values",
                        "TOO_LARGE", event, self._trail(),
                    )  # fmt: skip
                if isinstance(event, yaml.ScalarEvent):
                    value = self._scalar(event)
                else:
                    self._open(event)
                    continue
            if not stack:
                return value
            self._add(value, event)

    def _trail(self) -> tuple[Any, ...]:
        """The path of the value the next event makes."""
        if not self.stack:
            return ()
        frame = self.stack[-1]
        if isinstance(frame.container, list):
            return (frame.trail, len(frame.container))
        return frame.trail if frame.key is _NO_KEY else (frame.trail, frame.key)

    def _open(self, event: Any) -> None:
        trail = self._trail()
        if event.tag not in _COLLECTION_TAGS:
            raise self.fail(f"the tag {event.tag} is not accepted", "INVALID_YAML", event, trail)
        parent = self.stack[-1] if self.stack else None
        if parent is not None and isinstance(parent.container, dict) and parent.key is _NO_KEY:
            raise self.fail(
                "a key must be text or a number, not a list or mapping",
                "INVALID_YAML", event, trail,
            )  # fmt: skip
        if len(self.stack) >= self.max_depth:
            raise self.fail(f"nested deeper than {self.max_depth} levels", "TOO_DEEP", event, trail)
        container: Any = [] if isinstance(event, yaml.SequenceStartEvent) else {}
        self.stack.append(_Frame(container, trail))

    def _add(self, value: object, event: Any) -> None:
        frame = self.stack[-1]
        if isinstance(frame.container, list):
            frame.container.append(value)
        elif frame.key is _NO_KEY:
            if value in frame.container:
                raise self.fail(
                    f"the key {value!r} is given twice",
                    "DUPLICATE_KEY", event, (frame.trail, value),
                )  # fmt: skip
            frame.key = value
        else:
            frame.container[frame.key] = value
            frame.key = _NO_KEY

    def _scalar(self, event: Any) -> object:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == _TAG + "merge":
            raise self.fail(
                "YAML merge keys (<<) are not accepted; write the keys out",
                "YAML_ALIAS", event, self._trail(),
            )  # fmt: skip
        if tag not in _SCALAR_TAGS:
            raise self.fail(f"the tag {tag} is not accepted", "INVALID_YAML", event, self._trail())
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return _LOADER.yaml_constructors[tag](self.loader, node)
        except (ValueError, OverflowError, yaml.YAMLError) as exc:
            kind = tag.removeprefix(_TAG)
            raise self.fail(
                f"{event.value[:40]!r} is not a valid {kind} ({exc}); quote it to keep it as text",
                "INVALID_YAML",
                event,
                self._trail(),
            ) from None
