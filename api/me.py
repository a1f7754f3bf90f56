"""/api/v1/me — who the caller is, so a page can show its name and the pages its role may use."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from .auth import principal

blp = Blueprint("me", __name__, url_prefix="/api/v1/me", description="The caller")


class MeOut(Schema):
    name = fields.String()
    role = fields.String(metadata={"enum": ["admin", "operator", "designer", "party", "supervisor"]})
    org = fields.String(allow_none=True, metadata={"description": "a party's organisation code"})
    department = fields.String(allow_none=True, metadata={"description": "a supervisor's department code"})
    departments = fields.List(fields.String(), metadata={"description": "that department and those below it"})


@blp.route("", methods=["GET"])
@blp.doc(operationId="get_me")
@blp.response(200, MeOut)
def me():
    """The authenticated caller: name, role, organisation or department (401 without a valid token)."""
    p = principal()
    return {"name": p.name, "role": p.role, "org": p.org_code, "department": p.department_code,
            "departments": sorted(p.departments)}
