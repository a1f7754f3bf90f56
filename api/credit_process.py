"""Due process on credit records: decisions live in api/reports.py; here the party's objections, the
department's answers, revocation and credit repair (engine/supervision/objections.py); leads reported by hand,
acknowledged and answered by the receiving body, and the monthly transfer list (engine/supervision/leads.py)."""
from __future__ import annotations

from flask import Response, jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from engine.runtime import forms, values
from engine.supervision import credit, leads, objections, rules

from .auth import db, principal
from .reports import MONTH, CreditRecordOut, LeadOut, credit_blp, leads_blp, reports_blp
from .schemas import PageArgs, Strict, json_object, page_of

objections_blp = Blueprint("objections", __name__, url_prefix="/api/v1/objections",
                           description="Objections to published credit records (异议) and their answers")


class ObjectionIn(Strict):
    grounds = fields.String(required=True, validate=validate.Length(1, 4000))


class DueOut(Schema):
    rule = fields.String(metadata={"description": "S03A (3 working days, in-house) or S03B (7, provider checks)"})
    last_day = fields.String(metadata={"description": "the department's last day to answer, YYYY-MM-DD"})
    legal_basis = fields.String()


class ObjectionOut(Schema):
    id = fields.String()
    record_id = fields.String()
    org = fields.String()
    department = fields.String(allow_none=True)
    grounds = fields.String()
    filed_at = fields.DateTime()
    filed_by = fields.String()
    check = fields.String(metadata={"enum": list(objections.CHECKS)})
    due = fields.Nested(DueOut)
    status = fields.String(metadata={"enum": list(objections.STATUSES)})
    overdue = fields.Boolean(metadata={"description": "open and past its last day (the department's warning)"})
    outcome = fields.String(allow_none=True, metadata={"enum": list(objections.OUTCOMES)})
    answer = fields.String(allow_none=True)
    answered_at = fields.DateTime(allow_none=True)
    answered_by = fields.String(allow_none=True)
    late = fields.Boolean(allow_none=True, metadata={"description": "answered after its last day"})
    warned_at = fields.DateTime(allow_none=True, metadata={"description": "when the department was warned "
                                                                          "(objection.overdue) that its period passed"})


class AnsweredOut(ObjectionOut):
    record = fields.Nested(CreditRecordOut)


class AnswerIn(Strict):
    outcome = fields.String(required=True, validate=validate.OneOf(list(objections.OUTCOMES)))
    answer = fields.String(required=True, validate=validate.Length(1, 4000))
    severity = fields.String(load_default=None, validate=validate.OneOf(list(rules.SEVERITIES)),
                             metadata={"description": "outcome corrected: the corrected severity class"})
    legal_basis = fields.String(load_default=None, validate=validate.Length(1, 500),
                                metadata={"description": "outcome corrected: the corrected legal basis"})


class ObjectionListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(list(objections.STATUSES)))
    overdue = fields.Boolean(load_default=None)
    record_id = fields.String(load_default=None, validate=validate.Length(1, 36))


class NoteRequiredIn(Strict):
    note = fields.String(required=True, validate=validate.Length(1, 4000))


class RepairIn(Strict):
    applied_on = values.BusinessDate(required=True, metadata={"description": "the day the party applied for repair"})
    note = fields.String(required=True, validate=validate.Length(1, 4000))


ObjectionPage = page_of(ObjectionOut, "ObjectionPage")


@credit_blp.route("/<string:record_id>/objections", methods=["POST"])
@credit_blp.doc(operationId="object_to_credit_record")
@credit_blp.arguments(ObjectionIn)
@credit_blp.response(201, ObjectionOut)
def object_to(body, record_id):
    """The organisation a published record concerns objects to it; the department's period starts (S03A)."""
    return objections.file(db(), principal(), record_id, body["grounds"])


@credit_blp.route("/<string:record_id>/revocation", methods=["POST"])
@credit_blp.doc(operationId="revoke_credit_record")
@credit_blp.arguments(NoteRequiredIn)
@credit_blp.response(200, CreditRecordOut)
def revoke(body, record_id):
    """The department revokes its decision: the record leaves the public library at once (S03C)."""
    return objections.revoke(db(), principal(), record_id, body["note"])


@credit_blp.route("/<string:record_id>/repair", methods=["POST"])
@credit_blp.doc(operationId="repair_credit_record")
@credit_blp.arguments(RepairIn)
@credit_blp.response(200, CreditRecordOut)
def repair(body, record_id):
    """Credit repair granted: publication ends early, from the day the registry allows (publicity.repair_after)."""
    return objections.repair(db(), principal(), record_id, body["applied_on"], body["note"])


@objections_blp.route("", methods=["GET"])
@objections_blp.doc(operationId="list_objections")
@objections_blp.arguments(ObjectionListArgs, location="query")
@objections_blp.response(200, ObjectionPage)
def list_objections(args):
    """Objections, oldest first: the department's (subtree), or the party's own; `overdue=true` for the late ones."""
    return objections.list_(db(), principal(), args["limit"], args["cursor"], args["status"], args["overdue"],
                            args["record_id"])


@objections_blp.route("/<string:objection_id>", methods=["GET"])
@objections_blp.doc(operationId="get_objection")
@objections_blp.response(200, ObjectionOut)
def get_objection(objection_id):
    return objections.get(db(), principal(), objection_id)


@objections_blp.route("/<string:objection_id>/refer", methods=["POST"])
@objections_blp.doc(operationId="refer_objection")
@objections_blp.response(200, ObjectionOut)
def refer(objection_id):
    """The provider of the information must check: 7 working days from the filing (S03B)."""
    return objections.refer(db(), principal(), objection_id)


@objections_blp.route("/<string:objection_id>/answer", methods=["POST"])
@objections_blp.doc(operationId="answer_objection")
@objections_blp.arguments(AnswerIn)
@objections_blp.response(200, AnsweredOut)
def answer(body, objection_id):
    """The department's answer: upheld (removed at once), corrected, rejected, or revoked (removed at once)."""
    return objections.answer(db(), principal(), objection_id, body["outcome"], body["answer"], body["severity"],
                             body["legal_basis"])


# ---------------------------------------------------------------- leads by type
class LeadIn(Strict):
    type = fields.String(required=True, validate=validate.OneOf(list(credit.LEAD_TYPES)))
    business_key = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(required=True, validate=validate.Length(1, 4000))
    responsible_org = fields.String(load_default=None, validate=validate.Length(1, 64))


class LeadNoteIn(Strict):
    note = fields.String(load_default=None, validate=validate.Length(max=4000))


class LeadOutcomeIn(Strict):
    outcome = fields.String(required=True, validate=validate.OneOf(list(leads.OUTCOMES)))
    note = fields.String(required=True, validate=validate.Length(1, 4000))


class TransferArgs(Strict):
    month = fields.String(required=True, validate=MONTH)
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


@leads_blp.route("", methods=["POST"])
@leads_blp.doc(operationId="report_lead")
@leads_blp.arguments(LeadIn)
@leads_blp.response(201, LeadOut)
def report_lead(body):
    """A department reports a lead about one of its contracts (an official interfering, bid rigging …): routed by type."""
    return leads.report(db(), principal(), body["business_key"], body["type"], body["description"],
                        body["responsible_org"])


@leads_blp.route("/<string:lead_id>/acknowledge", methods=["POST"])
@leads_blp.doc(operationId="acknowledge_lead")
@leads_blp.arguments(LeadNoteIn)
@leads_blp.response(200, LeadOut)
def acknowledge_lead(body, lead_id):
    """The receiving body confirms it received the lead (回执)."""
    return leads.acknowledge(db(), principal(), lead_id, body["note"])


@leads_blp.route("/<string:lead_id>/outcome", methods=["POST"])
@leads_blp.doc(operationId="record_lead_outcome")
@leads_blp.arguments(LeadOutcomeIn)
@leads_blp.response(200, LeadOut)
def lead_outcome(body, lead_id):
    """The receiving body's outcome (处理结果): case_filed, no_case, transferred, concluded."""
    return leads.record_outcome(db(), principal(), lead_id, body["outcome"], body["note"])


@reports_blp.route("/transfers", methods=["GET"])
@reports_blp.doc(operationId="get_monthly_transfer_list")
@reports_blp.arguments(TransferArgs, location="query")
@reports_blp.doc(responses={"200": {"description": "{month, total, acknowledged, by_type: {type: {count, acknowledged, "
                                                   "outcome_recorded}}, by_receiver, items}; format=csv: one row per lead, "
                                                   "columns " + ", ".join(leads.TRANSFER_CSV_HEADER),
                                    "content": {**json_object(month="string", total="integer", acknowledged="integer",
                                                             by_type="object", by_receiver="object", items="array"),
                                                "text/csv": {"schema": {"type": "string"}}}}})
def transfers(args):
    """The monthly transfer list (每月移送清单): leads transferred in the month, by type and receiving body."""
    report = leads.transfers(db(), principal(), args["month"])
    if args["format"] == "csv":
        return Response(leads.transfers_csv(report), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="lvyue-transfers-{args["month"]}.csv"'})
    return jsonify(forms.to_json(report))
