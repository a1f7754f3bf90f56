"""One step = one transaction (ARCHITECTURE.md §2).

A step loads an instance with its row version, applies one command to the workflow, runs the engine
until it waits, and writes back the state, the READY task rows, the waiting timer rows and the audit
events — all in the caller's transaction. A concurrent step on the same instance fails the version
check at flush and surfaces as `Conflict`.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import alerts, audit, clock, forms, spiff
from .models import Definition, Instance, Party, TaskRow, Timer


_BUNDLES: dict[tuple[int, str], spiff.SpecBundle] = {}


def bundle_of(definition: Definition) -> spiff.SpecBundle:
    """The parsed spec of a definition version, restored once per process (specs are immutable)."""
    key = (definition.id, definition.sha256)
    bundle = _BUNDLES.get(key)
    if bundle is None:
        bundle = _BUNDLES[key] = spiff.load_spec(definition.spec)
    return bundle


@dataclass
class Step:
    """The working set of one step: the row, the live workflow, and the audit events to append."""

    session: Session
    instance: Instance
    definition: Definition
    wf: spiff.Workflow
    actor: str
    events: list[tuple[str, str | None, dict[str, Any]]] = field(default_factory=list)
    finished: bool = False
    throws_before: frozenset[str] = frozenset()

    def record(self, action: str, element_id: str | None = None, data: dict[str, Any] | None = None) -> None:
        self.events.append((action, element_id, data or {}))


def parties_of(session: Session, instance_id: str) -> dict[str, str]:
    return {p.role: p.org_code for p in session.scalars(select(Party).where(Party.instance_id == instance_id))}


def open_step(session: Session, instance: Instance, actor: str) -> Step:
    definition = session.get(Definition, instance.definition_id)
    wf = spiff.load(bundle_of(definition), instance.state)
    step = Step(session, instance, definition, wf, actor)
    step.throws_before = frozenset(spiff.completed_tasks_of(wf, _alert_elements(definition)))
    return step


def _alert_elements(definition: Definition) -> frozenset[str]:
    return frozenset(definition.model.get("alerts", {}))


def new_instance_step(session: Session, definition: Definition, business_key: str, roles: dict[str, str],
                      data: dict[str, Any], actor: str) -> Step:
    now = clock.now()
    instance = Instance(id=str(uuid.uuid4()), business_key=business_key, definition_id=definition.id, status="running",
                        roles=roles, department_code=roles.get("department"), data={}, state="", created_at=now,
                        updated_at=now, created_by=actor)
    session.add(instance)
    for role, org in roles.items():
        if role != "department":
            session.add(Party(instance_id=instance.id, role=role, org_code=org))
    wf = spiff.new_workflow(bundle_of(definition), data)
    return Step(session, instance, definition, wf, actor)


def finish(step: Step) -> None:
    """Write everything the step changed; the version check happens at the flush."""
    if step.finished:
        return
    step.finished = True
    instance, wf, now = step.instance, step.wf, clock.now()
    if instance.status == "running" and spiff.is_completed(step.wf):
        instance.status = "completed"
        step.record("instance_completed")
    _raise_alerts(step, now)
    spiff.drain_events(wf)
    instance.state = spiff.dump(wf)
    instance.data = forms.to_json(spiff.current_data(wf))
    instance.updated_at = now
    _sync_tasks(step, now)
    _sync_timers(step, now)
    step.session.flush()
    audit.append(step.session, instance.id, now, step.actor, step.events)
    step.session.flush()


def _raise_alerts(step: Step, now) -> None:
    specs = step.definition.model.get("alerts", {})
    thrown = [t for tid, t in spiff.completed_tasks_of(step.wf, frozenset(specs)).items() if tid not in step.throws_before]
    # Highest severity first: a backdated contract past every threshold gets one red alert, not three.
    thrown.sort(key=lambda t: -alerts.SEVERITY_RANK[specs[t.task_spec.bpmn_id]["severity"]])
    for task in thrown:
        spec = specs[task.task_spec.bpmn_id]
        alert = alerts.raise_from_throw(step.session, step.instance, spec, task, now)
        step.record(f"alert_{spec['severity']}", alert.element_id, {"alert_id": alert.id, "code": alert.code,
                                                                    "due_at": alert.due_at.isoformat()})


def _met_dates(definition: Definition) -> dict[str, dict[str, Any]]:
    return {spec["code"]: spec for spec in definition.model.get("alerts", {}).values() if spec.get("met_date")}


def _sync_tasks(step: Step, now) -> None:
    instance, session = step.instance, step.session
    ready = {t.id: t for t in spiff.ready_user_tasks(step.wf)} if instance.status == "running" else {}
    rows = {r.id: r for r in session.scalars(select(TaskRow).where(TaskRow.instance_id == instance.id,
                                                                    TaskRow.state == "ready"))}
    timers = {t.attached_to: t.due_at for t in spiff.waiting_timers(step.wf) if t.attached_to}
    for task_id, row in rows.items():
        if task_id not in ready:
            task = spiff.get_task(step.wf, task_id)
            row.state = "completed" if task is not None and spiff.task_state(task) == "completed" else "cancelled"
            if row.state == "cancelled":
                step.record("task_cancelled", row.element_id)
                continue
            row.completed_at = now
            for alert in alerts.resolve_for_task(session, instance.id, task_id, spiff.task_data(task),
                                                 _met_dates(step.definition), now):
                step.record("alert_resolved", alert.element_id, {"alert_id": alert.id, "code": alert.code,
                                                                 "resolution": alert.resolution})
    for task_id, info in ready.items():
        if task_id in rows:
            rows[task_id].due_at = timers.get(task_id)
            continue
        lane = info.lane
        session.add(TaskRow(
            id=task_id, instance_id=instance.id, element_id=info.element_id, name=info.name, lane=lane,
            assignee_org=instance.roles.get(lane) if lane and lane != "supervisor" else None,
            assignee_department=instance.department_code if lane == "supervisor" else None,
            state="ready", created_at=now, due_at=timers.get(task_id)))
        step.record("task_ready", info.element_id, {"task_id": task_id, "lane": lane})


def _sync_timers(step: Step, now) -> None:
    instance, session = step.instance, step.session
    waiting = {t.task_id: t for t in spiff.waiting_timers(step.wf)} if instance.status == "running" else {}
    rows = {r.id: r for r in session.scalars(select(Timer).where(Timer.instance_id == instance.id,
                                                                 Timer.status.in_(("waiting", "leased"))))}
    for timer_id, row in rows.items():
        if timer_id in waiting:
            if row.due_at != waiting[timer_id].due_at:  # a cycle moved on, or a deadline was recomputed
                row.due_at, row.status, row.attempts = waiting[timer_id].due_at, "waiting", 0
            continue
        task = spiff.get_task(step.wf, timer_id)
        row.status = "fired" if task is not None and spiff.task_state(task) == "completed" else "cancelled"
        if row.status == "fired":
            row.fired_at = now
            row.lag_ms = max(0, int((now - row.due_at).total_seconds() * 1000))
        row.lease_owner = row.lease_expires_at = None
    for timer_id, info in waiting.items():
        if timer_id not in rows:
            session.add(Timer(id=timer_id, instance_id=instance.id, element_id=info.element_id, kind=info.kind,
                              due_at=info.due_at, status="waiting", attempts=0, created_at=now))
