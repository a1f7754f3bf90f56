"""Who may see and do what, decided here and not in the views (ARCHITECTURE.md §7).

Parties act in the lanes their organisation holds in a contract; supervisors see the contracts of
their department subtree and act in the `supervisor` lane; operators start and cancel contracts and
see them all; designers deploy diagrams but do not touch contracts; admins may do everything.
Invisible things are reported as absent (404), visible but forbidden acts as 403.
"""
from __future__ import annotations

from sqlalchemy import and_, exists, false, or_, select, true
from sqlalchemy.orm import Session, object_session
from sqlalchemy.sql import ColumnElement

from engine.access.directory import Principal
from engine.errors import Forbidden, NotFound
from engine.storage.models import Instance, Party, TaskRow

PARTY_ROLES = ("employer", "contractor", "guarantor")
# A consortium (联合体) may hold the contractor's role: start data `consortium` {lead, members}; the lead is the role's
# organisation (Instance.roles), every member has a row in instance_parties and sees and acts as the contractor.
CONSORTIUM, CONSORTIUM_ROLE = "consortium", "contractor"
# An engineering bound (DOMAIN.md mark D): neither 招标投标法 art 31 nor 政府采购法 art 24 caps the members; tender
# documents commonly allow two to five.
MAX_CONSORTIUM_MEMBERS = 10


def require_role(principal: Principal, *roles: str) -> None:
    if principal.role not in roles and principal.role != "admin":
        raise Forbidden(f"this needs the role {' or '.join(roles)}; you are {principal.role}")


def instance_filter(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause on Instance selecting exactly what the caller may see."""
    if principal.role in ("admin", "operator", "system"):
        return true()
    if principal.role == "party" and principal.org_code:
        return Instance.id.in_(select(Party.instance_id).where(Party.org_code == principal.org_code))
    if principal.role == "supervisor" and principal.departments:
        return Instance.department_code.in_(sorted(principal.departments))
    return false()


def parties(instance: Instance) -> dict[str, str]:
    """Role → organisation code of a contract's parties: the lane roles bound at its start (`instance_parties`
    holds the same bindings, written in the same step and never changed, for `instance_filter`'s query)."""
    return {role: org for role, org in (instance.roles or {}).items() if role != "department"}


def holders(instance: Instance) -> list[tuple[str, str, str | None]]:
    """(role, organisation, standing) of every party, by role: standing 'lead' or 'member' for a consortium's
    members (the instance's start data names them: `consortium`), None for a role held alone."""
    consortium = (instance.data or {}).get(CONSORTIUM)
    out = []
    for role, org in sorted(parties(instance).items()):
        if role == CONSORTIUM_ROLE and isinstance(consortium, dict) and consortium.get("lead") == org:
            out += [(role, m, "lead" if m == org else "member") for m in consortium.get("members") or [org]]
        else:
            out.append((role, org, None))
    return out


def members(session: Session, instance_id: str, role: str) -> list[str]:
    """Every organisation holding `role` in the contract: its one organisation, or a consortium's members."""
    return list(session.scalars(select(Party.org_code).where(Party.instance_id == instance_id, Party.role == role)
                                .order_by(Party.org_code)))


def consortium_members(instance: Instance | None) -> list[str]:
    """The members of the consortium holding the contractor's role, as the start recorded them ([] when none).
    instance_parties holds the same, one row each, for the list queries (`instance_filter`, `holds_lane`)."""
    consortium = (instance.data or {}).get(CONSORTIUM) if instance is not None else None
    return list(consortium.get("members") or ()) if isinstance(consortium, dict) else []


def in_consortium(obj, instance_id: str, role: str | None, org: str) -> bool:
    """Whether `org` is a consortium member holding `role` in the contract of `obj` (a loaded task or alert): read
    from the contract already in the session (no statement in a view that loaded it)."""
    if role != CONSORTIUM_ROLE:
        return False
    session = object_session(obj)
    return session is not None and org in consortium_members(session.get(Instance, instance_id))


def holds_lane(org: str):
    """A correlated clause: `org` holds the role of the lane named by (instance_id, role) — e.g. a consortium member
    the contractor's lane, though the task names the lead as its assignee."""
    def clause(instance_id, role):
        return exists().where(Party.instance_id == instance_id, Party.role == role, Party.org_code == org)
    return clause


def can_see_instance(principal: Principal, instance: Instance) -> bool:
    if principal.role in ("admin", "operator", "system"):
        return True
    if principal.role == "party":
        if principal.org_code is None:
            return False
        return principal.org_code in parties(instance).values() or principal.org_code in consortium_members(instance)
    if principal.role == "supervisor":
        return instance.department_code in principal.departments
    return False


def require_visible(principal: Principal, instance: Instance | None) -> Instance:
    if instance is None or not can_see_instance(principal, instance):
        raise NotFound("no such instance")
    return instance


def task_filter(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause on TaskRow selecting the tasks the caller may act on."""
    if principal.role == "admin":
        return true()
    if principal.role == "operator":
        return TaskRow.lane.is_(None)
    if principal.role == "party" and principal.org_code:
        return and_(TaskRow.lane.in_(PARTY_ROLES),
                    or_(TaskRow.assignee_org == principal.org_code,
                        holds_lane(principal.org_code)(TaskRow.instance_id, TaskRow.lane)))
    if principal.role == "supervisor" and principal.departments:
        return and_(TaskRow.lane == "supervisor", TaskRow.assignee_department.in_(sorted(principal.departments)))
    return false()


def may_act_on(principal: Principal, task: TaskRow) -> bool:
    if principal.role == "admin":
        return True
    if task.lane is None:
        return principal.role == "operator"
    if task.lane in PARTY_ROLES:
        if principal.role != "party" or principal.org_code is None:
            return False
        return principal.org_code == task.assignee_org or (
            task.assignee_org is not None and in_consortium(task, task.instance_id, task.lane, principal.org_code))
    if task.lane == "supervisor":
        return principal.role == "supervisor" and task.assignee_department in principal.departments
    return False


def require_act(principal: Principal, task: TaskRow) -> None:
    if not may_act_on(principal, task):
        holder = task.assignee_org or task.assignee_department or "the operators"
        raise Forbidden(f"task {task.element_id} is in the {task.lane or 'unassigned'} lane, held by {holder} in this contract")


def or_any(*clauses):
    return or_(*clauses)
