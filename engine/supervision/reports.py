"""The monthly supervision report (月度监管报告) and the supervisors' dashboard figures.

Every figure is recomputed from the ledger rows — instance data (the business dates the parties recorded),
the deadlines the engine attached to each obligation's task, payments, alerts with their audit events,
credit records and leads — so the same month asked again gives the same numbers, and each can be checked
by hand. Dates are business dates (the day a party says it signed, filed or paid), never the moment it
was recorded; instants are bounded by the month in China time (Asia/Shanghai). `DEFINITIONS` says what
each number counts; docs/reports.md repeats it with examples.

Other modules add sections with `register_section(name, fn)`: `fn(session, scope)` returns a dict that
appears in the JSON under `name` and in the CSV as rows `name,<path>,<value>`.
"""
from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Mapping, NamedTuple

from sqlalchemy import BigInteger, Date, and_, case, cast, func, literal, or_, select, text, true, tuple_, type_coerce, union_all
from sqlalchemy.orm import Session

from engine.supervision import (alerts, cases, credit, csv_export, deadlines, interest, obligations, timing,
                                works_payments)
from engine import clock
from engine.access import directory
from engine.runtime import values
from engine.storage import models
from engine.storage.db import Database, Money, side_by_side
from engine.access.directory import Principal
from engine.errors import Forbidden, Invalid, NotFound
from engine.storage.models import (Alert, AlertDecision, ContractDeadline, CreditRecord, Department,
                                   Guarantee, Instance, Invoice, Lead, Organisation, Payment, PaymentApplication,
                                   PaymentObligation)

SEVERITIES = ("yellow", "orange", "red")
TOP_EMPLOYERS = 5

# The deposits whose release deadline the report watches (their tasks' deadlines: contract_deadlines).
RELEASES = obligations.RELEASES


@dataclass(frozen=True)
class ReportScope:
    """What a report covers: one month in China time and the contracts of some departments.

    `start` and `end` are aware UTC instants (00:00 Asia/Shanghai of the month's first day and of the next
    month's first day; `end` is excluded); `first_day` and `last_day` are the month's calendar days;
    `departments` the department codes in scope; the contracts in scope are the instances of those
    departments — every contract, whatever its status (every instance when `every_department`): `contains`
    selects them in SQL, `contracts` counts them (None: counted by `build` with the other figures), `instance_ids`
    lists them (read when first asked)."""

    month: str
    start: datetime
    end: datetime
    first_day: date
    last_day: date
    departments: frozenset[str]
    every_department: bool = False
    contracts: int | None = 0
    _load_ids: Callable[[], frozenset[str]] | None = field(default=None, compare=False, repr=False)

    def contains(self, column):
        """A WHERE clause: `column` (an instance id) names a contract in scope — a subquery, never a list."""
        if self.every_department:
            return true()
        depts = Instance.department_code.in_(sorted(self.departments))
        return depts if column is Instance.id else column.in_(select(Instance.id).where(depts))

    @property
    def instance_ids(self) -> frozenset[str]:
        """The ids of the contracts in scope (a section that needs them; the built-in ones do not)."""
        ids = self.__dict__.get("_ids")
        if ids is None:
            ids = self._load_ids() if self._load_ids is not None else frozenset()
            object.__setattr__(self, "_ids", ids)
        return ids

    def in_month(self, day: date | None) -> bool:
        return day is not None and self.first_day <= day <= self.last_day

    def during(self, instant: datetime | None) -> bool:
        return instant is not None and self.start <= instant < self.end


SectionFn = Callable[[Session, ReportScope], dict]
SECTIONS: dict[str, SectionFn] = {}
SECTION_DEFINITIONS: dict[str, dict[str, str]] = {}
BUILTIN = ("report", "contracts", "filings", "milestones", "arrears", "held_past_release", "alerts",
           "credit_records", "leads")


def register_section(name: str, fn: SectionFn, definitions: dict[str, str] | None = None) -> None:
    """Add a section to every monthly report: `fn(session, scope)` returns a JSON-able dict (money as decimal
    strings). `definitions` ({"figure": "what it counts"}) join the report's definitions as `name.figure`."""
    if name in BUILTIN or name == "definitions" or not name.replace("_", "").isalnum():
        raise ValueError(f"section name {name!r} is taken or not a plain identifier")
    SECTIONS[name] = fn
    SECTION_DEFINITIONS[name] = dict(definitions or {})


def unregister_section(name: str) -> None:
    SECTIONS.pop(name, None)
    SECTION_DEFINITIONS.pop(name, None)


DEFINITIONS: dict[str, str] = {
    "report.month": "The calendar month reported, YYYY-MM; its bounds are 00:00 China time (Asia/Shanghai) of its "
                    "first day and of the next month's first day.",
    "report.departments": "The department codes in scope: the requested department and every department below it; "
                          "a supervisor's own subtree when none is requested; every department for admins and operators.",
    "report.contracts_in_scope": "Contracts (process instances) supervised by a department in scope, whatever their status.",
    "contracts.awarded": "Contracts whose award notice date (award_notice_date, 中标/成交通知书发出日期) falls in the month.",
    "contracts.signed": "Contracts whose signing date (signed_at) falls in the month.",
    "contracts.signed_on_time": "Of those, signed on or before the last day of the signing period the engine set on "
                                "the sign_contract task (R04 tendering / G03 government procurement: 30 days from the award notice).",
    "contracts.signed_late": "Of those, signed after that last day.",
    "filings.filed": "Contracts whose filing date (filed_at, 备案日期; the latest filing when returned and filed again) "
                     "falls in the month.",
    "filings.on_time": "Of those, filed on or before the last day of the filing period set on the file_contract task "
                       "(G05: 7 working days from signing; L01 local rule for tendering: 7 days).",
    "filings.late": "Of those, filed after that last day.",
    "milestones.due": "Payment milestones whose payment deadline (the due date of their record_payment task: P01, "
                      "payment_term_days from acceptance) has its last day in the month.",
    "milestones.paid_on_time": "Payment milestones paid in full in the month (the date of the payment that brought the "
                               "paid total to the milestone amount falls in the month) on or before the deadline's last day.",
    "milestones.paid_late": "Payment milestones paid in full in the month after the deadline's last day.",
    "milestones.average_days_late": "Mean, over the milestones paid late, of the days from the deadline's last day to the "
                                    "day of full payment (as in the alert's 'paid N days late'), to one decimal; null when none.",
    "arrears.amount": "Unpaid payments at the end of the month (欠款): for each payment milestone whose deadline "
                      "had passed at 24:00 of the month's last day (the engine raises its arrears alert at that instant), "
                      "the milestone amount less the payments dated on or before that day, when positive; and for each "
                      "works obligation (advance C01, progress payment C03, settlement C04P) whose last day had passed, "
                      "what it made payable as it stood that day (a measurement or settlement not answered in its period "
                      "counts as confirmed at the applied amount) less the payments dated on or before it. Contracts "
                      "cancelled by the operator are left out.",
    "arrears.milestones": "The number of those milestones and works obligations.",
    "arrears.contracts": "The number of contracts with at least one of those milestones.",
    "arrears.by_department": "The same three figures for each supervising department.",
    "arrears.by_employer": "The same three figures for each employer (招标人/采购人: the organisation that owes the payment).",
    "arrears.top_employers": f"The {TOP_EMPLOYERS} employers with the largest arrears amount (ties by code).",
    "arrears.interest_accrued": "Late-payment interest accrued on those unpaid amounts up to and including the month's "
                                "last day, at the rate fixed with the contract's payment basis: the agreed rate "
                                "(late_interest_percent_per_day), else P05's 0.05 % a day where an SME payment rule (P01, "
                                "P02) binds, else none (支付条例 2025 art 17 / 2020 art 15): for each unpaid amount, the "
                                "amount × the rate × the days from the day after the deadline's last day to the month's last day, rounded to the "
                                "fen half-up; in total, by department, by employer and for the top employers. Interest on "
                                "amounts already paid late is not included.",
    "arrears.by_age": "The unpaid amounts and milestones by days overdue at the month's last day (days after the "
                      "deadline's last day): 0-30 (≤ 30), 31-90, 91-180, 181-365, over_365; in total, by employer and "
                      "by funding source.",
    "arrears.by_funding_source": "The arrears figures and their ages for each funding source the contract declared at "
                                 "the start (funding_source: fiscal_budget 财政预算资金, special_bonds 地方政府专项债券, "
                                 "state_owned 国有资金, self_raised 自筹资金, mixed 多渠道); `unknown` where it declared none.",
    "held_past_release.count": "Deposits and guarantees still held at the end of the month whose release deadline had passed "
                               "by then: bid bonds (D03 / D07, from signing; not exempt ones), performance guarantees "
                               "(Q07, from completion) and quality retention (Q04, from the contractor's application), "
                               "the deadline being the one set on the release task; held means no release dated on or "
                               "before the month's last day. Cancelled contracts are left out.",
    "held_past_release.amount": "Their total amount: the bid bond amount, the guarantee amount (or rate × contract amount), "
                                "and retention rate × contract amount.",
    "held_past_release.by_kind": "Count and amount per kind: bid, performance, quality.",
    "alerts.raised": "Alerts (all severities) first raised in the month, by code and by the severity they were raised at "
                     "(their first alert_yellow/orange/red audit event).",
    "alerts.escalated": "Severity rises in the month (yellow → orange, orange or yellow → red), by code and by the severity "
                        "reached; red is the escalation to the department's escalates_to (discipline inspection).",
    "alerts.resolved": "Alerts resolved in the month (obligation met, contract cancelled, or resolved by a supervisor), "
                       "by code and by their severity when resolved.",
    "alerts.median_days_to_resolve": "The median, over the alerts resolved in the month, of the calendar days (China time) "
                                     "from the day raised to the day resolved; null when none.",
    "credit_records.total": "Credit records written in the month (record date = the day a supervisor confirmed the red "
                            "alert, China time), for contracts in scope.",
    "credit_records.by_rule": "The same, by the alert code the record cites.",
    "leads.total": "Red alerts of contracts in scope that turned red in the month and reached an escalation target, or "
                   "were confirmed as leads — what GET /leads?month= lists: pending plus confirmed.",
    "leads.pending": "Of those, not decided yet by the supervising department.",
    "leads.confirmed": "Of those, confirmed: a lead with its evidence trail was handed to discipline inspection.",
    "leads.dismissed": "Red alerts of the month that the department dismissed (not counted in total).",
}


# ---------------------------------------------------------------- helpers
_dec = values.amount_of
money = values.format_money

def scope_for(month: str, departments: frozenset[str], every_department: bool = False, contracts: int | None = 0,
              load_ids: Callable[[], frozenset[str]] | None = None) -> ReportScope:
    first, last = credit.month_days(month)
    start = deadlines.end_of_day(first - timedelta(days=1))
    return ReportScope(month, start, deadlines.end_of_day(last), first, last, departments, every_department, contracts,
                       load_ids)


def resolve_scope(session: Session, principal: Principal, month: str, department: str | None) -> ReportScope:
    """The scope a caller may report on; Forbidden for parties and designers, NotFound for an unknown department."""
    if principal.role not in ("admin", "operator", "supervisor"):
        raise Forbidden("reports are for the supervising departments and the trading centre")
    if principal.role == "supervisor" and not principal.departments:
        raise Forbidden("a supervisor without a department has nothing to report on")
    credit.month_days(month)  # validates before anything else is read
    if department:
        if session.get(Department, department) is None:
            raise NotFound(f"no department {department}")
        if principal.role == "supervisor" and department not in principal.departments:
            raise Forbidden(f"department {department} is outside your department's subtree")
        depts = directory.subtree(session, department)
    elif principal.role == "supervisor":
        depts = principal.departments
    else:
        depts = None
    every = depts is None
    every_code = frozenset(session.scalars(select(Department.code)))
    if every:
        depts = every_code
    elif session.scalar(select(Instance.id).where(or_(Instance.department_code.is_(None),
                                                       Instance.department_code.in_(sorted(every_code - depts))))
                        .limit(1)) is None:
        # No contract lies outside the scope (a province's supervisor; a contract's department is one of the
        # directory's, a foreign key): every contract is in scope — no condition on the department at all.
        every = True
    clause = true() if every else Instance.department_code.in_(sorted(depts))
    # `contracts` is counted with the report's other figures (build: _contracts_in_scope), side by side.
    return scope_for(month, frozenset(depts), every, None,
                     lambda: frozenset(session.scalars(select(Instance.id).where(clause))))


def _chunks(ids, size: int = 500):
    ordered = sorted(ids)
    for i in range(0, len(ordered), size):
        yield ordered[i:i + size]


def _in_departments(scope: ReportScope, column):
    """A WHERE clause: the row's contract is in scope, by the department the row copied from it (`column`: a
    contract's department is fixed when it starts, engine/runtime/steps.py) — never a list of ids; no condition
    when the scope holds every contract."""
    return true() if scope.every_department else column.in_(sorted(scope.departments))


def _contracts_in_scope(session: Session, scope: ReportScope) -> int:
    if scope.contracts is not None:
        return scope.contracts
    clause = _in_departments(scope, Instance.department_code)
    return session.scalar(select(func.count()).select_from(Instance).where(clause)) or 0


def _names(session: Session, codes) -> dict[str, str]:
    """code → name of these organisations (in chunks: bound-parameter limits)."""
    out: dict[str, str] = {}
    # In chunks where bound parameters are few (SQLite); at once on PostgreSQL (2,000 employers: one round trip).
    size = 20_000 if session.get_bind().dialect.name == "postgresql" else 500
    for chunk in _chunks({c for c in codes if c}, size):
        out.update(session.execute(select(Organisation.code, Organisation.name).where(Organisation.code.in_(chunk))).all())
    return out


# What the figures read of a contract: never its serialized workflow state.
INSTANCE_FIELDS = (Instance.id, Instance.business_key, Instance.status, Instance.data, Instance.roles,
                   Instance.department_code)


def _severity_counts() -> dict[str, int]:
    return {s: 0 for s in SEVERITIES}


def _summary(counts: dict[str, dict[str, int]]) -> dict[str, Any]:
    by_severity = _severity_counts()
    for per in counts.values():
        for severity, n in per.items():
            by_severity[severity] += n
    return {"total": sum(by_severity.values()), "by_severity": by_severity,
            "by_code": {code: counts[code] for code in sorted(counts)}}


# ---------------------------------------------------------------- the sections
# Milestones and arrears are SQL aggregates over payment_obligations (engine/supervision/obligations.py: one row
# per milestone, amount in integer fen, its deadline and last day, what was paid on it, what it copies of the
# contract): no contract's JSON is read for them, and no Python loop runs over all milestones.
_E8 = 100_000_000  # fen × micro-percent × days / 10^8 = fen of interest


def _int(column):
    """A fen (or other integer) column as a plain BIGINT in arithmetic, not the Money type."""
    return type_coerce(column, BigInteger)


def _days_from(session: Session, earlier, later):
    """SQL: the whole days from the date `earlier` to the date `later` (exact on PostgreSQL and SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        return type_coerce(later - earlier, BigInteger)
    return type_coerce(func.cast(func.julianday(later) - func.julianday(earlier), BigInteger), BigInteger)


def _milestones(session: Session, scope: ReportScope) -> dict:
    """The `milestones` section: deadlines whose last day is in the month; milestones paid in full in the month
    (paid_in_full_on: the day of the payment whose running total reached the amount) on time or late, with the
    mean days late."""
    o = PaymentObligation
    milestone = o.milestone_no != obligations.ADVANCE  # the advance of a works contract is no milestone
    due = session.scalar(select(func.count()).select_from(o).where(
        _in_departments(scope, PaymentObligation.department_code), milestone, o.last_day >= scope.first_day, o.last_day <= scope.last_day)) or 0
    late = o.paid_in_full_on > o.last_day
    on_time, n_late, days_late = session.execute(
        select(func.count(case((o.paid_in_full_on <= o.last_day, 1))), func.count(case((late, 1))),
               func.sum(case((late, _days_from(session, o.last_day, o.paid_in_full_on)), else_=0)))
        .where(_in_departments(scope, PaymentObligation.department_code), milestone, o.last_day.is_not(None), o.paid_in_full_on >= scope.first_day,
               o.paid_in_full_on <= scope.last_day)).one()
    m = {"due": due, "paid_on_time": on_time or 0, "paid_late": n_late or 0, "average_days_late": None}
    if n_late:
        m["average_days_late"] = float((Decimal(int(days_late)) / n_late).quantize(Decimal("0.1")))
    return m


def _owed_milestones(session: Session, scope: ReportScope):
    """SQL: every milestone (and works contract's advance) overdue at the end of the month — its deadline passed by
    24:00 of the month's last day and less than its amount paid by that day; cancelled contracts left out — with
    the fen unpaid, the days overdue at the month's last day, the daily rate (micro-percent, 0 for none) and the
    age bucket (_age_index). Only milestones not paid in full by the
    month's last day are looked at; their payments are read only when one is dated after that day (else the
    total paid so far is what was paid by then)."""
    o = PaymentObligation
    its_payment = or_(Payment.milestone_no == o.milestone_no, and_(
        o.milestone_no == obligations.ADVANCE, Payment.milestone_no.is_(None), Payment.kind == "advance"))
    paid_by_then = (select(cast(func.sum(_int(Payment.amount)), BigInteger))
                    .where(Payment.instance_id == o.instance_id, its_payment, Payment.paid_at <= scope.last_day)
                    .scalar_subquery())
    paid = case((or_(o.last_paid_on.is_(None), o.last_paid_on <= scope.last_day), _int(o.paid)),
                else_=func.coalesce(paid_by_then, 0))
    unpaid = _int(o.amount) - paid
    cancelled = select(Instance.id).where(Instance.status == text("'cancelled'"))  # ix_instances_cancelled
    days = _days_from(session, o.last_day, literal(scope.last_day, Date))
    columns = (o.instance_id, o.milestone_no, o.department_code, o.employer, o.funding_source,
               unpaid.label("fen"), days.label("days"), func.coalesce(o.interest_micro_percent, 0).label("rate"))
    where = (_in_departments(scope, PaymentObligation.department_code), o.due_at <= scope.end, o.instance_id.not_in(cancelled))
    # Two index ranges, not one scan: never paid in full (ix_payment_obligations_unpaid holds those rows alone,
    # with every column read here) and paid in full after the month — paid late, then (after its own last day):
    # ix_payment_obligations_paid_late.
    owed = union_all(select(*columns).where(o.paid_in_full_on.is_(None), *where),
                     select(*columns).where(o.paid_in_full_on > scope.last_day, o.paid_in_full_on > o.last_day,
                                            *where)).subquery()
    return select(*owed.c, _age_index(owed.c.days).label("age")).where(owed.c.fen > 0).subquery()


def _interest(owed):
    """SQL: the interest accrued on an owed row to the month's last day (P05 arithmetic in integers: fen × rate ×
    days / 10^8, half up, split so that no product leaves 64 bits)."""
    product = type_coerce(owed.c.fen * owed.c.days, BigInteger)
    return (product // _E8) * owed.c.rate + ((product % _E8) * owed.c.rate + _E8 // 2) // _E8


def _age_index(days):
    """SQL: the position in interest.AGE_BUCKETS of `days` overdue (an integer: compared ten times a row)."""
    return case(*[(days <= upper, i) for i, (_, upper) in enumerate(interest.AGE_BUCKETS) if upper is not None],
                else_=len(interest.AGE_BUCKETS) - 1)


def _by_age() -> dict[str, dict[str, Any]]:
    return {label: {"amount": Decimal(0), "milestones": 0} for label, _ in interest.AGE_BUCKETS}


def _fen(n) -> Decimal:
    return Decimal(int(n or 0)).scaleb(-2)


def _grouped(session: Session, dims: tuple, sets: tuple, *sums) -> list:
    """Rows (*dims, *grouping flags, *sums): on PostgreSQL one row per group of each of the GROUPING SETS `sets`
    (a dimension not grouped is flagged 1); elsewhere one row per combination of all `dims`, flags None."""
    if session.get_bind().dialect.name == "postgresql":
        return list(session.execute(select(*dims, *(func.grouping(d) for d in dims), *sums)
                                    .group_by(func.grouping_sets(*(tuple_(*s) if s else text("()") for s in sets)))))
    return list(session.execute(select(*dims, *(literal(None) for _ in dims), *sums).group_by(*dims)))


def _arrears_sums(session: Session, scope: ReportScope) -> list:
    """The owed milestones' count, fen unpaid and interest (fen) per department, and per age bucket per employer,
    per funding source and in all (_grouped: one pass; 260,000 milestones at a million contracts): the totals of
    the last three are the sums of their ages."""
    owed = _owed_milestones(session, scope)
    d, e, f, a = owed.c.department_code, owed.c.employer, owed.c.funding_source, owed.c.age
    return _grouped(session, (d, e, f, a), ((d,), (e, a), (f, a), (a,)),
                    func.count(), cast(func.sum(owed.c.fen), BigInteger), cast(func.sum(_interest(owed)), BigInteger))


def _arrears_contracts(session: Session, scope: ReportScope) -> list:
    """The contracts owing per department, employer and funding source and in all (a contract's are its own: it is
    counted once in each), over the distinct contracts of the owed milestones."""
    owed = _owed_milestones(session, scope)
    # Told apart byte-wise (never ordered): a third of the time of the database's collation on PostgreSQL.
    contract = owed.c.instance_id.collate("C") if session.get_bind().dialect.name == "postgresql" \
        else owed.c.instance_id
    dims = (owed.c.department_code.label("dept"), owed.c.employer.label("emp"), owed.c.funding_source.label("fund"))
    per = select(*dims).group_by(contract, *dims).subquery()
    return _grouped(session, (per.c.dept, per.c.emp, per.c.fund), ((per.c.dept,), (per.c.emp,), (per.c.fund,), ()),
                    func.count())


def _arrears(session: Session, scope: ReportScope, works_owed: list[tuple["_Owing", Decimal, date]],
             sums: list | None = None, owing: list | None = None) -> dict:
    """The `arrears` section: amount, milestones and contracts owed and the interest accrued on them (P05, to the
    month's last day), in total, by department, by employer and for the TOP_EMPLOYERS employers owing most; by
    days overdue at the month's last day (interest.AGE_BUCKETS) in total, by employer and by funding source.
    The milestones are summed in SQL (`sums`: _arrears_sums) and their contracts counted (`owing`:
    _arrears_contracts), each read here when not given; the works obligations (computed per works contract) are
    added to the same sums."""
    def bucket() -> dict[str, Any]:
        return {"amount": Decimal(0), "milestones": 0, "contracts": 0, "interest": Decimal(0), "ages": _by_age()}

    total, by_dept, by_emp, by_fund = bucket(), defaultdict(bucket), defaultdict(bucket), defaultdict(bucket)

    def add(dept, employer, fund, age, amount, milestones, contracts, accrued) -> None:
        for b in (total, by_dept[dept or ""], by_emp[employer or ""], by_fund[fund or "unknown"]):
            b["amount"] += amount
            b["milestones"] += milestones
            b["contracts"] += contracts
            b["interest"] += accrued
            b["ages"][age]["amount"] += amount
            b["ages"][age]["milestones"] += milestones

    def targets(dept, employer, fund, flags) -> tuple:
        """The panels a grouped row counts in: its grouping set's (PostgreSQL), or all four (one row a combination)."""
        if flags[0] is None:
            return total, by_dept[dept or ""], by_emp[employer or ""], by_fund[fund or "unknown"]
        return ((by_dept[dept or ""],) if not flags[0] else (by_emp[employer or ""],) if not flags[1]
                else (by_fund[fund or "unknown"],) if not flags[2] else (total,))

    labels = [label for label, _ in interest.AGE_BUCKETS]
    for dept, employer, fund, age, *flags, n, fen, accrued in (sums if sums is not None else
                                                             _arrears_sums(session, scope)):
        for b in targets(dept, employer, fund, flags):
            b["amount"] += _fen(fen)
            b["milestones"] += n
            b["interest"] += _fen(accrued)
            if not flags[3]:  # by age (all but the departments' set)
                b["ages"][labels[age]]["amount"] += _fen(fen)
                b["ages"][labels[age]]["milestones"] += n
    for dept, employer, fund, *flags, n in (owing if owing is not None else _arrears_contracts(session, scope)):
        for b in targets(dept, employer, fund, flags):
            b["contracts"] += n
    counted = _owing_contracts(session, _owed_milestones(session, scope), {inst.id for inst, _, _ in works_owed}) \
        if works_owed else set()
    registry = timing.registry()
    for inst, amount, limit in works_owed:
        accrued = interest.interest_for(registry, inst.data.get("payment_basis"), amount, limit,
                                        scope.last_day) or Decimal(0)
        add(inst.department_code, inst.roles.get("employer"), inst.data.get("funding_source"),
            interest.age_bucket(interest.days_late(limit, scope.last_day)), amount, 1, int(inst.id not in counted),
            accrued)
        counted.add(inst.id)

    def out(b) -> dict[str, Any]:
        return {"amount": money(b["amount"]), "milestones": b["milestones"], "contracts": b["contracts"],
                "interest_accrued": money(b["interest"])}

    def ages(b) -> dict[str, Any]:
        return {label: {"amount": money(a["amount"]), "milestones": a["milestones"]} for label, a in b["ages"].items()}

    names = _names(session, by_emp)
    employers = {code: {"name": names.get(code), **out(b), "by_age": ages(b)} for code, b in sorted(by_emp.items())}
    top = sorted(by_emp.items(), key=lambda kv: (-kv[1]["amount"], kv[0]))[:TOP_EMPLOYERS]
    return {**out(total), "by_age": ages(total), "by_department": {code: out(b) for code, b in sorted(by_dept.items())},
            "by_employer": employers,
            "by_funding_source": {code: {**out(b), "by_age": ages(b)} for code, b in sorted(by_fund.items())},
            "top_employers": [{"org": code, "name": names.get(code), **out(b)} for code, b in top]}


def _owing_contracts(session: Session, owed, ids: set[str]) -> set[str]:
    """Which of these contracts (the works contracts owing) also owe a milestone: already counted once."""
    out: set[str] = set()
    for chunk in _chunks(ids):
        out.update(session.scalars(select(owed.c.instance_id).where(owed.c.instance_id.in_(chunk)).distinct()))
    return out


def _works_owed(session: Session, instances: list[Instance], scope: ReportScope,
                span=None) -> list[tuple[Instance, Decimal, date]]:
    """(contract, amount unpaid, the payment's last day) of every works obligation of an application (progress,
    settlement: works_payments.obligations) overdue at the end of the month, as it stood then (the advance is a
    payment_obligations row)."""
    works = {i.id: i for i in instances if i.status != "cancelled" and
             any(((i.data or {}).get("payment_terms") or {}).get(k) for k in ("advance", "progress", "settlement"))}
    if not works:
        return []
    applications: dict[str, list[dict]] = defaultdict(list)
    paid: dict[str, list[dict]] = defaultdict(list)
    # In scope, then kept for the works contracts: one statement each (a list of ids could pass the
    # bound-parameter limit).
    for row in session.execute(select(PaymentApplication.instance_id, PaymentApplication.kind, PaymentApplication.reference,
                                      PaymentApplication.period, PaymentApplication.applied_at, PaymentApplication.amount,
                                      PaymentApplication.confirmed_amount, PaymentApplication.confirmed_at)
                               .where(scope.contains(PaymentApplication.instance_id),
                                      *((span(PaymentApplication.instance_id),) if span else ()))):
        if row.instance_id in works:
            applications[row.instance_id].append({
                "kind": row.kind, "reference": row.reference, "period": row.period, "applied_at": row.applied_at,
                "amount": row.amount, "confirmed_amount": row.confirmed_amount, "confirmed_at": row.confirmed_at})
    for p in session.execute(select(Payment.instance_id, Payment.kind, Payment.reference, Payment.paid_at, Payment.amount)
                             .where(scope.contains(Payment.instance_id), Payment.kind != "milestone",
                                    *((span(Payment.instance_id),) if span else ()))):
        if p.instance_id in works:
            paid[p.instance_id].append({"kind": p.kind, "reference": p.reference, "paid_at": p.paid_at,
                                        "amount": p.amount})
    owed = []
    for iid, inst in works.items():
        for entry in works_payments.obligations(inst.data or {}, applications[iid], paid[iid], scope.last_day,
                                                timing.calendar(), timing.registry()):
            last = entry["payment_last_day"]
            if entry["kind"] == "advance":  # a payment_obligations row (obligations.ADVANCE), summed in SQL
                continue
            if last is not None and last < scope.last_day + timedelta(days=1) and entry["outstanding"] > 0:
                owed.append((inst, entry["outstanding"], last))
    return owed


def _guarantee_amount(kind: str, data: dict[str, Any]) -> Decimal:
    contract = _dec(data.get("contract_amount"))
    if kind == "bid":
        return _dec((data.get("bid_bond") or {}).get("amount"))
    if kind == "performance":
        given = data.get("guarantee_amount")
        return _dec(given) if given not in (None, "") else contract * _dec(data.get("performance_guarantee_rate")) / 100
    return contract * _dec(data.get("retention_rate")) / 100


def _finish_held(by_kind: dict) -> dict:
    return {"count": sum(k["count"] for k in by_kind.values()),
            "amount": money(sum((k["amount"] for k in by_kind.values()), Decimal(0))),
            "by_kind": {kind: {"count": k["count"], "amount": money(k["amount"])} for kind, k in by_kind.items()}}


def _china_day(session: Session, column):
    """SQL: the calendar day in China time (UTC+8, no daylight saving since 1991) of an instant column, as a
    number of days that subtracts exactly on PostgreSQL and SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return type_coerce(cast(func.timezone("Asia/Shanghai", column), Date), Date)
    return func.julianday(func.date(column, "+8 hours"))


def _alerts(session: Session, scope: ReportScope) -> dict:
    """The `alerts` section, counted in SQL over the month's index ranges of the typed alert columns (migration
    0018): raised (raised_at) by the severity raised at (first_severity), escalations (orange_at: yellow → orange;
    red_at of an alert not raised red), resolved (resolved_at) by the severity when resolved, and the days from
    raised to resolved (China days) as a histogram from which the median is taken. No alert row or audit event is
    read into Python."""
    a = Alert
    during = lambda column: and_(column >= scope.start, column < scope.end)  # noqa: E731
    in_scope = _in_departments(scope, Alert.department_code)
    raised: dict[str, dict[str, int]] = {}
    escalated: dict[str, dict[str, int]] = {}
    resolved: dict[str, dict[str, int]] = {}
    first = func.coalesce(a.first_severity, a.severity)  # every alert write sets first_severity (alerts.py)
    for code, severity, n in session.execute(select(a.code, first, func.count())
                                             .where(during(a.raised_at), in_scope).group_by(a.code, first)):
        raised.setdefault(code, _severity_counts())[severity] += n
    for code, n in session.execute(select(a.code, func.count()).where(during(a.orange_at), in_scope)
                                   .group_by(a.code)):
        escalated.setdefault(code, _severity_counts())["orange"] += n
    for code, n in session.execute(select(a.code, func.count())
                                   .where(during(a.red_at), first != "red", in_scope).group_by(a.code)):
        escalated.setdefault(code, _severity_counts())["red"] += n
    for code, severity, n in session.execute(select(a.code, a.severity, func.count())
                                             .where(during(a.resolved_at), in_scope).group_by(a.code, a.severity)):
        resolved.setdefault(code, _severity_counts())[severity] += n
    days = (_china_day(session, a.resolved_at) - _china_day(session, a.raised_at)).label("days")
    histogram = sorted((int(d), n) for d, n in session.execute(
        select(days, func.count()).where(during(a.resolved_at), in_scope).group_by(days)))
    return {"raised": _summary(raised), "escalated": _summary(escalated), "resolved": _summary(resolved),
            "median_days_to_resolve": _median(histogram)}


def _median(histogram: list[tuple[int, int]]) -> int | float | None:
    """The median of the values of a sorted histogram [(value, count)], as statistics.median gives it (the mean of
    the two middle values for an even count); None when it is empty."""
    n = sum(count for _, count in histogram)
    if not n:
        return None
    def at(position: int) -> int:
        for value, count in histogram:
            if position < count:
                return value
            position -= count
        raise AssertionError("position past the histogram")
    value = at(n // 2) if n % 2 else (at(n // 2 - 1) + at(n // 2)) / 2
    return int(value) if float(value).is_integer() else float(value)


def _credit_records(session: Session, scope: ReportScope) -> dict:
    c = CreditRecord
    by_rule = dict(session.execute(
        select(c.code, func.count()).where(c.record_date >= scope.first_day, c.record_date <= scope.last_day,
                                           _in_departments(scope, c.department_code))
        .group_by(c.code)).all())
    return {"total": sum(by_rule.values()), "by_rule": dict(sorted(by_rule.items()))}


def _leads(session: Session, scope: ReportScope) -> dict:
    """The `leads` section in SQL: the red alerts in scope handed over as a lead in the month (by the lead's
    escalated_at: confirmed), and those with no lead that turned red in the month (red_at) and reached an
    escalation target, by the department's decision (none: pending)."""
    a, lead, decision = Alert, Lead, AlertDecision
    during = lambda column: and_(column >= scope.start, column < scope.end)  # noqa: E731
    in_scope = _in_departments(scope, Alert.department_code)
    out = {"total": 0, "pending": 0, "confirmed": 0, "dismissed": 0}
    out["confirmed"] = session.scalar(select(func.count()).select_from(lead).join(a, a.id == lead.alert_id)
                                      .where(during(lead.escalated_at), a.severity == "red", in_scope)) or 0
    no_lead = ~select(lead.alert_id).where(lead.alert_id == a.id).exists()
    state = func.coalesce(decision.decision, "pending")
    for name, n in session.execute(select(state, func.count()).select_from(a)
                                   .join(decision, decision.alert_id == a.id, isouter=True)
                                   .where(during(a.red_at), a.severity == "red", a.escalated_to.is_not(None), no_lead,
                                          in_scope).group_by(state)):
        out[name] = out.get(name, 0) + n
    out["total"] = out["pending"] + out["confirmed"]
    return out


BATCH = 5000  # contracts read at a time by the contract sections


class _Owing(NamedTuple):
    """What the arrears section reads of a contract that owes (not its whole data)."""
    id: str
    department_code: str | None
    roles: dict
    data: dict


def _owing(inst) -> _Owing:
    data, roles = inst.data or {}, inst.roles or {}
    return _Owing(inst.id, inst.department_code, {"employer": roles.get("employer")},
                  {"payment_basis": data.get("payment_basis"), "funding_source": data.get("funding_source")})


def _contracts_and_filings(session: Session, scope: ReportScope) -> tuple[dict, dict]:
    """The `contracts` and `filings` sections: counted in SQL over contract_deadlines (the business days and the
    last days of the signing and filing periods, typed), one index range of the month each (on PostgreSQL the
    index alone: migration 0018)."""
    d = ContractDeadline

    def in_month(column):
        return and_(column >= scope.first_day, column <= scope.last_day)

    def n(*conditions):
        return func.count(case((and_(*conditions), 1)))

    awarded = session.scalar(select(func.count()).where(_in_departments(scope, ContractDeadline.department_code), in_month(d.awarded_on))) or 0
    signed = session.execute(select(func.count(), n(d.sign_last_day.is_not(None), d.signed_on <= d.sign_last_day),
                                    n(d.sign_last_day.is_not(None), d.signed_on > d.sign_last_day))
                             .where(_in_departments(scope, ContractDeadline.department_code), in_month(d.signed_on))).one()
    filed = session.execute(select(func.count(), n(d.file_last_day.is_not(None), d.filed_on <= d.file_last_day),
                                   n(d.file_last_day.is_not(None), d.filed_on > d.file_last_day))
                            .where(_in_departments(scope, ContractDeadline.department_code), in_month(d.filed_on))).one()
    return (dict(zip(("awarded", "signed", "signed_on_time", "signed_late"), (awarded, *signed))),
            dict(zip(("filed", "on_time", "late"), filed)))


def _held_past_release(session: Session, scope: ReportScope) -> dict:
    """The `held_past_release` section: the deposits whose release deadline (typed in contract_deadlines) had passed
    by the month's end and that no release dated on or before its last day ended, found in SQL; their amounts
    (rates of the contract amount, unrounded until the total) from the data of those contracts only."""
    d = ContractDeadline
    cancelled = select(Instance.id).where(Instance.status == text("'cancelled'"))  # ix_instances_cancelled

    def held(kind: str):
        due, released = getattr(d, f"{kind}_release_due_at"), getattr(d, f"{kind}_released_on")
        return and_(due.is_not(None), due <= scope.end, or_(released.is_(None), released > scope.last_day),
                    *((~d.bid_exempt,) if kind == "bid" else ()))

    rows = list(session.execute(select(d.instance_id, *(held(kind) for kind in RELEASES))
                                .where(_in_departments(scope, ContractDeadline.department_code), text(models.RELEASE_DUE),  # ix_contract_deadlines_releases
                                       or_(*(held(kind) for kind in RELEASES)), d.instance_id.not_in(cancelled))))
    by_kind = {kind: {"count": 0, "amount": Decimal(0)} for kind in RELEASES}
    data = {}
    for chunk in _chunks({r[0] for r in rows}):
        data.update(session.execute(select(Instance.id, Instance.data).where(Instance.id.in_(chunk))).all())
    for instance_id, *flags in rows:
        for kind, flag in zip(RELEASES, flags):
            if flag:
                by_kind[kind]["count"] += 1
                by_kind[kind]["amount"] += _guarantee_amount(kind, data[instance_id] or {})
    return _finish_held(by_kind)


def _works_contracts(session: Session, scope: ReportScope):
    """The works contracts in scope (payment terms with an advance, progress payments or a settlement; typed in
    contract_deadlines), not cancelled, with an application (progress or settlement) made by the month's last day,
    as contract rows BATCH at a time in id order: only those can owe beyond their advance."""
    d = ContractDeadline
    cancelled = select(Instance.id).where(Instance.status == "cancelled")
    applied = select(PaymentApplication.instance_id).where(PaymentApplication.applied_at <= scope.last_day)
    ids = sorted(session.scalars(select(d.instance_id).where(_in_departments(scope, ContractDeadline.department_code), d.works_terms,
                                                            d.instance_id.not_in(cancelled), d.instance_id.in_(applied))))
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        rows: list = []
        for part in _chunks(chunk):
            rows.extend(session.execute(select(*INSTANCE_FIELDS).where(Instance.id.in_(part))))
        yield sorted(rows, key=lambda r: r.id)


def _works_owed_all(session: Session, scope: ReportScope) -> list[tuple[_Owing, Decimal, date]]:
    """The works obligations of progress and settlement applications owed at the month's end, which depend on the
    answers as they stood then: worked out per works contract with an application (the rest is SQL)."""
    works_owed: list[tuple[_Owing, Decimal, date]] = []
    for batch in _works_contracts(session, scope):
        lo, hi = batch[0].id, batch[-1].id
        works_owed.extend((_owing(inst), amount, day) for inst, amount, day in
                          _works_owed(session, batch, scope, lambda column: column.between(lo, hi)))
    return works_owed


def build(session: Session, scope: ReportScope, side: list[Session] | tuple = ()) -> dict[str, Any]:
    """The report of `scope`, every section, with the definitions of its figures.

    Its statements run in two groups of about equal cost (each half of the arrears and half of the rest), the
    second on `side`'s session when given (Database.snapshot: the same snapshot, another connection, another
    core), else in turn on `session`. The registered sections run on `session`, in this thread."""
    first = {
        "contracts_and_filings": lambda s: _contracts_and_filings(s, scope),
        "milestones": lambda s: _milestones(s, scope),
        "arrears_sums": lambda s: _arrears_sums(s, scope),
        "works_owed": lambda s: _works_owed_all(s, scope),
        "held_past_release": lambda s: _held_past_release(s, scope),
        **{f"section {name}": (lambda fn: lambda s: fn(s, scope))(fn) for name, fn in SECTIONS.items()},
    }
    second = {
        "contracts_in_scope": lambda s: _contracts_in_scope(s, scope),
        "arrears_contracts": lambda s: _arrears_contracts(s, scope),
        "alerts": lambda s: _alerts(s, scope),
        "credit_records": lambda s: _credit_records(s, scope),
        "leads": lambda s: _leads(s, scope),
    }
    got = side_by_side([session, *side], first, second)
    contracts, filings = got["contracts_and_filings"]
    report: dict[str, Any] = {
        "report": {"month": scope.month, "timezone": "Asia/Shanghai", "start": scope.start.isoformat(),
                   "end": scope.end.isoformat(), "departments": sorted(scope.departments),
                   "contracts_in_scope": got["contracts_in_scope"]},
        "contracts": contracts,
        "filings": filings,
        "milestones": got["milestones"],
        "arrears": _arrears(session, scope, got["works_owed"], got["arrears_sums"], got["arrears_contracts"]),
        "held_past_release": got["held_past_release"],
        "alerts": got["alerts"],
        "credit_records": got["credit_records"],
        "leads": got["leads"],
    }
    definitions = dict(DEFINITIONS)
    for name in SECTIONS:
        report[name] = got[f"section {name}"]
        definitions.update({f"{name}.{k}": v for k, v in SECTION_DEFINITIONS.get(name, {}).items()})
    report["definitions"] = definitions
    return report


@contextlib.contextmanager
def _aggregating(db: Database):
    """The sessions of one snapshot (Database.snapshot: two, side by side on PostgreSQL) that the monthly report and
    the dashboard read in, set for a few large aggregates, for their transactions only: no JIT (it compiled the
    arrears statement for 1 s of CPU to run it in 0.3 s, and each dashboard aggregate for ~100 ms, more than it
    saved), and 64 MB to sort and hash in memory rather than on disk (the contracts owing among 260,000 owed
    milestones, the 330,000 contracts with an open alert, at a million contracts)."""
    with db.snapshot(2) as sessions:
        if db.dialect == "postgresql":
            for session in sessions:
                session.execute(text("SET LOCAL jit = off"))
                session.execute(text("SET LOCAL work_mem = '64MB'"))
        yield sessions


def monthly(db: Database, principal: Principal, month: str, department: str | None = None) -> dict[str, Any]:
    """The monthly report for the caller's scope (or `department`'s subtree, which must lie inside it): every
    figure from one snapshot, its statements on two connections side by side on PostgreSQL (build)."""
    with _aggregating(db) as sessions:
        main = sessions[0]
        return build(main, resolve_scope(main, principal, month, department), sessions[1:])


# ---------------------------------------------------------------- CSV
def flatten(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """(dotted path, scalar) for every leaf; list items are numbered from 0."""
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            out.extend(flatten(item, f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(value, (list, tuple)):
        out = []
        for i, item in enumerate(value):
            out.extend(flatten(item, f"{path}.{i}" if path else str(i)))
        return out
    return [(path, value)]


def to_csv(report: dict[str, Any]) -> str:
    """The report as CSV rows `section,figure,value` (everything but the definitions), UTF-8 with a BOM so
    spreadsheet programs read the Chinese names; formula-like cells neutralised (engine/csv_export.py)."""
    return csv_export.write(["section", "figure", "value"],
                            ([section, path, value] for section, body in report.items() if section != "definitions"
                             for path, value in flatten(body)))


# ---------------------------------------------------------------- the dashboard
AGE_BUCKETS = (("0-7", 0, 7), ("8-30", 8, 30), ("31-90", 31, 90), (">90", 91, math.inf))


# The dashboard is computed in SQL over the open alerts (counts, sums, top-N), never row by row in Python: an
# alert not resolved has no resolved_at (alerts.py sets both together), so its days overdue are counted to now;
# ages and days overdue become bounds on raised_at and due_at worked out here, exact on every backend.
_RANK = case((Alert.severity == "red", 3), (Alert.severity == "orange", 2), else_=1)
# Not resolved, as literal SQL (not a parameter) so that PostgreSQL matches the predicate of the open alerts' partial
# indexes (models.OPEN_ALERT, migration 0017) in every plan, a prepared statement's generic plan included.
OPEN = Alert.status != text("'resolved'")
# What the dashboard reads of a listed alert (plain rows, no ORM entities).
DASHBOARD_ALERT = (Alert.id, Alert.code, Alert.kind, Alert.severity, Alert.status, Alert.business_key,
                   Alert.instance_id, Alert.department_code, Alert.responsible_org, Alert.raised_at, Alert.due_at,
                   Alert.resolved_at, Alert.amount_overdue)


def _days_window(now: datetime, days: int) -> tuple:
    """WHERE clauses: an open alert is exactly `days` days overdue now (alerts.days_overdue: whole days, rounded up)."""
    if days == 0:
        return (Alert.due_at >= now,)
    return (Alert.due_at >= now - timedelta(days=days), Alert.due_at < now - timedelta(days=days - 1))


def _overdue_case(now: datetime):
    """The interest.AGE_BUCKETS label of an alert overdue now (days overdue ≥ 1)."""
    whens = [(Alert.due_at >= now - timedelta(days=hi), label) for label, hi in interest.AGE_BUCKETS if hi is not None]
    return case(*whens, else_=interest.AGE_BUCKETS[-1][0])


def _alert_item(a, age: int, names: dict[str, str], now: datetime) -> dict[str, Any]:
    """One open alert as the dashboard lists it."""
    return {"id": a.id, "code": a.code, "kind": a.kind, "severity": a.severity, "status": a.status,
            "business_key": a.business_key, "instance_id": a.instance_id, "department": a.department_code,
            "responsible_org": a.responsible_org, "responsible_name": names.get(a.responsible_org),
            "raised_at": a.raised_at, "due_at": a.due_at, "age_days": age,
            "days_overdue": alerts.days_overdue(a, now),
            "amount_overdue": money(a.amount_overdue) if a.kind == "arrears" and a.amount_overdue is not None
            else None}


def _top_alerts(session: Session, open_alerts: tuple, now: datetime, limit: int) -> list:
    """The first `limit` open alerts, most severe and most overdue first (then by business key and id): the SQL
    order by due_at stands for days overdue, and the alerts tied with the last one on severity and days overdue
    are all read so that their order by business key is exact. One query per severity, most severe first, each
    read in the order of ix_alerts_open_severity_due until `limit` are found (one sort of every open alert before)."""
    order = (Alert.due_at, Alert.business_key, Alert.id)
    rows: list = []
    for ranked in (Alert.severity == "red", Alert.severity == "orange", Alert.severity.not_in(("red", "orange"))):  # _RANK
        if len(rows) == limit:
            break
        rows += session.execute(select(*DASHBOARD_ALERT).where(*open_alerts, ranked).order_by(*order)
                                .limit(limit - len(rows)))
    if len(rows) == limit:
        last = rows[-1]
        days = alerts.days_overdue(last, now)
        rank = alerts.SEVERITY_RANK[last.severity]
        kept = [r for r in rows if (alerts.SEVERITY_RANK[r.severity], alerts.days_overdue(r, now)) > (rank, days)]
        kept += session.execute(select(*DASHBOARD_ALERT).where(*open_alerts, Alert.severity == last.severity,
                                                                *_days_window(now, days)))
        rows = kept
    rows.sort(key=lambda a: (-alerts.SEVERITY_RANK[a.severity], -alerts.days_overdue(a, now), a.business_key, a.id))
    return rows[:limit]


def _open_alerts_panel(by_severity: dict[str, int], ages: dict[str, dict[str, int]], names: dict[str, str],
                       now: datetime, top: list) -> dict[str, Any]:
    """The open alerts panel: counts by severity and by days overdue (AGE_BUCKETS, counted by _open_alert_groups), and the
    `top` alerts."""
    items = [_alert_item(a, max(0, int((now - a.raised_at) / timedelta(days=1))), names, now) for a in top]
    return {"total": sum(by_severity.values()), "by_severity": by_severity, "by_age": ages,
            "age_buckets": [label for label, _, _ in AGE_BUCKETS], "items": items}


def _at_risk(session: Session, open_alerts: tuple, now: datetime, limit: int) -> list[dict[str, Any]]:
    """The contracts at risk (with an open alert), worst severity, then largest open arrears, then most days
    overdue first (then by business key): the first `limit`, grouped and ordered in SQL (ties on the days
    overdue read whole, as in _top_alerts, so the SQL order needs no business key); the business key and department
    are read for the listed contracts only (text aggregates over every contract with an open alert cost a fifth)."""
    worst, first_due = func.max(_RANK), func.min(Alert.due_at)
    arrears = func.coalesce(func.sum(case((Alert.kind == "arrears", type_coerce(Alert.amount_overdue, BigInteger)))), 0)
    columns = (Alert.instance_id, worst.label("worst"), func.count().label("open_alerts"), first_due.label("first_due"),
               arrears.label("arrears_fen"))
    grouped = select(*columns).where(*open_alerts).group_by(Alert.instance_id)

    def days_of(r) -> int:
        return 0 if now <= r.first_due else math.ceil((now - r.first_due) / timedelta(days=1))

    rows = list(session.execute(grouped.order_by(worst.desc(), arrears.desc(), first_due).limit(limit)))
    if len(rows) == limit:
        last = rows[-1]
        days = days_of(last)
        key = (last.worst, last.arrears_fen, days)
        kept = [r for r in rows if (r.worst, r.arrears_fen, days_of(r)) != key]
        window = (first_due >= now) if days == 0 else and_(first_due >= now - timedelta(days=days),
                                                          first_due < now - timedelta(days=days - 1))
        # Only contracts with an open alert due in that day can have their earliest deadline in it: grouped alone.
        tied = select(Alert.instance_id).where(*open_alerts, *_days_window(now, days))
        kept += session.execute(grouped.where(Alert.instance_id.in_(tied))
                                .having(and_(worst == last.worst, arrears == last.arrears_fen, window)))
        rows = kept
    keys = {r.instance_id: r for r in session.execute(
        select(Alert.instance_id, func.min(Alert.business_key).label("business_key"),
               func.min(Alert.department_code).label("department"))
        .where(*open_alerts, Alert.instance_id.in_([r.instance_id for r in rows] or [""])).group_by(Alert.instance_id))}
    rows.sort(key=lambda r: (-r.worst, -r.arrears_fen, -days_of(r), keys[r.instance_id].business_key))
    rows = rows[:limit]
    instances = {i.id: i for i in session.execute(select(Instance.id, Instance.data, Instance.roles)
                                                  .where(Instance.id.in_([r.instance_id for r in rows] or [""])))}
    out = []
    for r in rows:
        inst = instances.get(r.instance_id)
        out.append({"business_key": keys[r.instance_id].business_key, "instance_id": r.instance_id,
                    "department": keys[r.instance_id].department,
                    "project_name": (inst.data or {}).get("project_name") if inst else None,
                    "employer": (inst.roles or {}).get("employer") if inst else None,
                    "contractor": (inst.roles or {}).get("contractor") if inst else None,
                    "worst_severity": SEVERITIES[r.worst - 1], "open_alerts": r.open_alerts,
                    "max_days_overdue": days_of(r), "arrears": Money().process_result_value(int(r.arrears_fen), None)})
    return out


# The bounds (days overdue) of both kinds of age bucket, AGE_BUCKETS and interest.AGE_BUCKETS: an open alert falls in
# exactly one span between two of them, and each span lies inside one bucket of each kind.
_SPANS = sorted({0} | {hi for _, _, hi in AGE_BUCKETS if hi != math.inf}
                | {hi for _, hi in interest.AGE_BUCKETS if hi is not None})


def _span_case(now: datetime):
    """The index in _SPANS of the first bound an open alert's days overdue now do not exceed (len(_SPANS) past the
    last). Days overdue as alerts.days_overdue counts them (whole days after the deadline, rounded up, 0 while not yet
    due), never the days since the alert was raised: an alert raised as a pre-warning (yellow, 3 days before) or for a
    backdated contract (raised today, 200 days overdue) is counted by how late the obligation is.
    days_overdue ≤ hi ⟺ due_at ≥ now − hi days."""
    return case(*[(Alert.due_at >= now - timedelta(days=hi), i) for i, hi in enumerate(_SPANS)], else_=len(_SPANS))


def _span_labels(span: int) -> tuple[str, str | None]:
    """(AGE_BUCKETS label, interest.AGE_BUCKETS label or None while not yet due) of a _span_case index."""
    days = _SPANS[span] if span < len(_SPANS) else math.inf
    age = next((label for label, _, hi in AGE_BUCKETS if days <= hi), AGE_BUCKETS[-1][0])
    overdue = None if days == 0 else next((label for label, hi in interest.AGE_BUCKETS if hi is not None and days <= hi),
                                          interest.AGE_BUCKETS[-1][0])
    return age, overdue


_SPAN_LABELS = tuple(_span_labels(span) for span in range(len(_SPANS) + 1))


def _age_buckets() -> dict[str, dict[str, Any]]:
    return {label: {"amount": Decimal(0), "alerts": 0} for label, _ in interest.AGE_BUCKETS}


def _open_alert_groups(session: Session, open_alerts: tuple, now: datetime) -> dict[str, Any]:
    """One pass over the open alerts for the counts and sums of three panels: grouped in SQL by severity, span of
    days overdue (_span_case) and, for arrears, the responsible employer ("" for none) — 14,816 groups at a million
    contracts — and folded here into
    * the open alerts by severity and by AGE_BUCKETS;
    * the arrears by employer: open arrears alerts' amount_overdue per employer (none and "" left out), owing > 0,
      largest first (then by code, in Python's order of strings: the same on every backend);
    * the arrears by age (interest.AGE_BUCKETS, overdue alerts with an amount), in total and per employer.
    Each panel read the alerts once before (four passes with the funding sources, 1.4 s at a million)."""
    org = case((Alert.kind == "arrears", func.coalesce(Alert.responsible_org, "")))
    # Grouped on a subquery's columns: PostgreSQL does not match a CASE with parameters in GROUP BY.
    sub = (select(Alert.severity.label("severity"), _span_case(now).label("span"), org.label("org"),
                  Alert.amount_overdue.label("amount")).where(*open_alerts).subquery())
    by_severity = _severity_counts()
    ages = {s: {label: 0 for label, _, _ in AGE_BUCKETS} for s in SEVERITIES}
    owing: dict[str, Decimal] = defaultdict(Decimal)
    total, by_emp = _age_buckets(), defaultdict(_age_buckets)
    for severity, span, code, n, amount, with_amount in session.execute(
            select(sub.c.severity, sub.c.span, sub.c.org, func.count(), func.sum(sub.c.amount), func.count(sub.c.amount))
            .group_by(sub.c.severity, sub.c.span, sub.c.org)):
        age, overdue = _SPAN_LABELS[span]
        by_severity[severity] += n
        ages[severity][age] += n
        if code is None or amount is None:  # not arrears, or no amount
            continue
        if code:
            owing[code] += amount
        if overdue is not None:
            for b in (total, by_emp[code]):
                b[overdue]["amount"] += amount
                b[overdue]["alerts"] += with_amount
    employers = sorted(((code, amount) for code, amount in owing.items() if amount > 0), key=lambda e: (-e[1], e[0]))
    return {"by_severity": by_severity, "ages": ages, "employers": employers, "age_total": total, "age_by_emp": by_emp}


def _arrears_by_funding_source(session: Session, open_alerts: tuple, now: datetime) -> dict[str, dict]:
    """The open arrears alerts overdue now with an amount, amount_overdue and count by days overdue
    (interest.AGE_BUCKETS) per the contract's funding source ("unknown" where it declared none), which each alert
    copied when raised: summed in SQL from ix_alerts_open_instance alone (it joined 235,000 contracts before, 0018)."""
    by_fund: dict[str, dict] = defaultdict(_age_buckets)
    fund = func.coalesce(Alert.funding_source, "unknown")  # the contract's, copied when raised (models.Alert)
    sub = (select(fund.label("fund"), _overdue_case(now).label("bucket"), Alert.amount_overdue.label("amount"))
           .where(*open_alerts, Alert.kind == "arrears", Alert.amount_overdue.is_not(None), Alert.due_at < now)
           .subquery())
    for source, label, amount, n in session.execute(select(sub.c.fund, sub.c.bucket, func.sum(sub.c.amount), func.count())
                                                    .group_by(sub.c.fund, sub.c.bucket)):
        by_fund[source][label]["amount"] += amount
        by_fund[source][label]["alerts"] += n
    return by_fund


def dashboard(db: Database, principal: Principal, limit: int = 200) -> dict[str, Any]:
    """What a supervisor's dashboard shows now: open alerts visible to the caller by severity and age, the
    arrears open by employer (the ledger's arrears_amount: open arrears alerts' amounts) and the contracts
    at risk (with an open alert), worst first. Counted in SQL; only the listed alerts and contracts are read."""
    if principal.role not in ("admin", "operator", "supervisor"):
        raise Forbidden("the dashboard is for the supervising departments and the trading centre")
    now = clock.now()
    # Passes over the open alerts (373,000 at a million contracts) in two groups of about equal cost, side by side on
    # two connections that share one snapshot (Database.snapshot), so that the panels agree with each other.
    with _aggregating(db) as sessions:
        open_alerts = (alerts.visible_filter(principal), OPEN)
        got = side_by_side(sessions,
                           {"top": lambda s: _top_alerts(s, open_alerts, now, limit),
                            "at_risk": lambda s: _at_risk(s, open_alerts, now, limit),
                            "extra": lambda s: cases.dashboard_figures(s, principal)},
                           {"groups": lambda s: _open_alert_groups(s, open_alerts, now),
                            "age_by_fund": lambda s: _arrears_by_funding_source(s, open_alerts, now)})
        session = sessions[0]
        top, at_risk, groups, age_by_fund, extra = (got[k] for k in ("top", "at_risk", "groups", "age_by_fund", "extra"))
        employers, age_total, age_by_emp = groups["employers"], groups["age_total"], groups["age_by_emp"]
        names = _names(session, {a.responsible_org for a in top} | {code for code, _ in employers} | set(age_by_emp)
                       | {c[role] for c in at_risk for role in ("employer", "contractor")})
        panel = _open_alerts_panel(groups["by_severity"], groups["ages"], names, now, top)
    for c in at_risk:
        c["arrears"] = money(c["arrears"])
        c["employer_name"], c["contractor_name"] = names.get(c["employer"]), names.get(c["contractor"])

    def out(b):
        return {label: {"amount": money(v["amount"]), "alerts": v["alerts"]} for label, v in b.items()}

    return {
        "generated_at": now,
        "open_alerts": panel,
        "arrears_by_employer": [{"org": code, "name": names.get(code), "amount": money(amount)} for code, amount in employers],
        "arrears_by_age": {"buckets": [label for label, _ in interest.AGE_BUCKETS], "total": out(age_total),
                           "by_employer": [{"org": code, "name": names.get(code), "by_age": out(b)}
                                           for code, b in sorted(age_by_emp.items())],
                           "by_funding_source": [{"funding_source": code, "by_age": out(b)}
                                                 for code, b in sorted(age_by_fund.items())]},
        "contracts_at_risk": at_risk,
        # Supervision cases by stage, overdue rectifications, objections, records in the public library (issue 18).
        **extra,
    }


# ================================================================ the "guarantees" section (engine/bootstrap.py)
# The seed's indicators, moved here from the guarantee ledger: registered by the composition root as the
# section "guarantees" with its definitions (register_section).
def _indicator_scope(scope: Any) -> tuple[date, date, set[str] | None]:
    """(first day, last day, department codes or None for all) from a report scope: this module's
    ReportScope, or a mapping with `month` ("YYYY-MM" or a date in it) and optionally `departments` (codes) or
    `department` (one code)."""
    get = (lambda k: scope.get(k)) if isinstance(scope, Mapping) else (lambda k: getattr(scope, k, None))
    month = get("month")
    if isinstance(month, date):
        first = month.replace(day=1)
    else:
        try:
            first = date.fromisoformat(f"{month}-01")
        except (TypeError, ValueError):
            raise Invalid("month is YYYY-MM", {"month": ["a month written YYYY-MM, e.g. 2026-10"]}) from None
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    depts = get("departments")
    if depts is None and get("department"):
        depts = [get("department")]
    return first, last, (set(depts) if depts is not None else None)


def _summoney(column):
    """SUM of a money column in SQL (over integer fen, so exact), 0.00 over no rows."""
    return func.coalesce(func.sum(column), Decimal(0))


def _in_scope(column, depts: set[str] | None):
    return column.in_(sorted(depts)) if depts is not None else true()


GUARANTEE_INDICATORS = {
    "e_guarantees.count": "Electronic guarantees of contracts in scope that came into force in the month (China time): "
                          "verified by their issuer (verify_guarantee or its signed callback) or posted electronically "
                          "(a bid bond given as e_guarantee, counted on the award notice date).",
    "e_guarantees.cash_replaced": "The sum of their amounts: the cash deposits they stand in for (CNY).",
    "e_guarantees.by_kind": "The same, per kind of guarantee (bid, performance, advance_payment, quality, payment).",
    "exemptions.count": "Securities waived or reduced by a credit offset (rules CR01, CR02 …), counted on the award "
                        "notice date.",
    "exemptions.freed": "The deposit money they freed: the whole bond for an exemption, the part waived for a reduction.",
    "contracts.signed": "Contracts in scope whose signing date (signed_at) lies in the month.",
    "contracts.filed_online": "Contracts in scope filed through Lvyue (file_contract) with a filing date in the month.",
    "payments.count": "Payments recorded with a payment date (paid_at) in the month; amount their sum.",
    "payments.with_invoice": "Those of them whose milestone carries an invoice the contractor submitted.",
    "alerts.raised": "Alerts raised in the month (any severity, by the instant raised), by kind.",
    "alerts.leads_transferred": "Leads handed to discipline inspection in the month: red alerts a department confirmed "
                                "(the lead written, by its creation instant).",
}


def guarantee_indicators(session: Session, scope: Any) -> dict[str, Any]:
    """The seed's indicators of one month (China time) for the departments of `scope`:

    * `e_guarantees`: electronic guarantees that came into force in the month (issuer-verified, or posted
      electronically), with the cash deposits they replaced (their amounts), by kind;
    * `exemptions`: securities a credit offset waived in the month (by the award notice date), with the deposit
      money freed, by rule;
    * `contracts`: contracts signed in the month (`signed_at`) and filed online in it (`filed_at`);
    * `payments`: payments made in the month (`paid_at`), and those of a milestone the contractor invoiced;
    * `alerts`: alerts raised in the month, by kind, and the leads transferred to discipline inspection
      (written when a department confirmed a red alert).
    Money as decimal strings."""
    first, last, depts = _indicator_scope(scope)
    # The contracts in scope by the department contract_deadlines copies (a narrow table; not a lookup per row
    # into instances): for a report scope exactly its contracts, for a mapping those of its departments.
    # Guarantees, alerts and leads copy their contract's department (fixed when it starts), so the scope is a
    # condition on their own column; payments have none and are matched through contract_deadlines.
    d = ContractDeadline
    every = isinstance(scope, ReportScope) and scope.every_department
    by_department = true() if every else _in_scope(d.department_code, depts)
    in_depts = select(d.instance_id).where(by_department)
    in_scope = lambda column_instance, column_dept: true() if every else _in_scope(column_dept, depts)  # noqa: E731
    start = deadlines.end_of_day(first - timedelta(days=1))
    end = deadlines.end_of_day(last)
    guarantees_in_month = (Guarantee.activated_on >= first, Guarantee.activated_on <= last,
                           in_scope(Guarantee.instance_id, Guarantee.department_code))

    by_kind: dict[str, dict[str, Any]] = {}
    for kind, n, amount in session.execute(select(Guarantee.kind, func.count(), _summoney(Guarantee.amount)).where(
            Guarantee.electronic.is_(True), *guarantees_in_month).group_by(Guarantee.kind)):
        by_kind[kind] = {"count": n, "cash_replaced": amount}
    e_total = {"count": sum(e["count"] for e in by_kind.values()),
               "cash_replaced": money(sum((e["cash_replaced"] for e in by_kind.values()), Decimal(0)))}

    by_rule: dict[str, dict[str, Any]] = {}
    for rule, n, freed in session.execute(select(Guarantee.exemption_rule, func.count(), _summoney(Guarantee.freed_amount))
                                          .where(Guarantee.exempt_percent.is_not(None), *guarantees_in_month)
                                          .group_by(Guarantee.exemption_rule)):
        entry = by_rule.setdefault(rule or "unknown", {"count": 0, "freed": Decimal(0)})
        entry["count"] += n
        entry["freed"] += freed

    # Signed and filed in the month: the first ten characters of signed_at / filed_at between the month's first and
    # last days as text, as typed in contract_deadlines (obligations.text_month), counted over two indexes.
    signed, filed = (session.scalar(select(func.count()).where(by_department, column == first)) or 0
                     for column in (d.signed_month, d.filed_month))

    invoiced = select(Invoice.id).where(Invoice.instance_id == Payment.instance_id,
                                        Invoice.milestone_no == Payment.milestone_no).exists()
    paid, paid_invoiced = (session.execute(select(func.count(), _summoney(Payment.amount)).where(
        Payment.paid_at >= first, Payment.paid_at <= last, *(() if every else (Payment.instance_id.in_(in_depts),)),
        *extra)).one()
        for extra in ((), (invoiced,)))

    raised: dict[str, int] = {}
    for kind, n in session.execute(select(Alert.kind, func.count()).where(
            Alert.raised_at >= start, Alert.raised_at < end,
            in_scope(Alert.instance_id, Alert.department_code)).group_by(Alert.kind)):
        raised[kind] = n
    leads = _leads_transferred(session, start, end, in_scope(Lead.instance_id, Lead.department_code))

    return {
        "month": first.strftime("%Y-%m"),
        "e_guarantees": {"by_kind": {k: {"count": v["count"], "cash_replaced": money(v["cash_replaced"])}
                                     for k, v in sorted(by_kind.items())}, **e_total},
        "exemptions": {"count": sum(v["count"] for v in by_rule.values()),
                       "freed": money(sum((v["freed"] for v in by_rule.values()), Decimal(0))),
                       "by_rule": {k: {"count": v["count"], "freed": money(v["freed"])} for k, v in sorted(by_rule.items())}},
        "contracts": {"signed": signed, "filed_online": filed},
        "payments": {"count": paid[0], "amount": money(paid[1]),
                     "with_invoice": {"count": paid_invoiced[0], "amount": money(paid_invoiced[1])}},
        "alerts": {"raised": sum(raised.values()), "by_kind": dict(sorted(raised.items())), "leads_transferred": leads},
    }


def _leads_transferred(session: Session, start: datetime, end: datetime, in_scope) -> int:
    return session.scalar(select(func.count()).select_from(Lead).where(
        Lead.created_at >= start, Lead.created_at < end, in_scope)) or 0
