"""The designer's modeler in real Chromium: open post_award, rename a task, deploy the next version;
a bad timer expression is shown on its element and nothing is deployed; the Lvyue helper writes the
warning ladder from the rule registry (and edits the ladder it finds on the task)."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests import requests_shim as http
from tests.browser.conftest import sign_in
from tests.conftest import ROOT

NEW_NAME = "Sign the written contract (签订书面合同)"
BAD_TIMER = "deadline('R04', award_notice_date) + __import__('os')"


def api(live, method, path, who="designer", **kw):
    return http.request(method, live.base + "/api/v1" + path, headers={**live.people.auth(who), **kw.pop("headers", {})}, **kw)


def deploy_post_award(live) -> int:
    r = api(live, "POST", "/definitions", raw=(ROOT / "bpmn" / "post_award.bpmn").read_bytes(),
            headers={"Content-Type": "application/xml"})
    assert r.status in (200, 201), r.body
    return r.json()["version"]


def latest(live, key="post_award") -> dict:
    r = api(live, "GET", f"/definitions/{key}")
    assert r.status == 200, r.body
    return r.json()


def open_modeler(page, live, query=""):
    page.goto(f"{live.base}/modeler{query}")
    expect(page.get_by_label("API token")).to_be_visible()  # the token is asked for once per tab
    sign_in(page, live.people.tokens["designer"])
    expect(page.locator("body[data-ready=true]")).to_have_count(1)


def select_shape(page, element_id):
    page.locator(f'g.djs-element[data-element-id="{element_id}"]').first.click(force=True)
    expect(page.locator(f'g.djs-element.selected[data-element-id="{element_id}"]')).to_have_count(1)


def test_modeler_opens_post_award_renames_a_task_and_deploys_the_next_version(page, live):
    first = deploy_post_award(live)
    open_modeler(page, live, "?definition=post_award")
    expect(page.locator("body")).to_have_attribute("data-diagram", f"post_award@{first}")
    expect(page.locator('g.djs-element[data-element-id="sign_contract"]')).to_have_count(1)
    # the properties panel edits the selected task's name
    select_shape(page, "sign_contract")
    name = page.locator("#bio-properties-panel-name")
    expect(name).to_have_value("Sign the contract (签订合同)")
    name.fill(NEW_NAME)
    page.wait_for_function("name => lvyueModeler.get('elementRegistry').get('sign_contract').businessObject.name === name",
                           arg=NEW_NAME)
    page.get_by_role("button", name="Validate", exact=True).click()
    expect(page.locator("#problems-summary")).to_contain_text("No problems")
    page.get_by_role("button", name="Deploy", exact=True).click()
    expect(page.locator("#status")).to_contain_text(f"version {first + 1}")

    now = latest(live)
    assert now["version"] == first + 1
    assert {t["element_id"]: t["name"] for t in now["user_tasks"]}["sign_contract"] == NEW_NAME
    versions = api(live, "GET", "/definitions?key=post_award").json()["items"]
    assert [v["version"] for v in versions] == list(range(1, first + 2))
    # the versions panel compares the two and marks the change on the canvas
    page.locator("#diff-from").select_option(str(first))
    page.locator("#diff-to").select_option(str(first + 1))
    page.get_by_role("button", name="Compare", exact=True).click()
    expect(page.locator('#diff li[data-element-id="sign_contract"]')).to_contain_text(NEW_NAME)
    expect(page.locator('g.djs-element.lvyue-diff-changed[data-element-id="sign_contract"]')).to_have_count(1)
    # and the XML downloads
    with page.expect_download() as download:
        page.get_by_role("button", name="Download XML", exact=True).click()
    assert download.value.suggested_filename == f"post_award-v{first + 1}.bpmn"
    assert NEW_NAME in open(download.value.path(), encoding="utf-8").read()


def test_a_bad_timer_expression_is_shown_on_its_element_and_not_deployed(page, live, screenshots):
    deploy_post_award(live)
    before = latest(live)["version"]
    open_modeler(page, live, "?definition=post_award")
    select_shape(page, "signing")
    value = page.locator("#bio-properties-panel-timerEventDefinitionValue")
    expect(value).to_have_value(re.compile(r"^deadline\("))
    value.fill(BAD_TIMER)
    page.wait_for_function("""text => lvyueModeler.get('elementRegistry').get('signing')
        .businessObject.eventDefinitions[0].timeDate.body === text""", arg=BAD_TIMER)
    page.get_by_role("button", name="Validate", exact=True).click()
    problem = page.locator('#problems li[data-element-id="signing"]')
    expect(problem).to_have_count(1)
    # the signing warning is a ladder (bpmn/README.md): its drawn timer shows the ladder's due, nothing else
    expect(problem).to_contain_text("the ladder's timer shows its deadline")
    expect(page.locator('g.djs-element.lvyue-problem[data-element-id="signing"]')).to_have_count(1)
    expect(page.locator('[data-problem-for="signing"]')).to_have_count(1)
    expect(page.locator("#problems-summary")).to_contain_text("not deployable")
    # the screenshot of the modeler: the offending element zoomed in, the problem beside it
    page.evaluate("""() => { const c = lvyueModeler.get('canvas');
        c.zoom(1.1); c.scrollToElement(lvyueModeler.get('elementRegistry').get('sign_contract'), {top: 260, left: 300});
        document.querySelector('.lvyue-side').scrollTop = 0; }""")
    page.screenshot(path=str(screenshots / "modeler.png"))

    page.get_by_role("button", name="Deploy", exact=True).click()
    expect(page.locator("#status")).to_contain_text("Not deployed")
    assert latest(live)["version"] == before


def test_the_helper_writes_a_warning_ladder_from_the_rule_registry_and_edits_the_one_it_finds(page, live):
    open_modeler(page, live)
    expect(page.locator("body")).to_have_attribute("data-diagram", "new")
    select_shape(page, "pay")
    form = page.get_by_role("form", name="Add a warning")
    form.get_by_label("Alert code").fill("PAYMENT_OVERDUE")
    form.get_by_label("Alert kind").select_option("arrears")
    form.get_by_label("Deadline rule").select_option("P01")
    expect(form.get_by_label("Start date field")).to_have_value("delivered_at")
    form.get_by_label("Amount expression").fill("amount")
    form.get_by_role("button", name="Add warning").click()
    expect(form.get_by_role("status")).to_contain_text("deadline('P01', delivered_at)")
    # one timer carrying the ladder (bpmn/README.md "Warning ladders"), not a timer, a throw and an end per severity
    ladders = """() => lvyueModeler.get('elementRegistry').filter(e => e.type === 'bpmn:BoundaryEvent')
        .map(e => ({ id: e.id, host: e.host.id, steps: ((e.businessObject.extensionElements || {}).values || [])
            .filter(v => v.$type === 'lvyue:WarningLadder').flatMap(l => l.steps.map(s => [s.severity, s.days || null])),
            code: ((e.businessObject.extensionElements || {}).values || []).map(v => v.code).join() }))"""
    assert page.evaluate(ladders) == [{"id": "pay_ladder", "host": "pay", "steps": [["orange", None]],
                                       "code": "PAYMENT_OVERDUE"}]
    assert page.evaluate("() => lvyueModeler.get('elementRegistry').filter(e => e.type === 'bpmn:IntermediateThrowEvent').length") == 0
    # selecting the task again reads its ladder: the form holds what the ladder says, and adds no second one
    select_shape(page, "end")
    select_shape(page, "pay")
    form = page.get_by_role("form", name="Add a warning")
    expect(form.get_by_label("Alert code")).to_have_value("PAYMENT_OVERDUE")
    expect(form.get_by_label("Amount expression")).to_have_value("amount")
    expect(form.get_by_label("Deadline rule")).to_have_value("P01")
    expect(form.locator("input[name=sev_orange]")).to_be_checked()
    expect(form.locator("input[name=sev_red]")).not_to_be_checked()
    form.locator("input[name=sev_red]").check()
    form.get_by_role("button", name="Update warning").click()
    expect(form.get_by_role("status")).to_contain_text("pay_ladder")
    assert page.evaluate(ladders) == [{"id": "pay_ladder", "host": "pay", "steps": [["orange", None], ["red", "30"]],
                                       "code": "PAYMENT_OVERDUE"}]
    page.get_by_role("button", name="Validate", exact=True).click()
    expect(page.locator("#problems-summary")).to_contain_text("No problems")
    page.get_by_role("button", name="Deploy", exact=True).click()
    expect(page.locator("#status")).to_contain_text("Deployed new_process as version 1")
    xml = api(live, "GET", "/definitions/new_process/versions/1/xml").body.decode("utf-8")
    assert xml.count("<lvyue:warningLadder") == 1 and "<lvyue:alert" not in xml
    assert re.search(r'<lvyue:warningLadder [^>]*code="PAYMENT_OVERDUE"', xml)
    assert "due=\"deadline(&#39;P01&#39;, delivered_at)\"" in xml or "due=\"deadline('P01', delivered_at)\"" in xml
    assert re.search(r'<lvyue:step severity="orange"\s*/>\s*<lvyue:step severity="red" days="30"\s*/>', xml)
    assert "<bpmn:timeDate xsi:type=\"bpmn:tFormalExpression\">deadline('P01', delivered_at)</bpmn:timeDate>" in xml


def test_every_shipped_diagram_renders_without_warnings_and_redeploys_after_a_round_trip(page, live):
    open_modeler(page, live)
    for path in sorted((ROOT / "bpmn").glob("*.bpmn")):
        xml = path.read_text(encoding="utf-8")
        result = page.evaluate("""async xml => {
            const { warnings } = await lvyueModeler.importXML(xml);
            const shapes = lvyueModeler.get('elementRegistry').getAll().length;
            const { xml: out } = await lvyueModeler.saveXML({ format: true });
            return { warnings: warnings.map(w => w.message), shapes, out };
        }""", xml)
        assert result["warnings"] == [], (path.name, result["warnings"])
        assert result["shapes"] > 10, path.name
        r = api(live, "POST", "/definitions", raw=result["out"].encode("utf-8"),
                headers={"Content-Type": "application/xml"})
        assert r.status in (200, 201), (path.name, r.body)
