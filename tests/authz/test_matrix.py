"""Authorization matrix: every endpoint of the app × every kind of caller → the status API.md implies.

The world (built once per database):

  contract A (department ZJ-D, employer EMP, contractor CON)
    A-SIGN  signing_deadline, started late → red alert (responsible EMP, escalated to JW); task sign_contract (employer)
    A-VAR   variation_approval → task request_variation (contractor lane, CON)
    A-INSP  site_inspection (tests/authz/site_inspection.bpmn) → task inspect_site (supervisor lane, ZJ-D)
    A-YEL   signing_deadline, started in time, ticked to the yellow pre-warning → yellow alert (EMP only)
  contract B (department CZ, employer OTHER, contractor CON2)
    B-SIGN  signing_deadline → red alert (responsible OTHER, escalated to JW); task sign_contract (employer)
    B-INSP  site_inspection → task inspect_site (supervisor lane, CZ)
  two open incidents, on A-SIGN and on B-SIGN

The ten callers, named by what they are to contract A:

  admin · operator · designer · employer (emp, EMP) · contractor (con, CON) · outsider (other: OTHER holds no
  role in A, but is B's employer) · sup_dept (zjd, ZJ-D) · sup_parent (zj, ZJ, the parent of ZJ-D) ·
  sup_other (cz, CZ) · anonymous (no token)

Every endpoint of `app.url_map` must have at least one row in CASES (test_every_endpoint_is_covered), so a
new endpoint fails the suite until its row is written. Every non-2xx must be problem+json with title,
status and a useful detail. List endpoints are checked for the exact set of rows each caller sees, also
through pagination cursors and filters. Write rows act on fresh resources and check that a refused call
changed nothing.

Cells marked `defect` are strict xfails: the report of this suite names the fix for each.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
from sqlalchemy import select

from engine import clock
from engine.access import directory
from engine.runtime import timers
from engine.storage.models import Incident, Token, User
from tests.conftest import _truncate_pg, fixture_bytes, seed_people

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parents[1] / "engine" / "supervision" / "samples" / "tenders-2026-09-10.json"
ROOT_DIR = HERE.parent.parent
XML = {"Content-Type": "application/xml"}
CN = timezone(timedelta(hours=8))

ROLES = ("admin", "operator", "designer", "employer", "contractor", "outsider",
         "sup_dept", "sup_parent", "sup_other", "anonymous")
USER = {"admin": "admin", "operator": "operator", "designer": "designer", "employer": "emp", "contractor": "con",
        "outsider": "other", "sup_dept": "zjd", "sup_parent": "zj", "sup_other": "cz", "anonymous": None}

CONTRACT = {
    "A": {"employer": "EMP", "contractor": "CON", "department": "ZJ-D"},
    "B": {"employer": "OTHER", "contractor": "CON2", "department": "CZ"},
}
A_KEYS = ("A-SIGN", "A-VAR", "A-INSP", "A-YEL")
B_KEYS = ("B-SIGN", "B-INSP")


def row(spec: str) -> dict[str, int]:
    """'200 200 404 …' in ROLES order → {role: status}."""
    codes = spec.split()
    assert len(codes) == len(ROLES), spec
    return {role: int(code) for role, code in zip(ROLES, codes)}


# ---------------------------------------------------------------- the world
class World:
    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        self.db = app.extensions["lvyue"].db
        self.people = seed_people(self.db)
        with self.db.transaction() as s:  # the escalation target of ZJ-D and CZ (discipline inspection)
            _, self.people.tokens["jw"] = directory.add_user(s, "jw", "supervisor", department="JW")
        self.counter = itertools.count(1)
        for name in ("signing_deadline.bpmn", "approval.bpmn"):
            self.deploy(fixture_bytes(name))
        self.deploy((HERE / "site_inspection.bpmn").read_bytes())

        self.instances: dict[str, dict] = {}
        # A-YEL first: started in time, then ticked to the yellow pre-warning only.
        self.instances["A-YEL"] = self.start_yellow("A-YEL")
        for bk, definition, contract in (("A-SIGN", "signing_deadline", "A"), ("A-VAR", "variation_approval", "A"),
                                         ("A-INSP", "site_inspection", "A"), ("B-SIGN", "signing_deadline", "B"),
                                         ("B-INSP", "site_inspection", "B")):
            self.instances[bk] = self.start(definition, bk, contract)
        self.bk_of = {i["id"]: bk for bk, i in self.instances.items()}
        self.tasks = {bk: i["tasks"][0]["id"] for bk, i in self.instances.items()}
        self.alerts = {}
        for a in self.get("/api/v1/alerts?limit=500", "admin").get_json()["items"]:
            self.alerts[a["business_key"]] = a["id"]
        assert set(self.alerts) == {"A-SIGN", "A-YEL", "B-SIGN"}, self.alerts
        self.incidents = {bk: self.incident(self.instances[bk]["id"]) for bk in ("A-SIGN", "B-SIGN")}
        # The trading platform's sample tenders (issue 21): T1 is ZJ's, T2 CZ's.
        r = self.client.post("/api/v1/ocds/import", data=SAMPLE.read_bytes(),
                             headers={**self.people.auth("operator"), "Content-Type": "application/json"})
        assert r.status_code == 200 and len(r.get_json()["created"]) == 8, r.get_json()
        self.awards = {a["ocid"]: a["id"] for a in self.get("/api/v1/awards?limit=500", "admin").get_json()["items"]}
        self.writes = 0  # write rows run after the list checks; they add rows

    # ---- plumbing
    def headers(self, who: str | None) -> dict[str, str]:
        who = USER.get(who, who)
        return {} if who is None else self.people.auth(who)

    def get(self, path: str, who: str | None, **kw):
        return self.client.get(path, headers=self.headers(who), **kw)

    def deploy(self, data: bytes) -> dict:
        r = self.client.post("/api/v1/definitions", data=data, headers={**self.people.auth("designer"), **XML})
        assert r.status_code in (200, 201), r.get_json()
        return r.get_json()

    def start(self, definition: str, bk: str, contract: str = "A", **extra) -> dict:
        data = dict(CONTRACT[contract])
        if definition == "signing_deadline":
            data["award_notice_date"] = "2026-09-01"  # R04 deadline 2026-10-08: overdue → red at once
        data.update(extra)
        r = self.client.post("/api/v1/instances", headers=self.people.auth("operator"),
                             json={"definition": definition, "business_key": bk, "data": data})
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    def start_yellow(self, bk: str) -> dict:
        with clock.frozen_at(datetime(2026, 9, 2, 10, tzinfo=CN)):
            out = self.start("signing_deadline", bk, "A")
        timers.tick(self.db, datetime(2026, 10, 6, 0, 0, 1, tzinfo=CN))  # yellow fires; orange/red not yet
        return self.get(f"/api/v1/instances/{out['id']}", "admin").get_json()

    def incident(self, instance_id: str) -> str:
        incident_id = str(uuid.uuid4())
        with self.db.transaction() as s:
            s.add(Incident(id=incident_id, kind="timer", instance_id=instance_id, timer_id=None, outbox_id=None,
                           element_id="t_red", error="simulated: the timer failed its last retry", attempts=5,
                           status="open", created_at=clock.now(), resolved_at=None))
        return incident_id

    def fresh_key(self) -> str:
        self.writes += 1
        return f"W-{next(self.counter)}"

    def fresh(self, definition: str, contract: str = "A") -> dict:
        return self.start(definition, self.fresh_key(), contract)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory, sqlite_template):
    from api import create_app

    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("authz") / "lvyue.sqlite"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_migrated")
        _truncate_pg(url)
    app = create_app({"DATABASE_URL": url, "TESTING": True, "LVYUE_STREAM_POLL_SECONDS": 0.01})
    yield World(app)
    app.extensions["lvyue"].db.dispose()


# ---------------------------------------------------------------- response checks
def assert_problem(r) -> None:
    """API.md: every error is application/problem+json with type, title, status and a useful detail."""
    assert r.mimetype == "application/problem+json", (r.status_code, r.mimetype, r.data[:200])
    body = json.loads(r.data)
    assert body.get("status") == r.status_code, body
    assert isinstance(body.get("type"), str) and body["type"], body
    assert isinstance(body.get("title"), str) and body["title"].strip(), body
    detail = body.get("detail")
    assert isinstance(detail, str) and len(detail.strip()) >= 10 and detail != body["title"], body
    if r.status_code == 401:
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), r.headers
    if r.status_code == 422:
        assert isinstance(body.get("errors"), dict) and body["errors"], body


def read_stream(r, limit_chunks: int = 200) -> list[dict]:
    """The alert events of an SSE response, up to its first keep-alive (the backlog is sent first)."""
    events, buf = [], ""
    try:
        for i, chunk in enumerate(r.response):
            buf += chunk.decode() if isinstance(chunk, bytes) else chunk
            if ": keep-alive" in buf or i >= limit_chunks:
                break
    finally:
        r.close()
    for block in buf.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if lines.get("event") == "alert":
            events.append(json.loads(lines["data"]))
    return events


# ---------------------------------------------------------------- the table
@dataclass
class Req:
    path: str
    json: Any = None
    data: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    ctx: dict[str, Any] = field(default_factory=dict)


@dataclass
class Case:
    name: str
    endpoint: str  # Flask endpoint name (app.url_map)
    method: str
    expect: dict[str, int]
    build: Callable[[World, str], Req]
    write: bool = False
    snapshot: Callable[[World, Req], Any] | None = None  # must not change when the call is refused
    verify: Callable[[World, str, Req, Any], None] | None = None  # extra checks on a 2xx
    defects: dict[str, str] = field(default_factory=dict)  # role → why the expected cell fails today
    stream: bool = False
    page: bool = False  # an HTML page: no data in it, security headers, nothing reflected unescaped


def _path(p: str) -> Callable[[World, str], Req]:
    """A fixed path; {i[A-SIGN]}, {t[…]}, {a[…]}, {inc[…]} name the world's instances, tasks, alerts, incidents."""
    def build(w: World, role: str) -> Req:
        return Req(p.format(i={bk: i["id"] for bk, i in w.instances.items()}, t=w.tasks, a=w.alerts, inc=w.incidents))
    return build


UNKNOWN = "00000000-0000-4000-8000-000000000000"

ALL_200 = row("200 200 200 200 200 200 200 200 200 401")
PUBLIC = row("200 200 200 200 200 200 200 200 200 200")
NOT_FOUND = row("404 404 404 404 404 404 404 404 404 401")
SEES_A = row("200 200 404 200 200 404 200 200 404 401")  # who sees contract A
OPS_ONLY = row("200 200 403 403 403 403 403 403 403 401")
DESIGN = row("200 403 200 403 403 403 403 403 403 401")

# -- write helpers
def _instance_status(w: World, req: Req):
    return w.get(f"/api/v1/instances/{req.ctx['instance_id']}", "admin").get_json()["status"], \
        len(w.get(f"/api/v1/instances/{req.ctx['instance_id']}/history?limit=500", "admin").get_json()["items"])


def _task_state(w: World, req: Req):
    return w.get(f"/api/v1/tasks/{req.ctx['task_id']}", "admin").get_json()["state"], \
        _instance_status(w, Req("", ctx={"instance_id": req.ctx["instance_id"]}))


def _alert_state(w: World, req: Req):
    a = w.get(f"/api/v1/alerts/{req.ctx['alert_id']}", "admin").get_json()
    return a["status"], a["note"], a["resolution"]


def _incident_state(w: World, req: Req):
    items = w.get("/api/v1/incidents?limit=500", "admin").get_json()["items"]
    return [i["status"] for i in items if i["id"] == req.ctx["incident_id"]]


def _definition_versions(w: World, req: Req):
    return len(w.get("/api/v1/definitions?key=variation_approval&limit=500", "admin").get_json()["items"])


def _instances_with_key(w: World, req: Req):
    return w.get("/api/v1/instances", "admin", query_string={"business_key": req.ctx["bk"]}).get_json()["items"]


def b_deploy(w: World, role: str) -> Req:
    w.writes += 1
    body = fixture_bytes("approval.bpmn") + f"\n<!-- authz {role} {next(w.counter)} -->\n".encode()
    return Req("/api/v1/definitions", data=body, headers=XML)


def b_start(w: World, role: str) -> Req:
    bk = w.fresh_key()
    return Req("/api/v1/instances", json={"definition": "variation_approval", "business_key": bk,
                                          "data": dict(CONTRACT["A"])}, ctx={"bk": bk})


def b_instance_op(op: str, body: dict, state: str = "running"):
    def build(w: World, role: str) -> Req:
        i = w.fresh("variation_approval")
        if state == "cancelled":
            r = w.client.post(f"/api/v1/instances/{i['id']}/cancel", json={"reason": "setup"}, headers=w.headers("operator"))
            assert r.status_code == 200
        return Req(f"/api/v1/instances/{i['id']}/{op}", json=body, ctx={"instance_id": i["id"]})
    return build


def b_correct(definition: str, completed_by: str | None = None):
    """A correction of the first task of a fresh contract (completed first by `completed_by` when given)."""
    def build(w: World, role: str) -> Req:
        i = w.fresh(definition)
        task_id = i["tasks"][0]["id"]
        if completed_by:
            r = w.client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"signed_at": "2026-10-12"}},
                              headers=w.headers(completed_by))
            assert r.status_code == 200, r.get_json()
        return Req(f"/api/v1/contracts/{i['business_key']}/corrections",
                   json={"task_id": task_id, "data": {"signed_at": "2026-10-11"}, "reason": "typo"},
                   ctx={"task_id": task_id, "instance_id": i["id"]})
    return build


def b_suspension(op: str):
    """A suspension (op "suspensions") or a resumption (op "resumption", of a contract not suspended) of a fresh A."""
    def build(w: World, role: str) -> Req:
        i = w.fresh("signing_deadline")
        body = {"suspended_at": "2026-01-05", "days": 10, "reason": "停工令"} if op == "suspensions" else \
            {"resumed_at": "2026-01-05"}
        return Req(f"/api/v1/contracts/{i['business_key']}/{op}", json=body,
                   ctx={"instance_id": i["id"], "business_key": i["business_key"]})
    return build


def b_change(op: str):
    """A change proposed on a fresh A (op "propose"), or the confirmation of a change it does not have ("confirm")."""
    def build(w: World, role: str) -> Req:
        i = w.fresh("signing_deadline")
        if op == "propose":
            return Req(f"/api/v1/contracts/{i['business_key']}/changes",
                       json={"kind": "extension_of_time", "days": 20, "reason": "工期顺延", "document_sha256": "e" * 64,
                             "proposed_at": "2026-01-05"}, ctx={"instance_id": i["id"], "business_key": i["business_key"]})
        return Req(f"/api/v1/contracts/{i['business_key']}/changes/1/confirmation",
                   json={"confirmed": True, "confirmed_at": "2026-01-05", "document_sha256": "e" * 64},
                   ctx={"instance_id": i["id"], "business_key": i["business_key"]})
    return build


def b_termination(op: str):
    """A notice of termination of a fresh A (op "notify"), or the acknowledgement of one the employer gave
    ("acknowledge"), or of a contract without notice ("acknowledge-none")."""
    notice = {"ground": "mutual_agreement", "reason": "协商解除", "noticed_at": "2026-01-05", "document_sha256": "f" * 64,
              "settlement": {"amount": "0.00"}, "party": "employer"}

    def build(w: World, role: str) -> Req:
        i = w.fresh("signing_deadline")
        ctx = {"instance_id": i["id"], "business_key": i["business_key"]}
        path = f"/api/v1/contracts/{i['business_key']}/termination"
        if op == "notify":
            return Req(path, json=notice, ctx=ctx)
        if op == "acknowledge":
            r = w.client.post(path, json=notice, headers=w.headers("employer"))
            assert r.status_code == 201, r.get_json()
        return Req(f"{path}/acknowledgement", json={"acknowledged_at": "2026-01-05", "document_sha256": "f" * 64},
                   ctx=ctx)
    return build


def _termination_state(w: World, req: Req):
    ledger = w.get(f"/api/v1/contracts/{req.ctx['business_key']}", "admin").get_json()
    return ledger["status"], ledger["termination"]


def _changes_state(w: World, req: Req):
    return w.get(f"/api/v1/contracts/{req.ctx['business_key']}", "admin").get_json()["changes"]


def _suspensions_state(w: World, req: Req):
    return w.get(f"/api/v1/contracts/{req.ctx['business_key']}", "admin").get_json()["suspensions"]


def b_complete(definition: str, data: dict, completed_by: str | None = None, contract: str = "A"):
    def build(w: World, role: str) -> Req:
        i = w.fresh(definition, contract)
        task_id = i["tasks"][0]["id"]
        if completed_by:
            r = w.client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": data}, headers=w.headers(completed_by))
            assert r.status_code == 200, r.get_json()
        return Req(f"/api/v1/tasks/{task_id}/complete", json={"data": data},
                   ctx={"task_id": task_id, "instance_id": i["id"]})
    return build


def b_alert_op(op: str, yellow: bool = False, before: str | None = None):
    def build(w: World, role: str) -> Req:
        i = w.start_yellow(w.fresh_key()) if yellow else w.fresh("signing_deadline")
        [alert] = i["alerts"]
        if before:
            r = w.client.post(f"/api/v1/alerts/{alert['id']}/{before}", json={"note": "setup"}, headers=w.headers("admin"))
            assert r.status_code == 200, r.get_json()
        return Req(f"/api/v1/alerts/{alert['id']}/{op}", json={"note": f"by {role}"}, ctx={"alert_id": alert["id"]})
    return build


def b_retry(retried: bool = False):
    def build(w: World, role: str) -> Req:
        w.writes += 1
        incident_id = w.incident(w.instances["A-SIGN"]["id"])
        if retried:
            assert w.client.post(f"/api/v1/incidents/{incident_id}/retry", headers=w.headers("operator")).status_code == 200
        return Req(f"/api/v1/incidents/{incident_id}/retry", ctx={"incident_id": incident_id})
    return build


def b_migrate(w: World, role: str) -> Req:
    """A contract on the latest variation_approval, then a newer version deployed: the move is possible."""
    i = w.fresh("variation_approval")
    new = w.deploy(fixture_bytes("approval.bpmn") + f"\n<!-- migrate {next(w.counter)} -->\n".encode())
    return Req(f"/api/v1/instances/{i['id']}/migrate", json={"version": new["version"]},
               ctx={"instance_id": i["id"], "version": new["version"]})


def _instance_version(w: World, req: Req):
    return w.get(f"/api/v1/instances/{req.ctx['instance_id']}", "admin").get_json()["definition"], \
        _instance_status(w, req)


def v_migrated(w: World, role: str, req: Req, body) -> None:
    detail = w.get(f"/api/v1/instances/{req.ctx['instance_id']}", "admin").get_json()
    assert detail["definition"]["version"] == req.ctx["version"], detail["definition"]


def b_diff(w: World, role: str) -> Req:
    return Req("/api/v1/definitions/signing_deadline/diff?from=1&to=1")


def v_completed(w: World, role: str, req: Req, body) -> None:
    assert w.get(f"/api/v1/tasks/{req.ctx['task_id']}", "admin").get_json()["state"] == "completed"


def v_alert(status: str):
    def verify(w: World, role: str, req: Req, body) -> None:
        assert body["status"] == status and body["note"] == f"by {role}"
    return verify


def v_same(field_name: str, expected: Callable[[World], str]):
    """The 2xx body is the object that was asked for."""
    def verify(w: World, role: str, req: Req, body) -> None:
        assert body[field_name] == expected(w), (field_name, body.get(field_name))
    return verify


CASES: list[Case] = [
    # ---------------------------------------------------------------- definitions
    Case("definitions: list", "definitions.list_definitions", "GET", ALL_200, _path("/api/v1/definitions")),
    Case("definitions: latest", "definitions.latest", "GET", ALL_200, _path("/api/v1/definitions/signing_deadline")),
    Case("definitions: latest, unknown key", "definitions.latest", "GET", NOT_FOUND, _path("/api/v1/definitions/nope")),
    Case("definitions: version", "definitions.version", "GET", ALL_200,
         _path("/api/v1/definitions/signing_deadline/versions/1")),
    Case("definitions: version, unknown", "definitions.version", "GET", NOT_FOUND,
         _path("/api/v1/definitions/signing_deadline/versions/99")),
    Case("definitions: xml", "definitions.xml", "GET", ALL_200,
         _path("/api/v1/definitions/signing_deadline/versions/1/xml")),
    Case("definitions: xml, unknown", "definitions.xml", "GET", NOT_FOUND,
         _path("/api/v1/definitions/nope/versions/1/xml")),
    Case("definitions: validate", "definitions.validate", "POST", DESIGN,
         lambda w, r: Req("/api/v1/definitions/validate", data=fixture_bytes("approval.bpmn"), headers=XML),
         verify=lambda w, role, req, body: None if body["valid"] is True else pytest.fail(str(body))),
    Case("definitions: deploy", "definitions.deploy", "POST", row("201 403 201 403 403 403 403 403 403 401"),
         b_deploy, write=True, snapshot=_definition_versions),
    # ---------------------------------------------------------------- instances
    Case("instances: list", "instances.list_instances", "GET", ALL_200, _path("/api/v1/instances")),
    Case("instances: get A", "instances.get", "GET", SEES_A, _path("/api/v1/instances/{i[A-SIGN]}"),
         verify=v_same("business_key", lambda w: "A-SIGN")),
    Case("instances: get B", "instances.get", "GET", row("200 200 404 404 404 200 404 404 200 401"),
         _path("/api/v1/instances/{i[B-SIGN]}")),
    Case("instances: get unknown", "instances.get", "GET", NOT_FOUND, _path(f"/api/v1/instances/{UNKNOWN}")),
    Case("instances: history A", "instances.history", "GET", SEES_A, _path("/api/v1/instances/{i[A-SIGN]}/history")),
    Case("instances: history unknown", "instances.history", "GET", NOT_FOUND,
         _path(f"/api/v1/instances/{UNKNOWN}/history")),
    Case("instances: diagram A", "instances.diagram", "GET", SEES_A, _path("/api/v1/instances/{i[A-VAR]}/diagram")),
    Case("instances: diagram unknown", "instances.diagram", "GET", NOT_FOUND,
         _path(f"/api/v1/instances/{UNKNOWN}/diagram")),
    Case("instances: start", "instances.start", "POST", row("201 201 403 403 403 403 403 403 403 401"),
         b_start, write=True, snapshot=_instances_with_key),
    Case("instances: message", "instances.message", "POST", OPS_ONLY,
         b_instance_op("messages/site_cleared", {"payload": {"by": "G-1"}}), write=True,
         snapshot=_instance_status),
    Case("instances: message unknown", "instances.message", "POST", row("404 404 403 403 403 403 403 403 403 401"),
         lambda w, r: Req(f"/api/v1/instances/{UNKNOWN}/messages/site_cleared", json={"payload": {}})),
    Case("instances: cancel", "instances.cancel", "POST", OPS_ONLY,
         b_instance_op("cancel", {"reason": "authz matrix"}), write=True, snapshot=_instance_status,
         verify=lambda w, role, req, body: None if body["status"] == "cancelled" else pytest.fail(str(body))),
    Case("instances: cancel cancelled", "instances.cancel", "POST", row("409 409 403 403 403 403 403 403 403 401"),
         b_instance_op("cancel", {"reason": "again"}, state="cancelled"), write=True, snapshot=_instance_status),
    Case("instances: cancel unknown", "instances.cancel", "POST", row("404 404 403 403 403 403 403 403 403 401"),
         lambda w, r: Req(f"/api/v1/instances/{UNKNOWN}/cancel", json={"reason": "x"})),
    # guarantee_issued: an operator's message with a bearer token, as any message; or the issuer's signed callback
    Case("guarantees: issuer callback, bearer", "guarantees.guarantee_issued", "POST", OPS_ONLY,
         b_instance_op("messages/guarantee_issued", {"payload": {"guarantee_no": "G-1"}}), write=True,
         snapshot=_instance_status),
    Case("guarantees: issuer callback, bearer, unknown", "guarantees.guarantee_issued", "POST",
         row("404 404 403 403 403 403 403 403 403 401"),
         lambda w, r: Req(f"/api/v1/instances/{UNKNOWN}/messages/guarantee_issued", json={"payload": {}})),
    Case("guarantees: issuer callback, bad signature", "guarantees.guarantee_issued", "POST", row("401 " * 10),
         lambda w, r: Req(f"/api/v1/instances/{w.instances['A-VAR']['id']}/messages/guarantee_issued",
                          json={"payload": {"guarantee_no": "G-1"}}, headers={"X-Lvyue-Signature": "sha256=00"})),
    # ---------------------------------------------------------------- guarantees (none in this world: the contracts
    # are not post_award; tests/integration/test_guarantees.py checks who sees which)
    Case("guarantees: list", "guarantees.list_guarantees", "GET", ALL_200, _path("/api/v1/guarantees")),
    Case("guarantees: get unknown", "guarantees.get", "GET", NOT_FOUND, _path(f"/api/v1/guarantees/{UNKNOWN}")),
    Case("guarantees: record on an unknown contract", "guarantees.record", "POST", NOT_FOUND,
         lambda w, r: Req("/api/v1/guarantees", json={"business_key": "NO-SUCH", "kind": "quality", "form": "cash",
                                                      "amount": "1.00"})),
    Case("guarantees: record on A-SIGN (not a post_award contract)", "guarantees.record", "POST",
         row("422 403 404 403 422 404 403 403 404 401"),
         lambda w, r: Req("/api/v1/guarantees", json={"business_key": "A-SIGN", "kind": "advance_payment",
                                                      "form": "cash", "amount": "1.00"})),
    Case("guarantees: claim unknown", "guarantees.claim", "POST", NOT_FOUND,
         lambda w, r: Req(f"/api/v1/guarantees/{UNKNOWN}/claims", json={"reason": "refused_to_sign"})),
    # who may confirm a refusal on a real bid guarantee: tests/e2e/test_guarantee_lifecycle.py
    Case("guarantees: refusal confirmation unknown", "guarantees.confirm_refusal", "POST", NOT_FOUND,
         lambda w, r: Req(f"/api/v1/guarantees/{UNKNOWN}/refusal-confirmation",
                          json={"refused_at": "2026-08-04", "note": "written refusal"})),
    # ---------------------------------------------------------------- tasks
    Case("tasks: list", "tasks.list_tasks", "GET", ALL_200, _path("/api/v1/tasks")),
    Case("tasks: get A employer task", "tasks.get", "GET", SEES_A, _path("/api/v1/tasks/{t[A-SIGN]}"),
         verify=v_same("id", lambda w: w.tasks["A-SIGN"])),
    Case("tasks: get A supervisor task", "tasks.get", "GET", SEES_A, _path("/api/v1/tasks/{t[A-INSP]}")),
    Case("tasks: get B task", "tasks.get", "GET", row("200 200 404 404 404 200 404 404 200 401"),
         _path("/api/v1/tasks/{t[B-SIGN]}")),
    Case("tasks: get unknown", "tasks.get", "GET", NOT_FOUND, _path(f"/api/v1/tasks/{UNKNOWN}")),
    Case("tasks: complete employer task", "tasks.complete", "POST", row("200 403 404 200 403 404 403 403 404 401"),
         b_complete("signing_deadline", {"signed_at": "2026-10-12"}), write=True, snapshot=_task_state, verify=v_completed),
    Case("tasks: complete contractor task", "tasks.complete", "POST", row("200 403 404 403 200 404 403 403 404 401"),
         b_complete("variation_approval", {"amount": "1000.00", "reason": "extra piling"}), write=True,
         snapshot=_task_state, verify=v_completed),
    Case("tasks: complete supervisor task", "tasks.complete", "POST", row("200 403 404 403 403 404 200 200 404 401"),
         b_complete("site_inspection", {"passed": True}), write=True, snapshot=_task_state, verify=v_completed),
    Case("tasks: complete B task", "tasks.complete", "POST", row("200 403 404 404 404 200 404 404 403 401"),
         b_complete("signing_deadline", {"signed_at": "2026-10-12"}, contract="B"), write=True,
         snapshot=_task_state, verify=v_completed),
    Case("tasks: complete, no longer ready", "tasks.complete", "POST", row("409 403 404 409 403 404 403 403 404 401"),
         b_complete("signing_deadline", {"signed_at": "2026-10-12"}, completed_by="emp"), write=True, snapshot=_task_state),
    Case("tasks: complete, invalid data", "tasks.complete", "POST", row("422 403 404 422 403 404 403 403 404 401"),
         b_complete("signing_deadline", {"signed_at": "not a date"}), write=True, snapshot=_task_state),
    Case("tasks: complete unknown", "tasks.complete", "POST", NOT_FOUND,
         lambda w, r: Req(f"/api/v1/tasks/{UNKNOWN}/complete", json={"data": {}})),
    # ---------------------------------------------------------------- alerts
    Case("alerts: list", "alerts.list_alerts", "GET", ALL_200, _path("/api/v1/alerts")),
    Case("alerts: stream", "alerts.stream", "GET", ALL_200, _path("/api/v1/alerts/stream"), stream=True),
    Case("alerts: get A red", "alerts.get", "GET", row("200 200 404 200 404 404 200 200 404 401"),
         _path("/api/v1/alerts/{a[A-SIGN]}"), verify=v_same("id", lambda w: w.alerts["A-SIGN"])),
    Case("alerts: get A yellow", "alerts.get", "GET", row("200 200 404 200 404 404 404 404 404 401"),
         _path("/api/v1/alerts/{a[A-YEL]}")),
    Case("alerts: get B red", "alerts.get", "GET", row("200 200 404 404 404 200 404 404 200 401"),
         _path("/api/v1/alerts/{a[B-SIGN]}")),
    Case("alerts: get unknown", "alerts.get", "GET", NOT_FOUND, _path(f"/api/v1/alerts/{UNKNOWN}")),
    Case("alerts: acknowledge", "alerts.acknowledge", "POST", row("200 403 403 403 403 403 200 200 404 401"),
         b_alert_op("acknowledge"), write=True, snapshot=_alert_state, verify=v_alert("acknowledged")),
    Case("alerts: acknowledge yellow", "alerts.acknowledge", "POST", row("200 403 403 403 403 403 404 404 404 401"),
         b_alert_op("acknowledge", yellow=True), write=True, snapshot=_alert_state, verify=v_alert("acknowledged")),
    Case("alerts: acknowledge twice", "alerts.acknowledge", "POST", row("409 403 403 403 403 403 409 409 404 401"),
         b_alert_op("acknowledge", before="acknowledge"), write=True, snapshot=_alert_state),
    Case("alerts: acknowledge unknown", "alerts.acknowledge", "POST", row("404 403 403 403 403 403 404 404 404 401"),
         lambda w, r: Req(f"/api/v1/alerts/{UNKNOWN}/acknowledge", json={"note": "x"})),
    Case("alerts: resolve", "alerts.resolve", "POST", row("200 403 403 403 403 403 200 200 404 401"),
         b_alert_op("resolve"), write=True, snapshot=_alert_state, verify=v_alert("resolved")),
    Case("alerts: resolve resolved", "alerts.resolve", "POST", row("409 403 403 403 403 403 409 409 404 401"),
         b_alert_op("resolve", before="resolve"), write=True, snapshot=_alert_state),
    Case("alerts: resolve unknown", "alerts.resolve", "POST", row("404 403 403 403 403 403 404 404 404 401"),
         lambda w, r: Req(f"/api/v1/alerts/{UNKNOWN}/resolve", json={"note": "x"})),
    # ---------------------------------------------------------------- incidents
    Case("incidents: list", "incidents.list_incidents", "GET", OPS_ONLY, _path("/api/v1/incidents")),
    Case("incidents: retry", "incidents.retry", "POST", OPS_ONLY, b_retry(), write=True, snapshot=_incident_state),
    Case("incidents: retry retried", "incidents.retry", "POST", row("409 409 403 403 403 403 403 403 403 401"),
         b_retry(retried=True), write=True, snapshot=_incident_state),
    Case("incidents: retry unknown", "incidents.retry", "POST", row("404 404 403 403 403 403 403 403 403 401"),
         _path(f"/api/v1/incidents/{UNKNOWN}/retry")),
    # ---------------------------------------------------------------- contracts
    Case("contracts: ledger A", "contracts.get", "GET", SEES_A, _path("/api/v1/contracts/A-SIGN"),
         verify=v_same("instance_id", lambda w: w.instances["A-SIGN"]["id"])),
    Case("contracts: ledger B", "contracts.get", "GET", row("200 200 404 404 404 200 404 404 200 401"),
         _path("/api/v1/contracts/B-SIGN")),
    Case("contracts: ledger unknown", "contracts.get", "GET", NOT_FOUND, _path("/api/v1/contracts/NO-SUCH/KEY")),
    # The list behind the /contracts page: everyone signed in gets 200 with what it may see (test_contracts_list_exact).
    Case("contracts: list", "contracts.list_contracts", "GET", ALL_200, _path("/api/v1/contracts")),
    Case("me", "me.me", "GET", ALL_200, _path("/api/v1/me")),
    # Issue 19: sign-in with a password is open to anyone (the answer to a wrong one is the same 401 for every name,
    # whatever token is sent beside it); signing out with a bearer token ends no session and needs no CSRF token.
    # Sessions by cookie and their CSRF token: tests/integration/test_sign_in.py.
    Case("sessions: sign in, wrong password", "sessions.sign_in", "POST", row("401 401 401 401 401 401 401 401 401 401"),
         lambda w, r: Req("/api/v1/sessions", json={"name": f"ghost-{r}", "password": "not the password"}), write=True),
    Case("sessions: sign out", "sessions.sign_out", "DELETE", row("200 200 200 200 200 200 200 200 200 401"),
         _path("/api/v1/sessions/current"), write=True),
    # A correction's success (a post_award payment) is tests/integration/test_corrections.py; here who reaches it.
    Case("contracts: correct, task not completed", "contracts.correct", "POST",
         row("409 403 404 409 403 404 403 403 404 401"), b_correct("signing_deadline"), write=True, snapshot=_task_state),
    Case("contracts: correct, an entry without a ledger row", "contracts.correct", "POST",
         row("422 403 404 422 403 404 403 403 404 401"), b_correct("signing_deadline", completed_by="emp"), write=True,
         snapshot=_task_state),
    Case("contracts: correct, unknown contract", "contracts.correct", "POST", NOT_FOUND,
         lambda w, r: Req("/api/v1/contracts/NO-SUCH/corrections",
                          json={"task_id": UNKNOWN, "data": {"amount": "1.00"}, "reason": "typo"})),
    # Suspension and resumption (tests/e2e/test_contract_signing.py shows what they move): the department or an admin.
    Case("contracts: suspend", "contracts.suspend", "POST", row("201 403 404 403 403 404 201 201 404 401"),
         b_suspension("suspensions"), write=True, snapshot=_suspensions_state),
    Case("contracts: resume, not suspended", "contracts.resume", "POST", row("409 403 404 403 403 404 409 409 404 401"),
         b_suspension("resumption"), write=True, snapshot=_suspensions_state),
    # The change ledger (tests/e2e/test_contract_signing.py shows what an accepted change moves): the employer
    # proposes, the contractor confirms.
    Case("contracts: propose a change", "contracts.propose_change", "POST", row("201 403 404 201 403 404 403 403 404 401"),
         b_change("propose"), write=True, snapshot=_changes_state),
    Case("contracts: confirm a change it does not have", "contracts.confirm_change", "POST",
         row("404 403 404 403 404 404 403 403 404 401"), b_change("confirm"), write=True, snapshot=_changes_state),
    # Termination (tests/e2e/test_contract_changes.py shows what it ends): a party gives notice, the party notified
    # or the department acknowledges it.
    Case("contracts: notify termination", "contracts.notify_termination", "POST",
         row("201 403 404 201 201 404 403 403 404 401"), b_termination("notify"), write=True,
         snapshot=_termination_state),
    Case("contracts: acknowledge a termination", "contracts.acknowledge_termination", "POST",
         row("200 403 404 403 200 404 200 200 404 401"), b_termination("acknowledge"), write=True,
         snapshot=_termination_state),
    Case("contracts: acknowledge a termination never noticed", "contracts.acknowledge_termination", "POST",
         row("409 403 404 409 409 404 409 409 404 401"), b_termination("acknowledge-none"), write=True,
         snapshot=_termination_state),
    # ---------------------------------------------------------------- versions and rules
    Case("rules: list", "rules.list_rules", "GET", ALL_200, _path("/api/v1/rules")),
    Case("versions: diff", "versions.definition_diff", "GET", ALL_200, b_diff),
    Case("versions: diff, unknown key", "versions.definition_diff", "GET", NOT_FOUND,
         _path("/api/v1/definitions/nope/diff?from=1&to=2")),
    Case("versions: migration options", "versions.migration_options", "GET", OPS_ONLY,
         _path("/api/v1/instances/{i[A-VAR]}/migrate")),
    Case("versions: migration options, unknown", "versions.migration_options", "GET",
         row("404 404 403 403 403 403 403 403 403 401"), _path(f"/api/v1/instances/{UNKNOWN}/migrate")),
    Case("versions: migrate", "versions.migrate", "POST", OPS_ONLY, b_migrate, write=True,
         snapshot=_instance_version, verify=v_migrated),
    Case("versions: migrate unknown", "versions.migrate", "POST", row("404 404 403 403 403 403 403 403 403 401"),
         lambda w, r: Req(f"/api/v1/instances/{UNKNOWN}/migrate", json={"version": 2})),
    # ---------------------------------------------------------------- pages (no data: the browser calls the API with a token)
    Case("pages: modeler", "pages.modeler", "GET", PUBLIC, _path("/modeler"), page=True),
    Case("pages: instance view", "pages.instance_view", "GET", PUBLIC, _path("/instances/{i[A-SIGN]}/view"), page=True),
    Case("pages: instance view, hostile id", "pages.instance_view", "GET", PUBLIC,
         _path("/instances/%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E/view"), page=True),
    # ---------------------------------------------------------------- operations, served at the root
    Case("ops: healthz", "ops.healthz", "GET", PUBLIC, _path("/healthz")),
    Case("ops: metrics", "ops.metrics_text", "GET", OPS_ONLY, _path("/metrics")),
    Case("ops: openapi.json", "api-docs.openapi_json", "GET", PUBLIC, _path("/openapi.json")),
    Case("ops: swagger ui", "api-docs.openapi_swagger_ui", "GET", PUBLIC, _path("/docs")),
    Case("ops: vendored asset", "ops.vendor", "GET", PUBLIC, _path("/vendor/swagger-ui-dist/index.css")),
    Case("ops: vendored, not served package", "ops.vendor", "GET", row("404 " * 10),
         _path("/vendor/left-pad/index.js")),
    Case("ops: vendored, path traversal", "ops.vendor", "GET", row("404 " * 10),
         _path("/vendor/swagger-ui-dist/%2e%2e/%2e%2e/package.json")),
    # Flask's default static route: api/static/ does not exist, so it serves nothing.
    Case("ops: flask static", "static", "GET", row("404 " * 10), _path("/static/index.html")),
]


# ---------------------------------------------------------------- issue 7: reports, credit records, leads, OCDS
def b_confirm(decision: str = "confirmed", yellow: bool = False, before: str | None = None):
    def build(w: World, role: str) -> Req:
        i = w.start_yellow(w.fresh_key()) if yellow else w.fresh("signing_deadline")
        [alert] = i["alerts"]
        if before:
            r = w.client.post(f"/api/v1/alerts/{alert['id']}/confirm", json={"decision": before}, headers=w.headers("admin"))
            assert r.status_code == 200, r.get_json()
        return Req(f"/api/v1/alerts/{alert['id']}/confirm", json={"decision": decision, "note": f"by {role}"},
                   ctx={"alert_id": alert["id"]})
    return build


def _decision_state(w: World, req: Req):
    records = w.get("/api/v1/credit-records?limit=500", "admin").get_json()["items"]
    leads = [x for status in ("pending", "confirmed", "dismissed")
             for x in w.get(f"/api/v1/leads?limit=500&status={status}", "admin").get_json()["items"]]
    return ([r["id"] for r in records if r["alert_id"] == req.ctx["alert_id"]],
            [(x["status"], x["id"]) for x in leads if x["alert_id"] == req.ctx["alert_id"]], _alert_state(w, req))


def v_confirmed(w: World, role: str, req: Req, body) -> None:
    assert body["decision"]["decision"] == "confirmed" and body["credit_record"]["org"] == "EMP"
    assert body["lead"]["to_department"] == "JW"
    records = w.get("/api/v1/credit-records?limit=500", "admin").get_json()["items"]
    assert [r["id"] for r in records if r["alert_id"] == req.ctx["alert_id"]] == [body["credit_record"]["id"]]


def _confirmed_record(w: World) -> str:
    """A fresh contract A (ZJ-D) with its red alert confirmed: the id of its credit record awaiting a decision."""
    [alert] = w.fresh("signing_deadline")["alerts"]
    r = w.client.post(f"/api/v1/alerts/{alert['id']}/confirm", json={"decision": "confirmed"}, headers=w.headers("admin"))
    assert r.status_code == 200, r.get_json()
    return r.get_json()["credit_record"]["id"]


def _record(w: World) -> str:
    """One credit record of EMP in contract A, written once per world (read rows only)."""
    if not hasattr(w, "record_id"):
        w.record_id = _confirmed_record(w)
    return w.record_id


def _today_cn() -> str:
    return clock.now().astimezone(CN).date().isoformat()


def b_decision(before: bool = False):
    def build(w: World, role: str) -> Req:
        record_id = _confirmed_record(w)
        body = {"document_no": f"郑建罚〔2026〕{next(w.counter)}号", "date": _today_cn(),
                "legal_basis": "《中华人民共和国招标投标法》第五十九条", "severity": "general"}
        if before:
            r = w.client.post(f"/api/v1/credit-records/{record_id}/decision", json=body, headers=w.headers("admin"))
            assert r.status_code == 200, r.get_json()
        return Req(f"/api/v1/credit-records/{record_id}/decision", json=body, ctx={"record_id": record_id})
    return build


def _record_state(w: World, req: Req):
    r = w.get(f"/api/v1/credit-records/{req.ctx['record_id']}", "admin").get_json()
    objections = w.get(f"/api/v1/objections?limit=500&record_id={req.ctx['record_id']}", "admin").get_json()["items"]
    return r["status"], r["decision"], r["publicity"], r["removal"], objections


def _published_record(w: World) -> str:
    record_id = _confirmed_record(w)
    body = {"document_no": f"郑建罚〔2026〕{next(w.counter)}号", "date": _today_cn(),
            "legal_basis": "《中华人民共和国招标投标法》第五十九条", "severity": "general"}
    r = w.client.post(f"/api/v1/credit-records/{record_id}/decision", json=body, headers=w.headers("admin"))
    assert r.status_code == 200, r.get_json()
    return record_id


def _filed_objection(w: World, record_id: str) -> str:
    r = w.client.post(f"/api/v1/credit-records/{record_id}/objections", json={"grounds": "记录有误"},
                      headers=w.headers("employer"))
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def _objection(w: World) -> str:
    """One open objection of EMP in contract A, filed once per world (read rows only)."""
    if not hasattr(w, "objection_id"):
        w.objection_id = _filed_objection(w, _published_record(w))
    return w.objection_id


def b_record_action(action: str, body: dict):
    def build(w: World, role: str) -> Req:
        record_id = _published_record(w)
        sent = {k: (_today_cn() if v == "TODAY" else v) for k, v in body.items()}
        return Req(f"/api/v1/credit-records/{record_id}/{action}", json=sent, ctx={"record_id": record_id})
    return build


def b_objection_action(action: str, body: dict | None):
    def build(w: World, role: str) -> Req:
        record_id = _published_record(w)
        objection_id = _filed_objection(w, record_id)
        return Req(f"/api/v1/objections/{objection_id}/{action}", json=body, ctx={"record_id": record_id})
    return build


def b_lead():
    def build(w: World, role: str) -> Req:
        key = w.fresh("signing_deadline")["business_key"]
        return Req("/api/v1/leads", json={"type": "official_interference", "business_key": key, "description": "干预"},
                   ctx={"business_key": key})
    return build


def _leads_state(w: World, req: Req):
    items = w.get("/api/v1/leads?limit=500", "admin").get_json()["items"]
    return [(x["id"], x["acknowledged_at"], x["outcome"]) for x in items if x["business_key"] == req.ctx["business_key"]]


def b_lead_action(action: str, body: dict, acknowledged: bool = False):
    def build(w: World, role: str) -> Req:
        key = w.fresh("signing_deadline")["business_key"]
        r = w.client.post("/api/v1/leads", json={"type": "bid_rigging", "business_key": key, "description": "串标"},
                          headers=w.headers("admin"))
        assert r.status_code == 201, r.get_json()
        lead_id = r.get_json()["id"]
        if acknowledged:
            r = w.client.post(f"/api/v1/leads/{lead_id}/acknowledge", json={}, headers=w.headers("admin"))
            assert r.status_code == 200, r.get_json()
        return Req(f"/api/v1/leads/{lead_id}/{action}", json=body, ctx={"business_key": key})
    return build


def _deploy_cases(w: World) -> None:
    w.deploy((ROOT_DIR / "bpmn" / "supervision_case.bpmn").read_bytes())  # the same bytes again: the same version


def b_case():
    def build(w: World, role: str) -> Req:
        _deploy_cases(w)
        key = w.fresh("signing_deadline")["business_key"]
        return Req("/api/v1/cases", json={"business_key": key, "party_role": "employer", "reason": "逾期未签约"},
                   ctx={"business_key": key})
    return build


def _cases_state(w: World, req: Req):
    return w.get(f"/api/v1/cases?business_key={req.ctx['business_key']}", "admin").get_json()["items"]


def _case(w: World) -> str:
    """One supervision case against EMP in contract A, opened once per world (read rows only)."""
    if not hasattr(w, "case_id"):
        _deploy_cases(w)
        key = w.fresh("signing_deadline")["business_key"]
        r = w.client.post("/api/v1/cases", json={"business_key": key, "party_role": "employer", "reason": "逾期"},
                          headers=w.headers("admin"))
        assert r.status_code == 201, r.get_json()
        w.case_id = r.get_json()["id"]
    return w.case_id


REPORTS_ROLES = row("200 200 403 403 403 403 200 200 200 401")

CASES += [
    Case("alerts: confirm", "alerts.confirm", "POST", row("200 403 403 403 403 403 200 200 404 401"),
         b_confirm(), write=True, snapshot=_decision_state, verify=v_confirmed),
    Case("alerts: confirm yellow", "alerts.confirm", "POST", row("409 403 403 403 403 403 404 404 404 401"),
         b_confirm(yellow=True), write=True, snapshot=_decision_state),
    Case("alerts: confirm decided", "alerts.confirm", "POST", row("409 403 403 403 403 403 409 409 404 401"),
         b_confirm(before="dismissed"), write=True, snapshot=_decision_state),
    Case("alerts: confirm unknown", "alerts.confirm", "POST", row("404 403 403 403 403 403 404 404 404 401"),
         lambda w, r: Req(f"/api/v1/alerts/{UNKNOWN}/confirm", json={"decision": "confirmed"})),
    Case("reports: monthly", "reports.monthly", "GET", REPORTS_ROLES, _path("/api/v1/reports/monthly?month=2026-10")),
    Case("reports: monthly csv", "reports.monthly", "GET", REPORTS_ROLES,
         _path("/api/v1/reports/monthly?month=2026-10&format=csv")),
    Case("reports: monthly, department ZJ-D", "reports.monthly", "GET", row("200 200 403 403 403 403 200 200 403 401"),
         _path("/api/v1/reports/monthly?month=2026-10&department=ZJ-D")),
    Case("reports: monthly, department ZJ", "reports.monthly", "GET", row("200 200 403 403 403 403 403 200 403 401"),
         _path("/api/v1/reports/monthly?month=2026-10&department=ZJ")),
    Case("reports: monthly, unknown department", "reports.monthly", "GET", row("404 404 403 403 403 403 404 404 404 401"),
         _path("/api/v1/reports/monthly?month=2026-10&department=NOPE")),
    Case("reports: dashboard", "reports.dashboard_data", "GET", REPORTS_ROLES, _path("/api/v1/reports/dashboard")),
    Case("credit records: list", "credit_records.list_credit_records", "GET", row("200 403 403 200 200 200 200 200 200 401"),
         _path("/api/v1/credit-records")),
    Case("credit records: another organisation's", "credit_records.list_credit_records", "GET",
         row("200 403 403 403 200 403 200 200 200 401"), _path("/api/v1/credit-records?org=CON")),
    Case("credit records: one", "credit_records.get_credit_record", "GET", row("200 403 403 200 404 404 200 200 200 401"),
         lambda w, r: Req(f"/api/v1/credit-records/{_record(w)}")),
    Case("credit records: one unknown", "credit_records.get_credit_record", "GET",
         row("404 403 403 404 404 404 404 404 404 401"), _path(f"/api/v1/credit-records/{UNKNOWN}")),
    Case("credit records: decision", "credit_records.decide_credit_record", "POST",
         row("200 403 403 403 403 403 200 200 403 401"), b_decision(), write=True, snapshot=_record_state),
    Case("credit records: decision twice", "credit_records.decide_credit_record", "POST",
         row("409 403 403 403 403 403 409 409 403 401"), b_decision(before=True), write=True, snapshot=_record_state),
    Case("objections: file", "credit_records.object_to", "POST", row("201 403 403 201 404 404 403 403 403 401"),
         b_record_action("objections", {"grounds": "记录有误"}), write=True, snapshot=_record_state),
    Case("credit records: revocation", "credit_records.revoke", "POST", row("200 403 403 403 403 403 200 200 403 401"),
         b_record_action("revocation", {"note": "决定撤销"}), write=True, snapshot=_record_state),
    Case("credit records: repair too early", "credit_records.repair", "POST",
         row("422 403 403 403 403 403 422 422 403 401"),
         b_record_action("repair", {"applied_on": "TODAY", "note": "已整改"}), write=True, snapshot=_record_state),
    Case("objections: answer", "objections.answer", "POST", row("200 403 403 403 403 403 200 200 403 401"),
         b_objection_action("answer", {"outcome": "upheld", "answer": "经复核"}), write=True, snapshot=_record_state),
    Case("objections: refer", "objections.refer", "POST", row("200 403 403 403 403 403 200 200 403 401"),
         b_objection_action("refer", None), write=True, snapshot=_record_state),
    Case("objections: list", "objections.list_objections", "GET", row("200 403 403 200 200 200 200 200 200 401"),
         _path("/api/v1/objections")),
    Case("objections: one", "objections.get_objection", "GET", row("200 403 403 200 404 404 200 200 404 401"),
         lambda w, r: Req(f"/api/v1/objections/{_objection(w)}")),
    Case("cases: open by hand", "cases.open_case", "POST", row("201 403 403 403 403 403 201 201 404 401"),
         b_case(), write=True, snapshot=_cases_state),
    Case("cases: list", "cases.list_cases", "GET", row("200 403 403 200 200 200 200 200 200 401"), _path("/api/v1/cases")),
    Case("cases: one", "cases.get_case", "GET", row("200 403 403 200 404 404 200 200 404 401"),
         lambda w, r: Req(f"/api/v1/cases/{_case(w)}")),
    Case("cases: one unknown", "cases.get_case", "GET", row("404 403 403 404 404 404 404 404 404 401"),
         _path(f"/api/v1/cases/{UNKNOWN}")),
    Case("leads: report", "leads.report_lead", "POST", row("201 403 403 403 403 403 201 201 404 401"),
         b_lead(), write=True, snapshot=_leads_state),
    Case("leads: acknowledge", "leads.acknowledge_lead", "POST", row("200 403 403 403 403 403 403 403 404 401"),
         b_lead_action("acknowledge", {}), write=True, snapshot=_leads_state),
    Case("leads: outcome", "leads.lead_outcome", "POST", row("200 403 403 403 403 403 403 403 404 401"),
         b_lead_action("outcome", {"outcome": "case_filed", "note": "立案"}, acknowledged=True), write=True,
         snapshot=_leads_state),
    Case("reports: transfers", "reports.transfers", "GET", row("200 403 403 403 403 403 200 200 200 401"),
         _path("/api/v1/reports/transfers?month=2026-10")),
    Case("leads: list", "leads.list_leads", "GET", row("200 403 403 403 403 403 200 200 200 401"), _path("/api/v1/leads")),
    Case("ocds: package", "ocds.release_package", "GET", row("200 200 403 200 200 200 200 200 200 401"),
         _path("/api/v1/ocds/releases?month=2026-09")),
    Case("ocds: contract A", "contract_ocds.contract_release", "GET", SEES_A, _path("/api/v1/contracts/A-SIGN/ocds")),
    Case("ocds: contract B", "contract_ocds.contract_release", "GET", row("200 200 404 404 404 200 404 404 200 401"),
         _path("/api/v1/contracts/B-SIGN/ocds")),
    Case("ocds: contract unknown", "contract_ocds.contract_release", "GET", NOT_FOUND,
         _path("/api/v1/contracts/NO-SUCH/ocds")),
    Case("pages: dashboard", "pages.dashboard", "GET", PUBLIC, _path("/dashboard"), page=True),
    # issue 18: the public credit library, no token needed (a bad token is not even looked at)
    Case("public: credit records", "public.list_public_records", "GET", PUBLIC, _path("/api/v1/public/credit-records")),
    Case("public: credit records, search", "public.list_public_records", "GET", PUBLIC,
         _path("/api/v1/public/credit-records?q=org%20EMP")),
    Case("public: publicity rules", "public.publicity_rules", "GET", PUBLIC, _path("/api/v1/public/publicity-rules")),
    Case("public: export", "public.export_public_records", "GET", PUBLIC,
         _path("/api/v1/public/credit-records/export?format=csv")),
    Case("pages: credit library", "pages.credit_library", "GET", PUBLIC, _path("/credit?q=<img src=x>"), page=True),
    # Issue 19's pages: shells without data (the API decides what each token sees).
    Case("pages: home", "pages.home", "GET", PUBLIC, _path("/"), page=True),
    Case("pages: tasks", "pages.tasks", "GET", PUBLIC, _path("/tasks"), page=True),
    Case("pages: contracts", "pages.contracts", "GET", PUBLIC, _path("/contracts"), page=True),
    Case("pages: contract", "pages.contract", "GET", PUBLIC, _path("/contracts/A-SIGN"), page=True),
    Case("pages: contract, hostile key", "pages.contract", "GET", PUBLIC,
         _path("/contracts/%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E"), page=True),
    Case("pages: bulletin", "pages.bulletin", "GET", PUBLIC, _path("/bulletin?month=2026-10"), page=True),
]


# ---------------------------------------------------------------- issue 21: OCDS intake, tenders, awards, risk, bulletin
def b_import(w: World, role: str) -> Req:
    """A one-release package of a new contracting process (a copy of the sample's T7 under a fresh ocid)."""
    package = json.loads(SAMPLE.read_text(encoding="utf-8"))
    [t7] = [r for r in package["releases"] if r["ocid"].endswith("-T7")]
    ocid = f"ocds-authz-{w.fresh_key()}"
    package["releases"] = [{**t7, "ocid": ocid, "id": f"{ocid}-1"}]
    return Req("/api/v1/ocds/import", data=json.dumps(package).encode(), headers={"Content-Type": "application/json"},
               ctx={"ocid": ocid})


def _tender_exists(w: World, req: Req):
    return w.get(f"/api/v1/tenders/{req.ctx['ocid']}", "admin").status_code


T1, T2 = "ocds-sample-ZZ2026-T1", "ocds-sample-ZZ2026-T2"
SEES_ZJ_TENDER = row("200 200 403 403 403 403 404 200 404 401")   # zj (ZJ) sees ZJ's tenders; zjd (ZJ-D) not
MARKET = row("200 200 403 403 403 403 200 200 200 401")

CASES += [
    Case("ocds: import", "ocds_import.import_package", "POST", row("200 200 403 403 403 403 403 403 403 401"),
         b_import, write=True, snapshot=_tender_exists),
    Case("tenders: ZJ's", "tenders.get_tender", "GET", SEES_ZJ_TENDER, _path(f"/api/v1/tenders/{T1}")),
    Case("tenders: CZ's", "tenders.get_tender", "GET", row("200 200 403 403 403 403 404 404 200 401"),
         _path(f"/api/v1/tenders/{T2}")),
    Case("tenders: unknown", "tenders.get_tender", "GET", row("404 404 403 403 403 403 404 404 404 401"),
         _path("/api/v1/tenders/ocds-nope")),
    Case("tenders: risk of ZJ's", "tenders.tender_risk", "GET", SEES_ZJ_TENDER, _path(f"/api/v1/tenders/{T1}/risk")),
    Case("awards: list", "awards.list_awards", "GET", MARKET, _path("/api/v1/awards")),
    Case("awards: ZJ's", "awards.get_award", "GET", SEES_ZJ_TENDER, lambda w, r: Req(f"/api/v1/awards/{w.awards[T1]}")),
    Case("awards: unknown", "awards.get_award", "GET", row("404 404 403 403 403 403 404 404 404 401"),
         _path(f"/api/v1/awards/{UNKNOWN}")),
    # A start's success (post_award with the award's parties) is tests/integration/test_intake.py; here who reaches it.
    Case("awards: start, unknown award", "awards.start_contract", "POST", row("404 404 403 403 403 403 403 403 403 401"),
         lambda w, r: Req(f"/api/v1/awards/{UNKNOWN}/contract", json={"business_key": "AW-1", "data": {}})),
    Case("risk: definitions", "risk.risk_definitions", "GET", ALL_200, _path("/api/v1/risk/definitions")),
    Case("risk: indicators", "risk.risk_indicators", "GET", MARKET, _path("/api/v1/risk/indicators")),
    Case("risk: leads", "risk.risk_leads", "GET", row("200 403 403 403 403 403 200 200 200 401"),
         _path("/api/v1/risk/leads")),
    Case("bulletin: monthly", "bulletin.monthly_bulletin", "GET", MARKET, _path("/api/v1/bulletin/monthly?month=2026-10")),
    Case("bulletin: monthly csv", "bulletin.monthly_bulletin", "GET", MARKET,
         _path("/api/v1/bulletin/monthly?month=2026-10&format=csv")),
]


def _params(write: bool):
    out = []
    for case in CASES:
        if case.write != write:
            continue
        for role in ROLES:
            marks = [pytest.mark.xfail(strict=True, reason=case.defects[role])] if role in case.defects else []
            out.append(pytest.param(case, role, id=f"{case.name} [{role}]", marks=marks))
    return out


def run_cell(w: World, case: Case, role: str):
    req = case.build(w, role)
    before = case.snapshot(w, req) if case.snapshot else None
    kw: dict[str, Any] = {"headers": {**w.headers(role), **req.headers}}
    if req.json is not None:
        kw["json"] = req.json
    if req.data is not None:
        kw["data"] = req.data
    if case.stream:
        kw["query_string"] = {"since": "2000-01-01T00:00:00+00:00"}
        kw["buffered"] = False
    r = w.client.open(req.path, method=case.method, **kw)
    expected = case.expect[role]
    if case.stream and r.status_code == 200:
        read_stream(r)
    else:
        r.get_data()
    assert r.status_code == expected, (case.name, role, r.status_code, r.data[:500])
    if r.status_code >= 300:
        assert_problem(r)
        if case.snapshot:
            assert case.snapshot(w, req) == before, f"a refused {case.method} {req.path} changed state"
    elif case.page:
        html = r.get_data(as_text=True)
        assert r.mimetype == "text/html", r.mimetype
        assert r.headers.get("X-Frame-Options") == "DENY" and "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        assert "<img src=x" not in html  # the hostile id is escaped
        for token in w.people.tokens.values():
            assert token not in html
    elif case.verify:
        case.verify(w, role, req, r.get_json())
    return r


# ---------------------------------------------------------------- tests (in this order: lists see the pristine world)
def test_every_endpoint_is_covered(world):
    """Each endpoint of app.url_map has a row: a new endpoint must be added to CASES."""
    covered = {(c.endpoint, c.method) for c in CASES}
    missing = []
    for rule in world.app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (rule.endpoint, method) not in covered:
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    assert not missing, "endpoints without an authorization row in tests/authz/test_matrix.py: " + ", ".join(missing)
    stale = covered - {(r.endpoint, m) for r in world.app.url_map.iter_rules() for m in r.methods}
    assert not stale, f"rows for endpoints that no longer exist: {stale}"


# Exact visibility, by user name (the ten roles plus jw, the escalation target of ZJ-D and CZ; con2 and gua).
VIEWERS = ("admin", "operator", "designer", "emp", "con", "other", "zjd", "zj", "cz", "jw", "con2", "gua")
ALL_KEYS = set(A_KEYS + B_KEYS)
SEE_INSTANCES = {"admin": ALL_KEYS, "operator": ALL_KEYS, "designer": set(), "emp": set(A_KEYS), "con": set(A_KEYS),
                 "other": set(B_KEYS), "zjd": set(A_KEYS), "zj": set(A_KEYS), "cz": set(B_KEYS), "jw": set(),
                 "con2": set(B_KEYS), "gua": set()}
READY_TASKS = {"admin": {"A-SIGN", "A-VAR", "A-INSP", "A-YEL", "B-SIGN", "B-INSP"}, "operator": set(),
               "designer": set(), "emp": {"A-SIGN", "A-YEL"}, "con": {"A-VAR"}, "other": {"B-SIGN"},
               "zjd": {"A-INSP"}, "zj": {"A-INSP"}, "cz": {"B-INSP"}, "jw": set(), "con2": set(), "gua": set()}
SEE_ALERTS = {"admin": {"A-SIGN", "A-YEL", "B-SIGN"}, "operator": {"A-SIGN", "A-YEL", "B-SIGN"}, "designer": set(),
              "emp": {"A-SIGN", "A-YEL"}, "con": set(), "other": {"B-SIGN"}, "zjd": {"A-SIGN"}, "zj": {"A-SIGN"},
              "cz": {"B-SIGN"}, "jw": {"A-SIGN", "B-SIGN"}, "con2": set(), "gua": set()}
SEE_INCIDENTS = {"admin": {"A-SIGN", "B-SIGN"}, "operator": {"A-SIGN", "B-SIGN"}}  # everyone else: 403
DEFINITION_KEYS = {"signing_deadline", "variation_approval", "site_inspection"}


def walk(w: World, path: str, who: str, **query) -> list[dict]:
    """Every item of a paginated list, one per page, following next_cursor."""
    items, cursor = [], None
    for _ in range(100):
        q = {**query, "limit": "1", **({"cursor": cursor} if cursor else {})}
        r = w.get(path, who, query_string=q)
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items
    pytest.fail("pagination did not end")


def keys_of(w: World, items: list[dict], field_name: str = "business_key") -> set[str]:
    return {i[field_name] if field_name == "business_key" else w.bk_of[i[field_name]] for i in items}


def _pristine(w: World) -> None:
    assert w.writes == 0, "list checks must run before the write rows (they add rows): keep the file's test order"


@pytest.mark.parametrize("who", VIEWERS)
def test_instances_list_exact(world, who):
    _pristine(world)
    full = world.get("/api/v1/instances?limit=500", who).get_json()
    assert full["next_cursor"] is None
    assert keys_of(world, full["items"]) == SEE_INSTANCES[who]
    assert keys_of(world, walk(world, "/api/v1/instances", who)) == SEE_INSTANCES[who]
    for bk in ALL_KEYS:  # filters narrow, never widen
        got = world.get("/api/v1/instances", who, query_string={"business_key": bk}).get_json()["items"]
        assert keys_of(world, got) == {bk} & SEE_INSTANCES[who]
    for definition in DEFINITION_KEYS:
        got = world.get("/api/v1/instances", who, query_string={"definition": definition}).get_json()["items"]
        assert keys_of(world, got) <= SEE_INSTANCES[who]


@pytest.mark.parametrize("who", VIEWERS)
def test_contracts_list_exact(world, who):
    """GET /api/v1/contracts lists exactly the contracts GET /api/v1/instances does; its filters only narrow."""
    _pristine(world)
    full = world.get("/api/v1/contracts?limit=500", who).get_json()
    assert full["next_cursor"] is None
    assert keys_of(world, full["items"]) == SEE_INSTANCES[who]
    for query in ({"department": "ZJ"}, {"department": "CZ"}, {"employer": "EMP"}, {"severity": "red"},
                  {"status": "running"}):
        got = world.get("/api/v1/contracts", who, query_string=query).get_json()["items"]
        assert keys_of(world, got) <= SEE_INSTANCES[who]


@pytest.mark.parametrize("who", VIEWERS)
def test_tasks_list_exact(world, who):
    _pristine(world)
    items = world.get("/api/v1/tasks?limit=500", who).get_json()["items"]
    assert keys_of(world, items) == READY_TASKS[who]
    assert {i["id"] for i in items} == {world.tasks[bk] for bk in READY_TASKS[who]}
    assert keys_of(world, walk(world, "/api/v1/tasks", who)) == READY_TASKS[who]
    for bk, instance in world.instances.items():
        got = world.get("/api/v1/tasks", who, query_string={"instance_id": instance["id"]}).get_json()["items"]
        assert keys_of(world, got) == {bk} & READY_TASKS[who]
    got = world.get("/api/v1/tasks", who, query_string={"element_id": "inspect_site"}).get_json()["items"]
    assert keys_of(world, got) == {"A-INSP", "B-INSP"} & READY_TASKS[who]


@pytest.mark.parametrize("who", VIEWERS)
def test_alerts_list_exact(world, who):
    _pristine(world)
    items = world.get("/api/v1/alerts?limit=500", who).get_json()["items"]
    assert keys_of(world, items) == SEE_ALERTS[who]
    assert {i["id"] for i in items} == {world.alerts[bk] for bk in SEE_ALERTS[who]}
    assert keys_of(world, walk(world, "/api/v1/alerts", who)) == SEE_ALERTS[who]
    for bk, instance in world.instances.items():
        by_key = world.get("/api/v1/alerts", who, query_string={"business_key": bk}).get_json()["items"]
        by_id = world.get("/api/v1/alerts", who, query_string={"instance_id": instance["id"]}).get_json()["items"]
        assert keys_of(world, by_key) == keys_of(world, by_id) == {bk} & SEE_ALERTS[who]
    for severity in ("yellow", "orange", "red"):
        got = world.get("/api/v1/alerts", who, query_string={"severity": severity}).get_json()["items"]
        assert keys_of(world, got) <= SEE_ALERTS[who]


@pytest.mark.parametrize("who", VIEWERS)
def test_alert_stream_exact(world, who):
    """The SSE backlog (since an old instant) holds exactly the alerts the caller may list."""
    _pristine(world)
    r = world.client.get("/api/v1/alerts/stream", headers=world.headers(who), buffered=False,
                         query_string={"since": "2000-01-01T00:00:00+00:00"})
    assert r.status_code == 200 and r.mimetype == "text/event-stream"
    assert {e["business_key"] for e in read_stream(r)} == SEE_ALERTS[who]


@pytest.mark.parametrize("who", VIEWERS)
def test_incidents_list_exact(world, who):
    _pristine(world)
    r = world.get("/api/v1/incidents?limit=500", who)
    if who not in SEE_INCIDENTS:
        assert r.status_code == 403
        assert_problem(r)
        return
    assert keys_of(world, r.get_json()["items"], "instance_id") == SEE_INCIDENTS[who]
    assert keys_of(world, walk(world, "/api/v1/incidents", who), "instance_id") == SEE_INCIDENTS[who]


@pytest.mark.parametrize("who", VIEWERS)
def test_definitions_list_exact(world, who):
    """Definitions are the public rules of the process: every signed-in caller reads the same list."""
    _pristine(world)
    items = world.get("/api/v1/definitions?limit=500", who).get_json()["items"]
    assert {(d["key"], d["version"]) for d in items} == {(k, 1) for k in DEFINITION_KEYS}
    assert {d["key"] for d in walk(world, "/api/v1/definitions", who)} == DEFINITION_KEYS


@pytest.mark.parametrize("who", VIEWERS)
def test_history_is_the_whole_trail_of_that_contract_only(world, who):
    """Whoever may see a contract reads its complete hash-chained trail (so the chain verifies); no other
    contract's events, and nothing for those who may not see it."""
    _pristine(world)
    reference = {bk: world.get(f"/api/v1/instances/{i['id']}/history?limit=500", "admin").get_json()["items"]
                 for bk, i in world.instances.items()}
    for bk, instance in world.instances.items():
        r = world.get(f"/api/v1/instances/{instance['id']}/history?limit=500", who)
        if bk not in SEE_INSTANCES[who]:
            assert r.status_code == 404
            assert_problem(r)
            continue
        items = r.get_json()["items"]
        assert items == reference[bk]
        assert items[0]["action"] == "instance_started" and items[0]["data"]["business_key"] == bk
        assert [e["seq"] for e in items] == list(range(1, len(items) + 1))
        assert all(e["prev_hash"] == p["hash"] for p, e in zip(items, items[1:]))
        assert walk(world, f"/api/v1/instances/{instance['id']}/history", who) == items


@pytest.mark.parametrize("who", VIEWERS)
def test_embedded_alerts_follow_alert_visibility(world, who):
    """GET /instances/{id} and the contract ledger embed only the alerts the caller may list."""
    _pristine(world)
    for bk in SEE_INSTANCES[who]:
        detail = world.get(f"/api/v1/instances/{world.instances[bk]['id']}", who).get_json()
        assert {a["business_key"] for a in detail["alerts"]} == {bk} & SEE_ALERTS[who]
        ledger = world.get(f"/api/v1/contracts/{bk}", who).get_json()
        assert {a["business_key"] for a in ledger["alerts"]} == {bk} & SEE_ALERTS[who]


@pytest.mark.parametrize("who", ["emp", "con", "other", "zjd", "cz", "designer"])
def test_a_cursor_from_someone_else_does_not_widen_the_list(world, who):
    """admin's cursors carry no authority: the caller's own filter still applies to every page after it."""
    _pristine(world)
    for path, seen, key in (("/api/v1/instances", SEE_INSTANCES, "business_key"),
                            ("/api/v1/alerts", SEE_ALERTS, "business_key"),
                            ("/api/v1/tasks", READY_TASKS, "business_key")):
        cursor = world.get(path, "admin", query_string={"limit": "1"}).get_json()["next_cursor"]
        assert cursor
        items = world.get(path, who, query_string={"cursor": cursor, "limit": "500"}).get_json()["items"]
        assert keys_of(world, items) <= seen[who]


# The cells (endpoint × caller → status, problem, nothing changed by a refusal) on PostgreSQL, the production
# database: the authorization decisions are the same Python on either database. SQLite keeps what its SQL decides:
# the exact lists with their filters and cursors, the embedded alerts, the history, the tokens.
@pytest.mark.parametrize("world", ["postgresql"], indirect=True, scope="module")
@pytest.mark.parametrize("case,role", _params(write=False))
def test_read_cell(world, case, role):
    run_cell(world, case, role)


@pytest.mark.parametrize("world", ["postgresql"], indirect=True, scope="module")
@pytest.mark.parametrize("case,role", _params(write=True))
def test_write_cell(world, case, role):
    run_cell(world, case, role)


# ---------------------------------------------------------------- escalation target (not one of the ten roles)

@pytest.mark.parametrize("action", [
    pytest.param("acknowledge"),
    pytest.param("resolve"),
])
def test_escalation_target_reads_but_does_not_settle_alerts(world, action):
    instance = world.fresh("signing_deadline")
    [alert] = instance["alerts"]
    assert alert["escalated_to"] == "JW"
    assert world.get(f"/api/v1/alerts/{alert['id']}", "jw").status_code == 200
    assert world.get(f"/api/v1/instances/{instance['id']}", "jw").status_code == 404
    r = world.client.post(f"/api/v1/alerts/{alert['id']}/{action}", json={"note": "jw"}, headers=world.headers("jw"))
    assert r.status_code == 403, (r.status_code, r.get_json())
    assert_problem(r)


# ---------------------------------------------------------------- pagination cursors
def _cursor(values) -> str:
    import base64
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


FORGED = [
    ("/api/v1/instances", ["x", "y"]),
    ("/api/v1/instances", [1, "y"]),
    ("/api/v1/instances", ["2026-01-01T00:00:00", "y"]),  # no offset
    ("/api/v1/instances", ["2026-01-01T00:00:00+00:00", 5]),  # id is a string column
    ("/api/v1/tasks", ["x", "y"]),
    ("/api/v1/alerts", ["x", "y"]),
    ("/api/v1/incidents", ["x", "y"]),
    ("/api/v1/definitions", ["k", "x"]),  # version is an integer column
    ("/api/v1/definitions", [1, "x"]),
    ("/api/v1/instances/{A-SIGN}/history", ["abc"]),
    ("/api/v1/instances/{A-SIGN}/history", [True]),
]

@pytest.mark.parametrize("path,values", FORGED, ids=[f"{p} {v}" for p, v in FORGED])
def test_forged_cursor_is_422(world, path, values):
    path = path.replace("{A-SIGN}", world.instances["A-SIGN"]["id"])
    r = world.get(path, "admin", query_string={"cursor": _cursor(values)})
    assert r.status_code == 422, (r.status_code, r.get_json())
    assert_problem(r)
    assert "cursor" in r.get_json()["errors"]


@pytest.mark.parametrize("raw", ["%%%", "a", "AAAA", "__4=", _cursor(["x"]), _cursor({"a": 1}), _cursor([[1], "x"])])
def test_garbled_cursor_is_422(world, raw):
    r = world.get("/api/v1/instances", "admin", query_string={"cursor": raw})
    assert r.status_code == 422, (r.status_code, r.get_json())
    assert_problem(r)


# ---------------------------------------------------------------- integers the database cannot hold
BIG = 10**22  # beyond SQLite's 2**63 and PostgreSQL's 2**31
INT32 = 2**31  # beyond PostgreSQL INTEGER only
OUT_OF_RANGE = [  # (method, path, body, still broken?)
    ("GET", "/api/v1/definitions/signing_deadline/versions/{n}", None, False),  # 404: int(max=2**31-1) converter
    ("GET", "/api/v1/definitions/signing_deadline/versions/{n}/xml", None, False),
    ("POST", "/api/v1/instances", {"definition": "variation_approval", "version": "{n}", "business_key": "R-{n}",
                                   "data": CONTRACT["A"]}, False),  # 422: StartIn.version Range(max=2**31-1)
    ("GET", "/api/v1/definitions/signing_deadline/diff?from={n}&to=1", None, True),  # api/versions.py DiffArgs
    ("POST", "/api/v1/instances/{A-VAR}/migrate", {"version": "{n}", "dry_run": True}, True),  # MigrateIn.version
]

@pytest.mark.parametrize("n", [BIG, INT32], ids=["1e22", "2^31"])
@pytest.mark.parametrize("method,path,body,broken", OUT_OF_RANGE, ids=[f"{m} {p}" for m, p, _, _ in OUT_OF_RANGE])
def test_out_of_range_integer_is_4xx(world, request, method, path, body, broken, n):
    path = path.replace("{A-VAR}", world.instances["A-VAR"]["id"]).replace("{n}", str(n))
    if body is not None:
        body = {k: (n if v == "{n}" else v.replace("{n}", str(n)) if isinstance(v, str) else v) for k, v in body.items()}
    r = world.client.open(path, method=method, json=body, headers=world.headers("admin"))
    assert r.status_code in (404, 422), (r.status_code, r.get_json())
    assert_problem(r)


# ---------------------------------------------------------------- authentication before input
ANONYMOUS_INVALID = [
    ("POST", "/api/v1/instances", {"json": {"bogus": 1}}),
    ("POST", "/api/v1/instances", {"data": "{", "content_type": "application/json"}),
    ("GET", "/api/v1/instances?limit=0", {}),
    ("GET", f"/api/v1/instances/{UNKNOWN}/history?limit=0", {}),
    ("POST", f"/api/v1/instances/{UNKNOWN}/cancel", {"json": {"bogus": 1}}),
    ("POST", f"/api/v1/instances/{UNKNOWN}/messages/m", {"json": {"payload": []}}),
    ("GET", "/api/v1/tasks?limit=0", {}),
    ("POST", f"/api/v1/tasks/{UNKNOWN}/complete", {"json": {}}),
    ("GET", "/api/v1/alerts?status=nope", {}),
    ("POST", f"/api/v1/alerts/{UNKNOWN}/acknowledge", {"json": {"bogus": 1}}),
    ("POST", f"/api/v1/alerts/{UNKNOWN}/resolve", {"json": {"note": 1}}),
    ("GET", "/api/v1/incidents?status=nope", {}),
    ("GET", "/api/v1/definitions?limit=0", {}),
    ("GET", "/api/v1/guarantees?kind=nope", {}),
    ("POST", f"/api/v1/guarantees/{UNKNOWN}/claims", {"json": {"bogus": 1}}),
    ("POST", f"/api/v1/instances/{UNKNOWN}/messages/guarantee_issued", {"json": {"payload": []}}),
]

@pytest.mark.parametrize("method,path,kw", ANONYMOUS_INVALID, ids=[f"{m} {p} {sorted(k)}" for m, p, k in ANONYMOUS_INVALID])
def test_no_token_is_401_even_with_invalid_input(world, method, path, kw):
    r = world.client.open(path, method=method, **kw)
    assert r.status_code == 401, (r.status_code, r.get_json())
    assert_problem(r)


@pytest.mark.parametrize("method,path,kw", ANONYMOUS_INVALID, ids=[f"{m} {p} {sorted(k)}" for m, p, k in ANONYMOUS_INVALID])
def test_invalid_input_is_a_problem_naming_the_field(world, method, path, kw):
    """With a token, invalid input is 400 (malformed) or 422 with `errors` naming the field."""
    r = world.client.open(path, method=method, headers=world.headers("admin"), **kw)
    assert r.status_code in (400, 422), (r.status_code, r.get_json())
    assert_problem(r)


# ---------------------------------------------------------------- tokens
def _new_user(w: World, name: str, days: int | None = None) -> str:
    with w.db.transaction() as s:
        _, token = directory.add_user(s, name, "party", org="EMP", token_days=days)
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_revoked_token_is_401_and_others_keep_working(world):
    name = f"rev-{uuid.uuid4().hex[:8]}"
    token = _new_user(world, name)
    assert world.client.get("/api/v1/instances", headers=_bearer(token)).status_code == 200
    with world.db.transaction() as s:
        assert directory.revoke_tokens(s, name) == 1
    r = world.client.get("/api/v1/instances", headers=_bearer(token))
    assert r.status_code == 401
    assert_problem(r)
    assert world.get("/api/v1/instances", "emp").status_code == 200  # same organisation, other user: unaffected


def test_expired_token_is_401(world):
    token = _new_user(world, f"exp-{uuid.uuid4().hex[:8]}", days=1)
    with clock.frozen_at(clock.now() + timedelta(hours=23)):
        assert world.client.get("/api/v1/tasks", headers=_bearer(token)).status_code == 200
    with clock.frozen_at(clock.now() + timedelta(days=1, seconds=1)):
        r = world.client.get("/api/v1/tasks", headers=_bearer(token))
    assert r.status_code == 401
    assert_problem(r)


def test_disabled_user_is_401(world):
    name = f"dis-{uuid.uuid4().hex[:8]}"
    token = _new_user(world, name)
    with world.db.transaction() as s:
        s.scalar(select(User).where(User.name == name)).disabled_at = clock.now()
    r = world.client.get("/api/v1/alerts", headers=_bearer(token))
    assert r.status_code == 401
    assert_problem(r)


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "Basic YWRtaW46YWRtaW4=", "Bearer lvy_not-a-real-token",
                                    "Token {admin}", "{admin}", "Bearer {admin}x"])
def test_bad_authorization_header_is_401(world, header):
    value = header.format(admin=world.people.tokens["admin"])
    r = world.client.get("/api/v1/instances", headers={"Authorization": value} if value else {})
    assert r.status_code == 401
    assert_problem(r)


def test_tokens_are_stored_hashed(world):
    token = world.people.tokens["admin"]
    with world.db.read() as s:
        hashes = list(s.scalars(select(Token.token_hash)))
    assert token not in hashes and hashlib.sha256(token.encode()).hexdigest() in hashes
    assert all(len(h) == 64 and not h.startswith(directory.TOKEN_PREFIX) for h in hashes)
