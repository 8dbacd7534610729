"""``Function``: a tool the model can call, answered by an HTTPS webhook (exten.bot's functions).

A function has a name the model calls, a human-readable ``title`` (exten.bot's "Name"), a webhook
URL, an optional bearer token, a JSON Schema for its arguments, and an optional input template
shaping the webhook's JSON body. Its description may be the whole OpenAI function object
(``{"name", "description", "parameters"}``, bare or as ``{"type": "function", "function":
{...}}``), as exten.bot's "Function Description (Json schema)" holds it: name and parameters
are taken from it, and an error names whichever of them contradicts what is given beside it.
Calling it validates the model's arguments against the schema, renders the body in the sandbox
(:mod:`._templates`) and POSTs it through the SSRF guard (:mod:`._guard`).

The bearer token is a secret: the repr shows ``'***'`` and no error message contains it.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

import attrs
import jsonschema
from jsonschema.exceptions import ValidationError

from cxml import CallRequest

from .._errors import ToolError
from ._guard import HttpPolicy, check_url, guarded_request
from ._patterns import compile_pattern, schema_problems
from ._spec import tool_spec
from ._templates import JsonTemplate

__all__ = ["DEFAULT_INPUT_TEMPLATE", "Function", "FunctionResult"]

#: The body sent when a function has no input template.
DEFAULT_INPUT_TEMPLATE: Final = (
    '{"arguments": {{ args }}, "call": {{ call }}, "variables": {{ vars }}}'
)

_DEFAULT_POLICY: Final = HttpPolicy()
_MAX_LISTED: Final = 20  # argument errors named in one message
_NAME: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_SCHEMA_CLASS: Final = jsonschema.Draft202012Validator
#: Validation keywords whose messages name properties (keys), not the values received.
_NAMING_KEYWORDS: Final = frozenset({"required", "additionalProperties", "dependentRequired"})


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    # jsonschema's own `pattern` uses re, which can backtrack for seconds on a short argument.
    if not validator.is_type(instance, "string"):
        return
    try:
        found = compile_pattern(pattern).search(instance)
    except UnicodeEncodeError:  # a lone surrogate is not text any pattern matches
        found = None
    if found is None:
        yield ValidationError(f"does not match {pattern!r}")


#: Draft 2020-12, with schema patterns matched by RE2 (see :mod:`._patterns`).
_VALIDATOR_CLASS: Final = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    _SCHEMA_CLASS, {"pattern": _pattern}
)


def _invalid(field: str, problem: str) -> ToolError:
    return ToolError(f"Function.{field}: {problem}", code="INVALID_FUNCTION")


def _check_name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise _invalid("name", "expected 1 to 64 letters, digits, '_' or '-'")


def _check_url(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    # The scheme rule belongs to the policy of each call; here only the URL's shape is checked.
    check_url(value, HttpPolicy(allow_http=True))


def _check_description(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str):
        raise _invalid("description", "expected text")


def _check_token(
    instance: object, attribute: attrs.Attribute[str | None], value: str | None
) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value or not value.isprintable():
        raise _invalid("bearer_token", "expected non-empty printable text")


def _schema(value: Mapping[str, Any]) -> dict[str, Any]:
    """A private JSON copy of the parameters schema, checked against Draft 2020-12."""
    if not isinstance(value, Mapping):
        raise _invalid("parameters", "expected a JSON Schema object")
    try:
        schema: dict[str, Any] = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError):
        raise _invalid("parameters", "the schema is not a JSON value") from None
    try:
        _SCHEMA_CLASS.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise _invalid(
            "parameters", f"not a valid JSON Schema at {exc.json_path}: {exc.message}"
        ) from None
    if schema.get("type") != "object":
        raise _invalid("parameters", 'the arguments schema must have "type": "object"')
    for path, problem in schema_problems(schema):
        raise _invalid("parameters", f"{path} {problem}")
    return schema


def _check_title(
    instance: object, attribute: attrs.Attribute[str | None], value: str | None
) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise _invalid("title", "expected 1 to 200 characters of text")
    if not value.isprintable():
        raise _invalid("title", "expected printable text")


#: The keys of an OpenAI function object (a tool's ``function``, or the flat Realtime form).
_DEFINITION_KEYS: Final = frozenset({"type", "name", "description", "parameters"})
_NO_ARGUMENTS: Final = {"type": "object", "properties": {}}


def _json(value: object) -> object:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError):
        return value  # _schema reports it


def _definition(
    name: str | None, description: object, parameters: Mapping[str, Any] | None
) -> tuple[str | None, Any, Any]:
    """(name, description text, parameters), from an OpenAI function object given as the
    description, checked against the name and parameters given beside it."""
    if isinstance(description, str):
        return name, description, parameters
    if not isinstance(description, Mapping):
        raise _invalid("description", "expected text or an OpenAI function object")
    spec: Mapping[str, Any] = description
    if spec.get("type") == "function" and isinstance(spec.get("function"), Mapping):
        if set(spec) != {"type", "function"}:
            raise _invalid("description", "a tool is {type: function, function: {...}} only")
        spec = spec["function"]
    unknown = sorted(str(k) for k in spec if k not in _DEFINITION_KEYS)
    if unknown:
        listed = ", ".join(unknown)
        raise _invalid("description", f"the function object has unknown keys: {listed}")
    if spec.get("type", "function") != "function":
        raise _invalid("description", "the function object's type must be function")
    found = spec.get("name")
    if found is not None and name is not None and found != name:
        raise _invalid("name", f"{name!r} contradicts the description's name {found!r}")
    text = spec.get("description", "")
    schema = spec.get("parameters")
    if schema is not None and parameters is not None and _json(schema) != _json(parameters):
        raise _invalid("parameters", "contradict the description's parameters")
    if schema is None and parameters is None:
        schema = _NO_ARGUMENTS  # OpenAI's function without arguments
    return found if found is not None else name, text, schema if schema is not None else parameters


def _template(source: str | None) -> JsonTemplate:
    return JsonTemplate(DEFAULT_INPUT_TEMPLATE if source is None else source)


def _describe(error: ValidationError) -> str:
    if error.validator in _NAMING_KEYWORDS:
        return error.message
    # Other messages quote the value received, which may be personal data: name the rule.
    rule = json.dumps(error.validator_value, ensure_ascii=False, default=str)
    return f"does not satisfy {error.validator} {rule[:80]}"


@attrs.frozen
class FunctionResult:
    """A webhook's answer: ``body`` is the parsed JSON if the response is JSON, else text."""

    status: int
    body: Any
    ok: bool


def _parse_body(content_type: str, body: bytes) -> Any:
    text = body.decode("utf-8", errors="replace")
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            pass
    return text


@attrs.frozen(init=False)
class Function:
    """A webhook tool. ``parameters`` is the JSON Schema (Draft 2020-12, ``"type": "object"``)
    of the arguments; ``input_template`` is a :class:`JsonTemplate` source seeing ``args``,
    ``call`` and ``vars`` (default :data:`DEFAULT_INPUT_TEMPLATE`); ``title`` is the name
    people read (the model calls ``name``). ``description`` is text, or the OpenAI function
    object that also gives ``name`` and ``parameters`` (see the module's documentation).

    Creation errors: :class:`ToolError` ``INVALID_FUNCTION`` naming the field,
    :class:`BlockedAddressError` for the URL, ``TEMPLATE_ERROR`` for the template.
    """

    name: str = attrs.field(validator=_check_name)
    url: str = attrs.field(validator=_check_url, repr=False)  # a query may hold an API key
    description: str = attrs.field(validator=_check_description)
    parameters: Mapping[str, Any] = attrs.field(converter=_schema, hash=False)
    bearer_token: str | None = attrs.field(
        default=None, validator=_check_token, repr=lambda v: "None" if v is None else "'***'"
    )
    input_template: str | None = attrs.field(default=None)
    title: str | None = attrs.field(default=None, validator=_check_title)
    _template: JsonTemplate = attrs.field(init=False, repr=False, eq=False)
    _validator: jsonschema.protocols.Validator = attrs.field(init=False, repr=False, eq=False)

    def __init__(
        self,
        name: str | None = None,
        url: str | None = None,
        description: str | Mapping[str, Any] = "",
        parameters: Mapping[str, Any] | None = None,
        *,
        bearer_token: str | None = None,
        input_template: str | None = None,
        title: str | None = None,
    ) -> None:
        found, text, schema = _definition(name, description, parameters)
        if found is None:
            raise _invalid("name", "required (or in the description's function object)")
        if url is None:
            raise _invalid("url", "required")
        # The validators and converters check what was given (or found) here.
        self.__attrs_init__(found, url, text, schema, bearer_token, input_template, title)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_template", _template(self.input_template))
        checker = _SCHEMA_CLASS.FORMAT_CHECKER
        object.__setattr__(
            self, "_validator", _VALIDATOR_CLASS(self.parameters, format_checker=checker)
        )

    def spec(self) -> dict[str, Any]:
        """The tool spec for the model: ``{"type": "function", "function": {...}}``."""
        return tool_spec(self.name, self.description, self.parameters)

    def check_arguments(self, arguments: Mapping[str, Any] | str) -> dict[str, Any]:
        """Parse (if text) and validate the model's arguments; raise ``INVALID_ARGUMENTS``
        listing every problem with its JSON path (``$.date``)."""
        try:
            args = json.loads(arguments) if isinstance(arguments, str) else arguments
        except (ValueError, RecursionError):
            raise ToolError(
                f"{self.name}: the arguments are not JSON", code="INVALID_ARGUMENTS"
            ) from None
        if not isinstance(args, Mapping):
            raise ToolError(
                f"{self.name}: the arguments must be a JSON object", code="INVALID_ARGUMENTS"
            )
        args = dict(args)
        try:
            errors = sorted(self._validator.iter_errors(args), key=lambda e: e.json_path)
        except Exception as exc:  # an unresolvable $ref, for example: a problem of the schema
            raise _invalid("parameters", f"cannot be evaluated ({type(exc).__name__})") from None
        if errors:
            listed = "; ".join(f"{e.json_path}: {_describe(e)}" for e in errors[:_MAX_LISTED])
            more = f"; and {len(errors) - _MAX_LISTED} more" if len(errors) > _MAX_LISTED else ""
            raise ToolError(
                f"{self.name}: invalid arguments: {listed}{more}", code="INVALID_ARGUMENTS"
            )
        return args

    def render(
        self,
        arguments: Mapping[str, Any] | str,
        *,
        call: CallRequest | Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> str:
        """The JSON body :meth:`call` would send; ``call`` is the request (or its payload)."""
        args = self.check_arguments(arguments)
        if isinstance(call, CallRequest):
            call = call.to_payload()
        if call is not None and not isinstance(call, Mapping):
            raise ToolError(f"{self.name}: call must be a CallRequest or a mapping")
        context = {"args": args, "call": dict(call or {}), "vars": dict(variables or {})}
        return self._template.render(context)

    async def call(
        self,
        arguments: Mapping[str, Any] | str,
        *,
        call: CallRequest | Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        policy: HttpPolicy = _DEFAULT_POLICY,
    ) -> FunctionResult:
        """Validate, render and POST; ``ok`` is true for a 2xx status. Errors are ToolErrors
        (``INVALID_ARGUMENTS``, ``TEMPLATE_*``, ``BLOCKED_ADDRESS``, ``CONNECT_FAILED``,
        ``TIMEOUT``, ``RESPONSE_TOO_LARGE``, ...). A redirect is returned, not followed.

        The arguments are checked and the body rendered in a worker thread, and the whole call
        is bounded by ``policy.total_timeout``."""
        try:
            async with asyncio.timeout(policy.total_timeout):
                body = await asyncio.to_thread(
                    self.render, arguments, call=call, variables=variables
                )
                return await self.post(body, policy)
        except TimeoutError:
            raise ToolError(
                f"{self.name}: no answer within {policy.total_timeout:g} s", code="TIMEOUT"
            ) from None

    async def post(self, body: str, policy: HttpPolicy = _DEFAULT_POLICY) -> FunctionResult:
        """POST a body :meth:`render` made (the second half of :meth:`call`, for callers that
        render off the event loop); the errors of the guarded request."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.bearer_token is not None:
            headers["Authorization"] = f"Bearer {self.bearer_token}"
        response = await guarded_request(
            "POST", self.url, headers=headers, content=body.encode(), policy=policy
        )
        return FunctionResult(
            status=response.status,
            body=_parse_body(response.content_type, response.body),
            ok=200 <= response.status < 300,
        )
