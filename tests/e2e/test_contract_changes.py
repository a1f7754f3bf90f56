"""Issue 17: the change ledger's value changes (extra items, variations, site instructions, price adjustments), the
publication of a government procurement change (G06) and the termination of a contract, driven through the API
alone on the frozen clock of tests/e2e/test_post_award.py.

One backend (SQLite): nothing here is about SQL behaviour.
"""
from __future__ import annotations

from datetime import date

import chinese_calendar
import pytest
from sqlalchemy import select

from engine.runtime import audit
from engine.storage.models import Alert, InstancePart, TaskRow, Timer
from tests.conftest import ROOT
from tests.e2e.test_post_award import (XML, Contract, at, just_after_midnight, one_milestone, procurement_goods,
                                       tendering_works)
from tests.e2e.test_supplementary import Supplement

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

DOC, DOC2, NOTICE = "1" * 64, "2" * 64, "3" * 64


def change(kind: str, **over) -> dict:
    body = {"kind": kind, "reason": "设计变更", "document_sha256": DOC, "proposed_at": "2026-09-02"}
    body.update(over)
    return body


def agreed(api, key: str, no: int, who: str, when=None, **over) -> dict:
    return api.call("POST", f"/api/v1/contracts/{key}/changes/{no}/confirmation", who, when or at(9, 3), 200,
                    json={"confirmed": True, "confirmed_at": "2026-09-03", "document_sha256": DOC, **over})


def deploy_publication(api) -> None:
    """bpmn/change_publication.bpmn: a GP change is accepted only where its publication (G06) is watched."""
    api.call("POST", "/api/v1/definitions", "designer", expect=201,
             data=(ROOT / "bpmn" / "change_publication.bpmn").read_bytes(), headers=XML)


def _pending(api, instance_id):
    with api.db.read() as s:
        timers_ = list(s.scalars(select(Timer).where(Timer.instance_id == instance_id, Timer.status == "waiting")))
        tasks_ = list(s.scalars(select(TaskRow).where(TaskRow.instance_id == instance_id, TaskRow.state == "ready")))
        return len(timers_), len(tasks_)


# ------------------------------------------------------------------------------------ value changes
def test_a_gp_value_change_updates_the_value_and_counts_with_supplements_under_g07(api, client, people, app):
    c = Contract(api, "CHG-GP", one_milestone(procurement_goods(), "2026-12-15"))  # 800 000.00, cap 80 000.00
    c.run(until="file")
    path = f"/api/v1/contracts/{c.key}/changes"
    # Strict input, naming each field: a JSON number, an amount on an extension of time, days on a price adjustment.
    bad = api.call("POST", path, "emp", at(9, 2), 422, json=change("extra_items", amount=48000))
    assert list(bad["errors"]) == ["amount"]
    bad = api.call("POST", path, "emp", at(9, 2), 422, json=change("extension_of_time", days=5, amount="1.00"))
    assert list(bad["errors"]) == ["amount"]
    bad = api.call("POST", path, "emp", at(9, 2), 422, json=change("price_adjustment", amount="1.00", days=3))
    assert list(bad["errors"]) == ["days"]
    bad = api.call("POST", path, "emp", at(9, 2), 422, json=change("variation", amount="0.00"))
    assert list(bad["errors"]) == ["amount"]
    api.call("POST", path, "con2", at(9, 2), 403, json=change("extra_items", amount="48000.00"))
    deploy_publication(api)

    # 6 % extra items on the one milestone: nothing changes before the contractor signs.
    proposed = api.call("POST", path, "emp", at(9, 2), 201,
                        json=change("extra_items", amount="48000.00", milestone_no=1, attachments_sha256=[DOC2]))
    assert proposed["rules"] == ["CH01", "CH02", "G07"] and proposed["status"] == "proposed"
    assert "第五百四十三条" in proposed["legal_basis"] and "第四十九条" in proposed["legal_basis"]
    assert proposed["cumulative"] == {"increase": "48000.00", "percent": "6.00", "of": "800000.00",
                                      "cap_percent": "10", "rule": "G07"}
    assert api.ledger(c.key, "cz")["amounts"]["current_amount"] == "800000.00"
    done = agreed(api, c.key, 1, "con2")
    assert (done["status"], done["value_before"], done["value_after"]) == ("accepted", "800000.00", "848000.00")
    body = api.call("POST", f"{path}/1/confirmation", "con2", at(9, 3), 409,
                    json={"confirmed": True, "confirmed_at": "2026-09-03", "document_sha256": DOC})
    assert list(body["errors"]) == ["confirmed"]  # decided once
    ledger = api.ledger(c.key, "cz")
    assert ledger["amounts"]["current_amount"] == "848000.00" and ledger["amounts"]["changes_total"] == "48000.00"
    assert ledger["milestones"][0]["amount"] == "848000.00"
    with api.db.read() as s:  # the milestone's running workflow counts its payment on the new amount
        [part] = s.scalars(select(InstancePart).where(InstancePart.instance_id == c.id))
        assert part.data["milestone"]["amount"] == "848000.00"

    # A supplementary contract of 5 % now passes the cap together with the ledger's 6 %: refused, naming G07.
    refused = Supplement(client, people, app, "CHG-GP-SUP", "gov_procurement", "40000.00", expect=422,
                         original_amount="800000.00").instance
    [message] = refused["errors"]["data.change_amount"]
    assert "(G07, " in message and "change ledger 48000.00" in message and "88000.00" in message, message

    # A reduction makes no room for a later addition: increases only count (政府采购法 art 49 caps what is added).
    api.call("POST", path, "emp", at(9, 2), 201, json=change("price_adjustment", amount="-10000.00"))
    agreed(api, c.key, 2, "con2")
    over = api.call("POST", path, "emp", at(9, 4), 422, json=change("variation", amount="40000.00"))
    assert list(over["errors"]) == ["amount"] and "(G07, " in over["errors"]["amount"][0]
    assert "88000.00" in over["errors"]["amount"][0] and "80000.00" in over["errors"]["amount"][0]
    within = api.call("POST", path, "emp", at(9, 4), 201, json=change("site_instruction", amount="32000.00", days=0))
    assert within["cumulative"]["percent"] == "10.00"
    assert api.ledger(c.key, "cz")["amounts"]["current_amount"] == "838000.00"  # the third is not signed yet

    release = api.call("GET", f"/api/v1/contracts/{c.key}/ocds", "cz", at(9, 5))
    [contract] = release["contracts"]
    assert contract["value"]["amount"] == 838000 and "contractAmendment" in release["tag"]
    first, second = contract["amendments"]
    assert first["id"] == f"{c.key}-change-1" and first["date"] == "2026-09-03T00:00:00+08:00"
    assert first["rationale"].startswith("新增工程 extra items: ") and "800000.00 → 848000.00 CNY (+48000.00 CNY)" \
        in first["description"]
    assert "848000.00 → 838000.00 CNY (-10000.00 CNY)" in second["description"]


# ------------------------------------------------------------------------------------ publication (G06)
def test_a_gp_change_not_published_raises_g06_two_working_days_after_its_acceptance(api):
    c = Contract(api, "CHG-PUB", one_milestone(procurement_goods(), "2026-12-15"))
    c.run(until="deliver1")
    path = f"/api/v1/contracts/{c.key}/changes"
    api.call("POST", path, "emp", at(9, 22), 201, json=change("extension_of_time", days=5, proposed_at="2026-09-22"))
    answer = {"confirmed": True, "confirmed_at": "2026-09-23", "document_sha256": DOC}
    # Nothing would watch the publication: the acceptance is refused and nothing changes.
    body = api.call("POST", f"{path}/1/confirmation", "con2", at(9, 23), 409, json=answer)
    assert list(body["errors"]) == ["confirmed"] and "change_publication" in body["errors"]["confirmed"][0]
    assert api.ledger(c.key, "cz")["changes"][0]["status"] == "proposed"
    deploy_publication(api)
    done = api.call("POST", f"{path}/1/confirmation", "con2", at(9, 23), 200, json=answer)  # Wednesday
    assert done["status"] == "accepted" and done["publication_key"] == f"{c.key}-change-1"
    [entry] = api.ledger(c.key, "cz")["changes"]
    assert (entry["published_at"], entry["publication_url"]) == (None, None)

    # G06: 2 working days from the acceptance 09-23 (Wed): 09-24 (Thu); 09-25 (Mid-Autumn), 09-26/27 (weekend) are
    # rest days → 09-28 (Mon) 24:00 = 16:00Z.
    assert chinese_calendar.is_workday(date(2026, 9, 24)) and date(2026, 9, 23).weekday() == 2
    assert not any(chinese_calendar.is_workday(date(2026, 9, d)) for d in (25, 26, 27))
    [instance] = api.call("GET", f"/api/v1/instances?business_key={c.key}-change-1", "cz")["items"]
    task = api.task(instance["id"], "publish_change", "emp")
    assert task["due_at"].startswith("2026-09-28T16:00:00")
    api.tick(at(9, 28, hour=23))
    assert [a for a in api.alerts("cz") if a["code"] == "CHANGE_PUBLICATION_OVERDUE"] == []
    api.tick(just_after_midnight(9, 29))
    [alert] = [a for a in api.alerts("cz") if a["code"] == "CHANGE_PUBLICATION_OVERDUE"]
    assert (alert["severity"], alert["element_id"], alert["responsible_org"], alert["business_key"]) == \
        ("orange", "publish_change", "EMP", f"{c.key}-change-1")
    assert "财办库〔2023〕243号" in alert["legal_basis"] and alert["due_at"].startswith("2026-09-28T16:00:00")

    api.act(instance["id"], "publish_change", "emp", at(9, 30),
            {"published_at": "2026-09-30", "url": "http://www.ccgp-henan.gov.cn/notice/change-1"})
    resolved = api.alert(alert["id"], "cz")
    assert resolved["status"] == "resolved" and resolved["resolution"] == "obligation met on 2026-09-30, 2 days late"
    [entry] = api.ledger(c.key, "cz")["changes"]
    assert (entry["published_at"], entry["publication_url"]) == \
        ("2026-09-30", "http://www.ccgp-henan.gov.cn/notice/change-1")
    [amendment] = api.call("GET", f"/api/v1/contracts/{c.key}/ocds", "cz", at(9, 30))["contracts"][0]["amendments"]
    assert amendment["description"].endswith("published 2026-09-30 http://www.ccgp-henan.gov.cn/notice/change-1")
    with api.db.read() as s:  # its chain vouches for its bindings (the contract's employer and department)
        assert list(audit.verify(s, instance["id"])) == [] and list(audit.verify(s, c.id)) == []
    api.tick(just_after_midnight(10, 29))  # the red step never comes
    assert [a["status"] for a in api.alerts("cz") if a["code"] == "CHANGE_PUBLICATION_OVERDUE"] == ["resolved"]


def test_a_tendering_change_has_no_publication_duty(api):
    deploy_publication(api)
    c = Contract(api, "CHG-T-PUB", one_milestone(tendering_works(), "2026-12-15"))
    c.run(until="deliver1")
    api.call("POST", f"/api/v1/contracts/{c.key}/changes", "emp", at(9, 22), 201,
             json=change("variation", amount="10000.00", proposed_at="2026-09-22"))
    done = agreed(api, c.key, 1, "con", at(9, 23), confirmed_at="2026-09-23")
    assert done["status"] == "accepted" and "publication_key" not in done
    assert api.call("GET", f"/api/v1/instances?business_key={c.key}-change-1", "admin")["items"] == []
    api.tick(just_after_midnight(11, 1))
    assert [a for a in api.alerts("admin") if a["code"] == "CHANGE_PUBLICATION_OVERDUE"] == []
    assert "published_at" not in api.ledger(c.key, "zj")["changes"][0]


def test_the_amended_release_passes_the_official_review(api, tmp_path):
    pytest.importorskip("libcoveocds")
    from tests.integration.test_ocds import package_of
    from tests.integration.test_ocds_review import _clean
    from tests.ocds_review import review
    c = Contract(api, "CHG-REVIEW", one_milestone(tendering_works(), "2026-12-15"))
    c.run(until="deliver1")
    api.call("POST", f"/api/v1/contracts/{c.key}/changes", "emp", at(9, 2), 201,
             json=change("variation", amount="150000.00", days=10))
    agreed(api, c.key, 1, "con")
    package = package_of(api, "2026-09", just_after_midnight(10, 1))
    [release] = package["releases"]
    assert release["contracts"][0]["amendments"][0]["id"] == f"{c.key}-change-1"
    assert _clean(review(package, tmp_path)) == {}


def test_a_tendering_variation_has_no_cap_but_records_the_cumulative_change_and_moves_the_time(api):
    c = Contract(api, "CHG-T", one_milestone(tendering_works()))  # 1 200 000.00, delivery due 08-31
    c.run(until="deliver1")
    path = f"/api/v1/contracts/{c.key}/changes"
    proposed = api.call("POST", path, "emp", at(8, 20), 201,
                        json=change("variation", amount="150000.00", days=10, proposed_at="2026-08-20"))
    assert proposed["rules"] == ["CH01", "CH03"] and "第五十七条第一款" in proposed["legal_basis"]
    assert proposed["cumulative"] == {"increase": "150000.00", "percent": "12.50", "of": "1200000.00",
                                      "cap_percent": None, "rule": None}
    done = agreed(api, c.key, 1, "con", at(8, 21), confirmed_at="2026-08-21")
    assert done["value_after"] == "1350000.00" and done["timers_moved"] >= 1
    [delivery] = [t for t in api.instance(c.id)["tasks"] if t["element_id"] == "report_delivery"]
    assert delivery["due_at"].startswith("2026-09-10T16:00:00")  # 08-31 24:00 + 10 days


def test_a_milestone_changed_is_paid_on_its_new_amount(api):
    c = Contract(api, "CHG-MS", one_milestone(tendering_works()))  # 1 200 000.00, accepted 08-31
    c.run(until="pay1")
    api.call("POST", f"/api/v1/contracts/{c.key}/changes", "emp", at(9, 2), 201,
             json=change("extra_items", amount="100000.00", milestone_no=1))
    agreed(api, c.key, 1, "con")
    c.step("pay1")  # 1 200 000.00 on 09-04: 100 000.00 still owed on the milestone as changed
    [milestone] = api.ledger(c.key, "zj")["milestones"]
    assert (milestone["amount"], milestone["outstanding"]) == ("1300000.00", "100000.00")
    assert milestone["status"] != "paid"
    c.step("pay1", at(9, 5), paid_at="2026-09-05", amount="100000.00")
    [milestone] = api.ledger(c.key, "zj")["milestones"]
    assert milestone["status"] == "paid" and milestone["outstanding"] == "0.00"


def test_a_reduction_below_what_was_paid_is_refused_naming_the_amount(api):
    c = Contract(api, "CHG-PAID", one_milestone(tendering_works()))
    c.run(until="complete")  # 1 200 000.00 paid on 09-04
    path = f"/api/v1/contracts/{c.key}/changes"
    body = api.call("POST", path, "emp", at(9, 20), 409, json=change("price_adjustment", amount="-0.01",
                                                                     proposed_at="2026-09-20"))
    assert list(body["errors"]) == ["amount"] and "1200000.00 paid" in body["errors"]["amount"][0]
    body = api.call("POST", path, "emp", at(9, 20), 409, json=change("price_adjustment", amount="10.00",
                                                                     milestone_no=1, proposed_at="2026-09-20"))
    assert list(body["errors"]) == ["milestone_no"]  # the milestone's workflow is completed
    assert api.ledger(c.key, "zj")["changes"] == []


# ------------------------------------------------------------------------------------ termination
def _terminable(api, key: str):
    """A GP goods contract (800 000.00, performance guarantee 40 000.00 held), milestone 1 accepted 08-31 and not
    paid (PAYMENT_OVERDUE since 10-01), milestone 2 (planned 09-15) not delivered (DELIVERY_LATE)."""
    c = Contract(api, key, procurement_goods())
    c.run(until="pay1")
    api.tick(just_after_midnight(10, 1))
    return c


def test_a_termination_ends_the_contract_with_its_settlement_and_guarantee_outcome(api):
    c = _terminable(api, "TERM-GP")
    codes = {a["code"]: a for a in api.alerts("cz", just_after_midnight(10, 1))}
    assert {"PAYMENT_OVERDUE", "DELIVERY_LATE"} <= set(codes)
    timers_before, tasks_before = _pending(api, c.id)
    assert timers_before and tasks_before
    held = {g["kind"]: g for g in api.call("GET", f"/api/v1/guarantees?business_key={c.key}", "admin")["items"]
            if g["status"] in ("issued", "submitted", "active", "claimed")}
    performance = held["performance"]
    path = f"/api/v1/contracts/{c.key}/termination"
    body = {"ground": "breach_by_contractor", "reason": "第二批设备逾期未交付，经催告后仍未履行", "noticed_at": "2026-10-08",
            "document_sha256": NOTICE, "settlement": {"amount": "400000.00", "document_sha256": DOC},
            "guarantees": [{"guarantee_id": performance["id"], "outcome": "claim", "amount": "40000.00",
                            "note": "违约解除，履约保函索赔"}]}
    api.call("POST", path, "other", at(10, 8), 404, json=body)
    bad = api.call("POST", path, "con2", at(10, 8), 422, json=body)  # a breach by the contractor: the employer notices
    assert list(bad["errors"]) == ["ground"]
    bad = api.call("POST", path, "emp", at(10, 8), 422, json={**body, "guarantees": [], "settlement": {"amount": "900000.00"}})
    assert set(bad["errors"]) == {"guarantees", "settlement.amount"}
    assert performance["id"] in bad["errors"]["guarantees"][0]
    bad = api.call("POST", path, "emp", at(10, 8), 422, json={**body, "guarantees": [
        {"guarantee_id": performance["id"], "outcome": "claim", "amount": "50000.00"}]})
    assert list(bad["errors"]) == ["guarantees[0].amount"]

    noticed = api.call("POST", path, "emp", at(10, 8), 201, json=body)
    assert noticed["status"] == "noticed" and noticed["rules"] == ["TM02", "TM03", "TM04", "TM06"]
    assert "第五百六十三条" in noticed["legal_basis"] and "第五十条第二款" in noticed["legal_basis"]
    assert noticed["settlement"] == {"amount": "400000.00", "paid": "0.00", "balance": "400000.00",
                                     "contract_value": "800000.00", "document_sha256": DOC}
    assert api.instance(c.id)["status"] == "running" and _pending(api, c.id) == (timers_before, tasks_before)
    assert list(api.call("POST", path, "emp", at(10, 8), 409, json=body)["errors"]) == ["ground"]  # noticed once
    body = api.call("POST", f"/api/v1/contracts/{c.key}/changes", "emp", at(10, 8), 409,
                    json=change("variation", amount="1.00", proposed_at="2026-10-08"))
    assert list(body["errors"]) == ["business_key"] and "notice of termination" in body["errors"]["business_key"][0]

    ack = f"{path}/acknowledgement"
    answer = {"acknowledged_at": "2026-10-09", "document_sha256": NOTICE}
    api.call("POST", ack, "emp", at(10, 9), 403, json=answer)  # the party notified acknowledges, not the notifier
    assert list(api.call("POST", ack, "con2", at(10, 9), 422, json={**answer, "document_sha256": DOC})["errors"]) \
        == ["document_sha256"]
    done = api.call("POST", ack, "con2", at(10, 9), 200, json=answer)
    assert done["status"] == "effective" and done["effective_on"] == "2026-10-09"
    assert done["acknowledgement"]["as"] == "contractor" and done["alerts_resolved"] >= 1
    [outcome] = done["guarantees"]
    assert (outcome["outcome"], outcome["status"], outcome["amount"]) == ("claim", "claimed", "40000.00")
    assert list(api.call("POST", ack, "con2", at(10, 9), 409, json=answer)["errors"]) == ["acknowledged_at"]

    # The contract ended: no pending timer, no ready task; future obligations' alerts closed, arrears still open.
    assert api.instance(c.id)["status"] == "cancelled" and _pending(api, c.id) == (0, 0)
    with api.db.read() as s:
        rows = {a.code: a for a in s.scalars(select(Alert).where(Alert.instance_id == c.id))}
    assert rows["DELIVERY_LATE"].status == "resolved" and rows["DELIVERY_LATE"].resolution.startswith(
        "terminated on 2026-10-09 (breach_by_contractor)")
    assert rows["PAYMENT_OVERDUE"].status == "open" and rows["PAYMENT_OVERDUE"].kind == "arrears"
    api.tick(just_after_midnight(12, 31))  # nothing fires any more
    assert _pending(api, c.id) == (0, 0)
    guarantee = api.call("GET", f"/api/v1/guarantees/{performance['id']}", "admin")
    assert guarantee["status"] == "claimed" and guarantee["claims"][0]["reason"] == "termination"

    ledger = api.ledger(c.key, "cz")
    assert ledger["status"] == "cancelled" and ledger["termination"]["effective_on"] == "2026-10-09"
    assert ledger["termination"]["settlement"]["amount"] == "400000.00" and ledger["arrears_amount"] == "400000.00"
    history = [e["action"] for e in api.call("GET", f"/api/v1/instances/{c.id}/history?limit=500", "admin")["items"]]
    for action in ("termination_noticed", "termination_acknowledged", "termination_guarantees", "contract_terminated"):
        assert history.count(action) == 1, action
    assert "part_cancelled" in history

    release = api.call("GET", f"/api/v1/contracts/{c.key}/ocds", "cz", at(10, 10))
    [contract] = release["contracts"]
    assert contract["status"] == "terminated" and "contractTermination" in release["tag"]
    assert contract["implementation"]["endDate"] == "2026-10-09T00:00:00+08:00"
    assert "breach_by_contractor" in contract["implementation"]["endDateDetails"]
    # A terminated contract is changed no more.
    body = api.call("POST", f"/api/v1/contracts/{c.key}/changes", "emp", at(10, 10), 409,
                    json=change("variation", amount="1.00", proposed_at="2026-10-10"))
    assert list(body["errors"]) == ["business_key"]


def test_a_tendering_termination_records_the_next_candidate_and_the_department_may_record_it(api):
    c = Contract(api, "TERM-T", one_milestone(tendering_works(), "2026-12-15"))
    c.run(until="deliver1")
    held = [g for g in api.call("GET", f"/api/v1/guarantees?business_key={c.key}", "admin")["items"]
            if g["status"] in ("issued", "submitted", "active", "claimed")]
    assert [(g["kind"], g["form"]) for g in held] == [("quality", "retention")]  # the bid bond was refunded
    path = f"/api/v1/contracts/{c.key}/termination"
    body = {"ground": "mutual_agreement", "reason": "双方协商一致解除", "noticed_at": "2026-09-01",
            "document_sha256": NOTICE, "settlement": {"amount": "0.00"},
            "guarantees": [{"guarantee_id": g["id"], "outcome": "release"} for g in held]}
    bad = api.call("POST", path, "con", at(9, 1), 422, json=body)
    assert list(bad["errors"]) == ["successor"]  # 条例613 art 55: the route is recorded
    bad = api.call("POST", path, "con", at(9, 1), 422, json={**body, "successor": {"route": "next_candidate", "rank": 1}})
    assert set(bad["errors"]) == {"successor.candidate", "successor.rank"}
    claim = [{"guarantee_id": g["id"], "outcome": "claim"} for g in held]
    bad = api.call("POST", path, "con", at(9, 1), 422, json={**body, "guarantees": claim,
                                                              "successor": {"route": "re_tender"}})
    assert list(bad["errors"]) == ["guarantees[0].outcome"]  # no party in breach: nothing to claim
    successor = {"route": "next_candidate", "candidate": "OTHER", "rank": 2}
    noticed = api.call("POST", path, "con", at(9, 1), 201, json={**body, "successor": successor})
    assert noticed["rules"] == ["TM01", "TM03", "TM04", "TM05"] and "第五十五条" in noticed["legal_basis"]
    api.call("POST", f"{path}/acknowledgement", "cz", at(9, 2), 404,
             json={"acknowledged_at": "2026-09-02", "document_sha256": NOTICE})  # another department
    done = api.call("POST", f"{path}/acknowledgement", "zj", at(9, 2), 200,
                    json={"acknowledged_at": "2026-09-02", "document_sha256": NOTICE, "note": "经双方确认"})
    assert done["acknowledgement"]["as"] == "department" and done["successor"] == successor
    assert all(g["status"] == "released" for g in done["guarantees"])
    assert api.instance(c.id)["status"] == "cancelled" and _pending(api, c.id) == (0, 0)
    assert api.ledger(c.key, "zj")["termination"]["successor"] == successor
