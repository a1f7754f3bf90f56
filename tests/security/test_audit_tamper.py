"""Acceptance 4: the audit trail is hash-chained per instance; `lvyue audit verify` checks every chain,
an untouched database verifies clean (exit 0), and a row altered or deleted directly in the database is
reported with the instance and the sequence number (exit 1).

Issue 14 (acceptance 5): after `lvyue audit anchor`, what someone with database access does and the chain
alone cannot see — (a) the newest events deleted and the head moved back, (b) a ledger row edited, added or
deleted, (c) the contractor rebound in the role tables, (d) a whole contract deleted — makes `lvyue audit
verify` exit non-zero naming the contract."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, insert, select, update

from api import cli
from engine.runtime import audit
from engine.storage.models import AuditEvent
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


@pytest.fixture(autouse=True)
def anchor_log(tmp_path, monkeypatch) -> Path:
    """Each test's own anchor log (never the repository's instance folder)."""
    path = tmp_path / "anchors" / "audit-anchor.jsonl"
    monkeypatch.setenv("LVYUE_AUDIT_ANCHOR", str(path))
    return path


def _audit_subprocess(db_url: str, command: str, *args: str) -> tuple[int, str]:
    """`python -m api.cli audit COMMAND …`, the real command line in its own process."""
    env = dict(os.environ, DATABASE_URL=db_url)
    done = subprocess.run([sys.executable, "-m", "api.cli", "audit", command, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def _verify_subprocess(db_url: str, *args: str) -> tuple[int, str]:
    return _audit_subprocess(db_url, "verify", *args)


def _audit_cli(db_url: str, command: str, *args: str) -> tuple[int, str]:
    """The same command in-process (quicker): click's runner with DATABASE_URL set."""
    result = CliRunner().invoke(cli.main, ["audit", command, *args], env={"DATABASE_URL": db_url})
    return result.exit_code, result.output


def _verify_cli(db_url: str, *args: str) -> tuple[int, str]:
    code, out = _audit_cli(db_url, "verify", *args)
    # Without an anchor log the command says so on stderr; these tests are about the chains alone.
    return code, "".join(line for line in out.splitlines(keepends=True) if not line.startswith("note: no anchor log"))


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


# ------------------------------------------------------------------------------------ issue 14: anchored heads, ledger rows
from sqlalchemy import text  # noqa: E402

from engine.runtime import anchor  # noqa: E402
from engine.storage.models import Base, Guarantee, Instance, Invoice, Party, Payment, TaskRow  # noqa: E402
from tests.e2e.test_guarantee_lifecycle import GuaranteedContract, e_goods  # noqa: E402
from tests.e2e.test_post_award import Api, Contract, at, tendering_works  # noqa: E402


def _key_of(db, instance_id: str) -> str:
    with db.read() as s:
        return s.get(Instance, instance_id).business_key


def _anchor(url: str) -> str:
    code, out = _audit_cli(url, "anchor")
    assert code == 0, out
    return out


def _assert_reported(url: str, instance_id: str, key: str, *words: str, others: tuple[str, ...] = ()) -> str:
    """verify exits 1 and names the contract (instance id and business key) on a BROKEN line with `words`."""
    code, out = _audit_cli(url, "verify")
    assert code == 1, out
    lines = [line for line in out.splitlines() if line.startswith("BROKEN") and instance_id in line]
    assert lines and all(f"(contract {key})" in line for line in lines), out
    assert any(all(w in line for w in words) for line in lines), out
    for other in others:
        assert other not in out, out
    return out


@pytest.fixture
def performed(app, client, people, db_url):
    """Post_award contracts performed in full through the API: a works contract (bid bond refunded, two
    milestones delivered, invoiced and paid, retention released) and a goods contract whose e-guarantee its
    issuer verified and which carries an advance payment guarantee recorded through POST /guarantees."""
    api = Api(client, people, app)
    api.deploy()
    works = Contract(api, "PA-WORKS", tendering_works())
    works.run()
    goods = GuaranteedContract(api, "PA-GOODS", e_goods())
    api.call("POST", "/api/v1/guarantees", "con2", at(8, 10), expect=201, json={
        "business_key": "PA-GOODS", "kind": "advance_payment", "form": "cash", "guarantee_no": "YF-1",
        "amount": "160000.00", "valid_to": "2026-12-31"})
    goods.run()
    db = app.extensions["lvyue"].db
    with db.read() as s:
        counts = {cls.__tablename__: len(s.scalars(select(cls.id)).all()) for cls in (Payment, Invoice, Guarantee)}
    assert counts == {"payments": 3, "invoices": 3, "guarantees": 5}, counts
    return db, db_url, works, goods


def test_an_untouched_database_with_performed_contracts_verifies_clean_through_the_real_cli(performed, anchor_log):
    db, url, works, goods = performed
    code, out = _audit_subprocess(url, "anchor")
    assert code == 0 and "anchored 2 chain head(s), 2 changed, as entry 1" in out, out
    code, out = _verify_subprocess(url)
    assert code == 0, out
    assert "audit trail intact (anchored" in out and "BROKEN" not in out
    # The chain holds every ledger row as it now stands: the payments with their amounts.
    with db.read() as s:
        recorded = [e.data for e in s.scalars(select(AuditEvent).where(AuditEvent.instance_id == works.id,
                                                                       AuditEvent.action == "ledger_row"))]
    paid = {r["id"]: r["row"]["amount"] for r in recorded if r["table"] == "payments"}
    assert sorted(paid.values()) == ["600000.00", "600000.00"]
    # A second anchoring with nothing changed adds an entry linked to the first, and still verifies.
    assert "0 changed, as entry 2" in _anchor(url)
    assert _verify_cli(url)[0] == 0


@pytest.mark.parametrize("tamper", ["payment_amount", "invoice_amount", "guarantee_status", "payee",
                                    "payment_added", "payment_deleted"])
def test_b_a_ledger_row_edited_added_or_deleted_is_reported_naming_the_contract(performed, tamper):
    db, url, works, goods = performed
    _anchor(url)
    payments = Payment.__table__
    with db.read() as s:
        first = s.scalars(select(Payment).where(Payment.instance_id == works.id).order_by(Payment.paid_at)).first()
        pid, row = first.id, {c.name: getattr(first, c.key) for c in payments.columns}
    words = {
        "payment_amount": (f"payments row {pid}", "amount is '1.00'", "'600000.00'"),
        "invoice_amount": ("invoices row", "amount is '999.00'"),
        "guarantee_status": ("guarantees row", "status is 'active'", "'released'"),
        "payee": (f"payments row {pid}", "payee is 'OTHER'"),
        "payment_added": ("payments row FORGED", "written outside the engine"),
        "payment_deleted": (f"payments row {pid}", "is gone"),
    }[tamper]
    if tamper == "payment_amount":
        _sql(db, update(payments).where(payments.c.id == pid).values(amount=Decimal("1.00")))
    elif tamper == "invoice_amount":
        _sql(db, update(Invoice.__table__).where(Invoice.__table__.c.instance_id == works.id).values(amount=Decimal("999.00")))
    elif tamper == "guarantee_status":
        _sql(db, update(Guarantee.__table__).where(Guarantee.__table__.c.instance_id == works.id,
                                                   Guarantee.__table__.c.kind == "bid").values(status="active"))
    elif tamper == "payee":
        _sql(db, update(payments).where(payments.c.id == pid).values(payee="OTHER"))
    elif tamper == "payment_added":
        _sql(db, insert(payments).values({**row, "id": "FORGED", "amount": Decimal("50000.00")}))
    else:
        _sql(db, delete(payments).where(payments.c.id == pid))
    # The chains themselves are untouched: only the cross-check against the ledger_row events sees it.
    _assert_reported(url, works.id, "PA-WORKS", *words, others=(goods.id,))


@pytest.mark.parametrize("where", ["instance_parties", "instances.roles", "tasks.assignee_org"])
def test_c_a_contractor_rebound_in_the_role_tables_is_reported_naming_the_contract(trail, where):
    db, url, a, b = trail
    _anchor(url)
    if where == "instance_parties":
        table = Party.__table__
        _sql(db, update(table).where(table.c.instance_id == b, table.c.role == "contractor").values(org_code="OTHER"))
        words = ("instance_parties binds contractor=OTHER", "contractor=CON")
    elif where == "instances.roles":
        with db.read() as s:
            roles = dict(s.get(Instance, b).roles)
        table = Instance.__table__
        _sql(db, update(table).where(table.c.id == b).values(roles={**roles, "contractor": "OTHER"}))
        words = ("role bindings are", "contractor=OTHER", "start recorded")
    else:
        table = TaskRow.__table__
        _sql(db, update(table).where(table.c.instance_id == b, table.c.lane == "contractor").values(assignee_org="OTHER"))
        words = ("in the contractor lane is held by OTHER", "bound contractor to CON")
    _assert_reported(url, b, "AUD-B", *words, others=(a,))


def _truncate(db, instance_id: str, keep: int) -> None:
    """Delete the newest events beyond `keep` and move the recorded head back to the last one left: the chain
    stays consistent, as someone who knows the scheme would leave it."""
    _sql(db, delete(EVENTS).where(EVENTS.c.instance_id == instance_id, EVENTS.c.seq > keep))
    last = _rows(db, instance_id)[-1]
    table = Instance.__table__
    _sql(db, update(table).where(table.c.id == instance_id).values(audit_seq=last["seq"], audit_head=last["hash"]))


@pytest.mark.parametrize("how", ["truncated", "truncated_and_anchored_again", "newest_rewritten"])
def test_a_the_newest_events_deleted_and_the_head_moved_back_is_reported_naming_the_contract(trail, how):
    db, url, a, b = trail
    _anchor(url)
    rows = _rows(db, a)
    if how == "newest_rewritten":
        # The newest event replaced by a forged one, rehashed, and the head moved to it: same length.
        row = rows[-1]
        forged = {**row["data"], "note": "forged"}
        digest = audit._digest(a, row["seq"], row["at"], row["actor"], row["action"], row["element_id"], forged,
                               row["prev_hash"])
        _sql(db, update(EVENTS).where(_row_filter(row)).values(data=forged, hash=digest))
        table = Instance.__table__
        _sql(db, update(table).where(table.c.id == a).values(audit_head=digest))
        words = (f"seq {row['seq']}", "is not the one anchored")
    else:
        _truncate(db, a, len(rows) - 2)
        words = (f"events {len(rows) - 1}–{len(rows)} are missing", "truncated or rolled back")
        if how == "truncated_and_anchored_again":
            _anchor(url)  # a later anchoring does not launder it: the highest head ever anchored counts
    assert _breaks(db) == []  # the chain alone looks intact: before issue 14, verify said so
    _assert_reported(url, a, "AUD-A", *words, others=(b,))


def _delete_contract(db, instance_id: str) -> None:
    """Delete a contract and everything that refers to it, table by table, in plain SQL."""
    tables = Base.metadata.tables
    with db.transaction() as s:
        s.execute(text("DELETE FROM guarantee_events WHERE guarantee_id IN (SELECT id FROM guarantees WHERE instance_id = :i)"),
                  {"i": instance_id})
        s.execute(text("DELETE FROM alert_decisions WHERE alert_id IN (SELECT id FROM alerts WHERE instance_id = :i)"),
                  {"i": instance_id})
        for table in reversed(Base.metadata.sorted_tables):
            if "instance_id" in table.c and table.name not in ("guarantee_events", "alert_decisions"):
                s.execute(delete(table).where(table.c.instance_id == instance_id))
        s.execute(delete(tables["instances"]).where(tables["instances"].c.id == instance_id))


def test_d_a_whole_contract_deleted_is_reported_naming_it(trail):
    db, url, a, b = trail
    _anchor(url)
    _delete_contract(db, b)
    assert _breaks(db) == []  # nothing of it is left for the chains alone to miss
    code, out = _audit_subprocess(url, "verify")
    assert code == 1, out
    assert f"BROKEN instance {b}: the contract is gone" in out and "(contract AUD-B)" in out and a not in out


def test_d_a_performed_contract_deleted_is_reported_naming_it(performed):
    db, url, works, goods = performed
    _anchor(url)
    _delete_contract(db, works.id)
    _assert_reported(url, works.id, "PA-WORKS", "the contract is gone", others=(goods.id,))


def test_the_anchor_log_is_a_chain_an_edited_line_is_reported(trail, anchor_log):
    db, url, a, b = trail
    _anchor(url)
    _anchor(url)
    lines = anchor_log.read_text().splitlines()
    entry = json.loads(lines[0])
    entry["heads"][a]["seq"] -= 1  # lower the anchored head, to hide a truncation
    anchor_log.write_text(json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n" + lines[1] + "\n")
    code, out = _verify_cli(url)
    assert code == 1 and "BROKEN anchor log" in out and "line 1 (entry 1" in out and "does not match its hash" in out


def test_the_departments_copy_catches_what_the_local_log_no_longer_can(trail, anchor_log, tmp_path):
    db, url, a, b = trail
    _anchor(url)
    copy = tmp_path / "department" / "lvyue-anchor.jsonl"
    copy.parent.mkdir()
    shutil.copy(anchor_log, copy)
    # Someone with access to the machine truncates a chain and removes the local anchor log.
    _truncate(db, a, len(_rows(db, a)) - 1)
    anchor_log.unlink()
    code, out = _audit_cli(url, "verify")
    assert code == 0 and "note: no anchor log" in out  # the local check alone cannot see it …
    code, out = _audit_cli(url, "verify", "--anchor", str(copy))
    assert code == 1 and f"BROKEN instance {a} seq" in out and "(contract AUD-A)" in out  # … the copy does


def test_anchor_entries_record_only_changed_heads_and_their_digest(trail, anchor_log, client, people):
    db, url, a, b = trail
    _anchor(url)
    log = anchor.read(anchor_log)
    assert log.problems == [] and log.entries == 1 and set(log.current) == {a, b}
    with db.read() as s:
        heads = {i.id: (i.audit_seq, i.audit_head) for i in s.scalars(select(Instance))}
    assert log.current == heads and log.anchored[a].business_key == "AUD-A"
    # B moves on: the next entry carries B's head only.
    [task] = client.get(f"/api/v1/tasks?instance_id={b}", headers=people.auth("emp")).get_json()["items"]
    r = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=people.auth("emp"), json={"data": {"approved": False}})
    assert r.status_code == 200, r.get_json()
    _anchor(url)
    second = json.loads(anchor_log.read_text().splitlines()[1])
    assert list(second["heads"]) == [b] and second["count"] == 2 and second["prev"] == json.loads(
        anchor_log.read_text().splitlines()[0])["hash"]
    assert _verify_cli(url)[0] == 0


def test_the_scheduler_of_lvyue_serve_anchors_the_heads_periodically(trail, anchor_log, tmp_path, monkeypatch):
    import time

    from tests.conftest import Server

    db, url, a, b = trail
    monkeypatch.setenv("LVYUE_AUDIT_ANCHOR_SECONDS", "0.5")
    server = Server(url, tmp_path).start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and anchor.read(anchor_log).entries < 2:
            time.sleep(0.2)
    finally:
        server.kill()
    log = anchor.read(anchor_log)
    assert log.entries >= 2 and log.problems == [], (log.entries, log.problems)
    with db.read() as s:
        assert log.current == {i.id: (i.audit_seq, i.audit_head) for i in s.scalars(select(Instance))}
    assert _verify_cli(url)[0] == 0
