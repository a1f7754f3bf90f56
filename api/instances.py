"""/api/v1/instances — contracts under supervision."""
from __future__ import annotations

from flask_smorest import Blueprint

from engine.usecases import instances

from . import schemas
from .auth import db, principal

blp = Blueprint("instances", __name__, url_prefix="/api/v1/instances", description="Process instances (contracts)")


@blp.route("", methods=["POST"])
@blp.doc(operationId="start_instance")
@blp.arguments(schemas.StartIn)
@blp.response(201, schemas.InstanceOut)
def start(body):
    """Start a contract: bind its roles and run it to its first wait states."""
    return instances.start(db(), principal(), body["definition"], body["version"], body["business_key"], body["data"])


@blp.route("", methods=["GET"])
@blp.doc(operationId="list_instances")
@blp.arguments(schemas.InstanceListArgs, location="query")
@blp.response(200, schemas.InstancePage)
def list_instances(args):
    return instances.list_(db(), principal(), args["limit"], args["cursor"], args["status"], args["business_key"],
                           args["definition"])


@blp.route("/<string:instance_id>", methods=["GET"])
@blp.doc(operationId="get_instance")
@blp.response(200, schemas.InstanceOut)
def get(instance_id):
    return instances.get(db(), principal(), instance_id)


@blp.route("/<string:instance_id>/history", methods=["GET"])
@blp.doc(operationId="get_instance_history")
@blp.arguments(schemas.PageArgs, location="query")
@blp.response(200, schemas.HistoryPage)
def history(args, instance_id):
    """The hash-chained audit trail, oldest first."""
    return instances.history(db(), principal(), instance_id, args["limit"], args["cursor"])


@blp.route("/<string:instance_id>/diagram", methods=["GET"])
@blp.doc(operationId="get_instance_diagram")
@blp.response(200, schemas.DiagramOut)
def diagram(instance_id):
    return instances.diagram(db(), principal(), instance_id)


@blp.route("/<string:instance_id>/messages/<string:name>", methods=["POST"])
@blp.doc(operationId="deliver_message")
@blp.arguments(schemas.MessageIn)
@blp.response(200, schemas.InstanceOut)
def message(body, instance_id, name):
    """Deliver a message to a waiting catch event."""
    return instances.deliver_message(db(), principal(), instance_id, name, body["payload"])


@blp.route("/<string:instance_id>/cancel", methods=["POST"])
@blp.doc(operationId="cancel_instance")
@blp.arguments(schemas.CancelIn)
@blp.response(200, schemas.InstanceOut)
def cancel(body, instance_id):
    return instances.cancel(db(), principal(), instance_id, body["reason"])
