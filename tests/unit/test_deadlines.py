"""Deadline arithmetic: the official calendar, the rule registry and Civil Code period counting."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import chinese_calendar
import pytest

from engine.supervision.calendar import OfficialCalendar, from_chinesecalendar, parse_schedule
from engine.supervision.deadlines import SHANGHAI, Deadline, add_days, add_workdays, deadline, period_end
from engine.supervision.rules import Rule, RuleRegistry, UnknownRule, load_default


@pytest.fixture(scope="module")
def calendar() -> OfficialCalendar:
    return from_chinesecalendar()


@pytest.fixture(scope="module")
def registry() -> RuleRegistry:
    return load_default()


# A schedule for 2027 used only as test data: the package does not cover 2027, and these dates
# are not the State Council's notice.
SCHEDULE_2027 = {
    "year": 2027,
    "holidays": [
        {"date": "2027-01-01", "name": "元旦"},
        {"date": "2027-01-02", "name": "元旦"},
        "2027-01-03",
    ],
    "workdays": [{"date": "2027-02-20", "name": "春节"}],
}


# --- Civil Code counting -------------------------------------------------------------------


def test_thirty_days_from_september_first_2026_end_after_national_day_on_october_eighth(calendar):
    # Counting starts on 2026-09-02, so the nominal last day is 2026-10-01: the first day of the
    # National Day block (10-01 to 10-07 in the package). The period ends on the day after the
    # holiday, 2026-10-08, a Thursday and a working day.
    assert all(chinese_calendar.is_holiday(date(2026, 10, day)) for day in range(1, 8))
    assert chinese_calendar.is_workday(date(2026, 10, 8))

    end = add_days(date(2026, 9, 1), 30, calendar)

    assert end.last_day == date(2026, 10, 8)
    assert end.due_at == datetime(2026, 10, 8, 16, 0, tzinfo=timezone.utc)
    assert end.due_at == datetime(2026, 10, 9, 0, 0, tzinfo=SHANGHAI)
    assert end.provisional is False


def test_start_day_is_not_counted(calendar):
    # 2026-03-02 is a Monday; three days later is Thursday 2026-03-05, an ordinary working day.
    assert add_days(date(2026, 3, 2), 3, calendar).last_day == date(2026, 3, 5)


def test_period_ending_on_a_weekend_moves_to_monday(calendar):
    # 2026-03-07 is an ordinary Saturday.
    assert add_days(date(2026, 3, 2), 5, calendar).last_day == date(2026, 3, 9)


def test_period_ending_on_a_make_up_saturday_ends_that_saturday(calendar):
    # 2026-10-10 is a Saturday worked in lieu of the National Day holiday (调休上班).
    assert date(2026, 10, 10).weekday() == 5 and chinese_calendar.is_workday(date(2026, 10, 10))
    assert add_days(date(2026, 10, 3), 7, calendar).last_day == date(2026, 10, 10)


def test_working_day_period_counts_a_make_up_saturday(calendar):
    # 2026-02-28 is a Saturday worked in lieu of the Spring Festival. From Wednesday 2026-02-25
    # the working days are 26, 27, 28 (Saturday), then 2, 3, 4, 5 March: the 7th is 5 March.
    # Without the make-up Saturday it would be Friday 6 March.
    assert date(2026, 2, 28).weekday() == 5
    assert chinese_calendar.get_holiday_detail(date(2026, 2, 28)) == (False, "Spring Festival")

    end = add_workdays(date(2026, 2, 25), 7, calendar)

    assert end.last_day == date(2026, 3, 5)
    assert end.due_at == datetime(2026, 3, 5, 16, 0, tzinfo=timezone.utc)


def test_working_day_period_skips_the_holiday_block(calendar, registry):
    # G05: 7 working days from Monday 2026-09-28 are 29, 30 Sep, then (after 1–7 Oct) 8, 9,
    # 10 (make-up Saturday), 12, 13 Oct.
    end = deadline("G05", date(2026, 9, 28), calendar, registry)

    assert end.last_day == date(2026, 10, 13)
    assert end.rule_id == "G05"
    assert "政府采购法》第四十七条" in end.legal_basis


def test_aware_datetime_start_counts_from_its_date_in_china(calendar):
    just_after_midnight_in_china = datetime(2026, 8, 31, 16, 30, tzinfo=timezone.utc)
    late_evening_in_china = datetime(2026, 9, 1, 15, 59, tzinfo=timezone.utc)

    for start in (just_after_midnight_in_china, late_evening_in_china):
        assert add_days(start, 30, calendar).last_day == date(2026, 10, 8)


def test_naive_datetime_start_is_refused(calendar):
    with pytest.raises(ValueError, match="naive"):
        add_days(datetime(2026, 9, 1, 10, 0), 30, calendar)


@pytest.mark.parametrize("days", [0, -1, 1.5, True])
def test_period_length_must_be_a_positive_integer(calendar, days):
    with pytest.raises(ValueError):
        add_days(date(2026, 9, 1), days, calendar)


def test_unknown_unit_is_refused(calendar):
    with pytest.raises(ValueError, match="unit"):
        period_end(date(2026, 9, 1), 3, "weeks", calendar)


# --- Years without an official schedule ----------------------------------------------------


def test_period_ending_in_an_unknown_year_is_provisional_and_judged_by_weekends_only(calendar):
    assert 2027 not in calendar.known_years
    # The nominal last day is Friday 2027-01-01: a weekday, so without the 2027 schedule it stands.
    end = add_days(date(2026, 12, 2), 30, calendar)

    assert end.last_day == date(2027, 1, 1)
    assert end.provisional is True


def test_working_day_period_reaching_into_an_unknown_year_is_provisional(calendar):
    # Thursday 2026-12-31, then Friday 2027-01-01 and Monday 2027-01-04 by the weekend rule.
    end = add_workdays(date(2026, 12, 30), 3, calendar)

    assert end.last_day == date(2027, 1, 4)
    assert end.provisional is True


def test_importing_a_year_turns_a_provisional_deadline_into_an_official_one(calendar):
    year, holidays, workdays = parse_schedule(json.dumps(SCHEDULE_2027, ensure_ascii=False))
    official = calendar.with_year(year, holidays, workdays)

    before = add_days(date(2026, 12, 2), 30, calendar)
    after = add_days(date(2026, 12, 2), 30, official)

    assert before == Deadline(date(2027, 1, 1), datetime(2027, 1, 1, 16, 0, tzinfo=timezone.utc), True)
    assert after == Deadline(date(2027, 1, 4), datetime(2027, 1, 4, 16, 0, tzinfo=timezone.utc), False)
    assert official.is_workday(date(2027, 2, 20))  # a make-up Saturday from the import
    assert not calendar.is_workday(date(2027, 2, 20))


def test_with_year_replaces_that_year_and_leaves_the_calendar_unchanged(calendar):
    replaced = calendar.with_year(2026, {date(2026, 3, 3)}, set())

    assert not replaced.is_workday(date(2026, 3, 3))
    assert replaced.is_workday(date(2026, 10, 8)) and replaced.is_workday(date(2026, 10, 1))
    assert not replaced.is_workday(date(2026, 10, 10))  # the old make-up Saturday is gone
    assert calendar.is_workday(date(2026, 3, 3)) and not calendar.is_workday(date(2026, 10, 1))


def test_seeded_calendar_agrees_with_the_package_on_every_known_day(calendar):
    first, last = min(calendar.known_years), max(calendar.known_years)
    assert (first, last) == (2004, 2026)
    day = date(first, 1, 1)
    while day.year <= last:
        assert calendar.is_workday(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


def test_calendar_round_trips_through_its_stored_form(calendar):
    stored = json.loads(json.dumps(calendar.to_dict()))

    assert OfficialCalendar.from_dict(stored) == calendar


def test_calendar_refuses_a_date_outside_its_known_years():
    with pytest.raises(ValueError, match="outside the known years"):
        OfficialCalendar({date(2027, 1, 1)}, set(), {2026})


# --- Rule registry -------------------------------------------------------------------------


def test_sme_payment_rule_uses_the_2025_text_from_june_2025_and_the_2020_text_before(registry):
    revised = registry.get("P01", date(2025, 6, 1))
    original = registry.get("P01", date(2025, 5, 31))

    assert "国务院令第802号" in revised.legal_basis and "第九条" in revised.legal_basis
    assert "国务院令第728号" in original.legal_basis and "第八条" in original.legal_basis
    assert registry.versions("P01") == (original, revised)


def test_rule_before_its_first_version_is_unknown_and_says_which_versions_exist(registry):
    with pytest.raises(UnknownRule, match=r"P01 has no version in force on 2019-01-01.*2020-09-01"):
        registry.get("P01", date(2019, 1, 1))


def test_unknown_rule_id_is_a_key_error_naming_the_id(registry):
    with pytest.raises(KeyError, match="'Z99'"):
        registry.get("Z99", date(2026, 1, 1))


def test_deadline_picks_the_rule_version_by_the_date_given(calendar, registry):
    delivered = date(2025, 6, 10)

    by_delivery = deadline("P01", delivered, calendar, registry)
    by_signing = deadline("P01", delivered, calendar, registry, on=date(2025, 3, 1))

    assert "第802号" in by_delivery.legal_basis
    assert "第728号" in by_signing.legal_basis


def test_agreed_days_within_the_cap_replace_the_statutory_default(calendar, registry):
    # 60 days from 2026-03-02 is Friday 2026-05-01, Labour Day; the holiday ends on 05-05.
    end = deadline("P01", date(2026, 3, 2), calendar, registry, agreed_days=60)

    assert end.last_day == date(2026, 5, 6)
    assert end.rule_id == "P01"


def test_agreed_days_over_the_cap_are_refused_with_the_legal_basis(calendar, registry):
    with pytest.raises(ValueError, match=r"P01 .*61 days exceeds .*cap of 60 days.*第802号）第九条第一款"):
        deadline("P01", date(2026, 3, 2), calendar, registry, agreed_days=61)


def test_default_registry_holds_the_seeded_rules_with_their_legal_basis(registry):
    ids = {rule.id for rule in registry.all()}

    assert {"R03", "R04", "R07", "G03", "G04", "G05", "G06", "D03", "D07", "P01", "Q04", "Q07", "L01"} <= ids
    assert all(rule.legal_basis and rule.verified in "PSULD" for rule in registry.all())
    assert registry.get("D07", date(2026, 1, 1)).unit == "workdays"
    assert registry.get("Q07", date(2026, 1, 1)).verified == "D"
    assert all(Rule.from_dict(rule.to_dict()) == rule for rule in registry.all())


def test_overlapping_versions_of_one_rule_are_refused(registry):
    current = registry.get("G05", date(2026, 1, 1))
    overlapping = replace(current, effective_from=date(2020, 1, 1))

    with pytest.raises(ValueError, match="G05: versions .* overlap"):
        RuleRegistry([current, overlapping])


def test_a_local_setting_replaces_the_default_version(registry):
    default = registry.get("L01", date(2026, 1, 1))
    local = replace(default, days=10)

    layered = registry.layered([local])

    assert layered.get("L01", date(2026, 1, 1)).days == 10
    assert registry.get("L01", date(2026, 1, 1)) == default


@pytest.mark.parametrize(
    "change, message",
    [
        ({"unit": "months"}, "unit must be one of"),
        ({"days": 0}, "days must be a positive integer"),
        ({"cap": 5}, "cap must be an integer no smaller than days"),
        ({"verified": "X"}, "verified must be one of"),
        ({"effective_from": "2026-02-30"}, "not a calendar date"),
        ({"surprise": 1}, "unknown fields"),
    ],
)
def test_malformed_rules_file_entries_are_refused(change, message):
    entry = {
        "id": "T01",
        "title": "Test period (测试)",
        "days": 30,
        "unit": "days",
        "start_event": "signing",
        "legal_basis": "测试依据第一条",
        "verified": "D",
        "effective_from": "2026-01-01",
        "effective_to": None,
        **change,
    }
    with pytest.raises(ValueError, match=message):
        RuleRegistry.from_json([entry])


# --- Schedule import -----------------------------------------------------------------------


def test_schedule_import_accepts_named_and_plain_entries():
    year, holidays, workdays = parse_schedule(SCHEDULE_2027)

    assert year == 2027
    assert holidays == {date(2027, 1, 1), date(2027, 1, 2), date(2027, 1, 3)}
    assert workdays == {date(2027, 2, 20)}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"holidays": ["2027-1-1"]}, r"holidays\[0\]: expected a date as 'YYYY-MM-DD'"),
        ({"holidays": ["20270101"]}, r"holidays\[0\]: expected a date"),
        ({"holidays": ["2027-02-30"]}, r"holidays\[0\]: '2027-02-30' is not a calendar date"),
        ({"holidays": ["2027-01-01", "2028-01-01"]}, r"holidays\[1\] \(2028-01-01\) is not in the schedule's year 2027"),
        ({"holidays": ["2027-01-01", "2027-01-01"]}, r"holidays\[1\] \(2027-01-01\) repeats holidays\[0\]"),
        ({"holidays": [{"day": "2027-01-01"}]}, r"holidays\[0\]: an object entry has a 'date'"),
        ({"holidays": [{"date": "2027-01-01", "name": ""}]}, r"holidays\[0\]: 'name' must be a non-empty string"),
        ({"holidays": []}, "holidays for 2027 is empty"),
        ({"holidays": "2027-01-01"}, "holidays must be a list"),
        ({"workdays": ["2027-02-22"]}, r"workdays\[0\] \(2027-02-22\) is a Monday"),
        ({"workdays": ["2027-01-02"]}, "both as holiday and as workday: 2027-01-02"),
        ({"year": "2027"}, "year must be an integer"),
        ({"year": 2207}, "year must be an integer from 2000 to 2100"),
        ({"source": "国办发明电"}, r"unknown \['source'\]"),
    ],
)
def test_schedule_import_refuses_malformed_entries_naming_them(change, message):
    with pytest.raises(ValueError, match=message):
        parse_schedule({**SCHEDULE_2027, **change})


def test_schedule_import_refuses_text_that_is_not_json():
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_schedule('{"year": 2027,')


def test_schedule_import_requires_every_key():
    with pytest.raises(ValueError, match=r"missing \['workdays'\]"):
        parse_schedule({"year": 2027, "holidays": ["2027-01-01"]})
