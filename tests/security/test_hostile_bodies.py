"""Issue 14, acceptance 2: hostile JSON bodies (tests/security/hostile/corpus.py `BODY_PAYLOADS`: nesting
100,000 deep, a 5,000-digit integer, a float beyond a double, NaN, a lone surrogate; and a body over the size
limit) on every kind of JSON endpoint get a 4xx problem naming the field (or `body`), change nothing, and
never a 5xx. They are refused before any endpoint reads them (api/bodies.py, engine/strictjson.py)."""
from __future__ import annotations

import pytest

from api import bodies
from tests.conftest import fixture_bytes
from tests.security.conftest import XML, all_rows, assert_problem
from tests.security.hostile import corpus


@pytest.fixture(scope="module")
def world(shared):
    """approval.bpmn deployed and one contract started: its first task is ready for the contractor."""
    r = shared.client.post("/api/v1/definitions", data=fixture_bytes("approval.bpmn"),
                           headers={**shared.people.auth("designer"), **XML})
    assert r.status_code == 201, r.get_json()
    r = shared.client.post("/api/v1/instances", headers=shared.people.auth("operator"), json={
        "definition": "variation_approval", "business_key": "HOSTILE-BODY-1", "data": {"employer": "EMP", "contractor": "CON"}})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


# (name, who, path template, a valid body, the field the payload replaces)
ENDPOINTS = [
    ("task_completion", "con", "/api/v1/tasks/{task}/complete", {"data": {"amount": "10.00", "reason": "r"}}, ("data", "reason")),
    ("instance_start", "operator", "/api/v1/instances",
     {"definition": "variation_approval", "business_key": "HOSTILE-BODY-2", "data": {"employer": "EMP", "contractor": "CON"}},
     ("data", "contractor")),
    ("instance_start_top_level", "operator", "/api/v1/instances",
     {"definition": "variation_approval", "business_key": "HOSTILE-BODY-3", "data": {}}, ("business_key",)),
    ("message", "operator", "/api/v1/instances/{instance}/messages/note", {"payload": {"note": "n"}}, ("payload", "note")),
    ("cancel", "operator", "/api/v1/instances/{instance}/cancel", {"reason": "r"}, ("reason",)),
    # read by its own endpoint (it may be signed), through the same strict parser
    ("guarantee_callback", "operator", "/api/v1/instances/{instance}/messages/guarantee_issued",
     {"payload": {"guarantee_no": "G-1"}}, ("payload", "guarantee_no")),
]


def _url(template: str, world) -> str:
    return template.format(task=world["tasks"][0]["id"], instance=world["id"])


def _cases():
    for endpoint in ENDPOINTS:
        for name in corpus.BODY_PAYLOADS:
            yield pytest.param(endpoint, name, id=f"{endpoint[0]}-{name}")


@pytest.mark.parametrize("endpoint, name", list(_cases()))
def test_a_hostile_body_is_4xx_naming_the_field_and_changes_nothing(shared, world, endpoint, name):
    _, who, template, body, path = endpoint
    _text, status, names_field = corpus.BODY_PAYLOADS[name]
    before = all_rows(shared.db)

    r = shared.client.post(_url(template, world), data=corpus.hostile_body(body, path, name),
                           headers={**shared.people.auth(who), "Content-Type": "application/json"})

    problem = assert_problem(r, status)
    field = ".".join(path) if names_field else "body"
    assert list(problem["errors"]) == [field], problem
    assert field in problem["detail"] or "nested" in problem["detail"], problem
    assert len(r.get_data()) < 2_000  # the payload is not echoed back
    assert all_rows(shared.db) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_an_oversized_body_is_413_and_changes_nothing(shared, world, endpoint):
    _, who, template, body, path = endpoint
    before = all_rows(shared.db)
    data = corpus.oversized_body(body, path, bodies.MAX_JSON_BODY)
    r = shared.client.post(_url(template, world), data=data,
                           headers={**shared.people.auth(who), "Content-Type": "application/json"})
    problem = assert_problem(r, 413)
    assert str(bodies.MAX_JSON_BODY) in problem["detail"] and list(problem["errors"]) == ["body"]
    assert all_rows(shared.db) == before


def test_an_anonymous_hostile_body_is_401_not_a_validation_error(shared, world):
    r = shared.client.post("/api/v1/instances", data=corpus.hostile_body(ENDPOINTS[1][3], ("data", "contractor"), "deep_json"),
                           headers={"Content-Type": "application/json"})
    assert_problem(r, 401)


def test_the_limits_leave_an_ordinary_body_alone(shared, world):
    """Control: the same endpoint with large-but-sane values (19-digit integers, nesting as deep as task data
    may go, CJK text) works; the parser's own limits are tested in tests/unit/test_strictjson.py."""
    r = shared.client.post("/api/v1/instances", headers=shared.people.auth("operator"), json={
        "definition": "variation_approval", "business_key": "HOSTILE-BODY-CONTROL",
        "data": {"employer": "EMP", "contractor": "CON", "count": -9_999_999_999_999_999_999, "note": "履约 ✓",
                 "tree": {"a": [{"b": [1.5e300]}]}}})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["data"]["count"] == -9_999_999_999_999_999_999
