"""HTML pages served at the root: the BPMN modeler for designers and the live view of one contract.

The pages hold no data: each is a template plus one ES module bundled by esbuild from `web/` into
`api/static/build/` (`npm run build`, run by `./dev`). In the browser the module asks for an API
token once, keeps it in the tab's session storage and calls `/api/v1` with it, so a page shows only
what the API lets that token see. Every asset is served by Lvyue itself: no CDN, no network.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, render_template, request

from engine.errors import Invalid
from engine.supervision import library

from .auth import db

bp = Blueprint("pages", __name__)
BUILD = Path(__file__).resolve().parent / "static" / "build"

# Pages are never framed by another site, and load scripts, styles and fonts from Lvyue only.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
                               "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                               "form-action 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _page(template: str, script: str, **context):
    built = (BUILD / f"{script}.js").is_file()
    response = render_template(template, script=script, built=built, **context)
    return response, 200, SECURITY_HEADERS


@bp.get("/modeler")
def modeler():
    """The BPMN editor: open a deployed version (?definition=KEY&version=N) or draw a new diagram."""
    return _page("modeler.html", "modeler")


@bp.get("/instances/<string:instance_id>/view")
def instance_view(instance_id: str):
    """The diagram of one contract with its completed and active elements, timers and alerts."""
    return _page("instance.html", "instance", instance_id=instance_id)


@bp.get("/dashboard")
def dashboard():
    """The supervisors' dashboard: open alerts by severity and age, arrears by employer, contracts at risk."""
    return _page("dashboard.html", "dashboard")


@bp.get("/bulletin")
def bulletin():
    """The monthly market bulletin over the imported tenders (?month=YYYY-MM), with charts."""
    return _page("bulletin.html", "bulletin")


PUBLIC_PAGE_SIZE = 20


@bp.get("/credit")
def credit_library():
    """The public credit library (市场主体诚信库), rendered on the server: no token, no script. The records within
    their publicity period, searchable by organisation name or unified social credit code (?q=), 20 a page."""
    q = request.args.get("q") or None
    cursor = request.args.get("cursor") or None
    error, status = None, 200
    try:
        result = library.list_public(db(), q, PUBLIC_PAGE_SIZE, cursor)
    except Invalid as exc:
        result, status = {"items": [], "next_cursor": None}, 400
        error = "; ".join(m for messages in exc.errors.values() for m in messages) or exc.detail
    html = render_template("credit.html", q=q or "", records=result["items"], next_cursor=result["next_cursor"],
                           error=error, severity_names=SEVERITY_NAMES)
    return html, status, SECURITY_HEADERS


SEVERITY_NAMES = {"general": "一般失信 general", "serious": "严重失信 serious", "warning": "警告 warning"}
