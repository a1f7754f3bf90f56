"""Leads by type (线索移送): reported by hand, acknowledged and answered by the receiving body, and the monthly
transfer list (每月定期推送).

A confirmed red alert writes its lead itself (engine/supervision/credit.py `write_lead`, typed late_payment for
arrears, else non_performance). What no alert can see — an official interfering in a tender, bid rigging or
fraud — a department reports by hand (`report`): the lead goes to the body its route names for that type
(`LeadRoute`, configured with `lvyue departments route`; official interference → 纪检监察, bid rigging → 公安,
late payment by a public body → the SME complaint channel), else to the department's escalation target. The
receiving body records that it received the lead (`acknowledge`) and what came of it (`record_outcome`).
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select

from engine import clock
from engine.access import authz
from engine.access.directory import Principal
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.runtime import audit
from engine.storage.db import Database
from engine.storage.models import Department, Instance, Lead, LeadRoute, Party
from engine.supervision import credit, csv_export, deadlines

OUTCOMES = ("case_filed", "no_case", "transferred", "concluded")
MANUAL_TYPES = tuple(credit.LEAD_TYPES)


def _text(value: Any, name: str, max_length: int, errors: dict[str, list[str]], required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        errors[name] = [f"{'required: ' if required else ''}1 to {max_length} characters"]
        return None
    return value.strip()


def report(db: Database, principal: Principal, business_key: Any, lead_type: Any, description: Any,
           responsible_org: Any = None) -> dict[str, Any]:
    """A department reports a lead about one of its contracts; routed by type. The contract's audit-chain head is
    frozen as its evidence, and the report is an event of the contract's chain."""
    if principal.role not in ("supervisor", "admin"):
        raise Forbidden("the supervising department reports leads")
    errors: dict[str, list[str]] = {}
    if lead_type not in MANUAL_TYPES:
        errors["type"] = [f"one of {', '.join(MANUAL_TYPES)}"]
    description = _text(description, "description", 4000, errors)
    business_key = _text(business_key, "business_key", 200, errors)
    responsible_org = _text(responsible_org, "responsible_org", 64, errors, required=False)
    if errors:
        raise Invalid("the lead is incomplete or invalid", errors)
    with db.transaction() as session:
        contract = session.scalar(select(Instance).where(Instance.business_key == business_key))
        if contract is None or (principal.role == "supervisor" and contract.department_code not in principal.departments):
            raise NotFound("no such contract", {"business_key": ["no contract of your department with this key"]})
        held = (dict(session.execute(select(Party.org_code, Party.role).where(Party.instance_id == contract.id)).all())
                if responsible_org is not None else {})
        if responsible_org is not None and responsible_org not in held:
            raise Invalid("not a party of the contract", {"responsible_org": ["an organisation bound to the contract"]})
        # A consortium member answers with every member of it (joint and several liability, 招标投标法 art 31).
        members = authz.members(session, contract.id, held[responsible_org]) if responsible_org is not None else []
        members = [responsible_org] + [m for m in members if m != responsible_org] if len(members) > 1 else None
        to_department, route = credit.route_for(session, contract.department_code, lead_type)
        if to_department is None:
            raise Invalid("no receiving body", {"type": [
                f"no body receives {lead_type} leads of {contract.department_code} "
                f"(lvyue departments route {contract.department_code} --type {lead_type} --to CODE)"]})
        now = clock.now()
        contract.updated_at = now  # bumps the row version: a concurrent step retries instead of colliding
        lead = Lead(id=str(uuid.uuid4()), alert_id=None, instance_id=contract.id, business_key=contract.business_key,
                    department_code=contract.department_code, to_department=to_department,
                    responsible_org=responsible_org, responsible_members=members, code=lead_type.upper(),
                    legal_basis=credit.LEAD_TYPES[lead_type]["legal_basis"], escalated_at=now, created_at=now,
                    created_by=principal.name, note=description, lead_type=lead_type, route=route,
                    evidence={"instance_id": contract.id, "business_key": contract.business_key,
                              "chain": {"length": contract.audit_seq, "head": contract.audit_head}})
        session.add(lead)
        credit.notify_transfer(session, lead)
        session.flush()
        audit.append(session, contract.id, now, principal.name, [("lead_reported", None, {
            "lead_id": lead.id, "type": lead_type, "to_department": to_department})])
        return credit.lead_view(lead)


def set_route(session, department_code: str, lead_type: str, to_department: str) -> LeadRoute:
    """Route `department_code`'s leads of `lead_type` (and its sub-departments', unless they have their own) to
    `to_department` (the CLI: lvyue departments route)."""
    if lead_type not in credit.LEAD_TYPES:
        raise Invalid("unknown lead type", {"type": [f"one of {', '.join(credit.LEAD_TYPES)}"]})
    for code, name in ((department_code, "department"), (to_department, "to")):
        if session.get(Department, code) is None:
            raise Invalid(f"unknown department {code}", {name: [f"unknown department {code}"]})
    route = session.get(LeadRoute, (department_code, lead_type))
    if route is None:
        route = LeadRoute(department_code=department_code, lead_type=lead_type, to_department=to_department)
        session.add(route)
    route.to_department = to_department
    return route


def _received(session, principal: Principal, lead_id: str) -> Lead:
    if principal.role not in ("supervisor", "admin"):
        raise Forbidden("the body a lead went to acknowledges it")
    lead = session.scalar(select(Lead).where(Lead.id == lead_id).with_for_update())
    if lead is None:
        raise NotFound("no such lead")
    if principal.role == "supervisor" and lead.to_department not in principal.departments:
        if lead.department_code in principal.departments:
            raise Forbidden("the body the lead went to acknowledges it, not the department that sent it")
        raise NotFound("no such lead")
    return lead


def acknowledge(db: Database, principal: Principal, lead_id: str, note: Any = None) -> dict[str, Any]:
    """The receiving body confirms it received the lead (回执)."""
    with db.transaction() as session:
        lead = _received(session, principal, lead_id)
        if lead.acknowledged_at is not None:
            raise Conflict(f"acknowledged already by {lead.acknowledged_by}")
        lead.acknowledged_at, lead.acknowledged_by = clock.now(), principal.name
        return credit.lead_view(lead)


def record_outcome(db: Database, principal: Principal, lead_id: str, outcome: Any, note: Any) -> dict[str, Any]:
    """The receiving body's outcome (处理结果反馈): case_filed, no_case, transferred or concluded; after its receipt."""
    errors: dict[str, list[str]] = {}
    if outcome not in OUTCOMES:
        errors["outcome"] = [f"one of {', '.join(OUTCOMES)}"]
    note = _text(note, "note", 4000, errors)
    if errors:
        raise Invalid("the outcome is incomplete or invalid", errors)
    with db.transaction() as session:
        lead = _received(session, principal, lead_id)
        if lead.acknowledged_at is None:
            raise Conflict("acknowledge the lead before recording its outcome")
        if lead.outcome is not None:
            raise Conflict(f"the outcome was recorded already ({lead.outcome})")
        lead.outcome, lead.outcome_note, lead.outcome_at, lead.outcome_by = outcome, note, clock.now(), principal.name
        return credit.lead_view(lead)


# ---------------------------------------------------------------- the monthly transfer list
TRANSFER_CSV_HEADER = ("lead_id", "type", "to_department", "to_department_name", "route", "business_key",
                       "responsible_org", "transferred_at", "acknowledged_at", "outcome", "outcome_at",
                       "responsible_members")


def transfers(db: Database, principal: Principal, month: str) -> dict[str, Any]:
    """Leads transferred in `month` (written: confirmed or reported, China time) that the caller sees, counted by
    type and by receiving body, with the acknowledgements and outcomes recorded so far."""
    if principal.role not in ("supervisor", "admin"):
        raise Forbidden("the transfer list is for the supervising departments and the bodies receiving leads")
    first, last = credit.month_days(month)
    start = deadlines.end_of_day(first - timedelta(days=1))
    end = deadlines.end_of_day(last)
    with db.read() as session:
        query = select(Lead).where(Lead.created_at >= start, Lead.created_at < end)
        if principal.role == "supervisor":
            depts = sorted(principal.departments)
            query = query.where(or_(Lead.department_code.in_(depts), Lead.to_department.in_(depts)))
        leads = list(session.scalars(query.order_by(Lead.created_at, Lead.id)))
        names = dict(session.execute(select(Department.code, Department.name)).all())
    by_type = {t: {"count": 0, "acknowledged": 0, "outcome_recorded": 0} for t in credit.LEAD_TYPES}
    by_receiver: dict[str, int] = {}
    items = []
    for lead in leads:
        counts = by_type.setdefault(lead.lead_type, {"count": 0, "acknowledged": 0, "outcome_recorded": 0})
        counts["count"] += 1
        counts["acknowledged"] += lead.acknowledged_at is not None
        counts["outcome_recorded"] += lead.outcome is not None
        by_receiver[lead.to_department or "-"] = by_receiver.get(lead.to_department or "-", 0) + 1
        items.append({"id": lead.id, "type": lead.lead_type, "to_department": lead.to_department,
                      "to_department_name": names.get(lead.to_department), "route": lead.route,
                      "business_key": lead.business_key, "responsible_org": lead.responsible_org,
                      "responsible_members": lead.responsible_members, "transferred_at": lead.created_at, "acknowledged_at": lead.acknowledged_at,
                      "outcome": lead.outcome, "outcome_at": lead.outcome_at})
    return {"month": month, "total": len(leads),
            "acknowledged": sum(1 for lead in leads if lead.acknowledged_at is not None),
            "by_type": by_type, "by_receiver": dict(sorted(by_receiver.items())), "items": items}


def transfers_csv(report_: dict[str, Any]) -> str:
    def iso(v):
        return v.isoformat() if isinstance(v, datetime) else v
    return csv_export.write(TRANSFER_CSV_HEADER, ([i["id"], i["type"], i["to_department"], i["to_department_name"],
                                                   i["route"], i["business_key"], i["responsible_org"],
                                                   iso(i["transferred_at"]), iso(i["acknowledged_at"]), i["outcome"],
                                                   iso(i["outcome_at"]), ";".join(i["responsible_members"] or ())]
                                                  for i in report_["items"]))
