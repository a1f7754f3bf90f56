"""The supervision ledger (监管台账) of a contract: parties, amounts, milestones, payments, invoices,
guarantees, open alerts and the arrears outstanding.

Payments and invoices are written to their own tables when the parties record them (the element ids
of the process library: `record_payment`, `submit_invoice`), so reports aggregate rows instead of
replaying workflows; everything else is read from the instance, its parts and its alerts.
"""
from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from engine.supervision import (alerts, bindings, changes, corrections, deadlines, guarantee_views, interest, timing,
                                works_payments)
from engine.access import authz
from engine import clock
from engine.runtime import spiff, steps, values
from engine.storage.db import Database
from engine.storage.pagination import page
from engine.access.directory import Principal
from engine.errors import Invalid, NotFound
from engine.storage.models import (Alert, Definition, Department, Instance, InstancePart, Invoice, Organisation, Party,
                                   Payment, PaymentApplication, TaskRow)


def money(value: Any) -> str | None:
    """An amount kept in contract data as the ledger shows it ("1200000.00"), None when there is none."""
    return None if value is None or value == "" else values.format_money(values.amount_of(value))


def _entry(data: dict[str, Any], amount: str, day: str) -> tuple[Decimal, date | None]:
    """The amount ("0.00" when the task carries none) and the date of a ledger row, in values' shapes whatever
    form the diagram declared (a diagram without one passes the task data as sent); Invalid naming the field,
    so that nothing is stored."""
    errors: dict[str, list[str]] = {}
    parsed: dict[str, Any] = {amount: None, day: None}
    for name, parse in ((amount, values.parse_money), (day, values.parse_date)):
        if data.get(name) is None:
            continue
        try:
            parsed[name] = parse(data[name])
        except values.BadValue as exc:
            errors[f"data.{name}"] = [str(exc)]
    if errors:
        raise Invalid("the ledger entry is invalid", errors)
    return parsed[amount] if parsed[amount] is not None else Decimal("0.00"), parsed[day]


def _application_of(step: steps.Step, task_id: str | None, kind: str) -> str | None:
    """The document hash of the application (progress) or settlement report a works task belongs to, from its own
    branch's data (each application runs in its own branch of post_award_works)."""
    if kind == "advance":
        return None
    task = spiff.get_task(step.wf, task_id) if task_id else None
    data = spiff.task_data(task) if task is not None else {}
    return data.get("application_document_sha256" if kind == "progress" else "settlement_document_sha256")


def record_task(step: steps.Step, element_id: str, data: dict[str, Any], actor: str, task_id: str | None = None) -> None:
    """Write the ledger rows a completed task stands for (called inside its step); Invalid (422) when its
    amount or date does not have the shape of engine/values.py."""
    part_no = step.part.item_no if step.part is not None else None
    now = clock.now()
    roles = step.instance.roles
    if element_id == bindings.RECORD_PAYMENT:
        amount, paid_at = _entry(data, "amount", "paid_at")
        step.session.add(Payment(id=str(uuid.uuid4()), instance_id=step.instance.id, part_id=step.part_id,
                                 milestone_no=part_no, paid_at=paid_at, amount=amount, voucher_no=data.get("voucher_no"),
                                 payer=roles.get("employer"), payee=roles.get("contractor"), recorded_at=now,
                                 recorded_by=actor))
    elif element_id in bindings.WORKS_PAYMENT_KINDS:
        amount, paid_at = _entry(data, "amount", "paid_at")
        kind = bindings.WORKS_PAYMENT_KINDS[element_id]
        step.session.add(Payment(id=str(uuid.uuid4()), instance_id=step.instance.id, part_id=step.part_id,
                                 milestone_no=None, kind=kind, reference=_application_of(step, task_id, kind),
                                 paid_at=paid_at, amount=amount, voucher_no=data.get("voucher_no"),
                                 payer=roles.get("employer"), payee=roles.get("contractor"), recorded_at=now,
                                 recorded_by=actor))
    elif element_id in (bindings.SUBMIT_PAYMENT_APPLICATION, bindings.SUBMIT_SETTLEMENT):
        amount, applied_at = _entry(data, "value", "applied_at" if element_id == bindings.SUBMIT_PAYMENT_APPLICATION
                                    else "submitted_at")
        step.session.add(PaymentApplication(
            id=str(uuid.uuid4()), instance_id=step.instance.id,
            kind="progress" if element_id == bindings.SUBMIT_PAYMENT_APPLICATION else "settlement",
            reference=str(data.get("document_sha256")), period=data.get("period"), applied_at=applied_at,
            amount=amount, recorded_at=now, recorded_by=actor))
    elif element_id in (bindings.VERIFY_MEASUREMENT, bindings.REVIEW_SETTLEMENT):
        progress = element_id == bindings.VERIFY_MEASUREMENT
        amount, confirmed_at = _entry(data, "confirmed_value" if progress else "settled_value",
                                      "verified_at" if progress else "reviewed_at")
        kind = "progress" if progress else "settlement"
        row = step.session.scalar(select(PaymentApplication).where(
            PaymentApplication.instance_id == step.instance.id, PaymentApplication.kind == kind,
            PaymentApplication.reference == _application_of(step, task_id, kind)))
        if row is not None:
            row.confirmed_amount, row.confirmed_at = amount, confirmed_at
    elif element_id == bindings.SUBMIT_INVOICE:
        amount, issued_at = _entry(data, "amount", "issued_at")
        step.session.add(Invoice(id=str(uuid.uuid4()), instance_id=step.instance.id, part_id=step.part_id,
                                 milestone_no=part_no, invoice_no=str(data.get("invoice_no") or ""),
                                 issued_at=issued_at, amount=amount, recorded_at=now, recorded_by=actor))


def _overpayments(parts: dict[int, InstancePart], planned: list[dict[str, Any]],
                  payments: list[Payment]) -> dict[str, str | None]:
    """payment id → the reason given, for each payment that took its milestone's paid total above the milestone's
    amount. engine/supervision/plausibility.py lets only a payment declared an overpayment (with its reason, kept
    in the milestone's data) do so, and the milestone is paid in full after it: it is its last payment."""
    out: dict[str, str | None] = {}
    for no, item in enumerate(planned, start=1):
        amount, total = values.amount_of(item.get("amount")), Decimal(0)
        for p in sorted((p for p in payments if p.milestone_no == no), key=lambda p: p.recorded_at):
            total += p.amount
            if total > amount:
                part = parts.get(no)
                out[p.id] = (part.data if part is not None else {}).get("overpayment_reason")
                break
    return out


def _milestones(session, instance: Instance, parts: dict[int, InstancePart], payments: list[Payment],
                invoices: list[Invoice]) -> list[dict[str, Any]]:
    out = []
    planned = instance.data.get("milestones") or []
    for no, item in enumerate(planned, start=1):
        part = parts.get(no)
        pdata = part.data if part is not None else {}
        paid = sum((p.amount for p in payments if p.milestone_no == no), Decimal(0))
        invoiced = sum((i.amount for i in invoices if i.milestone_no == no), Decimal(0))
        amount = values.amount_of(item.get("amount"))
        due_row = None
        if part is not None:
            due_row = session.scalar(select(TaskRow).where(TaskRow.part_id == part.id, TaskRow.element_id == bindings.RECORD_PAYMENT)
                                     .order_by(TaskRow.created_at.desc()).limit(1))
        out.append({
            "no": no, "name": item.get("name"), "amount": money(amount), "planned_date": item.get("planned_date"),
            "delivered_at": pdata.get("delivered_at"), "accepted_at": pdata.get("accepted_at"),
            "acceptance_result": pdata.get("result"), "invoiced_amount": money(invoiced), "paid_amount": money(paid),
            "outstanding": money(max(amount - paid, Decimal(0))), "overpaid": money(max(paid - amount, Decimal(0))),
            "payment_due_at": due_row.due_at if due_row is not None else None,
            "interest_accrued": money(_interest(instance, max(amount - paid, Decimal(0)), due_row)),
            "status": "paid" if amount and paid >= amount else (part.status if part is not None else "not_started"),
        })
    return out


def _interest(instance: Instance, outstanding: Decimal, due_row: TaskRow | None) -> Decimal | None:
    """Late-payment interest (engine/supervision/interest.py, at the rate the contract's basis fixes) accrued to today
    (China time) on what is still outstanding of a milestone whose payment deadline has passed; 0.00 when none is
    owed, None when no rate applies to the contract."""
    rate_basis = (instance.data or {}).get("payment_basis")
    if due_row is None or due_row.due_at is None:
        return Decimal("0.00") if interest.rate_for(timing.registry(), rate_basis, clock.now().date()) is not None else None
    today = clock.now().astimezone(deadlines.SHANGHAI).date()
    return interest.interest_for(timing.registry(), rate_basis, outstanding, alerts.last_day(due_row.due_at), today)


def _works(session, instance: Instance, payments: list[Payment]) -> dict[str, Any] | None:
    """A works contract's payment terms and where each obligation stands today (works_payments.obligations): the
    advance, every progress application and the settlement report with what was confirmed (or deemed confirmed once
    the review period passed in silence), what it makes payable, what was paid and the last day to pay."""
    data = instance.data or {}
    terms = data.get("payment_terms") or {}
    if not (terms.get("advance") or terms.get("progress") or terms.get("settlement")):
        return None
    today = clock.now().astimezone(deadlines.SHANGHAI).date()
    rows = session.scalars(select(PaymentApplication).where(PaymentApplication.instance_id == instance.id))
    applications = [{"kind": r.kind, "reference": r.reference, "period": r.period, "applied_at": r.applied_at,
                     "amount": r.amount, "confirmed_amount": r.confirmed_amount, "confirmed_at": r.confirmed_at}
                    for r in rows]
    paid = [{"kind": p.kind, "reference": p.reference, "paid_at": p.paid_at, "amount": p.amount} for p in payments]
    entries = works_payments.obligations(data, applications, paid, today, timing.calendar(), timing.registry())
    for entry in entries:
        late = entry["payment_last_day"] is not None and entry["outstanding"] and entry["outstanding"] > 0
        entry["interest_accrued"] = interest.interest_for(timing.registry(), data.get("payment_basis"),
                                                          entry["outstanding"], entry["payment_last_day"], today) \
            if late else None

    def shown(entry: dict[str, Any]) -> dict[str, Any]:
        out = {k: (money(v) if isinstance(v, Decimal) else v) for k, v in entry.items()}
        if "reference" in out and out["kind"] != "advance":
            out["document_sha256"] = out.pop("reference")
        else:
            out.pop("reference", None)
        return out

    advance = next((shown(e) for e in entries if e["kind"] == "advance"), None)
    if advance is not None:
        advance["percent"] = terms["advance"].get("percent")
    return {"terms": terms, "advance": advance,
            "applications": [shown(e) for e in entries if e["kind"] == "progress"],
            "settlement": next((shown(e) for e in entries if e["kind"] == "settlement"), None)}


def _total_interest(data: dict[str, Any], milestones: list[dict[str, Any]], works: dict[str, Any] | None) -> str | None:
    """The interest accrued on everything overdue (milestones and works obligations); None when no rate applies."""
    if interest.rate_for(timing.registry(), data.get("payment_basis"), clock.now().date()) is None:
        return None
    entries = [*milestones, *(([works["advance"]] if works and works["advance"] else []) +
                              (works["applications"] if works else []) +
                              ([works["settlement"]] if works and works["settlement"] else []))]
    return money(sum((values.amount_of(e.get("interest_accrued")) for e in entries if e.get("interest_accrued")),
                     Decimal(0)))


def _guarantees(session, instance: Instance) -> list[dict[str, Any]]:
    """The guarantee table's rows (engine/supervision/guarantee_views.py); a contract started before it existed has none, and its
    guarantees are read from its data."""
    recorded = guarantee_views.ledger_entries(session, instance.id)
    if recorded is not None:
        return recorded
    data = instance.data
    amount = values.amount_of(data.get("contract_amount"))
    out = []
    bond = data.get("bid_bond") or {}
    if bond:
        exempt = bond.get("form") == "exempt"
        out.append({"kind": "bid", "form": bond.get("form"), "amount": money(bond.get("amount")),
                    "released_at": data.get("released_at") if "bid_bond_released_amount" in data else None,
                    "status": "exempt" if exempt else "released" if "bid_bond_released_amount" in data else "held"})
    rate = values.amount_of(data.get("performance_guarantee_rate"))
    if rate > 0:
        out.append({"kind": "performance", "form": data.get("guarantee_form"), "guarantee_no": data.get("guarantee_no"),
                    "issuer": data.get("issuer"),
                    "amount": money(data.get("guarantee_amount") if data.get("guarantee_amount") is not None else amount * rate / 100),
                    "valid_to": data.get("valid_to"),
                    "status": "released" if data.get("performance_guarantee_released_at") else
                              ("held" if data.get("guarantee_no") else "required")})
    retention = values.amount_of(data.get("retention_rate"))
    if retention > 0:
        out.append({"kind": "quality", "form": "retention", "amount": money(amount * retention / 100),
                    "status": "released" if data.get("retention_released_amount") is not None else "held"})
    return out


def _signed(session, instance: Instance, data: dict[str, Any]) -> bool:
    if not data.get("signed_at"):
        return False
    if data.get("signature_confirmed") is True:
        return True
    definition = session.get(Definition, instance.definition_id)
    return bindings.CONFIRM_SIGNATURE not in ((definition.model or {}).get("elements") or ()) if definition else True


def contract(db: Database, principal: Principal, business_key: str) -> dict[str, Any]:
    """The ledger of one contract, for whoever may see the contract."""
    with db.read() as session:
        instance = session.scalar(select(Instance).where(Instance.business_key == business_key))
        if instance is None or not authz.can_see_instance(principal, instance):
            raise NotFound(f"no contract {business_key}")
        parties = authz.parties(instance)
        data = instance.data
        payments = list(session.scalars(select(Payment).where(Payment.instance_id == instance.id)
                                        .order_by(Payment.paid_at, Payment.recorded_at)))
        invoices = list(session.scalars(select(Invoice).where(Invoice.instance_id == instance.id)
                                        .order_by(Invoice.issued_at, Invoice.recorded_at)))
        held = authz.holders(instance)
        orgs = {o.code: o for o in session.scalars(select(Organisation).where(Organisation.code.in_([c for _, c, _ in held])))}
        dept = session.get(Department, instance.department_code) if instance.department_code else None
        open_alerts = [a for a in alerts.for_instance(session, principal, instance.id) if a["status"] != "resolved"]
        arrears = session.scalar(select(func.coalesce(func.sum(Alert.amount_overdue), Decimal(0))).where(
            Alert.instance_id == instance.id, Alert.kind == "arrears", Alert.status != "resolved"))
        parts = {p.item_no: p for p in session.scalars(select(InstancePart).where(InstancePart.instance_id == instance.id))}
        milestones = _milestones(session, instance, parts, payments, invoices)
        works = _works(session, instance, payments)
        overpayments = _overpayments(parts, data.get("milestones") or [], payments)
        paid = sum((p.amount for p in payments), Decimal(0))
        return {
            "business_key": instance.business_key, "instance_id": instance.id, "status": instance.status,
            "project_code": data.get("project_code"), "project_name": data.get("project_name"),
            "track": data.get("track"), "category": data.get("category"), "funding_source": data.get("funding_source"),
            "department": {"code": dept.code, "name": dept.name} if dept else None,
            "parties": [{"role": role, "org_code": code, "name": orgs[code].name if code in orgs else None,
                         "credit_rating": orgs[code].credit_rating if code in orgs else None,
                         "sme": orgs[code].sme if code in orgs else None, "consortium": standing}
                        for role, code, standing in held],
            "amounts": {"contract_amount": money(data.get("contract_amount")), "signed_amount": money(data.get("signed_amount")),
                        # The value today (engine/supervision/changes.py): as signed, else as awarded, plus every
                        # accepted change of the ledger.
                        "changes_total": money(changes.accepted_total(data)),
                        "current_amount": money(changes.current_amount(data)),
                        "milestones_total": money(sum((values.amount_of(m["amount"]) for m in milestones), Decimal(0))),
                        "invoiced": money(sum((i.amount for i in invoices), Decimal(0))), "paid": money(paid)},
            "dates": {k: data.get(k) for k in ("award_notice_date", "signed_at", "signature_confirmed_at",
                                                "contract_published_at", "filed_at", "completed_at")},
            # Signed by both parties: the contractor confirmed the employer's text (a version without confirm_signature:
            # the employer's signing).
            "signed": _signed(session, instance, data),
            # The change ledger (engine/supervision/changes.py), oldest first.
            # An accepted GP change carries its publication (G06, bpmn/change_publication.bpmn): published_at and
            # publication_url once the employer completed publish_change, null until then.
            "changes": _changes_published(session, instance, data),
            # The termination (engine/supervision/termination.py): notice, acknowledgement, settlement, guarantees.
            "termination": data.get("termination"),
            # Suspensions and resumptions (engine/supervision/suspensions.py), oldest first.
            "suspensions": list(data.get("suspensions") or []),
            # Fixed at the start (支付条例 art 3): the parties' status then and the payment rule that governs.
            "payment_basis": data.get("payment_basis"),
            "milestones": milestones,
            "works": works,
            "payments": [{"kind": p.kind, "reference": p.reference, "milestone_no": p.milestone_no, "paid_at": p.paid_at, "amount": p.amount, "voucher_no": p.voucher_no,
                          "payer": p.payer, "payee": p.payee, "recorded_at": p.recorded_at,
                          "overpayment": p.id in overpayments, "overpayment_reason": overpayments.get(p.id)}
                         for p in payments],
            "invoices": [{"milestone_no": i.milestone_no, "invoice_no": i.invoice_no, "issued_at": i.issued_at,
                          "amount": i.amount, "recorded_at": i.recorded_at} for i in invoices],
            "guarantees": _guarantees(session, instance),
            # Entries the parties corrected (engine/supervision/corrections.py): who, when, before/after, why.
            "corrections": corrections.listed(session, instance.id),
            "alerts": open_alerts,
            "arrears_amount": money(arrears),
            # None when no rate applies to the contract (a large contractor without an agreed rate).
            "interest_accrued": _total_interest(data, milestones, works),
        }


SEVERITIES = ("red", "orange", "yellow")
CONTRACT_STATUSES = ("running", "completed", "cancelled", "error")


def contracts(db: Database, principal: Principal, limit: int | None, cursor: str | None, status: str | None = None,
              department: str | None = None, employer: str | None = None, severity: str | None = None
              ) -> dict[str, Any]:
    """The contracts the caller may see, newest first, each with its project, department, parties and the open
    alerts the caller may see counted by severity. Filters: `status`, `department` (its code, exactly),
    `employer` (organisation code), `severity` (has at least one open — not resolved — alert of it)."""
    if status is not None and status not in CONTRACT_STATUSES:
        raise Invalid("unknown status", {"status": [f"one of {', '.join(CONTRACT_STATUSES)}"]})
    if severity is not None and severity not in SEVERITIES:
        raise Invalid("unknown severity", {"severity": [f"one of {', '.join(SEVERITIES)}"]})
    with db.read() as session:
        query = select(Instance).where(authz.instance_filter(principal))
        if status:
            query = query.where(Instance.status == status)
        if department:
            query = query.where(Instance.department_code == department)
        if employer:
            query = query.where(Instance.id.in_(select(Party.instance_id).where(Party.role == "employer",
                                                                                  Party.org_code == employer)))
        if severity:
            query = query.where(Instance.id.in_(select(Alert.instance_id).where(
                Alert.severity == severity, Alert.status != "resolved", alerts.visible_filter(principal))))
        counts: dict[str, dict[str, int]] = {}
        names: dict[str, str] = {}
        departments: dict[str, str] = {}
        definition_refs: dict[int, tuple[str, int]] = {}

        def prepare(rows: list[Instance]) -> None:
            ids = [r.id for r in rows]
            if not ids:
                return
            for instance_id, sev, n in session.execute(
                    select(Alert.instance_id, Alert.severity, func.count()).where(
                        Alert.instance_id.in_(ids), Alert.status != "resolved", alerts.visible_filter(principal))
                    .group_by(Alert.instance_id, Alert.severity)):
                counts.setdefault(instance_id, {})[sev] = n
            orgs = {code for r in rows for _, code, _ in authz.holders(r)}
            names.update(session.execute(select(Organisation.code, Organisation.name)
                                         .where(Organisation.code.in_(sorted(orgs)))).all())
            codes = {r.department_code for r in rows if r.department_code}
            departments.update(session.execute(select(Department.code, Department.name)
                                               .where(Department.code.in_(sorted(codes)))).all())
            definition_refs.update({i: (k, v) for i, k, v in session.execute(
                select(Definition.id, Definition.key, Definition.version)
                .where(Definition.id.in_({r.definition_id for r in rows})))})

        def render(instance: Instance) -> dict[str, Any]:
            open_counts = {s: counts.get(instance.id, {}).get(s, 0) for s in SEVERITIES}
            data = instance.data or {}
            key, version = definition_refs.get(instance.definition_id, (None, None))
            code = instance.department_code
            return {
                "business_key": instance.business_key, "instance_id": instance.id, "status": instance.status,
                "definition": {"key": key, "version": version},
                "project_code": data.get("project_code"), "project_name": data.get("project_name"),
                "category": data.get("category"), "contract_amount": money(data.get("contract_amount")),
                "department": {"code": code, "name": departments.get(code)} if code else None,
                "parties": [{"role": role, "org_code": org, "name": names.get(org), "consortium": standing}
                            for role, org, standing in authz.holders(instance)],
                "open_alerts": open_counts,
                "worst_severity": next((s for s in SEVERITIES if open_counts[s]), None),
                "created_at": instance.created_at, "updated_at": instance.updated_at,
            }

        return page(session, query, [Instance.created_at, Instance.id], limit, cursor, render, descending=True,
                    prepare=prepare)


def _changes_published(session, instance: Instance, data: dict[str, Any]) -> list[dict[str, Any]]:
    records = list(data.get("changes") or [])
    published = changes.publications(session, records)
    return [{**r, **published[r["no"]]} if r.get("no") in published else r for r in records]
