"""Issue 8: the e-guarantee lifecycle with the guarantor in the loop, driven through the API alone.

As in tests/e2e/test_post_award.py (whose driver this reuses), every call runs under a frozen engine
clock at the instant the party acts, after the timers due by then fired. The contracts are
government-procurement goods contracts of the SME CON2 (800 000.00, performance guarantee 5 % =
40 000.00, one milestone planned 08-31, supervised by CZ) whose guarantor role is bound to GUA, the
issuer of their e-guarantees: its user `gua` verifies and pays in the `guarantor` lane.

    award notice 08-03   start 08-04   guarantee submitted 08-05   verified 08-06   signed 08-12
    bid bond refunded 08-13   filed 08-13   filing accepted 08-14
    milestone: delivered 08-28, accepted + invoiced 08-31, paid 09-04
    completion 09-21   guarantee released 09-24 (cancellation sent to GUA)

Deadlines by hand (Civil Code arts 200–204; 2026 calendar: 09-25 Mid-Autumn, 10-01…10-07 National Day,
10-10 (Sat) a make-up workday):

* GUARANTEE_EXPIRING: yellow 15 days before the validity ends: valid_to 09-10 ends 09-10 24:00, so the
  warning fires at 08-27 00:00 China time; orange at 09-10 24:00.
* CLAIM_UNPAID: CL01, 5 working days from the claim of 10-02: 10-08, 09, 10 (Sat, make-up), 12, 13 →
  10-13 24:00 = 2026-10-13T16:00:00Z.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone

from standardwebhooks import Webhook

from engine.storage.db import Database
from tests import requests_shim as http
from tests.conftest import ROOT, Server, seed_people
from tests.e2e.test_post_award import (CN, DIAGRAM, GUARANTEE_DOC, XML, Api, Contract, at, just_after_midnight,
                                       one_milestone, procurement_goods)

OTHER_DOC = "d" * 64
RENEWED_DOC = "e" * 64


def e_goods(**over) -> dict:
    """procurement_goods with GUA bound as the guarantor: its e-guarantees are verified in the guarantor lane."""
    return one_milestone(procurement_goods(guarantor="GUA", **over))


class GuaranteedContract(Contract):
    """The baseline of test_post_award with the issuer's verification after the submission."""

    def __init__(self, api: Api, key: str, data: dict, valid_to: str = "2026-12-31"):
        super().__init__(api, key, data)
        self.who["guarantor"] = "gua"
        if "guarantee" not in self.steps:
            return  # no performance guarantee agreed
        _, element, lane, instant, payload, no = self.steps["guarantee"]
        payload = {**payload, "guarantee_no": "EG-2026-0815", "issuer": "中原银行郑州分行", "valid_to": valid_to}
        self.steps["guarantee"] = ("guarantee", element, lane, instant, payload, no)
        self.steps["verify"] = ("verify", "verify_guarantee", "guarantor", at(8, 6), {
            "guarantee_no": "EG-2026-0815", "amount": payload["amount"], "valid_to": valid_to,
            "document_sha256": GUARANTEE_DOC, "verified": True}, None)
        self.order.insert(self.order.index("guarantee") + 1, "verify")

    def guarantee(self, kind: str = "performance", who: str = "admin") -> dict:
        [item] = self.api.call("GET", f"/api/v1/guarantees?business_key={self.key}&kind={kind}", who)["items"]
        return self.api.call("GET", f"/api/v1/guarantees/{item['id']}", who)

    def ready(self, who: str = "admin") -> set[str]:
        return {t["element_id"] for t in self.api.instance(self.id, who)["tasks"]}


def events(guarantee: dict) -> list[str]:
    return [e["event"] for e in guarantee["events"]]


# ------------------------------------------------------------------------------------ acceptance 1
def test_a_performance_e_guarantee_is_submitted_verified_by_its_issuer_and_released_after_completion(api):
    c = GuaranteedContract(api, "EG-LIFE", e_goods())
    c.step("guarantee")
    assert c.ready() == {"verify_guarantee"}
    assert api.task(c.id, "verify_guarantee", "gua")["lane"] == "guarantor"
    assert api.call("GET", f"/api/v1/tasks?instance_id={c.id}&element_id=verify_guarantee", "emp")["items"] == []
    submitted = c.guarantee()
    assert (submitted["status"], submitted["kind"], submitted["form"], submitted["amount"]) == \
        ("submitted", "performance", "bank_guarantee", "40000.00")
    assert submitted["issuer"] == {"name": "中原银行郑州分行", "org_code": "GUA"}
    assert submitted["applicant"]["org_code"] == "CON2" and submitted["beneficiary"]["org_code"] == "EMP"
    assert submitted["validity"] == {"from": None, "to": "2026-12-31"} and submitted["document_sha256"] == GUARANTEE_DOC

    # The issuer's confirmation must be the guarantee the contractor submitted, field by field.
    task = api.task(c.id, "verify_guarantee", "gua")
    good = c.steps["verify"][4]
    for field, wrong in (("document_sha256", OTHER_DOC), ("amount", "30000.00"), ("valid_to", "2026-11-30"),
                         ("guarantee_no", "EG-2026-9999")):
        body = api.call("POST", f"/api/v1/tasks/{task['id']}/complete", "gua", at(8, 6),
                        json={"data": {**good, field: wrong}}, expect=422)
        assert list(body["errors"]) == [f"data.{field}"], body["errors"]
        assert wrong in body["errors"][f"data.{field}"][0]
    # Nothing moved: no verification, no signing, no release, no cancellation.
    assert c.ready() == {"verify_guarantee"}
    after = c.guarantee()
    assert after["status"] == "submitted" and events(after) == ["recorded", "submitted"]
    # Only the guarantor's organisation verifies.
    api.call("POST", f"/api/v1/tasks/{task['id']}/complete", "con2", at(8, 6), json={"data": good}, expect=403)

    # A refusal (not genuine) sends the contractor to submit again; the second guarantee is verified.
    api.call("POST", f"/api/v1/tasks/{task['id']}/complete", "gua", at(8, 6),
             json={"data": {"guarantee_no": "EG-2026-0815", "verified": False, "note": "保函编号不存在"}})
    assert c.guarantee()["status"] == "rejected" and c.ready() == {"submit_performance_guarantee"}
    c.step("guarantee", at(8, 7))
    c.step("verify", at(8, 7))
    verified = c.guarantee()
    assert verified["status"] == "active" and verified["electronic"] is True and verified["activated_on"] == "2026-08-07"
    assert events(verified) == ["recorded", "submitted", "verification_refused", "submitted", "verified"]
    assert c.ready() == {"sign_contract"}

    c.run()
    api.tick(at(12, 31))
    assert api.alerts("admin") == []  # on time everywhere, and the guarantee covered the whole performance
    assert api.instance(c.id)["status"] == "completed"
    released = c.guarantee("performance", "emp")
    assert released["status"] == "released" and released["released_at"] == "2026-09-24"
    assert released["cancellation"]["to"] == "GUA"
    assert events(released)[-2:] == ["released", "cancellation_requested"]
    cancel = released["events"][-1]
    assert cancel["data"]["guarantee_no"] == "EG-2026-0815" and cancel["data"]["to"] == "GUA"
    # The issuer finds the cancellation in its list; the ledger shows the release.
    pending = api.call("GET", "/api/v1/guarantees?cancellation=requested", "gua")["items"]
    assert {g["id"] for g in pending} == {released["id"], c.guarantee("bid")["id"]}
    ledger = api.ledger(c.key, "cz")
    assert {g["kind"]: g["status"] for g in ledger["guarantees"]} == {"bid": "released", "performance": "released"}


def test_a_refused_verification_raises_no_release_and_no_cancellation(api):
    """A guarantee its issuer never confirmed is never released nor cancelled with the issuer: the contract
    cannot even be signed until a guarantee is verified."""
    c = GuaranteedContract(api, "EG-REFUSED", e_goods())
    c.step("guarantee")
    task = api.task(c.id, "verify_guarantee", "gua")
    api.call("POST", f"/api/v1/tasks/{task['id']}/complete", "gua", at(8, 6),
             json={"data": {"guarantee_no": "EG-2026-0815", "amount": "40000.00", "verified": False}})
    api.tick(at(10, 31))
    g = c.guarantee()
    assert g["status"] == "rejected" and g["cancellation"] is None and g["released_at"] is None
    assert "released" not in events(g) and "cancellation_requested" not in events(g)
    assert c.ready() == {"submit_performance_guarantee"}  # the contract cannot be signed on it
    assert [a["code"] for a in api.alerts("admin")] == []  # nor is a release of it ever due


# ------------------------------------------------------------------------------------ acceptance 2
def test_a_guarantee_expiring_before_its_obligation_warns_and_renewing_it_resolves_the_warning(api):
    c = GuaranteedContract(api, "EG-EXPIRING", e_goods(), valid_to="2026-09-10")
    c.run(until="deliver1")
    assert api.alerts("admin", just_after_midnight(8, 26)) == []
    api.tick(just_after_midnight(8, 27))  # 15 days before 09-10 24:00, the milestone is still to be delivered
    [alert] = api.alerts("admin")
    assert (alert["code"], alert["kind"], alert["severity"], alert["status"]) == \
        ("GUARANTEE_EXPIRING", "non_performance", "yellow", "open")
    assert alert["responsible_org"] == "CON2" and alert["element_id"] == "renew_guarantee"
    assert alert["due_at"].startswith("2026-09-10T16:00:00")
    # To the contractor and the employer: the contractor in its inbox, the employer on the guarantee.
    assert [a["id"] for a in api.alerts("con2")] == [alert["id"]]
    assert api.alerts("cz") == [] and api.alerts("emp") == []  # a yellow pre-warning is not the department's yet
    assert [a["id"] for a in c.guarantee("performance", "emp")["alerts"]] == [alert["id"]]
    renew = api.task(c.id, "renew_guarantee", "con2")
    assert renew["due_at"].startswith("2026-09-10T16:00:00")

    # A "renewal" that does not extend the validity is refused and settles nothing.
    body = api.call("POST", f"/api/v1/tasks/{renew['id']}/complete", "con2", at(8, 28), json={"data": {
        "renewed_at": "2026-08-28", "valid_to": "2026-09-10", "document_sha256": RENEWED_DOC}}, expect=422)
    assert list(body["errors"]) == ["data.valid_to"]
    assert api.alert(alert["id"])["status"] == "open"

    api.act(c.id, "renew_guarantee", "con2", at(8, 28), {"renewed_at": "2026-08-28", "valid_to": "2026-12-31",
                                                          "document_sha256": RENEWED_DOC})
    done = api.alert(alert["id"])
    assert done["status"] == "resolved" and done["resolution"] == "obligation met on 2026-08-28, on time"
    g = c.guarantee()
    assert g["validity"]["to"] == "2026-12-31" and g["document_sha256"] == RENEWED_DOC
    assert g["events"][-1]["event"] == "renewed" and g["events"][-1]["data"]["valid_to_before"] == "2026-09-10"

    c.run()  # the watch on the renewed validity (warning at 12-16) ends with the performance on 09-21
    api.tick(at(12, 31))
    assert [a["id"] for a in api.alerts("admin")] == [alert["id"]]
    assert api.instance(c.id)["status"] == "completed"


def test_a_guarantee_left_to_expire_reaches_the_department_and_a_late_renewal_resolves_it(api):
    c = GuaranteedContract(api, "EG-EXPIRED", e_goods(), valid_to="2026-09-10")
    c.run(until="deliver1")
    api.tick(just_after_midnight(9, 11))  # the validity ended 09-10 24:00 with the milestone still undelivered
    [alert] = [a for a in api.alerts("cz") if a["code"] == "GUARANTEE_EXPIRING"]
    assert alert["severity"] == "orange" and alert["department"] == "CZ"
    api.act(c.id, "renew_guarantee", "con2", at(9, 14), {"renewed_at": "2026-09-14", "valid_to": "2026-12-31",
                                                          "document_sha256": RENEWED_DOC})
    assert api.alert(alert["id"])["resolution"] == "obligation met on 2026-09-14, 4 days late"


# ------------------------------------------------------------------------------------ acceptance 3
def test_a_claim_after_a_confirmed_red_non_performance_alert_reaches_the_guarantor_and_is_paid(api):
    c = GuaranteedContract(api, "EG-CLAIM", e_goods())
    c.run(until="deliver1")
    guarantee = c.guarantee("performance", "emp")
    claims = f"/api/v1/guarantees/{guarantee['id']}/claims"
    api.tick(just_after_midnight(10, 1))  # the delivery planned 08-31 is 30 days late: red
    [red] = [a for a in api.alerts("cz") if a["code"] == "DELIVERY_LATE"]
    assert red["severity"] == "red" and red["responsible_org"] == "CON2"
    claim = {"reason": "non_performance", "alert_id": red["id"], "claimed_at": "2026-10-02"}

    # Not before the department confirmed the non-performance; never by anyone but the beneficiary.
    body = api.call("POST", claims, "emp", at(10, 1, hour=9), json={**claim, "claimed_at": "2026-10-01"}, expect=422)
    assert list(body["errors"]) == ["alert_id"] and "not confirmed" in body["errors"]["alert_id"][0]
    api.call("POST", f"/api/v1/alerts/{red['id']}/confirm", "cz", at(10, 1), json={"decision": "confirmed",
                                                                                   "note": "逾期交付30日"})
    api.call("POST", claims, "con2", at(10, 2), json=claim, expect=403)
    api.call("POST", claims, "emp", at(10, 2), json={**claim, "amount": "40000.01"}, expect=422)

    filed = api.call("POST", claims, "emp", at(10, 2), json=claim)
    assert filed["status"] == "claimed"
    [record] = filed["claims"]
    assert (record["no"], record["amount"], record["claimed_at"], record["status"]) == (1, "40000.00", "2026-10-02", "filed")
    pay = api.task(c.id, "pay_claim", "gua")
    assert pay["lane"] == "guarantor" and pay["due_at"].startswith("2026-10-13T16:00:00")  # CL01, see the docstring

    api.tick(just_after_midnight(10, 14))
    [unpaid] = [a for a in api.alerts("cz") if a["code"] == "CLAIM_UNPAID"]
    assert (unpaid["kind"], unpaid["severity"], unpaid["responsible_org"], unpaid["amount_overdue"]) == \
        ("arrears", "orange", "GUA", "40000.00")
    assert unpaid["due_at"].startswith("2026-10-13T16:00:00") and "URDG 758" in unpaid["legal_basis"]
    assert [a["id"] for a in api.alerts("gua")] == [unpaid["id"]]
    assert unpaid["id"] in [a["id"] for a in c.guarantee("performance", "emp")["alerts"]]

    task = api.task(c.id, "pay_claim", "gua")
    body = api.call("POST", f"/api/v1/tasks/{task['id']}/complete", "gua", at(10, 15),
                    json={"data": {"paid_at": "2026-10-15", "amount": "30000.00"}}, expect=422)
    assert list(body["errors"]) == ["data.amount"]
    api.act(c.id, "pay_claim", "gua", at(10, 15), {"paid_at": "2026-10-15", "amount": "40000.00", "reference": "ZY-PAY-1"})
    paid = api.alert(unpaid["id"])
    assert paid["status"] == "resolved" and paid["resolution"] == "paid 2 days late (on 2026-10-15)"
    g = c.guarantee("performance", "emp")
    assert g["status"] == "paid_out" and g["claims"][0]["status"] == "paid" and g["claims"][0]["paid_at"] == "2026-10-15"
    assert events(g)[-2:] == ["claimed", "claim_paid"]


def test_a_contractor_refusing_to_sign_forfeits_the_award_and_the_bid_guarantee_is_claimed(api):
    c = GuaranteedContract(api, "EG-REFUSAL", e_goods(performance_guarantee_rate="0"))
    assert c.ready() == {"sign_contract"}
    bid = c.guarantee("bid", "emp")
    assert (bid["form"], bid["status"], bid["amount"], bid["issuer"]["org_code"]) == ("e_guarantee", "active", "10000.00", "GUA")
    # Inside the signing period (G03: 08-03 + 30 → 09-02) the refusal stands on the department's confirmation.
    api.call("POST", f"/api/v1/guarantees/{bid['id']}/refusal-confirmation", "cz", at(8, 19),
             json={"refused_at": "2026-08-19", "note": "中标人书面表示拒绝签订合同"})
    filed = api.call("POST", f"/api/v1/guarantees/{bid['id']}/claims", "emp", at(8, 20),
                     json={"reason": "refused_to_sign", "note": "中标人拒不签订合同"})
    assert filed["claims"][0]["amount"] == "10000.00"
    assert c.ready() == {"pay_claim"}  # the signing ended (award forfeited); the claim goes on
    diagram = api.call("GET", f"/api/v1/instances/{c.id}/diagram", "admin")
    assert "award_forfeited" in diagram["completed"] and "sign_contract" not in diagram["active"]
    # Refusing twice is impossible: the contract no longer waits to be signed.
    api.call("POST", f"/api/v1/guarantees/{bid['id']}/claims", "emp", at(8, 21), json={"reason": "refused_to_sign"},
             expect=409)
    api.act(c.id, "pay_claim", "gua", at(8, 24), {"paid_at": "2026-08-24", "amount": "10000.00"})
    assert api.instance(c.id)["status"] == "completed"
    assert c.guarantee("bid")["status"] == "paid_out"
    assert api.alerts("admin") == []


def test_the_employer_alone_cannot_forfeit_the_bid_guarantee_inside_the_signing_period(api):
    """条例613 art 74 forfeits the bid guarantee of a winner who refuses to sign; the employer's word is not that
    refusal while the contractor may still sign. Inside the period (G03: award 08-03 + 30 days → 09-02) the claim
    needs the supervising department's confirmation; once the period passed unsigned the employer claims alone."""
    c = GuaranteedContract(api, "EG-EARLY-CLAIM", e_goods(performance_guarantee_rate="0"))
    bid = c.guarantee("bid", "emp")
    claims = f"/api/v1/guarantees/{bid['id']}/claims"
    confirm = f"/api/v1/guarantees/{bid['id']}/refusal-confirmation"
    before = (c.guarantee("bid", "emp"), api.call("GET", f"/api/v1/instances/{c.id}/history?limit=500", "admin"))
    body = api.call("POST", claims, "emp", at(8, 4), json={"reason": "refused_to_sign"}, expect=422)
    [message] = body["errors"]["reason"]
    assert "2026-09-02" in message and "G03" in message and "第七十四条" in message and "2026-09-03" in message
    body = api.call("POST", claims, "emp", at(9, 5), json={"reason": "refused_to_sign", "claimed_at": "2026-09-01"},
                    expect=422)  # after the period, but dated inside it: the refusal is not established that day
    assert list(body["errors"]) == ["claimed_at"]
    # only the contract's department (or above) confirms; parties, operators and other departments do not
    for who, status in (("emp", 403), ("con2", 403), ("operator", 403), ("zj", 404)):
        api.call("POST", confirm, who, at(8, 4), json={"refused_at": "2026-08-04", "note": "n"}, expect=status)
    for bad, field in (({"refused_at": "2026-08-02", "note": "n"}, "refused_at"),     # before the award notice
                       ({"refused_at": "2026-08-05", "note": "n"}, "refused_at"),     # after today
                       ({"refused_at": "2026-08-04", "note": " "}, "note")):
        assert list(api.call("POST", confirm, "cz", at(8, 4), json=bad, expect=422)["errors"]) == [field]
    assert (c.guarantee("bid", "emp"), api.call("GET", f"/api/v1/instances/{c.id}/history?limit=500", "admin")) == before
    assert c.ready() == {"sign_contract"}

    # The period passes unsigned: from 09-03 the employer claims alone.
    filed = api.call("POST", claims, "emp", at(9, 3), json={"reason": "refused_to_sign"})
    assert filed["status"] == "claimed" and filed["claims"][0]["claimed_at"] == "2026-09-03"
    assert c.ready() == {"pay_claim"}


def test_a_confirmed_refusal_lets_the_employer_claim_inside_the_period(api):
    c = GuaranteedContract(api, "EG-CONFIRMED", e_goods(performance_guarantee_rate="0"))
    bid = c.guarantee("bid", "emp")
    confirmed = api.call("POST", f"/api/v1/guarantees/{bid['id']}/refusal-confirmation", "cz", at(8, 6),
                         json={"refused_at": "2026-08-05", "note": "中标人书面拒签函"})
    assert confirmed["events"][-1]["event"] == "refusal_confirmed" and confirmed["events"][-1]["actor"] == "cz"
    assert confirmed["events"][-1]["data"] == {"refused_at": "2026-08-05", "note": "中标人书面拒签函", "department": "CZ"}
    history = [e["action"] for e in api.call("GET", f"/api/v1/instances/{c.id}/history?limit=500", "admin")["items"]]
    assert [a for a in history if a != "ledger_row"][-1] == "refusal_confirmed"
    # a claim dated before the confirmed refusal is still refused; on or after it, accepted
    body = api.call("POST", f"/api/v1/guarantees/{bid['id']}/claims", "emp", at(8, 6),
                    json={"reason": "refused_to_sign", "claimed_at": "2026-08-04"}, expect=422)
    assert "2026-08-05" in body["errors"]["claimed_at"][0]
    filed = api.call("POST", f"/api/v1/guarantees/{bid['id']}/claims", "emp", at(8, 6), json={"reason": "refused_to_sign"})
    assert filed["claims"][0]["reason"] == "refused_to_sign" and c.ready() == {"pay_claim"}
    # nothing is left to confirm once the signing ended
    api.call("POST", f"/api/v1/guarantees/{bid['id']}/refusal-confirmation", "cz", at(8, 7),
             json={"refused_at": "2026-08-05", "note": "again"}, expect=409)


# ------------------------------------------------------------------------------------ the issuer's platform, for real
def _sign(secret: str, body: bytes) -> str:
    """The deprecated X-Lvyue-Signature (still accepted for one release)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _standard(secret: str, body: bytes, when: datetime) -> dict[str, str]:
    """Standard Webhooks headers signed by the `standardwebhooks` package at `when`."""
    msg_id = f"msg_{uuid.uuid4().hex}"
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, when, body)}


def test_the_issuers_platform_confirms_the_guarantee_by_a_signed_callback_through_the_real_server(db_url, tmp_path):
    """`lvyue serve` over HTTP on the real clock; the secret set with `lvyue orgs callback-secret`."""
    server = Server(db_url, tmp_path).start()
    try:
        database = Database(db_url)
        people = seed_people(database)
        database.dispose()
        env = dict(os.environ, DATABASE_URL=db_url)
        out = subprocess.run([sys.executable, "-m", "api.cli", "orgs", "callback-secret", "GUA"], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True)
        secret = out.stdout.strip().splitlines()[-1]
        assert len(secret) >= 32 and secret not in out.stdout.splitlines()[0]
        base = server.base + "/api/v1"

        def call(method, path, who, body=None, raw=None, headers=None, expect=200):
            auth = people.auth(who) if who else {}
            r = http.request(method, base + path, body=body, raw=raw, headers={**auth, **(headers or {})})
            assert r.status == expect, (method, path, r.status, r.body[:2000])
            return r.json()

        call("POST", "/definitions", "designer", raw=DIAGRAM.read_bytes(), headers=XML, expect=201)
        today = datetime.now(CN).date()
        data = e_goods(award_notice_date=(today - timedelta(days=2)).isoformat())
        data["milestones"][0]["planned_date"] = (today + timedelta(days=30)).isoformat()
        iid = call("POST", "/instances", "operator", body={"definition": "post_award", "business_key": "EG-HTTP",
                                                            "data": data}, expect=201)["id"]
        [task] = call("GET", f"/tasks?instance_id={iid}&element_id=submit_performance_guarantee", "con2")["items"]
        call("POST", f"/tasks/{task['id']}/complete", "con2", body={"data": {
            "guarantee_no": "EG-HTTP-1", "issuer": "中原银行郑州分行", "form": "insurance_policy", "amount": "40000.00",
            "valid_to": (today + timedelta(days=365)).isoformat(), "document_sha256": GUARANTEE_DOC}})

        path = f"/instances/{iid}/messages/guarantee_issued"
        payload = {"guarantee_no": "EG-HTTP-1", "amount": "40000.00",
                   "valid_to": (today + timedelta(days=365)).isoformat(), "document_sha256": GUARANTEE_DOC,
                   "verification_code": "YZ-778899"}
        raw = json.dumps({"payload": payload}).encode()
        json_type = {"Content-Type": "application/json"}
        # Not signed with GUA's secret: refused, whoever calls; a bearer token does not stand in for it.
        call("POST", path, None, raw=raw, headers={**json_type, "X-Lvyue-Signature": _sign("x" * 32, raw)}, expect=401)
        call("POST", path, "admin", raw=raw, headers={**json_type, "X-Lvyue-Signature": "sha256=00"}, expect=401)
        call("POST", path, None, raw=raw, headers=json_type, expect=401)  # no signature, no token
        wrong = json.dumps({"payload": {**payload, "amount": "4000.00"}}).encode()
        body = call("POST", path, None, raw=wrong, headers={**json_type, "X-Lvyue-Signature": _sign(secret, wrong)},
                    expect=422)
        assert list(body["errors"]) == ["data.amount"]

        # Per Standard Webhooks (as the issuer's platform would sign with any of its libraries): a timestamp
        # ten minutes old is refused, a fresh one accepted.
        assert secret.startswith("whsec_")
        stale = datetime.now(timezone.utc) - timedelta(minutes=10)
        call("POST", path, None, raw=raw, headers={**json_type, **_standard(secret, raw, stale)}, expect=401)
        g = call("POST", path, None, raw=raw, headers={**json_type, **_standard(secret, raw, datetime.now(timezone.utc))})
        assert g["status"] == "active" and g["guarantee_no"] == "EG-HTTP-1" and g["verification_code"] == "YZ-778899"
        assert g["events"][-1]["event"] == "verified" and g["events"][-1]["actor"] == "platform:GUA"
        [sign] = call("GET", f"/tasks?instance_id={iid}", "emp")["items"]
        assert sign["element_id"] == "sign_contract"
        history = call("GET", f"/instances/{iid}/history?limit=500", "admin")["items"]
        assert any(e["action"] == "task_completed" and e["element_id"] == "verify_guarantee"
                   and e["actor"] == "platform:GUA" for e in history)
    finally:
        server.kill()
