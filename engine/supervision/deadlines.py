"""Period arithmetic (期间计算) under the Civil Code, arts 200–204 (《中华人民共和国民法典》).

- The start day is not counted (开始的当日不计入): counting begins the next day.
- A period counted in days (日) whose last day is a rest day or statutory holiday ends instead on
  the next working day (法定休假日结束的次日).
- A period counted in working days (工作日) counts working days only; make-up working days
  (调休上班) on weekends count.
- The last day ends at 24:00 China time, i.e. the deadline instant is 00:00 Asia/Shanghai of the
  following day.

Everything here is pure: the calendar and the rule registry are passed in.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from engine.supervision.calendar import OfficialCalendar
from engine.supervision.rules import UNITS, RuleRegistry

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Deadline:
    """The end of a period.

    `last_day` is the last day of the period in China; `due_at` is the aware UTC instant at which
    it ends (24:00 Asia/Shanghai of `last_day`). `provisional` is True when a day the computation
    had to judge lies in a year whose official schedule is not loaded, so the result may move
    once that year is imported. `rule_id` and `legal_basis` name the rule version applied, if any.
    """

    last_day: date
    due_at: datetime
    provisional: bool
    rule_id: str | None = None
    legal_basis: str | None = None


def local_date(value: date | datetime) -> date:
    """The calendar date in China of `value`: a date as is, an aware datetime converted to
    Asia/Shanghai first. A naive datetime is refused (its zone would be a guess)."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: an offset is required")
        return value.astimezone(SHANGHAI).date()
    if isinstance(value, date):
        return value
    raise TypeError(f"start must be a date or an aware datetime, got {type(value).__name__}")


def end_of_day(day: date) -> datetime:
    """24:00 Asia/Shanghai of `day`, as an aware UTC datetime."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=SHANGHAI).astimezone(timezone.utc)


def period_end(start: date | datetime, days: int, unit: str, calendar: OfficialCalendar) -> Deadline:
    """The end of a period of `days` (≥ 1) in `unit` ("days" or "workdays") starting on `start`."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"a period must be a positive number of days, got {days!r}")
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    start_day = local_date(start)
    if unit == "days":
        # Only the nominal last day, and the days it is moved over, are judged by the calendar.
        first_judged = start_day + timedelta(days=days)
        last_day = calendar.next_workday(first_judged)
    else:
        first_judged = start_day + timedelta(days=1)
        last_day = calendar.add_workdays(start_day, days)
    provisional = any(year not in calendar.known_years for year in range(first_judged.year, last_day.year + 1))
    return Deadline(last_day=last_day, due_at=end_of_day(last_day), provisional=provisional)


def add_days(start: date | datetime, n: int, calendar: OfficialCalendar) -> Deadline:
    """The end of a period of `n` calendar days (日) from `start`."""
    return period_end(start, n, "days", calendar)


def add_workdays(start: date | datetime, n: int, calendar: OfficialCalendar) -> Deadline:
    """The end of a period of `n` working days (工作日) from `start`."""
    return period_end(start, n, "workdays", calendar)


def deadline(
    rule_id: str,
    start: date | datetime,
    calendar: OfficialCalendar,
    registry: RuleRegistry,
    agreed_days: int | None = None,
    *,
    on: date | None = None,
) -> Deadline:
    """The end of rule `rule_id`'s period counted from `start` (the rule's start event).

    The rule version is the one in force on `on`, by default the date of `start`; pass the
    contract signing date where the law says so (the SME-payment regulation). `agreed_days`, a
    period agreed in the contract, replaces the rule's days in the rule's unit but may not exceed
    its cap: ValueError names the rule, the cap and the legal basis. UnknownRule when no version
    applies.
    """
    rule = registry.get(rule_id, local_date(start) if on is None else on)
    days = rule.days
    if agreed_days is not None:
        if isinstance(agreed_days, bool) or not isinstance(agreed_days, int) or agreed_days < 1:
            raise ValueError(f"{rule.id}: agreed period must be a positive number of days, got {agreed_days!r}")
        if rule.cap is not None and agreed_days > rule.cap:
            raise ValueError(
                f"{rule.id} ({rule.title}): the agreed period of {agreed_days} {rule.unit} exceeds "
                f"the statutory cap of {rule.cap} {rule.unit} set by {rule.legal_basis}"
            )
        days = agreed_days
    end = period_end(start, days, rule.unit, calendar)
    return replace(end, rule_id=rule.id, legal_basis=rule.legal_basis)


def business_day(value) -> date | None:
    """The China-time date of a stored business value (date, aware datetime or ISO text), or None
    when it holds none: lenient, for reading ledgers and reports, never for computing deadlines."""
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None
