"""Request and response schemas (marshmallow); flask-smorest turns them into the OpenAPI spec."""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from engine.storage.pagination import MAX_LIMIT


class Strict(Schema):
    class Meta:
        unknown = RAISE


class PageArgs(Strict):
    limit = fields.Integer(load_default=None, validate=validate.Range(1, MAX_LIMIT),
                           metadata={"description": f"page size, default 50, max {MAX_LIMIT}"})
    cursor = fields.String(load_default=None, validate=validate.Length(max=500))


def page_of(item_schema: type[Schema], name: str) -> type[Schema]:
    return type(name, (Schema,), {"items": fields.List(fields.Nested(item_schema)),
                                  "next_cursor": fields.String(allow_none=True)})


# ---------------------------------------------------------------- definitions
class DefinitionOut(Schema):
    id = fields.Integer()
    key = fields.String()
    version = fields.Integer()
    name = fields.String(allow_none=True)
    sha256 = fields.String()
    deployed_at = fields.DateTime()


class DefinitionTask(Schema):
    element_id = fields.String()
    name = fields.String(allow_none=True)
    lane = fields.String(allow_none=True)


class DefinitionDetail(DefinitionOut):
    roles = fields.List(fields.String())
    user_tasks = fields.List(fields.Nested(DefinitionTask))
    start_form = fields.List(fields.Nested("FormField"), metadata={
        "description": "the start event's form as the diagram declares it (lvyue:form), as tasks list theirs"})
    start_schema = fields.Dict(metadata={
        "description": "JSON Schema of POST /instances `data`: the start form plus the role bindings the lanes need"})


class LintProblem(Schema):
    element_id = fields.String(allow_none=True)
    line = fields.Integer(allow_none=True)
    message = fields.String()


class ValidationOut(Schema):
    valid = fields.Boolean()
    problems = fields.List(fields.Nested(LintProblem))


class DefinitionListArgs(PageArgs):
    key = fields.String(load_default=None, validate=validate.Length(max=200))


# ---------------------------------------------------------------- tasks
class FormField(Schema):
    name = fields.String()
    type = fields.String()
    required = fields.Boolean()
    label = fields.String()
    # A plain List would fall back to dict.values for forms without enum values.
    values = fields.Function(lambda f: f.get("values"), metadata={"type": "array", "items": {"type": "string"}, "nullable": True})
    min = fields.String()
    max = fields.String()
    max_length = fields.String()
    children = fields.List(fields.Dict(), data_key="fields", attribute="fields")


class TaskOut(Schema):
    id = fields.String()
    instance_id = fields.String()
    business_key = fields.String()
    element_id = fields.String()
    name = fields.String(allow_none=True)
    lane = fields.String(allow_none=True)
    milestone_no = fields.Integer(allow_none=True, metadata={"description": "the milestone (partition item) the task belongs to"})
    form = fields.List(fields.Nested(FormField))
    created_at = fields.DateTime()
    due_at = fields.DateTime(allow_none=True)


class TaskDetail(TaskOut):
    state = fields.String()
    schema = fields.Dict()
    completed_at = fields.DateTime(allow_none=True)
    completed_by = fields.String(allow_none=True)


class TaskListArgs(PageArgs):
    instance_id = fields.String(load_default=None, validate=validate.Length(max=36))
    element_id = fields.String(load_default=None, validate=validate.Length(max=200))


class CompleteIn(Strict):
    data = fields.Dict(keys=fields.String(), required=True, metadata={"description": "the task's form data"})


# ---------------------------------------------------------------- instances
class DefinitionRef(Schema):
    key = fields.String()
    version = fields.Integer()


class TimerOut(Schema):
    id = fields.String()
    element_id = fields.String()
    due_at = fields.DateTime()
    status = fields.String()


class InstanceSummary(Schema):
    id = fields.String()
    business_key = fields.String()
    status = fields.String()
    definition = fields.Nested(DefinitionRef)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class InstanceOut(InstanceSummary):
    data = fields.Dict()
    roles = fields.Dict(keys=fields.String(), values=fields.String())
    error = fields.String(allow_none=True)
    tasks = fields.List(fields.Nested(TaskOut))
    timers = fields.List(fields.Nested(TimerOut))
    alerts = fields.List(fields.Nested("AlertOut"))


class CompleteOut(Schema):
    instance = fields.Nested(InstanceOut)
    next_tasks = fields.List(fields.Nested(TaskOut))


class StartIn(Strict):
    definition = fields.String(required=True, validate=validate.Length(1, 200))
    version = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))
    business_key = fields.String(required=True, validate=validate.Length(1, 128))
    data = fields.Dict(keys=fields.String(), load_default=dict)


class InstanceListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(["running", "completed", "cancelled", "error"]))
    business_key = fields.String(load_default=None, validate=validate.Length(max=128))
    definition = fields.String(load_default=None, validate=validate.Length(max=200))


class HistoryEvent(Schema):
    seq = fields.Integer()
    at = fields.DateTime()
    actor = fields.String()
    action = fields.String()
    element_id = fields.String(allow_none=True)
    data = fields.Dict()
    hash = fields.String()
    prev_hash = fields.String()


class DiagramOut(Schema):
    xml = fields.String()
    active = fields.List(fields.String())
    completed = fields.List(fields.String())
    drawn = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "element ids the engine generated from a warning ladder (a step's timer, throw, end event "
                       "and flows) → the id of the ladder drawn in `xml`; `active`/`completed` already name the ladder"})


class CancelIn(Strict):
    reason = fields.String(load_default=None, validate=validate.Length(max=2000))


class MessageIn(Strict):
    payload = fields.Dict(keys=fields.String(), load_default=dict)


DefinitionPage = page_of(DefinitionOut, "DefinitionPage")
TaskPage = page_of(TaskOut, "TaskPage")
InstancePage = page_of(InstanceSummary, "InstancePage")
HistoryPage = page_of(HistoryEvent, "HistoryPage")


# ---------------------------------------------------------------- alerts, incidents
class AlertOut(Schema):
    id = fields.String()
    kind = fields.String(metadata={"enum": ["arrears", "non_performance"]})
    code = fields.String()
    severity = fields.String(metadata={"enum": ["yellow", "orange", "red"]})
    department = fields.String(allow_none=True)
    escalated_to = fields.String(allow_none=True)
    instance_id = fields.String()
    business_key = fields.String()
    element_id = fields.String()
    responsible_org = fields.String(allow_none=True)
    due_at = fields.DateTime()
    raised_at = fields.DateTime()
    updated_at = fields.DateTime()
    days_overdue = fields.Integer()
    amount_overdue = fields.String(allow_none=True)
    interest_accrued = fields.String(allow_none=True, metadata={
        "description": "arrears: late-payment interest on amount_overdue (P05, 0.05 % a day after the due day), "
                       "to the day resolved or today"})
    legal_basis = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": ["open", "acknowledged", "resolved"]})
    acknowledged_at = fields.DateTime(allow_none=True)
    note = fields.String(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    resolution = fields.String(allow_none=True)


class AlertListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(["open", "acknowledged", "resolved"]))
    kind = fields.String(load_default=None, validate=validate.OneOf(["arrears", "non_performance"]))
    code = fields.String(load_default=None, validate=validate.Length(max=64))
    severity = fields.String(load_default=None, validate=validate.OneOf(["yellow", "orange", "red"]))
    business_key = fields.String(load_default=None, validate=validate.Length(max=128))
    instance_id = fields.String(load_default=None, validate=validate.Length(max=36))


class NoteIn(Strict):
    note = fields.String(load_default=None, validate=validate.Length(max=4000))


class IncidentOut(Schema):
    id = fields.String()
    kind = fields.String()
    instance_id = fields.String(allow_none=True)
    timer_id = fields.String(allow_none=True)
    element_id = fields.String(allow_none=True)
    error = fields.String()
    attempts = fields.Integer()
    status = fields.String()
    created_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)


class IncidentListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(["open", "retried"]))


AlertPage = page_of(AlertOut, "AlertPage")
IncidentPage = page_of(IncidentOut, "IncidentPage")


# A JSON object request body whose fields its endpoint's documentation lists (an OCDS package, a form's data).
JSON_OBJECT = {"application/json": {"schema": {"type": "object"}}}


def json_object(**properties: str) -> dict:
    """The `content` of a JSON object response with its top-level fields typed (`name="string"`, "integer",
    "number", "boolean", "array" of objects, "object"); what nests inside is described by the endpoint's
    documentation."""
    return {"application/json": {"schema": {"type": "object", "properties": {
        name: {"type": kind, "nullable": True, **({"items": {"type": "object"}} if kind == "array" else {})}
        for name, kind in properties.items()}}}}
