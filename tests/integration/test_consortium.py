"""Issue 17, joint ventures: the contractor's role held by a consortium (联合体) of organisations with a lead member
(招标投标法 art 31: the members are jointly and severally liable; 政府采购法 art 24). Every member sees the contract and
acts in the contractor's lane; a confirmed red alert writes a credit record for each member and its lead names them.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.runtime import audit
from engine.storage.models import Instance, Party
from tests.e2e.test_post_award import Api, Contract, at, just_after_midnight, one_milestone, tendering_works

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # no SQL of its own: one database suffices

CONSORTIUM = {"lead": "CON", "members": ["CON", "CON2"]}


def test_both_members_see_the_contract_act_as_contractor_and_each_gets_a_credit_record(api: Api):
    c = Contract(api, "JV-1", one_milestone(tendering_works(consortium=CONSORTIUM)))
    assert c.instance["data"]["consortium"] == CONSORTIUM and c.instance["data"]["contractor"] == "CON"

    # both members see the contract in their list and its ledger, each named with its standing; nobody else does
    for who in ("con", "con2"):
        listed = api.call("GET", "/api/v1/contracts?limit=50", who)["items"]
        assert [x["business_key"] for x in listed] == ["JV-1"]
        assert [(p["role"], p["org_code"], p["consortium"]) for p in listed[0]["parties"]] == [
            ("contractor", "CON", "lead"), ("contractor", "CON2", "member"), ("employer", "EMP", None)]
        ledger = api.ledger("JV-1", who)
        assert [(p["org_code"], p["consortium"]) for p in ledger["parties"] if p["role"] == "contractor"] == [
            ("CON", "lead"), ("CON2", "member")]
    api.ledger("JV-1", "other", expect=404)
    assert api.call("GET", "/api/v1/contracts?limit=50", "other")["items"] == []

    # the contractor's lane: the other member sees the signing confirmation and completes it
    c.run(until="confirm")
    [task] = [t for t in api.call("GET", "/api/v1/tasks?limit=50", "con2")["items"] if t["instance_id"] == c.id]
    assert task["element_id"] == "confirm_signature" and task["lane"] == "contractor"
    assert [t["id"] for t in api.call("GET", "/api/v1/tasks?limit=50", "con")["items"]] == [task["id"]]
    assert api.call("GET", "/api/v1/tasks?limit=50", "other")["items"] == []
    api.act(c.id, "confirm_signature", "con2", at(8, 12, hour=15), c.steps["confirm"][4])
    c.done.add("confirm")
    assert api.ledger("JV-1", "zj")["signed"] is True
    # the employer's lane stays the employer's
    [filing] = [t for t in api.call("GET", "/api/v1/tasks?limit=50", "emp")["items"] if t["element_id"] == "file_contract"]
    api.call("POST", f"/api/v1/tasks/{filing['id']}/complete", "con2", at(8, 13), 403,
             json={"data": {"filed_at": "2026-08-13", "document_sha256": "a" * 64}})

    # never delivered: DELIVERY_LATE is red 30 days after the planned 08-31, against the contractor
    c.run(until="deliver1")
    api.tick(just_after_midnight(10, 1))
    [red] = [a for a in api.alerts("admin") if a["severity"] == "red"]
    assert red["code"] == "DELIVERY_LATE" and red["responsible_org"] == "CON"
    for who in ("con", "con2"):  # the lead's alert is every member's
        assert [a["id"] for a in api.alerts(who)] == [red["id"]]
        assert api.alert(red["id"], who)["id"] == red["id"]
    assert api.alerts("other") == []

    confirmed = api.call("POST", f"/api/v1/alerts/{red['id']}/confirm", "zj", at(10, 2),
                         json={"decision": "confirmed", "note": "联合体未按期交付"})
    assert confirmed["credit_record"]["org"] == "CON"
    assert sorted(r["org"] for r in confirmed["credit_records"]) == ["CON", "CON2"]
    assert {r["alert_id"] for r in confirmed["credit_records"]} == {red["id"]}
    assert confirmed["lead"]["responsible_org"] == "CON" and confirmed["lead"]["responsible_members"] == ["CON", "CON2"]
    for who, org in (("con", "CON"), ("con2", "CON2")):
        [record] = api.call("GET", "/api/v1/credit-records?limit=50", who)["items"]
        assert record["org"] == org and record["rule"]["code"] == "DELIVERY_LATE"
    assert len(api.call("GET", "/api/v1/credit-records?limit=50", "zj")["items"]) == 2

    # the OCDS release: both members supply, the lead is paid
    release = api.call("GET", "/api/v1/contracts/JV-1/ocds", "zj")
    roles = {p["id"]: p["roles"] for p in release["parties"]}
    suppliers = [p for p in release["parties"] if "supplier" in p["roles"]]
    assert [p["name"] for p in suppliers] == ["org CON", "org CON2"]
    assert [roles[p["id"]] for p in suppliers] == [["supplier", "payee"], ["supplier"]]
    assert [s["name"] for s in release["awards"][0]["suppliers"]] == ["org CON", "org CON2"]

    # one binding row per member, and the audit chain vouches for them
    with api.db.read() as session:
        assert sorted(session.execute(select(Party.role, Party.org_code).where(Party.instance_id == c.id)).all()) == [
            ("contractor", "CON"), ("contractor", "CON2"), ("employer", "EMP")]
        assert list(audit.verify(session, c.id)) == []
    with api.db.transaction() as session:
        session.add(Party(instance_id=c.id, role="contractor", org_code="EMP"))  # slipped in behind the chain's back
    with api.db.read() as session:
        [broken] = list(audit.verify(session, c.id))
        assert "instance_parties binds contractor=CON, contractor=CON2, contractor=EMP, employer=EMP" in broken.reason


@pytest.mark.parametrize("consortium, field, reason", [
    ({"lead": "CON", "members": ["CON"]}, "data.consortium.members", "2 to 10 members; got 1"),
    ({"lead": "CON", "members": ["CON", "CON2", "CON"]}, "data.consortium.members", "CON repeated"),
    ({"lead": "CON", "members": ["CON", f"X{0}"] + [f"X{i}" for i in range(1, 10)]}, "data.consortium.members",
     "got 11"),
    ({"lead": "EMP", "members": ["CON", "CON2"]}, "data.consortium.lead", "not among the members"),
    ({"lead": "CON", "members": ["CON", "NOPE"]}, "data.consortium.members.1", "unknown organisation 'NOPE'"),
    ({"members": ["CON", "CON2"]}, "data.consortium.lead", "required"),
    (["CON", "CON2"], "data.consortium", "an object {lead, members}"),
    ({"lead": "CON2", "members": ["CON", "CON2"]}, "data.contractor", "its lead member 'CON2'; got 'CON'"),
])
def test_a_bad_consortium_is_refused_naming_the_field_and_creates_nothing(api: Api, consortium, field, reason):
    r = api.call("POST", "/api/v1/instances", "operator", at(8, 4), 422, json={
        "definition": "post_award", "business_key": "JV-BAD", "data": tendering_works(consortium=consortium)})
    assert any(reason in m for m in r["errors"][field]), r["errors"]
    with api.db.read() as session:
        assert session.scalar(select(Instance.id).where(Instance.business_key == "JV-BAD")) is None


def test_a_consortium_alone_names_its_lead_as_the_contractor(api: Api):
    data = tendering_works(consortium={"lead": "CON2", "members": ["CON", "CON2"]})
    del data["contractor"]
    instance = api.start("JV-2", data, at(8, 4))
    assert instance["data"]["contractor"] == "CON2"
    assert api.ledger("JV-2", "con")["business_key"] == "JV-2"
    # task data may not rebind the consortium
    [task] = [t for t in api.call("GET", "/api/v1/tasks?limit=50", "emp")["items"] if t["instance_id"] == instance["id"]]
    r = api.call("POST", f"/api/v1/tasks/{task['id']}/complete", "emp", at(8, 5), 422,
                 json={"data": {"consortium": {"lead": "EMP", "members": ["EMP", "CON"]}}})
    assert "data.consortium" in r["errors"]
