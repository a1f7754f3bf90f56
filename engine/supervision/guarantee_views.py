"""The guarantee ledger as the API and the contract ledger read it: one guarantee (`view`, with its claims,
linked alerts and event history when `full`), the list a caller may see (`list_`, `get`), a claim
(`claim_view`), and a contract's guarantees in the ledger's summary shape (`ledger_entries`).

Who sees a guarantee: whoever sees its contract (engine/access/authz.py); an issuer also sees the guarantees
it issued. Nothing here changes a row.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from engine.access import authz
from engine.access.directory import Principal
from engine.errors import Invalid, NotFound
from engine.runtime import forms
from engine.storage.db import Database
from engine.storage.models import Alert, Guarantee, GuaranteeClaim, GuaranteeEvent, Instance, Organisation
from engine.storage.pagination import page
from engine.supervision import alerts
from engine.supervision.guarantee_lifecycle import KINDS, STATUSES

_text = forms.to_json  # a stored amount or date as the API writes it: "1200000.00", "2026-12-01"
# Alerts about a guarantee, linked to its record (CLAIM_UNPAID links by the claim, its occurrence).
LINKED_CODES = {"bid": ("BID_BOND_REFUND_OVERDUE",), "performance": ("GUARANTEE_RELEASE_OVERDUE", "GUARANTEE_EXPIRING"),
                "quality": ("RETENTION_RELEASE_OVERDUE",)}
CLAIM_ALERT = "CLAIM_UNPAID"


def claims_of(session: Session, guarantee_id: str) -> list[GuaranteeClaim]:
    """The claims filed on a guarantee, in their order."""
    return list(session.scalars(select(GuaranteeClaim).where(GuaranteeClaim.guarantee_id == guarantee_id)
                                .order_by(GuaranteeClaim.no)))


def visible(session: Session, principal: Principal, g: Guarantee) -> bool:
    instance = session.get(Instance, g.instance_id)
    return instance is not None and authz.can_see_instance(principal, instance)


def _linked_alerts(session: Session, principal: Principal, g: Guarantee, claims: list[GuaranteeClaim]) -> list[dict]:
    codes = LINKED_CODES.get(g.kind, ())
    conditions = []
    if codes:
        conditions.append(Alert.code.in_(codes))
    if claims:
        conditions.append(and_(Alert.code == CLAIM_ALERT, Alert.occurrence.in_([c.id for c in claims])))
    if not conditions:
        return []
    query = select(Alert).where(Alert.instance_id == g.instance_id, or_(*conditions)).order_by(Alert.raised_at, Alert.id)
    # The parties of the contract see every warning about it: the employer (beneficiary) too, also the yellow
    # pre-warnings addressed to the contractor. Departments see them from orange on, as in their inbox.
    if principal is not None and principal.role == "supervisor":
        query = query.where(Alert.severity != "yellow")
    return [alerts.view(a) for a in session.scalars(query)]


def view(session: Session, g: Guarantee, principal: Principal | None = None, full: bool = False) -> dict[str, Any]:
    """A guarantee as the API shows it; `full` adds its claims, linked alerts and event history."""
    orgs = {o.code: o.name for o in session.scalars(select(Organisation).where(
        Organisation.code.in_([c for c in (g.issuer_org, g.applicant_org, g.beneficiary_org) if c])))}
    party = lambda code: {"org_code": code, "name": orgs.get(code)} if code else None  # noqa: E731
    out = {
        "id": g.id, "instance_id": g.instance_id, "business_key": g.business_key, "kind": g.kind, "form": g.form,
        "electronic": g.electronic, "guarantee_no": g.guarantee_no,
        "issuer": {"name": g.issuer or orgs.get(g.issuer_org), "org_code": g.issuer_org},
        "applicant": party(g.applicant_org), "beneficiary": party(g.beneficiary_org),
        "amount": _text(g.amount), "currency": "CNY", "validity": {"from": _text(g.valid_from), "to": _text(g.valid_to)},
        "document_sha256": g.document_sha256, "verification_code": g.verification_code, "status": g.status,
        "exemption": ({"rule": g.exemption_rule, "percent": g.exempt_percent, "freed_amount": _text(g.freed_amount)}
                      if g.exempt_percent is not None else None),
        "activated_on": _text(g.activated_on), "released_at": _text(g.released_at),
        "cancellation": ({"requested_at": g.cancellation_requested_at, "to": g.issuer_org}
                         if g.cancellation_requested_at is not None else None),
        "issuer_notice": g.issuer_notice, "created_at": g.created_at, "updated_at": g.updated_at,
    }
    if full:
        claims = claims_of(session, g.id)
        out["claims"] = [claim_view(c) for c in claims]
        out["alerts"] = _linked_alerts(session, principal, g, claims)
        out["events"] = [{"seq": e.seq, "at": e.at, "actor": e.actor, "event": e.event, "data": e.data}
                         for e in session.scalars(select(GuaranteeEvent).where(GuaranteeEvent.guarantee_id == g.id)
                                                  .order_by(GuaranteeEvent.seq))]
    return out


def claim_view(c: GuaranteeClaim) -> dict[str, Any]:
    return {"id": c.id, "no": c.no, "reason": c.reason, "alert_id": c.alert_id, "amount": _text(c.amount),
            "claimed_at": _text(c.claimed_at), "status": c.status, "filed_at": c.filed_at, "filed_by": c.filed_by,
            "note": c.note, "paid_at": _text(c.paid_at), "paid_amount": _text(c.paid_amount),
            "payment_reference": c.payment_reference}


def _filter(principal: Principal):
    """Guarantees of the contracts the caller sees; an issuer also sees the guarantees it issued."""
    visible = Guarantee.instance_id.in_(select(Instance.id).where(authz.instance_filter(principal)))
    if principal.role == "party" and principal.org_code:
        return or_(visible, Guarantee.issuer_org == principal.org_code)
    return visible


def list_(db: Database, principal: Principal, limit: int | None, cursor: str | None, business_key: str | None = None,
          kind: str | None = None, status: str | None = None, cancellation: str | None = None) -> dict[str, Any]:
    for name, value, allowed in (("kind", kind, KINDS), ("status", status, STATUSES),
                                 ("cancellation", cancellation, ("requested",))):
        if value is not None and value not in allowed:
            raise Invalid(f"unknown {name}", {name: [f"one of {', '.join(allowed)}"]})
    with db.read() as session:
        query = select(Guarantee).where(_filter(principal))
        if business_key:
            query = query.where(Guarantee.business_key == business_key)
        if kind:
            query = query.where(Guarantee.kind == kind)
        if status:
            query = query.where(Guarantee.status == status)
        if cancellation == "requested":
            query = query.where(Guarantee.cancellation_requested_at.is_not(None))
        return page(session, query, [Guarantee.created_at, Guarantee.id], limit, cursor,
                    lambda g: view(session, g, principal))


def get(db: Database, principal: Principal, guarantee_id: str) -> dict[str, Any]:
    with db.read() as session:
        g = session.get(Guarantee, guarantee_id)
        if g is None or not session.scalar(select(func.count()).select_from(Guarantee).where(
                Guarantee.id == guarantee_id, _filter(principal))):
            raise NotFound("no such guarantee")
        return view(session, g, principal, full=True)


# ---------------------------------------------------------------------------- the contract ledger (ledger.py)
_LEDGER_STATUS = {"active": "held"}


def ledger_entries(session: Session, instance_id: str) -> list[dict[str, Any]] | None:
    """The guarantees of a contract in the ledger's summary shape, or None when the table holds none (a contract
    started before this ledger existed: the ledger then reads them from the contract's data)."""
    rows = list(session.scalars(select(Guarantee).where(Guarantee.instance_id == instance_id)
                                .order_by(Guarantee.created_at, Guarantee.id)))
    if not rows:
        return None
    out = []
    for g in rows:
        status = _LEDGER_STATUS.get(g.status, g.status)
        if g.kind == "bid":
            out.append({"kind": "bid", "form": g.form, "amount": g.amount, "released_at": g.released_at, "status": status})
        elif g.kind == "quality" and g.form == "retention":
            out.append({"kind": "quality", "form": "retention", "amount": g.amount, "status": status})
        else:
            out.append({"kind": g.kind, "form": g.form, "guarantee_no": g.guarantee_no, "issuer": g.issuer,
                        "amount": g.amount, "valid_to": g.valid_to, "status": status})
    # The ledger lists bid, then performance, then quality, as it always has.
    rank = {"bid": 0, "performance": 1, "advance_payment": 2, "payment": 3, "quality": 4}
    return sorted(out, key=lambda e: rank.get(e["kind"], 9))

