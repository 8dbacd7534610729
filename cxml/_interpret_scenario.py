"""What the world does during a simulated call: who answers, what the caller presses or says.

A `Scenario` is plain data, built in Python or read from the JSON/YAML mapping the command
line takes (`Scenario.from_mapping`); every problem names its path (``$.dial.targets.1001``).
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, TypeAlias

import attrs

from ._errors import ScenarioError
from ._interpret_stream import StreamScript

__all__ = ["DialOutcome", "Input", "Scenario"]

DialStatus: TypeAlias = Literal["completed", "busy", "no-answer", "failed", "canceled"]
DIAL_STATUSES: Final = ("completed", "busy", "no-answer", "failed", "canceled")
#: The kinds of Dial target a scenario can give a default for.
TARGET_KINDS: Final = ("number", "sip", "service", "conference")
#: Bounds that keep a simulated call finite whatever the documents do.
MAX_STAGES: Final = 50
MAX_SECONDS: Final = 4 * 3600.0


def _number(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(f"expected a number, got {value!r}", path=path)
    if value < 0:
        raise ScenarioError("must not be negative", path=path)
    return float(value)


@attrs.frozen
class DialOutcome:
    """What one dialled target does: ``status``; ``ring`` seconds before it answers, is busy
    or fails; ``duration`` seconds of talk once answered (``completed``). ``no-answer`` rings
    for the Dial's whole ``timeout``."""

    status: DialStatus = "completed"
    duration: float = 30.0
    ring: float = 0.0

    def __attrs_post_init__(self) -> None:
        if self.status not in DIAL_STATUSES:
            raise ScenarioError(
                f"unknown dial status {self.status!r}; expected one of {', '.join(DIAL_STATUSES)}",
                path="status",
            )
        _number(self.duration, "duration")
        _number(self.ring, "ring")


@attrs.frozen
class Input:
    """What the caller enters at one Gather: ``digits`` (keys, e.g. ``"12#"``), ``speech``, or
    neither (the Gather times out)."""

    digits: str | None = None
    speech: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.digits is not None and (
            not isinstance(self.digits, str) or any(c not in "0123456789*#" for c in self.digits)
        ):
            raise ScenarioError("expected keys from 0-9, * and #", path="digits")
        if self.speech is not None and not isinstance(self.speech, str):
            raise ScenarioError("expected text", path="speech")


NO_INPUT: Final = Input()
_NO_ANSWER: Final = DialOutcome("no-answer")


def _outcome(value: object, path: str) -> DialOutcome:
    if isinstance(value, DialOutcome):
        return value
    if isinstance(value, str):
        value = {"status": value}
    if not isinstance(value, Mapping):
        raise ScenarioError("expected a status or {status, duration, ring}", path=path)
    unknown = set(value) - {"status", "duration", "ring"}
    if unknown:
        raise ScenarioError(f"unknown key {sorted(map(str, unknown))[0]!r}", path=path)
    try:
        return DialOutcome(**value)
    except ScenarioError as exc:
        raise ScenarioError(exc.reason, path=f"{path}.{exc.path}") from None


def _input(value: object, path: str) -> Input:
    if isinstance(value, Input):
        return value
    if value is None:
        return NO_INPUT
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # YAML reads 1 as a number
    if isinstance(value, str):
        value = {"digits": value}
    if not isinstance(value, Mapping) or set(value) - {"digits", "speech"}:
        raise ScenarioError("expected digits, {speech: text}, {digits: keys} or null", path=path)
    try:
        return Input(**value)
    except ScenarioError as exc:
        raise ScenarioError(exc.reason, path=f"{path}.{exc.path}") from None


def _stream(value: object, path: str) -> StreamScript:
    if isinstance(value, StreamScript):
        return value
    if not isinstance(value, Mapping):
        raise ScenarioError("expected a mapping", path=path)
    fields = {f.name for f in attrs.fields(StreamScript)}
    args = dict(value)
    unknown = set(args) - fields
    if unknown:
        raise ScenarioError(f"unknown key {sorted(map(str, unknown))[0]!r}", path=path)
    audio = args.get("audio")
    if isinstance(audio, str):  # in a file, audio is base64 μ-law
        try:
            args["audio"] = base64.b64decode(audio, validate=True)
        except (ValueError, binascii.Error):
            raise ScenarioError("audio: expected base64 μ-law", path=f"{path}.audio") from None
    try:
        return StreamScript(**args)
    except ScenarioError as exc:
        where = exc.path.removeprefix("stream")
        raise ScenarioError(exc.reason, path=f"{path}{where}") from None
    except TypeError as exc:
        raise ScenarioError(str(exc), path=path) from None


def _outcomes(value: object, path: str) -> Mapping[str, DialOutcome]:
    if isinstance(value, Mapping):
        return {str(k): _outcome(v, f"{path}.{k}") for k, v in value.items()}
    raise ScenarioError("expected a mapping of target to outcome", path=path)


def _inputs(value: object) -> tuple[Input, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ScenarioError("expected a list, one entry per Gather", path="$.gather")
    return tuple(_input(item, f"$.gather[{i}]") for i, item in enumerate(value))


def _recordings(value: object) -> tuple[float, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ScenarioError("expected a list of seconds, one per Record", path="$.record")
    return tuple(_number(item, f"$.record[{i}]") for i, item in enumerate(value))


def _kinds(value: object) -> Mapping[str, DialOutcome]:
    kinds = _outcomes(value, "$.dial")
    unknown = set(kinds) - set(TARGET_KINDS)
    if unknown:
        raise ScenarioError(
            f"unknown target kind; expected {', '.join(TARGET_KINDS)}", path="$.dial"
        )
    return kinds


@attrs.frozen(kw_only=True)
class Scenario:
    """What happens around a simulated call.

    - ``targets``: outcome per dialled target, by its text (``"1001"``, ``"+12125550000"``,
      ``"sip:bob@example.com"``, a conference room, a Service number); ``kinds``: default
      outcome per kind of target (``number``, ``sip``, ``service``, ``conference``); else
      ``default`` (nobody answers).
    - ``gather``: what the caller enters at each Gather, in order; once used up, nothing.
    - ``record``: seconds the caller speaks at each Record, in order (0 or used up: silence,
      an empty recording).
    - ``stream``: how the caller behaves on ``<Connect><Stream>``.
    - ``play_seconds``: how long each ``<Play>`` file lasts (the simulator does not fetch it).
    - ``max_stages``, ``max_seconds``: the call ends when either is reached.
    """

    targets: Mapping[str, DialOutcome] = attrs.field(factory=dict)
    kinds: Mapping[str, DialOutcome] = attrs.field(factory=dict)
    default: DialOutcome = _NO_ANSWER
    gather: tuple[Input, ...] = attrs.field(default=(), converter=_inputs)
    record: tuple[float, ...] = attrs.field(default=(), converter=_recordings)
    stream: StreamScript = attrs.field(factory=StreamScript)
    play_seconds: float = 5.0
    max_stages: int = MAX_STAGES
    max_seconds: float = MAX_SECONDS

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "targets", _outcomes(self.targets, "$.dial.targets"))
        object.__setattr__(self, "kinds", _kinds(self.kinds))
        object.__setattr__(self, "default", _outcome(self.default, "$.dial.default"))
        object.__setattr__(self, "stream", _stream(self.stream, "$.stream"))
        _number(self.play_seconds, "$.play_seconds")
        if isinstance(self.max_stages, bool) or not isinstance(self.max_stages, int):
            raise ScenarioError("expected a whole number", path="$.max_stages")
        if self.max_stages < 1:
            raise ScenarioError("must be at least 1", path="$.max_stages")
        if not _number(self.max_seconds, "$.max_seconds"):
            raise ScenarioError("must be positive", path="$.max_seconds")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Scenario:
        """Read the file form (JSON or YAML, already loaded)::

        dial:
          default: no-answer            # or {status: completed, duration: 60, ring: 5}
          number: busy                  # per kind: number, sip, service, conference
          targets: {"1001": no-answer, "+12125550000": {status: completed, duration: 45}}
        gather: ["9", null, {speech: "sales"}]     # null: no input (timeout)
        record: [12]                    # seconds spoken at each Record
        stream: {seconds: 1.0, dtmf: "5", hangup_after: 30, idle_timeout: 2}
        play_seconds: 5
        max_stages: 50
        max_seconds: 14400
        """
        if not isinstance(data, Mapping):
            raise ScenarioError("a scenario is a mapping", path="$")
        known = {"dial", "gather", "record", "stream", "play_seconds", "max_stages", "max_seconds"}
        for key in data:
            if key not in known:
                raise ScenarioError(
                    f"unknown key; expected {', '.join(sorted(known))}", path=f"$.{key}"
                )
        args: dict[str, Any] = {k: data[k] for k in known - {"dial"} if k in data}
        dial = data.get("dial", {})
        if not isinstance(dial, Mapping):
            raise ScenarioError("expected a mapping", path="$.dial")
        for key, value in dial.items():
            if key == "default":
                args["default"] = _outcome(value, "$.dial.default")
            elif key == "targets":
                args["targets"] = _outcomes(value, "$.dial.targets")
            elif key in TARGET_KINDS:
                args.setdefault("kinds", {})[key] = _outcome(value, f"$.dial.{key}")
            else:
                raise ScenarioError(
                    f"unknown key; expected default, targets or {', '.join(TARGET_KINDS)}",
                    path=f"$.dial.{key}",
                )
        return cls(**args)

    def outcome(self, kind: str, target: str) -> DialOutcome:
        """What dialling ``target`` (a ``kind`` of noun) does in this scenario."""
        found = self.targets.get(target)
        if found is None and kind in ("number", "service"):
            digits = target.lstrip("+")  # +1415... and 1415... are one number
            found = next((o for t, o in self.targets.items() if t.lstrip("+") == digits), None)
        if found is None and kind == "sip":
            found = self.targets.get(target.removeprefix("sip:")) or self.targets.get(
                f"sip:{target}"
            )
        return found or self.kinds.get(kind) or self.default
