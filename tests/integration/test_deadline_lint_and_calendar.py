"""Issue 3: deadlines are checked at deploy, and importing a year's official schedule moves exactly
the pending timers (and open alerts' due_at) whose deadlines it changes."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from engine.supervision import calendar as official
from engine import clock
from engine.runtime import definitions
from engine.supervision import holidays, timing
from engine.usecases import instances
from engine.access.directory import Principal
from engine.errors import Invalid
from tests.conftest import fixture_bytes, seed_people

ADMIN = Principal(0, "test", "admin")
CN = timezone(timedelta(hours=8))


@pytest.fixture(autouse=True)
def restore_calendar():
    yield
    timing.use_calendar(official.from_chinesecalendar())


def _with_timer(expression: str, tag: str = "timeDate") -> bytes:
    xml = fixture_bytes("payment_due.bpmn").decode()
    old = '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">add_days(accepted_at, payment_term_days)</bpmn:timeDate>'
    assert old in xml
    return xml.replace(old, f'<bpmn:{tag} xsi:type="bpmn:tFormalExpression">{expression}</bpmn:{tag}>').encode()


@pytest.mark.parametrize("expression, tag, reason", [
    ("2026-12-01T09:00:00", "timeDate", "offset"),
    ("'2026-12-01T09:00:00'", "timeDate", "offset"),
    ("P3X", "timeDuration", "ISO 8601"),
    ("'PT'", "timeDuration", "ISO 8601"),
    ("R3/P1Q", "timeCycle", "ISO 8601"),
    ("deadline('Z99', accepted_at)", "timeDate", "rule registry"),
    ("__import__('os')", "timeDate", "refused"),
])
def test_bad_timer_values_are_refused_at_deploy_naming_the_element(db, expression, tag, reason):
    with pytest.raises(Invalid) as err:
        definitions.deploy(db, ADMIN, _with_timer(expression, tag))
    messages = " ".join(err.value.errors["bpmn"])
    assert "t_due" in messages and reason in messages


@pytest.mark.parametrize("expression", ["P30D", "PT12H", "'P30D'", "2026-12-01T09:00:00+08:00",
                                        "add_workdays(accepted_at, 7)", "deadline('P01', accepted_at)"])
def test_good_timer_values_deploy(db, expression):
    tag = "timeDuration" if "P" in expression[:3] and "(" not in expression else "timeDate"
    out, created = definitions.deploy(db, ADMIN, _with_timer(expression, tag))
    assert created


SCHEDULE_2027 = {  # a made-up schedule: the real one is published by the State Council each winter
    "year": 2027,
    "holidays": ["2027-01-01", "2027-01-04", "2027-01-05"],
    "workdays": ["2027-01-09"],
}


def test_importing_a_year_moves_exactly_the_deadlines_it_changes(db):
    seed_people(db)
    holidays.ensure_seeded(db)
    holidays.install(db)
    definitions.deploy(db, ADMIN, fixture_bytes("payment_due.bpmn"))
    start = lambda key, accepted, days: instances.start(db, ADMIN, "payment_due", None, key, {
        "employer": "EMP", "department": "ZJ", "accepted_at": accepted, "payment_term_days": days, "amount": "5.00"})
    with clock.frozen_at(datetime(2026, 12, 2, 9, tzinfo=CN)):
        moved = start("M-1", "2026-12-02", 30)     # last day 2027-01-01: provisional, a 2027 holiday
        kept = start("K-1", "2026-12-02", 4)       # 2026-12-06 is a Sunday → 2026-12-07, a known year
        later = start("L-1", "2026-12-02", 40)     # 2027-01-11, a Monday untouched by the schedule
    due = lambda i: instances.get(db, ADMIN, i["id"])["timers"][0]["due_at"]
    before = {i["business_key"]: due(i) for i in (moved, kept, later)}
    assert before["M-1"] == datetime(2027, 1, 1, 16, tzinfo=timezone.utc)  # weekends only: Friday 2027-01-01

    out = holidays.import_year(db, json.dumps(SCHEDULE_2027), "test")
    assert out["timers_moved"] == 1
    after = {i["business_key"]: due(i) for i in (moved, kept, later)}
    assert after["M-1"] == datetime(2027, 1, 6, 16, tzinfo=timezone.utc)  # next working day after the holidays
    assert after["K-1"] == before["K-1"] and after["L-1"] == before["L-1"]
    history = instances.history(db, ADMIN, moved["id"], None, None)["items"]
    assert [e["action"] for e in history].count("timer_moved") == 1
    assert [y["year"] for y in holidays.years(db)][-1] == 2027


def test_importing_a_year_moves_an_open_alerts_due_at(db):
    seed_people(db)
    holidays.ensure_seeded(db)
    holidays.install(db)
    definitions.deploy(db, ADMIN, fixture_bytes("payment_due.bpmn"))
    with clock.frozen_at(datetime(2026, 12, 2, 9, tzinfo=CN)):
        inst = instances.start(db, ADMIN, "payment_due", None, "A-1", {
            "employer": "EMP", "department": "ZJ", "accepted_at": "2026-12-02", "payment_term_days": 30, "amount": "5.00"})
    from engine.runtime import timers
    timers.tick(db, datetime(2027, 1, 2, 9, tzinfo=CN))  # provisional deadline 2027-01-01 24:00 passed
    [alert] = instances.get(db, ADMIN, inst["id"])["alerts"]
    assert alert["due_at"] == datetime(2027, 1, 1, 16, tzinfo=timezone.utc)
    out = holidays.import_year(db, json.dumps(SCHEDULE_2027), "test")
    assert out["alerts_moved"] == 1
    [alert] = instances.get(db, ADMIN, inst["id"])["alerts"]
    assert alert["due_at"] == datetime(2027, 1, 6, 16, tzinfo=timezone.utc)


def test_a_malformed_schedule_changes_nothing(db):
    holidays.ensure_seeded(db)
    bad = dict(SCHEDULE_2027, holidays=["2028-01-01"])
    with pytest.raises(ValueError):
        holidays.import_year(db, json.dumps(bad), "test")
    assert 2027 not in [y["year"] for y in holidays.years(db)]
