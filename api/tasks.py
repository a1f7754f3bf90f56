"""/api/v1/tasks — what contract parties and supervisors do next."""
from __future__ import annotations

from flask_smorest import Blueprint

from engine.usecases import tasks

from . import schemas
from .auth import db, principal

blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks", description="User tasks")


@blp.route("", methods=["GET"])
@blp.doc(operationId="list_tasks")
@blp.arguments(schemas.TaskListArgs, location="query")
@blp.response(200, schemas.TaskPage)
def list_tasks(args):
    """The READY user tasks the caller may act on."""
    return tasks.list_ready(db(), principal(), args["limit"], args["cursor"], args["instance_id"], args["element_id"])


@blp.route("/<string:task_id>", methods=["GET"])
@blp.doc(operationId="get_task")
@blp.response(200, schemas.TaskDetail)
def get(task_id):
    return tasks.get(db(), principal(), task_id)


@blp.route("/<string:task_id>/complete", methods=["POST"])
@blp.doc(operationId="complete_task")
@blp.arguments(schemas.CompleteIn)
@blp.response(200, schemas.CompleteOut)
@blp.alt_response(403, description="the caller's organisation does not hold the task's lane")
@blp.alt_response(409, description="the task is no longer ready")
@blp.alt_response(422, description="invalid data; errors names each field")
def complete(body, task_id):
    return tasks.complete(db(), principal(), task_id, body["data"])
