"""User tasks: what a party or supervisor may do next, and doing it."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from . import authz, definitions, forms, guarantees, ledger, spiff, steps
from .db import Database
from .directory import Principal
from .errors import Conflict, Invalid, NotFound
from .instances import _engine_invalid, detail, run_step, task_view
from .models import Definition, Instance, TaskRow
from .pagination import page


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


def _visible_task(session, principal: Principal, task_id: str) -> tuple[TaskRow, Instance]:
    row = session.get(TaskRow, task_id)
    if row is None:
        raise NotFound("no such task")
    instance = session.get(Instance, row.instance_id)
    if not authz.can_see_instance(principal, instance, steps.parties_of(session, instance.id)):
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
    """Complete a READY task with validated data; 403 outside the caller's lane, 409 if no longer ready."""
    with db.read() as session:
        row, instance = _visible_task(session, principal, task_id)
        authz.require_act(principal, row)
        if row.state != "ready":
            raise Conflict(f"task {row.element_id} is {row.state}, no longer ready")
        form = _form_of(session, instance, row.element_id)
    typed, errors = forms.validate(form, data)
    if isinstance(data, dict):
        errors.update(forms.reserved_errors(data))
    if errors:
        raise Invalid(f"the data for {row.element_id} is invalid", errors)

    def apply(step: steps.Step):
        current = step.session.get(TaskRow, task_id)
        if current.state != "ready" or step.instance.status != "running":
            raise Conflict(f"task {current.element_id} is {current.state}, no longer ready")
        task = spiff.get_task(step.wf, task_id)
        process_data = forms.to_process_data(form, typed, spiff.task_data(task) if task is not None else {})
        try:
            spiff.complete_task(step.wf, task_id, process_data)
        except spiff.EngineError as exc:
            raise _engine_invalid(exc) from None
        step.record("task_completed", current.element_id, {"task_id": task_id, "data": typed})
        ledger.record_task(step, current.element_id, typed, principal.name)
        guarantees.record_task(step, current.element_id, typed, principal.name, task_id)
        steps.finish(step)
        current.completed_by = principal.name
        nxt = step.session.scalars(select(TaskRow).where(TaskRow.instance_id == step.instance.id, TaskRow.state == "ready",
                                                         authz.task_filter(principal)))
        return {"instance": detail(step.session, step.instance, principal),
                "next_tasks": [task_view(t, step.instance.business_key, _form_of(step.session, step.instance, t.element_id))
                               for t in nxt]}

    return run_step(db, principal, instance.id, apply, row.part_id)
