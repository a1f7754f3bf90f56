"""The step mechanism: one transaction per step, the version check, and durable state."""
from __future__ import annotations

import threading

import pytest

from engine.runtime import definitions, runner, spiff
from engine.usecases import instances
from engine.access.directory import Principal
from engine.errors import Conflict
from tests.conftest import fixture_bytes, seed_people

ADMIN = Principal(0, "test-admin", "admin")


def _instance(db):
    seed_people(db)
    definitions.deploy(db, ADMIN, fixture_bytes("approval.bpmn"))
    return instances.start(db, ADMIN, "variation_approval", None, "S-1", {"employer": "EMP", "contractor": "CON"})


def test_interleaved_steps_on_one_instance_fail_the_version_check(db, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serializes steps with BEGIN IMMEDIATE: two steps cannot interleave there")
    instance = _instance(db)
    task_id = instance["tasks"][0]["id"]
    both_loaded = threading.Barrier(2, timeout=20)
    outcomes: list[str] = []

    def step(reason):
        def apply(s):
            both_loaded.wait()  # both transactions have read version 1 of the instance
            spiff.complete_task(s.wf, task_id, {"amount": 1, "reason": reason})
            s.record("task_completed", "request_variation", {"reason": reason})
        try:
            runner.run_step(db, ADMIN, instance["id"], apply)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=step, args=(str(i),)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["conflict", "ok"]
    history = instances.history(db, ADMIN, instance["id"], None, None)["items"]
    assert [e["action"] for e in history].count("task_completed") == 1


def test_instance_state_does_not_embed_the_process_spec(db):
    instance = _instance(db)
    with db.read() as session:
        from engine.storage.models import Instance
        state = session.get(Instance, instance["id"]).state
    assert '"spec"' not in state and "subprocess_specs" not in state
    assert len(state) < 6000


def test_a_failed_step_rolls_back_everything(db):
    instance = _instance(db)
    task_id = instance["tasks"][0]["id"]

    def apply(s):
        spiff.complete_task(s.wf, task_id, {"amount": 1, "reason": "r"})
        s.record("task_completed", "request_variation")
        raise Conflict("simulated failure after the engine ran")

    with pytest.raises(Conflict):
        runner.run_step(db, ADMIN, instance["id"], apply)
    again = instances.get(db, ADMIN, instance["id"])
    assert [t["id"] for t in again["tasks"]] == [task_id]
    assert [e["action"] for e in instances.history(db, ADMIN, instance["id"], None, None)["items"]].count("task_completed") == 0
