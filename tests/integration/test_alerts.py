"""Issue 3: timers raise supervision alerts from the diagram's warning construct, severities rise
in place, the department (and its escalation target when red) sees them, meeting the obligation
resolves them."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from engine import clock
from engine.runtime import timers
from tests.conftest import fixture_bytes

XML = {"Content-Type": "application/xml"}
CN = timezone(timedelta(hours=8))


def deploy(client, people):
    r = client.post("/api/v1/definitions", data=fixture_bytes("signing_deadline.bpmn"), headers={**people.auth("designer"), **XML})
    assert r.status_code == 201, r.get_json()


def start(client, people, key, award_notice_date, department="ZJ"):
    r = client.post("/api/v1/instances", headers=people.auth("operator"), json={
        "definition": "signing_deadline", "business_key": key,
        "data": {"employer": "EMP", "department": department, "award_notice_date": award_notice_date}})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def alerts_of(client, people, who, **query):
    q = "&".join(f"{k}={v}" for k, v in query.items())
    r = client.get(f"/api/v1/alerts?{q}", headers=people.auth(who))
    assert r.status_code == 200
    return r.get_json()["items"]


def test_backdated_contract_raises_one_red_alert_at_once(client, people):
    deploy(client, people)
    instance = start(client, people, "B-1", "2026-09-01")  # R04: 30 days → 2026-10-08 24:00 (National Day)
    [alert] = alerts_of(client, people, "zj")
    assert alert["code"] == "SIGNING_OVERDUE" and alert["kind"] == "non_performance"
    assert alert["severity"] == "red" and alert["status"] == "open"
    assert alert["due_at"].startswith("2026-10-08T16:00:00")
    assert alert["department"] == "ZJ" and alert["responsible_org"] == "EMP"
    assert alert["element_id"] == "sign_contract" and alert["instance_id"] == instance["id"]
    assert "第四十六条" in alert["legal_basis"]
    assert alert["days_overdue"] >= 50 and alert["amount_overdue"] is None
    assert [a["id"] for a in alerts_of(client, people, "emp")] == [alert["id"]]
    assert alerts_of(client, people, "other") == [] and alerts_of(client, people, "cz") == []
    assert client.get(f"/api/v1/alerts/{alert['id']}", headers=people.auth("cz")).status_code == 404


def test_red_alert_reaches_the_departments_escalation_target(client, people):
    deploy(client, people)
    start(client, people, "B-2", "2026-09-01", department="ZJ-D")
    app_db = client.application.extensions["lvyue"].db
    from tests.conftest import seed_people  # noqa: F401  (people fixture seeded JW as ZJ-D's escalation target)
    with app_db.transaction() as s:
        from engine.access.directory import add_user
        _, token = add_user(s, "jw", "supervisor", department="JW")
    r = client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"}).get_json()["items"]
    assert [a["business_key"] for a in r] == ["B-2"] and r[0]["escalated_to"] == "JW"
    assert [a["business_key"] for a in alerts_of(client, people, "zj")] == ["B-2"]  # parent department sees it too


def test_severity_rises_in_place_while_due_at_stays_the_deadline(client, people, app):
    deploy(client, people)
    db = app.extensions["lvyue"].db
    with clock.frozen_at(datetime(2026, 9, 2, 10, tzinfo=CN)):
        instance = start(client, people, "S-1", "2026-09-01")
    assert alerts_of(client, people, "emp") == []
    timer_dues = sorted(t["due_at"] for t in instance["timers"])
    assert len(timer_dues) == 3

    # yellow: 3 days before 2026-10-08 24:00 → 2026-10-06 00:00 China time
    timers.tick(db, datetime(2026, 10, 6, 0, 0, 1, tzinfo=CN))
    [yellow] = alerts_of(client, people, "emp")
    assert yellow["severity"] == "yellow" and yellow["due_at"].startswith("2026-10-08T16:00:00")
    assert alerts_of(client, people, "zj") == []  # a pre-warning for the responsible organisation

    timers.tick(db, datetime(2026, 10, 9, 0, 0, 1, tzinfo=CN))
    [orange] = alerts_of(client, people, "zj")
    assert orange["id"] == yellow["id"] and orange["severity"] == "orange" and orange["due_at"] == yellow["due_at"]

    timers.tick(db, datetime(2026, 11, 8, 0, 0, 1, tzinfo=CN))
    [red] = alerts_of(client, people, "zj")
    assert red["id"] == yellow["id"] and red["severity"] == "red"
    assert len(alerts_of(client, people, "admin")) == 1


def test_nothing_is_raised_before_the_deadline(client, people, app):
    deploy(client, people)
    db = app.extensions["lvyue"].db
    with clock.frozen_at(datetime(2026, 9, 2, 10, tzinfo=CN)):
        start(client, people, "N-1", "2026-09-01")
    assert timers.tick(db, datetime(2026, 10, 5, 23, 59, tzinfo=CN)).fired == 0
    assert alerts_of(client, people, "admin") == []


def test_completing_the_awaited_task_resolves_the_alert_with_the_days_late(client, people):
    deploy(client, people)
    instance = start(client, people, "R-1", "2026-09-01")
    [alert] = alerts_of(client, people, "zj")
    task = instance["tasks"][0]
    r = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"signed_at": "2026-10-12"}}, headers=people.auth("emp"))
    assert r.status_code == 200
    resolved = client.get(f"/api/v1/alerts/{alert['id']}", headers=people.auth("zj")).get_json()
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    assert resolved["resolution"] == "obligation met on 2026-10-12, 4 days late"
    assert alerts_of(client, people, "zj", status="open") == []
    history = client.get(f"/api/v1/instances/{instance['id']}/history", headers=people.auth("zj")).get_json()["items"]
    assert [e["action"] for e in history].count("alert_resolved") == 1


def test_supervisors_acknowledge_and_resolve_parties_cannot(client, people):
    deploy(client, people)
    start(client, people, "A-1", "2026-09-01")
    [alert] = alerts_of(client, people, "zj")
    assert client.post(f"/api/v1/alerts/{alert['id']}/acknowledge", json={"note": "x"}, headers=people.auth("emp")).status_code == 403
    r = client.post(f"/api/v1/alerts/{alert['id']}/acknowledge", json={"note": "seen, calling the school"}, headers=people.auth("zj"))
    assert r.status_code == 200 and r.get_json()["status"] == "acknowledged"
    r = client.post(f"/api/v1/alerts/{alert['id']}/resolve", json={"note": "settled by agreement"}, headers=people.auth("zj"))
    assert r.status_code == 200 and r.get_json()["status"] == "resolved" and "settled" in r.get_json()["resolution"]
    assert client.post(f"/api/v1/alerts/{alert['id']}/resolve", json={}, headers=people.auth("zj")).status_code == 409


def test_alerts_show_on_the_instance_to_those_who_may_see_them(client, people):
    deploy(client, people)
    instance = start(client, people, "V-1", "2026-09-01")
    view = client.get(f"/api/v1/instances/{instance['id']}", headers=people.auth("zj")).get_json()
    assert [a["code"] for a in view["alerts"]] == ["SIGNING_OVERDUE"]


def test_cancelling_a_contract_resolves_its_alerts(client, people):
    deploy(client, people)
    instance = start(client, people, "C-1", "2026-09-01")
    r = client.post(f"/api/v1/instances/{instance['id']}/cancel", json={"reason": "tender annulled"}, headers=people.auth("operator"))
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    [alert] = alerts_of(client, people, "zj")
    assert alert["status"] == "resolved" and "tender annulled" in alert["resolution"]
