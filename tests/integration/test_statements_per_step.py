"""Statements per step (issue 20, acceptance 1): the SQL statements one plain task completion issues, counted
on the real database with a `before_cursor_execute` listener and pinned at today's count, so that a change
that adds one fails here and says so. The issue's target is ≤ 8, counting SQLite's BEGIN IMMEDIATE."""
from __future__ import annotations

from collections import Counter

from sqlalchemy import event

from engine.access.directory import Principal
from engine.runtime import definitions
from engine.usecases import instances, tasks
from tests.conftest import fixture_bytes, seed_people

ADMIN = Principal(0, "test-admin", "admin")
seen: list[str] = []  # the statements of the last count, for the failure message
# The count (2026-12-06) of a completion that touches no alert and no timer (approval.bpmn: request → approve):
# 3 SELECTs — the task with its instance (state included), the definition's light row, its part and the instance's
# READY rows in one; the instance's alerts (settling those awaiting the task, and the reply's); its pending timers
# (the step's sync and the reply's) —, 2 UPDATEs (the task; the instance with its version check), 2 INSERTs (the
# next task; the audit events in one statement). The reply's view of the contract reads nothing more. By backend:
# SQLite begins its write transaction with BEGIN IMMEDIATE (counted); PostgreSQL begins implicitly.
PINNED = {"sqlite": 8, "postgresql": 7}
TARGET = 8  # issue 20, acceptance 1


def _count(db, fn) -> tuple[int, Counter]:
    kinds: Counter = Counter()
    seen.clear()

    def on_execute(_conn, _cursor, statement, _params, _context, _executemany):
        kinds[statement.split(None, 1)[0].upper()] += 1
        seen.append(" ".join(statement.split())[:160])

    event.listen(db.engine, "before_cursor_execute", on_execute)
    try:
        fn()
    finally:
        event.remove(db.engine, "before_cursor_execute", on_execute)
    return sum(kinds.values()), kinds


def test_a_plain_completion_issues_the_pinned_number_of_statements(db):
    seed_people(db)
    definitions.deploy(db, ADMIN, fixture_bytes("approval.bpmn"))
    started = instances.start(db, ADMIN, "variation_approval", None, "STMT-1", {"employer": "EMP", "contractor": "CON"})
    [task] = started["tasks"]
    reply: dict = {}
    count, kinds = _count(db, lambda: reply.update(tasks.complete(db, ADMIN, task["id"], {"amount": "1", "reason": "更正"})))
    assert count == PINNED[db.dialect] <= TARGET, (count, dict(kinds), seen)
    # The reply, built from what the step loaded and wrote, is the contract as a fresh read shows it.
    assert reply["instance"] == instances.get(db, ADMIN, started["id"])
    assert [t["element_id"] for t in reply["next_tasks"]] == ["approve_variation"]
    # The step wrote what it had to: the next task is ready, and the completion is in the audit trail.
    [after] = instances.get(db, ADMIN, started["id"])["tasks"]
    assert after["element_id"] == "approve_variation"
