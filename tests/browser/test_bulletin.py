"""The market bulletin page in real Chromium (no network): the sample tenders imported over HTTP, the page of
October 2026 shows the API's figures, chart.js draws the amount by sector and the size distribution, the
groups table lists every sector, procedure and department, and the CSV is the API's."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from engine.supervision import intake
from tests import requests_shim as http
from tests.browser.conftest import sign_in

SAMPLE = Path(intake.__file__).parent / "samples" / "tenders-2026-09-10.json"


@pytest.fixture(scope="module")
def imported(live):
    r = http.request("POST", live.base + "/api/v1/ocds/import", raw=SAMPLE.read_bytes(),
                     headers={**live.people.auth("operator"), "Content-Type": "application/json"})
    assert r.status == 200, r.body[:500]
    r = http.request("GET", live.base + "/api/v1/bulletin/monthly?month=2026-10", headers=live.people.auth("zj"))
    return r.json()


def test_the_bulletin_page_shows_the_figures_and_charts_of_the_month(page, live, imported, screenshots):
    page.goto(f"{live.base}/bulletin?month=2026-10")
    sign_in(page, live.people.tokens["zj"])
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    expect(page.locator("#fig-amount")).to_have_text("13,785,000.00")
    expect(page.locator("#fig-count")).to_contain_text("5 (awarded 已成交 4)")
    expect(page.locator("#fig-trend")).to_contain_text("152.01 %")
    expect(page.locator("#fig-concentration")).to_contain_text("HHI 6633.08")
    expect(page.locator("#fig-openness")).to_contain_text("75.00 %")
    expect(page.locator("#groups tbody tr")).to_have_count(3 + 3 + 2)
    expect(page.locator('#groups tr[data-dimension="by_department"][data-key="ZJ"]')).to_contain_text("12,930,000.00")

    charts = page.evaluate("""() => Object.fromEntries(Object.entries(lvyueCharts).map(([id, c]) => [id, {
        labels: c.data.labels, data: c.data.datasets.map((d) => d.data) }]))""")
    assert charts["chart-sector"] == {"labels": ["goods", "services", "works"], "data": [[575000, 280000, 12930000]]}
    assert charts["chart-size"] == {"labels": [s["band"] for s in imported["size"]], "data": [[2, 1, 1, 0]]}
    painted = page.evaluate("""(id) => { const c = document.getElementById(id);
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 3; i < px.length; i += 4) if (px[i]) n++; return n; }""", "chart-sector")
    assert painted > 500, painted
    page.screenshot(path=str(screenshots / "bulletin.png"), full_page=True)

    with page.expect_download() as info:
        page.get_by_role("button", name="Bulletin (CSV)").click()
    assert info.value.suggested_filename == "lvyue-bulletin-2026-10.csv"
    text = Path(info.value.path()).read_text(encoding="utf-8")
    assert text.startswith("\ufeffsection,figure,value") and "concentration,hhi,6633.08" in text

    page.locator("#bulletin-month").fill("2026-09")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#fig-amount")).to_have_text("5,470,000.00")


def test_a_party_is_not_shown_the_bulletin(page, live, imported):
    page.goto(f"{live.base}/bulletin?month=2026-10")
    sign_in(page, live.people.tokens["emp"])
    expect(page.locator("#token-error")).to_contain_text("403")
    expect(page.locator("#app")).to_be_hidden()


def test_a_contract_started_from_an_award_shows_its_tenders_risk_indicators(page, live, imported):
    """Issue 21: a tender's indicators are in view on its contract's page (the planted collusion of
    tests/integration/test_risk.py, T2 won by B)."""
    import json

    from tests.integration.test_risk import PLANTED, package

    def call(method, path, who, body=None, raw=None, headers=None):
        r = http.request(method, live.base + "/api/v1" + path, body=body, raw=raw,
                         headers={**live.people.auth(who), **(headers or {})})
        assert r.status < 300, (method, path, r.status, r.body[:500])
        return r.json()

    call("POST", "/ocds/import", "operator", raw=json.dumps(package(*PLANTED)).encode(),
         headers={"Content-Type": "application/json"})
    call("POST", "/definitions", "designer", raw=(Path(__file__).resolve().parents[2] / "bpmn" / "post_award.bpmn").read_bytes(),
         headers={"Content-Type": "application/xml"})
    [award] = call("GET", "/awards?ocid=ocds-test-T2", "operator")["items"]
    started = call("POST", f"/awards/{award['id']}/contract", "operator", body={"business_key": "RISK-T2", "data": {
        "track": "tendering", "bid_bond": {"amount": "20000.00", "form": "cash"}, "performance_guarantee_rate": "0",
        "retention_rate": "3", "defect_liability_months": 2, "payment_term_days": 30, "acceptance_days": 14,
        "milestones": [{"name": "全部工程", "amount": "2000000.00", "planned_date": "2027-06-30"}]}})
    assert started["data"]["contract_amount"] == "2000000.00"

    page.goto(f"{live.base}/instances/{started['id']}/view")
    sign_in(page, live.people.tokens["zj"])
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    expect(page.locator("#award-section")).to_be_visible()
    expect(page.locator("#award")).to_contain_text("2,000,000.00")
    for indicator in ("K01", "K02", "K06"):
        expect(page.locator(f'#risk li[data-indicator="{indicator}"]')).to_contain_text("ocds-test-T2")
    expect(page.locator("#risk li")).to_have_count(3)
