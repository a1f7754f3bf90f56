"""The terms of a contract under supervision: the `post_award` start data, checked against the
statutory limits of the rule registry (engine/rules.json) before anything is stored.

Pure: the caller passes the organisations, whether the employer is a public body (机关、事业单位),
the date that selects the rule versions, the registry and today. Nothing here reads the database,
nor the clock when today is given (without it, the date window of engine/values.py uses the engine
clock's today).

Conventions of the start data (API.md: money as decimal strings, never floats):

* Money (`contract_amount`, `bid_bond.amount`, `milestones[].amount`) is CNY in the money shape of
  engine/values.py: a decimal string such as "1200000.00", at most 2 decimal places, never a JSON
  number (a binary float cannot carry every amount in fen exactly). Normalised to a Decimal with
  2 places.
* Rates (`performance_guarantee_rate`, `retention_rate`) are percentages: 10 means 10 %, "0.1"
  means 0.1 % (not 10 %). A decimal string or a JSON integer (values' decimal shape), 0 to 100, at
  most 4 decimal places; floats refused as for money. Normalised to a Decimal; 0 means none agreed.
* Counts (`defect_liability_months`, `payment_term_days`, `acceptance_days`) are JSON integers.
* Dates are "YYYY-MM-DD" strings (or `date` objects, as a form validation may already give) within
  values' window (engine/values.py).
* Error paths are `data.<field>` and, inside lists, the 0-based position as JSON gives it:
  `data.milestones.2.amount` is the third milestone, which the normalised data numbers `no` 3.

Every refusal on a statutory limit names the rule id, the limit and the legal basis, and says
how far the rule was verified when it is not checked against the primary text (DOMAIN.md §0).
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine.runtime import values
from engine.errors import Invalid
from engine.supervision import works_payments
from engine.supervision.rules import CATEGORIES, MONEYLESS_BOND_FORMS, TRACKS, Limit, RuleRegistry

if TYPE_CHECKING:
    from engine.storage.models import Organisation

BID_BOND_FORMS = ("cash", "e_guarantee", "exempt", "commitment_letter", "not_required")
MAX_MILESTONES = 500
MAX_NAME_LENGTH = 200
MAX_CODE_LENGTH = 64  # organisations.code and departments.code columns

# Engineering bounds (DOMAIN.md mark D), not statutes: they catch typos where no law sets a cap.
# A payment term beyond a year is deferred financing rather than a payment term (and P14 forbids
# making the contractor pre-finance public works), so it is refused even where P01 does not apply.
MAX_PAYMENT_TERM_DAYS = 365
# P04 requires the contract to state a "clear, reasonable" inspection period but sets no number.
MAX_ACCEPTANCE_DAYS = 90
# Q03 caps the defect liability period for works only; goods warranties run longer, so other
# categories get only this bound.
MAX_DEFECT_LIABILITY_MONTHS = 120
# Larger amounts are typing errors (a trillion yuan is beyond any single public contract).
MAX_AMOUNT = Decimal("1000000000000")

# Where the registry gives the value a contract takes when it is silent: the works defect
# liability period (Q03) and the statutory SME payment period (P01), used for every contract.
DEFAULT_DEFECT_LIABILITY_RULE = "Q03"
PAYMENT_RULE = "P01"

_FIELDS = (
    "project_code", "project_name", "track", "category", "award_notice_date", "contract_amount",
    "employer", "contractor", "guarantor", "department", "bid_bond", "performance_guarantee_rate",
    "retention_rate", "defect_liability_months", "payment_term_days", "acceptance_days", "milestones",
    "payment_terms", "late_interest_percent_per_day", "funding_source", "tendering_reported_at",
)
# Where the money comes from (资金来源), for arrears by funding source: the project approval states it.
FUNDING_SOURCES = ("fiscal_budget", "special_bonds", "state_owned", "self_raised", "mixed")
_MILESTONE_FIELDS = ("no", "name", "amount", "planned_date")
# Fields the normalised data adds (the works partition's collection, what its branches read before the employer acts).
_DERIVED = ("works_payments", *works_payments.BLANKS)
_FEN = Decimal("0.01")

_VERIFICATION = {
    "S": "verified S: checked against secondary sources only",
    "U": "verified U: not checked against any source",
    "L": "verified L: a local rule",
    "D": "verified D: an engineering default, not a statute",
}
_BASES = {
    "contract_amount": "the contract amount",
    "estimated_price": "the estimated price (估算价)",
    "budget_amount": "the budget amount (预算金额)",
    "settlement_price": "the total settlement price (结算总额)",
}
# The field of the start data that carries each limit subject, for error paths and messages.
_SUBJECT_FIELDS = {
    "bid_bond": ("bid_bond.amount", "bid bond"),
    "performance_guarantee": ("performance_guarantee_rate", "performance guarantee rate"),
    "retention": ("retention_rate", "retention rate"),
    "defect_liability": ("defect_liability_months", "defect liability period"),
}
_NOUNS = {
    "bid_bond": "bid bond",
    "performance_guarantee": "performance guarantee",
    "retention": "quality retention",
    "defect_liability": "defect liability period",
}


def validate_post_award(
    data: Mapping,
    contractor: Organisation | None,
    employer: Organisation | None,
    employer_is_public: bool,
    on: date,
    registry: RuleRegistry,
    *,
    today: date | None = None,
) -> tuple[dict, dict[str, list[str]]]:
    """Check the `post_award` start data; return (normalised data, errors by field path).

    Errors are empty exactly when the data is acceptable; then the normalised data holds every
    field with money as Decimal, dates as date, `defect_liability_months` defaulting to Q03's
    default and `payment_term_days` to P01's period, `guarantor` only when given, and milestones
    numbered `no` 1..n in the order given. With errors the data is `{}`. Malformed input of any
    shape gives errors, never an exception.

    `contractor` and `employer` are the organisations the data's codes name, None when no such
    organisation exists (an error on that field). `employer_is_public` says the employer is a
    government body or public institution, for the SME payment cap. `on` selects the rule versions
    (the award notice or signing date); a limit with no version in force on `on` does not apply.
    `today`, when given, refuses an award notice dated after it and ends the date window (engine/values.py).

    Caps applied, each only where its registry entry's tracks and categories cover the contract:
    the bid bond percentage (D01, D07) against the contract amount, which stands in for the
    estimated price or budget amount the start data does not carry — a winning price is usually
    below them, so this is stricter than the law; the bid bond amount (D02); the exemption from
    the bid bond only for a contractor whose rating the exemption rule lists (CR01); the
    performance guarantee rate (D05, D09); the retention rate (Q01); no retention beside a
    performance guarantee (Q02); the defect liability period (Q03); the payment term when an SME
    contracts with a public body (P01's cap). Milestone amounts may sum to at most the contract
    amount, and no milestone may be planned before the award notice.

    ValueError when an organisation passed does not carry the code the data names (a caller bug);
    UnknownRule when the registry lacks P01 or Q03 altogether.
    """
    errors: dict[str, list[str]] = {}
    if not isinstance(data, Mapping):
        return {}, {"data": ["must be a JSON object"]}
    for key in data:
        if key not in _FIELDS and key not in _DERIVED:
            _add(errors, f"data.{key}", f"unknown field; known: {', '.join(_FIELDS)}")

    out: dict[str, Any] = {
        "project_code": _text(data.get("project_code"), "data.project_code", MAX_CODE_LENGTH, errors, code=True),
        "project_name": _text(data.get("project_name"), "data.project_name", MAX_NAME_LENGTH, errors),
        "track": _choice(data.get("track"), "data.track", TRACKS, errors),
        "category": _choice(data.get("category"), "data.category", CATEGORIES, errors),
        "award_notice_date": _date(data.get("award_notice_date"), "data.award_notice_date", errors, today),
        "contract_amount": _money(data.get("contract_amount"), "data.contract_amount", errors),
    }
    for role in ("employer", "contractor", "department"):
        out[role] = _text(data.get(role), f"data.{role}", MAX_CODE_LENGTH, errors, code=True)
    if data.get("guarantor") is not None:
        out["guarantor"] = _text(data.get("guarantor"), "data.guarantor", MAX_CODE_LENGTH, errors, code=True)
    out["bid_bond"] = _bid_bond(data.get("bid_bond"), errors)
    for key in ("performance_guarantee_rate", "retention_rate"):
        out[key] = _rate(data.get(key), f"data.{key}", errors)
    out["defect_liability_months"] = _count(
        data.get("defect_liability_months"), "data.defect_liability_months", MAX_DEFECT_LIABILITY_MONTHS, "months",
        errors, default=_default_defect_liability_months(registry, on),
    )
    out["payment_term_days"] = _count(
        data.get("payment_term_days"), "data.payment_term_days", MAX_PAYMENT_TERM_DAYS, "days",
        errors, default=_default_payment_term_days(registry, on),
    )
    out["acceptance_days"] = _count(data.get("acceptance_days"), "data.acceptance_days", MAX_ACCEPTANCE_DAYS, "days", errors)
    terms = works_payments.parse_terms(
        data.get("payment_terms"), category=out["category"], contract_amount=out["contract_amount"],
        employer_kind="public_body" if employer_is_public else "other", on=on, registry=registry, today=today,
        errors=errors)
    if terms is None and data.get("payment_terms") is not None and data.get("milestones") in (None, []):
        out["milestones"] = None  # the terms were refused: whether milestones are needed cannot be said
    else:
        out["milestones"] = _payment_milestones(data.get("milestones"), terms, errors, today)
    if terms is not None:
        out["payment_terms"] = terms
    if data.get("funding_source") is not None:
        out["funding_source"] = _choice(data["funding_source"], "data.funding_source", FUNDING_SOURCES, errors)
    # R03's written report on the tendering, when it was made before the contract entered supervision: its date
    # (then post_award asks for no report_tendering task); a tendering contract's only.
    out["tendering_reported_at"] = None
    if data.get("tendering_reported_at") is not None:
        reported = _date(data["tendering_reported_at"], "data.tendering_reported_at", errors, today)
        if out["track"] not in (None, "tendering"):
            _add(errors, "data.tendering_reported_at", "only a tendering contract reports on its tendering (R03)")
        elif reported is not None and out["award_notice_date"] is not None and reported < out["award_notice_date"]:
            _add(errors, "data.tendering_reported_at",
                 f"{reported.isoformat()} is before the award notice ({out['award_notice_date'].isoformat()})")
        out["tendering_reported_at"] = reported
    if data.get("late_interest_percent_per_day") is not None:
        out["late_interest_percent_per_day"] = _daily_rate(data["late_interest_percent_per_day"], errors)
    works = terms is not None and (terms["advance"] is not None or terms["progress"] is not None or terms["settlement"])
    # post_award's works_payments partition: one workflow with the terms (`works`) for a contract paid on
    # measurement, none for the others.
    out["works_payments"] = [terms] if works else []
    if works:
        # What the works branch reads before the employer has acted (a verification, a settlement review).
        out.update({name: None for name in works_payments.BLANKS})
    for key in _DERIVED:
        # Normalised data sent back may carry what the engine derived, unchanged; anything else is refused.
        if key in data and data[key] != out.get(key, [] if key == "works_payments" else None):
            _add(errors, f"data.{key}", "derived by the engine from payment_terms: leave it out or send it back unchanged")

    _check_parties(out, contractor, employer, errors)
    award = out["award_notice_date"]
    if today is not None and award is not None and award > today:
        _add(errors, "data.award_notice_date", f"{award.isoformat()} is after today ({today.isoformat()})")
    if out["track"] is not None and out["category"] is not None:
        _check_limits(out, contractor, registry, on, errors)
    _check_payment_term(out, contractor, employer_is_public, registry, on, errors)
    _check_milestones(out, errors)

    if errors:
        return {}, errors
    return out, {}


def ensure_post_award(
    data: Mapping,
    contractor: Organisation | None,
    employer: Organisation | None,
    employer_is_public: bool,
    on: date,
    registry: RuleRegistry,
    *,
    today: date | None = None,
) -> dict:
    """The normalised data of `validate_post_award`, or `Invalid` (HTTP 422) carrying its errors."""
    out, errors = validate_post_award(data, contractor, employer, employer_is_public, on, registry, today=today)
    if errors:
        count = sum(len(messages) for messages in errors.values())
        raise Invalid(f"the post_award start data has {count} problem{'s' if count != 1 else ''}; see errors", errors)
    return out


# --- field parsers: each returns the typed value, or None after recording an error -----------


def _add(errors: dict[str, list[str]], path: str, message: str) -> None:
    errors.setdefault(path, []).append(message)


def _text(value: object, path: str, max_length: int, errors, *, code: bool = False) -> str | None:
    """A non-blank string; names are stripped, codes (which look rows up) must come unpadded."""
    if value is None:
        _add(errors, path, "required")
        return None
    if not isinstance(value, str):
        _add(errors, path, f"must be a string, got {_json_type(value)}")
        return None
    text = value.strip()
    if not text:
        _add(errors, path, "must not be blank")
        return None
    if code and text != value:
        _add(errors, path, f"must not start or end with spaces, got {_shown(value)}")
        return None
    if len(text) > max_length:
        _add(errors, path, f"must be at most {max_length} characters, got {len(text)}")
        return None
    return text


def _choice(value: object, path: str, allowed: tuple[str, ...], errors) -> str | None:
    if value is None:
        _add(errors, path, f"required: one of {', '.join(allowed)}")
        return None
    if not isinstance(value, str) or value not in allowed:
        _add(errors, path, f"must be one of {', '.join(allowed)}, got {_shown(value)}")
        return None
    return value


def _date(value: object, path: str, errors, today: date | None) -> date | None:
    if value is None:
        _add(errors, path, "required: a date as 'YYYY-MM-DD'")
        return None
    try:
        return values.parse_date(value, on=today)
    except values.BadValue as exc:
        _add(errors, path, str(exc))
        return None


def _money(value: object, path: str, errors, *, allow_zero: bool = False) -> Decimal | None:
    if value is None:
        _add(errors, path, f"required: {values.MONEY_MESSAGE}")
        return None
    try:
        number = values.parse_money(value)
    except values.BadValue as exc:
        _add(errors, path, str(exc))
        return None
    if number == 0 and not allow_zero:
        _add(errors, path, f"must be more than zero, got {_num(number.normalize())}")
        return None
    if number >= MAX_AMOUNT:
        _add(errors, path, f"must be less than {_num(MAX_AMOUNT)} CNY, got {_num(number)}")
        return None
    return number


def _rate(value: object, path: str, errors) -> Decimal | None:
    if value is None:
        _add(errors, path, "required: a percentage (10 means 10 %) as a decimal string such as '10'")
        return None
    try:
        number = values.parse_decimal(value)
    except values.BadValue as exc:
        _add(errors, path, f"a percentage (10 means 10 %) {exc}")
        return None
    if not 0 <= number <= 100:
        _add(errors, path, f"must be a percentage from 0 to 100 (10 means 10 %), got {_num(number)}")
        return None
    if number != number.quantize(Decimal("0.0001")):
        _add(errors, path, f"must have at most 4 decimal places, got {_num(number)}")
        return None
    return number


MAX_DAILY_RATE = Decimal("1")  # 1 % a day is 365 % a year: beyond any agreed late-payment rate, a typing error


def _daily_rate(value: object, errors) -> Decimal | None:
    """The agreed late-payment interest, percent of the amount overdue a day (0.05 means 万分之五)."""
    path = "data.late_interest_percent_per_day"
    try:
        number = values.parse_decimal(value)
    except values.BadValue as exc:
        _add(errors, path, f"a percentage a day (0.05 means 0.05 % a day) {exc}")
        return None
    if not 0 < number <= MAX_DAILY_RATE or number != number.quantize(Decimal("0.000001")):
        _add(errors, path, f"must be above 0 and at most {_num(MAX_DAILY_RATE)} (% a day) with at most 6 decimals, "
                           f"got {_num(number)}")
        return None
    return number


def _count(value: object, path: str, maximum: int, unit: str, errors, *, default: int | None = None) -> int | None:
    if value is None:
        if default is None:
            _add(errors, path, f"required: a whole number of {unit}")
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        _add(errors, path, f"must be a whole number of {unit} (a JSON integer), got {_shown(value)}")
        return None
    if not 1 <= value <= maximum:
        _add(errors, path, f"must be from 1 to {maximum} {unit}, got {_shown(value)}")
        return None
    return value


def _bid_bond(value: object, errors) -> dict | None:
    if value is None:
        _add(errors, "data.bid_bond", "required: {amount, form}")
        return None
    if not isinstance(value, Mapping):
        _add(errors, "data.bid_bond", f"must be an object {{amount, form}}, got {_json_type(value)}")
        return None
    for key in value:
        if key not in ("amount", "form"):
            _add(errors, f"data.bid_bond.{key}", "unknown field; known: amount, form")
    form = _choice(value.get("form"), "data.bid_bond.form", BID_BOND_FORMS, errors)
    if form in MONEYLESS_BOND_FORMS:
        # A commitment letter, or no bond at all, posts no money (allowed per track and category: _check_limits).
        amount: Decimal | None = _money(value.get("amount", "0"), "data.bid_bond.amount", errors, allow_zero=True)
        if amount:
            _add(errors, "data.bid_bond.amount", f"a bid bond of form {form} posts no money: leave amount out")
            return None
    # An exempted bidder posts nothing; the amount, when given, is the bond the tender required.
    elif form == "exempt" and value.get("amount") is None:
        amount = Decimal("0.00")
    else:
        amount = _money(value.get("amount"), "data.bid_bond.amount", errors, allow_zero=form == "exempt")
    if form is None or amount is None:
        return None
    return {"amount": amount, "form": form}


def _payment_milestones(value: object, terms: dict | None, errors, today: date | None) -> list[dict | None] | None:
    """The milestones: as given; generated from a periodic term; none for a contract paid on measurement and
    settlement (payment_terms.progress / settlement), which would pay the same work twice."""
    by_measurement = terms is not None and (terms["progress"] is not None or terms["settlement"])
    periodic = terms is not None and terms["periodic"] is not None
    if by_measurement or periodic:
        if value not in (None, []):
            why = "paid on measurement and settlement (payment_terms)" if by_measurement else \
                "generated from payment_terms.periodic"
            _add(errors, "data.milestones", f"must be absent or empty: the contract is {why}")
            return None
        if periodic:
            return [{"no": n, **m} for n, m in enumerate(works_payments.periodic_milestones(terms["periodic"]), start=1)]
        return []
    return _milestones(value, errors, today)


def _milestones(value: object, errors, today: date | None) -> list[dict | None] | None:
    """The milestones parsed, None in place of each one refused (so that the others can still be
    checked against the award date), or None when the list itself is refused."""
    path = "data.milestones"
    if value is None:
        _add(errors, path, "required: a list of {name, amount, planned_date}")
        return None
    if not isinstance(value, list):
        _add(errors, path, f"must be a list of {{name, amount, planned_date}}, got {_json_type(value)}")
        return None
    if not value:
        _add(errors, path, "must hold at least one milestone")
        return None
    if len(value) > MAX_MILESTONES:
        _add(errors, path, f"must hold at most {MAX_MILESTONES} milestones, got {len(value)}")
        return None
    out: list[dict | None] = []
    for index, item in enumerate(value):
        where = f"{path}.{index}"
        if not isinstance(item, Mapping):
            _add(errors, where, f"must be an object {{name, amount, planned_date}}, got {_json_type(item)}")
            out.append(None)
            continue
        for key in item:
            if key not in _MILESTONE_FIELDS:
                _add(errors, f"{where}.{key}", f"unknown field; known: {', '.join(_MILESTONE_FIELDS)}")
        # `no` is assigned here; a client echoing normalised data back may send it unchanged.
        if item.get("no") is not None and item.get("no") != index + 1:
            _add(errors, f"{where}.no", f"milestones are numbered in order: this one is {index + 1}, got {_shown(item.get('no'))}")
        name = _text(item.get("name"), f"{where}.name", MAX_NAME_LENGTH, errors)
        amount = _money(item.get("amount"), f"{where}.amount", errors)
        planned = _date(item.get("planned_date"), f"{where}.planned_date", errors, today)
        parsed = None not in (name, amount, planned)
        out.append({"no": index + 1, "name": name, "amount": amount, "planned_date": planned} if parsed else None)
    return out


# --- cross-field and statutory checks --------------------------------------------------------


def _check_parties(out: dict, contractor, employer, errors) -> None:
    for role, organisation in (("contractor", contractor), ("employer", employer)):
        code = out.get(role)
        if code is None:
            continue
        if organisation is None:
            _add(errors, f"data.{role}", f"no organisation with code {code!r}")
        elif organisation.code != code:
            raise ValueError(f"the {role} passed has code {organisation.code!r} but the data names {code!r}")
    if out.get("contractor") is not None and out.get("contractor") == out.get("employer"):
        _add(errors, "data.contractor", "must be another organisation than the employer")


def _check_limits(out: dict, contractor, registry: RuleRegistry, on: date, errors) -> None:
    """Every cap and prohibition of the registry that covers the contract's track and category,
    on the measures the start data gives of each subject (None where a field was refused)."""
    track, category, amount = out["track"], out["category"], out["contract_amount"]
    bond = out["bid_bond"]
    measures: dict[str, dict | None] = {
        "bid_bond": bond and {
            "amount": bond["amount"],
            "percent": None if amount is None else bond["amount"] * 100 / amount,
            "derived": True,
        },
        "performance_guarantee": _rate_measure(out["performance_guarantee_rate"], amount),
        "retention": _rate_measure(out["retention_rate"], amount),
        "defect_liability": out["defect_liability_months"] and {"months": out["defect_liability_months"]},
    }
    for subject, measure in measures.items():
        if not measure:
            continue
        path, label = _SUBJECT_FIELDS[subject]
        for cap in registry.limits_for(subject, track, category, on):
            if message := _cap_breach(cap, label, measure):
                _add(errors, f"data.{path}", message)
        for rule in registry.limits_for(subject, track, category, on, kind="prohibition"):
            other = measures.get(rule.together_with)
            if _agreed(measure) and other and _agreed(other):
                other_label = _SUBJECT_FIELDS[rule.together_with][1]
                _add(errors, f"data.{path}",
                     f"no {_NOUNS[subject]} beside a {_NOUNS[rule.together_with]} on {category}: "
                     f"{label} {_shown_measure(measure)} and {other_label} {_shown_measure(other)} {_cite(rule)}")
    if bond and bond["form"] in MONEYLESS_BOND_FORMS:
        allowing = registry.limits_for("bid_bond", track, category, on, kind="form")
        if not any(bond["form"] in rule.forms for rule in allowing):
            _add(errors, "data.bid_bond.form", f"no rule in force on {on.isoformat()} allows a bid bond of form "
                                               f"{bond['form']} for {track} {category}")
    if bond and bond["form"] == "exempt":
        # Only a whole exemption lets a bidder post nothing; a partial one (CR02) reduces the bond posted.
        whole = tuple(rule for rule in registry.limits_for("bid_bond", track, category, on, kind="exemption")
                      if rule.exempt_percent is None or rule.exempt_percent == 100)
        _check_exemption(contractor, whole, track, category, on, errors)


def _rate_measure(rate: Decimal | None, contract_amount: Decimal | None) -> dict | None:
    if rate is None:
        return None
    money = None if contract_amount is None else (contract_amount * rate / 100).quantize(_FEN)
    return {"percent": rate, "amount": money}


def _agreed(measure: dict) -> bool:
    return any(measure.get(key) for key in ("percent", "amount", "months"))


def _cap_breach(cap: Limit, label: str, measure: dict) -> str | None:
    """The refusal message when `measure` exceeds `cap`, else None; a measure the start data could
    not give (the bond percentage without a valid contract amount) is not compared."""
    if cap.max_months is not None:
        months = measure["months"]
        return None if months <= cap.max_months else (
            f"{label} {months} months exceeds {cap.max_months} months {_cite(cap)}")
    if cap.max_amount is not None:
        money = measure["amount"]
        return None if money is None or money <= cap.max_amount else (
            f"{label} {_num(money)} CNY exceeds {_num(cap.max_amount)} CNY {_cite(cap)}")
    percent = measure["percent"]
    if percent is None or percent <= cap.max_percent:
        return None
    if not measure.get("derived"):
        return f"{label} {_num(percent)}% exceeds {_num(cap.max_percent)}% {_cite(cap)}"
    # The start data carries no estimated price or budget: the contract amount stands in for it.
    stand_in = "" if cap.of == "contract_amount" else ", for which the contract amount stands in"
    return (f"{label} {_num(measure['amount'])} CNY is {_num(percent.quantize(_FEN))}% of the contract amount, "
            f"over the {_num(cap.max_percent)}% cap on {_BASES[cap.of]}{stand_in} {_cite(cap)}")


def _check_exemption(contractor, exemptions: tuple[Limit, ...], track: str, category: str, on: date, errors) -> None:
    path = "data.bid_bond.form"
    if not exemptions:
        _add(errors, path, f"no exemption from the bid bond is in force for {track} {category} on {on.isoformat()}")
        return
    if contractor is None:
        return  # already refused on data.contractor: there is no rating to judge
    if any(contractor.credit_rating in rule.exempt_ratings for rule in exemptions):
        return
    rating = f"rated {contractor.credit_rating}" if contractor.credit_rating else "not rated"
    for rule in exemptions:
        _add(errors, path, f"exempt only for a contractor rated {' or '.join(rule.exempt_ratings)}; "
                           f"contractor {contractor.code!r} is {rating} {_cite(rule)}")


def _check_payment_term(out: dict, contractor, employer_is_public: bool, registry: RuleRegistry, on: date, errors) -> None:
    days = out["payment_term_days"]
    if days is None or contractor is None or not (contractor.sme and employer_is_public):
        return
    rule = _in_force(registry.versions(PAYMENT_RULE), on)
    if rule is not None and rule.cap is not None and days > rule.cap:
        _add(errors, "data.payment_term_days",
             f"payment term {days} days exceeds {rule.cap} days, the cap when a public body pays an SME {_cite(rule)}")


def _check_milestones(out: dict, errors) -> None:
    milestones, award, amount = out["milestones"], out["award_notice_date"], out["contract_amount"]
    if milestones is None:
        return
    for index, milestone in enumerate(milestones):
        if milestone is not None and award is not None and milestone["planned_date"] < award:
            _add(errors, f"data.milestones.{index}.planned_date",
                 f"milestone {milestone['no']} is planned on {milestone['planned_date'].isoformat()}, "
                 f"before the award notice of {award.isoformat()}")
    if amount is not None and None not in milestones:
        total = sum((m["amount"] for m in milestones), Decimal("0.00"))
        if total > amount:
            _add(errors, "data.milestones",
                 f"milestone amounts sum to {_num(total)} CNY, more than the contract amount {_num(amount)} CNY")


# --- registry lookups and message helpers ----------------------------------------------------


def _in_force(versions, on: date):
    return next((version for version in versions if version.in_force_on(on)), None)


def _default_defect_liability_months(registry: RuleRegistry, on: date) -> int | None:
    rule = _in_force(registry.limit_versions(DEFAULT_DEFECT_LIABILITY_RULE), on)
    return rule.default_months if rule is not None else None


def _default_payment_term_days(registry: RuleRegistry, on: date) -> int | None:
    rule = _in_force(registry.versions(PAYMENT_RULE), on)
    return rule.days if rule is not None else None


def _cite(rule) -> str:
    mark = _VERIFICATION.get(rule.verified)
    return f"({rule.id}, {rule.legal_basis}{'; ' + mark if mark else ''})"


def _num(number: Decimal) -> str:
    return format(number, "f")


def _shown_measure(measure: dict) -> str:
    return f"{_num(measure['percent'])}%" if measure.get("percent") is not None else _num(measure["amount"])


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _shown(value: object) -> str:
    if isinstance(value, str):
        return repr(value[:40] + ("…" if len(value) > 40 else ""))
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return "a very large integer"
    if isinstance(value, Decimal):
        return "a decimal" if value.is_finite() and abs(value.adjusted()) > 20 else str(value)
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    return _json_type(value)

