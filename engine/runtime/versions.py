"""Versions of a process definition: what changed between two, and moving a running contract to a newer one.

Instances stay pinned to the version they were started with (ARCHITECTURE.md; ANCHORS.md §3 item 7)
until an operator migrates one. A migration is one step in one transaction: the main workflow and
every running part workflow are aligned with the new spec (`spiff_migrate`); if any of their active
elements (ready tasks, waiting timers and receive tasks) no longer exists, nothing moves and the
refusal names those elements. Otherwise the workflows are rebound to the new spec, their waiting
timers are evaluated again with the new definition's expressions (Camunda keeps the old due date of a
mapped timer — wrong when a statutory period changed), and the audit trail records
`instance_migrated` with every timer that moved.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from engine.access import authz
from engine.runtime import definitions, runner, spiff, spiff_migrate, steps
from engine.storage.db import Database
from engine.access.directory import Principal
from engine.errors import Conflict, Invalid
from engine.storage.models import Definition, Instance, InstancePart, TaskRow, Timer

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DI_NAMESPACES = ("http://www.omg.org/spec/BPMN/20100524/DI", "http://www.omg.org/spec/DD/20100524/DC",
                 "http://www.omg.org/spec/DD/20100524/DI")
# Elements whose children with ids are compared as elements of their own (flow nodes, lanes, ...).
CONTAINERS = {"definitions", "process", "subProcess", "transaction", "adHocSubProcess", "laneSet", "collaboration",
              "childLaneSet"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                          huge_tree=False, remove_comments=True, remove_pis=True)
DETAIL_CHARS = 300


# ---------------------------------------------------------------------------- diff
def _local(element) -> str:
    return etree.QName(element).localname


def _is_unit(element) -> bool:
    parent = element.getparent()
    return (element.get("id") is not None and parent is not None and etree.QName(parent).namespace == BPMN_NS
            and _local(parent) in CONTAINERS) or (etree.QName(element).namespace == BPMN_NS and _local(element) == "lane")


def _text(value: str | None) -> str:
    return " ".join((value or "").split())


def _canonical(element) -> str:
    """The semantics of a nested element: tag, attributes (ids left out), text, children."""
    attrs = sorted((k, v) for k, v in element.attrib.items() if k != "id")
    children = sorted(_canonical(c) for c in element if isinstance(c.tag, str) and not _is_unit(c))
    return f"<{element.tag} {attrs} {_text(element.text)!r} [{' '.join(children)}]>"


def _summary(children: list) -> str:
    parts = []
    for child in children:
        text = _text(" ".join(child.itertext()))
        attrs = " ".join(f'{etree.QName(k).localname}="{v}"' for k, v in child.attrib.items() if k != "id")
        nested = [_summary([c]) for c in child if isinstance(c.tag, str) and not c.text]
        parts.append(" ".join(x for x in (attrs, text, *nested) if x))
    joined = " | ".join(p for p in parts if p)
    return joined if len(joined) <= DETAIL_CHARS else joined[: DETAIL_CHARS - 1] + "…"


def _units(xml: str) -> dict[str, dict[str, Any]]:
    root = etree.fromstring(xml.encode("utf-8"), _PARSER)
    out = {}
    for element in root.iter():
        if not isinstance(element.tag, str) or etree.QName(element).namespace in DI_NAMESPACES:
            continue
        if element is root or not _is_unit(element):
            continue
        groups: dict[str, list] = {}
        for child in element:
            if isinstance(child.tag, str) and not _is_unit(child):
                groups.setdefault(_local(child), []).append(child)
        out[element.get("id")] = {
            "type": _local(element), "name": element.get("name"),
            "attrs": {etree.QName(k).localname: v for k, v in element.attrib.items() if k != "id"},
            "children": {tag: (sorted(_canonical(c) for c in children), _summary(children))
                         for tag, children in groups.items()},
        }
    return out


def _ref(element_id: str, unit: dict[str, Any]) -> dict[str, Any]:
    return {"element_id": element_id, "type": unit["type"], "name": unit["name"]}


def diff_xml(old_xml: str, new_xml: str) -> dict[str, list[dict[str, Any]]]:
    """Elements added, removed and changed (with what changed) between two diagrams; layout is ignored."""
    old, new = _units(old_xml), _units(new_xml)
    changed = []
    for element_id in sorted(set(old) & set(new)):
        a, b = old[element_id], new[element_id]
        details: dict[str, dict[str, Any]] = {}
        if a["type"] != b["type"]:
            details["type"] = {"from": a["type"], "to": b["type"]}
        for attr in sorted(set(a["attrs"]) | set(b["attrs"])):
            if a["attrs"].get(attr) != b["attrs"].get(attr):
                details[attr] = {"from": a["attrs"].get(attr), "to": b["attrs"].get(attr)}
        for tag in sorted(set(a["children"]) | set(b["children"])):
            was, now = a["children"].get(tag, ([], None)), b["children"].get(tag, ([], None))
            if was[0] != now[0]:
                details[tag] = {"from": was[1], "to": now[1]}
        if details:
            changed.append({**_ref(element_id, b), "changes": sorted(details), "details": details})
    return {"added": [_ref(i, new[i]) for i in sorted(set(new) - set(old))],
            "removed": [_ref(i, old[i]) for i in sorted(set(old) - set(new))],
            "changed": changed}


def diff(db: Database, principal: Principal, key: str, from_version: int, to_version: int) -> dict[str, Any]:
    """`GET /definitions/{key}/diff?from=&to=`: what a designer changed between two versions."""
    definitions.get(db, principal, key)  # visibility and 404 for an unknown key
    errors = {}
    with db.read() as session:
        pair = {}
        for field, n in (("from", from_version), ("to", to_version)):
            d = definitions.find(session, key, n)
            if d is None:
                errors[field] = [f"{key} has no version {n}"]
            pair[field] = d
        if errors:
            raise Invalid(f"unknown version of {key}", errors)
        out = {"key": key, "from": from_version, "to": to_version}
        out.update(diff_xml(pair["from"].xml, pair["to"].xml))
        return out


# ---------------------------------------------------------------------------- migration
def _lane_columns(instance: Instance, lane: str | None) -> dict[str, Any]:
    org, department = steps.assignee(instance, lane)
    return {"lane": lane, "assignee_org": org, "assignee_department": department}


def _iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant is not None else None


def _plan(session, instance: Instance, principal: Principal, bundle) -> tuple[list, list]:
    """Open the main workflow and every part workflow (completed parts too: their state must load on
    the new version) and align each with the new spec."""
    units = [(steps.open_step(session, instance, principal.name), None)]
    for part in session.scalars(select(InstancePart).where(InstancePart.instance_id == instance.id)
                                .order_by(InstancePart.element_id, InstancePart.item_no)):
        units.append((steps.open_step(session, instance, principal.name, part.id), part.process_id))
    return units, [spiff_migrate.plan(step.wf, bundle, process_id) for step, process_id in units]


def _require_version_number(version: Any) -> None:
    """422 unless `version` is a positive integer (a JSON `true` is not 1)."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise Invalid("version must be a positive integer", {"version": ["a positive integer"]})


def _target(session, instance: Instance, old: Definition, version: int) -> Definition:
    """The definition to migrate to: 409 unless the instance is running, 422 unless `version` of its key
    exists and is newer than the one it runs."""
    if instance.status != "running":
        raise Conflict(f"the instance is {instance.status}; only a running instance can be migrated")
    new = definitions.find(session, old.key, version)
    if new is None:
        raise Invalid(f"{old.key} has no version {version}", {"version": [f"{old.key} has no version {version}"]})
    if new.version <= old.version:
        raise Invalid(f"version {version} is not newer than the instance's version {old.version}",
                      {"version": [f"must be newer than {old.version}, the version the instance runs"]})
    return new


def _check_compatible(instance: Instance, old: Definition, new: Definition, plans: list, dry_run: bool) -> dict[str, Any]:
    """The migration report (timers still empty); 422 naming every active element, then every element of
    the contract's history, that the new version lacks."""
    blocked = sorted({e for p in plans for e in p.blocked})
    history = sorted({e for p in plans for e in p.history} - set(blocked))
    report = {"instance_id": instance.id, "from": {"key": old.key, "version": old.version},
              "to": {"key": new.key, "version": new.version}, "blocked": blocked + history,
              "changed": sorted({e for p in plans for e in p.changed}), "timers": [], "dry_run": dry_run}
    if blocked or history:
        named = ", ".join(f"'{e}'" for e in blocked + history)
        raise Invalid(f"cannot migrate to version {new.version}: {named} "
                      f"{'do' if len(blocked + history) > 1 else 'does'} not exist in it",
                      {"version": [f"active element '{e}' does not exist in version {new.version}" for e in blocked]
                       + [f"element '{e}' of the contract's history does not exist in version {new.version}"
                          for e in history]})
    return report


def _rebind(session, instance: Instance, new: Definition, units: list, plans: list, actor: str) -> list[steps.Step]:
    """Apply each plan, then run every workflow still running on the new spec until it waits (its timers
    evaluated again); the steps to finish, the main workflow first. A completed part is only rebound."""
    alert_elements = frozenset(new.model.get("alerts", {}))
    migrated = []
    for (old_step, _), plan in zip(units, plans):
        try:
            spiff_migrate.apply(old_step.wf, plan)
        except ValueError as exc:
            raise Invalid(str(exc), {"version": [str(exc)]}) from None
        if old_step.part is not None and old_step.part.status != "running":
            old_step.part.state = spiff.dump(old_step.wf)  # history only: rebound, never run again
            continue
        step = steps.Step(session, instance, new, old_step.wf, actor, old_step.part)
        # Alerts thrown before the migration are not thrown again.
        step.throws_before = frozenset(spiff.completed_tasks_of(step.wf, alert_elements)) | old_step.throws_before
        try:
            spiff.run_until_waiting(step.wf)
        except spiff.EngineError as exc:
            raise Invalid(f"version {new.version} cannot run this contract: {exc.message}",
                          {"version": [exc.message]}) from None
        migrated.append(step)
    return migrated


def _timer_moves(before: dict[str, Timer], before_due: dict[str, datetime | None],
                 migrated: list[steps.Step]) -> list[dict[str, Any]]:
    """Every timer waiting after the migration, by new due date (`from` its due date before, or None when
    new), then every timer that waited before and no longer does (`to` None)."""
    after = {}
    for step in migrated:
        after.update({t.task_id: (t.element_id, t.due_at) for t in spiff.waiting_timers(step.wf)})
    moves = []
    for timer_id, (element_id, due_at) in sorted(after.items(), key=lambda kv: (kv[1][1], kv[0])):
        moves.append({"id": timer_id, "element_id": element_id, "from": _iso(before_due.get(timer_id)),
                      "to": _iso(due_at)})
    for timer_id, row in before.items():
        if timer_id not in after:
            moves.append({"id": timer_id, "element_id": row.element_id, "from": _iso(row.due_at), "to": None})
    return moves


def _rewrite_ready_tasks(session, instance: Instance, new: Definition) -> None:
    """Give every ready task row the name, and when it changed the lane and assignee, its element has in
    the new version."""
    user_tasks = new.model.get("user_tasks", {})
    for row in session.scalars(select(TaskRow).where(TaskRow.instance_id == instance.id, TaskRow.state == "ready")):
        info = user_tasks.get(row.element_id)
        if info is None:
            continue
        row.name = info.get("name")
        if info.get("lane") and info["lane"] != row.lane:
            for column, value in _lane_columns(instance, info["lane"]).items():
                setattr(row, column, value)


def migrate(db: Database, principal: Principal, instance_id: str, version: Any, dry_run: bool = False) -> dict[str, Any]:
    """Move a running instance to a newer version of its definition (operator, admin).

    422 naming the active elements the new version lacks; 409 when the instance is not running or
    changed concurrently. `dry_run` reports what would happen and changes nothing."""
    authz.require_role(principal, "operator")
    _require_version_number(version)
    try:
        with db.transaction() as session:
            instance = authz.require_visible(principal, session.get(Instance, instance_id))
            old = session.get(Definition, instance.definition_id)
            new = _target(session, instance, old, version)
            units, plans = _plan(session, instance, principal, steps.bundle_of(new))
            report = _check_compatible(instance, old, new, plans, dry_run)
            if dry_run:
                return report
            before = {r.id: r for r in session.scalars(select(Timer).where(
                Timer.instance_id == instance.id, Timer.status.in_(("waiting", "leased"))))}
            before_due = {timer_id: row.due_at for timer_id, row in before.items()}
            instance.definition_id = new.id
            migrated = _rebind(session, instance, new, units, plans, principal.name)
            report["timers"] = _timer_moves(before, before_due, migrated)
            migrated[0].record("instance_migrated", None, {
                "from_version": old.version, "to_version": new.version, "definition_id": new.id,
                "changed": report["changed"],
                "timers": [t for t in report["timers"] if t["from"] != t["to"]]})
            for step in migrated:  # the main workflow first: parts that complete re-open it
                steps.finish(step)
            _rewrite_ready_tasks(session, instance, new)
            session.flush()
            report["instance"] = runner.detail(session, instance, principal)
            return report
    except StaleDataError:
        raise Conflict("the contract was changed by someone else at the same time; reload and try again") from None


def check_version(db: Database, principal: Principal, instance_id: str) -> dict[str, Any]:
    """The versions an instance could move to, newest first, each with what blocks it (empty: possible)."""
    authz.require_role(principal, "operator")
    with db.read() as session:
        instance = authz.require_visible(principal, session.get(Instance, instance_id))
        old = session.get(Definition, instance.definition_id)
        newer = session.scalars(select(Definition).where(Definition.key == old.key, Definition.version > old.version)
                                .order_by(Definition.version.desc()))
        out = []
        for new in newer:
            bundle = steps.bundle_of(new)
            _, plans = _plan(session, instance, principal, bundle)
            blocked = sorted({e for p in plans for e in p.blocked + p.history})
            out.append({"version": new.version, "blocked": blocked, "possible": not blocked and instance.status == "running"})
        return {"instance_id": instance.id, "key": old.key, "version": old.version, "status": instance.status,
                "versions": out}

