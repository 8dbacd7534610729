"""Business hours: the OPBX vectors (reference §11.4), midnight, exceptions, DST, parsing."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxml import CxmlError
from flows.routing._hours import (
    WEEKDAYS,
    DateException,
    Schedule,
    TimeRange,
    TimeRangeError,
    Window,
    check_timezone,
    parse_ranges,
)

UTC = dt.UTC
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def t(text: str) -> dt.time:
    return dt.time.fromisoformat(text)


def r(start: str, end: str) -> TimeRange:
    return TimeRange(t(start), t(end))


def at(text: str, zone: dt.tzinfo = NEW_YORK, fold: int = 0) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=zone, fold=fold)


def utc(text: str) -> dt.datetime:
    return at(text, UTC)


# --- reference §11.4 -----------------------------------------------------------------------

WORKDAY = (r("09:00", "17:00"),)
OPBX = Schedule(
    "America/New_York",
    dict.fromkeys(WEEKDAYS[:5], WORKDAY) | {"saturday": ()},  # Saturday disabled, no Sunday
    {
        dt.date(2025, 12, 25): DateException("closed"),
        dt.date(2025, 12, 24): DateException("special_hours", (r("09:00", "12:00"),)),
    },
)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("2025-01-06 08:59:59", False),  # before start
        ("2025-01-06 09:00:00", True),  # start inclusive
        ("2025-01-06 16:59:59", True),  # inside
        ("2025-01-06 17:00:00", False),  # end exclusive
        ("2025-01-11 10:00", False),  # Saturday: day disabled
        ("2025-01-12 10:00", False),  # Sunday: day missing
        ("2025-12-25 10:00", False),  # closed exception overrides an enabled Thursday
        ("2025-12-24 10:00", True),  # inside special_hours
        ("2025-12-24 13:00", False),  # outside special_hours, though Wednesdays are open then
    ],
)
def test_opbx_vectors(local: str, expected: bool) -> None:
    assert OPBX.is_open(at(local)) is expected


@pytest.mark.parametrize("local", ["2025-01-06 10:00", "2025-12-24 10:00", "2025-01-11 10:00"])
def test_inactive_schedule_is_always_closed(local: str) -> None:
    inactive = Schedule(OPBX.timezone, OPBX.weekly, OPBX.exceptions, active=False)
    assert OPBX.is_open(at("2025-01-06 10:00"))
    assert not inactive.is_open(at(local))


def test_utc_instant_is_read_in_the_schedule_zone() -> None:
    # 13:30Z is 08:30 EST: closed. Evaluating in UTC (the Jan 2026 defect) would say open.
    assert not OPBX.is_open(utc("2025-01-06 13:30"))
    assert OPBX.is_open(utc("2025-01-06 14:30"))  # 09:30 EST
    assert OPBX.is_open(utc("2025-01-06 21:59:59"))  # 16:59:59 EST
    assert not OPBX.is_open(utc("2025-01-06 22:00"))  # 17:00 EST


@pytest.mark.parametrize(
    ("local", "expected"),
    [("10:00", True), ("12:00", False), ("13:00", False), ("14:00", True), ("15:00", True)],
)
def test_multi_range_day(local: str, expected: bool) -> None:
    schedule = Schedule(
        "America/New_York", {"monday": parse_ranges([["09:00", "12:00"], ["14:00", "17:00"]], "m")}
    )
    assert schedule.is_open(at(f"2025-01-06 {local}")) is expected


# --- ranges crossing midnight -----------------------------------------------------------------

LATE = Schedule("UTC", {"friday": (r("22:00", "02:00"),)})  # Friday 2026-01-02


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-01-02 21:59:59", False),
        ("2026-01-02 22:00", True),
        ("2026-01-02 23:59:59.999999", True),
        ("2026-01-03 00:00", True),
        ("2026-01-03 01:00", True),
        ("2026-01-03 01:59:59", True),
        ("2026-01-03 02:00", False),
        ("2026-01-03 22:30", False),  # Saturday evening: the range belongs to Friday
        ("2026-01-01 23:00", False),  # Thursday
    ],
)
def test_range_crossing_midnight_belongs_to_its_start_day(when: str, expected: bool) -> None:
    assert LATE.is_open(utc(when)) is expected


def test_crossing_range_wraps_from_sunday_into_monday() -> None:
    schedule = Schedule("UTC", {"sunday": (r("22:00", "06:00"),)})
    assert schedule.is_open(utc("2026-01-05 05:59"))  # Monday morning
    assert not schedule.is_open(utc("2026-01-05 06:00"))


def test_end_at_midnight_means_until_midnight() -> None:
    schedule = Schedule("UTC", {"monday": parse_ranges(["18:00-24:00"], "m")})
    assert schedule.weekly["monday"] == (r("18:00", "00:00"),)
    assert schedule.is_open(utc("2026-01-05 23:59:59.999999"))
    assert not schedule.is_open(utc("2026-01-06 00:00"))
    assert not schedule.is_open(utc("2026-01-05 17:59:59"))


def test_whole_day() -> None:
    schedule = Schedule("UTC", {"monday": parse_ranges([["00:00", "24:00"]], "m")})
    assert schedule.is_open(utc("2026-01-05 00:00"))
    assert schedule.is_open(utc("2026-01-05 23:59:59.999999"))
    assert not schedule.is_open(utc("2026-01-06 00:00"))
    assert not schedule.is_open(utc("2026-01-04 23:59:59"))


def test_closed_exception_on_the_next_day_cuts_the_spill_over() -> None:
    schedule = Schedule(LATE.timezone, LATE.weekly, {dt.date(2026, 1, 3): DateException("closed")})
    assert schedule.is_open(utc("2026-01-02 23:00"))  # Friday itself is unaffected
    assert not schedule.is_open(utc("2026-01-03 01:00"))


def test_special_hours_on_the_next_day_keep_the_spill_over() -> None:
    # The 22:00-02:00 shift belongs to Friday; Saturday's special hours only add to it.
    special = DateException("special_hours", (r("10:00", "12:00"),))
    schedule = Schedule(LATE.timezone, LATE.weekly, {dt.date(2026, 1, 3): special})
    assert schedule.is_open(utc("2026-01-03 01:00"))
    assert not schedule.is_open(utc("2026-01-03 09:00"))
    assert schedule.is_open(utc("2026-01-03 11:00"))


def test_exception_on_the_start_day_replaces_its_crossing_range() -> None:
    closed = Schedule(LATE.timezone, LATE.weekly, {dt.date(2026, 1, 2): DateException("closed")})
    assert not closed.is_open(utc("2026-01-02 23:00"))
    assert not closed.is_open(utc("2026-01-03 01:00"))  # no Friday range, no spill-over
    special = DateException("special_hours", (r("23:00", "03:00"),))
    later = Schedule(LATE.timezone, LATE.weekly, {dt.date(2026, 1, 2): special})
    assert not later.is_open(utc("2026-01-02 22:30"))
    assert later.is_open(utc("2026-01-03 02:30"))  # the exception's own range crosses midnight
    assert not later.is_open(utc("2026-01-03 03:00"))


def test_special_hours_on_a_disabled_day_apply() -> None:
    # Reference §10: exception first, even on a weekday without hours.
    assert not OPBX.is_open(at("2025-01-11 10:00"))
    special = Schedule(
        OPBX.timezone,
        OPBX.weekly,
        {dt.date(2025, 1, 11): DateException("special_hours", (r("09:00", "12:00"),))},
    )
    assert special.is_open(at("2025-01-11 10:00"))


# --- DST --------------------------------------------------------------------------------------


def test_new_york_spring_forward() -> None:
    # 2026-03-08: 02:00 EST jumps to 03:00 EDT. 01:00-03:00 is open one real hour.
    schedule = Schedule("America/New_York", {"sunday": (r("01:00", "03:00"),)})
    assert not schedule.is_open(utc("2026-03-08 05:59:59"))  # 00:59:59 EST
    assert schedule.is_open(utc("2026-03-08 06:00"))  # 01:00 EST
    assert schedule.is_open(utc("2026-03-08 06:59:59"))  # 01:59:59 EST
    assert not schedule.is_open(utc("2026-03-08 07:00"))  # 03:00 EDT: end exclusive
    # 02:30 does not exist. fold=0 reads it with the offset before the change (EST), which is
    # the instant 07:30Z = 03:30 EDT: closed. fold=1 uses EDT: 06:30Z = 01:30 EST: open.
    assert not schedule.is_open(at("2026-03-08 02:30", fold=0))
    assert schedule.is_open(at("2026-03-08 02:30", fold=1))
    office = Schedule("America/New_York", {"sunday": WORKDAY})
    assert not office.is_open(utc("2026-03-08 12:59"))  # 08:59 EDT
    assert office.is_open(utc("2026-03-08 13:00"))  # 09:00 EDT (was 14:00Z the day before)
    assert office.is_open(utc("2026-03-01 14:00"))  # 09:00 EST a week earlier


def test_new_york_fall_back() -> None:
    # 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice, both times open.
    schedule = Schedule("America/New_York", {"sunday": (r("01:00", "02:00"),)})
    assert not schedule.is_open(utc("2026-11-01 04:59:59"))  # 00:59:59 EDT
    assert schedule.is_open(utc("2026-11-01 05:00"))  # 01:00 EDT
    assert schedule.is_open(utc("2026-11-01 05:30"))  # 01:30 EDT
    assert schedule.is_open(utc("2026-11-01 06:00"))  # 01:00 EST
    assert schedule.is_open(utc("2026-11-01 06:30"))  # 01:30 EST
    assert schedule.is_open(utc("2026-11-01 06:59:59"))  # 01:59:59 EST
    assert not schedule.is_open(utc("2026-11-01 07:00"))  # 02:00 EST
    first, second = at("2026-11-01 01:30", fold=0), at("2026-11-01 01:30", fold=1)
    assert second - first == dt.timedelta(0)  # same wall time (aware arithmetic is wall time)
    assert second.astimezone(UTC) - first.astimezone(UTC) == dt.timedelta(hours=1)
    assert schedule.is_open(first)
    assert schedule.is_open(second)


def test_london() -> None:
    office = Schedule("Europe/London", {"monday": WORKDAY})
    assert office.is_open(utc("2026-06-01 08:30"))  # 09:30 BST
    assert not office.is_open(utc("2026-06-01 16:30"))  # 17:30 BST
    assert office.is_open(utc("2026-01-05 16:30"))  # 16:30 GMT
    assert not office.is_open(utc("2026-01-05 08:30"))  # 08:30 GMT
    night = Schedule("Europe/London", {"sunday": (r("01:00", "02:00"),)})
    # 2026-03-29: 01:00 GMT becomes 02:00 BST, so 01:00-02:00 never happens that day.
    assert not night.is_open(utc("2026-03-29 00:59:59"))
    assert not night.is_open(utc("2026-03-29 01:00"))  # 02:00 BST
    # 2026-10-25: 02:00 BST falls back to 01:00 GMT, so 01:00-02:00 lasts two hours.
    assert night.is_open(utc("2026-10-25 00:00"))  # 01:00 BST
    assert night.is_open(utc("2026-10-25 01:59:59"))  # 01:59:59 GMT
    assert not night.is_open(utc("2026-10-25 02:00"))  # 02:00 GMT


def test_the_zone_at_is_written_in_does_not_matter() -> None:
    instant = utc("2025-01-06 14:30")
    for zone in (NEW_YORK, LONDON, ZoneInfo("Asia/Tokyo"), dt.timezone(dt.timedelta(hours=-11))):
        assert OPBX.is_open(instant.astimezone(zone))
    assert OPBX.local(instant.astimezone(ZoneInfo("Asia/Tokyo"))) == at("2025-01-06 09:30")


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime 2025-01-06T10:00:00"):
        OPBX.is_open(dt.datetime(2025, 1, 6, 10))
    with pytest.raises(ValueError, match="naive"):
        Window(OPBX).runnable(dt.datetime(2025, 1, 6, 10))
    inactive = Schedule("UTC", active=False)
    with pytest.raises(ValueError, match="naive"):  # refused even when the answer is known
        inactive.is_open(dt.datetime(2025, 1, 6, 10))


# --- construction -----------------------------------------------------------------------------


def test_schedule_validation() -> None:
    with pytest.raises(ValueError, match=r"Schedule\.timezone: unknown time zone 'Mars/Olympus'"):
        Schedule("Mars/Olympus")
    with pytest.raises(ValueError, match="'mon' is not a weekday name"):
        Schedule("UTC", {"mon": WORKDAY})
    with pytest.raises(TypeError, match="TimeRange objects"):
        Schedule("UTC", {"monday": (("09:00", "17:00"),)})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="keys must be dates"):
        Schedule("UTC", {}, {dt.datetime(2026, 1, 1): DateException("closed")})
    with pytest.raises(ValueError, match="closed exception has no hours"):
        DateException("closed", WORKDAY)
    with pytest.raises(ValueError, match="'holiday'"):
        DateException("holiday")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be naive"):
        TimeRange(dt.time(9, tzinfo=UTC), dt.time(17))
    with pytest.raises(TypeError, match=r"TimeRange.end must be a datetime.time"):
        TimeRange(dt.time(9), "17:00")  # type: ignore[arg-type]


def test_schedule_is_frozen_and_its_mappings_read_only() -> None:
    weekly = {"monday": [r("09:00", "17:00")]}
    schedule = Schedule("UTC", weekly)
    weekly["monday"].append(r("18:00", "19:00"))  # the caller's list is copied
    assert schedule.weekly["monday"] == WORKDAY
    with pytest.raises(TypeError):
        schedule.weekly["tuesday"] = WORKDAY  # type: ignore[index]
    assert schedule.zone is ZoneInfo("UTC")
    assert str(r("22:00", "00:00")) == "22:00-24:00"
    assert str(r("09:00:30", "17:00")) == "09:00:30-17:00"


@pytest.mark.parametrize("name", ["Europe/London", "America/New_York", "UTC", "Asia/Kolkata"])
def test_check_timezone_accepts(name: str) -> None:
    assert check_timezone(name) is None


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Mars/Olympus", "unknown time zone 'Mars/Olympus'; use an IANA name"),
        ("europe/london", "did you mean 'Europe/London'?"),
        ("localtime", "is the machine's local time"),
        ("", "unknown time zone ''"),
        ("../../etc/passwd", "unknown time zone"),
        ("America", "unknown time zone 'America'"),
        (5, "got int"),
        (None, "got NoneType"),
    ],
)
def test_check_timezone_refuses(name: object, problem: str) -> None:
    found = check_timezone(name)
    assert found is not None
    assert problem in found


# --- parse_ranges -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([["09:00", "17:00"]], (r("09:00", "17:00"),)),
        ((("09:00", "12:00"), ("13:00", "17:00")), (r("09:00", "12:00"), r("13:00", "17:00"))),
        (["09:00-17:00", "18:00 - 19:30"], (r("09:00", "17:00"), r("18:00", "19:30"))),
        ([["9:00", "17:00:30"]], (r("09:00", "17:00:30"),)),
        ([["22:00", "02:00"]], (r("22:00", "02:00"),)),
        (["18:00-24:00"], (r("18:00", "00:00"),)),
        (["00:00-24:00:00"], (r("00:00", "00:00"),)),
        ([{"start": "09:00", "end": "17:00"}], (r("09:00", "17:00"),)),
        ([{"start_time": "09:00:00", "end_time": "17:00:00"}], (r("09:00", "17:00"),)),
        ([[dt.time(9), dt.time(17)]], (r("09:00", "17:00"),)),
        ([r("09:00", "17:00")], (r("09:00", "17:00"),)),
        ([], ()),
        ({"enabled": True, "time_ranges": [{"start_time": "09:00", "end_time": "17:00"}]},
         (r("09:00", "17:00"),)),
        ({"enabled": False, "time_ranges": [["09:00", "17:00"]]}, ()),
        ({"time_ranges": ["09:00-10:00"]}, (r("09:00", "10:00"),)),
    ],
)  # fmt: skip
def test_parse_ranges_accepts(value: object, expected: tuple[TimeRange, ...]) -> None:
    assert parse_ranges(value, "x") == expected


P = "business_hours.main.schedule.monday"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([["09:00", "12:00"], ["13:00", "25:00"]], f"{P}[1]: 25:00 is not a time"),
        (["09:00-17:00", "13:00-25:00"], f"{P}[1]: 25:00 is not a time"),
        ([["12:60", "13:00"]], f"{P}[0]: 12:60 is not a time"),
        ([["9am", "5pm"]], f"{P}[0]: 9am is not a time"),
        ([["", "17:00"]], f"{P}[0]:  is not a time"),
        ([["09:00", 1020]], f"{P}[0]: 1020 is a number, not a time; quote times: '17:00'"),
        ([["09:00", None]], f"{P}[0]: nothing is not a time"),
        ([["24:00", "02:00"]], f"{P}[0]: 24:00 is only an end time"),
        ([["09:00", "09:00"]], f"{P}[0]: 09:00-09:00 has no length"),
        ([["00:00", "00:00"]], f"{P}[0]: 00:00-00:00 has no length; 00:00-24:00 is the whole"),
        ([["09:00", "12:00", "17:00"]], f"{P}[0]: must be a range such as"),
        ([["09:00"]], f"{P}[0]: must be a range such as"),
        (["09:00-12:00-17:00"], f"{P}[0]: '09:00-12:00-17:00' is not a range"),
        (["09:00"], f"{P}[0]: '09:00' is not a range"),
        ([{"start": "09:00"}], f"{P}[0]: a range needs exactly the keys start and end"),
        ([{"from": "09:00", "to": "10:00"}], f"{P}[0]: a range needs exactly the keys"),
        ([[dt.time(9, tzinfo=UTC), "10:00"]], f"{P}[0]: 09:00:00+00:00 has a UTC offset"),
        ("09:00-17:00", f"{P}: must be a list of time ranges"),
        (None, f"{P}: must be a list of time ranges such as [['09:00', '17:00']] or "
               "['09:00-17:00'], got nothing"),
        ({"enabled": "yes"}, f"{P}.enabled: must be true or false"),
        ({"enabled": True, "ranges": []}, f"{P}: unknown key 'ranges'"),
        ({"time_ranges": ["25:00-26:00"]}, f"{P}.time_ranges[0]: 25:00 is not a time"),
    ],
)  # fmt: skip
def test_parse_ranges_refuses_with_the_path(value: object, message: str) -> None:
    with pytest.raises(TimeRangeError) as caught:
        parse_ranges(value, P)
    assert str(caught.value).startswith(message), str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, CxmlError)
    assert caught.value.code == "INVALID_TIME_RANGE"
    assert f"{caught.value.path}: {caught.value.problem}" == str(caught.value)


@given(st.lists(st.builds(TimeRange, st.times(), st.times()), max_size=4))
def test_parse_ranges_reads_what_time_range_prints(ranges: list[TimeRange]) -> None:
    ranges = [
        x.__class__(x.start.replace(microsecond=0), x.end.replace(microsecond=0)) for x in ranges
    ]
    if any(x.start == x.end and x.start != dt.time(0) for x in ranges):
        return  # no length: refused, tested above
    assert parse_ranges([str(x) for x in ranges], "p") == tuple(ranges)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.sampled_from(["09:00", "24:00", "17:00", "09:00-17:00", "enabled", "time_ranges"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["start", "end", "enabled", "time_ranges", "x"]), inner),
    max_leaves=10,
)  # fmt: skip


@given(JSONISH)
def test_parse_ranges_raises_only_time_range_error(value: object) -> None:
    try:
        parsed = parse_ranges(value, "p")
    except TimeRangeError as error:
        assert error.path.startswith("p")
    else:
        assert all(isinstance(x, TimeRange) for x in parsed)


# --- campaign windows -------------------------------------------------------------------------

LA = ZoneInfo("America/Los_Angeles")
WEEKDAY_HOURS = dict.fromkeys(WEEKDAYS[:5], WORKDAY)


def test_window_dates_are_inclusive_local_dates() -> None:
    window = Window(
        Schedule("America/Los_Angeles", WEEKDAY_HOURS), dt.date(2026, 3, 2), dt.date(2026, 3, 6)
    )
    assert not window.runnable(at("2026-02-27 10:00", LA))  # open Friday, before start_date
    assert not window.runnable(at("2026-03-02 08:59", LA))
    assert window.runnable(at("2026-03-02 09:00", LA))  # start_date itself
    assert window.runnable(at("2026-03-06 16:59", LA))  # end_date itself
    assert not window.runnable(at("2026-03-09 10:00", LA))  # open Monday, after end_date
    # 2026-03-07 01:00Z is still Friday 17:00 the 6th in Los Angeles: closed by the hours only.
    assert not window.runnable(utc("2026-03-07 01:00"))
    assert window.runnable(utc("2026-03-07 00:59"))  # Friday 16:59 PST, though Saturday in UTC


def test_open_ended_windows() -> None:
    def check(when: dt.datetime, **dates: dt.date) -> bool:
        schedule = Schedule("America/Los_Angeles", WEEKDAY_HOURS)
        return Window(schedule, **dates).runnable(when)

    assert check(at("2030-01-07 10:00", LA))
    assert check(at("2030-01-07 10:00", LA), start_date=dt.date(2026, 1, 1))
    assert not check(at("2020-01-06 10:00", LA), start_date=dt.date(2026, 1, 1))
    assert check(at("2020-01-06 10:00", LA), end_date=dt.date(2026, 1, 1))
    assert not check(at("2030-01-07 10:00", LA), end_date=dt.date(2026, 1, 1))
    assert not check(at("2030-01-05 10:00", LA))  # Saturday


def test_window_end_date_stops_a_crossing_range_at_midnight() -> None:
    schedule = Schedule("UTC", {"friday": (r("22:00", "02:00"),)})
    assert Window(schedule).runnable(utc("2026-01-03 01:00"))
    assert not Window(schedule, end_date=dt.date(2026, 1, 2)).runnable(utc("2026-01-03 01:00"))
    assert Window(schedule, end_date=dt.date(2026, 1, 2)).runnable(utc("2026-01-02 23:00"))


def test_window_validation() -> None:
    with pytest.raises(ValueError, match="end_date 2026-01-01 is before start_date 2026-02-01"):
        Window(OPBX, dt.date(2026, 2, 1), dt.date(2026, 1, 1))
    with pytest.raises(ValueError, match="unknown time zone"):
        Schedule("Nowhere/Town", {})


# --- property: is_open against a reference computed another way -------------------------------

ZONES = [
    "America/New_York", "Europe/London", "Australia/Sydney", "Asia/Kolkata", "UTC",
    "Pacific/Chatham", "America/St_Johns", "Australia/Lord_Howe",
]  # fmt: skip
#: DST changes in those zones (early-morning gaps and repeats), where mistakes would show.
DST_DAYS = [
    ("America/New_York", dt.date(2026, 3, 8)), ("America/New_York", dt.date(2026, 11, 1)),
    ("Europe/London", dt.date(2026, 3, 29)), ("Europe/London", dt.date(2026, 10, 25)),
    ("Australia/Sydney", dt.date(2026, 4, 5)), ("Australia/Sydney", dt.date(2026, 10, 4)),
    ("Pacific/Chatham", dt.date(2026, 4, 5)), ("Pacific/Chatham", dt.date(2026, 9, 27)),
    ("Australia/Lord_Howe", dt.date(2026, 10, 4)), ("America/St_Johns", dt.date(2026, 3, 8)),
]  # fmt: skip

range_times = st.builds(dt.time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
time_ranges = st.lists(st.builds(TimeRange, range_times, range_times), max_size=3).map(tuple)
date_exceptions = st.just(DateException("closed")) | time_ranges.map(
    lambda ranges: DateException("special_hours", ranges)
)
wall_times = st.builds(
    dt.time,
    st.sampled_from([0, 1, 2, 3]) | st.integers(0, 23),  # DST changes happen early
    st.sampled_from([0, 15, 30, 45]) | st.integers(0, 59),
    st.sampled_from([0, 59]) | st.integers(0, 59),
    st.sampled_from([0, 999_999]) | st.integers(0, 999_999),
)
instant_zones = st.sampled_from([ZoneInfo(name) for name in ZONES]) | st.builds(
    dt.timezone, st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timedelta(minutes=m))
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Schedule, dt.datetime]:
    zone_name, anchor = draw(
        st.sampled_from(DST_DAYS)
        | st.tuples(st.sampled_from(ZONES), st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)))
    )
    weekly = {day: draw(time_ranges) for day in draw(st.sets(st.sampled_from(WEEKDAYS)))}
    offsets = draw(st.sets(st.integers(-2, 2)))
    exceptions = {anchor + dt.timedelta(days=k): draw(date_exceptions) for k in offsets}
    active = draw(st.sampled_from([True, True, True, False]))
    schedule = Schedule(zone_name, weekly, exceptions, active)
    # A wall time near the anchor, often exactly on (or a microsecond before) the edge of a
    # range of that day or the day before, written in the schedule's zone or in another one.
    day = anchor + dt.timedelta(days=draw(st.integers(-2, 2)))
    edges = [x for d in (day, day - dt.timedelta(days=1)) for r in _ranges_on(schedule, d)
             for x in (r.start, r.end)]  # fmt: skip
    on_edge = bool(edges) and draw(st.integers(0, 2)) > 0  # two times in three
    clock = draw(st.sampled_from(edges) if on_edge else wall_times)
    nudge = draw(st.sampled_from([dt.timedelta(0), dt.timedelta(microseconds=-1)]))
    zone = schedule.zone if draw(st.integers(0, 2)) > 0 else draw(instant_zones)
    when = (dt.datetime.combine(day, clock) + nudge).replace(tzinfo=zone)
    return schedule, when.replace(fold=draw(st.sampled_from([0, 1])))


DAY_NAMES = {1: "monday", 2: "tuesday", 3: "wednesday", 4: "thursday", 5: "friday",
             6: "saturday", 7: "sunday"}  # fmt: skip


def _ranges_on(schedule: Schedule, day: dt.date) -> tuple[TimeRange, ...]:
    exception = schedule.exceptions.get(day)
    if exception is not None:
        return exception.ranges
    return schedule.weekly.get(DAY_NAMES[day.isoweekday()], ())


def reference_is_open(schedule: Schedule, when: dt.datetime) -> bool:
    """Membership in half-open intervals of naive local datetimes, built from both days."""
    if not schedule.active:
        return False
    zone = ZoneInfo(schedule.timezone)
    offset = when.utcoffset()
    assert offset is not None
    wall = zone.fromutc((when.replace(tzinfo=None) - offset).replace(tzinfo=zone))
    wall = wall.replace(tzinfo=None)
    closed_days = {d for d, e in schedule.exceptions.items() if e.type == "closed"}
    if wall.date() in closed_days:
        return False
    intervals: list[tuple[dt.datetime, dt.datetime]] = []
    for day in (wall.date() - dt.timedelta(days=1), wall.date()):
        for x in _ranges_on(schedule, day):
            finish_day = day + dt.timedelta(days=1) if x.end <= x.start else day
            intervals.append(
                (dt.datetime.combine(day, x.start), dt.datetime.combine(finish_day, x.end))
            )
    return any(begin <= wall < finish for begin, finish in intervals)


@given(cases())
def test_is_open_matches_the_reference(case: tuple[Schedule, dt.datetime]) -> None:
    schedule, when = case
    expected = reference_is_open(schedule, when)
    assert schedule.is_open(when) is expected
    assert schedule.is_open(when.astimezone(UTC)) is expected  # the instant decides, not the zone
