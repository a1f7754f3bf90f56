"""Issue 14: money and dates in one strict shape everywhere (engine/values.py).

Each hostile amount or date — an exponent that would take megabytes or gigabytes to write out, a JSON
float, separators, full-width digits, 40 digits, a third decimal, padding, a sign, NaN — is refused with
a 422 naming the field, on a task completion, a contract's start and the guarantee endpoints, and the
contract, its audit trail and its guarantees are exactly as they were. The sweeps run on SQLite with one value on
PostgreSQL (_sweep); what stores money and dates runs on both databases.
"""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from engine.runtime import values
from engine.storage.models import Payment
from tests.conftest import ROOT, fixture_bytes
from tests.e2e.test_post_award import (GUARANTEE_DOC, SIGNED, Api, at, one_milestone, procurement_goods,
                                       tendering_works)

HOSTILE_MONEY = {
    "exponent": "1E+20000000",
    "tiny exponent": "1E-99999999",
    "JSON float": 1200000.5,
    "JSON integer": 1200000,
    "underscore": "1_000.00",
    "full-width": "１２３.００",
    "40 digits": "1" * 40,
    "3 decimals": "1.001",
    "leading space": " 12.00",
    "trailing newline": "12.00\n",
    "plus sign": "+12.00",
    "negative": "-12.00",
    "NaN": "NaN",
    "Infinity": "Infinity",
    "boolean": True,
}
HOSTILE_DATES = {
    "basic format": "20261201",
    "beyond the window": "2100-01-01",
    "before the window": "1999-12-31",
    "not a calendar day": "2026-02-30",
    "one-digit month": "2026-1-5",
    "full-width": "２０２６-１２-０１",
    "with a time": "2026-12-01T00:00:00",
    "JSON integer": 20261201,
}
# A refusal says what the shape is, and never echoes a large value back.
MAX_PROBLEM_BYTES = 2000


def _sweep(hostile: dict):
    """Every hostile value on SQLite, the first one on PostgreSQL too: the refusal happens in Python before any SQL
    (engine/values.py), so the sweep's other values would only repeat it; the one PostgreSQL case shows that a
    refused call leaves that database as it was as well."""
    cases = [pytest.param(value, "sqlite", id=f"sqlite-{name}") for name, value in hostile.items()]
    name, value = next(iter(hostile.items()))
    cases.append(pytest.param(value, "postgresql", id=f"postgresql-{name}"))
    return pytest.mark.parametrize("value, db_url", cases, indirect=["db_url"])


def money_cases():
    return _sweep(HOSTILE_MONEY)


def date_cases():
    return _sweep(HOSTILE_DATES)


def snapshot(api: Api, instance_id: str) -> tuple:
    """Everything a refused call must leave as it was: the contract, its whole audit trail, its guarantees."""
    instance = api.instance(instance_id)
    history = api.call("GET", f"/api/v1/instances/{instance_id}/history?limit=500", "admin")
    found = api.call("GET", f"/api/v1/guarantees?business_key={instance['business_key']}&limit=500", "admin")["items"]
    details = [api.call("GET", f"/api/v1/guarantees/{g['id']}", "admin") for g in found]
    return instance, history, details


def refused(api: Api, method: str, path: str, who: str, when, body: dict, field: str) -> dict:
    r = _send(api, method, path, who, when, body)
    problem = r.get_json()
    assert r.status_code == 422, (r.status_code, problem)
    assert field in problem["errors"], problem
    assert len(r.get_data()) < MAX_PROBLEM_BYTES, len(r.get_data())
    return problem


def _send(api: Api, method: str, path: str, who: str, when, body: dict):
    from engine import clock

    with clock.frozen_at(when):
        return api.client.open(path, method=method, json=body, headers=api.people.auth(who))


# ------------------------------------------------------------------------------------ task completion
@money_cases()
def test_a_hostile_amount_in_task_data_is_refused_naming_the_field_and_changes_nothing(api, value):
    instance = api.start("MD-TASK", one_milestone(tendering_works()), at(8, 4))
    task = api.task(instance["id"], "sign_contract", "emp")
    before = snapshot(api, instance["id"])
    data = {"signed_at": "2026-08-12", "contract_no": "HT-1", "document_sha256": SIGNED, "amount": value}

    problem = refused(api, "POST", f"/api/v1/tasks/{task['id']}/complete", "emp", at(8, 12), {"data": data}, "data.amount")

    assert list(problem["errors"]) == ["data.amount"]
    assert "money" in problem["errors"]["data.amount"][0]
    assert snapshot(api, instance["id"]) == before


@date_cases()
def test_a_hostile_date_in_task_data_is_refused_naming_the_field_and_changes_nothing(api, value):
    instance = api.start("MD-TASK-D", one_milestone(tendering_works()), at(8, 4))
    task = api.task(instance["id"], "sign_contract", "emp")
    before = snapshot(api, instance["id"])
    data = {"signed_at": value, "contract_no": "HT-1", "document_sha256": SIGNED, "amount": "1200000.00"}

    problem = refused(api, "POST", f"/api/v1/tasks/{task['id']}/complete", "emp", at(8, 12), {"data": data},
                      "data.signed_at")

    assert list(problem["errors"]) == ["data.signed_at"]
    assert snapshot(api, instance["id"]) == before


def test_the_task_schema_describes_the_money_and_date_shapes_and_good_values_pass(api):
    instance = api.start("MD-SCHEMA", one_milestone(tendering_works()), at(8, 4))
    task = api.task(instance["id"], "sign_contract", "emp")
    schema = api.call("GET", f"/api/v1/tasks/{task['id']}", "emp")["schema"]

    assert schema["properties"]["amount"]["pattern"] == values.MONEY_PATTERN == r"^[0-9]{1,15}(?:\.[0-9]{1,2})?$"
    assert schema["properties"]["amount"]["type"] == "string"
    assert schema["properties"]["signed_at"]["pattern"] == values.DATE_PATTERN
    assert schema["properties"]["signed_at"]["format"] == "date"

    done = api.act(instance["id"], "sign_contract", "emp", at(8, 12), {
        "signed_at": "2026-08-12", "contract_no": "HT-1", "document_sha256": SIGNED, "amount": "1199999.5"})
    assert done["instance"]["data"]["signed_amount"] == "1199999.50"


NOFORM_PAYMENT = (fixture_bytes("approval_noform.bpmn").decode()
                  .replace('process id="approval_noform"', 'process id="noform_payment"')
                  .replace('id="approve"', 'id="record_payment"').replace(">approve<", ">record_payment<")
                  .replace('targetRef="approve"', 'targetRef="record_payment"')
                  .replace('sourceRef="approve"', 'sourceRef="record_payment"'))


@pytest.mark.parametrize("field, value", [("amount", "1E+20000000"), ("amount", "1E-99999999"), ("amount", 12.5),
                                          ("paid_at", "20261201"), ("paid_at", "2100-01-01")])
def test_the_ledger_refuses_a_hostile_payment_even_where_the_diagram_declares_no_form(client, people, app, field, value):
    r = client.post("/api/v1/definitions", data=NOFORM_PAYMENT.encode(),
                    headers={**people.auth("designer"), "Content-Type": "application/xml"})
    assert r.status_code == 201, r.get_json()
    api = Api(client, people, app)
    instance = api.call("POST", "/api/v1/instances", "operator", at(8, 4), 201, json={
        "definition": "noform_payment", "business_key": "MD-NOFORM", "data": {"employer": "EMP", "contractor": "CON"}})
    task = api.task(instance["id"], "record_payment", "emp")
    before = snapshot(api, instance["id"])
    data = {"amount": "400000.00", "paid_at": "2026-09-04", "approved": True, field: value}

    refused(api, "POST", f"/api/v1/tasks/{task['id']}/complete", "emp", at(9, 4), {"data": data}, f"data.{field}")

    assert snapshot(api, instance["id"]) == before
    with api.db.read() as s:
        assert s.query(Payment).count() == 0
    api.call("POST", f"/api/v1/tasks/{task['id']}/complete", "emp", at(9, 4),
             json={"data": {"amount": "400000.00", "paid_at": "2026-09-04", "approved": True}})
    with api.db.read() as s:
        assert [(p.amount, p.paid_at) for p in s.query(Payment)] == [(Decimal("400000.00"), date(2026, 9, 4))]


# ------------------------------------------------------------------------------------ contract start
def _no_contract(api: Api, key: str) -> None:
    assert api.call("GET", f"/api/v1/instances?business_key={key}", "admin")["items"] == []


@money_cases()
def test_a_hostile_amount_in_the_start_terms_is_refused_naming_the_field(api, value):
    for field, data in (("data.contract_amount", tendering_works(contract_amount=value)),
                        ("data.milestones.0.amount", tendering_works(milestones=[
                            {"name": "A", "amount": value, "planned_date": "2026-08-31"}])),
                        ("data.bid_bond.amount", tendering_works(bid_bond={"amount": value, "form": "cash"}))):
        refused(api, "POST", "/api/v1/instances", "operator", at(8, 4),
                {"definition": "post_award", "business_key": "MD-START", "data": data}, field)
        _no_contract(api, "MD-START")


@date_cases()
def test_a_hostile_date_in_the_start_terms_is_refused_naming_the_field(api, value):
    for field, data in (("data.award_notice_date", tendering_works(award_notice_date=value)),
                        ("data.milestones.1.planned_date", tendering_works(milestones=[
                            {"name": "A", "amount": "600000.00", "planned_date": "2026-08-31"},
                            {"name": "B", "amount": "600000.00", "planned_date": value}]))):
        refused(api, "POST", "/api/v1/instances", "operator", at(8, 4),
                {"definition": "post_award", "business_key": "MD-START-D", "data": data}, field)
        _no_contract(api, "MD-START-D")


@pytest.mark.parametrize("field, value", [("contract_amount", "1E+20000000"), ("contract_amount", 1200000.5),
                                          ("contract_amount", "１２３.００"), ("award_notice_date", "20261201"),
                                          ("award_notice_date", "2100-01-01")])
def test_a_start_form_of_any_diagram_refuses_hostile_money_and_dates(client, people, app, field, value):
    r = client.post("/api/v1/definitions", data=(ROOT / "bpmn" / "contract_signing.bpmn").read_bytes(),
                    headers={**people.auth("designer"), "Content-Type": "application/xml"})
    assert r.status_code == 201, r.get_json()
    api = Api(client, people, app)
    data = {"employer": "EMP", "contractor": "CON", "project_name": "教学楼", "award_notice_date": "2026-08-03",
            "contract_amount": "1200000.00", field: value}

    refused(api, "POST", "/api/v1/instances", "operator", at(8, 4),
            {"definition": "contract_signing", "business_key": "MD-SIGN", "data": data}, f"data.{field}")

    _no_contract(api, "MD-SIGN")


def test_the_longest_amount_a_body_may_carry_is_refused_with_a_short_answer(api):
    # 200,000 digits: as much as fits under the JSON body limit (api/bodies.py; a larger body is 413 before parsing)
    problem = refused(api, "POST", "/api/v1/instances", "operator", at(8, 4), {
        "definition": "post_award", "business_key": "MD-HUGE", "data": tendering_works(contract_amount="9" * 200_000)},
        "data.contract_amount")
    assert "at most 15 digits" in problem["errors"]["data.contract_amount"][0]
    assert len(json.dumps(problem)) < 2_000


# ------------------------------------------------------------------------------------ guarantee endpoints
def _with_advance_guarantee(api: Api) -> tuple[dict, dict]:
    instance = api.start("MD-G", one_milestone(procurement_goods(performance_guarantee_rate="0", category="works")),
                         at(8, 4))
    return instance, _record(api, expect=201)


def _record(api: Api, expect: int = 201, **over) -> dict:
    return api.call("POST", "/api/v1/guarantees", "con2", at(8, 10), expect=expect, json={
        "business_key": "MD-G", "kind": "advance_payment", "form": "cash", "guarantee_no": "YF-1",
        "amount": "160000.00", "valid_to": "2026-12-31", "document_sha256": GUARANTEE_DOC, **over})


@money_cases()
def test_a_hostile_guarantee_amount_is_refused_naming_the_field_and_changes_nothing(api, value):
    instance, advance = _with_advance_guarantee(api)
    before = snapshot(api, instance["id"])
    body = {"business_key": "MD-G", "kind": "payment", "form": "cash", "guarantee_no": "ZF-1", "amount": value}

    refused(api, "POST", "/api/v1/guarantees", "emp", at(8, 10), body, "amount")
    refused(api, "POST", f"/api/v1/guarantees/{advance['id']}/claims", "emp", at(8, 11),
            {"reason": "non_performance", "amount": value}, "amount")

    assert snapshot(api, instance["id"]) == before


@date_cases()
def test_a_hostile_guarantee_date_is_refused_naming_the_field_and_changes_nothing(api, value):
    instance, advance = _with_advance_guarantee(api)
    before = snapshot(api, instance["id"])
    body = {"business_key": "MD-G", "kind": "payment", "form": "cash", "guarantee_no": "ZF-1", "amount": "1.00"}

    refused(api, "POST", "/api/v1/guarantees", "emp", at(8, 10), {**body, "valid_to": value}, "valid_to")
    refused(api, "POST", "/api/v1/guarantees", "emp", at(8, 10), {**body, "valid_from": value}, "valid_from")
    refused(api, "POST", f"/api/v1/guarantees/{advance['id']}/claims", "emp", at(8, 11),
            {"reason": "non_performance", "claimed_at": value}, "claimed_at")

    assert snapshot(api, instance["id"]) == before


def test_a_guarantee_in_the_strict_shapes_is_recorded_as_given(api):
    _, advance = _with_advance_guarantee(api)
    assert (advance["amount"], advance["validity"]["to"]) == ("160000.00", "2026-12-31")
    payment = api.call("POST", "/api/v1/guarantees", "emp", at(8, 10), expect=201, json={
        "business_key": "MD-G", "kind": "payment", "form": "cash", "guarantee_no": "ZF-1", "amount": "5",
        "valid_from": "2026-08-10"})
    assert (payment["amount"], payment["validity"]) == ("5.00", {"from": "2026-08-10", "to": None})


def test_the_openapi_spec_describes_the_guarantee_money_and_date_shapes(client):
    spec = client.get("/openapi.json").get_json()
    guarantee_in = spec["components"]["schemas"]["GuaranteeIn"]["properties"]
    assert guarantee_in["amount"]["pattern"] == values.MONEY_PATTERN and guarantee_in["amount"]["type"] == "string"
    assert guarantee_in["valid_to"]["pattern"] == values.DATE_PATTERN and guarantee_in["valid_to"]["format"] == "date"
