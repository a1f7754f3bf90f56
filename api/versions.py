"""Designer and operator tools over versions: the statutory rule registry (read-only), the diff between
two versions of a definition, and moving a running contract to a newer version."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from engine import clock
from engine.supervision import deadlines, timing
from engine.runtime import versions

from . import schemas
from .auth import db, principal

rules_blp = Blueprint("rules", __name__, url_prefix="/api/v1/rules",
                      description="The statutory rule registry (read-only): the periods deadline() counts")
blp = Blueprint("versions", __name__, url_prefix="/api/v1",
                description="Versions: the diff between two versions of a definition; migrating a contract")


# ---------------------------------------------------------------- schemas
class RuleOut(Schema):
    id = fields.String(metadata={"description": "the id used in deadline('ID', start)"})
    title = fields.String()
    days = fields.Integer()
    unit = fields.String(metadata={"description": "days (日, calendar days) or workdays (工作日)"})
    start_event = fields.String(metadata={"description": "the business date the period counts from"})
    legal_basis = fields.String()
    cap = fields.Integer(allow_none=True, metadata={"description": "the longest period a contract may agree instead"})
    effective_from = fields.String()
    effective_to = fields.String(allow_none=True)
    in_force = fields.Boolean(metadata={"description": "this version applies today"})
    verified = fields.String()
    note = fields.String(allow_none=True)


class RuleList(Schema):
    items = fields.List(fields.Nested(RuleOut))


class DiffArgs(Schema):
    class Meta:
        unknown = RAISE

    from_ = fields.Integer(required=True, data_key="from", validate=validate.Range(min=1, max=2**31 - 1))
    to = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))


class DiffElement(Schema):
    element_id = fields.String()
    type = fields.String(metadata={"description": "the BPMN element type, e.g. userTask, boundaryEvent"})
    name = fields.String(allow_none=True)


class DiffChange(DiffElement):
    changes = fields.List(fields.String(), metadata={"description": "attributes and child elements that changed"})
    details = fields.Dict(keys=fields.String(), values=fields.Dict(),
                          metadata={"description": "per change: {from, to} (text summaries for child elements)"})


class DiffOut(Schema):
    key = fields.String()
    from_ = fields.Integer(data_key="from", attribute="from")
    to = fields.Integer()
    added = fields.List(fields.Nested(DiffElement))
    removed = fields.List(fields.Nested(DiffElement))
    changed = fields.List(fields.Nested(DiffChange))


class MigrateIn(Schema):
    class Meta:
        unknown = RAISE

    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**31 - 1),
                             metadata={"description": "the newer version to move to"})
    dry_run = fields.Boolean(load_default=False, metadata={"description": "report what would happen, change nothing"})


class VersionRef(Schema):
    key = fields.String()
    version = fields.Integer()


class TimerMove(Schema):
    id = fields.String()
    element_id = fields.String()
    from_ = fields.String(allow_none=True, data_key="from", attribute="from")
    to = fields.String(allow_none=True)


class MigrateOut(Schema):
    instance_id = fields.String()
    from_ = fields.Nested(VersionRef, data_key="from", attribute="from")
    to = fields.Nested(VersionRef)
    dry_run = fields.Boolean()
    blocked = fields.List(fields.String())
    changed = fields.List(fields.String(), metadata={"description": "active elements whose definition changed"})
    timers = fields.List(fields.Nested(TimerMove), metadata={"description": "waiting timers: due before and after"})
    instance = fields.Nested(schemas.InstanceOut)


class CandidateVersion(Schema):
    version = fields.Integer()
    possible = fields.Boolean()
    blocked = fields.List(fields.String())


class MigrationOptions(Schema):
    instance_id = fields.String()
    key = fields.String()
    version = fields.Integer()
    status = fields.String()
    versions = fields.List(fields.Nested(CandidateVersion))


# ---------------------------------------------------------------- rules
@rules_blp.route("", methods=["GET"])
@rules_blp.doc(operationId="list_rules")
@rules_blp.response(200, RuleList)
def list_rules():
    """Every version of every statutory period (id, title, days and unit, legal basis), for the modeler."""
    principal()  # signed-in users only, like the definitions they are used in
    today = clock.now().astimezone(deadlines.SHANGHAI).date()
    return {"items": [{**rule.to_dict(), "in_force": rule.in_force_on(today)} for rule in timing.registry().all()]}


# ---------------------------------------------------------------- versions
@blp.route("/definitions/<string:key>/diff", methods=["GET"])
@blp.doc(operationId="diff_definition_versions")
@blp.arguments(DiffArgs, location="query")
@blp.response(200, DiffOut)
def definition_diff(args, key):
    """Elements added, removed and changed between two versions (layout changes are ignored)."""
    return versions.diff(db(), principal(), key, args["from_"], args["to"])


@blp.route("/instances/<string:instance_id>/migrate", methods=["POST"])
@blp.doc(operationId="migrate_instance")
@blp.arguments(MigrateIn)
@blp.response(200, MigrateOut)
@blp.doc(responses={"409": {"description": "the instance is not running, or changed concurrently"},
                    "422": {"description": "no such newer version, or active elements missing from it "
                                           "(errors.version names each element id)"}})
def migrate(body, instance_id):
    """Move a running contract to a newer version of its definition (operator, admin); timers are recomputed."""
    return versions.migrate(db(), principal(), instance_id, body["version"], body["dry_run"])


@blp.route("/instances/<string:instance_id>/migrate", methods=["GET"])
@blp.doc(operationId="get_migration_options")
@blp.response(200, MigrationOptions)
def migration_options(instance_id):
    """The newer versions of the instance's definition and, for each, the active elements that block a move."""
    return versions.check_version(db(), principal(), instance_id)
