"""Works payment terms (engine/supervision/works_payments.py): the terms checked at the start against the registry,
the clocks (C01–C04) and the figures — pure, without a database."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from engine.storage.models import Organisation
from engine.supervision import works_payments as wp
from engine.supervision.calendar import from_chinesecalendar
from engine.supervision.contract_terms import validate_post_award
from engine.supervision.rules import load_default

REGISTRY = load_default()
CAL = from_chinesecalendar()
ON = date(2026, 3, 2)
CONTRACTOR = Organisation(code="C-ROAD", name="C-ROAD Ltd", credit_rating="AA", sme=True)
EMPLOYER = Organisation(code="E-CITY", name="E-CITY", credit_rating=None)


def start(public: bool = True, **changes) -> tuple[dict, dict]:
    data = {"project_code": "ZZ-2026-0001", "project_name": "Ring road", "track": "tendering", "category": "works",
            "award_notice_date": "2026-02-20", "contract_amount": "10000000.00", "employer": "E-CITY",
            "contractor": "C-ROAD", "department": "ZJ", "bid_bond": {"amount": "150000.00", "form": "e_guarantee"},
            "performance_guarantee_rate": "0", "retention_rate": "3", "acceptance_days": 30,
            "payment_terms": {"advance": {"percent": "20"}, "progress": {"percent": "80"}}}
    data.update(changes)
    return validate_post_award(data, CONTRACTOR, EMPLOYER, public, ON, REGISTRY, today=date(2026, 12, 6))


# --- the terms at the start ---------------------------------------------------------------------------


def test_works_terms_are_normalised_with_the_advance_amount_settlement_by_default_and_no_milestones():
    out, errors = start()
    assert errors == {}
    assert out["payment_terms"]["advance"] == {"percent": Decimal("20"), "amount": Decimal("2000000.00")}
    assert out["payment_terms"]["settlement"] is True and out["milestones"] == []
    assert out["works_payments"] == [out["payment_terms"]]
    assert all(out[name] is None for name in wp.BLANKS)


@pytest.mark.parametrize("terms,path,rule", [
    ({"advance": {"percent": "31"}}, "data.payment_terms.advance.percent", "C01"),
    ({"progress": {"percent": "79.99"}}, "data.payment_terms.progress.percent", "C03A"),
    ({"progress": {"percent": "80"}, "settlement": False}, "data.payment_terms.settlement", "369号"),
])
def test_a_term_outside_the_rules_is_refused_naming_the_field_and_the_rule(terms, path, rule):
    out, errors = start(payment_terms=terms)
    assert out == {} and list(errors) == [path], errors
    assert rule in errors[path][0]


def test_the_80_percent_floor_binds_public_employers_only_and_60_the_others():
    assert start(public=False, payment_terms={"progress": {"percent": "70"}})[1] == {}
    out, errors = start(public=False, payment_terms={"progress": {"percent": "59"}})
    assert "C03" in errors["data.payment_terms.progress.percent"][0] and "60" in errors["data.payment_terms.progress.percent"][0]


@pytest.mark.parametrize("changes,path", [
    ({"category": "goods"}, "data.payment_terms.advance"),
    ({"milestones": [{"name": "x", "amount": "1.00", "planned_date": "2026-05-01"}]}, "data.milestones"),
    ({"payment_terms": {"progress": {"percent": "80", "extra": 1}}}, "data.payment_terms.progress"),
    ({"payment_terms": {"advance": {"percent": 20.5}}}, "data.payment_terms.advance.percent"),
    ({"payment_terms": {"advance": {"percent": "0"}}}, "data.payment_terms.advance.percent"),
    ({"payment_terms": {"works_start_date": "2026-02-30"}}, "data.payment_terms.works_start_date"),
    ({"payment_terms": {"surprise": True}}, "data.payment_terms.surprise"),
    ({"payment_terms": "monthly"}, "data.payment_terms"),
])
def test_malformed_terms_are_refused_on_their_field(changes, path):
    out, errors = start(**changes)
    assert out == {} and path in errors, errors


def test_periodic_payments_expand_into_milestones_at_each_months_corresponding_day():
    out, errors = start(category="services", performance_guarantee_rate="0", retention_rate="0",
                        payment_terms={"periodic": {"amount": "50000.00", "every_months": 1, "first_due": "2026-03-31",
                                                    "count": 3}})
    assert errors == {}
    assert [(m["no"], m["amount"], m["planned_date"]) for m in out["milestones"]] == [
        (1, Decimal("50000.00"), date(2026, 3, 31)), (2, Decimal("50000.00"), date(2026, 4, 30)),
        (3, Decimal("50000.00"), date(2026, 5, 31))]
    assert out["works_payments"] == []


def test_periodic_payments_above_the_contract_amount_are_refused():
    out, errors = start(category="services", retention_rate="0", contract_amount="100000.00",
                        bid_bond={"amount": "1000.00", "form": "cash"},
                        payment_terms={"periodic": {"amount": "50000.00", "every_months": 1, "first_due": "2026-04-30",
                                                    "count": 3}})
    assert "data.milestones" in errors and "150000.00" in errors["data.milestones"][0]


# --- the clocks --------------------------------------------------------------------------------------


def test_add_months_keeps_the_day_or_takes_the_months_last():
    assert wp.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert wp.add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert wp.add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)


def test_the_advance_is_due_at_the_later_of_a_month_after_signing_and_seven_days_before_the_start():
    # 08-12 + 1 month = 09-12, a Saturday → 09-14; a start on 10-30 puts the 7th day before on 10-23.
    assert wp.advance_due(date(2026, 8, 12), None, CAL, REGISTRY).last_day == date(2026, 9, 14)
    assert wp.advance_due(date(2026, 8, 12), date(2026, 9, 1), CAL, REGISTRY).last_day == date(2026, 9, 14)
    assert wp.advance_due(date(2026, 8, 12), date(2026, 10, 30), CAL, REGISTRY).last_day == date(2026, 10, 23)


def test_a_silent_review_is_confirmed_the_day_after_its_last_day():
    # C02: 14 days from 10-31 end 11-14, a Saturday → 11-16; deemed confirmed on 11-17.
    assert wp.confirmed_on(date(2026, 10, 31), None, "C02", CAL, REGISTRY) == date(2026, 11, 17)
    assert wp.confirmed_on(date(2026, 10, 31), date(2026, 11, 5), "C02", CAL, REGISTRY) == date(2026, 11, 5)


@pytest.mark.parametrize("amount,tier,days", [
    ("4999999.99", "C04A", 20), ("5000000.00", "C04B", 30), ("19999999.99", "C04B", 30),
    ("20000000.00", "C04C", 45), ("50000000.00", "C04D", 60), ("900000000.00", "C04D", 60), ("0.01", "C04A", 20),
])
def test_the_settlement_review_period_is_graded_by_the_reports_amount_the_longer_at_a_boundary(amount, tier, days):
    rule = wp.settlement_review_rule(Decimal(amount), REGISTRY, ON)
    assert (rule.id, rule.days) == (tier, days)


# --- the figures -------------------------------------------------------------------------------------


def test_a_progress_payment_is_the_agreed_share_less_the_advance_recovered_in_proportion():
    terms = {"advance": {"amount": Decimal("480000.00")}, "progress": {"percent": Decimal("80")}}
    assert wp.progress_amount(Decimal("900000.00"), terms, Decimal("4800000.00")) == Decimal("630000.00")
    assert wp.progress_amount(Decimal("1.00"), terms, Decimal("3.00")) == Decimal("0.00")  # never negative
    assert wp.progress_amount(Decimal("333333.33"), {"progress": {"percent": Decimal("85")}}, Decimal("1000000")) \
        == Decimal("283333.33")


def test_the_settlement_owes_the_settled_price_less_the_retention_on_it():
    assert wp.retention_amount(Decimal("4850000.00"), Decimal("3")) == Decimal("145500.00")
    assert wp.settlement_payable(Decimal("4850000.00"), Decimal("3")) == Decimal("4704500.00")


def test_normalised_works_terms_sent_back_are_accepted_unchanged_and_derived_values_cannot_be_set():
    out, _ = start()
    echoed = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in out.items()}
    again, errors = start(**echoed)
    assert errors == {} and again == out
    _, errors = start(confirmed_value="999999.00")
    assert "data.confirmed_value" in errors
    _, errors = start(payment_terms={"advance": {"percent": "20", "amount": "9000000.00"}})
    assert "computed" in errors["data.payment_terms.advance.amount"][0]
