"""The step runner: one command on one instance as one transaction (ARCHITECTURE.md §2), and the views of
an instance and its tasks that the use cases return.

`run_step` opens the instance's workflow (or one part), applies the command, writes the step and returns
the caller's result; `complete_task` is the one way to complete a READY user task, for the API's use case
and for a domain that completes one on a platform's behalf alike: it validates the data against the task's
form, completes it, records it and calls the task-completed listeners (engine/runtime/hooks.py).
"""
from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from engine.access import authz
from engine.access.directory import Principal
from engine.errors import Conflict, Invalid
from engine.runtime import forms, hooks, spiff, steps
from engine.storage.db import Database
from engine.storage.models import Definition, Instance, TaskRow, Timer


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
    return steps.ready_rows(session, instance_id)


def detail(session, instance: Instance, principal: Principal | None = None,
           tasks: list[TaskRow] | None = None) -> dict[str, Any]:
    """The full view of API.md `GET /instances/{id}` (`tasks`: its READY rows, when the caller has them);
    the domain adds its own keys (e.g. `alerts`) through the `instance_view` listeners."""
    d = session.get(Definition, instance.definition_id)
    user_tasks = d.model.get("user_tasks", {})
    if tasks is None:
        tasks = ready_rows(session, instance.id)
    # Pending timers only: fired and cancelled ones are history (the audit trail has them).
    timers = steps.pending_timers(session, instance.id)
    out = summary(session, instance)
    out.update({
        "data": instance.data,
        "roles": instance.roles,
        "error": instance.error,
        "tasks": [task_view(t, instance.business_key, user_tasks.get(t.element_id, {}).get("form", [])) for t in tasks],
        "timers": [{"id": t.id, "element_id": t.element_id, "due_at": t.due_at, "status": t.status} for t in timers],
    })
    for listener in hooks.REGISTRY.instance_view:
        out.update(listener(session, principal, instance))
    return out


def engine_invalid(exc: spiff.EngineError) -> Invalid:
    """The 422 of an engine error (a gateway or script that needs data the step did not give, or a step
    beyond its budget)."""
    if isinstance(exc, spiff.RunawayError):
        # The diagram, not the data, is at fault: the same step would run away again.
        return Invalid(exc.message, {"process": [exc.message]})
    if exc.missing:
        return Invalid(exc.message, {f"data.{exc.missing}": [f"required by {exc.element_id}: {exc.message}"]})
    return Invalid(exc.message, {"data": [exc.message]})


def load_visible(session, principal: Principal, instance_id: str) -> Instance:
    return authz.require_visible(principal, session.get(Instance, instance_id))


@contextlib.contextmanager
def step_transaction(db: Database):
    """The write transaction of a step: a concurrent step on the same instance (a stale row version at
    flush) becomes Conflict (409); a process that fails or runs away in it (e.g. on a message delivered
    in `steps.finish`) becomes Invalid (422), with nothing stored. A refusal (422) reached while another
    step on the same instance committed after this one read it (PostgreSQL, READ COMMITTED: a check that
    reads the contract's rows sees the other's payment) is that conflict too: 409, not a verdict on data
    the caller never saw."""
    conflict = Conflict("the contract was changed by someone else at the same time; reload and try again")
    try:
        with db.transaction() as session:
            try:
                yield session
            except spiff.EngineError as exc:
                if steps.changed_since_read(session):
                    raise conflict from None
                raise engine_invalid(exc) from None
            except Invalid:
                if steps.changed_since_read(session):
                    raise conflict from None
                raise
    except StaleDataError:
        raise conflict from None


def run_step(db: Database, principal: Principal, instance_id: str, apply: Callable[[steps.Step], Any],
             part_id: str | None = None, after: Callable[[steps.Step, Any], Any] | None = None) -> Any:
    """Run `apply(step)` as one step on a visible instance (its main workflow or one part); a concurrent step
    on the same instance gives Conflict. Returns `after(step, result)` when given (computed once the step is
    written, in the same transaction), else apply's result, else the instance's detail."""
    with step_transaction(db) as session:
        instance = authz.require_visible(principal, steps.load_with_definition(session, instance_id, part_id is None))
        step = steps.open_step(session, instance, principal.name, part_id)
        result = apply(step)
        steps.finish(step)
        if after is not None:
            return after(step, result)
        return result if result is not None else detail(session, instance, principal)


def complete_task(step: steps.Step, task_id: str, element_id: str, data: Any, actor: str,
                  by: str | None = None) -> dict[str, Any]:
    """Complete the READY user task `task_id` (of `element_id`) in the step's workflow with `data`, validated against its form
    (Invalid 422 naming the field; Conflict when the task is no longer ready), record `task_completed` and
    call the task-completed listeners. Returns the typed data. `by` is recorded when someone other than
    the step's actor completed it (a platform's notice)."""
    task = spiff.get_task(step.wf, task_id)
    if task is None or not spiff.task_is_ready_user_task(task):
        # The row was read ready, but a concurrent completion committed before the workflow state was
        # read (PostgreSQL, READ COMMITTED): the same 409 the version check gives it a moment later.
        raise Conflict(f"task {element_id} was completed by someone else at the same time; reload")
    form = step.definition.model.get("user_tasks", {}).get(element_id, {}).get("form", [])
    typed, errors = forms.validate(form, data)
    if isinstance(data, dict):
        errors.update(forms.reserved_errors(data))
    if errors:
        raise Invalid(f"the data for {element_id} is invalid", errors)
    process_data = forms.to_process_data(form, typed, spiff.task_data(task))
    for name, delta in forms.shared_increments(form, typed).items():
        # Before the process runs on: a gateway right after this task already sees the new total.
        spiff.set_shared(step.wf, name, Decimal(str(spiff.shared_value(step.wf, name, 0))) + delta)
    try:
        spiff.complete_task(step.wf, task_id, process_data)
    except spiff.EngineError as exc:
        raise engine_invalid(exc) from None
    step.record("task_completed", element_id,
                {"task_id": task_id, "data": typed, **({"by": by} if by is not None else {})})
    for listener in hooks.REGISTRY.task_completed:
        listener(step, element_id, typed, by or actor, task_id)
    return typed


def amend_task(step: steps.Step, task_id: str, element_id: str, original: dict[str, Any],
               changes: Any) -> dict[str, Any]:
    """Correct the data the COMPLETED user task `task_id` (of `element_id`) was completed with: `changes` (fields
    of its form) over `original` (the typed data it was completed with, as its `task_completed` event recorded
    it) are validated against the same form (Invalid 422 naming the field `data.…`), then carried into the
    process data from that task on: a value renamed by `as` is replaced where it still holds the original, a
    running total (`accumulate`) moves by the difference. Records nothing and calls no listener: the caller
    records what the correction means. Returns the corrected typed data."""
    if not isinstance(changes, dict) or not changes:
        raise Invalid("nothing to correct", {"data": ["must be a JSON object naming at least one field"]})
    form = step.definition.model.get("user_tasks", {}).get(element_id, {}).get("form", [])
    typed, errors = forms.validate(form, {**original, **changes})
    errors.update(forms.reserved_errors(changes))
    if errors:
        raise Invalid(f"the corrected data for {element_id} is invalid", errors)
    before, _ = forms.validate(form, original)
    old, new = forms.to_process_data(form, before, {}), forms.to_process_data(form, typed, {})
    totals = {f["accumulate"] for f in form if "accumulate" in f}
    shift = {name: new[name] - old[name] for name in totals if name in new and name in old and new[name] != old[name]}
    replace = {name: (old.get(name), value) for name, value in new.items()
               if name not in totals and old.get(name) != value}
    if not spiff.amend_from(step.wf, task_id, replace, shift):
        raise Conflict(f"task {element_id} is not completed in this process")
    before_shared, after_shared = forms.shared_increments(form, before), forms.shared_increments(form, typed)
    for name in set(before_shared) | set(after_shared):
        delta = after_shared.get(name, Decimal(0)) - before_shared.get(name, Decimal(0))
        if delta:
            spiff.set_shared(step.wf, name, Decimal(str(spiff.shared_value(step.wf, name, 0))) + delta)
    return typed
