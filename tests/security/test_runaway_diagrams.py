"""Issue 14, acceptance 3: diagrams that never come to rest are refused at deploy, or their start or
firing ends within the step budget as a 422 or an incident — and the rest of the system keeps writing.

The runaway shapes: a timer cycle with a tiny or no period, unbounded or back-dated; a process that calls
itself (directly or through another process); a multi-instance activity with 100 000 instances. Shapes the
lint refuses are stored the way an older Lvyue would have (`store_without_lint`) to prove the run-time
budget too (engine/spiff.py: MAX_STEP_TASKS engine tasks, MAX_STEP_SECONDS of engine time per step).
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from engine.runtime import spiff, timers
from engine.storage.models import AuditEvent, Incident, Instance, Timer
from tests.conftest import fixture_bytes
from tests.security.conftest import XML, assert_problem, store_without_lint

# Budget + the slowest request this suite sees on a shared 2-core machine.
WITHIN = spiff.MAX_STEP_SECONDS + 5


# ---------------------------------------------------------------------------------------- diagrams
PASS_THROUGH = ('<bpmn:intermediateThrowEvent id="mid"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>'
                '</bpmn:intermediateThrowEvent>')


def _definitions(key: str, processes: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                  id="defs_{key}" targetNamespace="http://example.org/{key}">
{processes}
</bpmn:definitions>""".encode()


def _main(key: str, middle: str, extra_nodes: str = "", extra_flows: str = "", first: str = "mid") -> str:
    """start → `middle` (from `first` to `mid`) → work (an employer's task) → end, in process `key`."""
    return f"""<bpmn:process id="{key}" isExecutable="true">
    <bpmn:laneSet id="ls_{key}"><bpmn:lane id="l_{key}" name="employer"><bpmn:flowNodeRef>work</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    {middle}
    <bpmn:userTask id="work"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    {extra_nodes}
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="{first}"/>
    <bpmn:sequenceFlow id="f2" sourceRef="mid" targetRef="work"/>
    <bpmn:sequenceFlow id="f3" sourceRef="work" targetRef="end"/>
    {extra_flows}
  </bpmn:process>"""


def _call(called: str, element_id: str = "mid") -> str:
    return (f'<bpmn:callActivity id="{element_id}" calledElement="{called}"><bpmn:incoming>f1</bpmn:incoming>'
            '<bpmn:outgoing>f2</bpmn:outgoing></bpmn:callActivity>')


def _looping(process_id: str, calls: str) -> str:
    """A process whose only content is a call activity `again` calling `calls`."""
    return f"""<bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="{process_id}_start"><bpmn:outgoing>{process_id}_f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:callActivity id="{process_id}_again" calledElement="{calls}"><bpmn:incoming>{process_id}_f1</bpmn:incoming><bpmn:outgoing>{process_id}_f2</bpmn:outgoing></bpmn:callActivity>
    <bpmn:endEvent id="{process_id}_end"><bpmn:incoming>{process_id}_f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="{process_id}_f1" sourceRef="{process_id}_start" targetRef="{process_id}_again"/>
    <bpmn:sequenceFlow id="{process_id}_f2" sourceRef="{process_id}_again" targetRef="{process_id}_end"/>
  </bpmn:process>"""


def self_calling(key: str) -> bytes:
    """The top process calls itself: every start nests one more copy, for ever."""
    return _definitions(key, _main(key, _call(key)))


def mutually_calling(key: str) -> bytes:
    """key → ping → pong → ping → …"""
    return _definitions(key, _main(key, _call(f"{key}_ping")) + _looping(f"{key}_ping", f"{key}_pong")
                        + _looping(f"{key}_pong", f"{key}_ping"))


def timer_then_recursion(key: str) -> bytes:
    """Waits an hour, then calls a process that calls itself: the runaway happens in the sweep's firing."""
    middle = f"""<bpmn:intermediateCatchEvent id="wait"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>fw</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT1H"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:callActivity id="mid" calledElement="{key}_loop"><bpmn:incoming>fw</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:callActivity>"""
    main = _main(key, middle, extra_flows='<bpmn:sequenceFlow id="fw" sourceRef="wait" targetRef="mid"/>', first="wait")
    return _definitions(key, main + _looping(f"{key}_loop", f"{key}_loop"))


def cycle_reminder(key: str, cycle: str) -> bytes:
    """`work` carries a non-interrupting reminder on the timeCycle `cycle` (an expression)."""
    middle = PASS_THROUGH
    reminder = f"""<bpmn:boundaryEvent id="remind" attachedToRef="work" cancelActivity="false"><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeCycle xsi:type="bpmn:tFormalExpression">{cycle}</bpmn:timeCycle></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="reminded"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>"""
    return _definitions(key, _main(key, middle, reminder, '<bpmn:sequenceFlow id="f4" sourceRef="remind" targetRef="reminded"/>'))


def multi_instance(key: str, cardinality: str) -> bytes:
    """`mid` is a parallel multi-instance pass-through subprocess with `cardinality` instances."""
    middle = f"""<bpmn:subProcess id="mid"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics isSequential="false"><bpmn:loopCardinality xsi:type="bpmn:tFormalExpression">{cardinality}</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>
      <bpmn:startEvent id="mid_start"><bpmn:outgoing>mid_f</bpmn:outgoing></bpmn:startEvent>
      <bpmn:endEvent id="mid_end"><bpmn:incoming>mid_f</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="mid_f" sourceRef="mid_start" targetRef="mid_end"/>
    </bpmn:subProcess>"""
    return _definitions(key, _main(key, middle))


def timer(key: str, tag: str, value: str) -> bytes:
    middle = f"""<bpmn:intermediateCatchEvent id="mid"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:{tag} xsi:type="bpmn:tFormalExpression">{value}</bpmn:{tag}></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>"""
    return _definitions(key, _main(key, middle))


# ---------------------------------------------------------------------------------------- helpers
def _deploy(client, people, data: bytes):
    return client.post("/api/v1/definitions", data=data, headers={**people.auth("designer"), **XML})


def _start(client, people, key: str, business_key: str, **data):
    return client.post("/api/v1/instances", headers=people.auth("operator"), json={
        "definition": key, "business_key": business_key, "data": {"employer": "EMP", **data}})


def _timed(fn):
    started = time.monotonic()
    out = fn()
    return out, time.monotonic() - started


def _meanwhile(app, people, runaway, key: str = "calm"):
    """Run `runaway()` in a thread and, while it runs, start an unrelated contract and complete its task
    from this thread: (runaway's result, its duration, the unrelated replies)."""
    client = app.test_client()
    assert _deploy(client, people, _definitions(key, _main(key, PASS_THROUGH))).status_code == 201
    box = {}
    thread = threading.Thread(target=lambda: box.update(zip(("out", "seconds"), _timed(runaway))))
    thread.start()
    time.sleep(0.15)  # the runaway step is under way
    started = _start(client, people, key, f"{key}-1")
    assert started.status_code == 201, started.get_json()
    [task] = started.get_json()["tasks"]
    completed = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {}}, headers=people.auth("emp"))
    thread.join(60)
    assert not thread.is_alive()
    return box["out"], box["seconds"], (started, completed)


def _instances_named(app, business_key: str) -> int:
    with app.extensions["lvyue"].db.read() as s:
        return s.scalar(select(func.count()).select_from(Instance).where(Instance.business_key == business_key))


# ---------------------------------------------------------------------------------------- deploy
LINT_CASES = [
    pytest.param(lambda k: timer(k, "timeCycle", "R/PT0S"), "mid", "repeats without end", id="cycle-R/PT0S"),
    pytest.param(lambda k: timer(k, "timeCycle", '"R/PT1S"'), "mid", "shorter than the minimum", id="cycle-R/PT1S"),
    pytest.param(lambda k: timer(k, "timeCycle", "R/P1D"), "mid", "repeats without end", id="cycle-unbounded"),
    pytest.param(lambda k: timer(k, "timeCycle", "R/2020-01-01T00:00:00Z/PT1S"), "mid", "repeats without end",
                 id="cycle-backdated"),
    pytest.param(lambda k: timer(k, "timeCycle", "R20000/P1D"), "mid", "more than 10000", id="cycle-too-many"),
    pytest.param(lambda k: timer(k, "timeDate", "9999-12-31T23:59:59-23:59"), "mid", "outside 2000-01-01",
                 id="date-9999"),
    pytest.param(lambda k: timer(k, "timeDuration", "P9999Y"), "mid", "longer than 100 years", id="duration-P9999Y"),
    pytest.param(lambda k: timer(k, "timeDuration", "P99999999999D"), "mid", "longer than 100 years",
                 id="duration-P99999999999D"),
    pytest.param(self_calling, "mid", "may not call itself", id="self-call"),
    pytest.param(mutually_calling, "{key}_ping_again", "may not call itself", id="mutual-call"),
    pytest.param(lambda k: multi_instance(k, "100000"), "mid", "more than the 1000 instances", id="mi-100000"),
    pytest.param(lambda k: multi_instance(k, "100 * 1000"), "mid", "more than the 1000 instances", id="mi-constant"),
]


@pytest.mark.parametrize("build, element_id, reason", LINT_CASES)
def test_runaway_diagram_is_refused_at_deploy_naming_the_element(client, people, build, element_id, reason):
    key = "runaway"
    data = build(key)
    element_id = element_id.format(key=key)

    r = _deploy(client, people, data)

    body = assert_problem(r, 422)
    assert any(f"element '{element_id}'" in m and reason in m for m in body["errors"]["bpmn"]), body
    problems = client.post("/api/v1/definitions/validate", data=data,
                           headers={**people.auth("designer"), **XML}).get_json()["problems"]
    assert any(p["element_id"] == element_id and reason in p["message"] for p in problems), problems
    assert client.get(f"/api/v1/definitions/{key}", headers=people.auth("admin")).status_code == 404


@pytest.mark.parametrize("build", [
    lambda k: timer(k, "timeCycle", '"R3/PT1H"'), lambda k: timer(k, "timeCycle", "R5/2020-01-01T00:00:00Z/P1D"),
    lambda k: timer(k, "timeDate", "2199-12-31T23:59:59+08:00"), lambda k: timer(k, "timeDuration", "P99Y"),
    lambda k: multi_instance(k, "1000"), lambda k: multi_instance(k, "n"),
], ids=["cycle-bounded", "cycle-backdated-bounded", "date-2199", "duration-P99Y", "mi-1000", "mi-expression"])
def test_bounded_values_at_the_limits_deploy(client, people, build):
    r = _deploy(client, people, build("bounded"))
    assert r.status_code == 201, r.get_json()


# ---------------------------------------------------------------------------------------- run time
def test_self_calling_process_start_is_refused_within_the_budget_while_other_writes_succeed(app, people):
    store_without_lint(app.extensions["lvyue"].db, self_calling("selfcall"))
    client = app.test_client()

    r, seconds, unrelated = _meanwhile(app, people, lambda: _start(client, people, "selfcall", "SELF-1"))

    body = assert_problem(r, 422)
    assert "does not come to rest" in body["detail"] and "process" in body["errors"], body
    assert seconds < WITHIN
    assert [u.status_code for u in unrelated] == [201, 200], [u.get_json() for u in unrelated]
    assert _instances_named(app, "SELF-1") == 0  # nothing stored
    assert _start(client, people, "selfcall", "SELF-1").status_code == 422  # and the key is still free


def test_mutually_calling_processes_are_refused_within_the_budget(app, people, client):
    store_without_lint(app.extensions["lvyue"].db, mutually_calling("pingpong"))
    r, seconds = _timed(lambda: _start(client, people, "pingpong", "PP-1"))
    assert_problem(r, 422)
    assert seconds < WITHIN and _instances_named(app, "PP-1") == 0


def test_multi_instance_cardinality_from_start_data_is_refused_naming_the_element(app, people, client):
    assert _deploy(client, people, multi_instance("fanout", "n")).status_code == 201

    r, seconds, unrelated = _meanwhile(app, people, lambda: _start(client, people, "fanout", "MI-1", n=100_000))

    body = assert_problem(r, 422)
    assert "'mid'" in body["detail"] and "100000" in body["detail"] and "1000" in body["detail"], body
    assert seconds < WITHIN and [u.status_code for u in unrelated] == [201, 200]
    assert _instances_named(app, "MI-1") == 0
    ok = _start(client, people, "fanout", "MI-2", n=3)
    assert ok.status_code == 201 and [t["element_id"] for t in ok.get_json()["tasks"]] == ["work"], ok.get_json()


@pytest.mark.parametrize("cycle", ["R/PT0S", "R/PT1S", "R/2020-01-01T00:00:00Z/PT1S", "R2/PT0S"])
def test_cycle_computed_from_start_data_is_refused_at_start_naming_the_timer(app, people, client, cycle):
    """The lint cannot see a cycle held in a variable; the value is checked when SpiffWorkflow evaluates it."""
    assert _deploy(client, people, cycle_reminder("nagging", "cycle")).status_code == 201

    r, seconds = _timed(lambda: _start(client, people, "nagging", "NAG-1", cycle=cycle))

    body = assert_problem(r, 422)
    assert "'remind'" in body["detail"], body
    assert seconds < WITHIN and _instances_named(app, "NAG-1") == 0
    assert _start(client, people, "nagging", "NAG-2", cycle="R3/PT1H").status_code == 201


def test_backdated_bounded_cycle_that_would_fire_thousands_of_rounds_at_once_is_refused_by_the_budget(app, people, client):
    """R10000 hourly from 2020: lint-clean, but the start would run every round missed since 2020 in one step."""
    assert _deploy(client, people, cycle_reminder("backlog", '"R10000/2020-01-01T00:00:00Z/PT1H"')).status_code == 201

    r, seconds, unrelated = _meanwhile(app, people, lambda: _start(client, people, "backlog", "BL-1"))

    body = assert_problem(r, 422)
    assert "does not come to rest" in body["detail"], body
    assert seconds < WITHIN and [u.status_code for u in unrelated] == [201, 200]
    assert _instances_named(app, "BL-1") == 0


@pytest.mark.parametrize("tag, expression, data", [
    ("timeDate", "when", {"when": "9999-12-31T23:59:59-23:59"}),
    ("timeDuration", "wait", {"wait": "P9999Y"}),
    ("timeDuration", "wait", {"wait": "P99999999999D"}),
    ("timeDate", 'day + "T23:59:59" + offset', {"day": "9999-12-31", "offset": "-23:59"}),
    ("timeDate", "add_days(day, n)", {"day": "2026-12-01", "n": 10 ** 12}),
])
def test_odd_timer_values_computed_at_run_time_are_a_422_not_a_500(app, people, client, tag, expression, data):
    assert _deploy(client, people, timer("odd", tag, expression)).status_code == 201

    r = _start(client, people, "odd", "ODD-1", **data)

    body = assert_problem(r, 422)
    assert "'mid'" in body["detail"], body
    assert _instances_named(app, "ODD-1") == 0


def test_runaway_timer_firing_ends_as_an_incident_at_once_while_other_writes_succeed(app, people, client):
    db = app.extensions["lvyue"].db
    store_without_lint(db, timer_then_recursion("later"))
    r = _start(client, people, "later", "LATER-1")
    assert r.status_code == 201, r.get_json()
    instance = r.get_json()
    state_before = _state(app, instance["id"])
    due = datetime.now(timezone.utc) + timedelta(hours=2)

    result, seconds, unrelated = _meanwhile(app, people, lambda: timers.tick(db, due))

    assert result.failed == 1 and seconds < WITHIN
    assert [u.status_code for u in unrelated] == [201, 200]
    [incident] = client.get("/api/v1/incidents", headers=people.auth("operator")).get_json()["items"]
    assert incident["instance_id"] == instance["id"] and incident["attempts"] == 1
    assert "does not come to rest" in incident["error"]
    with db.read() as s:
        [row] = s.scalars(select(Timer).where(Timer.instance_id == instance["id"]))
        assert row.status == "incident"
        assert s.scalar(select(func.count()).where(AuditEvent.instance_id == instance["id"],
                                                   AuditEvent.action == "timer_fired")) == 0
    assert _state(app, instance["id"]) == state_before  # the firing changed nothing
    assert timers.tick(db, due + timedelta(hours=1)).leased == 0  # and is not retried behind the operator's back


def _state(app, instance_id: str) -> str:
    with app.extensions["lvyue"].db.read() as s:
        return s.get(Instance, instance_id).state


def test_an_ordinary_contract_runs_far_below_the_budget(app, people, client):
    """Control: the budget leaves the shipped kind of diagram alone."""
    assert _deploy(client, people, fixture_bytes("signing_deadline.bpmn")).status_code == 201
    r = client.post("/api/v1/instances", headers=people.auth("operator"), json={
        "definition": "signing_deadline", "business_key": "OK-1",
        "data": {"employer": "EMP", "department": "ZJ", "award_notice_date": "2026-09-01"}})
    assert r.status_code == 201, r.get_json()
