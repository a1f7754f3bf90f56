"""Issue 7: a red alert confirmed by its supervising department writes exactly one credit record for the
responsible organisation and exactly one lead to discipline inspection, with the evidence trail.

The red alerts come from post_award contracts that enter supervision on 10-12, long after their award
notice of 08-03: R04 / G03 ran out on 09-02 24:00, 30 days after that on 10-03 00:00, so the signing alert
is red at once and reaches ZJ's and CZ's escalation target JW (纪委监委).
"""
from __future__ import annotations

import threading
from datetime import date

import pytest

from engine.runtime import audit
from engine.supervision import credit
from tests.e2e.test_post_award import Api, Contract, at, just_after_midnight, one_milestone, procurement_goods, tendering_works


def red_contract(api: Api, key: str, track: str = "tendering") -> dict:
    data = tendering_works() if track == "tendering" else procurement_goods(performance_guarantee_rate="0")
    instance = api.start(key, one_milestone(data, "2026-12-15"), at(10, 12))
    [alert] = [a for a in api.alerts("admin") if a["instance_id"] == instance["id"]]
    assert alert["severity"] == "red" and alert["code"] == "SIGNING_OVERDUE" and alert["escalated_to"] == "JW"
    return alert


def confirm(api: Api, alert_id: str, who: str, decision: str = "confirmed", expect: int = 200, when=None) -> dict:
    return api.call("POST", f"/api/v1/alerts/{alert_id}/confirm", who, when or at(10, 13), expect,
                    json={"decision": decision, "note": "经核查，招标人无正当理由逾期签约"})


def records(api: Api, who: str, expect: int = 200, **query) -> list[dict]:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    body = api.call("GET", f"/api/v1/credit-records?limit=500&{q}", who, expect=expect)
    return body["items"] if expect == 200 else body


def leads(api: Api, who: str, expect: int = 200, **query) -> list[dict]:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    body = api.call("GET", f"/api/v1/leads?limit=500&{q}", who, expect=expect)
    return body["items"] if expect == 200 else body


def history(api: Api, instance_id: str) -> list[dict]:
    return api.call("GET", f"/api/v1/instances/{instance_id}/history?limit=500", "admin")["items"]


def decide(api: Api, record_id: str, who: str, expect: int = 200, when=None, **over) -> dict:
    body = {"document_no": "郑建罚〔2026〕17号", "date": "2026-10-14", "legal_basis": "《中华人民共和国招标投标法》第五十九条",
            "severity": "general", **over}
    return api.call("POST", f"/api/v1/credit-records/{record_id}/decision", who, when or at(10, 14), expect, json=body)


@pytest.mark.parametrize("track, rule, until", [("tendering", "S02+S03", "2027-04-14"),         # 6 months (S02)
                                                ("gov_procurement", "CP02+S03", "2027-10-14")])  # 1 year (58号)
def test_a_confirmed_red_alert_writes_exactly_one_credit_record_and_one_lead(api, track, rule, until):
    alert = red_contract(api, f"RED-{track}", track)
    [pending] = leads(api, "zj" if track == "tendering" else "cz")
    assert pending["status"] == "pending" and pending["id"] is None and pending["alert_id"] == alert["id"]
    assert pending["to_department"] == "JW" and pending["escalated_at"] == alert["raised_at"]

    body = confirm(api, alert["id"], "zj" if track == "tendering" else "cz")
    assert body["id"] == alert["id"] and body["severity"] == "red"
    assert body["decision"]["decision"] == "confirmed" and body["decision"]["decided_by"] in ("zj", "cz")
    record = body["credit_record"]
    assert record["org"] == "EMP" and record["org_name"] == "org EMP" and record["alert_id"] == alert["id"]
    assert record["rule"]["code"] == "SIGNING_OVERDUE" and record["rule"]["legal_basis"] == alert["legal_basis"]
    assert ("第四十六条" in record["rule"]["legal_basis"])
    assert record["date"] == "2026-10-13" and record["track"] == track
    # Nothing is published on a confirmation: the record waits for the department's decision.
    assert record["status"] == "awaiting_decision" and record["decision"] is None
    assert record["publicity"]["rule"] is None and record["publicity"]["in_publicity"] is False
    decided = decide(api, record["id"], "zj" if track == "tendering" else "cz")
    assert decided["status"] == "decided" and decided["decision"]["document_no"] == "郑建罚〔2026〕17号"
    assert decided["decision"]["date"] == "2026-10-14" and decided["decision"]["severity"] == "general"
    assert decided["publicity"]["rule"] == rule and decided["publicity"]["until"] == until
    assert decided["publicity"]["from"] == "2026-10-14" and decided["publicity"]["published"] is True
    assert decided["publicity"]["legal_basis"] == credit.publicity_for("general", track, date(2026, 10, 14)).legal_basis
    lead = body["lead"]
    assert lead["status"] == "confirmed" and lead["alert_id"] == alert["id"] and lead["to_department"] == "JW"
    assert lead["responsible_org"] == "EMP" and lead["code"] == "SIGNING_OVERDUE"
    assert lead["escalated_at"] == alert["raised_at"]

    # The evidence: the contract's start and the alert's own events, each with its link and hash, checkable
    # against the trail the API serves; and the chain head.
    trail = {e["seq"]: e for e in history(api, alert["instance_id"])}
    evidence = lead["evidence"]
    assert evidence["chain"]["intact"] is True and evidence["business_key"] == f"RED-{track}"
    actions = [e["action"] for e in evidence["events"]]
    assert evidence["events"][0]["seq"] == 1 and actions[0] == "instance_started"
    assert "alert_red" in actions
    for e in evidence["events"]:
        assert trail[e["seq"]]["hash"] == e["hash"] and trail[e["seq"]]["prev_hash"] == e["prev_hash"]
    assert evidence["chain"]["head"] == trail[evidence["chain"]["length"]]["hash"]

    # Exactly once: a second decision is refused and writes nothing.
    confirm(api, alert["id"], "admin", expect=409)
    confirm(api, alert["id"], "admin", decision="dismissed", expect=409)
    [listed] = records(api, "admin")
    assert listed["id"] == record["id"] and listed["status"] == "decided"
    [only] = leads(api, "admin")
    assert only["id"] == lead["id"] and only["status"] == "confirmed" and only["evidence"] == evidence
    assert [e["action"] for e in history(api, alert["instance_id"])].count("alert_confirmed") == 1
    with api.db.read() as s:
        assert list(audit.verify(s, alert["instance_id"])) == []
    # The alert itself goes on: the employer may still sign, and it resolves as usual.
    assert api.alert(alert["id"])["status"] == "open"

    got = api.call("GET", "/api/v1/reports/monthly?month=2026-10", "admin")
    assert got["credit_records"] == {"total": 1, "by_rule": {"SIGNING_OVERDUE": 1}}
    assert got["leads"] == {"total": 1, "pending": 0, "confirmed": 1, "dismissed": 0}


def test_who_sees_credit_records_and_leads(api):
    alert = red_contract(api, "RED-SEE")
    confirm(api, alert["id"], "zj")
    with api.db.transaction() as s:  # JW: the discipline inspection body ZJ and CZ escalate to
        from engine.access.directory import add_user
        _, api.people.tokens["jw"] = add_user(s, "jw", "supervisor", department="JW")

    assert [r["org"] for r in records(api, "emp")] == ["EMP"]             # the party it concerns
    assert records(api, "con") == []                                       # another party: none of its own
    records(api, "emp", expect=403, org="CON")                             # not someone else's
    assert [r["org"] for r in records(api, "cz", org="EMP")] == ["EMP"]    # credit files are consulted across departments
    for who in ("operator", "designer"):
        records(api, who, expect=403)
    assert [r["business_key"] for r in records(api, "zj", month="2026-10")] == ["RED-SEE"]
    assert records(api, "zj", month="2026-11") == []

    assert [x["business_key"] for x in leads(api, "jw")] == ["RED-SEE"]     # the escalation target
    assert [x["business_key"] for x in leads(api, "zjd")] == []             # a sub-department sees its own only
    assert leads(api, "cz") == []
    for who in ("emp", "con", "operator", "designer"):
        leads(api, who, expect=403)
    assert len(leads(api, "jw", month="2026-10")) == 1 and leads(api, "jw", month="2026-09") == []


def test_only_the_supervising_department_decides_and_only_on_a_red_alert(api):
    alert = red_contract(api, "RED-WHO")
    with api.db.transaction() as s:
        from engine.access.directory import add_user
        _, api.people.tokens["jw"] = add_user(s, "jw", "supervisor", department="JW")
    confirm(api, alert["id"], "jw", expect=403)        # sees it (escalated), but receives the lead, not decides
    confirm(api, alert["id"], "zjd", expect=404)       # ZJ-D is below ZJ: not its alert
    confirm(api, alert["id"], "cz", expect=404)
    for who in ("emp", "operator", "designer"):
        confirm(api, alert["id"], who, expect=403)
    body = confirm(api, alert["id"], "zj", decision="maybe", expect=422)
    assert list(body["errors"]) == ["decision"]
    confirm(api, "00000000-0000-4000-8000-000000000000", "zj", expect=404)
    assert records(api, "admin") == [] and [x["status"] for x in leads(api, "admin")] == ["pending"]

    # An orange alert is not confirmed: the violation is judged once the alert is red.
    c = Contract(api, "ORANGE", one_milestone(tendering_works(), "2026-12-15"))
    c.run(until="file")
    api.tick(just_after_midnight(8, 20))  # L01: 7 days from the signing of 08-12 → 08-19 24:00
    [orange] = [a for a in api.alerts("zj") if a["business_key"] == "ORANGE"]
    assert orange["severity"] == "orange"
    confirm(api, orange["id"], "zj", expect=409, when=at(8, 20))
    assert records(api, "admin") == []


def test_a_dismissed_red_alert_writes_nothing(api):
    alert = red_contract(api, "RED-DISMISS")
    body = confirm(api, alert["id"], "zj", decision="dismissed")
    assert body["decision"]["decision"] == "dismissed" and body["credit_record"] is None and body["lead"] is None
    assert records(api, "admin") == [] and leads(api, "admin") == []
    [dismissed] = leads(api, "admin", status="dismissed")
    assert dismissed["alert_id"] == alert["id"] and dismissed["id"] is None and dismissed["note"]
    confirm(api, alert["id"], "zj", expect=409)
    assert api.call("GET", "/api/v1/reports/monthly?month=2026-10", "admin")["leads"] == \
        {"total": 0, "pending": 0, "confirmed": 0, "dismissed": 1}


def test_two_departments_users_confirming_at_once_write_one_record(api, app):
    alert = red_contract(api, "RED-RACE")
    results: list[int] = []
    barrier = threading.Barrier(2)

    def go(who: str):
        client = app.test_client()
        barrier.wait()
        r = client.post(f"/api/v1/alerts/{alert['id']}/confirm", headers=api.people.auth(who),
                        json={"decision": "confirmed"})
        results.append(r.status_code)

    threads = [threading.Thread(target=go, args=(who,)) for who in ("zj", "admin")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [200, 409]
    assert len(records(api, "admin")) == 1 and len(leads(api, "admin")) == 1


def test_leads_page_with_a_cursor(api):
    keys = [red_contract(api, f"RED-PAGE-{i}")["business_key"] for i in range(3)]
    seen, cursor = [], None
    for _ in range(5):
        q = "limit=1" + (f"&cursor={cursor}" if cursor else "")
        body = api.call("GET", f"/api/v1/leads?{q}", "zj")
        seen += [x["business_key"] for x in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(keys) and len(seen) == 3
    body = api.call("GET", "/api/v1/leads?cursor=garbage", "zj", expect=422)
    assert list(body["errors"]) == ["cursor"]


@pytest.mark.parametrize("start, months, last", [
    (date(2026, 10, 13), 6, date(2027, 4, 13)),
    (date(2026, 8, 31), 6, date(2027, 2, 28)),     # no 31st in February: its last day (Civil Code art 202)
    (date(2028, 2, 29), 60, date(2033, 2, 28)),
    (date(2026, 12, 1), 1, date(2027, 1, 1)),
])
def test_publicity_periods_in_months_end_on_the_corresponding_day(start, months, last):
    assert credit.add_months(start, months) == last
