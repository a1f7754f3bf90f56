"""Supervision cases (监管督办案件): how a supervising department acts on a warning.

A case is an instance of bpmn/supervision_case.bpmn (supervisor lane; the party's own lane beside it): a
supervision notice (督办通知), an optional admonition talk (约谈), a rectification order with its deadline
(整改通知), the party's evidence — awaited with the contract's warnings (RECTIFICATION_OVERDUE: yellow 3 days
before, orange at the deadline, red 30 days after) — and the department's verification: closed when rectified,
else escalated to an administrative decision, i.e. a credit record awaiting the department's decision
(engine/supervision/credit.py) against the party.

This module holds the listeners the composition root registers (the case row written when its instance
starts, the order and the verification copied from their tasks) and the read side; opening a case starts an
instance: `start_data` checks what the caller asked for and gives the instance's start data, which
api/cases.py hands to the generic start use case (engine/usecases/instances.py) on the department's behalf.
"""
from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from engine import clock
from engine.access.directory import Principal
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.runtime import hooks
from engine.storage.db import Database
from engine.storage.models import (Alert, CaseAlert, CreditObjection, CreditRecord, Definition, Instance,
                                   SupervisionCase, TaskRow)
from engine.storage.pagination import page
from engine.supervision import credit, deadlines, timing

PROCESS = "supervision_case"
ORDER, VERIFY = "order_rectification", "verify_rectification"
EVIDENCE = ("submit_evidence_employer", "submit_evidence_contractor")
PARTY_ROLES = ("employer", "contractor")
SOURCES = ("alerts", "manual", "commitment")
STATUSES = ("open", "closed", "escalated")
# The stage of an open case: the task it waits for.
STAGES = {"issue_notice": "notice", "hold_admonition": "admonition", ORDER: "rectification_order",
          EVIDENCE[0]: "evidence", EVIDENCE[1]: "evidence", VERIFY: "verification"}
CASE_RECORD_CODE = "SUPERVISION_CASE"

BINDING = hooks.Binding("cases.on_task", PROCESS, (ORDER, VERIFY, *EVIDENCE))


# ---------------------------------------------------------------- listeners (engine/bootstrap.py)
def on_start(step, data: dict[str, Any]) -> None:
    """A supervision_case instance started: write its case row and link the alerts it was opened from."""
    if step.definition.key != PROCESS:
        return
    contract = step.session.scalar(select(Instance).where(Instance.business_key == data.get("contract_business_key")))
    if contract is None:
        raise Invalid("unknown contract", {"data.contract_business_key": ["no contract with this business key"]})
    role = data.get("party_role")
    org = step.instance.roles.get(role)
    if org is None or org != (contract.roles or {}).get(role):
        raise Invalid("the party is not bound", {f"data.{role}": [f"the contract's {role} must be bound to this lane"]})
    alert_ids = [a for a in str(data.get("alert_ids") or "").split(",") if a]
    case = SupervisionCase(id=str(uuid.uuid4()), case_instance_id=step.instance.id, contract_instance_id=contract.id,
                           business_key=contract.business_key, department_code=step.instance.department_code,
                           org_code=org, party_role=role, track=data.get("track") or (contract.data or {}).get("track"),
                           source=data.get("source") or ("alerts" if alert_ids else "manual"),
                           reason=data.get("reason") or "", status="open", opened_at=clock.now(), opened_by=step.actor)
    step.session.add(case)
    for alert_id in alert_ids:
        if step.session.get(CaseAlert, alert_id) is not None:
            raise Conflict(f"alert {alert_id} belongs to a case already")
        step.session.add(CaseAlert(alert_id=alert_id, case_id=case.id))
    step.session.flush()
    step.record("case_opened", None, {"case_id": case.id, "contract": contract.business_key, "org": org,
                                      "party_role": role, "alert_ids": alert_ids})


def on_task(step, element_id: str, data: dict[str, Any], actor: str, task_id: str) -> None:
    """The order and the verification of a case, copied to its row; not rectified → a credit record awaiting
    the department's decision, against the party."""
    if step.definition.key != PROCESS or element_id not in (ORDER, VERIFY):
        return
    case = step.session.scalar(select(SupervisionCase).where(SupervisionCase.case_instance_id == step.instance.id))
    if case is None:
        return
    if element_id == ORDER:
        ordered_at = data["ordered_at"]
        case.order_no, case.ordered_at, case.order_basis = data["order_no"], ordered_at, data["legal_basis"]
        case.rectification_due = deadlines.add_days(ordered_at, int(data["rectification_days"]), timing.calendar()).last_day
        return
    now = clock.now()
    case.closed_at = now
    if data.get("result") == "rectified":
        case.status = "closed"
        return
    case.status = "escalated"
    record = CreditRecord(id=str(uuid.uuid4()), alert_id=None, case_id=case.id, org_code=case.org_code,
                          instance_id=case.case_instance_id, business_key=case.business_key,
                          department_code=case.department_code, track=case.track, code=CASE_RECORD_CODE,
                          legal_basis=case.order_basis, record_date=credit.china_date(now), status="awaiting_decision",
                          note=data.get("note"), created_at=now, created_by=actor)
    step.session.add(record)
    case.credit_record_id = record.id
    step.record("case_escalated", element_id, {"case_id": case.id, "credit_record_id": record.id})


# ---------------------------------------------------------------- reading
def _visible(principal: Principal):
    if principal.role == "admin":
        return None
    if principal.role == "supervisor" and principal.departments:
        return SupervisionCase.department_code.in_(sorted(principal.departments))
    if principal.role == "party" and principal.org_code:
        return SupervisionCase.org_code == principal.org_code
    raise Forbidden("supervision cases are for the supervising departments and the parties they concern")


def _view(session: Session, case: SupervisionCase, today: date) -> dict[str, Any]:
    ready = list(session.scalars(select(TaskRow.element_id).where(TaskRow.instance_id == case.case_instance_id,
                                                                  TaskRow.state == "ready")))
    stage = case.status if case.status != "open" else next((STAGES[e] for e in ready if e in STAGES), "open")
    alert = session.scalar(select(Alert).where(Alert.instance_id == case.case_instance_id,
                                               Alert.code == "RECTIFICATION_OVERDUE"))
    alert_ids = list(session.scalars(select(CaseAlert.alert_id).where(CaseAlert.case_id == case.id)
                                     .order_by(CaseAlert.alert_id)))
    return {
        "id": case.id, "case_instance_id": case.case_instance_id, "business_key": case.business_key,
        "contract_instance_id": case.contract_instance_id, "department": case.department_code, "org": case.org_code,
        "party_role": case.party_role, "track": case.track, "source": case.source, "reason": case.reason,
        "alert_ids": alert_ids, "status": case.status, "stage": stage, "opened_at": case.opened_at,
        "opened_by": case.opened_by, "closed_at": case.closed_at,
        "rectification": None if case.order_no is None else {
            "order_no": case.order_no, "ordered_at": case.ordered_at.isoformat(),
            "due": case.rectification_due.isoformat(), "legal_basis": case.order_basis,
            "overdue": stage == "evidence" and today > case.rectification_due,
            "alert": None if alert is None else {"id": alert.id, "severity": alert.severity, "status": alert.status,
                                                 "resolution": alert.resolution}},
        "credit_record_id": case.credit_record_id,
    }


def list_(db: Database, principal: Principal, limit: int | None, cursor: str | None, status: str | None = None,
          business_key: str | None = None) -> dict[str, Any]:
    condition = _visible(principal)
    today = credit.china_date(clock.now())
    with db.read() as session:
        query = select(SupervisionCase)
        if condition is not None:
            query = query.where(condition)
        if status:
            query = query.where(SupervisionCase.status == status)
        if business_key:
            query = query.where(SupervisionCase.business_key == business_key)
        return page(session, query, [SupervisionCase.opened_at, SupervisionCase.id], limit, cursor,
                    lambda c: _view(session, c, today))


def get(db: Database, principal: Principal, case_id: str) -> dict[str, Any]:
    condition = _visible(principal)
    with db.read() as session:
        query = select(SupervisionCase).where(SupervisionCase.id == case_id)
        if condition is not None:
            query = query.where(condition)
        case = session.scalar(query)
        if case is None:
            raise NotFound("no such case")
        return _view(session, case, credit.china_date(clock.now()))


def view_by_instance(db: Database, principal: Principal, case_instance_id: str) -> dict[str, Any]:
    with db.read() as session:
        case = session.scalar(select(SupervisionCase).where(SupervisionCase.case_instance_id == case_instance_id))
        return _view(session, case, credit.china_date(clock.now()))


# ---------------------------------------------------------------- opening
MAX_ALERTS = 20


def require_deployed(db: Database) -> None:
    """409 unless a version of the supervision_case process is deployed."""
    with db.read() as session:
        if session.scalar(select(Definition.id).where(Definition.key == PROCESS)) is None:
            raise Conflict(f"the {PROCESS} process is not deployed (lvyue definitions deploy bpmn/{PROCESS}.bpmn)")


def _check(db: Database, principal: Principal, alert_ids: list[str] | None, business_key: str | None,
           party_role: str | None) -> tuple[Instance, str, str]:
    """(contract, party role, organisation) of a case the caller may open; 4xx naming the field otherwise."""
    require_deployed(db)
    with db.read() as session:
        if alert_ids:
            found = [session.get(Alert, a) for a in alert_ids]
            visible = [a for a in found if a is not None and (principal.role == "admin"
                                                              or a.department_code in principal.departments)]
            if len(visible) != len(alert_ids):
                raise NotFound("no such alert", {"alert_ids": ["every alert must exist and belong to your department"]})
            if len({a.instance_id for a in visible}) != 1 or len({(a.responsible_role, a.responsible_org)
                                                                 for a in visible}) != 1:
                raise Invalid("the alerts concern different contracts or parties",
                              {"alert_ids": ["alerts of one contract and one responsible party"]})
            if any(a.responsible_role not in PARTY_ROLES for a in visible):
                raise Invalid("a case is against the employer or the contractor",
                              {"alert_ids": [f"the responsible party must be one of {', '.join(PARTY_ROLES)}"]})
            taken = [a for a in alert_ids if session.get(CaseAlert, a) is not None]
            if taken:
                raise Conflict(f"alert {taken[0]} belongs to a case already")
            contract = session.get(Instance, visible[0].instance_id)
            return contract, visible[0].responsible_role, visible[0].responsible_org
        contract = session.scalar(select(Instance).where(Instance.business_key == business_key))
        if contract is None or (principal.role != "admin" and contract.department_code not in principal.departments):
            raise NotFound("no such contract", {"business_key": ["no contract of your department with this key"]})
        org = (contract.roles or {}).get(party_role)
        if org is None:
            raise Invalid("the contract has no such party", {"party_role": [f"no {party_role} is bound"]})
        return contract, party_role, org


def start_data(db: Database, principal: Principal, reason: Any, alert_ids: Any = None, business_key: Any = None,
               party_role: Any = None, source: str | None = None) -> dict[str, Any]:
    """The start data of a supervision_case instance the caller may open (engine/usecases/instances.start runs it,
    api/cases.py), checked: 403 not a supervisor, 404 an alert or contract not of the caller's department, 409 the
    process not deployed or an alert in a case already, 422 naming the field."""
    if principal.role not in ("supervisor", "admin"):
        raise Forbidden("the supervising department opens supervision cases")
    errors: dict[str, list[str]] = {}
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 4000:
        errors["reason"] = ["required: 1 to 4000 characters"]
    if alert_ids is not None:
        if (not isinstance(alert_ids, list) or not 1 <= len(alert_ids) <= MAX_ALERTS
                or not all(isinstance(a, str) and 1 <= len(a) <= 36 for a in alert_ids)
                or len(set(alert_ids)) != len(alert_ids)):
            errors["alert_ids"] = [f"1 to {MAX_ALERTS} distinct alert ids"]
        if business_key is not None or party_role is not None:
            errors["business_key"] = ["give either alert_ids or business_key and party_role"]
    else:
        if not isinstance(business_key, str) or not 1 <= len(business_key) <= 200:
            errors["business_key"] = ["required without alert_ids: the contract's business key"]
        if party_role not in PARTY_ROLES:
            errors["party_role"] = [f"required without alert_ids: one of {', '.join(PARTY_ROLES)}"]
    if errors:
        raise Invalid("the case is incomplete or invalid", errors)
    contract, role, org = _check(db, principal, alert_ids, business_key, party_role)
    data = {"contract_business_key": contract.business_key, "party_role": role, "reason": reason.strip(),
            role: org, "department": contract.department_code}
    track = (contract.data or {}).get("track")
    if track in ("tendering", "gov_procurement"):
        data["track"] = track
    if alert_ids:
        data["alert_ids"] = ",".join(alert_ids)
    if source:
        data["source"] = source
    return data


def case_key() -> str:
    """A new case instance's business key."""
    return f"SC-{uuid.uuid4().hex[:16]}"


# ---------------------------------------------------------------- the monthly report's section and the dashboard
REPORT_DEFINITIONS = {
    "cases.opened": "Supervision cases opened in the month (China time) by a department in scope.",
    "cases.closed": "Cases closed in the month: the department verified the rectification.",
    "cases.escalated": "Cases escalated in the month to a decision (a credit record awaiting one was written).",
    "cases.open_at_month_end": "Cases opened before the month ended and neither closed nor escalated by then.",
    "cases.overdue_rectifications": "Of those, cases whose rectification period ended before the month's last day and "
                                    "whose party had not submitted its evidence by the month's end.",
    "objections.filed": "Objections to credit records of departments in scope filed in the month.",
    "objections.answered": "Objections answered in the month, by outcome (upheld, corrected, rejected, revoked).",
    "objections.answered_late": "Of those, answered after the department's last day (S03A 3 / S03B 7 working days).",
    "objections.open_past_due_at_month_end": "Objections filed before the month ended, unanswered at its end, whose "
                                             "last day was before the month's last day.",
    "credit_records.decided": "Credit records whose administrative decision was recorded in the month, by severity class.",
    "credit_records.published_at_month_end": "Records in the public library on the month's last day (decided, of a "
                                             "published class, within their publicity period, not removed by then).",
    "credit_records.removed": "Records taken out of publication in the month, by reason (objection_upheld, revoked, "
                              "repaired).",
}


def _in(column, scope) -> Any:
    return column.in_(sorted(scope.departments))


def report_section(session: Session, scope) -> dict[str, Any]:
    """The monthly report's section `due_process` (engine/bootstrap.py registers it): supervision cases,
    objections and credit records of the departments in `scope` (reports.ReportScope), each defined in
    REPORT_DEFINITIONS. Counted in SQL (no row is loaded): the library of credit records grows with every
    confirmed red alert, and the report reads it at every size."""
    from_, to = scope.start, scope.end

    def during(column):
        return and_(column >= from_, column < to)

    def count(*where) -> int:
        return session.scalar(select(func.count()).where(*where)) or 0

    def count_by(key, *where) -> dict[str, int]:
        return {k: n for k, n in sorted(session.execute(select(key, func.count()).where(*where).group_by(key)).all(),
                                        key=lambda kv: kv[0])}

    c, o, r = SupervisionCase, CreditObjection, CreditRecord
    cases = (_in(c.department_code, scope), c.opened_at < to)
    open_at_end = (*cases, or_(c.closed_at.is_(None), c.closed_at >= to))
    submitted = select(TaskRow.id).where(TaskRow.instance_id == c.case_instance_id, TaskRow.element_id.in_(EVIDENCE),
                                         TaskRow.state == "completed", TaskRow.completed_at < to).exists()
    objections = (_in(o.department_code, scope), o.filed_at < to)
    answered = (*objections, o.answered_at.is_not(None), during(o.answered_at))
    records = (_in(r.department_code, scope), r.created_at < to)
    return {
        "cases": {
            "opened": count(*cases, during(c.opened_at)),
            "closed": count(*cases, c.status == "closed", c.closed_at.is_not(None), during(c.closed_at)),
            "escalated": count(*cases, c.status == "escalated", c.closed_at.is_not(None), during(c.closed_at)),
            "open_at_month_end": count(*open_at_end),
            "overdue_rectifications": count(*open_at_end, c.rectification_due.is_not(None),
                                            c.rectification_due < scope.last_day, ~submitted),
        },
        "objections": {
            "filed": count(*objections, during(o.filed_at)),
            "answered": count_by(o.outcome, *answered),
            "answered_late": count(*answered, o.late.is_(True)),
            "open_past_due_at_month_end": count(*objections, or_(o.answered_at.is_(None), o.answered_at >= to),
                                                o.due_on < scope.last_day),
        },
        "credit_records": {
            "decided": count_by(r.severity, *records, r.decided_at.is_not(None), during(r.decided_at)),
            "published_at_month_end": count(*records, r.decided_at.is_not(None), r.decided_at < to,
                                            r.publicity_from.is_not(None), r.publicity_from <= scope.last_day,
                                            r.publicity_until >= scope.last_day,
                                            or_(r.removed_at.is_(None), r.removed_at >= to)),
            "removed": count_by(r.removal_reason, *records, r.removed_at.is_not(None), during(r.removed_at)),
        },
    }


def dashboard_figures(session: Session, principal: Principal) -> dict[str, Any]:
    """Now, for the caller's departments (all for admins and operators): open cases by stage, overdue
    rectifications, open and overdue objections, records in the public library."""
    today = credit.china_date(clock.now())
    depts = None if principal.role in ("admin", "operator") else sorted(principal.departments)

    def scoped(query, column):
        return query if depts is None else query.where(column.in_(depts))

    open_cases = list(session.scalars(scoped(select(SupervisionCase).where(SupervisionCase.status == "open"),
                                             SupervisionCase.department_code)))
    by_stage: dict[str, int] = {}
    overdue = 0
    for case in open_cases:
        view = _view(session, case, today)
        by_stage[view["stage"]] = by_stage.get(view["stage"], 0) + 1
        overdue += bool(view["rectification"] and view["rectification"]["overdue"])
    open_objections = list(session.scalars(scoped(select(CreditObjection).where(CreditObjection.status == "open"),
                                                  CreditObjection.department_code)))
    published = session.scalar(scoped(select(func.count()).select_from(CreditRecord)
                                       .where(credit.published_filter(today)), CreditRecord.department_code))
    return {"cases": {"open": len(open_cases), "by_stage": dict(sorted(by_stage.items())),
                      "overdue_rectifications": overdue},
            "objections": {"open": len(open_objections),
                           "overdue": sum(1 for o in open_objections if today > o.due_on)},
            "published_credit_records": published or 0}
