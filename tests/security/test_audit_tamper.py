"""Acceptance 4: the audit trail is hash-chained per instance; `lvyue audit verify` checks every chain,
an untouched database verifies clean (exit 0), and a row altered or deleted directly in the database is
reported with the instance and the sequence number (exit 1)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, insert, select, update

from api import cli
from engine import audit
from engine.models import AuditEvent
from tests.conftest import ROOT, fixture_bytes

XML = {"Content-Type": "application/xml"}
EVENTS = AuditEvent.__table__


def _run_contracts(client, people) -> tuple[str, str]:
    """Two contracts through the API: A runs to completion, B stops after its first task."""
    r = client.post("/api/v1/definitions", data=fixture_bytes("approval.bpmn"), headers={**people.auth("designer"), **XML})
    assert r.status_code == 201, r.get_json()
    ids = []
    for key in ("AUD-A", "AUD-B"):
        r = client.post("/api/v1/instances", headers=people.auth("operator"), json={
            "definition": "variation_approval", "business_key": key, "data": {"employer": "EMP", "contractor": "CON"}})
        assert r.status_code == 201, r.get_json()
        instance = r.get_json()
        ids.append(instance["id"])
        r = client.post(f"/api/v1/tasks/{instance['tasks'][0]['id']}/complete", headers=people.auth("con"),
                        json={"data": {"amount": "5000.00", "reason": "extra piles"}})
        assert r.status_code == 200, r.get_json()
        if key == "AUD-A":
            task = r.get_json()["instance"]["tasks"][0]
            r = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=people.auth("emp"),
                            json={"data": {"approved": True}})
            assert r.status_code == 200 and r.get_json()["instance"]["status"] == "completed"
    return ids[0], ids[1]


@pytest.fixture
def trail(app, client, people, db_url):
    a, b = _run_contracts(client, people)
    return app.extensions["lvyue"].db, db_url, a, b


def _rows(db, instance_id) -> list[dict]:
    with db.read() as s:
        return [dict(r._mapping) for r in s.execute(select(EVENTS).where(EVENTS.c.instance_id == instance_id)
                                                     .order_by(EVENTS.c.seq))]


def _sql(db, statement) -> None:
    """Tamper directly in the database: plain SQL on the table, bypassing engine/audit.py."""
    with db.transaction() as s:
        s.execute(statement)


def _row_filter(row):
    return (EVENTS.c.instance_id == row["instance_id"]) & (EVENTS.c.seq == row["seq"])


def _verify_subprocess(db_url: str, *args: str) -> tuple[int, str]:
    env = dict(os.environ, DATABASE_URL=db_url)
    done = subprocess.run([sys.executable, "-m", "api.cli", "audit", "verify", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def _verify_cli(db_url: str, *args: str) -> tuple[int, str]:
    """The same command in-process (quicker): click's runner with DATABASE_URL set."""
    result = CliRunner().invoke(cli.main, ["audit", "verify", *args], env={"DATABASE_URL": db_url})
    return result.exit_code, result.output


def _breaks(db) -> list[tuple[str, int]]:
    with db.read() as s:
        return [(b.instance_id, b.seq) for b in audit.verify(s)]


def test_untouched_database_verifies_clean(trail):
    db, url, a, b = trail
    assert len(_rows(db, a)) >= 5 and len(_rows(db, b)) >= 3
    code, out = _verify_subprocess(url)
    assert code == 0, out
    assert "audit trail intact" in out and "BROKEN" not in out
    assert _verify_cli(url, "--instance", a)[0] == 0


def test_altered_data_is_reported_with_instance_and_sequence_number(trail):
    db, url, a, b = trail
    row = _rows(db, a)[1]
    _sql(db, update(EVENTS).where(_row_filter(row)).values(data={**row["data"], "lane": "employer"}))

    code, out = _verify_subprocess(url)
    assert code == 1, out
    assert f"BROKEN instance {a} seq {row['seq']}" in out
    assert b not in out  # the untouched chain is not reported

    _sql(db, update(EVENTS).where(_row_filter(row)).values(data=row["data"]))  # restore
    assert _verify_cli(url) == (0, "audit trail intact\n")


@pytest.mark.parametrize("column, value", [("actor", "someone-else"), ("action", "task_cancelled"),
                                           ("element_id", "approve_variation")])
def test_altered_columns_are_reported(trail, column, value):
    db, url, a, _ = trail
    row = _rows(db, a)[2]
    _sql(db, update(EVENTS).where(_row_filter(row)).values({column: value}))
    assert _breaks(db) == [(a, row["seq"])]
    code, out = _verify_cli(url)
    assert code == 1 and f"instance {a} seq {row['seq']}" in out


def test_altered_timestamp_is_reported(trail):
    db, url, _, b = trail
    row = _rows(db, b)[0]
    _sql(db, update(EVENTS).where(_row_filter(row)).values(at=row["at"].replace(year=row["at"].year - 1)))
    assert _breaks(db) == [(b, 1)]


def test_deleted_row_is_reported(trail):
    db, url, a, _ = trail
    row = _rows(db, a)[1]
    _sql(db, delete(EVENTS).where(_row_filter(row)))

    code, out = _verify_cli(url)
    assert code == 1, out
    assert f"BROKEN instance {a} seq {row['seq']}" in out and "missing" in out

    _sql(db, insert(EVENTS).values(**row))  # restore
    assert _verify_cli(url)[0] == 0


def test_a_row_rehashed_consistently_is_caught_by_the_next_link(trail):
    """An attacker who knows the algorithm alters row k and recomputes its hash: row k verifies, row k+1 does not."""
    db, url, a, _ = trail
    rows = _rows(db, a)
    row = rows[1]
    forged = {**row["data"], "lane": "employer"}
    digest = audit._digest(a, row["seq"], row["at"], row["actor"], row["action"], row["element_id"], forged,
                           row["prev_hash"])
    _sql(db, update(EVENTS).where(_row_filter(row)).values(data=forged, hash=digest))

    assert _breaks(db) == [(a, row["seq"] + 1)]
    code, out = _verify_cli(url)
    assert code == 1 and f"BROKEN instance {a} seq {row['seq'] + 1}: does not link" in out


def test_rewriting_prev_hash_and_hash_of_one_row_is_caught(trail):
    """Both chain columns of one row rewritten consistently with each other (the row re-rooted on a forged
    predecessor): the row no longer links to its real predecessor."""
    db, url, a, _ = trail
    row = _rows(db, a)[2]
    fake_prev = "f" * 64
    digest = audit._digest(a, row["seq"], row["at"], row["actor"], row["action"], row["element_id"], row["data"],
                           fake_prev)
    _sql(db, update(EVENTS).where(_row_filter(row)).values(prev_hash=fake_prev, hash=digest))
    assert _breaks(db) == [(a, row["seq"])]


def test_rewriting_a_link_on_both_sides_is_still_caught(trail):
    """Row k altered and rehashed and row k+1's prev_hash moved to the new hash: row k+1's own hash breaks."""
    db, url, a, _ = trail
    rows = _rows(db, a)
    row, nxt = rows[1], rows[2]
    forged = {**row["data"], "lane": "employer"}
    digest = audit._digest(a, row["seq"], row["at"], row["actor"], row["action"], row["element_id"], forged,
                           row["prev_hash"])
    _sql(db, update(EVENTS).where(_row_filter(row)).values(data=forged, hash=digest))
    _sql(db, update(EVENTS).where(_row_filter(nxt)).values(prev_hash=digest))
    assert _breaks(db) == [(a, nxt["seq"])]



def test_deleting_the_newest_row_is_reported(trail):
    db, url, a, _ = trail
    row = _rows(db, a)[-1]
    _sql(db, delete(EVENTS).where(_row_filter(row)))
    code, out = _verify_cli(url)
    assert code == 1 and f"instance {a} seq {row['seq']}" in out


def test_deleting_a_whole_chain_is_reported(trail):
    db, url, _, b = trail
    _sql(db, delete(EVENTS).where(EVENTS.c.instance_id == b))
    code, out = _verify_cli(url)
    assert code == 1 and f"instance {b}" in out
