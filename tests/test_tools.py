"""Tools: webhook functions (schema, sandboxed template, secrets, real calls) and built-ins."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxml import CxmlError
from providers._errors import BlockedAddressError, ToolError
from providers.tools import (
    BUILTIN_TOOLS,
    DEFAULT_INPUT_TEMPLATE,
    Function,
    FunctionResult,
    HttpPolicy,
    JsonTemplate,
    ToolDefinition,
    conversation_unsafe,
    resolve_tool_names,
)
from tests.loopback import serving

TOKEN = "tok-9f8e7d6c5b4a"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "date": {"type": "string", "format": "date"},
        "party": {"type": "integer", "minimum": 1},
        "name": {"type": "string"},
        "notes": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["date", "party"],
    "additionalProperties": False,
}
LOCAL = HttpPolicy(allow_http=True, allowed_networks=("127.0.0.0/8",))


def make(**changes: Any) -> Function:
    fields: dict[str, Any] = {
        "name": "book_table",
        "url": "https://hooks.example.com/book?key=abc",
        "description": "Book a table",
        "parameters": SCHEMA,
        "bearer_token": TOKEN,
    }
    fields.update(changes)
    return Function(**fields)


# --- a real webhook server on 127.0.0.1 --------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    received: list[dict[str, Any]]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        server = self.server
        assert isinstance(server, _Server)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        headers = {k.lower(): v for k, v in self.headers.items()}
        server.received.append({"path": self.path, "headers": headers, "body": body})
        status, content_type, reply = {
            "/book": (200, "application/json; charset=utf-8", b'{"booked": true, "ref": "R1"}'),
            "/text": (200, "text/plain", b"booked"),
            "/broken": (200, "application/json", b"{not json"),
            "/fail": (503, "application/problem+json", b'{"title": "busy"}'),
        }.get(self.path, (404, "text/plain", b"no"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


@pytest.fixture(scope="module")
def _server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.received = []
    with serving(httpd):
        yield httpd


@pytest.fixture
def server(_server: _Server) -> _Server:
    _server.received.clear()
    return _server


def base(server: _Server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def call(function: Function, arguments: Mapping[str, Any] | str, **kw: Any) -> FunctionResult:
    async def main() -> FunctionResult:
        return await function.call(arguments, **kw)

    return asyncio.run(main())


# --- creation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "book table", "x" * 65, "böök", "a.b", "a/b", None, 7])
def test_bad_names_are_refused(name: object) -> None:
    with pytest.raises(ToolError, match=r"Function\.name") as info:
        make(name=name)
    assert info.value.code == "INVALID_FUNCTION"


@pytest.mark.parametrize("name", ["a", "book_table", "Book-Table-2", "x" * 64])
def test_good_names_are_accepted(name: str) -> None:
    assert make(name=name).name == name


@pytest.mark.parametrize(
    "parameters",
    [
        {"type": "objekt"},
        {"type": "object", "properties": {"a": {"type": 5}}},
        {"type": "object", "required": "date"},
        {"type": "object", "properties": {"a": {"minLength": -1}}},
        {"type": "object", "default": float("nan")},
        {"type": "object", "x": object()},
        "not a mapping",
    ],
)
def test_invalid_schemas_are_refused(parameters: object) -> None:
    with pytest.raises(ToolError, match=r"Function\.parameters") as info:
        make(parameters=parameters)
    assert info.value.code == "INVALID_FUNCTION"


@pytest.mark.parametrize(
    "parameters", [{}, {"type": "string"}, {"type": "array"}, {"properties": {"a": {}}}]
)
def test_non_object_schemas_are_refused(parameters: dict[str, Any]) -> None:
    with pytest.raises(ToolError, match='"type": "object"'):
        make(parameters=parameters)


@pytest.mark.parametrize(
    "template",
    [
        '{"a": {{ args.date }',
        "{% if %}",
        "{{ args | nosuchfilter }}",
        "{% macro f() %}{% endmacro %}{}",
        "{% for a in args %}{% for b in args %}{% endfor %}{% endfor %}{}",
        "{% for a in args recursive %}{% endfor %}{}",
        "{% include 'x' %}",
        "{% set body %}{}{% endset %}{{ body }}",
        "{% filter upper %}{}{% endfilter %}",
    ],
)
def test_template_errors_are_found_at_creation(template: str) -> None:
    with pytest.raises(ToolError) as info:
        make(input_template=template)
    assert info.value.code == "TEMPLATE_ERROR"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/",
        "https://user:pw@hooks.example.com/",
        "http://0x7f000001/",
        "https://hooks.example.com\\@127.0.0.1/",
        "not a url",
        "",
    ],
)
def test_bad_urls_are_refused_at_creation(url: str) -> None:
    with pytest.raises(BlockedAddressError):
        make(url=url)


def test_http_urls_are_accepted_at_creation_and_judged_by_the_call_policy() -> None:
    function = make(url="http://hooks.example.com/book")
    with pytest.raises(BlockedAddressError, match="https"):
        call(function, {"date": "2026-05-01", "party": 2})  # the default policy: https only


def test_spec_is_the_openai_tool_shape() -> None:
    function = make()
    spec = function.spec()
    assert spec == {
        "type": "function",
        "function": {"name": "book_table", "description": "Book a table", "parameters": SCHEMA},
    }
    spec["function"]["parameters"]["type"] = "string"  # a copy: the function is unchanged
    assert function.spec()["function"]["parameters"]["type"] == "object"


def test_parameters_are_copied() -> None:
    schema = json.loads(json.dumps(SCHEMA))
    function = make(parameters=schema)
    schema["properties"]["date"]["type"] = "integer"
    assert function.parameters["properties"]["date"]["type"] == "string"


# --- arguments ---------------------------------------------------------------------------------


def test_argument_errors_list_every_path() -> None:
    function = make()
    bad = {"date": "tomorrow-ish", "party": 0, "notes": ["ok", 5], "extra": 1}
    with pytest.raises(ToolError) as info:
        function.check_arguments(bad)
    assert info.value.code == "INVALID_ARGUMENTS"
    message = str(info.value)
    for path in ("$.date", "$.party", "$.notes[1]", "'extra' was unexpected"):
        assert path in message
    assert "tomorrow-ish" not in message  # values received are not repeated


def test_long_error_lists_are_shortened() -> None:
    with pytest.raises(ToolError, match=r"\$\.notes\[19\].*; and 30 more$"):
        make().check_arguments({"date": "2026-05-01", "party": 1, "notes": list(range(50))})


def test_missing_required_arguments_are_named() -> None:
    with pytest.raises(ToolError, match="'party' is a required property"):
        make().check_arguments({"date": "2026-05-01"})


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]", '"text"', "1", 5, None])
def test_arguments_must_be_a_json_object(arguments: Any) -> None:
    with pytest.raises(ToolError) as info:
        make().check_arguments(arguments)
    assert info.value.code == "INVALID_ARGUMENTS"


def test_arguments_may_arrive_as_json_text() -> None:
    assert make().check_arguments('{"date": "2026-05-01", "party": 2}') == {
        "date": "2026-05-01",
        "party": 2,
    }


def test_unresolvable_refs_are_a_schema_problem() -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": "https://schemas.example/a.json"}}}
    with pytest.raises(ToolError, match=r"Function\.parameters"):
        make(parameters=schema).check_arguments({"a": 1})


# --- templates ---------------------------------------------------------------------------------

HOSTILE = [
    'a"b',
    '", "admin": true, "x": "',
    "}{][",
    "{{ 7 * 7 }}",
    "line\nbreak\r\n\ttab",
    "\\",
    "\u00e9\u4e2d\U0001f600",
    "\x00\x1f",
    "</script>",
]


def test_the_default_body() -> None:
    function = make()
    body = function.render(
        {"date": "2026-05-01", "party": 2}, call={"id": "c1"}, variables={"lang": "en"}
    )
    assert json.loads(body) == {
        "arguments": {"date": "2026-05-01", "party": 2},
        "call": {"id": "c1"},
        "variables": {"lang": "en"},
    }
    assert make(input_template=DEFAULT_INPUT_TEMPLATE).render({"date": "2026-05-01", "party": 2})


@pytest.mark.parametrize("value", HOSTILE)
def test_values_stay_json_strings(value: str) -> None:
    template = '{"name": {{ args.name }}, "greeting": {{ "Hi " ~ args.name }}, "vars": {{ vars }}}'
    function = make(input_template=template)
    body = function.render(
        {"date": "2026-05-01", "party": 2, "name": value}, variables={"v": value}
    )
    assert json.loads(body) == {"name": value, "greeting": "Hi " + value, "vars": {"v": value}}


def test_templates_may_use_filters_loops_and_conditions() -> None:
    # Punctuation between values is template text; every {{ }} is one JSON value.
    template = (
        '{"who": {{ args.name|default("guest")|upper }}, "n": {{ args.notes|length }},'
        ' "notes": [{% for n in args.notes %}{{ n|trim }}{% if not loop.last %},{% endif %}'
        '{% endfor %}], "first": {{ args.notes|first }}, "year": {{ args.date.split("-")[0] }}}'
    )
    function = make(input_template=template)
    body = function.render({"date": "2026-05-01", "party": 2, "notes": [" a ", "b"]})
    assert json.loads(body) == {
        "who": "GUEST",
        "n": 2,
        "notes": ["a", "b"],
        "first": " a ",
        "year": "2026",
    }


ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ namespace }}",
    "{{ args.__class__ }}",
    "{{ args.date.__class__.__base__ }}",
    "{{ args|attr('__class__') }}",
    "{{ args.items.__self__ }}",
    "{{ args.notes.append(1) }}",
    "{{ args.update({'x': 1}) }}",
    "{{ 'a' * 10000000 }}",
    "{{ [args.date] * 10000000 }}",
    "{{ 9 ** 9999999 }}",
    "{{ (2 ** 64) ** 99999 }}",
    "{% for i in range(10**9) %}{% endfor %}{}",
    "{{ range(100000)|join('x' * 1000) }}",
    "{{ args.date.center(1000000000) }}",
    "{{ args.date.ljust(1000000000) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ '%999999999s' % 1 }}",
    "{{ args.date|center(1000000000) }}",
    "{{ args.date|format(1) }}",
    "{{ args.date|replace('', 'x' * 10000) }}",
    "{% set a = 'x' * 9000 %}{{ a ~ a }}",
    "{% set a = 'x' * 9000 %}{{ a + a }}",
    "{{ args.missing }}",
    "{{ nothing_here }}",
    "{{ 1 / 0 }}",
    "{{ args }} trailing",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_sandbox_escapes_and_bombs_are_refused_fast(template: str) -> None:
    started = time.monotonic()
    with pytest.raises(ToolError) as info:
        make(input_template=template).render({"date": "2026-05-01", "party": 2, "notes": []})
    assert info.value.code in {"TEMPLATE_ERROR", "TEMPLATE_TOO_LARGE", "TEMPLATE_NOT_JSON"}
    assert time.monotonic() - started < 1


def test_output_is_capped() -> None:
    big = JsonTemplate('{"a": {{ args.a }}}', max_output=100)
    assert json.loads(big.render({"args": {"a": "x" * 80}})) == {"a": "x" * 80}
    with pytest.raises(ToolError) as info:
        big.render({"args": {"a": "x" * 100}})
    assert info.value.code == "TEMPLATE_TOO_LARGE"
    loop = JsonTemplate("[{% for i in range(1000) %}{{ 'x' * 20 }},{% endfor %}0]")
    with pytest.raises(ToolError, match="16384 bytes"):
        loop.render({})


def test_template_errors_do_not_quote_values() -> None:
    function = make(input_template="{{ args.name|int + args.name }}")
    with pytest.raises(ToolError) as info:
        function.render({"date": "2026-05-01", "party": 2, "name": "Personal Data"})
    assert "Personal Data" not in str(info.value)


@pytest.mark.parametrize("template", ["NaN", "Infinity", "{} {}", "", "{'a': 1}"])
def test_the_rendered_text_must_be_json(template: str) -> None:
    with pytest.raises(ToolError) as info:
        JsonTemplate(template).render({})
    assert info.value.code == "TEMPLATE_NOT_JSON"


@pytest.mark.parametrize(("source", "max_output"), [(5, 100), ("{}", 0), ("{}", True)])
def test_template_settings_are_checked(source: Any, max_output: Any) -> None:
    with pytest.raises(ToolError):
        JsonTemplate(source, max_output=max_output)


def test_overlong_template_sources_are_refused() -> None:
    with pytest.raises(ToolError) as info:
        JsonTemplate("[" + "1," * 40000 + "1]")
    assert info.value.code == "TEMPLATE_TOO_LARGE"


text_values = st.text(max_size=40)
argument_dicts = st.dictionaries(text_values, text_values | st.lists(text_values, max_size=3))


@given(argument_dicts)
def test_any_text_arguments_render_to_json_intact(arguments: dict[str, Any]) -> None:
    function = make(parameters={"type": "object"})
    assert json.loads(function.render(arguments))["arguments"] == arguments
    echo = make(parameters={"type": "object"}, input_template='{"v": {{ args.values()|list }}}')
    assert json.loads(echo.render(arguments)) == {"v": list(arguments.values())}


# --- secrets -----------------------------------------------------------------------------------


def test_bearer_token_is_hidden() -> None:
    function = make()
    assert TOKEN not in repr(function)
    assert TOKEN not in str(function)
    assert "bearer_token='***'" in repr(function)
    assert "key=abc" not in repr(function)  # the URL's query may hold a key as well
    assert "bearer_token=None" in repr(make(bearer_token=None))


@pytest.mark.parametrize("token", ["", "line\nbreak", "tab\there", 42])
def test_bad_tokens_are_refused_without_echo(token: Any) -> None:
    with pytest.raises(ToolError, match="bearer_token") as info:
        make(bearer_token=token)
    assert str(token) not in str(info.value) or token == ""


def _secret_free(exc: BaseException) -> None:
    for text in (str(exc), repr(exc), *map(str, exc.args)):
        assert TOKEN not in text


async def _unresolvable(host: str, port: int) -> list[str]:
    raise OSError("no such host")


def test_the_token_stays_out_of_failing_calls(server: _Server) -> None:
    failures: list[CxmlError] = []
    attempts: list[tuple[Function, Any, HttpPolicy]] = [
        (make(), {"date": "x"}, LOCAL),  # bad arguments
        (make(input_template="{{ nope }}"), {"date": "2026-05-01", "party": 2}, LOCAL),
        (make(), {"date": "2026-05-01", "party": 2}, HttpPolicy(resolve=_unresolvable)),
        (make(url="http://127.0.0.1:9/book"), {"date": "2026-05-01", "party": 2}, HttpPolicy()),
        (make(url="http://127.0.0.1:9/book"), {"date": "2026-05-01", "party": 2}, LOCAL),
    ]
    for function, arguments, policy in attempts:
        with pytest.raises(CxmlError) as info:
            call(function, arguments, policy=policy)
        failures.append(info.value)
    for failure in failures:
        _secret_free(failure)
    assert server.received == []


# --- calls against a real server ---------------------------------------------------------------


def test_call_posts_the_rendered_body(server: _Server) -> None:
    template = (
        '{"booking": {"date": {{ args.date }}, "party": {{ args.party }}},'
        ' "caller": {{ call.from }}}'
    )
    function = make(url=base(server) + "/book", input_template=template)
    arguments = {"date": "2026-05-01", "party": 4}
    result = call(function, arguments, call={"from": "+15551234567"}, policy=LOCAL)
    assert result == FunctionResult(status=200, body={"booked": True, "ref": "R1"}, ok=True)
    [request] = server.received
    assert request["body"] == function.render(arguments, call={"from": "+15551234567"})
    assert json.loads(request["body"]) == {
        "booking": {"date": "2026-05-01", "party": 4},
        "caller": "+15551234567",
    }
    assert request["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert request["headers"]["content-type"] == "application/json"
    assert request["headers"]["accept-encoding"] == "identity"


def test_call_without_token_sends_no_authorization(server: _Server) -> None:
    function = make(url=base(server) + "/book", bearer_token=None)
    call(function, {"date": "2026-05-01", "party": 1}, policy=LOCAL)
    assert "authorization" not in server.received[0]["headers"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/text", FunctionResult(200, "booked", True)),
        ("/broken", FunctionResult(200, "{not json", True)),
        ("/fail", FunctionResult(503, {"title": "busy"}, False)),
        ("/missing", FunctionResult(404, "no", False)),
    ],
)
def test_call_results(path: str, expected: FunctionResult, server: _Server) -> None:
    function = make(url=base(server) + path)
    assert call(function, '{"date": "2026-05-01", "party": 1}', policy=LOCAL) == expected


def test_invalid_arguments_never_reach_the_webhook(server: _Server) -> None:
    with pytest.raises(ToolError) as info:
        call(make(url=base(server) + "/book"), {"date": "2026-05-01"}, policy=LOCAL)
    assert info.value.code == "INVALID_ARGUMENTS"
    assert server.received == []


# --- built-in tools ----------------------------------------------------------------------------

ALL = (
    "connect_call",
    "send_email",
    "send_message",
    "stop_media",
    "stop_service",
    "stop_flow",
    "set_variables",
    "get_variables",
    "get_aicall_messages",
    "search_knowledge",
)


def test_all_builtin_tools_are_defined_in_a_stable_order() -> None:
    assert tuple(BUILTIN_TOOLS) == ALL
    assert tuple(t.name for t in resolve_tool_names(["all"])) == ALL


@pytest.mark.parametrize("tool", BUILTIN_TOOLS.values(), ids=lambda t: t.name)
def test_builtin_schemas_are_valid(tool: ToolDefinition) -> None:
    jsonschema.Draft202012Validator.check_schema(tool.parameters)
    assert tool.parameters["type"] == "object"
    assert tool.parameters["properties"]["run_llm"]["type"] == "boolean"
    assert "run_llm" not in tool.parameters.get("required", [])
    assert tool.spec()["function"]["name"] == tool.name
    assert tool.conversation in ("supported", "avoid")
    assert tool.description
    assert tool.effect


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("connect_call", {"destinations": [{"type": "tel", "target": "+15551234567"}]}),
        ("send_email", {"to": ["a@example.com"], "subject": "Hi", "content": "Body"}),
        ("send_message", {"to": ["+15551234567"], "text": "Hi", "run_llm": True}),
        ("stop_flow", {}),
        ("set_variables", {"variables": {"customer_name": "John"}}),
        ("get_variables", {"names": ["customer_name"]}),
        ("get_aicall_messages", {"aicall_id": "0b8c..."}),
        ("search_knowledge", {"query": "return policy"}),
    ],
)
def test_builtin_schemas_accept_typical_calls(name: str, arguments: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(
        BUILTIN_TOOLS[name].parameters,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    assert list(validator.iter_errors(arguments)) == []


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("connect_call", {"destinations": []}),
        ("connect_call", {"destinations": [{"type": "fax", "target": "1"}]}),
        ("send_email", {"to": ["not-an-email"], "subject": "Hi", "content": "Body"}),
        ("send_message", {"to": ["555-1234"], "text": "Hi"}),
        ("set_variables", {"variables": {"n": 1}}),
        ("stop_service", {"run_llm": "yes"}),
    ],
)
def test_builtin_schemas_refuse_bad_calls(name: str, arguments: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(
        BUILTIN_TOOLS[name].parameters,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    assert list(validator.iter_errors(arguments)) != []


def test_resolve_tool_names() -> None:
    assert resolve_tool_names([]) == ()
    assert resolve_tool_names(("stop_service", "connect_call")) == (
        BUILTIN_TOOLS["stop_service"],
        BUILTIN_TOOLS["connect_call"],
    )


@pytest.mark.parametrize(
    ("names", "code", "mentions"),
    [
        (["connect_call", "transfer_call"], "UNKNOWN_TOOL", ["[1] 'transfer_call'"]),
        (["nope", "zilch"], "UNKNOWN_TOOL", ["[0] 'nope'", "[1] 'zilch'"]),
        (["all", "stop_flow"], "BAD_TOOL_NAMES", ['[0] "all"']),
        (["stop_flow", "all"], "BAD_TOOL_NAMES", ['[1] "all"']),
        (["all", "all"], "BAD_TOOL_NAMES", ['[0] "all"', '[1] "all"']),
        (["stop_flow", "stop_flow"], "BAD_TOOL_NAMES", ["[1] 'stop_flow' is listed twice"]),
        (["stop_flow", 3, "x"], "BAD_TOOL_NAMES", ["[1] is not text (int)", "[2] 'x'"]),
        ([None], "BAD_TOOL_NAMES", ["[0] is not text (NoneType)"]),
        ("all", "BAD_TOOL_NAMES", ["a list"]),
        ({"all"}, "BAD_TOOL_NAMES", ["a list"]),
        (None, "BAD_TOOL_NAMES", ["a list"]),
        (["ALL"], "UNKNOWN_TOOL", ["'ALL'"]),
    ],
)
def test_bad_tool_names(names: Any, code: str, mentions: list[str]) -> None:
    with pytest.raises(ToolError) as info:
        resolve_tool_names(names)
    assert info.value.code == code
    for mention in mentions:
        assert mention in str(info.value)


def test_conversation_unsafe() -> None:
    assert conversation_unsafe(resolve_tool_names(["all"])) == (
        "connect_call",
        "stop_media",
        "stop_flow",
    )
    chat = ["send_email", "send_message", "set_variables", "get_variables", "stop_service"]
    assert conversation_unsafe(resolve_tool_names(chat)) == ()
    assert conversation_unsafe([]) == ()


names = st.lists(st.sampled_from([*ALL, "all"]) | st.text(max_size=20), max_size=12)


@given(names)
def test_resolve_tool_names_raises_only_tool_errors(listed: list[str]) -> None:
    try:
        tools = resolve_tool_names(listed)
    except ToolError as exc:
        assert exc.code in {"UNKNOWN_TOOL", "BAD_TOOL_NAMES"}
        return
    if listed == ["all"]:
        assert tuple(t.name for t in tools) == ALL
    else:
        assert [t.name for t in tools] == listed
        assert len(set(listed)) == len(listed)
