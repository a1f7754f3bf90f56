"""Lanes are contract roles: a lane drawn as `Employer` or `招标人` is the employer's lane, held by the
employer's organisation (engine/diagrams.role_of_lane); a lane that names no role is refused at deploy."""
from __future__ import annotations

import pytest

from engine.runtime import diagrams
from tests.conftest import fixture_bytes

XML = {"Content-Type": "application/xml"}


def _approval(key: str, employer_lane: str, contractor_lane: str = "contractor") -> bytes:
    """approval.bpmn (request_variation: contractor, then approve_variation: employer) with its lanes renamed."""
    xml = fixture_bytes("approval.bpmn").decode()
    xml = xml.replace('name="employer"', f'name="{employer_lane}"').replace('name="contractor"', f'name="{contractor_lane}"')
    return xml.replace('id="variation_approval"', f'id="{key}"').replace('processRef="variation_approval"',
                                                                        f'processRef="{key}"').encode()


@pytest.mark.parametrize("name, role", [("employer", "employer"), ("Employer", "employer"), (" EMPLOYER ", "employer"),
                                        ("招标人", "employer"), ("采购人", "employer"), ("中标人", "contractor"),
                                        ("供应商", "contractor"), ("承包人", "contractor"), ("Contractor", "contractor"),
                                        ("担保人", "guarantor"), ("担保机构", "guarantor"), ("Guarantor", "guarantor"),
                                        ("监管部门", "supervisor"), ("行政监督部门", "supervisor"),
                                        ("Supervisor", "supervisor"), ("Finance", None), ("", None), (None, None),
                                        ("employers", None), ("财务部", None)])
def test_role_of_lane(name, role):
    assert diagrams.role_of_lane(name) == role


@pytest.mark.parametrize("employer_lane, contractor_lane", [("招标人", "中标人"), ("Employer", "Contractor")])
def test_a_lane_named_in_chinese_or_capitalised_is_held_by_its_role(client, people, employer_lane, contractor_lane):
    key = "lanes_" + ("zh" if employer_lane == "招标人" else "en")
    r = client.post("/api/v1/definitions", data=_approval(key, employer_lane, contractor_lane),
                    headers={**people.auth("designer"), **XML})
    assert r.status_code == 201, r.get_json()
    r = client.post("/api/v1/instances", headers=people.auth("operator"), json={
        "definition": key, "business_key": f"LANE-{key}", "data": {"employer": "EMP", "contractor": "CON"}})
    assert r.status_code == 201, r.get_json()
    [task] = r.get_json()["tasks"]
    assert task["lane"] == "contractor"
    r = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=people.auth("con"),
                    json={"data": {"amount": "10", "reason": "r"}})
    assert r.status_code == 200, r.get_json()
    [task] = r.get_json()["instance"]["tasks"]
    assert task["lane"] == "employer" and task["element_id"] == "approve_variation"
    # the employer's user sees the task in its list and completes it; the contractor may not
    listed = client.get("/api/v1/tasks", headers=people.auth("emp")).get_json()["items"]
    assert [t["id"] for t in listed] == [task["id"]]
    assert client.post(f"/api/v1/tasks/{task['id']}/complete", headers=people.auth("con"),
                       json={"data": {"approved": True}}).status_code == 403
    r = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=people.auth("emp"), json={"data": {"approved": True}})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["instance"]["status"] == "completed"


def test_a_lane_that_names_no_role_is_refused_at_deploy_even_without_a_user_task(client, people):
    # `Finance` holds only the start event: no user task in it, still refused, naming the lane.
    xml = fixture_bytes("approval.bpmn").decode().replace(
        '<bpmn:lane id="lane_contractor" name="contractor">\n        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>',
        '<bpmn:lane id="lane_finance" name="Finance">\n        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>\n      '
        '</bpmn:lane>\n      <bpmn:lane id="lane_contractor" name="contractor">')
    assert 'name="Finance"' in xml
    r = client.post("/api/v1/definitions", data=xml.encode(), headers={**people.auth("designer"), **XML})
    assert r.status_code == 422, r.get_json()
    [problem] = r.get_json()["errors"]["bpmn"]
    assert "lane_finance" in problem and "lane 'Finance' is not a contract role" in problem
    r = client.post("/api/v1/definitions", data=_approval("lanes_finance", "Finance"),
                    headers={**people.auth("designer"), **XML})
    assert r.status_code == 422
    assert any("lane 'Finance'" in p for p in r.get_json()["errors"]["bpmn"])
    assert client.get("/api/v1/definitions/lanes_finance", headers=people.auth("designer")).status_code == 404
