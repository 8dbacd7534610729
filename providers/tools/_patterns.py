"""JSON Schema ``pattern`` regexes, matched in time linear in the text.

A function's schema is configuration, its arguments come from the model (so, in the end, from
the caller). Python's ``re`` backtracks: ``^(a+)+$`` takes seconds on 26 characters. So schema
patterns are compiled and matched with RE2 (``google-re2``), whose matching time is linear in
the text and whose memory is bounded. What RE2 cannot run is what needs backtracking
(backreferences such as ``(a)\\1``, lookaround such as ``(?=a)``): such a pattern is refused
when the function is defined, naming its schema path. RE2's ``\\d`` and ``\\w`` are ASCII, as
in the ECMA-262 regexes JSON Schema specifies.

``patternProperties`` is refused as well: jsonschema matches its keys with ``re`` inside other
keywords (``additionalProperties``, ``unevaluatedProperties``), out of reach of RE2, and the
engines' function-calling schemas do not offer it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from typing import Final, Protocol

import re2

__all__ = ["Pattern", "compile_pattern", "schema_problems"]

#: Keywords whose value is a schema, a list of schemas, or a mapping of names to schemas.
_SCHEMA: Final = frozenset(
    "additionalItems additionalProperties contains else if items not propertyNames then "  # noqa: SIM905
    "unevaluatedItems unevaluatedProperties".split()
)
_SCHEMAS: Final = frozenset({"allOf", "anyOf", "oneOf", "prefixItems", "items"})
_NAMED: Final = frozenset(
    {"$defs", "definitions", "dependentSchemas", "dependencies", "properties"}
)
_NO_PATTERN_PROPERTIES: Final = (
    "is not supported (use properties, or additionalProperties with a propertyNames schema)"
)


class Pattern(Protocol):
    """A compiled RE2 pattern (the part of ``re2._Regexp`` used here)."""

    def search(self, text: str) -> object | None: ...


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is our error, not a line on stderr
    return options


_OPTIONS: Final = _options()


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Pattern:
    """``pattern`` compiled by RE2; raises ``re2.error`` if RE2 cannot run it.

    >>> compile_pattern(r"^(a+)+$").search("a" * 10_000 + "b") is None
    True
    """
    compiled: Pattern = re2.compile(pattern, _OPTIONS)
    return compiled


def _pattern_problem(pattern: str) -> str | None:
    try:
        compile_pattern(pattern)
    except UnicodeEncodeError:
        return "is not a regex (it holds a lone surrogate)"
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        return f"cannot be matched without backtracking or is not a regex ({reason})"
    return None


def _member(path: str, name: str) -> str:
    """``path.name``, or ``path["name"]`` for a name that is not an identifier."""
    return f"{path}.{name}" if name.isidentifier() else f"{path}[{json.dumps(name)}]"


def schema_problems(schema: object, path: str = "$") -> Iterator[tuple[str, str]]:
    """Every ``(path, problem)`` of a JSON Schema's regexes: ``pattern`` values RE2 cannot
    run and ``patternProperties`` keywords, found through the keywords that hold subschemas (a
    property named ``pattern`` is a name, not a regex).

    >>> list(schema_problems({"properties": {"pin": {"pattern": "(a)\\\\1"}}}))[0][0]
    '$.properties.pin.pattern'
    """
    if not isinstance(schema, Mapping):
        return
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and (problem := _pattern_problem(pattern)) is not None:
        yield f"{path}.pattern", problem
    if "patternProperties" in schema:
        yield f"{path}.patternProperties", _NO_PATTERN_PROPERTIES
    for keyword, value in schema.items():
        where = f"{path}.{keyword}"
        if keyword in _NAMED and isinstance(value, Mapping):
            for name, subschema in value.items():
                yield from schema_problems(subschema, _member(where, str(name)))
        elif keyword in _SCHEMAS and isinstance(value, list):
            for index, subschema in enumerate(value):
                yield from schema_problems(subschema, f"{where}[{index}]")
        elif keyword in _SCHEMA:
            yield from schema_problems(value, where)
