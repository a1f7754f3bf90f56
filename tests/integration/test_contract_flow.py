"""Issue 2 acceptance: a diagram nobody has seen deploys, runs to completion through the API alone,
and the API refuses the wrong party (403), a repeated completion (409) and invalid data (422)."""
from __future__ import annotations

from tests.conftest import fixture_bytes

XML = {"Content-Type": "application/xml"}


def deploy(client, people, name="approval.bpmn"):
    r = client.post("/api/v1/definitions", data=fixture_bytes(name), headers={**people.auth("designer"), **XML})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def start(client, people, key="variation_approval", business_key="LH-2026-0001", **data):
    body = {"definition": key, "business_key": business_key, "data": {"employer": "EMP", "contractor": "CON", **data}}
    return client.post("/api/v1/instances", json=body, headers=people.auth("operator"))


def my_tasks(client, people, who, instance_id=None):
    r = client.get("/api/v1/tasks" + (f"?instance_id={instance_id}" if instance_id else ""), headers=people.auth(who))
    assert r.status_code == 200
    return r.get_json()["items"]


def test_unseen_diagram_runs_to_completion_through_the_api(client, people):
    d = deploy(client, people)
    assert (d["key"], d["version"]) == ("variation_approval", 1)
    r = start(client, people)
    assert r.status_code == 201, r.get_json()
    instance = r.get_json()
    assert instance["status"] == "running"
    assert [t["element_id"] for t in instance["tasks"]] == ["request_variation"]

    assert my_tasks(client, people, "emp") == []
    [task] = my_tasks(client, people, "con")
    assert task["lane"] == "contractor" and task["business_key"] == "LH-2026-0001"
    r = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"amount": "5000.00", "reason": "extra piles"}},
                    headers=people.auth("con"))
    assert r.status_code == 200, r.get_json()
    assert [t["element_id"] for t in r.get_json()["instance"]["tasks"]] == ["approve_variation"]
    assert r.get_json()["next_tasks"] == []  # the next task is the employer's, not the caller's

    [approve] = my_tasks(client, people, "emp")
    r = client.post(f"/api/v1/tasks/{approve['id']}/complete", json={"data": {"approved": True}}, headers=people.auth("emp"))
    assert r.status_code == 200
    done = r.get_json()["instance"]
    assert done["status"] == "completed"
    assert done["data"]["amount"] == "5000.00" and done["data"]["approved"] is True

    diagram = client.get(f"/api/v1/instances/{done['id']}/diagram", headers=people.auth("operator")).get_json()
    assert "end_ok" in diagram["completed"] and "end_no" not in diagram["completed"]


def test_gateway_takes_the_default_path_on_task_data(client, people):
    deploy(client, people)
    instance = start(client, people).get_json()
    [t] = my_tasks(client, people, "con", instance["id"])
    client.post(f"/api/v1/tasks/{t['id']}/complete", json={"data": {"amount": "500000", "reason": "big"}}, headers=people.auth("con"))
    [t] = my_tasks(client, people, "emp", instance["id"])
    client.post(f"/api/v1/tasks/{t['id']}/complete", json={"data": {"approved": True}}, headers=people.auth("emp"))
    diagram = client.get(f"/api/v1/instances/{instance['id']}/diagram", headers=people.auth("operator")).get_json()
    assert "end_no" in diagram["completed"] and "end_ok" not in diagram["completed"]


def test_contractor_completing_the_employers_task_gets_403_and_nothing_changes(client, people):
    deploy(client, people)
    instance = start(client, people).get_json()
    [t] = my_tasks(client, people, "con", instance["id"])
    client.post(f"/api/v1/tasks/{t['id']}/complete", json={"data": {"amount": "1", "reason": "r"}}, headers=people.auth("con"))
    [approve] = my_tasks(client, people, "emp", instance["id"])
    before = client.get(f"/api/v1/instances/{instance['id']}", headers=people.auth("operator")).get_json()
    history_before = client.get(f"/api/v1/instances/{instance['id']}/history", headers=people.auth("operator")).get_json()

    r = client.post(f"/api/v1/tasks/{approve['id']}/complete", json={"data": {"approved": True}}, headers=people.auth("con"))
    assert r.status_code == 403
    assert r.mimetype == "application/problem+json" and "employer" in r.get_json()["detail"]
    after = client.get(f"/api/v1/instances/{instance['id']}", headers=people.auth("operator")).get_json()
    assert after == before
    assert client.get(f"/api/v1/instances/{instance['id']}/history", headers=people.auth("operator")).get_json() == history_before


def test_stranger_sees_no_task_and_gets_404(client, people):
    deploy(client, people)
    instance = start(client, people).get_json()
    task_id = instance["tasks"][0]["id"]
    assert my_tasks(client, people, "other") == []
    assert client.get(f"/api/v1/tasks/{task_id}", headers=people.auth("other")).status_code == 404
    r = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {}}, headers=people.auth("other"))
    assert r.status_code == 404
    assert client.get(f"/api/v1/instances/{instance['id']}", headers=people.auth("other")).status_code == 404


def test_completing_a_completed_task_gets_409(client, people):
    deploy(client, people)
    instance = start(client, people).get_json()
    task_id = instance["tasks"][0]["id"]
    body = {"data": {"amount": "1", "reason": "r"}}
    assert client.post(f"/api/v1/tasks/{task_id}/complete", json=body, headers=people.auth("con")).status_code == 200
    r = client.post(f"/api/v1/tasks/{task_id}/complete", json=body, headers=people.auth("con"))
    assert r.status_code == 409
    assert r.get_json()["status"] == 409


def test_invalid_task_data_gets_422_naming_the_field_and_changes_nothing(client, people):
    deploy(client, people)
    instance = start(client, people).get_json()
    task_id = instance["tasks"][0]["id"]
    r = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"amount": "lots", "reason": "r"}},
                    headers=people.auth("con"))
    assert r.status_code == 422
    assert "data.amount" in r.get_json()["errors"]
    r = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"reason": "r"}}, headers=people.auth("con"))
    assert r.status_code == 422 and "data.amount" in r.get_json()["errors"]
    r = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"amount": "1", "reason": "r", "employer": "CON"}},
                    headers=people.auth("con"))
    assert r.status_code == 422 and "data.employer" in r.get_json()["errors"]
    after = client.get(f"/api/v1/instances/{instance['id']}", headers=people.auth("operator")).get_json()
    assert [t["id"] for t in after["tasks"]] == [task_id]


def test_a_gateway_variable_missing_from_formless_task_data_is_422(client, people):
    d = client.post("/api/v1/definitions", data=fixture_bytes("approval_noform.bpmn"),
                    headers={**people.auth("designer"), **XML})
    assert d.status_code == 201, d.get_json()
    instance = start(client, people, key="approval_noform", business_key="NF-1").get_json()
    task_id = instance["tasks"][0]["id"]
    r = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"note": "forgot"}}, headers=people.auth("emp"))
    assert r.status_code == 422
    assert "data.approved" in r.get_json()["errors"]
    r = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"approved": False}}, headers=people.auth("emp"))
    assert r.status_code == 200 and r.get_json()["instance"]["status"] == "completed"


def test_history_lists_every_step_with_its_actor(client, people):
    deploy(client, people)
    instance = start(client, people).get_json()
    [t] = my_tasks(client, people, "con", instance["id"])
    client.post(f"/api/v1/tasks/{t['id']}/complete", json={"data": {"amount": "1", "reason": "r"}}, headers=people.auth("con"))
    [t] = my_tasks(client, people, "emp", instance["id"])
    client.post(f"/api/v1/tasks/{t['id']}/complete", json={"data": {"approved": True}}, headers=people.auth("emp"))
    events = client.get(f"/api/v1/instances/{instance['id']}/history", headers=people.auth("emp")).get_json()["items"]
    steps = [(e["actor"], e["action"], e["element_id"]) for e in events if e["action"] in
             ("instance_started", "task_completed", "instance_completed")]
    assert steps == [("operator", "instance_started", None), ("con", "task_completed", "request_variation"),
                     ("emp", "task_completed", "approve_variation"), ("emp", "instance_completed", None)]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["prev_hash"] == p["hash"] for p, e in zip(events, events[1:]))


def test_redeploying_the_same_bytes_returns_the_existing_version(client, people):
    first = deploy(client, people)
    r = client.post("/api/v1/definitions", data=fixture_bytes("approval.bpmn"), headers={**people.auth("designer"), **XML})
    assert r.status_code == 200 and r.get_json() == first
    changed = fixture_bytes("approval.bpmn").replace(b"Approve variation", b"Approve the variation")
    r = client.post("/api/v1/definitions", data=changed, headers={**people.auth("designer"), **XML})
    assert r.status_code == 201 and r.get_json()["version"] == 2


def test_a_new_version_does_not_affect_running_instances(client, people):
    deploy(client, people)
    instance = start(client, people).get_json()
    changed = fixture_bytes("approval.bpmn").replace(b'name="Request variation"', b'name="Request a change"')
    client.post("/api/v1/definitions", data=changed, headers={**people.auth("designer"), **XML})
    again = client.get(f"/api/v1/instances/{instance['id']}", headers=people.auth("operator")).get_json()
    assert again["definition"] == {"key": "variation_approval", "version": 1}
    assert again["tasks"][0]["name"] == "Request variation"
    newer = start(client, people, business_key="LH-2026-0002").get_json()
    assert newer["definition"]["version"] == 2 and newer["tasks"][0]["name"] == "Request a change"


def test_start_data_is_validated_and_nothing_is_stored_on_error(client, people):
    deploy(client, people, "approval.bpmn")
    r = client.post("/api/v1/instances", json={"definition": "variation_approval", "business_key": "X-1",
                                               "data": {"employer": "NOPE", "contractor": "CON"}},
                    headers=people.auth("operator"))
    assert r.status_code == 422 and "data.employer" in r.get_json()["errors"]
    r = client.post("/api/v1/instances", json={"definition": "variation_approval", "business_key": "X-1",
                                               "data": {"employer": "EMP"}}, headers=people.auth("operator"))
    assert r.status_code == 422 and "data.contractor" in r.get_json()["errors"]
    assert client.get("/api/v1/instances", headers=people.auth("operator")).get_json()["items"] == []
    assert start(client, people, business_key="X-1").status_code == 201
    assert start(client, people, business_key="X-1").status_code == 409


def test_parties_cannot_start_contracts_and_bad_tokens_get_401(client, people):
    deploy(client, people)
    r = client.post("/api/v1/instances", json={"definition": "variation_approval", "business_key": "X-2",
                                               "data": {"employer": "EMP", "contractor": "CON"}}, headers=people.auth("emp"))
    assert r.status_code == 403
    assert client.get("/api/v1/tasks").status_code == 401
    r = client.get("/api/v1/tasks", headers={"Authorization": "Bearer lvy_not-a-token"})
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
