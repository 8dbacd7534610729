"""The exceptions cxmlflow raises, all under one root.

::

    CxmlError                 every library error (cxml, providers, flows); has a stable ``code``
    ├── CxmlParseError        a document could not be read: not well-formed, forbidden XML
    │                         (DOCTYPE, entities, processing instructions, XInclude), too large,
    │                         too deep, wrong root; carries ``line`` and ``column``
    ├── CxmlValueError        a node was built with a value CXML cannot carry (also a ValueError)
    ├── CallRequestError      a platform request body has a field of the wrong type or value
    ├── ScenarioError         a simulated call's scenario (cxml.Scenario) is malformed; has ``path``
    ├── SimulationError       cxml.interpret was given something it cannot run (an app that is
    │                         neither a callable nor an http(s) URL, a running event loop)
    └── StreamError           a media stream could not be opened (31920) or spoke nonsense (31950)

``code`` is data, not a class name: Twilio-compatible integers where Twilio has one (12100
parse failure, 12102 wrong root, 11750 too large, 12200 schema problem, ...), upper-case
strings elsewhere. Messages may change between releases; codes do not.
"""

from __future__ import annotations

__all__ = [
    "CallRequestError",
    "CxmlError",
    "CxmlParseError",
    "CxmlValueError",
    "ScenarioError",
    "SimulationError",
    "StreamError",
]


class CxmlError(Exception):
    """Root of every error cxmlflow raises. ``code`` is stable; the message is for people."""

    code: int | str = "CXML_ERROR"

    def __init__(self, message: str, *, code: int | str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class CxmlParseError(CxmlError):
    """A CXML document could not be parsed. ``line`` and ``column`` are 1-based, or None."""

    code: int | str = 12100

    def __init__(
        self,
        message: str,
        *,
        code: int | str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = f" at line {self.line}" if self.line else ""
        if self.line and self.column:
            where += f", column {self.column}"
        return f"[{self.code}] {self.message}{where}"


class CxmlValueError(CxmlError, ValueError):
    """A document node was given a value it cannot hold; the message names the field."""

    code: int | str = 12200


class CallRequestError(CxmlError, ValueError):
    """A platform request (webhook body) has a bad field; ``field`` names it."""

    code: int | str = "INVALID_CALL_REQUEST"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class ScenarioError(CxmlError, ValueError):
    """A scenario for `cxml.interpret` is malformed; ``path`` names the field (``$.dial``)."""

    code: int | str = "INVALID_SCENARIO"

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = message


class SimulationError(CxmlError):
    """`cxml.interpret` cannot run what it was given (the message says what and why)."""

    code: int | str = "SIMULATION_ERROR"


class StreamError(CxmlError):
    """A media stream failed: 31920 it could not be opened, 31950 a malformed message."""

    code: int | str = 31920
