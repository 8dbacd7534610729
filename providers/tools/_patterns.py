"""JSON Schema ``pattern`` regexes that cannot backtrack without bound.

A function's schema is configuration, its arguments come from the model (so, in the end, from
the caller). Python's ``re`` backtracks: ``^(a+)+$`` takes seconds on 26 characters. So a
schema is checked when the function is defined, and refused (naming the schema path) if a
``pattern`` or a ``patternProperties`` key has

* a backreference (``(a)\\1``: matching them is NP-hard);
* nested quantifiers (``(a+)+``, ``(\\w+\\.)*``, ``(a?a?)+``), unless the inner one can
  split the text only a few ways (``(\\d{1,3}\\.){3}``: 27; ``(a?){20}``: a million, refused);
* an alternation under a quantifier whose branches can start with the same character
  (``(a|ab)+``);
* two unbounded quantifiers that can match the same characters with nothing between them that
  only one can match (``\\d+\\d+``, ``.*a.*b``; ``\\w+@\\w+`` is fine: ``@`` is not a word
  character).

What is left is at most quadratic in the text's length (an unanchored ``\\d+x`` tries every
start), so the validator matches a pattern against at most `MAX_PATTERN_TEXT` characters.

The check reads patterns with the parser ``re`` itself uses (``re._parser``), so it sees
exactly what ``re.search`` will run. It is conservative: some safe patterns are refused;
rewrite them with possessive quantifiers or atomic groups (``(?>...)``, ``a++``) or with
bounded counts.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any, Final

__all__ = ["MAX_PATTERN_TEXT", "pattern_problem", "schema_patterns"]

#: The longest text (or property name) a schema pattern is matched against.
MAX_PATTERN_TEXT: Final = 1024
#: Most ways nested quantifiers may split a text: ``(\d{1,3}\.){3}`` has 3 ** 3 = 27.
_NESTED_LIMIT: Final = 100

_parser: Any = importlib.import_module("re._parser")  # what re.compile parses with
_compiler: Any = importlib.import_module("re._compiler")
_REPEATS: Final = frozenset({_parser.MAX_REPEAT, _parser.MIN_REPEAT, _parser.POSSESSIVE_REPEAT})
_ONE_CHARACTER: Final = frozenset({_parser.LITERAL, _parser.NOT_LITERAL, _parser.ANY, _parser.IN})
_BACKREFERENCES: Final = frozenset({_parser.GROUPREF, _parser.GROUPREF_EXISTS})
#: The characters overlaps are decided on: Latin, and one of each other common kind.
_SAMPLE: Final = "".join(map(chr, range(0x250))) + "\u0660\u2028\u3000\u4e2d\U0001f600"
_ALL: Final = frozenset(_SAMPLE)

#: Keywords whose value is a schema, a list of schemas, or a mapping of names to schemas.
_SCHEMA: Final = frozenset(
    "additionalItems additionalProperties contains else if items not propertyNames then "  # noqa: SIM905
    "unevaluatedItems unevaluatedProperties".split()
)
_SCHEMAS: Final = frozenset({"allOf", "anyOf", "oneOf", "prefixItems", "items"})
_NAMED: Final = frozenset(
    {"$defs", "definitions", "dependentSchemas", "dependencies", "properties", "patternProperties"}
)


def _ways(choices: float, repeats: float) -> float:
    """How many ways ``repeats`` copies of a quantifier with ``choices`` counts can split a
    text (``choices ** repeats``, without computing a huge power)."""
    if math.isinf(choices) or math.isinf(repeats):
        return math.inf
    return math.inf if repeats * math.log(choices) > math.log(_NESTED_LIMIT) else choices**repeats


class _Scan:
    """One pattern's parse, asked for what could make ``re`` backtrack without bound."""

    def __init__(self, pattern: str) -> None:
        self.tree = _parser.parse(pattern)

    def chars(self, items: list[Any]) -> frozenset[str]:
        """The sample characters one item matches; every character if it is not one."""
        while len(items) == 1 and items[0][0] is _parser.SUBPATTERN:
            items = list(items[0][1][3])
        if len(items) != 1 or items[0][0] not in _ONE_CHARACTER:
            return _ALL
        one = _compiler.compile(_parser.SubPattern(self.tree.state, items), self.tree.state.flags)
        return frozenset(c for c in _SAMPLE if one.fullmatch(c))

    def flat(self, items: list[Any]) -> Iterator[tuple[Any, Any]]:
        """The items of a sequence, groups opened in place (a group is matched once)."""
        for op, av in items:
            if op is _parser.SUBPATTERN:
                yield from self.flat(list(av[3]))
            else:
                yield op, av

    def problem(self, items: list[Any], outer: float = 1) -> str | None:
        """What makes the sequence ``items`` unsafe; ``outer`` is how often an enclosing
        quantifier may repeat it."""
        unbounded: frozenset[str] | None = None  # what the last open ``x*`` can still take
        for op, av in self.flat(items):
            found: str | None = None
            if op in _BACKREFERENCES:
                return "has a backreference"
            if op in _REPEATS:
                low, high, body = av
                count = math.inf if high == _parser.MAXREPEAT else high
                if outer > 1 and low != high and _ways(high - low + 1, outer) > _NESTED_LIMIT:
                    return "nests quantifiers (such as (a+)+)"
                found = self.problem(list(body), outer * max(count, 1))
                chars = self.chars(list(body))
                if count == math.inf:
                    if unbounded is not None and unbounded & chars:
                        return "has two unbounded quantifiers that can match the same text"
                    unbounded = chars
                elif low > 0 and unbounded is not None and not unbounded & chars:
                    unbounded = None  # the open quantifier must stop before this
            elif op is _parser.BRANCH:
                branches = [list(branch) for branch in av[1]]
                if outer > 1 and not self.disjoint(branches):
                    return "repeats alternatives that can start alike (such as (a|ab)+)"
                found = next(filter(None, (self.problem(b, outer) for b in branches)), None)
            elif op in (_parser.ASSERT, _parser.ASSERT_NOT):
                found = self.problem(list(av[1]), outer)
            elif op is _parser.ATOMIC_GROUP:
                found = self.problem(list(av), outer)
            elif (
                op in _ONE_CHARACTER
                and unbounded is not None
                and not unbounded & self.chars([(op, av)])
            ):
                unbounded = None
            if found is not None:
                return found
        return None

    def disjoint(self, branches: list[list[Any]]) -> bool:
        """Whether each branch starts with a character no other branch starts with."""
        seen: set[str] = set()
        for branch in branches:
            first = next(self.flat(branch), None)
            if first is None or first[0] not in _ONE_CHARACTER:
                return False  # empty, or starts with a quantifier, a group, an anchor
            chars = self.chars([first])
            if seen & chars:
                return False
            seen |= chars
        return True


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` could make ``re.search`` backtrack without bound, or None.

    >>> pattern_problem(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$") is None
    True
    >>> pattern_problem(r"^(a+)+$")
    'nests quantifiers (such as (a+)+)'
    """
    try:
        scan = _Scan(pattern)
    except Exception:  # re.error, RecursionError on deep nesting, OverflowError on counts
        return "is not a regular expression Python can read"
    try:
        return scan.problem(list(scan.tree))
    except RecursionError:
        return "nests too deeply"


def _member(path: str, name: str) -> str:
    """``path.name``, or ``path["name"]`` for a name that is not an identifier."""
    return f"{path}.{name}" if name.isidentifier() else f"{path}[{json.dumps(name)}]"


def schema_patterns(schema: object, path: str = "$") -> Iterator[tuple[str, str]]:
    """Every ``(path, pattern)`` of a JSON Schema: ``pattern`` values and the keys of
    ``patternProperties``, found through the keywords that hold subschemas (a property named
    ``pattern`` is a name, not a regex)."""
    if not isinstance(schema, Mapping):
        return
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        yield f"{path}.pattern", pattern
    for keyword, value in schema.items():
        where = f"{path}.{keyword}"
        if keyword == "patternProperties" and isinstance(value, Mapping):
            for key in value:
                if isinstance(key, str):
                    yield _member(where, key), key
        if keyword in _NAMED and isinstance(value, Mapping):
            for name, subschema in value.items():
                yield from schema_patterns(subschema, _member(where, str(name)))
        elif keyword in _SCHEMAS and isinstance(value, list):
            for index, subschema in enumerate(value):
                yield from schema_patterns(subschema, f"{where}[{index}]")
        elif keyword in _SCHEMA:
            yield from schema_patterns(value, where)
