"""The change ledger of a contract (合同变更台账), confirmed by both parties. This version knows one kind: an
extension of time (工期顺延 / 延长履行期限) of N days.

A change is made by agreement of both parties (《民法典》第五百四十三条; 《政府采购法》第五十条), never by one:
* the employer proposes it: `POST /contracts/{key}/changes` {kind, days, reason, document_sha256, proposed_at} —
  its proposal is its own confirmation;
* the contractor confirms the same document, or refuses: `POST /contracts/{key}/changes/{no}/confirmation`
  {confirmed, confirmed_at, document_sha256}.

Accepted, an extension of time moves the contractor's pending deadlines by exactly `days`: the timers on the
contractor lane's tasks (its main workflow and running parts, e.g. each milestone's delivery), the open alerts the
contractor owes, and the deadlines of its ready tasks. The employer's deadlines (payments, refunds, filing) do not
move. The history records `change_proposed` and `change_accepted` (or `change_refused`) with both confirmations, and
a `timer_moved` for each timer. The changes are kept in the contract's process data (`changes`) and listed by the
ledger.
"""
from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any, Mapping

from sqlalchemy import select

from engine import clock
from engine.access import authz
from engine.access.directory import Principal
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.runtime import spiff, steps, timers
from engine.runtime.runner import step_transaction
from engine.storage.db import Database
from engine.storage.models import Instance, TaskRow
from engine.supervision import alerts, plausibility

CHANGES = "changes"
KINDS = ("extension_of_time",)
MAX_DAYS = 3650
SHA256 = re.compile(r"[0-9a-f]{64}")


def _instance(session, principal: Principal, business_key: Any, role: str) -> Instance:
    instance = session.scalar(select(Instance).where(Instance.business_key == business_key)) \
        if isinstance(business_key, str) else None
    if instance is None or not authz.can_see_instance(principal, instance):
        raise NotFound(f"no contract {business_key}")
    if principal.role == "admin":
        return instance
    if principal.role != "party" or principal.org_code is None or (
            (instance.roles or {}).get(role) != principal.org_code
            and principal.org_code not in authz.members(session, instance.id, role)):  # a consortium's member
        raise Forbidden(f"only the contract's {role} (or an admin) does this")
    return instance


def _date(value: Any, field: str, errors: dict[str, list[str]]) -> date | None:
    return plausibility.business_date(value, field, errors)


def _changes(wf) -> list[dict[str, Any]]:
    return [dict(c) for c in (spiff.shared_value(wf, CHANGES) or [])]


def propose(db: Database, principal: Principal, business_key: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    if body.get("kind") not in KINDS:
        errors["kind"] = [f"one of {', '.join(KINDS)}"]
    days = body.get("days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        errors["days"] = [f"a whole number of days from 1 to {MAX_DAYS}"]
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        errors["reason"] = ["required: why the time is extended"]
    sha = body.get("document_sha256")
    if not isinstance(sha, str) or not SHA256.fullmatch(sha):
        errors["document_sha256"] = ["the change document's SHA-256, 64 lowercase hex digits"]
    day = _date(body.get("proposed_at"), "proposed_at", errors)
    with step_transaction(db) as session:
        instance = _instance(session, principal, business_key, "employer")
        if instance.status != "running":
            raise Conflict(f"the contract is {instance.status}: only a running contract is changed")
        if errors:
            raise Invalid("the change is invalid", errors)
        step = steps.open_step(session, instance, principal.name)
        earlier = _changes(step.wf)
        record = {"no": len(earlier) + 1, "kind": body["kind"], "days": days, "reason": reason.strip(),
                  "document_sha256": sha, "status": "proposed",
                  "employer_confirmation": {"by": principal.name, "at": day.isoformat()},
                  "contractor_confirmation": None}
        spiff.set_shared(step.wf, CHANGES, [*earlier, record])
        step.record("change_proposed", None, record)
        steps.finish(step)
        return {"business_key": instance.business_key, **record}


def confirm(db: Database, principal: Principal, business_key: Any, no: int, body: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    confirmed = body.get("confirmed")
    if not isinstance(confirmed, bool):
        errors["confirmed"] = ["true (the contractor signs the change) or false (it refuses it)"]
    day = _date(body.get("confirmed_at"), "confirmed_at", errors)
    with step_transaction(db) as session:
        instance = _instance(session, principal, business_key, "contractor")
        step = steps.open_step(session, instance, principal.name)
        records = _changes(step.wf)
        if not 1 <= no <= len(records):
            raise NotFound(f"no change {no} of contract {business_key}")
        record = records[no - 1]
        if record["status"] != "proposed":
            raise Conflict(f"change {no} is {record['status']} already")
        if body.get("document_sha256") != record["document_sha256"]:
            errors["document_sha256"] = [f"is not the change document the employer signed ({record['document_sha256']})"]
        if day is not None and day < date.fromisoformat(record["employer_confirmation"]["at"]):
            errors["confirmed_at"] = [f"{day.isoformat()} is before the proposal ({record['employer_confirmation']['at']})"]
        if instance.status != "running":
            raise Conflict(f"the contract is {instance.status}: only a running contract is changed")
        if errors:
            raise Invalid("the confirmation is invalid", errors)
        record["status"] = "accepted" if confirmed else "refused"
        record["contractor_confirmation"] = {"by": principal.name, "at": day.isoformat(), "confirmed": confirmed}
        records[no - 1] = record
        spiff.set_shared(step.wf, CHANGES, records)
        step.record("change_accepted" if confirmed else "change_refused", None, record)
        steps.finish(step)
        moves = {"timers_moved": 0, "alerts_moved": 0, "tasks_moved": 0}
        if confirmed:
            moves = _extend(session, instance, step.definition, principal.name, timedelta(days=record["days"]), no)
        return {"business_key": instance.business_key, **record, **moves}


def _extend(session, instance: Instance, definition, actor: str, delta: timedelta, no: int) -> dict[str, int]:
    """The contractor's deadlines move by `delta`: the timers on its lane's tasks, the alerts it owes, its ready tasks."""
    user_tasks = (definition.model or {}).get("user_tasks", {})
    contractor_tasks = frozenset(t for t, spec in user_tasks.items() if spec.get("lane") == "contractor")
    moved = timers.shift_instance(session, instance, actor, delta, {"change": no, "days": delta.days}, contractor_tasks)
    shifted = alerts.shift_open(session, instance.id, delta, clock.now(), responsible="contractor")
    tasks = 0
    for row in session.scalars(select(TaskRow).where(TaskRow.instance_id == instance.id, TaskRow.state == "ready",
                                                     TaskRow.element_id.in_(contractor_tasks),
                                                     TaskRow.due_at.is_not(None))):
        row.due_at, tasks = row.due_at + delta, tasks + 1
    return {"timers_moved": len(moved), "alerts_moved": len(shifted), "tasks_moved": tasks}
