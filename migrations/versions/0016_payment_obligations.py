"""payment obligations and contract deadlines in typed columns: the monthly report as SQL sums (issue 20)

One row per payment milestone of a positive amount: contract, milestone number, department, employer, funding
source, amount in fen, the record_payment task's deadline and its last day (China time), and the late-payment
rate its payment basis fixes (millionths of a percent a day); what was paid on it (total, latest date, the day
it was paid in full). And one row per contract (contract_deadlines): its award notice, signing, filing and
release dates, the last days of its signing and filing periods, its release deadlines, whether its bid bond is
exempt and whether it has works payment terms, and the months the report's `guarantees` section counts its
signing and filing in (obligations.text_month: the text of signed_at / filed_at as that section reads it). An
index on alerts (severity, updated_at) for the month's red alerts. Filled here from the contracts and their tasks
with the engine's own `obligations.rows_for`; kept in step by engine/supervision/obligations.py afterwards.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 17:30:00
"""
from alembic import op
import sqlalchemy as sa

import engine.storage.db


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'payment_obligations',
        sa.Column('instance_id', sa.String(length=36), nullable=False),
        sa.Column('milestone_no', sa.Integer(), nullable=False),
        sa.Column('department_code', sa.String(length=64), nullable=True),
        sa.Column('employer', sa.String(length=64), nullable=True),
        sa.Column('funding_source', sa.String(length=40), nullable=True),
        sa.Column('amount', engine.storage.db.Money(), nullable=False),
        sa.Column('due_at', engine.storage.db.UTCDateTime(), nullable=True),
        sa.Column('last_day', sa.Date(), nullable=True),
        sa.Column('interest_micro_percent', sa.BigInteger(), nullable=True),
        sa.Column('paid', engine.storage.db.Money(), nullable=False),
        sa.Column('last_paid_on', sa.Date(), nullable=True),
        sa.Column('paid_in_full_on', sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(['instance_id'], ['instances.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('instance_id', 'milestone_no'),
    )
    with op.batch_alter_table('payment_obligations', schema=None) as batch_op:
        batch_op.create_index('ix_payment_obligations_last_day', ['last_day'], unique=False)
        batch_op.create_index('ix_payment_obligations_paid_in_full_on', ['paid_in_full_on'], unique=False)
    op.create_table(
        'contract_deadlines',
        sa.Column('instance_id', sa.String(length=36), nullable=False),
        sa.Column('department_code', sa.String(length=64), nullable=True),
        sa.Column('awarded_on', sa.Date(), nullable=True),
        sa.Column('signed_on', sa.Date(), nullable=True),
        sa.Column('sign_last_day', sa.Date(), nullable=True),
        sa.Column('filed_on', sa.Date(), nullable=True),
        sa.Column('file_last_day', sa.Date(), nullable=True),
        sa.Column('bid_release_due_at', engine.storage.db.UTCDateTime(), nullable=True),
        sa.Column('bid_released_on', sa.Date(), nullable=True),
        sa.Column('bid_exempt', sa.Boolean(), nullable=False),
        sa.Column('performance_release_due_at', engine.storage.db.UTCDateTime(), nullable=True),
        sa.Column('performance_released_on', sa.Date(), nullable=True),
        sa.Column('quality_release_due_at', engine.storage.db.UTCDateTime(), nullable=True),
        sa.Column('quality_released_on', sa.Date(), nullable=True),
        sa.Column('works_terms', sa.Boolean(), nullable=False),
        sa.Column('signed_month', sa.Date(), nullable=True),
        sa.Column('filed_month', sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(['instance_id'], ['instances.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('instance_id'),
    )
    with op.batch_alter_table('contract_deadlines', schema=None) as batch_op:
        batch_op.create_index('ix_contract_deadlines_awarded_on', ['awarded_on'], unique=False)
        batch_op.create_index('ix_contract_deadlines_signed_on', ['signed_on'], unique=False)
        batch_op.create_index('ix_contract_deadlines_filed_on', ['filed_on'], unique=False)
        batch_op.create_index('ix_contract_deadlines_signed_month', ['signed_month'], unique=False)
        batch_op.create_index('ix_contract_deadlines_filed_month', ['filed_month'], unique=False)
    with op.batch_alter_table('alerts', schema=None) as batch_op:  # the red alerts changed in a month (its leads)
        batch_op.create_index('ix_alerts_severity_updated_at', ['severity', 'updated_at'], unique=False)
    from engine.supervision import obligations  # the engine's own rows, from the contracts already there
    obligations.backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_severity_updated_at')
    with op.batch_alter_table('contract_deadlines', schema=None) as batch_op:
        batch_op.drop_index('ix_contract_deadlines_filed_month')
        batch_op.drop_index('ix_contract_deadlines_signed_month')
        batch_op.drop_index('ix_contract_deadlines_filed_on')
        batch_op.drop_index('ix_contract_deadlines_signed_on')
        batch_op.drop_index('ix_contract_deadlines_awarded_on')
    op.drop_table('contract_deadlines')
    with op.batch_alter_table('payment_obligations', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_obligations_paid_in_full_on')
        batch_op.drop_index('ix_payment_obligations_last_day')
    op.drop_table('payment_obligations')
