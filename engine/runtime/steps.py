"""One step = one transaction (ARCHITECTURE.md §2).

A step loads an instance with its row version, applies one command to one of its workflows, runs the
engine until it waits, and writes back the state, the READY task rows, the waiting timer rows, the
alerts and the audit events — all in the caller's transaction. A concurrent step on the same
instance fails the version check at flush and surfaces as `Conflict`.

An instance has a main workflow and, where its diagram partitions work (`lvyue:partition`, e.g. one
workflow per payment milestone), small part workflows of their own. A step touches one of them, so
its cost depends on what it changes, not on how many milestones the contract has (§3).
"""
from __future__ import annotations

import uuid
from decimal import Decimal
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, event, func, select
from sqlalchemy.orm import Session, aliased, undefer

from engine import clock
from engine.runtime import audit, diagrams, forms, hooks, spiff
from engine.storage.models import BufferedMessage, Definition, Instance, InstancePart, Party, TaskRow, Timer

_BUNDLES: dict[tuple[int, str], spiff.SpecBundle] = {}


def bundle_of(definition: Definition) -> spiff.SpecBundle:
    """The parsed spec of a definition version, restored once per process (specs are immutable)."""
    key = (definition.id, definition.sha256)
    bundle = _BUNDLES.get(key)
    if bundle is None:
        bundle = _BUNDLES[key] = spiff.load_spec(definition.spec)
    return bundle


@dataclass
class Step:
    """The working set of one step: the row, the live workflow, and the audit events to append."""

    session: Session
    instance: Instance
    definition: Definition
    wf: spiff.Workflow
    actor: str
    part: InstancePart | None = None
    events: list[tuple[str, str | None, dict[str, Any]]] = field(default_factory=list)
    finished: bool = False
    throws_before: frozenset[str] = frozenset()
    fired_by: str | None = None  # the worker firing this step's timers (timers.fire_group)
    timers_before: dict[str, int] = field(init=False)  # firings per timer task when the step began

    def __post_init__(self) -> None:
        self.timers_before = {k: f.count for k, f in spiff.timer_firings(self.wf).items()}

    @property
    def part_id(self) -> str | None:
        return self.part.id if self.part is not None else None

    def record(self, action: str, element_id: str | None = None, data: dict[str, Any] | None = None) -> None:
        if self.part is not None:
            data = {**(data or {}), "part": self.part.item_no}
        self.events.append((action, element_id, data or {}))


def _alert_elements(definition: Definition) -> frozenset[str]:
    return frozenset(definition.model.get("alerts", {}))


# ---------------------------------------------------------------------------- what a transaction knows
# A completion reads, in one statement, the task, its instance (state included), the definition's light row, the
# task's part and every READY task row of the instance (`load_for_task`). The step then keeps those rows, and the
# pending timer rows it reads once, up to date in session.info, so that the reply's view of the contract
# (`ready_rows`, `pending_timers`) costs no statement more. A rolled-back SAVEPOINT forgets them.
_READY = "lvyue.step.ready"      # instance id → {task id: TaskRow}: the instance's READY rows (and those this transaction settled)
_PENDING = "lvyue.step.pending"  # instance id → {timer id: Timer}: its pending timer rows (and those this transaction ended)
_HELD = "lvyue.step.held"        # strong references: the session's identity map is weak
_LOADED = "lvyue.step.loaded"    # instance id → the Instance a step loaded (changed_since_read)
NEW = "lvyue.step.new"           # ids of the instances this transaction started (no rows, no audit events before it)
_PRELOADED = "lvyue.step.preloaded"  # instance id → the Instance (state included) `preload` read for a batch of steps


def is_new(session: Session, instance_id: str) -> bool:
    """Whether this transaction started the instance: nothing of it existed before (no tasks, timers, alerts, events)."""
    return instance_id in session.info.get(NEW, ())

_READY_ROW = aliased(TaskRow, name="ready_task")
# Built once: the statement's construction and cache key are a good part of what a statement costs in Python.
_TASK_LOAD = (select(TaskRow, Instance, Definition, InstancePart, _READY_ROW)
              .join(Instance, Instance.id == TaskRow.instance_id)
              .join(Definition, Definition.id == Instance.definition_id)
              .outerjoin(InstancePart, InstancePart.id == TaskRow.part_id)
              .outerjoin(_READY_ROW, and_(_READY_ROW.instance_id == TaskRow.instance_id, _READY_ROW.state == "ready"))
              .where(TaskRow.id == bindparam("task_id"))
              .options(undefer(Instance.state)))
_INSTANCE_LOAD = (select(Instance, Definition).join(Definition, Definition.id == Instance.definition_id)
                  .where(Instance.id == bindparam("instance_id")))
_INSTANCE_LOAD_STATE = _INSTANCE_LOAD.options(undefer(Instance.state))
_PENDING_TIMERS = select(Timer).where(Timer.instance_id == bindparam("instance_id"),
                                      Timer.status.in_(("waiting", "leased", "incident")))
_BATCH_INSTANCES = (select(Instance, Definition).join(Definition, Definition.id == Instance.definition_id)
                    .where(Instance.id.in_(bindparam("ids", expanding=True))).options(undefer(Instance.state)))
_BATCH_READY = select(TaskRow).where(TaskRow.instance_id.in_(bindparam("ids", expanding=True)), TaskRow.state == "ready")
_BATCH_PENDING = select(Timer).where(Timer.instance_id.in_(bindparam("ids", expanding=True)),
                                     Timer.status.in_(("waiting", "leased", "incident")))


@event.listens_for(Session, "after_soft_rollback")
def _forget_known_rows(session: Session, previous_transaction) -> None:
    for key in (_READY, _PENDING, NEW, _PRELOADED):
        session.info.pop(key, None)


def _loaded(session: Session, instance: Instance | None) -> Instance | None:
    if instance is not None:
        session.info.setdefault(_LOADED, {})[instance.id] = instance
    return instance


def changed_since_read(session: Session) -> bool:
    """Whether another transaction committed a step on an instance this one loaded for a step, after it read it
    (the row's version moved; this transaction's own flush moves the loaded object's version with it): what this
    step concluded from its read is then stale. One statement, on a refusal's path only."""
    loaded: dict[str, Instance] = session.info.get(_LOADED) or {}
    if not loaded:
        return False
    with session.no_autoflush:
        current = dict(session.execute(select(Instance.id, Instance.version).where(Instance.id.in_(list(loaded)))).all())
    return any(current.get(iid) != instance.version for iid, instance in loaded.items())


def load_for_task(session: Session, task_id: str) -> tuple[TaskRow, Instance] | None:
    """A task row and its instance for a step on it, in one statement (see above); None when there is no such task."""
    rows = session.execute(_TASK_LOAD, {"task_id": task_id}).all()
    if not rows:
        return None
    row, instance, definition, part, _ = rows[0]
    session.info.setdefault(_HELD, []).extend((definition, part))
    session.info.setdefault(_READY, {})[instance.id] = {r.id: r for *_, r in rows if r is not None}
    return row, _loaded(session, instance)


def preload(session: Session, instance_ids: list[str]) -> None:
    """Read, for a batch of steps on these instances (a timer sweep's group), what each step would read alone: the
    instances with their state and definitions, their READY task rows and their pending timer rows — one statement
    each for the whole batch — and what the domain's listeners ask for (hooks `preload`). The steps then find them
    in this transaction (`load_with_definition`, `pending_timers`, `_sync_tasks`, `_sync_timers`)."""
    ids = list(dict.fromkeys(instance_ids))
    found = session.execute(_BATCH_INSTANCES, {"ids": ids}).all()
    session.info.setdefault(_HELD, []).extend(definition for _, definition in found)
    instances = {instance.id: _loaded(session, instance) for instance, _ in found}
    session.info.setdefault(_PRELOADED, {}).update(instances)
    ready = session.info.setdefault(_READY, {})
    pending = session.info.setdefault(_PENDING, {})
    for iid in instances:
        ready.setdefault(iid, {})
        pending.setdefault(iid, {})
    for row in session.scalars(_BATCH_READY, {"ids": list(instances)}):
        ready[row.instance_id].setdefault(row.id, row)
    for row in session.scalars(_BATCH_PENDING, {"ids": list(instances)}):
        pending[row.instance_id].setdefault(row.id, row)
    hooks.fire(hooks.REGISTRY.preload, session, list(instances.values()))


def load_with_definition(session: Session, instance_id: str, with_state: bool = True) -> Instance | None:
    """The instance row (with its main workflow's state, unless told otherwise) and its definition's light row,
    in one statement (none when `preload` read it)."""
    known = session.info.get(_PRELOADED, {}).get(instance_id)
    if known is not None:
        return known
    found = session.execute(_INSTANCE_LOAD_STATE if with_state else _INSTANCE_LOAD, {"instance_id": instance_id}).first()
    if found is None:
        return None
    session.info.setdefault(_HELD, []).append(found[1])
    return _loaded(session, found[0])


def ready_rows(session: Session, instance_id: str) -> list[TaskRow]:
    """The instance's READY task rows, oldest first: as this transaction's steps left them when it loaded them
    (`load_for_task`), else read."""
    known = session.info.get(_READY, {}).get(instance_id)
    if known is None:
        return list(session.scalars(select(TaskRow).where(TaskRow.instance_id == instance_id, TaskRow.state == "ready")
                                    .order_by(TaskRow.created_at, TaskRow.id)))
    return sorted((r for r in known.values() if r.state == "ready"), key=lambda r: (r.created_at, r.id))


def pending_timers(session: Session, instance_id: str) -> list[Timer]:
    """The instance's waiting, leased and incident timer rows, by due instant: as this transaction's steps left
    them where a step read them all, else read."""
    known = session.info.get(_PENDING, {}).get(instance_id)
    if known is None:
        return list(session.scalars(_PENDING_TIMERS.order_by(Timer.due_at, Timer.id), {"instance_id": instance_id}))
    return sorted((t for t in known.values() if t.status in ("waiting", "leased", "incident")),
                  key=lambda t: (t.due_at, t.id))


def known_timers(session: Session, instance_id: str) -> dict[str, Timer] | None:
    """The instance's pending timer rows by id as this transaction knows them (`preload`), None when it read none."""
    return session.info.get(_PENDING, {}).get(instance_id)


def open_step(session: Session, instance: Instance, actor: str, part_id: str | None = None) -> Step:
    """Load the instance's main workflow, or one of its parts, for a step."""
    definition = session.get(Definition, instance.definition_id)
    bundle = bundle_of(definition)
    part = session.get(InstancePart, part_id) if part_id else None
    wf = spiff.load(bundle, part.state, part.process_id) if part else spiff.load(bundle, instance.state)
    step = Step(session, instance, definition, wf, actor, part)
    step.throws_before = frozenset(spiff.completed_tasks_of(wf, _alert_elements(definition)))
    return step


def new_instance_step(session: Session, definition: Definition, business_key: str, roles: dict[str, str],
                      data: dict[str, Any], actor: str, members: dict[str, list[str]] | None = None) -> Step:
    """`members`: role → every organisation holding it, where several do (a consortium); `roles` names the lead."""
    now = clock.now()
    instance = Instance(id=str(uuid.uuid4()), business_key=business_key, definition_id=definition.id, status="running",
                        roles=roles, department_code=roles.get("department"), data={}, state="", created_at=now,
                        updated_at=now, created_by=actor, audit_seq=0, audit_head=None)
    session.add(instance)
    # A new instance has no rows yet: its steps and its reply need not ask for them.
    session.info.setdefault(_READY, {})[instance.id] = {}
    session.info.setdefault(_PENDING, {})[instance.id] = {}
    session.info.setdefault(NEW, set()).add(instance.id)
    for role, org in roles.items():
        if role != "department":
            for code in (members or {}).get(role) or [org]:
                session.add(Party(instance_id=instance.id, role=role, org_code=code))
    # Running totals start at 0 (as a partition's do): a gateway or a warning may read one before any payment.
    data = {**{name: 0 for name in _accumulators(definition, definition.key)}, **data}
    wf = spiff.new_workflow(bundle_of(definition), data)
    for name in _shared_totals(definition, definition.key):
        spiff.set_shared(wf, name, Decimal(0))
    return Step(session, instance, definition, wf, actor)


def finish(step: Step) -> None:
    """Write everything the step changed; the version check happens at the flush."""
    if step.finished:
        return
    step.finished = True
    now = clock.now()
    if step.part is None:
        _deliver_buffered(step)
        _pass_empty_partitions(step)
    _record_timer_firings(step, now)
    # Settle first: a completed task meets (or partly meets) the obligation of the alerts awaiting it,
    # before the next round of the same obligation may throw again.
    _sync_tasks(step, now)
    _raise_alerts(step, now)
    spiff.drain_events(step.wf)
    if step.part is not None:
        _write_part(step, now)
    else:
        _write_main(step, now)
    _sync_timers(step, now)
    # The audited rows this step wrote (the tables the domain registered) go into its chain with it, so
    # that `lvyue audit verify` can reproduce them from the chain alone.
    step.events.extend(audit.ledger_events(step.session, step.instance.id))
    # One flush writes the state and the chain's new head (one UPDATE of the instance row per step,
    # with its version check), then the events are inserted.
    audit.append(step.session, step.instance.id, now, step.actor, step.events, step.instance)
    if not audit.deferring(step.session):
        step.session.flush()  # a step without events
    if step.part is not None and step.part.status == "completed":
        _after_part_completed(step)
    elif step.part is None and step.instance.status == "running":
        _spawn_partitions(step, now)


def _write_main(step: Step, now) -> None:
    instance = step.instance
    if instance.status == "running" and spiff.is_completed(step.wf):
        instance.status = "completed"
        step.record("instance_completed")
    instance.state = spiff.dump(step.wf)
    instance.data = forms.to_json(spiff.current_data(step.wf))
    instance.updated_at = now


def _write_part(step: Step, now) -> None:
    part = step.part
    if part.status == "running" and spiff.is_completed(step.wf):
        part.status = "completed"
        step.record("part_completed", part.element_id, {"item": part.item_no})
    part.state = spiff.dump(step.wf)
    part.data = forms.to_json(spiff.current_data(step.wf))
    part.updated_at = now
    step.instance.updated_at = now  # bumps the instance row version: parts of a contract serialize


# ---------------------------------------------------------------------------- partitions
def _spawn_partitions(step: Step, now) -> None:
    """Start the part workflows of every partition receive task that waits and has none yet."""
    partitions = step.definition.model.get("partitions", {})
    waiting = spiff.waiting_receive_tasks(step.wf, frozenset(partitions))
    for element_id in waiting:
        exists = step.session.scalar(select(func.count()).where(InstancePart.instance_id == step.instance.id,
                                                                InstancePart.element_id == element_id))
        if exists:
            continue
        spec = partitions[element_id]
        data = spiff.current_data(step.wf)
        items = data.get(spec["collection"]) or []
        base = {k: v for k, v in data.items() if k != spec["collection"]}
        for name in _accumulators(step.definition, spec["process"]):
            base[name] = 0
        parts = []
        for no, item in enumerate(items, start=1):
            part = InstancePart(id=str(uuid.uuid4()), instance_id=step.instance.id, element_id=element_id,
                                process_id=spec["process"], item_no=no, status="running", data={}, state="",
                                created_at=now, updated_at=now)
            step.session.add(part)
            parts.append((part, item))
        step.session.flush()  # every part exists before any may complete and count the others
        for part, item in parts:
            wf = spiff.new_workflow(bundle_of(step.definition), {**base, spec["item"]: item}, spec["process"])
            for name in _shared_totals(step.definition, spec["process"]):
                spiff.set_shared(wf, name, Decimal(0))
            sub = Step(step.session, step.instance, step.definition, wf, step.actor, part, fired_by=step.fired_by)
            sub.record("part_started", element_id, {"item": part.item_no})
            spiff.run_until_waiting(wf)
            finish(sub)
        if not items:
            _complete_partition(step, element_id, spec, 0)


def _pass_empty_partitions(step: Step) -> None:
    """A partition receive task whose collection is empty completes at once, inside this step (a works contract
    has no milestones, a goods contract no works payments): nothing would ever deliver its message later."""
    partitions = step.definition.model.get("partitions", {})
    for _ in range(len(partitions)):
        waiting = spiff.waiting_receive_tasks(step.wf, frozenset(partitions))
        empty = [e for e in waiting if not (spiff.current_data(step.wf).get(partitions[e]["collection"]) or [])]
        if not empty:
            return
        for element_id in empty:
            _complete_partition(step, element_id, partitions[element_id], 0)


def _shared_totals(definition: Definition, process_id: str) -> set[str]:
    tasks = definition.model.get("user_tasks", {})
    return forms.shared_totals({k: v.get("form", []) for k, v in tasks.items() if v.get("process") in (None, process_id)})


def _accumulators(definition: Definition, process_id: str) -> set[str]:
    tasks = definition.model.get("user_tasks", {})
    return forms.accumulators({k: v.get("form", []) for k, v in tasks.items() if v.get("process") in (None, process_id)})


def _after_part_completed(step: Step) -> None:
    part = step.part
    remaining = step.session.scalar(select(func.count()).where(
        InstancePart.instance_id == step.instance.id, InstancePart.element_id == part.element_id,
        InstancePart.status != "completed"))
    if remaining:
        return
    spec = step.definition.model["partitions"][part.element_id]
    done = step.session.scalar(select(func.count()).where(InstancePart.instance_id == step.instance.id,
                                                          InstancePart.element_id == part.element_id))
    main = open_step(step.session, step.instance, step.actor)
    main.fired_by = step.fired_by
    _complete_partition(main, part.element_id, spec, done)
    finish(main)


def _complete_partition(main: Step, element_id: str, spec: dict[str, Any], count: int) -> None:
    main.record("partition_completed", element_id, {"parts": count})
    spiff.deliver_message(main.wf, spec["message"], {spec["message"]: count})


# ---------------------------------------------------------------------------- messages
def _deliver_buffered(step: Step) -> None:
    """Deliver messages that arrived before the process waited for them, oldest first."""
    if step.instance.status != "running" or not spiff.waiting_message_names(step.wf):
        return  # nothing could be delivered: do not ask the database
    pending = list(step.session.scalars(select(BufferedMessage).where(
        BufferedMessage.instance_id == step.instance.id, BufferedMessage.delivered_at.is_(None))
        .order_by(BufferedMessage.received_at, BufferedMessage.id)))
    for message in pending:
        if message.name not in spiff.waiting_message_names(step.wf):
            continue
        spiff.deliver_message(step.wf, message.name, message.payload)
        message.delivered_at = clock.now()
        step.record("message_delivered", None, {"name": message.name, "message_id": message.id})


# ---------------------------------------------------------------------------- timers
def _record_timer_firings(step: Step, now) -> None:
    """A `timer_fired` event for every timer that fired in this step, whoever ran it: the sweep, or a
    start or completion that reached a timer already due (a backdated contract's passed deadline)."""
    for timer_id, firing in spiff.timer_firings(step.wf).items():
        rounds = firing.count - step.timers_before.get(timer_id, 0)
        if rounds <= 0:
            continue
        with step.session.no_autoflush:  # the sweep's leased row is in the session already
            row = step.session.get(Timer, timer_id)
        due_at = row.due_at if row is not None and row.status in ("waiting", "leased") else firing.due_at
        data: dict[str, Any] = {"timer_id": timer_id}
        if due_at is not None:
            data["due_at"] = due_at.isoformat()
            data["lag_seconds"] = round((now - due_at).total_seconds(), 3)
        if rounds > 1:
            data["rounds"] = rounds
        step.record("timer_fired", firing.element_id, data)


# ---------------------------------------------------------------------------- alerts
def _raise_alerts(step: Step, now) -> None:
    """Hand the escalations thrown in this step to the listeners, as plain data (engine/runtime/hooks.py)."""
    specs = step.definition.model.get("alerts", {})
    thrown = []
    for tid, task in spiff.completed_tasks_of(step.wf, frozenset(specs)).items():
        if tid in step.throws_before:
            continue
        element_id = spiff.element_of(task)
        thrown.append(hooks.Thrown(element_id, str(tid), specs[element_id], spiff.visible_data(task),
                                   spiff.awaited_activity(task), spiff.timer_shift(task)))
    if thrown:
        step.events.extend(hooks.fire(hooks.REGISTRY.thrown, step, thrown, now))


# ---------------------------------------------------------------------------- rows
def _sync_tasks(step: Step, now) -> None:
    instance, session = step.instance, step.session
    running = (step.part.status if step.part is not None else instance.status) == "running"
    ready = {t.id: t for t in spiff.ready_user_tasks(step.wf)} if running else {}
    known = session.info.get(_READY, {}).get(instance.id)
    if known is not None:  # read with the task this step completes (load_for_task)
        rows = {i: r for i, r in known.items() if r.state == "ready" and r.part_id == step.part_id}
    else:
        with session.no_autoflush:  # nothing pending changes which rows match; the writes go out in finish's flush
            rows = {r.id: r for r in session.scalars(select(TaskRow).where(
                TaskRow.instance_id == instance.id,
                TaskRow.part_id.is_(None) if step.part is None else TaskRow.part_id == step.part_id,
                TaskRow.state == "ready"))}
    for task_id, row in rows.items():
        if task_id in ready:
            continue
        task = spiff.get_task(step.wf, task_id)
        row.state = "completed" if task is not None and spiff.task_state(task) == "completed" else "cancelled"
        if row.state == "cancelled":
            step.record("task_cancelled", row.element_id)
            continue
        row.completed_at = now
        step.events.extend(hooks.fire(hooks.REGISTRY.task_settled, step, row, spiff.visible_data(task), now))
    for task_id, info in ready.items():
        if task_id in rows:
            continue
        lane = diagrams.role_of_lane(info.lane)  # the lane as drawn (`Employer`, `招标人`) → its role
        assignee_org, assignee_department = assignee(instance, lane)
        new = TaskRow(
            id=task_id, instance_id=instance.id, part_id=step.part_id,
            item_no=step.part.item_no if step.part is not None else None, element_id=info.element_id, name=info.name,
            lane=lane, assignee_org=assignee_org, assignee_department=assignee_department,
            state="ready", created_at=now, due_at=_task_deadline(step, info))
        session.add(new)
        if known is not None:
            known[task_id] = new
        step.record("task_ready", info.element_id, {"task_id": task_id, "lane": lane})


def assignee(instance: Instance, lane: str | None) -> tuple[str | None, str | None]:
    """Who may act on a task of `lane`: the domain's rule when one is registered, else the organisation
    bound to the lane's role."""
    if hooks.REGISTRY.assign is not None:
        return hooks.REGISTRY.assign(instance, lane)
    return (instance.roles.get(lane) if lane else None), None


def _task_deadline(step: Step, info) -> Any:
    """A task's due instant: the earliest the listeners give for it (engine/runtime/hooks.py `task_due`)."""
    dues = hooks.fire(hooks.REGISTRY.task_due, step, info.element_id, spiff.visible_data(spiff.get_task(step.wf, info.id)))
    return min(dues) if dues else None


def _sync_timers(step: Step, now) -> None:
    instance, session = step.instance, step.session
    running = (step.part.status if step.part is not None else instance.status) == "running"
    waiting = {t.task_id: t for t in spiff.waiting_timers(step.wf)} if running else {}
    known = session.info.get(_PENDING, {}).get(instance.id)
    if known is None and instance.id in session.info.get(_READY, {}):
        # A step whose reply shows the contract (load_for_task): read all its pending timers once, for both.
        with session.no_autoflush:
            known = session.info.setdefault(_PENDING, {})[instance.id] = {
                r.id: r for r in session.scalars(_PENDING_TIMERS, {"instance_id": instance.id})}
    if known is not None:
        rows = {i: r for i, r in known.items() if r.part_id == step.part_id and r.status in ("waiting", "leased")}
    else:
        with session.no_autoflush:  # as in _sync_tasks
            rows = {r.id: r for r in session.scalars(select(Timer).where(
                Timer.instance_id == instance.id, Timer.part_id.is_(None) if step.part is None else Timer.part_id == step.part_id,
                Timer.status.in_(("waiting", "leased"))))}
    for timer_id, row in rows.items():
        if timer_id in waiting:
            if row.due_at != waiting[timer_id].due_at:  # a cycle moved on, or a deadline was recomputed
                row.due_at, row.status, row.attempts = waiting[timer_id].due_at, "waiting", 0
            continue
        task = spiff.get_task(step.wf, timer_id)
        row.status = "fired" if task is not None and spiff.task_state(task) == "completed" else "cancelled"
        if row.status == "fired":
            row.fired_at, row.fired_by = now, step.fired_by
            row.lag_ms = max(0, int((now - row.due_at).total_seconds() * 1000))
        row.lease_owner = row.lease_expires_at = None
    for timer_id, info in waiting.items():
        if timer_id not in rows:
            new = Timer(id=timer_id, instance_id=instance.id, part_id=step.part_id, element_id=info.element_id,
                        kind=info.kind, due_at=info.due_at, status="waiting", attempts=0, created_at=now)
            session.add(new)
            if known is not None:
                known[timer_id] = new
