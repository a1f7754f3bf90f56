"""The guarantee lifecycle as pure functions: statuses, the allowed transitions, the caps and the mismatches.

No database, no session, no SpiffWorkflow: every function takes the guarantee's current state as plain values
(`status`, amounts, dates, the rule objects the registry returned) and returns the new status with the events
to record on the guarantee (`Outcome`), or raises — `TransitionRefused` (409) when the event is not allowed
from the current status, `Invalid` (422, naming the field path) when the values break a rule. The use cases of
engine/supervision/guarantees.py load the row, call these, and store what they return; this module decides.

Lifecycle (DOMAIN.md §1C, §1E):

    required ─submit─▶ submitted ─verify─▶ active ─file_claim─▶ claimed ─pay_claim─▶ paid_out
       │  ▲               │ (refused)       ▲  │                   │ ▲                   │
     notice│            rejected ─submit────┘  release             │ └─file_claim        release
       ▼  │                                    ▼                   ▼                     ▼ (stays paid_out)
     issued ─submit─▶ …                     released ◀───release── …

`submit` without an issuer online goes straight to `active` (accepted as given); `exempt` is a bid bond a
credit offset waived: nothing moves it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Iterable, Mapping

from engine.clock import SHANGHAI
from engine.errors import Conflict, Invalid
from engine.runtime import values


class Status(str, Enum):
    REQUIRED = "required"
    ISSUED = "issued"          # the issuer reported it before the contractor submitted it
    SUBMITTED = "submitted"    # awaits the issuer's verification
    REJECTED = "rejected"      # the issuer refused the verification: the contractor submits again
    ACTIVE = "active"          # in force (verified, or accepted as given where no issuer takes part)
    CLAIMED = "claimed"
    PAID_OUT = "paid_out"
    RELEASED = "released"
    EXEMPT = "exempt"


STATUSES = tuple(s.value for s in Status)
KINDS = ("bid", "performance", "advance_payment", "quality", "payment")
# How a security is given. `e_guarantee`: an electronic guarantee whose issuer type the start data does not
# say (bid bonds posted before the award); `retention`: quality money withheld from payments (质保金预留);
# `commitment_letter`: a bid credit commitment letter (投标信用承诺函) in place of a bid bond; `not_required`: no bid
# bond collected (Henan government procurement); neither has anything to refund.
FORMS = ("cash", "bank_guarantee", "insurance_policy", "guarantee_company", "e_guarantee", "retention", "exempt",
         "commitment_letter", "not_required")
ISSUED_FORMS = ("bank_guarantee", "insurance_policy", "guarantee_company", "e_guarantee")
CLAIM_REASONS = ("refused_to_sign", "non_performance")
# Held: a security the contract still holds (a second quality security is refused beside one of these).
HELD = ("issued", "submitted", "active", "claimed")
VERIFIED_FIELDS = ("guarantee_no", "amount", "valid_to", "document_sha256")

# event → the statuses it may leave. The status it reaches is decided by the function of the same name.
ALLOWED: dict[str, tuple[str, ...]] = {
    "submit": ("required", "issued", "rejected"),
    "verify": ("submitted",),
    "notice": ("required", "issued", "rejected"),
    "file_claim": ("active", "claimed"),
    "pay_claim": ("claimed", "released"),
    # renewal changes the validity only; release ignores (no event) a security never held or released already
    "renew": STATUSES,
    "release": tuple(s for s in STATUSES if s not in ("exempt", "released")),
}
CLAIMABLE = ALLOWED["file_claim"]
RELEASABLE = ALLOWED["release"]
CONFIRMED = ("active", "claimed", "paid_out", "released")  # an issuer's notice for these is a retry


class TransitionRefused(Conflict):
    """The event is not allowed from the guarantee's current status (409); `detail` says why."""

    def __init__(self, event: str, status: str | None, detail: str):
        super().__init__(detail)
        self.event, self.status = event, status


@dataclass(frozen=True)
class Outcome:
    """What a transition decided: the new status, the events to record ((name, data) in order), and
    whether the guarantee came into force now (its `activated_on` is then set to the day)."""

    status: str
    events: tuple[tuple[str, dict[str, Any]], ...] = ()
    activated: bool = False

    def has(self, event: str) -> bool:
        return any(name == event for name, _ in self.events)


def _require(event: str, status: str | None, detail: str) -> None:
    if status not in ALLOWED[event]:
        raise TransitionRefused(event, status, detail)


# ---------------------------------------------------------------------------- money helpers (values' shapes)
_dec = values.amount_of
_money = values.format_money


def fen(value: Any) -> Decimal:
    """An amount computed here (a rate of the contract amount) rounded to the fen, as it is stored."""
    return _dec(value).quantize(values.FEN)


def _iso(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


def cite(rule) -> str:
    return f"({rule.id}, {rule.legal_basis})"


# ---------------------------------------------------------------------------- entry: the securities at the start
@dataclass(frozen=True)
class BidBond:
    """A bid bond as recorded at the start: its status and, for a credit offset, the rule and what it freed."""

    status: str
    rule: Any = None
    exempt_percent: str | None = None
    freed_amount: Decimal | None = None
    event: tuple[str, dict[str, Any]] | None = None


def bid_bond(form: str | None, amount: Decimal, rating: str | None, exemptions: Iterable) -> BidBond:
    """The bid bond's entry: `exempt` (form exempt: the whole bond freed, by the rule exempting the rating if
    any), or `active`, reduced by the largest partial exemption the contractor's rating earns (the bond posted
    is the reduced one: the rest of what the tender required was freed). `exemptions` are the registry's
    exemption rules (exempt_ratings, exempt_percent, id, legal_basis)."""
    matching = [r for r in exemptions if rating in r.exempt_ratings]
    whole = [r for r in matching if r.exempt_percent in (None, 100)]
    partial = sorted((r for r in matching if r not in whole), key=lambda r: -r.exempt_percent)
    if form == "exempt":
        rule = whole[0] if whole else None
        freed = fen(amount)
        return BidBond("exempt", rule, "100", freed, ("exempted", {
            "rule": rule.id if rule else None, "legal_basis": rule.legal_basis if rule else None, "rating": rating,
            "freed_amount": freed}))
    if not partial:
        return BidBond("active")
    rule = partial[0]
    share = rule.exempt_percent
    freed = fen(amount * share / (100 - share)) if share < 100 else fen(amount)
    percent = format(share, "f")
    return BidBond("active", rule, percent, freed, ("reduced", {
        "rule": rule.id, "legal_basis": rule.legal_basis, "rating": rating, "exempt_percent": percent,
        "freed_amount": freed}))


def entry_status(online: bool) -> str:
    """A guarantee given with its issuer online awaits the issuer's verification; otherwise it is in force."""
    return "submitted" if online else "active"


# ---------------------------------------------------------------------------- caps and checks
def check_caps(kind: str, amount: Decimal, contract_amount: Decimal, caps: Iterable, path: str) -> None:
    """The registry's caps on `kind` (max_percent of the contract amount, max_amount); Invalid naming `path`.
    No contract amount: nothing to cap against."""
    if contract_amount <= 0:
        return
    for cap in caps:
        if cap.max_percent is not None and amount * 100 / contract_amount > cap.max_percent:
            percent = (amount * 100 / contract_amount).quantize(values.FEN)
            raise Invalid(f"the {kind} guarantee exceeds its cap", {path: [
                f"{_money(amount)} CNY is {percent}% of the contract amount, over the {format(cap.max_percent, 'f')}% "
                f"cap {cite(cap)}"]})
        if cap.max_amount is not None and amount > cap.max_amount:
            raise Invalid(f"the {kind} guarantee exceeds its cap", {path: [
                f"{_money(amount)} CNY exceeds {format(cap.max_amount, 'f')} CNY {cite(cap)}"]})


def required_amount(contract_amount: Any, rate: Any) -> Decimal:
    """The performance guarantee agreed: rate % of the contract amount, to the fen."""
    return (_dec(contract_amount) * _dec(rate) / 100).quantize(values.FEN)


def check_covers(amount: Decimal, contract_amount: Any, rate: Any, path: str = "data.amount") -> None:
    """A performance guarantee at least the rate agreed; Invalid naming `path`."""
    required = required_amount(contract_amount, rate)
    if amount < required:
        raise Invalid("the guarantee does not cover the agreed amount", {path: [
            f"{_money(amount)} CNY is less than the {_money(required)} CNY agreed "
            f"({format(_dec(rate), 'f')}% of the contract amount)"]})


# Given by the applicant outside the diagram (POST /guarantees): advance payment (预付款保函), quality (质量保函,
# in place of retention) and the employer's payment guarantee (工程款支付担保, D06).
RECORDED_KINDS = ("advance_payment", "quality", "payment")


def check_recorded_kind(kind: Any) -> None:
    """Only the kinds the diagram does not follow are recorded by hand; Invalid naming `kind`."""
    if kind not in RECORDED_KINDS:
        raise Invalid("unknown kind", {"kind": [f"one of {', '.join(RECORDED_KINDS)} (bid, performance and "
                                                "retention follow the contract's process)"]})


def check_positive(amount: Decimal) -> None:
    if amount <= 0:
        raise Invalid("the amount is missing", {"amount": ["more than zero"]})


def check_advance(amount: Decimal, contract_amount: Any) -> None:
    """An advance payment guarantee covers part of the contract amount, never more."""
    if amount > _dec(contract_amount):
        raise Invalid("the guarantee exceeds the contract", {"amount": ["an advance is part of the contract amount"]})


def check_quality_alone(held: Mapping[str, tuple[str, str | None]], prohibitions: Iterable) -> None:
    """One quality security per contract (Q01), none beside a performance guarantee held where a rule forbids
    it (Q02). `held`: kind → (status, form) of the securities the contract holds; `prohibitions`: the registry's
    prohibition rules on retention for the contract (empty when its track or category is unknown)."""
    if "performance" in held:
        for rule in prohibitions:
            raise Invalid("no quality guarantee beside a performance guarantee", {"kind": [
                f"the contract holds a performance guarantee ({held['performance'][0]}): no quality security "
                f"beside it {cite(rule)}"]})
    if "quality" in held:
        what = "retention is withheld" if held["quality"][1] == "retention" else "a quality guarantee is held"
        raise Invalid("the contract has its quality security", {"kind": [
            f"{what} already: one quality security per contract (《建设工程质量保证金管理办法》第七条, Q01)"]})


def mismatches(expected: Mapping[str, Any], given: Mapping[str, Any], expected_by: str, given_by: str,
               prefix: str = "data") -> dict[str, list[str]]:
    """The verified fields (number, amount, validity, document hash, verification code) on which `given`
    differs from `expected`, as errors naming `prefix.field`; a field absent on either side is not compared."""
    errors = {}
    for name in (*VERIFIED_FIELDS, "verification_code"):
        want, got = expected.get(name), given.get(name)
        if name == "amount":
            want, got = (None if v in (None, "") else _money(_dec(v)) for v in (want, got))
        elif name == "valid_to":
            want, got = _iso(want), _iso(got)
        elif name == "document_sha256":
            want, got = (want or "").lower() or None, (got or "").lower() or None
        if want is None or got is None or want == got:
            continue
        errors[f"{prefix}.{name}"] = [f"{given_by} {got}, but {expected_by} {want}"]
    return errors


def check_renewal(valid_to: date | None, new_to: date | None) -> None:
    """A renewal extends the validity; Invalid naming data.valid_to otherwise."""
    if valid_to and new_to and new_to <= valid_to:
        raise Invalid("a renewal extends the validity", {"data.valid_to": [
            f"{new_to} does not end after the current validity {valid_to}"]})


def covered(amount: Any, claimed: Iterable[Any]) -> Decimal:
    """What a guarantee still covers: its amount less every claim filed on it."""
    return _dec(amount) - sum((_dec(c) for c in claimed), Decimal(0))


def check_claim_amount(amount: Decimal, still_covered: Decimal) -> list[str] | None:
    """Why a claim of `amount` is refused (more than zero, at most what the guarantee still covers), or None."""
    if amount <= 0:
        return ["more than zero"]
    if amount > still_covered:
        return [f"{_money(amount)} CNY is more than the {_money(still_covered)} CNY the guarantee still covers"]
    return None


def check_claim_paid(claimed: Any, paid: Decimal) -> None:
    """An on-demand guarantee pays the sum claimed; Invalid naming data.amount otherwise."""
    if paid != _dec(claimed):
        raise Invalid("an on-demand guarantee pays the sum claimed", {"data.amount": [
            f"the claim is for {_money(_dec(claimed))} CNY, not {_money(paid)}"]})


# ---------------------------------------------------------------------------- transitions
SUBMITTED_FIELDS = ("form", "guarantee_no", "issuer", "amount", "valid_to", "document_sha256", "verification_code")


RECORDED_FIELDS = ("form", "guarantee_no", "issuer", "amount", "valid_from", "valid_to", "document_sha256",
                   "verification_code")


def record(online: bool, data: Mapping[str, Any]) -> Outcome:
    """A guarantee recorded outside the diagram enters `submitted` when its issuer verifies online, else `active`
    at once; event `submitted`."""
    return Outcome(entry_status(online), (("submitted", {k: data.get(k) for k in RECORDED_FIELDS}),),
                   activated=not online)


def submit(status: str, online: bool, data: Mapping[str, Any]) -> Outcome:
    """The contractor submits the performance guarantee: `submitted` when its issuer verifies online, else
    `active` at once."""
    _require("submit", status, f"the guarantee is {status}: it is not awaiting the contractor's submission")
    return Outcome(entry_status(online), (("submitted", {k: data.get(k) for k in SUBMITTED_FIELDS}),),
                   activated=not online)


def verify(status: str | None, data: Mapping[str, Any], submitted: Mapping[str, Any]) -> Outcome:
    """The issuer confirms (`verified` true: the four verified fields given and equal to what the contractor
    submitted → `active`) or refuses (→ `rejected`) a submitted guarantee. `status` None: no guarantee."""
    _require("verify", status, "no submitted guarantee awaits verification in this contract")
    if not data.get("verified"):
        return Outcome("rejected", (("verification_refused",
                                     {k: data.get(k) for k in (*VERIFIED_FIELDS, "verification_code", "note")}),))
    missing = {f"data.{name}": ["required to confirm the guarantee (verified = true)"]
               for name in VERIFIED_FIELDS if data.get(name) in (None, "")}
    if missing:
        raise Invalid("a confirmation names number, amount, validity and document hash", missing)
    # A field the contractor left out (no document hash, say) cannot be confirmed against anything.
    absent = {f"data.{name}": [f"the contractor submitted no {name}: the guarantee cannot be confirmed; "
                               "refuse it (verified = false) so that it is submitted again"]
              for name in VERIFIED_FIELDS if submitted.get(name) in (None, "")}
    errors = absent or mismatches(submitted, data, "the contractor submitted", "the issuer confirms")
    if errors:
        raise Invalid("the confirmation does not match the guarantee the contractor submitted", errors)
    return Outcome("active", (("verified", {k: data.get(k) for k in (*VERIFIED_FIELDS, "verification_code")}),),
                   activated=True)


def notice(status: str, same_no: bool, verified: Any, report: Mapping[str, Any]) -> Outcome | None:
    """The issuer's platform reports a performance guarantee before the contractor submitted it: kept (status
    `issued` from `required`, unchanged from `issued` / `rejected`), event `issued` with `report`. None when it
    confirmed this guarantee already (`same_no`: a retry, nothing to do); a refusal (`verified` False) has
    nothing to refuse."""
    if status in CONFIRMED and same_no:
        return None
    _require("notice", status, f"the guarantee is {status}: nothing awaits the issuer's confirmation")
    if verified is False:
        raise TransitionRefused("notice", status, "nothing awaits a refusal: the contractor has not submitted this guarantee")
    return Outcome("issued" if status == "required" else status, (("issued", dict(report)),))


def renew(status: str, valid_to: date | None, new_to: date | None, renewed: Mapping[str, Any]) -> Outcome:
    """A renewal extends the validity (Invalid naming data.valid_to otherwise); the status stays."""
    check_renewal(valid_to, new_to)
    return Outcome(status, (("renewed", dict(renewed)),))


def check_claimable(status: str, form: str | None) -> None:
    """Only a guarantee in force that a guarantor issued is claimed; TransitionRefused otherwise."""
    if status not in CLAIMABLE or form not in ISSUED_FORMS:
        raise TransitionRefused("file_claim", status, f"the guarantee is {status} ({form or 'not given'}): only a "
                                                      "guarantee in force, issued by a guarantor, is claimed")


def file_claim(status: str, form: str | None, claim: Mapping[str, Any]) -> Outcome:
    """The beneficiary claims on a guarantee in force that a guarantor issued → `claimed`, event `claimed`."""
    check_claimable(status, form)
    return Outcome("claimed", (("claimed", dict(claim)),))


def pay_claim(status: str, amount: Any, paid_total: Decimal, still_open: bool, paid: Mapping[str, Any]) -> Outcome:
    """The guarantor paid a claim: `paid_out` once the claims paid reach the amount; otherwise `claimed` while
    another claim is open, else `active` again — a guarantee released meanwhile stays released."""
    _require("pay_claim", status, f"the guarantee is {status}: no claim on it awaits payment")
    events = (("claim_paid", dict(paid)),)
    if paid_total >= _dec(amount):
        return Outcome("paid_out", events)
    if status == "released":
        return Outcome("released", events)
    return Outcome("claimed" if still_open else "active", events)


CANCELLATION_REASON = "obligation performed; the guarantee is released (保函注销)"


def release(status: str, form: str | None, issuer_org: str | None, guarantee_no: str | None,
            released: Mapping[str, Any]) -> Outcome | None:
    """The security is released (a paid-out guarantee stays `paid_out`), event `released`; an e-guarantee's
    issuer is then asked to cancel it (注销, event `cancellation_requested`). None for a security never held
    (exempt) or released already."""
    if status not in ALLOWED["release"]:
        return None
    events = [("released", dict(released))]
    if form in ISSUED_FORMS and issuer_org:
        events.append(("cancellation_requested", {"to": issuer_org, "guarantee_no": guarantee_no,
                                                  "released_at": released.get("released_at"),
                                                  "reason": CANCELLATION_REASON}))
    return Outcome("paid_out" if status == "paid_out" else "released", tuple(events))
