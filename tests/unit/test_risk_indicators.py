"""The risk indicators on hand-built markets (engine/supervision/risk.py, risk_rules.json): each fires on its
planted pattern, at its threshold, and stays silent just beyond it."""
from __future__ import annotations

import json
from decimal import Decimal as D

from engine.supervision import risk
from engine.supervision.risk import BidFacts, Market, PartyFacts, TenderFacts


def market(tenders: dict[str, dict], sector: str = "works") -> Market:
    """tenders: ocid → {"ceiling", "bids": {key: amount | (amount, hashes, scores)}, "won": key}"""
    m = Market()
    for ocid, t in tenders.items():
        m.tenders[ocid] = TenderFacts(ocid, ocid, t.get("sector", sector), t.get("dept", "ZJ"), t.get("ceiling"))
        for key, bid in t["bids"].items():
            amount, hashes, scores = bid if isinstance(bid, tuple) else (bid, (), ())
            m.bids[ocid].append(BidFacts(key, D(amount), tuple(hashes), tuple((e, D(s)) for e, s in scores)))
            m.parties[ocid][key] = PartyFacts(key, f"tel-{key}", f"addr-{key}", f"rep-{key}")
        if t.get("won"):
            m.winners[ocid].add(t["won"])
    return m


RULES = risk.rules()


def hits(m: Market, name: str, rules=RULES):
    return [(h.subjects, h.ocids) for h in risk.COMPUTE[name](m, rules.by_name(name))]


def test_the_shipped_rules_parse_and_every_indicator_is_defined():
    assert sorted(RULES.indicators) == ["K01", "K02", "K03", "K04", "K05", "K06", "K07"]
    assert all(i.legal_basis and i.definition for i in RULES.indicators.values())


def test_price_cluster_at_its_threshold():
    gap = RULES.by_name("price_cluster").number("max_relative_gap")  # 0.002
    inside = market({"T": {"bids": {"a": "1000000", "b": str(1000000 * (1 + gap)), "c": "1100000"}}})
    assert hits(inside, "price_cluster") == [(("a", "b"), ("T",))]
    outside = market({"T": {"bids": {"a": "1000000", "b": str(1000000 * (1 + gap) + 1)}}})
    assert hits(outside, "price_cluster") == []


def test_identical_documents_and_shared_identifier():
    m = market({"T": {"bids": {"a": ("100", ["f" * 64], ()), "b": ("200", ["f" * 64], ()), "c": ("300", ["e" * 64], ())}}})
    assert hits(m, "identical_documents") == [(("a", "b"), ("T",))]
    assert hits(m, "shared_identifier") == []
    m.parties["T"]["c"] = PartyFacts("c", "tel-a", "addr-c", "REP-A")  # a's phone; a's representative in capitals
    m.parties["T"]["a"] = PartyFacts("a", "tel-a", "addr-a", "rep-a")
    [hit] = risk.shared_identifier(m, RULES.by_name("shared_identifier"))
    assert hit.subjects == ("a", "c") and set(hit.evidence["shared"]) == {"phone", "legal_representative"}


def test_ceiling_ratio_needs_the_same_fraction_in_three_tenders():
    same = {f"T{n}": {"ceiling": D(c), "bids": {"a": str(D(c) * D("0.95"))}} for n, c in enumerate((1000000, 2000000, 3000000))}
    assert hits(market(same), "ceiling_ratio") == [(("a",), ("T0", "T1", "T2"))]
    two = dict(list(same.items())[:2]) | {"T9": {"ceiling": D(1000000), "bids": {"a": "960000"}}}
    assert hits(market(two), "ceiling_ratio") == []


def test_abnormal_win_rate_against_the_sector():
    # a wins 5 of 5; b, c, d bid in each and never win; the sector's rate is 5 / 20 = 0.25; a's 1.0 ≥ 2.5 × 0.25
    m = market({f"T{n}": {"bids": {"a": "100", "b": "101", "c": "102", "d": "103"}, "won": "a"} for n in range(5)})
    [(subjects, ocids)] = hits(m, "abnormal_win_rate")
    assert subjects == ("a",) and len(ocids) == 5
    fewer = market({f"T{n}": {"bids": {"a": "100", "b": "101", "c": "102", "d": "103"}, "won": "a"} for n in range(4)})
    assert hits(fewer, "abnormal_win_rate") == []   # 4 bids < min_bids 5


def test_rotation_needs_each_member_to_win():
    rot = market({"T1": {"bids": {"a": "1", "b": "2", "c": "3"}, "won": "a"},
                  "T2": {"bids": {"a": "1", "b": "2", "c": "3"}, "won": "b"},
                  "T3": {"bids": {"a": "1", "b": "2", "c": "3"}, "won": "a"}})
    assert hits(rot, "winner_rotation") == [(("a", "b"), ("T1", "T2", "T3"))]
    one = market({f"T{n}": {"bids": {"a": "1", "b": "2"}, "won": "a"} for n in range(3)})
    assert hits(one, "winner_rotation") == []


def test_expert_outlier():
    scores = [("E1", "80"), ("E2", "82"), ("E3", "79"), ("E4", "99")]   # E4: 99 − mean(80, 82, 79) = 18.67 > 15
    m = market({"T": {"bids": {"a": ("100", (), scores), "b": ("101", (), [("E1", "70"), ("E2", "72"), ("E3", "71")])}}})
    assert hits(m, "expert_outlier") == [(("expert:E4", "a"), ("T",))]
    m = market({"T": {"bids": {"a": ("100", (), [("E1", "80"), ("E4", "99")])}}})
    assert hits(m, "expert_outlier") == []   # fewer than 3 experts


def test_bad_rules_are_refused():
    raw = json.loads(risk.RULES_FILE.read_text(encoding="utf-8"))
    raw["indicators"][0]["lead_type"] = "nowhere"
    try:
        risk.parse_rules(raw)
    except ValueError as exc:
        assert "nowhere" in str(exc)
    else:
        raise AssertionError("accepted a lead type without a definition")


def test_bid_files_made_by_the_same_author_or_machine():
    m = market({"T": {"bids": {"a": "100", "b": "200", "c": "300"}}})
    m.bids["T"] = [BidFacts("a", D(100), (), (), (("author", ("张三",)), ("machine", ("MAC-01",)))),
                   BidFacts("b", D(200), (), (), (("machine", ("MAC-01", "MAC-02")),)),
                   BidFacts("c", D(300), (), (), (("author", ("李四",)),))]
    [hit] = risk.shared_identifier(m, RULES.by_name("shared_identifier"))
    assert hit.subjects == ("a", "b") and hit.evidence["shared"] == {"document_machine": {"a": ["MAC-01"], "b": ["MAC-01"]}}
