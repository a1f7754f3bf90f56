"""Writes bpmn/post_award.bpmn, bpmn/supplementary_contract.bpmn, bpmn/change_publication.bpmn and
bpmn/supervision_case.bpmn, semantics
and diagram (BPMNDI).

    .venv/bin/python bpmn/tools/layout.py        # rewrites the files in place

The diagrams carry many repeated pieces, such as the warning ladder of bpmn/README.md on each awaited task.
Many coordinates must also agree with each other. So the files are generated
instead of being drawn by hand. Edit this script, run it, and commit the .bpmn files it writes: the engine
deploys only those.

Drawing conventions used here:
* Left to right, one row per branch; two branches share a row where their x ranges do not meet. Tasks are 120×80,
  events 36×36, gateways 50×50.
* post_award's main path is one band at most 800 px high (a 1440 × 900 screen at 100 %, scrolled sideways):
  tests/unit/test_post_award_layout.py measures it; keep new rows outside it or re-pack.
* A warning is one ladder (`Process.warning`): a boundary timer on its task's bottom-right corner, labelled with
  the obligation and its steps (黄 −3日 · 橙 到期 · 红 +30日); the engine expands it at deploy
  (engine/runtime/ladders.py). Every task with a warning, a new one too, gets it through `Process.warning`.
* Every edge is orthogonal. Its first and last waypoints lie on the borders of its shapes.
* An event subprocess (`Process.inside`) is drawn expanded; its nodes sit in the lane of the process
  that holds it, so the lane still names who acts.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

HERE = Path(__file__).resolve().parent
BPMN_DIR = HERE.parent

TASK_W, TASK_H = 120, 80
EVENT = 36
GATEWAY = 50

# `--expanded PATH` writes post_award with every warning drawn out as the construct a ladder expands to (a timer, an
# escalation throw and an end event per severity, the ids the engine generates) to PATH: the "before ladders" side of
# tests/e2e/test_warning_ladder.py, regenerated when post_award changes (tests/fixtures/post_award_v_before_ladder.bpmn).
EXPANDED = False
SEVERITY_ZH = {"yellow": "黄色预警", "orange": "橙色预警", "red": "红色预警"}
TIMER_NAME = {"yellow": "3 days before (届满前3日)", "orange": "Deadline (期限届满)",
              "red": "30 days after (逾期30日)"}
ROW = 100  # vertical distance between the rows of a drawn-out warning
OUTPUT: dict[str, Path] = {}  # file name → where to write it instead of bpmn/

# A ladder's steps, in days from the deadline: yellow 3 days before, orange at it, red 30 days after.
STEP_DAYS = {"yellow": -3, "orange": 0, "red": 30}
LADDER_LABEL = {"yellow": "黄 −3日", "orange": "橙 到期", "red": "红 +30日"}


def _days_attr(days: int) -> str:
    return f' days="{days}"' if days else ""


# ------------------------------------------------------------------------------------ model
@dataclass
class Node:
    id: str
    tag: str  # BPMN element name without prefix: userTask, startEvent, ...
    lane: str
    x: float
    y: float
    w: float
    h: float
    name: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)
    doc: str | None = None
    ext: str | None = None  # inner XML of extensionElements
    tail: str | None = None  # XML after incoming/outgoing (event definitions)
    label: tuple[float, float, float, float] | None = None
    marker: bool = False  # exclusive gateway: show the X
    parent: str | None = None  # the (event) subprocess holding it; None: the process itself
    expanded: bool = False  # a subprocess drawn open, its content inside

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    def left(self):
        return (self.x, self.cy)

    def right(self):
        return (self.x + self.w, self.cy)

    def top(self):
        return (self.cx, self.y)

    def bottom(self):
        return (self.cx, self.y + self.h)


@dataclass
class Flow:
    id: str
    src: str
    tgt: str
    points: list[tuple[float, float]]
    name: str | None = None
    cond: str | None = None
    label: tuple[float, float, float, float] | None = None
    doc: str | None = None
    parent: str | None = None


@dataclass
class Lane:
    id: str
    name: str
    y: float
    h: float


@dataclass
class Process:
    id: str
    name: str
    doc: str
    pool_id: str
    pool_name: str
    x: float
    y: float
    w: float
    lanes: list[Lane] = field(default_factory=list)
    nodes: dict[str, Node] = field(default_factory=dict)
    flows: list[Flow] = field(default_factory=list)
    pool_doc: str | None = None
    multiplicity: tuple[int, int] | None = None
    _parent: str | None = None

    @contextmanager
    def inside(self, subprocess_id: str):
        """Nodes and flows added in this block belong to the subprocess `subprocess_id`."""
        outer, self._parent = self._parent, subprocess_id
        try:
            yield
        finally:
            self._parent = outer

    @property
    def h(self) -> float:
        return sum(lane.h for lane in self.lanes)

    # -- shapes
    def add(self, node: Node) -> Node:
        assert node.id not in self.nodes, node.id
        node.parent = self._parent
        self.nodes[node.id] = node
        return node

    def task(self, id, name, lane, x, cy, tag="userTask", **kw) -> Node:
        return self.add(Node(id, tag, lane, x, cy - TASK_H / 2, TASK_W, TASK_H, name, **kw))

    def event(self, id, name, lane, cx, cy, tag, label="below", **kw) -> Node:
        node = Node(id, tag, lane, cx - EVENT / 2, cy - EVENT / 2, EVENT, EVENT, name, **kw)
        if name and node.label is None:
            node.label = _label_box(cx, cy, EVENT / 2, label, 110)
        return self.add(node)

    def gateway(self, id, name, lane, cx, cy, tag="exclusiveGateway", label="below", width=130, **kw) -> Node:
        node = Node(id, tag, lane, cx - GATEWAY / 2, cy - GATEWAY / 2, GATEWAY, GATEWAY, name,
                    marker=tag == "exclusiveGateway", **kw)
        if name:
            node.label = _label_box(cx, cy, GATEWAY / 2, label, width)
        return self.add(node)

    # -- edges
    def flow(self, src, tgt, *via, id=None, name=None, cond=None, label=None, start=None, end=None, doc=None) -> Flow:
        """An edge from `src` to `tgt` (node ids). `start`/`end` pick the side ("left", "right", "top",
        "bottom", default right/left); `via` are the bend points in between."""
        a, b = self.nodes[src], self.nodes[tgt]
        p0 = getattr(a, start or "right")()
        p1 = getattr(b, end or "left")()
        points = [p0, *via, p1]
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            assert x0 == x1 or y0 == y1, f"{src}->{tgt}: segment {(x0, y0)}→{(x1, y1)} is not orthogonal"
        f = Flow(id or f"flow_{src}_to_{tgt}", src, tgt, points, name, cond, label, doc, self._parent)
        self.flows.append(f)
        return f

    def default(self, gateway_id: str, flow: Flow) -> None:
        self.nodes[gateway_id].attrs["default"] = flow.id

    # -- the warning ladder (bpmn/README.md "Warning ladders"): one boundary timer per obligation, which the engine
    # expands at deploy into a timer, an escalation throw and an end event per step (engine/runtime/ladders.py)
    def warning(self, task_id: str, prefix: str, code: str, title: str, *, kind: str, responsible: str,
                due: str, severities=("yellow", "orange", "red"), amount: str | None = None,
                met_date: str | None = None, rule: str | None = None, legal_basis: str | None = None,
                basis: str | None = None, occurrence: str | None = None, resolve_when: str | None = None,
                awaits: str | None = None, escalations: dict) -> Node:
        """`awaits`: the user task whose completion meets the obligation, when it is not the one the timers sit on
        (the signing: the employer's task raises it, the contractor's confirmation meets it). `prefix` is the
        ladder's id; the engine names the steps it generates `{prefix}_timer_{severity}`, `{prefix}_{severity}` and
        `{prefix}_{severity}_end`, the ids the hand-drawn construct had (running contracts migrate onto them)."""
        if EXPANDED:
            return self._drawn_out(task_id, prefix, code, title, kind=kind, responsible=responsible, due=due,
                                   severities=severities, amount=amount, met_date=met_date, rule=rule,
                                   legal_basis=legal_basis, basis=basis, occurrence=occurrence,
                                   resolve_when=resolve_when, awaits=awaits, escalations=escalations)
        task = self.nodes[task_id]
        esc_id = f"esc_{code.lower()}"
        escalations[esc_id] = (code, title)
        attrs = {"code": code, "kind": kind, "responsible": responsible}
        for key, value in (("rule", rule), ("legal_basis", legal_basis), ("basis", basis), ("due", due),
                           ("amount", amount), ("occurrence", occurrence), ("resolve_when", resolve_when),
                           ("met_date", met_date), ("awaits", awaits)):
            if value:
                attrs[key] = value
        steps = "".join(f'\n  <lvyue:step severity="{s}"{_days_attr(STEP_DAYS[s])}/>' for s in severities)
        items = [f"{k}={quoteattr(v)}" for k, v in attrs.items()]
        ladder = ("<lvyue:warningLadder " + " ".join(items[:3]) + "".join(f"\n                     {i}" for i in items[3:])
                  + ">" + steps + "\n</lvyue:warningLadder>")
        tx = task.x + task.w - 24
        summary = " · ".join(LADDER_LABEL[s] for s in severities)
        return self.add(Node(
            prefix, "boundaryEvent", task.lane, tx - EVENT / 2, task.y + task.h - EVENT / 2, EVENT, EVENT,
            f"{title}: {summary}", attrs={"attachedToRef": task_id, "cancelActivity": "false"},
            ext=ladder, tail=_timer("timeDate", due), label=(tx - 10, task.y + task.h + 20, 150, 40)))

    def _drawn_out(self, task_id: str, prefix: str, code: str, title: str, *, kind: str, responsible: str, due: str,
                   severities, amount, met_date, rule, legal_basis, basis, occurrence, resolve_when, awaits,
                   escalations: dict) -> None:
        """The warning construct drawn out (`--expanded`): what the engine makes of the ladder, drawn by hand as
        post_award was before ladders — per severity a boundary timer, an escalation throw and an end event."""
        task = self.nodes[task_id]
        esc_id = f"esc_{code.lower()}"
        escalations[esc_id] = (code, title)
        n = len(severities)
        offsets = {3: (20, 60, 100), 2: (40, 80)}[n]
        for index, severity in enumerate(severities):
            row = n - index  # the rightmost timer takes the top row
            tx = task.x + offsets[index]
            ry = task.y + task.h + ROW * row
            timer_value = {"yellow": f"before({due}, 3)", "orange": due, "red": f"after({due}, 30)"}[severity]
            timer = self.add(Node(
                f"{prefix}_timer_{severity}", "boundaryEvent", task.lane, tx - EVENT / 2, task.y + task.h - EVENT / 2,
                EVENT, EVENT, TIMER_NAME[severity],
                attrs={"attachedToRef": task_id, "cancelActivity": "false"},
                tail=_timer("timeDate", timer_value),
                label=(tx + 6, ry - 33, 120, 27)))
            throw_x, end_x = task.x + 250, task.x + 370
            alert_attrs = {"kind": kind, "severity": severity, "responsible": responsible}
            if rule:
                alert_attrs["rule"] = rule
            if legal_basis:
                alert_attrs["legal_basis"] = legal_basis
            if basis:
                alert_attrs["basis"] = basis
            alert_attrs["due"] = due
            for key, value in (("amount", amount), ("occurrence", occurrence), ("resolve_when", resolve_when),
                               ("met_date", met_date), ("awaits", awaits)):
                if value:
                    alert_attrs[key] = value
            throw = self.event(
                f"{prefix}_{severity}", f"{title} – {severity} ({SEVERITY_ZH[severity]})", task.lane,
                throw_x, ry, "intermediateThrowEvent",
                ext=_alert(alert_attrs), tail=f'<bpmn:escalationEventDefinition escalationRef="{esc_id}"/>')
            throw.label = (throw_x - 70, ry + 22, 140, 40)
            end = self.event(f"{prefix}_{severity}_end", "Warned (已预警)", task.lane, end_x, ry, "endEvent")
            end.label = (end_x - 35, ry + 22, 70, 27)
            self.flow(timer.id, throw.id, (tx, ry), start="bottom")
            self.flow(throw.id, end.id)

    def at_once_warning(self, node_id: str, code: str, title: str, escalations: dict, **alert_attrs) -> None:
        """A warning raised as soon as the token passes (no timer): the throw event exists already."""
        esc_id = f"esc_{code.lower()}"
        escalations[esc_id] = (code, title)
        node = self.nodes[node_id]
        node.ext = _alert(alert_attrs)
        node.tail = f'<bpmn:escalationEventDefinition escalationRef="{esc_id}"/>'


def _label_box(cx, cy, half, where, width):
    if where == "below":
        return (cx - width / 2, cy + half + 4, width, 40)
    if where == "above":
        return (cx - width / 2, cy - half - 44, width, 40)
    if where == "above-right":
        return (cx + 8, cy - half - 44, width, 40)
    if where == "below-right":
        return (cx + 8, cy + half + 2, width, 40)
    if where == "right":
        return (cx + half + 6, cy - 20, width, 40)
    raise ValueError(where)


def _timer(kind: str, expression: str) -> str:
    return (f'<bpmn:timerEventDefinition><bpmn:{kind} xsi:type="bpmn:tFormalExpression">{escape(expression)}'
            f'</bpmn:{kind}></bpmn:timerEventDefinition>')


def _alert(attrs: dict[str, str]) -> str:
    items = [f"{k}={quoteattr(v)}" for k, v in attrs.items()]
    head = " ".join(items[:3])  # kind, severity, responsible
    rest = "".join(f"\n             {item}" for item in items[3:])
    return f"<lvyue:alert {head}{rest}/>"


def form(*fields: str) -> str:
    return "<lvyue:form>\n" + "\n".join(fields) + "\n</lvyue:form>"


def fld(name: str, type_: str, label: str, required: bool = False, *children: str, **attrs: str) -> str:
    parts = [f'name="{name}"', f'type="{type_}"']
    if required:
        parts.append('required="true"')
    for key, value in attrs.items():
        parts.append(f'{key.rstrip("_")}={quoteattr(value)}')
    parts.append(f"label={quoteattr(label)}")
    head = "<lvyue:field " + " ".join(parts)
    if not children:
        return "  " + head + "/>"
    return "  " + head + ">\n" + "\n".join("  " + c for c in children) + "\n  </lvyue:field>"


# ------------------------------------------------------------------------------------ XML writer
NS = ('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"\n'
      '                  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"\n'
      '                  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"\n'
      '                  xmlns:di="http://www.omg.org/spec/DD/20100524/DI"\n'
      '                  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"\n'
      '                  xmlns:lvyue="http://lvyue.org/schema/bpmn/1.0"')


def _indent(text: str, n: int) -> str:
    pad = " " * n
    return "\n".join(pad + line if line else line for line in text.split("\n"))


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.1f}"


def _node_xml(p: Process, n: Node) -> str:
    attrs = [f'id="{n.id}"']
    if n.name:
        attrs.append(f"name={quoteattr(n.name)}")
    attrs += [f"{k}={quoteattr(v)}" for k, v in n.attrs.items()]
    body = []
    if n.doc:
        body.append(f"<bpmn:documentation>{escape(n.doc)}</bpmn:documentation>")
    if n.ext:
        body.append("<bpmn:extensionElements>\n" + _indent(n.ext, 2) + "\n</bpmn:extensionElements>")
    body += [f"<bpmn:incoming>{f.id}</bpmn:incoming>" for f in p.flows if f.tgt == n.id]
    body += [f"<bpmn:outgoing>{f.id}</bpmn:outgoing>" for f in p.flows if f.src == n.id]
    if n.tail:
        body.append(n.tail)
    body += [_node_xml(p, c) for c in p.nodes.values() if c.parent == n.id]
    body += [_flow_xml(f) for f in p.flows if f.parent == n.id]
    head = f"<bpmn:{n.tag} " + " ".join(attrs)
    if not body:
        return head + "/>"
    return head + ">\n" + _indent("\n".join(body), 2) + f"\n</bpmn:{n.tag}>"


def _flow_xml(f: Flow) -> str:
    attrs = [f'id="{f.id}"']
    if f.name:
        attrs.append(f"name={quoteattr(f.name)}")
    attrs += [f'sourceRef="{f.src}"', f'targetRef="{f.tgt}"']
    body = []
    if f.doc:
        body.append(f"<bpmn:documentation>{escape(f.doc)}</bpmn:documentation>")
    if f.cond:
        body.append(f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(f.cond)}</bpmn:conditionExpression>')
    head = "<bpmn:sequenceFlow " + " ".join(attrs)
    if not body:
        return head + "/>"
    return head + ">\n" + _indent("\n".join(body), 2) + "\n</bpmn:sequenceFlow>"


def _process_xml(p: Process) -> str:
    out = [f'<bpmn:process id="{p.id}" name={quoteattr(p.name)} isExecutable="true">',
           f"  <bpmn:documentation>{escape(p.doc)}</bpmn:documentation>",
           f'  <bpmn:laneSet id="laneset_{p.id}">']
    for lane in p.lanes:
        out.append(f'    <bpmn:lane id="{lane.id}" name="{lane.name}">')
        out += [f"      <bpmn:flowNodeRef>{n.id}</bpmn:flowNodeRef>" for n in p.nodes.values() if n.lane == lane.id]
        out.append("    </bpmn:lane>")
    out.append("  </bpmn:laneSet>")
    out += [_indent(_node_xml(p, n), 2) for n in p.nodes.values() if n.parent is None]
    out += [_indent(_flow_xml(f), 2) for f in p.flows if f.parent is None]
    out.append("</bpmn:process>")
    return "\n".join(out)


def _bounds(x, y, w, h) -> str:
    return f'<dc:Bounds x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(h)}"/>'


def _label(box) -> str:
    return f"<bpmndi:BPMNLabel>{_bounds(*box)}</bpmndi:BPMNLabel>" if box else ""


def _di_xml(processes: list[Process], plane_of: str, message_flows: list[tuple]) -> str:
    out = []
    for p in processes:
        out.append(f'<bpmndi:BPMNShape id="{p.pool_id}_di" bpmnElement="{p.pool_id}" isHorizontal="true">'
                   f"{_bounds(p.x, p.y, p.w, p.h)}</bpmndi:BPMNShape>")
        for lane in p.lanes:
            out.append(f'<bpmndi:BPMNShape id="{lane.id}_di" bpmnElement="{lane.id}" isHorizontal="true">'
                       f"{_bounds(p.x + 30, lane.y, p.w - 30, lane.h)}</bpmndi:BPMNShape>")
        for n in p.nodes.values():
            marker = ' isMarkerVisible="true"' if n.marker else ' isExpanded="true"' if n.expanded else ""
            out.append(f'<bpmndi:BPMNShape id="{n.id}_di" bpmnElement="{n.id}"{marker}>'
                       f"{_bounds(n.x, n.y, n.w, n.h)}{_label(n.label)}</bpmndi:BPMNShape>")
        for f in p.flows:
            wps = "".join(f'<di:waypoint x="{_num(x)}" y="{_num(y)}"/>' for x, y in f.points)
            out.append(f'<bpmndi:BPMNEdge id="{f.id}_di" bpmnElement="{f.id}">{wps}{_label(f.label)}</bpmndi:BPMNEdge>')
    for mf_id, _src, _tgt, points, label in message_flows:
        wps = "".join(f'<di:waypoint x="{_num(x)}" y="{_num(y)}"/>' for x, y in points)
        out.append(f'<bpmndi:BPMNEdge id="{mf_id}_di" bpmnElement="{mf_id}">{wps}{_label(label)}</bpmndi:BPMNEdge>')
    return ("<bpmndi:BPMNDiagram id=\"diagram_" + plane_of + "\">\n"
            f'  <bpmndi:BPMNPlane id="plane_{plane_of}" bpmnElement="{plane_of}">\n'
            + "\n".join("    " + line for line in out)
            + "\n  </bpmndi:BPMNPlane>\n</bpmndi:BPMNDiagram>")


@dataclass(frozen=True)
class Message:
    """A bpmn:message. `external`: postable from outside (POST /instances/{id}/messages/{name}, e.g. an
    e-guarantee platform's callback), declared with <lvyue:external/>; every other message is the engine's own."""
    id: str
    name: str
    external: bool = False
    doc: str | None = None


def _message_xml(m: Message) -> str:
    if not m.external and not m.doc:
        return f'  <bpmn:message id="{m.id}" name="{m.name}"/>'
    inner = [f"<bpmn:documentation>{escape(m.doc)}</bpmn:documentation>"] if m.doc else []
    if m.external:
        inner.append("<bpmn:extensionElements><lvyue:external/></bpmn:extensionElements>")
    return (f'  <bpmn:message id="{m.id}" name="{m.name}">\n' + "\n".join("    " + i for i in inner)
            + "\n  </bpmn:message>")


def write(path: Path, defs_id: str, target_ns: str, collab_id: str, processes: list[Process],
          escalations: dict, messages: list[Message] = (), message_flows: list[tuple] = (),
          signals: list[tuple[str, str]] = ()) -> None:
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<!-- Generated by bpmn/tools/layout.py: edit that script and run it, not this file. -->',
           f'<bpmn:definitions {NS}\n                  id="{defs_id}" targetNamespace="{target_ns}">']
    for message in messages:
        out.append(_message_xml(message))
    for signal_id, name in signals:
        out.append(f'  <bpmn:signal id="{signal_id}" name="{name}"/>')
    for esc_id, (code, title) in escalations.items():
        out.append(f'  <bpmn:escalation id="{esc_id}" name={quoteattr(title)} escalationCode="{code}"/>')
    out.append(f'  <bpmn:collaboration id="{collab_id}">')
    for p in processes:
        inner = []
        if p.pool_doc:
            inner.append(f"<bpmn:documentation>{escape(p.pool_doc)}</bpmn:documentation>")
        if p.multiplicity:
            inner.append(f'<bpmn:participantMultiplicity minimum="{p.multiplicity[0]}" maximum="{p.multiplicity[1]}"/>')
        head = f'    <bpmn:participant id="{p.pool_id}" name={quoteattr(p.pool_name)} processRef="{p.id}"'
        out.append(head + (">\n" + "\n".join("      " + i for i in inner) + "\n    </bpmn:participant>" if inner else "/>"))
    for mf_id, src, tgt, _points, _label_box_ in message_flows:
        name, msg = message_flows_meta[mf_id]
        out.append(f'    <bpmn:messageFlow id="{mf_id}" name={quoteattr(name)} sourceRef="{src}" targetRef="{tgt}" '
                   f'messageRef="{msg}"/>')
    out.append("  </bpmn:collaboration>")
    for p in processes:
        out.append(_indent(_process_xml(p), 2))
    out.append(_indent(_di_xml(processes, collab_id, list(message_flows)), 2))
    out.append("</bpmn:definitions>")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


message_flows_meta: dict[str, tuple[str, str]] = {}


# ------------------------------------------------------------------------------------ expressions
SIGNING_DUE = "deadline('R04' if track == 'tendering' else 'G03', award_notice_date)"
BID_BOND_DUE = "deadline('D03', signed_at) if track == 'tendering' else deadline('D07', signed_at)"
# Filing: government procurement files within 7 working days (G05, 《政府采购法》第四十七条). Tendering has no
# national filing deadline any more: 住建部令第43号 (2018) deleted the 7-day rule of 建设部令第89号 art 47
# (DOMAIN.md R06). L01 is the local setting of the jurisdiction (7 days by default, rule registry, verified L),
# applied under tendering whatever the category: a jurisdiction that requires no filing (or only for works)
# replaces or ends L01 in engine/rules.json rather than in this diagram.
# Both parties signed: the contractor confirmed the employer's text (post_award confirm_signature).
SIGNATURE_CONFIRMED = "signature_confirmed == True"
# The award's price (the start's contract_amount), period, quality and scope (award_terms) against the signed ones;
# the alert's basis names each field that departs, both values and the article of the contract's track.
_SIGNED_TERMS_ARGS = ("award_terms, contract_amount, signed_amount, signed_period_days, signed_quality, "
                      "signed_scope_sha256")
SIGNED_TERMS_DIFFER = f"signed_terms_differ({_SIGNED_TERMS_ARGS})"
SIGNED_TERMS_BASIS = (
    "{'rule': 'R04' if track == 'tendering' else 'G03', 'legal_basis': "
    f"signed_terms_difference({_SIGNED_TERMS_ARGS}) + ': ' + ('《中华人民共和国招标投标法》第四十六条第一款、"
    "《中华人民共和国招标投标法实施条例》第五十七条第一款' if track == 'tendering' else "
    "'《中华人民共和国政府采购法》第四十六条第一款')}")
CONTRACT_PUBLICATION_DUE = "deadline('G04', signed_at)"
# The tendering report (R03) runs from the winner's determination, which is the award notice's date here; the
# completion-acceptance filing (R07) from completion acceptance (confirm_completion's completed_at).
TENDERING_REPORT_DUE = "deadline('R03', award_notice_date)"
COMPLETION_FILING_DUE = "deadline('R07', completed_at)"
FILING_DUE = "deadline('G05', signed_at) if track == 'gov_procurement' else deadline('L01', signed_at)"
GUARANTEE_RELEASE_DUE = "deadline('Q07', completed_at)"
RETENTION_RELEASE_DUE = "deadline('Q04', requested_at)"
# The retention is a rate of the settlement price (138号 art 7): a works contract's settled price once there is one
# (`settled_price`, given by engine/supervision/alerts.py), else the contract amount.
RETENTION_AMOUNT = "(contract_amount if settled_price == None else settled_price) * retention_rate / 100"
DELIVERY_DUE = "end_of_day(milestone.planned_date)"
ACCEPTANCE_DUE = "add_days(delivered_at, acceptance_days)"
# The payment period runs from the acceptance date or, when acceptance is late, from the last day of
# the agreed acceptance period, whichever is earlier (P04), for the term of the payment basis fixed at
# the start (P01, P02 or the contract's own term: engine/supervision/payment_basis.py).
PAYMENT_DUE = "payment_deadline(payment_basis, delivered_at, accepted_at, acceptance_days)"
# The defect liability period in calendar months (民法典 arts 201–202). It ends on the same day of the
# month N months after completion, or on that month's last day when the month has no such day. The
# timer fires at 24:00 of that day. The expression computes
#   min(1st of the target month + d days, 1st of the following month)
# where d is the completion day of the month. Both operands are ISO instants in +08:00 with the same
# layout, so min() on them compares them in time order.
_Y = "int(str(completed_at)[:4])"
_M = "int(str(completed_at)[5:7])"
_D = "int(str(completed_at)[8:10])"
DLP_END = (
    "min(\n"
    f"  after(str({_Y} + ({_M} - 1 + defect_liability_months) // 12)\n"
    f"        + '-' + ('0' + str(({_M} - 1 + defect_liability_months) % 12 + 1))[-2:] + '-01T00:00:00+08:00',\n"
    f"        {_D}),\n"
    f"  str({_Y} + ({_M} + defect_liability_months) // 12)\n"
    f"  + '-' + ('0' + str(({_M} + defect_liability_months) % 12 + 1))[-2:] + '-01T00:00:00+08:00')")
# G07 caps all the supplements of a contract together: supplements_before is the total of the contract's earlier
# supplements, fixed at the start by engine/supervision/supplements.py (which refuses a proposal beyond the cap).
OVER_CAP = "track == 'gov_procurement' and supplements_before + change_amount > original_amount * Decimal('0.1')"
# G06 counts from the signing of the supplement (supplement_signed_at), not of the original contract
# (signed_at, from the start data).
CHANGE_PUBLICATION_DUE = "deadline('G06', supplement_signed_at)"
# A change of the contract's change ledger (engine/supervision/changes.py) counts from its acceptance: the day the
# contractor confirmed it (accepted_at), both parties having signed.
LEDGER_CHANGE_PUBLICATION_DUE = "deadline('G06', accepted_at)"
# The guarantor's confirmation is asked for wherever the contract binds a guarantor (an issuer connected to
# the platform) and the security is a guarantee, not cash. `guarantor` is None when no guarantor is bound.
ISSUER_ONLINE = "guarantor != None and guarantee_form != 'cash'"
GUARANTEE_WATCHED = "performance_guarantee_rate > 0 and " + ISSUER_ONLINE
# A guarantee's validity ends at 24:00 of valid_to; the contractor is warned 15 days before (yellow) while the
# obligation it secures still runs, the department at expiry (orange) and 30 days after (red).
VALIDITY_END = "end_of_day(valid_to)"
VALIDITY_WARNING = f"before({VALIDITY_END}, 15)"
# CL01 (rule registry): the period the guarantor has to pay a claim, counted from the claim's date.
CLAIM_DUE = "deadline('CL01', claim.claimed_at)"
# Works payments (engine/supervision/works_payments.py; expression functions of engine/supervision/timing.py).
PROGRESS_DUE = "progress_deadline(applied_at, measurement_verified_at)"
PROGRESS_OWED = "progress_due(application_value, confirmed_value, works, contract_amount)"
PROGRESS_PAID_IN_FULL = f"progress_paid_total >= {PROGRESS_OWED}"
SETTLEMENT_DUE = "settlement_deadline(settlement_value, settlement_submitted_at, settlement_reviewed_at)"
SETTLEMENT_OWED = "settlement_payable(settlement_value, settled_value, retention_rate)"
SETTLEMENT_PAID_IN_FULL = f"contract_paid_total >= {SETTLEMENT_OWED}"

BASIS_SIGNING = ("招投标：《中华人民共和国招标投标法》第四十六条第一款（R04）；"
                 "政府采购：《中华人民共和国政府采购法》第四十六条第一款（G03）")
BASIS_BID_BOND = ("招投标：《中华人民共和国招标投标法实施条例》第五十七条第二款（D03）；"
                  "政府采购：《中华人民共和国政府采购法实施条例》第三十三条（D07）")
BASIS_FILING = ("政府采购：《中华人民共和国政府采购法》第四十七条（G05）；"
                "招投标：地方规定，按辖区配置（L01）")
BASIS_ALTERED = ("招投标：《中华人民共和国招标投标法实施条例》第五十七条第一款；"
                 "政府采购：《中华人民共和国政府采购法》第五十条")
BASIS_DELIVERY = "合同约定的履约节点；《中华人民共和国民法典》第五百零九条第一款"
BASIS_ACCEPTANCE = "合同约定的验收期限；《保障中小企业款项支付条例》（国务院令第802号）第十条"
BASIS_OVER_CAP = "《中华人民共和国政府采购法》第四十九条（G07）；罚则：《中华人民共和国政府采购法实施条例》第六十七条第（五）项"
BASIS_VALIDITY = ("履约担保须在所担保的义务履行完毕前有效（合同约定）；履约保证金：《中华人民共和国招标投标法实施条例》"
                  "第五十八条 / 《中华人民共和国政府采购法实施条例》第四十八条")
BASIS_REFUSAL = ("《中华人民共和国招标投标法实施条例》第七十四条（中标人无正当理由不与招标人订立合同或者不按照招标文件要求提交"
                 "履约保证金的，取消其中标资格，投标保证金不予退还）")


# ------------------------------------------------------------------------------------ post_award
def post_award() -> None:
    esc: dict = {}
    X0 = 100
    # rows (centre y). The main path (award → signing → confirmation → filing → publication → payments → completion
    # → guarantee release) is one band about 800 px high, readable at 100 % on a 1440 × 900 screen scrolled sideways
    # (tests/integration/test_post_award_layout.py): the supervisor's review on top, the employer's rows packed two
    # branches a row where their x ranges do not meet (filing | guarantee release, publication | retention), the
    # contractor's confirmation on the contractor lane's first row. A warning is one ladder on its task's bottom edge.
    S = 176            # supervisor lane (the filing review, at the bottom of its lane)
    ET = 220           # top of the employer lane
    F = ET + 58        # filing; right of the completion: the performance guarantee release
    BR = F
    T = F + 137        # the signed terms and the publication; right of the completion: the retention
    R = T
    M = T + 135        # main line (award, signing, milestones, completion)
    MS = M             # the milestones receive task, on the main line after the fork
    B = M + 125        # bid bond branch; right of the completion: the completion filing (R07)
    WK = B + 105       # the works payments receive task
    KT = WK + 50       # top of the contractor lane (the employer lane's bottom)
    C = KT + 45        # contractor lane: the guarantee, the confirmation of the signature, the validity watch
    main = Process(
        "post_award", "Post-award supervision (履约监管)",
        "Post-award supervision of a contract awarded by tendering or government procurement: signing "
        "(《招标投标法》第四十六条 / 《政府采购法》第四十六条), bid bond refund (《招标投标法实施条例》第五十七条 / "
        "《政府采购法实施条例》第三十三条), filing (《政府采购法》第四十七条), milestones paid under "
        "《保障中小企业款项支付条例》, guarantee and retention release (《建设工程质量保证金管理办法》).",
        "pool_post_award", "Post-award supervision (履约监管)", X0, 60, 3750)
    C2 = C + 100       # contractor lane, second row
    GT = C2 + 80       # top of the guarantor lane
    G = GT + 110       # guarantor lane
    main.lanes = [Lane("lane_supervisor", "supervisor", 60, ET - 60), Lane("lane_employer", "employer", ET, KT - ET),
                  Lane("lane_contractor", "contractor", KT, GT - KT), Lane("lane_guarantor", "guarantor", GT, 500)]
    E, K, V, GL = "lane_employer", "lane_contractor", "lane_supervisor", "lane_guarantor"

    # -- award → guarantee → signing
    main.event("award_notice_issued", "Award notice issued (中标通知书发出)", E, 200, M, "startEvent",
               doc="The contract enters supervision when the award notice is issued (《招标投标法》第四十五条 / "
                   "《政府采购法实施条例》第四十三条); roles employer, contractor, guarantor, department are bound by the engine.",
               ext=form(
                   fld("project_code", "string", "项目编号", True),
                   fld("project_name", "string", "项目名称", True),
                   fld("track", "enum", "交易类型（招投标/政府采购）", True, values="tendering,gov_procurement"),
                   fld("category", "enum", "项目类别（工程/货物/服务）", True, values="works,goods,services"),
                   fld("award_notice_date", "date", "中标（成交）通知书发出日期", True),
                   fld("contract_amount", "decimal", "合同金额（元）", True, min="0.01"),
                   fld("bid_bond", "object", "投标保证金", True,
                       fld("amount", "decimal", "金额（元）"),
                       fld("form", "enum", "形式（现金/电子保函/免交/信用承诺函/不收取）", True,
                           values="cash,e_guarantee,exempt,commitment_letter,not_required")),
                   fld("performance_guarantee_rate", "number", "履约保证金比例（%，无则 0）", True, min="0", max="100"),
                   fld("retention_rate", "number", "质量保证金比例（%，无则 0）", True, min="0", max="100"),
                   fld("defect_liability_months", "integer", "缺陷责任期（月）"),
                   fld("payment_term_days", "integer", "付款期限（日）"),
                   fld("late_interest_percent_per_day", "number", "约定逾期利率（%/日）", min="0"),
                   fld("funding_source", "enum", "资金来源", False,
                       values="fiscal_budget,special_bonds,state_owned,self_raised,mixed"),
                   fld("tendering_reported_at", "date", "招标投标情况书面报告日期（已报告时，R03）"),
                   fld("award_terms", "object", "中标（成交）的工期、质量和范围（签约时比对）", False,
                       fld("period_days", "integer", "工期/履行期限（天）", min="1", max="3650"),
                       fld("quality", "string", "质量标准"),
                       fld("scope_sha256", "sha256", "范围文件哈希")),
                   fld("acceptance_days", "integer", "验收期限（日）", True),
                   fld("milestones", "list", "履约节点（按节点付款时必填）", False,
                       fld("name", "string", "节点名称", True),
                       fld("amount", "decimal", "节点金额（元）", True, min="0.01"),
                       fld("planned_date", "date", "计划完成日期", True)),
                   fld("payment_terms", "object", "付款条款（工程预付款、进度款、竣工结算；周期性付款）", False,
                       fld("advance", "object", "预付款", False, fld("percent", "decimal", "预付比例（%）", True)),
                       fld("works_start_date", "date", "约定开工日期"),
                       fld("progress", "object", "进度款", False, fld("percent", "decimal", "支付比例（%）", True)),
                       fld("settlement", "boolean", "竣工结算"),
                       fld("periodic", "object", "周期性付款", False,
                           fld("amount", "decimal", "每期金额（元）", True),
                           fld("every_months", "integer", "间隔（月）", True),
                           fld("first_due", "date", "首期日期", True),
                           fld("count", "integer", "期数", True)))))
    main.gateway("gw_guarantee_required", "Performance guarantee required? (需提交履约保证金?)", E, 300, M,
                 label="above", width=150)
    main.gateway("gw_guarantee_resubmit", None, K, 300, C)
    main.task("submit_performance_guarantee", "Submit the guarantee (提交履约保证金)", K, 350, C,
              doc="Performance guarantee before signing, at most 10% of the contract amount: "
                  "《招标投标法实施条例》第五十八条 / 《政府采购法实施条例》第四十八条 (caps checked by the engine).",
              ext=form(
                  fld("guarantee_no", "string", "保函/保单编号"),
                  fld("issuer", "string", "出具机构"),
                  fld("form", "enum", "形式（银行保函/保证保险/担保公司保函/现金）", True,
                      values="bank_guarantee,insurance_policy,guarantee_company,cash", as_="guarantee_form"),
                  fld("amount", "decimal", "金额（元）", True, min="0", as_="guarantee_amount"),
                  fld("valid_to", "date", "有效期至"),
                  fld("document_sha256", "sha256", "保函或缴款凭证哈希", as_="guarantee_document_sha256"),
                  fld("verification_code", "string", "验真码", as_="guarantee_verification_code")))
    main.gateway("gw_guarantee_verification", "Issuer online? (出函机构在线验真?)", K, 520, C, label="below-right",
                 width=130)
    main.task("verify_guarantee", "Verify the guarantee (保函验真)", GL, 560, G,
              doc="The issuer confirms number, amount, validity and document hash of the guarantee the contractor "
                  "submitted (验真: DOMAIN.md §2.2 step 5); a confirmation that differs from the submission is refused "
                  "field by field, a refusal (verified = false) sends the contractor to submit again. The e-guarantee "
                  "platform confirms the same by its signed callback (POST /instances/{id}/messages/guarantee_issued).",
              ext=form(
                  fld("guarantee_no", "string", "保函编号", True, as_="verified_guarantee_no"),
                  fld("amount", "decimal", "担保金额（元）", False, min="0", as_="verified_amount"),
                  fld("valid_to", "date", "有效期至", False, as_="verified_valid_to"),
                  fld("document_sha256", "sha256", "保函文件哈希", False, as_="verified_document_sha256"),
                  fld("verification_code", "string", "验真码", False, as_="verified_verification_code"),
                  fld("verified", "boolean", "验真结论（真实有效）", True, as_="guarantee_verified"),
                  fld("note", "text", "说明", as_="verification_note")))
    main.gateway("gw_guarantee_verified", "Verified? (验真通过?)", GL, 760, G, label="above-right", width=110)
    main.gateway("gw_guarantee_accepted", None, K, 590, C)
    main.event("guarantee_refused", None, K, 410, C + 40, "boundaryEvent",
               attrs={"attachedToRef": "submit_performance_guarantee"},
               tail='<bpmn:messageEventDefinition messageRef="msg_award_refused"/>')
    main.event("award_forfeited_no_guarantee", "Award forfeited (取消中标资格)", K, 410, C2, "endEvent",
               doc="The contractor did not give the performance guarantee (" + BASIS_REFUSAL + "); the bid guarantee "
                   "is claimed (guarantee_claimed).")
    main.gateway("gw_guarantee_merge", None, E, 590, M)
    main.task("sign_contract", "Sign the contract (签订合同)", E, 640, M,
              doc="Sign the written contract within 30 days of the award notice, on the terms of the tender and "
                  "the winning bid: 《招标投标法》第四十六条第一款 (R04) / 《政府采购法》第四十六条第一款 (G03).",
              ext=form(
                  fld("signed_at", "date", "签订日期", True),
                  fld("contract_no", "string", "合同编号", True),
                  fld("document_sha256", "sha256", "合同文本哈希", True, as_="signed_document_sha256"),
                  fld("amount", "decimal", "签约金额（元）", True, min="0", as_="signed_amount"),
                  # required where the award states them (award_terms; plausibility), compared with them
                  fld("period_days", "integer", "工期/履行期限（天）", min="1", max="3650", as_="signed_period_days"),
                  fld("quality", "string", "质量标准", as_="signed_quality"),
                  fld("scope_sha256", "sha256", "范围文件哈希（工程量清单/采购清单）", as_="signed_scope_sha256")))
    # The obligation is a contract signed by both parties: the employer's timers raise it, the contractor's
    # confirmation meets it (awaits confirm_signature), so completing sign_contract alone resolves nothing.
    main.warning("sign_contract", "signing", "SIGNING_OVERDUE", "Signing overdue (签约逾期)", kind="non_performance",
                 responsible="employer", due=SIGNING_DUE, legal_basis=BASIS_SIGNING, met_date="signature_confirmed_at",
                 awaits="confirm_signature", resolve_when=SIGNATURE_CONFIRMED, escalations=esc)
    main.event("signing_refused", None, E, 700, M - 40, "boundaryEvent", attrs={"attachedToRef": "sign_contract"},
               tail='<bpmn:messageEventDefinition messageRef="msg_award_refused"/>')
    main.event("award_forfeited", "Award forfeited (取消中标资格)", E, 700, M - 120, "endEvent", label="right",
               doc="The contractor refused to sign (" + BASIS_REFUSAL + "): the beneficiary's claim on the bid guarantee "
                   "delivers award_refused, which ends the signing here; the claim goes on in claim_subprocess.")

    # the tendering report (R03) runs from the winner's determination, whatever the signing does: a second flow
    # out of the start event (an uncontrolled parallel split), up the lane's left edge where nothing else is drawn
    RT = M - 180
    main.gateway("gw_tendering_report", "Tendering, not yet reported? (招标投标且未报告?)", E, 200, RT,
                 label="above-right", width=170)
    main.event("no_tendering_report", None, E, 200, RT - 110, "endEvent")
    main.task("report_tendering", "Report on the tendering (招标投标情况书面报告)", E, 260, RT,
              doc="The employer reports in writing on the tendering to the supervising department within 15 days of "
                  "determining the winner (《招标投标法》第四十七条, R03; counted from the award notice's date, "
                  "alongside the signing); TENDERING_REPORT_OVERDUE otherwise. A government procurement contract has "
                  "no such report.",
              ext=form(
                  fld("reported_at", "date", "报告日期", True, as_="tendering_reported_at"),
                  fld("document_sha256", "sha256", "书面报告哈希", as_="tendering_report_sha256")))
    main.warning("report_tendering", "tendering_report", "TENDERING_REPORT_OVERDUE",
                 "Tendering report overdue (招标投标情况书面报告逾期)", kind="non_performance", responsible="employer",
                 due=TENDERING_REPORT_DUE, severities=("orange", "red"), rule="R03",
                 met_date="tendering_reported_at", escalations=esc)
    main.event("tendering_reported", "Reported (已报告)", E, 460, RT, "endEvent")
    main.flow("award_notice_issued", "gw_tendering_report", start="top", end="bottom")
    main.flow("gw_tendering_report", "report_tendering", id="flow_tendering_report", name="yes (是)",
              cond="track == 'tendering' and tendering_reported_at is None", label=(226, RT - 22, 30, 20))
    f = main.flow("gw_tendering_report", "no_tendering_report", id="flow_no_tendering_report", name="no (否)",
                  start="top", end="bottom", label=(160, RT - 60, 40, 20))
    main.default("gw_tendering_report", f)
    main.flow("report_tendering", "tendering_reported")
    f = main.flow("award_notice_issued", "gw_guarantee_required")
    f = main.flow("gw_guarantee_required", "gw_guarantee_resubmit", id="flow_guarantee_required",
                  name="yes (是)", cond="performance_guarantee_rate > 0", start="bottom", end="top",
                  label=(306, M + 40, 60, 20))
    f = main.flow("gw_guarantee_required", "gw_guarantee_merge", id="flow_no_guarantee", name="no (否)",
                  label=(400, M - 22, 60, 20))
    main.default("gw_guarantee_required", f)
    main.flow("gw_guarantee_resubmit", "submit_performance_guarantee")
    main.flow("submit_performance_guarantee", "gw_guarantee_verification")
    main.flow("gw_guarantee_verification", "verify_guarantee", (520, G), id="flow_issuer_online", name="yes (是)",
              cond=ISSUER_ONLINE, start="bottom", label=(470, C + 40, 50, 20))
    f = main.flow("gw_guarantee_verification", "gw_guarantee_accepted", id="flow_issuer_offline", name="no (否)")
    main.default("gw_guarantee_verification", f)
    main.flow("verify_guarantee", "gw_guarantee_verified")
    main.flow("gw_guarantee_verified", "gw_guarantee_accepted", (760, C), id="flow_guarantee_verified",
              name="verified (真实有效)", cond="guarantee_verified == True", start="top", end="right",
              label=(650, C + 70, 105, 20))
    f = main.flow("gw_guarantee_verified", "gw_guarantee_resubmit", (760, G + 70), (300, G + 70),
                  id="flow_guarantee_not_verified", name="refused: submit again (验真未通过，重新提交)", start="bottom",
                  end="bottom", label=(420, G + 74, 260, 20))
    main.default("gw_guarantee_verified", f)
    main.flow("gw_guarantee_accepted", "gw_guarantee_merge", start="top", end="bottom")
    main.flow("guarantee_refused", "award_forfeited_no_guarantee", start="bottom", end="top")
    main.flow("gw_guarantee_merge", "sign_contract")
    main.flow("signing_refused", "award_forfeited", start="top", end="bottom")

    # -- the contractor confirms the text the employer signed (contractor lane, row C): both signatures make the
    # contract; a refusal (e.g. the text departs from the award) sends it back to the employer to sign again.
    main.task("confirm_signature", "Confirm the signature (中标人确认签订)", K, 820, C,
              doc="The contractor signs the same text: it confirms the document hash the employer entered (the engine "
                  "refuses another hash, 422 on data.document_sha256) or refuses with a reason, which returns the "
                  "contract to the employer. The contract is signed only when both have signed (《民法典》第四百九十条; "
                  "《招标投标法》第四十六条 / 《政府采购法》第四十六条); SIGNING_OVERDUE runs until then.",
              ext=form(
                  fld("confirmed", "boolean", "确认签订（否：拒绝并说明理由）", True, as_="signature_confirmed"),
                  fld("confirmed_at", "date", "签订（确认）日期", True, as_="signature_confirmed_at"),
                  fld("document_sha256", "sha256", "合同文本哈希（须与发包方签订文本一致）", True,
                      as_="contractor_document_sha256"),
                  fld("reason", "text", "拒绝理由", as_="signature_refusal_reason")))
    main.warning("confirm_signature", "confirmation", "SIGNING_OVERDUE", "Signing overdue (签约逾期)",
                 kind="non_performance", responsible="contractor", due=SIGNING_DUE, severities=("orange", "red"),
                 legal_basis=BASIS_SIGNING, met_date="signature_confirmed_at", awaits="confirm_signature",
                 resolve_when=SIGNATURE_CONFIRMED, escalations=esc)
    main.event("confirmation_refused", None, K, 850, C + 40, "boundaryEvent", attrs={"attachedToRef": "confirm_signature"},
               tail='<bpmn:messageEventDefinition messageRef="msg_award_refused"/>')
    main.event("award_forfeited_unconfirmed", "Award forfeited (取消中标资格)", K, 850, C + 130, "endEvent", label="right",
               doc="The contractor refused to sign (" + BASIS_REFUSAL + "), established as at sign_contract.")
    main.gateway("gw_signature_confirmed", "Confirmed? (中标人确认?)", K, 1000, C, label="below", width=110)
    main.flow("sign_contract", "confirm_signature", (790, M), (790, C))
    main.flow("confirm_signature", "gw_signature_confirmed")
    main.flow("confirmation_refused", "award_forfeited_unconfirmed", start="bottom", end="top")
    f = main.flow("gw_signature_confirmed", "gw_guarantee_merge", (1000, B), (627, B), (627, M - 70),
                  (590, M - 70), id="flow_signature_refused", name="refused: sign again (拒绝，重新签订)", start="top",
                  end="top", label=(800, B - 22, 190, 20))
    main.default("gw_signature_confirmed", f)

    # -- after signing: branches in parallel. Completion (confirm_completion) waits for the filing only; the
    # payments (bid bond refund, every milestone paid) join the completion branch at the very end, so the
    # employer's arrears never hold up the defect liability period and the guarantee releases.
    main.gateway("fork_after_signing", None, E, 1090, M, tag="parallelGateway")
    main.gateway("join_payments", None, E, 2250, B, tag="parallelGateway")
    main.gateway("join_contract_end", None, E, 3670, M, tag="parallelGateway")
    main.flow("gw_signature_confirmed", "fork_after_signing", (1050, C), (1050, M), id="flow_signature_confirmed",
              name="yes (是)", cond=SIGNATURE_CONFIRMED, label=(1056, C - 40, 30, 30))

    # the signed terms against the award, then publication (GP, G04): a branch of its own, along the lane's top row T
    main.gateway("gw_signed_terms", "Signed as awarded? (签约条款与中标一致?)", E, 1190, T, label="above", width=150)
    main.event("signed_terms_differ", "Signed terms differ from the award (签约条款与中标不一致)", E, 1290, T + 70,
               "intermediateThrowEvent",
               doc="The contract must be signed on the terms of the tender and the winning bid: price, period, quality "
                   "and scope (《招标投标法》第四十六条、《招标投标法实施条例》第五十七条第一款 / 《政府采购法》第四十六条). "
                   "The award's price is the start's contract_amount, its period, quality and scope the start's "
                   "award_terms; the signed ones sign_contract's. Raised at once (red), naming each field and both "
                   "values in the alert's legal basis; it stays open until the "
                   "department resolves or confirms it (a contract is not signed again once both parties signed).")
    main.nodes["signed_terms_differ"].label = (1236, T + 90, 170, 40)
    main.at_once_warning("signed_terms_differ", "SIGNED_TERMS_DIFFER",
                         "Signed terms differ from the award (签约条款与中标不一致)", esc,
                         kind="non_performance", severity="red", responsible="employer", basis=SIGNED_TERMS_BASIS,
                         due=SIGNING_DUE, awaits="sign_contract", resolve_when=f"not ({SIGNED_TERMS_DIFFER})",
                         met_date="signed_at")
    main.gateway("gw_signed_terms_merge", None, E, 1390, T)
    main.gateway("gw_publication", "GP contract? (政府采购合同?)", E, 1460, T, label="below-right", width=100)
    main.event("no_publication", None, E, 1460, T + 80, "endEvent")
    main.task("publish_contract", "Publish the contract (合同公告)", E, 1560, T,
              doc="A government procurement contract is published on the designated media within 2 working days of "
                  "signing (《政府采购法实施条例》第五十条, G04); CONTRACT_PUBLICATION_OVERDUE otherwise.",
              ext=form(
                  fld("published_at", "date", "公告日期", True, as_="contract_published_at"),
                  fld("url", "string", "公告网址", True, as_="contract_publication_url")))
    main.warning("publish_contract", "contract_publication", "CONTRACT_PUBLICATION_OVERDUE",
                 "Contract publication overdue (合同公告逾期)", kind="non_performance", responsible="employer",
                 due=CONTRACT_PUBLICATION_DUE, severities=("orange", "red"), rule="G04",
                 met_date="contract_published_at", escalations=esc)
    main.event("contract_published", "Contract published (合同已公告)", E, 1760, T, "endEvent")
    main.nodes["contract_published"].label = (1705, T + 20, 110, 36)
    main.flow("fork_after_signing", "gw_signed_terms", (1090, T), start="top")
    main.flow("gw_signed_terms", "signed_terms_differ", (1190, T + 70), id="flow_signed_terms_differ",
              name="no (不一致)", cond=SIGNED_TERMS_DIFFER, start="bottom", label=(1196, T + 32, 60, 20))
    f = main.flow("gw_signed_terms", "gw_signed_terms_merge", id="flow_signed_as_awarded", name="yes (一致)",
                  label=(1230, T - 22, 70, 20))
    main.default("gw_signed_terms", f)
    main.flow("signed_terms_differ", "gw_signed_terms_merge", (1390, T + 70), end="bottom")
    main.flow("gw_signed_terms_merge", "gw_publication")
    main.flow("gw_publication", "publish_contract", id="flow_publication_required", name="yes (是)",
              cond="track == 'gov_procurement'", label=(1490, T - 22, 50, 20))
    f = main.flow("gw_publication", "no_publication", id="flow_no_publication", name="no (否)", start="bottom",
                  end="top", label=(1418, T + 34, 40, 20))
    main.default("gw_publication", f)
    main.flow("publish_contract", "contract_published")

    # the validity of the performance e-guarantee while the contract is performed (contractor lane, row C)
    main.gateway("gw_guarantee_watch", "E-guarantee in force? (电子保函在保?)", K, 1180, C, label="below-right", width=140)
    main.event("guarantee_not_watched", None, K, 1180, C2, "endEvent")
    main.gateway("gw_watch_loop", None, K, 1270, C)
    main.gateway("guarantee_watch", None, K, 1360, C, tag="eventBasedGateway")
    main.event("guarantee_expiry_near", "15 days before expiry (有效期届满前15日)", K, 1450, C, "intermediateCatchEvent",
               label="above", tail=_timer("timeDate", VALIDITY_WARNING))
    main.event("guarantee_expiring", "Guarantee expiring – yellow (保函即将到期，黄色预警)", K, 1540, C,
               "intermediateThrowEvent",
               doc="The guarantee's validity ends in 15 days while the contract is still being performed: the "
                   "contractor renews it (保函展期) or gives a new one. Raised at once, to the contractor; the employer "
                   "sees it on the guarantee (GET /guarantees/{id}). Resolves when renew_guarantee is completed.")
    main.nodes["guarantee_expiring"].label = (1490, C + 22, 124, 40)
    main.nodes["guarantee_expiry_near"].label = (1395, C + 22, 92, 40)
    main.at_once_warning("guarantee_expiring", "GUARANTEE_EXPIRING", "Guarantee expiring (保函即将到期)", esc,
                         kind="non_performance", severity="yellow", responsible="contractor",
                         legal_basis=BASIS_VALIDITY, due=VALIDITY_END, awaits="renew_guarantee",
                         occurrence="str(valid_to)", met_date="renewed_at")
    main.task("renew_guarantee", "Renew the guarantee (保函展期)", K, 1620, C,
              doc="Extend the guarantee's validity beyond the obligation it secures (or give a new guarantee); the "
                  "engine refuses a validity that does not end later than the one it replaces.",
              ext=form(
                  fld("renewed_at", "date", "展期日期", True),
                  fld("valid_to", "date", "新的有效期至", True),
                  fld("guarantee_no", "string", "保函编号（换开新函时填写）"),
                  fld("document_sha256", "sha256", "展期（新函）文件哈希", True, as_="guarantee_document_sha256")))
    main.warning("renew_guarantee", "guarantee_expiry", "GUARANTEE_EXPIRING", "Guarantee expiring (保函即将到期)",
                 kind="non_performance", responsible="contractor", due=VALIDITY_END, severities=("orange", "red"),
                 legal_basis=BASIS_VALIDITY, occurrence="str(valid_to)", met_date="renewed_at", escalations=esc)
    main.event("renewal_overtaken", None, K, 1740, C, "boundaryEvent",
               attrs={"attachedToRef": "renew_guarantee"},
               tail='<bpmn:signalEventDefinition signalRef="sig_performance_completed"/>')
    main.event("renewal_not_needed", "Performance completed (履约完成)", K, 1820, C, "endEvent", label="right")
    main.event("guarantee_watch_ended", "Performance completed (履约完成)", K, 1430, C2 + 15, "intermediateCatchEvent",
               tail='<bpmn:signalEventDefinition signalRef="sig_performance_completed"/>')
    main.event("guarantee_watch_end", None, K, 1510, C2 + 15, "endEvent")
    main.flow("fork_after_signing", "gw_guarantee_watch", (1090, C), start="bottom")
    main.flow("gw_guarantee_watch", "gw_watch_loop", id="flow_guarantee_watched", name="yes (是)",
              cond=GUARANTEE_WATCHED)
    f = main.flow("gw_guarantee_watch", "guarantee_not_watched", id="flow_guarantee_not_watched", name="no (否)",
                  start="bottom", end="top", label=(1140, C + 30, 40, 20))
    main.default("gw_guarantee_watch", f)
    main.flow("gw_watch_loop", "guarantee_watch")
    main.flow("guarantee_watch", "guarantee_expiry_near")
    main.flow("guarantee_expiry_near", "guarantee_expiring")
    main.flow("guarantee_expiring", "renew_guarantee")
    main.flow("renew_guarantee", "gw_watch_loop", (1680, C + 68), (1270, C + 68), start="bottom", end="bottom",
              name="renewed: watch the new validity (已展期)", label=(1460, C + 70, 240, 20))
    main.flow("renewal_overtaken", "renewal_not_needed")
    main.flow("guarantee_watch", "guarantee_watch_ended", (1360, C2 + 15), start="bottom")
    main.flow("guarantee_watch_ended", "guarantee_watch_end")

    # the beneficiary's claims on a guarantee: one event subprocess instance per claim (guarantor lane)
    main.add(Node("claim_subprocess", "subProcess", GL, 900, GT + 40, 720, 430, "Guarantee claim (保函索赔)",
                  attrs={"triggeredByEvent": "true"}, expanded=True,
                  doc="Started by the engine (guarantee_claimed) when the beneficiary files a claim on a guarantee "
                      "after the non-performance is confirmed: the contractor refused to sign (" + BASIS_REFUSAL + "), "
                      "or the department confirmed a red non-performance alert. Data: claim = {id, no, guarantee_id, "
                      "kind, reason, amount, claimed_at}."))
    with main.inside("claim_subprocess"):
        main.event("claim_filed", "Claim filed (受益人索赔)", GL, 960, GT + 120, "startEvent", attrs={"isInterrupting": "false"},
                   tail='<bpmn:messageEventDefinition messageRef="msg_guarantee_claimed"/>')
        main.task("pay_claim", "Pay the claim (保函赔付)", GL, 1030, GT + 120,
                  doc="The guarantor pays a conforming claim within the period of the guarantee, by default CL01 "
                      "(rule registry) from the claim's date; it pays the sum claimed.",
                  ext=form(
                      fld("paid_at", "date", "赔付日期", True, as_="claim_paid_at"),
                      fld("amount", "decimal", "赔付金额（元）", True, min="0", as_="claim_paid_amount"),
                      fld("reference", "string", "付款凭证号", as_="claim_payment_reference")))
        main.warning("pay_claim", "claim_payment", "CLAIM_UNPAID", "Claim unpaid (保函索赔未赔付)", kind="arrears",
                     responsible="guarantor", due=CLAIM_DUE, severities=("orange", "red"), rule="CL01",
                     amount="claim.amount", occurrence="claim.id", met_date="claim_paid_at", escalations=esc)
        main.event("claim_settled", "Claim paid (已赔付)", GL, 1280, GT + 120, "endEvent")
        main.flow("claim_filed", "pay_claim")
        main.flow("pay_claim", "claim_settled")

    # bid bond refund (row B)
    main.gateway("gw_bid_bond", "Bid bond to refund? (需退还投标保证金?)", E, 1190, B, width=140)
    main.task("release_bid_bond", "Refund the bid bond (退还投标保证金)", E, 1270, B,
              doc="Refund the bid bond with bank deposit interest within 5 days of signing (《招标投标法实施条例》"
                  "第五十七条第二款, D03) / within 5 working days (《政府采购法实施条例》第三十三条, D07).",
              ext=form(
                  fld("released_at", "date", "退还日期", True),
                  fld("amount", "decimal", "退还金额（元）", True, min="0", as_="bid_bond_released_amount"),
                  fld("interest", "decimal", "同期存款利息（元）", min="0")))
    main.warning("release_bid_bond", "bid_bond_refund", "BID_BOND_REFUND_OVERDUE",
                 "Bid bond refund overdue (投标保证金退还逾期)", kind="arrears", responsible="employer",
                 due=BID_BOND_DUE, amount="bid_bond.amount", legal_basis=BASIS_BID_BOND, met_date="released_at",
                 escalations=esc)
    main.gateway("gw_bid_bond_merge", None, E, 1520, B)
    main.flow("fork_after_signing", "gw_bid_bond", (1090, B), start="bottom")
    main.flow("gw_bid_bond", "release_bid_bond", id="flow_bid_bond_to_refund", name="yes (是)",
              cond="bid_bond.form in ('cash', 'e_guarantee')", label=(1220, B - 22, 50, 20))
    f = main.flow("gw_bid_bond", "gw_bid_bond_merge", (1190, B - 70), (1520, B - 70), id="flow_bid_bond_exempt",
                  name="no money posted (免交/承诺函/不收取)", start="top", end="top", label=(1200, B - 92, 200, 20))
    main.default("gw_bid_bond", f)
    main.flow("release_bid_bond", "gw_bid_bond_merge")
    main.flow("gw_bid_bond_merge", "join_payments")

    # filing (row F), altered-text check, supervisor review loop
    main.gateway("gw_filing_loop", None, E, 1190, F)
    main.task("file_contract", "File the contract (合同备案)", E, 1270, F,
              doc="File a copy of the contract within 7 working days of signing (《政府采购法》第四十七条, G05). "
                  "Tendering has no national filing deadline since 住建部令第43号 deleted 建设部令第89号第四十七条 "
                  "(DOMAIN.md R06): the deadline is the jurisdiction's local setting L01 (7 days by default), "
                  "for every category under tendering; a jurisdiction without it ends L01 in the rule registry.",
              ext=form(
                  fld("filed_at", "date", "备案日期", True),
                  fld("document_sha256", "sha256", "备案合同文本哈希", True, as_="filed_document_sha256")))
    main.warning("file_contract", "filing", "FILING_OVERDUE", "Filing overdue (合同备案逾期)", kind="non_performance",
                 responsible="employer", due=FILING_DUE, legal_basis=BASIS_FILING, met_date="filed_at",
                 escalations=esc)
    main.gateway("gw_contract_altered", "Filed text = signed text? (备案文本与签订文本一致?)", E, 1720, F,
                 label="above", width=150)
    main.event("contract_altered", "Filed contract differs from the signed one (备案合同与签订合同不一致)", E,
               1820, F + 100, "intermediateThrowEvent",
               doc="The filed text must be the signed contract; no side agreement departing from it "
                   "(《招标投标法实施条例》第五十七条第一款 / 《政府采购法》第五十条). Raised at once, then the filing goes on to review; "
                   "it resolves when file_contract is next completed with the signed text (the supervisor returns the "
                   "filing, the employer files again). Its due is the filing deadline (G05 / L01): the signed text was "
                   "to be filed by then.")
    main.nodes["contract_altered"].label = (1842, F + 54, 160, 40)
    main.at_once_warning("contract_altered", "CONTRACT_ALTERED",
                         "Filed contract differs from the signed one (备案合同与签订合同不一致)", esc,
                         kind="non_performance", severity="red", responsible="employer",
                         legal_basis=BASIS_ALTERED, due=FILING_DUE, awaits="file_contract",
                         resolve_when="filed_document_sha256 == signed_document_sha256", met_date="filed_at")
    main.gateway("gw_altered_merge", None, E, 1920, F)
    main.task("review_filing", "Review the filing (备案审查)", V, 1970, S,
              doc="The supervising department checks the filed copy against the signed contract (《政府采购法》第四十七条; "
                  "works: the local filing rule, L01); a returned filing is filed again.",
              ext=form(
                  fld("decision", "enum", "审查结论（通过/退回）", True, values="accepted,returned"),
                  fld("note", "text", "审查意见")))
    main.gateway("gw_filing_review", "Filing accepted? (备案审查通过?)", V, 2170, S, label="above-right", width=120)
    main.flow("fork_after_signing", "gw_filing_loop", (1090, F), start="top")
    main.flow("gw_filing_loop", "file_contract")
    main.flow("file_contract", "gw_contract_altered")
    main.flow("gw_contract_altered", "contract_altered", (1720, F + 100), id="flow_contract_altered",
              name="no: altered (不一致)", cond="filed_document_sha256 != signed_document_sha256", start="bottom",
              label=(1726, F + 40, 80, 27))
    f = main.flow("gw_contract_altered", "gw_altered_merge", id="flow_contract_unchanged", name="yes (一致)",
                  label=(1780, F - 22, 70, 20))
    main.default("gw_contract_altered", f)
    main.flow("contract_altered", "gw_altered_merge", (1920, F + 100), end="bottom")
    main.flow("gw_altered_merge", "review_filing", (2030, F), start="right", end="bottom")
    main.flow("review_filing", "gw_filing_review")
    f = main.flow("gw_filing_review", "gw_filing_loop", (2170, S - 80), (1190, S - 80), id="flow_filing_returned",
                  name="returned: file again (退回重新备案)", start="top", end="top",
                  label=(1400, S - 68, 200, 20))
    main.default("gw_filing_review", f)

    # milestones: the partition (row MS)
    main.task("milestones", "Perform all milestones (全部履约节点完成)", E, 1820, MS, tag="receiveTask",
              attrs={"messageRef": "msg_milestones_completed"},
              doc="Partition: the engine runs one post_award_milestone workflow per item of `milestones` (as "
                  "`milestone`: no, name, amount, planned_date) and delivers milestones_completed when all completed.",
              ext='<lvyue:partition process="post_award_milestone" collection="milestones" item="milestone"/>')
    main.flow("fork_after_signing", "milestones")
    main.flow("milestones", "join_payments", (2250, MS), end="top")
    main.task("works_payments", "Works payments (工程价款结算)", E, 1640, WK, tag="receiveTask",
              attrs={"messageRef": "msg_works_payments_completed"},
              doc="Partition: for a works contract paid on measurement (payment_terms: advance, progress, settlement) "
                  "the engine runs one post_award_works workflow (as `works`: the payment terms) and delivers "
                  "works_payments_completed when it completed; other contracts have none and pass at once.",
              ext='<lvyue:partition process="post_award_works" collection="works_payments" item="works"/>')
    main.flow("fork_after_signing", "works_payments", (1090, WK), start="bottom")
    main.flow("works_payments", "join_payments", (2250, WK), end="bottom")
    main.flow("join_payments", "join_contract_end", (2320, B), (2320, WK), (3670, WK), end="bottom")

    # -- completion and release
    main.task("confirm_completion", "Confirm completion (确认履约完成)", E, 2340, M,
              doc="Completion acceptance (竣工验收 / 履约验收) starts the guarantee release and the defect liability "
                  "period (《建设工程质量保证金管理办法》第八条; 《政府采购法》第四十一条). It waits for the filing, not for "
                  "payment: completion acceptance, settlement and final payment are separate events (R07, C04, Q03–Q05), "
                  "so unpaid milestones keep their own payment clocks. The engine refuses it (422 on data.completed_at) "
                  "until every milestone is delivered and accepted (result passed), and before the last acceptance.",
              ext=form(fld("completed_at", "date", "完成（竣工验收）日期", True)))
    main.flow("gw_filing_review", "confirm_completion", (2400, S), id="flow_filing_accepted",
              name="accepted (通过)", cond="decision == 'accepted'", end="top", label=(2200, S - 24, 90, 20))
    main.event("performance_completed", "Performance completed (履约完成)", E, 2510, M, "intermediateThrowEvent",
               label="above", tail='<bpmn:signalEventDefinition signalRef="sig_performance_completed"/>',
               doc="Ends the watch on the guarantee's validity: the obligation it secured is performed.")
    main.gateway("fork_release", None, E, 2580, M, tag="parallelGateway")
    main.gateway("join_release", None, E, 3570, M, tag="parallelGateway")
    main.flow("confirm_completion", "performance_completed")
    main.flow("performance_completed", "fork_release")

    # a works contract's completion-acceptance filing (R07): a branch of its own from the release fork, on the bid
    # bond's row right of the payments' join (it ends there, joining nothing)
    main.gateway("gw_completion_filing", "Works contract? (工程合同?)", E, 2640, B, label="below", width=110)
    main.event("no_completion_filing", None, E, 2640, B - 80, "endEvent")
    main.task("file_completion", "File the completion acceptance (竣工验收备案)", E, 2720, B,
              doc="The employer files the completion acceptance report with the construction department within 15 days "
                  "of the acceptance (《建设工程质量管理条例》第四十九条第一款; 《房屋建筑和市政基础设施工程竣工验收备案管理办法》"
                  "第四条; R07); COMPLETION_FILING_OVERDUE otherwise. Works contracts only.",
              ext=form(
                  fld("filed_at", "date", "备案日期", True, as_="completion_filed_at"),
                  fld("filing_no", "string", "备案编号", as_="completion_filing_no")))
    main.warning("file_completion", "completion_filing", "COMPLETION_FILING_OVERDUE",
                 "Completion filing overdue (竣工验收备案逾期)", kind="non_performance", responsible="employer",
                 due=COMPLETION_FILING_DUE, severities=("orange", "red"), rule="R07",
                 met_date="completion_filed_at", escalations=esc)
    main.event("completion_filed", "Filed (已备案)", E, 2940, B, "endEvent")
    main.flow("fork_release", "gw_completion_filing", (2580, B), start="bottom")
    main.flow("gw_completion_filing", "file_completion", id="flow_completion_filing", name="yes (是)",
              cond="category == 'works'", label=(2668, B - 22, 50, 20))
    f = main.flow("gw_completion_filing", "no_completion_filing", id="flow_no_completion_filing", name="no (否)",
                  start="top", end="bottom", label=(2596, B - 50, 40, 20))
    main.default("gw_completion_filing", f)
    main.flow("file_completion", "completion_filed")

    main.gateway("gw_guarantee_release", "Performance guarantee held? (收取了履约保证金?)", E, 2640, BR, width=150)
    main.task("release_performance_guarantee", "Release the guarantee (退还履约保证金)", E, 2720, BR,
              doc="Return the performance guarantee promptly after completion (《保障中小企业款项支付条例》第十三条; "
                  "period Q07 an engineering default until the contract or a local rule sets one).",
              ext=form(fld("released_at", "date", "退还日期", True, as_="performance_guarantee_released_at")))
    main.warning("release_performance_guarantee", "guarantee_release", "GUARANTEE_RELEASE_OVERDUE",
                 "Guarantee release overdue (履约保证金退还逾期)", kind="arrears", responsible="employer",
                 due=GUARANTEE_RELEASE_DUE, amount="contract_amount * performance_guarantee_rate / 100", rule="Q07",
                 met_date="performance_guarantee_released_at", escalations=esc)
    main.gateway("gw_guarantee_release_merge", None, E, 3170, BR)
    main.flow("fork_release", "gw_guarantee_release", (2580, BR), start="top")
    main.flow("gw_guarantee_release", "release_performance_guarantee", id="flow_guarantee_held", name="yes (是)",
              cond="performance_guarantee_rate > 0", label=(2668, BR + 2, 50, 20))
    f = main.flow("gw_guarantee_release", "gw_guarantee_release_merge", (2640, BR - 47), (3170, BR - 47),
                  id="flow_no_guarantee_held", name="no (否)", start="top", end="top", label=(2860, BR - 45, 40, 20))
    main.default("gw_guarantee_release", f)
    main.flow("release_performance_guarantee", "gw_guarantee_release_merge")
    main.flow("gw_guarantee_release_merge", "join_release", (3570, BR), end="top")

    main.gateway("gw_retention", "Retention held? (预留了质量保证金?)", E, 2640, R, width=140)
    main.event("defect_liability_period", "Defect liability period ends (缺陷责任期届满)", E, 2740, R,
               "intermediateCatchEvent", label="below",
               doc="缺陷责任期 of defect_liability_months calendar months from completion, ending on the corresponding "
                   "day or the month's last day (《民法典》第二百零一、二百零二条; 《建设工程质量保证金管理办法》第二条、第八条).",
               tail=_timer("timeDate", DLP_END))
    main.nodes["defect_liability_period"].label = (2740 - 60, R + 22, 120, 40)
    main.task("request_retention_release", "Apply for the retention (申请返还质保金)", K, 3170, C,
              doc="After the defect liability period the contractor applies for the retention "
                  "(《建设工程质量保证金管理办法》第十一条).",
              ext=form(fld("requested_at", "date", "申请日期", True)))
    main.task("release_retention", "Release the retention (返还质量保证金)", E, 3340, R,
              doc="Verify within 14 days and return within 14 days after verification (《建设工程质量保证金管理办法》"
                  "第十一条, Q04).",
              ext=form(
                  fld("released_at", "date", "返还日期", True, as_="retention_released_at"),
                  fld("amount", "decimal", "返还金额（元）", True, min="0", as_="retention_released_amount")))
    main.warning("release_retention", "retention_release", "RETENTION_RELEASE_OVERDUE",
                 "Retention release overdue (质量保证金返还逾期)", kind="arrears", responsible="employer",
                 due=RETENTION_RELEASE_DUE, amount=RETENTION_AMOUNT, rule="Q04",
                 met_date="retention_released_at", escalations=esc)
    main.gateway("gw_retention_merge", None, E, 3500, R)
    main.flow("fork_release", "gw_retention", (2580, R), start="top")
    main.flow("gw_retention", "defect_liability_period", id="flow_retention_held", name="yes (是)",
              cond="retention_rate > 0", label=(2666, R - 22, 50, 20))
    f = main.flow("gw_retention", "gw_retention_merge", (2640, R + 106), (3500, R + 106), id="flow_no_retention",
                  name="no (否)", start="bottom", end="bottom", label=(2646, R + 84, 40, 20))
    main.default("gw_retention", f)
    main.flow("defect_liability_period", "request_retention_release", (3230, R), end="top")
    main.flow("request_retention_release", "release_retention", (3310, C), (3310, R))
    main.flow("release_retention", "gw_retention_merge")
    main.flow("gw_retention_merge", "join_release", (3530, R), (3530, M))

    main.event("contract_performed", "Contract performed (合同履行完毕)", E, 3770, M, "endEvent",
               doc="Both the completion branch (guarantee and retention released) and the payments (bid bond "
                   "refunded, every milestone paid in full) are done.")
    main.flow("join_release", "join_contract_end")
    main.flow("join_contract_end", "contract_performed")

    # ---------------------------------------------------------------- the milestone partition
    Y0 = GT + 500 + 80  # below the main pool
    ME, MC = Y0 + 140, Y0 + 590
    ms = Process(
        "post_award_milestone", "Milestone performance (履约节点)",
        "One workflow per payment milestone of a post_award contract (partition of its `milestones` task): "
        "delivery, acceptance, invoice and payment; the payment period runs from acceptance "
        "(《保障中小企业款项支付条例》（国务院令第802号）第九条、第十条).",
        "pool_post_award_milestone", "Milestone performance (履约节点), one per milestone", X0, Y0, 2200,
        pool_doc="Started by the engine for each item of post_award's milestones list, with the contract data and "
                 "`milestone` = {no, name, amount, planned_date}; paid_total starts at 0.",
        multiplicity=(0, 500))
    ms.lanes = [Lane("lane_milestone_employer", "employer", Y0, 480),
                Lane("lane_milestone_contractor", "contractor", Y0 + 480, 450)]
    ME_, MC_ = "lane_milestone_employer", "lane_milestone_contractor"
    ms.event("milestone_started", "Milestone started (履约节点开始)", MC_, 200, MC, "startEvent",
             doc="Data: the contract's start data plus milestone = {no, name, amount, planned_date}.")
    ms.gateway("gw_delivery_loop", None, MC_, 290, MC)
    ms.task("report_delivery", "Report the delivery (报告交付)", MC_, 360, MC,
            doc="The contractor delivers by the milestone's planned date (合同约定; 《民法典》第五百零九条).",
            ext=form(fld("delivered_at", "date", "交付日期", True)))
    ms.warning("report_delivery", "delivery", "DELIVERY_LATE", "Delivery late (交付逾期)", kind="non_performance",
               responsible="contractor", due=DELIVERY_DUE, severities=("orange", "red"), occurrence="milestone.no",
               legal_basis=BASIS_DELIVERY, met_date="delivered_at", escalations=esc)
    ms.task("accept_delivery", "Accept the delivery (履约验收)", ME_, 800, ME,
            doc="Acceptance within the agreed acceptance period; delaying it is itself a violation "
                "(《保障中小企业款项支付条例》第十条、第三十一条; 《政府采购法》第四十一条).",
            ext=form(
                fld("accepted_at", "date", "验收日期", True),
                fld("result", "enum", "验收结论（合格/不合格）", True, values="passed,failed")))
    ms.warning("accept_delivery", "acceptance", "ACCEPTANCE_OVERDUE", "Acceptance overdue (验收逾期)",
               kind="non_performance", responsible="employer", due=ACCEPTANCE_DUE, severities=("orange", "red"),
               occurrence="milestone.no", legal_basis=BASIS_ACCEPTANCE, met_date="accepted_at", escalations=esc)
    ms.gateway("gw_acceptance", "Acceptance passed? (验收合格?)", ME_, 1240, ME, width=110)
    ms.task("submit_invoice", "Submit the invoice (开具发票)", MC_, 1340, MC,
            ext=form(
                fld("invoice_no", "string", "发票号码", True),
                fld("amount", "decimal", "发票金额（元）", True, min="0", as_="invoice_amount"),
                fld("issued_at", "date", "开票日期", True)))
    ms.gateway("gw_payment_loop", None, ME_, 1570, ME)
    ms.task("record_payment", "Record a payment (登记付款)", ME_, 1650, ME,
            doc="Pay within the term of the payment basis fixed at the start (payment_basis: P01 when a public body "
                "pays an SME, P02 when a large enterprise does, else the contract's own term) from acceptance, or from "
                "the last day of the agreed acceptance period when acceptance is late (《保障中小企业款项支付条例》"
                "（国务院令第802号）第三条、第九条、第十条). Due = payment_deadline(payment_basis, delivered_at, "
                "accepted_at, acceptance_days); the alert cites the basis's rule. Partial payments add to paid_total; "
                "the milestone keeps one alert, for the unpaid rest, until paid_total reaches milestone.amount.",
            ext=form(
                fld("paid_at", "date", "付款日期", True),
                fld("amount", "decimal", "本次付款金额（元）", True, min="0", as_="payment_amount",
                    accumulate="paid_total"),
                fld("voucher_no", "string", "支付凭证号"),
                fld("overpayment", "boolean", "超额付款（超过未付余额）"),
                fld("overpayment_reason", "text", "超额付款原因")))
    ms.warning("record_payment", "payment", "PAYMENT_OVERDUE", "Payment overdue (逾期付款)", kind="arrears",
               responsible="employer", due=PAYMENT_DUE, severities=("orange", "red"), basis="payment_basis",
               amount="milestone.amount - paid_total", occurrence="milestone.no",
               resolve_when="paid_total >= milestone.amount", met_date="paid_at", escalations=esc)
    ms.gateway("gw_paid_in_full", "Paid in full? (已足额支付?)", ME_, 2100, ME, width=110)
    ms.event("milestone_paid", "Milestone paid (节点款项付清)", ME_, 2200, ME, "endEvent")

    ms.flow("milestone_started", "gw_delivery_loop")
    ms.flow("gw_delivery_loop", "report_delivery")
    ms.flow("report_delivery", "accept_delivery", (540, MC), (540, ME))
    ms.flow("accept_delivery", "gw_acceptance")
    ms.flow("gw_acceptance", "submit_invoice", (1300, ME), (1300, MC), id="flow_acceptance_passed",
            name="passed (合格)", cond="result == 'passed'", label=(1306, ME + 30, 80, 20))
    f = ms.flow("gw_acceptance", "gw_delivery_loop", (1240, ME - 80), (290, ME - 80), id="flow_acceptance_failed",
                name="failed: deliver again (不合格，重新交付)", start="top", end="top",
                label=(600, ME - 102, 220, 20))
    ms.default("gw_acceptance", f)
    ms.flow("submit_invoice", "gw_payment_loop", (1510, MC), (1510, ME))
    ms.flow("gw_payment_loop", "record_payment")
    ms.flow("record_payment", "gw_paid_in_full")
    ms.flow("gw_paid_in_full", "milestone_paid", id="flow_paid_in_full", name="yes (是)",
            cond="paid_total >= milestone.amount", label=(2130, ME - 22, 50, 20))
    f = ms.flow("gw_paid_in_full", "gw_payment_loop", (2100, ME - 80), (1570, ME - 80), id="flow_partly_paid",
                name="no: pay the rest (未付清)", start="top", end="top", label=(1700, ME - 102, 160, 20))
    ms.default("gw_paid_in_full", f)

    # ---------------------------------------------------------------- the works payments partition
    Y1 = Y0 + 1010
    WA, WP, WS = Y1 + 150, Y1 + 560, Y1 + 1000      # employer rows: advance, progress, settlement
    WC, WS2 = Y1 + 1500, Y1 + 1680                  # contractor rows: applications, settlement report
    wk = Process(
        "post_award_works", "Works payments (工程价款结算)",
        "One workflow per works contract paid on measurement (partition of post_award's works_payments task): the "
        "advance (C01), the contractor's progress applications with measurement and payment (C02, C03), and the final "
        "settlement with its review and payment (C04) — 《建设工程价款结算暂行办法》（财建〔2004〕369号）第十二条至第十六条.",
        "pool_post_award_works", "Works payments (工程价款结算), one per works contract", X0, Y1, 2500,
        pool_doc="Started by the engine for a contract whose payment_terms have an advance, progress payments or a "
                 "settlement, with the contract data and `works` = its payment_terms; the running totals "
                 "advance_paid_total and progress_paid_total start at 0, contract_paid_total (all paid, shared by "
                 "every branch) too.",
        multiplicity=(0, 1))
    wk.lanes = [Lane("lane_works_employer", "employer", Y1, 1350), Lane("lane_works_contractor", "contractor", Y1 + 1350, 450)]
    WE_, WC_ = "lane_works_employer", "lane_works_contractor"
    paid_fields = lambda prefix, total: form(  # noqa: E731 - the payment form of the three payment tasks
        fld("paid_at", "date", "付款日期", True, as_=f"{prefix}_paid_at"),
        fld("amount", "decimal", "本次付款金额（元）", True, min="0", as_=f"{prefix}_payment_amount",
            accumulate=total, shared_total="contract_paid_total"),
        fld("voucher_no", "string", "支付凭证号"),
        fld("overpayment", "boolean", "超额付款（超过应付余额）"),
        fld("overpayment_reason", "text", "超额付款原因"))
    wk.event("works_started", "Works payments started (工程价款结算开始)", WC_, 200, WC, "startEvent",
             doc="Data: the contract's data plus works = payment_terms {advance, works_start_date, progress, settlement}.")
    wk.gateway("fork_works", None, WC_, 290, WC, tag="parallelGateway")
    wk.flow("works_started", "fork_works")

    # advance (C01)
    wk.gateway("gw_advance", "Advance agreed? (约定预付款?)", WE_, 380, WA, width=120)
    wk.gateway("gw_advance_loop", None, WE_, 480, WA)
    wk.task("pay_advance", "Pay the advance (支付预付款)", WE_, 540, WA,
            doc="Pay the advance (works.advance.amount = percent × contract amount, ≤ 30 %) within one month of signing "
                "or 7 days before the agreed start date, whichever is later (C01, 《建设工程价款结算暂行办法》第十二条).",
            ext=paid_fields("advance", "advance_paid_total"))
    wk.warning("pay_advance", "advance", "ADVANCE_OVERDUE", "Advance overdue (预付款逾期)", kind="arrears",
               responsible="employer", due="advance_deadline(signed_at, works)", severities=("orange", "red"),
               amount="works.advance.amount - advance_paid_total", rule="C01",
               resolve_when="advance_paid_total >= works.advance.amount", met_date="advance_paid_at", escalations=esc)
    wk.gateway("gw_advance_paid", "Paid in full? (已足额支付?)", WE_, 1000, WA, width=110)
    wk.event("advance_paid", "Advance paid (预付款付清)", WE_, 1100, WA, "endEvent")
    wk.event("no_advance", None, WE_, 1100, WA - 120, "endEvent")
    wk.flow("fork_works", "gw_advance", (290, WA), start="top")
    wk.flow("gw_advance", "gw_advance_loop", id="flow_advance_agreed", name="yes (是)", cond="works.advance != None",
            label=(400, WA - 22, 50, 20))
    f = wk.flow("gw_advance", "no_advance", (380, WA - 120), id="flow_no_advance", name="no (否)", start="top",
                label=(386, WA - 100, 50, 20))
    wk.default("gw_advance", f)
    wk.flow("gw_advance_loop", "pay_advance")
    wk.flow("pay_advance", "gw_advance_paid")
    wk.flow("gw_advance_paid", "advance_paid", id="flow_advance_paid", name="yes (是)",
            cond="advance_paid_total >= works.advance.amount", label=(1020, WA - 22, 50, 20))
    f = wk.flow("gw_advance_paid", "gw_advance_loop", (1000, WA - 70), (480, WA - 70), id="flow_advance_partly_paid",
                name="no: pay the rest (未付清)", start="top", end="top", label=(600, WA - 92, 160, 20))
    wk.default("gw_advance_paid", f)

    # progress applications (C02, C03): each application forks its own measurement and payment
    wk.gateway("gw_progress", "Progress payments agreed? (约定进度款?)", WC_, 380, WC, label="above", width=140)
    wk.gateway("gw_application_loop", None, WC_, 470, WC)
    wk.task("submit_payment_application", "Apply for a progress payment (进度款支付申请)", WC_, 530, WC,
            doc="The contractor reports the value of the work done in a period (已完工程量报告) with its payment "
                "application and the supporting documents' hash; each application starts its own clocks: "
                "measurement within 14 days or deemed confirmed (C02), payment within 14 days of the confirmation (C03). "
                "Applying again is possible at once; the loop ends when the settlement report is submitted.",
            ext=form(
                fld("period", "string", "计量周期（如 2026-03）", True, max_length="40", as_="application_period"),
                fld("applied_at", "date", "申请日期", True),
                fld("value", "decimal", "本期已完工程价款（元）", True, min="0", as_="application_value"),
                fld("document_sha256", "sha256", "计量及申请资料哈希", True, as_="application_document_sha256")))
    wk.event("applications_closed", None, WC_, 600, WC + 40, "boundaryEvent",
             attrs={"attachedToRef": "submit_payment_application"},
             tail='<bpmn:signalEventDefinition signalRef="sig_settlement_submitted"/>')
    wk.event("progress_closed", "Settlement submitted (已提交竣工结算)", WC_, 600, WC + 110, "endEvent", label="right")
    wk.event("no_progress", None, WC_, 380, WC + 110, "endEvent")
    wk.gateway("fork_application", None, WC_, 760, WC, tag="parallelGateway")
    wk.flow("fork_works", "gw_progress")
    wk.flow("gw_progress", "gw_application_loop", id="flow_progress_agreed", name="yes (是)",
            cond="works.progress != None", label=(396, WC + 8, 50, 20))
    f = wk.flow("gw_progress", "no_progress", id="flow_no_progress", name="no (否)", start="bottom", end="top",
                label=(386, WC + 40, 40, 20))
    wk.default("gw_progress", f)
    wk.flow("gw_application_loop", "submit_payment_application")
    wk.flow("applications_closed", "progress_closed", start="bottom", end="top")
    wk.flow("submit_payment_application", "fork_application")
    wk.flow("fork_application", "gw_application_loop", (760, WC - 80), (470, WC - 80), start="top", end="top",
            name="apply again (可再次申请)", label=(520, WC - 102, 160, 20))

    wk.task("verify_measurement", "Verify the measurement (计量核实)", WE_, 850, WP,
            doc="The employer verifies the reported quantities within 14 days and states the confirmed value (C02, "
                "《建设工程价款结算暂行办法》第十三条第（一）项); not verified in time, the report is deemed confirmed from "
                "the 15th day at the applied value and MEASUREMENT_OVERDUE is raised.",
            ext=form(
                fld("verified_at", "date", "核实日期", True, as_="measurement_verified_at"),
                fld("confirmed_value", "decimal", "核实的已完工程价款（元）", True, min="0"),
                fld("note", "text", "核实意见", as_="measurement_note")))
    wk.event("measurement_deemed", "14 days passed (14日届满)", WE_, 930, WP + 40, "boundaryEvent",
             attrs={"attachedToRef": "verify_measurement"},
             tail=_timer("timeDate", "deadline('C02', applied_at)"))
    wk.event("measurement_overdue", "Measurement overdue – orange (计量核实逾期，橙色预警)", WE_, 930, WP + 140,
             "intermediateThrowEvent",
             doc="Raised when the measurement is deemed confirmed (C02): the employer let 14 days pass. It stays open "
                 "until the application's progress payment is paid in full.")
    wk.nodes["measurement_overdue"].label = (930 + 24, WP + 124, 150, 40)
    wk.at_once_warning("measurement_overdue", "MEASUREMENT_OVERDUE", "Measurement overdue (计量核实逾期)", esc,
                       kind="non_performance", severity="orange", responsible="employer", rule="C02",
                       due="deadline('C02', applied_at)", awaits="pay_progress",
                       occurrence="'C02 ' + application_document_sha256[:56]",
                       resolve_when=PROGRESS_PAID_IN_FULL, met_date="progress_paid_at")
    wk.gateway("gw_measured", None, WE_, 1160, WP)
    wk.gateway("gw_progress_payable", "Anything payable? (有应付款?)", WE_, 1240, WP, label="below", width=110)
    wk.event("nothing_payable", "Nothing payable (无应付款)", WE_, 1240, WP - 140, "endEvent", label="right")
    wk.gateway("gw_progress_loop", None, WE_, 1320, WP)
    wk.task("pay_progress", "Pay the progress payment (支付进度款)", WE_, 1380, WP,
            doc="Pay the agreed percentage of the confirmed value, less the advance recovered in the same proportion "
                "(progress_due), within 14 days of the measurement's confirmation (C03, 《建设工程价款结算暂行办法》第十三条"
                "第（二）项; ≥ 80 % for a public employer's contract from 2022-08-01, 财建〔2022〕183号).",
            ext=paid_fields("progress", "progress_paid_total"))
    wk.warning("pay_progress", "progress_payment", "PROGRESS_PAYMENT_OVERDUE", "Progress payment overdue (进度款逾期)",
               kind="arrears", responsible="employer", due=PROGRESS_DUE, severities=("orange", "red"),
               amount=f"{PROGRESS_OWED} - progress_paid_total", rule="C03", occurrence="application_document_sha256",
               resolve_when=PROGRESS_PAID_IN_FULL, met_date="progress_paid_at", escalations=esc)
    wk.gateway("gw_progress_paid", "Paid in full? (已足额支付?)", WE_, 1840, WP, width=110)
    wk.event("application_paid", "Application paid (本期进度款付清)", WE_, 1940, WP, "endEvent")
    wk.flow("fork_application", "verify_measurement", (760, WP), start="top")
    wk.flow("verify_measurement", "gw_measured")
    wk.flow("measurement_deemed", "measurement_overdue", start="bottom", end="top")
    wk.flow("measurement_overdue", "gw_measured", (1160, WP + 140), end="bottom")
    wk.flow("gw_measured", "gw_progress_payable")
    wk.flow("gw_progress_payable", "gw_progress_loop", id="flow_progress_payable", name="yes (是)",
            cond=f"{PROGRESS_OWED} > 0", label=(1262, WP - 22, 50, 20))
    f = wk.flow("gw_progress_payable", "nothing_payable", id="flow_nothing_payable", name="no (否)", start="top",
                end="bottom", label=(1246, WP - 70, 40, 20))
    wk.default("gw_progress_payable", f)
    wk.flow("gw_progress_loop", "pay_progress")
    wk.flow("pay_progress", "gw_progress_paid")
    wk.flow("gw_progress_paid", "application_paid", id="flow_progress_paid", name="yes (是)",
            cond=PROGRESS_PAID_IN_FULL, label=(1860, WP - 22, 50, 20))
    f = wk.flow("gw_progress_paid", "gw_progress_loop", (1840, WP - 80), (1320, WP - 80), id="flow_progress_partly_paid",
                name="no: pay the rest (未付清)", start="top", end="top", label=(1480, WP - 102, 160, 20))
    wk.default("gw_progress_paid", f)

    # the final settlement (C04)
    wk.gateway("gw_settlement", "Final settlement agreed? (竣工结算?)", WC_, 380, WS2, label="below", width=140)
    wk.event("no_settlement", None, WC_, 480, WS2 + 90, "endEvent")
    wk.task("submit_settlement", "Submit the settlement report (提交竣工结算报告)", WC_, 1000, WS2,
            doc="After completion acceptance (the engine refuses it before) the contractor submits the settlement report "
                "with complete documents (369号 第十四条); this ends the progress applications and starts the review (C04).",
            ext=form(
                fld("submitted_at", "date", "提交日期", True, as_="settlement_submitted_at"),
                fld("value", "decimal", "结算报告金额（元）", True, min="0", as_="settlement_value"),
                fld("document_sha256", "sha256", "结算报告及资料哈希", True, as_="settlement_document_sha256")))
    wk.event("settlement_submitted", "Settlement submitted (已提交结算)", WC_, 1200, WS2, "intermediateThrowEvent",
             tail='<bpmn:signalEventDefinition signalRef="sig_settlement_submitted"/>', label="below")
    wk.task("review_settlement", "Review the settlement (审核竣工结算)", WE_, 1300, WS,
            doc="Review within 20/30/45/60 days by the report's amount (C04); silence is deemed acceptance of the "
                "reported amount (《建设工程价款结算暂行办法》第十四条、第十六条) and raises SETTLEMENT_REVIEW_OVERDUE.",
            ext=form(
                fld("reviewed_at", "date", "审核完成日期", True, as_="settlement_reviewed_at"),
                fld("settled_value", "decimal", "审定结算金额（元）", True, min="0"),
                fld("note", "text", "审核意见", as_="settlement_note")))
    wk.event("settlement_deemed", "Review period passed (审核期限届满)", WE_, 1380, WS + 40, "boundaryEvent",
             attrs={"attachedToRef": "review_settlement"},
             tail=_timer("timeDate", "settlement_review_deadline(settlement_value, settlement_submitted_at)"))
    wk.event("settlement_review_overdue", "Settlement review overdue – orange (结算审核逾期，橙色预警)", WE_, 1380, WS + 140,
             "intermediateThrowEvent",
             doc="Raised when the settlement is deemed accepted (C04): the employer let the review period pass.")
    wk.nodes["settlement_review_overdue"].label = (1380 + 24, WS + 124, 150, 40)
    wk.at_once_warning("settlement_review_overdue", "SETTLEMENT_REVIEW_OVERDUE",
                       "Settlement review overdue (竣工结算审核逾期)", esc, kind="non_performance", severity="orange",
                       responsible="employer", rule="C04A",
                       due="settlement_review_deadline(settlement_value, settlement_submitted_at)",
                       awaits="pay_settlement", occurrence="'C04 ' + settlement_document_sha256[:56]",
                       resolve_when=SETTLEMENT_PAID_IN_FULL, met_date="settlement_paid_at")
    wk.gateway("gw_settled", None, WE_, 1620, WS)
    wk.gateway("gw_settlement_payable", "Anything owed? (有应付结算款?)", WE_, 1700, WS, label="below", width=120)
    wk.event("nothing_owed", "Nothing owed (无应付结算款)", WE_, 1700, WS - 140, "endEvent", label="right",
             doc="Everything paid before covers the settled price less the retention; an overpayment is returned "
                 "after the settlement (369号 art 13), which the engine does not track.")
    wk.gateway("gw_settlement_loop", None, WE_, 1780, WS)
    wk.task("pay_settlement", "Pay the settlement (支付竣工结算款)", WE_, 1840, WS,
            doc="Pay the settled price less the quality retention (retention_rate of the settlement price, ≤ 3 %) and "
                "everything already paid on the contract (contract_paid_total), within 15 days of the settlement's "
                "confirmation (C04P, 《建设工程价款结算暂行办法》第十四条).",
            ext=paid_fields("settlement", "settlement_paid_total"))
    wk.warning("pay_settlement", "settlement_payment", "SETTLEMENT_PAYMENT_OVERDUE",
               "Settlement payment overdue (竣工结算款逾期)", kind="arrears", responsible="employer", due=SETTLEMENT_DUE,
               severities=("orange", "red"), amount=f"{SETTLEMENT_OWED} - contract_paid_total", rule="C04P",
               occurrence="settlement_document_sha256", resolve_when=SETTLEMENT_PAID_IN_FULL,
               met_date="settlement_paid_at", escalations=esc)
    wk.gateway("gw_settlement_paid", "Paid in full? (已足额支付?)", WE_, 2300, WS, width=110)
    wk.event("settlement_paid", "Settlement paid (结算款付清)", WE_, 2400, WS, "endEvent")
    wk.flow("fork_works", "gw_settlement", (290, WS2), start="bottom")
    wk.flow("gw_settlement", "submit_settlement", id="flow_settlement_agreed", name="yes (是)",
            cond="works.settlement == True", label=(420, WS2 - 22, 50, 20))
    f = wk.flow("gw_settlement", "no_settlement", (380, WS2 + 90), id="flow_no_settlement", name="no (否)",
                start="bottom", label=(386, WS2 + 60, 40, 20))
    wk.default("gw_settlement", f)
    wk.flow("submit_settlement", "settlement_submitted")
    wk.flow("settlement_submitted", "review_settlement", (1250, WS2), (1250, WS))
    wk.flow("review_settlement", "gw_settled")
    wk.flow("settlement_deemed", "settlement_review_overdue", start="bottom", end="top")
    wk.flow("settlement_review_overdue", "gw_settled", (1620, WS + 140), end="bottom")
    wk.flow("gw_settled", "gw_settlement_payable")
    wk.flow("gw_settlement_payable", "gw_settlement_loop", id="flow_settlement_owed", name="yes (是)",
            cond=f"{SETTLEMENT_OWED} > contract_paid_total", label=(1722, WS - 22, 50, 20))
    f = wk.flow("gw_settlement_payable", "nothing_owed", id="flow_nothing_owed", name="no (否)", start="top",
                end="bottom", label=(1706, WS - 70, 40, 20))
    wk.default("gw_settlement_payable", f)
    wk.flow("gw_settlement_loop", "pay_settlement")
    wk.flow("pay_settlement", "gw_settlement_paid")
    wk.flow("gw_settlement_paid", "settlement_paid", id="flow_settlement_paid", name="yes (是)",
            cond=SETTLEMENT_PAID_IN_FULL, label=(2320, WS - 22, 50, 20))
    f = wk.flow("gw_settlement_paid", "gw_settlement_loop", (2300, WS - 80), (1780, WS - 80),
                id="flow_settlement_partly_paid", name="no: pay the rest (未付清)", start="top", end="top",
                label=(1930, WS - 102, 160, 20))
    wk.default("gw_settlement_paid", f)

    recv = main.nodes["milestones"]
    message_flows_meta["msgflow_milestones_completed"] = ("milestones_completed (全部节点完成)", "msg_milestones_completed")
    # Routed round the contractor's and the guarantor's lanes, on x = 2200 where they hold nothing.
    message_flows = [("msgflow_milestones_completed", ms.pool_id, "milestones",
                      [(2200, Y0), (2200, MS + 70), (recv.cx, MS + 70), (recv.cx, recv.y + recv.h)],
                      (2206, Y0 - 60, 200, 20))]
    wrecv = main.nodes["works_payments"]
    message_flows_meta["msgflow_works_payments_completed"] = ("works_payments_completed (工程价款结算完成)",
                                                              "msg_works_payments_completed")
    # Up the left margin of every pool below the main one, then across above the works receive task's row.
    message_flows.append(("msgflow_works_payments_completed", wk.pool_id, "works_payments",
                          [(X0 + 40, Y1), (X0 + 40, WK + 46), (wrecv.cx, WK + 46), (wrecv.cx, wrecv.y + wrecv.h)],
                          (X0 + 46, Y0 - 60, 220, 20)))
    write(OUTPUT.get("post_award.bpmn", BPMN_DIR / "post_award.bpmn"), "defs_post_award", "http://lvyue.org/bpmn/post_award",
          "collab_post_award", [main, ms, wk], esc,
          [Message("msg_milestones_completed", "milestones_completed"),
           Message("msg_works_payments_completed", "works_payments_completed"), Message("msg_award_refused", "award_refused"),
           Message("msg_guarantee_claimed", "guarantee_claimed"),
           Message("msg_guarantee_issued", "guarantee_issued", external=True,
                   doc="The issuer's e-guarantee platform confirms a guarantee (POST /instances/{id}/messages/"
                       "guarantee_issued, signed with X-Lvyue-Signature: it completes verify_guarantee). Posted "
                       "by an operator instead, it is kept on the contract's history; nothing in the process waits "
                       "for it.")],
          message_flows, signals=[("sig_performance_completed", "performance_completed"),
                                  ("sig_settlement_submitted", "settlement_submitted")])


# ------------------------------------------------------------------------------------ supplementary_contract
def supplementary_contract() -> None:
    esc: dict = {}
    Y, S = 170, 610
    p = Process(
        "supplementary_contract", "Supplementary contract (补充合同)",
        "A change to a signed contract: the supplement is signed, kept (with the contract's earlier supplements) within "
        "10% of the original amount in government procurement (《政府采购法》第四十九条, G07), published within 2 working "
        "days when it changes a government procurement contract (财办库〔2023〕243号, G06) and reviewed by the "
        "supervising department.",
        "pool_supplementary_contract", "Supplementary contract (补充合同)", 100, 60, 1540)
    p.lanes = [Lane("lane_employer", "employer", 60, 450), Lane("lane_supervisor", "supervisor", 510, 220)]
    E, V = "lane_employer", "lane_supervisor"
    p.event("supplement_proposed", "Supplement proposed (提出补充合同)", E, 200, Y, "startEvent",
            doc="The original contract and the change it needs.",
            ext=form(
                fld("project_code", "string", "项目编号", True),
                fld("original_contract_no", "string", "原合同编号", True),
                fld("original_amount", "decimal", "原合同金额（元）", True, min="0"),
                fld("change_amount", "decimal", "变更（追加）金额（元）", True, min="0"),
                fld("track", "enum", "交易类型（招投标/政府采购）", True, values="tendering,gov_procurement"),
                fld("signed_at", "date", "原合同签订日期", True)))
    p.gateway("gw_supplement_loop", None, E, 290, Y)
    p.task("sign_supplement", "Sign the supplement (签订补充合同)", E, 360, Y,
           doc="Changes only by agreement, never unilaterally (《政府采购法》第五十条); the signing date "
               "(supplement_signed_at) starts G06. change_amount, when given, is the amount as signed and replaces "
               "the one proposed: a supplement returned for exceeding the cap is signed again at a lower amount.",
           ext=form(
               fld("signed_at", "date", "补充合同签订日期", True, as_="supplement_signed_at"),
               fld("document_sha256", "sha256", "补充合同文本哈希", True),
               fld("change_amount", "decimal", "签约变更（追加）金额（元），缺省为提出的金额", False, min="0")))
    p.gateway("gw_over_cap", "Within the 10% cap? (未超过原合同金额10%?)", E, 560, Y, label="above", width=150)
    p.event("supplement_over_cap", "Supplement over the 10% cap (补充合同超过原合同金额10%)", E, 660, Y + 100,
            "intermediateThrowEvent",
            doc="All supplementary contracts of a government procurement contract together at most 10% of the "
                "original amount (《政府采购法》第四十九条, G07). Raised at once, then publication goes on; it resolves "
                "when sign_supplement is next completed within the cap (the supervisor returns the supplement, it is "
                "signed again at a lower change_amount).")
    p.nodes["supplement_over_cap"].label = (660 - 80, Y + 100 + 22, 160, 40)
    p.at_once_warning("supplement_over_cap", "SUPPLEMENT_OVER_CAP",
                      "Supplement over the 10% cap (补充合同超过原合同金额10%)", esc,
                      kind="non_performance", severity="red", responsible="employer", legal_basis=BASIS_OVER_CAP,
                      due="end_of_day(supplement_signed_at)", awaits="sign_supplement",
                      resolve_when=f"not ({OVER_CAP})", met_date="supplement_signed_at")
    p.gateway("gw_over_cap_merge", None, E, 760, Y)
    p.gateway("gw_change_publication", "GP contract? (政府采购合同?)", E, 840, Y, label="below", width=110)
    p.gateway("gw_change_publication_merge", None, E, 1420, Y)
    p.task("publish_change", "Publish the change (发布合同变更公告)", E, 920, Y,
           doc="Publish the change within 2 working days with the original contract number, the changed clauses "
               "and the supplement (财办库〔2023〕243号第一条, G06).",
           ext=form(
               fld("published_at", "date", "公告日期", True),
               fld("url", "string", "公告网址", True)))
    p.warning("publish_change", "change_publication", "CHANGE_PUBLICATION_OVERDUE",
              "Change publication overdue (合同变更公告逾期)", kind="non_performance", responsible="employer",
              due=CHANGE_PUBLICATION_DUE, severities=("orange", "red"), rule="G06", met_date="published_at",
              escalations=esc)
    p.task("review_supplement", "Review the supplement (补充合同审查)", V, 1240, S,
           doc="The supervising department reviews the change (《政府采购法》第四十九条、第五十条).",
           ext=form(
               fld("decision", "enum", "审查结论（通过/退回）", True, values="accepted,returned"),
               fld("note", "text", "审查意见")))
    p.gateway("gw_supplement_review", "Supplement accepted? (审查通过?)", V, 1440, S, label="above", width=120)
    p.event("supplement_accepted", "Supplement accepted (补充合同审查通过)", V, 1580, S, "endEvent")

    p.flow("supplement_proposed", "gw_supplement_loop")
    p.flow("gw_supplement_loop", "sign_supplement")
    p.flow("sign_supplement", "gw_over_cap")
    p.flow("gw_over_cap", "supplement_over_cap", (560, Y + 100), id="flow_over_cap", name="no: over cap (超过)",
           cond=OVER_CAP, start="bottom", label=(566, Y + 40, 80, 27))
    f = p.flow("gw_over_cap", "gw_over_cap_merge", id="flow_within_cap", name="yes (未超过)",
               label=(615, Y - 22, 80, 20))
    p.default("gw_over_cap", f)
    p.flow("supplement_over_cap", "gw_over_cap_merge", (760, Y + 100), end="bottom")
    p.flow("gw_over_cap_merge", "gw_change_publication")
    # G06 is a government procurement rule (财办库〔2023〕243号): a tendering contract's change has no publication timer.
    p.flow("gw_change_publication", "publish_change", id="flow_change_publication_required", name="yes (是)",
           cond="track == 'gov_procurement'", label=(866, Y - 22, 50, 20))
    f = p.flow("gw_change_publication", "gw_change_publication_merge", (840, Y - 80), (1420, Y - 80),
               id="flow_no_change_publication", name="no (否)", start="top", end="top", label=(850, Y - 102, 50, 20))
    p.default("gw_change_publication", f)
    p.flow("publish_change", "gw_change_publication_merge")
    p.flow("gw_change_publication_merge", "review_supplement", (1420, S - 80), (1300, S - 80), start="bottom", end="top")
    p.flow("review_supplement", "gw_supplement_review")
    p.flow("gw_supplement_review", "supplement_accepted", id="flow_supplement_accepted", name="accepted (通过)",
           cond="decision == 'accepted'", label=(1478, S - 24, 90, 20))
    f = p.flow("gw_supplement_review", "gw_supplement_loop", (1440, S + 80), (290, S + 80),
               id="flow_supplement_returned", name="returned: sign again (退回重签)", start="bottom", end="bottom",
               label=(700, S + 84, 200, 20))
    p.default("gw_supplement_review", f)
    write(BPMN_DIR / "supplementary_contract.bpmn", "defs_supplementary_contract",
          "http://lvyue.org/bpmn/supplementary_contract", "collab_supplementary_contract", [p], esc)


# ------------------------------------------------------------------------------------ change_publication
def change_publication() -> None:
    """The publication of one accepted change of a government procurement contract's change ledger (G06): started by
    engine/supervision/changes.py when the contractor confirms the change, bound to the contract's employer and
    department; a tendering contract's change starts none."""
    esc: dict = {}
    Y = 170
    p = Process(
        "change_publication", "Change publication (合同变更公告)",
        "An accepted change of a government procurement contract (the change ledger, POST /api/v1/contracts/{key}/"
        "changes) is published within 2 working days of its acceptance (财办库〔2023〕243号第一条, G06).",
        "pool_change_publication", "Change publication (合同变更公告)", 100, 60, 700)
    p.lanes = [Lane("lane_employer", "employer", 60, 260)]
    E = "lane_employer"
    p.event("change_accepted", "Change accepted (合同变更经双方确认)", E, 200, Y, "startEvent",
            doc="Started by the change ledger when the contractor confirms a change of a government procurement "
                "contract: the contract, the change's number and the day both parties had signed it.",
            ext=form(
                fld("contract_business_key", "string", "合同业务编号", True),
                fld("change_no", "integer", "变更序号", True, min="1"),
                fld("accepted_at", "date", "变更确认日期", True),
                fld("project_code", "string", "项目编号"),
                fld("contract_no", "string", "合同编号")))
    p.task("publish_change", "Publish the change (发布合同变更公告)", E, 320, Y,
           doc="Publish the change within 2 working days of its acceptance with the contract number and the changed "
               "clauses (财办库〔2023〕243号第一条, G06).",
           ext=form(
               fld("published_at", "date", "公告日期", True),
               fld("url", "string", "公告网址", True)))
    p.warning("publish_change", "publication", "CHANGE_PUBLICATION_OVERDUE",
              "Change publication overdue (合同变更公告逾期)", kind="non_performance", responsible="employer",
              due=LEDGER_CHANGE_PUBLICATION_DUE, severities=("orange", "red"), rule="G06", met_date="published_at",
              escalations=esc)
    p.event("change_published", "Change published (变更已公告)", E, 640, Y, "endEvent")
    p.flow("change_accepted", "publish_change")
    p.flow("publish_change", "change_published")
    write(BPMN_DIR / "change_publication.bpmn", "defs_change_publication", "http://lvyue.org/bpmn/change_publication",
          "collab_change_publication", [p], esc)


# ------------------------------------------------------------------------------------ supervision_case
RECTIFICATION_DUE = "add_days(ordered_at, rectification_days)"


def supervision_case() -> None:
    """A supervising department acting on a warning (督办 → 约谈 → 整改 → 核查): opened from one or more alerts of a
    contract, or by hand (POST /api/v1/cases), against the party whose obligation it is, bound in its own lane
    (the other party lane stays unbound)."""
    esc: dict = {}
    YS, YE, YC = 190, 410, 890
    p = Process(
        "supervision_case", "Supervision case (监管督办案件)",
        "The supervising department's own process on a warning: a supervision notice (督办通知), an optional "
        "admonition talk (约谈), a rectification order with its deadline (整改通知), the party's evidence, "
        "verification; closed when rectified, else escalated to an administrative decision (a credit record "
        "awaiting the department's decision, engine/supervision/cases.py). The evidence is awaited with the "
        "contract's warnings: yellow 3 days before the deadline, orange at it, red 30 days after.",
        "pool_supervision_case", "Supervision case (监管督办案件)", 100, 60, 2000)
    p.lanes = [Lane("lane_supervisor", "supervisor", 60, 260), Lane("lane_employer", "employer", 320, 480),
               Lane("lane_contractor", "contractor", 800, 480)]
    S, E, C = "lane_supervisor", "lane_employer", "lane_contractor"
    p.event("case_opened", "Case opened (立案)", S, 200, YS, "startEvent",
            doc="Opened by the supervising department (POST /api/v1/cases): the contract, whose obligation "
                "(party_role) and why; the party's organisation is bound to its lane.",
            ext=form(
                fld("contract_business_key", "string", "合同业务编号", True),
                fld("party_role", "enum", "被督办主体（招标人/中标人）", True, values="employer,contractor"),
                fld("reason", "text", "立案事由", True),
                fld("track", "enum", "交易类型", False, values="tendering,gov_procurement"),
                fld("alert_ids", "text", "所依据的预警（逗号分隔）"),
                fld("source", "enum", "来源（预警/人工/违背承诺）", False, values="alerts,manual,commitment")))
    p.task("issue_notice", "Issue the supervision notice (发出督办通知)", S, 280, YS,
           doc="The department's notice to the party (督办通知书); admonition = true holds an admonition talk first.",
           ext=form(
               fld("notice_no", "string", "督办通知文号", True),
               fld("issued_at", "date", "通知日期", True),
               fld("admonition", "boolean", "约谈（是/否）", True)))
    p.gateway("gw_admonition", "Admonition? (约谈?)", S, 500, YS, label="below", width=100)
    p.task("hold_admonition", "Hold the admonition talk (约谈)", S, 580, YS,
           ext=form(
               fld("held_at", "date", "约谈日期", True),
               fld("minutes_sha256", "sha256", "约谈记录哈希"),
               fld("note", "text", "约谈情况")))
    p.gateway("gw_admonition_merge", None, S, 780, YS)
    p.task("order_rectification", "Order rectification (下达整改通知)", S, 860, YS,
           doc="The rectification order: what to put right, by when (rectification_days calendar days from ordered_at, "
               "counted under the Civil Code arts 200–204), on which legal basis.",
           ext=form(
               fld("order_no", "string", "整改通知文号", True),
               fld("ordered_at", "date", "整改通知日期", True),
               fld("rectification_days", "integer", "整改期限（日）", True, min="1", max="180"),
               fld("requirements", "text", "整改要求", True),
               fld("legal_basis", "string", "依据", True)))
    p.gateway("gw_party", "Whose rectification? (整改主体)", S, 1080, YS, label="above", width=140)
    evidence = form(
        fld("submitted_at", "date", "整改完成日期", True),
        fld("evidence_sha256", "sha256", "整改证明材料哈希", True),
        fld("description", "text", "整改情况说明", True))
    for lane, y, role in ((E, YE, "employer"), (C, YC, "contractor")):
        task_id = f"submit_evidence_{role}"
        p.task(task_id, "Submit rectification evidence (提交整改材料)", lane, 1150, y,
               doc="The party's evidence that it put right what the order names, by its deadline.", ext=evidence)
        p.warning(task_id, f"rectification_{role}", "RECTIFICATION_OVERDUE", "Rectification overdue (逾期未整改)",
                  kind="non_performance", responsible=role, due=RECTIFICATION_DUE, met_date="submitted_at",
                  legal_basis="整改通知书（order_no）：逾期未按要求整改", escalations=esc)
    p.gateway("gw_evidence_merge", None, S, 1600, YS)
    p.task("verify_rectification", "Verify the rectification (核查整改)", S, 1680, YS,
           doc="rectified: the case is closed; not_rectified: it is escalated to an administrative decision "
               "(a credit record awaiting the department's decision is written against the party).",
           ext=form(
               fld("result", "enum", "核查结论（已整改/未整改）", True, values="rectified,not_rectified"),
               fld("verified_at", "date", "核查日期", True),
               fld("note", "text", "核查意见")))
    p.gateway("gw_verified", "Rectified? (整改到位?)", S, 1900, YS, label="above", width=110)
    p.event("case_closed", "Case closed (结案)", S, 2020, YS, "endEvent")
    p.event("case_escalated", "Escalated to a decision (移送处理)", S, 2020, YS + 90, "endEvent", label="right")

    p.flow("case_opened", "issue_notice")
    p.flow("issue_notice", "gw_admonition")
    p.flow("gw_admonition", "hold_admonition", id="flow_admonition", name="yes (是)", cond="admonition == True",
           label=(528, YS - 22, 40, 20))
    f = p.flow("gw_admonition", "gw_admonition_merge", (500, YS - 80), (780, YS - 80), id="flow_no_admonition",
               name="no (否)", start="top", end="top", label=(620, YS - 102, 40, 20))
    p.default("gw_admonition", f)
    p.flow("hold_admonition", "gw_admonition_merge")
    p.flow("gw_admonition_merge", "order_rectification")
    p.flow("order_rectification", "gw_party")
    p.flow("gw_party", "submit_evidence_employer", (1210, YS), id="flow_party_employer", name="employer (招标人)",
           cond="party_role == 'employer'", end="top", label=(1216, YS + 6, 110, 20))
    f = p.flow("gw_party", "submit_evidence_contractor", (1080, YC), id="flow_party_contractor",
               name="contractor (中标人)", start="bottom", label=(1086, YC - 200, 110, 20))
    p.default("gw_party", f)
    p.flow("submit_evidence_employer", "gw_evidence_merge", (1330, YE), (1330, YS))
    p.flow("submit_evidence_contractor", "gw_evidence_merge", (1600, YC), end="bottom")
    p.flow("gw_evidence_merge", "verify_rectification")
    p.flow("verify_rectification", "gw_verified")
    p.flow("gw_verified", "case_closed", id="flow_rectified", name="yes (是)", cond="result == 'rectified'",
           label=(1940, YS - 22, 40, 20))
    f = p.flow("gw_verified", "case_escalated", (1900, YS + 90), id="flow_not_rectified", name="no: escalate (否)",
               start="bottom", label=(1906, YS + 40, 110, 20))
    p.default("gw_verified", f)
    write(BPMN_DIR / "supervision_case.bpmn", "defs_supervision_case", "http://lvyue.org/bpmn/supervision_case",
          "collab_supervision_case", [p], esc)


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--expanded"]:
        EXPANDED = True
        OUTPUT["post_award.bpmn"] = Path(sys.argv[2])
        post_award()
    else:
        post_award()
        supplementary_contract()
        change_publication()
        supervision_case()
