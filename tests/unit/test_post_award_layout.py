"""Issue 19: post_award is readable at 100 % zoom on a 1440 × 900 screen in its main path. The main path — award,
signing, the contractor's confirmation, filing and its review, publication, the payments, completion and the
guarantee release — is one horizontal band: scrolling sideways follows it, and its height (the elements' DI shapes
with the warning ladders on them) fits the ~800 px of diagram such a screen shows below the page's header."""
from __future__ import annotations

from pathlib import Path

from lxml import etree

DIAGRAM = Path(__file__).resolve().parents[2] / "bpmn" / "post_award.bpmn"
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
      "dc": "http://www.omg.org/spec/DD/20100524/DC"}
MAIN_PATH = ("award_notice_issued", "gw_guarantee_required", "sign_contract", "confirm_signature",
             "gw_signature_confirmed", "fork_after_signing", "file_contract", "review_filing", "publish_contract",
             "release_bid_bond", "milestones", "works_payments", "confirm_completion", "fork_release",
             "release_performance_guarantee", "join_release", "join_contract_end", "contract_performed")
BAND_HEIGHT = 800  # a 1440 × 900 screen less the browser's and the page's header


def _shapes() -> dict[str, tuple[float, float, float, float]]:
    root = etree.parse(str(DIAGRAM)).getroot()
    shapes = {}
    for shape in root.iterfind(".//bpmndi:BPMNShape", NS):
        bounds = shape.find("dc:Bounds", NS)
        shapes[shape.get("bpmnElement")] = tuple(float(bounds.get(k)) for k in ("x", "y", "width", "height"))
    return shapes


def _ladders(root, task_ids) -> list[str]:
    """The boundary events (the warning ladders and the message catches) on the main path's tasks."""
    return [e.get("id") for e in root.iterfind(".//bpmn:boundaryEvent", NS) if e.get("attachedToRef") in task_ids]


def test_the_main_path_is_one_band_that_fits_a_1440x900_screen_at_100_percent():
    shapes = _shapes()
    root = etree.parse(str(DIAGRAM)).getroot()
    missing = [i for i in MAIN_PATH if i not in shapes]
    assert not missing, f"main-path elements without a DI shape: {missing}"
    ids = list(MAIN_PATH) + _ladders(root, set(MAIN_PATH))
    assert "signing" in ids and "confirmation" in ids and "guarantee_release" in ids  # the ladders are counted
    top = min(shapes[i][1] for i in ids)
    bottom = max(shapes[i][1] + shapes[i][3] for i in ids)
    assert bottom - top <= BAND_HEIGHT, (
        f"the main path spans {bottom - top:.0f} px from y={top:.0f} "
        f"({min(ids, key=lambda i: shapes[i][1])}) to y={bottom:.0f} "
        f"({max(ids, key=lambda i: shapes[i][1] + shapes[i][3])}); at most {BAND_HEIGHT}")
    # one band left to right: the path's steps follow each other in x, so scrolling sideways reads them in order
    order = ["award_notice_issued", "sign_contract", "fork_after_signing", "confirm_completion", "fork_release",
             "join_contract_end"]
    xs = [shapes[i][0] for i in order]
    assert xs == sorted(xs), dict(zip(order, xs))
