"""engine/supervision/obligations.py derives the report's typed rows from a contract's data without a database; the
listener runs after every flush of every process, so data of another shape must give no row rather than fail the
step that wrote it."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

from engine.supervision import obligations

DUE = datetime(2026, 9, 30, 16, tzinfo=timezone.utc)  # 24:00 China time of 09-30


def test_a_milestone_row_carries_its_amount_deadline_rate_and_payments():
    data = {"milestones": [{"amount": "100.00"}, {"amount": "0"}, {"amount": "50.00"}], "funding_source": "mixed",
            "payment_basis": {"rule": "P01", "interest": {"rule": "AGREED", "percent_per_day": "0.000125"}}}
    rows = obligations.rows_for("i", "ZJ", {"employer": "EMP"}, data, {1: DUE},
                                {1: [(date(2026, 9, 1), Decimal("60.00")), (date(2026, 10, 3), Decimal("40.00"))]})
    assert [(r["milestone_no"], r["amount"], r["last_day"], r["interest_micro_percent"], r["paid"], r["last_paid_on"],
             r["paid_in_full_on"]) for r in rows] == [
        (1, Decimal("100.00"), date(2026, 9, 30), 125, Decimal("100.00"), date(2026, 10, 3), date(2026, 10, 3)),
        (3, Decimal("50.00"), None, None, Decimal("0.00"), None, None)]
    assert rows[0]["employer"] == "EMP" and rows[0]["funding_source"] == "mixed"


def test_a_signed_works_contract_has_an_advance_row_due_on_c01s_last_day():
    data = {"signed_at": "2026-09-01", "payment_terms": {"advance": {"amount": "10000.00"}}}
    [advance] = obligations.rows_for("i", None, {}, data, {}, {obligations.ADVANCE: [(date(2026, 9, 5), Decimal("1.00"))]})
    assert advance["milestone_no"] == obligations.ADVANCE and advance["amount"] == Decimal("10000.00")
    assert advance["last_day"] is not None and advance["paid"] == Decimal("1.00") and advance["paid_in_full_on"] is None


def test_data_of_another_shape_gives_no_row_and_no_error():
    for data in ({"milestones": "none"}, {"milestones": 3}, {"milestones": [None, "x", {"amount": "abc"}]},
                 {"payment_terms": {"advance": True}, "signed_at": "2026-09-01"},
                 {"payment_terms": {"advance": {"amount": "5.00"}}, "signed_at": "yesterday"},
                 {"payment_terms": "works"}):
        assert obligations.rows_for("i", None, None, data, {}) == []
    row = obligations.contract_row_for("i", None, {"bid_bond": "exempt", "signed_at": 7, "payment_terms": ["advance"]}, {})
    assert (row["bid_exempt"], row["signed_on"], row["works_terms"]) == (False, None, False)
