"""Moving a running workflow onto a newer version of its spec: SpiffWorkflow's own diff and migrate
helpers (`SpiffWorkflow.bpmn.util.diff`), kept here beside `spiff.py` so that the library's API churn
still touches only these two modules.

A workflow's state is a task tree bound to the spec it was started with. `plan` aligns that tree with
the new spec (`diff_workflow`: by BPMN id first, then by structure) and names the active elements
(READY, WAITING, STARTED) that the new spec no longer has: such a workflow cannot move. `apply` swaps
the specs in place (`migrate_workflow`), which resets every READY and WAITING branch — the task ids of
user tasks and timers are kept, their predicted children are rebuilt from the new spec, and waiting
timers forget their computed due instant, so the next engine run evaluates them with the new
definition's expressions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.util.task import TaskState

from engine.runtime.spiff import SERIALIZER, SpecBundle, Workflow

ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


@dataclass
class Plan:
    """What moving one workflow to a new spec would do."""

    blocked: list[str] = field(default_factory=list)  # active element ids the new spec does not have
    history: list[str] = field(default_factory=list)  # done (or planned) element ids it does not have
    changed: list[str] = field(default_factory=list)  # active element ids whose spec changed
    _diffs: Any = None
    _spec: Any = None
    _subprocess_specs: dict[str, Any] | None = None

    @property
    def possible(self) -> bool:
        return not self.blocked and not self.history


def _name(task) -> str:
    return task.task_spec.bpmn_id or task.task_spec.name


def _reset_with_an_active_ancestor(task) -> bool:
    parent = task.parent
    while parent is not None:
        if parent.has_state(TaskState.READY | TaskState.WAITING):
            return True
        parent = parent.parent
    return False


def plan(wf: Workflow, bundle: SpecBundle, process_id: str | None = None) -> Plan:
    """Align `wf` with the spec of `process_id` (default: the top-level process) in `bundle`.

    Besides active elements, a task the new spec lacks that stays in the tree (a completed one, or a
    planned one outside the branches that are reset) blocks too: the state would no longer load."""
    spec = bundle.subprocess_specs.get(process_id) if process_id else bundle.spec
    if spec is None:
        active = sorted({_name(t) for t in wf.get_tasks(state=ACTIVE) if t.task_spec.bpmn_id})
        return Plan(blocked=active or [process_id])
    top, subs = diff_workflow(SERIALIZER.registry, wf, spec, bundle.subprocess_specs)
    blocked, history, changed = set(), set(), set()
    for diff, sub in [(top, wf)] + [(subs[sp_id], sp) for sp_id, sp in wf.subprocesses.items()]:
        if diff is None:  # the called process is gone from the new version
            blocked |= {_name(t) for t in sub.get_tasks(state=ACTIVE, skip_subprocesses=True)}
            history |= {_name(t) for t in sub.get_tasks(skip_subprocesses=True)}
            continue
        for task in diff.removed:
            if task.has_state(ACTIVE):
                blocked.add(_name(task))
            elif not _reset_with_an_active_ancestor(task):
                history.add(_name(task))
        changed |= {_name(t) for t in diff.changed if t.has_state(ACTIVE)}
    return Plan(sorted(blocked), sorted(history - blocked), sorted(changed - blocked), (top, subs), spec,
                bundle.subprocess_specs)


def apply(wf: Workflow, p: Plan) -> None:
    """Rebind `wf` to the new spec of a possible plan. The caller runs the engine afterwards."""
    if not p.possible:
        raise ValueError(f"cannot migrate: {', '.join(p.blocked + p.history)} no longer exist")
    top, subs = p._diffs
    for sp_id, sp in list(wf.subprocesses.items()):
        diff = subs.get(sp_id)
        if diff is not None:
            migrate_workflow(diff, sp, p._subprocess_specs[sp.spec.name])
    migrate_workflow(top, wf, p._spec)
    wf.subprocess_specs = p._subprocess_specs
    for task in wf.get_tasks():
        specs = task.workflow.spec.task_specs
        if specs.get(task.task_spec.name) is not task.task_spec:
            raise ValueError(f"cannot migrate: '{_name(task)}' has no counterpart in the new version")
    for task in wf.get_tasks(state=TaskState.WAITING):
        task.internal_data.pop("event_value", None)  # any timer left waiting is evaluated again
