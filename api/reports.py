"""Supervisor insight: the monthly report, the dashboard's figures, credit records, leads, and OCDS export.

Blueprints: /api/v1/reports (monthly report, dashboard data), /api/v1/credit-records, /api/v1/leads,
/api/v1/ocds (release packages) and /api/v1/contracts/{business_key}/ocds (one contract's release).
The schemas of `POST /api/v1/alerts/{id}/confirm` (api/alerts.py) live here too.
"""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Response, jsonify, request
from flask_smorest import Blueprint
from marshmallow import INCLUDE, Schema, fields, validate

from engine.supervision import credit, ocds, reports, risk, rules
from engine.runtime import forms, values

from .auth import db, principal, settings
from .schemas import AlertOut, PageArgs, Strict, page_of

MONTH = validate.Regexp(r"^[0-9]{4}-(0[1-9]|1[0-2])$", error="a month written YYYY-MM, e.g. 2026-10")

reports_blp = Blueprint("reports", __name__, url_prefix="/api/v1/reports", description="Supervision reports")
credit_blp = Blueprint("credit_records", __name__, url_prefix="/api/v1/credit-records",
                       description="Credit records written when a red alert is confirmed")
leads_blp = Blueprint("leads", __name__, url_prefix="/api/v1/leads", description="Leads to discipline inspection")
ocds_blp = Blueprint("ocds", __name__, url_prefix="/api/v1/ocds", description="OCDS 1.1 release packages")
contract_ocds_blp = Blueprint("contract_ocds", __name__, url_prefix="/api/v1/contracts",
                              description="OCDS 1.1 release of one contract")
BLUEPRINTS = (reports_blp, credit_blp, leads_blp, ocds_blp, contract_ocds_blp)


# ---------------------------------------------------------------- schemas
class MonthlyArgs(Strict):
    month = fields.String(required=True, validate=MONTH, metadata={"description": "YYYY-MM, China time"})
    department = fields.String(load_default=None, validate=validate.Length(1, 64),
                               metadata={"description": "a department code inside the caller's subtree; its subtree is reported"})
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


class CreditListArgs(PageArgs):
    org = fields.String(load_default=None, validate=validate.Length(1, 64), metadata={"description": "organisation code"})
    month = fields.String(load_default=None, validate=MONTH, metadata={"description": "records dated in this month"})


class LeadListArgs(PageArgs):
    month = fields.String(load_default=None, validate=MONTH,
                          metadata={"description": "leads whose alert turned red in this month (China time)"})
    status = fields.String(load_default=None, validate=validate.OneOf(list(credit.LEAD_STATUSES)),
                           metadata={"description": "default: pending and confirmed"})
    kind = fields.String(load_default="all", validate=validate.OneOf(["all", "alert", "risk"]),
                         metadata={"description": "alert (red alerts and leads reported by hand), risk (the risk "
                                                  "indicators of imported tenders, docs/intake.md), or all (default)"})
    type = fields.String(load_default=None, validate=validate.OneOf(list(credit.LEAD_TYPES)),
                         metadata={"description": "the supervision leads of one type (alert leads only)"})


class PackageArgs(Strict):
    month = fields.String(required=True, validate=MONTH)
    limit = fields.Integer(load_default=None, metadata={
        "description": f"releases per package, 1–{ocds.PACKAGE_MAX} (default {ocds.PACKAGE_LIMIT}); the next package is "
                       "at links.next"})
    cursor = fields.String(load_default=None, validate=validate.Length(1, 1000),
                           metadata={"description": "from links.next of the previous package"})


class ConfirmIn(Strict):
    decision = fields.String(required=True, validate=validate.OneOf(list(credit.DECISIONS)))
    note = fields.String(load_default=None, validate=validate.Length(max=4000))


class CreditRuleOut(Schema):
    code = fields.String()
    legal_basis = fields.String(allow_none=True)


class PublicityOut(Schema):
    rule = fields.String(allow_none=True, metadata={
        "description": "the registry entries that set the period, joined by '+': CP01 (warnings, not published), "
                       "CP02 (general), CP03 (serious), S02 (tendering, 6 months), S03 (Henan's 5-year cap); "
                       "null until the decision"})
    legal_basis = fields.String(allow_none=True)
    verified = fields.String(allow_none=True, metadata={"description": "the entries' DOMAIN.md marks, e.g. 'U/L'"})
    published = fields.Boolean(metadata={"description": "decided and of a class that is published"})
    months = fields.Integer(allow_none=True)
    from_ = fields.String(allow_none=True, data_key="from", attribute="from",
                          metadata={"description": "the first day of publicity (the decision's date)"})
    until = fields.String(allow_none=True, metadata={"description": "the last day of publicity, YYYY-MM-DD"})
    repair_after = fields.String(allow_none=True, metadata={"description": "from this day credit repair may end "
                                                                           "publication early (null: it may not)"})
    in_publicity = fields.Boolean(metadata={"description": "in the public library today"})


class RecordDecisionOut(Schema):
    document_no = fields.String()
    date = fields.String()
    legal_basis = fields.String()
    severity = fields.String(metadata={"enum": list(rules.SEVERITIES)})
    decided_at = fields.DateTime()
    decided_by = fields.String()


class RemovalOut(Schema):
    at = fields.DateTime()
    reason = fields.String(metadata={"enum": list(credit.REMOVAL_REASONS)})
    due = fields.String(allow_none=True, metadata={"description": "the last day S03C/S03D allowed"})
    note = fields.String(allow_none=True)


class CreditRecordOut(Schema):
    id = fields.String()
    org = fields.String()
    org_name = fields.String(allow_none=True)
    alert_id = fields.String(allow_none=True)
    instance_id = fields.String()
    business_key = fields.String()
    department = fields.String(allow_none=True)
    track = fields.String(allow_none=True)
    rule = fields.Nested(CreditRuleOut)
    date = fields.String(metadata={"description": "the day the red alert was confirmed, YYYY-MM-DD (China time)"})
    status = fields.String(metadata={"enum": list(credit.RECORD_STATUSES)})
    decision = fields.Nested(RecordDecisionOut, allow_none=True)
    publicity = fields.Nested(PublicityOut)
    removal = fields.Nested(RemovalOut, allow_none=True)
    note = fields.String(allow_none=True)
    created_at = fields.DateTime()
    created_by = fields.String()


class RecordDecisionIn(Strict):
    document_no = fields.String(required=True, validate=validate.Length(1, 100),
                                metadata={"description": "the decision's document number (文号)"})
    date = values.BusinessDate(required=True, metadata={"description": "the decision's date; not after today"})
    legal_basis = fields.String(required=True, validate=validate.Length(1, 500))
    severity = fields.String(required=True, validate=validate.OneOf(list(rules.SEVERITIES)))


class LeadOutcomeOut(Schema):
    result = fields.String()
    note = fields.String(allow_none=True)
    at = fields.DateTime()
    by = fields.String()


class LeadOut(Schema):
    id = fields.String(allow_none=True, metadata={"description": "null while pending"})
    kind = fields.String(metadata={"enum": ["alert", "risk"], "description": "alert: a red alert's lead; risk: a lead "
                                                                              "of the risk indicators (docs/intake.md)"})
    lead_type = fields.String(metadata={"description": "risk leads: bid_rigging | abnormal_win_rate | expert_scoring"})
    indicators = fields.List(fields.String(), metadata={"description": "risk leads: the indicators that raised it"})
    subjects = fields.List(fields.Dict(), metadata={"description": "risk leads: the bidders (key, name)"})
    ocids = fields.List(fields.String(), metadata={"description": "risk leads: the tenders"})
    status = fields.String(metadata={"enum": list(credit.LEAD_STATUSES)})
    alert_id = fields.String(allow_none=True, metadata={"description": "null for a lead reported by hand"})
    instance_id = fields.String()
    business_key = fields.String()
    department = fields.String(allow_none=True)
    to_department = fields.String(allow_none=True)
    responsible_org = fields.String(allow_none=True)
    responsible_members = fields.List(fields.String(), allow_none=True, metadata={
        "description": "a consortium's members, the responsible (lead) organisation first, jointly and severally "
                       "liable with it; null when it stands alone"})
    code = fields.String()
    legal_basis = fields.String(allow_none=True)
    escalated_at = fields.DateTime()
    confirmed_at = fields.DateTime(allow_none=True)
    confirmed_by = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    evidence = fields.Dict(metadata={"description": "the audit-trail excerpt about the obligation, with hashes, "
                                                    "and the chain head (frozen when confirmed)"})
    type = fields.String(metadata={"enum": list(credit.LEAD_TYPES)})
    route = fields.String(allow_none=True, metadata={"description": "configured (a route for the type) or escalation "
                                                                    "(the department's escalation target); null while pending"})
    acknowledged_at = fields.DateTime(allow_none=True)
    acknowledged_by = fields.String(allow_none=True)
    outcome = fields.Nested(LeadOutcomeOut, allow_none=True)


class DecisionOut(Schema):
    decision = fields.String(metadata={"enum": list(credit.DECISIONS)})
    note = fields.String(allow_none=True)
    decided_at = fields.DateTime()
    decided_by = fields.String()


class ConfirmOut(AlertOut):
    decision = fields.Nested(DecisionOut)
    credit_record = fields.Nested(CreditRecordOut, allow_none=True, metadata={
        "description": "the responsible organisation's record"})
    credit_records = fields.List(fields.Nested(CreditRecordOut), metadata={
        "description": "one record per responsible organisation: a consortium's members each get one"})
    lead = fields.Nested(LeadOut, allow_none=True)


class ReportScopeOut(Schema):
    month = fields.String()
    timezone = fields.String()
    start = fields.DateTime()
    end = fields.DateTime()
    departments = fields.List(fields.String())
    contracts_in_scope = fields.Integer()


SECTION = {"description": "a section of figures; each figure is defined under `definitions` (docs/reports.md)"}


class MonthlyReport(Schema):
    """The monthly supervision report (月度监管报告); sections registered by other modules may follow."""

    class Meta:
        unknown = INCLUDE  # reports.register_section adds sections

    report = fields.Nested(ReportScopeOut)
    contracts = fields.Dict(metadata=SECTION)
    filings = fields.Dict(metadata=SECTION)
    milestones = fields.Dict(metadata=SECTION)
    arrears = fields.Dict(metadata=SECTION)
    held_past_release = fields.Dict(metadata=SECTION)
    alerts = fields.Dict(metadata=SECTION)
    credit_records = fields.Dict(metadata=SECTION)
    leads = fields.Dict(metadata=SECTION)
    guarantees = fields.Dict(metadata=SECTION)
    definitions = fields.Dict(keys=fields.String(), values=fields.String(),
                              metadata={"description": "section.figure → what it counts"})


class Dashboard(Schema):
    """What the supervisors' dashboard shows (engine/supervision/reports.py `dashboard`)."""

    generated_at = fields.DateTime()
    open_alerts = fields.Dict(metadata={"description": "total, by_severity, by_age, age_buckets, items"})
    arrears_by_employer = fields.List(fields.Dict(), metadata={"description": "{org, name, amount}"})
    arrears_by_age = fields.Dict(metadata={"description": "buckets, total, by_employer, by_funding_source"})
    contracts_at_risk = fields.List(fields.Dict())
    cases = fields.Dict(metadata={"description": "supervision cases by stage, overdue rectifications (issue 18)"})
    objections = fields.Dict(metadata={"description": "objections open, overdue and answered by outcome"})
    published_credit_records = fields.Integer(metadata={"description": "records in the public library today"})


OCDS_SCHEMA = "https://standard.open-contracting.org/1.1/en/schema/"


class OcdsRelease(Schema):
    """An OCDS 1.1 release (release-schema.json 1.1.5, tag `implementation` or as the content says); the full
    schema is the standard's, ocds.py builds it."""

    class Meta:
        unknown = INCLUDE  # the standard's other fields and the declared extensions' fields

    ocid = fields.String()
    id = fields.String()
    date = fields.DateTime()
    tag = fields.List(fields.String())
    initiationType = fields.String()
    language = fields.String()
    parties = fields.List(fields.Dict())
    buyer = fields.Dict()
    awards = fields.List(fields.Dict())
    contracts = fields.List(fields.Dict())


class OcdsPublisher(Schema):
    name = fields.String()
    scheme = fields.String()
    uid = fields.String()
    uri = fields.String()


class OcdsReleasePackage(Schema):
    """An OCDS 1.1 release package (release-package-schema.json 1.1.5)."""

    class Meta:
        unknown = INCLUDE

    uri = fields.String()
    version = fields.String()
    publishedDate = fields.DateTime()
    publisher = fields.Nested(OcdsPublisher)
    extensions = fields.List(fields.String(), metadata={"description": "the extension.json of every extension used"})
    releases = fields.List(fields.Nested(OcdsRelease))
    links = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "present when more releases follow: {\"next\": the URL of the next package}"})


CreditRecordPage = page_of(CreditRecordOut, "CreditRecordPage")
LeadPage = page_of(LeadOut, "LeadPage")


def _ocid_prefix() -> str:
    return settings().ocid_prefix


# ---------------------------------------------------------------- reports
@reports_blp.route("/monthly", methods=["GET"])
@reports_blp.doc(operationId="get_monthly_report")
@reports_blp.arguments(MonthlyArgs, location="query")
@reports_blp.doc(responses={"200": {"description": "the report; every figure is defined under `definitions` "
                                                   "(docs/reports.md). format=csv: rows section,figure,value",
                                    "content": {"application/json": {"schema": MonthlyReport},
                                                "text/csv": {"schema": {"type": "string"}}}}})
def monthly(args):
    """The monthly supervision report (月度监管报告) of the caller's department subtree."""
    report = forms.to_json(reports.monthly(db(), principal(), args["month"], args["department"]))
    if args["format"] == "csv":
        scope = args["department"] or "all"
        return Response(reports.to_csv(report), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="lvyue-report-{args["month"]}-{scope}.csv"'})
    return jsonify(report)


@reports_blp.route("/dashboard", methods=["GET"])
@reports_blp.doc(operationId="get_dashboard")
@reports_blp.response(200, Dashboard, description="open alerts by severity and age, arrears by employer, "
                                                  "contracts at risk")
def dashboard_data():
    """What the supervisors' dashboard (/dashboard) shows, now."""
    return jsonify(forms.to_json(reports.dashboard(db(), principal())))


# ---------------------------------------------------------------- credit records and leads
@credit_blp.route("", methods=["GET"])
@credit_blp.doc(operationId="list_credit_records")
@credit_blp.arguments(CreditListArgs, location="query")
@credit_blp.response(200, CreditRecordPage)
def list_credit_records(args):
    """Credit records, newest first (supervisors, admins; a party: its own organisation's)."""
    return credit.list_records(db(), principal(), args["limit"], args["cursor"], args["org"], args["month"])


@credit_blp.route("/<string:record_id>", methods=["GET"])
@credit_blp.doc(operationId="get_credit_record")
@credit_blp.response(200, CreditRecordOut)
def get_credit_record(record_id):
    """One credit record (supervisors, admins; a party: its own organisation's)."""
    return credit.get_record(db(), principal(), record_id)


@credit_blp.route("/<string:record_id>/decision", methods=["POST"])
@credit_blp.doc(operationId="decide_credit_record")
@credit_blp.arguments(RecordDecisionIn)
@credit_blp.response(200, CreditRecordOut)
def decide_credit_record(body, record_id):
    """The department's administrative decision on a record awaiting one; publishes it for the registry's period."""
    return credit.decide(db(), principal(), record_id, body["document_no"], body["date"], body["legal_basis"],
                         body["severity"])


@leads_blp.route("", methods=["GET"])
@leads_blp.doc(operationId="list_leads")
@leads_blp.arguments(LeadListArgs, location="query")
@leads_blp.response(200, LeadPage)
def list_leads(args):
    """Escalated red alerts as leads to discipline inspection, with their evidence trail."""
    extra = risk.transfer_rows if args["kind"] in ("all", "risk") and not args["type"] else None
    return credit.list_leads(db(), principal(), args["limit"], args["cursor"], args["month"], args["status"],
                             args["type"], extra, alerts=args["kind"] != "risk")


# ---------------------------------------------------------------- OCDS
@ocds_blp.route("/releases", methods=["GET"])
@ocds_blp.doc(operationId="get_ocds_release_package")
@ocds_blp.arguments(PackageArgs, location="query")
@ocds_blp.response(200, OcdsReleasePackage, description="an OCDS 1.1 release package (release-package-schema 1.1.5)")
@ocds_blp.doc(externalDocs={"description": "OCDS 1.1 schema", "url": OCDS_SCHEMA})
def release_package(args):
    """The releases of the contracts visible to the caller with implementation activity in the month."""
    def next_uri(cursor: str) -> str:
        query = {"month": args["month"], "cursor": cursor}
        if args["limit"] is not None:
            query["limit"] = args["limit"]
        return request.base_url + "?" + urlencode(query)

    return jsonify(ocds.package(db(), principal(), args["month"], request.url, _ocid_prefix(),
                                settings().ocds_publisher, args["limit"], args["cursor"], next_uri))


@contract_ocds_blp.route("/<path:business_key>/ocds", methods=["GET"])
@contract_ocds_blp.doc(operationId="get_contract_ocds_release")
@contract_ocds_blp.response(200, OcdsRelease, description="an OCDS 1.1 release (release-schema 1.1.5)")
@contract_ocds_blp.doc(externalDocs={"description": "OCDS 1.1 schema", "url": OCDS_SCHEMA})
def contract_release(business_key):
    """The OCDS 1.1 release of one contract: parties, award, contract milestones, payments as transactions."""
    return jsonify(ocds.contract_release(db(), principal(), business_key, _ocid_prefix()))


from . import credit_process  # noqa: E402  (objections, revocation and repair add routes to credit_blp)

BLUEPRINTS = BLUEPRINTS + (credit_process.objections_blp,)
