"""indexes for the supervisors' queries at provincial scale (issue 20)

Keyset pages of alerts (raised_at, id) and of contracts (created_at, id) walk an index instead of sorting the
table; a milestone's deadline task is found by its part (ledger); the month's deadlines, payments, resolutions
and alert events are found by their instants (monthly report, OCDS package of a month).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 12:00:00
"""
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_alerts_raised_at_id", "alerts", ["raised_at", "id"]),
    ("ix_alerts_resolved_at", "alerts", ["resolved_at"]),
    ("ix_instances_created_at_id", "instances", ["created_at", "id"]),
    ("ix_tasks_part_id", "tasks", ["part_id"]),
    ("ix_tasks_element_due", "tasks", ["element_id", "due_at"]),
    ("ix_payments_paid_at", "payments", ["paid_at"]),
    ("ix_audit_events_action_at", "audit_events", ["action", "at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
