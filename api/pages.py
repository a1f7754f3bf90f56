"""HTML pages served at the root: the landing page `/`, the task inbox `/tasks`, the contracts `/contracts` and
`/contracts/{business_key}`, the supervisors' dashboard, the market bulletin, the BPMN modeler for designers and
the live view of one contract (README "Pages").

The pages hold no data: each is a template plus one ES module bundled by esbuild from `web/` into
`api/static/build/` (`npm run build`, run by `./dev`). In the browser the module asks for an API
token once, keeps it in the tab's session storage and calls `/api/v1` with it, so a page shows only
what the API lets that token see. Every asset is served by Lvyue itself: no CDN, no network.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, render_template, request
from werkzeug.exceptions import HTTPException

from engine.errors import Invalid
from engine.supervision import library

from .auth import db

bp = Blueprint("pages", __name__)
BUILD = Path(__file__).resolve().parent / "static" / "build"

ALL_ROLES = ("admin", "operator", "designer", "party", "supervisor")
# The pages a signed-in user may go to: path, English and Chinese names, what it is for, and the roles whose
# API calls it needs (a link for another role would open on a 403). The header of every page and the landing
# page list them; a path this server does not route (e.g. a page another version adds) is left out.
NAV = (
    ("/tasks", "Tasks", "待办任务", "your READY tasks, each with its form", ("party", "supervisor", "operator", "admin")),
    ("/contracts", "Contracts", "合同", "contracts, ledgers, timelines and alerts", ("party", "supervisor", "operator", "admin")),
    ("/dashboard", "Dashboard", "监管看板", "open alerts, arrears, contracts at risk", ("supervisor", "operator", "admin")),
    ("/bulletin", "Market bulletin", "市场月报", "the monthly market bulletin of the tenders", ("supervisor", "operator", "admin")),
    ("/credit", "Credit library", "信用库", "the public credit library: published records (no token needed)", ALL_ROLES),
    ("/modeler", "Modeler", "流程建模", "draw, validate and deploy diagrams", ("designer", "admin")),
    ("/docs", "API docs", "接口文档", "the API (Swagger UI); the contract is docs/api.md", ALL_ROLES),
)


def _routed(path: str) -> bool:
    adapter = current_app.url_map.bind("localhost")
    try:
        adapter.match(path, method="GET")
        return True
    except HTTPException:
        return False


@bp.app_context_processor
def _navigation():
    return {"nav": [{"path": path, "en": en, "zh": zh, "what": what, "roles": " ".join(roles)}
                    for path, en, zh, what, roles in NAV if _routed(path)]}

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


@bp.get("/")
def home():
    """The landing page: sign in with a token once (kept in the tab), then the pages the role may use."""
    return _page("home.html", "home")


@bp.get("/tasks")
def tasks():
    """The task inbox: the caller's READY tasks, each opening a form generated from the task's JSON Schema."""
    return _page("tasks.html", "tasks")


@bp.get("/contracts")
def contracts():
    """The contracts the caller may see, filtered by status, department, employer and alert severity."""
    return _page("contracts.html", "contracts")


@bp.get("/contracts/<path:business_key>")
def contract(business_key: str):
    """One contract: its ledger, documents, timeline, open and resolved alerts; supervisors decide red alerts."""
    return _page("contract.html", "contract", business_key=business_key)


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
