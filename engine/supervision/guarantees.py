"""Guarantees (保证金 / 保函): the securities of a contract and the e-guarantee lifecycle with the guarantor
in the loop (DOMAIN.md §1C, §1E, §2).

Every security a post_award contract holds is a `Guarantee` row with its event history: the bid bond and
the quality retention as the start data gives them, the performance guarantee from "required" through
the contractor's submission and the issuer's verification to its release. The diagram drives the
lifecycle (bpmn/post_award.bpmn, guarantor lane); this module keeps the ledger in step with it, from the
tasks' completions (`record_task`, called inside the task's step) and from the start (`on_start`), and
refuses — before anything is stored — what the rules forbid:

* caps on entry, from the rule registry: the performance guarantee at most D05 / D09 of the contract
  amount (and at least the rate agreed); the bid bond (D01 / D02 / D07) and the retention (Q01, Q02)
  are checked at the start by engine/contract_terms.py;
* the issuer's confirmation must match what the contractor submitted, field by field (验真): a mismatch
  is a 422 naming the field, and nothing changes — no verification, hence no false release later;
* a claim (索赔) only after a confirmed non-performance: the contractor refused to sign after the award
  (条例613 art 74), or the department confirmed a red non-performance alert against the applicant. A refusal
  to sign is established by the signing period (R04 / G03, counted as the diagram counts it: `signing_period`)
  having passed unsigned, or, inside the period, by the supervising department's confirmation
  (`confirm_refusal`, POST /guarantees/{id}/refusal-confirmation): never by the employer alone, who could
  otherwise forfeit the contractor's bid guarantee the day after the award.

Lifecycle (`status`): required → [issued] → submitted → active (verified, or accepted as given where no
issuer takes part) → [claimed → paid_out] → released; `rejected` when the issuer refuses the verification
(the contractor submits again); `exempt` when a credit offset waived it (the exemption rules are data in
engine/rules.json: CR01 AAA exempt nationally, CR02 AA/A halved locally).

The issuer's e-guarantee platform confirms by a signed callback instead of its user
(`issuer_callback`): `POST /api/v1/instances/{id}/messages/guarantee_issued`, header
`X-Lvyue-Signature: sha256=HMAC-SHA256(secret, raw body)` (the webhooks' scheme, engine/webhooks.py
`sign`), where the secret is the one of the organisation bound to the contract's `guarantor` role
(`GuarantorEndpoint`, set by `lvyue orgs callback-secret`). A callback that comes before the
contractor's submission is kept on the guarantee (status `issued`) and verifies the submission that
matches it in the contractor's own step.

Releasing an e-guarantee sends the cancellation (注销) to its issuer: recorded on the guarantee as a
`cancellation_requested` event with `cancellation_requested_at`, listed for the issuer with
`GET /guarantees?cancellation=requested` (there is no organisation webhook outbox: the issuer polls).
"""
from __future__ import annotations

import hmac
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import and_, func, or_, select, true
from sqlalchemy.orm import Session

from engine.supervision import alerts, bindings, deadlines, timing
from engine.access import authz
from engine import clock
from engine.runtime import forms, spiff, steps, strictjson, values, webhooks
from engine.runtime.runner import complete_task, run_step
from engine.storage.db import Database
from engine.access.directory import Principal
from engine.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from engine.storage.models import Alert, AlertDecision, Guarantee, GuaranteeClaim, GuaranteeEvent, GuarantorEndpoint, Instance, Invoice, Lead, Organisation, Payment, TaskRow
from engine.storage.pagination import page

KINDS = ("bid", "performance", "advance_payment", "quality", "payment")
# How a security is given. `e_guarantee`: an electronic guarantee whose issuer type the start data does not
# say (bid bonds posted before the award); `retention`: quality money withheld from payments (质保金预留).
FORMS = ("cash", "bank_guarantee", "insurance_policy", "guarantee_company", "e_guarantee", "retention", "exempt")
ISSUED_FORMS = ("bank_guarantee", "insurance_policy", "guarantee_company", "e_guarantee")
STATUSES = ("required", "issued", "submitted", "rejected", "active", "claimed", "paid_out", "released", "exempt")
CLAIM_REASONS = ("refused_to_sign", "non_performance")
CLAIMABLE = ("active", "claimed")

# The process library's elements this ledger follows (bpmn/post_award.bpmn).
SUBMIT, VERIFY, RENEW, PAY_CLAIM = (bindings.SUBMIT_GUARANTEE, bindings.VERIFY_GUARANTEE, bindings.RENEW_GUARANTEE,
                                    bindings.PAY_CLAIM)
RELEASES = {bindings.RELEASE_BID_BOND: "bid", bindings.RELEASE_PERFORMANCE: "performance",
            bindings.RELEASE_RETENTION: "quality"}
CLAIM_MESSAGE, REFUSAL_MESSAGE = "guarantee_claimed", "award_refused"
REFUSABLE_TASKS = (bindings.SIGN_CONTRACT, SUBMIT)
# Alerts about a guarantee, linked to its record (CLAIM_UNPAID links by the claim, its occurrence).
LINKED_CODES = {"bid": ("BID_BOND_REFUND_OVERDUE",), "performance": ("GUARANTEE_RELEASE_OVERDUE", "GUARANTEE_EXPIRING"),
                "quality": ("RETENTION_RELEASE_OVERDUE",)}
CLAIM_ALERT = "CLAIM_UNPAID"
BASIS_REFUSAL = "《中华人民共和国招标投标法实施条例》第七十四条"
# Where the rule registry caps each kind on entry (its `subject`).
CAP_SUBJECTS = {"bid": "bid_bond", "performance": "performance_guarantee", "quality": "retention"}
SIGNATURE_HEADER = "X-Lvyue-Signature"

_VERIFIED_FIELDS = ("guarantee_no", "amount", "valid_to", "document_sha256")


# ---------------------------------------------------------------------------- small helpers
_dec = values.amount_of
_money = values.format_money
_text = forms.to_json  # a stored amount or date as the API writes it: "1200000.00", "2026-12-01"


def _fen(value: Any) -> Decimal:
    """An amount computed here (a rate of the contract amount) rounded to the fen to be stored: the money
    column refuses anything finer, so the rounding is made here, as the ledger always made it."""
    return _dec(value).quantize(values.FEN)


def _money_in(value: Any, path: str) -> Decimal:
    """An amount given to this module (task data, request body) in values' money shape; Invalid naming `path`."""
    try:
        return values.parse_money(value)
    except values.BadValue as exc:
        raise Invalid("the amount is invalid", {path: [str(exc)]}) from None


def _date_in(value: Any, path: str) -> date | None:
    """A date given to this module, None when absent; Invalid naming `path`."""
    if value is None or value == "":
        return None
    try:
        return values.parse_date(value)
    except values.BadValue as exc:
        raise Invalid("the date is invalid", {path: [str(exc)]}) from None


def _iso(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(deadlines.SHANGHAI).date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


_today = values.today
_day = deadlines.business_day


def _on(data: Mapping[str, Any]) -> date:
    """The date that selects the rule versions of a contract: its award notice (as contract_terms does)."""
    return _day(data.get("award_notice_date")) or _today()


def _cite(rule) -> str:
    return f"({rule.id}, {rule.legal_basis})"


def _event(session: Session, g: Guarantee, actor: str, event: str, data: dict[str, Any] | None = None) -> None:
    seq = (session.scalar(select(func.max(GuaranteeEvent.seq)).where(GuaranteeEvent.guarantee_id == g.id)) or 0) + 1
    session.add(GuaranteeEvent(guarantee_id=g.id, seq=seq, at=clock.now(), actor=actor, event=event,
                               data=forms.to_json(data or {})))
    g.updated_at = clock.now()
    session.flush()


def _new(session: Session, instance: Instance, kind: str, amount: Any, status: str, actor: str, **fields) -> Guarantee:
    now = clock.now()
    fields.setdefault("electronic", False)
    g = Guarantee(id=str(uuid.uuid4()), instance_id=instance.id, business_key=instance.business_key,
                  department_code=instance.department_code, kind=kind, amount=_fen(amount), status=status,
                  applicant_org=instance.roles.get("contractor"), beneficiary_org=instance.roles.get("employer"),
                  created_at=now, updated_at=now, **fields)
    session.add(g)
    session.flush()
    _event(session, g, actor, "recorded", {"kind": kind, "form": g.form, "amount": g.amount, "status": status})
    return g


def _current(session: Session, instance_id: str, kind: str) -> Guarantee | None:
    return session.scalar(select(Guarantee).where(Guarantee.instance_id == instance_id, Guarantee.kind == kind)
                          .order_by(Guarantee.created_at.desc(), Guarantee.id).limit(1))


def _activate(g: Guarantee) -> None:
    g.status = "active"
    g.activated_on = _today()


# ---------------------------------------------------------------------------- at the start (inside its step)
def on_start(step: steps.Step, data: Mapping[str, Any]) -> None:
    """Record the securities a post_award contract starts with: the bid bond (with the credit offset that
    exempted or reduced it), the performance guarantee owed, the quality retention withheld. Contracts of
    other processes (no `bid_bond` in their data) hold none."""
    if "bid_bond" not in data or "contract_amount" not in data:
        return
    session, instance, actor = step.session, step.instance, step.actor
    amount = _dec(data.get("contract_amount"))
    award = _day(data.get("award_notice_date"))
    bond = data.get("bid_bond") or {}
    if bond:
        _record_bid_bond(step, data, bond, award)
    rate = _dec(data.get("performance_guarantee_rate"))
    if rate > 0:
        _new(session, instance, "performance", amount * rate / 100, "required", actor)
    retention = _dec(data.get("retention_rate"))
    if retention > 0:
        g = _new(session, instance, "quality", amount * retention / 100, "active", actor, form="retention",
                 activated_on=award)
        _event(session, g, actor, "withheld", {"rate": format(retention, "f")})


def _record_bid_bond(step: steps.Step, data: Mapping[str, Any], bond: Mapping[str, Any], award: date | None) -> None:
    session, instance, actor = step.session, step.instance, step.actor
    form = bond.get("form")
    contractor = session.get(Organisation, instance.roles.get("contractor") or "")
    rating = contractor.credit_rating if contractor is not None else None
    rules = ()
    if data.get("track") and data.get("category"):
        rules = timing.registry().limits_for("bid_bond", data["track"], data["category"], _on(data), kind="exemption")
    matching = [r for r in rules if rating in r.exempt_ratings]
    whole = [r for r in matching if r.exempt_percent in (None, 100)]
    partial = sorted((r for r in matching if r not in whole), key=lambda r: -r.exempt_percent)
    amount = _dec(bond.get("amount"))
    if form == "exempt":
        rule = whole[0] if whole else None
        g = _new(session, instance, "bid", amount, "exempt", actor, form="exempt", activated_on=award,
                 exemption_rule=rule.id if rule else None, exempt_percent="100", freed_amount=_fen(amount))
        _event(session, g, actor, "exempted", {"rule": g.exemption_rule, "legal_basis": rule.legal_basis if rule else None,
                                               "rating": rating, "freed_amount": g.freed_amount})
        return
    electronic = form == "e_guarantee"
    g = _new(session, instance, "bid", amount, "active", actor, form=form, electronic=electronic, activated_on=award,
             issuer_org=instance.roles.get("guarantor") if electronic else None)
    if partial:
        rule = partial[0]
        share = rule.exempt_percent
        # The bond posted is the reduced one: the rest of what the tender would have required was freed.
        g.exemption_rule, g.exempt_percent = rule.id, format(share, "f")
        g.freed_amount = _fen(amount * share / (100 - share)) if share < 100 else _fen(amount)
        _event(session, g, actor, "reduced", {"rule": rule.id, "legal_basis": rule.legal_basis, "rating": rating,
                                              "exempt_percent": g.exempt_percent, "freed_amount": g.freed_amount})


# ---------------------------------------------------------------------------- task completions (inside their step)
def record_task(step: steps.Step, element_id: str, data: dict[str, Any], actor: str, task_id: str | None = None) -> None:
    """Keep the ledger in step with a completed task of the process library; Invalid (422, nothing stored)
    when the completion breaks a rule of the guarantee. Other elements are no concern of this module."""
    if step.part is not None:
        return
    if element_id == SUBMIT:
        _submitted(step, data, actor)
    elif element_id == VERIFY:
        _verified(step, data, actor)
    elif element_id == RENEW:
        _renewed(step, data, actor)
    elif element_id == PAY_CLAIM:
        _claim_paid(step, data, actor, task_id)
    elif element_id in RELEASES:
        _released(step, RELEASES[element_id], data, actor)


def _contract(step: steps.Step) -> dict[str, Any]:
    return spiff.current_data(step.wf)


def _issuer_online(instance: Instance, form: str | None) -> bool:
    return bool(instance.roles.get("guarantor")) and form in ISSUED_FORMS


def _check_cap(kind: str, contract: Mapping[str, Any], amount: Decimal, path: str) -> None:
    """The registry's caps on `kind` for the contract's track and category; Invalid naming `path`."""
    subject, track, category = CAP_SUBJECTS.get(kind), contract.get("track"), contract.get("category")
    contract_amount = _dec(contract.get("contract_amount"))
    if subject is None or track is None or category is None or contract_amount <= 0:
        return
    for cap in timing.registry().limits_for(subject, track, category, _on(contract)):
        if cap.max_percent is not None and amount * 100 / contract_amount > cap.max_percent:
            percent = (amount * 100 / contract_amount).quantize(values.FEN)
            raise Invalid(f"the {kind} guarantee exceeds its cap", {path: [
                f"{_money(amount)} CNY is {percent}% of the contract amount, over the {format(cap.max_percent, 'f')}% "
                f"cap {_cite(cap)}"]})
        if cap.max_amount is not None and amount > cap.max_amount:
            raise Invalid(f"the {kind} guarantee exceeds its cap", {path: [
                f"{_money(amount)} CNY exceeds {format(cap.max_amount, 'f')} CNY {_cite(cap)}"]})


def _submitted(step: steps.Step, data: dict[str, Any], actor: str) -> None:
    session, instance = step.session, step.instance
    contract = _contract(step)
    g = _current(session, instance.id, "performance")
    if g is None:  # a contract started before this ledger existed
        g = _new(session, instance, "performance", 0, "required", actor)
    amount = _money_in(data.get("amount"), "data.amount")
    valid_to = _date_in(data.get("valid_to"), "data.valid_to")
    required = (_dec(contract.get("contract_amount")) * _dec(contract.get("performance_guarantee_rate")) / 100).quantize(values.FEN)
    _check_cap("performance", contract, amount, "data.amount")
    if amount < required:
        raise Invalid("the guarantee does not cover the agreed amount", {"data.amount": [
            f"{_money(amount)} CNY is less than the {_money(required)} CNY agreed "
            f"({format(_dec(contract.get('performance_guarantee_rate')), 'f')}% of the contract amount)"]})
    form = data.get("form")
    online = _issuer_online(instance, form)
    notice = g.issuer_notice if online and g.issuer_notice and g.issuer_notice.get("guarantee_no") == data.get("guarantee_no") else None
    if notice is not None:
        # The issuer reported this guarantee already: the contractor's copy must be the one it issued.
        errors = _mismatches(notice, {"guarantee_no": data.get("guarantee_no"), "amount": amount,
                                      "valid_to": valid_to, "document_sha256": data.get("document_sha256"),
                                      "verification_code": data.get("verification_code")},
                             "the issuer reported", "you submitted")
        if errors:
            raise Invalid("the guarantee differs from the one its issuer reported", errors)
    g.form, g.guarantee_no, g.issuer = form, data.get("guarantee_no"), data.get("issuer")
    g.amount, g.valid_to = amount, valid_to
    g.document_sha256, g.verification_code = data.get("document_sha256"), data.get("verification_code")
    g.electronic = online
    g.issuer_org = instance.roles.get("guarantor") if online else None
    g.status = "submitted" if online else "active"
    if not online:
        g.activated_on = _today()
    _event(session, g, actor, "submitted", {k: data.get(k) for k in ("form", "guarantee_no", "issuer", "amount", "valid_to",
                                                                       "document_sha256", "verification_code")})
    if notice is not None:
        _verify_from_notice(step, g, notice)


def _mismatches(expected: Mapping[str, Any], given: Mapping[str, Any], expected_by: str, given_by: str,
                prefix: str = "data") -> dict[str, list[str]]:
    errors = {}
    for name in (*_VERIFIED_FIELDS, "verification_code"):
        want, got = expected.get(name), given.get(name)
        if name == "amount":
            want, got = (None if v in (None, "") else _money(_dec(v)) for v in (want, got))
        elif name == "valid_to":
            want, got = _iso(want), _iso(got)
        elif name == "document_sha256":
            want, got = (want or "").lower() or None, (got or "").lower() or None
        if want is None or got is None or want == got:
            continue
        errors[f"{prefix}.{name}"] = [f"{given_by} {got}, but {expected_by} {want}"]
    return errors


def _verified(step: steps.Step, data: dict[str, Any], actor: str, g: Guarantee | None = None) -> None:
    session, instance = step.session, step.instance
    g = g or _current(session, instance.id, "performance")
    if g is None or g.status not in ("submitted",):
        raise Conflict("no submitted guarantee awaits verification in this contract")
    if not data.get("verified"):
        g.status = "rejected"
        _event(session, g, actor, "verification_refused", {k: data.get(k) for k in (*_VERIFIED_FIELDS, "verification_code", "note")})
        return
    missing = {f"data.{name}": ["required to confirm the guarantee (verified = true)"]
               for name in _VERIFIED_FIELDS if data.get(name) in (None, "")}
    if missing:
        raise Invalid("a confirmation names number, amount, validity and document hash", missing)
    submitted = {"guarantee_no": g.guarantee_no, "amount": g.amount, "valid_to": g.valid_to,
                 "document_sha256": g.document_sha256, "verification_code": g.verification_code}
    # A field the contractor left out (no document hash, say) cannot be confirmed against anything.
    absent = {f"data.{name}": [f"the contractor submitted no {name}: the guarantee cannot be confirmed; "
                               "refuse it (verified = false) so that it is submitted again"]
              for name in _VERIFIED_FIELDS if submitted.get(name) in (None, "")}
    errors = absent or _mismatches(submitted, data, "the contractor submitted", "the issuer confirms")
    if errors:
        raise Invalid("the confirmation does not match the guarantee the contractor submitted", errors)
    _activate(g)
    g.electronic = True
    g.verification_code = g.verification_code or data.get("verification_code")  # the issuer's 验真码
    _event(session, g, actor, "verified", {k: data.get(k) for k in (*_VERIFIED_FIELDS, "verification_code")})


def _verify_from_notice(step: steps.Step, g: Guarantee, notice: Mapping[str, Any]) -> None:
    """Complete the issuer's verify_guarantee task, now ready, with the confirmation its platform sent earlier."""
    ready = [t for t in spiff.ready_user_tasks(step.wf) if t.element_id == VERIFY]
    if not ready:
        return
    task = ready[0]
    form = step.definition.model.get("user_tasks", {}).get(VERIFY, {}).get("form", [])
    raw = {k: notice[k] for k in (*_VERIFIED_FIELDS, "verification_code") if notice.get(k) is not None}
    raw["verified"] = True
    _, errors = forms.validate(form, raw)
    if errors:
        return  # the guarantor completes the task by hand
    # Completed through the runtime like any task: its listeners (this module's record_task among them)
    # keep the ledger in step.
    complete_task(step, task.id, VERIFY, raw, step.actor, by=notice.get("by") or f"platform:{g.issuer_org}")


def _renewed(step: steps.Step, data: dict[str, Any], actor: str) -> None:
    session = step.session
    g = _current(session, step.instance.id, "performance")
    if g is None:
        return
    new_to = _date_in(data.get("valid_to"), "data.valid_to")
    if g.valid_to and new_to and new_to <= g.valid_to:
        raise Invalid("a renewal extends the validity", {"data.valid_to": [
            f"{new_to} does not end after the current validity {g.valid_to}"]})
    before = g.valid_to
    g.valid_to = new_to
    g.document_sha256 = data.get("document_sha256") or g.document_sha256
    if data.get("guarantee_no"):
        g.guarantee_no = data["guarantee_no"]
    _event(session, g, actor, "renewed", {"valid_to_before": before, "valid_to": new_to, "renewed_at": data.get("renewed_at"),
                                          "guarantee_no": g.guarantee_no, "document_sha256": data.get("document_sha256")})


def _claim_paid(step: steps.Step, data: dict[str, Any], actor: str, task_id: str | None) -> None:
    session = step.session
    task = spiff.get_task(step.wf, task_id) if task_id else None
    ref = (spiff.task_data(task).get("claim") if task is not None else None) or {}
    claim = session.get(GuaranteeClaim, ref.get("id")) if ref.get("id") else None
    if claim is None:
        return
    paid = _money_in(data.get("amount"), "data.amount")
    if paid != _dec(claim.amount):
        raise Invalid("an on-demand guarantee pays the sum claimed", {"data.amount": [
            f"the claim is for {_money(claim.amount)} CNY, not {_money(paid)}"]})
    claim.status, claim.paid_at, claim.paid_amount = "paid", _date_in(data.get("paid_at"), "data.paid_at"), paid
    claim.payment_reference = data.get("reference")
    g = session.get(Guarantee, claim.guarantee_id)
    total = sum((_dec(c.paid_amount) for c in _claims(session, g.id) if c.status == "paid"), Decimal(0))
    still_open = any(c.status == "filed" for c in _claims(session, g.id))
    if total >= _dec(g.amount):
        g.status = "paid_out"
    elif g.status != "released":  # released meanwhile: it stays released, with the claim paid under it
        g.status = "claimed" if still_open else "active"
    _event(session, g, actor, "claim_paid", {"claim_no": claim.no, "paid_at": claim.paid_at, "amount": claim.paid_amount,
                                             "reference": claim.payment_reference})


def _released(step: steps.Step, kind: str, data: dict[str, Any], actor: str) -> None:
    session = step.session
    g = _current(session, step.instance.id, kind)
    if g is None or g.status in ("exempt", "released"):
        return
    amount, interest = (_money_in(data[k], f"data.{k}") if data.get(k) is not None else None
                        for k in ("amount", "interest"))
    g.released_at = _date_in(data.get("released_at"), "data.released_at") or _today()
    if g.status != "paid_out":
        g.status = "released"
    _event(session, g, actor, "released", {"released_at": g.released_at, "amount": amount, "interest": interest})
    if g.form in ISSUED_FORMS and g.issuer_org:
        # 注销: the issuer is told the guarantee is discharged (it polls GET /guarantees?cancellation=requested).
        g.cancellation_requested_at = clock.now()
        _event(session, g, actor, "cancellation_requested", {
            "to": g.issuer_org, "guarantee_no": g.guarantee_no, "released_at": g.released_at,
            "reason": "obligation performed; the guarantee is released (保函注销)"})


# ---------------------------------------------------------------------------- guarantees given outside the diagram
# Advance payment (预付款保函), quality (质量保函, in place of retention) and the employer's payment guarantee
# (工程款支付担保, D06): given by the applicant through POST /guarantees, verified by the issuer's signed callback.
RECORDED_KINDS = ("advance_payment", "quality", "payment")
HELD = ("issued", "submitted", "active", "claimed")


def record(db: Database, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
    """Record a guarantee the diagram does not ask for; Invalid (422) over a cap or beside a security the rules
    forbid it with: a quality guarantee at most Q01 of the contract amount (standing in for the settlement
    price), never beside a performance guarantee held (Q02) nor beside retention withheld (Q01: no retention
    where another quality guarantee is used). The applicant records it: the contractor, or for a payment
    guarantee the employer."""

    kind, key = body.get("kind"), body.get("business_key")
    with db.read() as session:
        instance = session.scalar(select(Instance).where(Instance.business_key == key)) if isinstance(key, str) else None
        if instance is None or not authz.can_see_instance(principal, instance):
            raise NotFound(f"no contract {key}")
        instance_id = instance.id

    def apply(step: steps.Step):
        session, instance = step.session, step.instance
        if instance.status != "running":
            raise Conflict(f"the contract is {instance.status}")
        if kind not in RECORDED_KINDS:
            raise Invalid("unknown kind", {"kind": [f"one of {', '.join(RECORDED_KINDS)} (bid, performance and "
                                                    "retention follow the contract's process)"]})
        applicant_role = "employer" if kind == "payment" else "contractor"
        applicant = instance.roles.get(applicant_role)
        if principal.role != "admin" and not (principal.role == "party" and principal.org_code == applicant):
            raise Forbidden(f"the {applicant_role} of the contract gives its {kind} guarantee")
        contract = _contract(step)
        amount = _money_in(body.get("amount"), "amount")
        if amount <= 0:
            raise Invalid("the amount is missing", {"amount": ["more than zero"]})
        valid_from, valid_to = _date_in(body.get("valid_from"), "valid_from"), _date_in(body.get("valid_to"), "valid_to")
        if kind == "quality":
            _check_cap("quality", contract, amount, "amount")
            _check_quality_alone(session, instance, contract)
        elif kind == "advance_payment" and amount > _dec(contract.get("contract_amount")):
            raise Invalid("the guarantee exceeds the contract", {"amount": ["an advance is part of the contract amount"]})
        form = body.get("form")
        online = _issuer_online(instance, form)
        g = _new(session, instance, kind, amount, "submitted" if online else "active", principal.name, form=form,
                 guarantee_no=body.get("guarantee_no"), issuer=body.get("issuer"), valid_from=valid_from,
                 valid_to=valid_to, document_sha256=body.get("document_sha256"),
                 verification_code=body.get("verification_code"), electronic=online,
                 issuer_org=instance.roles.get("guarantor") if online else None)
        if kind == "payment":
            g.applicant_org, g.beneficiary_org = instance.roles.get("employer"), instance.roles.get("contractor")
        if not online:
            g.activated_on = _today()
        _event(session, g, principal.name, "submitted", {k: body.get(k) for k in (
            "form", "guarantee_no", "issuer", "amount", "valid_from", "valid_to", "document_sha256", "verification_code")})
        step.record("guarantee_recorded", None, {"guarantee_id": g.id, "kind": kind, "amount": g.amount})
        return g.id

    guarantee_id = run_step(db, principal, instance_id, apply)
    with db.read() as session:
        return view(session, session.get(Guarantee, guarantee_id), principal, full=True)


def _check_quality_alone(session: Session, instance: Instance, contract: Mapping[str, Any]) -> None:
    held = {g.kind: g for g in session.scalars(select(Guarantee).where(Guarantee.instance_id == instance.id,
                                                                      Guarantee.status.in_(HELD)))}
    track, category = contract.get("track"), contract.get("category")
    if "performance" in held and track and category:
        for rule in timing.registry().limits_for("retention", track, category, _on(contract), kind="prohibition"):
            raise Invalid("no quality guarantee beside a performance guarantee", {"kind": [
                f"the contract holds a performance guarantee ({held['performance'].status}): no quality security "
                f"beside it {_cite(rule)}"]})
    quality = held.get("quality")
    if quality is not None:
        what = "retention is withheld" if quality.form == "retention" else "a quality guarantee is held"
        raise Invalid("the contract has its quality security", {"kind": [
            f"{what} already: one quality security per contract (《建设工程质量保证金管理办法》第七条, Q01)"]})


# ---------------------------------------------------------------------------- claims
def _claims(session: Session, guarantee_id: str) -> list[GuaranteeClaim]:
    return list(session.scalars(select(GuaranteeClaim).where(GuaranteeClaim.guarantee_id == guarantee_id)
                                .order_by(GuaranteeClaim.no)))


def file_claim(db: Database, principal: Principal, guarantee_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The beneficiary claims on a guarantee (索赔) after a confirmed non-performance; the claim reaches the
    guarantor as its pay_claim task, due by CL01 (CLAIM_UNPAID when it passes).

    `body`: reason (refused_to_sign | non_performance), amount (≤ what the guarantee still covers),
    claimed_at (date, default today), alert_id (non_performance: a red non-performance alert against the
    applicant, confirmed by the department), note. A refusal to sign also ends the signing in the diagram
    (award_refused) and settles the signing warnings, which no longer concern the employer."""
    reason, alert_id = body.get("reason"), body.get("alert_id")
    with db.read() as session:
        g = session.get(Guarantee, guarantee_id)
        if g is None or not _visible(session, principal, g):
            raise NotFound("no such guarantee")
        instance_id = g.instance_id

    def apply(step: steps.Step):
        session, instance = step.session, step.instance
        g = session.get(Guarantee, guarantee_id)
        if principal.role != "admin" and not (principal.role == "party" and principal.org_code == g.beneficiary_org):
            raise Forbidden("only the beneficiary of the guarantee files a claim on it")
        if instance.status != "running":
            raise Conflict(f"the contract is {instance.status}: its guarantees are no longer claimed here")
        if g.status not in CLAIMABLE or g.form not in ISSUED_FORMS:
            raise Conflict(f"the guarantee is {g.status} ({g.form or 'not given'}): only a guarantee in force, "
                           "issued by a guarantor, is claimed")
        if not g.issuer_org or instance.roles.get("guarantor") != g.issuer_org:
            raise Conflict("the guarantee's issuer is not the contract's guarantor: claim with the issuer directly")
        errors: dict[str, list[str]] = {}
        if reason not in CLAIM_REASONS:
            errors["reason"] = [f"one of {', '.join(CLAIM_REASONS)}"]
        amount = _claim_amount(session, g, body.get("amount"), errors)
        claimed_at = _claim_date(body.get("claimed_at"), errors)
        alert = None
        if reason == "refused_to_sign":
            if g.kind != "bid":
                errors["reason"] = ["refused_to_sign is a claim on the bid guarantee (条例613 art 74)"]
            elif not any(t.element_id in REFUSABLE_TASKS for t in spiff.ready_user_tasks(step.wf)):
                raise Conflict("the contract is not waiting to be signed: the contractor can no longer refuse to sign it")
            else:
                _check_refusal_established(session, instance, g, claimed_at, body.get("claimed_at") is not None, errors)
        elif reason == "non_performance":
            alert = _confirmed_alert(session, g, alert_id, errors)
        if errors:
            raise Invalid("the claim is invalid", errors)
        no = len(_claims(session, g.id)) + 1
        claim = GuaranteeClaim(id=str(uuid.uuid4()), guarantee_id=g.id, instance_id=instance.id, no=no, reason=reason,
                               alert_id=alert.id if alert is not None else None, amount=amount,
                               claimed_at=claimed_at, status="filed", filed_at=clock.now(), filed_by=principal.name,
                               note=body.get("note"))
        session.add(claim)
        g.status = "claimed"
        session.flush()
        _event(session, g, principal.name, "claimed", {"claim_no": no, "reason": reason, "amount": claim.amount,
                                                       "claimed_at": claimed_at, "alert_id": claim.alert_id})
        # The claim first: a refusal then ends the signing while the claim still holds the contract open.
        # Task data keeps money and dates as the API writes them (strings), like a completed form's data.
        payload = {"claim": {"id": claim.id, "no": no, "guarantee_id": g.id, "guarantee_no": g.guarantee_no,
                             "kind": g.kind, "reason": reason, "amount": _money(claim.amount),
                             "claimed_at": claimed_at.isoformat()}}
        if not spiff.start_event_subprocess(step.wf, CLAIM_MESSAGE, payload):
            raise Conflict("this contract's process has no claim path (guarantee_claimed); migrate it to a newer version")
        step.record("guarantee_claimed", None, {"claim_id": claim.id, "guarantee_id": g.id, "amount": claim.amount})
        if reason == "refused_to_sign":
            spiff.deliver_message(step.wf, REFUSAL_MESSAGE, {"award_refused_at": claimed_at.isoformat()})
            _settle_refused_signing(session, instance, claimed_at)
            step.record("award_refused", None, {"claim_id": claim.id, "guarantee_id": g.id})

    return run_step(db, principal, instance_id, apply,
                    after=lambda step, _: view(step.session, step.session.get(Guarantee, guarantee_id), principal, full=True))


def signing_period(instance: Instance) -> deadlines.Deadline | None:
    """The end of the contractor's signing period: 30 days from the award notice, R04 (tendering) or G03
    (government procurement), computed as the diagram's `deadline(...)` computes it (bpmn/post_award.bpmn
    SIGNING_DUE). None when the contract holds no award notice date."""
    data = instance.data or {}
    start = _day(data.get("award_notice_date"))
    if start is None:
        return None
    rule = "R04" if data.get("track") == "tendering" else "G03"
    try:
        return deadlines.deadline(rule, start, timing.calendar(), timing.registry())
    except KeyError:  # rules.UnknownRule: an award before the rule took effect has no statutory period here
        return None


def _refusal_confirmation(session: Session, g: Guarantee) -> GuaranteeEvent | None:
    return session.scalar(select(GuaranteeEvent).where(GuaranteeEvent.guarantee_id == g.id,
                                                       GuaranteeEvent.event == "refusal_confirmed")
                          .order_by(GuaranteeEvent.seq.desc()).limit(1))


def _check_refusal_established(session: Session, instance: Instance, g: Guarantee, claimed_at: date, dated: bool,
                               errors: dict[str, list[str]]) -> None:
    """A refusal to sign stands once the signing period passed unsigned, or on the department's confirmation
    (also where the period cannot be computed: the rule fails closed)."""
    period = signing_period(instance)
    if period is not None and claimed_at > period.last_day:
        return
    confirmed = _refusal_confirmation(session, g)
    refused_at = _day(confirmed.data.get("refused_at")) if confirmed is not None else None
    if refused_at is not None and claimed_at >= refused_at:
        return
    confirmation = (f"the supervising department confirmed the refusal (POST /guarantees/{g.id}/refusal-confirmation), "
                    "not on the employer's word alone")
    if period is None:
        reason = (f"this contract's signing period cannot be computed (no award notice date): a claim for refusal to "
                  f"sign ({BASIS_REFUSAL}) is accepted once {confirmation}")
    else:
        after = (period.last_day + timedelta(days=1)).isoformat()
        reason = (f"the contractor may sign until {period.last_day.isoformat()} ({period.rule_id}, {period.legal_basis}): "
                  f"a claim for refusal to sign ({BASIS_REFUSAL}) is accepted from {after}, or before that once "
                  f"{confirmation}")
    if confirmed is not None:
        reason += f"; the department confirmed a refusal on {confirmed.data.get('refused_at')}, after {claimed_at}"
    errors["claimed_at" if dated else "reason"] = [reason]


def confirm_refusal(db: Database, principal: Principal, guarantee_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The supervising department confirms that the contractor refused to sign (e.g. its written refusal) inside
    the signing period, so that the beneficiary may claim the bid guarantee before the period ends.

    `body`: refused_at (date of the refusal, not after today nor before the award notice), note (the evidence,
    required). Only a supervisor of the contract's department (or its parents) or an admin; the bid guarantee
    of a contract still waiting to be signed (409 otherwise). Returns the guarantee with its history."""
    with db.read() as session:
        g = session.get(Guarantee, guarantee_id)
        if g is None or not _visible(session, principal, g):
            raise NotFound("no such guarantee")
        instance_id = g.instance_id

    def apply(step: steps.Step):
        session, instance = step.session, step.instance
        g = session.get(Guarantee, guarantee_id)
        if principal.role != "admin" and not (principal.role == "supervisor"
                                              and instance.department_code in principal.departments):
            raise Forbidden("only the contract's supervising department confirms a refusal to sign")
        if g.kind != "bid":
            raise Conflict(f"a refusal to sign concerns the bid guarantee, not this {g.kind} guarantee")
        if instance.status != "running" or not any(t.element_id in REFUSABLE_TASKS
                                                   for t in spiff.ready_user_tasks(step.wf)):
            raise Conflict("the contract is not waiting to be signed: there is no refusal to confirm")
        errors: dict[str, list[str]] = {}
        try:
            day = values.parse_date(body["refused_at"]) if body.get("refused_at") is not None else None
        except values.BadValue as exc:
            errors["refused_at"] = [str(exc)]
            day = None
        award = _day((instance.data or {}).get("award_notice_date"))
        if day is None:
            errors.setdefault("refused_at", ["required: the date of the refusal as 'YYYY-MM-DD'"])
        elif day > _today():
            errors["refused_at"] = [f"{day.isoformat()} is after today"]
        elif award and day < award:
            errors["refused_at"] = [f"{day.isoformat()} is before the award notice of {award}"]
        note = body.get("note")
        if not isinstance(note, str) or not note.strip():
            errors["note"] = ["required: what establishes the refusal (e.g. the contractor's written refusal)"]
        if errors:
            raise Invalid("the confirmation is invalid", errors)
        data = {"refused_at": day.isoformat(), "note": note, "department": instance.department_code}
        _event(session, g, principal.name, "refusal_confirmed", data)
        step.record("refusal_confirmed", None, {"guarantee_id": g.id, **data})

    return run_step(db, principal, instance_id, apply,
                    after=lambda step, _: view(step.session, step.session.get(Guarantee, guarantee_id), principal, full=True))


def _claim_amount(session: Session, g: Guarantee, value: Any, errors) -> Decimal:
    covered = _dec(g.amount) - sum((_dec(c.amount) for c in _claims(session, g.id)), Decimal(0))
    if value is None:
        return covered
    try:
        amount = values.parse_money(value)
    except values.BadValue as exc:
        errors["amount"] = [str(exc)]
        return covered
    if amount <= 0:
        errors["amount"] = ["more than zero"]
    elif amount > covered:
        errors["amount"] = [f"{_money(amount)} CNY is more than the {_money(covered)} CNY the guarantee still covers"]
    return amount


def _claim_date(value: Any, errors) -> date:
    if value is None:
        return _today()
    try:
        day = values.parse_date(value)
    except values.BadValue as exc:
        errors["claimed_at"] = [str(exc)]
        return _today()
    if day > _today():
        errors["claimed_at"] = [f"{day.isoformat()} is after today"]
    return day


def _confirmed_alert(session: Session, g: Guarantee, alert_id: Any, errors) -> Alert | None:
    """The red non-performance alert against the applicant, confirmed by its department, that a
    non-performance claim rests on."""
    alert = session.get(Alert, alert_id) if isinstance(alert_id, str) else None
    if alert is None or alert.instance_id != g.instance_id:
        errors["alert_id"] = ["the red non-performance alert of this contract the claim rests on"]
        return None
    decision = session.get(AlertDecision, alert.id)
    if alert.kind != "non_performance" or alert.severity != "red" or alert.responsible_org != g.applicant_org:
        errors["alert_id"] = [f"alert {alert.code} is {alert.severity} {alert.kind} against {alert.responsible_org}: a claim "
                              f"needs a red non-performance alert against the applicant {g.applicant_org}"]
    elif decision is None or decision.decision != "confirmed":
        errors["alert_id"] = [f"alert {alert.code} is not confirmed by the department yet "
                              "(POST /alerts/{id}/confirm): the non-performance is not established"]
    return alert


def _settle_refused_signing(session: Session, instance: Instance, day: date) -> None:
    """The warnings on the signing no longer concern the employer once the contractor refused to sign."""
    now = clock.now()
    for alert in session.scalars(select(Alert).where(Alert.instance_id == instance.id, Alert.status != "resolved",
                                                     Alert.element_id.in_(REFUSABLE_TASKS))):
        alert.status, alert.resolved_at, alert.updated_at = "resolved", now, now
        alert.resolution = f"award forfeited on {day}: the contractor refused to sign ({BASIS_REFUSAL})"
        alerts._notify(session, alert, "alert.resolved")


# ---------------------------------------------------------------------------- the issuer's platform
def set_callback_secret(session: Session, org_code: str, secret: str) -> GuarantorEndpoint:
    """Set (or rotate) the HMAC secret an issuer's e-guarantee platform signs its callbacks with."""
    if session.get(Organisation, org_code) is None:
        raise NotFound(f"no organisation {org_code}")
    if not isinstance(secret, str) or len(secret) < 16:
        raise Invalid("the secret is too short", {"secret": ["at least 16 characters"]})
    now = clock.now()
    endpoint = session.get(GuarantorEndpoint, org_code)
    if endpoint is None:
        endpoint = GuarantorEndpoint(org_code=org_code, callback_secret=secret, created_at=now, updated_at=now)
        session.add(endpoint)
    else:
        endpoint.callback_secret, endpoint.updated_at = secret, now
    return endpoint


def _authenticate_issuer(db: Database, instance_id: str, body: bytes, signature: str | None) -> str:
    """The guarantor organisation whose secret signed `body` for this contract; Unauthenticated otherwise
    (the same answer for an unknown contract, no guarantor, no secret or a wrong signature)."""
    refused = Unauthenticated("the callback's signature does not verify with the secret of this contract's guarantor")
    if not signature:
        raise refused
    with db.read() as session:
        instance = session.get(Instance, instance_id)
        org = instance.roles.get("guarantor") if instance is not None else None
        endpoint = session.get(GuarantorEndpoint, org) if org else None
        secret = endpoint.callback_secret if endpoint is not None else None
    if secret is None or not hmac.compare_digest(webhooks.sign(secret, body), signature.strip()):
        raise refused
    return org


_CALLBACK_FIELDS = {"guarantee_no", "amount", "valid_to", "document_sha256", "verification_code", "verified", "issued_at",
                    "issuer", "note"}


def issuer_callback(db: Database, instance_id: str, body: bytes, signature: str | None) -> dict[str, Any]:
    """The issuer's e-guarantee platform confirms a guarantee (guarantee_issued), signed with its secret.

    With the contract's verify_guarantee task ready, the confirmation completes it as the guarantor would
    (a mismatch with the contractor's submission is a 422 naming the field); before the contractor submitted,
    it is kept on the guarantee (status `issued`) and verifies the matching submission later. Returns the
    guarantee."""
    org = _authenticate_issuer(db, instance_id, body, signature)
    document = strictjson.load_body(body)
    payload = document.get("payload") if isinstance(document, dict) else None
    if not isinstance(payload, dict):
        raise Invalid("the callback carries {\"payload\": {...}}", {"payload": ["required: an object"]})
    errors = {f"payload.{k}": ["unknown field; known: " + ", ".join(sorted(_CALLBACK_FIELDS))]
              for k in payload if k not in _CALLBACK_FIELDS}
    if not isinstance(payload.get("guarantee_no"), str) or not payload["guarantee_no"].strip():
        errors["payload.guarantee_no"] = ["required: the guarantee number"]
    if payload.get("verified", True) is not True and payload.get("verified") is not False:
        errors["payload.verified"] = ["a boolean"]
    if errors:
        raise Invalid("the callback payload is invalid", errors)
    principal = Principal(0, f"platform:{org}", "party", org_code=org)
    with db.read() as session:
        recorded = session.scalar(select(Guarantee.id).where(
            Guarantee.instance_id == instance_id, Guarantee.kind != "performance", Guarantee.status == "submitted",
            Guarantee.guarantee_no == payload["guarantee_no"], Guarantee.issuer_org == org))
        task = session.scalar(select(TaskRow).where(TaskRow.instance_id == instance_id, TaskRow.element_id == VERIFY,
                                                    TaskRow.state == "ready"))
        task_id = task.id if task is not None else None
    if recorded is not None:
        return _verify_recorded(db, principal, instance_id, recorded, payload)
    if task_id is not None:
        data = {k: payload[k] for k in ("guarantee_no", "amount", "valid_to", "document_sha256", "verification_code",
                                        "note") if payload.get(k) is not None}
        data["verified"] = payload.get("verified", True)
        _complete_as_issuer(db, principal, instance_id, task_id, data)
    else:
        _keep_notice(db, principal, instance_id, payload)
    with db.read() as session:
        g = _current(session, instance_id, "performance")
        return view(session, g, principal, full=True)


def _complete_as_issuer(db: Database, principal: Principal, instance_id: str, task_id: str, data: dict[str, Any]) -> None:
    """The issuer's platform completes the contract's verify task, as its guarantor lane would: the same checks
    (403 outside the lane, 409 no longer ready, 422 on the form) in one step."""
    def apply(step: steps.Step):
        row = step.session.get(TaskRow, task_id)
        authz.require_act(principal, row)
        if row.state != "ready" or step.instance.status != "running":
            raise Conflict(f"task {row.element_id} is {row.state}, no longer ready")
        complete_task(step, task_id, row.element_id, data, principal.name)
        row.completed_by = principal.name

    run_step(db, principal, instance_id, apply, after=lambda step, _: None)


def _verify_recorded(db: Database, principal: Principal, instance_id: str, guarantee_id: str,
                     payload: dict[str, Any]) -> dict[str, Any]:
    """The issuer confirms (or refuses) a guarantee recorded through POST /guarantees: no task, the same checks."""

    form = [{"name": "amount", "type": "decimal", "required": False}, {"name": "valid_to", "type": "date", "required": False},
            {"name": "document_sha256", "type": "sha256", "required": False}]
    typed, errors = forms.validate(form, {k: payload[k] for k in ("amount", "valid_to", "document_sha256")
                                          if payload.get(k) is not None}, "data")
    if errors:
        raise Invalid("the callback payload is invalid", errors)
    data = {**{k: payload.get(k) for k in ("guarantee_no", "verification_code", "note")}, **typed,
            "verified": payload.get("verified", True)}

    def apply(step: steps.Step):
        g = step.session.get(Guarantee, guarantee_id)
        _verified(step, data, principal.name, g)
        step.record("guarantee_verified" if data["verified"] else "guarantee_refused", None,
                    {"guarantee_id": g.id, "guarantee_no": g.guarantee_no, "by": principal.name})
        return None

    run_step(db, principal, instance_id, apply)
    with db.read() as session:
        return view(session, session.get(Guarantee, guarantee_id), principal, full=True)


def _keep_notice(db: Database, principal: Principal, instance_id: str, payload: dict[str, Any]) -> None:

    form = [{"name": "amount", "type": "decimal", "required": False}, {"name": "valid_to", "type": "date", "required": False},
            {"name": "document_sha256", "type": "sha256", "required": False},
            {"name": "issued_at", "type": "date", "required": False}]
    _, errors = forms.validate(form, {k: payload[k] for k in ("amount", "valid_to", "document_sha256", "issued_at")
                                      if payload.get(k) is not None}, "payload")
    if errors:
        raise Invalid("the callback payload is invalid", errors)

    def apply(step: steps.Step):
        session = step.session
        g = _current(session, instance_id, "performance")
        if g is None:
            raise Conflict("the contract holds no performance guarantee to confirm")
        if g.status in ("active", "claimed", "paid_out", "released") and g.guarantee_no == payload["guarantee_no"]:
            return None  # confirmed already: the platform retried
        if g.status not in ("required", "issued", "rejected"):
            raise Conflict(f"the guarantee is {g.status}: nothing awaits the issuer's confirmation")
        if payload.get("verified") is False:
            raise Conflict("nothing awaits a refusal: the contractor has not submitted this guarantee")
        notice = {k: payload.get(k) for k in (*_VERIFIED_FIELDS, "verification_code", "issued_at", "issuer")}
        notice["amount"] = None if notice["amount"] in (None, "") else _money(_dec(notice["amount"]))
        notice["by"] = principal.name
        g.issuer_notice = notice
        if g.status == "required":
            g.status = "issued"
        _event(session, g, principal.name, "issued", notice)
        step.record("guarantee_issued", None, {"guarantee_id": g.id, "guarantee_no": notice["guarantee_no"],
                                               "by": principal.name})
        return None

    run_step(db, principal, instance_id, apply)


# ---------------------------------------------------------------------------- reading
def _visible(session: Session, principal: Principal, g: Guarantee) -> bool:
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
        claims = _claims(session, g.id)
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


# ---------------------------------------------------------------------------- the contract ledger (engine/ledger.py)
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


# ---------------------------------------------------------------------------- the monthly report's indicators
def _scope(scope: Any) -> tuple[date, date, set[str] | None]:
    """(first day, last day, department codes or None for all) from a report scope: engine/reports.py's
    ReportScope, or a mapping with `month` ("YYYY-MM" or a date in it) and optionally `departments` (codes) or
    `department` (one code)."""
    get = (lambda k: scope.get(k)) if isinstance(scope, Mapping) else (lambda k: getattr(scope, k, None))
    month = get("month")
    if isinstance(month, date):
        first = month.replace(day=1)
    else:
        try:
            first = date.fromisoformat(f"{month}-01")
        except (TypeError, ValueError):
            raise Invalid("month is YYYY-MM", {"month": ["a month written YYYY-MM, e.g. 2026-10"]}) from None
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    depts = get("departments")
    if depts is None and get("department"):
        depts = [get("department")]
    return first, last, (set(depts) if depts is not None else None)


def _sum(column):
    """SUM of a money column in SQL (over integer fen, so exact), 0.00 over no rows."""
    return func.coalesce(func.sum(column), Decimal(0))


def _in_scope(column, depts: set[str] | None):
    return column.in_(sorted(depts)) if depts is not None else true()


INDICATOR_DEFINITIONS = {
    "e_guarantees.count": "Electronic guarantees of contracts in scope that came into force in the month (China time): "
                          "verified by their issuer (verify_guarantee or its signed callback) or posted electronically "
                          "(a bid bond given as e_guarantee, counted on the award notice date).",
    "e_guarantees.cash_replaced": "The sum of their amounts: the cash deposits they stand in for (CNY).",
    "e_guarantees.by_kind": "The same, per kind of guarantee (bid, performance, advance_payment, quality, payment).",
    "exemptions.count": "Securities waived or reduced by a credit offset (rules CR01, CR02 …), counted on the award "
                        "notice date.",
    "exemptions.freed": "The deposit money they freed: the whole bond for an exemption, the part waived for a reduction.",
    "contracts.signed": "Contracts in scope whose signing date (signed_at) lies in the month.",
    "contracts.filed_online": "Contracts in scope filed through Lvyue (file_contract) with a filing date in the month.",
    "payments.count": "Payments recorded with a payment date (paid_at) in the month; amount their sum.",
    "payments.with_invoice": "Those of them whose milestone carries an invoice the contractor submitted.",
    "alerts.raised": "Alerts raised in the month (any severity, by the instant raised), by kind.",
    "alerts.leads_transferred": "Leads handed to discipline inspection in the month: red alerts a department confirmed "
                                "(the lead written, by its creation instant).",
}


def monthly_indicators(session: Session, scope: Any) -> dict[str, Any]:
    """The seed's indicators of one month (China time) for the departments of `scope`:

    * `e_guarantees`: electronic guarantees that came into force in the month (issuer-verified, or posted
      electronically), with the cash deposits they replaced (their amounts), by kind;
    * `exemptions`: securities a credit offset waived in the month (by the award notice date), with the deposit
      money freed, by rule;
    * `contracts`: contracts signed in the month (`signed_at`) and filed online in it (`filed_at`);
    * `payments`: payments made in the month (`paid_at`), and those of a milestone the contractor invoiced;
    * `alerts`: alerts raised in the month, by kind, and the leads transferred to discipline inspection
      (written when a department confirmed a red alert).
    Money as decimal strings."""
    first, last, depts = _scope(scope)
    ids = getattr(scope, "instance_ids", None)
    if ids is not None:  # ReportScope: exactly the contracts of the report
        depts = set(ids)
        dept_of = lambda column_instance, column_dept: column_instance  # noqa: E731
    else:
        dept_of = lambda column_instance, column_dept: column_dept  # noqa: E731
    lo, hi = first.isoformat(), last.isoformat()
    start = deadlines.end_of_day(first - timedelta(days=1))
    end = deadlines.end_of_day(last)
    guarantees_in_month = (Guarantee.activated_on >= first, Guarantee.activated_on <= last,
                           _in_scope(dept_of(Guarantee.instance_id, Guarantee.department_code), depts))

    by_kind: dict[str, dict[str, Any]] = {}
    for kind, n, amount in session.execute(select(Guarantee.kind, func.count(), _sum(Guarantee.amount)).where(
            Guarantee.electronic.is_(True), *guarantees_in_month).group_by(Guarantee.kind)):
        by_kind[kind] = {"count": n, "cash_replaced": amount}
    e_total = {"count": sum(e["count"] for e in by_kind.values()),
               "cash_replaced": _money(sum((e["cash_replaced"] for e in by_kind.values()), Decimal(0)))}

    by_rule: dict[str, dict[str, Any]] = {}
    for rule, n, freed in session.execute(select(Guarantee.exemption_rule, func.count(), _sum(Guarantee.freed_amount))
                                          .where(Guarantee.exempt_percent.is_not(None), *guarantees_in_month)
                                          .group_by(Guarantee.exemption_rule)):
        entry = by_rule.setdefault(rule or "unknown", {"count": 0, "freed": Decimal(0)})
        entry["count"] += n
        entry["freed"] += freed

    signed = filed = 0
    instances = select(Instance.id, Instance.data).where(_in_scope(dept_of(Instance.id, Instance.department_code), depts))
    for _, data in session.execute(instances):
        data = data or {}
        if lo <= str(data.get("signed_at") or "")[:10] <= hi:
            signed += 1
        if lo <= str(data.get("filed_at") or "")[:10] <= hi:
            filed += 1

    in_depts = select(Instance.id).where(_in_scope(dept_of(Instance.id, Instance.department_code), depts))
    invoiced = select(Invoice.id).where(Invoice.instance_id == Payment.instance_id,
                                        Invoice.milestone_no == Payment.milestone_no).exists()
    paid, paid_invoiced = (session.execute(select(func.count(), _sum(Payment.amount)).where(
        Payment.paid_at >= first, Payment.paid_at <= last, Payment.instance_id.in_(in_depts), *extra)).one()
        for extra in ((), (invoiced,)))

    raised: dict[str, int] = {}
    for kind, n in session.execute(select(Alert.kind, func.count()).where(
            Alert.raised_at >= start, Alert.raised_at < end,
            _in_scope(dept_of(Alert.instance_id, Alert.department_code), depts)).group_by(Alert.kind)):
        raised[kind] = n
    leads = _leads_transferred(session, start, end, depts, ids is not None)

    return {
        "month": first.strftime("%Y-%m"),
        "e_guarantees": {"by_kind": {k: {"count": v["count"], "cash_replaced": _money(v["cash_replaced"])}
                                     for k, v in sorted(by_kind.items())}, **e_total},
        "exemptions": {"count": sum(v["count"] for v in by_rule.values()),
                       "freed": _money(sum((v["freed"] for v in by_rule.values()), Decimal(0))),
                       "by_rule": {k: {"count": v["count"], "freed": _money(v["freed"])} for k, v in sorted(by_rule.items())}},
        "contracts": {"signed": signed, "filed_online": filed},
        "payments": {"count": paid[0], "amount": _money(paid[1]),
                     "with_invoice": {"count": paid_invoiced[0], "amount": _money(paid_invoiced[1])}},
        "alerts": {"raised": sum(raised.values()), "by_kind": dict(sorted(raised.items())), "leads_transferred": leads},
    }


def _leads_transferred(session: Session, start: datetime, end: datetime, depts: set[str] | None, by_instance: bool) -> int:
    column = Lead.instance_id if by_instance else Lead.department_code
    return session.scalar(select(func.count()).select_from(Lead).where(
        Lead.created_at >= start, Lead.created_at < end, _in_scope(column, depts))) or 0


# ---------------------------------------------------------------------------- OCDS (community guarantees extension)
# guaranteeType (INAI Mexico's extension, DOMAIN.md §3.3) with local codes where it has none.
OCDS_TYPES = {"cash": "depositSlip", "bank_guarantee": "letterOfCredit", "insurance_policy": "suretyBond",
              "guarantee_company": "bail", "e_guarantee": "electronicGuarantee", "retention": "retention"}
OCDS_OBLIGATIONS = {"bid": "bidBond", "performance": "fulfillment", "advance_payment": "prepaid", "quality": "quality",
                    "payment": "payment"}


def ocds_guarantees(session: Session, instance: Instance) -> list[dict[str, Any]]:
    """`contracts[].guarantees[]` of the community guarantees extension: {id, type, date, obligations, value,
    guarantor, period}. Exempted securities are left out (nothing was given)."""
    out = []
    rows = session.scalars(select(Guarantee).where(Guarantee.instance_id == instance.id, Guarantee.form.is_not(None),
                                                   Guarantee.status != "exempt").order_by(Guarantee.created_at, Guarantee.id))
    for g in rows:
        if g.form not in OCDS_TYPES:
            continue
        entry: dict[str, Any] = {"id": g.guarantee_no or g.id, "type": OCDS_TYPES[g.form],
                                 "obligations": OCDS_OBLIGATIONS[g.kind],
                                 "value": {"amount": values.money_number(g.amount), "currency": "CNY"}}
        if g.activated_on:
            entry["date"] = f"{g.activated_on}T00:00:00+08:00"
        if g.issuer_org or g.issuer:
            org = session.get(Organisation, g.issuer_org) if g.issuer_org else None
            entry["guarantor"] = {"id": g.issuer_org, "name": org.name if org else g.issuer} if g.issuer_org else {"name": g.issuer}
        period = {}
        if g.valid_from or g.activated_on:
            period["startDate"] = f"{g.valid_from or g.activated_on}T00:00:00+08:00"
        if g.valid_to:
            period["endDate"] = f"{g.valid_to}T23:59:59+08:00"
        if period:
            entry["period"] = period
        out.append(entry)
    return out


OCDS_EXTENSION_URL = "https://raw.githubusercontent.com/contratacionesabiertas/ocds_guarantees_extension/master/extension.json"


def ocds_extension(session: Session, instance: Instance, release: dict[str, Any]) -> dict[str, Any]:
    """Add the guarantees to every contract of an OCDS release, in place (for `ocds.register_extension`)."""
    found = ocds_guarantees(session, instance)
    if found:
        for contract in release.get("contracts") or []:
            contract["guarantees"] = found
    return release
