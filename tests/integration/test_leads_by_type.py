"""Issue 18 acceptance 3: leads routed by type — an official's interference to the discipline body, bid rigging
to the police body, late payment to the SME complaint channel — with the receiving body's acknowledgement
and outcome, and the monthly transfer list counting them by type."""
from __future__ import annotations

from engine.access.directory import add_department, add_user
from engine.supervision import leads as lead_cases
from tests.e2e.test_post_award import Api, at
from tests.integration.test_credit_and_leads import confirm, red_contract


def bodies(api: Api) -> None:
    """GA (公安局) and ZXQY (中小企业投诉) with one user each; ZJ routes its leads by type (JW: discipline inspection)."""
    with api.db.transaction() as s:
        add_department(s, "GA", "公安局")
        add_department(s, "ZXQY", "中小企业款项支付投诉受理")
        s.flush()
        for user, dept in (("jw", "JW"), ("ga", "GA"), ("zxqy", "ZXQY")):
            _, api.people.tokens[user] = add_user(s, user, "supervisor", department=dept)
        lead_cases.set_route(s, "ZJ", "official_interference", "JW")
        lead_cases.set_route(s, "ZJ", "bid_rigging", "GA")
        lead_cases.set_route(s, "ZJ", "late_payment", "ZXQY")


def report(api: Api, lead_type: str, who: str = "zj", expect: int = 201, when=None, **more) -> dict:
    body = {"type": lead_type, "business_key": "LEAD-1", "description": "经查", **more}
    return api.call("POST", "/api/v1/leads", who, when or at(10, 14), expect, json=body)


def test_leads_go_to_the_body_of_their_type_and_the_transfer_list_counts_them(api):
    bodies(api)
    alert = red_contract(api, "LEAD-1")
    interference = report(api, "official_interference", description="某局领导指定中标人", responsible_org="EMP")
    rigging = report(api, "bid_rigging", description="投标人之间串通报价")
    assert interference["to_department"] == "JW" and interference["route"] == "configured"
    assert rigging["to_department"] == "GA" and rigging["type"] == "bid_rigging"
    assert "第二百二十三条" in rigging["legal_basis"] and rigging["evidence"]["business_key"] == "LEAD-1"
    confirmed = confirm(api, alert["id"], "zj")["lead"]                      # a late signing: non-performance
    assert confirmed["type"] == "non_performance" and confirmed["to_department"] == "JW"

    # Each receiving body sees its own; the police do not see the discipline body's lead, nor act on it.
    assert [x["id"] for x in api.call("GET", "/api/v1/leads", "ga")["items"]] == [rigging["id"]]
    assert {x["id"] for x in api.call("GET", "/api/v1/leads", "jw")["items"]} == {interference["id"], confirmed["id"]}
    assert api.call("GET", "/api/v1/leads?type=bid_rigging", "zj")["items"][0]["id"] == rigging["id"]
    api.call("POST", f"/api/v1/leads/{interference['id']}/acknowledge", "ga", at(10, 15), 404, json={})
    api.call("POST", f"/api/v1/leads/{rigging['id']}/acknowledge", "zj", at(10, 15), 403, json={})  # the sender
    api.call("POST", f"/api/v1/leads/{rigging['id']}/outcome", "ga", at(10, 15), 409,
             json={"outcome": "case_filed", "note": "立案"})                      # not acknowledged yet
    acked = api.call("POST", f"/api/v1/leads/{rigging['id']}/acknowledge", "ga", at(10, 15), json={})
    assert acked["acknowledged_by"] == "ga"
    api.call("POST", f"/api/v1/leads/{rigging['id']}/acknowledge", "ga", at(10, 15), 409, json={})
    done = api.call("POST", f"/api/v1/leads/{rigging['id']}/outcome", "ga", at(10, 20),
                    json={"outcome": "case_filed", "note": "已立案侦查"})
    assert done["outcome"]["result"] == "case_filed" and done["outcome"]["by"] == "ga"
    body = api.call("POST", f"/api/v1/leads/{interference['id']}/outcome", "jw", at(10, 20), 422,
                    json={"outcome": "maybe", "note": ""})
    assert set(body["errors"]) == {"outcome", "note"}
    api.call("POST", f"/api/v1/leads/{interference['id']}/acknowledge", "jw", at(10, 16), json={"note": "已收到"})

    month = api.call("GET", "/api/v1/reports/transfers?month=2026-10", "zj")
    assert month["total"] == 3 and month["acknowledged"] == 2
    assert month["by_type"]["official_interference"] == {"count": 1, "acknowledged": 1, "outcome_recorded": 0}
    assert month["by_type"]["bid_rigging"] == {"count": 1, "acknowledged": 1, "outcome_recorded": 1}
    assert month["by_type"]["non_performance"] == {"count": 1, "acknowledged": 0, "outcome_recorded": 0}
    assert month["by_type"]["late_payment"]["count"] == 0
    assert month["by_receiver"] == {"GA": 1, "JW": 2}
    assert [i["type"] for i in api.call("GET", "/api/v1/reports/transfers?month=2026-10", "ga")["items"]] == ["bid_rigging"]
    assert api.call("GET", "/api/v1/reports/transfers?month=2026-11", "zj")["total"] == 0
    r = api.client.get("/api/v1/reports/transfers?month=2026-10&format=csv", headers=api.people.auth("zj"))
    lines = r.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0].startswith("lead_id,type,to_department") and len(lines) == 4
    assert any(",bid_rigging,GA,公安局,configured,LEAD-1," in line and ",case_filed," in line for line in lines)


def test_arrears_become_late_payment_leads_and_an_unrouted_type_is_refused(api):
    alert = red_contract(api, "LEAD-2")
    body = report(api, "bid_rigging", business_key="LEAD-2", expect=201)      # no route: the escalation target
    assert body["to_department"] == "JW" and body["route"] == "escalation"
    for bad, field in (({"type": "gossip"}, "type"), ({"description": ""}, "description")):
        assert field in report(api, "bid_rigging", business_key="LEAD-2", expect=422, **bad)["errors"]
    report(api, "bid_rigging", business_key="NOPE", expect=404)
    report(api, "bid_rigging", business_key="LEAD-2", who="cz", expect=404)
    for who in ("emp", "operator"):
        report(api, "bid_rigging", business_key="LEAD-2", who=who, expect=403)
    assert report(api, "bid_rigging", business_key="LEAD-2", expect=422, responsible_org="GUA")["errors"]
    with api.db.read() as s:
        from engine.storage.models import Alert
        from engine.supervision import credit
        stored = s.get(Alert, alert["id"])
        assert credit.lead_type_of(stored) == "non_performance"
        stored.kind = "arrears"
        assert credit.lead_type_of(stored) == "late_payment"


def test_the_receiving_body_is_sent_the_lead_by_webhook(api):
    from sqlalchemy import select

    from engine.storage.models import Department, Outbox
    bodies(api)
    with api.db.transaction() as s:
        ga = s.get(Department, "GA")
        ga.webhook_url, ga.webhook_secret = "https://ga.example/hook", "s" * 32
    red_contract(api, "LEAD-1")
    lead = report(api, "bid_rigging")
    with api.db.read() as s:
        [row] = s.scalars(select(Outbox).where(Outbox.department_code == "GA")).all()
        assert row.event == "lead.transferred" and lead["id"] in row.body and "bid_rigging" in row.body
