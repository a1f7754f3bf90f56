"""The audit trail: append-only and hash-chained per instance (ARCHITECTURE.md §7).

Each event's hash covers its content and the previous event's hash, so altering or deleting any row
breaks every later link; `verify` names the first broken one. What the chain alone cannot see — its
newest events deleted with the recorded head moved back, a whole contract deleted — is caught against
the heads anchored outside the database (engine/anchor.py). The rows that stand for money and parties
(payments, invoices, guarantees and their claims, the role bindings) are reproducible from the chain:
every step that writes such a row records its content as a `ledger_row` event, and `verify` compares
the tables with what the chain says.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator, Mapping

from sqlalchemy import event, inspect, insert, select
from sqlalchemy.orm import Session

from engine.storage.db import Money, UTCDateTime
from engine.runtime import hooks
from engine.runtime.forms import to_json
from engine.storage.models import AuditEvent, Instance, Party, TaskRow

GENESIS = "0" * 64
NEW_INSTANCES = "lvyue.step.new"  # session.info: ids of the instances this transaction started (steps.NEW)
LEDGER_ACTION = "ledger_row"


def _ledger() -> dict[str, type]:
    """The tables whose rows the chain reproduces (the domain registers them, engine/runtime/hooks.py);
    each row is keyed by its `id` and carries its `instance_id`."""
    return hooks.REGISTRY.audited_tables

PARTY_LANES = ("employer", "contractor", "guarantor")
_TRACKED = "lvyue.audit.ledger"   # session.info: (table, id) → row object written in this transaction
_EMITTED = "lvyue.audit.emitted"  # session.info: (table, id) → the content last recorded in the chain
_DEFERRED = "lvyue.audit.deferred"  # session.info: the events of a batch of steps, written together (`defer`)


def _digest(instance_id: str, seq: int, at: datetime, actor: str, action: str, element_id: str | None,
            data: dict[str, Any], prev_hash: str) -> str:
    body = json.dumps([instance_id, seq, at.isoformat(), actor, action, element_id, data, prev_hash],
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def append(session: Session, instance_id: str, at: datetime, actor: str, events: list[tuple[str, str | None, dict]],
           instance: Instance | None = None) -> None:
    """Append events (action, element_id, data) to an instance's chain, in order (`instance`: its row, when the
    caller holds it)."""
    if not events:
        return
    # The instance row carries the chain's head (and its version check serializes appends); an
    # instance without one has no events yet, or predates the head columns: read the chain's end.
    if instance is None:
        instance = session.get(Instance, instance_id)
    if instance is not None and instance.audit_head is not None:
        seq, prev = instance.audit_seq, instance.audit_head
    elif instance is not None and (inspect(instance).pending or instance_id in session.info.get(NEW_INSTANCES, ())):
        seq, prev = 0, GENESIS  # started in this transaction (engine/runtime/steps.py `NEW`): no event before
    else:
        last = session.execute(
            select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.instance_id == instance_id)
            .order_by(AuditEvent.seq.desc()).limit(1)
        ).first()
        seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
    at = at.replace(microsecond=(at.microsecond // 1000) * 1000)  # stored precision differs per backend
    rows = []
    for action, element_id, data in events:
        seq += 1
        clean = to_json(data or {})
        digest = _digest(instance_id, seq, at, actor, action, element_id, clean, prev)
        rows.append({"instance_id": instance_id, "seq": seq, "at": at, "actor": actor, "action": action,
                     "element_id": element_id, "data": clean, "prev_hash": prev, "hash": digest})
        prev = digest
    if instance is not None:
        instance.audit_seq, instance.audit_head = seq, prev
    deferred = session.info.get(_DEFERRED)
    if deferred is not None:
        deferred.extend(rows)  # with the batch's (write_deferred)
        return
    # The instance row goes out first: its UPDATE's version check makes a concurrent step fail as a stale
    # version (409), not on the events' (instance, seq) key, and a new instance's INSERT precedes the
    # events that refer to it. The events themselves are one executemany on the table, not an object each
    # (an ORM bulk insert would split the rows into one statement per run of the same non-null columns).
    session.flush()
    session.execute(insert(AuditEvent.__table__), rows)


def defer(session: Session) -> None:
    """From now on in this transaction, steps write nothing themselves: their rows stay in the session and their
    events are kept, until `write_deferred` writes all of them — one flush and one INSERT of events for a batch of
    steps (a timer sweep's group) instead of a few statements per step. Only for a batch that rolls back whole if
    any of its steps fails (a version conflict surfaces at that flush)."""
    session.info[_DEFERRED] = []


def deferring(session: Session) -> bool:
    """Whether this transaction's steps leave their writes to `write_deferred`."""
    return _DEFERRED in session.info


def write_deferred(session: Session) -> None:
    """Write what the deferred steps left: the rows first (with every instance row's version check), then the events."""
    rows = session.info.pop(_DEFERRED)
    session.flush()
    if rows:
        session.execute(insert(AuditEvent.__table__), rows)


# ---------------------------------------------------------------------------- ledger rows in the chain
def ledger_row(obj: Any) -> dict[str, Any]:
    """The content of a ledger row as the chain records it: every column but its id, its instance and its
    instants (the event carries the instant, and backends store instants at different precisions)."""
    out = {}
    for attr in inspect(type(obj)).column_attrs:
        column = attr.columns[0]
        if attr.key in ("id", "instance_id") or isinstance(column.type, UTCDateTime):
            continue
        value = getattr(obj, attr.key)
        if value is None and column.default is not None and column.default.is_scalar:
            value = column.default.arg  # a pending row: the value its INSERT will write
        if value is not None and isinstance(column.type, Money):
            # As the row reads back: 2 places ("28000.00", even where a pending row holds Decimal("28000.000")).
            value = Money().process_result_value(Money.to_fen(value), None)
        out[attr.key] = to_json(value)
    return out


def _table_of(obj: Any) -> str | None:
    table = getattr(type(obj), "__tablename__", None)
    return table if table in _ledger() else None


@event.listens_for(Session, "before_flush")
def _track_ledger_writes(session: Session, flush_context, instances) -> None:
    # Rows flushed early in a step (a guarantee flushes to number its own history) are no longer
    # pending when the step ends: remember every ledger row this transaction writes.
    tracked = None
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = _table_of(obj)
        if table is not None:
            tracked = tracked if tracked is not None else session.info.setdefault(_TRACKED, {})
            tracked[(table, obj.id)] = obj


@event.listens_for(Session, "after_soft_rollback")
def _forget_ledger_writes(session: Session, previous_transaction) -> None:
    # A rolled-back step (a timer firing's SAVEPOINT) took its events with it: what it recorded must be
    # recorded again by the next step that writes the row.
    session.info.pop(_TRACKED, None)
    session.info.pop(_EMITTED, None)


def ledger_events(session: Session, instance_id: str) -> list[tuple[str, None, dict[str, Any]]]:
    """The `ledger_row` events for the ledger rows of an instance written in this transaction since the last
    call: one per row whose content changed, with `row` None for a deleted row. Called by the step that
    writes them, just before its events are appended (engine/steps.finish)."""
    tracked: dict = session.info.get(_TRACKED, {})
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = _table_of(obj)
        if table is not None:
            tracked[(table, obj.id)] = obj
    if not tracked:
        return []
    emitted = session.info.setdefault(_EMITTED, {})
    out = []
    for key in sorted(k for k, obj in tracked.items() if obj.instance_id == instance_id):
        obj = tracked.pop(key)
        state = inspect(obj)
        row = None if state.deleted or state.was_deleted or obj in session.deleted else ledger_row(obj)
        if emitted.get(key, ...) == row:
            continue
        emitted[key] = row
        out.append((LEDGER_ACTION, None, {"table": key[0], "id": key[1], "row": row}))
    return out


# ---------------------------------------------------------------------------- verification
@dataclass
class Break:
    """Something the audit trail does not vouch for, in one contract (`seq` where it is one event)."""

    instance_id: str
    seq: int | None
    reason: str
    business_key: str | None = None

    def __str__(self) -> str:
        where = f" seq {self.seq}" if self.seq is not None else ""
        contract = f" (contract {self.business_key})" if self.business_key else ""
        return f"instance {self.instance_id}{where}: {self.reason}{contract}"


@dataclass(frozen=True)
class AnchoredHead:
    """A chain head as an anchor entry recorded it."""

    seq: int
    hash: str
    business_key: str | None
    at: str


@dataclass
class _Chain:
    """What one pass over a chain learnt: where it ends, the start's bindings and the ledger rows it vouches for."""

    last: int = 0
    head: str = GENESIS
    broken: bool = False
    anchored_hash: str | None = None
    started: dict[str, Any] | None = None
    rows: dict[tuple[str, str], dict[str, Any] | None] | None = None


_INSTANCE_COLUMNS = (Instance.id, Instance.business_key, Instance.audit_seq, Instance.audit_head, Instance.roles,
                     Instance.department_code)
BATCH = 500


def verify(session: Session, instance_id: str | None = None,
           anchored: Mapping[str, AnchoredHead] | None = None) -> Iterator[Break]:
    """Yield what the audit trail does not vouch for, contract by contract: the first broken link of every
    chain (or of one instance's); a chain that no longer reaches its recorded head, or falls short of — or
    differs at — the head an anchor recorded; an anchored contract that is gone; ledger rows and role bindings
    that the chain's events do not reproduce. One contract's events are read at a time."""
    anchored = anchored or {}
    seen: set[str] = set()
    for row in _instance_rows(session, instance_id):
        seen.add(row.id)
        yield from _verify_instance(session, row.id, row, anchored.get(row.id))
    if instance_id is not None:
        if instance_id not in seen:
            yield from _verify_instance(session, instance_id, None, anchored.get(instance_id))
        return
    orphans = session.scalars(select(AuditEvent.instance_id).distinct()
                              .where(AuditEvent.instance_id.not_in(select(Instance.id)))).all()
    for iid in sorted(set(orphans) | (set(anchored) - seen)):
        yield from _verify_instance(session, iid, None, anchored.get(iid))


def _instance_rows(session: Session, instance_id: str | None):
    """The instances' heads and bindings, a batch at a time (keyset by id): never all rows at once."""
    if instance_id is not None:
        yield from session.execute(select(*_INSTANCE_COLUMNS).where(Instance.id == instance_id))
        return
    after = ""
    while True:
        batch = session.execute(select(*_INSTANCE_COLUMNS).where(Instance.id > after)
                                .order_by(Instance.id).limit(BATCH)).all()
        yield from batch
        if len(batch) < BATCH:
            return
        after = batch[-1].id


def _verify_instance(session: Session, iid: str, row, anchor: AnchoredHead | None) -> Iterator[Break]:
    key = row.business_key if row is not None else (anchor.business_key if anchor else None)
    chain = _Chain()
    for b in _walk(session, iid, chain, anchor):
        b.business_key = key
        yield b
    if row is None:
        if anchor is not None and chain.last == 0:
            yield Break(iid, None, f"the contract is gone: it was anchored at {anchor.at} with {anchor.seq} "
                                   "events, and neither its row nor its events remain", key)
        elif chain.last:
            yield Break(iid, None, "the contract's row is gone; its events remain", key)
        return
    if chain.broken:
        return  # what follows the break is not vouched for: the break is the finding
    yield from _check_head(iid, row, chain, key)
    if anchor is not None:
        if chain.last < anchor.seq:
            yield Break(iid, chain.last + 1, f"events {chain.last + 1}–{anchor.seq} are missing: the chain ends at "
                                             f"{chain.last}, but it reached {anchor.seq} when anchored at {anchor.at} "
                                             "(truncated or rolled back)", key)
        elif chain.anchored_hash != anchor.hash:
            yield Break(iid, anchor.seq, f"event {anchor.seq} is not the one anchored at {anchor.at}: the chain "
                                         "was rewritten", key)
    yield from _check_roles(session, iid, row, chain, key)
    yield from _check_ledger(session, iid, chain, key)


def _walk(session: Session, iid: str, chain: _Chain, anchor: AnchoredHead | None) -> Iterator[Break]:
    prev, expected_seq = GENESIS, 1
    for event in session.scalars(select(AuditEvent).where(AuditEvent.instance_id == iid).order_by(AuditEvent.seq)):
        if event.seq != expected_seq:
            chain.broken = True
            yield Break(iid, expected_seq, f"event {expected_seq} is missing")
            return
        if event.prev_hash != prev:
            chain.broken = True
            yield Break(iid, event.seq, "does not link to the previous event")
            return
        if _digest(iid, event.seq, event.at, event.actor, event.action, event.element_id, event.data, prev) != event.hash:
            chain.broken = True
            yield Break(iid, event.seq, "its content does not match its hash")
            return
        if anchor is not None and event.seq == anchor.seq:
            chain.anchored_hash = event.hash
        if event.action == "instance_started" and chain.started is None:
            chain.started = event.data
            if "roles" in event.data:
                chain.rows = {}  # started with ledger events: every ledger row must come from one
        elif event.action == LEDGER_ACTION and chain.rows is not None:
            chain.rows[(event.data["table"], event.data["id"])] = event.data["row"]
        prev, expected_seq = event.hash, expected_seq + 1
    chain.last, chain.head = expected_seq - 1, prev


def _check_head(iid: str, row, chain: _Chain, key: str | None) -> Iterator[Break]:
    head_seq, head_hash, last = row.audit_seq, row.audit_head, chain.last
    if head_hash is None and not head_seq:
        return  # predates the head columns
    if last == head_seq and chain.head == head_hash:
        return
    if last < head_seq:
        yield Break(iid, last + 1, f"events {last + 1}–{head_seq} are missing (the chain's recorded head is {head_seq})", key)
    elif last > head_seq:
        yield Break(iid, head_seq + 1, f"events after {head_seq} were added outside the engine", key)
    else:
        yield Break(iid, last, "the last event is not the chain's recorded head", key)


def _check_roles(session: Session, iid: str, row, chain: _Chain, key: str | None) -> Iterator[Break]:
    """The role bindings (instance roles, instance_parties, task assignees) against those the start recorded."""
    if chain.started is None:
        return
    bound = row.roles or {}
    held = sorted(session.execute(select(Party.role, Party.org_code).where(Party.instance_id == iid)).all())
    parties = dict(held)
    data = chain.started.get("data") or {}
    if "roles" in chain.started:
        expected = dict(chain.started["roles"])
    else:  # a chain from before the start recorded its bindings: they are among its start data
        expected = {r: data.get(r) for r in {*bound, *parties, "department"} if data.get(r) is not None}
    if bound != expected:
        yield Break(iid, None, f"its role bindings are {_pairs(bound)}, but its start recorded {_pairs(expected)}", key)
    parties_expected = {r: o for r, o in expected.items() if r != "department"}
    # A role held by several organisations (a consortium): one row per member, the members the start recorded.
    members = chain.started.get("members") or {}
    held_expected = sorted((r, m) for r, o in parties_expected.items() for m in (members.get(r) or [o]))
    if [tuple(x) for x in held] != held_expected:
        yield Break(iid, None, f"instance_parties binds {_rows(held)}, but its start recorded "
                               f"{_rows(held_expected)}", key)
    if row.department_code != expected.get("department"):
        yield Break(iid, None, f"its department is {row.department_code}, but its start recorded "
                               f"{expected.get('department')}", key)
    for task_id, element_id, lane, org, dept in session.execute(
            select(TaskRow.id, TaskRow.element_id, TaskRow.lane, TaskRow.assignee_org, TaskRow.assignee_department)
            .where(TaskRow.instance_id == iid, TaskRow.lane.in_((*PARTY_LANES, "supervisor"))).order_by(TaskRow.id)):
        want = expected.get("department") if lane == "supervisor" else expected.get(lane)
        held = dept if lane == "supervisor" else org
        if held != want:
            yield Break(iid, None, f"task {element_id} ({task_id}) in the {lane} lane is held by {held}, but the "
                                   f"start bound {lane} to {want}", key)


def _rows(rows) -> str:
    return ", ".join(f"{r}={o}" for r, o in rows) or "nothing"


def _pairs(roles: Mapping[str, Any]) -> str:
    return ", ".join(f"{r}={o}" for r, o in sorted(roles.items())) or "nothing"


def _added_later(cls, name: str, value: Any) -> bool:
    """A column the recorded row predates (a migration added it): it holds what the migration gave every existing
    row, NULL or the column's default, so the event that recorded the row before it existed still vouches for it."""
    column = inspect(cls).column_attrs[name].columns[0]
    default = column.default.arg if column.default is not None and column.default.is_scalar else None
    return value is None or value == default


def _check_ledger(session: Session, iid: str, chain: _Chain, key: str | None) -> Iterator[Break]:
    """Every ledger row of the contract as its last `ledger_row` event recorded it; none more, none fewer."""
    if chain.rows is None:
        return  # started before ledger rows were recorded in the chain: nothing to reproduce them from
    for table, cls in _ledger().items():
        expected = {rid: content for (t, rid), content in chain.rows.items() if t == table and content is not None}
        for obj in session.scalars(select(cls).where(cls.instance_id == iid).order_by(cls.id)):
            content = expected.pop(obj.id, None)
            if content is None:
                yield Break(iid, None, f"{table} row {obj.id} was written outside the engine: no event of the "
                                       f"audit trail records it", key)
                continue
            actual = ledger_row(obj)
            diffs = [f"{name} is {actual.get(name)!r}, the audit trail says {content.get(name)!r}"
                     for name in sorted(set(actual) | set(content)) if actual.get(name) != content.get(name)
                     and not (name not in content and _added_later(cls, name, actual.get(name)))]
            if diffs:
                yield Break(iid, None, f"{table} row {obj.id} differs from the audit trail: {'; '.join(diffs)}", key)
        for rid in sorted(expected):
            yield Break(iid, None, f"{table} row {rid} recorded by the audit trail is gone", key)
