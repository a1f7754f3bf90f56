"""The guarantee ledger on both databases: the securities recorded at the start with their credit offsets,
caps on entry, the issuer's signed callback (early or on time), who sees which guarantee, the monthly
report's seed indicators for a seeded month, and the OCDS guarantees extension.

Driven through the API with the frozen-clock driver of tests/e2e/test_post_award.py.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from standardwebhooks import Webhook

from engine import clock
from engine.access import signing
from engine.errors import Invalid
from engine.supervision import guarantees, reports
from sqlalchemy import func, select

from engine.storage.models import Instance, Payment
from tests.e2e.test_post_award import (GUARANTEE_DOC, SIGNED, Api, at, just_after_midnight, one_milestone,
                                       procurement_goods, tendering_works)

SECRET = "gua-platform-secret-0123456789"


def e_goods(planned: str = "2026-08-31", **over) -> dict:
    """A government-procurement goods contract (tests/e2e/test_post_award.py) with GUA as its guarantor."""
    return one_milestone(procurement_goods(guarantor="GUA", **over), planned)


def guarantee_of(api: Api, key: str, kind: str, who: str = "admin") -> dict:
    [item] = api.call("GET", f"/api/v1/guarantees?business_key={key}&kind={kind}", who)["items"]
    return api.call("GET", f"/api/v1/guarantees/{item['id']}", who)


def submission(**over) -> dict:
    data = {"guarantee_no": "EG-1", "issuer": "中原银行郑州分行", "form": "bank_guarantee", "amount": "40000.00",
            "valid_to": "2026-12-31", "document_sha256": GUARANTEE_DOC}
    data.update(over)
    return data


def set_secret(app, org: str = "GUA", secret: str = SECRET) -> None:
    with app.extensions["lvyue"].db.transaction() as s:
        guarantees.set_callback_secret(s, org, secret)


def callback(api: Api, instance_id: str, payload: dict, when, secret: str | None = SECRET, expect: int = 200,
             token: str | None = None, standard: bool = False, signed_at: datetime | None = None) -> dict:
    """POST the issuer's callback at engine time `when`, signed with the deprecated X-Lvyue-Signature or, with
    `standard`, by the `standardwebhooks` package at wall-clock time `signed_at` (default: now)."""
    raw = json.dumps({"payload": payload}).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None and standard:
        msg_id = f"msg_{uuid.uuid4().hex}"
        signed_at = signed_at or datetime.now(timezone.utc)
        headers.update({"webhook-id": msg_id, "webhook-timestamp": str(int(signed_at.timestamp())),
                        "webhook-signature": Webhook(signing.standard_form(secret)).sign(msg_id, signed_at, raw)})
    elif secret is not None:
        headers["X-Lvyue-Signature"] = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    if token is not None:
        headers.update(api.people.auth(token))
    with clock.frozen_at(when):
        r = api.client.post(f"/api/v1/instances/{instance_id}/messages/guarantee_issued", data=raw, headers=headers)
    assert r.status_code == expect, (r.status_code, r.get_json())
    return r.get_json()


# ------------------------------------------------------------------------------------ at the start
def test_the_start_records_each_security_with_the_credit_offset_that_waived_it(api):
    exempt = api.start("GS-EXEMPT", tendering_works(bid_bond={"amount": "24000.00", "form": "exempt"}), at(8, 4))
    bid = guarantee_of(api, "GS-EXEMPT", "bid")
    assert (bid["form"], bid["status"], bid["amount"]) == ("exempt", "exempt", "24000.00")
    assert bid["exemption"] == {"rule": "CR01", "percent": "100", "freed_amount": "24000.00"}  # CON is rated AAA
    assert bid["events"][-1]["event"] == "exempted" and "发改法规〔2023〕27号" in bid["events"][-1]["data"]["legal_basis"]
    quality = guarantee_of(api, "GS-EXEMPT", "quality")
    assert (quality["form"], quality["status"], quality["amount"]) == ("retention", "active", "36000.00")
    assert api.call("GET", "/api/v1/guarantees?business_key=GS-EXEMPT&kind=performance", "admin")["items"] == []
    assert exempt["status"] == "running"

    # A local rule halves the bond of an AA bidder in tendering for works (CR02): the bond posted is the half.
    api.start("GS-HALF", tendering_works(contractor="CON2", bid_bond={"amount": "12000.00", "form": "cash"}), at(8, 4))
    half = guarantee_of(api, "GS-HALF", "bid")
    assert (half["form"], half["status"], half["amount"]) == ("cash", "active", "12000.00")
    assert half["exemption"] == {"rule": "CR02", "percent": "50", "freed_amount": "12000.00"}
    assert [e["event"] for e in half["events"]] == ["recorded", "reduced"]
    # …but it never lets that bidder post nothing, and it is not in force for goods.
    body = api.start("GS-HALF-EXEMPT", tendering_works(contractor="CON2", bid_bond={"form": "exempt"}), at(8, 4),
                     expect=422)
    assert list(body["errors"]) == ["data.bid_bond.form"] and "(CR01, " in body["errors"]["data.bid_bond.form"][0]
    api.start("GS-GOODS", e_goods(), at(8, 4))
    goods_bid = guarantee_of(api, "GS-GOODS", "bid")
    assert goods_bid["exemption"] is None and goods_bid["electronic"] is True and goods_bid["issuer"]["org_code"] == "GUA"
    performance = guarantee_of(api, "GS-GOODS", "performance")
    assert (performance["status"], performance["amount"], performance["form"]) == ("required", "40000.00", None)


def test_a_performance_guarantee_over_its_cap_or_below_the_agreed_rate_is_refused_and_nothing_changes(api):
    instance = api.start("GS-CAP", e_goods(), at(8, 4))
    task = api.task(instance["id"], "submit_performance_guarantee", "con2")
    over = api.call("POST", f"/api/v1/tasks/{task['id']}/complete", "con2", at(8, 5),
                    json={"data": submission(amount="90000.00")}, expect=422)
    assert list(over["errors"]) == ["data.amount"]
    assert "(D09, " in over["errors"]["data.amount"][0] and "11.25%" in over["errors"]["data.amount"][0]
    under = api.call("POST", f"/api/v1/tasks/{task['id']}/complete", "con2", at(8, 5),
                     json={"data": submission(amount="30000.00")}, expect=422)
    assert "less than the 40000.00 CNY agreed" in under["errors"]["data.amount"][0]
    g = guarantee_of(api, "GS-CAP", "performance")
    assert g["status"] == "required" and [e["event"] for e in g["events"]] == ["recorded"]
    assert [t["element_id"] for t in api.instance(instance["id"])["tasks"]] == ["submit_performance_guarantee"]


def test_without_a_guarantor_the_guarantee_is_taken_as_submitted(api):
    instance = api.start("GS-PAPER", one_milestone(procurement_goods()), at(8, 4))
    api.act(instance["id"], "submit_performance_guarantee", "con2", at(8, 5), submission())
    g = guarantee_of(api, "GS-PAPER", "performance")
    assert (g["status"], g["electronic"], g["issuer"]) == ("active", False, {"name": "中原银行郑州分行", "org_code": None})
    assert [t["element_id"] for t in api.instance(instance["id"])["tasks"]] == ["sign_contract"]


# ------------------------------------------------------------------------------------ the issuer's platform
def test_an_early_signed_callback_verifies_the_matching_submission_in_the_contractors_own_step(api, app):
    set_secret(app)
    instance = api.start("GS-EARLY", e_goods(), at(8, 4))
    notice = {"guarantee_no": "EG-1", "amount": "40000.00", "valid_to": "2026-12-31", "document_sha256": GUARANTEE_DOC,
              "verification_code": "YZ-1", "issued_at": "2026-08-04"}
    kept = callback(api, instance["id"], notice, at(8, 4, hour=15))
    assert kept["status"] == "issued" and kept["issuer_notice"]["guarantee_no"] == "EG-1"
    assert callback(api, instance["id"], notice, at(8, 4, hour=16))["status"] == "issued"  # the platform retried

    # A copy that differs from what the issuer reported is refused to the contractor, naming the field.
    task = api.task(instance["id"], "submit_performance_guarantee", "con2")
    body = api.call("POST", f"/api/v1/tasks/{task['id']}/complete", "con2", at(8, 5),
                    json={"data": submission(valid_to="2027-12-31")}, expect=422)
    assert list(body["errors"]) == ["data.valid_to"] and "the issuer reported 2026-12-31" in body["errors"]["data.valid_to"][0]

    done = api.act(instance["id"], "submit_performance_guarantee", "con2", at(8, 5), submission())
    assert [t["element_id"] for t in done["instance"]["tasks"]] == ["sign_contract"]  # no verification left to do
    g = guarantee_of(api, "GS-EARLY", "performance")
    assert g["status"] == "active" and g["verification_code"] == "YZ-1"
    assert [(e["event"], e["actor"]) for e in g["events"]] == [
        ("recorded", "operator"), ("issued", "platform:GUA"), ("issued", "platform:GUA"), ("submitted", "con2"),
        ("verified", "platform:GUA")]
    history = api.call("GET", f"/api/v1/instances/{instance['id']}/history?limit=500", "admin")["items"]
    [verify] = [e for e in history if e["action"] == "task_completed" and e["element_id"] == "verify_guarantee"]
    assert verify["data"]["by"] == "platform:GUA"


def test_the_callback_authenticates_by_the_contracts_guarantor_secret_only(api, app):
    set_secret(app)
    set_secret(app, "OTHER", "another-platform-secret-0000")
    bound = api.start("GS-AUTH", e_goods(), at(8, 4))
    unbound = api.start("GS-NO-GUARANTOR", one_milestone(procurement_goods()), at(8, 4))
    payload = {"guarantee_no": "EG-1", "amount": "40000.00"}
    callback(api, bound["id"], payload, at(8, 4), secret="another-platform-secret-0000", expect=401)  # not its guarantor
    callback(api, unbound["id"], payload, at(8, 4), expect=401)  # no guarantor bound
    callback(api, str(uuid.uuid4()), payload, at(8, 4), expect=401)  # no such contract: the same answer
    callback(api, bound["id"], {**payload, "bogus": 1}, at(8, 4), expect=422)
    assert guarantee_of(api, "GS-AUTH", "performance")["status"] == "required"
    # Without a signature it is an operator's message as before: kept, not a confirmation.
    out = callback(api, bound["id"], payload, at(8, 4), secret=None, token="operator")
    assert out["id"] == bound["id"]
    callback(api, bound["id"], payload, at(8, 4), secret=None, token="gua", expect=403)
    history = api.call("GET", f"/api/v1/instances/{bound['id']}/history?limit=500", "admin")["items"]
    assert "message_received" in [e["action"] for e in history]
    assert guarantee_of(api, "GS-AUTH", "performance")["status"] == "required"


def test_the_callback_takes_standard_webhooks_signatures_and_refuses_stale_ones(api, app):
    """The issuer's platform may sign with any Standard Webhooks library (its secret in whsec_ form, or an
    older text secret as whsec_ + base64 of its text); a timestamp over five minutes off is refused."""
    set_secret(app)  # an older text secret
    whsec = signing.new_secret()
    set_secret(app, "OTHER", whsec)
    instance = api.start("GS-STD", e_goods(), at(8, 4))
    notice = {"guarantee_no": "EG-1", "amount": "40000.00", "valid_to": "2026-12-31", "document_sha256": GUARANTEE_DOC}
    now = datetime.now(timezone.utc)
    for stale in (now - timedelta(minutes=10), now + timedelta(minutes=10)):
        callback(api, instance["id"], notice, at(8, 4, hour=15), standard=True, signed_at=stale, expect=401)
    callback(api, instance["id"], notice, at(8, 4, hour=15), secret=whsec, standard=True, expect=401)  # not its guarantor's
    kept = callback(api, instance["id"], notice, at(8, 4, hour=15), standard=True)
    assert kept["status"] == "issued" and kept["events"][-1]["actor"] == "platform:GUA"
    # Signed with one signature header each way: the Standard Webhooks headers decide when both are given.
    raw = json.dumps({"payload": notice}).encode()
    legacy = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    r = api.client.post(f"/api/v1/instances/{instance['id']}/messages/guarantee_issued", data=raw, headers={
        "Content-Type": "application/json", "X-Lvyue-Signature": legacy, "webhook-id": "m1",
        "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": "v1,AAAA"})
    assert r.status_code == 401
    # Hostile header values are a 401 like any wrong signature, never a server error.
    for headers in ({"X-Lvyue-Signature": "sha256=é"}, {"webhook-id": "é", "webhook-timestamp": str(int(now.timestamp())),
                                                        "webhook-signature": "v1,é v1,"},
                    {"webhook-id": "m", "webhook-timestamp": "9" * 40, "webhook-signature": "v1,x"}):
        r = api.client.post(f"/api/v1/instances/{instance['id']}/messages/guarantee_issued", data=raw,
                            headers={"Content-Type": "application/json", **headers})
        assert r.status_code == 401, (headers, r.status_code)
    # A whsec_ secret signs both ways: Standard Webhooks with its decoded key, the old header with its text.
    other = api.start("GS-STD-2", one_milestone(procurement_goods(guarantor="OTHER")), at(8, 4))
    assert callback(api, other["id"], notice, at(8, 4, hour=15), secret=whsec, standard=True)["status"] == "issued"
    assert callback(api, other["id"], notice, at(8, 4, hour=16), secret=whsec)["status"] == "issued"
    with app.extensions["lvyue"].db.transaction() as s, pytest.raises(Invalid) as refused:
        guarantees.set_callback_secret(s, "GUA", "whsec_" + "A" * 20)  # 15 bytes: too short a key
    assert list(refused.value.errors) == ["secret"]


# ------------------------------------------------------------------------------------ who sees what
def test_guarantees_are_listed_for_whoever_may_see_their_contract(api):
    api.start("GS-SEE-A", e_goods(), at(8, 4))
    api.start("GS-SEE-B", tendering_works(), at(8, 4))
    mine = lambda who: {(g["business_key"], g["kind"]) for g in  # noqa: E731
                        api.call("GET", "/api/v1/guarantees?limit=500", who)["items"]}
    a = {("GS-SEE-A", "bid"), ("GS-SEE-A", "performance")}
    b = {("GS-SEE-B", "bid"), ("GS-SEE-B", "quality")}
    assert mine("admin") == mine("operator") == a | b
    assert mine("emp") == a | b and mine("con2") == mine("gua") == mine("cz") == a
    assert mine("con") == mine("zj") == b
    assert mine("other") == mine("designer") == set()
    [g] = [x for x in api.call("GET", "/api/v1/guarantees?kind=bid&status=active", "admin")["items"]
           if x["business_key"] == "GS-SEE-A"]
    api.call("GET", f"/api/v1/guarantees/{g['id']}", "other", expect=404)
    api.call("GET", f"/api/v1/guarantees/{uuid.uuid4()}", "admin", expect=404)
    assert api.call("GET", "/api/v1/guarantees?kind=nope", "admin", expect=422)["errors"]


# ------------------------------------------------------------------------------------ acceptance 4: the report
def _seed_august(api: Api, app) -> None:
    """The seeded month (award notices 08-03 unless said; see test_the_monthly_report_...)."""
    m1 = api.start("AUG-M1", e_goods(), at(8, 4))["id"]                                             # CZ
    m2 = api.start("AUG-M2", one_milestone(tendering_works(bid_bond={"amount": "24000.00", "form": "exempt"}),
                                           "2026-08-20"), at(8, 4))["id"]                              # ZJ, CR01
    m3 = api.start("AUG-M3", one_milestone(tendering_works(contractor="CON2", bid_bond={"amount": "12000.00",
                                                                                       "form": "cash"}),
                                           "2026-12-15"), at(8, 4))["id"]                              # ZJ, CR02
    api.act(m1, "submit_performance_guarantee", "con2", at(8, 5), submission())
    api.act(m1, "verify_guarantee", "gua", at(8, 6), {"guarantee_no": "EG-1", "amount": "40000.00",
                                                      "valid_to": "2026-12-31", "document_sha256": GUARANTEE_DOC,
                                                      "verified": True})
    sign = lambda when, amount: {"signed_at": when, "contract_no": "HT-" + when, "document_sha256": SIGNED,  # noqa: E731
                                 "amount": amount}
    api.act(m1, "sign_contract", "emp", at(8, 12), sign("2026-08-12", "800000.00"))
    api.act(m2, "sign_contract", "emp", at(8, 12), sign("2026-08-12", "1200000.00"))
    api.confirm(m1, "con2", at(8, 12, hour=15))
    api.confirm(m2, "con", at(8, 12, hour=15))
    api.publish(m1, at(8, 13))
    api.act(m1, "release_bid_bond", "emp", at(8, 13), {"released_at": "2026-08-13", "amount": "10000.00"})
    for m in (m1, m2):
        api.act(m, "file_contract", "emp", at(8, 13), {"filed_at": "2026-08-13", "document_sha256": SIGNED})
    api.act(m1, "review_filing", "cz", at(8, 14), {"decision": "accepted"})
    api.act(m2, "review_filing", "zj", at(8, 14), {"decision": "accepted"})
    api.act(m2, "report_delivery", "con", at(8, 18), {"delivered_at": "2026-08-18"})
    api.act(m2, "accept_delivery", "emp", at(8, 19), {"accepted_at": "2026-08-19", "result": "passed"})
    api.act(m2, "submit_invoice", "con", at(8, 19, hour=15), {"invoice_no": "INV-M2", "amount": "1200000.00",
                                                              "issued_at": "2026-08-19"})
    api.act(m3, "sign_contract", "emp", at(8, 20), sign("2026-08-20", "1200000.00"))
    api.confirm(m3, "con2", at(8, 20, hour=15))
    # Backdated: awarded 07-01, so the signing is overdue at once (orange), red after 08-30 24:00.
    m4 = api.start("AUG-M4", one_milestone(tendering_works(award_notice_date="2026-07-01"), "2026-12-15"),
                   at(8, 20))["id"]
    api.act(m3, "release_bid_bond", "emp", at(8, 21), {"released_at": "2026-08-21", "amount": "12000.00"})
    api.act(m3, "file_contract", "emp", at(8, 21), {"filed_at": "2026-08-21", "document_sha256": SIGNED})
    api.act(m2, "record_payment", "emp", at(8, 25), {"paid_at": "2026-08-25", "amount": "1200000.00"})
    api.act(m1, "report_delivery", "con2", at(8, 28), {"delivered_at": "2026-08-28"})
    api.act(m1, "accept_delivery", "emp", at(8, 31), {"accepted_at": "2026-08-31", "result": "passed"})
    api.act(m1, "submit_invoice", "con2", at(8, 31, hour=15), {"invoice_no": "INV-M1", "amount": "800000.00",
                                                               "issued_at": "2026-08-31"})
    [red] = [a for a in api.alerts("zj", at(8, 31, hour=16)) if a["instance_id"] == m4]
    assert (red["code"], red["severity"]) == ("SIGNING_OVERDUE", "red")
    api.call("POST", f"/api/v1/alerts/{red['id']}/confirm", "zj", at(8, 31, hour=16), json={"decision": "confirmed"})
    api.start("AUG-M5", e_goods(award_notice_date="2026-09-01", planned="2026-12-15"), at(9, 2))  # September
    # A payment filed without its invoice (an import from the treasury system, say): counted, not invoiced.
    with app.extensions["lvyue"].db.transaction() as s:
        s.add(Payment(id=str(uuid.uuid4()), instance_id=m3, part_id=None, milestone_no=1, paid_at=date(2026, 8, 28),
                      amount=Decimal("100000.00"), voucher_no="GK-IMPORT", payer="EMP", payee="CON2", recorded_at=at(8, 28),
                      recorded_by="import"))


def test_the_monthly_report_carries_the_seed_indicators_computed_by_hand(api, app):
    """August 2026, by hand:

    * e-guarantees: AUG-M1's bid e-guarantee (10 000.00, posted for the award of 08-03) and its performance
      e-guarantee verified by GUA on 08-06 (40 000.00); AUG-M5's bid e-guarantee came with an award of 09-01;
    * exemptions: AUG-M2 (CON, AAA: CR01, the whole 24 000.00 bond) and AUG-M3 (CON2, AA: CR02, half, the
      12 000.00 posted freed as much again);
    * contracts signed 08-12 (M1, M2) and 08-20 (M3), filed 08-13 (M1, M2) and 08-21 (M3); M4 unsigned;
    * payments: AUG-M2's 1 200 000.00 of 08-25 on its invoiced milestone, and the imported 100 000.00 of
      08-28 on AUG-M3's milestone, which has no invoice;
    * alerts: one, AUG-M4's SIGNING_OVERDUE (raised orange on 08-20, red on 08-31, confirmed by ZJ on
      08-31: one lead transferred). Everything else was on time.
    """
    _seed_august(api, app)
    expected_all = {
        "month": "2026-08",
        "e_guarantees": {"count": 2, "cash_replaced": "50000.00",
                         "by_kind": {"bid": {"count": 1, "cash_replaced": "10000.00"},
                                     "performance": {"count": 1, "cash_replaced": "40000.00"}}},
        "exemptions": {"count": 2, "freed": "36000.00",
                       "by_rule": {"CR01": {"count": 1, "freed": "24000.00"}, "CR02": {"count": 1, "freed": "12000.00"}}},
        "contracts": {"signed": 3, "filed_online": 3},
        "payments": {"count": 2, "amount": "1300000.00", "with_invoice": {"count": 1, "amount": "1200000.00"}},
        "alerts": {"raised": 1, "by_kind": {"non_performance": 1}, "leads_transferred": 1},
    }
    report = api.call("GET", "/api/v1/reports/monthly?month=2026-08", "admin", at(9, 3))
    assert report["guarantees"] == expected_all
    assert "guarantees.exemptions.freed" in report["definitions"]
    # The finance department's own month: AUG-M1 only.
    cz = api.call("GET", "/api/v1/reports/monthly?month=2026-08", "cz", at(9, 3))["guarantees"]
    assert cz == {"month": "2026-08", "e_guarantees": expected_all["e_guarantees"],
                  "exemptions": {"count": 0, "freed": "0.00", "by_rule": {}},
                  "contracts": {"signed": 1, "filed_online": 1},
                  "payments": {"count": 0, "amount": "0.00", "with_invoice": {"count": 0, "amount": "0.00"}},
                  "alerts": {"raised": 0, "by_kind": {}, "leads_transferred": 0}}
    # The same figures straight from the ledger, without the report's scope object.
    with app.extensions["lvyue"].db.read() as session:
        assert reports.guarantee_indicators(session, {"month": "2026-08"}) == expected_all
        assert reports.guarantee_indicators(session, {"month": "2026-09"})["e_guarantees"]["by_kind"] == \
            {"bid": {"count": 1, "cash_replaced": "10000.00"}}


ODD_DATES = ("2026-08-1x", "2026-08-3", "2026-W33-1", "2026-07-31T20:00:00-05:00", "2026-08-15T01:00:00+08:00",
             "2026-08-31", "2026-08-32", "2026-08-00", " 2026-08-05", 20260815, {"day": "2026-08-15"}, None)


def _counted_as_text(session, month_first: date, month_last: date, departments=None) -> tuple[int, int]:
    """(signed, filed) as the section counted them before contract_deadlines: the first ten characters of the
    JSON values between the month's first and last days as text, over every contract's data."""
    def dated(key: str):
        return func.count().filter(func.substr(Instance.data[key].as_string(), 1, 10)
                                   .between(month_first.isoformat(), month_last.isoformat()))
    query = select(dated("signed_at"), dated("filed_at"))
    if departments is not None:
        query = query.where(Instance.department_code.in_(departments))
    return tuple(session.execute(query).one())


def test_signed_and_filed_count_the_text_of_the_dates_as_before_whatever_their_shape(api, app):
    """The section counts signed_at / filed_at in a month from contract_deadlines' typed months: the same figures
    as the old count over the JSON text, for dates, instants with offsets (the day written, not China time), text
    that is no date and values that are not text — the August contracts given such values directly."""
    _seed_august(api, app)
    months = ((date(2026, 8, 1), date(2026, 8, 31)), (date(2026, 7, 1), date(2026, 7, 31)))

    def same_counts(session):
        for first, last in months:
            for departments in (None, ["ZJ"], ["CZ"]):
                scope = {"month": first.strftime("%Y-%m"), **({"departments": departments} if departments else {})}
                got = reports.guarantee_indicators(session, scope)["contracts"]
                assert (got["signed"], got["filed_online"]) == _counted_as_text(session, first, last, departments)

    db = app.extensions["lvyue"].db
    with db.transaction() as session:
        same_counts(session)
        assert reports.guarantee_indicators(session, {"month": "2026-08"})["contracts"] == \
            {"signed": 3, "filed_online": 3}
        contracts = session.scalars(select(Instance).order_by(Instance.business_key)).all()
        for n, value in enumerate(ODD_DATES):  # each shape in turn, on a signing date and on a filing date
            for key in ("signed_at", "filed_at"):
                inst = contracts[n % len(contracts)]
                inst.data = {**inst.data, key: value}
                session.flush()
                same_counts(session)
    report = api.call("GET", "/api/v1/reports/monthly?month=2026-08", "admin", at(9, 3))["guarantees"]["contracts"]
    with db.read() as session:
        assert (report["signed"], report["filed_online"]) == \
            _counted_as_text(session, date(2026, 8, 1), date(2026, 8, 31))


# ------------------------------------------------------------------------------------ OCDS
def test_the_ocds_release_carries_the_guarantees_extension(api):
    instance = api.start("GS-OCDS", e_goods(), at(8, 4))
    api.act(instance["id"], "submit_performance_guarantee", "con2", at(8, 5), submission())
    api.act(instance["id"], "verify_guarantee", "gua", at(8, 6), {
        "guarantee_no": "EG-1", "amount": "40000.00", "valid_to": "2026-12-31", "document_sha256": GUARANTEE_DOC,
        "verified": True})
    api.act(instance["id"], "sign_contract", "emp", at(8, 12), {
        "signed_at": "2026-08-12", "contract_no": "HT-OCDS", "document_sha256": SIGNED, "amount": "800000.00"})
    release = api.call("GET", "/api/v1/contracts/GS-OCDS/ocds", "admin")
    release = release.get("releases", [release])[0] if "releases" in release else release
    [contract] = release["contracts"]
    by_obligation = {g["obligations"]: g for g in contract["guarantees"]}
    assert by_obligation["fulfillment"] == {
        "id": "EG-1", "type": "letterOfCredit", "obligations": "fulfillment", "date": "2026-08-06T00:00:00+08:00",
        "value": {"amount": 40000, "currency": "CNY"}, "guarantor": {"id": "GUA", "name": "org GUA"},
        "period": {"startDate": "2026-08-06T00:00:00+08:00", "endDate": "2026-12-31T23:59:59+08:00"}}
    assert by_obligation["bidBond"]["type"] == "electronicGuarantee"


def test_the_callback_secret_never_appears_in_api_responses(api, app):
    set_secret(app)
    instance = api.start("GS-SECRET", e_goods(), at(8, 4))
    callback(api, instance["id"], {"guarantee_no": "EG-1", "amount": "40000.00"}, at(8, 4, hour=15))
    g = guarantee_of(api, "GS-SECRET", "performance")
    for who in ("admin", "operator", "gua", "emp", "cz"):
        for url in ("/api/v1/guarantees?limit=500", f"/api/v1/guarantees/{g['id']}", f"/api/v1/instances/{instance['id']}",
                    f"/api/v1/instances/{instance['id']}/history?limit=500", "/api/v1/contracts/GS-SECRET"):
            r = api.client.get(url, headers=api.people.auth(who))
            assert r.status_code == 200 and SECRET not in r.get_data(as_text=True), (who, url)


# ------------------------------------------------------------------------------------ guarantees outside the diagram
def test_advance_payment_quality_and_payment_guarantees_are_given_through_the_api_with_their_caps(api, app):
    set_secret(app)
    api.start("GS-REC", e_goods(performance_guarantee_rate="0", category="works"), at(8, 4))  # Q01 caps works
    record = lambda who, expect=201, **over: api.call("POST", "/api/v1/guarantees", who, at(8, 10), expect=expect, json={  # noqa: E731
        "business_key": "GS-REC", "kind": "advance_payment", "form": "bank_guarantee", "guarantee_no": "YF-1",
        "issuer": "中原银行郑州分行", "amount": "160000.00", "valid_to": "2026-12-31", "document_sha256": GUARANTEE_DOC,
        **over})
    record("emp", expect=403)  # the contractor gives the advance payment guarantee
    advance = record("con2")
    assert (advance["kind"], advance["status"], advance["applicant"]["org_code"]) == ("advance_payment", "submitted", "CON2")
    # The employer's payment guarantee (工程款支付担保) runs the other way.
    payment = record("emp", kind="payment", guarantee_no="ZF-1", form="cash", amount="100000.00")
    assert (payment["status"], payment["applicant"]["org_code"], payment["beneficiary"]["org_code"]) == \
        ("active", "EMP", "CON2")
    # Quality: at most 3 % of the contract amount (Q01); 800 000.00 × 3 % = 24 000.00.
    over = record("con2", kind="quality", guarantee_no="ZL-1", amount="24000.01", expect=422)
    assert "(Q01, " in over["errors"]["amount"][0]
    quality = record("con2", kind="quality", guarantee_no="ZL-1", amount="24000.00")
    assert quality["status"] == "submitted"
    assert "one quality security" in record("con2", kind="quality", guarantee_no="ZL-2", amount="1000.00",
                                             expect=422)["errors"]["kind"][0]

    # The issuer's platform verifies them by number, as it verifies the performance guarantee.
    instance_id = advance["instance_id"]
    bad = callback(api, instance_id, {"guarantee_no": "YF-1", "amount": "16000.00", "valid_to": "2026-12-31",
                                      "document_sha256": GUARANTEE_DOC}, at(8, 11), expect=422)
    assert list(bad["errors"]) == ["data.amount"]
    ok = callback(api, instance_id, {"guarantee_no": "YF-1", "amount": "160000.00", "valid_to": "2026-12-31",
                                     "document_sha256": GUARANTEE_DOC}, at(8, 11))
    assert ok["id"] == advance["id"] and ok["status"] == "active" and ok["events"][-1]["actor"] == "platform:GUA"


def test_a_quality_guarantee_never_sits_beside_a_performance_guarantee_or_withheld_retention(api):
    api.start("GS-Q02", one_milestone(procurement_goods(category="works", retention_rate="0")), at(8, 4))
    api.act(api.start("GS-Q02-B", one_milestone(tendering_works()), at(8, 4))["id"], "sign_contract", "emp", at(8, 5), {
        "signed_at": "2026-08-05", "contract_no": "HT-Q", "document_sha256": SIGNED, "amount": "1200000.00"})
    instance = api.call("GET", "/api/v1/instances?business_key=GS-Q02", "admin")["items"][0]
    api.act(instance["id"], "submit_performance_guarantee", "con2", at(8, 5), submission())
    q = {"kind": "quality", "form": "cash", "amount": "1000.00"}
    body = api.call("POST", "/api/v1/guarantees", "con2", at(8, 6), json={"business_key": "GS-Q02", **q}, expect=422)
    assert "(Q02, " in body["errors"]["kind"][0]
    body = api.call("POST", "/api/v1/guarantees", "con", at(8, 6), json={"business_key": "GS-Q02-B", **q}, expect=422)
    assert body["errors"]["kind"][0].startswith("retention is withheld already")


def test_the_release_warnings_are_linked_to_their_guarantee(api):
    instance = api.start("GS-LATE-BOND", one_milestone(tendering_works(), "2026-12-15"), at(8, 4))
    api.act(instance["id"], "sign_contract", "emp", at(8, 12), {
        "signed_at": "2026-08-12", "contract_no": "HT-L", "document_sha256": SIGNED, "amount": "1200000.00"})
    api.confirm(instance["id"], "con", at(8, 12, hour=15))
    api.tick(just_after_midnight(8, 18))  # D03: 5 days from 08-12 → 08-17 24:00
    bid = guarantee_of(api, "GS-LATE-BOND", "bid", "emp")
    assert [(a["code"], a["severity"]) for a in bid["alerts"]] == [("BID_BOND_REFUND_OVERDUE", "orange")]
    assert guarantee_of(api, "GS-LATE-BOND", "quality", "emp")["alerts"] == []
