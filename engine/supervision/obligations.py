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

from sqlalchemy import delete, event, func, insert, inspect, or_, select
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


def contract_dues_of(connection, instance_ids: Iterable[str]) -> dict[str, dict[str, datetime]]:
    """instance → contract-level task element → the earliest deadline set on it."""
    out: dict[str, dict[str, datetime]] = {}
    query = (select(TaskRow.instance_id, TaskRow.element_id, func.min(TaskRow.due_at))
             .where(TaskRow.instance_id.in_(list(instance_ids)), TaskRow.element_id.in_(CONTRACT_TASKS),
                    TaskRow.item_no.is_(None), TaskRow.due_at.is_not(None))
             .group_by(TaskRow.instance_id, TaskRow.element_id))
    for instance_id, element, due_at in connection.execute(query):
        out.setdefault(instance_id, {})[element] = due_at
    return out


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


def dues_of(connection, instance_ids: Iterable[str]) -> dict[str, dict[int, datetime]]:
    """instance → milestone → the earliest deadline set on its record_payment tasks."""
    out: dict[str, dict[int, datetime]] = {}
    query = (select(TaskRow.instance_id, TaskRow.item_no, func.min(TaskRow.due_at))
             .where(TaskRow.instance_id.in_(list(instance_ids)), TaskRow.element_id == PAY,
                    TaskRow.item_no.is_not(None),
                    TaskRow.due_at.is_not(None))
             .group_by(TaskRow.instance_id, TaskRow.item_no))
    for instance_id, no, due_at in connection.execute(query):
        out.setdefault(instance_id, {})[no] = due_at
    return out


def sync(connection, instance_ids: Iterable[str]) -> None:
    """Rebuild the rows of these contracts from what the database holds now (in the caller's transaction)."""
    ids = sorted(set(instance_ids))
    registry = timing.registry()
    for start in range(0, len(ids), 500):  # bound-parameter limits
        chunk = ids[start:start + 500]
        contracts = list(connection.execute(select(Instance.id, Instance.department_code, Instance.roles, Instance.data)
                                            .where(Instance.id.in_(chunk))))
        connection.execute(delete(PaymentObligation).where(PaymentObligation.instance_id.in_(chunk)))
        connection.execute(delete(ContractDeadline).where(ContractDeadline.instance_id.in_(chunk)))
        _write(connection, contracts, registry)


def _write(connection, contracts: list, registry) -> int:
    """Insert the rows of these contracts (id, department_code, roles, data); the number of milestone rows."""
    ids = [c.id for c in contracts]
    dues, paid = dues_of(connection, ids), payments_of(connection, ids)
    contract_dues = contract_dues_of(connection, ids)
    rows = [row for c in contracts for row in rows_for(c.id, c.department_code, c.roles, c.data, dues.get(c.id, {}),
                                                       paid.get(c.id, {}), registry)]
    if rows:
        connection.execute(insert(PaymentObligation), rows)
    if contracts:
        connection.execute(insert(ContractDeadline), [contract_row_for(c.id, c.department_code, c.data,
                                                                       contract_dues.get(c.id, {})) for c in contracts])
    return len(rows)


def _copied(data: Mapping[str, Any] | None) -> tuple:
    """What the rows copy of a contract's data: milestone amounts, funding source, payment basis, payment terms (the
    advance), its dates."""
    data = data or {}
    milestones = data.get("milestones") or []
    amounts = tuple(values.amount_of(m.get("amount") if isinstance(m, dict) else None) for m in milestones) \
        if isinstance(milestones, list) else repr(milestones)
    return (amounts, data.get("funding_source"), repr(data.get("payment_basis")), repr(data.get("payment_terms")),
            _dates_of(data))


def _changed(state, name: str, project=lambda v: v) -> bool:
    history = state.attrs[name].history
    if not history.has_changes():
        return False
    if not history.deleted:  # the old value was not loaded: it may have differed
        return True
    return project(history.deleted[0]) != project(history.added[0] if history.added else None)


def _instance_changed(obj: Instance) -> bool:
    state = inspect(obj)
    return (_changed(state, "data", _copied) or _changed(state, "department_code")
            or _changed(state, "roles", lambda r: (r or {}).get("employer")))


def _counted(payment: Payment) -> bool:
    """A payment some row counts: of a milestone, or of an advance."""
    return payment.milestone_no is not None or payment.kind == "advance"


def resync_works(session: Session) -> int:
    """After a calendar change: rebuild the rows of the works contracts (their advance's last day is computed with
    the calendar, unlike the task deadlines, which the change does not move). Moves no alert: 0."""
    works = session.scalars(select(ContractDeadline.instance_id).where(ContractDeadline.works_terms))
    sync(session.connection(), works)
    return 0


def touched(session: Session) -> set[str]:
    """The contracts whose rows this flush may change (read in after_flush: the pre-flush new and dirty sets)."""
    out: set[str] = set()
    for obj in session.new:
        if isinstance(obj, Instance):
            out.add(obj.id)
        elif isinstance(obj, TaskRow) and obj.element_id in COPIED_TASKS or isinstance(obj, Payment) and _counted(obj):
            out.add(obj.instance_id)
    for obj in session.dirty:
        if isinstance(obj, Instance) and _instance_changed(obj):
            out.add(obj.id)
        elif isinstance(obj, TaskRow) and obj.element_id in COPIED_TASKS and _changed(inspect(obj), "due_at"):
            out.add(obj.instance_id)
        elif isinstance(obj, Payment) and any(_changed(inspect(obj), c) for c in ("amount", "paid_at", "milestone_no",
                                                                                   "kind")):
            out.add(obj.instance_id)
    for obj in session.deleted:
        if isinstance(obj, Payment):
            out.add(obj.instance_id)
    return out


def _after_flush(session: Session, _context) -> None:
    ids = touched(session)
    if ids:
        sync(session.connection(), ids)


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

