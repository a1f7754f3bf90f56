"""Issue 18: from a confirmed red alert to a published credit record with due process — the decision
(document number, date, legal basis, severity class → the registry's publicity period), the party's
objection and the department's answer within Henan's working days, removal, credit repair, and the
public library."""
from __future__ import annotations

from datetime import date

import pytest

from engine.runtime import audit
from tests.e2e.test_post_award import Api, at
from tests.integration.test_credit_and_leads import confirm, decide, red_contract, records


def awaiting(api: Api, key: str, track: str = "tendering") -> dict:
    alert = red_contract(api, key, track)
    return confirm(api, alert["id"], "zj" if track == "tendering" else "cz")["credit_record"]


# ---------------------------------------------------------------- decisions
def test_a_decision_is_refused_field_by_field_and_changes_nothing(api):
    record = awaiting(api, "DEC-BAD")
    body = decide(api, record["id"], "zj", expect=422, document_no="", severity="fatal", date="2026-13-01",
                  legal_basis="x" * 501)
    assert set(body["errors"]) == {"document_no", "severity", "date", "legal_basis"}
    body = decide(api, record["id"], "zj", expect=422, date="2026-10-15")               # after today (10-14)
    assert list(body["errors"]) == ["date"] and "after today" in body["errors"]["date"][0]
    body = decide(api, record["id"], "zj", expect=422, date="2026-10-12")               # before the finding (10-13)
    assert list(body["errors"]) == ["date"]
    decide(api, record["id"], "zj", expect=422, extra="x")                              # unknown field
    assert api.call("GET", f"/api/v1/credit-records/{record['id']}", "zj")["status"] == "awaiting_decision"


def test_only_the_records_department_decides_once(api):
    record = awaiting(api, "DEC-WHO")
    for who, status in (("cz", 403), ("emp", 403), ("operator", 403), ("designer", 403)):
        decide(api, record["id"], who, expect=status)
    decide(api, "00000000-0000-4000-8000-000000000000", "zj", expect=404)
    decide(api, record["id"], "zj")
    body = decide(api, record["id"], "admin", expect=409)
    assert "decided already" in body["detail"]
    trail = api.call("GET", f"/api/v1/instances/{record['instance_id']}/history?limit=500", "admin")["items"]
    [event] = [e for e in trail if e["action"] == "credit_decision"]
    assert event["data"]["document_no"] == "郑建罚〔2026〕17号" and event["data"]["publicity_until"] == "2027-04-14"
    with api.db.read() as s:
        assert list(audit.verify(s, record["instance_id"])) == []


def test_a_warning_is_recorded_but_never_published(api):
    record = awaiting(api, "DEC-WARN", "gov_procurement")
    decided = decide(api, record["id"], "cz", severity="warning")
    assert decided["status"] == "decided" and decided["decision"]["severity"] == "warning"
    assert decided["publicity"] == {"rule": "CP01", "legal_basis": decided["publicity"]["legal_basis"], "verified": "U",
                                    "published": False, "months": None, "from": None, "until": None,
                                    "repair_after": None, "in_publicity": False}


def test_a_serious_procurement_decision_is_published_three_years_and_repairable_after_one(api):
    record = awaiting(api, "DEC-SER", "gov_procurement")
    decided = decide(api, record["id"], "cz", severity="serious")
    assert decided["publicity"]["rule"] == "CP03+S03" and decided["publicity"]["months"] == 36
    assert decided["publicity"]["until"] == "2029-10-14" and decided["publicity"]["repair_after"] == "2027-10-14"
    assert decided["publicity"]["in_publicity"] is True
