"""Issue 17: the contract as signed by both parties, compared with the award, and published (GP).

Driven through the API alone on the frozen clock of tests/e2e/test_post_award.py (its `Api`, `Contract` and
baseline: the employer signs on 08-12, the contractor confirms the same text that afternoon, a GP contract is
published on 08-13).
"""
from __future__ import annotations

import pytest

from tests.e2e.test_post_award import (ALTERED, CONFIRMED, SIGNED, Contract, at, just_after_midnight, one_milestone,
                                       procurement_goods, tendering_works)


def ready(api, contract) -> set[str]:
    return {t["element_id"] for t in api.instance(contract.id)["tasks"]}


def test_a_contract_signed_by_the_employer_alone_is_not_signed_until_the_contractor_confirms(api):
    c = Contract(api, "BOTH-SIGN", one_milestone(tendering_works(), "2026-12-15"))
    c.step("sign")
    ledger = api.ledger(c.key, "zj")
    assert ledger["signed"] is False and ledger["dates"]["signed_at"] == "2026-08-12"
    assert ledger["dates"]["signature_confirmed_at"] is None
    # Nothing of a signed contract starts yet: no bid bond refund, no filing.
    assert ready(api, c) == {"confirm_signature"}
    task = api.task(c.id, "confirm_signature", "con")
    assert task["due_at"].startswith("2026-09-02T16:00:00")  # R04, 30 days from the award notice 08-03
    # The contractor's lane: the employer cannot confirm its own text for the other party.
    api.call("POST", f"/api/v1/tasks/{task['id']}/complete", "emp", at(8, 12, hour=15), expect=403,
             json={"data": CONFIRMED})

    # Another text than the one the employer signed: refused, naming the field; nothing changes.
    body = api.call("POST", f"/api/v1/tasks/{task['id']}/complete", "con", at(8, 12, hour=15), expect=422,
                    json={"data": {**CONFIRMED, "document_sha256": ALTERED}})
    assert list(body["errors"]) == ["data.document_sha256"] and SIGNED in body["errors"]["data.document_sha256"][0]
    # A refusal needs its reason.
    body = api.call("POST", f"/api/v1/tasks/{task['id']}/complete", "con", at(8, 12, hour=15), expect=422,
                    json={"data": {**CONFIRMED, "confirmed": False}})
    assert list(body["errors"]) == ["data.reason"]
    # A confirmation dated before the employer's signing is not plausible.
    body = api.call("POST", f"/api/v1/tasks/{task['id']}/complete", "con", at(8, 12, hour=15), expect=422,
                    json={"data": {**CONFIRMED, "confirmed_at": "2026-08-11"}})
    assert list(body["errors"]) == ["data.confirmed_at"]
    assert ready(api, c) == {"confirm_signature"}

    # The contractor refuses the text: back to the employer, who signs again.
    c.step("confirm", confirmed=False, reason="付款条款与招标文件不一致")
    assert ready(api, c) == {"sign_contract"} and api.ledger(c.key, "zj")["signed"] is False
    c.step("sign", at(8, 13), signed_at="2026-08-13")
    c.step("confirm", at(8, 13, hour=15), confirmed_at="2026-08-13")
    ledger = api.ledger(c.key, "zj")
    assert ledger["signed"] is True and ledger["dates"]["signature_confirmed_at"] == "2026-08-13"
    assert {"release_bid_bond", "file_contract"} <= ready(api, c)
    assert "publish_contract" not in ready(api, c)  # a tendering contract has no G04 publication
    assert api.alerts("admin") == []


def test_the_signing_warning_runs_until_the_contractor_confirms(api):
    """The employer signs on time (08-31, due 09-02 24:00); the contractor confirms late: the contractor is warned."""
    c = Contract(api, "LATE-CONFIRM", one_milestone(tendering_works(), "2026-12-15"))
    c.step("sign", at(8, 31), signed_at="2026-08-31")
    api.tick(just_after_midnight(9, 3))
    [alert] = api.alerts("zj")
    assert (alert["code"], alert["severity"], alert["element_id"]) == ("SIGNING_OVERDUE", "orange", "confirm_signature")
    assert alert["responsible_org"] == "CON" and alert["due_at"].startswith("2026-09-02T16:00:00")
    assert [a["id"] for a in api.alerts("con")] == [alert["id"]] and api.alerts("emp") == []
    c.step("confirm", at(9, 4), confirmed_at="2026-09-04")
    done = api.alert(alert["id"], "zj")
    assert done["status"] == "resolved" and done["resolution"] == "obligation met on 2026-09-04, 2 days late"


def test_a_late_employer_keeps_the_signing_alert_open_until_the_contractor_confirms(api):
    c = Contract(api, "LATE-SIGN-BOTH", one_milestone(tendering_works(), "2026-12-15"))
    api.tick(just_after_midnight(9, 3))
    [alert] = api.alerts("zj")
    assert alert["responsible_org"] == "EMP" and alert["severity"] == "orange"
    c.step("sign", at(9, 4), signed_at="2026-09-04")
    assert api.alert(alert["id"], "zj")["status"] == "open"  # signed by the employer alone
    c.step("confirm", at(9, 5), confirmed_at="2026-09-05")
    done = api.alert(alert["id"], "zj")
    assert done["status"] == "resolved" and done["resolution"] == "obligation met on 2026-09-05, 3 days late"
    assert len(api.alerts("admin")) == 1  # the contractor's timers raised nothing of their own


@pytest.mark.parametrize("track", ["tendering", "gov_procurement"])
def test_a_signed_price_different_from_the_award_raises_the_mismatch_warning(api, track):
    data = one_milestone(tendering_works() if track == "tendering" else procurement_goods(), "2026-12-15")
    c = Contract(api, f"DIFFER-{track}", data)
    award = data["contract_amount"]
    signed = "1150000.00" if track == "tendering" else "760000.00"
    c.run(until="sign")
    c.step("sign", amount=signed)
    assert api.alerts("admin") == []  # signed by the employer alone: nothing to compare yet
    c.step("confirm")
    [alert] = api.alerts(c.who["supervisor"])
    assert (alert["code"], alert["severity"], alert["kind"]) == ("SIGNED_TERMS_DIFFER", "red", "non_performance")
    assert alert["responsible_org"] == "EMP" and alert["escalated_to"] == "JW"
    basis = alert["legal_basis"]
    assert f"signed_amount {signed}" in basis and f"contract_amount {award}" in basis, basis
    if track == "tendering":
        assert basis.startswith("R04 ") and "《中华人民共和国招标投标法实施条例》第五十七条第一款" in basis
    else:
        assert basis.startswith("G03 ") and "《中华人民共和国政府采购法》第四十六条第一款" in basis
    ledger = api.ledger(c.key, c.who["supervisor"])
    assert ledger["signed"] is True and ledger["amounts"]["signed_amount"] == signed
    assert ledger["amounts"]["contract_amount"] == award


AWARDED = {"period_days": 365, "quality": "合格", "scope_sha256": "5" * 64}


def test_a_period_quality_or_scope_signed_differently_raises_the_warning_naming_each_field(api):
    """条例613 art 57 para 1: the subject, price, quality and performance period of the signed contract match the
    award. The award's terms (award_terms) are asked of the signing and each departure is named in the alert."""
    data = one_milestone(tendering_works(award_terms=AWARDED), "2026-12-15")
    c = Contract(api, "DIFFER-TERMS", data)
    c.run(until="sign")
    task = api.task(c.id, "sign_contract", "emp")
    # a stated term left out of the signing is refused, naming it, and changes nothing
    problem = api.call("POST", f"/api/v1/tasks/{task['id']}/complete", "emp", c.steps["sign"][3], 422,
                       json={"data": c.steps["sign"][4]})
    assert set(problem["errors"]) == {"data.period_days", "data.quality", "data.scope_sha256"}
    assert "365" in problem["errors"]["data.period_days"][0]
    assert api.task(c.id, "sign_contract", "emp")["id"] == task["id"]
    # signed at the awarded price but for a longer period and another scope: two departures, one alert naming both
    c.step("sign", period_days=400, quality=" 合格 ", scope_sha256="6" * 64)
    c.step("confirm")
    [alert] = api.alerts(c.who["supervisor"])
    assert (alert["code"], alert["severity"]) == ("SIGNED_TERMS_DIFFER", "red")
    basis = alert["legal_basis"]
    assert basis.startswith("R04 ") and "period_days 400 ≠ award 365" in basis
    assert f"scope_sha256 {'6' * 64} ≠ award {'5' * 64}" in basis
    assert "quality" not in basis and "signed_amount" not in basis, basis  # the same quality, the same price


def test_terms_signed_as_awarded_raise_nothing_and_bad_award_terms_are_refused(api):
    c = Contract(api, "AS-AWARDED-TERMS", one_milestone(tendering_works(award_terms=AWARDED), "2026-12-15"))
    c.run(until="sign")
    c.step("sign", period_days=365, quality="合格", scope_sha256="5" * 64)
    c.run(until="bid_bond")
    assert api.ledger(c.key, "zj")["signed"] is True and api.alerts("admin") == []
    bad = {"period_days": 0, "quality": "  ", "scope_sha256": "xyz", "price": "1.00"}
    problem = api.start("BAD-TERMS", one_milestone(tendering_works(award_terms=bad), "2026-12-15"), at(8, 4), 422)
    assert set(problem["errors"]) == {"data.award_terms.period_days", "data.award_terms.quality",
                                      "data.award_terms.scope_sha256", "data.award_terms.price"}


def test_a_price_signed_as_awarded_raises_nothing(api):
    c = Contract(api, "AS-AWARDED", one_milestone(tendering_works(), "2026-12-15"))
    c.run(until="bid_bond")
    assert api.ledger(c.key, "zj")["signed"] is True and api.alerts("admin") == []


def test_a_gp_contract_signed_and_not_published_raises_g04_two_working_days_later(api):
    c = Contract(api, "NOT-PUBLISHED", one_milestone(procurement_goods(), "2026-12-15"))
    c.run(until="publish")
    task = api.task(c.id, "publish_contract", "emp")
    # G04: 2 working days from the signing 08-12 (Wed) → 08-13, 08-14 → 08-14 (Fri) 24:00 = 16:00Z.
    assert task["due_at"].startswith("2026-08-14T16:00:00")
    api.tick(at(8, 14, hour=23))
    assert api.alerts("admin") == []
    api.tick(just_after_midnight(8, 15))
    [alert] = api.alerts("cz")
    assert (alert["code"], alert["severity"], alert["element_id"]) == \
        ("CONTRACT_PUBLICATION_OVERDUE", "orange", "publish_contract")
    assert "第五十条" in alert["legal_basis"] and alert["due_at"].startswith("2026-08-14T16:00:00")
    c.step("publish", at(8, 17), published_at="2026-08-17")
    done = api.alert(alert["id"], "cz")
    assert done["status"] == "resolved" and done["resolution"] == "obligation met on 2026-08-17, 3 days late"
    assert api.ledger(c.key, "cz")["dates"]["contract_published_at"] == "2026-08-17"


# ------------------------------------------------------------------------------------ suspension and resumption
def _pending(api, instance_id):
    """(waiting timers {id: due_at}, open alerts {id: due_at}, ready tasks {id: due_at}) from the database."""
    from sqlalchemy import select
    from engine.storage.models import Alert, TaskRow, Timer
    with api.db.read() as s:
        timers_ = {t.id: t.due_at for t in s.scalars(select(Timer).where(Timer.instance_id == instance_id,
                                                                         Timer.status == "waiting"))}
        alerts_ = {a.id: a.due_at for a in s.scalars(select(Alert).where(Alert.instance_id == instance_id,
                                                                         Alert.status != "resolved"))}
        tasks_ = {t.id: t.due_at for t in s.scalars(select(TaskRow).where(TaskRow.instance_id == instance_id,
                                                                          TaskRow.state == "ready"))}
    return timers_, alerts_, tasks_


def _suspended_contract(api, key):
    """Signed and filed 08-12/08-14, the bid bond not refunded (BID_BOND_REFUND_OVERDUE orange since 08-18 00:00,
    due 08-17 24:00), the one milestone (planned 08-31) not delivered yet."""
    c = Contract(api, key, one_milestone(tendering_works()))
    c.run(until="bid_bond")
    c.step("file"), c.step("review")
    api.tick(just_after_midnight(8, 18))
    return c


def test_a_10_day_suspension_moves_every_pending_deadline_by_10_days_and_resumption_is_recorded(api):
    from datetime import timedelta
    c = _suspended_contract(api, "SUSPEND-10")
    timers_before, alerts_before, tasks_before = _pending(api, c.id)
    assert len(timers_before) >= 3 and len(alerts_before) == 1  # the bond's red, the delivery's orange and red, …
    path = f"/api/v1/contracts/{c.key}/suspensions"
    body = {"suspended_at": "2026-08-18", "days": 10, "reason": "投诉处理期间暂停（政府采购法第五十七条）"}
    # Only the contract's department (or an admin): the parties are 403, another department does not see it.
    api.call("POST", path, "emp", at(8, 18), 403, json=body)
    api.call("POST", path, "con", at(8, 18), 403, json=body)
    api.call("POST", path, "cz", at(8, 18), 404, json=body)
    bad = api.call("POST", path, "zj", at(8, 18), 422, json={**body, "days": 0, "reason": " "})
    assert set(bad["errors"]) == {"days", "reason"}
    assert api.call("POST", path, "zj", at(8, 18), 422, json={**body, "suspended_at": "2026-08-19"})["errors"]
    assert _pending(api, c.id) == (timers_before, alerts_before, tasks_before)  # nothing moved by a refusal

    done = api.call("POST", path, "zj", at(8, 18, hour=11), 201, json=body)
    assert (done["no"], done["days"], done["resumed_at"]) == (1, 10, None)
    assert done["timers_moved"] == len(timers_before) and done["alerts_moved"] == 1
    timers_after, alerts_after, tasks_after = _pending(api, c.id)
    ten = timedelta(days=10)
    assert timers_after == {k: v + ten for k, v in timers_before.items()}
    assert alerts_after == {k: v + ten for k, v in alerts_before.items()}
    assert tasks_after == {k: (v + ten if v is not None else None) for k, v in tasks_before.items()}
    [bond] = api.alerts("zj", at(8, 18, hour=12))
    assert bond["due_at"].startswith("2026-08-27T16:00:00") and bond["days_overdue"] == 0
    api.call("POST", path, "zj", at(8, 19), 409, json={**body, "suspended_at": "2026-08-19"})  # suspended already

    # The delivery's deadline, 08-31 24:00, is now 09-10 24:00: nothing at 09-01, DELIVERY_LATE at 09-11.
    api.tick(just_after_midnight(9, 1))
    assert [a["code"] for a in api.alerts("zj")] == ["BID_BOND_REFUND_OVERDUE"]
    resumed = api.call("POST", f"/api/v1/contracts/{c.key}/resumption", "zj", at(9, 1, hour=11), 200,
                       json={"resumed_at": "2026-08-28"})
    assert (resumed["days_suspended"], resumed["timers_moved"]) == (10, 0)  # resumed after exactly the days ordered
    api.tick(just_after_midnight(9, 11))
    late = [a for a in api.alerts("zj", just_after_midnight(9, 11)) if a["code"] == "DELIVERY_LATE"]
    assert len(late) == 1 and late[0]["due_at"].startswith("2026-09-10T16:00:00") and late[0]["days_overdue"] == 1

    history = api.call("GET", f"/api/v1/instances/{c.id}/history?limit=500", "admin")["items"]
    actions = [e["action"] for e in history]
    assert actions.count("contract_suspended") == 1 and actions.count("contract_resumed") == 1
    moves = [e for e in history if e["action"] == "timer_moved"]
    assert len(moves) == len(timers_before) and {m["data"]["days"] for m in moves} == {10}
    assert [s["days_suspended"] for s in api.ledger(c.key, "zj")["suspensions"]] == [10]


def test_a_resumption_earlier_than_ordered_moves_the_deadlines_back_by_the_difference(api):
    from datetime import timedelta
    c = _suspended_contract(api, "SUSPEND-EARLY")
    timers_before, alerts_before, _ = _pending(api, c.id)
    api.call("POST", f"/api/v1/contracts/{c.key}/suspensions", "zj", at(8, 18, hour=11), 201,
             json={"suspended_at": "2026-08-18", "days": 10, "reason": "停工令"})
    api.call("POST", f"/api/v1/contracts/{c.key}/resumption", "zj", at(8, 22), 422, json={"resumed_at": "2026-08-17"})
    done = api.call("POST", f"/api/v1/contracts/{c.key}/resumption", "zj", at(8, 22), 200,
                    json={"resumed_at": "2026-08-22"})
    assert done["days_suspended"] == 4 and done["timers_moved"] == len(timers_before)
    timers_after, alerts_after, _ = _pending(api, c.id)
    four = timedelta(days=4)
    assert timers_after == {k: v + four for k, v in timers_before.items()}
    assert alerts_after == {k: v + four for k, v in alerts_before.items()}
    api.call("POST", f"/api/v1/contracts/{c.key}/resumption", "zj", at(8, 22), 409, json={"resumed_at": "2026-08-22"})


# ------------------------------------------------------------------------------------ the change ledger
def test_an_extension_of_time_of_20_days_moves_the_contractors_deadlines_exactly_with_both_confirmations(api):
    from datetime import timedelta
    from engine.storage.models import Timer
    c = _suspended_contract(api, "EOT-20")  # the bond unrefunded (employer), the delivery due 08-31 24:00
    api.tick(just_after_midnight(9, 1))  # DELIVERY_LATE orange (contractor)
    by_code = {a["code"]: a for a in api.alerts("zj", just_after_midnight(9, 1))}
    assert set(by_code) == {"BID_BOND_REFUND_OVERDUE", "DELIVERY_LATE"}
    timers_before, alerts_before, tasks_before = _pending(api, c.id)
    with api.db.read() as s:
        elements = {t.id: t.element_id for t in s.query(Timer).filter(Timer.instance_id == c.id)}
    doc = "e" * 64
    body = {"kind": "extension_of_time", "days": 20, "reason": "设计变更导致工期顺延", "document_sha256": doc,
            "proposed_at": "2026-09-02"}
    path = f"/api/v1/contracts/{c.key}/changes"
    api.call("POST", path, "con", at(9, 2), 403, json=body)  # the employer proposes
    assert set(api.call("POST", path, "emp", at(9, 2), 422, json={**body, "days": 0, "document_sha256": "x"})["errors"]) \
        == {"days", "document_sha256"}
    proposed = api.call("POST", path, "emp", at(9, 2), 201, json=body)
    assert proposed["no"] == 1 and proposed["status"] == "proposed" and proposed["contractor_confirmation"] is None
    assert _pending(api, c.id) == (timers_before, alerts_before, tasks_before)  # nothing moves before both signed

    confirm = f"{path}/1/confirmation"
    answer = {"confirmed": True, "confirmed_at": "2026-09-03", "document_sha256": doc}
    api.call("POST", confirm, "emp", at(9, 3), 403, json=answer)
    assert list(api.call("POST", confirm, "con", at(9, 3), 422, json={**answer, "document_sha256": "f" * 64})["errors"]) \
        == ["document_sha256"]
    done = api.call("POST", confirm, "con", at(9, 3), 200, json=answer)
    assert done["status"] == "accepted" and done["contractor_confirmation"]["confirmed"] is True
    api.call("POST", confirm, "con", at(9, 3), 409, json=answer)  # decided once

    timers_after, alerts_after, tasks_after = _pending(api, c.id)
    twenty = timedelta(days=20)
    for timer_id, due in timers_before.items():
        moved = elements[timer_id].startswith("delivery_timer")  # the contractor's delivery; the bond stays
        assert timers_after[timer_id] == (due + twenty if moved else due), elements[timer_id]
    assert done["timers_moved"] == sum(1 for t in timers_before if elements[t].startswith("delivery_timer")) >= 1
    assert alerts_after[by_code["DELIVERY_LATE"]["id"]] == alerts_before[by_code["DELIVERY_LATE"]["id"]] + twenty
    assert alerts_after[by_code["BID_BOND_REFUND_OVERDUE"]["id"]] == alerts_before[by_code["BID_BOND_REFUND_OVERDUE"]["id"]]
    late = api.alert(by_code["DELIVERY_LATE"]["id"], "zj")
    assert late["due_at"].startswith("2026-09-20T16:00:00")  # 08-31 24:00 + 20 days
    [delivery] = [t for t in api.instance(c.id)["tasks"] if t["element_id"] == "report_delivery"]
    assert delivery["due_at"].startswith("2026-09-20T16:00:00")

    history = api.call("GET", f"/api/v1/instances/{c.id}/history?limit=500", "admin")["items"]
    [accepted] = [e for e in history if e["action"] == "change_accepted"]
    assert accepted["data"]["employer_confirmation"]["at"] == "2026-09-02"
    assert accepted["data"]["contractor_confirmation"]["at"] == "2026-09-03"
    assert [m["data"]["days"] for m in history if m["action"] == "timer_moved"] == [20] * done["timers_moved"]
    [change] = api.ledger(c.key, "zj")["changes"]
    assert change["status"] == "accepted" and change["days"] == 20
