"""The audit trail: append-only and hash-chained per instance (ARCHITECTURE.md §7).

Each event's hash covers its content and the previous event's hash, so altering or deleting any row
breaks every later link; `verify` names the first broken one.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator

from sqlalchemy import inspect, insert, select
from sqlalchemy.orm import Session

from .forms import to_json
from .models import AuditEvent, Instance

GENESIS = "0" * 64


def _digest(instance_id: str, seq: int, at: datetime, actor: str, action: str, element_id: str | None,
            data: dict[str, Any], prev_hash: str) -> str:
    body = json.dumps([instance_id, seq, at.isoformat(), actor, action, element_id, data, prev_hash],
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def append(session: Session, instance_id: str, at: datetime, actor: str, events: list[tuple[str, str | None, dict]]) -> None:
    """Append events (action, element_id, data) to an instance's chain, in order."""
    if not events:
        return
    # The instance row carries the chain's head (and its version check serializes appends); an
    # instance without one has no events yet, or predates the head columns: read the chain's end.
    instance = session.get(Instance, instance_id)
    if instance is not None and instance.audit_head is not None:
        seq, prev = instance.audit_seq, instance.audit_head
    elif instance is not None and inspect(instance).pending:
        seq, prev = 0, GENESIS
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
    # The instance row goes out first: its UPDATE's version check makes a concurrent step fail as a stale
    # version (409), not on the events' (instance, seq) key, and a new instance's INSERT precedes the
    # events that refer to it. The events themselves are one multi-row INSERT, not an object each.
    session.flush()
    session.execute(insert(AuditEvent), rows)


@dataclass
class Break:
    instance_id: str
    seq: int
    reason: str


def verify(session: Session, instance_id: str | None = None) -> Iterator[Break]:
    """Yield the first broken link of every chain (or of one instance's)."""
    heads = {i.id: (i.audit_seq, i.audit_head) for i in session.scalars(
        select(Instance).where(Instance.id == instance_id) if instance_id else select(Instance))}
    ids = [instance_id] if instance_id else sorted(set(session.scalars(select(AuditEvent.instance_id).distinct())) | set(heads))
    for iid in ids:
        prev, expected_seq = GENESIS, 1
        rows = session.scalars(select(AuditEvent).where(AuditEvent.instance_id == iid).order_by(AuditEvent.seq))
        for row in rows:
            if row.seq != expected_seq:
                yield Break(iid, expected_seq, f"event {expected_seq} is missing")
                break
            if row.prev_hash != prev:
                yield Break(iid, row.seq, "does not link to the previous event")
                break
            if _digest(iid, row.seq, row.at, row.actor, row.action, row.element_id, row.data, prev) != row.hash:
                yield Break(iid, row.seq, "its content does not match its hash")
                break
            prev, expected_seq = row.hash, expected_seq + 1
        else:
            head_seq, head_hash = heads.get(iid, (None, None))
            last = expected_seq - 1
            if head_seq is None or (last == head_seq and (head_seq == 0 or prev == head_hash)):
                continue
            if last < head_seq:
                yield Break(iid, last + 1, f"events {last + 1}–{head_seq} are missing (the chain's recorded head is {head_seq})")
            elif last > head_seq:
                yield Break(iid, head_seq + 1, f"events after {head_seq} were added outside the engine")
            else:
                yield Break(iid, last, "the last event is not the chain's recorded head")
