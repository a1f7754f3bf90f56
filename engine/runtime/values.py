"""Money and business dates: the one strict shape each takes wherever Lvyue accepts it.

Every input that carries an amount or a calendar date — task and start forms (engine/forms.py), the
post_award start terms (engine/contract_terms.py), guarantees (engine/guarantees.py, api/guarantees.py)
and the ledger (engine/ledger.py) — parses it here, so that one shape holds everywhere:

* **money** (金额, CNY): a JSON *string* of ASCII digits, at most `MONEY_INTEGER_DIGITS` (15) before an
  optional point and at most 2 (fen) after it: `"1200000.00"`, `"0.5"`, `"40000"`. Never negative
  (amounts in contracts, payments, invoices and guarantees are all ≥ 0; a reduction is its own field).
  Refused: JSON numbers (a binary float is not exact, and one shape is easier to check than two),
  exponents (`"1E+20000000"`), separators (`"1_000.00"`, `"1,000"`), other digits (`"１２３"`), a
  leading `+`, whitespace, `NaN`/`Infinity`. 15 integer digits reach 999 trillion yuan — beyond any
  public contract, and still exact as a double and in a NUMERIC(17, 2) column.
* **decimal** (rates, the form type `number`): the same shape with an optional `-`, at most
  `DECIMAL_PLACES` (6) decimals, also as a JSON integer of at most 15 digits; JSON floats only where a
  caller allows them, and then only when their shortest text has that shape (no exponent).
* **date** (业务日期): a JSON string exactly `YYYY-MM-DD` in ASCII digits naming a real calendar day
  between `EARLIEST_DATE` (2000-01-01) and `DATE_HORIZON_YEARS` (30) years after the engine clock's
  today in China. The window: the statutes supervised here (招标投标法, 政府采购法) and the official
  holiday calendar (engine/calendar.py) start in 2000; the longest span a supervised contract can
  need — a multi-year works contract, then up to 10 years of defect liability
  (contract_terms.MAX_DEFECT_LIABILITY_MONTHS) and a guarantee's validity beyond it — stays well
  inside 30 years, while `2100-01-01` or `9999-12-31` are typing errors whose deadlines would fall
  in years no calendar covers.

The text is checked against the shape before any `Decimal` is built from it: `Decimal("1E-99999999")`
itself is cheap, but quantizing or formatting it allocates gigabytes.

`parse_money`, `parse_decimal` and `parse_date` return the typed value or raise `BadValue` (a
ValueError) whose message says what the shape is; `Money`, `Number` and `BusinessDate` are the
marshmallow fields built on them (their JSON Schema pattern is `MONEY_PATTERN` / `DATE_PATTERN`).

Output has one shape too: `format_money` writes an amount as the API shows it (`"1200000.00"`),
and `amount_of` reads an amount kept in a contract's JSON data leniently (reports and views must not
fail on an old record). Money columns store an integer number of fen (engine/db.Money).
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import ValidationError, fields

from engine import clock
from engine.clock import SHANGHAI

MONEY_INTEGER_DIGITS = 15
MONEY_PLACES = 2
DECIMAL_INTEGER_DIGITS = 15
DECIMAL_PLACES = 6
EARLIEST_DATE = date(2000, 1, 1)
DATE_HORIZON_YEARS = 30

FEN = Decimal("0.01")
MONEY_EXAMPLE = "1200000.00"
DATE_EXAMPLE = "2026-12-01"

_MONEY = re.compile(rf"[0-9]{{1,{MONEY_INTEGER_DIGITS}}}(?:\.[0-9]{{1,{MONEY_PLACES}}})?")
_DECIMAL = re.compile(rf"-?[0-9]{{1,{DECIMAL_INTEGER_DIGITS}}}(?:\.[0-9]{{1,{DECIMAL_PLACES}}})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# For the messages only: which rule a refused money text breaks (each test is linear in its length).
_NEGATIVE = re.compile(r"-[0-9]+(?:\.[0-9]+)?")
_TOO_PRECISE = re.compile(r"-?[0-9]+\.[0-9]+")
_TOO_LONG = re.compile(r"-?[0-9]+(?:\.[0-9]*)?")

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_SHA256_LOWER = re.compile(r"[0-9a-f]{64}")


def is_sha256(value: Any) -> bool:
    """A document's SHA-256 as the API takes it in a JSON body: 64 lowercase hex digits."""
    return isinstance(value, str) and _SHA256_LOWER.fullmatch(value) is not None


def sha256_digest(value: Any) -> str | None:
    """A document's SHA-256 as 64 hex digits, lowercased (as a form's sha256 field takes it); None if it is not one."""
    return value.lower() if isinstance(value, str) and _SHA256.fullmatch(value) else None


# JSON Schema (2020-12) patterns; `$` there means end of text (Python's re uses fullmatch above,
# because its `$` also matches before a final newline).
MONEY_PATTERN = f"^{_MONEY.pattern}$"
DECIMAL_PATTERN = f"^{_DECIMAL.pattern}$"
DATE_PATTERN = f"^{_DATE.pattern}$"

MONEY_MESSAGE = f'money must be a decimal string with at most {MONEY_PLACES} decimals, e.g. "{MONEY_EXAMPLE}"'
DATE_MESSAGE = f'a date must be a string "YYYY-MM-DD", e.g. "{DATE_EXAMPLE}"'


class BadValue(ValueError):
    """A value that does not have the shape asked for; the message says which shape."""


def _shown(value: Any) -> str:
    """A refused value for a message: short, whatever its size (the text may be megabytes)."""
    if isinstance(value, str):
        return repr(value[:24] + ("…" if len(value) > 24 else ""))
    if isinstance(value, bool) or value is None:
        return "true" if value is True else "false" if value is False else "null"
    if isinstance(value, int) and value.bit_length() > 64:
        return "a very large integer"  # repr() of a 5,000-digit int raises, and would be long
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _bounded_decimal(value: Decimal) -> bool:
    """A Decimal someone else built: finite and of a size the shapes allow, checked without expanding it."""
    return value.is_finite() and -DECIMAL_PLACES - 1 <= value.adjusted() < DECIMAL_INTEGER_DIGITS


# ---------------------------------------------------------------------------- money
def parse_money(value: Any) -> Decimal:
    """The amount in `value` as a Decimal with exactly 2 places; BadValue unless `value` has the money shape.

    A Decimal (from an earlier parse) is accepted when it would have had the shape."""
    if isinstance(value, Decimal) and not isinstance(value, bool):
        if _bounded_decimal(value):
            fen = value.quantize(Decimal(1).scaleb(-MONEY_PLACES))
            if fen == value and fen >= 0 and _MONEY.fullmatch(format(fen, "f")):
                return fen
        raise BadValue(f"{MONEY_MESSAGE}; got {_shown(str(value))}")
    if isinstance(value, str):
        if _MONEY.fullmatch(value):
            return Decimal(value).quantize(Decimal(1).scaleb(-MONEY_PLACES))
        raise BadValue(_money_problem(value))
    if isinstance(value, float):
        raise BadValue(f"{MONEY_MESSAGE}, not a JSON number: a binary float is not exact (got {_shown(value)})")
    if isinstance(value, int) and not isinstance(value, bool):
        raise BadValue(f'{MONEY_MESSAGE}, not a JSON number: send "{value}" if that is the amount'
                       if abs(value) < 10 ** MONEY_INTEGER_DIGITS else f"{MONEY_MESSAGE}; got {_shown(value)}")
    raise BadValue(f"{MONEY_MESSAGE}; got {_shown(value)}")


def _money_problem(text: str) -> str:
    if _NEGATIVE.fullmatch(text):
        return f"money is never negative; got {_shown(text)}"
    if _TOO_PRECISE.fullmatch(text) and len(text.partition(".")[2]) > MONEY_PLACES:
        return f'money has at most {MONEY_PLACES} decimals (fen), e.g. "{MONEY_EXAMPLE}"; got {_shown(text)}'
    if _TOO_LONG.fullmatch(text) and len(text.partition(".")[0]) > MONEY_INTEGER_DIGITS:
        return (f"money has at most {MONEY_INTEGER_DIGITS} digits before the decimal point; "
                f"got {len(text.partition('.')[0])}")
    return f"{MONEY_MESSAGE} (ASCII digits only; no exponent, sign, separator or space); got {_shown(text)}"


def format_money(value: Decimal) -> str:
    """An amount as the API writes it: a decimal string with exactly 2 places, `"1200000.00"`.

    An amount computed from others (a rate of a contract amount) is rounded to the fen here, half to
    even as Decimal rounds by default — the one place where output rounds; stored money never does
    (engine/db.Money refuses a value finer than a fen)."""
    return format(value.quantize(FEN), "f")


def money_number(value: Any) -> int | float:
    """An amount as the JSON number an export wants (OCDS `value.amount`): an int for whole yuan, else the
    value with 2 decimals as a float (exact to the fen for any amount of the money shape)."""
    amount = amount_of(value).quantize(FEN)
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def amount_of(value: Any) -> Decimal:
    """The amount in a value kept in a contract's JSON data (a decimal string, a number, a Decimal), or 0
    when it holds none or no number: lenient, for reading ledgers, views and reports — never for input."""
    if value is None or value == "" or isinstance(value, bool):
        return Decimal(0)
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)
    return number if _bounded_decimal(number) or number.is_zero() else Decimal(0)


# ---------------------------------------------------------------------------- decimals (rates, numbers)
def parse_decimal(value: Any, *, floats: bool = False) -> Decimal:
    """The number in `value` as a Decimal; BadValue unless it is a decimal string of the decimal shape,
    a JSON integer of at most 15 digits, a finite Decimal of that size, or — with `floats` — a JSON
    float whose shortest text has the decimal shape."""
    if isinstance(value, bool):
        raise BadValue(f'must be a number such as "12.5"; got {_shown(value)}')
    if isinstance(value, Decimal):
        if _bounded_decimal(value) and _DECIMAL.fullmatch(format(value.normalize() if value else Decimal(0), "f")):
            return value
        raise BadValue(f"must be a decimal of at most {DECIMAL_INTEGER_DIGITS} digits and {DECIMAL_PLACES} decimals")
    if isinstance(value, int):
        if abs(value) < 10 ** DECIMAL_INTEGER_DIGITS:
            return Decimal(value)
        raise BadValue(f"must have at most {DECIMAL_INTEGER_DIGITS} digits; got {_shown(value)}")
    if isinstance(value, float):
        text = repr(value)
        if not floats:
            raise BadValue(f'must be a decimal string such as "12.5" or an integer: a number with a fraction is a '
                           f"binary float and not exact (got {_shown(value)})")
        if _DECIMAL.fullmatch(text):
            return Decimal(text)
        raise BadValue(f"must be a number of at most {DECIMAL_INTEGER_DIGITS} digits and {DECIMAL_PLACES} "
                       f"decimals, written without an exponent; got {_shown(value)}")
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return Decimal(value)
    raise BadValue(f'must be a decimal string such as "12.5" (ASCII digits, at most {DECIMAL_INTEGER_DIGITS} '
                   f"before the point and {DECIMAL_PLACES} after it; no exponent, separator or space); "
                   f"got {_shown(value)}")


# ---------------------------------------------------------------------------- dates
def today() -> date:
    """The engine clock's date in China."""
    return clock.now().astimezone(SHANGHAI).date()


def latest_date(on: date | None = None) -> date:
    """The last business date accepted when today is `on` (default: the engine clock's today)."""
    on = on or today()
    try:
        return on.replace(year=on.year + DATE_HORIZON_YEARS)
    except ValueError:  # 29 February
        return on.replace(year=on.year + DATE_HORIZON_YEARS, day=28)


def parse_date(value: Any, *, on: date | None = None) -> date:
    """The calendar date in `value`; BadValue unless it is a "YYYY-MM-DD" string (or a date, not a
    datetime) of a real day from EARLIEST_DATE to `latest_date(on)`."""
    if isinstance(value, date) and not isinstance(value, datetime):
        day = value
    elif isinstance(value, str) and _DATE.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise BadValue(f"{_shown(value)} is not a calendar date") from None
    else:
        raise BadValue(f"{DATE_MESSAGE} (ASCII digits); got {_shown(value)}")
    last = latest_date(on)
    if not EARLIEST_DATE <= day <= last:
        raise BadValue(f"{day.isoformat()} is outside the accepted window {EARLIEST_DATE.isoformat()} to "
                       f"{last.isoformat()} (today + {DATE_HORIZON_YEARS} years): a typing error?")
    return day


# ---------------------------------------------------------------------------- marshmallow fields
class _Strict(fields.Field):
    parse = staticmethod(parse_money)

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return self.parse(value)
        except BadValue as exc:
            raise ValidationError(str(exc)) from None

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.isoformat() if isinstance(value, date) else format(value, "f")


class Money(_Strict):
    """An amount in CNY of the money shape, loaded as a Decimal with 2 places."""

    def __init__(self, **kwargs):
        metadata = {"type": "string", "pattern": MONEY_PATTERN, "example": MONEY_EXAMPLE,
                    "description": f"CNY as a decimal string, at most {MONEY_INTEGER_DIGITS} digits and "
                                   f"{MONEY_PLACES} decimals", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)


class Number(_Strict):
    """A bounded decimal: a decimal string, a JSON integer or (without an exponent) a JSON number."""

    parse = staticmethod(lambda value: parse_decimal(value, floats=True))

    def __init__(self, **kwargs):
        super().__init__(metadata={"type": ["number", "string"], "pattern": DECIMAL_PATTERN,
                                   **kwargs.pop("metadata", {})}, **kwargs)


class BusinessDate(_Strict):
    """A calendar date "YYYY-MM-DD" within the accepted window, loaded as a date."""

    parse = staticmethod(parse_date)

    def __init__(self, **kwargs):
        metadata = {"type": "string", "format": "date", "pattern": DATE_PATTERN, "example": DATE_EXAMPLE,
                    **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)
