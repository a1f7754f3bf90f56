"""Issue 4: supplementary contracts (补充合同) driven through the API alone.

A supplement of a government procurement contract may add at most 10 % of the original amount
(《政府采购法》第四十九条, G07) and is published within 2 working days of its own signing
(财办库〔2023〕243号, G06) — not of the original contract's, whose date the start data carries too.
The clock is frozen at each call; `timers.tick` fires what is due by then, as the scheduler would.
"""
from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone

import pytest

from engine import clock
from engine.runtime import timers
from tests.conftest import ROOT

CN = timezone(timedelta(hours=8))
DIAGRAM = ROOT / "bpmn" / "supplementary_contract.bpmn"
TEXT = "d" * 64


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=CN)


class Supplement:
    def __init__(self, client, people, app, key: str, track: str, change_amount: str, expect: int = 201,
                 when: datetime | None = None, original_amount: str = "1000000.00", contract_no: str = "HT-2026-001"):
        self.client, self.people, self.db = client, people, app.extensions["lvyue"].db
        self.supervisor = "cz" if track == "gov_procurement" else "zj"
        r = client.post("/api/v1/definitions", data=DIAGRAM.read_bytes(),
                        headers={**people.auth("designer"), "Content-Type": "application/xml"})
        assert r.status_code in (200, 201), r.get_json()
        self.instance = self.call("POST", "/api/v1/instances", "operator", when or at(9, 9), expect=expect, json={
            "definition": "supplementary_contract", "business_key": key,
            "data": {"employer": "EMP", "department": "CZ" if track == "gov_procurement" else "ZJ",
                     "project_code": "ZZ-CG-2026-017", "original_contract_no": contract_no,
                     "original_amount": original_amount, "change_amount": change_amount, "track": track,
                     "signed_at": "2026-03-02"}})  # the original contract's signing: G06 must not count from it
        self.id = self.instance.get("id")

    def call(self, method, path, who, when=None, expect=200, **kw):
        frozen = clock.frozen_at(when) if when is not None else contextlib.nullcontext()
        with frozen:
            r = self.client.open(path, method=method, headers=self.people.auth(who), **kw)
        assert r.status_code == expect, (path, r.status_code, r.get_json())
        return r.get_json()

    def act(self, element_id: str, who: str, when: datetime, data: dict) -> dict:
        timers.tick(self.db, when)
        [task] = self.call("GET", f"/api/v1/tasks?instance_id={self.id}&element_id={element_id}", who)["items"]
        return self.call("POST", f"/api/v1/tasks/{task['id']}/complete", who, when, json={"data": data})

    def sign(self, when: datetime, **extra):
        return self.act("sign_supplement", "emp", when,
                        {"signed_at": when.date().isoformat(), "document_sha256": TEXT, **extra})

    def publish(self, when: datetime):
        return self.act("publish_change", "emp", when,
                        {"published_at": when.date().isoformat(), "url": "http://www.ccgp-henan.gov.cn/notice/1"})

    def review(self, when: datetime, decision: str):
        return self.act("review_supplement", self.supervisor, when, {"decision": decision})

    def alerts(self, who="admin", when=None, **query):
        q = "&".join(f"{k}={v}" for k, v in query.items())
        return self.call("GET", f"/api/v1/alerts?{q}", who, when)["items"]


@pytest.mark.parametrize("track, change", [("gov_procurement", "100000.00"),   # exactly 10 %: within the cap
                                           ("tendering", "150000.00")])        # the cap is government procurement's
def test_a_supplement_within_the_cap_published_on_time_raises_nothing(client, people, app, track, change):
    s = Supplement(client, people, app, f"SUP-OK-{track}", track, change)
    s.sign(at(9, 10))
    if track == "gov_procurement":
        s.publish(at(9, 11))
    done = s.review(at(9, 14), "accepted")
    assert done["instance"]["status"] == "completed"
    timers.tick(s.db, at(12, 31))
    assert s.alerts() == []


def test_a_supplement_over_the_cap_raises_at_once_and_resolves_when_signed_again_within_it(client, people, app):
    s = Supplement(client, people, app, "SUP-OVER", "gov_procurement", "50000.00")  # proposed within the cap
    s.sign(at(9, 10), change_amount="150000.00")  # signed at 15 % of 1 000 000.00
    # Raised when the supplement is signed, red at once; due at the end of that day: 09-10 24:00 China time.
    [alert] = s.alerts("cz", at(9, 11))
    assert alert["code"] == "SUPPLEMENT_OVER_CAP" and alert["kind"] == "non_performance"
    assert alert["severity"] == "red" and alert["status"] == "open"
    assert alert["due_at"].startswith("2026-09-10T16:00:00")
    assert alert["department"] == "CZ" and alert["responsible_org"] == "EMP" and alert["escalated_to"] == "JW"
    assert alert["element_id"] == "sign_supplement" and alert["amount_overdue"] is None
    assert "第四十九条" in alert["legal_basis"] and alert["days_overdue"] == 1
    assert [a["id"] for a in s.alerts("emp")] == [alert["id"]] and s.alerts("zj") == []

    s.publish(at(9, 11))  # publication goes on, on time
    s.review(at(9, 14), "returned")
    assert s.alerts("cz", status="open")  # returning it does not settle the cap
    s.sign(at(9, 15), change_amount="100000.00")  # signed again at 10 %
    resolved = s.call("GET", f"/api/v1/alerts/{alert['id']}", "cz")
    assert resolved["status"] == "resolved" and resolved["resolution"] == "obligation met on 2026-09-15, 5 days late"

    s.publish(at(9, 16))  # G06 from the new signing 09-15 (Tue): 09-16, 09-17 → on time
    assert s.review(at(9, 17), "accepted")["instance"]["status"] == "completed"
    assert [a["code"] for a in s.alerts()] == ["SUPPLEMENT_OVER_CAP"]


def test_a_supplement_signed_again_still_over_the_cap_keeps_the_alert_open(client, people, app):
    s = Supplement(client, people, app, "SUP-OVER-2", "gov_procurement", "50000.00")
    s.sign(at(9, 10), change_amount="150000.00")
    s.publish(at(9, 11))
    s.review(at(9, 14), "returned")
    s.sign(at(9, 15), change_amount="120000.00")  # 12 %: still over
    [alert] = s.alerts("cz")
    assert alert["code"] == "SUPPLEMENT_OVER_CAP" and alert["status"] == "open"


def test_a_late_change_publication_raises_its_warning_and_resolves_when_published(client, people, app):
    s = Supplement(client, people, app, "SUP-LATE", "gov_procurement", "50000.00")
    s.sign(at(9, 10))
    # G06: 2 working days from the supplement's signing 09-10 (Thu) → 09-11 (Fri), 09-14 (Mon) → 09-14 24:00
    # = 2026-09-14T16:00:00Z (from the original contract's signing, 03-02, it would have been 03-04).
    [task] = s.call("GET", f"/api/v1/tasks?instance_id={s.id}&element_id=publish_change", "emp")["items"]
    assert task["due_at"].startswith("2026-09-14T16:00:00")
    timers.tick(s.db, datetime(2026, 9, 15, 0, 0, 1, tzinfo=CN))
    [alert] = s.alerts("cz", at(9, 15))
    assert alert["code"] == "CHANGE_PUBLICATION_OVERDUE" and alert["kind"] == "non_performance"
    assert alert["severity"] == "orange" and alert["due_at"].startswith("2026-09-14T16:00:00")
    assert alert["department"] == "CZ" and alert["responsible_org"] == "EMP" and alert["escalated_to"] is None
    assert alert["element_id"] == "publish_change" and "243号" in alert["legal_basis"]
    assert alert["days_overdue"] == 1

    s.publish(at(9, 16))
    resolved = s.call("GET", f"/api/v1/alerts/{alert['id']}", "cz")
    assert resolved["status"] == "resolved" and resolved["resolution"] == "obligation met on 2026-09-16, 2 days late"
    assert s.review(at(9, 17), "accepted")["instance"]["status"] == "completed"
    assert len(s.alerts()) == 1


def test_signing_again_a_supplement_returned_within_the_cap_has_no_deadline(client, people, app):
    s = Supplement(client, people, app, "SUP-AGAIN", "gov_procurement", "50000.00")
    s.sign(at(9, 10))
    s.publish(at(9, 11))
    s.review(at(9, 14), "returned")  # for another reason than the cap: nothing was raised
    assert s.alerts() == []
    [task] = s.call("GET", f"/api/v1/tasks?instance_id={s.id}&element_id=sign_supplement", "emp")["items"]
    assert task["due_at"] is None  # signing has no deadline; shown: 2026-09-10T16:00:00Z


# ------------------------------------------------------------------------------------ issue 17: G07 in total, G06 GP only
def test_two_gp_supplements_of_6_percent_the_second_is_refused_naming_g07(client, people, app):
    first = Supplement(client, people, app, "SUP-6A", "gov_procurement", "60000.00")  # 6 % of 1 000 000.00
    first.sign(at(9, 10))
    body = Supplement(client, people, app, "SUP-6B", "gov_procurement", "60000.00", expect=422, when=at(9, 20)).instance
    assert list(body["errors"]) == ["data.change_amount"]
    [message] = body["errors"]["data.change_amount"]
    assert "(G07, " in message and "第四十九条" in message, message
    assert "120000.00" in message and "SUP-6A 60000.00" in message and "100000.00" in message, message
    found = first.call("GET", "/api/v1/instances?business_key=SUP-6B", "admin")["items"]
    assert found == []  # nothing created
    # Within what is left (4 %) the second one starts; signed at 5 % it passes the cap together with the first.
    second = Supplement(client, people, app, "SUP-6C", "gov_procurement", "40000.00", when=at(9, 20))
    second.sign(at(9, 21), change_amount="50000.00")
    [alert] = second.alerts("cz", instance_id=second.id)  # (the first one's publication is overdue by now)
    assert alert["code"] == "SUPPLEMENT_OVER_CAP"
    history = second.call("GET", f"/api/v1/instances/{second.id}/history?limit=100", "admin")["items"]
    [counted] = [e for e in history if e["action"] == "supplements_counted"]
    assert counted["data"]["before"] == "60000.00" and counted["data"]["supplements"] == ["SUP-6A"]


def test_supplements_of_another_contract_or_of_tendering_are_not_counted(client, people, app):
    Supplement(client, people, app, "SUP-OTHER", "gov_procurement", "60000.00", contract_no="HT-2026-999")
    Supplement(client, people, app, "SUP-MINE", "gov_procurement", "60000.00")
    Supplement(client, people, app, "SUP-T1", "tendering", "150000.00", contract_no="HT-T-1")
    Supplement(client, people, app, "SUP-T2", "tendering", "150000.00", contract_no="HT-T-1")


def test_a_tendering_supplement_never_raises_g06(client, people, app):
    s = Supplement(client, people, app, "SUP-T-G06", "tendering", "50000.00")
    s.sign(at(9, 10))
    # No publication task: G06 is a government procurement rule (财办库〔2023〕243号).
    assert s.call("GET", f"/api/v1/tasks?instance_id={s.id}&element_id=publish_change", "emp")["items"] == []
    timers.tick(s.db, at(12, 31))
    assert s.alerts() == []
    assert s.review(at(12, 31), "accepted")["instance"]["status"] == "completed"
    assert s.alerts() == []


def test_the_original_amount_is_the_contracts_own_when_lvyue_holds_it(api, client, people, app):
    from tests.e2e.test_post_award import Contract, one_milestone, procurement_goods
    c = Contract(api, "SUP-ORIGINAL", one_milestone(procurement_goods(), "2026-12-15"))  # HT-2026-001, 800 000.00
    c.run(until="file")
    body = Supplement(client, people, app, "SUP-WRONG-ORIGINAL", "gov_procurement", "60000.00", expect=422).instance
    assert list(body["errors"]) == ["data.original_amount"] and "800000.00" in body["errors"]["data.original_amount"][0]
    # On the contract's own amount the cap is 80 000.00: 90 000.00 is refused, 80 000.00 starts.
    body = Supplement(client, people, app, "SUP-OVER-ORIGINAL", "gov_procurement", "90000.00", expect=422,
                      original_amount="800000.00").instance
    assert list(body["errors"]) == ["data.change_amount"] and "80000.00" in body["errors"]["data.change_amount"][0]
    Supplement(client, people, app, "SUP-ON-ORIGINAL", "gov_procurement", "80000.00", original_amount="800000.00")
