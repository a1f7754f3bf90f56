"""Due process on a published credit record: the party's objection (异议) and the department's answer,
revocation of the decision, credit repair (信用修复) — each of which can end publication early.

Periods are the registry's (rules.json, Henan's credit regulation, DOMAIN.md S03), counted in working days
on the official calendar (engine/supervision/calendar.py) from the day the objection was filed (China time):
S03A 3 working days when the department checks in-house, S03B 7 when the provider of the information must
check (`refer`). An answer after the last day is recorded `late`, and an open objection past it is listed
`overdue` (the warning). The outcome:

* `upheld` — the party is right: the record leaves the public library at once (S03C allows 1 working day;
  the day is recorded as `removal.due`);
* `corrected` — the decision's severity class or legal basis is corrected; the publicity period is taken
  again from the registry for the corrected class (a warning is then not published at all);
* `rejected` — the record stands;
* `revoked` — the department revokes its decision: removed at once, as when it revokes without an objection.

The party may object while its record is published: the regulation, as DOMAIN.md summarises it, sets no
window of its own for the party. One objection at a time per record.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine import clock
from engine.access.directory import Principal
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.runtime import audit, forms, values, webhooks
from engine.storage.db import Database
from engine.storage.models import CreditObjection, CreditRecord, Instance
from engine.storage.pagination import page
from engine.supervision import credit, deadlines, rules, timing

OUTCOMES = ("upheld", "corrected", "rejected", "revoked")
CHECKS = {"in_house": "S03A", "provider": "S03B"}
STATUSES = ("open", "answered")


def period_end(rule_id: str, start: date) -> date:
    """The last day of registry period `rule_id` counted from `start` on the official calendar."""
    return deadlines.deadline(rule_id, start, timing.calendar(), timing.registry()).last_day


def view(o: CreditObjection, today: date | None = None) -> dict[str, Any]:
    today = today or credit.china_date(clock.now())
    return {
        "id": o.id, "record_id": o.record_id, "org": o.org_code, "department": o.department_code,
        "grounds": o.grounds, "filed_at": o.filed_at, "filed_by": o.filed_by, "check": o.check,
        "due": {"rule": o.due_rule, "last_day": o.due_on.isoformat(),
                "legal_basis": timing.registry().get(o.due_rule, credit.china_date(o.filed_at)).legal_basis},
        "status": o.status, "overdue": o.status == "open" and today > o.due_on,
        "outcome": o.outcome, "answer": o.answer, "answered_at": o.answered_at, "answered_by": o.answered_by,
        "late": o.late, "warned_at": o.warned_at,
    }


def _remove(record: CreditRecord, reason: str, at: datetime, rule_id: str, start: date, note: str | None) -> None:
    record.removed_at, record.removal_reason, record.removal_note = at, reason, note
    record.removal_due = period_end(rule_id, start)


def _touch(session: Session, record: CreditRecord, now: datetime, actor: str, action: str, data: dict) -> None:
    # Bumps the instance's row version: a concurrent step retries instead of colliding on the audit seq.
    session.get(Instance, record.instance_id).updated_at = now
    session.flush()
    audit.append(session, record.instance_id, now, actor, [(action, None, {"credit_record_id": record.id, **data})])


def _text(value: Any, name: str, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"{name} is required", {name: ["required: a non-empty string"]})
    if len(value) > max_length:
        raise Invalid(f"{name} is too long", {name: [f"at most {max_length} characters"]})
    return value.strip()


# ---------------------------------------------------------------- the party
def file(db: Database, principal: Principal, record_id: str, grounds: Any) -> dict[str, Any]:
    """The party concerned objects to its published record (an admin may enter it for the party)."""
    if principal.role not in ("party", "admin"):
        raise Forbidden("the organisation a credit record concerns objects to it")
    grounds = _text(grounds, "grounds", 4000)
    with db.transaction() as session:
        record = session.scalar(select(CreditRecord).where(CreditRecord.id == record_id).with_for_update())
        if record is None or (principal.role == "party" and principal.org_code != record.org_code):
            raise NotFound("no such credit record")
        now = clock.now()
        today = credit.china_date(now)
        if not credit.is_published(record, today):
            raise Conflict("only a published record is objected to here; this one is not in the public library")
        if session.scalar(select(CreditObjection.id).where(CreditObjection.record_id == record.id,
                                                           CreditObjection.status == "open")) is not None:
            raise Conflict("an objection to this record is open already")
        objection = CreditObjection(id=str(uuid.uuid4()), record_id=record.id, org_code=record.org_code,
                                    department_code=record.department_code, grounds=grounds, filed_at=now,
                                    filed_by=principal.name, check="in_house", due_rule=CHECKS["in_house"],
                                    due_on=period_end(CHECKS["in_house"], today), status="open")
        session.add(objection)
        _touch(session, record, now, principal.name, "credit_objection_filed",
               {"objection_id": objection.id, "due_on": objection.due_on.isoformat()})
        out = view(objection, today)
        if record.department_code:  # the department's systems learn of it at once (its period runs)
            webhooks.enqueue(session, record.department_code, "objection.filed", forms.to_json(out))
        return out


# ---------------------------------------------------------------- the department
def _objection_for_department(session: Session, principal: Principal, objection_id: str) -> CreditObjection:
    if principal.role not in ("supervisor", "admin"):
        raise Forbidden("the record's supervising department handles objections")
    objection = session.scalar(select(CreditObjection).where(CreditObjection.id == objection_id).with_for_update())
    if objection is None:
        raise NotFound("no such objection")
    if principal.role == "supervisor" and objection.department_code not in principal.departments:
        raise Forbidden("only the record's supervising department handles its objections")
    return objection


def refer(db: Database, principal: Principal, objection_id: str) -> dict[str, Any]:
    """The provider of the information must check: the department has 7 working days (S03B) from the filing."""
    with db.transaction() as session:
        objection = _objection_for_department(session, principal, objection_id)
        if objection.status != "open":
            raise Conflict("the objection was answered already")
        if objection.check == "provider":
            raise Conflict("the objection was referred to the provider already")
        objection.check, objection.due_rule = "provider", CHECKS["provider"]
        objection.due_on = period_end(CHECKS["provider"], credit.china_date(objection.filed_at))
        record = session.get(CreditRecord, objection.record_id)
        _touch(session, record, clock.now(), principal.name, "credit_objection_referred",
               {"objection_id": objection.id, "due_on": objection.due_on.isoformat()})
        return view(objection)


def answer(db: Database, principal: Principal, objection_id: str, outcome: Any, text: Any,
           severity: Any = None, legal_basis: Any = None) -> dict[str, Any]:
    """The department's answer; see the module's docstring for what each outcome does to the record."""
    if outcome not in OUTCOMES:
        raise Invalid("unknown outcome", {"outcome": [f"one of {', '.join(OUTCOMES)}"]})
    text = _text(text, "answer", 4000)
    if outcome == "corrected":
        errors = {}
        if severity is None and legal_basis is None:
            errors["severity"] = ["a correction gives the corrected severity or legal_basis (or both)"]
        if severity is not None and severity not in rules.SEVERITIES:
            errors["severity"] = [f"one of {', '.join(rules.SEVERITIES)}"]
        if legal_basis is not None and (not isinstance(legal_basis, str) or not legal_basis.strip()
                                        or len(legal_basis) > 500):
            errors["legal_basis"] = ["a non-empty string of at most 500 characters"]
        if errors:
            raise Invalid("the correction is incomplete or invalid", errors)
    elif severity is not None or legal_basis is not None:
        raise Invalid("only a correction changes the decision",
                      {"severity" if severity is not None else "legal_basis": [f"not taken with outcome {outcome}"]})
    with db.transaction() as session:
        objection = _objection_for_department(session, principal, objection_id)
        if objection.status != "open":
            raise Conflict("the objection was answered already")
        record = session.scalar(select(CreditRecord).where(CreditRecord.id == objection.record_id).with_for_update())
        now = clock.now()
        today = credit.china_date(now)
        objection.status, objection.outcome, objection.answer = "answered", outcome, text
        objection.answered_at, objection.answered_by, objection.late = now, principal.name, today > objection.due_on
        before = {"severity": record.severity, "legal_basis": record.decision_basis,
                  "publicity_until": record.publicity_until.isoformat() if record.publicity_until else None}
        if outcome in ("upheld", "revoked") and record.removed_at is None:
            _remove(record, "objection_upheld" if outcome == "upheld" else "revoked", now, "S03C", today, text)
        elif outcome == "corrected":
            if legal_basis is not None:
                record.decision_basis = legal_basis.strip()
            if severity is not None and severity != record.severity:
                record.severity = severity
                credit._set_publicity(record, credit.publicity_for(severity, record.track, record.decided_on),
                                      record.decided_on)
        _touch(session, record, now, principal.name, "credit_objection_answered", {
            "objection_id": objection.id, "outcome": outcome, "late": objection.late, "before": before,
            "removed": record.removed_at is not None})
        return {**view(objection, today), "record": credit.record_out(session, record)}


def revoke(db: Database, principal: Principal, record_id: str, note: Any) -> dict[str, Any]:
    """The department revokes its decision on its own: the record leaves the library at once (S03C)."""
    note = _text(note, "note", 4000)
    with db.transaction() as session:
        record = credit._record_for_department(session, principal, record_id, lock=True)
        if record.status != "decided":
            raise Conflict("only a decided record is revoked")
        if record.removed_at is not None:
            raise Conflict(f"the record was removed already ({record.removal_reason})")
        now = clock.now()
        _remove(record, "revoked", now, "S03C", credit.china_date(now), note)
        _touch(session, record, now, principal.name, "credit_decision_revoked", {"note": note})
        return credit.record_out(session, record)


def repair(db: Database, principal: Principal, record_id: str, applied_on: Any, note: Any) -> dict[str, Any]:
    """Credit repair granted (信用修复): publication ends early, from the day the registry allows it
    (`publicity.repair_after`); S03D's 1 working day from the party's application is recorded as the due day."""
    note = _text(note, "note", 4000)
    try:
        applied = values.parse_date(applied_on)
    except values.BadValue as exc:
        raise Invalid("applied_on is not a date", {"applied_on": [str(exc)]}) from None
    with db.transaction() as session:
        record = credit._record_for_department(session, principal, record_id, lock=True)
        now = clock.now()
        today = credit.china_date(now)
        if not credit.is_published(record, today):
            raise Conflict("only a published record is repaired")
        if record.repair_after is None:
            raise Conflict(f"the publicity rule of this record ({record.publicity_rule}) allows no early end by repair")
        if applied > today:
            raise Invalid("applied_on is after today", {"applied_on": [f"{applied.isoformat()} is after today"]})
        if applied < record.repair_after:
            raise Invalid("too early for credit repair", {"applied_on": [
                f"credit repair may be applied for from {record.repair_after.isoformat()} ({record.publicity_rule})"]})
        _remove(record, "repaired", now, "S03D", applied, note)
        _touch(session, record, now, principal.name, "credit_repaired", {"applied_on": applied.isoformat(), "note": note})
        return credit.record_out(session, record)


# ---------------------------------------------------------------- the warning (a periodic job of every scheduler)
WARN_SECONDS = 600


def warn_overdue(db: Database) -> int:
    """Warn the department once of each objection its period passed unanswered: `objection.overdue` (the
    Objection) to its webhook, and `warned_at` set. Rows are taken with SKIP LOCKED on PostgreSQL, so two
    schedulers never warn twice. Returns how many were warned."""
    today = credit.china_date(clock.now())
    with db.transaction() as session:
        query = (select(CreditObjection).where(CreditObjection.status == "open", CreditObjection.warned_at.is_(None),
                                               CreditObjection.due_on < today)
                 .order_by(CreditObjection.filed_at).limit(200).with_for_update(skip_locked=True))
        rows = list(session.scalars(query))
        now = clock.now()
        for objection in rows:
            objection.warned_at = now
            if objection.department_code:
                webhooks.enqueue(session, objection.department_code, "objection.overdue",
                                 forms.to_json(view(objection, today)))
        return len(rows)


# ---------------------------------------------------------------- reading
def _visible(principal: Principal):
    if principal.role == "admin":
        return None
    if principal.role == "supervisor" and principal.departments:
        return CreditObjection.department_code.in_(sorted(principal.departments))
    if principal.role == "party" and principal.org_code:
        return CreditObjection.org_code == principal.org_code
    raise Forbidden("objections are for the supervising departments and the parties they concern")


def list_(db: Database, principal: Principal, limit: int | None, cursor: str | None, status: str | None = None,
          overdue: bool | None = None, record_id: str | None = None) -> dict[str, Any]:
    """Objections, oldest first; `overdue=true`: open ones past the department's last day (the warning)."""
    condition = _visible(principal)
    today = credit.china_date(clock.now())
    with db.read() as session:
        query = select(CreditObjection)
        if condition is not None:
            query = query.where(condition)
        if status:
            query = query.where(CreditObjection.status == status)
        if record_id:
            query = query.where(CreditObjection.record_id == record_id)
        if overdue is True:
            query = query.where(CreditObjection.status == "open", CreditObjection.due_on < today)
        elif overdue is False:
            query = query.where(or_(CreditObjection.status != "open", CreditObjection.due_on >= today))
        return page(session, query, [CreditObjection.filed_at, CreditObjection.id], limit, cursor,
                    lambda o: view(o, today))


def get(db: Database, principal: Principal, objection_id: str) -> dict[str, Any]:
    condition = _visible(principal)
    with db.read() as session:
        query = select(CreditObjection).where(CreditObjection.id == objection_id)
        if condition is not None:
            query = query.where(condition)
        objection = session.scalar(query)
        if objection is None:
            raise NotFound("no such objection")
        return view(objection)
