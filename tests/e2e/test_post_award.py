"""Issue 4: whole post_award contracts driven through the API alone, on both tracks.

Every call runs under a frozen engine clock (`engine.clock.frozen_at`) at the instant the party
acts, and the timers due by then are fired first (`timers.tick`, what the scheduler does), so a
contract lives through August–December 2026 in a few seconds. Deadlines below are computed by
hand in the comments (Civil Code arts 200–204: the start day is not counted, a period in days
whose last day is a rest day moves to the next working day, the last day ends at 24:00 China time
= 16:00Z). The 2026 calendar: 09-20 (Sun) and 10-10 (Sat) are make-up workdays, 09-25 is
Mid-Autumn, 10-01…10-07 National Day.

The baseline timeline, on time everywhere (T: tendering/works, G: gov_procurement/goods):

    award notice 08-03 (Mon)  start 08-04   [G] guarantee 08-05   sign 08-12 (Wed)
    bid bond refunded 08-13   filed 08-13   filing accepted 08-14
    milestone 1 (planned 08-31): delivered 08-28, accepted + invoiced 08-31, paid 09-04
    milestone 2 (planned 09-15): delivered 09-14, accepted + invoiced 09-16, paid 09-18
    completion 09-21 (Mon)    [G] guarantee released 09-24
    [T] defect liability 2 months → ends 11-21 24:00; retention requested 11-23, released 12-01

Each warning test deviates from it in one obligation only, so the one alert it expects is the only
alert there is.
"""
from __future__ import annotations

import contextlib
import math
from datetime import date, datetime, timedelta, timezone

import pytest

from engine import clock
from engine.access import directory
from engine.runtime import timers
from tests import requests_shim as http
from tests.conftest import ROOT, Server, seed_people
from engine.storage.db import Database

CN = timezone(timedelta(hours=8))
XML = {"Content-Type": "application/xml"}
DIAGRAM = ROOT / "bpmn" / "post_award.bpmn"
SIGNED = "a" * 64     # sha256 of the signed contract text
ALTERED = "b" * 64    # sha256 of a filed text that departs from it
GUARANTEE_DOC = "c" * 64
# The contractor's confirmation of the signed text, and a GP contract's publication (G04).
CONFIRMED = {"confirmed": True, "confirmed_at": "2026-08-12", "document_sha256": SIGNED}
PUBLISHED = {"published_at": "2026-08-13", "url": "https://www.ccgp.gov.cn/cggg/htgg/2026/HT-2026-001.html"}


def at(month: int, day: int, hour: int = 10, year: int = 2026, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, 0, second, tzinfo=CN)


def just_after_midnight(month: int, day: int, year: int = 2026) -> datetime:
    """00:00:01 China time: a deadline written 24:00 of the day before has just passed."""
    return datetime(year, month, day, 0, 0, 1, tzinfo=CN)


# ------------------------------------------------------------------------------------ the start data
def tendering_works(**over) -> dict:
    """A tendering/works contract: 1 200 000.00, bid bond 20 000.00 (1.67 %), retention 3 % (no
    performance guarantee beside it, Q02), defect liability 2 months, paid within 30 days."""
    data = {
        "project_code": "ZZ-JS-2026-001", "project_name": "第一中学教学楼改造", "track": "tendering", "category": "works",
        "award_notice_date": "2026-08-03", "contract_amount": "1200000.00",
        "employer": "EMP", "contractor": "CON", "department": "ZJ",
        "bid_bond": {"amount": "20000.00", "form": "cash"},
        "performance_guarantee_rate": "0", "retention_rate": "3", "defect_liability_months": 2,
        "payment_term_days": 30, "acceptance_days": 14,
        "milestones": [{"name": "主体结构", "amount": "600000.00", "planned_date": "2026-08-31"},
                       {"name": "竣工验收", "amount": "600000.00", "planned_date": "2026-09-15"}],
    }
    data.update(over)
    # R03's report was made on the award notice's day, before the contract entered supervision: no report_tendering
    # task (tendering_reported_at=None: the contract asks for one).
    data.setdefault("tendering_reported_at", data["award_notice_date"])
    if data["tendering_reported_at"] is None:
        del data["tendering_reported_at"]
    return data


def procurement_goods(**over) -> dict:
    """A gov_procurement/goods contract with the SME CON2: 800 000.00, bid bond 10 000.00 (1.25 %),
    performance guarantee 5 % (40 000.00), no retention, paid within 30 days, supervised by CZ."""
    data = {
        "project_code": "ZZ-CG-2026-017", "project_name": "实验室设备采购", "track": "gov_procurement", "category": "goods",
        "award_notice_date": "2026-08-03", "contract_amount": "800000.00",
        "employer": "EMP", "contractor": "CON2", "department": "CZ",
        "bid_bond": {"amount": "10000.00", "form": "e_guarantee"},
        "performance_guarantee_rate": "5", "retention_rate": "0",
        "payment_term_days": 30, "acceptance_days": 14,
        "milestones": [{"name": "首批设备", "amount": "400000.00", "planned_date": "2026-08-31"},
                       {"name": "第二批设备", "amount": "400000.00", "planned_date": "2026-09-15"}],
    }
    data.update(over)
    return data


def one_milestone(data: dict, planned: str = "2026-08-31") -> dict:
    amount = data["contract_amount"]
    return {**data, "milestones": [{"name": "全部工作", "amount": amount, "planned_date": planned}]}


# ------------------------------------------------------------------------------------ the API driver
class Api:
    """The Flask test client with tokens, a frozen clock per call, and the scheduler's tick."""

    def __init__(self, client, people, app):
        self.client, self.people, self.db = client, people, app.extensions["lvyue"].db

    def call(self, method: str, path: str, who: str, when: datetime | None = None, expect: int = 200, **kw):
        frozen = clock.frozen_at(when) if when is not None else contextlib.nullcontext()
        with frozen:
            r = self.client.open(path, method=method, headers={**self.people.auth(who), **kw.pop("headers", {})}, **kw)
        assert r.status_code == expect, (method, path, r.status_code, r.get_json())
        return r.get_json()

    def tick(self, when: datetime):
        return timers.tick(self.db, when)

    def deploy(self) -> dict:
        r = self.client.post("/api/v1/definitions", data=DIAGRAM.read_bytes(),
                             headers={**self.people.auth("designer"), **XML})
        assert r.status_code in (200, 201), r.get_json()
        return r.get_json()

    def start(self, key: str, data: dict, when: datetime, expect: int = 201) -> dict:
        return self.call("POST", "/api/v1/instances", "operator", when, expect,
                         json={"definition": "post_award", "business_key": key, "data": data})

    def milestone_of(self, instance_id: str) -> dict[str, int]:
        """task id → milestone number, from the audit trail (task_ready events of a part carry it)."""
        out, cursor = {}, None
        while True:
            q = "?limit=500" + (f"&cursor={cursor}" if cursor else "")
            page = self.call("GET", f"/api/v1/instances/{instance_id}/history{q}", "admin")
            for e in page["items"]:
                if e["action"] == "task_ready" and "part" in e["data"]:
                    out[e["data"]["task_id"]] = e["data"]["part"]
            cursor = page["next_cursor"]
            if not cursor:
                return out

    def task(self, instance_id: str, element_id: str, who: str, milestone: int | None = None) -> dict:
        query = f"instance_id={instance_id}&element_id={element_id}&limit=500"
        items = self.call("GET", f"/api/v1/tasks?{query}", who)["items"]
        if milestone is not None:
            parts = self.milestone_of(instance_id)
            items = [t for t in items if parts.get(t["id"]) == milestone]
        assert len(items) == 1, (element_id, milestone, items)
        return items[0]

    def act(self, instance_id: str, element_id: str, who: str, when: datetime, data: dict,
            milestone: int | None = None) -> dict:
        """What the party does at `when`: the scheduler first fires what is due by then."""
        self.tick(when)
        task = self.task(instance_id, element_id, who, milestone)
        return self.call("POST", f"/api/v1/tasks/{task['id']}/complete", who, when, json={"data": data})

    def confirm(self, instance_id: str, who: str, when: datetime, confirmed_at: str | None = None,
                document_sha256: str = SIGNED) -> dict:
        """The contractor (`who`) confirms the text the employer signed: signed by both from then."""
        return self.act(instance_id, "confirm_signature", who, when, {
            **CONFIRMED, "confirmed_at": confirmed_at or when.date().isoformat(), "document_sha256": document_sha256})

    def publish(self, instance_id: str, when: datetime) -> dict:
        """A GP contract's publication (G04)."""
        return self.act(instance_id, "publish_contract", "emp", when,
                        {**PUBLISHED, "published_at": when.date().isoformat()})

    def alerts(self, who: str = "admin", when: datetime | None = None, **query) -> list[dict]:
        q = "&".join(f"{k}={v}" for k, v in query.items())
        return self.call("GET", f"/api/v1/alerts?limit=500&{q}", who, when)["items"]

    def alert(self, alert_id: str, who: str = "admin") -> dict:
        return self.call("GET", f"/api/v1/alerts/{alert_id}", who)

    def instance(self, instance_id: str, who: str = "admin") -> dict:
        return self.call("GET", f"/api/v1/instances/{instance_id}", who)

    def ledger(self, key: str, who: str = "admin", expect: int = 200) -> dict:
        return self.call("GET", f"/api/v1/contracts/{key}", who, expect=expect)


# ------------------------------------------------------------------------------------ the baseline, on time
def who_of(data: dict) -> dict[str, str]:
    """The users acting in each lane of the contract."""
    return {"employer": "emp", "contractor": "con" if data["contractor"] == "CON" else "con2",
            "supervisor": "zj" if data["department"] == "ZJ" else "cz"}


def baseline(data: dict) -> list[tuple]:
    """(name, element, lane, instant, task data, milestone) of every step of the on-time timeline."""
    amount = data["contract_amount"]
    bond = data["bid_bond"]
    rate = data.get("performance_guarantee_rate", "0")
    retention = data.get("retention_rate", "0")
    ms = data["milestones"]
    steps = []
    if rate != "0":
        steps.append(("guarantee", "submit_performance_guarantee", "contractor", at(8, 5), {
            "guarantee_no": "BG-2026-0815", "issuer": "中国银行郑州分行", "form": "bank_guarantee",
            "amount": f"{int(amount.split('.')[0]) * int(rate) // 100}.00", "valid_to": "2026-12-31",
            "document_sha256": GUARANTEE_DOC}, None))
    if data["track"] == "tendering" and not data.get("tendering_reported_at"):
        # R03: the written report on the tendering within 15 days of the award notice (08-03 → 08-18 24:00).
        steps.append(("report", "report_tendering", "employer", at(8, 5), {"reported_at": "2026-08-05"}, None))
    steps.append(("sign", "sign_contract", "employer", at(8, 12), {
        "signed_at": "2026-08-12", "contract_no": "HT-2026-001", "document_sha256": SIGNED, "amount": amount}, None))
    # Both parties sign: the contractor confirms the same text the same afternoon.
    steps.append(("confirm", "confirm_signature", "contractor", at(8, 12, hour=15), CONFIRMED, None))
    if data["track"] == "gov_procurement":
        # G04: published within 2 working days of the signing (08-12 Wed → 08-14 Fri 24:00).
        steps.append(("publish", "publish_contract", "employer", at(8, 13), PUBLISHED, None))
    if bond["form"] != "exempt":
        steps.append(("bid_bond", "release_bid_bond", "employer", at(8, 13), {
            "released_at": "2026-08-13", "amount": bond["amount"], "interest": "8.20"}, None))
    steps.append(("file", "file_contract", "employer", at(8, 13),
                  {"filed_at": "2026-08-13", "document_sha256": SIGNED}, None))
    steps.append(("review", "review_filing", "supervisor", at(8, 14),
                  {"decision": "accepted", "note": "与签订文本一致"}, None))
    days = [("2026-08-28", "2026-08-31", "2026-09-04"), ("2026-09-14", "2026-09-16", "2026-09-18")]
    for no, (m, (delivered, accepted, paid)) in enumerate(zip(ms, days), start=1):
        steps += [
            (f"deliver{no}", "report_delivery", "contractor", at(*_md(delivered)), {"delivered_at": delivered}, no),
            (f"accept{no}", "accept_delivery", "employer", at(*_md(accepted)),
             {"accepted_at": accepted, "result": "passed"}, no),
            (f"invoice{no}", "submit_invoice", "contractor", at(*_md(accepted), hour=15),
             {"invoice_no": f"INV-{no:04d}", "amount": m["amount"], "issued_at": accepted}, no),
            (f"pay{no}", "record_payment", "employer", at(*_md(paid)),
             {"paid_at": paid, "amount": m["amount"], "voucher_no": f"GK-{no:04d}"}, no),
        ]
    steps.append(("complete", "confirm_completion", "employer", at(9, 21), {"completed_at": "2026-09-21"}, None))
    if data["category"] == "works":
        # R07: the completion-acceptance filing within 15 days of the acceptance (09-21 → 10-06 24:00).
        steps.append(("file_completion", "file_completion", "employer", at(9, 24), {"filed_at": "2026-09-24"}, None))
    if rate != "0":
        steps.append(("release_guarantee", "release_performance_guarantee", "employer", at(9, 24),
                      {"released_at": "2026-09-24"}, None))
    if retention != "0":
        # The defect liability period of 2 months from 09-21 ends 11-21 24:00 (a calendar-month period does
        # not move off a Saturday: it is not a deadline of an obligation); the contractor applies on 11-23.
        steps.append(("request_retention", "request_retention_release", "contractor", at(11, 23),
                      {"requested_at": "2026-11-23"}, None))
        retained = f"{int(amount.split('.')[0]) * int(retention) // 100}.00"
        steps.append(("release_retention", "release_retention", "employer", at(12, 1),
                      {"released_at": "2026-12-01", "amount": retained}, None))
    return steps


def _md(iso: str) -> tuple[int, int]:
    d = date.fromisoformat(iso)
    return d.month, d.day


class Contract:
    """One post_award contract driven along the baseline, with deviations."""

    def __init__(self, api: Api, key: str, data: dict):
        self.api, self.key, self.data = api, key, data
        self.who = who_of(data)
        self.steps = {s[0]: s for s in baseline(data)}
        self.order = [s[0] for s in baseline(data)]
        self.done: set[str] = set()
        self.instance = api.start(key, data, at(8, 4))
        self.id = self.instance["id"]

    def step(self, name: str, when: datetime | None = None, milestone: int | None = None, **changes) -> dict:
        _, element, lane, instant, payload, no = self.steps[name]
        self.done.add(name)
        return self.api.act(self.id, element, self.who[lane], when or instant, {**payload, **changes},
                            milestone if milestone is not None else no)

    def run(self, until: str | None = None, skip: tuple[str, ...] = ()) -> None:
        """Every baseline step not done yet, in order, up to (not including) `until`."""
        for name in self.order:
            if name == until:
                return
            if name in self.done or name in skip:
                continue
            self.step(name)


# ------------------------------------------------------------------------------------ (a), (b) on time
@pytest.mark.parametrize("track", ["tendering_works", "procurement_goods"])
def test_a_contract_performed_on_time_raises_no_alert_and_completes_fully_paid(api, track):
    data = tendering_works(tendering_reported_at=None) if track == "tendering_works" else procurement_goods()
    c = Contract(api, f"ON-TIME-{track}", data)
    assert c.instance["status"] == "running" and c.instance["alerts"] == []
    # The deadline the first task shows: R04 / G03, 30 days from the award notice 08-03 → 09-02 (Wed) 24:00.
    # A tendering contract's employer also reports on the tendering from the start (R03: 15 days → 08-18 24:00).
    tasks = {t["element_id"]: t for t in c.instance["tasks"]}
    [first] = [t for e, t in tasks.items() if e != "report_tendering"]
    assert first["element_id"] == ("sign_contract" if track == "tendering_works" else "submit_performance_guarantee")
    if track == "tendering_works":
        assert tasks["report_tendering"]["due_at"].startswith("2026-08-18T16:00:00")
    else:
        assert "report_tendering" not in tasks
    c.run()
    api.tick(at(12, 31))  # nothing else is waiting: no late timer can fire any more
    assert api.alerts("admin") == []  # no alert ever, of any severity or status

    view = api.instance(c.id)
    assert view["status"] == "completed" and view["tasks"] == []
    ledger = api.ledger(c.key, c.who["supervisor"])
    assert ledger["status"] == "completed" and ledger["arrears_amount"] == "0.00" and ledger["alerts"] == []
    assert [m["status"] for m in ledger["milestones"]] == ["paid", "paid"]
    assert [m["paid_amount"] for m in ledger["milestones"]] == [m["amount"] for m in data["milestones"]]
    assert [m["outstanding"] for m in ledger["milestones"]] == ["0.00", "0.00"]
    assert ledger["amounts"]["paid"] == ledger["amounts"]["invoiced"] == data["contract_amount"]
    assert [p["paid_at"] for p in ledger["payments"]] == ["2026-09-04", "2026-09-18"]
    assert ledger["dates"]["signed_at"] == "2026-08-12" and ledger["dates"]["completed_at"] == "2026-09-21"
    kinds = {g["kind"]: g["status"] for g in ledger["guarantees"]}
    if track == "tendering_works":
        assert kinds == {"bid": "released", "quality": "released"}
    else:
        assert kinds == {"bid": "released", "performance": "released"}
    history = api.call("GET", f"/api/v1/instances/{c.id}/history?limit=500", "admin")["items"]
    assert not [e for e in history if e["action"].startswith("alert_")]


# ------------------------------------------------------------------------------------ (c) one test per warning
# Each case: drive the contract, make the one obligation late, check the alert as the department sees
# it, let the responsible party act, check the resolution.
def _signing(api: Api, track: str):
    # Backdated: the contract enters supervision on 10-12, long after its award notice of 08-03.
    # R04 / G03: 30 days from 08-03 → 09-02 (Wed) 24:00 China time = 2026-09-02T16:00:00Z.
    # The red threshold, 30 days after, 10-03 00:00, passed too: one red alert at once.
    data = tendering_works() if track == "tendering" else procurement_goods(performance_guarantee_rate="0")
    data = one_milestone(data, "2026-12-15")  # a delivery planned in August would be late by now as well
    instance = api.start(f"LATE-SIGN-{track}", data, at(10, 12))
    expected = {"now": at(10, 12), "code": "SIGNING_OVERDUE",
                "kind": "non_performance", "severity": "red", "due": "2026-09-02T16:00:00",
                "department": data["department"], "responsible": "EMP", "amount": None,
                # The obligation is a contract signed by both: the contractor's confirmation meets it.
                "element": "confirm_signature", "basis": "第四十六条"}
    def resolve():
        api.act(instance["id"], "sign_contract", "emp", at(10, 12, hour=16), {
            "signed_at": "2026-10-12", "contract_no": "HT-1", "document_sha256": SIGNED,
            "amount": data["contract_amount"]})
        assert api.alerts("admin", status="open"), "signed by the employer alone: still not signed"
        api.act(instance["id"], "confirm_signature", who_of(data)["contractor"], at(10, 13, hour=9),
                {**CONFIRMED, "confirmed_at": "2026-10-13"})
        return "obligation met on 2026-10-13, 41 days late"  # 09-02 → 10-13
    return instance["id"], expected, resolve


def _bid_bond(api: Api, track: str):
    data = one_milestone(tendering_works() if track == "tendering" else procurement_goods(), "2026-12-15")
    c = Contract(api, f"LATE-BOND-{track}", data)
    c.run(until="bid_bond")
    c.step("file"), c.step("review")
    if track == "tendering":
        # D03: 5 days from signing 08-12 → 08-17 (Mon) 24:00 = 2026-08-17T16:00:00Z.
        due, late_tick, basis = "2026-08-17T16:00:00", just_after_midnight(8, 18), "第五十七条"
    else:
        # D07: 5 working days from 08-12 → 08-13, 14, 17, 18, 19 → 08-19 (Wed) 24:00 = 2026-08-19T16:00:00Z.
        due, late_tick, basis = "2026-08-19T16:00:00", just_after_midnight(8, 20), "第三十三条"
    api.tick(late_tick)
    expected = {"now": late_tick, "code": "BID_BOND_REFUND_OVERDUE",
                "kind": "arrears", "severity": "orange", "due": due,
                "department": data["department"], "responsible": "EMP", "amount": data["bid_bond"]["amount"],
                "element": "release_bid_bond", "basis": basis}
    def resolve():
        c.step("bid_bond", at(8, 24), released_at="2026-08-24")
        return "paid 7 days late (on 2026-08-24)" if track == "tendering" else "paid 5 days late (on 2026-08-24)"
    return c.id, expected, resolve


def _filing(api: Api, track: str):
    data = one_milestone(tendering_works() if track == "tendering" else procurement_goods(), "2026-12-15")
    c = Contract(api, f"LATE-FILE-{track}", data)
    c.run(until="file")
    if track == "tendering":
        # L01 (local setting, no national rule: DOMAIN.md R06): 7 days from 08-12 → 08-19 (Wed) 24:00.
        due, late_tick, basis = "2026-08-19T16:00:00", just_after_midnight(8, 20), "L01"
    else:
        # G05: 7 working days from 08-12 → 08-13, 14, 17, 18, 19, 20, 21 → 08-21 (Fri) 24:00.
        due, late_tick, basis = "2026-08-21T16:00:00", just_after_midnight(8, 22), "第四十七条"
    api.tick(late_tick)
    expected = {"now": late_tick, "code": "FILING_OVERDUE",
                "kind": "non_performance", "severity": "orange", "due": due,
                "department": data["department"], "responsible": "EMP", "amount": None, "element": "file_contract",
                "basis": basis}
    def resolve():
        c.step("file", at(8, 25), filed_at="2026-08-25")
        return ("obligation met on 2026-08-25, 6 days late" if track == "tendering"
                else "obligation met on 2026-08-25, 4 days late")
    return c.id, expected, resolve


def _altered(api: Api, track: str):
    data = one_milestone(tendering_works(), "2026-12-15")
    c = Contract(api, "ALTERED", data)
    c.run(until="file")
    # The employer files a text other than the one signed (08-13): a red alert at once. Its due is the filing
    # deadline the signed text had, L01: 7 days from 08-12 → 08-19 (Wed) 24:00 = 2026-08-19T16:00:00Z.
    c.step("file", document_sha256=ALTERED)
    expected = {"now": at(8, 14, hour=9), "code": "CONTRACT_ALTERED",
                "kind": "non_performance", "severity": "red", "due": "2026-08-19T16:00:00",
                "department": "ZJ", "responsible": "EMP", "amount": None, "element": "file_contract",
                "basis": "第五十七条第一款"}
    def resolve():
        c.step("review", at(8, 14), decision="returned", note="备案文本与签订文本不一致")
        assert api.alerts("admin", status="open")  # returning the filing does not settle it
        refile = api.task(c.id, "file_contract", "emp")
        assert refile["due_at"].startswith("2026-08-19T16:00:00")  # still the filing deadline
        # Filed again on 08-16 (before the yellow pre-warning of L01, 08-17 00:00), the signed text this time.
        c.step("file", at(8, 16), filed_at="2026-08-16")
        c.step("review", at(8, 16, hour=15))
        return "obligation met on 2026-08-16, on time"
    return c.id, expected, resolve


def _delivery(api: Api, track: str):
    data = one_milestone(tendering_works())
    c = Contract(api, "LATE-DELIVERY", data)
    c.run(until="deliver1")
    # The milestone's planned date 08-31 is the deadline itself: 08-31 24:00 = 2026-08-31T16:00:00Z.
    api.tick(just_after_midnight(9, 1))
    expected = {"now": just_after_midnight(9, 1), "code": "DELIVERY_LATE",
                "kind": "non_performance", "severity": "orange", "due": "2026-08-31T16:00:00",
                "department": "ZJ", "responsible": "CON", "amount": None, "element": "report_delivery",
                "basis": "第五百零九条"}
    def resolve():
        c.step("deliver1", at(9, 3), delivered_at="2026-09-03")
        return "obligation met on 2026-09-03, 3 days late"
    return c.id, expected, resolve


def _acceptance(api: Api, track: str):
    data = one_milestone(procurement_goods(performance_guarantee_rate="0"))
    c = Contract(api, "LATE-ACCEPTANCE", data)
    c.run(until="accept1")
    # 14 days from the delivery of 08-28 → 09-11 (Fri) 24:00 = 2026-09-11T16:00:00Z.
    api.tick(just_after_midnight(9, 12))
    expected = {"now": just_after_midnight(9, 12), "code": "ACCEPTANCE_OVERDUE",
                "kind": "non_performance", "severity": "orange",
                "due": "2026-09-11T16:00:00", "department": "CZ", "responsible": "EMP", "amount": None,
                "element": "accept_delivery", "basis": "第十条"}
    def resolve():
        c.step("accept1", at(9, 15), accepted_at="2026-09-15")
        return "obligation met on 2026-09-15, 4 days late"
    return c.id, expected, resolve


def _payment(api: Api, track: str):
    data = one_milestone(tendering_works())
    c = Contract(api, "LATE-PAYMENT", data)
    c.run(until="pay1")
    # The contract's own term (EMP is no public body, CON no SME: no SME rule applies), 30 days from the
    # acceptance of 08-31 → 09-30 (Wed) 24:00 = 2026-09-30T16:00:00Z.
    api.tick(just_after_midnight(10, 1))
    expected = {"now": just_after_midnight(10, 1), "code": "PAYMENT_OVERDUE",
                "kind": "arrears", "severity": "orange", "due": "2026-09-30T16:00:00",
                "department": "ZJ", "responsible": "EMP", "amount": "1200000.00", "element": "record_payment",
                "basis": "CONTRACT 合同约定的付款期限"}
    def resolve():
        c.step("pay1", at(10, 9), paid_at="2026-10-09")
        return "paid 9 days late (on 2026-10-09)"
    return c.id, expected, resolve


def _guarantee_release(api: Api, track: str):
    data = one_milestone(procurement_goods())
    c = Contract(api, "LATE-GUARANTEE", data)
    c.run(until="release_guarantee")
    # Q07 (engineering default): 15 working days from completion 09-21 → 09-22, 23, 24, 28, 29, 30 (09-25 is
    # Mid-Autumn), 10-08, 09, 10 (Sat, make-up), 12, 13, 14, 15, 16, 19 → 10-19 (Mon) 24:00 = 2026-10-19T16:00:00Z.
    api.tick(just_after_midnight(10, 20))
    expected = {"now": just_after_midnight(10, 20), "code": "GUARANTEE_RELEASE_OVERDUE",
                "kind": "arrears", "severity": "orange",
                "due": "2026-10-19T16:00:00", "department": "CZ", "responsible": "EMP", "amount": "40000.00",
                "element": "release_performance_guarantee", "basis": "第十三条"}
    def resolve():
        c.step("release_guarantee", at(10, 21), released_at="2026-10-21")
        return "paid 2 days late (on 2026-10-21)"
    return c.id, expected, resolve


def _retention_release(api: Api, track: str):
    data = one_milestone(tendering_works())
    c = Contract(api, "LATE-RETENTION", data)
    c.run(until="release_retention")
    # Q04: 28 days from the contractor's application of 11-23 → 12-21 (Mon) 24:00 = 2026-12-21T16:00:00Z.
    api.tick(just_after_midnight(12, 22))
    expected = {"now": just_after_midnight(12, 22), "code": "RETENTION_RELEASE_OVERDUE",
                "kind": "arrears", "severity": "orange",
                "due": "2026-12-21T16:00:00", "department": "ZJ", "responsible": "EMP", "amount": "36000.00",
                "element": "release_retention", "basis": "第十一条"}
    def resolve():
        c.step("release_retention", at(12, 28), released_at="2026-12-28")
        return "paid 7 days late (on 2026-12-28)"
    return c.id, expected, resolve


def _tendering_report(api: Api, track: str):
    c = Contract(api, "LATE-TENDERING-REPORT", tendering_works(tendering_reported_at=None))
    c.run(until="deliver1", skip=("report",))
    # R03: 15 calendar days from the award notice of 08-03 (the winner determined) → 08-18 (Tue) 24:00.
    api.tick(just_after_midnight(8, 19))
    expected = {"now": just_after_midnight(8, 19), "code": "TENDERING_REPORT_OVERDUE",
                "kind": "non_performance", "severity": "orange", "due": "2026-08-18T16:00:00",
                "department": "ZJ", "responsible": "EMP", "amount": None, "element": "report_tendering",
                "basis": "第四十七条"}
    def resolve():
        c.step("report", at(8, 20), reported_at="2026-08-20")
        return "obligation met on 2026-08-20, 2 days late"
    return c.id, expected, resolve


def _completion_filing(api: Api, track: str):
    c = Contract(api, "LATE-COMPLETION-FILING", one_milestone(tendering_works()))
    c.run(until="request_retention", skip=("file_completion",))
    # R07: 15 calendar days from the completion acceptance of 09-21 → 10-06, inside the National Day holiday
    # (10-01..07): the period ends on the first working day after it, 10-08 (Thu) 24:00.
    api.tick(just_after_midnight(10, 9))
    expected = {"now": just_after_midnight(10, 9), "code": "COMPLETION_FILING_OVERDUE",
                "kind": "non_performance", "severity": "orange", "due": "2026-10-08T16:00:00",
                "department": "ZJ", "responsible": "EMP", "amount": None, "element": "file_completion",
                "basis": "第四十九条"}
    def resolve():
        c.step("file_completion", at(10, 12), filed_at="2026-10-12")
        return "obligation met on 2026-10-12, 4 days late"
    return c.id, expected, resolve


CASES = {
    "TENDERING_REPORT_OVERDUE": (_tendering_report, "tendering"),
    "COMPLETION_FILING_OVERDUE": (_completion_filing, "tendering"),
    "SIGNING_OVERDUE-tendering": (_signing, "tendering"),
    "SIGNING_OVERDUE-gov_procurement": (_signing, "gov_procurement"),
    "BID_BOND_REFUND_OVERDUE-tendering": (_bid_bond, "tendering"),
    "BID_BOND_REFUND_OVERDUE-gov_procurement": (_bid_bond, "gov_procurement"),
    "FILING_OVERDUE-tendering": (_filing, "tendering"),
    "FILING_OVERDUE-gov_procurement": (_filing, "gov_procurement"),
    "CONTRACT_ALTERED": (_altered, "tendering"),
    "DELIVERY_LATE": (_delivery, "tendering"),
    "ACCEPTANCE_OVERDUE": (_acceptance, "gov_procurement"),
    "PAYMENT_OVERDUE": (_payment, "tendering"),
    "GUARANTEE_RELEASE_OVERDUE": (_guarantee_release, "gov_procurement"),
    "RETENTION_RELEASE_OVERDUE": (_retention_release, "tendering"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_late_obligation_raises_its_warning_and_resolves_when_the_party_acts(api, case):
    scenario, track = CASES[case]
    instance_id, want, resolve = scenario(api, track)
    supervisor = "zj" if want["department"] == "ZJ" else "cz"
    responsible = {"EMP": "emp", "CON": "con", "CON2": "con2"}[want["responsible"]]

    [alert] = api.alerts("admin", want["now"])  # the one late obligation, nothing else
    assert alert["code"] == want["code"] and alert["kind"] == want["kind"] and alert["severity"] == want["severity"]
    assert alert["status"] == "open" and alert["instance_id"] == instance_id
    assert alert["due_at"].startswith(want["due"]), alert["due_at"]
    assert alert["department"] == want["department"] and alert["responsible_org"] == want["responsible"]
    assert alert["element_id"] == want["element"]
    assert alert["amount_overdue"] == want["amount"]
    assert want["basis"] in alert["legal_basis"], alert["legal_basis"]
    due_at = datetime.fromisoformat(alert["due_at"])
    assert alert["days_overdue"] == max(0, math.ceil((want["now"] - due_at) / timedelta(days=1)))
    assert alert["days_overdue"] >= 1 or want["code"] == "CONTRACT_ALTERED"  # raised at once, before its due
    assert alert["escalated_to"] == ("JW" if want["severity"] == "red" else None)
    # Routed: the department and the responsible organisation see it, nobody else.
    assert [a["id"] for a in api.alerts(supervisor)] == [alert["id"]]
    assert [a["id"] for a in api.alerts(responsible)] == [alert["id"]]
    other_dept = "cz" if supervisor == "zj" else "zj"
    assert api.alerts(other_dept) == [] and api.alerts("other") == []
    assert [a["code"] for a in api.instance(instance_id, supervisor)["alerts"]] == [want["code"]]

    resolution = resolve()
    done = api.alert(alert["id"], supervisor)
    assert done["status"] == "resolved" and done["resolution"] == resolution
    assert done["amount_overdue"] == ("0.00" if want["kind"] == "arrears" else None)
    assert api.alerts("admin", status="open") == []
    assert len(api.alerts("admin")) == 1  # resolved in place, not raised again


def test_a_filing_returned_for_another_reason_raises_nothing_and_keeps_the_filing_deadline(api):
    c = Contract(api, "RETURNED", one_milestone(tendering_works(), "2026-12-15"))
    c.run(until="review")
    c.step("review", decision="returned", note="缺少盖章页")
    refile = api.task(c.id, "file_contract", "emp")
    assert refile["due_at"].startswith("2026-08-19T16:00:00")  # L01 from the signing 08-12, as the first time
    c.step("file", at(8, 16), filed_at="2026-08-16")
    c.step("review", at(8, 17))
    assert api.alerts("admin") == []


# ------------------------------------------------------------------------------------ (d) partial payment
def test_a_partial_payment_lowers_the_arrears_and_keeps_one_alert_open(api):
    c = Contract(api, "PARTIAL", one_milestone(tendering_works()))
    c.run(until="pay1")
    api.tick(just_after_midnight(10, 1))  # the contract's 30 days, due 09-30 24:00 (see the PAYMENT_OVERDUE case)
    [alert] = api.alerts("zj")
    assert alert["code"] == "PAYMENT_OVERDUE" and alert["amount_overdue"] == "1200000.00"

    c.step("pay1", at(10, 9), paid_at="2026-10-09", amount="500000.00")
    [still] = api.alerts("zj")
    assert still["id"] == alert["id"] and still["status"] == "open" and still["severity"] == "orange"
    assert still["amount_overdue"] == "700000.00"
    assert still["due_at"] == alert["due_at"]
    assert api.ledger(c.key, "zj")["arrears_amount"] == "700000.00"

    # Past the red threshold (10-30 24:00) the same alert turns red, for the unpaid rest only.
    api.tick(just_after_midnight(10, 31))
    [red] = api.alerts("zj")
    assert red["id"] == alert["id"] and red["severity"] == "red" and red["amount_overdue"] == "700000.00"
    assert red["escalated_to"] == "JW"

    c.step("pay1", at(11, 2), paid_at="2026-11-02", amount="700000.00")
    [paid] = api.alerts("zj")
    assert paid["id"] == alert["id"] and paid["status"] == "resolved"
    assert paid["resolution"] == "paid 33 days late (on 2026-11-02)"  # 09-30 → 11-02
    ledger = api.ledger(c.key, "zj")
    assert ledger["arrears_amount"] == "0.00"
    assert [(p["paid_at"], p["amount"]) for p in ledger["payments"]] == [("2026-10-09", "500000.00"),
                                                                         ("2026-11-02", "700000.00")]
    assert ledger["milestones"][0]["status"] == "paid"


# ------------------------------------------------------------------------------------ (e) the ledger
def test_the_ledger_shows_parties_milestones_money_guarantees_and_open_arrears(api):
    c = Contract(api, "LEDGER-1", tendering_works(milestones=[
        {"name": "主体结构", "amount": "600000.00", "planned_date": "2026-08-31"},
        {"name": "竣工验收", "amount": "600000.00", "planned_date": "2026-12-15"}]))
    c.run(until="bid_bond")
    c.step("file"), c.step("review")
    c.step("deliver1"), c.step("accept1"), c.step("invoice1")
    c.step("pay1", paid_at="2026-09-04", amount="200000.00")  # a first part, on time
    # 10-01: the bid bond is 45 days overdue (due 08-17 24:00, red since 09-17) and the rest of milestone 1
    # (due 09-30 24:00) overdue since midnight.
    api.tick(just_after_midnight(10, 1))
    ledger = api.ledger(c.key, "zj")

    assert ledger["business_key"] == "LEDGER-1" and ledger["status"] == "running"
    assert ledger["track"] == "tendering" and ledger["category"] == "works"
    assert ledger["department"] == {"code": "ZJ", "name": "住建局"}
    assert ledger["parties"] == [
        {"role": "contractor", "org_code": "CON", "name": "org CON", "credit_rating": "AAA", "sme": False,
         "consortium": None},
        {"role": "employer", "org_code": "EMP", "name": "org EMP", "credit_rating": None, "sme": False,
         "consortium": None}]
    assert ledger["amounts"] == {"contract_amount": "1200000.00", "signed_amount": "1200000.00",
                                 "milestones_total": "1200000.00", "invoiced": "600000.00", "paid": "200000.00"}
    assert ledger["dates"]["award_notice_date"] == "2026-08-03" and ledger["dates"]["signed_at"] == "2026-08-12"
    assert ledger["dates"]["completed_at"] is None
    m1, m2 = ledger["milestones"]
    assert (m1["no"], m1["name"], m1["amount"], m1["planned_date"]) == (1, "主体结构", "600000.00", "2026-08-31")
    assert (m1["delivered_at"], m1["accepted_at"], m1["acceptance_result"]) == ("2026-08-28", "2026-08-31", "passed")
    assert (m1["invoiced_amount"], m1["paid_amount"], m1["outstanding"]) == ("600000.00", "200000.00", "400000.00")
    assert m1["payment_due_at"].startswith("2026-09-30T16:00:00")  # P01: 30 days from the acceptance of 08-31
    assert m1["status"] == "running"
    assert (m2["delivered_at"], m2["accepted_at"], m2["paid_amount"], m2["outstanding"]) == \
        (None, None, "0.00", "600000.00")
    assert m2["payment_due_at"] is None
    [payment] = ledger["payments"]
    assert payment == {"kind": "milestone", "reference": None, "milestone_no": 1, "paid_at": "2026-09-04",
                       "amount": "200000.00", "voucher_no": "GK-0001",
                       "payer": "EMP", "payee": "CON", "recorded_at": payment["recorded_at"],
                       "overpayment": False, "overpayment_reason": None}
    [invoice] = ledger["invoices"]
    assert (invoice["milestone_no"], invoice["invoice_no"], invoice["issued_at"], invoice["amount"]) == \
        (1, "INV-0001", "2026-08-31", "600000.00")
    assert ledger["guarantees"] == [
        {"kind": "bid", "form": "cash", "amount": "20000.00", "released_at": None, "status": "held"},
        {"kind": "quality", "form": "retention", "amount": "36000.00", "status": "held"}]
    codes = {a["code"]: a for a in ledger["alerts"]}
    assert set(codes) == {"BID_BOND_REFUND_OVERDUE", "PAYMENT_OVERDUE"}
    bond = codes["BID_BOND_REFUND_OVERDUE"]
    assert bond["severity"] == "red" and bond["amount_overdue"] == "20000.00"
    assert codes["PAYMENT_OVERDUE"]["amount_overdue"] == "400000.00"
    assert ledger["arrears_amount"] == "420000.00"  # the sum of the open arrears: 20 000.00 + 400 000.00

    # Refunding the bond settles its part of the arrears; the payment's stays.
    c.step("bid_bond", at(10, 8), released_at="2026-10-08")
    ledger = api.ledger(c.key, "zj")
    assert [a["code"] for a in ledger["alerts"]] == ["PAYMENT_OVERDUE"] and ledger["arrears_amount"] == "400000.00"
    assert ledger["guarantees"][0]["status"] == "released" and ledger["guarantees"][0]["released_at"] == "2026-10-08"
    # Who may read it: the parties and the department, not an outsider or another department.
    assert api.ledger(c.key, "con")["arrears_amount"] == "400000.00"
    api.ledger(c.key, "other", expect=404)
    api.ledger(c.key, "cz", expect=404)


def test_the_ledger_shows_the_performance_guarantee_released(api):
    c = Contract(api, "LEDGER-2", one_milestone(procurement_goods()))
    c.run(until="sign")
    [guarantee] = [g for g in api.ledger(c.key, "cz")["guarantees"] if g["kind"] == "performance"]
    assert (guarantee["guarantee_no"], guarantee["issuer"], guarantee["valid_to"], guarantee["status"]) == \
        ("BG-2026-0815", "中国银行郑州分行", "2026-12-31", "held")
    c.run()
    [guarantee] = [g for g in api.ledger(c.key, "cz")["guarantees"] if g["kind"] == "performance"]
    assert guarantee["status"] == "released"


def test_the_ledger_shows_the_performance_guarantee_as_submitted(api):
    c = Contract(api, "LEDGER-3", one_milestone(procurement_goods()))
    c.run(until="sign")
    [guarantee] = [g for g in api.ledger(c.key, "cz")["guarantees"] if g["kind"] == "performance"]
    assert guarantee == {"kind": "performance", "form": "bank_guarantee", "guarantee_no": "BG-2026-0815",
                         "issuer": "中国银行郑州分行", "amount": "40000.00", "valid_to": "2026-12-31", "status": "held"}


def test_the_ledger_keeps_what_every_parallel_branch_recorded(api):
    c = Contract(api, "LEDGER-4", one_milestone(tendering_works(), "2026-12-15"))
    c.run(until="bid_bond")
    c.step("file"), c.step("review")
    assert api.ledger(c.key)["dates"]["filed_at"] == "2026-08-13"
    api.tick(just_after_midnight(8, 15))  # the bid bond's yellow timer fires, in the bid bond branch
    assert api.ledger(c.key)["dates"]["filed_at"] == "2026-08-13"
    assert api.instance(c.id)["data"]["decision"] == "accepted"


# ------------------------------------------------------------------------------------ (f) caps at the start
def _public_employer(app):
    with app.extensions["lvyue"].db.transaction() as s:
        directory.add_organisation(s, "PUB", "市第一中学", public_body=True)


CAPS = {
    # rule id: (start data, the field the error sits on)
    "D01": (tendering_works(bid_bond={"amount": "30000.00", "form": "cash"}), "data.bid_bond.amount"),     # 2.5 % > 2 %
    "D07": (procurement_goods(bid_bond={"amount": "20000.00", "form": "cash"}), "data.bid_bond.amount"),   # 2.5 % > 2 %
    "D05": (tendering_works(performance_guarantee_rate="12", retention_rate="0"), "data.performance_guarantee_rate"),
    "D09": (procurement_goods(performance_guarantee_rate="10.5"), "data.performance_guarantee_rate"),
    "Q01": (tendering_works(retention_rate="4"), "data.retention_rate"),                                    # > 3 %
    "Q02": (tendering_works(performance_guarantee_rate="5", retention_rate="3"), "data.retention_rate"),
    "Q03": (tendering_works(defect_liability_months=25), "data.defect_liability_months"),                  # > 24
    "P01": (tendering_works(employer="PUB", contractor="CON2", payment_term_days=61), "data.payment_term_days"),
    "CR01": (tendering_works(contractor="CON2", bid_bond={"form": "exempt"}), "data.bid_bond.form"),        # AA, not AAA
}


@pytest.mark.parametrize("rule", list(CAPS))
def test_a_start_over_a_statutory_cap_is_refused_naming_the_rule_and_creates_nothing(api, app, rule):
    _public_employer(app)
    data, path = CAPS[rule]
    body = api.start(f"CAP-{rule}", data, at(8, 4), expect=422)
    assert list(body["errors"]) == [path], body["errors"]
    [message] = body["errors"][path]
    assert f"({rule}, " in message, message
    assert api.call("GET", "/api/v1/instances", "operator")["items"] == []
    api.ledger(f"CAP-{rule}", expect=404)
    assert api.alerts("admin") == []


def test_within_the_caps_the_same_parties_start_fine(api, app):
    """The refusals above are the caps, not the parties: at the limits everything starts."""
    _public_employer(app)
    for key, data in (("AT-CAP-1", tendering_works(bid_bond={"amount": "24000.00", "form": "cash"},
                                                   defect_liability_months=24)),
                      ("AT-CAP-2", tendering_works(employer="PUB", contractor="CON2", payment_term_days=60)),
                      ("AT-CAP-3", tendering_works(bid_bond={"form": "exempt"})),  # CON is AAA
                      ("AT-CAP-4", procurement_goods(performance_guarantee_rate="10"))):
        assert api.start(key, data, at(8, 4))["status"] == "running"


def test_an_exempt_bidder_has_no_bond_to_refund(api):
    c = Contract(api, "EXEMPT", one_milestone(tendering_works(bid_bond={"form": "exempt"})))
    c.run(until="deliver1")
    tasks = api.instance(c.id)["tasks"]
    assert "release_bid_bond" not in [t["element_id"] for t in tasks]
    assert api.ledger(c.key)["guarantees"][0] == {"kind": "bid", "form": "exempt", "amount": "0.00", "released_at": None,
                                                  "status": "exempt"}


# ------------------------------------------------------------------------------------ (g) early messages
def test_a_message_posted_before_anything_waits_for_it_is_kept(api):
    """post_award has no catch event for `guarantee_issued` (the contractor's task records the guarantee),
    so its delivery cannot be shown here: only that an early message is kept, not refused or lost."""
    c = Contract(api, "EARLY-MSG", one_milestone(procurement_goods()))
    api.call("POST", f"/api/v1/instances/{c.id}/messages/guarantee_issued", "operator", at(8, 4, hour=11),
             json={"payload": {"guarantee_no": "EG-1"}})
    history = api.call("GET", f"/api/v1/instances/{c.id}/history?limit=500", "admin")["items"]
    actions = [e["action"] for e in history]
    assert "message_received" in actions and "message_delivered" not in actions
    assert [t["element_id"] for t in api.instance(c.id)["tasks"]] == ["submit_performance_guarantee"]


# ------------------------------------------------------------------------------------ the real server
def test_on_time_through_the_real_server(db_url, tmp_path):
    """The on-time path through `lvyue serve` over HTTP, on the real clock: every date is today's."""
    server = Server(db_url, tmp_path).start()
    try:
        database = Database(db_url)
        people = seed_people(database)
        database.dispose()
        base = server.base + "/api/v1"

        def call(method, path, who, body=None, raw=None, headers=None, expect=200):
            r = http.request(method, base + path, body=body, raw=raw, headers={**people.auth(who), **(headers or {})})
            assert r.status == expect, (method, path, r.status, r.body[:2000])
            return r.json()

        call("POST", "/definitions", "designer", raw=DIAGRAM.read_bytes(), headers=XML, expect=201)
        today = datetime.now(CN).date()
        t = today.isoformat()
        data = tendering_works(award_notice_date=(today - timedelta(days=3)).isoformat(), retention_rate="0",
                               milestones=[{"name": "全部工作", "amount": "1200000.00",
                                            "planned_date": (today + timedelta(days=30)).isoformat()}])
        instance = call("POST", "/instances", "operator", body={"definition": "post_award", "business_key": "HTTP-1",
                                                                  "data": data}, expect=201)
        iid = instance["id"]

        def act(element, who, payload):
            [task] = call("GET", f"/tasks?instance_id={iid}&element_id={element}", who)["items"]
            return call("POST", f"/tasks/{task['id']}/complete", who, body={"data": payload})

        act("sign_contract", "emp", {"signed_at": t, "contract_no": "HT-9", "document_sha256": SIGNED,
                                     "amount": "1200000.00"})
        assert call("GET", "/contracts/HTTP-1", "zj")["signed"] is False  # the employer alone
        act("confirm_signature", "con", {"confirmed": True, "confirmed_at": t, "document_sha256": SIGNED})
        assert call("GET", "/contracts/HTTP-1", "zj")["signed"] is True
        act("release_bid_bond", "emp", {"released_at": t, "amount": "20000.00"})
        act("file_contract", "emp", {"filed_at": t, "document_sha256": SIGNED})
        act("review_filing", "zj", {"decision": "accepted"})
        act("report_delivery", "con", {"delivered_at": t})
        act("accept_delivery", "emp", {"accepted_at": t, "result": "passed"})
        act("submit_invoice", "con", {"invoice_no": "INV-9", "amount": "1200000.00", "issued_at": t})
        act("record_payment", "emp", {"paid_at": t, "amount": "1200000.00"})
        act("confirm_completion", "emp", {"completed_at": t})
        done = act("file_completion", "emp", {"filed_at": t})
        assert done["instance"]["status"] == "completed"
        assert call("GET", "/alerts", "admin")["items"] == []
        ledger = call("GET", "/contracts/HTTP-1", "zj")
        assert ledger["status"] == "completed" and ledger["arrears_amount"] == "0.00"
        assert [m["status"] for m in ledger["milestones"]] == ["paid"]
        assert ledger["amounts"]["paid"] == "1200000.00"
    finally:
        server.kill()
