"""the monthly report at provincial scale: how each alert rose, typed; covering indexes of the month's alerts, the
unpaid milestones and the cancelled contracts (issue 20)

The report's alert figures (raised by the severity raised at, escalations to orange and to red, the leads of the
month) were worked out by reading every alert_yellow/orange/red audit event of every contract with an alert of the
month and replaying each alert's chain in Python: 9 s of a 17 s report at a million contracts. Three columns hold
what that replay found, written by the alert writes (engine/supervision/alerts.py) from now on and backfilled here
from the same events:

* `first_severity`: the severity of the alert's first alert_* event (the one it was raised at), else its severity;
* `orange_at`: the instant it rose from yellow to orange (its first alert_orange event, when it was raised yellow
  and no alert_red came before); NULL when it never did;
* `red_at`: the instant it turned red (its first alert_red event; for a red alert with none, its updated_at, as
  credit.escalated_at dates it); NULL while not red.

The report then counts in SQL over index ranges of the month, on PostgreSQL from the indexes alone (INCLUDE). Its
arrears read the milestones never paid in full from a partial index that holds what they need, and leave out the
cancelled contracts by a partial index of their ids (a hashed subplan read 40,000 contract rows for them).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 21:00:00
"""
from alembic import op
import sqlalchemy as sa

from engine.storage.db import UTCDateTime


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

OPEN = "status <> 'resolved'"
OPEN_COVERED = ["severity", "kind", "due_at", "amount_overdue", "department_code", "escalated_to", "responsible_org",
                "business_key"]
UNPAID_COLUMNS = ("instance_id", "milestone_no", "department_code", "employer", "funding_source", "amount", "last_day",
                  "interest_micro_percent", "paid", "last_paid_on")
# (table, index, column, INCLUDE on PostgreSQL): existing indexes made covering, so that each count of the month
# reads the index alone.
COVERED = (("payment_obligations", "ix_payment_obligations_last_day", "last_day", ["milestone_no", "department_code"]),
           ("payment_obligations", "ix_payment_obligations_paid_in_full_on", "paid_in_full_on",
            ["last_day", "milestone_no", "department_code"]),
           ("payments", "ix_payments_paid_at", "paid_at", ["amount", "instance_id"]),
           ("contract_deadlines", "ix_contract_deadlines_awarded_on", "awarded_on", ["department_code"]),
           ("contract_deadlines", "ix_contract_deadlines_signed_on", "signed_on", ["sign_last_day", "department_code"]),
           ("contract_deadlines", "ix_contract_deadlines_filed_on", "filed_on", ["file_last_day", "department_code"]),
           ("contract_deadlines", "ix_contract_deadlines_signed_month", "signed_month", ["department_code"]),
           ("contract_deadlines", "ix_contract_deadlines_filed_month", "filed_month", ["department_code"]))
RELEASE_DUE = ("bid_release_due_at IS NOT NULL OR performance_release_due_at IS NOT NULL "
               "OR quality_release_due_at IS NOT NULL")
EVENTS = "('alert_yellow', 'alert_orange', 'alert_red')"

# PostgreSQL: one pass over the alert events (DISTINCT ON per alert), then one UPDATE joined to them.
POSTGRESQL = f"""
WITH ev AS (
    SELECT data ->> 'alert_id' AS alert_id, seq, at, substr(action, 7) AS severity
    FROM audit_events WHERE action IN {EVENTS} AND data ->> 'alert_id' IS NOT NULL),
first AS (SELECT DISTINCT ON (alert_id) alert_id, severity FROM ev ORDER BY alert_id, seq),
red AS (SELECT DISTINCT ON (alert_id) alert_id, seq, at FROM ev WHERE severity = 'red' ORDER BY alert_id, seq),
orange AS (SELECT DISTINCT ON (alert_id) alert_id, seq, at FROM ev WHERE severity = 'orange' ORDER BY alert_id, seq),
typed AS (
    SELECT first.alert_id, first.severity AS first_severity, red.at AS red_at,
           CASE WHEN first.severity = 'yellow' AND (red.seq IS NULL OR red.seq > orange.seq) THEN orange.at END AS orange_at
    FROM first LEFT JOIN red ON red.alert_id = first.alert_id LEFT JOIN orange ON orange.alert_id = first.alert_id)
UPDATE alerts SET first_severity = typed.first_severity, orange_at = typed.orange_at, red_at = typed.red_at
FROM typed WHERE alerts.id = typed.alert_id
"""

# SQLite (small databases): the same, alert by alert.
_EVENT = ("FROM audit_events e WHERE e.instance_id = alerts.instance_id AND e.action {action} "
          "AND json_extract(e.data, '$.alert_id') = alerts.id")
SQLITE = f"""
UPDATE alerts SET
    first_severity = (SELECT substr(e.action, 7) {_EVENT.format(action='IN ' + EVENTS)} ORDER BY e.seq LIMIT 1),
    red_at = (SELECT e.at {_EVENT.format(action="= 'alert_red'")} ORDER BY e.seq LIMIT 1),
    orange_at = (SELECT e.at {_EVENT.format(action="= 'alert_orange'")} ORDER BY e.seq LIMIT 1)
"""
SQLITE_ORANGE = """
UPDATE alerts SET orange_at = NULL WHERE orange_at IS NOT NULL AND (first_severity <> 'yellow' OR EXISTS (
    SELECT 1 FROM audit_events e WHERE e.instance_id = alerts.instance_id AND e.action = 'alert_red'
    AND json_extract(e.data, '$.alert_id') = alerts.id AND e.at <= alerts.orange_at))
"""
FUNDING_POSTGRESQL = ("UPDATE alerts SET funding_source = instances.funding_source FROM instances "
                      "WHERE instances.id = alerts.instance_id AND instances.funding_source IS NOT NULL")
FUNDING_SQLITE = ("UPDATE alerts SET funding_source = (SELECT instances.funding_source FROM instances "
                  "WHERE instances.id = alerts.instance_id)")
# No alert_* event (rows written before the events named their alert, or by an import): as credit.escalated_at.
UNNAMED = """
UPDATE alerts SET first_severity = coalesce(first_severity, severity),
                  red_at = CASE WHEN red_at IS NULL AND severity = 'red' THEN updated_at ELSE red_at END
"""


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_severity", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("orange_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("red_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("funding_source", sa.String(length=64), nullable=True))
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute(POSTGRESQL)
    else:
        op.execute(SQLITE)
        op.execute(SQLITE_ORANGE)
    op.execute(UNNAMED)
    # The contract's funding source (instances.funding_source, generated from its data by 0017), as raised from now.
    op.execute(FUNDING_POSTGRESQL if postgresql else FUNDING_SQLITE)
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_open_instance")
        batch_op.create_index("ix_alerts_open_instance", ["instance_id"], unique=False,
                              postgresql_include=[*OPEN_COVERED, "funding_source"],
                              postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
        batch_op.drop_index("ix_alerts_resolved_at")
        batch_op.create_index("ix_alerts_resolved_at", ["resolved_at"], unique=False,
                              postgresql_include=["code", "severity", "department_code", "raised_at"])
        batch_op.create_index("ix_alerts_raised_at_report", ["raised_at"], unique=False,
                              postgresql_include=["code", "first_severity", "severity", "kind", "department_code"])
        batch_op.create_index("ix_alerts_orange_at", ["orange_at"], unique=False,
                              postgresql_include=["code", "department_code"],
                              postgresql_where=sa.text("orange_at IS NOT NULL"),
                              sqlite_where=sa.text("orange_at IS NOT NULL"))
        batch_op.create_index("ix_alerts_red_at", ["red_at"], unique=False,
                              postgresql_include=["id", "code", "first_severity", "severity", "department_code",
                                                  "escalated_to"],
                              postgresql_where=sa.text("red_at IS NOT NULL"), sqlite_where=sa.text("red_at IS NOT NULL"))


    op.create_index("ix_instances_cancelled", "instances", ["id"], unique=False,
                    postgresql_where=sa.text("status = 'cancelled'"), sqlite_where=sa.text("status = 'cancelled'"))
    op.create_index("ix_payment_obligations_unpaid", "payment_obligations", ["due_at"], unique=False,
                    postgresql_include=list(UNPAID_COLUMNS), postgresql_where=sa.text("paid_in_full_on IS NULL"),
                    sqlite_where=sa.text("paid_in_full_on IS NULL"))
    op.create_index("ix_payment_obligations_paid_late", "payment_obligations", ["paid_in_full_on"], unique=False,
                    postgresql_include=["due_at", *UNPAID_COLUMNS], postgresql_where=sa.text("paid_in_full_on > last_day"),
                    sqlite_where=sa.text("paid_in_full_on > last_day"))
    # The month's milestones due and paid, from the indexes alone.
    for table, name, column, include in COVERED:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, [column], unique=False, postgresql_include=include)
    # The contracts with a release deadline: the deposits held past it are looked for among them only.
    op.create_index("ix_contract_deadlines_releases", "contract_deadlines", ["instance_id"], unique=False,
                    postgresql_where=sa.text(RELEASE_DUE), sqlite_where=sa.text(RELEASE_DUE))


def downgrade() -> None:
    op.drop_index("ix_contract_deadlines_releases", table_name="contract_deadlines")
    for table, name, column, _ in COVERED:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, [column], unique=False)
    op.drop_index("ix_payment_obligations_paid_late", table_name="payment_obligations")
    op.drop_index("ix_payment_obligations_unpaid", table_name="payment_obligations")
    op.drop_index("ix_instances_cancelled", table_name="instances")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_red_at")
        batch_op.drop_index("ix_alerts_orange_at")
        batch_op.drop_index("ix_alerts_raised_at_report")
        batch_op.drop_index("ix_alerts_resolved_at")
        batch_op.create_index("ix_alerts_resolved_at", ["resolved_at"], unique=False)
        batch_op.drop_index("ix_alerts_open_instance")
        batch_op.create_index("ix_alerts_open_instance", ["instance_id"], unique=False, postgresql_include=OPEN_COVERED,
                              postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
        batch_op.drop_column("funding_source")
        batch_op.drop_column("red_at")
        batch_op.drop_column("orange_at")
        batch_op.drop_column("first_severity")
