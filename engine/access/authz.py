"""Who may see and do what, decided here and not in the views (ARCHITECTURE.md §7).

Parties act in the lanes their organisation holds in a contract; supervisors see the contracts of
their department subtree and act in the `supervisor` lane; operators start and cancel contracts and
see them all; designers deploy diagrams but do not touch contracts; admins may do everything.
Invisible things are reported as absent (404), visible but forbidden acts as 403.
"""
from __future__ import annotations

from sqlalchemy import and_, false, or_, select, true
from sqlalchemy.sql import ColumnElement

from engine.access.directory import Principal
from engine.errors import Forbidden, NotFound
from engine.storage.models import Instance, Party, TaskRow

PARTY_ROLES = ("employer", "contractor", "guarantor")


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


def can_see_instance(principal: Principal, instance: Instance) -> bool:
    if principal.role in ("admin", "operator", "system"):
        return True
    if principal.role == "party":
        return principal.org_code is not None and principal.org_code in parties(instance).values()
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
        return and_(TaskRow.lane.in_(PARTY_ROLES), TaskRow.assignee_org == principal.org_code)
    if principal.role == "supervisor" and principal.departments:
        return and_(TaskRow.lane == "supervisor", TaskRow.assignee_department.in_(sorted(principal.departments)))
    return false()


def may_act_on(principal: Principal, task: TaskRow) -> bool:
    if principal.role == "admin":
        return True
    if task.lane is None:
        return principal.role == "operator"
    if task.lane in PARTY_ROLES:
        return principal.role == "party" and principal.org_code is not None and principal.org_code == task.assignee_org
    if task.lane == "supervisor":
        return principal.role == "supervisor" and task.assignee_department in principal.departments
    return False


def require_act(principal: Principal, task: TaskRow) -> None:
    if not may_act_on(principal, task):
        holder = task.assignee_org or task.assignee_department or "the operators"
        raise Forbidden(f"task {task.element_id} is in the {task.lane or 'unassigned'} lane, held by {holder} in this contract")


def or_any(*clauses):
    return or_(*clauses)
