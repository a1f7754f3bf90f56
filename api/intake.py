"""The trading platform's awards (docs/intake.md): OCDS import, tenders, awards and the contract an award
starts, the market bulletin and the risk indicators and leads.

Blueprints: POST /api/v1/ocds/import; GET /api/v1/tenders/{ocid}[/risk]; GET /api/v1/awards[/{id}],
POST /api/v1/awards/{id}/contract; GET /api/v1/bulletin/monthly; GET /api/v1/risk/indicators, /api/v1/risk/leads.
"""
from __future__ import annotations

from flask import Response, jsonify, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from engine.runtime import forms
from engine.supervision import bulletin, intake, risk
from engine.usecases import instances

from . import schemas
from .auth import db, principal, settings
from .schemas import JSON_OBJECT, PageArgs, Strict, json_object, page_of

MONTH = validate.Regexp(r"^[0-9]{4}-(0[1-9]|1[0-2])$", error="a month written YYYY-MM, e.g. 2026-10")

import_blp = Blueprint("ocds_import", __name__, url_prefix="/api/v1/ocds",
                       description="Import of the trading platform's OCDS 1.1 release packages")
tenders_blp = Blueprint("tenders", __name__, url_prefix="/api/v1/tenders", description="Imported tenders")
awards_blp = Blueprint("awards", __name__, url_prefix="/api/v1/awards",
                       description="Imported awards and the contracts they start")
risk_blp = Blueprint("risk", __name__, url_prefix="/api/v1/risk",
                     description="Risk indicators of bid rigging and fraud, and the leads they raise")
bulletin_blp = Blueprint("bulletin", __name__, url_prefix="/api/v1/bulletin",
                         description="The monthly market bulletin over the imported tenders")
BLUEPRINTS = [import_blp, tenders_blp, awards_blp, risk_blp, bulletin_blp]


class ImportOut(Schema):
    releases = fields.Integer(metadata={"description": "releases in the package"})
    created = fields.List(fields.String(), metadata={"description": "release ids that opened a new contracting process"})
    updated = fields.List(fields.String(), metadata={"description": "release ids applied to a known process"})
    unchanged = fields.List(fields.String(), metadata={"description": "release ids imported before (nothing changed)"})
    tenders = fields.Integer(metadata={"description": "contracting processes the new releases touched"})
    awards = fields.Integer(metadata={"description": "awards the new releases carried"})
    leads = fields.Dict(metadata={"description": "risk leads written or extended by the scan after the import"})


class ContractPeriodOut(Schema):
    start = fields.String(allow_none=True)
    end = fields.String(allow_none=True)


class AwardOut(Schema):
    id = fields.String()
    ocid = fields.String()
    award_id = fields.String()
    title = fields.String(allow_none=True)
    status = fields.String(allow_none=True)
    amount = fields.String(allow_none=True, metadata={"description": "decimal string, CNY"})
    date = fields.String(allow_none=True, metadata={"description": "the award date, YYYY-MM-DD (China time)"})
    supplier = fields.String(allow_none=True, metadata={"description": "scheme:identifier of the supplier"})
    consortium = fields.List(fields.String(), allow_none=True, metadata={
        "description": "an award to a consortium (联合体): every supplier's party id in the release, the lead first; "
                       "null for one supplier"})
    contract_period = fields.Nested(ContractPeriodOut)
    instance_id = fields.String(allow_none=True, metadata={"description": "the contract it started, if any"})


class AwardDetail(AwardOut):
    tender = fields.Dict()
    contract = fields.Dict(allow_none=True, metadata={"description": "the started contract and the signed-vs-award check"})
    risk = fields.List(fields.Dict(), metadata={"description": "the risk indicator hits on its tender (GET /tenders/{ocid}/risk)"})


class AwardListArgs(PageArgs):
    ocid = fields.String(load_default=None, validate=validate.Length(1, 200))
    started = fields.Boolean(load_default=None)
    instance_id = fields.String(load_default=None, validate=validate.Length(1, 36),
                                metadata={"description": "the award that started this contract"})


class AwardStartIn(Strict):
    business_key = fields.String(required=True, validate=validate.Length(1, 128))
    version = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))
    data = fields.Dict(keys=fields.String(), load_default=dict,
                       metadata={"description": "the post_award start data the award does not give (track, bid bond, "
                                                "rates, milestones …); fields the award gives may be left out"})


AwardPage = page_of(AwardOut, "AwardPage")


class HitOut(Schema):
    indicator = fields.String(metadata={"description": "K01…K07 (GET /risk/definitions)"})
    name = fields.String()
    title = fields.String()
    subjects = fields.List(fields.String(), metadata={"description": "bidder keys scheme:id (an expert: expert:ID)"})
    ocids = fields.List(fields.String())
    evidence = fields.Dict()
    lead_type = fields.String(allow_none=True)
    legal_basis = fields.String()


class HitsOut(Schema):
    rules_version = fields.String()
    ocid = fields.String()
    hits = fields.List(fields.Nested(HitOut))


class HitArgs(Strict):
    indicator = fields.String(load_default=None, validate=validate.Length(1, 10))


class RiskLeadOut(Schema):
    id = fields.String()
    kind = fields.String(metadata={"description": "always `risk`"})
    lead_type = fields.String(metadata={"description": "bid_rigging | abnormal_win_rate | expert_scoring"})
    indicators = fields.List(fields.String())
    subjects = fields.List(fields.Dict())
    ocids = fields.List(fields.String())
    department = fields.String(allow_none=True)
    to_department = fields.String(allow_none=True, metadata={"description": "the department's route for the type, "
                                                                            "else its escalation target"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    evidence = fields.Dict(metadata={"description": "which tenders, which fields (docs/intake.md)"})


class RiskLeadArgs(PageArgs):
    month = fields.String(load_default=None, validate=MONTH, metadata={"description": "leads written in this month"})
    type = fields.String(load_default=None, validate=validate.Length(1, 40))


RiskLeadPage = page_of(RiskLeadOut, "RiskLeadPage")


@import_blp.route("/import", methods=["POST"])
@import_blp.doc(operationId="import_ocds_package")
@import_blp.doc(requestBody={"content": JSON_OBJECT, "description": "an OCDS 1.1 release package"})
@import_blp.response(200, ImportOut)
def import_package():
    """Import an OCDS 1.1 release package (operators, admins); idempotent by release id."""
    package = intake.load(request.get_data())
    return intake.import_package(db(), principal(), package, settings().ocds_schema_dir)


@tenders_blp.route("/<path:ocid>/risk", methods=["GET"])
@tenders_blp.doc(operationId="get_tender_risk")
@tenders_blp.response(200, HitsOut)
def tender_risk(ocid):
    """The risk indicators that flag this tender (operators, admins; supervisors: their department's)."""
    return risk.tender_hits(db(), principal(), ocid)


@tenders_blp.route("/<path:ocid>", methods=["GET"])
@tenders_blp.doc(operationId="get_tender")
@tenders_blp.doc(responses={"200": {"description": "the tender, its parties, bids and awards", "content": json_object(
    ocid="string", tender_id="string", title="string", sector="string", procedure="string", procedure_details="string",
    department="string", department_name="string", buyer="string", ceiling="string", opened_on="string",
    released_at="string", parties="array", bids="array", awards="array")}})
def get_tender(ocid):
    """One imported tender (operators, admins; supervisors: their department's)."""
    return jsonify(forms.to_json(intake.get_tender(db(), principal(), ocid)))


@awards_blp.route("", methods=["GET"])
@awards_blp.doc(operationId="list_awards")
@awards_blp.arguments(AwardListArgs, location="query")
@awards_blp.response(200, AwardPage)
def list_awards(args):
    """Imported awards, by ocid (operators, admins; supervisors: their department's)."""
    return intake.list_awards(db(), principal(), args["limit"], args["cursor"], args["ocid"], args["started"],
                              args["instance_id"])


@awards_blp.route("/<string:award_id>", methods=["GET"])
@awards_blp.doc(operationId="get_award")
@awards_blp.response(200, AwardDetail)
def get_award(award_id):
    """An award, its contract and the signed-vs-award check."""
    return intake.get_award(db(), principal(), award_id)


@awards_blp.route("/<string:award_id>/contract", methods=["POST"])
@awards_blp.doc(operationId="start_award_contract")
@awards_blp.arguments(AwardStartIn)
@awards_blp.response(201, schemas.InstanceOut)
def start_contract(body, award_id):
    """Start the award's post_award contract: parties, amount and dates from the award, the rest as given."""
    data = intake.contract_start_data(db(), principal(), award_id, body["data"])
    return instances.start(db(), principal(), "post_award", body["version"], body["business_key"], data,
                           within=intake.link_award(award_id, principal()))


@risk_blp.route("/definitions", methods=["GET"])
@risk_blp.doc(operationId="get_risk_definitions")
@risk_blp.doc(responses={"200": {"description": "risk_rules.json: indicators with definitions, thresholds, legal "
                                                "bases, and the lead types",
                                                "content": json_object(version="string", indicators="array",
                                                                       leads="object")}})
def risk_definitions():
    """The risk indicators' definitions and thresholds (data: engine/supervision/risk_rules.json)."""
    principal()
    return jsonify(risk.definitions())


@risk_blp.route("/indicators", methods=["GET"])
@risk_blp.doc(operationId="list_risk_indicators")
@risk_blp.arguments(HitArgs, location="query")
@risk_blp.response(200, HitsOut)
def risk_indicators(args):
    """Every indicator hit over the imported tenders (supervisors: those touching their department's tenders)."""
    return risk.all_hits(db(), principal(), args["indicator"])


@risk_blp.route("/leads", methods=["GET"])
@risk_blp.doc(operationId="list_risk_leads")
@risk_blp.arguments(RiskLeadArgs, location="query")
@risk_blp.response(200, RiskLeadPage)
def risk_leads(args):
    """Risk leads with their evidence, oldest first: the month's transfer list of the risk monitoring."""
    return risk.list_leads(db(), principal(), args["limit"], args["cursor"], args["month"], args["type"])


class BulletinArgs(Strict):
    month = fields.String(required=True, validate=MONTH, metadata={"description": "YYYY-MM, China time"})
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


@bulletin_blp.route("/monthly", methods=["GET"])
@bulletin_blp.doc(operationId="get_monthly_bulletin")
@bulletin_blp.arguments(BulletinArgs, location="query")
@bulletin_blp.doc(responses={"200": {"description": "the bulletin; every figure is defined under `definitions` "
                                                   "(docs/intake.md). format=csv: rows section,figure,value",
                                    "content": {**json_object(
                                        month="string", tenders="object", by_sector="array", by_procedure="array",
                                        by_department="array", trend="object", size="array", competition="object",
                                        bidders="object", openness="object", concentration="object",
                                        contracts="object", definitions="object"),
                                        "text/csv": {"schema": {"type": "string"}}}}})
def monthly_bulletin(args):
    """The monthly market bulletin (交易大数据月报): amounts and counts by sector, procedure and department, trend,
    size, competition, bidders and new entrants, openness, concentration (operators, supervisors, admins)."""
    out = bulletin.monthly(db(), principal(), args["month"])
    if args["format"] == "csv":
        return Response(bulletin.to_csv(out), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="lvyue-bulletin-{args["month"]}.csv"'})
    return jsonify(out)
