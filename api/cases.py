"""/api/v1/cases — supervision cases (监管督办案件): opened from alerts or by hand; the case's own tasks are
ordinary tasks of its instance (GET /tasks, POST /tasks/{id}/complete)."""
from __future__ import annotations

import dataclasses

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from engine.supervision import cases
from engine.usecases import instances

from .auth import db, principal
from .schemas import PageArgs, Strict, page_of

blp = Blueprint("cases", __name__, url_prefix="/api/v1/cases", description="Supervision cases (监管督办案件)")


class CaseIn(Strict):
    reason = fields.String(required=True, validate=validate.Length(1, 4000))
    alert_ids = fields.List(fields.String(validate=validate.Length(1, 36)), load_default=None,
                            validate=validate.Length(1, cases.MAX_ALERTS),
                            metadata={"description": "alerts of one contract and one responsible party"})
    business_key = fields.String(load_default=None, validate=validate.Length(1, 200),
                                 metadata={"description": "by hand: the contract"})
    party_role = fields.String(load_default=None, validate=validate.OneOf(list(cases.PARTY_ROLES)),
                               metadata={"description": "by hand: whose obligation"})


class CaseListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(list(cases.STATUSES)))
    business_key = fields.String(load_default=None, validate=validate.Length(1, 200))


class CaseAlertOut(Schema):
    id = fields.String()
    severity = fields.String()
    status = fields.String()
    resolution = fields.String(allow_none=True)


class RectificationOut(Schema):
    order_no = fields.String()
    ordered_at = fields.String()
    due = fields.String(metadata={"description": "the last day of the rectification period"})
    legal_basis = fields.String()
    overdue = fields.Boolean(metadata={"description": "waiting for the party's evidence after the last day"})
    alert = fields.Nested(CaseAlertOut, allow_none=True, metadata={"description": "the RECTIFICATION_OVERDUE warning"})


class CaseOut(Schema):
    id = fields.String()
    case_instance_id = fields.String(metadata={"description": "the case's own process instance (its tasks, history)"})
    business_key = fields.String(metadata={"description": "the contract's"})
    contract_instance_id = fields.String()
    department = fields.String(allow_none=True)
    org = fields.String()
    party_role = fields.String(metadata={"enum": list(cases.PARTY_ROLES)})
    track = fields.String(allow_none=True)
    source = fields.String(metadata={"enum": list(cases.SOURCES)})
    reason = fields.String()
    alert_ids = fields.List(fields.String())
    status = fields.String(metadata={"enum": list(cases.STATUSES)})
    stage = fields.String(metadata={"enum": ["notice", "admonition", "rectification_order", "evidence", "verification",
                                             "closed", "escalated"]})
    opened_at = fields.DateTime()
    opened_by = fields.String()
    closed_at = fields.DateTime(allow_none=True)
    rectification = fields.Nested(RectificationOut, allow_none=True)
    credit_record_id = fields.String(allow_none=True, metadata={"description": "escalated: the record awaiting a decision"})


CasePage = page_of(CaseOut, "CasePage")


def start_case(who, data: dict) -> dict:
    """Start a case instance on the department's behalf (the generic start use case is the operators'); its actor is
    the supervisor."""
    started = instances.start(db(), dataclasses.replace(who, role="operator"), cases.PROCESS, None, cases.case_key(), data)
    return cases.view_by_instance(db(), who, started["id"])


def require_deployed() -> None:
    """409 unless the supervision_case process is deployed."""
    cases.require_deployed(db())


def open_for_broken_commitment(who, business_key: str, refused_at: str) -> dict:
    """The contractor broke its bid commitment letter (refused to sign): a case against it (source commitment)."""
    data = cases.start_data(db(), who, f"拒不签订合同，违背投标信用承诺（{refused_at}）", None, business_key,
                            "contractor", source="commitment")
    return start_case(who, data)


@blp.route("", methods=["POST"])
@blp.doc(operationId="open_case")
@blp.arguments(CaseIn)
@blp.response(201, CaseOut)
def open_case(body):
    """Open a supervision case from alerts of one contract (or by hand): its process starts at the notice."""
    who = principal()
    data = cases.start_data(db(), who, body["reason"], body["alert_ids"], body["business_key"], body["party_role"])
    return start_case(who, data)


@blp.route("", methods=["GET"])
@blp.doc(operationId="list_cases")
@blp.arguments(CaseListArgs, location="query")
@blp.response(200, CasePage)
def list_cases(args):
    """Cases, oldest first: the department subtree's, or the party's own."""
    return cases.list_(db(), principal(), args["limit"], args["cursor"], args["status"], args["business_key"])


@blp.route("/<string:case_id>", methods=["GET"])
@blp.doc(operationId="get_case")
@blp.response(200, CaseOut)
def get_case(case_id):
    return cases.get(db(), principal(), case_id)
