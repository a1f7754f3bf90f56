"""organisations.large_enterprise

A large enterprise (大型企业, e.g. a state-owned general contractor) paying an SME has 60 days unless
agreed (P02, 保障中小企业款项支付条例 2025 art 9 para 2); the directory had no way to say so. Existing
organisations are not large enterprises until an administrator says so.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 09:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('large_enterprise', sa.Boolean(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_column('large_enterprise')
