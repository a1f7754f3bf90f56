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


# ---------------------------------------------------------------- objections
def published(api: Api, key: str, track: str = "tendering", severity: str = "general") -> dict:
    record = awaiting(api, key, track)
    return decide(api, record["id"], "zj" if track == "tendering" else "cz", severity=severity)


def object_to(api: Api, record_id: str, who: str = "emp", expect: int = 201, when=None, grounds="合同已于当日签订，记录有误"):
    return api.call("POST", f"/api/v1/credit-records/{record_id}/objections", who, when or at(10, 15), expect,
                    json={"grounds": grounds})


def answer(api: Api, objection_id: str, outcome: str, who: str = "zj", when=None, expect: int = 200, **more):
    return api.call("POST", f"/api/v1/objections/{objection_id}/answer", who, when or at(10, 16), expect,
                    json={"outcome": outcome, "answer": "经复核", **more})


def test_an_upheld_objection_removes_the_record_at_once_and_records_henans_periods(api):
    record = published(api, "OBJ-UP")
    assert record["publicity"]["in_publicity"] is True
    objection = object_to(api, record["id"])                      # Thursday 2026-10-15
    assert objection["status"] == "open" and objection["check"] == "in_house"
    assert objection["due"] == {"rule": "S03A", "last_day": "2026-10-20",   # 3 working days: Fri, Mon, Tue
                                "legal_basis": objection["due"]["legal_basis"]}
    object_to(api, record["id"], expect=409)                      # one open objection at a time
    answered = answer(api, objection["id"], "upheld", when=at(10, 16))
    assert answered["outcome"] == "upheld" and answered["late"] is False and answered["status"] == "answered"
    removed = answered["record"]
    assert removed["removal"]["reason"] == "objection_upheld" and removed["removal"]["due"] == "2026-10-19"
    assert removed["publicity"]["in_publicity"] is False
    got = api.call("GET", f"/api/v1/credit-records/{record['id']}", "zj", at(10, 16))
    assert got["publicity"]["in_publicity"] is False
    answer(api, objection["id"], "rejected", expect=409)           # answered once
    object_to(api, record["id"], expect=409, when=at(10, 17))      # no longer published: nothing to object to


def test_an_answer_after_three_working_days_is_late_and_an_open_one_is_listed_overdue(api):
    record = published(api, "OBJ-LATE")
    objection = object_to(api, record["id"])
    overdue = lambda when: [o["id"] for o in api.call("GET", "/api/v1/objections?overdue=true", "zj", when)["items"]]
    assert overdue(at(10, 20, 23)) == []                          # the last day, 2026-10-20
    assert overdue(at(10, 21)) == [objection["id"]]               # past it: the warning
    assert api.call("GET", f"/api/v1/objections/{objection['id']}", "zj", at(10, 21))["overdue"] is True
    answered = answer(api, objection["id"], "rejected", when=at(10, 21))
    assert answered["late"] is True and answered["record"]["publicity"]["in_publicity"] is True
    assert answered["record"]["removal"] is None
    assert overdue(at(10, 22)) == []


def test_an_objection_past_its_period_warns_the_department_once(api):
    from sqlalchemy import select

    from engine import clock
    from engine.storage.models import Department, Outbox
    from engine.supervision import objections
    with api.db.transaction() as s:
        zj = s.get(Department, "ZJ")
        zj.webhook_url, zj.webhook_secret = "https://zj.example/hook", "s" * 32
    record = published(api, "OBJ-WARN")
    objection = object_to(api, record["id"])                      # last day 2026-10-20
    with clock.frozen_at(at(10, 20, 23)):
        assert objections.warn_overdue(api.db) == 0
    with clock.frozen_at(at(10, 21)):
        assert objections.warn_overdue(api.db) == 1
        assert objections.warn_overdue(api.db) == 0               # once
    with api.db.read() as s:
        events = [r.event for r in s.scalars(select(Outbox).where(Outbox.department_code == "ZJ"))]
    assert events.count("objection.filed") == 1 and events.count("objection.overdue") == 1
    assert api.call("GET", f"/api/v1/objections/{objection['id']}", "zj")["warned_at"] is not None


def test_referred_to_the_provider_the_department_has_seven_working_days(api):
    record = published(api, "OBJ-REF")
    objection = object_to(api, record["id"])
    api.call("POST", f"/api/v1/objections/{objection['id']}/refer", "cz", at(10, 15), 403)   # not its department
    referred = api.call("POST", f"/api/v1/objections/{objection['id']}/refer", "zj", at(10, 15))
    assert referred["check"] == "provider" and referred["due"]["rule"] == "S03B"
    assert referred["due"]["last_day"] == "2026-10-26"            # 7 working days from Thursday 10-15
    api.call("POST", f"/api/v1/objections/{objection['id']}/refer", "zj", at(10, 15), 409)
    assert answer(api, objection["id"], "rejected", when=at(10, 26))["late"] is False


def test_a_correction_takes_the_period_again_from_the_registry(api):
    record = published(api, "OBJ-COR", "gov_procurement", severity="serious")
    assert record["publicity"]["until"] == "2029-10-14"
    objection = object_to(api, record["id"])
    body = answer(api, objection["id"], "corrected", who="cz", expect=422)
    assert list(body["errors"]) == ["severity"]
    answer(api, objection["id"], "upheld", who="cz", expect=422, severity="general")
    corrected = answer(api, objection["id"], "corrected", who="cz", severity="general")["record"]
    assert corrected["decision"]["severity"] == "general" and corrected["publicity"]["rule"] == "CP02+S03"
    assert corrected["publicity"]["until"] == "2027-10-14" and corrected["publicity"]["in_publicity"] is True
    second = object_to(api, record["id"], who="con2", expect=404)  # another organisation's record
    second = object_to(api, record["id"], when=at(10, 19))
    warned = answer(api, second["id"], "corrected", who="cz", when=at(10, 19), severity="warning")["record"]
    assert warned["publicity"]["published"] is False and warned["publicity"]["in_publicity"] is False


def test_who_objects_and_who_answers(api):
    record = published(api, "OBJ-WHO")
    for who, status in (("con", 404), ("zj", 403), ("operator", 403), ("designer", 403)):
        object_to(api, record["id"], who=who, expect=status)
    body = object_to(api, record["id"], expect=422, grounds="")
    assert list(body["errors"]) == ["grounds"]
    objection = object_to(api, record["id"])
    for who, status in (("emp", 403), ("cz", 403), ("operator", 403)):
        answer(api, objection["id"], "upheld", who=who, expect=status)
    body = answer(api, objection["id"], "maybe", expect=422)
    assert list(body["errors"]) == ["outcome"]
    assert [o["id"] for o in api.call("GET", "/api/v1/objections", "emp")["items"]] == [objection["id"]]
    assert api.call("GET", "/api/v1/objections", "con")["items"] == []
    assert api.call("GET", "/api/v1/objections", "cz")["items"] == []
    api.call("GET", "/api/v1/objections", "operator", expect=403)
    api.call("GET", f"/api/v1/objections/{objection['id']}", "con", expect=404)


def test_revocation_and_repair_end_publication_early(api):
    record = published(api, "REV")
    api.call("POST", f"/api/v1/credit-records/{record['id']}/revocation", "emp", at(10, 15), 403, json={"note": "x"})
    revoked = api.call("POST", f"/api/v1/credit-records/{record['id']}/revocation", "zj", at(10, 15),
                       json={"note": "决定撤销"})
    assert revoked["removal"]["reason"] == "revoked" and revoked["removal"]["due"] == "2026-10-16"
    api.call("POST", f"/api/v1/credit-records/{record['id']}/revocation", "zj", at(10, 15), 409, json={"note": "again"})

    tendering = published(api, "REP-T")                               # S02: no early end by repair
    body = api.call("POST", f"/api/v1/credit-records/{tendering['id']}/repair", "zj", at(10, 15), 409,
                    json={"applied_on": "2026-10-15", "note": "已整改"})
    assert "no early end" in body["detail"]
    serious = published(api, "REP-S", "gov_procurement", severity="serious")
    assert serious["publicity"]["repair_after"] == "2027-10-14"
    body = api.call("POST", f"/api/v1/credit-records/{serious['id']}/repair", "cz", at(10, 15, year=2027), 422,
                    json={"applied_on": "2027-10-13", "note": "已整改"})
    assert list(body["errors"]) == ["applied_on"]
    repaired = api.call("POST", f"/api/v1/credit-records/{serious['id']}/repair", "cz", at(10, 15, year=2027),
                        json={"applied_on": "2027-10-14", "note": "已整改，准予修复"})
    assert repaired["removal"]["reason"] == "repaired" and repaired["removal"]["due"] == "2027-10-15"
    assert repaired["publicity"]["in_publicity"] is False


# ---------------------------------------------------------------- the public library
USCC_EMP = "91410100MA4AB1234L"   # GB 32100-2015 check character L


def public(api: Api, when, expect: int = 200, **query) -> dict:
    from engine import clock
    with clock.frozen_at(when):
        r = api.client.get("/api/v1/public/credit-records", query_string=query)   # no token
    assert r.status_code == expect, r.get_json()
    return r.get_json()


def set_uscc(api: Api, code: str, uscc: str) -> None:
    from engine.storage.models import Organisation
    with api.db.transaction() as s:
        s.get(Organisation, code).uscc = uscc


PUBLIC_KEYS = {"id", "organisation", "decision", "violation", "publicity"}


def test_the_public_library_shows_exactly_the_records_within_their_period_and_nothing_else(api):
    set_uscc(api, "EMP", USCC_EMP)
    shown = published(api, "PUB-SHOWN")                                   # tendering: 10-14 .. 2027-04-14
    awaiting(api, "PUB-WAIT")                                            # no decision yet
    warned = awaiting(api, "PUB-WARN")
    decide(api, warned["id"], "zj", severity="warning")                  # never published
    gone = published(api, "PUB-GONE")
    objection = object_to(api, gone["id"])
    answer(api, objection["id"], "upheld", when=at(10, 15, 15))          # removed at once

    body = public(api, at(10, 15, 16))
    assert [r["id"] for r in body["items"]] == [shown["id"]] and body["next_cursor"] is None
    [item] = body["items"]
    assert set(item) == PUBLIC_KEYS
    assert item["organisation"] == {"name": "org EMP", "uscc": USCC_EMP}
    assert item["decision"] == {"document_no": "郑建罚〔2026〕17号", "date": "2026-10-14",
                                "legal_basis": "《中华人民共和国招标投标法》第五十九条", "severity": "general",
                                "department": "住建局"}
    assert item["publicity"]["from"] == "2026-10-14" and item["publicity"]["until"] == "2027-04-14"
    assert item["publicity"]["rule"] == "S02+S03" and "第四十六条" in item["violation"]["legal_basis"]
    text = str(body)
    for secret in ("PUB-SHOWN", shown["instance_id"], "note", "business_key", "经核查", "alert", "CON"):
        assert secret not in text, secret

    assert public(api, at(10, 13))["items"] == []                        # before the decision's date
    assert [r["id"] for r in public(api, at(4, 14, 23, year=2027))["items"]] == [shown["id"]]   # its last day
    assert public(api, at(4, 15, year=2027))["items"] == []              # the period is over


def test_the_public_library_is_searched_by_name_or_credit_code_and_paginated(api):
    set_uscc(api, "EMP", USCC_EMP)
    first = published(api, "PUB-S1")
    second = decide(api, awaiting(api, "PUB-S2")["id"], "zj", when=at(10, 14, 11))   # decided later: listed first
    when = at(10, 20)
    ids = lambda **q: [r["id"] for r in public(api, when, **q)["items"]]   # noqa: E731
    assert ids(q="org EMP") == ids(q="EMP") == ids(q=USCC_EMP) == ids(q=USCC_EMP.lower()) == [second["id"], first["id"]]
    assert ids(q="CON") == [] and ids(q="91410100MA4AB1234X") == [] and ids(q="%") == [] and ids(q="_") == []
    page1 = public(api, when, limit=1)
    page2 = public(api, when, limit=1, cursor=page1["next_cursor"])
    assert [r["id"] for r in page1["items"] + page2["items"]] == [second["id"], first["id"]]
    assert page2["next_cursor"] is None
    assert list(public(api, when, 422, q="x" * 101)["errors"]) == ["q"]
    assert list(public(api, when, 422, cursor="forged")["errors"]) == ["cursor"]


def test_the_export_for_the_provincial_platform(api):
    set_uscc(api, "EMP", USCC_EMP)
    record = published(api, "PUB-EXP")
    from engine import clock
    with clock.frozen_at(at(10, 20)):
        package = api.client.get("/api/v1/public/credit-records/export").get_json()
        r = api.client.get("/api/v1/public/credit-records/export?format=csv")
    assert package["format"] == "lvyue-credit-records/1" and package["as_of"] == "2026-10-20"
    assert package["count"] == 1 and package["records"][0]["id"] == record["id"]
    assert set(package["records"][0]) == PUBLIC_KEYS
    assert r.status_code == 200 and r.mimetype == "text/csv"
    lines = r.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0].startswith("id,org_name,uscc,document_no,decision_date,severity") and len(lines) == 2
    assert lines[1].startswith(f"{record['id']},org EMP,{USCC_EMP},郑建罚〔2026〕17号,2026-10-14,general")


def test_the_publicity_rules_are_served_to_anyone(api):
    r = api.client.get("/api/v1/public/publicity-rules")                 # no token
    assert r.status_code == 200
    items = {i["id"]: i for i in r.get_json()["items"]}
    assert items["CP01"]["published"] is False and items["CP01"]["verified"] == "U"
    assert items["CP03"]["months"] == 36 and items["CP03"]["repair_after_months"] == 12
    assert items["S03"]["cap_months"] == 60 and items["S02"]["tracks"] == ["tendering"]
    assert all(i["in_force"] for i in items.values())


def test_the_credit_page_lists_the_library_without_a_token(api):
    published(api, "PUB-PAGE")
    from engine import clock
    with clock.frozen_at(at(10, 20)):
        r = api.client.get("/credit?q=EMP")
        bad = api.client.get("/credit?q=" + "x" * 101)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "郑建罚〔2026〕17号" in html and "org EMP" in html and "PUB-PAGE" not in html
    assert r.headers["X-Frame-Options"] == "DENY"
    assert bad.status_code == 400 and "1 to 100 characters" in bad.get_data(as_text=True)


# ---------------------------------------------------------------- concurrency (both databases; PostgreSQL the real test)
def _race(app, api: Api, calls: list[tuple[str, str, dict]]) -> list[int]:
    import threading

    barrier, results = threading.Barrier(len(calls)), []

    def go(who: str, path: str, body: dict):
        client = app.test_client()
        barrier.wait()
        results.append(client.post(path, headers=api.people.auth(who), json=body).status_code)

    threads = [threading.Thread(target=go, args=call) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return sorted(results)


def test_a_decision_an_objection_and_an_answer_are_each_recorded_once_when_sent_twice_at_once(api, app):
    from engine import clock
    alert = red_contract(api, "RACE-1")
    record = api.call("POST", f"/api/v1/alerts/{alert['id']}/confirm", "zj", json={"decision": "confirmed"})["credit_record"]
    today = clock.now().astimezone(credit_tz()).date().isoformat()
    body = {"document_no": "郑建罚〔2026〕1号", "date": today, "legal_basis": "《招标投标法》第五十九条", "severity": "general"}
    path = f"/api/v1/credit-records/{record['id']}/decision"
    assert _race(app, api, [("zj", path, body), ("admin", path, {**body, "document_no": "郑建罚〔2026〕2号"})]) == [200, 409]
    path = f"/api/v1/credit-records/{record['id']}/objections"
    assert _race(app, api, [("emp", path, {"grounds": "一"}), ("admin", path, {"grounds": "二"})]) == [201, 409]
    [objection] = api.call("GET", f"/api/v1/objections?record_id={record['id']}", "zj")["items"]
    path = f"/api/v1/objections/{objection['id']}/answer"
    assert _race(app, api, [("zj", path, {"outcome": "upheld", "answer": "成立"}),
                            ("admin", path, {"outcome": "rejected", "answer": "维持"})]) == [200, 409]
    trail = [e["action"] for e in api.call("GET", f"/api/v1/instances/{record['instance_id']}/history?limit=500", "admin")["items"]]
    assert trail.count("credit_decision") == 1 and trail.count("credit_objection_filed") == 1
    assert trail.count("credit_objection_answered") == 1
    with api.db.read() as s:
        assert list(audit.verify(s, record["instance_id"])) == []


def credit_tz():
    from engine.supervision import deadlines
    return deadlines.SHANGHAI
