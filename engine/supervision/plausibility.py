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
from engine.storage.models import Payment
from engine.supervision import bindings

# element id → (the date field of its form, [(the contract's date it may not precede, what that date is)]).
DATE_ORDER: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    bindings.SIGN_CONTRACT: ("signed_at", (("award_notice_date", "the award notice"),)),
    bindings.FILE_CONTRACT: ("filed_at", (("signed_at", "the signing"),)),
    bindings.REPORT_DELIVERY: ("delivered_at", (("signed_at", "the signing"),)),
    bindings.ACCEPT_DELIVERY: ("accepted_at", (("delivered_at", "the delivery"),)),
    bindings.SUBMIT_INVOICE: ("issued_at", (("signed_at", "the signing"),)),
    bindings.RECORD_PAYMENT: ("paid_at", (("accepted_at", "the acceptance"),)),
    bindings.CONFIRM_COMPLETION: ("completed_at", (("signed_at", "the signing"),)),
}
# element id → the amount field of its form that must be greater than 0.00.
POSITIVE_AMOUNT = {bindings.RECORD_PAYMENT: "amount", bindings.SUBMIT_INVOICE: "amount"}
OVERPAYMENT, OVERPAYMENT_REASON = "overpayment", "overpayment_reason"


def check_task(step: steps.Step, element_id: str, data: dict[str, Any], actor: str, task_id: str | None = None,
               excluding: str | None = None) -> None:
    """Refuse (Invalid 422, every broken rule named by its field `data.…`) the completion of a post_award task
    whose amount or business date cannot be true; other elements are no concern of this module. `excluding`: the
    id of the payment a correction replaces, left out of what is already paid."""
    if element_id not in DATE_ORDER and element_id not in POSITIVE_AMOUNT:
        return
    contract = spiff.current_data(step.wf)
    errors: dict[str, list[str]] = {}
    _check_date(element_id, data, contract, errors)
    amount = _check_amount(element_id, data, errors)
    if element_id == bindings.RECORD_PAYMENT and amount is not None and amount > 0:
        _check_outstanding(step, data, contract, amount, errors, excluding)
    if errors:
        raise Invalid(f"the data for {element_id} is not plausible", errors)


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
    declared = data.get(OVERPAYMENT) is True
    reason = data.get(OVERPAYMENT_REASON)
    shown = (f"milestone {milestone.get('no', step.part.item_no)}: amount {values.format_money(planned)}, "
             f"paid {values.format_money(values.amount_of(paid))}, outstanding {values.format_money(outstanding)}")
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
