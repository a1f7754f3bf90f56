"""Corrections of a party's own ledger entry (issue 16, acceptance 4): a payment (of a milestone, or a works
contract's advance, progress payment or settlement) or an invoice entered wrongly.

A correction names the completed task whose entry it corrects, the corrected fields (the same form, strict
shapes and plausibility rules as the original) and a reason. It runs as one step on the task's workflow (the
milestone part): the ledger row the task wrote is updated (the audit chain records its new content as a
`ledger_row` event, so `lvyue audit verify` still reproduces it), the process data from that task on is
corrected (a running total such as `paid_total` moves by the difference), an `entry_corrected` event records
the task, the values before and after and the reason — the original `task_completed` event stays as it was —
and the open alerts awaiting that obligation are settled again on the corrected data (resolved when it is now
met, their amount updated otherwise).

Only the organisation holding the task's lane (the party that made the entry) or an admin may correct it.
Not (yet) correctable: the business dates of other tasks (delivery, acceptance), whose corrections would have
to move the timers derived from them.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine import clock
from engine.access import authz
from engine.access.directory import Principal
from engine.errors import Conflict, Invalid, NotFound
from engine.runtime import audit, forms, runner, spiff, steps, values
from engine.storage.db import Database
from engine.storage.models import AuditEvent, Instance, Invoice, Payment, TaskRow
from engine.supervision import alerts, bindings, plausibility

ACTION = "entry_corrected"
# element id → the ledger table its completion writes a row to, and that row's class.
ENTRIES: dict[str, tuple[str, type]] = {bindings.RECORD_PAYMENT: ("payments", Payment),
                                         bindings.SUBMIT_INVOICE: ("invoices", Invoice),
                                         **{element: ("payments", Payment) for element in bindings.WORKS_PAYMENT_KINDS}}
# The ledger row's columns a correction may change, by the form field they come from.
_PAYMENT_COLUMNS = {"amount": "amount", "paid_at": "paid_at", "voucher_no": "voucher_no"}
COLUMNS = {bindings.RECORD_PAYMENT: _PAYMENT_COLUMNS,
           bindings.SUBMIT_INVOICE: {"amount": "amount", "issued_at": "issued_at", "invoice_no": "invoice_no"},
           **{element: _PAYMENT_COLUMNS for element in bindings.WORKS_PAYMENT_KINDS}}


def _entry(session, instance_id: str, task_id: str, table: str) -> tuple[dict[str, Any], str]:
    """(the data the task entered, as last corrected, the id of the ledger row its step wrote), from the chain."""
    events = list(session.scalars(select(AuditEvent).where(
        AuditEvent.instance_id == instance_id, AuditEvent.action.in_(("task_completed", audit.LEDGER_ACTION, ACTION)))
        .order_by(AuditEvent.seq)))
    completed = next((e for e in events if e.action == "task_completed" and e.data.get("task_id") == task_id), None)
    if completed is None:
        raise Conflict("the task's completion is not in the audit trail: its entry cannot be corrected")
    # The row the completion's own step wrote: the same step appends its events at one instant, after it.
    row_id = next((e.data["id"] for e in events if e.action == audit.LEDGER_ACTION and e.seq > completed.seq
                   and e.at == completed.at and e.data.get("table") == table), None)
    if row_id is None:
        raise Conflict("the task wrote no ledger row: there is no entry to correct")
    data = dict(completed.data.get("data") or {})
    for e in events:
        if e.action == ACTION and e.data.get("task_id") == task_id:
            data = dict(e.data["after"])
    return data, row_id


def _still_paid(step: steps.Step, element_id: str) -> None:
    """A milestone whose payments ended (its part completed, paid in full) cannot be corrected below its amount:
    its payment round is over, and no further payment could be recorded."""
    if element_id != bindings.RECORD_PAYMENT or step.part is None or step.part.status != "completed":
        return
    data = spiff.current_data(step.wf)
    milestone = data.get("milestone") if isinstance(data.get("milestone"), dict) else {}
    if milestone.get("amount") in (None, "") or data.get("paid_total") is None:
        return
    planned, paid = values.amount_of(milestone["amount"]), values.amount_of(data["paid_total"])
    if paid < planned:
        raise Invalid("the correction would leave a milestone paid in full unpaid", {"data.amount": [
            f"milestone {step.part.item_no} was paid in full and its payments ended; corrected, it would be paid "
            f"{values.format_money(paid)} of {values.format_money(planned)}"]})


def correct(db: Database, principal: Principal, business_key: str, task_id: str, changes: Any,
            reason: str) -> dict[str, Any]:
    """Correct the ledger entry of the completed task `task_id` of contract `business_key` (see the module);
    NotFound for a contract or task the caller cannot see, Forbidden for another party, Conflict for a task
    not completed, Invalid (422 naming the field) for data that is not of the form's shapes or not plausible.
    Returns the correction as the ledger lists it."""
    if not isinstance(reason, str) or not reason.strip():
        raise Invalid("a correction needs a reason", {"reason": ["required"]})
    with db.read() as session:
        instance = session.scalar(select(Instance).where(Instance.business_key == business_key))
        if instance is None or not authz.can_see_instance(principal, instance):
            raise NotFound(f"no contract {business_key}")
        row = session.get(TaskRow, task_id)
        if row is None or row.instance_id != instance.id:
            raise NotFound(f"no task {task_id} in contract {business_key}")
        authz.require_act(principal, row)
        if row.state != "completed":
            raise Conflict(f"task {row.element_id} is {row.state}: only a completed task's entry can be corrected")
        if row.element_id not in ENTRIES:
            raise Invalid(f"a {row.element_id} task has no ledger entry that can be corrected",
                          {"task_id": [f"{row.element_id} is not one of {', '.join(sorted(ENTRIES))}"]})
        table, model = ENTRIES[row.element_id]
        original, row_id = _entry(session, instance.id, task_id, table)
        instance_id, part_id, element_id = instance.id, row.part_id, row.element_id

    def apply(step: steps.Step) -> dict[str, Any]:
        typed = runner.amend_task(step, task_id, element_id, original, changes)
        plausibility.check_task(step, element_id, typed, step.actor, task_id, excluding=row_id)
        _still_paid(step, element_id)
        entry = step.session.get(model, row_id)
        before = forms.to_json({f: original.get(f) for f in COLUMNS[element_id] if f in original or f in changes})
        after = forms.to_json({f: typed.get(f) for f in before})
        for field, column in COLUMNS[element_id].items():
            if field in typed:
                setattr(entry, column, typed[field])
        step.record(ACTION, element_id, {"task_id": task_id, "table": table, "row_id": row_id, "before": before,
                                         "after": after, "reason": reason.strip()})
        waiting = [t.id for t in runner.ready_rows(step.session, step.instance.id)
                   if t.part_id == step.part_id and t.element_id == element_id]
        if element_id in bindings.WORKS_PAYMENT_KINDS:
            # A works contract runs each application in its own branch: settle each task's alerts on its own
            # branch's data (the figures of one application are not another's).
            for tid in [task_id, *waiting]:
                task = spiff.get_task(step.wf, tid)
                data = spiff.visible_data(task) if task is not None else spiff.current_data(step.wf)
                step.events.extend(alerts.on_corrected(step, [tid], data, clock.now(), element_id))
        else:
            step.events.extend(alerts.on_corrected(step, [task_id, *waiting], spiff.current_data(step.wf), clock.now()))
        return {"task_id": task_id, "element_id": element_id, "milestone_no": step.part.item_no if step.part else None,
                "by": step.actor, "before": before, "after": after, "reason": reason.strip()}

    return runner.run_step(db, principal, instance_id, apply, part_id=part_id)


def listed(session, instance_id: str) -> list[dict[str, Any]]:
    """The corrections of a contract, oldest first: who, when, which task, the values before and after, why."""
    return [{"at": e.at, "by": e.actor, "task_id": e.data.get("task_id"), "element_id": e.element_id,
             "milestone_no": e.data.get("part"), "before": e.data.get("before"), "after": e.data.get("after"),
             "reason": e.data.get("reason")}
            for e in session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id,
                                                              AuditEvent.action == ACTION).order_by(AuditEvent.seq))]
