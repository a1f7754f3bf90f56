"""Contracts under supervision: start, read, cancel and message process instances."""
from __future__ import annotations

import contextlib
import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from . import (alerts, authz, clock, contract_terms, deadlines, definitions, diagrams, forms, guarantees, spiff, steps,
               timing, values)
from .db import Database
from .directory import Principal
from .errors import Conflict, Forbidden, Invalid
from .models import AuditEvent, BufferedMessage, Definition, Department, Instance, InstancePart, Organisation, TaskRow, Timer
from .pagination import page

# A business key is one path segment of /contracts/{business_key} and /contracts/{business_key}/ocds: no '/'
# (a key ending in /ocds would hide its own ledger), no spaces, ASCII only. Keys started before this rule
# (up to 128 characters, '/' allowed) stay readable: the routes take the rest of the path as the key.
BUSINESS_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # fullmatch: "$" would let a trailing newline in
BUSINESS_KEY_RULE = "1–64 ASCII letters, digits and . _ -, starting with a letter or digit (e.g. LH-2026-0001)"
STATUSES = ("running", "completed", "cancelled", "error")


def task_view(row: TaskRow, business_key: str, form: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": row.id, "instance_id": row.instance_id, "business_key": business_key, "element_id": row.element_id,
            "name": row.name, "lane": row.lane, "milestone_no": row.item_no, "form": form,
            "created_at": row.created_at, "due_at": row.due_at}


def _definition_ref(session, instance: Instance) -> dict[str, Any]:
    d = session.get(Definition, instance.definition_id)
    return {"key": d.key, "version": d.version}


def summary(session, instance: Instance) -> dict[str, Any]:
    return {"id": instance.id, "business_key": instance.business_key, "status": instance.status,
            "definition": _definition_ref(session, instance), "created_at": instance.created_at,
            "updated_at": instance.updated_at}


def ready_rows(session, instance_id: str) -> list[TaskRow]:
    return list(session.scalars(select(TaskRow).where(TaskRow.instance_id == instance_id, TaskRow.state == "ready")
                                .order_by(TaskRow.created_at, TaskRow.id)))


def detail(session, instance: Instance, principal: Principal | None = None,
           tasks: list[TaskRow] | None = None) -> dict[str, Any]:
    """The full view of API.md `GET /instances/{id}` (`tasks`: its READY rows, when the caller has them)."""
    d = session.get(Definition, instance.definition_id)
    user_tasks = d.model.get("user_tasks", {})
    if tasks is None:
        tasks = ready_rows(session, instance.id)
    # Pending timers only: fired and cancelled ones are history (the audit trail has them).
    timers = session.scalars(select(Timer).where(Timer.instance_id == instance.id,
                                                 Timer.status.in_(("waiting", "leased", "incident")))
                             .order_by(Timer.due_at, Timer.id))
    out = summary(session, instance)
    out.update({
        "data": instance.data,
        "roles": instance.roles,
        "error": instance.error,
        "tasks": [task_view(t, instance.business_key, user_tasks.get(t.element_id, {}).get("form", [])) for t in tasks],
        "timers": [{"id": t.id, "element_id": t.element_id, "due_at": t.due_at, "status": t.status} for t in timers],
        "alerts": alerts.for_instance(session, principal, instance.id) if principal else [],
    })
    return out


# Lane roles a process may leave unbound: post_award asks the guarantor only where one is bound (the contract's
# e-guarantee issuer); without one a guarantee is taken as submitted. The unbound role's variable is None.
OPTIONAL_ROLES = {"post_award": frozenset({"guarantor"})}


def _bind_roles(session, model: dict[str, Any], data: dict[str, Any],
                optional: frozenset[str] = frozenset()) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Role bindings from the start data: organisation codes per lane role, and the department."""
    roles, errors = {}, {}
    needed = set(model.get("roles", [])) - optional
    for role in authz.PARTY_ROLES:
        code = data.get(role)
        if code is None:
            if role in needed:
                errors[f"data.{role}"] = [f"required: the code of the organisation in the {role} lane"]
            continue
        if not isinstance(code, str) or session.get(Organisation, code) is None:
            errors[f"data.{role}"] = [f"unknown organisation {code!r}"]
        else:
            roles[role] = code
    dept = data.get("department")
    if dept is None:
        if "supervisor" in needed:
            errors["data.department"] = ["required: the supervising department's code"]
    elif not isinstance(dept, str) or session.get(Department, dept) is None:
        errors["data.department"] = [f"unknown department {dept!r}"]
    else:
        roles["department"] = dept
    return roles, errors


def _post_award_terms(session, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The statutory caps and defaults of the post-award process (engine/contract_terms.py)."""
    def org(role):
        code = data.get(role)
        return session.get(Organisation, code) if isinstance(code, str) else None

    employer = org("employer")
    public = bool(employer is not None and employer.public_body) or data.get("track") == "gov_procurement"
    today = clock.now().astimezone(deadlines.SHANGHAI).date()
    try:
        on = values.parse_date(data.get("award_notice_date"), on=today)
    except values.BadValue:
        on = today  # refused on data.award_notice_date by the terms themselves
    typed, errors = contract_terms.validate_post_award(data, org("contractor"), employer, public, on,
                                                       timing.registry(), today=today)
    # Role-binding errors are reported by _bind_roles with the same paths; keep one message each.
    return typed, {k: v for k, v in errors.items() if k.removeprefix("data.") not in forms.RESERVED}


# Process-specific start terms beyond the diagram's form: statutory caps need the parties' records.
TERMS = {"post_award": _post_award_terms}


def _engine_invalid(exc: spiff.EngineError) -> Invalid:
    if isinstance(exc, spiff.RunawayError):
        # The diagram, not the data, is at fault: the same step would run away again.
        return Invalid(exc.message, {"process": [exc.message]})
    if exc.missing:
        return Invalid(exc.message, {f"data.{exc.missing}": [f"required by {exc.element_id}: {exc.message}"]})
    return Invalid(exc.message, {"data": [exc.message]})


def start(db: Database, principal: Principal, definition_key: str, version: int | None, business_key: str,
          data: dict[str, Any]) -> dict[str, Any]:
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
            optional = OPTIONAL_ROLES.get(definition.key, frozenset())
            roles, errors = _bind_roles(session, definition.model, data, optional)
            terms = TERMS.get(definition.key)
            if terms is not None:
                typed, form_errors = terms(session, data)
                typed = {k: v for k, v in typed.items() if k not in forms.RESERVED}
            else:
                rest = {k: v for k, v in data.items() if k not in forms.RESERVED}
                typed, form_errors = forms.validate(definition.model.get("start_form", []), rest)
            errors.update(form_errors)
            if errors:
                raise Invalid("the start data is invalid", errors)
            typed.update({role: None for role in optional if role in definition.model.get("roles", [])})
            typed.update(roles)
            step = steps.new_instance_step(session, definition, business_key, roles, typed, principal.name)
            # The bindings as the chain vouches for them: `lvyue audit verify` checks the role tables against them.
            step.record("instance_started", None, {"business_key": business_key, "data": typed, "roles": roles})
            try:
                spiff.run_until_waiting(step.wf)
                guarantees.on_start(step, typed)
                steps.finish(step)  # may run more: buffered messages, partitions
            except spiff.EngineError as exc:
                raise _engine_invalid(exc) from None
            return detail(session, step.instance, principal)
    except IntegrityError:
        raise Conflict(f"business key {business_key} is already in use") from None


def _load_visible(session, principal: Principal, instance_id: str) -> Instance:
    return authz.require_visible(principal, session.get(Instance, instance_id))


def get(db: Database, principal: Principal, instance_id: str) -> dict[str, Any]:
    with db.read() as session:
        return detail(session, _load_visible(session, principal, instance_id), principal)


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
        return page(session, query, [Instance.created_at, Instance.id], limit, cursor, lambda i: summary(session, i))


def history(db: Database, principal: Principal, instance_id: str, limit: int | None, cursor: str | None) -> dict[str, Any]:
    with db.read() as session:
        _load_visible(session, principal, instance_id)
        query = select(AuditEvent).where(AuditEvent.instance_id == instance_id)
        return page(session, query, [AuditEvent.seq], limit, cursor,
                    lambda e: {"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action,
                               "element_id": e.element_id, "data": e.data, "hash": e.hash, "prev_hash": e.prev_hash})


def diagram(db: Database, principal: Principal, instance_id: str) -> dict[str, Any]:
    with db.read() as session:
        instance = _load_visible(session, principal, instance_id)
        step = steps.open_step(session, instance, principal.name)
        active, completed = spiff.element_states(step.wf)
        active, completed = set(active), set(completed)
        for part_id in session.scalars(select(InstancePart.id).where(InstancePart.instance_id == instance_id)):
            a, c = spiff.element_states(steps.open_step(session, instance, principal.name, part_id).wf)
            active |= set(a)
            completed |= set(c)
        return {"xml": step.definition.xml, "active": sorted(active), "completed": sorted(completed - active)}


@contextlib.contextmanager
def step_transaction(db: Database):
    """The write transaction of a step: a concurrent step on the same instance (a stale row version at
    flush) becomes Conflict (409); a process that fails or runs away in it (e.g. on a message delivered
    in `steps.finish`) becomes Invalid (422), with nothing stored."""
    try:
        with db.transaction() as session:
            yield session
    except spiff.EngineError as exc:
        raise _engine_invalid(exc) from None
    except StaleDataError:
        raise Conflict("the contract was changed by someone else at the same time; reload and try again") from None


def run_step(db: Database, principal: Principal, instance_id: str, apply, part_id: str | None = None) -> dict[str, Any]:
    """Run `apply(step)` as one step on a visible instance (its main workflow or one part);
    a concurrent step on the same instance gives Conflict."""
    with step_transaction(db) as session:
        instance = _load_visible(session, principal, instance_id)
        step = steps.open_step(session, instance, principal.name, part_id)
        result = apply(step)
        steps.finish(step)
        return result if result is not None else detail(session, instance, principal)


def cancel(db: Database, principal: Principal, instance_id: str, reason: str | None = None) -> dict[str, Any]:
    authz.require_role(principal, "operator")

    def apply(step: steps.Step):
        if step.instance.status != "running":
            raise Conflict(f"the instance is {step.instance.status}, not running")
        spiff.cancel(step.wf)
        step.instance.status = "cancelled"
        step.record("instance_cancelled", None, {"reason": reason})
        alerts.resolve_all(step.session, step.instance.id, f"contract cancelled: {reason or 'no reason given'}",
                           clock.now())

    return run_step(db, principal, instance_id, apply)


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

    return run_step(db, principal, instance_id, apply)
