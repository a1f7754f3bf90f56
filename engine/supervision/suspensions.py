"""Suspension and resumption of a contract (暂停 / 复工): the contract's clocks stop and go on with the days added.

A government procurement complaint may suspend the procurement up to 30 days (《政府采购法》第五十七条); a works
contract is suspended by order of the employer or the department (《建设工程施工合同（示范文本）》通用条款 7.8;
the supervising department's order). The department (a supervisor of the contract's department or above) or an
admin records it:

* `suspend`: `suspended_at` (date, not in the future), `days` (1–365, the period ordered) and `reason`. Every
  pending deadline of the contract moves by `days` at once: each waiting timer of its main workflow and of each
  running part (engine/runtime/timers.py `shift_instance`), each open alert's due (and the shift its recomputation
  keeps), each ready task's deadline. What a moved timer raises later carries the shift. The history records
  `contract_suspended` and a `timer_moved` for each timer.
* `resume`: `resumed_at` (date, not before the suspension nor in the future). Resumed before or after the period
  ordered, the deadlines move again by the difference, so that in total they moved by exactly the days suspended
  (`resumed_at` − `suspended_at`). The history records `contract_resumed`.

One suspension at a time; they are kept in the contract's process data (`suspensions`, a shared value: the ledger
and the OCDS release read the instance data). A deadline that comes into being later (a task not started yet) is
counted from its own start and is not moved.
"""
from __future__ import annotations

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

SUSPENSIONS = "suspensions"
MAX_DAYS = 365


def _instance(session, principal: Principal, business_key: Any) -> Instance:
    instance = session.scalar(select(Instance).where(Instance.business_key == business_key)) \
        if isinstance(business_key, str) else None
    if instance is None or not authz.can_see_instance(principal, instance):
        raise NotFound(f"no contract {business_key}")
    if principal.role == "admin":
        return instance
    if principal.role != "supervisor" or instance.department_code not in principal.departments:
        raise Forbidden("only the contract's supervising department (or an admin) suspends or resumes a contract")
    return instance


def _date(value: Any, field: str, errors: dict[str, list[str]]) -> date | None:
    return plausibility.business_date(value, field, errors, ": a suspension is recorded when it happened")


def _suspensions(wf) -> list[dict[str, Any]]:
    return [dict(s) for s in (spiff.shared_value(wf, SUSPENSIONS) or [])]


def _move(session, instance: Instance, actor: str, delta: timedelta, reason: dict[str, Any]) -> dict[str, int]:
    now = clock.now()
    moved = timers.shift_instance(session, instance, actor, delta, reason)
    shifted = alerts.shift_open(session, instance.id, delta, now)
    tasks = 0
    for row in session.scalars(select(TaskRow).where(TaskRow.instance_id == instance.id, TaskRow.state == "ready",
                                                     TaskRow.due_at.is_not(None))):
        row.due_at, tasks = row.due_at + delta, tasks + 1
    return {"timers_moved": len(moved), "alerts_moved": len(shifted), "tasks_moved": tasks}


def suspend(db: Database, principal: Principal, business_key: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    days = body.get("days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        errors["days"] = [f"a whole number of days from 1 to {MAX_DAYS}"]
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        errors["reason"] = ["required: the ground of the suspension (complaint, order, …)"]
    day = _date(body.get("suspended_at"), "suspended_at", errors)
    with step_transaction(db) as session:
        instance = _instance(session, principal, business_key)
        if instance.status != "running":
            raise Conflict(f"the contract is {instance.status}: only a running contract is suspended")
        step = steps.open_step(session, instance, principal.name)
        earlier = _suspensions(step.wf)
        if earlier and earlier[-1].get("resumed_at") is None:
            raise Conflict(f"the contract is suspended already (since {earlier[-1]['suspended_at']}): resume it first")
        if errors:
            raise Invalid("the suspension is invalid", errors)
        record = {"no": len(earlier) + 1, "suspended_at": day.isoformat(), "days": days, "reason": reason.strip(),
                  "by": principal.name, "resumed_at": None, "days_suspended": None}
        spiff.set_shared(step.wf, SUSPENSIONS, [*earlier, record])
        step.record("contract_suspended", None, record)
        steps.finish(step)
        moves = _move(session, instance, principal.name, timedelta(days=days),
                      {"suspension": record["no"], "days": days})
        return {"business_key": instance.business_key, **record, **moves}


def resume(db: Database, principal: Principal, business_key: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    day = _date(body.get("resumed_at"), "resumed_at", errors)
    with step_transaction(db) as session:
        instance = _instance(session, principal, business_key)
        step = steps.open_step(session, instance, principal.name)
        earlier = _suspensions(step.wf)
        if not earlier or earlier[-1].get("resumed_at") is not None:
            raise Conflict("the contract is not suspended")
        record = earlier[-1]
        start = date.fromisoformat(record["suspended_at"])
        if day is not None and day < start:
            errors["resumed_at"] = [f"{day.isoformat()} is before the suspension ({record['suspended_at']})"]
        if errors:
            raise Invalid("the resumption is invalid", errors)
        suspended = (day - start).days
        record.update(resumed_at=day.isoformat(), days_suspended=suspended, resumed_by=principal.name)
        spiff.set_shared(step.wf, SUSPENSIONS, [*earlier[:-1], record])
        step.record("contract_resumed", None, {"no": record["no"], "resumed_at": record["resumed_at"],
                                               "days_suspended": suspended, "days_ordered": record["days"]})
        steps.finish(step)
        difference = suspended - record["days"]
        moves = {"timers_moved": 0, "alerts_moved": 0, "tasks_moved": 0}
        if difference and instance.status == "running":
            moves = _move(session, instance, principal.name, timedelta(days=difference),
                          {"suspension": record["no"], "days": difference, "resumed": True})
        return {"business_key": instance.business_key, **record, **moves}


def listed(instance: Instance) -> list[dict[str, Any]]:
    """The contract's suspensions, oldest first (for the ledger)."""
    return list((instance.data or {}).get(SUSPENSIONS) or [])
