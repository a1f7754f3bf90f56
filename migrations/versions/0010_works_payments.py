"""Works payments: what kind of obligation a payment pays, and the contractor's payment applications

A works contract is paid on the contractor's applications (engine/supervision/works_payments.py): the advance,
progress payments on confirmed measurements and the final settlement. `payments.kind` says which (existing
rows pay milestones), `payments.reference` names the application a progress or settlement payment pays; the
new table `payment_applications` keeps each application with what the employer confirmed. `alerts.interest_rate`
fixes the late-payment interest an arrears alert carries (the contract's agreed rate, P05 under an SME rule, or
none).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 12:00:00
"""
from alembic import op
import sqlalchemy as sa

import engine.storage.db


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The interest an arrears alert carries, fixed when raised: every existing alert was computed at P05's 0.05 %.
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('interest_rate', sa.Numeric(precision=9, scale=6), nullable=True))
    op.execute("UPDATE alerts SET interest_rate = 0.05 WHERE kind = 'arrears'")
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='milestone', nullable=False))
        batch_op.add_column(sa.Column('reference', sa.String(length=64), nullable=True))
    op.create_table(
        'payment_applications',
        sa.Column('id', sa.String(length=36), primary_key=True),
        sa.Column('instance_id', sa.String(length=36), sa.ForeignKey('instances.id'), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('reference', sa.String(length=64), nullable=False),
        sa.Column('period', sa.String(length=40), nullable=True),
        sa.Column('applied_at', sa.Date(), nullable=False),
        sa.Column('amount', engine.storage.db.Money(), nullable=False),
        sa.Column('confirmed_amount', engine.storage.db.Money(), nullable=True),
        sa.Column('confirmed_at', sa.Date(), nullable=True),
        sa.Column('recorded_at', engine.storage.db.UTCDateTime(), nullable=False),
        sa.Column('recorded_by', sa.String(length=200), nullable=False),
        sa.UniqueConstraint('instance_id', 'kind', 'reference', name='uq_payment_applications_reference'),
    )
    op.create_index('ix_payment_applications_instance_id', 'payment_applications', ['instance_id'])


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('interest_rate')
    op.drop_index('ix_payment_applications_instance_id', table_name='payment_applications')
    op.drop_table('payment_applications')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('reference')
        batch_op.drop_column('kind')
