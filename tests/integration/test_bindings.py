"""Domain listeners bind to diagram elements by declaration (engine/supervision/bindings.py): a diagram of
their process without one of those elements is refused at deploy, naming the listener and the element,
instead of the ledger silently recording nothing when the renamed task completes."""
from __future__ import annotations

from engine.runtime import hooks
from tests.conftest import ROOT

XML = {"Content-Type": "application/xml"}
POST_AWARD = (ROOT / "bpmn" / "post_award.bpmn").read_text(encoding="utf-8")


def renamed(xml: str, old: str, new: str) -> str:
    """The diagram with element `old` renamed `new` everywhere (its id, references and flows named after it)."""
    assert f'id="{old}"' in xml
    return xml.replace(old, new)


def test_a_post_award_diagram_without_record_payment_is_refused_at_deploy_naming_the_listener(client, people):
    xml = renamed(POST_AWARD, "record_payment", "log_payment")
    r = client.post("/api/v1/definitions", data=xml.encode("utf-8"), headers={**people.auth("designer"), **XML})
    assert r.status_code == 422, r.get_json()
    problem = r.get_json()
    assert "ledger.record_task" in problem["detail"] and "'record_payment'" in problem["detail"]
    assert problem["errors"]["bpmn"] == [
        "listener 'ledger.record_task' needs element 'record_payment' in process 'post_award'; this diagram has none "
        "(rename it back, or change the listener's binding in engine/supervision/bindings.py)"]
    listed = client.get("/api/v1/definitions", headers=people.auth("designer")).get_json()
    assert listed["items"] == []  # nothing deployed

    checked = client.post("/api/v1/definitions/validate", data=xml.encode("utf-8"),
                          headers={**people.auth("designer"), **XML}).get_json()
    assert checked["valid"] is False
    assert [p["message"] for p in checked["problems"]] == problem["errors"]["bpmn"]

    ok = client.post("/api/v1/definitions", data=POST_AWARD.encode("utf-8"), headers={**people.auth("designer"), **XML})
    assert ok.status_code == 201, ok.get_json()


def test_every_guarantee_element_is_bound_and_other_processes_are_not_concerned(client, people):
    xml = renamed(POST_AWARD, "verify_guarantee", "check_guarantee")
    r = client.post("/api/v1/definitions/validate", data=xml.encode("utf-8"), headers={**people.auth("designer"), **XML})
    assert [p["message"].split(";")[0] for p in r.get_json()["problems"]] == [
        "listener 'guarantees.record_task' needs element 'verify_guarantee' in process 'post_award'"]
    # The same element missing from a process no listener binds to is no concern of the check.
    assert hooks.missing_bindings("contract_signing", set()) == []
    assert {(b.listener, e) for b, e in hooks.missing_bindings("post_award", set())} >= {
        ("ledger.record_task", "record_payment"), ("ledger.record_task", "submit_invoice"),
        ("guarantees.record_task", "submit_performance_guarantee")}
