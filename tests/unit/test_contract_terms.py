"""Contract terms of the post_award start data, and the statutory limits they are checked against."""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from engine.supervision.contract_terms import ensure_post_award, validate_post_award
from engine.errors import Invalid
from engine.storage.models import Organisation
from engine.supervision.rules import Limit, RuleRegistry, UnknownRule, load_default

ON = date(2026, 3, 2)


@pytest.fixture(scope="module")
def registry() -> RuleRegistry:
    return load_default()


def org(code: str, rating: str | None = "AA", sme: bool = False) -> Organisation:
    return Organisation(code=code, name=f"{code} Ltd", credit_rating=rating, sme=sme)


CONTRACTOR = org("C-ROAD", rating="AA", sme=False)
EMPLOYER = org("E-CITY", rating=None)


def payload(**changes) -> dict:
    data = {
        "project_code": "ZZ-2026-0001",
        "project_name": "Ring road resurfacing, section 3",
        "track": "tendering",
        "category": "works",
        "award_notice_date": "2026-02-20",
        "contract_amount": "10000000.00",
        "employer": "E-CITY",
        "contractor": "C-ROAD",
        "department": "ZZ-HOUSING",
        "bid_bond": {"amount": "150000.00", "form": "e_guarantee"},
        "performance_guarantee_rate": "10",
        "retention_rate": "0",
        "acceptance_days": 30,
        "milestones": [
            {"name": "Base course", "amount": "4000000.00", "planned_date": "2026-05-31"},
            {"name": "Surface course", "amount": "6000000", "planned_date": "2026-09-30"},
        ],
    }
    data.update(changes)
    return data


def check(data, registry, contractor=CONTRACTOR, employer=EMPLOYER, public=True, on=ON, **kw):
    return validate_post_award(data, contractor, employer, public, on, registry, **kw)


def only_error(errors: dict, path: str) -> str:
    assert list(errors) == [path], errors
    assert len(errors[path]) == 1, errors
    return errors[path][0]


# --- a valid contract ------------------------------------------------------------------------


def test_valid_works_contract_passes_with_defaults_applied_money_as_decimal_and_dates_as_dates(registry):
    out, errors = check(payload(), registry)

    assert errors == {}
    assert out["defect_liability_months"] == 12
    assert out["payment_term_days"] == 30
    assert out["contract_amount"] == Decimal("10000000.00")
    assert out["bid_bond"] == {"amount": Decimal("150000.00"), "form": "e_guarantee"}
    assert out["performance_guarantee_rate"] == Decimal("10")
    assert out["award_notice_date"] == date(2026, 2, 20)
    assert "guarantor" not in out


def test_milestones_are_numbered_from_one_in_the_order_given(registry):
    out, _ = check(payload(), registry)

    assert out["milestones"] == [
        {"no": 1, "name": "Base course", "amount": Decimal("4000000.00"), "planned_date": date(2026, 5, 31)},
        {"no": 2, "name": "Surface course", "amount": Decimal("6000000.00"), "planned_date": date(2026, 9, 30)},
    ]


def test_normalised_data_sent_back_is_accepted_unchanged(registry):
    out, _ = check(payload(guarantor="G-BANK"), registry)

    again, errors = check(out, registry)

    assert errors == {} and again == out


def test_agreed_periods_replace_the_defaults(registry):
    out, errors = check(payload(defect_liability_months=24, payment_term_days=45), registry)

    assert errors == {}
    assert (out["defect_liability_months"], out["payment_term_days"]) == (24, 45)


@pytest.mark.parametrize("rate", ["10", "10.0", 10, "0.1", "2.5", Decimal("7.25")])
def test_rates_are_percentages_given_as_decimal_strings_or_integers(registry, rate):
    out, errors = check(payload(performance_guarantee_rate=rate), registry)

    assert errors == {}
    assert out["performance_guarantee_rate"] == Decimal(str(rate))


# --- statutory caps --------------------------------------------------------------------------


def test_performance_guarantee_over_ten_percent_under_tendering_names_d05_and_its_article(registry):
    _, errors = check(payload(performance_guarantee_rate="12"), registry)

    message = only_error(errors, "data.performance_guarantee_rate")
    assert message == "performance guarantee rate 12% exceeds 10% (D05, 《中华人民共和国招标投标法实施条例》第五十八条)"


def test_performance_guarantee_over_ten_percent_in_government_procurement_names_d09(registry):
    data = payload(track="gov_procurement", category="goods", performance_guarantee_rate="10.5")

    _, errors = check(data, registry)

    message = only_error(errors, "data.performance_guarantee_rate")
    assert "D09" in message and "《中华人民共和国政府采购法实施条例》第四十八条" in message


def test_bid_bond_over_two_percent_of_the_contract_amount_names_d01_and_says_it_stands_in(registry):
    _, errors = check(payload(bid_bond={"amount": "250000", "form": "cash"}), registry)

    message = only_error(errors, "data.bid_bond.amount")
    assert "2.50% of the contract amount" in message
    assert "estimated price (估算价), for which the contract amount stands in" in message
    assert "(D01, 《中华人民共和国招标投标法实施条例》第二十六条第一款)" in message


def test_government_procurement_bid_bond_over_two_percent_names_d07(registry):
    data = payload(track="gov_procurement", category="services", bid_bond={"amount": "200000.01", "form": "cash"})

    _, errors = check(data, registry)

    message = only_error(errors, "data.bid_bond.amount")
    assert "D07" in message and "budget amount (预算金额)" in message and "第三十三条" in message


def test_bid_bond_of_exactly_two_percent_is_accepted(registry):
    _, errors = check(payload(bid_bond={"amount": "200000.00", "form": "cash"}), registry)

    assert errors == {}


def test_works_bid_bond_over_800000_names_d02_and_marks_it_checked_against_secondary_sources(registry):
    data = payload(contract_amount="50000000", bid_bond={"amount": "800000.01", "form": "cash"},
                   milestones=[{"name": "All", "amount": "50000000", "planned_date": "2026-12-31"}])

    _, errors = check(data, registry)

    message = only_error(errors, "data.bid_bond.amount")
    assert message.startswith("bid bond 800000.01 CNY exceeds 800000 CNY (D02, 《工程建设项目施工招标投标办法》")
    assert "verified S: checked against secondary sources only" in message


def test_the_800000_bid_bond_cap_is_for_works_only(registry):
    data = payload(category="goods", contract_amount="50000000", bid_bond={"amount": "900000", "form": "cash"},
                   milestones=[{"name": "Delivery", "amount": "50000000", "planned_date": "2026-12-31"}])

    _, errors = check(data, registry)

    assert errors == {}


def test_retention_over_three_percent_on_works_names_q01(registry):
    _, errors = check(payload(performance_guarantee_rate="0", retention_rate="3.5"), registry)

    message = only_error(errors, "data.retention_rate")
    assert "retention rate 3.5% exceeds 3% (Q01, 《建设工程质量保证金管理办法》（建质〔2017〕138号）第七条" in message
    assert "verified S" in message


def test_retention_cap_is_set_for_works_so_a_goods_contract_may_agree_more(registry):
    _, errors = check(payload(category="goods", retention_rate="5"), registry)

    assert errors == {}


def test_works_contract_with_both_retention_and_performance_guarantee_is_refused_under_q02(registry):
    _, errors = check(payload(performance_guarantee_rate="5", retention_rate="3"), registry)

    message = only_error(errors, "data.retention_rate")
    assert message.startswith("no quality retention beside a performance guarantee on works")
    assert "(Q02, 《建设工程质量保证金管理办法》（建质〔2017〕138号）第六条" in message


def test_retention_alone_on_works_is_accepted(registry):
    _, errors = check(payload(performance_guarantee_rate="0", retention_rate="3"), registry)

    assert errors == {}


def test_services_contract_may_agree_retention_beside_a_performance_guarantee(registry):
    _, errors = check(payload(category="services", performance_guarantee_rate="5", retention_rate="3"), registry)

    assert errors == {}


def test_defect_liability_over_24_months_on_works_names_q03(registry):
    _, errors = check(payload(defect_liability_months=25), registry)

    message = only_error(errors, "data.defect_liability_months")
    assert message.startswith("defect liability period 25 months exceeds 24 months (Q03, ")
    assert "138号）第二条第三款" in message


def test_goods_warranty_beyond_24_months_is_accepted_up_to_the_engine_bound(registry):
    out, errors = check(payload(category="goods", defect_liability_months=36), registry)
    _, too_long = check(payload(category="goods", defect_liability_months=121), registry)

    assert errors == {} and out["defect_liability_months"] == 36
    assert "must be from 1 to 120 months" in only_error(too_long, "data.defect_liability_months")


def test_a_cap_comes_from_the_registry_so_a_local_version_changes_it(registry):
    stricter = replace(registry.limit("D05", ON), max_percent=Decimal("5"))

    _, errors = check(payload(performance_guarantee_rate="6"), registry.layered([stricter]))

    assert "exceeds 5% (D05" in only_error(errors, "data.performance_guarantee_rate")


def test_a_cap_not_yet_in_force_on_the_chosen_date_does_not_apply(registry):
    # D05 dates from the 2012 regulation; P01 (and with it the default payment term) from 2020.
    data = payload(award_notice_date="2011-06-01", performance_guarantee_rate="12", payment_term_days=45,
                   defect_liability_months=12)

    _, errors = check(data, registry, on=date(2011, 6, 1))

    assert errors == {}


def test_without_a_rule_in_force_a_defaulted_period_must_be_given(registry):
    _, errors = check(payload(award_notice_date="2011-06-01"), registry, on=date(2011, 6, 1))

    assert set(errors) == {"data.payment_term_days", "data.defect_liability_months"}


# --- credit offset of the bid bond -----------------------------------------------------------


def test_exempt_bid_bond_for_an_aa_contractor_is_refused_naming_cr01_as_an_engineering_default(registry):
    _, errors = check(payload(bid_bond={"form": "exempt"}), registry)

    message = only_error(errors, "data.bid_bond.form")
    assert message.startswith("exempt only for a contractor rated AAA; contractor 'C-ROAD' is rated AA (CR01, ")
    assert "发改法规〔2023〕27号" in message and "verified D" in message


def test_exempt_bid_bond_for_an_aaa_contractor_is_accepted_with_nothing_posted(registry):
    out, errors = check(payload(bid_bond={"form": "exempt"}), registry, contractor=org("C-ROAD", rating="AAA"))

    assert errors == {}
    assert out["bid_bond"] == {"amount": Decimal("0.00"), "form": "exempt"}


def test_exempt_bid_bond_may_record_the_amount_the_tender_required(registry):
    out, errors = check(payload(bid_bond={"amount": "150000", "form": "exempt"}), registry,
                        contractor=org("C-ROAD", rating="AAA"))

    assert errors == {} and out["bid_bond"]["amount"] == Decimal("150000.00")


def test_exempt_bid_bond_for_an_unrated_contractor_is_refused(registry):
    _, errors = check(payload(bid_bond={"form": "exempt"}), registry, contractor=org("C-ROAD", rating=None))

    assert "is not rated" in only_error(errors, "data.bid_bond.form")


def test_a_posted_bid_bond_must_have_an_amount(registry):
    _, errors = check(payload(bid_bond={"amount": "0", "form": "cash"}), registry)

    assert only_error(errors, "data.bid_bond.amount") == "must be more than zero, got 0"


# --- SME payment term ------------------------------------------------------------------------


def test_sme_contractor_of_a_public_employer_agreeing_61_days_is_refused_under_p01(registry):
    _, errors = check(payload(payment_term_days=61), registry, contractor=org("C-ROAD", sme=True), public=True)

    message = only_error(errors, "data.payment_term_days")
    assert message == ("payment term 61 days exceeds 60 days, the cap when a public body pays an SME "
                       "(P01, 《保障中小企业款项支付条例》（国务院令第802号）第九条第一款)")


def test_p01_cap_cites_the_2020_text_for_a_contract_judged_before_june_2025(registry):
    data = payload(award_notice_date="2025-03-01", payment_term_days=61)

    _, errors = check(data, registry, contractor=org("C-ROAD", sme=True), on=date(2025, 3, 1))

    assert "国务院令第728号）第八条第一款" in only_error(errors, "data.payment_term_days")


def test_sme_contractor_of_a_public_employer_may_agree_60_days(registry):
    _, errors = check(payload(payment_term_days=60), registry, contractor=org("C-ROAD", sme=True))

    assert errors == {}


def test_non_sme_contractor_may_agree_61_days(registry):
    out, errors = check(payload(payment_term_days=61), registry, contractor=org("C-ROAD", sme=False))

    assert errors == {} and out["payment_term_days"] == 61


def test_sme_contractor_of_a_private_employer_may_agree_61_days(registry):
    _, errors = check(payload(payment_term_days=61), registry, contractor=org("C-ROAD", sme=True), public=False)

    assert errors == {}


def test_payment_term_over_a_year_is_refused_for_anyone(registry):
    _, errors = check(payload(payment_term_days=366), registry, public=False)

    assert only_error(errors, "data.payment_term_days") == "must be from 1 to 365 days, got 366"


# --- milestones ------------------------------------------------------------------------------


def test_milestones_over_the_contract_amount_are_refused(registry):
    data = payload(milestones=[
        {"name": "Base course", "amount": "4000000.00", "planned_date": "2026-05-31"},
        {"name": "Surface course", "amount": "6000000.01", "planned_date": "2026-09-30"},
    ])

    _, errors = check(data, registry)

    assert only_error(errors, "data.milestones") == (
        "milestone amounts sum to 10000000.01 CNY, more than the contract amount 10000000.00 CNY")


def test_milestones_may_sum_to_less_than_the_contract_amount(registry):
    data = payload(milestones=[{"name": "Base course", "amount": "4000000.00", "planned_date": "2026-05-31"}])

    _, errors = check(data, registry)

    assert errors == {}


def test_milestone_planned_before_the_award_notice_is_refused_at_its_position(registry):
    data = payload()
    data["milestones"][1]["planned_date"] = "2026-02-19"

    _, errors = check(data, registry)

    assert only_error(errors, "data.milestones.1.planned_date") == (
        "milestone 2 is planned on 2026-02-19, before the award notice of 2026-02-20")


def test_empty_and_oversized_milestone_lists_are_refused(registry):
    item = {"name": "Step", "amount": "1", "planned_date": "2026-05-31"}

    _, empty = check(payload(milestones=[]), registry)
    _, oversized = check(payload(milestones=[item] * 501), registry)

    assert only_error(empty, "data.milestones") == "must hold at least one milestone"
    assert only_error(oversized, "data.milestones") == "must hold at most 500 milestones, got 501"


def test_milestone_numbered_out_of_order_is_refused(registry):
    data = payload()
    data["milestones"][0]["no"] = 2

    _, errors = check(data, registry)

    assert "data.milestones.0.no" in errors


# --- parties and dates -----------------------------------------------------------------------


def test_unknown_contractor_code_is_refused_on_the_contractor_field(registry):
    _, errors = check(payload(contractor="C-NOBODY"), registry, contractor=None)

    assert only_error(errors, "data.contractor") == "no organisation with code 'C-NOBODY'"


def test_exempt_bond_with_an_unknown_contractor_is_refused_on_the_contractor_only(registry):
    _, errors = check(payload(contractor="C-NOBODY", bid_bond={"form": "exempt"}), registry, contractor=None)

    assert list(errors) == ["data.contractor"]


def test_an_organisation_that_does_not_match_the_code_is_a_caller_error(registry):
    with pytest.raises(ValueError, match="contractor passed has code 'C-OTHER'"):
        check(payload(), registry, contractor=org("C-OTHER"))


def test_contractor_and_employer_must_differ(registry):
    _, errors = check(payload(contractor="E-CITY"), registry, contractor=EMPLOYER)

    assert only_error(errors, "data.contractor") == "must be another organisation than the employer"


def test_award_notice_after_today_is_refused_when_today_is_given(registry):
    _, errors = check(payload(), registry, today=date(2026, 2, 19))
    _, none = check(payload(), registry, today=date(2026, 2, 20))

    assert only_error(errors, "data.award_notice_date") == "2026-02-20 is after today (2026-02-19)"
    assert none == {}


# --- malformed input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, path, message",
    [
        ({"track": "auction"}, "data.track", "must be one of tendering, gov_procurement, got 'auction'"),
        ({"category": None}, "data.category", "required: one of works, goods, services"),
        ({"contract_amount": 10000000.5}, "data.contract_amount", "binary float"),
        ({"contract_amount": "10,000,000"}, "data.contract_amount", 'decimal string with at most 2 decimals, e.g. "1200000.00"'),
        ({"contract_amount": 10000000}, "data.contract_amount", "not a JSON number"),
        ({"contract_amount": "１０００"}, "data.contract_amount", "ASCII digits only"),
        ({"contract_amount": "1E+20000000"}, "data.contract_amount", "no exponent"),
        ({"contract_amount": "1e7"}, "data.contract_amount", "decimal string"),
        ({"contract_amount": "NaN"}, "data.contract_amount", "decimal string"),
        ({"contract_amount": True}, "data.contract_amount", "got true"),
        ({"contract_amount": "-5"}, "data.contract_amount", "money is never negative"),
        ({"contract_amount": "0"}, "data.contract_amount", "must be more than zero, got 0"),
        ({"contract_amount": "100.005"}, "data.contract_amount", "at most 2 decimals (fen)"),
        ({"contract_amount": "99999999999999999999"}, "data.contract_amount", "at most 15 digits before the decimal point"),
        ({"contract_amount": "1000000000000"}, "data.contract_amount", "must be less than"),
        ({"performance_guarantee_rate": "1e1"}, "data.performance_guarantee_rate", "no exponent"),
        ({"performance_guarantee_rate": "101"}, "data.performance_guarantee_rate", "from 0 to 100"),
        ({"performance_guarantee_rate": 0.1}, "data.performance_guarantee_rate", "binary float"),
        ({"retention_rate": None}, "data.retention_rate", "required: a percentage"),
        ({"award_notice_date": "2026-02-30"}, "data.award_notice_date", "is not a calendar date"),
        ({"award_notice_date": "20/02/2026"}, "data.award_notice_date", 'a string "YYYY-MM-DD"'),
        ({"award_notice_date": 20260220}, "data.award_notice_date", 'a string "YYYY-MM-DD"'),
        ({"award_notice_date": "20260220"}, "data.award_notice_date", 'a string "YYYY-MM-DD"'),
        ({"award_notice_date": "1999-12-31"}, "data.award_notice_date", "outside the accepted window"),
        ({"acceptance_days": "30"}, "data.acceptance_days", "a JSON integer"),
        ({"acceptance_days": 91}, "data.acceptance_days", "from 1 to 90 days"),
        ({"acceptance_days": None}, "data.acceptance_days", "required"),
        ({"defect_liability_months": 0}, "data.defect_liability_months", "from 1 to 120 months"),
        ({"defect_liability_months": True}, "data.defect_liability_months", "a JSON integer"),
        ({"project_name": "   "}, "data.project_name", "must not be blank"),
        ({"project_name": "x" * 201}, "data.project_name", "at most 200 characters"),
        ({"project_code": ["ZZ"]}, "data.project_code", "must be a string, got a list"),
        ({"employer": " E-CITY"}, "data.employer", "must not start or end with spaces"),
        ({"bid_bond": "cash"}, "data.bid_bond", "must be an object {amount, form}"),
        ({"bid_bond": {"amount": "1", "form": "cheque"}}, "data.bid_bond.form", "cash, e_guarantee, exempt"),
        ({"bid_bond": {"amount": "1", "form": "cash", "bank": "x"}}, "data.bid_bond.bank", "unknown field"),
        ({"milestones": {"name": "x"}}, "data.milestones", "must be a list"),
        ({"milestones": ["Base course"]}, "data.milestones.0", "must be an object"),
        ({"milestones": [{"name": "", "amount": "1", "planned_date": "2026-05-31"}]}, "data.milestones.0.name",
         "must not be blank"),
        ({"milestones": [{"name": "A", "amount": 1.5, "planned_date": "2026-05-31"}]}, "data.milestones.0.amount",
         "binary float"),
        ({"milestones": [{"name": "A", "amount": "1", "planned_date": "2026-05-31", "x": 1}]},
         "data.milestones.0.x", "unknown field"),
        ({"retention": "3"}, "data.retention", "unknown field"),
    ],
)
def test_malformed_values_are_refused_on_their_path_with_a_clear_message(registry, change, path, message):
    _, errors = check(payload(**change), registry)

    assert path in errors, errors
    assert any(message in text for text in errors[path]), errors[path]


@pytest.mark.parametrize("data", [None, [], "data", 42, {}, {"milestones": [None, 3, [], {}]},
                                  {"bid_bond": {}, "contract_amount": {}, "track": ["works"]}])
def test_any_shape_of_input_gives_errors_never_an_exception(registry, data):
    out, errors = check(data, registry)

    assert out == {} and errors
    assert all(path == "data" or path.startswith("data.") for path in errors)
    assert all(isinstance(m, str) for messages in errors.values() for m in messages)


def test_a_payload_that_is_not_an_object_is_refused_as_a_whole(registry):
    assert check(["x"], registry) == ({}, {"data": ["must be a JSON object"]})


def test_ensure_raises_invalid_422_carrying_every_error(registry):
    with pytest.raises(Invalid) as caught:
        ensure_post_award(payload(performance_guarantee_rate="12", retention_rate="4"), CONTRACTOR, EMPLOYER,
                          True, ON, registry)

    assert caught.value.status == 422
    assert set(caught.value.errors) == {"data.performance_guarantee_rate", "data.retention_rate"}


def test_ensure_returns_the_normalised_data_when_valid(registry):
    assert ensure_post_award(payload(), CONTRACTOR, EMPLOYER, True, ON, registry)["payment_term_days"] == 30


# --- limits in the rule registry -------------------------------------------------------------


def test_default_registry_holds_the_caps_with_legal_basis_and_verification_mark(registry):
    marks = {limit.id: limit.verified for limit in registry.limits()}

    assert marks == {"BB01": "U", "CR01": "D", "CR02": "L", "D01": "P", "D02": "S", "D05": "P", "D07": "P", "D09": "P", "D13": "L",
                     "G07": "P", "P05": "P", "Q01": "S", "Q02": "S", "Q03": "S", "C01": "S", "C03": "S", "C03A": "S",
                     # the legal grounds a change or a termination keeps (kind "ground", no figure)
                     "CH01": "P", "CH02": "P", "CH03": "P", "TM01": "P", "TM02": "P", "TM03": "P", "TM04": "P",
                     "TM05": "P", "TM06": "P"}
    assert {limit.kind for limit in registry.limits() if limit.id.startswith(("CH", "TM"))} == {"ground"}
    assert registry.limit("D05", ON).max_percent == Decimal("10")
    assert registry.limit("D02", ON).max_amount == Decimal("800000")
    assert (registry.limit("Q03", ON).max_months, registry.limit("Q03", ON).default_months) == (24, 12)
    assert registry.limit("CR01", ON).exempt_ratings == ("AAA",)
    assert all(Limit.from_dict(limit.to_dict()) == limit for limit in registry.limits())


def test_limits_and_periods_keep_separate_ids_so_d07_is_both_a_refund_period_and_a_cap(registry):
    assert registry.get("D07", ON).unit == "workdays"
    assert registry.limit("D07", ON).max_percent == Decimal("2")
    assert all(rule.id != "D05" for rule in registry.all())
    with pytest.raises(UnknownRule, match="unknown rule 'D05'"):
        registry.get("D05", ON)


def test_limits_for_selects_by_subject_track_and_category(registry):
    ids = lambda *args, **kw: [limit.id for limit in registry.limits_for(*args, **kw)]  # noqa: E731

    assert ids("bid_bond", "tendering", "works", ON) == ["D01", "D02"]
    assert ids("bid_bond", "gov_procurement", "works", ON) == ["D07"]
    assert ids("retention", "tendering", "goods", ON) == []
    assert ids("retention", "gov_procurement", "works", ON, kind="prohibition") == ["Q02"]
    assert ids("bid_bond", "tendering", "goods", ON, kind="exemption") == ["CR01"]
    with pytest.raises(ValueError, match="subject must be one of"):
        registry.limits_for("retention_money", "tendering", "works", ON)


def test_a_local_limit_replaces_the_limit_of_its_id_and_not_the_period(registry):
    local = replace(registry.limit("D07", ON), max_percent=Decimal("1"))

    layered = registry.layered([local])

    assert layered.limit("D07", ON).max_percent == Decimal("1")
    assert layered.get("D07", ON) == registry.get("D07", ON)


def test_limit_before_its_first_version_is_unknown(registry):
    with pytest.raises(UnknownRule, match="limit Q03 has no version in force on 2016-01-01"):
        registry.limit("Q03", date(2016, 1, 1))


CAP = {
    "id": "T01",
    "kind": "cap",
    "title": "Test cap (测试)",
    "subject": "performance_guarantee",
    "max_percent": "10",
    "of": "contract_amount",
    "legal_basis": "测试依据第一条",
    "verified": "D",
    "effective_from": "2026-01-01",
    "effective_to": None,
}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"kind": "ceiling"}, "kind must be 'period' or one of"),
        ({"max_percent": 10}, "expected a decimal string"),
        ({"max_percent": "0"}, r"max_percent must be a decimal in \(0, 100\]"),
        ({"max_percent": "120"}, r"max_percent must be a decimal in \(0, 100\]"),
        ({"of": None}, "a max_percent needs 'of'"),
        ({"of": "turnover"}, "a max_percent needs 'of'"),
        ({"max_amount": "800000"}, "exactly one of max_percent, max_amount, max_months"),
        ({"max_percent": None, "of": None}, "exactly one of"),
        ({"subject": "defect_liability"}, "a cap on defect_liability takes max_months"),
        ({"subject": "deposit"}, "subject must be one of"),
        ({"tracks": ["tendering", "auction"]}, "tracks must be a non-empty list"),
        ({"categories": []}, "categories must be a non-empty list"),
        ({"tracks": "tendering"}, "tracks must be a list"),
        ({"exempt_ratings": ["AAA"]}, r"a cap does not take \['exempt_ratings'\]"),
        ({"verified": "X"}, "verified must be one of"),
        ({"effective_to": "2025-12-31"}, "effective_to must be a date on or after effective_from"),
        ({"surprise": 1}, "unknown fields"),
        ({"kind": "exemption", "max_percent": None, "of": None, "exempt_ratings": ["AAAA"]}, "exempt_ratings must be"),
        ({"kind": "prohibition", "max_percent": None, "of": None, "together_with": "performance_guarantee"},
         "together_with must be another subject"),
    ],
)
def test_malformed_limit_entries_are_refused_on_load(change, message):
    with pytest.raises(ValueError, match=message):
        RuleRegistry.from_json([{**CAP, **change}])


def test_overlapping_versions_of_one_limit_are_refused(registry):
    current = registry.limit("D05", ON)

    with pytest.raises(ValueError, match="limit D05: versions .* overlap"):
        RuleRegistry([current, replace(current, effective_from=date(2020, 1, 1))])


def test_a_period_entry_may_say_its_kind(registry):
    period = {**registry.get("G05", ON).to_dict(), "kind": "period"}

    assert RuleRegistry.from_json([period]).get("G05", ON) == registry.get("G05", ON)

