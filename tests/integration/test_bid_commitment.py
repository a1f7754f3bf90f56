"""Issue 18 acceptance 4: bid bond forms commitment_letter and not_required, allowed per track and category by the
registry (BB01: tendering services; D13: Henan government procurement); a design contract under a commitment
letter starts, and the contractor's refusal to sign opens a supervision case against it."""
from __future__ import annotations

from datetime import date

import pytest

from engine.supervision import contract_terms, rules
from tests.e2e.test_post_award import Api, at, one_milestone, procurement_goods, tendering_works
from tests.integration.test_supervision_cases import deploy_cases


def design(**over) -> dict:
    return one_milestone(tendering_works(category="services", project_name="教学楼设计", contract_amount="300000.00",
                                         retention_rate="0", bid_bond={"form": "commitment_letter"}, **over), "2026-12-15")


def test_a_design_contract_under_a_commitment_letter_starts_and_a_refusal_opens_a_case(api):
    contract = api.start("DESIGN-1", design(award_notice_date="2026-10-08"), at(10, 9))
    ledger = api.ledger("DESIGN-1")
    [bond] = [g for g in ledger["guarantees"] if g["kind"] == "bid"]
    assert bond["form"] == "commitment_letter" and bond["status"] == "exempt" and bond["amount"] == "0.00"
    [listed] = api.call("GET", "/api/v1/guarantees?business_key=DESIGN-1&kind=bid", "zj")["items"]
    guarantee_id = listed["id"]
    refusal = {"refused_at": "2026-10-19", "note": "中标人书面表示放弃中标、拒绝签订合同"}
    api.call("POST", f"/api/v1/guarantees/{guarantee_id}/refusal-confirmation", "zj", at(10, 20), 409, json=refusal)
    assert "refusal_confirmed" not in [e["action"] for e in api.call(
        "GET", f"/api/v1/instances/{contract['id']}/history?limit=500", "admin")["items"]]   # nothing recorded
    deploy_cases(api)

    body = api.call("POST", f"/api/v1/guarantees/{guarantee_id}/refusal-confirmation", "zj", at(10, 20), json={
        "refused_at": "2026-10-19", "note": "中标人书面表示放弃中标、拒绝签订合同"})
    case = body["case"]
    assert case["party_role"] == "contractor" and case["org"] == "CON" and case["source"] == "commitment"
    assert case["business_key"] == "DESIGN-1" and case["stage"] == "notice" and case["track"] == "tendering"
    trail = [e["action"] for e in api.call("GET", f"/api/v1/instances/{contract['id']}/history?limit=500", "admin")["items"]]
    assert "refusal_confirmed" in trail and "award_refused" in trail
    assert [c["id"] for c in api.call("GET", "/api/v1/cases", "con")["items"]] == [case["id"]]
    tasks = api.call("GET", f"/api/v1/tasks?instance_id={contract['id']}", "admin")["items"]
    assert "sign_contract" not in [t["element_id"] for t in tasks]          # the signing ended


def test_a_cash_bond_refusal_opens_no_case(api):
    deploy_cases(api)
    api.start("CASH-1", one_milestone(tendering_works(award_notice_date="2026-10-08"), "2026-12-15"), at(10, 9))
    [bond] = api.call("GET", "/api/v1/guarantees?business_key=CASH-1&kind=bid", "zj")["items"]
    body = api.call("POST", f"/api/v1/guarantees/{bond['id']}/refusal-confirmation", "zj", at(10, 20), json={
        "refused_at": "2026-10-19", "note": "拒签"})
    assert body["case"] is None and api.call("GET", "/api/v1/cases", "admin")["items"] == []


@pytest.mark.parametrize("data, error", [
    (tendering_works(bid_bond={"form": "commitment_letter"}), "no rule in force"),            # works: not allowed
    (tendering_works(bid_bond={"form": "not_required"}), "no rule in force"),                 # tendering: not allowed
    (tendering_works(category="services", retention_rate="0",
                     bid_bond={"form": "commitment_letter", "amount": "100.00"}), "posts no money"),
])
def test_a_moneyless_bond_outside_its_rules_is_refused_naming_the_field(api, data, error):
    body = api.start("BOND-BAD", one_milestone(data, "2026-12-15"), at(10, 9), expect=422)
    messages = " ".join(m for ms in body["errors"].values() for m in ms)
    assert error in messages and any(k.startswith("data.bid_bond") for k in body["errors"])
    assert api.call("GET", "/api/v1/instances?business_key=BOND-BAD", "admin")["items"] == []


def test_henan_procurement_takes_no_bond_or_a_commitment_letter(api):
    for key, form in (("GP-NONE", "not_required"), ("GP-LETTER", "commitment_letter")):
        data = one_milestone(procurement_goods(performance_guarantee_rate="0", bid_bond={"form": form}), "2026-12-15")
        api.start(key, data, at(10, 9))
    for key, form in (("GP-NONE", "not_required"), ("GP-LETTER", "commitment_letter")):
        [bond] = [g for g in api.ledger(key)["guarantees"] if g["kind"] == "bid"]
        assert (bond["form"], bond["status"], bond["amount"]) == (form, "exempt", "0.00")


def test_the_registry_says_which_track_and_category_allow_which_form():
    registry = rules.load_default()
    on = date(2026, 10, 9)
    allowed = lambda track, category: sorted({f for r in registry.limits_for("bid_bond", track, category, on, kind="form")  # noqa: E731
                                              for f in r.forms})
    assert allowed("tendering", "services") == ["commitment_letter"]
    assert allowed("tendering", "works") == [] and allowed("tendering", "goods") == []
    assert allowed("gov_procurement", "goods") == ["commitment_letter", "not_required"]
    assert set(contract_terms.BID_BOND_FORMS) >= {"cash", "e_guarantee", "exempt", "commitment_letter", "not_required"}
    with pytest.raises(ValueError, match="form limit"):
        rules.RuleRegistry.from_json([{"id": "BBX", "kind": "form", "title": "t", "subject": "retention",
                                       "forms": ["commitment_letter"], "legal_basis": "b", "verified": "U",
                                       "effective_from": "2023-01-01"}])
