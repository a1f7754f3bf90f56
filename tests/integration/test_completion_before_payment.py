"""Issue 16, acceptance 2: completion acceptance is separate from payment (R07, C04, Q03–Q05).

A contract whose only milestone is delivered and accepted but not paid can be confirmed complete: the
defect liability period (works, retention held) and the performance guarantee release (goods) start,
counted from the completion date, while the milestone's PAYMENT_OVERDUE alert stays open. Paying later
resolves it, and the contract ends only when both the completion branch and the payments are done.
Completion before every milestone is accepted, or dated before the last acceptance, is refused (422 on
data.completed_at) with nothing written. Both databases.

The timeline is tests/e2e/test_post_award.py's: award notice 08-03, signed 08-12, filed 08-13, filing
accepted 08-14, delivered 08-28, accepted and invoiced 08-31. The contract's own payment term, 30 days from
the acceptance, ends 09-30 24:00; the arrears alert is orange from 10-01. Completion here: 10-12 (Mon).
"""
from __future__ import annotations


from tests.e2e.test_post_award import Api, Contract, at, just_after_midnight, one_milestone, procurement_goods, \
    tendering_works
from tests.integration.test_money_and_dates import refused


def waiting(api: Api, c: Contract) -> dict[str, str]:
    return {t["element_id"]: t["due_at"] for t in api.instance(c.id)["timers"] if t["status"] == "waiting"}


def _overdue_and_completed(api: Api, c: Contract) -> dict:
    c.run(until="pay1")
    api.tick(just_after_midnight(10, 1))
    [alert] = api.alerts("admin")
    assert alert["code"] == "PAYMENT_OVERDUE" and alert["status"] == "open" and alert["amount_overdue"] == c.data[
        "contract_amount"]
    c.step("complete", at(10, 12), completed_at="2026-10-12")
    return alert


def test_works_completion_with_the_milestone_unpaid_starts_the_defect_liability_period(api):
    c = Contract(api, "DONE-UNPAID-WORKS", one_milestone(tendering_works()))
    alert = _overdue_and_completed(api, c)

    # Defect liability of 2 calendar months from the completion 10-12 → 12-12 24:00 China time.
    assert waiting(api, c)["defect_liability_period"].startswith("2026-12-12T16:00:00")
    view = api.instance(c.id)
    assert view["status"] == "running"
    # only the payment is awaited, and the completion-acceptance filing (R07) that completion starts
    assert {t["element_id"] for t in view["tasks"]} == {"record_payment", "file_completion"}
    [still] = api.alerts("admin")
    assert still["id"] == alert["id"] and still["status"] == "open"
    assert api.ledger(c.key, "zj")["dates"]["completed_at"] == "2026-10-12"

    c.step("pay1", at(10, 20), paid_at="2026-10-20")
    [paid] = api.alerts("admin")
    assert paid["status"] == "resolved" and paid["resolution"] == "paid 20 days late (on 2026-10-20)"
    assert api.instance(c.id)["status"] == "running"  # the retention is still held

    c.step("file_completion", at(10, 20, hour=11), filed_at="2026-10-20")  # R07: 15 days from 10-12, on time
    c.step("request_retention", at(12, 14), requested_at="2026-12-14")
    c.step("release_retention", at(12, 21), released_at="2026-12-21")
    assert api.instance(c.id)["status"] == "completed"


def test_goods_completion_with_the_milestone_unpaid_starts_the_guarantee_release_clock(api):
    c = Contract(api, "DONE-UNPAID-GOODS", one_milestone(procurement_goods()))
    alert = _overdue_and_completed(api, c)

    # Q07: 15 working days from the completion 10-12 → 10-13 … 11-02 (Mon) 24:00 China time.
    timers = waiting(api, c)
    assert timers["guarantee_release_timer_orange"].startswith("2026-11-02T16:00:00")
    assert "record_payment" in {t["element_id"] for t in api.instance(c.id)["tasks"]}
    # The guarantee validity watch ended with the completion (performance_completed).
    assert not {"guarantee_expiry_near"} & set(timers)

    c.step("release_guarantee", at(10, 14), released_at="2026-10-14")
    assert api.instance(c.id)["status"] == "running"  # the milestone is still unpaid
    assert api.alert(alert["id"])["status"] == "open"

    c.step("pay1", at(10, 20), paid_at="2026-10-20")
    assert api.alert(alert["id"])["status"] == "resolved"
    view = api.instance(c.id)
    assert view["status"] == "completed" and view["tasks"] == []


def test_completion_waits_for_every_milestone_to_be_accepted(api):
    c = Contract(api, "DONE-TOO-EARLY", tendering_works())  # two milestones
    c.run(until="deliver2", skip=("pay1",))
    complete = api.task(c.id, "confirm_completion", "emp")
    path = f"/api/v1/tasks/{complete['id']}/complete"
    before = api.instance(c.id)
    problem = refused(api, "POST", path, "emp", at(9, 10), {"data": {"completed_at": "2026-09-10"}}, "data.completed_at")
    assert any("milestone 2 (竣工验收) is not delivered yet" in m for m in problem["errors"]["data.completed_at"])
    assert api.instance(c.id)["tasks"] == before["tasks"]

    c.step("deliver2")
    problem = refused(api, "POST", path, "emp", at(9, 15), {"data": {"completed_at": "2026-09-15"}}, "data.completed_at")
    assert any("delivered but not accepted" in m for m in problem["errors"]["data.completed_at"])

    c.step("accept2")
    # Dated before the last acceptance (09-16): refused.
    problem = refused(api, "POST", path, "emp", at(9, 17), {"data": {"completed_at": "2026-09-15"}}, "data.completed_at")
    assert any("before the acceptance of milestone 2" in m for m in problem["errors"]["data.completed_at"])
    problem = refused(api, "POST", path, "emp", at(9, 17), {"data": {"completed_at": "2026-09-18"}}, "data.completed_at")
    assert any("is in the future" in m for m in problem["errors"]["data.completed_at"])
    c.step("complete", at(9, 17), completed_at="2026-09-16")
    assert api.task(c.id, "record_payment", "emp", milestone=1)  # milestone 1 unpaid, still awaited
