"""Issue 19's presentation fixes: the dashboard's open alerts are bucketed by days overdue (not by days since
raised), and a resolved alert's days_overdue stops at its resolution instead of growing with every read."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine import clock
from tests.conftest import fixture_bytes

CN = timezone(timedelta(hours=8))
XML = {"Content-Type": "application/xml"}
SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # no SQL behaviour of its own here
T0 = datetime(2026, 11, 20, 10, tzinfo=CN)


def start(client, people, key, award_notice_date):
    r = client.post("/api/v1/instances", headers=people.auth("operator"), json={
        "definition": "signing_deadline", "business_key": key,
        "data": {"employer": "EMP", "department": "ZJ", "award_notice_date": award_notice_date}})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def dashboard(client, people):
    r = client.get("/api/v1/reports/dashboard", headers=people.auth("admin"))
    assert r.status_code == 200, r.get_json()
    return r.get_json()["open_alerts"]


def alert_of(client, people, key):
    [alert] = client.get(f"/api/v1/alerts?business_key={key}", headers=people.auth("admin")).get_json()["items"]
    return alert


@SQLITE
def test_open_alerts_are_bucketed_by_days_overdue_not_by_days_since_raised(client, people):
    assert client.post("/api/v1/definitions", data=fixture_bytes("signing_deadline.bpmn"),
                       headers={**people.auth("designer"), **XML}).status_code == 201
    with clock.frozen_at(T0):
        # backdated: R04's 30 days ended 2026-06-30 24:00 (award 2026-05-31) — raised today, red, 143 days overdue
        start(client, people, "OLD-1", "2026-05-31")
        # 2026-10-08 24:00 (award 2026-09-01, National Day moves it): raised today, 43 days overdue
        start(client, people, "MID-1", "2026-09-01")
    with clock.frozen_at(T0):
        old, mid = alert_of(client, people, "OLD-1"), alert_of(client, people, "MID-1")
        assert (old["days_overdue"], mid["days_overdue"]) == (143, 43)
        panel = dashboard(client, people)
    assert panel["age_buckets"] == ["0-7", "8-30", "31-90", ">90"]
    # days since raised are 0 for both: the old bucketing put them in "0-7"
    assert panel["by_age"]["red"] == {"0-7": 0, "8-30": 0, "31-90": 1, ">90": 1}
    items = {a["business_key"]: a for a in panel["items"]}
    assert items["OLD-1"]["age_days"] == 0 and items["OLD-1"]["days_overdue"] == 143

    # the bucket bounds, at exact instants: 90 days overdue is "31-90", one more second is ">90"
    due = datetime.fromisoformat(mid["due_at"])
    with clock.frozen_at(due + timedelta(days=90)):
        assert dashboard(client, people)["by_age"]["red"]["31-90"] == 1
    with clock.frozen_at(due + timedelta(days=90, seconds=1)):
        assert dashboard(client, people)["by_age"]["red"] == {"0-7": 0, "8-30": 0, "31-90": 0, ">90": 2}
    with clock.frozen_at(due + timedelta(days=7)):  # MID 7 days overdue: "0-7" again
        assert dashboard(client, people)["by_age"]["red"]["0-7"] == 1


@SQLITE
def test_a_resolved_alert_keeps_the_days_overdue_it_had_when_resolved(client, people):
    assert client.post("/api/v1/definitions", data=fixture_bytes("signing_deadline.bpmn"),
                       headers={**people.auth("designer"), **XML}).status_code == 201
    with clock.frozen_at(T0):
        instance = start(client, people, "RES-1", "2026-09-01")
    [task] = instance["tasks"]
    with clock.frozen_at(T0 + timedelta(days=2)):
        r = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"signed_at": "2026-11-21"}},
                        headers=people.auth("emp"))
        assert r.status_code == 200, r.get_json()
        resolved = alert_of(client, people, "RES-1")
    assert resolved["status"] == "resolved" and resolved["days_overdue"] == 45
    for later in (timedelta(days=3), timedelta(days=400)):
        with clock.frozen_at(T0 + later):
            again = alert_of(client, people, "RES-1")
            one = client.get(f"/api/v1/alerts/{resolved['id']}", headers=people.auth("zj")).get_json()
        assert again["days_overdue"] == one["days_overdue"] == 45
    with clock.frozen_at(T0 + timedelta(days=400)):  # and the dashboard counts it no more
        assert dashboard(client, people)["total"] == 0
