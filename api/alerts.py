"""/api/v1/alerts — the supervisors' inbox, its live stream, and acknowledging or resolving."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

from flask import Response, current_app, request, stream_with_context
from flask_smorest import Blueprint

from engine.supervision import alerts
from engine.access import directory, passwords
from engine.runtime import forms
from engine.errors import LvyueError

from . import schemas, streams
from .auth import credential, db, principal, session_secret, settings

blp = Blueprint("alerts", __name__, url_prefix="/api/v1/alerts", description="Arrears and non-performance alerts")

STREAM_POLL_SECONDS = 1.0
TOKEN_RECHECK_SECONDS = 60  # a revoked token stops receiving within a minute
# An alert's updated_at is stamped when its step starts, but it becomes visible when the step
# commits, possibly later than alerts stamped after it. Each poll re-reads this window and skips
# what it already sent, so a late commit is never lost (longer than the longest step: a lease).
LOOKBACK = timedelta(seconds=120)


@blp.route("", methods=["GET"])
@blp.doc(operationId="list_alerts")
@blp.arguments(schemas.AlertListArgs, location="query")
@blp.response(200, schemas.AlertPage)
def list_alerts(args):
    """Alerts visible to the caller: the department subtree's (from orange on), or the party's own."""
    return alerts.list_(db(), principal(), args["limit"], args["cursor"], args["status"], args["kind"], args["code"],
                        args["severity"], args["business_key"], args["instance_id"])


@blp.route("/stream", methods=["GET"])
@blp.doc(operationId="stream_alerts")
@blp.doc(responses={"200": {"description": "text/event-stream: `event: alert` with the alert JSON as data; "
                                           "the event id resumes the stream (Last-Event-ID)",
                            "content": {"text/event-stream": {"schema": {
                                "type": "object", "properties": {"event": {"type": "string"}, "id": {"type": "string"},
                                                                 "data": {"type": "string"}, "retry": {"type": "integer"}}}}}},
                           "429": {"description": "the token (or the server) has as many streams open as allowed; "
                                                  "retry after `Retry-After` seconds (README \"Resource limits\")"}})
def stream():
    """New and changed alerts visible to the caller, as Server-Sent Events."""
    who, database = principal(), db()
    token = request.headers.get("Authorization", "")
    cookie = session_secret()  # a browser signed in with a password: its session is re-checked instead
    since, _ = _resume_point(request.headers.get("Last-Event-ID") or request.args.get("since"))
    poll = current_app.config.get("LVYUE_STREAM_POLL_SECONDS", STREAM_POLL_SECONDS)
    lifetime = settings().stream_max_seconds or streams.LIFETIME_SECONDS
    # Taken before the response starts: beyond a cap the caller gets 429 and no thread is held.
    # Keyed by the token as authenticated, so spelling the header differently does not earn another slot.
    slot = current_app.extensions["lvyue"].streams.acquire(credential())

    @stream_with_context
    def events():
        try:
            yield from _events()
        finally:
            slot.release()

    def _events():
        nonlocal who
        cursor = since
        sent: dict[str, datetime] = {}  # alert id → the updated_at already sent
        yield "retry: 2000\n\n"
        started = checked = time.monotonic()
        while time.monotonic() - started < lifetime:
            if time.monotonic() - checked > TOKEN_RECHECK_SECONDS:
                try:
                    who = _reauthenticate(database, token, cookie)
                except LvyueError:
                    yield "event: error\ndata: {\"detail\": \"the token is no longer valid\"}\n\n"
                    return
                checked = time.monotonic()
            fresh = [a for a in alerts.changed_since(database, who, cursor - LOOKBACK) if sent.get(a["id"]) != a["updated_at"]]
            for alert in fresh:
                sent[alert["id"]] = alert["updated_at"]
                cursor = max(cursor, alert["updated_at"])
                yield (f"id: {alert['updated_at'].isoformat()}|{alert['id']}\nevent: alert\n"
                       f"data: {json.dumps(forms.to_json(alert), ensure_ascii=False)}\n\n")
            horizon = cursor - LOOKBACK
            sent = {k: v for k, v in sent.items() if v >= horizon}
            if not fresh:
                yield ": keep-alive\n\n"
                time.sleep(poll)

    response = Response(events(), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    # A response closed before its first chunk (the client left at once) never enters the generator.
    response.call_on_close(slot.release)
    return response


def _reauthenticate(database, header: str, cookie: str | None = None):
    scheme, _, token = header.partition(" ")
    with database.read() as session:
        if cookie:
            return passwords.authenticate(session, cookie)
        return directory.authenticate(session, token.strip() if scheme.lower() == "bearer" else None)


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
@blp.doc(operationId="get_alert")
@blp.response(200, schemas.AlertOut)
def get(alert_id):
    return alerts.get(db(), principal(), alert_id)


@blp.route("/<string:alert_id>/acknowledge", methods=["POST"])
@blp.doc(operationId="acknowledge_alert")
@blp.arguments(schemas.NoteIn)
@blp.response(200, schemas.AlertOut)
def acknowledge(body, alert_id):
    return alerts.acknowledge(db(), principal(), alert_id, body["note"])


@blp.route("/<string:alert_id>/resolve", methods=["POST"])
@blp.doc(operationId="resolve_alert")
@blp.arguments(schemas.NoteIn)
@blp.response(200, schemas.AlertOut)
def resolve(body, alert_id):
    return alerts.resolve(db(), principal(), alert_id, body["note"])


from . import reports  # noqa: E402  (the confirmation's schemas live with the credit records)


@blp.route("/<string:alert_id>/confirm", methods=["POST"])
@blp.doc(operationId="confirm_alert")
@blp.arguments(reports.ConfirmIn)
@blp.response(200, reports.ConfirmOut)
def confirm(body, alert_id):
    """The department's finding on a red alert: `confirmed` writes one credit record and one lead; `dismissed`."""
    return alerts.confirm(db(), principal(), alert_id, body["decision"], body["note"])
