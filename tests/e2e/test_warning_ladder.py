"""Issue 19, acceptance 6: post_award drawn with warning ladders (one element per obligation, expanded by the engine at
deploy: engine/runtime/ladders.py) raises exactly the alerts of the hand-expanded diagram it replaces.

Each scenario of the end-to-end suites (tests/e2e/test_post_award.py, the guarantee lifecycle, the works payments)
runs twice, each time on a fresh database: once with post_award as generated before ladders (kept as
tests/fixtures/post_award_v_before_ladder.bpmn), once with bpmn/post_award.bpmn. The alerts both leave (code,
kind, severity, the awaited element, due date, amount, interest rate, legal basis, responsible party, escalation,
status, raise and resolution instants and text) and the alert and timer events of their audit trails must be equal.
"""
from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select

from engine.access import directory
from engine.storage.models import Alert, AuditEvent, Instance
from tests.conftest import FIXTURES, seed_people
from tests.e2e import test_guarantee_lifecycle as lifecycle
from tests.e2e import test_post_award as post_award
from tests.integration import test_works_payments as works_payments

OLD = FIXTURES / "post_award_v_before_ladder.bpmn"
NEW = post_award.DIAGRAM


class DiagramApi(post_award.Api):
    """The post_award driver deploying a given diagram instead of bpmn/post_award.bpmn."""

    def __init__(self, client, people, app, diagram: bytes):
        super().__init__(client, people, app)
        self.diagram = diagram

    def deploy(self) -> dict:
        r = self.client.post("/api/v1/definitions", data=self.diagram,
                             headers={**self.people.auth("designer"), **post_award.XML})
        assert r.status_code in (200, 201), r.get_json()
        return r.get_json()


def _case(name):
    def run(api, app):
        scenario, track = post_award.CASES[name]
        _, _, resolve = scenario(api, track)
        resolve()
    return run


def _works(test):
    def run(api, app):
        with app.extensions["lvyue"].db.transaction() as s:
            directory.add_organisation(s, "PUB", "市第一中学", public_body=True)
            s.flush()
            _, api.people.tokens["pub"] = directory.add_user(s, "pub", "party", "PUB")
        test(api)
    return run


SCENARIOS = {
    "on-time-tendering": lambda api, app: post_award.test_a_contract_performed_on_time_raises_no_alert_and_completes_fully_paid(
        api, "tendering_works"),
    "on-time-procurement": lambda api, app: post_award.test_a_contract_performed_on_time_raises_no_alert_and_completes_fully_paid(
        api, "procurement_goods"),
    **{name: _case(name) for name in post_award.CASES},
    "partial-payment": lambda api, app: post_award.test_a_partial_payment_lowers_the_arrears_and_keeps_one_alert_open(api),
    "ledger-bond-and-payment": lambda api, app: post_award.test_the_ledger_shows_parties_milestones_money_guarantees_and_open_arrears(api),
    "guarantee-expiring": lambda api, app: lifecycle.test_a_guarantee_expiring_before_its_obligation_warns_and_renewing_it_resolves_the_warning(api),
    "guarantee-expired": lambda api, app: lifecycle.test_a_guarantee_left_to_expire_reaches_the_department_and_a_late_renewal_resolves_it(api),
    "claim-unpaid": lambda api, app: lifecycle.test_a_claim_after_a_confirmed_red_non_performance_alert_reaches_the_guarantor_and_is_paid(api),
    "works-payments": _works(works_payments.test_a_works_contract_raises_exactly_the_warnings_its_rules_imply_and_paying_clears_them),
    "works-settlement-deemed": _works(works_payments.test_a_settlement_left_unreviewed_is_deemed_accepted_at_its_tier),
}
QUIET = {"on-time-tendering", "on-time-procurement"}  # no alert at all, on either diagram


def _run(diagram: bytes, scenario, path) -> dict:
    """Run one scenario on a fresh SQLite database with `diagram` deployed; what it left of alerts."""
    from api import create_app

    app = create_app({"DATABASE_URL": f"sqlite:///{path}", "TESTING": True})
    try:
        api = DiagramApi(app.test_client(), seed_people(app.extensions["lvyue"].db), app, diagram)
        api.deploy()
        scenario(api, app)
        with app.extensions["lvyue"].db.read() as s:
            alerts = sorted(
                (a.business_key, a.code, a.kind, a.severity, a.element_id, a.due_at.isoformat(),
                 str(a.amount_overdue) if a.amount_overdue is not None else None,
                 str(a.interest_rate) if a.interest_rate is not None else None, a.legal_basis, a.responsible_role,
                 a.responsible_org, a.department_code, a.escalated_to, a.status, a.raised_at.isoformat(),
                 a.resolved_at.isoformat() if a.resolved_at else None, a.resolution)
                for a in s.scalars(select(Alert)))
            keys = dict(s.execute(select(Instance.id, Instance.business_key)).all())
            events = [(keys.get(e.instance_id), e.action, e.element_id, e.data.get("code"), e.data.get("due_at"))
                      for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))
                      if e.action.startswith("alert_") or e.action == "timer_fired"]
        return {"alerts": alerts, "events": events}
    finally:
        app.extensions["lvyue"].db.dispose()


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_ladder_diagram_raises_exactly_the_alerts_of_the_expanded_one(name, sqlite_template, tmp_path):
    runs = {}
    for label, diagram in (("before", OLD), ("ladder", NEW)):
        path = tmp_path / f"{label}.sqlite"
        shutil.copy(sqlite_template, path)
        runs[label] = _run(diagram.read_bytes(), SCENARIOS[name], path)
    before, ladder = runs["before"], runs["ladder"]
    assert ladder["alerts"] == before["alerts"]
    assert ladder["events"] == before["events"]
    if name in QUIET:
        assert before["alerts"] == []
    else:
        assert before["alerts"], "the scenario raises warnings: the comparison must be about something"
        assert any(e[1].startswith("alert_") for e in before["events"])
