"""The official Chinese working-day calendar (法定节假日 and 调休), held as data.

The State Council General Office (国务院办公厅) publishes each year's rest days and make-up
working days (调休上班). They cannot be computed, so the calendar is loaded: seeded from the
`chinesecalendar` package and extended by an operator with `lvyue calendar import FILE` when a
new year's notice appears (see `parse_schedule` for the file format).

A day in a year whose schedule is not loaded is judged by the weekend rule alone and is
*provisional*: the deadline computed from it may move once the official schedule is imported.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

import chinese_calendar

# Saturday and Sunday, as numbered by date.weekday().
_WEEKEND = frozenset({5, 6})

# A schedule for a year outside this window is almost surely a typo in the import file.
_IMPORTABLE_YEARS = range(2000, 2101)

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class OfficialCalendar:
    """An immutable working-day calendar.

    `holidays` are official rest days (a weekend day inside a holiday block may be listed too;
    it changes nothing), `workdays` are make-up working days on weekends, `known_years` are the
    years whose official schedule is loaded. Every listed date must lie in a known year and no
    date may be both a holiday and a workday.
    """

    __slots__ = ("_holidays", "_workdays", "_known_years")

    def __init__(self, holidays: Iterable[date], workdays: Iterable[date], known_years: Iterable[int]):
        self._holidays = frozenset(_require_date(d, "holiday") for d in holidays)
        self._workdays = frozenset(_require_date(d, "workday") for d in workdays)
        self._known_years = frozenset(int(y) for y in known_years)
        both = self._holidays & self._workdays
        if both:
            raise ValueError(f"dates both holiday and workday: {_iso_list(both)}")
        outside = {d for d in self._holidays | self._workdays if d.year not in self._known_years}
        if outside:
            raise ValueError(f"dates outside the known years {sorted(self._known_years)}: {_iso_list(outside)}")

    @property
    def known_years(self) -> frozenset[int]:
        """The years whose official schedule is loaded."""
        return self._known_years

    def is_workday(self, d: date) -> bool:
        """True when `d` is a working day: a weekday that is not an official rest day, or a
        make-up working day on a weekend. Days of unknown years follow the weekend rule."""
        d = _require_date(d, "day")
        if d in self._workdays:
            return True
        if d in self._holidays:
            return False
        return d.weekday() not in _WEEKEND

    def is_provisional(self, d: date) -> bool:
        """True when `d` lies in a year whose official schedule is not loaded."""
        return _require_date(d, "day").year not in self._known_years

    def next_workday(self, d: date) -> date:
        """The first working day on or after `d`."""
        d = _require_date(d, "day")
        while not self.is_workday(d):
            d += timedelta(days=1)
        return d

    def add_workdays(self, start: date, n: int) -> date:
        """The n-th working day after `start` (`start` itself is not counted; n ≥ 1)."""
        day = _require_date(start, "start")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"number of working days must be a positive integer, got {n!r}")
        remaining = n
        while remaining:
            day += timedelta(days=1)
            if self.is_workday(day):
                remaining -= 1
        return day

    def with_year(self, year: int, holidays: Iterable[date], workdays: Iterable[date]) -> OfficialCalendar:
        """A new calendar in which `year`'s schedule is exactly the one given (any earlier
        schedule of that year is dropped) and `year` is known."""
        holidays, workdays = set(holidays), set(workdays)
        stray = {d for d in holidays | workdays if _require_date(d, "day").year != year}
        if stray:
            raise ValueError(f"dates outside {year}: {_iso_list(stray)}")
        return OfficialCalendar(
            {d for d in self._holidays if d.year != year} | holidays,
            {d for d in self._workdays if d.year != year} | workdays,
            self._known_years | {year},
        )

    def to_dict(self) -> dict:
        """A JSON-ready form: ISO dates, sorted, so equal calendars store identically."""
        return {
            "known_years": sorted(self._known_years),
            "holidays": [d.isoformat() for d in sorted(self._holidays)],
            "workdays": [d.isoformat() for d in sorted(self._workdays)],
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> OfficialCalendar:
        """The calendar stored by `to_dict`; ValueError when `data` is not such a form."""
        if not isinstance(data, Mapping) or set(data) != {"known_years", "holidays", "workdays"}:
            raise ValueError("a stored calendar has exactly the keys known_years, holidays, workdays")
        years = data["known_years"]
        if not isinstance(years, list) or not all(isinstance(y, int) and not isinstance(y, bool) for y in years):
            raise ValueError("known_years must be a list of integers")
        return cls(
            (_parse_iso(s, f"holidays[{i}]") for i, s in enumerate(_list(data, "holidays"))),
            (_parse_iso(s, f"workdays[{i}]") for i, s in enumerate(_list(data, "workdays"))),
            years,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OfficialCalendar):
            return NotImplemented
        return (self._holidays, self._workdays, self._known_years) == (
            other._holidays,
            other._workdays,
            other._known_years,
        )

    def __hash__(self) -> int:
        return hash((self._holidays, self._workdays, self._known_years))

    def __repr__(self) -> str:
        years = sorted(self._known_years)
        span = f"{years[0]}–{years[-1]}" if years else "none"
        return f"<OfficialCalendar known years {span}, {len(self._holidays)} holidays, {len(self._workdays)} workdays>"


def from_chinesecalendar() -> OfficialCalendar:
    """The calendar of the installed `chinesecalendar` package; its known years are every year
    from the first to the last the package lists."""
    listed = set(chinese_calendar.holidays) | set(chinese_calendar.workdays)
    years = range(min(d.year for d in listed), max(d.year for d in listed) + 1)
    return OfficialCalendar(chinese_calendar.holidays, chinese_calendar.workdays, years)


def parse_schedule(text_or_obj: str | bytes | Mapping) -> tuple[int, frozenset[date], frozenset[date]]:
    """Validate one year's official schedule and return `(year, holidays, workdays)`.

    Accepts JSON text or the decoded object::

        {"year": 2027,
         "holidays": [{"date": "2027-01-01", "name": "元旦"}, "2027-02-06", ...],
         "workdays": ["2027-02-14", {"date": "2027-02-20", "name": "春节"}]}

    Every date is "YYYY-MM-DD" inside `year`; an entry is either such a string or an object with
    "date" and an optional non-empty "name". `holidays` lists the official rest days (weekend
    days of a holiday block may be included) and may not be empty; `workdays` lists the make-up
    working days, each a Saturday or Sunday, and may be empty. No date may appear twice.
    Raises ValueError naming the first bad entry.
    """
    obj = _decode(text_or_obj)
    expected = {"year", "holidays", "workdays"}
    if set(obj) != expected:
        missing, unknown = expected - set(obj), set(obj) - expected
        problems = [f"missing {sorted(missing)}" if missing else "", f"unknown {sorted(unknown)}" if unknown else ""]
        raise ValueError(f"schedule keys must be {sorted(expected)}: " + ", ".join(p for p in problems if p))
    year = obj["year"]
    if isinstance(year, bool) or not isinstance(year, int) or year not in _IMPORTABLE_YEARS:
        raise ValueError(
            f"year must be an integer from {_IMPORTABLE_YEARS.start} to {_IMPORTABLE_YEARS.stop - 1}, got {year!r}"
        )
    holidays = _schedule_dates(obj, "holidays", year)
    if not holidays:
        raise ValueError(f"holidays for {year} is empty: every official schedule has rest days")
    workdays = _schedule_dates(obj, "workdays", year)
    for where, d in workdays.items():
        if d.weekday() not in _WEEKEND:
            raise ValueError(
                f"{where} ({d.isoformat()}) is a {d.strftime('%A')}: a make-up working day (调休上班) "
                "must fall on a Saturday or Sunday"
            )
    in_both = set(holidays.values()) & set(workdays.values())
    if in_both:
        raise ValueError(f"dates listed both as holiday and as workday: {_iso_list(in_both)}")
    return year, frozenset(holidays.values()), frozenset(workdays.values())


def _decode(text_or_obj: str | bytes | Mapping) -> Mapping:
    if isinstance(text_or_obj, (str, bytes, bytearray)):
        try:
            text_or_obj = json.loads(text_or_obj)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"schedule is not valid JSON: {exc}") from None
    if not isinstance(text_or_obj, Mapping):
        raise ValueError("schedule must be a JSON object with keys year, holidays, workdays")
    return text_or_obj


def _schedule_dates(obj: Mapping, key: str, year: int) -> dict[str, date]:
    """The dates of one list, keyed by the entry's position (e.g. "holidays[3]") for messages."""
    found: dict[str, date] = {}
    seen: dict[date, str] = {}
    for i, entry in enumerate(_list(obj, key)):
        where = f"{key}[{i}]"
        if isinstance(entry, Mapping):
            if "date" not in entry or not set(entry) <= {"date", "name"}:
                raise ValueError(f"{where}: an object entry has a 'date' and an optional 'name', got {dict(entry)!r}")
            name = entry.get("name")
            if name is not None and (not isinstance(name, str) or not name.strip()):
                raise ValueError(f"{where}: 'name' must be a non-empty string, got {name!r}")
            entry = entry["date"]
        d = _parse_iso(entry, where)
        if d.year != year:
            raise ValueError(f"{where} ({d.isoformat()}) is not in the schedule's year {year}")
        if d in seen:
            raise ValueError(f"{where} ({d.isoformat()}) repeats {seen[d]}")
        seen[d] = where
        found[where] = d
    return found


def _list(obj: Mapping, key: str) -> list:
    value = obj[key]
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list, got {type(value).__name__}")
    return value


def _parse_iso(value: object, where: str) -> date:
    # date.fromisoformat alone would also accept forms such as "20270101".
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError(f"{where}: expected a date as 'YYYY-MM-DD', got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not a calendar date") from None


def _require_date(value: object, what: str) -> date:
    # A datetime is a date subclass; taking its date part silently would ignore its time zone.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime.date, got {type(value).__name__}")
    return value


def _iso_list(dates: Iterable[date]) -> str:
    return ", ".join(d.isoformat() for d in sorted(dates))
