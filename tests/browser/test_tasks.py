"""The task inbox `/tasks` in real Chromium (acceptance 1 of issue 19): a party signs in and sees exactly its READY
tasks, opens one, its form is generated from the task's JSON Schema (Chinese label and English name, money and date
in the strict formats, enum choices, a nested object, a repeated group); a wrong amount is answered by the API's
422 and shown on its field, nothing completed; the corrected form completes the task and the next one opens
without a reload."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from tests import requests_shim as http
from tests.browser.conftest import sign_in
from tests.browser.test_dashboard import call, start
from tests.conftest import ROOT, fixture_bytes

HASH = "b" * 64


@pytest.fixture(scope="module")
def contracts(live):
    for raw in ((ROOT / "bpmn" / "post_award.bpmn").read_bytes(), fixture_bytes("inbox_forms.bpmn")):
        call(live, "POST", "/definitions", "designer", raw=raw, headers={"Content-Type": "application/xml"})
    today = date.today()
    award = start(live, "LH-INBOX-1", today - timedelta(days=5), today + timedelta(days=120))
    forms = call(live, "POST", "/instances", "operator", body={
        "definition": "inbox_forms", "business_key": "LH-INBOX-FORMS", "data": {"contractor": "CON"}})
    return {"award": award, "forms": forms, "today": today}


def ready(live, who):
    return {t["id"]: t for t in call(live, "GET", "/tasks?limit=500", who)["items"]}


def mark_no_reload(page):
    page.evaluate("window.lvyueMarker = 'same document'")


def assert_no_reload(page):
    assert page.evaluate("window.lvyueMarker") == "same document", "the page was reloaded"


def test_a_party_completes_a_task_through_the_generated_form(page, live, contracts, screenshots):
    mine = ready(live, "emp")
    theirs = ready(live, "con")
    assert mine and not set(mine) & set(theirs)
    page.goto(f"{live.base}/tasks")
    sign_in(page, live.people.tokens["emp"])
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    # Exactly the caller's READY tasks: the API's list for that token, none of the contractor's.
    expect(page.locator("#inbox li")).to_have_count(len(mine))
    shown = {li.get_attribute("data-task-id") for li in page.locator("#inbox li").all()}
    assert shown == set(mine)

    [sign] = [t for t in mine.values() if t["element_id"] == "sign_contract"]
    mark_no_reload(page)
    page.locator(f'#inbox li[data-task-id="{sign["id"]}"] button').click()
    expect(page.locator("#task")).to_have_attribute("data-task-id", sign["id"])
    form = page.locator("#task-fields")
    # In the diagram's order (the API's JSON sorts the schema's keys; the task's form list keeps the order).
    order = [f.get_attribute("data-field") for f in form.locator(":scope > [data-field]").all()]
    assert order == ["data.signed_at", "data.contract_no", "data.document_sha256", "data.amount", "data.period_days",
                     "data.quality", "data.scope_sha256"]
    # Labels in Chinese (the diagram's) and English (the field's name); inputs by kind.
    expect(form.locator('[data-field="data.amount"] label')).to_contain_text("签约金额")
    expect(form.locator('[data-field="data.amount"] label')).to_contain_text("Amount")
    expect(form.locator('[data-field="data.signed_at"] label')).to_contain_text("Signed at")
    assert form.locator('[data-path="data.signed_at"]').get_attribute("type") == "date"
    assert form.locator('[data-path="data.amount"]').get_attribute("data-kind") == "money"
    assert form.locator('[data-path="data.amount"]').get_attribute("inputmode") == "decimal"

    signed_at = (contracts["today"] - timedelta(days=2)).isoformat()
    form.locator('[data-path="data.signed_at"]').fill(signed_at)
    form.locator('[data-path="data.contract_no"]').fill("HT-INBOX-1")
    form.locator('[data-path="data.document_sha256"]').fill(HASH)
    form.locator('[data-path="data.amount"]').fill("1,000,000.00")  # a careless clerk's thousands separators
    page.locator("#task-submit").click()
    error = form.locator('[data-error-for="data.amount"]')
    expect(error).to_contain_text("money")  # the API's own message (engine/runtime/values.py MONEY_MESSAGE)
    expect(form.locator('[data-field="data.amount"]')).to_have_class("lvyue-field lvyue-invalid")
    assert sign["id"] in ready(live, "emp"), "a rejected form completed the task"
    expect(form.locator('[data-error-for="data.contract_no"]')).to_have_text("")
    page.screenshot(path=str(screenshots / "tasks-422.png"), full_page=True)

    form.locator('[data-path="data.amount"]').fill("1000000.00")
    page.locator("#task-submit").click()
    expect(page.locator("#status")).to_contain_text("Completed")
    assert sign["id"] not in ready(live, "emp")
    # Signed by both only once the contractor confirms the same text (confirm_signature, issue 17); then the
    # employer's filing follows: the inbox refreshes in the same document and opens it.
    [confirm] = [t for t in ready(live, "con").values() if t["element_id"] == "confirm_signature"]
    call(live, "POST", f"/tasks/{confirm['id']}/complete", "con",
         body={"data": {"confirmed": True, "confirmed_at": signed_at, "document_sha256": HASH}})
    now = ready(live, "emp")
    [filing] = [t for t in now.values() if t["element_id"] == "file_contract"]
    page.locator("#refresh").click()
    expect(page.locator("#inbox li")).to_have_count(len(now))
    page.locator(f'#inbox li[data-task-id="{filing["id"]}"] button').click()
    expect(page.locator("#task")).to_have_attribute("data-task-id", filing["id"])
    expect(page.locator("#task-title")).to_contain_text(filing["name"])
    expect(page.locator(f'#inbox li[data-task-id="{filing["id"]}"]')).to_have_class("selected")
    assert_no_reload(page)


def test_enums_objects_and_repeated_groups_are_generated_and_errors_land_on_the_row(page, live, contracts):
    [report] = [t for t in ready(live, "con").values() if t["element_id"] == "report_progress"]
    page.goto(f"{live.base}/tasks?task={report['id']}")
    sign_in(page, live.people.tokens["con"])
    expect(page.locator("#task")).to_have_attribute("data-task-id", report["id"])
    mark_no_reload(page)
    form = page.locator("#task-fields")
    order = [f.get_attribute("data-field") for f in form.locator(":scope > [data-field]").all()]
    assert order == [f"data.{n}" for n in ("stage", "reported_on", "amount", "on_schedule", "site", "items", "remarks")]
    stage = form.locator('[data-path="data.stage"]')
    assert stage.evaluate("s => [...s.options].map(o => o.value)") == ["", "design", "construction", "handover"]
    expect(form.locator('fieldset[data-field="data.site"] legend')).to_contain_text("现场")
    # A required repeated group starts with one row; a second is added.
    expect(form.locator('[data-field="data.items"] .lvyue-row-item')).to_have_count(1)
    form.get_by_role("button", name="Add items").click()
    expect(form.locator('[data-field="data.items"] .lvyue-row-item')).to_have_count(2)

    stage.select_option("construction")
    form.locator('[data-path="data.reported_on"]').fill(contracts["today"].isoformat())
    form.locator('[data-path="data.amount"]').fill("2500.50")
    form.locator('[data-path="data.on_schedule"]').check()
    form.locator('[data-path="data.site.manager"]').fill("张工")
    form.locator('[data-path="data.items.0.name"]').fill("土方")
    form.locator('[data-path="data.items.0.amount"]').fill("1000.00")
    form.locator('[data-path="data.items.1.name"]').fill("钢筋")
    form.locator('[data-path="data.items.1.amount"]').fill("1500.505")  # three decimals
    page.locator("#task-submit").click()
    expect(form.locator('[data-error-for="data.items.1.amount"]')).to_contain_text("money")
    expect(form.locator('[data-error-for="data.items.0.amount"]')).to_have_text("")
    assert report["id"] in ready(live, "con")

    form.locator('[data-path="data.items.1.amount"]').fill("1500.50")
    page.locator("#task-submit").click()
    expect(page.locator("#task-title")).to_contain_text("Upload the documents")
    assert_no_reload(page)
    [event] = [e for e in call(live, "GET", f"/instances/{contracts['forms']['id']}/history?limit=500", "operator")["items"]
               if e["element_id"] == "report_progress" and e["action"] == "task_completed"]
    done = event["data"]
    assert done["data"]["items"] == [{"name": "土方", "amount": "1000.00"}, {"name": "钢筋", "amount": "1500.50"}]
    assert done["data"]["stage"] == "construction" and done["data"]["on_schedule"] is True
    assert done["data"]["site"] == {"manager": "张工"} and done["data"]["amount"] == "2500.50"


def test_a_wrong_token_sees_no_task(page, live, contracts):
    r = http.request("GET", live.base + "/tasks")
    assert r.status == 200
    page.goto(f"{live.base}/tasks")
    sign_in(page, "lvy_wrong")
    expect(page.locator("#token-error")).to_contain_text("401")
    expect(page.locator("#inbox li")).to_have_count(0)
