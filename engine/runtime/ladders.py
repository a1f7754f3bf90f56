"""Warning ladders: one drawn element per obligation, expanded at deploy into the warning construct.

A designer draws one non-interrupting boundary timer on the activity whose completion meets the obligation and
declares its steps (bpmn/README.md, "Warning ladders"):

    <bpmn:boundaryEvent id="filing" attachedToRef="file_contract" cancelActivity="false">
      <bpmn:extensionElements>
        <lvyue:warningLadder code="FILING_OVERDUE" due="deadline('G05', signed_at)" kind="non_performance"
                             responsible="employer" rule="G05" met_date="filed_at">
          <lvyue:step severity="yellow" days="-3"/>
          <lvyue:step severity="orange"/>
          <lvyue:step severity="red" days="30"/>
        </lvyue:warningLadder>
      </bpmn:extensionElements>
      <bpmn:timerEventDefinition><bpmn:timeDate>deadline('G05', signed_at)</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>

`expand` rewrites the parsed tree, before the lint and SpiffWorkflow read it, into what such a diagram held drawn
by hand: per step a non-interrupting boundary timer `{id}_timer_{severity}` (at `due`, or `before(due, n)` /
`after(due, n)` for `days` -n / n), an escalation throw `{id}_{severity}` carrying `lvyue:alert` with the ladder's
attributes (all but `code`, passed through as they are, plus the step's severity) and an end event
`{id}_{severity}_end`. The escalation is the file's one with `escalationCode = code`, or a new `{id}_escalation`.
The ids are the ones the hand-drawn construct used, so alerts, their keys, escalation and resolution, the audit
trail and version migration see the same elements as before. The stored diagram stays the drawn one; `drawn`
maps every generated element to the ladder that stands for it (the instance view marks the ladder).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
LVYUE_NS = "http://lvyue.org/schema/bpmn/1.0"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

LADDER = f"{{{LVYUE_NS}}}warningLadder"
STEP = f"{{{LVYUE_NS}}}step"
SEVERITIES = ("yellow", "orange", "red")  # the order a ladder climbs
STEP_ATTRIBUTES = ("severity", "days")
MAX_DAYS = 3660  # ten years either side of the deadline
DAYS = re.compile(r"^[+-]?\d{1,4}$")


def _q(local: str) -> str:
    return f"{{{BPMN_NS}}}{local}"


@dataclass
class LadderProblem:
    message: str
    element_id: str | None
    line: int | None


@dataclass
class Expansion:
    """What `expand` did: generated element id → the ladder's id, and the problems that stopped it."""

    drawn: dict[str, str] = field(default_factory=dict)
    problems: list[LadderProblem] = field(default_factory=list)
    lines: dict[str, int | None] = field(default_factory=dict)  # ladder id → its line in the drawn diagram

    def located(self, element_id: str | None, line: int | None) -> tuple[str | None, int | None]:
        """A problem found in a generated element, named after the ladder the designer drew."""
        if element_id in self.drawn:
            ladder = self.drawn[element_id]
            return ladder, self.lines.get(ladder)
        return element_id, line


def timer_value(due: str, days: int) -> str:
    """The timer expression of a step `days` from the deadline `due` (the diagrams' before/after functions)."""
    if days < 0:
        return f"before({due}, {-days})"
    if days > 0:
        return f"after({due}, {days})"
    return due


def _steps(ladder, problem) -> list[tuple[str, int]]:
    steps = []
    for child in ladder:
        if not isinstance(child.tag, str):
            continue
        if child.tag != STEP:
            problem(f"lvyue:warningLadder holds lvyue:step elements only, not {etree.QName(child).localname}", child)
            continue
        unknown = sorted(a for a in child.attrib if a not in STEP_ATTRIBUTES)
        if unknown:
            problem(f"lvyue:step takes severity and days only, not {', '.join(unknown)} (the alert's attributes belong "
                    "on the ladder)", child)
        severity, days_text = child.get("severity"), (child.get("days") or "0").strip()
        if severity not in SEVERITIES:
            problem(f"lvyue:step severity='{severity or ''}' must be one of {', '.join(SEVERITIES)}", child)
            continue
        if not DAYS.match(days_text) or abs(int(days_text)) > MAX_DAYS:
            problem(f"lvyue:step days='{days_text}' must be a whole number of days from the deadline, between "
                    f"-{MAX_DAYS} and {MAX_DAYS} (-3: 3 days before, 30: 30 days after)", child)
            continue
        steps.append((severity, int(days_text)))
    if not steps:
        problem("lvyue:warningLadder needs at least one lvyue:step (severity, days from the deadline)", ladder)
        return []
    for (s0, d0), (s1, d1) in zip(steps, steps[1:]):
        if SEVERITIES.index(s1) <= SEVERITIES.index(s0) or d1 <= d0:
            problem(f"the ladder's steps must climb: '{s1}' at {d1:+d} days follows '{s0}' at {d0:+d}; each step is later "
                    f"and more severe than the one before ({', '.join(SEVERITIES)})", ladder)
            return []
    return steps


def _drawn_timer_problem(event, due: str) -> str | None:
    """The ladder's own event may show its deadline as a timer, nothing else: it is replaced by the steps."""
    definitions = [c for c in event if isinstance(c.tag, str) and c.tag.endswith("EventDefinition")]
    if any(d.tag != _q("timerEventDefinition") for d in definitions) or len(definitions) > 1:
        return "a warning ladder sits on a boundary timer (one timerEventDefinition showing its due), no other event"
    for definition in definitions:
        for value in definition:
            if isinstance(value.tag, str) and (value.text or "").strip() and " ".join(value.text.split()) != " ".join(due.split()):
                return (f"the ladder's timer shows its deadline: {etree.QName(value).localname} must be empty or its due "
                        f"'{due}', not '{value.text.strip()}'")
    return None


def expand(root) -> Expansion:
    """Expand every warning ladder of the tree in place (see the module's docstring). With problems, the tree is left
    as it was where a ladder is malformed, and the diagram must be refused."""
    out = Expansion()
    ids = {e.get("id") for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
    escalations = {e.get("escalationCode"): e.get("id") for e in root.iter(_q("escalation"))}
    sources = {f.get("sourceRef") for f in root.iter(_q("sequenceFlow"))}
    targets = {f.get("targetRef") for f in root.iter(_q("sequenceFlow"))}
    for ladder in list(root.iter(LADDER)):
        event = ladder.getparent().getparent() if ladder.getparent() is not None else None
        eid = event.get("id") if event is not None else None
        count = len(out.problems)

        def problem(message, element, _eid=eid):
            out.problems.append(LadderProblem(message, _eid, element.sourceline))

        if event is None or ladder.getparent().tag != _q("extensionElements") or event.tag != _q("boundaryEvent"):
            problem("lvyue:warningLadder belongs in the extensionElements of a boundary event on the activity that "
                    "meets the obligation", ladder)
            continue
        if not eid:
            problem("a warning ladder's boundary event needs an id: its steps are named after it", ladder)
            continue
        if event.get("cancelActivity") != "false":
            problem("a warning ladder's boundary event must be non-interrupting (cancelActivity=\"false\"): a warning "
                    "never stops the work it waits for", ladder)
        if not event.get("attachedToRef"):
            problem("a warning ladder's boundary event must be attached to the activity that meets the obligation "
                    "(attachedToRef)", ladder)
        if eid in sources or eid in targets:
            problem("a warning ladder's boundary event has no sequence flow: the engine draws each step's path", ladder)
        code, due = (ladder.get("code") or "").strip(), (ladder.get("due") or "").strip()
        if not code:
            problem("lvyue:warningLadder needs code=\"…\": the alert code (the escalationCode of its throws)", ladder)
        if not due:
            problem("lvyue:warningLadder needs due=\"…\": the deadline the steps count from", ladder)
        if ladder.get("severity") is not None:
            problem("lvyue:warningLadder takes no severity: each lvyue:step names its own", ladder)
        if due:
            drawn_problem = _drawn_timer_problem(event, due)
            if drawn_problem:
                problem(drawn_problem, event)
        steps = _steps(ladder, problem)
        generated = [n for severity, _ in steps
                     for n in (f"{eid}_timer_{severity}", f"{eid}_{severity}", f"{eid}_{severity}_end",
                               f"flow_{eid}_timer_{severity}_to_{eid}_{severity}",
                               f"flow_{eid}_{severity}_to_{eid}_{severity}_end")]
        taken = sorted(i for i in generated if i in ids)
        if taken:
            problem(f"the ladder's steps are named {eid}_timer_<severity>, {eid}_<severity>, {eid}_<severity>_end; "
                    f"the diagram already has {', '.join(taken)}: rename the ladder's event", ladder)
        if len(out.problems) > count:
            continue
        ids.update(generated)
        esc_id = escalations.get(code)
        if esc_id is None:
            esc_id = escalations[code] = f"{eid}_escalation"
            _add_escalation(root, esc_id, code, event.get("name"))
        out.lines[eid] = ladder.sourceline
        _replace(event, ladder, eid, steps, due, esc_id)
        out.drawn.update({i: eid for i in generated})
    for step in root.iter(STEP):
        if step.getparent() is None or step.getparent().tag != LADDER:
            out.problems.append(LadderProblem("lvyue:step belongs in a lvyue:warningLadder", _id_of(step), step.sourceline))
    return out


def _id_of(element) -> str | None:
    while element is not None:
        if element.get("id"):
            return element.get("id")
        element = element.getparent()
    return None


def _add_escalation(root, esc_id: str, code: str, name: str | None) -> None:
    escalation = etree.Element(_q("escalation"), id=esc_id, escalationCode=code)
    if name:
        escalation.set("name", name)
    first = next((c for c in root if isinstance(c.tag, str) and etree.QName(c).localname not in
                  ("documentation", "extensionElements", "import", "extension")), None)
    if first is None:
        root.append(escalation)
    else:
        first.addprevious(escalation)


def _replace(event, ladder, eid: str, steps: list[tuple[str, int]], due: str, esc_id: str) -> None:
    """Put the steps' timers, throws, end events and flows where the ladder's event was, and in its lane."""
    alert_attrs = {k: v for k, v in ladder.attrib.items() if k != "code"}
    name = event.get("name") or eid
    container = event.getparent()
    root = event.getroottree().getroot()
    anchor = event
    new_nodes: list[str] = []
    for severity, days in steps:
        timer_id, throw_id, end_id = f"{eid}_timer_{severity}", f"{eid}_{severity}", f"{eid}_{severity}_end"
        flow1, flow2 = f"flow_{timer_id}_to_{throw_id}", f"flow_{throw_id}_to_{end_id}"
        timer = etree.Element(_q("boundaryEvent"), id=timer_id, name=f"{name} – {severity} ({days:+d} days)",
                              attachedToRef=event.get("attachedToRef"), cancelActivity="false")
        etree.SubElement(timer, _q("outgoing")).text = flow1
        definition = etree.SubElement(timer, _q("timerEventDefinition"))
        value = etree.SubElement(definition, _q("timeDate"))
        value.set(f"{{{XSI_NS}}}type", "bpmn:tFormalExpression")
        value.text = timer_value(due, days)
        throw = etree.Element(_q("intermediateThrowEvent"), id=throw_id, name=f"{name} – {severity}")
        extensions = etree.SubElement(throw, _q("extensionElements"))
        alert = etree.SubElement(extensions, f"{{{LVYUE_NS}}}alert")
        alert.set("severity", severity)
        for key, val in alert_attrs.items():
            alert.set(key, val)
        etree.SubElement(throw, _q("incoming")).text = flow1
        etree.SubElement(throw, _q("outgoing")).text = flow2
        etree.SubElement(throw, _q("escalationEventDefinition"), escalationRef=esc_id)
        end = etree.Element(_q("endEvent"), id=end_id, name=f"{name} – {severity} raised")
        etree.SubElement(end, _q("incoming")).text = flow2
        flows = [etree.Element(_q("sequenceFlow"), id=flow1, sourceRef=timer_id, targetRef=throw_id),
                 etree.Element(_q("sequenceFlow"), id=flow2, sourceRef=throw_id, targetRef=end_id)]
        for element in (timer, throw, end, *flows):
            element.tail = anchor.tail
            anchor.addnext(element)
            anchor = element
        new_nodes += [timer_id, throw_id, end_id]
    container.remove(event)
    for ref in root.iter(_q("flowNodeRef")):
        if (ref.text or "").strip() == eid:
            at = ref
            for node_id in new_nodes:
                element = etree.Element(_q("flowNodeRef"))
                element.text = node_id
                element.tail = ref.tail
                at.addnext(element)
                at = element
            ref.getparent().remove(ref)
            break
