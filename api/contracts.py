"""/api/v1/contracts — the supervision ledger of a contract."""
from __future__ import annotations

from flask_smorest import Blueprint

from engine.supervision import ledger

from .auth import db, principal

blp = Blueprint("contracts", __name__, url_prefix="/api/v1/contracts", description="Contract ledgers")


@blp.route("/<path:business_key>", methods=["GET"])
@blp.doc(responses={"200": {"description": "parties, department, amounts, milestones (due/accepted/invoiced/paid), "
                                           "payments, invoices, guarantees, open alerts, arrears_amount"}})
def get(business_key):
    """The supervision ledger (监管台账) of one contract."""
    from flask import jsonify

    from engine.runtime import forms

    return jsonify(forms.to_json(ledger.contract(db(), principal(), business_key)))
