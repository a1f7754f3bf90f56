"""Plausibility of what the parties report on a contract: amounts and business dates that cannot be true.

A task-completed listener (registered first, before the ledger writes anything) checks the task data of
the post_award tasks that carry a business date or an amount, against the dates the contract already
holds and the payments already recorded, and raises `Invalid` (422, naming the field and the rule) so
that the step rolls back with nothing stored:

* amounts of payments and invoices must be greater than 0.00;
* a payment may not exceed what is still outstanding on its milestone unless the task data declares it
  (`overpayment` = true with an `overpayment_reason`); the ledger then shows it as an overpayment;
* business dates may not be after today (the engine clock's date in China) nor before the event they
  follow: award notice ≤ signing ≤ filing; signing ≤ completion; signing ≤ delivery ≤ acceptance ≤ payment; signing ≤ invoice.

An invoice is checked against the signing, not the acceptance: a contractor commonly invoices on delivery,
before the employer accepts. A reference date the contract does not hold (a diagram without that task)
is not checked.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from engine.errors import Invalid
from engine.runtime import spiff, steps, values
from engine.storage.models import Payment, PaymentApplication
from engine.supervision import bindings, timing

# element id → (the date field of its form, [(the contract's date it may not precede, what that date is)]).
DATE_ORDER: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    bindings.SIGN_CONTRACT: ("signed_at", (("award_notice_date", "the award notice"),)),
    bindings.CONFIRM_SIGNATURE: ("confirmed_at", (("signed_at", "the employer's signing"),)),
    bindings.PUBLISH_CONTRACT: ("published_at", (("signed_at", "the signing"),)),
    bindings.FILE_CONTRACT: ("filed_at", (("signed_at", "the signing"),)),
    bindings.REPORT_DELIVERY: ("delivered_at", (("signed_at", "the signing"),)),
    bindings.ACCEPT_DELIVERY: ("accepted_at", (("delivered_at", "the delivery"),)),
    bindings.SUBMIT_INVOICE: ("issued_at", (("signed_at", "the signing"),)),
    bindings.RECORD_PAYMENT: ("paid_at", (("accepted_at", "the acceptance"),)),
    bindings.CONFIRM_COMPLETION: ("completed_at", (("signed_at", "the signing"),)),
    # A works contract's payments (post_award_works): each follows the event that made it due.
    bindings.PAY_ADVANCE: ("paid_at", (("signed_at", "the signing"),)),
    bindings.SUBMIT_PAYMENT_APPLICATION: ("applied_at", (("signed_at", "the signing"),)),
    bindings.VERIFY_MEASUREMENT: ("verified_at", (("applied_at", "the application"),)),
    bindings.PAY_PROGRESS: ("paid_at", (("applied_at", "the application"),)),
    bindings.SUBMIT_SETTLEMENT: ("submitted_at", (("completed_at", "the completion acceptance"),)),
    bindings.REVIEW_SETTLEMENT: ("reviewed_at", (("settlement_submitted_at", "the settlement report"),)),
    bindings.PAY_SETTLEMENT: ("paid_at", (("settlement_submitted_at", "the settlement report"),)),
}
# element id → the amount field of its form that must be greater than 0.00.
POSITIVE_AMOUNT = {bindings.RECORD_PAYMENT: "amount", bindings.SUBMIT_INVOICE: "amount",
                   bindings.PAY_ADVANCE: "amount", bindings.PAY_PROGRESS: "amount", bindings.PAY_SETTLEMENT: "amount",
                   bindings.SUBMIT_PAYMENT_APPLICATION: "value", bindings.SUBMIT_SETTLEMENT: "value"}
# element id → (its confirmed amount field, the applied amount in the branch's data it may not exceed).
CONFIRMED = {bindings.VERIFY_MEASUREMENT: ("confirmed_value", "application_value", "the applied value"),
             bindings.REVIEW_SETTLEMENT: ("settled_value", "settlement_value", "the settlement report's amount")}
OVERPAYMENT, OVERPAYMENT_REASON = "overpayment", "overpayment_reason"


def check_task(step: steps.Step, element_id: str, data: dict[str, Any], actor: str, task_id: str | None = None,
               excluding: str | None = None) -> None:
    """Refuse (Invalid 422, every broken rule named by its field `data.…`) the completion of a post_award task
    whose amount or business date cannot be true; other elements are no concern of this module. `excluding`: the
    id of the payment a correction replaces, left out of what is already paid."""
    if element_id not in DATE_ORDER and element_id not in POSITIVE_AMOUNT:
        return
    contract = spiff.current_data(step.wf)
    task = spiff.get_task(step.wf, task_id) if task_id else None
    if task is not None:
        # A works contract runs each application in its own branch: its own data names the dates it follows.
        contract = {**contract, **spiff.visible_data(task)}
    if element_id == bindings.SUBMIT_SETTLEMENT:
        # The settlement follows completion acceptance, recorded on the contract's main process.
        contract = {**contract, "completed_at": (step.instance.data or {}).get("completed_at")}
    errors: dict[str, list[str]] = {}
    _check_date(element_id, data, contract, errors)
    amount = _check_amount(element_id, data, errors)
    if element_id == bindings.RECORD_PAYMENT and amount is not None and amount > 0:
        _check_outstanding(step, data, contract, amount, errors, excluding)
    if element_id in bindings.WORKS_PAYMENT_KINDS and amount is not None and amount > 0 and task is not None:
        _check_owed(element_id, data, spiff.visible_data(task), amount, errors)
    if element_id == bindings.SUBMIT_SETTLEMENT and not contract.get("completed_at"):
        errors.setdefault("data.submitted_at", []).append(
            "no completion acceptance is recorded on the contract: the settlement report follows it "
            "(《建设工程价款结算暂行办法》第十四条; confirm_completion first)")
    if element_id in CONFIRMED:
        _check_confirmed(element_id, data, contract, errors)
    if element_id == bindings.CONFIRM_SIGNATURE:
        _check_signature(data, contract, errors)
    if element_id == bindings.SIGN_CONTRACT:
        _check_stated_terms(data, contract, errors)
    if element_id in (bindings.SUBMIT_PAYMENT_APPLICATION, bindings.SUBMIT_SETTLEMENT):
        _check_new_document(step, element_id, data, errors)
    if errors:
        raise Invalid(f"the data for {element_id} is not plausible", errors)


def business_date(value: Any, field: str, errors: dict[str, list[str]], why: str = "") -> date | None:
    """A business date a party reports (YYYY-MM-DD, not after today in China), or None with the refusal recorded
    under `field`; `why` is added to the "in the future" message."""
    try:
        day = values.parse_date(value)
    except values.BadValue as exc:
        errors[field] = [str(exc)]
        return None
    if day > values.today():
        errors[field] = [f"{day.isoformat()} is in the future{why}"]
        return None
    return day


def _parsed_date(value: Any) -> date | None:
    try:
        return values.parse_date(value) if value not in (None, "") else None
    except values.BadValue:
        return None


def _check_date(element_id: str, data: dict[str, Any], contract: dict[str, Any], errors: dict[str, list[str]]) -> None:
    if element_id not in DATE_ORDER:
        return
    name, follows = DATE_ORDER[element_id]
    if data.get(name) in (None, ""):
        return
    path = f"data.{name}"
    try:
        day = values.parse_date(data[name])
    except values.BadValue as exc:
        errors.setdefault(path, []).append(str(exc))
        return
    today = values.today()
    if day > today:
        errors.setdefault(path, []).append(
            f"{day.isoformat()} is in the future: a business date may not be after today ({today.isoformat()}, China time)")
    for reference, event in follows:
        earlier = _parsed_date(contract.get(reference))
        if earlier is not None and day < earlier:
            errors.setdefault(path, []).append(
                f"{day.isoformat()} is before {event} ({reference} {earlier.isoformat()}): it may not precede it")


def _check_amount(element_id: str, data: dict[str, Any], errors: dict[str, list[str]]) -> Decimal | None:
    name = POSITIVE_AMOUNT.get(element_id)
    if name is None or data.get(name) is None:
        return None
    path = f"data.{name}"
    try:
        amount = values.parse_money(data[name])
    except values.BadValue as exc:
        errors.setdefault(path, []).append(str(exc))
        return None
    if amount <= 0:
        errors.setdefault(path, []).append(f"must be greater than 0.00; got {values.format_money(amount)}")
    return amount


def _check_outstanding(step: steps.Step, data: dict[str, Any], contract: dict[str, Any], amount: Decimal,
                       errors: dict[str, list[str]], excluding: str | None = None) -> None:
    """A payment above the milestone's unpaid rest needs `overpayment` = true and a reason; a declared
    overpayment must be one."""
    milestone = contract.get("milestone")
    if step.part is None or not isinstance(milestone, dict) or milestone.get("amount") in (None, ""):
        return
    planned = values.amount_of(milestone["amount"])
    paid = step.session.scalar(select(func.coalesce(func.sum(Payment.amount), Decimal(0))).where(
        Payment.instance_id == step.instance.id, Payment.part_id == step.part_id,
        Payment.id != (excluding or ""))) or Decimal(0)
    outstanding = max(planned - values.amount_of(paid), Decimal(0))
    shown = (f"milestone {milestone.get('no', step.part.item_no)}: amount {values.format_money(planned)}, "
             f"paid {values.format_money(values.amount_of(paid))}, outstanding {values.format_money(outstanding)}")
    _judge_overpayment(data, amount, outstanding, shown, errors)


def _judge_overpayment(data: dict[str, Any], amount: Decimal, outstanding: Decimal, shown: str, errors) -> None:
    declared = data.get(OVERPAYMENT) is True
    reason = data.get(OVERPAYMENT_REASON)
    if amount > outstanding:
        if not declared:
            errors.setdefault("data.amount", []).append(
                f"{values.format_money(amount)} is more than is outstanding ({shown}); "
                f"declare it with {OVERPAYMENT} = true and an {OVERPAYMENT_REASON} if it really was paid")
        elif not isinstance(reason, str) or not reason.strip():
            errors.setdefault(f"data.{OVERPAYMENT_REASON}", []).append(
                "required when the payment is declared an overpayment")
    elif declared:
        errors.setdefault(f"data.{OVERPAYMENT}", []).append(
            f"declared, but {values.format_money(amount)} is not more than is outstanding ({shown})")


def _check_confirmed(element_id: str, data: dict[str, Any], contract: dict[str, Any], errors) -> None:
    """The employer confirms at most what was applied for (a larger confirmed value is a typing error)."""
    name, applied_name, what = CONFIRMED[element_id]
    try:
        confirmed = values.parse_money(data.get(name)) if data.get(name) is not None else None
        applied = values.amount_of(contract.get(applied_name)) if contract.get(applied_name) is not None else None
    except values.BadValue:
        return  # the form refused it already
    if confirmed is not None and applied is not None and confirmed > applied:
        errors.setdefault(f"data.{name}", []).append(
            f"{values.format_money(confirmed)} is more than {what} ({values.format_money(applied)}): "
            "the employer confirms at most what was applied for")


def _check_stated_terms(data: dict[str, Any], contract: dict[str, Any], errors) -> None:
    """A term the award states (period, quality, scope) is one the signed contract states too: the signing records
    it, so that it is compared (SIGNED_TERMS_DIFFER); leaving it out would hide a departure."""
    for term, awarded in (contract.get("award_terms") or {}).items():
        if awarded is not None and data.get(term) is None:
            errors.setdefault(f"data.{term}", []).append(
                f"the award states {term} = {awarded}: record the signed contract's (《招标投标法实施条例》第五十七条"
                "第一款 / 《政府采购法》第四十六条: signed on the terms of the award)")


def _check_signature(data: dict[str, Any], contract: dict[str, Any], errors) -> None:
    """The contractor signs the text the employer signed, or refuses it with a reason."""
    signed = contract.get("signed_document_sha256")
    if data.get("confirmed") is True:
        if isinstance(signed, str) and data.get("document_sha256") not in (None, signed):
            errors.setdefault("data.document_sha256", []).append(
                f"is not the text the employer signed ({signed}): both parties sign the same document; "
                "refuse (confirmed = false) with a reason if the text is not the one agreed")
    elif data.get("confirmed") is False:
        reason = data.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            errors.setdefault("data.reason", []).append("required when the contractor refuses to sign the text")


def _check_new_document(step: steps.Step, element_id: str, data: dict[str, Any], errors) -> None:
    """One application per supporting document: the same hash twice is the same application submitted again."""
    kind = "progress" if element_id == bindings.SUBMIT_PAYMENT_APPLICATION else "settlement"
    reference = data.get("document_sha256")
    if not isinstance(reference, str):
        return
    earlier = step.session.scalar(select(PaymentApplication.applied_at).where(
        PaymentApplication.instance_id == step.instance.id, PaymentApplication.kind == kind,
        PaymentApplication.reference == reference))
    if earlier is not None:
        errors.setdefault("data.document_sha256", []).append(
            f"this document was already submitted (the {kind} application of {earlier.isoformat()}): "
            "each application has its own documents")


def _owed(element_id: str, branch: dict[str, Any]) -> tuple[Decimal, Decimal, str]:
    """(what the works obligation of `element_id` makes payable, what its running total counts as paid after this
    payment, how the figure is named) from the completed task's own branch data."""
    if element_id == bindings.PAY_ADVANCE:
        owed = values.amount_of(((branch.get("works") or {}).get("advance") or {}).get("amount"))
        return owed, values.amount_of(branch.get("advance_paid_total")), "the advance"
    if element_id == bindings.PAY_PROGRESS:
        owed = timing.progress_due_fn(branch.get("application_value"), branch.get("confirmed_value"),
                                      branch.get("works") or {}, branch.get("contract_amount"))
        return owed, values.amount_of(branch.get("progress_paid_total")), "this application's progress payment"
    owed = timing.settlement_payable_fn(branch.get("settlement_value"), branch.get("settled_value"),
                                        branch.get("retention_rate"))
    return owed, values.amount_of(branch.get("contract_paid_total")), "the settlement balance (all paid on the contract)"


def _check_owed(element_id: str, data: dict[str, Any], branch: dict[str, Any], amount: Decimal, errors) -> None:
    """As `_check_outstanding`, for a works payment: above what is still owed only when declared."""
    owed, paid_after, what = _owed(element_id, branch)
    paid_before = paid_after - amount
    outstanding = max(owed - paid_before, Decimal(0))
    shown = f"{what}: {values.format_money(owed)}, paid {values.format_money(paid_before)}, " \
            f"outstanding {values.format_money(outstanding)}"
    _judge_overpayment(data, amount, outstanding, shown, errors)
