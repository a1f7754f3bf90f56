"""The runtime's listener registry: where a domain plugs into steps without the runtime naming it.

The runtime calls these hooks at fixed points of a step (an instance started, a user task completed, a task
row settled or made ready, an escalation thrown, a step about to append its events) and hands listeners
plain data (element ids, the element's extension properties, task data), never SpiffWorkflow objects.
Only the composition root (engine/bootstrap.py) registers into it; registering twice is harmless, since
`reset()` then `register…` is what `bootstrap.bootstrap()` does once per process.

A listener may declare the diagram elements it binds to (`Binding`): deploying a version of that process
without one of them is refused (engine/runtime/diagrams.py reads `missing_bindings`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Thrown:
    """An escalation (warning) thrown in this step, as plain data: the throw event's element id and task id,
    its extension properties (`spec`, from the diagram reader), the task data at the throw, and the
    activity it awaits (element id, task id) when it sits on a boundary timer."""

    element_id: str
    task_id: str
    spec: Mapping[str, Any]
    data: dict[str, Any]
    awaited: tuple[str, str] | None = None
    shift: float = 0.0  # seconds the timer that raised it was moved by (a suspension: timers.shift_instance)


@dataclass(frozen=True)
class Binding:
    """A listener's need: `elements` must exist in every deployed version of `process` (a definition key)."""

    listener: str
    process: str
    elements: tuple[str, ...]


@dataclass
class Registry:
    """Everything a domain registered. Each list is called in registration order."""

    # (step, typed start data) after the new instance ran until it waits, before the step is written.
    instance_started: list[Callable] = field(default_factory=list)
    # (step, element_id, typed data, actor, task_id) after a user task completed through the API.
    task_completed: list[Callable] = field(default_factory=list)
    # (step, row, task_data, now) → [(action, element_id, data)] events, when a task row leaves READY completed.
    task_settled: list[Callable] = field(default_factory=list)
    # (step, element_id, task_data) → [due instants]; a READY task's due_at is the earliest.
    task_due: list[Callable] = field(default_factory=list)
    # (step, [Thrown], now) → [(action, element_id, data)] events: the warnings thrown in this step.
    thrown: list[Callable] = field(default_factory=list)
    # (session, principal, instance) → {key: value} merged into the instance view.
    instance_view: list[Callable] = field(default_factory=list)
    # (session, instance, reason, now) when an instance is cancelled.
    instance_cancelled: list[Callable] = field(default_factory=list)
    # (session) → count of domain deadlines moved, after a calendar change re-evaluated the timers.
    deadlines_moved: list[Callable] = field(default_factory=list)
    # (session, [instances]) before a batch of steps on those instances (a timer sweep's group): a listener reads
    # what the steps will ask of it, once for all of them, and keeps it for the transaction.
    preload: list[Callable] = field(default_factory=list)
    # (instance, lane role) → (assignee_org, assignee_department): who may act on a task of a lane.
    assign: Callable[[Any, str | None], tuple[str | None, str | None]] | None = None
    # Tables whose rows the audit chain reproduces: {table name: mapped class}.
    audited_tables: dict[str, type] = field(default_factory=dict)
    # process key → (session, data) → (typed, errors): start terms beyond the diagram's start form.
    start_terms: dict[str, Callable] = field(default_factory=dict)
    # process key → lane roles the process may leave unbound.
    optional_roles: dict[str, frozenset[str]] = field(default_factory=dict)
    # Names a diagram's form or a caller's data may not use (role bindings the engine sets itself).
    reserved_names: set[str] = field(default_factory=set)
    # Rule ids that deadline("…", …) may name in a diagram (diagram lint); None: not checked.
    rule_ids: Callable[[], Iterable[str]] | None = None
    # (name, function(db), seconds): periodic jobs every scheduler runs; `at_start` ones also run once first.
    periodic: list[tuple[str, Callable, int, bool]] = field(default_factory=list)
    bindings: list[Binding] = field(default_factory=list)


REGISTRY = Registry()


def reset() -> Registry:
    """Empty the registry (the composition root starts from here)."""
    REGISTRY.__init__()
    return REGISTRY


def missing_bindings(process_key: str, element_ids: Iterable[str]) -> list[tuple[Binding, str]]:
    """The (binding, element id) pairs a diagram of `process_key` lacks among the registered bindings."""
    present = set(element_ids)
    return [(b, e) for b in REGISTRY.bindings if b.process == process_key for e in b.elements if e not in present]


def fire(listeners: Iterable[Callable], *args) -> list[Any]:
    """Call each listener; the events they return (lists of (action, element_id, data)) concatenated."""
    out: list[Any] = []
    for listener in listeners:
        result = listener(*args)
        if result:
            out.extend(result)
    return out

