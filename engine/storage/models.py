"""The persistent records of Lvyue (SQLAlchemy 2 mappings).

Big things live here, not in SpiffWorkflow task data (ARCHITECTURE.md §3): task data carries ids and
small values, while the rows below hold what the API lists and queries — READY tasks, waiting timers,
the audit trail — so that listing never deserializes a workflow.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, Computed, Date, ForeignKey, Index, Integer, Numeric, String, Text,
                        UniqueConstraint, literal_column, text)
from sqlalchemy.orm import Mapped, mapped_column

from engine.storage.db import Base, Money, UTCDateTime


class Department(Base):
    """A supervising department (监管部门): 住建, 交通, 水利, 财政 … and who it escalates to."""

    __tablename__ = "departments"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    escalates_to: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    webhook_secret: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Organisation(Base):
    """A market entity that can hold a contract role: employer, contractor, guarantor."""

    __tablename__ = "organisations"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_rating: Mapped[str | None] = mapped_column(String(8))
    sme: Mapped[bool] = mapped_column(Boolean, default=False)
    # 机关、事业单位: the SME payment regulation caps what such a buyer may agree (P01).
    public_body: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # 大型企业 (e.g. an SOE): paying an SME it has 60 days unless agreed (P02).
    large_enterprise: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # 统一社会信用代码 (GB 32100-2015), shown and searched in the public credit library.
    uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    org_code: Mapped[str | None] = mapped_column(ForeignKey("organisations.code"))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Sign-in with a password (engine/access/passwords.py): werkzeug's scrypt hash, never the password; NULL: none
    # set (the user signs in with a token only). Consecutive failures and the end of a lockout bound guessing.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A browser session opened by signing in with a password: only the SHA-256 of its cookie is stored."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Token(Base):
    """An API token; only its SHA-256 is stored."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Definition(Base):
    """One deployed version of a process definition: its XML and its parsed spec, stored once."""

    __tablename__ = "definitions"
    __table_args__ = (UniqueConstraint("key", "version"), Index("ix_definitions_key_sha", "key", "sha256"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    # Deferred: a step needs none of them once the spec and the model are cached in memory.
    xml: Mapped[str] = mapped_column(Text, deferred=True)
    spec: Mapped[str] = mapped_column(Text, deferred=True)
    model_json: Mapped[dict[str, Any]] = mapped_column("model", JSON, deferred=True)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deployed_by: Mapped[str | None] = mapped_column(String(200))

    @property
    def model(self) -> dict[str, Any]:
        """The lint model (forms, alerts, partitions …), parsed once per process: a version never changes.
        Shared between sessions and threads, so read-only."""
        if self.id is None:
            return self.model_json
        key = (self.id, self.sha256)
        model = _MODELS.get(key)
        if model is None:
            model = _MODELS[key] = self.model_json
        return model


_MODELS: dict[tuple[int, str], dict[str, Any]] = {}


class Instance(Base):
    """A contract under supervision: one running process instance and its serialized state."""

    __tablename__ = "instances"
    __table_args__ = (Index("ix_instances_created_at_id", "created_at", "id"),
                      # The dashboard's arrears by funding source read it from here, not the table (migration 0017).
                      Index("ix_instances_id_funding_source", "id", postgresql_include=["funding_source"]),
                      # The cancelled contracts the report's arrears and deposits leave out, from the index alone (0018).
                      Index("ix_instances_cancelled", "id", postgresql_where=text("status = 'cancelled'"),
                            sqlite_where=text("status = 'cancelled'")))
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    business_key: Mapped[str] = mapped_column(String(200), unique=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("definitions.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    roles: Mapped[dict[str, Any]] = mapped_column(JSON)
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Deferred: 30–50 KB that only a step on the main workflow reads (lists, views, part steps do not).
    state: Mapped[str] = mapped_column(Text, deferred=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(200))
    # The head of the audit chain, written with every append: deleting the newest events (or the
    # whole chain) leaves a chain that no longer reaches its recorded head.
    audit_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    audit_head: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    # The funding source the contract declared at the start (`data`'s funding_source), kept by the database itself
    # (a generated column: nothing writes it), so that the dashboard groups arrears by it without parsing every
    # contract's JSON (migration 0017: stored on PostgreSQL, virtual on SQLite).
    funding_source: Mapped[str | None] = mapped_column(
        String(64), Computed(literal_column("data", JSON)["funding_source"].as_string(), persisted=True))

    __mapper_args__ = {"version_id_col": version}


class TaskRow(Base):
    """A user task of an instance as the API lists it (READY, then COMPLETED or CANCELLED)."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_state_org", "state", "assignee_org"), Index("ix_tasks_instance_state", "instance_id", "state"),
                      Index("ix_tasks_part_id", "part_id"), Index("ix_tasks_element_due", "element_id", "due_at"))
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"))
    part_id: Mapped[str | None] = mapped_column(String(36))
    item_no: Mapped[int | None] = mapped_column(Integer)  # the milestone (partition item) it belongs to
    element_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(500))
    lane: Mapped[str | None] = mapped_column(String(50))
    assignee_org: Mapped[str | None] = mapped_column(String(64))
    assignee_department: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[str | None] = mapped_column(String(200))


class Timer(Base):
    """A waiting BPMN timer; the database, not memory, decides when it fires (ARCHITECTURE.md §4)."""

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_status_due", "status", "due_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"), index=True)
    part_id: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20))
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fired_by: Mapped[str | None] = mapped_column(String(100))
    lag_ms: Mapped[int | None] = mapped_column(BigInteger)


class AuditEvent(Base):
    """One entry of an instance's append-only, hash-chained audit trail."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("instance_id", "seq"), Index("ix_audit_events_action_at", "action", "at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(String(36), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    element_id: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Party(Base):
    """Who holds which role in a contract (招标人/采购人 employer, 中标人 contractor, guarantor): one row per
    organisation holding it. A role is held by one organisation, except the contractor's when a consortium
    (联合体) won: one row per member, the lead member being the one `Instance.roles` names."""

    __tablename__ = "instance_parties"
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)
    org_code: Mapped[str] = mapped_column(ForeignKey("organisations.code"), primary_key=True, index=True)


OPEN_ALERT = "status <> 'resolved'"
# What the dashboard reads of an open alert, held in ix_alerts_open_instance on PostgreSQL (an index-only scan).
OPEN_ALERT_COLUMNS = ("severity", "kind", "due_at", "amount_overdue", "department_code", "escalated_to",
                      "responsible_org", "business_key", "funding_source")


class Alert(Base):
    """A supervision warning: arrears (欠款) or non-performance (未履约), one per obligation.

    Its identity is (instance, awaited element, occurrence): the severity rises in place as the
    obligation ages (yellow → orange → red) while `due_at` stays the deadline.
    """

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("instance_id", "element_id", "occurrence"),
                      Index("ix_alerts_dept_status", "department_code", "status"),
                      Index("ix_alerts_org_status", "responsible_org", "status"),
                      Index("ix_alerts_raised_at_id", "raised_at", "id"),
                      # The monthly report's counts of the month's alerts, from the indexes alone on PostgreSQL (0018).
                      Index("ix_alerts_resolved_at", "resolved_at",
                            postgresql_include=["code", "severity", "department_code", "raised_at"]),
                      Index("ix_alerts_raised_at_report", "raised_at",
                            postgresql_include=["code", "first_severity", "severity", "kind", "department_code"]),
                      Index("ix_alerts_orange_at", "orange_at", postgresql_include=["code", "department_code"],
                            postgresql_where=text("orange_at IS NOT NULL"), sqlite_where=text("orange_at IS NOT NULL")),
                      Index("ix_alerts_red_at", "red_at",
                            postgresql_include=["id", "code", "first_severity", "severity", "department_code",
                                                "escalated_to"],
                            postgresql_where=text("red_at IS NOT NULL"), sqlite_where=text("red_at IS NOT NULL")),
                      Index("ix_alerts_severity_updated_at", "severity", "updated_at"),
                      # The open alerts alone, for the dashboard (migration 0017; reports.OPEN matches the predicate).
                      Index("ix_alerts_open_instance", "instance_id", postgresql_include=list(OPEN_ALERT_COLUMNS),
                            postgresql_where=text(OPEN_ALERT), sqlite_where=text(OPEN_ALERT)),
                      Index("ix_alerts_open_severity_due", "severity", "due_at", "business_key", "id",
                            postgresql_where=text(OPEN_ALERT), sqlite_where=text(OPEN_ALERT)))
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"), index=True)
    business_key: Mapped[str] = mapped_column(String(200))
    element_id: Mapped[str] = mapped_column(String(200))
    occurrence: Mapped[str] = mapped_column(String(64))
    awaited_task_id: Mapped[str | None] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(64), index=True)
    severity: Mapped[str] = mapped_column(String(10))
    # How it rose (migration 0018; written by alerts.raise_from_throw, as its alert_* audit events tell): the
    # severity it was raised at, the instant it rose from yellow to orange, the instant it turned red.
    first_severity: Mapped[str | None] = mapped_column(String(10))
    orange_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    red_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    department_code: Mapped[str | None] = mapped_column(String(64))
    # The funding source its contract declared at the start (data's funding_source, set at the start only:
    # contract_terms), copied when raised like its department (migration 0018): the dashboard's arrears by
    # funding source read the open alerts alone.
    funding_source: Mapped[str | None] = mapped_column(String(64))
    escalated_to: Mapped[str | None] = mapped_column(String(64))
    responsible_role: Mapped[str | None] = mapped_column(String(20))
    responsible_org: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    amount_overdue: Mapped[Decimal | None] = mapped_column(Money)
    legal_basis: Mapped[str | None] = mapped_column(String(500))
    # The late-payment interest its amount carries, % a day, fixed when raised from the contract's payment basis
    # (engine/supervision/interest.py rate_for); NULL when no rate applies (or not an arrears alert).
    interest_rate: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    status: Mapped[str] = mapped_column(String(20))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str | None] = mapped_column(Text)
    due_rule: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Incident(Base):
    """A timer (or delivery) that failed its last retry: visible in the API until retried."""

    __tablename__ = "incidents"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    instance_id: Mapped[str | None] = mapped_column(String(36), index=True)
    timer_id: Mapped[str | None] = mapped_column(String(36))
    outbox_id: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Outbox(Base):
    """A side effect written in the step's transaction and delivered after commit (webhooks)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    department_code: Mapped[str] = mapped_column(String(64), index=True)
    alert_id: Mapped[str | None] = mapped_column(String(36))
    event: Mapped[str] = mapped_column(String(50))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CalendarYear(Base):
    """One year of the official holiday schedule (国务院办公厅 notice), with its make-up workdays."""

    __tablename__ = "calendar_years"
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    holidays: Mapped[list[str]] = mapped_column(JSON)
    workdays: Mapped[list[str]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(200))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InstancePart(Base):
    """One partition of an instance: a small workflow of its own (e.g. one payment milestone).

    A contract with a hundred milestones keeps a hundred small workflows instead of one huge task
    tree, so a step costs the same in milestone 1 and milestone 100 (ARCHITECTURE.md §3).
    """

    __tablename__ = "instance_parts"
    __table_args__ = (UniqueConstraint("instance_id", "element_id", "item_no"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"), index=True)
    element_id: Mapped[str] = mapped_column(String(200))
    process_id: Mapped[str] = mapped_column(String(200))
    item_no: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BufferedMessage(Base):
    """A message that arrived before the process waited for it; delivered when it does."""

    __tablename__ = "messages"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_by: Mapped[str] = mapped_column(String(200))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Payment(Base):
    """A payment recorded by the employer against a milestone (付款)."""

    __tablename__ = "payments"
    # The month's payments counted and summed from the index alone (the report's guarantees section, 0018).
    __table_args__ = (Index("ix_payments_paid_at", "paid_at", postgresql_include=["amount", "instance_id"]),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"), index=True)
    part_id: Mapped[str | None] = mapped_column(String(36))
    milestone_no: Mapped[int | None] = mapped_column(Integer)
    paid_at: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    voucher_no: Mapped[str | None] = mapped_column(String(200))
    payer: Mapped[str | None] = mapped_column(String(64))
    payee: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(200))
    # What it pays: a milestone (milestone_no), or a works contract's advance, progress payment or settlement,
    # `reference` naming the application (its document hash) for the last two.
    kind: Mapped[str] = mapped_column(String(16), default="milestone", server_default="milestone")
    reference: Mapped[str | None] = mapped_column(String(64))


UNPAID_COLUMNS = ("instance_id", "milestone_no", "department_code", "employer", "funding_source", "amount", "last_day",
                  "interest_micro_percent", "paid", "last_paid_on")


class PaymentObligation(Base):
    """A payment milestone of a contract in typed columns (engine/supervision/obligations.py keeps it in step with
    the contract's data and its record_payment task), so that the monthly report sums arrears in SQL instead of
    reading every contract's JSON. One row per milestone of a positive amount; what the report reads of the
    contract is copied here (department, employer, funding source) and the late-payment rate fixed with its payment
    basis, in millionths of a percent a day (50000 = P05's 0.05 %), NULL when none applies; and what was paid on
    it (payments: total, latest date, the day it was paid in full), so that arrears at a month's end read the
    payments of the milestones not paid in full by then and paid after it only."""

    __tablename__ = "payment_obligations"
    __table_args__ = (Index("ix_payment_obligations_last_day", "last_day",
                            postgresql_include=["milestone_no", "department_code"]),
                      Index("ix_payment_obligations_paid_in_full_on", "paid_in_full_on",
                            postgresql_include=["last_day", "milestone_no", "department_code"]),
                      # The milestones paid in full late, with what the report's arrears read of them (0018).
                      Index("ix_payment_obligations_paid_late", "paid_in_full_on",
                            postgresql_include=["due_at", *UNPAID_COLUMNS],
                            postgresql_where=text("paid_in_full_on > last_day"),
                            sqlite_where=text("paid_in_full_on > last_day")),
                      # The milestones never paid in full, with what the report's arrears read of them (0018).
                      Index("ix_payment_obligations_unpaid", "due_at", postgresql_include=list(UNPAID_COLUMNS),
                            postgresql_where=text("paid_in_full_on IS NULL"),
                            sqlite_where=text("paid_in_full_on IS NULL")))
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True)
    milestone_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_code: Mapped[str | None] = mapped_column(String(64))
    employer: Mapped[str | None] = mapped_column(String(64))
    funding_source: Mapped[str | None] = mapped_column(String(40))
    amount: Mapped[Decimal] = mapped_column(Money)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the record_payment task's (earliest) deadline
    last_day: Mapped[date | None] = mapped_column(Date)  # its last day, China time
    interest_micro_percent: Mapped[int | None] = mapped_column(BigInteger)
    # Its milestone payments so far: the total, the latest payment's date, the date the total reached the amount.
    paid: Mapped[Decimal] = mapped_column(Money)
    last_paid_on: Mapped[date | None] = mapped_column(Date)
    paid_in_full_on: Mapped[date | None] = mapped_column(Date)


RELEASE_DUE = ("bid_release_due_at IS NOT NULL OR performance_release_due_at IS NOT NULL "
               "OR quality_release_due_at IS NOT NULL")


class ContractDeadline(Base):
    """A contract's business dates and the deadlines the engine set on its signing, filing and release tasks, in
    typed columns (engine/supervision/obligations.py keeps it in step), so that the monthly report counts the
    contracts awarded, signed and filed in a month and finds the deposits held past their release deadline in
    SQL. One row per contract: the award notice, signing, filing and release dates its data holds (China-time
    days), the last day of the signing and filing periods, the release tasks' deadlines (instants), whether its
    bid bond is exempt and whether it is a works contract with payment terms (advance, progress, settlement); and
    the first day of the month the report's `guarantees` section counts its signing and filing in (the text of
    signed_at / filed_at read as that section always has: obligations.text_month)."""

    __tablename__ = "contract_deadlines"
    # Each month's count from an index alone on PostgreSQL (0018); the contracts with a release deadline apart.
    __table_args__ = (Index("ix_contract_deadlines_awarded_on", "awarded_on", postgresql_include=["department_code"]),
                      Index("ix_contract_deadlines_signed_on", "signed_on",
                            postgresql_include=["sign_last_day", "department_code"]),
                      Index("ix_contract_deadlines_filed_on", "filed_on",
                            postgresql_include=["file_last_day", "department_code"]),
                      Index("ix_contract_deadlines_signed_month", "signed_month", postgresql_include=["department_code"]),
                      Index("ix_contract_deadlines_filed_month", "filed_month", postgresql_include=["department_code"]),
                      Index("ix_contract_deadlines_releases", "instance_id", postgresql_where=text(RELEASE_DUE),
                            sqlite_where=text(RELEASE_DUE)))
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True)
    department_code: Mapped[str | None] = mapped_column(String(64))
    awarded_on: Mapped[date | None] = mapped_column(Date)
    signed_on: Mapped[date | None] = mapped_column(Date)
    sign_last_day: Mapped[date | None] = mapped_column(Date)
    filed_on: Mapped[date | None] = mapped_column(Date)
    file_last_day: Mapped[date | None] = mapped_column(Date)
    bid_release_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bid_released_on: Mapped[date | None] = mapped_column(Date)
    bid_exempt: Mapped[bool] = mapped_column(Boolean)
    performance_release_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    performance_released_on: Mapped[date | None] = mapped_column(Date)
    quality_release_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    quality_released_on: Mapped[date | None] = mapped_column(Date)
    works_terms: Mapped[bool] = mapped_column(Boolean)
    signed_month: Mapped[date | None] = mapped_column(Date)
    filed_month: Mapped[date | None] = mapped_column(Date)


class PaymentApplication(Base):
    """A works contractor's progress payment application or settlement report, and what the employer confirmed
    (进度款支付申请 / 竣工结算报告); deemed confirmation is read from the rules, not stored."""

    __tablename__ = "payment_applications"
    __table_args__ = (UniqueConstraint("instance_id", "kind", "reference", name="uq_payment_applications_reference"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(64))
    period: Mapped[str | None] = mapped_column(String(40))
    applied_at: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    confirmed_amount: Mapped[Decimal | None] = mapped_column(Money)
    confirmed_at: Mapped[date | None] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(200))


class Invoice(Base):
    """An invoice submitted by the contractor for a milestone (发票)."""

    __tablename__ = "invoices"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"), index=True)
    part_id: Mapped[str | None] = mapped_column(String(36))
    milestone_no: Mapped[int | None] = mapped_column(Integer)
    invoice_no: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(200))


class AlertDecision(Base):
    """A supervising department's finding on a red alert: the violation confirmed, or dismissed (认定/不予认定).

    One per alert (its primary key): a second decision is refused, so a confirmation writes its credit
    record and its lead exactly once.
    """

    __tablename__ = "alert_decisions"
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"), primary_key=True)
    decision: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str] = mapped_column(String(200))


class CreditRecord(Base):
    """A record in the responsible organisation's credit file (不良行为记录 / 失信信息).

    Written `awaiting_decision` when a red alert is confirmed (`alert_id`) or a supervision case escalates
    (`case_id`); published only once the department records its administrative decision (`status`
    `decided`): document number, date, legal basis and severity class, from which the registry gives the
    publicity period (`publicity_rule`, `publicity_from` .. `publicity_until`, `repair_after`; nothing for a
    warning). `code` and `legal_basis` are the breached rule. `removed_at` ends publication early (an
    objection upheld, the decision revoked, credit repair), with its reason and the day S03C allowed.
    """

    __tablename__ = "credit_records"
    # One record per organisation responsible for the alert: the members of a consortium each get one (连带责任).
    __table_args__ = (Index("ix_credit_records_date", "record_date"),
                      UniqueConstraint("alert_id", "org_code", name="uq_credit_records_alert_org"))
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    alert_id: Mapped[str | None] = mapped_column(ForeignKey("alerts.id"))
    org_code: Mapped[str] = mapped_column(ForeignKey("organisations.code"), index=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"), index=True)
    business_key: Mapped[str] = mapped_column(String(200))
    department_code: Mapped[str | None] = mapped_column(String(64))
    track: Mapped[str | None] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(64))
    legal_basis: Mapped[str | None] = mapped_column(String(500))
    record_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="awaiting_decision", server_default="awaiting_decision")
    document_no: Mapped[str | None] = mapped_column(String(100))
    decided_on: Mapped[date | None] = mapped_column(Date)
    decision_basis: Mapped[str | None] = mapped_column(String(500))
    severity: Mapped[str | None] = mapped_column(String(20))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    publicity_rule: Mapped[str | None] = mapped_column(String(16))
    publicity_basis: Mapped[str | None] = mapped_column(String(500))
    publicity_verified: Mapped[str | None] = mapped_column(String(16))
    publicity_months: Mapped[int | None] = mapped_column(Integer)
    publicity_from: Mapped[date | None] = mapped_column(Date)
    publicity_until: Mapped[date | None] = mapped_column(Date)
    repair_after: Mapped[date | None] = mapped_column(Date)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removal_reason: Mapped[str | None] = mapped_column(String(40))
    removal_due: Mapped[date | None] = mapped_column(Date)
    removal_note: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))


class CreditObjection(Base):
    """A party's objection (异议) to a published credit record, and the department's answer.

    `due_on` is the last day of the department's period (S03A: 3 working days in-house; S03B: 7 when the
    provider must check, `check` = "provider"), counted from the day it was filed; `late` records an answer
    after it. `outcome`: upheld (the record leaves the library), corrected, rejected, revoked (the decision).
    """

    __tablename__ = "credit_objections"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("credit_records.id"), index=True)
    org_code: Mapped[str] = mapped_column(String(64))
    department_code: Mapped[str | None] = mapped_column(String(64), index=True)
    grounds: Mapped[str] = mapped_column(Text)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    filed_by: Mapped[str] = mapped_column(String(200))
    check: Mapped[str] = mapped_column(String(20))
    due_rule: Mapped[str] = mapped_column(String(16))
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(20))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_by: Mapped[str | None] = mapped_column(String(200))
    late: Mapped[bool | None] = mapped_column(Boolean)
    # When the department was warned that its period ended unanswered (objection.overdue, once).
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SupervisionCase(Base):
    """A supervision case (监管督办案件): the department's own process on a warning (bpmn/supervision_case.bpmn),
    run as an instance of its own (`case_instance_id`) against the party whose obligation it is (`org_code`,
    `party_role`) in a contract (`contract_instance_id`). `status`: open, closed (rectified) or escalated (a credit
    record awaiting the department's decision, `credit_record_id`). The rectification order is copied here
    when it is issued, so lists and reports need not read the workflow."""

    __tablename__ = "supervision_cases"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"), unique=True)
    contract_instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"), index=True)
    business_key: Mapped[str] = mapped_column(String(200))
    department_code: Mapped[str | None] = mapped_column(String(64), index=True)
    org_code: Mapped[str] = mapped_column(String(64), index=True)
    party_role: Mapped[str] = mapped_column(String(20))
    track: Mapped[str | None] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_by: Mapped[str] = mapped_column(String(200))
    order_no: Mapped[str | None] = mapped_column(String(200))
    ordered_at: Mapped[date | None] = mapped_column(Date)
    rectification_due: Mapped[date | None] = mapped_column(Date)
    order_basis: Mapped[str | None] = mapped_column(String(500))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    credit_record_id: Mapped[str | None] = mapped_column(String(36))


class CaseAlert(Base):
    """An alert a supervision case was opened from; an alert belongs to one case at most."""

    __tablename__ = "case_alerts"
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("supervision_cases.id"), index=True)


class Lead(Base):
    """A problem lead (问题线索) handed to a receiving body: a confirmed red alert with its evidence, or a lead a
    department reports by hand (an official interfering, bid rigging).

    `lead_type` routes it (engine/supervision/leads.py): official_interference → discipline inspection (纪检监察),
    bid_rigging → the police, late_payment → the SME complaint channel, non_performance → the department's
    escalation target; `to_department` is the body it went to and `route` how it was chosen (a configured
    `LeadRoute`, or the escalation target). The receiving body records its acknowledgement and its outcome.
    `evidence` is frozen when the lead is written: the excerpt of the contract's hash-chained audit trail
    about the obligation, with each event's hash, and the chain head it belongs to.
    """

    __tablename__ = "leads"
    __table_args__ = (Index("ix_leads_escalated_at", "escalated_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    alert_id: Mapped[str | None] = mapped_column(ForeignKey("alerts.id"), unique=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"), index=True)
    business_key: Mapped[str] = mapped_column(String(200))
    department_code: Mapped[str | None] = mapped_column(String(64))
    to_department: Mapped[str | None] = mapped_column(String(64))
    responsible_org: Mapped[str | None] = mapped_column(String(64))
    # Every organisation answerable with it: a consortium's members, jointly and severally liable (招标投标法 art 31);
    # None when the responsible organisation stands alone.
    responsible_members: Mapped[list[str] | None] = mapped_column(JSON)
    code: Mapped[str] = mapped_column(String(64))
    legal_basis: Mapped[str | None] = mapped_column(String(500))
    escalated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    lead_type: Mapped[str] = mapped_column(String(30), default="non_performance", server_default="non_performance")
    route: Mapped[str | None] = mapped_column(String(20))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str | None] = mapped_column(String(30))
    outcome_note: Mapped[str | None] = mapped_column(Text)
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome_by: Mapped[str | None] = mapped_column(String(200))


class LeadRoute(Base):
    """Where a department's leads of one type go (线索移送): e.g. bid_rigging → the police body's department code.
    Looked up from the department up its parents; without one a lead goes to the escalation target. Both the
    supervision leads (engine/supervision/leads.py) and the risk leads (engine/supervision/risk.py) route here."""

    __tablename__ = "lead_routes"
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"), primary_key=True)
    lead_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    to_department: Mapped[str] = mapped_column(ForeignKey("departments.code"))


class Guarantee(Base):
    """A security of a contract (保证金 / 保函): bid, performance, advance payment, quality or payment guarantee.

    One row per security the contract holds: what was posted (`form`, `amount`, number, issuer, validity,
    document hash, verification code), who posted it for whom (applicant 申请人 → beneficiary 受益人), its
    lifecycle `status` (engine/guarantees.py) and, for a credit offset, the exemption rule that waived it.
    Its history is in `GuaranteeEvent`, its claims in `GuaranteeClaim`.
    """

    __tablename__ = "guarantees"
    __table_args__ = (Index("ix_guarantees_instance_kind", "instance_id", "kind"),
                      Index("ix_guarantees_status", "status"),
                      Index("ix_guarantees_activated_on", "activated_on"))
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"))
    business_key: Mapped[str] = mapped_column(String(200), index=True)
    department_code: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    form: Mapped[str | None] = mapped_column(String(20))
    electronic: Mapped[bool] = mapped_column(Boolean, default=False)
    guarantee_no: Mapped[str | None] = mapped_column(String(200))
    issuer: Mapped[str | None] = mapped_column(String(200))
    issuer_org: Mapped[str | None] = mapped_column(String(64))
    applicant_org: Mapped[str | None] = mapped_column(String(64))
    beneficiary_org: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Money)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    verification_code: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    exemption_rule: Mapped[str | None] = mapped_column(String(16))
    exempt_percent: Mapped[str | None] = mapped_column(String(10))
    freed_amount: Mapped[Decimal | None] = mapped_column(Money)
    issuer_notice: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    activated_on: Mapped[date | None] = mapped_column(Date)
    released_at: Mapped[date | None] = mapped_column(Date)
    cancellation_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GuaranteeEvent(Base):
    """One entry of a guarantee's history: recorded, submitted, issued, verified, renewed, claimed, paid out,
    released, cancellation requested … with who did it and what they gave."""

    __tablename__ = "guarantee_events"
    __table_args__ = (UniqueConstraint("guarantee_id", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guarantee_id: Mapped[str] = mapped_column(ForeignKey("guarantees.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class GuaranteeClaim(Base):
    """A beneficiary's claim (索赔) on a guarantee, paid by the guarantor in the contract's pay_claim task."""

    __tablename__ = "guarantee_claims"
    __table_args__ = (UniqueConstraint("guarantee_id", "no"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    guarantee_id: Mapped[str] = mapped_column(ForeignKey("guarantees.id"), index=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"), index=True)
    no: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40))
    alert_id: Mapped[str | None] = mapped_column(String(36))
    amount: Mapped[Decimal] = mapped_column(Money)
    claimed_at: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    filed_by: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    paid_at: Mapped[date | None] = mapped_column(Date)
    paid_amount: Mapped[Decimal | None] = mapped_column(Money)
    payment_reference: Mapped[str | None] = mapped_column(String(200))


class GuarantorEndpoint(Base):
    """How an issuer's e-guarantee platform authenticates its callbacks: the HMAC secret of the organisation
    (set by `lvyue orgs callback-secret`), never shown by the API."""

    __tablename__ = "guarantor_endpoints"
    org_code: Mapped[str] = mapped_column(ForeignKey("organisations.code"), primary_key=True)
    callback_secret: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# ---------------------------------------------------------------- the trading platform's data (OCDS intake)
class TradeRelease(Base):
    """An OCDS release imported from the trading platform (engine/supervision/intake.py): once per release id,
    with the hash of its canonical JSON (the same id with other content is refused)."""

    __tablename__ = "trade_releases"
    release_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    ocid: Mapped[str] = mapped_column(String(200), index=True)
    date: Mapped[datetime] = mapped_column(UTCDateTime)
    sha256: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    imported_by: Mapped[str] = mapped_column(String(200))


class Tender(Base):
    """One contracting process of the trading platform (its ocid): the tender as its latest release says."""

    __tablename__ = "tenders"
    ocid: Mapped[str] = mapped_column(String(200), primary_key=True)
    tender_id: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(500))
    sector: Mapped[str | None] = mapped_column(String(20))
    procedure: Mapped[str | None] = mapped_column(String(20))
    procedure_details: Mapped[str | None] = mapped_column(String(200))
    department_code: Mapped[str | None] = mapped_column(String(64), index=True)
    department_name: Mapped[str | None] = mapped_column(String(200))
    buyer_key: Mapped[str | None] = mapped_column(String(120))
    ceiling: Mapped[Decimal | None] = mapped_column(Money)
    opened_on: Mapped[date | None] = mapped_column(Date)
    released_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TenderParty(Base):
    """A party of a tender (buyer, tenderer, supplier, review body) with the identifying fields the risk
    indicators compare. `key` is `scheme:identifier`, the same across tenders for one legal entity."""

    __tablename__ = "tender_parties"
    __table_args__ = (Index("ix_tender_parties_key", "key"),)
    ocid: Mapped[str] = mapped_column(ForeignKey("tenders.ocid"), primary_key=True)
    party_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str | None] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(500))
    roles: Mapped[list[str]] = mapped_column(JSON)
    phone: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(500))
    legal_representative: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(6))
    scale: Mapped[str | None] = mapped_column(String(20))


class TenderBid(Base):
    """A bid (the OCDS bids extension's bids.details): its tenderer, price, document hashes, expert scores."""

    __tablename__ = "tender_bids"
    ocid: Mapped[str] = mapped_column(ForeignKey("tenders.ocid"), primary_key=True)
    bid_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    tenderer_key: Mapped[str | None] = mapped_column(String(120), index=True)
    tenderer_name: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str | None] = mapped_column(String(20))
    amount: Mapped[Decimal | None] = mapped_column(Money)
    document_hashes: Mapped[list[str]] = mapped_column(JSON)
    # What the bid files say of who made them (local fields): {"author": [...], "machine": [...]}.
    document_marks: Mapped[dict[str, list[str]]] = mapped_column(JSON)
    scores: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class TenderAward(Base):
    """An award of a tender; it may start one post_award contract (`instance_id`), and keeps its value for
    the signed-vs-award check."""

    __tablename__ = "tender_awards"
    __table_args__ = (UniqueConstraint("ocid", "award_id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ocid: Mapped[str] = mapped_column(ForeignKey("tenders.ocid"), index=True)
    award_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str | None] = mapped_column(String(20))
    amount: Mapped[Decimal | None] = mapped_column(Money)
    awarded_on: Mapped[date | None] = mapped_column(Date, index=True)
    supplier_key: Mapped[str | None] = mapped_column(String(120), index=True)
    supplier_party: Mapped[str | None] = mapped_column(String(200))
    # An award to a consortium: every supplier's party id in the release, the lead (supplier_party) first.
    supplier_parties: Mapped[list[str] | None] = mapped_column(JSON)
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    instance_id: Mapped[str | None] = mapped_column(ForeignKey("instances.id"), unique=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_by: Mapped[str | None] = mapped_column(String(200))


class OrgIdentifier(Base):
    """A legal entity identifier (OCDS identifier: scheme + id, e.g. CN-USCC + the unified social credit code)
    of a directory organisation: how an imported party is matched to its organisation."""

    __tablename__ = "org_identifiers"
    scheme: Mapped[str] = mapped_column(String(32), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(80), primary_key=True)
    org_code: Mapped[str] = mapped_column(ForeignKey("organisations.code"), index=True)


class RiskLead(Base):
    """A lead from the risk indicators of imported tenders, with its evidence; one per fingerprint (the
    indicator type and the subjects), written again only when new evidence adds tenders."""

    __tablename__ = "risk_leads"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    lead_type: Mapped[str] = mapped_column(String(40))
    indicators: Mapped[list[str]] = mapped_column(JSON)
    subjects: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    ocids: Mapped[list[str]] = mapped_column(JSON)
    department_code: Mapped[str | None] = mapped_column(String(64))
    to_department: Mapped[str | None] = mapped_column(String(64), index=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
