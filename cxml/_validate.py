"""Judging documents: every problem at once, each with a code, a path and (from text) a line.

Codes are Twilio's where Twilio has one: 12200 schema problems (unknown or misplaced elements,
bad attribute values; unknown attributes and unreachable verbs are warnings), 11100 bad URLs,
12101 a ``version`` on ``<Response>``, 13223 a number that is not dialable (a warning, with the
number it dials, when only separators such as ``1-805-101010`` stand in the way: Cloudonix's own
examples write numbers so), and the parse codes (12100, 12102, 11750) when text cannot be read.
An error is what the platform would fail the call on; what it reads in a looser spelling is a
warning at most.
"""

from __future__ import annotations

import re
from typing import Final, Literal
from urllib.parse import urlsplit

import attrs

from ._errors import CxmlParseError
from ._model import (
    BY_TAG,
    Coach,
    Connect,
    Container,
    Dial,
    Element,
    Gather,
    Header,
    Node,
    Number,
    Parameter,
    Play,
    Record,
    Redirect,
    Response,
    Say,
    Service,
    Sip,
    Start,
    Stop,
    Stream,
    Text,
    Tool,
)
from ._parse import MAX_BYTES, MAX_DEPTH, Lines, read

__all__ = ["Issue", "dialled_number", "stream_url_problem", "validate"]

Severity = Literal["error", "warning"]

#: E.164 with or without the +, or a short extension (OPBX's rule for From/To).
_DIALABLE: Final = re.compile(r"(?:\+?[1-9][0-9]{1,14}|[0-9]{1,10})\Z")
#: What people write inside phone numbers (``1-805-101010``, ``(415) 123-4567``, ``415.123.4567``).
_NUMBER_SEPARATORS: Final = str.maketrans("", "", " -.()")
_SIP_URI: Final = re.compile(r"(?:sips?:)?[^@\s;:]+@[^@\s;]+(?:;\S*)?\Z", re.IGNORECASE)
_KEYS: Final = frozenset("0123456789#*")
_URL_ATTRIBUTES: Final = frozenset({"action", "status_callback", "recording_status_callback"})
#: The elements whose only rules are the ones every element gets (attribute values in range,
#: allowed children): every other element has a ``rule_<tag>`` method (tests/test_verbs.py).
NO_RULES: Final = frozenset(
    {
        "Conference",
        "Converse",
        "Description",
        "Hangup",
        "Pause",
        "Reject",
        "Response",
        "Speech",
        "System",
        "User",
    }
)
_HOMES: Final = {
    tag: sorted(parent for parent, cls in BY_TAG.items() if tag in cls.allowed) for tag in BY_TAG
}


@attrs.frozen
class Issue:
    """One problem: a stable ``code``, ``severity``, a message, where (``path``, ``line``)."""

    code: int | str
    severity: Severity
    message: str
    path: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.severity} {self.code} {self.message} ({self.path})"


def validate(
    doc: Response | str | bytes, *, max_bytes: int | None = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> list[Issue]:
    """Every problem in ``doc`` (a Response, or CXML text), in document order.

    Text that cannot be parsed gives a single error issue with the parse error's code and
    line. Nothing is raised for a bad document.
    """
    lines: Lines | None = None
    if not isinstance(doc, Response):
        lines = {}
        try:
            doc = read(doc, max_bytes, max_depth, lines)
        except CxmlParseError as exc:
            return [Issue(exc.code, "error", exc.message, "/", exc.line)]
    checker = _Checker(lines)
    checker.node(doc, "/Response", None)
    return checker.issues


def dialled_number(text: str) -> str | None:
    """The number the platform dials for ``text`` (E.164 with or without +, or a 1-10 digit
    extension), reading past the separators people write (``1-805-101010`` -> ``1805101010``);
    None when ``text`` is not a phone number at all."""
    text = text.strip()
    if _DIALABLE.match(text):
        return text
    bare = text.translate(_NUMBER_SEPARATORS)
    return bare if bare != text and _DIALABLE.match(bare) else None


def _url_problem(value: str, schemes: frozenset[str], relative: bool) -> str | None:
    if not value or any(c.isspace() for c in value):
        return "is not a URL" if not value else "contains white space"
    try:
        parts = urlsplit(value)
    except ValueError:
        return "is not a URL"
    if not parts.scheme:
        return None if relative else f"must be an absolute {_schemes(schemes)} URL"
    if parts.scheme.lower() not in schemes:
        return f"must use {_schemes(schemes)}, not {parts.scheme}:"
    if not parts.netloc:
        return "has no host"
    try:
        parts.port  # noqa: B018  # a port out of range or not a number raises here
    except ValueError:
        return "has a port that is not a number from 0 to 65535"
    return None


def stream_url_problem(url: str) -> str | None:
    """Why a Stream ``url`` is not one the platform can open (an absolute ws:// or wss://
    URL; "an invalid URL stops the application"), or None."""
    return _url_problem(url, _WS, relative=False)


def _schemes(schemes: frozenset[str]) -> str:
    return " or ".join(f"{s}://" for s in sorted(schemes))


_HTTP: Final = frozenset({"http", "https"})
_WS: Final = frozenset({"ws", "wss"})
_REDIRECT: Final = frozenset({"https", "cx", "service"})


class _Checker:
    def __init__(self, lines: Lines | None) -> None:
        self.lines = lines
        self.issues: list[Issue] = []

    def add(
        self,
        node: Node | Element,
        path: str,
        message: str,
        *,
        code: int | str = 12200,
        severity: Severity = "error",
    ) -> None:
        line = self.lines.get(id(node)) if self.lines is not None else None
        self.issues.append(Issue(code, severity, message, path, line))

    # --- walking ----------------------------------------------------------------------------

    def node(self, node: Node, path: str, parent: Node | None) -> None:
        self.attributes(node, path)
        rule = getattr(self, f"rule_{node.tag}", None)
        if rule is not None:
            rule(node, path, parent)
        if isinstance(node, Text) and not isinstance(node.text, str) and not isinstance(node, Say):
            self.add(node, f"{path}/*", f"<{node.tag}> takes text only, not elements")
        if isinstance(node, Container):
            self.children(node, path)

    def children(self, node: Container, path: str) -> None:
        seen: dict[str, int] = {}
        ended_by: str | None = None  # verbs after Redirect, Hangup or Reject never run
        dialled = False  # a Header after a Dial target does not apply to it
        for child in node.children:
            if isinstance(child, str):
                if not node.takes_text:
                    self.add(node, f"{path}/text()", f"text is not allowed in <{node.tag}>")
                continue
            seen[child.tag] = seen.get(child.tag, 0) + 1
            child_path = f"{path}/{child.tag}[{seen[child.tag]}]"
            if isinstance(node, Response):
                if ended_by is not None:
                    message = f"<{child.tag}> never runs: it follows <{ended_by}>"
                    self.add(child, child_path, message, severity="warning")
                elif child.tag in ("Redirect", "Hangup", "Reject"):
                    ended_by = child.tag
            elif isinstance(node, Dial):
                if isinstance(child, Header) and dialled:
                    message = "put <Header> before the target it applies to"
                    self.add(child, child_path, message, severity="warning")
                dialled = dialled or not isinstance(child, Header)
            if isinstance(child, Element):
                self.unknown(child, child_path, node)
            elif child.tag not in node.allowed:
                homes = _HOMES.get(child.tag) or []
                hint = f"; it belongs in <{'>, <'.join(homes)}>" if homes else ""
                self.add(child, child_path, f"<{child.tag}> is not allowed in <{node.tag}>{hint}")
                self.node(child, child_path, node)
            else:
                self.node(child, child_path, node)

    def unknown(self, el: Element, path: str, parent: Node) -> None:
        if el.tag in BY_TAG:
            what = "text only, not elements" if BY_TAG[el.tag].takes_text else "no content"
            self.add(el, path, f"<{el.tag}> takes {what}")
            return
        guess = next((t for t in BY_TAG if t.lower() == el.tag.lower()), None)
        hint = f"; did you mean <{guess}>?" if guess else ""
        self.add(el, path, f"unknown element <{el.tag}> in <{parent.tag}>{hint}")

    def attributes(self, node: Node, path: str) -> None:
        for key, value in node.extra:
            modelled = node.by_wire.get(key)
            if modelled is not None:
                shown = value if len(value) <= 40 else value[:37] + "..."
                message = f"{key}={shown!r} is not {modelled[2].describe}"
                self.add(node, f"{path}/@{key}", message)
            elif key == "version" and isinstance(node, Response):
                self.add(node, f"{path}/@version", "<Response> takes no version", code=12101)
            else:
                message = f"unknown attribute {key} on <{node.tag}>"
                self.add(node, f"{path}/@{key}", message, severity="warning")
        for name, wire, kind in node.wire:
            value = getattr(node, name)
            if value is None:
                continue
            problem = kind.problem(value)
            if problem is None and name in _URL_ATTRIBUTES:
                problem = _url_problem(value, _HTTP, relative=True)
                if problem is not None:
                    self.add(node, f"{path}/@{wire}", f"{wire} {problem}", code=11100)
                    continue
            if problem is not None:
                self.add(node, f"{path}/@{wire}", f"{wire} {problem}")

    def keys(self, node: Node, path: str, value: str | None, *, single: bool) -> None:
        if value is None:
            return
        ok = len(value) <= 1 if single else bool(value)
        if not ok or not set(value) <= _KEYS:
            what = "one of 0-9, # and *, or empty" if single else "keys from 0-9, # and *"
            self.add(node, f"{path}/@finishOnKey", f"finishOnKey must be {what}")

    def required(self, node: Node, path: str, *names: str) -> None:
        for name in names:
            if getattr(node, name) is None:
                wire = next(w for n, w, _ in node.wire if n == name)
                self.add(node, f"{path}/@{wire}", f"<{node.tag}> needs {wire}")

    # --- rules per element (rule_<Tag>) -------------------------------------------------------

    def rule_Dial(self, node: Dial, path: str, parent: Node | None) -> None:
        text = "".join(c for c in node.children if isinstance(c, str)).strip()
        nouns = [c for c in node.children if isinstance(c, Node) and not isinstance(c, Header)]
        if text and nouns:
            self.add(node, f"{path}/text()", "<Dial> has both a text target and target nouns")
        elif text and not _SIP_URI.match(text):
            message = f"<Dial> target {text!r} is neither a phone number nor a SIP URI"
            self.number(node, f"{path}/text()", text, message)
        elif not text and not nouns:
            self.add(node, path, "<Dial> has nothing to dial")
        if node.hangup_on is not None and (len(node.hangup_on) != 1 or node.hangup_on not in _KEYS):
            self.add(node, f"{path}/@hangupOn", "hangupOn must be one of 0-9, # and *")

    def number(self, node: Node, path: str, text: str, error: str) -> None:
        """13223 ``error`` for a target that is no number; a warning naming the number the
        platform dials when only separators stand in the way."""
        dialled = dialled_number(text)
        if dialled is None:
            self.add(node, path, error, code=13223)
        elif dialled != text.strip():
            message = f"{text.strip()!r} has separators; the platform dials {dialled}"
            self.add(node, path, message, code=13223, severity="warning")

    def rule_Number(self, node: Number, path: str, parent: Node | None) -> None:
        if isinstance(node.text, str):
            message = f"{node.text!r} is neither an E.164 number nor an extension"
            self.number(node, f"{path}/text()", node.text, message)

    def rule_Sip(self, node: Sip, path: str, parent: Node | None) -> None:
        if isinstance(node.text, str) and not _SIP_URI.match(node.text.strip()):
            self.add(node, f"{path}/text()", f"{node.text!r} is not a SIP URI (user@domain)")

    def rule_Service(self, node: Service, path: str, parent: Node | None) -> None:
        self.required(node, path, "provider")
        if isinstance(node.text, str) and not node.text.strip():
            self.add(node, f"{path}/text()", "<Service> needs the agent's number")

    def rule_Header(self, node: Header, path: str, parent: Node | None) -> None:
        self.required(node, path, "name", "value")
        if node.name is not None and node.name[:2].upper() != "X-":
            # The Header page: only a name starting with X- is "valid" and added; the platform
            # leaves out any other rather than failing the call.
            message = (
                f"header name {node.name!r} does not start with X-: the platform leaves it out"
            )
            self.add(node, f"{path}/@name", message, severity="warning")

    def rule_Connect(self, node: Connect, path: str, parent: Node | None) -> None:
        streams = [c for c in node.children if isinstance(c, Stream)]
        if len(streams) != 1:
            self.add(node, path, f"<Connect> needs exactly one <Stream>, has {len(streams)}")

    def rule_Start(self, node: Start, path: str, parent: Node | None) -> None:
        if not any(isinstance(c, Stream) for c in node.children):
            self.add(node, path, "<Start> needs a <Stream>")

    def rule_Stop(self, node: Stop, path: str, parent: Node | None) -> None:
        if not any(isinstance(c, Stream) for c in node.children):
            self.add(node, path, "<Stop> needs a <Stream name=...>")

    def rule_Stream(self, node: Stream, path: str, parent: Node | None) -> None:
        if isinstance(parent, Stop):
            self.required(node, path, "name")
            return
        self.required(node, path, "url")
        if node.url is not None:
            problem = stream_url_problem(node.url)
            if problem is not None:
                self.add(node, f"{path}/@url", f"stream url {problem}", code=11100)

    def rule_Tool(self, node: Tool, path: str, parent: Node | None) -> None:
        # The Tool page: name and url "are required"; the url is the web service called.
        self.required(node, path, "name", "url")
        if node.url is not None:
            problem = _url_problem(node.url, _HTTP, relative=True)
            if problem is not None:
                self.add(node, f"{path}/@url", f"tool url {problem}", code=11100)

    def rule_Parameter(self, node: Parameter, path: str, parent: Node | None) -> None:
        self.required(node, path, *(("name",) if isinstance(parent, Tool) else ("name", "value")))

    def rule_Gather(self, node: Gather, path: str, parent: Node | None) -> None:
        self.keys(node, path, node.finish_on_key, single=True)
        if (
            isinstance(parent, Response)
            and parent.children[-1] is node
            and not node.action_on_empty_result
        ):
            message = (
                "without input the call falls through to the end of the document and hangs"
                ' up; set actionOnEmptyResult="true" or add a verb after <Gather>'
            )
            self.add(node, path, message, severity="warning")

    def rule_Record(self, node: Record, path: str, parent: Node | None) -> None:
        self.keys(node, path, node.finish_on_key, single=False)

    def rule_Coach(self, node: Coach, path: str, parent: Node | None) -> None:
        self.keys(node, path, node.finish_on_key, single=False)
        if isinstance(node.text, str) and not node.text.strip():
            self.add(node, f"{path}/text()", "<Coach> needs the token of the session to coach")

    def rule_Say(self, node: Say, path: str, parent: Node | None) -> None:
        if not node.text or (isinstance(node.text, str) and node.text.isspace()):
            self.add(node, f"{path}/text()", "<Say> says nothing", severity="warning")

    def rule_Play(self, node: Play, path: str, parent: Node | None) -> None:
        if node.digits is not None and not re.fullmatch(r"[0-9wW#*]+", node.digits):
            message = "digits may hold only 0-9, #, * and w (half a second's pause)"
            self.add(node, f"{path}/@digits", message)
        if isinstance(node.text, str) and (node.text.strip() or node.digits is None):
            problem = _url_problem(node.text.strip(), _HTTP, relative=False)
            if problem is not None:
                self.add(node, f"{path}/text()", f"audio URL {problem}", code=11100)

    def rule_Redirect(self, node: Redirect, path: str, parent: Node | None) -> None:
        if not isinstance(node.text, str):
            return
        target = node.text.strip()
        problem = _url_problem(target, _REDIRECT, relative=True)
        if problem is not None:
            self.add(node, f"{path}/text()", f"redirect target {problem}", code=11100)
        elif not urlsplit(target).scheme:
            message = "relative redirect target: resolved against the document's URL"
            self.add(node, f"{path}/text()", message, code=11100, severity="warning")
