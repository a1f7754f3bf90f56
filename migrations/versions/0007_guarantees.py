"""guarantees

The guarantee ledger (engine/guarantees.py): guarantees with their event history and claims, and the
callback secrets of the issuers' e-guarantee platforms.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 02:30:00
"""
from alembic import op
import sqlalchemy as sa
import engine.storage.db


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('guarantees',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('business_key', sa.String(length=200), nullable=False),
    sa.Column('department_code', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('form', sa.String(length=20), nullable=True),
    sa.Column('electronic', sa.Boolean(), nullable=False),
    sa.Column('guarantee_no', sa.String(length=200), nullable=True),
    sa.Column('issuer', sa.String(length=200), nullable=True),
    sa.Column('issuer_org', sa.String(length=64), nullable=True),
    sa.Column('applicant_org', sa.String(length=64), nullable=True),
    sa.Column('beneficiary_org', sa.String(length=64), nullable=True),
    sa.Column('amount', sa.String(length=40), nullable=False),
    sa.Column('valid_from', sa.String(length=10), nullable=True),
    sa.Column('valid_to', sa.String(length=10), nullable=True),
    sa.Column('document_sha256', sa.String(length=64), nullable=True),
    sa.Column('verification_code', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('exemption_rule', sa.String(length=16), nullable=True),
    sa.Column('exempt_percent', sa.String(length=10), nullable=True),
    sa.Column('freed_amount', sa.String(length=40), nullable=True),
    sa.Column('issuer_notice', sa.JSON(), nullable=True),
    sa.Column('activated_on', sa.String(length=10), nullable=True),
    sa.Column('released_at', sa.String(length=10), nullable=True),
    sa.Column('cancellation_requested_at', engine.storage.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', engine.storage.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', engine.storage.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['instances.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('guarantees', schema=None) as batch_op:
        batch_op.create_index('ix_guarantees_instance_kind', ['instance_id', 'kind'], unique=False)
        batch_op.create_index('ix_guarantees_status', ['status'], unique=False)
        batch_op.create_index('ix_guarantees_activated_on', ['activated_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_guarantees_business_key'), ['business_key'], unique=False)

    op.create_table('guarantee_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('guarantee_id', sa.String(length=36), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', engine.storage.db.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['guarantee_id'], ['guarantees.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('guarantee_id', 'seq')
    )
    with op.batch_alter_table('guarantee_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guarantee_events_guarantee_id'), ['guarantee_id'], unique=False)

    op.create_table('guarantee_claims',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('guarantee_id', sa.String(length=36), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('no', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('alert_id', sa.String(length=36), nullable=True),
    sa.Column('amount', sa.String(length=40), nullable=False),
    sa.Column('claimed_at', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('filed_at', engine.storage.db.UTCDateTime(), nullable=False),
    sa.Column('filed_by', sa.String(length=200), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('paid_at', sa.String(length=10), nullable=True),
    sa.Column('paid_amount', sa.String(length=40), nullable=True),
    sa.Column('payment_reference', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['guarantee_id'], ['guarantees.id'], ),
    sa.ForeignKeyConstraint(['instance_id'], ['instances.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('guarantee_id', 'no')
    )
    with op.batch_alter_table('guarantee_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guarantee_claims_guarantee_id'), ['guarantee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_guarantee_claims_instance_id'), ['instance_id'], unique=False)

    op.create_table('guarantor_endpoints',
    sa.Column('org_code', sa.String(length=64), nullable=False),
    sa.Column('callback_secret', sa.String(length=200), nullable=False),
    sa.Column('created_at', engine.storage.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', engine.storage.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['org_code'], ['organisations.code'], ),
    sa.PrimaryKeyConstraint('org_code')
    )


def downgrade() -> None:
    op.drop_table('guarantor_endpoints')
    with op.batch_alter_table('guarantee_claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guarantee_claims_instance_id'))
        batch_op.drop_index(batch_op.f('ix_guarantee_claims_guarantee_id'))
    op.drop_table('guarantee_claims')
    with op.batch_alter_table('guarantee_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guarantee_events_guarantee_id'))
    op.drop_table('guarantee_events')
    with op.batch_alter_table('guarantees', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guarantees_business_key'))
        batch_op.drop_index('ix_guarantees_activated_on')
        batch_op.drop_index('ix_guarantees_status')
        batch_op.drop_index('ix_guarantees_instance_kind')
    op.drop_table('guarantees')
