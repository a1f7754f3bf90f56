"""A works contract paid on measurement (engine/supervision/works_payments.py, post_award_works): the advance
(C01), progress applications with measurement verified or deemed confirmed (C02) and paid (C03), and the final
settlement reviewed (C04) and paid (C04P) — the warnings the rules imply, on the dates they imply, with their
amounts and interest, cleared by paying.

Every figure below is computed by hand from the rules' texts (the registry's periods, the 2026 official
calendar: 2026-09-12 and 2026-11-14 are Saturdays, so periods ending on them run to the Monday after).
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from engine.access import directory
from tests.e2e.test_post_award import SIGNED, at, just_after_midnight, tendering_works

APPLICATION_1, APPLICATION_2, SETTLEMENT_DOC = "1" * 64, "2" * 64, "5" * 64


@pytest.fixture
def works(api, app):
    """A public school (PUB) and the SME contractor CON2, each with a user."""
    with app.extensions["lvyue"].db.transaction() as s:
        directory.add_organisation(s, "PUB", "市第一中学", public_body=True)
        s.flush()
        _, api.people.tokens["pub"] = directory.add_user(s, "pub", "party", "PUB")
    return api


def works_data(**over) -> dict:
    """4 800 000.00; advance 10 % (480 000.00); progress payments 80 % of the confirmed value; settlement;
    retention 3 %; works start agreed for 2026-09-01 (its 7th day before, 08-25, is earlier than a month after
    signing, so C01's month governs)."""
    data = tendering_works(employer="PUB", contractor="CON2", contract_amount="4800000.00", milestones=[],
                           payment_terms={"advance": {"percent": "10"}, "works_start_date": "2026-09-01",
                                          "progress": {"percent": "80"}, "settlement": True})
    data.pop("payment_term_days")
    data.update(over)
    return data


def _sign_and_file(api, iid):
    api.act(iid, "sign_contract", "pub", at(8, 12), {"signed_at": "2026-08-12", "contract_no": "HT-W-001",
                                                      "document_sha256": SIGNED, "amount": "4800000.00"})
    api.confirm(iid, "con2", at(8, 12, hour=15))
    api.act(iid, "release_bid_bond", "pub", at(8, 13), {"released_at": "2026-08-13", "amount": "20000.00",
                                                        "interest": "0.00"})
    api.act(iid, "file_contract", "pub", at(8, 13), {"filed_at": "2026-08-13", "document_sha256": SIGNED})
    api.act(iid, "review_filing", "zj", at(8, 14), {"decision": "accepted", "note": "一致"})


def _by_code(alerts: list[dict]) -> dict[str, dict]:
    out = {}
    for a in alerts:
        assert a["code"] not in out, f"two {a['code']} alerts: {alerts}"
        out[a["code"]] = a
    return out


def test_a_works_contract_raises_exactly_the_warnings_its_rules_imply_and_paying_clears_them(works):
    api = works
    c = api.start("WORKS-1", works_data(), at(8, 4))
    iid = c["id"]
    _sign_and_file(api, iid)

    # C01: one month after signing 08-12 is 09-12, a Saturday → the advance's last day is Monday 09-14.
    api.tick(at(9, 14, 23))
    assert api.alerts() == []
    api.tick(just_after_midnight(9, 15))
    [advance] = api.alerts()
    assert (advance["code"], advance["severity"], advance["amount_overdue"]) == ("ADVANCE_OVERDUE", "orange", "480000.00")
    assert advance["due_at"].startswith("2026-09-14T16:00:00") and advance["legal_basis"].startswith("《建设工程价款结算暂行办法》")
    # Unpaid on 09-20, 6 days late: P05 (public body, SME) 0.05 % a day × 480 000.00 × 6 = 1 440.00.
    assert api.call("GET", f"/api/v1/alerts/{advance['id']}", "admin", when=at(9, 20))["interest_accrued"] == "1440.00"
    api.act(iid, "pay_advance", "pub", at(9, 20), {"paid_at": "2026-09-20", "amount": "480000.00", "voucher_no": "YF-1"})
    advance = api.alert(advance["id"])
    assert advance["status"] == "resolved" and advance["resolution"].startswith("paid 6 days late")

    # Application 1 (period 2026-09), verified in time at 900 000.00: payable 80 % less the advance recovered in the
    # same proportion = 720 000.00 − 480 000.00 × 900 000 / 4 800 000 (90 000.00) = 630 000.00, due 14 days after the
    # verification of 10-10 → 10-24, a Saturday → 10-26; paid on 10-20, on time: no warning.
    api.act(iid, "submit_payment_application", "con2", at(9, 30),
            {"period": "2026-09", "applied_at": "2026-09-30", "value": "1000000.00", "document_sha256": APPLICATION_1})
    api.act(iid, "verify_measurement", "pub", at(10, 10),
            {"verified_at": "2026-10-10", "confirmed_value": "900000.00"})
    [first] = api.call("GET", "/api/v1/contracts/WORKS-1", "admin", when=at(10, 11))["works"]["applications"]
    assert (first["confirmed_amount"], first["payable"], first["payment_last_day"], first["deemed"]) == \
        ("900000.00", "630000.00", "2026-10-26", False)
    api.act(iid, "pay_progress", "pub", at(10, 20), {"paid_at": "2026-10-20", "amount": "630000.00"})

    # Application 2 (period 2026-10) of 1 200 000.00 on 10-31, left unanswered: C02's 14 days end 11-14, a Saturday →
    # 11-16; from 11-17 the report is deemed confirmed at the applied value, and MEASUREMENT_OVERDUE is raised.
    api.act(iid, "submit_payment_application", "con2", at(10, 31),
            {"period": "2026-10", "applied_at": "2026-10-31", "value": "1200000.00", "document_sha256": APPLICATION_2})
    api.tick(at(11, 16, 23))
    assert [a["code"] for a in api.alerts(status="open")] == []
    api.tick(just_after_midnight(11, 17))
    [measurement] = api.alerts(status="open")
    assert (measurement["code"], measurement["severity"], measurement["kind"]) == \
        ("MEASUREMENT_OVERDUE", "orange", "non_performance")
    assert measurement["due_at"].startswith("2026-11-16T16:00:00")
    assert not api.call("GET", f"/api/v1/tasks?instance_id={iid}&element_id=verify_measurement", "pub")["items"]
    # C03: 14 days from the deemed confirmation of 11-17 → 12-01 (Tuesday); payable 960 000.00 − 120 000.00.
    [_, second] = api.call("GET", "/api/v1/contracts/WORKS-1", "admin", when=at(11, 17))["works"]["applications"]
    assert (second["deemed"], second["confirmed_on"], second["payable"], second["payment_last_day"]) == \
        (True, "2026-11-17", "840000.00", "2026-12-01")
    api.tick(at(12, 1, 23))
    assert {a["code"] for a in api.alerts(status="open")} == {"MEASUREMENT_OVERDUE"}
    api.tick(just_after_midnight(12, 2))
    progress = _by_code(api.alerts(status="open"))["PROGRESS_PAYMENT_OVERDUE"]
    assert (progress["severity"], progress["amount_overdue"]) == ("orange", "840000.00")
    assert progress["legal_basis"].startswith("《建设工程价款结算暂行办法》（财建〔2004〕369号）第十三条第（二）项")
    # A part payment lowers the arrears and keeps both warnings open; the rest on 12-05 clears them.
    api.act(iid, "pay_progress", "pub", at(12, 3), {"paid_at": "2026-12-03", "amount": "40000.00"})
    open_now = _by_code(api.alerts(status="open"))
    assert set(open_now) == {"MEASUREMENT_OVERDUE", "PROGRESS_PAYMENT_OVERDUE"}
    assert open_now["PROGRESS_PAYMENT_OVERDUE"]["amount_overdue"] == "800000.00"
    api.act(iid, "pay_progress", "pub", at(12, 5), {"paid_at": "2026-12-05", "amount": "800000.00"})
    assert api.alerts(status="open") == []
    progress = api.alert(progress["id"])
    assert progress["status"] == "resolved" and progress["resolution"].startswith("paid 4 days late")

    # Completion acceptance on 12-10; the settlement report of 4 900 000.00 (below 5 000 000: C04A, 20 days) on 12-15,
    # reviewed on 12-30 at 4 850 000.00: payable 4 850 000.00 − 3 % retention (145 500.00) − everything paid
    # (480 000.00 + 630 000.00 + 840 000.00) = 2 754 500.00, due 15 days after the review → 2027-01-14.
    api.act(iid, "confirm_completion", "pub", at(12, 10), {"completed_at": "2026-12-10"})
    api.act(iid, "file_completion", "pub", at(12, 11), {"filed_at": "2026-12-11"})  # R07, on time
    api.act(iid, "submit_settlement", "con2", at(12, 15, year=2026),
            {"submitted_at": "2026-12-15", "value": "4900000.00", "document_sha256": SETTLEMENT_DOC})
    assert not api.call("GET", f"/api/v1/tasks?instance_id={iid}&element_id=submit_payment_application", "con2")["items"]
    api.act(iid, "review_settlement", "pub", at(12, 30), {"reviewed_at": "2026-12-30", "settled_value": "4850000.00"})
    settlement = api.call("GET", "/api/v1/contracts/WORKS-1", "admin", when=at(12, 31))["works"]["settlement"]
    assert (settlement["payable"], settlement["retention"], settlement["outstanding"], settlement["payment_last_day"]) == \
        ("4704500.00", "145500.00", "2754500.00", "2027-01-14")
    api.tick(at(1, 14, 23, year=2027))
    assert api.alerts(status="open") == []
    api.tick(just_after_midnight(1, 15, year=2027))
    [late] = api.alerts(status="open")
    assert (late["code"], late["severity"], late["amount_overdue"]) == ("SETTLEMENT_PAYMENT_OVERDUE", "orange", "2754500.00")
    # Interest to 2027-01-20 (6 days): 2 754 500.00 × 0.05 % × 6 = 8 263.50.
    assert api.call("GET", f"/api/v1/alerts/{late['id']}", "admin", when=at(1, 20, year=2027))["interest_accrued"] == "8263.50"
    api.act(iid, "pay_settlement", "pub", at(1, 20, year=2027), {"paid_at": "2027-01-20", "amount": "2754500.00"})
    assert api.alerts(status="open") == []
    assert api.alert(late["id"])["status"] == "resolved"

    # Exactly these four warnings in all, each resolved; the ledger's payments name what they paid.
    everything = _by_code(api.alerts())
    assert set(everything) == {"ADVANCE_OVERDUE", "MEASUREMENT_OVERDUE", "PROGRESS_PAYMENT_OVERDUE",
                               "SETTLEMENT_PAYMENT_OVERDUE"}
    assert all(a["status"] == "resolved" for a in everything.values())
    ledger = api.ledger("WORKS-1")
    kinds = [(p["kind"], p["amount"]) for p in ledger["payments"]]
    assert kinds == [("advance", "480000.00"), ("progress", "630000.00"), ("progress", "40000.00"),
                     ("progress", "800000.00"), ("settlement", "2754500.00")]
    assert sum(Decimal(p["amount"]) for p in ledger["payments"]) == Decimal("4704500.00")


def test_the_monthly_report_counts_works_arrears_by_age_with_interest(works):
    """The report of 2026-12 (at its last day, 24:00): the deemed application's progress payment, due 12-01, was
    paid on 12-05 — so none is owed at month end; unpaid instead, it is 840 000.00, 30 days overdue (≤ 30 bucket),
    interest 840 000.00 × 0.05 % × 30 = 12 600.00; the advance (due 09-14) paid on 12-20: owed at the end of
    November 480 000.00 for 77 days (31–90), interest 480 000.00 × 0.05 % × 77 = 18 480.00."""
    api = works
    iid = api.start("WORKS-R", works_data(funding_source="special_bonds"), at(8, 4))["id"]
    _sign_and_file(api, iid)
    api.act(iid, "submit_payment_application", "con2", at(10, 31),
            {"period": "2026-10", "applied_at": "2026-10-31", "value": "1200000.00", "document_sha256": APPLICATION_2})
    api.tick(just_after_midnight(12, 2))

    def arrears(month: str, when) -> dict:
        return api.call("GET", f"/api/v1/reports/monthly?month={month}", "zj", when=when)["arrears"]

    dash = api.call("GET", "/api/v1/reports/dashboard", "zj", at(12, 3))["arrears_by_age"]
    # Now (12-03): the advance 80 days overdue (31–90), the progress payment 2 days (0–30), both from special bonds.
    assert dash["by_funding_source"] == [{"funding_source": "special_bonds", "by_age": {
        **{label: {"amount": "0.00", "alerts": 0} for label in dash["buckets"]},
        "0-30": {"amount": "840000.00", "alerts": 1}, "31-90": {"amount": "480000.00", "alerts": 1}}}]
    november = arrears("2026-11", at(12, 3))
    assert (november["amount"], november["milestones"], november["interest_accrued"]) == ("480000.00", 1, "18480.00")
    assert november["by_age"]["31-90"] == {"amount": "480000.00", "milestones": 1}
    api.act(iid, "pay_advance", "pub", at(12, 20), {"paid_at": "2026-12-20", "amount": "480000.00"})
    december = arrears("2026-12", at(12, 31, 23))
    # The advance was paid within December: only the progress payment is owed at its end.
    assert (december["amount"], december["milestones"], december["interest_accrued"]) == ("840000.00", 1, "12600.00")
    assert december["by_age"]["0-30"] == {"amount": "840000.00", "milestones": 1}
    assert december["by_employer"]["PUB"]["amount"] == "840000.00"
    by_fund = december["by_funding_source"]
    assert list(by_fund) == ["special_bonds"] and by_fund["special_bonds"]["interest_accrued"] == "12600.00"
    assert by_fund["special_bonds"]["by_age"]["0-30"] == {"amount": "840000.00", "milestones": 1}


def test_a_settlement_left_unreviewed_is_deemed_accepted_at_its_tier(works):
    """A report of 6 000 000.00 (C04B: 30 days) submitted on 2026-12-15 and not reviewed: deemed accepted after
    2027-01-14 (Thursday); SETTLEMENT_REVIEW_OVERDUE raised on 01-15; the settlement (6 000 000.00 less 3 %
    retention 180 000.00, nothing paid before) is due 15 days after the deemed acceptance of 01-15 → 01-30, a
    Saturday → 2027-02-01."""
    api = works
    data = works_data(contract_amount="5800000.00", payment_terms={"settlement": True})
    iid = api.start("WORKS-S", data, at(8, 4))["id"]
    api.act(iid, "sign_contract", "pub", at(8, 12), {"signed_at": "2026-08-12", "contract_no": "HT-W-002",
                                                      "document_sha256": SIGNED, "amount": "5800000.00"})
    api.confirm(iid, "con2", at(8, 12, hour=15))
    api.act(iid, "release_bid_bond", "pub", at(8, 13), {"released_at": "2026-08-13", "amount": "20000.00",
                                                        "interest": "0.00"})
    api.act(iid, "file_contract", "pub", at(8, 13), {"filed_at": "2026-08-13", "document_sha256": SIGNED})
    # Before completion acceptance the settlement report is refused, naming the field.
    early = api.call("GET", f"/api/v1/tasks?instance_id={iid}&element_id=submit_settlement", "con2")["items"]
    r = api.call("POST", f"/api/v1/tasks/{early[0]['id']}/complete", "con2", at(9, 1), expect=422,
                 json={"data": {"submitted_at": "2026-09-01", "value": "6000000.00", "document_sha256": SETTLEMENT_DOC}})
    assert "completion acceptance" in " ".join(r["errors"]["data.submitted_at"])
    api.act(iid, "review_filing", "zj", at(8, 14), {"decision": "accepted", "note": "一致"})
    api.act(iid, "confirm_completion", "pub", at(12, 10), {"completed_at": "2026-12-10"})
    api.act(iid, "file_completion", "pub", at(12, 11), {"filed_at": "2026-12-11"})  # R07, on time
    api.act(iid, "submit_settlement", "con2", at(12, 15),
            {"submitted_at": "2026-12-15", "value": "6000000.00", "document_sha256": SETTLEMENT_DOC})
    api.tick(at(1, 14, 23, year=2027))
    assert api.alerts(status="open") == []
    api.tick(just_after_midnight(1, 15, year=2027))
    [review] = api.alerts(status="open")
    assert (review["code"], review["severity"]) == ("SETTLEMENT_REVIEW_OVERDUE", "orange")
    assert review["due_at"].startswith("2027-01-14T16:00:00")
    settlement = api.call("GET", "/api/v1/contracts/WORKS-S", "admin", when=at(1, 15, year=2027))["works"]["settlement"]
    assert (settlement["review_rule"], settlement["deemed"], settlement["payable"], settlement["payment_last_day"]) == \
        ("C04B", True, "5820000.00", "2027-02-01")
    api.tick(just_after_midnight(2, 2, year=2027))
    codes = {a["code"]: a for a in api.alerts(status="open")}
    assert codes["SETTLEMENT_PAYMENT_OVERDUE"]["amount_overdue"] == "5820000.00"
    api.act(iid, "pay_settlement", "pub", at(2, 3, year=2027), {"paid_at": "2027-02-03", "amount": "5820000.00"})
    assert api.alerts(status="open") == []
    # The retention is 3 % of the settlement price (138号 art 7), not of the contract amount: the defect liability
    # period (2 months from 12-10) ends 2027-02-10; applied for on 02-11, it is due 28 days later (Q04) → 03-11.
    api.act(iid, "request_retention_release", "con2", at(2, 11, year=2027), {"requested_at": "2027-02-11"})
    api.tick(just_after_midnight(3, 12, year=2027))
    [retention] = api.alerts(status="open")
    assert (retention["code"], retention["amount_overdue"]) == ("RETENTION_RELEASE_OVERDUE", "180000.00")


def test_implausible_works_entries_are_refused_naming_the_field_and_change_nothing(works):
    api = works
    iid = api.start("WORKS-P", works_data(), at(8, 4))["id"]
    _sign_and_file(api, iid)
    advance = api.call("GET", f"/api/v1/tasks?instance_id={iid}&element_id=pay_advance", "pub")["items"][0]

    def refused(task_id: str, who: str, when, data: dict, field: str, words: str) -> None:
        before = api.call("GET", f"/api/v1/instances/{iid}/history?limit=500", "admin")["items"]
        r = api.call("POST", f"/api/v1/tasks/{task_id}/complete", who, when, expect=422, json={"data": data})
        assert words in " ".join(r["errors"][field]), r["errors"]
        assert api.call("GET", f"/api/v1/instances/{iid}/history?limit=500", "admin")["items"] == before

    refused(advance["id"], "pub", at(9, 1), {"paid_at": "2026-09-01", "amount": "0.00"}, "data.amount", "greater than 0.00")
    refused(advance["id"], "pub", at(9, 1), {"paid_at": "2026-09-01", "amount": "480000.01"}, "data.amount",
            "more than is outstanding")
    refused(advance["id"], "pub", at(9, 1), {"paid_at": "2026-09-02", "amount": "1.00"}, "data.paid_at", "future")
    refused(advance["id"], "pub", at(9, 1), {"paid_at": "2026-08-11", "amount": "1.00"}, "data.paid_at", "the signing")
    # Declared with a reason, an overpayment is taken and the advance is paid.
    api.act(iid, "pay_advance", "pub", at(9, 1), {"paid_at": "2026-09-01", "amount": "480000.01", "overpayment": True,
                                                 "overpayment_reason": "银行手续费误差"})
    apply = api.call("GET", f"/api/v1/tasks?instance_id={iid}&element_id=submit_payment_application", "con2")["items"][0]
    refused(apply["id"], "con2", at(9, 30), {"period": "2026-09", "applied_at": "2026-09-30", "value": "0.00",
                                             "document_sha256": APPLICATION_1}, "data.value", "greater than 0.00")
    api.act(iid, "submit_payment_application", "con2", at(9, 30),
            {"period": "2026-09", "applied_at": "2026-09-30", "value": "1000000.00", "document_sha256": APPLICATION_1})
    again = api.call("GET", f"/api/v1/tasks?instance_id={iid}&element_id=submit_payment_application", "con2")["items"][0]
    refused(again["id"], "con2", at(10, 1), {"period": "2026-10", "applied_at": "2026-10-01", "value": "5.00",
                                             "document_sha256": APPLICATION_1}, "data.document_sha256", "already submitted")
    verify = api.call("GET", f"/api/v1/tasks?instance_id={iid}&element_id=verify_measurement", "pub")["items"][0]
    refused(verify["id"], "pub", at(10, 5), {"verified_at": "2026-10-05", "confirmed_value": "1000000.01"},
            "data.confirmed_value", "at most what was applied for")
    refused(verify["id"], "pub", at(10, 5), {"verified_at": "2026-09-29", "confirmed_value": "1.00"},
            "data.verified_at", "the application")


def test_a_works_payment_entered_wrongly_is_corrected_and_its_warning_recomputed(works):
    """The deemed application's progress payment (840 000.00, due 12-01) typed as 84 000.00 on 12-05: the warning
    stays open for 756 000.00; corrected to 840 000.00 it resolves, the ledger shows the corrected row and the
    history keeps the original."""
    api = works
    iid = api.start("WORKS-C", works_data(), at(8, 4))["id"]
    _sign_and_file(api, iid)
    api.act(iid, "pay_advance", "pub", at(9, 1), {"paid_at": "2026-09-01", "amount": "480000.00"})
    api.act(iid, "submit_payment_application", "con2", at(10, 31),
            {"period": "2026-10", "applied_at": "2026-10-31", "value": "1200000.00", "document_sha256": APPLICATION_2})
    api.tick(just_after_midnight(12, 2))
    paid = api.act(iid, "pay_progress", "pub", at(12, 5), {"paid_at": "2026-12-05", "amount": "84000.00"})
    progress = _by_code(api.alerts(status="open"))["PROGRESS_PAYMENT_OVERDUE"]
    assert progress["amount_overdue"] == "756000.00"
    [task] = [e["data"]["task_id"] for e in api.call("GET", f"/api/v1/instances/{iid}/history?limit=500", "admin")["items"]
              if e["action"] == "task_completed" and e["element_id"] == "pay_progress"]
    # Another party may not correct the employer's entry; the employer can.
    api.call("POST", "/api/v1/contracts/WORKS-C/corrections", "con2", at(12, 6), 403,
             json={"task_id": task, "data": {"amount": "840000.00"}, "reason": "录入错误"})
    api.call("POST", "/api/v1/contracts/WORKS-C/corrections", "pub", at(12, 6), 201,
             json={"task_id": task, "data": {"amount": "840000.00"}, "reason": "少录一位"})
    assert api.alerts(status="open") == []
    assert api.alert(progress["id"])["status"] == "resolved"
    ledger = api.call("GET", "/api/v1/contracts/WORKS-C", "admin", when=at(12, 6))
    assert [(p["kind"], p["amount"]) for p in ledger["payments"]] == [("advance", "480000.00"), ("progress", "840000.00")]
    assert ledger["works"]["applications"][0]["outstanding"] == "0.00"
    [correction] = ledger["corrections"]
    assert (correction["before"]["amount"], correction["after"]["amount"]) == ("84000.00", "840000.00")
    assert paid is not None


def test_a_measurement_confirmed_at_nothing_owes_nothing_and_leaves_no_payment_task(works):
    api = works
    iid = api.start("WORKS-Z", works_data(), at(8, 4))["id"]
    _sign_and_file(api, iid)
    api.act(iid, "submit_payment_application", "con2", at(9, 30),
            {"period": "2026-09", "applied_at": "2026-09-30", "value": "1000000.00", "document_sha256": APPLICATION_1})
    api.act(iid, "verify_measurement", "pub", at(10, 5), {"verified_at": "2026-10-05", "confirmed_value": "0.00",
                                                          "note": "本期无合格工程量"})
    assert not api.call("GET", f"/api/v1/tasks?instance_id={iid}&element_id=pay_progress", "pub")["items"]
    [entry] = api.call("GET", "/api/v1/contracts/WORKS-Z", "admin", when=at(10, 6))["works"]["applications"]
    assert (entry["confirmed_amount"], entry["payable"], entry["outstanding"]) == ("0.00", "0.00", "0.00")
    api.tick(just_after_midnight(10, 25))
    assert [a["code"] for a in api.alerts(status="open")] == ["ADVANCE_OVERDUE"]  # the advance, due 09-14, only
