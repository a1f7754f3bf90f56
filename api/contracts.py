"""/api/v1/contracts — the supervision ledger of a contract, and the corrections of its entries."""
from __future__ import annotations

from flask import jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from engine.runtime import forms
from engine.supervision import changes, corrections, ledger, suspensions, termination

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
    changes_total = fields.String(allow_none=True, metadata={
        "description": "the value of every accepted change of the ledger together (signed), e.g. \"-1200.00\""})
    current_amount = fields.String(allow_none=True, metadata={
        "description": "the contract's value today: signed_amount (else contract_amount) + changes_total"})
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
        "description": "the change ledger, oldest first: no, kind, amount (signed), days, milestone_no, reason, "
                       "document_sha256, attachments_sha256, rules, legal_basis, cumulative, status, value_before, "
                       "value_after, employer_confirmation, contractor_confirmation; an accepted government "
                       "procurement change also publication_key (its change_publication instance, G06), published_at "
                       "and publication_url (null until the employer completes publish_change) and publication_status"})
    termination = fields.Dict(allow_none=True, metadata={
        "description": "the termination: ground, party, notice, settlement, guarantees' outcome, successor, "
                       "acknowledgement, effective_on (null while the contract was never noticed)"})
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
    kind = fields.String(required=True, metadata={
        "description": "extra_items (新增工程), variation (变更), site_instruction (现场签证), price_adjustment (价格调整), "
                       "extension_of_time (工期顺延)"})
    amount = fields.Raw(load_default=None, metadata={
        "description": "the value change, a signed money string (\"-1200.00\" reduces): required for the value kinds, "
                       "absent for an extension of time"})
    days = fields.Raw(load_default=None, metadata={
        "description": "whole days: 1–3650 for an extension of time; 0–3650 added by extra items, a variation or a "
                       "site instruction; none for a price adjustment"})
    milestone_no = fields.Raw(load_default=None, metadata={
        "description": "a value change may name the milestone (1, 2, …) whose amount it changes"})
    reason = fields.String(required=True, validate=validate.Length(max=2000))
    document_sha256 = fields.String(required=True, metadata={"description": "the change document's SHA-256"})
    attachments_sha256 = fields.Raw(load_default=None, metadata={
        "description": "supporting documents' SHA-256 (at most 20), e.g. the site instruction and its measurement"})
    proposed_at = fields.String(required=True, metadata={"description": "date (YYYY-MM-DD), not in the future"})


class ChangeConfirmationIn(schemas.Strict):
    confirmed = fields.Raw(required=True, metadata={"description": "true: the contractor signs it; false: refuses it"})
    confirmed_at = fields.String(required=True, metadata={"description": "date, not before the proposal nor in the "
                                                                         "future"})
    document_sha256 = fields.String(required=True, metadata={"description": "must be the proposed document's"})


class ChangeCumulative(Schema):
    increase = fields.String(metadata={"description": "every increase counted together: the ledger's (proposed or "
                                                      "accepted) and the supplementary contracts', with this one"})
    percent = fields.String(allow_none=True, metadata={"description": "increase as a percentage of `of`"})
    of = fields.String(metadata={"description": "the original (signed) amount"})
    cap_percent = fields.String(allow_none=True, metadata={"description": "10 (G07) for government procurement; "
                                                                          "null: no statutory cap (tendering)"})
    rule = fields.String(allow_none=True)


class ChangeOut(Schema):
    business_key = fields.String()
    no = fields.Integer()
    kind = fields.String()
    amount = fields.String(allow_none=True, metadata={"description": "the signed value change; null for an "
                                                                     "extension of time"})
    days = fields.Integer()
    milestone_no = fields.Integer(allow_none=True)
    reason = fields.String()
    document_sha256 = fields.String()
    attachments_sha256 = fields.List(fields.String())
    rules = fields.List(fields.String(), metadata={"description": "the rule ids of its legal basis (rules.json)"})
    legal_basis = fields.String()
    cumulative = fields.Nested(ChangeCumulative, metadata={"description": "value changes only"})
    value_before = fields.String(metadata={"description": "accepted value changes: the contract's value before"})
    value_after = fields.String(metadata={"description": "… and after it"})
    status = fields.String(metadata={"description": "proposed | accepted | refused"})
    employer_confirmation = fields.Dict(metadata={"description": "{by, at}"})
    contractor_confirmation = fields.Dict(allow_none=True, metadata={"description": "{by, at, confirmed}"})
    publication_key = fields.String(metadata={
        "description": "an accepted government procurement change: the business key ({key}-change-{no}) of the "
                       "change_publication instance whose publish_change task is due 2 working days after the "
                       "acceptance (G06, CHANGE_PUBLICATION_OVERDUE otherwise); absent for a tendering contract"})
    timers_moved = fields.Integer()
    alerts_moved = fields.Integer()
    tasks_moved = fields.Integer()


@blp.route("/<path:business_key>/changes", methods=["POST"])
@blp.doc(operationId="propose_contract_change")
@blp.arguments(ChangeIn)
@blp.response(201, ChangeOut)
@blp.alt_response(403, description="only the contract's employer or an admin")
@blp.alt_response(404, description="no such contract")
@blp.alt_response(409, description="the contract is not running (completed, terminated), or the reduction takes its "
                                   "value (or the milestone's amount) below what was paid; errors names the field")
@blp.alt_response(422, description="kind, amount, days, milestone_no, reason, document_sha256, attachments_sha256 or "
                                   "proposed_at invalid, or a GP increase over G07's cap; errors names each")
def propose_change(body, business_key):
    """The employer proposes a change — extra items, a variation, a site instruction, a price adjustment (a signed
    amount) or an extension of time (days): nothing changes until the contractor confirms."""
    return changes.propose(db(), principal(), business_key, body)


@blp.route("/<path:business_key>/changes/<int:no>/confirmation", methods=["POST"])
@blp.doc(operationId="confirm_contract_change")
@blp.arguments(ChangeConfirmationIn)
@blp.response(200, ChangeOut)
@blp.alt_response(403, description="only the contract's contractor or an admin")
@blp.alt_response(404, description="no such contract or change")
@blp.alt_response(409, description="the change is decided already, the contract is not running, a payment since "
                                   "the proposal leaves the reduction below what was paid, or (government "
                                   "procurement) no change_publication process is deployed to watch its publication "
                                   "(G06); errors names the field")
@blp.alt_response(422, description="confirmed, confirmed_at or document_sha256 invalid; errors names each")
def confirm_change(body, business_key, no):
    """The contractor confirms (or refuses) the change: accepted, a value change updates the contract's value (and
    the named milestone's amount); days move the contractor's pending deadlines (timers on its tasks, the alerts it
    owes, its ready tasks) by exactly its days. A government procurement change accepted starts its publication
    (change_publication: publish_change within 2 working days, G06)."""
    return changes.confirm(db(), principal(), business_key, no, body)


class TerminationSettlementIn(schemas.Strict):
    amount = fields.Raw(required=True, metadata={"description": "money: the value of the work done (民法典 art 566), "
                                                               "at most the contract's current value"})
    document_sha256 = fields.String(load_default=None, metadata={"description": "the settlement document's SHA-256"})


class TerminationGuaranteeIn(schemas.Strict):
    guarantee_id = fields.String(required=True, validate=validate.Length(max=36))
    outcome = fields.String(required=True, metadata={"description": "release, or claim (a guarantee given by the "
                                                                    "party in breach)"})
    amount = fields.Raw(load_default=None, metadata={"description": "claim: money, at most what it still covers "
                                                                    "(default: all of it)"})
    note = fields.String(load_default=None, validate=validate.Length(max=2000))


class TerminationSuccessorIn(schemas.Strict):
    route = fields.String(required=True, metadata={"description": "next_candidate or re_tender (条例613 art 55)"})
    candidate = fields.String(load_default=None, validate=validate.Length(max=64),
                              metadata={"description": "next_candidate: the candidate's organisation code"})
    rank = fields.Raw(load_default=None, metadata={"description": "next_candidate: its rank in the evaluation "
                                                                  "committee's list (2, 3, …)"})


class TerminationIn(schemas.Strict):
    ground = fields.String(required=True, metadata={
        "description": "mutual_agreement, force_majeure, breach_by_employer (noticed by the contractor), "
                       "breach_by_contractor (noticed by the employer), public_interest (government procurement)"})
    reason = fields.String(required=True, validate=validate.Length(max=2000))
    noticed_at = fields.String(required=True, metadata={"description": "date (YYYY-MM-DD), not in the future"})
    document_sha256 = fields.String(required=True, metadata={"description": "the notice's SHA-256"})
    settlement = fields.Nested(TerminationSettlementIn, required=True)
    guarantees = fields.List(fields.Nested(TerminationGuaranteeIn), load_default=None, metadata={
        "description": "one outcome for every security the contract holds"})
    successor = fields.Nested(TerminationSuccessorIn, load_default=None, metadata={
        "description": "required for tendering: the next-ranked candidate or a new tender"})
    party = fields.String(load_default=None, metadata={"description": "an admin names the party giving notice"})


class TerminationAcknowledgementIn(schemas.Strict):
    acknowledged_at = fields.String(required=True, metadata={"description": "date the notice reached the other "
                                                                            "party; not before the notice"})
    document_sha256 = fields.String(required=True, metadata={"description": "must be the notice's"})
    note = fields.String(load_default=None, validate=validate.Length(max=2000))


class TerminationOut(Schema):
    business_key = fields.String()
    status = fields.String(metadata={"description": "noticed | effective"})
    ground = fields.String()
    party = fields.String(metadata={"description": "the party that gave notice"})
    by = fields.String()
    reason = fields.String()
    noticed_at = fields.String()
    document_sha256 = fields.String()
    settlement = fields.Dict(metadata={"description": "{amount, paid, balance, contract_value, document_sha256}: "
                                                      "balance = amount − paid (negative: to be refunded)"})
    guarantees = fields.List(fields.Dict(), metadata={"description": "{guarantee_id, kind, outcome, amount, status, "
                                                                     "claim_id}"})
    successor = fields.Dict(allow_none=True, metadata={"description": "{route, candidate, rank}"})
    rules = fields.List(fields.String())
    legal_basis = fields.String()
    acknowledgement = fields.Dict(allow_none=True, metadata={"description": "{by, as (the party, department or "
                                                                            "admin), at, note}"})
    effective_on = fields.String(allow_none=True)
    alerts_resolved = fields.Integer(metadata={"description": "open non-performance alerts resolved 'terminated'"})


@blp.route("/<path:business_key>/termination", methods=["POST"])
@blp.doc(operationId="notify_contract_termination")
@blp.arguments(TerminationIn)
@blp.response(201, TerminationOut)
@blp.alt_response(403, description="only a party to the contract (or an admin naming the party)")
@blp.alt_response(404, description="no such contract")
@blp.alt_response(409, description="the contract is not running, or notice was given already")
@blp.alt_response(422, description="ground (or who may give notice of it), reason, noticed_at, document_sha256, "
                                   "settlement, guarantees or successor invalid; errors names each")
def notify_termination(body, business_key):
    """A party gives notice of termination with its ground, the settlement of the work done, the outcome of every
    guarantee held and (tendering) the route to the next candidate: nothing ends until it is acknowledged."""
    return termination.notify(db(), principal(), business_key, body)


@blp.route("/<path:business_key>/termination/acknowledgement", methods=["POST"])
@blp.doc(operationId="acknowledge_contract_termination")
@blp.arguments(TerminationAcknowledgementIn)
@blp.response(200, TerminationOut)
@blp.alt_response(403, description="only the party notified, the supervising department, or an admin")
@blp.alt_response(404, description="no such contract")
@blp.alt_response(409, description="no notice to acknowledge, or the termination took effect already")
@blp.alt_response(422, description="acknowledged_at or document_sha256 invalid; errors names each")
def acknowledge_termination(body, business_key):
    """The party notified acknowledges the notice, or the department records it: the termination takes effect —
    guarantees released or claimed, open non-performance alerts resolved (arrears stay open until paid), the
    contract's timers and tasks cancelled, the contract ended."""
    return termination.acknowledge(db(), principal(), business_key, body)
