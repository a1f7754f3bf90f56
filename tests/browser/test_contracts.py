"""The contract list `/contracts` and a contract's page in real Chromium (acceptance 2 of issue 19): a supervisor
lists its department's contracts (filters by status, department, employer and severity), opens one, sees its
ledger, timeline and alerts — open and resolved, named as the diagram names them — and confirms a red alert from
the page; the confirmation is the API's (a credit record, the decision in the timeline).

On the real clock, every date relative to today:
  LH-LIST-LATE  (ZJ) awarded 80 days ago, signed 60 days ago and never filed: the signing alert was raised red and
                resolved by the signature; the filing alert is open.
  LH-LIST-RED   (ZJ) awarded 80 days ago, not signed: SIGNING_OVERDUE red, open.
  LH-LIST-CZ    (CZ) another department's: never listed for ZJ.
"""
from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.browser.test_dashboard import act, call
from tests.conftest import ROOT

SIGNED = "c" * 64
CN = timezone(timedelta(hours=8))


def start(live, key, award, department="ZJ", employer="EMP"):
    amount = "800000.00"
    return call(live, "POST", "/instances", "operator", body={
        "definition": "post_award", "business_key": key, "data": {
            "project_code": f"ZZ-{key}", "project_name": "第二中学食堂改造", "track": "tendering", "category": "works",
            "award_notice_date": award.isoformat(), "tendering_reported_at": award.isoformat(), "contract_amount": amount, "employer": employer, "contractor": "CON",
            "department": department, "acceptance_days": 30, "payment_term_days": 30,
            "performance_guarantee_rate": "0", "retention_rate": "0", "bid_bond": {"form": "exempt"},
            "milestones": [{"name": "基础", "amount": amount,
                            "planned_date": (date.today() + timedelta(days=200)).isoformat()}]}})


def alerts_of(live, key, who="admin"):
    return call(live, "GET", f"/alerts?business_key={key}&limit=500", who)["items"]


@pytest.fixture(scope="module")
def seeded(live):
    call(live, "POST", "/definitions", "designer", raw=(ROOT / "bpmn" / "post_award.bpmn").read_bytes(),
         headers={"Content-Type": "application/xml"})
    today = date.today()
    late = start(live, "LH-LIST-LATE", today - timedelta(days=80))
    red = start(live, "LH-LIST-RED", today - timedelta(days=80))
    start(live, "LH-LIST-CZ", today - timedelta(days=80), department="CZ")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(a["code"] == "SIGNING_OVERDUE" for a in alerts_of(live, "LH-LIST-LATE")):
        time.sleep(0.2)
    act(live, late["id"], "sign_contract", "emp", {"signed_at": (today - timedelta(days=60)).isoformat(),
                                                    "contract_no": "HT-L-1", "document_sha256": SIGNED,
                                                    "amount": "800000.00"})
    # Signed by both: the contractor confirms the same text (issue 17), which ends the signing warning.
    act(live, late["id"], "confirm_signature", "con", {"confirmed": True, "document_sha256": SIGNED,
                                                        "confirmed_at": (today - timedelta(days=60)).isoformat()})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = alerts_of(live, "LH-LIST-LATE")
        if (any(a["status"] == "resolved" for a in got) and any(a["status"] != "resolved" for a in got)
                and any(a["code"] == "SIGNING_OVERDUE" and a["status"] != "resolved" for a in alerts_of(live, "LH-LIST-RED"))):
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"alerts not as planned: {alerts_of(live, 'LH-LIST-LATE')} {alerts_of(live, 'LH-LIST-RED')}")
    return {"late": late, "red": red}


def listed(page):
    return [r.get_attribute("data-business-key") for r in page.locator("#contracts tbody tr[data-business-key]").all()]


def test_a_supervisor_lists_its_contracts_opens_one_and_confirms_a_red_alert(page, live, seeded, screenshots):
    page.goto(f"{live.base}/contracts")
    sign_in(page, live.people.tokens["zj"])
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    expected = [c["business_key"] for c in call(live, "GET", "/contracts?limit=500", "zj")["items"]]
    assert set(expected) == {"LH-LIST-LATE", "LH-LIST-RED"}  # not CZ's
    assert listed(page) == expected
    expect(page.locator('#contracts tr[data-business-key="LH-LIST-RED"]')).to_have_class("severity-red")
    expect(page.locator('#contracts tr[data-business-key="LH-LIST-RED"]')).to_contain_text("¥800,000.00")

    # Filters: severity, department, employer, status — each the API's answer, kept in the address.
    page.select_option("#filter-severity", "red")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    reds = [c["business_key"] for c in call(live, "GET", "/contracts?severity=red", "zj")["items"]]
    assert "LH-LIST-RED" in reds
    assert listed(page) == reds
    assert "severity=red" in page.url
    page.select_option("#filter-severity", "")
    page.fill("#filter-department", "CZ")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#contracts tbody")).to_contain_text("No contract")
    page.fill("#filter-department", "ZJ")
    page.fill("#filter-employer", "OTHER")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#contracts tbody")).to_contain_text("No contract")
    page.fill("#filter-employer", "EMP")
    page.select_option("#filter-status", "running")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#contracts tbody tr[data-business-key]")).to_have_count(2)
    page.screenshot(path=str(screenshots / "contracts.png"), full_page=True)

    # Open the contract with both kinds of alert.
    page.locator('#contracts a:text-is("LH-LIST-LATE")').click()
    page.wait_for_url(f"{live.base}/contracts/LH-LIST-LATE")
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    expect(page.locator("#summary")).to_contain_text("第二中学食堂改造")
    expect(page.locator("#amount-contract")).to_have_text("¥800,000.00")
    expect(page.locator('#milestones tr[data-no="1"]')).to_contain_text("基础")
    expect(page.locator("#documents")).to_contain_text(SIGNED)
    history = call(live, "GET", f"/instances/{seeded['late']['id']}/history?limit=500", "zj")["items"]
    expect(page.locator("#timeline li")).to_have_count(len(history))
    expect(page.locator('#timeline li[data-action="task_completed"]').first).to_contain_text("sign_contract")
    expect(page.locator('#timeline li[data-action="task_completed"]').nth(1)).to_contain_text("confirm_signature")

    api_alerts = alerts_of(live, "LH-LIST-LATE", "zj")
    open_ids = {a["id"] for a in api_alerts if a["status"] != "resolved"}
    resolved_ids = {a["id"] for a in api_alerts if a["status"] == "resolved"}
    assert open_ids and resolved_ids
    assert {r.get_attribute("data-alert-id") for r in page.locator("#open-alerts tr[data-alert-id]").all()} == open_ids
    assert {r.get_attribute("data-alert-id") for r in page.locator("#resolved-alerts tr[data-alert-id]").all()} == resolved_ids
    # Named as the diagram names the code, the code kept beside it.
    expect(page.locator('#resolved-alerts tr[data-code="SIGNING_OVERDUE"]')).to_contain_text("签约逾期")
    # A deadline is shown as its last day: an instant at 00:00 China time is "the day before, 24:00".
    [signing] = [a for a in api_alerts if a["code"] == "SIGNING_OVERDUE"]
    due = datetime.fromisoformat(signing["due_at"]).astimezone(CN)
    assert (due.hour, due.minute) == (0, 0), signing["due_at"]  # statutory deadlines end at midnight
    expect(page.locator(f'#resolved-alerts tr[data-alert-id="{signing["id"]}"] time.lvyue-deadline')).to_have_text(
        f"{(due.date() - timedelta(days=1)).isoformat()} 24:00 (UTC+8)")
    page.screenshot(path=str(screenshots / "contract.png"), full_page=True)

    # The red open alert of the other contract, confirmed from its page with a note.
    page.goto(f"{live.base}/contracts/LH-LIST-RED")
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    [red] = [a for a in alerts_of(live, "LH-LIST-RED", "zj") if a["code"] == "SIGNING_OVERDUE" and a["status"] != "resolved"]
    assert red["severity"] == "red"
    row = page.locator(f'#open-alerts tr[data-alert-id="{red["id"]}"]')
    row.get_by_placeholder("Note").fill("核实：未在法定期限内签订合同")
    row.get_by_role("button", name="Confirm").click()
    expect(row.locator(".lvyue-decision")).to_contain_text("confirmed")
    records = call(live, "GET", "/credit-records?limit=500", "zj")["items"]
    assert any(r.get("alert_id") == red["id"] for r in records), records
    # Read again: the decision is in the timeline, and the buttons are gone.
    page.reload()
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    expect(page.locator('#timeline li[data-action="alert_confirmed"]')).to_have_count(1)
    expect(row.get_by_role("button", name="Confirm")).to_have_count(0)
    expect(row).to_contain_text("confirmed")


def test_a_party_sees_its_contract_but_no_decision_buttons(page, live, seeded):
    page.goto(f"{live.base}/contracts/LH-LIST-LATE")
    sign_in(page, live.people.tokens["emp"])
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    expect(page.locator("#summary")).to_contain_text("第二中学食堂改造")
    expect(page.get_by_role("button", name="Confirm")).to_have_count(0)
    page.goto(f"{live.base}/contracts")
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    assert set(listed(page)) == {"LH-LIST-LATE", "LH-LIST-RED", "LH-LIST-CZ"}  # EMP is employer of all three
    page.goto(f"{live.base}/contracts/LH-LIST-CZ")  # visible to its employer
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    sign_in_other = live.people.tokens["other"]
    page.evaluate("t => sessionStorage.setItem('lvyue.token', t)", sign_in_other)
    page.reload()
    expect(page.locator("#token-error, #token-input")).not_to_have_count(0)
    expect(page.locator("#app")).to_be_hidden()  # OTHER is no party to it: 404, asked for another token
