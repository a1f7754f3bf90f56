"""Operations endpoints served at the root: health, metrics, vendored front-end assets."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, send_from_directory
from sqlalchemy import text

from engine.runtime import metrics
from engine.access.authz import require_role

from .auth import principal

bp = Blueprint("ops", __name__)
NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"
# Only these npm packages are served, and only their distribution folders.
VENDORED = {"swagger-ui-dist": "", "bpmn-js": "dist", "chart.js": "dist"}


@bp.get("/healthz")
def healthz():
    with current_app.extensions["lvyue"].db.read() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok"}


@bp.get("/metrics")
def metrics_text():
    """Prometheus text for operators (scrape with an operator token): it reveals volumes per status."""
    require_role(principal(), "operator")
    return Response(metrics.render(current_app.extensions["lvyue"].db), mimetype="text/plain; version=0.0.4")


@bp.get("/vendor/<package>/<path:filename>")
def vendor(package: str, filename: str):
    if package not in VENDORED:
        abort(404)
    folder = NODE_MODULES / package / VENDORED[package]
    return send_from_directory(folder, filename, max_age=3600)
