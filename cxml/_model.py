"""The CXML document model: one frozen attrs class per verb and noun.

Python names are snake_case and written as CXML's camelCase. Every attribute defaults to None,
meaning "absent, the platform default applies" (the documented default is in each field's
comment), so that reading and writing a document never adds or drops an attribute. Attributes
the model does not know, and wire values it cannot read, are kept in ``extra``. Containers hold
``children``; elements with a body hold ``text`` (Say may hold SSML as a tuple of strings and
`Element` nodes). Unknown elements are kept as `Element`. `validate` judges all of it.

An element is one declaration: its class under `_node` (which registers it by tag) and an
`_adder` on each parent (which allows it there; a verb is what Response has an adder for).
Its behaviour is a ``rule_<Tag>`` in `_validate` (or a place in ``NO_RULES``), an entry in
`_interpret`'s ``RUNS`` for a verb, and its strategy; tests/test_verbs.py fails on a missed one.
"""

from __future__ import annotations

import linecache
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import CodeType
from typing import Any, ClassVar, Concatenate, Final, Literal, ParamSpec, TypeAlias, TypeVar

import attrs

from ._errors import CxmlValueError
from ._kinds import BOOL, TEXT, Kind, check_xml_text, kind_enum, kind_int, kind_list

__all__ = [
    "Coach",
    "Conference",
    "Connect",
    "Content",
    "Converse",
    "Description",
    "Dial",
    "Element",
    "Gather",
    "Hangup",
    "Header",
    "Node",
    "Number",
    "Parameter",
    "Pause",
    "Play",
    "Record",
    "Redirect",
    "Reject",
    "Response",
    "Say",
    "Service",
    "Sip",
    "Speech",
    "Start",
    "Stop",
    "Stream",
    "System",
    "Tool",
    "User",
    "replace",
]

# An XML name as CXML uses them: no namespace prefixes except the built-in xml: (xml:lang).
_NAME: Final = re.compile(r"(?:xml:)?[^\W\d][\w.\-\u00b7\u0300-\u036f\u203f\u2040]*\Z")
_CAMEL: Final = re.compile(r"_([a-z])")

Pairs: TypeAlias = tuple[tuple[str, str], ...]


def _check_name(name: object, where: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise CxmlValueError(f"{where}: {name!r} is not a valid XML name")
    return name


def _pairs(value: Mapping[str, str] | Iterable[tuple[str, str]]) -> Pairs:
    if not value:
        return ()
    items = value.items() if isinstance(value, Mapping) else value
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise CxmlValueError(f"extra: expected a mapping or (name, text) pairs, got {value!r}")
    pairs = tuple(_pair(item) for item in items)
    for key, text in pairs:
        if not isinstance(text, str):
            raise CxmlValueError(f"attribute {key}: expected text, got {type(text).__name__}")
        check_xml_text(text, f"attribute {key}")
    if len({k for k, _ in pairs}) != len(pairs):
        raise CxmlValueError("an attribute name appears twice")
    return pairs


def _pair(item: object) -> tuple[str, str]:
    if not isinstance(item, tuple | list) or len(item) != 2:
        raise CxmlValueError(f"extra: expected a (name, text) pair, got {item!r}")
    name, text = item
    return _check_name(name, "attribute name"), text


#: How a field given by python name is checked: (its position in the layout, the check: an
#: attribute's kind's ``coerce``, the body's and ``extra``'s declared attrs converter; None
#: for a text attribute, whose usual value needs no call).
_Check: TypeAlias = tuple[int, "Callable[..., object] | None"]


def _redact(value: object) -> str:
    return "None" if value is None else "'***'"


def attr(kind: Kind = TEXT, *, secret: bool = False) -> Any:
    """Declare an optional CXML attribute of ``kind`` (checked by `_init`)."""
    return attrs.field(
        default=None, kw_only=True, metadata={"kind": kind}, repr=_redact if secret else True
    )


@attrs.frozen(repr=False, slots=False)
class Node:
    """Base of every verb and noun. ``extra``: attributes kept as wire text, in document order.

    attrs declares the fields (so type checkers see each class's signature, and eq, hash and
    immutability come from it); `_node` then installs an ``__init__`` that checks what is
    given and has `_build` store only that. An absent attribute reads as its class
    default, None. That makes building a node cost what its content costs, not what its 19
    possible attributes cost.
    """

    tag: ClassVar[str]
    #: Tags of the elements allowed as children (those the class has an `_adder` for).
    allowed: ClassVar[frozenset[str]] = frozenset()
    #: Whether plain text is the element's body (or, for containers, allowed among children).
    takes_text: ClassVar[bool] = False
    #: (python name, wire name, kind) of each modelled attribute, in field order.
    wire: ClassVar[tuple[tuple[str, str, Kind], ...]] = ()
    #: wire name -> (position, python name, kind) of each modelled attribute.
    by_wire: ClassVar[dict[str, tuple[int, str, Kind]]] = {}
    #: python name -> (position, wire name, kind) of each modelled attribute.
    by_name: ClassVar[dict[str, tuple[int, str, Kind]]] = {}
    #: The field holding the body ("children" or "text"), or None for empty elements.
    body: ClassVar[str | None] = None
    #: How the generated ``__init__`` checks each field given by python name: see `_Check`.
    checks: ClassVar[dict[str, _Check]] = {}

    extra: Pairs = attrs.field(default=(), kw_only=True, converter=_pairs)

    def __repr__(self) -> str:
        # Only what is set, so a document's repr reads like the code that builds it.
        args = [repr(self.__dict__[self.body])] if self.body in self.__dict__ else []
        args += [
            f"{name}={'***' if secret else repr(getattr(self, name))}"
            for name, secret in self._shown()
        ]
        if self.extra:
            args.append(f"extra={dict(self.extra)!r}")
        return f"{type(self).__name__}({', '.join(args)})"

    def _shown(self) -> list[tuple[str, bool]]:
        return [
            (f.name, f.repr is _redact)
            for f in attrs.fields(type(self))
            if "kind" in f.metadata and getattr(self, f.name) is not None
        ]


_N = TypeVar("_N", bound=Node)


def _build(node: _N, fields: dict[str, object]) -> _N:
    """Fill a new, empty ``node`` with ``fields`` (python name -> value) and return it.

    The one place a node's ``__dict__`` is written, so the layout every reader relies on
    holds: only what is given (an absent attribute reads as its class default, None), in
    field order (the order `render` writes), then the body, then ``extra``. ``fields`` are
    checked and in that order: the class's generated ``__init__`` (which the constructor,
    `replace` and ``append`` go through) checks them as `Node.checks` says; the parser reads
    them with the kinds from a tree lxml checked, and orders them with `_in_layout_order`.
    """
    node.__dict__.update(fields)
    return node


def _in_layout_order(cls: type[Node], fields: dict[str, object]) -> dict[str, object]:
    """``fields`` sorted into the layout `_build` stores."""
    checks = cls.checks
    return dict(sorted(fields.items(), key=lambda item: checks[item[0]][0]))


def _make_init(cls: type[Node]) -> Callable[..., None]:
    """Write the ``__init__`` of a node class, as attrs writes its own: one keyword parameter
    per attribute (so a misspelt one is a TypeError naming it), each given one checked as
    `Node.checks` says and collected in layout order for `_build`. Registered with
    `linecache`, so tracebacks show its lines."""
    tag, body, checks = cls.tag, cls.body, cls.checks
    params = [f"{body}=None, *, extra=()"] if body else ["*, extra=()"]
    scope: dict[str, object] = {"_build": _build, "_text": TEXT.coerce, "_str": str}
    lines = ["    _d = {}"]
    for name, _, _ in cls.wire:
        params.append(f"{name}=None")
        check = checks[name][1]
        if check is None:  # text: most values need no call
            value = f"{name} if {name}.__class__ is _str and {name}.isprintable() else "
            value += f"_text({name}, {tag!r}, {name!r})"
        else:
            scope[f"_check_{name}"] = check
            value = f"_check_{name}({name}, {tag!r}, {name!r})"
        lines += [f"    if {name} is not None:", f"        _d[{name!r}] = {value}"]
    if body:
        scope["_check_body"] = checks[body][1]
        lines += [
            f"    if {body} is not None:",
            f"        {body} = _check_body({body}, {tag!r})",
            f"        if {body}:  # an empty body is not stored",
            f"            _d[{body!r}] = {body}",
        ]
    scope["_check_extra"] = checks["extra"][1]
    scope["_twice"] = _twice
    lines += [
        "    if extra:",
        "        _d['extra'] = _check_extra(extra)",
        "        _twice(self, _d)",
        "    _build(self, _d)",
    ]
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(lines) + "\n"
    exec(_compiled(source, f"<cxml generated __init__ of {cls.__name__}>"), scope)
    init: Callable[..., None] = scope["__init__"]  # type: ignore[assignment]
    init.__qualname__ = f"{cls.__name__}.__init__"
    return init


def _twice(node: Node, fields: dict[str, object]) -> None:
    for key, _ in fields["extra"]:  # type: ignore[attr-defined]
        modelled = node.by_wire.get(key)
        if modelled is not None and modelled[1] in fields:
            raise CxmlValueError(
                f"{node.tag}: attribute {key} is given both as {modelled[1]}= and in extra"
            )


def _compiled(source: str, filename: str) -> CodeType:
    """``source`` compiled under ``filename``, registered with `linecache` (as attrs does; a
    name that already holds other source gets a number) so tracebacks and debuggers show it."""
    lines = source.splitlines(keepends=True)
    base, count = filename, 0
    while True:
        entry = (len(source), None, lines, filename)
        if linecache.cache.setdefault(filename, entry) == entry:
            return compile(source, filename, "exec")
        count += 1
        filename = f"{base[:-1]}-{count}>"


Content: TypeAlias = tuple["Node | Element | str", ...]
_NODES: tuple[type, ...] = (Node,)  # Element added below; a tuple beats a union here


def _content(
    value: object,
    owner: str = "content",
    *,
    layout: bool = False,
) -> Content:
    """Check items and put them in the one form a document reads back as: adjacent strings
    joined, empty ones (and, with ``layout``, white-space-only ones: a container's) dropped.
    ``owner`` names the node in errors."""
    if isinstance(value, _NODES):
        return (value,)  # type: ignore[return-value]
    if type(value) is tuple or type(value) is list:
        for item in value:  # the usual case, nodes only, has nothing to normalise
            if not isinstance(item, _NODES):
                break
        else:
            return value if type(value) is tuple else tuple(value)
    if layout:
        owner += " children"
    out: list[Node | Element | str] = []
    try:
        items = iter((value,) if isinstance(value, (str, *_NODES)) else value)  # type: ignore[call-overload]
    except TypeError:
        raise CxmlValueError(f"{owner}: expected CXML nodes or text, got {value!r}") from None
    for item in items:
        if isinstance(item, str):
            if not item.isprintable():
                check_xml_text(item, owner)
            if out and isinstance(out[-1], str):
                out[-1] += item
            else:
                out.append(item)
        elif isinstance(item, Node | Element):
            if layout and out and isinstance(out[-1], str) and out[-1].isspace():
                out.pop()
            out.append(item)
        else:
            raise CxmlValueError(f"{owner}: expected a CXML node or text, got {item!r}")
    if out and isinstance(out[-1], str) and (not out[-1] or (layout and out[-1].isspace())):
        out.pop()
    # Joining and dropping only ever shorten: the same length means nothing changed.
    if isinstance(value, tuple) and len(value) == len(out):
        return value
    return tuple(out)


def _body(value: str | Iterable[str | Element], owner: str = "") -> str | Content:
    """A text node's ``text`` converter (`_build` passes the owner's tag)."""
    if isinstance(value, str):
        return value if value.isprintable() else check_xml_text(value, f"{owner} text")
    content = _content(value, f"{owner} text")
    if all(isinstance(item, str) for item in content):  # plain text after all
        return "".join(content)  # type: ignore[arg-type]
    return content


def _children(
    value: Node | Element | str | Iterable[Node | Element | str], owner: str = "content"
) -> Content:
    """A container's ``children`` converter (`_build` passes the owner's tag)."""
    return _content(value, owner, layout=True)


def _element_name(name: str) -> str:
    return _check_name(name, "element name")


@attrs.frozen
class Element:
    """An element the model does not know (or SSML inside Say), kept as it was written."""

    tag: str = attrs.field(converter=_element_name)
    content: Content = attrs.field(default=(), converter=_content)
    attributes: Pairs = attrs.field(default=(), kw_only=True, converter=_pairs)


_NODES = (Node, Element)


#: Every modelled element class by its tag, filled in by `_node`.
BY_TAG: Final[dict[str, type[Node]]] = {}


def _node(tag: str, *, takes_text: bool = False) -> Callable[[type[_N]], type[_N]]:
    """Declare a node class as the model of the element ``tag`` (after ``attrs.frozen`` made
    it): register it, describe it from its fields and adders, and install its ``__init__``."""

    def make(cls: type[_N]) -> type[_N]:
        if tag in BY_TAG:
            raise TypeError(f"<{tag}> is declared twice: {BY_TAG[tag]} and {cls}")
        cls.tag = tag
        cls.allowed = frozenset(
            adds.tag for adds in (getattr(v, "adds", None) for v in vars(cls).values()) if adds
        )
        cls.takes_text = takes_text
        fields = attrs.fields(cls)
        cls.wire = tuple(
            (f.name, _CAMEL.sub(lambda m: m.group(1).upper(), f.name), f.metadata["kind"])
            for f in fields
            if "kind" in f.metadata
        )
        cls.by_wire = {wire: (i, name, kind) for i, (name, wire, kind) in enumerate(cls.wire)}
        cls.by_name = {name: (i, wire, kind) for i, (name, wire, kind) in enumerate(cls.wire)}
        cls.body = next((f.name for f in fields if f.name in ("children", "text")), None)
        cls.checks = {
            name: (i, None if kind is TEXT else kind.coerce)
            for i, (name, _, kind) in enumerate(cls.wire)
        }
        end = len(cls.wire)
        if cls.body:  # the declared converters are the body's and extra's checks
            cls.checks[cls.body] = (end, getattr(fields, cls.body).converter)
        cls.checks["extra"] = (end + 1, fields.extra.converter)
        for f in fields:  # what an absent field reads as
            setattr(cls, f.name, f.default)
        cls.__init__ = _make_init(cls)  # type: ignore[method-assign]
        BY_TAG[tag] = cls
        return cls

    return make


P = ParamSpec("P")
C = TypeVar("C", bound="Container")


def _adder(factory: Callable[P, Node]) -> Callable[Concatenate[C, P], C]:
    def add(self: C, /, *args: P.args, **kwargs: P.kwargs) -> C:
        return self.append(factory(*args, **kwargs))

    add.__doc__ = f"Return a copy with a new ``{factory.__name__}(...)`` appended."
    add.adds = factory  # type: ignore[attr-defined]  # what `_node` derives ``allowed`` from
    return add


@attrs.frozen(repr=False, slots=False)
class Container(Node):
    """A node whose body is child elements (and, for Dial, a plain-text target)."""

    children: Content = attrs.field(default=(), converter=_children)

    def append(self: C, *nodes: Node | Element | str) -> C:
        """Return a copy with ``nodes`` added after the existing children."""
        return replace(self, children=(*self.children, *nodes))


def replace(node: _N, /, **changes: object) -> _N:
    """A copy of ``node`` with the fields named in ``changes`` set (None unsets one), checked
    as the constructor checks them: it is built by the constructor. Nodes are immutable, so
    the values not changed are shared, not copied.

    >>> from cxml import Gather, Say
    >>> menu = Gather(Say("Press 1"), num_digits=1)
    >>> replace(menu, action="https://example.com/menu?t=2")
    Gather((Say('Press 1'),), action='https://example.com/menu?t=2', num_digits=1)
    """
    if not isinstance(node, Node):
        raise TypeError(f"replace takes a CXML node, got {type(node).__name__}")
    return type(node)(**{**node.__dict__, **changes})


@attrs.frozen(repr=False, slots=False)
class Text(Node):
    """A node whose body is text."""

    text: str | Content = attrs.field(default="", converter=_body)


_METHOD = kind_enum("GET", "POST")
#: A number of seconds, decimals allowed ("a positive number of seconds", Gather and Pause).
_SECONDS = kind_int(0, real=True)
_POSITIVE_SECONDS = kind_int(real=True, positive=True)
_RECORDING_EVENTS = kind_list("in-progress", "completed", "absent")


# --- Dial and its nouns -------------------------------------------------------------------


@_node("Number", takes_text=True)
@attrs.frozen(repr=False, slots=False)
class Number(Text):
    """A phone number or extension to ring (body: E.164, with or without +, or 1-10 digits)."""


@_node("Sip", takes_text=True)
@attrs.frozen(repr=False, slots=False)
class Sip(Text):
    """A SIP URI to ring: ``[sip:]user@domain[:port][;transport=udp|tcp|tls]``."""

    username: str | None = attr()
    password: str | None = attr(secret=True)
    domain: Literal["origin", "destination"] | None = attr(kind_enum("origin", "destination"))


@_node("Conference", takes_text=True)
@attrs.frozen(repr=False, slots=False)
class Conference(Text):
    """A conference room (body: the room name; empty means ``default``)."""

    beep: bool | Literal["onEnter", "onExit"] | None = attr(
        kind_enum("onEnter", "onExit", booleans=True)
    )  # true
    dtmf: Literal["block", "pass"] | None = attr(kind_enum("block", "pass"))  # block
    hold_music: bool | None = attr(BOOL)  # true
    muted: bool | None = attr(BOOL)  # false
    prompts: bool | None = attr(BOOL)  # false
    start_conference_on_enter: bool | Literal["required"] | None = attr(
        kind_enum("required", booleans=True)
    )  # true
    end_conference_on_exit: bool | None = attr(BOOL)  # false
    max_participants: int | None = attr(kind_int(1, 250))  # 250; "positive integer (Max: 250)"
    record: Literal["do-not-record", "record-from-start"] | None = attr(
        kind_enum("do-not-record", "record-from-start")
    )
    recording_status_callback: str | None = attr()
    recording_status_callback_method: Literal["GET", "POST"] | None = attr(_METHOD)
    recording_status_callback_event: Sequence[str] | None = attr(_RECORDING_EVENTS)
    status_callback: str | None = attr()
    status_callback_method: Literal["GET", "POST"] | None = attr(_METHOD)
    status_callback_event: Sequence[str] | None = attr(
        kind_list("start", "end", "join", "leave", "mute", "hold", "dtmf", "speaker")
    )
    talk_detection: Literal["normal", "quick", "lazy"] | None = attr(
        kind_enum("normal", "quick", "lazy")
    )
    # Cloudonix spells it "do-no-trim" here (and "do-not-trim" on Record); both are accepted.
    trim: Literal["trim-silence", "do-no-trim"] | None = attr(
        kind_enum("trim-silence", "do-no-trim", aliases={"do-not-trim": "do-no-trim"})
    )


@_node("Service", takes_text=True)
@attrs.frozen(repr=False, slots=False)
class Service(Text):
    """An AI voice agent reached over SIP (body: the agent's number)."""

    provider: str | None = attr()
    username: str | None = attr()
    password: str | None = attr(secret=True)


@_node("Header")
@attrs.frozen(repr=False, slots=False)
class Header(Node):
    """A custom SIP header (name must start with ``X-``) for the outgoing leg."""

    name: str | None = attr()
    value: str | None = attr()


@_node("Dial", takes_text=True)
@attrs.frozen(repr=False, slots=False)
class Dial(Container):
    """Connect the caller to a target; does not answer the call by itself."""

    action: str | None = attr()
    method: Literal["GET", "POST"] | None = attr(_METHOD)
    caller_id: str | None = attr()
    caller_name: str | None = attr()
    forward_headers: bool | None = attr(BOOL)  # false
    headers: str | None = attr()
    trunks: Sequence[str] | None = attr(kind_list(sep=",", json_arrays=True))
    timeout: int | None = attr(kind_int(1, 600))
    time_limit: int | None = attr(kind_int(1))
    record: (
        Literal[
            "do-not-record",
            "record-from-answer",
            "record-from-ringing",
            "record-from-answer-dual",
            "record-from-ringing-dual",
        ]
        | None
    ) = attr(
        kind_enum(
            "do-not-record",
            "record-from-answer",
            "record-from-ringing",
            "record-from-answer-dual",
            "record-from-ringing-dual",
        )
    )
    recording_status_callback: str | None = attr()
    recording_status_callback_method: Literal["GET", "POST"] | None = attr(_METHOD)
    recording_status_callback_event: Sequence[str] | None = attr(_RECORDING_EVENTS)
    hangup_on_star: bool | None = attr(BOOL)
    hangup_on: str | None = attr()
    trim: Literal["trim-silence", "do-not-trim"] | None = attr(
        kind_enum("trim-silence", "do-not-trim", aliases={"do-no-trim": "do-not-trim"})
    )

    number = _adder(Number)
    sip = _adder(Sip)
    conference = _adder(Conference)
    service = _adder(Service)
    header = _adder(Header)


# --- Streams ------------------------------------------------------------------------------


@_node("Parameter")
@attrs.frozen(repr=False, slots=False)
class Parameter(Node):
    """A name/value pair: custom data for a Stream, or an argument of a Converse Tool."""

    name: str | None = attr()
    value: str | None = attr()
    description: str | None = attr()
    type: str | None = attr()
    required: bool | None = attr(BOOL)
    values: str | None = attr()


@_node("Stream")
@attrs.frozen(repr=False, slots=False)
class Stream(Container):
    """A media stream to a WebSocket (``ws://`` or ``wss://``)."""

    name: str | None = attr()
    url: str | None = attr()
    track: Literal["inbound_track", "outbound_track", "both_tracks"] | None = attr(
        kind_enum("inbound_track", "outbound_track", "both_tracks")
    )  # inbound_track
    status_callback: str | None = attr()
    status_callback_method: Literal["GET", "POST"] | None = attr(_METHOD)

    parameter = _adder(Parameter)


@_node("Connect")
@attrs.frozen(repr=False, slots=False)
class Connect(Container):
    """Bridge the call's media to a Stream; the document waits until the stream ends."""

    action: str | None = attr()
    method: Literal["GET", "POST"] | None = attr(_METHOD)

    stream = _adder(Stream)


@_node("Start")
@attrs.frozen(repr=False, slots=False)
class Start(Container):
    """Fork the call's media to a Stream; the document goes on at once."""

    stream = _adder(Stream)


@_node("Stop")
@attrs.frozen(repr=False, slots=False)
class Stop(Container):
    """Stop the Stream named by its child's ``name``."""

    stream = _adder(Stream)


# --- Speech and media ---------------------------------------------------------------------


@_node("Say", takes_text=True)
@attrs.frozen(repr=False, slots=False)
class Say(Text):
    """Speak text (or SSML) to the caller; answers the call unless ``answer=False``."""

    answer: bool | None = attr(BOOL)  # true
    loop: int | None = attr(kind_int(0))  # 1
    voice: str | None = attr()  # woman
    language: str | None = attr()  # en-US
    status_callback: str | None = attr()
    status_callback_method: Literal["GET", "POST"] | None = attr(_METHOD)


@_node("Play", takes_text=True)
@attrs.frozen(repr=False, slots=False)
class Play(Text):
    """Play the audio file at the http(s) URL in the body, or send ``digits``."""

    answer: bool | None = attr(BOOL)  # true
    digits: str | None = attr()
    loop: int | None = attr(kind_int(0))  # 1; 0 repeats until the call moves on
    status_callback: str | None = attr()
    status_callback_method: Literal["GET", "POST"] | None = attr(_METHOD)


@_node("Pause")
@attrs.frozen(repr=False, slots=False)
class Pause(Node):
    """Wait ``length`` seconds; does not answer the call unless ``answer=True``."""

    answer: bool | None = attr(BOOL)  # false
    length: float | None = attr(_SECONDS)  # 1; "a number that equal to 0 or greater"


# --- Converse (Cloudonix's built-in LLM agent) ----------------------------------------------


@_node("System", takes_text=True)
@attrs.frozen(repr=False, slots=False)
class System(Text):
    """Converse: the system prompt."""


@_node("User", takes_text=True)
@attrs.frozen(repr=False, slots=False)
class User(Text):
    """Converse: a user message."""


@_node("Speech", takes_text=True)
@attrs.frozen(repr=False, slots=False)
class Speech(Text):
    """Converse: speech settings or text."""


@_node("Description", takes_text=True)
@attrs.frozen(repr=False, slots=False)
class Description(Text):
    """Converse: a description (of the agent or of a Tool)."""


@_node("Tool", takes_text=True)
@attrs.frozen(repr=False, slots=False)
class Tool(Container):
    """Converse: a tool the model may call (a web service at ``url``), with Parameter children."""

    name: str | None = attr()
    url: str | None = attr()

    parameter = _adder(Parameter)
    description = _adder(Description)


@_node("Converse")
@attrs.frozen(repr=False, slots=False)
class Converse(Container):
    """Talk with Cloudonix's built-in LLM agent."""

    voice: str | None = attr()  # woman
    language: str | None = attr()  # en-US
    status_callback: str | None = attr()
    status_callback_method: Literal["GET", "POST"] | None = attr(_METHOD)
    status_callback_event: Sequence[str] | None = attr(
        kind_list("in-progress", "tool-response", "llm-response", "completed", sep=",")
    )  # in-progress,completed
    session_tools: Sequence[str] | None = attr(kind_list("hangup", "redirect", "dial", sep=","))
    model: str | None = attr()
    context: Literal["auto", "none", "no"] | None = attr(kind_enum("auto", "none", "no"))
    temperature: float | None = attr(kind_int(0, 2, real=True))  # 1

    system = _adder(System)
    user = _adder(User)
    speech = _adder(Speech)
    tool = _adder(Tool)
    description = _adder(Description)


# --- Input --------------------------------------------------------------------------------


@_node("Gather")
@attrs.frozen(repr=False, slots=False)
class Gather(Container):
    """Collect digits or speech; nested Say/Play/Pause/Converse are the prompt."""

    action: str | None = attr()  # the current document's URL
    method: Literal["GET", "POST"] | None = attr(_METHOD)
    input: Sequence[str] | None = attr(kind_list("dtmf", "speech"))  # dtmf
    finish_on_key: str | None = attr()  # "#"; "" disables it
    num_digits: int | None = attr(kind_int(1))
    # Seconds are "a positive number of seconds" on the Gather page: decimals are allowed.
    max_timeout: float | None = attr(_POSITIVE_SECONDS)  # 30
    timeout: float | None = attr(_SECONDS)  # 5
    speech_timeout: float | Literal["auto"] | None = attr(
        kind_int(0, real=True, words=("auto",))
    )  # auto
    speech_engine: Literal["aws", "google"] | None = attr(kind_enum("aws", "google"))  # aws
    language: str | None = attr()  # en-US
    action_on_empty_result: bool | None = attr(BOOL)  # false: no input falls through
    max_duration: float | None = attr(_POSITIVE_SECONDS)  # 300
    speech_detection: Literal["auto", "low", "normal", "high", "stt"] | None = attr(
        kind_enum("auto", "low", "normal", "high", "stt")
    )  # auto
    interruptible: bool | None = attr(BOOL)  # true

    say = _adder(Say)
    play = _adder(Play)
    pause = _adder(Pause)
    converse = _adder(Converse)


@_node("Record")
@attrs.frozen(repr=False, slots=False)
class Record(Container):
    """Record the caller; an empty recording does not request the action."""

    action: str | None = attr()  # the current document's URL
    method: Literal["GET", "POST"] | None = attr(_METHOD)
    timeout: int | None = attr(kind_int(1))  # 5 seconds of silence
    finish_on_key: str | None = attr()  # 1234567890*#
    max_length: int | None = attr(kind_int(2))  # 3600
    play_beep: bool | None = attr(BOOL)  # true
    recording_status_callback: str | None = attr()
    recording_status_callback_method: Literal["GET", "POST"] | None = attr(_METHOD)
    recording_status_callback_event: Sequence[str] | None = attr(_RECORDING_EVENTS)
    trim: Literal["trim-silence", "do-not-trim"] | None = attr(
        kind_enum("trim-silence", "do-not-trim", aliases={"do-no-trim": "do-not-trim"})
    )

    say = _adder(Say)
    play = _adder(Play)
    pause = _adder(Pause)


# --- Call control -------------------------------------------------------------------------


@_node("Redirect", takes_text=True)
@attrs.frozen(repr=False, slots=False)
class Redirect(Text):
    """Continue with the document at the URL in the body (``https://``, ``cx://``, ``service://``)."""

    method: Literal["GET", "POST"] | None = attr(_METHOD)


@_node("Hangup")
@attrs.frozen(repr=False, slots=False)
class Hangup(Node):
    """End the call (billable)."""


@_node("Reject")
@attrs.frozen(repr=False, slots=False)
class Reject(Node):
    """Refuse the call (not billable)."""

    reason: Literal["rejected", "busy", "congestion", "failed"] | None = attr(
        kind_enum("rejected", "busy", "congestion", "failed")
    )  # rejected


_DIRECTION = kind_enum("none", "caller", "calee", "both", aliases={"callee": "calee"})


@_node("Coach", takes_text=True)
@attrs.frozen(repr=False, slots=False)
class Coach(Text):
    """Listen to, whisper to or barge into another session (body: its token)."""

    policy: Literal["listen", "whisper", "barge"] | None = attr(
        kind_enum("listen", "whisper", "barge")
    )  # whisper
    # Cloudonix spells the callee side "calee"; "callee" is accepted and written as "calee".
    spy_direction: Literal["none", "caller", "calee", "both"] | None = attr(_DIRECTION)
    whisper_direction: Literal["none", "caller", "calee", "both"] | None = attr(_DIRECTION)
    finish_on_key: str | None = attr()


@_node("Response")
@attrs.frozen(repr=False, slots=False)
class Response(Container):
    """A CXML document: verbs run top to bottom; the end of the document hangs up."""

    coach = _adder(Coach)
    connect = _adder(Connect)
    converse = _adder(Converse)
    dial = _adder(Dial)
    gather = _adder(Gather)
    hangup = _adder(Hangup)
    pause = _adder(Pause)
    play = _adder(Play)
    record = _adder(Record)
    redirect = _adder(Redirect)
    reject = _adder(Reject)
    say = _adder(Say)
    start = _adder(Start)
    stop = _adder(Stop)


#: The tags of the verbs: the elements a Response has an adder for.
VERBS: Final = tuple(sorted(Response.allowed))
