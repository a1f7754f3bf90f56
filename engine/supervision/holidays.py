"""The official calendar kept in the database (ARCHITECTURE.md §4: the calendar is data).

Seeded from the `chinesecalendar` package for the years it knows; each later year is imported by an
operator from the State Council's notice (`lvyue calendar import FILE`), which re-computes exactly
the pending deadlines it changes.
"""
from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import func, select

from engine.supervision import calendar as official
from engine import clock
from engine.runtime import timers
from engine.supervision import deadlines, timing
from engine.storage.db import Database
from engine.storage.models import CalendarYear

# How often every worker reloads the calendar the deadlines use (a periodic job, engine/bootstrap.py).
REFRESH_SECONDS = 60.0


def _rows_from(cal: official.OfficialCalendar) -> dict[int, tuple[list[str], list[str]]]:
    data = cal.to_dict()
    by_year: dict[int, tuple[list[str], list[str]]] = {y: ([], []) for y in data["known_years"]}
    for d in data["holidays"]:
        by_year.setdefault(int(d[:4]), ([], []))[0].append(d)
    for d in data["workdays"]:
        by_year.setdefault(int(d[:4]), ([], []))[1].append(d)
    return by_year


def ensure_seeded(db: Database) -> int:
    """Store the package's years if the table is empty; returns the number of years added."""
    with db.transaction() as session:
        if session.scalar(select(func.count()).select_from(CalendarYear)):
            return 0
        now = clock.now()
        rows = _rows_from(official.from_chinesecalendar())
        for year, (holidays, workdays) in sorted(rows.items()):
            session.add(CalendarYear(year=year, holidays=sorted(holidays), workdays=sorted(workdays),
                                     source="chinesecalendar package", imported_at=now))
        return len(rows)


def load(db: Database) -> official.OfficialCalendar:
    with db.read() as session:
        rows = list(session.scalars(select(CalendarYear)))
    if not rows:
        return official.from_chinesecalendar()
    return official.OfficialCalendar(
        holidays=[date.fromisoformat(d) for r in rows for d in r.holidays],
        workdays=[date.fromisoformat(d) for r in rows for d in r.workdays],
        known_years=[r.year for r in rows])


def install(db: Database) -> official.OfficialCalendar:
    """Make the database's calendar the one every deadline uses in this process."""
    cal = load(db)
    timing.use_calendar(cal)
    return cal


def years(db: Database) -> list[dict[str, Any]]:
    with db.read() as session:
        return [{"year": r.year, "holidays": len(r.holidays), "workdays": len(r.workdays), "source": r.source,
                 "imported_at": r.imported_at} for r in session.scalars(select(CalendarYear).order_by(CalendarYear.year))]


def import_year(db: Database, text: str | bytes, source: str) -> dict[str, Any]:
    """Store (or replace) one year's schedule and move the pending deadlines it changes."""
    year, holidays, workdays = official.parse_schedule(text)
    with db.transaction() as session:
        row = session.get(CalendarYear, year)
        if row is None:
            row = CalendarYear(year=year)
            session.add(row)
        row.holidays = sorted(d.isoformat() for d in holidays)
        row.workdays = sorted(d.isoformat() for d in workdays)
        row.source, row.imported_at = source, clock.now()
    install(db)
    first = datetime.combine(date(year, 1, 1), time(0), tzinfo=deadlines.SHANGHAI)
    moved = timers.recompute_from(db, first)
    return {"year": year, "holidays": len(holidays), "workdays": len(workdays), **moved}
