"""The guarantee lifecycle without a database (issue 15, acceptance 3): every allowed transition, every refused
one with its reason, the caps and checks at their boundaries. Rule objects are plain namespaces shaped like
the registry's rules (id, legal_basis, max_percent, max_amount, exempt_ratings, exempt_percent)."""
from __future__ import annotations

import ast
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.errors import Conflict, Invalid
from engine.supervision import guarantee_lifecycle as lc
from engine.supervision.guarantee_lifecycle import Status, TransitionRefused

ROOT = Path(__file__).resolve().parents[2]
D = Decimal


def _d(value):
    return None if value is None else D(str(value))  # the registry reads its numbers as Decimal


def cap(max_percent=None, max_amount=None, rule_id="D05"):
    max_percent, max_amount = _d(max_percent), _d(max_amount)
    return SimpleNamespace(id=rule_id, legal_basis="basis", max_percent=max_percent, max_amount=max_amount)


def exemption(percent, ratings=("AAA",), rule_id="CR01"):
    percent = _d(percent)
    return SimpleNamespace(id=rule_id, legal_basis=f"basis {rule_id}", exempt_ratings=ratings, exempt_percent=percent)


SUBMITTED = {"guarantee_no": "BG-1", "amount": D("120000.00"), "valid_to": date(2027, 6, 30),
             "document_sha256": "ab" * 32, "verification_code": "V-1"}
CONFIRM = {"guarantee_no": "BG-1", "amount": "120000", "valid_to": "2027-06-30", "document_sha256": "AB" * 32,
           "verified": True}


# ---------------------------------------------------------------------------- purity
def test_the_lifecycle_imports_no_database_nor_engine_library():
    """Imported alone in a fresh interpreter, the module pulls in no SQLAlchemy, no SpiffWorkflow, no storage."""
    code = ("import sys, engine.supervision.guarantee_lifecycle\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'SpiffWorkflow', 'flask')"
            " or m.startswith('engine.storage') or m.startswith('engine.runtime.spiff'))\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_this_test_module_imports_nothing_of_storage():
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)] + \
        [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m and (m.startswith("engine.storage") or m.startswith("sqlalchemy"))]


def test_the_status_enum_is_the_api_vocabulary():
    assert lc.STATUSES == ("required", "issued", "submitted", "rejected", "active", "claimed", "paid_out",
                           "released", "exempt")
    assert Status("paid_out") is Status.PAID_OUT and Status.ACTIVE == "active"
    assert issubclass(TransitionRefused, Conflict)  # 409 through api/errors.py


# ---------------------------------------------------------------------------- the transition table
@pytest.mark.parametrize("status", lc.STATUSES)
def test_submit_from_every_status(status):
    if status in ("required", "issued", "rejected"):
        online = lc.submit(status, True, {"form": "bank_guarantee", "amount": "1", "extra": "x"})
        assert (online.status, online.activated) == ("submitted", False)
        assert online.events == (("submitted", {"form": "bank_guarantee", "guarantee_no": None, "issuer": None,
                                                "amount": "1", "valid_to": None, "document_sha256": None,
                                                "verification_code": None}),)
        offline = lc.submit(status, False, {"form": "cash"})
        assert (offline.status, offline.activated) == ("active", True)
    else:
        with pytest.raises(TransitionRefused) as refused:
            lc.submit(status, True, {})
        assert (refused.value.event, refused.value.status) == ("submit", status)
        assert refused.value.detail == f"the guarantee is {status}: it is not awaiting the contractor's submission"


@pytest.mark.parametrize("status", (*lc.STATUSES, None))
def test_verify_only_a_submitted_guarantee(status):
    if status == "submitted":
        outcome = lc.verify(status, CONFIRM, SUBMITTED)
        assert (outcome.status, outcome.activated) == ("active", True)
        assert outcome.events[0][0] == "verified"
        return
    with pytest.raises(TransitionRefused, match="no submitted guarantee awaits verification in this contract"):
        lc.verify(status, CONFIRM, SUBMITTED)


def test_a_refused_verification_rejects_the_guarantee():
    outcome = lc.verify("submitted", {"verified": False, "note": "forged"}, SUBMITTED)
    assert (outcome.status, outcome.activated) == ("rejected", False)
    [(name, data)] = outcome.events
    assert name == "verification_refused" and data["note"] == "forged" and data["guarantee_no"] is None


def test_a_confirmation_names_every_verified_field():
    with pytest.raises(Invalid) as bad:
        lc.verify("submitted", {"verified": True, "guarantee_no": "BG-1"}, SUBMITTED)
    assert set(bad.value.errors) == {"data.amount", "data.valid_to", "data.document_sha256"}


def test_a_field_the_contractor_left_out_cannot_be_confirmed():
    with pytest.raises(Invalid) as bad:
        lc.verify("submitted", CONFIRM, {**SUBMITTED, "document_sha256": None})
    assert list(bad.value.errors) == ["data.document_sha256"]
    assert "refuse it (verified = false)" in bad.value.errors["data.document_sha256"][0]


@pytest.mark.parametrize("field, value", [("amount", "120000.01"), ("valid_to", "2027-06-29"),
                                          ("guarantee_no", "BG-2"), ("document_sha256", "cd" * 32),
                                          ("verification_code", "V-2")])
def test_a_mismatch_names_the_field(field, value):
    with pytest.raises(Invalid) as bad:
        lc.verify("submitted", {**CONFIRM, field: value}, SUBMITTED)
    assert list(bad.value.errors) == [f"data.{field}"]
    assert bad.value.errors[f"data.{field}"][0].startswith(f"the issuer confirms {value if field != 'amount' else '120000.01'}")


def test_equal_values_written_differently_are_no_mismatch():
    # 120000 = 120000.00, a date = its ISO string, a hash in capitals = in lower case
    assert lc.mismatches(SUBMITTED, CONFIRM, "a", "b") == {}


@pytest.mark.parametrize("status", lc.STATUSES)
def test_the_issuers_notice_before_the_submission(status):
    report = {"guarantee_no": "BG-1", "by": "platform:BANK"}
    if status in ("active", "claimed", "paid_out", "released"):
        assert lc.notice(status, True, True, report) is None  # a retry: nothing to do
    if status in ("required", "issued", "rejected"):
        outcome = lc.notice(status, False, True, report)
        assert outcome.status == ("issued" if status == "required" else status)
        assert outcome.events == (("issued", report),)
        with pytest.raises(TransitionRefused, match="nothing awaits a refusal"):
            lc.notice(status, False, False, report)
    else:
        with pytest.raises(TransitionRefused, match=f"the guarantee is {status}: nothing awaits the issuer's confirmation"):
            lc.notice(status, False, True, report)


@pytest.mark.parametrize("status", lc.STATUSES)
def test_a_claim_on_every_status_and_form(status):
    for form in (*lc.ISSUED_FORMS, "cash", "retention", None):
        if status in ("active", "claimed") and form in lc.ISSUED_FORMS:
            outcome = lc.file_claim(status, form, {"claim_no": 1})
            assert outcome.status == "claimed" and outcome.events == (("claimed", {"claim_no": 1}),)
        else:
            with pytest.raises(TransitionRefused) as refused:
                lc.file_claim(status, form, {})
            assert refused.value.detail == (f"the guarantee is {status} ({form or 'not given'}): only a guarantee in "
                                            "force, issued by a guarantor, is claimed")


@pytest.mark.parametrize("status, total, still_open, to", [
    ("claimed", D("100.00"), False, "paid_out"),   # the claims paid reach the amount
    ("claimed", D("100.01"), True, "paid_out"),
    ("claimed", D("99.99"), True, "claimed"),      # another claim still open
    ("claimed", D("99.99"), False, "active"),      # in force again
    ("released", D("50.00"), False, "released"),   # released meanwhile: stays released
    ("released", D("100.00"), False, "paid_out"),
])
def test_a_paid_claim(status, total, still_open, to):
    outcome = lc.pay_claim(status, D("100.00"), total, still_open, {"claim_no": 1})
    assert outcome.status == to and outcome.events == (("claim_paid", {"claim_no": 1}),)


@pytest.mark.parametrize("status", [s for s in lc.STATUSES if s not in ("claimed", "released")])
def test_no_claim_awaits_payment_outside_a_claim(status):
    with pytest.raises(TransitionRefused, match=f"the guarantee is {status}: no claim on it awaits payment"):
        lc.pay_claim(status, D("100"), D("100"), False, {})


@pytest.mark.parametrize("status", lc.STATUSES)
def test_release_from_every_status(status):
    outcome = lc.release(status, "bank_guarantee", "BANK", "BG-1", {"released_at": date(2027, 1, 5)})
    if status in ("exempt", "released"):
        assert outcome is None  # never held, or released already: nothing recorded
        return
    assert outcome.status == ("paid_out" if status == "paid_out" else "released")
    assert [name for name, _ in outcome.events] == ["released", "cancellation_requested"]
    assert outcome.events[1][1] == {"to": "BANK", "guarantee_no": "BG-1", "released_at": date(2027, 1, 5),
                                    "reason": lc.CANCELLATION_REASON}


@pytest.mark.parametrize("form, issuer", [("cash", "BANK"), ("retention", None), ("bank_guarantee", None)])
def test_no_cancellation_without_an_issuer_to_tell(form, issuer):
    outcome = lc.release("active", form, issuer, None, {})
    assert [name for name, _ in outcome.events] == ["released"] and not outcome.has("cancellation_requested")


@pytest.mark.parametrize("status", lc.STATUSES)
def test_renewal_keeps_the_status_and_extends_the_validity(status):
    outcome = lc.renew(status, date(2027, 6, 30), date(2027, 7, 1), {"valid_to": date(2027, 7, 1)})
    assert outcome.status == status and outcome.events == (("renewed", {"valid_to": date(2027, 7, 1)}),)


@pytest.mark.parametrize("new_to", [date(2027, 6, 30), date(2027, 6, 1)])
def test_a_renewal_that_does_not_extend_is_refused(new_to):
    with pytest.raises(Invalid) as bad:
        lc.renew("active", date(2027, 6, 30), new_to, {})
    assert bad.value.errors == {"data.valid_to": [f"{new_to} does not end after the current validity 2027-06-30"]}


def test_every_refusal_in_the_table_is_named():
    assert set(lc.ALLOWED) == {"submit", "verify", "notice", "file_claim", "pay_claim", "renew", "release"}
    assert all(set(v) <= set(lc.STATUSES) for v in lc.ALLOWED.values())


# ---------------------------------------------------------------------------- entry
def test_entry_status():
    assert lc.entry_status(True) == "submitted" and lc.entry_status(False) == "active"
    recorded = lc.record(False, {"valid_from": "2026-01-01"})
    assert (recorded.status, recorded.activated) == ("active", True)
    assert recorded.events[0][0] == "submitted" and recorded.events[0][1]["valid_from"] == "2026-01-01"
    assert lc.record(True, {}).activated is False


def test_an_exempt_bid_bond_frees_the_whole_bond():
    entry = lc.bid_bond("exempt", D("20000"), "AAA", [exemption(None), exemption(50, rule_id="CR02")])
    assert (entry.status, entry.rule.id, entry.exempt_percent, entry.freed_amount) == ("exempt", "CR01", "100", D("20000.00"))
    assert entry.event == ("exempted", {"rule": "CR01", "legal_basis": "basis CR01", "rating": "AAA",
                                        "freed_amount": D("20000.00")})
    unruled = lc.bid_bond("exempt", D("1"), "B", [exemption(None)])
    assert unruled.rule is None and unruled.event[1]["rule"] is None


def test_a_partial_exemption_reduces_the_bond_by_the_largest_share():
    entry = lc.bid_bond("cash", D("10000"), "AA", [exemption(25, ("AA",), "CR03"), exemption(50, ("AA",), "CR02")])
    # the bond posted is the reduced half: the other half, as much again, was freed
    assert (entry.status, entry.rule.id, entry.exempt_percent, entry.freed_amount) == ("active", "CR02", "50", D("10000.00"))
    assert entry.event[0] == "reduced"
    third = lc.bid_bond("cash", D("100"), "AA", [exemption(D("25"), ("AA",))])
    assert third.freed_amount == D("33.33")  # 100 × 25 / 75, to the fen


def test_a_bond_without_an_exemption():
    assert lc.bid_bond("cash", D("100"), "B", [exemption(50, ("AA",))]) == lc.BidBond("active")


# ---------------------------------------------------------------------------- caps and checks
def test_a_percentage_cap_at_the_boundary():
    lc.check_caps("performance", D("100000.00"), D("1000000"), [cap(max_percent=10)], "data.amount")
    with pytest.raises(Invalid) as over:
        lc.check_caps("performance", D("100000.01"), D("1000000"), [cap(max_percent=10)], "data.amount")
    assert over.value.detail == "the performance guarantee exceeds its cap"
    assert over.value.errors == {"data.amount": [
        "100000.01 CNY is 10.00% of the contract amount, over the 10% cap (D05, basis)"]}


def test_an_amount_cap_at_the_boundary():
    lc.check_caps("bid", D("800000"), D("90000000"), [cap(max_amount=D("800000"), rule_id="D01")], "amount")
    with pytest.raises(Invalid) as over:
        lc.check_caps("bid", D("800000.01"), D("90000000"), [cap(max_amount=D("800000"), rule_id="D01")], "amount")
    assert over.value.errors == {"amount": ["800000.01 CNY exceeds 800000 CNY (D01, basis)"]}


def test_no_cap_without_a_contract_amount():
    lc.check_caps("quality", D("5"), D("0"), [cap(max_percent=1)], "amount")


def test_the_guarantee_covers_the_rate_agreed():
    lc.check_covers(D("50000.00"), "1000000", "5")
    with pytest.raises(Invalid) as short:
        lc.check_covers(D("49999.99"), "1000000", "5")
    assert short.value.errors == {"data.amount": [
        "49999.99 CNY is less than the 50000.00 CNY agreed (5% of the contract amount)"]}
    assert lc.required_amount("333.33", "3") == D("10.00")


def test_recorded_kinds_amounts_and_advances():
    for kind in lc.RECORDED_KINDS:
        lc.check_recorded_kind(kind)
    for kind in ("bid", "performance", None):
        with pytest.raises(Invalid) as bad:
            lc.check_recorded_kind(kind)
        assert list(bad.value.errors) == ["kind"]
    lc.check_positive(D("0.01"))
    with pytest.raises(Invalid, match="the amount is missing"):
        lc.check_positive(D("0"))
    lc.check_advance(D("1000.00"), "1000")
    with pytest.raises(Invalid, match="the guarantee exceeds the contract"):
        lc.check_advance(D("1000.01"), "1000")


def test_one_quality_security_per_contract():
    lc.check_quality_alone({}, [exemption(None)])
    lc.check_quality_alone({"performance": ("active", "bank_guarantee")}, [])  # no rule forbids it
    with pytest.raises(Invalid, match="no quality guarantee beside a performance guarantee") as beside:
        lc.check_quality_alone({"performance": ("submitted", "bank_guarantee")}, [cap(rule_id="Q02")])
    assert "holds a performance guarantee (submitted)" in beside.value.errors["kind"][0]
    with pytest.raises(Invalid) as retention:
        lc.check_quality_alone({"quality": ("active", "retention")}, [])
    assert retention.value.errors["kind"][0].startswith("retention is withheld already")
    with pytest.raises(Invalid) as quality:
        lc.check_quality_alone({"quality": ("active", "bank_guarantee")}, [])
    assert quality.value.errors["kind"][0].startswith("a quality guarantee is held already")


def test_what_a_guarantee_still_covers():
    still = lc.covered("100.00", ["30.00", D("20.00")])
    assert still == D("50.00")
    assert lc.check_claim_amount(D("50.00"), still) is None
    assert lc.check_claim_amount(D("50.01"), still) == ["50.01 CNY is more than the 50.00 CNY the guarantee still covers"]
    assert lc.check_claim_amount(D("0"), still) == ["more than zero"]


def test_an_on_demand_guarantee_pays_the_sum_claimed():
    lc.check_claim_paid("100.00", D("100"))
    with pytest.raises(Invalid) as bad:
        lc.check_claim_paid("100.00", D("99.99"))
    assert bad.value.errors == {"data.amount": ["the claim is for 100.00 CNY, not 99.99"]}
