"""Issue 7: OCDS 1.1 export. Every release this suite produces is validated against the official 1.1.5
release schema, every package against the release package schema (docs/ocds/standard-1__1__5/schema).

Contracts are driven through the API along the on-time baseline of tests/e2e/test_post_award.py and its
deviations; each release is read at a frozen instant, so milestone statuses are those of that day.
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from engine.supervision import ocds
from tests.e2e.test_post_award import Api, Contract, at, just_after_midnight, one_milestone, procurement_goods, tendering_works

# The official OCDS 1.1.5 schemas, shipped with the repository (docs/ocds/README.md).
SHARED = Path(__file__).resolve().parents[2] / "docs" / "ocds" / "standard-1__1__5" / "schema"

FORMATS = FormatChecker()
P = ocds.DEFAULT_PREFIX


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value) -> bool:
    """RFC 3339 date-time: a full date, a time and an offset (jsonschema checks it only with extra packages)."""
    if not isinstance(value, str):
        return True
    if len(value) < 20 or value[10] != "T":
        raise ValueError(f"not an RFC 3339 date-time: {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"no offset: {value!r}")
    return True


@FORMATS.checks("uri", raises=ValueError)
def _uri(value) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not an absolute URI: {value!r}")
    return True


def _schema(name: str) -> dict:
    return json.loads((SHARED / name).read_text(encoding="utf-8"))


RELEASE_SCHEMA = _schema("release-schema.json")
PACKAGE_SCHEMA = _schema("release-package-schema.json")
REGISTRY = Registry().with_resource(RELEASE_SCHEMA["id"], Resource.from_contents(RELEASE_SCHEMA, default_specification=DRAFT4))
RELEASE = Draft4Validator(RELEASE_SCHEMA, format_checker=FORMATS)
PACKAGE = Draft4Validator(PACKAGE_SCHEMA, format_checker=FORMATS, registry=REGISTRY)


def valid_release(release: dict) -> dict:
    errors = sorted(RELEASE.iter_errors(release), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:20])
    return release


def valid_package(package: dict) -> dict:
    errors = sorted(PACKAGE.iter_errors(package), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:20])
    for release in package["releases"]:
        valid_release(release)
    return package


def test_the_validators_do_check():
    """The schema really is enforced here (a wrong status, a naive date, a missing ocid are refused)."""
    good = {"ocid": "ocds-a1b2c3-X", "id": "1", "date": "2026-10-01T00:00:00+08:00", "tag": ["implementation"],
            "initiationType": "tender"}
    valid_release(good)
    for bad in ({**good, "date": "2026-10-01T00:00:00"}, {k: v for k, v in good.items() if k != "ocid"},
                {**good, "tag": ["done"]},
                {**good, "contracts": [{"id": "c", "awardID": "a", "implementation": {"milestones": [
                    {"id": "m", "status": "late"}]}}]},
                {**good, "contracts": [{"id": "c", "awardID": "a", "value": {"amount": "1.00", "currency": "CNY"}}]}):
        assert list(RELEASE.iter_errors(bad)), bad
    assert list(PACKAGE.iter_errors({"uri": "x", "version": "1.1", "publishedDate": good["date"],
                                     "publisher": {"name": "p"}, "releases": []}))


def release_of(api: Api, key: str, when: datetime, who: str = "admin", expect: int = 200) -> dict:
    body = api.call("GET", f"/api/v1/contracts/{key}/ocds", who, when, expect)
    return valid_release(body) if expect == 200 else body


def package_of(api: Api, month: str, when: datetime, who: str = "admin", expect: int = 200) -> dict:
    body = api.call("GET", f"/api/v1/ocds/releases?month={month}", who, when, expect)
    return valid_package(body) if expect == 200 else body


def by_id(items: list[dict]) -> dict[str, dict]:
    return {i["id"]: i for i in items}


def test_a_contract_performed_on_time_is_one_release_with_its_parties_milestones_and_payments(api):
    c = Contract(api, "OCDS-1", procurement_goods())
    c.run()
    release = release_of(api, "OCDS-1", at(10, 1))
    assert release["ocid"] == f"{P}OCDS-1" and P == "ocds-xxxxxx-"  # the placeholder prefix (README "Configuration")
    # Tagged by what it carries: the award, the contract, its implementation, and its close (completed).
    assert release["tag"] == ["award", "contract", "implementation", "contractTermination"]
    assert release["initiationType"] == "tender" and release["date"] == "2026-10-01T02:00:00+00:00"
    assert release["id"].startswith(f"{P}OCDS-1-")
    parties = by_id(release["parties"])
    assert parties["org-EMP"] == {"id": "org-EMP", "name": "org EMP", "roles": ["buyer", "payer"]}
    assert parties["org-CON2"]["roles"] == ["supplier", "payee"] and parties["org-CON2"]["details"] == {"scale": "sme"}
    assert parties["dept-CZ"] == {"id": "dept-CZ", "name": "财政局", "roles": ["reviewBody"]}
    assert release["buyer"] == {"id": "org-EMP", "name": "org EMP"}
    [award] = release["awards"]
    assert award["date"] == "2026-08-03T00:00:00+08:00" and award["suppliers"] == [{"id": "org-CON2", "name": "org CON2"}]
    [contract] = release["contracts"]
    assert contract["awardID"] == award["id"] and contract["status"] == "terminated"  # completed
    assert contract["value"] == {"amount": 800000, "currency": "CNY"} and contract["dateSigned"] == "2026-08-12T00:00:00+08:00"
    signing, filing = contract["milestones"]
    assert (signing["code"], signing["status"], signing["dateMet"]) == ("contractSigning", "met", "2026-08-12T00:00:00+08:00")
    assert signing["dueDate"] == "2026-09-02T23:59:59+08:00"                    # G03: 30 days from 08-03
    assert (filing["code"], filing["status"], filing["dueDate"]) == ("contractFiling", "met", "2026-08-21T23:59:59+08:00")

    implementation = contract["implementation"]
    milestones = by_id(implementation["milestones"])
    assert [m["type"] for m in implementation["milestones"]] == ["delivery", "delivery", "payment"] * 2
    d1, a1, p1 = (milestones[f"OCDS-1-m1-{k}"] for k in ("delivery", "acceptance", "payment"))
    assert (d1["status"], d1["dueDate"], d1["dateMet"]) == ("met", "2026-08-31T23:59:59+08:00", "2026-08-28T00:00:00+08:00")
    assert (a1["code"], a1["status"], a1["dateMet"]) == ("acceptance", "met", "2026-08-31T00:00:00+08:00")
    assert (p1["status"], p1["dueDate"], p1["dateMet"]) == ("met", "2026-09-30T23:59:59+08:00", "2026-09-04T00:00:00+08:00")
    assert milestones["OCDS-1-m2-payment"]["dateMet"] == "2026-09-18T00:00:00+08:00"
    # OCDS 1.1.5: a payment milestone that is met has its transaction.
    transactions = implementation["transactions"]
    assert [(t["date"], t["value"], t["payer"], t["payee"]) for t in transactions] == [
        ("2026-09-04T00:00:00+08:00", {"amount": 400000, "currency": "CNY"}, {"id": "org-EMP", "name": "org EMP"},
         {"id": "org-CON2", "name": "org CON2"}),
        ("2026-09-18T00:00:00+08:00", {"amount": 400000, "currency": "CNY"}, {"id": "org-EMP", "name": "org EMP"},
         {"id": "org-CON2", "name": "org CON2"})]
    assert len({t["id"] for t in transactions}) == 2
    # Each payment is linked to the milestone it pays (transaction milestones extension).
    assert [t["relatedImplementationMilestone"] for t in transactions] == [
        {"id": "OCDS-1-m1-payment", "title": p1["title"]}, {"id": "OCDS-1-m2-payment", "title": "第二批设备：付款 payment"}]
    assert p1["title"] == "首批设备：付款 payment"
    # Completed: the final value is what was paid, the end date the completion's (contract completion extension).
    assert implementation["finalValue"] == {"amount": 800000, "currency": "CNY"} and "finalValueDetails" not in implementation
    assert implementation["endDate"].startswith("2026-09-")

    # The same content read again keeps its id; a change makes a new one.
    assert release_of(api, "OCDS-1", at(10, 2))["id"] == release["id"]


def test_late_unpaid_partially_paid_and_future_milestones_carry_their_status(api):
    c = Contract(api, "OCDS-2", tendering_works(milestones=[
        {"name": "主体结构", "amount": "600000.00", "planned_date": "2026-08-31"},
        {"name": "竣工验收", "amount": "600000.00", "planned_date": "2026-12-15"}]))
    c.run(until="deliver1")
    d = Contract(api, "OCDS-3", one_milestone(tendering_works(bid_bond={"form": "exempt"})))
    d.run(until="pay1")

    # 09-02: OCDS-2's delivery (due 08-31 24:00) is late, OCDS-3 is accepted and its payment is not yet due.
    api.tick(at(9, 2))
    late = release_of(api, "OCDS-2", at(9, 2))
    m = by_id(late["contracts"][0]["implementation"]["milestones"])
    assert m["OCDS-2-m1-delivery"]["status"] == "notMet" and "dateMet" not in m["OCDS-2-m1-delivery"]
    assert m["OCDS-2-m2-delivery"]["status"] == "scheduled" and m["OCDS-2-m2-delivery"]["dueDate"] == "2026-12-15T23:59:59+08:00"
    assert m["OCDS-2-m1-payment"]["status"] == "scheduled" and "dueDate" not in m["OCDS-2-m1-payment"]  # not accepted yet
    assert late["contracts"][0]["status"] == "active" and "transactions" not in late["contracts"][0]["implementation"]
    assert late["tag"] == ["award", "contract", "implementation"] and "finalValue" not in late["contracts"][0]["implementation"]
    assert release_of(api, "OCDS-3", at(9, 2))["contracts"][0]["implementation"]["milestones"][2]["status"] == "scheduled"

    c.step("deliver1", at(9, 3), delivered_at="2026-09-03")
    c.step("accept1", at(9, 4), accepted_at="2026-09-04")
    c.step("invoice1", at(9, 4, hour=15))
    c.step("pay1", at(9, 10), paid_at="2026-09-10", amount="200000.00")
    api.tick(just_after_midnight(10, 1))
    # 10-01: OCDS-2 m1 partly paid (due: 30 days from the acceptance of 09-04 → 10-04, National Day → 10-08); OCDS-3's payment (P01: 30 days from the acceptance of 08-31 → 09-30) unpaid.
    part = release_of(api, "OCDS-2", just_after_midnight(10, 1))
    m = by_id(part["contracts"][0]["implementation"]["milestones"])
    assert m["OCDS-2-m1-delivery"]["status"] == "met" and m["OCDS-2-m1-delivery"]["dateMet"] == "2026-09-03T00:00:00+08:00"
    assert m["OCDS-2-m1-payment"]["status"] == "partiallyMet" and m["OCDS-2-m1-payment"]["dueDate"] == "2026-10-08T23:59:59+08:00"
    [tx] = part["contracts"][0]["implementation"]["transactions"]
    assert tx["value"] == {"amount": 200000, "currency": "CNY"} and tx["date"] == "2026-09-10T00:00:00+08:00"
    unpaid = release_of(api, "OCDS-3", just_after_midnight(10, 1))
    pay = unpaid["contracts"][0]["implementation"]["milestones"][2]
    assert (pay["type"], pay["status"], pay["dueDate"]) == ("payment", "notMet", "2026-09-30T23:59:59+08:00")
    assert "transactions" not in unpaid["contracts"][0]["implementation"]  # empty arrays are left out

    # A monthly package: every contract with implementation activity in September, each release valid.
    package = package_of(api, "2026-09", just_after_midnight(10, 1))
    assert package["version"] == "1.1" and package["publisher"]["name"]
    assert package["uri"].endswith("/api/v1/ocds/releases?month=2026-09")
    assert [r["ocid"] for r in package["releases"]] == [f"{P}OCDS-2", f"{P}OCDS-3"] and "links" not in package
    # Paginated (issue 20): one release a package, the next one at links.next, the last without a next link.
    first = api.call("GET", "/api/v1/ocds/releases?month=2026-09&limit=1", "admin", just_after_midnight(10, 1))
    assert [r["ocid"] for r in valid_package(first)["releases"]] == [f"{P}OCDS-2"]
    following = first["links"]["next"]
    assert following.startswith("http://localhost/api/v1/ocds/releases?month=2026-09&cursor=")
    second = api.call("GET", following.removeprefix("http://localhost"), "admin", just_after_midnight(10, 1))
    assert [r["ocid"] for r in valid_package(second)["releases"]] == [f"{P}OCDS-3"] and "links" not in second
    for bad in ("limit=0", "limit=501", "cursor=not-a-cursor"):
        body = api.call("GET", f"/api/v1/ocds/releases?month=2026-09&{bad}", "admin", just_after_midnight(10, 1), 422)
        assert bad.split("=")[0] in body["errors"]
    assert package_of(api, "2026-08", just_after_midnight(10, 1))["releases"][0]["ocid"] == f"{P}OCDS-2"
    body = package_of(api, "2025-01", just_after_midnight(10, 1), expect=404)
    assert "2025-01" in body["detail"]


def test_who_may_read_releases_and_packages(api):
    Contract(api, "OCDS-ZJ", one_milestone(tendering_works())).run(until="deliver1")
    Contract(api, "OCDS-CZ", one_milestone(procurement_goods())).run(until="deliver1")
    when = at(9, 1)
    for who in ("admin", "operator", "zj", "emp", "con"):
        release_of(api, "OCDS-ZJ", when, who)
    for who in ("cz", "con2", "other", "designer"):
        release_of(api, "OCDS-ZJ", when, who, expect=404)
    release_of(api, "NO-SUCH", when, expect=404)
    assert [r["ocid"] for r in package_of(api, "2026-08", when, "zj")["releases"]] == [f"{P}OCDS-ZJ"]
    assert [r["ocid"] for r in package_of(api, "2026-08", when, "con2")["releases"]] == [f"{P}OCDS-CZ"]
    assert len(package_of(api, "2026-08", when, "emp")["releases"]) == 2
    package_of(api, "2026-08", when, "other", expect=404)
    package_of(api, "2026-08", when, "designer", expect=403)
    body = api.call("GET", "/api/v1/ocds/releases?month=2026-8", "admin", expect=422)
    assert list(body["errors"]) == ["month"]


def test_the_ocid_prefix_is_configurable(api, app):
    Contract(api, "OCDS-P", one_milestone(tendering_works())).run(until="deliver1")
    state = app.extensions["lvyue"]
    state.settings = state.settings.override({"LVYUE_OCID_PREFIX": "ocds-a1b2c3-"})
    release = release_of(api, "OCDS-P", at(9, 1))
    assert release["ocid"] == "ocds-a1b2c3-OCDS-P" and release["id"].startswith("ocds-a1b2c3-OCDS-P-")


GUARANTEES_EXTENSION = "https://raw.githubusercontent.com/INAImexico/ocds_guarantees_extension/master/extension.json"


def test_an_extension_adds_to_every_release_and_is_listed_in_the_package(api):
    Contract(api, "OCDS-EXT", one_milestone(procurement_goods())).run(until="deliver1")
    before = package_of(api, "2026-08", at(9, 1)).get("extensions", [])
    calls = []

    def surety(session, instance, release):
        calls.append(instance.business_key)
        data = instance.data
        release["contracts"][0].setdefault("guarantees", []).append({
            "id": f"TEST-{data['guarantee_no']}", "type": "suretyBond", "obligations": ["fulfillment"],
            "value": {"amount": ocds.amount(data["guarantee_amount"]), "currency": "CNY"},
            "guarantor": {"id": "org-BOC", "name": data["issuer"]}})

    ocds.register_extension(surety, GUARANTEES_EXTENSION)
    try:
        release = release_of(api, "OCDS-EXT", at(9, 1))
        [mine] = [g for g in release["contracts"][0]["guarantees"] if g["id"].startswith("TEST-")]
        assert mine["id"] == "TEST-BG-2026-0815" and mine["value"] == {"amount": 40000, "currency": "CNY"}
        package = package_of(api, "2026-08", at(9, 1))
        assert package["extensions"] == list(dict.fromkeys([*before, GUARANTEES_EXTENSION]))
        assert calls == ["OCDS-EXT", "OCDS-EXT"]
    finally:
        ocds.unregister_extension(surety)
    after = release_of(api, "OCDS-EXT", at(9, 1))
    assert not [g for g in after["contracts"][0].get("guarantees", []) if g["id"].startswith("TEST-")]
    assert package_of(api, "2026-08", at(9, 1)).get("extensions", []) == before


def test_the_reported_month_exports_as_a_valid_package(api):
    """The month of tests/integration/test_reports.py: on-time, late, in arrears, partly paid, a bond held."""
    from tests.integration.test_reports import october

    october(api)
    package = package_of(api, "2026-10", just_after_midnight(11, 1))
    releases = {r["ocid"].removeprefix(P): r for r in package["releases"]}
    assert set(releases) == {"RPT-ON-TIME", "RPT-LATE", "RPT-ARREARS", "RPT-BOND", "RPT-CZ"}
    status = {key: {m["id"].removeprefix(f"{key}-"): m["status"] for m in r["contracts"][0]["implementation"]["milestones"]}
              for key, r in releases.items()}
    assert status["RPT-ON-TIME"]["m1-payment"] == "met" and status["RPT-LATE"]["m1-payment"] == "met"
    assert status["RPT-ARREARS"]["m1-payment"] == "partiallyMet" and status["RPT-ARREARS"]["m2-payment"] == "notMet"
    assert status["RPT-BOND"]["m1-delivery"] == "scheduled"
    assert [c["status"] for c in releases["RPT-CZ"]["contracts"]] == ["pending"]
    assert releases["RPT-ON-TIME"]["contracts"][0]["status"] == "terminated"
    assert sum(len(r["contracts"][0]["implementation"].get("transactions", [])) for r in releases.values()) == 4


def test_a_signed_supplementary_contract_is_an_amendment_of_its_contracts_release(api, client, people, app, tmp_path):
    """A supplement (补充合同, bpmn/supplementary_contract.bpmn) names its contract by project code and contract
    number: it is an amendment in that contract's release (tag contractAmendment), not a release of its own."""
    from tests.e2e.test_supplementary import Supplement
    from tests.ocds_review import review

    Contract(api, "OCDS-AM", one_milestone(procurement_goods())).run(until="deliver1")  # signed as HT-2026-001
    Contract(api, "OCDS-OTHER", one_milestone(procurement_goods(project_code="ZZ-CG-2026-999"))).run(until="deliver1")
    before = release_of(api, "OCDS-AM", at(9, 1))
    assert "amendments" not in before["contracts"][0] and "contractAmendment" not in before["tag"]
    s = Supplement(client, people, app, "SUP-AM", "gov_procurement", "50000.00", original_amount="800000.00")
    assert "amendments" not in release_of(api, "OCDS-AM", at(9, 9))["contracts"][0]  # proposed, not signed yet
    s.sign(at(9, 10))
    s.publish(at(9, 11))
    after = release_of(api, "OCDS-AM", at(9, 12))
    assert after["contracts"][0]["amendments"] == [{
        "id": "SUP-AM", "date": "2026-09-10T00:00:00+08:00",
        "rationale": "补充合同 supplementary contract SUP-AM: change of 50000.00 CNY",
        "description": "under review; published 2026-09-11"}]
    assert after["tag"] == ["award", "contract", "contractAmendment", "implementation"] and after["id"] != before["id"]
    # The same contract number under another project is another contract.
    assert "amendments" not in release_of(api, "OCDS-OTHER", at(9, 12))["contracts"][0]

    package = package_of(api, "2026-09", at(10, 1))
    ocids = [r["ocid"] for r in package["releases"]]
    assert f"{P}OCDS-AM" in ocids and f"{P}SUP-AM" not in ocids
    [mine] = [r for r in package["releases"] if r["ocid"] == f"{P}OCDS-AM"]
    assert [a["id"] for a in mine["contracts"][0]["amendments"]] == ["SUP-AM"]
    report = review(package, tmp_path)
    assert (report["validation_errors"], report.get("conformance_errors"), report["additional_fields"]) == ([], None, [])
