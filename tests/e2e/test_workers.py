"""Issue 3 acceptance 3 and 4: several `lvyue worker` processes on PostgreSQL fire every due timer
exactly once — also when workers are killed with SIGKILL in the middle of a batch."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from engine import clock
from engine.runtime import definitions
from engine.usecases import instances
from engine.storage.db import Database
from engine.access.directory import Principal, add_department
from engine.storage.models import Alert, AuditEvent, Outbox, Timer
from tests.conftest import ROOT, fixture_bytes, seed_people

ADMIN = Principal(0, "test", "admin")
LEASE_SECONDS = 5  # a killed worker's leases come back quickly
CN = timezone(timedelta(hours=8))


def _populate(db: Database, n: int, webhook: str | None = None) -> None:
    """n contracts whose payment deadline passed while nobody swept: 2026-09-01 + 30 days."""
    seed_people(db)
    if webhook:
        with db.transaction() as s:
            add_department(s, "HOOK", "with webhook", webhook_url=webhook, webhook_secret="s3cret")
    definitions.deploy(db, ADMIN, fixture_bytes("payment_due.bpmn"))
    with clock.frozen_at(datetime(2026, 9, 2, 9, tzinfo=CN)):
        for i in range(n):
            instances.start(db, ADMIN, "payment_due", None, f"W-{i:05d}",
                            {"employer": "EMP", "department": "HOOK" if webhook else "ZJ",
                             "accepted_at": "2026-09-01", "payment_term_days": 30, "amount": "1000.00"})


def _worker(db_url: str, log_path) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=db_url, LVYUE_SWEEP_SECONDS="0.2", LVYUE_DELIVERY_SECONDS="0.2",
               LVYUE_TIMER_LEASE_SECONDS=str(LEASE_SECONDS))
    return subprocess.Popen([sys.executable, "-m", "api.cli", "worker"], cwd=ROOT, env=env,
                            stdout=open(log_path, "a"), stderr=subprocess.STDOUT)


def _counts(db: Database) -> dict[str, int]:
    with db.read() as s:
        return {
            "fired": s.scalar(select(func.count()).where(Timer.status == "fired")),
            "waiting": s.scalar(select(func.count()).where(Timer.status.in_(("waiting", "leased")))),
            "alerts": s.scalar(select(func.count()).select_from(Alert)),
            "fired_events": s.scalar(select(func.count()).where(AuditEvent.action == "timer_fired")),
            "distinct_fired": s.scalar(select(func.count(func.distinct(AuditEvent.instance_id))).where(AuditEvent.action == "timer_fired")),
            "outbox": s.scalar(select(func.count()).select_from(Outbox)),
            "outbox_alerts": s.scalar(select(func.count(func.distinct(Outbox.alert_id)))),
        }


def _wait_until_all_fired(db: Database, n: int, seconds: float, on_poll=None) -> dict[str, int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        counts = _counts(db)
        if counts["waiting"] == 0 and counts["fired"] >= n:
            return counts
        if on_poll:
            on_poll()
        time.sleep(0.3)
    return _counts(db)


@pytest.fixture
def pg_db(db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("several workers share PostgreSQL (SQLite is single-worker by design)")
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.mark.slow
def test_three_workers_fire_1000_timers_exactly_once(pg_db, db_url, tmp_path):
    n = 1000  # enough for every worker to lease several batches (the sweep leases bounded batches)
    _populate(pg_db, n)
    workers = [_worker(db_url, tmp_path / f"w{i}.log") for i in range(3)]
    try:
        counts = _wait_until_all_fired(pg_db, n, 300)
    finally:
        for w in workers:
            w.kill()
            w.wait()
    assert counts["fired"] == n and counts["waiting"] == 0
    assert counts["alerts"] == n
    assert counts["fired_events"] == n and counts["distinct_fired"] == n
    with pg_db.read() as s:
        owners = set(s.scalars(select(Timer.fired_by)))
    assert len(owners) >= 2, "the work should spread over the workers"


@pytest.mark.slow
def test_killing_workers_mid_batch_never_duplicates_or_loses_a_firing(pg_db, db_url, tmp_path):
    n = 600
    _populate(pg_db, n, webhook="http://127.0.0.1:9/unreachable")  # deliveries fail and stay queued
    rng = random.Random(7)
    workers = [_worker(db_url, tmp_path / f"w{i}.log") for i in range(3)]
    kills = 0

    def chaos():
        nonlocal kills
        i = rng.randrange(len(workers))
        workers[i].send_signal(signal.SIGKILL)
        workers[i].wait()
        kills += 1
        workers[i] = _worker(db_url, tmp_path / f"w{i}.log")

    try:
        # Kill a worker every poll while work remains, then let the survivors (and lease expiry) finish.
        counts = _wait_until_all_fired(pg_db, n, 120, on_poll=lambda: chaos() if kills < 12 else None)
        if counts["waiting"]:
            counts = _wait_until_all_fired(pg_db, n, LEASE_SECONDS + 60)
    finally:
        for w in workers:
            w.kill()
            w.wait()
    assert kills >= 3
    assert counts["fired"] == n and counts["waiting"] == 0
    assert counts["alerts"] == n
    assert counts["fired_events"] == n and counts["distinct_fired"] == n
    assert counts["outbox"] == n and counts["outbox_alerts"] == n  # one delivery id per alert event
