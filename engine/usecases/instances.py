"""Contracts under supervision: start, read, cancel and message process instances."""
from __future__ import annotations

import re
import uuid
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine import clock
from engine.access import authz
from engine.access.directory import Principal
from engine.errors import Conflict, Forbidden, Invalid
from engine.runtime import definitions, diagrams, forms, hooks, runner, spiff, steps
from engine.storage.db import Database
from engine.storage.models import AuditEvent, BufferedMessage, Definition, Department, Instance, InstancePart, Organisation
from engine.storage.pagination import page

# A business key is one path segment of /contracts/{business_key} and /contracts/{business_key}/ocds: no '/'
# (a key ending in /ocds would hide its own ledger), no spaces, ASCII only. Keys started before this rule
# (up to 128 characters, '/' allowed) stay readable: the routes take the rest of the path as the key.
BUSINESS_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # fullmatch: "$" would let a trailing newline in
BUSINESS_KEY_RULE = "1–64 ASCII letters, digits and . _ -, starting with a letter or digit (e.g. LH-2026-0001)"
STATUSES = ("running", "completed", "cancelled", "error")


def _bind_roles(session, model: dict[str, Any], data: dict[str, Any],
                optional: frozenset[str] = frozenset()) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Role bindings from the start data: organisation codes per lane role, and the department."""
    roles, errors = {}, {}
    needed = set(model.get("roles", [])) - optional
    for role in authz.PARTY_ROLES:
        code = data.get(role)
        if code is None:
            if role in needed and not (role == authz.CONSORTIUM_ROLE and data.get(authz.CONSORTIUM) is not None):
                errors[f"data.{role}"] = [f"required: the code of the organisation in the {role} lane"]
            continue
        if not isinstance(code, str) or session.get(Organisation, code) is None:
            errors[f"data.{role}"] = [f"unknown organisation {code!r}"]
        else:
            roles[role] = code
    errors.update(_bind_consortium(session, model, data, roles))
    dept = data.get("department")
    if dept is None:
        if "supervisor" in needed:
            errors["data.department"] = ["required: the supervising department's code"]
    elif not isinstance(dept, str) or session.get(Department, dept) is None:
        errors["data.department"] = [f"unknown department {dept!r}"]
    else:
        roles["department"] = dept
    return roles, errors


def _bind_consortium(session, model: dict[str, Any], data: dict[str, Any],
                     roles: dict[str, str]) -> dict[str, list[str]]:
    """`data.consortium` {lead, members}: the contractor's role held by a consortium (联合体, 招标投标法 art 31 /
    政府采购法 art 24): 2 to MAX_CONSORTIUM_MEMBERS distinct organisations of the directory, the lead among them.
    The lead is bound to the role (as `contractor`, which may repeat it); every member holds the role's lane."""
    given = data.get(authz.CONSORTIUM)
    if given is None:
        return {}
    role, path = authz.CONSORTIUM_ROLE, f"data.{authz.CONSORTIUM}"
    if role not in model.get("roles", []):
        return {path: [f"this process has no {role} lane for a consortium to hold"]}
    if not isinstance(given, dict) or set(given) - {"lead", "members"}:
        return {path: ["an object {lead, members}: the lead member's organisation code and every member's"]}
    errors: dict[str, list[str]] = {}
    lead, members = given.get("lead"), given.get("members")
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        errors[f"{path}.members"] = ["a list of organisation codes"]
    elif not 2 <= len(members) <= authz.MAX_CONSORTIUM_MEMBERS:
        errors[f"{path}.members"] = [f"a consortium has 2 to {authz.MAX_CONSORTIUM_MEMBERS} members; got {len(members)}"]
    elif len(set(members)) != len(members):
        twice = sorted({m for m in members if members.count(m) > 1})
        errors[f"{path}.members"] = [f"each member once; {', '.join(twice)} repeated"]
    else:
        for i, code in enumerate(members):
            if session.get(Organisation, code) is None:
                errors[f"{path}.members.{i}"] = [f"unknown organisation {code!r}"]
    if not isinstance(lead, str):
        errors[f"{path}.lead"] = ["required: the lead member's organisation code"]
    elif isinstance(members, list) and lead not in members:
        errors[f"{path}.lead"] = [f"the lead {lead!r} is not among the members"]
    elif data.get(role) is not None and data.get(role) != lead:
        errors[f"data.{role}"] = [f"the {role} of a consortium is its lead member {lead!r}; got {data.get(role)!r}"]
    if not errors:
        roles[role] = lead
    return errors


def _members(data: dict[str, Any]) -> dict[str, list[str]]:
    """Role → every organisation holding it, for a role held by a consortium (validated by `_bind_consortium`)."""
    given = data.get(authz.CONSORTIUM)
    return {authz.CONSORTIUM_ROLE: list(given["members"])} if isinstance(given, dict) else {}


def start(db: Database, principal: Principal, definition_key: str, version: int | None, business_key: str,
          data: dict[str, Any], within: Callable[[Any, Instance], None] | None = None) -> dict[str, Any]:
    """Start an instance. `within(session, instance)`, when given, runs inside the start's transaction once the
    instance is stored (e.g. tying an imported award to its contract); what it raises undoes the start."""
    authz.require_role(principal, "operator")
    if not isinstance(business_key, str) or not BUSINESS_KEY.fullmatch(business_key):
        raise Invalid("invalid business key", {"business_key": [BUSINESS_KEY_RULE]})
    try:
        with db.transaction() as session:
            definition = definitions.find(session, definition_key, version)
            if definition is None:
                field = "version" if version is not None and definitions.find(session, definition_key) else "definition"
                raise Invalid(f"no definition {definition_key}" + (f" version {version}" if version else ""),
                              {field: ["unknown definition or version"]})
            if session.scalar(select(Instance.id).where(Instance.business_key == business_key)) is not None:
                raise Conflict(f"business key {business_key} is already in use")
            if not isinstance(data, dict):
                raise Invalid("data must be an object", {"data": ["must be a JSON object"]})
            optional = hooks.REGISTRY.optional_roles.get(definition.key, frozenset())
            roles, errors = _bind_roles(session, definition.model, data, optional)
            terms = hooks.REGISTRY.start_terms.get(definition.key)
            if terms is not None:
                typed, form_errors = terms(session, data)
                typed = {k: v for k, v in typed.items() if k not in forms.reserved()}
            else:
                rest = {k: v for k, v in data.items() if k not in forms.reserved()}
                typed, form_errors = forms.validate(definition.model.get("start_form", []), rest)
            errors.update(form_errors)
            if errors:
                raise Invalid("the start data is invalid", errors)
            typed.update({role: None for role in optional if role in definition.model.get("roles", [])})
            typed.update(roles)
            members = _members(data)
            if members:
                typed[authz.CONSORTIUM] = {"lead": roles[authz.CONSORTIUM_ROLE], "members": members[authz.CONSORTIUM_ROLE]}
            step = steps.new_instance_step(session, definition, business_key, roles, typed, principal.name, members)
            # The bindings as the chain vouches for them: `lvyue audit verify` checks the role tables against them.
            started = {"business_key": business_key, "data": typed, "roles": roles}
            if members:
                started["members"] = members
            step.record("instance_started", None, started)
            try:
                spiff.run_until_waiting(step.wf)
                for listener in hooks.REGISTRY.instance_started:
                    listener(step, typed)
                steps.finish(step)  # may run more: buffered messages, partitions
            except spiff.EngineError as exc:
                raise runner.engine_invalid(exc) from None
            if within is not None:
                within(session, step.instance)
            return runner.detail(session, step.instance, principal)
    except IntegrityError:
        raise Conflict(f"business key {business_key} is already in use") from None


def get(db: Database, principal: Principal, instance_id: str) -> dict[str, Any]:
    with db.read() as session:
        return runner.detail(session, runner.load_visible(session, principal, instance_id), principal)


def list_(db: Database, principal: Principal, limit: int | None, cursor: str | None, status: str | None = None,
          business_key: str | None = None, definition: str | None = None) -> dict[str, Any]:
    if status is not None and status not in STATUSES:
        raise Invalid("unknown status", {"status": [f"one of {', '.join(STATUSES)}"]})
    with db.read() as session:
        query = select(Instance).where(authz.instance_filter(principal))
        if status:
            query = query.where(Instance.status == status)
        if business_key:
            query = query.where(Instance.business_key == business_key)
        if definition:
            query = query.where(Instance.definition_id.in_(select(Definition.id).where(Definition.key == definition)))
        held: list[Definition] = []

        def prepare(rows: list[Instance]) -> None:
            # The page's definitions in one query, held so that each summary's session.get finds them in the
            # (weak) identity map instead of selecting its definition again.
            held.extend(session.scalars(select(Definition).where(Definition.id.in_({i.definition_id for i in rows}))))

        return page(session, query, [Instance.created_at, Instance.id], limit, cursor, lambda i: runner.summary(session, i),
                    prepare=prepare)


def history(db: Database, principal: Principal, instance_id: str, limit: int | None, cursor: str | None) -> dict[str, Any]:
    with db.read() as session:
        runner.load_visible(session, principal, instance_id)
        query = select(AuditEvent).where(AuditEvent.instance_id == instance_id)
        return page(session, query, [AuditEvent.seq], limit, cursor,
                    lambda e: {"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action,
                               "element_id": e.element_id, "data": e.data, "hash": e.hash, "prev_hash": e.prev_hash})


def diagram(db: Database, principal: Principal, instance_id: str) -> dict[str, Any]:
    with db.read() as session:
        instance = runner.load_visible(session, principal, instance_id)
        step = steps.open_step(session, instance, principal.name)
        active, completed = spiff.element_states(step.wf)
        active, completed = set(active), set(completed)
        for part_id in session.scalars(select(InstancePart.id).where(InstancePart.instance_id == instance_id)):
            a, c = spiff.element_states(steps.open_step(session, instance, principal.name, part_id).wf)
            active |= set(a)
            completed |= set(c)
        # A warning ladder's generated timers and throws are drawn as the ladder (engine/runtime/ladders.py).
        drawn = (step.definition.model or {}).get("drawn") or {}
        active = {drawn.get(e, e) for e in active}
        completed = {drawn.get(e, e) for e in completed}
        return {"xml": step.definition.xml, "active": sorted(active), "completed": sorted(completed - active),
                "drawn": drawn}


def cancel(db: Database, principal: Principal, instance_id: str, reason: str | None = None) -> dict[str, Any]:
    authz.require_role(principal, "operator")

    def apply(step: steps.Step):
        if step.instance.status != "running":
            raise Conflict(f"the instance is {step.instance.status}, not running")
        spiff.cancel(step.wf)
        step.instance.status = "cancelled"
        step.record("instance_cancelled", None, {"reason": reason})
        for listener in hooks.REGISTRY.instance_cancelled:
            listener(step.session, step.instance, reason, clock.now())

    return runner.run_step(db, principal, instance_id, apply)


def _require_external(definition: Definition, name: str) -> None:
    """Only a message the contract's diagram declares external (`<lvyue:external/>`, bpmn/README.md) comes
    from outside: the engine's own (milestones_completed, award_refused, ...) would complete or end a
    contract that nobody performed, paid or refused."""
    declared = diagrams.messages_of(definition.model, definition.xml)
    external = sorted(n for n, m in declared.items() if m.get("external"))
    known = f"its external messages: {', '.join(external)}" if external else "it declares no external message"
    if name in declared and name not in external:
        raise Forbidden(f"message '{name}' is internal to {definition.key} v{definition.version}: the engine delivers it, "
                        "nobody posts it", {"name": [f"'{name}' is not declared external (<lvyue:external/>); {known}"]})
    if name not in declared:
        raise Invalid(f"{definition.key} v{definition.version} has no message '{name}'",
                      {"name": [f"'{name}' is not a message of this contract's diagram; {known}"]})


def deliver_message(db: Database, principal: Principal, instance_id: str, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Deliver a message the diagram declares external to a waiting catch event, or keep it until the process
    waits for it (an e-guarantee platform may call back before the contractor's task is even done). An
    internal message is refused (403), a name the diagram does not have too (422), naming `name`."""
    authz.require_role(principal, "operator")
    if not forms.NAME.match(name or ""):
        raise Invalid("invalid message name", {"name": ["a letter followed by letters, digits or _"]})
    _, errors = forms.validate([], payload, "payload")
    errors.update(forms.reserved_errors(payload, "payload"))
    if errors:
        raise Invalid("the message payload is invalid", errors)

    def apply(step: steps.Step):
        _require_external(step.definition, name)
        if step.instance.status != "running":
            raise Conflict(f"the instance is {step.instance.status}, not running")
        step.session.add(BufferedMessage(id=str(uuid.uuid4()), instance_id=step.instance.id, name=name,
                                         payload=payload, received_at=clock.now(), received_by=principal.name))
        step.session.flush()
        step.record("message_received", None, {"name": name, "payload": payload})

    return runner.run_step(db, principal, instance_id, apply)
