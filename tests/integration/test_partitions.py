"""Partitioned work (one small workflow per milestone), payment loops with running totals, alerts
per obligation that partial payments keep open, and messages that arrive early."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from engine import clock
from engine.runtime import timers
from tests.conftest import fixture_bytes

XML = {"Content-Type": "application/xml"}
CN = timezone(timedelta(hours=8))


def _start(client, people, key, milestones, term=30):
    r = client.post("/api/v1/definitions", data=fixture_bytes("milestones.bpmn"), headers={**people.auth("designer"), **XML})
    assert r.status_code in (200, 201), r.get_json()
    r = client.post("/api/v1/instances", headers=people.auth("operator"), json={
        "definition": "ms_contract", "business_key": key,
        "data": {"employer": "EMP", "department": "ZJ", "payment_term_days": term, "milestones": milestones}})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _tasks(client, people, instance_id, element_id=None):
    q = f"?instance_id={instance_id}" + (f"&element_id={element_id}" if element_id else "")
    return client.get(f"/api/v1/tasks{q}", headers=people.auth("emp")).get_json()["items"]


def _pay(client, people, task_id, amount, paid_at):
    r = client.post(f"/api/v1/tasks/{task_id}/complete", headers=people.auth("emp"),
                    json={"data": {"paid_at": paid_at, "amount": amount}})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_an_early_message_is_kept_and_delivered_when_the_process_waits(client, people):
    with clock.frozen_at(datetime(2026, 9, 1, 9, tzinfo=CN)):
        inst = _start(client, people, "MS-0", [{"no": 1, "amount": "100", "accepted_at": "2026-09-01"}])
    r = client.post(f"/api/v1/instances/{inst['id']}/messages/guarantee_issued", json={"payload": {"guarantee_no": "G1"}},
                    headers=people.auth("operator"))
    assert r.status_code == 200
    assert [t["element_id"] for t in r.get_json()["tasks"]] == ["record_payment"]
    assert r.get_json()["data"]["guarantee_no"] == "G1"
    # an unknown contract is 404 (a message the diagram does not declare external: tests/integration/test_messages.py)
    assert client.post("/api/v1/instances/nope/messages/x", json={}, headers=people.auth("operator")).status_code == 404


def test_each_milestone_runs_as_its_own_workflow_and_the_contract_waits_for_all(client, people):
    with clock.frozen_at(datetime(2026, 9, 1, 9, tzinfo=CN)):
        inst = _start(client, people, "MS-1", [{"no": n, "amount": "100.00", "accepted_at": "2026-09-01"} for n in (1, 2, 3)])
        client.post(f"/api/v1/instances/{inst['id']}/messages/guarantee_issued", json={}, headers=people.auth("operator"))
    payments = _tasks(client, people, inst["id"], "record_payment")
    assert len(payments) == 3
    for t in payments:
        _pay(client, people, t["id"], "100.00", "2026-09-10")
    [confirm] = _tasks(client, people, inst["id"])
    assert confirm["element_id"] == "confirm_completion"
    view = client.get(f"/api/v1/instances/{inst['id']}/diagram", headers=people.auth("operator")).get_json()
    assert "confirm_completion" in view["active"] and "record_payment" in view["completed"]


def test_partial_payment_lowers_amount_overdue_and_keeps_one_alert_open(client, people, app):
    db = app.extensions["lvyue"].db
    with clock.frozen_at(datetime(2026, 9, 1, 9, tzinfo=CN)):
        inst = _start(client, people, "MS-2", [{"no": 1, "amount": "1000.00", "accepted_at": "2026-09-01"}])
        client.post(f"/api/v1/instances/{inst['id']}/messages/guarantee_issued", json={}, headers=people.auth("operator"))
    timers.tick(db, datetime(2026, 10, 2, 9, tzinfo=CN))  # 30 days from 2026-09-01 → 2026-10-08 (National Day)
    assert client.get("/api/v1/alerts", headers=people.auth("zj")).get_json()["items"] == []
    timers.tick(db, datetime(2026, 10, 9, 9, tzinfo=CN))
    [alert] = client.get("/api/v1/alerts", headers=people.auth("zj")).get_json()["items"]
    assert alert["code"] == "PAYMENT_OVERDUE" and alert["amount_overdue"] == "1000.00"

    [task] = _tasks(client, people, inst["id"], "record_payment")
    with clock.frozen_at(datetime(2026, 10, 12, 9, tzinfo=CN)):
        _pay(client, people, task["id"], "400.00", "2026-10-12")
    [alert] = client.get("/api/v1/alerts", headers=people.auth("zj")).get_json()["items"]
    assert alert["status"] == "open" and alert["amount_overdue"] == "600.00"

    [task] = _tasks(client, people, inst["id"], "record_payment")
    with clock.frozen_at(datetime(2026, 10, 20, 9, tzinfo=CN)):
        _pay(client, people, task["id"], "600.00", "2026-10-20")
    [alert] = client.get("/api/v1/alerts", headers=people.auth("zj")).get_json()["items"]
    assert alert["status"] == "resolved" and alert["resolution"] == "paid 12 days late (on 2026-10-20)"
    assert _tasks(client, people, inst["id"])[0]["element_id"] == "confirm_completion"
