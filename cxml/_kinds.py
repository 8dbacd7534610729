"""Attribute kinds: how each CXML attribute is checked in Python, read from and written to XML.

A model field holds only a value of the right type (and, for enums, a known value); the parser
keeps wire text it cannot read as such in the node's ``extra`` attributes, where `validate`
reports it. Ranges are judged by `validate`, not by the constructor, so that a document read
from the wire can always be held and reported on.

A value read in a spelling other than the one `Kind.write` gives (``input="dtmf,speech"``,
``trim="do-not-trim"`` on a Conference, ``timeout="05"``) is held as a `Spelled` value: equal
to, and used as, the normalised value, but written back as it was read. A value the user sets
is written in the normalised spelling.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Final

from ._errors import CxmlValueError

__all__ = [
    "BOOL",
    "FLOAT",
    "INT",
    "TEXT",
    "Kind",
    "Spelled",
    "check_xml_text",
    "kind_enum",
    "kind_int",
    "kind_list",
]

# XML 1.0 Char: everything else (NUL, other C0 controls, lone surrogates, U+FFFE/U+FFFF) cannot
# appear in a document, escaped or not.
_NOT_XML_CHAR: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_INT: Final = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")


class Invalid:
    """Marker for wire text a kind cannot read."""


INVALID: Final = Invalid()


class Spelled:
    """A value read from the wire in a spelling of its own, kept in ``wire``.

    Subclasses of str, int, float and tuple: the value compares, hashes and computes as the
    normalised value (``"do-no-trim"``, ``7``, ``("dtmf", "speech")``) and is written back as
    ``wire`` (``"do-not-trim"``, ``"07"``, ``"dtmf,speech"``).
    """

    wire: str

    def __repr__(self) -> str:
        return repr(_PLAIN[type(self)](self))

    def __reduce__(self) -> tuple[object, ...]:
        return (_spelled, (_PLAIN[type(self)](self), self.wire))


class _SpelledStr(Spelled, str):
    pass


class _SpelledInt(Spelled, int):
    pass


class _SpelledFloat(Spelled, float):
    pass


class _SpelledTuple(Spelled, tuple):  # type: ignore[type-arg]
    pass


_SPELLED: Final[dict[type, type]] = {
    str: _SpelledStr,
    int: _SpelledInt,
    float: _SpelledFloat,
    tuple: _SpelledTuple,
}
_PLAIN: Final[dict[type, type]] = {spelled: plain for plain, spelled in _SPELLED.items()}


def _spelled(value: object, text: str) -> object:
    """``value`` remembering that it was written ``text``."""
    made = _SPELLED[type(value)](value)
    made.wire = text
    return made


def _as_read(kind: Kind, value: object, text: str) -> object:
    """``value`` read from ``text``: Spelled when ``kind`` would write it otherwise."""
    return value if kind.write(value) == text else _spelled(value, text)


def _plain(value: object) -> object:
    """The normalised value of a Spelled value (anything else as it is)."""
    return _PLAIN[type(value)](value) if isinstance(value, Spelled) else value


def check_xml_text(value: str, where: str) -> str:
    """Return ``value`` if XML can carry it; raise `CxmlValueError` naming ``where`` otherwise."""
    bad = _NOT_XML_CHAR.search(value)
    if bad is not None:
        raise CxmlValueError(
            f"{where}: character U+{ord(bad.group()):04X} at index {bad.start()} "
            "cannot appear in XML",
            code=12100,
        )
    return value


class Kind:
    """Plain text; subclasses narrow the type. ``describe`` says what a valid value looks like."""

    describe = "text"

    def coerce(self, value: object, owner: str, name: str) -> object:
        """Check a Python value given to ``owner.name``; return it (normalised) or raise."""
        if isinstance(value, str):
            return value if value.isprintable() else check_xml_text(value, f"{owner}.{name}")
        raise CxmlValueError(
            f"{owner}.{name}: expected {self.describe}, got {type(value).__name__}"
        )

    def read(self, text: str) -> object:
        """Wire text to a Python value, or INVALID."""
        return text

    def write(self, value: object) -> str:
        """Python value to wire text."""
        return value  # type: ignore[return-value]  # only str reaches the base kind

    def problem(self, value: object) -> str | None:
        """Why a well-typed value is out of range, or None."""
        return None

    def kept(self, value: Spelled) -> object:
        """A Spelled value given again (`replace` passes on the fields it keeps): kept with
        its spelling when that text reads as the same value here, else its plain value."""
        return value if self.read(value.wire) == value else _plain(value)


class _Bool(Kind):
    describe = "true or false"

    def coerce(self, value: object, owner: str, name: str) -> object:
        if not isinstance(value, bool):
            raise CxmlValueError(
                f"{owner}.{name}: expected {self.describe}, got {type(value).__name__}"
            )
        return value

    def read(self, text: str) -> object:
        return {"true": True, "false": False}.get(text, INVALID)

    def write(self, value: object) -> str:
        return "true" if value else "false"


class _Int(Kind):
    """An integer in a range; ``words`` are strings allowed instead (``speechTimeout="auto"``)."""

    def __init__(self, low: int | None, high: int | None, words: tuple[str, ...] = ()) -> None:
        self.low, self.high, self.words = low, high, words
        self.describe = " or ".join(("an integer", *(repr(w) for w in words)))

    def coerce(self, value: object, owner: str, name: str) -> object:
        if type(value) is int or (isinstance(value, str) and value in self.words):
            return value
        if isinstance(value, Spelled):
            value = self.kept(value)
            if isinstance(value, Spelled):
                return value
        if not isinstance(value, int) or isinstance(value, bool):
            raise CxmlValueError(
                f"{owner}.{name}: expected {self.describe}, got {type(value).__name__}"
            )
        return value

    def read(self, text: str) -> object:
        if text.isdigit() and text.isascii() and len(text) < 20:
            number = int(text)
            return number if text[0] != "0" or len(text) == 1 else _spelled(number, text)
        if text in self.words:
            return text
        return _as_read(self, int(text), text) if _INT.match(text) and len(text) < 20 else INVALID

    def write(self, value: object) -> str:
        if isinstance(value, Spelled):
            return value.wire
        return value if isinstance(value, str) else str(value)

    def problem(self, value: object) -> str | None:
        if not isinstance(value, int | float):
            return None
        if self.low is not None and value < self.low:
            return f"must be at least {self.low}"
        if self.high is not None and value > self.high:
            return f"must be at most {self.high}"
        return None


class _Float(_Int):
    """Any finite number (``speechTimeout="1.5"``) in a range; ``words`` as for `_Int`."""

    def __init__(
        self,
        low: int | None,
        high: int | None,
        words: tuple[str, ...] = (),
        positive: bool = False,
    ) -> None:
        super().__init__(low, high, words)
        self.positive = positive
        self.describe = " or ".join(("a number", *(repr(w) for w in words)))

    def coerce(self, value: object, owner: str, name: str) -> object:
        if isinstance(value, str) and not isinstance(value, Spelled) and value in self.words:
            return value
        if isinstance(value, Spelled):
            value = self.kept(value)
            if isinstance(value, Spelled):
                return value
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value):  # type: ignore[arg-type]
            expected = " or ".join(("a finite number", *(repr(w) for w in self.words)))
            raise CxmlValueError(f"{owner}.{name}: expected {expected}, got {value!r}")
        return value

    def read(self, text: str) -> object:
        whole = super().read(text)  # integers (the usual case) and words, as `_Int` reads them
        if whole is not INVALID:
            return whole
        if _FLOAT.match(text) and len(text) < 40:
            number = float(text)
            return _as_read(self, number, text) if math.isfinite(number) else INVALID
        return INVALID

    def write(self, value: object) -> str:
        if isinstance(value, Spelled):
            return value.wire
        return value if isinstance(value, str) else repr(value)

    def problem(self, value: object) -> str | None:
        if self.positive and isinstance(value, int | float) and value <= 0:
            return "must be more than 0"
        return super().problem(value)


class _Enum(Kind):
    """One of a fixed set of strings; booleans allowed where the set includes true/false."""

    def __init__(self, values: Iterable[str], aliases: Mapping[str, str], booleans: bool) -> None:
        self.values = tuple(values)
        self.aliases = dict(aliases)
        self.booleans = booleans
        shown = [*self.values, *(("true", "false") if booleans else ())]
        self.describe = "one of " + ", ".join(repr(v) for v in shown)

    def coerce(self, value: object, owner: str, name: str) -> object:
        if isinstance(value, bool) and self.booleans:
            return value
        if isinstance(value, Spelled):
            value = self.kept(value)
            if isinstance(value, Spelled):
                return value
        if isinstance(value, str):
            value = self.aliases.get(value, value)
            if value in self.values:
                return value
        raise CxmlValueError(f"{owner}.{name}: expected {self.describe}, got {value!r}")

    def read(self, text: str) -> object:
        if self.booleans and text in ("true", "false"):
            return text == "true"
        value = self.aliases.get(text, text)
        if value not in self.values:
            return INVALID
        return value if value is text else _spelled(value, text)

    def write(self, value: object) -> str:
        if isinstance(value, Spelled):
            return value.wire
        if isinstance(value, bool):
            return "true" if value else "false"
        return value  # type: ignore[return-value]


class _List(Kind):
    """Several values in one attribute, written with ``sep``; read with commas or spaces."""

    def __init__(self, values: Iterable[str] | None, sep: str, json_arrays: bool) -> None:
        self.values = tuple(values) if values is not None else None
        self.sep = sep
        self.json_arrays = json_arrays
        self.describe = (
            "a list of " + ", ".join(repr(v) for v in self.values) if self.values else "a list"
        )

    def coerce(self, value: object, owner: str, name: str) -> object:
        if isinstance(value, Spelled):
            value = self.kept(value)
            if isinstance(value, Spelled):
                return value
        items = self._split(value) if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise CxmlValueError(f"{owner}.{name}: expected {self.describe}, got {value!r}")
        for item in items:
            if not item or (self.values is not None and item not in self.values):
                raise CxmlValueError(
                    f"{owner}.{name}: {item!r} is not allowed; expected {self.describe}"
                )
            check_xml_text(item, f"{owner}.{name}")
        return tuple(items)

    def _split(self, text: str) -> list[str]:
        return text.replace(",", " ").split()

    def read(self, text: str) -> object:
        items: list[str]
        if self.json_arrays and text.startswith("["):
            try:
                loaded = json.loads(text)
            except ValueError:
                return INVALID
            if not isinstance(loaded, list) or not all(
                isinstance(i, str | int) and not isinstance(i, bool) for i in loaded
            ):
                return INVALID
            items = [str(i) for i in loaded]
        else:
            items = self._split(text)
        if not items or (self.values is not None and any(i not in self.values for i in items)):
            return INVALID
        value = tuple(items)
        return value if self.sep.join(value) == text else _spelled(value, text)

    def write(self, value: object) -> str:
        if isinstance(value, Spelled):
            return value.wire
        return self.sep.join(value)  # type: ignore[arg-type]


TEXT: Final = Kind()
BOOL: Final = _Bool()
INT: Final = _Int(None, None)
FLOAT: Final = _Float(None, None)


def kind_int(
    low: int | None = None,
    high: int | None = None,
    *,
    real: bool = False,
    words: tuple[str, ...] = (),
    positive: bool = False,
) -> Kind:
    """An integer (with ``real``, any finite number; with ``positive``, above 0) that
    `validate` keeps in range."""
    return _Float(low, high, words, positive) if real else _Int(low, high, words)


def kind_enum(
    *values: str, aliases: Mapping[str, str] | None = None, booleans: bool = False
) -> Kind:
    """One of ``values``; ``aliases`` are accepted on input and written as their target."""
    return _Enum(values, aliases or {}, booleans)


def kind_list(*values: str, sep: str = " ", json_arrays: bool = False) -> Kind:
    """A list of ``values`` (any non-empty strings when none are given)."""
    return _List(values or None, sep, json_arrays)
