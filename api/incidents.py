"""/api/v1/incidents — timers and deliveries that failed their last retry."""
from __future__ import annotations

from flask_smorest import Blueprint

from engine.runtime import timers

from . import schemas
from .auth import db, principal

blp = Blueprint("incidents", __name__, url_prefix="/api/v1/incidents", description="Failed timers and deliveries")


@blp.route("", methods=["GET"])
@blp.doc(operationId="list_incidents")
@blp.arguments(schemas.IncidentListArgs, location="query")
@blp.response(200, schemas.IncidentPage)
def list_incidents(args):
    return timers.list_incidents(db(), principal(), args["limit"], args["cursor"], args["status"])


@blp.route("/<string:incident_id>/retry", methods=["POST"])
@blp.doc(operationId="retry_incident")
@blp.response(200, schemas.IncidentOut)
def retry(incident_id):
    """Queue the failed timer again, due now."""
    return timers.retry_incident(db(), principal(), incident_id)
