"""Versions of a definition: the rule registry for the modeler, the diff between two versions, and
moving a running contract to a newer version (its timers follow the new definition; an instance
whose active task is gone is refused with the element named)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from engine import clock
from engine.runtime import timers
from tests.conftest import FIXTURES

XML = {"Content-Type": "application/xml"}
CN = timezone(timedelta(hours=8))
# post_award as drawn before warning ladders, one timer element per severity: a version 2 moves one severity's timer
# alone, which a ladder (all its steps counted from one due) does not express. The ladder version migrates the same
# way (tests/integration/test_warning_ladders.py).
POST_AWARD = (FIXTURES / "post_award_v_before_ladder.bpmn").read_text(encoding="utf-8")
ORANGE_V1 = "<bpmn:timeDate xsi:type=\"bpmn:tFormalExpression\">deadline('R04' if track == 'tendering' else 'G03', award_notice_date)</bpmn:timeDate>"
ORANGE_V2 = "<bpmn:timeDate xsi:type=\"bpmn:tFormalExpression\">add_days(award_notice_date, 20)</bpmn:timeDate>"
DELIVERY_V1 = "<bpmn:timeDate xsi:type=\"bpmn:tFormalExpression\">end_of_day(milestone.planned_date)</bpmn:timeDate>"
DELIVERY_V2 = "<bpmn:timeDate xsi:type=\"bpmn:tFormalExpression\">add_days(milestone.planned_date, 10)</bpmn:timeDate>"
RENAMED = 'name="Sign the written contract (签订书面合同)"'


def v2_xml() -> str:
    """post_award with the signing task renamed, the orange signing deadline shortened to 20 days and
    milestone deliveries given 10 days' grace."""
    assert ORANGE_V1 in POST_AWARD and DELIVERY_V1 in POST_AWARD
    return (POST_AWARD.replace('name="Sign the contract (签订合同)"', RENAMED)
            .replace(ORANGE_V1, ORANGE_V2).replace(DELIVERY_V1, DELIVERY_V2))


def without_signing_task(xml: str) -> str:
    """A version in which the signing task has a new id: the old `sign_contract` no longer exists."""
    return xml.replace('"sign_contract"', '"sign_written_contract"').replace(">sign_contract<", ">sign_written_contract<") \
              .replace("_sign_contract", "_sign_written_contract").replace("sign_contract_", "sign_written_contract_")


def deploy(client, people, xml: str) -> dict:
    r = client.post("/api/v1/definitions", data=xml.encode("utf-8"), headers={**people.auth("designer"), **XML})
    assert r.status_code in (200, 201), r.get_json()
    return r.get_json()


def start(client, people, key="LH-V-1", **changes) -> dict:
    data = {"project_code": "P-1", "project_name": "教学楼改造", "track": "tendering", "category": "works",
            "award_notice_date": "2026-03-02", "tendering_reported_at": "2026-03-02", "contract_amount": "1000000.00",
            "employer": "EMP", "contractor": "CON",
            "department": "ZJ", "acceptance_days": 30, "performance_guarantee_rate": "0", "retention_rate": "3",
            "bid_bond": {"amount": "10000.00", "form": "e_guarantee"},
            "milestones": [{"name": "主体", "amount": "1000000.00", "planned_date": "2026-09-30"}]}
    data.update(changes)
    with clock.frozen_at(datetime(2026, 3, 3, 9, tzinfo=CN)):
        r = client.post("/api/v1/instances", headers=people.auth("operator"),
                        json={"definition": "post_award", "business_key": key, "data": data})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def confirm(client, people, instance_id: str, day: str, sha: str) -> None:
    """The contractor confirms the text the employer signed: signed by both."""
    [task] = client.get(f"/api/v1/tasks?instance_id={instance_id}&element_id=confirm_signature",
                        headers=people.auth("con")).get_json()["items"]
    with clock.frozen_at(datetime.fromisoformat(day + "T15:00:00+08:00")):
        r = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=people.auth("con"), json={"data": {
            "confirmed": True, "confirmed_at": day, "document_sha256": sha}})
    assert r.status_code == 200, r.get_json()


def waiting(instance: dict) -> dict[str, dict]:
    return {t["element_id"]: t for t in instance["timers"] if t["status"] == "waiting"}


# ---------------------------------------------------------------- rules and diff
def test_the_rule_registry_is_listed_read_only_for_the_modeler(client, people):
    r = client.get("/api/v1/rules", headers=people.auth("designer"))
    assert r.status_code == 200
    rules = {(x["id"], x["effective_from"]): x for x in r.get_json()["items"]}
    p01 = [x for (i, _), x in rules.items() if i == "P01" and x["in_force"]]
    assert len(p01) == 1 and p01[0]["days"] == 30 and p01[0]["unit"] == "days" and "条例" in p01[0]["legal_basis"]
    assert client.get("/api/v1/rules").status_code == 401
    assert client.post("/api/v1/rules", headers=people.auth("admin"), json={}).status_code == 405
    spec = client.get("/openapi.json").get_json()
    for path in ("/api/v1/rules", "/api/v1/definitions/{key}/diff", "/api/v1/instances/{instance_id}/migrate"):
        assert path in spec["paths"], path


def test_diff_names_elements_added_removed_and_changed_between_versions(client, people):
    deploy(client, people, POST_AWARD)
    deploy(client, people, v2_xml())
    deploy(client, people, without_signing_task(v2_xml()))
    r = client.get("/api/v1/definitions/post_award/diff?from=1&to=2", headers=people.auth("designer"))
    assert r.status_code == 200, r.get_json()
    diff = r.get_json()
    assert diff["added"] == [] and diff["removed"] == []
    changed = {c["element_id"]: c for c in diff["changed"]}
    # (the contractor's confirmation counts the same signing deadline: its orange timer changes with it)
    assert set(changed) == {"sign_contract", "signing_timer_orange", "confirmation_timer_orange", "delivery_timer_orange"}
    assert changed["sign_contract"]["changes"] == ["name"]
    assert changed["sign_contract"]["details"]["name"]["to"] == "Sign the written contract (签订书面合同)"
    assert changed["signing_timer_orange"]["changes"] == ["timerEventDefinition"]
    assert changed["signing_timer_orange"]["details"]["timerEventDefinition"]["to"] == "add_days(award_notice_date, 20)"

    diff = client.get("/api/v1/definitions/post_award/diff?from=2&to=3", headers=people.auth("operator")).get_json()
    assert "sign_written_contract" in [a["element_id"] for a in diff["added"]]
    assert "sign_contract" in [a["element_id"] for a in diff["removed"]]
    assert client.get("/api/v1/definitions/post_award/diff?from=1&to=9", headers=people.auth("designer")).status_code == 422
    assert client.get("/api/v1/definitions/post_award/diff?from=1", headers=people.auth("designer")).status_code == 422
    assert client.get("/api/v1/definitions/nope/diff?from=1&to=2", headers=people.auth("designer")).status_code == 404
    # versions are listed per key, and the instance stays on the version it was started with
    versions = client.get("/api/v1/definitions?key=post_award", headers=people.auth("designer")).get_json()["items"]
    assert [v["version"] for v in versions] == [1, 2, 3]


# ---------------------------------------------------------------- migration
def test_a_running_instance_moves_to_v2_and_its_timers_follow_the_new_definition(client, people, app):
    deploy(client, people, POST_AWARD)
    inst = start(client, people)
    assert inst["definition"] == {"key": "post_award", "version": 1}
    [task] = inst["tasks"]
    assert task["element_id"] == "sign_contract"
    before = waiting(inst)
    # R04: 30 days from 2026-03-02 → 2026-04-01 24:00 China time
    assert before["signing_timer_orange"]["due_at"] == "2026-04-01T16:00:00+00:00"
    deploy(client, people, v2_xml())
    # a new contract starts on v2; this one stays pinned to v1 until migrated
    assert client.get(f"/api/v1/instances/{inst['id']}", headers=people.auth("operator")).get_json()["definition"]["version"] == 1

    options = client.get(f"/api/v1/instances/{inst['id']}/migrate", headers=people.auth("operator")).get_json()
    assert options["versions"] == [{"version": 2, "possible": True, "blocked": []}]
    dry = client.post(f"/api/v1/instances/{inst['id']}/migrate", json={"version": 2, "dry_run": True},
                      headers=people.auth("operator"))
    assert dry.status_code == 200 and dry.get_json()["dry_run"] is True
    assert client.get(f"/api/v1/instances/{inst['id']}", headers=people.auth("operator")).get_json()["definition"]["version"] == 1

    for who in ("designer", "emp", "zj"):
        assert client.post(f"/api/v1/instances/{inst['id']}/migrate", json={"version": 2},
                           headers=people.auth(who)).status_code == 403
    with clock.frozen_at(datetime(2026, 3, 5, 9, tzinfo=CN)):
        r = client.post(f"/api/v1/instances/{inst['id']}/migrate", json={"version": 2}, headers=people.auth("operator"))
    assert r.status_code == 200, r.get_json()
    out = r.get_json()
    assert out["from"] == {"key": "post_award", "version": 1} and out["to"] == {"key": "post_award", "version": 2}
    assert "sign_contract" in out["changed"] and "signing_timer_orange" in out["changed"]
    moved = {t["element_id"]: t for t in out["timers"]}
    # 20 days from 2026-03-02 is Sunday 2026-03-22: the period ends on Monday 2026-03-23, 24:00
    assert moved["signing_timer_orange"]["from"] == "2026-04-01T16:00:00+00:00"
    assert moved["signing_timer_orange"]["to"] == "2026-03-23T16:00:00+00:00"

    now = client.get(f"/api/v1/instances/{inst['id']}", headers=people.auth("operator")).get_json()
    assert now["definition"] == {"key": "post_award", "version": 2}
    after = waiting(now)
    assert after["signing_timer_orange"]["due_at"] == "2026-03-23T16:00:00+00:00"
    assert after["signing_timer_orange"]["id"] == before["signing_timer_orange"]["id"]  # the same timer, moved
    assert after["signing_timer_red"]["due_at"] == before["signing_timer_red"]["due_at"]  # unchanged expression
    [task2] = now["tasks"]
    assert task2["id"] == task["id"] and task2["name"] == "Sign the written contract (签订书面合同)"
    history = client.get(f"/api/v1/instances/{inst['id']}/history", headers=people.auth("operator")).get_json()["items"]
    [event] = [e for e in history if e["action"] == "instance_migrated"]
    assert event["data"]["from_version"] == 1 and event["data"]["to_version"] == 2
    assert {t["element_id"] for t in event["data"]["timers"]} == {"signing_timer_orange"}

    # the new deadline fires the orange alert when v2 says, not when v1 did
    db = app.extensions["lvyue"].db
    timers.tick(db, datetime(2026, 3, 24, 9, tzinfo=CN))
    [alert] = client.get("/api/v1/alerts", headers=people.auth("zj")).get_json()["items"]
    assert alert["code"] == "SIGNING_OVERDUE" and alert["severity"] == "orange"

    # the task completes on v2 and the contract runs on
    r = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=people.auth("emp"), json={"data": {
        "signed_at": "2026-03-25", "contract_no": "HT-1", "document_sha256": "a" * 64, "amount": "1000000.00"}})
    assert r.status_code == 200, r.get_json()
    confirm(client, people, inst["id"], "2026-03-25", "a" * 64)
    assert client.get("/api/v1/alerts?status=resolved", headers=people.auth("zj")).get_json()["items"][0]["id"] == alert["id"]
    # a second migration to the same version is refused: it is not newer
    r = client.post(f"/api/v1/instances/{inst['id']}/migrate", json={"version": 2}, headers=people.auth("operator"))
    assert r.status_code == 422 and "version" in r.get_json()["errors"]


def test_part_workflows_move_too_and_their_timers_follow(client, people):
    deploy(client, people, POST_AWARD)
    inst = start(client, people, "LH-V-2")
    [task] = inst["tasks"]
    with clock.frozen_at(datetime(2026, 3, 10, 9, tzinfo=CN)):
        r = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=people.auth("emp"), json={"data": {
            "signed_at": "2026-03-10", "contract_no": "HT-2", "document_sha256": "b" * 64, "amount": "1000000.00"}})
    assert r.status_code == 200, r.get_json()
    confirm(client, people, inst["id"], "2026-03-10", "b" * 64)
    before = client.get(f"/api/v1/instances/{inst['id']}", headers=people.auth("operator")).get_json()
    assert waiting(before)["delivery_timer_orange"]["due_at"] == "2026-09-30T16:00:00+00:00"
    deploy(client, people, v2_xml())
    with clock.frozen_at(datetime(2026, 3, 11, 9, tzinfo=CN)):
        r = client.post(f"/api/v1/instances/{inst['id']}/migrate", json={"version": 2}, headers=people.auth("operator"))
    assert r.status_code == 200, r.get_json()
    after = client.get(f"/api/v1/instances/{inst['id']}", headers=people.auth("operator")).get_json()
    # 10 days after 2026-09-30 is 2026-10-10 (a make-up working day after National Day)
    assert waiting(after)["delivery_timer_orange"]["due_at"] == "2026-10-10T16:00:00+00:00"
    assert {t["element_id"] for t in after["tasks"]} == {t["element_id"] for t in before["tasks"]}
    view = client.get(f"/api/v1/instances/{inst['id']}/diagram", headers=people.auth("operator")).get_json()
    assert "report_delivery" in view["active"] and "sign_written" not in view["xml"]


def test_an_instance_whose_active_task_was_removed_is_refused_with_the_element_named(client, people):
    deploy(client, people, POST_AWARD)
    inst = start(client, people, "LH-V-3")
    deploy(client, people, without_signing_task(POST_AWARD))
    r = client.post(f"/api/v1/instances/{inst['id']}/migrate", json={"version": 2}, headers=people.auth("operator"))
    assert r.status_code == 422, r.get_json()
    problem = r.get_json()
    assert "sign_contract" in problem["detail"]
    assert any("'sign_contract'" in m for m in problem["errors"]["version"])
    options = client.get(f"/api/v1/instances/{inst['id']}/migrate", headers=people.auth("admin")).get_json()
    assert options["versions"][0]["possible"] is False and "sign_contract" in options["versions"][0]["blocked"]
    now = client.get(f"/api/v1/instances/{inst['id']}", headers=people.auth("operator")).get_json()
    assert now["definition"]["version"] == 1 and now["tasks"][0]["id"] == inst["tasks"][0]["id"]
    history = client.get(f"/api/v1/instances/{inst['id']}/history", headers=people.auth("operator")).get_json()["items"]
    assert "instance_migrated" not in [e["action"] for e in history]
    for body in ({"version": 7}, {"version": 0}, {"version": "2"}, {}, {"version": 2, "extra": 1}):
        assert client.post(f"/api/v1/instances/{inst['id']}/migrate", json=body,
                           headers=people.auth("operator")).status_code == 422, body
    assert client.post("/api/v1/instances/nope/migrate", json={"version": 2}, headers=people.auth("operator")).status_code == 404
    # a cancelled contract does not move
    assert client.post(f"/api/v1/instances/{inst['id']}/cancel", json={"reason": "x"}, headers=people.auth("operator")).status_code == 200
    deploy(client, people, v2_xml())
    r = client.post(f"/api/v1/instances/{inst['id']}/migrate", json={"version": 3}, headers=people.auth("operator"))
    assert r.status_code == 409


def test_a_completed_element_missing_from_the_new_version_is_refused_too(client, people):
    """The task tree keeps what was done; a version without it could not load this contract again."""
    deploy(client, people, POST_AWARD)
    inst = start(client, people, "LH-V-4")
    [task] = inst["tasks"]
    with clock.frozen_at(datetime(2026, 3, 10, 9, tzinfo=CN)):
        r = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=people.auth("emp"), json={"data": {
            "signed_at": "2026-03-10", "contract_no": "HT-4", "document_sha256": "c" * 64, "amount": "1000000.00"}})
    assert r.status_code == 200, r.get_json()
    deploy(client, people, without_signing_task(POST_AWARD))
    r = client.post(f"/api/v1/instances/{inst['id']}/migrate", json={"version": 2}, headers=people.auth("operator"))
    assert r.status_code == 422, r.get_json()
    assert any("'sign_contract' of the contract's history" in m for m in r.get_json()["errors"]["version"])
    view = client.get(f"/api/v1/instances/{inst['id']}/diagram", headers=people.auth("operator"))
    assert view.status_code == 200 and "sign_contract" in view.get_json()["completed"]
