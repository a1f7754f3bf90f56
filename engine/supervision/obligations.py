"""The monthly report's typed rows (migration 0016): what it needs of each contract in typed columns, so that its
contract sections are SQL counts and sums instead of a pass over every contract's JSON (BENCHMARKS.md §6).

* payment_obligations — one row per payment milestone: its amount in fen, the deadline of its record_payment task
  and that deadline's last day, the contract's department, employer and funding source, the late-payment rate its
  payment basis fixes, and its payments so far (total, latest date, the date it was paid in full).
* contract_deadlines — one row per contract: its award notice, signing, filing and release dates, the last days
  of its signing and filing periods, its release deadlines, whether its bid bond is exempt and whether it has
  works payment terms; and the months the `guarantees` section counts its signing and filing in (`text_month`).

The rows follow the contract: after every flush that changed what they copy — a contract started, its data
(milestone amounts, e.g. a confirmed value change naming a milestone; funding source; payment basis; the dates),
roles or department changed, a sign, file, release or record_payment task made ready or its deadline moved (a
suspension, an extension), a milestone payment recorded, corrected or removed — the contract's rows are rebuilt
from what was just written (`sync`). A flush that changes none of that costs no statement. Migration 0016 fills
the tables from the rows already there with the same functions, and bench/seed_scale.py writes them beside its
direct inserts.
"""
from __future__ import annotations

import calendar
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Iterable, Mapping

from sqlalchemy import delete, event, func, insert, inspect, or_, select, update
from sqlalchemy.orm import Session

from engine.runtime import values
from engine.storage.models import ContractDeadline, Instance, Payment, PaymentObligation, TaskRow
from engine.supervision import alerts, bindings, deadlines, interest, timing, works_payments

PAY = bindings.RECORD_PAYMENT
SIGN, FILE = bindings.SIGN_CONTRACT, bindings.FILE_CONTRACT
RELEASES = {"bid": bindings.RELEASE_BID_BOND, "performance": bindings.RELEASE_PERFORMANCE,
            "quality": bindings.RELEASE_RETENTION}
CONTRACT_TASKS = (SIGN, FILE, *RELEASES.values())  # the contract-level tasks (no milestone) whose deadlines it copies
WORKS_TERMS = ("advance", "progress", "settlement")
ADVANCE = 0  # the milestone_no of a works contract's advance (its payments: kind "advance", no milestone)
COPIED_TASKS = frozenset((PAY, *CONTRACT_TASKS))
TABLES = frozenset(("obligations", "deadlines"))  # payment_obligations, contract_deadlines
MICRO = Decimal(1_000_000)  # the rate column's unit: a millionth of a percent a day (rates have ≤ 6 decimals)


def micro_percent(rate: Decimal | None) -> int | None:
    """A percent-a-day rate as an integer of millionths (0.05 → 50000); None stays None."""
    if rate is None:
        return None
    scaled = rate * MICRO
    if scaled != scaled.to_integral_value():
        raise ValueError(f"a late-payment rate has at most 6 decimals, not {rate}")
    return int(scaled)


def rows_for(instance_id: str, department_code: str | None, roles: Mapping[str, Any] | None,
             data: Mapping[str, Any] | None, dues: Mapping[int, datetime],
             payments: Mapping[int, list[tuple[date, Decimal]]] | None = None, registry=None) -> list[dict[str, Any]]:
    """The payment_obligations rows of a contract: one per milestone of a positive amount (numbered from 1, as
    its record_payment part's item), `dues` the earliest deadline of each milestone's record_payment task; and
    a works contract's advance (number ADVANCE, 0) once signed, due on C01's last day. `payments` each one's
    payments (date, amount) in ledger order (paid_at, recorded_at, id; the advance's under ADVANCE): what was
    paid in all, the latest payment's date and the date of the payment that brought the total to the amount."""
    payments = payments or {}
    data, roles = data or {}, roles or {}
    registry = registry or timing.registry()
    out = []
    milestones = data.get("milestones")
    for no, item in enumerate(milestones if isinstance(milestones, list) else [], start=1):
        amount = values.amount_of(item.get("amount") if isinstance(item, dict) else None)
        if not amount > 0:
            continue
        due_at = dues.get(no)
        out.append(_row(instance_id, no, department_code, roles, data, amount, due_at, payments.get(no, ()), registry))
    advance = _advance(data)
    if advance is not None:
        amount, due_at = advance
        out.append(_row(instance_id, ADVANCE, department_code, roles, data, amount, due_at, payments.get(ADVANCE, ()),
                        registry))
    return out


def _advance(data: Mapping[str, Any]) -> tuple[Decimal, datetime] | None:
    """(amount, deadline) of a works contract's advance (C01: works_payments.obligations' first entry) once it is
    signed; None when it has no advance term, is not signed or the advance is of no amount."""
    terms = data.get("payment_terms") or {}
    signed = data.get("signed_at")
    if not (isinstance(terms, dict) and isinstance(terms.get("advance"), dict) and terms["advance"] and signed):
        return None
    amount = values.amount_of(terms["advance"].get("amount"))
    start = terms.get("works_start_date")
    signed_day, start_day = _day(signed), _day(start)
    if not amount > 0 or signed_day is None or (start is not None and start_day is None):
        return None  # what no contract the start form accepted holds (the ledger would not read it either)
    return amount, works_payments.advance_due(signed_day, start_day, timing.calendar(), timing.registry()).due_at


def _day(value) -> date | None:
    """A date as works_payments.obligations reads it (a date, or the first ten characters of its text)."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _row(instance_id: str, no: int, department_code, roles, data, amount: Decimal, due_at: datetime | None,
         payments, registry) -> dict[str, Any]:
    last = alerts.last_day(due_at) if due_at is not None else None
    rate = interest.rate_for(registry, data.get("payment_basis"), last) if last is not None else None
    paid, latest, full = Decimal("0.00"), None, None
    for paid_at, part in payments:
        paid += part
        latest = paid_at if latest is None or paid_at > latest else latest
        if full is None and paid >= amount:
            full = paid_at
    return {"instance_id": instance_id, "milestone_no": no, "department_code": department_code,
            "employer": roles.get("employer"), "funding_source": data.get("funding_source") or None,
            "amount": amount, "due_at": due_at, "last_day": last, "interest_micro_percent": micro_percent(rate),
            "paid": paid, "last_paid_on": latest, "paid_in_full_on": full}


_MONTH_PREFIX = re.compile(r"([0-9]{4})-([0-9]{2})-")  # ASCII digits, as the text comparison orders them


def text_month(value: Any) -> date | None:
    """The first day of the month the `guarantees` section counts `value` (a signing or filing date as the
    contract's JSON holds it) in: the month whose first and last days, written YYYY-MM-DD, the first ten characters
    of its text lie between when compared as text (code point order: PostgreSQL's C.UTF-8 and SQLite's BINARY).
    For a "YYYY-MM-DD" date, and for an instant written "YYYY-MM-DDThh:mm…±hh:mm", the month of the date written
    (as deadlines.business_day reads text: no conversion to China time). Unlike business_day, also for text that is
    no date but reads between two of a month's days ("2026-11-1x", "2026-11-3"), and never for an ISO week date
    ("2026-W47-1"). None for anything else, and for what is not text (a JSON number's text never has that shape)."""
    if not isinstance(value, str):
        return None
    prefix = _MONTH_PREFIX.match(value[:8])
    if prefix is None:
        return None
    year, month = int(prefix[1]), int(prefix[2])
    if not (year >= 1 and 1 <= month <= 12):
        return None
    last = calendar.monthrange(year, month)[1]
    return date(year, month, 1) if "01" <= value[8:10] <= f"{last:02d}" else None


def _dates_of(data: Mapping[str, Any]) -> dict[str, Any]:
    """What contract_deadlines copies of a contract's data (its business days as China-time dates, and the months
    the `guarantees` section counts its signing and filing in)."""
    day = deadlines.business_day
    terms = data.get("payment_terms")
    return {"awarded_on": day(data.get("award_notice_date")), "signed_on": day(data.get("signed_at")),
            "filed_on": day(data.get("filed_at")), "signed_month": text_month(data.get("signed_at")),
            "filed_month": text_month(data.get("filed_at")),
            "bid_released_on": day(data.get("released_at")) if "bid_bond_released_amount" in data else None,
            "bid_exempt": isinstance(data.get("bid_bond"), dict) and data["bid_bond"].get("form") == "exempt",
            "performance_released_on": day(data.get("performance_guarantee_released_at")),
            "quality_released_on": day(data.get("retention_released_at")),
            "works_terms": isinstance(terms, dict) and any(terms.get(k) for k in WORKS_TERMS)}


def contract_row_for(instance_id: str, department_code: str | None, data: Mapping[str, Any] | None,
                     dues: Mapping[str, datetime]) -> dict[str, Any]:
    """The contract_deadlines row of a contract: `dues` the earliest deadline of each of its contract-level
    tasks by element id (signing, filing, the three releases)."""
    def last(element: str) -> date | None:
        return alerts.last_day(dues[element]) if dues.get(element) is not None else None

    return {"instance_id": instance_id, "department_code": department_code, **_dates_of(data or {}),
            "sign_last_day": last(SIGN), "file_last_day": last(FILE),
            **{f"{kind}_release_due_at": dues.get(element) for kind, element in RELEASES.items()}}


def payments_of(connection, instance_ids: Iterable[str]) -> dict[str, dict[int, list[tuple[date, Decimal]]]]:
    """instance → milestone (ADVANCE: the advance) → its payments (date, amount) in ledger order."""
    out: dict[str, dict[int, list[tuple[date, Decimal]]]] = {}
    query = (select(Payment.instance_id, Payment.milestone_no, Payment.kind, Payment.paid_at, Payment.amount)
             .where(Payment.instance_id.in_(list(instance_ids)),
                    or_(Payment.milestone_no.is_not(None), Payment.kind == "advance"))
             .order_by(Payment.instance_id, Payment.paid_at, Payment.recorded_at, Payment.id))
    for instance_id, no, kind, paid_at, amount in connection.execute(query):
        key = no if no is not None else ADVANCE
        out.setdefault(instance_id, {}).setdefault(key, []).append((paid_at, amount))
    return out


def task_dues(connection, instance_ids: list[str], elements=COPIED_TASKS) -> tuple[dict, dict]:
    """The earliest deadline set on the contracts' tasks of `elements`, in one statement: (instance → milestone →
    its record_payment deadline, instance → contract-level task element → its deadline)."""
    milestones: dict[str, dict[int, datetime]] = {}
    contract: dict[str, dict[str, datetime]] = {}
    query = (select(TaskRow.instance_id, TaskRow.element_id, TaskRow.item_no, func.min(TaskRow.due_at))
             .where(TaskRow.instance_id.in_(instance_ids), TaskRow.element_id.in_(elements),
                    TaskRow.due_at.is_not(None))
             .group_by(TaskRow.instance_id, TaskRow.element_id, TaskRow.item_no))
    for instance_id, element, no, due_at in connection.execute(query):
        if element == PAY and no is not None:
            milestones.setdefault(instance_id, {})[no] = due_at
        elif element != PAY and no is None:
            contract.setdefault(instance_id, {})[element] = due_at
    return milestones, contract


def sync(connection, instance_ids: Iterable[str], tables: frozenset[str] = TABLES,
         known: Mapping[str, Any] | None = None) -> None:
    """Rebuild the rows of these contracts from what the database holds now (in the caller's transaction):
    `tables` those of TABLES to rebuild, `known` contracts already at hand (id → a row or object with id,
    department_code, roles, data as just flushed), read otherwise."""
    ids, known = sorted(set(instance_ids)), known or {}
    registry = timing.registry()
    for start in range(0, len(ids), 500):  # bound-parameter limits
        chunk = ids[start:start + 500]
        contracts = [known[i] for i in chunk if i in known]
        missing = [i for i in chunk if i not in known]
        if missing:
            contracts += connection.execute(select(Instance.id, Instance.department_code, Instance.roles, Instance.data)
                                            .where(Instance.id.in_(missing)))
        _write(connection, contracts, registry, tables)


def _write(connection, contracts: list, registry, tables: frozenset[str] = TABLES) -> int:
    """Replace the rows of these contracts (id, department_code, roles, data) in `tables`; the number of milestone
    rows written."""
    ids = [c.id for c in contracts]
    elements = (PAY,) * ("obligations" in tables) + CONTRACT_TASKS * ("deadlines" in tables)
    dues, contract_dues = task_dues(connection, ids, elements) if ids else ({}, {})
    rows = []
    if "obligations" in tables and ids:
        paid = payments_of(connection, ids)
        rows = [row for c in contracts for row in rows_for(c.id, c.department_code, c.roles, c.data,
                                                           dues.get(c.id, {}), paid.get(c.id, {}), registry)]
        connection.execute(delete(PaymentObligation).where(PaymentObligation.instance_id.in_(ids)))
        if rows:
            connection.execute(insert(PaymentObligation), rows)
    if "deadlines" in tables and ids:
        deadline_rows = [contract_row_for(c.id, c.department_code, c.data, contract_dues.get(c.id, {}))
                         for c in contracts]
        if len(deadline_rows) == 1:  # a step's own contract: one UPDATE in place, an INSERT only for a new one
            row = deadline_rows[0]
            done = connection.execute(update(ContractDeadline)
                                      .where(ContractDeadline.instance_id == row["instance_id"])
                                      .values(**{k: v for k, v in row.items() if k != "instance_id"}))
            if done.rowcount != 1:
                connection.execute(insert(ContractDeadline), deadline_rows)
        else:
            connection.execute(delete(ContractDeadline).where(ContractDeadline.instance_id.in_(ids)))
            connection.execute(insert(ContractDeadline), deadline_rows)
    return len(rows)


def _copied_by_obligations(data: Mapping[str, Any] | None) -> tuple:
    """What payment_obligations copies of a contract's data: milestone amounts, funding source, payment basis,
    payment terms and the signing date (the advance's deadline)."""
    data = data or {}
    milestones = data.get("milestones") or []
    amounts = tuple(values.amount_of(m.get("amount") if isinstance(m, dict) else None) for m in milestones) \
        if isinstance(milestones, list) else repr(milestones)
    return (amounts, data.get("funding_source"), repr(data.get("payment_basis")), repr(data.get("payment_terms")),
            repr(data.get("signed_at")))


def _changed(state, name: str, project=lambda v: v) -> bool:
    history = state.attrs[name].history
    if not history.has_changes():
        return False
    if not history.deleted:  # the old value was not loaded: it may have differed
        return True
    return project(history.deleted[0]) != project(history.added[0] if history.added else None)


def _instance_tables(obj: Instance) -> set[str]:
    """The tables whose rows a change of this contract's row changes."""
    state = inspect(obj)
    if _changed(state, "department_code"):
        return set(TABLES)
    out = set()
    if _changed(state, "data", _copied_by_obligations) or _changed(state, "roles", lambda r: (r or {}).get("employer")):
        out.add("obligations")
    if _changed(state, "data", lambda d: _dates_of(d or {})):
        out.add("deadlines")
    return out


def _counted(payment: Payment) -> bool:
    """A payment some row counts: of a milestone, or of an advance."""
    return payment.milestone_no is not None or payment.kind == "advance"


def resync_works(session: Session) -> int:
    """After a calendar change: rebuild the rows of the works contracts (their advance's last day is computed with
    the calendar, unlike the task deadlines, which the change does not move). Moves no alert: 0."""
    works = session.scalars(select(ContractDeadline.instance_id).where(ContractDeadline.works_terms))
    sync(session.connection(), works)
    return 0


def touched(session: Session) -> dict[str, set[str]]:
    """The contracts whose rows this flush may change, each with the tables concerned (read in after_flush: the
    pre-flush new and dirty sets)."""
    out: dict[str, set[str]] = {}

    def add(instance_id: str, *tables: str) -> None:
        if tables:
            out.setdefault(instance_id, set()).update(tables)

    def task_table(task: TaskRow) -> str:
        return "obligations" if task.element_id == PAY else "deadlines"

    for obj in session.new:
        if isinstance(obj, Instance):
            add(obj.id, *TABLES)
        elif isinstance(obj, TaskRow) and obj.element_id in COPIED_TASKS:
            add(obj.instance_id, task_table(obj))
        elif isinstance(obj, Payment) and _counted(obj):
            add(obj.instance_id, "obligations")
    for obj in session.dirty:
        if isinstance(obj, Instance):
            add(obj.id, *_instance_tables(obj))
        elif isinstance(obj, TaskRow) and obj.element_id in COPIED_TASKS and _changed(inspect(obj), "due_at"):
            add(obj.instance_id, task_table(obj))
        elif isinstance(obj, Payment) and any(_changed(inspect(obj), c) for c in ("amount", "paid_at", "milestone_no",
                                                                                   "kind")):
            add(obj.instance_id, "obligations")
    for obj in session.deleted:
        if isinstance(obj, Payment):
            add(obj.instance_id, "obligations")
    return out


def _after_flush(session: Session, _context) -> None:
    by_tables: dict[frozenset[str], list[str]] = {}
    for instance_id, tables in touched(session).items():
        by_tables.setdefault(frozenset(tables), []).append(instance_id)
    if not by_tables:
        return
    # The contracts this flush wrote are in the session as just flushed: their rows need not be read again.
    known = {obj.id: obj for obj in session.identity_map.values() if isinstance(obj, Instance)}
    for tables, ids in by_tables.items():
        sync(session.connection(), ids, tables, known)


def install() -> None:
    """Keep the rows in step with every ORM session's flushes (the composition root calls this once)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)


def backfill(connection, batch: int = 2000) -> int:
    """Fill both tables from the contracts already there (migration 0016); the number of milestone rows written."""
    written, after = 0, None
    registry = timing.registry()
    while True:
        query = (select(Instance.id, Instance.department_code, Instance.roles, Instance.data)
                 .order_by(Instance.id).limit(batch))
        if after is not None:
            query = query.where(Instance.id > after)
        contracts = list(connection.execute(query))
        if not contracts:
            return written
        written += _write(connection, contracts, registry)
        after = contracts[-1].id

