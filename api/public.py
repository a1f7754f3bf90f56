"""/api/v1/public — what anyone may read without a token: the public credit library (engine/supervision/library.py)."""
from __future__ import annotations

from flask import Response, jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from engine import clock
from engine.supervision import deadlines, library, rules, timing

from .auth import db
from .schemas import PageArgs, Strict, json_object, page_of

blp = Blueprint("public", __name__, url_prefix="/api/v1/public",
                description="The public credit library (市场主体诚信库), no token needed")
# Endpoints of this blueprint that skip authentication (api/__init__.py PUBLIC_ENDPOINTS).
ENDPOINTS = ("public.list_public_records", "public.export_public_records", "public.publicity_rules")


class PublicArgs(PageArgs):
    q = fields.String(load_default=None, validate=validate.Length(1, library.MAX_QUERY),
                      metadata={"description": "organisation name (contains) or unified social credit code (exact)"})


class ExportArgs(Strict):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


class PublicOrgOut(Schema):
    name = fields.String(allow_none=True)
    uscc = fields.String(allow_none=True, metadata={"description": "统一社会信用代码"})


class PublicDecisionOut(Schema):
    document_no = fields.String()
    date = fields.String()
    legal_basis = fields.String()
    severity = fields.String(metadata={"enum": list(rules.SEVERITIES)})
    department = fields.String(allow_none=True, metadata={"description": "the deciding department's name"})


class PublicViolationOut(Schema):
    legal_basis = fields.String(allow_none=True, metadata={"description": "the breached rule"})


class PublicPublicityOut(Schema):
    from_ = fields.String(data_key="from", attribute="from")
    until = fields.String()
    rule = fields.String()
    legal_basis = fields.String()


class PublicRecordOut(Schema):
    id = fields.String()
    organisation = fields.Nested(PublicOrgOut)
    decision = fields.Nested(PublicDecisionOut)
    violation = fields.Nested(PublicViolationOut)
    publicity = fields.Nested(PublicPublicityOut)


PublicRecordPage = page_of(PublicRecordOut, "PublicRecordPage")


@blp.route("/credit-records", methods=["GET"])
@blp.doc(operationId="list_public_records")
@blp.arguments(PublicArgs, location="query")
@blp.response(200, PublicRecordPage)
@blp.doc(security=[])
def list_public_records(args):
    """Credit records within their publicity period, newest decision first: the decision and its legal basis only."""
    return library.list_public(db(), args["q"], args["limit"], args["cursor"])


@blp.route("/credit-records/export", methods=["GET"])
@blp.doc(operationId="export_public_records")
@blp.arguments(ExportArgs, location="query")
@blp.doc(security=[], responses={"200": {"description": f"format=json: {{format: '{library.EXPORT_FORMAT}', as_of, "
                                                          "generated_at, count, records: [PublicRecord]}; format=csv: "
                                                          "one row per record, columns " + ", ".join(library.CSV_HEADER),
                                         "content": {**json_object(format="string", as_of="string",
                                                                  generated_at="string", count="integer",
                                                                  records="array"),
                                                     "text/csv": {"schema": {"type": "string"}}}}})
def export_public_records(args):
    """Every record in the public library today, for the provincial credit platform (documented in docs/api.md)."""
    kind, body = library.export(db(), args["format"])
    if kind == "csv":
        return Response(body, mimetype="text/csv", headers={
            "Content-Disposition": 'attachment; filename="lvyue-credit-records.csv"'})
    return jsonify(body)


class PublicityRuleOut(Schema):
    id = fields.String()
    title = fields.String()
    severities = fields.List(fields.String(), metadata={"description": "the decisions' severity classes it covers"})
    tracks = fields.List(fields.String(), allow_none=True, metadata={"description": "null: every track"})
    published = fields.Boolean(allow_none=True, metadata={"description": "false: such decisions are not published; "
                                                                        "null for a cap"})
    months = fields.Integer(allow_none=True)
    repair_after_months = fields.Integer(allow_none=True, metadata={"description": "credit repair may end publication "
                                                                                   "from this month on"})
    cap_months = fields.Integer(allow_none=True, metadata={"description": "a cap: no record longer than this"})
    legal_basis = fields.String()
    verified = fields.String(metadata={"description": "DOMAIN.md mark: P primary text, S secondary, U unchecked, "
                                                      "L local, D derived"})
    effective_from = fields.String()
    effective_to = fields.String(allow_none=True)
    in_force = fields.Boolean()
    note = fields.String(allow_none=True)


class PublicityRuleList(Schema):
    items = fields.List(fields.Nested(PublicityRuleOut))


@blp.route("/publicity-rules", methods=["GET"])
@blp.doc(operationId="list_publicity_rules")
@blp.response(200, PublicityRuleList)
@blp.doc(security=[])
def publicity_rules():
    """The publicity periods of credit records by severity class and track, with their legal basis and how well
    each was verified (the rule registry, kind publicity): what the public library applies."""
    today = clock.now().astimezone(deadlines.SHANGHAI).date()
    items = []
    for entry in timing.registry().publicity():
        item = {"tracks": None, "published": None, "months": None, "repair_after_months": None, "cap_months": None,
                "note": None, **entry.to_dict(), "in_force": entry.in_force_on(today)}
        item.pop("kind", None)
        items.append(item)
    return {"items": items}
