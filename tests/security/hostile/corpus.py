"""A generated corpus of hostile diagrams: tests/fixtures/approval.bpmn with one payload placed in one
spot where a diagram can carry an expression or code (ARCHITECTURE.md §6, issue "Diagrams cannot
run code").

`build(placement, payload, canary)` returns the diagram bytes and the id of the element the refusal
must name. Every variant is XSD-valid BPMN, so the same bytes can also be stored directly (bypassing
the deploy lint) to exercise the run-time path. Each placement has a benign control expression
(`BENIGN`): with it the diagram deploys (scripts and foreign code excepted), which proves that a
refusal is caused by the payload and not by a broken variant.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

from lxml import etree

FIXTURE = Path(__file__).resolve().parent.parent.parent / "fixtures" / "approval.bpmn"

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
LVYUE = "http://lvyue.org/schema/bpmn/1.0"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"

# `{canary}` is replaced by an absolute path; str.replace, not str.format (payloads contain braces).
PAYLOADS: dict[str, str] = {
    "import_os_system": "__import__('os').system('touch {canary}')",
    "dunder_walk": "().__class__.__base__.__subclasses__()",
    "dunder_walk_to_system": ("[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]"
                              ".__init__.__globals__['system']('touch {canary}')"),
    "open_write": "open('{canary}', 'w')",
    "lambda": "(lambda: __import__('os').system('touch {canary}'))()",
    "comprehension": "[open('{canary}', 'w') for i in [1]]",
    "generator": "list(open('{canary}', 'w') for i in [1])",
    "huge_power": "9**9**9",
    "huge_repeat": "'a'*10**9",
    "nesting_5000": "(" * 5000 + "1" + ")" * 5000,
    "nesting_200": "(" * 200 + "1" + ")" * 200,  # short enough to reach the depth check
    "long_100kb": "+".join(["1"] * 50_000),
    "fstring": "f\"{open('{canary}', 'w')}\"",
    "walrus": "(o := __import__('os')) and o.system('touch {canary}')",
    "getattr": "getattr(getattr((), '__class__'), '__base__')",
    "globals": "globals()['__builtins__']['open']('{canary}', 'w')",
    "eval": "eval(\"open('{canary}', 'w')\")",
    "exec": "exec(\"import os; os.system('touch {canary}')\")",
}

# Payloads the whitelist only refuses while evaluating (their syntax is allowed): see the report.
EVALUATION_ONLY = frozenset({"huge_power", "huge_repeat"})

# placement -> a harmless expression in the same spot (None: the spot itself is refused)
BENIGN: dict[str, str | None] = {
    "condition": "approved == True",
    "timeDate": "\"2030-01-01T00:00:00+08:00\"",
    "timeDuration": "\"P30D\"",
    "timeCycle": "\"R2/P1D\"",
    "loopCardinality": "2",
    "completionCondition": "False",
    "loopCondition": "False",
    "alert_due": "date('2030-01-01')",
    "alert_amount": "Decimal('1')",
    "scriptTask": None,
    "preScript": None,
    "postScript": None,
    "executionListener": None,
    "camunda_class": None,
}
PLACEMENTS = tuple(BENIGN)
# Placements whose text SpiffWorkflow (or Lvyue's alert code) would evaluate or execute while running.
EVALUATED = ("condition", "timeDate", "timeDuration", "timeCycle", "loopCardinality", "completionCondition",
             "loopCondition", "alert_due", "alert_amount", "scriptTask")


def payload(name: str, canary: Path | str) -> str:
    return PAYLOADS[name].replace("{canary}", str(canary))


def _q(local: str, ns: str = BPMN) -> str:
    return f"{{{ns}}}{local}"


def _by_id(root, element_id: str):
    return next(e for e in root.iter() if isinstance(e.tag, str) and e.get("id") == element_id)


def _expr(parent, local: str, text: str):
    el = etree.SubElement(parent, _q(local))
    el.set(_q("type", XSI), "bpmn:tFormalExpression")
    el.text = text
    return el


def _extensions(element):
    ext = element.find(_q("extensionElements"))
    if ext is None:
        ext = etree.Element(_q("extensionElements"))
        element.insert(0, ext)
    return ext


def _insert_after_start(root, process, element) -> None:
    """start -f1-> element -f_h-> request_variation (the first user task)."""
    _by_id(root, "f1").set("targetRef", element.get("id"))
    request = _by_id(root, "request_variation")
    request.find(_q("incoming")).text = "f_h"
    incoming = etree.Element(_q("incoming"))
    incoming.text = "f1"
    outgoing = etree.Element(_q("outgoing"))
    outgoing.text = "f_h"
    # tFlowNode: extensionElements?, incoming*, outgoing*, then the element's own children
    position = 1 if element.find(_q("extensionElements")) is not None else 0
    element.insert(position, incoming)
    element.insert(position + 1, outgoing)
    process.append(element)
    etree.SubElement(process, _q("sequenceFlow"), id="f_h", sourceRef=element.get("id"), targetRef="request_variation")


def _boundary_timer(root, process, tag: str, text: str) -> str:
    boundary = etree.SubElement(process, _q("boundaryEvent"), id="t_hostile", attachedToRef="request_variation",
                                cancelActivity="false")
    etree.SubElement(boundary, _q("outgoing")).text = "f_t"
    definition = etree.SubElement(boundary, _q("timerEventDefinition"))
    _expr(definition, tag, text)
    end = etree.SubElement(process, _q("endEvent"), id="end_t")
    etree.SubElement(end, _q("incoming")).text = "f_t"
    etree.SubElement(process, _q("sequenceFlow"), id="f_t", sourceRef="t_hostile", targetRef="end_t")
    return "t_hostile"


def _multi_instance(root, cardinality: str, completion: str | None) -> str:
    task = _by_id(root, "approve_variation")
    mi = etree.SubElement(task, _q("multiInstanceLoopCharacteristics"), isSequential="false")
    _expr(mi, "loopCardinality", cardinality)
    if completion is not None:
        _expr(mi, "completionCondition", completion)
    return "approve_variation"


def _alert(root, process, due: str, amount: str) -> str:
    escalation = etree.Element(_q("escalation"), id="esc_hostile", escalationCode="HOSTILE_WARNING")
    root.insert(0, escalation)
    throw = etree.Element(_q("intermediateThrowEvent"), id="warn_hostile", name="Hostile warning")
    ext = etree.SubElement(throw, _q("extensionElements"))
    etree.SubElement(ext, _q("alert", LVYUE), nsmap={"lvyue": LVYUE}, kind="non_performance", severity="yellow",
                     responsible="contractor", due=due, amount=amount)
    etree.SubElement(throw, _q("escalationEventDefinition"), escalationRef="esc_hostile")
    _insert_after_start(root, process, throw)
    # tThrowEvent: the event definition comes after incoming/outgoing
    throw.append(throw.find(_q("escalationEventDefinition")))
    return "warn_hostile"


def build(placement: str, text: str, process_id: str = "variation_approval") -> tuple[bytes, str]:
    """Diagram bytes with `text` in `placement`, and the element id a refusal must name."""
    root = etree.fromstring(FIXTURE.read_bytes())
    process = root.find(_q("process"))
    if process_id != "variation_approval":
        process.set("id", process_id)
        root.find(f"{_q('collaboration')}/{_q('participant')}").set("processRef", process_id)

    if placement == "condition":
        condition = _by_id(root, "f_ok").find(_q("conditionExpression"))
        condition.text = text
        element_id = "f_ok"
    elif placement in ("timeDate", "timeDuration", "timeCycle"):
        element_id = _boundary_timer(root, process, placement, text)
    elif placement == "loopCardinality":
        element_id = _multi_instance(root, text, None)
    elif placement == "completionCondition":
        element_id = _multi_instance(root, "2", text)
    elif placement == "loopCondition":
        task = _by_id(root, "approve_variation")
        loop = etree.SubElement(task, _q("standardLoopCharacteristics"), testBefore="false", loopMaximum="3")
        _expr(loop, "loopCondition", text)
        element_id = "approve_variation"
    elif placement == "alert_due":
        element_id = _alert(root, process, text, "Decimal('1')")
    elif placement == "alert_amount":
        element_id = _alert(root, process, "date('2030-01-01')", text)
    elif placement == "scriptTask":
        task = etree.Element(_q("scriptTask"), id="hostile_script", name="Hostile script", scriptFormat="python")
        etree.SubElement(task, _q("script")).text = text
        _insert_after_start(root, process, task)
        task.append(task.find(_q("script")))  # tScriptTask: script after incoming/outgoing
        element_id = "hostile_script"
    elif placement in ("preScript", "postScript"):
        request = _by_id(root, "request_variation")
        etree.SubElement(_extensions(request), _q(placement, SPIFF), nsmap={"spiffworkflow": SPIFF}).text = text
        element_id = "request_variation"
    elif placement == "executionListener":
        request = _by_id(root, "request_variation")
        listener = etree.SubElement(_extensions(request), _q("executionListener", CAMUNDA),
                                    nsmap={"camunda": CAMUNDA}, event="start")
        etree.SubElement(listener, _q("script", CAMUNDA), scriptFormat="python").text = text
        element_id = "request_variation"
    elif placement == "camunda_class":
        task = etree.Element(_q("serviceTask"), {_q("class", CAMUNDA): text}, nsmap={"camunda": CAMUNDA},
                             id="hostile_service", name="Hostile delegate")
        _insert_after_start(root, process, task)
        element_id = "hostile_service"
    else:
        raise ValueError(f"unknown placement {placement}")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), element_id


def build_with_message_catch(process_id: str, message_name: str = "hostile_msg") -> bytes:
    """The approval diagram waiting for a message (`message_name`) before its first task: for payloads that
    are data, not code."""
    root = etree.fromstring(FIXTURE.read_bytes())
    process = root.find(_q("process"))
    process.set("id", process_id)
    root.find(f"{_q('collaboration')}/{_q('participant')}").set("processRef", process_id)
    message = etree.Element(_q("message"), id="msg_hostile", name=message_name)
    etree.SubElement(etree.SubElement(message, _q("extensionElements")), f"{{{LVYUE}}}external")  # postable
    root.insert(0, message)
    catch = etree.Element(_q("intermediateCatchEvent"), id="wait_message")
    etree.SubElement(catch, _q("messageEventDefinition"), messageRef="msg_hostile")
    _insert_after_start(root, process, catch)
    catch.append(catch.find(_q("messageEventDefinition")))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")



# ---------------------------------------------------------------------------------------- hostile JSON bodies
# Issue 14: values a JSON parser accepts but nothing after it can hold. Each payload is raw JSON text put
# in place of one field of an otherwise valid body; `BODY_PAYLOADS[name] = (text, status, names_field)`:
# the expected status, and whether the refusal names that field (else it names `body`, the document).
BODY_PAYLOADS: dict[str, tuple[str, int, bool]] = {
    "deep_json": ("[" * 100_000 + "]" * 100_000, 400, False),
    "deep_objects": ('{"a":' * 5_000 + "1" + "}" * 5_000, 400, False),
    "huge_integer": ("9" * 5_000, 422, True),
    "negative_huge_integer": ("-" + "9" * 5_000, 422, True),
    "float_overflow": ("1e999999", 422, True),
    "nan": ("NaN", 400, True),
    "lone_surrogate": ('"\\ud800"', 422, True),
    "lone_surrogate_in_text": ('"\\u5c65\\udfff\\u7ea6"', 422, True),
}
_HOLE = "__lvyue_hostile_value__"


def _with(body: dict, path: tuple[str, ...], value) -> dict:
    document = copy.deepcopy(body)
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return document


def hostile_body(body: dict, path: tuple[str, ...], name: str) -> bytes:
    """`body` as JSON with the value at `path` replaced by the raw payload `name`."""
    return json.dumps(_with(body, path, _HOLE)).replace(json.dumps(_HOLE), BODY_PAYLOADS[name][0]).encode()


def oversized_body(body: dict, path: tuple[str, ...], size: int) -> bytes:
    """`body` with the string at `path` grown so that the document is more than `size` bytes."""
    return json.dumps(_with(body, path, "a" * (size + 1))).encode()


if __name__ == "__main__":  # python -m tests.security.hostile.corpus OUT_DIR [CANARY]: write the corpus as files
    import sys

    out = Path(sys.argv[1])
    canary = sys.argv[2] if len(sys.argv) > 2 else "/tmp/lvyue-CANARY"
    out.mkdir(parents=True, exist_ok=True)
    for placement_name in PLACEMENTS:
        for payload_name in PAYLOADS:
            data, _ = build(placement_name, payload(payload_name, canary))
            (out / f"{placement_name}-{payload_name}.bpmn").write_bytes(data)
    print(f"{len(PLACEMENTS) * len(PAYLOADS)} diagrams in {out}")
