"""Issue "Diagrams cannot run code", acceptance 1: the hostile corpus is refused at deploy with 422
naming the element, nothing executes (a canary file in tmp_path is never created) and the server
stays healthy; a hostile diagram stored before a rule tightened fails safely at run time (4xx, never
5xx, never executed).

The corpus is generated (tests/security/hostile/corpus.py): every payload in every placement.
"""
from __future__ import annotations

import time

import pytest

from tests import requests_shim as http
from tests.conftest import Server
from tests.security.conftest import XML, assert_problem, store_without_lint
from tests.security.hostile import corpus

# One database: the corpus is refused or fails while it is parsed, linted or run, the same code on
# either database; the deploy and run paths on PostgreSQL are covered by the authz matrix and the e2e suites.
pytestmark = pytest.mark.parametrize("shared_db_url", ["sqlite"], indirect=True)

EXPRESSION_PLACEMENTS = tuple(p for p, benign in corpus.BENIGN.items() if benign is not None)
CODE_PLACEMENTS = tuple(p for p, benign in corpus.BENIGN.items() if benign is None)

def _deploy_cases():
    for placement in corpus.PLACEMENTS:
        for name in corpus.PAYLOADS:
            yield pytest.param(placement, name, id=f"{placement}-{name}")


def _deploy(shared, data: bytes):
    return shared.client.post("/api/v1/definitions", data=data, headers={**shared.people.auth("designer"), **XML})


# ---------------------------------------------------------------------------------------- the corpus itself
@pytest.mark.parametrize("placement", corpus.PLACEMENTS)
def test_the_benign_variant_of_each_placement_is_well_formed(shared, placement):
    """Control: with a harmless expression the variant deploys, so a refusal below is the payload's doing.
    Scripts and foreign code are refused whatever they contain."""
    benign = corpus.BENIGN[placement]
    data, element_id = corpus.build(placement, benign or "pass", process_id=f"ok_{placement}")
    r = _deploy(shared, data)
    if benign is None:
        body = assert_problem(r, 422)
        assert any(f"element '{element_id}'" in m for m in body["errors"]["bpmn"]), body
    else:
        assert r.status_code == 201, r.get_json()


# ---------------------------------------------------------------------------------------- deploy
@pytest.mark.parametrize("placement, name", list(_deploy_cases()))
def test_hostile_diagram_is_refused_at_deploy_naming_the_element(shared, tmp_path, placement, name):
    canary = tmp_path / "CANARY"
    key = f"dp_{placement}_{name}"
    data, element_id = corpus.build(placement, corpus.payload(name, canary), process_id=key)

    r = _deploy(shared, data)

    body = assert_problem(r, 422)
    messages = body["errors"]["bpmn"]
    assert any(f"element '{element_id}'" in m for m in messages), messages
    assert f"'{element_id}'" in body["detail"]
    assert len(r.get_data()) < 20_000  # a 100 KB payload is clipped, not echoed back
    assert not canary.exists()
    assert shared.client.get("/healthz").status_code == 200
    assert shared.client.get(f"/api/v1/definitions/{key}", headers=shared.people.auth("admin")).status_code == 404


def test_validate_endpoint_lints_the_corpus_without_running_it(shared, tmp_path):
    canary = tmp_path / "CANARY"
    for placement in corpus.PLACEMENTS:
        for name in corpus.PAYLOADS:
            if name in corpus.EVALUATION_ONLY:
                continue  # see test_hostile_diagram_is_refused_at_deploy_naming_the_element
            data, element_id = corpus.build(placement, corpus.payload(name, canary))
            r = shared.client.post("/api/v1/definitions/validate", data=data,
                                   headers={**shared.people.auth("designer"), **XML})
            assert r.status_code == 200
            out = r.get_json()
            assert out["valid"] is False and element_id in {p["element_id"] for p in out["problems"]}, (placement, name)
    assert not canary.exists()


def test_whole_corpus_against_a_real_server_is_quick_and_leaves_it_healthy(shared, shared_db_url, tmp_path):
    canary = tmp_path / "CANARY"
    server = Server(shared_db_url, tmp_path).start()
    try:
        headers = {**shared.people.auth("designer"), **XML}
        started, statuses = time.monotonic(), {}
        for placement in corpus.PLACEMENTS:
            for name in corpus.PAYLOADS:
                data, _ = corpus.build(placement, corpus.payload(name, canary), process_id=f"srv_{placement}_{name}")
                reply = http.request("POST", server.base + "/api/v1/definitions", raw=data, headers=headers)
                statuses[placement, name] = reply.status
                assert reply.headers["Content-Type"].startswith("application/problem+json") or reply.status == 201
        elapsed = time.monotonic() - started
        assert elapsed < 30, f"the corpus took {elapsed:.1f}s"
        assert all(s < 500 for s in statuses.values()), statuses
        assert {k for k, s in statuses.items() if s != 422} <= {
            (p, n) for p in EXPRESSION_PLACEMENTS for n in corpus.EVALUATION_ONLY}
        assert http.request("GET", server.base + "/healthz").status == 200
        assert server.proc.poll() is None
    finally:
        server.kill()
    assert not canary.exists()


# ---------------------------------------------------------------------------------------- run time
RUNTIME_PAYLOADS = ("import_os_system", "dunder_walk_to_system", "open_write", "lambda", "huge_power",
                    "huge_repeat", "nesting_5000", "nesting_200", "globals", "walrus")
RUNTIME_ELEMENT = {"condition": "gw"}  # a condition is evaluated by its gateway
INERT = ("preScript", "postScript", "executionListener")  # SpiffWorkflow's plain BPMN parser never reads them
TASK_DATA = {"request_variation": ({"amount": "1", "reason": "r"}, "con"), "approve_variation": ({"approved": True}, "emp")}


def _runtime_cases():
    for placement in corpus.PLACEMENTS:
        names = corpus.PAYLOADS if placement == "condition" else (
            RUNTIME_PAYLOADS if placement in corpus.EVALUATED else RUNTIME_PAYLOADS[:2])
        for name in names:
            yield pytest.param(placement, name, id=f"{placement}-{name}")


def _drive(shared, key: str) -> list:
    """Start a contract of `key` and complete every task that comes up, until a reply is not 2xx."""
    people, client = shared.people, shared.client
    r = client.post("/api/v1/instances", headers=people.auth("operator"),
                    json={"definition": key, "business_key": key, "data": {"employer": "EMP", "contractor": "CON"}})
    replies = [r]
    instance = r.get_json() if r.status_code == 201 else None
    for _ in range(8):
        if instance is None or not instance["tasks"]:
            break
        task = instance["tasks"][0]
        data, who = TASK_DATA[task["element_id"]]
        r = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": data}, headers=people.auth(who))
        replies.append(r)
        instance = r.get_json()["instance"] if r.status_code == 200 else None
    return replies


@pytest.mark.parametrize("placement, name", list(_runtime_cases()))
def test_hostile_diagram_stored_before_the_rule_fails_safely_at_run_time(shared, tmp_path, placement, name):
    canary = tmp_path / "CANARY"
    key = f"rt_{placement}_{name}"
    data, element_id = corpus.build(placement, corpus.payload(name, canary), process_id=key)
    store_without_lint(shared.db, data)

    replies = _drive(shared, key)

    assert not canary.exists()
    assert all(r.status_code < 500 for r in replies), [(r.status_code, r.get_json()) for r in replies]
    assert shared.client.get("/healthz").status_code == 200
    last = replies[-1]
    if placement in corpus.EVALUATED or placement == "camunda_class":
        # Evaluated places are refused by the evaluator; a service task (camunda:class) by the engine,
        # which never leaves an automatic task hanging.
        body = assert_problem(last, 422)
        assert f"'{RUNTIME_ELEMENT.get(placement, element_id)}'" in body["detail"], body
    else:
        # Inert for the engine: nothing reads it, so the contract runs as if it were not there; it must
        # not leave the contract stuck either.
        assert last.status_code in (200, 201) and (last.get_json().get("instance") or last.get_json())["status"] == "completed", \
            [(r.status_code, r.get_json()) for r in replies]


def test_a_service_task_without_a_registered_service_does_not_deploy(shared):
    data, _ = corpus.build("camunda_class", "x", process_id="plain_service")
    data = data.replace(b' camunda:class="x"', b"")
    r = _deploy(shared, data)
    body = assert_problem(r, 422)
    assert any("element 'hostile_service'" in m for m in body["errors"]["bpmn"])


def test_hostile_strings_in_task_data_and_message_payloads_stay_data(shared, tmp_path):
    """What parties send (task data, message payloads, business keys) is data: a condition reads it as a
    value and nothing ever evaluates it."""
    canary = tmp_path / "CANARY"
    code = corpus.payload("import_os_system", canary)
    people, client = shared.people, shared.client
    r = _deploy(shared, corpus.build_with_message_catch("msg_payload"))
    assert r.status_code == 201, r.get_json()
    r = client.post("/api/v1/instances", headers=people.auth("operator"), json={
        "definition": "msg_payload", "business_key": "MSG-1", "data": {"employer": "EMP", "contractor": "CON"}})
    assert r.status_code == 201, r.get_json()
    instance = r.get_json()
    assert instance["tasks"] == []  # waiting for the message
    r = client.post(f"/api/v1/instances/{instance['id']}/messages/hostile_msg", headers=people.auth("operator"),
                    json={"payload": {"note": code, "items": [code, {"inner": code}]}})
    assert r.status_code == 200, r.get_json()
    [task] = r.get_json()["tasks"]
    r = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=people.auth("con"),
                    json={"data": {"amount": "1", "reason": code}})
    assert r.status_code == 200, r.get_json()
    [task] = r.get_json()["instance"]["tasks"]
    r = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=people.auth("emp"), json={"data": {"approved": True}})
    assert r.status_code == 200, r.get_json()
    done = r.get_json()["instance"]
    assert done["status"] == "completed" and done["data"]["reason"] == code
    assert not canary.exists()
