"""The choice of the payment rule (engine/supervision/payment_basis.py), in the order DOMAIN.md P01, P02, §7 give."""
from __future__ import annotations

from datetime import date

import pytest

from engine.supervision import payment_basis as pb
from engine.supervision.calendar import from_chinesecalendar
from engine.supervision.rules import load_default

REGISTRY = load_default()
SIGNED = date(2026, 8, 3)


@pytest.mark.parametrize("kind, sme, rule, days", [
    (pb.PUBLIC_BODY, True, "P01", 30),
    (pb.LARGE_ENTERPRISE, True, "P02", 60),
    (pb.OTHER, True, None, None),            # a small private employer: no SME payment rule binds it
    (pb.PUBLIC_BODY, False, None, None),     # a large contractor: the contract's own term
    (pb.LARGE_ENTERPRISE, False, None, None),
    (pb.OTHER, False, None, None),
])
def test_the_rule_follows_the_employer_kind_and_the_contractors_sme_status(kind, sme, rule, days):
    chosen = pb.select(kind, sme, SIGNED, REGISTRY)
    assert (chosen.id if chosen else None) == rule
    assert pb.default_days(kind, sme, SIGNED, REGISTRY) == days


def test_p02_is_new_in_2025_an_earlier_contract_keeps_its_own_term():
    assert pb.select(pb.LARGE_ENTERPRISE, True, date(2025, 5, 31), REGISTRY) is None
    assert pb.select(pb.LARGE_ENTERPRISE, True, date(2025, 6, 1), REGISTRY).id == "P02"
    # P01 has both texts: the 2020 one (728号 art 8) before the revision.
    assert "第八条" in pb.select(pb.PUBLIC_BODY, True, date(2025, 5, 31), REGISTRY).legal_basis


@pytest.mark.parametrize("public, large, track, kind", [
    (True, False, "tendering", pb.PUBLIC_BODY),
    (False, False, "gov_procurement", pb.PUBLIC_BODY),   # every GP purchaser is a public body here
    (False, True, "tendering", pb.LARGE_ENTERPRISE),
    (False, False, "tendering", pb.OTHER),
])
def test_employer_kind(public, large, track, kind):
    assert pb.employer_kind(public, large, track) == kind


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        pb.select("soe", True, SIGNED, REGISTRY)


def test_the_fixed_basis_cites_the_rule_or_the_contract():
    p01 = pb.fix(pb.PUBLIC_BODY, True, 45, True, SIGNED, REGISTRY)
    assert (p01["rule"], p01["term_days"], p01["term_agreed"], p01["fixed_on"]) == ("P01", 45, True, "2026-08-03")
    assert pb.citation(p01) == "P01 《保障中小企业款项支付条例》（国务院令第802号）第九条第一款"
    own = pb.fix(pb.PUBLIC_BODY, False, 30, True, SIGNED, REGISTRY)
    assert own["rule"] == pb.CONTRACT and pb.citation(own).startswith("CONTRACT 合同约定的付款期限")


def test_the_clock_starts_at_acceptance_or_at_the_end_of_a_late_acceptance_period():
    cal = from_chinesecalendar()
    # Delivered 08-28 with 14 days to accept: the period's last day is 09-11 (Fri).
    assert pb.clock_start(date(2026, 8, 28), date(2026, 8, 31), 14, cal) == date(2026, 8, 31)
    assert pb.clock_start(date(2026, 8, 28), date(2026, 9, 30), 14, cal) == date(2026, 9, 11)
