"""payment_obligations (engine/supervision/obligations.py) follows the contract as the engine changes it: a row per
milestone from the start, its deadline once the record_payment task is ready, its amount when a confirmed change
names the milestone, what was paid on it — always what `rows_for` derives from the contract's data and tasks as stored (migration 0016's
backfill: tests/integration/test_schema.py). The monthly report's milestones and arrears are sums over it
(tests/integration/test_reports.py checks those figures by hand).
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import inspect, select

from engine.storage.models import ContractDeadline, Instance, PaymentObligation
from engine.supervision import obligations
from tests.e2e.test_contract_changes import agreed, change
from tests.e2e.test_post_award import Contract, at, one_milestone, tendering_works

pytestmark = pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)


def stored(api, instance_id: str) -> list[dict]:
    with api.db.read() as s:
        return [{c: getattr(r, c) for c in ("milestone_no", "department_code", "employer", "funding_source", "amount",
                                            "due_at", "last_day", "interest_micro_percent", "paid", "last_paid_on",
                                            "paid_in_full_on")}
                for r in s.scalars(select(PaymentObligation).where(PaymentObligation.instance_id == instance_id)
                                   .order_by(PaymentObligation.milestone_no))]


def derived(api, instance_id: str) -> list[dict]:
    """What rows_for gives from the contract and its tasks as stored now."""
    with api.db.read() as s:
        conn = s.connection()
        inst = s.get(Instance, instance_id)
        rows = obligations.rows_for(inst.id, inst.department_code, inst.roles, inst.data,
                                    obligations.task_dues(conn, [inst.id])[0].get(inst.id, {}),
                                    obligations.payments_of(conn, [inst.id]).get(inst.id, {}))
    return [{k: v for k, v in r.items() if k != "instance_id"} for r in rows]


def test_the_rows_follow_the_milestones_their_deadlines_and_a_changed_amount(api):
    c = Contract(api, "OBL-1", tendering_works(late_interest_percent_per_day="0.05"))  # 2 × 600 000.00
    rows = stored(api, c.id)
    assert [(r["milestone_no"], r["amount"], r["due_at"]) for r in rows] == [(1, Decimal("600000.00"), None),
                                                                           (2, Decimal("600000.00"), None)]
    assert rows[0]["department_code"] == "ZJ" and rows[0]["employer"] == "EMP" and rows == derived(api, c.id)
    c.run(until="pay1")  # milestone 1 accepted 08-31: its record_payment task is ready, due 30 days later
    rows = stored(api, c.id)
    assert rows == derived(api, c.id)
    assert rows[0]["last_day"] == date(2026, 9, 30) and rows[0]["interest_micro_percent"] == 50_000
    assert rows[0]["due_at"] == datetime(2026, 9, 30, 16, tzinfo=timezone.utc) and rows[1]["due_at"] is None
    api.call("POST", f"/api/v1/contracts/{c.key}/changes", "emp", at(9, 2), 201,
             json=change("extra_items", amount="100000.00", milestone_no=1))
    assert stored(api, c.id) == rows  # proposed, not agreed: nothing changes
    agreed(api, c.key, 1, "con")
    rows = stored(api, c.id)
    assert rows[0]["amount"] == Decimal("700000.00") and rows == derived(api, c.id)
    c.step("pay1", paid_at="2026-09-04", amount="600000.00")  # in part
    rows = stored(api, c.id)
    assert (rows[0]["paid"], rows[0]["last_paid_on"], rows[0]["paid_in_full_on"]) == (
        Decimal("600000.00"), date(2026, 9, 4), None) and rows == derived(api, c.id)
    c.step("pay1", at(10, 8), paid_at="2026-10-08", amount="100000.00")  # the rest, late
    rows = stored(api, c.id)
    assert (rows[0]["paid"], rows[0]["last_paid_on"], rows[0]["paid_in_full_on"]) == (
        Decimal("700000.00"), date(2026, 10, 8), date(2026, 10, 8)) and rows == derived(api, c.id)


def contract_rows(api, instance_id: str) -> tuple[dict, dict]:
    """(the contract_deadlines row stored, the one contract_row_for derives from the contract and its tasks now)."""
    with api.db.read() as s:
        row = s.get(ContractDeadline, instance_id)
        got = {c.key: getattr(row, c.key) for c in inspect(ContractDeadline).column_attrs}
        inst = s.get(Instance, instance_id)
        dues = obligations.task_dues(s.connection(), [instance_id])[1].get(instance_id, {})
        return got, obligations.contract_row_for(inst.id, inst.department_code, inst.data, dues)


def test_the_contract_row_follows_its_dates_and_deadlines(api):
    c = Contract(api, "OBL-3", tendering_works())  # award 08-03: R04's signing period ends 09-02
    got, want = contract_rows(api, c.id)
    assert got == want and got["awarded_on"] == date(2026, 8, 3) and got["sign_last_day"] == date(2026, 9, 2)
    assert (got["signed_on"], got["file_last_day"], got["bid_exempt"], got["works_terms"]) == (None, None, False, False)
    c.run(until="review")  # signed, confirmed, filed
    got, want = contract_rows(api, c.id)
    assert got == want and got["signed_on"] is not None and got["filed_on"] is not None
    assert got["file_last_day"] is not None and got["bid_release_due_at"] is not None


def test_a_contract_with_one_milestone_has_one_row(api):
    c = Contract(api, "OBL-2", one_milestone(tendering_works()))
    c.run(until="pay1")
    [row] = stored(api, c.id)
    assert row["amount"] == Decimal("1200000.00") and row["last_day"] == date(2026, 9, 30)
    assert [row] == derived(api, c.id)
