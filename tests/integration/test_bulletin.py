"""Issue 21, acceptance 3: the market bulletin's figures equal those computed by hand on the sample package
(engine/supervision/samples/tenders-2026-09-10.json). The sample, as a table:

    tender  month   sector    procedure  dept  buyer (city)   bids (amount, winner*)                              award
    T1      09-10   works     open       ZJ    B1 (4101)      S1* 4 650 000, S3 4 720 000, S4 4 800 000           4 650 000 S1 (4101)
    T2      09-18   goods     open       CZ    B1 (4101)      S2* 820 000, S5 845 000, S7 860 000, S6 880 000     820 000 S2 (4101)
    T3      10-09   works     open       ZJ    B2 (4101)      S1 11 200 000, S3* 11 050 000, S4, S6               11 050 000 S3 (4103 Luoyang)
    T4      10-15   goods     selective  CZ    B2 (4101)      S2 560 000, S7* 575 000                             575 000 S7 (1101 Beijing)
    T5      10-20   services  limited    CZ    B1 (4101)      S5* 280 000, S2 290 000, S6 285 000                 280 000 S5 (4101)
    T6      10-28   works     open       ZJ    B1 (4101)      S8* 1 880 000, S1 1 900 000, S4 1 950 000           1 880 000 S8 (4107 Xinxiang)
    T7      10-30   goods     open       CZ    B2 (4101)      S6 1 420 000, S2 1 455 000                          none (month of its opening)
"""
from __future__ import annotations

import csv
import io
from decimal import ROUND_HALF_UP, Decimal as D

from tests.e2e.test_post_award import at
from tests.integration.test_intake import award_of, post_package, rest_of_start, sample


def pct(x: D) -> str:
    return str(x.quantize(D("0.01"), ROUND_HALF_UP))


def test_the_october_bulletin_equals_the_hand_computation(api):
    post_package(api, sample())
    b = api.call("GET", "/api/v1/bulletin/monthly?month=2026-10", "zj", at(11, 2))

    # October: T3, T4, T5, T6 awarded, T7 opened without award.
    total = D(11_050_000) + D(575_000) + D(280_000) + D(1_880_000)          # = 13 785 000
    assert b["tenders"] == {"count": 5, "awarded": 4, "amount": "13785000.00"}
    works, goods, services = D(11_050_000 + 1_880_000), D(575_000), D(280_000)
    assert b["by_sector"] == [
        {"key": "goods", "count": 2, "awarded": 1, "amount": "575000.00", "share_pct": pct(goods * 100 / total)},   # 4.17
        {"key": "services", "count": 1, "awarded": 1, "amount": "280000.00", "share_pct": pct(services * 100 / total)},  # 2.03
        {"key": "works", "count": 2, "awarded": 2, "amount": "12930000.00", "share_pct": pct(works * 100 / total)}]  # 93.80
    assert [(r["key"], r["count"], r["amount"]) for r in b["by_procedure"]] == [
        ("limited", 1, "280000.00"), ("open", 3, "12930000.00"), ("selective", 1, "575000.00")]
    assert [(r["key"], r["count"], r["awarded"], r["amount"]) for r in b["by_department"]] == [
        ("CZ", 3, 2, "855000.00"), ("ZJ", 2, 2, "12930000.00")]             # CZ: T4 + T5 (+ T7 unawarded)

    # September: T1 4 650 000 + T2 820 000 = 5 470 000 over 2 tenders.
    september = D(4_650_000 + 820_000)
    assert b["trend"] == {"previous_month": "2026-09", "previous_count": 2, "previous_amount": "5470000.00",
                          "count_change_pct": pct(D(5 - 2) * 100 / 2),                        # 150.00
                          "amount_change_pct": pct((total - september) * 100 / september)}    # 152.01
    assert b["trend"]["amount_change_pct"] == "152.01"

    assert [(s["band"], s["count"], s["amount"]) for s in b["size"]] == [
        ("<1M", 2, "855000.00"),            # T4 575 000, T5 280 000
        ("1M-10M", 1, "1880000.00"),        # T6
        ("10M-100M", 1, "11050000.00"),     # T3
        (">=100M", 0, "0.00")]

    # Competition: bids 4 + 2 + 3 + 3 + 2 = 14 over 5 tenders; median of (2, 2, 3, 3, 4) is 3.
    assert b["competition"] == {"bids": 14, "bids_per_tender": "2.80", "median_bids": "3", "single_bid_tenders": 0}
    # Bidders: S1, S3, S4, S6 (T3), S2, S7 (T4), S5 (T5), S8 (T6) = 8; only S8 never bid in September.
    assert b["bidders"] == {"active": 8, "new_entrants": 1}

    # Openness: winners S3 (4103), S7 (1101), S8 (4107) are outside the buyers' city 4101; S5 is inside.
    outside = D(11_050_000 + 575_000 + 1_880_000)                                  # 13 505 000
    assert b["openness"] == {"awards": 4, "unknown_region": 0, "out_of_region": 3, "count_share_pct": "75.00",
                             "amount": "13505000.00", "amount_share_pct": pct(outside * 100 / total)}   # 97.97

    # Concentration: four winners; HHI = Σ (share in %)², the top 5 are all of them.
    hhi = sum((a * 100 / total) ** 2 for a in (D(11_050_000), D(1_880_000), D(575_000), D(280_000)))
    assert b["concentration"] == {"winners": 4, "hhi": pct(hhi), "top5_share_pct": "100.00"}
    assert b["concentration"]["hhi"] == "6633.08"
    assert b["contracts"] == {"started": 0, "amount": "0.00"}
    assert "hhi" in b["definitions"]["concentration.hhi"].lower() or b["definitions"]["concentration.hhi"]

    # A started contract counts under `contracts`.
    t3 = award_of(api, "ocds-sample-ZZ2026-T3")
    api.call("POST", f"/api/v1/awards/{t3['id']}/contract", "operator", at(10, 12), 201,
             json={"business_key": "ZZ-T3", "data": rest_of_start()})
    after = api.call("GET", "/api/v1/bulletin/monthly?month=2026-10", "operator", at(11, 2))
    assert after["contracts"] == {"started": 1, "amount": "11050000.00"}


def test_the_september_bulletin_and_the_csv(api):
    post_package(api, sample())
    b = api.call("GET", "/api/v1/bulletin/monthly?month=2026-09", "admin", at(11, 2))
    total = D(4_650_000 + 820_000)
    assert b["tenders"] == {"count": 2, "awarded": 2, "amount": "5470000.00"}
    assert b["trend"]["previous_count"] == 0 and b["trend"]["count_change_pct"] is None   # nothing in August
    assert b["bidders"] == {"active": 7, "new_entrants": 7}       # the first month: every bidder is new
    assert b["openness"]["out_of_region"] == 0 and b["openness"]["amount_share_pct"] == "0.00"  # S1, S2 in 4101
    hhi = sum((a * 100 / total) ** 2 for a in (D(4_650_000), D(820_000)))
    assert b["concentration"]["hhi"] == pct(hhi)
    assert b["competition"] == {"bids": 7, "bids_per_tender": "3.50", "median_bids": "3.5", "single_bid_tenders": 0}

    r = api.client.get("/api/v1/bulletin/monthly?month=2026-10&format=csv", headers=api.people.auth("cz"))
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["section", "figure", "value"]
    assert ["tenders", "amount", "13785000.00"] in rows and ["concentration", "hhi", "6633.08"] in rows
    assert ["by_department", "1.key", "ZJ"] in rows
    assert not any(row[0] == "definitions" for row in rows)

    api.call("GET", "/api/v1/bulletin/monthly?month=2026-13", "admin", expect=422)
    api.call("GET", "/api/v1/bulletin/monthly?month=2026-10", "con", expect=403)
    api.call("GET", "/api/v1/bulletin/monthly?month=2026-10", "designer", expect=403)
    empty = api.call("GET", "/api/v1/bulletin/monthly?month=2025-01", "admin")
    assert empty["tenders"] == {"count": 0, "awarded": 0, "amount": "0.00"} and empty["concentration"]["hhi"] is None
