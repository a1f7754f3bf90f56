"""Issue 18: publicity periods of credit records are data in the rule registry (kind "publicity")."""
from __future__ import annotations

from datetime import date

import pytest

from engine.supervision.rules import Publicity, RuleRegistry, UnknownRule, load_default

ON = date(2026, 10, 14)


@pytest.fixture(scope="module")
def registry() -> RuleRegistry:
    return load_default()


@pytest.mark.parametrize("severity, track, published, months, repair, rule", [
    ("warning", "tendering", False, None, None, "CP01"),        # warnings and 通报批评: never published
    ("warning", "gov_procurement", False, None, None, "CP01"),
    ("general", "gov_procurement", True, 12, 3, "CP02+S03"),     # 58号: 3 months .. 1 year
    ("serious", "gov_procurement", True, 36, 12, "CP03+S03"),    # 58号: 1 .. 3 years
    ("general", "tendering", True, 6, None, "S02+S03"),          # 1531号 art 9: 6 months
    ("serious", "tendering", True, 6, None, "S02+S03"),
    ("serious", None, True, 36, 12, "CP03+S03"),
])
def test_the_period_follows_the_severity_class_and_the_track(registry, severity, track, published, months, repair, rule):
    term = registry.publicity_for(severity, track, ON)
    assert (term.published, term.months, term.repair_after_months, term.rule_id) == (published, months, repair, rule)
    assert term.legal_basis and all(mark in "PSULD/" for mark in term.verified)


def test_no_period_exceeds_henans_five_years(registry):
    assert all(registry.publicity_for(s, t, ON).months in (None, 6, 12, 36)
               for s in ("warning", "general", "serious") for t in ("tendering", "gov_procurement"))
    longer = [p for p in registry.publicity() if p.id != "CP03"] + [
        Publicity.from_dict({**registry.publicity()[[p.id for p in registry.publicity()].index("CP03")].to_dict(),
                             "months": 84})]
    capped = RuleRegistry(list(registry.all()) + list(registry.limits()) + longer)
    assert capped.publicity_for("serious", "gov_procurement", ON).months == 60   # S03 caps it


def test_the_unverified_national_rule_says_so(registry):
    entries = {p.id: p for p in registry.publicity()}
    assert entries["CP02"].verified == "U" and "not read against the primary text" in entries["CP02"].note
    assert entries["S03"].cap_months == 60 and entries["S03"].verified == "L"
    assert all(Publicity.from_dict(p.to_dict()) == p for p in registry.publicity())


def test_objection_periods_are_working_days_in_the_registry(registry):
    assert (registry.get("S03A", ON).days, registry.get("S03A", ON).unit) == (3, "workdays")
    assert (registry.get("S03B", ON).days, registry.get("S03B", ON).unit) == (7, "workdays")
    assert registry.get("S03C", ON).days == 1 and registry.get("S03D", ON).days == 1


@pytest.mark.parametrize("fields, message", [
    ({"severities": ["fatal"], "published": True, "months": 12}, "severities"),
    ({"severities": ["general"], "published": True}, "months"),
    ({"severities": ["general"], "published": False, "months": 3}, "publishes nothing"),
    ({"severities": ["general"], "published": True, "months": 3, "repair_after_months": 4}, "repair_after_months"),
    ({"severities": ["general"], "cap_months": 60, "published": True}, "cap takes cap_months only"),
    ({"severities": ["general"], "published": True, "months": 12, "tracks": ["both"]}, "tracks"),
    ({"severities": ["general"]}, "published must be true or false"),
])
def test_a_malformed_publicity_entry_is_refused_naming_the_field(fields, message):
    entry = {"kind": "publicity", "id": "CPX", "title": "t", "legal_basis": "b", "verified": "U",
             "effective_from": "2023-05-01", **fields}
    with pytest.raises(ValueError, match=message):
        RuleRegistry.from_json([entry])


def test_before_the_national_rule_no_period_is_guessed(registry):
    with pytest.raises(UnknownRule):
        registry.publicity_for("general", "gov_procurement", date(2023, 4, 30))
    with pytest.raises(ValueError):
        registry.publicity_for("fatal", "gov_procurement", ON)

