"""Database.snapshot and side_by_side: a report's statements on several connections see one snapshot.

The monthly report and the dashboard run their statements side by side on PostgreSQL (engine/storage/db.py); their
figures must still agree with each other as if read in one transaction: a write committed while they read is seen
by none of their sessions, whichever thread reads after it.
"""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from engine import clock
from engine.access import directory
from engine.storage.db import side_by_side
from engine.storage.models import Department


def _departments(session) -> int:
    return session.scalar(select(func.count()).select_from(Department))


def test_every_session_of_a_snapshot_sees_the_rows_committed_before_it_and_none_after(db):
    _add(db, "D1")
    with db.snapshot(3) as sessions:
        assert len(sessions) == (3 if db.dialect == "postgresql" else 1)
        assert _departments(sessions[0]) == 1  # the snapshot is taken
        committed = threading.Thread(target=lambda: _add(db, "D2"))
        committed.start()
        committed.join()
        counts = side_by_side(sessions, *({f"n{i}": _departments} for i in range(3)))
        assert counts == {"n0": 1, "n1": 1, "n2": 1}
    with db.read() as s:
        assert _departments(s) == 2


def _add(db, code: str) -> None:
    with db.transaction() as s:
        directory.add_department(s, code, f"部门 {code}")


def test_side_by_side_runs_the_groups_in_threads_with_this_context_and_raises_the_first_failure(db):
    seen: dict[str, tuple] = {}

    def job(name):
        def run(session):
            seen[name] = (threading.current_thread().name, clock.now())
            return name
        return run

    with clock.frozen_at(clock.now().replace(year=2030)), db.snapshot(2) as sessions:
        got = side_by_side(sessions, {"a": job("a")}, {"b": job("b"), "c": job("c")})
        assert got == {"a": "a", "b": "b", "c": "c"}
        assert all(now.year == 2030 for _, now in seen.values())  # the frozen clock reached the other thread
        if db.dialect == "postgresql":
            assert seen["a"][0] == threading.current_thread().name != seen["b"][0] == seen["c"][0]

        def fails(session):
            raise ValueError("a section failed")

        with pytest.raises(ValueError, match="a section failed"):
            side_by_side(sessions, {"a": job("a2")}, {"b": fails})


def test_with_every_side_connection_taken_a_snapshot_reads_on_its_one_connection_at_once(db):
    """The side connections are a small pool of their own: a request holding a request-pool connection never waits
    for them (requests that each want a second connection cannot lock each other out); it reads in turn instead."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite reads on one session always")
    _add(db, "D1")
    held = [db._side().connect() for _ in range(db.SIDE_CONNECTIONS)]
    try:
        with db.snapshot(3) as sessions:
            assert len(sessions) == 1
            assert side_by_side(sessions, {"a": _departments}, {"b": _departments}) == {"a": 1, "b": 1}
    finally:
        for connection in held:
            connection.close()
    with db.snapshot(3) as sessions:
        assert len(sessions) == 3
