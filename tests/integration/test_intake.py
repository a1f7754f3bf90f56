"""Issue 21, acceptance 1: the trading platform's awards enter as OCDS 1.1 release packages (the shipped sample
package, engine/supervision/samples/), idempotently, and an award starts its post_award contract with its
parties, amounts and dates filled in; the award's value stays for the signed-vs-award check."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from click.testing import CliRunner

from api import cli
from engine.access import directory
from engine.settings import Settings
from engine.storage.db import Database
from engine.storage.models import Organisation, OrgIdentifier, RiskLead, Tender, TenderAward, TenderBid, TenderParty, TradeRelease
from engine.supervision import intake
from tests.e2e.test_post_award import at, tendering_works

SAMPLE = Path(intake.__file__).parent / "samples" / "tenders-2026-09-10.json"
B2 = "91410103MA0000002C"   # 市水务投资有限公司, the buyer of T3
S3 = "91410303MA00000050"   # 河南宏达建设有限公司 (Luoyang, SME), the winner of T3


def sample() -> dict:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


def post_package(api, package, who="operator", expect=200, when=None):
    return api.call("POST", "/api/v1/ocds/import", who, when or at(11, 1), expect,
                    data=json.dumps(package, ensure_ascii=False).encode(), headers={"Content-Type": "application/json"})


def counts(db: Database) -> dict[str, int]:
    with db.read() as s:
        return {m.__tablename__: s.query(m).count() for m in (TradeRelease, Tender, TenderParty, TenderBid, TenderAward)}


def award_of(api, ocid: str) -> dict:
    [award] = api.call("GET", f"/api/v1/awards?ocid={ocid}", "operator")["items"]
    return award


def test_the_sample_package_imports_and_importing_it_again_changes_nothing(api):
    first = post_package(api, sample())
    assert first["releases"] == 8 and len(first["created"]) == 8 and first["updated"] == [] and first["unchanged"] == []
    assert (first["tenders"], first["awards"]) == (7, 6)
    before = counts(api.db)
    assert before == {"trade_releases": 8, "tenders": 7, "tender_parties": 7 * 2 + 21, "tender_bids": 21, "tender_awards": 6}
    t1 = api.call("GET", "/api/v1/tenders/ocds-sample-ZZ2026-T1", "operator")
    # T1 came in two releases: the tender with its bids, then the award (merged by ids).
    assert (t1["sector"], t1["procedure"], t1["department"], t1["ceiling"], t1["opened_on"]) == (
        "works", "open", "ZJ", "5000000.00", "2026-09-03")
    assert [(b["tenderer_name"], b["amount"]) for b in t1["bids"]] == [
        ("中原建工集团有限公司", "4650000.00"), ("河南宏达建设有限公司", "4720000.00"), ("湖北楚天工程有限公司", "4800000.00")]
    [award] = t1["awards"]
    assert (award["status"], award["amount"], award["date"], award["supplier"]) == (
        "active", "4650000.00", "2026-09-10", "CN-USCC:91410105MA0000003C")

    again = post_package(api, sample())
    assert again["unchanged"] == first["created"] and again["created"] == again["updated"] == []
    assert counts(api.db) == before
    assert api.call("GET", "/api/v1/tenders/ocds-sample-ZZ2026-T1", "operator") == t1

    # A later release of a known process (a new id) updates it.
    later = sample()
    [t7] = [r for r in later["releases"] if r["ocid"] == "ocds-sample-ZZ2026-T7"]
    t7 = {**copy.deepcopy(t7), "id": "ocds-sample-ZZ2026-T7-award", "date": "2026-11-05T09:00:00+08:00",
          "tag": ["award"], "awards": [{"id": "T7-award-1", "status": "active", "date": "2026-11-05T09:00:00+08:00",
                                        "value": {"amount": 1420000, "currency": "CNY"},
                                        "suppliers": [{"id": t7["bids"]["details"][0]["tenderers"][0]["id"]}]}]}
    t7.pop("tender"), t7.pop("bids"), t7.pop("parties")  # the tenderer is known from the earlier release
    later["releases"] = [t7]
    out = post_package(api, later)
    assert out["updated"] == ["ocds-sample-ZZ2026-T7-award"] and out["awards"] == 1
    assert award_of(api, "ocds-sample-ZZ2026-T7")["amount"] == "1420000.00"


def test_the_cli_imports_the_sample_idempotently(db_url, tmp_path):
    env = {name: None for name in Settings.variables()}
    env.update(DATABASE_URL=db_url, LVYUE_INSTANCE_PATH=str(tmp_path))
    first = CliRunner().invoke(cli.main, ["ocds", "import", str(SAMPLE)], env=env)
    assert first.exit_code == 0, first.output
    assert first.output.strip() == "8 releases: 8 created, 0 updated, 0 unchanged; 7 tenders, 6 awards"
    again = CliRunner().invoke(cli.main, ["ocds", "import", str(SAMPLE)], env=env)
    assert again.output.strip() == "8 releases: 0 created, 0 updated, 8 unchanged; 0 tenders, 0 awards"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"releases": []}))
    refused = CliRunner().invoke(cli.main, ["ocds", "import", str(bad)], env=env)
    assert refused.exit_code == 1 and "uri" in refused.output


def _broken(mutate) -> dict:
    package = sample()
    mutate(package["releases"])
    return package


def test_bad_packages_are_refused_naming_the_field_and_change_nothing(api):
    cases = {
        # the official schema: a closed codelist, a date without offset, a missing required field
        "releases.2.tender.procurementMethod": lambda rs: rs[2]["tender"].update(procurementMethod="auction"),
        "releases.0.date": lambda rs: rs[0].update(date="2026-09-03T09:00:00"),
        "releases.1.initiationType": lambda rs: rs[1].pop("initiationType"),
        # what Lvyue reads: a wrong check character, a fen fraction, a foreign currency, a dangling reference
        "releases.2.parties.1.identifier.id": lambda rs: rs[2]["parties"][1]["identifier"].update(id="91410105MA0000003D"),
        "releases.3.bids.details.0.value.amount": lambda rs: rs[3]["bids"]["details"][0]["value"].update(amount=820000.001),
        "releases.3.awards.0.value.currency": lambda rs: rs[3]["awards"][0]["value"].update(currency="USD"),
        "releases.4.bids.details.1.tenderers.0.id": lambda rs: rs[4]["bids"]["details"][1]["tenderers"][0].update(id="org-X"),
        "releases.4.parties.0.identifier": lambda rs: rs[4]["parties"][0].pop("identifier"),
        "releases.5.bids.details.0.documents.0.hash": lambda rs: rs[5]["bids"]["details"][0]["documents"][0].update(hash="abc"),
        # a bidder named only by roles that need no identifier is still a bidder: it needs one
        "releases.6.bids.details.0.tenderers.0.id": lambda rs: (rs[6]["parties"][1].pop("identifier"),
                                                                rs[6]["parties"][1].update(roles=["interestedParty"])),
    }
    for field, mutate in cases.items():
        body = post_package(api, _broken(mutate), expect=422)
        assert field in body["errors"], (field, body["errors"])
    assert counts(api.db) == dict.fromkeys(("trade_releases", "tenders", "tender_parties", "tender_bids", "tender_awards"), 0)

    post_package(api, sample())
    changed = sample()
    changed["releases"][0]["tender"]["title"] = "另一个标题"
    body = post_package(api, changed, expect=409)
    assert list(body["errors"]) == ["releases.0.id"]
    assert api.call("GET", "/api/v1/tenders/ocds-sample-ZZ2026-T1", "operator")["title"] == "第一中学操场改造工程"
    too_many = {**sample(), "releases": sample()["releases"] * (intake.MAX_RELEASES // 8 + 1)}
    assert "releases" in post_package(api, too_many, expect=422)["errors"]
    for who, status in (("con", 403), ("zj", 403), ("designer", 403)):
        post_package(api, sample(), who, expect=status)
    api.call("GET", "/api/v1/tenders/ocds-sample-ZZ2026-T1", "con", expect=403)
    api.call("GET", "/api/v1/tenders/ocds-sample-ZZ2026-T2", "zj", expect=404)  # CZ's tender
    api.call("GET", "/api/v1/tenders/ocds-sample-ZZ2026-T1", "zj")


def rest_of_start(**over) -> dict:
    """What the operator confirms beyond the award: track, bid bond, guarantee and retention rates, periods,
    milestones."""
    data = {k: v for k, v in tendering_works(tendering_reported_at=None).items() if k not in intake.FROM_AWARD}
    data["milestones"] = [{"name": "管网主体", "amount": "6000000.00", "planned_date": "2026-12-31"},
                          {"name": "竣工验收", "amount": "5050000.00", "planned_date": "2027-03-31"}]
    data.update(over)
    return data


def test_an_award_starts_its_contract_with_parties_amounts_and_dates_filled(api):
    post_package(api, sample())
    award = award_of(api, "ocds-sample-ZZ2026-T3")
    when = at(10, 12)
    path = f"/api/v1/awards/{award['id']}/contract"
    # A field the award gives may not be given otherwise.
    body = api.call("POST", path, "operator", when, 422,
                    json={"business_key": "ZZ-T3", "data": rest_of_start(contract_amount="12000000.00")})
    assert list(body["errors"]) == ["data.contract_amount"]
    api.call("POST", path, "zj", when, 403, json={"business_key": "ZZ-T3", "data": rest_of_start()})

    started = api.call("POST", path, "operator", when, 201, json={"business_key": "ZZ-T3", "data": rest_of_start()})
    data = started["data"]
    assert (data["project_code"], data["project_name"], data["category"], data["track"]) == (
        "ZZ2026-T3", "水厂二期管网工程", "works", "tendering")
    assert (data["award_notice_date"], data["contract_amount"]) == ("2026-10-09", "11050000.00")
    assert (data["employer"], data["contractor"], data["department"]) == (B2, S3, "ZJ")
    with api.db.read() as s:
        contractor = s.get(Organisation, S3)
        assert (contractor.name, contractor.sme) == ("河南宏达建设有限公司", True)
        assert s.get(OrgIdentifier, ("CN-USCC", S3)).org_code == S3
        assert s.get(Organisation, B2).name == "市水务投资有限公司"

    # One contract per award; the award knows it.
    again = api.call("POST", path, "operator", when, 409, json={"business_key": "ZZ-T3b", "data": rest_of_start()})
    assert "already" in again["detail"]
    view = api.call("GET", f"/api/v1/awards/{award['id']}", "zj")
    assert view["instance_id"] == started["id"] and view["contract"]["business_key"] == "ZZ-T3"
    assert view["contract"]["signed_vs_award"] is None   # not signed yet

    # The signed-vs-award check: the employer signs for 20 000.00 more than awarded.
    with api.db.transaction() as s:
        _, token = directory.add_user(s, "water", "party", B2)
    api.people.tokens["water"] = token
    api.act(started["id"], "sign_contract", "water", at(10, 20), {
        "signed_at": "2026-10-20", "contract_no": "HT-T3", "document_sha256": "a" * 64, "amount": "11070000.00"})
    check = api.call("GET", f"/api/v1/awards/{award['id']}", "operator")["contract"]["signed_vs_award"]
    assert check == {"award": "11050000.00", "signed": "11070000.00", "difference": "20000.00", "matches": False}

    # A second award of the same buyer matches the organisation made from the first (by identifier).
    t4 = award_of(api, "ocds-sample-ZZ2026-T4")
    data4 = rest_of_start(track="gov_procurement", bid_bond={"amount": "5000.00", "form": "cash"},
                          retention_rate="0", performance_guarantee_rate="5",
                          milestones=[{"name": "全部", "amount": "575000.00", "planned_date": "2026-12-15"}])
    data4.pop("defect_liability_months")
    four = api.call("POST", f"/api/v1/awards/{t4['id']}/contract", "operator", at(10, 16), 201,
                    json={"business_key": "ZZ-T4", "data": data4})
    assert four["data"]["employer"] == B2 and four["data"]["department"] == "CZ"
    with api.db.read() as s:
        assert s.query(OrgIdentifier).filter_by(org_code=B2).count() == 1


def test_an_award_to_a_consortium_starts_its_contract_with_every_member_bound(api):
    package = sample()
    t3 = package["releases"][3]
    assert t3["ocid"] == "ocds-sample-ZZ2026-T3"
    partner = "org-91420102MA0000006E"  # a tenderer of T3, joining the winner as a consortium member
    t3["awards"][0]["suppliers"].append({"id": partner, "name": "湖北楚天工程有限公司"})
    next(p for p in t3["parties"] if p["id"] == partner)["roles"].append("supplier")
    post_package(api, package)
    award = award_of(api, "ocds-sample-ZZ2026-T3")
    assert award["consortium"] == ["org-91410303MA00000050", partner]
    started = api.call("POST", f"/api/v1/awards/{award['id']}/contract", "operator", at(10, 12), 201,
                       json={"business_key": "ZZ-T3-JV", "data": rest_of_start()})
    assert started["data"]["contractor"] == S3
    assert started["data"]["consortium"] == {"lead": S3, "members": [S3, "91420102MA0000006E"]}
    # an award naming a supplier twice is refused
    twice = sample()
    twice["releases"][3]["awards"][0]["suppliers"].append({"id": "org-91410303MA00000050"})
    assert "releases.3.awards.0.suppliers.1.id" in post_package(api, twice, expect=422)["errors"]


def test_the_demo_imports_the_sample_tenders_once(db):
    from engine.supervision import demo
    from tests.conftest import ROOT

    lines = list(demo.seed(db, ROOT / "bpmn"))
    assert "sample tenders (tenders-2026-09-10.json): 8 releases imported, 0 unchanged; 0 risk leads" in lines
    # The planted pair of the November sample: one bid-rigging lead to the demo's discipline inspection.
    assert "sample tenders (collusion-2026-11.json): 3 releases imported, 0 unchanged; 1 risk leads" in lines
    lines = list(demo.seed(db, ROOT / "bpmn"))
    assert "sample tenders (tenders-2026-09-10.json): 0 releases imported, 8 unchanged; 0 risk leads" in lines
    assert "sample tenders (collusion-2026-11.json): 0 releases imported, 3 unchanged; 0 risk leads" in lines
    assert counts(db)["tenders"] == 10
    with db.read() as s:
        [lead] = s.query(RiskLead).all()
    assert (lead.lead_type, lead.department_code, lead.to_department) == ("bid_rigging", "ZJ", "JW")
    assert lead.ocids == [f"ocds-sample-ZZ2026-C{n}" for n in (1, 2, 3)] and lead.indicators == ["K01", "K02", "K06"]


def test_concurrent_imports_and_starts_on_postgresql(pg_migrated, tmp_path):
    """Two imports of the same package at once: each either imports or is 409, never 500, and the rows are
    those of one import; two starts of the same award at once: one contract."""
    import threading

    from engine import clock
    from engine.access.directory import Principal
    from engine.errors import Conflict
    from engine.runtime import definitions
    from engine.usecases import instances
    from tests.conftest import _truncate_pg, seed_people

    _truncate_pg(pg_migrated)
    db = Database(pg_migrated)
    seed_people(db)
    operator = Principal(0, "operator", "operator")
    outcomes: list = []

    def run(fn):
        try:
            outcomes.append(fn())
        except Conflict as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=run, args=(lambda: intake.import_package(db, operator, sample()),)) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(outcomes) == 2 and any(isinstance(o, dict) and len(o["created"]) == 8 for o in outcomes), outcomes
    assert counts(db)["tenders"] == 7 and counts(db)["tender_bids"] == 21
    assert len(intake.import_package(db, operator, sample())["unchanged"]) == 8

    definitions.deploy(db, Principal(0, "designer", "designer"),
                       (Path(__file__).resolve().parents[2] / "bpmn" / "post_award.bpmn").read_bytes())
    with db.read() as s:
        award = s.query(TenderAward).filter_by(ocid="ocds-sample-ZZ2026-T3").one()
    outcomes.clear()

    def start(key):
        with clock.frozen_at(at(10, 12)):
            data = intake.contract_start_data(db, operator, award.id, rest_of_start())
            return instances.start(db, operator, "post_award", None, key, data, within=intake.link_award(award.id, operator))

    threads = [threading.Thread(target=run, args=(lambda k=k: start(k),)) for k in ("RACE-1", "RACE-2")]
    [t.start() for t in threads]
    [t.join() for t in threads]
    started = [o for o in outcomes if isinstance(o, dict)]
    assert len(started) == 1 and sum(isinstance(o, Conflict) for o in outcomes) == 1, outcomes
    with db.read() as s:
        assert s.get(TenderAward, award.id).instance_id == started[0]["id"]
        from engine.storage.models import Instance
        assert s.query(Instance).count() == 1
    db.dispose()


def test_hostile_bodies_are_refused_before_anything_is_read(api):
    def raw(body: bytes, expect: int) -> dict:
        return api.call("POST", "/api/v1/ocds/import", "operator", at(11, 1), expect, data=body,
                        headers={"Content-Type": "application/json"})

    raw(b"{not json", 400)
    assert "body" in raw(b"[" * 40 + b"]" * 40, 400)["errors"]        # deeper than strictjson allows
    big = raw(b'{"releases": [' + b" " * intake.MAX_PACKAGE_BYTES + b"]}", 413)
    assert "body" in big["errors"]
    assert "releases.0.date" in raw(json.dumps({**sample(), "releases": [{**sample()["releases"][0], "date": 5}]}).encode(), 422)["errors"]
    assert raw(b'"a string"', 422)["errors"] == {"body": ["must be a JSON object"]}
    assert counts(api.db)["trade_releases"] == 0


def test_without_the_official_schemas_the_import_is_503_and_changes_nothing(api, app, tmp_path):
    state = app.extensions["lvyue"]
    state.settings = state.settings.override({"LVYUE_OCDS_SCHEMA_DIR": str(tmp_path / "nowhere")})
    body = post_package(api, sample(), expect=503)
    assert "LVYUE_OCDS_SCHEMA_DIR" in body["detail"]
    assert counts(api.db)["trade_releases"] == 0
