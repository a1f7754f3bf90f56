"""Issue 19: warning ladders (engine/runtime/ladders.py, bpmn/README.md "Warning ladders") — one drawn element per
obligation, expanded by the engine at deploy into the warning construct; the stored and served diagram stays the
drawn one; a malformed ladder is refused naming its element; versions deployed before keep running.

The end-to-end comparison of post_award before and after (acceptance 6) is tests/e2e/test_warning_ladder.py."""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree

from engine import clock
from engine.runtime import diagrams, spiff, timers
from tests.conftest import FIXTURES, ROOT, fixture_bytes

XML = {"Content-Type": "application/xml"}
CN = timezone(timedelta(hours=8))
# The ladder's expansion is pure XML and the alerts it raises are a step like any other: one database suffices.
SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
LVYUE = "{http://lvyue.org/schema/bpmn/1.0}"
LADDER = fixture_bytes("signing_ladder.bpmn").decode()
# post_award with its warnings drawn out (`bpmn/tools/layout.py --expanded`): as generated before ladders.
OLD_POST_AWARD = FIXTURES / "post_award_v_before_ladder.bpmn"
NEW_POST_AWARD = ROOT / "bpmn" / "post_award.bpmn"


def deploy(client, people, text: str):
    return client.post("/api/v1/definitions", data=text.encode(), headers={**people.auth("designer"), **XML})


def start(client, people, key: str, award_notice_date: str, when: datetime):
    with clock.frozen_at(when):
        r = client.post("/api/v1/instances", headers=people.auth("operator"), json={
            "definition": "signing_deadline", "business_key": key,
            "data": {"employer": "EMP", "department": "ZJ", "award_notice_date": award_notice_date}})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def alerts(client, people, who="admin"):
    return client.get("/api/v1/alerts?limit=100", headers=people.auth(who)).get_json()["items"]


# ------------------------------------------------------------------------------------ expansion
@SQLITE
def test_a_ladder_runs_as_its_three_timers_and_the_instance_view_shows_the_ladder(client, people, app):
    r = deploy(client, people, LADDER)
    assert r.status_code == 201, r.get_json()
    # Stored and served as drawn: one element, no generated timer.
    xml = client.get("/api/v1/definitions/signing_deadline/versions/1/xml", headers=people.auth("designer")).get_data(as_text=True)
    assert "lvyue:warningLadder" in xml and "signing_timer_yellow" not in xml

    instance = start(client, people, "L-1", "2026-09-01", datetime(2026, 9, 2, 10, tzinfo=CN))
    # R04: 30 days from 09-01 → 10-08 24:00; yellow 3 days before, red 30 days after.
    assert sorted((t["element_id"], t["due_at"][:19]) for t in instance["timers"]) == [
        ("signing_timer_orange", "2026-10-08T16:00:00"), ("signing_timer_red", "2026-11-07T16:00:00"),
        ("signing_timer_yellow", "2026-10-05T16:00:00")]
    view = client.get(f"/api/v1/instances/{instance['id']}/diagram", headers=people.auth("admin")).get_json()
    assert "signing" in view["active"] and not [e for e in view["active"] if e.startswith("signing_")]
    assert view["drawn"]["signing_timer_red"] == "signing" and view["xml"] == xml

    db = app.extensions["lvyue"].db
    timers.tick(db, datetime(2026, 10, 6, 0, 0, 1, tzinfo=CN))
    [yellow] = alerts(client, people)
    assert (yellow["code"], yellow["severity"], yellow["element_id"]) == ("SIGNING_OVERDUE", "yellow", "sign_contract")
    assert yellow["due_at"].startswith("2026-10-08T16:00:00") and yellow["legal_basis"]
    timers.tick(db, datetime(2026, 11, 8, 0, 0, 1, tzinfo=CN))
    [red] = alerts(client, people)
    assert red["id"] == yellow["id"] and red["severity"] == "red" and red["escalated_to"] == "JW"
    view = client.get(f"/api/v1/instances/{instance['id']}/diagram", headers=people.auth("admin")).get_json()
    assert "signing" in view["completed"] and not [e for e in view["active"] + view["completed"] if e.startswith("signing_")]

    [task] = client.get(f"/api/v1/tasks?instance_id={instance['id']}", headers=people.auth("emp")).get_json()["items"]
    assert task["due_at"].startswith("2026-10-08T16:00:00")  # the task shows the ladder's deadline
    with clock.frozen_at(datetime(2026, 11, 9, 10, tzinfo=CN)):
        done = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=people.auth("emp"),
                           json={"data": {"signed_at": "2026-11-09"}})
    assert done.status_code == 200, done.get_json()
    [resolved] = alerts(client, people)
    assert resolved["status"] == "resolved" and resolved["resolution"] == "obligation met on 2026-11-09, 32 days late"


def test_a_ladder_is_the_hand_drawn_construct_to_the_engine():
    """The ladder's expansion is the warning construct of signing_deadline.bpmn, drawn by hand: the same alerts
    (severities, attributes, awaited task), the same timer expressions."""
    hand = diagrams.read(fixture_bytes("signing_deadline.bpmn"))
    ladder = diagrams.read(LADDER)
    strip = lambda alerts: sorted(({k: v for k, v in a.items()} for a in alerts.values()), key=lambda a: a["severity"])  # noqa: E731
    assert strip(ladder.model["alerts"]) == strip(hand.model["alerts"])
    timers_of = lambda d: sorted(t.event_definition.expression for t in d.bundle.spec.task_specs.values()  # noqa: E731
                                 if type(t).__name__ == "BoundaryEvent")
    assert timers_of(ladder) == timers_of(hand)
    assert set(ladder.model["drawn"]) >= {"signing_timer_yellow", "signing_yellow", "signing_yellow_end"}


def _spec_tasks(diagram) -> dict:
    """Every task spec of the bundle, by (process, name), without what only names or draws it."""
    dumped = json.loads(spiff.dump_spec(diagram.bundle))
    out = {}
    for spec in [dumped["spec"], *dumped["subprocess_specs"].values()]:
        for name, task in spec["task_specs"].items():
            task = dict(task)
            for key in ("bpmn_name", "lane", "position", "documentation"):
                task.pop(key, None)
            if isinstance(task.get("event_definition"), dict):
                task["event_definition"] = {k: v for k, v in task["event_definition"].items() if k != "name"}
            out[(spec["name"], name)] = task
    return out


def test_post_award_with_ladders_expands_to_the_executable_diagram_it_replaces():
    """What SpiffWorkflow and the alert listeners get from the ladder version of post_award is what they got from the
    version drawn before ladders: the same task specs (timer expressions, flows, boundary events; names aside), the
    same warnings, elements, forms, partitions and messages."""
    old, new = diagrams.read(OLD_POST_AWARD.read_bytes()), diagrams.read(NEW_POST_AWARD.read_bytes())
    for key in ("alerts", "elements", "user_tasks", "partitions", "messages", "roles", "start_form"):
        assert new.model[key] == old.model[key], key
    assert _spec_tasks(new) == _spec_tasks(old)
    assert len(NEW_POST_AWARD.read_bytes()) < 0.75 * len(OLD_POST_AWARD.read_bytes())


# ------------------------------------------------------------------------------------ one element per obligation
def _warning_elements(path) -> Counter:
    """Drawn warning elements per obligation and task watched (alert code, the activity the timers sit on, or the
    awaited one for a warning raised at once): ladders, escalation throws after a boundary timer (the hand-drawn
    construct) and escalation throws raised at once (no timer)."""
    root = etree.parse(str(path)).getroot()
    flows = {f.get("targetRef"): f.get("sourceRef") for f in root.iter(f"{BPMN}sequenceFlow")}
    by_id = {e.get("id"): e for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
    codes = {e.get("id"): e.get("escalationCode") for e in root.iter(f"{BPMN}escalation")}
    count: Counter = Counter()
    for ladder in root.iter(f"{LVYUE}warningLadder"):
        count[(ladder.get("code"), ladder.getparent().getparent().get("attachedToRef"))] += 1
    for alert in root.iter(f"{LVYUE}alert"):
        throw = alert.getparent().getparent()
        code = codes[throw.find(f"{BPMN}escalationEventDefinition").get("escalationRef")]
        source = by_id.get(flows.get(throw.get("id")))
        on_timer = source is not None and source.tag == f"{BPMN}boundaryEvent"
        count[(code, source.get("attachedToRef") if on_timer else alert.get("awaits"))] += 1
    return count


def test_post_award_draws_at_most_one_warning_element_per_obligation():
    before, after = _warning_elements(OLD_POST_AWARD), _warning_elements(NEW_POST_AWARD)
    assert set(after) == set(before)  # the same obligations are watched, on the same tasks
    assert max(before.values()) == 3  # before: up to three timers, throws and end events for one obligation
    # GUARANTEE_EXPIRING's yellow is a step of the flow, not a timer on the task: the catch event 15 days before the
    # validity ends raises it and opens renew_guarantee, whose ladder then watches the renewal (orange, red).
    assert after.pop(("GUARANTEE_EXPIRING", "renew_guarantee")) == 2
    assert max(after.values()) == 1, after
    # SIGNING_OVERDUE is one alert watched on both parties' tasks: one ladder on each.
    assert after[("SIGNING_OVERDUE", "sign_contract")] == after[("SIGNING_OVERDUE", "confirm_signature")] == 1
    root = etree.parse(str(NEW_POST_AWARD)).getroot()
    assert len(list(root.iter(f"{BPMN}boundaryEvent"))) < len(list(etree.parse(str(OLD_POST_AWARD)).getroot()
                                                                   .iter(f"{BPMN}boundaryEvent"))) / 1.5


# ------------------------------------------------------------------------------------ the lint
def _malformed(old: str, new: str) -> str:
    assert old in LADDER, old
    return LADDER.replace(old, new)



MALFORMED = {
    "no code": (('code="SIGNING_OVERDUE" ', ""), "needs code="),
    "no due": ((" due=\"deadline('R04', award_notice_date)\"", ""), "needs due="),
    "unknown severity": (('severity="orange"/>', 'severity="amber"/>'), "severity='amber' must be one of yellow, orange, red"),
    "days not a number": (('days="30"', 'days="P30D"'), "days='P30D' must be a whole number"),
    "steps not climbing": (('severity="red" days="30"', 'severity="red" days="-5"'), "steps must climb"),
    "severity falling": (('severity="yellow" days="-3"', 'severity="red" days="-3"'), "steps must climb"),
    "no step": (('<lvyue:step severity="yellow" days="-3"/>\n          <lvyue:step severity="orange"/>\n'
                 '          <lvyue:step severity="red" days="30"/>', ""), "at least one lvyue:step"),
    "alert attribute on a step": (('<lvyue:step severity="orange"/>', '<lvyue:step severity="orange" responsible="contractor"/>'),
                                  "lvyue:step takes severity and days only"),
    "interrupting": (('attachedToRef="sign_contract" cancelActivity="false"', 'attachedToRef="sign_contract"'),
                     "must be non-interrupting"),
    "drawn timer differs": (("award_notice_date)</bpmn:timeDate>", "award_notice_date, 10)</bpmn:timeDate>"),
                            "the ladder's timer shows its deadline"),
    "a flow of its own": (('<bpmn:sequenceFlow id="f2"', '<bpmn:sequenceFlow id="f9" sourceRef="signing" targetRef="signed"/>\n'
                           '    <bpmn:sequenceFlow id="f2"'), "has no sequence flow"),
    "ids taken": (('<bpmn:endEvent id="signed">', '<bpmn:endEvent id="signing_red_end">'), "already has signing_red_end"),
    "bad alert kind": (('kind="non_performance"', 'kind="late"'), "kind='late' must be one of arrears, non_performance"),
    "bad due expression": (("deadline('R04', award_notice_date)", "__import__('os')"), "alert due"),
}


@SQLITE
@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_ladder_is_refused_at_deploy_naming_it(client, people, case):
    (old, new), reason = MALFORMED[case]
    text = _malformed(old, new)
    r = deploy(client, people, text)
    assert r.status_code == 422 and r.mimetype == "application/problem+json", (r.status_code, r.get_json())
    messages = r.get_json()["errors"]["bpmn"]
    assert any(m.startswith("element 'signing'") and reason in m for m in messages), messages
    assert client.get("/api/v1/definitions/signing_deadline", headers=people.auth("designer")).status_code == 404


@SQLITE
def test_a_ladder_or_step_out_of_place_is_refused(client, people):
    on_task = LADDER.replace('<lvyue:form><lvyue:field name="signed_at" type="date" required="true"/></lvyue:form>',
                             '<lvyue:form><lvyue:field name="signed_at" type="date" required="true"/></lvyue:form>'
                             '<lvyue:warningLadder code="X" due="signed_at"><lvyue:step severity="red"/></lvyue:warningLadder>')
    r = deploy(client, people, on_task)
    assert r.status_code == 422
    assert any(m.startswith("element 'sign_contract'") and "belongs in the extensionElements of a boundary event" in m
               for m in r.get_json()["errors"]["bpmn"])
    stray = LADDER.replace('<bpmn:extensionElements><lvyue:form><lvyue:field name="award_notice_date"',
                           '<bpmn:extensionElements><lvyue:step severity="red"/><lvyue:form><lvyue:field name="award_notice_date"')
    r = deploy(client, people, stray)
    assert r.status_code == 422
    assert any(m.startswith("element 'start'") and "lvyue:step belongs in a lvyue:warningLadder" in m
               for m in r.get_json()["errors"]["bpmn"])
    r = client.post("/api/v1/definitions/validate", data=stray.encode(), headers={**people.auth("designer"), **XML})
    assert r.get_json()["valid"] is False


# ------------------------------------------------------------------------------------ versions deployed before
@SQLITE
def test_a_version_deployed_before_ladders_keeps_running_when_the_ladder_version_is_deployed(client, people, app):
    """A contract on the hand-drawn version keeps its timers and raises its alerts when a ladder version is deployed
    (moving post_award's contracts onto the ladder version: test_the_ladder_version_of_post_award_takes_over…)."""
    hand = fixture_bytes("signing_deadline.bpmn").decode()
    assert deploy(client, people, hand).status_code == 201
    old = start(client, people, "V-1", "2026-09-01", datetime(2026, 9, 2, 10, tzinfo=CN))
    assert deploy(client, people, LADDER.replace('id="signing"', 'id="signing_ladder"')
                  .replace(">signing</bpmn:flowNodeRef>", ">signing_ladder</bpmn:flowNodeRef>")
                  .replace('bpmnElement="signing"', 'bpmnElement="signing_ladder"')).status_code == 201
    db = app.extensions["lvyue"].db
    timers.tick(db, datetime(2026, 10, 9, 0, 0, 1, tzinfo=CN))
    [orange] = alerts(client, people)
    assert (orange["instance_id"], orange["severity"]) == (old["id"], "orange")
    view = client.get(f"/api/v1/instances/{old['id']}", headers=people.auth("admin")).get_json()
    assert view["definition"]["version"] == 1


@SQLITE
def test_the_ladder_version_of_post_award_takes_over_running_contracts(client, people, app):
    """post_award deployed before ladders (v1) and with them (v2): a contract waiting on its signing timers moves to
    v2 with nothing blocking — the generated timers are the elements it waits on."""
    from tests.e2e.test_post_award import tendering_works

    for path in (OLD_POST_AWARD, NEW_POST_AWARD):
        assert client.post("/api/v1/definitions", data=path.read_bytes(),
                           headers={**people.auth("designer"), **XML}).status_code == 201
    with clock.frozen_at(datetime(2026, 8, 4, 10, tzinfo=CN)):
        r = client.post("/api/v1/instances", headers=people.auth("operator"), json={
            "definition": "post_award", "version": 1, "business_key": "MIG-1", "data": tendering_works()})
    assert r.status_code == 201, r.get_json()
    iid = r.get_json()["id"]
    with clock.frozen_at(datetime(2026, 8, 5, 10, tzinfo=CN)):
        moved = client.post(f"/api/v1/instances/{iid}/migrate", json={"version": 2}, headers=people.auth("operator"))
    assert moved.status_code == 200, moved.get_json()
    view = client.get(f"/api/v1/instances/{iid}", headers=people.auth("admin")).get_json()
    assert view["definition"]["version"] == 2
    assert {t["element_id"] for t in view["timers"] if t["status"] == "waiting"} >= {
        "signing_timer_yellow", "signing_timer_orange", "signing_timer_red"}
    diagram = client.get(f"/api/v1/instances/{iid}/diagram", headers=people.auth("admin")).get_json()
    assert "signing" in diagram["active"]
