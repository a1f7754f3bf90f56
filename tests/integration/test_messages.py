"""Only messages a diagram declares external (`<lvyue:external/>` on the bpmn:message) are posted from
outside; the engine's own (a partition's completion, a refusal to sign, a claim) are refused naming the
message, and nothing changes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from engine import clock
from engine.runtime import diagrams
from engine.storage import models
from engine.storage.models import AuditEvent, BufferedMessage, Definition
from tests.conftest import fixture_bytes

XML = {"Content-Type": "application/xml"}
CN = timezone(timedelta(hours=8))
POST_AWARD = Path(__file__).resolve().parents[2] / "bpmn" / "post_award.bpmn"


def _deploy(client, people, data: bytes):
    r = client.post("/api/v1/definitions", data=data, headers={**people.auth("designer"), **XML})
    assert r.status_code in (200, 201), r.get_json()


def _milestones_contract(client, people, key: str) -> dict:
    _deploy(client, people, fixture_bytes("milestones.bpmn"))
    with clock.frozen_at(datetime(2026, 9, 1, 9, tzinfo=CN)):
        r = client.post("/api/v1/instances", headers=people.auth("operator"), json={
            "definition": "ms_contract", "business_key": key,
            "data": {"employer": "EMP", "department": "ZJ", "payment_term_days": 30,
                     "milestones": [{"no": 1, "amount": "100.00", "accepted_at": "2026-09-01"}]}})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _state(app, instance_id: str):
    db = app.extensions["lvyue"].db
    with db.read() as s:
        from engine.storage.models import Instance
        row = s.get(Instance, instance_id)
        return (row.status, row.state, row.version if hasattr(row, "version") else None,
                s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.instance_id == instance_id)),
                s.scalar(select(func.count()).select_from(BufferedMessage).where(BufferedMessage.instance_id == instance_id)))


def test_the_lint_reads_which_messages_are_external():
    model = diagrams.read(fixture_bytes("milestones.bpmn")).model
    assert model["messages"] == {"milestones_completed": {"external": False}, "guarantee_issued": {"external": True}}
    shipped = diagrams.read(POST_AWARD.read_bytes()).model["messages"]
    assert {n for n, m in shipped.items() if m["external"]} == {"guarantee_issued"}
    assert {"milestones_completed", "award_refused", "guarantee_claimed"} <= set(shipped)


@pytest.mark.parametrize("who", ["operator", "admin"])
def test_an_internal_message_is_refused_and_changes_nothing(app, client, people, who):
    inst = _milestones_contract(client, people, f"MSG-INT-{who}")
    r = client.post(f"/api/v1/instances/{inst['id']}/messages/guarantee_issued", json={"payload": {"guarantee_no": "G1"}},
                    headers=people.auth("operator"))
    assert r.status_code == 200 and [t["element_id"] for t in r.get_json()["tasks"]] == ["record_payment"]
    before = _state(app, inst["id"])
    # The partition's message would complete the contract though its milestone was never paid.
    r = client.post(f"/api/v1/instances/{inst['id']}/messages/milestones_completed",
                    json={"payload": {"milestones_completed": 1}}, headers=people.auth(who))
    assert r.status_code == 403, r.get_json()
    body = r.get_json()
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert "milestones_completed" in body["detail"]
    assert "not declared external" in body["errors"]["name"][0] and "guarantee_issued" in body["errors"]["name"][0]
    assert _state(app, inst["id"]) == before
    view = client.get(f"/api/v1/instances/{inst['id']}", headers=people.auth("admin")).get_json()
    assert view["status"] == "running" and [t["element_id"] for t in view["tasks"]] == ["record_payment"]


def test_a_message_the_diagram_does_not_have_is_refused(app, client, people):
    inst = _milestones_contract(client, people, "MSG-UNKNOWN")
    before = _state(app, inst["id"])
    r = client.post(f"/api/v1/instances/{inst['id']}/messages/anything_else", json={"payload": {}},
                    headers=people.auth("operator"))
    assert r.status_code == 422, r.get_json()
    assert "anything_else" in r.get_json()["detail"] and "guarantee_issued" in r.get_json()["errors"]["name"][0]
    assert _state(app, inst["id"]) == before


@pytest.mark.parametrize("name", ["award_refused", "milestones_completed", "guarantee_claimed"])
def test_post_award_internal_messages_are_refused(app, client, people, name):
    """An operator can no longer end a contract awaiting signature (award_refused), complete one never paid
    (milestones_completed) or open a claim (guarantee_claimed) by posting the engine's message."""
    from tests.e2e.test_post_award import tendering_works  # the shipped process's start data

    _deploy(client, people, POST_AWARD.read_bytes())
    with clock.frozen_at(datetime(2026, 8, 4, 9, tzinfo=CN)):
        r = client.post("/api/v1/instances", headers=people.auth("operator"), json={
            "definition": "post_award", "business_key": f"PA-{name}", "data": tendering_works()})
    assert r.status_code == 201, r.get_json()
    inst = r.get_json()
    before = _state(app, inst["id"])
    r = client.post(f"/api/v1/instances/{inst['id']}/messages/{name}", json={"payload": {"award_refused_at": "2026-08-05"}},
                    headers=people.auth("operator"))
    assert r.status_code == 403, r.get_json()
    assert name in r.get_json()["detail"] and list(r.get_json()["errors"]) == ["name"]
    assert _state(app, inst["id"]) == before
    # the e-guarantee platform's message stays postable (kept: nothing waits for it)
    r = client.post(f"/api/v1/instances/{inst['id']}/messages/guarantee_issued", json={"payload": {"guarantee_no": "EG-1"}},
                    headers=people.auth("operator"))
    assert r.status_code == 200, r.get_json()


def test_a_definition_deployed_before_messages_were_declared_is_read_from_its_diagram(app, client, people):
    """A version whose stored lint model predates `messages` still refuses its internal messages."""
    inst = _milestones_contract(client, people, "MSG-OLD")
    db = app.extensions["lvyue"].db
    with db.transaction() as s:
        d = s.scalar(select(Definition).where(Definition.key == "ms_contract"))
        cache_key = (d.id, d.sha256)
        model = {k: v for k, v in d.model_json.items() if k != "messages"}
        s.execute(update(Definition).where(Definition.id == d.id).values(model_json=model))
    models._MODELS.pop(cache_key, None)  # as a process started after the upgrade reads it
    try:
        with db.read() as s:
            assert "messages" not in s.scalar(select(Definition).where(Definition.key == "ms_contract")).model
        r = client.post(f"/api/v1/instances/{inst['id']}/messages/milestones_completed", json={"payload": {}},
                        headers=people.auth("operator"))
        assert r.status_code == 403, r.get_json()
        r = client.post(f"/api/v1/instances/{inst['id']}/messages/guarantee_issued", json={"payload": {}},
                        headers=people.auth("operator"))
        assert r.status_code == 200, r.get_json()
    finally:
        models._MODELS.pop(cache_key, None)  # the next test's database has this version with its full model


@pytest.mark.parametrize("xml, problem", [
    ('<bpmn:message id="m_x"><bpmn:extensionElements><lvyue:external/></bpmn:extensionElements></bpmn:message>',
     "an external message needs a name"),
    ('<bpmn:message id="m_x" name="bad name"><bpmn:extensionElements><lvyue:external/></bpmn:extensionElements>'
     '</bpmn:message>', "cannot be posted"),
    ('<bpmn:signal id="s_x" name="sig"><bpmn:extensionElements><lvyue:external/></bpmn:extensionElements></bpmn:signal>',
     "lvyue:external belongs in the extensionElements of a bpmn:message"),
])
def test_the_lint_refuses_a_misplaced_or_unpostable_external_declaration(xml, problem):
    data = fixture_bytes("approval.bpmn").decode().replace("  <bpmn:collaboration", xml + "\n  <bpmn:collaboration", 1)
    assert any(problem in p.message for p in diagrams.validate(data)), diagrams.validate(data)


def test_a_partition_message_cannot_be_declared_external():
    data = fixture_bytes("milestones.bpmn").decode().replace(
        '<bpmn:message id="msg_done" name="milestones_completed"/>',
        '<bpmn:message id="msg_done" name="milestones_completed"><bpmn:extensionElements><lvyue:external/>'
        '</bpmn:extensionElements></bpmn:message>')
    assert any("completes a partition" in p.message for p in diagrams.validate(data))
