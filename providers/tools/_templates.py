"""Sandboxed Jinja2 templates that render a tool webhook's JSON body.

A template is configuration written by a tenant; the values it sees (``args`` from the model,
``call``, ``vars``) are untrusted. So:

* every ``{{ expression }}`` is written as a JSON value (``json.dumps``), so a value holding quotes,
  braces or newlines can never break out of the JSON structure: write ``{"date": {{ args.date }}}``,
  not ``"{{ args.date }}"``; the rendered text must parse as JSON;
* Jinja2's ``ImmutableSandboxedEnvironment`` blocks ``__class__``-style attribute access and
  mutation, and ``StrictUndefined`` makes a missing name an error instead of an empty string;
* the sandbox does not bound size or time (security.md §4), so this module also does: the
  operators that can amplify (``*``, ``**``, ``+``, ``~``) check the size of their result before
  computing it, ``%`` string formatting is refused, only filters and methods that cannot amplify
  are available (no ``center``, ``format``, ``replace``, ``batch``, ``lipsum`` ...), and every
  value a filter or a method makes is checked against ``max_output`` too (``|list|string``
  chains cannot grow past it); the only global is ``range``, capped at `MAX_RANGE` items; and
  constructs whose cost multiplies (macros, ``call`` and ``filter`` blocks, block ``set``,
  nested or recursive loops, includes) are refused when the template is created. The output is
  generated piece by piece and stops at ``max_output`` bytes.
* a render has a budget of ``time_budget`` seconds of CPU time (its thread's), checked at every
  loop step, filter, method call, attribute lookup and piece of output, so no template renders
  for long, however its cheap steps add up. Render in a worker thread (``asyncio.to_thread``,
  as `Function.call` and `ToolRunner` do): the event loop never waits for a template.

Errors are :class:`~providers.ToolError` with code ``TEMPLATE_ERROR``, ``TEMPLATE_TOO_LARGE``,
``TEMPLATE_TOO_SLOW`` or ``TEMPLATE_NOT_JSON``; their messages come from Jinja (names, line
numbers) or name only the Python exception type, never the values being rendered.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

import attrs
from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, Undefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .._errors import ToolError

__all__ = ["MAX_OUTPUT", "MAX_RANGE", "TIME_BUDGET", "JsonTemplate"]

#: Default cap on a rendered body and on any value built while rendering, in bytes.
MAX_OUTPUT: Final = 16 * 1024
#: Cap on a template's source: the cost of compiling and rendering grows with it (a body is at
#: most `MAX_OUTPUT` by default, and 16 KiB of source compiles in well under a second).
MAX_SOURCE: Final = 16 * 1024
#: The most items ``range()`` may make (Jinja's sandbox allows 100,000).
MAX_RANGE: Final = 1000
#: Default CPU time one render may take, in seconds (a body renders in microseconds).
TIME_BUDGET: Final = 0.25

#: Filters whose result is at most proportional to their input.
_FILTERS: Final = frozenset(
    "abs capitalize count d default dictsort first float groupby int items join last length "  # noqa: SIM905
    "list lower map max min reject rejectattr reverse round select selectattr sort string sum "
    "title trim truncate unique upper urlencode wordcount".split()
)
#: Methods callable on str, dict, list and tuple values; none takes a width or a count.
_METHODS: Final = frozenset(
    "capitalize casefold count endswith find get index isalnum isalpha isdigit islower "  # noqa: SIM905
    "isspace isupper items keys lower lstrip partition removeprefix removesuffix rfind rindex "
    "rpartition rsplit rstrip split splitlines startswith strip title upper values".split()
)
_REFUSED_TAGS: Final[Mapping[type[nodes.Node], str]] = {
    nodes.Macro: "macro",
    nodes.CallBlock: "call",
    nodes.FilterBlock: "filter",
    nodes.AssignBlock: "set (block form)",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from import",
    nodes.Extends: "extends",
}


class _TooLargeError(SecurityError):
    """A value or the output would exceed the size cap."""


class _TooSlowError(SecurityError):
    """The render used up its CPU time budget."""


def _size(value: object, cap: int = 2**62) -> int:
    """Roughly how many bytes ``value`` takes as text (enough to compare with a cap); the walk
    stops once it passes ``cap``, so sizing a value costs no more than the cap."""
    total, pending = 0, [value]
    while pending and total <= cap:
        item = pending.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, bool) or item is None:
            total += 1
        elif isinstance(item, int):
            total += item.bit_length() * 3 // 10 + 1  # its decimal digits
        elif isinstance(item, list | tuple):
            total += len(item) + 1
            pending.extend(item)
        elif isinstance(item, dict):
            total += len(item) + 1
            pending.extend(item.keys())
            pending.extend(item.values())
        else:
            total += 8  # a float, an iterator: small, or sized where it is consumed
    return total


def _range(*args: int) -> range:
    """``range`` capped at `MAX_RANGE` items."""
    made = range(*args)
    if len(made) > MAX_RANGE:
        raise _TooLargeError(f"range() may make at most {MAX_RANGE} items")
    return made


def _product_size(operator: str, left: object, right: object) -> int:
    if operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0:
            return max(left.bit_length(), 1) * right // 8
        return 0
    if isinstance(right, int) and not isinstance(left, int | float):  # repetition: seq * n
        return _size(left) * right
    if isinstance(left, int) and not isinstance(right, int | float):  # n * seq
        return _size(right) * left
    return _size(left) + _size(right)


def _json_default(value: object) -> object:
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError, naming what is missing
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _json_value(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, default=_json_default)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


class _CodeGenerator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # Jinja joins `a ~ b` with a plain str.join the sandbox never sees: check the size too.
        self.write("environment.checked_concat((")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write("))")


#: The filter every loop's iterable goes through (`_instrument`): one budget check per step.
_STEPS: Final = "_cxml_steps"


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _CodeGenerator

    def __init__(self, max_size: int) -> None:
        super().__init__(autoescape=False, undefined=StrictUndefined, finalize=_json_value)
        self.max_size = max_size
        self.globals = {"range": _range}
        self.filters = {
            name: self._checked(f) for name, f in self.filters.items() if name in _FILTERS
        }
        self.filters["join"] = self.checked_join
        self.filters[_STEPS] = self.steps
        # Each render's deadline, per thread: one template may render in several at once.
        self._render = threading.local()

    def start(self, budget: float) -> None:
        """Start a render's CPU time budget in this thread."""
        self._render.deadline = time.thread_time() + budget
        self._render.budget = budget

    def tick(self) -> None:
        """Raise once this thread's render has used up its budget."""
        if time.thread_time() > self._render.deadline:
            raise _TooSlowError(f"rendering took more than {self._render.budget:g} s of CPU")

    def check_size(self, size: int) -> None:
        if size > self.max_size:
            raise _TooLargeError(f"a value would exceed {self.max_size} bytes")

    def checked_value(self, value: Any) -> Any:
        self.tick()
        self.check_size(_size(value, self.max_size))
        return value

    def _checked(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` (a filter) with the budget and the size of its result checked."""

        @functools.wraps(function)  # keeps Jinja's pass_context/pass_environment marks
        def checked(*args: Any, **kwargs: Any) -> Any:
            self.tick()
            return self.checked_value(function(*args, **kwargs))

        return checked

    def steps(self, value: Iterable[Any]) -> Iterator[Any]:
        for item in value:
            self.tick()
            yield item

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        __self.tick()
        return __self.checked_value(super().call(__context, __obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.tick()
        return super().getitem(obj, argument)

    def call_test(self, *args: Any, **kwargs: Any) -> Any:
        self.tick()
        return super().call_test(*args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        if operator == "%" and isinstance(left, str):  # '%999999999s' % x has no size bound
            raise SecurityError("string formatting with % is not allowed")
        self.check_size(_product_size(operator, left, right))
        return super().call_binop(context, operator, left, right)

    def checked_concat(self, parts: Iterable[object]) -> str:
        self.tick()
        texts = [str(part) for part in parts]
        self.check_size(sum(map(len, texts)))
        return "".join(texts)

    def checked_join(self, value: Iterable[object], separator: object = "") -> str:
        self.tick()
        texts, glue = [str(item) for item in value], str(separator)
        self.check_size(sum(map(len, texts)) + len(glue) * max(len(texts) - 1, 0))
        return glue.join(texts)

    def is_safe_callable(self, obj: Any) -> bool:
        if obj is _range:
            return True
        owner = getattr(obj, "__self__", None)
        return (
            type(owner) in (str, dict, list, tuple)
            and getattr(obj, "__name__", "") in _METHODS
            and super().is_safe_callable(obj)
        )


def _check_structure(tree: nodes.Template) -> None:
    for node in tree.find_all(tuple(_REFUSED_TAGS)):
        tag = _REFUSED_TAGS[type(node)]
        raise TemplateSyntaxError(
            f"{{% {tag} %}} is not allowed in a webhook template", node.lineno
        )
    for loop in tree.find_all(nodes.For):
        if loop.recursive or next(loop.find_all(nodes.For), None) is not None:
            raise TemplateSyntaxError("nested and recursive loops are not allowed", loop.lineno)


def _instrument(tree: nodes.Template) -> None:
    """Pass every loop's iterable through the budget-checking filter: a loop of cheap steps
    (comparisons, literal text) would otherwise meet no check."""
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Filter(loop.iter, _STEPS, [], [], None, None, lineno=loop.lineno)


def _error(exc: Exception) -> ToolError:
    if isinstance(exc, _TooLargeError):
        return ToolError(f"webhook template: {exc.message}", code="TEMPLATE_TOO_LARGE")
    if isinstance(exc, _TooSlowError):
        return ToolError(f"webhook template: {exc.message}", code="TEMPLATE_TOO_SLOW")
    if isinstance(exc, TemplateError):
        where = f", line {exc.lineno}" if isinstance(exc, TemplateSyntaxError) else ""
        return ToolError(f"webhook template{where}: {exc.message}", code="TEMPLATE_ERROR")
    # Other exceptions (ValueError, OverflowError, ...) may quote the values: name the type only.
    return ToolError(
        f"webhook template: evaluation failed ({type(exc).__name__})", code="TEMPLATE_ERROR"
    )


def _check_max_output(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ToolError(
            "JsonTemplate.max_output: expected a positive integer", code="TEMPLATE_ERROR"
        )


def _check_budget(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 3600:
        raise ToolError(
            "JsonTemplate.time_budget: expected a positive number of seconds",
            code="TEMPLATE_ERROR",
        )


@attrs.frozen
class JsonTemplate:
    """A webhook body template, checked and compiled on creation; see the module docstring.

    ``render(context)`` returns the rendered text, which is valid JSON and at most
    ``max_output`` bytes in UTF-8, within ``time_budget`` seconds of its thread's CPU time.
    """

    source: str
    max_output: int = attrs.field(default=MAX_OUTPUT, validator=_check_max_output)
    time_budget: float = attrs.field(default=TIME_BUDGET, validator=_check_budget)
    _template: Template = attrs.field(init=False, repr=False, eq=False)
    _sandbox: _Sandbox = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.source, str):
            raise ToolError("webhook template: expected text", code="TEMPLATE_ERROR")
        if len(self.source) > MAX_SOURCE:
            raise ToolError(
                f"webhook template: longer than {MAX_SOURCE} characters", code="TEMPLATE_TOO_LARGE"
            )
        environment = _Sandbox(self.max_output)
        try:
            tree = environment.parse(self.source)
            _check_structure(tree)
            _instrument(tree)
            template = environment.from_string(tree)
        except Exception as exc:
            raise _error(exc) from None
        object.__setattr__(self, "_template", template)
        object.__setattr__(self, "_sandbox", environment)

    def render(self, context: Mapping[str, Any]) -> str:
        parts: list[str] = []
        size = 0
        try:
            self._sandbox.start(self.time_budget)
            for chunk in self._template.generate(context):
                self._sandbox.tick()
                size += len(chunk.encode())
                if size > self.max_output:
                    raise _TooLargeError(f"the rendered body would exceed {self.max_output} bytes")
                parts.append(chunk)
        except Exception as exc:  # the sandbox docs: expect any exception from a template
            raise _error(exc) from None
        text = "".join(parts)
        try:
            json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise ToolError(
                "webhook template: the rendered body is not valid JSON", code="TEMPLATE_NOT_JSON"
            ) from None
        return text
