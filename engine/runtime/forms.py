"""Task and start forms: what data a user task (or the start of a contract) accepts.

A form is declared in the diagram, on the element, in one of two dialects:

* Lvyue's own: `<lvyue:form><lvyue:field name="amount" type="money" required="true" min="0"/></lvyue:form>`
  (types: string, text, integer, money, decimal, number, boolean, date, datetime, enum [values="a,b"],
  sha256, object and list [nested lvyue:field children]);
* Camunda's `camunda:formData/camunda:formField` (string, long, boolean, date, enum), so diagrams
  drawn in the Camunda Modeler keep their forms.

Declared forms are strict: unknown fields, wrong types and missing required fields are refused with
the field path named. An element without a form accepts any JSON object of plain named values.
Validated values are typed (Decimal for money, date for dates) and stay small (ARCHITECTURE.md §3).

Money and dates take the one strict shape of engine/values.py: `money` — and `decimal`, its older
name, which every shipped diagram uses for amounts — is a decimal string of at most 15 digits and 2
decimals, never negative; `date` is "YYYY-MM-DD" within values' window; `number` is a bounded decimal
(string, integer, or a JSON number written without an exponent) for what is not money.
"""
from __future__ import annotations

import functools
import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from lxml import etree
from marshmallow import RAISE, Schema, ValidationError, fields as mf, validate as mv

from engine.runtime import hooks, values

LVYUE_NS = "http://lvyue.org/schema/bpmn/1.0"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"

TYPES = ("string", "text", "integer", "money", "decimal", "number", "boolean", "date", "datetime", "enum", "sha256",
         "object", "list")
MONEY_TYPES = ("money", "decimal")
CAMUNDA_TYPES = {"string": "string", "long": "integer", "boolean": "boolean", "date": "date", "enum": "enum"}
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


def reserved() -> set[str]:
    """Names a form or caller's data may not use: the role bindings that decide who may act on an instance
    (registered by the domain, engine/runtime/hooks.py); task data must never rebind them."""
    return hooks.REGISTRY.reserved_names
MAX_DATA_BYTES = 64 * 1024  # task data holds ids and small values (ARCHITECTURE.md §3)
MAX_NESTING = 4


def read_form(element) -> tuple[list[dict[str, Any]], list[tuple[str, int | None]]]:
    """The form declared on a BPMN element as plain field dicts, and the problems found reading it."""
    problems: list[tuple[str, int | None]] = []
    ext = element.find(f"{{{BPMN_NS}}}extensionElements")
    if ext is None:
        return [], problems
    fields: list[dict[str, Any]] = []
    for form in ext.findall(f"{{{LVYUE_NS}}}form"):
        fields.extend(_read_lvyue_fields(form, problems, 1))
    for form in ext.findall(f"{{{CAMUNDA_NS}}}formData"):
        for ff in form.findall(f"{{{CAMUNDA_NS}}}formField"):
            fields.append(_read_camunda_field(ff, problems))
    names = [f["name"] for f in fields]
    for name in {n for n in names if names.count(n) > 1}:
        problems.append((f"form field '{name}' is declared twice", element.sourceline))
    return fields, problems


def _read_lvyue_fields(parent, problems, depth) -> list[dict[str, Any]]:
    out = []
    for node in parent.findall(f"{{{LVYUE_NS}}}field"):
        name, ftype = node.get("name", ""), node.get("type", "string")
        if not NAME.match(name):
            problems.append((f"form field name '{name}' must be a letter followed by letters, digits or _", node.sourceline))
        if ftype not in TYPES:
            problems.append((f"form field '{name}' has unknown type '{ftype}' (known: {', '.join(TYPES)})", node.sourceline))
        spec: dict[str, Any] = {"name": name, "type": ftype, "required": node.get("required", "false") == "true"}
        for attr in ("label", "min", "max", "max_length", "as", "accumulate", "shared_total"):
            if node.get(attr) is not None:
                spec[attr] = node.get(attr)
        for attr in ("as", "accumulate", "shared_total"):
            if attr in spec and (not NAME.match(spec[attr]) or spec[attr] in reserved()):
                problems.append((f"form field '{name}': {attr}=\"{spec[attr]}\" must name a process variable", node.sourceline))
        for attr in ("accumulate", "shared_total"):
            if attr in spec and ftype not in (*MONEY_TYPES, "integer", "number"):
                problems.append((f"form field '{name}': only numbers accumulate ({attr})", node.sourceline))
        if ftype == "enum":
            choices = [v.strip() for v in (node.get("values") or "").split(",") if v.strip()]
            if not choices:
                problems.append((f"enum field '{name}' needs values=\"a,b,…\"", node.sourceline))
            spec["values"] = choices
        if ftype in ("object", "list"):
            if depth >= MAX_NESTING:
                problems.append((f"form field '{name}' nests deeper than {MAX_NESTING} levels", node.sourceline))
            else:
                spec["fields"] = _read_lvyue_fields(node, problems, depth + 1)
        for bound in ("min", "max"):
            if bound in spec:
                try:
                    values.parse_decimal(spec[bound])
                except ValueError as exc:
                    problems.append((f"form field '{name}': {bound} {exc}", node.sourceline))
        out.append(spec)
    return out


def _read_camunda_field(node, problems) -> dict[str, Any]:
    name, ctype = node.get("id", ""), node.get("type", "string")
    if not NAME.match(name):
        problems.append((f"form field id '{name}' must be a letter followed by letters, digits or _", node.sourceline))
    if ctype not in CAMUNDA_TYPES:
        problems.append((f"form field '{name}' has unsupported type '{ctype}'", node.sourceline))
    spec: dict[str, Any] = {"name": name, "type": CAMUNDA_TYPES.get(ctype, "string"), "required": False}
    if node.get("label"):
        spec["label"] = node.get("label")
    for constraint in node.iter(f"{{{CAMUNDA_NS}}}constraint"):
        cname, config = constraint.get("name"), constraint.get("config")
        if cname == "required":
            spec["required"] = True
        elif cname in ("min", "max") and config is not None:
            spec[cname] = config
        elif cname == "maxlength" and config is not None:
            spec["max_length"] = config
    if spec["type"] == "enum":
        spec["values"] = [v.get("id") for v in node.findall(f"{{{CAMUNDA_NS}}}value") if v.get("id")]
    return spec


class _Sha256(mf.String):
    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
            raise ValidationError("must be a SHA-256 hex digest (64 hex characters)")
        return text.lower()


def _range(spec) -> list:
    # The diagram's own bounds, checked at deploy (read_form); not request data.
    lo = Decimal(spec["min"]) if "min" in spec else None
    hi = Decimal(spec["max"]) if "max" in spec else None
    return [mv.Range(min=lo, max=hi)] if lo is not None or hi is not None else []


def _marshmallow_field(spec: dict[str, Any]) -> mf.Field:
    kw: dict[str, Any] = {"required": spec.get("required", False)}
    if not kw["required"]:
        kw["allow_none"] = True
    ftype = spec["type"]
    if ftype in ("string", "text"):
        limit = int(spec.get("max_length", 200 if ftype == "string" else 4000))
        return mf.String(validate=[mv.Length(max=limit)], **kw)
    if ftype == "integer":
        return mf.Integer(strict=True, validate=_range(spec), **kw)
    if ftype in MONEY_TYPES:
        return values.Money(validate=_range(spec), **kw)
    if ftype == "number":
        return values.Number(validate=_range(spec), **kw)
    if ftype == "boolean":
        return mf.Boolean(truthy={True}, falsy={False}, **kw)
    if ftype == "date":
        return values.BusinessDate(**kw)
    if ftype == "datetime":
        return mf.AwareDateTime(**kw)
    if ftype == "enum":
        return mf.String(validate=[mv.OneOf(spec.get("values", []))], **kw)
    if ftype == "sha256":
        return _Sha256(**kw)
    if ftype == "object":
        return mf.Nested(schema_for(spec.get("fields", [])), **kw)
    if ftype == "list":
        return mf.List(mf.Nested(schema_for(spec.get("fields", []))), validate=[mv.Length(max=500)], **kw)
    raise ValueError(f"unknown field type {ftype}")


def schema_for(fields: list[dict[str, Any]]) -> Schema:
    return _schema_class(json.dumps(fields, sort_keys=True, default=str))(unknown=RAISE)


@functools.lru_cache(maxsize=512)
def _schema_class(fields_json: str) -> type[Schema]:
    """Building a marshmallow class per validation showed in every profile; a form's class is built
    once per process (keyed by the form itself, so a changed form gets its own)."""
    fields = json.loads(fields_json)
    return Schema.from_dict({f["name"]: _marshmallow_field(f) for f in fields})


def _flatten(messages: Any, prefix: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out[prefix] = list(messages)
    else:
        out[prefix] = [str(messages)]
    return out


def validate(fields: list[dict[str, Any]], data: Any, prefix: str = "data") -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(typed data, errors by field path). Errors empty ⇔ the data is acceptable."""
    if not isinstance(data, dict):
        return {}, {prefix: ["must be a JSON object"]}
    if len(json.dumps(data, default=str)) > MAX_DATA_BYTES:
        return {}, {prefix: [f"larger than {MAX_DATA_BYTES} bytes: keep documents in the ledger, send their ids"]}
    if fields:
        try:
            return schema_for(fields).load(data), {}
        except ValidationError as exc:
            return {}, _flatten(exc.messages, prefix)
    errors: dict[str, list[str]] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not NAME.match(key):
            errors[f"{prefix}.{key}"] = ["field names are a letter followed by letters, digits or _"]
        elif not _plain(value, 0):
            errors[f"{prefix}.{key}"] = ["only strings, numbers, booleans, null, lists and objects are accepted"]
    return dict(data), errors


def _plain(value: Any, depth: int) -> bool:
    if depth > MAX_NESTING:
        return False
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, list):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in value.items())
    return False


def to_process_data(fields: list[dict[str, Any]], typed: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """Validated form data as it enters the process: renamed where a field says `as`, and added to
    a running total where it says `accumulate` (e.g. payments towards a milestone's amount)."""
    out = dict(typed)
    for f in fields:
        if f["name"] not in typed:
            continue
        value = typed[f["name"]]
        if "as" in f:
            out.pop(f["name"], None)
            out[f["as"]] = value
        if "accumulate" in f and value is not None:
            total = out.get(f["accumulate"], current.get(f["accumulate"], 0)) or 0
            out[f["accumulate"]] = Decimal(str(total)) + Decimal(str(value))
    return out


def accumulators(fields_by_task: dict[str, list[dict[str, Any]]]) -> set[str]:
    return {f["accumulate"] for fields in fields_by_task.values() for f in fields if "accumulate" in f}


def shared_totals(fields_by_task: dict[str, list[dict[str, Any]]]) -> set[str]:
    """The process-wide running totals (`shared_total`): one figure every branch sees (e.g. all paid on a contract)."""
    return {f["shared_total"] for fields in fields_by_task.values() for f in fields if "shared_total" in f}


def shared_increments(fields: list[dict[str, Any]], typed: dict[str, Any]) -> dict[str, Decimal]:
    """name → what a completion adds to each process-wide running total its form declares."""
    out: dict[str, Decimal] = {}
    for f in fields:
        if "shared_total" in f and typed.get(f["name"]) is not None:
            out[f["shared_total"]] = out.get(f["shared_total"], Decimal(0)) + Decimal(str(typed[f["name"]]))
    return out


def reserved_errors(data: dict[str, Any], prefix: str = "data") -> dict[str, list[str]]:
    return {f"{prefix}.{k}": ["role bindings are set when the contract starts and cannot be changed by a task"]
            for k in data if k in reserved()}


_MONEY_SCHEMA = {"type": "string", "pattern": values.MONEY_PATTERN, "description": values.MONEY_MESSAGE,
                 "examples": [values.MONEY_EXAMPLE]}
_JSON_TYPES = {
    "string": {"type": "string"}, "text": {"type": "string"}, "integer": {"type": "integer"},
    "money": _MONEY_SCHEMA, "decimal": _MONEY_SCHEMA,
    "number": {"type": ["number", "string"], "pattern": values.DECIMAL_PATTERN},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date", "pattern": values.DATE_PATTERN,
             "description": f"{values.DATE_MESSAGE}, from {values.EARLIEST_DATE.isoformat()} to "
                            f"{values.DATE_HORIZON_YEARS} years after today"},
    "datetime": {"type": "string", "format": "date-time"}, "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
}


def json_schema(fields: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON Schema (2020-12) of a form, for clients that render or check it themselves."""
    if not fields:
        return {"type": "object"}
    props: dict[str, Any] = {}
    for f in fields:
        ftype = f["type"]
        if ftype == "enum":
            prop: dict[str, Any] = {"type": "string", "enum": f.get("values", [])}
        elif ftype == "object":
            prop = json_schema(f.get("fields", []))
        elif ftype == "list":
            prop = {"type": "array", "items": json_schema(f.get("fields", [])), "maxItems": 500}
        else:
            prop = dict(_JSON_TYPES[ftype])
        if "label" in f:
            prop["title"] = f["label"]
        if ftype in ("integer",) and "min" in f:
            prop["minimum"] = int(Decimal(f["min"]))
        if ftype in ("integer",) and "max" in f:
            prop["maximum"] = int(Decimal(f["max"]))
        props[f["name"]] = prop
    return {"type": "object", "properties": props, "required": [f["name"] for f in fields if f.get("required")],
            "additionalProperties": False}


def to_json(value: Any) -> Any:
    """Task data as JSON: money as decimal strings, dates as ISO strings (API.md conventions)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value
