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


def test_the_month_the_guarantees_section_counts_a_date_in_is_that_of_its_text():
    """obligations.text_month: the month whose first and last days (YYYY-MM-DD) the first ten characters lie
    between as text — the day written, not China time; text that is no date but reads inside a month counts there."""
    nov = date(2026, 11, 1)
    for value, month in (("2026-11-15", nov), ("2026-11-30", nov), ("2026-11-01", nov),
                         ("2026-10-31T20:00:00-05:00", date(2026, 10, 1)),  # 11-01 in China: still October
                         ("2026-11-15T01:00:00+08:00", nov), ("2026-11-15 and more", nov),
                         ("2026-11-1x", nov), ("2026-11-3", nov), ("2026-11-0x", nov), ("2026-02-28", date(2026, 2, 1)),
                         ("2026-11-31", None), ("2026-11-00", None), ("2026-11-0", None), ("2026-11-", None),
                         ("2026-02-29", None), ("2026-13-01", None), ("0000-01-01", None), ("2026-W47-1", None),
                         (" 2026-11-05", None), ("2026-11-１5", None), ("２０26-11-15", None), ("20261115", None),
                         (20261115, None), (2026.11, None), (True, None), (None, None), ({"a": 1}, None), ([], None)):
        assert obligations.text_month(value) == month, value
    row = obligations.contract_row_for("i", None, {"signed_at": "2026-11-1x", "filed_at": "2026-12-01"}, {})
    assert (row["signed_on"], row["signed_month"], row["filed_on"], row["filed_month"]) == \
        (None, nov, date(2026, 12, 1), date(2026, 12, 1))
