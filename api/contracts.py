"""/api/v1/contracts — the supervision ledger of a contract, and the corrections of its entries."""
from __future__ import annotations

from flask import jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from engine.runtime import forms
from engine.supervision import corrections, ledger

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


@blp.route("/<path:business_key>", methods=["GET"])
@blp.doc(responses={"200": {"description": "parties, department, amounts, milestones (due/accepted/invoiced/paid), "
                                           "payments, invoices, guarantees, corrections, open alerts, arrears_amount"}})
def get(business_key):
    """The supervision ledger (监管台账) of one contract."""
    return jsonify(forms.to_json(ledger.contract(db(), principal(), business_key)))


@blp.route("/<path:business_key>/corrections", methods=["POST"])
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
