"""Schedule evaluation: weekly hours, holidays, tenant dates, DST, against a brute-force model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from centralita.routing.schedule import (
    Schedule,
    ScheduleRules,
    ScheduleState,
    WeeklyRange,
    parse_hours,
)

MADRID = ZoneInfo("Europe/Madrid")
MEXICO = ZoneInfo("America/Mexico_City")
MOSCOW = ZoneInfo("Europe/Moscow")


def office(**overrides: object) -> Schedule:
    fields: dict[str, object] = {
        "timezone": "Europe/Madrid",
        "hours": ["mon-fri 09:00-18:00", "sat 10:00-14:00"],
        "country": "ES",
        "subdivision": "MD",
        "closed_dates": ["2026-12-24"],
    }
    fields.update(overrides)
    return Schedule(ScheduleRules(**fields))  # type: ignore[arg-type]


def at(zone: ZoneInfo, text: str, fold: int = 0) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone, fold=fold)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- parsing -------------------------------------------------------------------------------


def test_parse_day_range_and_label() -> None:
    assert parse_hours("mon-fri 09:00-18:00") == [
        WeeklyRange("mon-fri 09:00-18:00", frozenset({0, 1, 2, 3, 4}), 540, 1080)
    ]


def test_parse_day_list_several_ranges_case_and_spacing() -> None:
    ranges = parse_hours("  Mon, WED,fri  08:00-12:00, 16:30-19:00 ")
    assert [(r.label, sorted(r.days), r.start, r.end) for r in ranges] == [
        ("mon,wed,fri 08:00-12:00", [0, 2, 4], 480, 720),
        ("mon,wed,fri 16:30-19:00", [0, 2, 4], 990, 1140),
    ]


def test_parse_wrapping_day_range_and_mixed_list() -> None:
    assert parse_hours("fri-mon 10:00-11:00")[0].days == frozenset({4, 5, 6, 0})
    assert parse_hours("mon-tue,sat 10:00-11:00")[0].days == frozenset({0, 1, 5})


def test_parse_whole_day_overnight_and_midnight_end() -> None:
    (whole,) = parse_hours("sun 00:00-24:00")
    assert (whole.start, whole.end, whole.overnight) == (0, 1440, False)
    (night,) = parse_hours("fri 22:00-02:00")
    assert (night.start, night.end, night.overnight) == (1320, 120, True)
    (late,) = parse_hours("sat 22:00-00:00")
    assert (late.label, late.end, late.overnight) == ("sat 22:00-24:00", 1440, False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mon-fro 09:00-18:00", "unknown day 'fro'"),
        ("monday 09:00-18:00", "unknown day 'monday'"),
        ("mon-fri", "no time range"),
        ("09:00-18:00", "no days before the time range"),
        ("mon 9-18", "'9' is not a time like 09:00"),
        ("mon 09:00", "'09:00' is not a range like 09:00-18:00"),
        ("mon 09.00-18.00", "'09.00' is not a time like 09:00"),
        ("mon 25:00-26:00", "'25:00' is not a time of day"),
        ("mon 09:60-10:00", "'09:60' is not a time of day"),
        ("mon 24:30-02:00", "'24:30' is not a time of day"),
        ("mon 24:00-02:00", "cannot start at 24:00"),
        ("mon 09:00-09:00", "range '09:00-09:00' is empty"),
        ("mon 00:00-00:00", "is empty"),
    ],
)
def test_parse_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="schedule hours") as caught:
        parse_hours(text)
    assert message in str(caught.value)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"timezone": "Europe/Madird"}, "unknown time zone 'Europe/Madird'"),
        ({"timezone": "../etc/passwd"}, "unknown time zone"),
        ({"hours": ["mon-fri 09:00-18:00", "sat 10-14"]}, "'10' is not a time like 09:00"),
        ({"closed_dates": ["2026-13-01"]}, "closed date '2026-13-01' is not a date"),
        ({"closed_dates": ["24/12/2026"]}, "closed date '24/12/2026' is not a date"),
        ({"open_dates": ["2026-W52-4"]}, "open date '2026-W52-4' is not a date"),
        ({"open_dates": ["2026-12-24"]}, "dates both closed and open: 2026-12-24"),
        ({"closed_dates": [datetime(2026, 12, 24, 9)]}, "is a date and time, not a date"),
        ({"country": None}, "subdivision 'MD' given without a country"),
        ({"country": "ZZ", "subdivision": None}, "public holidays: Country ZZ not available"),
        ({"subdivision": "XX"}, "does not have subdivision XX"),
        ({"holiday_language": "de"}, "language 'de' not available for ES"),
    ],
)
def test_invalid_rules_are_refused_when_built(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        office(**overrides)
    assert message in str(caught.value)


# --- weekly hours --------------------------------------------------------------------------


def test_open_in_hours_with_the_range_as_reason() -> None:
    schedule = office()
    assert schedule.state_at(at(MADRID, "2026-11-18 10:00")) == ScheduleState(
        True, "open: mon-fri 09:00-18:00"
    )
    assert schedule.state_at(at(MADRID, "2026-11-18 09:00")).open
    assert schedule.state_at(at(MADRID, "2026-11-18 17:59:59.999999")).open


def test_closed_outside_hours_start_included_end_excluded() -> None:
    schedule = office()
    outside = ScheduleState(False, "closed: outside hours")
    assert schedule.state_at(at(MADRID, "2026-11-18 08:59:59")) == outside
    assert schedule.state_at(at(MADRID, "2026-11-18 18:00")) == outside
    assert schedule.state_at(at(MADRID, "2026-11-18 03:00")) == outside


def test_saturday_and_sunday() -> None:
    schedule = office(hours=["mon-fri 09:00-18:00", "sat 10:00-14:00"])
    assert schedule.state_at(at(MADRID, "2026-11-21 09:30")).open is False
    assert schedule.state_at(at(MADRID, "2026-11-21 10:00")) == ScheduleState(
        True, "open: sat 10:00-14:00"
    )
    assert schedule.state_at(at(MADRID, "2026-11-21 14:00")).open is False
    assert schedule.state_at(at(MADRID, "2026-11-22 12:00")).open is False
    sunday = office(hours=["sun 00:00-24:00"])
    assert sunday.state_at(at(MADRID, "2026-11-22 00:00")).open
    assert sunday.state_at(at(MADRID, "2026-11-22 23:59:59")).open
    assert sunday.state_at(at(MADRID, "2026-11-23 00:00")).open is False


def test_instants_in_other_zones_are_converted() -> None:
    schedule = office()
    # 08:30 UTC is 09:30 in Madrid in winter (CET, +01:00): open; 07:30 UTC is 08:30: closed.
    assert schedule.is_open(utc("2026-11-18 08:30"))
    assert not schedule.is_open(utc("2026-11-18 07:30"))
    # 03:30 in Mexico City (-06:00) is 10:30 in Madrid; 12:00 in Moscow (+03:00) is 10:00.
    assert schedule.is_open(at(MEXICO, "2026-11-18 03:30"))
    assert schedule.is_open(at(MOSCOW, "2026-11-18 12:00"))
    assert not schedule.is_open(at(MOSCOW, "2026-11-18 20:30"))  # 18:30 in Madrid


def test_naive_datetimes_are_refused() -> None:
    schedule = office()
    with pytest.raises(ValueError, match="no time zone"):
        schedule.state_at(datetime(2026, 11, 18, 10, 0))
    with pytest.raises(ValueError, match="no time zone"):
        schedule.next_change(datetime(2026, 11, 18, 10, 0))


def test_overnight_range_runs_into_the_next_day() -> None:
    schedule = office(hours=["fri 22:00-02:00"], country=None, subdivision=None)
    assert not schedule.is_open(at(MADRID, "2026-11-20 21:59"))  # Friday
    assert schedule.state_at(at(MADRID, "2026-11-20 22:00")) == ScheduleState(
        True, "open: fri 22:00-02:00"
    )
    assert schedule.is_open(at(MADRID, "2026-11-21 01:59:59"))  # Saturday
    assert not schedule.is_open(at(MADRID, "2026-11-21 02:00"))
    assert not schedule.is_open(at(MADRID, "2026-11-21 22:30"))  # Saturday night
    assert not schedule.is_open(at(MADRID, "2026-11-20 01:00"))  # Friday early: Thursday's


def test_overnight_range_from_sunday_wraps_into_monday() -> None:
    schedule = office(hours=["sun 23:00-01:30"], country=None, subdivision=None)
    assert schedule.is_open(at(MADRID, "2026-11-23 01:00"))  # Monday
    assert not schedule.is_open(at(MADRID, "2026-11-24 01:00"))  # Tuesday


# --- holidays and tenant dates -------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "name"),
    [
        ("2026-01-01", "Año Nuevo"),
        ("2026-12-25", "Natividad del Señor"),
        ("2025-05-02", "Fiesta de la Comunidad de Madrid"),
    ],
)
def test_public_holidays_close_the_whole_day(day: str, name: str) -> None:
    schedule = office(hours=["mon-sun 00:00-24:00"])
    closed = ScheduleState(False, f"closed: public holiday {name} (ES-MD)")
    assert schedule.state_at(at(MADRID, f"{day} 00:00")) == closed
    assert schedule.state_at(at(MADRID, f"{day} 12:00")) == closed
    assert schedule.state_at(at(MADRID, f"{day} 23:59:59")) == closed
    following = date.fromisoformat(day) + timedelta(days=1)
    assert schedule.is_open(at(MADRID, f"{following} 00:00"))


def test_regional_holidays_depend_on_the_subdivision() -> None:
    madrid = office(subdivision="MD")
    catalonia = office(timezone="Europe/Madrid", subdivision="CT")
    # 2 May 2025 (a Friday) is the Community of Madrid's day; Catalonia works.
    assert not madrid.is_open(at(MADRID, "2025-05-02 10:00"))
    assert catalonia.state_at(at(MADRID, "2025-05-02 10:00")).open
    # 24 June 2026 (a Wednesday), Sant Joan, is the other way round.
    assert madrid.is_open(at(MADRID, "2026-06-24 10:00"))
    assert catalonia.state_at(at(MADRID, "2026-06-24 10:00")) == ScheduleState(
        False, "closed: public holiday San Juan (ES-CT)"
    )
    # 15 May (San Isidro) is a holiday of Madrid city, not of the region.
    assert madrid.is_open(at(MADRID, "2026-05-15 10:00"))


def test_country_without_subdivision_and_national_only() -> None:
    national = office(subdivision=None)
    assert not national.is_open(at(MADRID, "2026-12-08 10:00"))
    assert national.is_open(at(MADRID, "2025-05-02 10:00"))
    assert national.state_at(at(MADRID, "2026-12-25 10:00")).reason.endswith("(ES)")


def test_holiday_names_follow_the_country_or_the_chosen_language() -> None:
    russia = Schedule(ScheduleRules("Europe/Moscow", ["mon-fri 09:00-18:00"], country="RU"))
    assert russia.state_at(at(MOSCOW, "2026-06-12 10:00")) == ScheduleState(
        False, "closed: public holiday День России (RU)"
    )
    english = office(holiday_language="en_US")
    assert english.state_at(at(MADRID, "2026-12-25 10:00")).reason == (
        "closed: public holiday Christmas Day (ES-MD)"
    )


def test_no_country_means_no_public_holidays() -> None:
    schedule = office(country=None, subdivision=None)
    assert schedule.is_open(at(MADRID, "2026-12-25 10:00"))
    assert schedule.holiday_name(date(2026, 12, 25)) is None


def test_tenant_closed_dates() -> None:
    schedule = office(closed_dates=["2026-12-24", date(2026, 12, 31)])
    assert schedule.state_at(at(MADRID, "2026-12-24 10:00")) == ScheduleState(
        False, "closed: 2026-12-24 is a closed date"
    )
    assert not schedule.is_open(at(MADRID, "2026-12-31 10:00"))
    assert schedule.is_open(at(MADRID, "2026-12-23 10:00"))


def test_open_dates_override_holidays_and_closed_dates_but_keep_hours() -> None:
    schedule = office(closed_dates=["2026-12-24"], open_dates=["2025-05-02", "2026-11-02"])
    assert schedule.state_at(at(MADRID, "2025-05-02 10:00")) == ScheduleState(
        True, "open: mon-fri 09:00-18:00 (2025-05-02 is an open date)"
    )
    assert schedule.state_at(at(MADRID, "2025-05-02 19:00")).reason == "closed: outside hours"
    assert schedule.is_open(at(MADRID, "2026-11-02 09:00"))
    # An open date that is an ordinary working day changes nothing and adds no note.
    plain = office(open_dates=["2026-11-18"])
    assert plain.state_at(at(MADRID, "2026-11-18 10:00")).reason == "open: mon-fri 09:00-18:00"


def test_holidays_close_calendar_days_of_overnight_ranges() -> None:
    # Sat 2 May 2026 is a Madrid holiday: Friday's night range stops at midnight.
    schedule = office(hours=["fri 22:00-02:00"])
    assert schedule.is_open(at(MADRID, "2026-05-01 23:00")) is False  # Fri 1 May: holiday too
    assert schedule.state_at(at(MADRID, "2026-05-02 01:00")).reason.startswith(
        "closed: public holiday"
    )
    # Fri 3 Apr 2026 (Good Friday) is closed, but its spill into Saturday stays open.
    assert not schedule.is_open(at(MADRID, "2026-04-03 23:00"))
    assert schedule.is_open(at(MADRID, "2026-04-04 01:00"))


# --- daylight saving time ------------------------------------------------------------------


def test_madrid_spring_forward_boundary_in_the_gap_takes_effect_at_the_jump() -> None:
    # 29 Mar 2026: 02:00 CET becomes 03:00 CEST at 01:00 UTC.
    schedule = office(hours=["sun 02:30-06:00"], country=None, subdivision=None)
    assert not schedule.is_open(utc("2026-03-29 00:59:59"))  # 01:59:59 CET
    assert schedule.is_open(utc("2026-03-29 01:00"))  # 03:00 CEST
    opens = schedule.next_change(utc("2026-03-29 00:00"))
    assert opens == utc("2026-03-29 01:00")
    assert opens is not None and opens.utcoffset() == timedelta(hours=2)
    assert schedule.next_change(opens) == at(MADRID, "2026-03-29 06:00")


def test_madrid_fall_back_repeated_hour_matches_twice() -> None:
    # 25 Oct 2026: 03:00 CEST becomes 02:00 CET at 01:00 UTC; 02:00-03:00 happens twice.
    schedule = office(hours=["sun 01:00-02:30"], country=None, subdivision=None)
    assert schedule.is_open(at(MADRID, "2026-10-25 02:15", fold=0))
    assert not schedule.is_open(at(MADRID, "2026-10-25 02:45", fold=0))
    assert schedule.is_open(at(MADRID, "2026-10-25 02:15", fold=1))
    assert not schedule.is_open(at(MADRID, "2026-10-25 02:45", fold=1))
    changes = []
    instant = utc("2026-10-24 23:00")  # 01:00 CEST, open
    for _ in range(3):
        change = schedule.next_change(instant)
        assert change is not None
        changes.append(change.astimezone(UTC))
        instant = change
    assert changes == [utc("2026-10-25 00:30"), utc("2026-10-25 01:00"), utc("2026-10-25 01:30")]


def test_madrid_office_hours_follow_the_wall_clock_across_dst() -> None:
    schedule = office()
    assert not schedule.is_open(utc("2026-03-30 06:59"))  # Monday 08:59 CEST
    assert schedule.is_open(utc("2026-03-30 07:00"))
    assert schedule.is_open(utc("2026-03-27 08:00"))  # Friday before: 09:00 CET
    opens = schedule.next_change(at(MADRID, "2026-03-28 14:00"))  # Saturday closing time
    assert opens == at(MADRID, "2026-03-30 09:00")
    assert opens is not None and opens.tzinfo == MADRID


def test_mexico_city_without_dst_since_2022() -> None:
    schedule = office(
        timezone="America/Mexico_City",
        hours=["mon-fri 09:00-18:00"],
        country="MX",
        subdivision=None,
    )
    assert schedule.is_open(utc("2026-07-01 15:00"))  # 09:00 CST (-06:00), no summer time
    assert not schedule.is_open(utc("2026-07-01 14:59"))
    assert schedule.is_open(utc("2022-07-01 14:00"))  # 09:00 CDT (-05:00) in 2022
    # Fall back on Sun 30 Oct 2022: the weekend is one hour longer in real time.
    closes = at(MEXICO, "2022-10-28 18:00")
    opens = schedule.next_change(closes)
    assert opens == at(MEXICO, "2022-10-31 09:00")
    # (Same-zone subtraction is wall-clock arithmetic in Python: subtract in UTC.)
    assert opens is not None and opens.astimezone(UTC) - closes.astimezone(UTC) == timedelta(
        hours=64
    )
    assert opens.utcoffset() == timedelta(hours=-6)


def test_mexico_city_spring_forward_2022() -> None:
    # 3 Apr 2022: 02:00 CST became 03:00 CDT; a range inside the gap never opens.
    schedule = office(
        timezone="America/Mexico_City", hours=["sun 02:00-02:30"], country=None, subdivision=None
    )
    assert not schedule.is_open(at(MEXICO, "2022-04-03 03:00"))
    assert schedule.next_change(at(MEXICO, "2022-04-03 00:00")) == at(MEXICO, "2022-04-10 02:00")


def test_moscow_2014_clock_change_repeats_an_hour() -> None:
    # 26 Oct 2014 02:00 MSK (+04:00) became 01:00 MSK (+03:00) for good.
    schedule = office(
        timezone="Europe/Moscow", hours=["sun 01:30-01:45"], country=None, subdivision=None
    )
    assert schedule.is_open(utc("2014-10-25 21:35"))  # 01:35 +04:00
    assert not schedule.is_open(utc("2014-10-25 21:50"))
    assert schedule.is_open(utc("2014-10-25 22:35"))  # 01:35 +03:00
    change = schedule.next_change(utc("2014-10-25 21:50"))
    assert change is not None and (change.hour, change.minute, change.fold) == (1, 30, 1)
    # PEP 495: a time in a repeated hour never equals one of another zone; compare in UTC.
    assert change.astimezone(UTC) == utc("2014-10-25 22:30")


def test_moscow_2011_spring_forward_and_no_dst_now() -> None:
    schedule = office(
        timezone="Europe/Moscow", hours=["mon-fri 09:00-18:00"], country="RU", subdivision=None
    )
    # 27 Mar 2011, 02:00 -> 03:00; the Monday after opens at 09:00 +04:00.
    assert schedule.next_change(at(MOSCOW, "2011-03-25 18:00")) == utc("2011-03-28 05:00")
    # Today +03:00 all year: 09:00 local is 06:00 UTC in winter and in summer.
    assert schedule.is_open(utc("2026-01-20 06:00"))
    assert schedule.is_open(utc("2026-07-20 06:00"))
    assert not schedule.is_open(utc("2026-07-20 05:59"))


# --- next_change ---------------------------------------------------------------------------


def test_next_change_opening_and_closing() -> None:
    schedule = office()
    assert schedule.next_change(at(MADRID, "2026-11-18 07:00")) == at(MADRID, "2026-11-18 09:00")
    assert schedule.next_change(at(MADRID, "2026-11-18 10:00")) == at(MADRID, "2026-11-18 18:00")
    # Exactly at a boundary the change is the next one, strictly later.
    assert schedule.next_change(at(MADRID, "2026-11-18 09:00")) == at(MADRID, "2026-11-18 18:00")
    # Friday evening: Saturday's short hours.
    assert schedule.next_change(at(MADRID, "2026-11-20 18:00")) == at(MADRID, "2026-11-21 10:00")


def test_next_change_skips_holidays_and_closed_dates() -> None:
    schedule = office(closed_dates=["2026-12-24"])
    # Wed 23 Dec evening: 24 closed date, 25 holiday, Sat 26 opens at 10:00.
    assert schedule.next_change(at(MADRID, "2026-12-23 18:00")) == at(MADRID, "2026-12-26 10:00")
    # Epiphany (Wed 6 Jan 2027) after New Year.
    assert schedule.next_change(at(MADRID, "2027-01-05 17:00")) == at(MADRID, "2027-01-05 18:00")
    assert schedule.next_change(at(MADRID, "2027-01-05 18:00")) == at(MADRID, "2027-01-07 09:00")


def test_next_change_of_an_always_open_schedule() -> None:
    always = office(hours=["mon-sun 00:00-24:00"], country=None, subdivision=None, closed_dates=[])
    assert always.next_change(at(MADRID, "2026-11-18 10:00")) is None
    never = office(hours=[], country=None, subdivision=None, closed_dates=[])
    assert not never.is_open(at(MADRID, "2026-11-18 10:00"))
    assert never.next_change(at(MADRID, "2026-11-18 10:00")) is None
    with_holidays = office(hours=["mon-sun 00:00-24:00"], closed_dates=[])
    assert with_holidays.next_change(at(MADRID, "2026-11-18 10:00")) == at(
        MADRID, "2026-12-07 00:00"
    )
    assert with_holidays.next_change(at(MADRID, "2026-12-07 00:00")) == at(
        MADRID, "2026-12-09 00:00"
    )


def test_next_change_reaches_a_closed_date_years_ahead() -> None:
    schedule = office(
        hours=["mon-sun 00:00-24:00"], country=None, subdivision=None, closed_dates=["2029-06-01"]
    )
    assert schedule.next_change(at(MADRID, "2026-11-18 10:00")) == at(MADRID, "2029-06-01 00:00")


# --- against a brute-force minute model ----------------------------------------------------

ZONES = {
    "Europe/Madrid": ["2026-03-29 01:00", "2026-10-25 01:00", "2025-12-24 23:00"],
    "America/Mexico_City": ["2022-04-03 08:00", "2022-10-30 07:00", "2026-01-01 06:00"],
    "Europe/Moscow": ["2011-03-26 23:00", "2014-10-25 22:00", "2026-06-11 21:00"],
    "America/Havana": ["2026-03-08 05:00", "2026-11-01 05:00"],  # Cuba changes at midnight
    "Australia/Lord_Howe": ["2026-04-04 15:00", "2026-10-03 15:30"],  # 30-minute DST
}
CALENDARS = [None, ("ES", "MD"), ("ES", "CT"), ("MX", None), ("RU", None)]
NEAR_DST = [0, 30, 60, 90, 120, 150, 180, 210, 1410, 1440]


@dataclass(frozen=True)
class Rule:
    days: frozenset[int]
    text_days: str
    start: int
    end: int

    def text(self) -> str:
        return f"{self.text_days} {self.start // 60:02d}:{self.start % 60:02d}-" + (
            f"{self.end // 60:02d}:{self.end % 60:02d}"
        )


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    if draw(st.booleans()):
        first, last = draw(st.integers(0, 6)), draw(st.integers(0, 6))
        days = frozenset((first + i) % 7 for i in range((last - first) % 7 + 1))
        text_days = f"{names[first]}-{names[last]}"
    else:
        chosen = draw(st.sets(st.integers(0, 6), min_size=1))
        days = frozenset(chosen)
        text_days = ",".join(names[d] for d in sorted(chosen))
    minute = st.one_of(st.sampled_from(NEAR_DST), st.integers(0, 1440))
    start = draw(minute.filter(lambda m: m < 1440))
    end = draw(minute.filter(lambda m: m != start and not (start == 0 and m == 0)))
    return Rule(days, text_days, start, end)


@dataclass
class Case:
    zone: str
    rules: list[Rule]
    calendar: tuple[str, str | None] | None
    closed: set[date]
    opened: set[date]
    instant: datetime


@st.composite
def cases(draw: st.DrawFn) -> Case:
    zone = draw(st.sampled_from(sorted(ZONES)))
    anchors = [utc(a) for a in ZONES[zone]]
    anchor = draw(st.sampled_from(anchors))
    instant = anchor + timedelta(seconds=draw(st.integers(-3 * 86400, 3 * 86400)))
    if draw(st.booleans()):
        instant = draw(st.datetimes(datetime(2010, 1, 1), datetime(2030, 12, 31))).replace(
            tzinfo=UTC
        )
    local_day = instant.astimezone(ZoneInfo(zone)).date()
    nearby = st.integers(-2, 3).map(lambda n: local_day + timedelta(days=n))
    closed = draw(st.sets(nearby, max_size=2))
    opened = draw(st.sets(nearby, max_size=2)) - closed
    calendar = draw(st.sampled_from(CALENDARS))
    return Case(zone, draw(st.lists(rules(), max_size=4)), calendar, closed, opened, instant)


class MinuteModel:
    """The rules spelled out minute by minute over a week, plus a set of closed days."""

    def __init__(self, case: Case) -> None:
        self.zone = ZoneInfo(case.zone)
        self.week = [[False] * 1440 for _ in range(7)]
        for rule in case.rules:
            end = 1440 if rule.end == 0 else rule.end
            for day in rule.days:
                if end > rule.start:
                    self.week[day][rule.start : end] = [True] * (end - rule.start)
                else:
                    self.week[day][rule.start :] = [True] * (1440 - rule.start)
                    self.week[(day + 1) % 7][:end] = [True] * end
        self.holidays = (
            holidays.country_holidays(case.calendar[0], subdiv=case.calendar[1])
            if case.calendar
            else {}
        )
        self.closed, self.opened = case.closed, case.opened

    def is_open(self, instant: datetime) -> bool:
        local = instant.astimezone(self.zone)
        day = local.date()
        if (day in self.closed or day in self.holidays) and day not in self.opened:
            return False
        return self.week[day.weekday()][local.hour * 60 + local.minute]


def build(case: Case) -> Schedule:
    country, subdivision = case.calendar or (None, None)
    return Schedule(
        ScheduleRules(
            timezone=case.zone,
            hours=[r.text() for r in case.rules],
            country=country,
            subdivision=subdivision,
            closed_dates=sorted(case.closed),
            open_dates=[d.isoformat() for d in sorted(case.opened)],
        )
    )


@settings(max_examples=300, deadline=None)
@given(cases())
def test_state_at_agrees_with_the_minute_model(case: Case) -> None:
    schedule, model = build(case), MinuteModel(case)
    for probe in (case.instant, case.instant.astimezone(ZoneInfo(case.zone))):
        state = schedule.state_at(probe)
        assert state.open == model.is_open(probe)
        assert state.reason.startswith("open: " if state.open else "closed: ")


@settings(max_examples=60, deadline=None)
@given(cases())
def test_next_change_agrees_with_a_minute_by_minute_scan(case: Case) -> None:
    schedule, model = build(case), MinuteModel(case)
    now = case.instant
    state = model.is_open(now)
    minute = now.replace(second=0, microsecond=0)
    expected = None
    for step in range(1, 8 * 1440):
        probe = minute + timedelta(minutes=step)
        if model.is_open(probe) != state:
            expected = probe
            break
    change = schedule.next_change(now)
    if expected is not None:
        assert change is not None and change.astimezone(UTC) == expected
        assert change.tzinfo is ZoneInfo(case.zone)
        assert change.utcoffset() == expected.astimezone(ZoneInfo(case.zone)).utcoffset()
    else:
        assert change is None or change >= minute + timedelta(days=8)
