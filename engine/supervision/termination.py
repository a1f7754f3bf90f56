"""The termination of a contract (合同解除 / 终止): notice, acknowledgement, settlement of the work done, the
guarantees' outcome and — tendering — the route to the next candidate.

* The notice: `POST /contracts/{key}/termination` by either party (an admin names the `party`): the `ground`
  (GROUNDS), `reason`, `noticed_at`, the notice document's hash, the `settlement` of the work done (its `amount`,
  the value of what was performed: 《民法典》第五百六十六条 — what is not performed ends, what is performed is
  settled), the `guarantees` outcome for every security the contract still holds (`release`, or `claim` with an
  amount on a guarantee of the party in breach), and `successor`: for tendering, required, the next-ranked
  candidate (`next_candidate`, with `candidate` and `rank`) or a new tender (`re_tender`) — 《招标投标法实施条例》
  第五十五条; for government procurement, optional (政府采购法实施条例 art 49). Nothing ends yet.
* The acknowledgement: `POST /contracts/{key}/termination/acknowledgement` by the other party (the notice reached
  it: 民法典 art 565, the contract is terminated when the notice reaches the other party), or by the supervising
  department recording it (the other party does not answer, or a court or arbitration confirmed it), with the
  notice's document hash. Then, in one transaction, the termination takes effect on `acknowledged_at`:
  the guarantees' outcomes are applied (engine/supervision/guarantees.py `settle_on_termination`); every open
  non-performance alert is resolved ("terminated …": the obligations not performed end with the contract) while
  the arrears already due stay open until paid (what was performed is still owed); the contract's workflows — the
  main one and each running part — are cancelled, so their pending timers and ready tasks are cancelled; the
  instance is `cancelled` (API status) and its OCDS contract `terminated` with the end date and the settlement.

Who may give notice of which ground: a breach by the employer is noticed by the contractor, a breach by the
contractor by the employer; the other grounds by either. `public_interest` (performance would harm the state or
the public interest, 政府采购法 art 50) is a government procurement ground. The record (`termination` in the
contract's data, shown by the ledger) keeps the rule ids and the citation of its legal basis (rules.json, kind
"ground": TM01–TM06). The history shows `termination_noticed`, `termination_acknowledged`,
`termination_guarantees` and `contract_terminated`.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import func, select

from engine import clock
from engine.access import authz
from engine.access.directory import Principal
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.runtime import spiff, steps, values
from engine.runtime.runner import step_transaction
from engine.storage.models import Alert, Instance, InstancePart, Organisation, Payment
from engine.storage.db import Database
from engine.supervision import alerts, changes, guarantees, plausibility

TERMINATION = "termination"
PARTIES = ("employer", "contractor")
# ground → (the rule of its legal basis, the party who gives notice of it; None: either)
GROUNDS: dict[str, tuple[str, str | None]] = {
    "mutual_agreement": ("TM01", None),
    "force_majeure": ("TM02", None),
    "breach_by_employer": ("TM02", "contractor"),
    "breach_by_contractor": ("TM02", "employer"),
    "public_interest": ("TM06", None),
}
BREACHING = {"breach_by_employer": "employer", "breach_by_contractor": "contractor"}
ROUTES = ("next_candidate", "re_tender")
OUTCOMES = ("release", "claim")
GP, TENDERING = "gov_procurement", "tendering"


def _instance(session, principal: Principal, business_key: Any) -> Instance:
    instance = session.scalar(select(Instance).where(Instance.business_key == business_key)) \
        if isinstance(business_key, str) else None
    if instance is None or not authz.can_see_instance(principal, instance):
        raise NotFound(f"no contract {business_key}")
    return instance


def _party_of(principal: Principal, instance: Instance, named: Any) -> str:
    """The role the caller gives notice for: its organisation's in the contract; an admin names it."""
    if principal.role == "admin":
        if named not in PARTIES:
            raise Invalid("the notice is invalid", {"party": ["an admin names the party giving notice: employer or "
                                                             "contractor"]})
        return named
    if principal.role == "party":
        for role in PARTIES:
            if authz.holds_role(instance, role, principal.org_code):  # a consortium's member too
                return role
    raise Forbidden("only a party to the contract (employer or contractor) gives notice of termination")


def _sha(value: Any, field: str, errors: dict[str, list[str]]) -> None:
    if not values.is_sha256(value):
        errors[field] = ["a document's SHA-256, 64 lowercase hex digits"]


def _basis(track: Any, ground: str, on: date) -> tuple[list[str], str]:
    ids = [GROUNDS[ground][0], "TM03", "TM04"]
    if track == TENDERING:
        ids.append("TM05")
    elif track == GP and "TM06" not in ids:
        ids.append("TM06")
    return ids, "；".join(f"{i} {changes.cite(i, on).legal_basis}" for i in ids)


def _paid(session, instance: Instance) -> Decimal:
    return values.amount_of(session.scalar(select(func.coalesce(func.sum(Payment.amount), 0))
                                           .where(Payment.instance_id == instance.id)))


def _check_successor(session, track: Any, successor: Any, errors: dict[str, list[str]]) -> dict[str, Any] | None:
    if successor is None:
        if track == TENDERING:
            errors["successor"] = ["required for a tendering contract: next_candidate (with candidate and rank) or "
                                   f"re_tender (TM05, {changes.cite('TM05', values.today()).legal_basis})"]
        return None
    if not isinstance(successor, Mapping):
        errors["successor"] = ["an object: {route, candidate, rank}"]
        return None
    route = successor.get("route")
    if route not in ROUTES:
        errors["successor.route"] = [f"one of {', '.join(ROUTES)}"]
        return None
    out: dict[str, Any] = {"route": route}
    if route == "next_candidate":
        candidate, rank = successor.get("candidate"), successor.get("rank")
        if not isinstance(candidate, str) or session.get(Organisation, candidate) is None:
            errors["successor.candidate"] = ["the organisation code of the next-ranked candidate"]
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 2:
            errors["successor.rank"] = ["its rank in the evaluation committee's list (2, 3, …)"]
        out.update(candidate=candidate, rank=rank)
    elif successor.get("candidate") is not None or successor.get("rank") is not None:
        errors["successor.route"] = ["a new tender names no candidate"]
    return out


def _check_guarantees(session, instance: Instance, ground: Any, given: Any,
                      errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Every held security with one outcome; a claim only on a guarantee given by the party in breach."""
    held = {g.id: g for g in guarantees.held_on(session, instance.id)}
    if given is None:
        given = []
    if not isinstance(given, list):
        errors["guarantees"] = ["a list of {guarantee_id, outcome, amount, note}"]
        return []
    breaching_org = (instance.roles or {}).get(BREACHING.get(ground, ""))
    out, seen = [], set()
    for n, item in enumerate(given):
        path = f"guarantees[{n}]"
        if not isinstance(item, Mapping):
            errors[path] = ["an object {guarantee_id, outcome, amount, note}"]
            continue
        g = held.get(item.get("guarantee_id"))
        if g is None or g.id in seen:
            errors[f"{path}.guarantee_id"] = ["a guarantee this contract holds, once: "
                                              f"{', '.join(held) or 'it holds none'}"]
            continue
        seen.add(g.id)
        outcome = item.get("outcome")
        if outcome not in OUTCOMES:
            errors[f"{path}.outcome"] = [f"one of {', '.join(OUTCOMES)}"]
            continue
        entry = {"guarantee_id": g.id, "kind": g.kind, "outcome": outcome, "note": item.get("note")}
        if outcome == "claim":
            if breaching_org is None or g.applicant_org != breaching_org:
                errors[f"{path}.outcome"] = [f"a claim is made on a guarantee given by the party in breach; the ground "
                                             f"{ground} does not make {g.applicant_org} that party"]
                continue
            amount = guarantees.check_termination_claim(session, g, item.get("amount"), path, errors)
            entry["amount"] = None if amount is None else values.format_money(amount)
        elif item.get("amount") is not None:
            errors[f"{path}.amount"] = ["a release takes no amount"]
        out.append(entry)
    missing = [f"{g.kind} {g.id}" for g in held.values() if g.id not in seen]
    if missing:
        errors["guarantees"] = [f"every security the contract holds needs an outcome (release or claim): "
                                f"{', '.join(missing)}"]
    return out


def notify(db: Database, principal: Principal, business_key: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    """A party's notice of termination; nothing ends until it is acknowledged (or recorded by the department)."""
    errors: dict[str, list[str]] = {}
    ground = body.get("ground")
    if ground not in GROUNDS:
        errors["ground"] = [f"one of {', '.join(GROUNDS)}"]
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        errors["reason"] = ["required: the facts of the ground"]
    _sha(body.get("document_sha256"), "document_sha256", errors)
    day = plausibility.business_date(body.get("noticed_at"), "noticed_at", errors)
    settlement = body.get("settlement")
    amount = None
    if not isinstance(settlement, Mapping):
        errors["settlement"] = ["required: {amount, document_sha256} — the value of the work done"]
    else:
        try:
            amount = values.parse_money(settlement.get("amount"))
        except values.BadValue as exc:
            errors["settlement.amount"] = [str(exc)]
        if settlement.get("document_sha256") is not None:
            _sha(settlement.get("document_sha256"), "settlement.document_sha256", errors)
    with step_transaction(db) as session:
        instance = _instance(session, principal, business_key)
        party = _party_of(principal, instance, body.get("party"))
        if instance.status != "running":
            raise Conflict(f"the contract is {instance.status}: only a running contract is terminated",
                           {"business_key": [f"the contract is {instance.status}"]})
        step = steps.open_step(session, instance, principal.name)
        data = instance.data or {}
        earlier = spiff.shared_value(step.wf, TERMINATION)
        if earlier:
            raise Conflict(f"notice of termination was given already on {earlier['noticed_at']} by the {earlier['party']}",
                           {"ground": ["the contract has a pending notice of termination: acknowledge it"]})
        track = data.get("track")
        if ground in GROUNDS:
            noticer = GROUNDS[ground][1]
            if noticer is not None and noticer != party:
                errors["ground"] = [f"{ground} is noticed by the {noticer}, not the {party}"]
            if ground == "public_interest" and track != GP:
                errors["ground"] = ["public_interest is a government procurement ground "
                                    f"(TM06, {changes.cite('TM06', day or values.today()).legal_basis})"]
        value = changes.current_amount(data)
        if amount is not None and amount > value:
            errors["settlement.amount"] = [f"{values.format_money(amount)} is more than the contract's value "
                                           f"{values.format_money(value)}"]
        outcomes = _check_guarantees(session, instance, ground, body.get("guarantees"), errors)
        successor = _check_successor(session, track, body.get("successor"), errors)
        if errors:
            raise Invalid("the notice of termination is invalid", errors)
        paid = _paid(session, instance)
        ids, basis = _basis(track, ground, day)
        record = {"status": "noticed", "ground": ground, "party": party, "by": principal.name,
                  "reason": reason.strip(), "noticed_at": day.isoformat(), "document_sha256": body["document_sha256"],
                  "settlement": {"amount": values.format_money(amount), "paid": values.format_money(paid),
                                 "balance": values.format_money(amount - paid),
                                 "contract_value": values.format_money(value),
                                 "document_sha256": settlement.get("document_sha256")},
                  "guarantees": outcomes, "successor": successor, "rules": ids, "legal_basis": basis,
                  "acknowledgement": None, "effective_on": None}
        spiff.set_shared(step.wf, TERMINATION, record)
        step.record("termination_noticed", None, record)
        steps.finish(step)
        return {"business_key": instance.business_key, **record}


def acknowledge(db: Database, principal: Principal, business_key: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    """The other party acknowledges the notice, or the department records it: the termination takes effect."""
    errors: dict[str, list[str]] = {}
    day = plausibility.business_date(body.get("acknowledged_at"), "acknowledged_at", errors)
    note = body.get("note")
    with step_transaction(db) as session:
        instance = _instance(session, principal, business_key)
        if principal.role == "admin":
            as_ = "admin"
        elif principal.role == "supervisor" and instance.department_code in principal.departments:
            as_ = "department"
        elif principal.role == "party" and any(authz.holds_role(instance, p, principal.org_code) for p in PARTIES):
            as_ = next(p for p in PARTIES if authz.holds_role(instance, p, principal.org_code))
        else:
            raise Forbidden("the party notified or the supervising department acknowledges a notice of termination")
        step = steps.open_step(session, instance, principal.name)
        record = dict(spiff.shared_value(step.wf, TERMINATION) or {})
        if not record:
            raise Conflict("no notice of termination to acknowledge", {"acknowledged_at": ["give notice first"]})
        if record["status"] != "noticed" or instance.status != "running":
            raise Conflict(f"the termination took effect already on {record.get('effective_on')}",
                           {"acknowledged_at": [f"acknowledged on {record.get('effective_on')}"]})
        if as_ == record["party"]:
            raise Forbidden(f"the {as_} gave the notice: the other party (or the supervising department) acknowledges it")
        if body.get("document_sha256") != record["document_sha256"]:
            errors["document_sha256"] = [f"is not the notice's document ({record['document_sha256']})"]
        if day is not None and day < date.fromisoformat(record["noticed_at"]):
            errors["acknowledged_at"] = [f"{day.isoformat()} is before the notice ({record['noticed_at']})"]
        if errors:
            raise Invalid("the acknowledgement is invalid", errors)
        record.update(status="effective", effective_on=day.isoformat(),
                      acknowledgement={"by": principal.name, "as": as_, "at": day.isoformat(), "note": note})
        # The guarantees' outcomes (their claim amounts were checked at the notice; a claim filed since is checked
        # again by the lifecycle).
        done = guarantees.settle_on_termination(session, instance, principal.name, day, record["guarantees"])
        record["guarantees"] = [{**o, **d} for o, d in zip(record["guarantees"], done)]
        closed = _close_alerts(session, instance, record)
        record["alerts_resolved"] = closed
        spiff.set_shared(step.wf, TERMINATION, record)
        step.record("termination_acknowledged", None, {"by": principal.name, "as": as_, "at": day.isoformat(),
                                                       "note": note})
        step.record("termination_guarantees", None, {"guarantees": record["guarantees"]})
        step.record("contract_terminated", None, {"ground": record["ground"], "effective_on": record["effective_on"],
                                                  "settlement": record["settlement"], "successor": record["successor"],
                                                  "legal_basis": record["legal_basis"],
                                                  "non_performance_alerts_resolved": closed})
        spiff.cancel(step.wf)
        instance.status = "cancelled"
        steps.finish(step)
        _end_parts(session, instance, principal.name)
        return {"business_key": instance.business_key, **record}


def _close_alerts(session, instance: Instance, record: Mapping[str, Any]) -> int:
    """Every open non-performance alert ends with the obligation it watched; arrears stay open until paid."""
    now = clock.now()
    basis = changes.cite("TM04", date.fromisoformat(record["effective_on"])).legal_basis
    n = 0
    for alert in session.scalars(select(Alert).where(Alert.instance_id == instance.id, Alert.status != "resolved",
                                                     Alert.kind == "non_performance")):
        alert.status, alert.resolved_at, alert.updated_at = "resolved", now, now
        alert.resolution = (f"terminated on {record['effective_on']} ({record['ground']}): the obligation ended with "
                            f"the contract (TM04, {basis})")
        alerts._notify(session, alert, "alert.resolved")
        n += 1
    return n


def _end_parts(session, instance: Instance, actor: str) -> None:
    """Cancel every running part of the contract (each milestone's workflow): its timers and ready tasks go."""
    for part in session.scalars(select(InstancePart).where(InstancePart.instance_id == instance.id,
                                                           InstancePart.status == "running")
                                .order_by(InstancePart.item_no)):
        step = steps.open_step(session, instance, actor, part.id)
        spiff.cancel(step.wf)
        part.status = "cancelled"
        step.record("part_cancelled", part.element_id, {"item": part.item_no, "reason": "contract terminated"})
        steps.finish(step)


def current(instance: Instance) -> dict[str, Any] | None:
    return (instance.data or {}).get(TERMINATION)
