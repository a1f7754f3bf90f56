"""Late-payment interest (逾期利息) and the age of arrears: pure arithmetic, no database.

P05 (《保障中小企业款项支付条例》 2020 art 15, 2025 art 17): a payment made late carries interest at the
agreed rate, which may not be below the 1-year LPR at signing, and with no agreed rate at 0.05 % of the
amount overdue a day (万分之五). The default rate is data of the rule registry (rules.json, limit P05,
kind "interest"). Which rate a contract's arrears carry is fixed with its payment basis at the start
(payment_basis.fix, `interest`): the rate the contract agreed (`late_interest_percent_per_day`), else P05's
default where the SME payment rules bind (P01, P02), else none — a large contractor's arrears carry the
contract's own rate or, for works, the LPR (C07), which the registry does not tabulate: no figure is shown
rather than a wrong one.

Counting convention: the payment period ends at 24:00 of its last day (`due`); interest runs for each
calendar day after it up to and including `on` — `(on - due).days` days, none when `on` is on or before
`due` (a payment dated on the last day is on time). Simple interest on the amount, no compounding,
rounded to the fen (0.01 CNY) half-up once, at the end, so that summing per-day amounts cannot drift.
"""
from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from engine.supervision import rules

FEN = Decimal("0.01")
P05 = "P05"

# Days overdue → bucket label, in order: ≤30, 31–90, 91–180, 181–365, >365 (upper bounds inclusive).
AGE_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("0-30", 30), ("31-90", 90), ("91-180", 180), ("181-365", 365), ("over_365", None))


def days_late(due: date, on: date) -> int:
    """Calendar days after the last day of the period `due`, up to and including `on` (0 when not late)."""
    return max((on - due).days, 0)


def accrued(amount: Decimal, due: date, on: date, percent_per_day: Decimal) -> Decimal:
    """Simple interest on `amount` at `percent_per_day` (0.05 means 0.05 % a day) for `days_late(due, on)`
    days, rounded to the fen half-up; Decimal("0.00") when not late or nothing is owed."""
    if amount <= 0:
        return Decimal("0.00")
    return (amount * percent_per_day * days_late(due, on) / 100).quantize(FEN, rounding=ROUND_HALF_UP)


def default_percent_per_day(registry: rules.RuleRegistry, due: date) -> Decimal | None:
    """P05's default rate in force on `due` (the version is chosen by the day the payment fell due), None
    before the regulation was in force (2020-09-01): then the law gives no default rate."""
    try:
        return registry.limit(P05, due).percent_per_day
    except rules.UnknownRule:
        return None


def interest_on(registry: rules.RuleRegistry, amount: Decimal, due: date, on: date) -> Decimal | None:
    """`accrued` at the rate that applies to a payment due on `due` (P05's default); None when none does."""
    rate = default_percent_per_day(registry, due)
    return None if rate is None else accrued(amount, due, on, rate)


AGREED = "AGREED"
SME_RULES = ("P01", "P02")


def basis_interest(payment_rule: str, agreed_percent_per_day: Decimal | None) -> dict:
    """The interest rule a contract's basis fixes: its agreed rate, else P05 where an SME payment rule applies,
    else none ({"rule": None})."""
    if agreed_percent_per_day is not None:
        return {"rule": AGREED, "percent_per_day": format(agreed_percent_per_day, "f")}
    return {"rule": P05 if payment_rule in SME_RULES else None}


def rate_for(registry: rules.RuleRegistry, basis, due: date) -> Decimal | None:
    """The percent a day that a payment of this contract (its `payment_basis`) due on `due` carries when late;
    None when no rate applies. A contract started before bases were fixed (no basis) keeps P05's default; a basis
    fixed before it carried `interest` has P05 only under an SME rule."""
    if not isinstance(basis, dict):
        return default_percent_per_day(registry, due)
    spec = basis.get("interest")
    if spec is None:
        return default_percent_per_day(registry, due) if basis.get("rule") in SME_RULES else None
    if spec.get("rule") == AGREED:
        return Decimal(str(spec["percent_per_day"]))
    return default_percent_per_day(registry, due) if spec.get("rule") == P05 else None


def interest_for(registry: rules.RuleRegistry, basis, amount: Decimal, due: date, on: date) -> Decimal | None:
    """`accrued` at `rate_for`'s rate; None when no rate applies."""
    rate = rate_for(registry, basis, due)
    return None if rate is None else accrued(amount, due, on, rate)


def age_bucket(days: int) -> str:
    """The age bucket of an amount `days` overdue (≥ 1): "0-30", "31-90", "91-180", "181-365" or "over_365"."""
    for label, upper in AGE_BUCKETS:
        if upper is None or days <= upper:
            return label
    raise AssertionError("unreachable: the last bucket is open")
