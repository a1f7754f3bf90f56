"""Issue 21, acceptance 2: on a package with planted collusion — two bidders sharing a phone number, bidding
within 0.1 % of each other in three tenders and winning them in turn — the indicators flag exactly that pair
and those tenders, and a bid-rigging lead carries the evidence to the department the route names."""
from __future__ import annotations

import json
from decimal import Decimal

from engine.access import directory
from engine.supervision import intake, risk
from tests.e2e.test_post_award import at


def uscc(region: str, n: int) -> str:
    body = f"91{region}MA{n:07d}"
    return body + intake.uscc_check(body)


FIRMS = {  # name, region, phone
    "A": ("甲建设有限公司", "410105", "0371-68880001"),
    "B": ("乙建设有限公司", "410102", "0371 6888 0001"),   # A's number, written otherwise
    "C": ("丙工程有限公司", "410303", "0379-62220011"),
    "D": ("丁建筑有限公司", "420102", "027-63330012"),
    "E": ("戊市政有限公司", "410702", "0373-65550013"),
}
KEYS = {f: "CN-USCC:" + uscc(FIRMS[f][1], n) for n, f in enumerate(FIRMS, start=1)}
BUYER = uscc("410103", 99)


def party(firm: str, roles: list[str]) -> dict:
    name, _, phone = FIRMS[firm]
    return {"id": f"org-{firm}", "name": name, "roles": roles, "identifier": {"scheme": "CN-USCC", "id": KEYS[firm].removeprefix("CN-USCC:")},
            "contactPoint": {"telephone": phone}, "address": {"streetAddress": f"{name}路{len(name)}号"},
            "details": {"legalRepresentative": f"{firm}代表"}}


def release(key: str, dept: str, ceiling: int, day: str, bids: dict[str, int], winner: str | None) -> dict:
    ocid = f"ocds-test-{key}"
    parties = [{"id": "org-BUY", "name": "某区政府", "roles": ["buyer"], "identifier": {"scheme": "CN-USCC", "id": BUYER}},
               {"id": f"dept-{dept}", "name": dept, "roles": ["reviewBody"]}]
    parties += [party(f, ["tenderer"] + (["supplier"] if f == winner else [])) for f in bids]
    out = {"ocid": ocid, "id": f"{ocid}-1", "date": f"{day}T10:00:00+08:00", "tag": ["tender", "award"],
           "initiationType": "tender", "parties": parties, "buyer": {"id": "org-BUY"},
           "tender": {"id": key, "title": f"工程 {key}", "mainProcurementCategory": "works", "procurementMethod": "open",
                      "value": {"amount": ceiling, "currency": "CNY"}, "tenderPeriod": {"endDate": f"{day}T09:00:00+08:00"}},
           "bids": {"details": [{"id": f"{key}-{f}", "tenderers": [{"id": f"org-{f}"}],
                                 "value": {"amount": amount, "currency": "CNY"}} for f, amount in bids.items()]}}
    if winner:
        out["awards"] = [{"id": f"{key}-award", "status": "active", "date": f"{day}T16:00:00+08:00",
                          "value": {"amount": bids[winner], "currency": "CNY"}, "suppliers": [{"id": f"org-{winner}"}]}]
    return out


def package(*releases: dict) -> dict:
    return {"uri": "https://ggzy.example.gov.cn/ocds/test.json", "version": "1.1",
            "publishedDate": "2026-11-01T08:00:00+08:00", "publisher": {"name": "test"}, "releases": list(releases)}


# A and B within 0.1 % of each other in T1–T3, winning in turn (A, B, A); the others spread by 3 % or more.
PLANTED = [
    release("T1", "ZJ", 1_100_000, "2026-10-08", {"A": 1_000_000, "B": 1_000_800, "C": 1_030_000, "D": 1_062_000}, "A"),
    release("T2", "ZJ", 2_150_000, "2026-10-15", {"B": 2_000_000, "A": 2_001_500, "C": 2_060_000, "E": 2_110_000}, "B"),
    release("T3", "ZJ", 3_350_000, "2026-10-22", {"A": 3_000_000, "B": 3_002_400, "D": 3_090_000, "E": 3_150_000}, "A"),
    # a clean tender of the same firms but A and B
    release("T4", "ZJ", 900_000, "2026-10-27", {"C": 800_000, "D": 830_000, "E": 861_000}, "C"),
]


def post(api, body, when=None):
    return api.call("POST", "/api/v1/ocds/import", "operator", when or at(10, 29), 200,
                    data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})


def test_planted_collusion_is_flagged_exactly_and_a_lead_carries_the_evidence(api):
    with api.db.transaction() as s:
        directory.add_department(s, "GA", "市公安局经侦支队 (public security)")
        s.flush()
        risk.set_route(s, "ZJ", "bid_rigging", "GA")
    result = post(api, package(*PLANTED))
    assert result["leads"] == {"created": 1, "updated": 0}

    hits = api.call("GET", "/api/v1/risk/indicators", "operator")["hits"]
    pair = sorted((KEYS["A"], KEYS["B"]))
    t = [f"ocds-test-T{n}" for n in (1, 2, 3)]
    flagged = sorted((h["indicator"], tuple(h["subjects"]), tuple(h["ocids"])) for h in hits)
    assert flagged == sorted([("K01", tuple(pair), (o,)) for o in t] + [("K02", tuple(pair), (o,)) for o in t]
                             + [("K06", tuple(pair), tuple(t))])
    k01 = next(h for h in hits if h["indicator"] == "K01")
    assert set(k01["evidence"]["shared"]) == {"phone"}
    k02 = {h["ocids"][0]: h["evidence"] for h in hits if h["indicator"] == "K02"}
    assert k02["ocds-test-T1"]["relative_gap"] == "0.000800"   # 800 / 1 000 000
    assert k02["ocds-test-T2"]["amounts"] == {KEYS["B"]: "2000000.00", KEYS["A"]: "2001500.00"}
    assert Decimal(k02["ocds-test-T3"]["relative_gap"]) <= Decimal("0.001")
    assert api.call("GET", "/api/v1/tenders/ocds-test-T4/risk", "zj")["hits"] == []
    assert {h["indicator"] for h in api.call("GET", "/api/v1/tenders/ocds-test-T2/risk", "zj")["hits"]} == {"K01", "K02", "K06"}

    # The indicators are in view where the award's contract is supervised.
    [award] = api.call("GET", "/api/v1/awards?ocid=ocds-test-T2", "operator")["items"]
    assert {h["indicator"] for h in api.call("GET", f"/api/v1/awards/{award['id']}", "zj")["risk"]} == {"K01", "K02", "K06"}

    # The lead: bid rigging, the pair, the three tenders with the fields that flagged them, to the police.
    [lead] = api.call("GET", "/api/v1/risk/leads?month=2026-10", "admin", at(10, 29))["items"]
    assert (lead["lead_type"], lead["department"], lead["to_department"]) == ("bid_rigging", "ZJ", "GA")
    assert [s["key"] for s in lead["subjects"]] == pair and lead["ocids"] == t
    assert lead["indicators"] == ["K01", "K02", "K06"]
    evidence = lead["evidence"]
    per_tender = {x["ocid"]: {h["indicator"]: h for h in x["hits"]} for x in evidence["tenders"]}
    assert set(per_tender) == set(t)
    assert per_tender["ocds-test-T1"]["K01"]["shared"] == {"phone": {KEYS["A"]: "0371-68880001", KEYS["B"]: "0371 6888 0001"}}
    assert per_tender["ocds-test-T1"]["K02"]["amounts"] == {KEYS["A"]: "1000000.00", KEYS["B"]: "1000800.00"}
    [rotation] = evidence["across_tenders"]
    assert rotation["indicator"] == "K06" and rotation["winners"] == {
        "ocds-test-T1": KEYS["A"], "ocds-test-T2": KEYS["B"], "ocds-test-T3": KEYS["A"]}
    assert any("第四十条" in basis for basis in evidence["legal_basis"])
    # Who reads it: the police (its receiver), ZJ (its department), admins; not CZ, not a party or an operator.
    with api.db.transaction() as s:
        _, token = directory.add_user(s, "police", "supervisor", None, "GA")
    api.people.tokens["police"] = token
    assert len(api.call("GET", "/api/v1/risk/leads", "police")["items"]) == 1
    assert len(api.call("GET", "/api/v1/risk/leads?type=bid_rigging", "zj")["items"]) == 1
    assert api.call("GET", "/api/v1/risk/leads", "cz")["items"] == []
    api.call("GET", "/api/v1/risk/leads", "con", expect=403)
    api.call("GET", "/api/v1/risk/leads", "operator", expect=403)
    assert api.call("GET", "/api/v1/risk/leads?month=2026-11", "admin")["items"] == []
    # The same lead in the month's transfer list beside the alerts' leads (GET /leads), to its receiver.
    [listed] = api.call("GET", "/api/v1/leads?month=2026-10", "police", at(10, 29))["items"]
    assert (listed["kind"], listed["status"], listed["id"], listed["to_department"]) == ("risk", "pending", lead["id"], "GA")
    assert listed["code"] == "bid_rigging" and listed["ocids"] == t and listed["evidence"] == lead["evidence"]
    assert [x["id"] for x in api.call("GET", "/api/v1/leads?kind=risk", "admin")["items"]] == [lead["id"]]
    assert api.call("GET", "/api/v1/leads?kind=alert", "admin")["items"] == []
    assert api.call("GET", "/api/v1/leads?status=confirmed", "admin")["items"] == []

    # Importing again writes nothing; a fourth tender of the pair extends the same lead.
    assert post(api, package(*PLANTED))["leads"] == {"created": 0, "updated": 0}
    fourth = release("T5", "ZJ", 5_500_000, "2026-10-28", {"B": 5_000_000, "A": 5_003_000, "C": 5_200_000}, "B")
    assert post(api, package(fourth), at(10, 30))["leads"] == {"created": 0, "updated": 1}
    [lead] = api.call("GET", "/api/v1/risk/leads", "admin")["items"]
    assert lead["ocids"] == [*t, "ocds-test-T5"]


def test_without_a_route_a_lead_goes_to_the_escalation_target(api):
    post(api, package(*PLANTED))
    [lead] = api.call("GET", "/api/v1/risk/leads", "admin")["items"]
    assert lead["to_department"] == "JW"   # ZJ escalates to JW (tests/conftest.py)
    defs = api.call("GET", "/api/v1/risk/definitions", "zj")
    assert [i["id"] for i in defs["indicators"]] == ["K01", "K02", "K03", "K04", "K05", "K06", "K07"]
    api.call("GET", "/api/v1/risk/indicators?indicator=K99", "operator", expect=422)
    api.call("GET", "/api/v1/risk/indicators", "con", expect=403)


def test_bid_files_from_one_machine_flag_the_pair_through_the_import(api):
    clean = release("T9", "CZ", 1_000_000, "2026-10-20", {"C": 900_000, "D": 940_000, "E": 975_000}, "C")
    for bid, machine in zip(clean["bids"]["details"], ("MAC-1", "MAC-2", "MAC-1")):
        bid["documents"] = [{"id": "f", "title": "投标文件", "author": f"author-{bid['id']}", "machineCode": machine}]
    post(api, package(clean))
    [hit] = api.call("GET", "/api/v1/risk/indicators", "operator")["hits"]
    assert (hit["indicator"], hit["subjects"], hit["ocids"]) == ("K01", sorted([KEYS["C"], KEYS["E"]]), ["ocds-test-T9"])
    assert hit["evidence"]["shared"] == {"document_machine": {KEYS["C"]: ["MAC-1"], KEYS["E"]: ["MAC-1"]}}
    # One tender only: below bid rigging's two tenders, so no lead yet.
    assert api.call("GET", "/api/v1/risk/leads", "admin")["items"] == []
