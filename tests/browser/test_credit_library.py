"""The public credit library page /credit in real Chromium (no token, no network): a published record is
listed with its decision and legal basis, found by name and by unified social credit code; a record
awaiting its decision and a removed one are not shown; nothing about the contract is on the page.

Driven over HTTP on the real clock: two post_award contracts enter supervision 80 days after their award
notice (the signing alert is red at once); ZJ confirms both; one gets its decision today, the other gets a
decision and is then revoked; a third confirmed record waits for its decision.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect

from engine.storage.db import Database
from engine.storage.models import Organisation
from tests.browser.test_dashboard import CN, call, start
from tests.conftest import ROOT

USCC = "91410100MA4AB1234L"


@pytest.fixture(scope="module")
def library(live):
    call(live, "POST", "/definitions", "designer", raw=(ROOT / "bpmn" / "post_award.bpmn").read_bytes(),
         headers={"Content-Type": "application/xml"})
    database = Database(live.db_url)
    with database.transaction() as s:
        s.get(Organisation, "EMP").uscc = USCC
    database.dispose()
    today = datetime.now(CN).date()
    keys = ("LH-CREDIT-PUB", "LH-CREDIT-REV", "LH-CREDIT-WAIT")
    for key in keys:
        start(live, key, today - timedelta(days=80), today + timedelta(days=200))
    deadline, alerts = time.monotonic() + 20, {}
    while time.monotonic() < deadline and len(alerts) < 3:
        alerts = {a["business_key"]: a for a in call(live, "GET", "/alerts?status=open&limit=500", "zj")["items"]
                  if a["business_key"] in keys and a["severity"] == "red"}
        time.sleep(0.2)
    assert len(alerts) == 3, alerts
    records = {key: call(live, "POST", f"/alerts/{alerts[key]['id']}/confirm", "zj",
                         body={"decision": "confirmed"})["credit_record"] for key in keys}
    for key, number in (("LH-CREDIT-PUB", "郑建罚〔2026〕88号"), ("LH-CREDIT-REV", "郑建罚〔2026〕89号")):
        call(live, "POST", f"/credit-records/{records[key]['id']}/decision", "zj", body={
            "document_no": number, "date": today.isoformat(), "legal_basis": "《中华人民共和国招标投标法》第五十九条",
            "severity": "general"})
    call(live, "POST", f"/credit-records/{records['LH-CREDIT-REV']['id']}/revocation", "zj", body={"note": "撤销"})
    return records


def test_the_credit_page_lists_published_records_without_a_token_and_searches_them(page, live, library, screenshots):
    page.goto(f"{live.base}/credit")
    expect(page.get_by_role("heading", name="Public credit library")).to_be_visible()
    rows = page.locator("#records tbody tr")
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_have_attribute("data-record", library["LH-CREDIT-PUB"]["id"])
    expect(row.locator(".org")).to_have_text("org EMP")
    expect(row.locator(".uscc")).to_have_text(USCC)
    expect(row.locator(".document")).to_have_text("郑建罚〔2026〕88号")
    expect(row).to_contain_text("《中华人民共和国招标投标法》第五十九条")
    expect(row).to_contain_text("S02+S03")
    html = page.content()
    for hidden in ("LH-CREDIT", "89号", library["LH-CREDIT-PUB"]["instance_id"], "SIGNING_OVERDUE"):
        assert hidden not in html, hidden
    assert page.get_by_label("API token").count() == 0
    page.screenshot(path=str(screenshots / "credit-library.png"), full_page=True)

    page.get_by_label("Organisation or unified social credit code").fill(USCC.lower())
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(f"{live.base}/credit?q={USCC.lower()}")
    expect(page.locator("#records tbody tr")).to_have_count(1)

    page.get_by_label("Organisation or unified social credit code").fill("没有这家公司")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#empty")).to_contain_text("No published record")
    expect(page.locator("#records")).to_have_count(0)
