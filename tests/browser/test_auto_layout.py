"""Issue 19, acceptance 5: a diagram deployed without BPMN DI (no BPMNDiagram, as tools generate them) is laid
out in the browser (web/layout.js, bpmn-auto-layout) and drawn in the modeler and in the instance view: every
flow node is an SVG shape, every sequence flow a connection, and the running task is marked active."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from lxml import etree
from playwright.sync_api import expect

from tests import requests_shim as http
from tests.browser.conftest import sign_in
from tests.conftest import FIXTURES, ROOT

CN = timezone(timedelta(hours=8))
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
NOT_NODES = {"sequenceFlow", "laneSet", "lane", "flowNodeRef", "incoming", "outgoing", "extensionElements",
             "timerEventDefinition", "escalationEventDefinition", "timeDate", "conditionExpression", "documentation"}


def without_di(path) -> bytes:
    """The diagram's XML with every BPMNDiagram removed (its semantics untouched)."""
    tree = etree.fromstring(path.read_bytes())
    for diagram in tree.findall(f"{{{BPMNDI}}}BPMNDiagram"):
        tree.remove(diagram)
    assert tree.find(f".//{{{BPMNDI}}}BPMNShape") is None
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def ids(xml: bytes, process_id: str) -> tuple[set[str], set[str]]:
    """(flow nodes, sequence flows) of one process."""
    process = etree.fromstring(xml).find(f"{{{BPMN}}}process[@id='{process_id}']")
    nodes = {e.get("id") for e in process if etree.QName(e).localname not in NOT_NODES and e.get("id")}
    flows = {e.get("id") for e in process.findall(f"{{{BPMN}}}sequenceFlow")}
    return nodes, flows


def call(live, method, path, who, body=None, raw=None, headers=None):
    r = http.request(method, live.base + "/api/v1" + path, body=body, raw=raw,
                     headers={**live.people.auth(who), **(headers or {})})
    assert r.status < 300, (r.status, r.body)
    return r.json()


def drawn(page, viewer: str) -> dict:
    """What the page's bpmn-js instance drew: shapes and connections by id, and the active markers."""
    return page.evaluate("""(name) => { const v = window[name]; const canvas = v.get('canvas');
        const all = v.get('elementRegistry').getAll();
        const gfx = (e) => { const g = v.get('elementRegistry').getGraphics(e); return !!g && g.querySelector('.djs-visual > *') !== null; };
        return { shapes: all.filter((e) => !e.waypoints && e.type !== 'label' && e.businessObject && gfx(e)).map((e) => e.id),
                 connections: all.filter((e) => e.waypoints && gfx(e)).map((e) => e.id),
                 active: all.filter((e) => canvas.hasMarker(e, 'lvyue-active')).map((e) => e.id) }; }""", viewer)


def assert_drawn(page, viewer, nodes, flows):
    got = drawn(page, viewer)
    assert nodes <= set(got["shapes"]), nodes - set(got["shapes"])
    assert flows <= set(got["connections"]), flows - set(got["connections"])
    for node in nodes:  # an SVG group with a visible shape in the page, not only in bpmn-js's registry
        expect(page.locator(f'g.djs-element.djs-shape[data-element-id="{node}"] .djs-visual > *').first).to_be_attached()
    return got


def test_a_diagram_without_di_is_drawn_in_the_modeler(page, live):
    xml = without_di(ROOT / "bpmn" / "contract_signing.bpmn")  # a collaboration with two lanes
    call(live, "POST", "/definitions", "designer", raw=xml, headers={"Content-Type": "application/xml"})
    page.goto(f"{live.base}/modeler?definition=contract_signing")
    sign_in(page, live.people.tokens["designer"])
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    expect(page.locator("body")).to_have_attribute("data-laid-out", "true")
    expect(page.locator("#status")).to_contain_text("laid out automatically")
    nodes, flows = ids(xml, "contract_signing")
    assert {"sign_contract", "confirm_contract"} <= nodes
    assert_drawn(page, "lvyueModeler", nodes, flows)
    # the deployed XML is unchanged: still without DI
    stored = http.request("GET", live.base + "/api/v1/definitions/contract_signing/versions/1/xml",
                          headers=live.people.auth("designer"))
    assert stored.status == 200 and b"BPMNShape" not in stored.body


def test_a_diagram_with_di_is_not_laid_out_again(page, live):
    call(live, "POST", "/definitions", "designer", raw=(ROOT / "bpmn" / "supplementary_contract.bpmn").read_bytes(),
         headers={"Content-Type": "application/xml"})
    page.goto(f"{live.base}/modeler?definition=supplementary_contract")
    sign_in(page, live.people.tokens["designer"])
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    expect(page.locator("body")).to_have_attribute("data-laid-out", "false")


def test_a_running_instance_of_a_diagram_without_di_is_drawn_with_its_task_active(page, live, screenshots):
    xml = (FIXTURES / "signing_deadline.bpmn").read_bytes()  # lanes, three boundary timers, throw and end events
    assert b"BPMNDiagram" not in xml
    call(live, "POST", "/definitions", "designer", raw=xml, headers={"Content-Type": "application/xml"})
    award = (datetime.now(CN) - timedelta(days=5)).date().isoformat()
    inst = call(live, "POST", "/instances", "operator", body={
        "definition": "signing_deadline", "business_key": "LH-NODI-1",
        "data": {"employer": "EMP", "department": "ZJ", "award_notice_date": award}})
    assert {t["element_id"] for t in inst["tasks"]} == {"sign_contract"}
    page.goto(f"{live.base}/instances/{inst['id']}/view")
    sign_in(page, live.people.tokens["operator"])
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    expect(page.locator("body")).to_have_attribute("data-laid-out", "true")
    nodes, flows = ids(xml, "signing_deadline")
    assert {"t_yellow", "t_orange", "t_red", "sign_contract", "start"} <= nodes
    got = assert_drawn(page, "lvyueViewer", nodes, flows)
    # the running task, and the three timers waiting on its boundary, are marked active; nothing else
    assert sorted(got["active"]) == ["sign_contract", "t_orange", "t_red", "t_yellow"]
    expect(page.locator('g.djs-element.lvyue-active[data-element-id="sign_contract"]')).to_have_count(1)
    expect(page.locator('g.djs-element.lvyue-completed[data-element-id="start"]')).to_have_count(1)
    page.screenshot(path=str(screenshots / "instance-view-auto-layout.png"))
