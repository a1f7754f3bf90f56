"""/api/v1/guarantees — the guarantee ledger, claims, and the issuers' signed e-guarantee callbacks."""
from __future__ import annotations

from flask import jsonify, request
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from engine.runtime import forms, strictjson, values
from engine.supervision import guarantee_lifecycle as lifecycle, guarantee_views, guarantees
from engine.usecases import instances
from engine.errors import Invalid, LvyueError

from . import cases as case_routes, schemas
from .auth import db, principal

blp = Blueprint("guarantees", __name__, url_prefix="/api/v1",
                description="Guarantees (保证金/保函): bid, performance, advance payment, quality and payment guarantees")


class GuaranteeListArgs(schemas.PageArgs):
    business_key = fields.String(load_default=None, validate=validate.Length(max=200))
    kind = fields.String(load_default=None, validate=validate.OneOf(lifecycle.KINDS))
    status = fields.String(load_default=None, validate=validate.OneOf(lifecycle.STATUSES))
    cancellation = fields.String(load_default=None, validate=validate.OneOf(("requested",)),
                                 metadata={"description": "requested: released e-guarantees whose cancellation (注销) "
                                                          "was sent to their issuer"})


class PartyRef(Schema):
    org_code = fields.String(allow_none=True)
    name = fields.String(allow_none=True)


class Validity(Schema):
    from_ = fields.String(data_key="from", attribute="from", allow_none=True)
    to = fields.String(allow_none=True)


class Exemption(Schema):
    rule = fields.String(allow_none=True, metadata={"description": "the credit-offset rule (engine/rules.json)"})
    percent = fields.String(allow_none=True)
    freed_amount = fields.String(allow_none=True)


class Cancellation(Schema):
    requested_at = fields.DateTime()
    to = fields.String(allow_none=True)


class GuaranteeOut(Schema):
    id = fields.String()
    instance_id = fields.String()
    business_key = fields.String()
    kind = fields.String(metadata={"enum": list(lifecycle.KINDS)})
    form = fields.String(allow_none=True, metadata={"enum": list(lifecycle.FORMS)})
    electronic = fields.Boolean()
    guarantee_no = fields.String(allow_none=True)
    issuer = fields.Nested(PartyRef)
    applicant = fields.Nested(PartyRef, allow_none=True)
    beneficiary = fields.Nested(PartyRef, allow_none=True)
    amount = fields.String()
    currency = fields.String()
    validity = fields.Nested(Validity)
    document_sha256 = fields.String(allow_none=True)
    verification_code = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": list(lifecycle.STATUSES)})
    exemption = fields.Nested(Exemption, allow_none=True)
    activated_on = fields.String(allow_none=True)
    released_at = fields.String(allow_none=True)
    cancellation = fields.Nested(Cancellation, allow_none=True)
    issuer_notice = fields.Dict(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ClaimOut(Schema):
    id = fields.String()
    no = fields.Integer()
    reason = fields.String()
    alert_id = fields.String(allow_none=True)
    amount = fields.String()
    claimed_at = fields.String()
    status = fields.String()
    filed_at = fields.DateTime()
    filed_by = fields.String()
    note = fields.String(allow_none=True)
    paid_at = fields.String(allow_none=True)
    paid_amount = fields.String(allow_none=True)
    payment_reference = fields.String(allow_none=True)


class GuaranteeEventOut(Schema):
    seq = fields.Integer()
    at = fields.DateTime()
    actor = fields.String()
    event = fields.String()
    data = fields.Dict()


class GuaranteeDetail(GuaranteeOut):
    claims = fields.List(fields.Nested(ClaimOut))
    alerts = fields.List(fields.Nested(schemas.AlertOut))
    events = fields.List(fields.Nested(GuaranteeEventOut))


class ClaimIn(schemas.Strict):
    reason = fields.String(required=True, validate=validate.OneOf(lifecycle.CLAIM_REASONS))
    amount = values.Money(load_default=None, metadata={"description": "default: all the guarantee still covers"})
    claimed_at = values.BusinessDate(load_default=None, metadata={"description": "the claim's date, default today"})
    alert_id = fields.String(load_default=None, validate=validate.Length(max=36),
                             metadata={"description": "non_performance: the confirmed red alert it rests on"})
    note = fields.String(load_default=None, validate=validate.Length(max=2000))


class RefusalConfirmationIn(schemas.Strict):
    refused_at = values.BusinessDate(required=True, metadata={"description": "the date the contractor refused to sign"})
    note = fields.String(required=True, validate=validate.Length(min=1, max=2000),
                         metadata={"description": "what establishes the refusal, e.g. the contractor's written refusal"})


class GuaranteeIn(schemas.Strict):
    business_key = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(lifecycle.RECORDED_KINDS),
                         metadata={"description": "bid, performance and retention follow the contract's process"})
    form = fields.String(required=True, validate=validate.OneOf(("cash", "bank_guarantee", "insurance_policy",
                                                                 "guarantee_company")))
    guarantee_no = fields.String(load_default=None, validate=validate.Length(max=200))
    issuer = fields.String(load_default=None, validate=validate.Length(max=200))
    amount = values.Money(required=True)
    valid_from = values.BusinessDate(load_default=None)
    valid_to = values.BusinessDate(load_default=None)
    document_sha256 = fields.String(load_default=None, validate=validate.Regexp(r"^[0-9a-fA-F]{64}$"))
    verification_code = fields.String(load_default=None, validate=validate.Length(max=200))


GuaranteePage = schemas.page_of(GuaranteeOut, "GuaranteePage")


@blp.route("/guarantees", methods=["GET"])
@blp.doc(operationId="list_guarantees")
@blp.arguments(GuaranteeListArgs, location="query")
@blp.response(200, GuaranteePage)
def list_guarantees(args):
    """Guarantees of the contracts the caller sees (an issuer also sees those it issued)."""
    return guarantee_views.list_(db(), principal(), args["limit"], args["cursor"], args["business_key"], args["kind"],
                            args["status"], args["cancellation"])


@blp.route("/guarantees", methods=["POST"])
@blp.doc(operationId="record_guarantee")
@blp.arguments(GuaranteeIn)
@blp.response(201, GuaranteeDetail)
@blp.alt_response(403, description="only the applicant (the contractor; the employer for a payment guarantee) gives it")
@blp.alt_response(422, description="over its cap, or beside a security the rules forbid it with (Q01, Q02)")
def record(body):
    """Give an advance payment, quality or payment guarantee; an issuer in the system verifies it by its callback."""
    return guarantees.record(db(), principal(), body)


@blp.route("/guarantees/<string:guarantee_id>", methods=["GET"])
@blp.doc(operationId="get_guarantee")
@blp.response(200, GuaranteeDetail)
def get(guarantee_id):
    """One guarantee with its claims, its warnings and its event history."""
    return guarantee_views.get(db(), principal(), guarantee_id)


@blp.route("/guarantees/<string:guarantee_id>/claims", methods=["POST"])
@blp.doc(operationId="claim_guarantee")
@blp.arguments(ClaimIn)
@blp.response(200, GuaranteeDetail)
@blp.alt_response(403, description="only the beneficiary files a claim")
@blp.alt_response(409, description="the guarantee is not in force, or the contract no longer waits to be signed")
@blp.alt_response(422, description="no confirmed non-performance, or an amount over what the guarantee covers")
def claim(body, guarantee_id):
    """The beneficiary's claim (索赔): it reaches the guarantor as its pay_claim task."""
    return guarantees.file_claim(db(), principal(), guarantee_id, body)


class RefusalOut(GuaranteeDetail):
    case = fields.Dict(allow_none=True, metadata={
        "description": "under a bid commitment letter: the supervision case opened against the contractor (Case, "
                       "docs/api.md); else null"})


@blp.route("/guarantees/<string:guarantee_id>/refusal-confirmation", methods=["POST"])
@blp.doc(operationId="confirm_refusal_to_sign")
@blp.arguments(RefusalConfirmationIn)
@blp.response(200, RefusalOut)
@blp.alt_response(403, description="only the contract's supervising department confirms a refusal")
@blp.alt_response(409, description="not a bid guarantee, or the contract no longer waits to be signed")
@blp.alt_response(422, description="a refusal date after today or before the award notice, or no note")
def confirm_refusal(body, guarantee_id):
    """The supervising department confirms the contractor's refusal to sign inside the signing period: the
    beneficiary may then claim the bid guarantee (refused_to_sign) before the period ends. Under a bid commitment
    letter the refusal ends the signing and opens a supervision case against the contractor."""
    try:
        commitment = guarantee_views.get(db(), principal(), guarantee_id).get("form") == "commitment_letter"
    except LvyueError:
        commitment = False  # the confirmation answers for an unknown or invisible guarantee
    if commitment:
        case_routes.require_deployed()  # 409 before anything is recorded, not after
    out = guarantees.confirm_refusal(db(), principal(), guarantee_id, body)
    out["case"] = None
    if out.get("form") == "commitment_letter":
        out["case"] = forms.to_json(case_routes.open_for_broken_commitment(principal(), out["business_key"],
                                                                     body["refused_at"].isoformat()))
    return out


_CALLBACK_DOC = {
    "summary": "The issuer's e-guarantee platform confirms a guarantee (signed), or an operator's message",
    "description": (
        "Signed by the issuer's platform with the secret of the organisation bound to the contract's `guarantor` role "
        "(`lvyue orgs callback-secret`), no bearer token: per Standard Webhooks, headers `webhook-id`, "
        "`webhook-timestamp` (Unix seconds, within 5 minutes of Lvyue's clock) and `webhook-signature: v1,<base64 "
        "HMAC-SHA256(key, id.timestamp.body)>`; or (deprecated, accepted for one more release) "
        "`X-Lvyue-Signature: sha256=<hex HMAC-SHA256(secret text, raw body)>`. The Standard Webhooks key of a "
        "`whsec_` secret is its base64-decoded part, of an older text secret its UTF-8 text (its whsec_ form: "
        "`whsec_` + base64 of that text). Body `{\"payload\": {guarantee_no, amount, valid_to, document_sha256, verification_code?, "
        "verified?, issued_at?, issuer?, note?}}`. It completes the contract's verify_guarantee task (a mismatch with "
        "the contractor's submission is a 422 naming the field) or, before the contractor submitted, is kept on the "
        "guarantee; the answer is the guarantee. Without the signature header this is the ordinary message delivery "
        "of an operator (bearer token), answered with the instance."),
    "security": [{}, {"bearer": []}],
    "parameters": [
        {"in": "header", "name": "webhook-id", "required": False, "schema": {"type": "string", "maxLength": 200},
         "description": "Standard Webhooks: the message id (signed)"},
        {"in": "header", "name": "webhook-timestamp", "required": False, "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
         "description": "Standard Webhooks: Unix seconds, within 5 minutes of Lvyue's clock (signed)"},
        {"in": "header", "name": "webhook-signature", "required": False, "schema": {"type": "string"},
         "description": "Standard Webhooks: `v1,<base64 HMAC-SHA256(key, id.timestamp.body)>`, several separated by spaces"},
        {"in": "header", "name": "X-Lvyue-Signature", "required": False, "deprecated": True, "schema": {"type": "string"},
         "description": "deprecated (no timestamp: replayable): `sha256=<hex HMAC-SHA256(secret, raw body)>`"},
    ],
    "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {
        "payload": {"type": "object"}}, "additionalProperties": False}}}},
    "responses": {"200": {"description": "the guarantee (signed) or the instance (operator)",
                          "content": {"application/json": {"schema": {"oneOf": [GuaranteeDetail, schemas.InstanceOut]}}}},
                  "401": {"description": "no token, or a signature that does not verify"}},
}


@blp.route("/instances/<string:instance_id>/messages/guarantee_issued", methods=["POST"])
@blp.doc(operationId="confirm_guarantee_issued")
@blp.doc(**_CALLBACK_DOC)
def guarantee_issued(instance_id):
    if guarantees.is_signed(request.headers):
        result = guarantees.issuer_callback(db(), instance_id, request.get_data(cache=True), request.headers)
        return jsonify(forms.to_json(result))
    who = principal()  # who is asking is decided before what they sent is read
    document = strictjson.load_body(request.get_data(cache=True) or b"null")  # bounded like every body (api/bodies.py)
    try:
        body = schemas.MessageIn().load(document if document is not None else {})
    except ValidationError as exc:
        raise Invalid("the message is invalid", {k: v if isinstance(v, list) else [str(v)]
                                                 for k, v in exc.normalized_messages().items()}) from None
    result = instances.deliver_message(db(), who, instance_id, "guarantee_issued", body["payload"])
    return jsonify(forms.to_json(schemas.InstanceOut().dump(result)))
