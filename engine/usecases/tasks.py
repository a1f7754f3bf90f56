"""User tasks: what a party or supervisor may do next, and doing it."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.access import authz
from engine.access.directory import Principal
from engine.errors import Conflict, NotFound
from engine.runtime import definitions, forms, steps
from engine.runtime.runner import complete_task, detail, ready_rows, step_transaction, task_view
from engine.storage.db import Database
from engine.storage.models import Definition, Instance, TaskRow
from engine.storage.pagination import page


def _form_of(session, instance: Instance, element_id: str) -> list[dict[str, Any]]:
    d = session.get(Definition, instance.definition_id)
    return d.model.get("user_tasks", {}).get(element_id, {}).get("form", [])


def list_ready(db: Database, principal: Principal, limit: int | None, cursor: str | None,
               instance_id: str | None = None, element_id: str | None = None) -> dict[str, Any]:
    with db.read() as session:
        query = select(TaskRow).where(TaskRow.state == "ready", authz.task_filter(principal))
        if instance_id:
            query = query.where(TaskRow.instance_id == instance_id)
        if element_id:
            query = query.where(TaskRow.element_id == element_id)

        owners: dict[str, tuple[str, int]] = {}
        models: dict[int, dict[str, Any]] = {}

        def prepare(rows: list[TaskRow]) -> None:
            # Business keys and forms for the whole page in two queries; the workflow state is not read.
            ids = {r.instance_id for r in rows}
            if ids:
                owners.update({i: (bk, d) for i, bk, d in session.execute(
                    select(Instance.id, Instance.business_key, Instance.definition_id).where(Instance.id.in_(ids)))})
                models.update(definitions.models_of(session, {d for _, d in owners.values()}))

        def render(row: TaskRow) -> dict[str, Any]:
            business_key, definition_id = owners[row.instance_id]
            form = models[definition_id].get("user_tasks", {}).get(row.element_id, {}).get("form", [])
            return task_view(row, business_key, form)

        return page(session, query, [TaskRow.created_at, TaskRow.id], limit, cursor, render, prepare=prepare)


def _visible_task(session, principal: Principal, task_id: str, for_step: bool = False) -> tuple[TaskRow, Instance]:
    if for_step:  # the task, its instance with its state, and the instance's READY rows: one statement
        found = steps.load_for_task(session, task_id)
        if found is None:
            raise NotFound("no such task")
        row, instance = found
    else:
        row = session.get(TaskRow, task_id)
        if row is None:
            raise NotFound("no such task")
        instance = session.get(Instance, row.instance_id)
    if not authz.can_see_instance(principal, instance):
        raise NotFound("no such task")
    return row, instance


def get(db: Database, principal: Principal, task_id: str) -> dict[str, Any]:
    with db.read() as session:
        row, instance = _visible_task(session, principal, task_id)
        form = _form_of(session, instance, row.element_id)
        out = task_view(row, instance.business_key, form)
        out.update({"state": row.state, "schema": forms.json_schema(form), "completed_at": row.completed_at,
                    "completed_by": row.completed_by})
        return out


def complete(db: Database, principal: Principal, task_id: str, data: Any) -> dict[str, Any]:
    """Complete a READY task with validated data; 403 outside the caller's lane, 409 if no longer ready.

    One transaction: the checks (404, 403, 409, 422, in that order) read what the step then writes,
    and a refusal rolls back with nothing changed."""
    with step_transaction(db) as session:
        row, instance = _visible_task(session, principal, task_id, for_step=True)
        authz.require_act(principal, row)
        if row.state != "ready" or instance.status != "running":
            raise Conflict(f"task {row.element_id} is {row.state}, no longer ready")
        step = steps.open_step(session, instance, principal.name, row.part_id)
        complete_task(step, task_id, row.element_id, data, principal.name)
        row.completed_by = principal.name  # goes out in the step's flush
        steps.finish(step)
        ready = ready_rows(session, instance.id)
        user_tasks = step.definition.model.get("user_tasks", {})
        return {"instance": detail(session, instance, principal, ready),
                "next_tasks": [task_view(t, instance.business_key, user_tasks.get(t.element_id, {}).get("form", []))
                               for t in ready if authz.may_act_on(principal, t)]}
