"""Reading and linting BPMN diagrams: untrusted XML in, a checked `Diagram` or a list of problems out.

Order of defence (ARCHITECTURE.md §7): size cap → hardened lxml parse (no DTD, no entities, no
network, no XInclude, bounded depth) → BPMN 2.0 XSD (inside `spiff.parse_spec`) → Lvyue's lint:
lanes are contract roles, no scripts or foreign code, every expression parses with the safe
evaluator (nothing is evaluated), forms are well-formed. Each problem names the element and line.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from engine.runtime import expressions, forms, hooks, ladders, spiff

MAX_BYTES = 2 * 1024 * 1024  # the shipped post-award diagram is ~60 KB; 2 MB leaves room, not abuse
MAX_DEPTH = 64  # BPMN nests processes/subprocesses a few levels; 64 only stops pathological input
MAX_ELEMENTS = 20_000

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
LVYUE_NS = "http://lvyue.org/schema/bpmn/1.0"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
XINCLUDE_NS = ("http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude")

ROLES = ("employer", "contractor", "guarantor", "supervisor")
# Lanes drawn with the Chinese role names of the trading centres' own charts map to the same roles.
ROLE_ALIASES = {
    "招标人": "employer", "采购人": "employer", "建设单位": "employer", "发包人": "employer",
    "中标人": "contractor", "供应商": "contractor", "承包人": "contractor", "成交供应商": "contractor",
    "担保人": "guarantor", "担保机构": "guarantor", "出具人": "guarantor",
    "监管部门": "supervisor", "行政监督部门": "supervisor", "监督部门": "supervisor",
}
HUMAN_TASKS = ("userTask", "manualTask")
CODE_ELEMENTS = {
    (BPMN_NS, "script"): "script",
    (SPIFF_NS, "preScript"): "pre-script", (SPIFF_NS, "postScript"): "post-script",
    (SPIFF_NS, "serviceTaskOperator"): "service operator",
    (CAMUNDA_NS, "script"): "script", (CAMUNDA_NS, "executionListener"): "execution listener",
    (CAMUNDA_NS, "taskListener"): "task listener", (CAMUNDA_NS, "connector"): "connector",
}
CODE_ATTRIBUTES = ("class", "expression", "delegateExpression", "resultVariable")


@dataclass
class Problem:
    message: str
    element_id: str | None = None
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"element_id": self.element_id, "line": self.line, "message": self.message}


class DiagramRejected(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass
class Diagram:
    """What Lvyue needs to know about a checked diagram, kept as plain data (`model`)."""

    key: str
    name: str | None
    sha256: str
    xml: str
    bundle: spiff.SpecBundle
    model: dict[str, Any] = field(default_factory=dict)


_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                       huge_tree=False, remove_comments=False, remove_pis=True, collect_ids=False)


def _parse_xml(data: bytes) -> etree._Element:
    if len(data) > MAX_BYTES:
        raise DiagramRejected([Problem(f"the diagram is larger than {MAX_BYTES} bytes")])
    parser = etree.XMLParser(**_PARSER_OPTIONS)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        if "depth" in (exc.msg or "").lower():
            raise DiagramRejected([Problem(f"XML nested deeper than {MAX_DEPTH} levels", None, exc.lineno)]) from None
        raise DiagramRejected([Problem(f"malformed XML: {exc.msg}", None, exc.lineno)]) from None
    doc = root.getroottree().docinfo
    if doc.doctype or doc.internalDTD is not None or doc.externalDTD is not None:
        raise DiagramRejected([Problem("a DOCTYPE is not allowed in a diagram", None, 1)])
    count = 0
    for element in root.iter():
        count += 1
        if count > MAX_ELEMENTS:
            raise DiagramRejected([Problem(f"the diagram has more than {MAX_ELEMENTS} XML elements")])
        if isinstance(element, etree._Entity):
            raise DiagramRejected([Problem("XML entities are not allowed", None, element.sourceline)])
        if not isinstance(element.tag, str):
            continue
        if etree.QName(element).namespace in XINCLUDE_NS:
            raise DiagramRejected([Problem("XInclude is not allowed", None, element.sourceline)])
    _check_depth(root)
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise DiagramRejected([Problem(f"the root element must be bpmn:definitions, not {etree.QName(root).localname}",
                                       None, root.sourceline)])
    return root


def _check_depth(root) -> None:
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DiagramRejected([Problem(f"XML nested deeper than {MAX_DEPTH} levels", None, element.sourceline)])
        stack.extend((child, depth + 1) for child in element)


def _q(local: str, ns: str = BPMN_NS) -> str:
    return f"{{{ns}}}{local}"


def role_of_lane(name: str | None) -> str | None:
    """The contract role a lane named `name` stands for: one of ROLES (any case, e.g. `Employer`), or a
    Chinese term of ROLE_ALIASES (招标人 → employer); None when it names no role. The one place a lane
    name becomes a role: the lint, the task rows and so the authorization all read it from here."""
    if not name:
        return None
    text = " ".join(name.split())
    lowered = text.lower()
    if lowered in ROLES:
        return lowered
    return ROLE_ALIASES.get(text)


def _pick_process(root) -> tuple[etree._Element | None, list[Problem]]:
    processes = root.findall(_q("process"))
    if not processes:
        return None, [Problem("the diagram has no bpmn:process")]
    # A process calling itself is still the top-level one; the lint refuses the recursion by name.
    called = {c.get("calledElement") for p in processes for c in p.iter(_q("callActivity"))
              if c.get("calledElement") != p.get("id")}
    called |= {p.get("process") for p in root.iter(f"{{{LVYUE_NS}}}partition")}
    candidates = [p for p in processes if p.get("id") not in called and p.get("isExecutable", "true") != "false"]
    if len(candidates) != 1:
        ids = ", ".join(p.get("id") or "?" for p in candidates or processes)
        return None, [Problem(f"exactly one executable top-level process is needed, found: {ids}")]
    return candidates[0], []


def _expression_problems(text: str | None, element, what: str, is_timer: bool = False) -> list[Problem]:
    if text is None or not text.strip():
        return [Problem(f"{what} is empty", _element_id(element), element.sourceline)]
    if is_timer and spiff.iso_literal(text) is not None:
        return []
    try:
        expressions.compile_expression(text)
    except expressions.ExpressionError as exc:
        return [Problem(f"{what} '{_clip(text)}' is refused: {exc.reason}", _element_id(element), element.sourceline)]
    return []


def _clip(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _process_of(element) -> str | None:
    while element is not None and element.tag != _q("process"):
        element = element.getparent()
    return element.get("id") if element is not None else None


def _element_id(element) -> str | None:
    while element is not None:
        if element.get("id"):
            return element.get("id")
        element = element.getparent()
    return None


@dataclass
class _Lint:
    """A diagram under lint: its root and top-level process, the parts of its model the checks have read so
    far (a check may use what an earlier one read: user tasks need the lanes, messages the partitions)."""
    root: Any
    process: Any
    lanes: dict[str, str | None] = field(default_factory=dict)  # flow node id → role, or "?lane" when none
    user_tasks: dict[str, Any] = field(default_factory=dict)
    start_fields: list[dict[str, Any]] = field(default_factory=list)
    alerts: dict[str, Any] = field(default_factory=dict)
    partitions: dict[str, Any] = field(default_factory=dict)
    messages: dict[str, Any] = field(default_factory=dict)


def _check_lanes(lint: _Lint) -> list[Problem]:
    """Every lane is named after a contract role (or a Chinese alias of one); reads which role each flow node
    sits in."""
    problems = []
    for lane in lint.root.iter(_q("lane")):
        role = role_of_lane(lane.get("name"))
        if role is None:
            # Refused even when it holds no user task yet: a lane is a promise of who acts there.
            problems.append(Problem(f"lane '{lane.get('name') or ''}' is not a contract role; name it one of "
                                    f"{', '.join(ROLES)} (or 招标人/采购人, 中标人/供应商/承包人, 担保人/担保机构, "
                                    "监管部门/行政监督部门)", lane.get("id"), lane.sourceline))
        for ref in lane.findall(_q("flowNodeRef")):
            lint.lanes[(ref.text or "").strip()] = role if role else f"?{lane.get('name') or lane.get('id')}"
    return problems


def _check_code(lint: _Lint) -> list[Problem]:
    """No element or Camunda attribute that runs code, and no task type SpiffWorkflow would leave hanging."""
    problems = []
    for element in lint.root.iter():
        if not isinstance(element.tag, str):
            continue
        problem = _code_element_problem(element)
        if problem is not None:
            problems.append(problem)
        problems.extend(_code_attribute_problems(element))
    return problems


def _code_element_problem(element) -> Problem | None:
    """The problem of one element when it is a script task, an unsupported task type or a code element."""
    qname = etree.QName(element)
    if qname.localname == "scriptTask" and qname.namespace == BPMN_NS:
        return Problem("script tasks are not allowed: work that needs code is a registered service",
                       element.get("id"), element.sourceline)
    if qname.localname in ("serviceTask", "sendTask", "businessRuleTask") and qname.namespace == BPMN_NS:
        # SpiffWorkflow leaves them STARTED forever: the contract would hang with nothing to do.
        return Problem(f"{qname.localname} is not supported: model people's work as a user task "
                       "in a role lane, and waiting as a receive task or a timer",
                       element.get("id"), element.sourceline)
    if (qname.namespace, qname.localname) in CODE_ELEMENTS and (qname.namespace, qname.localname) != (BPMN_NS, "script"):
        # bpmn:script is the body of a scriptTask, reported above
        return Problem(f"{CODE_ELEMENTS[(qname.namespace, qname.localname)]} elements run code and are not allowed",
                       _element_id(element), element.sourceline)
    return None


def _code_attribute_problems(element) -> list[Problem]:
    """The Camunda attributes of one element that run code (class, expression, …)."""
    problems = []
    for attr in element.attrib:
        aq = etree.QName(attr)
        if aq.namespace == CAMUNDA_NS and aq.localname in CODE_ATTRIBUTES:
            problems.append(Problem(f"camunda:{aq.localname} runs code and is not allowed",
                                    element.get("id"), element.sourceline))
    return problems


def _check_user_tasks(lint: _Lint) -> list[Problem]:
    """Every user (and manual) task sits in a role lane and has a well-formed form; reads the user tasks."""
    problems = []
    for local in HUMAN_TASKS:
        for task in lint.root.iter(_q(local)):
            task_id = task.get("id")
            role = lint.lanes.get(task_id)
            if role is None:
                problems.append(Problem("a user task must sit in a lane named after a contract role "
                                        f"({', '.join(ROLES)})", task_id, task.sourceline))
            fields, form_problems = forms.read_form(task)
            problems.extend(Problem(m, task_id, line) for m, line in form_problems)
            lint.user_tasks[task_id] = {"name": task.get("name"),
                                        "lane": role if role and not role.startswith("?") else None,
                                        "form": fields, "process": _process_of(task)}
    return problems


def _check_conditions(lint: _Lint) -> list[Problem]:
    """Every condition, completion condition and loop expression compiles with the safe evaluator."""
    problems = []
    for cond in lint.root.iter(_q("conditionExpression"), _q("completionCondition"), _q("loopCardinality"),
                               _q("condition"), _q("loopCondition")):
        problems.extend(_expression_problems(cond.text, cond, etree.QName(cond).localname))
    return problems


def _check_timers(lint: _Lint) -> list[Problem]:
    """Every timer value is a literal SpiffWorkflow can run or, if not a literal, an expression that compiles."""
    problems = []
    for tag in ("timeDate", "timeDuration", "timeCycle"):
        for timer in lint.root.iter(_q(tag)):
            literal_problems = _timer_literal_problems(timer, tag)
            problems.extend(literal_problems or _expression_problems(timer.text, timer, f"timer {tag}", is_timer=True))
    return problems


def _check_start_form(lint: _Lint) -> list[Problem]:
    """The forms of the top-level process's start events are well-formed; reads their fields."""
    problems = []
    for start in lint.process.findall(_q("startEvent")):
        fields, form_problems = forms.read_form(start)
        problems.extend(Problem(m, start.get("id"), line) for m, line in form_problems)
        lint.start_fields.extend(fields)
    return problems


def _check_calls(lint: _Lint) -> list[Problem]:
    return _call_cycle_problems(lint.root)


def _check_loops(lint: _Lint) -> list[Problem]:
    return _loop_problems(lint.root)


def _check_alerts(lint: _Lint) -> list[Problem]:
    problems: list[Problem] = []
    lint.alerts = _read_alerts(lint.root, problems)
    return problems


def _check_partitions(lint: _Lint) -> list[Problem]:
    problems: list[Problem] = []
    lint.partitions = _read_partitions(lint.root, problems)
    return problems


def _check_messages(lint: _Lint) -> list[Problem]:
    problems: list[Problem] = []
    lint.messages = _read_messages(lint.root, lint.partitions, problems)
    return problems


def _check_deadline_rules(lint: _Lint) -> list[Problem]:
    return _deadline_rule_problems(lint.root)


# The lint, in the order its problems are reported; a check may rely on what an earlier one read.
LINT_CHECKS = (_check_lanes, _check_code, _check_user_tasks, _check_conditions, _check_timers, _check_start_form,
               _check_calls, _check_loops, _check_alerts, _check_partitions, _check_messages, _check_deadline_rules)


def _lint(root, process) -> tuple[list[Problem], dict[str, Any]]:
    """Every problem of the diagram (LINT_CHECKS in order) and its model: what Lvyue keeps of it."""
    lint = _Lint(root, process)
    problems: list[Problem] = []
    for check in LINT_CHECKS:
        problems.extend(check(lint))
    roles_used = sorted({r for r in lint.lanes.values() if r and not r.startswith("?")})
    model = {"process_id": process.get("id"), "name": process.get("name"), "roles": roles_used,
             "user_tasks": lint.user_tasks, "start_form": lint.start_fields, "alerts": lint.alerts,
             "partitions": lint.partitions, "messages": lint.messages,
             "elements": sorted({e.get("id") for e in process.iter() if isinstance(e.tag, str) and e.get("id")})}
    return problems, model


ALERT_KINDS = ("arrears", "non_performance")
SEVERITIES = ("yellow", "orange", "red")
PARTY_ROLES = ("employer", "contractor", "guarantor")


def _read_alerts(root, problems: list[Problem]) -> dict[str, Any]:
    """The warning construct (ARCHITECTURE.md §5): an escalation throw event whose escalationCode is
    the alert code, with `<lvyue:alert kind severity responsible due [amount] [met_date] [rule]
    [legal_basis] [basis]/>` in its extensionElements (`basis`: an expression giving the `rule` and
    `legal_basis` that applied to this instance, where the diagram cannot name one rule). Placed after a boundary timer, it concerns the
    activity that timer sits on; the alert resolves itself when that activity completes."""
    codes = {e.get("id"): e.get("escalationCode") for e in root.iter(_q("escalation"))}
    throws = set()
    alerts: dict[str, Any] = {}
    for event in root.iter(_q("intermediateThrowEvent"), _q("endEvent")):
        definition = event.find(_q("escalationEventDefinition"))
        spec = event.find(f"{_q('extensionElements')}/{{{LVYUE_NS}}}alert")
        if spec is None:
            continue
        throws.add(spec)
        eid, line = event.get("id"), spec.sourceline
        if definition is None:
            problems.append(Problem("lvyue:alert belongs on an escalation throw event", eid, line))
            continue
        code = codes.get(definition.get("escalationRef"))
        if not code:
            problems.append(Problem("the escalation needs an escalationCode: it is the alert code", eid, line))
            continue
        entry = {k: spec.get(k) for k in ("kind", "severity", "responsible", "due", "amount", "met_date", "rule",
                                           "legal_basis", "basis", "occurrence", "resolve_when", "awaits")}
        entry["code"] = code
        for key, allowed in (("kind", ALERT_KINDS), ("severity", SEVERITIES), ("responsible", PARTY_ROLES)):
            if entry[key] not in allowed:
                problems.append(Problem(f"lvyue:alert {key}='{entry[key] or ''}' must be one of {', '.join(allowed)}", eid, line))
        if not entry["due"]:
            problems.append(Problem("lvyue:alert needs due=\"…\": the deadline the obligation had, e.g. "
                                    "deadline('R04', award_notice_date)", eid, line))
        for key in ("due", "amount", "occurrence", "resolve_when", "basis"):
            if entry[key]:
                problems.extend(_expression_problems(entry[key], spec, f"alert {key}"))
        if entry["met_date"] and not forms.NAME.match(entry["met_date"]):
            problems.append(Problem("lvyue:alert met_date names the task field that holds the date the obligation was met",
                                    eid, line))
        entry["awaited"] = entry["awaits"] or _awaited_activity(root, event)
        # The activity whose non-interrupting timer raises it (the warning construct), even where the warning awaits
        # another task: that activity shows the warning's due as its deadline.
        entry["attached"] = _awaited_activity(root, event, timers_only=True)
        if entry["awaits"] and not any(t.get("id") == entry["awaits"] for t in root.iter(_q("userTask"))):
            problems.append(Problem(f"lvyue:alert awaits='{entry['awaits']}' must name a user task", eid, line))
        alerts[eid] = entry
    for spec in root.iter(f"{{{LVYUE_NS}}}alert"):
        if spec not in throws:
            problems.append(Problem("lvyue:alert belongs on an escalation throw event", _element_id(spec), spec.sourceline))
    return alerts


def _awaited_activity(root, event, timers_only: bool = False) -> str | None:
    """The activity whose boundary timer leads (through plain flow nodes) to this throw event. `timers_only`: only a
    non-interrupting timer's (the warning construct), else None."""
    flows = {f.get("targetRef"): f.get("sourceRef") for f in root.iter(_q("sequenceFlow"))}
    by_id = {e.get("id"): e for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
    current, seen = event.get("id"), set()
    while current and current not in seen:
        seen.add(current)
        element = by_id.get(current)
        if element is not None and element.tag == _q("boundaryEvent"):
            if timers_only and (element.get("cancelActivity") != "false"
                                or element.find(_q("timerEventDefinition")) is None):
                return None
            return element.get("attachedToRef")
        current = flows.get(current)
    return None


def _read_partitions(root, problems: list[Problem]) -> dict[str, Any]:
    """`<lvyue:partition process collection item/>` on a receive task: one small workflow of `process`
    per item of `collection`; when all completed, the receive task's message is delivered."""
    processes = {p.get("id") for p in root.iter(_q("process"))}
    messages = {m.get("id"): m.get("name") for m in root.iter(_q("message"))}
    out: dict[str, Any] = {}
    for spec in root.iter(f"{{{LVYUE_NS}}}partition"):
        holder = spec.getparent().getparent()
        eid, line = _element_id(spec), spec.sourceline
        if holder is None or holder.tag != _q("receiveTask"):
            problems.append(Problem("lvyue:partition belongs on a receive task (it waits for the partitions)", eid, line))
            continue
        entry = {k: spec.get(k) for k in ("process", "collection", "item")}
        entry["message"] = messages.get(holder.get("messageRef"))
        if entry["process"] not in processes:
            problems.append(Problem(f"lvyue:partition process '{entry['process']}' is not a process of this file", eid, line))
        for key in ("collection", "item"):
            if not entry[key] or not forms.NAME.match(entry[key]):
                problems.append(Problem(f"lvyue:partition {key} must name a process variable", eid, line))
        if not entry["message"]:
            problems.append(Problem("the partition's receive task needs a messageRef to a named bpmn:message", eid, line))
        out[eid] = entry
    return out


def _read_messages(root, partitions: dict[str, Any], problems: list[Problem]) -> dict[str, dict[str, bool]]:
    """Every named bpmn:message → {"external": bool}. A message is external — postable from outside with
    `POST /instances/{id}/messages/{name}` — only when it carries `<lvyue:external/>` in its
    extensionElements; all others are the engine's own (delivered by a partition, a claim, a refusal)."""
    out: dict[str, dict[str, bool]] = {}
    internal = {p["message"] for p in partitions.values() if p.get("message")}
    for message in root.iter(_q("message")):
        external = message.find(f"{_q('extensionElements')}/{{{LVYUE_NS}}}external") is not None
        name, eid, line = message.get("name"), message.get("id"), message.sourceline
        if not name:
            if external:
                problems.append(Problem("an external message needs a name: it is the {name} of "
                                        "POST /instances/{id}/messages/{name}", eid, line))
            continue
        if external and not forms.NAME.match(name):
            problems.append(Problem(f"external message '{_clip(name)}' cannot be posted: a name is a letter followed by "
                                    "letters, digits or _", eid, line))
        if external and name in internal:
            problems.append(Problem(f"message '{name}' completes a partition (lvyue:partition): it is the engine's own "
                                    "and cannot be external", eid, line))
        out[name] = {"external": external or out.get(name, {}).get("external", False)}
    for spec in root.iter(f"{{{LVYUE_NS}}}external"):
        holder = spec.getparent().getparent() if spec.getparent() is not None else None
        if holder is None or holder.tag != _q("message") or spec.getparent().tag != _q("extensionElements"):
            problems.append(Problem("lvyue:external belongs in the extensionElements of a bpmn:message",
                                    _element_id(spec), spec.sourceline))
    return out


def messages_of(model: dict[str, Any], xml: str) -> dict[str, dict[str, bool]]:
    """The named messages of a deployed definition, {name: {"external": bool}}: from its lint model, or, for a
    version deployed before the model kept them, read again from its stored diagram."""
    if "messages" in model:
        return model["messages"]
    return _read_messages(_parse_xml(xml.encode("utf-8")), {}, [])


def _deadline_rule_problems(root) -> list[Problem]:
    """A literal rule id in deadline("…", …) must exist in the rule registry."""
    if hooks.REGISTRY.rule_ids is None:
        return []  # no rule registry was registered: nothing to check the ids against
    known = set(hooks.REGISTRY.rule_ids())
    out = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        texts = [element.text or ""] + [element.get(a) or "" for a in ("due", "amount")]
        for text in texts:
            for rule in re.findall(r"deadline\(\s*['\"]([^'\"]+)['\"]", text):
                if rule not in known:
                    out.append(Problem(f"deadline rule '{rule}' is not in the rule registry (known: {', '.join(sorted(known))})",
                                       _element_id(element), element.sourceline))
    return out


# Unquoted text that can only have been meant as an ISO 8601 value (a date, a duration, a cycle).
LOOKS_LITERAL = re.compile(r"^(\d{4}-|P|R\d*/)[0-9A-Za-z:+\-./]*$")


def _timer_literal_problems(timer, tag: str) -> list[Problem]:
    """A literal timer value must be one SpiffWorkflow can run and must not be a naive date-time."""
    text = (timer.text or "").strip()
    if len(text) > 2 and text[0] == text[-1] and text[0] in "'\"":
        literal = text[1:-1]
    elif LOOKS_LITERAL.match(text):
        literal = text
    else:
        return []
    element_id = _element_id(timer)
    if tag == "timeDate":
        if spiff.iso_literal(literal) is None or "T" not in literal:
            return [Problem(f"timeDate '{literal}' is not an ISO 8601 date-time with an offset "
                            "(e.g. 2026-12-31T24:00:00+08:00 is written 2027-01-01T00:00:00+08:00)",
                            element_id, timer.sourceline)]
    elif tag == "timeDuration" and not literal.startswith("P"):
        return [Problem(f"timeDuration '{literal}' is not an ISO 8601 duration such as P30D or PT12H",
                        element_id, timer.sourceline)]
    elif tag == "timeCycle" and not literal.startswith("R"):
        return [Problem(f"timeCycle '{literal}' is not an ISO 8601 repeating interval such as R3/P1D",
                        element_id, timer.sourceline)]
    if spiff.iso_literal(literal) is None:
        return [Problem(f"{tag} '{literal}' is not valid ISO 8601", element_id, timer.sourceline)]
    problem = spiff.timer_value_problem(tag, literal)
    if problem is not None:
        return [Problem(f"{tag} '{_clip(literal, 40)}' is refused: {problem}", element_id, timer.sourceline)]
    return []


def _binding_problems(root, key: str) -> list[Problem]:
    """Every element a registered listener binds to in this process must exist (engine/runtime/hooks.py):
    renaming one fails here, at deploy, not silently when the listener would have run."""
    present = {e.get("id") for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
    return [Problem(f"listener '{b.listener}' needs element '{element}' in process '{key}'; this diagram has none "
                    "(rename it back, or change the listener's binding in engine/supervision/bindings.py)")
            for b, element in hooks.missing_bindings(key, present)]


def _call_cycle_problems(root) -> list[Problem]:
    """Call activities that (directly or through other processes of the file) call their own process.

    A call activity can only call a process of the same file (SpiffWorkflow builds the spec from the file),
    so the whole call graph is here. At run time such a process would nest subprocesses without end."""
    calls: dict[str, list[tuple[str, Any]]] = {}
    for process in root.iter(_q("process")):
        calls[process.get("id")] = [(c.get("calledElement"), c) for c in process.iter(_q("callActivity"))]
    problems = []
    for process_id, activities in calls.items():
        for called, activity in activities:
            path = _call_path(calls, called, process_id)
            if path is not None:
                chain = " → ".join([process_id, *path])
                problems.append(Problem(f"call activity calls '{called}', which comes back to '{process_id}' "
                                        f"({chain}): a process may not call itself", activity.get("id"),
                                        activity.sourceline))
    return problems


def _call_path(calls: dict[str, list[tuple[str, Any]]], start: str | None, target: str) -> list[str] | None:
    """The chain of processes from `start` to `target` along call activities, if there is one."""
    pending, seen = [(start, [start])], set()
    while pending:
        current, path = pending.pop()
        if current == target:
            return path
        if current in seen or current not in calls:
            continue
        seen.add(current)
        pending.extend((called, [*path, called]) for called, _ in calls[current])
    return None


def _loop_problems(root) -> list[Problem]:
    """Multi-instance cardinalities and loop maximums above MAX_MULTI_INSTANCE, where they are constants
    (a cardinality computed from data is checked when it is evaluated: spiff.SafeScriptEngine; a loop of
    automatic tasks without a maximum is stopped by the step budget: spiff.run_until_waiting)."""
    cap = spiff.MAX_MULTI_INSTANCE
    problems = []
    for element in root.iter(_q("loopCardinality")):
        text = (element.text or "").strip()
        try:
            expression = expressions.compile_expression(text)
            value = expression.evaluate({}) if not expression.names else None
        except expressions.ExpressionError:
            continue  # reported as an expression problem
        if isinstance(value, int) and not isinstance(value, bool) and value > cap:
            activity = element.getparent().getparent()
            problems.append(Problem(f"loop cardinality {value} is more than the {cap} instances one multi-instance "
                                    "activity may have; split the work into partitions (lvyue:partition)",
                                    _element_id(activity), element.sourceline))
    for loop in root.iter(_q("standardLoopCharacteristics")):
        maximum = (loop.get("loopMaximum") or "").strip()
        if maximum.isdigit() and (len(maximum) > 9 or int(maximum) > cap):
            problems.append(Problem(f"loopMaximum {_clip(maximum, 20)} is more than {cap}", _element_id(loop.getparent()),
                                    loop.sourceline))
    return problems


def _line_of(root, element_id: str | None) -> int | None:
    if not element_id:
        return None
    for element in root.iter():
        if isinstance(element.tag, str) and element.get("id") == element_id:
            return element.sourceline
    return None


def read(data: bytes | str, filename: str = "diagram.bpmn") -> Diagram:
    """Parse, validate and lint a diagram. Raises DiagramRejected with every problem found."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    root = _parse_xml(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Well-formed in another declared encoding: we store and serve diagrams as UTF-8 only.
        line = data[: exc.start].count(b"\n") + 1
        raise DiagramRejected([Problem("a diagram must be UTF-8 encoded", None, line)]) from None
    # Warning ladders become the warning construct they stand for before anything reads the process (ladders.py);
    # the stored diagram (`xml`) stays the drawn one.
    expansion = ladders.expand(root)
    if expansion.problems:
        raise DiagramRejected([Problem(p.message, p.element_id, p.line) for p in expansion.problems])
    process, problems = _pick_process(root)
    if process is None:
        raise DiagramRejected(_call_cycle_problems(root) + problems)
    problems, model = _lint(root, process)
    model["drawn"] = expansion.drawn
    problems += _binding_problems(root, process.get("id"))
    if problems:
        raise DiagramRejected([Problem(p.message, *expansion.located(p.element_id, p.line)) for p in problems])
    try:
        bundle = spiff.parse_spec(root, process.get("id"), filename,
                                  sorted({p["process"] for p in model["partitions"].values()}))
    except spiff.DiagramError as exc:
        element_id, line = expansion.located(exc.element_id, exc.line or _line_of(root, exc.element_id))
        raise DiagramRejected([Problem(exc.message, element_id, line)]) from None
    return Diagram(key=process.get("id"), name=process.get("name"), sha256=hashlib.sha256(data).hexdigest(),
                   xml=text, bundle=bundle, model=model)


def validate(data: bytes | str) -> list[Problem]:
    """Every problem of a diagram, without deploying it (empty list: deployable)."""
    try:
        read(data)
    except DiagramRejected as exc:
        return exc.problems
    return []
