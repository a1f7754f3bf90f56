"""The live view of a running contract in real Chromium: exactly its active user tasks are marked
active, what is done is marked completed, and its timers and alerts are listed with their instants."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from playwright.sync_api import expect

from tests import requests_shim as http
from tests.browser.conftest import sign_in
from tests.conftest import ROOT

CN = timezone(timedelta(hours=8))


def call(live, method, path, who, body=None, raw=None, headers=None):
    r = http.request(method, live.base + "/api/v1" + path, body=body, raw=raw,
                     headers={**live.people.auth(who), **(headers or {})})
    assert r.status < 300, (r.status, r.body)
    return r.json()


def running_contract(live) -> dict:
    """post_award signed 40 days after the award notice is due: the guarantee is in, the employer has
    not signed, the orange signing warning is up."""
    call(live, "POST", "/definitions", "designer", raw=(ROOT / "bpmn" / "post_award.bpmn").read_bytes(),
         headers={"Content-Type": "application/xml"})
    award = (datetime.now(CN) - timedelta(days=40)).date()
    inst = call(live, "POST", "/instances", "operator", body={
        "definition": "post_award", "business_key": "LH-VIEW-1", "data": {
            "project_code": "ZZ-2026-0101", "project_name": "第一中学教学楼改造", "track": "tendering", "category": "works",
            "award_notice_date": award.isoformat(), "tendering_reported_at": award.isoformat(),
            "contract_amount": "1000000.00", "employer": "EMP",
            "contractor": "CON", "department": "ZJ", "acceptance_days": 30, "performance_guarantee_rate": "5",
            "retention_rate": "0", "bid_bond": {"amount": "10000.00", "form": "e_guarantee"},
            "milestones": [{"name": "主体结构", "amount": "1000000.00", "planned_date": (award + timedelta(days=200)).isoformat()}]}})
    [guarantee] = inst["tasks"]
    assert guarantee["element_id"] == "submit_performance_guarantee"
    call(live, "POST", f"/tasks/{guarantee['id']}/complete", "con",
         body={"data": {"form": "bank_guarantee", "amount": "50000.00", "guarantee_no": "BG-1"}})
    return call(live, "GET", f"/instances/{inst['id']}", "operator")


def test_the_instance_view_marks_exactly_the_active_user_tasks(page, live, screenshots):
    inst = running_contract(live)
    ready = {t["element_id"] for t in inst["tasks"]}
    assert ready == {"sign_contract"}
    page.goto(f"{live.base}/instances/{inst['id']}/view")
    expect(page.get_by_label("API token")).to_be_visible()
    sign_in(page, live.people.tokens["zj"])  # the supervising department sees its contracts
    expect(page.locator("body[data-ready=true]")).to_have_count(1)

    active_user_tasks = page.evaluate("""() => {
        const canvas = lvyueViewer.get('canvas');
        return lvyueViewer.get('elementRegistry')
          .filter((e) => ['bpmn:UserTask', 'bpmn:ManualTask'].includes(e.type) && canvas.hasMarker(e, 'lvyue-active'))
          .map((e) => e.id).sort(); }""")
    assert set(active_user_tasks) == ready
    expect(page.locator('g.djs-element.lvyue-active[data-element-id="sign_contract"]')).to_have_count(1)
    # the signing warning is drawn as one ladder (bpmn/README.md): it is marked while its steps' timers wait
    expect(page.locator('g.djs-element.lvyue-active[data-element-id="signing"]')).to_have_count(1)
    for done in ("award_notice_issued", "submit_performance_guarantee"):
        expect(page.locator(f'g.djs-element.lvyue-completed[data-element-id="{done}"]')).to_have_count(1)
    expect(page.locator('g.djs-element.lvyue-active[data-element-id="submit_performance_guarantee"]')).to_have_count(0)
    expect(page.locator('g.djs-element.lvyue-active[data-element-id="release_bid_bond"]')).to_have_count(0)

    expect(page.locator("#business-key")).to_have_text("LH-VIEW-1")
    expect(page.locator('#tasks li[data-element-id="sign_contract"]')).to_contain_text("Sign the contract")
    waiting = [t for t in inst["timers"] if t["status"] == "waiting"]
    assert waiting
    for timer in waiting:
        expect(page.locator(f'#timers li[data-element-id="{timer["element_id"]}"] time')).to_have_attribute("datetime", timer["due_at"])
    [alert] = [a for a in inst["alerts"] if a["status"] == "open"] or [None]
    assert alert is None or alert["code"] == "SIGNING_OVERDUE"
    expect(page.locator("#alerts")).to_contain_text("SIGNING_OVERDUE")
    expect(page.locator("#alerts .severity-orange")).to_have_count(1)

    page.evaluate("""() => { const c = lvyueViewer.get('canvas');
        c.zoom(0.95); c.scrollToElement(lvyueViewer.get('elementRegistry').get('sign_contract'), {top: 300, left: 420}); }""")
    page.screenshot(path=str(screenshots / "instance-view.png"))


def test_a_token_that_may_not_see_the_contract_gets_the_prompt_again(page, live):
    [inst] = [i for i in call(live, "GET", "/instances?business_key=LH-VIEW-1", "operator")["items"]] or [None]
    inst = inst or running_contract(live)
    page.goto(f"{live.base}/instances/{inst['id']}/view")
    sign_in(page, live.people.tokens["other"])  # a party with no role in this contract
    expect(page.locator("#token-error")).to_contain_text("404")
    expect(page.locator("#app")).to_be_hidden()
    assert page.evaluate("() => sessionStorage.getItem('lvyue.token')") is None
    sign_in(page, live.people.tokens["emp"])  # the employer is a party: it may see the contract
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    expect(page.locator('g.djs-element.lvyue-active[data-element-id="sign_contract"]')).to_have_count(1)
