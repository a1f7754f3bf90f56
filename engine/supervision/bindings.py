"""Where the supervision domain meets the process library: the diagram elements and processes it names.

Every element id a domain listener acts on is declared here, once, with the process it must exist in;
engine/bootstrap.py registers these bindings with the runtime, which refuses to deploy a diagram of that
process without one of them (422 `errors.bpmn`, naming the listener and the element). Renaming a task in
bpmn/post_award.bpmn therefore fails at deploy, not silently when a payment is recorded.

This module also holds the domain's start-of-contract rules the runtime asks for by process key: the
statutory start terms of post_award, the lane roles a process may leave unbound, and who acts in the
supervisor lane.
"""
from __future__ import annotations

from typing import Any

from engine import clock
from engine.runtime import forms, hooks, values
from engine.storage.models import Instance, Organisation
from engine.supervision import contract_terms, payment_basis, timing

POST_AWARD = "post_award"
# A change to a signed contract (补充合同): its own process, naming the original by project code and contract number.
SUPPLEMENTARY_CONTRACT = "supplementary_contract"

# The ledger (engine/supervision/ledger.py): one row per completion.
RECORD_PAYMENT, SUBMIT_INVOICE = "record_payment", "submit_invoice"
# The contract's milestones the reports and the OCDS export date (engine/supervision/reports.py, ocds.py). They
# only read these tasks' due dates (a version without one shows none), so they bind nothing at deploy: the
# migration tests deploy post_award without sign_contract on purpose.
SIGN_CONTRACT, FILE_CONTRACT = "sign_contract", "file_contract"
# The contractor's side of the signing and the GP contract's publication (G04): checked by plausibility.py when present.
CONFIRM_SIGNATURE, PUBLISH_CONTRACT = "confirm_signature", "publish_contract"
# The milestone's delivery and acceptance, whose dates engine/supervision/plausibility.py checks; like the two
# above they are read only when present, so they bind nothing.
REPORT_DELIVERY, ACCEPT_DELIVERY = "report_delivery", "accept_delivery"
# Completion acceptance, which engine/supervision/completion.py lets run only once every milestone is accepted;
# read only when present, it binds nothing.
CONFIRM_COMPLETION = "confirm_completion"
# The guarantee ledger (engine/supervision/guarantees.py).
SUBMIT_GUARANTEE, VERIFY_GUARANTEE, RENEW_GUARANTEE, PAY_CLAIM = (
    "submit_performance_guarantee", "verify_guarantee", "renew_guarantee", "pay_claim")
RELEASE_BID_BOND, RELEASE_PERFORMANCE, RELEASE_RETENTION = (
    "release_bid_bond", "release_performance_guarantee", "release_retention")

# A works contract's payments (post_award_works, engine/supervision/works_payments.py): the contractor's applications
# and settlement report, the employer's verification, review and payments — each written to the ledger. Read only
# when present (a post_award version without the works partition has none), they bind nothing at deploy.
SUBMIT_PAYMENT_APPLICATION, VERIFY_MEASUREMENT, PAY_ADVANCE, PAY_PROGRESS = (
    "submit_payment_application", "verify_measurement", "pay_advance", "pay_progress")
SUBMIT_SETTLEMENT, REVIEW_SETTLEMENT, PAY_SETTLEMENT = "submit_settlement", "review_settlement", "pay_settlement"
WORKS_PAYMENT_KINDS = {PAY_ADVANCE: "advance", PAY_PROGRESS: "progress", PAY_SETTLEMENT: "settlement"}

BINDINGS = (
    hooks.Binding("ledger.record_task", POST_AWARD, (RECORD_PAYMENT, SUBMIT_INVOICE)),

    hooks.Binding("guarantees.record_task", POST_AWARD, (SUBMIT_GUARANTEE, VERIFY_GUARANTEE, RENEW_GUARANTEE, PAY_CLAIM,
                                                         RELEASE_BID_BOND, RELEASE_PERFORMANCE, RELEASE_RETENTION)),
)

# The lane roles of a contract and the supervising department: bound at the start, never rebound by task data.
ROLE_BINDINGS = frozenset({"employer", "contractor", "guarantor", "department", "consortium"})
SUPERVISOR_LANE = "supervisor"

# Lane roles a process may leave unbound: post_award asks the guarantor only where one is bound (the contract's
# e-guarantee issuer); without one a guarantee is taken as submitted. The unbound role's variable is None.
OPTIONAL_ROLES = {POST_AWARD: frozenset({"guarantor"})}


def assignee(instance: Instance, lane: str | None) -> tuple[str | None, str | None]:
    """(organisation, department) that may act on a task of `lane`: the supervisor lane is the contract's
    supervising department, every other lane the organisation bound to its role."""
    if lane == SUPERVISOR_LANE:
        return None, instance.department_code
    return (instance.roles.get(lane) if lane else None), None


def post_award_terms(session, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The statutory caps and defaults of the post-award process (engine/supervision/contract_terms.py)."""
    def org(role):
        code = data.get(role)
        return session.get(Organisation, code) if isinstance(code, str) else None

    # The consortium is bound by the start use case (engine/usecases/instances.py), not a term of the contract; the
    # terms follow its lead member, the contractor.
    consortium = data.get("consortium")
    data = {k: v for k, v in data.items() if k != "consortium"}
    if data.get("contractor") is None and isinstance(consortium, dict) and isinstance(consortium.get("lead"), str):
        data["contractor"] = consortium["lead"]
    return post_award_terms_for(data, org("employer"), org("contractor"))


def post_award_terms_for(data: dict[str, Any], employer: Organisation | None,
                         contractor: Organisation | None) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """`post_award_terms` with the parties' records given: the typed start data (with its `payment_basis`)
    and the errors, by field."""
    kind = payment_basis.employer_kind(bool(employer is not None and employer.public_body),
                                       bool(employer is not None and employer.large_enterprise), data.get("track"))
    sme = bool(contractor is not None and contractor.sme)
    today = clock.now().astimezone(clock.SHANGHAI).date()
    try:
        on = values.parse_date(data.get("award_notice_date"), on=today)
    except values.BadValue:
        on = today  # refused on data.award_notice_date by the terms themselves
    agreed = isinstance(data, dict) and data.get("payment_term_days") is not None
    default = payment_basis.default_days(kind, sme, on, timing.registry()) if isinstance(data, dict) else None
    if not agreed and default is not None:
        data = {**data, "payment_term_days": default}  # the governing rule's period (P02: 60, not P01's 30)
    typed, errors = contract_terms.validate_post_award(data, contractor, employer, kind == payment_basis.PUBLIC_BODY,
                                                       on, timing.registry(), today=today)
    if not errors:
        # Fixed now, from the parties' records as they are today (支付条例 art 3): never re-read later.
        typed["payment_basis"] = payment_basis.fix(kind, sme, typed["payment_term_days"], agreed, on, timing.registry(),
                                                   typed.get("late_interest_percent_per_day"))
    # Role-binding errors are reported by the start use case with the same paths; keep one message each.
    return typed, {k: v for k, v in errors.items() if k.removeprefix("data.") not in forms.reserved()}


# Process-specific start terms beyond the diagram's form: statutory caps need the parties' records.
START_TERMS = {POST_AWARD: post_award_terms}
