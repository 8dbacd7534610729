"""Business hours and campaign windows: is a schedule open at an instant?

A `Schedule` holds weekly time ranges, per-date exceptions and an IANA time zone. `is_open`
takes an aware instant, reads it on the schedule's wall clock (never the machine's local time)
and applies the OPBX algorithm (reference §2.6), extended with ranges that cross midnight:

1. inactive schedule → closed;
2. the local date's ranges are its exception's (``closed`` → none, ``special_hours`` → its
   ranges) if it has one, else its weekday's (a missing or empty weekday → none);
3. open iff ``start <= now < end`` for one of them (start inclusive, end exclusive);
4. a range with ``end <= start`` crosses midnight and belongs to its start day: Friday
   22:00-02:00 is open Friday from 22:00 and Saturday until 01:59:59. ``end == 00:00`` means
   "until midnight" (nothing spills over); ``00:00-00:00`` is the whole day;
5. the spill-over of the previous day's crossing range (weekly or that day's exception) counts on
   the next morning, even if that morning's date has a ``special_hours`` exception (the shift
   belongs to the day it started), unless that date has a ``closed`` exception: a closed date is
   closed all day.

Wall-clock semantics across DST changes (see `Schedule.is_open`): ranges are local times, so a
range covering a skipped hour is shorter that day and one covering a repeated hour is longer.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final, Literal
from zoneinfo import ZoneInfo

import attrs

from cxml import CxmlError

__all__ = [
    "WEEKDAYS",
    "DateException",
    "Schedule",
    "TimeRange",
    "TimeRangeError",
    "Window",
    "check_timezone",
    "parse_ranges",
]

#: Weekday names in `datetime.date.weekday` order.
WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ONE_DAY: Final = dt.timedelta(days=1)
_TIME: Final = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?")
#: Names the zone database answers to that are not places: the first is the machine's own zone.
_REFUSED_ZONES: Final = {
    "localtime": "is the machine's local time, not a time zone; name one such as Europe/London",
    "posixrules": "is a zone database internal, not a time zone",
    "Factory": "is the zone database's placeholder, not a time zone",
}


class TimeRangeError(CxmlError, ValueError):
    """A time range in a configuration is wrong; ``path`` says where, ``problem`` what.

    ``str()`` is ``"path: problem"`` without the code, so configuration loaders can list it
    among their own problems as is.
    """

    code: int | str = "INVALID_TIME_RANGE"

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem

    def __str__(self) -> str:
        return self.message


def _naive_time(_: object, attribute: attrs.Attribute[dt.time], value: dt.time) -> None:
    if not isinstance(value, dt.time):
        raise TypeError(f"TimeRange.{attribute.name} must be a datetime.time, got {value!r}")
    if value.tzinfo is not None:
        # A range is wall-clock time in its schedule's zone; an offset here would be ignored.
        raise ValueError(f"TimeRange.{attribute.name} must be naive (the schedule has the zone)")


@attrs.frozen
class TimeRange:
    """``start`` inclusive, ``end`` exclusive; ``end <= start`` crosses midnight (see module)."""

    start: dt.time = attrs.field(validator=_naive_time)
    end: dt.time = attrs.field(validator=_naive_time)

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def covers_same_day(self, now: dt.time) -> bool:
        """Whether wall time ``now`` is inside the range on the range's own day."""
        return self.start <= now and (self.crosses_midnight or now < self.end)

    def covers_next_day(self, now: dt.time) -> bool:
        """Whether wall time ``now`` is inside the range's spill-over on the following day."""
        return self.crosses_midnight and now < self.end

    def __str__(self) -> str:
        end = "24:00" if self.end == dt.time(0) else _show(self.end)
        return f"{_show(self.start)}-{end}"


def _show(value: dt.time) -> str:
    return value.isoformat("seconds" if value.second or value.microsecond else "minutes")


def _tuple_of_ranges(value: Iterable[TimeRange]) -> tuple[TimeRange, ...]:
    return tuple(value)


@attrs.frozen
class DateException:
    """What one local date does instead of its weekday: ``closed`` all day, or ``special_hours``."""

    type: Literal["closed", "special_hours"] = attrs.field(
        validator=attrs.validators.in_(("closed", "special_hours"))
    )
    ranges: tuple[TimeRange, ...] = attrs.field(default=(), converter=_tuple_of_ranges)
    #: A free label (the configuration's ``name``).
    name: str = ""

    @ranges.validator
    def _check_ranges(
        self, _: attrs.Attribute[tuple[TimeRange, ...]], value: tuple[TimeRange, ...]
    ) -> None:
        if not all(isinstance(r, TimeRange) for r in value):
            raise TypeError("DateException.ranges must hold TimeRange objects")
        if self.type == "closed" and value:
            raise ValueError("a closed exception has no hours; use special_hours")


def _freeze_weekly(
    value: Mapping[str, Iterable[TimeRange]],
) -> Mapping[str, tuple[TimeRange, ...]]:
    if not isinstance(value, Mapping):
        raise TypeError(f"Schedule.weekly must be a mapping of weekday names, got {value!r}")
    return MappingProxyType({day: tuple(ranges) for day, ranges in value.items()})


def _freeze_exceptions(
    value: Mapping[dt.date, DateException],
) -> Mapping[dt.date, DateException]:
    if not isinstance(value, Mapping):
        raise TypeError(f"Schedule.exceptions must be a mapping of dates, got {value!r}")
    return MappingProxyType(dict(value))


def _check_zone(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if (problem := check_timezone(value)) is not None:
        raise ValueError(f"Schedule.{attribute.name}: {problem}")


def _check_weekly(
    _: object,
    __: attrs.Attribute[Mapping[str, tuple[TimeRange, ...]]],
    value: Mapping[str, tuple[TimeRange, ...]],
) -> None:
    for day, ranges in value.items():
        if day not in WEEKDAYS:
            raise ValueError(f"Schedule.weekly: {day!r} is not a weekday name (monday..sunday)")
        if not all(isinstance(r, TimeRange) for r in ranges):
            raise TypeError(f"Schedule.weekly[{day!r}] must hold TimeRange objects")


def _check_exceptions(
    _: object,
    __: attrs.Attribute[Mapping[dt.date, DateException]],
    value: Mapping[dt.date, DateException],
) -> None:
    for day, exception in value.items():
        # datetime is a date subclass, but a datetime key would never match a local date
        if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
            raise TypeError(f"Schedule.exceptions keys must be dates, got {day!r}")
        if not isinstance(exception, DateException):
            raise TypeError(f"Schedule.exceptions[{day}] must be a DateException")


@attrs.frozen
class Schedule:
    """Weekly ranges plus per-date exceptions, read on the wall clock of ``timezone``.

    ``weekly`` maps ``monday``..``sunday`` to ranges (a missing or empty day is closed);
    ``exceptions`` maps local dates to `DateException`. The rules are in the module docstring.
    """

    timezone: str = attrs.field(validator=_check_zone)
    weekly: Mapping[str, tuple[TimeRange, ...]] = attrs.field(
        factory=dict, converter=_freeze_weekly, validator=_check_weekly
    )
    exceptions: Mapping[dt.date, DateException] = attrs.field(
        factory=dict, converter=_freeze_exceptions, validator=_check_exceptions
    )
    active: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    #: The zone object, looked up once (routing reads it per call).
    zone: ZoneInfo = attrs.field(init=False, repr=False, eq=False)
    #: ``weekly`` by ``date.weekday()`` (Monday is 0), for the same reason.
    _by_weekday: tuple[tuple[TimeRange, ...], ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        # After the validators: ``timezone`` and ``weekly`` are known good by now.
        object.__setattr__(self, "zone", ZoneInfo(self.timezone))
        by_weekday = tuple(self.weekly.get(day, ()) for day in WEEKDAYS)
        object.__setattr__(self, "_by_weekday", by_weekday)

    def local(self, at: dt.datetime) -> dt.datetime:
        """``at`` on this schedule's wall clock. Refuses naive datetimes (ValueError)."""
        if not isinstance(at, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(at).__name__}")
        # Through UTC: astimezone() to the same zone object would keep a non-existent wall
        # time (02:30 on a spring-forward day) as is instead of normalising it. (An instant
        # already in UTC, the usual case, is its own UTC form.)
        if at.tzinfo is not dt.UTC:
            if at.tzinfo is None or at.utcoffset() is None:
                raise ValueError(
                    f"naive datetime {at.isoformat()}: business hours need a timezone-aware "
                    "instant (e.g. datetime.now(datetime.UTC)); the machine's local time is "
                    "never assumed"
                )
            at = at.astimezone(dt.UTC)
        return at.astimezone(self.zone)

    def ranges_on(self, day: dt.date) -> tuple[TimeRange, ...]:
        """The ranges that start on local date ``day``: its exception's, else its weekday's."""
        exception = self.exceptions.get(day)
        if exception is not None:
            return exception.ranges
        return self._by_weekday[day.weekday()]

    def is_open(self, at: dt.datetime) -> bool:
        """Whether the schedule is open at the aware instant ``at``.

        The decision depends on the instant only, not on the zone ``at`` is written in. Across
        DST changes ranges are wall-clock times: on a spring-forward day (America/New_York,
        2026-03-08) 02:00-02:59 never happens, so 01:00-03:00 is open one real hour, from 01:00
        EST until the instant after 01:59:59 EST, which is 03:00 EDT (closed). A non-existent
        wall time passed in (``02:30`` with ``fold=0``) denotes, per PEP 495, 02:30 EST = 03:30
        EDT, and is judged as 03:30. On a fall-back day (2026-11-01) 01:30 happens twice and
        both instants are 01:30: 01:00-02:00 is open two real hours.
        """
        local = self.local(at)
        if not self.active:
            return False
        day, now = local.date(), local.time()
        if any(r.covers_same_day(now) for r in self.ranges_on(day)):
            return True
        exception = self.exceptions.get(day)
        if (exception is not None and exception.type == "closed") or day == dt.date.min:
            return False
        return any(r.covers_next_day(now) for r in self.ranges_on(day - _ONE_DAY))


def _check_window_dates(
    window: Window, _: attrs.Attribute[dt.date | None], end: dt.date | None
) -> None:
    if end is not None and window.start_date is not None and end < window.start_date:
        raise ValueError(f"Window: end_date {end} is before start_date {window.start_date}")


@attrs.frozen
class Window:
    """When a campaign may dial: its schedule, between two local dates (both inclusive).

    The dates bound the local date of the instant, so a range crossing midnight on
    ``end_date`` stops at midnight.
    """

    schedule: Schedule = attrs.field(validator=attrs.validators.instance_of(Schedule))
    start_date: dt.date | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(dt.date))
    )
    end_date: dt.date | None = attrs.field(
        default=None,
        validator=[
            attrs.validators.optional(attrs.validators.instance_of(dt.date)),
            _check_window_dates,
        ],
    )

    def runnable(self, at: dt.datetime) -> bool:
        """Whether ``at`` (aware) is inside the dates and the schedule is open."""
        day = self.schedule.local(at).date()
        if self.start_date is not None and day < self.start_date:
            return False
        if self.end_date is not None and day > self.end_date:
            return False
        return self.schedule.is_open(at)


# --- configuration helpers -------------------------------------------------------------------


@functools.cache
def _zone_names() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: object) -> str | None:
    """What is wrong with ``name`` as an IANA time zone name, or None if it is one."""
    if not isinstance(name, str):
        return f"must be a time zone name such as Europe/London, got {type(name).__name__}"
    if name in _REFUSED_ZONES:
        return f"{name!r} {_REFUSED_ZONES[name]}"
    if name in _zone_names():
        return None
    hint = next((z for z in sorted(_zone_names()) if z.lower() == name.lower()), None)
    if hint is not None:
        return f"unknown time zone {name!r}; did you mean {hint!r}?"
    return f"unknown time zone {name!r}; use an IANA name such as Europe/London or UTC"


def parse_ranges(value: object, path: str) -> tuple[TimeRange, ...]:
    """Read one day's ranges from configuration data; ``path`` names it in errors.

    Accepted: ``[["09:00", "17:00"], ...]``, ``["09:00-17:00", ...]``, ``[{start, end}, ...]``
    (also ``start_time``/``end_time``), and the OPBX day ``{enabled, time_ranges}``. Times are
    ``HH:MM`` or ``HH:MM:SS``; ``24:00`` is accepted as an end (midnight). An empty list is a
    closed day. Anything else raises `TimeRangeError` (a ValueError) naming the element, e.g.
    ``business_hours.main.schedule.monday[1]: 25:00 is not a time``.
    """
    if isinstance(value, Mapping):
        unknown = sorted(str(k) for k in value if k not in ("enabled", "time_ranges"))
        if unknown:
            raise TimeRangeError(path, f"unknown key {unknown[0]!r} (enabled, time_ranges)")
        enabled = value.get("enabled", True)
        if not isinstance(enabled, bool):
            raise TimeRangeError(f"{path}.enabled", "must be true or false")
        ranges = parse_ranges(value.get("time_ranges", []), f"{path}.time_ranges")
        return ranges if enabled else ()
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise TimeRangeError(
            path,
            f"must be a list of time ranges such as [['09:00', '17:00']] or ['09:00-17:00'], "
            f"got {_kind(value)}",
        )
    return tuple(_parse_range(item, f"{path}[{i}]") for i, item in enumerate(value))


def _parse_range(item: object, path: str) -> TimeRange:
    if isinstance(item, TimeRange):
        return item
    if isinstance(item, str):
        parts = item.split("-")
        if len(parts) != 2:
            raise TimeRangeError(path, f"{item!r} is not a range; write it as 09:00-17:00")
        start, end = (p.strip() for p in parts)
    elif isinstance(item, Mapping):
        keys = ("start", "end") if "start" in item or "end" in item else ("start_time", "end_time")
        unknown = sorted(str(k) for k in item if k not in keys)
        if unknown or any(k not in item for k in keys):
            raise TimeRangeError(path, f"a range needs exactly the keys {keys[0]} and {keys[1]}")
        start, end = item[keys[0]], item[keys[1]]
    elif isinstance(item, list | tuple) and len(item) == 2:
        start, end = item
    else:
        raise TimeRangeError(
            path, f"must be a range such as ['09:00', '17:00'] or '09:00-17:00', got {_kind(item)}"
        )
    first, last = _parse_time(start, path, end=False), _parse_time(end, path, end=True)
    if first == last and not (first == dt.time(0) and end in ("24:00", "24:00:00")):
        # Empty or a whole day? Neither is guessed; 00:00-24:00 says "whole day".
        whole = "00:00-24:00 is the whole day"
        raise TimeRangeError(path, f"{_show(first)}-{_show(last)} has no length; {whole}")
    return TimeRange(first, last)


def _parse_time(value: object, path: str, *, end: bool) -> dt.time:
    if isinstance(value, dt.time):
        if value.tzinfo is not None:
            raise TimeRangeError(path, f"{value} has a UTC offset; the schedule has the zone")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 17:00 as the base-60 number 1020.
        raise TimeRangeError(path, f"{value} is a number, not a time; quote times: '17:00'")
    if not isinstance(value, str):
        raise TimeRangeError(path, f"{_kind(value)} is not a time; write HH:MM")
    match = _TIME.fullmatch(value)
    if match is not None:
        hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
        if hour == 24 and minute == second == 0:
            if end:
                return dt.time(0)  # 24:00 as an end: until midnight
            raise TimeRangeError(path, "24:00 is only an end time; a day starts at 00:00")
        if hour < 24 and minute < 60 and second < 60:
            return dt.time(hour, minute, second)
    raise TimeRangeError(path, f"{value} is not a time; write HH:MM (00:00-23:59)")


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__
