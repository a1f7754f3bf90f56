"""/api/v1/alerts — the supervisors' inbox, its live stream, and acknowledging or resolving."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from flask import Response, current_app, request, stream_with_context
from flask_smorest import Blueprint

from engine import alerts, forms

from . import schemas
from .auth import db, principal

blp = Blueprint("alerts", __name__, url_prefix="/api/v1/alerts", description="Arrears and non-performance alerts")

STREAM_POLL_SECONDS = 1.0
STREAM_MAX_SECONDS = 3600  # clients reconnect with Last-Event-ID; bounded streams free server threads


@blp.route("", methods=["GET"])
@blp.arguments(schemas.AlertListArgs, location="query")
@blp.response(200, schemas.AlertPage)
def list_alerts(args):
    """Alerts visible to the caller: the department subtree's (from orange on), or the party's own."""
    return alerts.list_(db(), principal(), args["limit"], args["cursor"], args["status"], args["kind"], args["code"],
                        args["severity"], args["business_key"], args["instance_id"])


@blp.route("/stream", methods=["GET"])
@blp.doc(responses={"200": {"description": "text/event-stream: `event: alert` with the alert JSON as data; "
                                           "the event id resumes the stream (Last-Event-ID)",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
def stream():
    """New and changed alerts visible to the caller, as Server-Sent Events."""
    who, database = principal(), db()
    since, after_id = _resume_point(request.headers.get("Last-Event-ID") or request.args.get("since"))
    poll = current_app.config.get("LVYUE_STREAM_POLL_SECONDS", STREAM_POLL_SECONDS)

    @stream_with_context
    def events():
        nonlocal since, after_id
        yield "retry: 2000\n\n"
        started = time.monotonic()
        while time.monotonic() - started < STREAM_MAX_SECONDS:
            changed = alerts.changed_since(database, who, since, after_id)
            for alert in changed:
                since, after_id = alert["updated_at"], alert["id"]
                yield f"id: {since.isoformat()}|{after_id}\nevent: alert\ndata: {json.dumps(forms.to_json(alert), ensure_ascii=False)}\n\n"
            if not changed:
                yield ": keep-alive\n\n"
                time.sleep(poll)

    return Response(events(), mimetype="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _resume_point(value: str | None) -> tuple[datetime, str | None]:
    if value:
        stamp, _, alert_id = value.partition("|")
        try:
            parsed = datetime.fromisoformat(stamp)
            if parsed.tzinfo is not None:
                return parsed.astimezone(timezone.utc), alert_id or None
        except ValueError:
            pass
    from engine import clock
    return clock.now(), None


@blp.route("/<string:alert_id>", methods=["GET"])
@blp.response(200, schemas.AlertOut)
def get(alert_id):
    return alerts.get(db(), principal(), alert_id)


@blp.route("/<string:alert_id>/acknowledge", methods=["POST"])
@blp.arguments(schemas.NoteIn)
@blp.response(200, schemas.AlertOut)
def acknowledge(body, alert_id):
    return alerts.acknowledge(db(), principal(), alert_id, body["note"])


@blp.route("/<string:alert_id>/resolve", methods=["POST"])
@blp.arguments(schemas.NoteIn)
@blp.response(200, schemas.AlertOut)
def resolve(body, alert_id):
    return alerts.resolve(db(), principal(), alert_id, body["note"])
