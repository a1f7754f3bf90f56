"""Issue 18: supervision cases (bpmn/supervision_case.bpmn) — from a red alert to a case, a rectification order
with its deadline and warnings, the party's evidence, verification, escalation to a decision, publication,
an objection upheld and removal from the public library (acceptance 1)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from engine.runtime import audit
from tests.conftest import ROOT
from tests.e2e.test_post_award import XML, Api, at
from tests.integration.test_credit_and_leads import decide, red_contract
from tests.integration.test_due_process import public

CASE_DIAGRAM = ROOT / "bpmn" / "supervision_case.bpmn"


def deploy_cases(api: Api) -> None:
    r = api.client.post("/api/v1/definitions", data=CASE_DIAGRAM.read_bytes(), headers={**api.people.auth("designer"), **XML})
    assert r.status_code in (200, 201), r.get_json()


def open_case(api: Api, who: str = "zj", expect: int = 201, when=None, **body) -> dict:
    return api.call("POST", "/api/v1/cases", who, when or at(10, 13), expect, json={"reason": "逾期未签订合同", **body})


def case(api: Api, case_id: str, who: str = "zj", when=None) -> dict:
    return api.call("GET", f"/api/v1/cases/{case_id}", who, when)


def cn(day: date, hour: int = 10):
    return at(day.month, day.day, hour, year=day.year)


def test_a_red_alert_becomes_a_case_a_late_rectification_a_decision_and_an_upheld_objection_removes_it(api):
    deploy_cases(api)
    alert = red_contract(api, "CASE-1")                                     # SIGNING_OVERDUE, EMP, red
    opened = open_case(api, alert_ids=[alert["id"]])
    assert opened["status"] == "open" and opened["stage"] == "notice" and opened["source"] == "alerts"
    assert opened["org"] == "EMP" and opened["party_role"] == "employer" and opened["alert_ids"] == [alert["id"]]
    assert opened["business_key"] == "CASE-1" and opened["track"] == "tendering"
    open_case(api, alert_ids=[alert["id"]], expect=409)                      # an alert opens one case
    instance_id = opened["case_instance_id"]

    api.act(instance_id, "issue_notice", "zj", at(10, 13), {"notice_no": "郑建督〔2026〕5号", "issued_at": "2026-10-13",
                                                            "admonition": True})
    assert case(api, opened["id"])["stage"] == "admonition"
    api.act(instance_id, "hold_admonition", "zj", at(10, 14), {"held_at": "2026-10-14", "note": "约谈法定代表人"})
    api.act(instance_id, "order_rectification", "zj", at(10, 14), {
        "order_no": "郑建整〔2026〕9号", "ordered_at": "2026-10-14", "rectification_days": 10,
        "requirements": "十日内签订合同并报送", "legal_basis": "《中华人民共和国招标投标法》第四十六条"})
    waiting = case(api, opened["id"], when=at(10, 15))
    assert waiting["stage"] == "evidence" and waiting["rectification"]["order_no"] == "郑建整〔2026〕9号"
    due = date.fromisoformat(waiting["rectification"]["due"])
    assert due >= date(2026, 10, 24) and waiting["rectification"]["overdue"] is False
    with pytest.raises(AssertionError):   # the supervisor does not hold the party's lane
        api.act(instance_id, "submit_evidence_employer", "zj", at(10, 15), {})

    # The deadline passes: the evidence comes two days late — the orange warning first, then met late.
    api.tick(cn(due + timedelta(days=1), 0))
    late = case(api, opened["id"], when=cn(due + timedelta(days=1)))
    assert late["rectification"]["overdue"] is True and late["rectification"]["alert"]["severity"] == "orange"
    [warning] = [a for a in api.alerts("zj") if a["instance_id"] == instance_id]
    assert warning["code"] == "RECTIFICATION_OVERDUE" and warning["responsible_org"] == "EMP"
    submitted = due + timedelta(days=2)
    api.act(instance_id, "submit_evidence_employer", "emp", cn(submitted), {
        "submitted_at": submitted.isoformat(), "evidence_sha256": "d" * 64, "description": "已签订合同"})
    settled = case(api, opened["id"], when=cn(submitted))
    assert settled["stage"] == "verification" and settled["rectification"]["alert"]["status"] == "resolved"
    assert "2 days late" in settled["rectification"]["alert"]["resolution"]

    # Not rectified as ordered: escalated to a decision.
    api.act(instance_id, "verify_rectification", "zj", cn(submitted), {
        "result": "not_rectified", "verified_at": submitted.isoformat(), "note": "合同条款与招标文件实质性不一致"})
    escalated = case(api, opened["id"], when=cn(submitted))
    assert escalated["status"] == escalated["stage"] == "escalated" and escalated["credit_record_id"]
    record = api.call("GET", f"/api/v1/credit-records/{escalated['credit_record_id']}", "zj")
    assert record["status"] == "awaiting_decision" and record["org"] == "EMP" and record["alert_id"] is None
    assert record["rule"] == {"code": "SUPERVISION_CASE", "legal_basis": "《中华人民共和国招标投标法》第四十六条"}

    decided_on = submitted + timedelta(days=1)
    decided = decide(api, record["id"], "zj", when=cn(decided_on), date=decided_on.isoformat(),
                     document_no="郑建罚〔2026〕31号")
    assert decided["publicity"]["rule"] == "S02+S03" and decided["publicity"]["months"] == 6
    assert [r["id"] for r in public(api, cn(decided_on, 15))["items"]] == [record["id"]]

    objection = api.call("POST", f"/api/v1/credit-records/{record['id']}/objections", "emp", cn(decided_on, 16), 201,
                         json={"grounds": "已于整改期限后两日完成整改"})
    answered = api.call("POST", f"/api/v1/objections/{objection['id']}/answer", "zj", cn(decided_on, 17),
                        json={"outcome": "upheld", "answer": "经复核，异议成立"})
    assert answered["record"]["removal"]["reason"] == "objection_upheld"
    assert public(api, cn(decided_on, 17))["items"] == []                    # removed at once (S03C: 1 working day)
    with api.db.read() as s:
        assert list(audit.verify(s, instance_id)) == []


def test_a_rectified_case_is_closed_and_the_contractor_acts_in_its_own_lane(api):
    deploy_cases(api)
    red_contract(api, "CASE-2")
    opened = open_case(api, business_key="CASE-2", party_role="contractor", reason="履约保证金未按期提交")
    assert opened["source"] == "manual" and opened["org"] == "CON" and opened["alert_ids"] == []
    instance_id = opened["case_instance_id"]
    api.act(instance_id, "issue_notice", "zj", at(10, 13), {"notice_no": "N-1", "issued_at": "2026-10-13",
                                                            "admonition": False})
    assert case(api, opened["id"])["stage"] == "rectification_order"      # no admonition
    api.act(instance_id, "order_rectification", "zj", at(10, 13), {
        "order_no": "O-1", "ordered_at": "2026-10-13", "rectification_days": 5, "requirements": "提交",
        "legal_basis": "《中华人民共和国招标投标法》第四十六条"})
    assert api.call("GET", f"/api/v1/tasks?instance_id={instance_id}", "emp")["items"] == []   # not the employer's case
    api.act(instance_id, "submit_evidence_contractor", "con", at(10, 14), {
        "submitted_at": "2026-10-14", "evidence_sha256": "e" * 64, "description": "已提交"})
    api.act(instance_id, "verify_rectification", "zj", at(10, 15), {"result": "rectified", "verified_at": "2026-10-15"})
    closed = case(api, opened["id"])
    assert closed["status"] == "closed" and closed["credit_record_id"] is None
    assert closed["rectification"]["alert"] is None                          # on time: no warning
    assert [c["id"] for c in api.call("GET", "/api/v1/cases?status=closed", "zj")["items"]] == [opened["id"]]
    assert [c["id"] for c in api.call("GET", "/api/v1/cases", "con")["items"]] == [opened["id"]]
    assert api.call("GET", "/api/v1/cases", "emp")["items"] == []
    assert api.call("GET", "/api/v1/cases", "cz")["items"] == []


def test_opening_a_case_is_refused_field_by_field(api):
    red_contract(api, "CASE-3")
    open_case(api, business_key="CASE-3", party_role="employer", expect=409)            # the process is not deployed
    deploy_cases(api)
    body = open_case(api, expect=422, reason="")
    assert set(body["errors"]) == {"reason"} or set(body["errors"]) >= {"reason"}
    body = open_case(api, expect=422, business_key="CASE-3")
    assert list(body["errors"]) == ["party_role"]
    body = open_case(api, expect=422, alert_ids=[], business_key="CASE-3", party_role="employer")
    assert "alert_ids" in body["errors"]
    open_case(api, expect=404, alert_ids=["00000000-0000-4000-8000-000000000000"])
    open_case(api, expect=404, business_key="NO-SUCH", party_role="employer")
    open_case(api, who="cz", expect=404, business_key="CASE-3", party_role="employer")  # not its department
    for who in ("emp", "operator", "designer"):
        open_case(api, who=who, expect=403, business_key="CASE-3", party_role="employer")
    assert api.call("GET", "/api/v1/cases", "admin")["items"] == []


def test_the_monthly_report_and_the_dashboard_count_cases_objections_and_published_records(api):
    deploy_cases(api)
    alert = red_contract(api, "CASE-R")
    opened = open_case(api, alert_ids=[alert["id"]])
    instance_id = opened["case_instance_id"]
    api.act(instance_id, "issue_notice", "zj", at(10, 13), {"notice_no": "N", "issued_at": "2026-10-13", "admonition": False})
    api.act(instance_id, "order_rectification", "zj", at(10, 14), {
        "order_no": "O", "ordered_at": "2026-10-14", "rectification_days": 5, "requirements": "签约",
        "legal_basis": "《中华人民共和国招标投标法》第四十六条"})
    board = api.call("GET", "/api/v1/reports/dashboard", "zj", at(10, 30))
    assert board["cases"] == {"open": 1, "by_stage": {"evidence": 1}, "overdue_rectifications": 1}
    october = api.call("GET", "/api/v1/reports/monthly?month=2026-10", "zj", at(11, 2))["due_process"]
    assert october["cases"] == {"opened": 1, "closed": 0, "escalated": 0, "open_at_month_end": 1,
                                "overdue_rectifications": 1}

    api.act(instance_id, "submit_evidence_employer", "emp", at(11, 2), {
        "submitted_at": "2026-11-02", "evidence_sha256": "f" * 64, "description": "已签订"})
    api.act(instance_id, "verify_rectification", "zj", at(11, 3), {"result": "not_rectified", "verified_at": "2026-11-03"})
    record_id = case(api, opened["id"])["credit_record_id"]
    decide(api, record_id, "zj", when=at(11, 4), date="2026-11-04")
    objection = api.call("POST", f"/api/v1/credit-records/{record_id}/objections", "emp", at(11, 5), 201,
                         json={"grounds": "有误"})
    board = api.call("GET", "/api/v1/reports/dashboard", "zj", at(11, 12))
    assert board["cases"]["open"] == 0 and board["published_credit_records"] == 1
    assert board["objections"] == {"open": 1, "overdue": 1}                 # 3 working days from 11-05 passed
    api.call("POST", f"/api/v1/objections/{objection['id']}/answer", "zj", at(11, 12),
             json={"outcome": "rejected", "answer": "维持"})
    november = api.call("GET", "/api/v1/reports/monthly?month=2026-11", "zj", at(12, 1))
    section = november["due_process"]
    assert section["cases"] == {"opened": 0, "closed": 0, "escalated": 1, "open_at_month_end": 0,
                                "overdue_rectifications": 0}
    assert section["objections"] == {"filed": 1, "answered": {"rejected": 1}, "answered_late": 1,
                                     "open_past_due_at_month_end": 0}
    assert section["credit_records"] == {"decided": {"general": 1}, "published_at_month_end": 1, "removed": {}}
    assert "due_process.cases.opened" in november["definitions"]
    assert api.call("GET", "/api/v1/reports/monthly?month=2026-11", "cz", at(12, 1))["due_process"]["cases"]["escalated"] == 0
