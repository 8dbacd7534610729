"""Hypothesis strategies for CXML documents. Requires the hypothesis package.

``responses()`` draws documents that `cxml.validate` finds no issue in; with ``extras=True``
they also carry unknown attributes and unknown elements (still readable, no longer clean).
Every strategy draws only characters XML can carry.

>>> from hypothesis import given
>>> from cxml import parse, render
>>> from cxml.strategies import responses
>>> @given(responses())
... def test_round_trip(doc):
...     assert parse(render(doc)) == doc
>>> test_round_trip()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised only without hypothesis
    raise ImportError("cxml.strategies requires hypothesis: pip install hypothesis") from exc

from ._kinds import BOOL, _Enum, _Float, _Int, _List
from ._model import (
    BY_TAG,
    Coach,
    Conference,
    Connect,
    Converse,
    Description,
    Dial,
    Element,
    Gather,
    Hangup,
    Header,
    Node,
    Number,
    Pairs,
    Parameter,
    Pause,
    Play,
    Record,
    Redirect,
    Reject,
    Response,
    Say,
    Service,
    Sip,
    Speech,
    Start,
    Stop,
    Stream,
    System,
    Tool,
    User,
    replace,
)

__all__ = [
    "e164",
    "element_names",
    "http_urls",
    "nodes",
    "responses",
    "sip_uris",
    "websocket_urls",
    "xml_text",
]

S = st.SearchStrategy

# XML 1.0 Char minus surrogates: what the model accepts.
_XML_CHARS: Final = st.characters(
    exclude_categories=["Cs"],
    exclude_characters="".join(
        [*map(chr, range(9)), "\x0b", "\x0c", *map(chr, range(14, 32)), "\ufffe", "\uffff"]
    ),
)


def xml_text(*, min_size: int = 0, max_size: int = 40, blank: bool = True) -> S[str]:
    """Text XML can carry; with ``blank=False`` it has at least one non-space character."""
    text = st.text(_XML_CHARS, min_size=min_size, max_size=max_size)
    return text if blank else text.filter(lambda t: not t.isspace() and t != "")


def e164() -> S[str]:
    """E.164 numbers with +, or 1-10 digit extensions."""
    return st.one_of(
        st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True),
        st.from_regex(r"[0-9]{1,10}", fullmatch=True),
    )


_LABEL: Final = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
_HOST: Final = st.builds(lambda a, b: f"{a}.{b}", _LABEL, st.sampled_from(["com", "net", "io"]))
_PATH: Final = st.from_regex(r"(/[A-Za-z0-9._~-]{1,8}){0,3}", fullmatch=True)
_QUERY: Final = st.from_regex(r"(\?[a-z]{1,5}=[A-Za-z0-9%&=]{0,12})?", fullmatch=True)


def _url(schemes: list[str]) -> S[str]:
    return st.builds(
        lambda s, h, p, q: f"{s}://{h}{p}{q}", st.sampled_from(schemes), _HOST, _PATH, _QUERY
    )


def http_urls() -> S[str]:
    """Absolute http(s) URLs, with paths and query strings (``&`` included)."""
    return _url(["https", "http"])


def websocket_urls() -> S[str]:
    """``wss://`` and ``ws://`` URLs."""
    return _url(["wss", "ws"])


def sip_uris() -> S[str]:
    """``[sip:]user@domain[:port][;transport=...]``."""
    return st.builds(
        lambda scheme, user, host, port, transport: f"{scheme}{user}@{host}{port}{transport}",
        st.sampled_from(["", "sip:"]),
        st.one_of(e164(), _LABEL),
        _HOST,
        st.sampled_from(["", ":5060", ":5061"]),
        st.sampled_from(["", ";transport=udp", ";transport=tls"]),
    )


def element_names() -> S[str]:
    """Element and attribute names the model will hold (ASCII, no prefixes)."""
    return st.from_regex(r"[a-z][a-zA-Z0-9_.-]{0,12}", fullmatch=True)


_KEYS: Final = st.sampled_from(list("0123456789#*"))
# Attribute values that are text to the model but have a format validate checks.
_FORMATS: Final[dict[str, S[Any]]] = {
    "action": http_urls(),
    "status_callback": http_urls(),
    "recording_status_callback": http_urls(),
    "url": websocket_urls(),
    "hangup_on": _KEYS,
    "digits": st.from_regex(r"[0-9w#*]{1,8}", fullmatch=True),
    "caller_id": e164(),
}
_FINISH_ON_KEY: Final[dict[type[Node], S[str]]] = {
    Gather: st.one_of(st.just(""), _KEYS),
    Record: st.text("0123456789#*", min_size=1, max_size=4),
    Coach: st.text("0123456789#*", min_size=1, max_size=4),
}


def _value(cls: type[Node], name: str, kind: object) -> S[Any]:
    if name == "finish_on_key":
        return _FINISH_ON_KEY[cls]
    if cls is Tool and name == "url":  # a web service, not a stream
        return http_urls()
    if name in _FORMATS:
        return _FORMATS[name]
    if kind is BOOL:
        return st.booleans()
    if isinstance(kind, _Float):
        low, high = kind.low or 0, kind.high or 1000
        return st.one_of(
            st.integers(low + kind.positive, high),
            st.floats(low, high, allow_nan=False, allow_infinity=False, exclude_min=kind.positive),
            *map(st.just, kind.words),
        )
    if isinstance(kind, _Int):
        return st.one_of(
            st.integers(kind.low or 0, kind.high or 100_000), *map(st.just, kind.words)
        )
    if isinstance(kind, _Enum):
        return st.sampled_from([*kind.values, *((True, False) if kind.booleans else ())])
    if isinstance(kind, _List):
        if kind.values is None:
            return st.lists(_LABEL, min_size=1, max_size=3).map(tuple)
        return st.lists(st.sampled_from(kind.values), min_size=1, unique=True).map(tuple)
    return xml_text(max_size=20)


def _attributes(cls: type[Node], required: tuple[str, ...] = ()) -> S[dict[str, Any]]:
    """Some of ``cls``'s attributes (always those in ``required``) with valid values."""
    wanted = {name: _value(cls, name, kind) for name, _, kind in cls.wire}
    return st.fixed_dictionaries(
        {name: wanted[name] for name in required},
        optional={name: s for name, s in wanted.items() if name not in required},
    )


def _extra(cls: type[Node] | None) -> S[tuple[tuple[str, str], ...]]:
    known = {wire for _, wire, _ in cls.wire} if cls is not None else set()
    names = element_names().filter(lambda n: n not in known and n != "version")
    return st.dictionaries(names, xml_text(max_size=10), max_size=2).map(lambda d: tuple(d.items()))


class _Draw:
    """Strategies for each element, sharing the ``extras`` switch."""

    def __init__(self, extras: bool) -> None:
        self.extras = extras

    def node(
        self, cls: type[Node], body: S[Any] | None = None, required: tuple[str, ...] = ()
    ) -> S[Node]:
        extra = _extra(cls) if self.extras else st.just(())

        def build(attributes: dict[str, Any], extra: Pairs, *body: Any) -> Node:
            return cls(*body, extra=extra, **attributes)

        parts = [_attributes(cls, required), extra] + ([body] if body is not None else [])
        return st.tuples(*parts).map(lambda t: build(*t))

    def children(self, *choices: S[Node], min_size: int = 0, max_size: int = 3) -> S[Any]:
        items: S[Any] = st.one_of(*choices)
        if self.extras:
            items = st.one_of(items, self.unknown())
        return st.lists(items, min_size=min_size, max_size=max_size)

    def unknown(self) -> S[Element]:
        names = element_names().filter(lambda n: n not in BY_TAG)
        content = st.lists(xml_text(max_size=8, blank=False), max_size=1)
        attrs = _extra(None)
        return st.builds(lambda n, c, a: Element(n, c, attributes=a), names, content, attrs)

    def ssml(self) -> S[tuple[Any, ...]]:
        """Say's mixed content: text around SSML elements, never two strings in a row."""
        element = st.builds(
            lambda tag, attrs: Element(tag, attributes=attrs),
            st.sampled_from(["break", "emphasis", "prosody", "say-as", "sub"]),
            st.dictionaries(st.sampled_from(["time", "level", "rate"]), _LABEL, max_size=2),
        )
        pair = st.tuples(element, xml_text(max_size=10))
        return st.tuples(xml_text(max_size=10), st.lists(pair, min_size=1, max_size=3)).map(
            lambda t: tuple(x for x in (t[0], *(i for p in t[1] for i in p)) if x)
        )

    def verbs(self) -> dict[str, S[Node]]:
        say_text = st.one_of(xml_text(min_size=1, blank=False), self.ssml())
        say = self.node(Say, say_text)
        play = self.node(Play, http_urls())
        pause = self.node(Pause)
        parameter = self.node(Parameter, required=("name", "value"))
        stream = self.node(Stream, self.children(parameter), required=("url",))
        tool = self.node(
            Tool,
            self.children(
                self.node(Parameter, required=("name",)), self.node(Description, xml_text())
            ),
            required=("name", "url"),
        )
        text = xml_text(min_size=1)
        converse = self.node(
            Converse,
            self.children(
                self.node(System, text), self.node(User, text), self.node(Speech, text), tool
            ),
        )
        headers = st.lists(
            st.builds(lambda n, v: Header(name=f"X-{n}", value=v), _LABEL, xml_text(max_size=10)),
            max_size=2,
        )
        target = st.one_of(
            self.node(Number, e164()),
            self.node(Sip, sip_uris()),
            self.node(Conference, xml_text(max_size=10)),
            self.node(Service, e164(), required=("provider",)),
        )
        dial_body = st.one_of(
            st.tuples(headers, st.lists(target, min_size=1, max_size=3)).map(
                lambda t: [*t[0], *t[1]]
            ),
            e164().map(lambda n: [n]),
        )
        return {
            "Say": say,
            "Play": play,
            "Pause": pause,
            "Dial": self.node(Dial, dial_body),
            "Connect": self.node(Connect, stream.map(lambda s: [s])),
            "Start": self.node(Start, self.children(stream, min_size=1)),
            "Stop": self.node(Stop, self.node(Stream, required=("name",)).map(lambda s: [s])),
            "Gather": self.node(Gather, self.children(say, play, pause, converse)),
            "Record": self.node(Record, self.children(say, play, pause)),
            "Converse": converse,
            "Coach": self.node(Coach, xml_text(min_size=1, blank=False)),
            "Redirect": self.node(Redirect, http_urls().map(lambda u: "https" + u[u.index(":") :])),
            "Hangup": self.node(Hangup),
            "Reject": self.node(Reject),
        }


_ENDING: Final = ("Redirect", "Hangup", "Reject")


def nodes(*, extras: bool = False) -> dict[str, S[Node]]:
    """A strategy per verb, by tag (nouns come nested in their verbs)."""
    return _Draw(extras).verbs()


def responses(*, extras: bool = False, max_verbs: int = 5) -> S[Response]:
    """Whole documents; verbs that end a document (Redirect, Hangup, Reject) come last only."""
    draw = _Draw(extras)
    verbs = draw.verbs()
    middle = [s for tag, s in verbs.items() if tag not in _ENDING]
    last = st.one_of(*(verbs[tag] for tag in _ENDING))
    body: Callable[[list[Any], list[Any]], list[Any]] = lambda a, b: [*a, *b]  # noqa: E731
    return st.builds(
        lambda children, extra: Response(_no_dead_end(children), extra=extra),
        st.builds(
            body,
            draw.children(*middle, max_size=max_verbs),
            st.lists(last, max_size=1),
        ),
        _extra(Response) if extras else st.just(()),
    )


def _no_dead_end(children: list[Any]) -> list[Any]:
    """A Gather that ends a document asks for a callback on no input (validate warns else)."""
    if children and isinstance(children[-1], Gather):
        children[-1] = replace(children[-1], action_on_empty_result=True)
    return children
