"""the dashboard at provincial scale: partial indexes of the open alerts, the contracts' funding source (issue 20)

The dashboard counts, sums and ranks only the alerts not resolved (about 40 % of the table at a million contracts).
Two indexes hold just those rows: by contract with every column the dashboard reads of them (on PostgreSQL, in
INCLUDE: its counts and the contracts-at-risk grouping read the index alone, already in contract order), and by
severity and deadline (the most severe and most overdue alerts first, read in index order, and the alerts due on
one day). The arrears by funding source read the funding source of 235,000 contracts at a million: a generated column
of `instances` (from `data`, kept by the database) and an index by id that holds it, instead of parsing each
contract's JSON.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 18:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

OPEN = "status <> 'resolved'"
COVERED = ["severity", "kind", "due_at", "amount_overdue", "department_code", "escalated_to", "responsible_org",
           "business_key"]


def upgrade() -> None:
    # Generated from `data` by the database (nothing writes it): stored on PostgreSQL (the table is rewritten once);
    # SQLite adds only virtual generated columns to an existing table.
    if op.get_bind().dialect.name == "postgresql":
        generated = sa.Computed("(data ->> 'funding_source')", persisted=True)
    else:
        generated = sa.Computed("json_extract(data, '$.funding_source')", persisted=False)
    op.add_column("instances", sa.Column("funding_source", sa.String(length=64), generated, nullable=True))
    op.create_index("ix_instances_id_funding_source", "instances", ["id"], unique=False,
                    postgresql_include=["funding_source"])
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_open_instance", ["instance_id"], unique=False, postgresql_include=COVERED,
                              postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
        batch_op.create_index("ix_alerts_open_severity_due", ["severity", "due_at", "business_key", "id"], unique=False,
                              postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_open_severity_due")
        batch_op.drop_index("ix_alerts_open_instance")
    op.drop_index("ix_instances_id_funding_source", table_name="instances")
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_column("funding_source")
