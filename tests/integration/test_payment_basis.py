"""Issue 16, acceptance 3: the payment rule of a contract follows its parties, fixed at the start.

The same late payment — a one-milestone tendering/works contract accepted on 2026-08-31 and not paid —
under three pairs of parties (DOMAIN.md P01, P02, §7): a public body paying the SME CON2 (P01, 30 days →
due 09-30 24:00), a large enterprise paying CON2 (P02, 60 days unless agreed → 10-30 (Fri) 24:00), and a
public body paying the large contractor CON (no SME rule: the contract's own 30 days). The seeded employer
EMP is given the kind each case needs before the start.
"""
from __future__ import annotations

import pytest
from sqlalchemy import update

from engine.access import directory
from engine.errors import Invalid
from engine.storage.models import Organisation
from tests.e2e.test_post_award import Api, Contract, at, just_after_midnight, one_milestone, tendering_works

P01_TEXT = "《保障中小企业款项支付条例》（国务院令第802号）第九条第一款"
P02_TEXT = "《保障中小企业款项支付条例》（国务院令第802号）第九条第二款"


def _set(api: Api, code: str, **flags) -> None:
    with api.db.transaction() as s:
        s.execute(update(Organisation).where(Organisation.code == code).values(**flags))


def _late(api: Api, key: str, **over) -> Contract:
    c = Contract(api, key, one_milestone(tendering_works(**over)))
    c.run(until="pay1")  # delivered 08-28, accepted 08-31, never paid
    return c


def _payment_alerts(api: Api, when) -> list[dict]:
    api.tick(when)
    return [a for a in api.alerts("admin", when) if a["code"] == "PAYMENT_OVERDUE"]


def test_a_public_body_paying_an_sme_is_held_to_p01(api):
    _set(api, "EMP", public_body=True)
    c = _late(api, "BASIS-P01", contractor="CON2")
    basis = api.ledger(c.key)["payment_basis"]
    assert basis == {"employer_kind": "public_body", "contractor_sme": True, "rule": "P01", "legal_basis": P01_TEXT,
                     "term_days": 30, "term_agreed": True, "fixed_on": "2026-08-03", "interest": {"rule": "P05"}}
    [alert] = _payment_alerts(api, just_after_midnight(10, 1))
    assert alert["due_at"].startswith("2026-09-30T16:00:00") and alert["legal_basis"] == f"P01 {P01_TEXT}"
    # P05's default: 0.05 % a day of 1 200 000.00 for the 2 days to 10-02.
    assert api.call("GET", f"/api/v1/alerts/{alert['id']}", "admin", at(10, 2))["interest_accrued"] == "1200.00"


def test_a_large_enterprise_paying_an_sme_has_sixty_days_under_p02(api):
    _set(api, "EMP", large_enterprise=True)
    data = {k: v for k, v in tendering_works(contractor="CON2").items() if k != "payment_term_days"}
    c = Contract(api, "BASIS-P02", one_milestone(data))
    c.run(until="pay1")
    basis = api.ledger(c.key)["payment_basis"]
    assert (basis["employer_kind"], basis["rule"], basis["term_days"], basis["term_agreed"]) == (
        "large_enterprise", "P02", 60, False)
    assert _payment_alerts(api, just_after_midnight(10, 1)) == []   # day 31: P01's clock would have run out
    assert _payment_alerts(api, at(10, 30, 23)) == []               # the last day of the 60
    [alert] = _payment_alerts(api, just_after_midnight(10, 31))
    assert alert["due_at"].startswith("2026-10-30T16:00:00") and alert["legal_basis"] == f"P02 {P02_TEXT}"


def test_a_large_contractor_is_paid_on_the_contract_term_without_an_sme_rule(api):
    _set(api, "EMP", public_body=True)
    c = _late(api, "BASIS-CONTRACT", contractor="CON")
    basis = api.ledger(c.key)["payment_basis"]
    assert (basis["employer_kind"], basis["contractor_sme"], basis["rule"]) == ("public_body", False, "CONTRACT")
    [alert] = _payment_alerts(api, just_after_midnight(10, 1))
    assert alert["due_at"].startswith("2026-09-30T16:00:00")
    assert alert["legal_basis"].startswith("CONTRACT 合同约定的付款期限") and "第九条" not in alert["legal_basis"]
    # No SME rule binds, no rate was agreed: no interest figure rather than P05's (支付条例 art 17 protects SMEs).
    assert basis["interest"] == {"rule": None}
    assert api.call("GET", f"/api/v1/alerts/{alert['id']}", "admin", at(10, 2))["interest_accrued"] is None
    assert api.call("GET", f"/api/v1/contracts/{c.key}", "admin", at(10, 2))["interest_accrued"] is None


def test_an_agreed_interest_rate_is_fixed_with_the_basis_and_used_for_a_large_contractor(api):
    c = _late(api, "BASIS-AGREED", contractor="CON", late_interest_percent_per_day="0.03")
    assert api.ledger(c.key)["payment_basis"]["interest"] == {"rule": "AGREED", "percent_per_day": "0.03"}
    [alert] = _payment_alerts(api, just_after_midnight(10, 1))
    # 0.03 % a day of 1 200 000.00 for 2 days = 720.00.
    assert api.call("GET", f"/api/v1/alerts/{alert['id']}", "admin", at(10, 2))["interest_accrued"] == "720.00"
    r = api.call("POST", "/api/v1/instances", "operator", at(8, 4), 422, json={
        "definition": "post_award", "business_key": "BASIS-BAD",
        "data": one_milestone(tendering_works(late_interest_percent_per_day="5"))})
    assert "data.late_interest_percent_per_day" in r["errors"]


def test_the_basis_is_fixed_at_the_start_a_later_change_of_the_contractor_does_not_move_it(api):
    _set(api, "EMP", public_body=True)
    c = _late(api, "BASIS-FIXED", contractor="CON2")
    before = api.ledger(c.key)["payment_basis"]
    _set(api, "CON2", sme=False)  # CON2 grew out of SME status after signing
    assert api.ledger(c.key)["payment_basis"] == before
    [alert] = _payment_alerts(api, just_after_midnight(10, 1))
    assert alert["legal_basis"] == f"P01 {P01_TEXT}"
    # A contract started after the change takes the new status: the record is read at the start, once.
    later = Contract(api, "BASIS-AFTER", one_milestone(tendering_works(contractor="CON2")))
    assert api.ledger(later.key)["payment_basis"]["rule"] == "CONTRACT"


def test_the_directory_refuses_a_large_enterprise_that_is_also_an_sme_or_a_public_body(api):
    for flags in ({"sme": True}, {"public_body": True}):
        with pytest.raises(Invalid) as err, api.db.transaction() as s:
            directory.add_organisation(s, "SOE", "某建工集团", large_enterprise=True, **flags)
        assert list(err.value.errors) == ["large_enterprise"]
    with api.db.transaction() as s:
        assert directory.add_organisation(s, "SOE", "某建工集团", large_enterprise=True).large_enterprise
