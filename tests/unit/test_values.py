"""The strict shapes of money and business dates (engine/values.py), on their own."""
from __future__ import annotations

import time
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st
from marshmallow import Schema, ValidationError

from engine import clock
from engine.runtime import forms, values
from engine.storage.db import Money
from engine.runtime.values import BadValue, parse_date, parse_decimal, parse_money

HOSTILE_MONEY = ["1E+20000000", "1E-99999999", "1e2", 1200000.5, 1200000, "1_000.00", "1,000.00", "１２３.００", "١٢٣",
                 "1" * 40, "1" * 16, "1.001", " 12.00", "12.00 ", "12.00\n", "+12.00", "-12.00", "-0", "NaN", "nan",
                 "Infinity", "-Infinity", "sNaN", "", ".5", "5.", "0x10", True, None, [], {}, Decimal("1E+20000000"),
                 Decimal("NaN"), Decimal("1.001"), Decimal("-1")]
HOSTILE_DATES = ["20261201", "2100-01-01", "1999-12-31", "2026-02-30", "2026-1-5", "２０２６-１２-０１", "2026-12-01T00:00:00",
                 "2026-12-01\n", " 2026-12-01", "+2026-12-01", "2026-W48-2", "2026-335", 20261201, None,
                 datetime(2026, 12, 1, tzinfo=timezone.utc), date(2100, 1, 1)]
TODAY = date(2026, 8, 4)


@pytest.mark.parametrize("value, expected", [("1200000.00", "1200000.00"), ("0", "0.00"), ("0.5", "0.50"),
                                             ("999999999999999.99", "999999999999999.99"), ("007", "7.00"),
                                             (Decimal("1.1"), "1.10"), (Decimal("40000.00"), "40000.00")])
def test_money_in_the_shape_parses_to_a_decimal_with_two_places(value, expected):
    parsed = parse_money(value)
    assert isinstance(parsed, Decimal) and format(parsed, "f") == expected


@pytest.mark.parametrize("value", HOSTILE_MONEY, ids=repr)
def test_money_outside_the_shape_is_refused_with_a_short_message(value):
    with pytest.raises(BadValue) as refused:
        parse_money(value)
    assert "money" in str(refused.value) and len(str(refused.value)) < 200


def test_each_broken_rule_of_money_gets_its_own_message():
    def message(v):
        with pytest.raises(BadValue) as refused:
            parse_money(v)
        return str(refused.value)

    assert message("-5") == "money is never negative; got '-5'"
    assert message("1.001").startswith("money has at most 2 decimals (fen)")
    assert message("1" * 40) == "money has at most 15 digits before the decimal point; got 40"
    assert "not a JSON number: a binary float is not exact" in message(0.1)
    assert message(12).endswith('send "12" if that is the amount')
    assert message("1E+20000000").startswith('money must be a decimal string with at most 2 decimals, e.g. "1200000.00"')


def test_an_exponent_is_refused_before_any_decimal_is_expanded():
    started = time.perf_counter()
    for hostile in ("1E-99999999", "1E+20000000", "9" * 1_000_000, "0." + "0" * 1_000_000 + "1"):
        with pytest.raises(BadValue):
            parse_money(hostile)
    assert time.perf_counter() - started < 1


@given(st.integers(min_value=0, max_value=10 ** 15 - 1), st.integers(min_value=0, max_value=99))
def test_every_amount_in_fen_round_trips_through_its_text(yuan, fen):
    text = f"{yuan}.{fen:02d}"
    assert format(parse_money(text), "f") == text
    assert parse_money(parse_money(text)) == parse_money(text)  # an earlier parse passes again


@given(st.text(max_size=30))
def test_any_text_is_either_refused_or_plain_ascii_money(text):
    try:
        parsed = parse_money(text)
    except BadValue:
        return
    assert text.isascii() and set(text) <= set("0123456789.") and parsed == Decimal(text)


@pytest.mark.parametrize("value", ["2026-12-01", "2000-01-01", "2056-08-04", date(2026, 8, 4)], ids=str)
def test_dates_in_the_shape_and_window_parse(value):
    assert parse_date(value, on=TODAY) == (value if isinstance(value, date) else date.fromisoformat(value))


@pytest.mark.parametrize("value", HOSTILE_DATES, ids=repr)
def test_dates_outside_the_shape_or_window_are_refused(value):
    with pytest.raises(BadValue):
        parse_date(value, on=TODAY)


def test_the_date_window_ends_thirty_years_after_the_engine_clocks_today():
    with clock.frozen_at(datetime(2026, 8, 3, 20, 0, tzinfo=timezone.utc)):  # 04:00 on 08-04 in China
        assert values.latest_date() == date(2056, 8, 4)
        assert parse_date("2056-08-04") == date(2056, 8, 4)
        with pytest.raises(BadValue, match="outside the accepted window 2000-01-01 to 2056-08-04"):
            parse_date("2056-08-05")
    assert values.latest_date(date(2028, 2, 29)) == date(2058, 2, 28)


@pytest.mark.parametrize("value, expected", [("10", "10"), ("0.1234", "0.1234"), ("-3.5", "-3.5"), (7, "7"),
                                             (Decimal("2.50"), "2.50")])
def test_decimals_for_rates_parse(value, expected):
    assert format(parse_decimal(value), "f") == expected


@pytest.mark.parametrize("value", ["1e3", "1E+20000000", "１０", "1_0", " 1", "NaN", "1.1234567", True, 10 ** 16, 0.5,
                                   Decimal("1E+999999")], ids=repr)
def test_decimals_outside_the_shape_are_refused(value):
    with pytest.raises(BadValue):
        parse_decimal(value)


def test_a_float_is_a_decimal_only_where_allowed_and_only_without_an_exponent():
    assert parse_decimal(0.5, floats=True) == Decimal("0.5")
    for hostile in (1e-07, 1e16, float("nan"), float("inf")):
        with pytest.raises(BadValue):
            parse_decimal(hostile, floats=True)


def test_the_marshmallow_fields_load_typed_values_and_name_the_field_on_refusal():
    schema = Schema.from_dict({"amount": values.Money(), "on": values.BusinessDate(), "rate": values.Number()})()
    assert schema.load({"amount": "12.5", "on": "2026-12-01", "rate": 1.5}) == {
        "amount": Decimal("12.50"), "on": date(2026, 12, 1), "rate": Decimal("1.5")}
    with pytest.raises(ValidationError) as refused:
        schema.load({"amount": "1E+20000000", "on": "20261201", "rate": "1e3"})
    assert set(refused.value.messages) == {"amount", "on", "rate"}
    assert schema.dump({"amount": Decimal("12.50"), "on": date(2026, 12, 1)}) == {"amount": "12.50", "on": "2026-12-01"}


@pytest.mark.parametrize("ftype", ["money", "decimal"])
def test_form_money_types_take_the_money_shape_and_its_json_schema(ftype):
    form = [{"name": "amount", "type": ftype, "required": True, "min": "0"}, {"name": "paid_at", "type": "date"}]
    typed, errors = forms.validate(form, {"amount": "1200000.5", "paid_at": "2026-12-01"})
    assert errors == {} and typed == {"amount": Decimal("1200000.50"), "paid_at": date(2026, 12, 1)}
    for field, hostile in (("amount", "1E+20000000"), ("amount", 1200000.5), ("amount", "１２３"), ("amount", "1.001"),
                           ("paid_at", "20261201"), ("paid_at", "2100-01-01")):
        _, errors = forms.validate(form, {"amount": "1.00", field: hostile})
        assert list(errors) == [f"data.{field}"], (hostile, errors)
    schema = forms.json_schema(form)["properties"]
    assert schema["amount"]["pattern"] == values.MONEY_PATTERN
    assert (schema["paid_at"]["format"], schema["paid_at"]["pattern"]) == ("date", values.DATE_PATTERN)


def test_a_form_bound_must_itself_be_a_plain_decimal_at_deploy():
    from lxml import etree

    element = etree.fromstring(
        '<bpmn:userTask xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:lvyue="http://lvyue.org/schema/bpmn/1.0">'
        '<bpmn:extensionElements><lvyue:form><lvyue:field name="amount" type="money" min="1E+20000000"/>'
        '</lvyue:form></bpmn:extensionElements></bpmn:userTask>')
    _, problems = forms.read_form(element)
    assert [p for p, _ in problems] == [
        "form field 'amount': min must be a decimal string such as \"12.5\" (ASCII digits, at most 15 before the point "
        "and 6 after it; no exponent, separator or space); got '1E+20000000'"]


# ---------------------------------------------------------------------------- output: the one money helper
@pytest.mark.parametrize("value, text", [
    (Decimal("1200000.00"), "1200000.00"), (Decimal("0.5"), "0.50"), (Decimal(40000), "40000.00"),
    (Decimal("0E-8"), "0.00"), (Decimal("28000.000"), "28000.00"),
    # A computed amount (a rate of the contract amount) rounds to the fen here, half to even as before.
    (Decimal("61728.3945"), "61728.39"), (Decimal("0.125"), "0.12"), (Decimal("0.135"), "0.14"),
])
def test_format_money_writes_two_places(value, text):
    assert values.format_money(value) == text


@pytest.mark.parametrize("value, amount", [
    ("1200000.00", Decimal("1200000.00")), (3, Decimal(3)), (Decimal("0.5"), Decimal("0.5")),
    (None, Decimal(0)), ("", Decimal(0)), ("abc", Decimal(0)), (True, Decimal(0)),
    ("1E+999999999", Decimal(0)),  # not expanded: a reader never allocates for a hostile exponent
])
def test_amount_of_reads_stored_data_leniently(value, amount):
    assert values.amount_of(value) == amount


def test_money_number_is_an_int_for_whole_yuan():
    assert values.money_number("1200000.00") == 1200000 and isinstance(values.money_number("1200000.00"), int)
    assert values.money_number(Decimal("0.5")) == 0.5


@pytest.mark.parametrize("value, fen", [
    (Decimal("1200000.00"), 120000000), (Decimal("0.5"), 50), (Decimal("28000.000"), 2800000), (Decimal(0), 0),
    (Decimal("0E-8"), 0), (7, 700), (Decimal("9999999999999999.99"), 999999999999999999),
])
def test_the_money_column_stores_fen(value, fen):
    assert Money.to_fen(value) == fen
    assert Money().process_result_value(fen, None) == value and str(Money().process_result_value(fen, None)).count(".") == 1


@pytest.mark.parametrize("value", [Decimal("0.001"), Decimal("1.005"), Decimal("1E-999999999"), Decimal("NaN"),
                                   Decimal("-Infinity"), Decimal("1E+17"), "1.00", 1.5, True])
def test_the_money_column_never_rounds(value):
    with pytest.raises(ValueError):
        Money.to_fen(value)
