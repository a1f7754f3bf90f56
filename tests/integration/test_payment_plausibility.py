"""Issue 16, acceptance 4 (first half): what the parties report must be plausible
(engine/supervision/plausibility.py).

A payment or invoice of 0.00, a payment above what is outstanding on its milestone (unless declared an
overpayment with a reason), a business date after today (the engine clock's China date) or before the
event it follows (award notice ≤ signing ≤ filing; signing ≤ delivery ≤ acceptance ≤ payment; signing ≤
invoice) is refused with a 422 naming the field and the rule, and the contract, its audit trail, its
guarantees and its ledger are exactly as they were. A declared overpayment is accepted and shown as such
in the ledger; the on-time contract passes. Both databases.

The contract: tendering/works, one milestone of 1 200 000.00; award notice 08-03, signed 08-12, filed
08-13, delivered 08-28, accepted 08-31, invoiced 08-31, paid 09-04 (tests/e2e/test_post_award.py).
"""
from __future__ import annotations

import pytest

from tests.e2e.test_post_award import Api, Contract, at, one_milestone, tendering_works
from tests.integration.test_money_and_dates import refused, snapshot


def everything(api: Api, c: Contract) -> tuple:
    """The contract, its audit trail, its guarantees, and its ledger (payments, invoices, milestones)."""
    return snapshot(api, c.id), api.ledger(c.key)


def refuse(api: Api, c: Contract, name: str, field: str, when=None, milestone: int | None = None, **changes) -> str:
    """Complete the baseline step `name` with `changes` at `when`: refused with 422 naming `field`, nothing
    changed. Returns the message of `field`."""
    _, element, lane, instant, payload, no = c.steps[name]
    when = when or instant
    api.tick(when)
    task = api.task(c.id, element, c.who[lane], milestone if milestone is not None else no)
    before = everything(api, c)
    problem = refused(api, "POST", f"/api/v1/tasks/{task['id']}/complete", c.who[lane], when,
                      {"data": {**payload, **changes}}, field)
    assert list(problem["errors"]) == [field], problem
    assert everything(api, c) == before
    [message] = problem["errors"][field]
    return message


def contract(api: Api, key: str) -> Contract:
    return Contract(api, key, one_milestone(tendering_works()))


# ------------------------------------------------------------------------------------ amounts
def test_a_payment_of_zero_is_refused_and_changes_nothing(api):
    c = contract(api, "PL-PAY-ZERO")
    c.run(until="pay1")
    message = refuse(api, c, "pay1", "data.amount", amount="0.00")
    assert "greater than 0.00" in message
    c.run()  # the real payment still goes through
    assert [p["amount"] for p in api.ledger(c.key)["payments"]] == ["1200000.00"]


def test_an_invoice_of_zero_is_refused_and_changes_nothing(api):
    c = contract(api, "PL-INV-ZERO")
    c.run(until="invoice1")
    assert "greater than 0.00" in refuse(api, c, "invoice1", "data.amount", amount="0.00")


def test_a_payment_above_the_outstanding_is_refused_naming_the_outstanding(api):
    c = contract(api, "PL-PAY-OVER")
    c.run(until="pay1")
    message = refuse(api, c, "pay1", "data.amount", amount="999999999999.99")
    assert "999999999999.99 is more than is outstanding" in message and "outstanding 1200000.00" in message
    assert "overpayment" in message
    # After a part payment the outstanding is the rest: 1 200 000.00 - 500 000.00.
    c.step("pay1", amount="500000.00")
    message = refuse(api, c, "pay1", "data.amount", when=at(9, 5), paid_at="2026-09-05", amount="700000.01")
    assert "paid 500000.00, outstanding 700000.00" in message
    c.step("pay1", at(9, 5), paid_at="2026-09-05", amount="700000.00")  # exactly the rest passes
    milestone = api.ledger(c.key)["milestones"][0]
    assert (milestone["status"], milestone["paid_amount"], milestone["overpaid"]) == ("paid", "1200000.00", "0.00")


def test_an_overpayment_needs_a_reason_and_a_declared_one_must_be_one(api):
    c = contract(api, "PL-PAY-DECL")
    c.run(until="pay1")
    assert "required" in refuse(api, c, "pay1", "data.overpayment_reason", amount="1250000.00", overpayment=True)
    assert "required" in refuse(api, c, "pay1", "data.overpayment_reason", amount="1250000.00", overpayment=True,
                                overpayment_reason="   ")
    message = refuse(api, c, "pay1", "data.overpayment", amount="1200000.00", overpayment=True,
                     overpayment_reason="重复支付")
    assert "not more than is outstanding" in message


def test_a_declared_overpayment_is_accepted_and_shown_in_the_ledger(api):
    c = contract(api, "PL-PAY-OK")
    c.run(until="pay1")
    c.step("pay1", amount="1250000.00", overpayment=True, overpayment_reason="误将质保金一并支付，待退回")
    ledger = api.ledger(c.key)
    [payment] = ledger["payments"]
    assert (payment["amount"], payment["overpayment"], payment["overpayment_reason"]) == \
        ("1250000.00", True, "误将质保金一并支付，待退回")
    [milestone] = ledger["milestones"]
    assert (milestone["status"], milestone["paid_amount"], milestone["outstanding"], milestone["overpaid"]) == \
        ("paid", "1250000.00", "0.00", "50000.00")


# ------------------------------------------------------------------------------------ dates in the future
@pytest.mark.parametrize("name, field, day", [
    ("sign", "data.signed_at", "2026-08-13"),
    ("file", "data.filed_at", "2026-08-14"),
    ("deliver1", "data.delivered_at", "2026-10-07"),   # 40 days after 08-28
    ("accept1", "data.accepted_at", "2026-09-01"),
    ("invoice1", "data.issued_at", "2026-09-01"),
    ("pay1", "data.paid_at", "2026-09-05"),
])
def test_a_business_date_after_today_is_refused(api, name, field, day):
    c = contract(api, f"PL-FUTURE-{name}")
    c.run(until=name)
    today = c.steps[name][3].date().isoformat()
    message = refuse(api, c, name, field, **{field.removeprefix("data."): day})
    assert f"{day} is in the future" in message and f"after today ({today}, China time)" in message


def test_a_date_of_today_in_china_is_not_in_the_future_at_00_30_china_time(api):
    # 09-04 00:30 in China is still 09-03 in UTC: "today" is the China date.
    c = contract(api, "PL-TODAY")
    c.run(until="pay1")
    c.step("pay1", at(9, 4, hour=0).replace(minute=30), paid_at="2026-09-04")
    assert [p["paid_at"] for p in api.ledger(c.key)["payments"]] == ["2026-09-04"]


# ------------------------------------------------------------------------------------ dates out of order
@pytest.mark.parametrize("name, field, day, rule", [
    ("sign", "data.signed_at", "2026-08-02", "before the award notice (award_notice_date 2026-08-03)"),
    ("file", "data.filed_at", "2026-08-11", "before the signing (signed_at 2026-08-12)"),
    ("deliver1", "data.delivered_at", "2026-08-11", "before the signing (signed_at 2026-08-12)"),
    ("accept1", "data.accepted_at", "2026-08-27", "before the delivery (delivered_at 2026-08-28)"),
    ("invoice1", "data.issued_at", "2026-08-11", "before the signing (signed_at 2026-08-12)"),
    ("pay1", "data.paid_at", "2026-08-30", "before the acceptance (accepted_at 2026-08-31)"),
])
def test_a_business_date_before_the_event_it_follows_is_refused(api, name, field, day, rule):
    c = contract(api, f"PL-ORDER-{name}")
    c.run(until=name)
    assert refuse(api, c, name, field, **{field.removeprefix("data."): day}) == f"{day} is {rule}: it may not precede it"


def test_the_same_day_as_the_event_it_follows_passes(api):
    c = contract(api, "PL-SAME-DAY")
    c.run(until="deliver1")
    c.step("deliver1", at(8, 31), delivered_at="2026-08-31")
    c.step("accept1", accepted_at="2026-08-31")
    c.step("invoice1", issued_at="2026-08-31")
    c.step("pay1", at(8, 31, hour=17), paid_at="2026-08-31")
    assert api.ledger(c.key)["milestones"][0]["status"] == "paid"


# ------------------------------------------------------------------------------------ the plausible contract
def test_the_on_time_contract_still_passes(api):
    c = contract(api, "PL-ON-TIME")
    c.run()
    ledger = api.ledger(c.key)
    assert ledger["status"] == "completed" and ledger["alerts"] == []
    assert [(p["amount"], p["overpayment"], p["overpayment_reason"]) for p in ledger["payments"]] == \
        [("1200000.00", False, None)]
