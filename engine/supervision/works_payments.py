"""Works payment terms (工程价款结算): advance, progress payments on measurement, final settlement, retention.

A works contract is paid on the contractor's applications, not on fixed milestones (《建设工程价款结算暂行办法》
财建〔2004〕369号, rules C01–C04 of the registry):

* **advance** (预付款, C01): a percentage of the contract amount (at most 30 %), due within one month of
  signing or 7 days before the agreed start, whichever is later (the rule's note says why the later);
  recovered from the progress payments in the same proportion as the work is paid (同比例扣回, the model
  contract GF-2017-0201 general conditions 12.2.2; the contract's own schedule is not modelled);
* **progress** (进度款, C02/C03): each application reports the value of the work done in a period; the
  employer verifies it within 14 days or it is deemed confirmed from the 15th (C02), and pays the agreed
  percentage of the confirmed value, less the advance recovered, within 14 days of the confirmation (C03);
  the percentage may not be below 60 % (C03), 80 % for a public employer's contract signed from 2022-08-01
  (C03A);
* **settlement** (竣工结算, C04): after completion acceptance the contractor submits the settlement report;
  the employer reviews it within 20/30/45/60 days by its amount, silence being deemed acceptance, and pays
  the settled price less the quality retention (≤ 3 % of the settlement price, Q01) and everything already
  paid within 15 days of the confirmation (C04P);
* **periodic** payments (monthly property management, maintenance) are fixed milestones of equal amount at
  the end of each period, expanded here at the start and paid on the milestone track.

Pure: the caller passes the registry, the calendar and the dates; nothing here reads the database or the clock.
"""
from __future__ import annotations

import calendar as _months
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from engine.runtime import values
from engine.supervision import deadlines
from engine.supervision.rules import RuleRegistry, UnknownRule

FEN = Decimal("0.01")
TERMS_FIELDS = ("advance", "works_start_date", "progress", "settlement", "periodic")
ADVANCE_RULE, MEASUREMENT_RULE, PROGRESS_RULE, SETTLEMENT_PAYMENT_RULE = "C01", "C02", "C03", "C04P"
SETTLEMENT_REVIEW_TIERS = ("C04A", "C04B", "C04C", "C04D")
PROGRESS_FLOORS = ("C03A", "C03")  # the public employers' floor first; C03 for every other employer
MAX_PERIODS = 240  # twenty years of monthly payments
MAX_EVERY_MONTHS = 12

# Data the works branch of post_award reads before any task has set it (the start data carries them as None):
# a verification, a settlement review and the confirmed figures exist only once the employer has acted.
BLANKS = ("measurement_verified_at", "confirmed_value", "settlement_reviewed_at", "settled_value")


class TermsError(ValueError):
    """A refused payment term: `errors` maps the field path (data.payment_terms.…) to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


# ---------------------------------------------------------------- the terms, checked at the start
def parse_terms(value: object, *, category: str | None, contract_amount: Decimal | None, employer_kind: str,
                on: date, registry: RuleRegistry, today: date | None,
                errors: dict[str, list[str]]) -> dict[str, Any] | None:
    """The `payment_terms` of the start data normalised, or None (with errors recorded under data.payment_terms…)
    when refused or absent. `employer_kind` is payment_basis's (public_body selects the 80 % floor); `on` selects
    the rule versions (the award notice, which signing follows within 30 days)."""
    path = "data.payment_terms"
    if value is None:
        return None
    if not isinstance(value, Mapping):
        _add(errors, path, "must be an object {advance, works_start_date, progress, settlement, periodic}")
        return None
    before = len(errors)
    for key in value:
        if key not in TERMS_FIELDS:
            _add(errors, f"{path}.{key}", f"unknown field; known: {', '.join(TERMS_FIELDS)}")
    works = category == "works"
    out: dict[str, Any] = {"advance": None, "works_start_date": None, "progress": None, "settlement": False,
                           "periodic": None}
    for key in ("advance", "progress", "settlement"):
        if value.get(key) not in (None, False) and not works:
            _add(errors, f"{path}.{key}", f"a works payment term (369号): only for category works, got {category!r}")
    if value.get("advance") is not None and works:
        out["advance"] = _advance(value["advance"], contract_amount, on, registry, errors)
    if value.get("works_start_date") is not None:
        try:
            out["works_start_date"] = values.parse_date(value["works_start_date"], on=today)
        except values.BadValue as exc:
            _add(errors, f"{path}.works_start_date", str(exc))
    if value.get("progress") is not None and works:
        out["progress"] = _progress(value["progress"], employer_kind, on, registry, errors)
    settlement = value.get("settlement")
    if settlement is not None and not isinstance(settlement, bool):
        _add(errors, f"{path}.settlement", "must be true (settled by a final settlement, C04) or false")
    elif works:
        # A contract paid on measurement is settled at completion (369号 art 14): true unless said otherwise.
        out["settlement"] = bool(settlement) if settlement is not None else out["progress"] is not None
    if value.get("periodic") is not None:
        out["periodic"] = _periodic(value["periodic"], today, errors)
    if out["progress"] is not None and not out["settlement"]:
        _add(errors, f"{path}.settlement", "a contract paid on measurement ends with a final settlement (369号 art 14): "
                                           "true or absent when progress payments are agreed")
    if out["periodic"] is not None and (out["progress"] is not None or out["settlement"]):
        _add(errors, f"{path}.periodic", "periodic payments are fixed milestones: not beside progress payments or a "
                                         "settlement, which pay the same work by measurement")
    return out if len(errors) == before else None


def _advance(value: object, contract_amount: Decimal | None, on: date, registry: RuleRegistry, errors) -> dict | None:
    path = "data.payment_terms.advance"
    if not isinstance(value, Mapping) or set(value) - {"percent", "amount"}:
        _add(errors, path, "must be an object {percent} (10 means 10 % of the contract amount)")
        return None
    percent = _percent(value.get("percent"), f"{path}.percent", errors)
    if percent is None:
        return None
    try:
        cap = registry.limit(ADVANCE_RULE, on)
    except UnknownRule:
        cap = None
    if cap is not None and cap.max_percent is not None and percent > cap.max_percent:
        _add(errors, f"{path}.percent", f"advance {_num(percent)}% exceeds {_num(cap.max_percent)}% of the contract "
                                        f"amount ({cap.id}, {cap.legal_basis})")
        return None
    amount = None if contract_amount is None else (contract_amount * percent / 100).quantize(FEN, ROUND_HALF_UP)
    if value.get("amount") is not None:
        # Normalised terms sent back carry the amount the engine computed; it is never taken from the caller.
        try:
            given = values.parse_money(value["amount"])
        except values.BadValue as exc:
            _add(errors, f"{path}.amount", str(exc))
            return None
        if amount is not None and given != amount:
            _add(errors, f"{path}.amount", f"is computed as percent × contract amount = {amount}: leave it out")
            return None
    return {"percent": percent, "amount": amount}


def progress_floor(employer_kind: str, on: date, registry: RuleRegistry):
    """The floor (a registry Limit) on the progress payment percentage for this employer on `on`, or None."""
    for rule_id in PROGRESS_FLOORS:
        if rule_id == "C03A" and employer_kind != "public_body":
            continue
        try:
            return registry.limit(rule_id, on)
        except UnknownRule:
            continue
    return None


def _progress(value: object, employer_kind: str, on: date, registry: RuleRegistry, errors) -> dict | None:
    path = "data.payment_terms.progress"
    if not isinstance(value, Mapping) or set(value) - {"percent"}:
        _add(errors, path, "must be an object {percent} (the share of each confirmed measurement paid, 80 means 80 %)")
        return None
    percent = _percent(value.get("percent"), f"{path}.percent", errors)
    if percent is None:
        return None
    floor = progress_floor(employer_kind, on, registry)
    if floor is not None and percent < floor.min_percent:
        _add(errors, f"{path}.percent", f"progress payments of {_num(percent)}% of the measured value are below the "
                                        f"{_num(floor.min_percent)}% floor ({floor.id}, {floor.legal_basis})")
        return None
    return {"percent": percent}


def _periodic(value: object, today: date | None, errors) -> dict | None:
    path = "data.payment_terms.periodic"
    keys = {"amount", "every_months", "first_due", "count"}
    if not isinstance(value, Mapping) or set(value) - keys:
        _add(errors, path, "must be an object {amount, every_months, first_due, count}")
        return None
    out: dict[str, Any] = {}
    try:
        out["amount"] = values.parse_money(value.get("amount"))
        if out["amount"] <= 0:
            raise values.BadValue("must be more than zero")
    except values.BadValue as exc:
        _add(errors, f"{path}.amount", str(exc))
    for key, top in (("every_months", MAX_EVERY_MONTHS), ("count", MAX_PERIODS)):
        n = value.get(key)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= top:
            _add(errors, f"{path}.{key}", f"must be a whole number from 1 to {top}, got {n!r}"[:120])
        else:
            out[key] = n
    try:
        out["first_due"] = values.parse_date(value.get("first_due"), on=today)
    except values.BadValue as exc:
        _add(errors, f"{path}.first_due", str(exc))
    return out if len(out) == 4 else None


def periodic_milestones(periodic: Mapping) -> list[dict[str, Any]]:
    """The milestones a periodic payment term stands for: `count` equal amounts, the n-th due `every_months`
    × (n − 1) months after `first_due` (the corresponding day, or the month's last day, Civil Code art 202)."""
    return [{"name": f"第{n}期（period {n}）", "amount": periodic["amount"],
             "planned_date": add_months(periodic["first_due"], periodic["every_months"] * (n - 1))}
            for n in range(1, periodic["count"] + 1)]


# ---------------------------------------------------------------- the clocks
def add_months(day: date, months: int) -> date:
    """The corresponding day `months` later, or that month's last day when it has none (Civil Code art 202)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, _months.monthrange(year, month)[1]))


def advance_due(signed_at: date, works_start: date | None, calendar, registry: RuleRegistry) -> deadlines.Deadline:
    """C01: the later of one month after signing (its last day moved past a holiday, Civil Code art 203) and the
    7th day before the agreed start date."""
    rule = registry.get(ADVANCE_RULE, signed_at)
    month_end = calendar.next_workday(add_months(signed_at, 1))
    last = month_end
    if works_start is not None:
        last = max(last, works_start - timedelta(days=rule.days))
    return deadlines.Deadline(last_day=last, due_at=deadlines.end_of_day(last),
                              provisional=last.year not in calendar.known_years, rule_id=rule.id,
                              legal_basis=rule.legal_basis)


def confirmed_on(reported_at: date, answered_at: date | None, rule_id: str, calendar,
                 registry: RuleRegistry) -> date:
    """The day a report (measurement C02, settlement C04…) counts as confirmed: the employer's answer, or the day
    after the review period's last day when it stayed silent (deemed confirmation)."""
    if answered_at is not None:
        return answered_at
    return deadlines.deadline(rule_id, reported_at, calendar, registry).last_day + timedelta(days=1)


def settlement_review_rule(amount: Decimal, registry: RuleRegistry, on: date):
    """The C04 tier (a registry Rule) for a settlement report of `amount`: the highest tier whose amount_from the
    amount reaches; at a boundary amount the longer period (see the rules' note)."""
    tiers = []
    for rule_id in SETTLEMENT_REVIEW_TIERS:
        try:
            tiers.append(registry.get(rule_id, on))
        except UnknownRule:
            continue
    if not tiers:
        raise UnknownRule(f"no settlement review period (C04) in force on {on.isoformat()}")
    tiers.sort(key=lambda r: r.amount_from or Decimal(0))
    chosen = tiers[0]
    for tier in tiers:
        if amount >= (tier.amount_from or Decimal(0)):
            chosen = tier
    return chosen


# ---------------------------------------------------------------- the figures
def progress_amount(value: Decimal, terms: Mapping, contract_amount: Decimal) -> Decimal:
    """What a confirmed measurement of `value` makes payable: the agreed percentage of it, less the advance
    recovered in the same proportion (advance × value / contract amount), never below 0.00."""
    percent = values.amount_of((terms.get("progress") or {}).get("percent"))
    advance = values.amount_of((terms.get("advance") or {}).get("amount"))
    gross = value * percent / 100
    recovered = advance * value / contract_amount if contract_amount > 0 else Decimal(0)
    return max((gross - recovered).quantize(FEN, ROUND_HALF_UP), Decimal("0.00"))


def retention_amount(settled: Decimal, retention_rate: Decimal) -> Decimal:
    """The quality retention withheld from the settlement: the agreed rate of the settlement price (Q01 caps it at
    3 %, checked at the start)."""
    return (settled * retention_rate / 100).quantize(FEN, ROUND_HALF_UP)


def settlement_payable(settled: Decimal, retention_rate: Decimal) -> Decimal:
    """What the contract owes in all once settled: the settlement price less the retention."""
    return settled - retention_amount(settled, retention_rate)


def _percent(value: object, path: str, errors) -> Decimal | None:
    try:
        number = values.parse_decimal(value)
    except values.BadValue as exc:
        _add(errors, path, f"a percentage (10 means 10 %) {exc}")
        return None
    if not 0 < number <= 100 or number != number.quantize(Decimal("0.01")):
        _add(errors, path, f"must be a percentage above 0 and at most 100 with at most 2 decimals, got {_num(number)}")
        return None
    return number


def _add(errors, path: str, message: str) -> None:
    errors.setdefault(path, []).append(message)


def _num(number: Decimal) -> str:
    return format(number.normalize(), "f") if number == number.to_integral() else format(number, "f")


# ---------------------------------------------------------------- where each obligation stands on a day
def obligations(data: Mapping, applications: list[Mapping], payments: list[Mapping], on: date, calendar,
                registry: RuleRegistry) -> list[dict[str, Any]]:
    """Every payment obligation of a works contract as it stands at the end of `on`: the advance, each progress
    application and the settlement report. `applications`: {kind, reference, period, applied_at, amount,
    confirmed_amount, confirmed_at} as recorded (those applied after `on` are left out, a confirmation after `on`
    is not yet one); `payments`: {kind, reference, paid_at, amount} (those after `on` are left out).

    Each entry: kind, reference, the review (rule, last day, deemed), the confirmed amount and day (None while
    unconfirmed), payable, paid, outstanding and the payment's last day (None while nothing is payable yet)."""
    terms = data.get("payment_terms") or {}
    paid = [p for p in payments if p["paid_at"] <= on]

    def paid_on(kind: str, reference: str | None = None) -> Decimal:
        return sum((p["amount"] for p in paid if p["kind"] == kind and (reference is None or p["reference"] == reference)),
                   Decimal(0))

    out: list[dict[str, Any]] = []
    signed = data.get("signed_at")
    if terms.get("advance") and signed:
        signed_day = signed if isinstance(signed, date) else date.fromisoformat(str(signed)[:10])
        start = terms.get("works_start_date")
        start_day = None if start is None else start if isinstance(start, date) else date.fromisoformat(str(start)[:10])
        owed = values.amount_of(terms["advance"].get("amount"))
        done = paid_on("advance")
        out.append({"kind": "advance", "reference": None, "payable": owed, "paid": done,
                    "outstanding": max(owed - done, Decimal(0)),
                    "payment_last_day": advance_due(signed_day, start_day, calendar, registry).last_day})
    contract_amount = values.amount_of(data.get("contract_amount"))
    retention_rate = values.amount_of(data.get("retention_rate"))
    for row in sorted(applications, key=lambda r: (r["applied_at"], r["kind"])):
        if row["applied_at"] > on:
            continue
        progress = row["kind"] == "progress"
        rule = registry.get(MEASUREMENT_RULE, row["applied_at"]) if progress else \
            settlement_review_rule(row["amount"], registry, row["applied_at"])
        review_last = deadlines.deadline(rule.id, row["applied_at"], calendar, registry).last_day
        answered = row.get("confirmed_at") is not None and row["confirmed_at"] <= on
        deemed = not answered and on > review_last
        confirmed = row["confirmed_amount"] if answered else (row["amount"] if deemed else None)
        confirmed_on = row["confirmed_at"] if answered else (review_last + timedelta(days=1) if deemed else None)
        entry = {"kind": row["kind"], "reference": row["reference"], "period": row.get("period"),
                 "applied_at": row["applied_at"], "amount": row["amount"], "review_rule": rule.id,
                 "review_last_day": review_last, "deemed": deemed, "confirmed_amount": confirmed,
                 "confirmed_on": confirmed_on, "payable": None, "paid": paid_on(row["kind"], row["reference"]),
                 "outstanding": None, "payment_last_day": None}
        if confirmed is not None:
            if progress:
                payable, done = progress_amount(confirmed, terms, contract_amount), entry["paid"]
            else:
                payable = settlement_payable(confirmed, retention_rate)
                done = sum((p["amount"] for p in paid if p["kind"] in ("advance", "progress", "settlement")), Decimal(0))
                entry["retention"] = retention_amount(confirmed, retention_rate)
            pay_rule = PROGRESS_RULE if progress else SETTLEMENT_PAYMENT_RULE
            entry.update(payable=payable, outstanding=max(payable - done, Decimal(0)),
                         payment_last_day=deadlines.deadline(pay_rule, confirmed_on, calendar, registry).last_day)
        out.append(entry)
    return out
