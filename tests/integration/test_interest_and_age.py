"""Issue 16, acceptance 5: late-payment interest (P05) and arrears by age, computed by hand.

Two tendering/works contracts of 1 200 000.00 in one milestone, accepted 2026-08-31 (the baseline of
tests/e2e/test_post_award.py), never paid in full:

  A INT-A  payment_term_days 30 → the payment period's last day is 09-30; nothing paid
  B INT-B  payment_term_days 10 → last day 09-10; 200 000.00 paid 09-20, 1 000 000.00 outstanding

P05 with no agreed rate: 0.05 % a day, simple, for each day after the last day up to and including the
month's last day, rounded to the fen. The same contracts are reported for months further and further on,
so that their arrears pass through every age bucket.
"""
from __future__ import annotations

import pytest

from tests.e2e.test_post_award import Api, Contract, at, one_milestone, tendering_works

ZERO = {"amount": "0.00", "milestones": 0}


@pytest.fixture
def contracts(api):
    # CON is a large contractor: no SME rule gives it P05's default, so the contracts agree the same 0.05 % a day.
    a = Contract(api, "INT-A", one_milestone(tendering_works(payment_term_days=30, late_interest_percent_per_day="0.05")))
    a.run(until="pay1")
    b = Contract(api, "INT-B", one_milestone(tendering_works(payment_term_days=10, late_interest_percent_per_day="0.05")))
    b.run(until="pay1")
    b.step("pay1", at(9, 20), paid_at="2026-09-20", amount="200000.00")
    return a, b


def arrears(api: Api, month: str) -> dict:
    return api.call("GET", f"/api/v1/reports/monthly?month={month}", "admin", at(12, 31, year=2027))["arrears"]


def ages(**filled) -> dict:
    out = {label: dict(ZERO) for label in ("0-30", "31-90", "91-180", "181-365", "over_365")}
    out.update(filled)
    return out


def test_the_deadlines_are_the_ones_the_figures_count_from(api, contracts):
    assert api.ledger("INT-A")["milestones"][0]["payment_due_at"] == "2026-09-30T16:00:00+00:00"  # 10-01 00:00 China
    assert api.ledger("INT-B")["milestones"][0]["payment_due_at"] == "2026-09-10T16:00:00+00:00"


@pytest.mark.parametrize("month,expected", [
    # 2026-09, last day 09-30: A 0 days late (due that very day, owed from 24:00) → 0.00;
    # B 09-10 → 09-30 = 20 days: 1 000 000.00 × 0.0005 × 20 = 10 000.00
    ("2026-09", {"interest": "10000.00", "ages": ages(**{"0-30": {"amount": "2200000.00", "milestones": 2}})}),
    # 2026-10, last day 10-31: A 31 days: 1 200 000.00 × 0.0005 × 31 = 18 600.00;
    # B 51 days: 1 000 000.00 × 0.0005 × 51 = 25 500.00; 18 600 + 25 500 = 44 100.00
    ("2026-10", {"interest": "44100.00", "ages": ages(**{"31-90": {"amount": "2200000.00", "milestones": 2}})}),
    # 2026-12, last day 12-31: A 31+30+31 = 92 days: 1 200 000 × 0.0005 × 92 = 55 200.00 (91-180);
    # B 09-10 → 12-31 = 20+31+30+31 = 112 days: 1 000 000 × 0.0005 × 112 = 56 000.00
    ("2026-12", {"interest": "111200.00", "ages": ages(**{"91-180": {"amount": "2200000.00", "milestones": 2}})}),
    # 2027-03, last day 03-31: A 92+31+28+31 = 182 days (181-365): 1 200 000 × 0.0005 × 182 = 109 200.00;
    # B 112+90 = 202 days: 1 000 000 × 0.0005 × 202 = 101 000.00
    ("2027-03", {"interest": "210200.00", "ages": ages(**{"181-365": {"amount": "2200000.00", "milestones": 2}})}),
    # 2027-09, last day 09-30: A 365 days exactly (still 181-365): 1 200 000 × 0.0005 × 365 = 219 000.00;
    # B 09-10-2026 → 09-30-2027 = 385 days (over_365): 1 000 000 × 0.0005 × 385 = 192 500.00
    ("2027-09", {"interest": "411500.00", "ages": ages(**{"181-365": {"amount": "1200000.00", "milestones": 1},
                                                         "over_365": {"amount": "1000000.00", "milestones": 1}})}),
])
def test_monthly_report_interest_and_age_buckets_equal_the_hand_computed_values(api, contracts, month, expected):
    got = arrears(api, month)
    assert got["amount"] == "2200000.00" and got["milestones"] == 2 and got["contracts"] == 2  # unchanged figures
    assert got["interest_accrued"] == expected["interest"]
    assert got["by_age"] == expected["ages"]
    [emp] = got["by_employer"].values()  # both owed by EMP, supervised by ZJ
    assert emp["interest_accrued"] == expected["interest"] and emp["by_age"] == expected["ages"]
    assert got["by_department"]["ZJ"]["interest_accrued"] == expected["interest"]


def test_ledger_and_alert_show_the_interest_accrued_to_today(api, contracts):
    api.tick(at(10, 20))  # raises both arrears alerts
    with_clock = lambda path: api.call("GET", path, "admin", at(10, 20))  # noqa: E731
    # A on 10-20: 20 days: 1 200 000 × 0.0005 × 20 = 12 000.00; B: 40 days: 1 000 000 × 0.0005 × 40 = 20 000.00
    a, b = with_clock("/api/v1/contracts/INT-A"), with_clock("/api/v1/contracts/INT-B")
    assert a["milestones"][0]["interest_accrued"] == "12000.00" and a["interest_accrued"] == "12000.00"
    assert b["milestones"][0]["interest_accrued"] == "20000.00" and b["interest_accrued"] == "20000.00"
    by_key = {al["business_key"]: al for al in with_clock("/api/v1/alerts")["items"] if al["kind"] == "arrears"}
    assert by_key["INT-A"]["interest_accrued"] == "12000.00" and by_key["INT-B"]["interest_accrued"] == "20000.00"
    dash = with_clock("/api/v1/reports/dashboard")["arrears_by_age"]
    # A 20 days overdue (0-30), B 40 days (31-90)
    assert dash["total"]["0-30"] == {"amount": "1200000.00", "alerts": 1}
    assert dash["total"]["31-90"] == {"amount": "1000000.00", "alerts": 1}
    assert [e["org"] for e in dash["by_employer"]] == ["EMP"]
