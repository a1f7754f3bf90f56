"""Issue 7: the monthly supervision report, checked figure by figure against a month built through the API.

Five post_award contracts live through August–October 2026 under a frozen clock, in one chronological
script (the scheduler's tick fires every contract's timers, so the contracts must move forward together).
Deadlines are worked out by hand in the comments (Civil Code arts 200–204: the start day is not counted, a
period in days whose last day is a rest day moves to the next working day, the last day ends at 24:00 China
time). The 2026 calendar: 09-20 (Sun) and 10-10 (Sat) are make-up workdays, 09-25 Mid-Autumn, 10-01…10-07
National Day. All tendering/works unless said; payment deadlines use payment_term_days from acceptance.

  K1 RPT-ON-TIME  ZJ, EMP/CON    award 09-28, signed 10-12 (R04 → 10-28), filed 10-14 (L01 → 10-19),
                                 delivered 10-16, accepted 10-19, 10-day term → due 10-29, paid 10-27, completed 10-28
  K2 RPT-LATE     ZJ, EMP/CON    award 08-24 (R04 → 09-23): yellow 09-22, orange 09-25, signed 10-13 (late);
                                 filing L01 10-13 → 10-20: yellow 10-19, orange 10-22, filed 10-23 (late);
                                 delivered 10-24, accepted 10-26, 3-day term → due 10-29, paid 10-31 (2 days late)
  K3 RPT-ARREARS  ZJ-D, OTHER/CON two milestones of 600 000: m1 accepted 08-31 → due 09-30, 200 000 paid 09-04,
                                 orange 10-01, 100 000 paid 10-20, red 10-31 (confirmed by ZJ: credit record + lead);
                                 m2 accepted 09-16 → due 10-16, nothing paid, orange 10-19
  K4 RPT-BOND     ZJ, EMP/CON    award 10-09, signed 10-10 (Sat, a make-up workday), filed 10-12; cash bid bond 20 000
                                 never refunded: D03 → 10-15, yellow 10-13, orange 10-16
  K5 RPT-CZ       CZ, EMP/CON2   government procurement, award 10-20, nothing else in October
"""
from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest

from engine.supervision import reports
from tests.e2e.test_post_award import (Api, Contract, at, baseline, just_after_midnight, one_milestone,
                                       procurement_goods, tendering_works, who_of)

MONTH = "2026-10"


class Deal(Contract):
    """A Contract started at a chosen instant (the scheduler first fires what is due by then)."""

    def __init__(self, api: Api, key: str, data: dict, started: datetime, **who):
        self.api, self.key, self.data = api, key, data
        self.who = {**who_of(data), **who}
        self.steps = {s[0]: s for s in baseline(data)}
        self.order = [s[0] for s in baseline(data)]
        self.done: set[str] = set()
        api.tick(started)
        self.instance = api.start(key, data, started)
        self.id = self.instance["id"]


def works(**over) -> dict:
    """tendering/works, no bid bond (CON is AAA: exempt), no guarantee, no retention; late-payment interest agreed at
    0.05 % a day (CON is a large contractor: no SME rule would give P05's default)."""
    return tendering_works(**{"bid_bond": {"form": "exempt"}, "retention_rate": "0",
                              "late_interest_percent_per_day": "0.05", **over})


def october(api: Api) -> dict[str, Deal]:
    """The month of the module docstring, in chronological order."""
    k3 = Deal(api, "RPT-ARREARS", works(employer="OTHER", department="ZJ-D", milestones=[
        {"name": "主体结构", "amount": "600000.00", "planned_date": "2026-08-31"},
        {"name": "竣工验收", "amount": "600000.00", "planned_date": "2026-09-15"}]), at(8, 3), employer="other",
        supervisor="zj")
    for name in ("sign", "confirm", "file", "review", "deliver1", "accept1", "invoice1"):
        k3.step(name)
    k3.step("pay1", paid_at="2026-09-04", amount="200000.00")
    for name in ("deliver2", "accept2", "invoice2"):
        k3.step(name)

    k2 = Deal(api, "RPT-LATE", one_milestone(works(award_notice_date="2026-08-24", payment_term_days=3), "2026-10-31"),
              at(8, 24))
    api.tick(at(9, 22))  # R04: 08-24 + 30 → 09-23 (Wed) 24:00; the yellow pre-warning is due 09-21 00:00
    api.tick(at(9, 25))  # the orange at 09-24 00:00
    k1 = Deal(api, "RPT-ON-TIME", one_milestone(works(award_notice_date="2026-09-28", payment_term_days=10), "2026-10-20"),
              at(9, 28))
    api.tick(just_after_midnight(10, 1))  # K3 m1: P01, 30 days from the acceptance of 08-31 → 09-30 24:00: orange
    k4 = Deal(api, "RPT-BOND", one_milestone(tendering_works(award_notice_date="2026-10-09", retention_rate="0",
                                                             bid_bond={"amount": "20000.00", "form": "cash"}),
                                             "2026-12-15"), at(10, 9))
    k4.step("sign", at(10, 10), signed_at="2026-10-10")
    k4.step("confirm", at(10, 10, hour=15), confirmed_at="2026-10-10")
    k1.step("sign", at(10, 12), signed_at="2026-10-12")
    k1.step("confirm", at(10, 12, hour=10, second=30), confirmed_at="2026-10-12")
    k4.step("file", at(10, 12, hour=11), filed_at="2026-10-12")
    k2.step("sign", at(10, 13), signed_at="2026-10-13")  # fires K4's bid bond yellow (D03 10-15 24:00, less 3 days)
    k2.step("confirm", at(10, 13, hour=10, second=30), confirmed_at="2026-10-13")
    k4.step("review", at(10, 13, hour=11))
    k1.step("file", at(10, 14), filed_at="2026-10-14")
    k1.step("review", at(10, 14, hour=15))
    k1.step("deliver1", at(10, 16), delivered_at="2026-10-16")  # fires K4's bid bond orange (10-16 00:00)
    api.tick(at(10, 19))  # K2 filing yellow (L01 10-13 → 10-20 24:00, less 3 days) and K3 m2 orange (due 10-16 24:00)
    k1.step("accept1", at(10, 19, hour=11), accepted_at="2026-10-19")
    k1.step("invoice1", at(10, 19, hour=15), issued_at="2026-10-19")
    k3.step("pay1", at(10, 20), paid_at="2026-10-20", amount="100000.00")
    k5 = Deal(api, "RPT-CZ", one_milestone(procurement_goods(award_notice_date="2026-10-20",
                                                             performance_guarantee_rate="0"), "2026-12-31"),
              at(10, 20, hour=11))
    api.tick(at(10, 22))  # K2 filing orange (10-21 00:00)
    k2.step("file", at(10, 23), filed_at="2026-10-23")
    k2.step("review", at(10, 23, hour=15))
    k2.step("deliver1", at(10, 24), delivered_at="2026-10-24")
    k2.step("accept1", at(10, 26), accepted_at="2026-10-26")
    k2.step("invoice1", at(10, 26, hour=15), issued_at="2026-10-26")
    k1.step("pay1", at(10, 27), paid_at="2026-10-27")
    k1.step("complete", at(10, 28), completed_at="2026-10-28")
    k1.step("file_completion", at(10, 28, hour=11), filed_at="2026-10-28")  # R07's filing, the same day
    # Fires K2's payment orange (due 10-29 24:00) and K3 m1's red (30 days after 10-01 00:00); K2 then pays.
    k2.step("pay1", at(10, 31), paid_at="2026-10-31")
    return {"K1": k1, "K2": k2, "K3": k3, "K4": k4, "K5": k5}


def confirm_k3_red(api: Api) -> dict:
    [red] = [a for a in api.alerts("zj", severity="red") if a["business_key"] == "RPT-ARREARS"]
    return api.call("POST", f"/api/v1/alerts/{red['id']}/confirm", "zj", at(10, 31, hour=11),
                    json={"decision": "confirmed", "note": "逾期支付进度款，经核实属实"})


def severities(yellow=0, orange=0, red=0) -> dict:
    return {"yellow": yellow, "orange": orange, "red": red}


def summary(by_code: dict[str, dict]) -> dict:
    by_severity = severities()
    for per in by_code.values():
        for s, n in per.items():
            by_severity[s] += n
    return {"total": sum(by_severity.values()), "by_severity": by_severity, "by_code": by_code}


K3_AGES = {"0-30": {"amount": "600000.00", "milestones": 1}, "31-90": {"amount": "300000.00", "milestones": 1},
           "91-180": {"amount": "0.00", "milestones": 0}, "181-365": {"amount": "0.00", "milestones": 0},
           "over_365": {"amount": "0.00", "milestones": 0}}

EXPECTED_ALL = {
    "contracts": {"awarded": 2,            # K4 10-09, K5 10-20 (K1's award notice is of 09-28)
                  "signed": 3,             # K4 10-10, K1 10-12, K2 10-13
                  "signed_on_time": 2,     # K4 (R04 → 11-08 Sun → 11-09), K1 (→ 10-28)
                  "signed_late": 1},       # K2 (→ 09-23)
    "filings": {"filed": 3,                # K4 10-12, K1 10-14, K2 10-23
                "on_time": 2,              # K4 (L01 10-10 → 10-17 Sat → 10-19), K1 (10-12 → 10-19)
                "late": 1},                # K2 (10-13 → 10-20)
    "milestones": {"due": 3,               # K1 10-29, K2 10-29, K3 m2 10-16 (K3 m1 was due 09-30)
                   "paid_on_time": 1,      # K1: paid in full 10-27
                   "paid_late": 1,         # K2: 10-31, 2 days after 10-29
                   "average_days_late": 2.0},
    # K3 m1 600 000 − 300 000 paid, due 09-30: 31 days late at 10-31, 300 000 × 0.05 % × 31 = 4 650.00 (31-90);
    # K3 m2 600 000, due 10-16: 15 days late, 600 000 × 0.05 % × 15 = 4 500.00 (0-30). P05, no agreed rate.
    "arrears": {"amount": "900000.00", "milestones": 2, "contracts": 1, "interest_accrued": "9150.00",
                "by_age": K3_AGES,
                "by_department": {"ZJ-D": {"amount": "900000.00", "milestones": 2, "contracts": 1,
                                           "interest_accrued": "9150.00"}},
                "by_employer": {"OTHER": {"name": "org OTHER", "amount": "900000.00", "milestones": 2, "contracts": 1,
                                          "interest_accrued": "9150.00", "by_age": K3_AGES}},
                "by_funding_source": {"unknown": {"amount": "900000.00", "milestones": 2, "contracts": 1,
                                                  "interest_accrued": "9150.00", "by_age": K3_AGES}},
                "top_employers": [{"org": "OTHER", "name": "org OTHER", "amount": "900000.00", "milestones": 2,
                                   "contracts": 1, "interest_accrued": "9150.00"}]},
    "held_past_release": {"count": 1, "amount": "20000.00",  # K4's cash bid bond, due 10-15 24:00
                          "by_kind": {"bid": {"count": 1, "amount": "20000.00"},
                                      "performance": {"count": 0, "amount": "0.00"},
                                      "quality": {"count": 0, "amount": "0.00"}}},
    "alerts": {
        # K3 m1 10-01 orange, K4 bond 10-13 yellow, K2 filing 10-19 yellow, K3 m2 10-19 orange, K2 payment 10-31 orange
        "raised": summary({"BID_BOND_REFUND_OVERDUE": severities(yellow=1), "FILING_OVERDUE": severities(yellow=1),
                           "PAYMENT_OVERDUE": severities(orange=3)}),
        # K4 bond → orange 10-16, K2 filing → orange 10-22, K3 m1 → red 10-31 (K2 signing rose in September)
        "escalated": summary({"BID_BOND_REFUND_OVERDUE": severities(orange=1), "FILING_OVERDUE": severities(orange=1),
                              "PAYMENT_OVERDUE": severities(red=1)}),
        # K2 signing 09-22 → 10-13 (21 days), filing 10-19 → 10-23 (4), payment 10-31 → 10-31 (0)
        "resolved": summary({"FILING_OVERDUE": severities(orange=1), "PAYMENT_OVERDUE": severities(orange=1),
                             "SIGNING_OVERDUE": severities(orange=1)}),
        "median_days_to_resolve": 4},
    "credit_records": {"total": 1, "by_rule": {"PAYMENT_OVERDUE": 1}},
    "leads": {"total": 1, "pending": 0, "confirmed": 1, "dismissed": 0},
}


def report(api: Api, who: str, expect: int = 200, **query) -> dict:
    q = "&".join(f"{k}={v}" for k, v in {"month": MONTH, **query}.items())
    return api.call("GET", f"/api/v1/reports/monthly?{q}", who, expect=expect)


def csv_rows(api: Api, who: str, **query) -> dict[tuple[str, str], str]:
    q = "&".join(f"{k}={v}" for k, v in {"month": MONTH, "format": "csv", **query}.items())
    r = api.client.get(f"/api/v1/reports/monthly?{q}", headers=api.people.auth(who))
    assert r.status_code == 200 and r.mimetype == "text/csv", (r.status_code, r.data[:300])
    text = r.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["section", "figure", "value"]
    out = {(s, f): v for s, f, v in rows[1:]}
    assert len(out) == len(rows) - 1  # no figure twice
    return out


def leaves(value, path=""):
    """The JSON report's leaves, flattened independently of engine/reports.py."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, f"{path}.{i}" if path else str(i))
    else:
        yield path, "" if value is None else str(value)


def assert_csv_agrees(json_report: dict, rows: dict[tuple[str, str], str]) -> None:
    expected = {}
    for section, body in json_report.items():
        if section == "definitions":
            continue
        for path, value in leaves(body):
            expected[(section, path)] = value
    assert rows == expected


def test_every_figure_of_the_month_matches_the_hand_computed_value(api):
    october(api)
    confirm_k3_red(api)
    got = report(api, "admin")
    assert got["report"]["month"] == MONTH and got["report"]["timezone"] == "Asia/Shanghai"
    assert got["report"]["start"] == "2026-09-30T16:00:00+00:00" and got["report"]["end"] == "2026-10-31T16:00:00+00:00"
    assert got["report"]["departments"] == ["CZ", "JW", "ZJ", "ZJ-D"] and got["report"]["contracts_in_scope"] == 5
    for section, want in EXPECTED_ALL.items():
        assert got[section] == want, section
    # Every figure is defined, in the response itself (sections other modules register bring their own).
    for section in reports.BUILTIN:
        if section == "report":
            continue
        for figure in got[section]:
            assert f"{section}.{figure}" in got["definitions"], f"{section}.{figure} has no definition"
    assert_csv_agrees(got, csv_rows(api, "admin"))


def test_a_department_report_covers_its_subtree_and_a_supervisor_only_their_own(api):
    october(api)
    confirm_k3_red(api)
    zj = report(api, "zj")  # the ZJ subtree: ZJ and ZJ-D, not CZ's K5
    assert zj["report"]["departments"] == ["ZJ", "ZJ-D"] and zj["report"]["contracts_in_scope"] == 4
    assert zj["contracts"] == {**EXPECTED_ALL["contracts"], "awarded": 1}
    for section in ("filings", "milestones", "arrears", "held_past_release", "alerts", "credit_records", "leads"):
        assert zj[section] == EXPECTED_ALL[section], section
    assert report(api, "admin", department="ZJ")["contracts"] == zj["contracts"]

    sub = report(api, "zj", department="ZJ-D")  # K3 only
    assert sub["report"]["departments"] == ["ZJ-D"] and sub["report"]["contracts_in_scope"] == 1
    assert sub["contracts"] == {"awarded": 0, "signed": 0, "signed_on_time": 0, "signed_late": 0}
    assert sub["milestones"] == {"due": 1, "paid_on_time": 0, "paid_late": 0, "average_days_late": None}
    assert sub["arrears"] == EXPECTED_ALL["arrears"]
    assert sub["held_past_release"]["count"] == 0
    assert sub["alerts"]["raised"] == summary({"PAYMENT_OVERDUE": severities(orange=2)})
    assert sub["alerts"]["escalated"] == summary({"PAYMENT_OVERDUE": severities(red=1)})
    assert sub["alerts"]["resolved"]["total"] == 0 and sub["alerts"]["median_days_to_resolve"] is None
    assert sub["credit_records"]["total"] == 1 and sub["leads"]["confirmed"] == 1
    assert_csv_agrees(sub, csv_rows(api, "zj", department="ZJ-D"))

    cz = report(api, "cz")
    assert cz["report"]["contracts_in_scope"] == 1 and cz["contracts"]["awarded"] == 1
    assert cz["arrears"]["amount"] == "0.00" and cz["alerts"]["raised"]["total"] == 0

    report(api, "cz", expect=403, department="ZJ")      # outside the caller's subtree
    report(api, "zjd", expect=403, department="ZJ")     # a parent is outside a child's subtree
    report(api, "zj", expect=404, department="NOPE")
    for who in ("emp", "con", "designer"):
        report(api, who, expect=403)
    assert report(api, "operator")["contracts"] == EXPECTED_ALL["contracts"]


def test_the_month_before_and_the_arrears_due_at_its_last_instant(api):
    october(api)
    sep = report(api, "admin", month="2026-09")
    assert sep["contracts"] == {"awarded": 1, "signed": 0, "signed_on_time": 0, "signed_late": 0}  # K1's award 09-28
    assert sep["milestones"] == {"due": 1, "paid_on_time": 0, "paid_late": 0, "average_days_late": None}  # K3 m1
    # K3 m1 was due 09-30 24:00, the very end of September: the engine raises its alert at that instant, so the
    # month's end counts it — 600 000 less the 200 000 paid on 09-04 (the 10-20 part is not yet paid then).
    assert (sep["arrears"]["amount"], sep["arrears"]["milestones"]) == ("400000.00", 1)
    assert sep["alerts"]["raised"] == summary({"SIGNING_OVERDUE": severities(yellow=1)})      # K2, 09-22
    assert sep["alerts"]["escalated"] == summary({"SIGNING_OVERDUE": severities(orange=1)})   # K2, 09-25
    assert sep["alerts"]["resolved"]["total"] == 0 and sep["credit_records"]["total"] == 0


def test_a_bad_month_is_refused_naming_the_field(api):
    for bad in ("2026-13", "2026-1", "October", ""):
        body = api.call("GET", f"/api/v1/reports/monthly?month={bad}", "admin", expect=422)
        assert list(body["errors"]) == ["month"], body
    body = api.call("GET", "/api/v1/reports/monthly", "admin", expect=422)
    assert "month" in body["errors"]
    body = api.call("GET", f"/api/v1/reports/monthly?month={MONTH}&format=xls", "admin", expect=422)
    assert list(body["errors"]) == ["format"]


def test_a_registered_section_appears_in_json_and_csv(api):
    october(api)
    seen = []

    def e_guarantees(session, scope: reports.ReportScope) -> dict:
        seen.append(scope)
        return {"contracts": len(scope.instance_ids), "first_day": scope.first_day.isoformat(),
                "by_issuer": {"中国银行": {"count": 1, "amount": "50000.00"}}}

    reports.register_section("test_section", e_guarantees, {"contracts": "contracts in scope (a test section)"})
    try:
        with pytest.raises(ValueError):
            reports.register_section("arrears", e_guarantees)
        got = report(api, "zj")
        assert got["test_section"] == {"contracts": 4, "first_day": "2026-10-01",
                                       "by_issuer": {"中国银行": {"count": 1, "amount": "50000.00"}}}
        assert got["definitions"]["test_section.contracts"] == "contracts in scope (a test section)"
        [scope] = seen
        assert scope.month == MONTH and scope.departments == frozenset({"ZJ", "ZJ-D"}) and len(scope.instance_ids) == 4
        assert scope.start.isoformat() == "2026-09-30T16:00:00+00:00" and scope.end.isoformat() == "2026-10-31T16:00:00+00:00"
        rows = csv_rows(api, "zj")
        assert rows[("test_section", "by_issuer.中国银行.amount")] == "50000.00"
        assert_csv_agrees(report(api, "zj"), rows)
    finally:
        reports.unregister_section("test_section")
    assert "test_section" not in report(api, "zj")


def test_every_definition_is_documented():
    from tests.conftest import ROOT

    text = (ROOT / "docs" / "reports.md").read_text(encoding="utf-8")
    missing = [key for key in reports.DEFINITIONS if f"`{key}`" not in text]
    assert not missing, f"figures defined in engine/reports.py but not in docs/reports.md: {missing}"


def test_a_formula_in_an_organisation_name_comes_out_as_text_in_the_csv(api):
    """CSV injection: an organisation named `=HYPERLINK(...)` is a cell of text (a leading '), not a live
    formula; the JSON report keeps the name as it is."""
    from engine.storage.models import Organisation

    october(api)
    evil = '=HYPERLINK("http://x","y")'
    with api.db.transaction() as s:
        s.get(Organisation, "OTHER").name = evil  # K3's employer, in arrears
    got = report(api, "admin")
    assert got["arrears"]["top_employers"][0]["name"] == evil
    rows = csv_rows(api, "admin")
    assert rows[("arrears", "by_employer.OTHER.name")] == "'" + evil
    assert rows[("arrears", "top_employers.0.name")] == "'" + evil
    assert rows[("arrears", "amount")] == "900000.00"  # numbers stay numbers
    assert not any(v.startswith(("=", "+", "@", "\t", "\r")) for v in rows.values())
    assert not any(k[1].startswith(("=", "+", "-", "@")) for k in rows)


def _migration_0018():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0018_report_alert_columns.py"
    spec = importlib.util.spec_from_file_location("migration_0018", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_how_each_alert_rose_is_typed_as_its_audit_events_tell_and_the_backfill_finds_the_same(api):
    """The alert writes type first_severity / orange_at / red_at (what the report counts); migration 0018's backfill
    works them out of the alert_* audit events. On the October contracts (yellow → orange, orange → red, a red alert
    confirmed), both agree with a replay of each alert's events in chain order, on both databases."""
    from sqlalchemy import select, text, update
    from engine.storage.models import Alert, AuditEvent, Instance
    october(api)
    confirm_k3_red(api)
    columns = (Alert.id, Alert.first_severity, Alert.orange_at, Alert.red_at, Alert.funding_source)
    with api.db.read() as s:
        written = {r.id: tuple(r[1:]) for r in s.execute(select(*columns))}
        events = s.execute(select(AuditEvent.data, AuditEvent.at, AuditEvent.action)
                           .where(AuditEvent.action.in_(("alert_yellow", "alert_orange", "alert_red")))
                           .order_by(AuditEvent.instance_id, AuditEvent.seq)).all()
    replayed: dict[str, list] = {}
    for data, at, action in events:
        replayed.setdefault(data["alert_id"], []).append((action.removeprefix("alert_"), at))
    rank = {"yellow": 1, "orange": 2, "red": 3}
    for alert_id, history in replayed.items():
        first, orange, red, top = history[0][0], None, None, rank[history[0][0]]
        for severity, at in history:
            red = at if severity == "red" and red is None else red
        for severity, at in history[1:]:
            if rank[severity] > top:
                top = rank[severity]
                orange = at if severity == "orange" else orange
        assert written[alert_id][:3] == (first, orange, red), alert_id
    assert any(o for _, o, _, _ in written.values()) and any(r for _, _, r, _ in written.values())
    with api.db.read() as s:  # the contract's funding source, as declared at the start (None where it declared none)
        funds = dict(s.execute(select(Instance.id, Instance.funding_source)).all())
        assert {r.id: r.funding_source for r in s.execute(select(Alert.id, Alert.funding_source))} == {
            r.id: funds[r.instance_id] for r in s.execute(select(Alert.id, Alert.instance_id))}
    migration = _migration_0018()
    with api.db.transaction() as s:  # a contract that declared a funding source, for the backfill to copy
        contract = s.get(Instance, s.scalar(select(Alert.instance_id).limit(1)))
        contract.data = {**contract.data, "funding_source": "special_bonds"}
    with api.db.transaction() as s:
        s.execute(update(Alert).values(first_severity=None, orange_at=None, red_at=None, funding_source=None))
        if api.db.dialect == "postgresql":
            s.execute(text(migration.POSTGRESQL))
            s.execute(text(migration.FUNDING_POSTGRESQL))
        else:
            s.execute(text(migration.SQLITE))
            s.execute(text(migration.SQLITE_ORANGE))
            s.execute(text(migration.FUNDING_SQLITE))
        s.execute(text(migration.UNNAMED))
    with api.db.read() as s:
        backfilled = {r.id: tuple(r[1:]) for r in s.execute(select(*columns))}
        assert {k: v[:3] for k, v in backfilled.items()} == {k: v[:3] for k, v in written.items()}
        funds = dict(s.execute(select(Instance.id, Instance.funding_source)).all())
        of = dict(s.execute(select(Alert.id, Alert.instance_id)).all())
        assert {k: v[3] for k, v in backfilled.items()} == {k: funds[of[k]] for k in backfilled}
        assert "special_bonds" in {v[3] for v in backfilled.values()}
