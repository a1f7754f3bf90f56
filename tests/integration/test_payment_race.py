"""Two payments of the same milestone at the same time: one is recorded, the other gets 409 — never a 422.

On PostgreSQL (READ COMMITTED) a completion reads the task row, then the workflow state. If the other
completion commits between the two reads, the row still says `ready` while the state says completed; that
used to surface as 422 ("the task is not ready") about once in 16 races, instead of the 409 that the
version check gives a moment later. Since issue 20 the task row and the state are read in one statement (one
snapshot); the window is now between that read and the step's write, where the version check answers.
SQLite serializes steps (BEGIN IMMEDIATE): the race cannot happen there.
"""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, func, select

from engine.runtime import definitions
from engine.usecases import instances, tasks
from engine.access.directory import Principal
from engine.errors import Conflict
from engine.storage.models import Payment, TaskRow
from tests.conftest import fixture_bytes, seed_people

ADMIN = Principal(0, "test-admin", "admin")
EMP = Principal(0, "emp", "party", org_code="EMP")
PAY = {"paid_at": "2026-09-10", "amount": "100.00"}


@pytest.fixture
def pg_db(db, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serializes steps with BEGIN IMMEDIATE: two completions cannot interleave there")
    seed_people(db)
    definitions.deploy(db, ADMIN, fixture_bytes("milestones.bpmn"))
    return db


def _contract(db, key: str, milestones: int) -> list[str]:
    """A contract waiting for the payment of each of its milestones: the record_payment task ids."""
    inst = instances.start(db, ADMIN, "ms_contract", None, key, {
        "employer": "EMP", "department": "ZJ", "payment_term_days": 30,
        "milestones": [{"no": n, "amount": "100.00", "accepted_at": "2026-09-01"} for n in range(1, milestones + 1)]})
    instances.deliver_message(db, ADMIN, inst["id"], "guarantee_issued", {})
    with db.read() as s:
        return list(s.scalars(select(TaskRow.id).where(TaskRow.instance_id == inst["id"], TaskRow.state == "ready",
                                                       TaskRow.element_id == "record_payment")
                              .order_by(TaskRow.item_no)))


def _outcome(db, task_id: str, start: threading.Barrier | None, out: list[str]) -> None:
    try:
        if start is not None:
            start.wait()
        tasks.complete(db, EMP, task_id, PAY)
        out.append("ok")
    except Conflict:
        out.append("409")
    except Exception as exc:  # noqa: BLE001 - the test reports what else came back (the 422 it guards against)
        out.append(f"{type(exc).__name__}: {getattr(exc, 'detail', exc)}")


def _payments(db, task_ids: list[str]) -> int:
    with db.read() as s:
        parts = s.scalars(select(TaskRow.part_id).where(TaskRow.id.in_(task_ids))).all()
        return s.scalar(select(func.count()).select_from(Payment).where(Payment.part_id.in_(parts)))


def test_a_completion_committed_between_the_row_and_the_state_read_is_a_conflict(pg_db):
    """The exact window, held open: B has read the task row as ready, with the workflow state (one statement); A
    completes and commits; B goes on from what it read. B must answer 409, and only A's payment exists."""
    [task_id] = _contract(pg_db, "RACE-WINDOW", 1)
    b_read_row, a_committed = threading.Event(), threading.Event()
    b_thread: list[threading.Thread] = []

    def hold_b(conn, cursor, statement, parameters, context, executemany):
        if threading.current_thread() in b_thread and "JOIN instance_parts" in statement and not b_read_row.is_set():
            b_read_row.set()
            assert a_committed.wait(30)

    event.listen(pg_db.engine, "after_cursor_execute", hold_b)
    try:
        out_b: list[str] = []
        b = threading.Thread(target=_outcome, args=(pg_db, task_id, None, out_b))
        b_thread.append(b)
        b.start()
        assert b_read_row.wait(30)
        out_a: list[str] = []
        _outcome(pg_db, task_id, None, out_a)
        a_committed.set()
        b.join(30)
    finally:
        event.remove(pg_db.engine, "after_cursor_execute", hold_b)
    assert out_a == ["ok"] and out_b == ["409"], (out_a, out_b)
    assert _payments(pg_db, [task_id]) == 1


def test_concurrent_payments_of_one_milestone_answer_ok_and_409_every_time(pg_db):
    rounds = 40
    task_ids = _contract(pg_db, "RACE-MANY", rounds)
    assert len(task_ids) == rounds
    results = []
    for task_id in task_ids:
        start, out = threading.Barrier(2, timeout=30), []
        threads = [threading.Thread(target=_outcome, args=(pg_db, task_id, start, out)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        results.append(sorted(out))
    assert all(r == ["409", "ok"] for r in results), [r for r in results if r != ["409", "ok"]]
    assert _payments(pg_db, task_ids) == rounds  # one payment per milestone, none twice
