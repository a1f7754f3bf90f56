"""A timer whose firing fails is retried with backoff, becomes an incident after timers.MAX_ATTEMPTS,
is listed for operators (not parties), and POST /incidents/{id}/retry queues it again, due now.
GET /metrics reports timers, alerts and the firing lag.

Time is driven with `timers.tick(db, at)` and `clock.frozen_at`, so backoff instants are exact.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, func, select

from engine.supervision import alerts as alerts_module
from engine.runtime import audit, steps, timers
from engine import clock
from engine.storage.models import Alert, AuditEvent, Incident, Instance, Timer
from tests.conftest import fixture_bytes

XML = {"Content-Type": "application/xml"}
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)
DUE = T0 + timedelta(hours=1)
# short_timer.bpmn with a designer's mistake the deploy lint cannot see: the alert's amount divides by a
# variable the process data never holds, so every firing of the timer fails when it raises the alert.
BROKEN = fixture_bytes("short_timer.bpmn").replace(b'amount="amount"', b'amount="amount / instalments"')
assert BROKEN != fixture_bytes("short_timer.bpmn")


def deploy(client, people, xml: bytes) -> None:
    r = client.post("/api/v1/definitions", data=xml, headers={**people.auth("designer"), **XML})
    assert r.status_code == 201, r.get_json()


def start(client, people, key: str, due_at: datetime, at: datetime, version: int | None = None) -> dict:
    with clock.frozen_at(at):
        r = client.post("/api/v1/instances", headers=people.auth("operator"), json={
            "definition": "short_timer", "business_key": key, **({"version": version} if version else {}),
            "data": {"employer": "EMP", "department": "ZJ", "due_at": due_at.isoformat(), "amount": "5000.00"}})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def timer_row(db, timer_id: str) -> Timer:
    with db.read() as s:
        return s.get(Timer, timer_id)


def metric(text: str, name: str, **labels) -> float | None:
    """The value of one sample of the Prometheus text, or None when it is absent."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + want + '}') if want else ''} (\S+)$"
    found = re.search(pattern, text, re.M)
    return float(found.group(1)) if found else None


@pytest.fixture
def db(app):
    return app.extensions["lvyue"].db


def test_a_failing_timer_backs_off_then_becomes_an_incident_that_an_operator_retries(client, people, db, monkeypatch):
    monkeypatch.setattr(timers, "MAX_ATTEMPTS", 3)
    deploy(client, people, BROKEN)
    instance = start(client, people, "INC-1", DUE, T0)
    [timer] = instance["timers"]

    assert timers.tick(db, DUE - timedelta(seconds=1)).leased == 0  # not due yet

    # 1st failure at DUE+1s: back to waiting, next try after BACKOFF_BASE (±20 % jitter).
    first = DUE + timedelta(seconds=1)
    assert timers.tick(db, first).failed == 1
    row = timer_row(db, timer["id"])
    assert (row.status, row.attempts) == ("waiting", 1)
    assert "instalments" in row.last_error
    wait = row.next_attempt_at - first
    assert timers.BACKOFF_BASE * 0.8 <= wait <= timers.BACKOFF_BASE * 1.2, wait
    assert timers.tick(db, first + timers.BACKOFF_BASE * 0.79).leased == 0  # the backoff holds it back

    # 2nd failure: the wait doubles.
    second = row.next_attempt_at
    assert timers.tick(db, second).failed == 1
    row = timer_row(db, timer["id"])
    assert (row.status, row.attempts) == ("waiting", 2)
    assert timers.BACKOFF_BASE * 1.6 <= row.next_attempt_at - second <= timers.BACKOFF_BASE * 2.4

    # 3rd = MAX_ATTEMPTS: an incident; the timer leaves the queue for good.
    third = row.next_attempt_at
    assert timers.tick(db, third).failed == 1
    row = timer_row(db, timer["id"])
    assert (row.status, row.attempts) == ("incident", 3)
    assert timers.tick(db, third + timedelta(days=30)).leased == 0

    # Nothing of the failed steps was committed: no alert, no timer_fired event, the contract runs on.
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 0
        assert s.scalar(select(func.count()).where(AuditEvent.action == "timer_fired")) == 0
    got = client.get(f"/api/v1/instances/{instance['id']}", headers=people.auth("operator")).get_json()
    assert got["status"] == "running" and [t["status"] for t in got["timers"]] == ["incident"]

    # Listed for the operator, refused to a party and to a supervisor.
    r = client.get("/api/v1/incidents", headers=people.auth("operator"))
    assert r.status_code == 200
    [incident] = r.get_json()["items"]
    assert incident["kind"] == "timer" and incident["status"] == "open" and incident["attempts"] == 3
    assert incident["instance_id"] == instance["id"] and incident["timer_id"] == timer["id"]
    assert incident["element_id"] == "t_due" and "instalments" in incident["error"]
    assert client.get("/api/v1/incidents", headers=people.auth("emp")).status_code == 403
    assert client.get("/api/v1/incidents", headers=people.auth("zj")).status_code == 403
    assert client.post(f"/api/v1/incidents/{incident['id']}/retry", headers=people.auth("emp")).status_code == 403

    text = client.get("/metrics", headers=people.auth("operator")).get_data(as_text=True)
    assert metric(text, "lvyue_timers", status="incident") == 1
    assert metric(text, "lvyue_incidents", kind="timer", status="open") == 1

    # Retry: the incident closes, the timer is due now with a fresh count of attempts…
    retried_at = third + timedelta(days=31)
    with clock.frozen_at(retried_at):
        r = client.post(f"/api/v1/incidents/{incident['id']}/retry", headers=people.auth("operator"))
    assert r.status_code == 200 and r.get_json()["status"] == "retried"
    row = timer_row(db, timer["id"])
    assert (row.status, row.attempts, row.next_attempt_at, row.last_error) == ("waiting", 0, retried_at, None)
    assert client.get("/api/v1/incidents?status=open", headers=people.auth("operator")).get_json()["items"] == []
    assert client.post(f"/api/v1/incidents/{incident['id']}/retry", headers=people.auth("operator")).status_code == 409

    # …and the next sweep takes it at once — and, the diagram being still wrong, it fails again.
    result = timers.tick(db, retried_at)
    assert (result.leased, result.failed) == (1, 1)
    row = timer_row(db, timer["id"])
    assert (row.status, row.attempts) == ("waiting", 1)


@pytest.mark.parametrize("group", [1, 20], ids=["one_per_transaction", "grouped"])
def test_a_failing_firing_rolls_back_alone_and_the_others_of_its_batch_commit(client, people, db, monkeypatch, group):
    # PostgreSQL fires 20 workflows per transaction, each in a SAVEPOINT; forced here on both backends.
    monkeypatch.setattr(timers, "group_size", lambda _db, _group_of: group)
    deploy(client, people, fixture_bytes("short_timer.bpmn"))
    contracts = [start(client, people, f"GRP-{i}", DUE, T0) for i in range(4)]
    bad = contracts[1]
    # A fault late in the bad contract's step, after its alert and outbox rows were flushed.
    real_append = audit.append

    def append(session, instance_id, *args, **kwargs):
        if instance_id == bad["id"]:
            raise RuntimeError("disk full (injected)")
        return real_append(session, instance_id, *args, **kwargs)

    monkeypatch.setattr(audit, "append", append)
    result = timers.tick(db, DUE + timedelta(seconds=1), owner="worker-g")
    assert (result.leased, result.fired, result.failed, result.conflicts) == (4, 3, 1, 0)
    good = [c for c in contracts if c is not bad]
    with db.read() as s:
        rows = {t.instance_id: t for t in s.scalars(select(Timer))}
        assert all(rows[c["id"]].status == "fired" and rows[c["id"]].fired_by == "worker-g" for c in good)
        broken = rows[bad["id"]]
        assert (broken.status, broken.attempts, broken.lease_owner) == ("waiting", 1, None)
        assert "disk full (injected)" in broken.last_error
        # What the failed step wrote is gone; what the others wrote is there, once each.
        assert sorted(s.scalars(select(Alert.business_key))) == ["GRP-0", "GRP-2", "GRP-3"]
        events = s.scalars(select(AuditEvent.instance_id).where(AuditEvent.action == "timer_fired"))
        assert sorted(events) == sorted(c["id"] for c in good)
        assert list(audit.verify(s)) == []  # every chain, the failed contract's included, still links

    # The fault gone, the next sweep after the backoff fires it: one alert more, nothing twice.
    monkeypatch.setattr(audit, "append", real_append)
    assert timers.tick(db, broken.next_attempt_at, owner="worker-g").fired == 1
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 4
        assert s.scalar(select(func.count()).where(AuditEvent.action == "timer_fired")) == 4


def test_a_retried_incident_fires_once_the_transient_fault_is_gone(client, people, db, monkeypatch):
    monkeypatch.setattr(timers, "MAX_ATTEMPTS", 2)
    deploy(client, people, fixture_bytes("short_timer.bpmn"))
    instance = start(client, people, "INC-2", DUE, T0)
    [timer] = instance["timers"]

    real_raise = alerts_module.raise_from_throw

    def database_failover(*args, **kwargs):
        raise ConnectionError("server closed the connection unexpectedly")

    monkeypatch.setattr(alerts_module, "raise_from_throw", database_failover)
    assert timers.tick(db, DUE + timedelta(seconds=1)).failed == 1
    row = timer_row(db, timer["id"])
    assert timers.tick(db, row.next_attempt_at).failed == 1
    assert timer_row(db, timer["id"]).status == "incident"
    [incident] = client.get("/api/v1/incidents", headers=people.auth("admin")).get_json()["items"]
    assert "ConnectionError" in incident["error"]

    monkeypatch.setattr(alerts_module, "raise_from_throw", real_raise)  # the database is back
    retried_at = DUE + timedelta(hours=2)
    with clock.frozen_at(retried_at):
        assert client.post(f"/api/v1/incidents/{incident['id']}/retry", headers=people.auth("admin")).status_code == 200
    assert timers.tick(db, retried_at).fired == 1

    row = timer_row(db, timer["id"])
    assert row.status == "fired" and row.lag_ms == int((retried_at - DUE).total_seconds() * 1000)
    [alert] = client.get("/api/v1/alerts", headers=people.auth("zj")).get_json()["items"]
    assert alert["business_key"] == "INC-2" and alert["raised_at"].startswith(retried_at.isoformat()[:19])
    assert alert["due_at"].startswith(DUE.isoformat()[:19])  # the deadline, not the late firing
    with db.read() as s:
        assert s.scalar(select(func.count()).where(AuditEvent.action == "timer_fired")) == 1
        assert s.scalar(select(Incident.status)) == "retried"


def test_metrics_count_timers_alerts_and_the_firing_lag(client, people, db):
    deploy(client, people, fixture_bytes("short_timer.bpmn"))
    now = datetime.now(timezone.utc)
    due = now - timedelta(seconds=90)  # the lag histogram covers the last 24 h of real time
    start(client, people, "MET-1", due, now - timedelta(hours=1))
    start(client, people, "MET-2", now + timedelta(days=7), now - timedelta(hours=1))

    before = client.get("/metrics", headers=people.auth("operator"))
    assert before.status_code == 200 and before.mimetype == "text/plain"
    text = before.get_data(as_text=True)
    assert metric(text, "lvyue_timers", status="waiting") == 2
    assert metric(text, "lvyue_timers", status="fired") is None
    assert metric(text, "lvyue_timer_firing_lag_seconds_count") == 0
    assert metric(text, "lvyue_timers_overdue") == 1
    assert metric(text, "lvyue_alerts", kind="non_performance", severity="orange", status="open") is None

    assert timers.tick(db).fired == 1  # real now: MET-1 is 90 s late, MET-2 is not due

    text = client.get("/metrics", headers=people.auth("operator")).get_data(as_text=True)
    assert metric(text, "lvyue_timers", status="waiting") == 1
    assert metric(text, "lvyue_timers", status="fired") == 1
    assert metric(text, "lvyue_timers_overdue") == 0
    assert metric(text, "lvyue_alerts", kind="non_performance", severity="orange", status="open") == 1
    assert metric(text, "lvyue_timer_firing_lag_seconds_count") == 1
    assert metric(text, "lvyue_timer_firing_lag_seconds_bucket", le="60") == 0  # 90 s late…
    assert metric(text, "lvyue_timer_firing_lag_seconds_bucket", le="300") == 1  # …well under 5 min
    assert metric(text, "lvyue_timer_firing_lag_seconds_bucket", le="+Inf") == 1
    assert 90 <= metric(text, "lvyue_timer_firing_lag_seconds_sum") < 300


def test_a_group_whose_contract_moved_since_it_was_read_rolls_back_and_fires_each_once_in_savepoints(
        client, people, db, monkeypatch):
    # A group of firings defers its writes to one flush at its end (audit.defer): a step committed meanwhile on one
    # of its contracts fails that flush's version check, the whole group rolls back, and it runs again with a
    # SAVEPOINT per firing, reading afresh — every timer fires once, none is lost to the other contract's conflict.
    monkeypatch.setattr(timers, "group_size", lambda _db, _group_of: 20)
    deploy(client, people, fixture_bytes("short_timer.bpmn"))
    contracts = [start(client, people, f"MOV-{i}", DUE, T0) for i in range(4)]
    moved = contracts[2]
    real_preload, reads = steps.preload, []

    def preload(session, instance_ids):
        real_preload(session, instance_ids)
        reads.append(len(instance_ids))
        if len(reads) == 1:  # another step commits on one contract after the group read it
            with db.transaction() as other:
                other.get(Instance, moved["id"]).updated_at = DUE

    monkeypatch.setattr(steps, "preload", preload)
    result = timers.tick(db, DUE + timedelta(seconds=1), owner="worker-m")
    assert (result.leased, result.fired, result.failed, result.conflicts) == (4, 4, 0, 0)
    assert reads == [4, 4]  # together, rolled back, then one savepoint each
    with db.read() as s:
        assert {t.status for t in s.scalars(select(Timer))} == {"fired"}
        assert sorted(s.scalars(select(Alert.business_key))) == [f"MOV-{i}" for i in range(4)]
        events = s.scalars(select(AuditEvent.instance_id).where(AuditEvent.action == "timer_fired"))
        assert sorted(events) == sorted(c["id"] for c in contracts)
        assert list(audit.verify(s)) == []


def test_a_group_of_firings_reads_once_and_writes_together(client, people, db, monkeypatch):
    # What a sweep's group of n firings costs in statements: the group's reads once (instances with their state and
    # definitions, READY tasks, pending timers, alerts, departments), then its writes in one flush — an UPDATE of each
    # instance (its version check; the ORM does not batch those), one INSERT of the alerts, one UPDATE of the timers
    # (executemany) — and one INSERT of the audit events: 12 statements a firing before, one SAVEPOINT each.
    monkeypatch.setattr(timers, "group_size", lambda _db, _group_of: 20)
    deploy(client, people, fixture_bytes("short_timer.bpmn"))
    n = 5
    for i in range(n):
        start(client, people, f"CNT-{i}", DUE, T0)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement.split(None, 1)[0].upper())

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        result = timers.tick(db, DUE + timedelta(seconds=1), owner="worker-c")
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert result.fired == n
    writes = [s for s in statements if s in ("INSERT", "UPDATE", "DELETE")]
    # The lease: one SELECT … FOR UPDATE and one UPDATE; the group: 5 SELECTs, n + 3 writes.
    assert statements.count("SELECT") == 1 + 5
    assert len(writes) == 1 + n + 3
    assert "SAVEPOINT" not in statements
