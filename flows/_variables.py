"""Flow variables: ``${name}`` references, VoIPBIN's system names, and injected initial values.

Substitution follows VoIPBIN (flows.md §6): a reference is ``${`` up to the first ``}`` on the
same line (its regex is the non-greedy ``\\${(.*?)}``, whose ``.`` stops at a newline), every
string in an option is substituted, recursively through objects and lists, and an unknown
name becomes the empty string. Three things are ours, not VoIPBIN's:

* ``$${`` writes a literal ``${`` (VoIPBIN has no escape at all, so text that contains
  ``$${`` reads differently there: ``$`` followed by a reference);
* ``strict=True`` makes an unknown name (``UNKNOWN_VARIABLE``) or a malformed reference
  (``BAD_VARIABLE``: empty name, ``${`` inside a name, no closing ``}``) an error;
* non-string scalars inside lists keep their type; VoIPBIN turns them into strings
  (``[1, true]`` becomes ``["1", "true"]``), which changes what an action receives.

Substitution is one pass: a value that itself contains ``${x}`` is inserted as it is, so a
caller-supplied value cannot read other variables.

>>> substitute({"text": "Hi ${name}, ${missing}!", "loop": [1, "${name}"]}, {"name": "Ann"})
{'text': 'Hi Ann, !', 'loop': [1, 'Ann']}
>>> substitute("costs $${price}", {"price": "5"})
'costs ${price}'
>>> references({"text": "${a}", "list": ["x", "${b}${c}"]})
[('.text', 'a'), ('.list[1]', 'b'), ('.list[1]', 'c')]
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final, TypeVar, overload

from cxml import CxmlError

__all__ = [
    "BUILTIN_VARIABLES",
    "VariableError",
    "check_initial_variables",
    "references",
    "substitute",
]

_T = TypeVar("_T")
_K = TypeVar("_K")
_V = TypeVar("_V")

#: VoIPBIN's budget for all of an activeflow's injected variables; also our cap on what
#: substitution may grow one string to, so ``variable_set x = ${x}${x}`` cannot double forever.
_MAX_TOTAL_BYTES: Final = 64 * 1024
_MAX_VALUE_BYTES: Final = 32 * 1024
_MAX_KEYS: Final = 100
_RESERVED_PREFIX: Final = "voipbin."

# Alternatives are tried in order at each position: the escape first, then a whole reference
# (``[^}\n]*`` is VoIPBIN's ``.*?`` before ``}``), then a ``${`` that never closes.
_TOKEN: Final = re.compile(r"\$\$\{|\$\{([^}\n]*)\}|\$\{")

_ADDRESS: Final = ("name", "detail", "target", "target_name", "type")
_SYSTEM: Final[Mapping[str, Sequence[str]]] = {
    "activeflow": ("id", "reference_type", "reference_id", "reference_activeflow_id",
                   "flow_id", "complete_count"),
    "flow": ("reference_data",),
    "call": ("id", "direction", "master_call_id", "digits",
             *(f"source.{f}" for f in _ADDRESS), *(f"destination.{f}" for f in _ADDRESS)),
    "conversation": ("id", "owner_id",
                     *(f"self.{f}" for f in _ADDRESS), *(f"peer.{f}" for f in _ADDRESS)),
    "conversation_message": ("id", "text", "direction"),
    "queue": ("id", "name", "detail"),
    "queuecall": ("id", "timeout_wait", "timeout_service"),
    "aicall": ("id", "ai_id", "ai_engine_model", "confbridge_id", "stt_language",
               "pipecatcall_id"),
    "ai_summary": ("id", "reference_type", "reference_id", "language", "content"),
    "recording": ("id", "reference_type", "reference_id", "format", "recording_name",
                  "filenames"),
    "transcribe": ("id", "language", "direction"),
    "tts.elevenlabs": ("voice_id",),
}  # fmt: skip

#: Every name VoIPBIN sets itself (flows.md §6, ``variable_variable.rst``): the validator
#: treats these as defined, and `check_initial_variables` refuses the whole ``voipbin.`` prefix.
BUILTIN_VARIABLES: Final[frozenset[str]] = frozenset(
    f"voipbin.{group}.{field}" for group, fields in _SYSTEM.items() for field in fields
)


class VariableError(CxmlError):
    """A variable problem. ``name`` is the variable, ``path`` the JSON path of the string.

    Codes: UNKNOWN_VARIABLE and BAD_VARIABLE (strict substitution), VALUE_TOO_LARGE
    (substitution grew a string past its cap), BAD_VARIABLES (`check_initial_variables`,
    with one line per problem in ``problems``).
    """

    code: int | str = "UNKNOWN_VARIABLE"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        name: str | None = None,
        path: str = "$",
        problems: Sequence[str] = (),
    ) -> None:
        super().__init__(message, code=code)
        self.name = name
        self.path = path
        self.problems = tuple(problems)


def references(value: object) -> list[tuple[str, str]]:
    """Every ``${name}`` substitution would read in ``value``, as (path suffix, name), in order.

    Escaped (``$${``) and unterminated references are not reads; ``${}`` is, of the empty name.
    """
    found: list[tuple[str, str]] = []
    for suffix, text in _strings(value, ""):
        found += [(suffix, m[1]) for m in _TOKEN.finditer(text) if m[1] is not None]
    return found


@overload
def substitute(
    value: Mapping[_K, _V],
    variables: Mapping[str, str],
    *,
    strict: bool = ...,
    path: str = ...,
    max_bytes: int = ...,
) -> dict[_K, _V]: ...
@overload
def substitute(
    value: _T,
    variables: Mapping[str, str],
    *,
    strict: bool = ...,
    path: str = ...,
    max_bytes: int = ...,
) -> _T: ...
def substitute(
    value: object,
    variables: Mapping[str, str],
    *,
    strict: bool = False,
    path: str = "$",
    max_bytes: int = _MAX_TOTAL_BYTES,
) -> object:
    """``value`` with every ``${name}`` replaced, in every string, through objects and lists.

    Mappings come back as dicts, lists as lists, tuples as tuples; keys and non-string scalars
    are left alone. ``path`` is where ``value`` sits, for error messages
    (``$.actions[2].option``). Substitution may not grow a string past ``max_bytes`` of UTF-8
    (VALUE_TOO_LARGE); long text the author wrote is not this guard's business.
    """
    if isinstance(value, str):
        return _substitute_text(value, variables, strict, path, max_bytes)
    if isinstance(value, Mapping):
        return {k: substitute(v, variables, strict=strict, path=f"{path}.{k}",
                              max_bytes=max_bytes) for k, v in value.items()}  # fmt: skip
    if isinstance(value, list | tuple):
        items = [substitute(v, variables, strict=strict, path=f"{path}[{i}]",
                            max_bytes=max_bytes) for i, v in enumerate(value)]  # fmt: skip
        return items if isinstance(value, list) else tuple(items)
    return value


def check_initial_variables(values: Mapping[str, object]) -> dict[str, str]:
    """The variables a run may start with, checked by VoIPBIN's injection rules.

    String values only, at most 100 keys, 64 KiB of keys and values together, 32 KiB per
    value (UTF-8), and no name under the reserved ``voipbin.`` prefix (in any case). Names are
    trimmed as VoIPBIN stores them. VoIPBIN silently drops the whole injection on a breach
    (and silently drops reserved names); this raises BAD_VARIABLES listing every problem.
    """
    if not isinstance(values, Mapping):
        raise VariableError("initial variables must be an object", code="BAD_VARIABLES")
    problems: list[tuple[str, str]] = []  # (name, message)
    result: dict[str, str] = {}
    total = 0
    for raw, value in values.items():
        if not isinstance(raw, str):
            problems.append((repr(raw), "a variable name must be a string"))
            continue
        name = raw.strip()
        if not name:
            problems.append((raw, "a variable name cannot be empty"))
        elif name.lower().startswith(_RESERVED_PREFIX):
            problems.append((raw, f"the {_RESERVED_PREFIX!r} prefix is reserved for the platform"))
        elif name in result:
            problems.append((raw, f"repeats {name!r} once trimmed"))
        if not isinstance(value, str):
            problems.append((raw, f"the value must be a string, not {type(value).__name__}"))
            continue
        size = _nbytes(value)
        if size > _MAX_VALUE_BYTES:
            problems.append((raw, f"the value is {size} bytes; the limit is {_MAX_VALUE_BYTES}"))
        total += _nbytes(name) + size
        result[name] = value
    if len(values) > _MAX_KEYS:
        problems.append(("", f"{len(values)} variables; the limit is {_MAX_KEYS}"))
    if total > _MAX_TOTAL_BYTES:
        problems.append(("", f"names and values total {total} bytes; the limit is "
                             f"{_MAX_TOTAL_BYTES}"))  # fmt: skip
    if problems:
        lines = [f"{name}: {message}" if name else message for name, message in problems]
        shown = "\n".join(f"  {line}" for line in lines)
        first = problems[0][0]
        raise VariableError(
            f"{len(lines)} problem(s) in the initial variables:\n{shown}",
            code="BAD_VARIABLES",
            name=first or None,
            path=f"$.{first}" if first else "$",
            problems=lines,
        )
    return result


def _substitute_text(
    text: str, variables: Mapping[str, str], strict: bool, path: str, max_bytes: int
) -> str:
    if "$" not in text:
        return text
    # Cap growth, not length: the limit is the larger of max_bytes and the text as written.
    limit = max(max_bytes, _nbytes(text))
    out: list[str] = []
    size = 0
    start = 0
    for match in _TOKEN.finditer(text):
        name = match[1]
        if match[0] == "$${":
            piece = "${"
        elif name is None:
            if strict:
                raise VariableError(
                    f"{path}: '${{' is never closed on its line (write '$${{' for a literal)",
                    code="BAD_VARIABLE", path=path,
                )  # fmt: skip
            piece = "${"
        elif strict and (not name or "${" in name):
            raise VariableError(
                f"{path}: malformed reference ${{{name}}}", code="BAD_VARIABLE",
                name=name, path=path,
            )  # fmt: skip
        elif strict and name not in variables:
            raise VariableError(f"{path}: unknown variable ${{{name}}}", name=name, path=path)
        else:
            piece = variables.get(name, "")
        for part in (text[start : match.start()], piece):
            size += _nbytes(part)
            out.append(part)
        # Checked as we go, so a thousand references to a 32 KiB value stop early.
        if size > limit:
            raise _too_large(path, max_bytes, name)
        start = match.end()
    out.append(text[start:])
    if size + _nbytes(out[-1]) > limit:
        raise _too_large(path, max_bytes, None)
    return "".join(out)


def _too_large(path: str, max_bytes: int, name: str | None) -> VariableError:
    message = f"{path}: substitution makes the text more than {max_bytes} bytes"
    return VariableError(message, code="VALUE_TOO_LARGE", name=name, path=path)


def _strings(value: object, path: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in _strings(v, f"{path}.{k}")]
    if isinstance(value, list | tuple):
        return [s for i, v in enumerate(value) for s in _strings(v, f"{path}[{i}]")]
    return []


def _nbytes(text: str) -> int:
    # surrogatepass: a lone surrogate must count, not raise.
    return len(text.encode("utf-8", "surrogatepass"))
