"""Issue 14, acceptance 6: every timer firing is an audit event, whichever step fires it — the sweep, or a
start (or completion) that reaches a timer already due, as in a backdated contract whose deadline passed."""
from __future__ import annotations

from datetime import datetime

from tests.e2e.test_post_award import Api, at, one_milestone, tendering_works

SIGNING_TIMERS = {"signing_timer_yellow", "signing_timer_orange", "signing_timer_red"}


def history(api: Api, instance_id: str) -> list[dict]:
    items, cursor = [], None
    while True:
        page = api.call("GET", f"/api/v1/instances/{instance_id}/history?limit=500" + (f"&cursor={cursor}" if cursor else ""),
                        "admin")
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def test_backdated_contract_records_the_signing_timers_that_fired_at_its_start(client, people, app):
    """Award notice 08-03, R04: sign within 30 days → 09-02 24:00 China time (16:00Z). Started on 10-20,
    all three signing warnings (3 days before, the deadline, 30 days after) are already due."""
    api = Api(client, people, app)
    api.deploy()

    instance = api.start("LATE-1", one_milestone(tendering_works(award_notice_date="2026-08-03")), at(10, 20))

    events = history(api, instance["id"])
    fired = [e for e in events if e["action"] == "timer_fired"]
    assert {e["element_id"] for e in fired} == SIGNING_TIMERS, [(e["action"], e["element_id"]) for e in events]
    by_element = {e["element_id"]: e for e in fired}
    assert by_element["signing_timer_orange"]["data"]["due_at"].startswith("2026-09-02T16:00:00")
    assert by_element["signing_timer_orange"]["data"]["lag_seconds"] > 40 * 86400
    assert all(e["actor"] == "operator" and e["data"]["timer_id"] for e in fired)
    # The firing precedes what it caused: the red alert of the overdue signing.
    actions = [e["action"] for e in events]
    assert actions.index("timer_fired") < actions.index("alert_red")
    # None of them is waiting any more, so the sweep has nothing left to fire (or record) for them.
    assert not SIGNING_TIMERS & {t["element_id"] for t in instance["timers"]}


def test_a_timer_fired_by_the_sweep_is_recorded_once(client, people, app):
    api = Api(client, people, app)
    api.deploy()
    instance = api.start("ON-TIME-1", one_milestone(tendering_works(award_notice_date="2026-08-03")), at(8, 4))
    assert not [e for e in history(api, instance["id"]) if e["action"] == "timer_fired"]

    api.tick(datetime(2026, 8, 31, 0, 0, 1, tzinfo=at(8, 4).tzinfo))  # yellow: 3 days before 09-02 24:00
    api.tick(datetime(2026, 8, 31, 0, 0, 2, tzinfo=at(8, 4).tzinfo))  # a second sweep finds nothing new

    fired = [e for e in history(api, instance["id"]) if e["action"] == "timer_fired"]
    assert [(e["element_id"], e["actor"]) for e in fired] == [("signing_timer_yellow", "timer")]
    assert fired[0]["data"]["due_at"].startswith("2026-08-30T16:00:00")
