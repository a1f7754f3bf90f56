"""Issue 16, acceptance 4 (second half): a party corrects its own ledger entry
(`POST /api/v1/contracts/{key}/corrections`, engine/supervision/corrections.py).

The correction changes the ledger row and the milestone's paid figures, keeps the original `task_completed`
event as it was and adds an `entry_corrected` one, settles the open arrears alert again (resolved when the
obligation is now met, its amount updated otherwise), is listed in the ledger for the supervisor, and leaves
`lvyue audit verify` clean. Another party is refused (403) and an implausible correction is refused (422
naming the field), each with nothing changed. Both databases.

The contract: tendering/works, one milestone of 1 200 000.00, accepted 08-31, the payment due 09-30 24:00
(tests/e2e/test_post_award.py); the employer enters a payment of 500 000.00 on 10-09 where it paid more.
"""
from __future__ import annotations

import pytest

from engine.runtime import audit
from tests.e2e.test_post_award import Api, Contract, at, just_after_midnight, one_milestone, tendering_works
from tests.integration.test_money_and_dates import _send, refused, snapshot


def history(api: Api, instance_id: str) -> list[dict]:
    return api.call("GET", f"/api/v1/instances/{instance_id}/history?limit=500", "admin")["items"]


def partly_paid(api: Api, key: str) -> tuple[Contract, str, dict]:
    """The contract with its payment overdue and a payment of 500 000.00 entered on 10-09: (contract, the
    record_payment task id of that entry, the open alert)."""
    c = Contract(api, key, one_milestone(tendering_works()))
    c.run(until="pay1")
    api.tick(just_after_midnight(10, 1))
    c.step("pay1", at(10, 9), paid_at="2026-10-09", amount="500000.00")
    [alert] = api.alerts("zj")
    assert alert["status"] == "open" and alert["amount_overdue"] == "700000.00"
    [entry] = [e for e in history(api, c.id) if e["action"] == "task_completed" and e["element_id"] == "record_payment"]
    return c, entry["data"]["task_id"], alert


def correct(api: Api, c: Contract, task_id: str, data: dict, who: str = "emp", when=None, expect: int = 201,
            reason: str = "录入错误：凭证金额为 1,200,000.00") -> dict:
    return api.call("POST", f"/api/v1/contracts/{c.key}/corrections", who, when or at(10, 12), expect,
                    json={"task_id": task_id, "data": data, "reason": reason})


def verify_clean(api: Api) -> None:
    with api.db.read() as session:
        assert list(audit.verify(session)) == []


def test_a_corrected_payment_changes_the_ledger_resolves_the_alert_and_keeps_the_original(api):
    c, task_id, alert = partly_paid(api, "CORR-FULL")
    original = [e for e in history(api, c.id) if e["action"] == "task_completed" and e["data"]["task_id"] == task_id]

    out = correct(api, c, task_id, {"amount": "1200000.00"})
    assert out["before"]["amount"] == "500000.00" and out["after"]["amount"] == "1200000.00"

    ledger = api.ledger(c.key, "zj")
    assert [(p["paid_at"], p["amount"]) for p in ledger["payments"]] == [("2026-10-09", "1200000.00")]
    assert ledger["milestones"][0]["paid_amount"] == "1200000.00" and ledger["milestones"][0]["status"] == "paid"
    assert ledger["arrears_amount"] == "0.00" and ledger["alerts"] == []
    [resolved] = api.alerts("zj")
    assert resolved["id"] == alert["id"] and resolved["status"] == "resolved"
    assert resolved["resolution"] == "paid 9 days late (on 2026-10-09)"
    [listed] = ledger["corrections"]
    assert listed["by"] == "emp" and listed["task_id"] == task_id and listed["milestone_no"] == 1
    assert listed["before"]["amount"] == "500000.00" and listed["after"]["amount"] == "1200000.00"
    assert listed["reason"].startswith("录入错误")

    events = history(api, c.id)
    assert [e for e in events if e["action"] == "task_completed" and e["data"]["task_id"] == task_id] == original
    assert original[0]["data"]["data"]["amount"] == "500000.00"
    [corrected] = [e for e in events if e["action"] == "entry_corrected"]
    assert corrected["data"]["task_id"] == task_id and corrected["data"]["before"]["amount"] == "500000.00"
    assert corrected["data"]["after"]["amount"] == "1200000.00" and corrected["data"]["reason"].startswith("录入错误")
    verify_clean(api)


def test_a_corrected_partial_payment_updates_the_open_alert_and_the_next_payment_counts_from_it(api):
    c, task_id, alert = partly_paid(api, "CORR-PART")
    correct(api, c, task_id, {"amount": "600000.00", "voucher_no": "GK-0001-A"})
    [still] = api.alerts("zj")
    assert still["id"] == alert["id"] and still["status"] == "open" and still["amount_overdue"] == "600000.00"
    ledger = api.ledger(c.key, "zj")
    assert ledger["arrears_amount"] == "600000.00" and ledger["milestones"][0]["outstanding"] == "600000.00"
    assert [(p["amount"], p["voucher_no"]) for p in ledger["payments"]] == [("600000.00", "GK-0001-A")]
    # The process counts from the corrected total: the rest, 600 000.00, completes the milestone.
    c.step("pay1", at(10, 20), paid_at="2026-10-20", amount="600000.00")
    [paid] = api.alerts("zj")
    assert paid["status"] == "resolved"
    assert api.ledger(c.key, "zj")["milestones"][0]["status"] == "paid"
    verify_clean(api)


def test_another_party_may_not_correct_the_entry_and_nothing_changes(api):
    c, task_id, _ = partly_paid(api, "CORR-403")
    before = snapshot(api, c.id), api.ledger(c.key)
    problem = correct(api, c, task_id, {"amount": "1200000.00"}, who="con", expect=403)
    assert problem["status"] == 403
    correct(api, c, task_id, {"amount": "1200000.00"}, who="zj", expect=403)
    assert (snapshot(api, c.id), api.ledger(c.key)) == before


@pytest.mark.parametrize("data, field, words", [
    ({"amount": "0.00"}, "data.amount", "greater than 0.00"),
    ({"amount": "1300000.00"}, "data.amount", "more than is outstanding"),
    ({"paid_at": "2026-10-30"}, "data.paid_at", "in the future"),
    ({"paid_at": "2026-08-30"}, "data.paid_at", "before the acceptance"),
    ({"amount": "12,000.00"}, "data.amount", ""),
    ({"paid_on": "2026-10-09"}, "data.paid_on", ""),
])
def test_an_implausible_correction_is_refused_naming_the_field_and_changes_nothing(api, data, field, words):
    c, task_id, _ = partly_paid(api, f"CORR-422-{field}-{len(str(data))}")
    before = snapshot(api, c.id), api.ledger(c.key)
    problem = refused(api, "POST", f"/api/v1/contracts/{c.key}/corrections", "emp", at(10, 12),
                      {"task_id": task_id, "data": data, "reason": "typo"}, field)
    assert list(problem["errors"]) == [field], problem
    assert words in " ".join(problem["errors"][field])
    assert (snapshot(api, c.id), api.ledger(c.key)) == before


def test_unknown_contract_or_task_404_a_ready_task_409_no_reason_422(api):
    c, task_id, _ = partly_paid(api, "CORR-CODES")
    correct(api, c, "no-such-task", {"amount": "1.00"}, expect=404)
    api.call("POST", "/api/v1/contracts/NO-SUCH/corrections", "emp", at(10, 12), 404,
             json={"task_id": task_id, "data": {"amount": "1.00"}, "reason": "x"})
    ready = api.task(c.id, "record_payment", "emp", 1)
    correct(api, c, ready["id"], {"amount": "1.00"}, expect=409)
    r = _send(api, "POST", f"/api/v1/contracts/{c.key}/corrections", "emp", at(10, 12),
              {"task_id": task_id, "data": {"amount": "1200000.00"}, "reason": ""})
    assert r.status_code == 422 and "reason" in r.get_json()["errors"]


def test_the_contractor_corrects_its_invoice_and_the_employer_may_not(api):
    c = Contract(api, "CORR-INV", one_milestone(tendering_works()))
    c.run(until="pay1")
    [entry] = [e for e in history(api, c.id) if e["action"] == "task_completed" and e["element_id"] == "submit_invoice"]
    task_id = entry["data"]["task_id"]
    correct(api, c, task_id, {"amount": "1100000.00"}, who="emp", when=at(9, 2), expect=403)
    out = correct(api, c, task_id, {"amount": "1100000.00", "invoice_no": "INV-0001-R"}, who="con", when=at(9, 2),
                  reason="发票已红冲重开")
    # The whole entry before and after, the unchanged fields included.
    assert out["before"] == {"amount": "1200000.00", "invoice_no": "INV-0001", "issued_at": "2026-08-31"}
    assert out["after"] == {"amount": "1100000.00", "invoice_no": "INV-0001-R", "issued_at": "2026-08-31"}
    ledger = api.ledger(c.key, "zj")
    assert [(i["invoice_no"], i["amount"]) for i in ledger["invoices"]] == [("INV-0001-R", "1100000.00")]
    assert ledger["amounts"]["invoiced"] == "1100000.00" and ledger["milestones"][0]["invoiced_amount"] == "1100000.00"
    assert [x["by"] for x in ledger["corrections"]] == ["con"]
    verify_clean(api)
