"""trading platform intake: OCDS releases, tenders, parties, bids, awards, organisation identifiers,
lead routes and risk leads

The awards, tenders and bids of the trading platform, imported as OCDS 1.1 release packages
(engine/supervision/intake.py); the risk leads their indicators raise (engine/supervision/risk.py) and where
each department sends them by type (lead_routes). An award may start one post_award contract (tender_awards.
instance_id, unique).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 11:00:00
"""
from alembic import op
import sqlalchemy as sa
import engine.storage.db


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('trade_releases',
    sa.Column('release_id', sa.String(length=200), nullable=False),
    sa.Column('ocid', sa.String(length=200), nullable=False),
    sa.Column('date', engine.storage.db.UTCDateTime(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('imported_at', engine.storage.db.UTCDateTime(), nullable=False),
    sa.Column('imported_by', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('release_id')
    )
    with op.batch_alter_table('trade_releases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trade_releases_ocid'), ['ocid'], unique=False)

    op.create_table('tenders',
    sa.Column('ocid', sa.String(length=200), nullable=False),
    sa.Column('tender_id', sa.String(length=200), nullable=True),
    sa.Column('title', sa.String(length=500), nullable=True),
    sa.Column('sector', sa.String(length=20), nullable=True),
    sa.Column('procedure', sa.String(length=20), nullable=True),
    sa.Column('procedure_details', sa.String(length=200), nullable=True),
    sa.Column('department_code', sa.String(length=64), nullable=True),
    sa.Column('department_name', sa.String(length=200), nullable=True),
    sa.Column('buyer_key', sa.String(length=120), nullable=True),
    sa.Column('ceiling', engine.storage.db.Money(), nullable=True),
    sa.Column('opened_on', sa.Date(), nullable=True),
    sa.Column('released_at', engine.storage.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('ocid')
    )
    with op.batch_alter_table('tenders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tenders_department_code'), ['department_code'], unique=False)

    op.create_table('tender_parties',
    sa.Column('ocid', sa.String(length=200), nullable=False),
    sa.Column('party_id', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=True),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('phone', sa.String(length=64), nullable=True),
    sa.Column('address', sa.String(length=500), nullable=True),
    sa.Column('legal_representative', sa.String(length=200), nullable=True),
    sa.Column('region', sa.String(length=6), nullable=True),
    sa.Column('scale', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['ocid'], ['tenders.ocid'], ),
    sa.PrimaryKeyConstraint('ocid', 'party_id')
    )
    with op.batch_alter_table('tender_parties', schema=None) as batch_op:
        batch_op.create_index('ix_tender_parties_key', ['key'], unique=False)

    op.create_table('tender_bids',
    sa.Column('ocid', sa.String(length=200), nullable=False),
    sa.Column('bid_id', sa.String(length=200), nullable=False),
    sa.Column('tenderer_key', sa.String(length=120), nullable=True),
    sa.Column('tenderer_name', sa.String(length=500), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=True),
    sa.Column('amount', engine.storage.db.Money(), nullable=True),
    sa.Column('document_hashes', sa.JSON(), nullable=False),
    sa.Column('document_marks', sa.JSON(), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['ocid'], ['tenders.ocid'], ),
    sa.PrimaryKeyConstraint('ocid', 'bid_id')
    )
    with op.batch_alter_table('tender_bids', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tender_bids_tenderer_key'), ['tenderer_key'], unique=False)

    op.create_table('tender_awards',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('ocid', sa.String(length=200), nullable=False),
    sa.Column('award_id', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=True),
    sa.Column('amount', engine.storage.db.Money(), nullable=True),
    sa.Column('awarded_on', sa.Date(), nullable=True),
    sa.Column('supplier_key', sa.String(length=120), nullable=True),
    sa.Column('supplier_party', sa.String(length=200), nullable=True),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('instance_id', sa.String(length=36), nullable=True),
    sa.Column('started_at', engine.storage.db.UTCDateTime(), nullable=True),
    sa.Column('started_by', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['instances.id'], ),
    sa.ForeignKeyConstraint(['ocid'], ['tenders.ocid'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('instance_id'),
    sa.UniqueConstraint('ocid', 'award_id')
    )
    with op.batch_alter_table('tender_awards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tender_awards_awarded_on'), ['awarded_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_tender_awards_ocid'), ['ocid'], unique=False)
        batch_op.create_index(batch_op.f('ix_tender_awards_supplier_key'), ['supplier_key'], unique=False)

    op.create_table('org_identifiers',
    sa.Column('scheme', sa.String(length=32), nullable=False),
    sa.Column('identifier', sa.String(length=80), nullable=False),
    sa.Column('org_code', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['org_code'], ['organisations.code'], ),
    sa.PrimaryKeyConstraint('scheme', 'identifier')
    )
    with op.batch_alter_table('org_identifiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_org_identifiers_org_code'), ['org_code'], unique=False)

    op.create_table('lead_routes',
    sa.Column('department_code', sa.String(length=64), nullable=False),
    sa.Column('lead_type', sa.String(length=40), nullable=False),
    sa.Column('to_department', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['department_code'], ['departments.code'], ),
    sa.ForeignKeyConstraint(['to_department'], ['departments.code'], ),
    sa.PrimaryKeyConstraint('department_code', 'lead_type')
    )

    op.create_table('risk_leads',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('lead_type', sa.String(length=40), nullable=False),
    sa.Column('indicators', sa.JSON(), nullable=False),
    sa.Column('subjects', sa.JSON(), nullable=False),
    sa.Column('ocids', sa.JSON(), nullable=False),
    sa.Column('department_code', sa.String(length=64), nullable=True),
    sa.Column('to_department', sa.String(length=64), nullable=True),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('created_at', engine.storage.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', engine.storage.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('fingerprint')
    )
    with op.batch_alter_table('risk_leads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_leads_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_risk_leads_to_department'), ['to_department'], unique=False)


def downgrade() -> None:
    for table in ('risk_leads', 'lead_routes', 'org_identifiers', 'tender_awards', 'tender_bids', 'tender_parties',
                  'tenders', 'trade_releases'):
        op.drop_table(table)
