"""Business hours: is a tenant open at a given instant, and why (DESIGN.md, "call flow").

Theory of operation
-------------------
A schedule is evaluated on the *wall clock* of the tenant's time zone. An instant is first
converted to that zone (``zoneinfo``); its local date and local time of day then decide:

1. A local date listed in ``open_dates`` ignores rules 2 and 3 (the company works that day in
   spite of a public holiday or its own closed date); the weekly hours still apply to it.
2. A local date listed in ``closed_dates`` is closed all day.
3. A public holiday of ``country``/``subdivision`` (the ``holidays`` package) is closed all day.
4. Otherwise the instant is open when its local weekday and time fall in one of the weekly
   ranges (``"mon-fri 09:00-18:00"``), start included, end excluded.

An overnight range (``"fri 22:00-02:00"``) belongs to its first day and spills into the next
one until its end. Holidays and dates close *calendar days*: when Saturday is a holiday, the
Saturday 00:00-02:00 part of ``"fri 22:00-02:00"`` is closed, and when Friday is, the spill
into Saturday stays open.

Daylight saving time: the rules speak of wall-clock times, so an instant is open when the
clock on the office wall reads a time inside a range at that instant.
- In a gap (spring forward, Europe/Madrid 02:00 -> 03:00), a boundary that falls inside the
  missing hour takes effect at the jump itself: ``"sun 02:30-06:00"`` opens at 03:00 CEST.
- In an overlap (fall back, 03:00 CEST -> 02:00 CET), the repeated wall times match twice:
  ``"sun 01:00-02:30"`` is open 01:00-02:30 CEST, closed when the clock reads 02:30-03:00
  CEST, open again from the jump back to 02:00 CET until 02:30 CET.
- A range across the transition lasts one hour less (or more) of real time, as the staff's
  own working day does. :meth:`Schedule.next_change` reports the real instants, the jump
  itself included when it changes the state.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
# How far next_change() looks for a change past `after` (and past the last listed date).
_HORIZON = timedelta(days=400)
_WINDOW = timedelta(days=7)
# Offset changes are found by sampling the zone this often (tz transitions are months apart).
_OFFSET_SAMPLE = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class ScheduleRules:
    """What a schedule says, as the routing engine builds it from the tenant configuration."""

    timezone: str  # IANA name, e.g. "Europe/Madrid"
    hours: Sequence[str]  # "mon-fri 09:00-18:00", "mon,wed 08:00-12:00,16:00-19:00", ...
    country: str | None = None  # ISO 3166-1 alpha-2 for public holidays, e.g. "ES"
    subdivision: str | None = None  # the holidays package's code, e.g. "MD"
    closed_dates: Sequence[date | str] = ()  # "2026-12-24": closed all day
    open_dates: Sequence[date | str] = ()  # worked in spite of a holiday or closed date
    holiday_language: str | None = None  # holiday names' language; default: the country's


@dataclass(frozen=True, slots=True)
class ScheduleState:
    open: bool
    reason: str  # "open: mon-fri 09:00-18:00", "closed: outside hours", ...


@dataclass(frozen=True, slots=True)
class WeeklyRange:
    """One weekly range; ``end <= start`` means it runs overnight into the next day."""

    label: str  # as shown in reasons: "mon-fri 09:00-18:00"
    days: frozenset[int]  # 0 = Monday ... 6 = Sunday (date.weekday())
    start: int  # minutes after midnight, 0..1439
    end: int  # minutes after midnight, 1..1440

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def covers(self, weekday: int, minute: int) -> bool:
        if not self.overnight:
            return weekday in self.days and self.start <= minute < self.end
        if weekday in self.days and minute >= self.start:
            return True
        return (weekday - 1) % 7 in self.days and minute < self.end


def parse_hours(text: str) -> list[WeeklyRange]:
    """Parse ``"DAYS HH:MM-HH:MM[,HH:MM-HH:MM...]"``; ``ValueError`` says what is wrong."""
    match = re.search(r"\d", text)
    if match is None:
        raise ValueError(
            f"schedule hours {text!r}: no time range (expected e.g. 'mon-fri 09:00-18:00')"
        )
    days_text = "".join(text[: match.start()].split()).lower()
    if not days_text:
        raise ValueError(f"schedule hours {text!r}: no days before the time range")
    days = _parse_days(days_text, text)
    ranges = [part for part in re.split(r"[\s,]+", text[match.start() :].strip()) if part]
    return [_parse_range(days_text, days, part, text) for part in ranges]


def _parse_days(days_text: str, text: str) -> frozenset[int]:
    days: set[int] = set()
    for item in days_text.split(","):
        first, sep, last = item.partition("-")
        start = _day_index(first, text)
        stop = _day_index(last, text) if sep else start
        days.update((start + i) % 7 for i in range((stop - start) % 7 + 1))  # "fri-mon" wraps
    return frozenset(days)


def _day_index(name: str, text: str) -> int:
    if name not in DAY_NAMES:
        raise ValueError(
            f"schedule hours {text!r}: unknown day {name!r} (expected {', '.join(DAY_NAMES)})"
        )
    return DAY_NAMES.index(name)


def _parse_range(days_text: str, days: frozenset[int], part: str, text: str) -> WeeklyRange:
    first, sep, last = part.partition("-")
    if not sep:
        raise ValueError(f"schedule hours {text!r}: {part!r} is not a range like 09:00-18:00")
    start, end = _minute(first, text), _minute(last, text)
    if start == MINUTES_PER_DAY:
        raise ValueError(f"schedule hours {text!r}: a range cannot start at 24:00")
    if start == end:
        raise ValueError(f"schedule hours {text!r}: range {part!r} is empty")
    if end == 0:
        end = MINUTES_PER_DAY  # "22:00-00:00" ends at midnight, like "22:00-24:00"
    return WeeklyRange(f"{days_text} {_clock(start)}-{_clock(end)}", days, start, end)


def _minute(clock: str, text: str) -> int:
    match = _CLOCK.fullmatch(clock)
    if match is None:
        raise ValueError(f"schedule hours {text!r}: {clock!r} is not a time like 09:00")
    hour, minute = int(match[1]), int(match[2])
    if hour > 24 or minute > 59 or (hour == 24 and minute):
        raise ValueError(f"schedule hours {text!r}: {clock!r} is not a time of day (00:00-24:00)")
    return hour * 60 + minute


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_date(value: date | str, what: str) -> date:
    if isinstance(value, datetime):  # a date and time would never equal a local date
        raise ValueError(f"{what} {value.isoformat()} is a date and time, not a date")
    if isinstance(value, date):
        return value
    if _DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{what} {value!r} is not a date like 2026-12-24")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (expected an IANA name)") from None


def _holiday_calendar(rules: ScheduleRules) -> tuple[holidays.HolidayBase | None, str]:
    """The holidays of the rules' country/subdivision and their label ("ES-MD")."""
    if rules.country is None:
        if rules.subdivision is not None:
            raise ValueError(f"holiday subdivision {rules.subdivision!r} given without a country")
        return None, ""
    country = rules.country.strip().upper()
    if country not in holidays.list_supported_countries():
        raise ValueError(f"public holidays: Country {country} not available")
    probe = holidays.country_holidays(country)
    subdivision = rules.subdivision
    known = (*probe.subdivisions, *getattr(probe, "subdivisions_aliases", {}))
    if subdivision is not None and subdivision not in known:
        raise ValueError(
            f"public holidays: Entity `{country}` does not have subdivision {subdivision}"
        )
    language = rules.holiday_language or probe.default_language
    if rules.holiday_language and language not in probe.supported_languages:
        raise ValueError(
            f"public holidays: language {language!r} not available for {country} "
            f"(one of {', '.join(probe.supported_languages)})"
        )
    # An explicit language: the package would otherwise follow the process locale ($LANG).
    calendar = holidays.country_holidays(country, subdiv=rules.subdivision, language=language)
    label = f"{country}-{rules.subdivision}" if rules.subdivision else country
    return calendar, label


class Schedule:
    """Business hours of one tenant schedule; parsed once, then asked about instants."""

    def __init__(self, rules: ScheduleRules) -> None:
        self.rules = rules
        self.zone: tzinfo = _zone(rules.timezone)
        self.ranges: tuple[WeeklyRange, ...] = tuple(
            weekly for text in rules.hours for weekly in parse_hours(text)
        )
        self._closed_dates = frozenset(_parse_date(d, "closed date") for d in rules.closed_dates)
        self._open_dates = frozenset(_parse_date(d, "open date") for d in rules.open_dates)
        both = self._closed_dates & self._open_dates
        if both:
            listed = ", ".join(sorted(d.isoformat() for d in both))
            raise ValueError(f"dates both closed and open: {listed}")
        self._holidays, self._holiday_label = _holiday_calendar(rules)
        self._boundaries = sorted(
            {0} | {r.start for r in self.ranges} | {r.end % MINUTES_PER_DAY for r in self.ranges}
        )
        listed_dates = self._closed_dates | self._open_dates
        self._last_listed_date = max(listed_dates) if listed_dates else None

    def state_at(self, instant: datetime) -> ScheduleState:
        """Open or closed at ``instant`` (any aware datetime), with the reason why."""
        local = _aware(instant, "instant").astimezone(self.zone)
        day = local.date()
        day_closed = self._day_closure(day)
        if day_closed is not None and day not in self._open_dates:
            return ScheduleState(False, f"closed: {day_closed}")
        minute = local.hour * 60 + local.minute
        for weekly in self.ranges:
            if weekly.covers(day.weekday(), minute):
                note = f" ({day.isoformat()} is an open date)" if day_closed else ""
                return ScheduleState(True, f"open: {weekly.label}{note}")
        return ScheduleState(False, "closed: outside hours")

    def is_open(self, instant: datetime) -> bool:
        return self.state_at(instant).open

    def holiday_name(self, day: date) -> str | None:
        """The public holiday's name on ``day`` (local date), or None."""
        if self._holidays is None:
            return None
        name: str | None = self._holidays.get(day)
        return name

    def next_change(self, after: datetime) -> datetime | None:
        """The first instant later than ``after`` at which the schedule opens or closes.

        In the schedule's zone (``fold`` set in a repeated hour: per PEP 495 such a datetime
        never ``==`` one of another zone, so compare with ``.astimezone(UTC)``); None when
        nothing changes within about 13 months of ``after`` and of the last listed date (an
        always-open or never-open schedule).
        """
        start = _aware(after, "after").astimezone(UTC)
        opened = self.is_open(start)
        horizon = start + _HORIZON
        if self._last_listed_date is not None:
            last = datetime.combine(self._last_listed_date, time(), UTC) + timedelta(days=2)
            horizon = max(horizon, last + _HORIZON)
        window_start = start
        while window_start < horizon:
            window_end = window_start + _WINDOW
            for candidate in self._candidates(window_start, window_end):
                if candidate > start and self.is_open(candidate) != opened:
                    return candidate.astimezone(self.zone)
            window_start = window_end
        return None

    def _day_closure(self, day: date) -> str | None:
        if day in self._closed_dates:
            return f"{day.isoformat()} is a closed date"
        name = self.holiday_name(day)
        if name is not None:
            return f"public holiday {name} ({self._holiday_label})"
        return None

    def _candidates(self, lo: datetime, hi: datetime) -> list[datetime]:
        """Every instant in [lo, hi) where the state may change, sorted (a superset).

        The state depends on the wall clock only, so it can change where the wall clock reads a
        range boundary or midnight (both readings of a repeated hour), or where it jumps.
        """
        found = set(_offset_changes(self.zone, lo, hi))
        first = lo.astimezone(self.zone).date() - timedelta(days=1)
        last = hi.astimezone(self.zone).date() + timedelta(days=1)
        day = first
        while day <= last:
            for minute in self._boundaries:
                wall = datetime.combine(day, time(minute // 60, minute % 60), self.zone)
                for fold in (0, 1):
                    found.add(wall.replace(fold=fold).astimezone(UTC))
            day += timedelta(days=1)
        return sorted(c for c in found if lo <= c < hi)


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} {value.isoformat()} has no time zone; pass an aware datetime")
    return value


def _offset_changes(zone: tzinfo, lo: datetime, hi: datetime) -> Iterator[datetime]:
    """The instants in (lo, hi] where ``zone``'s UTC offset changes, to the second."""
    here = lo
    while here < hi:
        there = min(here + _OFFSET_SAMPLE, hi)
        if here.astimezone(zone).utcoffset() != there.astimezone(zone).utcoffset():
            yield _bisect_offset_change(zone, here, there)
        here = there


def _bisect_offset_change(zone: tzinfo, lo: datetime, hi: datetime) -> datetime:
    """The first whole second in (lo, hi] with ``hi``'s offset (tzdata changes on seconds)."""
    target = hi.astimezone(zone).utcoffset()
    low = int(lo.timestamp())
    high = int(hi.timestamp())
    if high < hi.timestamp():
        high += 1
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == target:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)
