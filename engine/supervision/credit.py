"""Credit records (不良行为记录 / 失信信息) and problem leads (问题线索) to discipline inspection.

Both are written when a supervising department confirms a red alert (`alerts.confirm`): the confirmation
is the department's finding that the obligation was breached. A confirmed alert gets exactly one credit
record, in the file of the organisation responsible for the obligation, and exactly one lead, addressed to
the department's escalation target (纪检监察, DOMAIN.md S05) with the evidence trail: the excerpt of the
contract's hash-chained audit trail about that obligation, each event with its hash.

A record is not published on a confirmation alone: it waits (`awaiting_decision`) until the department
records its administrative decision (`decide`: document number, date, legal basis, severity class).
How long it is then published comes from the rule registry (rules.json, kind "publicity"), by the
decision's severity class and the contract's track: warnings and 通报批评 not at all (CP01), general and
serious decisions for their national periods (CP02, CP03), tendering records for 6 months (S02), never
more than Henan's 5 years (S03, a cap). Periods in months end on the corresponding day of the last month,
or its last day when it has none (Civil Code art 202). Objections, revocation and credit repair end
publication early (engine/supervision/objections.py); the public library reads `published_filter`.
"""
from __future__ import annotations

import base64
import calendar
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Callable

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from engine.access import authz
from engine.runtime import audit, forms, values, webhooks
from engine import clock
from engine.supervision import deadlines, rules, timing
from engine.storage.db import Database
from engine.access.directory import Principal
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.storage.models import (Alert, AlertDecision, AuditEvent, CreditRecord, Department, Instance, Lead, LeadRoute,
                                   Organisation)
from engine.storage.pagination import DEFAULT_LIMIT, MAX_LIMIT, page


DECISIONS = ("confirmed", "dismissed")
RECORD_STATUSES = ("awaiting_decision", "decided")
# Why a record left publication before its period ended.
REMOVAL_REASONS = ("objection_upheld", "revoked", "repaired", "corrected")


def publicity_for(severity: str, track: str | None, on: date) -> rules.PublicityTerm:
    """How long a decision of `severity` on a contract of `track`, dated `on`, is published (the registry)."""
    return timing.registry().publicity_for(severity, track, on)


def add_months(day: date, months: int) -> date:
    """The last day of a period of `months` from `day` (Civil Code arts 201–202: the start day is not counted;
    the period ends on the corresponding day of the last month, or on that month's last day)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def china_date(instant: datetime) -> date:
    return instant.astimezone(deadlines.SHANGHAI).date()


# ---------------------------------------------------------------- written by a confirmation (inside its transaction)
def escalated_at(session: Session, alert: Alert) -> datetime:
    """When the alert turned red (and reached the escalation target): its first `alert_red` audit event."""
    for event in session.scalars(select(AuditEvent).where(AuditEvent.instance_id == alert.instance_id,
                                                          AuditEvent.action == "alert_red").order_by(AuditEvent.seq)):
        if (event.data or {}).get("alert_id") == alert.id:
            return event.at
    return alert.updated_at if alert.severity == "red" else alert.raised_at


def evidence(session: Session, alert: Alert) -> dict[str, Any]:
    """The evidence trail of an alert: the audit events about its obligation, with their hashes.

    Kept: the contract's first event (how it entered supervision), every event naming the alert, and the
    events of the awaited activity (its task becoming ready, completions, payments) — in the same part
    (milestone) as the alert. Each event carries `prev_hash` and `hash`, so the excerpt can be checked
    against the whole chain (`lvyue audit verify`), whose head is given too.
    """
    instance = session.get(Instance, alert.instance_id)
    events = list(session.scalars(select(AuditEvent).where(AuditEvent.instance_id == alert.instance_id)
                                  .order_by(AuditEvent.seq)))
    part = next(((e.data or {}).get("part") for e in events if (e.data or {}).get("alert_id") == alert.id), None)

    def relevant(e: AuditEvent) -> bool:
        data = e.data or {}
        return (e.seq == 1 or data.get("alert_id") == alert.id
                or (alert.awaited_task_id is not None and data.get("task_id") == alert.awaited_task_id)
                or (e.element_id == alert.element_id and data.get("part") == part))

    breaks = list(audit.verify(session, alert.instance_id))
    return {
        "instance_id": alert.instance_id, "business_key": alert.business_key,
        "chain": {"length": instance.audit_seq if instance else None, "head": instance.audit_head if instance else None,
                  "intact": not breaks, "first_break": ({"seq": breaks[0].seq, "reason": breaks[0].reason} if breaks else None)},
        "events": [{"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "action": e.action, "element_id": e.element_id,
                    "data": e.data, "prev_hash": e.prev_hash, "hash": e.hash} for e in events if relevant(e)],
    }


def write_record(session: Session, alert: Alert, decided_at: datetime, decided_by: str, note: str | None) -> CreditRecord:
    """The credit record of a confirmed alert, written once (an existing one is returned). It waits for the
    department's administrative decision (`decide`) before anything is published."""
    return write_records(session, alert, decided_at, decided_by, note)[0]


def responsible_members(session: Session, alert: Alert) -> list[str]:
    """The organisations answerable for the alert: its responsible organisation first, then the other members of
    the consortium holding its role with it (jointly and severally liable: 招标投标法 art 31, 政府采购法 art 24)."""
    others = (authz.members(session, alert.instance_id, alert.responsible_role)
              if alert.responsible_role and alert.responsible_org else [])
    return [alert.responsible_org] + [o for o in others if o != alert.responsible_org]


def write_records(session: Session, alert: Alert, decided_at: datetime, decided_by: str,
                  note: str | None) -> list[CreditRecord]:
    """`write_record` for every responsible organisation (`responsible_members`): one record each, the responsible
    organisation's first; written once (existing records are returned)."""
    existing = {r.org_code: r for r in session.scalars(select(CreditRecord).where(CreditRecord.alert_id == alert.id))}
    instance = session.get(Instance, alert.instance_id)
    track = (instance.data or {}).get("track") if instance is not None else None
    records = []
    for org in responsible_members(session, alert):
        record = existing.get(org)
        if record is None:
            record = CreditRecord(id=str(uuid.uuid4()), alert_id=alert.id, org_code=org,
                                  instance_id=alert.instance_id, business_key=alert.business_key,
                                  department_code=alert.department_code, track=track, code=alert.code,
                                  legal_basis=alert.legal_basis, record_date=china_date(decided_at),
                                  status="awaiting_decision", note=note, created_at=decided_at, created_by=decided_by)
            session.add(record)
        records.append(record)
    return records


def apply_decision(record: CreditRecord, document_no: str, decided_on: date, decision_basis: str, severity: str,
                   at: datetime, by: str) -> None:
    """Record the administrative decision on `record` and its publicity period from the registry."""
    term = publicity_for(severity, record.track, decided_on)
    record.status, record.document_no, record.decided_on = "decided", document_no, decided_on
    record.decision_basis, record.severity, record.decided_at, record.decided_by = decision_basis, severity, at, by
    _set_publicity(record, term, decided_on)


def _set_publicity(record: CreditRecord, term: rules.PublicityTerm, decided_on: date) -> None:
    record.publicity_rule, record.publicity_basis, record.publicity_verified = term.rule_id, term.legal_basis, term.verified
    if term.published:
        record.publicity_months, record.publicity_from = term.months, decided_on
        record.publicity_until = add_months(decided_on, term.months)
        record.repair_after = (add_months(decided_on, term.repair_after_months)
                               if term.repair_after_months is not None else None)
    else:
        record.publicity_months = record.publicity_from = record.publicity_until = record.repair_after = None


def is_published(record: CreditRecord, today: date) -> bool:
    """In the public library on `today`: decided, of a class that is published, within its period, not removed."""
    return (record.status == "decided" and record.publicity_from is not None and record.removed_at is None
            and record.publicity_from <= today <= record.publicity_until)


def published_filter(today: date):
    """The SQL condition of `is_published`."""
    return and_(CreditRecord.status == "decided", CreditRecord.publicity_from.is_not(None),
                CreditRecord.removed_at.is_(None), CreditRecord.publicity_from <= today,
                CreditRecord.publicity_until >= today)


# The types of lead and who receives each (DOMAIN.md S05, S06; the seed's routing). `receiver` describes the body a
# department's route (`LeadRoute`, `lvyue departments route`) should point to; without a route a lead goes to the
# department's escalation target.
LEAD_TYPES = {
    "official_interference": {
        "receiver": "discipline inspection and supervision (纪检监察)",
        "legal_basis": "《中华人民共和国招标投标法实施条例》第七十九条、第八十条（DOMAIN.md S05）"},
    "bid_rigging": {
        "receiver": "the police (公安机关): bid rigging, fraud",
        "legal_basis": "《中华人民共和国招标投标法》第五十三条、第五十四条；《中华人民共和国刑法》第二百二十三条（串通投标罪）"},
    "late_payment": {
        "receiver": "the SME complaint and business-environment channel (中小企业款项支付投诉、营商环境投诉)",
        "legal_basis": "《保障中小企业款项支付条例》（国务院令第802号）；《优化营商环境条例》第三十二条；"
                       "《河南省优化营商环境条例》（DOMAIN.md S06）"},
    "non_performance": {
        "receiver": "the department's escalation target",
        "legal_basis": "the breached rule (the alert's legal basis)"},
}


def lead_type_of(alert: Alert) -> str:
    """A confirmed alert's lead type: arrears are late payment (the SME complaint channel), the rest non-performance."""
    return "late_payment" if alert.kind == "arrears" else "non_performance"


def route_for(session: Session, department_code: str | None, lead_type: str) -> tuple[str | None, str | None]:
    """(receiving department, "configured" | "escalation") for a lead of `lead_type` from `department_code`: the route
    configured for it or its nearest parent; else the department's escalation target (as before routes existed)."""
    code, seen = department_code, set()
    while code and code not in seen:
        seen.add(code)
        route = session.get(LeadRoute, (code, lead_type))
        if route is not None:
            return route.to_department, "configured"
        dept = session.get(Department, code)
        code = dept.parent_code if dept is not None else None
    dept = session.get(Department, department_code) if department_code else None
    return (dept.escalates_to, "escalation") if dept is not None and dept.escalates_to else (None, None)


def write_lead(session: Session, alert: Alert, decided_at: datetime, decided_by: str, note: str | None) -> Lead:
    """The lead of a confirmed alert, routed by its type, with its evidence frozen; written once."""
    existing = session.scalar(select(Lead).where(Lead.alert_id == alert.id))
    if existing is not None:
        return existing
    lead_type = lead_type_of(alert)
    to_department, route = route_for(session, alert.department_code, lead_type)
    if route == "escalation" or to_department is None:
        to_department = alert.escalated_to or to_department
    lead = Lead(id=str(uuid.uuid4()), alert_id=alert.id, instance_id=alert.instance_id, business_key=alert.business_key,
                department_code=alert.department_code, to_department=to_department,
                responsible_org=alert.responsible_org, code=alert.code, legal_basis=alert.legal_basis,
                responsible_members=members if len(members := responsible_members(session, alert)) > 1 else None,
                escalated_at=escalated_at(session, alert), created_at=decided_at, created_by=decided_by, note=note,
                evidence=evidence(session, alert), lead_type=lead_type, route=route)
    session.add(lead)
    notify_transfer(session, lead)
    return lead


def notify_transfer(session: Session, lead: Lead) -> None:
    """A webhook delivery `lead.transferred` (the lead with its evidence) to the receiving body, when it has one."""
    if lead.to_department:
        webhooks.enqueue(session, lead.to_department, "lead.transferred", forms.to_json(lead_view(lead)))


# ---------------------------------------------------------------- views
def record_view(r: CreditRecord, org_name: str | None = None) -> dict[str, Any]:
    today = china_date(clock.now())
    decision = None if r.status != "decided" else {
        "document_no": r.document_no, "date": r.decided_on.isoformat(), "legal_basis": r.decision_basis,
        "severity": r.severity, "decided_at": r.decided_at, "decided_by": r.decided_by}
    return {
        "id": r.id, "org": r.org_code, "org_name": org_name, "alert_id": r.alert_id, "instance_id": r.instance_id,
        "business_key": r.business_key, "department": r.department_code, "track": r.track,
        "rule": {"code": r.code, "legal_basis": r.legal_basis}, "date": r.record_date.isoformat(),
        "status": r.status, "decision": decision,
        "publicity": {"rule": r.publicity_rule, "legal_basis": r.publicity_basis, "verified": r.publicity_verified,
                      "published": bool(r.status == "decided" and r.publicity_from is not None),
                      "months": r.publicity_months,
                      "from": r.publicity_from.isoformat() if r.publicity_from else None,
                      "until": r.publicity_until.isoformat() if r.publicity_until else None,
                      "repair_after": r.repair_after.isoformat() if r.repair_after else None,
                      "in_publicity": is_published(r, today)},
        "removal": None if r.removed_at is None else {
            "at": r.removed_at, "reason": r.removal_reason, "due": r.removal_due.isoformat() if r.removal_due else None,
            "note": r.removal_note},
        "note": r.note, "created_at": r.created_at, "created_by": r.created_by,
    }


def record_out(session: Session, r: CreditRecord) -> dict[str, Any]:
    org = session.get(Organisation, r.org_code)
    return record_view(r, org.name if org is not None else None)


def decision_view(d: AlertDecision | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {"decision": d.decision, "note": d.note, "decided_at": d.decided_at, "decided_by": d.decided_by}


def lead_view(lead: Lead) -> dict[str, Any]:
    return {
        "id": lead.id, "kind": "alert", "status": "confirmed", "alert_id": lead.alert_id, "instance_id": lead.instance_id,
        "business_key": lead.business_key, "department": lead.department_code, "to_department": lead.to_department,
        "responsible_org": lead.responsible_org, "responsible_members": lead.responsible_members,
        "code": lead.code, "legal_basis": lead.legal_basis,
        "escalated_at": lead.escalated_at, "confirmed_at": lead.created_at, "confirmed_by": lead.created_by,
        "note": lead.note, "evidence": lead.evidence, "type": lead.lead_type, "route": lead.route,
        "acknowledged_at": lead.acknowledged_at, "acknowledged_by": lead.acknowledged_by,
        "outcome": None if lead.outcome is None else {"result": lead.outcome, "note": lead.outcome_note,
                                                      "at": lead.outcome_at, "by": lead.outcome_by},
    }


def _pending_view(session: Session, alert: Alert, decision: AlertDecision | None, at: datetime) -> dict[str, Any]:
    return {
        "id": None, "kind": "alert", "status": decision.decision if decision is not None else "pending", "alert_id": alert.id,
        "instance_id": alert.instance_id, "business_key": alert.business_key, "department": alert.department_code,
        "to_department": alert.escalated_to, "responsible_org": alert.responsible_org, "code": alert.code,
        "legal_basis": alert.legal_basis, "escalated_at": at, "confirmed_at": None, "confirmed_by": None,
        "note": decision.note if decision is not None else None, "evidence": evidence(session, alert),
        "type": lead_type_of(alert), "route": None, "acknowledged_at": None, "acknowledged_by": None, "outcome": None,
    }


# ---------------------------------------------------------------- use cases
def _org_names(session: Session, codes) -> dict[str, str]:
    codes = sorted({c for c in codes if c})
    if not codes:
        return {}
    return dict(session.execute(select(Organisation.code, Organisation.name).where(Organisation.code.in_(codes))).all())


def list_records(db: Database, principal: Principal, limit: int | None, cursor: str | None, org: str | None = None,
                 month: str | None = None) -> dict[str, Any]:
    """Credit records, newest first. Supervisors and admins see every record (credit information is published
    for every department to consult); a party sees its own organisation's only."""
    if principal.role == "party":
        if org is not None and org != principal.org_code:
            raise Forbidden("a party sees the credit records of its own organisation only")
        org = principal.org_code
    elif principal.role not in ("supervisor", "admin"):
        raise Forbidden("credit records are for the supervising departments and the parties they concern")
    with db.read() as session:
        query = select(CreditRecord)
        if org:
            query = query.where(CreditRecord.org_code == org)
        if month:
            first, last = month_days(month)
            query = query.where(CreditRecord.record_date >= first, CreditRecord.record_date <= last)
        result = page(session, query, [CreditRecord.created_at, CreditRecord.id], limit, cursor, lambda r: r,
                      descending=True)
        names = _org_names(session, [r.org_code for r in result["items"]])
        result["items"] = [record_view(r, names.get(r.org_code)) for r in result["items"]]
        return result


def _record_for_department(session: Session, principal: Principal, record_id: str, lock: bool = False) -> CreditRecord:
    """The record a supervisor of its department (or an admin) acts on; 404 for one it may not see."""
    if principal.role not in ("supervisor", "admin"):
        raise Forbidden("only the supervising department decides on credit records")
    query = select(CreditRecord).where(CreditRecord.id == record_id)
    record = session.scalar(query.with_for_update() if lock else query)
    if record is None:
        raise NotFound("no such credit record")
    if principal.role == "supervisor" and record.department_code not in principal.departments:
        raise Forbidden("only the record's supervising department acts on it")
    return record


def get_record(db: Database, principal: Principal, record_id: str) -> dict[str, Any]:
    """One credit record: supervisors and admins, or the party it concerns."""
    if principal.role not in ("supervisor", "admin", "party"):
        raise Forbidden("credit records are for the supervising departments and the parties they concern")
    with db.read() as session:
        record = session.get(CreditRecord, record_id)
        if record is None or (principal.role == "party" and principal.org_code != record.org_code):
            raise NotFound("no such credit record")
        return record_out(session, record)


def _text_field(value: Any, name: str, max_length: int, errors: dict[str, list[str]]) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors[name] = ["required: a non-empty string"]
        return None
    if len(value) > max_length:
        errors[name] = [f"at most {max_length} characters"]
        return None
    return value.strip()


def decide(db: Database, principal: Principal, record_id: str, document_no: Any, decided_on: Any,
           legal_basis: Any, severity: Any) -> dict[str, Any]:
    """The department's administrative decision (行政处理决定) on a record awaiting one: its document number
    (文号), its date (not after today, not before the finding it rests on), its legal basis and its severity
    class. The record is published from that date for the period the registry gives the class (none for a
    warning). A record is decided once (409 after); a correction goes through an objection."""
    errors: dict[str, list[str]] = {}
    document_no = _text_field(document_no, "document_no", 100, errors)
    legal_basis = _text_field(legal_basis, "legal_basis", 500, errors)
    if severity not in rules.SEVERITIES:
        errors["severity"] = [f"one of {', '.join(rules.SEVERITIES)}"]
    day = None
    try:
        day = values.parse_date(decided_on)
    except values.BadValue as exc:
        errors["date"] = [str(exc)]
    with db.transaction() as session:
        record = _record_for_department(session, principal, record_id, lock=True)
        if record.status != "awaiting_decision":
            raise Conflict(f"the record was decided already ({record.document_no})")
        today = china_date(clock.now())
        if day is not None and "date" not in errors:
            if day > today:
                errors["date"] = [f"{day.isoformat()} is after today ({today.isoformat()})"]
            elif day < record.record_date:
                errors["date"] = [f"{day.isoformat()} is before the finding it rests on ({record.record_date.isoformat()})"]
        if errors:
            raise Invalid("the decision is incomplete or invalid", errors)
        now = clock.now()
        try:
            apply_decision(record, document_no, day, legal_basis, severity, now, principal.name)
        except rules.UnknownRule as exc:
            raise Invalid(str(exc), {"severity": [str(exc)]}) from None
        session.get(Instance, record.instance_id).updated_at = now
        session.flush()
        audit.append(session, record.instance_id, now, principal.name, [("credit_decision", None, {
            "credit_record_id": record.id, "document_no": document_no, "date": day.isoformat(), "severity": severity,
            "legal_basis": legal_basis, "publicity_rule": record.publicity_rule,
            "publicity_until": record.publicity_until.isoformat() if record.publicity_until else None})])
        return record_out(session, record)


def month_days(month: str) -> tuple[date, date]:
    """The first and last day of a month written YYYY-MM; Invalid naming `month` otherwise."""
    try:
        year, mon = (int(x) for x in month.split("-"))
        if len(month) != 7 or not 1 <= mon <= 12 or year < 1900:
            raise ValueError
    except ValueError:
        raise Invalid("month is YYYY-MM", {"month": ["a month written YYYY-MM, e.g. 2026-10"]}) from None
    return date(year, mon, 1), date(year, mon, calendar.monthrange(year, mon)[1])


LEAD_STATUSES = ("pending", "confirmed", "dismissed")


def _lead_visible(principal: Principal):
    depts = sorted(principal.departments)
    return or_(Alert.department_code.in_(depts), Alert.escalated_to.in_(depts), Lead.to_department.in_(depts))


def list_leads(db: Database, principal: Principal, limit: int | None, cursor: str | None, month: str | None = None,
               status: str | None = None, lead_type: str | None = None,
               extra: Callable[..., list[tuple[datetime, str, dict[str, Any]]]] | None = None,
               alerts: bool = True) -> dict[str, Any]:
    """Leads to discipline inspection, oldest escalation first: every red alert that reached its escalation
    target — `pending` until its department decides, `confirmed` (a lead written, evidence frozen) or
    `dismissed` (listed only when asked for). `month` selects by the instant the alert turned red, China time.
    Leads a department reported by hand (engine/supervision/leads.py) are listed `confirmed`, by when reported;
    `lead_type` selects one type.

    Seen by admins and by supervisors of the alert's department subtree, of its escalation target, or of the
    body the lead was routed to.

    `extra(session, principal, window, wanted)`, when given, adds other leads to the same list as (instant, id,
    view) — the risk leads of the imported tenders (engine/supervision/risk.py `transfer_rows`), so the month's
    transfer list is one list; `alerts=False` lists those alone (no alert leads, no leads reported by hand)."""
    if principal.role == "supervisor" and not principal.departments:
        raise Forbidden("a supervisor without a department sees no leads")
    if principal.role not in ("supervisor", "admin"):
        raise Forbidden("leads to discipline inspection are for the supervising departments")
    wanted = (status,) if status else ("pending", "confirmed")
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid("limit out of range", {"limit": [f"between 1 and {MAX_LIMIT}"]})
    window = None
    if month:
        first, last = month_days(month)
        window = (deadlines.end_of_day(first - timedelta(days=1)), deadlines.end_of_day(last))
    with db.read() as session:
        query = (select(Alert, Lead, AlertDecision)
                 .outerjoin(Lead, Lead.alert_id == Alert.id)
                 .outerjoin(AlertDecision, AlertDecision.alert_id == Alert.id)
                 .where(Alert.severity == "red", or_(Alert.escalated_to.is_not(None), Lead.id.is_not(None))))
        if principal.role == "supervisor":
            query = query.where(_lead_visible(principal))
        if window is not None:
            # An alert that turned red at T was raised at or before T and last updated at or after it.
            query = query.where(Alert.raised_at < window[1], Alert.updated_at >= window[0])
        rows = []
        for alert, lead, decision in (session.execute(query) if alerts else ()):
            state = "confirmed" if lead is not None else (decision.decision if decision is not None else "pending")
            if state not in wanted:
                continue
            at = lead.escalated_at if lead is not None else escalated_at(session, alert)
            if window is not None and not window[0] <= at < window[1]:
                continue
            if lead_type and (lead.lead_type if lead is not None else lead_type_of(alert)) != lead_type:
                continue
            rows.append((at, alert.id, alert, lead, decision))
        if extra is not None:
            rows.extend((at, key, None, None, view) for at, key, view in extra(session, principal, window, wanted))
        if alerts and "confirmed" in wanted:
            manual = select(Lead).where(Lead.alert_id.is_(None))
            if principal.role == "supervisor":
                depts = sorted(principal.departments)
                manual = manual.where(or_(Lead.department_code.in_(depts), Lead.to_department.in_(depts)))
            if lead_type:
                manual = manual.where(Lead.lead_type == lead_type)
            for lead in session.scalars(manual):
                if window is None or window[0] <= lead.escalated_at < window[1]:
                    rows.append((lead.escalated_at, lead.id, None, lead, None))
        rows.sort(key=lambda r: (r[0], r[1]))
        if cursor:
            after = _decode_cursor(cursor)
            rows = [r for r in rows if (r[0], r[1]) > after]
        more = len(rows) > limit
        rows = rows[:limit]
        # A risk lead (`extra`) comes as its view in the decision's place; a lead reported by hand has no alert.
        items = [lead_view(lead) if lead is not None else decision if alert is None
                 else _pending_view(session, alert, decision, at) for at, _, alert, lead, decision in rows]
        next_cursor = _encode_cursor(rows[-1][0], rows[-1][1]) if more and rows else None
        return {"items": items, "next_cursor": next_cursor}


def _encode_cursor(at: datetime, alert_id: str) -> str:
    raw = json.dumps([at.isoformat(), alert_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (isinstance(values, list) and len(values) == 2 and all(isinstance(v, str) for v in values)):
            raise ValueError
        at = datetime.fromisoformat(values[0])
        if at.tzinfo is None:
            raise ValueError
        return at, values[1]
    except (ValueError, UnicodeDecodeError):
        raise Invalid("the cursor is not one this server issued", {"cursor": ["invalid cursor"]}) from None
