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
engine/rules.json: CR01 AAA exempt nationally, CR02 AA/A halved locally). The transitions, caps and
mismatch checks are pure functions in guarantee_lifecycle.py (unit-tested without a database): the use
cases here load the rows, ask it, and store the status and events it returns (`_apply`), each in one step.
The read side (the API's views, the contract ledger's summary) is guarantee_views.py; the monthly report's
"guarantees" section is reports.guarantee_indicators and the OCDS extension ocds.guarantees_extension, both
registered by engine/bootstrap.py.

The issuer's e-guarantee platform confirms by a signed callback instead of its user
(`issuer_callback`): `POST /api/v1/instances/{id}/messages/guarantee_issued`, signed like Lvyue's own
webhooks (engine/runtime/webhooks.py) with the secret of the organisation bound to the contract's
`guarantor` role (`GuarantorEndpoint`, set by `lvyue orgs callback-secret`): either per Standard Webhooks
(`webhook-id`, `webhook-timestamp` within five minutes of Lvyue's clock, `webhook-signature: v1,<base64
HMAC-SHA256 over id.timestamp.body>`), or — deprecated, kept for one release, replayable since it has no
timestamp — `X-Lvyue-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`. A callback that comes before the
contractor's submission is kept on the guarantee (status `issued`) and verifies the submission that
matches it in the contractor's own step.

Releasing an e-guarantee sends the cancellation (注销) to its issuer: recorded on the guarantee as a
`cancellation_requested` event with `cancellation_requested_at`, listed for the issuer with
`GET /guarantees?cancellation=requested` (there is no organisation webhook outbox: the issuer polls).
"""
from __future__ import annotations

import hmac
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import clock
from engine.access import authz, signing
from engine.access.directory import Principal
from engine.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from engine.runtime import forms, spiff, steps, strictjson, values, webhooks
from engine.runtime.runner import complete_task, run_step
from engine.storage.db import Database
from engine.storage.models import (Alert, AlertDecision, Guarantee, GuaranteeClaim, GuaranteeEvent, GuarantorEndpoint,
                                   Instance, Organisation, TaskRow)
from engine.supervision import alerts, bindings, deadlines, timing
from engine.supervision import guarantee_lifecycle as lifecycle
from engine.supervision.guarantee_lifecycle import CLAIM_REASONS, ISSUED_FORMS
from engine.supervision.guarantee_views import claims_of, view, visible

# The process library's elements this ledger follows (bpmn/post_award.bpmn).
SUBMIT, VERIFY, RENEW, PAY_CLAIM = (bindings.SUBMIT_GUARANTEE, bindings.VERIFY_GUARANTEE, bindings.RENEW_GUARANTEE,
                                    bindings.PAY_CLAIM)
RELEASES = {bindings.RELEASE_BID_BOND: "bid", bindings.RELEASE_PERFORMANCE: "performance",
            bindings.RELEASE_RETENTION: "quality"}
CLAIM_MESSAGE, REFUSAL_MESSAGE = "guarantee_claimed", "award_refused"
REFUSABLE_TASKS = (bindings.SIGN_CONTRACT, bindings.CONFIRM_SIGNATURE, SUBMIT)
BASIS_REFUSAL = "《中华人民共和国招标投标法实施条例》第七十四条"
# Where the rule registry caps each kind on entry (its `subject`).
CAP_SUBJECTS = {"bid": "bid_bond", "performance": "performance_guarantee", "quality": "retention"}
SIGNATURE_HEADER = webhooks.LEGACY_SIGNATURE_HEADER  # deprecated; Standard Webhooks' headers are preferred
STANDARD_SIGNATURE_HEADER = "webhook-signature"


# ---------------------------------------------------------------------------- small helpers
_dec = values.amount_of
_money = values.format_money
_fen = lifecycle.fen


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


_today = values.today
_day = deadlines.business_day


def _on(data: Mapping[str, Any]) -> date:
    """The date that selects the rule versions of a contract: its award notice (as contract_terms does)."""
    return _day(data.get("award_notice_date")) or _today()


def _event(session: Session, g: Guarantee, actor: str, event: str, data: dict[str, Any] | None = None) -> None:
    seq = (session.scalar(select(func.max(GuaranteeEvent.seq)).where(GuaranteeEvent.guarantee_id == g.id)) or 0) + 1
    session.add(GuaranteeEvent(guarantee_id=g.id, seq=seq, at=clock.now(), actor=actor, event=event,
                               data=forms.to_json(data or {})))
    g.updated_at = clock.now()
    session.flush()


def _apply(session: Session, g: Guarantee, actor: str, outcome: lifecycle.Outcome) -> None:
    """Store what a transition of the lifecycle decided: the status (and the day it came into force), then its
    events in order (a cancellation request stamps the guarantee when it is recorded)."""
    g.status = outcome.status
    if outcome.activated:
        g.activated_on = _today()
    for name, data in outcome.events:
        if name == "cancellation_requested":
            g.cancellation_requested_at = clock.now()
        _event(session, g, actor, name, data)


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
    if bond.get("form") in ("commitment_letter", "not_required"):
        # No money posted: a credit commitment in place of the bond (what a refusal to sign breaks), or no bond at
        # all; recorded as nothing to refund.
        session.flush()  # the new instance's row first: the guarantee refers to it
        _new(session, instance, "bid", Decimal("0.00"), "exempt", actor, form=bond["form"], activated_on=award)
    elif bond:
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
    amount = _dec(bond.get("amount"))
    entry = lifecycle.bid_bond(form, amount, rating, rules)
    if entry.status == "exempt":
        g = _new(session, instance, "bid", amount, "exempt", actor, form="exempt", activated_on=award,
                 exemption_rule=entry.rule.id if entry.rule else None, exempt_percent=entry.exempt_percent,
                 freed_amount=entry.freed_amount)
    else:
        electronic = form == "e_guarantee"
        g = _new(session, instance, "bid", amount, entry.status, actor, form=form, electronic=electronic,
                 activated_on=award, issuer_org=instance.roles.get("guarantor") if electronic else None)
        if entry.rule is not None:
            g.exemption_rule, g.exempt_percent, g.freed_amount = entry.rule.id, entry.exempt_percent, entry.freed_amount
    if entry.event is not None:
        _event(session, g, actor, *entry.event)


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
    lifecycle.check_caps(kind, amount, contract_amount,
                         timing.registry().limits_for(subject, track, category, _on(contract)), path)


def _submitted(step: steps.Step, data: dict[str, Any], actor: str) -> None:
    session, instance = step.session, step.instance
    contract = _contract(step)
    g = _current(session, instance.id, "performance")
    if g is None:  # a contract started before this ledger existed
        g = _new(session, instance, "performance", 0, "required", actor)
    amount = _money_in(data.get("amount"), "data.amount")
    valid_to = _date_in(data.get("valid_to"), "data.valid_to")
    _check_cap("performance", contract, amount, "data.amount")
    lifecycle.check_covers(amount, contract.get("contract_amount"), contract.get("performance_guarantee_rate"))
    form = data.get("form")
    online = _issuer_online(instance, form)
    outcome = lifecycle.submit(g.status, online, data)
    notice = g.issuer_notice if online and g.issuer_notice and g.issuer_notice.get("guarantee_no") == data.get("guarantee_no") else None
    if notice is not None:
        # The issuer reported this guarantee already: the contractor's copy must be the one it issued.
        errors = lifecycle.mismatches(notice, {"guarantee_no": data.get("guarantee_no"), "amount": amount,
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
    _apply(session, g, actor, outcome)
    if notice is not None:
        _verify_from_notice(step, g, notice)


def _verified(step: steps.Step, data: dict[str, Any], actor: str, g: Guarantee | None = None) -> None:
    session, instance = step.session, step.instance
    g = g or _current(session, instance.id, "performance")
    submitted = {} if g is None else {"guarantee_no": g.guarantee_no, "amount": g.amount, "valid_to": g.valid_to,
                                      "document_sha256": g.document_sha256, "verification_code": g.verification_code}
    outcome = lifecycle.verify(g.status if g is not None else None, data, submitted)
    if outcome.status == "active":
        g.electronic = True
        g.verification_code = g.verification_code or data.get("verification_code")  # the issuer's 验真码
    _apply(session, g, actor, outcome)


def _verify_from_notice(step: steps.Step, g: Guarantee, notice: Mapping[str, Any]) -> None:
    """Complete the issuer's verify_guarantee task, now ready, with the confirmation its platform sent earlier."""
    ready = [t for t in spiff.ready_user_tasks(step.wf) if t.element_id == VERIFY]
    if not ready:
        return
    task = ready[0]
    form = step.definition.model.get("user_tasks", {}).get(VERIFY, {}).get("form", [])
    raw = {k: notice[k] for k in (*lifecycle.VERIFIED_FIELDS, "verification_code") if notice.get(k) is not None}
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
    guarantee_no = data["guarantee_no"] if data.get("guarantee_no") else g.guarantee_no
    outcome = lifecycle.renew(g.status, g.valid_to, new_to, {
        "valid_to_before": g.valid_to, "valid_to": new_to, "renewed_at": data.get("renewed_at"),
        "guarantee_no": guarantee_no, "document_sha256": data.get("document_sha256")})
    g.valid_to, g.guarantee_no = new_to, guarantee_no
    g.document_sha256 = data.get("document_sha256") or g.document_sha256
    _apply(session, g, actor, outcome)


def _claim_paid(step: steps.Step, data: dict[str, Any], actor: str, task_id: str | None) -> None:
    session = step.session
    task = spiff.get_task(step.wf, task_id) if task_id else None
    ref = (spiff.task_data(task).get("claim") if task is not None else None) or {}
    claim = session.get(GuaranteeClaim, ref.get("id")) if ref.get("id") else None
    if claim is None:
        return
    paid = _money_in(data.get("amount"), "data.amount")
    lifecycle.check_claim_paid(claim.amount, paid)
    claim.status, claim.paid_at, claim.paid_amount = "paid", _date_in(data.get("paid_at"), "data.paid_at"), paid
    claim.payment_reference = data.get("reference")
    g = session.get(Guarantee, claim.guarantee_id)
    claims = claims_of(session, g.id)
    total = sum((_dec(c.paid_amount) for c in claims if c.status == "paid"), Decimal(0))
    still_open = any(c.status == "filed" for c in claims)
    _apply(session, g, actor, lifecycle.pay_claim(g.status, g.amount, total, still_open, {
        "claim_no": claim.no, "paid_at": claim.paid_at, "amount": claim.paid_amount,
        "reference": claim.payment_reference}))


def _released(step: steps.Step, kind: str, data: dict[str, Any], actor: str) -> None:
    session = step.session
    g = _current(session, step.instance.id, kind)
    if g is None or g.status not in lifecycle.RELEASABLE:  # never held (exempt) or released already
        return
    amount, interest = (_money_in(data[k], f"data.{k}") if data.get(k) is not None else None
                        for k in ("amount", "interest"))
    released_at = _date_in(data.get("released_at"), "data.released_at") or _today()
    # 注销: an e-guarantee's issuer is told it is discharged (it polls GET /guarantees?cancellation=requested).
    outcome = lifecycle.release(g.status, g.form, g.issuer_org, g.guarantee_no,
                                {"released_at": released_at, "amount": amount, "interest": interest})
    g.released_at = released_at
    _apply(session, g, actor, outcome)


# ---------------------------------------------------------------------------- guarantees given outside the diagram
# Advance payment (预付款保函), quality (质量保函, in place of retention) and the employer's payment guarantee
# (工程款支付担保, D06): given by the applicant through POST /guarantees, verified by the issuer's signed callback.


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
        lifecycle.check_recorded_kind(kind)
        applicant_role = "employer" if kind == "payment" else "contractor"
        applicant = instance.roles.get(applicant_role)
        if principal.role != "admin" and not (principal.role == "party" and principal.org_code == applicant):
            raise Forbidden(f"the {applicant_role} of the contract gives its {kind} guarantee")
        contract = _contract(step)
        amount = _money_in(body.get("amount"), "amount")
        lifecycle.check_positive(amount)
        valid_from, valid_to = _date_in(body.get("valid_from"), "valid_from"), _date_in(body.get("valid_to"), "valid_to")
        if kind == "quality":
            _check_cap("quality", contract, amount, "amount")
            _check_quality_alone(session, instance, contract)
        elif kind == "advance_payment":
            lifecycle.check_advance(amount, contract.get("contract_amount"))
        form = body.get("form")
        online = _issuer_online(instance, form)
        outcome = lifecycle.record(online, body)
        g = _new(session, instance, kind, amount, outcome.status, principal.name, form=form,
                 guarantee_no=body.get("guarantee_no"), issuer=body.get("issuer"), valid_from=valid_from,
                 valid_to=valid_to, document_sha256=body.get("document_sha256"),
                 verification_code=body.get("verification_code"), electronic=online,
                 issuer_org=instance.roles.get("guarantor") if online else None)
        if kind == "payment":
            g.applicant_org, g.beneficiary_org = instance.roles.get("employer"), instance.roles.get("contractor")
        _apply(session, g, principal.name, outcome)
        step.record("guarantee_recorded", None, {"guarantee_id": g.id, "kind": kind, "amount": g.amount})
        return g.id

    guarantee_id = run_step(db, principal, instance_id, apply)
    with db.read() as session:
        return view(session, session.get(Guarantee, guarantee_id), principal, full=True)


def _check_quality_alone(session: Session, instance: Instance, contract: Mapping[str, Any]) -> None:
    held = {g.kind: (g.status, g.form) for g in session.scalars(select(Guarantee).where(
        Guarantee.instance_id == instance.id, Guarantee.status.in_(lifecycle.HELD)))}
    track, category = contract.get("track"), contract.get("category")
    prohibitions = ()
    if "performance" in held and track and category:
        prohibitions = timing.registry().limits_for("retention", track, category, _on(contract), kind="prohibition")
    lifecycle.check_quality_alone(held, prohibitions)


# ---------------------------------------------------------------------------- claims
def _instance_of_visible(db: Database, principal: Principal, guarantee_id: str) -> str:
    """The contract of a guarantee the principal may see; NotFound (404) otherwise, as for an unknown one."""
    with db.read() as session:
        g = session.get(Guarantee, guarantee_id)
        if g is None or not visible(session, principal, g):
            raise NotFound("no such guarantee")
        return g.instance_id


def file_claim(db: Database, principal: Principal, guarantee_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The beneficiary claims on a guarantee (索赔) after a confirmed non-performance; the claim reaches the
    guarantor as its pay_claim task, due by CL01 (CLAIM_UNPAID when it passes).

    `body`: reason (refused_to_sign | non_performance), amount (≤ what the guarantee still covers),
    claimed_at (date, default today), alert_id (non_performance: a red non-performance alert against the
    applicant, confirmed by the department), note. A refusal to sign also ends the signing in the diagram
    (award_refused) and settles the signing warnings, which no longer concern the employer."""
    reason, alert_id = body.get("reason"), body.get("alert_id")
    instance_id = _instance_of_visible(db, principal, guarantee_id)

    def apply(step: steps.Step):
        session, instance = step.session, step.instance
        g = session.get(Guarantee, guarantee_id)
        if principal.role != "admin" and not (principal.role == "party" and principal.org_code == g.beneficiary_org):
            raise Forbidden("only the beneficiary of the guarantee files a claim on it")
        if instance.status != "running":
            raise Conflict(f"the contract is {instance.status}: its guarantees are no longer claimed here")
        lifecycle.check_claimable(g.status, g.form)
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
        no = len(claims_of(session, g.id)) + 1
        claim = GuaranteeClaim(id=str(uuid.uuid4()), guarantee_id=g.id, instance_id=instance.id, no=no, reason=reason,
                               alert_id=alert.id if alert is not None else None, amount=amount,
                               claimed_at=claimed_at, status="filed", filed_at=clock.now(), filed_by=principal.name,
                               note=body.get("note"))
        session.add(claim)
        session.flush()
        _apply(session, g, principal.name, lifecycle.file_claim(g.status, g.form, {
            "claim_no": no, "reason": reason, "amount": claim.amount, "claimed_at": claimed_at,
            "alert_id": claim.alert_id}))
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
    of a contract still waiting to be signed (409 otherwise). Returns the guarantee with its history.

    Under a bid commitment letter (form commitment_letter) there is nothing to claim: the refusal itself ends the
    signing (award_refused), and the caller opens a supervision case against the contractor."""
    instance_id = _instance_of_visible(db, principal, guarantee_id)

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
        if g.form == "commitment_letter":
            # No bond to claim: the broken commitment ends the signing here; its consequence is a supervision case
            # against the contractor (api/guarantees.py opens it, engine/supervision/cases.py).
            spiff.deliver_message(step.wf, REFUSAL_MESSAGE, {"award_refused_at": day.isoformat()})
            _settle_refused_signing(session, instance, day)
            step.record("award_refused", None, {"guarantee_id": g.id, "commitment_letter": True})

    return run_step(db, principal, instance_id, apply,
                    after=lambda step, _: view(step.session, step.session.get(Guarantee, guarantee_id), principal, full=True))


def _claim_amount(session: Session, g: Guarantee, value: Any, errors: dict[str, list[str]],
                  field: str = "amount") -> Decimal | None:
    """The amount claimed on `g`: `value`, or all the guarantee still covers when none is given; None with the
    refusal under `field` when it is no amount or more than is covered."""
    covered = lifecycle.covered(g.amount, [c.amount for c in claims_of(session, g.id)])
    if value is None:
        return covered
    try:
        amount = values.parse_money(value)
    except values.BadValue as exc:
        errors[field] = [str(exc)]
        return None
    refused = lifecycle.check_claim_amount(amount, covered)
    if refused:
        errors[field] = refused
        return None
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
    if why := signing.problem(secret):
        raise Invalid("the secret cannot sign", {"secret": [why]})
    now = clock.now()
    endpoint = session.get(GuarantorEndpoint, org_code)
    if endpoint is None:
        endpoint = GuarantorEndpoint(org_code=org_code, callback_secret=secret, created_at=now, updated_at=now)
        session.add(endpoint)
    else:
        endpoint.callback_secret, endpoint.updated_at = secret, now
    return endpoint


def is_signed(headers: Mapping[str, str]) -> bool:
    """Whether a request carries a callback signature (either scheme) rather than being an operator's message."""
    return headers.get(STANDARD_SIGNATURE_HEADER) is not None or headers.get(SIGNATURE_HEADER) is not None


def _authenticate_issuer(db: Database, instance_id: str, body: bytes, headers: Mapping[str, str]) -> str:
    """The guarantor organisation whose secret signed `body` for this contract, by Standard Webhooks' headers
    when they are given, else by the deprecated X-Lvyue-Signature; Unauthenticated otherwise (the same answer
    for an unknown contract, no guarantor, no secret, a wrong signature or a timestamp too far off)."""
    refused = Unauthenticated("the callback's signature does not verify with the secret of this contract's guarantor")
    standard = headers.get(STANDARD_SIGNATURE_HEADER) is not None
    signature = headers.get(SIGNATURE_HEADER)
    if not standard and not signature:
        raise refused
    with db.read() as session:
        instance = session.get(Instance, instance_id)
        org = instance.roles.get("guarantor") if instance is not None else None
        endpoint = session.get(GuarantorEndpoint, org) if org else None
        secret = endpoint.callback_secret if endpoint is not None else None
    if secret is None or signing.problem(secret):
        raise refused
    if standard:
        # The wall clock: the issuer's platform stamped the request with its own (real) clock.
        verified = webhooks.verify_standard(secret, body, headers, clock.wall_now())
    else:
        verified = hmac.compare_digest(webhooks.sign(secret, body).encode(), signature.strip().encode("utf-8", "replace"))
    if not verified:
        raise refused
    return org


_CALLBACK_FIELDS = {"guarantee_no", "amount", "valid_to", "document_sha256", "verification_code", "verified", "issued_at",
                    "issuer", "note"}


def issuer_callback(db: Database, instance_id: str, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """The issuer's e-guarantee platform confirms a guarantee (guarantee_issued), signed with its secret.

    With the contract's verify_guarantee task ready, the confirmation completes it as the guarantor would
    (a mismatch with the contractor's submission is a 422 naming the field); before the contractor submitted,
    it is kept on the guarantee (status `issued`) and verifies the matching submission later. Returns the
    guarantee."""
    org = _authenticate_issuer(db, instance_id, body, headers)
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
        notice = {k: payload.get(k) for k in (*lifecycle.VERIFIED_FIELDS, "verification_code", "issued_at", "issuer")}
        notice["amount"] = None if notice["amount"] in (None, "") else _money(_dec(notice["amount"]))
        notice["by"] = principal.name
        outcome = lifecycle.notice(g.status, g.guarantee_no == payload["guarantee_no"], payload.get("verified"), notice)
        if outcome is None:
            return None  # confirmed already: the platform retried
        g.issuer_notice = notice
        _apply(session, g, principal.name, outcome)
        step.record("guarantee_issued", None, {"guarantee_id": g.id, "guarantee_no": notice["guarantee_no"],
                                               "by": principal.name})
        return None

    run_step(db, principal, instance_id, apply)


# ---------------------------------------------------------------------------- termination (engine/supervision/termination.py)
TERMINATION_CLAIM = "termination"


def held_on(session: Session, instance_id: str) -> list[Guarantee]:
    """The securities a contract still holds (lifecycle.HELD), oldest first: each needs an outcome at termination."""
    return list(session.scalars(select(Guarantee).where(Guarantee.instance_id == instance_id,
                                                        Guarantee.status.in_(lifecycle.HELD))
                                .order_by(Guarantee.created_at, Guarantee.id)))


def check_termination_claim(session: Session, g: Guarantee, amount: Any, path: str,
                            errors: dict[str, list[str]]) -> Decimal | None:
    """The amount a termination claims on `g` (default: all it still covers); the refusal under `path` otherwise."""
    try:
        lifecycle.check_claimable(g.status, g.form)
    except lifecycle.TransitionRefused as exc:
        errors[f"{path}.outcome"] = [exc.detail]
        return None
    return _claim_amount(session, g, amount, errors, f"{path}.amount")


def settle_on_termination(session: Session, instance: Instance, actor: str, day: date,
                          outcomes: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Apply the guarantees' outcomes of a termination that took effect on `day`: `release` (released, and an
    e-guarantee's issuer asked to cancel it, 注销), or `claim` (a claim filed with the guarantor for `amount`, reason
    `termination`: the guarantee is `claimed`; the contract's process has ended, so the guarantor's payment is
    settled with it directly). Returns what was done, for the history and the ledger."""
    done = []
    for outcome in outcomes:
        g = session.get(Guarantee, outcome["guarantee_id"])
        if outcome["outcome"] == "release":
            result = lifecycle.release(g.status, g.form, g.issuer_org, g.guarantee_no,
                                       {"released_at": day, "amount": g.amount, "reason": "contract terminated"})
            if result is not None:
                g.released_at = day
                _apply(session, g, actor, result)
            done.append({"guarantee_id": g.id, "kind": g.kind, "outcome": "release", "status": g.status,
                         "amount": _money(g.amount)})
            continue
        amount = _dec(outcome["amount"])
        no = len(claims_of(session, g.id)) + 1
        claim = GuaranteeClaim(id=str(uuid.uuid4()), guarantee_id=g.id, instance_id=instance.id, no=no,
                               reason=TERMINATION_CLAIM, alert_id=None, amount=amount, claimed_at=day, status="filed",
                               filed_at=clock.now(), filed_by=actor, note=outcome.get("note"))
        session.add(claim)
        session.flush()
        _apply(session, g, actor, lifecycle.file_claim(g.status, g.form, {
            "claim_no": no, "reason": TERMINATION_CLAIM, "amount": amount, "claimed_at": day}))
        done.append({"guarantee_id": g.id, "kind": g.kind, "outcome": "claim", "status": g.status,
                     "amount": _money(amount), "claim_id": claim.id})
    return done
