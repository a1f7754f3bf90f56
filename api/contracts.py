"""/api/v1/contracts — the supervision ledger of a contract, and the corrections of its entries."""
from __future__ import annotations

from flask import jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from engine.runtime import forms
from engine.supervision import changes, corrections, ledger, suspensions

from . import schemas
from .auth import db, principal

blp = Blueprint("contracts", __name__, url_prefix="/api/v1/contracts", description="Contract ledgers")


class CorrectionIn(schemas.Strict):
    task_id = fields.String(required=True, validate=validate.Length(min=1, max=36),
                            metadata={"description": "the completed task whose entry is corrected (record_payment, "
                                                     "submit_invoice)"})
    data = fields.Dict(keys=fields.String(), required=True,
                       metadata={"description": "the corrected fields, in the task's form and its shapes"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class CorrectionOut(Schema):
    task_id = fields.String()
    element_id = fields.String()
    milestone_no = fields.Integer(allow_none=True)
    by = fields.String()
    before = fields.Dict(metadata={"description": "the entry's fields as they were"})
    after = fields.Dict(metadata={"description": "the entry's fields as corrected"})
    reason = fields.String()


MONEY = {"description": "money: a decimal string, e.g. \"1200000.00\""}


class LedgerDepartment(Schema):
    code = fields.String()
    name = fields.String()


class LedgerParty(Schema):
    role = fields.String(metadata={"description": "employer, contractor, guarantor …"})
    org_code = fields.String()
    name = fields.String(allow_none=True)
    credit_rating = fields.String(allow_none=True)
    sme = fields.Boolean(allow_none=True)
    consortium = fields.String(allow_none=True, metadata={
        "description": "a consortium (联合体) holding the role: `lead` or `member`; null for a role held alone"})


class LedgerAmounts(Schema):
    contract_amount = fields.String(allow_none=True, metadata=MONEY)
    signed_amount = fields.String(allow_none=True, metadata=MONEY)
    milestones_total = fields.String(allow_none=True, metadata=MONEY)
    invoiced = fields.String(allow_none=True, metadata=MONEY)
    paid = fields.String(allow_none=True, metadata=MONEY)


class LedgerDates(Schema):
    award_notice_date = fields.Date(allow_none=True)
    signed_at = fields.Date(allow_none=True, metadata={"description": "the employer's signing date (sign_contract)"})
    signature_confirmed_at = fields.Date(allow_none=True, metadata={
        "description": "the contractor's confirmation of the same text (confirm_signature): signed by both from then"})
    contract_published_at = fields.Date(allow_none=True, metadata={
        "description": "publication of a government procurement contract (publish_contract, G04)"})
    filed_at = fields.Date(allow_none=True)
    completed_at = fields.Date(allow_none=True)


class LedgerMilestone(Schema):
    no = fields.Integer()
    name = fields.String(allow_none=True)
    amount = fields.String(allow_none=True, metadata=MONEY)
    planned_date = fields.Date(allow_none=True)
    delivered_at = fields.Date(allow_none=True)
    accepted_at = fields.Date(allow_none=True)
    acceptance_result = fields.String(allow_none=True)
    invoiced_amount = fields.String(allow_none=True, metadata=MONEY)
    paid_amount = fields.String(allow_none=True, metadata=MONEY)
    outstanding = fields.String(allow_none=True, metadata=MONEY)
    overpaid = fields.String(allow_none=True, metadata=MONEY)
    payment_due_at = fields.DateTime(allow_none=True)
    interest_accrued = fields.String(allow_none=True, metadata=MONEY)
    status = fields.String(metadata={"description": "paid, or the milestone's progress (not_started …)"})


class LedgerPayment(Schema):
    kind = fields.String(metadata={"description": "what it pays: milestone, advance, progress or settlement"})
    reference = fields.String(allow_none=True, metadata={
        "description": "the application (its document hash) a progress or settlement payment pays"})
    milestone_no = fields.Integer(allow_none=True)
    paid_at = fields.Date()
    amount = fields.String(metadata=MONEY)
    voucher_no = fields.String(allow_none=True)
    payer = fields.String(allow_none=True)
    payee = fields.String(allow_none=True)
    recorded_at = fields.DateTime()
    overpayment = fields.Boolean()
    overpayment_reason = fields.String(allow_none=True)


class LedgerInvoice(Schema):
    milestone_no = fields.Integer(allow_none=True)
    invoice_no = fields.String(allow_none=True)
    issued_at = fields.Date(allow_none=True)
    amount = fields.String(metadata=MONEY)
    recorded_at = fields.DateTime()


class LedgerWorksEntry(Schema):
    """Where one works obligation stands today (engine/supervision/works_payments.py obligations)."""

    kind = fields.String(metadata={"description": "advance, progress or settlement"})
    period = fields.String(allow_none=True)
    applied_at = fields.Date(allow_none=True)
    amount = fields.String(allow_none=True, metadata=MONEY)
    document_sha256 = fields.String(allow_none=True)
    percent = fields.String(allow_none=True, metadata={"description": "the advance: % of the contract amount"})
    review_rule = fields.String(allow_none=True, metadata={"description": "C02, or the C04 tier by the report's amount"})
    review_last_day = fields.Date(allow_none=True)
    deemed = fields.Boolean(allow_none=True, metadata={"description": "confirmed by silence past review_last_day"})
    confirmed_amount = fields.String(allow_none=True, metadata=MONEY)
    confirmed_on = fields.Date(allow_none=True)
    payable = fields.String(allow_none=True, metadata=MONEY)
    paid = fields.String(allow_none=True, metadata=MONEY)
    outstanding = fields.String(allow_none=True, metadata=MONEY)
    payment_last_day = fields.Date(allow_none=True)
    retention = fields.String(allow_none=True, metadata=MONEY)
    interest_accrued = fields.String(allow_none=True, metadata=MONEY)


class LedgerWorks(Schema):
    terms = fields.Dict(metadata={"description": "the payment_terms fixed at the start"})
    advance = fields.Nested(LedgerWorksEntry, allow_none=True)
    applications = fields.List(fields.Nested(LedgerWorksEntry))
    settlement = fields.Nested(LedgerWorksEntry, allow_none=True)


class ContractLedger(Schema):
    """The supervision ledger (监管台账) of one contract (engine/supervision/ledger.py)."""

    business_key = fields.String()
    instance_id = fields.String()
    status = fields.String()
    project_code = fields.String(allow_none=True)
    project_name = fields.String(allow_none=True)
    track = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    funding_source = fields.String(allow_none=True, metadata={"description": "资金来源 declared at the start"})
    department = fields.Nested(LedgerDepartment, allow_none=True)
    parties = fields.List(fields.Nested(LedgerParty))
    amounts = fields.Nested(LedgerAmounts)
    dates = fields.Nested(LedgerDates)
    changes = fields.List(fields.Dict(), metadata={
        "description": "the change ledger, oldest first: no, kind, days, reason, document_sha256, status, "
                       "employer_confirmation, contractor_confirmation"})
    suspensions = fields.List(fields.Dict(), metadata={
        "description": "suspensions, oldest first: no, suspended_at, days, reason, by, resumed_at, days_suspended"})
    signed = fields.Boolean(metadata={"description": "signed by both parties (the contractor confirmed the employer's "
                                                     "text); a contract signed by the employer alone is not"})
    payment_basis = fields.Dict(allow_none=True, metadata={
        "description": "fixed at the start: the employer's kind, the contractor's SME status, the payment rule"})
    milestones = fields.List(fields.Nested(LedgerMilestone))
    works = fields.Nested(LedgerWorks, allow_none=True, metadata={
        "description": "a works contract paid on measurement: its advance, applications and settlement; null otherwise"})
    payments = fields.List(fields.Nested(LedgerPayment))
    invoices = fields.List(fields.Nested(LedgerInvoice))
    guarantees = fields.List(fields.Dict(), metadata={"description": "the guarantee rows: kind, form, amount, status …"})
    corrections = fields.List(fields.Dict(), metadata={"description": "corrected entries: who, when, before, after, why"})
    alerts = fields.List(fields.Nested(schemas.AlertOut), metadata={"description": "the open alerts"})
    arrears_amount = fields.String(allow_none=True, metadata=MONEY)
    interest_accrued = fields.String(allow_none=True, metadata=MONEY)


class ContractListArgs(schemas.PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(list(ledger.CONTRACT_STATUSES)))
    department = fields.String(load_default=None, validate=validate.Length(max=64),
                               metadata={"description": "the supervising department's code"})
    employer = fields.String(load_default=None, validate=validate.Length(max=64),
                             metadata={"description": "the employer's organisation code"})
    severity = fields.String(load_default=None, validate=validate.OneOf(list(ledger.SEVERITIES)),
                             metadata={"description": "contracts with at least one open alert of this severity"})


class ContractSummaryParty(Schema):
    role = fields.String()
    org_code = fields.String()
    name = fields.String(allow_none=True)
    consortium = fields.String(allow_none=True, metadata={
        "description": "a consortium (联合体) holding the role: `lead` or `member`; null for a role held alone"})


class OpenAlertCounts(Schema):
    red = fields.Integer()
    orange = fields.Integer()
    yellow = fields.Integer()


class ContractSummary(Schema):
    business_key = fields.String()
    instance_id = fields.String()
    status = fields.String()
    definition = fields.Nested(schemas.DefinitionRef)
    project_code = fields.String(allow_none=True)
    project_name = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    contract_amount = fields.String(allow_none=True, metadata=MONEY)
    department = fields.Nested(LedgerDepartment, allow_none=True)
    parties = fields.List(fields.Nested(ContractSummaryParty))
    open_alerts = fields.Nested(OpenAlertCounts, metadata={"description": "the caller's visible unresolved alerts"})
    worst_severity = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ContractPage(Schema):
    items = fields.List(fields.Nested(ContractSummary))
    next_cursor = fields.String(allow_none=True)


@blp.route("", methods=["GET"])
@blp.doc(operationId="list_contracts")
@blp.arguments(ContractListArgs, location="query")
@blp.response(200, ContractPage)
def list_contracts(args):
    """The contracts the caller may see, newest first, with their open alerts counted by severity."""
    return ledger.contracts(db(), principal(), args["limit"], args["cursor"], args["status"], args["department"],
                            args["employer"], args["severity"])


@blp.route("/<path:business_key>", methods=["GET"])
@blp.doc(operationId="get_contract_ledger")
@blp.response(200, ContractLedger, description="parties, department, amounts, milestones (due/accepted/invoiced/paid), "
                                               "payments, invoices, guarantees, corrections, open alerts, arrears_amount")
def get(business_key):
    """The supervision ledger (监管台账) of one contract."""
    return jsonify(forms.to_json(ledger.contract(db(), principal(), business_key)))


@blp.route("/<path:business_key>/corrections", methods=["POST"])
@blp.doc(operationId="correct_contract_entry")
@blp.arguments(CorrectionIn)
@blp.response(201, CorrectionOut)
@blp.alt_response(403, description="only the organisation that made the entry (holding the task's lane) or an admin")
@blp.alt_response(404, description="no such contract, or no such task in it")
@blp.alt_response(409, description="the task is not completed")
@blp.alt_response(422, description="data not of the task's form or not plausible, no reason, or a task without a "
                                   "ledger entry; errors names each field")
def correct(body, business_key):
    """Correct a payment or invoice entry: the ledger and the open alerts are recomputed, the original stays in
    the history, and an `entry_corrected` event records before, after and the reason."""
    return corrections.correct(db(), principal(), business_key, body["task_id"], body["data"], body["reason"])


class SuspensionIn(schemas.Strict):
    suspended_at = fields.String(required=True, metadata={"description": "date (YYYY-MM-DD), not in the future"})
    days = fields.Raw(required=True, metadata={"description": "the period ordered, whole days 1–365"})
    reason = fields.String(required=True, validate=validate.Length(max=2000),
                           metadata={"description": "the ground: a complaint (政府采购法 art 57), an order, …"})


class ResumptionIn(schemas.Strict):
    resumed_at = fields.String(required=True, metadata={"description": "date (YYYY-MM-DD), not before the "
                                                                       "suspension nor in the future"})


class SuspensionOut(Schema):
    business_key = fields.String()
    no = fields.Integer()
    suspended_at = fields.String()
    days = fields.Integer(metadata={"description": "the period ordered"})
    reason = fields.String()
    by = fields.String()
    resumed_at = fields.String(allow_none=True)
    resumed_by = fields.String()
    days_suspended = fields.Integer(allow_none=True, metadata={"description": "resumed_at − suspended_at"})
    timers_moved = fields.Integer()
    alerts_moved = fields.Integer()
    tasks_moved = fields.Integer()


@blp.route("/<path:business_key>/suspensions", methods=["POST"])
@blp.doc(operationId="suspend_contract")
@blp.arguments(SuspensionIn)
@blp.response(201, SuspensionOut)
@blp.alt_response(403, description="only the contract's supervising department (or a parent) or an admin")
@blp.alt_response(404, description="no such contract")
@blp.alt_response(409, description="the contract is not running, or is suspended already")
@blp.alt_response(422, description="days, reason or suspended_at invalid; errors names each field")
def suspend(body, business_key):
    """Suspend a contract: every pending deadline (timers of the contract and its parts, open alerts, ready tasks)
    moves by `days` at once; the history records it."""
    return suspensions.suspend(db(), principal(), business_key, body)


@blp.route("/<path:business_key>/resumption", methods=["POST"])
@blp.doc(operationId="resume_contract")
@blp.arguments(ResumptionIn)
@blp.response(200, SuspensionOut)
@blp.alt_response(403, description="only the contract's supervising department (or a parent) or an admin")
@blp.alt_response(404, description="no such contract")
@blp.alt_response(409, description="the contract is not suspended")
@blp.alt_response(422, description="resumed_at invalid; errors names it")
def resume(body, business_key):
    """Resume a suspended contract: the deadlines move again by the difference between the days suspended and the
    days ordered, so in total by exactly the days suspended."""
    return suspensions.resume(db(), principal(), business_key, body)


class ChangeIn(schemas.Strict):
    kind = fields.String(required=True, metadata={"description": "extension_of_time"})
    days = fields.Raw(required=True, metadata={"description": "whole days, 1–3650"})
    reason = fields.String(required=True, validate=validate.Length(max=2000))
    document_sha256 = fields.String(required=True, metadata={"description": "the change document's SHA-256"})
    proposed_at = fields.String(required=True, metadata={"description": "date (YYYY-MM-DD), not in the future"})


class ChangeConfirmationIn(schemas.Strict):
    confirmed = fields.Raw(required=True, metadata={"description": "true: the contractor signs it; false: refuses it"})
    confirmed_at = fields.String(required=True, metadata={"description": "date, not before the proposal nor in the "
                                                                         "future"})
    document_sha256 = fields.String(required=True, metadata={"description": "must be the proposed document's"})


class ChangeOut(Schema):
    business_key = fields.String()
    no = fields.Integer()
    kind = fields.String()
    days = fields.Integer()
    reason = fields.String()
    document_sha256 = fields.String()
    status = fields.String(metadata={"description": "proposed | accepted | refused"})
    employer_confirmation = fields.Dict(metadata={"description": "{by, at}"})
    contractor_confirmation = fields.Dict(allow_none=True, metadata={"description": "{by, at, confirmed}"})
    timers_moved = fields.Integer()
    alerts_moved = fields.Integer()
    tasks_moved = fields.Integer()


@blp.route("/<path:business_key>/changes", methods=["POST"])
@blp.doc(operationId="propose_contract_change")
@blp.arguments(ChangeIn)
@blp.response(201, ChangeOut)
@blp.alt_response(403, description="only the contract's employer or an admin")
@blp.alt_response(404, description="no such contract")
@blp.alt_response(409, description="the contract is not running")
@blp.alt_response(422, description="kind, days, reason, document_sha256 or proposed_at invalid; errors names each")
def propose_change(body, business_key):
    """The employer proposes a change (an extension of time of `days`): nothing moves until the contractor confirms."""
    return changes.propose(db(), principal(), business_key, body)


@blp.route("/<path:business_key>/changes/<int:no>/confirmation", methods=["POST"])
@blp.doc(operationId="confirm_contract_change")
@blp.arguments(ChangeConfirmationIn)
@blp.response(200, ChangeOut)
@blp.alt_response(403, description="only the contract's contractor or an admin")
@blp.alt_response(404, description="no such contract or change")
@blp.alt_response(409, description="the change is decided already, or the contract is not running")
@blp.alt_response(422, description="confirmed, confirmed_at or document_sha256 invalid; errors names each")
def confirm_change(body, business_key, no):
    """The contractor confirms (or refuses) the change: accepted, an extension of time moves the contractor's pending
    deadlines (timers on its tasks, the alerts it owes, its ready tasks) by exactly its days."""
    return changes.confirm(db(), principal(), business_key, no, body)
