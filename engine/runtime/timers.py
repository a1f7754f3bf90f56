"""Durable timers: the database decides what is due; sweeps lease and fire it (ARCHITECTURE.md §4).

Every worker runs `sweep` every few seconds. A sweep leases due rows in bounded batches
(PostgreSQL: FOR UPDATE SKIP LOCKED, so workers never take the same row; SQLite: one writer) and
fires each instance's due timers as one step, in which the timer row turns `fired` together with
the workflow state — so a timer fires exactly once even if a worker dies mid-batch (its lease
expires and another worker takes the row; a half-done step never committed). A failing firing is
retried with backoff and ends as an incident after MAX_ATTEMPTS.
"""
from __future__ import annotations

import logging
import os
import random
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm.exc import StaleDataError

from engine import clock
from engine.runtime import audit, hooks, spiff, steps
from engine.storage.db import Database
from engine.access.directory import Principal
from engine.errors import Conflict, Forbidden, NotFound
from engine.storage.models import Incident, Instance, InstancePart, Outbox, Timer
from engine.storage.pagination import page

log = logging.getLogger("lvyue.timers")

# Far above one firing (milliseconds), far below an operator's patience; tests shorten it
# (LVYUE_TIMER_LEASE_SECONDS, read by engine/settings.py and passed to `sweep`).
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 5  # a diagram defect does not heal by retrying; five tries ride out a database failover
BACKOFF_BASE = timedelta(seconds=5)
BATCH = 100
# Firings per transaction on PostgreSQL (see group_size): 20 × ~10 ms keeps row locks short
# (LVYUE_TIMER_FIRE_GROUP, read by engine/settings.py and passed to `sweep`).
FIRE_GROUP = 20


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def backoff(attempts: int) -> timedelta:
    return BACKOFF_BASE * (2 ** (attempts - 1)) * random.uniform(0.8, 1.2)


@dataclass
class SweepResult:
    leased: int = 0
    fired: int = 0
    failed: int = 0
    conflicts: int = 0


def _due(now: datetime):
    waiting = and_(Timer.status == "waiting", Timer.due_at <= now,
                   or_(Timer.next_attempt_at.is_(None), Timer.next_attempt_at <= now))
    abandoned = and_(Timer.status == "leased", Timer.lease_expires_at <= now)
    return or_(waiting, abandoned)


def lease(db: Database, owner: str, batch: int = BATCH,
          lease_for: timedelta = LEASE) -> list[tuple[str, str, str | None]]:
    """Lease up to `batch` due timers for `lease_for`; (timer id, instance id, part id), committed before firing."""
    now = clock.now()
    with db.transaction() as session:
        query = select(Timer).where(_due(now)).order_by(Timer.due_at).limit(batch)
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list(session.scalars(query))
        for row in rows:
            row.status, row.lease_owner, row.lease_expires_at = "leased", owner, now + lease_for
        return [(r.id, r.instance_id, r.part_id) for r in rows]


def _fire(session, instance_id: str, timer_ids: list[str], owner: str, part_id: str | None) -> str:
    """Fire the due timers of one workflow of an instance as one step, in `session`: 'fired' or 'conflict'."""
    # The instance with its definition's light row (and its state, for a step on the main workflow), and the
    # leased rows: two statements whatever the number of timers, none when the group's `steps.preload` read them.
    instance = steps.load_with_definition(session, instance_id, with_state=part_id is None)
    known = steps.known_timers(session, instance_id)
    rows = ([known[t] for t in timer_ids if t in known] if known is not None
            else list(session.scalars(select(Timer).where(Timer.id.in_(timer_ids)))))
    rows = [r for r in rows if r.status == "leased" and r.lease_owner == owner]
    if not rows:
        return "conflict"
    if instance is None or instance.status != "running":
        for row in rows:
            row.status, row.lease_owner, row.lease_expires_at = "cancelled", None, None
        return "fired"
    latest_due = max(r.due_at for r in rows)
    # SpiffWorkflow fires a timer strictly after its instant; a tick *at* the instant must fire it.
    at = max(clock.now(), latest_due + timedelta(microseconds=1))
    with clock.frozen_at(at):
        step = steps.open_step(session, instance, "timer", part_id)
        spiff.run_until_waiting(step.wf)  # finish records a timer_fired event for each timer that fired
        step.fired_by = owner
        steps.finish(step)
    for row in rows:
        if row.status == "leased":  # not due for SpiffWorkflow after all: back to waiting
            row.status, row.lease_owner, row.lease_expires_at = "waiting", None, None
    return "fired"


def fire_group(db: Database, group: list[tuple[tuple[str, str | None], list[str]]], owner: str) -> list[str]:
    """Fire several workflows' due timers in one transaction: one commit for the group instead of one per
    firing, and what the firings read (instances, task and timer rows, alerts) read once for all of them
    (`steps.preload`). First all together, without savepoints; if any firing fails or conflicts, that
    transaction rolls back whole and the group runs again with each firing in a SAVEPOINT of its own, so that
    only the failing one is retried (or released). Exactly once holds either way: each timer turns `fired` in
    the transaction that writes its workflow's new state."""
    if len(group) > 1:
        try:
            return _fire_together(db, group, owner)
        except Exception as exc:  # noqa: BLE001 — rolled back whole; the savepoints below find the firing at fault
            log.info("a group of %d timer firings rolled back (%s): again, one savepoint each", len(group), exc)
    outcomes: list[str] = []
    try:
        with db.transaction() as session:
            steps.preload(session, [instance_id for (instance_id, _), _ in group])
            for (instance_id, part_id), timer_ids in group:
                try:
                    with session.begin_nested():
                        outcomes.append(_fire(session, instance_id, timer_ids, owner, part_id))
                except (StaleDataError, Conflict):
                    _release(session, timer_ids, owner)
                    outcomes.append("conflict")
                except Exception as exc:  # a firing must never kill the sweep: record it, retry, then incident
                    log.warning("timer firing failed for instance %s: %s", instance_id, exc)
                    _failed(session, instance_id, timer_ids, owner, exc)
                    outcomes.append("failed")
        return outcomes
    except Exception as exc:  # the group's own commit failed (e.g. a lost connection): try each alone
        if len(group) == 1:
            log.warning("timer firing failed for instance %s: %s", group[0][0][0], exc)
            try:
                with db.transaction() as session:
                    _failed(session, group[0][0][0], group[0][1], owner, exc)
            except Exception:  # noqa: BLE001 — the lease expires and another sweep takes the timers
                log.exception("could not record the failed firing")
            return ["failed"]
        return [fire_group(db, [item], owner)[0] for item in group]


def _fire_together(db: Database, group: list[tuple[tuple[str, str | None], list[str]]], owner: str) -> list[str]:
    """The group's firings in one transaction, no savepoint between them, their writes deferred to one flush and one
    INSERT of audit events at the end (audit.defer): any exception, a version conflict included, rolls all back."""
    with db.transaction() as session:
        steps.preload(session, [instance_id for (instance_id, _), _ in group])
        audit.defer(session)
        outcomes = [_fire(session, instance_id, timer_ids, owner, part_id)
                    for (instance_id, part_id), timer_ids in group]
        audit.write_deferred(session)
        return outcomes


def _release(session, timer_ids: list[str], owner: str) -> None:
    for row in session.scalars(select(Timer).where(Timer.id.in_(timer_ids), Timer.lease_owner == owner)):
        row.status, row.lease_owner, row.lease_expires_at = "waiting", None, None


def _failed(session, instance_id: str, timer_ids: list[str], owner: str, exc: Exception) -> None:
    message = getattr(exc, "message", None) or f"{exc.__class__.__name__}: {exc}"
    now = clock.now()
    for row in session.scalars(select(Timer).where(Timer.id.in_(timer_ids), Timer.lease_owner == owner)):
        row.attempts += 1
        row.last_error = message[:2000]
        row.lease_owner = row.lease_expires_at = None
        # A step over its budget would run away again on every retry: an incident at once.
        if row.attempts >= MAX_ATTEMPTS or isinstance(exc, spiff.RunawayError):
            row.status = "incident"
            session.add(Incident(id=str(uuid.uuid4()), kind="timer", instance_id=instance_id, timer_id=row.id,
                                 element_id=row.element_id, error=row.last_error, attempts=row.attempts,
                                 status="open", created_at=now))
        else:
            row.status, row.next_attempt_at = "waiting", now + backoff(row.attempts)


def group_size(db: Database, group_of: int = FIRE_GROUP) -> int:
    """Firings per transaction. SQLite has one writer, and a long write transaction would hold API
    requests back; PostgreSQL locks only the rows a group writes, so groups of `group_of` save commits there."""
    return 1 if db.dialect == "sqlite" else group_of


def sweep(db: Database, owner: str, batch: int = BATCH, max_batches: int = 100, *, lease_for: timedelta = LEASE,
          group_of: int = FIRE_GROUP) -> SweepResult:
    """Fire what is due now, batch by batch, until nothing is due or `max_batches` ran; each batch is leased
    for `lease_for`, and on PostgreSQL fired `group_of` workflows per transaction."""
    result = SweepResult()
    size = group_size(db, group_of)
    for _ in range(max_batches):
        leased = lease(db, owner, batch, lease_for)
        if not leased:
            break
        result.leased += len(leased)
        by_workflow: dict[tuple[str, str | None], list[str]] = {}
        for timer_id, instance_id, part_id in leased:
            by_workflow.setdefault((instance_id, part_id), []).append(timer_id)
        items = list(by_workflow.items())
        for i in range(0, len(items), size):
            group = items[i:i + size]
            for (_, timer_ids), outcome in zip(group, fire_group(db, group, owner)):
                if outcome == "fired":
                    result.fired += len(timer_ids)
                elif outcome == "failed":
                    result.failed += len(timer_ids)
                else:
                    result.conflicts += len(timer_ids)
        if len(leased) < batch:
            break
    return result


def tick(db: Database, at: datetime | None = None, owner: str | None = None, *, lease_for: timedelta = LEASE,
         group_of: int = FIRE_GROUP) -> SweepResult:
    """Fire everything due at `at` (default now), as `lvyue tick --at` does."""
    owner = owner or worker_name()
    if at is None:
        return sweep(db, owner, lease_for=lease_for, group_of=group_of)
    with clock.frozen_at(at):
        return sweep(db, owner, lease_for=lease_for, group_of=group_of)


# ---------------------------------------------------------------- incidents
def incident_view(i: Incident) -> dict[str, Any]:
    return {"id": i.id, "kind": i.kind, "instance_id": i.instance_id, "timer_id": i.timer_id,
            "element_id": i.element_id, "error": i.error, "attempts": i.attempts, "status": i.status,
            "created_at": i.created_at, "resolved_at": i.resolved_at}


def _ops(principal: Principal) -> None:
    if principal.role not in ("admin", "operator"):
        raise Forbidden("incidents are for operators")


def list_incidents(db: Database, principal: Principal, limit, cursor, status: str | None = None) -> dict[str, Any]:
    _ops(principal)
    with db.read() as session:
        query = select(Incident)
        if status:
            query = query.where(Incident.status == status)
        return page(session, query, [Incident.created_at, Incident.id], limit, cursor, incident_view)


def retry_incident(db: Database, principal: Principal, incident_id: str) -> dict[str, Any]:
    """Put the failed timer back in the queue, due now; the incident closes."""
    _ops(principal)
    with db.transaction() as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise NotFound("no such incident")
        if incident.status != "open":
            raise Conflict(f"the incident is {incident.status}")
        now = clock.now()
        if incident.timer_id:
            timer = session.get(Timer, incident.timer_id)
            if timer is not None and timer.status == "incident":
                timer.status, timer.attempts, timer.next_attempt_at, timer.last_error = "waiting", 0, now, None
        if incident.outbox_id:
            row = session.get(Outbox, incident.outbox_id)
            if row is not None and row.status == "dead":
                row.status, row.attempts, row.next_attempt_at = "pending", 0, now
        incident.status, incident.resolved_at = "retried", now
        return incident_view(incident)


# ---------------------------------------------------------------- moving the deadlines of one instance
def shift_instance(session, instance: Instance, actor: str, delta: timedelta, reason: dict[str, Any],
                   activities: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """Move every pending timer of `instance` — its main workflow and each running part — by `delta`, as steps of
    `actor` in the caller's transaction; each moved timer is recorded (`timer_moved`, with `reason`). The domain
    decides when and by how much (a suspension, an extension of time) and, with `activities`, which: only the timers
    on those elements move. What the timers raise later carries the shift (hooks.Thrown.shift). Returns the moves."""
    parts = [p.id for p in session.scalars(select(InstancePart).where(InstancePart.instance_id == instance.id,
                                                                      InstancePart.status == "running")
                                           .order_by(InstancePart.item_no))]
    moved = []
    for part_id in [None, *parts]:
        step = steps.open_step(session, instance, actor, part_id)
        for task_id, element_id, before, after in spiff.shift_timers(step.wf, delta, activities):
            move = {"timer_id": task_id, "from": before.isoformat(), "to": after.isoformat(), **reason}
            step.record("timer_moved", element_id, move)
            moved.append({"element_id": element_id, "part_id": part_id, **move})
        steps.finish(step)
    return moved


# ---------------------------------------------------------------- calendar changes
def recompute_from(db: Database, first_day: datetime) -> dict[str, int]:
    """Re-evaluate every waiting timer due on or after `first_day` (and the deadlines of open alerts);
    moves exactly those whose instant changed. Used after a calendar year is imported."""
    moved_timers = moved_alerts = 0
    with db.read() as session:
        units = sorted({tuple(row) for row in session.execute(select(Timer.instance_id, Timer.part_id).where(
            Timer.status.in_(("waiting", "leased")), Timer.due_at >= first_day))}, key=lambda u: (u[0], u[1] or ""))
    for instance_id, part_id in units:
        with db.transaction() as session:
            instance = session.get(Instance, instance_id)
            step = steps.open_step(session, instance, "calendar", part_id)
            rows = list(session.scalars(select(Timer).where(
                Timer.instance_id == instance_id, Timer.part_id.is_(None) if part_id is None else Timer.part_id == part_id,
                Timer.status.in_(("waiting", "leased")))))
            before = {r.id: r.due_at for r in rows}
            for row in rows:
                spiff.reset_timer(step.wf, row.id)
            # Running (not just refreshing) fires a deadline that moved into the past, as it should.
            spiff.run_until_waiting(step.wf)
            after = {t.task_id: t.due_at for t in spiff.waiting_timers(step.wf)}
            for row in rows:
                if row.id in after and after[row.id] != before[row.id]:
                    moved_timers += 1
                    step.record("timer_moved", row.element_id, {"timer_id": row.id, "from": before[row.id].isoformat(),
                                                                "to": after[row.id].isoformat()})
            steps.finish(step)
    with db.transaction() as session:
        moved_alerts = sum(listener(session) for listener in hooks.REGISTRY.deadlines_moved)
    return {"timers_moved": moved_timers, "alerts_moved": moved_alerts}
