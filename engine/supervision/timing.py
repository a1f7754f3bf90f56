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
from engine.runtime import values
from engine.supervision import contract_terms, deadlines, payment_basis, rules, works_payments

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


def _day(value):
    return None if value is None else deadlines.local_date(_start(value))


def _money(value) -> Decimal:
    return values.amount_of(value)


def advance_deadline_fn(signed_at, terms) -> str:
    """C01: the advance's last day (works_payments.advance_due) from the signing and the agreed start date."""
    start = terms.get("works_start_date") if isinstance(terms, dict) else None
    return _iso(works_payments.advance_due(_day(signed_at), _day(start), calendar(), registry()))


def progress_deadline_fn(applied_at, verified_at) -> str:
    """C03: 14 days from the measurement's confirmation, actual or deemed (C02)."""
    on = works_payments.confirmed_on(_day(applied_at), _day(verified_at), works_payments.MEASUREMENT_RULE,
                                     calendar(), registry())
    return _iso(deadlines.deadline(works_payments.PROGRESS_RULE, on, calendar(), registry()))


def progress_due_fn(applied_value, confirmed_value, terms, contract_amount) -> Decimal:
    """What an application makes payable: the confirmed value (the applied one when deemed confirmed) × the agreed
    percentage, less the advance recovered in the same proportion."""
    value = _money(confirmed_value if confirmed_value is not None else applied_value)
    return works_payments.progress_amount(value, terms, _money(contract_amount))


def settlement_review_deadline_fn(settlement_value, submitted_at) -> str:
    """C04: the review period of the settlement report's amount tier, from its submission."""
    day = _day(submitted_at)
    rule = works_payments.settlement_review_rule(_money(settlement_value), registry(), day)
    return _iso(deadlines.deadline(rule.id, day, calendar(), registry()))


def settlement_deadline_fn(settlement_value, submitted_at, reviewed_at) -> str:
    """C04P: 15 days from the settlement's confirmation, actual or deemed (C04's tier)."""
    day = _day(submitted_at)
    rule = works_payments.settlement_review_rule(_money(settlement_value), registry(), day)
    on = works_payments.confirmed_on(day, _day(reviewed_at), rule.id, calendar(), registry())
    return _iso(deadlines.deadline(works_payments.SETTLEMENT_PAYMENT_RULE, on, calendar(), registry()))


def settlement_payable_fn(settlement_value, settled_value, retention_rate) -> Decimal:
    """All the contract owes once settled: the settled price (the reported one when deemed accepted) less the
    retention."""
    settled = _money(settled_value if settled_value is not None else settlement_value)
    return works_payments.settlement_payable(settled, _money(retention_rate))


def _signed_differences(award_terms, contract_amount, signed_amount, signed_period_days, signed_quality,
                        signed_scope_sha256) -> list[str]:
    return contract_terms.signed_terms_differences(
        award_terms, contract_amount, signed_amount,
        {"signed_period_days": signed_period_days, "signed_quality": signed_quality,
         "signed_scope_sha256": signed_scope_sha256})


def signed_terms_differ_fn(award_terms, contract_amount, signed_amount, signed_period_days, signed_quality,
                           signed_scope_sha256) -> bool:
    """Whether the signed contract departs from the award in price, period, quality or scope (R04 / G03)."""
    return bool(_signed_differences(award_terms, contract_amount, signed_amount, signed_period_days, signed_quality,
                                    signed_scope_sha256))


def signed_terms_difference_fn(award_terms, contract_amount, signed_amount, signed_period_days, signed_quality,
                               signed_scope_sha256) -> str:
    """The departures, 'field signed ≠ award awarded', joined by '; ' (for the alert's legal basis)."""
    return "; ".join(_signed_differences(award_terms, contract_amount, signed_amount, signed_period_days,
                                         signed_quality, signed_scope_sha256))


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
            "advance_deadline": advance_deadline_fn, "progress_deadline": progress_deadline_fn,
            "progress_due": progress_due_fn, "settlement_review_deadline": settlement_review_deadline_fn,
            "settlement_deadline": settlement_deadline_fn, "settlement_payable": settlement_payable_fn,
            "signed_terms_differ": signed_terms_differ_fn, "signed_terms_difference": signed_terms_difference_fn,
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
