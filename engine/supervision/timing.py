"""Deadline functions that diagram expressions may call, and the calendar they use.

Registered with the safe evaluator (engine/expressions.py), so a timer reads
`deadline("G05", signed_at)` instead of a hand-written duration (ARCHITECTURE.md §4). Each returns
an ISO 8601 instant with its offset — the form SpiffWorkflow's timeDate timers take:

* `deadline(rule_id, start[, agreed_days])` — a statutory period from the rule registry;
* `payment_deadline(payment_basis, delivered_at, accepted_at, acceptance_days)` — a milestone's payment
  deadline under the basis fixed at the start (engine/supervision/payment_basis.py);
* `add_days(start, n)`, `add_workdays(start, n)` — periods counted under the Civil Code;
* `before(instant, days)`, `after(instant, days)` — plain shifts (warn 3 days before, escalate 30 after).

The official calendar is process-wide: `use_calendar` installs the one loaded from the database,
and every evaluation records in `provisional()` whether it relied on a year not yet published.
"""
from __future__ import annotations

import contextvars
from datetime import date, datetime, timedelta
from decimal import Decimal

from engine.supervision import calendar as official
from engine.supervision import deadlines, payment_basis, rules

_calendar: official.OfficialCalendar | None = None
_registry: rules.RuleRegistry | None = None
_provisional: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar("lvyue_provisional", default=None)


def calendar() -> official.OfficialCalendar:
    global _calendar
    if _calendar is None:
        _calendar = official.from_chinesecalendar()
    return _calendar


def use_calendar(cal: official.OfficialCalendar) -> None:
    """Install the official calendar every deadline is computed with from now on."""
    global _calendar
    _calendar = cal


def registry() -> rules.RuleRegistry:
    global _registry
    if _registry is None:
        _registry = rules.load_default()
    return _registry


def _start(value) -> date | datetime:
    if isinstance(value, (date, datetime)):
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10:
            return date.fromisoformat(text)
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if instant.tzinfo is None:
            raise ValueError(f"naive date-time {text!r}: give an offset such as +08:00")
        return instant
    raise ValueError(f"a date or an ISO 8601 date-time is needed, not {type(value).__name__}")


def _iso(d: deadlines.Deadline) -> str:
    marks = _provisional.get()
    if marks is not None:
        marks.append(d.provisional)
    return d.due_at.astimezone(deadlines.SHANGHAI).isoformat()


def _count(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, Decimal)) or int(n) != n or not 1 <= int(n) <= 3660:
        raise ValueError("a period is a whole number of days from 1 to 3660")
    return int(n)


def deadline_fn(rule_id: str, start, agreed_days=None) -> str:
    s = _start(start)
    agreed = _count(agreed_days) if agreed_days is not None else None
    return _iso(deadlines.deadline(rule_id, s, calendar(), registry(), agreed))


def payment_deadline_fn(basis, delivered_at, accepted_at, acceptance_days) -> str:
    """The basis's term counted from acceptance, or from the last day of the agreed acceptance period when
    acceptance came later (P04)."""
    if not isinstance(basis, dict) or "term_days" not in basis:
        raise ValueError("payment_deadline needs the contract's payment_basis (fixed at the start)")
    start = payment_basis.clock_start(deadlines.local_date(_start(delivered_at)),
                                      deadlines.local_date(_start(accepted_at)), _count(acceptance_days), calendar())
    return _iso(deadlines.add_days(start, _count(basis["term_days"]), calendar()))


def add_days_fn(start, n) -> str:
    return _iso(deadlines.add_days(_start(start), _count(n), calendar()))


def add_workdays_fn(start, n) -> str:
    return _iso(deadlines.add_workdays(_start(start), _count(n), calendar()))


def end_of_day_fn(day) -> str:
    """24:00 China time of a date (a date-time counts by its China-time date)."""
    d = deadlines.local_date(_start(day))
    return deadlines.end_of_day(d).astimezone(deadlines.SHANGHAI).isoformat()


def _shift(instant, days, sign: int) -> str:
    value = _start(instant)
    if not isinstance(value, datetime):
        value = datetime.combine(value, datetime.min.time(), tzinfo=deadlines.SHANGHAI)
    return (value + sign * timedelta(days=_count(days))).isoformat()


def before_fn(instant, days) -> str:
    return _shift(instant, days, -1)


def after_fn(instant, days) -> str:
    return _shift(instant, days, +1)


def expression_functions() -> dict[str, object]:
    """The calendar functions diagrams may call in expressions, by name (registered by engine/bootstrap.py)."""
    return {"deadline": deadline_fn, "payment_deadline": payment_deadline_fn,
            "add_days": add_days_fn, "add_workdays": add_workdays_fn,
            "end_of_day": end_of_day_fn, "before": before_fn, "after": after_fn}


class provisional:
    """Context manager: collects whether any deadline computed inside used an unpublished year."""

    def __enter__(self):
        self.marks: list[bool] = []
        self._token = _provisional.set(self.marks)
        return self

    def __exit__(self, *exc):
        _provisional.reset(self._token)

    @property
    def any(self) -> bool:
        return any(self.marks)


def rule_ids() -> frozenset[str]:
    return frozenset(r.id for r in registry().all())
