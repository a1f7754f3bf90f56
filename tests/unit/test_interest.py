"""Late-payment interest (P05) and the age buckets of arrears: engine/supervision/interest.py."""
from datetime import date
from decimal import Decimal

import pytest

from engine.supervision import interest, rules

DUE = date(2026, 3, 31)  # the last day of the payment period
P05 = Decimal("0.05")    # 万分之五 a day, in percent


def test_no_interest_on_or_before_the_last_day():
    assert interest.accrued(Decimal("100000.00"), DUE, date(2026, 3, 30), P05) == Decimal("0.00")
    assert interest.accrued(Decimal("100000.00"), DUE, DUE, P05) == Decimal("0.00")


def test_interest_counts_each_day_after_the_last_day_up_to_and_including_on():
    # 1 April is the first day late: 100,000.00 × 0.05 % × 1 = 50.00
    assert interest.accrued(Decimal("100000.00"), DUE, date(2026, 4, 1), P05) == Decimal("50.00")
    # 10 days late (1..10 April): 100,000.00 × 0.0005 × 10 = 500.00
    assert interest.accrued(Decimal("100000.00"), DUE, date(2026, 4, 10), P05) == Decimal("500.00")
    # across a year end and a leap day: 2027-12-31 .. 2028-03-01 is 61 days; 80,000.00 × 0.0005 × 61 = 2,440.00
    assert interest.accrued(Decimal("80000.00"), date(2027, 12, 31), date(2028, 3, 1), P05) == Decimal("2440.00")


def test_rounded_to_the_fen_half_up_once_at_the_end():
    # 123,456.78 × 0.0005 × 45 = 2,777.77755 → 2,777.78
    assert interest.accrued(Decimal("123456.78"), DUE, date(2026, 5, 15), P05) == Decimal("2777.78")
    # 1.00 × 0.0005 × 10 = 0.005 → 0.01 half-up (banker's rounding would give 0.00)
    assert interest.accrued(Decimal("1.00"), DUE, date(2026, 4, 10), P05) == Decimal("0.01")
    # ten days of 0.0005 each would round to 0.00 day by day; rounding once keeps the 0.01
    assert sum(interest.accrued(Decimal("1.00"), DUE, date(2026, 4, 1), P05) for _ in range(10)) == Decimal("0.00")


def test_nothing_owed_accrues_nothing():
    assert interest.accrued(Decimal("0.00"), DUE, date(2027, 1, 1), P05) == Decimal("0.00")
    assert interest.accrued(Decimal("-5.00"), DUE, date(2027, 1, 1), P05) == Decimal("0.00")


def test_p05_default_rate_comes_from_the_registry_by_the_due_day():
    registry = rules.load_default()
    assert interest.default_percent_per_day(registry, date(2020, 9, 1)) == Decimal("0.05")
    assert interest.default_percent_per_day(registry, date(2025, 6, 1)) == Decimal("0.05")
    assert registry.limit("P05", date(2024, 1, 1)).legal_basis.endswith("第十五条")
    assert registry.limit("P05", date(2026, 1, 1)).legal_basis.endswith("第十七条")
    # before the regulation there is no statutory default rate
    assert interest.default_percent_per_day(registry, date(2020, 8, 31)) is None
    assert interest.interest_on(registry, Decimal("1000.00"), date(2020, 8, 31), date(2020, 12, 31)) is None
    assert interest.interest_on(registry, Decimal("1000.00"), DUE, date(2026, 4, 10)) == Decimal("5.00")


def test_an_interest_limit_needs_a_positive_rate():
    base = {"id": "P05", "kind": "interest", "title": "t", "subject": "late_payment", "legal_basis": "b",
            "verified": "P", "effective_from": "2020-09-01"}
    assert rules.Limit.from_dict({**base, "percent_per_day": "0.05"}).percent_per_day == Decimal("0.05")
    for bad in ({}, {"percent_per_day": "0"}, {"percent_per_day": "-1"}, {"percent_per_day": "0.05", "max_percent": "3"}):
        with pytest.raises(ValueError):
            rules.Limit.from_dict({**base, **bad})


@pytest.mark.parametrize("days,bucket", [(1, "0-30"), (30, "0-30"), (31, "31-90"), (90, "31-90"), (91, "91-180"),
                                         (180, "91-180"), (181, "181-365"), (365, "181-365"), (366, "over_365"),
                                         (4000, "over_365")])
def test_age_buckets_at_their_bounds(days, bucket):
    assert interest.age_bucket(days) == bucket
